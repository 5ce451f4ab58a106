/*
 * libFuzzer target: a receipt file as "vigil verify --receipt" reads it
 * (client/cli/receipt.c over jansson), a file a user may have edited,
 * copied or truncated.  The input is copied into a buffer of exactly its
 * length, so any read past the end is an AddressSanitizer report.  A
 * receipt that parses must hold what the reader promises (a checkpoint
 * note that is a C string of its stated length, a proof within the limit,
 * a non-empty record); a refusal always says why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	struct receipt_in in;
	char why[512];
	why[0] = '\0';
	if (receipt_in_parse(text, size, &in, why, sizeof(why)) == 0) {
		const struct vigil_receipt *r = &in.r;
		if (r->proof_len > VIGIL_PROOF_MAX || !in.record || in.record_len == 0 ||
		    r->checkpoint.note_len >= sizeof(r->checkpoint.note) ||
		    strlen(r->checkpoint.note) != r->checkpoint.note_len ||
		    r->signature_len > VIGIL_SIGNATURE_MAX)
			abort();
		receipt_in_free(&in);
	} else if (memchr(why, '\0', sizeof(why)) == NULL || why[0] == '\0' || in.record) {
		abort(); /* a refusal says why and holds nothing */
	}
	free(text);
	return 0;
}
