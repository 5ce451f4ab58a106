#include "daemon/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "daemon/cases.h"
#include "daemon/conn.h"
#include "daemon/directory.h"
#include "daemon/identity.h"
#include "daemon/relay.h"
#include "daemon/reader.h"
#include "daemon/reseal.h"
#include "daemon/store.h"
#include "daemon/writer.h"
#include "proto/frame.h"
#include "proto/merkle.h"
#include "proto/status.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* What a case log page reserves per entry for the certificate that signed
 * it (a certificate is at most a few KiB; the total is capped anyway). */
#define QUERY_CERT_RESERVE 8192u

struct query {
	uv_work_t work;
	struct conn *conn;
	struct reader_pool *pool;
	Vigil__V1__Frame *frame;
	size_t charge;                 /* the frame's bytes, charged to conn */
	uint64_t request_id;
	uint64_t a, b;                 /* index/size, from/to, start/end */
	char author[RECORD_ORG_MAX + 1];
	int status;
	char why[160];
	/* Results. */
	merkle_hash leaf;
	merkle_hash *hashes;
	size_t n_hashes;
	Vigil__V1__Entry **entries;
	size_t n_entries;
};

static void query_free(struct query *q)
{
	for (size_t i = 0; i < q->n_entries; i++) {
		free(q->entries[i]->cert_sha256.data);
		free(q->entries[i]->record.data);
		free(q->entries[i]->signature.data);
		free(q->entries[i]->leaf_hash.data);
		free(q->entries[i]->sealed.data);
		free(q->entries[i]);
	}
	free(q->entries);
	free(q->hashes);
	frame_free(q->frame);
	if (q->charge)
		conn_uncharge(q->conn, q->charge);
	free(q);
}

static void answer(struct conn *c, uint64_t rid, Vigil__V1__Frame *f)
{
	f->request_id = rid;
	conn_send(c, f);
}

static void answer_checkpoint(struct conn *c, uint64_t rid)
{
	struct logtree_checkpoint *cp = writer_latest(c->relay->writer);
	Vigil__V1__Checkpoint m = VIGIL__V1__CHECKPOINT__INIT;
	m.note = cp->note;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_CHECKPOINT;
	f.checkpoint = &m;
	answer(c, rid, &f);
}

