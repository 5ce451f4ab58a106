#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "alertkit.h"
#include "casekit.h"
#include "proto/merkle.h"
#include "proto/note.h"
#include "proto/status.h"

/* ---- the clock -------------------------------------------------------------------------- */

int64_t alertkit_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int alertkit_until(int64_t t)
{
	int64_t left = t - alertkit_wall_ms();
	return left > 0 ? (int)left : 1;
}

void alertkit_sleep_until(int64_t t)
{
	for (int64_t now = alertkit_wall_ms(); now < t; now = alertkit_wall_ms())
		usleep((useconds_t)((t - now) * 1000));
}

/* ---- keys ------------------------------------------------------------------------------- */

static EVP_PKEY *relay_pub;
static struct note_verifier ckpt_v;

int alertkit_load_keys(void **state)
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

int alertkit_free_keys(void **state)
{
	(void)state;
	EVP_PKEY_free(relay_pub);
	relay_pub = NULL;
	return 0;
}

/* ---- subscribing and reading deliveries ---------------------------------------------------- */

void alertkit_subscribe(struct alertkit_sub *s, int port, const char *cert, uint64_t after)
{
	memset(s, 0, sizeof(*s));
	s->c.fd = -1;
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

void alertkit_ack_delivery(struct alertkit_sub *s, uint64_t position)
{
	Vigil__V1__DeliveryAck da = VIGIL__V1__DELIVERY_ACK__INIT;
	da.position = position;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = s->c.next_id++;
	f.msg_case = VIGIL__V1__FRAME__MSG_DELIVERY_ACK;
	f.delivery_ack = &da;
	assert_int_equal(tclient_send_frame(&s->c, &f), 0);
}

/* The next delivery as evidence; alerts_only: an Erasure fails the test. */
static int next_delivery(struct alertkit_sub *s, int ms, struct alertkit_got *g, int alerts_only)
{
	Vigil__V1__Frame *f;
	if (tclient_recv(&s->c, &f, ms) != 0)
		return 0;
	if (f->msg_case != VIGIL__V1__FRAME__MSG_DELIVERY)
		fail_msg("expected a delivery, got %d", f->msg_case);
	int64_t now = alertkit_wall_ms();
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
	if (r->body_case != VIGIL__V1__RECORD__BODY_ALERT &&
	    (alerts_only || r->body_case != VIGIL__V1__RECORD__BODY_ERASURE))
		fail_msg("the delivery at position %llu is a record of body %d, not an alert%s",
			 (unsigned long long)d->position, (int)r->body_case,
			 alerts_only ? "" : " or an erasure");
	assert_string_equal(r->author, "vigil-relay");
	memset(g, 0, sizeof(*g));
	g->body = r->body_case;
	assert_int_equal(r->record_id.len, RECORD_ID_LEN);
	memcpy(g->record_id, r->record_id.data, RECORD_ID_LEN);
	g->position = d->position;
	g->received_at_ms = e->received_at_ms;
	g->seen_at_ms = now;
	if (r->body_case == VIGIL__V1__RECORD__BODY_ERASURE) {
		const Vigil__V1__Erasure *er = r->erasure;
		snprintf(g->case_id, sizeof(g->case_id), "%s", r->case_id);
		g->whole_record = er->whole_record;
		g->reason = er->reason;
		g->n_erased = er->n_indexes;
		for (size_t i = 0; i < er->n_indexes && i < 8; i++)
			g->erased[i] = er->indexes[i];
		if (er->request_id.len == RECORD_ID_LEN)
			memcpy(g->request_id, er->request_id.data, RECORD_ID_LEN);
		snprintf(g->requested_by, sizeof(g->requested_by), "%s", er->requested_by);
		snprintf(g->reference, sizeof(g->reference), "%s", er->reference);
		for (size_t i = 0; i < er->n_recipients && i < 8; i++)
			snprintf(g->recipients[g->n_recipients++], 80, "%s", er->recipients[i]);
		vigil__v1__record__free_unpacked(r, NULL);
		frame_free(f);
		return 1;
	}
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

int alertkit_next_alert(struct alertkit_sub *s, int ms, struct alertkit_got *g)
{
	return next_delivery(s, ms, g, 1);
}

int alertkit_next_delivery(struct alertkit_sub *s, int ms, struct alertkit_got *g)
{
	return next_delivery(s, ms, g, 0);
}

void alertkit_must_alert(struct alertkit_sub *s, int ms, struct alertkit_got *g, const char *what)
{
	if (!alertkit_next_alert(s, ms, g))
		fail_msg("no delivery of %s within %d ms (%s)", what, ms, s->c.err);
}

int alertkit_has_recipient(const struct alertkit_got *g, const char *org)
{
	for (size_t i = 0; i < g->n_recipients; i++)
		if (!strcmp(g->recipients[i], org))
			return 1;
	return 0;
}

/* ---- answers ------------------------------------------------------------------------------ */

int64_t alertkit_expect_receipt_at(Vigil__V1__Frame *a)
{
	if (!a || a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT)
		fail_msg("no receipt: %s", a && a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ?
			 a->error->message : "no answer");
	int64_t at = a->receipt->received_at_ms;
	frame_free(a);
	return at;
}

void alertkit_expect_receipt(Vigil__V1__Frame *a)
{
	(void)alertkit_expect_receipt_at(a);
}

void alertkit_expect_error(Vigil__V1__Frame *a, int status, const char *msg)
{
	assert_non_null(a);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_ERROR);
	assert_string_equal(vg_status_wire_name(vg_status_from_wire(a->error->code)),
			    vg_status_wire_name(status));
	assert_string_equal(a->error->message, msg);
	frame_free(a);
}

/* ---- records ------------------------------------------------------------------------------ */

void alertkit_open_case(struct tclient *coord, const char *id, int risk, int minor,
			const char *const *parties, size_t n)
{
	alertkit_expect_receipt(casekit_open(coord, id, parties, n, risk, minor));
}

Vigil__V1__Frame *alertkit_contact_dated(struct tclient *c, const char *case_id, int channel,
					 int outcome, int64_t client_ms, int64_t at_ms)
{
	uint8_t id[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, id, case_id, c->org);
	r.client_time_ms = client_ms;
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	ca.channel = (Vigil__V1__Channel)channel;
	ca.outcome = (Vigil__V1__Outcome)outcome;
	ca.attempted_at_ms = at_ms;
	ca.note = "";
	r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	r.contact_attempt = &ca;
	return casekit_submit(c, &r);
}

Vigil__V1__Frame *alertkit_contact_now(struct tclient *c, const char *case_id, int channel,
				       int outcome)
{
	int64_t now = alertkit_wall_ms();
	return alertkit_contact_dated(c, case_id, channel, outcome, now, now);
}

Vigil__V1__Frame *alertkit_alert_ack(struct tclient *c, const char *case_id,
				     const uint8_t alert_id[RECORD_ID_LEN], int decision)
{
	uint8_t id[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, id, case_id, c->org);
	Vigil__V1__AlertAck a = VIGIL__V1__ALERT_ACK__INIT;
	a.alert_id.data = (uint8_t *)alert_id;
	a.alert_id.len = RECORD_ID_LEN;
	a.decision = (Vigil__V1__AckDecision)decision;
	r.body_case = VIGIL__V1__RECORD__BODY_ALERT_ACK;
	r.alert_ack = &a;
	if (decision == VIGIL__V1__ACK_DECISION__ACK_DECISION_POLICE_REPORT_FILED)
		return casekit_submit(c, &r);
	/* The reason, sealed to the case's readers. */
	struct tsealed s;
	casekit_seal(c, &r, SEALED_ACK_REASON, "she called her sister yesterday", NULL, &s);
	a.sealed_reason = &s.text;
	Vigil__V1__Frame *fr = casekit_submit_sealed(c, &r, &s);
	tsealed_free(&s);
	return fr;
}

/* ---- the database ------------------------------------------------------------------------- */

long long alertkit_db_wait(struct trelay *t, const char *sql, long long want, int ms)
{
	long long v = db_int(t, sql);
	for (int64_t deadline = alertkit_wall_ms() + ms; v < want && alertkit_wall_ms() < deadline;) {
		usleep(50000);
		v = db_int(t, sql);
	}
	return v;
}

void alertkit_expect_raise_and_end(struct trelay *t, const uint8_t alert_id[RECORD_ID_LEN],
				   uint64_t raised, uint64_t ended)
{
	char sql[256], hex[2 * RECORD_ID_LEN + 1];
	hex_encode(alert_id, RECORD_ID_LEN, hex);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM alerts WHERE alert_id = x'%s'", hex);
	assert_int_equal(db_int(t, sql), 2);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM alerts WHERE alert_id = x'%s' AND "
		 "stage = 1 AND position = %llu", hex, (unsigned long long)raised);
	assert_int_equal(db_int(t, sql), 1);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM alerts WHERE alert_id = x'%s' AND "
		 "stage = 0 AND position = %llu", hex, (unsigned long long)ended);
	assert_int_equal(db_int(t, sql), 1);
}
