#include "daemon/tls.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "daemon/identity.h"
#include "daemon/log.h"

/* The SSL_CTX ex_data slot holding the member directory (a reference,
 * released when the context is freed). */
static int directory_idx = -1;
/* The SSL ex_data slot the verify callback marks (non-NULL) when it
 * refuses an organisation the directory does not list (tls_refusal_of). */
static int nonmember_idx = -1;

static void directory_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			      void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	const struct directory *d = ptr;
	directory_release(&d);
}

const char *tls_last_error(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	if (e == 0)
		snprintf(buf, len, "unknown TLS error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/*
 * Chain verification is OpenSSL's; on top of it the leaf's subject must be
 * a vigil identity of a member, with the role and country the directory
 * gives it.  Refusing here makes the handshake fail with an alert, so a
 * peer without a usable identity never reaches the frame layer.
 */
static int verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	char *why = ssl ? SSL_get_app_data(ssl) : NULL;
	int depth = X509_STORE_CTX_get_error_depth(xs);
	if (!ok) {
		if (why && !why[0])
			snprintf(why, TLS_WHY_LEN, "certificate at depth %d: %s", depth,
				 X509_verify_cert_error_string(X509_STORE_CTX_get_error(xs)));
		return 0;
	}
	if (depth != 0)
		return 1;
	struct identity id;
	char reason[TLS_WHY_LEN];
	if (identity_from_cert(X509_STORE_CTX_get_current_cert(xs), &id, reason, sizeof(reason)) != 0) {
		if (why)
			snprintf(why, TLS_WHY_LEN, "%s", reason);
		X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	/* A directory never changes (a reload makes a new context): no lock. */
	const struct directory *dir =
		ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), directory_idx) : NULL;
	if (directory_admit(dir, id.org, id.role, id.country, reason, sizeof(reason)) != 0) {
		if (why)
			snprintf(why, TLS_WHY_LEN, "%s", reason);
		if (ssl && !directory_find(dir, id.org))
			SSL_set_ex_data(ssl, nonmember_idx, (void *)1);
		X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	return 1;
}

enum tls_refusal tls_refusal_classify(long verify_error, int not_member, int ssl_reason)
{
	switch (verify_error) {
	case X509_V_OK:
	case X509_V_ERR_APPLICATION_VERIFICATION:
		/* The chain was fine or never looked at: the handshake or
		 * the identity check failed. */
		break;
	case X509_V_ERR_CERT_REVOKED:
		return TLS_REFUSED_REVOKED;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return TLS_REFUSED_EXPIRED;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
	case X509_V_ERR_INVALID_CA:
	case X509_V_ERR_INVALID_NON_CA:
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
	case X509_V_ERR_INVALID_PURPOSE:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_CERT_REJECTED:
	case X509_V_ERR_SUBJECT_ISSUER_MISMATCH:
	case X509_V_ERR_AKID_SKID_MISMATCH:
	case X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH:
	case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
		return TLS_REFUSED_UNTRUSTED;
	default:
		/* A certificate not valid yet, a CRL that cannot be found or
		 * has expired (the relay's side), a malformed certificate. */
		return TLS_REFUSED_OTHER;
	}
	if (not_member)
		return TLS_REFUSED_UNKNOWN_ORGANISATION;
	if (verify_error == X509_V_OK && ssl_reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		return TLS_REFUSED_NO_CERTIFICATE;
	/* A subject that is no vigil identity, OU or C disagreeing with the
	 * directory, no ALPN, no common key exchange group, garbage. */
	return TLS_REFUSED_OTHER;
}

const char *tls_refusal_name(enum tls_refusal r)
{
	static const char *const names[TLS_REFUSALS] = {
		[TLS_REFUSED_NO_CERTIFICATE] = "no_certificate",
		[TLS_REFUSED_UNTRUSTED] = "untrusted",
		[TLS_REFUSED_REVOKED] = "revoked",
		[TLS_REFUSED_EXPIRED] = "expired",
		[TLS_REFUSED_UNKNOWN_ORGANISATION] = "unknown_organisation",
		[TLS_REFUSED_TIMEOUT] = "timeout",
		[TLS_REFUSED_OTHER] = "other",
	};
	return (unsigned)r < TLS_REFUSALS ? names[r] : "other";
}

enum tls_refusal tls_refusal_of(SSL *ssl, unsigned long err)
{
	int reason = ERR_GET_LIB(err) == ERR_LIB_SSL ? ERR_GET_REASON(err) : 0;
	return tls_refusal_classify(SSL_get_verify_result(ssl),
				    SSL_get_ex_data(ssl, nonmember_idx) != NULL, reason);
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char want[] = "vigil/1";
	const unsigned int wlen = sizeof(want) - 1;
	for (unsigned int i = 0; i < inlen;) {
		unsigned int n = in[i];
		if (i + 1 + n > inlen)
			break;
		if (n == wlen && memcmp(in + i + 1, want, wlen) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	char *why = SSL_get_app_data(ssl);
	if (why && !why[0])
		snprintf(why, TLS_WHY_LEN, "client does not offer ALPN %s", TLS_ALPN);
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

#define CRL_WARN_DAYS 7

/*
 * An expired CRL makes OpenSSL refuse every peer ("CRL has expired"), so it
 * is a start-up error, with its date; one that expires within a week is
 * worth a warning while there is time to renew it.
 */
static int crl_fresh(const X509_CRL *crl, const struct config *cfg, char *err, size_t err_len)
{
	const char *path = cfg->tls_crl;
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	if (!next)
		return 0; /* no next update promised: it does not expire */
	struct tm tm;
	char when[32] = "an unreadable date";
	if (ASN1_TIME_to_tm(next, &tm) == 1)
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	int days = 0, secs = 0;
	if (!ASN1_TIME_diff(&days, &secs, NULL, next)) {
		config_key_error(cfg, "tls", "crl", err, err_len,
				 "CRL %s: cannot read its next update time", path);
		return -1;
	}
	if (days < 0 || secs < 0) {
		config_key_error(cfg, "tls", "crl", err, err_len,
				 "CRL %s expired on %s (its next update); every peer would be "
				 "refused: install a fresh CRL", path, when);
		return -1;
	}
	if (days < CRL_WARN_DAYS)
		log_warn("CRL %s expires on %s, in less than %d days: renew it before then", path,
			 when, CRL_WARN_DAYS);
	return 0;
}

static int load_crl(X509_STORE *store, const struct config *cfg, char *err, size_t err_len)
{
	const char *path = cfg->tls_crl;
	FILE *f = fopen(path, "r");
	if (!f) {
		config_key_error(cfg, "tls", "crl", err, err_len, "cannot open CRL %s", path);
		return -1;
	}
	int n = 0;
	X509_CRL *crl;
	while ((crl = PEM_read_X509_CRL(f, NULL, NULL, NULL)) != NULL) {
		if (crl_fresh(crl, cfg, err, err_len) != 0) {
			X509_CRL_free(crl);
			fclose(f);
			return -1;
		}
		int ok = X509_STORE_add_crl(store, crl);
		X509_CRL_free(crl);
		if (!ok) {
			fclose(f);
			config_key_error(cfg, "tls", "crl", err, err_len, "cannot add CRL from %s",
					 path);
			return -1;
		}
		n++;
	}
	fclose(f);
	ERR_clear_error(); /* the end of the PEM file leaves an error behind */
	if (n == 0) {
		config_key_error(cfg, "tls", "crl", err, err_len, "no CRL found in %s", path);
		return -1;
	}
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	return 0;
}

SSL_CTX *tls_ctx_new(const struct config *cfg, const struct directory *dir, char *err,
		     size_t err_len)
{
	char ebuf[256];
	/* Called first at start-up, before any other thread exists. */
	if (directory_idx < 0)
		directory_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, directory_ex_free);
	if (nonmember_idx < 0)
		nonmember_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (directory_idx < 0 || nonmember_idx < 0) {
		snprintf(err, err_len, "%s:0: [tls] SSL_CTX_get_ex_new_index: %s", cfg->path,
			 tls_last_error(ebuf, sizeof(ebuf)));
		return NULL;
	}
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		snprintf(err, err_len, "%s:0: [tls] SSL_CTX_new: %s", cfg->path,
			 tls_last_error(ebuf, sizeof(ebuf)));
		return NULL;
	}
	if (SSL_CTX_set_ex_data(ctx, directory_idx, (void *)directory_ref(dir)) != 1) {
		directory_release(&dir);
		snprintf(err, err_len, "%s:0: [tls] SSL_CTX_set_ex_data: %s", cfg->path,
			 tls_last_error(ebuf, sizeof(ebuf)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	/* Tickets would let a revoked peer resume; vigil sessions are long-lived
	 * so full handshakes cost little. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	/* Key exchange on elliptic curves only: a finite-field group (ffdhe2048
	 * to ffdhe8192) costs the loop up to ~120 ms of CPU per handshake, before
	 * the peer has shown any certificate.  A ClientHello that offers nothing
	 * else fails at once with handshake_failure. */
	if (SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
		snprintf(err, err_len, "cannot set key exchange groups %s: %s", TLS_GROUPS,
			 tls_last_error(ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		config_key_error(cfg, "tls", "cert", err, err_len, "cannot load certificate %s: %s",
				 cfg->tls_cert, tls_last_error(ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
		config_key_error(cfg, "tls", "key", err, err_len, "cannot load key %s: %s",
				 cfg->tls_key, tls_last_error(ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		config_key_error(cfg, "tls", "key", err, err_len,
				 "key %s does not match certificate %s", cfg->tls_key, cfg->tls_cert);
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1) {
		config_key_error(cfg, "tls", "ca", err, err_len, "cannot load CA %s: %s", cfg->tls_ca,
				 tls_last_error(ebuf, sizeof(ebuf)));
		goto fail;
	}
	STACK_OF(X509_NAME) *cas = SSL_load_client_CA_file(cfg->tls_ca);
	if (cas)
		SSL_CTX_set_client_CA_list(ctx, cas);
	if (cfg->tls_crl && load_crl(SSL_CTX_get_cert_store(ctx), cfg, err, err_len) != 0)
		goto fail;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
	SSL_CTX_set_verify_depth(ctx, 4);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

const struct directory *tls_ctx_directory(SSL_CTX *ctx)
{
	return SSL_CTX_get_ex_data(ctx, directory_idx);
}

int tls_peer_check(SSL_CTX *ctx, X509 *leaf, STACK_OF(X509) *chain, char *why, size_t why_len)
{
	enum tls_refusal kind;
	return tls_peer_check_class(ctx, leaf, chain, why, why_len, &kind);
}

int tls_peer_check_class(SSL_CTX *ctx, X509 *leaf, STACK_OF(X509) *chain, char *why,
			 size_t why_len, enum tls_refusal *kind)
{
	*kind = TLS_REFUSED_OTHER;
	X509_STORE_CTX *xs = X509_STORE_CTX_new();
	if (!xs || X509_STORE_CTX_init(xs, SSL_CTX_get_cert_store(ctx), leaf, chain) != 1) {
		X509_STORE_CTX_free(xs);
		ERR_clear_error();
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	/* As the handshake verifies a client: purpose sslclient, depth 4. */
	X509_STORE_CTX_set_default(xs, "ssl_client");
	X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(xs), 4);
	int ok = X509_verify_cert(xs) == 1;
	if (!ok) {
		snprintf(why, why_len, "certificate at depth %d: %s", X509_STORE_CTX_get_error_depth(xs),
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(xs)));
		*kind = tls_refusal_classify(X509_STORE_CTX_get_error(xs), 0, 0);
	}
	X509_STORE_CTX_free(xs);
	ERR_clear_error();
	if (!ok)
		return -1;
	struct identity id;
	if (identity_from_cert(leaf, &id, why, why_len) != 0)
		return -1;
	const struct directory *dir = tls_ctx_directory(ctx);
	if (directory_admit(dir, id.org, id.role, id.country, why, why_len) != 0) {
		*kind = tls_refusal_classify(X509_V_ERR_APPLICATION_VERIFICATION,
					     !directory_find(dir, id.org), 0);
		return -1;
	}
	return 0;
}

int64_t tls_cert_expiry_ms(X509 *x)
{
	struct tm tm;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
		return 0;
	time_t t = timegm(&tm);
	return t == (time_t)-1 ? 0 : (int64_t)t * 1000;
}
