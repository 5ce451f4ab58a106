#include "daemon/logtree.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/store.h"
#include "proto/note.h"
#include "proto/status.h"

/* A direct-mapped cache of tree nodes for the writer's proofs: the nodes of
 * recent leaves and the high levels every proof shares stay in memory. */
#define CACHE_BITS 16
#define CACHE_SIZE (1u << CACHE_BITS)

struct node_slot {
	uint64_t index;
	uint8_t level;
	uint8_t valid;
	uint8_t hash[SHA256_LEN];
};

struct logtree {
	struct db *db;                      /* the store's */
	const char *path;                 /* the store's, for messages */
	struct db_stmt *st_leaf;
	struct db_stmt *st_node;
	struct db_stmt *st_node_put;
	struct db_stmt *st_ckpt_put;

	struct merkle_frontier frontier;
	struct node_slot *cache;          /* NULL until logtree_start */
	EVP_PKEY *key;                    /* checkpoint key (borrowed) */
	const char *origin;               /* origin line and key name (borrowed) */
	struct note_signer *signer;       /* the checkpoint key under the origin */
	struct logtree_checkpoint *last;  /* the newest committed checkpoint */
};

struct logtree_checkpoint *logtree_checkpoint_ref(struct logtree_checkpoint *c)
{
	if (c)
		atomic_fetch_add(&c->refs, 1);
	return c;
}

void logtree_checkpoint_release(struct logtree_checkpoint *c)
{
	if (c && atomic_fetch_sub(&c->refs, 1) == 1)
		free(c);
}

static struct logtree_checkpoint *checkpoint_new(uint64_t size, const uint8_t root[SHA256_LEN],
					       int64_t signed_at, const char *note, size_t len)
{
	struct logtree_checkpoint *c = malloc(sizeof(*c) + len + 1);
	if (!c)
		return NULL;
	atomic_init(&c->refs, 1);
	c->size = size;
	memcpy(c->root, root, SHA256_LEN);
	c->signed_at_ms = signed_at;
	c->note_len = len;
	memcpy(c->note, note, len);
	c->note[len] = '\0';
	return c;
}

static struct node_slot *cache_slot(struct logtree *t, unsigned level, uint64_t index)
{
	uint64_t h = (index * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)level << 58);
	return &t->cache[(h >> (64 - CACHE_BITS)) & (CACHE_SIZE - 1)];
}

static void cache_put(struct logtree *t, unsigned level, uint64_t index, const uint8_t hash[SHA256_LEN])
{
	if (!t->cache)
		return;
	struct node_slot *e = cache_slot(t, level, index);
	e->level = (uint8_t)level;
	e->index = index;
	e->valid = 1;
	memcpy(e->hash, hash, SHA256_LEN);
}

/* merkle_get_fn over the writer's connection, through the cache. */
static int get_node(void *ctx, unsigned level, uint64_t index, uint8_t out[SHA256_LEN])
{
	struct logtree *t = ctx;
	if (t->cache) {
		struct node_slot *e = cache_slot(t, level, index);
		if (e->valid && e->level == level && e->index == index) {
			memcpy(out, e->hash, SHA256_LEN);
			return 0;
		}
	}
	struct db_stmt *st = level == 0 ? t->st_leaf : t->st_node;
	if (level == 0) {
		db_bind_int64(st, 1, (int64_t)index);
	} else {
		db_bind_int64(st, 1, (int)level);
		db_bind_int64(st, 2, (int64_t)index);
	}
	int rc = db_step(st);
	int ok = rc == DB_ROW && db_column_bytes(st, 0) == SHA256_LEN;
	if (ok)
		memcpy(out, db_column_blob(st, 0), SHA256_LEN);
	db_reset(st);
	if (!ok)
		return VG_EIO;
	cache_put(t, level, index, out);
	return 0;
}

/* Frontier emit: level 0 is already in entries; higher levels are kept. */
static int put_node(void *ctx, unsigned level, uint64_t index, const uint8_t hash[SHA256_LEN])
{
	struct logtree *t = ctx;
	cache_put(t, level, index, hash);
	if (level == 0)
		return 0;
	struct db_stmt *st = t->st_node_put;
	db_bind_int64(st, 1, (int)level);
	db_bind_int64(st, 2, (int64_t)index);
	db_bind_blob(st, 3, hash, SHA256_LEN);
	return store_step(st);
}

