/*
 * store.h - the relay's SQLite database: opening it, checking and migrating
 * its schema, the lock that keeps a second relay away, the transaction
 * statements, and the rows of `entries` and `certs`.
 *
 * A store is one read-write connection to one database file, with its
 * statements prepared once.  The Merkle tree over the entries (logtree.h)
 * and the case tables (cases.h) use the same connection; the writer thread
 * (writer.h) runs every transaction on it.
 *
 * Memory: the store is owned by whoever opened it (main.c) and freed by
 * store_close(), which must come after the writer and the log tree that
 * use it are closed.  Rows returned by store_find() point into SQLite's
 * memory and are valid until store_find_end().
 *
 * Threads: store_open() and store_close() run on the main thread before the
 * loop starts and after it ends.  Between writer_start() and writer_stop()
 * the connection belongs to the writer thread alone.
 *
 * Errors: store_open() and store_prepare() return 0 or a negative VG_* code
 * with a message.  The steps of a transaction (store_begin, store_append,
 * store_find, store_commit, store_step) return 0 or the SQLite result code,
 * as the case rules (cases.h) do, so that the writer can roll the whole
 * batch back and say why in SQLite's words.
 */
#ifndef VIGIL_DAEMON_STORE_H
#define VIGIL_DAEMON_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/db.h"

#include "proto/record.h"

#define STORE_SCHEMA_VERSION 9
#define STORE_APPLICATION_ID 0x7669676c /* "vigl" */
/* How long the store's connection waits for a lock another connection
 * holds (a checkpoint, an online backup) before a call fails busy. */
#define STORE_BUSY_MS 5000

struct store;

/*
 * An entry row.  To store_append() every field is input; from store_find()
 * the pointers are SQLite's (record_id, case_id and author are left NULL,
 * leaf_hash and cert_sha256 are NULL when the stored value is not
 * SHA256_LEN bytes long).
 */
struct store_entry {
	uint64_t index;                    /* position in the log */
	int64_t received_at_ms;
	const uint8_t *record_id;          /* RECORD_ID_LEN bytes */
	const char *case_id;
	const char *author;                /* organisation of the certificate */
	const uint8_t *cert_sha256;        /* SHA256_LEN bytes */
	const uint8_t *cert_der;
	size_t cert_der_len;
	const uint8_t *record;
	size_t record_len;
	const uint8_t *sig;
	size_t sig_len;
	const uint8_t *leaf_hash;          /* SHA256_LEN bytes */
	const uint8_t *sealed;             /* the record's sealed text (CMS), if any */
	size_t sealed_len;                 /* 0: none */
};

/*
 * Opens the store t names, checks it is a vigil database of a known
 * schema version (migrating an older one) and takes an exclusive lock on
 * it: flock() on the SQLite file, or a session advisory lock on the
 * PostgreSQL schema the connection writes in (its search_path's first).
 * Everything is recognised by reading before anything writes: a database
 * that is not a vigil database is refused and left as it was.  A missing or
 * empty one is refused too, unless init: then (and only then) a new log is
 * created there; init refuses one that already holds tables.
 */
int store_open(const struct db_target *t, int init, struct store **out, char *err,
	       size_t err_len);

/* Closes the database and releases the lock; safe on NULL and on a store
 * that failed half-way through store_open(). */
void store_close(struct store **s);

/* What to call the store in messages: the database file's path, or the
 * PostgreSQL server and database (db_target_name). */
const char *store_path(const struct store *s);

/* The connection, for the modules that share it (logtree.c, cases.c). */
struct db *store_db(struct store *s);

/* The number of entries the log held when it was opened. */
uint64_t store_size(const struct store *s);

/* Prepares a statement for the life of the store (finalized by its user). */
int store_prepare(struct store *s, struct db_stmt **st, const char *sql, char *err,
		  size_t err_len);

/* Steps a statement that returns no row and resets it. */
int store_step(struct db_stmt *st);

/* BEGIN IMMEDIATE (PostgreSQL: BEGIN); COMMIT, after moving the log head
 * from the size this relay last committed to the size its appends make.
 * DB_FENCED when the head is not where this relay left it: another relay
 * wrote to the log, and this one must stop writing (nothing of the
 * transaction is committed; the caller rolls it back).  After PostgreSQL's
 * connection was made again, store_begin takes the lock again (DB_FENCED
 * when another relay holds it) and checks the head (DB_STALE when a commit
 * whose answer was lost did land: the caller's state in memory is stale). */
int store_begin(struct store *s);
int store_commit(struct store *s);

/* Rolls back the open transaction, if there is one, and forgets what the
 * store remembered of it (the certificate stored last). */
void store_rollback(struct store *s);

/*
 * Inserts e at e->index inside the open transaction, and its author
 * certificate unless it is the one stored last.
 */
int store_append(struct store *s, const struct store_entry *e);

/*
 * Looks up the entry of record_id.  *found is 1 with *e filled, and then
 * store_find_end() must follow once *e is no longer needed, or 0.
 */
int store_find(struct store *s, const uint8_t *record_id, struct store_entry *e, int *found);
void store_find_end(struct store *s);

/* What an erasure needs to know of the entry a record id names. */
enum { STORE_ERASED_CONTENT = 1, STORE_ERASED_RECORD = 2 };
struct store_erasable {
	uint64_t index;
	char case_id[RECORD_CASE_ID_MAX + 1];
	int has_sealed;                    /* its sealed text is still stored */
	int erased;                        /* 0, STORE_ERASED_CONTENT or _RECORD */
	int keeps;                         /* an Erasure or EraseRequest: never erased */
};

/* The entry of record_id for an erasure; *found 0 when there is none.
 * 0 or an SQLite error. */
int store_erase_lookup(struct store *s, const uint8_t *record_id, struct store_erasable *out,
		       int *found);

/*
 * Erases entry index in the current transaction: its sealed text (and any
 * copy re-sealed for a pending handover), and with whole_record its record
 * bytes and signature too (its index, record id and leaf hash stay, so
 * every leaf, proof and checkpoint stays valid; an erased alert is no
 * longer delivered), and
 * marks it erased by the Erasure entry by_index.  The writer's connection
 * has secure_delete on: the bytes are overwritten in the pages, and
 * walsync_scrub() removes them from the WAL after the commit.  0 or an
 * SQLite error.
 */
int store_erase(struct store *s, uint64_t index, int whole_record, uint64_t by_index,
		int64_t at_ms);

#endif
