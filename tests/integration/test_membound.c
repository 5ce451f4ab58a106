/*
 * test_membound.c - memory bounds against a real vigild (issue 9, item 4):
 * a flood of DeliveryAck frames costs the relay no memory per ack (they are
 * coalesced per connection), keeps the highest position, and does not stop
 * another client from being served.
 *
 * The byte budgets: while the test holds the database's write lock (so the
 * writer waits and nothing is answered), a connection whose Submits pass
 * [listen] max_inflight_bytes is no longer read (a later GetCheckpoint on
 * it waits) while one below it is answered; across connections the same
 * with [writer] max_queue_bytes.  Nothing is lost: once the lock is given
 * back every Submit gets its receipt.
 *
 * The relay's memory is read from /proc/PID/status: VmHWM (its peak
 * resident size) against VmRSS before the flood.  MEMBOUND_ACKS sets the
 * flood's size for a measurement by hand (default 200000), and
 * VIGIL_TEST_VIGILD runs another build of the relay (harness.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alertkit.h"
#include "casekit.h"
#include "harness.h"

#define PATIENCE_MS 20000
#define OWNER "se-stockholm-coord/"
/* The relay may grow by this much during the flood: without coalescing a
 * 200,000-ack flood took ~180 MB (about 900 bytes per ack). */
#define FLOOD_GROWTH_MAX (64ll * 1024 * 1024)
#define CHUNK 10000
/* What a Submit holds of the byte budget besides its frame: the reservation
 * for its receipt (CONN_RESERVE_SMALL, daemon/conn.h). */
#define RECEIPT_RESERVE 4096

/* A field of /proc/PID/status in bytes, -1 when missing. */
static long long proc_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long long v = -1;
	size_t n = strlen(field);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			v = atoll(line + n + 1) * 1024;
	fclose(f);
	return v;
}

/* One GetCheckpoint round trip within PATIENCE_MS. */
static void served(struct tclient *c)
{
	Vigil__V1__GetCheckpoint g = VIGIL__V1__GET_CHECKPOINT__INIT;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = c->next_id++;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_CHECKPOINT;
	f.get_checkpoint = &g;
	assert_int_equal(tclient_send_frame(c, &f), 0);
	Vigil__V1__Frame *a;
	if (tclient_recv(c, &a, PATIENCE_MS) != 0)
		fail_msg("the good client was not served during the flood: %s", c->err);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CHECKPOINT);
	frame_free(a);
}