/* Reads the newest checkpoint row into t->last (NULL when none). */
static int load_last_checkpoint(struct logtree *t, char *err, size_t err_len)
{
	struct db_stmt *st;
	if (db_prepare(t->db, "SELECT size, root, signed_at_ms, note FROM checkpoints "
			       "ORDER BY id DESC LIMIT 1", &st) != DB_OK) {
		snprintf(err, err_len, "%s: %s", t->path, db_errmsg(t->db));
		return -1;
	}
	int rc = db_step(st);
	if (rc == DB_ROW) {
		if (db_column_bytes(st, 1) != SHA256_LEN) {
			db_finalize(st);
			snprintf(err, err_len, "%s: the latest checkpoint is malformed", t->path);
			return -1;
		}
		t->last = checkpoint_new((uint64_t)db_column_int64(st, 0),
					 db_column_blob(st, 1), db_column_int64(st, 2),
					 db_column_text(st, 3),
					 (size_t)db_column_bytes(st, 3));
		rc = t->last ? DB_DONE : DB_NOMEM;
	}
	db_finalize(st);
	if (rc != DB_DONE) {
		snprintf(err, err_len, "%s: %s", t->path, db_errstr(rc));
		return -1;
	}
	return 0;
}

int logtree_open(struct store *store, struct logtree **out, char *err, size_t err_len)
{
	struct logtree *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, err_len, "out of memory");
		return VG_ENOMEM;
	}
	t->db = store_db(store);
	t->path = store_path(store);
	uint64_t size = store_size(store);
	if (store_prepare(store, &t->st_leaf, "SELECT leaf_hash FROM entries WHERE idx=?", err,
			  err_len) ||
	    store_prepare(store, &t->st_node, "SELECT hash FROM tree WHERE level=? AND idx=?", err,
			  err_len) ||
	    store_prepare(store, &t->st_node_put, "INSERT INTO tree(level, idx, hash) VALUES(?,?,?)",
			  err, err_len) ||
	    store_prepare(store, &t->st_ckpt_put,
			  "INSERT INTO checkpoints(size, root, signed_at_ms, note) VALUES(?,?,?,?)",
			  err, err_len))
		goto fail;
	/* O(log n): the complete subtrees that make up the log. */
	if (merkle_frontier_load(&t->frontier, get_node, t, size) != 0) {
		snprintf(err, err_len, "%s: the Merkle tree is incomplete (a node of size %llu "
			 "is missing); run vigild --verify-db", t->path, (unsigned long long)size);
		goto fail;
	}
	if (load_last_checkpoint(t, err, err_len) != 0)
		goto fail;
	if (t->last) {
		uint8_t root[SHA256_LEN];
		merkle_frontier_root(&t->frontier, root);
		/* Every batch commits its checkpoint with its entries, so the
		 * latest checkpoint covers exactly the log; anything else was
		 * changed outside the relay and must not be signed over. */
		if (t->last->size != size || memcmp(root, t->last->root, SHA256_LEN)) {
			snprintf(err, err_len, "%s: the log (%llu entries) does not match its latest "
				 "checkpoint (size %llu); refusing to serve a log that changed; "
				 "run vigild --verify-db", t->path, (unsigned long long)size,
				 (unsigned long long)t->last->size);
			goto fail;
		}
	}
	*out = t;
	return VG_OK;
fail:
	logtree_close(&t);
	return VG_EIO;
}

int logtree_start(struct logtree *t, EVP_PKEY *key, const char *origin, char *err,
		  size_t err_len)
{
	struct note_verifier v;
	if (note_verifier_from_key(key, origin, &v) != VG_OK) {
		snprintf(err, err_len, "the checkpoint key is not an Ed25519 key");
		return VG_EBADREQ;
	}
	t->key = key;
	t->origin = origin;
	note_signer_free(t->signer);
	if (!(t->signer = note_signer_new(key, origin))) {
		snprintf(err, err_len, "out of memory");
		return VG_ENOMEM;
	}
	t->cache = calloc(CACHE_SIZE, sizeof(*t->cache));
	if (!t->cache) {
		snprintf(err, err_len, "out of memory");
		return VG_ENOMEM;
	}
	return VG_OK;
}

void logtree_close(struct logtree **tp)
{
	struct logtree *t = *tp;
	if (!t)
		return;
	db_finalize(t->st_leaf);
	db_finalize(t->st_node);
	db_finalize(t->st_node_put);
	db_finalize(t->st_ckpt_put);
	logtree_checkpoint_release(t->last);
	note_signer_free(t->signer);
	free(t->cache);
	free(t);
	*tp = NULL;
}

