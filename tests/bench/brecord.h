/*
 * brecord.h - records for the benchmark, built and signed before any
 * timing starts.
 *
 * Each brecord is one ContactAttempt Record (a fresh random record_id),
 * its signature by the author's key, and optionally the whole Submit frame
 * (length prefix included, request_id = first + index + 1), so the timed phase
 * only writes bytes and verifies receipts.  Every fourth record has a note
 * when the spec says how: sealed to its readers (proto/sealed.h, the
 * envelope in the frame), or in the clear as older records had it
 * (plain_notes: only for databases written directly, vigil-bench-populate;
 * the relay refuses a note in the clear).
 *
 * Signing is spread over threads: ECDSA P-256 signing is the expensive
 * part (about 30,000 signatures per second per core).  A brecord owns its
 * buffers; brecords_free() frees an array made by brecords_make().
 */
#ifndef VIGIL_TESTS_BENCH_BRECORD_H
#define VIGIL_TESTS_BENCH_BRECORD_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "proto/record.h"

struct brecord {
	uint8_t record_id[RECORD_ID_LEN];
	char case_id[RECORD_CASE_ID_MAX + 1];
	uint8_t *rec;             /* serialized Record */
	size_t rec_len;
	uint8_t *sig;             /* DER ECDSA signature over rec */
	size_t sig_len;
	uint8_t *frame;           /* length-prefixed Submit frame, or NULL */
	size_t frame_len;
};

struct brecord_spec {
	EVP_PKEY *key;            /* signs; must be usable from several threads */
	const char *author;       /* organisation id */
	int64_t time_ms;          /* client_time_ms and attempted_at_ms of record 0 */
	int64_t time_step_ms;     /* added per record */
	size_t first;             /* global number of record 0 (case id, time, request id) */
	int frames;               /* also encode Submit frames */
	/* The readers notes are sealed to: encryption certificates sorted by
	 * their SHA-256 (reader_sha256); 0 readers: no notes, unless
	 * plain_notes. */
	X509 *const *readers;
	const uint8_t (*reader_sha256)[SHA256_LEN];
	size_t n_readers;
	int plain_notes;
};

/* Makes n records with `threads` signing threads.  0 or -1 (out of memory
 * or a signing failure, with a reason on stderr). */
int brecords_make(struct brecord *r, size_t n, const struct brecord_spec *spec, unsigned threads);
void brecords_free(struct brecord *r, size_t n);

#endif
