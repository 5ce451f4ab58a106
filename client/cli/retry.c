/*
 * retry.c - what "vigil alerts --follow" does after a failure: whether a
 * new attempt can help, and how long to wait before it.
 *
 * These are decisions only, functions of the failure, the attempt count
 * and the time they are given: no socket, no clock and no random source
 * inside, so that tests/unit/test_retry.c checks them with tables and a
 * fake clock.  alerts.c carries them out.
 */
#include <string.h>

#include "cli.h"

int retry_delay_ms(unsigned attempt, uint32_t rnd)
{
	int64_t base = RETRY_FIRST_MS;
	for (unsigned i = 0; i < attempt && base < RETRY_CAP_MS; i++)
		base *= 2;
	if (base > RETRY_CAP_MS)
		base = RETRY_CAP_MS;
	/* rnd spread evenly over [-RETRY_JITTER_PCT %, +RETRY_JITTER_PCT %]. */
	int64_t span = base * 2 * RETRY_JITTER_PCT / 100;
	int64_t low = base - span / 2;
	return (int)(low + (int64_t)(((uint64_t)rnd * (uint64_t)(span + 1)) >> 32));
}

void retry_connected(struct retry *r, int64_t now_ms)
{
	r->connected = 1;
	r->connected_at_ms = now_ms;
}

int retry_next_ms(struct retry *r, int64_t now_ms, uint32_t rnd)
{
	/* A connection that held for a while was no part of the trouble:
	 * the next loss starts again from the first delay.  One that broke
	 * soon after it was made (a relay that crashes on start, a load
	 * balancer that accepts and drops) goes on backing off. */
	if (r->connected && now_ms - r->connected_at_ms >= RETRY_STABLE_MS)
		r->attempt = 0;
	r->connected = 0;
	int ms = retry_delay_ms(r->attempt, rnd);
	if (r->attempt < 64)
		r->attempt++;
	return ms;
}

/* Whether an OpenSSL reason string in msg says the relay sent a TLS alert
 * ("sslv3 alert certificate revoked", "tlsv1 alert unknown ca", "tlsv13
 * alert certificate required", "ssl/tls alert handshake failure"): the
 * relay looked at our certificate and said no. */
static int says_tls_alert(const char *msg)
{
	static const char *const kinds[] = { "sslv3 alert ", "tlsv1 alert ", "tlsv13 alert ",
					     "ssl/tls alert " };
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strstr(msg, kinds[i]))
			return 1;
	return 0;
}

int retry_permanent(const struct vigil_error *err)
{
	switch (err->status) {
	case VIGIL_E_CONNECT:
		/* Connection refused (the relay is down), unreachable, a name
		 * that does not resolve now, a timeout. */
		return 0;
	case VIGIL_E_PROTOCOL:
		/* The relay closed or lost the connection (a restart, a drain,
		 * its connection cap), or said something we did not expect on
		 * this connection; a new one starts from a clean state. */
		return 0;
	case VIGIL_E_TLS:
		/* Permanent when either side refused the other's certificate:
		 * the relay sent an alert (our certificate is revoked, expired,
		 * not of a member), its certificate does not verify for us, or it
		 * does not speak our protocol.  A handshake the relay broke off
		 * without a word (a restart, an overload) is worth another try. */
		return says_tls_alert(err->message) || strstr(err->message, "does not verify") ||
		       strstr(err->message, "ALPN");
	case VIGIL_E_REFUSED:
		/* The relay's own "retry later" answers. */
		return strcmp(err->relay_code_name, "UNAVAILABLE") != 0 &&
		       strcmp(err->relay_code_name, "INTERNAL") != 0;
	default:
		/* A delivery that does not verify (VIGIL_E_VERIFY), a local file
		 * or key (VIGIL_E_IO), a usage error, out of memory. */
		return 1;
	}
}
