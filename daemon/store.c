#include "daemon/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "daemon/log.h"
#include "daemon/walsync.h"
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

struct store {
	sqlite3 *db;
	int lock_fd;              /* flock()ed: one relay per database */
	char *path;

	/* Statements prepared once; the writer's once it runs. */
	sqlite3_stmt *st_begin;
	sqlite3_stmt *st_commit;
	sqlite3_stmt *st_rollback;
	sqlite3_stmt *st_find;
	sqlite3_stmt *st_cert;
	sqlite3_stmt *st_insert;
	sqlite3_stmt *st_leaf;
	sqlite3_stmt *st_node;
	sqlite3_stmt *st_node_put;
	sqlite3_stmt *st_ckpt_put;

	/* Writer thread only once started. */
	uint64_t next_index;
	struct merkle_frontier frontier;
	struct node_slot *cache;
	struct store_log log;
	struct store_checkpoint *last;   /* the writer's newest checkpoint */
	struct cases *cases;             /* case rules and state, same connection */
	int64_t watch_due;               /* the watchdog's next time; 0: nothing */
	uint8_t relay_cert_sha256[SHA256_LEN];
	uint8_t cert_known[SHA256_LEN];  /* the certificate stored last, committed */
	int cert_known_valid;

	struct walsync *walsync;         /* WAL checkpoints, off the writer's path */

	uv_thread_t thread;
	uv_mutex_t mu;            /* guards everything below */
	uv_cond_t cond;
	struct store_job *in_head, *in_tail;
	struct store_job *out_head, *out_tail;
	struct store_checkpoint *published;  /* newest, not yet seen by the loop */
	struct store_alert *alerts_head, *alerts_tail;  /* committed, not yet handed over */
	int stopping;
	int started;
	unsigned batch_max;
	uint64_t batch_wait_ms;
	uv_async_t async;
	struct store_stats stats;

	/* Loop thread only. */
	unsigned pending;
	struct store_checkpoint *latest;
	void (*alert_sink)(void *ctx, struct store_alert *list);
	void *alert_sink_ctx;
	uint64_t alert_horizon;
};

static const char schema_v1[] =
	"CREATE TABLE certs ("
	"  fp BLOB PRIMARY KEY,"             /* SHA-256 of the DER certificate */
	"  der BLOB NOT NULL,"
	"  organisation TEXT NOT NULL,"
	"  first_seen_ms INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE entries ("
	"  idx INTEGER PRIMARY KEY,"         /* 0-based position in the log */
	"  type INTEGER NOT NULL,"           /* 1: signed record */
	"  received_at_ms INTEGER NOT NULL,"
	"  cert_fp BLOB NOT NULL REFERENCES certs(fp),"
	"  record_id BLOB NOT NULL UNIQUE,"
	"  case_id TEXT NOT NULL,"
	"  author TEXT NOT NULL,"
	"  record BLOB NOT NULL,"
	"  signature BLOB NOT NULL,"
	"  leaf_hash BLOB NOT NULL"
	");"
	"CREATE INDEX entries_case ON entries(case_id, idx);";

/* Version 2: the Merkle tree's complete subtrees and the checkpoints. */
static const char schema_v2[] =
	"CREATE TABLE tree ("
	"  level INTEGER NOT NULL,"          /* >= 1; level 0 is entries.leaf_hash */
	"  idx INTEGER NOT NULL,"            /* covers leaves [idx << level, (idx + 1) << level) */
	"  hash BLOB NOT NULL,"
	"  PRIMARY KEY (level, idx)"
	") WITHOUT ROWID;"
	"CREATE TABLE checkpoints ("
	"  id INTEGER PRIMARY KEY,"
	"  size INTEGER NOT NULL,"
	"  root BLOB NOT NULL,"
	"  signed_at_ms INTEGER NOT NULL,"
	"  note TEXT NOT NULL"               /* the signed note, exactly as served */
	");";

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct store_checkpoint *store_checkpoint_ref(struct store_checkpoint *c)
{
	if (c)
		atomic_fetch_add(&c->refs, 1);
	return c;
}

void store_checkpoint_release(struct store_checkpoint *c)
{
	if (c && atomic_fetch_sub(&c->refs, 1) == 1)
		free(c);
}

void store_job_clear(struct store_job *job)
{
	if (job->result) {
		cases_result_free(job->result);
		free(job->result);
		job->result = NULL;
	}
	store_checkpoint_release(job->checkpoint);
	job->checkpoint = NULL;
	free(job->stored_cert_der);
	job->stored_cert_der = NULL;
	job->stored_cert_der_len = 0;
}

static struct store_checkpoint *checkpoint_new(uint64_t size, const uint8_t root[SHA256_LEN],
					       int64_t signed_at, const char *note, size_t len)
{
	struct store_checkpoint *c = malloc(sizeof(*c) + len + 1);
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

static int exec(sqlite3 *db, const char *sql, char *err, size_t err_len)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, err_len, "%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int query_int(sqlite3 *db, const char *sql, int64_t *out, char *err, size_t err_len)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		snprintf(err, err_len, "%s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -1;
	}
	*out = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int prepare(struct store *s, sqlite3_stmt **st, const char *sql, char *err, size_t err_len)
{
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		snprintf(err, err_len, "%s: cannot prepare \"%s\": %s", s->path, sql,
			 sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

static struct node_slot *cache_slot(struct store *s, unsigned level, uint64_t index)
{
	uint64_t h = (index * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)level << 58);
	return &s->cache[(h >> (64 - CACHE_BITS)) & (CACHE_SIZE - 1)];
}

static void cache_put(struct store *s, unsigned level, uint64_t index, const uint8_t hash[SHA256_LEN])
{
	if (!s->cache)
		return;
	struct node_slot *e = cache_slot(s, level, index);
	e->level = (uint8_t)level;
	e->index = index;
	e->valid = 1;
	memcpy(e->hash, hash, SHA256_LEN);
}

/* merkle_get_fn over the writer's connection, through the cache. */
static int get_node(void *ctx, unsigned level, uint64_t index, uint8_t out[SHA256_LEN])
{
	struct store *s = ctx;
	if (s->cache) {
		struct node_slot *e = cache_slot(s, level, index);
		if (e->valid && e->level == level && e->index == index) {
			memcpy(out, e->hash, SHA256_LEN);
			return 0;
		}
	}
	sqlite3_stmt *st = level == 0 ? s->st_leaf : s->st_node;
	if (level == 0) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)index);
	} else {
		sqlite3_bind_int(st, 1, (int)level);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)index);
	}
	int rc = sqlite3_step(st);
	int ok = rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == SHA256_LEN;
	if (ok)
		memcpy(out, sqlite3_column_blob(st, 0), SHA256_LEN);
	sqlite3_reset(st);
	if (!ok)
		return VG_EIO;
	cache_put(s, level, index, out);
	return 0;
}

