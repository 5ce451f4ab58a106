/*
 * submit.c - signed records on the wire: send them (pipelined or not),
 * match answers to submissions by request id, and verify every receipt.
 *
 * Each outstanding submission keeps a copy of its record and signature: the
 * receipt's leaf hash is recomputed from them.  An answer that arrives while
 * the caller waits for another request (a submission or a log request,
 * query.c) is verified at once and kept in its entry until
 * vigil_recv_receipt() hands it out.  Verification itself is verify.c's,
 * shared with offline receipts.  The table is a plain array
 * searched linearly: answers come mostly in order and a pipelining client
 * keeps at most a few thousand requests in flight.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "client/internal.h"
#include "proto/record.h"

static void pending_release(struct vigil__pending *p)
{
	free(p->record);
	free(p->sig);
	free(p->answer);
	p->record = NULL;
	p->sig = NULL;
	p->answer = NULL;
}

static void pending_remove(struct vigil_client *c, size_t i)
{
	pending_release(&c->pending[i]);
	c->pending[i] = c->pending[--c->n_pending];
}

void vigil__submit_free_all(struct vigil_client *c)
{
	for (size_t i = 0; i < c->n_pending; i++)
		pending_release(&c->pending[i]);
	free(c->pending);
	c->pending = NULL;
	c->n_pending = c->cap_pending = 0;
}

static int pending_find(const struct vigil_client *c, uint64_t request_id, size_t *idx)
{
	for (size_t i = 0; i < c->n_pending; i++) {
		if (c->pending[i].request_id == request_id) {
			*idx = i;
			return 1;
		}
	}
	return 0;
}

size_t vigil_outstanding(const vigil_client *c)
{
	return c ? c->n_pending : 0;
}

int vigil__submit_send_owned(struct vigil_client *c, uint8_t *record, size_t record_len,
			     uint8_t *sig, size_t sig_len, uint8_t *sealed, size_t sealed_len,
			     uint64_t *request_id, struct vigil_error *err)
{
	int rc = vigil__wire_usable(c, err);
	if (rc != VIGIL_OK)
		goto fail;
	if (c->n_pending == c->cap_pending) {
		size_t cap = c->cap_pending ? 2 * c->cap_pending : 16;
		struct vigil__pending *np = realloc(c->pending, cap * sizeof(*np));
		if (!np) {
			rc = vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
			goto fail;
		}
		c->pending = np;
		c->cap_pending = cap;
	}
	struct vigil__pending *p = &c->pending[c->n_pending];
	memset(p, 0, sizeof(*p));
	/* The record id is what the receipt must echo.  Bytes that are not a
	 * Record are sent all the same (the relay must refuse them), but a
	 * receipt for them can never verify. */
	Vigil__V1__Record *r = vigil__v1__record__unpack(NULL, record_len, record);
	if (r && r->record_id.len == RECORD_ID_LEN) {
		memcpy(p->record_id, r->record_id.data, RECORD_ID_LEN);
		p->have_record_id = 1;
	}
	if (r)
		vigil__v1__record__free_unpacked(r, NULL);

	Vigil__V1__SignedRecord sr = VIGIL__V1__SIGNED_RECORD__INIT;
	sr.record.data = record;
	sr.record.len = record_len;
	sr.signature.data = sig;
	sr.signature.len = sig_len;
	Vigil__V1__Submit sub = VIGIL__V1__SUBMIT__INIT;
	sub.record = &sr;
	sub.sealed.data = sealed;
	sub.sealed.len = sealed ? sealed_len : 0;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = c->next_request_id;
	f.msg_case = VIGIL__V1__FRAME__MSG_SUBMIT;
	f.submit = &sub;
	rc = vigil__wire_send(c, &f, err);
	if (rc != VIGIL_OK)
		goto fail;
	/* The receipt is checked against the record; the envelope is not
	 * needed any more. */
	free(sealed);
	c->next_request_id++;
	p->request_id = f.request_id;
	p->record = record;
	p->record_len = record_len;
	p->sig = sig;
	p->sig_len = sig_len;
	c->n_pending++;
	if (request_id)
		*request_id = f.request_id;
	return VIGIL_OK;
fail:
	free(record);
	free(sig);
	free(sealed);
	return rc;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	if (d && n)
		memcpy(d, p, n);
	return d;
}

