/*
 * The silence watchdog, alerts and their delivery, black-box, with windows
 * of seconds: a real relay, real subscribers over TLS, the alert entries in
 * the real database, and every delivered alert checked as evidence (the
 * relay's signature, the inclusion proof, the signed checkpoint).
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
#include "harness.h"
#include "proto/merkle.h"
#include "proto/note.h"
#include "proto/status.h"

/* high 2 s, medium 3 s, low 1 h; three failed attempts; 2 s to escalate or
 * to answer a handover. */
#define WATCH "[watchdog]\nhigh = 2s\nmedium = 3s\nlow = 1h\nfailed_attempts = 3\n" \
	      "handover_window = 2s\nescalate_after = 2s\n"

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

static void subscribe(struct sub *s, int port, const char *cert, uint64_t after)
{
	memset(s, 0, sizeof(*s));
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

static void ack_delivery(struct sub *s, uint64_t position)
{
	Vigil__V1__DeliveryAck da = VIGIL__V1__DELIVERY_ACK__INIT;
	da.position = position;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = s->c.next_id++;
	f.msg_case = VIGIL__V1__FRAME__MSG_DELIVERY_ACK;
	f.delivery_ack = &da;
	assert_int_equal(tclient_send_frame(&s->c, &f), 0);
}

/* A contact attempt made now (casekit's is a minute old). */
static Vigil__V1__Frame *contact_now(struct tclient *c, const char *case_id, int channel,
				     int outcome)
{
	uint8_t id[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, id, case_id, c->org);
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	ca.channel = (Vigil__V1__Channel)channel;
	ca.outcome = (Vigil__V1__Outcome)outcome;
	ca.attempted_at_ms = r.client_time_ms;
	ca.note = "";
	r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	r.contact_attempt = &ca;
	return casekit_submit(c, &r);
}

static Vigil__V1__Frame *alert_ack(struct tclient *c, const char *case_id,
				   const uint8_t alert_id[RECORD_ID_LEN], int decision)
{
	uint8_t id[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, id, case_id, c->org);
	Vigil__V1__AlertAck a = VIGIL__V1__ALERT_ACK__INIT;
	a.alert_id.data = (uint8_t *)alert_id;
	a.alert_id.len = RECORD_ID_LEN;
	a.decision = (Vigil__V1__AckDecision)decision;
	a.reason = decision == VIGIL__V1__ACK_DECISION__ACK_DECISION_POLICE_REPORT_FILED ? "" :
		   "she called her sister yesterday";
	r.body_case = VIGIL__V1__RECORD__BODY_ALERT_ACK;
	r.alert_ack = &a;
	return casekit_submit(c, &r);
}

static void expect_receipt(Vigil__V1__Frame *a)
{
	if (!a || a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT)
		fail_msg("no receipt: %s", a && a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ?
			 a->error->message : "no answer");
	frame_free(a);
}

static void expect_error(Vigil__V1__Frame *a, int status, const char *msg)
{
	assert_non_null(a);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_ERROR);
	assert_string_equal(vg_status_wire_name(vg_status_from_wire(a->error->code)),
			    vg_status_wire_name(status));
	assert_string_equal(a->error->message, msg);
	frame_free(a);
}

static void open_case(struct tclient *coord, const char *id, int risk, int minor,
		      const char *const *parties, size_t n)
{
	expect_receipt(casekit_open(coord, id, parties, n, risk, minor));
}

static const char *const PARTIES[] = { "iom-ru-moscow", "se-police-noa", "se-goteborg-coord" };

struct world {
	struct trelay t;
	struct tclient coord, iom, police, other;
};

static void world_up(struct world *w, const char *watch)
{
	trelay_setup(&w->t, NULL, watch);
	assert_int_equal(trelay_start(&w->t), 0);
	/* Everyone connects once, so the relay knows their roles. */
	if (tclient_open(&w->coord, w->t.port, "se-stockholm-coord") ||
	    tclient_open(&w->iom, w->t.port, "iom-ru-moscow") ||
	    tclient_open(&w->police, w->t.port, "se-police-noa") ||
	    tclient_open(&w->other, w->t.port, "other-coord"))
		fail_msg("connect");
}

static void world_down(struct world *w)
{
	tclient_close(&w->coord);
	tclient_close(&w->iom);
	tclient_close(&w->police);
	tclient_close(&w->other);
	assert_int_equal(trelay_stop(&w->t), 0);
	trelay_cleanup(&w->t);
}

