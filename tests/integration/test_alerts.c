/*
 * The silence watchdog, alerts and their delivery, black-box, with windows
 * of seconds: a real relay, real subscribers over TLS, the alert entries in
 * the real database, and every delivered alert checked as evidence (the
 * relay's signature, the inclusion proof, the signed checkpoint).
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
#include <unistd.h>

#include <openssl/rand.h>

#include "alertkit.h"
#include "casekit.h"
#include "harness.h"
#include "proto/status.h"

/* high 2 s, medium 3 s, low 1 h; three failed attempts; 2 s to escalate or
 * to answer a handover. */
/* Case ids are qualified by their owner, the Stockholm coordinator. */
#define OWNER "se-stockholm-coord/"

#define WATCH "[watchdog]\nhigh = 2s\nmedium = 3s\nlow = 1h\nfailed_attempts = 3\n" \
	      "handover_window = 2s\nescalate_after = 2s\n"
/* The same without escalation, for tests that look at stage 1 for longer. */
#define WATCH_NO_ESCALATION "[watchdog]\nhigh = 2s\nmedium = 3s\nlow = 1h\n" \
			    "failed_attempts = 3\nhandover_window = 1h\nescalate_after = 1h\n"
/* How long a test waits for what must come: far more than it takes on an
 * idle machine, so that a loaded one (sanitizers, ctest -j) passes too.
 * The checks that something did not come early use the relay's own times
 * (received_at_ms), which no load can make earlier. */
#define PATIENCE_MS 10000
/* How late after its due time an alert may be committed and still count as
 * on time: the watchdog looks at the due time, so this is load only. */
#define LATE_MS 5000

static const char *const PARTIES[] = { "iom-ru-moscow", "se-police-noa", "se-goteborg-coord",
				      "se-shelter-1" };

/* The relay and the connections that submit records.  Only the
 * coordinator connects at the start: the relay knows every party's role
 * from its member directory, so nobody connects just to be known. */
struct world {
	struct trelay t;
	struct tclient coord, iom, police;
};

static void world_up(struct world *w, const char *watch)
{
	memset(w, 0, sizeof(*w));
	w->coord.fd = w->iom.fd = w->police.fd = -1;
	trelay_setup(&w->t, NULL, watch);
	assert_int_equal(trelay_start(&w->t), 0);
	if (tclient_open(&w->coord, w->t.port, "se-stockholm-coord"))
		fail_msg("connect: %s", w->coord.err);
}

/* c, connected as cert the first time it is needed. */
static struct tclient *as(struct world *w, struct tclient *c, const char *cert)
{
	if (c->fd < 0 && tclient_open(c, w->t.port, cert) != 0)
		fail_msg("%s cannot connect: %s", cert, c->err);
	return c;
}

static void world_down(struct world *w)
{
	tclient_close(&w->coord);
	tclient_close(&w->iom);
	tclient_close(&w->police);
	assert_int_equal(trelay_stop(&w->t), 0);
	trelay_cleanup(&w->t);
}

#define IOM "iom-ru-moscow"
#define POLICE "se-police-noa"

/* Silence: nothing before the window, the alert after it, to the
 * responsible organisation, both coordinator parties and the shelter party
 * (none of which connected before) within a second of its commit; a
 * successful contact resolves it, the resolution is delivered too, and the
 * next deadline counts from that contact. */
