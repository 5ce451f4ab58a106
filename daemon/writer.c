#include "daemon/writer.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "daemon/directory.h"
#include "daemon/health.h"
#include "daemon/log.h"
#include "daemon/reseal.h"
#include "daemon/store.h"
#include "daemon/walsync.h"
#include "proto/status.h"

struct writer {
	struct store *store;             /* borrowed */
	struct logtree *tree;            /* the Merkle log and its checkpoints */

	/* Writer thread only once started. */
	struct writer_config cfg;
	struct cases *cases;             /* case rules and state, same connection */
	struct reseals *reseals;         /* sealed texts re-sealed for handovers */
	int64_t watch_due;               /* the watchdog's next time; 0: nothing */
	int64_t retention_due;           /* the retention rules' next look; 0: never */
	uint8_t relay_cert_sha256[SHA256_LEN];

	struct walsync *walsync;         /* WAL checkpoints, off the writer's path */
	atomic_int fenced;               /* another relay moved the log head (store_commit) */
	int scrub;                       /* the open transaction erases: scrub the WAL
					  * after its commit */
	/* The alert and Erasure entries the open transaction appended, in
	 * position order: handed to the loop after its commit (hand_over),
	 * freed when it is rolled back. */
	struct writer_alert *fresh, **fresh_tail;
	struct health health;            /* failing storage: backoff, or no more writes */

	uv_thread_t thread;
	uv_mutex_t mu;            /* guards everything below; from writer_open()
				   * to writer_close(), so that writer_get_stats()
				   * may lock it on any thread at any time */
	int mu_ready;
	uv_cond_t cond;
	struct writer_job *in_head, *in_tail;
	struct writer_job *out_head, *out_tail;
	struct logtree_checkpoint *published;  /* newest, not yet seen by the loop */
	struct writer_alert *alerts_head, *alerts_tail;  /* committed, not yet handed over */
	int stopping;
	int started;
	unsigned batch_max;
	uint64_t batch_wait_ms;
	uv_async_t async;
	struct writer_stats stats;

	atomic_uint pending;               /* writer_submit (any thread) to done() */

