/*
 * The alert commands of the vigil tool, black-box: the real binary run with
 * fork/exec against a real vigild on loopback, with watchdog windows of
 * seconds.
 *
 * A silence alert printed by "vigil alerts" (every JSON member checked
 * against what the relay stored) and acknowledged, so that the next run
 * prints nothing; "vigil alerts --follow" started before the deadline,
 * printing the alert within a second of its commit and exiting 0 on
 * SIGTERM; "vigil alert ack" stopping the escalation while the alert left
 * unacknowledged reaches the police at stage 2; a successful contact
 * resolving the alert; the usage errors and the relay's refusal of an ack
 * by the police.  Every process a test starts is ended by its PID, and
 * every wait is bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "casekit.h"
#include "clikit.h"
#include "harness.h"
#include "proto/sealed.h"
#include "proto/status.h"

#define REFUSED "vigil: refused by relay: "

/* high 2 s, medium 3 s, low 1 h; three failed attempts; 2 s to escalate or
 * to answer a handover. */
#define WATCH "[watchdog]\nhigh = 2s\nmedium = 3s\nlow = 1h\nfailed_attempts = 3\n" \
	      "handover_window = 2s\nescalate_after = 2s\n"
/* The same without escalation, for tests that look at stage 1 for longer. */
#define WATCH_NO_ESCALATION "[watchdog]\nhigh = 2s\nmedium = 3s\nlow = 1h\n" \
			    "failed_attempts = 3\nhandover_window = 1h\nescalate_after = 1h\n"
/* A medium window long enough for a run of "vigil alerts" to end before it
 * on a loaded machine. */
#define WATCH_SLOW_MEDIUM "[watchdog]\nhigh = 2s\nmedium = 6s\nlow = 1h\n" \
			  "failed_attempts = 3\nhandover_window = 1h\nescalate_after = 1h\n"
#define COORD "se-stockholm-coord"
#define OTHER "other-coord"          /* the certificate; its organisation: */
#define OTHER_ORG "se-goteborg-coord"
#define POLICE "se-police-noa"
#define IOM "iom-ru-moscow"
#define SHELTER "se-shelter-1"
/* Case ids are qualified by their owner, the Stockholm coordinator. */
#define OWNER COORD "/"
/* How long a test waits for what must come: far more than it takes on an
 * idle machine, so that a loaded one (sanitizers, ctest -j) passes too.
 * The checks that something did not come early use the relay's own times,
 * which no load can make earlier. */
#define PATIENCE_MS 10000
/* How late after its due time an alert may be committed and still count as
 * on time: the watchdog looks at the due time, so this is load only. */
#define LATE_MS 5000
/* Every "vigil alerts" run without --follow lasts at least the tool's quiet
 * period (1 s, QUIET_MS in client/cli/alerts.c) plus process start-up and
 * an mTLS handshake: up to ~2 s under ASan on a loaded 2-core machine, and
 * a listing followed by "vigil alert ack" up to ~1.8 s.  A window that must
 * not end while a test is still running the tool is therefore about three
 * times that, 6 s. */
#define ESCALATE_MS 6000

/* The members of one alert printed with --json, in order. */
static const char alert_keys[] = "position,received_at,case_id,kind,stage,resolution,cause,"
				 "alert_id,"
				 "police,police_advice,deadline,last_success,failed_attempts,"
				 "recipients,record_id,leaf_hash,checkpoint_size";

static struct trelay R; /* the relay of the test that runs */

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- running the tool -------------------------------------------------------- */

static struct cli_result res[2];

/* vigil --relay ... --cert/--key <who> ..., then the arguments in ap. */
static void build_args(struct cli_args *a, const char *who, va_list ap)
{
	cli_args_init(a, VIGIL_CLI_PATH);
	cli_add_conn(a, R.port ? R.port : 1, who, "ca.crt");
	cli_addv(a, ap);
	a->v[a->n] = NULL;
}

/* Runs vigil as who with the arguments up to a NULL. */
static struct cli_result *vigil_as(int slot, const char *who, ...)
{
	static struct cli_args a;
	va_list ap;
	va_start(ap, who);
	build_args(&a, who, ap);
	va_end(ap);
	struct cli_result *r = &res[slot];
	r->status = cli_run(&a, NULL, r->out, sizeof(r->out), r->err, sizeof(r->err));
	return r;
}

/* ---- vigil in the background (--follow) ------------------------------------------ */

static struct cli_bg BG = { .pid = -1, .out_fd = -1, .err_fd = -1 };

static void bg_start(struct cli_bg *b, const char *who, ...)
{
	static struct cli_args a;
	va_list ap;
	va_start(ap, who);
	build_args(&a, who, ap);
	va_end(ap);
	cli_bg_start(b, &a);
}

#define bg_line cli_bg_line
#define bg_stop cli_bg_stop

/* ---- a little JSON (the subset the tool writes) ------------------------------------ */

/* The raw JSON of member key is exactly want (a number, null, [...]). */
static void expect_raw(const char *obj, const char *key, const char *want)
{
	const char *v = jmust(obj, key), *end = jskip(v);
	assert_non_null(end);
	if ((size_t)(end - v) != strlen(want) || strncmp(v, want, strlen(want)) != 0)
		fail_msg("\"%s\" is %.*s, expected %s", key, (int)(end - v), v, want);
}

/* The lines of out, each one JSON object; returns how many (at most max). */
static size_t json_lines(char *out, char **lines, size_t max)
{
	size_t n = 0;
	for (char *p = out; *p;) {
		char *nl = strchr(p, '\n');
		assert_non_null(nl);
		*nl = '\0';
		const char *end = jskip(p);
		if (*p != '{' || !end || *end)
			fail_msg("not one JSON object on a line: %s", p);
		assert_true(n < max);
		lines[n++] = p;
		p = nl + 1;
	}
	return n;
}

/* ---- the relay and its database ------------------------------------------------------- */

/* The coordinator's connection, which opens the cases.  Nobody else
 * connects before the test needs it: the relay knows every party's role
 * from its member directory. */
struct world {
	struct tclient coord;
};

static const char *const PARTIES[] = { IOM, POLICE, OTHER_ORG, SHELTER };

static void world_up(struct world *w, const char *watch)
{
	memset(w, 0, sizeof(*w));
	w->coord.fd = -1;
	trelay_setup(&R, NULL, watch);
	assert_int_equal(trelay_start(&R), 0);
	if (tclient_open(&w->coord, R.port, COORD))
		fail_msg("connect: %s", w->coord.err);
}

