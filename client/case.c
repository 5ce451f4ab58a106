/*
 * case.c - the case records: CaseOpen, RiskAssessment, HandoverOffer,
 * HandoverAnswer, HandoverWithdraw, CaseClose, AlertAck and Correction.
 *
 * Each kind has one encoder that checks the caller's struct (names of
 * codes, identifiers, the exactly-one-of rules) with messages that name the
 * field and the value, then builds the body and packs the Record through
 * the relay's own validation (record.c).  check, build and submit of every
 * kind are the same three steps around that encoder, written once below.
 * Free text is sealed (seal.c) between the check and the real encoding:
 * the check encodes it in the clear into a trial record (so the relay's
 * own rules check it), the real record carries only its SealedText.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "proto/record.h"
#include "proto/status.h"

/* Builds the record bytes of one kind from its spec. */
typedef int (*encode_fn)(const void *spec, const struct vigil__head *h, uint8_t **out,
			 size_t *out_len, struct vigil_error *err);

/* The common fields of a spec (every spec struct starts with them). */
struct spec_head {
	uint8_t *record_id;
	int have_record_id;
	const char *case_id;
	int64_t client_time_ms;
};

static int empty(const char *s)
{
	return !s || !s[0];
}

/* A free text of 1-280 bytes; the encoding is checked on the record. */
static int text_check(const char *s, const char *what, struct vigil_error *err)
{
	size_t n = strlen(s);
	if (n > RECORD_TEXT_MAX)
		return vigil__error_set(err, VIGIL_E_USAGE, "%s is %zu bytes; the limit is %u", what,
					n, RECORD_TEXT_MAX);
	return VIGIL_OK;
}

static int org_check(const char *org, const char *what, struct vigil_error *err)
{
	if (empty(org))
		return vigil__error_set(err, VIGIL_E_USAGE, "no %s given", what);
	if (!record_org_ok(org))
		return vigil__error_set(err, VIGIL_E_USAGE,
					"%s \"%.*s\" is not an organisation id (1-%u characters of "
					"a-z, 0-9 and '-')", what, VIGIL__QUOTE_MAX, org,
					RECORD_ORG_MAX);
	return VIGIL_OK;
}

/* ---- CaseOpen -------------------------------------------------------------------- */

static int date_check(const char *d, struct vigil_error *err)
{
	if (empty(d))
		return vigil__error_set(err, VIGIL_E_USAGE, "no return date given");
	char buf[40];
	int64_t ms;
	int ok = strlen(d) == 10;
	if (ok) {
		snprintf(buf, sizeof(buf), "%sT00:00:00Z", d);
		ok = time_parse_rfc3339(buf, &ms) == VG_OK;
	}
	if (!ok)
		return vigil__error_set(err, VIGIL_E_USAGE,
					"return date \"%.*s\" is not a date YYYY-MM-DD (e.g. "
					"2026-10-01)", VIGIL__QUOTE_MAX, d);
	return VIGIL_OK;
}

