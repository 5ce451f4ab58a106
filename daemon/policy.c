#include "daemon/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/identity.h"
#include "daemon/watchdog.h"
#include "proto/status.h"

#define WHY(...) snprintf(why, why_len, __VA_ARGS__)

static int too_late(const char *field, int64_t t, int64_t received_ms, uint64_t max_skew_ms,
		    char *why, size_t why_len)
{
	if (t <= watchdog_add(received_ms, max_skew_ms))
		return VG_OK;
	char at[TIME_RFC3339_MAX], relay[TIME_RFC3339_MAX];
	time_format_rfc3339(t, at);
	time_format_rfc3339(received_ms, relay);
	WHY("%s %s is later than the relay's time %s plus max_clock_skew (%llu s)", field, at, relay,
	    (unsigned long long)(max_skew_ms / 1000));
	return VG_EBADREQ;
}

int policy_check_times(const Vigil__V1__Record *rec, int64_t received_ms, uint64_t max_skew_ms,
		       char *why, size_t why_len)
{
	/* The body's own time first: it is the one a person typed. */
	int rc = VG_OK;
	if (rec->body_case == VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT)
		rc = too_late("attempted_at_ms", rec->contact_attempt->attempted_at_ms, received_ms,
			      max_skew_ms, why, why_len);
	/* A corrected attempt is held to the rule of a new one. */
	if (rec->body_case == VIGIL__V1__RECORD__BODY_CORRECTION &&
	    rec->correction->body_case == VIGIL__V1__CORRECTION__BODY_CONTACT_ATTEMPT)
		rc = too_late("attempted_at_ms", rec->correction->contact_attempt->attempted_at_ms,
			      received_ms, max_skew_ms, why, why_len);
	/* consent and override share a union: the basis says which is set. */
	if (rc == VG_OK && rec->body_case == VIGIL__V1__RECORD__BODY_CASE_OPEN &&
	    rec->case_open->basis_case == VIGIL__V1__CASE_OPEN__BASIS_CONSENT)
		rc = too_late("consent.given_at_ms", rec->case_open->consent->given_at_ms, received_ms,
			      max_skew_ms, why, why_len);
	if (rc == VG_OK)
		rc = too_late("client_time_ms", rec->client_time_ms, received_ms, max_skew_ms, why,
			      why_len);
	return rc;
}

/* The answer for a case that does not exist, and for one the peer may not
 * know about: the same words, so a refusal tells nothing. */
static int not_found(const char *case_id, char *why, size_t why_len)
{
	WHY("case %s not found", case_id);
	return VG_ENOTFOUND;
}

static int is_party(const struct case_state *c, const char *org)
{
	return casestate_party(c, org) != NULL;
}

static int is_offered(const struct case_state *c, const char *org)
{
	return c->has_pending && strcmp(c->pending_offer_to, org) == 0;
}

int policy_hidden(const struct policy_actor *actor, const struct case_state *c)
{
	return !is_party(c, actor->org);
}

static int members_known(const struct case_members *m, char **orgs, size_t n, char *why,
			 size_t why_len)
{
	for (size_t i = 0; i < n; i++) {
		int role = m->role_of(m->ctx, orgs[i]);
		if (role == ROLE_NONE) {
			WHY("unknown organisation %s", orgs[i]);
			return VG_ENOTFOUND;
		}
		if (role == ROLE_RELAY) {
			WHY("%s is a relay and is party to no case", orgs[i]);
			return VG_EBADREQ;
		}
	}
	return VG_OK;
}

