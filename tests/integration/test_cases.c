/*
 * Cases, black-box: every action as every role, as party and as non-party,
 * with the exact outcome; the handover state machine through every legal
 * and illegal transition; the police view of a case field by field; reads
 * recorded and listed; nothing stored on a refusal.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "casekit.h"
#include "harness.h"
#include "proto/merkle.h"
#include "proto/note.h"
#include "proto/record.h"
#include "proto/status.h"

#include <openssl/pem.h>

static struct trelay R;

enum actor { COORD, POLICE, IOM, SHELTER, OTHER_IOM, OTHER_COORD, N_ACTORS };

static const char *const cert_of[N_ACTORS] = {
	[COORD] = "se-stockholm-coord", [POLICE] = "se-police-noa", [IOM] = "iom-ru-moscow",
	[SHELTER] = "se-shelter-1", [OTHER_IOM] = "other-iom", [OTHER_COORD] = "other-coord",
};

static struct tclient C[N_ACTORS];

static long long entries(void)
{
	return db_int(&R, "SELECT count(*) FROM entries");
}

/* The number of audit rows of a case, and its latest one. */
static long long reads_of(const char *case_id)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM case_reads WHERE case_id = '%s'", case_id);
	return db_int(&R, sql);
}

static void last_read(const char *case_id, char *org, size_t org_len, char *what,
		      size_t what_len)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT org FROM case_reads WHERE case_id = '%s' ORDER BY id "
		 "DESC LIMIT 1", case_id);
	if (db_text(&R, sql, org, org_len) != 0)
		fail_msg("no read of %s", case_id);
	snprintf(sql, sizeof(sql), "SELECT what FROM case_reads WHERE case_id = '%s' ORDER BY id "
		 "DESC LIMIT 1", case_id);
	if (db_text(&R, sql, what, what_len) != 0)
		fail_msg("no read of %s", case_id);
}

/* The latest audit row of the case is (org, what). */
static void expect_last_read(const char *case_id, const char *org, const char *what)
{
	char o[80], w[40];
	last_read(case_id, o, sizeof(o), w, sizeof(w));
	if (strcmp(o, org) != 0 || strcmp(w, what) != 0)
		fail_msg("latest read of %s: %s %s, expected %s %s", case_id, o, w, org, what);
}

static long long count_where(const char *table, const char *case_id)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE case_id = '%s'", table, case_id);
	return db_int(&R, sql);
}

/* A readers listing of n reads: those recorded before it (the listing
 * itself shows up the next time, client/README.md). */
static void expect_n_reads(Vigil__V1__Frame *a, long long n)
{
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CASE_READERS);
	long long got = (long long)a->case_readers->n_reads;
	if (got != n) {
		char last[200];
		snprintf(last, sizeof(last), "%s %s",
			 got ? a->case_readers->reads[got - 1]->organisation : "-",
			 got ? a->case_readers->reads[got - 1]->what : "-");
		frame_free(a); /* the test ends here */
		fail_msg("the listing has %lld reads, expected %lld (the last: %s)", got, n, last);
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A phone contact attempt by who, made ahead_ms after the record's client
 * time (0: at it), a few milliseconds after whatever came before. */
static Vigil__V1__Frame *contact_after(enum actor who, const char *case_id, int outcome,
				       int64_t ahead_ms)
{
	struct timespec pause = { 0, 3000000 };
	nanosleep(&pause, NULL);
	uint8_t rid[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, rid, case_id, C[who].org);
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	ca.channel = VIGIL__V1__CHANNEL__CHANNEL_PHONE;
	ca.outcome = (Vigil__V1__Outcome)outcome;
	ca.attempted_at_ms = r.client_time_ms + ahead_ms;
	ca.note = "";
	r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	r.contact_attempt = &ca;
	return casekit_submit(&C[who], &r);
}

static int setup(void **state)
{
	(void)state;
	trelay_setup(&R, NULL, NULL);
	if (trelay_start(&R) != 0)
		return -1;
	for (int a = 0; a < N_ACTORS; a++)
		if (tclient_open(&C[a], R.port, cert_of[a]) != 0) {
			fprintf(stderr, "%s: %s\n", cert_of[a], C[a].err);
			return -1;
		}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int a = 0; a < N_ACTORS; a++)
		tclient_close(&C[a]);
	int rc = trelay_stop(&R);
	trelay_cleanup(&R);
	return rc == 0 ? 0 : -1;
}

/* Opens a fresh case as the coordinator, with police, iom and shelter. */
static void fresh_case(char *id, size_t len, const char *tag)
{
	static int n;
	snprintf(id, len, "se-stockholm-coord/T-%s-%d", tag, ++n);
	static const char *const parties[] = { "se-police-noa", "iom-ru-moscow", "se-shelter-1" };
	Vigil__V1__Frame *a = casekit_open(&C[COORD], id, parties, 3,
					   VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM, 0);
	assert_string_equal(casekit_outcome(a), "RECEIPT");
	frame_free(a);
}

static void expect(Vigil__V1__Frame *a, const char *outcome, const char *message)
{
	if (!a)
		fail_msg("no answer");
	if (strcmp(casekit_outcome(a), outcome) != 0) {
		char got[400];
		snprintf(got, sizeof(got), "%s (%s)", casekit_outcome(a),
			 a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? a->error->message : "");
		frame_free(a); /* the test ends here */
		fail_msg("expected %s, got %s", outcome, got);
	}
	if (message) {
		assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_ERROR);
		assert_string_equal(a->error->message, message);
	}
	frame_free(a);
}

struct row {
	const char *action;
	const char *outcome[N_ACTORS];
	const char *message[N_ACTORS];   /* NULL: not checked (receipts) */
};

#define NF "case %s not found"
#define CLOSE_DENIED "only the owner (se-stockholm-coord) or the responsible coordinator closes the case"
#define READERS_DENIED                                                                   \
	"only the owner (se-stockholm-coord) or the responsible coordinator lists who read the " \
	"case"
#define GOTEBORG_ID "a new case's id begins with your organisation id: se-goteborg-coord/..."
#define CLOSED_MSG "case %s is closed; its owner reopens it with a case open"
#define UNKNOWN_ORG "unknown organisation iom-ru-moskow"

static const struct row rows[] = {
	{ "contact",
	  { "RECEIPT", "RECEIPT", "RECEIPT", "RECEIPT", "NOT_FOUND", "NOT_FOUND" },
	  { NULL, NULL, NULL, NULL, NF, NF } },
	{ "risk",
	  { "RECEIPT", "RECEIPT", "RECEIPT", "PERMISSION_DENIED", "NOT_FOUND", "NOT_FOUND" },
	  { NULL, NULL, NULL, "only coordinator, police and iom parties assess risk", NF, NF } },
	{ "offer",
	  { "RECEIPT", "PERMISSION_DENIED", "PERMISSION_DENIED", "PERMISSION_DENIED", "NOT_FOUND",
	    "NOT_FOUND" },
	  { NULL, "only the responsible organisation (se-stockholm-coord) offers a handover",
	    "only the responsible organisation (se-stockholm-coord) offers a handover",
	    "only the responsible organisation (se-stockholm-coord) offers a handover", NF, NF } },
	{ "close",
	  { "RECEIPT", "PERMISSION_DENIED", "PERMISSION_DENIED", "PERMISSION_DENIED", "NOT_FOUND",
	    "NOT_FOUND" },
	  { NULL, CLOSE_DENIED, CLOSE_DENIED, CLOSE_DENIED, NF, NF } },
	{ "open",
	  { "CONFLICT", "PERMISSION_DENIED", "PERMISSION_DENIED", "PERMISSION_DENIED",
	    "PERMISSION_DENIED", "PERMISSION_DENIED" },
	  { "case %s is already open", "only a coordinator opens a case",
	    "only a coordinator opens a case", "only a coordinator opens a case",
	    "only a coordinator opens a case", GOTEBORG_ID } },
	{ "status",
	  { "CASE_STATUS", "CASE_STATUS", "CASE_STATUS", "CASE_STATUS", "NOT_FOUND", "NOT_FOUND" },
	  { NULL, NULL, NULL, NULL, NF, NF } },
	{ "log",
	  { "CASE_LOG", "PERMISSION_DENIED", "CASE_LOG", "CASE_LOG", "NOT_FOUND", "NOT_FOUND" },
	  { NULL, "the case's records are for coordinator, iom, shelter and responsible parties",
	    NULL, NULL, NF, NF } },
	{ "readers",
	  { "CASE_READERS", "PERMISSION_DENIED", "PERMISSION_DENIED", "PERMISSION_DENIED",
	    "NOT_FOUND", "NOT_FOUND" },
	  { NULL, READERS_DENIED, READERS_DENIED, READERS_DENIED, NF, NF } },
};

