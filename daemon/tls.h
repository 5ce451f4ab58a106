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

/* A certificate's notAfter in ms since the epoch (0 when unreadable). */
int64_t tls_cert_expiry_ms(X509 *x);

/* The last OpenSSL error of this thread as text (clears the error queue). */
const char *tls_last_error(char *buf, size_t len);

#endif
