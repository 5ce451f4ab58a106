/*
 * db_pg.h - db.h's PostgreSQL engine (db_pg.c), for db.c alone.
 *
 * The same calls as db.h, on a libpq connection; codes are db.h's
 * (dbpg_code() maps a SQLSTATE to one).  The tests call dbpg_translate()
 * and dbpg_code() directly.
 */
#ifndef VIGIL_DAEMON_DB_PG_H
#define VIGIL_DAEMON_DB_PG_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/db.h"

struct dbpg;
struct dbpg_stmt;

/* Connects with a libpq connection string.  0 or DB_CANTOPEN with
 * libpq's reason in err. */
int dbpg_connect(const char *dsn, struct dbpg **out, char *err, size_t err_len);
void dbpg_close(struct dbpg *pg);

/* SQL with `?`/`?N` parameters as PostgreSQL's `$N`; *n_params the highest
 * N.  malloc()ed; NULL when out of memory. */
char *dbpg_translate(const char *sql, int *n_params);

/* SQLite schema statements as PostgreSQL's (db_exec_schema).  malloc()ed;
 * NULL when out of memory. */
char *dbpg_schema(const char *sql);

/* db.h's code for a SQLSTATE (NULL: none), or DB_LOST when the
 * connection is gone. */
int dbpg_code(const char *sqlstate, int connection_ok);

int dbpg_prepare(struct dbpg *pg, const char *sql, struct dbpg_stmt **st);
int dbpg_step(struct dbpg_stmt *st);
int dbpg_reset(struct dbpg_stmt *st);
int dbpg_clear_bindings(struct dbpg_stmt *st);
void dbpg_finalize(struct dbpg_stmt *st);
int dbpg_bind_int64(struct dbpg_stmt *st, int i, int64_t v);
int dbpg_bind_null(struct dbpg_stmt *st, int i);
int dbpg_bind_text(struct dbpg_stmt *st, int i, const char *s, int len, int copy);
int dbpg_bind_blob(struct dbpg_stmt *st, int i, const void *p, size_t len, int copy);
int dbpg_column_count(struct dbpg_stmt *st);
int dbpg_column_type(struct dbpg_stmt *st, int i);
int64_t dbpg_column_int64(struct dbpg_stmt *st, int i);
const void *dbpg_column_blob(struct dbpg_stmt *st, int i);
const char *dbpg_column_text(struct dbpg_stmt *st, int i);
int dbpg_column_bytes(struct dbpg_stmt *st, int i);
int dbpg_exec(struct dbpg *pg, const char *sql);
const char *dbpg_errmsg(struct dbpg *pg);
int dbpg_errcode(struct dbpg *pg);
int dbpg_in_transaction(struct dbpg *pg);
unsigned dbpg_epoch(struct dbpg *pg);

#endif
