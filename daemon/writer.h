/*
 * writer.h - the single writer thread: every change to the database, in
 * batches, and the results handed back to the loop.
 *
 * A writer owns the thread, its job queue, the Merkle log (logtree.h), the
 * case rules (cases.h) and the watchdog.  It borrows the store (store.h),
 * which must outlive it; between writer_start() and writer_stop() the
 * store's connection and the tree belong to the writer thread alone.
 *
 * Jobs: the loop (or, for a verified submission, the thread pool: submit.c)
 * hands it jobs with writer_submit() and gets each job back through
 * job->done(), which always runs on the loop thread, after the
 * job's batch is committed (or rolled back).  A job submitted is always
 * completed exactly once.  A job and everything it points to are owned by
 * the submitter and must stay valid until done() has been called; what the
 * writer attached to it is dropped with writer_job_clear().
 *
 * Group commit: the writer takes every queued job (up to batch_max), runs
 * them in one transaction with the checkpoint that covers them, and
 * commits with one fsync (WAL, synchronous=FULL).  When nothing was
 * committed for the checkpoint interval it signs a heartbeat checkpoint;
 * when a case's deadline comes it writes the watchdog's alerts first.
 * Every alert and Erasure entry it commits (the watchdog's, an erasure
 * on request in a batch, the retention rules') is handed to the loop for
 * delivery after the commit, with its proof to the covering checkpoint.
 *
 * Threads: writer_open() and writer_close() run on the main thread before
 * the loop starts and after it ends; writer_get_stats(), writer_submit()
 * and writer_pending() on any thread in between (between writer_start()
 * and writer_stop()); everything else on the loop thread.  The newest checkpoint and committed
 * alerts reach the loop through a uv_async handle.
 *
 * Errors: 0 or a negative VG_* code with a message.
 */
#ifndef VIGIL_DAEMON_WRITER_H
#define VIGIL_DAEMON_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <uv.h>

#include "daemon/cases.h"
#include "daemon/logtree.h"
#include "daemon/prom.h"
#include "proto/merkle.h"
#include "proto/record.h"

struct store;
struct writer;

enum writer_job_kind {
	WRITER_APPEND = 0,                 /* a signed record to append */
	WRITER_CASE_QUERY = 1,             /* a case query, recorded as a read */
	WRITER_HELLO = 2,                  /* note a peer's organisation, role, country */
	WRITER_DELIVERY_ACK = 3,           /* an organisation acknowledged deliveries */
	WRITER_RESEAL = 4,                 /* re-sealed texts for a pending handover */
	WRITER_RECONFIGURE = 5,            /* a reload: directory, relay certificate */
};

struct writer_member_key;

/* What a reload gives the writer (WRITER_RECONFIGURE): the new member
 * directory (the writer takes a reference of its own), and the relay's
 * certificate and key to sign alerts with; the members' encryption
 * certificates, each logged (MemberKey) when new, changed or gone.
 * Everything must stay valid until the job is done. */
struct writer_reconfig {
	struct case_members members;
	const struct directory *directory;
	EVP_PKEY *relay_key;
	const uint8_t *relay_cert_der;
	size_t relay_cert_der_len;
	const struct writer_member_key *member_keys;
	size_t n_member_keys;
};

struct writer_job {
	struct writer_job *next;           /* queue link, owned by the writer */
	void (*done)(struct writer_job *); /* called on the loop thread */
	enum writer_job_kind kind;
	int role;                          /* the peer's role (identity.h) */

	/* WRITER_HELLO: the country (author and role give the rest).
	 * WRITER_DELIVERY_ACK: author and index (the position). */
	char country[3];

	/* WRITER_CASE_QUERY: what, which case, who; the answer. */
	int query;                         /* enum case_query */
	struct case_page page;             /* CASE_Q_LOG: which entries */
	const char *query_case_id;
	struct case_result *result;        /* filled when status is VG_OK */

	/* WRITER_RECONFIGURE: the reload; index gets the count of MemberKey
	 * entries it appended. */
	const struct writer_reconfig *reconfig;

	/* WRITER_RESEAL: the request (query_case_id, author and role say whose);
	 * the answer: texts taken, how many are missing, and the first of them
	 * (malloc()ed, writer_job_clear). */
	const Vigil__V1__Reseal *reseal;
	uint32_t reseal_taken;
	uint32_t reseal_missing;
	uint64_t *reseal_list;
	size_t n_reseal_list;

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
	const uint8_t *sealed;             /* the record's sealed text (CMS), checked */
	size_t sealed_len;                 /* 0: none */
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
	struct logtree_checkpoint *checkpoint;  /* covers the entry; the job holds
						 * a reference (writer_job_clear) */
	merkle_hash proof[MERKLE_MAX_PROOF];  /* inclusion proof to checkpoint */
	size_t proof_len;
	char why[256];                     /* reason when status != VG_OK */
};

/* Drops what the writer attached to a finished job. */
void writer_job_clear(struct writer_job *job);