static void world_down(struct world *w)
{
	tclient_close(&w->coord);
	assert_int_equal(trelay_stop(&R), 0);
	trelay_cleanup(&R);
	memset(&R, 0, sizeof(R));
}

/* A failed test must not leave its relay or its background vigil behind. */
static int teardown(void **state)
{
	(void)state;
	if (BG.pid > 0)
		bg_stop(&BG, SIGKILL, 2000);
	trelay_cleanup(&R);
	memset(&R, 0, sizeof(R));
	return 0;
}

/* Opens case_id (not a minor) as the Stockholm coordinator. */
static void open_case_risk(struct world *w, const char *case_id, int risk)
{
	Vigil__V1__Frame *a = casekit_open(&w->coord, case_id, PARTIES, 4, risk, 0);
	if (!a || a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT)
		fail_msg("cannot open %s: %s", case_id,
			 a && a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? a->error->message : "");
	frame_free(a);
}

/* The same with risk high: a window of 2 s. */
static void open_case(struct world *w, const char *case_id)
{
	open_case_risk(w, case_id, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH);
}

/* Waits (at most ms) until the query gives at least want; its value. */
static long long db_wait(const char *sql, long long want, int ms)
{
	long long v = db_int(&R, sql);
	for (int64_t deadline = wall_ms() + ms; v < want && wall_ms() < deadline;) {
		usleep(50000);
		v = db_int(&R, sql);
	}
	return v;
}

/* The stored alert of case_id at stage: its position and hex alert id. */
static unsigned long long stored_alert(const char *case_id, int stage, char alert_id[33])
{
	char sql[256], hex[80];
	snprintf(sql, sizeof(sql), "SELECT lower(hex(alert_id)) FROM alerts WHERE case_id = '%s' "
		 "AND stage = %d", case_id, stage);
	if (db_text(&R, sql, hex, sizeof(hex)) != 0)
		fail_msg("no stage %d alert of %s", stage, case_id);
	assert_int_equal(strlen(hex), 32);
	memcpy(alert_id, hex, 33);
	snprintf(sql, sizeof(sql), "SELECT position FROM alerts WHERE case_id = '%s' AND stage = %d",
		 case_id, stage);
	return (unsigned long long)db_int(&R, sql);
}

static void entry_text(unsigned long long idx, const char *column, char *out, size_t n)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT %s FROM entries WHERE idx = %llu", column, idx);
	if (db_text(&R, sql, out, n) != 0)
		fail_msg("no entry %llu", idx);
}

/* The position our organisation acknowledged, once the relay stored it. */
static long long acked_of(const char *org, long long want)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT coalesce((SELECT position FROM delivery_acks WHERE "
		 "org = '%s'), -1)", org);
	return db_wait(sql, want, PATIENCE_MS);
}

/* One --json alert line agrees with the entry the relay stored at its
 * position: record id, leaf hash, receive time; a checkpoint covering it. */
static void check_stored(const char *line)
{
	unsigned long long pos = jnum(jmust(line, "position"));
	char db[200], v[200], t[TIME_RFC3339_MAX];
	entry_text(pos, "lower(hex(record_id))", db, sizeof(db));
	jstr(jmust(line, "record_id"), v, sizeof(v));
	assert_string_equal(v, db);
	entry_text(pos, "lower(hex(leaf_hash))", db, sizeof(db));
	jstr(jmust(line, "leaf_hash"), v, sizeof(v));
	assert_string_equal(v, db);
	entry_text(pos, "received_at_ms", db, sizeof(db));
	time_format_rfc3339(strtoll(db, NULL, 10), t);
	expect_member(line, "received_at", t);
	entry_text(pos, "author", db, sizeof(db));
	assert_string_equal(db, "vigil-relay");
	assert_true(jnum(jmust(line, "checkpoint_size")) > pos);
}

/* ---- a silence alert, printed and acknowledged ---------------------------------------- */

static void test_alerts_printed_and_acknowledged(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, WATCH_SLOW_MEDIUM);
	int64_t opened = wall_ms();
	open_case_risk(&w, OWNER "CA-silence", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM);

	/* Before the 6 s window ends there is nothing to print, and an empty
	 * run acknowledges nothing. */
	struct cli_result *r = vigil_as(0, COORD, "--json", "alerts", NULL);
	cli_expect_ok(r);
	if (r->out[0])
		fail_msg("printed %lld ms after the opening, before the 6 s window:\n%s",
			 (long long)(wall_ms() - opened), r->out);
	assert_int_equal(db_int(&R, "SELECT count(*) FROM delivery_acks"), 0);

	assert_int_equal(db_wait("SELECT count(*) FROM alerts", 1, 6000 + PATIENCE_MS), 1);
	char alert_id[33];
	unsigned long long pos = stored_alert(OWNER "CA-silence", 1, alert_id);
	char deadline[TIME_RFC3339_MAX];
	{
		char sql[128], v[40];
		snprintf(sql, sizeof(sql), "SELECT alert_deadline_ms FROM cases WHERE case_id = "
			 "'" OWNER "CA-silence'");
		assert_int_equal(db_text(&R, sql, v, sizeof(v)), 0);
		time_format_rfc3339(strtoll(v, NULL, 10), deadline);
	}

	r = vigil_as(0, COORD, "--json", "alerts", NULL);
	cli_expect_ok(r);
	char *lines[8];
	assert_int_equal(json_lines(r->out, lines, 8), 1);
	char keys[512];
	jkeys(lines[0], keys, sizeof(keys));
	assert_string_equal(keys, alert_keys);
	char num[32];
	snprintf(num, sizeof(num), "%llu", pos);
	expect_raw(lines[0], "position", num);
	expect_member(lines[0], "case_id", OWNER "CA-silence");
	expect_member(lines[0], "kind", "silence");
	expect_raw(lines[0], "stage", "1");
	expect_raw(lines[0], "resolution", "null");
	expect_raw(lines[0], "cause", "null");
	expect_member(lines[0], "alert_id", alert_id);
	expect_member(lines[0], "police", "none");
	expect_member(lines[0], "police_advice", "none");
	expect_member(lines[0], "deadline", deadline);
	expect_raw(lines[0], "last_success", "null");
	expect_raw(lines[0], "failed_attempts", "0");
	/* Stage 1: the responsible organisation, the coordinator and the
	 * shelter parties. */
	expect_raw(lines[0], "recipients", "[\"" COORD "\",\"" OTHER_ORG "\",\"" SHELTER "\"]");
	check_stored(lines[0]);
	/* The alert was raised when the window ended, not before. */
	{
		char t[64];
		int64_t at;
		jstr(jmust(lines[0], "received_at"), t, sizeof(t));
		assert_int_equal(time_parse_rfc3339(t, &at), VG_OK);
		assert_true(at - opened >= 6000);
	}
	/* What was printed is acknowledged: the next run prints nothing. */
	assert_int_equal(acked_of(COORD, (long long)pos), (long long)pos);
	r = vigil_as(0, COORD, "--json", "alerts", NULL);
	cli_expect_ok(r);
	assert_string_equal(r->out, "");

	/* Another coordinator has its own acknowledgement.  --after skips the
	 * alert (and acknowledges nothing); without it the line is printed. */
	r = vigil_as(0, OTHER, "alerts", "--after", num, NULL);
	cli_expect_ok(r);
	assert_string_equal(r->out, "");
	assert_int_equal(db_int(&R, "SELECT count(*) FROM delivery_acks WHERE org = '"
				OTHER_ORG "'"), 0);
	r = vigil_as(0, OTHER, "alerts", NULL);
	cli_expect_ok(r);
	char want[1024], at[TIME_RFC3339_MAX], db[40];
	entry_text(pos, "received_at_ms", db, sizeof(db));
	time_format_rfc3339(strtoll(db, NULL, 10), at);
	snprintf(want, sizeof(want), "%llu %s " OWNER "CA-silence silence stage 1; alert: %s; police: "
		 "none; deadline missed: %s; last success: none; failed attempts: 0; recipients: "
		 COORD ", " OTHER_ORG ", " SHELTER "\n", pos, at, alert_id, deadline);
	assert_string_equal(r->out, want);
	assert_int_equal(acked_of(OTHER_ORG, (long long)pos), (long long)pos);
	/* The shelter party, which never connected before, has it too. */
	r = vigil_as(0, SHELTER, "alerts", NULL);
	cli_expect_ok(r);
	assert_non_null(strstr(r->out, alert_id));
	assert_int_equal(acked_of(SHELTER, (long long)pos), (long long)pos);
	/* Police and IOM are not addressed at stage 1. */
	r = vigil_as(0, POLICE, "alerts", NULL);
	cli_expect_ok(r);
	assert_string_equal(r->out, "");
	r = vigil_as(0, IOM, "alerts", NULL);
	cli_expect_ok(r);
	assert_string_equal(r->out, "");
	world_down(&w);
}