	/* Loop thread only. */
	struct logtree_checkpoint *latest;
	void (*alert_sink)(void *ctx, struct writer_alert *list);
	void *alert_sink_ctx;
	void (*deliver_hook)(void *ctx, int begin);
	void *deliver_hook_ctx;
	uint64_t alert_horizon;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void writer_job_clear(struct writer_job *job)
{
	if (job->result) {
		cases_result_free(job->result);
		free(job->result);
		job->result = NULL;
	}
	logtree_checkpoint_release(job->checkpoint);
	job->checkpoint = NULL;
	free(job->stored_cert_der);
	job->stored_cert_der = NULL;
	job->stored_cert_der_len = 0;
	free(job->reseal_list);
	job->reseal_list = NULL;
	job->n_reseal_list = 0;
}

/* The writer's newest checkpoint becomes the loop's "latest" at the next
 * async callback. */
static void publish(struct writer *w, struct logtree_checkpoint *c)
{
	logtree_committed(w->tree, c);
	uv_mutex_lock(&w->mu);
	struct logtree_checkpoint *old = w->published;
	w->published = logtree_checkpoint_ref(c);
	w->stats.checkpoints++;
	w->stats.checkpoint_ms = c->signed_at_ms;
	w->stats.entries = logtree_size(w->tree);
	uv_mutex_unlock(&w->mu);
	logtree_checkpoint_release(old);
}

/* Appends an entry at the next index, inside the open transaction: the row
 * (and its certificate) and the tree nodes it completes.  e->index is set. */
static int append_entry(struct writer *w, struct store_entry *e)
{
	e->index = logtree_size(w->tree);
	int rc = store_append(w->store, e);
	if (rc == 0)
		rc = logtree_append(w->tree, e->leaf_hash);
	return rc;
}

/* The case rules answer VG_* codes; their storage failure (VG_EIO) aborts
 * the batch like any SQLite error, and says what failed. */
static int cases_abort(struct writer *w)
{
	log_debug("%s: case tables: %s", store_path(w->store), cases_errmsg(w->cases));
	return cases_errcode(w->cases);
}

/* Packs r (its author the relay), signs it with the relay's key and
 * appends it at received time now.  Its position, bytes, signature and
 * leaf go into *out (the caller frees record and sig, e.g. with
 * writer_alerts_free); out may be NULL when only *index is wanted.  0 or an
 * SQLite error. */
static int append_relay_record(struct writer *w, Vigil__V1__Record *r, int64_t now,
			       uint64_t *index, struct writer_alert *out)
{
	struct writer_alert tmp = { 0 }, *a = out ? out : &tmp;
	r->author = (char *)w->cfg.relay_org;
	r->client_time_ms = now;
	a->record_len = vigil__v1__record__get_packed_size(r);
	a->record = malloc(a->record_len);
	if (!a->record)
		return DB_NOMEM;
	vigil__v1__record__pack(r, a->record);
	uint8_t *leaf = NULL;
	size_t leaf_len = 0;
	int rc = DB_ERROR;
	if (record_sign(w->cfg.relay_key, a->record, a->record_len, &a->sig, &a->sig_len) ==
		    VG_OK &&
	    entry_leaf_encode(now, w->relay_cert_sha256, a->record, a->record_len, a->sig,
			      a->sig_len, &leaf, &leaf_len) == VG_OK) {
		merkle_leaf_hash(leaf, leaf_len, a->leaf_hash);
		a->received_at_ms = now;
		memcpy(a->cert_sha256, w->relay_cert_sha256, SHA256_LEN);
		struct store_entry e = {
			.received_at_ms = now,
			.record_id = r->record_id.data,
			.case_id = r->case_id,
			.author = w->cfg.relay_org,
			.cert_sha256 = w->relay_cert_sha256,
			.cert_der = w->cfg.relay_cert_der,
			.cert_der_len = w->cfg.relay_cert_der_len,
			.record = a->record,
			.record_len = a->record_len,
			.sig = a->sig,
			.sig_len = a->sig_len,
			.leaf_hash = a->leaf_hash,
		};
		rc = append_entry(w, &e);
		a->position = e.index;
		if (index)
			*index = e.index;
	}
	free(leaf);
	if (!out) {
		free(tmp.record);
		free(tmp.sig);
	}
	return rc;
}

/*
 * The relay's Erasure entry ea about case_id, appended at received time
 * now in the open transaction (*at: its index) and delivered like an
 * alert: noted in the alerts table for its recipients (alert_id its record
 * id, stage 0), so that an organisation offline gets it by replay, and
 * kept for the loop, which pushes it to the subscribed recipients after
 * the commit.  0 or an SQLite error.
 */
static int append_erasure(struct writer *w, Vigil__V1__Erasure *ea, const char *case_id,
			  int64_t now, uint64_t *at)
{
	struct writer_alert *a = calloc(1, sizeof(*a));
	if (!a)
		return DB_NOMEM;
	a->erasure = 1;
	struct watch_event *ev = &a->ev;
	snprintf(ev->case_id, sizeof(ev->case_id), "%s", case_id);
	for (size_t i = 0; i < ea->n_recipients && i < WATCH_MAX_RECIPIENTS; i++)
		snprintf(ev->recipients[ev->n_recipients++], CASE_ORG_LEN, "%s", ea->recipients[i]);
	int rc = RAND_bytes(ev->alert_id, RECORD_ID_LEN) == 1 ? 0 : DB_ERROR;
	Vigil__V1__Record r = VIGIL__V1__RECORD__INIT;
	r.record_id.data = ev->alert_id;
	r.record_id.len = RECORD_ID_LEN;
	r.case_id = (char *)case_id;
	r.body_case = VIGIL__V1__RECORD__BODY_ERASURE;
	r.erasure = ea;
	if (rc == 0)
		rc = append_relay_record(w, &r, now, at, a);
	if (rc == 0 && cases_note_alert(w->cases, a->position, ev) != VG_OK)
		rc = cases_abort(w);
	if (rc != 0) {
		writer_alerts_free(a);
		return rc;
	}
	*w->fresh_tail = a;
	w->fresh_tail = &a->next;
	return 0;
}

/*
 * An EraseRequest, once cases_erase_check allowed it, in the open
 * transaction: the owner's request entry, the relay's Erasure entry (what,
 * why, on whose request, delivered to the case's parties), and the erasure
 * itself, all or nothing.
 */
static int erase_job(struct writer *w, struct writer_job *j, struct store_entry *req)
{
	const Vigil__V1__EraseRequest *er = j->parsed->erase_request;
	struct store_erasable found;
	int exists;
	int rc = store_erase_lookup(w->store, er->target_id.data, &found, &exists);
	if (rc != 0)
		return rc;
	char parties[CASE_PARTIES_MAX][CASE_ORG_LEN];
	size_t n_parties = 0;
	rc = cases_erase_check(w->cases, j->parsed, j->author, j->role, exists ? &found : NULL,
			       j->received_at_ms, j->why, sizeof(j->why), parties, &n_parties);
	if (rc == VG_OK)
		rc = cases_apply(w->cases, j->parsed, j->author, j->role, logtree_size(w->tree),
				 j->received_at_ms, j->why, sizeof(j->why));
	if (rc == VG_EIO)
		return cases_abort(w);
	if (rc != VG_OK) {
		j->status = rc;
		return 0;
	}
	if ((rc = append_entry(w, req)) != 0)
		return rc;
	uint64_t indexes[1] = { found.index };
	char *recipients[CASE_PARTIES_MAX];
	for (size_t i = 0; i < n_parties; i++)
		recipients[i] = parties[i];
	Vigil__V1__Erasure ea = VIGIL__V1__ERASURE__INIT;
	ea.indexes = indexes;
	ea.n_indexes = 1;
	ea.whole_record = er->whole_record;
	ea.reason = er->reason;
	ea.request_id = j->parsed->record_id;
	ea.requested_by = (char *)j->author;
	ea.reference = er->reference;
	ea.recipients = recipients;
	ea.n_recipients = n_parties;
	uint64_t at;
	if ((rc = append_erasure(w, &ea, j->case_id, j->received_at_ms, &at)) != 0 ||
	    (rc = store_erase(w->store, found.index, er->whole_record, at,
			      j->received_at_ms)) != 0)
		return rc;
	w->scrub = 1;
	log_notice("erased the %s of entry %llu (case %s) on request of %s, reference %s; "
		   "erasure entry %llu", er->whole_record ? "record" : "sealed text",
		   (unsigned long long)found.index, j->case_id, j->author, er->reference,
		   (unsigned long long)at);
	j->index = req->index;
	j->status = VG_OK;
	j->duplicate = 0;
	j->stored_received_at_ms = j->received_at_ms;
	memcpy(j->stored_leaf_hash, j->leaf_hash, SHA256_LEN);
	return 0;
}

/* The entry of a record id (0 when there is none). */
static int entry_index(struct writer *w, const uint8_t *record_id, uint64_t *index, int *found)
{
	struct store_entry row;
	int rc = store_find(w->store, record_id, &row, found);
	if (rc == 0 && *found) {
		*index = row.index;
		store_find_end(w->store);
	}
	return rc;
}

/* A member's encryption certificate (NULL: none, or no member). */
static X509 *enc_cert_of(const struct writer *w, const char *org)
{
	const struct member *m = w->cfg.directory ? directory_find(w->cfg.directory, org) : NULL;
	return m ? m->enc_cert : NULL;
}

/*
 * A handover answer: sets j->status to a refusal when the case's rules
 * refuse it, or when it accepts an offer whose re-sealed texts are not all
 * there; otherwise leaves VG_OK with the offer's entry in *offer_idx.
 */
static int offer_ready(struct writer *w, struct writer_job *j, uint64_t *offer_idx)
{
	const Vigil__V1__HandoverAnswer *a = j->parsed->handover_answer;
	j->status = cases_permit(w->cases, j->parsed, j->author, j->role, j->received_at_ms,
				 j->why, sizeof(j->why));
	if (j->status == VG_EIO)
		return cases_abort(w);
	if (j->status != VG_OK)
		return 0;
	int found = 0;
	int rc = entry_index(w, a->offer_id.data, offer_idx, &found);
	if (rc != 0 || !found || !a->accept)
		return rc;
	uint32_t missing;
	if ((rc = reseals_missing(w->reseals, j->case_id, *offer_idx, &missing, NULL, 0, NULL)) != 0)
		return rc;
	if (missing) {
		j->status = VG_ECONFLICT;
		snprintf(j->why, sizeof(j->why),
			 "%u earlier sealed text%s of the case %s not re-sealed for %s yet; the "
			 "offering organisation re-seals them first (vigil handover reseal)",
			 missing, missing == 1 ? "" : "s", missing == 1 ? "is" : "are", j->author);
	}
	return 0;
}

/* What an appended record does to the texts re-sealed for handovers. */
static int reseal_effects(struct writer *w, struct writer_job *j, uint64_t index,
			  uint64_t offer_idx)
{
	const Vigil__V1__Record *r = j->parsed;
	uint32_t n = 0;
	int rc = 0;
	switch (r->body_case) {
	case VIGIL__V1__RECORD__BODY_HANDOVER_OFFER:
		rc = reseals_plan(w->reseals, j->case_id, index,
				  enc_cert_of(w, r->handover_offer->to), &n);
		if (rc == 0 && n)
			log_info("case %s: offer %llu to %s waits for %u re-sealed text%s", j->case_id,
				 (unsigned long long)index, r->handover_offer->to, n,
				 n == 1 ? "" : "s");
		return rc;
	case VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER:
		if (r->handover_answer->accept)
			return reseals_apply(w->reseals, j->case_id, offer_idx);
		return reseals_drop(w->reseals, j->case_id);
	case VIGIL__V1__RECORD__BODY_HANDOVER_WITHDRAW:
	case VIGIL__V1__RECORD__BODY_CASE_CLOSE:
		return reseals_drop(w->reseals, j->case_id);
	default:
		return 0;
	}
}

/* A Reseal: the responsible organisation's re-sealed texts for its
 * pending offer, and how many are still missing. */
static int reseal_job(struct writer *w, struct writer_job *j)
{
	const Vigil__V1__Reseal *m = j->reseal;
	struct case_state c;
	j->status = cases_reseal_check(w->cases, j->query_case_id, &m->offer_id, j->author, j->role,
				       &c, j->why, sizeof(j->why));
	if (j->status == VG_EIO)
		return cases_abort(w);
	if (j->status != VG_OK)
		return 0;
	uint64_t offer_idx = 0;
	int found = 0;
	int rc = entry_index(w, c.pending_offer_id, &offer_idx, &found);
	if (rc != 0)
		return rc;
	if (!found) {
		j->status = VG_EINTERNAL;
		snprintf(j->why, sizeof(j->why), "the pending offer's entry is missing");
		return 0;
	}
	rc = reseals_take(w->reseals, &c, offer_idx, enc_cert_of(w, c.pending_offer_to),
			  w->cfg.directory, m->texts, m->n_texts, &j->status, j->why,
			  sizeof(j->why));
	if (rc != 0 || j->status != VG_OK)
		return rc;
	j->reseal_taken = (uint32_t)m->n_texts;
	j->reseal_list = malloc(RESEAL_LIST_MAX * sizeof(*j->reseal_list));
	if (!j->reseal_list)
		return DB_NOMEM;
	return reseals_missing(w->reseals, c.case_id, offer_idx, &j->reseal_missing, j->reseal_list,
			       RESEAL_LIST_MAX, &j->n_reseal_list);
}

/* Appends one job inside the open transaction.  Returns an SQLite error
 * code that must abort the whole batch, or 0. */
static int write_job(struct writer *w, struct writer_job *j)
{
	struct store_entry row;
	int found;
	int rc = store_find(w->store, j->record_id, &row, &found);
	if (rc != 0)
		return rc;
	if (found) {
		j->index = row.index;
		if (row.record_len == j->record_len && memcmp(row.record, j->record, row.record_len) == 0) {
			j->status = VG_OK;
			j->duplicate = 1;
			j->stored_received_at_ms = row.received_at_ms;
			if (row.leaf_hash)
				memcpy(j->stored_leaf_hash, row.leaf_hash, SHA256_LEN);
			j->stored_sig_len = row.sig_len <= RECORD_SIG_MAX ? row.sig_len : 0;
			if (j->stored_sig_len)
				memcpy(j->stored_sig, row.sig, j->stored_sig_len);
			if (row.cert_sha256)
				memcpy(j->stored_cert_sha256, row.cert_sha256, SHA256_LEN);
			size_t dl = row.cert_der_len;
			free(j->stored_cert_der);
			j->stored_cert_der = dl ? malloc(dl) : NULL;
			j->stored_cert_der_len = j->stored_cert_der ? dl : 0;
			if (j->stored_cert_der)
				memcpy(j->stored_cert_der, row.cert_der, dl);
		} else {
			j->status = VG_ECONFLICT;
			snprintf(j->why, sizeof(j->why),
				 "record_id was already used for a different record (entry %llu)",
				 (unsigned long long)j->index);
		}
		store_find_end(w->store);
		return 0;
	}

	struct store_entry e = {
		.received_at_ms = j->received_at_ms,
		.record_id = j->record_id,
		.case_id = j->case_id,
		.author = j->author,
		.cert_sha256 = j->cert_sha256,
		.cert_der = j->cert_der,
		.cert_der_len = j->cert_der_len,
		.record = j->record,
		.record_len = j->record_len,
		.sig = j->sig,
		.sig_len = j->sig_len,
		.leaf_hash = j->leaf_hash,
		.sealed = j->sealed,
		.sealed_len = j->sealed_len,
	};
	if (j->parsed->body_case == VIGIL__V1__RECORD__BODY_ERASE_REQUEST)
		return erase_job(w, j, &e);

	/* An offer is accepted only once the earlier sealed texts are
	 * re-sealed for the organisation that takes the case on. */
	uint64_t offer_idx = 0;
	if (j->parsed->body_case == VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER) {
		if ((rc = offer_ready(w, j, &offer_idx)) != 0 || j->status != VG_OK)
			return rc;
	}
	/* The case rules, against the state the batch has built so far; a
	 * refusal stores nothing. */
	rc = cases_apply(w->cases, j->parsed, j->author, j->role, logtree_size(w->tree),
			 j->received_at_ms, j->why, sizeof(j->why));
	if (rc == VG_EIO)
		return cases_abort(w);
	if (rc != VG_OK) {
		j->status = rc;
		return 0;
	}
	if ((rc = append_entry(w, &e)) != 0 || (rc = reseal_effects(w, j, e.index, offer_idx)) != 0)
		return rc;
	j->index = e.index;
	j->status = VG_OK;
	j->duplicate = 0;
	j->stored_received_at_ms = j->received_at_ms;
	memcpy(j->stored_leaf_hash, j->leaf_hash, SHA256_LEN);
	return 0;
}

/* COMMIT, timed for vigil_writer_commit_seconds (the fsync of the WAL is
 * most of it). */
static int commit(struct writer *w)
{
	uint64_t t0 = uv_hrtime();
	int rc = store_commit(w->store);
	uint64_t us = (uv_hrtime() - t0) / 1000;
	uv_mutex_lock(&w->mu);
	prom_observe(&w->stats.commit_us, &prom_commit_buckets, us);
	uv_mutex_unlock(&w->mu);
	return rc;
}

/* Undoes a transaction that failed: the database, the tree in memory
 * back to m, and the deliveries it would have handed over. */
static void roll_back(struct writer *w, const struct logtree_mark *m)
{
	store_rollback(w->store);
	logtree_rewind(w->tree, m);
	writer_alerts_free(w->fresh);
	w->fresh = NULL;
	w->fresh_tail = &w->fresh;
}

/* A transaction failed: the health state decides what follows; a change
 * of state is logged once, never each retry. */
static void storage_failed(struct writer *w, int rc, const char *what)
{
	if ((rc == DB_FENCED || rc == DB_STALE) && !w->health.fatal) {
		/* Another relay is active on this log (it took the lock while
		 * this one had lost its session, or was made to believe it
		 * could), or the log holds a commit this relay thought failed:
		 * step down now.  The process ends (status 75) and its
		 * supervisor starts it again, as a standby or with the log
		 * loaded afresh. */
		health_failed(&w->health, rc, now_ms());
		atomic_store(&w->fenced, 1);
		log_err("%s: %s while writing %s: %s; nothing of that transaction was "
			"stored; stepping down", store_path(w->store), db_errstr(rc), what,
			rc == DB_FENCED ? "this relay is no longer the active one"
					: "what this relay holds in memory is stale");
		kill(getpid(), SIGTERM);
	} else if (health_failed(&w->health, rc, now_ms())) {
		if (w->health.fatal)
			log_err("%s: storage failed (%s) while writing %s: no more writes are "
				"accepted this run; reads go on; stop the relay and check the disk "
				"and the database (vigild --verify-db)", store_path(w->store),
				db_errstr(rc), what);
		else
			log_err("%s: writes failing (%s) while writing %s; submissions are "
				"answered UNAVAILABLE, retrying with backoff", store_path(w->store),
				db_errstr(rc), what);
	}
	uv_mutex_lock(&w->mu);
	w->stats.storage_failures = w->health.total;
	w->stats.storage_failed = w->health.fatal;
	uv_mutex_unlock(&w->mu);
}

/* A transaction committed.  While writes fail, only one that appended to
 * the log counts as their recovery: a small bookkeeping write (a peer's
 * hello, an acknowledgement, a read's audit row, a heartbeat checkpoint)
 * may still fit in what a full disk has left while no submission does,
 * and counting it would log a recovery and a new failure for every
 * connection that only reads. */
static void storage_ok(struct writer *w, int appended)
{
	if (!appended && w->health.failing)
		return;
	unsigned n = health_ok(&w->health);
	if (n)
		log_notice("%s: writes succeed again, after %u failed transaction%s",
			   store_path(w->store), n, n == 1 ? "" : "s");
}

static void fail_batch(struct writer *w, struct writer_job *batch, int rc)
{
	char why[160];
	if (w->health.fatal)
		snprintf(why, sizeof(why), "storage failed (%s); the relay accepts no writes until "
			 "it is restarted", db_errstr(w->health.failing));
	else
		snprintf(why, sizeof(why), "storage failure: %s", db_errstr(rc));
	for (struct writer_job *j = batch; j; j = j->next) {
		j->status = VG_EIO;
		j->duplicate = 0;
		snprintf(j->why, sizeof(j->why), "%s", why);
		if (j->result) {
			cases_result_free(j->result);
			free(j->result);
			j->result = NULL;
		}
	}
}

/* A case query inside the batch: it sees the state the batch has built and
 * its read is recorded in the same transaction. */
static int query_job(struct writer *w, struct writer_job *j)
{
	j->result = calloc(1, sizeof(*j->result));
	if (!j->result)
		return DB_NOMEM;
	int rc = cases_query(w->cases, (enum case_query)j->query, j->query_case_id, j->author,
			     j->role, &j->page, now_ms(), j->result, j->why, sizeof(j->why));
	if (rc == VG_EIO)
		return cases_abort(w);
	j->status = rc;
	return 0;
}

/*
 * After a commit: the alert and Erasure entries the transaction appended
 * get their proofs to cp, the checkpoint that covers them, and go to the
 * loop for delivery (the caller wakes it with uv_async_send).
 */
static void hand_over(struct writer *w, struct logtree_checkpoint *cp)
{
	struct writer_alert *head = w->fresh;
	w->fresh = NULL;
	w->fresh_tail = &w->fresh;
	if (!head)
		return;
	struct writer_alert *last = head;
	for (struct writer_alert *a = head; a; a = a->next) {
		if (logtree_prove(w->tree, a->position, cp->size, a->proof, &a->proof_len) != 0)
			a->proof_len = 0; /* delivered without; a replay reads it again */
		a->checkpoint = logtree_checkpoint_ref(cp);
		if (!a->erasure)
			log_notice("alert %s stage %d (%s) for case %s, entry %llu",
				   record_alert_kind_name(a->ev.kind), a->ev.stage,
				   a->ev.stage ? "raised" : a->ev.resolution, a->ev.case_id,
				   (unsigned long long)a->position);
		last = a;
	}
	uv_mutex_lock(&w->mu);
	for (struct writer_alert *a = head; a; a = a->next)
		if (!a->erasure)
			w->stats.alerts[watchdog_event_class(&a->ev)]++;
	if (w->alerts_tail)
		w->alerts_tail->next = head;
	else
		w->alerts_head = head;
	w->alerts_tail = last;
	uv_mutex_unlock(&w->mu);
}

/* One transaction for the whole batch: its entries, tree nodes and the
 * checkpoint that covers them, so one fsync makes all of it durable. */
static int reconfigure_job(struct writer *w, struct writer_job *j);

static void write_batch(struct writer *w, struct writer_job *batch)
{
	if (w->health.fatal) {
		/* The database is not touched again this run. */
		fail_batch(w, batch, w->health.failing);
		return;
	}
	uint64_t first = logtree_size(w->tree);
	struct logtree_mark mark;
	logtree_mark(w->tree, &mark);
	struct logtree_checkpoint *cp = NULL;
	int rc = store_begin(w->store);
	for (struct writer_job *j = batch; rc == 0 && j; j = j->next) {
		switch (j->kind) {
		case WRITER_CASE_QUERY:
			rc = query_job(w, j);
			break;
		case WRITER_HELLO:
			rc = cases_note_org(w->cases, j->author, j->role, j->country, j->received_at_ms)
				     ? cases_abort(w) : 0;
			j->status = VG_OK;
			break;
		case WRITER_DELIVERY_ACK:
			rc = cases_delivery_ack(w->cases, j->author, j->index) ? cases_abort(w) : 0;
			j->status = VG_OK;
			break;
		case WRITER_RESEAL:
			rc = reseal_job(w, j);
			break;
		case WRITER_RECONFIGURE:
			rc = reconfigure_job(w, j);
			break;
		default:
			rc = write_job(w, j);
			break;
		}
	}
	/* A batch of reads and refusals leaves the log as it was: the latest
	 * checkpoint still covers it. */
	if (rc == 0 && logtree_size(w->tree) != first)
		rc = logtree_sign(w->tree, now_ms(), &cp);
	else if (rc == 0)
		cp = logtree_checkpoint_ref(logtree_last(w->tree));
	if (rc == 0)
		rc = commit(w);
	if (rc != 0) {
		roll_back(w, &mark);
		logtree_checkpoint_release(cp);
		storage_failed(w, rc, "a batch");
		fail_batch(w, batch, rc);
		w->scrub = 0;
		return;
	}
	storage_ok(w, logtree_size(w->tree) != first);
	/* Erased bytes leave the WAL too (walsync.h). */
	if (w->scrub) {
		walsync_scrub(w->walsync);
		w->scrub = 0;
	}
	/* A case closed now is due for the retention rules that long after. */
	uint64_t after = w->cfg.content_after_ms;
	if (w->cfg.record_after_ms && (!after || w->cfg.record_after_ms < after))
		after = w->cfg.record_after_ms;
	for (struct writer_job *j = batch; after && j; j = j->next)
		if (j->kind == WRITER_APPEND && j->status == VG_OK && !j->duplicate && j->parsed &&
		    j->parsed->body_case == VIGIL__V1__RECORD__BODY_CASE_CLOSE) {
			int64_t due = now_ms() + (int64_t)after;
			if (!w->retention_due || due < w->retention_due)
				w->retention_due = due;
		}
	if (logtree_size(w->tree) != first)
		publish(w, cp);
	for (struct writer_job *j = batch; j; j = j->next) {
		if (j->status != VG_OK || j->kind == WRITER_HELLO || j->kind == WRITER_DELIVERY_ACK)
			continue;
		if (j->kind == WRITER_CASE_QUERY) {
			/* A case log's proofs are read on the thread pool
			 * (query.c), not here. */
			j->checkpoint = logtree_checkpoint_ref(cp);
			continue;
		}
		if (logtree_prove(w->tree, j->index, cp->size, j->proof, &j->proof_len) != 0) {
			/* The entry is durable; a retry gets its receipt. */
			j->status = VG_EIO;
			snprintf(j->why, sizeof(j->why), "cannot read the proof of entry %llu",
				 (unsigned long long)j->index);
			continue;
		}
		j->checkpoint = logtree_checkpoint_ref(cp);
	}
	/* The Erasure entries of granted erase requests. */
	hand_over(w, cp);
	logtree_checkpoint_release(cp);
}

void writer_alerts_free(struct writer_alert *list)
{
	while (list) {
		struct writer_alert *next = list->next;
		free(list->record);
		free(list->sig);
		logtree_checkpoint_release(list->checkpoint);
		free(list);
		list = next;
	}
}

/* The alert entry for ev: a Record authored by the relay's organisation,
 * signed with the relay's certificate key, appended like any other and
 * kept for the loop (w->fresh). */
static int append_alert(struct writer *w, const struct watch_event *ev,
			const uint8_t new_id[RECORD_ID_LEN], int64_t now)
{
	struct writer_alert *a = calloc(1, sizeof(*a));
	if (!a)
		return DB_NOMEM;
	uint8_t record_id[RECORD_ID_LEN];
	/* The first entry of an alert carries its id; later stages their own. */
	if (ev->first)
		memcpy(record_id, new_id, RECORD_ID_LEN);
	else if (RAND_bytes(record_id, RECORD_ID_LEN) != 1)
		goto fail;
	char *recipients[WATCH_MAX_RECIPIENTS];
	for (size_t i = 0; i < ev->n_recipients; i++)
		recipients[i] = (char *)ev->recipients[i];
	Vigil__V1__Alert al = VIGIL__V1__ALERT__INIT;
	al.kind = (Vigil__V1__AlertKind)ev->kind;
	al.stage = (uint32_t)ev->stage;
	al.alert_id.data = (uint8_t *)ev->alert_id;
	al.alert_id.len = RECORD_ID_LEN;
	al.deadline_ms = ev->deadline_ms;
	al.last_success_ms = ev->last_success_ms;
	al.failed_attempts = ev->failed_attempts;
	al.recipients = recipients;
	al.n_recipients = ev->n_recipients;
	al.cause = (char *)ev->cause;
	al.police = (Vigil__V1__PoliceAdvice)ev->police;
	al.resolution = (char *)ev->resolution;
	Vigil__V1__Record r = VIGIL__V1__RECORD__INIT;
	r.record_id.data = record_id;
	r.record_id.len = RECORD_ID_LEN;
	r.case_id = (char *)ev->case_id;
	r.body_case = VIGIL__V1__RECORD__BODY_ALERT;
	r.alert = &al;
	a->ev = *ev;
	int rc = append_relay_record(w, &r, now, NULL, a);
	if (rc == 0 && cases_note_alert(w->cases, a->position, ev) != VG_OK)
		rc = cases_abort(w);
	if (rc != 0) {
		writer_alerts_free(a);
		return rc;
	}
	*w->fresh_tail = a;
	w->fresh_tail = &a->next;
	return 0;
fail:
	writer_alerts_free(a);
	return DB_ERROR;
}

/*
 * The retention rules' turn: one batch of one closed case (cases_retention)
 * erased in one transaction with the relay's Erasure entry (reason
 * retention), then the WAL scrubbed and the Erasure handed over for
 * delivery.  A kill -9 loses the whole turn or none of it, so a batch is
 * never named by two Erasure entries.
 */
static void write_retention(struct writer *w)
{
	int64_t now = now_ms();
	uint64_t first = logtree_size(w->tree);
	struct logtree_mark mark;
	logtree_mark(w->tree, &mark);
	struct logtree_checkpoint *cp = NULL;
	struct cases_retention_batch *b = malloc(sizeof(*b));
	if (!b) {
		w->retention_due = now + 1000;
		return;
	}
	int rc = store_begin(w->store);
	int got = 0;
	if (rc == 0) {
		got = cases_retention(w->cases, now, w->cfg.content_after_ms, w->cfg.record_after_ms,
				      b);
		if (got < 0)
			rc = cases_abort(w);
	}
	uint64_t at = 0;
	if (rc == 0 && got == 1) {
		char *recipients[CASE_PARTIES_MAX];
		for (size_t i = 0; i < b->n_parties; i++)
			recipients[i] = b->parties[i];
		Vigil__V1__Erasure ea = VIGIL__V1__ERASURE__INIT;
		ea.indexes = b->indexes;
		ea.n_indexes = b->n;
		ea.whole_record = b->whole;
		ea.reason = VIGIL__V1__ERASE_REASON__ERASE_REASON_RETENTION;
		ea.recipients = recipients;
		ea.n_recipients = b->n_parties;
		rc = append_erasure(w, &ea, b->case_id, now, &at);
		for (size_t i = 0; rc == 0 && i < b->n; i++)
			rc = store_erase(w->store, b->indexes[i], b->whole, at, now);
	}
	if (rc == 0 && logtree_size(w->tree) != first)
		rc = logtree_sign(w->tree, now_ms(), &cp);
	if (rc == 0)
		rc = commit(w);
	if (rc != 0) {
		roll_back(w, &mark);
		logtree_checkpoint_release(cp);
		storage_failed(w, rc, "the retention rules' erasure");
		w->retention_due = w->health.fatal ? 0 : w->health.retry_at_ms;
		free(b);
		return;
	}
	storage_ok(w, logtree_size(w->tree) != first);
	if (got == 1) {
		walsync_scrub(w->walsync);
		log_notice("retention: erased the %s of %zu entr%s of case %s (closed); erasure "
			   "entry %llu", b->whole ? "records" : "sealed texts", b->n,
			   b->n == 1 ? "y" : "ies", b->case_id, (unsigned long long)at);
	}
	if (cp) {
		publish(w, cp);
		hand_over(w, cp);
		logtree_checkpoint_release(cp);
		uv_async_send(&w->async);
	}
	/* More may be due at once (the next batch or case); else when the
	 * next closed case comes due (a close sets it sooner). */
	int64_t next = 0;
	if (got)
		w->retention_due = now;
	else if (cases_retention_next(w->cases, w->cfg.content_after_ms, w->cfg.record_after_ms,
				      &next) != VG_OK)
		w->retention_due = now + WRITER_RETENTION_PERIOD_MS;
	else
		w->retention_due = next == 0 ? 0 : next > now ? next : now + 1000;
	free(b);
}

#define WATCH_BATCH 64  /* alerts written in one transaction at most */

/* The watchdog's turn: every case whose time has come, as one batch of
 * alert entries with one checkpoint, then handed to the loop. */
static void write_alerts(struct writer *w)
{
	int64_t now = now_ms();
	uint64_t first = logtree_size(w->tree);
	struct logtree_mark mark;
	logtree_mark(w->tree, &mark);
	struct logtree_checkpoint *cp = NULL;
	int rc = store_begin(w->store);
	for (int n = 0; rc == 0 && n < WATCH_BATCH; n++) {
		uint8_t new_id[RECORD_ID_LEN];
		struct watch_event ev;
		if (RAND_bytes(new_id, sizeof(new_id)) != 1) {
			rc = DB_ERROR;
			break;
		}
		int got = cases_watchdog(w->cases, now, new_id, &ev);
		if (got == 0)
			break;
		if (got != 1) {
			rc = cases_abort(w);
			break;
		}
		rc = append_alert(w, &ev, new_id, now);
	}
	if (rc == 0 && logtree_size(w->tree) != first)
		rc = logtree_sign(w->tree, now_ms(), &cp);
	if (rc == 0)
		rc = commit(w);
	if (rc != 0) {
		roll_back(w, &mark);
		storage_failed(w, rc, "the watchdog's alerts");
		/* Due again when the backoff allows (never after a fatal failure:
		 * the deadlines are kept in the database for the next run). */
		w->watch_due = w->health.fatal ? 0 : w->health.retry_at_ms;
		return;
	}
	storage_ok(w, logtree_size(w->tree) != first);
	if (!cp) {
		if (cases_next_due(w->cases, &w->watch_due) != 0)
			w->watch_due = now + 1000;
		return;
	}
	publish(w, cp);
	hand_over(w, cp);
	logtree_checkpoint_release(cp);
	if (cases_next_due(w->cases, &w->watch_due) != 0)
		w->watch_due = now + 1000;
	uv_async_send(&w->async);
}

/* Signs and commits a checkpoint of the current size in a transaction of
 * its own; *out gets one reference.  0 or an SQLite error. */
static int sign_checkpoint_now(struct writer *w, struct logtree_checkpoint **out)
{
	struct logtree_checkpoint *cp = NULL;
	int rc = store_begin(w->store);
	if (rc == 0)
		rc = logtree_sign(w->tree, now_ms(), &cp);
	if (rc == 0)
		rc = commit(w);
	if (rc != 0) {
		store_rollback(w->store);
		logtree_checkpoint_release(cp);
		return rc;
	}
	*out = cp;
	return 0;
}

/* A checkpoint with no new entries, so that clients can tell a quiet log
 * from a relay that stopped signing. */
static void write_heartbeat(struct writer *w)
{
	struct logtree_checkpoint *cp;
	int rc = sign_checkpoint_now(w, &cp);
	if (rc != 0) {
		storage_failed(w, rc, "a heartbeat checkpoint");
		return;
	}
	storage_ok(w, 0);
	publish(w, cp);
	logtree_checkpoint_release(cp);
	uv_async_send(&w->async);
}

/* SQLite's commit hook for WAL databases, on the writer thread: frames is
 * the number of pages in the WAL after this commit. */
static int on_wal_commit(void *ctx, sqlite3 *db, const char *name, int frames)
{
	(void)name;
	struct writer *w = ctx;
	if (walsync_commit(w->walsync, frames))
		walsync_restart_on(w->walsync, db, STORE_BUSY_MS);
	return SQLITE_OK;
}

static void writer_main(void *arg)
{
	struct writer *w = arg;
	for (;;) {
		uv_mutex_lock(&w->mu);
		while (!w->in_head && !w->stopping) {
			if (w->health.fatal) {
				/* Nothing to start on its own: wait for jobs to refuse. */
				uv_cond_wait(&w->cond, &w->mu);
				continue;
			}
			const struct logtree_checkpoint *last = logtree_last(w->tree);
			int64_t due = last ? last->signed_at_ms + (int64_t)w->cfg.interval_ms : 0;
			if (w->watch_due > 0 && w->watch_due < due)
				due = w->watch_due;
			if (w->retention_due > 0 && w->retention_due < due)
				due = w->retention_due;
			/* A failing disk is not retried at once. */
			if (due < w->health.retry_at_ms)
				due = w->health.retry_at_ms;
			int64_t wait = due - now_ms();
			if (wait <= 0)
				break;
			uv_cond_timedwait(&w->cond, &w->mu, (uint64_t)wait * 1000000ull);
		}
		/* The watchdog first: a deadline is never kept waiting by a busy
		 * queue. */
		if (!w->stopping && w->watch_due > 0 && w->watch_due <= now_ms() &&
		    health_may_try(&w->health, now_ms())) {
			uv_mutex_unlock(&w->mu);
			write_alerts(w);
			continue;
		}
		if (!w->in_head) {
			int stop = w->stopping;
			uv_mutex_unlock(&w->mu);
			if (stop)
				break;
			/* Erasing after a retention period waits for an idle
			 * queue: submissions first. */
			if (w->retention_due > 0 && w->retention_due <= now_ms() &&
			    health_may_try(&w->health, now_ms())) {
				write_retention(w);
				continue;
			}
			if (health_may_try(&w->health, now_ms()))
				write_heartbeat(w);
			continue;
		}
		/* Give a short-lived trickle the chance to join this batch. */
		if (w->batch_wait_ms && !w->stopping)
			uv_cond_timedwait(&w->cond, &w->mu, w->batch_wait_ms * 1000000ull);
		struct writer_job *batch = w->in_head, *last = batch;
		unsigned n = 1;
		while (last->next && n < w->batch_max) {
			last = last->next;
			n++;
		}
		w->in_head = last->next;
		if (!w->in_head)
			w->in_tail = NULL;
		last->next = NULL;
		uv_mutex_unlock(&w->mu);

		write_batch(w, batch);
		/* Records move deadlines (a new case, a contact, a handover). */
		if (cases_next_due(w->cases, &w->watch_due) != 0)
			w->watch_due = now_ms() + 1000;

		uv_mutex_lock(&w->mu);
		if (w->out_tail)
			w->out_tail->next = batch;
		else
			w->out_head = batch;
		w->out_tail = last;
		w->stats.batches++;
		w->stats.jobs += n;
		w->stats.entries = logtree_size(w->tree);
		prom_observe(&w->stats.batch_jobs, &prom_batch_buckets, n);
		uv_mutex_unlock(&w->mu);
		uv_async_send(&w->async);
	}
}

/* Loop thread: takes the newest checkpoint and hands finished jobs back. */
static void deliver(struct writer *w)
{
	uv_mutex_lock(&w->mu);
	struct writer_job *j = w->out_head;
	w->out_head = w->out_tail = NULL;
	struct logtree_checkpoint *cp = w->published;
	w->published = NULL;
	struct writer_alert *alerts = w->alerts_head;
	w->alerts_head = w->alerts_tail = NULL;
	uv_mutex_unlock(&w->mu);
	if (cp) {
		logtree_checkpoint_release(w->latest);
		w->latest = cp;
	}
	int hook = w->deliver_hook && (alerts || j);
	if (hook)
		w->deliver_hook(w->deliver_hook_ctx, 1);
	if (alerts) {
		for (struct writer_alert *a = alerts; a; a = a->next)
			w->alert_horizon = a->position + 1;
		if (w->alert_sink)
			w->alert_sink(w->alert_sink_ctx, alerts);
		else
			writer_alerts_free(alerts);
	}
	while (j) {
		struct writer_job *next = j->next;
		j->next = NULL;
		atomic_fetch_sub(&w->pending, 1);
		j->done(j);
		j = next;
	}
	if (hook)
		w->deliver_hook(w->deliver_hook_ctx, 0);
}

static void on_async(uv_async_t *a)
{
	deliver(a->data);
}

int writer_open(struct store *s, struct writer **out, char *err, size_t err_len)
{
	struct writer *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, err_len, "out of memory");
		return VG_ENOMEM;
	}
	w->store = s;
	w->fresh_tail = &w->fresh;
	int rc = uv_mutex_init(&w->mu);
	if (rc != 0) {
		snprintf(err, err_len, "%s", uv_strerror(rc));
		free(w);
		return VG_EINTERNAL;
	}
	w->mu_ready = 1;
	rc = VG_EIO;
	if (cases_open(store_db(s), &w->cases, err, err_len) != 0 ||
	    reseals_open(store_db(s), &w->reseals, err, err_len) != 0 ||
	    (rc = logtree_open(s, &w->tree, err, err_len)) != VG_OK) {
		writer_close(&w);
		return rc;
	}
	w->stats.entries = logtree_size(w->tree);
	const struct logtree_checkpoint *last = logtree_last(w->tree);
	w->stats.checkpoint_ms = last ? last->signed_at_ms : 0;
	*out = w;
	return VG_OK;
}

