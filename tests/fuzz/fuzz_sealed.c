/*
 * libFuzzer target: sealed text as a relay or a reader receives it.
 *
 * The whole input is an envelope for sealed_check (the relay's checks of
 * its form, before it stores one); the same bytes are also a sealed
 * plaintext P for sealed_plain_parse (a reader's checks after opening), as
 * a note and as an acknowledgement reason, against a commitment of their
 * own (so that the checks behind the commitment are reached too).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/sealed.h"
#include "proto/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256];
	CMS_ContentInfo *cms = NULL;
	if (sealed_check(data, size, &cms, why, sizeof(why)) == VG_OK)
		CMS_ContentInfo_free(cms);
	uint8_t c[SHA256_LEN];
	sealed_commit(data, size, c);
	static const int fields[] = { SEALED_NOTE, SEALED_ACK_REASON };
	for (int i = 0; i < 2; i++) {
		const uint8_t *rid = size >= SEALED_TAG_LEN + RECORD_ID_LEN ? data + SEALED_TAG_LEN
									  : c;
		char *text = NULL;
		size_t n;
		if (sealed_plain_parse(data, size, fields[i], rid, c, &text, &n, why,
				       sizeof(why)) == VG_OK)
			free(text);
	}
	return 0;
}