static const char *answer_name(const Vigil__V1__Frame *a)
{
	switch (a ? a->msg_case : 0) {
	case VIGIL__V1__FRAME__MSG_CASE_STATUS: return "CASE_STATUS";
	case VIGIL__V1__FRAME__MSG_CASE_LOG: return "CASE_LOG";
	case VIGIL__V1__FRAME__MSG_CASE_READERS: return "CASE_READERS";
	default: return casekit_outcome(a);
	}
}

static Vigil__V1__Frame *act(const char *action, enum actor who, const char *id)
{
	struct tclient *c = &C[who];
	uint8_t offer[RECORD_ID_LEN];
	static const char *const none[1] = { NULL };
	if (!strcmp(action, "contact"))
		return casekit_contact(c, id, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER);
	if (!strcmp(action, "risk"))
		return casekit_risk(c, id, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0);
	if (!strcmp(action, "offer"))
		return casekit_offer(c, id, "se-goteborg-coord", offer, 1);
	if (!strcmp(action, "close"))
		return casekit_close(c, id);
	if (!strcmp(action, "open"))
		return casekit_open(c, id, none, 0, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW, 0);
	if (!strcmp(action, "status"))
		return casekit_status(c, id);
	if (!strcmp(action, "log"))
		return casekit_log(c, id);
	return casekit_readers(c, id);
}

/* Every action as every role, party and non-party, on a fresh case each
 * time; a refusal stores nothing and changes no state. */
static void test_every_action_every_role(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		for (int who = 0; who < N_ACTORS; who++) {
			char id[64];
			fresh_case(id, sizeof(id), rows[r].action);
			long long before = entries(), reads = reads_of(id);
			Vigil__V1__Frame *a = act(rows[r].action, (enum actor)who, id);
			const char *got = answer_name(a);
			if (strcmp(got, rows[r].outcome[who]) != 0)
				fail_msg("%s as %s: expected %s, got %s (%s)", rows[r].action,
					 cert_of[who], rows[r].outcome[who], got,
					 a && a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ?
					 a->error->message : "");
			int stored = strcmp(got, "RECEIPT") == 0;
			if (rows[r].message[who]) {
				/* The table's messages name the case with "%s". */
				char want[256];
				const char *m = rows[r].message[who], *at = strstr(m, "%s");
				if (at)
					snprintf(want, sizeof(want), "%.*s%s%s", (int)(at - m), m, id,
						 at + 2);
				else
					snprintf(want, sizeof(want), "%s", m);
				assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_ERROR);
				if (strcmp(a->error->message, want) != 0)
					fail_msg("%s as %s: \"%s\", expected \"%s\"", rows[r].action,
						 cert_of[who], a->error->message, want);
			}
			frame_free(a);
			assert_int_equal(entries(), before + stored);
			/* The audit: every query, and every record an organisation
			 * that may not see the case tried; a party's refused record
			 * is no probe and is not listed. */
			const char *act_name = rows[r].action;
			int query = !strcmp(act_name, "status") || !strcmp(act_name, "log") ||
				    !strcmp(act_name, "readers");
			int party = who != OTHER_IOM && who != OTHER_COORD;
			if (query || !party) {
				char what[40];
				int refused = strcmp(got, "CASE_STATUS") != 0 &&
					      strcmp(got, "CASE_LOG") != 0 &&
					      strcmp(got, "CASE_READERS") != 0 &&
					      strcmp(got, "RECEIPT") != 0;
				snprintf(what, sizeof(what), "%s%s", act_name,
					 refused ? "-refused" : "");
				assert_int_equal(reads_of(id), reads + 1);
				expect_last_read(id, C[who].org, what);
			} else {
				assert_int_equal(reads_of(id), reads);
			}
		}
	}
}

static void open_case_with(enum actor who, const char *id, const char *const *parties,
			   size_t n, int risk, int minor, const char *outcome, const char *msg)
{
	expect(casekit_open(&C[who], id, parties, n, risk, minor), outcome, msg);
}

static Vigil__V1__CaseStatus *status_of(enum actor who, const char *id, Vigil__V1__Frame **keep)
{
	Vigil__V1__Frame *a = casekit_status(&C[who], id);
	if (!a || a->msg_case != VIGIL__V1__FRAME__MSG_CASE_STATUS)
		fail_msg("status of %s as %s: %s", id, cert_of[who], answer_name(a));
	*keep = a;
	return a->case_status;
}

/* Offered, accepted, declined, withdrawn, double-answered, answered by the
 * wrong organisation, offered twice, offered without consent. */
