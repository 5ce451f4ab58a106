#include "daemon/ini.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <ini.h> /* libinih */

#include "proto/status.h"

/* State of one ini_read(), shared by the line reader and the handler. */
struct ini_file {
	const struct ini_handlers *h;
	void *user;
	FILE *fp;
	char *line;            /* getline() buffer */
	size_t line_cap;
	int lineno;            /* line most recently handed to inih */
	int indented;          /* that line starts with white space */
	int key_seen;          /* a key line was seen since the last [section] */
	int read_errno;        /* getline() failed with this */
	int err_line;          /* -1 while there is no error */
	int err_status;
	char err[1024];
};

void ini_fail(struct ini_file *in, int line, int status, const char *fmt, ...)
{
	if (in->err_line >= 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(in->err, sizeof(in->err), fmt, ap);
	va_end(ap);
	in->err_line = line;
	in->err_status = status;
}

/* inih's handler: called for every "name = value" line, nonzero when fine. */
static int on_value(void *user, const char *section, const char *name, const char *value)
{
	struct ini_file *in = user;
	/* With inih's multi-line values an indented line after a key continues
	 * that key's value.  No value of ours spans lines, so such a line is a
	 * mistake (most likely stray indentation) and is refused. */
	if (in->indented && in->key_seen) {
		if (in->h->continued)
			in->h->continued(in, in->user, section, name, in->lineno);
		ini_fail(in, in->lineno, VG_EBADREQ,
			 "indented line continues a value; values must be on one line");
		return 0;
	}
	in->key_seen = 1;
	in->h->value(in, in->user, section, name, value, in->lineno);
	return in->err_line < 0;
}

/*
 * inih's line reader.  Reading lines here rather than letting inih call
 * fgets() gives the handlers the current line number (inih passes none),
 * turns a line longer than inih's buffer or one with a NUL byte into an
 * error instead of a line silently cut short, and sees "[section]" headers,
 * which inih does not report: a section is checked on its own line even
 * when it has no keys.
 */
static char *read_line(char *buf, int size, void *stream)
{
	struct ini_file *in = stream;
	if (in->err_line >= 0)
		return NULL;
	errno = 0;
	ssize_t n = getline(&in->line, &in->line_cap, in->fp);
	if (n < 0) {
		/* Anything but the end of the file (a read error, or getline()
		 * out of memory) must not pass for a shorter file. */
		if (!feof(in->fp))
			in->read_errno = errno ? errno : EIO;
		return NULL;
	}
	in->lineno++;
	if (memchr(in->line, '\0', (size_t)n)) {
		ini_fail(in, in->lineno, VG_EBADREQ, "line contains a NUL byte");
		return NULL;
	}
	/* inih needs room for the newline and the terminating NUL. */
	if (n > size - 1) {
		ini_fail(in, in->lineno, VG_EBADREQ, "line is longer than %d characters", size - 2);
		return NULL;
	}
	memcpy(buf, in->line, (size_t)n + 1);
	/* Mirror inih's classification of the line: skip a UTF-8 BOM on line
	 * 1, then white space; an indented line right after a key is a
	 * continuation, otherwise '[' opens a section header. */
	const char *start = buf;
	if (in->lineno == 1 && n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		start += 3;
	while (isspace((unsigned char)*start))
		start++;
	in->indented = start > buf;
	if (*start == '[' && !(in->key_seen && in->indented)) {
		/* inih ends the name at the first ']' or at an inline comment
		 * (';' after white space); without a ']' it is a syntax error,
		 * which inih reports itself. */
		const char *e = start + 1;
		int was_space = 0;
		while (*e && *e != ']' && !(was_space && *e == ';')) {
			was_space = isspace((unsigned char)*e);
			e++;
		}
		if (*e == ']') {
			in->key_seen = 0;
			in->indented = 0;
			/* The name, cut out of our own copy of the line: inih's
			 * is left as it is. */
			char *name = in->line + (start + 1 - buf);
			in->line[e - buf] = '\0';
			in->h->section(in, in->user, name, in->lineno);
			if (in->err_line >= 0)
				return NULL;
		}
	}
	return buf;
}

int ini_read(const char *path, const struct ini_handlers *h, void *user, char *err,
	     size_t err_len)
{
	struct ini_file in;
	memset(&in, 0, sizeof(in));
	in.h = h;
	in.user = user;
	in.err_line = -1;

	in.fp = fopen(path, "r");
	if (!in.fp) {
		ini_fail(&in, 0, VG_EIO, "cannot open: %s", strerror(errno));
		goto out;
	}
	int rc = ini_parse_stream(read_line, &in, on_value, &in);
	if (in.read_errno) {
		/* A read error ends the input early: report it rather than
		 * whatever the truncated input looked like. */
		in.err_line = -1;
		ini_fail(&in, 0, VG_EIO, "cannot read: %s", strerror(in.read_errno));
		goto out;
	}
	/* inih returns the first line it found wrong; the handlers' and the
	 * reader's errors are recorded with their lines, so a smaller line
	 * number from inih is a syntax error that came first. */
	if (rc > 0 && (in.err_line < 0 || rc < in.err_line)) {
		in.err_line = -1;
		ini_fail(&in, rc, VG_EBADREQ, "%s", h->syntax_error);
	} else if (rc < 0 && in.err_line < 0) {
		ini_fail(&in, 0, VG_ENOMEM, "out of memory");
	}
	if (in.err_line < 0 && h->end)
		h->end(&in, user);
out:
	if (in.fp)
		fclose(in.fp);
	free(in.line);
	if (in.err_line < 0)
		return VG_OK;
	if (err && err_len)
		snprintf(err, err_len, "%s:%d: %s", path, in.err_line, in.err);
	return in.err_status;
}