/* ---- --follow ------------------------------------------------------------------------ */

static void test_follow(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, WATCH_NO_ESCALATION);
	/* --follow is started before the case opens: it has the whole window
	 * to start and subscribe, so that the alert is pushed to it, not
	 * replayed to a late subscriber (which would print it long after its
	 * commit when start-up is slow). */
	bg_start(&BG, COORD, "--json", "alerts", "--follow", NULL);
	int64_t opened = wall_ms();
	open_case(&w, OWNER "CA-follow");
	char line[4096];
	int64_t seen = 0;
	if (!bg_line(&BG, 2000 + PATIENCE_MS, line, sizeof(line), &seen))
		fail_msg("no alert printed within %d ms; stderr: %s", 2000 + PATIENCE_MS, BG.err);
	/* Printed within a second of the commit, and not before the window. */
	char t[64];
	int64_t at;
	jstr(jmust(line, "received_at"), t, sizeof(t));
	assert_int_equal(time_parse_rfc3339(t, &at), VG_OK);
	assert_true(at - opened >= 2000);
	if (seen - at > 1000)
		fail_msg("the alert committed at %lld was printed %lld ms later", (long long)at,
			 (long long)(seen - at));
	expect_member(line, "case_id", OWNER "CA-follow");
	expect_raw(line, "stage", "1");
	expect_raw(line, "cause", "null");
	char alert_id[33];
	unsigned long long pos = stored_alert(OWNER "CA-follow", 1, alert_id);
	expect_member(line, "alert_id", alert_id);
	/* It keeps running; SIGTERM ends it with status 0, acknowledged. */
	assert_int_equal(waitpid(BG.pid, NULL, WNOHANG), 0);
	assert_int_equal(bg_stop(&BG, SIGTERM, 5000), 0);
	assert_string_equal(BG.err, "");
	assert_int_equal(BG.used, BG.n_out); /* nothing but that one line */
	assert_int_equal(acked_of(COORD, (long long)pos), (long long)pos);
	struct cli_result *r = vigil_as(0, COORD, "alerts", NULL);
	cli_expect_ok(r);
	assert_string_equal(r->out, "");
	world_down(&w);
}

/*
 * The relay's erasures come through "vigil alerts" too: --follow prints the
 * Erasure of a note the owner erased as an erasure line (what, which
 * entry, why, on whose request, to whom), not as an alert, keeps running,
 * and acknowledges it on SIGTERM, so the next run prints nothing.  (The
 * case is of low risk, a window of an hour: no alert comes meanwhile.)
 */