/* Frontier emit: level 0 is already in entries; higher levels are kept. */
static int put_node(void *ctx, unsigned level, uint64_t index, const uint8_t hash[SHA256_LEN])
{
	struct store *s = ctx;
	cache_put(s, level, index, hash);
	if (level == 0)
		return 0;
	sqlite3_stmt *st = s->st_node_put;
	sqlite3_bind_int(st, 1, (int)level);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)index);
	sqlite3_bind_blob(st, 3, hash, SHA256_LEN, SQLITE_STATIC);
	return step_done(st);
}

/* Migration 1 -> 2, inside the caller's transaction: the tree of the
 * existing entries is built once, here, and never again. */
static int migrate_v2(struct store *s, char *err, size_t err_len)
{
	if (exec(s->db, schema_v2, err, err_len) != 0)
		return -1;
	sqlite3_stmt *rd = NULL, *wr = NULL;
	if (sqlite3_prepare_v2(s->db, "SELECT leaf_hash FROM entries ORDER BY idx", -1, &rd, NULL) ||
	    sqlite3_prepare_v2(s->db, "INSERT INTO tree(level, idx, hash) VALUES(?,?,?)", -1, &wr,
			       NULL)) {
		snprintf(err, err_len, "%s", sqlite3_errmsg(s->db));
		goto fail;
	}
	s->st_node_put = wr;
	struct merkle_frontier f;
	merkle_frontier_init(&f);
	int rc;
	while ((rc = sqlite3_step(rd)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(rd, 0) != SHA256_LEN) {
			snprintf(err, err_len, "entry %llu has a malformed leaf hash",
				 (unsigned long long)f.size);
			goto fail;
		}
		if (merkle_frontier_append(&f, sqlite3_column_blob(rd, 0), put_node, s) != 0) {
			snprintf(err, err_len, "%s", sqlite3_errmsg(s->db));
			goto fail;
		}
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, err_len, "%s", sqlite3_errmsg(s->db));
		goto fail;
	}
	s->st_node_put = NULL;
	sqlite3_finalize(rd);
	sqlite3_finalize(wr);
	log_notice("migrated %s to schema 2: tree of %llu entries built", s->path,
		   (unsigned long long)f.size);
	return 0;
fail:
	s->st_node_put = NULL;
	sqlite3_finalize(rd);
	sqlite3_finalize(wr);
	return -1;
}

/* Creates the schema in an empty database, migrates an older one, or
 * checks a current one. */
static int schema_check(struct store *s, char *err, size_t err_len)
{
	char why[256];
	int64_t app_id, version, tables;
	if (query_int(s->db, "PRAGMA application_id", &app_id, why, sizeof(why)) != 0 ||
	    query_int(s->db, "PRAGMA user_version", &version, why, sizeof(why)) != 0 ||
	    query_int(s->db, "SELECT count(*) FROM sqlite_schema", &tables, why, sizeof(why)) != 0) {
		snprintf(err, err_len, "%s: cannot read database: %s", s->path, why);
		return -1;
	}
	int fresh = app_id == 0 && version == 0 && tables == 0;
	if (!fresh && app_id != STORE_APPLICATION_ID) {
		snprintf(err, err_len,
			 "%s is not a vigil database (application_id 0x%llx, %lld tables); "
			 "refusing to use or replace it", s->path,
			 (unsigned long long)app_id, (long long)tables);
		return -1;
	}
	if (!fresh && (version < 1 || version > STORE_SCHEMA_VERSION)) {
		snprintf(err, err_len, "%s has schema version %lld; this vigild knows 1 to %d",
			 s->path, (long long)version, STORE_SCHEMA_VERSION);
		return -1;
	}
	if (version == STORE_SCHEMA_VERSION)
		return 0;
	/* Each step takes the schema one version up; all run in one
	 * transaction, so a failed migration leaves the file as it was. */
	char sql[128];
	snprintf(sql, sizeof(sql), "PRAGMA application_id=%d; PRAGMA user_version=%d;",
		 STORE_APPLICATION_ID, STORE_SCHEMA_VERSION);
	if (exec(s->db, "BEGIN IMMEDIATE", why, sizeof(why)) != 0)
		goto fail;
	if (fresh && exec(s->db, schema_v1, why, sizeof(why)) != 0)
		goto fail_tx;
	if (version < 2 &&
	    (fresh ? exec(s->db, schema_v2, why, sizeof(why)) : migrate_v2(s, why, sizeof(why))))
		goto fail_tx;
	/* Version 3: cases.  Records stored before it belong to no case. */
	if (version < 3 && exec(s->db, CASES_SCHEMA, why, sizeof(why)) != 0)
		goto fail_tx;
	/* Version 4: the watchdog, alerts and their delivery. */
	if (version < 4 && exec(s->db, CASES_SCHEMA_4, why, sizeof(why)) != 0)
		goto fail_tx;
	/* Version 5: owners, re-armed and handed-over alerts, stalled handovers. */
	if (version < 5 && exec(s->db, CASES_SCHEMA_5, why, sizeof(why)) != 0)
		goto fail_tx;
	if (exec(s->db, sql, why, sizeof(why)) != 0 || exec(s->db, "COMMIT", why, sizeof(why)) != 0)
		goto fail_tx;
	if (fresh)
		log_notice("created database %s (schema version %d)", s->path, STORE_SCHEMA_VERSION);
	return 0;
fail_tx:
	exec(s->db, "ROLLBACK", err, err_len);
fail:
	snprintf(err, err_len, "%s: cannot %s schema: %s", s->path, fresh ? "create" : "migrate",
		 why);
	return -1;
}

