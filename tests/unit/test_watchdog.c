/*
 * The silence watchdog as a pure function (daemon/watchdog.c): every
 * transition with a fake clock, so "three days of silence" takes
 * microseconds.  The holes it once had each have a test of their own:
 * a future-dated success, INT64 extremes, an old success, the
 * acknowledgement that snoozed for good, the handover that left the new
 * responsible organisation out, the stalled-handover alert never resolved,
 * and parties addressed by their directory role.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "daemon/casestate.h"
#include "daemon/identity.h"
#include "daemon/watchdog.h"

#define SEC 1000LL
#define HOUR (3600 * SEC)
#define DAY (24 * HOUR)
#define T0 1795000000000LL /* 2026-11-18, the case is opened */

#define LOW VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW
#define MEDIUM VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM
#define HIGH VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH
#define PHONE VIGIL__V1__CHANNEL__CHANNEL_PHONE
#define SMS VIGIL__V1__CHANNEL__CHANNEL_SMS
#define SAFE VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE
#define NO_ANSWER VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER
#define SILENCE VIGIL__V1__ALERT_KIND__ALERT_KIND_SILENCE
#define FAILED VIGIL__V1__ALERT_KIND__ALERT_KIND_FAILED_ATTEMPTS
#define STALLED VIGIL__V1__ALERT_KIND__ALERT_KIND_HANDOVER_STALLED

static const struct watch_config wc = {
	.window_ms = { 0, 30 * DAY, 14 * DAY, 72 * HOUR },
	.failed_attempts = 3,
	.handover_window_ms = 72 * HOUR,
	.escalate_after_ms = 24 * HOUR,
	.max_clock_skew_ms = 5 * 60 * SEC,
};

static const uint8_t id1[RECORD_ID_LEN] = { 1 };
static const uint8_t id2[RECORD_ID_LEN] = { 2 };
static const uint8_t id3[RECORD_ID_LEN] = { 3 };
static const uint8_t offer[RECORD_ID_LEN] = { 0xf0 };

/* A high-risk case opened at T0 by the Stockholm coordinator, with police,
 * a shelter, IOM and a second coordinator as parties, by their directory
 * roles (none of them need ever have connected). */
static void opened(struct case_state *c, int risk)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->case_id, sizeof(c->case_id), "se-stockholm-coord/SE-2026-0042");
	snprintf(c->owner, sizeof(c->owner), "se-stockholm-coord");
	snprintf(c->responsible, sizeof(c->responsible), "se-stockholm-coord");
	c->state = VIGIL__V1__CASE_STATE__CASE_STATE_ACTIVE;
	c->risk = risk;
	casestate_add_party(c, "se-stockholm-coord", ROLE_COORDINATOR);
	casestate_add_party(c, "se-police-noa", ROLE_POLICE);
	casestate_add_party(c, "se-shelter-stockholm", ROLE_SHELTER);
	casestate_add_party(c, "iom-ru-moscow", ROLE_IOM);
	casestate_add_party(c, "se-malmo-coord", ROLE_COORDINATOR);
	watchdog_on_opened(c, T0);
}

static int has_recipient(const struct watch_event *ev, const char *org)
{
	for (size_t i = 0; i < ev->n_recipients; i++)
		if (strcmp(ev->recipients[i], org) == 0)
			return 1;
	return 0;
}

/* Runs the watchdog at now: the event, or fails when there is none. */
static void step(struct case_state *c, int64_t now, const uint8_t *new_id, struct watch_event *ev)
{
	assert_true(watchdog_next(&wc, c, now) <= now);
	assert_int_equal(watchdog_step(&wc, c, now, new_id, ev), 1);
}

static void quiet(struct case_state *c, int64_t now)
{
	struct watch_event ev;
	assert_int_equal(watchdog_step(&wc, c, now, id3, &ev), 0);
}

static void test_three_days_of_silence(void **state)
{
	(void)state;
	struct case_state c;
	opened(&c, HIGH);
	assert_int_equal(watchdog_next(&wc, &c, T0), T0 + 72 * HOUR);
	quiet(&c, T0 + 72 * HOUR - 1);
	struct watch_event ev;
	step(&c, T0 + 72 * HOUR, id1, &ev);
	assert_int_equal(ev.kind, SILENCE);
	assert_int_equal(ev.stage, 1);
	assert_true(ev.first);
	assert_memory_equal(ev.alert_id, id1, RECORD_ID_LEN);
	assert_int_equal(ev.deadline_ms, T0 + 72 * HOUR);
	assert_int_equal(ev.police, VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_NONE);
	/* Stage 1: responsible, coordinators and shelter; not police, not IOM. */
	assert_int_equal(ev.n_recipients, 3);
	assert_true(has_recipient(&ev, "se-stockholm-coord"));
	assert_true(has_recipient(&ev, "se-malmo-coord"));
	assert_true(has_recipient(&ev, "se-shelter-stockholm"));
	assert_false(has_recipient(&ev, "se-police-noa"));
	/* Nothing more until escalation. */
	assert_int_equal(watchdog_next(&wc, &c, T0 + 72 * HOUR), T0 + 96 * HOUR);
	quiet(&c, T0 + 96 * HOUR - 1);
}

static void test_windows_by_risk(void **state)
{
	(void)state;
	struct case_state c;
	opened(&c, MEDIUM);
	assert_int_equal(watchdog_next(&wc, &c, T0), T0 + 14 * DAY);
	opened(&c, LOW);
	assert_int_equal(watchdog_next(&wc, &c, T0), T0 + 30 * DAY);
}

