/*
 * The silence watchdog's rules as a real vigild applies them, black-box,
 * with windows of seconds (DESIGN.md section 6):
 *
 * - a contact dated a year ahead is refused (the relay names its own time)
 *   and cannot push the deadline: the silence alert comes on time;
 * - a police party that never connected gets the stage-2 escalation on its
 *   first "vigil alerts", once: recipients come from the member directory;
 * - an acknowledgement re-arms: continued silence ends the acknowledged
 *   alert (resolution superseded) one window after it and, in the same
 *   commit, raises a new alert (cause after-ack), which escalates;
 * - accepting a handover while an alert is open tells the new responsible
 *   organisation at once (cause handover);
 * - a handover_stalled alert is resolved when the offer is answered or
 *   withdrawn, and the resolution reaches the organisation that was told
 *   of the stall, even once the case was handed on.
 *
 * Every delivered alert is checked as evidence (the relay's signature, the
 * leaf hash, the signed checkpoint, the inclusion proof).  "Not before"
 * checks use the relay's own receive times, which no load can make
 * earlier; "in time" checks allow seconds, so that a loaded two-core
 * machine under sanitizers passes.  Every wait is bounded, and every
 * process a test starts is ended by its PID.
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
#include "clikit.h"
#include "harness.h"
#include "proto/status.h"

#define COORD "se-stockholm-coord"
#define OTHER_ORG "se-goteborg-coord"   /* certificate other-coord */
#define POLICE "se-police-noa"
#define IOM "iom-ru-moscow"
#define SHELTER "se-shelter-1"
#define IOM2 "iom-md-chisinau"          /* certificate other-iom; a party of no case here */
/* Case ids are qualified by their owner, the Stockholm coordinator. */
#define OWNER COORD "/"

/* How long a test waits for what must come. */
#define PATIENCE_MS 10000
/* How late after its deadline an alert may be committed and still count
 * as on time: the watchdog looks at the due time, so this is load only. */
#define LATE_MS 5000

static const char *const PARTIES[] = { IOM, POLICE, OTHER_ORG, SHELTER };

/* The relay of the test that runs. */
static struct trelay R;

/* The connections a test opened, closed by the teardown when the test
 * fails half-way (so they live in static storage). */
static struct tclient *tracked[16];
static size_t n_tracked;

static void track(struct tclient *c)
{
	for (size_t i = 0; i < n_tracked; i++)
		if (tracked[i] == c)
			return;
	assert_true(n_tracked < sizeof(tracked) / sizeof(tracked[0]));
	tracked[n_tracked++] = c;
}

/* Opens c as cert (static storage: the teardown may close it). */
static void connect_as(struct tclient *c, const char *cert)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	track(c);
	if (tclient_open(c, R.port, cert) != 0)
		fail_msg("%s cannot connect: %s", cert, c->err);
}

/* alertkit_subscribe, s->c tracked (static storage: the teardown may close
 * it). */
static void subscribe_tracked(struct alertkit_sub *s, int port, const char *cert, uint64_t after)
{
	track(&s->c);
	alertkit_subscribe(s, port, cert, after);
}

/* ---- helpers ---------------------------------------------------------------------------- */

/* The coordinator's connection; nobody else connects before a test needs
 * it (roles come from the member directory). */
static struct tclient COORD_C = { .fd = -1 };

static void relay_up(const char *watch)
{
	memset(&R, 0, sizeof(R));
	trelay_setup(&R, NULL, watch);
	assert_int_equal(trelay_start(&R), 0);
	if (tclient_open(&COORD_C, R.port, "se-stockholm-coord"))
		fail_msg("connect: %s", COORD_C.err);
}

static void relay_down(void)
{
	tclient_close(&COORD_C);
	assert_int_equal(trelay_stop(&R), 0);
	trelay_cleanup(&R);
	memset(&R, 0, sizeof(R));
}

/* A failed test leaves no relay behind. */
static int teardown(void **state)
{
	(void)state;
	tclient_close(&COORD_C);
	for (size_t i = 0; i < n_tracked; i++)
		tclient_close(tracked[i]);
	n_tracked = 0;
	if (R.dir[0])
		trelay_cleanup(&R);
	memset(&R, 0, sizeof(R));
	return 0;
}