/* Silence: nothing before the window, the alert after it, to the
 * responsible organisation and both coordinator parties within a second of
 * its commit; a successful contact resolves it and the resolution is
 * delivered too. */
static void test_silence_and_resolution(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, WATCH);
	struct sub s1, s2, sp;
	subscribe(&s1, w.t.port, "se-stockholm-coord", 0);
	subscribe(&s2, w.t.port, "other-coord", 0);
	subscribe(&sp, w.t.port, "se-police-noa", 0);
	int64_t opened = wall_ms();
	open_case(&w.coord, "A-silence", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0, PARTIES, 3);
	struct got g, g2, gp;
	if (next_alert(&s1, 1500, &g))
		fail_msg("alert after %lld ms, before the 2 s window", (long long)(wall_ms() - opened));
	assert_int_equal(next_alert(&s1, 3000, &g), 1);
	assert_true(g.received_at_ms - opened >= 1900);
	assert_true(g.seen_at_ms - g.received_at_ms <= 1000);
	assert_int_equal(g.kind, VIGIL__V1__ALERT_KIND__ALERT_KIND_SILENCE);
	assert_int_equal(g.stage, 1);
	assert_int_equal(g.police, VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_NONE);
	assert_string_equal(g.case_id, "A-silence");
	assert_true(has_recipient(&g, "se-stockholm-coord"));
	assert_true(has_recipient(&g, "se-goteborg-coord"));
	assert_false(has_recipient(&g, "se-police-noa"));
	assert_false(has_recipient(&g, "iom-ru-moscow"));
	/* Both coordinators, within a second of the commit. */
	assert_int_equal(next_alert(&s2, 1000, &g2), 1);
	assert_int_equal(g2.position, g.position);
	assert_true(g2.seen_at_ms - g2.received_at_ms <= 1000);
	/* Stage 1 is not for the police. */
	assert_int_equal(next_alert(&sp, 300, &gp), 0);
	assert_int_equal(db_int(&w.t, "SELECT count(*) FROM alerts"), 1);

	/* IOM reaches her: the alert is resolved, and that is an entry too. */
	expect_receipt(contact_now(&w.iom, "A-silence", VIGIL__V1__CHANNEL__CHANNEL_PHONE,
				   VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE));
	assert_int_equal(next_alert(&s1, 2000, &g2), 1);
	assert_int_equal(g2.stage, 0);
	assert_string_equal(g2.resolution, "contact");
	assert_memory_equal(g2.alert_id, g.alert_id, RECORD_ID_LEN);
	/* The deadline moved with the contact: no new alert before 2 s. */
	struct got none;
	assert_int_equal(next_alert(&s1, 1200, &none), 0);
	tclient_close(&s1.c);
	tclient_close(&s2.c);
	tclient_close(&sp.c);
	world_down(&w);
}

/* Failed attempts on two channels raise the alert before the deadline. */
static void test_failed_attempts_fire_early(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, "[watchdog]\nhigh = 1h\nmedium = 1h\nlow = 1h\nfailed_attempts = 3\n");
	struct sub s;
	subscribe(&s, w.t.port, "se-stockholm-coord", 0);
	open_case(&w.coord, "A-failed", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0, PARTIES, 3);
	expect_receipt(contact_now(&w.iom, "A-failed", VIGIL__V1__CHANNEL__CHANNEL_PHONE,
				   VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER));
	expect_receipt(contact_now(&w.iom, "A-failed", VIGIL__V1__CHANNEL__CHANNEL_PHONE,
				   VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER));
	struct got g;
	assert_int_equal(next_alert(&s, 500, &g), 0); /* two, one channel: not yet */
	expect_receipt(contact_now(&w.iom, "A-failed", VIGIL__V1__CHANNEL__CHANNEL_SMS,
				   VIGIL__V1__OUTCOME__OUTCOME_UNDELIVERED));
	assert_int_equal(next_alert(&s, 1000, &g), 1);
	assert_int_equal(g.kind, VIGIL__V1__ALERT_KIND__ALERT_KIND_FAILED_ATTEMPTS);
	assert_int_equal(g.stage, 1);
	tclient_close(&s.c);
	world_down(&w);
}