static void test_escalation_adds_police_never_connected(void **state)
{
	(void)state;
	struct case_state c;
	opened(&c, HIGH);
	struct watch_event ev;
	step(&c, T0 + 72 * HOUR, id1, &ev);
	step(&c, T0 + 96 * HOUR, id2, &ev);
	assert_int_equal(ev.stage, 2);
	assert_false(ev.first);
	assert_memory_equal(ev.alert_id, id1, RECORD_ID_LEN);
	assert_true(has_recipient(&ev, "se-police-noa"));
	assert_true(has_recipient(&ev, "se-shelter-stockholm"));
	assert_int_equal(ev.police, VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_CONSIDER);
	assert_int_equal(watchdog_next(&wc, &c, T0 + 96 * HOUR), 0);
}

static void test_minor_goes_to_police_at_once(void **state)
{
	(void)state;
	struct case_state c;
	opened(&c, HIGH);
	c.minor = 1;
	struct watch_event ev;
	step(&c, T0 + 72 * HOUR, id1, &ev);
	assert_int_equal(ev.stage, 2);
	assert_int_equal(ev.police, VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_REQUIRED);
	assert_true(has_recipient(&ev, "se-police-noa"));
}

static void test_immediate_danger_escalates_open_alert_at_once(void **state)
{
	(void)state;
	struct case_state c;
	opened(&c, HIGH);
	struct watch_event ev;
	step(&c, T0 + 72 * HOUR, id1, &ev);
	assert_int_equal(ev.stage, 1);
	c.immediate_danger = 1; /* a risk assessment arrived */
	assert_int_equal(watchdog_next(&wc, &c, T0 + 73 * HOUR), T0 + 72 * HOUR);
	step(&c, T0 + 73 * HOUR, id2, &ev);
	assert_int_equal(ev.stage, 2);
}

static void test_future_success_counts_as_now(void **state)
{
	(void)state;
	struct case_state c;
	opened(&c, HIGH);
	/* A mistyped year, allowed through by a generous skew: it still counts
	 * only up to the relay's clock. */
	int64_t now = T0 + HOUR;
	watchdog_on_contact(&wc, &c, "iom-ru-moscow", PHONE, SAFE, now + 365 * DAY, now);
	assert_int_equal(c.last_success_ms, now);
	assert_int_equal(c.last_attempt_ms, now + 365 * DAY); /* shown as sent */
	assert_int_equal(watchdog_next(&wc, &c, now), now + 72 * HOUR);
	struct watch_event ev;
	step(&c, now + 72 * HOUR, id1, &ev);
	assert_int_equal(ev.kind, SILENCE);
}

static void test_int64_extremes(void **state)
{
	(void)state;
	struct case_state c;
	opened(&c, HIGH);
	int64_t now = T0 + HOUR;
	watchdog_on_contact(&wc, &c, "iom-ru-moscow", PHONE, SAFE, INT64_MAX, now);
	assert_int_equal(c.last_success_ms, now);
	watchdog_on_contact(&wc, &c, "iom-ru-moscow", PHONE, NO_ANSWER, INT64_MIN, now);
	assert_int_equal(watchdog_next(&wc, &c, now), now + 72 * HOUR);

	/* Saturating sums: no overflow, no deadline in the past. */
	assert_int_equal(watchdog_add(INT64_MAX, 1), INT64_MAX);
	assert_int_equal(watchdog_add(INT64_MAX - 5, 10), INT64_MAX);
	assert_int_equal(watchdog_add(1, UINT64_MAX), INT64_MAX);
	assert_int_equal(watchdog_add(-10, 5), -5);
	assert_int_equal(watchdog_add(INT64_MIN, 10), INT64_MIN + 10);

	struct watch_config huge = wc;
	huge.window_ms[3] = UINT64_MAX;
	huge.escalate_after_ms = UINT64_MAX;
	assert_int_equal(watchdog_deadline(&huge, &c), INT64_MAX);
	assert_int_equal(watchdog_next(&huge, &c, now), 0); /* never */
	struct watch_event ev;
	assert_int_equal(watchdog_step(&huge, &c, INT64_MAX - 1, id1, &ev), 0);

	/* A case opened at the end of time: deadlines saturate, nothing wraps. */
	opened(&c, HIGH);
	watchdog_on_opened(&c, INT64_MAX - 1);
	assert_int_equal(watchdog_deadline(&wc, &c), INT64_MAX);
	assert_int_equal(watchdog_next(&wc, &c, INT64_MAX - 1), 0);
}

static void test_old_success_resolves_nothing(void **state)
{
	(void)state;
	struct case_state c;
	opened(&c, HIGH);
	watchdog_on_contact(&wc, &c, "iom-ru-moscow", PHONE, SAFE, T0 + 10 * HOUR, T0 + 10 * HOUR);
	struct watch_event ev;
	int64_t due = T0 + 82 * HOUR;
	step(&c, due, id1, &ev);
	assert_int_equal(ev.kind, SILENCE);
	/* A success dated before the one the deadline is based on. */
	watchdog_on_contact(&wc, &c, "se-malmo-coord", PHONE, SAFE, T0 + 5 * HOUR, due + 1);
	assert_int_equal(c.last_success_ms, T0 + 10 * HOUR);
	assert_string_equal(c.alert.resolve, "");
	assert_int_equal(watchdog_next(&wc, &c, due + 1), due + 24 * HOUR);
	quiet(&c, due + 1);
	assert_int_equal(c.attempts, 2); /* stored and counted all the same */

	/* A newer one resolves the alert, once, to the stage-1 recipients. */
	watchdog_on_contact(&wc, &c, "iom-ru-moscow", PHONE, SAFE, due + 2, due + 3);
	step(&c, due + 3, id2, &ev);
	assert_int_equal(ev.stage, 0);
	assert_string_equal(ev.resolution, "contact");
	assert_memory_equal(ev.alert_id, id1, RECORD_ID_LEN);
	assert_true(has_recipient(&ev, "se-shelter-stockholm"));
	assert_false(has_recipient(&ev, "se-police-noa"));
	assert_int_equal(watchdog_next(&wc, &c, due + 3), due + 2 + 72 * HOUR);
	quiet(&c, due + 3);
}

