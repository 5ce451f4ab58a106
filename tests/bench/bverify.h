/*
 * bverify.h - what a client checks before it believes the relay: every
 * receipt and every inclusion proof, against a signed checkpoint.
 *
 * A receipt is accepted when its record_id is the submitted one, its leaf
 * hash is the one recomputed from (received_at_ms, SHA-256 of the client's
 * own DER certificate, record bytes, signature), its checkpoint is a note
 * signed by the relay's checkpoint key with the log's origin, and its
 * inclusion proof leads from that leaf to the checkpoint's root.
 *
 * Verifying an Ed25519 note costs about as much as the rest together, and
 * a relay sends the same checkpoint with every receipt of a batch, so the
 * notes already verified are remembered (by their exact text) in a small
 * cache.  A bverify is used by one thread.
 */
#ifndef VIGIL_TESTS_BENCH_BVERIFY_H
#define VIGIL_TESTS_BENCH_BVERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "proto/note.h"
#include "proto/vigil.pb-c.h"
#include "tests/bench/bident.h"
#include "tests/bench/brecord.h"

#define BVERIFY_CACHE 8

struct bverify {
	const struct bident *id;
	struct {
		char *note;               /* exact text verified, NULL when empty */
		size_t len;
		struct checkpoint cp;
	} cache[BVERIFY_CACHE];
	unsigned next;                    /* slot to replace */
	uint64_t notes_verified;          /* signatures checked */
	uint64_t notes_cached;            /* answered from the cache */
};

void bverify_init(struct bverify *v, const struct bident *id);
void bverify_free(struct bverify *v);

/* Verifies a signed checkpoint note (signature, origin, body).  0 and *cp,
 * or -1 with a reason in err. */
int bverify_note(struct bverify *v, const char *note, struct checkpoint *cp,
		 char *err, size_t err_len);

/* Verifies a receipt for the record r (see above).  0 or -1 with err. */
int bverify_receipt(struct bverify *v, const Vigil__V1__Receipt *rc, const struct brecord *r,
		    char *err, size_t err_len);

/* Verifies an InclusionProof answer for (index, cp->size) against cp. */
int bverify_inclusion(const Vigil__V1__InclusionProof *p, uint64_t index,
		      const struct checkpoint *cp, char *err, size_t err_len);

#endif
