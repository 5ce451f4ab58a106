/*
 * test_db.c - daemon/db.h on both engines: the same statements, binds,
 * rows, errors and transactions on a real SQLite file and on the real
 * PostgreSQL server the ctest fixture started (tests/pg/pg.sh; its
 * connection string is in PG_DIR/dsn).
 *
 * Every case runs twice, once per engine, and asserts the same answer:
 * what the modules above db.h rely on when they do not know which engine
 * runs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/db.h"
#include "daemon/db_pg.h"

/* assert_int_equal, with the connection's message when it fails. */
#define assert_db(db, a, b) do { \
	long long a_ = (a), b_ = (b); \
	if (a_ != b_) \
		fail_msg("%lld != %lld: %s", a_, b_, db_errmsg(db)); \
} while (0)

struct engine {
	struct db *db;
	char path[512];
};

static void read_dsn(char *dsn, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/dsn", PG_DIR);
	FILE *f = fopen(path, "r");
	if (!f || !fgets(dsn, (int)len, f))
		fail_msg("no PostgreSQL connection string in %s (is the pg fixture running?)", path);
	fclose(f);
	dsn[strcspn(dsn, "\n")] = '\0';
}

/* A fresh SQLite file, or a fresh schema on the PostgreSQL server; both
 * with one table t of an integer key, a text, a blob and an integer. */
static int setup(void **state, int pg)
{
	struct engine *e = calloc(1, sizeof(*e));
	char err[512];
	if (pg) {
		char dsn[400];
		read_dsn(dsn, sizeof(dsn));
		if (db_open_pg(dsn, &e->db, err, sizeof(err)) != DB_OK)
			fail_msg("%s", err);
		assert_int_equal(db_engine(e->db), DB_POSTGRESQL);
		assert_null(db_sqlite(e->db));
		assert_int_equal(db_exec(e->db, "DROP SCHEMA IF EXISTS dbtest CASCADE;"
					     "CREATE SCHEMA dbtest; SET search_path = dbtest;"
					     "CREATE TABLE t(id BIGINT PRIMARY KEY, name TEXT,"
					     " data BYTEA, n BIGINT)"),
				 DB_OK);
	} else {
		snprintf(e->path, sizeof(e->path), "%s/test_db-XXXXXX", TEST_TMP);
		int fd = mkstemp(e->path);
		assert_true(fd >= 0);
		close(fd);
		if (db_open_sqlite(e->path, 0, &e->db, err, sizeof(err)) != DB_OK)
			fail_msg("%s", err);
		assert_int_equal(db_engine(e->db), DB_SQLITE);
		assert_non_null(db_sqlite(e->db));
		assert_int_equal(db_exec(e->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT,"
					     " data BLOB, n INTEGER)"),
				 DB_OK);
	}
	*state = e;
	return 0;
}

static int setup_sqlite(void **state)
{
	return setup(state, 0);
}

static int setup_pg(void **state)
{
	return setup(state, 1);
}

static int teardown(void **state)
{
	struct engine *e = *state;
	assert_int_equal(db_close(&e->db), DB_OK);
	assert_null(e->db);
	if (e->path[0])
		unlink(e->path);
	free(e);
	return 0;
}

static void insert(struct db *db, int64_t id, const char *name, const void *data, size_t len,
		   int64_t n)
{
	struct db_stmt *st;
	assert_int_equal(db_prepare(db, "INSERT INTO t(id, name, data, n) VALUES(?,?,?,?)", &st),
			 DB_OK);
	assert_int_equal(db_bind_int64(st, 1, id), DB_OK);
	assert_int_equal(db_bind_text(st, 2, name, -1), DB_OK);
	assert_int_equal(db_bind_blob(st, 3, data, len), DB_OK);
	assert_int_equal(db_bind_int64(st, 4, n), DB_OK);
	assert_int_equal(db_step(st), DB_DONE);
	db_finalize(st);
}

/* Values go in and come back as they were: 64-bit extremes, UTF-8, a
 * blob with zero bytes and high bytes, NULL. */
