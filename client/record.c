/*
 * record.c - what every record kind shares: the common fields and their
 * checks, packing through the relay's own validation, the author, signing,
 * and decoding record bytes back into struct vigil_record_info.
 *
 * contact.c and case.c build the bodies; everything from the packed bytes
 * onwards is done here, once, so that every kind is validated and signed
 * the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "client/internal.h"
#include "proto/record.h"
#include "proto/status.h"

_Static_assert(VIGIL_ORG_LEN == RECORD_ORG_MAX + 1, "organisation id length");
_Static_assert(VIGIL_CASE_ID_LEN == RECORD_CASE_ID_MAX + 1, "case id length");
_Static_assert(VIGIL_TEXT_MAX == RECORD_TEXT_MAX, "text limit");
_Static_assert(VIGIL_PARTIES_MAX == RECORD_PARTIES_MAX, "parties limit");

void vigil__record_names(const char *(*name)(unsigned), char *out, size_t n)
{
	size_t used = 0;
	out[0] = '\0';
	for (unsigned i = 0; name(i); i++) {
		int w = snprintf(out + used, n - used, "%s%s", i ? ", " : "", name(i));
		if (w < 0 || (size_t)w >= n - used)
			break;
		used += (size_t)w;
	}
}

int vigil__record_code(const char *value, const char *field, int (*from_name)(const char *),
		       const char *(*name)(unsigned), int *code, struct vigil_error *err)
{
	if (!value || !value[0])
		return vigil__error_set(err, VIGIL_E_USAGE, "no %s given", field);
	*code = from_name(value);
	if (*code)
		return VIGIL_OK;
	char names[512];
	vigil__record_names(name, names, sizeof(names));
	return vigil__error_set(err, VIGIL_E_USAGE, "unknown %s \"%.*s\" (one of: %s)", field,
				VIGIL__QUOTE_MAX, value, names);
}

int vigil__record_head_check(const char *case_id, int64_t client_time_ms,
			     struct vigil_error *err)
{
	if (!case_id || !case_id[0])
		return vigil__error_set(err, VIGIL_E_USAGE, "no case id given");
	if (!record_case_id_ok(case_id))
		return vigil__error_set(err, VIGIL_E_USAGE,
					"case id \"%.*s\" is invalid: it must be "
					RECORD_CASE_ID_RULE, VIGIL__QUOTE_MAX, case_id);
	if (client_time_ms < 0)
		return vigil__error_set(err, VIGIL_E_USAGE, "client time is before 1970");
	return VIGIL_OK;
}

void vigil__record_head(Vigil__V1__Record *r, const struct vigil__head *h)
{
	vigil__v1__record__init(r);
	r->record_id.data = (uint8_t *)h->record_id;
	r->record_id.len = RECORD_ID_LEN;
	r->case_id = (char *)h->case_id;
	r->author = (char *)h->author;
	r->client_time_ms = h->client_time_ms ? h->client_time_ms : h->now;
}

int vigil__record_pack(const Vigil__V1__Record *r, const char *what, uint8_t **out,
		       size_t *out_len, struct vigil_error *err)
{
	size_t n = vigil__v1__record__get_packed_size(r);
	uint8_t *b = malloc(n ? n : 1);
	if (!b)
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	vigil__v1__record__pack(r, b);

	char why[256] = "";
	Vigil__V1__Record *parsed = NULL;
	int rc = record_parse(b, n, &parsed, why, sizeof(why));
	record_free(parsed);
	if (rc != VG_OK) {
		free(b);
		return vigil__error_set(err, VIGIL_E_USAGE, "invalid %s: %s", what, why);
	}
	*out = b;
	*out_len = n;
	return VIGIL_OK;
}

int vigil__record_author(const struct vigil_client *c, const char **author,
			 struct vigil_error *err)
{
	const char *a = c->self.organisation;
	if (!a[0])
		return vigil__error_set(err, VIGIL_E_IO,
					"our certificate has no organisation (O): it cannot author "
					"records");
	if (!record_org_ok(a))
		return vigil__error_set(err, VIGIL_E_IO,
					"our certificate's organisation \"%s\" is not a valid "
					"organisation id", a);
	*author = a;
	return VIGIL_OK;
}

int vigil__record_new_id(uint8_t id[RECORD_ID_LEN], int have_record_id, struct vigil_error *err)
{
	if (!have_record_id && RAND_bytes(id, RECORD_ID_LEN) != 1)
		return vigil__error_ssl(err, VIGIL_E_IO, "cannot generate a record id");
	return VIGIL_OK;
}

int vigil__record_sign(struct vigil_client *c, uint8_t *record, size_t record_len,
		       uint8_t **sig, size_t *sig_len, struct vigil_error *err)
{
	ERR_clear_error();
	int rc = record_sign(c->key, record, record_len, sig, sig_len);
	if (rc == VG_OK)
		return VIGIL_OK;
	if (rc == VG_ENOMEM)
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	return vigil__error_ssl(err, VIGIL_E_IO, "cannot sign the record with our key");
}

const char *vigil__record_police_name(int v)
{
	switch (v) {
	case VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_NONE: return "none";
	case VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_CONSIDER: return "consider";
	case VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_REQUIRED: return "required";
	default: return NULL;
	}
}

const char *vigil__record_police_advice(int v)
{
	switch (v) {
	case VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_NONE: return "none";
	case VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_CONSIDER:
		return "missing-person report to be considered";
	case VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_REQUIRED:
		return "missing-person report required";
	default: return NULL;
	}
}

/* ---- decoding ----------------------------------------------------------------- */

