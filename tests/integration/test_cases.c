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

#include "casekit.h"
#include "harness.h"
#include "proto/status.h"

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
	snprintf(id, len, "T-%s-%d", tag, ++n);
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
	if (strcmp(casekit_outcome(a), outcome) != 0)
		fail_msg("expected %s, got %s (%s)", outcome, casekit_outcome(a),
			 a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? a->error->message : "");
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
	  { NULL, "only the responsible coordinator closes the case",
	    "only the responsible coordinator closes the case",
	    "only the responsible coordinator closes the case", NF, NF } },
	{ "open",
	  { "CONFLICT", "PERMISSION_DENIED", "PERMISSION_DENIED", "PERMISSION_DENIED",
	    "PERMISSION_DENIED", "CONFLICT" },
	  { "case %s is already open", "only a coordinator opens a case",
	    "only a coordinator opens a case", "only a coordinator opens a case",
	    "only a coordinator opens a case",
	    "case id %s is not available; choose another pseudonym" } },
	{ "status",
	  { "CASE_STATUS", "CASE_STATUS", "CASE_STATUS", "CASE_STATUS", "NOT_FOUND", "NOT_FOUND" },
	  { NULL, NULL, NULL, NULL, NF, NF } },
	{ "log",
	  { "CASE_LOG", "PERMISSION_DENIED", "CASE_LOG", "PERMISSION_DENIED", "NOT_FOUND",
	    "NOT_FOUND" },
	  { NULL, "the case's records are for coordinator, iom and responsible parties", NULL,
	    "the case's records are for coordinator, iom and responsible parties", NF, NF } },
	{ "readers",
	  { "CASE_READERS", "PERMISSION_DENIED", "PERMISSION_DENIED", "PERMISSION_DENIED",
	    "NOT_FOUND", "NOT_FOUND" },
	  { NULL, "only the responsible coordinator lists who read the case",
	    "only the responsible coordinator lists who read the case",
	    "only the responsible coordinator lists who read the case", NF, NF } },
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
			long long before = entries();
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
	assert_string_equal(st->responsible, "iom-ru-moscow");
	assert_string_equal(st->pending_offer_to, "se-goteborg-coord");
	assert_memory_equal(st->pending_offer_id.data, o4, RECORD_ID_LEN);
	assert_int_equal(st->risk, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM);
	assert_int_equal(st->last_attempt_ms, 0);
	assert_int_equal(st->n_parties, 0);
	assert_int_equal(st->attempts, 0);
	assert_string_equal(st->return_country, "");
	frame_free(keep);
	/* ... but not its records. */
	expect(casekit_log(&C[OTHER_COORD], id), "NOT_FOUND", NULL);
	expect(casekit_answer(&C[OTHER_COORD], id, o4, 1), "RECEIPT", NULL);
	st = status_of(OTHER_COORD, id, &keep);
	assert_string_equal(st->responsible, "se-goteborg-coord");
	int listed = 0;
	for (size_t i = 0; i < st->n_parties; i++)
		listed |= !strcmp(st->parties[i], "se-goteborg-coord");
	assert_true(listed);
	frame_free(keep);
	/* A withdrawn offer to an outsider leaves it outside. */
	expect(casekit_offer(&C[OTHER_COORD], id, "iom-md-chisinau", o5, 1), "RECEIPT", NULL);
	expect(casekit_withdraw(&C[OTHER_COORD], id, o5), "RECEIPT", NULL);
	expect(casekit_answer(&C[OTHER_IOM], id, o5, 1), "NOT_FOUND", NULL);
}