static void test_ack_flood(void **state)
{
	(void)state;
	const char *env = getenv("MEMBOUND_ACKS");
	long n_acks = env && atol(env) > 0 ? atol(env) : 200000;
	struct trelay t;
	trelay_setup(&t, NULL, NULL);
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, OWNER "M-1");
	trelay_open_case(&t, OWNER "M-2");
	trelay_open_case(&t, OWNER "M-3");
	long long size = db_int(&t, "SELECT count(*) FROM entries");
	assert_true(size >= 3);
	uint64_t highest = (uint64_t)size - 1;

	struct alertkit_sub s;
	alertkit_subscribe(&s, t.port, "se-stockholm-coord", 0);
	struct tclient good = { .fd = -1 };
	if (tclient_open(&good, t.port, "se-police-noa") != 0)
		fail_msg("connect: %s", good.err);
	served(&good);
	long long base = proc_kb(t.pid, "VmRSS");
	assert_true(base > 0);

	/* Every position of the log, the highest in the middle of the flood
	 * and never last: only "the highest wins" stores it. */
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	for (long i = 0; i < n_acks; i++) {
		Vigil__V1__DeliveryAck da = VIGIL__V1__DELIVERY_ACK__INIT;
		da.position = i == n_acks / 2 ? highest : (uint64_t)i % highest;
		Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
		f.request_id = s.c.next_id++;
		f.msg_case = VIGIL__V1__FRAME__MSG_DELIVERY_ACK;
		f.delivery_ack = &da;
		uint8_t *fb;
		size_t fl;
		assert_int_equal(frame_encode(&f, FRAME_DEFAULT_MAX, &fb, &fl), 0);
		if (len + fl > cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		memcpy(buf + len, fb, fl);
		len += fl;
		free(fb);
		if ((i + 1) % CHUNK == 0 || i + 1 == n_acks) {
			assert_int_equal(tclient_send_raw(&s.c, buf, len), 0);
			len = 0;
			if ((i + 1) % (CHUNK * 5) == 0)
				served(&good);
		}
	}
	free(buf);
	served(&good);
	const char *stored = "SELECT coalesce((SELECT position FROM delivery_acks WHERE "
			     "org = 'se-stockholm-coord'), -1)";
	alertkit_db_wait(&t, stored, (long long)highest, PATIENCE_MS);
	assert_int_equal(db_int(&t, stored), (long long)highest);
	long long peak = proc_kb(t.pid, "VmHWM");
	print_message("ack flood: %ld acks, VmRSS before %lld KiB, VmHWM %lld KiB (+%lld KiB)\n",
		      n_acks, base / 1024, peak / 1024, (peak - base) / 1024);
	if (peak - base > FLOOD_GROWTH_MAX)
		fail_msg("the relay grew by %lld KiB during the ack flood (limit %lld KiB)",
			 (peak - base) / 1024, FLOOD_GROWTH_MAX / 1024);
	/* The connection still works: the subscription is answered as before. */
	served(&s.c);
	tclient_close(&s.c);
	tclient_close(&good);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/* ---- byte budgets --------------------------------------------------------- */

/* A busy writer: the test takes the store's write lock (store_lock), so
 * the writer's next transaction waits (SQLite: busy_timeout 5 s, and the
 * lock is held for less; PostgreSQL: until the lock is given back). */
static struct db *lock_db(struct trelay *t)
{
	struct db *db = store_lock(t);
	if (!db)
		fail_msg("cannot take the write lock");
	return db;
}

static void unlock_db(struct db *db)
{
	assert_int_equal(store_unlock(db), 0);
}

/* n Submit frames of signed contact attempts on case_id with full notes,
 * sealed to the readers of a case trelay_open_case opened, request ids
 * 1..n, in one buffer (built before the lock is taken). */
static uint8_t *submits(struct tclient *c, const char *case_id, int n, size_t *len)
{
	static const char *const readers[] = { "se-stockholm-coord", "iom-ru-moscow",
					       "se-shelter-1" };
	char note[RECORD_NOTE_MAX + 1];
	memset(note, 'n', RECORD_NOTE_MAX);
	note[RECORD_NOTE_MAX] = '\0';
	uint8_t *buf = NULL;
	size_t used = 0;
	for (int i = 1; i <= n; i++) {
		struct contact_spec s;
		contact_spec_default(&s, c->org, 0);
		s.case_id = case_id;
		struct tsealed sealed;
		tseal(&sealed, SEALED_NOTE, s.record_id, note, readers, 3);
		s.sealed_note = &sealed.text;
		uint8_t *rec, *sig, *fb;
		size_t rec_len, sig_len, fl;
		contact_build(&s, &rec, &rec_len);
		record_sign(c->key, rec, rec_len, &sig, &sig_len);
		Vigil__V1__SignedRecord sr = VIGIL__V1__SIGNED_RECORD__INIT;
		sr.record.data = rec;
		sr.record.len = rec_len;
		sr.signature.data = sig;
		sr.signature.len = sig_len;
		Vigil__V1__Submit sub = VIGIL__V1__SUBMIT__INIT;
		sub.record = &sr;
		sub.sealed.data = sealed.cms;
		sub.sealed.len = sealed.cms_len;
		Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
		f.request_id = (uint64_t)i;
		f.msg_case = VIGIL__V1__FRAME__MSG_SUBMIT;
		f.submit = &sub;
		assert_int_equal(frame_encode(&f, FRAME_DEFAULT_MAX, &fb, &fl), 0);
		buf = realloc(buf, used + fl);
		assert_non_null(buf);
		memcpy(buf + used, fb, fl);
		used += fl;
		free(fb);
		free(rec);
		free(sig);
		tsealed_free(&sealed);
	}
	*len = used;
	return buf;
}

static void send_get_checkpoint(struct tclient *c, uint64_t rid)
{
	Vigil__V1__GetCheckpoint g = VIGIL__V1__GET_CHECKPOINT__INIT;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = rid;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_CHECKPOINT;
	f.get_checkpoint = &g;
	assert_int_equal(tclient_send_frame(c, &f), 0);
}

/* 1 when nothing at all arrives on c within ms (TLS and socket). */
static int quiet_for(struct tclient *c, int ms)
{
	if (SSL_pending(c->ssl) > 0)
		return 0;
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	return poll(&p, 1, ms) == 0;
}

/* Reads the answers to n Submits (ids 1..n) and a GetCheckpoint (id n + 1)
 * in any order: every Submit a receipt.  Returns how many receipts came
 * before the checkpoint's answer. */
static int collect(struct tclient *c, int n)
{
	int receipts = 0, before = -1;
	while (receipts < n || before < 0) {
		Vigil__V1__Frame *a;
		if (tclient_recv(c, &a, PATIENCE_MS) != 0)
			fail_msg("%s: answer after %d receipts: %s", c->org, receipts, c->err);
		if (a->request_id == (uint64_t)n + 1) {
			assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CHECKPOINT);
			before = receipts;
		} else {
			if (a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT)
				fail_msg("%s: Submit %llu answered %s", c->org,
					 (unsigned long long)a->request_id, casekit_outcome(a));
			receipts++;
		}
		frame_free(a);
	}
	return before;
}