static void test_values_round_trip(void **state)
{
	struct db *db = ((struct engine *)*state)->db;
	static const unsigned char blob[] = { 0, 1, 0x7f, 0x80, 0xff, 0, '\\', 'x' };
	insert(db, INT64_MIN, "Åsa Ström, Москва", blob, sizeof(blob), INT64_MAX);
	insert(db, 2, NULL, NULL, 0, -1);

	struct db_stmt *st;
	assert_int_equal(db_prepare(db, "SELECT id, name, data, n FROM t ORDER BY id", &st), DB_OK);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_column_type(st, 0), DB_INTEGER);
	assert_true(db_column_int64(st, 0) == INT64_MIN);
	assert_int_equal(db_column_type(st, 1), DB_TEXT);
	assert_string_equal(db_column_text(st, 1), "Åsa Ström, Москва");
	assert_int_equal(db_column_bytes(st, 1), (int)strlen("Åsa Ström, Москва"));
	assert_int_equal(db_column_type(st, 2), DB_BLOB);
	assert_int_equal(db_column_bytes(st, 2), (int)sizeof(blob));
	assert_memory_equal(db_column_blob(st, 2), blob, sizeof(blob));
	assert_true(db_column_int64(st, 3) == INT64_MAX);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_column_int64(st, 0), 2);
	assert_int_equal(db_column_type(st, 1), DB_NULL);
	assert_null(db_column_text(st, 1));
	assert_int_equal(db_column_type(st, 2), DB_NULL);
	assert_null(db_column_blob(st, 2));
	assert_int_equal(db_column_bytes(st, 2), 0);
	assert_int_equal(db_column_int(st, 3), -1);
	assert_int_equal(db_step(st), DB_DONE);
	assert_int_equal(db_reset(st), DB_OK);
	/* Reset runs it again from the first row. */
	assert_int_equal(db_step(st), DB_ROW);
	assert_true(db_column_int64(st, 0) == INT64_MIN);
	db_finalize(st);

	/* Aggregates and comparisons read as integers on both. */
	assert_int_equal(db_prepare(db, "SELECT count(*), sum(n), max(id), (n > 0) FROM t "
					 "WHERE id = ? GROUP BY n", &st),
			 DB_OK);
	assert_int_equal(db_bind_int64(st, 1, 2), DB_OK);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_column_int64(st, 0), 1);
	assert_int_equal(db_column_int64(st, 1), -1);
	assert_int_equal(db_column_int64(st, 2), 2);
	assert_int_equal(db_column_type(st, 3), DB_INTEGER);
	assert_int_equal(db_column_int64(st, 3), 0);
	db_finalize(st);
}

/* `?N` names a parameter more than once; one bound NULL at first and a
 * number later works; a statement whose parameter types only the bindings
 * tell works with numbers, then with text (PostgreSQL prepares it again). */
static void test_numbered_and_rebound(void **state)
{
	struct db *db = ((struct engine *)*state)->db;
	insert(db, 1, "one", "a", 1, 10);
	insert(db, 2, "two", "b", 1, 20);
	struct db_stmt *st;
	assert_db(db, db_prepare(db, "SELECT id FROM t WHERE (CAST(?1 AS BIGINT) IS NULL OR n >= ?1) AND "
					 "name <> '?' ORDER BY id", &st),
		  DB_OK);
	assert_int_equal(db_bind_null(st, 1), DB_OK);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_column_int64(st, 0), 1);
	assert_int_equal(db_reset(st), DB_OK);
	assert_int_equal(db_bind_int64(st, 1, 15), DB_OK);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_column_int64(st, 0), 2);
	assert_int_equal(db_step(st), DB_DONE);
	assert_int_equal(db_reset(st), DB_OK);
	assert_int_equal(db_clear_bindings(st), DB_OK);
	assert_int_equal(db_step(st), DB_ROW); /* NULL again: every row */
	db_finalize(st);

	assert_db(db, db_prepare(db, "SELECT coalesce(?, ?)", &st), DB_OK);
	db_bind_int64(st, 1, 41);
	db_bind_int64(st, 2, 42);
	assert_db(db, db_step(st), DB_ROW);
	assert_int_equal(db_column_int64(st, 0), 41);
	assert_int_equal(db_reset(st), DB_OK);
	db_bind_null(st, 1);
	db_bind_text(st, 2, "text now", -1);
	assert_db(db, db_step(st), DB_ROW);
	assert_string_equal(db_column_text(st, 0), "text now");
	db_finalize(st);
}