static int check_open(const struct policy_actor *a, const struct case_state *c,
		      const Vigil__V1__Record *rec, const struct case_members *m, char *why,
		      size_t why_len)
{
	const Vigil__V1__CaseOpen *o = rec->case_open;
	if (a->role != ROLE_COORDINATOR) {
		WHY("only a coordinator opens a case");
		return VG_EPERM;
	}
	if (!c || !is_party(c, a->org)) {
		/* Only the owner named in the id may create it; that rule alone
		 * answers anyone else, whether or not the case exists. */
		char owner[CASE_ORG_LEN];
		if (casestate_id_owner(rec->case_id, owner) != 0 || strcmp(owner, a->org) != 0) {
			WHY("a new case's id begins with your organisation id: %s/...", a->org);
			return VG_EPERM;
		}
		if (c)
			return not_found(rec->case_id, why, why_len);
	} else if (c->state != VIGIL__V1__CASE_STATE__CASE_STATE_CLOSED) {
		WHY("case %s is already open", rec->case_id);
		return VG_ECONFLICT;
	} else if (strcmp(a->org, c->owner) != 0 && strcmp(a->org, c->responsible) != 0) {
		WHY("only the owner (%s) or the responsible coordinator reopens the case", c->owner);
		return VG_EPERM;
	}
	return members_known(m, o->parties, o->n_parties, why, why_len);
}

static int check_ack(const struct policy_actor *a, const struct case_state *c,
		     const Vigil__V1__AlertAck *ack, char *why, size_t why_len)
{
	if (a->role != ROLE_COORDINATOR && strcmp(a->org, c->responsible) != 0) {
		WHY("only a coordinator party or the responsible organisation acknowledges an alert");
		return VG_EPERM;
	}
	int alert = c->alert.open && !c->alert.resolve[0] &&
		    memcmp(ack->alert_id.data, c->alert.id, RECORD_ID_LEN) == 0;
	int stall = c->has_stall && !c->stall_resolve[0] &&
		    memcmp(ack->alert_id.data, c->stall_id, RECORD_ID_LEN) == 0;
	if (!alert && !stall) {
		WHY("that alert is not open");
		return VG_EBADREQ;
	}
	return VG_OK;
}

static int check_risk(const struct policy_actor *a, const struct case_state *c,
		      const Vigil__V1__RiskAssessment *r, char *why, size_t why_len)
{
	if (a->role != ROLE_COORDINATOR && a->role != ROLE_POLICE && a->role != ROLE_IOM) {
		WHY("only coordinator, police and iom parties assess risk");
		return VG_EPERM;
	}
	if (c->minor && r->level != VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH) {
		WHY("a minor's risk level is never below high");
		return VG_EBADREQ;
	}
	return VG_OK;
}

static int check_offer(const struct policy_actor *a, const struct case_state *c,
		       const Vigil__V1__HandoverOffer *o, const struct case_members *m, char *why,
		       size_t why_len)
{
	if (strcmp(a->org, c->responsible) != 0) {
		WHY("only the responsible organisation (%s) offers a handover", c->responsible);
		return VG_EPERM;
	}
	if (c->has_pending) {
		WHY("an offer to %s is already pending; it must be answered or withdrawn first",
		    c->pending_offer_to);
		return VG_ECONFLICT;
	}
	if (strcmp(o->to, a->org) == 0) {
		WHY("the case is already with %s", a->org);
		return VG_EBADREQ;
	}
	int role = m->role_of(m->ctx, o->to);
	if (role == ROLE_NONE) {
		WHY("unknown organisation %s", o->to);
		return VG_ENOTFOUND;
	}
	if (role == ROLE_RELAY) {
		WHY("%s is a relay and takes no cases", o->to);
		return VG_EBADREQ;
	}
	return VG_OK;
}

static int offer_pending(const struct case_state *c, const ProtobufCBinaryData *id, char *why,
			 size_t why_len)
{
	if (!c->has_pending || id->len != RECORD_ID_LEN ||
	    memcmp(id->data, c->pending_offer_id, RECORD_ID_LEN) != 0) {
		WHY("that offer is not pending (withdrawn, answered or unknown)");
		return VG_EBADREQ;
	}
	return VG_OK;
}

static int check_answer(const struct policy_actor *a, const struct case_state *c,
			const Vigil__V1__HandoverAnswer *ans, char *why, size_t why_len)
{
	int rc = offer_pending(c, &ans->offer_id, why, why_len);
	if (rc != VG_OK)
		return rc;
	if (strcmp(a->org, c->pending_offer_to) != 0) {
		WHY("only the offered organisation (%s) answers this offer", c->pending_offer_to);
		return VG_EPERM;
	}
	return VG_OK;
}

