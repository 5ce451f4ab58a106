/*
 * store.h - the relay's durable, tamper-evident log in SQLite, and the
 * single writer thread that appends to it.
 *
 * The log is an RFC 9162 Merkle tree over the entries' leaf hashes.  The
 * writer keeps its frontier (the complete subtrees of the current size) in
 * memory, stores every complete subtree hash of level >= 1 in `tree` (level
 * 0 is entries.leaf_hash), and signs one checkpoint per committed batch, in
 * the same transaction, so that a receipt's checkpoint and proof are as
 * durable as its entry.  Start-up reads O(log n) rows, never the log.
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

#include <openssl/evp.h>
#include <sqlite3.h>
#include <uv.h>

#include "daemon/cases.h"
#include "proto/merkle.h"
#include "proto/record.h"

/*
 * A signed checkpoint, shared read-only between the writer, the jobs of its
 * batch and the relay's "latest" pointer; the last release frees it (any
 * thread).
 */
struct store_checkpoint {
	_Atomic unsigned refs;
	uint64_t size;
	uint8_t root[SHA256_LEN];
	int64_t signed_at_ms;
	size_t note_len;
	char note[];                       /* the signed note, NUL-terminated */
};

void store_checkpoint_release(struct store_checkpoint *c);
struct store_checkpoint *store_checkpoint_ref(struct store_checkpoint *c);

#define STORE_SCHEMA_VERSION 5
#define STORE_APPLICATION_ID 0x7669676c /* "vigl" */

enum store_job_kind {
	STORE_APPEND = 0,                  /* a signed record to append */
	STORE_CASE_QUERY = 1,              /* a case query, recorded as a read */
	STORE_HELLO = 2,                   /* note a peer's organisation, role, country */
	STORE_DELIVERY_ACK = 3,            /* an organisation acknowledged deliveries */
};

struct store_job {
	struct store_job *next;            /* queue link, owned by the store */
	void (*done)(struct store_job *);  /* called on the loop thread */
	enum store_job_kind kind;
	int role;                          /* the peer's role (identity.h) */

	/* STORE_HELLO: the country (author and role give the rest).
	 * STORE_DELIVERY_ACK: author and index (the position). */
	char country[3];

	/* STORE_CASE_QUERY: what, which case, who; the answer. */
	int query;                         /* enum case_query */
	const char *query_case_id;
	struct case_result *result;        /* filled when status is VG_OK */

	/* What to append (set by the submitter). */
	int64_t received_at_ms;
	const uint8_t *cert_sha256;        /* SHA256_LEN bytes */
	const uint8_t *cert_der;
	size_t cert_der_len;
	const char *author;                /* organisation of the certificate */
	const uint8_t *record_id;          /* RECORD_ID_LEN bytes */
	const char *case_id;
	const Vigil__V1__Record *parsed;   /* the record, decoded and validated */
	const uint8_t *record;
	size_t record_len;
	const uint8_t *sig;
	size_t sig_len;
	uint8_t leaf_hash[SHA256_LEN];

	/* The outcome (set by the writer). */
	int status;                        /* VG_OK, a refusal, or VG_EIO */
	int duplicate;                     /* the record was stored before */
	uint64_t index;
	int64_t stored_received_at_ms;
	uint8_t stored_leaf_hash[SHA256_LEN];
	uint8_t stored_sig[RECORD_SIG_MAX];  /* duplicates: the original signature */
	size_t stored_sig_len;
	uint8_t stored_cert_sha256[SHA256_LEN];
	uint8_t *stored_cert_der;            /* duplicates: that certificate (owned) */
	size_t stored_cert_der_len;
	struct store_checkpoint *checkpoint;  /* covers the entry; the job holds a
					       * reference (store_job_clear) */
	merkle_hash proof[MERKLE_MAX_PROOF];  /* inclusion proof to checkpoint */
	size_t proof_len;
	char why[160];                     /* reason when status != VG_OK */
};

/* Drops what the writer attached to a finished job. */
void store_job_clear(struct store_job *job);

struct store_stats {
	uint64_t entries;       /* entries in the log */
	uint64_t batches;       /* transactions committed */
	uint64_t jobs;          /* jobs completed */
	uint64_t checkpoints;   /* checkpoints signed this run */
};

struct store;

struct store_log {
	EVP_PKEY *key;          /* Ed25519 checkpoint key (borrowed) */
	const char *origin;     /* origin line and key name */
	uint64_t interval_ms;   /* sign a fresh checkpoint at least this often */
	/* Alerts are records the relay signs with its own certificate's key. */
	EVP_PKEY *relay_key;    /* borrowed */
	const uint8_t *relay_cert_der;
	size_t relay_cert_der_len;
	const char *relay_org;
	struct watch_config watch;
	struct case_members members;  /* the member directory, for the case rules */
};

/*
 * An alert entry the watchdog committed, handed to the loop for delivery
 * (store_set_alert_sink); the sink owns the list (store_alerts_free).
 */
struct store_alert {
	struct store_alert *next;
	uint64_t position;                 /* the entry's index */
	struct watch_event ev;             /* case, stage, recipients */
	int64_t received_at_ms;
	uint8_t cert_sha256[SHA256_LEN];   /* the relay's certificate */
	uint8_t leaf_hash[SHA256_LEN];
	uint8_t *record;
	size_t record_len;
	uint8_t *sig;
	size_t sig_len;
	struct store_checkpoint *checkpoint;
	merkle_hash proof[MERKLE_MAX_PROOF];
	size_t proof_len;
};

void store_alerts_free(struct store_alert *list);

/* Where committed alerts go (loop thread); set before store_start. */
void store_set_alert_sink(struct store *s, void (*sink)(void *ctx, struct store_alert *list),
			  void *ctx);

/* One past the position of the newest alert the loop has been handed (0
 * when none yet this run); loop thread. */
uint64_t store_alert_horizon(const struct store *s);

/*
 * Opens (creating if absent) the database at path, checks it is a vigil
 * database of a known schema version and takes an exclusive lock on it.  A
 * file that is not a vigil database is refused, never replaced.
 */
int store_open(const char *path, struct store **out, char *err, size_t err_len);

/*
 * Starts the writer thread.  Completions are delivered on loop.  If the
 * latest checkpoint does not cover the whole log (a new log, or one
 * migrated from schema 1), one is signed before the thread starts.
 */
int store_start(struct store *s, uv_loop_t *loop, unsigned batch_max, uint64_t batch_wait_ms,
		const struct store_log *log, char *err, size_t err_len);

/* The latest checkpoint (loop thread; NULL before store_start).  The
 * pointer stays valid until the next loop iteration; take a reference to
 * keep it longer. */
struct store_checkpoint *store_latest(struct store *s);

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

/* The database file's path. */
const char *store_path(const struct store *s);

/* Closes the database (after store_stop(), or without store_start()). */
void store_close(struct store **s);

/* A consistent snapshot of the counters (any thread). */
void store_get_stats(struct store *s, struct store_stats *st);

#endif
