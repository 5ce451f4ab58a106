/*
 * alertkit.h - alerts and their delivery in the integration tests
 * (test_alerts, test_watchdog_live): a subscriber over the raw TLS client of
 * harness.h, the next delivered alert read and verified as evidence (the
 * relay's signature, the leaf hash, the signed checkpoint, the inclusion
 * proof) into a struct alertkit_got, delivery acknowledgements, the records
 * the alert tests submit (case openings, contact attempts, alert
 * acknowledgements), their answers, and bounded waits on the relay's
 * database and clock.
 *
 * Who owns what:
 * - the kit owns the relay's public key and the checkpoint verifier the
 *   deliveries are checked with: alertkit_load_keys and alertkit_free_keys
 *   are the cmocka group setup and teardown of a test that reads alerts;
 * - the caller owns each struct alertkit_sub (and its connection s->c,
 *   which it closes with tclient_close), every other struct tclient and
 *   the relay;
 * - a frame handed to alertkit_expect_* is freed by it; a frame returned by
 *   alertkit_contact_* or alertkit_alert_ack is the caller's to pass on or
 *   free (frame_free).
 *
 * Everything that checks fails the running cmocka test; every wait is
 * bounded by the milliseconds it is given.
 */
#ifndef VIGIL_TESTS_ALERTKIT_H
#define VIGIL_TESTS_ALERTKIT_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"

/* ---- the clock (the relay's: one machine) -------------------------------------------- */

/* Now, in milliseconds since the epoch (CLOCK_REALTIME, as the relay). */
int64_t alertkit_wall_ms(void);
/* Milliseconds from now until t, at least 1. */
int alertkit_until(int64_t t);
/* Waits until the relay's clock has certainly passed t. */
void alertkit_sleep_until(int64_t t);

/* ---- keys ------------------------------------------------------------------------------ */

/* Loads PKI_DIR/relay.crt and PKI_DIR/checkpoint.pub (origin vigil.test/log)
 * for alertkit_next_alert: 0, or -1 (cmocka group setup). */
int alertkit_load_keys(void **state);
/* Frees what alertkit_load_keys loaded: 0 (cmocka group teardown). */
int alertkit_free_keys(void **state);

/* ---- subscribing and reading deliveries -------------------------------------------------- */

struct alertkit_sub {
	struct tclient c;
	uint64_t rid;   /* the request id of the Subscribe: every delivery carries it */
	uint64_t acked; /* the position the relay had stored as acknowledged */
};

/* Opens s->c to the relay on port as cert and subscribes after the
 * position after; fails the test unless it is answered Subscribed.  s->c.fd
 * is -1 until the connection is open, so s may be closed at any point. */
void alertkit_subscribe(struct alertkit_sub *s, int port, const char *cert, uint64_t after);
/* Sends a DeliveryAck of position (the relay does not answer one). */
void alertkit_ack_delivery(struct alertkit_sub *s, uint64_t position);

/* A delivered alert or Erasure entry, verified as evidence. */
struct alertkit_got {
	int body;                 /* VIGIL__V1__RECORD__BODY_ALERT or _ERASURE */
	uint8_t record_id[RECORD_ID_LEN];
	uint64_t position;
	int64_t received_at_ms;   /* the relay's commit time */
	int64_t seen_at_ms;       /* when it reached the subscriber */
	/* An alert: */
	int kind, stage, police;
	char case_id[80];
	char resolution[24];
	uint8_t alert_id[RECORD_ID_LEN];
	char cause[24];
	int64_t last_success_ms;
	uint32_t failed_attempts;
	/* Both: */
	char recipients[8][80];
	size_t n_recipients;
	/* An Erasure: */
	int whole_record, reason;
	uint64_t erased[8];
	size_t n_erased;          /* all it names (erased holds the first 8) */
	uint8_t request_id[RECORD_ID_LEN];  /* zeros: none (retention) */
	char requested_by[80];
	char reference[80];
};

/* The next delivery within ms, or 0 when none came; fails the test on any
 * other frame and on a delivery that is not signed by the relay, not in
 * the log its signed checkpoint commits to, or not an alert by the relay. */
int alertkit_next_alert(struct alertkit_sub *s, int ms, struct alertkit_got *g);
/* The same for an alert or an Erasure entry by the relay (g->body says
 * which); anything else fails the test. */
int alertkit_next_delivery(struct alertkit_sub *s, int ms, struct alertkit_got *g);
/* The same, failing the test when none comes (what names the alert). */
void alertkit_must_alert(struct alertkit_sub *s, int ms, struct alertkit_got *g,
			 const char *what);
/* 1 when org is among g's recipients. */
int alertkit_has_recipient(const struct alertkit_got *g, const char *org);

/* ---- answers ---------------------------------------------------------------------------- */

/* a is a Receipt (the test fails with the error's message otherwise); frees a. */
void alertkit_expect_receipt(Vigil__V1__Frame *a);
/* The same; the relay's receive time from the receipt. */
int64_t alertkit_expect_receipt_at(Vigil__V1__Frame *a);
/* a is an Error with status (compared by wire name) and message msg; frees a. */
void alertkit_expect_error(Vigil__V1__Frame *a, int status, const char *msg);

/* ---- records ---------------------------------------------------------------------------- */

/* casekit_open by coord, which must be answered with a receipt. */
void alertkit_open_case(struct tclient *coord, const char *id, int risk, int minor,
			const char *const *parties, size_t n);
/* A ContactAttempt by c on channel with the given record time (client_ms)
 * and attempted_at (at_ms); the answer. */
Vigil__V1__Frame *alertkit_contact_dated(struct tclient *c, const char *case_id, int channel,
					 int outcome, int64_t client_ms, int64_t at_ms);
/* The same made now: record time and attempted_at are one reading of the
 * clock (casekit_contact's attempt is a minute old). */
Vigil__V1__Frame *alertkit_contact_now(struct tclient *c, const char *case_id, int channel,
				       int outcome);
/* An AlertAck by c of alert_id with decision (a reason unless the decision
 * is POLICE_REPORT_FILED); the answer. */
Vigil__V1__Frame *alertkit_alert_ack(struct tclient *c, const char *case_id,
				     const uint8_t alert_id[RECORD_ID_LEN], int decision);

/* ---- the database ----------------------------------------------------------------------- */

/* Waits (at most ms, polling every 50 ms) until the query on t's database
 * gives at least want; its last value. */
long long alertkit_db_wait(struct trelay *t, const char *sql, long long want, int ms);
/* The alert alert_id has exactly two entries in t's alerts table: its
 * raise (stage 1) at raised and its end (stage 0) at ended. */
void alertkit_expect_raise_and_end(struct trelay *t, const uint8_t alert_id[RECORD_ID_LEN],
				   uint64_t raised, uint64_t ended);

#endif