/* A name that is known for a validated record; "" for 0. */
static const char *name_or_empty(const char *n)
{
	return n ? n : "";
}

static void copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static void decode_override(const Vigil__V1__Override *o, struct vigil_record_info *out)
{
	out->override = 1;
	copy(out->override_justification, sizeof(out->override_justification), o->justification);
}

static void decode_contact(const Vigil__V1__ContactAttempt *a, struct vigil_record_info *out)
{
	out->channel = name_or_empty(record_channel_name(a->channel));
	out->outcome = name_or_empty(record_outcome_name(a->outcome));
	out->attempted_at_ms = a->attempted_at_ms;
	copy(out->note, sizeof(out->note), a->note);
}

static void decode_risk(const Vigil__V1__RiskAssessment *a, struct vigil_record_info *out)
{
	out->risk = name_or_empty(record_risk_name(a->level));
	out->n_factors = a->n_factors;
	for (size_t i = 0; i < a->n_factors; i++)
		out->factors[i] = name_or_empty(record_factor_name(a->factors[i]));
	out->immediate_danger = a->immediate_danger ? 1 : 0;
	out->phase = name_or_empty(record_phase_name(a->phase));
}

static void decode_body(const Vigil__V1__Record *r, struct vigil_record_info *out)
{
	switch (r->body_case) {
	case VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT:
		out->kind = "contact";
		decode_contact(r->contact_attempt, out);
		break;
	case VIGIL__V1__RECORD__BODY_CASE_OPEN: {
		const Vigil__V1__CaseOpen *o = r->case_open;
		out->kind = "case-open";
		out->risk = name_or_empty(record_risk_name(o->risk));
		out->minor = o->minor ? 1 : 0;
		copy(out->return_country, sizeof(out->return_country), o->return_country);
		copy(out->return_date, sizeof(out->return_date), o->return_date);
		out->n_parties = o->n_parties;
		for (size_t i = 0; i < o->n_parties; i++)
			copy(out->parties[i], sizeof(out->parties[i]), o->parties[i]);
		if (o->basis_case == VIGIL__V1__CASE_OPEN__BASIS_CONSENT) {
			copy(out->consent_scope, sizeof(out->consent_scope), o->consent->scope);
			out->consent_given_at_ms = o->consent->given_at_ms;
		} else {
			decode_override(o->override, out);
		}
		break;
	}
	case VIGIL__V1__RECORD__BODY_RISK_ASSESSMENT:
		out->kind = "risk";
		decode_risk(r->risk_assessment, out);
		break;
	case VIGIL__V1__RECORD__BODY_HANDOVER_OFFER: {
		const Vigil__V1__HandoverOffer *o = r->handover_offer;
		out->kind = "handover-offer";
		copy(out->to, sizeof(out->to), o->to);
		out->handover_reason = name_or_empty(record_handover_reason_name(o->reason));
		if (o->basis_case == VIGIL__V1__HANDOVER_OFFER__BASIS_CONSENT_REF)
			copy(out->consent_ref, sizeof(out->consent_ref), o->consent_ref);
		else
			decode_override(o->override, out);
		break;
	}
	case VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER: {
		const Vigil__V1__HandoverAnswer *a = r->handover_answer;
		out->kind = "handover-answer";
		memcpy(out->offer_id, a->offer_id.data, RECORD_ID_LEN);
		out->accept = a->accept ? 1 : 0;
		copy(out->decline_reason, sizeof(out->decline_reason), a->decline_reason);
		break;
	}
	case VIGIL__V1__RECORD__BODY_HANDOVER_WITHDRAW:
		out->kind = "handover-withdraw";
		memcpy(out->offer_id, r->handover_withdraw->offer_id.data, RECORD_ID_LEN);
		break;
	case VIGIL__V1__RECORD__BODY_CASE_CLOSE:
		out->kind = "case-close";
		out->close_reason = name_or_empty(record_close_reason_name(r->case_close->reason));
		break;
	case VIGIL__V1__RECORD__BODY_ALERT_ACK: {
		const Vigil__V1__AlertAck *a = r->alert_ack;
		out->kind = "alert-ack";
		memcpy(out->alert_id, a->alert_id.data, RECORD_ID_LEN);
		out->decision = name_or_empty(record_ack_decision_name(a->decision));
		copy(out->reason, sizeof(out->reason), a->reason);
		break;
	}
	case VIGIL__V1__RECORD__BODY_ALERT: {
		const Vigil__V1__Alert *a = r->alert;
		out->kind = "alert";
		out->alert_kind = name_or_empty(record_alert_kind_name(a->kind));
		out->alert_stage = a->stage;
		memcpy(out->alert_id, a->alert_id.data, RECORD_ID_LEN);
		out->deadline_ms = a->deadline_ms;
		out->last_success_ms = a->last_success_ms;
		out->failed_attempts = a->failed_attempts;
		/* record_parse() allows at most 64, VIGIL_RECIPIENTS_MAX. */
		out->n_recipients = a->n_recipients < VIGIL_RECIPIENTS_MAX ? a->n_recipients
									   : VIGIL_RECIPIENTS_MAX;
		for (size_t i = 0; i < out->n_recipients; i++)
			copy(out->recipients[i], sizeof(out->recipients[i]), a->recipients[i]);
		out->police = name_or_empty(vigil__record_police_name(a->police));
		out->police_advice = name_or_empty(vigil__record_police_advice(a->police));
		vigil__error_copy_text(out->resolution, sizeof(out->resolution), a->resolution);
		vigil__error_copy_text(out->cause, sizeof(out->cause), a->cause);
		break;
	}
	case VIGIL__V1__RECORD__BODY_ERASE_REQUEST: {
		const Vigil__V1__EraseRequest *e = r->erase_request;
		out->kind = "erase-request";
		memcpy(out->target_id, e->target_id.data, RECORD_ID_LEN);
		out->erase_whole = e->whole_record ? 1 : 0;
		out->erase_reason = name_or_empty(record_erase_reason_name(e->reason));
		copy(out->erase_reference, sizeof(out->erase_reference), e->reference);
		break;
	}
	case VIGIL__V1__RECORD__BODY_ERASURE: {
		const Vigil__V1__Erasure *e = r->erasure;
		out->kind = "erasure";
		out->erase_whole = e->whole_record ? 1 : 0;
		out->erase_reason = name_or_empty(record_erase_reason_name(e->reason));
		copy(out->erase_reference, sizeof(out->erase_reference), e->reference);
		copy(out->requested_by, sizeof(out->requested_by), e->requested_by);
		if (e->request_id.len == RECORD_ID_LEN)
			memcpy(out->target_id, e->request_id.data, RECORD_ID_LEN);
		out->erased_n = e->n_indexes;
		for (size_t i = 0; i < e->n_indexes && i < VIGIL_ERASED_MAX; i++)
			out->erased[i] = e->indexes[i];
		out->n_recipients = e->n_recipients < VIGIL_RECIPIENTS_MAX ? e->n_recipients
									   : VIGIL_RECIPIENTS_MAX;
		for (size_t i = 0; i < out->n_recipients; i++)
			copy(out->recipients[i], sizeof(out->recipients[i]), e->recipients[i]);
		break;
	}
	case VIGIL__V1__RECORD__BODY_CORRECTION: {
		const Vigil__V1__Correction *k = r->correction;
		out->kind = "correction";
		memcpy(out->target_id, k->target_id.data, RECORD_ID_LEN);
		out->correction_reason = name_or_empty(record_correction_reason_name(k->reason));
		if (k->body_case == VIGIL__V1__CORRECTION__BODY_CONTACT_ATTEMPT) {
			out->corrected_kind = "contact";
			decode_contact(k->contact_attempt, out);
		} else if (k->body_case == VIGIL__V1__CORRECTION__BODY_RISK_ASSESSMENT) {
			out->corrected_kind = "risk";
			decode_risk(k->risk_assessment, out);
		}
		break;
	}
	case VIGIL__V1__RECORD__BODY_GRANT:
		out->kind = "grant";
		copy(out->grant_to, sizeof(out->grant_to), r->grant->to);
		break;
	case VIGIL__V1__RECORD__BODY_MEMBER_KEY:
		out->kind = "member-key";
		copy(out->member, sizeof(out->member), r->member_key->organisation);
		out->member_key_len = r->member_key->encryption_certificate.len;
		break;
	default:
		/* record_parse() accepts no other body. */
		break;
	}
}