static void test_handover_state_machine(void **state)
{
	(void)state;
	char id[64];
	fresh_case(id, sizeof(id), "handover");
	uint8_t o1[RECORD_ID_LEN], o2[RECORD_ID_LEN], o3[RECORD_ID_LEN], bogus[RECORD_ID_LEN];
	memset(bogus, 0x42, sizeof(bogus));
	Vigil__V1__Frame *keep;
	Vigil__V1__CaseStatus *st;

	/* Offer without consent or override: refused before any state. */
	{
		uint8_t rid[RECORD_ID_LEN];
		Vigil__V1__Record r;
		casekit_record(&r, rid, id, "se-stockholm-coord");
		Vigil__V1__HandoverOffer o = VIGIL__V1__HANDOVER_OFFER__INIT;
		o.to = "iom-ru-moscow";
		o.reason = VIGIL__V1__HANDOVER_REASON__HANDOVER_REASON_RETURN;
		r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_OFFER;
		r.handover_offer = &o;
		expect(casekit_submit(&C[COORD], &r), "BAD_REQUEST",
		       "a handover needs consent or an override with reason risk_to_life");
	}
	/* An answer with no offer pending. */
	expect(casekit_answer(&C[IOM], id, bogus, 1), "BAD_REQUEST",
	       "that offer is not pending (withdrawn, answered or unknown)");

	expect(casekit_offer(&C[COORD], id, "iom-ru-moscow", o1, 1), "RECEIPT", NULL);
	st = status_of(COORD, id, &keep);
	assert_int_equal(st->view, VIGIL__V1__CASE_VIEW__CASE_VIEW_FULL);
	assert_string_equal(st->owner, "se-stockholm-coord");
	assert_string_equal(st->responsible, "se-stockholm-coord");
	assert_string_equal(st->pending_offer_to, "iom-ru-moscow");
	assert_memory_equal(st->pending_offer_id.data, o1, RECORD_ID_LEN);
	frame_free(keep);

	expect(casekit_offer(&C[COORD], id, "se-police-noa", o2, 1), "CONFLICT",
	       "an offer to iom-ru-moscow is already pending; it must be answered or withdrawn first");
	expect(casekit_offer(&C[COORD], id, "se-stockholm-coord", o2, 1), "CONFLICT",
	       "an offer to iom-ru-moscow is already pending; it must be answered or withdrawn first");
	expect(casekit_answer(&C[POLICE], id, o1, 1), "PERMISSION_DENIED",
	       "only the offered organisation (iom-ru-moscow) answers this offer");
	expect(casekit_answer(&C[IOM], id, bogus, 1), "BAD_REQUEST",
	       "that offer is not pending (withdrawn, answered or unknown)");
	expect(casekit_answer(&C[IOM], id, o1, 1), "RECEIPT", NULL);
	st = status_of(IOM, id, &keep);
	assert_string_equal(st->responsible, "iom-ru-moscow");
	assert_string_equal(st->owner, "se-stockholm-coord"); /* the owner stays */
	assert_string_equal(st->pending_offer_to, "");
	frame_free(keep);
	/* Double accept. */
	expect(casekit_answer(&C[IOM], id, o1, 1), "BAD_REQUEST",
	       "that offer is not pending (withdrawn, answered or unknown)");
	/* The former responsible organisation may no longer offer. */
	expect(casekit_offer(&C[COORD], id, "se-police-noa", o2, 1), "PERMISSION_DENIED",
	       "only the responsible organisation (iom-ru-moscow) offers a handover");

	/* Offer to a party, withdrawn, then answered. */
	expect(casekit_offer(&C[IOM], id, "se-police-noa", o2, 0), "RECEIPT", NULL);
	expect(casekit_withdraw(&C[POLICE], id, o2), "PERMISSION_DENIED",
	       "only the responsible organisation (iom-ru-moscow) withdraws its offer");
	expect(casekit_withdraw(&C[IOM], id, o2), "RECEIPT", NULL);
	expect(casekit_withdraw(&C[IOM], id, o2), "BAD_REQUEST",
	       "that offer is not pending (withdrawn, answered or unknown)");
	expect(casekit_answer(&C[POLICE], id, o2, 1), "BAD_REQUEST",
	       "that offer is not pending (withdrawn, answered or unknown)");

	/* Declined: the offering organisation stays responsible. */
	expect(casekit_offer(&C[IOM], id, "se-police-noa", o3, 1), "RECEIPT", NULL);
	expect(casekit_answer(&C[POLICE], id, o3, 0), "RECEIPT", NULL);
	st = status_of(IOM, id, &keep);
	assert_string_equal(st->responsible, "iom-ru-moscow");
	assert_string_equal(st->pending_offer_to, "");
	frame_free(keep);

	/* An organisation outside the case can answer an offer made to it,
	 * and becomes a party and responsible by accepting. */
	expect(casekit_status(&C[OTHER_COORD], id), "NOT_FOUND", NULL);
	uint8_t o4[RECORD_ID_LEN], o5[RECORD_ID_LEN];
	expect(casekit_offer(&C[IOM], id, "se-goteborg-coord", o4, 1), "RECEIPT", NULL);
	/* The offered outsider learns the offer and what it would take on,
	 * nothing of her history. */
	st = status_of(OTHER_COORD, id, &keep);
	assert_int_equal(st->view, VIGIL__V1__CASE_VIEW__CASE_VIEW_OFFERED);
	assert_string_equal(st->owner, "se-stockholm-coord");
	assert_string_equal(st->responsible, "iom-ru-moscow");
	assert_string_equal(st->pending_offer_to, "se-goteborg-coord");
	assert_memory_equal(st->pending_offer_id.data, o4, RECORD_ID_LEN);
	assert_int_equal(st->risk, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM);
	assert_int_equal(st->last_attempt_ms, 0);
	assert_int_equal(st->n_parties, 0);
	assert_int_equal(st->attempts, 0);
	assert_string_equal(st->return_country, "");
	assert_int_equal(st->base.n_unknown_fields, 0);
	frame_free(keep);
	/* ... but not its records. */
	expect(casekit_log(&C[OTHER_COORD], id), "NOT_FOUND", NULL);
	expect_last_read(id, "se-goteborg-coord", "log-refused");
	/* It cannot open the case's earlier sealed texts (o2's justification,
	 * o3's decline reason) until iom re-seals them for it. */
	expect(casekit_answer(&C[OTHER_COORD], id, o4, 1), "CONFLICT",
	       "2 earlier sealed texts of the case are not re-sealed for se-goteborg-coord yet; "
	       "the offering organisation re-seals them first (vigil handover reseal)");
	expect(tclient_reseal(&C[IOM], &R, "iom-ru-moscow", id, o4, "se-goteborg-coord"),
	       "RESEALED", NULL);
	expect(casekit_answer(&C[OTHER_COORD], id, o4, 1), "RECEIPT", NULL);
	st = status_of(OTHER_COORD, id, &keep);
	assert_int_equal(st->view, VIGIL__V1__CASE_VIEW__CASE_VIEW_FULL);
	assert_string_equal(st->responsible, "se-goteborg-coord");
	int listed = 0;
	for (size_t i = 0; i < st->n_parties; i++)
		listed |= !strcmp(st->parties[i], "se-goteborg-coord");
	assert_true(listed);
	frame_free(keep);
	/* A withdrawn offer to an outsider leaves it outside. */
	expect(casekit_offer(&C[OTHER_COORD], id, "iom-md-chisinau", o5, 1), "RECEIPT", NULL);
	expect(casekit_withdraw(&C[OTHER_COORD], id, o5), "RECEIPT", NULL);
	long long before = entries();
	char nf[160];
	snprintf(nf, sizeof(nf), "case %s not found", id);
	expect(casekit_answer(&C[OTHER_IOM], id, o5, 1), "NOT_FOUND", nf);
	expect_last_read(id, "iom-md-chisinau", "answer-refused");
	assert_int_equal(entries(), before);
}

/* Closing, refusing records on a closed case, reopening. */
static void test_close_and_reopen(void **state)
{
	(void)state;
	char id[64], msg[160];
	fresh_case(id, sizeof(id), "close");
	expect(casekit_close(&C[COORD], id), "RECEIPT", NULL);
	snprintf(msg, sizeof(msg), CLOSED_MSG, id);
	expect(casekit_contact(&C[IOM], id, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER), "BAD_REQUEST", msg);
	expect(casekit_close(&C[COORD], id), "BAD_REQUEST", msg);
	uint8_t o[RECORD_ID_LEN];
	expect(casekit_offer(&C[COORD], id, "iom-ru-moscow", o, 1), "BAD_REQUEST", msg);
	Vigil__V1__Frame *keep;
	Vigil__V1__CaseStatus *st = status_of(POLICE, id, &keep);
	assert_int_equal(st->state, VIGIL__V1__CASE_STATE__CASE_STATE_CLOSED);
	frame_free(keep);
	/* A coordinator that is no party cannot take the pseudonym over: the
	 * id is the owner's. */
	static const char *const none[1] = { NULL };
	long long before = entries();
	open_case_with(OTHER_COORD, id, none, 0, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW, 0,
		       "PERMISSION_DENIED", GOTEBORG_ID);
	expect_last_read(id, "se-goteborg-coord", "open-refused");
	assert_int_equal(entries(), before);
	/* Neither may a party that is not the owner reopen it. */
	open_case_with(IOM, id, none, 0, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW, 0,
		       "PERMISSION_DENIED", "only a coordinator opens a case");
	assert_int_equal(entries(), before);
	open_case_with(COORD, id, none, 0, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0, "RECEIPT", NULL);
	st = status_of(COORD, id, &keep);
	assert_int_equal(st->state, VIGIL__V1__CASE_STATE__CASE_STATE_ACTIVE);
	assert_int_equal(st->risk, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH);
	assert_int_equal(st->n_parties, 4); /* the parties stay */
	frame_free(keep);
	expect(casekit_contact(&C[IOM], id, VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE), "RECEIPT", NULL);
}

/* A minor's risk level is never below high. */
static void test_minor_is_high(void **state)
{
	(void)state;
	static const char *const parties[] = { "iom-ru-moscow" };
	const char *id = "se-stockholm-coord/T-minor-1";
	open_case_with(COORD, id, parties, 1, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM, 1,
		       "BAD_REQUEST", "a minor's risk level is never below high");
	assert_int_equal(count_where("cases", id), 0);
	open_case_with(COORD, id, parties, 1, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 1,
		       "RECEIPT", NULL);
	expect(casekit_risk(&C[IOM], id, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW, 0),
	       "BAD_REQUEST", "a minor's risk level is never below high");
	expect(casekit_risk(&C[IOM], id, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 1),
	       "RECEIPT", NULL);
}

/* Police receive the status codes, nothing more; the coordinator sees the
 * whole state, kept current by the records as they arrive. */
