#include "daemon/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/cases.h"
#include "daemon/corrections.h"
#include "daemon/log.h"
#include "daemon/logtree.h"
#include "proto/merkle.h"
#include "proto/record.h"
#include "proto/status.h"

struct store {
	struct db *db;
	int lock_fd;              /* flock()ed: one relay per database */
	char *path;
	uint64_t size_at_open;    /* max(idx) + 1 */
	uint64_t head;            /* log_head.size as this relay last committed it */
	uint64_t pending_head;    /* with the entries of the open transaction */
	unsigned lock_epoch;      /* db_epoch() of the session that holds the lock */

	/* Statements prepared once; the writer's once it runs. */
	struct db_stmt *st_begin;
	struct db_stmt *st_commit;
	struct db_stmt *st_rollback;
	struct db_stmt *st_find;
	struct db_stmt *st_cert;
	struct db_stmt *st_insert;
	struct db_stmt *st_sealed;
	struct db_stmt *st_erase_find;
	struct db_stmt *st_erase_sealed;
	struct db_stmt *st_erase_reseal;
	struct db_stmt *st_erase_delivery;
	struct db_stmt *st_erase_record;
	struct db_stmt *st_erase_mark;
	struct db_stmt *st_head;

	uint8_t cert_known[SHA256_LEN];  /* the certificate stored last, committed */
	int cert_known_valid;
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

/* Version 6: sealed text (proto/sealed.h), beside the entries and not in
 * their leaves: the envelope as submitted.  Erasing it (content erasure)
 * leaves every leaf, proof and checkpoint as it was. */
static const char schema_v6[] =
	"CREATE TABLE sealed ("
	"  idx INTEGER PRIMARY KEY,"         /* the entry whose record commits to it */
	"  cms BLOB NOT NULL"                /* DER CMS AuthEnvelopedData */
	");"
	/* What was erased of an entry: 1 its sealed text, 2 its record and
	 * signature as well (entries keeps idx, record_id and leaf_hash). */
	"CREATE TABLE erased ("
	"  idx INTEGER PRIMARY KEY,"
	"  what INTEGER NOT NULL,"
	"  at_ms INTEGER NOT NULL,"
	"  by_idx INTEGER NOT NULL"          /* the Erasure entry that says so */
	");"
	"ALTER TABLE cases ADD COLUMN closed_at_ms INTEGER NOT NULL DEFAULT 0;"
	/* How far the retention rules have erased a closed case: 1 its sealed
	 * texts, 2 its records too. */
	"ALTER TABLE cases ADD COLUMN retained INTEGER NOT NULL DEFAULT 0;"
	/* Each member's encryption certificate as last logged (MemberKey). */
	"CREATE TABLE member_keys ("
	"  org TEXT PRIMARY KEY,"
	"  sha256 BLOB NOT NULL,"
	"  idx INTEGER NOT NULL"
	") WITHOUT ROWID;"
	/* A party the owner let read the narrative (Grant). */
	"ALTER TABLE case_parties ADD COLUMN granted INTEGER NOT NULL DEFAULT 0;";

/* Version 7: sealed texts re-sealed for a pending handover offer (reseal.h),
 * held until it is answered or withdrawn.  cms is NULL while the offering
 * organisation has not sent that one yet. */
static const char schema_v7[] =
	"CREATE TABLE reseals ("
	"  case_id TEXT NOT NULL,"
	"  offer_idx INTEGER NOT NULL,"      /* the HandoverOffer entry */
	"  idx INTEGER NOT NULL,"            /* the entry whose sealed text it is */
	"  cms BLOB,"
	"  PRIMARY KEY (case_id, offer_idx, idx)"
	") WITHOUT ROWID;"
	"CREATE INDEX reseals_idx ON reseals(idx);";

/* Version 9: the log's size as the last committed transaction left it.
 * Every write transaction moves it only from the size its relay last
 * committed (store_commit), so that two relays on one database can never
 * both append: the second one's transaction fails and it steps down. */
static const char schema_v9[] =
	"CREATE TABLE log_head (size INTEGER NOT NULL);"
	"INSERT INTO log_head SELECT coalesce(max(idx) + 1, 0) FROM entries;";

static int exec(struct db *db, const char *sql, char *err, size_t err_len)
{
	if (db_exec(db, sql) != DB_OK) {
		snprintf(err, err_len, "%s", db_errmsg(db));
		return -1;
	}
	return 0;
}

/* Schema statements written for SQLite, as the engine needs them. */
static int schema(struct db *db, const char *sql, char *err, size_t err_len)
{
	if (db_exec_schema(db, sql) != DB_OK) {
		snprintf(err, err_len, "%s", db_errmsg(db));
		return -1;
	}
	return 0;
}

static int query_int(struct db *db, const char *sql, int64_t *out, char *err, size_t err_len)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, sql, &st);
	if (rc == DB_OK)
		rc = db_step(st);
	if (rc != DB_ROW) {
		snprintf(err, err_len, "%s", db_errmsg(db));
		db_finalize(st);
		return -1;
	}
	*out = db_column_type(st, 0) == DB_NULL ? -1 : db_column_int64(st, 0);
	db_finalize(st);
	return 0;
}

