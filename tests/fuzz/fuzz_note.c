/*
 * libFuzzer target: what a client reads from a relay it does not trust
 * yet, in signed notes.  The input is tried as a signed note (note_open
 * against the published example key and against a verifier the input
 * names itself), as a checkpoint body, as a verifier key string and as
 * base64.  Whatever parses must round-trip: a checkpoint formats back to
 * the text it came from (less ignored extension lines), a verifier to the
 * string, base64 to the same characters.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/note.h"
#include "proto/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The published sumdb/note example key (tests/unit/test_note.c). */
static const char example_vkey[] =
	"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

static void check_base64(const char *in, size_t n)
{
	uint8_t out[512];
	if (n > 4 * (sizeof(out) / 3))
		return;
	int got = base64_decode(in, n, out, sizeof(out));
	if (got < 0)
		return;
	char back[700];
	size_t m = base64_encode(out, (size_t)got, back);
	if (m != n || memcmp(back, in, n) != 0)
		abort(); /* strict decoding accepts only the canonical form */
}

static void check_checkpoint(const char *text, size_t n)
{
	struct checkpoint c;
	if (checkpoint_parse(text, n, &c) != VG_OK)
		return;
	char back[1024];
	int m = checkpoint_format(&c, back, sizeof(back));
	/* The three lines it formats are the prefix the text began with. */
	if (m < 0 || (size_t)m > n || memcmp(back, text, (size_t)m) != 0)
		abort();
}

static void check_verifier(const char *s)
{
	struct note_verifier v;
	if (note_verifier_parse(s, &v) != VG_OK)
		return;
	char back[256];
	if (note_verifier_format(&v, back, sizeof(back)) != VG_OK || strcmp(back, s) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	struct note_verifier v;
	if (note_verifier_parse(example_vkey, &v) != VG_OK)
		abort();
	size_t text_len = 0;
	if (note_open(s, size, &v, &text_len) == VG_OK && text_len > size)
		abort();
	/* A first line that names a verifier: the rest is a note for it. */
	const char *nl = memchr(s, '\n', size);
	if (nl) {
		size_t first = (size_t)(nl - s);
		char *vk = strndup(s, first);
		if (vk) {
			check_verifier(vk);
			struct note_verifier own;
			if (note_verifier_parse(vk, &own) == VG_OK &&
			    note_open(nl + 1, size - first - 1, &own, &text_len) == VG_OK &&
			    text_len > size - first - 1)
				abort();
			free(vk);
		}
	}
	if (strlen(s) == size) {
		check_checkpoint(s, size);
		check_base64(s, size);
	}
	free(s);
	return 0;
}
