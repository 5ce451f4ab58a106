/*
 * libFuzzer target: everything a peer can send after the TLS handshake.
 *
 * The input is split into chunks (their sizes taken from the input itself)
 * and fed to a frame_reader as TLS would hand them over; every complete
 * frame is decoded, and the record inside a Submit is parsed and validated
 * exactly as the relay does before it verifies a signature.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"
#include "proto/record.h"
#include "proto/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* First byte: the chunk size pattern (1..64 bytes per feed, or all). */
	size_t chunk = data[0] & 0x3f;
	data++;
	size--;
	struct frame_reader fr;
	frame_reader_init(&fr, 64 * 1024);
	size_t off = 0;
	while (off < size) {
		size_t n = chunk ? chunk : size;
		if (n > size - off)
			n = size - off;
		if (frame_reader_feed(&fr, data + off, n) != VG_OK)
			break;
		off += n;
		const uint8_t *p;
		size_t len;
		int rc;
		while ((rc = frame_reader_next(&fr, &p, &len)) == 1) {
			Vigil__V1__Frame *f;
			if (frame_decode(p, len, &f) != VG_OK)
				continue;
			if (f->msg_case == VIGIL__V1__FRAME__MSG_SUBMIT && f->submit->record) {
				Vigil__V1__SignedRecord *sr = f->submit->record;
				Vigil__V1__Record *r = NULL;
				char why[192];
				if (record_parse(sr->record.data, sr->record.len, &r, why,
						 sizeof(why)) == VG_OK)
					record_free(r);
				else if (why[0] == '\0')
					__builtin_trap(); /* every refusal must say why */
			}
			/* Re-encoding what decoded must work and fit. */
			uint8_t *out;
			size_t out_len;
			if (frame_encode(f, 1u << 30, &out, &out_len) == VG_OK)
				free(out);
			frame_free(f);
		}
		if (rc < 0)
			break;
	}
	frame_reader_free(&fr);
	return 0;
}
