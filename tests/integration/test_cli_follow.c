/*
 * "vigil alerts --follow" that keeps working, and "--exec CMD", black-box:
 * the real binary run with fork/exec against a real vigild on loopback,
 * with watchdog windows of seconds (issue 11, section 2).
 *
 * A follower survives two restarts of its relay on the same port within
 * seconds: the alert it printed just before the first, whose
 * acknowledgement the stopping relay did not read, is acknowledged after
 * it reconnects and not printed again; an alert raised while it was away
 * comes once; stderr says when it lost the relay and when it was back.
 * --exec: a command that fails twice, then succeeds, gets the delivery
 * (its JSON on stdin, its fields in VIGIL_* variables) until it succeeds,
 * and only then is the delivery printed and acknowledged, once; without
 * --follow a failure ends the run; an erasure reaches it too; a command
 * that hangs is killed with its process group and run again.  Failures no
 * retry mends end the follower at once; SIGTERM during a wait ends it with
 * status 0.  The usage errors.  Every process a test starts is ended by its
 * PID, and every wait is bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "casekit.h"
#include "clikit.h"
#include "harness.h"

/* high 2 s, no escalation during a test. */
#define WATCH "[watchdog]\nhigh = 2s\nmedium = 3s\nlow = 1h\nfailed_attempts = 3\n" \
	      "handover_window = 1h\nescalate_after = 1h\n"
#define COORD "se-stockholm-coord"
#define OTHER_ORG "se-goteborg-coord"
#define POLICE "se-police-noa"
#define IOM "iom-ru-moscow"
#define SHELTER "se-shelter-1"
#define OWNER COORD "/"
/* How long a test waits for what must come (a loaded machine, sanitizers). */
#define PATIENCE_MS 10000
/* The lines "vigil alerts --follow" writes on stderr about the relay. */
#define LOST "vigil: lost the relay: "
#define BACK "vigil: reconnected to the relay after "
#define CONNECTED "vigil: connected to the relay after "
#define UNREACHABLE "vigil: cannot reach the relay: "

static struct trelay R;
static struct cli_bg BG = { .pid = -1, .out_fd = -1, .err_fd = -1 };
static const char *const PARTIES[] = { IOM, POLICE, OTHER_ORG, SHELTER };

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int teardown(void **state)
{
	(void)state;
	if (BG.pid > 0)
		cli_bg_stop(&BG, SIGKILL, 2000);
	trelay_cleanup(&R);
	memset(&R, 0, sizeof(R));
	return 0;
}

/* ---- the tool ----------------------------------------------------------------- */

/* vigil --relay 127.0.0.1:port --cert/--key <who> ..., then the arguments
 * up to a NULL. */
static void args_v(struct cli_args *a, int port, const char *who, va_list ap)
{
	cli_args_init(a, VIGIL_CLI_PATH);
	cli_add_conn(a, port, who, "ca.crt");
	cli_addv(a, ap);
}

static struct cli_result res;

static struct cli_result *vigil_as(const char *who, ...)
{
	static struct cli_args a;
	va_list ap;
	va_start(ap, who);
	args_v(&a, R.port ? R.port : 1, who, ap);
	va_end(ap);
	res.status = cli_run(&a, NULL, res.out, sizeof(res.out), res.err, sizeof(res.err));
	return &res;
}

static void bg_start_port(int port, const char *who, ...)
{
	static struct cli_args a;
	va_list ap;
	va_start(ap, who);
	args_v(&a, port, who, ap);
	va_end(ap);
	cli_bg_start(&BG, &a);
}

/* The next line the follower prints, or the test fails (what says what). */
static void must_line(char *line, size_t n, const char *what)
{
	int64_t seen;
	if (!cli_bg_line(&BG, PATIENCE_MS, line, n, &seen))
		fail_msg("%s: no line within %d ms; stderr:\n%s", what, PATIENCE_MS, BG.err);
}