static void test_follow_erasure(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, WATCH_NO_ESCALATION);
	open_case_risk(&w, OWNER "CA-erased", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_LOW);
	struct tclient iom;
	if (tclient_open(&iom, R.port, IOM) != 0)
		fail_msg("connect: %s", iom.err);
	uint8_t note_id[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, note_id, OWNER "CA-erased", IOM);
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	ca.channel = VIGIL__V1__CHANNEL__CHANNEL_PHONE;
	ca.outcome = VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE;
	ca.attempted_at_ms = r.client_time_ms - 60000;
	r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	r.contact_attempt = &ca;
	struct tsealed sealed;
	casekit_seal(&iom, &r, SEALED_NOTE, "she found work in a bakery", NULL, &sealed);
	ca.sealed_note = &sealed.text;
	Vigil__V1__Frame *a = casekit_submit_sealed(&iom, &r, &sealed);
	tsealed_free(&sealed);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_RECEIPT);
	unsigned long long note_idx = a->receipt->index;
	frame_free(a);
	tclient_close(&iom);

	/* The shelter's tool follows; once its hello is noted it is
	 * connected (it subscribes right after). */
	bg_start(&BG, SHELTER, "alerts", "--follow", NULL);
	if (db_wait("SELECT count(*) FROM orgs WHERE org = '" SHELTER "'", 1, PATIENCE_MS) != 1)
		fail_msg("vigil alerts --follow did not connect; stderr: %s", BG.err);
	uint8_t req_id[RECORD_ID_LEN];
	casekit_record(&r, req_id, OWNER "CA-erased", COORD);
	Vigil__V1__EraseRequest er = VIGIL__V1__ERASE_REQUEST__INIT;
	er.target_id.data = note_id;
	er.target_id.len = RECORD_ID_LEN;
	er.reason = VIGIL__V1__ERASE_REASON__ERASE_REASON_UNLAWFUL_CONTENT;
	er.reference = "LEGAL-42";
	r.body_case = VIGIL__V1__RECORD__BODY_ERASE_REQUEST;
	r.erase_request = &er;
	a = casekit_submit(&w.coord, &r);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_RECEIPT);
	unsigned long long pos = a->receipt->index + 1; /* the relay's Erasure */
	frame_free(a);

	char line[4096];
	int64_t seen = 0;
	if (!bg_line(&BG, PATIENCE_MS, line, sizeof(line), &seen))
		fail_msg("no erasure printed within %d ms; stderr: %s", PATIENCE_MS, BG.err);
	char at_ms[32], at[TIME_RFC3339_MAX], req[2 * RECORD_ID_LEN + 1], want[1024];
	entry_text(pos, "received_at_ms", at_ms, sizeof(at_ms));
	time_format_rfc3339(atoll(at_ms), at);
	for (size_t i = 0; i < RECORD_ID_LEN; i++)
		snprintf(req + 2 * i, 3, "%02x", req_id[i]);
	snprintf(want, sizeof(want), "%llu %s " OWNER "CA-erased erasure; what: sealed-texts; "
		 "entries: %llu; reason: unlawful-content; requested by: " COORD "; request: %s; "
		 "reference: LEGAL-42; recipients: " IOM ", " OTHER_ORG ", " SHELTER ", " COORD
		 "\n", pos, at, note_idx, req);
	assert_string_equal(line, want);
	/* It keeps running; SIGTERM ends it with status 0, acknowledged. */
	assert_int_equal(waitpid(BG.pid, NULL, WNOHANG), 0);
	assert_int_equal(bg_stop(&BG, SIGTERM, 5000), 0);
	assert_string_equal(BG.err, "");
	assert_int_equal(BG.used, BG.n_out); /* nothing but that one line */
	assert_int_equal(acked_of(SHELTER, (long long)pos), (long long)pos);
	struct cli_result *res0 = vigil_as(0, SHELTER, "alerts", NULL);
	cli_expect_ok(res0);
	assert_string_equal(res0->out, "");
	world_down(&w);
}

/* ---- acknowledgement and escalation ----------------------------------------------------- */

/* The alert id (hex) stored for case_id at stage other than the one given
 * ("" for none), or fails. */
static void stored_other_alert(const char *case_id, int stage, const char *not_id,
			       char alert_id[33])
{
	char sql[320];
	snprintf(sql, sizeof(sql), "SELECT lower(hex(alert_id)) FROM alerts WHERE case_id = '%s' "
		 "AND stage = %d AND alert_id != x'%s' ORDER BY position", case_id, stage, not_id);
	if (db_text(&R, sql, alert_id, 33) != 0)
		fail_msg("no other stage %d alert of %s", stage, case_id);
}

/* The relay's receive time of the stage entry of alert (hex). */
static long long alert_time(const char *alert_id, int stage)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT received_at_ms FROM entries WHERE idx = (SELECT position "
		 "FROM alerts WHERE alert_id = x'%s' AND stage = %d)", alert_id, stage);
	return db_int(&R, sql);
}

