#include "daemon/reader.h"

#include <stdlib.h>
#include <string.h>

#include "proto/status.h"

int reader_pool_init(struct reader_pool *p, const struct db_target *t)
{
	memset(p, 0, sizeof(*p));
	p->engine = t->engine;
	p->path = strdup(t->where);
	if (!p->path)
		return UV_ENOMEM;
	int rc = uv_mutex_init(&p->mu);
	if (rc) {
		free(p->path);
		p->path = NULL;
	}
	return rc;
}

static void reader_free(struct reader *r)
{
	db_finalize(r->leaf);
	db_finalize(r->node);
	db_finalize(r->leaves);
	db_finalize(r->entries);
	db_finalize(r->begin);
	db_finalize(r->end);
	db_finalize(r->alerts);
	db_finalize(r->acked);
	db_finalize(r->cert);
	db_close(&r->db);
	free(r);
}

void reader_pool_close(struct reader_pool *p)
{
	if (!p->path)
		return;
	while (p->idle) {
		struct reader *r = p->idle;
		p->idle = r->next;
		reader_free(r);
	}
	uv_mutex_destroy(&p->mu);
	free(p->path);
	p->path = NULL;
}

static struct reader *reader_open(const struct reader_pool *p, const char **err)
{
	struct reader *r = calloc(1, sizeof(*r));
	if (!r) {
		*err = "out of memory";
		return NULL;
	}
	static _Thread_local char msg[200];
	const struct db_target t = { p->engine, p->path, 0 };
	if (db_open(&t, 1, &r->db, msg, sizeof(msg)) != DB_OK) {
		*err = msg;
		free(r);
		return NULL;
	}
	int pg = p->engine == DB_POSTGRESQL;
	/* One snapshot per request (a proof's nodes and leaves agree). */
	if ((!pg && db_exec(r->db, "PRAGMA busy_timeout=5000")) ||
	    db_prepare(r->db, "SELECT leaf_hash FROM entries WHERE idx=?", &r->leaf) ||
	    db_prepare(r->db, "SELECT hash FROM tree WHERE level=? AND idx=?", &r->node) ||
	    db_prepare(r->db, "SELECT idx, leaf_hash FROM entries WHERE idx >= ? AND "
			       "idx < ? ORDER BY idx",
			       &r->leaves) ||
	    db_prepare(r->db, "SELECT e.idx, e.received_at_ms, e.cert_fp, e.record, "
			       "e.signature, e.leaf_hash, s.cms, coalesce(x.what, 0) FROM entries e "
			       "LEFT JOIN sealed s ON s.idx = e.idx LEFT JOIN erased x ON "
			       "x.idx = e.idx WHERE e.idx >= ? AND e.idx < ? AND e.author = ? "
			       "ORDER BY e.idx", &r->entries) ||
	    db_prepare(r->db, pg ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN",
		       &r->begin) ||
	    db_prepare(r->db, "COMMIT", &r->end) ||
	    db_prepare(r->db, "SELECT a.position, a.recipients, e.received_at_ms, e.cert_fp,"
			       " e.record, e.signature, e.leaf_hash, c.der FROM alerts a JOIN entries"
			       " e ON e.idx = a.position JOIN certs c ON c.fp = e.cert_fp WHERE "
			       "a.position >= ? ORDER BY a.position LIMIT ?", &r->alerts) ||
	    db_prepare(r->db, "SELECT position FROM delivery_acks WHERE org = ?", &r->acked) ||
	    db_prepare(r->db, "SELECT der FROM certs WHERE fp = ?", &r->cert)) {
		/* The message lives in the connection: keep a copy. */
		snprintf(msg, sizeof(msg), "%s", db_errmsg(r->db));
		*err = msg;
		reader_free(r);
		return NULL;
	}
	return r;
}

struct reader *reader_acquire(struct reader_pool *p, const char **err)
{
	uv_mutex_lock(&p->mu);
	struct reader *r = p->idle;
	if (r)
		p->idle = r->next;
	uv_mutex_unlock(&p->mu);
	if (!r)
		r = reader_open(p, err);
	return r;
}

void reader_release(struct reader_pool *p, struct reader *r)
{
	if (!r)
		return;
	uv_mutex_lock(&p->mu);
	r->next = p->idle;
	p->idle = r;
	uv_mutex_unlock(&p->mu);
}

void reader_begin(struct reader *r)
{
	db_step(r->begin);
	db_reset(r->begin);
}

void reader_end(struct reader *r)
{
	if (db_in_transaction(r->db)) {
		db_step(r->end);
		db_reset(r->end);
	}
}

int reader_get_node(void *ctx, unsigned level, uint64_t index, uint8_t out[SHA256_LEN])
{
	struct reader *r = ctx;
	struct db_stmt *st = level == 0 ? r->leaf : r->node;
	if (level == 0) {
		db_bind_int64(st, 1, (int64_t)index);
	} else {
		db_bind_int64(st, 1, (int)level);
		db_bind_int64(st, 2, (int64_t)index);
	}
	int ok = db_step(st) == DB_ROW && db_column_bytes(st, 0) == SHA256_LEN;
	if (ok)
		memcpy(out, db_column_blob(st, 0), SHA256_LEN);
	db_reset(st);
	return ok ? 0 : VG_EIO;
}

int reader_get_cert(struct reader *r, const uint8_t fp[SHA256_LEN], uint8_t **der, size_t *len)
{
	*der = NULL;
	*len = 0;
	db_bind_blob(r->cert, 1, fp, SHA256_LEN);
	int rc = db_step(r->cert);
	int status = rc == DB_DONE ? VG_ENOTFOUND : VG_EIO;
	if (rc == DB_ROW) {
		int n = db_column_bytes(r->cert, 0);
		const void *p = db_column_blob(r->cert, 0);
		status = VG_ENOTFOUND;
		if (n > 0 && p) {
			*der = malloc((size_t)n);
			status = *der ? VG_OK : VG_ENOMEM;
			if (*der) {
				memcpy(*der, p, (size_t)n);
				*len = (size_t)n;
			}
		}
	}
	db_reset(r->cert);
	db_clear_bindings(r->cert);
	return status;
}
