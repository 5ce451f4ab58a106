#include "daemon/delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "daemon/conn.h"
#include "daemon/log.h"
#include "daemon/reader.h"
#include "daemon/relay.h"
#include "proto/frame.h"
#include "proto/merkle.h"
#include "proto/status.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* One alert or Erasure entry, as read back for a replay. */
struct replay_item {
	uint64_t position;
	int64_t received_at_ms;
	uint8_t cert_sha256[SHA256_LEN];
	uint8_t leaf_hash[SHA256_LEN];
	uint8_t *record;
	size_t record_len;
	uint8_t *sig;
	size_t sig_len;
	uint8_t *cert_der;            /* the certificate that signed it */
	size_t cert_der_len;
	merkle_hash proof[MERKLE_MAX_PROOF];
	size_t proof_len;
};

struct replay {
	uv_work_t work;
	struct conn *conn;
	struct reader_pool *pool;
	char org[RECORD_ORG_MAX + 1];
	char cursor[sizeof(((struct conn *)0)->sub_cursor)]; /* whose position */
	int first;                    /* the subscription's first round */
	uint64_t after;               /* first round: the peer's own "after" */
	uint64_t from;                /* positions >= from */
	struct logtree_checkpoint *checkpoint;
	/* Results. */
	int status;
	uint64_t acked;               /* first round: the stored acknowledgement */
	uint64_t next;                /* where the next round starts */
	size_t rows;                  /* alerts table rows examined */
	struct replay_item items[DELIVERY_PAGE];
	size_t n;                     /* items addressed to org */
};

static int addressed_to(const char *recipients, const char *org)
{
	size_t n = strlen(org);
	for (const char *p = recipients; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len == n && memcmp(p, org, n) == 0)
			return 1;
		p = nl ? nl + 1 : NULL;
	}
	return 0;
}

static void send_delivery(struct conn *c, uint64_t position, int64_t received_at,
			  const uint8_t *cert_sha256, const uint8_t *cert_der, size_t cert_der_len,
			  const uint8_t *record, size_t record_len,
			  const uint8_t *sig, size_t sig_len, const uint8_t *leaf_hash,
			  const char *checkpoint, merkle_hash *proof, size_t proof_len)
{
	Vigil__V1__Entry e = VIGIL__V1__ENTRY__INIT;
	e.index = position;
	e.received_at_ms = received_at;
	e.cert_sha256.data = (uint8_t *)cert_sha256;
	e.cert_sha256.len = SHA256_LEN;
	e.record.data = (uint8_t *)record;
	e.record.len = record_len;
	e.signature.data = (uint8_t *)sig;
	e.signature.len = sig_len;
	e.leaf_hash.data = (uint8_t *)leaf_hash;
	e.leaf_hash.len = SHA256_LEN;
	ProtobufCBinaryData p[MERKLE_MAX_PROOF];
	for (size_t i = 0; i < proof_len; i++) {
		p[i].data = proof[i];
		p[i].len = SHA256_LEN;
	}
	Vigil__V1__Delivery d = VIGIL__V1__DELIVERY__INIT;
	d.position = position;
	d.entry = &e;
	d.checkpoint = (char *)checkpoint;
	d.inclusion_proof = p;
	d.n_inclusion_proof = proof_len;
	d.certificate.data = (uint8_t *)cert_der;
	d.certificate.len = cert_der_len;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = c->sub_request_id;
	f.msg_case = VIGIL__V1__FRAME__MSG_DELIVERY;
	f.delivery = &d;
	conn_send(c, &f);
}

/* A subscriber that stopped reading is told to catch up by replay. */
static int check_lagging(struct conn *c)
{
	if (c->write_queue <= DELIVERY_MAX_QUEUE)
		return 0;
	Vigil__V1__Lagging l = VIGIL__V1__LAGGING__INIT;
	l.acked = c->sub_acked;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = c->sub_request_id;
	f.msg_case = VIGIL__V1__FRAME__MSG_LAGGING;
	f.lagging = &l;
	conn_send(c, &f);
	c->sub_active = 0;
	log_info("%s %s: delivery paused: the subscriber is not reading", c->peer_addr, c->id.org);
	return 1;
}

static void replay_free(struct replay *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->items[i].record);
		free(r->items[i].sig);
		free(r->items[i].cert_der);
	}
	logtree_checkpoint_release(r->checkpoint);
	free(r);
}

