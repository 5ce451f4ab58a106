/*
 * reader.h - read-only SQLite connections for queries, used from the libuv
 * thread pool.  A connection is taken for one query and given back; the
 * pool opens connections lazily, up to its maximum, and they stay open.
 *
 * The log is append-only and every node read is of a complete subtree, so
 * the separate reads of one proof need no common transaction.
 */
#ifndef VIGIL_DAEMON_READER_H
#define VIGIL_DAEMON_READER_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/db.h"
#include <uv.h>

#include "proto/merkle.h"

struct reader {
	struct reader *next;
	struct db *db;
	struct db_stmt *leaf;      /* leaf_hash of one entry */
	struct db_stmt *node;      /* one tree node of level >= 1 */
	struct db_stmt *leaves;    /* leaf hashes of a range */
	struct db_stmt *entries;   /* entries of a range by one author */
	struct db_stmt *begin;
	struct db_stmt *end;
	struct db_stmt *alerts;    /* alert and Erasure entries (the alerts table)
				  * from a position on */
	struct db_stmt *acked;     /* an organisation's acknowledged position */
	struct db_stmt *cert;      /* a certificate (DER) by its SHA-256 */
};

/* One read transaction around the many reads of a proof: one snapshot,
 * and one lock round-trip instead of one per statement. */
void reader_begin(struct reader *r);
void reader_end(struct reader *r);

struct reader_pool {
	uv_mutex_t mu;
	struct reader *idle;
	enum db_engine engine;
	char *path;              /* the SQLite file, or PostgreSQL's connection string */
};

int reader_pool_init(struct reader_pool *p, const struct db_target *t);
void reader_pool_close(struct reader_pool *p);

/* A connection (any thread); NULL with *err set when none can be opened. */
struct reader *reader_acquire(struct reader_pool *p, const char **err);
void reader_release(struct reader_pool *p, struct reader *r);

/* The DER certificate whose SHA-256 is fp (table certs): VG_OK with *der
 * (malloc()ed) and *len, VG_ENOTFOUND, VG_ENOMEM or VG_EIO. */
int reader_get_cert(struct reader *r, const uint8_t fp[SHA256_LEN], uint8_t **der, size_t *len);

/* merkle_get_fn over a reader (ctx is the struct reader *). */
int reader_get_node(void *ctx, unsigned level, uint64_t index, uint8_t out[SHA256_LEN]);

#endif