int store_prepare(struct store *s, struct db_stmt **st, const char *sql, char *err, size_t err_len)
{
	if (db_prepare(s->db, sql, st) != DB_OK) {
		snprintf(err, err_len, "%s: cannot prepare \"%s\": %s", s->path, sql,
			 db_errmsg(s->db));
		return VG_EIO;
	}
	return VG_OK;
}

int store_step(struct db_stmt *st)
{
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_DONE ? 0 : rc;
}

/* Migration 1 -> 2, inside the caller's transaction: the tree of the
 * existing entries is built once, here, and never again. */
static int migrate_v2(struct store *s, char *err, size_t err_len)
{
	uint64_t size;
	if (schema(s->db, schema_v2, err, err_len) != 0 ||
	    logtree_build(s->db, &size, err, err_len) != VG_OK)
		return -1;
	log_notice("migrated %s to schema 2: tree of %llu entries built", s->path,
		   (unsigned long long)size);
	return 0;
}

/*
 * Recognises the file before anything writes to it: only reads, so a file
 * that is not SQLite, another application's database or a vigil database
 * of an unknown version is refused untouched.  *fresh is 1 for an empty
 * database, which only init may use.
 */
static int schema_probe(struct store *s, int init, int *fresh, int64_t *version, char *err,
			size_t err_len)
{
	char why[256];
	int64_t app_id = 0, tables;
	*version = 0;
	int failed;
	if (db_engine(s->db) == DB_SQLITE) {
		failed = query_int(s->db, "PRAGMA application_id", &app_id, why, sizeof(why)) != 0 ||
			 query_int(s->db, "PRAGMA user_version", version, why, sizeof(why)) != 0 ||
			 query_int(s->db, "SELECT count(*) FROM sqlite_schema", &tables, why,
				   sizeof(why)) != 0;
	} else {
		/* The schema the connection writes in (its search_path's first):
		 * its tables, and vigil's identity row when it has one. */
		int64_t meta = 0;
		failed = query_int(s->db, "SELECT count(*) FROM information_schema.tables WHERE "
				   "table_schema = current_schema()", &tables, why, sizeof(why)) != 0 ||
			 query_int(s->db, "SELECT count(*) FROM information_schema.tables WHERE "
				   "table_schema = current_schema() AND table_name = 'vigil_meta'",
				   &meta, why, sizeof(why)) != 0;
		if (!failed && meta)
			failed = query_int(s->db, "SELECT application_id FROM vigil_meta", &app_id,
					   why, sizeof(why)) != 0 ||
				 query_int(s->db, "SELECT version FROM vigil_meta", version, why,
					   sizeof(why)) != 0;
	}
	if (failed) {
		snprintf(err, err_len, "%s: %s; refusing to use or replace it", s->path, why);
		return -1;
	}
	*fresh = app_id == 0 && *version == 0 && tables == 0;
	if (*fresh && !init) {
		snprintf(err, err_len, "%s is an empty %s, not a vigil log; a new log is created "
			 "only with --init-db", s->path,
			 db_engine(s->db) == DB_POSTGRESQL ? "schema" : "database");
		return -1;
	}
	if (!*fresh && init) {
		snprintf(err, err_len, "%s already holds a database; --init-db never replaces one",
			 s->path);
		return -1;
	}
	if (!*fresh && app_id != STORE_APPLICATION_ID) {
		snprintf(err, err_len,
			 "%s is not a vigil database (application_id 0x%llx, %lld tables); "
			 "refusing to use or replace it", s->path,
			 (unsigned long long)app_id, (long long)tables);
		return -1;
	}
	if (!*fresh && (*version < 1 || *version > STORE_SCHEMA_VERSION)) {
		snprintf(err, err_len, "%s has schema version %lld; this vigild knows 1 to %d",
			 s->path, (long long)*version, STORE_SCHEMA_VERSION);
		return -1;
	}
	return 0;
}

