/*
 * The schedule of the session ticket keys and the age rule of a ticket
 * (daemon/ticketkeys.c), with a fake clock: lifetime 1000 ms, so a key
 * seals tickets for 500 ms and opens them 1000 ms longer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "daemon/ticketkeys.h"

#define LIFE 1000

static const uint8_t *material(uint8_t tag)
{
	static uint8_t m[TICKETKEYS_MATERIAL];
	memset(m, tag, sizeof(m));
	return m;
}

static const uint8_t *name(uint8_t tag)
{
	static uint8_t n[TICKETKEYS_NAME_LEN];
	memset(n, tag, sizeof(n));
	return n;
}

static void test_schedule(void **state)
{
	(void)state;
	struct ticketkeys k;
	ticketkeys_init(&k, 0, material(1));
	assert_int_equal(k.n, 1);
	assert_int_equal(ticketkeys_next_ms(&k, 0, LIFE), 500);
	assert_false(ticketkeys_due(&k, 499, LIFE));
	/* Not due: nothing changes, whatever material is offered. */
	assert_int_equal(ticketkeys_rotate(&k, 499, LIFE, material(2)), 0);
	assert_int_equal(k.n, 1);
	assert_true(ticketkeys_due(&k, 500, LIFE));
	/* Half a lifetime: a new current key, the old one opens only. */
	assert_int_equal(ticketkeys_rotate(&k, 500, LIFE, material(2)), 1);
	assert_int_equal(k.n, 2);
	assert_memory_equal(k.keys[0].name, name(2), TICKETKEYS_NAME_LEN);
	assert_int_equal(k.keys[1].retired_ms, 500);
	assert_ptr_equal(ticketkeys_find(&k, name(1), 1499, LIFE), &k.keys[1]);
	assert_null(ticketkeys_find(&k, name(1), 1500, LIFE));
	assert_ptr_equal(ticketkeys_find(&k, name(2), 1500, LIFE), &k.keys[0]);
	assert_null(ticketkeys_find(&k, name(9), 600, LIFE));
	/* Next: key 2 retires at 1000, key 1 is dropped at 1500. */
	assert_int_equal(ticketkeys_next_ms(&k, 600, LIFE), 400);
	assert_int_equal(ticketkeys_rotate(&k, 1000, LIFE, material(3)), 1);
	assert_int_equal(k.n, 3);
	assert_int_equal(ticketkeys_next_ms(&k, 1000, LIFE), 500);
	/* At 1500 key 1 goes and key 3 retires: still three at most. */
	assert_int_equal(ticketkeys_rotate(&k, 1500, LIFE, material(4)), 1);
	assert_int_equal(k.n, 3);
	assert_null(ticketkeys_find(&k, name(1), 1500, LIFE));
	assert_memory_equal(k.keys[0].name, name(4), TICKETKEYS_NAME_LEN);
	assert_memory_equal(k.keys[2].name, name(2), TICKETKEYS_NAME_LEN);
	/* No random bytes: the current key goes on sealing, drops still happen. */
	assert_int_equal(ticketkeys_rotate(&k, 2000, LIFE, NULL), 0);
	assert_int_equal(k.n, 2);
	assert_memory_equal(k.keys[0].name, name(4), TICKETKEYS_NAME_LEN);
	/* A long sleep (a timer that fired late): everything old is dropped. */
	assert_int_equal(ticketkeys_rotate(&k, 100000, LIFE, material(5)), 1);
	assert_int_equal(k.n, 2);
	assert_int_equal(ticketkeys_rotate(&k, 100000 + LIFE, LIFE, material(6)), 1);
	assert_int_equal(k.n, 2);
	assert_memory_equal(k.keys[1].name, name(5), TICKETKEYS_NAME_LEN);
	ticketkeys_wipe(&k);
	assert_int_equal(k.n, 0);
}

static void test_full_ring(void **state)
{
	(void)state;
	struct ticketkeys k;
	/* A lifetime that grows (a reload) keeps retired keys longer, until
	 * the ring is full: then the oldest makes room. */
	ticketkeys_init(&k, 0, material(1));
	assert_int_equal(ticketkeys_rotate(&k, 500, LIFE, material(2)), 1);
	assert_int_equal(ticketkeys_rotate(&k, 1000, LIFE, material(3)), 1);
	assert_int_equal(ticketkeys_rotate(&k, 1800, 1600, material(4)), 1);
	assert_int_equal(k.n, TICKETKEYS_MAX);
	assert_int_equal(ticketkeys_rotate(&k, 3400, 3200, material(5)), 1);
	assert_int_equal(k.n, TICKETKEYS_MAX);
	assert_memory_equal(k.keys[0].name, name(5), TICKETKEYS_NAME_LEN);
	assert_null(ticketkeys_find(&k, name(1), 3400, 3200));
	assert_non_null(ticketkeys_find(&k, name(2), 3400, 3200));
}

static void test_age(void **state)
{
	(void)state;
	static const struct {
		int64_t issued, now;
		int ok;
	} rows[] = {
		{ 1000, 1000, 1 },
		{ 1000, 1000 + LIFE, 1 },
		{ 1000, 1001 + LIFE, 0 },
		{ 1000, 1000 + 100 * LIFE, 0 },
		/* Issued "in the future": a clock stepped back a little is
		 * tolerated, more is not. */
		{ 1000 + TICKETKEYS_SKEW_MS, 1000, 1 },
		{ 1001 + TICKETKEYS_SKEW_MS, 1000, 0 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (ticketkeys_age_ok(rows[i].issued, rows[i].now, LIFE) != rows[i].ok)
			fail_msg("row %zu: issued %lld, now %lld: expected %d", i,
				 (long long)rows[i].issued, (long long)rows[i].now, rows[i].ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_full_ring),
		cmocka_unit_test(test_age),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
