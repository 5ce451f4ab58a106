#include "daemon/reader.h"

#include <stdlib.h>
#include <string.h>

#include "proto/status.h"

int reader_pool_init(struct reader_pool *p, const char *path)
{
	memset(p, 0, sizeof(*p));
	p->path = strdup(path);
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
	sqlite3_finalize(r->leaf);
	sqlite3_finalize(r->node);
	sqlite3_finalize(r->leaves);
	sqlite3_finalize(r->entries);
	sqlite3_finalize(r->begin);
	sqlite3_finalize(r->end);
	sqlite3_finalize(r->alerts);
	sqlite3_finalize(r->acked);
	sqlite3_finalize(r->cert);
	sqlite3_close(r->db);
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

static struct reader *reader_open(const char *path, const char **err)
{
	struct reader *r = calloc(1, sizeof(*r));
	if (!r) {
		*err = "out of memory";
		return NULL;
	}
	if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) ||
	    sqlite3_exec(r->db, "PRAGMA busy_timeout=5000", NULL, NULL, NULL) ||
	    sqlite3_prepare_v3(r->db, "SELECT leaf_hash FROM entries WHERE idx=?", -1,
			       SQLITE_PREPARE_PERSISTENT, &r->leaf, NULL) ||
	    sqlite3_prepare_v3(r->db, "SELECT hash FROM tree WHERE level=? AND idx=?", -1,
			       SQLITE_PREPARE_PERSISTENT, &r->node, NULL) ||
	    sqlite3_prepare_v3(r->db, "SELECT idx, leaf_hash FROM entries WHERE idx >= ? AND "
			       "idx < ? ORDER BY idx", -1, SQLITE_PREPARE_PERSISTENT,
			       &r->leaves, NULL) ||
	    sqlite3_prepare_v3(r->db, "SELECT e.idx, e.received_at_ms, e.cert_fp, e.record, "
			       "e.signature, e.leaf_hash, s.cms, coalesce(x.what, 0) FROM entries e "
			       "LEFT JOIN sealed s ON s.idx = e.idx LEFT JOIN erased x ON "
			       "x.idx = e.idx WHERE e.idx >= ? AND e.idx < ? AND e.author = ? "
			       "ORDER BY e.idx", -1, SQLITE_PREPARE_PERSISTENT, &r->entries, NULL) ||
	    sqlite3_prepare_v3(r->db, "BEGIN", -1, SQLITE_PREPARE_PERSISTENT, &r->begin, NULL) ||
	    sqlite3_prepare_v3(r->db, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &r->end, NULL) ||
	    sqlite3_prepare_v3(r->db, "SELECT a.position, a.recipients, e.received_at_ms, e.cert_fp,"
			       " e.record, e.signature, e.leaf_hash, c.der FROM alerts a JOIN entries"
			       " e ON e.idx = a.position JOIN certs c ON c.fp = e.cert_fp WHERE "
			       "a.position >= ? ORDER BY a.position LIMIT ?",
			       -1, SQLITE_PREPARE_PERSISTENT, &r->alerts, NULL) ||
	    sqlite3_prepare_v3(r->db, "SELECT position FROM delivery_acks WHERE org = ?", -1,
			       SQLITE_PREPARE_PERSISTENT, &r->acked, NULL) ||
	    sqlite3_prepare_v3(r->db, "SELECT der FROM certs WHERE fp = ?", -1,
			       SQLITE_PREPARE_PERSISTENT, &r->cert, NULL)) {
		*err = r->db ? sqlite3_errmsg(r->db) : "cannot open the database";
		/* The message lives in the connection: keep a static copy. */
		static _Thread_local char msg[200];
		strncpy(msg, *err, sizeof(msg) - 1);
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
		r = reader_open(p->path, err);
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
	sqlite3_step(r->begin);
	sqlite3_reset(r->begin);
}

void reader_end(struct reader *r)
{
	if (!sqlite3_get_autocommit(r->db)) {
		sqlite3_step(r->end);
		sqlite3_reset(r->end);
	}
}

int reader_get_node(void *ctx, unsigned level, uint64_t index, uint8_t out[SHA256_LEN])
{
	struct reader *r = ctx;
	sqlite3_stmt *st = level == 0 ? r->leaf : r->node;
	if (level == 0) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)index);
	} else {
		sqlite3_bind_int(st, 1, (int)level);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)index);
	}
	int ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == SHA256_LEN;
	if (ok)
		memcpy(out, sqlite3_column_blob(st, 0), SHA256_LEN);
	sqlite3_reset(st);
	return ok ? 0 : VG_EIO;
}

int reader_get_cert(struct reader *r, const uint8_t fp[SHA256_LEN], uint8_t **der, size_t *len)
{
	*der = NULL;
	*len = 0;
	sqlite3_bind_blob(r->cert, 1, fp, SHA256_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(r->cert);
	int status = rc == SQLITE_DONE ? VG_ENOTFOUND : VG_EIO;
	if (rc == SQLITE_ROW) {
		int n = sqlite3_column_bytes(r->cert, 0);
		const void *p = sqlite3_column_blob(r->cert, 0);
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
	sqlite3_reset(r->cert);
	sqlite3_clear_bindings(r->cert);
	return status;
}