/* Creates the schema in an empty database, migrates an older one, or
 * accepts a current one (after schema_probe recognised it). */
static int schema_check(struct store *s, int fresh, int64_t version, char *err, size_t err_len)
{
	char why[256];
	if (version == STORE_SCHEMA_VERSION)
		return 0;
	/* Each step takes the schema one version up; all run in one
	 * transaction, so a failed migration leaves the file as it was. */
	char sql[200];
	int pg = db_engine(s->db) == DB_POSTGRESQL;
	if (pg)
		snprintf(sql, sizeof(sql), "%sUPDATE vigil_meta SET application_id = %d, version = %d",
			 fresh ? "CREATE TABLE vigil_meta(application_id BIGINT NOT NULL, version "
				 "BIGINT NOT NULL); INSERT INTO vigil_meta VALUES(0, 0);" : "",
			 STORE_APPLICATION_ID, STORE_SCHEMA_VERSION);
	else
		snprintf(sql, sizeof(sql), "PRAGMA application_id=%d; PRAGMA user_version=%d;",
			 STORE_APPLICATION_ID, STORE_SCHEMA_VERSION);
	if (exec(s->db, pg ? "BEGIN" : "BEGIN IMMEDIATE", why, sizeof(why)) != 0)
		goto fail;
	if (fresh && schema(s->db, schema_v1, why, sizeof(why)) != 0)
		goto fail_tx;
	if (version < 2 &&
	    (fresh ? schema(s->db, schema_v2, why, sizeof(why)) : migrate_v2(s, why, sizeof(why))))
		goto fail_tx;
	/* Version 3: cases.  Records stored before it belong to no case. */
	if (version < 3 && schema(s->db, CASES_SCHEMA, why, sizeof(why)) != 0)
		goto fail_tx;
	/* Version 4: the watchdog, alerts and their delivery. */
	if (version < 4 && schema(s->db, CASES_SCHEMA_4, why, sizeof(why)) != 0)
		goto fail_tx;
	/* Version 5: owners, re-armed and handed-over alerts, stalled handovers. */
	if (version < 5 && schema(s->db, CASES_SCHEMA_5, why, sizeof(why)) != 0)
		goto fail_tx;
	/* Version 6: sealed text.  Older records carry theirs in the clear. */
	if (version < 6 && schema(s->db, schema_v6, why, sizeof(why)) != 0)
		goto fail_tx;
	/* Version 7: sealed texts re-sealed for a pending handover. */
	if (version < 7 && schema(s->db, schema_v7, why, sizeof(why)) != 0)
		goto fail_tx;
	/* Version 8: which original each Correction corrects.  No record
	 * stored before it is a correction. */
	if (version < 8 && schema(s->db, CORRECTIONS_SCHEMA, why, sizeof(why)) != 0)
		goto fail_tx;
	/* Version 9: the log head that fences a second writer. */
	if (version < 9 && schema(s->db, schema_v9, why, sizeof(why)) != 0)
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

/* SQLite: the file must exist unless init, and one relay at a time holds
 * its flock(). */
static int open_sqlite(struct store *s, const char *path, int init, char *err, size_t err_len)
{
	/* A missing or empty file is a new log only when asked: a failed mount
	 * or a wrong path must not start a second history. */
	s->lock_fd = open(path, O_RDWR | O_CLOEXEC | (init ? O_CREAT : 0), 0600);
	if (s->lock_fd < 0 && errno == ENOENT) {
		snprintf(err, err_len, "%s does not exist; a new log is created only with --init-db",
			 path);
		return -1;
	}
	if (s->lock_fd < 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct stat sb;
	if (fstat(s->lock_fd, &sb) != 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (sb.st_size == 0 && !init) {
		snprintf(err, err_len, "%s is empty; a new log is created only with --init-db", path);
		return -1;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, err_len, "%s is in use by another process (%s)", path,
			 strerror(errno));
		return -1;
	}
	return db_open_sqlite(path, 0, &s->db, err, err_len) == DB_OK ? 0 : -1;
}

/* SQLite's settings, once the file is known to be a vigil database (or
 * empty, for init): they write to it. */
static int sqlite_settings(struct store *s, char *err, size_t err_len)
{
	char why[256];
	int64_t ignored;
	if (query_int(s->db, "PRAGMA journal_mode=WAL", &ignored, why, sizeof(why)) != 0 ||
	    exec(s->db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
			"PRAGMA secure_delete=ON;", why, sizeof(why)) != 0) {
		snprintf(err, err_len, "%s: %s; refusing to use or replace it", s->path, why);
		return -1;
	}
	sqlite3_busy_timeout(db_sqlite(s->db), STORE_BUSY_MS);
	return 0;
}

/* PostgreSQL: one relay at a time writes to a schema, the one holding the
 * session's advisory lock on it (released when the session ends, however
 * the relay did). */
static int open_pg(struct store *s, const char *dsn, int standby, char *err, size_t err_len)
{
	char why[256];
	if (db_open_pg(dsn, &s->db, err, err_len) != DB_OK)
		return -1;
	/* The log's schema is the first of search_path that exists; none is
	 * a mistake to name, not an empty log. */
	int64_t has_schema;
	if (query_int(s->db, "SELECT current_schema() IS NOT NULL", &has_schema, why,
		      sizeof(why)) != 0) {
		snprintf(err, err_len, "%s: %s", s->path, why);
		return -1;
	}
	if (!has_schema) {
		snprintf(err, err_len, "%s: no schema of the connection's search_path exists; "
			 "create it (CREATE SCHEMA) or name one in the connection string "
			 "(options='-c search_path=NAME')", s->path);
		return -1;
	}
	int64_t locked;
	if (query_int(s->db, "SELECT pg_try_advisory_lock(hashtext('vigil ' || current_schema()))",
		      &locked, why, sizeof(why)) != 0) {
		snprintf(err, err_len, "%s: %s", s->path, why);
		return -1;
	}
	if (!locked && standby) {
		/* A standby: it serves nothing until the active relay's session
		 * ends (a stop, a crash, a lost connection), then takes over the
		 * same log from what the store holds. */
		log_notice("%s: another relay is active; waiting as a standby", s->path);
		/* A failover of the database ends the waiting session too: wait
		 * on, connected to whichever server is the primary now. */
		while (query_int(s->db, "SELECT 1 FROM (SELECT pg_advisory_lock(hashtext('vigil ' "
					"|| current_schema()))) AS l", &locked, why,
				 sizeof(why)) != 0) {
			if ((db_errcode(s->db) & 0xff) != DB_BUSY) {
				snprintf(err, err_len, "%s: waiting as a standby: %s", s->path, why);
				return -1;
			}
			log_notice("%s: waiting as a standby: %s; connecting again", s->path, why);
			sleep(1);
		}
		log_notice("%s: the active relay is gone; taking over", s->path);
	}
	if (!locked) {
		snprintf(err, err_len, "%s is in use by another relay (its advisory lock is held)",
			 s->path);
		return -1;
	}
	return 0;
}

int store_open(const struct db_target *t, int init, struct store **out, char *err,
	       size_t err_len)
{
	char why[256], name[256];
	db_target_name(t, name, sizeof(name));
	struct store *s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(name))) {
		free(s);
		snprintf(err, err_len, "out of memory");
		return VG_ENOMEM;
	}
	s->lock_fd = -1;
	int pg = t->engine == DB_POSTGRESQL;
	if (pg ? open_pg(s, t->where, t->standby && !init, err, err_len)
	       : open_sqlite(s, t->where, init, err, err_len))
		goto fail;
	int fresh;
	int64_t version;
	if (schema_probe(s, init, &fresh, &version, err, err_len) != 0 ||
	    (!pg && sqlite_settings(s, err, err_len) != 0) ||
	    schema_check(s, fresh, version, err, err_len) != 0)
		goto fail;
	int64_t max_idx;
	if (query_int(s->db, "SELECT max(idx) FROM entries", &max_idx, why, sizeof(why)) != 0) {
		snprintf(err, err_len, "%s: %s", s->path, why);
		goto fail;
	}
	s->size_at_open = (uint64_t)(max_idx + 1);
	int64_t head;
	if (query_int(s->db, "SELECT size FROM log_head", &head, why, sizeof(why)) != 0) {
		snprintf(err, err_len, "%s: %s", s->path, why);
		goto fail;
	}
	if (head != max_idx + 1) {
		snprintf(err, err_len, "%s: the log head says %lld entries but there are %lld; "
			 "refusing to write (vigild --verify-db)", s->path, (long long)head,
			 (long long)(max_idx + 1));
		goto fail;
	}
	s->head = s->pending_head = (uint64_t)head;
	if (store_prepare(s, &s->st_begin, pg ? "BEGIN" : "BEGIN IMMEDIATE", err, err_len) ||
	    store_prepare(s, &s->st_commit, "COMMIT", err, err_len) ||
	    store_prepare(s, &s->st_rollback, "ROLLBACK", err, err_len) ||
	    store_prepare(s, &s->st_find,
			  "SELECT e.idx, e.received_at_ms, e.leaf_hash, e.record, e.signature, e.cert_fp,"
			  " c.der FROM entries e JOIN certs c ON c.fp = e.cert_fp WHERE e.record_id=?",
			  err, err_len) ||
	    store_prepare(s, &s->st_cert,
			  "INSERT INTO certs(fp, der, organisation, first_seen_ms) "
			  "VALUES(?,?,?,?) ON CONFLICT DO NOTHING", err, err_len) ||
	    store_prepare(s, &s->st_insert,
			  "INSERT INTO entries(idx, type, received_at_ms, cert_fp, record_id, case_id,"
			  " author, record, signature, leaf_hash) VALUES(?,1,?,?,?,?,?,?,?,?)",
			  err, err_len) ||
	    store_prepare(s, &s->st_sealed, "INSERT INTO sealed(idx, cms) VALUES(?,?)", err,
			  err_len) ||
	    store_prepare(s, &s->st_erase_find,
			  "SELECT e.idx, e.case_id, s.idx IS NOT NULL, coalesce(x.what, 0), e.record "
			  "FROM entries e LEFT JOIN sealed s ON s.idx = e.idx LEFT JOIN erased x ON "
			  "x.idx = e.idx WHERE e.record_id = ?", err, err_len) ||
	    store_prepare(s, &s->st_erase_sealed, "DELETE FROM sealed WHERE idx = ?", err,
			  err_len) ||
	    store_prepare(s, &s->st_erase_reseal, "DELETE FROM reseals WHERE idx = ?", err,
			  err_len) ||
	    store_prepare(s, &s->st_erase_delivery, "DELETE FROM alerts WHERE position = ?", err,
			  err_len) ||
	    store_prepare(s, &s->st_erase_record,
			  "UPDATE entries SET record = ?2, signature = ?2 WHERE idx = ?1",
			  err, err_len) ||
	    store_prepare(s, &s->st_erase_mark,
			  "INSERT INTO erased(idx, what, at_ms, by_idx) VALUES(?,?,?,?) "
			  "ON CONFLICT(idx) DO UPDATE SET what = excluded.what, "
			  "at_ms = excluded.at_ms, by_idx = excluded.by_idx", err, err_len) ||
	    store_prepare(s, &s->st_head,
			  "UPDATE log_head SET size = ?2 WHERE size = ?1 RETURNING size", err,
			  err_len))
		goto fail;
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
	struct db_stmt *sts[] = { s->st_begin, s->st_commit, s->st_rollback, s->st_find,
				s->st_cert, s->st_insert, s->st_sealed, s->st_erase_find,
				s->st_erase_sealed, s->st_erase_reseal, s->st_erase_delivery,
				s->st_erase_record,
				s->st_erase_mark, s->st_head };
	for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++)
		db_finalize(sts[i]);
	if (s->db && db_close(&s->db) != DB_OK)
		log_err("closing %s: the database was still busy", s->path);
	/* Closed only after SQLite has let go: closing any descriptor of the
	 * file drops the process's POSIX locks on it. */
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->path);
	free(s);
	*sp = NULL;
}