static int check_withdraw(const struct policy_actor *a, const struct case_state *c,
			  const Vigil__V1__HandoverWithdraw *w, char *why, size_t why_len)
{
	if (strcmp(a->org, c->responsible) != 0) {
		WHY("only the responsible organisation (%s) withdraws its offer", c->responsible);
		return VG_EPERM;
	}
	return offer_pending(c, &w->offer_id, why, why_len);
}

static int check_close(const struct policy_actor *a, const struct case_state *c, char *why,
		       size_t why_len)
{
	if (a->role != ROLE_COORDINATOR ||
	    (strcmp(a->org, c->owner) != 0 && strcmp(a->org, c->responsible) != 0)) {
		WHY("only the owner (%s) or the responsible coordinator closes the case", c->owner);
		return VG_EPERM;
	}
	return VG_OK;
}

static int reads_narrative(int role);

/* A party reads the narrative: its role does, or the owner granted it. */
static int narrative_reader(const struct case_state *c, const struct case_party *p)
{
	return reads_narrative(p->role) || p->granted || strcmp(p->org, c->owner) == 0 ||
	       strcmp(p->org, c->responsible) == 0;
}

static int check_grant(const struct policy_actor *a, const struct case_state *c,
		       const Vigil__V1__Grant *g, const struct case_members *m, char *why,
		       size_t why_len)
{
	(void)m;
	if (strcmp(a->org, c->owner) != 0) {
		WHY("only the case's owner (%s) grants access to its narrative", c->owner);
		return VG_EPERM;
	}
	const struct case_party *p = casestate_party(c, g->to);
	if (!p) {
		WHY("%s is not a party of case %s", g->to, c->case_id);
		return VG_EBADREQ;
	}
	if (narrative_reader(c, p)) {
		WHY("%s reads the narrative of case %s already", g->to, c->case_id);
		return VG_EBADREQ;
	}
	return VG_OK;
}

int policy_record(const struct policy_actor *a, const struct case_state *c,
		  const Vigil__V1__Record *rec, const struct case_members *m, char *why,
		  size_t why_len)
{
	if (rec->body_case == VIGIL__V1__RECORD__BODY_ALERT) {
		WHY("alerts are raised by the relay only");
		return VG_EPERM;
	}
	if (rec->body_case == VIGIL__V1__RECORD__BODY_ERASURE) {
		WHY("erasures are written by the relay only");
		return VG_EPERM;
	}
	if (rec->body_case == VIGIL__V1__RECORD__BODY_MEMBER_KEY) {
		WHY("member keys are logged by the relay only");
		return VG_EPERM;
	}
	if (rec->body_case == VIGIL__V1__RECORD__BODY_CASE_OPEN)
		return check_open(a, c, rec, m, why, why_len);
	/* The offered organisation may answer before it is a party. */
	int answering = c && rec->body_case == VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER &&
			is_offered(c, a->org);
	if (!c || (!is_party(c, a->org) && !answering))
		return not_found(rec->case_id, why, why_len);
	/* The owner erases, whatever the case's state (DESIGN.md section 8:
	 * the controller's decision); which record is the writer's check. */
	if (rec->body_case == VIGIL__V1__RECORD__BODY_ERASE_REQUEST) {
		if (strcmp(a->org, c->owner) != 0) {
			WHY("only the case's owner (%s) erases its records", c->owner);
			return VG_EPERM;
		}
		return VG_OK;
	}
	if (c->state != VIGIL__V1__CASE_STATE__CASE_STATE_ACTIVE) {
		WHY("case %s is closed; its owner reopens it with a case open", rec->case_id);
		return VG_EBADREQ;
	}
	switch (rec->body_case) {
	case VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT:
		return VG_OK;
	case VIGIL__V1__RECORD__BODY_ALERT_ACK:
		return check_ack(a, c, rec->alert_ack, why, why_len);
	case VIGIL__V1__RECORD__BODY_RISK_ASSESSMENT:
		return check_risk(a, c, rec->risk_assessment, why, why_len);
	case VIGIL__V1__RECORD__BODY_HANDOVER_OFFER:
		return check_offer(a, c, rec->handover_offer, m, why, why_len);
	case VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER:
		return check_answer(a, c, rec->handover_answer, why, why_len);
	case VIGIL__V1__RECORD__BODY_HANDOVER_WITHDRAW:
		return check_withdraw(a, c, rec->handover_withdraw, why, why_len);
	case VIGIL__V1__RECORD__BODY_CASE_CLOSE:
		return check_close(a, c, why, why_len);
	case VIGIL__V1__RECORD__BODY_GRANT:
		return check_grant(a, c, rec->grant, m, why, why_len);
	case VIGIL__V1__RECORD__BODY_CORRECTION:
		/* Which record, and whose: policy_correction, once the writer
		 * has looked the record up. */
		return VG_OK;
	default:
		WHY("this record kind is not accepted yet");
		return VG_EBADREQ;
	}
}

