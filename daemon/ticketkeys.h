/*
 * ticketkeys.h - the schedule of the keys that seal TLS 1.3 session
 * tickets, and the age rule of a ticket: pure functions of the keys, the
 * time and the ticket lifetime (no clock, no randomness, no OpenSSL).
 * daemon/tickets.c feeds them the time and fresh random key material.
 *
 * One key is current: it seals every new ticket.  It becomes retired when
 * it is half a lifetime old (a fresh key takes its place) and is kept,
 * for opening tickets only, one lifetime longer: the last ticket it
 * sealed has expired by then.  So at most three keys exist at a time and
 * none lives more than two lifetimes; a key that is dropped is wiped.
 *
 * A ticket is accepted for at most one lifetime after it was issued,
 * whatever key sealed it; a ticket "issued" more than TICKETKEYS_SKEW_MS
 * in the future (the clock stepped back) is not accepted either.
 *
 * Times are milliseconds on one clock (the relay uses the wall clock);
 * lifetimes are > 0.
 */
#ifndef VIGIL_DAEMON_TICKETKEYS_H
#define VIGIL_DAEMON_TICKETKEYS_H

#include <stddef.h>
#include <stdint.h>

#define TICKETKEYS_NAME_LEN 16
#define TICKETKEYS_AES_LEN 32  /* AES-256-CBC */
#define TICKETKEYS_HMAC_LEN 32 /* HMAC-SHA256 */
/* Random bytes one new key needs: name, cipher key, MAC key. */
#define TICKETKEYS_MATERIAL (TICKETKEYS_NAME_LEN + TICKETKEYS_AES_LEN + TICKETKEYS_HMAC_LEN)
#define TICKETKEYS_MAX 4
#define TICKETKEYS_SKEW_MS 1000

struct ticketkey {
	uint8_t name[TICKETKEYS_NAME_LEN];
	uint8_t aes[TICKETKEYS_AES_LEN];
	uint8_t hmac[TICKETKEYS_HMAC_LEN];
	int64_t created_ms;
	int64_t retired_ms; /* when it stopped sealing; 0 while current */
};

/* keys[0] is the current key (when n > 0), the others retired, newest
 * first. */
struct ticketkeys {
	struct ticketkey keys[TICKETKEYS_MAX];
	size_t n;
};

/* Starts the ring with one key made of material, created at now. */
void ticketkeys_init(struct ticketkeys *k, int64_t now_ms,
		     const uint8_t material[TICKETKEYS_MATERIAL]);

/* 1 when ticketkeys_rotate() has something to do at now: the current key
 * is half a lifetime old, or a retired key is due to be dropped. */
int ticketkeys_due(const struct ticketkeys *k, int64_t now_ms, uint64_t lifetime_ms);

/* Retires the current key once it is half a lifetime old, putting a key
 * made of material in its place (material NULL: keeps it, e.g. when no
 * random bytes could be had), and drops (wipes) the retired keys whose
 * tickets have all expired.  Returns 1 when a new key became current. */
int ticketkeys_rotate(struct ticketkeys *k, int64_t now_ms, uint64_t lifetime_ms,
		      const uint8_t *material);

/* Milliseconds from now until ticketkeys_due() becomes 1 (0: already). */
uint64_t ticketkeys_next_ms(const struct ticketkeys *k, int64_t now_ms, uint64_t lifetime_ms);

/* The key of that name that may still open tickets at now, or NULL
 * (unknown, dropped, or retired for more than a lifetime). */
const struct ticketkey *ticketkeys_find(const struct ticketkeys *k,
					const uint8_t name[TICKETKEYS_NAME_LEN], int64_t now_ms,
					uint64_t lifetime_ms);

/* 1 when a ticket issued at issued_ms may still be used at now. */
int ticketkeys_age_ok(int64_t issued_ms, int64_t now_ms, uint64_t lifetime_ms);

/* Wipes every key. */
void ticketkeys_wipe(struct ticketkeys *k);

#endif