uint64_t logtree_size(const struct logtree *t)
{
	return t->frontier.size;
}

int logtree_append(struct logtree *t, const uint8_t leaf_hash[SHA256_LEN])
{
	return merkle_frontier_append(&t->frontier, leaf_hash, put_node, t);
}

void logtree_mark(const struct logtree *t, struct logtree_mark *m)
{
	m->frontier = t->frontier;
}

void logtree_rewind(struct logtree *t, const struct logtree_mark *m)
{
	t->frontier = m->frontier;
	/* Nodes of the rolled-back leaves may be cached under indices the
	 * next batch will reuse. */
	if (t->cache)
		memset(t->cache, 0, CACHE_SIZE * sizeof(*t->cache));
}

int logtree_sign(struct logtree *t, int64_t now_ms, struct logtree_checkpoint **out)
{
	struct checkpoint c;
	memset(&c, 0, sizeof(c));
	snprintf(c.origin, sizeof(c.origin), "%s", t->origin);
	c.size = t->frontier.size;
	merkle_frontier_root(&t->frontier, c.root);
	int64_t at = now_ms;
	if (t->last && at <= t->last->signed_at_ms)
		at = t->last->signed_at_ms + 1; /* strictly increasing: notes never repeat */
	char text[NOTE_NAME_MAX + 160];
	int n = checkpoint_format(&c, text, sizeof(text));
	if (n < 0)
		return DB_TOOBIG;
	n += snprintf(text + n, sizeof(text) - (size_t)n, "signed-at %lld\n", (long long)at);
	char *note;
	size_t note_len;
	if (note_signer_sign(t->signer, text, (size_t)n, &note, &note_len) != VG_OK)
		return DB_ERROR;
	struct db_stmt *st = t->st_ckpt_put;
	db_bind_int64(st, 1, (int64_t)c.size);
	db_bind_blob(st, 2, c.root, SHA256_LEN);
	db_bind_int64(st, 3, at);
	db_bind_text(st, 4, note, (int)note_len);
	int rc = store_step(st);
	if (rc == 0) {
		*out = checkpoint_new(c.size, c.root, at, note, note_len);
		if (!*out)
			rc = DB_NOMEM;
	}
	free(note);
	return rc;
}

void logtree_committed(struct logtree *t, struct logtree_checkpoint *cp)
{
	logtree_checkpoint_release(t->last);
	t->last = logtree_checkpoint_ref(cp);
}

struct logtree_checkpoint *logtree_last(const struct logtree *t)
{
	return t->last;
}

int logtree_prove(struct logtree *t, uint64_t index, uint64_t size,
		  merkle_hash proof[MERKLE_MAX_PROOF], size_t *proof_len)
{
	return merkle_inclusion_proof(get_node, t, index, size, proof, proof_len);
}

int logtree_build(struct db *db, uint64_t *size, char *err, size_t err_len)
{
	struct db_stmt *rd = NULL, *wr = NULL;
	struct logtree tmp = { 0 };  /* no cache: each node is written once */
	if (db_prepare(db, "SELECT leaf_hash FROM entries ORDER BY idx", &rd) ||
	    db_prepare(db, "INSERT INTO tree(level, idx, hash) VALUES(?,?,?)", &wr)) {
		snprintf(err, err_len, "%s", db_errmsg(db));
		goto fail;
	}
	tmp.st_node_put = wr;
	struct merkle_frontier f;
	merkle_frontier_init(&f);
	int rc;
	while ((rc = db_step(rd)) == DB_ROW) {
		if (db_column_bytes(rd, 0) != SHA256_LEN) {
			snprintf(err, err_len, "entry %llu has a malformed leaf hash",
				 (unsigned long long)f.size);
			goto fail;
		}
		if (merkle_frontier_append(&f, db_column_blob(rd, 0), put_node, &tmp) != 0) {
			snprintf(err, err_len, "%s", db_errmsg(db));
			goto fail;
		}
	}
	if (rc != DB_DONE) {
		snprintf(err, err_len, "%s", db_errmsg(db));
		goto fail;
	}
	db_finalize(rd);
	db_finalize(wr);
	*size = f.size;
	return VG_OK;
fail:
	db_finalize(rd);
	db_finalize(wr);
	return VG_EIO;
}

