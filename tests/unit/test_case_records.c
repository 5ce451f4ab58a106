/*
 * Stateless validation of the case records: each rule of proto/README.md
 * ("Case records") refused with its exact status and message, and a good
 * record of each kind accepted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/record.h"
#include "proto/status.h"

static uint8_t rid[RECORD_ID_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

static void base(Vigil__V1__Record *r)
{
	vigil__v1__record__init(r);
	r->record_id.data = rid;
	r->record_id.len = RECORD_ID_LEN;
	r->case_id = "se-stockholm-coord/SE-2026-0042";
	r->author = "se-stockholm-coord";
	r->client_time_ms = 1795000000000LL;
}

static void check(const Vigil__V1__Record *r, int status, const char *why)
{
	size_t n = vigil__v1__record__get_packed_size(r);
	uint8_t *b = malloc(n);
	vigil__v1__record__pack(r, b);
	Vigil__V1__Record *out = NULL;
	char got[256] = "";
	int rc = record_parse(b, n, &out, got, sizeof(got));
	free(b);
	if (rc != status)
		fail_msg("status %d (%s), expected %d (%s)", rc, got, status, why ? why : "ok");
	if (why)
		assert_string_equal(got, why);
	record_free(out);
}

struct open_case {
	Vigil__V1__Record r;
	Vigil__V1__CaseOpen o;
	Vigil__V1__Consent consent;
	Vigil__V1__Override ov;
	char *parties[40];
};

static void good_open(struct open_case *c)
{
	base(&c->r);
	vigil__v1__case_open__init(&c->o);
	vigil__v1__consent__init(&c->consent);
	vigil__v1__override__init(&c->ov);
	c->consent.scope = "share-with-parties";
	c->consent.given_at_ms = 1794000000000LL;
	c->o.risk = VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH;
	c->o.return_country = "RU";
	c->o.return_date = "2026-10-01";
	c->parties[0] = "iom-ru-moscow";
	c->parties[1] = "se-police-noa";
	c->o.parties = c->parties;
	c->o.n_parties = 2;
	c->o.basis_case = VIGIL__V1__CASE_OPEN__BASIS_CONSENT;
	c->o.consent = &c->consent;
	c->r.body_case = VIGIL__V1__RECORD__BODY_CASE_OPEN;
	c->r.case_open = &c->o;
}

static void test_case_open(void **state)
{
	(void)state;
	struct open_case c;
	good_open(&c);
	check(&c.r, VG_OK, NULL);
	c.o.minor = 1;
	check(&c.r, VG_OK, NULL);
	c.o.risk = VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM;
	check(&c.r, VG_EBADREQ, "a minor's risk level is never below high");
	good_open(&c);
	c.o.risk = 4;
	check(&c.r, VG_EBADREQ, "unknown risk level 4");
	good_open(&c);
	c.o.return_country = "ru";
	check(&c.r, VG_EBADREQ, "return_country must be an ISO 3166 code of two capital letters");
	good_open(&c);
	c.o.return_date = "2026-02-30";
	check(&c.r, VG_EBADREQ, "return_date must be a date YYYY-MM-DD");
	c.o.return_date = "2026-10-01T00:00:00Z";
	check(&c.r, VG_EBADREQ, "return_date must be a date YYYY-MM-DD");
	good_open(&c);
	c.parties[1] = "IOM Moscow";
	check(&c.r, VG_EBADREQ, "party \"IOM Moscow\" is not an organisation id");
	c.parties[1] = "iom-ru-moscow";
	check(&c.r, VG_EBADREQ, "party \"iom-ru-moscow\" is named twice");
	good_open(&c);
	static char names[33][16];
	for (int i = 0; i < 33; i++) {
		snprintf(names[i], sizeof(names[i]), "org-%d", i);
		c.parties[i] = names[i];
	}
	c.o.n_parties = 33;
	check(&c.r, VG_ETOOLARGE, "at most 32 parties");
	good_open(&c);
	c.o.basis_case = VIGIL__V1__CASE_OPEN__BASIS__NOT_SET;
	check(&c.r, VG_EBADREQ, "case_open needs consent or an override with reason risk_to_life");
	good_open(&c);
	c.consent.scope = "";
	check(&c.r, VG_EBADREQ, "consent needs a scope (1-64 of [a-z0-9-]) and the time it was given");
	good_open(&c);
	c.o.basis_case = VIGIL__V1__CASE_OPEN__BASIS_OVERRIDE;
	c.o.override = &c.ov;
	check(&c.r, VG_EBADREQ, "override reason must be risk_to_life");
	c.ov.reason = VIGIL__V1__OVERRIDE_REASON__OVERRIDE_REASON_RISK_TO_LIFE;
	check(&c.r, VG_EBADREQ, "override justification must be 1-280 bytes of UTF-8");
	char lng[282];
	memset(lng, 'j', 281);
	lng[281] = '\0';
	c.ov.justification = lng;
	check(&c.r, VG_EBADREQ, "override justification must be 1-280 bytes of UTF-8");
	lng[280] = '\0';
	check(&c.r, VG_OK, NULL);
}

static void test_risk_assessment(void **state)
{
	(void)state;
	Vigil__V1__Record r;
	base(&r);
	Vigil__V1__RiskAssessment a = VIGIL__V1__RISK_ASSESSMENT__INIT;
	Vigil__V1__RiskFactor f[3] = { VIGIL__V1__RISK_FACTOR__RISK_FACTOR_WITNESS,
				       VIGIL__V1__RISK_FACTOR__RISK_FACTOR_DEBT_BONDAGE, 0 };
	a.level = VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM;
	a.phase = VIGIL__V1__ASSESSMENT_PHASE__ASSESSMENT_PHASE_ON_ARRIVAL;
	a.factors = f;
	a.n_factors = 2;
	r.body_case = VIGIL__V1__RECORD__BODY_RISK_ASSESSMENT;
	r.risk_assessment = &a;
	check(&r, VG_OK, NULL);
	f[2] = VIGIL__V1__RISK_FACTOR__RISK_FACTOR_WITNESS;
	a.n_factors = 3;
	check(&r, VG_EBADREQ, "risk factor witness is named twice");
	f[2] = 12;
	check(&r, VG_EBADREQ, "unknown risk factor 12");
	a.n_factors = 2;
	a.phase = 0;
	check(&r, VG_EBADREQ, "unknown assessment phase 0");
	a.phase = 1;
	a.level = 0;
	check(&r, VG_EBADREQ, "unknown risk level 0");
}

static void test_handover_records(void **state)
{
	(void)state;
	Vigil__V1__Record r;
	base(&r);
	Vigil__V1__HandoverOffer o = VIGIL__V1__HANDOVER_OFFER__INIT;
	o.to = "iom-ru-moscow";
	o.reason = VIGIL__V1__HANDOVER_REASON__HANDOVER_REASON_ADDITIONAL_SERVICES;
	o.basis_case = VIGIL__V1__HANDOVER_OFFER__BASIS_CONSENT_REF;
	o.consent_ref = "consent-2026-09-28";
	r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_OFFER;
	r.handover_offer = &o;
	check(&r, VG_OK, NULL);
	o.consent_ref = "consent 1";
	check(&r, VG_EBADREQ, "consent_ref must be 1-64 of [A-Za-z0-9-]");
	o.basis_case = VIGIL__V1__HANDOVER_OFFER__BASIS__NOT_SET;
	check(&r, VG_EBADREQ, "a handover needs consent or an override with reason risk_to_life");
	o.basis_case = VIGIL__V1__HANDOVER_OFFER__BASIS_CONSENT_REF;
	o.consent_ref = "c1";
	o.reason = 9;
	check(&r, VG_EBADREQ, "unknown handover reason 9");
	o.reason = 1;
	o.to = "";
	check(&r, VG_EBADREQ, "handover_offer needs the organisation it is offered to");

	Vigil__V1__HandoverAnswer a = VIGIL__V1__HANDOVER_ANSWER__INIT;
	a.offer_id.data = rid;
	a.offer_id.len = RECORD_ID_LEN;
	a.accept = 1;
	a.decline_reason = "";
	r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER;
	r.handover_answer = &a;
	check(&r, VG_OK, NULL);
	a.decline_reason = "why";
	check(&r, VG_EBADREQ, "an acceptance carries no decline_reason");
	a.accept = 0;
	check(&r, VG_OK, NULL);
	a.decline_reason = "";
	check(&r, VG_EBADREQ, "a decline needs a reason of 1-280 bytes of UTF-8");
	a.offer_id.len = 15;
	check(&r, VG_EBADREQ, "offer_id must be the 16-byte record_id of the offer");

	Vigil__V1__HandoverWithdraw w = VIGIL__V1__HANDOVER_WITHDRAW__INIT;
	w.offer_id.data = rid;
	w.offer_id.len = RECORD_ID_LEN;
	r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_WITHDRAW;
	r.handover_withdraw = &w;
	check(&r, VG_OK, NULL);
	w.offer_id.len = 0;
	check(&r, VG_EBADREQ, "offer_id must be the 16-byte record_id of the offer");

	Vigil__V1__CaseClose cl = VIGIL__V1__CASE_CLOSE__INIT;
	r.body_case = VIGIL__V1__RECORD__BODY_CASE_CLOSE;
	r.case_close = &cl;
	check(&r, VG_EBADREQ, "unknown close reason 0");
	cl.reason = VIGIL__V1__CLOSE_REASON__CLOSE_REASON_LOST_CONTACT;
	check(&r, VG_OK, NULL);
}

/* A Correction: its target and coded reason, and the corrected body held
 * to the rules of a new record of its kind; its one sealed text is the
 * corrected note, never in the clear beside it. */