static int send_copies(vigil_client *c, const uint8_t *record, size_t record_len,
		       const uint8_t *sig, size_t sig_len, const uint8_t *sealed, size_t sealed_len,
		       uint64_t *request_id, const char *fn, struct vigil_error *err)
{
	if (!c || (!record && record_len) || (!sig && sig_len) || (!sealed && sealed_len))
		return vigil__error_set(err, VIGIL_E_USAGE, "%s: NULL argument", fn);
	uint8_t *r = dup_bytes(record, record_len);
	uint8_t *s = dup_bytes(sig, sig_len);
	uint8_t *e = sealed_len ? dup_bytes(sealed, sealed_len) : NULL;
	if (!r || !s || (sealed_len && !e)) {
		free(r);
		free(s);
		free(e);
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	}
	return vigil__submit_send_owned(c, r, record_len, s, sig_len, e, sealed_len, request_id,
					err);
}

int vigil_send_signed(vigil_client *c, const uint8_t *record, size_t record_len,
		      const uint8_t *sig, size_t sig_len, uint64_t *request_id,
		      struct vigil_error *err)
{
	return send_copies(c, record, record_len, sig, sig_len, NULL, 0, request_id,
			   "vigil_send_signed", err);
}

int vigil_send_sealed(vigil_client *c, const uint8_t *record, size_t record_len,
		      const uint8_t *sig, size_t sig_len, const uint8_t *sealed, size_t sealed_len,
		      uint64_t *request_id, struct vigil_error *err)
{
	return send_copies(c, record, record_len, sig, sig_len, sealed, sealed_len, request_id,
			   "vigil_send_sealed", err);
}

/* Copies what the relay claimed into *out; VIGIL_E_VERIFY when a field
 * has the wrong size.  The checkpoint note is kept as sent when it fits. */
static int receipt_take(const Vigil__V1__Receipt *r, struct vigil_receipt *out,
			const char *what, struct vigil_error *err)
{
	out->index = r->index;
	out->received_at_ms = r->received_at_ms;
	out->duplicate = r->duplicate ? 1 : 0;
	if (r->record_id.len != RECORD_ID_LEN || r->leaf_hash.len != SHA256_LEN)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"malformed %s: record_id of %zu bytes, leaf_hash of %zu "
					"bytes", what, r->record_id.len, r->leaf_hash.len);
	memcpy(out->record_id, r->record_id.data, RECORD_ID_LEN);
	memcpy(out->leaf_hash, r->leaf_hash.data, SHA256_LEN);
	size_t nl = r->checkpoint ? strlen(r->checkpoint) : 0;
	if (nl == 0)
		return vigil__error_set(err, VIGIL_E_VERIFY, "%s carries no checkpoint", what);
	if (nl >= sizeof(out->checkpoint.note))
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"%s: the checkpoint is %zu bytes; the limit is %zu", what,
					nl, sizeof(out->checkpoint.note) - 1);
	memcpy(out->checkpoint.note, r->checkpoint, nl + 1);
	out->checkpoint.note_len = nl;
	if (r->n_inclusion_proof > VIGIL_PROOF_MAX)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"%s: the inclusion proof has %zu nodes; no proof has more "
					"than %d", what, r->n_inclusion_proof, VIGIL_PROOF_MAX);
	for (size_t i = 0; i < r->n_inclusion_proof; i++) {
		if (r->inclusion_proof[i].len != SHA256_LEN)
			return vigil__error_set(err, VIGIL_E_VERIFY,
						"%s: inclusion proof node %zu is %zu bytes, not %u",
						what, i, r->inclusion_proof[i].len, SHA256_LEN);
		memcpy(out->inclusion_proof[i], r->inclusion_proof[i].data, SHA256_LEN);
	}
	out->proof_len = r->n_inclusion_proof;
	return VIGIL_OK;
}

/*
 * The key of the certificate a duplicate was first stored with, when that is
 * not our current one (another certificate of our organisation: a former
 * one, or a colleague's).  The receipt carries it: it must hash to
 * stored_cert_sha256, chain to the federation's CA (expired or not: it
 * signed in the past) and name our organisation.  NULL with a reason when
 * it does not.
 */
static EVP_PKEY *stored_cert_key(const struct vigil_client *c, const Vigil__V1__Receipt *r,
				 char *why, size_t why_len)
{
	return vigil__verify_past_cert(c, &r->stored_certificate, r->stored_cert_sha256.data,
				       c->self.organisation, NULL, "ours", "stored_cert_sha256", why,
				       why_len);
}

/* Verifies a receipt against the submission it answers (struct
 * vigil_receipt lists the checks).  *out gets what the relay claimed even
 * when it does not verify. */