/* Reads the newest checkpoint row into s->last (NULL when none). */
static int load_last_checkpoint(struct store *s, char *err, size_t err_len)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "SELECT size, root, signed_at_ms, note FROM checkpoints "
			       "ORDER BY id DESC LIMIT 1", -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, err_len, "%s: %s", s->path, sqlite3_errmsg(s->db));
		return -1;
	}
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 1) != SHA256_LEN) {
			sqlite3_finalize(st);
			snprintf(err, err_len, "%s: the latest checkpoint is malformed", s->path);
			return -1;
		}
		s->last = checkpoint_new((uint64_t)sqlite3_column_int64(st, 0),
					 sqlite3_column_blob(st, 1), sqlite3_column_int64(st, 2),
					 (const char *)sqlite3_column_text(st, 3),
					 (size_t)sqlite3_column_bytes(st, 3));
		rc = s->last ? SQLITE_DONE : SQLITE_NOMEM;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, err_len, "%s: %s", s->path, sqlite3_errstr(rc));
		return -1;
	}
	return 0;
}

int store_open(const char *path, struct store **out, char *err, size_t err_len)
{
	char why[256];
	struct store *s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		snprintf(err, err_len, "out of memory");
		return VG_ENOMEM;
	}
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, err_len, "%s is in use by another process (%s)", path,
			 strerror(errno));
		goto fail;
	}
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		snprintf(err, err_len, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	int64_t ignored;
	/* journal_mode reads the header first: a file that is not SQLite fails
	 * here with "file is not a database" and is left untouched. */
	if (query_int(s->db, "PRAGMA journal_mode=WAL", &ignored, why, sizeof(why)) != 0 ||
	    exec(s->db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
			"PRAGMA busy_timeout=5000;", why, sizeof(why)) != 0) {
		snprintf(err, err_len, "%s: %s; refusing to use or replace it", path, why);
		goto fail;
	}
	if (schema_check(s, err, err_len) != 0)
		goto fail;
	int64_t max_idx;
	if (query_int(s->db, "SELECT max(idx) FROM entries", &max_idx, why, sizeof(why)) != 0) {
		snprintf(err, err_len, "%s: %s", path, why);
		goto fail;
	}
	s->next_index = (uint64_t)(max_idx + 1);
	if (prepare(s, &s->st_begin, "BEGIN IMMEDIATE", err, err_len) ||
	    prepare(s, &s->st_commit, "COMMIT", err, err_len) ||
	    prepare(s, &s->st_rollback, "ROLLBACK", err, err_len) ||
	    prepare(s, &s->st_find,
		    "SELECT e.idx, e.received_at_ms, e.leaf_hash, e.record, e.signature, e.cert_fp,"
		    " c.der FROM entries e JOIN certs c ON c.fp = e.cert_fp WHERE e.record_id=?",
		    err, err_len) ||
	    prepare(s, &s->st_cert,
		    "INSERT OR IGNORE INTO certs(fp, der, organisation, first_seen_ms) "
		    "VALUES(?,?,?,?)", err, err_len) ||
	    prepare(s, &s->st_insert,
		    "INSERT INTO entries(idx, type, received_at_ms, cert_fp, record_id, case_id,"
		    " author, record, signature, leaf_hash) VALUES(?,1,?,?,?,?,?,?,?,?)",
		    err, err_len) ||
	    prepare(s, &s->st_leaf, "SELECT leaf_hash FROM entries WHERE idx=?", err, err_len) ||
	    prepare(s, &s->st_node, "SELECT hash FROM tree WHERE level=? AND idx=?", err, err_len) ||
	    prepare(s, &s->st_node_put, "INSERT INTO tree(level, idx, hash) VALUES(?,?,?)",
		    err, err_len) ||
	    prepare(s, &s->st_ckpt_put,
		    "INSERT INTO checkpoints(size, root, signed_at_ms, note) VALUES(?,?,?,?)",
		    err, err_len))
		goto fail;
	if (cases_open(s->db, &s->cases, err, err_len) != 0)
		goto fail;
	/* O(log n): the complete subtrees that make up the log. */
	if (merkle_frontier_load(&s->frontier, get_node, s, s->next_index) != 0) {
		snprintf(err, err_len, "%s: the Merkle tree is incomplete (a node of size %llu "
			 "is missing); run vigild --verify-db", path,
			 (unsigned long long)s->next_index);
		goto fail;
	}
	if (load_last_checkpoint(s, err, err_len) != 0)
		goto fail;
	if (s->last) {
		uint8_t root[SHA256_LEN];
		merkle_frontier_root(&s->frontier, root);
		/* Every batch commits its checkpoint with its entries, so the
		 * latest checkpoint covers exactly the log; anything else was
		 * changed outside the relay and must not be signed over. */
		if (s->last->size != s->next_index || memcmp(root, s->last->root, SHA256_LEN)) {
			snprintf(err, err_len, "%s: the log (%llu entries) does not match its latest "
				 "checkpoint (size %llu); refusing to serve a log that changed; "
				 "run vigild --verify-db", path, (unsigned long long)s->next_index,
				 (unsigned long long)s->last->size);
			goto fail;
		}
	}
	s->stats.entries = s->next_index;
	*out = s;
	return VG_OK;
fail:
	store_close(&s);
	return VG_EIO;
}

