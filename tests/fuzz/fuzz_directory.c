/*
 * libFuzzer target: the member directory parser.  Each input is written to
 * a scratch file and loaded; a refusal must come with a FILE:LINE message
 * and no directory, and whatever loads must be sorted, findable by every
 * id it lists, and free cleanly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/directory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[4096];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path[0]) {
		const char *dir = getenv("TMPDIR");
		snprintf(path, sizeof(path), "%s/vigil-fuzz-directory-XXXXXX", dir ? dir : "/tmp");
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
	struct directory *d = NULL;
	char err[1024] = "";
	if (directory_load(path, &d, err, sizeof(err)) != 0) {
		if (d || strncmp(err, path, strlen(path)) != 0 || err[strlen(path)] != ':')
			__builtin_trap(); /* every refusal names the file and a line */
		return 0;
	}
	size_t n = directory_count(d);
	if (n == 0 || n > DIRECTORY_MAX)
		__builtin_trap();
	for (size_t i = 0; i < n; i++) {
		const struct member *m = directory_at(d, i);
		if (directory_find(d, m->org) != m || m->role == ROLE_NONE ||
		    (i > 0 && strcmp(directory_at(d, i - 1)->org, m->org) >= 0))
			__builtin_trap();
	}
	directory_free(&d);
	return 0;
}