static void test_ack_stops_escalation(void **state)
{
	(void)state;
	struct world w;
	/* Escalation after ESCALATE_MS: the listing and the ack below are done
	 * before it on a loaded machine (with 2 s, both alerts escalated while
	 * "vigil alerts" was still listing them, or before the ack landed). */
	world_up(&w, "[watchdog]\nhigh = 2s\nmedium = 3s\nlow = 1h\nfailed_attempts = 3\n"
		     "handover_window = 1h\nescalate_after = 6s\n");
	open_case(&w, OWNER "CA-acked");
	open_case(&w, OWNER "CA-open");
	assert_int_equal(db_wait("SELECT count(*) FROM alerts WHERE stage = 1", 2, PATIENCE_MS), 2);
	int64_t raised = wall_ms();
	char acked_id[33], open_id[33];
	stored_alert(OWNER "CA-acked", 1, acked_id);
	stored_alert(OWNER "CA-open", 1, open_id);

	/* The coordinator sees both and acknowledges one. */
	struct cli_result *r = vigil_as(0, COORD, "--json", "alerts", NULL);
	cli_expect_ok(r);
	char *lines[8];
	assert_int_equal(json_lines(r->out, lines, 8), 2);
	expect_raw(lines[0], "cause", "null");
	expect_raw(lines[1], "cause", "null");
	r = vigil_as(0, COORD, "--json", "alert", "ack", acked_id, "--case", OWNER "CA-acked",
		     "--decision", "police-report-filed", NULL);
	cli_expect_ok(r);
	char *rl[2];
	assert_int_equal(json_lines(r->out, rl, 2), 1);
	char keys[512];
	jkeys(rl[0], keys, sizeof(keys));
	assert_string_equal(keys, "index,leaf_hash,received_at,record_id,duplicate,checkpoint,"
			    "inclusion_proof,alert_id,summary,checkpoint_size");
	expect_member(rl[0], "alert_id", acked_id);
	unsigned long long idx = jnum(jmust(rl[0], "index"));
	char db[200], v[80];
	entry_text(idx, "lower(hex(record_id))", db, sizeof(db));
	jstr(jmust(rl[0], "record_id"), v, sizeof(v));
	assert_string_equal(v, db);
	entry_text(idx, "author", db, sizeof(db));
	assert_string_equal(db, COORD);
	entry_text(idx, "case_id", db, sizeof(db));
	assert_string_equal(db, OWNER "CA-acked");
	entry_text(idx, "received_at_ms", db, sizeof(db));
	long long acked_at = strtoll(db, NULL, 10);
	/* The record is an AlertAck of that alert, decision police-report-filed. */
	{
		char sql[128];
		uint8_t *rec;
		size_t len;
		snprintf(sql, sizeof(sql), "SELECT record FROM entries WHERE idx = %llu", idx);
		assert_int_equal(db_blob(&R, sql, &rec, &len), 0);
		Vigil__V1__Record *rr = vigil__v1__record__unpack(NULL, len, rec);
		free(rec);
		assert_non_null(rr);
		assert_int_equal(rr->body_case, VIGIL__V1__RECORD__BODY_ALERT_ACK);
		assert_int_equal(rr->alert_ack->decision,
				 VIGIL__V1__ACK_DECISION__ACK_DECISION_POLICE_REPORT_FILED);
		char hex[33];
		hex_encode(rr->alert_ack->alert_id.data, RECORD_ID_LEN, hex);
		assert_string_equal(hex, acked_id);
		vigil__v1__record__free_unpacked(rr, NULL);
	}

	/* The police may not acknowledge; the relay says why. */
	r = vigil_as(0, POLICE, "alert", "ack", open_id, "--case", OWNER "CA-open", "--decision",
		     "police-report-filed", NULL);
	cli_expect_status(r, 1);
	assert_string_equal(r->out, "");
	assert_string_equal(r->err, REFUSED "PERMISSION_DENIED: only a coordinator party or the "
				    "responsible organisation acknowledges an alert\n");

	/* The unacknowledged alert reaches the police at stage 2 after
	 * escalate_after; the acknowledged one never does. */
	assert_int_equal(db_wait("SELECT count(*) FROM alerts WHERE stage = 2 AND case_id = '"
				 OWNER "CA-open'", 1, ESCALATE_MS + PATIENCE_MS), 1);
	assert_true(alert_time(open_id, 2) - alert_time(open_id, 1) >= ESCALATE_MS);
	while (wall_ms() - raised < ESCALATE_MS + 1500)
		usleep(50000);
	/* The acknowledgement re-armed the watchdog: the silence went on, so
	 * one window after it, not before, the acknowledged alert ended
	 * (superseded) and a new one was raised, in the same commit at the
	 * next position. */
	assert_int_equal(db_wait("SELECT count(*) FROM alerts WHERE stage = 1 AND case_id = '"
				 OWNER "CA-acked'", 2, PATIENCE_MS), 2);
	char end_id[33], rearm_id[33];
	unsigned long long end_pos = stored_alert(OWNER "CA-acked", 0, end_id);
	assert_string_equal(end_id, acked_id);
	stored_other_alert(OWNER "CA-acked", 1, acked_id, rearm_id);
	{
		char sql[200];
		snprintf(sql, sizeof(sql), "SELECT position FROM alerts WHERE alert_id = x'%s'",
			 rearm_id);
		assert_int_equal(db_int(&R, sql), (long long)end_pos + 1);
	}
	long long ended = alert_time(acked_id, 0);
	if (ended < acked_at + 2000 || ended > acked_at + 2000 + LATE_MS)
		fail_msg("the acknowledged alert ended %lld ms after the acknowledgement; the "
			 "window is 2 s", ended - acked_at);
	assert_int_equal(alert_time(rearm_id, 1), ended);
	/* The acknowledged alert never escalated: it has exactly its raise and
	 * its end, which went to the recipients of its stage 1 (no police). */
	{
		char sql[200], rcp[256];
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM alerts WHERE alert_id = x'%s'",
			 acked_id);
		assert_int_equal(db_int(&R, sql), 2);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM alerts WHERE alert_id = x'%s' AND "
			 "stage = 2", acked_id);
		assert_int_equal(db_int(&R, sql), 0);
		snprintf(sql, sizeof(sql), "SELECT replace(recipients, char(10), ',') FROM alerts "
			 "WHERE position = %llu", end_pos);
		assert_int_equal(db_text(&R, sql, rcp, sizeof(rcp)), 0);
		assert_string_equal(rcp, COORD "," OTHER_ORG "," SHELTER);
		snprintf(sql, sizeof(sql), "SELECT replace(recipients, char(10), ',') FROM alerts "
			 "WHERE alert_id = x'%s' AND stage = 1", acked_id);
		assert_int_equal(db_text(&R, sql, rcp, sizeof(rcp)), 0);
		assert_string_equal(rcp, COORD "," OTHER_ORG "," SHELTER);
	}

	r = vigil_as(0, POLICE, "--json", "alerts", NULL);
	cli_expect_ok(r);
	size_t n = json_lines(r->out, lines, 8);
	size_t n_open = 0;
	for (size_t i = 0; i < n; i++) {
		char id[40], c[80];
		jstr(jmust(lines[i], "alert_id"), id, sizeof(id));
		jstr(jmust(lines[i], "case_id"), c, sizeof(c));
		/* Neither the acknowledged alert nor its end (stage 1
		 * recipients) is for the police. */
		if (!strcmp(id, acked_id))
			fail_msg("the police got the acknowledged alert: %s", lines[i]);
		expect_raw(lines[i], "stage", "2");
		if (strcmp(id, open_id) != 0) {
			/* The re-raised alert escalated in its turn. */
			assert_string_equal(id, rearm_id);
			continue;
		}
		n_open++;
		expect_member(lines[i], "case_id", OWNER "CA-open");
		expect_raw(lines[i], "cause", "null");
		expect_member(lines[i], "police", "consider");
		expect_member(lines[i], "police_advice", "missing-person report to be considered");
		expect_raw(lines[i], "recipients", "[\"" COORD "\",\"" OTHER_ORG "\",\"" POLICE "\",\""
			   SHELTER "\"]");
		check_stored(lines[i]);
	}
	assert_int_equal(n_open, 1);
	/* In text: "stage 2 (escalated)" and the advice; the end of the
	 * acknowledged alert, and on the next line the re-raised alert, which
	 * says why it came again. */
	r = vigil_as(0, OTHER, "alerts", NULL);
	cli_expect_ok(r);
	assert_non_null(strstr(r->out, " " OWNER "CA-open silence stage 2 (escalated); alert: "));
	assert_non_null(strstr(r->out, "; police: missing-person report to be considered; "));
	char frag[512], end_at[TIME_RFC3339_MAX];
	time_format_rfc3339(ended, end_at);
	snprintf(frag, sizeof(frag), "\n%llu %s " OWNER "CA-acked silence resolved (superseded); "
		 "alert: %s; police: none; ", end_pos, end_at, acked_id);
	const char *end_line = strstr(r->out, frag);
	if (!end_line)
		fail_msg("no line beginning \"%s\" in:\n%s", frag + 1, r->out);
	const char *end_eol = strchr(end_line + 1, '\n');
	assert_non_null(end_eol);
	static const char end_rcp[] = "; recipients: " COORD ", " OTHER_ORG ", " SHELTER;
	assert_true((size_t)(end_eol - end_line) > strlen(end_rcp));
	assert_memory_equal(end_eol - strlen(end_rcp), end_rcp, strlen(end_rcp));
	snprintf(frag, sizeof(frag), "\n%llu %s " OWNER "CA-acked silence stage 1 (raised again: "
		 "the silence went on after an acknowledgement); alert: %s;", end_pos + 1, end_at,
		 rearm_id);
	if (strncmp(end_eol, frag, strlen(frag)) != 0)
		fail_msg("the line after the end of the acknowledged alert is not the re-raised "
			 "alert \"%s\":\n%s", frag + 1, r->out);
	snprintf(frag, sizeof(frag), " " OWNER "CA-acked silence stage 2 (escalated); alert: %s;",
		 acked_id);
	assert_null(strstr(r->out, frag));
	/* The escalated alert can still be acknowledged by the coordinator. */
	r = vigil_as(0, COORD, "alert", "ack", open_id, "--case", OWNER "CA-open", "--decision",
		     "not-filed", "--reason", "she called her sister yesterday", NULL);
	cli_expect_ok(r);
	char said[256];
	snprintf(said, sizeof(said), "case " OWNER "CA-open: alert %s acknowledged: not filed\n"
		 "entry ", open_id);
	if (strncmp(r->out, said, strlen(said)) != 0)
		fail_msg("unexpected: %s", r->out);
	snprintf(said, sizeof(said), "\nalert_id: %s\n", open_id);
	assert_non_null(strstr(r->out, said));
	/* An alert id that is not the open one is refused: the first,
	 * acknowledged alert of a case re-armed since, too. */
	r = vigil_as(0, COORD, "alert", "ack", "00112233445566778899aabbccddeeff", "--case",
		     OWNER "CA-open", "--decision", "other", "--reason", "test", NULL);
	cli_expect_status(r, 1);
	assert_string_equal(r->err, REFUSED "BAD_REQUEST: that alert is not open\n");
	r = vigil_as(0, COORD, "alert", "ack", acked_id, "--case", OWNER "CA-acked", "--decision",
		     "other", "--reason", "test", NULL);
	cli_expect_status(r, 1);
	assert_string_equal(r->err, REFUSED "BAD_REQUEST: that alert is not open\n");
	world_down(&w);
}