/* A record kind in a refusal, with its article ("a handover offer"). */
static const char *kind_name(int body)
{
	switch (body) {
	case VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT: return "a contact attempt";
	case VIGIL__V1__RECORD__BODY_RISK_ASSESSMENT: return "a risk assessment";
	case VIGIL__V1__RECORD__BODY_CASE_OPEN: return "a case open";
	case VIGIL__V1__RECORD__BODY_HANDOVER_OFFER: return "a handover offer";
	case VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER: return "a handover answer";
	case VIGIL__V1__RECORD__BODY_HANDOVER_WITHDRAW: return "a handover withdrawal";
	case VIGIL__V1__RECORD__BODY_ALERT_ACK: return "an alert acknowledgement";
	case VIGIL__V1__RECORD__BODY_CASE_CLOSE: return "a case close";
	case VIGIL__V1__RECORD__BODY_ALERT: return "an alert";
	case VIGIL__V1__RECORD__BODY_ERASE_REQUEST: return "an erase request";
	case VIGIL__V1__RECORD__BODY_ERASURE: return "an erasure";
	case VIGIL__V1__RECORD__BODY_GRANT: return "a grant";
	case VIGIL__V1__RECORD__BODY_MEMBER_KEY: return "a member key";
	case VIGIL__V1__RECORD__BODY_CORRECTION: return "a correction";
	default: return "a record of an unknown kind";
	}
}

/* The body a record gives for its kind: its own, or a correction's. */
static const Vigil__V1__ContactAttempt *contact_of(const Vigil__V1__Record *r)
{
	if (r->body_case == VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT)
		return r->contact_attempt;
	if (r->body_case == VIGIL__V1__RECORD__BODY_CORRECTION &&
	    r->correction->body_case == VIGIL__V1__CORRECTION__BODY_CONTACT_ATTEMPT)
		return r->correction->contact_attempt;
	return NULL;
}

static const Vigil__V1__RiskAssessment *risk_of(const Vigil__V1__Record *r)
{
	if (r->body_case == VIGIL__V1__RECORD__BODY_RISK_ASSESSMENT)
		return r->risk_assessment;
	if (r->body_case == VIGIL__V1__RECORD__BODY_CORRECTION &&
	    r->correction->body_case == VIGIL__V1__CORRECTION__BODY_RISK_ASSESSMENT)
		return r->correction->risk_assessment;
	return NULL;
}

static uint32_t factor_set(const Vigil__V1__RiskAssessment *r)
{
	uint32_t set = 0;
	for (size_t i = 0; i < r->n_factors; i++)
		set |= 1u << (r->factors[i] & 31);
	return set;
}

/* Does the correction rec change what in_force says?  Its coded fields, or
 * a new note (without one the note in force stands). */
