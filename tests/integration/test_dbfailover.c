/*
 * test_dbfailover.c - the database failover drill, black box: a PostgreSQL
 * primary with a synchronous streaming standby of the test's own
 * (tests/pg/pg.sh, loopback, scratch directories), a real vigild whose
 * connection string names both servers (target_session_attrs=read-write),
 * pipelined load; the primary is killed with -9 in the middle of it and
 * the standby promoted (pg_ctl promote).  The relay must reconnect to the
 * new primary by itself and go on receipting, and every record that got a
 * receipt, before or after, must be in the promoted server's log at its
 * index, which --verify-db accepts.  When the commit in flight at the kill
 * did land on the standby although the relay saw it fail, the relay steps
 * down (status 75) and the test starts it again, as its supervisor would
 * (systemd's Restart=); it says how often.
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
#include "harness.h"

#define CASE_ID "se-stockholm-coord/SE-2026-0042"

struct receipted {
	uint64_t index;
	uint8_t leaf[SHA256_LEN];
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A default contact attempt by IOM.  A relay that stepped down has closed
 * the connection: the answer that does not come says so (the caller's
 * receive). */
static void send_contact(struct tclient *c, uint64_t request_id)
{
	struct contact_spec s;
	contact_spec_default(&s, "iom-ru-moscow", 0);
	(void)tclient_send_contact(c, &s, request_id);
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("failed: %s", cmd);
}

static void read_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");
	if (!f || !fgets(out, (int)len, f))
		fail_msg("cannot read %s", path);
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}