/*
 * [listen] max_inflight_bytes = 64 KiB: connection A's Submits (frames and
 * the reservations for their receipts: about 1.5 times the budget) stop the relay reading from A, so A's GetCheckpoint
 * behind them is not read while the writer is held up; B's Submits (a
 * quarter of the budget) leave B readable and its GetCheckpoint is
 * answered at once.
 */
static void test_connection_byte_budget(void **state)
{
	(void)state;
	const size_t budget = 65536;
	struct trelay t;
	char listen[128];
	snprintf(listen, sizeof(listen), "max_inflight_bytes = %zu\n", budget);
	trelay_setup(&t, listen, NULL);
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, OWNER "B-1");
	long long before = db_int(&t, "SELECT count(*) FROM entries");
	struct tclient a = { .fd = -1 }, b = { .fd = -1 };
	if (tclient_open(&a, t.port, "iom-ru-moscow") != 0 ||
	    tclient_open(&b, t.port, "se-shelter-1") != 0)
		fail_msg("connect: %s %s", a.err, b.err);
	size_t one, la, lb;
	free(submits(&a, OWNER "B-1", 1, &one));
	size_t per = one + RECEIPT_RESERVE;
	int na = (int)(budget * 3 / 2 / per) + 1, nb = (int)(budget / 4 / per);
	uint8_t *fa = submits(&a, OWNER "B-1", na, &la);
	uint8_t *fb = submits(&b, OWNER "B-1", nb, &lb);
	assert_true(la + (size_t)na * RECEIPT_RESERVE > budget + budget / 4 &&
		    lb + (size_t)nb * RECEIPT_RESERVE < budget / 2 && nb >= 2);

	struct db *lock = lock_db(&t);
	assert_int_equal(tclient_send_raw(&a, fa, la), 0);
	send_get_checkpoint(&a, (uint64_t)na + 1);
	assert_int_equal(tclient_send_raw(&b, fb, lb), 0);
	send_get_checkpoint(&b, (uint64_t)nb + 1);
	/* B is read: its checkpoint is answered while its Submits wait. */
	Vigil__V1__Frame *ans;
	if (tclient_recv(&b, &ans, 3000) != 0)
		fail_msg("B (%zu bytes in flight) was not read: %s", lb, b.err);
	assert_int_equal(ans->request_id, (uint64_t)nb + 1);
	assert_int_equal(ans->msg_case, VIGIL__V1__FRAME__MSG_CHECKPOINT);
	frame_free(ans);
	/* A is not: nothing comes back to it while the writer waits. */
	if (!quiet_for(&a, 1000))
		fail_msg("A (%zu bytes sent, budget %zu) was answered while the writer waited",
			 la, budget);
	unlock_db(lock);

	int first = collect(&a, na);
	print_message("A: %d Submits of %zu bytes; its GetCheckpoint answered after %d receipts\n",
		      na, one, first);
	assert_true(first > 0);
	for (int i = 0; i < nb; i++) {
		if (tclient_recv(&b, &ans, PATIENCE_MS) != 0)
			fail_msg("B: %s", b.err);
		assert_int_equal(ans->msg_case, VIGIL__V1__FRAME__MSG_RECEIPT);
		frame_free(ans);
	}
	assert_int_equal(db_int(&t, "SELECT count(*) FROM entries"), before + na + nb);
	free(fa);
	free(fb);
	tclient_close(&a);
	tclient_close(&b);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/*
 * [writer] max_queue_bytes = 1 MiB (each connection's own budget far
 * above): twelve connections' Submits together pass it, and then no
 * connection is read, not even a new one with nothing in flight; every
 * Submit is answered once the writer goes on.
 */