static int changes(const Vigil__V1__Record *rec, const Vigil__V1__Record *in_force)
{
	const Vigil__V1__ContactAttempt *a = contact_of(rec), *b = contact_of(in_force);
	if (a && b)
		return a->channel != b->channel || a->outcome != b->outcome ||
		       a->attempted_at_ms != b->attempted_at_ms || a->sealed_note != NULL;
	const Vigil__V1__RiskAssessment *x = risk_of(rec), *y = risk_of(in_force);
	if (x && y)
		return x->level != y->level || !x->immediate_danger != !y->immediate_danger ||
		       x->phase != y->phase || factor_set(x) != factor_set(y);
	return 1;
}

int policy_correction(const struct policy_actor *a, const struct case_state *c,
		      const Vigil__V1__Record *rec, const struct correction_target *t,
		      uint64_t max_skew_ms, char *why, size_t why_len)
{
	const Vigil__V1__Correction *k = rec->correction;
	char id[2 * RECORD_ID_LEN + 1];
	hex_encode(k->target_id.data, RECORD_ID_LEN, id);
	if (!t->found || strcmp(t->case_id, rec->case_id) != 0) {
		WHY("record %s is no entry of case %s", id, rec->case_id);
		return VG_ENOTFOUND;
	}
	if (strcmp(a->org, t->author) != 0) {
		WHY("only the organisation that wrote record %s (%s) corrects it", id, t->author);
		return VG_EPERM;
	}
	if (t->erased || !t->in_force) {
		WHY("record %s is erased; an erased record is corrected no more", id);
		return VG_EBADREQ;
	}
	/* Handovers, openings, closings, acknowledgements and grants decide
	 * who is responsible, who reads and what the watchdog does: they are
	 * followed by new records, never rewritten (proto/README.md). */
	if (t->kind != VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT &&
	    t->kind != VIGIL__V1__RECORD__BODY_RISK_ASSESSMENT) {
		WHY("record %s is %s, which is never corrected; only contact attempts and risk "
		    "assessments are", id, kind_name(t->kind));
		return VG_EBADREQ;
	}
	int want = t->kind == VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT
			   ? VIGIL__V1__CORRECTION__BODY_CONTACT_ATTEMPT
			   : VIGIL__V1__CORRECTION__BODY_RISK_ASSESSMENT;
	if ((int)k->body_case != want) {
		WHY("record %s is %s; its correction gives %s", id, kind_name(t->kind),
		    kind_name(t->kind));
		return VG_EBADREQ;
	}
	if (k->body_case == VIGIL__V1__CORRECTION__BODY_RISK_ASSESSMENT && c->minor &&
	    k->risk_assessment->level != VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH) {
		WHY("a minor's risk level is never below high");
		return VG_EBADREQ;
	}
	/* As if submitted in the first place: no attempt is reported before it
	 * was made, give or take the clocks' skew. */
	if (k->body_case == VIGIL__V1__CORRECTION__BODY_CONTACT_ATTEMPT &&
	    k->contact_attempt->attempted_at_ms > watchdog_add(t->received_ms, max_skew_ms)) {
		char at[TIME_RFC3339_MAX], relay[TIME_RFC3339_MAX];
		time_format_rfc3339(k->contact_attempt->attempted_at_ms, at);
		time_format_rfc3339(t->received_ms, relay);
		WHY("attempted_at_ms %s is later than the relay's receive time of record %s, %s, "
		    "plus max_clock_skew (%llu s)", at, id, relay,
		    (unsigned long long)(max_skew_ms / 1000));
		return VG_EBADREQ;
	}
	if (t->corrections >= POLICY_CORRECTIONS_MAX) {
		WHY("record %s has been corrected %u times; it is corrected no more", id,
		    t->corrections);
		return VG_EBADREQ;
	}
	if (!changes(rec, t->in_force)) {
		WHY("the correction changes nothing: it gives the body in force for record %s", id);
		return VG_EBADREQ;
	}
	return VG_OK;
}

