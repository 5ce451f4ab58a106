/*
 * admission.h - pure: whether a new TCP connection is admitted to the
 * handshake pool, and whom it pushes out.  No sockets, no clock, no state:
 * conn.c counts, measures ages with the loop's clock and carries out the
 * decision.
 *
 * Glossary:
 *   unauthenticated  a connection in HANDSHAKE: it has not finished the TLS
 *                    handshake, so nobody knows who it is.  These form the
 *                    handshake pool ([listen] max_handshakes) and, per
 *                    peer address, [listen] max_handshakes_per_address.
 *   authenticated    a connection whose handshake completed with a member's
 *                    certificate, from then until it is freed (including
 *                    its closing grace).  Only these count against
 *                    [listen] max_connections.
 *   protected        an unauthenticated connection younger than the
 *                    protection time (admission_protect_ms): it is never
 *                    pushed out, so a flood cannot cut short the handshake
 *                    of a client that just got in.
 *
 * The rule, in order (the first that applies decides):
 *   1. max_connections authenticated connections are open: refuse (reset);
 *      a handshake would only be refused at its end.
 *   2. The new peer's address has max_handshakes_per_address
 *      unauthenticated connections: close the oldest of them if it is not
 *      protected, else refuse the new one.  One address can only churn its
 *      own slots, never another address's.
 *   3. The pool holds max_handshakes: close the oldest unauthenticated
 *      connection if it is not protected, else refuse the new one.
 *   4. Admit.
 * Authenticated connections are never closed to make room.
 */
#ifndef VIGIL_DAEMON_ADMISSION_H
#define VIGIL_DAEMON_ADMISSION_H

#include <stdint.h>

enum admission {
	ADMIT,                  /* room in every limit */
	ADMIT_EVICT_ADDRESS,    /* close the oldest unauthenticated one of this address */
	ADMIT_EVICT_OLDEST,     /* close the oldest unauthenticated one of all */
	REFUSE_CONNECTIONS,     /* max_connections authenticated connections open */
	REFUSE_ADDRESS,         /* this address's slots are all protected */
	REFUSE_POOL,            /* the pool is full of protected connections */
};

/* What conn.c sees at accept time.  Ages are of the oldest unauthenticated
 * connection (of all, of this address); meaningless when the count is 0. */
struct admission_view {
	unsigned authenticated, max_connections;
	unsigned handshakes, max_handshakes;
	unsigned address_handshakes, max_per_address;
	uint64_t oldest_age_ms, address_oldest_age_ms;
	uint64_t protect_ms;
};

enum admission admission_decide(const struct admission_view *v);

/* How long a new unauthenticated connection cannot be pushed out: a tenth
 * of handshake_timeout, at most 1 s (enough for a handshake across the
 * world: one round trip and a few milliseconds of CPU). */
uint64_t admission_protect_ms(uint64_t handshake_timeout_ms);

/* Short text for the log. */
const char *admission_name(enum admission a);

#endif
