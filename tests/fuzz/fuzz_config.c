/*
 * libFuzzer target: the configuration parser.  Each input is written to a
 * scratch file and loaded; a refusal must come with a FILE:LINE message,
 * and whatever loads must free cleanly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[4096];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path[0]) {
		const char *dir = getenv("TMPDIR");
		snprintf(path, sizeof(path), "%s/vigil-fuzz-config-XXXXXX", dir ? dir : "/tmp");
		int fd = mkstemp(path);
		if (fd < 0)
			abort();
		close(fd);
	}
	FILE *f = fopen(path, "wb");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	struct config cfg;
	char err[1024] = "";
	if (config_load(path, &cfg, err, sizeof(err)) == 0)
		config_free(&cfg);
	else if (strncmp(err, path, strlen(path)) != 0 || err[strlen(path)] != ':')
		__builtin_trap(); /* every refusal names the file and a line */
	return 0;
}