static void test_silence_and_resolution(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, WATCH_NO_ESCALATION);
	struct alertkit_sub s1, s2, sp;
	alertkit_subscribe(&s1, w.t.port, "se-stockholm-coord", 0);
	alertkit_subscribe(&s2, w.t.port, "other-coord", 0);
	alertkit_subscribe(&sp, w.t.port, POLICE, 0);
	int64_t opened = alertkit_wall_ms();
	alertkit_open_case(&w.coord, OWNER "A-silence", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0,
			   PARTIES, 4);
	struct alertkit_got g, g2, gp;
	/* The first delivery, committed when the window ended, not before
	 * (the relay's commit time: a delivery cannot come before it). */
	alertkit_must_alert(&s1, 2000 + PATIENCE_MS, &g, "the silence alert");
	if (g.received_at_ms - opened < 2000)
		fail_msg("alert after %lld ms, before the 2 s window",
			 (long long)(g.received_at_ms - opened));
	if (g.seen_at_ms - g.received_at_ms > 1000)
		fail_msg("delivered %lld ms after its commit", (long long)(g.seen_at_ms - g.received_at_ms));
	assert_int_equal(g.kind, VIGIL__V1__ALERT_KIND__ALERT_KIND_SILENCE);
	assert_int_equal(g.stage, 1);
	assert_int_equal(g.police, VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_NONE);
	assert_string_equal(g.cause, "");
	assert_string_equal(g.case_id, OWNER "A-silence");
	/* Stage 1: the responsible organisation, the coordinator and the
	 * shelter parties, by their directory roles. */
	assert_int_equal(g.n_recipients, 3);
	assert_string_equal(g.recipients[0], "se-stockholm-coord");
	assert_true(alertkit_has_recipient(&g, "se-goteborg-coord"));
	assert_true(alertkit_has_recipient(&g, "se-shelter-1"));
	/* Both coordinators, within a second of the commit. */
	alertkit_must_alert(&s2, PATIENCE_MS, &g2, "the alert to the other coordinator");
	assert_int_equal(g2.position, g.position);
	if (g2.seen_at_ms - g2.received_at_ms > 1000)
		fail_msg("delivered %lld ms after its commit",
			 (long long)(g2.seen_at_ms - g2.received_at_ms));
	/* Stage 1 is not for the police. */
	assert_int_equal(alertkit_next_alert(&sp, 1000, &gp), 0);
	assert_int_equal(db_int(&w.t, "SELECT count(*) FROM alerts"), 1);

	/* IOM reaches her: the alert is resolved, and that is an entry too. */
	int64_t reached = alertkit_wall_ms();
	alertkit_expect_receipt(alertkit_contact_now(as(&w, &w.iom, IOM), OWNER "A-silence",
						     VIGIL__V1__CHANNEL__CHANNEL_PHONE,
						     VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE));
	alertkit_must_alert(&s1, PATIENCE_MS, &g2, "the resolution");
	assert_int_equal(g2.stage, 0);
	assert_string_equal(g2.resolution, "contact");
	assert_memory_equal(g2.alert_id, g.alert_id, RECORD_ID_LEN);
	assert_true(g2.last_success_ms >= reached);
	/* The deadline moved with the contact: the next delivery is a new
	 * alert (not a re-raise after an acknowledgement) 2 s after it. */
	struct alertkit_got again;
	alertkit_must_alert(&s1, 2000 + PATIENCE_MS, &again, "the next silence alert");
	if (again.received_at_ms - reached < 2000)
		fail_msg("a new alert %lld ms after the contact, before the 2 s window",
			 (long long)(again.received_at_ms - reached));
	assert_int_equal(again.stage, 1);
	assert_string_equal(again.cause, "");
	assert_memory_not_equal(again.alert_id, g.alert_id, RECORD_ID_LEN);
	tclient_close(&s1.c);
	tclient_close(&s2.c);
	tclient_close(&sp.c);
	world_down(&w);
}