/* ---- 1. a contact dated a year ahead ------------------------------------------------------ */

#define YEAR_MS (365LL * 86400 * 1000)

/* The refusal names the time given and the relay's receive time, which
 * lies between before and after. */
static void expect_too_late(Vigil__V1__Frame *a, const char *field, int64_t t, int64_t before,
			    int64_t after)
{
	if (!a || a->msg_case != VIGIL__V1__FRAME__MSG_ERROR)
		fail_msg("a %s a year ahead was not refused", field);
	assert_string_equal(vg_status_wire_name(vg_status_from_wire(a->error->code)),
			    "BAD_REQUEST");
	const char *m = a->error->message;
	char want[TIME_RFC3339_MAX + 100], ts[TIME_RFC3339_MAX];
	time_format_rfc3339(t, ts);
	snprintf(want, sizeof(want), "%s %s is later than the relay's time ", field, ts);
	if (strncmp(m, want, strlen(want)) != 0)
		fail_msg("refused with \"%s\", expected it to begin \"%s\"", m, want);
	const char *relay = m + strlen(want), *end = strchr(relay, ' ');
	assert_non_null(end);
	assert_string_equal(end, " plus max_clock_skew (300 s)");
	char rt[TIME_RFC3339_MAX];
	assert_true((size_t)(end - relay) < sizeof(rt));
	memcpy(rt, relay, (size_t)(end - relay));
	rt[end - relay] = '\0';
	int64_t relay_ms;
	assert_int_equal(time_parse_rfc3339(rt, &relay_ms), VG_OK);
	if (relay_ms < before || relay_ms > after)
		fail_msg("the relay's time %s is not between the send (%lld) and the answer (%lld)",
			 rt, (long long)before, (long long)after);
	frame_free(a);
}

static void test_future_contact_refused_alert_on_time(void **state)
{
	(void)state;
	relay_up("[watchdog]\nhigh = 3s\nmedium = 1h\nlow = 1h\nescalate_after = 1h\n"
		 "handover_window = 1h\n");
	static struct alertkit_sub s;
	subscribe_tracked(&s, R.port, COORD, 0);
	int64_t opened = alertkit_wall_ms();
	alertkit_open_case(&COORD_C, OWNER "L-future", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0,
				   PARTIES, 4);
	int64_t opened_after = alertkit_wall_ms();
	static struct tclient iom;
	connect_as(&iom, IOM);
	/* A success dated a year ahead: refused, and the relay says whose
	 * clock counts. */
	int64_t before = alertkit_wall_ms(), t = before + YEAR_MS;
	Vigil__V1__Frame *a = alertkit_contact_dated(&iom, OWNER "L-future",
						     VIGIL__V1__CHANNEL__CHANNEL_PHONE,
						     VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE,
						     before, t);
	expect_too_late(a, "attempted_at_ms", t, before, alertkit_wall_ms());
	/* The record's own time a year ahead: refused the same way. */
	before = alertkit_wall_ms();
	t = before + YEAR_MS;
	a = alertkit_contact_dated(&iom, OWNER "L-future", VIGIL__V1__CHANNEL__CHANNEL_PHONE,
				   VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE, t, before);
	expect_too_late(a, "client_time_ms", t, before, alertkit_wall_ms());
	/* Neither was stored: the case has its opening only. */
	assert_int_equal(db_int(&R, "SELECT count(*) FROM entries WHERE case_id = '" OWNER
				"L-future'"), 1);
	/* The next delivery: the silence alert, not before the 3 s window
	 * (the relay's commit time, which the delivery cannot precede), and
	 * on time. */
	struct alertkit_got g;
	alertkit_must_alert(&s, 3000 + PATIENCE_MS, &g, "the silence alert");
	assert_string_equal(g.case_id, OWNER "L-future");
	assert_int_equal(g.kind, VIGIL__V1__ALERT_KIND__ALERT_KIND_SILENCE);
	assert_int_equal(g.stage, 1);
	assert_string_equal(g.cause, "");
	assert_int_equal(g.last_success_ms, 0);
	if (g.received_at_ms < opened + 3000 || g.received_at_ms > opened_after + 3000 + LATE_MS)
		fail_msg("the alert was committed %lld ms after the opening; the window is 3 s",
			 (long long)(g.received_at_ms - opened));
	tclient_close(&iom);
	tclient_close(&s.c);
	relay_down();
}

