#include "daemon/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "daemon/log.h"
#include "proto/status.h"

struct store {
	sqlite3 *db;
	int lock_fd;              /* flock()ed: one relay per database */
	char *path;

	/* Statements prepared once, used by the writer thread only. */
	sqlite3_stmt *st_begin;
	sqlite3_stmt *st_commit;
	sqlite3_stmt *st_rollback;
	sqlite3_stmt *st_find;
	sqlite3_stmt *st_cert;
	sqlite3_stmt *st_insert;

	uint64_t next_index;      /* writer thread only once started */

	uv_thread_t thread;
	uv_mutex_t mu;            /* guards everything below */
	uv_cond_t cond;
	struct store_job *in_head, *in_tail;
	struct store_job *out_head, *out_tail;
	unsigned pending;
	int stopping;
	int started;
	unsigned batch_max;
	uint64_t batch_wait_ms;
	uv_async_t async;
	struct store_stats stats;
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

/* Creates the schema in an empty database, or checks an existing one. */
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
	if (app_id == 0 && version == 0 && tables == 0) {
		char sql[128];
		snprintf(sql, sizeof(sql), "PRAGMA application_id=%d; PRAGMA user_version=%d;",
			 STORE_APPLICATION_ID, STORE_SCHEMA_VERSION);
		if (exec(s->db, "BEGIN IMMEDIATE", why, sizeof(why)) != 0 ||
		    exec(s->db, schema_v1, why, sizeof(why)) != 0 ||
		    exec(s->db, sql, why, sizeof(why)) != 0 ||
		    exec(s->db, "COMMIT", why, sizeof(why)) != 0) {
			snprintf(err, err_len, "%s: cannot create schema: %s", s->path, why);
			return -1;
		}
		log_notice("created database %s (schema version %d)", s->path, STORE_SCHEMA_VERSION);
		return 0;
	}
	if (app_id != STORE_APPLICATION_ID) {
		snprintf(err, err_len,
			 "%s is not a vigil database (application_id 0x%llx, %lld tables); "
			 "refusing to use or replace it", s->path,
			 (unsigned long long)app_id, (long long)tables);
		return -1;
	}
	if (version != STORE_SCHEMA_VERSION) {
		snprintf(err, err_len, "%s has schema version %lld; this vigild knows version %d",
			 s->path, (long long)version, STORE_SCHEMA_VERSION);
		return -1;
	}
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
		    "SELECT idx, received_at_ms, leaf_hash, record, signature, cert_fp "
		    "FROM entries WHERE record_id=?",
		    err, err_len) ||
	    prepare(s, &s->st_cert,
		    "INSERT OR IGNORE INTO certs(fp, der, organisation, first_seen_ms) "
		    "VALUES(?,?,?,?)", err, err_len) ||
	    prepare(s, &s->st_insert,
		    "INSERT INTO entries(idx, type, received_at_ms, cert_fp, record_id, case_id,"
		    " author, record, signature, leaf_hash) VALUES(?,1,?,?,?,?,?,?,?,?)",
		    err, err_len))
		goto fail;
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
	sqlite3_finalize(s->st_begin);
	sqlite3_finalize(s->st_commit);
	sqlite3_finalize(s->st_rollback);
	sqlite3_finalize(s->st_find);
	sqlite3_finalize(s->st_cert);
	sqlite3_finalize(s->st_insert);
	if (s->db && sqlite3_close(s->db) != SQLITE_OK)
		log_err("closing %s: %s", s->path, sqlite3_errmsg(s->db));
	/* Closed only after SQLite has let go: closing any descriptor of the
	 * file drops the process's POSIX locks on it. */
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->path);
	free(s);
	*sp = NULL;
}

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
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

	st = s->st_cert;
	sqlite3_bind_blob(st, 1, j->cert_sha256, SHA256_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, j->cert_der, (int)j->cert_der_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, j->author, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, j->received_at_ms);
	if ((rc = step_done(st)) != 0)
		return rc;

	st = s->st_insert;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)s->next_index);
	sqlite3_bind_int64(st, 2, j->received_at_ms);
	sqlite3_bind_blob(st, 3, j->cert_sha256, SHA256_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, j->record_id, RECORD_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, j->case_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, j->author, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, j->record, (int)j->record_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, j->sig, (int)j->sig_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 9, j->leaf_hash, SHA256_LEN, SQLITE_STATIC);
	if ((rc = step_done(st)) != 0)
		return rc;
	j->status = VG_OK;
	j->duplicate = 0;
	j->index = s->next_index++;
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
	}
}

/* One transaction for the whole batch, so one fsync covers every job. */
static void write_batch(struct store *s, struct store_job *batch)
{
	uint64_t first = s->next_index;
	int rc = step_done(s->st_begin);
	for (struct store_job *j = batch; rc == 0 && j; j = j->next)
		rc = write_job(s, j);
	if (rc == 0)
		rc = step_done(s->st_commit);
	if (rc != 0) {
		if (!sqlite3_get_autocommit(s->db))
			step_done(s->st_rollback);
		s->next_index = first;
		fail_batch(s, batch, rc);
	}
}

static void writer_main(void *arg)
{
	struct store *s = arg;
	for (;;) {
		uv_mutex_lock(&s->mu);
		while (!s->in_head && !s->stopping)
			uv_cond_wait(&s->cond, &s->mu);
		if (!s->in_head) {
			uv_mutex_unlock(&s->mu);
			break;
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

/* Loop thread: hands finished jobs back to their submitters. */
static void deliver(struct store *s)
{
	uv_mutex_lock(&s->mu);
	struct store_job *j = s->out_head;
	s->out_head = s->out_tail = NULL;
	uv_mutex_unlock(&s->mu);
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

int store_start(struct store *s, uv_loop_t *loop, unsigned batch_max, uint64_t batch_wait_ms)
{
	s->batch_max = batch_max ? batch_max : 1;
	s->batch_wait_ms = batch_wait_ms;
	int rc = uv_mutex_init(&s->mu);
	if (rc)
		return rc;
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
	return rc;
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
