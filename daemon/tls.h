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
 * The verify callback admits only members of dir: the context keeps the
 * pointer (not a copy), so dir must outlive it.
 */
SSL_CTX *tls_ctx_new(const struct config *cfg, const struct directory *dir, char *err,
		     size_t err_len);

/* The last OpenSSL error of this thread as text (clears the error queue). */
const char *tls_last_error(char *buf, size_t len);

#endif