/* ---- 2. a police party that never connected -------------------------------------------- */

static struct cli_result CR;

/* Runs vigil as who with the arguments up to a NULL. */
static struct cli_result *vigil_as(const char *who, ...)
{
	static struct cli_args a;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add_conn(&a, R.port, who, "ca.crt");
	va_list ap;
	va_start(ap, who);
	cli_addv(&a, ap);
	va_end(ap);
	CR.status = cli_run(&a, NULL, CR.out, sizeof(CR.out), CR.err, sizeof(CR.err));
	return &CR;
}

static void test_police_never_connected_gets_escalation(void **state)
{
	(void)state;
	relay_up("[watchdog]\nhigh = 2s\nmedium = 1h\nlow = 1h\nescalate_after = 2s\n"
		 "handover_window = 1h\n");
	alertkit_open_case(&COORD_C, OWNER "L-police", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0,
				   PARTIES, 4);
	assert_int_equal(alertkit_db_wait(&R, "SELECT count(*) FROM alerts WHERE stage = 2", 1,
					  4000 + PATIENCE_MS), 1);
	char id1[40], id2[40], sql[200];
	assert_int_equal(db_text(&R, "SELECT lower(hex(alert_id)) FROM alerts WHERE stage = 1",
				 id1, sizeof(id1)), 0);
	assert_int_equal(db_text(&R, "SELECT lower(hex(alert_id)) FROM alerts WHERE stage = 2",
				 id2, sizeof(id2)), 0);
	assert_string_equal(id1, id2);
	long long pos = db_int(&R, "SELECT position FROM alerts WHERE stage = 2");
	/* The police never connected to this relay. */
	assert_false(trelay_log_has(&R, ": " POLICE " (", 0));
	assert_int_equal(db_int(&R, "SELECT count(*) FROM delivery_acks"), 0);

	/* Its first "vigil alerts": the escalation, and only that (stage 1
	 * was not addressed to it). */
	struct cli_result *r = vigil_as(POLICE, "--json", "alerts", NULL);
	cli_expect_ok(r);
	char *nl = strchr(r->out, '\n');
	if (!nl || nl[1])
		fail_msg("expected one line, got:\n%s", r->out);
	*nl = '\0';
	const char *line = r->out;
	char num[32];
	snprintf(num, sizeof(num), "%lld", pos);
	const char *v = jmust(line, "position");
	assert_true(strncmp(v, num, strlen(num)) == 0 && jskip(v) == v + strlen(num));
	expect_member(line, "case_id", OWNER "L-police");
	expect_member(line, "kind", "silence");
	expect_member(line, "alert_id", id1);
	expect_member(line, "police", "consider");
	assert_true(strncmp(jmust(line, "stage"), "2,", 2) == 0);
	assert_true(strncmp(jmust(line, "cause"), "null,", 5) == 0);
	const char *rcp = jmust(line, "recipients");
	static const char want_rcp[] = "[\"" COORD "\",\"" OTHER_ORG "\",\"" POLICE "\",\"" SHELTER
				       "\"]";
	assert_true(strncmp(rcp, want_rcp, strlen(want_rcp)) == 0);
	assert_true(trelay_log_has(&R, ": " POLICE " (", PATIENCE_MS));
	/* It acknowledged what it printed: the relay stored that position ... */
	snprintf(sql, sizeof(sql), "SELECT coalesce((SELECT position FROM delivery_acks WHERE org = "
		 "'" POLICE "'), -1)");
	assert_int_equal(alertkit_db_wait(&R, sql, pos, PATIENCE_MS), pos);
	/* ... so the next run prints nothing: it was delivered exactly once. */
	r = vigil_as(POLICE, "--json", "alerts", NULL);
	cli_expect_ok(r);
	assert_string_equal(r->out, "");
	relay_down();
}

