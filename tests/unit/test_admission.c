/*
 * The admission rule (daemon/admission.c) as a table: counts and ages in,
 * a decision out.  No sockets and no clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/admission.h"

/* Limits of every row: 4 authenticated, 6 handshaking, 3 per address,
 * protection 100 ms. */
static struct admission_view view(unsigned auth, unsigned hs, unsigned addr, uint64_t oldest,
				  uint64_t addr_oldest)
{
	struct admission_view v = {
		.authenticated = auth, .max_connections = 4,
		.handshakes = hs, .max_handshakes = 6,
		.address_handshakes = addr, .max_per_address = 3,
		.oldest_age_ms = oldest, .address_oldest_age_ms = addr_oldest,
		.protect_ms = 100,
	};
	return v;
}

static void test_table(void **state)
{
	(void)state;
	static const struct {
		unsigned auth, hs, addr;
		uint64_t oldest, addr_oldest;
		enum admission want;
	} rows[] = {
		/* Room everywhere. */
		{ 0, 0, 0, 0, 0, ADMIT },
		{ 3, 5, 2, 50, 50, ADMIT },
		/* Authenticated connections full: refused whatever the pool. */
		{ 4, 0, 0, 0, 0, REFUSE_CONNECTIONS },
		{ 5, 6, 3, 9999, 9999, REFUSE_CONNECTIONS },
		/* The address is at its cap: its own oldest goes, if old enough. */
		{ 0, 3, 3, 500, 100, ADMIT_EVICT_ADDRESS },
		{ 0, 3, 3, 500, 99, REFUSE_ADDRESS },
		/* ... even when the pool is full too (it frees a pool slot). */
		{ 0, 6, 3, 500, 200, ADMIT_EVICT_ADDRESS },
		{ 0, 6, 3, 500, 0, REFUSE_ADDRESS },
		/* Pool full, the address below its cap: the oldest of all goes. */
		{ 0, 6, 2, 100, 100, ADMIT_EVICT_OLDEST },
		{ 0, 6, 0, 10000, 0, ADMIT_EVICT_OLDEST },
		{ 0, 6, 2, 99, 99, REFUSE_POOL },
		{ 0, 7, 0, 0, 0, REFUSE_POOL },
		/* Authenticated connections never decide an eviction. */
		{ 3, 6, 0, 100, 0, ADMIT_EVICT_OLDEST },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct admission_view v = view(rows[i].auth, rows[i].hs, rows[i].addr,
					       rows[i].oldest, rows[i].addr_oldest);
		enum admission got = admission_decide(&v);
		if (got != rows[i].want)
			fail_msg("row %zu: got %s, want %s", i, admission_name(got),
				 admission_name(rows[i].want));
	}
}

/* Caps of 1 and a protection of 0 (handshake_timeout under 10 ms cannot
 * be configured, but the rule must not divide or underflow). */
static void test_edges(void **state)
{
	(void)state;
	struct admission_view v = {
		.max_connections = 1, .max_handshakes = 1, .max_per_address = 1,
	};
	assert_int_equal(admission_decide(&v), ADMIT);
	v.handshakes = 1;
	v.address_handshakes = 1;
	assert_int_equal(admission_decide(&v), ADMIT_EVICT_ADDRESS);
	v.address_handshakes = 0;
	assert_int_equal(admission_decide(&v), ADMIT_EVICT_OLDEST);
	v.authenticated = 1;
	assert_int_equal(admission_decide(&v), REFUSE_CONNECTIONS);
}

static void test_protect_ms(void **state)
{
	(void)state;
	assert_int_equal(admission_protect_ms(100), 10);   /* the smallest handshake_timeout */
	assert_int_equal(admission_protect_ms(1000), 100);
	assert_int_equal(admission_protect_ms(10000), 1000); /* the default */
	assert_int_equal(admission_protect_ms(600000), 1000); /* capped */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_protect_ms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