static void test_old_failures_do_not_raise_early(void **state)
{
	(void)state;
	struct case_state c;
	opened(&c, HIGH);
	int64_t now = T0 + HOUR;
	/* Three failures, two organisations, but all dated before the opening. */
	watchdog_on_contact(&wc, &c, "iom-ru-moscow", PHONE, NO_ANSWER, T0 - 3 * HOUR, now);
	watchdog_on_contact(&wc, &c, "se-malmo-coord", SMS, NO_ANSWER, T0 - 2 * HOUR, now);
	watchdog_on_contact(&wc, &c, "iom-ru-moscow", PHONE, NO_ANSWER, T0 - HOUR, now);
	assert_int_equal(c.failed_attempts, 0);
	assert_int_equal(watchdog_next(&wc, &c, now), T0 + 72 * HOUR);
}

static void test_failed_attempts_raise_early(void **state)
{
	(void)state;
	struct case_state c;
	opened(&c, HIGH);
	int64_t now = T0 + HOUR;
	/* One organisation, one channel: not enough. */
	for (int i = 1; i <= 3; i++)
		watchdog_on_contact(&wc, &c, "iom-ru-moscow", PHONE, NO_ANSWER, now + i, now + i);
	assert_int_equal(watchdog_next(&wc, &c, now + 3), T0 + 72 * HOUR);
	/* A second organisation: early alert now. */
	watchdog_on_contact(&wc, &c, "se-malmo-coord", PHONE, NO_ANSWER, now + 4, now + 4);
	assert_int_equal(watchdog_next(&wc, &c, now + 4), now + 4);
	struct watch_event ev;
	step(&c, now + 4, id1, &ev);
	assert_int_equal(ev.kind, FAILED);
	assert_int_equal(ev.deadline_ms, 0);
	assert_int_equal(ev.failed_attempts, 4);

	/* Two channels by one organisation do it too. */
	opened(&c, HIGH);
	for (int i = 1; i <= 3; i++)
		watchdog_on_contact(&wc, &c, "iom-ru-moscow", i == 3 ? SMS : PHONE, NO_ANSWER,
				    now + i, now + i);
	assert_int_equal(watchdog_next(&wc, &c, now + 3), now + 3);
}

static void test_ack_rearms(void **state)
{
	(void)state;
	struct case_state c;
	opened(&c, HIGH);
	struct watch_event ev;
	int64_t raised = T0 + 72 * HOUR;
	step(&c, raised, id1, &ev);
	int64_t acked = raised + 2 * HOUR;
	watchdog_on_ack(&c, acked);
	/* No escalation of an acknowledged alert, but a new alert one window
	 * after the acknowledgement if the silence goes on. */
	assert_int_equal(watchdog_next(&wc, &c, acked), acked + 72 * HOUR);
	quiet(&c, acked + 72 * HOUR - 1);
	/* First the acknowledged alert ends, so that no alert id stays open
	 * for ever, to the recipients of its last stage... */
	step(&c, acked + 72 * HOUR, id2, &ev);
	assert_int_equal(ev.stage, 0);
	assert_string_equal(ev.resolution, "superseded");
	assert_memory_equal(ev.alert_id, id1, RECORD_ID_LEN);
	assert_true(has_recipient(&ev, "se-shelter-stockholm"));
	assert_false(has_recipient(&ev, "se-police-noa"));
	/* ... then the new alert, at the same moment. */
	step(&c, acked + 72 * HOUR, id2, &ev);
	assert_int_equal(ev.kind, SILENCE);
	assert_int_equal(ev.stage, 1);
	assert_true(ev.first);
	assert_memory_equal(ev.alert_id, id2, RECORD_ID_LEN);
	assert_string_equal(ev.cause, "after-ack");
	assert_int_equal(ev.deadline_ms, acked + 72 * HOUR);
	/* ... and it escalates as usual. */
	step(&c, acked + 96 * HOUR, id3, &ev);
	assert_int_equal(ev.stage, 2);
	assert_memory_equal(ev.alert_id, id2, RECORD_ID_LEN);

	/* A success after an acknowledgement resolves the acknowledged alert. */
	opened(&c, HIGH);
	step(&c, raised, id1, &ev);
	watchdog_on_ack(&c, acked);
	watchdog_on_contact(&wc, &c, "iom-ru-moscow", PHONE, SAFE, acked + 1, acked + 1);
	step(&c, acked + 1, id2, &ev);
	assert_string_equal(ev.resolution, "contact");
	assert_int_equal(watchdog_next(&wc, &c, acked + 1), acked + 1 + 72 * HOUR);
}

static void test_ack_resets_failures(void **state)
{
	(void)state;
	struct case_state c;
	opened(&c, HIGH);
	int64_t now = T0 + HOUR;
	watchdog_on_contact(&wc, &c, "iom-ru-moscow", PHONE, NO_ANSWER, now + 1, now + 1);
	watchdog_on_contact(&wc, &c, "se-malmo-coord", PHONE, NO_ANSWER, now + 2, now + 2);
	watchdog_on_contact(&wc, &c, "iom-ru-moscow", PHONE, NO_ANSWER, now + 3, now + 3);
	struct watch_event ev;
	step(&c, now + 3, id1, &ev);
	watchdog_on_ack(&c, now + 4);
	/* The failures that raised it do not raise the next one at once. */
	assert_int_equal(watchdog_next(&wc, &c, now + 4), now + 4 + 72 * HOUR);
	/* New ones after the acknowledgement do. */
	watchdog_on_contact(&wc, &c, "iom-ru-moscow", PHONE, NO_ANSWER, now + 5, now + 5);
	watchdog_on_contact(&wc, &c, "se-malmo-coord", PHONE, NO_ANSWER, now + 6, now + 6);
	watchdog_on_contact(&wc, &c, "iom-ru-moscow", SMS, NO_ANSWER, now + 7, now + 7);
	step(&c, now + 7, id2, &ev);
	assert_int_equal(ev.stage, 0);
	assert_string_equal(ev.resolution, "superseded");
	assert_memory_equal(ev.alert_id, id1, RECORD_ID_LEN);
	step(&c, now + 7, id2, &ev);
	assert_int_equal(ev.kind, FAILED);
	assert_int_equal(ev.stage, 1);
	assert_memory_equal(ev.alert_id, id2, RECORD_ID_LEN);
	assert_string_equal(ev.cause, "after-ack");
}