/* ---- 3. an acknowledgement re-arms ----------------------------------------------------- */

static void test_ack_rearms(void **state)
{
	(void)state;
	/* high 3 s; escalation after 4 s, time enough to acknowledge. */
	relay_up("[watchdog]\nhigh = 3s\nmedium = 1h\nlow = 1h\nescalate_after = 4s\n"
		 "handover_window = 1h\n");
	static struct alertkit_sub sc, sp;
	subscribe_tracked(&sc, R.port, COORD, 0);
	subscribe_tracked(&sp, R.port, POLICE, 0);
	alertkit_open_case(&COORD_C, OWNER "L-rearm", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0,
				   PARTIES, 4);
	struct alertkit_got a1, a2, e;
	alertkit_must_alert(&sc, 3000 + PATIENCE_MS, &a1, "the first alert");
	assert_int_equal(a1.stage, 1);
	assert_string_equal(a1.cause, "");
	int64_t acked = alertkit_expect_receipt_at(
		alertkit_alert_ack(&COORD_C, OWNER "L-rearm", a1.alert_id,
				   VIGIL__V1__ACK_DECISION__ACK_DECISION_NOT_FILED));
	/* Silence goes on: one window after the acknowledgement and not
	 * before, the acknowledged alert ends first ("superseded", stage 0, its
	 * own id), to the recipients of its last stage (stage 1: no police), so
	 * that no alert id stays open for ever ... */
	struct alertkit_got end;
	alertkit_must_alert(&sc, 3000 + PATIENCE_MS, &end, "the end of the acknowledged alert");
	assert_string_equal(end.case_id, OWNER "L-rearm");
	assert_int_equal(end.kind, VIGIL__V1__ALERT_KIND__ALERT_KIND_SILENCE);
	assert_int_equal(end.stage, 0);
	assert_string_equal(end.resolution, "superseded");
	assert_string_equal(end.cause, "");
	assert_memory_equal(end.alert_id, a1.alert_id, RECORD_ID_LEN);
	assert_int_equal(end.police, VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_NONE);
	if (end.received_at_ms < acked + 3000 || end.received_at_ms > acked + 3000 + LATE_MS)
		fail_msg("the acknowledged alert ended %lld ms after the acknowledgement; the "
			 "window is 3 s", (long long)(end.received_at_ms - acked));
	assert_int_equal(end.n_recipients, 3);
	assert_int_equal(end.n_recipients, a1.n_recipients);
	for (size_t i = 0; i < a1.n_recipients; i++)
		assert_string_equal(end.recipients[i], a1.recipients[i]);
	assert_string_equal(end.recipients[0], COORD);
	assert_true(alertkit_has_recipient(&end, OTHER_ORG));
	assert_true(alertkit_has_recipient(&end, SHELTER));
	assert_false(alertkit_has_recipient(&end, POLICE));
	/* ... then, in the same batch (same commit, the next position), a new
	 * alert that says why it came. */
	alertkit_must_alert(&sc, PATIENCE_MS, &a2, "the re-raised alert");
	assert_int_equal(a2.position, end.position + 1);
	assert_int_equal(a2.received_at_ms, end.received_at_ms);
	assert_string_equal(a2.case_id, OWNER "L-rearm");
	assert_int_equal(a2.kind, VIGIL__V1__ALERT_KIND__ALERT_KIND_SILENCE);
	assert_int_equal(a2.stage, 1);
	assert_string_equal(a2.cause, "after-ack");
	assert_memory_not_equal(a2.alert_id, a1.alert_id, RECORD_ID_LEN);
	if (a2.received_at_ms < acked + 3000 || a2.received_at_ms > acked + 3000 + LATE_MS)
		fail_msg("re-raised %lld ms after the acknowledgement; the window is 3 s",
			 (long long)(a2.received_at_ms - acked));
	assert_string_equal(a2.recipients[0], COORD);
	assert_false(alertkit_has_recipient(&a2, POLICE));
	/* It escalates as usual; the acknowledged one never did (it would
	 * have reached the police first), and its end was not for the police
	 * either. */
	alertkit_must_alert(&sp, 4000 + PATIENCE_MS, &e, "the escalation of the re-raised alert");
	assert_memory_equal(e.alert_id, a2.alert_id, RECORD_ID_LEN);
	assert_int_equal(e.stage, 2);
	assert_true(e.received_at_ms - a2.received_at_ms >= 4000);
	assert_true(alertkit_has_recipient(&e, POLICE));
	/* The acknowledged alert has exactly two entries: its raise and its
	 * end. */
	alertkit_expect_raise_and_end(&R, a1.alert_id, a1.position, end.position);
	tclient_close(&sc.c);
	tclient_close(&sp.c);
	relay_down();
}