/* Thread pool: one page of the alerts table (alert and Erasure entries). */
static void replay_work(uv_work_t *w)
{
	struct replay *r = container_of(w, struct replay, work);
	const char *err = NULL;
	struct reader *rd = reader_acquire(r->pool, &err);
	if (!rd) {
		r->status = VG_EIO;
		return;
	}
	reader_begin(rd);
	int rc = DB_OK;
	if (r->first) {
		db_bind_text(rd->acked, 1, r->cursor, -1);
		rc = db_step(rd->acked);
		r->acked = rc == DB_ROW ? (uint64_t)db_column_int64(rd->acked, 0) : 0;
		db_reset(rd->acked);
		uint64_t start = r->acked > r->after ? r->acked : r->after;
		r->from = start + 1;
	}
	struct db_stmt *st = rd->alerts;
	db_bind_int64(st, 1, (int64_t)r->from);
	db_bind_int64(st, 2, DELIVERY_PAGE);
	r->next = r->from;
	while ((rc = db_step(st)) == DB_ROW) {
		uint64_t pos = (uint64_t)db_column_int64(st, 0);
		/* Not yet covered by the checkpoint the proofs use: the next
		 * round starts here, with a newer checkpoint. */
		if (pos >= r->checkpoint->size)
			break;
		r->rows++;
		r->next = pos + 1;
		if (!addressed_to(db_column_text(st, 1), r->org))
			continue;
		struct replay_item *it = &r->items[r->n];
		memset(it, 0, sizeof(*it));
		it->position = pos;
		it->received_at_ms = db_column_int64(st, 2);
		if (db_column_bytes(st, 3) == SHA256_LEN)
			memcpy(it->cert_sha256, db_column_blob(st, 3), SHA256_LEN);
		if (db_column_bytes(st, 6) == SHA256_LEN)
			memcpy(it->leaf_hash, db_column_blob(st, 6), SHA256_LEN);
		it->record_len = (size_t)db_column_bytes(st, 4);
		it->sig_len = (size_t)db_column_bytes(st, 5);
		it->cert_der_len = (size_t)db_column_bytes(st, 7);
		it->record = malloc(it->record_len ? it->record_len : 1);
		it->sig = malloc(it->sig_len ? it->sig_len : 1);
		it->cert_der = malloc(it->cert_der_len ? it->cert_der_len : 1);
		r->n++;
		if (!it->record || !it->sig || !it->cert_der) {
			rc = DB_NOMEM;
			break;
		}
		memcpy(it->record, db_column_blob(st, 4), it->record_len);
		memcpy(it->sig, db_column_blob(st, 5), it->sig_len);
		if (it->cert_der_len)
			memcpy(it->cert_der, db_column_blob(st, 7), it->cert_der_len);
		if (merkle_inclusion_proof(reader_get_node, rd, pos, r->checkpoint->size, it->proof,
					   &it->proof_len) != 0) {
			rc = DB_IOERR;
			break;
		}
	}
	db_reset(st);
	reader_end(rd);
	reader_release(r->pool, rd);
	r->status = (rc == DB_DONE || rc == DB_ROW) ? VG_OK : VG_EIO;
}

static void replay_start(struct conn *c, int first, uint64_t after);

static void replay_done(uv_work_t *w, int status)
{
	struct replay *r = container_of(w, struct replay, work);
	struct conn *c = r->conn;
	int ok = status == 0 && r->status == VG_OK;
	if (r->first) {
		if (!ok) {
			conn_send_error(c, c->sub_request_id, VG_EUNAVAIL, "cannot read the alerts");
			c->sub_active = 0;
		} else {
			c->sub_acked = r->acked;
			Vigil__V1__Subscribed s = VIGIL__V1__SUBSCRIBED__INIT;
			s.acked = r->acked;
			Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
			f.request_id = c->sub_request_id;
			f.msg_case = VIGIL__V1__FRAME__MSG_SUBSCRIBED;
			f.subscribed = &s;
			conn_send(c, &f);
		}
		conn_answered(c);
	}
	if (ok && conn_is_open(c) && c->sub_active) {
		for (size_t i = 0; i < r->n; i++) {
			struct replay_item *it = &r->items[i];
			send_delivery(c, it->position, it->received_at_ms, it->cert_sha256, it->cert_der,
				      it->cert_der_len, it->record, it->record_len, it->sig,
				      it->sig_len, it->leaf_hash, r->checkpoint->note, it->proof,
				      it->proof_len);
		}
		c->sub_next = r->next;
		c->sub_replaying = 0;
		if (!check_lagging(c)) {
			/* More pages, or entries committed while this one was read. */
			if (r->rows == DELIVERY_PAGE ||
			    writer_alert_horizon(c->relay->writer) > c->sub_next)
				replay_start(c, 0, 0);
		}
	} else if (!ok) {
		c->sub_replaying = 0;
	}
	conn_release(c);
	replay_free(r);
}