/* Failed attempts on two channels raise the alert before the deadline. */
static void test_failed_attempts_fire_early(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, "[watchdog]\nhigh = 1h\nmedium = 1h\nlow = 1h\nfailed_attempts = 3\n");
	struct alertkit_sub s;
	alertkit_subscribe(&s, w.t.port, "se-stockholm-coord", 0);
	alertkit_open_case(&w.coord, OWNER "A-failed", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0,
			   PARTIES, 4);
	struct tclient *iom = as(&w, &w.iom, IOM);
	alertkit_expect_receipt(alertkit_contact_now(iom, OWNER "A-failed",
						     VIGIL__V1__CHANNEL__CHANNEL_PHONE,
						     VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER));
	alertkit_expect_receipt(alertkit_contact_now(iom, OWNER "A-failed",
						     VIGIL__V1__CHANNEL__CHANNEL_PHONE,
						     VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER));
	struct alertkit_got g;
	assert_int_equal(alertkit_next_alert(&s, 1000, &g), 0); /* two, one channel: not yet */
	alertkit_expect_receipt(alertkit_contact_now(iom, OWNER "A-failed",
						     VIGIL__V1__CHANNEL__CHANNEL_SMS,
						     VIGIL__V1__OUTCOME__OUTCOME_UNDELIVERED));
	alertkit_must_alert(&s, PATIENCE_MS, &g, "the failed-attempts alert");
	assert_int_equal(g.kind, VIGIL__V1__ALERT_KIND__ALERT_KIND_FAILED_ATTEMPTS);
	assert_int_equal(g.stage, 1);
	assert_int_equal(g.failed_attempts, 3);
	tclient_close(&s.c);
	world_down(&w);
}

/* A minor: straight to stage 2, police told at once, report required. */
static void test_minor_escalates_at_once(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, WATCH);
	struct alertkit_sub sp;
	alertkit_subscribe(&sp, w.t.port, POLICE, 0);
	int64_t opened = alertkit_wall_ms();
	alertkit_open_case(&w.coord, OWNER "A-minor", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 1,
			   PARTIES, 4);
	struct alertkit_got g;
	alertkit_must_alert(&sp, PATIENCE_MS, &g, "the minor's alert");
	assert_true(g.received_at_ms - opened >= 2000);
	assert_int_equal(g.stage, 2);
	assert_int_equal(g.police, VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_REQUIRED);
	assert_true(alertkit_has_recipient(&g, POLICE));
	assert_true(alertkit_has_recipient(&g, "se-shelter-1"));
	assert_false(alertkit_has_recipient(&g, IOM));
	assert_int_equal(db_int(&w.t, "SELECT count(*) FROM alerts WHERE stage = 1"), 0);
	tclient_close(&sp.c);
	world_down(&w);
}

/* Collects the deliveries to s until t; fails the test when one is the
 * stage-2 entry of alert_id. */
static void expect_no_escalation_until(struct alertkit_sub *s, int64_t t,
				       const uint8_t *alert_id)
{
	struct alertkit_got g;
	while (alertkit_wall_ms() < t) {
		if (!alertkit_next_alert(s, alertkit_until(t), &g))
			break;
		if (g.stage == 2 && memcmp(g.alert_id, alert_id, RECORD_ID_LEN) == 0)
			fail_msg("the acknowledged alert of %s escalated at %lld", g.case_id,
				 (long long)g.received_at_ms);
	}
}

/* No acknowledgement: stage 2 goes to the police after escalate_after; an
 * acknowledgement stops the escalation of that alert.  Continued silence
 * ends the acknowledged alert (superseded) one window after the
 * acknowledgement and raises a new one in the same commit. */
