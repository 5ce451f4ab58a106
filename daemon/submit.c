#include "daemon/submit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "daemon/conn.h"
#include "daemon/directory.h"
#include "daemon/log.h"
#include "daemon/relay.h"
#include "proto/frame.h"
#include "proto/record.h"
#include "proto/sealed.h"
#include "proto/status.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

struct submission {
	uv_work_t work;
	struct writer_job job;
	struct conn *conn;
	Vigil__V1__Frame *frame;       /* owns the record and signature bytes */
	Vigil__V1__Record *record;     /* parsed by the worker */
	uint64_t request_id;
	size_t charge;                 /* bytes charged to conn (conn_charge) */
	int status;
	char why[192];
	const struct directory *directory; /* the relay's when it came (a reload may
					    * replace it meanwhile) */
	const uint8_t *cert_der;       /* conn_cert_der(), taken on the loop */
	size_t cert_der_len;
	int refs;                      /* loop thread: verify_done() and, once the
					* pool handed the job to the writer,
					* on_stored(); the last one frees */
};

/* Gives the frame's bytes back before the answer, so that conn_answered()
 * may resume reading. */
static void submission_uncharge(struct submission *s)
{
	conn_uncharge(s->conn, s->charge);
	s->charge = 0;
}

static void submission_free(struct submission *s)
{
	if (s->charge)
		submission_uncharge(s);
	record_free(s->record);
	frame_free(s->frame);
	directory_release(&s->directory);
	free(s);
}

static void answer_error(struct submission *s, int status, const char *why)
{
	struct conn *c = s->conn;
	struct relay_stats *st = &c->relay->stats;
	st->records_refused++;
	st->records_refused_by[status < 0 && -status < RELAY_STATUS_SLOTS ? -status : -VG_EINTERNAL]++;
	conn_send_error(c, s->request_id, status, "%s", why);
}

static void answer_receipt(struct submission *s)
{
	struct writer_job *j = &s->job;
	Vigil__V1__Receipt rc = VIGIL__V1__RECEIPT__INIT;
	rc.index = j->index;
	rc.received_at_ms = j->stored_received_at_ms;
	rc.leaf_hash.data = j->stored_leaf_hash;
	rc.leaf_hash.len = SHA256_LEN;
	rc.record_id.data = (uint8_t *)j->record_id;
	rc.record_id.len = RECORD_ID_LEN;
	rc.duplicate = j->duplicate != 0;
	rc.checkpoint = j->checkpoint->note;
	ProtobufCBinaryData proof[MERKLE_MAX_PROOF];
	for (size_t i = 0; i < j->proof_len; i++) {
		proof[i].data = j->proof[i];
		proof[i].len = SHA256_LEN;
	}
	rc.inclusion_proof = proof;
	rc.n_inclusion_proof = j->proof_len;
	if (j->duplicate) {
		rc.stored_signature.data = j->stored_sig;
		rc.stored_signature.len = j->stored_sig_len;
		rc.stored_cert_sha256.data = j->stored_cert_sha256;
		rc.stored_cert_sha256.len = SHA256_LEN;
		rc.stored_certificate.data = j->stored_cert_der;
		rc.stored_certificate.len = j->stored_cert_der_len;
	}
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = s->request_id;
	f.msg_case = VIGIL__V1__FRAME__MSG_RECEIPT;
	f.receipt = &rc;
	conn_send(s->conn, &f);
}

/* Loop thread: drops one of the submission's two holders (verify_done,
 * on_stored); the last one lets the connection go and frees it. */
static void submission_put(struct submission *s)
{
	if (--s->refs > 0)
		return;
	struct conn *c = s->conn;
	submission_free(s);
	conn_release(c);
}

/* Loop thread: the writer finished this submission's batch.  It may run
 * before or after verify_done(): both are called on the loop, in either
 * order, once the pool handed the job to the writer. */
static void on_stored(struct writer_job *job)
{
	struct submission *s = container_of(job, struct submission, job);
	struct conn *c = s->conn;
	struct relay *r = c->relay;
	if (job->status == VG_OK) {
		if (job->duplicate)
			r->stats.records_duplicate++;
		else
			r->stats.records_stored++;
		answer_receipt(s);
	} else {
		answer_error(s, job->status, job->why);
	}
	writer_job_clear(job);
	submission_uncharge(s);
	conn_answered(c);
	submission_put(s);
}

/*
 * Thread pool: a verified submission goes to the writer from here, not
 * through the loop: a trip through the loop (a wake-up, and a wait behind
 * whatever the loop is doing for other connections) was on every receipt's
 * path (tests/bench/README.md, "Where the time goes").  The connection's
 * fields read here are set at its handshake and stay until it is freed,
 * which conn_hold() prevents.
 */
