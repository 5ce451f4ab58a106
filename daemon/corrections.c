#include "daemon/corrections.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/store.h"
#include "proto/status.h"

struct corrections {
	struct db *db;
	char errmsg[256];
	int errcode;
	struct db_stmt *by_id;     /* an entry by record id, with its correction row */
	struct db_stmt *by_idx;    /* the same by index */
	struct db_stmt *latest;    /* the latest correction of an original (not erased) */
	struct db_stmt *count;     /* how many corrections an original has */
	struct db_stmt *history;   /* a case's entries with their correction rows */
	struct db_stmt *note;
	struct db_stmt *marks;     /* the corrections of a range of a case's entries */
};

#define ENTRY_COLUMNS                                                                    \
	"SELECT e.idx, e.case_id, e.author, e.received_at_ms, e.record, coalesce(x.what, 0)," \
	" k.target_idx FROM entries e LEFT JOIN erased x ON x.idx = e.idx"                \
	" LEFT JOIN corrections k ON k.idx = e.idx"

static int db_fail(struct corrections *k, int rc)
{
	k->errcode = rc;
	snprintf(k->errmsg, sizeof(k->errmsg), "%s (%s)", db_errmsg(k->db),
		 db_errstr(rc));
	return VG_EIO;
}

const char *corrections_errmsg(const struct corrections *k)
{
	return k->errmsg;
}

int corrections_errcode(const struct corrections *k)
{
	return k->errcode ? k->errcode : DB_ERROR;
}

int corrections_open(struct db *db, struct corrections **out, char *err, size_t err_len)
{
	struct corrections *k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(err, err_len, "out of memory");
		return VG_ENOMEM;
	}
	k->db = db;
	struct {
		struct db_stmt **st;
		const char *sql;
	} q[] = {
		{ &k->by_id, ENTRY_COLUMNS " WHERE e.record_id = ?" },
		{ &k->by_idx, ENTRY_COLUMNS " WHERE e.idx = ?" },
		{ &k->latest, "SELECT e.record FROM corrections k JOIN entries e ON e.idx = k.idx "
			      "WHERE k.target_idx = ? AND length(e.record) > 0 ORDER BY k.idx DESC "
			      "LIMIT 1" },
		{ &k->count, "SELECT count(*) FROM corrections WHERE target_idx = ?" },
		{ &k->history, "SELECT e.idx, e.received_at_ms, e.author, e.record, k.target_idx "
			       "FROM entries e LEFT JOIN corrections k ON k.idx = e.idx "
			       "WHERE e.case_id = ? ORDER BY e.idx" },
		{ &k->note, "INSERT INTO corrections(idx, case_id, target_idx) VALUES(?,?,?)" },
		{ &k->marks, "SELECT idx, target_idx FROM corrections WHERE case_id = ?1 AND "
			     "((idx >= ?2 AND idx <= ?3) OR (target_idx >= ?2 AND target_idx <= ?3)) "
			     "ORDER BY idx" },
	};
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		if (db_prepare(db, q[i].sql, q[i].st) !=
		    DB_OK) {
			snprintf(err, err_len, "cannot prepare \"%s\": %s", q[i].sql, db_errmsg(db));
			corrections_close(&k);
			return VG_EIO;
		}
	}
	*out = k;
	return VG_OK;
}

void corrections_close(struct corrections **kp)
{
	struct corrections *k = *kp;
	if (!k)
		return;
	struct db_stmt *all[] = { k->by_id, k->by_idx, k->latest, k->count, k->history, k->note,
				k->marks };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		db_finalize(all[i]);
	free(k);
	*kp = NULL;
}

static Vigil__V1__Record *unpack(struct db_stmt *st, int col)
{
	int n = db_column_bytes(st, col);
	if (n <= 0)
		return NULL;
	return vigil__v1__record__unpack(NULL, (size_t)n, db_column_blob(st, col));
}

/* One entry row (ENTRY_COLUMNS) into f: 1 found, 0 none, or VG_EIO.
 * *target is its correction row's original (-1: it is no correction). */