static void test_escalation_and_ack(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, WATCH);
	struct alertkit_sub sc, sp;
	alertkit_subscribe(&sc, w.t.port, "se-stockholm-coord", 0);
	alertkit_subscribe(&sp, w.t.port, POLICE, 0);
	/* The police's submitting connection is opened now, before the
	 * alerts: between the raise and the acknowledgement, which must come
	 * within the 2 s escalate_after, there are only round trips on open
	 * connections (a handshake there costs hundreds of ms under load). */
	as(&w, &w.police, POLICE);
	alertkit_open_case(&w.coord, OWNER "A-esc", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0,
			   PARTIES, 4);
	alertkit_open_case(&w.coord, OWNER "A-acked", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0,
			   PARTIES, 4);
	struct alertkit_got a1, a2, g;
	alertkit_must_alert(&sc, PATIENCE_MS, &a1, "the first alert");
	alertkit_must_alert(&sc, PATIENCE_MS, &a2, "the second alert");
	struct alertkit_got *acked = !strcmp(a1.case_id, OWNER "A-acked") ? &a1 : &a2;
	struct alertkit_got *open = acked == &a1 ? &a2 : &a1;
	assert_string_equal(open->case_id, OWNER "A-esc");
	assert_int_equal(open->stage, 1);
	assert_int_equal(acked->stage, 1);
	/* Who may acknowledge, and what. */
	alertkit_expect_error(alertkit_alert_ack(&w.police, OWNER "A-acked", acked->alert_id,
						 VIGIL__V1__ACK_DECISION__ACK_DECISION_POLICE_REPORT_FILED),
			      VG_EPERM, "only a coordinator party or the responsible organisation "
					"acknowledges an alert");
	uint8_t bogus[RECORD_ID_LEN];
	RAND_bytes(bogus, sizeof(bogus));
	alertkit_expect_error(alertkit_alert_ack(&w.coord, OWNER "A-acked", bogus,
						 VIGIL__V1__ACK_DECISION__ACK_DECISION_POLICE_REPORT_FILED),
			      VG_EBADREQ, "that alert is not open");
	int64_t acked_at = alertkit_expect_receipt_at(
		alertkit_alert_ack(&w.coord, OWNER "A-acked", acked->alert_id,
				   VIGIL__V1__ACK_DECISION__ACK_DECISION_NOT_FILED));
	/* Only the unacknowledged one escalates, to the police as well. */
	alertkit_must_alert(&sp, PATIENCE_MS, &g, "the escalation");
	assert_string_equal(g.case_id, OWNER "A-esc");
	assert_int_equal(g.stage, 2);
	assert_true(g.received_at_ms - open->received_at_ms >= 2000);
	assert_int_equal(g.police, VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_CONSIDER);
	assert_memory_equal(g.alert_id, open->alert_id, RECORD_ID_LEN);
	assert_string_equal(g.cause, "");
	assert_true(alertkit_has_recipient(&g, POLICE));
	assert_true(alertkit_has_recipient(&g, "se-stockholm-coord"));
	/* The coordinator, in order: that escalation (due 2 s after a raise
	 * that came before the acknowledgement), then the end of the
	 * acknowledged alert one window after the acknowledgement, then the
	 * new alert, in the same commit at the next position. */
	struct alertkit_got esc, end, again;
	alertkit_must_alert(&sc, PATIENCE_MS, &esc, "the escalation to the coordinator");
	assert_int_equal(esc.position, g.position);
	alertkit_must_alert(&sc, 2000 + PATIENCE_MS, &end, "the end of the acknowledged alert");
	assert_string_equal(end.case_id, OWNER "A-acked");
	assert_int_equal(end.kind, VIGIL__V1__ALERT_KIND__ALERT_KIND_SILENCE);
	assert_int_equal(end.stage, 0);
	assert_string_equal(end.resolution, "superseded");
	assert_string_equal(end.cause, "");
	assert_memory_equal(end.alert_id, acked->alert_id, RECORD_ID_LEN);
	assert_int_equal(end.police, VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_NONE);
	if (end.received_at_ms < acked_at + 2000 || end.received_at_ms > acked_at + 2000 + LATE_MS)
		fail_msg("the acknowledged alert ended %lld ms after the acknowledgement; the "
			 "window is 2 s", (long long)(end.received_at_ms - acked_at));
	/* To the recipients of its last stage, 1: not the police. */
	assert_int_equal(end.n_recipients, 3);
	assert_int_equal(end.n_recipients, acked->n_recipients);
	for (size_t i = 0; i < acked->n_recipients; i++)
		assert_string_equal(end.recipients[i], acked->recipients[i]);
	assert_string_equal(end.recipients[0], "se-stockholm-coord");
	assert_true(alertkit_has_recipient(&end, "se-goteborg-coord"));
	assert_true(alertkit_has_recipient(&end, "se-shelter-1"));
	assert_false(alertkit_has_recipient(&end, POLICE));
	alertkit_must_alert(&sc, PATIENCE_MS, &again, "the alert raised after the acknowledgement");
	assert_int_equal(again.position, end.position + 1);
	assert_int_equal(again.received_at_ms, end.received_at_ms);
	assert_string_equal(again.case_id, OWNER "A-acked");
	assert_int_equal(again.kind, VIGIL__V1__ALERT_KIND__ALERT_KIND_SILENCE);
	assert_int_equal(again.stage, 1);
	assert_string_equal(again.cause, "after-ack");
	assert_int_equal(again.police, VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_NONE);
	assert_memory_not_equal(again.alert_id, acked->alert_id, RECORD_ID_LEN);
	assert_false(alertkit_has_recipient(&again, POLICE));
	/* Well past the time the acknowledged alert would have escalated: it
	 * did not.  (The new alert escalates in its turn: another alert id.) */
	expect_no_escalation_until(&sp, acked->received_at_ms + 2000 + 2500, acked->alert_id);
	/* The acknowledged alert has exactly its raise and its end. */
	alertkit_expect_raise_and_end(&w.t, acked->alert_id, acked->position, end.position);
	/* The relay raises alerts; nobody else may. */
	{
		uint8_t id[RECORD_ID_LEN];
		Vigil__V1__Record r;
		casekit_record(&r, id, OWNER "A-esc", "se-stockholm-coord");
		Vigil__V1__Alert al = VIGIL__V1__ALERT__INIT;
		al.kind = VIGIL__V1__ALERT_KIND__ALERT_KIND_SILENCE;
		al.stage = 1;
		al.alert_id.data = id;
		al.alert_id.len = RECORD_ID_LEN;
		r.body_case = VIGIL__V1__RECORD__BODY_ALERT;
		r.alert = &al;
		alertkit_expect_error(casekit_submit(&w.coord, &r), VG_EPERM,
				      "alerts are raised by the relay only");
	}
	tclient_close(&sc.c);
	tclient_close(&sp.c);
	world_down(&w);
}