/* A module steps one statement while it runs others on the connection. */
static void test_interleaved_statements(void **state)
{
	struct db *db = ((struct engine *)*state)->db;
	for (int i = 1; i <= 5; i++)
		insert(db, i, "x", "x", 1, i);
	struct db_stmt *rd, *up;
	assert_int_equal(db_prepare(db, "SELECT id FROM t ORDER BY id", &rd), DB_OK);
	assert_int_equal(db_prepare(db, "UPDATE t SET n = n * 10 WHERE id = ?", &up), DB_OK);
	int rows = 0;
	while (db_step(rd) == DB_ROW) {
		assert_int_equal(db_bind_int64(up, 1, db_column_int64(rd, 0)), DB_OK);
		assert_int_equal(db_step(up), DB_DONE);
		assert_int_equal(db_reset(up), DB_OK);
		rows++;
	}
	assert_int_equal(rows, 5);
	db_finalize(rd);
	db_finalize(up);
	assert_int_equal(db_prepare(db, "SELECT sum(n) FROM t", &rd), DB_OK);
	assert_int_equal(db_step(rd), DB_ROW);
	assert_int_equal(db_column_int64(rd, 0), 150);
	db_finalize(rd);
}

/* The shared dialect: ON CONFLICT DO NOTHING / DO UPDATE, RETURNING. */
static void test_upsert_and_returning(void **state)
{
	struct db *db = ((struct engine *)*state)->db;
	struct db_stmt *st;
	assert_int_equal(db_prepare(db, "INSERT INTO t(id, name, n) VALUES(?, ?, ?) ON CONFLICT(id)"
					 " DO UPDATE SET name = excluded.name, n = excluded.n "
					 "RETURNING n * 2", &st),
			 DB_OK);
	for (int round = 0; round < 2; round++) {
		db_bind_int64(st, 1, 7);
		db_bind_text_copy(st, 2, round ? "second" : "first", -1);
		db_bind_int64(st, 3, 100 + round);
		assert_int_equal(db_step(st), DB_ROW);
		assert_int_equal(db_column_int64(st, 0), 2 * (100 + round));
		assert_int_equal(db_step(st), DB_DONE);
		assert_int_equal(db_reset(st), DB_OK);
	}
	db_finalize(st);
	assert_int_equal(db_exec(db, "INSERT INTO t(id, name) VALUES(7, 'third') "
				     "ON CONFLICT DO NOTHING"),
			 DB_OK);
	assert_int_equal(db_prepare(db, "SELECT name, n FROM t WHERE id = 7", &st), DB_OK);
	assert_int_equal(db_step(st), DB_ROW);
	assert_string_equal(db_column_text(st, 0), "second");
	assert_int_equal(db_column_int64(st, 1), 101);
	db_finalize(st);
}

/* Errors: a duplicate key is DB_CONSTRAINT, bad SQL DB_ERROR, each with
 * the engine's message; the connection goes on working. */
static void test_errors(void **state)
{
	struct db *db = ((struct engine *)*state)->db;
	insert(db, 1, "one", "a", 1, 1);
	struct db_stmt *st;
	assert_int_equal(db_prepare(db, "INSERT INTO t(id) VALUES(?)", &st), DB_OK);
	db_bind_int64(st, 1, 1);
	int rc = db_step(st);
	assert_int_equal(rc & 0xff, DB_CONSTRAINT);
	assert_int_equal(db_errcode(db) & 0xff, DB_CONSTRAINT);
	assert_int_equal(db_reset(st) & 0xff, DB_CONSTRAINT);
	const char *msg = db_errmsg(db);
	assert_true(strstr(msg, "UNIQUE") || strstr(msg, "duplicate key"));
	db_bind_int64(st, 1, 2);
	assert_int_equal(db_step(st), DB_DONE);
	db_finalize(st);

	st = (struct db_stmt *)1;
	rc = db_prepare(db, "SELEKT nothing", &st);
	assert_int_equal(rc & 0xff, DB_ERROR);
	assert_null(st);
	assert_non_null(strstr(db_errmsg(db), "syntax error"));
	assert_int_equal(db_exec(db, "SELECT count(*) FROM no_such_table") & 0xff, DB_ERROR);
	assert_non_null(strstr(db_errmsg(db), "no_such_table"));
	db_finalize(NULL);
}