static void test_handover_hands_over_open_alert(void **state)
{
	(void)state;
	struct case_state c;
	opened(&c, HIGH);
	struct watch_event ev;
	step(&c, T0 + 72 * HOUR, id1, &ev);
	int64_t now = T0 + 73 * HOUR;
	snprintf(c.responsible, sizeof(c.responsible), "iom-ru-moscow");
	watchdog_on_accepted(&c, "iom-ru-moscow", now);
	assert_int_equal(watchdog_next(&wc, &c, now), now);
	step(&c, now, id2, &ev);
	assert_int_equal(ev.stage, 1);
	assert_memory_equal(ev.alert_id, id1, RECORD_ID_LEN);
	assert_false(ev.first);
	assert_string_equal(ev.cause, "handover");
	assert_int_equal(ev.n_recipients, 1);
	assert_string_equal(ev.recipients[0], "iom-ru-moscow");
	/* The alert stays open and escalates on its own schedule, now to the
	 * new responsible organisation too. */
	assert_int_equal(watchdog_next(&wc, &c, now), T0 + 96 * HOUR);
	step(&c, T0 + 96 * HOUR, id3, &ev);
	assert_int_equal(ev.stage, 2);
	assert_true(has_recipient(&ev, "iom-ru-moscow"));
	assert_true(has_recipient(&ev, "se-stockholm-coord"));
}

static void test_handover_without_alert_moves_base(void **state)
{
	(void)state;
	struct case_state c;
	opened(&c, HIGH);
	int64_t now = T0 + 10 * HOUR;
	watchdog_on_accepted(&c, "iom-ru-moscow", now);
	assert_string_equal(c.alert.notify, "");
	assert_int_equal(watchdog_next(&wc, &c, now), now + 72 * HOUR);
}

static void offer_to(struct case_state *c, const char *to, int64_t at)
{
	c->has_pending = 1;
	memcpy(c->pending_offer_id, offer, RECORD_ID_LEN);
	snprintf(c->pending_offer_to, sizeof(c->pending_offer_to), "%s", to);
	c->pending_offer_at_ms = at;
}

static void stalled_then(const char *resolution)
{
	struct case_state c;
	opened(&c, LOW);
	int64_t at = T0 + HOUR;
	offer_to(&c, "iom-ru-moscow", at);
	assert_int_equal(watchdog_next(&wc, &c, at), at + 72 * HOUR);
	struct watch_event ev;
	step(&c, at + 72 * HOUR, id1, &ev);
	assert_int_equal(ev.kind, STALLED);
	assert_int_equal(ev.stage, 1);
	assert_int_equal(ev.n_recipients, 1);
	assert_string_equal(ev.recipients[0], "se-stockholm-coord");
	/* Once per offer. */
	assert_int_equal(watchdog_next(&wc, &c, at + 72 * HOUR), T0 + 30 * DAY);
	watchdog_on_offer_ended(&c, resolution);
	assert_false(c.has_pending);
	step(&c, at + 73 * HOUR, id2, &ev);
	assert_int_equal(ev.kind, STALLED);
	assert_int_equal(ev.stage, 0);
	assert_string_equal(ev.resolution, resolution);
	assert_memory_equal(ev.alert_id, id1, RECORD_ID_LEN);
	assert_string_equal(ev.recipients[0], "se-stockholm-coord");
	quiet(&c, at + 73 * HOUR);
}

static void test_stall_resolved_on_answer(void **state)
{
	(void)state;
	stalled_then("handover-answered");
}

static void test_stall_resolved_on_withdraw(void **state)
{
	(void)state;
	stalled_then("handover-withdrawn");
}

/* The offering organisation was told of the stall; it is told of the end
 * too, although the organisation that accepted is responsible by then. */
static void test_stall_resolution_reaches_offerer(void **state)
{
	(void)state;
	struct case_state c;
	opened(&c, LOW);
	int64_t at = T0 + HOUR;
	offer_to(&c, "iom-ru-moscow", at);
	struct watch_event ev;
	step(&c, at + 72 * HOUR, id1, &ev);
	assert_string_equal(ev.recipients[0], "se-stockholm-coord");
	watchdog_on_offer_ended(&c, "handover-answered");
	snprintf(c.responsible, sizeof(c.responsible), "iom-ru-moscow");
	watchdog_on_accepted(&c, "iom-ru-moscow", at + 73 * HOUR);
	step(&c, at + 73 * HOUR, id2, &ev);
	assert_string_equal(ev.resolution, "handover-answered");
	assert_int_equal(ev.n_recipients, 1);
	assert_string_equal(ev.recipients[0], "se-stockholm-coord");
}

static void test_offer_answered_in_time_raises_nothing(void **state)
{
	(void)state;
	struct case_state c;
	opened(&c, LOW);
	offer_to(&c, "iom-ru-moscow", T0 + HOUR);
	watchdog_on_offer_ended(&c, "handover-answered");
	assert_string_equal(c.stall_resolve, "");
	assert_int_equal(watchdog_next(&wc, &c, T0 + 2 * HOUR), T0 + 30 * DAY);
}