static int read_entry(struct corrections *k, struct db_stmt *st, struct correction_found *f,
		      int64_t *target)
{
	int rc = db_step(st);
	if (rc != DB_ROW) {
		db_reset(st);
		return rc == DB_DONE ? 0 : db_fail(k, rc);
	}
	struct correction_target *t = &f->t;
	memset(t, 0, sizeof(*t));
	record_free(f->in_force);
	f->in_force = NULL;
	t->found = 1;
	f->original_idx = (uint64_t)db_column_int64(st, 0);
	const char *s = db_column_text(st, 1);
	snprintf(t->case_id, sizeof(t->case_id), "%s", s ? (const char *)s : "");
	s = db_column_text(st, 2);
	snprintf(t->author, sizeof(t->author), "%s", s ? (const char *)s : "");
	t->received_ms = db_column_int64(st, 3);
	t->erased = db_column_int(st, 5) == STORE_ERASED_RECORD;
	f->in_force = t->erased ? NULL : unpack(st, 4);
	t->kind = f->in_force ? (int)f->in_force->body_case : 0;
	*target = db_column_type(st, 6) == DB_NULL ? -1 : db_column_int64(st, 6);
	db_reset(st);
	return 1;
}

int corrections_find(struct corrections *k, const uint8_t target_id[RECORD_ID_LEN],
		     struct correction_found *f)
{
	memset(f, 0, sizeof(*f));
	int64_t original = -1;
	db_bind_blob(k->by_id, 1, target_id, RECORD_ID_LEN);
	int rc = read_entry(k, k->by_id, f, &original);
	if (rc <= 0)
		return rc;
	/* A correction names its original: the chain is one step long. */
	if (original >= 0) {
		db_bind_int64(k->by_idx, 1, original);
		int64_t again;
		rc = read_entry(k, k->by_idx, f, &again);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			k->errcode = DB_CORRUPT;
			snprintf(k->errmsg, sizeof(k->errmsg), "corrections: entry %lld is missing",
				 (long long)original);
			return VG_EIO;
		}
	}
	db_bind_int64(k->count, 1, (int64_t)f->original_idx);
	rc = db_step(k->count);
	f->t.corrections = rc == DB_ROW ? (unsigned)db_column_int64(k->count, 0) : 0;
	db_reset(k->count);
	if (rc != DB_ROW)
		return db_fail(k, rc);
	if (!f->in_force)
		return VG_OK;
	/* The body in force: the latest correction not erased since. */
	db_bind_int64(k->latest, 1, (int64_t)f->original_idx);
	rc = db_step(k->latest);
	if (rc == DB_ROW) {
		Vigil__V1__Record *r = unpack(k->latest, 0);
		if (r) {
			record_free(f->in_force);
			f->in_force = r;
		}
	}
	db_reset(k->latest);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(k, rc);
	f->t.in_force = f->in_force;
	return VG_OK;
}

void corrections_found_free(struct correction_found *f)
{
	record_free(f->in_force);
	f->in_force = NULL;
	f->t.in_force = NULL;
}

/* The history being read: events and the entry each came from. */
struct history {
	struct case_event *ev;
	uint64_t *idx;
	size_t n, cap;
	uint8_t (*alerts)[RECORD_ID_LEN];  /* ids of the case's silence and failed alerts */
	size_t n_alerts, cap_alerts;
};

static struct case_event *push(struct history *h, uint64_t idx, int kind, int64_t received)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct case_event *ev = realloc(h->ev, cap * sizeof(*ev));
		if (!ev)
			return NULL;
		h->ev = ev;
		uint64_t *ix = realloc(h->idx, cap * sizeof(*ix));
		if (!ix)
			return NULL;
		h->idx = ix;
		h->cap = cap;
	}
	struct case_event *e = &h->ev[h->n];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->received_ms = received;
	h->idx[h->n++] = idx;
	return e;
}

static int alert_known(const struct history *h, const uint8_t *id)
{
	for (size_t i = 0; i < h->n_alerts; i++)
		if (memcmp(h->alerts[i], id, RECORD_ID_LEN) == 0)
			return 1;
	return 0;
}