/* A transaction: visible inside, gone after ROLLBACK, kept after COMMIT. */
static void test_transactions(void **state)
{
	struct db *db = ((struct engine *)*state)->db;
	assert_false(db_in_transaction(db));
	assert_int_equal(db_exec(db, "BEGIN"), DB_OK);
	assert_true(db_in_transaction(db));
	insert(db, 1, "rolled back", NULL, 0, 0);
	assert_int_equal(db_exec(db, "ROLLBACK"), DB_OK);
	assert_false(db_in_transaction(db));
	struct db_stmt *begin, *commit, *count;
	assert_int_equal(db_prepare(db, "BEGIN", &begin), DB_OK);
	assert_int_equal(db_prepare(db, "COMMIT", &commit), DB_OK);
	assert_int_equal(db_step(begin), DB_DONE);
	insert(db, 2, "kept", NULL, 0, 0);
	assert_int_equal(db_step(commit), DB_DONE);
	assert_int_equal(db_prepare(db, "SELECT count(*), min(id) FROM t", &count), DB_OK);
	assert_int_equal(db_step(count), DB_ROW);
	assert_int_equal(db_column_int64(count, 0), 1);
	assert_int_equal(db_column_int64(count, 1), 2);
	db_finalize(begin);
	db_finalize(commit);
	db_finalize(count);
}

static void test_pg_translate(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
		int n;
	} cases[] = {
		{ "SELECT 1", "SELECT 1", 0 },
		{ "VALUES(?,?,?)", "VALUES($1,$2,$3)", 3 },
		{ "WHERE a = ?2 AND b = ?1 OR c = ?2", "WHERE a = $2 AND b = $1 OR c = $2", 2 },
		{ "WHERE s = '?' AND t = 'it''s ?' AND u = ?", "WHERE s = '?' AND t = 'it''s ?' AND u = $1",
		  1 },
		{ "SELECT \"?\" FROM x WHERE y = ?", "SELECT \"?\" FROM x WHERE y = $1", 1 },
		{ "SELECT 1 -- why?\nWHERE x = ?", "SELECT 1 -- why?\nWHERE x = $1", 1 },
		{ "x = ?12", "x = $12", 12 },
		{ "x = 'unterminated ?", "x = 'unterminated ?", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = -1;
		char *out = dbpg_translate(cases[i].in, &n);
		assert_non_null(out);
		assert_string_equal(out, cases[i].out);
		assert_int_equal(n, cases[i].n);
		free(out);
	}
}

static void test_pg_codes(void **state)
{
	(void)state;
	static const struct {
		const char *state;
		int ok, code;
	} cases[] = {
		{ "23505", 1, DB_CONSTRAINT }, { "23503", 1, DB_CONSTRAINT },
		{ "40001", 1, DB_BUSY },       { "40P01", 1, DB_BUSY },
		{ "55P03", 1, DB_BUSY },       { "53100", 1, DB_FULL },
		{ "53200", 1, DB_NOMEM },      { "08006", 1, DB_IOERR },
		{ "57P01", 1, DB_IOERR },      { "58030", 1, DB_IOERR },
		{ "XX001", 1, DB_CORRUPT },    { "XX000", 1, DB_ERROR },
		{ "25006", 1, DB_READONLY },   { "42601", 1, DB_ERROR },
		{ "42601", 0, DB_LOST },       { NULL, 1, DB_ERROR },
		{ "235", 1, DB_ERROR },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(dbpg_code(cases[i].state, cases[i].ok), cases[i].code);
}

/* A server that is not there: DB_CANTOPEN with libpq's reason. */
static void test_pg_cannot_connect(void **state)
{
	(void)state;
	struct db *db = (struct db *)1;
	char err[512] = "";
	int rc = db_open_pg("host=127.0.0.1 port=1 connect_timeout=5 user=vigil", &db, err,
			    sizeof(err));
	assert_int_equal(rc, DB_CANTOPEN);
	assert_null(db);
	assert_non_null(strstr(err, "PostgreSQL: "));
	assert_true(strstr(err, "refused") || strstr(err, "failed"));
}

#define BOTH(t) cmocka_unit_test_setup_teardown(t, setup_sqlite, teardown), \
		cmocka_unit_test_setup_teardown(t, setup_pg, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_values_round_trip),
		BOTH(test_numbered_and_rebound),
		BOTH(test_interleaved_statements),
		BOTH(test_upsert_and_returning),
		BOTH(test_errors),
		BOTH(test_transactions),
		cmocka_unit_test(test_pg_translate),
		cmocka_unit_test(test_pg_codes),
		cmocka_unit_test(test_pg_cannot_connect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
