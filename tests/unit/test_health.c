/*
 * What the writer does when storage fails (daemon/health.c): backoff for
 * a disk that is full or busy, no more writes after corruption or an I/O
 * error, and each change of state reported once, never once per retry.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "daemon/health.h"

static void test_backoff(void **state)
{
	(void)state;
	static const int64_t want[] = { 0, 100, 200, 400, 800, 1600, 3200, 5000, 5000 };
	for (unsigned n = 0; n < sizeof(want) / sizeof(want[0]); n++)
		assert_int_equal(health_backoff_ms(n), want[n]);
	assert_int_equal(health_backoff_ms(UINT32_MAX), 5000);
}

static void test_classes(void **state)
{
	(void)state;
	assert_true(health_is_fatal(SQLITE_CORRUPT));
	assert_true(health_is_fatal(SQLITE_IOERR));
	assert_true(health_is_fatal(SQLITE_IOERR_WRITE)); /* extended codes by their primary */
	assert_true(health_is_fatal(SQLITE_IOERR_FSYNC));
	assert_true(health_is_fatal(SQLITE_NOTADB));
	assert_true(health_is_fatal(SQLITE_CANTOPEN));
	assert_false(health_is_fatal(SQLITE_FULL));
	assert_false(health_is_fatal(SQLITE_BUSY));
	assert_false(health_is_fatal(SQLITE_BUSY_SNAPSHOT));
	assert_false(health_is_fatal(SQLITE_NOMEM));
}

/* A full disk: the first failure is reported, the retries are not; the
 * writer waits longer each time; the recovery is reported once. */
static void test_full_disk(void **state)
{
	(void)state;
	struct health h = { 0 };
	int64_t now = 1000;
	assert_true(health_may_try(&h, now));
	assert_int_equal(health_failed(&h, SQLITE_FULL, now), 1);
	assert_false(h.fatal);
	assert_false(health_may_try(&h, now + 99));
	assert_true(health_may_try(&h, now + 100));
	for (int i = 2; i <= 20; i++) {
		now += 10000;
		assert_int_equal(health_failed(&h, SQLITE_FULL, now), 0); /* no log flood */
	}
	assert_int_equal(h.failures, 20);
	assert_int_equal(h.total, 20);
	assert_false(health_may_try(&h, now + 4999));
	assert_true(health_may_try(&h, now + 5000));
	/* Another kind of failure is news. */
	assert_int_equal(health_failed(&h, SQLITE_BUSY, now), 1);
	assert_int_equal(health_ok(&h), 21);
	assert_int_equal(h.failing, 0);
	assert_true(health_may_try(&h, now));
	assert_int_equal(health_ok(&h), 0); /* nothing to report twice */
	assert_int_equal(h.total, 21);      /* the metric keeps counting */
}

/* Corruption or an I/O error: reported once, and no write is tried again,
 * whatever follows. */
static void test_fatal(void **state)
{
	(void)state;
	struct health h = { 0 };
	assert_int_equal(health_failed(&h, SQLITE_FULL, 0), 1);
	assert_int_equal(health_failed(&h, SQLITE_IOERR_WRITE, 10), 1);
	assert_true(h.fatal);
	assert_int_equal(h.failing, SQLITE_IOERR);
	assert_false(health_may_try(&h, INT64_MAX));
	assert_int_equal(health_failed(&h, SQLITE_CORRUPT, 20), 0);
	assert_int_equal(health_failed(&h, SQLITE_FULL, 30), 0);
	assert_int_equal(h.failing, SQLITE_IOERR); /* the first fatal cause stays */
	assert_int_equal(health_ok(&h), 0);
	assert_true(h.fatal);
	assert_int_equal(h.total, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_full_disk),
		cmocka_unit_test(test_fatal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