/* An organisation offline during the alert (one that never connected
 * before) gets it when it subscribes, and not again once it has
 * acknowledged it. */
static void test_offline_replay_and_ack(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, WATCH_NO_ESCALATION);
	alertkit_open_case(&w.coord, OWNER "A-offline", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0,
			   PARTIES, 4);
	/* Wait for the alert to be committed, nobody subscribed. */
	alertkit_db_wait(&w.t, "SELECT count(*) FROM alerts", 1, PATIENCE_MS);
	assert_int_equal(db_int(&w.t, "SELECT count(*) FROM alerts"), 1);
	assert_false(trelay_log_has(&w.t, ": se-goteborg-coord (", 0));
	struct alertkit_sub s;
	alertkit_subscribe(&s, w.t.port, "other-coord", 0);
	assert_int_equal(s.acked, 0);
	struct alertkit_got g;
	alertkit_must_alert(&s, PATIENCE_MS, &g, "the replay");
	assert_string_equal(g.case_id, OWNER "A-offline");
	assert_true(alertkit_has_recipient(&g, "se-goteborg-coord"));
	alertkit_ack_delivery(&s, g.position);
	/* The acknowledgement has no answer: wait, on the open connection,
	 * until the relay stored it (closing first could lose it). */
	const char *stored_ack = "SELECT coalesce((SELECT position FROM delivery_acks WHERE "
				 "org = 'se-goteborg-coord'), -1)";
	alertkit_db_wait(&w.t, stored_ack, (long long)g.position, PATIENCE_MS);
	assert_int_equal(db_int(&w.t, stored_ack), (long long)g.position);
	tclient_close(&s.c);
	alertkit_subscribe(&s, w.t.port, "other-coord", 0);
	assert_int_equal(s.acked, g.position);
	assert_int_equal(alertkit_next_alert(&s, 1000, &g), 0);
	tclient_close(&s.c);
	/* Another organisation's acknowledgement is its own. */
	alertkit_subscribe(&s, w.t.port, "se-stockholm-coord", 0);
	alertkit_must_alert(&s, PATIENCE_MS, &g, "the coordinator's replay");
	tclient_close(&s.c);
	/* An acknowledgement of a position beyond the log is refused. */
	alertkit_subscribe(&s, w.t.port, "se-stockholm-coord", 0);
	alertkit_ack_delivery(&s, 1000000);
	Vigil__V1__Frame *f;
	while (tclient_recv(&s.c, &f, PATIENCE_MS) == 0 &&
	       f->msg_case == VIGIL__V1__FRAME__MSG_DELIVERY)
		frame_free(f);
	assert_int_equal(f->msg_case, VIGIL__V1__FRAME__MSG_ERROR);
	assert_true(strstr(f->error->message, "is beyond the log") != NULL);
	frame_free(f);
	tclient_close(&s.c);
	world_down(&w);
}