/* The member directory, from memory: it never changes while the relay runs. */
static void answer_members(struct conn *c, uint64_t rid)
{
	const struct directory *d = c->relay->directory;
	size_t n = directory_count(d);
	Vigil__V1__Member *m = calloc(n + 1, sizeof(*m));
	Vigil__V1__Member **mp = calloc(n + 1, sizeof(*mp));
	if (!m || !mp) {
		conn_send_error(c, rid, VG_ENOMEM, "relay out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct member *e = directory_at(d, i);
		vigil__v1__member__init(&m[i]);
		m[i].organisation = (char *)e->org;
		m[i].role = (Vigil__V1__Role)e->role;
		m[i].country = (char *)e->country;
		m[i].name = (char *)e->name;
		m[i].encryption_certificate.data = e->enc_der;
		m[i].encryption_certificate.len = e->enc_der_len;
		mp[i] = &m[i];
	}
	Vigil__V1__Members ms = VIGIL__V1__MEMBERS__INIT;
	ms.members = mp;
	ms.n_members = n;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_MEMBERS;
	f.members = &ms;
	answer(c, rid, &f);
out:
	free(m);
	free(mp);
}

static ProtobufCBinaryData *bytes_list(merkle_hash *h, size_t n)
{
	ProtobufCBinaryData *b = calloc(n ? n : 1, sizeof(*b));
	if (b)
		for (size_t i = 0; i < n; i++) {
			b[i].data = h[i];
			b[i].len = SHA256_LEN;
		}
	return b;
}

/* Thread pool: the reads of one query. */
static void query_work(uv_work_t *w)
{
	struct query *q = container_of(w, struct query, work);
	const char *err = NULL;
	struct reader *r = reader_acquire(q->pool, &err);
	if (!r) {
		q->status = VG_EIO;
		snprintf(q->why, sizeof(q->why), "cannot read the log: %s", err);
		return;
	}
	int rc = VG_OK;
	reader_begin(r);
	switch (q->frame->msg_case) {
	case VIGIL__V1__FRAME__MSG_GET_INCLUSION_PROOF:
		q->hashes = malloc(MERKLE_MAX_PROOF * sizeof(merkle_hash));
		rc = q->hashes ? reader_get_node(r, 0, q->a, q->leaf) : VG_ENOMEM;
		if (rc == VG_OK)
			rc = merkle_inclusion_proof(reader_get_node, r, q->a, q->b, q->hashes,
						    &q->n_hashes);
		break;
	case VIGIL__V1__FRAME__MSG_GET_CONSISTENCY_PROOF:
		q->hashes = malloc(MERKLE_MAX_PROOF * sizeof(merkle_hash));
		rc = q->hashes ? merkle_consistency_proof(reader_get_node, r, q->a, q->b, q->hashes,
							  &q->n_hashes) : VG_ENOMEM;
		break;
	case VIGIL__V1__FRAME__MSG_GET_LEAF_HASHES: {
		q->hashes = malloc((size_t)(q->b - q->a) * sizeof(merkle_hash));
		if (!q->hashes) {
			rc = VG_ENOMEM;
			break;
		}
		struct db_stmt *st = r->leaves;
		db_bind_int64(st, 1, (int64_t)q->a);
		db_bind_int64(st, 2, (int64_t)q->b);
		uint64_t want = q->a;
		while (db_step(st) == DB_ROW) {
			if ((uint64_t)db_column_int64(st, 0) != want ||
			    db_column_bytes(st, 1) != SHA256_LEN)
				break;
			memcpy(q->hashes[q->n_hashes++], db_column_blob(st, 1), SHA256_LEN);
			want++;
		}
		db_reset(st);
		if (want != q->b)
			rc = VG_EIO;
		break;
	}
	case VIGIL__V1__FRAME__MSG_GET_ENTRIES: {
		struct db_stmt *st = r->entries;
		db_bind_int64(st, 1, (int64_t)q->a);
		db_bind_int64(st, 2, (int64_t)q->b);
		db_bind_text(st, 3, q->author, -1);
		q->entries = calloc((size_t)(q->b - q->a), sizeof(*q->entries));
		rc = q->entries ? VG_OK : VG_ENOMEM;
		while (rc == VG_OK && db_step(st) == DB_ROW) {
			Vigil__V1__Entry *e = malloc(sizeof(*e));
			if (!e) {
				rc = VG_ENOMEM;
				break;
			}
			vigil__v1__entry__init(e);
			q->entries[q->n_entries++] = e;
			e->index = (uint64_t)db_column_int64(st, 0);
			e->received_at_ms = db_column_int64(st, 1);
			int what = db_column_int(st, 7);
			e->content_erased = what != 0;
			e->record_erased = what == STORE_ERASED_RECORD;
			ProtobufCBinaryData *dst[] = { &e->cert_sha256, &e->record, &e->signature,
						       &e->leaf_hash, &e->sealed };
			for (int k = 0; k < 5; k++) {
				size_t n = (size_t)db_column_bytes(st, 2 + k);
				dst[k]->data = malloc(n ? n : 1);
				if (!dst[k]->data) {
					rc = VG_ENOMEM;
					break;
				}
				if (n)
					memcpy(dst[k]->data, db_column_blob(st, 2 + k), n);
				dst[k]->len = n;
			}
		}
		db_reset(st);
		break;
	}
	default:
		rc = VG_EINTERNAL;
	}
	reader_end(r);
	reader_release(q->pool, r);
	q->status = rc;
	if (rc != VG_OK)
		snprintf(q->why, sizeof(q->why), "cannot read the log (%s)", vg_strerror(rc));
}

static void query_done(uv_work_t *w, int status)
{
	struct query *q = container_of(w, struct query, work);
	struct conn *c = q->conn;
	if (status == UV_ECANCELED) {
		q->status = VG_EUNAVAIL;
		snprintf(q->why, sizeof(q->why), "relay shutting down");
	}
	if (q->status != VG_OK) {
		conn_send_error(c, q->request_id, q->status, "%s", q->why);
		goto out;
	}
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	ProtobufCBinaryData *list = NULL;
	Vigil__V1__InclusionProof ip = VIGIL__V1__INCLUSION_PROOF__INIT;
	Vigil__V1__ConsistencyProof cp = VIGIL__V1__CONSISTENCY_PROOF__INIT;
	Vigil__V1__LeafHashes lh = VIGIL__V1__LEAF_HASHES__INIT;
	Vigil__V1__Entries en = VIGIL__V1__ENTRIES__INIT;
	if (q->hashes && !(list = bytes_list(q->hashes, q->n_hashes))) {
		conn_send_error(c, q->request_id, VG_ENOMEM, "relay out of memory");
		goto out;
	}
	switch (q->frame->msg_case) {
	case VIGIL__V1__FRAME__MSG_GET_INCLUSION_PROOF:
		ip.index = q->a;
		ip.tree_size = q->b;
		ip.leaf_hash.data = q->leaf;
		ip.leaf_hash.len = SHA256_LEN;
		ip.hashes = list;
		ip.n_hashes = q->n_hashes;
		f.msg_case = VIGIL__V1__FRAME__MSG_INCLUSION_PROOF;
		f.inclusion_proof = &ip;
		break;
	case VIGIL__V1__FRAME__MSG_GET_CONSISTENCY_PROOF:
		cp.from_size = q->a;
		cp.to_size = q->b;
		cp.hashes = list;
		cp.n_hashes = q->n_hashes;
		f.msg_case = VIGIL__V1__FRAME__MSG_CONSISTENCY_PROOF;
		f.consistency_proof = &cp;
		break;
	case VIGIL__V1__FRAME__MSG_GET_LEAF_HASHES:
		lh.start = q->a;
		lh.hashes = list;
		lh.n_hashes = q->n_hashes;
		f.msg_case = VIGIL__V1__FRAME__MSG_LEAF_HASHES;
		f.leaf_hashes = &lh;
		break;
	default:
		en.entries = q->entries;
		en.n_entries = q->n_entries;
		f.msg_case = VIGIL__V1__FRAME__MSG_ENTRIES;
		f.entries = &en;
		break;
	}
	answer(c, q->request_id, &f);
	free(list);
out:
	conn_uncharge(c, q->charge);
	q->charge = 0;
	conn_answered(c);
	conn_release(c);
	query_free(q);
}

/* A case query travels through the writer, so that the read is recorded
 * in the same transaction that reads the state.  A case log's inclusion
 * proofs are read afterwards on the thread pool (case_log_work), from a
 * reader connection, so that a page of up to CASE_LOG_PAGE_MAX proofs never
 * holds up the writer. */
struct case_q {
	struct writer_job job;
	uv_work_t work;
	struct conn *conn;
	uint64_t request_id;
	size_t charge;                 /* the frame and its answer's reservation */
	int msg_case;
	char case_id[RECORD_CASE_ID_MAX + 1];
	char org[RECORD_ORG_MAX + 1];
	Vigil__V1__Frame *frame;       /* a Reseal: its texts, until answered */
	ProtobufCBinaryData *certs;    /* a case log page: the certificates that
					* signed its entries, each once */
	size_t n_certs;
};

static void fill_status(Vigil__V1__CaseStatus *m, const struct case_result *r,
			char **parties, int *factors)
{
	const struct case_state *st = &r->st;
	/* The organisation a pending offer names learns the offer, whatever
	 * else it may see. */
	if (r->offered) {
		m->pending_offer_to = (char *)st->pending_offer_to;
		m->pending_offer_id.data = (uint8_t *)st->pending_offer_id;
		m->pending_offer_id.len = RECORD_ID_LEN;
	}
	m->case_id = (char *)st->case_id;
	m->state = (Vigil__V1__CaseState)st->state;
	m->responsible = (char *)st->responsible;
	m->risk = (Vigil__V1__RiskLevel)st->risk;
	m->minor = st->minor;
	m->view = (Vigil__V1__CaseView)r->view;
	m->owner = (char *)st->owner;
	if (r->view == CASE_VIEW_OFFERED)
		return; /* not a party yet: what it takes on, nothing of her history */
	m->last_attempt_ms = st->last_attempt_ms;
	m->last_attempt_channel = (Vigil__V1__Channel)st->last_attempt_channel;
	m->last_attempt_outcome = (Vigil__V1__Outcome)st->last_attempt_outcome;
	m->last_success_ms = st->last_success_ms;
	m->alert_stage = st->alert.open ? (uint32_t)st->alert.stage : 0;
	/* The alert's id (to name it, to acknowledge it): for police once it
	 * was escalated to them, as its delivery told them. */
	if (st->alert.open && (r->view != CASE_VIEW_POLICE || st->alert.stage >= 2)) {
		m->alert_id.data = (uint8_t *)st->alert.id;
		m->alert_id.len = RECORD_ID_LEN;
		m->alert_kind = (Vigil__V1__AlertKind)st->alert.kind;
	}
	if (r->view == CASE_VIEW_POLICE)
		return; /* DESIGN.md section 5: police get these fields, nothing more */
	m->next_event_ms = st->next_event_ms;
	for (size_t i = 0; i < st->n_parties; i++)
		parties[i] = (char *)st->parties[i].org;
	m->parties = parties;
	m->n_parties = st->n_parties;
	m->immediate_danger = st->immediate_danger;
	size_t nf = 0;
	for (int f = 1; f < 32; f++)
		if (st->factors & (1u << f))
			factors[nf++] = f;
	m->factors = (Vigil__V1__RiskFactor *)factors;
	m->n_factors = nf;
	if (st->has_pending) {
		m->pending_offer_to = (char *)st->pending_offer_to;
		m->pending_offer_id.data = (uint8_t *)st->pending_offer_id;
		m->pending_offer_id.len = RECORD_ID_LEN;
	}
	m->attempts = st->attempts;
	m->failed_attempts = st->failed_attempts;
	m->return_country = (char *)st->return_country;
	m->return_date = (char *)st->return_date;
	m->opened_at_ms = st->opened_at_ms;
	m->entries = st->entries;
	m->consent_scope = (char *)st->consent_scope;
	m->override = st->override;
	m->close_reason = (Vigil__V1__CloseReason)st->close_reason;
}

static void answer_case_status(struct case_q *q, const struct case_result *r)
{
	Vigil__V1__CaseStatus m = VIGIL__V1__CASE_STATUS__INIT;
	char **parties = calloc(r->st.n_parties + 1, sizeof(*parties));
	int factors[32];
	if (!parties) {
		conn_send_error(q->conn, q->request_id, VG_ENOMEM, "relay out of memory");
		return;
	}
	fill_status(&m, r, parties, factors);
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_CASE_STATUS;
	f.case_status = &m;
	answer(q->conn, q->request_id, &f);
	free(parties);
}

static void answer_case_log(struct case_q *q, const struct case_result *r)
{
	size_t n = r->n_entries;
	Vigil__V1__CaseLogEntry *le = calloc(n + 1, sizeof(*le));
	Vigil__V1__CaseLogEntry **lp = calloc(n + 1, sizeof(*lp));
	Vigil__V1__Entry *en = calloc(n + 1, sizeof(*en));
	ProtobufCBinaryData *proofs = calloc(n * MERKLE_MAX_PROOF + 1, sizeof(*proofs));
	if (!le || !lp || !en || !proofs) {
		conn_send_error(q->conn, q->request_id, VG_ENOMEM, "relay out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct case_entry *e = &r->entries[i];
		vigil__v1__entry__init(&en[i]);
		en[i].index = e->index;
		en[i].received_at_ms = e->received_at_ms;
		en[i].cert_sha256.data = (uint8_t *)e->cert_sha256;
		en[i].cert_sha256.len = SHA256_LEN;
		en[i].record.data = e->record;
		en[i].record.len = e->record_len;
		en[i].signature.data = e->sig;
		en[i].signature.len = e->sig_len;
		en[i].leaf_hash.data = (uint8_t *)e->leaf_hash;
		en[i].leaf_hash.len = SHA256_LEN;
		en[i].sealed.data = e->sealed;
		en[i].sealed.len = e->sealed_len;
		en[i].content_erased = e->erased != 0;
		en[i].record_erased = e->erased == STORE_ERASED_RECORD;
		vigil__v1__case_log_entry__init(&le[i]);
		le[i].entry = &en[i];
		ProtobufCBinaryData *p = proofs + i * MERKLE_MAX_PROOF;
		for (size_t k = 0; k < e->proof_len; k++) {
			p[k].data = e->proof[k];
			p[k].len = SHA256_LEN;
		}
		le[i].inclusion_proof = p;
		le[i].n_inclusion_proof = e->proof_len;
		le[i].has_corrects = e->has_corrects;
		le[i].corrects = e->corrects;
		le[i].corrected_by = e->corrected_by;
		le[i].n_corrected_by = e->n_corrected_by;
		lp[i] = &le[i];
	}
	Vigil__V1__CaseLog m = VIGIL__V1__CASE_LOG__INIT;
	m.checkpoint = q->job.checkpoint->note;
	m.entries = lp;
	m.n_entries = n;
	m.more = r->more ? 1 : 0;
	m.certificates = q->certs;
	m.n_certificates = q->n_certs;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_CASE_LOG;
	f.case_log = &m;
	answer(q->conn, q->request_id, &f);
out:
	free(le);
	free(lp);
	free(en);
	free(proofs);
}

static void answer_case_list(struct case_q *q, const struct case_result *r)
{
	size_t n = r->n_cases;
	Vigil__V1__CaseSummary *cs = calloc(n + 1, sizeof(*cs));
	Vigil__V1__CaseSummary **cp = calloc(n + 1, sizeof(*cp));
	if (cs && cp) {
		for (size_t i = 0; i < n; i++) {
			vigil__v1__case_summary__init(&cs[i]);
			cs[i].case_id = (char *)r->cases[i].case_id;
			cs[i].state = (Vigil__V1__CaseState)r->cases[i].state;
			cs[i].responsible = (char *)r->cases[i].responsible;
			cs[i].risk = (Vigil__V1__RiskLevel)r->cases[i].risk;
			cs[i].minor = r->cases[i].minor;
			cs[i].last_success_ms = r->cases[i].last_success_ms;
			cs[i].alert_stage = (uint32_t)r->cases[i].alert_stage;
			if (q->job.role != ROLE_POLICE)
				cs[i].next_event_ms = r->cases[i].next_event_ms;
			cp[i] = &cs[i];
		}
		Vigil__V1__CaseList m = VIGIL__V1__CASE_LIST__INIT;
		m.cases = cp;
		m.n_cases = n;
		Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
		f.msg_case = VIGIL__V1__FRAME__MSG_CASE_LIST;
		f.case_list = &m;
		answer(q->conn, q->request_id, &f);
	} else {
		conn_send_error(q->conn, q->request_id, VG_ENOMEM, "relay out of memory");
	}
	free(cs);
	free(cp);
}

static void answer_open_alerts(struct case_q *q, const struct case_result *r)
{
	size_t n = r->n_open_alerts, na = 0;
	for (size_t i = 0; i < n; i++)
		na += r->open_alerts[i].n_acks;
	Vigil__V1__OpenAlert *oa = calloc(n + 1, sizeof(*oa));
	Vigil__V1__OpenAlert **op = calloc(n + 1, sizeof(*op));
	Vigil__V1__AlertAckSeen *ak = calloc(na + 1, sizeof(*ak));
	Vigil__V1__AlertAckSeen **ap = calloc(na + 1, sizeof(*ap));
	if (oa && op && ak && ap) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			const struct case_open_alert *a = &r->open_alerts[i];
			vigil__v1__open_alert__init(&oa[i]);
			oa[i].case_id = (char *)a->open.ev.case_id;
			oa[i].alert_id.data = (uint8_t *)a->open.ev.alert_id;
			oa[i].alert_id.len = RECORD_ID_LEN;
			oa[i].kind = (Vigil__V1__AlertKind)a->open.ev.kind;
			oa[i].stage = (uint32_t)a->open.ev.stage;
			oa[i].raised_at_ms = a->open.raised_ms;
			oa[i].escalates_at_ms = a->open.escalates_ms;
			oa[i].deadline_ms = a->open.ev.deadline_ms;
			oa[i].police = (Vigil__V1__PoliceAdvice)a->open.ev.police;
			oa[i].acks = &ap[k];
			oa[i].n_acks = a->n_acks;
			for (size_t j = 0; j < a->n_acks; j++, k++) {
				vigil__v1__alert_ack_seen__init(&ak[k]);
				ak[k].organisation = (char *)a->acks[j].org;
				ak[k].decision = (Vigil__V1__AckDecision)a->acks[j].decision;
				ak[k].at_ms = a->acks[j].at_ms;
				ap[k] = &ak[k];
			}
			op[i] = &oa[i];
		}
		Vigil__V1__OpenAlerts m = VIGIL__V1__OPEN_ALERTS__INIT;
		m.alerts = op;
		m.n_alerts = n;
		Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
		f.msg_case = VIGIL__V1__FRAME__MSG_OPEN_ALERTS;
		f.open_alerts = &m;
		answer(q->conn, q->request_id, &f);
	} else {
		conn_send_error(q->conn, q->request_id, VG_ENOMEM, "relay out of memory");
	}
	free(oa);
	free(op);
	free(ak);
	free(ap);
}

