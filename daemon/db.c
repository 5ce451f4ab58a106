#include "daemon/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "daemon/db_pg.h"

/* One of lite and pg is set: the engine's own connection and statement.
 * Each call below goes to the one that is. */
struct db {
	enum db_engine engine;
	sqlite3 *lite;
	struct dbpg *pg;
};

struct db_stmt {
	struct db *db;
	sqlite3_stmt *lite;
	struct dbpg_stmt *pg;
};

int db_from_sqlite(sqlite3 *handle, struct db **out)
{
	struct db *db = calloc(1, sizeof(*db));
	if (!db)
		return DB_NOMEM;
	db->engine = DB_SQLITE;
	db->lite = handle;
	*out = db;
	return DB_OK;
}

int db_open_sqlite(const char *path, int readonly, struct db **out, char *err, size_t err_len)
{
	*out = NULL;
	sqlite3 *lite = NULL;
	int flags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX;
	int rc = sqlite3_open_v2(path, &lite, flags, NULL);
	if (rc == SQLITE_OK)
		rc = db_from_sqlite(lite, out);
	if (rc != SQLITE_OK) {
		snprintf(err, err_len, "%s: %s", path, lite ? sqlite3_errmsg(lite) : sqlite3_errstr(rc));
		sqlite3_close(lite);
		return rc;
	}
	sqlite3_extended_result_codes(lite, 1);
	return DB_OK;
}

int db_open_pg(const char *dsn, struct db **out, char *err, size_t err_len)
{
	*out = NULL;
	struct db *db = calloc(1, sizeof(*db));
	if (!db) {
		snprintf(err, err_len, "out of memory");
		return DB_NOMEM;
	}
	int rc = dbpg_connect(dsn, &db->pg, err, err_len);
	if (rc != DB_OK) {
		free(db);
		return rc;
	}
	db->engine = DB_POSTGRESQL;
	*out = db;
	return DB_OK;
}

int db_open(const struct db_target *t, int readonly, struct db **out, char *err, size_t err_len)
{
	if (t->engine == DB_POSTGRESQL)
		return db_open_pg(t->where, out, err, err_len);
	return db_open_sqlite(t->where, readonly, out, err, err_len);
}

void db_target_name(const struct db_target *t, char *out, size_t out_len)
{
	if (t->engine == DB_SQLITE) {
		snprintf(out, out_len, "%s", t->where);
		return;
	}
	PQconninfoOption *opts = PQconninfoParse(t->where, NULL);
	const char *host = NULL, *port = NULL, *dbname = NULL, *options = NULL;
	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (!o->val)
			continue;
		if (strcmp(o->keyword, "host") == 0 || (!host && strcmp(o->keyword, "hostaddr") == 0))
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			dbname = o->val;
		else if (strcmp(o->keyword, "options") == 0)
			options = o->val;
	}
	/* The schema the log lives in, when options sets search_path. */
	const char *sp = options ? strstr(options, "search_path=") : NULL;
	int sp_len = sp ? (int)strcspn(sp + 12, " ,") : 0;
	snprintf(out, out_len, "PostgreSQL %s%s%s/%s%s%.*s", host ? host : "(default host)",
		 port ? ":" : "", port ? port : "", dbname ? dbname : "(default database)",
		 sp_len ? " schema " : "", sp_len, sp ? sp + 12 : "");
	PQconninfoFree(opts);
}

int db_close(struct db **dbp)
{
	struct db *db = *dbp;
	if (!db)
		return DB_OK;
	int rc = DB_OK;
	if (db->pg)
		dbpg_close(db->pg);
	else
		rc = sqlite3_close(db->lite);
	free(db);
	*dbp = NULL;
	return rc;
}

enum db_engine db_engine(const struct db *db)
{
	return db->engine;
}

sqlite3 *db_sqlite(struct db *db)
{
	return db->lite;
}

int db_prepare(struct db *db, const char *sql, struct db_stmt **out)
{
	*out = NULL;
	struct db_stmt *st = calloc(1, sizeof(*st));
	if (!st)
		return DB_NOMEM;
	st->db = db;
	int rc = db->pg ? dbpg_prepare(db->pg, sql, &st->pg)
			: sqlite3_prepare_v3(db->lite, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->lite,
					     NULL);
	if (rc != SQLITE_OK) {
		free(st);
		return rc;
	}
	*out = st;
	return DB_OK;
}

int db_step(struct db_stmt *st)
{
	return st->pg ? dbpg_step(st->pg) : sqlite3_step(st->lite);
}

int db_reset(struct db_stmt *st)
{
	return st->pg ? dbpg_reset(st->pg) : sqlite3_reset(st->lite);
}

