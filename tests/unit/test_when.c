/*
 * test_when.c - client/cli/when.c: spans in words at each unit's edges,
 * deadlines ahead and overdue, events past and (skewed) ahead.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "when.h"

#define MIN 60000LL
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define NOW 1795857300000LL

static void span_is(int64_t ms, const char *want)
{
	char got[64];
	when_span(ms, got, sizeof(got));
	assert_string_equal(got, want);
}

static void test_span_edges(void **state)
{
	(void)state;
	span_is(0, "under a minute");
	span_is(MIN - 1, "under a minute");
	span_is(MIN, "1 min");
	span_is(120 * MIN - 1, "119 min");
	span_is(120 * MIN, "2 h");
	span_is(48 * HOUR - 1, "47 h");
	span_is(48 * HOUR, "2 d");
	span_is(400 * DAY + HOUR, "400 d");
	span_is(-3 * HOUR, "3 h"); /* a span has no sign */
}

static void test_deadline(void **state)
{
	(void)state;
	char got[64];
	when_deadline(NOW + 14 * HOUR + 5 * MIN, NOW, got, sizeof(got));
	assert_string_equal(got, "in 14 h");
	when_deadline(NOW - 3 * HOUR, NOW, got, sizeof(got));
	assert_string_equal(got, "overdue by 3 h");
	when_deadline(NOW, NOW, got, sizeof(got));
	assert_string_equal(got, "in under a minute");
	when_deadline(NOW - 1, NOW, got, sizeof(got));
	assert_string_equal(got, "overdue by under a minute");
}

static void test_ago(void **state)
{
	(void)state;
	char got[64];
	when_ago(NOW - 3 * DAY - HOUR, NOW, got, sizeof(got));
	assert_string_equal(got, "3 d ago");
	when_ago(NOW - 30000, NOW, got, sizeof(got));
	assert_string_equal(got, "just now");
	when_ago(NOW + 5 * MIN, NOW, got, sizeof(got));
	assert_string_equal(got, "in 5 min");
	/* Cut to the buffer, still terminated. */
	char small[4];
	when_ago(NOW - 3 * DAY, NOW, small, sizeof(small));
	assert_string_equal(small, "3 d");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_span_edges),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_ago),
	};
	return cmocka_run_group_tests_name("when", tests, NULL, NULL);
}