static void answer_case_readers(struct case_q *q, const struct case_result *r)
{
	size_t n = r->n_reads;
	Vigil__V1__CaseRead *rd = calloc(n + 1, sizeof(*rd));
	Vigil__V1__CaseRead **rp = calloc(n + 1, sizeof(*rp));
	if (rd && rp) {
		for (size_t i = 0; i < n; i++) {
			vigil__v1__case_read__init(&rd[i]);
			rd[i].organisation = (char *)r->reads[i].org;
			rd[i].what = (char *)r->reads[i].what;
			rd[i].at_ms = r->reads[i].at_ms;
			rp[i] = &rd[i];
		}
		Vigil__V1__CaseReaders m = VIGIL__V1__CASE_READERS__INIT;
		m.reads = rp;
		m.n_reads = n;
		Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
		f.msg_case = VIGIL__V1__FRAME__MSG_CASE_READERS;
		f.case_readers = &m;
		answer(q->conn, q->request_id, &f);
	} else {
		conn_send_error(q->conn, q->request_id, VG_ENOMEM, "relay out of memory");
	}
	free(rd);
	free(rp);
}

/* Loop thread: the answer is sent (or the error); the query ends. */
static void case_query_end(struct case_q *q)
{
	struct conn *c = q->conn;
	writer_job_clear(&q->job);
	frame_free(q->frame);
	for (size_t i = 0; i < q->n_certs; i++)
		free(q->certs[i].data);
	free(q->certs);
	conn_uncharge(c, q->charge);
	conn_answered(c);
	conn_release(c);
	free(q);
}

