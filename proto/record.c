#include "proto/record.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>

#include "proto/status.h"

#define WHY(...) do { if (why && why_len) snprintf(why, why_len, __VA_ARGS__); } while (0)
#define RECORD_NOT_CANONICAL \
	"record is not in canonical encoding (fields repeated, out of order or padded)"

static const char *const channel_names[] = {
	[VIGIL__V1__CHANNEL__CHANNEL_PHONE] = "phone",
	[VIGIL__V1__CHANNEL__CHANNEL_SMS] = "sms",
	[VIGIL__V1__CHANNEL__CHANNEL_MESSENGER] = "messenger",
	[VIGIL__V1__CHANNEL__CHANNEL_EMAIL] = "email",
	[VIGIL__V1__CHANNEL__CHANNEL_HOME_VISIT] = "home-visit",
	[VIGIL__V1__CHANNEL__CHANNEL_OFFICE_VISIT] = "office-visit",
	[VIGIL__V1__CHANNEL__CHANNEL_VIA_FAMILY] = "via-family",
	[VIGIL__V1__CHANNEL__CHANNEL_VIA_PARTNER] = "via-partner",
};

static const char *const outcome_names[] = {
	[VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE] = "reached-safe",
	[VIGIL__V1__OUTCOME__OUTCOME_REACHED_CONCERN] = "reached-concern",
	[VIGIL__V1__OUTCOME__OUTCOME_REACHED_DECLINES_CONTACT] = "reached-declines-contact",
	[VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER] = "no-answer",
	[VIGIL__V1__OUTCOME__OUTCOME_UNREACHABLE] = "unreachable",
	[VIGIL__V1__OUTCOME__OUTCOME_UNDELIVERED] = "undelivered",
	[VIGIL__V1__OUTCOME__OUTCOME_MOVED] = "moved",
	[VIGIL__V1__OUTCOME__OUTCOME_UNKNOWN_TO_CONTACT] = "unknown-to-contact",
	[VIGIL__V1__OUTCOME__OUTCOME_ABORTED_UNSAFE] = "aborted-unsafe",
};

static const char *const risk_names[] = {
	[VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW] = "low",
	[VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM] = "medium",
	[VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH] = "high",
};

static const char *const factor_names[] = {
	[VIGIL__V1__RISK_FACTOR__RISK_FACTOR_THREATS_TO_FAMILY] = "threats-to-family",
	[VIGIL__V1__RISK_FACTOR__RISK_FACTOR_RE_TRAFFICKING] = "re-trafficking",
	[VIGIL__V1__RISK_FACTOR__RISK_FACTOR_DEBT_BONDAGE] = "debt-bondage",
	[VIGIL__V1__RISK_FACTOR__RISK_FACTOR_DOCUMENTS_WITHHELD] = "documents-withheld",
	[VIGIL__V1__RISK_FACTOR__RISK_FACTOR_WITNESS] = "witness",
	[VIGIL__V1__RISK_FACTOR__RISK_FACTOR_RECRUITED_BY_FAMILY] = "recruited-by-family",
	[VIGIL__V1__RISK_FACTOR__RISK_FACTOR_HEALTH] = "health",
	[VIGIL__V1__RISK_FACTOR__RISK_FACTOR_ADDICTION] = "addiction",
	[VIGIL__V1__RISK_FACTOR__RISK_FACTOR_HOMELESSNESS] = "homelessness",
	[VIGIL__V1__RISK_FACTOR__RISK_FACTOR_STIGMA_OR_VIOLENCE] = "stigma-or-violence",
	[VIGIL__V1__RISK_FACTOR__RISK_FACTOR_OTHER] = "other",
};

static const char *const phase_names[] = {
	[VIGIL__V1__ASSESSMENT_PHASE__ASSESSMENT_PHASE_PRE_DEPARTURE] = "pre-departure",
	[VIGIL__V1__ASSESSMENT_PHASE__ASSESSMENT_PHASE_ON_ARRIVAL] = "on-arrival",
	[VIGIL__V1__ASSESSMENT_PHASE__ASSESSMENT_PHASE_PERIODIC] = "periodic",
	[VIGIL__V1__ASSESSMENT_PHASE__ASSESSMENT_PHASE_EVENT_TRIGGERED] = "event-triggered",
};

static const char *const handover_reason_names[] = {
	[VIGIL__V1__HANDOVER_REASON__HANDOVER_REASON_ADDITIONAL_SERVICES] = "additional-services",
	[VIGIL__V1__HANDOVER_REASON__HANDOVER_REASON_RETURN] = "return",
	[VIGIL__V1__HANDOVER_REASON__HANDOVER_REASON_OTHER] = "other",
};

static const char *const close_reason_names[] = {
	[VIGIL__V1__CLOSE_REASON__CLOSE_REASON_MONITORING_COMPLETED] = "monitoring-completed",
	[VIGIL__V1__CLOSE_REASON__CLOSE_REASON_DECLINES_CONTACT] = "declines-contact",
	[VIGIL__V1__CLOSE_REASON__CLOSE_REASON_TRANSFERRED] = "transferred",
	[VIGIL__V1__CLOSE_REASON__CLOSE_REASON_LOST_CONTACT] = "lost-contact",
	[VIGIL__V1__CLOSE_REASON__CLOSE_REASON_OTHER] = "other",
};