static void test_close_resolves_and_stops(void **state)
{
	(void)state;
	struct case_state c;
	opened(&c, HIGH);
	struct watch_event ev;
	step(&c, T0 + 72 * HOUR, id1, &ev);
	step(&c, T0 + 96 * HOUR, id2, &ev);
	c.state = VIGIL__V1__CASE_STATE__CASE_STATE_CLOSED;
	watchdog_on_closed(&c);
	step(&c, T0 + 97 * HOUR, id3, &ev);
	assert_string_equal(ev.resolution, "closed");
	assert_true(has_recipient(&ev, "se-police-noa")); /* it had reached stage 2 */
	assert_int_equal(watchdog_next(&wc, &c, T0 + 97 * HOUR), 0);
	quiet(&c, T0 + 400 * DAY);
}

static void test_no_early_alert_when_disabled(void **state)
{
	(void)state;
	struct watch_config off = wc;
	off.failed_attempts = 0;
	struct case_state c;
	opened(&c, HIGH);
	watchdog_on_contact(&off, &c, "iom-ru-moscow", PHONE, NO_ANSWER, T0 + 1, T0 + 1);
	watchdog_on_contact(&off, &c, "se-malmo-coord", SMS, NO_ANSWER, T0 + 2, T0 + 2);
	assert_int_equal(watchdog_next(&off, &c, T0 + 2), T0 + 72 * HOUR);
}

/* ---- corrections: the history recomputed --------------------------------------------- */

#define IOM "iom-ru-moscow"
#define MALMO "se-malmo-coord"

static struct case_event ev_open(int64_t at, int risk)
{
	struct case_event e = { .kind = CASE_EV_OPENED, .received_ms = at, .risk = risk };
	return e;
}

static struct case_event ev_contact(int64_t received, const char *org, int channel, int outcome,
				    int64_t at)
{
	struct case_event e = { .kind = CASE_EV_CONTACT, .received_ms = received,
				.channel = channel, .outcome = outcome, .at_ms = at };
	snprintf(e.org, sizeof(e.org), "%s", org);
	return e;
}

static struct case_event ev_risk(int64_t received, int level, int danger)
{
	struct case_event e = { .kind = CASE_EV_RISK, .received_ms = received, .risk = level,
				.immediate_danger = danger, .factors = 1u << 5 };
	return e;
}

static struct case_event ev_at(int kind, int64_t received, const char *org)
{
	struct case_event e = { .kind = kind, .received_ms = received };
	snprintf(e.org, sizeof(e.org), "%s", org);
	return e;
}

/* The history submitted as it is, record by record, the way the relay
 * applies records as they arrive (casestate_apply and the watchdog). */
static void forward(struct case_state *c, const struct case_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct case_event *e = &ev[i];
		switch (e->kind) {
		case CASE_EV_OPENED:
			opened(c, e->risk);
			watchdog_on_opened(c, e->received_ms);
			break;
		case CASE_EV_CONTACT:
			watchdog_on_contact(&wc, c, e->org, e->channel, e->outcome, e->at_ms,
					    e->received_ms);
			break;
		case CASE_EV_RISK:
			c->risk = e->risk;
			c->immediate_danger = e->immediate_danger;
			c->factors = e->factors;
			break;
		case CASE_EV_ACKED:
			watchdog_on_ack(c, e->received_ms);
			break;
		case CASE_EV_ACCEPTED:
			watchdog_on_accepted(c, e->org, e->received_ms);
			break;
		}
	}
}

/* What a correction may change is the same in a (the rebuilt case) and
 * b (the case as if the corrected record had been submitted at first),
 * and so is the watchdog's next time. */
static void same_history(const struct case_state *a, const struct case_state *b, int64_t now,
			 const char *what)
{
	if (a->last_attempt_ms != b->last_attempt_ms ||
	    a->last_attempt_channel != b->last_attempt_channel ||
	    a->last_attempt_outcome != b->last_attempt_outcome ||
	    a->last_success_ms != b->last_success_ms || a->attempts != b->attempts ||
	    a->failed_attempts != b->failed_attempts || a->failed_channels != b->failed_channels ||
	    a->failed_orgs != b->failed_orgs ||
	    strcmp(a->failed_first_org, b->failed_first_org) != 0 || a->risk != b->risk ||
	    a->immediate_danger != b->immediate_danger || a->factors != b->factors ||
	    a->opened_at_ms != b->opened_at_ms || a->acked_ms != b->acked_ms ||
	    a->handed_over_at_ms != b->handed_over_at_ms ||
	    watchdog_next(&wc, a, now) != watchdog_next(&wc, b, now))
		fail_msg("%s: rebuilt: last %lld/%d/%d success %lld failed %u next %lld; submitted "
			 "so: last %lld/%d/%d success %lld failed %u next %lld", what,
			 (long long)a->last_attempt_ms, a->last_attempt_channel,
			 a->last_attempt_outcome, (long long)a->last_success_ms, a->failed_attempts,
			 (long long)watchdog_next(&wc, a, now), (long long)b->last_attempt_ms,
			 b->last_attempt_channel, b->last_attempt_outcome,
			 (long long)b->last_success_ms, b->failed_attempts,
			 (long long)watchdog_next(&wc, b, now));
}

/* Every contact attempt and assessment of a history corrected in turn
 * (outcome, channel, time, level): the rebuilt case is the case as if the
 * corrected record had been submitted in the first place. */