const char *store_path(const struct store *s)
{
	return s->path;
}

struct db *store_db(struct store *s)
{
	return s->db;
}

uint64_t store_size(const struct store *s)
{
	return s->size_at_open;
}

int store_begin(struct store *s)
{
	int rc = store_step(s->st_begin);
	if (rc != 0 || db_epoch(s->db) == s->lock_epoch)
		return rc;
	/* PostgreSQL: the connection was made again (the server restarted or
	 * failed over), and the session that held the lock is gone.  This
	 * relay writes on only if it gets the lock back; the log head decides
	 * whether anything happened meanwhile (store_commit). */
	char why[256];
	int64_t locked = 0, head = -1;
	if (query_int(s->db, "SELECT pg_try_advisory_lock(hashtext('vigil ' || current_schema()))",
		      &locked, why, sizeof(why)) != 0 ||
	    (locked && query_int(s->db, "SELECT size FROM log_head", &head, why, sizeof(why)) != 0))
		rc = db_errcode(s->db) ? db_errcode(s->db) : DB_ERROR;
	else if (!locked)
		rc = DB_FENCED;
	else if ((uint64_t)head != s->head)
		/* The commit whose answer the lost connection took did land:
		 * the tree and the cases in memory miss it. */
		rc = DB_STALE;
	if (rc != 0) {
		store_rollback(s);
		return rc;
	}
	log_notice("%s: connected again (session %u); the relay's lock is held again", s->path,
		   db_epoch(s->db));
	s->lock_epoch = db_epoch(s->db);
	return 0;
}

