/*
 * alert.c - alerts and erasures delivered to our organisation: the
 * subscription, each delivery verified as evidence before it is returned,
 * Lagging reports and acknowledgements.
 *
 * Deliveries carry the Subscribe's request id and may arrive at any time,
 * also while the caller waits for the answer to a submission or a query.
 * The code that reads such answers (submit.c) hands every frame of the
 * subscription, and every answer to a DeliveryAck, to vigil__alert_keep(),
 * which keeps it in arrival order; vigil_next_alert() takes the kept frames
 * first and reads the connection only when there are none, so alerts are
 * returned in the order the relay sent them.
 *
 * A delivery is believed only when it proves itself: the relay's signature
 * with the certificate of this very TLS connection, the leaf hash, a
 * checkpoint signed with the checkpoint key and the inclusion proof to it
 * (the checks are listed in vigil.h).  A delivery that fails is reported as
 * VIGIL_E_VERIFY and forgotten; the position counter does not move, so a
 * forged position cannot make the next genuine alert look out of order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "client/internal.h"
#include "proto/merkle.h"
#include "proto/record.h"
#include "proto/status.h"

/* ---- frames kept for vigil_next_alert ----------------------------------------- */

int vigil__alert_claims(const struct vigil_client *c, const Vigil__V1__Frame *f)
{
	if (f->request_id & VIGIL__ACK_ID_BIT)
		return 1;
	return c->sub.request_id != 0 && f->request_id == c->sub.request_id;
}

int vigil__alert_keep(struct vigil_client *c, Vigil__V1__Frame *f, struct vigil_error *err)
{
	struct vigil__kept *k = NULL;
	int rc;
	if (c->sub.n_kept >= VIGIL_DELIVERIES_KEPT_MAX) {
		rc = vigil__error_set(err, VIGIL_E_PROTOCOL,
				      "more than %d deliveries arrived while we waited for other "
				      "answers; read them with vigil_next_alert()",
				      VIGIL_DELIVERIES_KEPT_MAX);
		vigil__wire_kill(c, err, rc);
		goto fail;
	}
	if (!(k = malloc(sizeof(*k)))) {
		rc = vigil__error_set(err, VIGIL_E_NOMEM, "out of memory keeping a delivery");
		vigil__wire_kill(c, err, rc);
		goto fail;
	}
	k->frame = f;
	k->next = NULL;
	if (c->sub.tail)
		c->sub.tail->next = k;
	else
		c->sub.head = k;
	c->sub.tail = k;
	c->sub.n_kept++;
	return VIGIL_OK;
fail:
	frame_free(f);
	return rc;
}

/* The oldest kept frame, or NULL. */
static Vigil__V1__Frame *kept_take(struct vigil_client *c)
{
	struct vigil__kept *k = c->sub.head;
	if (!k)
		return NULL;
	c->sub.head = k->next;
	if (!c->sub.head)
		c->sub.tail = NULL;
	c->sub.n_kept--;
	Vigil__V1__Frame *f = k->frame;
	free(k);
	return f;
}

void vigil__alert_free(struct vigil_client *c)
{
	Vigil__V1__Frame *f;
	while ((f = kept_take(c)) != NULL)
		frame_free(f);
}

/* ---- subscribing and acknowledging ------------------------------------------------- */

int vigil_subscribe(vigil_client *c, uint64_t after, uint64_t *acked, struct vigil_error *err)
{
	return vigil_subscribe_desk(c, NULL, after, acked, err);
}

int vigil_desk_check(const char *desk, struct vigil_error *err)
{
	size_t n = desk ? strlen(desk) : 0;
	int ok = n >= 1 && n <= VIGIL_DESK_MAX;
	for (size_t i = 0; ok && i < n; i++)
		ok = (desk[i] >= 'a' && desk[i] <= 'z') || (desk[i] >= '0' && desk[i] <= '9') ||
		     desk[i] == '-';
	if (ok)
		return VIGIL_OK;
	return vigil__error_set(err, VIGIL_E_USAGE, "a desk is 1-%d of a-z 0-9 -, not \"%.40s\"",
				VIGIL_DESK_MAX, desk ? desk : "");
}