/* ---- 4. a handover accepted while an alert is open ------------------------------------- */

static void test_handover_tells_new_responsible(void **state)
{
	(void)state;
	relay_up("[watchdog]\nhigh = 2s\nmedium = 1h\nlow = 1h\nescalate_after = 1h\n"
		 "handover_window = 1h\n");
	static struct alertkit_sub sc, sx;
	subscribe_tracked(&sc, R.port, COORD, 0);
	subscribe_tracked(&sx, R.port, "other-iom", 0);
	alertkit_open_case(&COORD_C, OWNER "L-handover", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0,
			   PARTIES, 4);
	struct alertkit_got a1, g;
	alertkit_must_alert(&sc, 2000 + PATIENCE_MS, &a1, "the alert");
	assert_int_equal(a1.stage, 1);
	/* The organisation offered the case is no party: not told so far. */
	assert_int_equal(alertkit_next_alert(&sx, 500, &g), 0);
	uint8_t offer[RECORD_ID_LEN];
	alertkit_expect_receipt(casekit_offer(&COORD_C, OWNER "L-handover", IOM2, offer, 1));
	static struct tclient x;
	connect_as(&x, "other-iom");
	int64_t accepted =
		alertkit_expect_receipt_at(casekit_answer(&x, OWNER "L-handover", offer, 1));
	/* At once, not at the next escalation: the open alert, same id and
	 * stage, to the new responsible organisation alone. */
	alertkit_must_alert(&sx, PATIENCE_MS, &g,
			    "the open alert to the new responsible organisation");
	assert_string_equal(g.case_id, OWNER "L-handover");
	assert_memory_equal(g.alert_id, a1.alert_id, RECORD_ID_LEN);
	assert_int_equal(g.kind, VIGIL__V1__ALERT_KIND__ALERT_KIND_SILENCE);
	assert_int_equal(g.stage, 1);
	assert_string_equal(g.cause, "handover");
	assert_int_equal(g.n_recipients, 1);
	assert_string_equal(g.recipients[0], IOM2);
	if (g.received_at_ms < accepted || g.received_at_ms > accepted + LATE_MS)
		fail_msg("told %lld ms after the acceptance", (long long)(g.received_at_ms - accepted));
	/* The others had it already; the notice is not theirs. */
	assert_int_equal(alertkit_next_alert(&sc, 1000, &g), 0);
	/* The new responsible organisation reaches her: it is told of the
	 * resolution too. */
	alertkit_expect_receipt(alertkit_contact_dated(&x, OWNER "L-handover",
						       VIGIL__V1__CHANNEL__CHANNEL_PHONE,
						       VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE,
						       alertkit_wall_ms(), alertkit_wall_ms()));
	alertkit_must_alert(&sx, PATIENCE_MS, &g, "the resolution");
	assert_memory_equal(g.alert_id, a1.alert_id, RECORD_ID_LEN);
	assert_int_equal(g.stage, 0);
	assert_string_equal(g.resolution, "contact");
	assert_string_equal(g.recipients[0], IOM2);
	assert_true(alertkit_has_recipient(&g, COORD));
	tclient_close(&x);
	tclient_close(&sc.c);
	tclient_close(&sx.c);
	relay_down();
}

