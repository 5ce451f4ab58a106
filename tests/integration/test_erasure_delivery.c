/*
 * test_erasure_delivery.c - the relay's Erasure entries are delivered to
 * the case's parties like alerts, against a real vigild over real TLS with
 * the test PKI:
 *
 *   - on the owner's request: a party subscribed at the time gets the
 *     Erasure live (checked as evidence: the relay's signature, the leaf
 *     hash, the signed checkpoint, the inclusion proof), and through
 *     libvigil as VIGIL_EVENT_ERASURE with what, why and on whose request;
 *     a party that was offline gets it by replay on its next subscription;
 *     acknowledged, it is not delivered again; a member that is no party
 *     (no recipient) never gets it; "vigil alerts" prints it;
 *   - by the retention rules: delivered the same way, with reason
 *     retention and no request, and printed by "vigil --json alerts";
 *   - the watchdog and the acknowledgement of alerts do not take it for an
 *     alert: an open alert stays open through an erasure, an AlertAck
 *     naming the Erasure is refused, the real alert is acknowledged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alertkit.h"
#include "casekit.h"
#include "clikit.h"
#include "harness.h"
#include "proto/sealed.h"
#include "proto/status.h"
#include "vigil.h"

#define CASE "se-stockholm-coord/ED-2026-0001"
#define OWNER "se-stockholm-coord"
#define IOM "iom-ru-moscow"
#define POLICE "se-police-noa"
#define SHELTER "se-shelter-1"
#define OUTSIDER "other-coord"          /* the certificate of se-goteborg-coord: no party */
#define REFERENCE "DPO-2026-117"
/* Far more than it takes on an idle machine, so that a loaded one passes. */
#define PATIENCE_MS 10000
/* How long a test waits to be sure that nothing comes. */
#define QUIET_MS 1500

/* The parties of CASE (trelay_open_case) that read its records, as the
 * relay orders them: the Erasure's recipients (police read no records). */
static const char *const PARTIES[] = { IOM, SHELTER, OWNER };

static struct trelay R; /* the relay of the test that runs */

static int teardown(void **state)
{
	(void)state;
	trelay_cleanup(&R);
	memset(&R, 0, sizeof(R));
	return 0;
}

static int setup(void **state)
{
	memset(&R, 0, sizeof(R));
	return alertkit_load_keys(state);
}

/* ---- records ------------------------------------------------------------------------- */

/* A contact attempt by c with outcome and a note sealed to the case's
 * readers; its log index, and its record id in id. */
static uint64_t sealed_contact(struct tclient *c, const char *case_id, int outcome,
			       const char *note, uint8_t id[RECORD_ID_LEN])
{
	Vigil__V1__Record r;
	casekit_record(&r, id, case_id, c->org);
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	ca.channel = VIGIL__V1__CHANNEL__CHANNEL_PHONE;
	ca.outcome = (Vigil__V1__Outcome)outcome;
	ca.attempted_at_ms = r.client_time_ms - 60000;
	r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	r.contact_attempt = &ca;
	struct tsealed s;
	casekit_seal(c, &r, SEALED_NOTE, note, NULL, &s);
	ca.sealed_note = &s.text;
	Vigil__V1__Frame *a = casekit_submit_sealed(c, &r, &s);
	tsealed_free(&s);
	if (!a || a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT)
		fail_msg("contact refused: %s", a && a->msg_case == VIGIL__V1__FRAME__MSG_ERROR
							? a->error->message : c->err);
	uint64_t idx = a->receipt->index;
	frame_free(a);
	return idx;
}

/* The owner's EraseRequest of target (its sealed text, or with whole the
 * record); the request's index (the relay's Erasure follows it), and its
 * record id in req_id. */
