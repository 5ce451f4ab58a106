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
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/rand.h>

#include "casekit.h"
#include "clikit.h"
#include "harness.h"
#include "proto/merkle.h"
#include "proto/note.h"
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

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static EVP_PKEY *relay_pub;
static struct note_verifier ckpt_v;

static int load_keys(void **state)
{
	(void)state;
	FILE *f = fopen(pki("relay.crt"), "r");
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	relay_pub = X509_get_pubkey(x);
	X509_free(x);
	f = fopen(pki("checkpoint.pub"), "r");
	EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	int rc = note_verifier_from_key(k, "vigil.test/log", &ckpt_v);
	EVP_PKEY_free(k);
	return relay_pub && rc == VG_OK ? 0 : -1;
}

static int free_keys(void **state)
{
	(void)state;
	EVP_PKEY_free(relay_pub);
	return 0;
}

struct sub {
	struct tclient c;
	uint64_t rid;
	uint64_t acked;
};

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

static void subscribe(struct sub *s, int port, const char *cert, uint64_t after)
{
	memset(s, 0, sizeof(*s));
	s->c.fd = -1;
	track(&s->c);
	if (tclient_open(&s->c, port, cert) != 0)
		fail_msg("%s: %s", cert, s->c.err);
	Vigil__V1__Subscribe sb = VIGIL__V1__SUBSCRIBE__INIT;
	sb.after = after;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = s->rid = s->c.next_id++;
	f.msg_case = VIGIL__V1__FRAME__MSG_SUBSCRIBE;
	f.subscribe = &sb;
	assert_int_equal(tclient_send_frame(&s->c, &f), 0);
	Vigil__V1__Frame *a;
	if (tclient_recv(&s->c, &a, 5000) != 0)
		fail_msg("subscribe: %s", s->c.err);
	if (a->msg_case != VIGIL__V1__FRAME__MSG_SUBSCRIBED)
		fail_msg("subscribe answered with %d (%s)", a->msg_case,
			 a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? a->error->message : "");
	assert_int_equal(a->request_id, s->rid);
	s->acked = a->subscribed->acked;
	frame_free(a);
}

/* A delivered alert, verified as evidence. */
struct got {
	uint64_t position;
	int64_t received_at_ms;   /* the relay's commit time */
	int64_t seen_at_ms;       /* when it reached the subscriber */
	int kind, stage, police;
	char case_id[80];
	char resolution[24];
	uint8_t alert_id[RECORD_ID_LEN];
	char cause[24];
	int64_t last_success_ms;
	uint32_t failed_attempts;
	char recipients[8][80];
	size_t n_recipients;
};

/* The next delivery within ms, or 0 when none came. */
static int next_alert(struct sub *s, int ms, struct got *g)
{
	Vigil__V1__Frame *f;
	if (tclient_recv(&s->c, &f, ms) != 0)
		return 0;
	if (f->msg_case != VIGIL__V1__FRAME__MSG_DELIVERY)
		fail_msg("expected a delivery, got %d", f->msg_case);
	int64_t now = wall_ms();
	assert_int_equal(f->request_id, s->rid);
	Vigil__V1__Delivery *d = f->delivery;
	Vigil__V1__Entry *e = d->entry;
	/* The relay signed it, and it is in the log the checkpoint commits to. */
	assert_int_equal(record_verify(relay_pub, e->record.data, e->record.len, e->signature.data,
				       e->signature.len), VG_OK);
	size_t tl;
	struct checkpoint cp;
	assert_int_equal(note_open(d->checkpoint, strlen(d->checkpoint), &ckpt_v, &tl), VG_OK);
	assert_int_equal(checkpoint_parse(d->checkpoint, tl, &cp), VG_OK);
	uint8_t *leaf, lh[SHA256_LEN];
	size_t leaf_len;
	assert_int_equal(entry_leaf_encode(e->received_at_ms, e->cert_sha256.data, e->record.data,
					   e->record.len, e->signature.data, e->signature.len,
					   &leaf, &leaf_len), VG_OK);
	merkle_leaf_hash(leaf, leaf_len, lh);
	free(leaf);
	assert_memory_equal(lh, e->leaf_hash.data, SHA256_LEN);
	merkle_hash p[MERKLE_MAX_PROOF];
	assert_true(d->n_inclusion_proof <= MERKLE_MAX_PROOF);
	for (size_t i = 0; i < d->n_inclusion_proof; i++)
		memcpy(p[i], d->inclusion_proof[i].data, SHA256_LEN);
	assert_int_equal(merkle_verify_inclusion(d->position, cp.size, lh, p, d->n_inclusion_proof,
						 cp.root), VG_OK);
	Vigil__V1__Record *r = vigil__v1__record__unpack(NULL, e->record.len, e->record.data);
	assert_non_null(r);
	assert_int_equal(r->body_case, VIGIL__V1__RECORD__BODY_ALERT);
	assert_string_equal(r->author, "vigil-relay");
	memset(g, 0, sizeof(*g));
	g->position = d->position;
	g->received_at_ms = e->received_at_ms;
	g->seen_at_ms = now;
	g->kind = r->alert->kind;
	g->stage = (int)r->alert->stage;
	g->police = r->alert->police;
	snprintf(g->case_id, sizeof(g->case_id), "%s", r->case_id);
	snprintf(g->resolution, sizeof(g->resolution), "%s", r->alert->resolution);
	snprintf(g->cause, sizeof(g->cause), "%s", r->alert->cause);
	g->last_success_ms = r->alert->last_success_ms;
	g->failed_attempts = r->alert->failed_attempts;
	memcpy(g->alert_id, r->alert->alert_id.data, RECORD_ID_LEN);
	for (size_t i = 0; i < r->alert->n_recipients && i < 8; i++)
		snprintf(g->recipients[g->n_recipients++], 80, "%s", r->alert->recipients[i]);
	vigil__v1__record__free_unpacked(r, NULL);
	frame_free(f);
	return 1;
}