static int by_org_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void answer_seal_readers(struct case_q *q, const struct case_result *r)
{
	char *orgs[RECORD_PARTIES_MAX + 2];
	for (size_t i = 0; i < r->n_seal_readers; i++)
		orgs[i] = (char *)r->seal_readers[i].org;
	qsort(orgs, r->n_seal_readers, sizeof(orgs[0]), by_org_name);
	Vigil__V1__SealReaders m = VIGIL__V1__SEAL_READERS__INIT;
	m.case_id = (char *)r->st.case_id;
	m.organisations = orgs;
	m.n_organisations = r->n_seal_readers;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_SEAL_READERS;
	f.seal_readers = &m;
	answer(q->conn, q->request_id, &f);
}

/* Thread pool: the certificate of every entry of a case log page, each
 * once, in the order of their first entry (a page has few signers, so a
 * linear search is enough).  Every entry's certificate is in the table:
 * the store keeps the certificate of each entry it writes. */
static int case_log_certs(struct case_q *q, struct reader *r)
{
	const struct case_result *res = q->job.result;
	if (!res->n_entries)
		return VG_OK;
	uint8_t(*fps)[SHA256_LEN] = malloc(res->n_entries * SHA256_LEN);
	q->certs = calloc(res->n_entries, sizeof(*q->certs));
	if (!fps || !q->certs) {
		free(fps);
		return VG_ENOMEM;
	}
	int rc = VG_OK;
	for (size_t i = 0; rc == VG_OK && i < res->n_entries; i++) {
		const uint8_t *fp = res->entries[i].cert_sha256;
		size_t k = 0;
		while (k < q->n_certs && memcmp(fps[k], fp, SHA256_LEN) != 0)
			k++;
		if (k < q->n_certs)
			continue;
		rc = reader_get_cert(r, fp, &q->certs[k].data, &q->certs[k].len);
		if (rc == VG_ENOTFOUND)
			rc = VG_EIO; /* an entry without its certificate: the store is damaged */
		if (rc == VG_OK)
			memcpy(fps[q->n_certs++], fp, SHA256_LEN);
	}
	free(fps);
	return rc;
}