static void replay_start(struct conn *c, int first, uint64_t after)
{
	struct replay *r = calloc(1, sizeof(*r));
	if (!r) {
		if (first) {
			conn_send_error(c, c->sub_request_id, VG_ENOMEM, "relay out of memory");
			conn_answered(c);
		}
		c->sub_active = 0;
		return;
	}
	r->conn = c;
	r->pool = &c->relay->readers;
	r->first = first;
	r->after = after;
	r->from = c->sub_next;
	r->checkpoint = logtree_checkpoint_ref(writer_latest(c->relay->writer));
	snprintf(r->org, sizeof(r->org), "%s", c->id.org);
	snprintf(r->cursor, sizeof(r->cursor), "%s", c->sub_cursor);
	c->sub_replaying = 1;
	conn_hold(c);
	int rc = uv_queue_work(c->relay->loop, &r->work, replay_work, replay_done);
	if (rc != 0) {
		conn_release(c);
		c->sub_replaying = 0;
		c->sub_active = 0;
		if (first) {
			conn_send_error(c, c->sub_request_id, VG_EINTERNAL, "cannot queue the replay");
			conn_answered(c);
		}
		replay_free(r);
	}
}

int delivery_desk_ok(const char *desk)
{
	size_t n = strlen(desk);
	if (n < 1 || n > DELIVERY_DESK_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((desk[i] >= 'a' && desk[i] <= 'z') || (desk[i] >= '0' && desk[i] <= '9') ||
		      desk[i] == '-'))
			return 0;
	return 1;
}

/* The delivery position's owner for a desk: ORG for the default desk,
 * ORG/DESK otherwise (organisation ids have no '/'). */
static void cursor_of(const struct conn *c, const char *desk, char *out, size_t len)
{
	if (!desk[0] || strcmp(desk, "default") == 0)
		snprintf(out, len, "%s", c->id.org);
	else
		snprintf(out, len, "%s/%s", c->id.org, desk);
}

void delivery_subscribe(struct conn *c, Vigil__V1__Frame *f)
{
	uint64_t rid = f->request_id, after = f->subscribe->after;
	char desk[DELIVERY_DESK_MAX + 1] = "";
	int desk_ok = !f->subscribe->desk[0] || delivery_desk_ok(f->subscribe->desk);
	if (desk_ok)
		snprintf(desk, sizeof(desk), "%s", f->subscribe->desk);
	frame_free(f);
	if (!desk_ok) {
		conn_send_error(c, rid, VG_EBADREQ, "desk must be 1-%d of [a-z0-9-]",
				DELIVERY_DESK_MAX);
		conn_answered(c);
		return;
	}
	if (c->sub_active || c->sub_replaying) {
		conn_send_error(c, rid, VG_ECONFLICT, "this connection is already subscribed");
		conn_answered(c);
		return;
	}
	cursor_of(c, desk, c->sub_cursor, sizeof(c->sub_cursor));
	c->sub_active = 1;
	c->sub_request_id = rid;
	c->sub_next = 0;
	replay_start(c, 1, after);
}

/* A job no connection waits for: it still keeps a draining relay alive
 * until the writer has done it. */
struct fire_job {
	struct writer_job job;
	struct relay *relay;
	char org[RECORD_ORG_MAX + 1];
};

static void fire_done(struct writer_job *j)
{
	struct fire_job *fj = container_of(j, struct fire_job, job);
	struct relay *r = fj->relay;
	free(fj);
	relay_check_drained(r);
}

static struct fire_job *fire_job_new(struct conn *c, enum writer_job_kind kind)
{
	struct fire_job *fj = calloc(1, sizeof(*fj));
	if (!fj)
		return NULL;
	fj->relay = c->relay;
	snprintf(fj->org, sizeof(fj->org), "%s", c->id.org);
	fj->job.kind = kind;
	fj->job.done = fire_done;
	fj->job.author = fj->org;
	return fj;
}

/* One DeliveryAck job of a connection; it holds the connection, so the
 * next coalesced position can follow it even after the peer left. */