static int has_recipient(const struct got *g, const char *org)
{
	for (size_t i = 0; i < g->n_recipients; i++)
		if (!strcmp(g->recipients[i], org))
			return 1;
	return 0;
}

static void expect_receipt(Vigil__V1__Frame *a)
{
	if (!a || a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT)
		fail_msg("no receipt: %s", a && a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ?
			 a->error->message : "no answer");
	frame_free(a);
}

static void open_case(struct tclient *coord, const char *id, int risk, int minor,
		      const char *const *parties, size_t n)
{
	expect_receipt(casekit_open(coord, id, parties, n, risk, minor));
}

/* ---- helpers ---------------------------------------------------------------------------- */

/* Milliseconds from now until t (our clock is the relay's: one machine),
 * at least 1. */
static int until(int64_t t)
{
	int64_t left = t - wall_ms();
	return left > 0 ? (int)left : 1;
}

/* The next delivery within ms, failing the test when none comes. */
static void must_alert(struct sub *s, int ms, struct got *g, const char *what)
{
	if (!next_alert(s, ms, g))
		fail_msg("no delivery of %s within %d ms (%s)", what, ms, s->c.err);
}

/* Submits r and returns the relay's receive time from its receipt. */
static int64_t submit_receipt(struct tclient *c, const Vigil__V1__Record *r)
{
	Vigil__V1__Frame *a = casekit_submit(c, r);
	if (!a || a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT)
		fail_msg("no receipt: %s", a && a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ?
			 a->error->message : "no answer");
	int64_t at = a->receipt->received_at_ms;
	frame_free(a);
	return at;
}

/* A contact attempt with the given client time and attempted_at. */
static Vigil__V1__Frame *contact_dated(struct tclient *c, const char *case_id, int outcome,
				       int64_t client_ms, int64_t at_ms)
{
	uint8_t id[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, id, case_id, c->org);
	r.client_time_ms = client_ms;
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	ca.channel = VIGIL__V1__CHANNEL__CHANNEL_PHONE;
	ca.outcome = (Vigil__V1__Outcome)outcome;
	ca.attempted_at_ms = at_ms;
	ca.note = "";
	r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	r.contact_attempt = &ca;
	return casekit_submit(c, &r);
}

/* An AlertAck by c; the relay's receive time. */
static int64_t ack_alert(struct tclient *c, const char *case_id, const uint8_t *alert_id)
{
	uint8_t id[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, id, case_id, c->org);
	Vigil__V1__AlertAck a = VIGIL__V1__ALERT_ACK__INIT;
	a.alert_id.data = (uint8_t *)alert_id;
	a.alert_id.len = RECORD_ID_LEN;
	a.decision = VIGIL__V1__ACK_DECISION__ACK_DECISION_NOT_FILED;
	a.reason = "she called her sister yesterday";
	r.body_case = VIGIL__V1__RECORD__BODY_ALERT_ACK;
	r.alert_ack = &a;
	return submit_receipt(c, &r);
}

/* A HandoverAnswer by c; the relay's receive time. */
static int64_t answer_offer(struct tclient *c, const char *case_id, const uint8_t *offer_id,
			    int accept)
{
	uint8_t id[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, id, case_id, c->org);
	Vigil__V1__HandoverAnswer a = VIGIL__V1__HANDOVER_ANSWER__INIT;
	a.offer_id.data = (uint8_t *)offer_id;
	a.offer_id.len = RECORD_ID_LEN;
	a.accept = accept;
	a.decline_reason = accept ? "" : "no office in that region";
	r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER;
	r.handover_answer = &a;
	return submit_receipt(c, &r);
}

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

