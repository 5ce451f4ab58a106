/*
 * Who may do what to a case and which view a reader gets (daemon/policy.c,
 * DESIGN.md section 5), as a table: every record kind and query, by every
 * role, as owner, responsible, party, offered organisation and non-party,
 * with the exact status and message.  No database, no clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "daemon/casestate.h"
#include "daemon/identity.h"
#include "daemon/policy.h"
#include "proto/status.h"

#define CASE "se-stockholm-coord/SE-2026-0042"
#define NF "case " CASE " not found"
#define NOW 1795000000000LL

/* The member directory of the tests. */
static const struct {
	const char *org;
	int role;
} dir[] = {
	{ "se-stockholm-coord", ROLE_COORDINATOR }, { "se-malmo-coord", ROLE_COORDINATOR },
	{ "se-gothenburg-coord", ROLE_COORDINATOR }, { "iom-ru-moscow", ROLE_IOM },
	{ "iom-lv-riga", ROLE_IOM },		     { "se-police-noa", ROLE_POLICE },
	{ "se-police-west", ROLE_POLICE },	     { "se-shelter-stockholm", ROLE_SHELTER },
	{ "se-shelter-west", ROLE_SHELTER },	     { "vigil-relay", ROLE_RELAY },
};

static int role_of(const void *ctx, const char *org)
{
	(void)ctx;
	for (size_t i = 0; i < sizeof(dir) / sizeof(dir[0]); i++)
		if (strcmp(dir[i].org, org) == 0)
			return dir[i].role;
	return ROLE_NONE;
}

static const struct case_members members = { role_of, NULL, NULL };

enum actor {
	OWNER,          /* se-stockholm-coord: opened it, handed it to IOM */
	COORD_PARTY,    /* se-malmo-coord */
	RESPONSIBLE,    /* iom-ru-moscow, by accepted handover */
	POLICE_PARTY,   /* se-police-noa */
	SHELTER_PARTY,  /* se-shelter-stockholm */
	OFFERED,        /* iom-lv-riga, named by the pending offer (fixture PENDING) */
	COORD_OUT,      /* se-gothenburg-coord, no party */
	POLICE_OUT,     /* se-police-west, no party (offered in fixture PENDING_POLICE) */
	SHELTER_OUT,    /* se-shelter-west, no party */
};

static const struct policy_actor actors[] = {
	[OWNER] = { "se-stockholm-coord", ROLE_COORDINATOR },
	[COORD_PARTY] = { "se-malmo-coord", ROLE_COORDINATOR },
	[RESPONSIBLE] = { "iom-ru-moscow", ROLE_IOM },
	[POLICE_PARTY] = { "se-police-noa", ROLE_POLICE },
	[SHELTER_PARTY] = { "se-shelter-stockholm", ROLE_SHELTER },
	[OFFERED] = { "iom-lv-riga", ROLE_IOM },
	[COORD_OUT] = { "se-gothenburg-coord", ROLE_COORDINATOR },
	[POLICE_OUT] = { "se-police-west", ROLE_POLICE },
	[SHELTER_OUT] = { "se-shelter-west", ROLE_SHELTER },
};

enum fixture { NONE, ACTIVE, PENDING, PENDING_POLICE, CLOSED };

static const uint8_t alert_id[RECORD_ID_LEN] = { 0xa1 };
static const uint8_t other_id[RECORD_ID_LEN] = { 0xee };
static const uint8_t offer_id[RECORD_ID_LEN] = { 0x0f };

static void fixture(struct case_state *c, enum fixture f)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->case_id, sizeof(c->case_id), CASE);
	snprintf(c->owner, sizeof(c->owner), "se-stockholm-coord");
	snprintf(c->responsible, sizeof(c->responsible), "iom-ru-moscow");
	snprintf(c->consent_scope, sizeof(c->consent_scope), "share-with-parties");
	c->state = VIGIL__V1__CASE_STATE__CASE_STATE_ACTIVE;
	c->risk = VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH;
	const char *parties[] = { "se-stockholm-coord", "se-malmo-coord", "iom-ru-moscow",
				  "se-police-noa", "se-shelter-stockholm" };
	for (size_t i = 0; i < 5; i++)
		casestate_add_party(c, parties[i], role_of(NULL, parties[i]));
	c->alert.open = 1;
	c->alert.stage = 1;
	c->alert.kind = VIGIL__V1__ALERT_KIND__ALERT_KIND_SILENCE;
	memcpy(c->alert.id, alert_id, RECORD_ID_LEN);
	if (f == PENDING || f == PENDING_POLICE) {
		c->has_pending = 1;
		memcpy(c->pending_offer_id, offer_id, RECORD_ID_LEN);
		snprintf(c->pending_offer_to, sizeof(c->pending_offer_to), "%s",
			 f == PENDING ? "iom-lv-riga" : "se-police-west");
	}
	if (f == CLOSED) {
		c->state = VIGIL__V1__CASE_STATE__CASE_STATE_CLOSED;
		snprintf(c->responsible, sizeof(c->responsible), "se-malmo-coord");
		c->alert.open = 0;
	}
}

enum kind { OPEN, OPEN_UNQUALIFIED, OPEN_UNKNOWN_PARTY, OPEN_RELAY_PARTY, CONTACT, RISK_HIGH,
	    RISK_LOW_MINOR, OFFER, OFFER_UNKNOWN, OFFER_SELF, OFFER_RELAY, ANSWER, ANSWER_OTHER,
	    WITHDRAW, ACK, ACK_OTHER, CLOSE, ALERT };

/* Storage for one record of each kind. */
struct rec {
	Vigil__V1__Record r;
	Vigil__V1__CaseOpen open;
	Vigil__V1__Consent consent;
	Vigil__V1__ContactAttempt contact;
	Vigil__V1__RiskAssessment risk;
	Vigil__V1__HandoverOffer offer;
	Vigil__V1__HandoverAnswer answer;
	Vigil__V1__HandoverWithdraw withdraw;
	Vigil__V1__AlertAck ack;
	Vigil__V1__CaseClose close;
	Vigil__V1__Alert alert;
	char *parties[2];
};

static uint8_t rid[RECORD_ID_LEN] = { 0x42 };

