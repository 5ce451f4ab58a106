/*
 * The WAL under sustained writes, black-box: a real vigild with a small
 * [store] wal_limit takes a few thousand pipelined submissions.  The -wal
 * file must stay bounded while they are committed (checkpoints really run
 * and reset it), the database file must grow (pages were copied into it),
 * the relay must log no checkpoint error, and after kill -9 it must start
 * again with every receipted entry.
 *
 * Without working checkpoints the WAL holds everything written (about
 * 20 MB here) and the database file stays one page long.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "casekit.h"
#include "harness.h"

enum {
	N = 4000,          /* submissions */
	WINDOW = 100,      /* outstanding at once: batches of at most this many */
	LIMIT = 131072,    /* [store] wal_limit */
};
/* The WAL may pass the limit by what is committed while a checkpoint
 * copies, and the writer starts it over itself once it holds twice the limit
 * (walsync.h): 256 KiB plus one batch of at most WINDOW records.  Measured on
 * a 2-core VM with both cores busy: the WAL peaked at 410-470 KB and the
 * database grew from 112 KiB to 1.9 MB.  Before the writer took over (the
 * thread's RESTART checkpoints missing the moment between two commits) the
 * WAL reached 2.5-10 MB; without checkpoints (the connection that
 * checkpoints never read, SQLite 3.40) it reached 19.9 MB and the database
 * stayed at 4 KiB. */
#define WAL_BOUND (2ll * 1024 * 1024)
#define DB_GROWN (768ll * 1024)

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_submit(struct tclient *c, const struct contact_spec *s, uint64_t request_id)
{
	if (tclient_send_contact(c, s, request_id) != 0)
		fail_msg("send %llu: %s", (unsigned long long)request_id, c->err);
}

static void test_wal_bounded_under_load(void **state)
{
	(void)state;
	struct trelay t;
	char extra[64];
	snprintf(extra, sizeof(extra), "[store]\nwal_limit = %d\n", LIMIT);
	trelay_setup(&t, NULL, extra);
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, "se-stockholm-coord/SE-2026-0042"); /* entry 0 */
	char wal[700];
	snprintf(wal, sizeof(wal), "%s-wal", t.db);
	long long db_start = file_size(t.db);

	struct tclient c;
	if (tclient_open(&c, t.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	static struct contact_spec spec;
	long long wal_max = 0;
	int sent = 0, receipts = 0;
	while (receipts < N) {
		while (sent < N && sent - receipts < WINDOW) {
			contact_spec_default(&spec, "iom-ru-moscow", 0);
			send_submit(&c, &spec, (uint64_t)++sent);
		}
		Vigil__V1__Frame *a;
		if (tclient_recv(&c, &a, 30000) != 0)
			fail_msg("receipt %d: %s", receipts, c.err);
		if (a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT)
			fail_msg("no receipt: %s", a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ?
				 a->error->message : "?");
		frame_free(a);
		receipts++;
		long long w = file_size(wal);
		if (w > wal_max)
			wal_max = w;
	}
	tclient_close(&c);
	long long db_end = file_size(t.db);
	printf("WAL at most %lld bytes over %d receipts (limit %d); database %lld -> %lld bytes\n",
	       wal_max, N, LIMIT, db_start, db_end);
	assert_true(wal_max > 0);
	assert_true(wal_max <= WAL_BOUND);
	/* The pages really went into the database file while the relay ran. */
	assert_true(db_end >= db_start + DB_GROWN);
	assert_int_equal(trelay_log_has(&t, "WAL checkpoint", 0), 0);

	/* kill -9: start-up recovers a WAL of that size quickly, and every
	 * receipted entry is there. */
	trelay_kill9(&t);
	int64_t t0 = mono_ms();
	assert_int_equal(trelay_start(&t), 0);
	printf("restart after kill -9: %lld ms (WAL %lld bytes)\n", (long long)(mono_ms() - t0),
	       file_size(wal));
	assert_int_equal(db_int(&t, "SELECT count(*) FROM entries"), PKI_MEMBER_KEYS + N + 1);
	assert_int_equal(trelay_stop(&t), 0);
	assert_int_equal(trelay_log_has(&t, "WAL checkpoint", 0), 0);
	trelay_cleanup(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wal_bounded_under_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