int vigil_subscribe_desk(vigil_client *c, const char *desk, uint64_t after, uint64_t *acked,
			 struct vigil_error *err)
{
	if (acked)
		*acked = 0;
	int rc = vigil__query_usable(c, "vigil_subscribe", err);
	if (rc != VIGIL_OK)
		return rc;
	if (desk && desk[0] && (rc = vigil_desk_check(desk, err)) != VIGIL_OK)
		return rc;
	if (c->sub.active)
		return vigil__error_set(err, VIGIL_E_USAGE,
					"this connection is already subscribed to alerts");
	Vigil__V1__Subscribe sb = VIGIL__V1__SUBSCRIBE__INIT;
	sb.after = after;
	sb.desk = (char *)(desk && strcmp(desk, "default") != 0 ? desk : "");
	Vigil__V1__Frame req = VIGIL__V1__FRAME__INIT;
	req.msg_case = VIGIL__V1__FRAME__MSG_SUBSCRIBE;
	req.subscribe = &sb;
	Vigil__V1__Frame *a;
	rc = vigil__query_roundtrip(c, &req, VIGIL__V1__FRAME__MSG_SUBSCRIBED,
				    "waiting for the subscription to be confirmed", &a, err);
	if (rc != VIGIL_OK)
		return rc;
	uint64_t stored = a->subscribed->acked;
	frame_free(a);
	/* Deliveries follow the confirmation, with its request id. */
	c->sub.active = 1;
	c->sub.request_id = req.request_id;
	c->sub.last = stored > after ? stored : after;
	if (acked)
		*acked = stored;
	return VIGIL_OK;
}

int vigil_ack_deliveries(vigil_client *c, uint64_t position, struct vigil_error *err)
{
	int rc = vigil__query_usable(c, "vigil_ack_deliveries", err);
	if (rc != VIGIL_OK)
		return rc;
	Vigil__V1__DeliveryAck da = VIGIL__V1__DELIVERY_ACK__INIT;
	da.position = position;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = VIGIL__ACK_ID_BIT | (c->sub.next_ack & ~VIGIL__ACK_ID_BIT);
	f.msg_case = VIGIL__V1__FRAME__MSG_DELIVERY_ACK;
	f.delivery_ack = &da;
	rc = vigil__wire_send(c, &f, err);
	if (rc == VIGIL_OK)
		c->sub.next_ack++;
	return rc;
}

/* ---- verifying a delivery ---------------------------------------------------------------- */

/*
 * The key of a certificate the relay signed with before it was renewed: the
 * delivery carries it; it must hash to the entry's fingerprint, chain to the
 * federation's CA (expired or not: it signed in the past) and name the same
 * relay organisation as the certificate of this connection.  NULL with a
 * reason when it does not.
 */
static EVP_PKEY *former_relay_key(const struct vigil_client *c, const Vigil__V1__Entry *e,
				  const ProtobufCBinaryData *der, char *why, size_t why_len)
{
	return vigil__verify_past_cert(c, der, e->cert_sha256.data, c->relay.organisation, "relay",
				       "the relay's", "the entry's fingerprint", why, why_len);
}

/* Checks that need only the entry: certificate, signature, leaf hash. */
static int entry_check(const struct vigil_client *c, const Vigil__V1__Entry *e,
		       const ProtobufCBinaryData *cert_der, uint64_t pos, struct vigil_error *err)
{
	if (e->cert_sha256.len != SHA256_LEN || e->leaf_hash.len != SHA256_LEN ||
	    e->record.len == 0 || e->signature.len == 0 || e->signature.len > RECORD_SIG_MAX)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the alert at position %llu is malformed (certificate "
					"hash, leaf hash, record or signature)",
					(unsigned long long)pos);
	/* 1. The relay's own certificate, as this connection showed it, or
	 * the one it had before a renewal. */
	EVP_PKEY *key = c->relay_key, *former = NULL;
	if (memcmp(e->cert_sha256.data, c->relay.cert_sha256, SHA256_LEN) != 0) {
		char why[128];
		if (!(former = former_relay_key(c, e, cert_der, why, sizeof(why))))
			return vigil__error_set(err, VIGIL_E_VERIFY, "the alert at position %llu %s",
						(unsigned long long)pos, why);
		key = former;
	}
	int sig_ok = record_verify(key, e->record.data, e->record.len, e->signature.data,
				   e->signature.len) == VG_OK;
	EVP_PKEY_free(former);
	if (!sig_ok)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the signature of the alert at position %llu does not "
					"verify with the relay's certificate",
					(unsigned long long)pos);
	/* 2. The leaf hash commits to exactly this entry. */
	uint8_t h[SHA256_LEN];
	int rc = vigil_leaf_hash(e->received_at_ms, e->cert_sha256.data, e->record.data,
				 e->record.len, e->signature.data, e->signature.len, h);
	if (rc != VIGIL_OK)
		return vigil__error_set(err, rc, "cannot hash the alert at position %llu",
					(unsigned long long)pos);
	if (memcmp(h, e->leaf_hash.data, SHA256_LEN) != 0)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the alert at position %llu: its record, signature, "
					"certificate hash and receive time do not hash to its leaf "
					"hash", (unsigned long long)pos);
	return VIGIL_OK;
}

