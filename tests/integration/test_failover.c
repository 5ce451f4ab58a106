/*
 * test_failover.c - active/standby relays on one PostgreSQL store, black
 * box: real vigild processes, real TLS, the real PostgreSQL server of the
 * ctest fixture.
 *
 * The relay failover drill: a standby waits (serving nothing) while the
 * active relay takes pipelined load; the active one is killed with -9 at a
 * random moment; the standby must serve within 5 s, with every record that
 * got a receipt at its index with its leaf hash, a log that --verify-db
 * accepts, and checkpoints a monitor finds consistent across the switch.
 * The killed relay comes back as the standby, and the drill repeats
 * (FAILOVER_CYCLES, default 3; more by hand).
 *
 * Fencing: a relay whose log head another writer moved stops writing at
 * once and steps down (exit 75), and nothing of its transaction lands; a
 * relay whose database session was ended (a partition) stores nothing
 * more while the standby takes over: one log, never a fork.
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
#include <unistd.h>

#include "casekit.h"
#include "clikit.h"
#include "harness.h"

#define CASE_ID "se-stockholm-coord/SE-2026-0042"
#define STANDBY "[store]\nstandby = on\n"
#define WINDOW 50
#define TAKEOVER_MS 5000

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A default contact attempt by IOM; a relay that is gone (killed
 * mid-load) was not sent what is not sent, and receipted nothing of it. */
static void send_contact(struct tclient *c, uint64_t request_id)
{
	struct contact_spec s;
	contact_spec_default(&s, "iom-ru-moscow", 0);
	(void)tclient_send_contact(c, &s, request_id);
}

struct receipted {
	uint64_t index;
	uint8_t leaf[SHA256_LEN];
};


/*
 * Pipelines submissions to the relay on port until `kill_after` receipts
 * have come back, then kills `victim` with -9 while up to WINDOW more are
 * in flight, and keeps reading receipts until the connection ends.  Every
 * receipt is appended to r[*n].
 */