static Vigil__V1__Record *build(struct rec *x, enum kind k, const char *author)
{
	memset(x, 0, sizeof(*x));
	vigil__v1__record__init(&x->r);
	x->r.record_id.data = rid;
	x->r.record_id.len = RECORD_ID_LEN;
	x->r.case_id = CASE;
	x->r.author = (char *)author;
	x->r.client_time_ms = NOW;
	switch (k) {
	case OPEN:
	case OPEN_UNQUALIFIED:
	case OPEN_UNKNOWN_PARTY:
	case OPEN_RELAY_PARTY:
		vigil__v1__case_open__init(&x->open);
		vigil__v1__consent__init(&x->consent);
		x->consent.scope = "share-with-parties";
		x->consent.given_at_ms = NOW - 1000;
		x->open.basis_case = VIGIL__V1__CASE_OPEN__BASIS_CONSENT;
		x->open.consent = &x->consent;
		x->open.risk = VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH;
		x->open.return_country = "RU";
		x->open.return_date = "2026-11-01";
		x->parties[0] = "iom-ru-moscow";
		x->parties[1] = k == OPEN_UNKNOWN_PARTY ? "iom-ru-moskow"
			      : k == OPEN_RELAY_PARTY ? "vigil-relay" : "se-police-noa";
		x->open.parties = x->parties;
		x->open.n_parties = 2;
		if (k == OPEN_UNQUALIFIED)
			x->r.case_id = "SE-2026-0099";
		x->r.body_case = VIGIL__V1__RECORD__BODY_CASE_OPEN;
		x->r.case_open = &x->open;
		break;
	case CONTACT:
		vigil__v1__contact_attempt__init(&x->contact);
		x->contact.channel = VIGIL__V1__CHANNEL__CHANNEL_PHONE;
		x->contact.outcome = VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER;
		x->contact.attempted_at_ms = NOW;
		x->r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
		x->r.contact_attempt = &x->contact;
		break;
	case RISK_HIGH:
	case RISK_LOW_MINOR:
		vigil__v1__risk_assessment__init(&x->risk);
		x->risk.level = k == RISK_HIGH ? VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH
					       : VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW;
		x->r.body_case = VIGIL__V1__RECORD__BODY_RISK_ASSESSMENT;
		x->r.risk_assessment = &x->risk;
		break;
	case OFFER:
	case OFFER_UNKNOWN:
	case OFFER_SELF:
	case OFFER_RELAY:
		vigil__v1__handover_offer__init(&x->offer);
		x->offer.to = k == OFFER ? "se-police-noa" : k == OFFER_UNKNOWN ? "iom-ru-moskow"
			    : k == OFFER_SELF ? (char *)author : "vigil-relay";
		x->offer.basis_case = VIGIL__V1__HANDOVER_OFFER__BASIS_CONSENT_REF;
		x->offer.consent_ref = "consent-1";
		x->r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_OFFER;
		x->r.handover_offer = &x->offer;
		break;
	case ANSWER:
	case ANSWER_OTHER:
		vigil__v1__handover_answer__init(&x->answer);
		x->answer.offer_id.data = (uint8_t *)(k == ANSWER ? offer_id : other_id);
		x->answer.offer_id.len = RECORD_ID_LEN;
		x->answer.accept = 1;
		x->r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER;
		x->r.handover_answer = &x->answer;
		break;
	case WITHDRAW:
		vigil__v1__handover_withdraw__init(&x->withdraw);
		x->withdraw.offer_id.data = (uint8_t *)offer_id;
		x->withdraw.offer_id.len = RECORD_ID_LEN;
		x->r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_WITHDRAW;
		x->r.handover_withdraw = &x->withdraw;
		break;
	case ACK:
	case ACK_OTHER:
		vigil__v1__alert_ack__init(&x->ack);
		x->ack.alert_id.data = (uint8_t *)(k == ACK ? alert_id : other_id);
		x->ack.alert_id.len = RECORD_ID_LEN;
		x->ack.decision = VIGIL__V1__ACK_DECISION__ACK_DECISION_POLICE_REPORT_FILED;
		x->r.body_case = VIGIL__V1__RECORD__BODY_ALERT_ACK;
		x->r.alert_ack = &x->ack;
		break;
	case CLOSE:
		vigil__v1__case_close__init(&x->close);
		x->close.reason = VIGIL__V1__CLOSE_REASON__CLOSE_REASON_MONITORING_COMPLETED;
		x->r.body_case = VIGIL__V1__RECORD__BODY_CASE_CLOSE;
		x->r.case_close = &x->close;
		break;
	case ALERT:
		vigil__v1__alert__init(&x->alert);
		x->r.body_case = VIGIL__V1__RECORD__BODY_ALERT;
		x->r.alert = &x->alert;
		break;
	}
	return &x->r;
}

struct row {
	enum fixture f;
	enum actor a;
	enum kind k;
	int status;
	const char *why;
};

#define OK VG_OK, NULL
#define PERM VG_EPERM
#define BAD VG_EBADREQ
#define ONLY_RESP_OFFERS "only the responsible organisation (iom-ru-moscow) offers a handover"
#define ONLY_CLOSE "only the owner (se-stockholm-coord) or the responsible coordinator closes the case"
#define ONLY_ACK "only a coordinator party or the responsible organisation acknowledges an alert"
#define ONLY_RISK "only coordinator, police and iom parties assess risk"
#define ONLY_COORD_OPENS "only a coordinator opens a case"
#define CLOSED_MSG "case " CASE " is closed; its owner reopens it with a case open"
#define NOT_PENDING "that offer is not pending (withdrawn, answered or unknown)"
#define RELAY_ONLY "alerts are raised by the relay only"