static const char *const ack_decision_names[] = {
	[VIGIL__V1__ACK_DECISION__ACK_DECISION_POLICE_REPORT_FILED] = "police-report-filed",
	[VIGIL__V1__ACK_DECISION__ACK_DECISION_NOT_FILED] = "not-filed",
	[VIGIL__V1__ACK_DECISION__ACK_DECISION_OTHER] = "other",
};

static const char *const alert_kind_names[] = {
	[VIGIL__V1__ALERT_KIND__ALERT_KIND_SILENCE] = "silence",
	[VIGIL__V1__ALERT_KIND__ALERT_KIND_FAILED_ATTEMPTS] = "failed_attempts",
	[VIGIL__V1__ALERT_KIND__ALERT_KIND_HANDOVER_STALLED] = "handover_stalled",
};

static const char *const correction_reason_names[] = {
	[VIGIL__V1__CORRECTION_REASON__CORRECTION_REASON_DATA_ENTRY_ERROR] = "data-entry-error",
	[VIGIL__V1__CORRECTION_REASON__CORRECTION_REASON_WRONG_TIME] = "wrong-time",
	[VIGIL__V1__CORRECTION_REASON__CORRECTION_REASON_WRONG_CHANNEL_OR_OUTCOME] =
		"wrong-channel-or-outcome",
	[VIGIL__V1__CORRECTION_REASON__CORRECTION_REASON_OTHER] = "other",
};

static const char *const state_names[] = {
	[VIGIL__V1__CASE_STATE__CASE_STATE_ACTIVE] = "active",
	[VIGIL__V1__CASE_STATE__CASE_STATE_FOLLOW_UP] = "follow-up",
	[VIGIL__V1__CASE_STATE__CASE_STATE_CLOSED] = "closed",
};

#define N_OF(a) ((int)(sizeof(a) / sizeof(a[0])))
#define N_CHANNELS ((int)(sizeof(channel_names) / sizeof(channel_names[0])))
#define N_OUTCOMES ((int)(sizeof(outcome_names) / sizeof(outcome_names[0])))

static const char *name_of(const char *const *names, int n, int v)
{
	return (v > 0 && v < n && names[v]) ? names[v] : NULL;
}

static int value_of(const char *const *names, int n, const char *name)
{
	for (int i = 1; i < n; i++)
		if (names[i] && strcmp(names[i], name) == 0)
			return i;
	return 0;
}

const char *record_channel_name(int c) { return name_of(channel_names, N_CHANNELS, c); }
int record_channel_from_name(const char *s) { return value_of(channel_names, N_CHANNELS, s); }
const char *record_outcome_name(int o) { return name_of(outcome_names, N_OUTCOMES, o); }
int record_outcome_from_name(const char *s) { return value_of(outcome_names, N_OUTCOMES, s); }
const char *record_risk_name(int v) { return name_of(risk_names, N_OF(risk_names), v); }
int record_risk_from_name(const char *s) { return value_of(risk_names, N_OF(risk_names), s); }
const char *record_factor_name(int v) { return name_of(factor_names, N_OF(factor_names), v); }
int record_factor_from_name(const char *s) { return value_of(factor_names, N_OF(factor_names), s); }
const char *record_phase_name(int v) { return name_of(phase_names, N_OF(phase_names), v); }
int record_phase_from_name(const char *s) { return value_of(phase_names, N_OF(phase_names), s); }
const char *record_handover_reason_name(int v)
{
	return name_of(handover_reason_names, N_OF(handover_reason_names), v);
}
int record_handover_reason_from_name(const char *s)
{
	return value_of(handover_reason_names, N_OF(handover_reason_names), s);
}
const char *record_close_reason_name(int v)
{
	return name_of(close_reason_names, N_OF(close_reason_names), v);
}
int record_close_reason_from_name(const char *s)
{
	return value_of(close_reason_names, N_OF(close_reason_names), s);
}
const char *record_state_name(int v) { return name_of(state_names, N_OF(state_names), v); }
const char *record_ack_decision_name(int v)
{
	return name_of(ack_decision_names, N_OF(ack_decision_names), v);
}
int record_ack_decision_from_name(const char *s)
{
	return value_of(ack_decision_names, N_OF(ack_decision_names), s);
}
const char *record_correction_reason_name(int v)
{
	return name_of(correction_reason_names, N_OF(correction_reason_names), v);
}
int record_correction_reason_from_name(const char *s)
{
	return value_of(correction_reason_names, N_OF(correction_reason_names), s);
}
const char *record_alert_kind_name(int v)
{
	return name_of(alert_kind_names, N_OF(alert_kind_names), v);
}

int record_case_id_ok(const char *s)
{
	const char *slash = strchr(s, '/');
	if (!slash)
		return 0;
	char owner[RECORD_ORG_MAX + 1];
	size_t on = (size_t)(slash - s);
	if (on == 0 || on > RECORD_ORG_MAX)
		return 0;
	memcpy(owner, s, on);
	owner[on] = '\0';
	if (!record_org_ok(owner))
		return 0;
	s = slash + 1;
	size_t n = strlen(s);
	if (n < RECORD_CASE_LOCAL_MIN || n > RECORD_CASE_LOCAL_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return 1;
}

int record_org_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > RECORD_ORG_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return 1;
}