/* ---- resolution ------------------------------------------------------------------------- */

static void test_contact_resolves(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, WATCH_NO_ESCALATION);
	open_case(&w, OWNER "CA-resolve");
	assert_int_equal(db_wait("SELECT count(*) FROM alerts", 1, PATIENCE_MS), 1);
	char alert_id[33];
	stored_alert(OWNER "CA-resolve", 1, alert_id);
	struct cli_result *r = vigil_as(0, COORD, "--json", "alerts", NULL);
	cli_expect_ok(r);
	char *lines[8];
	assert_int_equal(json_lines(r->out, lines, 8), 1);

	/* IOM reaches her (its first connection). */
	int64_t reached = wall_ms();
	r = vigil_as(0, IOM, "contact", "--case", OWNER "CA-resolve", "--channel", "phone", "--outcome",
		     "reached-safe", NULL);
	cli_expect_ok(r);
	assert_int_equal(db_wait("SELECT count(*) FROM alerts WHERE stage = 0", 1, PATIENCE_MS), 1);
	char same[33];
	unsigned long long pos = stored_alert(OWNER "CA-resolve", 0, same);
	assert_string_equal(same, alert_id);
	r = vigil_as(0, COORD, "--json", "alerts", NULL);
	cli_expect_ok(r);
	size_t n = json_lines(r->out, lines, 8);
	/* The resolution; and, on a machine slow enough for the next 2 s
	 * window since the contact to end first, the next alert (a new one). */
	assert_true(n == 1 || n == 2);
	if (n == 2) {
		expect_member(lines[1], "case_id", OWNER "CA-resolve");
		expect_raw(lines[1], "stage", "1");
		expect_raw(lines[1], "cause", "null");
		assert_null(strstr(lines[1], alert_id));
		char t[64];
		int64_t at;
		jstr(jmust(lines[1], "received_at"), t, sizeof(t));
		assert_int_equal(time_parse_rfc3339(t, &at), VG_OK);
		assert_true(at - reached >= 2000);
	}
	expect_raw(lines[0], "stage", "0");
	expect_member(lines[0], "resolution", "contact");
	expect_raw(lines[0], "cause", "null");
	expect_member(lines[0], "alert_id", alert_id);
	expect_member(lines[0], "police", "none");
	assert_true(strncmp(jmust(lines[0], "last_success"), "null", 4) != 0);
	check_stored(lines[0]);
	/* The other coordinator sees the alert and its resolution, in order. */
	r = vigil_as(0, OTHER, "alerts", NULL);
	cli_expect_ok(r);
	char *second = strchr(r->out, '\n');
	assert_non_null(second);
	assert_non_null(strstr(r->out, " " OWNER "CA-resolve silence stage 1; alert: "));
	char want[128];
	snprintf(want, sizeof(want), "\n%llu ", pos);
	assert_true(strncmp(second, want, strlen(want)) == 0);
	assert_non_null(strstr(second, " " OWNER "CA-resolve silence resolved (contact); alert: "));
	assert_non_null(strstr(second, alert_id));
	/* The case's log shows the alert entries with their fields. */
	r = vigil_as(0, COORD, "log", OWNER "CA-resolve", NULL);
	cli_expect_ok(r);
	char frag[160];
	snprintf(frag, sizeof(frag), " vigil-relay alert kind=silence stage=1 alert=%s police=none ",
		 alert_id);
	assert_non_null(strstr(r->out, frag));
	snprintf(frag, sizeof(frag), " vigil-relay alert kind=silence stage=0 alert=%s "
		 "resolution=contact police=none ", alert_id);
	assert_non_null(strstr(r->out, frag));
	world_down(&w);
}

/* ---- usage ---------------------------------------------------------------------------- */

struct usage_case {
	const char *args[12];
	const char *line;
};

