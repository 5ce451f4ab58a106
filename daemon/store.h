/*
 * store.h - the relay's durable log of entries in SQLite, and the single
 * writer thread that appends to it.
 *
 * Threads: store_open() and store_close() run on the main thread before the
 * loop starts and after it ends.  Between store_start() and store_stop() the
 * database connection belongs to the writer thread alone; the loop hands it
 * jobs with store_submit() and gets each job back through job->done(), which
 * always runs on the loop thread, after the job's batch is committed (or
 * rolled back).  A job submitted is always completed exactly once.
 *
 * Group commit: the writer takes every queued job (up to batch_max), runs
 * them in one transaction and commits with one fsync (WAL, synchronous=FULL).
 *
 * Memory: a job and everything it points to are owned by the submitter and
 * must stay valid until done() has been called.
 */
#ifndef VIGIL_DAEMON_STORE_H
#define VIGIL_DAEMON_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>
#include <uv.h>

#include "proto/record.h"

#define STORE_SCHEMA_VERSION 1
#define STORE_APPLICATION_ID 0x7669676c /* "vigl" */

struct store_job {
	struct store_job *next;            /* queue link, owned by the store */
	void (*done)(struct store_job *);  /* called on the loop thread */

	/* What to append (set by the submitter). */
	int64_t received_at_ms;
	const uint8_t *cert_sha256;        /* SHA256_LEN bytes */
	const uint8_t *cert_der;
	size_t cert_der_len;
	const char *author;                /* organisation of the certificate */
	const uint8_t *record_id;          /* RECORD_ID_LEN bytes */
	const char *case_id;
	const uint8_t *record;
	size_t record_len;
	const uint8_t *sig;
	size_t sig_len;
	uint8_t leaf_hash[SHA256_LEN];

	/* The outcome (set by the writer). */
	int status;                        /* VG_OK, VG_ECONFLICT or VG_EIO */
	int duplicate;                     /* the record was stored before */
	uint64_t index;
	int64_t stored_received_at_ms;
	uint8_t stored_leaf_hash[SHA256_LEN];
	uint8_t stored_sig[RECORD_SIG_MAX];  /* duplicates: the original signature */
	size_t stored_sig_len;
	uint8_t stored_cert_sha256[SHA256_LEN];
	char why[160];                     /* reason when status != VG_OK */
};

struct store_stats {
	uint64_t entries;       /* entries in the log */
	uint64_t batches;       /* transactions committed */
	uint64_t jobs;          /* jobs completed */
};

struct store;

/*
 * Opens (creating if absent) the database at path, checks it is a vigil
 * database of a known schema version and takes an exclusive lock on it.  A
 * file that is not a vigil database is refused, never replaced.
 */
int store_open(const char *path, struct store **out, char *err, size_t err_len);

/* Starts the writer thread.  Completions are delivered on loop. */
int store_start(struct store *s, uv_loop_t *loop, unsigned batch_max, uint64_t batch_wait_ms);

/* Queues a job (loop thread only). */
void store_submit(struct store *s, struct store_job *job);

/* Jobs queued or being written, not yet completed. */
unsigned store_pending(const struct store *s);

/*
 * Writes every queued job, completes them all, stops the writer thread and
 * closes the async handle (loop thread only; the loop must run once more to
 * finish closing).
 */
void store_stop(struct store *s);

/* Closes the database (after store_stop(), or without store_start()). */
void store_close(struct store **s);

/* A consistent snapshot of the counters (any thread). */
void store_get_stats(struct store *s, struct store_stats *st);

#endif