static const struct row rows[] = {
	/* A new case: only the owner named in the id creates it. */
	{ NONE, OWNER, OPEN, OK },
	{ NONE, COORD_PARTY, OPEN, PERM, "a new case's id begins with your organisation id: se-malmo-coord/..." },
	{ NONE, OWNER, OPEN_UNQUALIFIED, PERM, "a new case's id begins with your organisation id: se-stockholm-coord/..." },
	{ NONE, OWNER, OPEN_UNKNOWN_PARTY, VG_ENOTFOUND, "unknown organisation iom-ru-moskow" },
	{ NONE, OWNER, OPEN_RELAY_PARTY, BAD, "vigil-relay is a relay and is party to no case" },
	{ CLOSED, OWNER, OPEN_UNKNOWN_PARTY, VG_ENOTFOUND, "unknown organisation iom-ru-moskow" },
	{ NONE, POLICE_OUT, OPEN, PERM, ONLY_COORD_OPENS },
	{ NONE, RESPONSIBLE, OPEN, PERM, ONLY_COORD_OPENS },
	{ NONE, SHELTER_OUT, OPEN, PERM, ONLY_COORD_OPENS },
	{ NONE, OWNER, CONTACT, VG_ENOTFOUND, NF },
	{ NONE, OWNER, CLOSE, VG_ENOTFOUND, NF },
	{ NONE, OWNER, ALERT, PERM, RELAY_ONLY },

	/* Opening an existing id: a party learns it is open, anyone else only
	 * the rule that answers them for any id of another organisation. */
	{ ACTIVE, OWNER, OPEN, VG_ECONFLICT, "case " CASE " is already open" },
	{ ACTIVE, COORD_PARTY, OPEN, VG_ECONFLICT, "case " CASE " is already open" },
	{ ACTIVE, COORD_OUT, OPEN, PERM, "a new case's id begins with your organisation id: se-gothenburg-coord/..." },
	{ ACTIVE, POLICE_PARTY, OPEN, PERM, ONLY_COORD_OPENS },

	/* ContactAttempt: any party. */
	{ ACTIVE, OWNER, CONTACT, OK },
	{ ACTIVE, COORD_PARTY, CONTACT, OK },
	{ ACTIVE, RESPONSIBLE, CONTACT, OK },
	{ ACTIVE, POLICE_PARTY, CONTACT, OK },
	{ ACTIVE, SHELTER_PARTY, CONTACT, OK },
	{ ACTIVE, COORD_OUT, CONTACT, VG_ENOTFOUND, NF },
	{ ACTIVE, POLICE_OUT, CONTACT, VG_ENOTFOUND, NF },
	{ ACTIVE, SHELTER_OUT, CONTACT, VG_ENOTFOUND, NF },
	{ PENDING, OFFERED, CONTACT, VG_ENOTFOUND, NF },

	/* RiskAssessment: coordinator, police and iom parties. */
	{ ACTIVE, OWNER, RISK_HIGH, OK },
	{ ACTIVE, COORD_PARTY, RISK_HIGH, OK },
	{ ACTIVE, RESPONSIBLE, RISK_HIGH, OK },
	{ ACTIVE, POLICE_PARTY, RISK_HIGH, OK },
	{ ACTIVE, SHELTER_PARTY, RISK_HIGH, PERM, ONLY_RISK },
	{ ACTIVE, COORD_OUT, RISK_HIGH, VG_ENOTFOUND, NF },
	{ ACTIVE, POLICE_OUT, RISK_HIGH, VG_ENOTFOUND, NF },

	/* HandoverOffer: the responsible organisation, to a member. */
	{ ACTIVE, RESPONSIBLE, OFFER, OK },
	{ ACTIVE, OWNER, OFFER, PERM, ONLY_RESP_OFFERS },
	{ ACTIVE, COORD_PARTY, OFFER, PERM, ONLY_RESP_OFFERS },
	{ ACTIVE, POLICE_PARTY, OFFER, PERM, ONLY_RESP_OFFERS },
	{ ACTIVE, SHELTER_PARTY, OFFER, PERM, ONLY_RESP_OFFERS },
	{ ACTIVE, COORD_OUT, OFFER, VG_ENOTFOUND, NF },
	{ ACTIVE, RESPONSIBLE, OFFER_UNKNOWN, VG_ENOTFOUND, "unknown organisation iom-ru-moskow" },
	{ ACTIVE, RESPONSIBLE, OFFER_SELF, BAD, "the case is already with iom-ru-moscow" },
	{ ACTIVE, RESPONSIBLE, OFFER_RELAY, BAD, "vigil-relay is a relay and takes no cases" },
	{ PENDING, RESPONSIBLE, OFFER, VG_ECONFLICT, "an offer to iom-lv-riga is already pending; it must be answered or withdrawn first" },

	/* HandoverAnswer: the offered organisation, before it is a party. */
	{ PENDING, OFFERED, ANSWER, OK },
	{ PENDING_POLICE, POLICE_OUT, ANSWER, OK },
	{ PENDING, OFFERED, ANSWER_OTHER, BAD, NOT_PENDING },
	{ PENDING, OWNER, ANSWER, PERM, "only the offered organisation (iom-lv-riga) answers this offer" },
	{ PENDING, RESPONSIBLE, ANSWER, PERM, "only the offered organisation (iom-lv-riga) answers this offer" },
	{ PENDING, COORD_OUT, ANSWER, VG_ENOTFOUND, NF },
	{ ACTIVE, OFFERED, ANSWER, VG_ENOTFOUND, NF },
	{ ACTIVE, OWNER, ANSWER, BAD, NOT_PENDING },

	/* HandoverWithdraw: the responsible organisation. */
	{ PENDING, RESPONSIBLE, WITHDRAW, OK },
	{ PENDING, OWNER, WITHDRAW, PERM, "only the responsible organisation (iom-ru-moscow) withdraws its offer" },
	{ PENDING, OFFERED, WITHDRAW, VG_ENOTFOUND, NF },
	{ ACTIVE, RESPONSIBLE, WITHDRAW, BAD, NOT_PENDING },

	/* AlertAck: a coordinator party or the responsible organisation. */
	{ ACTIVE, OWNER, ACK, OK },
	{ ACTIVE, COORD_PARTY, ACK, OK },
	{ ACTIVE, RESPONSIBLE, ACK, OK },
	{ ACTIVE, POLICE_PARTY, ACK, PERM, ONLY_ACK },
	{ ACTIVE, SHELTER_PARTY, ACK, PERM, ONLY_ACK },
	{ ACTIVE, COORD_OUT, ACK, VG_ENOTFOUND, NF },
	{ ACTIVE, OWNER, ACK_OTHER, BAD, "that alert is not open" },

	/* CaseClose: the owner keeps the right after handing the case on. */
	{ ACTIVE, OWNER, CLOSE, OK },
	{ ACTIVE, COORD_PARTY, CLOSE, PERM, ONLY_CLOSE },
	{ ACTIVE, RESPONSIBLE, CLOSE, PERM, ONLY_CLOSE },
	{ ACTIVE, POLICE_PARTY, CLOSE, PERM, ONLY_CLOSE },
	{ ACTIVE, SHELTER_PARTY, CLOSE, PERM, ONLY_CLOSE },
	{ ACTIVE, COORD_OUT, CLOSE, VG_ENOTFOUND, NF },

	/* A closed case: reopened by its owner or its responsible coordinator,
	 * nothing else. */
	{ CLOSED, OWNER, OPEN, OK },
	{ CLOSED, COORD_PARTY, OPEN, OK }, /* responsible when it was closed */
	{ CLOSED, RESPONSIBLE, OPEN, PERM, ONLY_COORD_OPENS },
	{ CLOSED, COORD_OUT, OPEN, PERM, "a new case's id begins with your organisation id: se-gothenburg-coord/..." },
	{ CLOSED, OWNER, CONTACT, BAD, CLOSED_MSG },
	{ CLOSED, OWNER, CLOSE, BAD, CLOSED_MSG },
	{ CLOSED, COORD_OUT, CONTACT, VG_ENOTFOUND, NF },

	/* Alerts come from the relay alone, whoever claims one. */
	{ ACTIVE, OWNER, ALERT, PERM, RELAY_ONLY },
	{ ACTIVE, COORD_OUT, ALERT, PERM, RELAY_ONLY },
};

static void test_record_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *w = &rows[i];
		struct case_state c;
		fixture(&c, w->f);
		struct rec x;
		const struct policy_actor *a = &actors[w->a];
		Vigil__V1__Record *r = build(&x, w->k, a->org);
		char why[256] = "";
		int rc = policy_record(a, w->f == NONE ? NULL : &c, r, &members, why, sizeof(why));
		if (rc != w->status || (w->why && strcmp(why, w->why) != 0))
			fail_msg("row %zu (%s, kind %d): status %d \"%s\", expected %d \"%s\"", i,
				 a->org, w->k, rc, why, w->status, w->why ? w->why : "");
	}
}

static void test_minor_stays_high(void **state)
{
	(void)state;
	struct case_state c;
	fixture(&c, ACTIVE);
	c.minor = 1;
	struct rec x;
	char why[256];
	assert_int_equal(policy_record(&actors[OWNER], &c, build(&x, RISK_LOW_MINOR, "se-stockholm-coord"),
				       &members, why, sizeof(why)),
			 VG_EBADREQ);
	assert_string_equal(why, "a minor's risk level is never below high");
	assert_int_equal(policy_record(&actors[OWNER], &c, build(&x, RISK_HIGH, "se-stockholm-coord"),
				       &members, why, sizeof(why)),
			 VG_OK);
}

