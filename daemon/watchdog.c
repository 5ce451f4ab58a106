#include "daemon/watchdog.h"

#include <stdio.h>
#include <string.h>

#include "daemon/identity.h"

int64_t watchdog_add(int64_t t, uint64_t d)
{
	if (d > (uint64_t)INT64_MAX)
		return INT64_MAX;
	if (t > 0 && (int64_t)d > INT64_MAX - t)
		return INT64_MAX;
	return t + (int64_t)d;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

int watchdog_outcome_reached(int o)
{
	return o == VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE ||
	       o == VIGIL__V1__OUTCOME__OUTCOME_REACHED_CONCERN ||
	       o == VIGIL__V1__OUTCOME__OUTCOME_REACHED_DECLINES_CONTACT;
}

int64_t watchdog_base(const struct case_state *c)
{
	return max64(max64(c->last_success_ms, c->acked_ms),
		     max64(c->handed_over_at_ms, c->opened_at_ms));
}

static uint64_t window(const struct watch_config *wc, const struct case_state *c)
{
	int risk = c->risk >= 1 && c->risk <= 3 ? c->risk : 3;
	return wc->window_ms[risk];
}

int64_t watchdog_deadline(const struct watch_config *wc, const struct case_state *c)
{
	return watchdog_add(watchdog_base(c), window(wc, c));
}

static void reset_failures(struct case_state *c)
{
	c->failed_attempts = 0;
	c->failed_channels = 0;
	c->failed_orgs = 0;
	c->failed_first_org[0] = '\0';
}

/* Enough failed attempts since the base, by two or more organisations or
 * on two or more channels, raise the alert before the deadline. */
static int failed_trigger(const struct watch_config *wc, const struct case_state *c)
{
	return wc->failed_attempts > 0 && c->failed_attempts >= wc->failed_attempts &&
	       (c->failed_orgs >= 2 || __builtin_popcount(c->failed_channels) >= 2);
}

void watchdog_on_contact(const struct watch_config *wc, struct case_state *c, const char *org,
			 int channel, int outcome, int64_t at_ms, int64_t now)
{
	(void)wc;
	/* Only the relay's clock moves a deadline: a time ahead of it (within
	 * the allowed skew) counts as now. */
	int64_t at = at_ms < now ? at_ms : now;
	int64_t base = watchdog_base(c);
	if (c->attempts < UINT32_MAX)
		c->attempts++;
	if (at_ms >= c->last_attempt_ms) {
		c->last_attempt_ms = at_ms;
		c->last_attempt_channel = channel;
		c->last_attempt_outcome = outcome;
	}
	int reached = watchdog_outcome_reached(outcome);
	if (reached && at > c->last_success_ms)
		c->last_success_ms = at;
	/* What happened at or before the base is history: stored and shown,
	 * of no consequence to the watchdog (it neither resolves nor re-raises
	 * an alert, nor counts towards the early one). */
	if (at <= base)
		return;
	if (reached) {
		reset_failures(c);
		if (c->alert.open && !c->alert.resolve[0])
			snprintf(c->alert.resolve, sizeof(c->alert.resolve), "contact");
		return;
	}
	if (c->failed_attempts < UINT32_MAX)
		c->failed_attempts++;
	c->failed_channels |= 1u << (channel & 31);
	if (c->failed_orgs == 0) {
		snprintf(c->failed_first_org, sizeof(c->failed_first_org), "%s", org);
		c->failed_orgs = 1;
	} else if (strcmp(c->failed_first_org, org) != 0) {
		c->failed_orgs = 2;
	}
}

void watchdog_on_ack(struct case_state *c, int64_t now)
{
	c->alert.acked = 1;
	c->acked_ms = now;
	reset_failures(c);
}

void watchdog_on_accepted(struct case_state *c, const char *org, int64_t now)
{
	c->handed_over_at_ms = now;
	reset_failures(c);
	if (c->alert.open && !c->alert.resolve[0])
		snprintf(c->alert.notify, sizeof(c->alert.notify), "%s", org);
}

void watchdog_on_offer_ended(struct case_state *c, const char *resolution)
{
	if (c->has_stall && c->has_pending &&
	    memcmp(c->stall_offer_id, c->pending_offer_id, RECORD_ID_LEN) == 0 &&
	    !c->stall_resolve[0])
		snprintf(c->stall_resolve, sizeof(c->stall_resolve), "%s", resolution);
	c->has_pending = 0;
}

void watchdog_on_closed(struct case_state *c)
{
	watchdog_on_offer_ended(c, "closed");
	if (c->alert.open && !c->alert.resolve[0])
		snprintf(c->alert.resolve, sizeof(c->alert.resolve), "closed");
	c->alert.notify[0] = '\0';
}

void watchdog_on_opened(struct case_state *c, int64_t now)
{
	c->opened_at_ms = now;
	reset_failures(c);
}

/* Would the watchdog raise an alert for c at now? */
static int due(const struct watch_config *wc, const struct case_state *c, int64_t now)
{
	return now >= watchdog_deadline(wc, c) || failed_trigger(wc, c);
}

void watchdog_on_corrected(const struct watch_config *wc, const struct case_state *before,
			   struct case_state *c, int64_t now)
{
	if (c->state != VIGIL__V1__CASE_STATE__CASE_STATE_ACTIVE || !c->alert.open ||
	    c->alert.resolve[0])
		return;
	/* An alert open while it is not due (after an accepted handover moved
	 * the base) stays: only a change the correction made counts. */
	int gone = c->alert.acked ? c->last_success_ms > watchdog_base(before)
				  : due(wc, before, now) && !due(wc, c, now);
	if (gone)
		snprintf(c->alert.resolve, sizeof(c->alert.resolve), "corrected");
}

/* Escalation of an unacknowledged stage-1 alert: after escalate_after, or
 * at once for a minor or a returnee in immediate danger. */
static int64_t escalate_at(const struct watch_config *wc, const struct case_state *c)
{
	if (c->minor || c->immediate_danger)
		return c->alert.raised_ms;
	return watchdog_add(c->alert.raised_ms, wc->escalate_after_ms);
}

static int escalation_due(const struct case_state *c)
{
	return c->alert.open && !c->alert.resolve[0] && c->alert.stage == 1 && !c->alert.acked;
}

/* A new alert may be raised when none is open or the open one was
 * acknowledged (the acknowledgement re-arms). */
static int may_raise(const struct case_state *c)
{
	return !c->alert.open || (c->alert.acked && !c->alert.resolve[0]);
}

static int64_t stall_at(const struct watch_config *wc, const struct case_state *c)
{
	if (!c->has_pending ||
	    (c->has_stall && memcmp(c->stall_offer_id, c->pending_offer_id, RECORD_ID_LEN) == 0))
		return INT64_MAX;
	return watchdog_add(c->pending_offer_at_ms, wc->handover_window_ms);
}

int64_t watchdog_next(const struct watch_config *wc, const struct case_state *c, int64_t now)
{
	if (c->alert.resolve[0] || c->stall_resolve[0] || c->alert.notify[0])
		return now > 0 ? now : 1;
	if (c->state != VIGIL__V1__CASE_STATE__CASE_STATE_ACTIVE)
		return 0;
	int64_t next = INT64_MAX;
	if (escalation_due(c))
		next = escalate_at(wc, c);
	else if (may_raise(c))
		next = failed_trigger(wc, c) ? now : watchdog_deadline(wc, c);
	int64_t s = stall_at(wc, c);
	if (s < next)
		next = s;
	if (next == INT64_MAX)
		return 0;
	return next > 0 ? next : 1;
}

static void add_recipient(struct watch_event *ev, const char *org)
{
	if (!org[0])
		return;
	for (size_t i = 0; i < ev->n_recipients; i++)
		if (strcmp(ev->recipients[i], org) == 0)
			return;
	if (ev->n_recipients < WATCH_MAX_RECIPIENTS)
		snprintf(ev->recipients[ev->n_recipients++], CASE_ORG_LEN, "%s", org);
}

/* Stage 1 reaches the responsible organisation, the coordinator and the
 * shelter parties; stage 2 the police parties as well.  A stalled handover
 * concerns the offering (responsible) organisation alone. */
static void recipients(const struct case_state *c, int stage, int kind, struct watch_event *ev)
{
	ev->n_recipients = 0;
	add_recipient(ev, c->responsible);
	if (kind == VIGIL__V1__ALERT_KIND__ALERT_KIND_HANDOVER_STALLED)
		return;
	for (size_t i = 0; i < c->n_parties; i++) {
		int role = c->parties[i].role;
		if (role == ROLE_COORDINATOR || role == ROLE_SHELTER ||
		    (stage >= 2 && role == ROLE_POLICE))
			add_recipient(ev, c->parties[i].org);
	}
}

static void event_base(struct watch_event *ev, const struct case_state *c, int kind)
{
	memset(ev, 0, sizeof(*ev));
	snprintf(ev->case_id, sizeof(ev->case_id), "%s", c->case_id);
	ev->kind = kind;
	ev->last_success_ms = c->last_success_ms;
	ev->failed_attempts = c->failed_attempts;
}

static int police_advice(const struct case_state *c, int stage)
{
	if (c->minor)
		return VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_REQUIRED;
	return stage >= 2 ? VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_CONSIDER
			  : VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_NONE;
}

/* The open alert as an event (a resolution, an escalation, a notice). */
static void open_alert_event(struct watch_event *ev, const struct case_state *c, int stage)
{
	event_base(ev, c, c->alert.kind);
	ev->stage = stage;
	memcpy(ev->alert_id, c->alert.id, RECORD_ID_LEN);
	ev->deadline_ms = c->alert.deadline_ms;
	ev->police = stage ? police_advice(c, stage) : VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_NONE;
}

int watchdog_step(const struct watch_config *wc, struct case_state *c, int64_t now,
		  const uint8_t new_id[RECORD_ID_LEN], struct watch_event *ev)
{
	int active = c->state == VIGIL__V1__CASE_STATE__CASE_STATE_ACTIVE;
	if (c->alert.resolve[0]) {
		open_alert_event(ev, c, 0);
		snprintf(ev->resolution, sizeof(ev->resolution), "%s", c->alert.resolve);
		recipients(c, c->alert.stage, c->alert.kind, ev);
		memset(&c->alert, 0, sizeof(c->alert));
		return 1;
	}
	if (c->stall_resolve[0]) {
		event_base(ev, c, VIGIL__V1__ALERT_KIND__ALERT_KIND_HANDOVER_STALLED);
		memcpy(ev->alert_id, c->stall_id, RECORD_ID_LEN);
		snprintf(ev->resolution, sizeof(ev->resolution), "%s", c->stall_resolve);
		/* The organisation that offered and was told of the stall, which
		 * may have handed the case on by now. */
		add_recipient(ev, c->stall_org[0] ? c->stall_org : c->responsible);
		c->has_stall = 0;
		c->stall_resolve[0] = '\0';
		c->stall_org[0] = '\0';
		return 1;
	}
	if (c->alert.notify[0]) {
		/* The new responsible organisation learns of the open alert now,
		 * not at the next escalation. */
		open_alert_event(ev, c, c->alert.stage);
		snprintf(ev->cause, sizeof(ev->cause), "handover");
		add_recipient(ev, c->alert.notify);
		c->alert.notify[0] = '\0';
		return 1;
	}
	if (!active)
		return 0;
	if (escalation_due(c) && now >= escalate_at(wc, c)) {
		c->alert.stage = 2;
		open_alert_event(ev, c, 2);
		recipients(c, 2, c->alert.kind, ev);
		return 1;
	}
	if (may_raise(c)) {
		int64_t deadline = watchdog_deadline(wc, c);
		int silent = now >= deadline;
		if ((silent || failed_trigger(wc, c)) && c->alert.open) {
			/* The silence went on after the acknowledgement: the
			 * acknowledged alert ends here, and a new one follows in
			 * the next step, so that every alert id is resolved once. */
			open_alert_event(ev, c, 0);
			snprintf(ev->resolution, sizeof(ev->resolution), "superseded");
			recipients(c, c->alert.stage, c->alert.kind, ev);
			memset(&c->alert, 0, sizeof(c->alert));
			return 1;
		}
		if (silent || failed_trigger(wc, c)) {
			int rearm = c->acked_ms > 0 && c->acked_ms == watchdog_base(c);
			int kind = silent ? VIGIL__V1__ALERT_KIND__ALERT_KIND_SILENCE
					  : VIGIL__V1__ALERT_KIND__ALERT_KIND_FAILED_ATTEMPTS;
			/* No grace for a minor or a returnee in immediate danger. */
			int stage = (c->minor || c->immediate_danger) ? 2 : 1;
			memset(&c->alert, 0, sizeof(c->alert));
			c->alert.open = 1;
			memcpy(c->alert.id, new_id, RECORD_ID_LEN);
			c->alert.kind = kind;
			c->alert.stage = stage;
			c->alert.raised_ms = now;
			c->alert.deadline_ms = silent ? deadline : 0;
			open_alert_event(ev, c, stage);
			ev->first = 1;
			if (rearm)
				snprintf(ev->cause, sizeof(ev->cause), "after-ack");
			recipients(c, stage, kind, ev);
			return 1;
		}
	}
	if (now >= stall_at(wc, c)) {
		event_base(ev, c, VIGIL__V1__ALERT_KIND__ALERT_KIND_HANDOVER_STALLED);
		ev->stage = 1;
		ev->first = 1;
		ev->deadline_ms = stall_at(wc, c);
		memcpy(ev->alert_id, new_id, RECORD_ID_LEN);
		c->has_stall = 1;
		memcpy(c->stall_id, new_id, RECORD_ID_LEN);
		memcpy(c->stall_offer_id, c->pending_offer_id, RECORD_ID_LEN);
		snprintf(c->stall_org, sizeof(c->stall_org), "%s", c->responsible);
		recipients(c, 1, ev->kind, ev);
		return 1;
	}
	return 0;
}

size_t watchdog_open_alerts(const struct watch_config *wc, const struct case_state *c,
			    struct watch_open out[2])
{
	size_t n = 0;
	if (c->alert.open && !c->alert.resolve[0]) {
		struct watch_open *o = &out[n++];
		memset(o, 0, sizeof(*o));
		open_alert_event(&o->ev, c, c->alert.stage);
		recipients(c, c->alert.stage, c->alert.kind, &o->ev);
		o->raised_ms = c->alert.raised_ms;
		o->escalates_ms = escalation_due(c) ? escalate_at(wc, c) : 0;
		o->acked = c->alert.acked;
		o->acked_ms = c->alert.acked ? c->acked_ms : 0;
	}
	if (c->has_stall && !c->stall_resolve[0]) {
		struct watch_open *o = &out[n++];
		memset(o, 0, sizeof(*o));
		event_base(&o->ev, c, VIGIL__V1__ALERT_KIND__ALERT_KIND_HANDOVER_STALLED);
		o->ev.stage = 1;
		memcpy(o->ev.alert_id, c->stall_id, RECORD_ID_LEN);
		add_recipient(&o->ev, c->stall_org[0] ? c->stall_org : c->responsible);
		o->raised_ms = c->has_pending ? watchdog_add(c->pending_offer_at_ms,
							     wc->handover_window_ms)
					      : 0;
		o->ev.deadline_ms = o->raised_ms;
	}
	return n;
}

enum watch_event_class watchdog_event_class(const struct watch_event *ev)
{
	if (ev->stage == 0)
		return WATCH_RESOLVED;
	if (strcmp(ev->cause, "handover") == 0)
		return WATCH_NOTICE;
	if (ev->first)
		return WATCH_RAISED;
	return WATCH_ESCALATED;
}

const char *watchdog_event_class_name(enum watch_event_class k)
{
	static const char *const names[WATCH_EVENT_CLASSES] = {
		[WATCH_RAISED] = "raised",
		[WATCH_ESCALATED] = "escalated",
		[WATCH_RESOLVED] = "resolved",
		[WATCH_NOTICE] = "notice",
	};
	return (unsigned)k < WATCH_EVENT_CLASSES ? names[k] : "raised";
}