static void test_police_status_is_minimal(void **state)
{
	(void)state;
	char id[64];
	fresh_case(id, sizeof(id), "police");
	expect(casekit_risk(&C[IOM], id, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 1), "RECEIPT", NULL);
	/* Attempts made after the opening (one made before it is history to
	 * the watchdog and counts towards no failure). */
	expect(contact_after(IOM, id, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER, 0), "RECEIPT", NULL);
	expect(contact_after(SHELTER, id, VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE, 0), "RECEIPT",
	       NULL);
	expect(contact_after(IOM, id, VIGIL__V1__OUTCOME__OUTCOME_UNREACHABLE, 0), "RECEIPT", NULL);
	uint8_t o[RECORD_ID_LEN];
	expect(casekit_offer(&C[COORD], id, "iom-ru-moscow", o, 1), "RECEIPT", NULL);

	Vigil__V1__Frame *keep;
	Vigil__V1__CaseStatus *p = status_of(POLICE, id, &keep);
	assert_string_equal(p->case_id, id);
	assert_int_equal(p->view, VIGIL__V1__CASE_VIEW__CASE_VIEW_POLICE);
	assert_string_equal(p->owner, "se-stockholm-coord");
	assert_int_equal(p->state, VIGIL__V1__CASE_STATE__CASE_STATE_ACTIVE);
	assert_string_equal(p->responsible, "se-stockholm-coord");
	assert_int_equal(p->risk, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH);
	assert_false(p->minor);
	assert_true(p->last_attempt_ms > 0);
	assert_int_equal(p->last_attempt_channel, VIGIL__V1__CHANNEL__CHANNEL_PHONE);
	assert_int_equal(p->last_attempt_outcome, VIGIL__V1__OUTCOME__OUTCOME_UNREACHABLE);
	assert_true(p->last_success_ms > 0);
	assert_int_equal(p->alert_stage, 0);
	/* Everything else is absent, on the wire too. */
	assert_int_equal(p->n_parties, 0);
	assert_false(p->immediate_danger);
	assert_int_equal(p->n_factors, 0);
	assert_string_equal(p->pending_offer_to, "");
	assert_int_equal(p->pending_offer_id.len, 0);
	assert_int_equal(p->attempts, 0);
	assert_int_equal(p->failed_attempts, 0);
	assert_string_equal(p->return_country, "");
	assert_string_equal(p->return_date, "");
	assert_int_equal(p->opened_at_ms, 0);
	assert_int_equal(p->entries, 0);
	assert_string_equal(p->consent_scope, "");
	assert_false(p->override);
	assert_int_equal(p->close_reason, 0);
	assert_int_equal(p->base.n_unknown_fields, 0);
	size_t packed = vigil__v1__case_status__get_packed_size(p);
	frame_free(keep);

	Vigil__V1__CaseStatus *c = status_of(COORD, id, &keep);
	assert_int_equal(c->view, VIGIL__V1__CASE_VIEW__CASE_VIEW_FULL);
	assert_string_equal(c->owner, "se-stockholm-coord");
	assert_int_equal(c->n_parties, 4);
	assert_true(c->immediate_danger);
	assert_int_equal(c->n_factors, 2);
	assert_string_equal(c->pending_offer_to, "iom-ru-moscow");
	assert_int_equal(c->attempts, 3);
	assert_int_equal(c->failed_attempts, 1);
	assert_string_equal(c->return_country, "RU");
	assert_string_equal(c->return_date, "2026-10-01");
	assert_string_equal(c->consent_scope, "share-with-parties");
	assert_int_equal(c->entries, 6);
	assert_true(vigil__v1__case_status__get_packed_size(c) > packed);
	frame_free(keep);
}

/* Every entry of a case log page is proven to the page's checkpoint (its
 * signature verified with the checkpoint key). */
static void check_page_proofs(const Vigil__V1__CaseLog *m, const char *case_id)
{
	FILE *f = fopen(pki("checkpoint.pub"), "r");
	assert_non_null(f);
	EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	struct note_verifier v;
	assert_int_equal(note_verifier_from_key(k, "vigil.test/log", &v), VG_OK);
	EVP_PKEY_free(k);
	size_t tl;
	struct checkpoint cp;
	assert_int_equal(note_open(m->checkpoint, strlen(m->checkpoint), &v, &tl), VG_OK);
	assert_int_equal(checkpoint_parse(m->checkpoint, tl, &cp), VG_OK);
	for (size_t i = 0; i < m->n_entries; i++) {
		const Vigil__V1__CaseLogEntry *le = m->entries[i];
		const Vigil__V1__Entry *e = le->entry;
		uint8_t *leaf, lh[SHA256_LEN];
		size_t leaf_len;
		assert_int_equal(entry_leaf_encode(e->received_at_ms, e->cert_sha256.data,
						   e->record.data, e->record.len, e->signature.data,
						   e->signature.len, &leaf, &leaf_len), VG_OK);
		merkle_leaf_hash(leaf, leaf_len, lh);
		free(leaf);
		assert_memory_equal(lh, e->leaf_hash.data, SHA256_LEN);
		merkle_hash p[MERKLE_MAX_PROOF];
		assert_true(le->n_inclusion_proof <= MERKLE_MAX_PROOF);
		for (size_t h = 0; h < le->n_inclusion_proof; h++)
			memcpy(p[h], le->inclusion_proof[h].data, SHA256_LEN);
		assert_int_equal(merkle_verify_inclusion(e->index, cp.size, lh, p,
							 le->n_inclusion_proof, cp.root), VG_OK);
		Vigil__V1__Record *r = vigil__v1__record__unpack(NULL, e->record.len,
								  e->record.data);
		assert_non_null(r);
		assert_string_equal(r->case_id, case_id);
		vigil__v1__record__free_unpacked(r, NULL);
	}
}

/* GetCaseLog in pages: 250 entries (CaseOpen and 249 contacts) come as
 * 100 + 100 + 50 with limit 100 and as 100 with the default, each page
 * the right entries in order, proven, `more` set on all but the last; a
 * page from the middle (after an index); limit 1001 is refused; each page
 * is one read in the readers list. */
static void test_log_paging(void **state)
{
	(void)state;
	char id[64];
	fresh_case(id, sizeof(id), "paging");
	for (int i = 0; i < 249; i++)
		expect(casekit_contact(&C[IOM], id, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER),
		       "RECEIPT", NULL);
	/* Every index, in one go (limit 1000). */
	Vigil__V1__Frame *all = casekit_log_page(&C[IOM], id, 0, 0, 1000);
	assert_int_equal(all->msg_case, VIGIL__V1__FRAME__MSG_CASE_LOG);
	assert_int_equal(all->case_log->n_entries, 250);
	assert_false(all->case_log->more);
	check_page_proofs(all->case_log, id);
	/* Three pages of 100, 100 and 50. */
	static const size_t sizes[] = { 100, 100, 50 };
	int has_after = 0;
	uint64_t after = 0;
	size_t seen = 0;
	for (int pg = 0; pg < 3; pg++) {
		Vigil__V1__Frame *a = casekit_log_page(&C[IOM], id, has_after, after, 100);
		assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CASE_LOG);
		const Vigil__V1__CaseLog *m = a->case_log;
		assert_int_equal(m->n_entries, sizes[pg]);
		assert_int_equal(m->more, pg < 2);
		for (size_t i = 0; i < m->n_entries; i++)
			assert_int_equal(m->entries[i]->entry->index,
					 all->case_log->entries[seen + i]->entry->index);
		check_page_proofs(m, id);
		seen += m->n_entries;
		has_after = 1;
		after = m->entries[m->n_entries - 1]->entry->index;
		frame_free(a);
	}
	assert_int_equal(seen, 250);
	/* Past the last entry: an empty page, nothing more. */
	Vigil__V1__Frame *a = casekit_log_page(&C[IOM], id, 1, after, 100);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CASE_LOG);
	assert_int_equal(a->case_log->n_entries, 0);
	assert_false(a->case_log->more);
	frame_free(a);
	/* The default is 100; a page from the middle. */
	a = casekit_log_page(&C[IOM], id, 0, 0, 0);
	assert_int_equal(a->case_log->n_entries, 100);
	assert_true(a->case_log->more);
	frame_free(a);
	uint64_t i7 = all->case_log->entries[7]->entry->index;
	a = casekit_log_page(&C[IOM], id, 1, i7, 5);
	assert_int_equal(a->case_log->n_entries, 5);
	assert_true(a->case_log->more);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(a->case_log->entries[i]->entry->index,
				 all->case_log->entries[8 + i]->entry->index);
	check_page_proofs(a->case_log, id);
	frame_free(a);
	/* has_after with after just below the first entry: all of them. */
	a = casekit_log_page(&C[IOM], id, 1, all->case_log->entries[0]->entry->index - 1, 1000);
	assert_int_equal(a->case_log->n_entries, 250);
	frame_free(a);
	a = casekit_log_page(&C[IOM], id, 1, UINT64_MAX, 10);
	assert_int_equal(a->case_log->n_entries, 0);
	assert_false(a->case_log->more);
	frame_free(a);
	frame_free(all);
	expect(casekit_log_page(&C[IOM], id, 0, 0, 1001), "BAD_REQUEST",
	       "limit must be at most 1000 (0: 100)");
	/* One read per page answered (9), none for the refused request. */
	a = casekit_readers(&C[COORD], id);
	expect_n_reads(a, 9);
	for (size_t i = 0; i < 9; i++)
		assert_string_equal(a->case_readers->reads[i]->what, "log");
	frame_free(a);
}

/* The case log carries every entry with a proof; reads are recorded; the
 * list shows a peer its cases only. */
