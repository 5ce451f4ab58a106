/*
 * tickets.h - TLS 1.3 session resumption: stateless session tickets
 * sealed with keys that live in the relay's memory only (ticketkeys.h),
 * and the check that lets a ticket restore an identity only when its
 * certificate passes, now, what a full handshake would check.
 *
 * A ticket carries the session as OpenSSL seals it (the peer's leaf
 * certificate included) and, as its application data, the time it was
 * issued (ms since the epoch, big-endian) followed by the DER
 * certificates the peer sent above its leaf, if any.  When a client
 * offers one, before the relay answers its ClientHello:
 *   1. the key that sealed it must still be held (ticketkeys_find);
 *   2. it must be at most one lifetime old (ticketkeys_age_ok);
 *   3. the leaf and chain must pass tls_peer_recheck() with the context
 *      the handshake runs on: today's CA, CRL, expiry and member
 *      directory (a reload builds a new context, so a ticket issued
 *      before a reload is checked against what the reload loaded).
 * A ticket that fails any step is ignored: OpenSSL goes on with a full
 * handshake, which verifies the certificate again and, for a revoked or
 * removed organisation, fails with the usual alert and log line.
 *
 * A struct tickets is shared by the relay and every context it attaches
 * to (reference counted; a context releases its reference when freed).
 * The keys are used and rotated on the loop thread only; references may
 * be taken and released on any thread.
 */
#ifndef VIGIL_DAEMON_TICKETS_H
#define VIGIL_DAEMON_TICKETS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/* What happened to tickets (the metrics copy them on the loop thread). */
struct tickets_stats {
	uint64_t issued;          /* tickets sealed */
	uint64_t refused_key;     /* sealed by a key no longer held (or not ours) */
	uint64_t refused_expired; /* older than the lifetime */
	uint64_t refused_check;   /* the certificate failed the checks of today */
};

struct tickets;

/* The ring with one fresh key; NULL with the reason in err. */
struct tickets *tickets_new(char *err, size_t err_len);
struct tickets *tickets_ref(struct tickets *t);
/* Drops a reference and clears *t; the last one wipes the keys. */
void tickets_release(struct tickets **t);

/*
 * Makes ctx (a tls_ctx_new() context, which has tickets off) issue one
 * ticket per handshake, sealed with t's keys, valid lifetime_ms (the
 * lifetime hint is that, in whole seconds, at least 1), and check the
 * tickets clients offer as above.  0, or -1 with the reason in err.
 */
int tickets_attach(SSL_CTX *ctx, struct tickets *t, uint64_t lifetime_ms, char *err,
		   size_t err_len);

/* Rotates the keys when due (ticketkeys_rotate) at now; returns the ms
 * until the next rotation is due.  Loop thread. */
uint64_t tickets_rotate(struct tickets *t, int64_t now_ms, uint64_t lifetime_ms);

/* Keys held now (for the log and the tests). */
size_t tickets_keys(const struct tickets *t);
const struct tickets_stats *tickets_stats(const struct tickets *t);

/* The ticket lifetime of a context tickets_attach() set up, 0 when it has
 * none. */
uint64_t tickets_lifetime_ms(SSL_CTX *ctx);

#endif