/* Thread pool: the inclusion proof of every entry of a case log page to the
 * checkpoint the writer committed with it.  The nodes it reads are of
 * complete subtrees within that checkpoint, all committed before the
 * writer handed the job back. */
static void case_log_work(uv_work_t *w)
{
	struct case_q *q = container_of(w, struct case_q, work);
	struct case_result *res = q->job.result;
	const char *err = NULL;
	struct reader *r = reader_acquire(&q->conn->relay->readers, &err);
	if (!r) {
		q->job.status = VG_EIO;
		snprintf(q->job.why, sizeof(q->job.why), "cannot read the log: %s", err);
		return;
	}
	int rc = VG_OK;
	reader_begin(r);
	for (size_t i = 0; rc == VG_OK && i < res->n_entries; i++) {
		struct case_entry *e = &res->entries[i];
		e->proof = malloc(MERKLE_MAX_PROOF * sizeof(merkle_hash));
		rc = e->proof ? merkle_inclusion_proof(reader_get_node, r, e->index,
						       q->job.checkpoint->size, e->proof,
						       &e->proof_len)
			      : VG_ENOMEM;
	}
	if (rc == VG_OK)
		rc = case_log_certs(q, r);
	reader_end(r);
	reader_release(&q->conn->relay->readers, r);
	if (rc != VG_OK) {
		q->job.status = rc == VG_ENOMEM ? VG_ENOMEM : VG_EIO;
		snprintf(q->job.why, sizeof(q->job.why), "cannot read the case's proofs or "
			 "certificates (%s)", vg_strerror(rc));
	}
}