static void test_hidden(void **state)
{
	(void)state;
	struct case_state c;
	fixture(&c, PENDING);
	assert_false(policy_hidden(&actors[OWNER], &c));
	assert_false(policy_hidden(&actors[POLICE_PARTY], &c));
	assert_true(policy_hidden(&actors[COORD_OUT], &c));
	assert_true(policy_hidden(&actors[OFFERED], &c));
}

struct qrow {
	enum fixture f;
	enum actor a;
	enum case_query q;
	int status;
	int view;
	const char *why;
};

#define ONLY_LOG "the case's records are for coordinator, iom, shelter and responsible parties"
#define ONLY_READERS "only the owner (se-stockholm-coord) or the responsible coordinator lists who read the case"

static const struct qrow qrows[] = {
	{ ACTIVE, OWNER, CASE_Q_STATUS, VG_OK, CASE_VIEW_FULL, NULL },
	{ ACTIVE, COORD_PARTY, CASE_Q_STATUS, VG_OK, CASE_VIEW_FULL, NULL },
	{ ACTIVE, RESPONSIBLE, CASE_Q_STATUS, VG_OK, CASE_VIEW_FULL, NULL },
	{ ACTIVE, SHELTER_PARTY, CASE_Q_STATUS, VG_OK, CASE_VIEW_FULL, NULL },
	{ ACTIVE, POLICE_PARTY, CASE_Q_STATUS, VG_OK, CASE_VIEW_POLICE, NULL },
	{ ACTIVE, COORD_OUT, CASE_Q_STATUS, VG_ENOTFOUND, 0, NF },
	{ ACTIVE, POLICE_OUT, CASE_Q_STATUS, VG_ENOTFOUND, 0, NF },
	{ PENDING, OFFERED, CASE_Q_STATUS, VG_OK, CASE_VIEW_OFFERED, NULL },
	/* An offered police organisation gets the offered view, not the
	 * police view with its contact history. */
	{ PENDING_POLICE, POLICE_OUT, CASE_Q_STATUS, VG_OK, CASE_VIEW_OFFERED, NULL },
	{ NONE, OWNER, CASE_Q_STATUS, VG_ENOTFOUND, 0, NF },

	{ ACTIVE, OWNER, CASE_Q_LOG, VG_OK, CASE_VIEW_FULL, NULL },
	{ ACTIVE, COORD_PARTY, CASE_Q_LOG, VG_OK, CASE_VIEW_FULL, NULL },
	{ ACTIVE, RESPONSIBLE, CASE_Q_LOG, VG_OK, CASE_VIEW_FULL, NULL },
	{ ACTIVE, POLICE_PARTY, CASE_Q_LOG, VG_EPERM, 0, ONLY_LOG },
	{ ACTIVE, SHELTER_PARTY, CASE_Q_LOG, VG_OK, CASE_VIEW_FULL, NULL },
	{ ACTIVE, COORD_OUT, CASE_Q_LOG, VG_ENOTFOUND, 0, NF },
	{ PENDING, OFFERED, CASE_Q_LOG, VG_ENOTFOUND, 0, NF },

	{ ACTIVE, OWNER, CASE_Q_READERS, VG_OK, CASE_VIEW_FULL, NULL },
	{ ACTIVE, COORD_PARTY, CASE_Q_READERS, VG_EPERM, 0, ONLY_READERS },
	{ ACTIVE, RESPONSIBLE, CASE_Q_READERS, VG_EPERM, 0, ONLY_READERS },
	{ ACTIVE, POLICE_PARTY, CASE_Q_READERS, VG_EPERM, 0, ONLY_READERS },
	{ ACTIVE, COORD_OUT, CASE_Q_READERS, VG_ENOTFOUND, 0, NF },
	{ CLOSED, COORD_PARTY, CASE_Q_READERS, VG_OK, CASE_VIEW_FULL, NULL },
	{ CLOSED, OWNER, CASE_Q_READERS, VG_OK, CASE_VIEW_FULL, NULL },

	{ NONE, COORD_OUT, CASE_Q_LIST, VG_OK, CASE_VIEW_FULL, NULL },
	{ ACTIVE, POLICE_OUT, CASE_Q_LIST, VG_OK, CASE_VIEW_FULL, NULL },
};

static void test_query_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(qrows) / sizeof(qrows[0]); i++) {
		const struct qrow *w = &qrows[i];
		struct case_state c;
		fixture(&c, w->f);
		char why[256] = "";
		enum case_view view = 0;
		int rc = policy_query(&actors[w->a], CASE, w->f == NONE ? NULL : &c, w->q, &view, why,
				      sizeof(why));
		if (rc != w->status || (rc == VG_OK && (int)view != w->view) ||
		    (w->why && strcmp(why, w->why) != 0))
			fail_msg("query row %zu (%s, q %d): status %d view %d \"%s\", expected %d view %d \"%s\"",
				 i, actors[w->a].org, w->q, rc, view, why, w->status, w->view,
				 w->why ? w->why : "");
	}
}