void writer_close(struct writer **wp)
{
	struct writer *w = *wp;
	if (!w)
		return;
	cases_close(&w->cases);
	reseals_close(&w->reseals);
	directory_release(&w->cfg.directory);
	logtree_close(&w->tree);
	logtree_checkpoint_release(w->published);
	logtree_checkpoint_release(w->latest);
	writer_alerts_free(w->alerts_head);
	writer_alerts_free(w->fresh);
	if (w->mu_ready)
		uv_mutex_destroy(&w->mu);
	free(w);
	*wp = NULL;
}

/* One MemberKey entry (writer thread or start-up, in the open transaction). */
static int append_member_key(struct writer *w, const char *org, const uint8_t *der,
			     size_t der_len, int64_t now)
{
	uint8_t id[RECORD_ID_LEN];
	if (RAND_bytes(id, sizeof(id)) != 1)
		return DB_ERROR;
	char case_id[RECORD_CASE_ID_MAX + 1];
	snprintf(case_id, sizeof(case_id), "%s/members", w->cfg.relay_org);
	Vigil__V1__MemberKey mk = VIGIL__V1__MEMBER_KEY__INIT;
	mk.organisation = (char *)org;
	mk.encryption_certificate.data = (uint8_t *)der;
	mk.encryption_certificate.len = der ? der_len : 0;
	Vigil__V1__Record r = VIGIL__V1__RECORD__INIT;
	r.record_id.data = id;
	r.record_id.len = RECORD_ID_LEN;
	r.case_id = case_id;
	r.body_case = VIGIL__V1__RECORD__BODY_MEMBER_KEY;
	r.member_key = &mk;
	uint64_t at;
	int rc = append_relay_record(w, &r, now, &at, NULL);
	struct db *db = store_db(w->store);
	struct db_stmt *st = NULL;
	const char *sql = der ? "INSERT INTO member_keys(org, sha256, idx) VALUES(?,?,?) ON "
				"CONFLICT(org) DO UPDATE SET sha256 = excluded.sha256, idx = excluded.idx"
			      : "DELETE FROM member_keys WHERE org = ?";
	if (rc == 0)
		rc = db_prepare(db, sql, &st);
	if (rc == 0) {
		db_bind_text(st, 1, org, -1);
		if (der) {
			uint8_t h[SHA256_LEN];
			EVP_Digest(der, der_len, h, NULL, EVP_sha256(), NULL);
			db_bind_blob_copy(st, 2, h, SHA256_LEN);
			db_bind_int64(st, 3, (int64_t)at);
		}
		rc = db_step(st) == DB_DONE ? 0 : db_errcode(db);
	}
	db_finalize(st);
	if (rc == 0)
		log_notice("logged %s's encryption certificate%s (entry %llu)", org,
			   der ? "" : " as removed", (unsigned long long)at);
	return rc;
}