/* 3. and 4.: a checkpoint of the checkpoint key, and the proof to it. */
static int proof_check(const struct vigil_client *c, const Vigil__V1__Delivery *d,
		       struct vigil_checkpoint *cp, struct vigil_error *err)
{
	unsigned long long pos = (unsigned long long)d->position;
	const char *note = d->checkpoint ? d->checkpoint : "";
	struct vigil_error e;
	if (vigil_checkpoint_open(&c->ckey, note, strlen(note), cp, &e) != VIGIL_OK)
		return vigil__error_set(err, VIGIL_E_VERIFY, "the checkpoint of the alert at "
					"position %llu: %s", pos, e.message);
	if (d->position >= cp->size)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the alert at position %llu is not below the size %llu of its "
					"checkpoint", pos, (unsigned long long)cp->size);
	if (d->n_inclusion_proof > MERKLE_MAX_PROOF)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the inclusion proof of the alert at position %llu has %zu "
					"nodes; no proof has more than %d", pos,
					d->n_inclusion_proof, MERKLE_MAX_PROOF);
	merkle_hash proof[MERKLE_MAX_PROOF];
	for (size_t i = 0; i < d->n_inclusion_proof; i++) {
		if (d->inclusion_proof[i].len != SHA256_LEN)
			return vigil__error_set(err, VIGIL_E_VERIFY,
						"the inclusion proof of the alert at position %llu "
						"has a node of %zu bytes", pos,
						d->inclusion_proof[i].len);
		memcpy(proof[i], d->inclusion_proof[i].data, SHA256_LEN);
	}
	if (merkle_verify_inclusion(d->position, cp->size, d->entry->leaf_hash.data, proof,
				    d->n_inclusion_proof, cp->root) != VG_OK)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the inclusion proof (%zu nodes) of the alert at position "
					"%llu does not lead to the root of the checkpoint of size "
					"%llu", d->n_inclusion_proof, pos,
					(unsigned long long)cp->size);
	return VIGIL_OK;
}

/* An Alert's fields into out. */
static void alert_fields(const Vigil__V1__Alert *a, struct vigil_alert *out)
{
	/* record_parse() checked kind, police and the number of recipients. */
	out->event = VIGIL_EVENT_ALERT;
	out->kind = record_alert_kind_name(a->kind);
	out->stage = a->stage;
	memcpy(out->alert_id, a->alert_id.data, RECORD_ID_LEN);
	hex_encode(out->alert_id, RECORD_ID_LEN, out->alert_id_hex);
	out->deadline_ms = a->deadline_ms;
	out->last_success_ms = a->last_success_ms;
	out->failed_attempts = a->failed_attempts;
	out->police = vigil__record_police_name(a->police);
	out->police_advice = vigil__record_police_advice(a->police);
	vigil__error_copy_text(out->resolution, sizeof(out->resolution), a->resolution);
	vigil__error_copy_text(out->cause, sizeof(out->cause), a->cause);
}

/* An Erasure's fields into out, once its indexes are known to fit
 * (record_parse() checked the reason, and that the indexes ascend). */
static void erasure_fields(const Vigil__V1__Erasure *e, struct vigil_alert *out)
{
	out->event = VIGIL_EVENT_ERASURE;
	out->kind = "erasure";
	out->erase_whole = e->whole_record ? 1 : 0;
	const char *reason = record_erase_reason_name(e->reason);
	out->erase_reason = reason ? reason : "";
	vigil__error_copy_text(out->requested_by, sizeof(out->requested_by), e->requested_by);
	if (e->request_id.len == RECORD_ID_LEN)
		memcpy(out->request_id, e->request_id.data, RECORD_ID_LEN);
	vigil__error_copy_text(out->erase_reference, sizeof(out->erase_reference), e->reference);
	out->erased_n = e->n_indexes;
	memcpy(out->erased, e->indexes, e->n_indexes * sizeof(out->erased[0]));
}