static void test_rebuild_is_as_if_submitted_so(void **state)
{
	(void)state;
	const struct case_event history[] = {
		ev_open(T0, HIGH),
		ev_contact(T0 + 10 * HOUR, IOM, PHONE, NO_ANSWER, T0 + 10 * HOUR),
		ev_contact(T0 + 20 * HOUR, MALMO, SMS, NO_ANSWER, T0 + 19 * HOUR),
		ev_risk(T0 + 21 * HOUR, MEDIUM, 0),
		ev_contact(T0 + 30 * HOUR, IOM, PHONE, SAFE, T0 + 30 * HOUR),
		ev_at(CASE_EV_ACKED, T0 + 31 * HOUR, ""),
		ev_contact(T0 + 40 * HOUR, IOM, PHONE, NO_ANSWER, T0 + 39 * HOUR),
		ev_contact(T0 + 41 * HOUR, MALMO, PHONE, NO_ANSWER, T0 + 41 * HOUR),
		ev_at(CASE_EV_ACCEPTED, T0 + 45 * HOUR, IOM),
		ev_contact(T0 + 50 * HOUR, IOM, SMS, NO_ANSWER, T0 + 49 * HOUR),
		ev_contact(T0 + 51 * HOUR, MALMO, PHONE, NO_ANSWER, T0 + 51 * HOUR),
		/* Entered late: dated before the handover that moved the base. */
		ev_contact(T0 + 52 * HOUR, MALMO, PHONE, SAFE, T0 + 44 * HOUR),
	};
	const size_t n = sizeof(history) / sizeof(history[0]);
	const int64_t now = T0 + 53 * HOUR;
	struct case_state wrong, right, rebuilt;
	forward(&wrong, history, n);
	for (size_t i = 0; i < n; i++) {
		for (int m = 0; m < 4; m++) {
			struct case_event fixed[sizeof(history) / sizeof(history[0])];
			memcpy(fixed, history, sizeof(history));
			struct case_event *e = &fixed[i];
			if (e->kind == CASE_EV_CONTACT) {
				if (m == 0)
					e->outcome = e->outcome == SAFE ? NO_ANSWER : SAFE;
				else if (m == 1)
					e->channel = e->channel == SMS ? PHONE : SMS;
				else if (m == 2)
					e->at_ms -= 25 * HOUR;
				else
					e->at_ms = e->received_ms; /* a later time */
			} else if (e->kind == CASE_EV_RISK) {
				e->risk = m == 0 ? HIGH : m == 1 ? LOW : MEDIUM;
				e->immediate_danger = m == 3;
			} else {
				continue;
			}
			forward(&right, fixed, n);
			rebuilt = wrong;
			casestate_rebuild(&rebuilt, fixed, n, &wc);
			char what[64];
			snprintf(what, sizeof(what), "event %zu, change %d", i, m);
			same_history(&rebuilt, &right, now, what);
		}
	}
	/* Nothing corrected: nothing changes. */
	rebuilt = wrong;
	casestate_rebuild(&rebuilt, history, n, &wc);
	same_history(&rebuilt, &wrong, now, "uncorrected");
}

/* A correction applied the way cases.c applies it. */
static void corrected(struct case_state *c, const struct case_event *ev, size_t n, int64_t now)
{
	struct case_state before = *c;
	casestate_rebuild(c, ev, n, &wc);
	watchdog_on_corrected(&wc, &before, c, now);
}

/* A failed attempt that was in fact a success: the silence alert raised
 * for it ends ("corrected"), and the deadline counts from that contact,
 * as if it had been reported right: the next alert comes one window after
 * it, not before. */
static void test_correction_resolves_alert(void **state)
{
	(void)state;
	struct case_event h[] = {
		ev_open(T0, HIGH),
		ev_contact(T0 + 10 * HOUR, IOM, PHONE, NO_ANSWER, T0 + 10 * HOUR),
	};
	struct case_state c;
	forward(&c, h, 2);
	struct watch_event ev;
	step(&c, T0 + 72 * HOUR, id1, &ev);
	assert_int_equal(ev.kind, SILENCE);
	h[1].outcome = SAFE;
	corrected(&c, h, 2, T0 + 75 * HOUR);
	assert_int_equal(c.last_success_ms, T0 + 10 * HOUR);
	assert_int_equal(c.last_attempt_outcome, SAFE);
	assert_string_equal(c.alert.resolve, "corrected");
	step(&c, T0 + 75 * HOUR, id2, &ev);
	assert_int_equal(ev.stage, 0);
	assert_string_equal(ev.resolution, "corrected");
	assert_memory_equal(ev.alert_id, id1, RECORD_ID_LEN);
	assert_true(has_recipient(&ev, "se-shelter-stockholm"));
	assert_int_equal(ev.last_success_ms, T0 + 10 * HOUR);
	/* The deadline now counts from the corrected contact. */
	assert_int_equal(watchdog_next(&wc, &c, T0 + 75 * HOUR), T0 + 82 * HOUR);
	quiet(&c, T0 + 82 * HOUR - 1);
	step(&c, T0 + 82 * HOUR, id3, &ev);
	assert_int_equal(ev.kind, SILENCE);
	assert_int_equal(ev.stage, 1);
	assert_int_equal(ev.deadline_ms, T0 + 82 * HOUR);
}

/* The same correction after the corrected deadline too has passed: the
 * silence it was raised for went on, so the alert stays open (and
 * escalates on its schedule). */
static void test_correction_keeps_alert_still_due(void **state)
{
	(void)state;
	struct case_event h[] = {
		ev_open(T0, HIGH),
		ev_contact(T0 + 10 * HOUR, IOM, PHONE, NO_ANSWER, T0 + 10 * HOUR),
	};
	struct case_state c;
	forward(&c, h, 2);
	struct watch_event ev;
	step(&c, T0 + 72 * HOUR, id1, &ev);
	h[1].outcome = SAFE;
	corrected(&c, h, 2, T0 + 90 * HOUR);
	assert_int_equal(c.last_success_ms, T0 + 10 * HOUR);
	assert_string_equal(c.alert.resolve, "");
	assert_true(c.alert.open);
	assert_int_equal(watchdog_next(&wc, &c, T0 + 90 * HOUR), T0 + 96 * HOUR);
}

/* A success that was in fact a failure: the deadline falls back to the
 * base before it, which has passed, so the watchdog raises the alert that
 * was due all along, at once. */