/* Closing, refusing records on a closed case, reopening. */
static void test_close_and_reopen(void **state)
{
	(void)state;
	char id[64], msg[160];
	fresh_case(id, sizeof(id), "close");
	expect(casekit_close(&C[COORD], id), "RECEIPT", NULL);
	snprintf(msg, sizeof(msg), "case %s is closed; a coordinator party reopens it with a case open", id);
	expect(casekit_contact(&C[IOM], id, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER), "BAD_REQUEST", msg);
	expect(casekit_close(&C[COORD], id), "BAD_REQUEST", msg);
	uint8_t o[RECORD_ID_LEN];
	expect(casekit_offer(&C[COORD], id, "iom-ru-moscow", o, 1), "BAD_REQUEST", msg);
	Vigil__V1__Frame *keep;
	Vigil__V1__CaseStatus *st = status_of(POLICE, id, &keep);
	assert_int_equal(st->state, VIGIL__V1__CASE_STATE__CASE_STATE_CLOSED);
	frame_free(keep);
	/* A coordinator that is no party cannot take the pseudonym over. */
	static const char *const none[1] = { NULL };
	snprintf(msg, sizeof(msg), "case id %s is not available; choose another pseudonym", id);
	open_case_with(OTHER_COORD, id, none, 0, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW, 0,
		       "CONFLICT", msg);
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
	open_case_with(COORD, "T-minor-1", parties, 1, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM, 1,
		       "BAD_REQUEST", "a minor's risk level is never below high");
	open_case_with(COORD, "T-minor-1", parties, 1, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 1,
		       "RECEIPT", NULL);
	expect(casekit_risk(&C[IOM], "T-minor-1", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW, 0),
	       "BAD_REQUEST", "a minor's risk level is never below high");
	expect(casekit_risk(&C[IOM], "T-minor-1", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 1),
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
	expect(casekit_contact(&C[IOM], id, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER), "RECEIPT", NULL);
	expect(casekit_contact(&C[SHELTER], id, VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE), "RECEIPT", NULL);
	expect(casekit_contact(&C[IOM], id, VIGIL__V1__OUTCOME__OUTCOME_UNREACHABLE), "RECEIPT", NULL);
	uint8_t o[RECORD_ID_LEN];
	expect(casekit_offer(&C[COORD], id, "iom-ru-moscow", o, 1), "RECEIPT", NULL);

	Vigil__V1__Frame *keep;
	Vigil__V1__CaseStatus *p = status_of(POLICE, id, &keep);
	assert_string_equal(p->case_id, id);
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
	assert_int_equal(a->case_readers->n_reads, 2); /* police status, iom log */
	assert_string_equal(a->case_readers->reads[0]->organisation, "se-police-noa");
	assert_string_equal(a->case_readers->reads[0]->what, "status");
	assert_true(a->case_readers->reads[0]->at_ms > 0);
	assert_string_equal(a->case_readers->reads[1]->organisation, "iom-ru-moscow");
	assert_string_equal(a->case_readers->reads[1]->what, "log");
	frame_free(a);
	/* Asking who read the case is a read too, seen the next time. */
	a = casekit_readers(&C[COORD], id);
	assert_int_equal(a->case_readers->n_reads, 3);
	assert_string_equal(a->case_readers->reads[2]->organisation, "se-stockholm-coord");
	assert_string_equal(a->case_readers->reads[2]->what, "readers");
	frame_free(a);
	/* Refused attempts are recorded as such. */
	expect(casekit_log(&C[POLICE], id), "PERMISSION_DENIED", NULL);
	expect(casekit_status(&C[OTHER_IOM], id), "NOT_FOUND", NULL);
	assert_int_equal(db_int(&R, "SELECT count(*) FROM case_reads WHERE org = 'se-police-noa' "
				    "AND what = 'log'"), 0);
	a = casekit_readers(&C[COORD], id);
	assert_int_equal(a->case_readers->n_reads, 6);
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
	expect(casekit_status(&C[POLICE], "no such case!"), "BAD_REQUEST",
	       "case_id must be 3-64 characters of [A-Za-z0-9-]");
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
	};
	return cmocka_run_group_tests_name("cases", tests, setup, teardown);
}
