/*
 * db.h - the store's SQL, on SQLite or on PostgreSQL.
 *
 * Every module that keeps something in the database (the entries and the
 * Merkle tree, the case tables, corrections, re-sealed notes, deliveries,
 * the readers, --verify-db) speaks to a `struct db` with prepared
 * statements, in the shape of SQLite's own API: prepare once, bind, step
 * row by row, reset.  Which engine runs behind it is the connection's
 * business; the modules do not know.
 *
 * The SQL they write is the dialect both engines share:
 *   - parameters are `?` (numbered in order) or `?N`; the PostgreSQL side
 *     rewrites them to `$N` outside quoted text;
 *   - `INSERT ... ON CONFLICT (...) DO NOTHING / DO UPDATE SET
 *     c = excluded.c` (never `INSERT OR REPLACE/IGNORE`), `RETURNING`,
 *     `coalesce`, `LIMIT`; no `rowid`, no `ifnull`, no two-argument
 *     `max()`;
 *   - integers are 64-bit and booleans are integers (`x <> 0`); a
 *     parameter whose type the statement does not tell (`? IS NULL` alone)
 *     is cast (`CAST(? AS BIGINT)`), or PostgreSQL learns it from the first
 *     step's bindings, and a NULL there tells it nothing;
 *   - the schema (types, PRAGMAs, identity) is the one place that differs,
 *     and store.c keeps one per engine.
 *
 * Codes: every call returns DB_OK, DB_ROW or DB_DONE, or an error code
 * whose low byte is one of the DB_* errors below.  They have SQLite's
 * values (on SQLite they are its extended result codes unchanged), so
 * db_errstr() names any of them and the writer's storage health
 * (health.h) classifies them the same way on both engines.  The message of
 * the last failed call on a connection is db_errmsg().
 *
 * Memory: db_bind_text() and db_bind_blob() do not copy: the bytes must
 * stay valid until the statement is reset or the parameter bound again
 * (as SQLITE_STATIC).  The _copy variants copy.  A NULL pointer binds
 * NULL, whatever the length.  Columns returned by
 * db_column_blob() and db_column_text() are the statement's until the next
 * db_step(), db_reset() or db_finalize() on it.
 *
 * Threads: a connection and its statements are used by one thread at a
 * time, as the writer, each reader and walsync each own theirs.
 */
#ifndef VIGIL_DAEMON_DB_H
#define VIGIL_DAEMON_DB_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

enum {
	DB_OK = 0,
	DB_ERROR = 1,        /* anything else: SQL error, lost connection */
	DB_INTERNAL = 2,
	DB_PERM = 3,
	DB_ABORT = 4,
	DB_BUSY = 5,         /* a lock another connection holds */
	DB_LOCKED = 6,
	DB_NOMEM = 7,
	DB_READONLY = 8,
	DB_INTERRUPT = 9,
	DB_IOERR = 10,       /* the disk: the storage health counts these */
	DB_CORRUPT = 11,
	DB_NOTFOUND = 12,
	DB_FULL = 13,        /* no space left */
	DB_CANTOPEN = 14,
	DB_PROTOCOL = 15,
	DB_EMPTY = 16,
	DB_SCHEMA = 17,
	DB_TOOBIG = 18,
	DB_CONSTRAINT = 19,  /* a unique key or a check refused the row */
	DB_MISMATCH = 20,
	DB_MISUSE = 21,
	DB_NOTADB = 26,
	DB_ROW = 100,
	DB_DONE = 101,
	/* vigil's own: another relay moved the log head (store_commit);
	 * an extended code of DB_ABORT, as SQLite's own extended codes are. */
	DB_FENCED = DB_ABORT | (0x76 << 8),
	/* PostgreSQL: the connection to the server was lost (the server
	 * stopped, or failed over).  A busy code: the next call reconnects. */
	DB_LOST = DB_BUSY | (0x77 << 8),
	/* vigil's own: after a reconnection the log head is not where this
	 * relay left it (a commit whose answer was lost did land): what the
	 * relay holds in memory is stale (store_begin). */
	DB_STALE = DB_ABORT | (0x78 << 8),
};

/* A column's type in the current row. */
enum { DB_INTEGER = 1, DB_TEXT = 3, DB_BLOB = 4, DB_NULL = 5 };

enum db_engine { DB_SQLITE, DB_POSTGRESQL };

struct db;
struct db_stmt;

/* Where a store is: an SQLite file's path, or a libpq connection string. */
struct db_target {
	enum db_engine engine;
	const char *where;
	int standby;             /* PostgreSQL: wait for the active relay's lock (store.h) */
};

/*
 * Opens a connection to t (read-only on SQLite when readonly: PostgreSQL's
 * connections are what their role allows).  0, or an error with the
 * message in err.
 */