/* At start-up: every member's encryption certificate that is new, changed
 * or gone since the log last said, as MemberKey entries, in one
 * transaction (the covering checkpoint is signed after it), before
 * anything can be sealed to it. */
static int member_keys_append(struct writer *w, int64_t now)
{
	struct db *db = store_db(w->store);
	struct db_stmt *get = NULL, *all = NULL;
	int rc = db_prepare(db, "SELECT sha256 FROM member_keys WHERE org = ?", &get);
	for (size_t i = 0; rc == 0 && i < w->cfg.n_member_keys; i++) {
		const struct writer_member_key *k = &w->cfg.member_keys[i];
		db_bind_text(get, 1, k->org, -1);
		int s = db_step(get);
		int same = s == DB_ROW && k->der && db_column_bytes(get, 0) == SHA256_LEN &&
			   memcmp(db_column_blob(get, 0), k->sha256, SHA256_LEN) == 0;
		int logged = s == DB_ROW;
		db_reset(get);
		if (s != DB_ROW && s != DB_DONE)
			rc = db_errcode(db);
		else if (k->der && !same)
			rc = append_member_key(w, k->org, k->der, k->der_len, now);
		else if (!k->der && logged)
			rc = append_member_key(w, k->org, NULL, 0, now);
	}
	/* Members no longer in the directory at all, one at a time: logging
	 * one removes its row. */
	if (rc == 0)
		rc = db_prepare(db, "SELECT org FROM member_keys", &all);
	for (int gone = 1; rc == 0 && gone;) {
		char org[RECORD_ORG_MAX + 1] = "";
		gone = 0;
		while (!gone && db_step(all) == DB_ROW) {
			const char *o = db_column_text(all, 0);
			int listed = !o;
			for (size_t i = 0; o && i < w->cfg.n_member_keys && !listed; i++)
				listed = strcmp(w->cfg.member_keys[i].org, o) == 0;
			if (!listed) {
				snprintf(org, sizeof(org), "%s", o);
				gone = 1;
			}
		}
		db_reset(all);
		if (gone)
			rc = append_member_key(w, org, NULL, 0, now);
	}
	db_finalize(all);
	db_finalize(get);
	return rc;
}