/* A deadline that passed while the relay was stopped fires at start-up,
 * not one window after it. */
static void test_deadline_passed_while_down(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, "[watchdog]\nhigh = 1h\nmedium = 6s\nlow = 1h\nescalate_after = 1h\n");
	int64_t opened = alertkit_wall_ms();
	alertkit_open_case(&w.coord, OWNER "A-down", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM, 0,
			   PARTIES, 4);
	tclient_close(&w.coord);
	assert_int_equal(trelay_stop(&w.t), 0);
	assert_int_equal(db_int(&w.t, "SELECT count(*) FROM alerts"), 0);
	alertkit_sleep_until(opened + 7000); /* the 6 s medium window ends while the relay is down */
	int64_t t0 = alertkit_wall_ms();
	assert_int_equal(trelay_start(&w.t), 0);
	int n = (int)alertkit_db_wait(&w.t, "SELECT count(*) FROM alerts", 1, PATIENCE_MS);
	assert_int_equal(n, 1);
	/* Committed at start-up: well before a window counted from the start
	 * could have ended. */
	long long at = db_int(&w.t, "SELECT received_at_ms FROM entries WHERE idx = "
			      "(SELECT position FROM alerts)");
	if (at - t0 >= 6000)
		fail_msg("the missed deadline fired %lld ms after the restart", at - t0);
	assert_true(trelay_log_has(&w.t, "alert silence stage 1 (raised) for case " OWNER "A-down",
				   PATIENCE_MS));
	assert_int_equal(trelay_stop(&w.t), 0);
	trelay_cleanup(&w.t);
}

/* An offer left unanswered: the offering organisation is told, once. */
static void test_handover_stalled(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, "[watchdog]\nhigh = 1h\nmedium = 1h\nlow = 1h\nhandover_window = 2s\n");
	struct alertkit_sub s;
	alertkit_subscribe(&s, w.t.port, "se-stockholm-coord", 0);
	alertkit_open_case(&w.coord, OWNER "A-stall", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0,
			   PARTIES, 4);
	uint8_t offer[RECORD_ID_LEN];
	int64_t offered = alertkit_wall_ms();
	alertkit_expect_receipt(casekit_offer(&w.coord, OWNER "A-stall", IOM, offer, 1));
	struct alertkit_got g;
	alertkit_must_alert(&s, 2000 + PATIENCE_MS, &g, "the stalled-handover alert");
	assert_true(g.received_at_ms - offered >= 2000);
	assert_int_equal(g.kind, VIGIL__V1__ALERT_KIND__ALERT_KIND_HANDOVER_STALLED);
	assert_int_equal(g.stage, 1);
	assert_int_equal(g.n_recipients, 1);
	assert_string_equal(g.recipients[0], "se-stockholm-coord");
	/* Once per offer. */
	assert_int_equal(alertkit_next_alert(&s, 2500, &g), 0);
	tclient_close(&s.c);
	world_down(&w);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_silence_and_resolution),
		cmocka_unit_test(test_failed_attempts_fire_early),
		cmocka_unit_test(test_minor_escalates_at_once),
		cmocka_unit_test(test_escalation_and_ack),
		cmocka_unit_test(test_offline_replay_and_ack),
		cmocka_unit_test(test_deadline_passed_while_down),
		cmocka_unit_test(test_handover_stalled),
	};
	return cmocka_run_group_tests_name("alerts", tests, alertkit_load_keys, alertkit_free_keys);
}