static void test_primary_killed_and_standby_promoted(void **state)
{
	(void)state;
	struct trelay t;
	trelay_setup(&t, NULL, NULL);
	char pdir[700], sdir[700], pdsn[300], sdsn[300], dsn[800], conf[900];
	/* Beside the fixture's server: a directory the unprivileged server
	 * user can reach (the test's own is its owner's alone). */
	snprintf(pdir, sizeof(pdir), "%s-failover-%d/primary", PG_DIR, (int)getpid());
	snprintf(sdir, sizeof(sdir), "%s-failover-%d/standby", PG_DIR, (int)getpid());
	sh("mkdir -p %s-failover-%d && chmod 755 %s-failover-%d", PG_DIR, (int)getpid(), PG_DIR,
	   (int)getpid());
	sh("sh %s start %s >/dev/null", PG_SH, pdir);
	sh("sh %s standby %s %s >/dev/null", PG_SH, sdir, pdir);
	char dsnpath[800];
	snprintf(dsnpath, sizeof(dsnpath), "%s/dsn", pdir);
	read_line(dsnpath, pdsn, sizeof(pdsn));
	snprintf(dsnpath, sizeof(dsnpath), "%s/dsn", sdir);
	read_line(dsnpath, sdsn, sizeof(sdsn));
	int pport = atoi(strstr(pdsn, "port=") + 5), sport = atoi(strstr(sdsn, "port=") + 5);
	snprintf(dsn, sizeof(dsn), "host=127.0.0.1,127.0.0.1 port=%d,%d user=vigil dbname=postgres "
		 "target_session_attrs=read-write connect_timeout=2", pport, sport);
	/* The relay on the pair, in their public schema. */
	snprintf(conf, sizeof(conf), "dsn = %s\n[store]\nbackend = postgresql", dsn);
	file_replace(t.conf, "path = vigil.db", conf);
	snprintf(t.pg_dsn, sizeof(t.pg_dsn), "%s", dsn);
	snprintf(t.pg_schema, sizeof(t.pg_schema), "dbfailover_none"); /* not the fixture's */
	assert_int_equal(trelay_init_db(&t), 0);
	trelay_spawn(&t);
	assert_int_equal(trelay_await(&t, 15000), 0);
	trelay_open_case(&t, CASE_ID);

	struct tclient c;
	if (tclient_open(&c, t.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	static struct receipted r[20000];
	size_t n = 0, refused = 0;
	uint64_t sent = 0;
	int killed = 0, after = 0, restarts = 0;
	int64_t kill_ms = 0, back_ms = 0;
	char pid_path[800], line[64];
	snprintf(pid_path, sizeof(pid_path), "%s/data/postmaster.pid", pdir);
	while (after < 200) {
		while (sent - (n + refused) < 20)
			send_contact(&c, ++sent);
		Vigil__V1__Frame *a;
		if (tclient_recv(&c, &a, 30000) != 0) {
			/* Stepped down: what was in flight was not receipted. */
			if (!killed || restarts > 0 || trelay_wait(&t, 20000) != 75)
				fail_msg("answer %zu: %s", n + refused, c.err);
			assert_true(trelay_log_has(&t, "stepping down", 0));
			restarts++;
			tclient_close(&c);
			trelay_spawn(&t);
			assert_int_equal(trelay_await(&t, 15000), 0);
			if (tclient_open(&c, t.port, "iom-ru-moscow") != 0)
				fail_msg("%s", c.err);
			refused = sent - n;  /* unanswered: never receipted */
			continue;
		}
		if (a->msg_case == VIGIL__V1__FRAME__MSG_RECEIPT) {
			r[n].index = a->receipt->index;
			memcpy(r[n].leaf, a->receipt->leaf_hash.data, SHA256_LEN);
			n++;
			if (killed) {
				if (!back_ms)
					back_ms = mono_ms();
				after++;
			}
		} else {
			/* While there is no primary: refused, never receipted. */
			assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_ERROR);
			assert_true(killed);
			refused++;
			usleep(10000);
		}
		frame_free(a);
		if (!killed && n == 300) {
			read_line(pid_path, line, sizeof(line));
			assert_int_equal(kill((pid_t)atoi(line), SIGKILL), 0);
			kill_ms = mono_ms();
			killed = 1;
			sh("sh %s promote %s >/dev/null", PG_SH, sdir);
		}
		assert_true(n + refused < 20000);
	}
	tclient_close(&c);
	printf("%zu receipts (%d after the primary was killed), %zu refused or unanswered while "
	       "there was no primary; receipting again %lld ms after kill -9; %d restart%s after "
	       "stepping down\n", n, after, refused, (long long)(back_ms - kill_ms), restarts,
	       restarts == 1 ? "" : "s");
	assert_true(restarts || trelay_log_has(&t, "connected again", 0));

	/* Every receipt's entry is on the promoted server, at its index. */
	for (size_t i = 0; i < n; i++) {
		char hex[2 * SHA256_LEN + 1], sql[200], got[2 * SHA256_LEN + 1] = "";
		hex_encode(r[i].leaf, SHA256_LEN, hex);
		snprintf(sql, sizeof(sql), "SELECT lower(hex(leaf_hash)) FROM entries WHERE idx = %llu",
			 (unsigned long long)r[i].index);
		if (db_text(&t, sql, got, sizeof(got)) != 0 || strcmp(got, hex) != 0)
			fail_msg("receipted entry %llu lost: \"%s\", receipt said %s",
				 (unsigned long long)r[i].index, got, hex);
	}
	assert_int_equal(trelay_stop(&t), 0);
	const char *args[] = { "vigild", "-c", t.conf, "--verify-db", NULL };
	char out[2048];
	if (run_vigild(args, out, sizeof(out)) != 0 || strncmp(out, "log OK: ", 8) != 0)
		fail_msg("--verify-db: %s", out);
	sh("sh %s stop %s", PG_SH, sdir);
	sh("sh %s stop %s", PG_SH, pdir);
	sh("rm -rf %s-failover-%d", PG_DIR, (int)getpid());
	trelay_cleanup(&t);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setenv("VIGIL_TEST_BACKEND", "sqlite", 1); /* the harness's own server is not used */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_primary_killed_and_standby_promoted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
