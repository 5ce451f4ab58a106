#include "casekit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static Vigil__V1__Frame *ask(struct tclient *c, Vigil__V1__Frame *f);

/* Whether the development PKI gives org an encryption certificate. */
static int has_enc(const char *org)
{
	char name[128];
	snprintf(name, sizeof(name), "%s.enc.crt", org);
	return access(pki(name), R_OK) == 0;
}

size_t casekit_seal_readers(struct tclient *c, const char *case_id,
			    char orgs[][RECORD_ORG_MAX + 1], size_t max)
{
	Vigil__V1__GetSealReaders g = VIGIL__V1__GET_SEAL_READERS__INIT;
	g.case_id = (char *)case_id;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_SEAL_READERS;
	f.get_seal_readers = &g;
	Vigil__V1__Frame *a = ask(c, &f);
	size_t n = 0;
	if (a && a->msg_case == VIGIL__V1__FRAME__MSG_SEAL_READERS) {
		for (size_t i = 0; i < a->seal_readers->n_organisations && n < max; i++)
			snprintf(orgs[n++], RECORD_ORG_MAX + 1, "%s",
				 a->seal_readers->organisations[i]);
	} else if (has_enc(org_of(c)) && max) {
		/* The relay will refuse the record anyway. */
		snprintf(orgs[n++], RECORD_ORG_MAX + 1, "%s", org_of(c));
	}
	frame_free(a);
	return n;
}

Vigil__V1__Frame *casekit_submit_sealed(struct tclient *c, const Vigil__V1__Record *r,
					const struct tsealed *s)
{
	size_t len = vigil__v1__record__get_packed_size(r);
	uint8_t *rec = malloc(len), *sig;
	size_t sig_len;
	vigil__v1__record__pack(r, rec);
	if (record_sign(c->key, rec, len, &sig, &sig_len) != VG_OK)
		abort();
	Vigil__V1__Frame *a = tclient_submit_sealed(c, rec, len, sig, sig_len, s ? s->cms : NULL,
						    s ? s->cms_len : 0);
	free(rec);
	free(sig);
	return a;
}

void casekit_seal(struct tclient *c, const Vigil__V1__Record *r, int field, const char *text,
		  const char *also, struct tsealed *s)
{
	char orgs[SEALED_READERS_MAX + 1][RECORD_ORG_MAX + 1];
	const char *names[SEALED_READERS_MAX + 1];
	size_t n = casekit_seal_readers(c, r->case_id, orgs, SEALED_READERS_MAX);
	int add = also && has_enc(also);
	for (size_t i = 0; add && i < n; i++)
		add = strcmp(orgs[i], also) != 0;
	if (add)
		snprintf(orgs[n++], RECORD_ORG_MAX + 1, "%s", also);
	for (size_t i = 0; i < n; i++)
		names[i] = orgs[i];
	tseal(s, field, r->record_id.data, text, names, n);
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
		o.basis_case = VIGIL__V1__HANDOVER_OFFER__BASIS_OVERRIDE;
		o.override = &ov;
	}
	r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_OFFER;
	r.handover_offer = &o;
	if (with_consent)
		return casekit_submit(c, &r);
	/* The justification, sealed to the case's readers and to `to`. */
	struct tsealed s;
	casekit_seal(c, &r, SEALED_JUSTIFICATION, "threats from the recruiter reported on arrival",
		     to, &s);
	ov.sealed_justification = &s.text;
	Vigil__V1__Frame *a = casekit_submit_sealed(c, &r, &s);
	tsealed_free(&s);
	return a;
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
	r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER;
	r.handover_answer = &a;
	if (accept)
		return casekit_submit(c, &r);
	struct tsealed s;
	casekit_seal(c, &r, SEALED_DECLINE_REASON, "no office in that region", NULL, &s);
	a.sealed_decline_reason = &s.text;
	Vigil__V1__Frame *fr = casekit_submit_sealed(c, &r, &s);
	tsealed_free(&s);
	return fr;
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
	if (a->msg_case == VIGIL__V1__FRAME__MSG_RESEALED)
		return a->resealed->missing ? "RESEALED-INCOMPLETE" : "RESEALED";
	if (a->msg_case == VIGIL__V1__FRAME__MSG_ERROR)
		return vg_status_wire_name(vg_status_from_wire(a->error->code));
	return "OTHER";
}