static void test_times(void **state)
{
	(void)state;
	const uint64_t skew = 5 * 60 * 1000;
	struct rec x;
	char why[256];
	Vigil__V1__Record *r = build(&x, CONTACT, "iom-ru-moscow");

	/* Up to the skew ahead, and backdated by a year: fine. */
	x.contact.attempted_at_ms = NOW + (int64_t)skew;
	assert_int_equal(policy_check_times(r, NOW, skew, why, sizeof(why)), VG_OK);
	x.contact.attempted_at_ms = NOW - 365LL * 24 * 3600 * 1000;
	assert_int_equal(policy_check_times(r, NOW, skew, why, sizeof(why)), VG_OK);

	/* One millisecond further, a mistyped year, the end of time: refused,
	 * naming the field and the relay's time. */
	x.contact.attempted_at_ms = NOW + (int64_t)skew + 1;
	assert_int_equal(policy_check_times(r, NOW, skew, why, sizeof(why)), VG_EBADREQ);
	assert_string_equal(why, "attempted_at_ms 2026-11-18T11:11:40.001Z is later than the "
				 "relay's time 2026-11-18T11:06:40.000Z plus max_clock_skew (300 s)");
	x.contact.attempted_at_ms = NOW + 365LL * 24 * 3600 * 1000;
	assert_int_equal(policy_check_times(r, NOW, skew, why, sizeof(why)), VG_EBADREQ);
	assert_string_equal(why, "attempted_at_ms 2027-11-18T11:06:40.000Z is later than the "
				 "relay's time 2026-11-18T11:06:40.000Z plus max_clock_skew (300 s)");
	x.contact.attempted_at_ms = INT64_MAX;
	assert_int_equal(policy_check_times(r, NOW, skew, why, sizeof(why)), VG_EBADREQ);
	assert_true(strncmp(why, "attempted_at_ms ", 16) == 0);
	x.contact.attempted_at_ms = INT64_MAX;
	assert_int_equal(policy_check_times(r, INT64_MAX - 1, UINT64_MAX, why, sizeof(why)), VG_OK);

	/* Both the record's time and the attempt's in the future (as the CLI's
	 * --at makes them): the attempt is named, it is what was typed. */
	x.r.client_time_ms = NOW + 365LL * 24 * 3600 * 1000;
	x.contact.attempted_at_ms = NOW + 365LL * 24 * 3600 * 1000;
	assert_int_equal(policy_check_times(r, NOW, skew, why, sizeof(why)), VG_EBADREQ);
	assert_true(strncmp(why, "attempted_at_ms 2027-11-18T11:06:40.000Z is later", 49) == 0);

	/* The record's own client time. */
	x.contact.attempted_at_ms = NOW;
	x.r.client_time_ms = NOW + 3600 * 1000;
	assert_int_equal(policy_check_times(r, NOW, skew, why, sizeof(why)), VG_EBADREQ);
	assert_string_equal(why, "client_time_ms 2026-11-18T12:06:40.000Z is later than the "
				 "relay's time 2026-11-18T11:06:40.000Z plus max_clock_skew (300 s)");

	/* A consent given in the future. */
	r = build(&x, OPEN, "se-stockholm-coord");
	x.consent.given_at_ms = NOW + 3600 * 1000;
	assert_int_equal(policy_check_times(r, NOW, skew, why, sizeof(why)), VG_EBADREQ);
	assert_string_equal(why, "consent.given_at_ms 2026-11-18T12:06:40.000Z is later than the "
				 "relay's time 2026-11-18T11:06:40.000Z plus max_clock_skew (300 s)");
	x.consent.given_at_ms = NOW;
	assert_int_equal(policy_check_times(r, NOW, skew, why, sizeof(why)), VG_OK);

	/* Opened under the override: consent and override share a union, and
	 * the override's justification is no time to check. */
	Vigil__V1__Override ov = VIGIL__V1__OVERRIDE__INIT;
	ov.reason = VIGIL__V1__OVERRIDE_REASON__OVERRIDE_REASON_RISK_TO_LIFE;
	ov.justification = "threats reported by her sister";
	x.open.basis_case = VIGIL__V1__CASE_OPEN__BASIS_OVERRIDE;
	x.open.override = &ov;
	assert_int_equal(policy_check_times(r, NOW, skew, why, sizeof(why)), VG_OK);
}

static void test_tags(void **state)
{
	(void)state;
	struct rec x;
	assert_string_equal(policy_refused_tag(build(&x, CONTACT, "a")), "contact-refused");
	assert_string_equal(policy_refused_tag(build(&x, OPEN, "a")), "open-refused");
	assert_string_equal(policy_refused_tag(build(&x, CLOSE, "a")), "close-refused");
	assert_string_equal(policy_refused_tag(build(&x, ACK, "a")), "ack-refused");
	assert_string_equal(policy_query_tag(CASE_Q_STATUS, 1), "status-refused");
	assert_string_equal(policy_query_tag(CASE_Q_READERS, 0), "readers");
}

/* Every member has an encryption certificate whose hash is its id's
 * SHA-256 (a stand-in: the rule only compares hashes). */
static int enc_of(const void *ctx, const char *org, uint8_t out[SHA256_LEN])
{
	(void)ctx;
	if (role_of(NULL, org) == ROLE_NONE)
		return 0;
	EVP_Digest(org, strlen(org), out, NULL, EVP_sha256(), NULL);
	return 1;
}

static int has_reader(const struct seal_reader *r, size_t n, const char *org)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(r[i].org, org) == 0)
			return 1;
	return 0;
}

/* Grants and erase requests: the owner's, on any case state for an erase,
 * on an active case for a grant, to a party that reads no narrative yet;
 * a grant makes police readers of later sealed text and of the records. */
static void test_grant_and_erase(void **state)
{
	(void)state;
	const struct case_members m = { role_of, enc_of, NULL };
	struct case_state c;
	char why[256];
	Vigil__V1__Record r = VIGIL__V1__RECORD__INIT;
	uint8_t id[RECORD_ID_LEN] = { 1 };
	r.record_id.data = id;
	r.record_id.len = RECORD_ID_LEN;
	r.case_id = CASE;
	Vigil__V1__Grant g = VIGIL__V1__GRANT__INIT;
	r.body_case = VIGIL__V1__RECORD__BODY_GRANT;
	r.grant = &g;
	static const struct {
		enum fixture f;
		enum actor a;
		const char *to;
		int rc;
		const char *why;
	} grants[] = {
		{ ACTIVE, OWNER, "se-police-noa", VG_OK, NULL },
		{ ACTIVE, COORD_PARTY, "se-police-noa", VG_EPERM,
		  "only the case's owner (se-stockholm-coord) grants access to its narrative" },
		{ ACTIVE, RESPONSIBLE, "se-police-noa", VG_EPERM,
		  "only the case's owner (se-stockholm-coord) grants access to its narrative" },
		{ ACTIVE, OWNER, "se-police-west", VG_EBADREQ,
		  "se-police-west is not a party of case " CASE },
		{ ACTIVE, OWNER, "se-shelter-stockholm", VG_EBADREQ,
		  "se-shelter-stockholm reads the narrative of case " CASE " already" },
		{ ACTIVE, OWNER, "iom-ru-moscow", VG_EBADREQ,
		  "iom-ru-moscow reads the narrative of case " CASE " already" },
		{ CLOSED, OWNER, "se-police-noa", VG_EBADREQ,
		  "case " CASE " is closed; its owner reopens it with a case open" },
		{ ACTIVE, POLICE_OUT, "se-police-west", VG_ENOTFOUND, "case " CASE " not found" },
	};
	for (size_t i = 0; i < sizeof(grants) / sizeof(grants[0]); i++) {
		fixture(&c, grants[i].f);
		g.to = (char *)grants[i].to;
		why[0] = '\0';
		int rc = policy_record(&actors[grants[i].a], &c, &r, &m, why, sizeof(why));
		if (rc != grants[i].rc || (grants[i].why && strcmp(why, grants[i].why) != 0))
			fail_msg("grant %zu: %d \"%s\"", i, rc, why);
	}
	/* Before the grant police read neither; after it, both. */
	Vigil__V1__Record none = VIGIL__V1__RECORD__INIT;
	struct seal_reader rd[RECORD_PARTIES_MAX + 2];
	enum case_view view;
	fixture(&c, ACTIVE);
	size_t n = policy_seal_readers(&c, &none, "iom-ru-moscow", &m, rd);
	assert_int_equal(n, 4); /* owner, malmo coordinator, iom (responsible), shelter */
	assert_false(has_reader(rd, n, "se-police-noa"));
	assert_int_equal(policy_query(&actors[POLICE_PARTY], CASE, &c, CASE_Q_LOG, &view, why,
				      sizeof(why)),
			 VG_EPERM);
	g.to = "se-police-noa";
	assert_int_equal(casestate_apply(&c, &r, "se-stockholm-coord", &m, NULL, 1), VG_OK);
	n = policy_seal_readers(&c, &none, "iom-ru-moscow", &m, rd);
	assert_int_equal(n, 5);
	assert_true(has_reader(rd, n, "se-police-noa"));
	for (size_t i = 1; i < n; i++)
		assert_true(memcmp(rd[i - 1].enc_sha256, rd[i].enc_sha256, SHA256_LEN) < 0);
	assert_int_equal(policy_query(&actors[POLICE_PARTY], CASE, &c, CASE_Q_LOG, &view, why,
				      sizeof(why)),
			 VG_OK);

	/* Erase requests: the owner's only, closed cases too. */
	Vigil__V1__EraseRequest er = VIGIL__V1__ERASE_REQUEST__INIT;
	er.target_id.data = id;
	er.target_id.len = RECORD_ID_LEN;
	er.reason = VIGIL__V1__ERASE_REASON__ERASE_REASON_DATA_SUBJECT_REQUEST;
	er.reference = "REF-1";
	r.body_case = VIGIL__V1__RECORD__BODY_ERASE_REQUEST;
	r.erase_request = &er;
	fixture(&c, CLOSED);
	assert_int_equal(policy_record(&actors[OWNER], &c, &r, &m, why, sizeof(why)), VG_OK);
	assert_int_equal(policy_record(&actors[COORD_PARTY], &c, &r, &m, why, sizeof(why)),
			 VG_EPERM);
	assert_string_equal(why, "only the case's owner (se-stockholm-coord) erases its records");
	assert_string_equal(policy_refused_tag(&r), "erase-refused");
	/* Erasures are the relay's. */
	Vigil__V1__Erasure ea = VIGIL__V1__ERASURE__INIT;
	r.body_case = VIGIL__V1__RECORD__BODY_ERASURE;
	r.erasure = &ea;
	assert_int_equal(policy_record(&actors[OWNER], &c, &r, &m, why, sizeof(why)), VG_EPERM);
	assert_string_equal(why, "erasures are written by the relay only");
}