static uint64_t erase(struct tclient *owner, const uint8_t target[RECORD_ID_LEN], int whole,
		      uint8_t req_id[RECORD_ID_LEN])
{
	Vigil__V1__Record r;
	casekit_record(&r, req_id, CASE, owner->org);
	Vigil__V1__EraseRequest er = VIGIL__V1__ERASE_REQUEST__INIT;
	er.target_id.data = (uint8_t *)target;
	er.target_id.len = RECORD_ID_LEN;
	er.whole_record = whole;
	er.reason = VIGIL__V1__ERASE_REASON__ERASE_REASON_DATA_SUBJECT_REQUEST;
	er.reference = REFERENCE;
	r.body_case = VIGIL__V1__RECORD__BODY_ERASE_REQUEST;
	r.erase_request = &er;
	Vigil__V1__Frame *a = casekit_submit(owner, &r);
	if (!a || a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT)
		fail_msg("erasure refused: %s", a && a->msg_case == VIGIL__V1__FRAME__MSG_ERROR
							 ? a->error->message : owner->err);
	uint64_t idx = a->receipt->index;
	frame_free(a);
	return idx;
}

/* ---- what was delivered ------------------------------------------------------------------ */

/* g is the relay's Erasure at position of CASE naming the one entry
 * erased, to every party. */