static void test_relay_byte_budget(void **state)
{
	(void)state;
	enum { CONNS = 12 };
	const size_t budget = 1048576;
	struct trelay t;
	char extra[128];
	snprintf(extra, sizeof(extra), "[writer]\nmax_queue_bytes = %zu\n", budget);
	trelay_setup(&t, "max_inflight_bytes = 1073741824\n", extra);
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, OWNER "B-2");
	long long before = db_int(&t, "SELECT count(*) FROM entries");
	struct tclient c[CONNS + 1];
	uint8_t *fr[CONNS];
	size_t len[CONNS], one, total = 0;
	static const char *const orgs[] = { "iom-ru-moscow", "se-shelter-1", "se-police-noa" };
	for (int i = 0; i <= CONNS; i++)
		if (tclient_open(&c[i], t.port, orgs[i % 3]) != 0)
			fail_msg("connect %d: %s", i, c[i].err);
	free(submits(&c[0], OWNER "B-2", 1, &one));
	/* Below the 256 requests a connection may have in flight. */
	int n = (int)(budget * 3 / 2 / CONNS / (one + RECEIPT_RESERVE)) + 1;
	assert_true(n < 250);
	for (int i = 0; i < CONNS; i++) {
		fr[i] = submits(&c[i], OWNER "B-2", n, &len[i]);
		total += len[i];
	}

	struct db *lock = lock_db(&t);
	for (int i = 0; i < CONNS; i++) {
		assert_int_equal(tclient_send_raw(&c[i], fr[i], len[i]), 0);
		send_get_checkpoint(&c[i], (uint64_t)n + 1);
	}
	/* The relay's budget is spent: a connection with nothing in flight
	 * is not read either. */
	send_get_checkpoint(&c[CONNS], 1);
	if (!quiet_for(&c[CONNS], 1500))
		fail_msg("a connection was read with %zu bytes of Submits in flight (budget %zu)",
			 total, budget);
	unlock_db(lock);

	Vigil__V1__Frame *ans;
	if (tclient_recv(&c[CONNS], &ans, PATIENCE_MS) != 0)
		fail_msg("the idle connection was never read: %s", c[CONNS].err);
	assert_int_equal(ans->msg_case, VIGIL__V1__FRAME__MSG_CHECKPOINT);
	frame_free(ans);
	for (int i = 0; i < CONNS; i++) {
		collect(&c[i], n);
		free(fr[i]);
	}
	assert_int_equal(db_int(&t, "SELECT count(*) FROM entries"), before + (long long)n * CONNS);
	for (int i = 0; i <= CONNS; i++)
		tclient_close(&c[i]);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/*
 * A member that asks and never reads: thousands of GetMembers (each
 * answered at once on the loop, several KB) pipelined on one connection.
 * The relay stops reading from it once its unread answers reach the
 * budget, handles the frames it has without a nested call per frame (this
 * crashed the relay with a stack overflow), closes the connection after
 * [listen] write_timeout without progress, keeps its memory, and serves
 * another client meanwhile.
 */