/* ---- 5. a stalled handover resolved ------------------------------------------------------- */

struct stalled {
	const char *case_id;
	uint8_t offer[RECORD_ID_LEN];
	int64_t offered;
	struct alertkit_got alert, resolution;
	int have_alert, have_resolution;
};

/* Delivers to s until every case in st has what want asks for (alert or
 * resolution), within PATIENCE_MS; fails on an alert of another case. */
static void collect(struct alertkit_sub *s, struct stalled *st, size_t n, int resolutions)
{
	int64_t deadline = alertkit_wall_ms() + 2000 + PATIENCE_MS;
	for (;;) {
		size_t missing = 0;
		for (size_t i = 0; i < n; i++)
			missing += !(resolutions ? st[i].have_resolution : st[i].have_alert);
		if (!missing)
			return;
		struct alertkit_got g;
		if (!alertkit_next_alert(s, alertkit_until(deadline), &g))
			fail_msg("%zu %s missing", missing, resolutions ? "resolutions" : "alerts");
		size_t i = 0;
		while (i < n && strcmp(st[i].case_id, g.case_id) != 0)
			i++;
		if (i == n)
			fail_msg("an alert of case %s", g.case_id);
		if (g.stage == 0) {
			if (st[i].have_resolution)
				fail_msg("%s resolved twice", g.case_id);
			st[i].resolution = g;
			st[i].have_resolution = 1;
		} else {
			if (st[i].have_alert)
				fail_msg("%s: a second alert (stage %d)", g.case_id, g.stage);
			st[i].alert = g;
			st[i].have_alert = 1;
		}
	}
}

static void expect_stall_resolved(const struct stalled *st, const char *resolution)
{
	const struct alertkit_got *g = &st->resolution;
	assert_int_equal(g->kind, VIGIL__V1__ALERT_KIND__ALERT_KIND_HANDOVER_STALLED);
	assert_memory_equal(g->alert_id, st->alert.alert_id, RECORD_ID_LEN);
	assert_int_equal(g->stage, 0);
	if (strcmp(g->resolution, resolution) != 0)
		fail_msg("%s: resolution \"%s\", expected \"%s\"", st->case_id, g->resolution,
			 resolution);
}

/* Offers two cases to IOM and lets each stall, then IOM declines one and
 * the coordinator withdraws the other: each stalled alert is resolved,
 * once, for the offering organisation, which was told of the stall. */
static void test_stalled_handover_resolved(void **state)
{
	(void)state;
	relay_up("[watchdog]\nhigh = 1h\nmedium = 1h\nlow = 1h\nescalate_after = 1h\n"
		 "handover_window = 2s\n");
	static struct alertkit_sub sc, si;
	subscribe_tracked(&sc, R.port, COORD, 0);
	struct stalled st[2] = { { .case_id = OWNER "L-declined" },
				 { .case_id = OWNER "L-withdrawn" } };
	for (size_t i = 0; i < 2; i++) {
		alertkit_open_case(&COORD_C, st[i].case_id, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH,
				   0, PARTIES, 4);
		st[i].offered = alertkit_wall_ms();
		alertkit_expect_receipt(casekit_offer(&COORD_C, st[i].case_id, IOM, st[i].offer,
						      1));
	}
	collect(&sc, st, 2, 0);
	for (size_t i = 0; i < 2; i++) {
		const struct alertkit_got *g = &st[i].alert;
		assert_int_equal(g->kind, VIGIL__V1__ALERT_KIND__ALERT_KIND_HANDOVER_STALLED);
		assert_int_equal(g->stage, 1);
		assert_int_equal(g->n_recipients, 1);
		assert_string_equal(g->recipients[0], COORD);
		if (g->received_at_ms < st[i].offered + 2000)
			fail_msg("%s stalled %lld ms after the offer; the window is 2 s", st[i].case_id,
				 (long long)(g->received_at_ms - st[i].offered));
	}
	/* IOM, a party that never connected, subscribes now: the stalled
	 * alerts are not its business. */
	subscribe_tracked(&si, R.port, IOM, 0);
	static struct tclient iom;
	connect_as(&iom, IOM);
	alertkit_expect_receipt(casekit_answer(&iom, st[0].case_id, st[0].offer, 0));
	alertkit_expect_receipt(casekit_withdraw(&COORD_C, st[1].case_id, st[1].offer));
	collect(&sc, st, 2, 1);
	expect_stall_resolved(&st[0], "handover-answered");
	expect_stall_resolved(&st[1], "handover-withdrawn");
	/* The case stays with the offering organisation, and so does the
	 * resolution. */
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(st[i].resolution.n_recipients, 1);
		assert_string_equal(st[i].resolution.recipients[0], COORD);
	}
	/* Resolved once, and nothing of it for IOM. */
	struct alertkit_got g;
	assert_int_equal(alertkit_next_alert(&sc, 1000, &g), 0);
	if (alertkit_next_alert(&si, 1000, &g))
		fail_msg("IOM got a stage %d alert of %s", g.stage, g.case_id);
	tclient_close(&iom);
	tclient_close(&sc.c);
	tclient_close(&si.c);
	relay_down();
}