static int country_check(const char *cc, struct vigil_error *err)
{
	if (empty(cc))
		return vigil__error_set(err, VIGIL_E_USAGE, "no return country given");
	if (strlen(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z')
		return vigil__error_set(err, VIGIL_E_USAGE,
					"return country \"%.*s\" is not an ISO 3166 code of two "
					"capital letters (e.g. RU)", VIGIL__QUOTE_MAX, cc);
	return VIGIL_OK;
}

static int parties_check(const char *const *parties, size_t n, struct vigil_error *err)
{
	if (n > RECORD_PARTIES_MAX)
		return vigil__error_set(err, VIGIL_E_USAGE, "%zu parties; a case opens with at "
					"most %u", n, RECORD_PARTIES_MAX);
	if (n && !parties)
		return vigil__error_set(err, VIGIL_E_USAGE, "n_parties is %zu but parties is NULL",
					n);
	for (size_t i = 0; i < n; i++) {
		int rc = org_check(parties[i], "party", err);
		if (rc != VIGIL_OK)
			return rc;
		for (size_t k = 0; k < i; k++)
			if (strcmp(parties[i], parties[k]) == 0)
				return vigil__error_set(err, VIGIL_E_USAGE,
							"party \"%s\" is named twice", parties[i]);
	}
	return VIGIL_OK;
}

/* Exactly one of a consent (what) and an override justification. */
static int basis_check(const char *consent, const char *what, const char *justification,
		       struct vigil_error *err)
{
	if (!empty(consent) && !empty(justification))
		return vigil__error_set(err, VIGIL_E_USAGE,
					"give %s or an override justification, not both", what);
	if (empty(consent) && empty(justification))
		return vigil__error_set(err, VIGIL_E_USAGE,
					"no basis for sharing given: %s, or an override with reason "
					"risk_to_life and its justification", what);
	if (!empty(justification))
		return text_check(justification, "override justification", err);
	return VIGIL_OK;
}

static int encode_open(const void *spec, const struct vigil__head *h, uint8_t **out,
		       size_t *out_len, struct vigil_error *err)
{
	const struct vigil_case_open *o = spec;
	int risk = 0;
	int rc = vigil__record_code(o->risk, "risk level", record_risk_from_name,
				    vigil_risk_name, &risk, err);
	if (rc != VIGIL_OK)
		return rc;
	if (o->minor && risk != VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH)
		return vigil__error_set(err, VIGIL_E_USAGE, "a minor's risk level is never below "
					"high (not \"%s\")", o->risk);
	if ((rc = country_check(o->return_country, err)) != VIGIL_OK ||
	    (rc = date_check(o->return_date, err)) != VIGIL_OK ||
	    (rc = parties_check(o->parties, o->n_parties, err)) != VIGIL_OK ||
	    (rc = basis_check(o->consent_scope, "a consent scope", o->override_justification,
			      err)) != VIGIL_OK)
		return rc;
	if (!empty(o->consent_scope) && !record_org_ok(o->consent_scope))
		return vigil__error_set(err, VIGIL_E_USAGE,
					"consent scope \"%.*s\" is not a coded scope (1-64 "
					"characters of a-z, 0-9 and '-', e.g. share-with-iom)",
					VIGIL__QUOTE_MAX, o->consent_scope);
	if (o->consent_given_at_ms < 0)
		return vigil__error_set(err, VIGIL_E_USAGE, "the consent's time is before 1970");

	Vigil__V1__CaseOpen co = VIGIL__V1__CASE_OPEN__INIT;
	Vigil__V1__Consent consent = VIGIL__V1__CONSENT__INIT;
	Vigil__V1__Override ov = VIGIL__V1__OVERRIDE__INIT;
	co.risk = (Vigil__V1__RiskLevel)risk;
	co.minor = o->minor ? 1 : 0;
	co.return_country = (char *)o->return_country;
	co.return_date = (char *)o->return_date;
	co.parties = (char **)o->parties;
	co.n_parties = o->n_parties;
	if (!empty(o->consent_scope)) {
		consent.scope = (char *)o->consent_scope;
		consent.given_at_ms = o->consent_given_at_ms ? o->consent_given_at_ms : h->now;
		co.basis_case = VIGIL__V1__CASE_OPEN__BASIS_CONSENT;
		co.consent = &consent;
	} else {
		ov.reason = VIGIL__V1__OVERRIDE_REASON__OVERRIDE_REASON_RISK_TO_LIFE;
		ov.justification = (char *)(h->sealed ? "" : o->override_justification);
		ov.sealed_justification = (Vigil__V1__SealedText *)h->sealed;
		co.basis_case = VIGIL__V1__CASE_OPEN__BASIS_OVERRIDE;
		co.override = &ov;
	}
	Vigil__V1__Record r;
	vigil__record_head(&r, h);
	r.body_case = VIGIL__V1__RECORD__BODY_CASE_OPEN;
	r.case_open = &co;
	return vigil__record_pack(&r, "case open", out, out_len, err);
}

/* ---- RiskAssessment ------------------------------------------------------------------ */

/* The body of an assessment from its names (a RiskAssessment, or the one a
 * Correction gives); factors[] holds the codes a->factors points to. */
static int risk_body(const char *level_name, const char *const *names, size_t n_factors,
		     int immediate_danger, const char *phase_name, Vigil__V1__RiskAssessment *a,
		     Vigil__V1__RiskFactor factors[VIGIL_FACTORS_MAX], struct vigil_error *err)
{
	int level = 0, phase = 0;
	int rc = vigil__record_code(level_name, "risk level", record_risk_from_name,
				    vigil_risk_name, &level, err);
	if (rc != VIGIL_OK)
		return rc;
	if (n_factors && !names)
		return vigil__error_set(err, VIGIL_E_USAGE, "n_factors is %zu but factors is NULL",
					n_factors);
	if (n_factors > VIGIL_FACTORS_MAX)
		return vigil__error_set(err, VIGIL_E_USAGE, "%zu risk factors; there are only %d",
					n_factors, VIGIL_FACTORS_MAX);
	for (size_t i = 0; i < n_factors; i++) {
		int f = 0;
		rc = vigil__record_code(names[i], "risk factor", record_factor_from_name,
					vigil_factor_name, &f, err);
		if (rc != VIGIL_OK)
			return rc;
		for (size_t k = 0; k < i; k++)
			if ((int)factors[k] == f)
				return vigil__error_set(err, VIGIL_E_USAGE,
							"risk factor \"%s\" is named twice", names[i]);
		factors[i] = (Vigil__V1__RiskFactor)f;
	}
	rc = vigil__record_code(phase_name, "assessment phase", record_phase_from_name,
				vigil_phase_name, &phase, err);
	if (rc != VIGIL_OK)
		return rc;
	vigil__v1__risk_assessment__init(a);
	a->level = (Vigil__V1__RiskLevel)level;
	a->factors = factors;
	a->n_factors = n_factors;
	a->immediate_danger = immediate_danger ? 1 : 0;
	a->phase = (Vigil__V1__AssessmentPhase)phase;
	return VIGIL_OK;
}

static int encode_risk(const void *spec, const struct vigil__head *h, uint8_t **out,
		       size_t *out_len, struct vigil_error *err)
{
	const struct vigil_risk *ra = spec;
	Vigil__V1__RiskAssessment a;
	Vigil__V1__RiskFactor factors[VIGIL_FACTORS_MAX];
	int rc = risk_body(ra->level, ra->factors, ra->n_factors, ra->immediate_danger, ra->phase,
			   &a, factors, err);
	if (rc != VIGIL_OK)
		return rc;
	Vigil__V1__Record r;
	vigil__record_head(&r, h);
	r.body_case = VIGIL__V1__RECORD__BODY_RISK_ASSESSMENT;
	r.risk_assessment = &a;
	return vigil__record_pack(&r, "risk assessment", out, out_len, err);
}

/* ---- Correction ------------------------------------------------------------------------ */

static int encode_correction(const void *spec, const struct vigil__head *h, uint8_t **out,
			     size_t *out_len, struct vigil_error *err)
{
	const struct vigil_correction *k = spec;
	int reason = 0;
	int rc = vigil__record_code(k->reason, "correction reason",
				    record_correction_reason_from_name, vigil_correction_reason_name,
				    &reason, err);
	if (rc != VIGIL_OK)
		return rc;
	Vigil__V1__Correction co = VIGIL__V1__CORRECTION__INIT;
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	Vigil__V1__RiskAssessment ra;
	Vigil__V1__RiskFactor factors[VIGIL_FACTORS_MAX];
	co.target_id.data = (uint8_t *)k->target_id;
	co.target_id.len = RECORD_ID_LEN;
	co.reason = (Vigil__V1__CorrectionReason)reason;
	if (empty(k->kind))
		return vigil__error_set(err, VIGIL_E_USAGE, "no kind of the corrected record given "
					"(\"contact\" or \"risk\")");
	if (strcmp(k->kind, "contact") == 0) {
		int channel = 0, outcome = 0;
		rc = vigil__record_code(k->channel, "channel", record_channel_from_name,
					vigil_channel_name, &channel, err);
		if (rc == VIGIL_OK)
			rc = vigil__record_code(k->outcome, "outcome", record_outcome_from_name,
						vigil_outcome_name, &outcome, err);
		if (rc != VIGIL_OK)
			return rc;
		/* The time of the attempt is what is corrected, never "now". */
		if (k->attempted_at_ms <= 0)
			return vigil__error_set(err, VIGIL_E_USAGE, "no time of the attempt given: a "
						"correction states it");
		size_t nl = k->note ? strlen(k->note) : 0;
		if (nl > RECORD_NOTE_MAX)
			return vigil__error_set(err, VIGIL_E_USAGE, "note is %zu bytes; the limit is %u",
						nl, RECORD_NOTE_MAX);
		ca.channel = (Vigil__V1__Channel)channel;
		ca.outcome = (Vigil__V1__Outcome)outcome;
		ca.attempted_at_ms = k->attempted_at_ms;
		ca.note = (char *)(k->note && !h->sealed ? k->note : "");
		ca.sealed_note = (Vigil__V1__SealedText *)h->sealed;
		co.body_case = VIGIL__V1__CORRECTION__BODY_CONTACT_ATTEMPT;
		co.contact_attempt = &ca;
	} else if (strcmp(k->kind, "risk") == 0) {
		if (!empty(k->note))
			return vigil__error_set(err, VIGIL_E_USAGE, "a risk assessment carries no note");
		rc = risk_body(k->level, k->factors, k->n_factors, k->immediate_danger, k->phase, &ra,
			       factors, err);
		if (rc != VIGIL_OK)
			return rc;
		co.body_case = VIGIL__V1__CORRECTION__BODY_RISK_ASSESSMENT;
		co.risk_assessment = &ra;
	} else {
		return vigil__error_set(err, VIGIL_E_USAGE, "unknown kind of corrected record \"%.*s\" "
					"(one of: contact, risk)", VIGIL__QUOTE_MAX, k->kind);
	}
	Vigil__V1__Record r;
	vigil__record_head(&r, h);
	r.body_case = VIGIL__V1__RECORD__BODY_CORRECTION;
	r.correction = &co;
	return vigil__record_pack(&r, "correction", out, out_len, err);
}

/* ---- HandoverOffer ---------------------------------------------------------------------- */

/* A coded reference: 1-64 of [A-Za-z0-9-] (the case id alphabet). */
static int ref_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

static int encode_offer(const void *spec, const struct vigil__head *h, uint8_t **out,
			size_t *out_len, struct vigil_error *err)
{
	const struct vigil_handover_offer *o = spec;
	int reason = 0;
	int rc = org_check(o->to, "organisation to offer the case to", err);
	if (rc == VIGIL_OK)
		rc = vigil__record_code(o->reason, "handover reason",
					record_handover_reason_from_name,
					vigil_handover_reason_name, &reason, err);
	if (rc == VIGIL_OK)
		rc = basis_check(o->consent_ref, "a consent reference", o->override_justification,
				 err);
	if (rc != VIGIL_OK)
		return rc;
	if (!empty(o->consent_ref) && !ref_ok(o->consent_ref))
		return vigil__error_set(err, VIGIL_E_USAGE,
					"consent reference \"%.*s\" must be 1-64 characters of A-Z, "
					"a-z, 0-9 and '-'", VIGIL__QUOTE_MAX, o->consent_ref);

	Vigil__V1__HandoverOffer ho = VIGIL__V1__HANDOVER_OFFER__INIT;
	Vigil__V1__Override ov = VIGIL__V1__OVERRIDE__INIT;
	ho.to = (char *)o->to;
	ho.reason = (Vigil__V1__HandoverReason)reason;
	if (!empty(o->consent_ref)) {
		ho.basis_case = VIGIL__V1__HANDOVER_OFFER__BASIS_CONSENT_REF;
		ho.consent_ref = (char *)o->consent_ref;
	} else {
		ov.reason = VIGIL__V1__OVERRIDE_REASON__OVERRIDE_REASON_RISK_TO_LIFE;
		ov.justification = (char *)(h->sealed ? "" : o->override_justification);
		ov.sealed_justification = (Vigil__V1__SealedText *)h->sealed;
		ho.basis_case = VIGIL__V1__HANDOVER_OFFER__BASIS_OVERRIDE;
		ho.override = &ov;
	}
	Vigil__V1__Record r;
	vigil__record_head(&r, h);
	r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_OFFER;
	r.handover_offer = &ho;
	return vigil__record_pack(&r, "handover offer", out, out_len, err);
}

/* ---- HandoverAnswer, HandoverWithdraw, CaseClose ------------------------------------- */

static int encode_answer(const void *spec, const struct vigil__head *h, uint8_t **out,
			 size_t *out_len, struct vigil_error *err)
{
	const struct vigil_handover_answer *a = spec;
	if (a->accept && !empty(a->decline_reason))
		return vigil__error_set(err, VIGIL_E_USAGE, "an acceptance carries no decline "
					"reason");
	if (!a->accept && empty(a->decline_reason))
		return vigil__error_set(err, VIGIL_E_USAGE, "a decline needs a reason (1-%u bytes "
					"of UTF-8)", RECORD_TEXT_MAX);
	if (!a->accept) {
		int rc = text_check(a->decline_reason, "decline reason", err);
		if (rc != VIGIL_OK)
			return rc;
	}
	Vigil__V1__HandoverAnswer ha = VIGIL__V1__HANDOVER_ANSWER__INIT;
	ha.offer_id.data = (uint8_t *)a->offer_id;
	ha.offer_id.len = RECORD_ID_LEN;
	ha.accept = a->accept ? 1 : 0;
	ha.decline_reason = (char *)(a->accept || h->sealed ? "" : a->decline_reason);
	ha.sealed_decline_reason = (Vigil__V1__SealedText *)h->sealed;
	Vigil__V1__Record r;
	vigil__record_head(&r, h);
	r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER;
	r.handover_answer = &ha;
	return vigil__record_pack(&r, "handover answer", out, out_len, err);
}

static int encode_withdraw(const void *spec, const struct vigil__head *h, uint8_t **out,
			   size_t *out_len, struct vigil_error *err)
{
	const struct vigil_handover_withdraw *w = spec;
	Vigil__V1__HandoverWithdraw hw = VIGIL__V1__HANDOVER_WITHDRAW__INIT;
	hw.offer_id.data = (uint8_t *)w->offer_id;
	hw.offer_id.len = RECORD_ID_LEN;
	Vigil__V1__Record r;
	vigil__record_head(&r, h);
	r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_WITHDRAW;
	r.handover_withdraw = &hw;
	return vigil__record_pack(&r, "handover withdrawal", out, out_len, err);
}

static int encode_close(const void *spec, const struct vigil__head *h, uint8_t **out,
			size_t *out_len, struct vigil_error *err)
{
	const struct vigil_case_close *cl = spec;
	int reason = 0;
	int rc = vigil__record_code(cl->reason, "close reason", record_close_reason_from_name,
				    vigil_close_reason_name, &reason, err);
	if (rc != VIGIL_OK)
		return rc;
	Vigil__V1__CaseClose cc = VIGIL__V1__CASE_CLOSE__INIT;
	cc.reason = (Vigil__V1__CloseReason)reason;
	Vigil__V1__Record r;
	vigil__record_head(&r, h);
	r.body_case = VIGIL__V1__RECORD__BODY_CASE_CLOSE;
	r.case_close = &cc;
	return vigil__record_pack(&r, "case close", out, out_len, err);
}

/* ---- EraseRequest and Grant ------------------------------------------------------------ */

/* An owner's erase reason: any but the relay's own "retention". */
static int owner_erase_reason(const char *s)
{
	int v = record_erase_reason_from_name(s);
	return v == VIGIL__V1__ERASE_REASON__ERASE_REASON_RETENTION ? 0 : v;
}

static int encode_erase(const void *spec, const struct vigil__head *h, uint8_t **out,
			size_t *out_len, struct vigil_error *err)
{
	const struct vigil_erase *e = spec;
	int reason = 0;
	int rc = vigil__record_code(e->reason, "erase reason", owner_erase_reason,
				    vigil_erase_reason_name, &reason, err);
	if (rc != VIGIL_OK)
		return rc;
	Vigil__V1__EraseRequest er = VIGIL__V1__ERASE_REQUEST__INIT;
	er.target_id.data = (uint8_t *)e->target_id;
	er.target_id.len = RECORD_ID_LEN;
	er.whole_record = e->whole_record ? 1 : 0;
	er.reason = (Vigil__V1__EraseReason)reason;
	er.reference = (char *)(e->reference ? e->reference : "");
	Vigil__V1__Record r;
	vigil__record_head(&r, h);
	r.body_case = VIGIL__V1__RECORD__BODY_ERASE_REQUEST;
	r.erase_request = &er;
	return vigil__record_pack(&r, "erase request", out, out_len, err);
}

static int encode_grant(const void *spec, const struct vigil__head *h, uint8_t **out,
			size_t *out_len, struct vigil_error *err)
{
	const struct vigil_grant *g = spec;
	Vigil__V1__Grant gr = VIGIL__V1__GRANT__INIT;
	gr.to = (char *)(g->to ? g->to : "");
	Vigil__V1__Record r;
	vigil__record_head(&r, h);
	r.body_case = VIGIL__V1__RECORD__BODY_GRANT;
	r.grant = &gr;
	return vigil__record_pack(&r, "grant", out, out_len, err);
}

/* ---- AlertAck ------------------------------------------------------------------------ */

static int encode_alert_ack(const void *spec, const struct vigil__head *h, uint8_t **out,
			    size_t *out_len, struct vigil_error *err)
{
	const struct vigil_alert_ack *a = spec;
	int decision = 0;
	int rc = vigil__record_code(a->decision, "decision", record_ack_decision_from_name,
				    vigil_ack_decision_name, &decision, err);
	if (rc != VIGIL_OK)
		return rc;
	if (decision != VIGIL__V1__ACK_DECISION__ACK_DECISION_POLICE_REPORT_FILED &&
	    empty(a->reason))
		return vigil__error_set(err, VIGIL_E_USAGE, "the decision \"%s\" needs a reason "
					"(1-%u bytes of UTF-8)", a->decision, RECORD_TEXT_MAX);
	if (!empty(a->reason) && (rc = text_check(a->reason, "reason", err)) != VIGIL_OK)
		return rc;
	Vigil__V1__AlertAck ack = VIGIL__V1__ALERT_ACK__INIT;
	ack.alert_id.data = (uint8_t *)a->alert_id;
	ack.alert_id.len = RECORD_ID_LEN;
	ack.decision = (Vigil__V1__AckDecision)decision;
	ack.reason = (char *)(empty(a->reason) || h->sealed ? "" : a->reason);
	ack.sealed_reason = (Vigil__V1__SealedText *)h->sealed;
	Vigil__V1__Record r;
	vigil__record_head(&r, h);
	r.body_case = VIGIL__V1__RECORD__BODY_ALERT_ACK;
	r.alert_ack = &ack;
	return vigil__record_pack(&r, "alert acknowledgement", out, out_len, err);
}

/* ---- check, build, submit: the same for every kind ------------------------------ */

static int check_kind(encode_fn encode, const void *spec, const struct spec_head *sh,
		      const char *fn, struct vigil_error *err)
{
	if (!spec)
		return vigil__error_set(err, VIGIL_E_USAGE, "%s: the record is NULL", fn);
	int rc = vigil__record_head_check(sh->case_id, sh->client_time_ms, err);
	if (rc != VIGIL_OK)
		return rc;
	static const uint8_t zero_id[RECORD_ID_LEN];
	struct vigil__head h = { zero_id, sh->case_id, "check", sh->client_time_ms,
				 vigil__now_ms(), NULL };
	uint8_t *b = NULL;
	size_t n = 0;
	rc = encode(spec, &h, &b, &n, err);
	free(b);
	return rc;
}

/* Where a kind with free text gets its envelope (the spec's sealed and
 * sealed_len), and what to seal. */
struct seal_out {
	uint8_t **sealed;
	size_t *sealed_len;
	struct vigil__seal_spec sp;
};

static int build_kind(vigil_client *c, encode_fn encode, const void *spec,
		      const struct spec_head *sh, const struct seal_out *so, const char *fn,
		      uint8_t **record, size_t *record_len, uint8_t **sig, size_t *sig_len,
		      struct vigil_error *err)
{
	if (!c || !record || !record_len || !sig || !sig_len)
		return vigil__error_set(err, VIGIL_E_USAGE, "%s: NULL argument", fn);
	*record = *sig = NULL;
	*record_len = *sig_len = 0;
	if (so && so->sealed) {
		*so->sealed = NULL;
		*so->sealed_len = 0;
	}
	/* The fields first: a usage error never depends on the connection. */
	int rc = check_kind(encode, spec, sh, fn, err);
	const char *author = NULL;
	if (rc == VIGIL_OK)
		rc = vigil__record_author(c, &author, err);
	if (rc == VIGIL_OK)
		rc = vigil__record_new_id(sh->record_id, sh->have_record_id, err);
	if (rc != VIGIL_OK)
		return rc;
	struct vigil__head h = { sh->record_id, sh->case_id, author, sh->client_time_ms,
				 vigil__now_ms(), NULL };
	struct vigil__sealed *sd = NULL;
	if (so && so->sp.text && so->sp.text[0]) {
		if (!(sd = malloc(sizeof(*sd))))
			return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
		rc = vigil__seal_make(c, &so->sp, sh->case_id, sh->record_id, author, sd, err);
		if (rc != VIGIL_OK)
			goto out;
		h.sealed = &sd->text;
	}
	uint8_t *b = NULL, *s = NULL;
	size_t n = 0, sn = 0;
	rc = encode(spec, &h, &b, &n, err);
	if (rc != VIGIL_OK)
		goto out;
	rc = vigil__record_sign(c, b, n, &s, &sn, err);
	if (rc != VIGIL_OK) {
		free(b);
		goto out;
	}
	*record = b;
	*record_len = n;
	*sig = s;
	*sig_len = sn;
	if (sd) {
		*so->sealed = sd->envelope;
		*so->sealed_len = sd->envelope_len;
		sd->envelope = NULL;
	}
out:
	if (sd)
		vigil__sealed_clear(sd);
	free(sd);
	return rc;
}

static int submit_kind(vigil_client *c, encode_fn encode, const void *spec,
		       const struct spec_head *sh, const struct seal_out *so, const char *fn,
		       struct vigil_receipt *out, struct vigil_error *err)
{
	uint8_t *b = NULL, *s = NULL, *sealed = NULL;
	size_t n = 0, sn = 0, sealed_len = 0;
	int rc = build_kind(c, encode, spec, sh, so, fn, &b, &n, &s, &sn, err);
	if (rc != VIGIL_OK)
		return rc;
	if (so && so->sealed) {
		sealed = *so->sealed;
		sealed_len = *so->sealed_len;
		*so->sealed = NULL;
		*so->sealed_len = 0;
	}
	uint64_t id = 0;
	rc = vigil__submit_send_owned(c, b, n, s, sn, sealed, sealed_len, &id, err);
	if (rc != VIGIL_OK)
		return rc;
	struct vigil_receipt *tmp = NULL;
	if (!out && !(out = tmp = malloc(sizeof(*tmp))))
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	rc = vigil__submit_wait(c, id, out, err);
	free(tmp);
	return rc;
}

/* What a spec with free text seals, and where its envelope goes (NULL for
 * a NULL spec, which build_kind's check refuses). */
#define SEAL_TO(p) (p) ? &(p)->sealed : NULL, (p) ? &(p)->sealed_len : NULL
#define SEAL_OPEN(p)                                                                      \
	{ SEAL_TO(p),                                                                     \
	  { SEALED_JUSTIFICATION, (p) && empty((p)->consent_scope) ? (p)->override_justification \
								    : NULL,                   \
	    NULL, 1, (p) ? (p)->parties : NULL, (p) ? (p)->n_parties : 0 } }
#define SEAL_OFFER(p)                                                                     \
	{ SEAL_TO(p),                                                                     \
	  { SEALED_JUSTIFICATION, (p) && empty((p)->consent_ref) ? (p)->override_justification \
								  : NULL,                     \
	    (p) ? (p)->to : NULL, 0, NULL, 0 } }
#define SEAL_ANSWER(p)                                                                    \
	{ SEAL_TO(p), { SEALED_DECLINE_REASON, (p) && !(p)->accept ? (p)->decline_reason : NULL, \
			NULL, 0, NULL, 0 } }
#define SEAL_ACK(p) { SEAL_TO(p), { SEALED_ACK_REASON, (p) ? (p)->reason : NULL, NULL, 0, NULL, 0 } }
/* A corrected note is sealed like a contact attempt's. */
#define SEAL_CORRECTION(p)                                                                \
	{ SEAL_TO(p), { SEALED_NOTE, (p) && (p)->kind && !strcmp((p)->kind, "contact")      \
					     ? (p)->note : NULL, NULL, 0, NULL, 0 } }

/* The common fields of a spec struct, which may be NULL.  The check
 * functions take a const spec: its record id is never written there. */
#define HEAD(p) { (p) ? (uint8_t *)(p)->record_id : NULL, (p) ? (p)->have_record_id : 0, \
		  (p) ? (p)->case_id : NULL, (p) ? (p)->client_time_ms : 0 }

int vigil_case_open_check(const struct vigil_case_open *o, struct vigil_error *err)
{
	struct spec_head sh = HEAD(o);
	return check_kind(encode_open, o, &sh, "vigil_case_open_check", err);
}

int vigil_build_case_open(vigil_client *c, struct vigil_case_open *o, uint8_t **record,
			  size_t *record_len, uint8_t **sig, size_t *sig_len,
			  struct vigil_error *err)
{
	struct seal_out so = SEAL_OPEN(o);
	struct spec_head sh = HEAD(o);
	return build_kind(c, encode_open, o, &sh, &so, "vigil_build_case_open", record, record_len,
			  sig, sig_len, err);
}

int vigil_submit_case_open(vigil_client *c, struct vigil_case_open *o,
			   struct vigil_receipt *out, struct vigil_error *err)
{
	struct seal_out so = SEAL_OPEN(o);
	struct spec_head sh = HEAD(o);
	return submit_kind(c, encode_open, o, &sh, &so, "vigil_submit_case_open", out, err);
}

int vigil_risk_check(const struct vigil_risk *r, struct vigil_error *err)
{
	struct spec_head sh = HEAD(r);
	return check_kind(encode_risk, r, &sh, "vigil_risk_check", err);
}

int vigil_build_risk(vigil_client *c, struct vigil_risk *r, uint8_t **record,
		     size_t *record_len, uint8_t **sig, size_t *sig_len, struct vigil_error *err)
{
	struct spec_head sh = HEAD(r);
	return build_kind(c, encode_risk, r, &sh, NULL, "vigil_build_risk", record, record_len, sig,
			  sig_len, err);
}

int vigil_submit_risk(vigil_client *c, struct vigil_risk *r, struct vigil_receipt *out,
		      struct vigil_error *err)
{
	struct spec_head sh = HEAD(r);
	return submit_kind(c, encode_risk, r, &sh, NULL, "vigil_submit_risk", out, err);
}

int vigil_handover_offer_check(const struct vigil_handover_offer *o, struct vigil_error *err)
{
	struct spec_head sh = HEAD(o);
	return check_kind(encode_offer, o, &sh, "vigil_handover_offer_check", err);
}

int vigil_build_handover_offer(vigil_client *c, struct vigil_handover_offer *o,
			       uint8_t **record, size_t *record_len, uint8_t **sig,
			       size_t *sig_len, struct vigil_error *err)
{
	struct seal_out so = SEAL_OFFER(o);
	struct spec_head sh = HEAD(o);
	return build_kind(c, encode_offer, o, &sh, &so, "vigil_build_handover_offer", record,
			  record_len, sig, sig_len, err);
}

int vigil_submit_handover_offer(vigil_client *c, struct vigil_handover_offer *o,
				struct vigil_receipt *out, struct vigil_error *err)
{
	struct seal_out so = SEAL_OFFER(o);
	struct spec_head sh = HEAD(o);
	struct vigil_receipt tmp;
	if (!out)
		out = &tmp;
	int rc = submit_kind(c, encode_offer, o, &sh, &so, "vigil_submit_handover_offer", out,
			     err);
	if (rc != VIGIL_OK)
		return rc;
	/* The earlier sealed texts, for the organisation it is offered to. */
	rc = vigil_reseal_offer(c, o->case_id, o->record_id, o->to, NULL, err);
	if (rc != VIGIL_OK)
		vigil__error_prefix(err, "the offer is recorded (entry %llu), but not ready to be "
				    "accepted", (unsigned long long)out->index);
	return rc;
}

int vigil_handover_answer_check(const struct vigil_handover_answer *a, struct vigil_error *err)
{
	struct spec_head sh = HEAD(a);
	return check_kind(encode_answer, a, &sh, "vigil_handover_answer_check", err);
}

int vigil_build_handover_answer(vigil_client *c, struct vigil_handover_answer *a,
				uint8_t **record, size_t *record_len, uint8_t **sig,
				size_t *sig_len, struct vigil_error *err)
{
	struct seal_out so = SEAL_ANSWER(a);
	struct spec_head sh = HEAD(a);
	return build_kind(c, encode_answer, a, &sh, &so, "vigil_build_handover_answer", record,
			  record_len, sig, sig_len, err);
}

int vigil_submit_handover_answer(vigil_client *c, struct vigil_handover_answer *a,
				 struct vigil_receipt *out, struct vigil_error *err)
{
	struct seal_out so = SEAL_ANSWER(a);
	struct spec_head sh = HEAD(a);
	return submit_kind(c, encode_answer, a, &sh, &so, "vigil_submit_handover_answer", out, err);
}

int vigil_handover_withdraw_check(const struct vigil_handover_withdraw *w,
				  struct vigil_error *err)
{
	struct spec_head sh = HEAD(w);
	return check_kind(encode_withdraw, w, &sh, "vigil_handover_withdraw_check", err);
}

int vigil_build_handover_withdraw(vigil_client *c, struct vigil_handover_withdraw *w,
				  uint8_t **record, size_t *record_len, uint8_t **sig,
				  size_t *sig_len, struct vigil_error *err)
{
	struct spec_head sh = HEAD(w);
	return build_kind(c, encode_withdraw, w, &sh, NULL, "vigil_build_handover_withdraw", record,
			  record_len, sig, sig_len, err);
}

int vigil_submit_handover_withdraw(vigil_client *c, struct vigil_handover_withdraw *w,
				   struct vigil_receipt *out, struct vigil_error *err)
{
	struct spec_head sh = HEAD(w);
	return submit_kind(c, encode_withdraw, w, &sh, NULL, "vigil_submit_handover_withdraw", out,
			   err);
}

int vigil_case_close_check(const struct vigil_case_close *cl, struct vigil_error *err)
{
	struct spec_head sh = HEAD(cl);
	return check_kind(encode_close, cl, &sh, "vigil_case_close_check", err);
}

int vigil_build_case_close(vigil_client *c, struct vigil_case_close *cl, uint8_t **record,
			   size_t *record_len, uint8_t **sig, size_t *sig_len,
			   struct vigil_error *err)
{
	struct spec_head sh = HEAD(cl);
	return build_kind(c, encode_close, cl, &sh, NULL, "vigil_build_case_close", record, record_len,
			  sig, sig_len, err);
}

int vigil_submit_case_close(vigil_client *c, struct vigil_case_close *cl,
			    struct vigil_receipt *out, struct vigil_error *err)
{
	struct spec_head sh = HEAD(cl);
	return submit_kind(c, encode_close, cl, &sh, NULL, "vigil_submit_case_close", out, err);
}

int vigil_submit_erase(vigil_client *c, struct vigil_erase *e, struct vigil_receipt *out,
		       struct vigil_error *err)
{
	struct spec_head sh = HEAD(e);
	return submit_kind(c, encode_erase, e, &sh, NULL, "vigil_submit_erase", out, err);
}

int vigil_submit_grant(vigil_client *c, struct vigil_grant *g, struct vigil_receipt *out,
		       struct vigil_error *err)
{
	struct spec_head sh = HEAD(g);
	return submit_kind(c, encode_grant, g, &sh, NULL, "vigil_submit_grant", out, err);
}

int vigil_alert_ack_check(const struct vigil_alert_ack *a, struct vigil_error *err)
{
	struct spec_head sh = HEAD(a);
	return check_kind(encode_alert_ack, a, &sh, "vigil_alert_ack_check", err);
}

int vigil_build_alert_ack(vigil_client *c, struct vigil_alert_ack *a, uint8_t **record,
			  size_t *record_len, uint8_t **sig, size_t *sig_len,
			  struct vigil_error *err)
{
	struct seal_out so = SEAL_ACK(a);
	struct spec_head sh = HEAD(a);
	return build_kind(c, encode_alert_ack, a, &sh, &so, "vigil_build_alert_ack", record, record_len,
			  sig, sig_len, err);
}

int vigil_submit_alert_ack(vigil_client *c, struct vigil_alert_ack *a,
			   struct vigil_receipt *out, struct vigil_error *err)
{
	struct seal_out so = SEAL_ACK(a);
	struct spec_head sh = HEAD(a);
	return submit_kind(c, encode_alert_ack, a, &sh, &so, "vigil_submit_alert_ack", out, err);
}

int vigil_correction_check(const struct vigil_correction *k, struct vigil_error *err)
{
	struct spec_head sh = HEAD(k);
	return check_kind(encode_correction, k, &sh, "vigil_correction_check", err);
}

int vigil_build_correction(vigil_client *c, struct vigil_correction *k, uint8_t **record,
			   size_t *record_len, uint8_t **sig, size_t *sig_len,
			   struct vigil_error *err)
{
	struct seal_out so = SEAL_CORRECTION(k);
	struct spec_head sh = HEAD(k);
	return build_kind(c, encode_correction, k, &sh, &so, "vigil_build_correction", record,
			  record_len, sig, sig_len, err);
}

int vigil_submit_correction(vigil_client *c, struct vigil_correction *k,
			    struct vigil_receipt *out, struct vigil_error *err)
{
	struct seal_out so = SEAL_CORRECTION(k);
	struct spec_head sh = HEAD(k);
	return submit_kind(c, encode_correction, k, &sh, &so, "vigil_submit_correction", out, err);
}