static void case_log_done(uv_work_t *w, int status)
{
	struct case_q *q = container_of(w, struct case_q, work);
	if (status == UV_ECANCELED) {
		q->job.status = VG_EUNAVAIL;
		snprintf(q->job.why, sizeof(q->job.why), "relay shutting down");
	}
	if (q->job.status != VG_OK)
		conn_send_error(q->conn, q->request_id, q->job.status, "%s", q->job.why);
	else
		answer_case_log(q, q->job.result);
	case_query_end(q);
}

/* Loop thread: the writer has run the case query. */
static void on_case_done(struct writer_job *job)
{
	struct case_q *q = container_of(job, struct case_q, job);
	struct conn *c = q->conn;
	if (job->status != VG_OK) {
		conn_send_error(c, q->request_id, job->status, "%s", job->why);
	} else {
		switch (job->query) {
		case CASE_Q_STATUS:
			answer_case_status(q, job->result);
			break;
		case CASE_Q_LOG:
			if (uv_queue_work(c->relay->loop, &q->work, case_log_work,
					  case_log_done) == 0)
				return;
			conn_send_error(c, q->request_id, VG_EINTERNAL,
					"cannot queue the case's proofs");
			break;
		case CASE_Q_LIST:
			answer_case_list(q, job->result);
			break;
		case CASE_Q_SEAL_READERS:
			answer_seal_readers(q, job->result);
			break;
		case CASE_Q_OPEN_ALERTS:
			answer_open_alerts(q, job->result);
			break;
		default:
			answer_case_readers(q, job->result);
			break;
		}
	}
	case_query_end(q);
}

/* A writer job for request f of c, charged charge bytes (the frame and
 * its answer), about case_id; it holds f.  NULL after an answer when
 * there is no memory (f freed). */
static struct case_q *case_q_new(struct conn *c, Vigil__V1__Frame *f, size_t charge,
				 const char *case_id, enum writer_job_kind kind,
				 void (*done)(struct writer_job *))
{
	struct case_q *q = calloc(1, sizeof(*q));
	if (!q) {
		conn_send_error(c, f->request_id, VG_ENOMEM, "relay out of memory");
		frame_free(f);
		conn_answered(c);
		return NULL;
	}
	q->conn = c;
	q->request_id = f->request_id;
	q->charge = charge;
	q->frame = f;
	conn_charge(c, charge);
	snprintf(q->case_id, sizeof(q->case_id), "%s", case_id);
	snprintf(q->org, sizeof(q->org), "%s", c->id.org);
	q->job.kind = kind;
	q->job.done = done;
	q->job.query_case_id = q->case_id;
	q->job.author = q->org;
	q->job.role = c->id.role;
	return q;
}

static void case_query_start(struct conn *c, Vigil__V1__Frame *f, size_t charge)
{
	uint64_t rid = f->request_id;
	const char *case_id = "";
	int what;
	struct case_page page = { 0, 0, CASE_LOG_PAGE_DEFAULT };
	switch (f->msg_case) {
	case VIGIL__V1__FRAME__MSG_GET_CASE_STATUS:
		what = CASE_Q_STATUS;
		case_id = f->get_case_status->case_id;
		break;
	case VIGIL__V1__FRAME__MSG_GET_CASE_LOG:
		what = CASE_Q_LOG;
		case_id = f->get_case_log->case_id;
		page.after = f->get_case_log->after;
		page.has_after = f->get_case_log->has_after ? 1 : 0;
		if (f->get_case_log->limit)
			page.limit = f->get_case_log->limit;
		break;
	case VIGIL__V1__FRAME__MSG_GET_CASE_READERS:
		what = CASE_Q_READERS;
		case_id = f->get_case_readers->case_id;
		break;
	case VIGIL__V1__FRAME__MSG_GET_SEAL_READERS:
		what = CASE_Q_SEAL_READERS;
		case_id = f->get_seal_readers->case_id;
		break;
	case VIGIL__V1__FRAME__MSG_GET_OPEN_ALERTS:
		what = CASE_Q_OPEN_ALERTS;
		break;
	default:
		what = CASE_Q_LIST;
		break;
	}
	if (what != CASE_Q_LIST && what != CASE_Q_OPEN_ALERTS && !record_case_id_ok(case_id)) {
		frame_free(f);
		conn_send_error(c, rid, VG_EBADREQ, "case_id must be " RECORD_CASE_ID_RULE);
		conn_answered(c);
		return;
	}
	if (page.limit > CASE_LOG_PAGE_MAX) {
		frame_free(f);
		conn_send_error(c, rid, VG_EBADREQ, "limit must be at most %u (0: %u)",
				(unsigned)CASE_LOG_PAGE_MAX, (unsigned)CASE_LOG_PAGE_DEFAULT);
		conn_answered(c);
		return;
	}
	struct case_q *q = case_q_new(c, f, charge, case_id, WRITER_CASE_QUERY, on_case_done);
	if (!q)
		return;
	q->job.page = page;
	q->job.query = what;
	frame_free(f);
	q->frame = NULL;
	conn_hold(c);
	writer_submit(c->relay->writer, &q->job);
}