/* At start-up: member_keys_append in a transaction of its own. */
static int log_member_keys(struct writer *w)
{
	struct logtree_mark mark;
	logtree_mark(w->tree, &mark);
	int rc = store_begin(w->store);
	if (rc == 0)
		rc = member_keys_append(w, now_ms());
	if (rc == 0)
		rc = commit(w);
	if (rc != 0)
		roll_back(w, &mark);
	return rc;
}

/* A reload (WRITER_RECONFIGURE), in the batch: the new directory and
 * relay certificate from now on, and a MemberKey entry for each member's
 * encryption certificate that is new, changed or gone. */
static int reconfigure_job(struct writer *w, struct writer_job *j)
{
	const struct writer_reconfig *rc = j->reconfig;
	const struct directory *old = w->cfg.directory;
	unsigned int hl;
	if (EVP_Digest(rc->relay_cert_der, rc->relay_cert_der_len, w->relay_cert_sha256, &hl,
		       EVP_sha256(), NULL) != 1)
		return DB_NOMEM;
	w->cfg.members = rc->members;
	w->cfg.directory = directory_ref(rc->directory);
	w->cfg.relay_key = rc->relay_key;
	w->cfg.relay_cert_der = rc->relay_cert_der;
	w->cfg.relay_cert_der_len = rc->relay_cert_der_len;
	cases_configure(w->cases, &w->cfg.watch, &w->cfg.members);
	directory_release(&old);
	uint64_t before = logtree_size(w->tree);
	w->cfg.member_keys = rc->member_keys;
	w->cfg.n_member_keys = rc->n_member_keys;
	int err = member_keys_append(w, now_ms());
	w->cfg.member_keys = NULL;
	w->cfg.n_member_keys = 0;
	j->index = logtree_size(w->tree) - before; /* MemberKey entries appended */
	j->status = VG_OK;
	return err;
}

