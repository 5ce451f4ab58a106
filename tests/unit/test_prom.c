/*
 * The Prometheus primitives (daemon/prom.c): which bucket an observation
 * lands in, the page text byte for byte (HELP and TYPE, escaping, numbers,
 * cumulative buckets), and vigild's bucket tables.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/prom.h"

static const struct prom_buckets ms = { 3, { 1000, 10000, 100000 }, 1000000 };

static char *take(struct prom_text *t)
{
	size_t len;
	char *s = prom_text_take(t, &len);
	assert_non_null(s);
	assert_int_equal(strlen(s), len);
	return s;
}

/* A bound is inclusive (le); past the last bound is +Inf. */
static void test_observe(void **state)
{
	(void)state;
	struct prom_hist h;
	memset(&h, 0, sizeof(h));
	static const uint64_t values[] = { 0, 1000, 1001, 10000, 99999, 100000, 100001, 5000000 };
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		prom_observe(&h, &ms, values[i]);
	assert_int_equal(h.bucket[0], 2); /* 0, 1000 */
	assert_int_equal(h.bucket[1], 2); /* 1001, 10000 */
	assert_int_equal(h.bucket[2], 2); /* 99999, 100000 */
	assert_int_equal(h.bucket[3], 2); /* +Inf */
	assert_int_equal(h.count, 8);
	assert_int_equal(h.sum, 0 + 1000 + 1001 + 10000 + 99999 + 100000 + 100001 + 5000000);
}

static void test_histogram_text(void **state)
{
	(void)state;
	struct prom_hist h;
	memset(&h, 0, sizeof(h));
	prom_observe(&h, &ms, 500);
	prom_observe(&h, &ms, 2500);
	prom_observe(&h, &ms, 7000000);
	struct prom_text t;
	prom_text_init(&t);
	prom_histogram(&t, "x_seconds", "How long.", &h, &ms);
	char *s = take(&t);
	assert_string_equal(s,
		"# HELP x_seconds How long.\n"
		"# TYPE x_seconds histogram\n"
		"x_seconds_bucket{le=\"0.001\"} 1\n"
		"x_seconds_bucket{le=\"0.01\"} 2\n"
		"x_seconds_bucket{le=\"0.1\"} 2\n"
		"x_seconds_bucket{le=\"+Inf\"} 3\n"
		"x_seconds_sum 7.003\n"
		"x_seconds_count 3\n");
	free(s);
}

static void test_samples_and_escaping(void **state)
{
	(void)state;
	struct prom_text t;
	prom_text_init(&t);
	prom_family(&t, "a_total", PROM_COUNTER, "Back\\slash and\nnewline; \"quotes\" stay.");
	prom_sample_u64(&t, "a_total", NULL, NULL, 18446744073709551615ull);
	prom_family(&t, "b", PROM_GAUGE, "Gauge.");
	prom_sample(&t, "b", "org", "a\"b\\c\nd", 0.1);
	prom_sample(&t, "b", "org", "int", 1795872490.0);
	prom_sample(&t, "b", "org", "frac", 1795872490.475);
	prom_sample(&t, "b", "org", "tiny", 0.000123);
	prom_sample(&t, "b", "org", "inf", INFINITY);
	prom_sample(&t, "b", "org", "nan", NAN);
	char *s = take(&t);
	assert_string_equal(s,
		"# HELP a_total Back\\\\slash and\\nnewline; \"quotes\" stay.\n"
		"# TYPE a_total counter\n"
		"a_total 18446744073709551615\n"
		"# HELP b Gauge.\n"
		"# TYPE b gauge\n"
		"b{org=\"a\\\"b\\\\c\\nd\"} 0.1\n"
		"b{org=\"int\"} 1795872490\n"
		"b{org=\"frac\"} 1795872490.475\n"
		"b{org=\"tiny\"} 0.000123\n"
		"b{org=\"inf\"} +Inf\n"
		"b{org=\"nan\"} NaN\n");
	free(s);
	/* An empty page is an empty string, not NULL. */
	prom_text_init(&t);
	s = take(&t);
	assert_string_equal(s, "");
	free(s);
}

/* vigild's tables: ascending, within PROM_MAX_BUCKETS, in seconds or
 * jobs as their bounds are documented. */
static void test_tables(void **state)
{
	(void)state;
	const struct prom_buckets *tables[] = { &prom_lag_buckets, &prom_commit_buckets,
						&prom_batch_buckets };
	for (size_t i = 0; i < 3; i++) {
		const struct prom_buckets *b = tables[i];
		assert_true(b->n > 0 && b->n <= PROM_MAX_BUCKETS);
		assert_true(b->divisor > 0);
		for (size_t j = 1; j < b->n; j++)
			assert_true(b->le[j] > b->le[j - 1]);
	}
	assert_int_equal(prom_lag_buckets.le[0], 1000);   /* 1 ms */
	assert_int_equal(prom_commit_buckets.le[0], 100); /* 0.1 ms */
	assert_int_equal(prom_batch_buckets.le[0], 1);
	assert_int_equal(prom_batch_buckets.divisor, 1);
}

/* The longest of the last ten seconds: noted per second, read at any
 * second; older slots fall out, a reused slot starts again. */
static void test_recent_max(void **state)
{
	(void)state;
	struct prom_recent_max m;
	memset(&m, 0, sizeof(m));
	assert_int_equal(prom_recent_get(&m, 0), 0);
	assert_int_equal(prom_recent_get(&m, 1000), 0);
	/* Second 0 is a second like any other. */
	prom_recent_note(&m, 0, 7);
	assert_int_equal(prom_recent_get(&m, 0), 7);
	assert_int_equal(prom_recent_get(&m, 9), 7);
	assert_int_equal(prom_recent_get(&m, 10), 0);

	memset(&m, 0, sizeof(m));
	prom_recent_note(&m, 100, 300);
	prom_recent_note(&m, 100, 200);    /* not larger: kept 300 */
	prom_recent_note(&m, 103, 5000);
	prom_recent_note(&m, 105, 40);
	static const struct { uint64_t now, want; } reads[] = {
		{ 99, 0 },       /* before anything was noted */
		{ 100, 300 },
		{ 102, 300 },
		{ 103, 5000 },
		{ 109, 5000 },
		{ 112, 5000 },   /* 103 is still within 103..112 */
		{ 113, 40 },     /* 103 has left; 105 remains */
		{ 114, 40 },
		{ 115, 0 },      /* everything has left */
	};
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
		assert_int_equal(prom_recent_get(&m, reads[i].now), reads[i].want);
	/* Second 113 takes 103's slot: the old maximum goes, whatever it was. */
	prom_recent_note(&m, 113, 9);
	assert_int_equal(prom_recent_get(&m, 113), 40);
	assert_int_equal(prom_recent_get(&m, 120), 9);
	assert_int_equal(prom_recent_get(&m, 123), 0);
	/* A reading for an earlier second than a slot's does not count it. */
	prom_recent_note(&m, 200, 77);
	assert_int_equal(prom_recent_get(&m, 199), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_observe),
		cmocka_unit_test(test_histogram_text),
		cmocka_unit_test(test_samples_and_escaping),
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_recent_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
