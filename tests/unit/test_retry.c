/*
 * What "vigil alerts --follow" does after a failure (client/cli/retry.c):
 * the delays between attempts (1 s doubling to 60 s, +-20 %, from the
 * start again after a connection that held a minute), with a fake clock
 * and chosen random numbers, and which failures end it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cli.h"

static void test_delays(void **state)
{
	(void)state;
	static const int base[] = { 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000 };
	for (unsigned n = 0; n < sizeof(base) / sizeof(base[0]); n++) {
		/* rnd 0: -20 %; the middle: the base; the largest: +20 %. */
		assert_int_equal(retry_delay_ms(n, 0), base[n] * 8 / 10);
		int mid = retry_delay_ms(n, UINT32_C(1) << 31);
		assert_true(mid >= base[n] - 1 && mid <= base[n] + 1);
		assert_int_equal(retry_delay_ms(n, UINT32_MAX), base[n] * 12 / 10);
	}
	assert_int_equal(retry_delay_ms(1000, UINT32_MAX), 72000);
	assert_int_equal(retry_delay_ms(UINT32_MAX, 0), 48000);
}

/* Attempts that keep failing back off; a connection that broke within a
 * minute does not reset the delays, one that held a minute does. */
static void test_reset_after_a_stable_connection(void **state)
{
	(void)state;
	struct retry r = { 0 };
	uint32_t mid = UINT32_C(1) << 31;
	int64_t now = 1000000;
	int d = retry_next_ms(&r, now, mid);
	assert_int_equal(d, 1000);
	assert_int_equal(retry_next_ms(&r, now += d, mid), 2000);
	assert_int_equal(retry_next_ms(&r, now += 2000, mid), 4000);
	/* Connected; lost 59 s later: the next delay goes on from there. */
	retry_connected(&r, now += 4000);
	assert_int_equal(retry_next_ms(&r, now += RETRY_STABLE_MS - 1000, mid), 8000);
	retry_connected(&r, now += 8000);
	/* Lost after a minute: from the first delay again. */
	assert_int_equal(retry_next_ms(&r, now += RETRY_STABLE_MS, mid), 1000);
	assert_int_equal(retry_next_ms(&r, now += 1000, mid), 2000);
	/* Many failures: the cap. */
	for (int i = 0; i < 100; i++)
		d = retry_next_ms(&r, now += d, mid);
	assert_true(d >= RETRY_CAP_MS - 1 && d <= RETRY_CAP_MS + 1);
}

static void test_permanent(void **state)
{
	(void)state;
	static const struct {
		int status;
		const char *code;
		const char *message;
		int permanent;
	} cases[] = {
		{ VIGIL_E_CONNECT, "", "cannot connect to 127.0.0.1 port 7443: Connection refused", 0 },
		{ VIGIL_E_CONNECT, "", "cannot resolve relay.example port 7443: Temporary failure in "
		  "name resolution", 0 },
		{ VIGIL_E_CONNECT, "", "TLS handshake with relay r:7443 timed out after 10000 ms", 0 },
		{ VIGIL_E_PROTOCOL, "", "relay r:7443: closed the connection while we were waiting "
		  "for an alert", 0 },
		{ VIGIL_E_PROTOCOL, "", "relay r:7443: closed the connection while we were waiting "
		  "for the welcome (did it refuse our certificate?)", 0 },
		{ VIGIL_E_TLS, "", "TLS handshake with relay r:7443 failed: it closed the connection",
		  0 },
		{ VIGIL_E_TLS, "", "TLS handshake with relay r:7443 failed: Connection reset by peer",
		  0 },
		{ VIGIL_E_TLS, "", "relay r:7443: TLS failure while we were waiting for an alert: "
		  "decryption failed or bad record mac", 0 },
		{ VIGIL_E_TLS, "", "relay r:7443: TLS failure while we were waiting for the welcome: "
		  "sslv3 alert certificate revoked", 1 },
		{ VIGIL_E_TLS, "", "relay r:7443: TLS failure while we were waiting for the welcome: "
		  "tlsv1 alert unknown ca", 1 },
		{ VIGIL_E_TLS, "", "relay r:7443: TLS failure while we were waiting for the welcome: "
		  "sslv3 alert handshake failure", 1 },
		{ VIGIL_E_TLS, "", "TLS handshake with relay r:7443 failed: its certificate does not "
		  "verify: certificate has expired", 1 },
		{ VIGIL_E_TLS, "", "TLS handshake with relay r:7443 failed: it did not select ALPN "
		  "protocol \"vigil/1\"", 1 },
		{ VIGIL_E_REFUSED, "UNAVAILABLE", "cannot read the alerts", 0 },
		{ VIGIL_E_REFUSED, "INTERNAL", "relay fault", 0 },
		{ VIGIL_E_REFUSED, "BAD_REQUEST", "position 9 is beyond the log (size 5)", 1 },
		{ VIGIL_E_REFUSED, "PERMISSION_DENIED", "no", 1 },
		{ VIGIL_E_VERIFY, "", "alert at position 9: the inclusion proof does not lead to the "
		  "checkpoint's root", 1 },
		{ VIGIL_E_IO, "", "cannot load private key k.key", 1 },
		{ VIGIL_E_USAGE, "", "a desk is 1-32 of a-z 0-9 -", 1 },
		{ VIGIL_E_NOMEM, "", "out of memory", 1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vigil_error e;
		memset(&e, 0, sizeof(e));
		e.status = cases[i].status;
		snprintf(e.relay_code_name, sizeof(e.relay_code_name), "%s", cases[i].code);
		snprintf(e.message, sizeof(e.message), "%s", cases[i].message);
		if (retry_permanent(&e) != cases[i].permanent)
			fail_msg("%s: %s", cases[i].message,
				 cases[i].permanent ? "should end the follower" : "should be retried");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delays),
		cmocka_unit_test(test_reset_after_a_stable_connection),
		cmocka_unit_test(test_permanent),
	};
	return cmocka_run_group_tests_name("retry", tests, NULL, NULL);
}