int store_commit(struct store *s)
{
	/* The head moves only from where this relay left it: if another relay
	 * committed since, nothing of this transaction may land. */
	uint64_t next = s->pending_head > s->head ? s->pending_head : s->head;
	db_bind_int64(s->st_head, 1, (int64_t)s->head);
	db_bind_int64(s->st_head, 2, (int64_t)next);
	int rc = db_step(s->st_head);
	db_reset(s->st_head);
	if (rc == DB_DONE)
		return DB_FENCED;
	if (rc != DB_ROW)
		return rc;
	if ((rc = store_step(s->st_commit)) == 0)
		s->head = next;
	return rc;
}

void store_rollback(struct store *s)
{
	if (db_in_transaction(s->db))
		store_step(s->st_rollback);
	s->pending_head = s->head;
	s->cert_known_valid = 0; /* its insert may have been rolled back */
}

int store_append(struct store *s, const struct store_entry *e)
{
	int rc;
	struct db_stmt *st;
	/* A pipelining client sends one certificate many times over: skip the
	 * insert when it is the one stored last. */
	if (!s->cert_known_valid || memcmp(s->cert_known, e->cert_sha256, SHA256_LEN) != 0) {
		st = s->st_cert;
		db_bind_blob(st, 1, e->cert_sha256, SHA256_LEN);
		db_bind_blob(st, 2, e->cert_der, (int)e->cert_der_len);
		db_bind_text(st, 3, e->author, -1);
		db_bind_int64(st, 4, e->received_at_ms);
		if ((rc = store_step(st)) != 0)
			return rc;
		memcpy(s->cert_known, e->cert_sha256, SHA256_LEN);
		s->cert_known_valid = 1;
	}
	st = s->st_insert;
	db_bind_int64(st, 1, (int64_t)e->index);
	db_bind_int64(st, 2, e->received_at_ms);
	db_bind_blob(st, 3, e->cert_sha256, SHA256_LEN);
	db_bind_blob(st, 4, e->record_id, RECORD_ID_LEN);
	db_bind_text(st, 5, e->case_id, -1);
	db_bind_text(st, 6, e->author, -1);
	db_bind_blob(st, 7, e->record, (int)e->record_len);
	db_bind_blob(st, 8, e->sig, (int)e->sig_len);
	db_bind_blob(st, 9, e->leaf_hash, SHA256_LEN);
	if ((rc = store_step(st)) != 0)
		return rc;
	if (e->index + 1 > s->pending_head)
		s->pending_head = e->index + 1;
	if (!e->sealed_len)
		return 0;
	st = s->st_sealed;
	db_bind_int64(st, 1, (int64_t)e->index);
	db_bind_blob(st, 2, e->sealed, (int)e->sealed_len);
	return store_step(st);
}