static void info_clear(struct vigil_record_info *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = out->channel = out->outcome = out->risk = out->phase = "";
	out->handover_reason = out->close_reason = "";
	out->alert_kind = out->police = out->police_advice = out->decision = "";
	out->sealed_field = "";
	out->erase_reason = "";
	out->corrected_kind = out->correction_reason = "";
	for (size_t i = 0; i < VIGIL_FACTORS_MAX; i++)
		out->factors[i] = "";
}

int vigil_record_decode(const uint8_t *record, size_t record_len, struct vigil_record_info *out,
			struct vigil_error *err)
{
	if (!out || (!record && record_len))
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_record_decode: NULL argument");
	info_clear(out);
	char why[256] = "";
	Vigil__V1__Record *r = NULL;
	static const uint8_t none[1];
	if (record_parse(record ? record : none, record_len, &r, why, sizeof(why)) != VG_OK)
		return vigil__error_set(err, VIGIL_E_USAGE, "not a valid record: %s", why);
	memcpy(out->record_id, r->record_id.data, RECORD_ID_LEN);
	copy(out->case_id, sizeof(out->case_id), r->case_id);
	copy(out->author, sizeof(out->author), r->author);
	out->client_time_ms = r->client_time_ms;
	decode_body(r, out);
	/* A sealed text is named by the member its text would be in. */
	int field = 0;
	if (record_sealed_text(r, &field, NULL)) {
		static const char *const member[] = { "", "note", "override_justification",
						      "decline_reason", "reason" };
		out->sealed_field = field >= 1 && field <= 4 ? member[field] : "";
	}
	record_free(r);
	return VIGIL_OK;
}
