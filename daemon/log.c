#include "daemon/log.h"

#include <stdarg.h>
#include <stdio.h>

static int log_level = LOG_INFO;

void log_set_level(int prio)
{
	log_level = prio;
}

void log_msg(int prio, const char *fmt, ...)
{
	if (prio > log_level)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fputs per line so concurrent threads never interleave a line. */
	char out[1100];
	snprintf(out, sizeof(out), "<%d>%s\n", prio, line);
	fputs(out, stderr);
}