int policy_reads_records(const struct case_state *c, const char *org, int role)
{
	const struct case_party *p = casestate_party(c, org);
	if (!p)
		return 0;
	return role == ROLE_COORDINATOR || role == ROLE_IOM || role == ROLE_SHELTER ||
	       strcmp(org, c->responsible) == 0 || p->granted;
}

int policy_reseal(const struct policy_actor *a, const char *case_id, const struct case_state *c,
		  const ProtobufCBinaryData *offer_id, char *why, size_t why_len)
{
	if (!c || !is_party(c, a->org))
		return not_found(case_id, why, why_len);
	if (strcmp(a->org, c->responsible) != 0) {
		WHY("only the responsible organisation (%s) re-seals for its handover offer",
		    c->responsible);
		return VG_EPERM;
	}
	return offer_pending(c, offer_id, why, why_len);
}

int policy_query(const struct policy_actor *a, const char *case_id, const struct case_state *c,
		 enum case_query q, enum case_view *view, char *why, size_t why_len)
{
	*view = CASE_VIEW_FULL;
	if (q == CASE_Q_LIST)
		return VG_OK;
	if (!c)
		return not_found(case_id, why, why_len);
	int party = is_party(c, a->org);
	if (!party) {
		/* The organisation a pending offer names may see the status: it
		 * is asked to take the case on, and needs the offer to answer.
		 * It sees that view whatever its role. */
		if (q == CASE_Q_STATUS && is_offered(c, a->org)) {
			*view = CASE_VIEW_OFFERED;
			return VG_OK;
		}
		/* It may answer, and seal a decline reason. */
		if (q == CASE_Q_SEAL_READERS && is_offered(c, a->org))
			return VG_OK;
		return not_found(case_id, why, why_len);
	}
	switch (q) {
	case CASE_Q_SEAL_READERS:
		/* Whoever writes to the case seals to them; police too (they
		 * learn the organisations that read, not what they read). */
		return VG_OK;
	case CASE_Q_STATUS:
		*view = a->role == ROLE_POLICE ? CASE_VIEW_POLICE : CASE_VIEW_FULL;
		return VG_OK;
	case CASE_Q_LOG:
		/* The parties that read narrative (they are the readers of its
		 * sealed text) and the responsible party; police read no
		 * narrative. */
		if (!policy_reads_records(c, a->org, a->role)) {
			WHY("the case's records are for coordinator, iom, shelter and responsible "
			    "parties");
			return VG_EPERM;
		}
		return VG_OK;
	case CASE_Q_READERS:
		if (strcmp(a->org, c->owner) != 0 &&
		    (a->role != ROLE_COORDINATOR || strcmp(a->org, c->responsible) != 0)) {
			WHY("only the owner (%s) or the responsible coordinator lists who read the case",
			    c->owner);
			return VG_EPERM;
		}
		return VG_OK;
	default:
		WHY("unknown case query");
		return VG_EBADREQ;
	}
}

const char *policy_refused_tag(const Vigil__V1__Record *rec)
{
	switch (rec->body_case) {
	case VIGIL__V1__RECORD__BODY_CASE_OPEN: return "open-refused";
	case VIGIL__V1__RECORD__BODY_ERASE_REQUEST: return "erase-refused";
	case VIGIL__V1__RECORD__BODY_GRANT: return "grant-refused";
	case VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT: return "contact-refused";
	case VIGIL__V1__RECORD__BODY_RISK_ASSESSMENT: return "risk-refused";
	case VIGIL__V1__RECORD__BODY_HANDOVER_OFFER: return "offer-refused";
	case VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER: return "answer-refused";
	case VIGIL__V1__RECORD__BODY_HANDOVER_WITHDRAW: return "withdraw-refused";
	case VIGIL__V1__RECORD__BODY_ALERT_ACK: return "ack-refused";
	case VIGIL__V1__RECORD__BODY_CASE_CLOSE: return "close-refused";
	case VIGIL__V1__RECORD__BODY_CORRECTION: return "correct-refused";
	default: return "write-refused";
	}
}