/* 5. An Alert or an Erasure by the relay, for us; its fields into out. */
static int record_take(const struct vigil_client *c, const Vigil__V1__Entry *e, uint64_t pos,
		       struct vigil_alert *out, struct vigil_error *err)
{
	char why[256] = "";
	Vigil__V1__Record *r = NULL;
	if (record_parse(e->record.data, e->record.len, &r, why, sizeof(why)) != VG_OK)
		return vigil__error_set(err, VIGIL_E_VERIFY, "the alert at position %llu is not a "
					"valid record: %s", (unsigned long long)pos, why);
	int rc = VIGIL_OK;
	const char *what = r->body_case == VIGIL__V1__RECORD__BODY_ERASURE ? "erasure" : "alert";
	char *const *recipients = NULL;
	size_t n_recipients = 0;
	if (r->body_case == VIGIL__V1__RECORD__BODY_ALERT) {
		recipients = r->alert->recipients;
		n_recipients = r->alert->n_recipients;
	} else if (r->body_case == VIGIL__V1__RECORD__BODY_ERASURE) {
		recipients = r->erasure->recipients;
		n_recipients = r->erasure->n_recipients;
	} else {
		rc = vigil__error_set(err, VIGIL_E_VERIFY, "the entry delivered at position %llu "
				      "is neither an alert nor an erasure",
				      (unsigned long long)pos);
		goto out;
	}
	if (strcmp(r->author, c->relay.organisation) != 0) {
		rc = vigil__error_set(err, VIGIL_E_VERIFY, "the %s at position %llu is authored "
				      "by \"%.64s\", not by the relay's organisation \"%s\"", what,
				      (unsigned long long)pos, r->author, c->relay.organisation);
		goto out;
	}
	int ours = 0;
	for (size_t i = 0; i < n_recipients; i++)
		ours |= strcmp(recipients[i], c->self.organisation) == 0;
	if (!ours) {
		rc = vigil__error_set(err, VIGIL_E_VERIFY, "the %s at position %llu is not "
				      "addressed to our organisation (%s)", what,
				      (unsigned long long)pos, c->self.organisation);
		goto out;
	}
	if (r->body_case == VIGIL__V1__RECORD__BODY_ERASURE) {
		const Vigil__V1__Erasure *er = r->erasure;
		/* Every entry it names, or the application would keep copies of
		 * the rest; and only entries before it. */
		if (er->n_indexes > VIGIL_ERASED_MAX) {
			rc = vigil__error_set(err, VIGIL_E_VERIFY, "the erasure at position %llu "
					      "names %zu entries, more than the %d one erasure may "
					      "name", (unsigned long long)pos, er->n_indexes,
					      VIGIL_ERASED_MAX);
			goto out;
		}
		if (er->indexes[er->n_indexes - 1] >= pos) {
			rc = vigil__error_set(err, VIGIL_E_VERIFY, "the erasure at position %llu "
					      "names entry %llu, which is not before it",
					      (unsigned long long)pos,
					      (unsigned long long)er->indexes[er->n_indexes - 1]);
			goto out;
		}
		erasure_fields(er, out);
	} else {
		alert_fields(r->alert, out);
	}
	snprintf(out->case_id, sizeof(out->case_id), "%s", r->case_id);
	memcpy(out->record_id, r->record_id.data, RECORD_ID_LEN);
	out->n_recipients = n_recipients < VIGIL_RECIPIENTS_MAX ? n_recipients
								: VIGIL_RECIPIENTS_MAX;
	for (size_t i = 0; i < out->n_recipients; i++)
		snprintf(out->recipients[i], sizeof(out->recipients[i]), "%s", recipients[i]);
out:
	record_free(r);
	return rc;
}

static void alert_clear(struct vigil_alert *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = out->police = out->police_advice = out->erase_reason = "";
	out->checkpoint.signed_at_ms = -1;
}