static void load_and_kill(int port, struct trelay *victim, int kill_after, struct receipted *r,
			  size_t *n, size_t cap)
{
	struct tclient c;
	if (tclient_open(&c, port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	uint64_t sent = 0;
	int got = 0, killed = 0;
	for (;;) {
		while (!killed && sent - (uint64_t)got < WINDOW)
			send_contact(&c, ++sent);
		if (!killed && got >= kill_after) {
			trelay_kill9(victim);
			killed = 1;
		}
		Vigil__V1__Frame *a;
		if (tclient_recv(&c, &a, killed ? 2000 : 30000) != 0) {
			if (!killed)
				fail_msg("receipt %d: %s", got, c.err);
			break;
		}
		if (a->msg_case == VIGIL__V1__FRAME__MSG_RECEIPT && *n < cap) {
			r[*n].index = a->receipt->index;
			assert_int_equal(a->receipt->leaf_hash.len, SHA256_LEN);
			memcpy(r[*n].leaf, a->receipt->leaf_hash.data, SHA256_LEN);
			(*n)++;
		}
		frame_free(a);
		got++;
	}
	tclient_close(&c);
}

/* Every receipted record is in the store at its index, with its leaf. */
static void expect_receipted(struct trelay *t, const struct receipted *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char hex[2 * SHA256_LEN + 1], sql[200], got[2 * SHA256_LEN + 1] = "";
		hex_encode(r[i].leaf, SHA256_LEN, hex);
		snprintf(sql, sizeof(sql), "SELECT lower(hex(leaf_hash)) FROM entries WHERE idx = %llu",
			 (unsigned long long)r[i].index);
		if (db_text(t, sql, got, sizeof(got)) != 0 || strcmp(got, hex) != 0)
			fail_msg("receipted entry %llu lost or changed: \"%s\", receipt said %s",
				 (unsigned long long)r[i].index, got, hex);
	}
}

/* "vigil verify --log --state DIR" against the relay on port. */
static void monitor(int port, const char *state)
{
	struct cli_args a;
	char out[4096], err[4096];
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add_conn(&a, port, "se-police-noa", "ca.crt");
	cli_add(&a, "verify", "--log", "--state", state, NULL);
	int status = cli_run(&a, NULL, out, sizeof(out), err, sizeof(err));
	if (status != 0 || !strstr(out, "log OK"))
		fail_msg("monitor: status %d: %s%s", status, out, err);
}

static void verify_db(struct trelay *t)
{
	const char *args[] = { "vigild", "-c", t->conf, "--verify-db", NULL };
	char out[2048];
	if (run_vigild(args, out, sizeof(out)) != 0 || strncmp(out, "log OK: ", 8) != 0)
		fail_msg("--verify-db: %s", out);
}

static void test_relay_failover_drill(void **state)
{
	(void)state;
	const char *env = getenv("FAILOVER_CYCLES");
	int cycles = env ? atoi(env) : 3;
	struct trelay a, b;
	trelay_setup(&a, NULL, STANDBY);
	trelay_setup_peer(&b, &a, STANDBY);
	assert_int_equal(trelay_start(&a), 0);
	trelay_open_case(&a, CASE_ID);
	char monitor_dir[700];
	snprintf(monitor_dir, sizeof(monitor_dir), "%s/monitor", a.dir);
	monitor(a.port, monitor_dir);

	/* The standby waits: it serves nothing while the active one lives. */
	trelay_spawn(&b);
	assert_int_equal(trelay_await(&b, 1500), -1);
	assert_true(b.pid > 0);
	assert_true(trelay_log_has(&b, "another relay is active; waiting as a standby", 5000));

	static struct receipted r[100000];
	size_t n = 0;
	struct trelay *active = &a, *standby = &b;
	srand((unsigned)time(NULL));
	for (int cycle = 0; cycle < cycles; cycle++) {
		int kill_after = 50 + rand() % 200;
		size_t before = n;
		load_and_kill(active->port, active, kill_after, r, &n, sizeof(r) / sizeof(r[0]));
		int64_t t0 = mono_ms();
		assert_int_equal(trelay_await(standby, TAKEOVER_MS + 10000), 0);
		int64_t took = mono_ms() - t0;
		printf("cycle %d: %zu receipts, killed after %d; standby serving %lld ms after "
		       "kill -9\n", cycle + 1, n - before, kill_after, (long long)took);
		assert_true(took <= TAKEOVER_MS);
		assert_true(trelay_log_has(standby, "taking over", 0));
		expect_receipted(standby, r, n);
		monitor(standby->port, monitor_dir);
		/* The killed relay comes back, as the standby now. */
		struct trelay *was = active;
		active = standby;
		standby = was;
		trelay_spawn(standby);
		assert_int_equal(trelay_await(standby, 1000), -1);
	}
	/* Entries follow one another with no gap, and the log verifies. */
	long long count = db_int(active, "SELECT count(*) FROM entries");
	assert_int_equal(db_int(active, "SELECT max(idx) + 1 FROM entries"), count);
	assert_int_equal(db_int(active, "SELECT size FROM log_head"), count);
	trelay_kill9(standby);
	assert_int_equal(trelay_stop(active), 0);
	verify_db(active);
	trelay_cleanup(&b);
	trelay_cleanup(&a);
}

/* Another writer moved the log head: the active relay stores nothing of
 * its next transaction, says why, and steps down with status 75. */
static void test_fenced_relay_steps_down(void **state)
{
	(void)state;
	struct trelay a;
	trelay_setup(&a, NULL, STANDBY);
	assert_int_equal(trelay_start(&a), 0);
	trelay_open_case(&a, CASE_ID);
	long long entries = db_int(&a, "SELECT count(*) FROM entries");
	assert_int_equal(db_change(&a, "UPDATE log_head SET size = size + 1"), 0);
	struct tclient c;
	if (tclient_open(&c, a.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	send_contact(&c, 1);
	Vigil__V1__Frame *f = NULL;
	if (tclient_recv(&c, &f, 10000) == 0) {
		/* Refused, never receipted. */
		assert_int_equal(f->msg_case, VIGIL__V1__FRAME__MSG_ERROR);
		frame_free(f);
	}
	tclient_close(&c);
	assert_int_equal(trelay_wait(&a, 20000), 75);
	assert_true(trelay_log_has(&a, "another relay wrote to this log while writing", 0));
	assert_true(trelay_log_has(&a, "stepping down", 0));
	assert_int_equal(db_int(&a, "SELECT count(*) FROM entries"), entries);
	trelay_cleanup(&a);
}

/* A partition: the active relay's database session ends.  The standby
 * takes over and writes; the old active one stores nothing more. */
static void test_partition_never_forks(void **state)
{
	(void)state;
	struct trelay a, b;
	trelay_setup(&a, NULL, STANDBY);
	trelay_setup_peer(&b, &a, STANDBY);
	assert_int_equal(trelay_start(&a), 0);
	trelay_open_case(&a, CASE_ID);
	trelay_spawn(&b);
	assert_int_equal(trelay_await(&b, 1500), -1);
	/* End the active relay's sessions (it holds the lock in one). */
	char sql[300];
	snprintf(sql, sizeof(sql),
		 "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
		 "AND granted AND pid <> pg_backend_pid()");
	assert_int_equal(trelay_pg_admin(sql), 0);
	assert_int_equal(trelay_await(&b, TAKEOVER_MS + 10000), 0);
	long long entries = db_int(&b, "SELECT count(*) FROM entries");
	/* The old active relay cannot store a record any more. */
	struct tclient c;
	if (tclient_open(&c, a.port, "iom-ru-moscow") == 0) {
		send_contact(&c, 1);
		Vigil__V1__Frame *f = NULL;
		if (tclient_recv(&c, &f, 10000) == 0) {
			assert_int_equal(f->msg_case, VIGIL__V1__FRAME__MSG_ERROR);
			frame_free(f);
		}
		tclient_close(&c);
	}
	/* The new active one does, right after the entries the old one left. */
	struct tclient d;
	if (tclient_open(&d, b.port, "iom-ru-moscow") != 0)
		fail_msg("%s", d.err);
	send_contact(&d, 1);
	Vigil__V1__Frame *g;
	assert_int_equal(tclient_recv(&d, &g, 10000), 0);
	assert_int_equal(g->msg_case, VIGIL__V1__FRAME__MSG_RECEIPT);
	assert_int_equal(g->receipt->index, (uint64_t)entries);
	frame_free(g);
	tclient_close(&d);
	trelay_kill9(&a);
	assert_int_equal(trelay_stop(&b), 0);
	verify_db(&b);
	trelay_cleanup(&b);
	trelay_cleanup(&a);
}

int main(void)
{
	/* These tests are about PostgreSQL's store alone. */
	setenv("VIGIL_TEST_BACKEND", "postgresql", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fenced_relay_steps_down),
		cmocka_unit_test(test_partition_never_forks),
		cmocka_unit_test(test_relay_failover_drill),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