static void test_correction_raises_alert(void **state)
{
	(void)state;
	struct case_event h[] = {
		ev_open(T0, HIGH),
		ev_contact(T0 + 10 * HOUR, IOM, PHONE, SAFE, T0 + 10 * HOUR),
	};
	struct case_state c;
	forward(&c, h, 2);
	int64_t now = T0 + 75 * HOUR;
	assert_int_equal(watchdog_next(&wc, &c, now), T0 + 82 * HOUR);
	quiet(&c, now);
	h[1].outcome = NO_ANSWER;
	corrected(&c, h, 2, now);
	assert_int_equal(c.last_success_ms, 0);
	assert_int_equal(c.failed_attempts, 1);
	assert_int_equal(watchdog_next(&wc, &c, now), T0 + 72 * HOUR); /* passed: due now */
	struct watch_event ev;
	step(&c, now, id1, &ev);
	assert_int_equal(ev.kind, SILENCE);
	assert_int_equal(ev.stage, 1);
	assert_true(ev.first);
	assert_int_equal(ev.deadline_ms, T0 + 72 * HOUR);
	assert_int_equal(ev.last_success_ms, 0);
}

/* Three failed attempts on two channels raised the early alert; the second
 * channel was a typing error.  One channel, one organisation: no early
 * alert is due, so the alert ends; the silence deadline stays. */
static void test_correction_ends_early_alert(void **state)
{
	(void)state;
	int64_t now = T0 + HOUR;
	struct case_event h[] = {
		ev_open(T0, HIGH),
		ev_contact(now + 1, IOM, PHONE, NO_ANSWER, now + 1),
		ev_contact(now + 2, IOM, SMS, NO_ANSWER, now + 2),
		ev_contact(now + 3, IOM, PHONE, NO_ANSWER, now + 3),
	};
	struct case_state c;
	forward(&c, h, 4);
	struct watch_event ev;
	step(&c, now + 3, id1, &ev);
	assert_int_equal(ev.kind, FAILED);
	h[2].channel = PHONE;
	corrected(&c, h, 4, now + 4);
	assert_int_equal(c.failed_attempts, 3);
	assert_int_equal(c.failed_channels, 1u << PHONE);
	assert_string_equal(c.alert.resolve, "corrected");
	step(&c, now + 4, id2, &ev);
	assert_string_equal(ev.resolution, "corrected");
	assert_int_equal(ev.kind, FAILED);
	assert_int_equal(watchdog_next(&wc, &c, now + 4), T0 + 72 * HOUR);

	/* The other way round: a correction that makes the attempts count
	 * raises the early alert at the next look. */
	struct case_event g[] = {
		ev_open(T0, HIGH),
		ev_contact(now + 1, IOM, PHONE, NO_ANSWER, now + 1),
		ev_contact(now + 2, IOM, PHONE, NO_ANSWER, now + 2),
		ev_contact(now + 3, IOM, PHONE, NO_ANSWER, now + 3),
	};
	forward(&c, g, 4);
	assert_int_equal(watchdog_next(&wc, &c, now + 3), T0 + 72 * HOUR);
	g[2].channel = SMS;
	corrected(&c, g, 4, now + 4);
	assert_int_equal(watchdog_next(&wc, &c, now + 4), now + 4);
	step(&c, now + 4, id1, &ev);
	assert_int_equal(ev.kind, FAILED);
}

/* An acknowledged alert ends when a corrected success lies after the
 * acknowledgement it was re-armed from, as a new success would end it; a
 * corrected success before the acknowledgement changes nothing. */
static void test_correction_after_ack(void **state)
{
	(void)state;
	int64_t raised = T0 + 72 * HOUR, acked = raised + HOUR;
	struct case_event h[] = {
		ev_open(T0, HIGH),
		ev_contact(T0 + 10 * HOUR, IOM, PHONE, NO_ANSWER, T0 + 10 * HOUR),
		ev_at(CASE_EV_ACKED, acked, ""),
		ev_contact(acked + HOUR, IOM, PHONE, NO_ANSWER, acked + HOUR),
	};
	struct case_state c;
	forward(&c, h, 2);
	struct watch_event ev;
	step(&c, raised, id1, &ev);
	forward(&c, h + 2, 2);
	assert_true(c.alert.acked);
	/* Before the acknowledgement: history, nothing more. */
	h[1].outcome = SAFE;
	corrected(&c, h, 4, acked + 2 * HOUR);
	assert_int_equal(c.last_success_ms, T0 + 10 * HOUR);
	assert_string_equal(c.alert.resolve, "");
	assert_int_equal(watchdog_next(&wc, &c, acked + 2 * HOUR), acked + 72 * HOUR);
	/* After it: the acknowledged alert ends. */
	h[3].outcome = SAFE;
	corrected(&c, h, 4, acked + 2 * HOUR);
	assert_string_equal(c.alert.resolve, "corrected");
	step(&c, acked + 2 * HOUR, id2, &ev);
	assert_string_equal(ev.resolution, "corrected");
	assert_int_equal(watchdog_next(&wc, &c, acked + 2 * HOUR), acked + HOUR + 72 * HOUR);
}

/* A risk level corrected: the window of the corrected level, as if it had
 * been assessed so; a later assessment stays in force over a corrected
 * earlier one. */