int record_utf8_ok(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	while (*s) {
		unsigned c = *s;
		size_t n;
		unsigned cp;
		if (c < 0x80) {
			s++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			n = 1; cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2; cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3; cp = c & 0x07;
		} else {
			return 0;
		}
		for (size_t i = 1; i <= n; i++) {
			if ((s[i] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i] & 0x3F);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		s += n + 1;
	}
	return 1;
}

/* A SealedText: a 32-byte commitment and 1-32 readers of 32 bytes each,
 * strictly ascending; plain is the same field in the clear, which may not
 * be set beside it. */
static int validate_sealed(const Vigil__V1__SealedText *t, const char *field, const char *plain,
			   char *why, size_t why_len)
{
	if (!t)
		return VG_OK;
	if (t->base.n_unknown_fields) {
		WHY("sealed_%s has unknown fields", field);
		return VG_EBADREQ;
	}
	if (plain && plain[0]) {
		WHY("%s is given both in the clear and sealed; only sealed_%s", field, field);
		return VG_EBADREQ;
	}
	if (t->commitment.len != SHA256_LEN) {
		WHY("sealed_%s: commitment must be %u bytes (SHA-256)", field, SHA256_LEN);
		return VG_EBADREQ;
	}
	if (t->n_readers < 1 || t->n_readers > RECORD_PARTIES_MAX) {
		WHY("sealed_%s: %zu readers; 1-%u allowed", field, t->n_readers,
		    RECORD_PARTIES_MAX);
		return VG_EBADREQ;
	}
	for (size_t i = 0; i < t->n_readers; i++) {
		if (t->readers[i].len != SHA256_LEN) {
			WHY("sealed_%s: reader %zu must be %u bytes (SHA-256 of a certificate)",
			    field, i + 1, SHA256_LEN);
			return VG_EBADREQ;
		}
		if (i > 0 && memcmp(t->readers[i - 1].data, t->readers[i].data, SHA256_LEN) >= 0) {
			WHY("sealed_%s: readers must be strictly ascending (reader %zu)", field,
			    i + 1);
			return VG_EBADREQ;
		}
	}
	return VG_OK;
}

static int validate_contact(const Vigil__V1__ContactAttempt *c, char *why, size_t why_len)
{
	if (c->base.n_unknown_fields) {
		WHY("contact_attempt has unknown fields");
		return VG_EBADREQ;
	}
	if (!record_channel_name(c->channel)) {
		WHY("unknown channel value %d", (int)c->channel);
		return VG_EBADREQ;
	}
	if (!record_outcome_name(c->outcome)) {
		WHY("unknown outcome value %d", (int)c->outcome);
		return VG_EBADREQ;
	}
	if (c->attempted_at_ms <= 0) {
		WHY("attempted_at_ms must be a positive time");
		return VG_EBADREQ;
	}
	size_t nl = strlen(c->note);
	if (nl > RECORD_NOTE_MAX) {
		WHY("note is %zu bytes; the limit is %u", nl, RECORD_NOTE_MAX);
		return VG_ETOOLARGE;
	}
	if (!record_utf8_ok(c->note)) {
		WHY("note is not valid UTF-8");
		return VG_EBADREQ;
	}
	return validate_sealed(c->sealed_note, "note", c->note, why, why_len);
}

/* A short free-text field: 1..max bytes of UTF-8. */
static int text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	return n >= 1 && n <= max && record_utf8_ok(s);
}

/* A coded reference: 1-64 of [A-Za-z0-9-]. */
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

static int date_ok(const char *s)
{
	char buf[40];
	int64_t ms;
	if (strlen(s) != 10)
		return 0;
	snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
	return time_parse_rfc3339(buf, &ms) == VG_OK;
}

static int validate_override(const Vigil__V1__Override *o, char *why, size_t why_len)
{
	if (o->base.n_unknown_fields) {
		WHY("override has unknown fields");
		return VG_EBADREQ;
	}
	if (o->reason != VIGIL__V1__OVERRIDE_REASON__OVERRIDE_REASON_RISK_TO_LIFE) {
		WHY("override reason must be risk_to_life");
		return VG_EBADREQ;
	}
	if (o->sealed_justification)
		return validate_sealed(o->sealed_justification, "justification", o->justification,
				       why, why_len);
	if (!text_ok(o->justification, RECORD_TEXT_MAX)) {
		WHY("override justification must be 1-%u bytes of UTF-8", RECORD_TEXT_MAX);
		return VG_EBADREQ;
	}
	return VG_OK;
}