static void hex_of(const uint8_t *id, char out[2 * RECORD_ID_LEN + 1])
{
	hex_encode(id, RECORD_ID_LEN, out);
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
	static struct sub s;
	subscribe(&s, R.port, COORD, 0);
	int64_t opened = wall_ms();
	open_case(&COORD_C, OWNER "L-future", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0, PARTIES, 4);
	int64_t opened_after = wall_ms();
	static struct tclient iom;
	connect_as(&iom, IOM);
	/* A success dated a year ahead: refused, and the relay says whose
	 * clock counts. */
	int64_t before = wall_ms(), t = before + YEAR_MS;
	Vigil__V1__Frame *a = contact_dated(&iom, OWNER "L-future",
					    VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE, before, t);
	expect_too_late(a, "attempted_at_ms", t, before, wall_ms());
	/* The record's own time a year ahead: refused the same way. */
	before = wall_ms();
	t = before + YEAR_MS;
	a = contact_dated(&iom, OWNER "L-future", VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE, t,
			  before);
	expect_too_late(a, "client_time_ms", t, before, wall_ms());
	/* Neither was stored: the case has its opening only. */
	assert_int_equal(db_int(&R, "SELECT count(*) FROM entries WHERE case_id = '" OWNER
				"L-future'"), 1);
	/* The next delivery: the silence alert, not before the 3 s window
	 * (the relay's commit time, which the delivery cannot precede), and
	 * on time. */
	struct got g;
	must_alert(&s, 3000 + PATIENCE_MS, &g, "the silence alert");
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
	open_case(&COORD_C, OWNER "L-police", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0, PARTIES, 4);
	assert_int_equal(db_wait("SELECT count(*) FROM alerts WHERE stage = 2", 1,
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
	assert_int_equal(db_wait(sql, pos, PATIENCE_MS), pos);
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
	static struct sub sc, sp;
	subscribe(&sc, R.port, COORD, 0);
	subscribe(&sp, R.port, POLICE, 0);
	open_case(&COORD_C, OWNER "L-rearm", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0, PARTIES, 4);
	struct got a1, a2, e;
	must_alert(&sc, 3000 + PATIENCE_MS, &a1, "the first alert");
	assert_int_equal(a1.stage, 1);
	assert_string_equal(a1.cause, "");
	int64_t acked = ack_alert(&COORD_C, OWNER "L-rearm", a1.alert_id);
	/* Silence goes on: one window after the acknowledgement and not
	 * before, the acknowledged alert ends first ("superseded", stage 0, its
	 * own id), to the recipients of its last stage (stage 1: no police), so
	 * that no alert id stays open for ever ... */
	struct got end;
	must_alert(&sc, 3000 + PATIENCE_MS, &end, "the end of the acknowledged alert");
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
	assert_true(has_recipient(&end, OTHER_ORG));
	assert_true(has_recipient(&end, SHELTER));
	assert_false(has_recipient(&end, POLICE));
	/* ... then, in the same batch (same commit, the next position), a new
	 * alert that says why it came. */
	must_alert(&sc, PATIENCE_MS, &a2, "the re-raised alert");
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
	assert_false(has_recipient(&a2, POLICE));
	/* It escalates as usual; the acknowledged one never did (it would
	 * have reached the police first), and its end was not for the police
	 * either. */
	must_alert(&sp, 4000 + PATIENCE_MS, &e, "the escalation of the re-raised alert");
	assert_memory_equal(e.alert_id, a2.alert_id, RECORD_ID_LEN);
	assert_int_equal(e.stage, 2);
	assert_true(e.received_at_ms - a2.received_at_ms >= 4000);
	assert_true(has_recipient(&e, POLICE));
	/* The acknowledged alert has exactly two entries: its raise and its
	 * end. */
	char hex[2 * RECORD_ID_LEN + 1], sql[200];
	hex_of(a1.alert_id, hex);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM alerts WHERE alert_id = x'%s'", hex);
	assert_int_equal(db_int(&R, sql), 2);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM alerts WHERE alert_id = x'%s' AND "
		 "stage = 1 AND position = %llu", hex, (unsigned long long)a1.position);
	assert_int_equal(db_int(&R, sql), 1);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM alerts WHERE alert_id = x'%s' AND "
		 "stage = 0 AND position = %llu", hex, (unsigned long long)end.position);
	assert_int_equal(db_int(&R, sql), 1);
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
	static struct sub sc, sx;
	subscribe(&sc, R.port, COORD, 0);
	subscribe(&sx, R.port, "other-iom", 0);
	open_case(&COORD_C, OWNER "L-handover", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0, PARTIES,
		  4);
	struct got a1, g;
	must_alert(&sc, 2000 + PATIENCE_MS, &a1, "the alert");
	assert_int_equal(a1.stage, 1);
	/* The organisation offered the case is no party: not told so far. */
	assert_int_equal(next_alert(&sx, 500, &g), 0);
	uint8_t offer[RECORD_ID_LEN];
	expect_receipt(casekit_offer(&COORD_C, OWNER "L-handover", IOM2, offer, 1));
	static struct tclient x;
	connect_as(&x, "other-iom");
	int64_t accepted = answer_offer(&x, OWNER "L-handover", offer, 1);
	/* At once, not at the next escalation: the open alert, same id and
	 * stage, to the new responsible organisation alone. */
	must_alert(&sx, PATIENCE_MS, &g, "the open alert to the new responsible organisation");
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
	assert_int_equal(next_alert(&sc, 1000, &g), 0);
	/* The new responsible organisation reaches her: it is told of the
	 * resolution too. */
	expect_receipt(contact_dated(&x, OWNER "L-handover", VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE,
				     wall_ms(), wall_ms()));
	must_alert(&sx, PATIENCE_MS, &g, "the resolution");
	assert_memory_equal(g.alert_id, a1.alert_id, RECORD_ID_LEN);
	assert_int_equal(g.stage, 0);
	assert_string_equal(g.resolution, "contact");
	assert_string_equal(g.recipients[0], IOM2);
	assert_true(has_recipient(&g, COORD));
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
	struct got alert, resolution;
	int have_alert, have_resolution;
};