struct writer_stats {
	uint64_t entries;       /* entries in the log */
	uint64_t batches;       /* transactions committed */
	uint64_t jobs;          /* jobs completed */
	uint64_t checkpoints;   /* checkpoints signed this run */
	uint64_t storage_failures; /* transactions that failed this run */
	int storage_failed;     /* no more writes this run (health.h: fatal) */
	int64_t checkpoint_ms;  /* when the newest committed checkpoint was signed */
	uint64_t alerts[WATCH_EVENT_CLASSES]; /* alert entries committed this run */
	struct prom_hist batch_jobs;  /* jobs per batch (prom_batch_buckets) */
	struct prom_hist commit_us;   /* each COMMIT of the writer thread, in µs
				       * (prom_commit_buckets) */
};

struct writer_member_key;

struct writer_config {
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
	const struct directory *directory; /* the same, for encryption certificates
					    * (the writer takes a reference; NULL: none) */
	uint64_t wal_limit;     /* WAL size in bytes kept by checkpoints (walsync.h);
				 * 0: WRITER_WAL_LIMIT */
	/* [retention]: how long after a case is closed its sealed texts and
	 * its records are erased (0: never). */
	uint64_t content_after_ms;
	uint64_t record_after_ms;
	/* The members' encryption certificates (the directory's): each one
	 * new, changed or gone since the log last said is logged at start-up
	 * as a relay-signed MemberKey entry.  Read in writer_start only. */
	const struct writer_member_key *member_keys;
	size_t n_member_keys;
};

struct writer_member_key {
	const char *org;
	const uint8_t *der;                /* NULL: none */
	size_t der_len;
	const uint8_t *sha256;             /* of der */
};

/* How often the writer looks for closed cases the retention rules are due
 * for, when the last look found nothing left. */
#define WRITER_RETENTION_PERIOD_MS 60000

#define WRITER_WAL_LIMIT (16u * 1024u * 1024u)

/*
 * An entry delivered like an alert, committed and handed to the loop for
 * delivery (writer_set_alert_sink); the sink owns the list
 * (writer_alerts_free).  Two kinds: an alert the watchdog wrote, and an
 * Erasure entry (on an owner's request or by the retention rules), which
 * is told to the case's parties the same way.  For an Erasure, ev holds
 * only its case, alert_id = the entry's record id, stage 0 and its
 * recipients (as in the alerts table); the alert fields are 0.
 */
struct writer_alert {
	struct writer_alert *next;
	uint64_t position;                 /* the entry's index */
	int erasure;                       /* 1: an Erasure entry, not an alert */
	struct watch_event ev;             /* case, stage, recipients */
	int64_t received_at_ms;
	uint8_t cert_sha256[SHA256_LEN];   /* the relay's certificate */
	uint8_t leaf_hash[SHA256_LEN];
	uint8_t *record;
	size_t record_len;
	uint8_t *sig;
	size_t sig_len;
	struct logtree_checkpoint *checkpoint;
	merkle_hash proof[MERKLE_MAX_PROOF];
	size_t proof_len;
};

void writer_alerts_free(struct writer_alert *list);

/* Where committed alerts and Erasure entries go (loop thread); set before
 * writer_start. */
void writer_set_alert_sink(struct writer *w, void (*sink)(void *ctx, struct writer_alert *list),
			   void *ctx);

/* Called on the loop around each hand-back of finished jobs and alerts:
 * with begin 1 before the first done() or alert sink call, with 0 after
 * the last (relay.c: conn_cork, conn_uncork).  Set before writer_start. */
void writer_set_deliver_hook(struct writer *w, void (*hook)(void *ctx, int begin), void *ctx);

/* One past the position of the newest alert or Erasure entry the loop has
 * been handed (0 when none yet this run); loop thread. */
uint64_t writer_alert_horizon(const struct writer *w);

/*
 * Opens the Merkle log and the case rules on the store's connection (the
 * store is borrowed until writer_close()); refuses a log that does not
 * match its latest checkpoint.
 */
int writer_open(struct store *s, struct writer **out, char *err, size_t err_len);

/*
 * Starts the writer thread.  Completions are delivered on loop.  If the
 * latest checkpoint does not cover the whole log (a new log, or one
 * migrated from schema 1), one is signed before the thread starts.
 */
int writer_start(struct writer *w, uv_loop_t *loop, unsigned batch_max, uint64_t batch_wait_ms,
		 const struct writer_config *cfg, char *err, size_t err_len);

/* The latest checkpoint (loop thread; NULL before writer_start).  The
 * pointer stays valid until the next loop iteration; take a reference to
 * keep it longer. */
struct logtree_checkpoint *writer_latest(struct writer *w);

/* Queues a job (any thread, while the writer runs). */
void writer_submit(struct writer *w, struct writer_job *job);

/* Jobs queued or being written, not yet completed. */
unsigned writer_pending(const struct writer *w);

/*
 * Writes every queued job, completes them all, stops the writer thread and
 * closes the async handle (loop thread only; the loop must run once more to
 * finish closing).
 */
void writer_stop(struct writer *w);

/* Frees the writer (after writer_stop(), or without writer_start()); safe
 * on NULL. */
void writer_close(struct writer **w);

/* A consistent snapshot of the counters (any thread, from writer_open()
 * until writer_close()). */
void writer_get_stats(struct writer *w, struct writer_stats *st);

/* 1 when storage failed fatally this run (see health.h); read it after
 * writer_stop(). */
int writer_failed(const struct writer *w);

/* 1 once another relay moved the log head (store_commit's DB_FENCED): this
 * relay stepped down (it asked itself to stop with SIGTERM). */
int writer_fenced(const struct writer *w);

#endif