static int validate_case_open(const Vigil__V1__CaseOpen *c, char *why, size_t why_len)
{
	if (c->base.n_unknown_fields) {
		WHY("case_open has unknown fields");
		return VG_EBADREQ;
	}
	if (!record_risk_name(c->risk)) {
		WHY("unknown risk level %d", (int)c->risk);
		return VG_EBADREQ;
	}
	if (c->minor && c->risk != VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH) {
		WHY("a minor's risk level is never below high");
		return VG_EBADREQ;
	}
	const char *cc = c->return_country;
	if (strlen(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z') {
		WHY("return_country must be an ISO 3166 code of two capital letters");
		return VG_EBADREQ;
	}
	if (!date_ok(c->return_date)) {
		WHY("return_date must be a date YYYY-MM-DD");
		return VG_EBADREQ;
	}
	if (c->n_parties > RECORD_PARTIES_MAX) {
		WHY("at most %u parties", RECORD_PARTIES_MAX);
		return VG_ETOOLARGE;
	}
	for (size_t i = 0; i < c->n_parties; i++) {
		if (!record_org_ok(c->parties[i])) {
			WHY("party \"%s\" is not an organisation id", c->parties[i]);
			return VG_EBADREQ;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(c->parties[i], c->parties[k]) == 0) {
				WHY("party \"%s\" is named twice", c->parties[i]);
				return VG_EBADREQ;
			}
	}
	switch (c->basis_case) {
	case VIGIL__V1__CASE_OPEN__BASIS_CONSENT:
		if (c->consent->base.n_unknown_fields || !record_org_ok(c->consent->scope) ||
		    c->consent->given_at_ms <= 0) {
			WHY("consent needs a scope (1-64 of [a-z0-9-]) and the time it was given");
			return VG_EBADREQ;
		}
		return VG_OK;
	case VIGIL__V1__CASE_OPEN__BASIS_OVERRIDE:
		return validate_override(c->override, why, why_len);
	default:
		WHY("case_open needs consent or an override with reason risk_to_life");
		return VG_EBADREQ;
	}
}

static int validate_risk(const Vigil__V1__RiskAssessment *r, char *why, size_t why_len)
{
	if (r->base.n_unknown_fields) {
		WHY("risk_assessment has unknown fields");
		return VG_EBADREQ;
	}
	if (!record_risk_name(r->level)) {
		WHY("unknown risk level %d", (int)r->level);
		return VG_EBADREQ;
	}
	if (!record_phase_name(r->phase)) {
		WHY("unknown assessment phase %d", (int)r->phase);
		return VG_EBADREQ;
	}
	unsigned seen = 0;
	for (size_t i = 0; i < r->n_factors; i++) {
		int f = r->factors[i];
		if (!record_factor_name(f)) {
			WHY("unknown risk factor %d", f);
			return VG_EBADREQ;
		}
		if (seen & (1u << f)) {
			WHY("risk factor %s is named twice", record_factor_name(f));
			return VG_EBADREQ;
		}
		seen |= 1u << f;
	}
	return VG_OK;
}

static int validate_offer(const Vigil__V1__HandoverOffer *o, char *why, size_t why_len)
{
	if (o->base.n_unknown_fields) {
		WHY("handover_offer has unknown fields");
		return VG_EBADREQ;
	}
	if (!record_org_ok(o->to)) {
		WHY("handover_offer needs the organisation it is offered to");
		return VG_EBADREQ;
	}
	if (!record_handover_reason_name(o->reason)) {
		WHY("unknown handover reason %d", (int)o->reason);
		return VG_EBADREQ;
	}
	switch (o->basis_case) {
	case VIGIL__V1__HANDOVER_OFFER__BASIS_CONSENT_REF:
		if (!ref_ok(o->consent_ref)) {
			WHY("consent_ref must be 1-64 of [A-Za-z0-9-]");
			return VG_EBADREQ;
		}
		return VG_OK;
	case VIGIL__V1__HANDOVER_OFFER__BASIS_OVERRIDE:
		return validate_override(o->override, why, why_len);
	default:
		WHY("a handover needs consent or an override with reason risk_to_life");
		return VG_EBADREQ;
	}
}

static int validate_answer(const Vigil__V1__HandoverAnswer *a, char *why, size_t why_len)
{
	if (a->base.n_unknown_fields) {
		WHY("handover_answer has unknown fields");
		return VG_EBADREQ;
	}
	if (a->offer_id.len != RECORD_ID_LEN) {
		WHY("offer_id must be the %u-byte record_id of the offer", RECORD_ID_LEN);
		return VG_EBADREQ;
	}
	if (a->accept && (a->decline_reason[0] || a->sealed_decline_reason)) {
		WHY("an acceptance carries no decline_reason");
		return VG_EBADREQ;
	}
	if (a->sealed_decline_reason)
		return validate_sealed(a->sealed_decline_reason, "decline_reason",
				       a->decline_reason, why, why_len);
	if (!a->accept && !text_ok(a->decline_reason, RECORD_TEXT_MAX)) {
		WHY("a decline needs a reason of 1-%u bytes of UTF-8", RECORD_TEXT_MAX);
		return VG_EBADREQ;
	}
	return VG_OK;
}

static const char *const erase_reason_names[] = {
	NULL, "data-subject-request", "unlawful-content", "retention", "other",
};

int record_is_erasure(const uint8_t *bytes, size_t len)
{
	Vigil__V1__Record *r = vigil__v1__record__unpack(NULL, len, bytes);
	int is = r && (r->body_case == VIGIL__V1__RECORD__BODY_ERASURE ||
		       r->body_case == VIGIL__V1__RECORD__BODY_ERASE_REQUEST);
	vigil__v1__record__free_unpacked(r, NULL);
	return is;
}

const char *record_erase_reason_name(int v)
{
	return name_of(erase_reason_names, N_OF(erase_reason_names), v);
}

int record_erase_reason_from_name(const char *s)
{
	return value_of(erase_reason_names, N_OF(erase_reason_names), s);
}

static int validate_erase_request(const Vigil__V1__EraseRequest *e, char *why, size_t why_len)
{
	if (e->base.n_unknown_fields) {
		WHY("erase_request has unknown fields");
		return VG_EBADREQ;
	}
	if (e->target_id.len != RECORD_ID_LEN) {
		WHY("target_id must be the %u-byte record_id of the record to erase",
		    RECORD_ID_LEN);
		return VG_EBADREQ;
	}
	if (!record_erase_reason_name(e->reason) ||
	    e->reason == VIGIL__V1__ERASE_REASON__ERASE_REASON_RETENTION) {
		WHY("erase reason must be data-subject-request, unlawful-content or other");
		return VG_EBADREQ;
	}
	if (!ref_ok(e->reference)) {
		WHY("reference must be 1-64 characters of [A-Za-z0-9-]");
		return VG_EBADREQ;
	}
	return VG_OK;
}

static int validate_erasure(const Vigil__V1__Erasure *e, char *why, size_t why_len)
{
	if (e->base.n_unknown_fields) {
		WHY("erasure has unknown fields");
		return VG_EBADREQ;
	}
	if (e->n_indexes < 1) {
		WHY("an erasure names at least one entry");
		return VG_EBADREQ;
	}
	for (size_t i = 1; i < e->n_indexes; i++)
		if (e->indexes[i] <= e->indexes[i - 1]) {
			WHY("erasure indexes must be strictly ascending");
			return VG_EBADREQ;
		}
	if (!record_erase_reason_name(e->reason)) {
		WHY("unknown erase reason %d", (int)e->reason);
		return VG_EBADREQ;
	}
	int retention = e->reason == VIGIL__V1__ERASE_REASON__ERASE_REASON_RETENTION;
	if (retention != (e->request_id.len == 0) ||
	    (!retention && (e->request_id.len != RECORD_ID_LEN ||
			    !record_org_ok(e->requested_by) || !ref_ok(e->reference)))) {
		WHY("an erasure on request names its request, requester and reference; one by "
		    "retention none");
		return VG_EBADREQ;
	}
	for (size_t i = 0; i < e->n_recipients; i++)
		if (!record_org_ok(e->recipients[i])) {
			WHY("erasure recipient %zu is not an organisation id", i + 1);
			return VG_EBADREQ;
		}
	return VG_OK;
}

static int validate_alert_ack(const Vigil__V1__AlertAck *a, char *why, size_t why_len)
{
	if (a->base.n_unknown_fields) {
		WHY("alert_ack has unknown fields");
		return VG_EBADREQ;
	}
	if (a->alert_id.len != RECORD_ID_LEN) {
		WHY("alert_id must be the %u-byte record_id of the alert", RECORD_ID_LEN);
		return VG_EBADREQ;
	}
	if (!record_ack_decision_name(a->decision)) {
		WHY("unknown ack decision %d", (int)a->decision);
		return VG_EBADREQ;
	}
	if (a->sealed_reason)
		return validate_sealed(a->sealed_reason, "reason", a->reason, why, why_len);
	if (a->decision != VIGIL__V1__ACK_DECISION__ACK_DECISION_POLICE_REPORT_FILED &&
	    !text_ok(a->reason, RECORD_TEXT_MAX)) {
		WHY("this decision needs a reason of 1-%u bytes of UTF-8", RECORD_TEXT_MAX);
		return VG_EBADREQ;
	}
	if (a->reason[0] && !text_ok(a->reason, RECORD_TEXT_MAX)) {
		WHY("reason must be 1-%u bytes of UTF-8", RECORD_TEXT_MAX);
		return VG_EBADREQ;
	}
	return VG_OK;
}

/* A Correction: its target, a coded reason, and the corrected body, which
 * passes the rules of a new record of its kind. */
static int validate_correction(const Vigil__V1__Correction *c, char *why, size_t why_len)
{
	if (c->base.n_unknown_fields) {
		WHY("correction has unknown fields");
		return VG_EBADREQ;
	}
	if (c->target_id.len != RECORD_ID_LEN) {
		WHY("target_id must be the %u-byte record_id of the record to correct",
		    RECORD_ID_LEN);
		return VG_EBADREQ;
	}
	if (!record_correction_reason_name(c->reason)) {
		WHY("unknown correction reason %d", (int)c->reason);
		return VG_EBADREQ;
	}
	switch (c->body_case) {
	case VIGIL__V1__CORRECTION__BODY_CONTACT_ATTEMPT:
		return validate_contact(c->contact_attempt, why, why_len);
	case VIGIL__V1__CORRECTION__BODY_RISK_ASSESSMENT:
		/* The reasons about an attempt's time, channel or outcome say
		 * nothing about an assessment. */
		if (c->reason == VIGIL__V1__CORRECTION_REASON__CORRECTION_REASON_WRONG_TIME ||
		    c->reason ==
			    VIGIL__V1__CORRECTION_REASON__CORRECTION_REASON_WRONG_CHANNEL_OR_OUTCOME) {
			WHY("correction reason %s is for contact attempts only",
			    record_correction_reason_name(c->reason));
			return VG_EBADREQ;
		}
		return validate_risk(c->risk_assessment, why, why_len);
	default:
		WHY("a correction gives the corrected body: a contact attempt or a risk "
		    "assessment");
		return VG_EBADREQ;
	}
}

static int validate_alert(const Vigil__V1__Alert *a, char *why, size_t why_len)
{
	if (a->base.n_unknown_fields || a->kind < 1 || a->kind > 3 || a->stage > 2 ||
	    a->alert_id.len != RECORD_ID_LEN || a->police > 2 || a->n_recipients > 64) {
		WHY("malformed alert");
		return VG_EBADREQ;
	}
	for (size_t i = 0; i < a->n_recipients; i++)
		if (!record_org_ok(a->recipients[i])) {
			WHY("malformed alert");
			return VG_EBADREQ;
		}
	return VG_OK;
}

int record_parse(const uint8_t *bytes, size_t len, Vigil__V1__Record **out,
		 char *why, size_t why_len)
{
	Vigil__V1__Record *r = vigil__v1__record__unpack(NULL, len, bytes);
	if (!r) {
		WHY("record does not decode as vigil.v1.Record");
		return VG_EBADREQ;
	}
	int rc = VG_EBADREQ;
	/* A string field carrying a NUL would be cut short in C and compared
	 * differently from its signed bytes: protobuf-c keeps the NUL, so
	 * strlen() differing from the wire length is caught by re-checking
	 * the encoded size below. */
	if (r->base.n_unknown_fields) {
		WHY("record has unknown fields");
		goto fail;
	}
	/* Canonical: serializing the decoded record gives back exactly the
	 * bytes received.  The same length is not enough: fields in another
	 * order, or one padded varint making up for another field repeated,
	 * keep the length and change the bytes. */
	if (vigil__v1__record__get_packed_size(r) != len) {
		WHY(RECORD_NOT_CANONICAL);
		goto fail;
	}
	if (len > 0) {
		uint8_t *again = malloc(len);
		if (!again) {
			WHY("out of memory");
			rc = VG_ENOMEM;
			goto fail;
		}
		vigil__v1__record__pack(r, again);
		int same = memcmp(again, bytes, len) == 0;
		free(again);
		if (!same) {
			WHY(RECORD_NOT_CANONICAL);
			goto fail;
		}
	}
	if (r->record_id.len != RECORD_ID_LEN) {
		WHY("record_id must be %u bytes, got %zu", RECORD_ID_LEN, r->record_id.len);
		goto fail;
	}
	if (!record_case_id_ok(r->case_id)) {
		WHY("case_id must be " RECORD_CASE_ID_RULE);
		goto fail;
	}
	if (!record_org_ok(r->author)) {
		WHY("author must be 1-64 characters of [a-z0-9-]");
		goto fail;
	}
	if (r->client_time_ms <= 0) {
		WHY("client_time_ms must be a positive time");
		goto fail;
	}
	switch (r->body_case) {
	case VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT:
		rc = validate_contact(r->contact_attempt, why, why_len);
		break;
	case VIGIL__V1__RECORD__BODY_CASE_OPEN:
		rc = validate_case_open(r->case_open, why, why_len);
		break;
	case VIGIL__V1__RECORD__BODY_RISK_ASSESSMENT:
		rc = validate_risk(r->risk_assessment, why, why_len);
		break;
	case VIGIL__V1__RECORD__BODY_HANDOVER_OFFER:
		rc = validate_offer(r->handover_offer, why, why_len);
		break;
	case VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER:
		rc = validate_answer(r->handover_answer, why, why_len);
		break;
	case VIGIL__V1__RECORD__BODY_HANDOVER_WITHDRAW:
		rc = VG_OK;
		if (r->handover_withdraw->base.n_unknown_fields ||
		    r->handover_withdraw->offer_id.len != RECORD_ID_LEN) {
			WHY("offer_id must be the %u-byte record_id of the offer", RECORD_ID_LEN);
			rc = VG_EBADREQ;
		}
		break;
	case VIGIL__V1__RECORD__BODY_ALERT_ACK:
		rc = validate_alert_ack(r->alert_ack, why, why_len);
		break;
	case VIGIL__V1__RECORD__BODY_ALERT:
		rc = validate_alert(r->alert, why, why_len);
		break;
	case VIGIL__V1__RECORD__BODY_ERASE_REQUEST:
		rc = validate_erase_request(r->erase_request, why, why_len);
		break;
	case VIGIL__V1__RECORD__BODY_MEMBER_KEY:
		rc = VG_OK;
		if (r->member_key->base.n_unknown_fields ||
		    !record_org_ok(r->member_key->organisation)) {
			WHY("member_key: organisation must be an organisation id");
			rc = VG_EBADREQ;
		}
		break;
	case VIGIL__V1__RECORD__BODY_GRANT:
		rc = VG_OK;
		if (r->grant->base.n_unknown_fields || !record_org_ok(r->grant->to)) {
			WHY("grant: to must be an organisation id (1-64 characters of [a-z0-9-])");
			rc = VG_EBADREQ;
		}
		break;
	case VIGIL__V1__RECORD__BODY_ERASURE:
		rc = validate_erasure(r->erasure, why, why_len);
		break;
	case VIGIL__V1__RECORD__BODY_CORRECTION:
		rc = validate_correction(r->correction, why, why_len);
		break;
	case VIGIL__V1__RECORD__BODY_CASE_CLOSE:
		rc = VG_OK;
		if (r->case_close->base.n_unknown_fields ||
		    !record_close_reason_name(r->case_close->reason)) {
			WHY("unknown close reason %d", (int)r->case_close->reason);
			rc = VG_EBADREQ;
		}
		break;
	default:
		WHY("record has no body");
		goto fail;
	}
	if (rc != VG_OK)
		goto fail;
	*out = r;
	return VG_OK;
fail:
	vigil__v1__record__free_unpacked(r, NULL);
	return rc;
}

void record_free(Vigil__V1__Record *r)
{
	if (r)
		vigil__v1__record__free_unpacked(r, NULL);
}

static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *record_sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256 ? sha256 : EVP_sha256();
}

