#include "daemon/casestate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/watchdog.h"
#include "proto/status.h"

static int party_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct case_party *)elem)->org);
}

const struct case_party *casestate_party(const struct case_state *c, const char *org)
{
	return bsearch(org, c->parties, c->n_parties, sizeof(c->parties[0]), party_cmp);
}

int casestate_add_party(struct case_state *c, const char *org, int role)
{
	size_t i = 0;
	while (i < c->n_parties && strcmp(c->parties[i].org, org) < 0)
		i++;
	if (i < c->n_parties && strcmp(c->parties[i].org, org) == 0)
		return VG_OK;
	if (c->n_parties == CASE_PARTIES_MAX)
		return VG_ETOOLARGE;
	memmove(&c->parties[i + 1], &c->parties[i], (c->n_parties - i) * sizeof(c->parties[0]));
	memset(&c->parties[i], 0, sizeof(c->parties[i]));
	snprintf(c->parties[i].org, sizeof(c->parties[i].org), "%s", org);
	c->parties[i].role = role;
	c->parties[i].is_new = 1;
	c->n_parties++;
	return VG_OK;
}

int casestate_id_owner(const char *case_id, char out[CASE_ORG_LEN])
{
	const char *slash = strchr(case_id, '/');
	size_t n = slash ? (size_t)(slash - case_id) : 0;
	if (n == 0 || n >= CASE_ORG_LEN) {
		out[0] = '\0';
		return -1;
	}
	memcpy(out, case_id, n);
	out[n] = '\0';
	return 0;
}

static int apply_open(struct case_state *c, const Vigil__V1__Record *rec, const char *org,
		      const struct case_members *m, int64_t now)
{
	const Vigil__V1__CaseOpen *o = rec->case_open;
	if (!c->case_id[0]) {
		/* A new case.  A reopened one keeps its owner, parties and
		 * history; the opener's assessment and basis replace the old. */
		snprintf(c->case_id, sizeof(c->case_id), "%s", rec->case_id);
		snprintf(c->owner, sizeof(c->owner), "%s", org);
	}
	c->state = VIGIL__V1__CASE_STATE__CASE_STATE_ACTIVE;
	snprintf(c->responsible, sizeof(c->responsible), "%s", org);
	c->risk = o->risk;
	c->minor = o->minor;
	c->immediate_danger = 0;
	c->factors = 0;
	snprintf(c->return_country, sizeof(c->return_country), "%s", o->return_country);
	snprintf(c->return_date, sizeof(c->return_date), "%s", o->return_date);
	c->override = o->basis_case == VIGIL__V1__CASE_OPEN__BASIS_OVERRIDE;
	snprintf(c->consent_scope, sizeof(c->consent_scope), "%s",
		 o->basis_case == VIGIL__V1__CASE_OPEN__BASIS_CONSENT ? o->consent->scope : "");
	c->close_reason = 0;
	c->closed_at_ms = 0;
	c->retained = 0;
	c->has_pending = 0;
	watchdog_on_opened(c, now);
	int rc = casestate_add_party(c, org, m->role_of(m->ctx, org));
	for (size_t i = 0; rc == VG_OK && i < o->n_parties; i++)
		rc = casestate_add_party(c, o->parties[i], m->role_of(m->ctx, o->parties[i]));
	return rc;
}

