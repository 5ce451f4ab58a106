#include "casekit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "proto/status.h"

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void casekit_record(Vigil__V1__Record *r, uint8_t id[RECORD_ID_LEN], const char *case_id,
		    const char *author)
{
	vigil__v1__record__init(r);
	RAND_bytes(id, RECORD_ID_LEN);
	r->record_id.data = id;
	r->record_id.len = RECORD_ID_LEN;
	r->case_id = (char *)case_id;
	r->author = (char *)author;
	r->client_time_ms = wall_ms();
}

/* The organisation of the client's certificate, from the Welcome the
 * harness saw: the tests name the author explicitly instead. */
Vigil__V1__Frame *casekit_submit(struct tclient *c, const Vigil__V1__Record *r)
{
	size_t len = vigil__v1__record__get_packed_size(r);
	uint8_t *rec = malloc(len), *sig;
	size_t sig_len;
	vigil__v1__record__pack(r, rec);
	if (record_sign(c->key, rec, len, &sig, &sig_len) != VG_OK)
		abort();
	Vigil__V1__Frame *a = tclient_submit(c, rec, len, sig, sig_len);
	free(rec);
	free(sig);
	return a;
}

static const char *org_of(struct tclient *c)
{
	return c->org;
}

Vigil__V1__Frame *casekit_open(struct tclient *c, const char *case_id, const char *const *parties,
			       size_t n_parties, int risk, int minor)
{
	uint8_t id[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, id, case_id, org_of(c));
	Vigil__V1__CaseOpen o = VIGIL__V1__CASE_OPEN__INIT;
	Vigil__V1__Consent consent = VIGIL__V1__CONSENT__INIT;
	consent.scope = "share-with-parties";
	consent.given_at_ms = wall_ms() - 86400000;
	o.risk = (Vigil__V1__RiskLevel)risk;
	o.minor = minor;
	o.return_country = "RU";
	o.return_date = "2026-10-01";
	o.parties = (char **)parties;
	o.n_parties = n_parties;
	o.basis_case = VIGIL__V1__CASE_OPEN__BASIS_CONSENT;
	o.consent = &consent;
	r.body_case = VIGIL__V1__RECORD__BODY_CASE_OPEN;
	r.case_open = &o;
	return casekit_submit(c, &r);
}

void trelay_open_case(struct trelay *t, const char *case_id)
{
	static const char *const parties[] = { "iom-ru-moscow", "se-police-noa", "se-shelter-1" };
	struct tclient c;
	if (tclient_open(&c, t->port, "se-stockholm-coord") != 0) {
		fprintf(stderr, "casekit: coordinator cannot connect: %s\n", c.err);
		abort();
	}
	Vigil__V1__Frame *a = casekit_open(&c, case_id, parties, 3,
					   VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0);
	if (!a || a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT) {
		fprintf(stderr, "casekit: cannot open %s: %s\n", case_id,
			a && a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? a->error->message : c.err);
		abort();
	}
	frame_free(a);
	tclient_close(&c);
}

Vigil__V1__Frame *casekit_risk(struct tclient *c, const char *case_id, int level,
			       int immediate_danger)
{
	uint8_t id[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, id, case_id, org_of(c));
	Vigil__V1__RiskAssessment ra = VIGIL__V1__RISK_ASSESSMENT__INIT;
	Vigil__V1__RiskFactor factors[] = { VIGIL__V1__RISK_FACTOR__RISK_FACTOR_DEBT_BONDAGE,
					    VIGIL__V1__RISK_FACTOR__RISK_FACTOR_WITNESS };
	ra.level = (Vigil__V1__RiskLevel)level;
	ra.factors = factors;
	ra.n_factors = 2;
	ra.immediate_danger = immediate_danger;
	ra.phase = VIGIL__V1__ASSESSMENT_PHASE__ASSESSMENT_PHASE_PERIODIC;
	r.body_case = VIGIL__V1__RECORD__BODY_RISK_ASSESSMENT;
	r.risk_assessment = &ra;
	return casekit_submit(c, &r);
}

Vigil__V1__Frame *casekit_offer(struct tclient *c, const char *case_id, const char *to,
				uint8_t offer_id[RECORD_ID_LEN], int with_consent)
{
	Vigil__V1__Record r;
	casekit_record(&r, offer_id, case_id, org_of(c));
	Vigil__V1__HandoverOffer o = VIGIL__V1__HANDOVER_OFFER__INIT;
	Vigil__V1__Override ov = VIGIL__V1__OVERRIDE__INIT;
	o.to = (char *)to;
	o.reason = VIGIL__V1__HANDOVER_REASON__HANDOVER_REASON_RETURN;
	if (with_consent) {
		o.basis_case = VIGIL__V1__HANDOVER_OFFER__BASIS_CONSENT_REF;
		o.consent_ref = "consent-2026-09-28";
	} else {
		ov.reason = VIGIL__V1__OVERRIDE_REASON__OVERRIDE_REASON_RISK_TO_LIFE;
		ov.justification = "threats from the recruiter reported on arrival";
		o.basis_case = VIGIL__V1__HANDOVER_OFFER__BASIS_OVERRIDE;
		o.override = &ov;
	}
	r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_OFFER;
	r.handover_offer = &o;
	return casekit_submit(c, &r);
}