/* Ed25519 and Ed448 sign the message itself; every other key type signs a
 * SHA-256 digest. */
static const EVP_MD *md_for(EVP_PKEY *key)
{
	int id = EVP_PKEY_get_base_id(key);
	return (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? NULL : record_sha256();
}

int record_sign(EVP_PKEY *key, const uint8_t *data, size_t len, uint8_t **sig, size_t *sig_len)
{
	int rc = VG_EINTERNAL;
	uint8_t *buf = NULL;
	size_t n = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return VG_ENOMEM;
	if (EVP_DigestSignInit(ctx, NULL, md_for(key), NULL, key) != 1)
		goto out;
	if (EVP_DigestSign(ctx, NULL, &n, data, len) != 1)
		goto out;
	buf = malloc(n);
	if (!buf) {
		rc = VG_ENOMEM;
		goto out;
	}
	if (EVP_DigestSign(ctx, buf, &n, data, len) != 1)
		goto out;
	*sig = buf;
	*sig_len = n;
	buf = NULL;
	rc = VG_OK;
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int record_verify(EVP_PKEY *key, const uint8_t *data, size_t len, const uint8_t *sig, size_t sig_len)
{
	int rc = VG_EBADSIG;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return VG_ENOMEM;
	if (EVP_DigestVerifyInit(ctx, NULL, md_for(key), NULL, key) == 1 &&
	    EVP_DigestVerify(ctx, sig, sig_len, data, len) == 1)
		rc = VG_OK;
	EVP_MD_CTX_free(ctx);
	return rc;
}

struct record_verifier {
	EVP_PKEY *key;
	EVP_MD_CTX *ready;  /* EVP_DigestVerifyInit()ed with key; never used itself */
};

struct record_verifier *record_verifier_new(EVP_PKEY *key)
{
	struct record_verifier *v = calloc(1, sizeof(*v));
	if (!v || EVP_PKEY_up_ref(key) != 1) {
		free(v);
		return NULL;
	}
	v->key = key;
	/* A context that cannot be copied (Ed25519 and Ed448 have no digest
	 * state to copy in OpenSSL 3.0) is initialised per check instead. */
	EVP_MD_CTX *ready = EVP_MD_CTX_new(), *probe = EVP_MD_CTX_new();
	if (ready && probe && EVP_DigestVerifyInit(ready, NULL, md_for(key), NULL, key) == 1 &&
	    EVP_MD_CTX_copy_ex(probe, ready) == 1) {
		v->ready = ready;
		ready = NULL;
	}
	EVP_MD_CTX_free(probe);
	EVP_MD_CTX_free(ready);
	ERR_clear_error();
	return v;
}

int record_verifier_check(const struct record_verifier *v, const uint8_t *data, size_t len,
			  const uint8_t *sig, size_t sig_len)
{
	if (!v->ready)
		return record_verify(v->key, data, len, sig, sig_len);
	int rc = VG_EBADSIG;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return VG_ENOMEM;
	if (EVP_MD_CTX_copy_ex(ctx, v->ready) == 1 &&
	    EVP_DigestVerify(ctx, sig, sig_len, data, len) == 1)
		rc = VG_OK;
	EVP_MD_CTX_free(ctx);
	return rc;
}

void record_verifier_free(struct record_verifier *v)
{
	if (!v)
		return;
	EVP_MD_CTX_free(v->ready);
	EVP_PKEY_free(v->key);
	free(v);
}

static uint8_t *put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

int entry_leaf_encode(int64_t received_at_ms, const uint8_t cert_sha256[SHA256_LEN],
		      const uint8_t *record, size_t record_len,
		      const uint8_t *sig, size_t sig_len, uint8_t **leaf, size_t *leaf_len)
{
	if (record_len > UINT32_MAX || sig_len > UINT32_MAX)
		return VG_ETOOLARGE;
	size_t n = 1 + 8 + SHA256_LEN + 4 + record_len + 4 + sig_len;
	uint8_t *b = malloc(n);
	if (!b)
		return VG_ENOMEM;
	uint8_t *p = b;
	*p++ = ENTRY_SIGNED_RECORD;
	p = put_be(p, (uint64_t)received_at_ms, 8);
	memcpy(p, cert_sha256, SHA256_LEN);
	p += SHA256_LEN;
	p = put_be(p, record_len, 4);
	if (record_len)
		memcpy(p, record, record_len);
	p += record_len;
	p = put_be(p, sig_len, 4);
	if (sig_len)
		memcpy(p, sig, sig_len);
	*leaf = b;
	*leaf_len = n;
	return VG_OK;
}

void merkle_leaf_hash(const uint8_t *leaf, size_t len, uint8_t out[SHA256_LEN])
{
	static const uint8_t prefix = 0x00;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	/* Allocation failure here leaves no way to report; abort like malloc
	 * failure in a hash would, rather than return a wrong hash. */
	if (!c || EVP_DigestInit_ex(c, record_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(c, &prefix, 1) != 1 || EVP_DigestUpdate(c, leaf, len) != 1 ||
	    EVP_DigestFinal_ex(c, out, NULL) != 1)
		abort();
	EVP_MD_CTX_free(c);
}

void hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *in, uint8_t *out, size_t n)
{
	if (strlen(in) != 2 * n)
		return VG_EBADREQ;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return VG_EBADREQ;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return VG_OK;
}

void time_format_rfc3339(int64_t ms, char out[TIME_RFC3339_MAX])
{
	time_t secs = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	if (frac < 0) {
		frac += 1000;
		secs -= 1;
	}
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(out, TIME_RFC3339_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (valid for any year). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int time_parse_rfc3339(const char *s, int64_t *ms)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int Y, M, D, h, m, sec, frac = 0;
	const char *p = s;
	if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
	    digits(&p, 2, &D) || (*p != 'T' && *p != 't'))
		return VG_EBADREQ;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' ||
	    digits(&p, 2, &sec))
		return VG_EBADREQ;
	if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 60)
		return VG_EBADREQ;
	if (M == 2 && D == 29 && !((Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0))
		return VG_EBADREQ;
	if (sec == 60)
		sec = 59; /* a leap second is stored as the second before it */
	if (*p == '.') {
		p++;
		int nd = 0;
		while (*p >= '0' && *p <= '9') {
			if (nd < 3)
				frac = frac * 10 + (*p - '0');
			nd++;
			p++;
		}
		if (nd == 0)
			return VG_EBADREQ;
		for (; nd < 3; nd++)
			frac *= 10;
	}
	int off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
			return VG_EBADREQ;
		off = sign * (oh * 60 + om);
	} else {
		return VG_EBADREQ;
	}
	if (*p)
		return VG_EBADREQ;
	int64_t t = days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec - off * 60;
	*ms = t * 1000 + frac;
	return VG_OK;
}