static void hand_to_writer(struct submission *s)
{
	struct conn *c = s->conn;
	struct writer_job *j = &s->job;
	Vigil__V1__SignedRecord *sr = s->frame->submit->record;
	j->done = on_stored;
	j->cert_sha256 = c->id.cert_sha256;
	j->cert_der = s->cert_der;
	j->cert_der_len = s->cert_der_len;
	j->author = c->id.org;
	j->record_id = s->record->record_id.data;
	j->case_id = s->record->case_id;
	j->kind = WRITER_APPEND;
	j->parsed = s->record;
	j->role = c->id.role;
	j->record = sr->record.data;
	j->record_len = sr->record.len;
	j->sig = sr->signature.data;
	j->sig_len = sr->signature.len;
	j->sealed = s->frame->submit->sealed.data;
	j->sealed_len = s->frame->submit->sealed.len;
	/* Set before the writer may see the job; verify_done() and
	 * on_stored() read it on the loop after the pool's and the writer's
	 * hand-offs (a mutex each). */
	s->refs = 2;
	writer_submit(c->relay->writer, j);
}

/*
 * The sealed text beside the record (Submit.sealed): there exactly when
 * the record has a SealedText, an envelope of the one accepted form
 * (sealed_check), and encrypted to exactly the readers the record names,
 * each a member's encryption certificate.  Whether those are the case's
 * readers is the writer's check (policy_check_sealed), against the case.
 */
static int check_sealed(struct submission *s, struct conn *c)
{
	const ProtobufCBinaryData *env = &s->frame->submit->sealed;
	int field;
	const Vigil__V1__SealedText *t = record_sealed_text(s->record, &field, NULL);
	if (!t) {
		if (env->len) {
			snprintf(s->why, sizeof(s->why),
				 "submit carries a sealed text, but the record seals none");
			return VG_EBADREQ;
		}
		return VG_OK;
	}
	const char *name = sealed_field_name(field);
	if (!env->len) {
		snprintf(s->why, sizeof(s->why),
			 "the record's sealed %s is missing its ciphertext (Submit.sealed)", name);
		return VG_EBADREQ;
	}
	CMS_ContentInfo *cms;
	char why[160];
	int rc = sealed_check(env->data, env->len, &cms, why, sizeof(why));
	if (rc != VG_OK) {
		snprintf(s->why, sizeof(s->why), "%s", why);
		return rc;
	}
	X509 *readers[SEALED_READERS_MAX];
	for (size_t i = 0; i < t->n_readers; i++) {
		const struct member *m = directory_find_enc(s->directory, t->readers[i].data);
		readers[i] = m ? m->enc_cert : NULL;
		if (!readers[i]) {
			CMS_ContentInfo_free(cms);
			snprintf(s->why, sizeof(s->why),
				 "sealed %s: reader %zu is no member's encryption certificate", name,
				 i + 1);
			return VG_EBADREQ;
		}
	}
	rc = sealed_recipients(cms, readers, t->n_readers, why, sizeof(why));
	CMS_ContentInfo_free(cms);
	if (rc != VG_OK)
		snprintf(s->why, sizeof(s->why), "%s", why);
	return rc;
}

/*
 * Free text is taken sealed only (DESIGN.md section 8): a record whose
 * note, justification, decline reason or acknowledgement reason is in the
 * clear is refused at submission.  record_parse() still accepts such
 * records, as the log holds older ones (and --verify-db reads them).
 */
static int refuse_plain(const Vigil__V1__Record *r, char *why, size_t why_len)
{
	static const char *const names[][2] = {
		{ "", "" },
		{ "note", "ContactAttempt.sealed_note" },
		{ "justification", "Override.sealed_justification" },
		{ "decline_reason", "HandoverAnswer.sealed_decline_reason" },
		{ "reason", "AlertAck.sealed_reason" },
	};
	int field = 0;
	const char *plain = NULL;
	record_sealed_text(r, &field, &plain);
	if (!plain || field < 1 || field > 4)
		return VG_OK;
	snprintf(why, why_len, "%s must be sealed (%s): the relay takes no free text in the clear",
		 names[field][0], names[field][1]);
	return VG_EBADREQ;
}