const char *policy_query_tag(enum case_query q, int refused)
{
	switch (q) {
	case CASE_Q_STATUS: return refused ? "status-refused" : "status";
	case CASE_Q_LOG: return refused ? "log-refused" : "log";
	case CASE_Q_READERS: return refused ? "readers-refused" : "readers";
	case CASE_Q_SEAL_READERS: return refused ? "seal-readers-refused" : "seal-readers";
	default: return refused ? "list-refused" : "list";
	}
}

static int reads_narrative(int role)
{
	return role == ROLE_COORDINATOR || role == ROLE_IOM || role == ROLE_SHELTER;
}

/* Adds org (if it has an encryption certificate and is not in yet). */
static void add_reader(struct seal_reader *out, size_t *n, const char *org,
		       const struct case_members *m)
{
	struct seal_reader r;
	if (!org || !org[0] || !m->enc_of || strlen(org) >= sizeof(r.org) ||
	    !m->enc_of(m->ctx, org, r.enc_sha256))
		return;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(out[i].org, org) == 0)
			return;
	if (*n >= RECORD_PARTIES_MAX + 2)
		return;
	memcpy(r.org, org, strlen(org) + 1);
	out[(*n)++] = r;
}

static int by_hash(const void *a, const void *b)
{
	return memcmp(((const struct seal_reader *)a)->enc_sha256,
		      ((const struct seal_reader *)b)->enc_sha256, SHA256_LEN);
}

size_t policy_seal_readers(const struct case_state *c, const Vigil__V1__Record *rec,
			   const char *author, const struct case_members *m,
			   struct seal_reader *out)
{
	size_t n = 0;
	if (c) {
		for (size_t i = 0; i < c->n_parties; i++)
			if (narrative_reader(c, &c->parties[i]))
				add_reader(out, &n, c->parties[i].org, m);
		add_reader(out, &n, c->owner, m);
		add_reader(out, &n, c->responsible, m);
		/* Asked to take the case on, it reads what is written meanwhile
		 * (what was written before is re-sealed for it: reseal.h). */
		if (c->has_pending)
			add_reader(out, &n, c->pending_offer_to, m);
	}
	if (rec->body_case == VIGIL__V1__RECORD__BODY_CASE_OPEN) {
		add_reader(out, &n, author, m);
		for (size_t i = 0; i < rec->case_open->n_parties; i++)
			if (reads_narrative(m->role_of(m->ctx, rec->case_open->parties[i])))
				add_reader(out, &n, rec->case_open->parties[i], m);
	}
	if (rec->body_case == VIGIL__V1__RECORD__BODY_HANDOVER_OFFER)
		add_reader(out, &n, rec->handover_offer->to, m);
	qsort(out, n, sizeof(*out), by_hash);
	return n;
}

int policy_check_sealed(const struct case_state *c, const Vigil__V1__Record *rec,
			const char *author, const struct case_members *m, char *why,
			size_t why_len)
{
	int field;
	const Vigil__V1__SealedText *t = record_sealed_text(rec, &field, NULL);
	if (!t)
		return VG_OK;
	static const char *const names[] = { "", "note", "justification", "decline reason",
					     "acknowledgement reason" };
	const char *name = field >= 1 && field <= 4 ? names[field] : "text";
	struct seal_reader want[RECORD_PARTIES_MAX + 2];
	size_t n = policy_seal_readers(c, rec, author, m, want);
	size_t i = 0, j = 0;
	while (i < n || j < t->n_readers) {
		int cmp = i == n ? 1 : j == t->n_readers ? -1
				 : memcmp(want[i].enc_sha256, t->readers[j].data, SHA256_LEN);
		if (cmp == 0) {
			i++;
			j++;
			continue;
		}
		if (cmp < 0) {
			WHY("sealed %s must be sealed to %s too (a reader of this case)", name,
			    want[i].org);
			return VG_EBADREQ;
		}
		WHY("sealed %s names reader %zu, which is no reader of this case (only the "
		    "parties that read narrative, the owner and the responsible organisation "
		    "are)",
		    name, j + 1);
		return VG_EBADREQ;
	}
	return VG_OK;
}