/* Loop thread: the writer has taken (or refused) the re-sealed texts. */
static void on_reseal_done(struct writer_job *job)
{
	struct case_q *q = container_of(job, struct case_q, job);
	if (job->status != VG_OK) {
		conn_send_error(q->conn, q->request_id, job->status, "%s", job->why);
	} else {
		Vigil__V1__Resealed m = VIGIL__V1__RESEALED__INIT;
		m.case_id = q->case_id;
		m.offer_id = q->frame->reseal->offer_id;
		m.taken = job->reseal_taken;
		m.missing = job->reseal_missing;
		m.missing_indexes = job->reseal_list;
		m.n_missing_indexes = job->n_reseal_list;
		Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
		f.msg_case = VIGIL__V1__FRAME__MSG_RESEALED;
		f.resealed = &m;
		answer(q->conn, q->request_id, &f);
	}
	case_query_end(q);
}

/* Reseal: its form here, the rest in the writer (reseal.h). */
static void reseal_start(struct conn *c, Vigil__V1__Frame *f, size_t charge)
{
	uint64_t rid = f->request_id;
	const Vigil__V1__Reseal *m = f->reseal;
	const char *bad = NULL;
	if (!record_case_id_ok(m->case_id))
		bad = "case_id must be " RECORD_CASE_ID_RULE;
	else if (m->offer_id.len != RECORD_ID_LEN)
		bad = "offer_id must be 16 bytes";
	else if (m->n_texts > RESEAL_TEXTS_MAX)
		bad = "a Reseal carries at most 256 texts";
	for (size_t i = 0; !bad && i < m->n_texts; i++)
		if (!m->texts[i]->sealed.len)
			bad = "a re-sealed text is empty";
	if (bad) {
		frame_free(f);
		conn_send_error(c, rid, VG_EBADREQ, "%s", bad);
		conn_answered(c);
		return;
	}
	struct case_q *q = case_q_new(c, f, charge, m->case_id, WRITER_RESEAL, on_reseal_done);
	if (!q)
		return;
	q->job.reseal = m;
	conn_hold(c);
	writer_submit(c->relay->writer, &q->job);
}

/* Checks the request against the latest checkpoint; 0 or an error sent. */
static int query_bounds(struct conn *c, struct query *q, uint64_t latest)
{
	Vigil__V1__Frame *f = q->frame;
	uint64_t rid = q->request_id;
	switch (f->msg_case) {
	case VIGIL__V1__FRAME__MSG_GET_INCLUSION_PROOF:
		q->a = f->get_inclusion_proof->index;
		q->b = f->get_inclusion_proof->tree_size ? f->get_inclusion_proof->tree_size : latest;
		if (q->b > latest) {
			conn_send_error(c, rid, VG_EBADREQ, "tree_size %llu is beyond the latest "
					"checkpoint (size %llu)", (unsigned long long)q->b,
					(unsigned long long)latest);
			return -1;
		}
		if (q->a >= q->b) {
			conn_send_error(c, rid, VG_EBADREQ, "index %llu is not below tree_size %llu",
					(unsigned long long)q->a, (unsigned long long)q->b);
			return -1;
		}
		return 0;
	case VIGIL__V1__FRAME__MSG_GET_CONSISTENCY_PROOF:
		q->a = f->get_consistency_proof->from_size;
		q->b = f->get_consistency_proof->to_size ? f->get_consistency_proof->to_size : latest;
		if (q->b > latest) {
			conn_send_error(c, rid, VG_EBADREQ, "to_size %llu is beyond the latest "
					"checkpoint (size %llu)", (unsigned long long)q->b,
					(unsigned long long)latest);
			return -1;
		}
		if (q->a == 0 || q->a > q->b) {
			conn_send_error(c, rid, VG_EBADREQ, "from_size must be in 1..%llu",
					(unsigned long long)q->b);
			return -1;
		}
		return 0;
	case VIGIL__V1__FRAME__MSG_GET_LEAF_HASHES:
	case VIGIL__V1__FRAME__MSG_GET_ENTRIES: {
		int leaves = f->msg_case == VIGIL__V1__FRAME__MSG_GET_LEAF_HASHES;
		uint64_t start = leaves ? f->get_leaf_hashes->start : f->get_entries->start;
		uint32_t count = leaves ? f->get_leaf_hashes->count : f->get_entries->count;
		unsigned max = leaves ? QUERY_MAX_LEAVES : QUERY_MAX_ENTRIES;
		if (count == 0 || count > max) {
			conn_send_error(c, rid, VG_EBADREQ, "count must be in 1..%u", max);
			return -1;
		}
		if (start >= latest || count > latest - start) {
			conn_send_error(c, rid, VG_EBADREQ, "range %llu+%u is beyond the latest "
					"checkpoint (size %llu)", (unsigned long long)start, count,
					(unsigned long long)latest);
			return -1;
		}
		q->a = start;
		q->b = start + count;
		return 0;
	}
	default:
		conn_send_error(c, rid, VG_EBADREQ, "a client may not send this message");
		return -1;
	}
}