static void test_correction_of_risk(void **state)
{
	(void)state;
	struct case_event h[] = {
		ev_open(T0, MEDIUM),
		ev_risk(T0 + HOUR, HIGH, 0),
	};
	struct case_state c;
	forward(&c, h, 2);
	struct watch_event ev;
	step(&c, T0 + 72 * HOUR, id1, &ev);
	/* It was medium: 14 days, not 72 hours. */
	h[1].risk = MEDIUM;
	corrected(&c, h, 2, T0 + 80 * HOUR);
	assert_int_equal(c.risk, MEDIUM);
	assert_string_equal(c.alert.resolve, "corrected");
	step(&c, T0 + 80 * HOUR, id2, &ev);
	assert_int_equal(watchdog_next(&wc, &c, T0 + 80 * HOUR), T0 + 14 * DAY);

	/* Only the assessment in force counts: correcting an earlier one
	 * changes nothing; correcting the latest changes level and danger. */
	struct case_event g[] = {
		ev_open(T0, HIGH),
		ev_risk(T0 + HOUR, HIGH, 0),
		ev_risk(T0 + 2 * HOUR, LOW, 0),
	};
	forward(&c, g, 3);
	g[1].risk = LOW;
	corrected(&c, g, 3, T0 + 3 * HOUR);
	assert_int_equal(c.risk, LOW);
	g[2].risk = HIGH;
	g[2].immediate_danger = 1;
	corrected(&c, g, 3, T0 + 3 * HOUR);
	assert_int_equal(c.risk, HIGH);
	assert_true(c.immediate_danger);
	assert_int_equal(watchdog_next(&wc, &c, T0 + 3 * HOUR), T0 + 72 * HOUR);
}

/* An alert open after an accepted handover moved the base stays open: a
 * correction that takes nothing away from it changes nothing about it. */
static void test_correction_leaves_handed_over_alert(void **state)
{
	(void)state;
	struct case_event h[] = {
		ev_open(T0, HIGH),
		ev_contact(T0 + 10 * HOUR, IOM, PHONE, NO_ANSWER, T0 + 10 * HOUR),
		ev_at(CASE_EV_ACCEPTED, T0 + 73 * HOUR, IOM),
	};
	struct case_state c;
	forward(&c, h, 2);
	struct watch_event ev;
	step(&c, T0 + 72 * HOUR, id1, &ev);
	forward(&c, h + 2, 1);
	step(&c, T0 + 73 * HOUR, id2, &ev);
	assert_string_equal(ev.cause, "handover");
	h[1].channel = SMS;
	corrected(&c, h, 3, T0 + 74 * HOUR);
	assert_true(c.alert.open);
	assert_string_equal(c.alert.resolve, "");
	assert_int_equal(c.last_attempt_channel, SMS);
	assert_int_equal(watchdog_next(&wc, &c, T0 + 74 * HOUR), T0 + 96 * HOUR);
}

/* What the metrics count each alert entry as (vigil_alerts_total). */
static void test_event_classes(void **state)
{
	(void)state;
	struct case_state c;
	struct watch_event ev;
	opened(&c, HIGH);
	/* Raised at the deadline. */
	assert_int_equal(watchdog_step(&wc, &c, T0 + 72 * HOUR, id1, &ev), 1);
	assert_int_equal(watchdog_event_class(&ev), WATCH_RAISED);
	/* Escalated a day later, unacknowledged. */
	assert_int_equal(watchdog_step(&wc, &c, T0 + 96 * HOUR, id2, &ev), 1);
	assert_int_equal(ev.stage, 2);
	assert_int_equal(watchdog_event_class(&ev), WATCH_ESCALATED);
	/* A minor's alert is raised at stage 2: raised, not escalated. */
	opened(&c, HIGH);
	c.minor = 1;
	assert_int_equal(watchdog_step(&wc, &c, T0 + 72 * HOUR, id3, &ev), 1);
	assert_int_equal(ev.stage, 2);
	assert_int_equal(watchdog_event_class(&ev), WATCH_RAISED);
	/* Resolutions and notices by their fields. */
	memset(&ev, 0, sizeof(ev));
	ev.stage = 0;
	snprintf(ev.resolution, sizeof(ev.resolution), "superseded");
	assert_int_equal(watchdog_event_class(&ev), WATCH_RESOLVED);
	ev.stage = 2;
	snprintf(ev.cause, sizeof(ev.cause), "handover");
	assert_int_equal(watchdog_event_class(&ev), WATCH_NOTICE);
	assert_string_equal(watchdog_event_class_name(WATCH_RAISED), "raised");
	assert_string_equal(watchdog_event_class_name(WATCH_ESCALATED), "escalated");
	assert_string_equal(watchdog_event_class_name(WATCH_RESOLVED), "resolved");
	assert_string_equal(watchdog_event_class_name(WATCH_NOTICE), "notice");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_three_days_of_silence),
		cmocka_unit_test(test_windows_by_risk),
		cmocka_unit_test(test_escalation_adds_police_never_connected),
		cmocka_unit_test(test_minor_goes_to_police_at_once),
		cmocka_unit_test(test_immediate_danger_escalates_open_alert_at_once),
		cmocka_unit_test(test_future_success_counts_as_now),
		cmocka_unit_test(test_int64_extremes),
		cmocka_unit_test(test_old_success_resolves_nothing),
		cmocka_unit_test(test_old_failures_do_not_raise_early),
		cmocka_unit_test(test_failed_attempts_raise_early),
		cmocka_unit_test(test_ack_rearms),
		cmocka_unit_test(test_ack_resets_failures),
		cmocka_unit_test(test_handover_hands_over_open_alert),
		cmocka_unit_test(test_handover_without_alert_moves_base),
		cmocka_unit_test(test_stall_resolved_on_answer),
		cmocka_unit_test(test_stall_resolved_on_withdraw),
		cmocka_unit_test(test_stall_resolution_reaches_offerer),
		cmocka_unit_test(test_offer_answered_in_time_raises_nothing),
		cmocka_unit_test(test_close_resolves_and_stops),
		cmocka_unit_test(test_no_early_alert_when_disabled),
		cmocka_unit_test(test_rebuild_is_as_if_submitted_so),
		cmocka_unit_test(test_correction_resolves_alert),
		cmocka_unit_test(test_correction_keeps_alert_still_due),
		cmocka_unit_test(test_correction_raises_alert),
		cmocka_unit_test(test_correction_ends_early_alert),
		cmocka_unit_test(test_correction_after_ack),
		cmocka_unit_test(test_correction_of_risk),
		cmocka_unit_test(test_correction_leaves_handed_over_alert),
		cmocka_unit_test(test_event_classes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