static void test_log_readers_and_list(void **state)
{
	(void)state;
	char id[64];
	fresh_case(id, sizeof(id), "reads");
	expect(casekit_contact(&C[IOM], id, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER), "RECEIPT", NULL);
	Vigil__V1__Frame *keep;
	Vigil__V1__CaseStatus *unused = status_of(POLICE, id, &keep);
	(void)unused;
	frame_free(keep);
	Vigil__V1__Frame *a = casekit_log(&C[IOM], id);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CASE_LOG);
	assert_int_equal(a->case_log->n_entries, 2);
	for (size_t i = 0; i < a->case_log->n_entries; i++) {
		Vigil__V1__CaseLogEntry *e = a->case_log->entries[i];
		assert_true(e->n_inclusion_proof > 0);
		assert_int_equal(e->entry->leaf_hash.len, SHA256_LEN);
		Vigil__V1__Record *r = vigil__v1__record__unpack(NULL, e->entry->record.len,
								  e->entry->record.data);
		assert_non_null(r);
		assert_string_equal(r->case_id, id);
		vigil__v1__record__free_unpacked(r, NULL);
	}
	frame_free(a);
	a = casekit_readers(&C[COORD], id);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CASE_READERS);
	expect_n_reads(a, 2); /* police status, iom log */
	assert_string_equal(a->case_readers->reads[0]->organisation, "se-police-noa");
	assert_string_equal(a->case_readers->reads[0]->what, "status");
	assert_true(a->case_readers->reads[0]->at_ms > 0);
	assert_string_equal(a->case_readers->reads[1]->organisation, "iom-ru-moscow");
	assert_string_equal(a->case_readers->reads[1]->what, "log");
	frame_free(a);
	/* Asking who read the case is a read too, seen the next time. */
	a = casekit_readers(&C[COORD], id);
	expect_n_reads(a, 3);
	assert_string_equal(a->case_readers->reads[2]->organisation, "se-stockholm-coord");
	assert_string_equal(a->case_readers->reads[2]->what, "readers");
	frame_free(a);
	/* Refused attempts are recorded as such. */
	expect(casekit_log(&C[POLICE], id), "PERMISSION_DENIED", NULL);
	expect(casekit_status(&C[OTHER_IOM], id), "NOT_FOUND", NULL);
	assert_int_equal(db_int(&R, "SELECT count(*) FROM case_reads WHERE org = 'se-police-noa' "
				    "AND what = 'log'"), 0);
	a = casekit_readers(&C[COORD], id);
	expect_n_reads(a, 6);
	assert_string_equal(a->case_readers->reads[4]->organisation, "se-police-noa");
	assert_string_equal(a->case_readers->reads[4]->what, "log-refused");
	assert_string_equal(a->case_readers->reads[5]->organisation, "iom-md-chisinau");
	assert_string_equal(a->case_readers->reads[5]->what, "status-refused");
	frame_free(a);

	a = casekit_list(&C[SHELTER]);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CASE_LIST);
	int found = 0;
	for (size_t i = 0; i < a->case_list->n_cases; i++)
		found |= !strcmp(a->case_list->cases[i]->case_id, id);
	assert_true(found);
	frame_free(a);
	a = casekit_list(&C[OTHER_IOM]);
	for (size_t i = 0; i < a->case_list->n_cases; i++)
		assert_string_not_equal(a->case_list->cases[i]->case_id, id);
	frame_free(a);
	static const char rule[] = "case_id must be OWNER/PSEUDONYM: the owner's organisation id, "
				   "'/', and 3-64 characters of [A-Za-z0-9-]";
	expect(casekit_status(&C[POLICE], "no such case!"), "BAD_REQUEST", rule);
	/* An id without its owner is no case id any more, on the wire too. */
	expect(casekit_status(&C[POLICE], "T-reads-1"), "BAD_REQUEST", rule);
	long long before = entries();
	expect(casekit_contact(&C[COORD], "T-reads-1", VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER),
	       "BAD_REQUEST", rule);
	expect(casekit_contact(&C[COORD], "/T-reads-1", VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER),
	       "BAD_REQUEST", rule);
	assert_int_equal(entries(), before);
}

/* ---- the owner, the directory, probes and clocks ------------------------------ */

/* A CaseOpen by who on the wire, on the given basis: consent given at
 * consent_at_ms, or (consent_at_ms 0) the risk_to_life override. */
static Vigil__V1__Frame *open_on(enum actor who, const char *case_id, const char *const *parties,
				 size_t n, int64_t consent_at_ms)
{
	uint8_t rid[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, rid, case_id, C[who].org);
	Vigil__V1__CaseOpen o = VIGIL__V1__CASE_OPEN__INIT;
	Vigil__V1__Consent consent = VIGIL__V1__CONSENT__INIT;
	Vigil__V1__Override ov = VIGIL__V1__OVERRIDE__INIT;
	o.risk = VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH;
	o.return_country = "MD";
	o.return_date = "2026-08-15";
	o.parties = (char **)parties;
	o.n_parties = n;
	if (consent_at_ms) {
		consent.scope = "share-with-parties";
		consent.given_at_ms = consent_at_ms;
		o.basis_case = VIGIL__V1__CASE_OPEN__BASIS_CONSENT;
		o.consent = &consent;
	} else {
		ov.reason = VIGIL__V1__OVERRIDE_REASON__OVERRIDE_REASON_RISK_TO_LIFE;
		o.basis_case = VIGIL__V1__CASE_OPEN__BASIS_OVERRIDE;
		o.override = &ov;
	}
	r.body_case = VIGIL__V1__RECORD__BODY_CASE_OPEN;
	r.case_open = &o;
	if (consent_at_ms)
		return casekit_submit(&C[who], &r);
	/* The justification is sealed to the opener and the parties it names
	 * that read narrative (all here but the police). */
	const char *readers[1 + RECORD_PARTIES_MAX];
	size_t nr = 0;
	readers[nr++] = C[who].org;
	for (size_t i = 0; i < n; i++)
		if (strcmp(parties[i], "se-police-noa") != 0)
			readers[nr++] = parties[i];
	struct tsealed s;
	tseal(&s, SEALED_JUSTIFICATION, rid, "threats from the recruiter reported on arrival",
	      readers, nr);
	ov.sealed_justification = &s.text;
	Vigil__V1__Frame *a = casekit_submit_sealed(&C[who], &r, &s);
	tsealed_free(&s);
	return a;
}

static Vigil__V1__Frame *ack_of(enum actor who, const char *case_id)
{
	uint8_t rid[RECORD_ID_LEN], alert[RECORD_ID_LEN];
	memset(alert, 0x5a, sizeof(alert));
	Vigil__V1__Record r;
	casekit_record(&r, rid, case_id, C[who].org);
	Vigil__V1__AlertAck ack = VIGIL__V1__ALERT_ACK__INIT;
	ack.alert_id.data = alert;
	ack.alert_id.len = RECORD_ID_LEN;
	ack.decision = VIGIL__V1__ACK_DECISION__ACK_DECISION_POLICE_REPORT_FILED;
	r.body_case = VIGIL__V1__RECORD__BODY_ALERT_ACK;
	r.alert_ack = &ack;
	return casekit_submit(&C[who], &r);
}

/* The whole answer frame, request id aside, packed. */
static size_t answer_bytes(Vigil__V1__Frame *a, uint8_t *out, size_t cap)
{
	assert_non_null(a);
	a->request_id = 0;
	size_t n = vigil__v1__frame__get_packed_size(a);
	assert_true(n <= cap);
	vigil__v1__frame__pack(a, out);
	return n;
}

/* Two answers are the same bytes. */
static void expect_same_answer(Vigil__V1__Frame *a, Vigil__V1__Frame *b)
{
	static uint8_t x[4096], y[4096];
	size_t nx = answer_bytes(a, x, sizeof(x)), ny = answer_bytes(b, y, sizeof(y));
	if (nx != ny || memcmp(x, y, nx) != 0)
		fail_msg("different answers: %s \"%s\" / %s \"%s\"", casekit_outcome(a),
			 a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? a->error->message : "",
			 casekit_outcome(b),
			 b->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? b->error->message : "");
}

/* Nothing of case_id in the relay's case tables and log. */
static void expect_no_trace(const char *case_id)
{
	assert_int_equal(count_where("entries", case_id), 0);
	assert_int_equal(count_where("cases", case_id), 0);
	assert_int_equal(count_where("case_parties", case_id), 0);
}

/* No audit row either: a refused record is recorded only when the case
 * exists (proto/README.md section 4, "The case workflow").  Checked at the
 * end of a test. */
static void expect_no_audit(const char *case_id)
{
	if (count_where("case_reads", case_id) != 0)
		fail_msg("%lld audit rows of %s, which does not exist", count_where("case_reads", case_id),
			 case_id);
}

/* Parties and handover targets are members of the directory: a typo
 * (iom-ru-moskow) is refused and nothing is stored. */