int store_find(struct store *s, const uint8_t *record_id, struct store_entry *e, int *found)
{
	struct db_stmt *st = s->st_find;
	*found = 0;
	db_bind_blob(st, 1, record_id, RECORD_ID_LEN);
	int rc = db_step(st);
	if (rc != DB_ROW) {
		db_reset(st);
		return rc == DB_DONE ? 0 : rc;
	}
	memset(e, 0, sizeof(*e));
	e->index = (uint64_t)db_column_int64(st, 0);
	e->received_at_ms = db_column_int64(st, 1);
	if (db_column_bytes(st, 2) == SHA256_LEN)
		e->leaf_hash = db_column_blob(st, 2);
	e->record = db_column_blob(st, 3);
	e->record_len = (size_t)db_column_bytes(st, 3);
	e->sig = db_column_blob(st, 4);
	e->sig_len = (size_t)db_column_bytes(st, 4);
	if (db_column_bytes(st, 5) == SHA256_LEN)
		e->cert_sha256 = db_column_blob(st, 5);
	e->cert_der = db_column_blob(st, 6);
	e->cert_der_len = (size_t)db_column_bytes(st, 6);
	*found = 1;
	return 0;
}

void store_find_end(struct store *s)
{
	db_reset(s->st_find);
}

int store_erase_lookup(struct store *s, const uint8_t *record_id, struct store_erasable *out,
		       int *found)
{
	struct db_stmt *st = s->st_erase_find;
	*found = 0;
	memset(out, 0, sizeof(*out));
	db_bind_blob(st, 1, record_id, RECORD_ID_LEN);
	int rc = db_step(st);
	if (rc == DB_ROW) {
		out->index = (uint64_t)db_column_int64(st, 0);
		const char *c = db_column_text(st, 1);
		snprintf(out->case_id, sizeof(out->case_id), "%s", c ? (const char *)c : "");
		out->has_sealed = db_column_int(st, 2);
		out->erased = db_column_int(st, 3);
		out->keeps = record_is_erasure(db_column_blob(st, 4),
					       (size_t)db_column_bytes(st, 4));
		*found = 1;
		rc = DB_DONE;
	}
	db_reset(st);
	return rc == DB_DONE ? 0 : rc;
}