static void test_never_reading(void **state)
{
	(void)state;
	enum { ASKS = 40000 };
	struct trelay t;
	trelay_setup(&t, "write_timeout = 2s\n", NULL);
	assert_int_equal(trelay_start(&t), 0);
	struct tclient bad = { .fd = -1 }, good = { .fd = -1 };
	if (tclient_open(&bad, t.port, "se-shelter-1") != 0 ||
	    tclient_open(&good, t.port, "se-police-noa") != 0)
		fail_msg("connect: %s %s", bad.err, good.err);
	served(&good);
	long long base = proc_kb(t.pid, "VmRSS");
	uint8_t *buf = NULL;
	size_t len = 0;
	for (int i = 0; i < ASKS; i++) {
		Vigil__V1__GetMembers g = VIGIL__V1__GET_MEMBERS__INIT;
		Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
		f.request_id = (uint64_t)i + 1;
		f.msg_case = VIGIL__V1__FRAME__MSG_GET_MEMBERS;
		f.get_members = &g;
		uint8_t *fb;
		size_t fl;
		assert_int_equal(frame_encode(&f, FRAME_DEFAULT_MAX, &fb, &fl), 0);
		buf = realloc(buf, len + fl);
		assert_non_null(buf);
		memcpy(buf + len, fb, fl);
		len += fl;
		free(fb);
	}
	/* The frames are small (~10 bytes) and fit in the socket buffers; the
	 * answers (~4 KB each, 160 MB) do not fit in the kernel's buffers of
	 * the two sockets: the relay answers until its budget for unread
	 * answers is full, then stops reading. */
	assert_int_equal(tclient_send_raw(&bad, buf, len), 0);
	free(buf);
	served(&good);
	if (!trelay_log_has(&t, "se-shelter-1 read none of its answers for 2000 ms", PATIENCE_MS))
	{
		char cmd[800];
		snprintf(cmd, sizeof(cmd), "tail -5 %s >&2", t.log);
		if (system(cmd) != 0) {}
		fail_msg("the relay did not close the connection that reads nothing");
	}
	served(&good);
	long long peak = proc_kb(t.pid, "VmHWM");
	print_message("never reading: %d GetMembers, VmRSS before %lld KiB, VmHWM %lld KiB "
		      "(+%lld KiB)\n", ASKS, base / 1024, peak / 1024, (peak - base) / 1024);
	/* Without the budget on unread answers the relay held up to 40000
	 * answers of ~4 KB (160 MB); with it about 4.5 MiB, and under
	 * AddressSanitizer its quarantine of freed memory and shadow pages come
	 * on top (24 MiB seen). */
	if (peak - base > 48ll * 1024 * 1024)
		fail_msg("the relay grew by %lld KiB for a peer that reads nothing",
			 (peak - base) / 1024);
	assert_true(tclient_wait_closed(&bad, PATIENCE_MS));
	tclient_close(&bad);
	tclient_close(&good);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_never_reading),
		cmocka_unit_test(test_connection_byte_budget),
		cmocka_unit_test(test_relay_byte_budget),
		cmocka_unit_test(test_ack_flood),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