int db_clear_bindings(struct db_stmt *st)
{
	return st->pg ? dbpg_clear_bindings(st->pg) : sqlite3_clear_bindings(st->lite);
}

void db_finalize(struct db_stmt *st)
{
	if (!st)
		return;
	if (st->pg)
		dbpg_finalize(st->pg);
	else
		sqlite3_finalize(st->lite);
	free(st);
}

int db_bind_int64(struct db_stmt *st, int i, int64_t v)
{
	return st->pg ? dbpg_bind_int64(st->pg, i, v) : sqlite3_bind_int64(st->lite, i, v);
}

int db_bind_null(struct db_stmt *st, int i)
{
	return st->pg ? dbpg_bind_null(st->pg, i) : sqlite3_bind_null(st->lite, i);
}

int db_bind_text(struct db_stmt *st, int i, const char *s, int len)
{
	return st->pg ? dbpg_bind_text(st->pg, i, s, len, 0) : sqlite3_bind_text(st->lite, i, s, len, SQLITE_STATIC);
}

int db_bind_text_copy(struct db_stmt *st, int i, const char *s, int len)
{
	return st->pg ? dbpg_bind_text(st->pg, i, s, len, 1) : sqlite3_bind_text(st->lite, i, s, len, SQLITE_TRANSIENT);
}

int db_bind_blob(struct db_stmt *st, int i, const void *p, size_t len)
{
	return st->pg ? dbpg_bind_blob(st->pg, i, p, len, 0) : sqlite3_bind_blob64(st->lite, i, p, len, SQLITE_STATIC);
}

int db_bind_blob_copy(struct db_stmt *st, int i, const void *p, size_t len)
{
	return st->pg ? dbpg_bind_blob(st->pg, i, p, len, 1) : sqlite3_bind_blob64(st->lite, i, p, len, SQLITE_TRANSIENT);
}

int db_column_count(struct db_stmt *st)
{
	return st->pg ? dbpg_column_count(st->pg) : sqlite3_column_count(st->lite);
}

int db_column_type(struct db_stmt *st, int i)
{
	if (st->pg)
		return dbpg_column_type(st->pg, i);
	int t = sqlite3_column_type(st->lite, i);
	return t == SQLITE_FLOAT ? DB_INTEGER : t;
}

int64_t db_column_int64(struct db_stmt *st, int i)
{
	return st->pg ? dbpg_column_int64(st->pg, i) : sqlite3_column_int64(st->lite, i);
}

int db_column_int(struct db_stmt *st, int i)
{
	return st->pg ? (int)dbpg_column_int64(st->pg, i) : sqlite3_column_int(st->lite, i);
}

const void *db_column_blob(struct db_stmt *st, int i)
{
	return st->pg ? dbpg_column_blob(st->pg, i) : sqlite3_column_blob(st->lite, i);
}

const char *db_column_text(struct db_stmt *st, int i)
{
	return st->pg ? dbpg_column_text(st->pg, i) : (const char *)sqlite3_column_text(st->lite, i);
}

int db_column_bytes(struct db_stmt *st, int i)
{
	return st->pg ? dbpg_column_bytes(st->pg, i) : sqlite3_column_bytes(st->lite, i);
}

int db_exec_schema(struct db *db, const char *sql)
{
	if (!db->pg)
		return db_exec(db, sql);
	char *pg = dbpg_schema(sql);
	if (!pg)
		return DB_NOMEM;
	int rc = dbpg_exec(db->pg, pg);
	free(pg);
	return rc;
}

int db_exec(struct db *db, const char *sql)
{
	return db->pg ? dbpg_exec(db->pg, sql) : sqlite3_exec(db->lite, sql, NULL, NULL, NULL);
}

const char *db_errmsg(struct db *db)
{
	return db->pg ? dbpg_errmsg(db->pg) : sqlite3_errmsg(db->lite);
}

int db_errcode(struct db *db)
{
	return db->pg ? dbpg_errcode(db->pg) : sqlite3_extended_errcode(db->lite);
}

unsigned db_epoch(struct db *db)
{
	return db->pg ? dbpg_epoch(db->pg) : 0;
}

const char *db_errstr(int code)
{
	if (code == DB_FENCED)
		return "another relay wrote to this log";
	if (code == DB_LOST)
		return "the connection to the database was lost";
	if (code == DB_STALE)
		return "the log changed while the connection to the database was lost";
	return sqlite3_errstr(code);
}

int db_in_transaction(struct db *db)
{
	return db->pg ? dbpg_in_transaction(db->pg) : !sqlite3_get_autocommit(db->lite);
}