int store_erase(struct store *s, uint64_t index, int whole_record, uint64_t by_index,
		int64_t at_ms)
{
	int rc;
	db_bind_int64(s->st_erase_sealed, 1, (int64_t)index);
	if ((rc = store_step(s->st_erase_sealed)) != 0)
		return rc;
	db_bind_int64(s->st_erase_reseal, 1, (int64_t)index);
	if ((rc = store_step(s->st_erase_reseal)) != 0)
		return rc;
	if (whole_record) {
		static const uint8_t none[1];
		db_bind_int64(s->st_erase_record, 1, (int64_t)index);
		db_bind_blob(s->st_erase_record, 2, none, 0);  /* empty, not NULL */
		if ((rc = store_step(s->st_erase_record)) != 0)
			return rc;
		/* An erased alert is delivered no more: there is no record left
		 * to verify. */
		db_bind_int64(s->st_erase_delivery, 1, (int64_t)index);
		if ((rc = store_step(s->st_erase_delivery)) != 0)
			return rc;
	}
	struct db_stmt *st = s->st_erase_mark;
	db_bind_int64(st, 1, (int64_t)index);
	db_bind_int64(st, 2, whole_record ? STORE_ERASED_RECORD : STORE_ERASED_CONTENT);
	db_bind_int64(st, 3, at_ms);
	db_bind_int64(st, 4, (int64_t)by_index);
	return store_step(st);
}