static void expect_erasure(const struct alertkit_got *g, uint64_t position, uint64_t erased,
			   int whole, const uint8_t req_id[RECORD_ID_LEN])
{
	if (g->body != VIGIL__V1__RECORD__BODY_ERASURE)
		fail_msg("the delivery at %llu is of body %d, not an Erasure",
			 (unsigned long long)g->position, g->body);
	assert_int_equal(g->position, position);
	assert_string_equal(g->case_id, CASE);
	assert_int_equal(g->whole_record, whole);
	assert_int_equal(g->reason, VIGIL__V1__ERASE_REASON__ERASE_REASON_DATA_SUBJECT_REQUEST);
	assert_int_equal(g->n_erased, 1);
	assert_int_equal(g->erased[0], erased);
	assert_memory_equal(g->request_id, req_id, RECORD_ID_LEN);
	assert_string_equal(g->requested_by, OWNER);
	assert_string_equal(g->reference, REFERENCE);
	assert_int_equal(g->n_recipients, 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(g->recipients[i], PARTIES[i]);
}

/* The next delivery of s within ms, which must come. */
static void must_deliver(struct alertkit_sub *s, int ms, struct alertkit_got *g, const char *what)
{
	if (!alertkit_next_delivery(s, ms, g))
		fail_msg("no delivery of %s within %d ms (%s)", what, ms, s->c.err);
}

/* Nothing more is delivered to s for QUIET_MS. */
static void expect_nothing(struct alertkit_sub *s, const char *who)
{
	struct alertkit_got g;
	if (alertkit_next_delivery(s, QUIET_MS, &g))
		fail_msg("%s was delivered entry %llu (body %d)", who,
			 (unsigned long long)g.position, g.body);
}

/* ---- libvigil and the tool ---------------------------------------------------------------- */

static vigil_client *connect_as(const char *who)
{
	char port[16], cert[700], key[700], ca[700], ckey[700];
	snprintf(port, sizeof(port), "%d", R.port);
	snprintf(cert, sizeof(cert), "%s.crt", pki(who));
	snprintf(key, sizeof(key), "%s.key", pki(who));
	snprintf(ca, sizeof(ca), "%s", pki("ca.crt"));
	snprintf(ckey, sizeof(ckey), "%s", pki("checkpoint.pub"));
	struct vigil_options o = { .host = "127.0.0.1", .port = port, .cert_file = cert,
		.key_file = key, .ca_file = ca, .checkpoint_key = ckey };
	struct vigil_error err;
	vigil_client *c = NULL;
	if (vigil_connect(&o, &c, &err) != VIGIL_OK)
		fail_msg("vigil_connect as %s: %s", who, err.message);
	return c;
}

/* The next delivery through libvigil: an erasure, verified. */
static void next_erasure(vigil_client *c, struct vigil_alert *a)
{
	struct vigil_error err;
	int rc = vigil_next_alert(c, PATIENCE_MS, a, &err);
	if (rc != VIGIL_OK)
		fail_msg("vigil_next_alert: %d: %s", rc, err.message);
	if (a->event != VIGIL_EVENT_ERASURE)
		fail_msg("event %d, expected an erasure (%d)", a->event, VIGIL_EVENT_ERASURE);
}

/* vigil as who with the arguments up to a NULL. */
static struct cli_result *vigil_as(const char *who, ...)
{
	static struct cli_args a;
	static struct cli_result res;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add_conn(&a, R.port, who, "ca.crt");
	va_list ap;
	va_start(ap, who);
	cli_addv(&a, ap);
	va_end(ap);
	res.status = cli_run(&a, NULL, res.out, sizeof(res.out), res.err, sizeof(res.err));
	return &res;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* The line "vigil alerts" prints for an Erasure of CASE delivered as g. */
static void erasure_line(const struct alertkit_got *g, char *out, size_t n)
{
	char at[VIGIL_TIME_LEN], req[2 * RECORD_ID_LEN + 1];
	vigil_format_time(g->received_at_ms, at, sizeof(at));
	hex(g->request_id, RECORD_ID_LEN, req);
	snprintf(out, n, "%llu %s %s erasure; what: %s; entries: %llu; reason: data-subject-request; "
		 "requested by: %s; request: %s; reference: %s; recipients: %s, %s, %s\n",
		 (unsigned long long)g->position, at, CASE,
		 g->whole_record ? "records" : "sealed-texts", (unsigned long long)g->erased[0],
		 OWNER, req, REFERENCE, PARTIES[0], PARTIES[1], PARTIES[2]);
}

/* ---- the tests ---------------------------------------------------------------------------- */

/*
 * The owner erases a sealed note, then a whole record.  IOM, subscribed,
 * gets each Erasure within a second of its commit; the shelter gets them
 * through libvigil; a coordinator that is no party and the police party
 * (which reads no records) get nothing; the owner, offline, gets the first
 * by replay when it subscribes, and the second live; acknowledged, nothing comes again; the owner's "vigil alerts"
 * prints both and, having acknowledged them, nothing the next time.
 */
static void test_on_request(void **state)
{
	(void)state;
	trelay_setup(&R, NULL, NULL);
	assert_int_equal(trelay_start(&R), 0);
	trelay_open_case(&R, CASE);
	struct tclient iom, owner;
	if (tclient_open(&iom, R.port, IOM) != 0 || tclient_open(&owner, R.port, OWNER) != 0)
		fail_msg("connect: %s %s", iom.err, owner.err);
	struct alertkit_sub s_iom, s_out;
	alertkit_subscribe(&s_iom, R.port, IOM, 0);
	alertkit_subscribe(&s_out, R.port, OUTSIDER, 0);
	/* Police are a party, but read no records: no copies to delete. */
	struct alertkit_sub s_pol;
	alertkit_subscribe(&s_pol, R.port, POLICE, 0);
	vigil_client *shelter = connect_as(SHELTER);
	struct vigil_error err;
	uint64_t acked = 99;
	assert_int_equal(vigil_subscribe(shelter, 0, &acked, &err), VIGIL_OK);
	assert_int_equal(acked, 0);

	uint8_t noted[RECORD_ID_LEN], plain[RECORD_ID_LEN], req[RECORD_ID_LEN], req2[RECORD_ID_LEN];
	uint64_t noted_idx = sealed_contact(&iom, CASE, VIGIL__V1__OUTCOME__OUTCOME_REACHED_CONCERN,
					    "she moved to her aunt's", noted);
	uint64_t plain_idx = sealed_contact(&iom, CASE, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER,
					    "nobody at the door", plain);
	/* Nothing is delivered for records of the case. */
	expect_nothing(&s_iom, IOM);

	/* The content. */
	uint64_t at = erase(&owner, noted, 0, req) + 1;
	struct alertkit_got g, g1;
	must_deliver(&s_iom, PATIENCE_MS, &g1, "the erasure");
	expect_erasure(&g1, at, noted_idx, 0, req);
	if (g1.seen_at_ms - g1.received_at_ms > 1000)
		fail_msg("delivered %lld ms after its commit",
			 (long long)(g1.seen_at_ms - g1.received_at_ms));
	/* It is listed for delivery like an alert: its record id, stage 0,
	 * its recipients. */
	char sql[256], text[512], idhex[2 * RECORD_ID_LEN + 1];
	snprintf(sql, sizeof(sql), "SELECT lower(hex(alert_id)) || ' ' || stage || ' ' || "
		 "replace(recipients, char(10), ',') FROM alerts WHERE position = %llu",
		 (unsigned long long)at);
	assert_int_equal(db_text(&R, sql, text, sizeof(text)), 0);
	hex(g1.record_id, RECORD_ID_LEN, idhex);
	char want[512];
	snprintf(want, sizeof(want), "%s 0 %s,%s,%s", idhex, PARTIES[0], PARTIES[1], PARTIES[2]);
	assert_string_equal(text, want);

	/* Through libvigil, to the shelter, verified. */
	static struct vigil_alert a;
	next_erasure(shelter, &a);
	assert_int_equal(a.position, at);
	assert_string_equal(a.kind, "erasure");
	assert_string_equal(a.case_id, CASE);
	assert_memory_equal(a.record_id, g1.record_id, RECORD_ID_LEN);
	assert_int_equal(a.erase_whole, 0);
	assert_string_equal(a.erase_reason, "data-subject-request");
	assert_string_equal(a.requested_by, OWNER);
	assert_memory_equal(a.request_id, req, RECORD_ID_LEN);
	assert_string_equal(a.erase_reference, REFERENCE);
	assert_int_equal(a.erased_n, 1);
	assert_int_equal(a.erased[0], noted_idx);
	assert_int_equal(a.n_recipients, 3);
	assert_string_equal(a.recipients[1], SHELTER);
	assert_int_equal(a.received_at_ms, g1.received_at_ms);
	assert_true(a.checkpoint.size > at);

	/* No recipient, nothing delivered. */
	expect_nothing(&s_out, "a coordinator that is no party");
	expect_nothing(&s_pol, "the police party");

	/* The owner was offline: it gets the erasure by replay. */
	struct alertkit_sub s_sh;
	alertkit_subscribe(&s_sh, R.port, OWNER, 0);
	assert_int_equal(s_sh.acked, 0);
	must_deliver(&s_sh, PATIENCE_MS, &g, "the erasure by replay");
	expect_erasure(&g, at, noted_idx, 0, req);
	assert_memory_equal(g.record_id, g1.record_id, RECORD_ID_LEN);

	/* IOM acknowledges it; subscribing again, it is not delivered again. */
	alertkit_ack_delivery(&s_iom, at);
	assert_int_equal(alertkit_db_wait(&R, "SELECT position FROM delivery_acks WHERE org = '"
					  IOM "'", (long long)at, PATIENCE_MS),
			 (long long)at);
	tclient_close(&s_iom.c);
	alertkit_subscribe(&s_iom, R.port, IOM, 0);
	assert_int_equal(s_iom.acked, at);
	expect_nothing(&s_iom, "IOM, after its acknowledgement,");

	/* The whole record: live to the subscribers, the owner among them. */
	uint64_t at2 = erase(&owner, plain, 1, req2) + 1;
	must_deliver(&s_iom, PATIENCE_MS, &g, "the second erasure");
	expect_erasure(&g, at2, plain_idx, 1, req2);
	must_deliver(&s_sh, PATIENCE_MS, &g, "the second erasure to the owner");
	expect_erasure(&g, at2, plain_idx, 1, req2);
	struct alertkit_got g2 = g;
	next_erasure(shelter, &a);
	assert_int_equal(a.position, at2);
	assert_int_equal(a.erase_whole, 1);
	assert_int_equal(a.erased[0], plain_idx);
	expect_nothing(&s_out, "a coordinator that is no party");
	expect_nothing(&s_pol, "the police party");
	assert_int_equal(vigil_ack_deliveries(shelter, at2, &err), VIGIL_OK);
	assert_int_equal(alertkit_db_wait(&R, "SELECT position FROM delivery_acks WHERE org = '"
					  SHELTER "'", (long long)at2, PATIENCE_MS),
			 (long long)at2);
	vigil_close(&shelter);
	tclient_close(&s_pol.c);

	/* The owner's tool, never subscribed before: both, by replay. */
	struct cli_result *r = vigil_as(OWNER, "alerts", NULL);
	cli_expect_ok(r);
	char lines[2][1024];
	erasure_line(&g1, lines[0], sizeof(lines[0]));
	erasure_line(&g2, lines[1], sizeof(lines[1]));
	char both[2048];
	snprintf(both, sizeof(both), "%s%s", lines[0], lines[1]);
	assert_string_equal(r->out, both);
	/* Printed, so acknowledged: nothing the next time. */
	assert_int_equal(alertkit_db_wait(&R, "SELECT position FROM delivery_acks WHERE org = '"
					  OWNER "'", (long long)at2, PATIENCE_MS),
			 (long long)at2);
	r = vigil_as(OWNER, "alerts", NULL);
	cli_expect_ok(r);
	assert_string_equal(r->out, "");

	tclient_close(&s_iom.c);
	tclient_close(&s_out.c);
	tclient_close(&s_sh.c);
	tclient_close(&iom);
	tclient_close(&owner);
	assert_int_equal(trelay_stop(&R), 0);
	trelay_cleanup(&R);
	memset(&R, 0, sizeof(R));
}

/*
 * [retention] content_after_close = 2s: two seconds after the owner closes
 * the case the relay erases its sealed notes with one Erasure entry
 * (reason retention, no request), delivered live to IOM, never to a
 * member that is no party, and by replay to the shelter's "vigil --json
 * alerts", which acknowledges it.
 */
static void test_retention(void **state)
{
	(void)state;
	trelay_setup(&R, NULL, "[retention]\ncontent_after_close = 2s\n");
	assert_int_equal(trelay_start(&R), 0);
	trelay_open_case(&R, CASE);
	struct tclient iom, owner;
	if (tclient_open(&iom, R.port, IOM) != 0 || tclient_open(&owner, R.port, OWNER) != 0)
		fail_msg("connect: %s %s", iom.err, owner.err);
	struct alertkit_sub s_iom, s_out;
	alertkit_subscribe(&s_iom, R.port, IOM, 0);
	alertkit_subscribe(&s_out, R.port, OUTSIDER, 0);
	uint8_t id[RECORD_ID_LEN];
	uint64_t n1 = sealed_contact(&iom, CASE, VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE,
				     "settled in", id);
	uint64_t n2 = sealed_contact(&iom, CASE, VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE,
				     "working again", id);
	Vigil__V1__Frame *f = casekit_close(&owner, CASE);
	assert_int_equal(f->msg_case, VIGIL__V1__FRAME__MSG_RECEIPT);
	int64_t closed = f->receipt->received_at_ms;
	frame_free(f);

	struct alertkit_got g;
	must_deliver(&s_iom, 2000 + PATIENCE_MS, &g, "the retention erasure");
	assert_int_equal(g.body, VIGIL__V1__RECORD__BODY_ERASURE);
	if (g.received_at_ms - closed < 2000)
		fail_msg("erased %lld ms after the close, before content_after_close",
			 (long long)(g.received_at_ms - closed));
	if (g.seen_at_ms - g.received_at_ms > 1000)
		fail_msg("delivered %lld ms after its commit",
			 (long long)(g.seen_at_ms - g.received_at_ms));
	assert_string_equal(g.case_id, CASE);
	assert_int_equal(g.reason, VIGIL__V1__ERASE_REASON__ERASE_REASON_RETENTION);
	assert_int_equal(g.whole_record, 0);
	assert_int_equal(g.n_erased, 2);
	assert_int_equal(g.erased[0], n1);
	assert_int_equal(g.erased[1], n2);
	static const uint8_t zeros[RECORD_ID_LEN];
	assert_memory_equal(g.request_id, zeros, RECORD_ID_LEN);
	assert_string_equal(g.requested_by, "");
	assert_string_equal(g.reference, "");
	assert_int_equal(g.n_recipients, 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(g.recipients[i], PARTIES[i]);
	expect_nothing(&s_out, "a coordinator that is no party");
	expect_nothing(&s_iom, IOM); /* one batch, one entry */

	/* The shelter's tool, offline until now: the erasure by replay. */
	struct cli_result *r = vigil_as(SHELTER, "--json", "alerts", NULL);
	cli_expect_ok(r);
	char keys[512];
	jkeys(r->out, keys, sizeof(keys));
	assert_string_equal(keys, "position,received_at,case_id,kind,whole_record,entries,reason,"
				  "requested_by,request_id,reference,recipients,record_id,"
				  "leaf_hash,checkpoint_size");
	assert_int_equal(jnum(jmust(r->out, "position")), g.position);
	expect_member(r->out, "case_id", CASE);
	expect_member(r->out, "kind", "erasure");
	expect_member(r->out, "reason", "retention");
	assert_int_equal(strncmp(jmust(r->out, "whole_record"), "false,", 6), 0);
	assert_int_equal(strncmp(jmust(r->out, "requested_by"), "null,", 5), 0);
	assert_int_equal(strncmp(jmust(r->out, "request_id"), "null,", 5), 0);
	assert_int_equal(strncmp(jmust(r->out, "reference"), "null,", 5), 0);
	const char *entries = jmust(r->out, "entries");
	assert_int_equal(jnum(jnth(entries, 0)), n1);
	assert_int_equal(jnum(jnth(entries, 1)), n2);
	assert_null(jnth(entries, 2));
	const char *to = jmust(r->out, "recipients");
	for (size_t i = 0; i < 3; i++) {
		char org[80];
		jstr(jnth(to, i), org, sizeof(org));
		assert_string_equal(org, PARTIES[i]);
	}
	char idhex[2 * RECORD_ID_LEN + 1];
	hex(g.record_id, RECORD_ID_LEN, idhex);
	expect_member(r->out, "record_id", idhex);
	/* One line, and acknowledged: nothing the next time, once the relay
	 * has stored the acknowledgement (its writer does, after the tool has
	 * gone). */
	assert_non_null(strchr(r->out, '\n'));
	assert_string_equal(strchr(r->out, '\n'), "\n");
	char acked[160];
	snprintf(acked, sizeof(acked), "SELECT coalesce((SELECT position FROM delivery_acks WHERE "
		 "org = '%s'), -1)", SHELTER);
	assert_int_equal(alertkit_db_wait(&R, acked, (long long)g.position, 10000),
			 (long long)g.position);
	r = vigil_as(SHELTER, "alerts", NULL);
	cli_expect_ok(r);
	assert_string_equal(r->out, "");

	tclient_close(&s_iom.c);
	tclient_close(&s_out.c);
	tclient_close(&iom);
	tclient_close(&owner);
	assert_int_equal(trelay_stop(&R), 0);
	trelay_cleanup(&R);
	memset(&R, 0, sizeof(R));
}

/*
 * A case with an open silence alert (high risk, a window of 2 s): an
 * erasure in between leaves the alert open (status stage 1), is delivered
 * to the coordinator as an Erasure, not as an alert, and is no alert to
 * acknowledge; the open alert still is.
 */
static void test_open_alert_untouched(void **state)
{
	(void)state;
	trelay_setup(&R, NULL, "[watchdog]\nhigh = 2s\nmedium = 1h\nlow = 1h\n"
			       "failed_attempts = 3\nhandover_window = 1h\nescalate_after = 1h\n");
	assert_int_equal(trelay_start(&R), 0);
	struct tclient iom, owner;
	if (tclient_open(&iom, R.port, IOM) != 0 || tclient_open(&owner, R.port, OWNER) != 0)
		fail_msg("connect: %s %s", iom.err, owner.err);
	struct alertkit_sub s;
	alertkit_subscribe(&s, R.port, OWNER, 0);
	static const char *const parties[] = { IOM, POLICE, SHELTER };
	alertkit_open_case(&owner, CASE, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0, parties, 3);
	struct alertkit_got alert, g;
	alertkit_must_alert(&s, 2000 + PATIENCE_MS, &alert, "the silence alert");
	assert_int_equal(alert.stage, 1);

	uint8_t noted[RECORD_ID_LEN], req[RECORD_ID_LEN];
	uint64_t noted_idx = sealed_contact(&iom, CASE, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER,
					    "the phone was off", noted);
	uint64_t at = erase(&owner, noted, 0, req) + 1;
	must_deliver(&s, PATIENCE_MS, &g, "the erasure");
	expect_erasure(&g, at, noted_idx, 0, req);

	/* The alert is still the case's open one. */
	Vigil__V1__Frame *f = casekit_status(&owner, CASE);
	assert_int_equal(f->msg_case, VIGIL__V1__FRAME__MSG_CASE_STATUS);
	assert_int_equal(f->case_status->alert_stage, 1);
	frame_free(f);
	char sql[256], text[128], idhex[2 * RECORD_ID_LEN + 1];
	hex(alert.alert_id, RECORD_ID_LEN, idhex);
	snprintf(sql, sizeof(sql), "SELECT lower(hex(alert_id)) FROM cases WHERE case_id = '%s'",
		 CASE);
	assert_int_equal(db_text(&R, sql, text, sizeof(text)), 0);
	assert_string_equal(text, idhex);
	/* An erasure is no alert to acknowledge; the open alert is. */
	alertkit_expect_error(alertkit_alert_ack(&owner, CASE, g.record_id,
						 VIGIL__V1__ACK_DECISION__ACK_DECISION_POLICE_REPORT_FILED),
			      VG_EBADREQ, "that alert is not open");
	alertkit_expect_receipt(alertkit_alert_ack(&owner, CASE, alert.alert_id,
						   VIGIL__V1__ACK_DECISION__ACK_DECISION_POLICE_REPORT_FILED));
	f = casekit_status(&owner, CASE);
	assert_int_equal(f->case_status->alert_stage, 1); /* acknowledged, not resolved */
	frame_free(f);
	assert_int_equal(db_int(&R, "SELECT alert_acked FROM cases WHERE case_id = '" CASE "'"), 1);

	tclient_close(&s.c);
	tclient_close(&iom);
	tclient_close(&owner);
	assert_int_equal(trelay_stop(&R), 0);
	trelay_cleanup(&R);
	memset(&R, 0, sizeof(R));
}


/*
 * record_after_close erases a closed case's alerts with its other records:
 * an erased alert is delivered no more (it has no record left to verify),
 * so an organisation that was offline gets the Erasure by replay, and its
 * tool goes on past it.
 */
static void test_erased_alert_not_replayed(void **state)
{
	(void)state;
	trelay_setup(&R, NULL, "[watchdog]\nhigh = 2s\nmedium = 1h\nlow = 1h\n"
			       "escalate_after = 1h\nfailed_attempts = 1000\n"
			       "[retention]\ncontent_after_close = off\nrecord_after_close = 2s\n");
	assert_int_equal(trelay_start(&R), 0);
	struct tclient owner;
	if (tclient_open(&owner, R.port, OWNER) != 0)
		fail_msg("connect: %s", owner.err);
	struct alertkit_sub s_own;
	alertkit_subscribe(&s_own, R.port, OWNER, 0);
	static const char *const parties[] = { IOM, SHELTER };
	alertkit_open_case(&owner, CASE, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0, parties, 2);
	struct alertkit_got g;
	must_deliver(&s_own, 2000 + PATIENCE_MS, &g, "the silence alert");
	assert_int_equal(g.body, VIGIL__V1__RECORD__BODY_ALERT);
	uint64_t alert_at = g.position;
	Vigil__V1__Frame *f = casekit_close(&owner, CASE);
	assert_int_equal(f->msg_case, VIGIL__V1__FRAME__MSG_RECEIPT);
	frame_free(f);
	/* Retention erases the records, the alert's among them. */
	for (;;) {
		must_deliver(&s_own, 2000 + PATIENCE_MS, &g, "the retention erasure");
		if (g.body == VIGIL__V1__RECORD__BODY_ERASURE)
			break;
	}
	assert_int_equal(g.whole_record, 1);
	char sql[200];
	snprintf(sql, sizeof(sql), "SELECT length(record) FROM entries WHERE idx = %llu",
		 (unsigned long long)alert_at);
	assert_int_equal(db_int(&R, sql), 0);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM alerts WHERE position = %llu",
		 (unsigned long long)alert_at);
	assert_int_equal(db_int(&R, sql), 0);
	assert_int_equal(db_int(&R, "SELECT count(*) FROM alerts a JOIN entries e ON "
				    "e.idx = a.position WHERE length(e.record) = 0"),
			 0);
	/* The shelter, offline all along: the Erasure, and nothing it cannot
	 * verify. */
	struct cli_result *r = vigil_as(SHELTER, "alerts", NULL);
	cli_expect_ok(r);
	if (!strstr(r->out, " erasure; what: records; "))
		fail_msg("no erasure in: %s", r->out);
	tclient_close(&s_own.c);
	tclient_close(&owner);
	assert_int_equal(trelay_stop(&R), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_on_request, teardown),
		cmocka_unit_test_teardown(test_retention, teardown),
		cmocka_unit_test_teardown(test_open_alert_untouched, teardown),
		cmocka_unit_test_teardown(test_erased_alert_not_replayed, teardown),
	};
	return cmocka_run_group_tests_name("erasure delivery", tests, setup, alertkit_free_keys);
}