/* Thread pool: everything CPU-heavy about a submission. */
static void verify_work(uv_work_t *w)
{
	struct submission *s = container_of(w, struct submission, work);
	struct conn *c = s->conn;
	Vigil__V1__SignedRecord *sr = s->frame->submit->record;
	int rc = record_parse(sr->record.data, sr->record.len, &s->record, s->why, sizeof(s->why));
	if (rc == VG_OK)
		rc = refuse_plain(s->record, s->why, sizeof(s->why));
	if (rc != VG_OK) {
		s->status = rc;
		return;
	}
	int ok = c->verifier ? record_verifier_check(c->verifier, sr->record.data, sr->record.len,
						    sr->signature.data, sr->signature.len)
			     : record_verify(c->peer_key, sr->record.data, sr->record.len,
					     sr->signature.data, sr->signature.len);
	if (ok != VG_OK) {
		s->status = VG_EBADSIG;
		snprintf(s->why, sizeof(s->why),
			 "signature does not verify with the key of this connection's certificate");
		return;
	}
	if (strcmp(s->record->author, c->id.org) != 0) {
		s->status = VG_EPERM;
		snprintf(s->why, sizeof(s->why),
			 "author \"%s\" is not the organisation of this connection (\"%s\")",
			 s->record->author, c->id.org);
		return;
	}
	if ((rc = check_sealed(s, c)) != VG_OK) {
		s->status = rc;
		return;
	}
	uint8_t *leaf;
	size_t leaf_len;
	rc = entry_leaf_encode(s->job.received_at_ms, c->id.cert_sha256, sr->record.data,
			       sr->record.len, sr->signature.data, sr->signature.len, &leaf, &leaf_len);
	if (rc != VG_OK) {
		s->status = rc;
		snprintf(s->why, sizeof(s->why), "cannot encode entry");
		return;
	}
	merkle_leaf_hash(leaf, leaf_len, s->job.leaf_hash);
	free(leaf);
	s->status = VG_OK;
	/* The connection may have closed meanwhile; the record is valid and
	 * signed, so it is stored anyway: a retry will get its receipt. */
	hand_to_writer(s);
}

/* Loop thread: the pool is done with the submission.  A verified one is
 * with the writer already (hand_to_writer), and on_stored() answers it. */
static void verify_done(uv_work_t *w, int status)
{
	struct submission *s = container_of(w, struct submission, work);
	struct conn *c = s->conn;
	if (status == UV_ECANCELED) {
		s->status = VG_EUNAVAIL;
		snprintf(s->why, sizeof(s->why), "relay shutting down");
	}
	if (s->status != VG_OK) {
		answer_error(s, s->status, s->why);
		submission_uncharge(s);
		conn_answered(c);
	}
	submission_put(s);
}

void submit_start(struct conn *c, Vigil__V1__Frame *f, size_t wire_len)
{
	uint64_t rid = f->request_id;
	Vigil__V1__SignedRecord *sr = f->submit ? f->submit->record : NULL;
	if (!sr || sr->record.len == 0) {
		frame_free(f);
		conn_send_error(c, rid, VG_EBADREQ, "submit carries no record");
		conn_answered(c);
		return;
	}
	if (sr->signature.len == 0 || sr->signature.len > RECORD_SIG_MAX) {
		size_t n = sr->signature.len;
		frame_free(f);
		if (n)
			conn_send_error(c, rid, VG_ETOOLARGE, "signature is %zu bytes; the limit is %u",
					n, RECORD_SIG_MAX);
		else
			conn_send_error(c, rid, VG_EBADREQ, "submit carries no signature");
		conn_answered(c);
		return;
	}
	/* The certificate the writer stores with the record, encoded here on
	 * the loop (conn_cert_der: at the first call), since the pool thread
	 * hands the job to the writer itself. */
	size_t der_len = 0;
	const uint8_t *der = conn_cert_der(c, &der_len);
	struct submission *s = der ? calloc(1, sizeof(*s)) : NULL;
	if (!s) {
		frame_free(f);
		conn_send_error(c, rid, der ? VG_ENOMEM : VG_EUNAVAIL,
				der ? "relay out of memory" : "out of memory");
		conn_answered(c);
		return;
	}
	s->cert_der = der;
	s->cert_der_len = der_len;
	/* Verification set up once per connection, for all its records. */
	if (!c->verifier)
		c->verifier = record_verifier_new(c->peer_key);
	s->conn = c;
	s->frame = f;
	s->refs = 1;
	s->request_id = rid;
	s->directory = directory_ref(c->relay->directory);
	s->job.received_at_ms = relay_now_ms();
	s->charge = wire_len + CONN_RESERVE_SMALL; /* and its receipt */
	conn_charge(c, s->charge);
	conn_hold(c);
	int rc = uv_queue_work(c->relay->loop, &s->work, verify_work, verify_done);
	if (rc != 0) {
		conn_send_error(c, rid, VG_EINTERNAL, "cannot queue verification: %s", uv_strerror(rc));
		submission_uncharge(s);
		conn_answered(c);
		submission_put(s);
	}
}