int writer_start(struct writer *w, uv_loop_t *loop, unsigned batch_max, uint64_t batch_wait_ms,
		 const struct writer_config *cfg, char *err, size_t err_len)
{
	w->batch_max = batch_max ? batch_max : 1;
	w->batch_wait_ms = batch_wait_ms;
	w->cfg = *cfg;
	w->cfg.directory = directory_ref(cfg->directory);
	unsigned int hl;
	if (!cfg->relay_key || !cfg->relay_cert_der || !cfg->relay_org ||
	    EVP_Digest(cfg->relay_cert_der, cfg->relay_cert_der_len, w->relay_cert_sha256, &hl,
		       EVP_sha256(), NULL) != 1) {
		snprintf(err, err_len, "the relay's certificate and key are needed to sign alerts");
		return VG_EBADREQ;
	}
	cases_configure(w->cases, &cfg->watch, &cfg->members);
	/* The retention rules look once at start-up, then as they find work. */
	w->retention_due = cfg->content_after_ms || cfg->record_after_ms ? 1 : 0;
	/* Deadlines that passed while the relay was down fire at once. */
	if (cases_next_due(w->cases, &w->watch_due) != 0) {
		snprintf(err, err_len, "%s: cannot read the watchdog's deadlines", store_path(w->store));
		return VG_EIO;
	}
	int rc = logtree_start(w->tree, cfg->key, cfg->origin, err, err_len);
	if (rc != VG_OK)
		return rc;
	if ((rc = log_member_keys(w)) != 0) {
		snprintf(err, err_len, "%s: cannot log the members' encryption certificates: %s",
			 store_path(w->store), db_errstr(rc));
		return VG_EIO;
	}
	/* A checkpoint that covers the whole log before anything is served. */
	struct logtree_checkpoint *last = logtree_last(w->tree);
	if (!last || last->size != logtree_size(w->tree)) {
		struct logtree_checkpoint *cp;
		if ((rc = sign_checkpoint_now(w, &cp)) != 0) {
			snprintf(err, err_len, "%s: cannot sign a checkpoint: %s", store_path(w->store),
				 db_errstr(rc));
			return VG_EIO;
		}
		logtree_committed(w->tree, cp);
		logtree_checkpoint_release(cp);
		uv_mutex_lock(&w->mu);
		w->stats.checkpoints++;
		uv_mutex_unlock(&w->mu);
	}
	w->latest = logtree_checkpoint_ref(logtree_last(w->tree));
	uv_mutex_lock(&w->mu);
	w->stats.entries = logtree_size(w->tree);
	w->stats.checkpoint_ms = w->latest->signed_at_ms;
	uv_mutex_unlock(&w->mu);
	uint64_t wal_limit = cfg->wal_limit ? cfg->wal_limit : WRITER_WAL_LIMIT;
	/* SQLite's WAL (PostgreSQL keeps its own). */
	sqlite3 *lite = db_sqlite(store_db(w->store));
	if (lite && (rc = walsync_start(store_path(w->store), wal_limit, &w->walsync)) != 0) {
		snprintf(err, err_len, "cannot start WAL checkpoints: %s", uv_strerror(rc));
		return VG_EIO;
	}
	if (lite) {
		/* The commit that starts the WAL over after a RESTART checkpoint
		 * trims a file that grew past the limit back to it (walsync.h). */
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit=%llu",
			 (unsigned long long)wal_limit);
		if (db_exec(store_db(w->store), sql) != DB_OK) {
			snprintf(err, err_len, "%s: cannot limit the WAL: %s", store_path(w->store),
				 db_errmsg(store_db(w->store)));
			walsync_stop(&w->walsync);
			return VG_EIO;
		}
		/* Replaces SQLite's automatic checkpoint inside the committing call. */
		sqlite3_wal_hook(lite, on_wal_commit, w);
		/* A WAL left by kill -9 or by a migration is copied now, not at
		 * the first commit past the threshold. */
		walsync_poke(w->walsync);
	}
	if ((rc = uv_cond_init(&w->cond)) != 0)
		goto fail_walsync;
	if ((rc = uv_async_init(loop, &w->async, on_async)) != 0)
		goto fail_cond;
	w->async.data = w;
	if ((rc = uv_thread_create(&w->thread, writer_main, w)) != 0)
		goto fail_async;
	w->started = 1;
	return VG_OK;