/* Re-sealing for a pending offer: the responsible organisation's only, for
 * that offer; and the organisation offered the case reads what is written
 * while the offer is pending, police too, and no longer once it ends. */
static void test_reseal(void **state)
{
	(void)state;
	struct case_state c;
	char why[256];
	ProtobufCBinaryData pending = { RECORD_ID_LEN, (uint8_t *)offer_id };
	ProtobufCBinaryData other = { RECORD_ID_LEN, (uint8_t *)other_id };
	ProtobufCBinaryData shorter = { 3, (uint8_t *)offer_id };
	static const struct {
		enum fixture f;
		enum actor a;
		int pending;
		int rc;
		const char *why;
	} reseals[] = {
		{ PENDING, RESPONSIBLE, 1, VG_OK, NULL },
		{ PENDING, RESPONSIBLE, 0, VG_EBADREQ,
		  "that offer is not pending (withdrawn, answered or unknown)" },
		{ PENDING, RESPONSIBLE, 2, VG_EBADREQ,
		  "that offer is not pending (withdrawn, answered or unknown)" },
		{ ACTIVE, RESPONSIBLE, 1, VG_EBADREQ,
		  "that offer is not pending (withdrawn, answered or unknown)" },
		{ PENDING, OWNER, 1, VG_EPERM,
		  "only the responsible organisation (iom-ru-moscow) re-seals for its handover "
		  "offer" },
		{ PENDING, OFFERED, 1, VG_ENOTFOUND, "case " CASE " not found" },
		{ PENDING, COORD_OUT, 1, VG_ENOTFOUND, "case " CASE " not found" },
		{ NONE, RESPONSIBLE, 1, VG_ENOTFOUND, "case " CASE " not found" },
	};
	for (size_t i = 0; i < sizeof(reseals) / sizeof(reseals[0]); i++) {
		fixture(&c, reseals[i].f);
		why[0] = '\0';
		const ProtobufCBinaryData *id = reseals[i].pending == 1 ? &pending
						: reseals[i].pending == 0 ? &other : &shorter;
		int rc = policy_reseal(&actors[reseals[i].a], CASE, reseals[i].f == NONE ? NULL : &c, id,
				       why, sizeof(why));
		if (rc != reseals[i].rc || (reseals[i].why && strcmp(why, reseals[i].why) != 0))
			fail_msg("reseal %zu: %d \"%s\"", i, rc, why);
	}
	const struct case_members m = { role_of, enc_of, NULL };
	Vigil__V1__Record none = VIGIL__V1__RECORD__INIT;
	struct seal_reader rd[RECORD_PARTIES_MAX + 2];
	fixture(&c, PENDING_POLICE);
	size_t n = policy_seal_readers(&c, &none, "iom-ru-moscow", &m, rd);
	assert_true(has_reader(rd, n, "se-police-west"));
	assert_false(has_reader(rd, n, "se-police-noa"));
	fixture(&c, ACTIVE);
	n = policy_seal_readers(&c, &none, "iom-ru-moscow", &m, rd);
	assert_false(has_reader(rd, n, "se-police-west"));
}

/* ---- corrections ------------------------------------------------------------------- */

/* What a Correction names, as the writer would find it. */
enum ttarget { T_CONTACT, T_RISK, T_OFFER, T_ANSWER, T_OPEN, T_ACK, T_CLOSE, T_ERASED, T_NONE,
	       T_OTHER_CASE, T_CORRECTED, T_WORN_OUT };
/* The corrected body it gives. */
enum tbody { B_SMS_SAFE, B_SAME, B_SAME_NOTE, B_LATE, B_SKEW, B_BACK, B_RISK_LOW, B_RISK_SAME };

#define TARGET_HEX "77777777777777777777777777777777"
#define RECEIVED (NOW - 3600 * 1000)    /* when the relay received the original */
#define SKEW (5 * 60 * 1000)

static uint8_t target_rid[RECORD_ID_LEN] = { 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77,
					     0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77 };

/* The original (or the correction in force) of each target. */
struct torig {
	Vigil__V1__Record r;
	Vigil__V1__ContactAttempt contact;
	Vigil__V1__RiskAssessment risk;
	Vigil__V1__RiskFactor factors[2];
	Vigil__V1__Correction k;
	Vigil__V1__HandoverOffer offer;
	Vigil__V1__HandoverAnswer answer;
	Vigil__V1__CaseOpen open;
	Vigil__V1__AlertAck ack;
	Vigil__V1__CaseClose close;
};

