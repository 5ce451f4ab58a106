/*
 * test_membound.c - memory bounds against a real vigild (issue 9, item 4):
 * a flood of DeliveryAck frames costs the relay no memory per ack (they are
 * coalesced per connection), keeps the highest position, and does not stop
 * another client from being served.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ack_flood),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