/* An offer that stalled and is then accepted: the stalled alert is
 * resolved (handover-answered), and the resolution reaches the
 * organisation that offered, which was told of the stall, although the
 * case is no longer with it (the relay keeps the organisation it raised
 * the stall to). */
static void test_stall_resolution_reaches_offerer_after_acceptance(void **state)
{
	(void)state;
	relay_up("[watchdog]\nhigh = 1h\nmedium = 1h\nlow = 1h\nescalate_after = 1h\n"
		 "handover_window = 2s\n");
	static struct alertkit_sub sc;
	subscribe_tracked(&sc, R.port, COORD, 0);
	struct stalled st[1] = { { .case_id = OWNER "L-accepted" } };
	alertkit_open_case(&COORD_C, st[0].case_id, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0,
				   PARTIES, 4);
	st[0].offered = alertkit_wall_ms();
	alertkit_expect_receipt(casekit_offer(&COORD_C, st[0].case_id, IOM, st[0].offer, 1));
	collect(&sc, st, 1, 0);
	assert_int_equal(st[0].alert.kind, VIGIL__V1__ALERT_KIND__ALERT_KIND_HANDOVER_STALLED);
	assert_string_equal(st[0].alert.recipients[0], COORD);
	static struct tclient iom;
	connect_as(&iom, IOM);
	alertkit_expect_receipt(casekit_answer(&iom, st[0].case_id, st[0].offer, 1));
	/* The relay writes the resolution; to whom? */
	assert_int_equal(alertkit_db_wait(&R, "SELECT count(*) FROM alerts WHERE stage = 0", 1,
					  PATIENCE_MS), 1);
	char rcp[256];
	assert_int_equal(db_text(&R, "SELECT replace(recipients, char(10), ',') FROM alerts WHERE "
				 "stage = 0", rcp, sizeof(rcp)), 0);
	struct alertkit_got g;
	if (!alertkit_next_alert(&sc, PATIENCE_MS, &g))
		fail_msg("the offering organisation was not told that the stalled handover of %s "
			 "ended (the resolution went to: %s)", st[0].case_id, rcp);
	st[0].resolution = g;
	expect_stall_resolved(&st[0], "handover-answered");
	assert_true(alertkit_has_recipient(&g, COORD));
	tclient_close(&iom);
	tclient_close(&sc.c);
	relay_down();
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_future_contact_refused_alert_on_time, teardown),
		cmocka_unit_test_teardown(test_police_never_connected_gets_escalation, teardown),
		cmocka_unit_test_teardown(test_ack_rearms, teardown),
		cmocka_unit_test_teardown(test_handover_tells_new_responsible, teardown),
		cmocka_unit_test_teardown(test_stalled_handover_resolved, teardown),
		cmocka_unit_test_teardown(test_stall_resolution_reaches_offerer_after_acceptance,
					  teardown),
	};
	return cmocka_run_group_tests_name("watchdog_live", tests, alertkit_load_keys,
					   alertkit_free_keys);
}