static void target_of(enum ttarget tt, struct torig *o, struct correction_target *t)
{
	memset(o, 0, sizeof(*o));
	memset(t, 0, sizeof(*t));
	vigil__v1__record__init(&o->r);
	vigil__v1__contact_attempt__init(&o->contact);
	vigil__v1__risk_assessment__init(&o->risk);
	o->contact.channel = VIGIL__V1__CHANNEL__CHANNEL_PHONE;
	o->contact.outcome = VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER;
	o->contact.attempted_at_ms = RECEIVED - 60000;
	o->risk.level = VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH;
	o->risk.phase = VIGIL__V1__ASSESSMENT_PHASE__ASSESSMENT_PHASE_ON_ARRIVAL;
	o->factors[0] = VIGIL__V1__RISK_FACTOR__RISK_FACTOR_WITNESS;
	o->factors[1] = VIGIL__V1__RISK_FACTOR__RISK_FACTOR_DEBT_BONDAGE;
	o->risk.factors = o->factors;
	o->risk.n_factors = 2;
	t->found = tt != T_NONE;
	snprintf(t->case_id, sizeof(t->case_id), "%s",
		 tt == T_OTHER_CASE ? "se-stockholm-coord/SE-2026-0001" : CASE);
	snprintf(t->author, sizeof(t->author), "iom-ru-moscow");
	t->received_ms = RECEIVED;
	t->in_force = &o->r;
	t->kind = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	o->r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	o->r.contact_attempt = &o->contact;
	switch (tt) {
	case T_RISK:
		snprintf(t->author, sizeof(t->author), "se-police-noa");
		t->kind = o->r.body_case = VIGIL__V1__RECORD__BODY_RISK_ASSESSMENT;
		o->r.risk_assessment = &o->risk;
		break;
	case T_OFFER:
		t->kind = o->r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_OFFER;
		o->r.handover_offer = &o->offer;
		break;
	case T_ANSWER:
		t->kind = o->r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER;
		o->r.handover_answer = &o->answer;
		break;
	case T_OPEN:
	case T_ACK:
	case T_CLOSE:
		snprintf(t->author, sizeof(t->author), "se-stockholm-coord");
		t->kind = o->r.body_case = tt == T_OPEN ? VIGIL__V1__RECORD__BODY_CASE_OPEN
				   : tt == T_ACK ? VIGIL__V1__RECORD__BODY_ALERT_ACK
						 : VIGIL__V1__RECORD__BODY_CASE_CLOSE;
		o->r.case_open = &o->open; /* (a union: only the kind is looked at) */
		break;
	case T_ERASED:
		t->erased = 1;
		t->kind = 0;
		t->in_force = NULL;
		break;
	case T_CORRECTED:
		/* In force: an earlier correction to sms, reached safe. */
		vigil__v1__correction__init(&o->k);
		o->contact.channel = VIGIL__V1__CHANNEL__CHANNEL_SMS;
		o->contact.outcome = VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE;
		o->k.body_case = VIGIL__V1__CORRECTION__BODY_CONTACT_ATTEMPT;
		o->k.contact_attempt = &o->contact;
		o->r.body_case = VIGIL__V1__RECORD__BODY_CORRECTION;
		o->r.correction = &o->k;
		t->corrections = 1;
		break;
	case T_WORN_OUT:
		t->corrections = POLICY_CORRECTIONS_MAX;
		break;
	default:
		break;
	}
}

struct tcorr {
	Vigil__V1__Record r;
	Vigil__V1__Correction k;
	Vigil__V1__ContactAttempt contact;
	Vigil__V1__RiskAssessment risk;
	Vigil__V1__RiskFactor factors[2];
	Vigil__V1__SealedText note;
};

static Vigil__V1__Record *correction_of(struct tcorr *x, enum tbody b, const char *author)
{
	memset(x, 0, sizeof(*x));
	vigil__v1__record__init(&x->r);
	vigil__v1__correction__init(&x->k);
	vigil__v1__contact_attempt__init(&x->contact);
	vigil__v1__risk_assessment__init(&x->risk);
	vigil__v1__sealed_text__init(&x->note);
	x->r.record_id.data = rid;
	x->r.record_id.len = RECORD_ID_LEN;
	x->r.case_id = CASE;
	x->r.author = (char *)author;
	x->r.client_time_ms = NOW;
	x->r.body_case = VIGIL__V1__RECORD__BODY_CORRECTION;
	x->r.correction = &x->k;
	x->k.target_id.data = target_rid;
	x->k.target_id.len = RECORD_ID_LEN;
	x->k.reason = VIGIL__V1__CORRECTION_REASON__CORRECTION_REASON_DATA_ENTRY_ERROR;
	x->contact.channel = VIGIL__V1__CHANNEL__CHANNEL_PHONE;
	x->contact.outcome = VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER;
	x->contact.attempted_at_ms = RECEIVED - 60000;
	x->k.body_case = VIGIL__V1__CORRECTION__BODY_CONTACT_ATTEMPT;
	x->k.contact_attempt = &x->contact;
	switch (b) {
	case B_SMS_SAFE:
		x->contact.channel = VIGIL__V1__CHANNEL__CHANNEL_SMS;
		x->contact.outcome = VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE;
		break;
	case B_SAME_NOTE:
		x->contact.sealed_note = &x->note;
		break;
	case B_LATE:
		x->contact.attempted_at_ms = RECEIVED + SKEW + 1;
		break;
	case B_SKEW:
		x->contact.attempted_at_ms = RECEIVED + SKEW;
		break;
	case B_RISK_LOW:
	case B_RISK_SAME:
		x->risk.level = b == B_RISK_LOW ? VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW
						: VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH;
		x->risk.phase = VIGIL__V1__ASSESSMENT_PHASE__ASSESSMENT_PHASE_ON_ARRIVAL;
		/* The same factors in another order are the same assessment. */
		x->factors[0] = VIGIL__V1__RISK_FACTOR__RISK_FACTOR_DEBT_BONDAGE;
		x->factors[1] = VIGIL__V1__RISK_FACTOR__RISK_FACTOR_WITNESS;
		x->risk.factors = x->factors;
		x->risk.n_factors = 2;
		x->k.body_case = VIGIL__V1__CORRECTION__BODY_RISK_ASSESSMENT;
		x->k.risk_assessment = &x->risk;
		break;
	default: /* B_SAME, B_BACK: what the original says */
		break;
	}
	return &x->r;
}

struct crow {
	enum actor a;
	enum ttarget t;
	enum tbody b;
	int status;
	const char *why;
};

#define NEVER(kind) "record " TARGET_HEX " is " kind ", which is never corrected; only contact " \
		    "attempts and risk assessments are"