static int receipt_check(const struct vigil_client *c, const struct vigil__pending *p,
			 const Vigil__V1__Receipt *r, struct vigil_receipt *out,
			 struct vigil_error *err)
{
	memset(out, 0, sizeof(*out));
	out->checkpoint.signed_at_ms = -1;
	char what[64];
	snprintf(what, sizeof(what), "receipt for request %llu", (unsigned long long)p->request_id);
	int rc = receipt_take(r, out, what, err);
	if (rc != VIGIL_OK)
		return rc;

	char got[2 * SHA256_LEN + 1], want[2 * SHA256_LEN + 1];
	if (!p->have_record_id)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"%s, whose record carries no valid record id", what);
	if (memcmp(out->record_id, p->record_id, RECORD_ID_LEN) != 0) {
		hex_encode(out->record_id, RECORD_ID_LEN, got);
		hex_encode(p->record_id, RECORD_ID_LEN, want);
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"receipt names record %s; we sent record %s", got, want);
	}

	/* A duplicate's entry holds the signature and certificate of the
	 * first submission; the relay sends both (proto/README.md, section
	 * 3.2.1).  The stored signature must verify over the same record bytes
	 * with our own key, or with the key of the stored certificate when
	 * that is another one of our organisation. */
	const uint8_t *sig = p->sig, *cert_sha256 = c->self.cert_sha256;
	size_t sig_len = p->sig_len;
	if (out->duplicate) {
		if (r->stored_signature.len == 0 || r->stored_cert_sha256.len != SHA256_LEN)
			return vigil__error_set(err, VIGIL_E_VERIFY,
						"duplicate %s lacks the stored signature and "
						"certificate hash", what);
		sig = r->stored_signature.data;
		sig_len = r->stored_signature.len;
		cert_sha256 = r->stored_cert_sha256.data;
		if (memcmp(cert_sha256, c->self.cert_sha256, SHA256_LEN) == 0) {
			if (record_verify(c->key, p->record, p->record_len, sig, sig_len) != 0)
				return vigil__error_set(err, VIGIL_E_VERIFY,
							"duplicate %s: the stored signature is not "
							"ours over this record", what);
		} else {
			char why[128];
			EVP_PKEY *key = stored_cert_key(c, r, why, sizeof(why));
			if (!key)
				return vigil__error_set(err, VIGIL_E_VERIFY, "duplicate %s %s", what,
							why);
			int bad = record_verify(key, p->record, p->record_len, sig, sig_len) != 0;
			EVP_PKEY_free(key);
			if (bad)
				return vigil__error_set(err, VIGIL_E_VERIFY,
							"duplicate %s: the stored signature does not "
							"verify over this record with the stored "
							"certificate", what);
		}
	}
	if (sig_len > VIGIL_SIGNATURE_MAX)
		return vigil__error_set(err, VIGIL_E_VERIFY, "%s: a signature of %zu bytes; the "
					"limit is %d", what, sig_len, VIGIL_SIGNATURE_MAX);
	memcpy(out->signature, sig, sig_len);
	out->signature_len = sig_len;
	memcpy(out->cert_sha256, cert_sha256, SHA256_LEN);
	return vigil__verify_receipt(&c->ckey, out, p->record, p->record_len, what, err);
}

static int abandoned_take(struct vigil_client *c, uint64_t request_id)
{
	for (size_t i = 0; i < c->n_abandoned; i++) {
		if (c->abandoned[i] == request_id) {
			c->abandoned[i] = c->abandoned[--c->n_abandoned];
			return 1;
		}
	}
	return 0;
}

int vigil__submit_dispatch(struct vigil_client *c, Vigil__V1__Frame *f, size_t *idx,
			   struct vigil_error *err)
{
	int rc = VIGIL_OK;
	size_t i;
	*idx = SIZE_MAX;
	if (f->request_id == 0 && f->msg_case == VIGIL__V1__FRAME__MSG_ERROR) {
		rc = vigil__error_refused(err, f->error->code, f->error->message);
	} else if (vigil__alert_claims(c, f)) {
		/* A delivery, or an acknowledgement refused: for
		 * vigil_next_alert(), which reports them in order. */
		return vigil__alert_keep(c, f, err);
	} else if (f->request_id != 0 && abandoned_take(c, f->request_id)) {
		/* The late answer to a log request whose caller gave up. */
	} else if (!pending_find(c, f->request_id, &i) || c->pending[i].answer) {
		rc = vigil__error_set(err, VIGIL_E_PROTOCOL,
				      "the relay answered request %llu, which is not outstanding",
				      (unsigned long long)f->request_id);
		vigil__wire_kill(c, err, rc);
	} else if (f->msg_case != VIGIL__V1__FRAME__MSG_ERROR &&
		   f->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT) {
		rc = vigil__error_set(err, VIGIL_E_PROTOCOL,
				      "the relay answered request %llu with a frame of type %d",
				      (unsigned long long)f->request_id, (int)f->msg_case);
		vigil__wire_kill(c, err, rc);
	} else if (!(c->pending[i].answer = calloc(1, sizeof(struct vigil__answer)))) {
		rc = vigil__error_set(err, VIGIL_E_NOMEM, "out of memory keeping an answer");
		vigil__wire_kill(c, err, rc);
	} else {
		struct vigil__answer *a = c->pending[i].answer;
		if (f->msg_case == VIGIL__V1__FRAME__MSG_ERROR)
			a->status = vigil__error_refused(&a->error, f->error->code,
							 f->error->message);
		else
			a->status = receipt_check(c, &c->pending[i], f->receipt, &a->receipt,
						  &a->error);
		*idx = i;
	}
	frame_free(f);
	return rc;
}