/* Waits for the count-th stderr line beginning with prefix. */
static void must_err(const char *prefix, int count)
{
	if (cli_bg_err_lines(&BG, prefix, count, PATIENCE_MS) < count)
		fail_msg("no %d lines \"%s...\" on stderr within %d ms:\n%s", count, prefix,
			 PATIENCE_MS, BG.err);
}

/* ---- the relay ------------------------------------------------------------------ */

static void relay_up(int port)
{
	trelay_setup(&R, NULL, WATCH);
	if (port) {
		char p[32];
		snprintf(p, sizeof(p), "port = %d\n", port);
		file_replace(R.conf, "port = 0\n", p);
	}
	assert_int_equal(trelay_start(&R), 0);
	if (port)
		assert_int_equal(R.port, port);
}

/* Opens case_id (risk high: a window of 2 s) as the Stockholm coordinator,
 * on a connection of its own. */
static void open_case(const char *case_id)
{
	struct tclient c;
	if (tclient_open(&c, R.port, COORD) != 0)
		fail_msg("connect: %s", c.err);
	Vigil__V1__Frame *a = casekit_open(&c, case_id, PARTIES, 4,
					   VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0);
	if (!a || a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT)
		fail_msg("cannot open %s", case_id);
	frame_free(a);
	tclient_close(&c);
}

static long long db_wait(const char *sql, long long want, int ms)
{
	long long v = db_int(&R, sql);
	for (int64_t deadline = wall_ms() + ms; v < want && wall_ms() < deadline;) {
		sleep_ms(50);
		v = db_int(&R, sql);
	}
	return v;
}

/* The position of the stage 1 alert of case_id, once it is stored. */
static unsigned long long alert_of(const char *case_id)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM alerts WHERE case_id = '%s' AND stage = 1",
		 case_id);
	if (db_wait(sql, 1, 2000 + PATIENCE_MS) != 1)
		fail_msg("no alert of %s", case_id);
	snprintf(sql, sizeof(sql), "SELECT position FROM alerts WHERE case_id = '%s' AND stage = 1",
		 case_id);
	return (unsigned long long)db_int(&R, sql);
}

/* The position the relay stores as acknowledged by desk ("ORG/DESK"), -1
 * for none; waits (at most PATIENCE_MS) while it is below want. */
static long long acked_of(const char *desk, long long want)
{
	char sql[200];
	snprintf(sql, sizeof(sql), "SELECT coalesce((SELECT position FROM delivery_acks WHERE "
		 "org = '%s'), -1)", desk);
	return db_wait(sql, want, PATIENCE_MS);
}

/* ---- files ---------------------------------------------------------------------- */

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