/* A minor: straight to stage 2, police told at once, report required. */
static void test_minor_escalates_at_once(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, WATCH);
	struct sub sp;
	subscribe(&sp, w.t.port, "se-police-noa", 0);
	open_case(&w.coord, "A-minor", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 1, PARTIES, 3);
	struct got g;
	assert_int_equal(next_alert(&sp, 4000, &g), 1);
	assert_int_equal(g.stage, 2);
	assert_int_equal(g.police, VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_REQUIRED);
	assert_true(has_recipient(&g, "se-police-noa"));
	assert_int_equal(db_int(&w.t, "SELECT count(*) FROM alerts WHERE stage = 1"), 0);
	tclient_close(&sp.c);
	world_down(&w);
}

/* No acknowledgement: stage 2 goes to the police after escalate_after; an
 * acknowledgement stops it. */
static void test_escalation_and_ack(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, WATCH);
	struct sub sc, sp;
	subscribe(&sc, w.t.port, "se-stockholm-coord", 0);
	subscribe(&sp, w.t.port, "se-police-noa", 0);
	open_case(&w.coord, "A-esc", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0, PARTIES, 3);
	open_case(&w.coord, "A-acked", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0, PARTIES, 3);
	struct got a1, a2, g;
	assert_int_equal(next_alert(&sc, 4000, &a1), 1);
	assert_int_equal(next_alert(&sc, 2000, &a2), 1);
	struct got *acked = !strcmp(a1.case_id, "A-acked") ? &a1 : &a2;
	struct got *open = acked == &a1 ? &a2 : &a1;
	assert_string_equal(open->case_id, "A-esc");
	/* Who may acknowledge, and what. */
	expect_error(alert_ack(&w.police, "A-acked", acked->alert_id,
			       VIGIL__V1__ACK_DECISION__ACK_DECISION_POLICE_REPORT_FILED),
		     VG_EPERM, "only a coordinator party or the responsible organisation "
			       "acknowledges an alert");
	uint8_t bogus[RECORD_ID_LEN];
	RAND_bytes(bogus, sizeof(bogus));
	expect_error(alert_ack(&w.coord, "A-acked", bogus,
			       VIGIL__V1__ACK_DECISION__ACK_DECISION_POLICE_REPORT_FILED),
		     VG_EBADREQ, "that alert is not open");
	expect_receipt(alert_ack(&w.coord, "A-acked", acked->alert_id,
				 VIGIL__V1__ACK_DECISION__ACK_DECISION_NOT_FILED));
	/* Only the unacknowledged one escalates, to the police as well. */
	assert_int_equal(next_alert(&sp, 4000, &g), 1);
	assert_string_equal(g.case_id, "A-esc");
	assert_int_equal(g.stage, 2);
	assert_int_equal(g.police, VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_CONSIDER);
	assert_memory_equal(g.alert_id, open->alert_id, RECORD_ID_LEN);
	assert_true(has_recipient(&g, "se-police-noa"));
	assert_true(has_recipient(&g, "se-stockholm-coord"));
	assert_int_equal(next_alert(&sp, 2500, &g), 0);
	assert_int_equal(db_int(&w.t, "SELECT count(*) FROM alerts WHERE case_id = 'A-acked'"), 1);
	/* The relay raises alerts; nobody else may. */
	{
		uint8_t id[RECORD_ID_LEN];
		Vigil__V1__Record r;
		casekit_record(&r, id, "A-esc", "se-stockholm-coord");
		Vigil__V1__Alert al = VIGIL__V1__ALERT__INIT;
		al.kind = VIGIL__V1__ALERT_KIND__ALERT_KIND_SILENCE;
		al.stage = 1;
		al.alert_id.data = id;
		al.alert_id.len = RECORD_ID_LEN;
		r.body_case = VIGIL__V1__RECORD__BODY_ALERT;
		r.alert = &al;
		expect_error(casekit_submit(&w.coord, &r), VG_EPERM, "alerts are raised by the relay only");
	}
	tclient_close(&sc.c);
	tclient_close(&sp.c);
	world_down(&w);
}

/* An organisation offline during the alert gets it when it subscribes, and
 * not again once it has acknowledged it. */