void store_close(struct store **sp)
{
	struct store *s = *sp;
	if (!s)
		return;
	sqlite3_stmt *sts[] = { s->st_begin, s->st_commit, s->st_rollback, s->st_find,
				s->st_cert, s->st_insert, s->st_leaf, s->st_node,
				s->st_node_put, s->st_ckpt_put };
	for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++)
		sqlite3_finalize(sts[i]);
	cases_close(&s->cases);
	if (s->db && sqlite3_close(s->db) != SQLITE_OK)
		log_err("closing %s: %s", s->path, sqlite3_errmsg(s->db));
	/* Closed only after SQLite has let go: closing any descriptor of the
	 * file drops the process's POSIX locks on it. */
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	store_checkpoint_release(s->last);
	store_checkpoint_release(s->published);
	store_checkpoint_release(s->latest);
	store_alerts_free(s->alerts_head);
	free(s->cache);
	free(s->path);
	free(s);
	*sp = NULL;
}

const char *store_path(const struct store *s)
{
	return s->path;
}

/* Signs a checkpoint of the current frontier and inserts it (inside the
 * caller's transaction).  *out gets one reference. */
static int make_checkpoint(struct store *s, struct store_checkpoint **out)
{
	struct checkpoint c;
	memset(&c, 0, sizeof(c));
	snprintf(c.origin, sizeof(c.origin), "%s", s->log.origin);
	c.size = s->frontier.size;
	merkle_frontier_root(&s->frontier, c.root);
	int64_t t = now_ms();
	if (s->last && t <= s->last->signed_at_ms)
		t = s->last->signed_at_ms + 1; /* strictly increasing: notes never repeat */
	char text[NOTE_NAME_MAX + 160];
	int n = checkpoint_format(&c, text, sizeof(text));
	if (n < 0)
		return SQLITE_TOOBIG;
	n += snprintf(text + n, sizeof(text) - (size_t)n, "signed-at %lld\n", (long long)t);
	char *note;
	size_t note_len;
	if (note_sign(s->log.key, s->log.origin, text, (size_t)n, &note, &note_len) != VG_OK)
		return SQLITE_ERROR;
	sqlite3_stmt *st = s->st_ckpt_put;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)c.size);
	sqlite3_bind_blob(st, 2, c.root, SHA256_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, t);
	sqlite3_bind_text(st, 4, note, (int)note_len, SQLITE_STATIC);
	int rc = step_done(st);
	if (rc == 0) {
		*out = checkpoint_new(c.size, c.root, t, note, note_len);
		if (!*out)
			rc = SQLITE_NOMEM;
	}
	free(note);
	return rc;
}

/* The writer's newest checkpoint becomes the loop's "latest" at the next
 * async callback. */
static void publish(struct store *s, struct store_checkpoint *c)
{
	store_checkpoint_release(s->last);
	s->last = store_checkpoint_ref(c);
	uv_mutex_lock(&s->mu);
	struct store_checkpoint *old = s->published;
	s->published = store_checkpoint_ref(c);
	s->stats.checkpoints++;
	uv_mutex_unlock(&s->mu);
	store_checkpoint_release(old);
}

/* Appends an entry at the next index, inside the open transaction: its
 * author certificate (once), the row, and the tree nodes it completes. */
static int append_entry(struct store *s, const uint8_t *record_id, const char *case_id,
			const char *author, const uint8_t *cert_sha256, const uint8_t *cert_der,
			size_t cert_der_len, int64_t received_at_ms, const uint8_t *record,
			size_t record_len, const uint8_t *sig, size_t sig_len,
			const uint8_t leaf_hash[SHA256_LEN], uint64_t *index)
{
	int rc;
	sqlite3_stmt *st;
	/* A pipelining client sends one certificate many times over: skip the
	 * insert when it is the one stored last. */
	if (!s->cert_known_valid || memcmp(s->cert_known, cert_sha256, SHA256_LEN) != 0) {
		st = s->st_cert;
		sqlite3_bind_blob(st, 1, cert_sha256, SHA256_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, cert_der, (int)cert_der_len, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, author, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, received_at_ms);
		if ((rc = step_done(st)) != 0)
			return rc;
		memcpy(s->cert_known, cert_sha256, SHA256_LEN);
		s->cert_known_valid = 1;
	}
	st = s->st_insert;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)s->next_index);
	sqlite3_bind_int64(st, 2, received_at_ms);
	sqlite3_bind_blob(st, 3, cert_sha256, SHA256_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, record_id, RECORD_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, case_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, author, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, record, (int)record_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, sig, (int)sig_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 9, leaf_hash, SHA256_LEN, SQLITE_STATIC);
	if ((rc = step_done(st)) != 0)
		return rc;
	if ((rc = merkle_frontier_append(&s->frontier, leaf_hash, put_node, s)) != 0)
		return rc;
	*index = s->next_index++;
	return 0;
}

/* The case rules answer VG_* codes; their storage failure (VG_EIO) aborts
 * the batch like any SQLite error, and says what failed. */
static int cases_abort(struct store *s)
{
	log_err("%s: case tables: %s", s->path, cases_errmsg(s->cases));
	return SQLITE_IOERR;
}

/* Appends one job inside the open transaction.  Returns an SQLite error
 * code that must abort the whole batch, or 0. */