/* The file's text (at most n - 1 bytes), "" when there is none. */
static void read_file(const char *path, char *out, size_t n)
{
	out[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	size_t got = fread(out, 1, n - 1, f);
	out[got] = '\0';
	fclose(f);
}

static int runs_of(const char *dir)
{
	char path[700], text[32];
	snprintf(path, sizeof(path), "%s/runs", dir);
	read_file(path, text, sizeof(text));
	return atoi(text);
}

static int count_prefix(const char *text, const char *prefix)
{
	int n = 0;
	for (const char *p = text; *p;) {
		if (!strncmp(p, prefix, strlen(prefix)))
			n++;
		const char *nl = strchr(p, '\n');
		if (!nl)
			break;
		p = nl + 1;
	}
	return n;
}

/* ---- surviving restarts --------------------------------------------------------- */

/* The delay "... in X s" of the count-th stderr line beginning with prefix. */
static double delay_of(const char *prefix, int count)
{
	const char *p = BG.err;
	for (int i = 0; p; ) {
		if (!strncmp(p, prefix, strlen(prefix)) && ++i == count) {
			const char *in = strstr(p, "; reconnecting in ");
			const char *nl = strchr(p, '\n');
			if (!in || (nl && in > nl))
				in = strstr(p, "; retrying in ");
			assert_non_null(in);
			return strtod(strstr(in, " in ") + 4, NULL);
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	fail_msg("no line %d \"%s\"", count, prefix);
	return 0;
}

static void test_follow_survives_restarts(void **state)
{
	(void)state;
	/* A fixed port: the follower connects again where it was told to. */
	int port = unused_port();
	relay_up(port);
	bg_start_port(port, SHELTER, "--json", "alerts", "--follow", "--desk", "ops", NULL);
	if (db_wait("SELECT count(*) FROM orgs WHERE org = '" SHELTER "'", 1, PATIENCE_MS) != 1)
		fail_msg("the follower did not connect; stderr: %s", BG.err);

	/* An alert, printed; the relay stops the moment it is seen: the
	 * follower acknowledges when the stream pauses, up to half a second
	 * later, and a stopping relay reads nothing more. */
	open_case(OWNER "CA-first");
	unsigned long long first = alert_of(OWNER "CA-first");
	char line[4096];
	must_line(line, sizeof(line), "the first alert");
	expect_member(line, "case_id", OWNER "CA-first");
	assert_int_equal(jnum(jmust(line, "position")), first);
	assert_int_equal(trelay_stop(&R), 0);
	long long acked_at_stop = db_int(&R, "SELECT coalesce((SELECT position FROM delivery_acks "
					     "WHERE org = '" SHELTER "/ops'), -1)");
	must_err(LOST, 1);
	int64_t up = wall_ms();
	assert_int_equal(trelay_start(&R), 0);
	must_err(BACK, 1);
	int64_t back1 = wall_ms() - up;
	/* Acknowledged on the new connection if the relay had not read it. */
	assert_int_equal(acked_of(SHELTER "/ops", (long long)first), (long long)first);

	/* A case whose window ends while the relay is down: its alert is
	 * raised when the relay is back, while the follower is still away
	 * (it waits at least 0.8 s after a loss). */
	open_case(OWNER "CA-second");
	int64_t opened = wall_ms();
	assert_int_equal(trelay_stop(&R), 0);
	must_err(LOST, 2);
	while (wall_ms() - opened < 2500)
		sleep_ms(50);
	up = wall_ms();
	assert_int_equal(trelay_start(&R), 0);
	unsigned long long second = alert_of(OWNER "CA-second");
	must_line(line, sizeof(line), "the alert raised while the follower was away");
	expect_member(line, "case_id", OWNER "CA-second");
	assert_int_equal(jnum(jmust(line, "position")), second);
	must_err(BACK, 2);
	int64_t back2 = wall_ms() - up;
	assert_int_equal(acked_of(SHELTER "/ops", (long long)second), (long long)second);

	/* Nothing more (the first alert is not printed again); SIGTERM ends
	 * it with status 0. */
	int64_t seen;
	if (cli_bg_line(&BG, 1500, line, sizeof(line), &seen))
		fail_msg("printed again: %s", line);
	assert_int_equal(cli_bg_stop(&BG, SIGTERM, 5000), 0);
	assert_int_equal(BG.used, BG.n_out);
	/* stderr: one line when it lost the relay, one when it was back, a
	 * line for a failed attempt only when the reason changed. */
	assert_int_equal(count_prefix(BG.err, LOST), 2);
	assert_int_equal(count_prefix(BG.err, BACK), 2);
	int unreachable = count_prefix(BG.err, UNREACHABLE);
	assert_true(unreachable <= 2);
	assert_int_equal(count_prefix(BG.err, "vigil: "), 4 + unreachable);
	double d1 = delay_of(LOST, 1), d2 = delay_of(LOST, 2);
	assert_true(d1 >= 0.8 && d1 <= 1.2);    /* the first delay */
	assert_true(d2 >= 0.8 && d2 <= 4.8);    /* the connection had not held a minute */
	char want[300];
	snprintf(want, sizeof(want), LOST "relay 127.0.0.1:%d: closed the connection while we were "
		 "waiting for an alert; reconnecting in ", port);
	assert_int_equal(strncmp(BG.err, want, strlen(want)), 0);
	snprintf(want, sizeof(want), "; resuming after position %llu\n", first);
	assert_non_null(strstr(BG.err, want));
	print_message("relay back -> follower reconnected: %lld ms, %lld ms (first delays %.1f s, "
		      "%.1f s); acknowledgement read before the first stop: %s\n", (long long)back1,
		      (long long)back2, d1, d2, acked_at_stop == (long long)first ? "yes" : "no");
	/* The next run of the desk has nothing. */
	struct cli_result *r = vigil_as(SHELTER, "alerts", "--desk", "ops", NULL);
	cli_expect_ok(r);
	assert_string_equal(r->out, "");
	assert_int_equal(trelay_stop(&R), 0);
}

/*
 * The relay comes back with an older copy of its log (restored from a
 * backup): the positions the follower passed will be written again, so it
 * does not go on after them; it ends (exit 3) and says why.  A new run
 * starts from the desk's acknowledged position in the restored log.
 */
static void test_follow_refuses_a_log_that_went_back(void **state)
{
	(void)state;
	int port = unused_port();
	relay_up(port);
	assert_int_equal(trelay_stop(&R), 0);
	assert_int_equal(store_snapshot(&R, "backup"), 0);
	assert_int_equal(trelay_start(&R), 0);
	bg_start_port(port, COORD, "alerts", "--follow", NULL);
	open_case(OWNER "CA-restored");
	alert_of(OWNER "CA-restored");
	char line[4096];
	must_line(line, sizeof(line), "the alert");
	assert_int_equal(trelay_stop(&R), 0);
	assert_int_equal(store_restore(&R, "backup"), 0);
	assert_int_equal(trelay_start(&R), 0);
	int st = cli_bg_wait(&BG, PATIENCE_MS);
	if (st != 3)
		fail_msg("exit %d; stderr:\n%s", st, BG.err);
	const char *why = strstr(BG.err, "\nvigil: the relay's log (");
	if (!why || !strstr(why, ") is shorter than the log we followed (") ||
	    !strstr(why, "run 'vigil alerts' again to go on from the desk's acknowledged "
			 "position\n"))
		fail_msg("stderr:\n%s", BG.err);
	assert_int_equal(trelay_stop(&R), 0);
}

/* ---- failures no retry mends, and SIGTERM while waiting ---------------------- */

static void test_follow_ends_on_permanent_failures(void **state)
{
	(void)state;
	/* Nobody listens: it tries again and says so once; SIGTERM during
	 * the wait ends it at once with status 0. */
	int port = unused_port();
	bg_start_port(port, COORD, "alerts", "--follow", NULL);
	must_err(UNREACHABLE, 1);
	char want[200];
	snprintf(want, sizeof(want), UNREACHABLE "cannot connect to 127.0.0.1 port %d: Connection "
		 "refused; retrying in ", port);
	assert_int_equal(strncmp(BG.err, want, strlen(want)), 0);
	sleep_ms(300);
	int64_t t0 = wall_ms();
	assert_int_equal(cli_bg_stop(&BG, SIGTERM, 5000), 0);
	assert_true(wall_ms() - t0 < 1500);
	assert_int_equal(count_prefix(BG.err, "vigil: "), 1);
	assert_string_equal(BG.out, "");

	relay_up(0);
	/* Our certificate refused by the relay (revoked): exit 3 at once. */
	int64_t start = wall_ms();
	struct cli_result *r = vigil_as("revoked", "alerts", "--follow", NULL);
	cli_expect_status(r, 3);
	if (!strstr(r->err, "sslv3 alert certificate revoked") || strstr(r->err, "retrying") ||
	    count_prefix(r->err, "vigil: ") != 1)
		fail_msg("stderr: %s", r->err);
	/* The relay's certificate refused by us. */
	static struct cli_args a;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add_conn(&a, R.port, COORD, "untrusted-ca.crt");
	cli_add(&a, "alerts", "--follow", NULL);
	r->status = cli_run(&a, NULL, r->out, sizeof(r->out), r->err, sizeof(r->err));
	cli_expect_status(r, 3);
	if (!strstr(r->err, "its certificate does not verify") || strstr(r->err, "retrying"))
		fail_msg("stderr: %s", r->err);
	assert_true(wall_ms() - start < PATIENCE_MS);
	assert_int_equal(trelay_stop(&R), 0);
}

/* ---- --exec ---------------------------------------------------------------------- */

/* Counts its runs in DIR/runs, keeps its standard input and its VIGIL_*
 * variables of each run (DIR/stdin.N, DIR/env.N), and whether HOOK_TEST
 * reached it; fails the first three runs. */
static const char counting_hook[] =
	"#!/bin/sh\n"
	"dir=$(dirname \"$0\")\n"
	"n=$(cat \"$dir/runs\" 2>/dev/null || echo 0)\n"
	"n=$((n + 1))\n"
	"echo \"$n\" > \"$dir/runs\"\n"
	"cat > \"$dir/stdin.$n\"\n"
	"env | grep '^VIGIL_' | LC_ALL=C sort > \"$dir/env.$n\"\n"
	"echo \"${HOOK_TEST:-unset}\" > \"$dir/other.$n\"\n"
	"echo \"hook run $n\"\n"
	"[ \"$n\" -gt 3 ]\n";

/* VIGIL_<KEY> for a JSON member name. */
static void env_name(const char *key, char *out, size_t n)
{
	size_t k = (size_t)snprintf(out, n, "VIGIL_");
	if (!strcmp(key, "entries"))
		key = "erased_entries";
	for (; *key && k + 1 < n; key++)
		out[k++] = (char)(*key >= 'a' && *key <= 'z' ? *key - 'a' + 'A' : *key);
	out[k] = '\0';
}

/* The environment file of a run is exactly the JSON object's members as
 * VIGIL_* (arrays joined by commas, null empty), VIGIL_DESK and
 * VIGIL_ATTEMPT, sorted. */
static void expect_env(const char *dir, int run, const char *json, const char *desk,
		       int attempt)
{
	char path[700], got[8192], keys[1024];
	snprintf(path, sizeof(path), "%s/env.%d", dir, run);
	read_file(path, got, sizeof(got));
	char want[60][400];
	size_t n = 0;
	jkeys(json, keys, sizeof(keys));
	for (char *k = strtok(keys, ","); k; k = strtok(NULL, ",")) {
		char name[64], value[256] = "";
		env_name(k, name, sizeof(name));
		const char *v = jmust(json, k);
		if (*v == '[') {
			const char *item;
			for (size_t i = 0; (item = jnth(v, i)); i++) {
				char one[80];
				if (*item == '"')
					jstr(item, one, sizeof(one));
				else
					snprintf(one, sizeof(one), "%llu", jnum(item));
				snprintf(value + strlen(value), sizeof(value) - strlen(value), "%s%s",
					 i ? "," : "", one);
			}
		} else if (*v == '"' || !strncmp(v, "null", 4)) {
			jstr(v, value, sizeof(value));
		} else {
			const char *end = jskip(v);
			snprintf(value, sizeof(value), "%.*s", (int)(end - v), v);
		}
		assert_true(n < 58);
		snprintf(want[n++], sizeof(want[0]), "%s=%s\n", name, value);
	}
	snprintf(want[n++], sizeof(want[0]), "VIGIL_ATTEMPT=%d\n", attempt);
	snprintf(want[n++], sizeof(want[0]), "VIGIL_DESK=%s\n", desk);
	/* Sorted as sort(1) in the C locale would, which is what env | sort
	 * gives for these names ('=' sorts before letters and '_'). */
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(want[i], want[j]) > 0) {
				char t[400];
				memcpy(t, want[i], sizeof(t));
				memcpy(want[i], want[j], sizeof(t));
				memcpy(want[j], t, sizeof(t));
			}
	char all[8192] = "";
	for (size_t i = 0; i < n; i++)
		strncat(all, want[i], sizeof(all) - strlen(all) - 1);
	if (strcmp(got, all) != 0)
		fail_msg("the environment of run %d:\n%s\nexpected:\n%s", run, got, all);
}

static void expect_stdin(const char *dir, int run, const char *line)
{
	char path[700], got[8192];
	snprintf(path, sizeof(path), "%s/stdin.%d", dir, run);
	read_file(path, got, sizeof(got));
	assert_string_equal(got, line);
}

static void test_exec_until_it_succeeds(void **state)
{
	(void)state;
	relay_up(0);
	char hook[700], cmd[800];
	snprintf(hook, sizeof(hook), "%s/hook.sh", R.dir);
	write_file(hook, counting_hook, 0700);
	/* The command line is the operator's: here a path with a space in it
	 * would need quoting, as in any /bin/sh -c. */
	snprintf(cmd, sizeof(cmd), "'%s'", hook);
	/* What we inherit reaches the command, except VIGIL_* names. */
	setenv("HOOK_TEST", "kept", 1);
	setenv("VIGIL_INHERITED", "dropped", 1);

	open_case(OWNER "CA-mail");
	unsigned long long pos = alert_of(OWNER "CA-mail");

	/* Without --follow one failed run ends it: exit 3, nothing printed
	 * or acknowledged. */
	struct cli_result *r = vigil_as(COORD, "alerts", "--desk", "mail", "--exec", cmd, NULL);
	cli_expect_status(r, 3);
	assert_string_equal(r->out, "");
	char want[400];
	snprintf(want, sizeof(want), "hook run 1\nvigil: --exec failed for position %llu: exit "
		 "status 1; it and what follows stay unacknowledged\n", pos);
	assert_string_equal(r->err, want);
	assert_int_equal(runs_of(R.dir), 1);
	assert_int_equal(acked_of(COORD "/mail", -1), -1);

	/* --follow: two more failures, each on stderr with the delay, then
	 * success: printed once, acknowledged once. */
	bg_start_port(R.port, COORD, "--json", "alerts", "--follow", "--desk", "mail", "--exec",
		      cmd, NULL);
	char line[4096];
	must_line(line, sizeof(line), "the alert, after the command succeeded");
	assert_int_equal(runs_of(R.dir), 4);
	assert_int_equal(jnum(jmust(line, "position")), pos);
	assert_int_equal(acked_of(COORD "/mail", (long long)pos), (long long)pos);
	int64_t seen;
	if (cli_bg_line(&BG, 1500, line + 2048, 2048, &seen))
		fail_msg("printed again: %s", line + 2048);
	assert_int_equal(cli_bg_stop(&BG, SIGTERM, 5000), 0);
	assert_int_equal(runs_of(R.dir), 4);
	snprintf(want, sizeof(want), "hook run 2\nvigil: --exec failed for position %llu (attempt "
		 "1): exit status 1; retrying in ", pos);
	if (strncmp(BG.err, want, strlen(want)) != 0)
		fail_msg("stderr:\n%s", BG.err);
	snprintf(want, sizeof(want), "vigil: --exec failed for position %llu (attempt 2): exit "
		 "status 1; retrying in ", pos);
	assert_non_null(strstr(BG.err, want));
	assert_non_null(strstr(BG.err, "\nhook run 4\n"));
	assert_int_equal(count_prefix(BG.err, "vigil: "), 2);
	/* The command read the line --json printed; its environment holds
	 * the same fields, our desk and the attempt, and no inherited VIGIL_*. */
	expect_stdin(R.dir, 4, line);
	expect_env(R.dir, 4, line, "mail", 3);
	char other[700], text[32];
	snprintf(other, sizeof(other), "%s/other.4", R.dir);
	read_file(other, text, sizeof(text));
	assert_string_equal(text, "kept\n");
	/* The desk has it: the next run has nothing, and runs no command. */
	r = vigil_as(COORD, "alerts", "--desk", "mail", "--exec", cmd, NULL);
	cli_expect_ok(r);
	assert_string_equal(r->out, "");
	assert_int_equal(runs_of(R.dir), 4);

	/* An erasure reaches the command too (without --follow: what is
	 * pending, then exit 0). */
	r = vigil_as(IOM, "--json", "contact", "--case", OWNER "CA-mail", "--channel", "phone",
		     "--outcome", "no-answer", "--record-id", "00112233445566778899aabbccddeeff",
		     NULL);
	cli_expect_ok(r);
	unsigned long long contact = jnum(jmust(r->out, "index"));
	r = vigil_as(COORD, "erase", "--case", OWNER "CA-mail", "--record-id",
		     "00112233445566778899aabbccddeeff", "--record", "--reason", "other",
		     "--reference", "REF-7", NULL);
	cli_expect_status(r, 0);
	r = vigil_as(COORD, "--json", "alerts", "--desk", "mail", "--exec", cmd, NULL);
	cli_expect_status(r, 0);
	assert_int_equal(runs_of(R.dir), 5);
	expect_member(r->out, "kind", "erasure");
	char entries[32];
	snprintf(entries, sizeof(entries), "[%llu]", contact);
	const char *v = jmust(r->out, "entries");
	assert_int_equal(strncmp(v, entries, strlen(entries)), 0);
	expect_stdin(R.dir, 5, r->out);
	expect_env(R.dir, 5, r->out, "mail", 1);
	char env[8192], path[700];
	snprintf(path, sizeof(path), "%s/env.5", R.dir);
	read_file(path, env, sizeof(env));
	snprintf(want, sizeof(want), "\nVIGIL_ERASED_ENTRIES=%llu\n", contact);
	assert_non_null(strstr(env, want));
	assert_non_null(strstr(env, "\nVIGIL_KIND=erasure\n"));
	assert_non_null(strstr(env, "\nVIGIL_REFERENCE=REF-7\n"));
	assert_non_null(strstr(env, "\nVIGIL_WHOLE_RECORD=true\n"));
	unsetenv("HOOK_TEST");
	unsetenv("VIGIL_INHERITED");
	assert_int_equal(trelay_stop(&R), 0);
}

/* The first run starts a child in its process group and waits for it for
 * ever; later runs succeed. */
static const char hanging_hook[] =
	"#!/bin/sh\n"
	"dir=$(dirname \"$0\")\n"
	"n=$(cat \"$dir/runs\" 2>/dev/null || echo 0)\n"
	"n=$((n + 1))\n"
	"echo \"$n\" > \"$dir/runs\"\n"
	"if [ \"$n\" -eq 1 ]; then\n"
	"\tsleep 20 &\n"
	"\techo $! > \"$dir/sleep.pid\"\n"
	"\twait\n"
	"fi\n"
	"exit 0\n";

/* 1 when pid has ended (gone, or a zombie nobody reaped yet). */
static int ended(long pid)
{
	char path[64], stat[256];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	read_file(path, stat, sizeof(stat));
	const char *close = strrchr(stat, ')');
	return !stat[0] || (close && close[1] == ' ' && close[2] == 'Z');
}

static void test_exec_timeout_kills_the_group(void **state)
{
	(void)state;
	relay_up(0);
	char hook[700];
	snprintf(hook, sizeof(hook), "%s/hook.sh", R.dir);
	write_file(hook, hanging_hook, 0700);
	char cmd[800];
	snprintf(cmd, sizeof(cmd), "'%s'", hook);
	bg_start_port(R.port, COORD, "alerts", "--follow", "--desk", "slow", "--exec-timeout", "1",
		      "--exec", cmd, NULL);
	open_case(OWNER "CA-slow");
	unsigned long long pos = alert_of(OWNER "CA-slow");
	char line[4096];
	must_line(line, sizeof(line), "the alert, after the command was run again");
	assert_int_equal(runs_of(R.dir), 2);
	char want[300];
	snprintf(want, sizeof(want), "vigil: --exec failed for position %llu (attempt 1): timed out "
		 "after 1 s; its process group was killed; retrying in ", pos);
	if (strncmp(BG.err, want, strlen(want)) != 0)
		fail_msg("stderr:\n%s", BG.err);
	/* Its child went with it. */
	char path[700], text[32];
	snprintf(path, sizeof(path), "%s/sleep.pid", R.dir);
	read_file(path, text, sizeof(text));
	assert_true(atol(text) > 0);
	for (int64_t t = wall_ms(); !ended(atol(text)) && wall_ms() - t < 2000;)
		sleep_ms(20);
	if (!ended(atol(text)))
		fail_msg("the command's child %s outlived the timeout", text);
	assert_int_equal(acked_of(COORD "/slow", (long long)pos), (long long)pos);
	assert_int_equal(cli_bg_stop(&BG, SIGTERM, 5000), 0);
	assert_int_equal(count_prefix(BG.err, "vigil: "), 1);
	assert_int_equal(runs_of(R.dir), 2);
	assert_int_equal(trelay_stop(&R), 0);
}

/* ---- usage ------------------------------------------------------------------------ */

static void test_usage_errors(void **state)
{
	(void)state;
	static const struct {
		const char *args[6];
		const char *line;
	} cases[] = {
		{ { "alerts", "--exec", NULL }, "option '--exec' needs an argument" },
		{ { "alerts", "--exec", "", NULL }, "alerts: --exec wants a command" },
		{ { "alerts", "--exec", "true", "--exec-timeout", "0", NULL },
		  "alerts: --exec-timeout wants seconds from 1 to 86400, not '0'" },
		{ { "alerts", "--exec", "true", "--exec-timeout", "86401", NULL },
		  "alerts: --exec-timeout wants seconds from 1 to 86400, not '86401'" },
		{ { "alerts", "--exec", "true", "--exec-timeout", "1s", NULL },
		  "alerts: --exec-timeout wants seconds from 1 to 86400, not '1s'" },
		{ { "alerts", "--exec-timeout", "5", NULL },
		  "alerts: --exec-timeout goes with --exec" },
		{ { "alerts", "--open", "--exec", "true", NULL },
		  "alerts: --open lists what is open; it takes no --follow, --after, --desk or "
		  "--exec" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const *a = cases[i].args;
		struct cli_result *r = vigil_as(COORD, a[0], a[1], a[2], a[3], a[4], a[5], NULL);
		cli_expect_usage(r, cases[i].line);
	}
	struct cli_result *r = vigil_as(COORD, "alerts", "--help", NULL);
	cli_expect_ok(r);
	assert_non_null(strstr(r->out, "\n  --exec CMD "));
	assert_non_null(strstr(r->out, "\n  --exec-timeout SECONDS\n"));
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_follow_survives_restarts, teardown),
		cmocka_unit_test_teardown(test_follow_refuses_a_log_that_went_back, teardown),
		cmocka_unit_test_teardown(test_follow_ends_on_permanent_failures, teardown),
		cmocka_unit_test_teardown(test_exec_until_it_succeeds, teardown),
		cmocka_unit_test_teardown(test_exec_timeout_kills_the_group, teardown),
		cmocka_unit_test(test_usage_errors),
	};
	return cmocka_run_group_tests_name("cli_follow", tests, NULL, NULL);
}