/* Replaces every "old" in the relay's configuration file by "new". */
static void conf_replace(const char *old, const char *new_text)
{
	FILE *f = fopen(R.conf, "r");
	assert_non_null(f);
	char buf[8192];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char out[9000];
	size_t o = 0, ol = strlen(old);
	for (const char *p = buf; *p;) {
		if (!strncmp(p, old, ol)) {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%s", new_text);
			p += ol;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	f = fopen(R.conf, "w");
	assert_non_null(f);
	fputs(out, f);
	fclose(f);
}

/* The relay's certificate is renewed (new key) between an alert and its
 * delivery: the alert, signed with the old key, still verifies, with the
 * old certificate the delivery carries; a delivery must not be able to
 * pass off another organisation's certificate (test_libvigil's fake relay
 * covers that). */
static void test_alert_survives_certificate_renewal(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, WATCH_NO_ESCALATION);
	open_case(&w, OWNER "CA-renewal");
	assert_int_equal(db_wait("SELECT count(*) FROM alerts", 1, PATIENCE_MS), 1);
	char alert_id[33];
	stored_alert(OWNER "CA-renewal", 1, alert_id);
	tclient_close(&w.coord);
	assert_int_equal(trelay_stop(&R), 0);
	conf_replace("relay.crt", "relay-renewed.crt");
	conf_replace("relay.key", "relay-renewed.key");
	assert_int_equal(trelay_start(&R), 0);
	struct cli_result *r = vigil_as(0, COORD, "--json", "alerts", NULL);
	cli_expect_ok(r);
	assert_non_null(strstr(r->out, alert_id));
	assert_non_null(strstr(r->out, "\"case_id\":\"" OWNER "CA-renewal\""));
	/* What the tool verified it with: the former certificate, stored with
	 * the entry; the renewed one has signed nothing yet. */
	assert_int_equal(db_int(&R, "SELECT count(*) FROM certs WHERE organisation = 'vigil-relay'"), 1);
	assert_int_equal(trelay_stop(&R), 0);
	trelay_cleanup(&R);
	memset(&R, 0, sizeof(R));
}

#define ID "00112233445566778899aabbccddeeff"

static const struct usage_case usage_cases[] = {
	{ { "alert", "ack", ID, "--case", OWNER "CA-1", "--decision", "maybe", NULL },
	  "alert ack: unknown decision \"maybe\" (one of: police-report-filed, not-filed, other)" },
	{ { "alert", "ack", ID, "--case", OWNER "CA-1", "--decision", "not-filed", NULL },
	  "alert ack: the decision \"not-filed\" needs a reason (1-280 bytes of UTF-8)" },
	{ { "alert", "ack", ID, "--case", OWNER "CA-1", "--decision", "other", NULL },
	  "alert ack: the decision \"other\" needs a reason (1-280 bytes of UTF-8)" },
	{ { "alert", "ack", "0011zz", "--case", OWNER "CA-1", "--decision", "other", "--reason", "x",
	    NULL },
	  "alert ack: the alert id wants 32 hex digits, not '0011zz'" },
	{ { "alert", "ack", ID "00", "--case", OWNER "CA-1", "--decision", "police-report-filed", NULL },
	  "alert ack: the alert id wants 32 hex digits, not '" ID "00'" },
	{ { "alert", "ack", "--case", OWNER "CA-1", "--decision", "other", "--reason", "x", NULL },
	  "alert ack: give the alert id: vigil alert ack ALERT_ID --case ID --decision "
	  "DECISION" },
	{ { "alert", "ack", ID, "--decision", "other", "--reason", "x", NULL },
	  "alert ack: --case is required" },
	{ { "alert", "ack", ID, "--case", OWNER "CA-1", NULL }, "alert ack: --decision is required" },
	{ { "alert", "ack", ID, "--case", "x", "--decision", "police-report-filed", NULL },
	  "alert ack: case id \"x\" is invalid: it must be OWNER/PSEUDONYM: the owner's "
	  "organisation id, '/', and 3-64 characters of [A-Za-z0-9-]" },
	{ { "alert", "ack", ID, "--case", "CA-1", "--decision", "police-report-filed", NULL },
	  "alert ack: case id \"CA-1\" is invalid: it must be OWNER/PSEUDONYM: the owner's "
	  "organisation id, '/', and 3-64 characters of [A-Za-z0-9-]" },
	{ { "alert", "ack", ID, "ID2", "--case", OWNER "CA-1", "--decision", "other", NULL },
	  "alert ack: unexpected argument 'ID2'" },
	{ { "alert", "ack", ID, "--case", OWNER "CA-1", "--decision", "other", "--reason", "", NULL },
	  "alert ack: --reason wants a text" },
	{ { "alert", NULL }, "alert: give a subcommand: ack" },
	{ { "alert", "nack", NULL }, "alert: unknown subcommand 'nack' (ack)" },
	{ { "alerts", "--after", "-1", NULL },
	  "alerts: --after wants a log position (a number), not '-1'" },
	{ { "alerts", "now", NULL }, "alerts: unexpected argument 'now'" },
	{ { "alerts", "--follow=yes", NULL }, "unknown option '--follow=yes'" },
};

static void test_usage_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(usage_cases) / sizeof(usage_cases[0]); i++) {
		const char *const *a = usage_cases[i].args;
		struct cli_result *r = vigil_as(0, COORD, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
					    a[8], a[9], a[10], NULL);
		cli_expect_usage(r, usage_cases[i].line);
	}
	/* The help of each, on stdout. */
	struct cli_result *r = vigil_as(0, COORD, "alerts", "--help", NULL);
	cli_expect_ok(r);
	static const char head[] = "usage: vigil [OPTIONS] alerts [--follow] [--after N] "
				   "[--desk NAME]\n                              [--exec CMD "
				   "[--exec-timeout SECONDS]]\n       vigil [OPTIONS] alerts --open\n";
	assert_true(strncmp(r->out, head, strlen(head)) == 0);
	r = vigil_as(0, COORD, "alert", "ack", "--help", NULL);
	cli_expect_ok(r);
	static const char ack_usage[] = "usage: vigil [OPTIONS] alert ack ALERT_ID --case ID "
					"--decision DECISION\n";
	assert_true(strncmp(r->out, ack_usage, strlen(ack_usage)) == 0);
	assert_non_null(strstr(r->out, "police-report-filed, not-filed, other"));
	r = vigil_as(0, COORD, "--help", NULL);
	cli_expect_ok(r);
	assert_non_null(strstr(r->out, "\n  alerts      "));
	assert_non_null(strstr(r->out, "\n  alert       "));
}


/*
 * Desks and the open alerts (issue 11): two desks of the coordinator each
 * receive the alert once, and the organisation's default desk too; "vigil
 * alerts --open" lists it for another organisation's caseworker, twice,
 * consuming nothing; status shows its id, kind and stage label; police, at
 * stage 1, see no id; a desk name that is no name is refused by the tool
 * and by the relay.
 */