Vigil__V1__Frame *casekit_answer(struct tclient *c, const char *case_id,
				 const uint8_t offer_id[RECORD_ID_LEN], int accept)
{
	uint8_t id[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, id, case_id, org_of(c));
	Vigil__V1__HandoverAnswer a = VIGIL__V1__HANDOVER_ANSWER__INIT;
	a.offer_id.data = (uint8_t *)offer_id;
	a.offer_id.len = RECORD_ID_LEN;
	a.accept = accept;
	a.decline_reason = accept ? "" : "no office in that region";
	r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER;
	r.handover_answer = &a;
	return casekit_submit(c, &r);
}

Vigil__V1__Frame *casekit_withdraw(struct tclient *c, const char *case_id,
				   const uint8_t offer_id[RECORD_ID_LEN])
{
	uint8_t id[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, id, case_id, org_of(c));
	Vigil__V1__HandoverWithdraw w = VIGIL__V1__HANDOVER_WITHDRAW__INIT;
	w.offer_id.data = (uint8_t *)offer_id;
	w.offer_id.len = RECORD_ID_LEN;
	r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_WITHDRAW;
	r.handover_withdraw = &w;
	return casekit_submit(c, &r);
}

Vigil__V1__Frame *casekit_close(struct tclient *c, const char *case_id)
{
	uint8_t id[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, id, case_id, org_of(c));
	Vigil__V1__CaseClose cl = VIGIL__V1__CASE_CLOSE__INIT;
	cl.reason = VIGIL__V1__CLOSE_REASON__CLOSE_REASON_MONITORING_COMPLETED;
	r.body_case = VIGIL__V1__RECORD__BODY_CASE_CLOSE;
	r.case_close = &cl;
	return casekit_submit(c, &r);
}

Vigil__V1__Frame *casekit_contact(struct tclient *c, const char *case_id, int outcome)
{
	uint8_t id[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, id, case_id, org_of(c));
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	ca.channel = VIGIL__V1__CHANNEL__CHANNEL_PHONE;
	ca.outcome = (Vigil__V1__Outcome)outcome;
	ca.attempted_at_ms = r.client_time_ms - 60000;
	ca.note = "";
	r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	r.contact_attempt = &ca;
	return casekit_submit(c, &r);
}

static Vigil__V1__Frame *ask(struct tclient *c, Vigil__V1__Frame *f)
{
	f->request_id = c->next_id++;
	if (tclient_send_frame(c, f) != 0)
		return NULL;
	Vigil__V1__Frame *a;
	if (tclient_recv(c, &a, 10000) != 0)
		return NULL;
	return a;
}

Vigil__V1__Frame *casekit_status(struct tclient *c, const char *case_id)
{
	Vigil__V1__GetCaseStatus g = VIGIL__V1__GET_CASE_STATUS__INIT;
	g.case_id = (char *)case_id;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_CASE_STATUS;
	f.get_case_status = &g;
	return ask(c, &f);
}

Vigil__V1__Frame *casekit_log(struct tclient *c, const char *case_id)
{
	Vigil__V1__GetCaseLog g = VIGIL__V1__GET_CASE_LOG__INIT;
	g.case_id = (char *)case_id;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_CASE_LOG;
	f.get_case_log = &g;
	return ask(c, &f);
}

Vigil__V1__Frame *casekit_log_page(struct tclient *c, const char *case_id, int has_after,
				   uint64_t after, uint32_t limit)
{
	Vigil__V1__GetCaseLog g = VIGIL__V1__GET_CASE_LOG__INIT;
	g.case_id = (char *)case_id;
	g.has_after = has_after;
	g.after = after;
	g.limit = limit;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_CASE_LOG;
	f.get_case_log = &g;
	return ask(c, &f);
}

Vigil__V1__Frame *casekit_list(struct tclient *c)
{
	Vigil__V1__ListCases g = VIGIL__V1__LIST_CASES__INIT;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_LIST_CASES;
	f.list_cases = &g;
	return ask(c, &f);
}

Vigil__V1__Frame *casekit_readers(struct tclient *c, const char *case_id)
{
	Vigil__V1__GetCaseReaders g = VIGIL__V1__GET_CASE_READERS__INIT;
	g.case_id = (char *)case_id;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_CASE_READERS;
	f.get_case_readers = &g;
	return ask(c, &f);
}

const char *casekit_outcome(const Vigil__V1__Frame *a)
{
	if (!a)
		return "NO_ANSWER";
	if (a->msg_case == VIGIL__V1__FRAME__MSG_RECEIPT)
		return "RECEIPT";
	if (a->msg_case == VIGIL__V1__FRAME__MSG_ERROR)
		return vg_status_wire_name(vg_status_from_wire(a->error->code));
	return "OTHER";
}