const Vigil__V1__SealedText *record_sealed_text(const Vigil__V1__Record *r, int *field,
						const char **plain)
{
	const Vigil__V1__SealedText *t = NULL;
	const char *p = NULL;
	int f = 0;
	switch (r->body_case) {
	case VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT:
		t = r->contact_attempt->sealed_note;
		p = r->contact_attempt->note;
		f = 1;
		break;
	case VIGIL__V1__RECORD__BODY_CASE_OPEN:
		if (r->case_open->basis_case == VIGIL__V1__CASE_OPEN__BASIS_OVERRIDE) {
			t = r->case_open->override->sealed_justification;
			p = r->case_open->override->justification;
			f = 2;
		}
		break;
	case VIGIL__V1__RECORD__BODY_HANDOVER_OFFER:
		if (r->handover_offer->basis_case == VIGIL__V1__HANDOVER_OFFER__BASIS_OVERRIDE) {
			t = r->handover_offer->override->sealed_justification;
			p = r->handover_offer->override->justification;
			f = 2;
		}
		break;
	case VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER:
		t = r->handover_answer->sealed_decline_reason;
		p = r->handover_answer->decline_reason;
		f = 3;
		break;
	case VIGIL__V1__RECORD__BODY_ALERT_ACK:
		t = r->alert_ack->sealed_reason;
		p = r->alert_ack->reason;
		f = 4;
		break;
	case VIGIL__V1__RECORD__BODY_CORRECTION:
		/* The corrected note: a correction's reason is coded, so its one
		 * sealed text is the corrected body's. */
		if (r->correction->body_case == VIGIL__V1__CORRECTION__BODY_CONTACT_ATTEMPT) {
			t = r->correction->contact_attempt->sealed_note;
			p = r->correction->contact_attempt->note;
			f = 1;
		}
		break;
	default:
		break;
	}
	if (field)
		*field = f;
	if (plain)
		*plain = p && p[0] ? p : NULL;
	return t;
}