static int write_job(struct store *s, struct store_job *j)
{
	sqlite3_stmt *st = s->st_find;
	sqlite3_bind_blob(st, 1, j->record_id, RECORD_ID_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const void *rec = sqlite3_column_blob(st, 3);
		size_t rec_len = (size_t)sqlite3_column_bytes(st, 3);
		j->index = (uint64_t)sqlite3_column_int64(st, 0);
		if (rec_len == j->record_len && memcmp(rec, j->record, rec_len) == 0) {
			j->status = VG_OK;
			j->duplicate = 1;
			j->stored_received_at_ms = sqlite3_column_int64(st, 1);
			if (sqlite3_column_bytes(st, 2) == SHA256_LEN)
				memcpy(j->stored_leaf_hash, sqlite3_column_blob(st, 2), SHA256_LEN);
			size_t sl = (size_t)sqlite3_column_bytes(st, 4);
			j->stored_sig_len = sl <= RECORD_SIG_MAX ? sl : 0;
			if (j->stored_sig_len)
				memcpy(j->stored_sig, sqlite3_column_blob(st, 4), j->stored_sig_len);
			if (sqlite3_column_bytes(st, 5) == SHA256_LEN)
				memcpy(j->stored_cert_sha256, sqlite3_column_blob(st, 5), SHA256_LEN);
			size_t dl = (size_t)sqlite3_column_bytes(st, 6);
			free(j->stored_cert_der);
			j->stored_cert_der = dl ? malloc(dl) : NULL;
			j->stored_cert_der_len = j->stored_cert_der ? dl : 0;
			if (j->stored_cert_der)
				memcpy(j->stored_cert_der, sqlite3_column_blob(st, 6), dl);
		} else {
			j->status = VG_ECONFLICT;
			snprintf(j->why, sizeof(j->why),
				 "record_id was already used for a different record (entry %llu)",
				 (unsigned long long)j->index);
		}
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return rc;

	/* The case rules, against the state the batch has built so far; a
	 * refusal stores nothing. */
	rc = cases_apply(s->cases, j->parsed, j->author, j->role, s->next_index, j->received_at_ms,
			 j->why, sizeof(j->why));
	if (rc == VG_EIO)
		return cases_abort(s);
	if (rc != VG_OK) {
		j->status = rc;
		return 0;
	}

	rc = append_entry(s, j->record_id, j->case_id, j->author, j->cert_sha256, j->cert_der,
			  j->cert_der_len, j->received_at_ms, j->record, j->record_len, j->sig,
			  j->sig_len, j->leaf_hash, &j->index);
	if (rc != 0)
		return rc;
	j->status = VG_OK;
	j->duplicate = 0;
	j->stored_received_at_ms = j->received_at_ms;
	memcpy(j->stored_leaf_hash, j->leaf_hash, SHA256_LEN);
	return 0;
}

static void fail_batch(struct store *s, struct store_job *batch, int rc)
{
	char why[160];
	snprintf(why, sizeof(why), "storage failure: %s", sqlite3_errstr(rc));
	log_err("%s: batch rolled back: %s", s->path, sqlite3_errstr(rc));
	for (struct store_job *j = batch; j; j = j->next) {
		j->status = VG_EIO;
		j->duplicate = 0;
		snprintf(j->why, sizeof(j->why), "%s", why);
		if (j->result) {
			cases_result_free(j->result);
			free(j->result);
			j->result = NULL;
		}
	}
}

/* A case query inside the batch: it sees the state the batch has built and
 * its read is recorded in the same transaction. */
static int query_job(struct store *s, struct store_job *j)
{
	j->result = calloc(1, sizeof(*j->result));
	if (!j->result)
		return SQLITE_NOMEM;
	int rc = cases_query(s->cases, (enum case_query)j->query, j->query_case_id, j->author,
			     j->role, now_ms(), j->result, j->why, sizeof(j->why));
	if (rc == VG_EIO)
		return cases_abort(s);
	j->status = rc;
	return 0;
}

/* The proofs a case log answer carries, to the checkpoint cp. */
static int case_log_proofs(struct store *s, struct store_job *j, const struct store_checkpoint *cp)
{
	struct case_result *r = j->result;
	for (size_t i = 0; i < r->n_entries; i++) {
		struct case_entry *e = &r->entries[i];
		e->proof = malloc(MERKLE_MAX_PROOF * sizeof(merkle_hash));
		if (!e->proof || merkle_inclusion_proof(get_node, s, e->index, cp->size, e->proof,
							&e->proof_len) != 0)
			return -1;
	}
	return 0;
}

/* One transaction for the whole batch: its entries, tree nodes and the
 * checkpoint that covers them, so one fsync makes all of it durable. */
static void write_batch(struct store *s, struct store_job *batch)
{
	uint64_t first = s->next_index;
	struct merkle_frontier saved = s->frontier;
	struct store_checkpoint *cp = NULL;
	int rc = step_done(s->st_begin);
	for (struct store_job *j = batch; rc == 0 && j; j = j->next) {
		switch (j->kind) {
		case STORE_CASE_QUERY:
			rc = query_job(s, j);
			break;
		case STORE_HELLO:
			rc = cases_note_org(s->cases, j->author, j->role, j->country, j->received_at_ms)
				     ? cases_abort(s) : 0;
			j->status = VG_OK;
			break;
		case STORE_DELIVERY_ACK:
			rc = cases_delivery_ack(s->cases, j->author, j->index) ? cases_abort(s) : 0;
			j->status = VG_OK;
			break;
		default:
			rc = write_job(s, j);
			break;
		}
	}
	/* A batch of reads and refusals leaves the log as it was: the latest
	 * checkpoint still covers it. */
	if (rc == 0 && s->next_index != first)
		rc = make_checkpoint(s, &cp);
	else if (rc == 0)
		cp = store_checkpoint_ref(s->last);
	if (rc == 0)
		rc = step_done(s->st_commit);
	if (rc != 0) {
		if (!sqlite3_get_autocommit(s->db))
			step_done(s->st_rollback);
		s->next_index = first;
		s->frontier = saved;
		s->cert_known_valid = 0; /* its insert may have been rolled back */
		/* Nodes of the rolled-back leaves may be cached under indices
		 * the next batch will reuse. */
		memset(s->cache, 0, CACHE_SIZE * sizeof(*s->cache));
		store_checkpoint_release(cp);
		fail_batch(s, batch, rc);
		return;
	}
	if (s->next_index != first)
		publish(s, cp);
	for (struct store_job *j = batch; j; j = j->next) {
		if (j->status != VG_OK || j->kind == STORE_HELLO || j->kind == STORE_DELIVERY_ACK)
			continue;
		if (j->kind == STORE_CASE_QUERY) {
			if (j->query == CASE_Q_LOG && case_log_proofs(s, j, cp) != 0) {
				j->status = VG_EIO;
				snprintf(j->why, sizeof(j->why), "cannot read the case's proofs");
				continue;
			}
			j->checkpoint = store_checkpoint_ref(cp);
			continue;
		}
		if (merkle_inclusion_proof(get_node, s, j->index, cp->size, j->proof,
					   &j->proof_len) != 0) {
			/* The entry is durable; a retry gets its receipt. */
			j->status = VG_EIO;
			snprintf(j->why, sizeof(j->why), "cannot read the proof of entry %llu",
				 (unsigned long long)j->index);
			continue;
		}
		j->checkpoint = store_checkpoint_ref(cp);
	}
	store_checkpoint_release(cp);
}

void store_alerts_free(struct store_alert *list)
{
	while (list) {
		struct store_alert *next = list->next;
		free(list->record);
		free(list->sig);
		store_checkpoint_release(list->checkpoint);
		free(list);
		list = next;
	}
}

/* The alert entry for ev: a Record authored by the relay's organisation,
 * signed with the relay's certificate key, appended like any other. */
static int append_alert(struct store *s, const struct watch_event *ev, const uint8_t new_id[RECORD_ID_LEN],
			int64_t now, struct store_alert **out)
{
	struct store_alert *a = calloc(1, sizeof(*a));
	if (!a)
		return SQLITE_NOMEM;
	uint8_t record_id[RECORD_ID_LEN];
	/* The first entry of an alert carries its id; later stages their own. */
	if (ev->first)
		memcpy(record_id, new_id, RECORD_ID_LEN);
	else if (RAND_bytes(record_id, RECORD_ID_LEN) != 1)
		goto fail;
	char *recipients[WATCH_MAX_RECIPIENTS];
	for (size_t i = 0; i < ev->n_recipients; i++)
		recipients[i] = (char *)ev->recipients[i];
	Vigil__V1__Alert al = VIGIL__V1__ALERT__INIT;
	al.kind = (Vigil__V1__AlertKind)ev->kind;
	al.stage = (uint32_t)ev->stage;
	al.alert_id.data = (uint8_t *)ev->alert_id;
	al.alert_id.len = RECORD_ID_LEN;
	al.deadline_ms = ev->deadline_ms;
	al.last_success_ms = ev->last_success_ms;
	al.failed_attempts = ev->failed_attempts;
	al.recipients = recipients;
	al.n_recipients = ev->n_recipients;
	al.police = (Vigil__V1__PoliceAdvice)ev->police;
	al.resolution = (char *)ev->resolution;
	al.cause = (char *)ev->cause;
	Vigil__V1__Record r = VIGIL__V1__RECORD__INIT;
	r.record_id.data = record_id;
	r.record_id.len = RECORD_ID_LEN;
	r.case_id = (char *)ev->case_id;
	r.author = (char *)s->log.relay_org;
	r.client_time_ms = now;
	r.body_case = VIGIL__V1__RECORD__BODY_ALERT;
	r.alert = &al;
	a->record_len = vigil__v1__record__get_packed_size(&r);
	a->record = malloc(a->record_len);
	if (!a->record)
		goto fail;
	vigil__v1__record__pack(&r, a->record);
	if (record_sign(s->log.relay_key, a->record, a->record_len, &a->sig, &a->sig_len) != VG_OK)
		goto fail;
	uint8_t *leaf;
	size_t leaf_len;
	if (entry_leaf_encode(now, s->relay_cert_sha256, a->record, a->record_len, a->sig,
			      a->sig_len, &leaf, &leaf_len) != VG_OK)
		goto fail;
	merkle_leaf_hash(leaf, leaf_len, a->leaf_hash);
	free(leaf);
	a->ev = *ev;
	a->received_at_ms = now;
	memcpy(a->cert_sha256, s->relay_cert_sha256, SHA256_LEN);
	int rc = append_entry(s, record_id, ev->case_id, s->log.relay_org, s->relay_cert_sha256,
			      s->log.relay_cert_der, s->log.relay_cert_der_len, now, a->record,
			      a->record_len, a->sig, a->sig_len, a->leaf_hash, &a->position);
	if (rc == 0 && cases_note_alert(s->cases, a->position, ev) != VG_OK)
		rc = cases_abort(s);
	if (rc != 0) {
		store_alerts_free(a);
		return rc;
	}
	*out = a;
	return 0;
fail:
	store_alerts_free(a);
	return SQLITE_ERROR;
}

#define WATCH_BATCH 64  /* alerts written in one transaction at most */

/* The watchdog's turn: every case whose time has come, as one batch of
 * alert entries with one checkpoint, then handed to the loop. */
static void write_alerts(struct store *s)
{
	int64_t now = now_ms();
	uint64_t first = s->next_index;
	struct merkle_frontier saved = s->frontier;
	struct store_alert *head = NULL, **tail = &head;
	struct store_checkpoint *cp = NULL;
	int rc = step_done(s->st_begin);
	for (int n = 0; rc == 0 && n < WATCH_BATCH; n++) {
		uint8_t new_id[RECORD_ID_LEN];
		struct watch_event ev;
		if (RAND_bytes(new_id, sizeof(new_id)) != 1) {
			rc = SQLITE_ERROR;
			break;
		}
		int got = cases_watchdog(s->cases, now, new_id, &ev);
		if (got == 0)
			break;
		if (got != 1) {
			rc = cases_abort(s);
			break;
		}
		rc = append_alert(s, &ev, new_id, now, tail);
		if (rc == 0)
			tail = &(*tail)->next;
	}
	if (rc == 0 && s->next_index != first)
		rc = make_checkpoint(s, &cp);
	if (rc == 0)
		rc = step_done(s->st_commit);
	if (rc != 0) {
		if (!sqlite3_get_autocommit(s->db))
			step_done(s->st_rollback);
		s->next_index = first;
		s->frontier = saved;
		s->cert_known_valid = 0;
		memset(s->cache, 0, CACHE_SIZE * sizeof(*s->cache));
		store_alerts_free(head);
		log_err("%s: the watchdog's batch rolled back: %s; trying again in a second", s->path,
			sqlite3_errstr(rc));
		s->watch_due = now + 1000;
		return;
	}
	if (!cp) {
		if (cases_next_due(s->cases, &s->watch_due) != 0)
			s->watch_due = now + 1000;
		return;
	}
	publish(s, cp);
	for (struct store_alert *a = head; a; a = a->next) {
		if (merkle_inclusion_proof(get_node, s, a->position, cp->size, a->proof,
					   &a->proof_len) != 0)
			a->proof_len = 0; /* delivered without; a replay reads it again */
		a->checkpoint = store_checkpoint_ref(cp);
		log_notice("alert %s stage %d (%s) for case %s, entry %llu",
			   record_alert_kind_name(a->ev.kind), a->ev.stage,
			   a->ev.stage ? "raised" : a->ev.resolution, a->ev.case_id,
			   (unsigned long long)a->position);
	}
	store_checkpoint_release(cp);
	if (cases_next_due(s->cases, &s->watch_due) != 0)
		s->watch_due = now + 1000;
	uv_mutex_lock(&s->mu);
	if (head) {
		if (s->alerts_tail)
			s->alerts_tail->next = head;
		else
			s->alerts_head = head;
		struct store_alert *last = head;
		while (last->next)
			last = last->next;
		s->alerts_tail = last;
	}
	uv_mutex_unlock(&s->mu);
	uv_async_send(&s->async);
}

/* Signs and commits a checkpoint of the current size in a transaction of
 * its own; *out gets one reference.  0 or an SQLite error. */
static int sign_checkpoint_now(struct store *s, struct store_checkpoint **out)
{
	struct store_checkpoint *cp = NULL;
	int rc = step_done(s->st_begin);
	if (rc == 0)
		rc = make_checkpoint(s, &cp);
	if (rc == 0)
		rc = step_done(s->st_commit);
	if (rc != 0) {
		if (!sqlite3_get_autocommit(s->db))
			step_done(s->st_rollback);
		store_checkpoint_release(cp);
		return rc;
	}
	*out = cp;
	return 0;
}

/* A checkpoint with no new entries, so that clients can tell a quiet log
 * from a relay that stopped signing. */
static void write_heartbeat(struct store *s)
{
	struct store_checkpoint *cp;
	int rc = sign_checkpoint_now(s, &cp);
	if (rc != 0) {
		log_err("%s: cannot sign a checkpoint: %s", s->path, sqlite3_errstr(rc));
		return;
	}
	publish(s, cp);
	store_checkpoint_release(cp);
	uv_async_send(&s->async);
}

#define WAL_SYNC_FRAMES 1000  /* pages in the WAL before a checkpoint is asked for */

/* SQLite's commit hook for WAL databases, on the writer thread. */
static int on_wal_commit(void *ctx, sqlite3 *db, const char *name, int frames)
{
	struct store *s = ctx;
	if (frames >= WAL_SYNC_FRAMES)
		walsync_poke(s->walsync);
	return SQLITE_OK;
}

static void writer_main(void *arg)
{
	struct store *s = arg;
	for (;;) {
		uv_mutex_lock(&s->mu);
		while (!s->in_head && !s->stopping) {
			int64_t due = s->last ? s->last->signed_at_ms + (int64_t)s->log.interval_ms : 0;
			if (s->watch_due > 0 && s->watch_due < due)
				due = s->watch_due;
			int64_t wait = due - now_ms();
			if (wait <= 0)
				break;
			uv_cond_timedwait(&s->cond, &s->mu, (uint64_t)wait * 1000000ull);
		}
		/* The watchdog first: a deadline is never kept waiting by a busy
		 * queue. */
		if (!s->stopping && s->watch_due > 0 && s->watch_due <= now_ms()) {
			uv_mutex_unlock(&s->mu);
			write_alerts(s);
			continue;
		}
		if (!s->in_head) {
			int stop = s->stopping;
			uv_mutex_unlock(&s->mu);
			if (stop)
				break;
			write_heartbeat(s);
			continue;
		}
		/* Give a short-lived trickle the chance to join this batch. */
		if (s->batch_wait_ms && !s->stopping)
			uv_cond_timedwait(&s->cond, &s->mu, s->batch_wait_ms * 1000000ull);
		struct store_job *batch = s->in_head, *last = batch;
		unsigned n = 1;
		while (last->next && n < s->batch_max) {
			last = last->next;
			n++;
		}
		s->in_head = last->next;
		if (!s->in_head)
			s->in_tail = NULL;
		last->next = NULL;
		uv_mutex_unlock(&s->mu);

		write_batch(s, batch);
		/* Records move deadlines (a new case, a contact, a handover). */
		if (cases_next_due(s->cases, &s->watch_due) != 0)
			s->watch_due = now_ms() + 1000;

		uv_mutex_lock(&s->mu);
		if (s->out_tail)
			s->out_tail->next = batch;
		else
			s->out_head = batch;
		s->out_tail = last;
		s->stats.batches++;
		s->stats.jobs += n;
		s->stats.entries = s->next_index;
		uv_mutex_unlock(&s->mu);
		uv_async_send(&s->async);
	}
}

/* Loop thread: takes the newest checkpoint and hands finished jobs back. */
static void deliver(struct store *s)
{
	uv_mutex_lock(&s->mu);
	struct store_job *j = s->out_head;
	s->out_head = s->out_tail = NULL;
	struct store_checkpoint *cp = s->published;
	s->published = NULL;
	struct store_alert *alerts = s->alerts_head;
	s->alerts_head = s->alerts_tail = NULL;
	uv_mutex_unlock(&s->mu);
	if (cp) {
		store_checkpoint_release(s->latest);
		s->latest = cp;
	}
	if (alerts) {
		for (struct store_alert *a = alerts; a; a = a->next)
			s->alert_horizon = a->position + 1;
		if (s->alert_sink)
			s->alert_sink(s->alert_sink_ctx, alerts);
		else
			store_alerts_free(alerts);
	}
	while (j) {
		struct store_job *next = j->next;
		j->next = NULL;
		s->pending--;
		j->done(j);
		j = next;
	}
}

static void on_async(uv_async_t *a)
{
	deliver(a->data);
}

int store_start(struct store *s, uv_loop_t *loop, unsigned batch_max, uint64_t batch_wait_ms,
		const struct store_log *log, char *err, size_t err_len)
{
	s->batch_max = batch_max ? batch_max : 1;
	s->batch_wait_ms = batch_wait_ms;
	s->log = *log;
	s->cache = calloc(CACHE_SIZE, sizeof(*s->cache));
	if (!s->cache) {
		snprintf(err, err_len, "out of memory");
		return UV_ENOMEM;
	}
	unsigned int hl;
	if (!log->relay_key || !log->relay_cert_der || !log->relay_org ||
	    EVP_Digest(log->relay_cert_der, log->relay_cert_der_len, s->relay_cert_sha256, &hl,
		       EVP_sha256(), NULL) != 1) {
		snprintf(err, err_len, "the relay's certificate and key are needed to sign alerts");
		return UV_EINVAL;
	}
	cases_configure(s->cases, &log->watch, &log->members);
	/* Deadlines that passed while the relay was down fire at once. */
	if (cases_next_due(s->cases, &s->watch_due) != 0) {
		snprintf(err, err_len, "%s: cannot read the watchdog's deadlines", s->path);
		return UV_EIO;
	}
	struct note_verifier v;
	if (note_verifier_from_key(log->key, log->origin, &v) != VG_OK) {
		snprintf(err, err_len, "the checkpoint key is not an Ed25519 key");
		return UV_EINVAL;
	}
	/* A checkpoint that covers the whole log before anything is served. */
	if (!s->last || s->last->size != s->frontier.size) {
		struct store_checkpoint *cp;
		int rc = sign_checkpoint_now(s, &cp);
		if (rc != 0) {
			snprintf(err, err_len, "%s: cannot sign a checkpoint: %s", s->path,
				 sqlite3_errstr(rc));
			return UV_EIO;
		}
		store_checkpoint_release(s->last);
		s->last = cp;
		s->stats.checkpoints++;
	}
	s->latest = store_checkpoint_ref(s->last);
	int rc = walsync_start(s->path, &s->walsync);
	if (rc) {
		snprintf(err, err_len, "cannot start WAL checkpoints: %s", uv_strerror(rc));
		return rc;
	}
	/* Replaces SQLite's automatic checkpoint inside the committing call. */
	sqlite3_wal_hook(s->db, on_wal_commit, s);
	if ((rc = uv_mutex_init(&s->mu)) != 0)
		goto fail_walsync;
	if ((rc = uv_cond_init(&s->cond)) != 0)
		goto fail_mu;
	if ((rc = uv_async_init(loop, &s->async, on_async)) != 0)
		goto fail_cond;
	s->async.data = s;
	if ((rc = uv_thread_create(&s->thread, writer_main, s)) != 0)
		goto fail_async;
	s->started = 1;
	return 0;
fail_async:
	uv_close((uv_handle_t *)&s->async, NULL);
fail_cond:
	uv_cond_destroy(&s->cond);
fail_mu:
	uv_mutex_destroy(&s->mu);
fail_walsync:
	sqlite3_wal_hook(s->db, NULL, NULL);
	walsync_stop(&s->walsync);
	snprintf(err, err_len, "%s", uv_strerror(rc));
	return rc;
}

struct store_checkpoint *store_latest(struct store *s)
{
	return s->latest;
}

void store_set_alert_sink(struct store *s, void (*sink)(void *ctx, struct store_alert *list),
			  void *ctx)
{
	s->alert_sink = sink;
	s->alert_sink_ctx = ctx;
}

uint64_t store_alert_horizon(const struct store *s)
{
	return s->alert_horizon;
}

void store_submit(struct store *s, struct store_job *job)
{
	job->next = NULL;
	s->pending++;
	uv_mutex_lock(&s->mu);
	if (s->in_tail)
		s->in_tail->next = job;
	else
		s->in_head = job;
	s->in_tail = job;
	uv_cond_signal(&s->cond);
	uv_mutex_unlock(&s->mu);
}

unsigned store_pending(const struct store *s)
{
	return s->pending;
}

void store_stop(struct store *s)
{
	if (!s->started)
		return;
	uv_mutex_lock(&s->mu);
	s->stopping = 1;
	uv_cond_signal(&s->cond);
	uv_mutex_unlock(&s->mu);
	uv_thread_join(&s->thread);
	walsync_stop(&s->walsync);
	deliver(s);
	uv_close((uv_handle_t *)&s->async, NULL);
	uv_cond_destroy(&s->cond);
	uv_mutex_destroy(&s->mu);
	s->started = 0;
}

void store_get_stats(struct store *s, struct store_stats *st)
{
	if (!s->started) {
		*st = s->stats;
		return;
	}
	uv_mutex_lock(&s->mu);
	*st = s->stats;
	uv_mutex_unlock(&s->mu);
}