fail_async:
	uv_close((uv_handle_t *)&w->async, NULL);
fail_cond:
	uv_cond_destroy(&w->cond);
fail_walsync:
	if (db_sqlite(store_db(w->store)))
		sqlite3_wal_hook(db_sqlite(store_db(w->store)), NULL, NULL);
	walsync_stop(&w->walsync);
	snprintf(err, err_len, "%s", uv_strerror(rc));
	return VG_EINTERNAL;
}

struct logtree_checkpoint *writer_latest(struct writer *w)
{
	return w->latest;
}

void writer_set_alert_sink(struct writer *w, void (*sink)(void *ctx, struct writer_alert *list),
			   void *ctx)
{
	w->alert_sink = sink;
	w->alert_sink_ctx = ctx;
}

void writer_set_deliver_hook(struct writer *w, void (*hook)(void *ctx, int begin), void *ctx)
{
	w->deliver_hook = hook;
	w->deliver_hook_ctx = ctx;
}

uint64_t writer_alert_horizon(const struct writer *w)
{
	return w->alert_horizon;
}

void writer_submit(struct writer *w, struct writer_job *job)
{
	job->next = NULL;
	atomic_fetch_add(&w->pending, 1);
	uv_mutex_lock(&w->mu);
	if (w->in_tail)
		w->in_tail->next = job;
	else
		w->in_head = job;
	w->in_tail = job;
	uv_cond_signal(&w->cond);
	uv_mutex_unlock(&w->mu);
}

unsigned writer_pending(const struct writer *w)
{
	return atomic_load(&((struct writer *)w)->pending);
}

void writer_stop(struct writer *w)
{
	if (!w->started)
		return;
	uv_mutex_lock(&w->mu);
	w->stopping = 1;
	uv_cond_signal(&w->cond);
	uv_mutex_unlock(&w->mu);
	uv_thread_join(&w->thread);
	walsync_stop(&w->walsync);
	deliver(w);
	uv_close((uv_handle_t *)&w->async, NULL);
	uv_cond_destroy(&w->cond);
	w->started = 0;
}

void writer_get_stats(struct writer *w, struct writer_stats *st)
{
	uv_mutex_lock(&w->mu);
	*st = w->stats;
	uv_mutex_unlock(&w->mu);
}

int writer_failed(const struct writer *w)
{
	return w->health.fatal;
}

int writer_fenced(const struct writer *w)
{
	return atomic_load(&w->fenced);
}