/* Checks a Delivery frame and fills out (see vigil.h for the checks). */
static int delivery_take(struct vigil_client *c, const Vigil__V1__Delivery *d,
			 struct vigil_alert *out, struct vigil_error *err)
{
	const Vigil__V1__Entry *e = d->entry;
	unsigned long long pos = (unsigned long long)d->position;
	out->position = d->position;
	if (!e || e->index != d->position)
		return vigil__error_set(err, VIGIL_E_VERIFY, "the delivery at position %llu "
					"carries no entry, or the entry of another position", pos);
	/* 6. In order, each once. */
	if (d->position <= c->sub.last)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the relay delivered position %llu after %llu (out of order, "
					"again, or already acknowledged)", pos,
					(unsigned long long)c->sub.last);
	int rc = entry_check(c, e, &d->certificate, d->position, err);
	if (rc == VIGIL_OK)
		rc = proof_check(c, d, &out->checkpoint, err);
	if (rc == VIGIL_OK)
		rc = record_take(c, e, d->position, out, err);
	if (rc != VIGIL_OK) {
		alert_clear(out);
		out->position = d->position;
		return rc;
	}
	/* out->event: record_take() says whether an alert or an erasure. */
	out->received_at_ms = e->received_at_ms;
	memcpy(out->leaf_hash, e->leaf_hash.data, SHA256_LEN);
	c->sub.last = d->position;
	return VIGIL_OK;
}

/* Handles one frame of the subscription or of an acknowledgement, and
 * frees it. */
static int frame_take(struct vigil_client *c, Vigil__V1__Frame *f, struct vigil_alert *out,
		      struct vigil_error *err)
{
	int rc;
	if (f->request_id & VIGIL__ACK_ID_BIT) {
		/* The relay answers an acknowledgement only to refuse it. */
		if (f->msg_case == VIGIL__V1__FRAME__MSG_ERROR) {
			rc = vigil__error_refused(err, f->error->code, f->error->message);
		} else {
			rc = vigil__error_set(err, VIGIL_E_PROTOCOL, "the relay answered a delivery "
					      "acknowledgement with a frame of type %d",
					      (int)f->msg_case);
			vigil__wire_kill(c, err, rc);
		}
	} else if (f->msg_case == VIGIL__V1__FRAME__MSG_DELIVERY && c->sub.active) {
		rc = delivery_take(c, f->delivery, out, err);
	} else if (f->msg_case == VIGIL__V1__FRAME__MSG_LAGGING && c->sub.active) {
		c->sub.active = 0;
		out->event = VIGIL_EVENT_LAGGING;
		out->acked = f->lagging->acked;
		rc = VIGIL_OK;
	} else if (f->msg_case == VIGIL__V1__FRAME__MSG_ERROR && c->sub.active) {
		/* The relay ended the subscription. */
		c->sub.active = 0;
		rc = vigil__error_refused(err, f->error->code, f->error->message);
	} else {
		rc = vigil__error_set(err, VIGIL_E_PROTOCOL,
				      "the relay sent a frame of type %d for the subscription "
				      "(request %llu)%s", (int)f->msg_case,
				      (unsigned long long)f->request_id,
				      c->sub.active ? "" : ", which had ended");
		vigil__wire_kill(c, err, rc);
	}
	frame_free(f);
	return rc;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vigil_next_alert(vigil_client *c, int timeout_ms, struct vigil_alert *out,
		     struct vigil_error *err)
{
	int rc = vigil__query_usable(c, "vigil_next_alert", err);
	if (rc != VIGIL_OK)
		return rc;
	if (!out)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_next_alert: out is NULL");
	alert_clear(out);
	if (timeout_ms < 0)
		return vigil__error_set(err, VIGIL_E_USAGE, "timeout %d ms is negative", timeout_ms);
	/* What came while the library waited for other answers comes first
	 * (an acknowledgement's refusal, also without a subscription). */
	Vigil__V1__Frame *f = kept_take(c);
	if (f)
		return frame_take(c, f, out, err);
	if (c->sub.request_id == 0)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_next_alert: this connection has "
					"not subscribed (vigil_subscribe)");
	int64_t deadline = mono_ms() + timeout_ms;
	for (;;) {
		int64_t left = deadline - mono_ms();
		rc = vigil__wire_recv_wait(c, &f, "waiting for an alert", left > 0 ? (int)left : 0,
					   err);
		if (rc == VIGIL__NOTHING) {
			out->event = VIGIL_EVENT_NONE;
			return VIGIL_OK;
		}
		if (rc != VIGIL_OK)
			return rc;
		if (vigil__alert_claims(c, f))
			return frame_take(c, f, out, err);
		/* An answer to a submission or an abandoned query. */
		size_t idx;
		if ((rc = vigil__submit_dispatch(c, f, &idx, err)) != VIGIL_OK)
			return rc;
	}
}
