/*
 * The Prometheus endpoint of a real vigild ([metrics] port on loopback):
 * scraped with a plain HTTP/1.1 client over a socket, the page read by
 * prometheus_client's own parser (tests/integration/promparse.py), and the
 * figures checked to move exactly as the test drives the relay.
 *
 * The loop's figures reach the page once a second (metrics.h), so every
 * check of a change scrapes until the expected value shows, for at most a
 * few seconds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "casekit.h"
#include "harness.h"
#include "proto/status.h"

static struct trelay R;
static int metrics_port;               /* the relay scraped: R's unless a test says */
static const char *page_dir;           /* where the page is written for promparse.py */

/* ---- a plain HTTP client ------------------------------------------------- */

struct reply {
	int status;
	char head[4096];      /* status line and headers */
	char body[1 << 18];
	size_t body_len;
};

/* One request on a connection of its own, read to the server's close. */
static void http(const char *method, const char *path, struct reply *r)
{
	memset(r, 0, sizeof(*r));
	int fd = tcp_connect_port(metrics_port);
	if (fd < 0)
		fail_msg("cannot connect to the metrics port %d", metrics_port);
	char req[256];
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", method,
			 path);
	assert_int_equal(write(fd, req, (size_t)n), n);
	static char buf[sizeof(r->head) + sizeof(r->body)];
	size_t len = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 5000) != 1)
			fail_msg("%s %s: no answer within 5 s", method, path);
		ssize_t got = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (got < 0)
			fail_msg("%s %s: read failed", method, path);
		if (got == 0)
			break;
		len += (size_t)got;
		if (len == sizeof(buf) - 1)
			fail_msg("%s %s: answer too long", method, path);
	}
	close(fd);
	buf[len] = '\0';
	char *end = strstr(buf, "\r\n\r\n");
	if (!end || sscanf(buf, "HTTP/1.1 %d", &r->status) != 1)
		fail_msg("%s %s: not an HTTP answer: %.200s", method, path, buf);
	size_t hl = (size_t)(end - buf);
	assert_true(hl < sizeof(r->head));
	memcpy(r->head, buf, hl);
	r->body_len = len - hl - 4;
	if (r->body_len >= sizeof(r->body))
		fail_msg("%s %s: body too long", method, path);
	memcpy(r->body, end + 4, r->body_len);
	r->body[r->body_len] = '\0';
}

/* The value of a header (case-insensitive name), or NULL. */
static const char *header(const struct reply *r, const char *name, char *out, size_t out_len)
{
	size_t n = strlen(name);
	for (const char *p = strstr(r->head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
			line += n + 1;
			while (*line == ' ')
				line++;
			size_t l = strcspn(line, "\r");
			snprintf(out, out_len, "%.*s", (int)l, line);
			return out;
		}
	}
	return NULL;
}

/* ---- the page, as prometheus_client reads it ----------------------------- */

static char page[1 << 17];   /* promparse.py's output: NAME{LABELS} VALUE a line */
static struct reply last;    /* the last answer to GET /metrics */

