/*
 * How a refused handshake is counted (tls_refusal_classify in
 * daemon/tls.c, vigil_handshakes_refused_total{reason}): a table of the
 * verify errors and handshake failures the relay sees.  The integration
 * test test_metrics checks the same with real certificates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "daemon/tls.h"

static void test_classify(void **state)
{
	(void)state;
	static const struct {
		long verify;
		int not_member;
		int reason;
		enum tls_refusal want;
	} cases[] = {
		/* The client sent no certificate: OpenSSL stops before verifying. */
		{ X509_V_OK, 0, SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE, TLS_REFUSED_NO_CERTIFICATE },
		{ X509_V_ERR_CERT_REVOKED, 0, SSL_R_CERTIFICATE_VERIFY_FAILED, TLS_REFUSED_REVOKED },
		{ X509_V_ERR_CERT_HAS_EXPIRED, 0, SSL_R_CERTIFICATE_VERIFY_FAILED,
		  TLS_REFUSED_EXPIRED },
		{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 0, SSL_R_CERTIFICATE_VERIFY_FAILED,
		  TLS_REFUSED_UNTRUSTED },
		{ X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, 0, 0, TLS_REFUSED_UNTRUSTED },
		{ X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, 0, 0, TLS_REFUSED_UNTRUSTED },
		{ X509_V_ERR_CERT_SIGNATURE_FAILURE, 0, 0, TLS_REFUSED_UNTRUSTED },
		{ X509_V_ERR_INVALID_PURPOSE, 0, 0, TLS_REFUSED_UNTRUSTED },
		/* The chain is fine; the directory does not list the organisation. */
		{ X509_V_ERR_APPLICATION_VERIFICATION, 1, SSL_R_CERTIFICATE_VERIFY_FAILED,
		  TLS_REFUSED_UNKNOWN_ORGANISATION },
		/* A member whose OU or C disagree, a subject that is no identity. */
		{ X509_V_ERR_APPLICATION_VERIFICATION, 0, SSL_R_CERTIFICATE_VERIFY_FAILED,
		  TLS_REFUSED_OTHER },
		/* A chain error wins over the application's flag. */
		{ X509_V_ERR_CERT_REVOKED, 1, 0, TLS_REFUSED_REVOKED },
		/* Not yet valid, a CRL the relay lacks or let expire. */
		{ X509_V_ERR_CERT_NOT_YET_VALID, 0, 0, TLS_REFUSED_OTHER },
		{ X509_V_ERR_UNABLE_TO_GET_CRL, 0, 0, TLS_REFUSED_OTHER },
		{ X509_V_ERR_CRL_HAS_EXPIRED, 0, 0, TLS_REFUSED_OTHER },
		/* No ALPN, no common group, garbage: the chain never came up. */
		{ X509_V_OK, 0, SSL_R_NO_APPLICATION_PROTOCOL, TLS_REFUSED_OTHER },
		{ X509_V_OK, 0, SSL_R_NO_SUITABLE_KEY_SHARE, TLS_REFUSED_OTHER },
		{ X509_V_OK, 0, SSL_R_WRONG_VERSION_NUMBER, TLS_REFUSED_OTHER },
		{ X509_V_OK, 0, 0, TLS_REFUSED_OTHER },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum tls_refusal got = tls_refusal_classify(cases[i].verify, cases[i].not_member,
							    cases[i].reason);
		if (got != cases[i].want)
			fail_msg("case %zu: %s, expected %s", i, tls_refusal_name(got),
				 tls_refusal_name(cases[i].want));
	}
}

static void test_names(void **state)
{
	(void)state;
	static const char *const want[TLS_REFUSALS] = {
		"no_certificate", "untrusted", "revoked", "expired", "unknown_organisation",
		"timeout", "other",
	};
	for (int i = 0; i < TLS_REFUSALS; i++)
		assert_string_equal(tls_refusal_name((enum tls_refusal)i), want[i]);
	assert_string_equal(tls_refusal_name(TLS_REFUSALS), "other");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