static int alert_add(struct history *h, const uint8_t *id)
{
	if (alert_known(h, id))
		return VG_OK;
	if (h->n_alerts == h->cap_alerts) {
		size_t cap = h->cap_alerts ? 2 * h->cap_alerts : 16;
		void *a = realloc(h->alerts, cap * RECORD_ID_LEN);
		if (!a)
			return VG_ENOMEM;
		h->alerts = a;
		h->cap_alerts = cap;
	}
	memcpy(h->alerts[h->n_alerts++], id, RECORD_ID_LEN);
	return VG_OK;
}

static uint32_t factor_set(const Vigil__V1__RiskAssessment *r)
{
	uint32_t set = 0;
	for (size_t i = 0; i < r->n_factors; i++)
		set |= 1u << (r->factors[i] & 31);
	return set;
}

static void set_contact(struct case_event *e, const Vigil__V1__ContactAttempt *a)
{
	e->channel = a->channel;
	e->outcome = a->outcome;
	e->at_ms = a->attempted_at_ms;
}

static void set_risk(struct case_event *e, const Vigil__V1__RiskAssessment *r)
{
	e->risk = r->level;
	e->immediate_danger = r->immediate_danger ? 1 : 0;
	e->factors = factor_set(r);
}

/* Applies a correction of the original at idx to its event (none: the
 * original was erased whole, or is of another kind). */
static void correct(struct history *h, uint64_t idx, const Vigil__V1__Correction *k)
{
	size_t lo = 0, hi = h->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (h->idx[mid] < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == h->n || h->idx[lo] != idx)
		return;
	struct case_event *e = &h->ev[lo];
	if (e->kind == CASE_EV_CONTACT &&
	    k->body_case == VIGIL__V1__CORRECTION__BODY_CONTACT_ATTEMPT)
		set_contact(e, k->contact_attempt);
	else if (e->kind == CASE_EV_RISK &&
		 k->body_case == VIGIL__V1__CORRECTION__BODY_RISK_ASSESSMENT)
		set_risk(e, k->risk_assessment);
}

/* One entry of the case's history into h. */
static int take(struct history *h, uint64_t idx, int64_t received, const char *author,
		const Vigil__V1__Record *r, int64_t target)
{
	struct case_event *e;
	switch (r->body_case) {
	case VIGIL__V1__RECORD__BODY_CASE_OPEN:
		if (!(e = push(h, idx, CASE_EV_OPENED, received)))
			return VG_ENOMEM;
		e->risk = r->case_open->risk;
		return VG_OK;
	case VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER:
		if (!r->handover_answer->accept)
			return VG_OK;
		if (!(e = push(h, idx, CASE_EV_ACCEPTED, received)))
			return VG_ENOMEM;
		snprintf(e->org, sizeof(e->org), "%s", author);
		return VG_OK;
	case VIGIL__V1__RECORD__BODY_ALERT:
		/* Acknowledging one of these re-armed the watchdog; a stalled
		 * handover's acknowledgement records a decision only. */
		if (r->alert->kind == VIGIL__V1__ALERT_KIND__ALERT_KIND_SILENCE ||
		    r->alert->kind == VIGIL__V1__ALERT_KIND__ALERT_KIND_FAILED_ATTEMPTS)
			return r->alert->alert_id.len == RECORD_ID_LEN
				       ? alert_add(h, r->alert->alert_id.data) : VG_OK;
		return VG_OK;
	case VIGIL__V1__RECORD__BODY_ALERT_ACK:
		if (r->alert_ack->alert_id.len != RECORD_ID_LEN ||
		    !alert_known(h, r->alert_ack->alert_id.data))
			return VG_OK;
		return push(h, idx, CASE_EV_ACKED, received) ? VG_OK : VG_ENOMEM;
	case VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT:
		if (!(e = push(h, idx, CASE_EV_CONTACT, received)))
			return VG_ENOMEM;
		snprintf(e->org, sizeof(e->org), "%s", author);
		set_contact(e, r->contact_attempt);
		return VG_OK;
	case VIGIL__V1__RECORD__BODY_RISK_ASSESSMENT:
		if (!(e = push(h, idx, CASE_EV_RISK, received)))
			return VG_ENOMEM;
		set_risk(e, r->risk_assessment);
		return VG_OK;
	case VIGIL__V1__RECORD__BODY_CORRECTION:
		/* Corrections follow their originals in the log: a later one
		 * overwrites an earlier one, and the latest is in force. */
		if (target >= 0)
			correct(h, (uint64_t)target, r->correction);
		return VG_OK;
	default:
		return VG_OK;
	}
}