static void test_unknown_organisation(void **state)
{
	(void)state;
	char id[64];
	fresh_case(id, sizeof(id), "unknown");
	long long before = entries(), reads = reads_of(id);
	uint8_t o[RECORD_ID_LEN];
	expect(casekit_offer(&C[COORD], id, "iom-ru-moskow", o, 1), "NOT_FOUND", UNKNOWN_ORG);
	expect(casekit_offer(&C[COORD], id, "iom-ru-moskow", o, 0), "NOT_FOUND", UNKNOWN_ORG);
	assert_int_equal(entries(), before);
	/* The owner's refusal is no probe; the one read is the question whom
	 * to seal the second offer's justification to (GetSealReaders). */
	assert_int_equal(reads_of(id), reads + 1);
	char sql[256], to[80];
	snprintf(sql, sizeof(sql), "SELECT pending_offer_to FROM cases WHERE case_id = '%s'", id);
	assert_int_equal(db_text(&R, sql, to, sizeof(to)), 0);
	assert_string_equal(to, "");
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM cases WHERE case_id = '%s' AND "
		 "pending_offer_id IS NULL AND responsible = 'se-stockholm-coord'", id);
	assert_int_equal(db_int(&R, sql), 1);
	Vigil__V1__Frame *keep;
	Vigil__V1__CaseStatus *st = status_of(COORD, id, &keep);
	assert_string_equal(st->pending_offer_to, "");
	assert_int_equal(st->pending_offer_id.len, 0);
	assert_int_equal(st->entries, 1);
	frame_free(keep);
	/* The case is still free to be offered to the right organisation; a
	 * relay takes no cases. */
	expect(casekit_offer(&C[COORD], id, "vigil-relay", o, 1), "BAD_REQUEST",
	       "vigil-relay is a relay and takes no cases");
	expect(casekit_offer(&C[COORD], id, "iom-ru-moscow", o, 1), "RECEIPT", NULL);
	assert_int_equal(entries(), before + 1);

	/* A relay is party to no case. */
	static const char *const relay[] = { "iom-ru-moscow", "vigil-relay" };
	const char *rid = "se-stockholm-coord/T-relay-party";
	expect(casekit_open(&C[COORD], rid, relay, 2, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0),
	       "BAD_REQUEST", "vigil-relay is a relay and is party to no case");
	expect_no_trace(rid);

	/* A CaseOpen naming an unknown party, among known ones. */
	static const char *const typo[] = { "iom-ru-moscow", "iom-ru-moskow", "se-police-noa" };
	const char *nid = "se-stockholm-coord/T-unknown-party";
	before = entries();
	expect(casekit_open(&C[COORD], nid, typo, 3, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0),
	       "NOT_FOUND", UNKNOWN_ORG);
	assert_int_equal(entries(), before);
	expect_no_trace(nid);
	/* Reopening a closed case naming one likewise changes nothing. */
	expect(casekit_close(&C[COORD], id), "RECEIPT", NULL);
	before = entries();
	expect(casekit_open(&C[COORD], id, typo, 3, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0),
	       "NOT_FOUND", UNKNOWN_ORG);
	assert_int_equal(entries(), before);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM cases WHERE case_id = '%s' AND state = %d",
		 id, VIGIL__V1__CASE_STATE__CASE_STATE_CLOSED);
	assert_int_equal(db_int(&R, sql), 1);
	assert_int_equal(count_where("case_parties", id), 4);
	/* The right names open it. */
	static const char *const right[] = { "iom-ru-moscow", "se-police-noa" };
	expect(casekit_open(&C[COORD], nid, right, 2, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0),
	       "RECEIPT", NULL);
	assert_int_equal(count_where("case_parties", nid), 3);
	/* The owner's own refused opening, before the case existed, left no
	 * audit row behind. */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM case_reads WHERE case_id = '%s' AND what "
		 "= 'open-refused'", nid);
	if (db_int(&R, sql) != 0)
		fail_msg("the owner's refused opening of %s, before it existed, left %lld "
			 "open-refused audit rows", nid, db_int(&R, sql));
}

/* The owner keeps closing, reopening and the read audit after handing the
 * case over to IOM; a coordinator party that is neither owner nor
 * responsible does not get them. */
static void test_owner_closes_after_handover(void **state)
{
	(void)state;
	const char *id = "se-stockholm-coord/T-owner-1";
	static const char *const parties[] = { "iom-ru-moscow", "se-goteborg-coord",
					       "se-police-noa" };
	expect(casekit_open(&C[COORD], id, parties, 3, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM, 0),
	       "RECEIPT", NULL);
	uint8_t o[RECORD_ID_LEN];
	expect(casekit_offer(&C[COORD], id, "iom-ru-moscow", o, 1), "RECEIPT", NULL);
	expect(casekit_answer(&C[IOM], id, o, 1), "RECEIPT", NULL);
	Vigil__V1__Frame *keep;
	Vigil__V1__CaseStatus *st = status_of(OTHER_COORD, id, &keep);
	assert_int_equal(st->view, VIGIL__V1__CASE_VIEW__CASE_VIEW_FULL);
	assert_string_equal(st->responsible, "iom-ru-moscow");
	assert_string_equal(st->owner, "se-stockholm-coord");
	frame_free(keep);

	long long before = entries();
	/* Neither the other coordinator party, nor IOM (responsible, no
	 * coordinator), nor police. */
	expect(casekit_close(&C[OTHER_COORD], id), "PERMISSION_DENIED", CLOSE_DENIED);
	expect(casekit_close(&C[IOM], id), "PERMISSION_DENIED", CLOSE_DENIED);
	expect(casekit_close(&C[POLICE], id), "PERMISSION_DENIED", CLOSE_DENIED);
	expect(casekit_readers(&C[OTHER_COORD], id), "PERMISSION_DENIED", READERS_DENIED);
	expect(casekit_readers(&C[IOM], id), "PERMISSION_DENIED", READERS_DENIED);
	assert_int_equal(entries(), before);

	/* The owner closes. */
	expect(casekit_close(&C[COORD], id), "RECEIPT", NULL);
	assert_int_equal(entries(), before + 1);
	st = status_of(IOM, id, &keep);
	assert_int_equal(st->state, VIGIL__V1__CASE_STATE__CASE_STATE_CLOSED);
	assert_int_equal(st->close_reason, VIGIL__V1__CLOSE_REASON__CLOSE_REASON_MONITORING_COMPLETED);
	assert_string_equal(st->responsible, "iom-ru-moscow");
	frame_free(keep);
	char msg[200];
	snprintf(msg, sizeof(msg), CLOSED_MSG, id);
	expect(casekit_contact(&C[IOM], id, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER), "BAD_REQUEST",
	       msg);
	/* The other coordinator party does not reopen it; the owner does, and
	 * is responsible again. */
	static const char *const none[1] = { NULL };
	before = entries();
	expect(casekit_open(&C[OTHER_COORD], id, none, 0, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW, 0),
	       "PERMISSION_DENIED",
	       "only the owner (se-stockholm-coord) or the responsible coordinator reopens the case");
	assert_int_equal(entries(), before);
	expect(casekit_open(&C[COORD], id, none, 0, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0),
	       "RECEIPT", NULL);
	st = status_of(COORD, id, &keep);
	assert_int_equal(st->state, VIGIL__V1__CASE_STATE__CASE_STATE_ACTIVE);
	assert_string_equal(st->owner, "se-stockholm-coord");
	assert_string_equal(st->responsible, "se-stockholm-coord");
	assert_int_equal(st->n_parties, 4);
	frame_free(keep);
	/* The owner lists the reads: exactly the rows of case_reads recorded
	 * before the listing (which itself shows up the next time). */
	expect(casekit_readers(&C[OTHER_COORD], id), "PERMISSION_DENIED", READERS_DENIED);
	expect(casekit_readers(&C[IOM], id), "PERMISSION_DENIED", READERS_DENIED);
	long long n = reads_of(id);
	Vigil__V1__Frame *a = casekit_readers(&C[COORD], id);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CASE_READERS);
	expect_n_reads(a, n);
	for (long long k = 0; k < n; k++) {
		char sql[256], org[80], what[40];
		snprintf(sql, sizeof(sql), "SELECT org FROM case_reads WHERE case_id = '%s' ORDER BY "
			 "id LIMIT 1 OFFSET %lld", id, k);
		assert_int_equal(db_text(&R, sql, org, sizeof(org)), 0);
		snprintf(sql, sizeof(sql), "SELECT what FROM case_reads WHERE case_id = '%s' ORDER BY "
			 "id LIMIT 1 OFFSET %lld", id, k);
		assert_int_equal(db_text(&R, sql, what, sizeof(what)), 0);
		assert_string_equal(a->case_readers->reads[k]->organisation, org);
		assert_string_equal(a->case_readers->reads[k]->what, what);
	}
	assert_string_equal(a->case_readers->reads[n - 2]->organisation, "se-goteborg-coord");
	assert_string_equal(a->case_readers->reads[n - 2]->what, "readers-refused");
	assert_string_equal(a->case_readers->reads[n - 1]->organisation, "iom-ru-moscow");
	assert_string_equal(a->case_readers->reads[n - 1]->what, "readers-refused");
	frame_free(a);
	expect_last_read(id, "se-stockholm-coord", "readers");
}

