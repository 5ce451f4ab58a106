/*
 * watchdog.h - the silence watchdog as pure functions of (case state,
 * event, now): no SQLite, no I/O, no clock of its own (DESIGN.md section 6).
 *
 * The writer calls the watchdog_on_* functions when an accepted record
 * changes what the watchdog cares about, watchdog_next() to learn when it
 * must look at the case again (kept in an indexed column), and, when that
 * time has come, watchdog_step() until it returns 0: each call decides one
 * alert entry (raise, escalate, re-raise after an acknowledgement, tell a
 * new responsible organisation, resolve) and updates the state to match.
 *
 * The rules that make the watchdog hard to silence by mistake:
 * - the silence deadline is the watchdog's base (the last successful
 *   contact, the accepted handover, the opening, or the acknowledgement of
 *   the open alert, whichever is latest) plus the window of the risk level;
 *   all sums saturate, so no time can overflow into the past;
 * - a contact counts from its attempted_at only up to now (policy.c
 *   refuses anything later than now plus the allowed skew, and the rest is
 *   clamped here), and one dated at or before the base is stored and
 *   nothing more: it neither resolves nor re-raises an alert;
 * - an acknowledgement records a decision and re-arms: continued silence
 *   raises a new alert one window after it;
 * - recipients are the case's parties by their directory role, whether or
 *   not they ever connected.
 */
#ifndef VIGIL_DAEMON_WATCHDOG_H
#define VIGIL_DAEMON_WATCHDOG_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/casestate.h"

/* The watchdog's windows and thresholds (config.h [watchdog]). */
struct watch_config {
	uint64_t window_ms[4];             /* by vigil.v1.RiskLevel (1 low .. 3 high) */
	unsigned failed_attempts;          /* 0: no early alert */
	uint64_t handover_window_ms;
	uint64_t escalate_after_ms;
	uint64_t max_clock_skew_ms;        /* client times allowed ahead of the relay */
};

#define WATCH_MAX_RECIPIENTS CASE_PARTIES_MAX

/* One alert entry the watchdog decided to write. */
struct watch_event {
	char case_id[CASE_ID_LEN];
	int kind;                          /* vigil.v1.AlertKind */
	int stage;                         /* 1, 2; 0: resolved */
	uint8_t alert_id[RECORD_ID_LEN];   /* the alert this entry is about */
	int first;                         /* this entry raises it: its record_id is alert_id */
	int64_t deadline_ms;
	int64_t last_success_ms;
	uint32_t failed_attempts;
	int police;                        /* vigil.v1.PoliceAdvice */
	char resolution[24];               /* stage 0 */
	char cause[24];                    /* "", "after-ack", "handover" */
	char recipients[WATCH_MAX_RECIPIENTS][CASE_ORG_LEN];
	size_t n_recipients;
};

/* Saturating a + b for a time and a duration. */
int64_t watchdog_add(int64_t t, uint64_t d);

/* The time the silence deadline counts from, and the deadline itself
 * (INT64_MAX: never). */
int64_t watchdog_base(const struct case_state *c);
int64_t watchdog_deadline(const struct watch_config *wc, const struct case_state *c);

/* A contact attempt by org, dated at_ms (already checked against the
 * skew), received at now. */
void watchdog_on_contact(const struct watch_config *wc, struct case_state *c, const char *org,
			 int channel, int outcome, int64_t at_ms, int64_t now);
/* The open alert was acknowledged at now. */
void watchdog_on_ack(struct case_state *c, int64_t now);
/* A handover was accepted by org at now (org is now responsible). */
void watchdog_on_accepted(struct case_state *c, const char *org, int64_t now);
/* The pending offer was answered (declined or accepted) or withdrawn. */
void watchdog_on_offer_ended(struct case_state *c, const char *resolution);
/* The case was closed. */
void watchdog_on_closed(struct case_state *c);
/* The case was opened or reopened at now. */
void watchdog_on_opened(struct case_state *c, int64_t now);

/*
 * A correction changed the case from before to c (casestate_rebuild) at
 * now.  The open silence or failed-attempts alert is resolved
 * ("corrected") when the correction took its ground away: unacknowledged,
 * it was due before and is due no more (its deadline moved past now, the
 * failed attempts no longer count); acknowledged, a successful contact now
 * lies after the base it was re-armed from, as a new one would resolve it.
 * A correction that makes an alert due is the next watchdog_step()'s.
 */
void watchdog_on_corrected(const struct watch_config *wc, const struct case_state *before,
			   struct case_state *c, int64_t now);

/* When the watchdog must look at the case again: now when an entry is
 * waiting to be written, 0 never. */
int64_t watchdog_next(const struct watch_config *wc, const struct case_state *c, int64_t now);

/*
 * Decides the next alert entry the case needs at now and updates c to
 * match.  Returns 1 with *ev filled, 0 when nothing is due.  A new alert
 * takes new_id as its id.
 */
/* An alert of a case that is open now, as a reader of the case's state
 * sees it (GetOpenAlerts). */
struct watch_open {
	struct watch_event ev;             /* kind, stage, alert id, police advice and
					    * the current stage's recipients */
	int64_t raised_ms;
	int64_t escalates_ms;              /* when stage 1 goes to the police; 0: not */
	int acked;                         /* acknowledged (the watchdog re-arms) */
	int64_t acked_ms;
};

/* The case's open alerts: the silence or failed-attempts alert and a
 * stalled handover, each at most once (out has room for 2); their count. */
size_t watchdog_open_alerts(const struct watch_config *wc, const struct case_state *c,
			    struct watch_open out[2]);

int watchdog_step(const struct watch_config *wc, struct case_state *c, int64_t now,
		  const uint8_t new_id[RECORD_ID_LEN], struct watch_event *ev);

/* 1 for the outcomes that count as reaching her. */
int watchdog_outcome_reached(int outcome);

/*
 * What an alert entry is, as the metrics count it
 * (vigil_alerts_total{event}): a new alert (stage 1, or stage 2 at once
 * for a minor or immediate danger; after an acknowledgement too; a stalled
 * handover), its escalation to stage 2, its resolution (stage 0, also
 * "superseded"), or a notice of an open alert to a new responsible
 * organisation.
 */
enum watch_event_class {
	WATCH_RAISED,
	WATCH_ESCALATED,
	WATCH_RESOLVED,
	WATCH_NOTICE,
	WATCH_EVENT_CLASSES
};
enum watch_event_class watchdog_event_class(const struct watch_event *ev);
/* "raised", "escalated", "resolved", "notice". */
const char *watchdog_event_class_name(enum watch_event_class k);

#endif