static void test_offline_replay_and_ack(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, WATCH);
	open_case(&w.coord, "A-offline", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0, PARTIES, 3);
	/* Wait for the alert to be committed, nobody subscribed. */
	for (int i = 0; i < 50 && db_int(&w.t, "SELECT count(*) FROM alerts") < 1; i++)
		usleep(100000);
	assert_int_equal(db_int(&w.t, "SELECT count(*) FROM alerts"), 1);
	struct sub s;
	subscribe(&s, w.t.port, "other-coord", 0);
	assert_int_equal(s.acked, 0);
	struct got g;
	assert_int_equal(next_alert(&s, 2000, &g), 1);
	assert_string_equal(g.case_id, "A-offline");
	ack_delivery(&s, g.position);
	tclient_close(&s.c);
	usleep(300000);
	subscribe(&s, w.t.port, "other-coord", 0);
	assert_int_equal(s.acked, g.position);
	assert_int_equal(next_alert(&s, 1000, &g), 0);
	tclient_close(&s.c);
	/* Another organisation's acknowledgement is its own. */
	subscribe(&s, w.t.port, "se-stockholm-coord", 0);
	assert_int_equal(next_alert(&s, 2000, &g), 1);
	tclient_close(&s.c);
	/* An acknowledgement of a position beyond the log is refused. */
	subscribe(&s, w.t.port, "se-stockholm-coord", 0);
	ack_delivery(&s, 1000000);
	Vigil__V1__Frame *f;
	while (tclient_recv(&s.c, &f, 2000) == 0 && f->msg_case == VIGIL__V1__FRAME__MSG_DELIVERY)
		frame_free(f);
	assert_int_equal(f->msg_case, VIGIL__V1__FRAME__MSG_ERROR);
	assert_true(strstr(f->error->message, "is beyond the log") != NULL);
	frame_free(f);
	tclient_close(&s.c);
	world_down(&w);
}

/* A deadline that passed while the relay was stopped fires at start-up. */
static void test_deadline_passed_while_down(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, WATCH);
	open_case(&w.coord, "A-down", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM, 0, PARTIES, 3);
	tclient_close(&w.coord);
	tclient_close(&w.iom);
	tclient_close(&w.police);
	tclient_close(&w.other);
	assert_int_equal(trelay_stop(&w.t), 0);
	assert_int_equal(db_int(&w.t, "SELECT count(*) FROM alerts"), 0);
	sleep(4); /* the 3 s medium window ends while the relay is down */
	int64_t t0 = wall_ms();
	assert_int_equal(trelay_start(&w.t), 0);
	int n = 0;
	for (int i = 0; i < 40 && (n = (int)db_int(&w.t, "SELECT count(*) FROM alerts")) < 1; i++)
		usleep(50000);
	assert_int_equal(n, 1);
	assert_true(wall_ms() - t0 < 3000);
	assert_true(trelay_log_has(&w.t, "alert silence stage 1 (raised) for case A-down", 0));
	memset(&w.coord, 0, sizeof(w.coord));
	w.coord.fd = w.iom.fd = w.police.fd = w.other.fd = -1;
	assert_int_equal(trelay_stop(&w.t), 0);
	trelay_cleanup(&w.t);
}

/* An offer left unanswered: the offering organisation is told. */
static void test_handover_stalled(void **state)
{
	(void)state;
	struct world w;
	world_up(&w, "[watchdog]\nhigh = 1h\nmedium = 1h\nlow = 1h\nhandover_window = 2s\n");
	struct sub s;
	subscribe(&s, w.t.port, "se-stockholm-coord", 0);
	open_case(&w.coord, "A-stall", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0, PARTIES, 3);
	uint8_t offer[RECORD_ID_LEN];
	expect_receipt(casekit_offer(&w.coord, "A-stall", "iom-ru-moscow", offer, 1));
	struct got g;
	assert_int_equal(next_alert(&s, 1500, &g), 0);
	assert_int_equal(next_alert(&s, 2500, &g), 1);
	assert_int_equal(g.kind, VIGIL__V1__ALERT_KIND__ALERT_KIND_HANDOVER_STALLED);
	assert_int_equal(g.n_recipients, 1);
	assert_string_equal(g.recipients[0], "se-stockholm-coord");
	/* Once per offer. */
	assert_int_equal(next_alert(&s, 2500, &g), 0);
	tclient_close(&s.c);
	world_down(&w);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_silence_and_resolution),
		cmocka_unit_test(test_failed_attempts_fire_early),
		cmocka_unit_test(test_minor_escalates_at_once),
		cmocka_unit_test(test_escalation_and_ack),
		cmocka_unit_test(test_offline_replay_and_ack),
		cmocka_unit_test(test_deadline_passed_while_down),
		cmocka_unit_test(test_handover_stalled),
	};
	return cmocka_run_group_tests_name("alerts", tests, load_keys, free_keys);
}