/* Opening an id of another organisation's gets the same answer whether or
 * not that case exists; only the existing case's owner sees the probe. */
static void test_open_existing_id_learns_nothing(void **state)
{
	(void)state;
	char id[64];
	fresh_case(id, sizeof(id), "probe");
	const char *missing = "se-stockholm-coord/T-never-opened";
	static const char *const none[1] = { NULL };
	static const char *const some[] = { "se-goteborg-coord", "iom-ru-moscow" };
	long long before = entries(), reads = reads_of(id);
	for (int round = 0; round < 2; round++) {
		const char *const *p = round ? some : none;
		size_t np = round ? 2 : 0;
		Vigil__V1__Frame *x = casekit_open(&C[OTHER_COORD], id, p, np,
						   VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW, 0);
		Vigil__V1__Frame *y = casekit_open(&C[OTHER_COORD], missing, p, np,
						   VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW, 0);
		assert_int_equal(x->msg_case, VIGIL__V1__FRAME__MSG_ERROR);
		assert_string_equal(casekit_outcome(x), "PERMISSION_DENIED");
		assert_string_equal(x->error->message, GOTEBORG_ID);
		expect_same_answer(x, y);
		frame_free(x);
		frame_free(y);
		/* A role that opens no cases: the same answer both ways too. */
		x = casekit_open(&C[OTHER_IOM], id, p, np, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW, 0);
		y = casekit_open(&C[OTHER_IOM], missing, p, np, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW,
				 0);
		assert_string_equal(x->error->message, "only a coordinator opens a case");
		expect_same_answer(x, y);
		frame_free(x);
		frame_free(y);
	}
	assert_int_equal(entries(), before);
	expect_no_trace(missing);
	/* The case is as it was. */
	Vigil__V1__Frame *keep;
	Vigil__V1__CaseStatus *st = status_of(COORD, id, &keep);
	assert_string_equal(st->owner, "se-stockholm-coord");
	assert_string_equal(st->responsible, "se-stockholm-coord");
	assert_int_equal(st->risk, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM);
	assert_int_equal(st->n_parties, 4);
	assert_int_equal(st->entries, 1);
	frame_free(keep);
	/* The four probes of the existing case are audited, then the status. */
	assert_int_equal(reads_of(id), reads + 5);
	char sql[300];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM case_reads WHERE case_id = '%s' AND org = "
		 "'se-goteborg-coord' AND what = 'open-refused'", id);
	assert_int_equal(db_int(&R, sql), 2);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM case_reads WHERE case_id = '%s' AND org = "
		 "'iom-md-chisinau' AND what = 'open-refused'", id);
	assert_int_equal(db_int(&R, sql), 2);
	Vigil__V1__Frame *a = casekit_readers(&C[COORD], id);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CASE_READERS);
	int seen = 0;
	for (size_t i = 0; i < a->case_readers->n_reads; i++)
		seen += !strcmp(a->case_readers->reads[i]->organisation, "se-goteborg-coord") &&
			!strcmp(a->case_readers->reads[i]->what, "open-refused");
	assert_int_equal(seen, 2);
	frame_free(a);

	/* The rule is the owner's: Gothenburg opens under its own id, and
	 * Stockholm may not open there either. */
	char own[64];
	snprintf(own, sizeof(own), "se-goteborg-coord/T-own-1");
	expect(casekit_open(&C[OTHER_COORD], own, none, 0, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW, 0),
	       "RECEIPT", NULL);
	before = entries();
	Vigil__V1__Frame *x = casekit_open(&C[COORD], own, none, 0,
					   VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW, 0);
	Vigil__V1__Frame *y = casekit_open(&C[COORD], "se-goteborg-coord/T-never-opened", none, 0,
					   VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW, 0);
	assert_string_equal(x->error->message,
			    "a new case's id begins with your organisation id: se-stockholm-coord/...");
	expect_same_answer(x, y);
	frame_free(x);
	frame_free(y);
	assert_int_equal(entries(), before);
	expect_no_trace("se-goteborg-coord/T-never-opened");
	expect_last_read(own, "se-stockholm-coord", "open-refused");
	expect_no_audit(missing);
	expect_no_audit("se-goteborg-coord/T-never-opened");
}

/* A record by an organisation that may not see the case is answered as for
 * a case that does not exist, stores nothing, and is audited by kind. */
static void test_refused_write_is_audited(void **state)
{
	(void)state;
	char id[64];
	fresh_case(id, sizeof(id), "write");
	const char *missing = "se-stockholm-coord/T-missing-2";
	uint8_t bogus[RECORD_ID_LEN];
	memset(bogus, 0x42, sizeof(bogus));
	static const char *const kinds[] = { "contact", "withdraw", "answer", "ack" };
	long long before = entries();
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		Vigil__V1__Frame *x, *y;
		const char *kind = kinds[k];
		if (!strcmp(kind, "contact")) {
			x = casekit_contact(&C[OTHER_IOM], id, VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE);
			y = casekit_contact(&C[OTHER_IOM], missing,
					    VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE);
		} else if (!strcmp(kind, "withdraw")) {
			x = casekit_withdraw(&C[OTHER_IOM], id, bogus);
			y = casekit_withdraw(&C[OTHER_IOM], missing, bogus);
		} else if (!strcmp(kind, "answer")) {
			x = casekit_answer(&C[OTHER_IOM], id, bogus, 1);
			y = casekit_answer(&C[OTHER_IOM], missing, bogus, 1);
		} else {
			x = ack_of(OTHER_IOM, id);
			y = ack_of(OTHER_IOM, missing);
		}
		char want_x[160], want_y[160];
		snprintf(want_x, sizeof(want_x), "case %s not found", id);
		snprintf(want_y, sizeof(want_y), "case %s not found", missing);
		if (!x || !y || x->msg_case != VIGIL__V1__FRAME__MSG_ERROR ||
		    y->msg_case != VIGIL__V1__FRAME__MSG_ERROR)
			fail_msg("%s: %s / %s", kind, casekit_outcome(x), casekit_outcome(y));
		assert_string_equal(casekit_outcome(x), "NOT_FOUND");
		assert_int_equal(x->error->code, y->error->code);
		assert_string_equal(x->error->message, want_x);
		assert_string_equal(y->error->message, want_y);
		frame_free(x);
		frame_free(y);
		char what[40];
		snprintf(what, sizeof(what), "%s-refused", kind);
		expect_last_read(id, "iom-md-chisinau", what);
	}
	assert_int_equal(entries(), before);
	expect_no_trace(missing);
	/* Nothing changed: no attempt, no offer. */
	Vigil__V1__Frame *keep;
	Vigil__V1__CaseStatus *st = status_of(COORD, id, &keep);
	assert_int_equal(st->attempts, 0);
	assert_int_equal(st->last_attempt_ms, 0);
	assert_int_equal(st->last_success_ms, 0);
	assert_int_equal(st->entries, 1);
	frame_free(keep);
	/* The owner sees the probes, by kind, oldest first. */
	Vigil__V1__Frame *a = casekit_readers(&C[COORD], id);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CASE_READERS);
	size_t n = a->case_readers->n_reads, k = 0;
	for (size_t i = 0; i < n; i++) {
		Vigil__V1__CaseRead *r = a->case_readers->reads[i];
		if (strcmp(r->organisation, "iom-md-chisinau") != 0)
			continue;
		char what[40];
		snprintf(what, sizeof(what), "%s-refused", kinds[k++]);
		assert_string_equal(r->what, what);
		assert_true(r->at_ms > 0);
	}
	assert_int_equal(k, 4);
	frame_free(a);
	expect_no_audit(missing);
}

/* An organisation a pending offer names, police too, sees the offered view
 * only until it is a party. */