/* The value of key in text, a line "KEY VALUE", or NAN. */
static double find(const char *text, const char *key)
{
	size_t n = strlen(key);
	for (const char *p = text; *p;) {
		if (strncmp(p, key, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		const char *nl = strchr(p, '\n');
		if (!nl)
			break;
		p = nl + 1;
	}
	return NAN;
}

static void fetch(void)
{
	http("GET", "/metrics", &last);
	assert_int_equal(last.status, 200);
	char ctype[128];
	assert_non_null(header(&last, "Content-Type", ctype, sizeof(ctype)));
	assert_string_equal(ctype, "text/plain; version=0.0.4; charset=utf-8");
}

/* A sample in the page as served, before any parser (to wait cheaply for
 * a figure; every check is made on what promparse.py read). */
static double raw_sample(const char *key)
{
	return find(last.body, key);
}

/* Reads the last page fetched with prometheus_client's parser. */
static void parse(void)
{
	char path[700], err[2048];
	snprintf(path, sizeof(path), "%s/metrics.txt", page_dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(last.body, 1, last.body_len, f), last.body_len);
	fclose(f);
	const char *argv[] = { PYTHON3, PROMPARSE, path, NULL };
	int rc = run_capture(argv, NULL, page, sizeof(page), err, sizeof(err), 20000);
	if (rc != 0)
		fail_msg("promparse.py exit %d: %s", rc, err);
}

static void scrape(void)
{
	fetch();
	parse();
}

/* A sample of the last scrape as parsed (labels sorted), or NAN. */
static double sample(const char *key)
{
	return find(page, key);
}

static double scrape_sample(const char *key)
{
	scrape();
	double v = sample(key);
	if (isnan(v))
		fail_msg("no sample %s on the page", key);
	return v;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Scrapes until the page shows the loop's figures as they were after
 * this call began, so that what the test did before is on it (a base
 * line to count from). */
static void settle(void)
{
	int64_t t0 = mono_ms();
	for (int i = 0; i < 100; i++) {
		int64_t before = mono_ms();
		fetch();
		double age = raw_sample("vigil_metrics_snapshot_age_seconds");
		if (age * 1000 < (double)(before - t0)) {
			parse();
			return;
		}
		usleep(50 * 1000);
	}
	fail_msg("the page shows no newer figures of the loop");
}

/* Scrapes until key shows want (the loop's figures lag by up to 1 s). */
static void wait_sample(const char *key, double want)
{
	double v = NAN;
	for (int i = 0; i < 100; i++) {
		fetch();
		if (raw_sample(key) == want) {
			parse();
			v = sample(key);
			if (v != want)
				fail_msg("%s is %g as parsed, %g as served", key, v, want);
			return;
		}
		usleep(50 * 1000);
	}
	fail_msg("%s is %g, expected %g", key, raw_sample(key), want);
}

/* ---- fixtures ------------------------------------------------------------ */

static int group_setup(void **state)
{
	(void)state;
	metrics_port = unused_port();
	char extra[128];
	snprintf(extra, sizeof(extra), "[metrics]\nport = %d\n", metrics_port);
	trelay_setup(&R, "handshake_timeout = 1s", extra);
	page_dir = R.dir;
	if (trelay_start(&R) != 0)
		return -1;
	trelay_open_case(&R, "se-stockholm-coord/SE-2026-0042");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	int rc = trelay_stop(&R);
	int drained = trelay_log_has(&R, "drained:", 0);
	trelay_cleanup(&R);
	if (rc != 0 || !drained) {
		fprintf(stderr, "relay exit status %d (drained line %s)\n", rc,
			drained ? "seen" : "missing");
		return -1;
	}
	return 0;
}

/* ---- tests --------------------------------------------------------------- */

/* The page parses with HELP and TYPE for every family; HEAD has no body;
 * other paths are 404, other methods 405. */
static void test_page(void **state)
{
	(void)state;
	scrape();
	assert_true(sample("vigil_build_info{version=\"" VIGIL_VERSION "\"}") == 1);
	static const char *const present[] = {
		"vigil_connections{state=\"handshake\"}",
		"vigil_connections{state=\"hello\"}",
		"vigil_connections{state=\"ready\"}",
		"vigil_handshakes_total{result=\"ok\"}",
		"vigil_handshakes_refused_total{reason=\"revoked\"}",
		"vigil_records_total{result=\"stored\"}",
		"vigil_records_total{result=\"duplicate\"}",
		"vigil_records_refused_total{code=\"BAD_REQUEST\"}",
		"vigil_writer_batch_jobs_count",
		"vigil_writer_commit_seconds_bucket{le=\"+Inf\"}",
		"vigil_writer_queue_jobs",
		"vigil_log_entries",
		"vigil_checkpoint_age_seconds",
		"vigil_alerts_total{event=\"raised\"}",
		"vigil_alerts_total{event=\"escalated\"}",
		"vigil_alerts_total{event=\"resolved\"}",
		"vigil_deliveries_pending{organisation=\"se-stockholm-coord\"}",
		"vigil_event_loop_lag_seconds_bucket{le=\"0.001\"}",
		"vigil_event_loop_lag_max_seconds",
		"vigil_event_loop_lag_recent_max_seconds",
		"vigil_database_size_bytes{file=\"database\"}",
		"vigil_database_size_bytes{file=\"wal\"}",
		"vigil_reloads_total{result=\"ok\"}",
		"vigil_reloads_total{result=\"failed\"}",
		"vigil_metrics_snapshot_age_seconds",
	};
	for (size_t i = 0; i < sizeof(present) / sizeof(present[0]); i++)
		if (isnan(sample(present[i])) &&
		    /* PostgreSQL has one WAL for all its databases: no sample. */
		    !(test_backend_pg() && strstr(present[i], "file=\"wal\"")))
			fail_msg("no sample %s", present[i]);
	if (test_backend_pg())
		assert_true(isnan(sample("vigil_database_size_bytes{file=\"wal\"}")));
	/* The relay itself is sent no alerts. */
	assert_true(isnan(sample("vigil_deliveries_pending{organisation=\"vigil-relay\"}")));
	assert_true(sample("vigil_database_size_bytes{file=\"database\"}") > 0);
	assert_true(sample("vigil_log_entries") >= PKI_MEMBER_KEYS);
	assert_true(sample("vigil_checkpoint_age_seconds") < 120);
	assert_true(sample("vigil_metrics_snapshot_age_seconds") < 3);
	settle();
	assert_true(sample("vigil_event_loop_lag_seconds_count") > 0);
	/* The maxima are seconds, and the recent one is within the whole. */
	assert_true(sample("vigil_event_loop_lag_max_seconds") >= 0);
	assert_true(sample("vigil_event_loop_lag_recent_max_seconds") >= 0);
	assert_true(sample("vigil_event_loop_lag_recent_max_seconds") <=
		    sample("vigil_event_loop_lag_max_seconds"));

	struct reply *r = malloc(sizeof(*r));
	assert_non_null(r);
	char v[128];
	http("HEAD", "/metrics", r);
	assert_int_equal(r->status, 200);
	assert_int_equal(r->body_len, 0);
	assert_non_null(header(r, "Content-Type", v, sizeof(v)));
	assert_string_equal(v, "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(header(r, "Content-Length", v, sizeof(v)));
	assert_true(atoi(v) > 1000);
	static const char *const elsewhere[] = { "/", "/metrics/", "/metricsx", "/other" };
	for (size_t i = 0; i < sizeof(elsewhere) / sizeof(elsewhere[0]); i++) {
		http("GET", elsewhere[i], r);
		if (r->status != 404)
			fail_msg("GET %s: %d", elsewhere[i], r->status);
	}
	http("POST", "/metrics", r);
	assert_int_equal(r->status, 405);
	assert_non_null(header(r, "Allow", v, sizeof(v)));
	assert_string_equal(v, "GET, HEAD");
	free(r);
}

static Vigil__V1__Frame *submit_signed_by(struct tclient *c, const struct contact_spec *s,
					  const char *keyname)
{
	uint8_t *rec, *sig;
	size_t rec_len, sig_len;
	contact_build(s, &rec, &rec_len);
	sign_with(keyname, rec, rec_len, &sig, &sig_len);
	Vigil__V1__Frame *a = tclient_submit(c, rec, rec_len, sig, sig_len);
	free(rec);
	free(sig);
	return a;
}

static void expect(Vigil__V1__Frame *a, int msg_case)
{
	assert_non_null(a);
	if ((int)a->msg_case != msg_case)
		fail_msg("answer %d (%s), expected %d", a->msg_case,
			 a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? a->error->message : "", msg_case);
	frame_free(a);
}

/* Stored, duplicate and refused records move their counters by exactly
 * what was submitted. */
static void test_records(void **state)
{
	(void)state;
	static const char STORED[] = "vigil_records_total{result=\"stored\"}";
	static const char DUP[] = "vigil_records_total{result=\"duplicate\"}";
	static const char BADSIG[] = "vigil_records_refused_total{code=\"BAD_SIGNATURE\"}";
	static const char BADREQ[] = "vigil_records_refused_total{code=\"BAD_REQUEST\"}";
	settle();
	double stored = sample(STORED), dup = sample(DUP), badsig = sample(BADSIG),
	       badreq = sample(BADREQ), entries = sample("vigil_log_entries"),
	       batches = sample("vigil_writer_batch_jobs_count");
	assert_false(isnan(stored) || isnan(dup) || isnan(badsig) || isnan(badreq));

	struct tclient c;
	if (tclient_open(&c, R.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	struct contact_spec s;
	for (uint32_t i = 1; i <= 3; i++) {
		contact_spec_default(&s, "iom-ru-moscow", 0xA000 + i);
		expect(tclient_submit_contact(&c, &s), VIGIL__V1__FRAME__MSG_RECEIPT);
	}
	/* The same record again: a duplicate, not a fourth. */
	contact_spec_default(&s, "iom-ru-moscow", 0xA001);
	expect(tclient_submit_contact(&c, &s), VIGIL__V1__FRAME__MSG_RECEIPT);
	/* Refusals, each under its own code. */
	contact_spec_default(&s, "iom-ru-moscow", 0);
	expect(submit_signed_by(&c, &s, "se-shelter-1"), VIGIL__V1__FRAME__MSG_ERROR);
	contact_spec_default(&s, "iom-ru-moscow", 0);
	s.channel = 42;
	expect(tclient_submit_contact(&c, &s), VIGIL__V1__FRAME__MSG_ERROR);
	expect(tclient_submit_contact(&c, &s), VIGIL__V1__FRAME__MSG_ERROR);
	tclient_close(&c);
	wait_sample(STORED, stored + 3);
	wait_sample(DUP, dup + 1);
	wait_sample(BADSIG, badsig + 1);
	wait_sample(BADREQ, badreq + 2);
	/* Exactly: a page taken after all of it shows no more. */
	settle();
	assert_true(sample(STORED) == stored + 3);
	assert_true(sample(DUP) == dup + 1);
	assert_true(sample(BADSIG) == badsig + 1);
	assert_true(sample(BADREQ) == badreq + 2);
	assert_true(sample("vigil_log_entries") == entries + 3);
	assert_true(sample("vigil_writer_batch_jobs_count") >= batches + 1);
}

/* Each refused handshake counts once, under its reason. */
static void test_handshake_refusals(void **state)
{
	(void)state;
	static const struct {
		const char *cert;   /* NULL: no client certificate */
		const char *reason;
	} cases[] = {
		{ "revoked", "revoked" },
		{ "expired", "expired" },
		{ "untrusted", "untrusted" },
		{ "nonmember", "unknown_organisation" },
		{ NULL, "no_certificate" },
		{ "no-ou", "other" },
	};
	size_t n = sizeof(cases) / sizeof(cases[0]);
	double before[sizeof(cases) / sizeof(cases[0])];
	char keys[sizeof(cases) / sizeof(cases[0])][96];
	settle();
	double refused = sample("vigil_handshakes_total{result=\"refused\"}");
	double ok = sample("vigil_handshakes_total{result=\"ok\"}");
	for (size_t i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "vigil_handshakes_refused_total{reason=\"%s\"}",
			 cases[i].reason);
		before[i] = sample(keys[i]);
		assert_false(isnan(before[i]));
	}
	for (size_t i = 0; i < n; i++) {
		struct tclient c;
		int rc = tclient_connect(&c, R.port, cases[i].cert, "vigil/1");
		if (rc == 0)
			rc = tclient_hello(&c);
		if (rc == 0)
			fail_msg("%s: accepted", cases[i].cert ? cases[i].cert : "no certificate");
		tclient_close(&c);
	}
	/* Each one once, under its own reason, and nothing else moved. */
	for (size_t i = 0; i < n; i++)
		wait_sample(keys[i], before[i] + 1);
	settle();
	for (size_t i = 0; i < n; i++)
		if (sample(keys[i]) != before[i] + 1)
			fail_msg("%s: %g, expected %g", keys[i], sample(keys[i]), before[i] + 1);
	assert_true(sample("vigil_handshakes_total{result=\"refused\"}") == refused + (double)n);
	assert_true(sample("vigil_handshakes_total{result=\"ok\"}") == ok);
}

/* The connections gauge follows connections through their states. */
static void test_connections(void **state)
{
	(void)state;
	static const char READY[] = "vigil_connections{state=\"ready\"}";
	static const char HELLO[] = "vigil_connections{state=\"hello\"}";
	settle();
	wait_sample(READY, 0);
	assert_true(sample(HELLO) == 0);
	double ok = sample("vigil_handshakes_total{result=\"ok\"}");
	struct tclient a, b, h;
	if (tclient_open(&a, R.port, "iom-ru-moscow") != 0 ||
	    tclient_open(&b, R.port, "se-stockholm-coord") != 0)
		fail_msg("%s%s", a.err, b.err);
	/* Authenticated, but no Hello yet. */
	if (tclient_connect(&h, R.port, "se-shelter-1", "vigil/1") != 0)
		fail_msg("%s", h.err);
	wait_sample(READY, 2);
	wait_sample(HELLO, 1);
	assert_true(sample("vigil_handshakes_total{result=\"ok\"}") == ok + 3);
	tclient_close(&a);
	tclient_close(&b);
	tclient_close(&h);
	wait_sample(READY, 0);
	wait_sample(HELLO, 0);
}

/* A SIGHUP reload counts as ok. */
static void test_reload(void **state)
{
	(void)state;
	static const char OK[] = "vigil_reloads_total{result=\"ok\"}";
	settle();
	double before = sample(OK);
	double failed = sample("vigil_reloads_total{result=\"failed\"}");
	kill(R.pid, SIGHUP);
	wait_sample(OK, before + 1);
	assert_true(sample("vigil_reloads_total{result=\"failed\"}") == failed);
}

/* A port that is taken is a start-up error naming the key's line. */
static void test_port_taken(void **state)
{
	(void)state;
	struct trelay t;
	char extra[128];
	snprintf(extra, sizeof(extra), "[metrics]\naddress = 127.0.0.1\nport = %d\n", metrics_port);
	trelay_setup(&t, NULL, extra);
	assert_int_not_equal(trelay_start(&t), 0);
	if (!trelay_log_has(&t, "[metrics] port: cannot serve metrics on 127.0.0.1 port", 3000))
		fail_msg("the relay's log does not say why it did not start");
	trelay_cleanup(&t);
	/* The running relay's endpoint is untouched. */
	assert_true(scrape_sample("vigil_build_info{version=\"" VIGIL_VERSION "\"}") == 1);
}

/* The deliveries pending per member: alert entries addressed to it after
 * its acknowledged position (rows written into a stopped relay's tables,
 * as the writer writes them: recipients one a line). */
static void test_pending_deliveries(void **state)
{
	(void)state;
	struct trelay t;
	int port = unused_port();
	char extra[128];
	snprintf(extra, sizeof(extra), "[metrics]\nport = %d\n", port);
	trelay_setup(&t, NULL, extra);
	assert_int_equal(trelay_start(&t), 0);
	assert_int_equal(trelay_stop(&t), 0);
	assert_int_equal(db_change(&t,
		"INSERT INTO alerts(position, case_id, alert_id, stage, recipients) VALUES "
		"(100, 'se-stockholm-coord/P-1', x'01', 1, 'se-stockholm-coord' || char(10) || "
		"'se-shelter-1'), "
		"(101, 'se-stockholm-coord/P-1', x'01', 2, 'se-stockholm-coord' || char(10) || "
		"'se-shelter-1' || char(10) || 'se-police-noa'), "
		"(102, 'se-stockholm-coord/P-2', x'02', 1, 'se-stockholm-coord'), "
		"(103, 'se-stockholm-coord/P-3', x'03', 1, 'se-stockholm-coordx');"
		"INSERT INTO delivery_acks(org, position) VALUES ('se-stockholm-coord', 100), "
		"('se-shelter-1', 101), ('nobody', 0);"), 0);
	assert_int_equal(trelay_start(&t), 0);
	int saved_port = metrics_port;
	const char *saved_dir = page_dir;
	metrics_port = port;
	page_dir = t.dir;
	scrape();
	metrics_port = saved_port;
	page_dir = saved_dir;
	static const struct {
		const char *org;
		double n;
	} want[] = {
		{ "se-stockholm-coord", 2 }, /* 101, 102 (not 103: another name) */
		{ "se-shelter-1", 0 },       /* acknowledged up to 101 */
		{ "se-police-noa", 1 },      /* never acknowledged: 101 */
		{ "iom-ru-moscow", 0 },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char key[128];
		snprintf(key, sizeof(key), "vigil_deliveries_pending{organisation=\"%s\"}",
			 want[i].org);
		if (sample(key) != want[i].n)
			fail_msg("%s: %g, expected %g", key, sample(key), want[i].n);
	}
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_handshake_refusals),
		cmocka_unit_test(test_connections),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_port_taken),
		cmocka_unit_test(test_pending_deliveries),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