int casestate_apply(struct case_state *c, const Vigil__V1__Record *rec, const char *org,
		    const struct case_members *m, const struct watch_config *wc, int64_t now)
{
	int rc = VG_OK;
	switch (rec->body_case) {
	case VIGIL__V1__RECORD__BODY_CASE_OPEN:
		rc = apply_open(c, rec, org, m, now);
		break;
	case VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT: {
		const Vigil__V1__ContactAttempt *a = rec->contact_attempt;
		watchdog_on_contact(wc, c, org, a->channel, a->outcome, a->attempted_at_ms, now);
		break;
	}
	case VIGIL__V1__RECORD__BODY_RISK_ASSESSMENT: {
		const Vigil__V1__RiskAssessment *r = rec->risk_assessment;
		c->risk = r->level;
		c->immediate_danger = r->immediate_danger;
		c->factors = 0;
		for (size_t i = 0; i < r->n_factors; i++)
			c->factors |= 1u << (r->factors[i] & 31);
		break;
	}
	case VIGIL__V1__RECORD__BODY_HANDOVER_OFFER:
		c->has_pending = 1;
		memcpy(c->pending_offer_id, rec->record_id.data, RECORD_ID_LEN);
		snprintf(c->pending_offer_to, sizeof(c->pending_offer_to), "%s",
			 rec->handover_offer->to);
		c->pending_offer_at_ms = now;
		break;
	case VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER:
		watchdog_on_offer_ended(c, "handover-answered");
		if (rec->handover_answer->accept) {
			snprintf(c->responsible, sizeof(c->responsible), "%s", org);
			watchdog_on_accepted(c, org, now);
			rc = casestate_add_party(c, org, m->role_of(m->ctx, org));
		}
		break;
	case VIGIL__V1__RECORD__BODY_HANDOVER_WITHDRAW:
		watchdog_on_offer_ended(c, "handover-withdrawn");
		break;
	case VIGIL__V1__RECORD__BODY_ALERT_ACK:
		/* Acknowledging a stalled handover records the decision only; the
		 * silence alert's acknowledgement re-arms the watchdog. */
		if (c->alert.open &&
		    memcmp(rec->alert_ack->alert_id.data, c->alert.id, RECORD_ID_LEN) == 0)
			watchdog_on_ack(c, now);
		break;
	case VIGIL__V1__RECORD__BODY_CASE_CLOSE:
		c->state = VIGIL__V1__CASE_STATE__CASE_STATE_CLOSED;
		c->close_reason = rec->case_close->reason;
		c->closed_at_ms = now;
		watchdog_on_closed(c);
		break;
	case VIGIL__V1__RECORD__BODY_GRANT:
		for (size_t i = 0; i < c->n_parties; i++)
			if (strcmp(c->parties[i].org, rec->grant->to) == 0) {
				c->parties[i].granted = 1;
				c->parties[i].grant_new = 1;
			}
		break;
	case VIGIL__V1__RECORD__BODY_ERASE_REQUEST:
		/* The erasure is the writer's (writer.c, erase_job); the case
		 * only counts the entry. */
		break;
	default:
		return VG_EBADREQ;
	}
	if (rc == VG_OK)
		c->entries++;
	return rc;
}

void casestate_rebuild(struct case_state *c, const struct case_event *ev, size_t n,
		       const struct watch_config *wc)
{
	/* What was raised and resolved is in the log already: the replay
	 * leaves the alert alone (watchdog_on_contact would mark it resolved),
	 * and the watchdog decides about it afterwards. */
	struct case_alert alert = c->alert;
	int64_t opened = c->opened_at_ms, handed = c->handed_over_at_ms, acked = c->acked_ms;
	memset(&c->alert, 0, sizeof(c->alert));
	c->last_attempt_ms = 0;
	c->last_attempt_channel = 0;
	c->last_attempt_outcome = 0;
	c->last_success_ms = 0;
	c->attempts = 0;
	c->opened_at_ms = c->handed_over_at_ms = c->acked_ms = 0;
	c->failed_attempts = 0;
	c->failed_channels = 0;
	c->failed_first_org[0] = '\0';
	c->failed_orgs = 0;
	for (size_t i = 0; i < n; i++) {
		const struct case_event *e = &ev[i];
		switch (e->kind) {
		case CASE_EV_OPENED:
			watchdog_on_opened(c, e->received_ms);
			c->risk = e->risk;
			c->immediate_danger = 0;
			c->factors = 0;
			break;
		case CASE_EV_ACCEPTED:
			watchdog_on_accepted(c, e->org, e->received_ms);
			break;
		case CASE_EV_ACKED:
			watchdog_on_ack(c, e->received_ms);
			break;
		case CASE_EV_CONTACT:
			watchdog_on_contact(wc, c, e->org, e->channel, e->outcome, e->at_ms,
					    e->received_ms);
			break;
		case CASE_EV_RISK:
			c->risk = e->risk;
			c->immediate_danger = e->immediate_danger;
			c->factors = e->factors;
			break;
		default:
			break;
		}
	}
	/* These are the state's (a record erased whole is no event here). */
	c->opened_at_ms = opened;
	c->handed_over_at_ms = handed;
	c->acked_ms = acked;
	c->alert = alert;
}