static const struct crow crows[] = {
	/* The author's organisation corrects its contact attempt. */
	{ RESPONSIBLE, T_CONTACT, B_SMS_SAFE, OK },
	{ OWNER, T_CONTACT, B_SMS_SAFE, PERM,
	  "only the organisation that wrote record " TARGET_HEX " (iom-ru-moscow) corrects it" },
	{ COORD_PARTY, T_CONTACT, B_SMS_SAFE, PERM,
	  "only the organisation that wrote record " TARGET_HEX " (iom-ru-moscow) corrects it" },
	{ SHELTER_PARTY, T_CONTACT, B_SMS_SAFE, PERM,
	  "only the organisation that wrote record " TARGET_HEX " (iom-ru-moscow) corrects it" },
	/* Only records of this case. */
	{ RESPONSIBLE, T_NONE, B_SMS_SAFE, VG_ENOTFOUND,
	  "record " TARGET_HEX " is no entry of case " CASE },
	{ RESPONSIBLE, T_OTHER_CASE, B_SMS_SAFE, VG_ENOTFOUND,
	  "record " TARGET_HEX " is no entry of case " CASE },
	{ RESPONSIBLE, T_ERASED, B_SMS_SAFE, BAD,
	  "record " TARGET_HEX " is erased; an erased record is corrected no more" },
	/* Records that decide who is responsible, who reads and what the
	 * watchdog does are never rewritten. */
	{ RESPONSIBLE, T_OFFER, B_SMS_SAFE, BAD, NEVER("a handover offer") },
	{ RESPONSIBLE, T_ANSWER, B_SMS_SAFE, BAD, NEVER("a handover answer") },
	{ OWNER, T_OPEN, B_SMS_SAFE, BAD, NEVER("a case open") },
	{ OWNER, T_ACK, B_SMS_SAFE, BAD, NEVER("an alert acknowledgement") },
	{ OWNER, T_CLOSE, B_SMS_SAFE, BAD, NEVER("a case close") },
	/* ... and a non-author learns whose it is before what it is. */
	{ RESPONSIBLE, T_OPEN, B_SMS_SAFE, PERM,
	  "only the organisation that wrote record " TARGET_HEX " (se-stockholm-coord) corrects it" },
	/* A body of the original's kind. */
	{ RESPONSIBLE, T_CONTACT, B_RISK_LOW, BAD,
	  "record " TARGET_HEX " is a contact attempt; its correction gives a contact attempt" },
	{ POLICE_PARTY, T_RISK, B_SMS_SAFE, BAD,
	  "record " TARGET_HEX " is a risk assessment; its correction gives a risk assessment" },
	{ POLICE_PARTY, T_RISK, B_RISK_LOW, OK },
	{ RESPONSIBLE, T_RISK, B_RISK_LOW, PERM,
	  "only the organisation that wrote record " TARGET_HEX " (se-police-noa) corrects it" },
	/* The time rule of a new record, against the original's receipt. */
	{ RESPONSIBLE, T_CONTACT, B_SKEW, OK },
	{ RESPONSIBLE, T_CONTACT, B_LATE, BAD,
	  "attempted_at_ms 2026-11-18T10:11:40.001Z is later than the relay's receive time of "
	  "record " TARGET_HEX ", 2026-11-18T10:06:40.000Z, plus max_clock_skew (300 s)" },
	/* A correction must change something: a coded field, or the note. */
	{ RESPONSIBLE, T_CONTACT, B_SAME, BAD,
	  "the correction changes nothing: it gives the body in force for record " TARGET_HEX },
	{ RESPONSIBLE, T_CONTACT, B_SAME_NOTE, OK },
	{ POLICE_PARTY, T_RISK, B_RISK_SAME, BAD,
	  "the correction changes nothing: it gives the body in force for record " TARGET_HEX },
	/* Against the body in force: an earlier correction's. */
	{ RESPONSIBLE, T_CORRECTED, B_SMS_SAFE, BAD,
	  "the correction changes nothing: it gives the body in force for record " TARGET_HEX },
	{ RESPONSIBLE, T_CORRECTED, B_BACK, OK },
	{ RESPONSIBLE, T_WORN_OUT, B_SMS_SAFE, BAD,
	  "record " TARGET_HEX " has been corrected 64 times; it is corrected no more" },
};

static void test_correction_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(crows) / sizeof(crows[0]); i++) {
		const struct crow *w = &crows[i];
		struct case_state c;
		fixture(&c, ACTIVE);
		struct torig o;
		struct correction_target t;
		target_of(w->t, &o, &t);
		struct tcorr x;
		const struct policy_actor *a = &actors[w->a];
		Vigil__V1__Record *r = correction_of(&x, w->b, a->org);
		char why[256] = "";
		/* The case's rules first, then the correction's. */
		int rc = policy_record(a, &c, r, &members, why, sizeof(why));
		if (rc == VG_OK)
			rc = policy_correction(a, &c, r, &t, SKEW, why, sizeof(why));
		if (rc != w->status || (w->why && strcmp(why, w->why) != 0))
			fail_msg("correction row %zu (%s): status %d \"%s\", expected %d \"%s\"", i,
				 a->org, rc, why, w->status, w->why ? w->why : "");
	}
}

/* The case's rules come first: a party only, an active case only; a minor's
 * corrected level stays high; the corrected time is a client time like any
 * other. */
static void test_correction_case_rules(void **state)
{
	(void)state;
	struct case_state c;
	struct torig o;
	struct correction_target t;
	struct tcorr x;
	char why[256];
	fixture(&c, ACTIVE);
	Vigil__V1__Record *r = correction_of(&x, B_SMS_SAFE, "se-gothenburg-coord");
	assert_int_equal(policy_record(&actors[COORD_OUT], &c, r, &members, why, sizeof(why)),
			 VG_ENOTFOUND);
	assert_string_equal(why, NF);
	assert_true(policy_hidden(&actors[COORD_OUT], &c));
	assert_string_equal(policy_refused_tag(r), "correct-refused");
	fixture(&c, CLOSED);
	r = correction_of(&x, B_SMS_SAFE, "se-stockholm-coord");
	assert_int_equal(policy_record(&actors[OWNER], &c, r, &members, why, sizeof(why)),
			 VG_EBADREQ);
	assert_string_equal(why, CLOSED_MSG);

	fixture(&c, ACTIVE);
	c.minor = 1;
	target_of(T_RISK, &o, &t);
	r = correction_of(&x, B_RISK_LOW, "se-police-noa");
	assert_int_equal(policy_correction(&actors[POLICE_PARTY], &c, r, &t, SKEW, why, sizeof(why)),
			 VG_EBADREQ);
	assert_string_equal(why, "a minor's risk level is never below high");
	x.risk.level = VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH;
	x.risk.immediate_danger = 1;
	assert_int_equal(policy_correction(&actors[POLICE_PARTY], &c, r, &t, SKEW, why, sizeof(why)),
			 VG_OK);

	r = correction_of(&x, B_SMS_SAFE, "iom-ru-moscow");
	x.contact.attempted_at_ms = NOW + 3600 * 1000;
	assert_int_equal(policy_check_times(r, NOW, SKEW, why, sizeof(why)), VG_EBADREQ);
	assert_string_equal(why, "attempted_at_ms 2026-11-18T12:06:40.000Z is later than the "
				 "relay's time 2026-11-18T11:06:40.000Z plus max_clock_skew (300 s)");
	x.contact.attempted_at_ms = NOW;
	assert_int_equal(policy_check_times(r, NOW, SKEW, why, sizeof(why)), VG_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_table), cmocka_unit_test(test_minor_stays_high),
		cmocka_unit_test(test_hidden),	     cmocka_unit_test(test_query_table),
		cmocka_unit_test(test_times),	     cmocka_unit_test(test_tags),
		cmocka_unit_test(test_grant_and_erase), cmocka_unit_test(test_reseal),
		cmocka_unit_test(test_correction_table), cmocka_unit_test(test_correction_case_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