static void test_correction(void **state)
{
	(void)state;
	Vigil__V1__Record r;
	base(&r);
	Vigil__V1__Correction k = VIGIL__V1__CORRECTION__INIT;
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	Vigil__V1__RiskAssessment ra = VIGIL__V1__RISK_ASSESSMENT__INIT;
	ca.channel = VIGIL__V1__CHANNEL__CHANNEL_SMS;
	ca.outcome = VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE;
	ca.attempted_at_ms = 1794990000000LL;
	k.target_id.data = rid;
	k.target_id.len = RECORD_ID_LEN;
	k.reason = VIGIL__V1__CORRECTION_REASON__CORRECTION_REASON_WRONG_CHANNEL_OR_OUTCOME;
	k.body_case = VIGIL__V1__CORRECTION__BODY_CONTACT_ATTEMPT;
	k.contact_attempt = &ca;
	r.body_case = VIGIL__V1__RECORD__BODY_CORRECTION;
	r.correction = &k;
	check(&r, VG_OK, NULL);
	const char *plain = "x";
	assert_null(record_sealed_text(&r, NULL, &plain));
	assert_null(plain);

	/* The corrected body passes a new contact attempt's rules. */
	ca.channel = 9;
	check(&r, VG_EBADREQ, "unknown channel value 9");
	ca.channel = VIGIL__V1__CHANNEL__CHANNEL_SMS;
	ca.outcome = 0;
	check(&r, VG_EBADREQ, "unknown outcome value 0");
	ca.outcome = VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER;
	ca.attempted_at_ms = 0;
	check(&r, VG_EBADREQ, "attempted_at_ms must be a positive time");
	ca.attempted_at_ms = 1794990000000LL;

	/* Its sealed note is the record's one sealed text (field 1, note). */
	uint8_t c32[SHA256_LEN] = { 7 }, r32[SHA256_LEN] = { 9 };
	ProtobufCBinaryData readers[1] = { { SHA256_LEN, r32 } };
	Vigil__V1__SealedText st = VIGIL__V1__SEALED_TEXT__INIT;
	st.commitment.data = c32;
	st.commitment.len = SHA256_LEN;
	st.readers = readers;
	st.n_readers = 1;
	ca.sealed_note = &st;
	check(&r, VG_OK, NULL);
	int field = 0;
	assert_ptr_equal(record_sealed_text(&r, &field, NULL), &st);
	assert_int_equal(field, 1);
	ca.note = "in the clear";
	check(&r, VG_EBADREQ, "note is given both in the clear and sealed; only sealed_note");
	ca.sealed_note = NULL;
	check(&r, VG_OK, NULL); /* an older form; submit refuses the text in the clear */
	assert_null(record_sealed_text(&r, &field, &plain));
	assert_string_equal(plain, "in the clear");
	ca.note = "";

	/* The target and the reason. */
	k.target_id.len = 15;
	check(&r, VG_EBADREQ, "target_id must be the 16-byte record_id of the record to correct");
	k.target_id.len = RECORD_ID_LEN;
	k.reason = 0;
	check(&r, VG_EBADREQ, "unknown correction reason 0");
	k.reason = 5;
	check(&r, VG_EBADREQ, "unknown correction reason 5");
	k.reason = VIGIL__V1__CORRECTION_REASON__CORRECTION_REASON_WRONG_TIME;
	check(&r, VG_OK, NULL);

	/* A risk assessment: its own rules, and reasons that fit it. */
	k.body_case = VIGIL__V1__CORRECTION__BODY_RISK_ASSESSMENT;
	k.risk_assessment = &ra;
	ra.level = VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW;
	ra.phase = VIGIL__V1__ASSESSMENT_PHASE__ASSESSMENT_PHASE_PERIODIC;
	check(&r, VG_EBADREQ, "correction reason wrong-time is for contact attempts only");
	k.reason = VIGIL__V1__CORRECTION_REASON__CORRECTION_REASON_WRONG_CHANNEL_OR_OUTCOME;
	check(&r, VG_EBADREQ,
	      "correction reason wrong-channel-or-outcome is for contact attempts only");
	k.reason = VIGIL__V1__CORRECTION_REASON__CORRECTION_REASON_DATA_ENTRY_ERROR;
	check(&r, VG_OK, NULL);
	assert_null(record_sealed_text(&r, &field, NULL));
	assert_int_equal(field, 0);
	ra.phase = 7;
	check(&r, VG_EBADREQ, "unknown assessment phase 7");
	ra.phase = VIGIL__V1__ASSESSMENT_PHASE__ASSESSMENT_PHASE_PERIODIC;
	k.reason = VIGIL__V1__CORRECTION_REASON__CORRECTION_REASON_OTHER;
	check(&r, VG_OK, NULL);

	/* No body: nothing to correct with. */
	k.body_case = VIGIL__V1__CORRECTION__BODY__NOT_SET;
	check(&r, VG_EBADREQ, "a correction gives the corrected body: a contact attempt or a risk "
			      "assessment");

	assert_string_equal(record_correction_reason_name(3), "wrong-channel-or-outcome");
	assert_int_equal(record_correction_reason_from_name("data-entry-error"), 1);
	assert_int_equal(record_correction_reason_from_name("typo"), 0);
}

static void test_code_names(void **state)
{
	(void)state;
	assert_string_equal(record_risk_name(3), "high");
	assert_int_equal(record_risk_from_name("medium"), 2);
	assert_int_equal(record_factor_from_name("stigma-or-violence"), 10);
	assert_string_equal(record_factor_name(5), "witness");
	assert_int_equal(record_phase_from_name("event-triggered"), 4);
	assert_int_equal(record_handover_reason_from_name("return"), 2);
	assert_int_equal(record_close_reason_from_name("declines-contact"), 2);
	assert_string_equal(record_state_name(2), "follow-up");
	assert_int_equal(record_factor_from_name("nope"), 0);
	assert_null(record_risk_name(0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_case_open),
		cmocka_unit_test(test_risk_assessment),
		cmocka_unit_test(test_handover_records),
		cmocka_unit_test(test_correction),
		cmocka_unit_test(test_code_names),
	};
	return cmocka_run_group_tests_name("case records", tests, NULL, NULL);
}