/* Delivers to s until every case in st has what want asks for (alert or
 * resolution), within PATIENCE_MS; fails on an alert of another case. */
static void collect(struct sub *s, struct stalled *st, size_t n, int resolutions)
{
	int64_t deadline = wall_ms() + 2000 + PATIENCE_MS;
	for (;;) {
		size_t missing = 0;
		for (size_t i = 0; i < n; i++)
			missing += !(resolutions ? st[i].have_resolution : st[i].have_alert);
		if (!missing)
			return;
		struct got g;
		if (!next_alert(s, until(deadline), &g))
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
	const struct got *g = &st->resolution;
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
	static struct sub sc, si;
	subscribe(&sc, R.port, COORD, 0);
	struct stalled st[2] = { { .case_id = OWNER "L-declined" },
				 { .case_id = OWNER "L-withdrawn" } };
	for (size_t i = 0; i < 2; i++) {
		open_case(&COORD_C, st[i].case_id, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0, PARTIES,
			  4);
		st[i].offered = wall_ms();
		expect_receipt(casekit_offer(&COORD_C, st[i].case_id, IOM, st[i].offer, 1));
	}
	collect(&sc, st, 2, 0);
	for (size_t i = 0; i < 2; i++) {
		const struct got *g = &st[i].alert;
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
	subscribe(&si, R.port, IOM, 0);
	static struct tclient iom;
	connect_as(&iom, IOM);
	answer_offer(&iom, st[0].case_id, st[0].offer, 0);
	expect_receipt(casekit_withdraw(&COORD_C, st[1].case_id, st[1].offer));
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
	struct got g;
	assert_int_equal(next_alert(&sc, 1000, &g), 0);
	if (next_alert(&si, 1000, &g))
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
	static struct sub sc;
	subscribe(&sc, R.port, COORD, 0);
	struct stalled st[1] = { { .case_id = OWNER "L-accepted" } };
	open_case(&COORD_C, st[0].case_id, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0, PARTIES, 4);
	st[0].offered = wall_ms();
	expect_receipt(casekit_offer(&COORD_C, st[0].case_id, IOM, st[0].offer, 1));
	collect(&sc, st, 1, 0);
	assert_int_equal(st[0].alert.kind, VIGIL__V1__ALERT_KIND__ALERT_KIND_HANDOVER_STALLED);
	assert_string_equal(st[0].alert.recipients[0], COORD);
	static struct tclient iom;
	connect_as(&iom, IOM);
	answer_offer(&iom, st[0].case_id, st[0].offer, 1);
	/* The relay writes the resolution; to whom? */
	assert_int_equal(db_wait("SELECT count(*) FROM alerts WHERE stage = 0", 1, PATIENCE_MS), 1);
	char rcp[256];
	assert_int_equal(db_text(&R, "SELECT replace(recipients, char(10), ',') FROM alerts WHERE "
				 "stage = 0", rcp, sizeof(rcp)), 0);
	struct got g;
	if (!next_alert(&sc, PATIENCE_MS, &g))
		fail_msg("the offering organisation was not told that the stalled handover of %s "
			 "ended (the resolution went to: %s)", st[0].case_id, rcp);
	st[0].resolution = g;
	expect_stall_resolved(&st[0], "handover-answered");
	assert_true(has_recipient(&g, COORD));
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
	return cmocka_run_group_tests_name("watchdog_live", tests, load_keys, free_keys);
}