static void test_desks_and_open(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, WATCH_NO_ESCALATION);
	open_case(&w, OWNER "CA-desks");
	assert_int_equal(db_wait("SELECT count(*) FROM alerts WHERE stage = 1", 1, PATIENCE_MS), 1);
	char id[33];
	stored_alert(OWNER "CA-desks", 1, id);

	struct cli_result *r = vigil_as(0, COORD, "alerts", "--desk", "day", NULL);
	cli_expect_ok(r);
	if (!strstr(r->out, id))
		fail_msg("the day desk did not get the alert: %s", r->out);
	/* The relay stores the desk's acknowledgement on its writer: it may
	 * land a moment after the tool has exited. */
	assert_int_equal(db_wait("SELECT count(*) FROM delivery_acks WHERE org = '" COORD "/day'",
				 1, PATIENCE_MS), 1);
	r = vigil_as(0, COORD, "alerts", "--desk", "day", NULL);
	cli_expect_ok(r);
	assert_string_equal(r->out, "");
	r = vigil_as(0, COORD, "alerts", "--desk", "night", NULL);
	cli_expect_ok(r);
	if (!strstr(r->out, id))
		fail_msg("the night desk did not get the alert: %s", r->out);
	r = vigil_as(0, COORD, "alerts", NULL);
	cli_expect_ok(r);
	if (!strstr(r->out, id))
		fail_msg("the default desk did not get the alert: %s", r->out);
	assert_int_equal(db_wait("SELECT count(*) FROM delivery_acks WHERE org IN ('" COORD
				 "', '" COORD "/day', '" COORD "/night')", 3, PATIENCE_MS),
			 3);

	/* The open alerts, as another organisation's caseworker sees them. */
	for (int round = 0; round < 2; round++) {
		r = vigil_as(0, OTHER, "alerts", "--open", NULL);
		cli_expect_ok(r);
		char want[512];
		snprintf(want, sizeof(want), OWNER "CA-desks silence; stage: 1 (to the case's workers); "
			 "alert: %s; raised: ", id);
		if (strncmp(r->out, want, strlen(want)) != 0)
			fail_msg("--open: %s", r->out);
		/* escalate_after is 1 h: it escalates then. */
		if (!strstr(r->out, "; escalates: 20") || !strstr(r->out, "; deadline missed: 20") ||
		    !strstr(r->out, "; police: none; acknowledged by: nobody\n"))
			fail_msg("--open: %s", r->out);
	}
	/* It consumed nothing: the other coordinator's delivery is still there. */
	r = vigil_as(0, OTHER, "alerts", NULL);
	cli_expect_ok(r);
	if (!strstr(r->out, id))
		fail_msg("after --open the alert was not delivered: %s", r->out);
	r = vigil_as(0, OTHER, "--json", "alerts", "--open", NULL);
	cli_expect_ok(r);
	expect_member(r->out, "alert_id", id);
	expect_member(r->out, "stage_label", "1 (to the case's workers)");
	expect_raw(r->out, "acks", "[]");
	/* Police are no recipient at stage 1: nothing open for them. */
	r = vigil_as(0, POLICE, "alerts", "--open", NULL);
	cli_expect_ok(r);
	assert_string_equal(r->out, "no open alerts\n");

	/* The acknowledgement shows in the list. */
	r = vigil_as(0, COORD, "alert", "ack", id, "--case", OWNER "CA-desks", "--decision",
		     "police-report-filed", NULL);
	cli_expect_ok(r);
	r = vigil_as(0, OTHER, "--json", "alerts", "--open", NULL);
	cli_expect_ok(r);
	const char *ack = jnth(jmust(r->out, "acks"), 0);
	expect_member(ack, "organisation", COORD);
	expect_member(ack, "decision", "police-report-filed");

	/* Status: its id, kind and meaning; not for police at stage 1. */
	r = vigil_as(0, COORD, "status", OWNER "CA-desks", NULL);
	cli_expect_ok(r);
	char line[256];
	snprintf(line, sizeof(line), "open alert:              %s (silence)\n", id);
	if (!strstr(r->out, line) ||
	    !strstr(r->out, "alert stage:             1 (to the case's workers)\n") ||
	    !strstr(r->out, "next deadline:           "))
		fail_msg("status: %s", r->out);
	/* The deadline also in words ("in 59 min", "overdue by 2 h"). */
	const char *nd = strstr(r->out, "next deadline:           ");
	const char *eol = nd ? strchr(nd, '\n') : NULL;
	char words[64] = "";
	if (!eol || eol[-1] != ')' ||
	    sscanf(nd, "next deadline: %*s (%63[^)])", words) != 1 ||
	    (strncmp(words, "in ", 3) != 0 && strncmp(words, "overdue by ", 11) != 0))
		fail_msg("next deadline not in words: %s", r->out);
	r = vigil_as(0, POLICE, "--json", "status", OWNER "CA-desks", NULL);
	cli_expect_ok(r);
	expect_raw(r->out, "alert_id", "null");
	assert_null(strstr(r->out, "next_deadline"));

	/* Desk names. */
	r = vigil_as(0, COORD, "alerts", "--desk", "Day!", NULL);
	cli_expect_usage(r, "alerts: --desk: a desk is 1-32 of a-z 0-9 -, not \"Day!\"");
	r = vigil_as(0, COORD, "alerts", "--open", "--follow", NULL);
	cli_expect_usage(r, "alerts: --open lists what is open; it takes no --follow, --after, "
			    "--desk or --exec");
	struct tclient raw;
	if (tclient_open(&raw, R.port, COORD) != 0)
		fail_msg("%s", raw.err);
	Vigil__V1__Subscribe sb = VIGIL__V1__SUBSCRIBE__INIT;
	sb.desk = "Day!";
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_SUBSCRIBE;
	f.subscribe = &sb;
	Vigil__V1__Frame *a = tclient_roundtrip(&raw, &f);
	if (!a)
		fail_msg("%s", raw.err);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_ERROR);
	assert_string_equal(a->error->message, "desk must be 1-32 of [a-z0-9-]");
	frame_free(a);
	tclient_close(&raw);
	world_down(&w);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_alerts_printed_and_acknowledged, teardown),
		cmocka_unit_test_teardown(test_follow, teardown),
		cmocka_unit_test_teardown(test_follow_erasure, teardown),
		cmocka_unit_test_teardown(test_ack_stops_escalation, teardown),
		cmocka_unit_test_teardown(test_contact_resolves, teardown),
		cmocka_unit_test_teardown(test_alert_survives_certificate_renewal, teardown),
		cmocka_unit_test_teardown(test_desks_and_open, teardown),
		cmocka_unit_test(test_usage_errors),
	};
	return cmocka_run_group_tests_name("cli_alerts", tests, NULL, NULL);
}