/*
 * Reads one answer and stores its checked result in the submission it
 * answers (*idx; SIZE_MAX when the frame was the dropped answer of an
 * abandoned log request).  A relay Error outside any request gives
 * VIGIL_E_REFUSED; a frame for no outstanding request ends the connection.
 */
static int answer_read(struct vigil_client *c, size_t *idx, struct vigil_error *err)
{
	Vigil__V1__Frame *f = NULL;
	int rc = vigil__wire_recv(c, &f, "waiting for a receipt", err);
	if (rc != VIGIL_OK)
		return rc;
	return vigil__submit_dispatch(c, f, idx, err);
}

/* Hands out the answer of entry i and forgets the submission. */
static int answer_take(struct vigil_client *c, size_t i, uint64_t *request_id,
		       struct vigil_receipt *out, struct vigil_error *err)
{
	struct vigil__answer *a = c->pending[i].answer;
	int status = a->status;
	if (request_id)
		*request_id = c->pending[i].request_id;
	if (out)
		*out = a->receipt;
	if (err && status != VIGIL_OK)
		*err = a->error;
	pending_remove(c, i);
	return status;
}

int vigil_recv_receipt(vigil_client *c, uint64_t *request_id, struct vigil_receipt *out,
		       struct vigil_error *err)
{
	if (request_id)
		*request_id = 0;
	if (!c)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_recv_receipt: client is NULL");
	for (size_t i = 0; i < c->n_pending; i++)
		if (c->pending[i].answer)
			return answer_take(c, i, request_id, out, err);
	if (c->n_pending == 0)
		return vigil__error_set(err, VIGIL_E_USAGE, "no submission is waiting for an answer");
	size_t i;
	do {
		int rc = answer_read(c, &i, err);
		if (rc != VIGIL_OK)
			return rc;
	} while (i == SIZE_MAX);
	return answer_take(c, i, request_id, out, err);
}

int vigil__submit_wait(struct vigil_client *c, uint64_t request_id, struct vigil_receipt *out,
		       struct vigil_error *err)
{
	for (;;) {
		size_t i;
		if (!pending_find(c, request_id, &i))
			return vigil__error_set(err, VIGIL_E_USAGE, "request %llu is not outstanding",
						(unsigned long long)request_id);
		if (c->pending[i].answer)
			return answer_take(c, i, NULL, out, err);
		int rc = answer_read(c, &i, err);
		if (rc != VIGIL_OK)
			return rc;
		/* Another request's answer stays in its entry for
		 * vigil_recv_receipt(); loop to look for ours again. */
	}
}

int vigil_submit_signed(vigil_client *c, const uint8_t *record, size_t record_len,
			const uint8_t *sig, size_t sig_len, struct vigil_receipt *out,
			struct vigil_error *err)
{
	uint64_t id = 0;
	int rc = vigil_send_signed(c, record, record_len, sig, sig_len, &id, err);
	if (rc != VIGIL_OK)
		return rc;
	return vigil__submit_wait(c, id, out, err);
}

int vigil_submit_sealed(vigil_client *c, const uint8_t *record, size_t record_len,
			const uint8_t *sig, size_t sig_len, const uint8_t *sealed, size_t sealed_len,
			struct vigil_receipt *out, struct vigil_error *err)
{
	uint64_t id = 0;
	int rc = send_copies(c, record, record_len, sig, sig_len, sealed, sealed_len, &id,
			     "vigil_submit_sealed", err);
	if (rc != VIGIL_OK)
		return rc;
	return vigil__submit_wait(c, id, out, err);
}