int db_open(const struct db_target *t, int readonly, struct db **out, char *err, size_t err_len);

/*
 * What to call t in messages: the path, or "PostgreSQL" and the connection
 * string's host, port and database, never its password.
 */
void db_target_name(const struct db_target *t, char *out, size_t out_len);

/*
 * A connection over an SQLite handle the caller opened and configured
 * (store.c: PRAGMAs, locks); db_close() closes the handle too.
 * 0 or DB_NOMEM (and then the handle is the caller's still).
 */
int db_from_sqlite(sqlite3 *handle, struct db **out);

/*
 * Opens the SQLite database at path (read-only or read-write, never
 * creating it), with extended result codes.  0, or an error with the
 * message in err ("PATH: why").
 */
int db_open_sqlite(const char *path, int readonly, struct db **out, char *err, size_t err_len);

/*
 * Connects to PostgreSQL with a libpq connection string (dsn), with blobs
 * as hex and text as UTF-8.  0, or DB_CANTOPEN with libpq's reason in err.
 */
int db_open_pg(const char *dsn, struct db **out, char *err, size_t err_len);

/* Closes the connection; its statements must have been finalized first.
 * Safe on NULL.  0, or the engine's complaint (the connection is gone all
 * the same). */
int db_close(struct db **db);

enum db_engine db_engine(const struct db *db);

/* The SQLite handle for the engine's own features (WAL checkpoints,
 * online backup, the WAL hook); NULL on PostgreSQL. */
sqlite3 *db_sqlite(struct db *db);

/* Prepares sql for the life of the statement.  0 or an error (message in
 * db_errmsg); *st is NULL on error. */
int db_prepare(struct db *db, const char *sql, struct db_stmt **st);

/* Steps: DB_ROW with a row to read, DB_DONE when there is none left, or an
 * error.  The first step after a reset runs the statement. */
int db_step(struct db_stmt *st);

/* Back to before the first step; bindings stay.  Returns the error of the
 * last step, as sqlite3_reset() does, or 0. */
int db_reset(struct db_stmt *st);
int db_clear_bindings(struct db_stmt *st);
/* Safe on NULL. */
void db_finalize(struct db_stmt *st);

/* Parameters are numbered from 1. */
int db_bind_int64(struct db_stmt *st, int i, int64_t v);
int db_bind_null(struct db_stmt *st, int i);
/* len -1: up to the NUL. */
int db_bind_text(struct db_stmt *st, int i, const char *s, int len);
int db_bind_text_copy(struct db_stmt *st, int i, const char *s, int len);
int db_bind_blob(struct db_stmt *st, int i, const void *p, size_t len);
int db_bind_blob_copy(struct db_stmt *st, int i, const void *p, size_t len);

/* The number of columns of the current row (after a step gave DB_ROW). */
int db_column_count(struct db_stmt *st);

/* Columns are numbered from 0.  A NULL reads as 0, an empty blob and "". */
int db_column_type(struct db_stmt *st, int i);
int64_t db_column_int64(struct db_stmt *st, int i);
int db_column_int(struct db_stmt *st, int i);
const void *db_column_blob(struct db_stmt *st, int i);
const char *db_column_text(struct db_stmt *st, int i);
int db_column_bytes(struct db_stmt *st, int i);

/* Runs statements that return no rows (one or several, ';'-separated). */
int db_exec(struct db *db, const char *sql);

/*
 * Runs schema statements written for SQLite (store.c's and the modules'
 * CREATE TABLE, CREATE INDEX, ALTER TABLE), as the engine needs them.  On
 * PostgreSQL, outside quoted text: BLOB is BYTEA, INTEGER is BIGINT, TEXT
 * compares bytewise (COLLATE "C", as SQLite's), `id INTEGER PRIMARY KEY`
 * numbers its rows itself (an identity column, as SQLite's rowid alias),
 * and WITHOUT ROWID goes.
 */
int db_exec_schema(struct db *db, const char *sql);

/* The message of the last failed call on db, in the engine's words. */
const char *db_errmsg(struct db *db);
/* The code of the last failed call on db (0 after a success). */
int db_errcode(struct db *db);
/* What a code means. */
const char *db_errstr(int code);

/*
 * How many times the connection was made again after it was lost (0 on
 * SQLite).  On PostgreSQL a call on a lost connection reconnects first
 * (libpq's PQreset, which with several hosts and target_session_attrs =
 * read-write finds the new primary); statements are prepared again as
 * they are used.  What the server session held (a transaction, advisory
 * locks) is gone: a caller that depends on it compares this number.
 */
unsigned db_epoch(struct db *db);

/* 1 inside an explicit transaction (between BEGIN and COMMIT/ROLLBACK). */
int db_in_transaction(struct db *db);

#endif