/* The most an answer to f can take, reserved in the connection's byte
 * budget until it is sent (conn.h): a bound from the request itself. */
static size_t answer_reserve(const struct conn *c, const Vigil__V1__Frame *f)
{
	size_t n;
	switch (f->msg_case) {
	case VIGIL__V1__FRAME__MSG_GET_LEAF_HASHES:
		return (size_t)f->get_leaf_hashes->count * (SHA256_LEN + 2) + 64;
	case VIGIL__V1__FRAME__MSG_GET_ENTRIES:
		/* An entry: its record (within max_frame) and the rest. */
		n = (size_t)f->get_entries->count * (c->relay->cfg->max_frame + 512);
		return n < CONN_RESERVE_MAX ? n : CONN_RESERVE_MAX;
	case VIGIL__V1__FRAME__MSG_GET_CASE_LOG:
		/* An entry, its proof and at most one certificate of its own. */
		n = (size_t)(f->get_case_log->limit ? f->get_case_log->limit
						     : CASE_LOG_PAGE_DEFAULT) *
		    (c->relay->cfg->max_frame + 512 + MERKLE_MAX_PROOF * (SHA256_LEN + 2) +
		     QUERY_CERT_RESERVE + POLICY_CORRECTIONS_MAX * 10 + 16);
		return n < CONN_RESERVE_MAX ? n : CONN_RESERVE_MAX;
	case VIGIL__V1__FRAME__MSG_LIST_CASES:
	case VIGIL__V1__FRAME__MSG_GET_CASE_READERS:
		return 65536;
	case VIGIL__V1__FRAME__MSG_GET_OPEN_ALERTS:
		return 262144;
	case VIGIL__V1__FRAME__MSG_RESEAL:
		return RESEAL_LIST_MAX * 11 + 256;
	default:
		return CONN_RESERVE_SMALL;
	}
}

void query_start(struct conn *c, Vigil__V1__Frame *f, size_t wire_len)
{
	uint64_t rid = f->request_id;
	switch (f->msg_case) {
	case VIGIL__V1__FRAME__MSG_GET_CASE_STATUS:
	case VIGIL__V1__FRAME__MSG_GET_CASE_LOG:
	case VIGIL__V1__FRAME__MSG_LIST_CASES:
	case VIGIL__V1__FRAME__MSG_GET_CASE_READERS:
	case VIGIL__V1__FRAME__MSG_GET_SEAL_READERS:
	case VIGIL__V1__FRAME__MSG_GET_OPEN_ALERTS:
		case_query_start(c, f, wire_len + answer_reserve(c, f));
		return;
	case VIGIL__V1__FRAME__MSG_RESEAL:
		reseal_start(c, f, wire_len + answer_reserve(c, f));
		return;
	default:
		break;
	}
	if (f->msg_case == VIGIL__V1__FRAME__MSG_GET_CHECKPOINT) {
		frame_free(f);
		answer_checkpoint(c, rid);
		conn_answered(c);
		return;
	}
	if (f->msg_case == VIGIL__V1__FRAME__MSG_GET_MEMBERS) {
		frame_free(f);
		answer_members(c, rid);
		conn_answered(c);
		return;
	}
	struct query *q = calloc(1, sizeof(*q));
	if (!q) {
		frame_free(f);
		conn_send_error(c, rid, VG_ENOMEM, "relay out of memory");
		conn_answered(c);
		return;
	}
	q->conn = c;
	q->frame = f;
	q->request_id = rid;
	q->charge = wire_len + answer_reserve(c, f);
	conn_charge(c, q->charge);
	q->pool = &c->relay->readers;
	snprintf(q->author, sizeof(q->author), "%s", c->id.org);
	if (query_bounds(c, q, writer_latest(c->relay->writer)->size) != 0) {
		conn_uncharge(c, q->charge);
		q->charge = 0;
		conn_answered(c);
		query_free(q);
		return;
	}
	conn_hold(c);
	int rc = uv_queue_work(c->relay->loop, &q->work, query_work, query_done);
	if (rc != 0) {
		conn_send_error(c, rid, VG_EINTERNAL, "cannot queue the query: %s", uv_strerror(rc));
		conn_uncharge(c, q->charge);
		q->charge = 0;
		conn_answered(c);
		conn_release(c);
		query_free(q);
	}
}
