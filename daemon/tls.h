/*
 * tls.h - the relay's TLS context: TLS 1.3 only, a client certificate is
 * required and verified against the configured CA (and CRL), the client's
 * subject must carry a valid identity (identity.h) of a member whose role
 * and country agree with the member directory (directory.h), ALPN must be
 * "vigil/1", and the key exchange is X25519 or P-256 (TLS_GROUPS) only.
 *
 * Each SSL made from the context must carry, as its app data, a buffer of
 * TLS_WHY_LEN bytes: the verify callback writes why it refused a peer there.
 */
#ifndef VIGIL_DAEMON_TLS_H
#define VIGIL_DAEMON_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "daemon/config.h"
#include "daemon/directory.h"

#define TLS_ALPN "vigil/1"
#define TLS_WHY_LEN 192
/* The key exchange groups the relay accepts, in its order of preference. */
#define TLS_GROUPS "X25519:P-256"

/*
 * Builds a server context from cfg.  NULL with a reason in err on failure,
 * as "FILE:LINE: [tls] KEY: ..." naming the line of the key whose file is
 * at fault (config_key_error()).
 * The verify callback admits only members of dir: the context holds a
 * reference to it (directory_ref), released when the context is freed.
 * Thread-safe after the first call (a reload builds one on the thread
 * pool).
 */
SSL_CTX *tls_ctx_new(const struct config *cfg, const struct directory *dir, char *err,
		     size_t err_len);

/* The member directory a context admits by. */
const struct directory *tls_ctx_directory(SSL_CTX *ctx);

/*
 * Checks a peer's certificate again as a handshake with ctx would now:
 * the chain (leaf and the certificates the peer sent) against ctx's CA and
 * CRL at the current time, and the leaf's identity against ctx's
 * directory.  0, or -1 with the reason in why, e.g. "certificate at depth
 * 0: certificate revoked" or "organisation x is not a member".  Any
 * thread.
 */
int tls_peer_check(SSL_CTX *ctx, X509 *leaf, STACK_OF(X509) *chain, char *why, size_t why_len);

/*
 * tls_peer_check() for a certificate that a context may see many times (a
 * session ticket's, tickets.h), remembering the certificates that passed:
 * ctx's CA, CRL and directory never change (a reload makes a new
 * context), so only the time can change the answer for the same
 * certificate, and a remembered pass holds until the earliest notAfter of
 * its verified chain or nextUpdate of ctx's CRLs, whichever comes first.
 * The memory is bounded (TLS_RECHECK_SLOTS certificates, the newest
 * kept).  Loop thread only.
 */
#define TLS_RECHECK_SLOTS 1024
int tls_peer_recheck(SSL_CTX *ctx, X509 *leaf, STACK_OF(X509) *chain, char *why, size_t why_len);

/*
 * Why a handshake was refused, as the metrics count it
 * (vigil_handshakes_refused_total{reason}).  Pure: from the chain's X509
 * verify error (X509_V_OK when it verified or was never checked), whether
 * the verify callback refused an organisation the directory does not list,
 * and the OpenSSL reason code of the failure (ERR_GET_REASON; 0 none).
 * A refusal the handshake itself never saw (the handshake timeout, the
 * peer gone) is the caller's to name.
 */
enum tls_refusal {
	TLS_REFUSED_NO_CERTIFICATE,       /* the client sent no certificate */
	TLS_REFUSED_UNTRUSTED,            /* no chain to the CA, or a bad signature in it */
	TLS_REFUSED_REVOKED,              /* on the CRL */
	TLS_REFUSED_EXPIRED,              /* past its notAfter (or one in its chain) */
	TLS_REFUSED_UNKNOWN_ORGANISATION, /* a valid certificate of a non-member */
	TLS_REFUSED_TIMEOUT,              /* not finished within handshake_timeout */
	TLS_REFUSED_OTHER,                /* the rest (see tls.c) */
	TLS_REFUSALS
};
enum tls_refusal tls_refusal_classify(long verify_error, int not_member, int ssl_reason);
/* "no_certificate", "untrusted", ...: the metric's label value. */
const char *tls_refusal_name(enum tls_refusal r);
/* The class of a handshake that failed on ssl; err is the last error of
 * the thread's OpenSSL error queue (ERR_peek_last_error), read before the
 * queue is cleared. */
enum tls_refusal tls_refusal_of(SSL *ssl, unsigned long err);
/* tls_peer_check(), and the class of its refusal in *kind. */
int tls_peer_check_class(SSL_CTX *ctx, X509 *leaf, STACK_OF(X509) *chain, char *why,
			 size_t why_len, enum tls_refusal *kind);

/* A certificate's notAfter in ms since the epoch (0 when unreadable). */
int64_t tls_cert_expiry_ms(X509 *x);

/* The last OpenSSL error of this thread as text (clears the error queue). */
const char *tls_last_error(char *buf, size_t len);

#endif
