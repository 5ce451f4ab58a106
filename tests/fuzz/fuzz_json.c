/*
 * libFuzzer target: the CLI's JSON reader (client/cli/json.c), which reads
 * receipt files a user may have edited, copied or truncated.  The input is
 * copied into a buffer of exactly its length, so any read past the end is
 * an AddressSanitizer report.  A parsed object must hold what the reader
 * promises: keys and strings NUL-terminated with no NUL inside, arrays of
 * scalars only, and every member found again by json_get.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_value(const struct json_value *v, int in_array)
{
	if (v->type == JSON_STRING &&
	    (!v->string || strlen(v->string) != v->string_len))
		abort();
	if (v->type == JSON_ARRAY) {
		if (in_array)
			abort(); /* flat: no arrays inside arrays */
		for (size_t i = 0; i < v->n_items; i++)
			check_value(&v->items[i], 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	struct json_object o;
	char why[256];
	if (json_parse_object(text, size, &o, why, sizeof(why)) == 0) {
		for (size_t i = 0; i < o.n; i++) {
			check_value(&o.members[i].value, 0);
			if (!json_get(&o, o.members[i].key))
				abort();
		}
		json_object_free(&o);
	} else if (memchr(why, '\0', sizeof(why)) == NULL || why[0] == '\0') {
		abort(); /* a refusal always says why */
	}
	free(text);
	return 0;
}