static void test_offered_view_for_police(void **state)
{
	(void)state;
	const char *id = "se-stockholm-coord/T-offered-police";
	static const char *const parties[] = { "iom-ru-moscow" };
	expect(casekit_open(&C[COORD], id, parties, 1, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM, 0),
	       "RECEIPT", NULL);
	expect(contact_after(IOM, id, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER, 0), "RECEIPT", NULL);
	expect(casekit_status(&C[POLICE], id), "NOT_FOUND", NULL);
	uint8_t o[RECORD_ID_LEN];
	expect(casekit_offer(&C[COORD], id, "se-police-noa", o, 1), "RECEIPT", NULL);
	Vigil__V1__Frame *keep;
	Vigil__V1__CaseStatus *st = status_of(POLICE, id, &keep);
	assert_int_equal(st->view, VIGIL__V1__CASE_VIEW__CASE_VIEW_OFFERED);
	assert_string_equal(st->case_id, id);
	assert_string_equal(st->owner, "se-stockholm-coord");
	assert_int_equal(st->state, VIGIL__V1__CASE_STATE__CASE_STATE_ACTIVE);
	assert_string_equal(st->responsible, "se-stockholm-coord");
	assert_int_equal(st->risk, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM);
	assert_string_equal(st->pending_offer_to, "se-police-noa");
	assert_memory_equal(st->pending_offer_id.data, o, RECORD_ID_LEN);
	/* Nothing of her contact history. */
	assert_int_equal(st->last_attempt_ms, 0);
	assert_int_equal(st->last_attempt_channel, 0);
	assert_int_equal(st->last_attempt_outcome, 0);
	assert_int_equal(st->last_success_ms, 0);
	assert_int_equal(st->alert_stage, 0);
	assert_int_equal(st->n_parties, 0);
	assert_int_equal(st->attempts, 0);
	assert_int_equal(st->entries, 0);
	assert_string_equal(st->consent_scope, "");
	assert_string_equal(st->return_country, "");
	frame_free(keep);
	expect_last_read(id, "se-police-noa", "status");
	expect(casekit_log(&C[POLICE], id), "NOT_FOUND", NULL);
	/* Accepted: a police party, with the police view. */
	expect(casekit_answer(&C[POLICE], id, o, 1), "RECEIPT", NULL);
	st = status_of(POLICE, id, &keep);
	assert_int_equal(st->view, VIGIL__V1__CASE_VIEW__CASE_VIEW_POLICE);
	assert_string_equal(st->responsible, "se-police-noa");
	assert_true(st->last_attempt_ms > 0);
	assert_int_equal(st->last_attempt_outcome, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER);
	assert_int_equal(st->n_parties, 0);
	frame_free(keep);
}

/* "T is later than the relay's time R plus max_clock_skew (300 s)": the
 * message names field and t, and R lies within [lo, hi]. */
static void expect_too_late(Vigil__V1__Frame *a, const char *field, int64_t t, int64_t lo,
			    int64_t hi)
{
	char at[TIME_RFC3339_MAX], prefix[200];
	time_format_rfc3339(t, at);
	snprintf(prefix, sizeof(prefix), "%s %s is later than the relay's time ", field, at);
	if (!a || a->msg_case != VIGIL__V1__FRAME__MSG_ERROR)
		fail_msg("%s: expected BAD_REQUEST, got %s", field, casekit_outcome(a));
	assert_string_equal(casekit_outcome(a), "BAD_REQUEST");
	const char *m = a->error->message;
	if (strncmp(m, prefix, strlen(prefix)) != 0)
		fail_msg("\"%s\" does not begin \"%s\"", m, prefix);
	char relay[TIME_RFC3339_MAX + 8];
	const char *rest = m + strlen(prefix), *sp = strchr(rest, ' ');
	assert_non_null(sp);
	snprintf(relay, sizeof(relay), "%.*s", (int)(sp - rest), rest);
	assert_string_equal(sp, " plus max_clock_skew (300 s)");
	int64_t r;
	assert_int_equal(time_parse_rfc3339(relay, &r), VG_OK);
	if (r < lo || r > hi)
		fail_msg("relay time %s outside the request", relay);
	frame_free(a);
}

/* Client times later than the relay's receive time plus max_clock_skew
 * are refused naming the field; within the skew they are accepted. */
static void test_times_ahead(void **state)
{
	(void)state;
	char id[64];
	fresh_case(id, sizeof(id), "clock");
	const int64_t year = 365LL * 86400000;
	long long before = entries(), reads = reads_of(id);
	int64_t lo = now_ms();
	Vigil__V1__Frame *a = contact_after(IOM, id, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER, year);
	int64_t hi = now_ms();
	assert_non_null(a);
	if (a->msg_case != VIGIL__V1__FRAME__MSG_ERROR)
		fail_msg("a contact a year ahead: %s", casekit_outcome(a));
	{
		/* attempted_at_ms is the record's client time (within [lo, hi])
		 * plus a year: read it from the message and bound it. */
		const char *m = a->error->message;
		const char *want = "attempted_at_ms ";
		if (strncmp(m, want, strlen(want)) != 0)
			fail_msg("\"%s\" does not name attempted_at_ms", m);
		char t[TIME_RFC3339_MAX + 8];
		snprintf(t, sizeof(t), "%.*s", (int)strcspn(m + strlen(want), " "), m + strlen(want));
		int64_t tm;
		assert_int_equal(time_parse_rfc3339(t, &tm), VG_OK);
		assert_true(tm >= lo + year && tm <= hi + year);
		expect_too_late(a, "attempted_at_ms", tm, lo, hi);
	}
	assert_int_equal(entries(), before);
	assert_int_equal(reads_of(id), reads);
	Vigil__V1__Frame *keep;
	Vigil__V1__CaseStatus *st = status_of(COORD, id, &keep);
	assert_int_equal(st->attempts, 0);
	assert_int_equal(st->last_attempt_ms, 0);
	frame_free(keep);
	/* A minute ahead is within the skew. */
	expect(contact_after(IOM, id, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER, 60000), "RECEIPT", NULL);
	assert_int_equal(entries(), before + 1);

	/* The record's own time. */
	uint8_t rid[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, rid, id, "iom-ru-moscow");
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	ca.channel = VIGIL__V1__CHANNEL__CHANNEL_SMS;
	ca.outcome = VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER;
	ca.attempted_at_ms = r.client_time_ms;
	ca.note = "";
	r.client_time_ms += year;
	r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	r.contact_attempt = &ca;
	lo = now_ms();
	a = casekit_submit(&C[IOM], &r);
	expect_too_late(a, "client_time_ms", r.client_time_ms, lo, now_ms());
	assert_int_equal(entries(), before + 1);

	/* A consent given a year from now. */
	static const char *const none[1] = { NULL };
	const char *nid = "se-stockholm-coord/T-clock-consent";
	int64_t given = now_ms() + year;
	lo = now_ms();
	a = open_on(COORD, nid, none, 0, given);
	expect_too_late(a, "consent.given_at_ms", given, lo, now_ms());
	assert_int_equal(entries(), before + 1);
	expect_no_trace(nid);
	expect_no_audit(nid);
}

/* A case opened on the risk_to_life override, without consent: accepted,
 * its time checks read no consent (there is none). */
static void test_open_with_override(void **state)
{
	(void)state;
	const char *id = "se-stockholm-coord/T-override-1";
	static const char *const parties[] = { "iom-ru-moscow" };
	long long before = entries();
	expect(open_on(COORD, id, parties, 1, 0), "RECEIPT", NULL);
	assert_int_equal(entries(), before + 1);
	Vigil__V1__Frame *keep;
	Vigil__V1__CaseStatus *st = status_of(COORD, id, &keep);
	assert_true(st->override);
	assert_string_equal(st->consent_scope, "");
	assert_string_equal(st->return_country, "MD");
	frame_free(keep);
	/* And reopened on it. */
	expect(casekit_close(&C[COORD], id), "RECEIPT", NULL);
	expect(open_on(COORD, id, parties, 1, 0), "RECEIPT", NULL);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_action_every_role),
		cmocka_unit_test(test_handover_state_machine),
		cmocka_unit_test(test_close_and_reopen),
		cmocka_unit_test(test_minor_is_high),
		cmocka_unit_test(test_police_status_is_minimal),
		cmocka_unit_test(test_log_readers_and_list),
		cmocka_unit_test(test_unknown_organisation),
		cmocka_unit_test(test_owner_closes_after_handover),
		cmocka_unit_test(test_open_existing_id_learns_nothing),
		cmocka_unit_test(test_refused_write_is_audited),
		cmocka_unit_test(test_offered_view_for_police),
		cmocka_unit_test(test_times_ahead),
		cmocka_unit_test(test_open_with_override),
		cmocka_unit_test(test_log_paging),
	};
	return cmocka_run_group_tests_name("cases", tests, setup, teardown);
}