int corrections_history(struct corrections *k, const char *case_id, uint64_t original_idx,
			const Vigil__V1__Correction *now, struct case_event **ev, size_t *n)
{
	*ev = NULL;
	*n = 0;
	struct history h = { 0 };
	struct db_stmt *st = k->history;
	db_bind_text(st, 1, case_id, -1);
	int rc = DB_DONE, vrc = VG_OK;
	while (vrc == VG_OK && (rc = db_step(st)) == DB_ROW) {
		Vigil__V1__Record *r = unpack(st, 3);
		if (!r)
			continue; /* erased whole: nothing left to count */
		const char *author = db_column_text(st, 2);
		vrc = take(&h, (uint64_t)db_column_int64(st, 0), db_column_int64(st, 1),
			   author ? (const char *)author : "", r,
			   db_column_type(st, 4) == DB_NULL ? -1
								    : db_column_int64(st, 4));
		record_free(r);
	}
	db_reset(st);
	if (vrc == VG_OK && rc != DB_DONE)
		vrc = db_fail(k, rc);
	if (vrc == VG_OK && now)
		correct(&h, original_idx, now);
	free(h.idx);
	free(h.alerts);
	if (vrc != VG_OK) {
		free(h.ev);
		return vrc;
	}
	*ev = h.ev;
	*n = h.n;
	return VG_OK;
}

int corrections_note(struct corrections *k, uint64_t idx, const char *case_id,
		     uint64_t original_idx)
{
	struct db_stmt *st = k->note;
	db_bind_int64(st, 1, (int64_t)idx);
	db_bind_text(st, 2, case_id, -1);
	db_bind_int64(st, 3, (int64_t)original_idx);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_DONE ? VG_OK : db_fail(k, rc);
}

static struct case_entry *entry_at(struct case_entry *e, size_t n, uint64_t idx)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (e[mid].index < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && e[lo].index == idx ? &e[lo] : NULL;
}

int corrections_marks(struct corrections *k, const char *case_id, struct case_entry *e,
		      size_t n)
{
	if (n == 0)
		return VG_OK;
	struct db_stmt *st = k->marks;
	db_bind_text(st, 1, case_id, -1);
	db_bind_int64(st, 2, (int64_t)e[0].index);
	db_bind_int64(st, 3, (int64_t)e[n - 1].index);
	int rc = DB_DONE, vrc = VG_OK;
	while (vrc == VG_OK && (rc = db_step(st)) == DB_ROW) {
		uint64_t idx = (uint64_t)db_column_int64(st, 0);
		uint64_t target = (uint64_t)db_column_int64(st, 1);
		struct case_entry *c = entry_at(e, n, idx);
		if (c) {
			c->has_corrects = 1;
			c->corrects = target;
		}
		struct case_entry *o = entry_at(e, n, target);
		if (o) {
			/* Rows come in index order: the list stays ascending. */
			uint64_t *by = realloc(o->corrected_by,
					       (o->n_corrected_by + 1) * sizeof(*by));
			if (!by) {
				vrc = VG_ENOMEM;
				break;
			}
			by[o->n_corrected_by++] = idx;
			o->corrected_by = by;
		}
	}
	db_reset(st);
	if (vrc == VG_OK && rc != DB_DONE)
		vrc = db_fail(k, rc);
	return vrc;
}
