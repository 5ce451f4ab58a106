/*
 * test_walsync.c - daemon/walsync.c: what a checkpoint's code and sizes
 * mean (a negative size is an error, whatever the code), and a real WAL
 * that a writer keeps appending to is copied into the database file, reset
 * and trimmed back to the limit.
 *
 * The database lives in a fresh directory made with mkdtemp() under
 * $TMPDIR (or /tmp).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon/walsync.h"

static void test_judge(void **state)
{
	(void)state;
	static const struct {
		int rc, log, ckpt;
		enum walsync_outcome want;
	} cases[] = {
		{ SQLITE_OK, 0, 0, WALSYNC_DONE },
		{ SQLITE_OK, 1200, 1200, WALSYNC_DONE },
		{ SQLITE_OK, 1200, 300, WALSYNC_DONE },      /* PASSIVE: part copied */
		/* SQLite 3.40 on a connection without a WAL index: OK, and nothing. */
		{ SQLITE_OK, -1, -1, WALSYNC_ERROR },
		{ SQLITE_OK, -1, 0, WALSYNC_ERROR },
		{ SQLITE_OK, 10, -1, WALSYNC_ERROR },
		{ SQLITE_OK, 10, 11, WALSYNC_ERROR },        /* more copied than there is */
		{ SQLITE_BUSY, 1200, 1200, WALSYNC_BUSY },   /* RESTART without its locks */
		{ SQLITE_BUSY, -1, -1, WALSYNC_BUSY },       /* another checkpointer */
		{ SQLITE_IOERR, 10, 10, WALSYNC_ERROR },
		{ SQLITE_FULL, -1, -1, WALSYNC_ERROR },
		{ SQLITE_CORRUPT, 0, 0, WALSYNC_ERROR },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (walsync_judge(cases[i].rc, cases[i].log, cases[i].ckpt) != cases[i].want)
			fail_msg("case %zu: rc %d log %d ckpt %d", i, cases[i].rc, cases[i].log,
				 cases[i].ckpt);
	}
}

struct fixture {
	char dir[PATH_MAX];
	char db[PATH_MAX + 8];
	char wal[PATH_MAX + 16];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	const char *tmp = getenv("TMPDIR");
	snprintf(fx->dir, sizeof(fx->dir), "%s/test_walsync.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	snprintf(fx->db, sizeof(fx->db), "%s/w.db", fx->dir);
	snprintf(fx->wal, sizeof(fx->wal), "%s-wal", fx->db);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s-shm", fx->db);
	unlink(path);
	unlink(fx->wal);
	unlink(fx->db);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
}

/* A writer set up as the relay's: WAL, no automatic checkpoint, the limit
 * as journal_size_limit; one table of 1 KiB rows. */
static sqlite3 *open_writer(const char *path, int limit)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char sql[160];
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
		 "PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=%d", limit);
	exec_ok(db, sql);
	exec_ok(db, "CREATE TABLE IF NOT EXISTS t(x BLOB)");
	return db;
}

static void insert_rows(sqlite3 *db, int n)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
		 "FROM c WHERE i < %d) INSERT INTO t SELECT randomblob(1024) FROM c", n);
	exec_ok(db, sql);
}

/* SQLite 3.40 does nothing on a connection that has never read, and says
 * so only through a size of -1: that must count as an error.  (Later
 * versions open the WAL index themselves; then the sizes are real.) */
static void test_unread_connection(void **state)
{
	struct fixture *fx = *state;
	sqlite3 *w = open_writer(fx->db, 1 << 20);
	insert_rows(w, 200);
	sqlite3 *c;
	assert_int_equal(sqlite3_open(fx->db, &c), SQLITE_OK);
	int log = -1, ckpt = -1;
	int rc = sqlite3_wal_checkpoint_v2(c, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &ckpt);
	printf("unread connection on SQLite %s: rc %d, log %d, checkpointed %d\n",
	       sqlite3_libversion(), rc, log, ckpt);
	if (log < 0)
		assert_int_equal(walsync_judge(rc, log, ckpt), WALSYNC_ERROR);
	else
		assert_int_equal(walsync_judge(rc, log, ckpt), WALSYNC_DONE);
	/* After a read, it has a WAL index and really checkpoints. */
	exec_ok(c, "SELECT count(*) FROM sqlite_schema");
	rc = sqlite3_wal_checkpoint_v2(c, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &ckpt);
	assert_int_equal(walsync_judge(rc, log, ckpt), WALSYNC_DONE);
	assert_true(log > 40);  /* 200 rows of 1 KiB: 50 pages and more */
	assert_int_equal(ckpt, log);
	sqlite3_close(c);
	sqlite3_close(w);
}

/* A writer appends well past the limit; the thread (started on a database
 * its connection has not read yet) checkpoints it into the database file
 * and resets the WAL, so the next commit writes from the start of the file
 * and trims it back to the limit. */
static void test_wal_reset_and_trimmed(void **state)
{
	struct fixture *fx = *state;
	enum { LIMIT = 65536 };
	sqlite3 *w = open_writer(fx->db, LIMIT);
	struct walsync *ws = NULL;
	assert_int_equal(walsync_start(fx->db, LIMIT, &ws), 0);
	long long db_before = file_size(fx->db);
	insert_rows(w, 2000);  /* about 2 MiB of WAL */
	assert_true(file_size(fx->wal) > 30 * LIMIT);
	walsync_commit(ws, 1);  /* below the threshold: no checkpoint is asked for */
	walsync_commit(ws, 2000);
	/* Stopping runs a last checkpoint and waits for the thread. */
	walsync_stop(&ws);
	assert_null(ws);
	assert_true(file_size(fx->db) > db_before + 2000 * 1024);
	/* The checkpoint reset the WAL: the next commit starts it over and
	 * trims the file. */
	insert_rows(w, 4);
	assert_true(file_size(fx->wal) <= LIMIT);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(w, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 2004);
	sqlite3_finalize(st);
	sqlite3_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_judge),
		cmocka_unit_test_setup_teardown(test_unread_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_reset_and_trimmed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