struct ack_job {
	struct writer_job job;
	struct conn *conn;
	char cursor[sizeof(((struct conn *)0)->sub_cursor)];
};

static void ack_submit(struct conn *c, uint64_t pos);
static void cursor_of(const struct conn *c, const char *desk, char *out, size_t len);

static void ack_done(struct writer_job *j)
{
	struct ack_job *aj = container_of(j, struct ack_job, job);
	struct conn *c = aj->conn;
	free(aj);
	c->ack_busy = 0;
	/* The next job first, so that inflight never touches 0 in between
	 * (a draining relay would close the connection). */
	if (c->ack_dirty) {
		c->ack_dirty = 0;
		ack_submit(c, c->ack_want);
	}
	conn_answered(c);
	conn_release(c);
}

/* Queues one acknowledgement job; it counts as a request in flight until
 * the writer has stored it.  Acknowledgements are fire and forget: on
 * failure to allocate, this one is dropped (a later one supersedes it). */
static void ack_submit(struct conn *c, uint64_t pos)
{
	struct ack_job *aj = calloc(1, sizeof(*aj));
	if (!aj) {
		log_warn("%s %s: acknowledgement of %llu dropped: out of memory", c->peer_addr,
			 c->id.org, (unsigned long long)pos);
		return;
	}
	aj->conn = c;
	/* An acknowledgement before any Subscribe is the default desk's. */
	if (!c->sub_cursor[0])
		cursor_of(c, "", c->sub_cursor, sizeof(c->sub_cursor));
	snprintf(aj->cursor, sizeof(aj->cursor), "%s", c->sub_cursor);
	aj->job.kind = WRITER_DELIVERY_ACK;
	aj->job.done = ack_done;
	aj->job.author = aj->cursor; /* delivery_acks.org: ORG or ORG/DESK */
	aj->job.index = pos;
	c->ack_busy = 1;
	c->inflight++;
	conn_hold(c);
	writer_submit(c->relay->writer, &aj->job);
}

void delivery_ack(struct conn *c, Vigil__V1__Frame *f)
{
	uint64_t rid = f->request_id, pos = f->delivery_ack->position;
	frame_free(f);
	struct logtree_checkpoint *cp = writer_latest(c->relay->writer);
	if (pos >= cp->size) {
		conn_send_error(c, rid, VG_EBADREQ, "position %llu is beyond the log (size %llu)",
				(unsigned long long)pos, (unsigned long long)cp->size);
		conn_answered(c);
		return;
	}
	/* A flood of acknowledgements costs one writer job per connection at
	 * a time, not one each: while a job is queued, the highest position
	 * waits for it (the store keeps the highest anyway). */
	if (c->ack_busy) {
		if (!c->ack_dirty || pos > c->ack_want)
			c->ack_want = pos;
		c->ack_dirty = 1;
	} else {
		ack_submit(c, pos);
	}
	if (pos > c->sub_acked)
		c->sub_acked = pos;
	conn_answered(c); /* no answer: acknowledgements are fire and forget */
}

void delivery_note_peer(struct conn *c)
{
	struct fire_job *fj = fire_job_new(c, WRITER_HELLO);
	if (!fj)
		return;
	fj->job.role = c->id.role;
	snprintf(fj->job.country, sizeof(fj->job.country), "%s", c->id.country);
	fj->job.received_at_ms = relay_now_ms();
	writer_submit(c->relay->writer, &fj->job);
}

void delivery_on_alerts(void *ctx, struct writer_alert *list)
{
	struct relay *r = ctx;
	for (struct conn *c = r->conns; c; c = c->next) {
		if (!c->sub_active || c->sub_replaying || !conn_is_open(c))
			continue;
		for (struct writer_alert *a = list; a; a = a->next) {
			if (a->position < c->sub_next)
				continue;
			c->sub_next = a->position + 1;
			int mine = 0;
			for (size_t i = 0; i < a->ev.n_recipients; i++)
				mine |= strcmp(a->ev.recipients[i], c->id.org) == 0;
			if (!mine || !a->checkpoint)
				continue;
			send_delivery(c, a->position, a->received_at_ms, a->cert_sha256,
				      r->identity_der, r->identity_der_len, a->record, a->record_len,
				      a->sig, a->sig_len, a->leaf_hash, a->checkpoint->note, a->proof,
				      a->proof_len);
			if (check_lagging(c))
				break;
		}
	}
	writer_alerts_free(list);
}
