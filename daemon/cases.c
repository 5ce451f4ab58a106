#include "daemon/cases.h"
#include "daemon/corrections.h"
#include "daemon/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/status.h"

struct cases {
	struct db *db;
	struct watch_config wc;
	struct case_members members;
	char errmsg[256];
	int errcode;               /* SQLite's code of the last VG_EIO */
	struct db_stmt *get;
	struct db_stmt *put;
	struct db_stmt *parties;
	struct db_stmt *add_party;
	struct db_stmt *add_read;
	struct db_stmt *list;
	struct db_stmt *reads;
	struct db_stmt *entries;
	struct db_stmt *note_org;
	struct db_stmt *next_due;
	struct db_stmt *due_case;
	struct db_stmt *note_alert;
	struct db_stmt *delivery_ack;
	struct db_stmt *ret_case;      /* the next closed case retention is due for */
	struct db_stmt *ret_sealed;    /* its sealed texts */
	struct db_stmt *ret_records;   /* its records not erased yet */
	struct db_stmt *ret_done;      /* how far it is erased */
	struct db_stmt *ret_next;      /* when the next tier of a closed case comes due */
	struct db_stmt *grant;         /* a party granted the narrative */
	struct db_stmt *acks;          /* a case's records since a time (its alert acks) */
	struct corrections *corr;    /* what a Correction needs from the log */
};

#define COLUMNS                                                                        \
	"case_id, state, owner, responsible, risk, minor, immediate_danger, factors,"  \
	" return_country, return_date, consent_scope, override, opened_at_ms,"         \
	" close_reason, entries, pending_offer_id, pending_offer_to,"                  \
	" pending_offer_at_ms, handed_over_at_ms, last_attempt_ms,"                    \
	" last_attempt_channel, last_attempt_outcome, last_success_ms, attempts,"      \
	" failed_attempts, failed_channels, failed_first_org, failed_orgs,"            \
	" alert_id, alert_kind, alert_stage, alert_raised_ms, alert_deadline_ms,"      \
	" alert_acked, acked_ms, alert_resolve, alert_notify,"                         \
	" stall_id, handover_alerted, stall_resolve, stall_org, next_event_ms,"        \
	" closed_at_ms, retained"
#define N_COLUMNS 44

/* Every failure of SQLite is VG_EIO to the caller, with the message kept. */
static int db_fail(struct cases *cs, int rc)
{
	cs->errcode = rc;
	snprintf(cs->errmsg, sizeof(cs->errmsg), "%s (%s)", db_errmsg(cs->db),
		 db_errstr(rc));
	return VG_EIO;
}

static int step_done(struct cases *cs, struct db_stmt *st)
{
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_DONE ? VG_OK : db_fail(cs, rc);
}

const char *cases_errmsg(const struct cases *cs)
{
	return cs->errmsg;
}

int cases_errcode(const struct cases *cs)
{
	return cs->errcode ? cs->errcode : DB_ERROR;
}

void cases_configure(struct cases *cs, const struct watch_config *wc,
		     const struct case_members *members)
{
	cs->wc = *wc;
	cs->members = *members;
}

/* Until configured, no organisation is a member. */
static int no_members(const void *ctx, const char *org)
{
	(void)ctx;
	(void)org;
	return 0;
}

int cases_open(struct db *db, struct cases **out, char *err, size_t err_len)
{
	struct cases *cs = calloc(1, sizeof(*cs));
	if (!cs) {
		snprintf(err, err_len, "out of memory");
		return VG_ENOMEM;
	}
	cs->db = db;
	cs->members.role_of = no_members;
	/* A case's row, new or replaced: every column but case_id (the
	 * first) is set from the values. */
	char put[4096];
	size_t n = (size_t)snprintf(put, sizeof(put), "INSERT INTO cases(" COLUMNS ") VALUES(?");
	for (int i = 1; i < N_COLUMNS; i++)
		n += (size_t)snprintf(put + n, sizeof(put) - n, ",?");
	n += (size_t)snprintf(put + n, sizeof(put) - n, ") ON CONFLICT(case_id) DO UPDATE SET ");
	const char *col = strchr(COLUMNS, ',');
	for (int i = 1; col && n < sizeof(put); i++) {
		col += strspn(col, ", ");
		size_t len = strcspn(col, ",");
		n += (size_t)snprintf(put + n, sizeof(put) - n, "%s%.*s = excluded.%.*s",
				      i > 1 ? ", " : "", (int)len, col, (int)len, col);
		col = strchr(col, ',');
	}
	if (n >= sizeof(put)) {
		free(cs);
		snprintf(err, err_len, "the case row's statement is too long");
		return VG_EINTERNAL;
	}
	struct {
		struct db_stmt **st;
		const char *sql;
	} q[] = {
		{ &cs->get, "SELECT " COLUMNS " FROM cases WHERE case_id=?" },
		{ &cs->ret_case, "SELECT case_id, closed_at_ms FROM cases WHERE state = 3 AND "
				 "closed_at_ms > 0 AND ((retained < 1 AND closed_at_ms <= ?1) OR "
				 "(retained < 2 AND closed_at_ms <= ?2)) ORDER BY closed_at_ms, case_id "
				 "LIMIT 1" },
		{ &cs->ret_sealed, "SELECT s.idx FROM sealed s JOIN entries e ON e.idx = s.idx "
				   "WHERE e.case_id = ? ORDER BY s.idx" },
		{ &cs->ret_records, "SELECT e.idx, e.record FROM entries e LEFT JOIN erased x ON "
				    "x.idx = e.idx WHERE e.case_id = ? AND coalesce(x.what, 0) < 2 "
				    "ORDER BY e.idx" },
		{ &cs->ret_done, "UPDATE cases SET retained = ? WHERE case_id = ?" },
		{ &cs->ret_next, "SELECT min(CASE WHEN retained < 1 AND ?1 > 0 THEN closed_at_ms + ?1 "
				 "WHEN retained < 2 AND ?2 > 0 THEN closed_at_ms + ?2 END) FROM cases "
				 "WHERE state = 3 AND closed_at_ms > 0 AND retained < 2" },
		{ &cs->put, put },
		{ &cs->parties, "SELECT org, granted FROM case_parties WHERE case_id=? ORDER BY org" },
		{ &cs->grant, "UPDATE case_parties SET granted = 1 WHERE case_id = ? AND org = ?" },
		{ &cs->add_party, "INSERT INTO case_parties(case_id, org, since_idx) "
				  "VALUES(?,?,?) ON CONFLICT DO NOTHING" },
		{ &cs->add_read, "INSERT INTO case_reads(case_id, org, what, at_ms) VALUES(?,?,?,?)" },
		{ &cs->list, "SELECT c.case_id, c.state, c.responsible, c.risk, c.minor, "
			     "c.last_success_ms, c.next_event_ms, "
			     "CASE WHEN c.alert_id IS NOT NULL AND c.alert_resolve = '' "
			     "THEN c.alert_stage ELSE 0 END, "
			     "c.stall_id IS NOT NULL AND c.stall_resolve = '' FROM "
			     "case_parties p JOIN cases c ON c.case_id = p.case_id WHERE p.org=? "
			     "ORDER BY c.case_id" },
		{ &cs->acks, "SELECT author, received_at_ms, record FROM entries WHERE case_id=? "
			     "AND received_at_ms >= ? ORDER BY idx" },
		{ &cs->reads, "SELECT org, what, at_ms FROM case_reads WHERE case_id=? ORDER BY id" },
		{ &cs->entries, "SELECT e.idx, e.received_at_ms, e.cert_fp, e.record, e.signature, "
				"e.leaf_hash, s.cms, coalesce(x.what, 0) FROM entries e LEFT JOIN "
				"sealed s ON s.idx = e.idx LEFT JOIN erased x ON x.idx = e.idx "
				"WHERE e.case_id=? AND e.idx > ? ORDER BY e.idx LIMIT ?" },
		{ &cs->note_org, "INSERT INTO orgs(org, role, country, seen_ms) VALUES(?,?,?,?) "
				 "ON CONFLICT(org) DO UPDATE SET role = excluded.role, "
				 "country = excluded.country, seen_ms = excluded.seen_ms" },
		{ &cs->next_due, "SELECT min(next_event_ms) FROM cases WHERE next_event_ms > 0" },
		{ &cs->due_case, "SELECT case_id FROM cases WHERE next_event_ms > 0 AND "
				 "next_event_ms <= ? ORDER BY next_event_ms LIMIT 1" },
		{ &cs->note_alert, "INSERT INTO alerts(position, case_id, alert_id, stage, recipients)"
				   " VALUES(?,?,?,?,?)" },
		{ &cs->delivery_ack, "INSERT INTO delivery_acks(org, position) VALUES(?1, ?2) ON "
				     "CONFLICT(org) DO UPDATE SET position = CASE WHEN delivery_acks.position > "
				     "excluded.position THEN delivery_acks.position ELSE "
				     "excluded.position END" },
	};
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		if (db_prepare(db, q[i].sql, q[i].st) !=
		    DB_OK) {
			snprintf(err, err_len, "cannot prepare \"%s\": %s", q[i].sql, db_errmsg(db));
			cases_close(&cs);
			return VG_EIO;
		}
	}
	int rc = corrections_open(db, &cs->corr, err, err_len);
	if (rc != VG_OK) {
		cases_close(&cs);
		return rc;
	}
	*out = cs;
	return VG_OK;
}

void cases_close(struct cases **csp)
{
	struct cases *cs = *csp;
	if (!cs)
		return;
	struct db_stmt *all[] = { cs->ret_case, cs->ret_sealed, cs->ret_records, cs->ret_done,
				cs->ret_next, cs->grant, cs->acks,
				cs->get, cs->put, cs->parties, cs->add_party, cs->add_read,
				cs->list, cs->reads, cs->entries, cs->note_org, cs->next_due,
				cs->due_case, cs->note_alert, cs->delivery_ack };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		db_finalize(all[i]);
	corrections_close(&cs->corr);
	free(cs);
	*csp = NULL;
}

static void copy_text(char *dst, size_t len, struct db_stmt *st, int col)
{
	const char *t = db_column_text(st, col);
	snprintf(dst, len, "%s", t ? t : "");
}

static int copy_id(uint8_t dst[RECORD_ID_LEN], struct db_stmt *st, int col)
{
	if (db_column_bytes(st, col) != RECORD_ID_LEN)
		return 0;
	memcpy(dst, db_column_blob(st, col), RECORD_ID_LEN);
	return 1;
}

static void bind_id(struct db_stmt *st, int col, int present, const uint8_t id[RECORD_ID_LEN])
{
	if (present)
		db_bind_blob(st, col, id, RECORD_ID_LEN);
	else
		db_bind_null(st, col);
}

/* The parties, each with its role in the member directory. */
static int load_parties(struct cases *cs, struct case_state *c)
{
	struct db_stmt *st = cs->parties;
	db_bind_text(st, 1, c->case_id, -1);
	int rc;
	while ((rc = db_step(st)) == DB_ROW && c->n_parties < CASE_PARTIES_MAX) {
		struct case_party *p = &c->parties[c->n_parties++];
		copy_text(p->org, sizeof(p->org), st, 0);
		p->granted = db_column_int(st, 1);
		p->role = cs->members.role_of(cs->members.ctx, p->org);
	}
	db_reset(st);
	return rc == DB_DONE || rc == DB_ROW ? VG_OK : db_fail(cs, rc);
}

/* Loads a case with its parties: 1 found, 0 not found, or VG_EIO. */
static int load(struct cases *cs, const char *case_id, struct case_state *c)
{
	memset(c, 0, sizeof(*c));
	struct db_stmt *st = cs->get;
	db_bind_text(st, 1, case_id, -1);
	int rc = db_step(st);
	if (rc != DB_ROW) {
		db_reset(st);
		return rc == DB_DONE ? 0 : db_fail(cs, rc);
	}
	int i = 0;
	copy_text(c->case_id, sizeof(c->case_id), st, i++);
	c->state = db_column_int(st, i++);
	copy_text(c->owner, sizeof(c->owner), st, i++);
	copy_text(c->responsible, sizeof(c->responsible), st, i++);
	c->risk = db_column_int(st, i++);
	c->minor = db_column_int(st, i++);
	c->immediate_danger = db_column_int(st, i++);
	c->factors = (uint32_t)db_column_int64(st, i++);
	copy_text(c->return_country, sizeof(c->return_country), st, i++);
	copy_text(c->return_date, sizeof(c->return_date), st, i++);
	copy_text(c->consent_scope, sizeof(c->consent_scope), st, i++);
	c->override = db_column_int(st, i++);
	c->opened_at_ms = db_column_int64(st, i++);
	c->close_reason = db_column_int(st, i++);
	c->entries = (uint64_t)db_column_int64(st, i++);
	c->has_pending = copy_id(c->pending_offer_id, st, i++);
	copy_text(c->pending_offer_to, sizeof(c->pending_offer_to), st, i++);
	c->pending_offer_at_ms = db_column_int64(st, i++);
	c->handed_over_at_ms = db_column_int64(st, i++);
	c->last_attempt_ms = db_column_int64(st, i++);
	c->last_attempt_channel = db_column_int(st, i++);
	c->last_attempt_outcome = db_column_int(st, i++);
	c->last_success_ms = db_column_int64(st, i++);
	c->attempts = (uint32_t)db_column_int64(st, i++);
	c->failed_attempts = (uint32_t)db_column_int64(st, i++);
	c->failed_channels = (uint32_t)db_column_int64(st, i++);
	copy_text(c->failed_first_org, sizeof(c->failed_first_org), st, i++);
	c->failed_orgs = db_column_int(st, i++);
	c->alert.open = copy_id(c->alert.id, st, i++);
	c->alert.kind = db_column_int(st, i++);
	c->alert.stage = db_column_int(st, i++);
	c->alert.raised_ms = db_column_int64(st, i++);
	c->alert.deadline_ms = db_column_int64(st, i++);
	c->alert.acked = db_column_int(st, i++);
	c->acked_ms = db_column_int64(st, i++);
	copy_text(c->alert.resolve, sizeof(c->alert.resolve), st, i++);
	copy_text(c->alert.notify, sizeof(c->alert.notify), st, i++);
	c->has_stall = copy_id(c->stall_id, st, i++);
	copy_id(c->stall_offer_id, st, i++);
	copy_text(c->stall_resolve, sizeof(c->stall_resolve), st, i++);
	copy_text(c->stall_org, sizeof(c->stall_org), st, i++);
	c->next_event_ms = db_column_int64(st, i++);
	c->closed_at_ms = db_column_int64(st, i++);
	c->retained = db_column_int(st, i++);
	db_reset(st);
	rc = load_parties(cs, c);
	return rc == VG_OK ? 1 : rc;
}

/* Saves the case, with the watchdog's next time, and its new parties. */
static int save(struct cases *cs, struct case_state *c, uint64_t index, int64_t now)
{
	c->next_event_ms = watchdog_next(&cs->wc, c, now);
	struct db_stmt *st = cs->put;
	int i = 1;
	db_bind_text(st, i++, c->case_id, -1);
	db_bind_int64(st, i++, c->state);
	db_bind_text(st, i++, c->owner, -1);
	db_bind_text(st, i++, c->responsible, -1);
	db_bind_int64(st, i++, c->risk);
	db_bind_int64(st, i++, c->minor);
	db_bind_int64(st, i++, c->immediate_danger);
	db_bind_int64(st, i++, c->factors);
	db_bind_text(st, i++, c->return_country, -1);
	db_bind_text(st, i++, c->return_date, -1);
	db_bind_text(st, i++, c->consent_scope, -1);
	db_bind_int64(st, i++, c->override);
	db_bind_int64(st, i++, c->opened_at_ms);
	db_bind_int64(st, i++, c->close_reason);
	db_bind_int64(st, i++, (int64_t)c->entries);
	bind_id(st, i++, c->has_pending, c->pending_offer_id);
	db_bind_text(st, i++, c->has_pending ? c->pending_offer_to : "", -1);
	db_bind_int64(st, i++, c->has_pending ? c->pending_offer_at_ms : 0);
	db_bind_int64(st, i++, c->handed_over_at_ms);
	db_bind_int64(st, i++, c->last_attempt_ms);
	db_bind_int64(st, i++, c->last_attempt_channel);
	db_bind_int64(st, i++, c->last_attempt_outcome);
	db_bind_int64(st, i++, c->last_success_ms);
	db_bind_int64(st, i++, c->attempts);
	db_bind_int64(st, i++, c->failed_attempts);
	db_bind_int64(st, i++, c->failed_channels);
	db_bind_text(st, i++, c->failed_first_org, -1);
	db_bind_int64(st, i++, c->failed_orgs);
	bind_id(st, i++, c->alert.open, c->alert.id);
	db_bind_int64(st, i++, c->alert.kind);
	db_bind_int64(st, i++, c->alert.open ? c->alert.stage : 0);
	db_bind_int64(st, i++, c->alert.raised_ms);
	db_bind_int64(st, i++, c->alert.deadline_ms);
	db_bind_int64(st, i++, c->alert.acked);
	db_bind_int64(st, i++, c->acked_ms);
	db_bind_text(st, i++, c->alert.resolve, -1);
	db_bind_text(st, i++, c->alert.notify, -1);
	bind_id(st, i++, c->has_stall, c->stall_id);
	bind_id(st, i++, c->has_stall, c->stall_offer_id);
	db_bind_text(st, i++, c->stall_resolve, -1);
	db_bind_text(st, i++, c->has_stall ? c->stall_org : "", -1);
	db_bind_int64(st, i++, c->next_event_ms);
	db_bind_int64(st, i++, c->closed_at_ms);
	db_bind_int64(st, i++, c->retained);
	int rc = step_done(cs, st);
	for (size_t p = 0; rc == VG_OK && p < c->n_parties; p++) {
		if (c->parties[p].grant_new && !c->parties[p].is_new) {
			st = cs->grant;
			db_bind_text(st, 1, c->case_id, -1);
			db_bind_text(st, 2, c->parties[p].org, -1);
			rc = step_done(cs, st);
			c->parties[p].grant_new = 0;
		}
		if (!c->parties[p].is_new)
			continue;
		st = cs->add_party;
		db_bind_text(st, 1, c->case_id, -1);
		db_bind_text(st, 2, c->parties[p].org, -1);
		db_bind_int64(st, 3, (int64_t)index);
		rc = step_done(cs, st);
		c->parties[p].is_new = 0;
	}
	return rc;
}

static int add_read(struct cases *cs, const char *case_id, const char *org, const char *what,
		    int64_t now)
{
	struct db_stmt *st = cs->add_read;
	db_bind_text(st, 1, case_id, -1);
	db_bind_text(st, 2, org, -1);
	db_bind_text(st, 3, what, -1);
	db_bind_int64(st, 4, now);
	return step_done(cs, st);
}

int cases_retention(struct cases *cs, int64_t now, uint64_t content_after_ms,
		    uint64_t record_after_ms, struct cases_retention_batch *b)
{
	memset(b, 0, sizeof(*b));
	if (!content_after_ms && !record_after_ms)
		return 0;
	int64_t content_before = content_after_ms ? now - (int64_t)content_after_ms : INT64_MIN;
	int64_t record_before = record_after_ms ? now - (int64_t)record_after_ms : INT64_MIN;
	struct db_stmt *st = cs->ret_case;
	db_bind_int64(st, 1, content_before);
	db_bind_int64(st, 2, record_before);
	int rc = db_step(st);
	if (rc != DB_ROW) {
		db_reset(st);
		return rc == DB_DONE ? 0 : db_fail(cs, rc);
	}
	copy_text(b->case_id, sizeof(b->case_id), st, 0);
	int64_t closed = db_column_int64(st, 1);
	db_reset(st);
	b->whole = record_after_ms && closed <= record_before;
	st = b->whole ? cs->ret_records : cs->ret_sealed;
	db_bind_text_copy(st, 1, b->case_id, -1);
	int more = 0;
	while ((rc = db_step(st)) == DB_ROW) {
		if (b->n == CASES_RETENTION_MAX) {
			more = 1;
			break;
		}
		/* Erasures and requests for them are kept. */
		if (b->whole && record_is_erasure(db_column_blob(st, 1),
						  (size_t)db_column_bytes(st, 1)))
			continue;
		b->indexes[b->n++] = (uint64_t)db_column_int64(st, 0);
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(cs, rc);
	if (!more) {
		/* The last batch of this case for this tier. */
		st = cs->ret_done;
		db_bind_int64(st, 1, b->whole ? 2 : 1);
		db_bind_text_copy(st, 2, b->case_id, -1);
		if ((rc = step_done(cs, st)) != VG_OK)
			return rc;
	}
	struct case_state c;
	int exists = load(cs, b->case_id, &c);
	if (exists < 0)
		return exists;
	for (size_t i = 0; exists && i < c.n_parties; i++)
		if (policy_reads_records(&c, c.parties[i].org, c.parties[i].role))
			memcpy(b->parties[b->n_parties++], c.parties[i].org, CASE_ORG_LEN);
	return b->n ? 1 : 2;
}

int cases_retention_next(struct cases *cs, uint64_t content_after_ms, uint64_t record_after_ms,
			 int64_t *due_ms)
{
	struct db_stmt *st = cs->ret_next;
	db_bind_int64(st, 1, (int64_t)content_after_ms);
	db_bind_int64(st, 2, (int64_t)record_after_ms);
	int rc = db_step(st);
	*due_ms = rc == DB_ROW && db_column_type(st, 0) != DB_NULL
			  ? db_column_int64(st, 0) : 0;
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE ? VG_OK : db_fail(cs, rc);
}

/*
 * The checks every record passes first: its times, and may org write it to
 * the case (loaded into *c; *exists 0 when there is none)?  A probe of a
 * case the author may not see is audited, as a refused read is: the owner
 * sees who tried.  A refused record for no case stores nothing at all.
 */
static int permit(struct cases *cs, const Vigil__V1__Record *rec, const char *org, int role,
		  int64_t now_ms, struct case_state *c, int *exists, char *why, size_t why_len)
{
	int rc = policy_check_times(rec, now_ms, cs->wc.max_clock_skew_ms, why, why_len);
	if (rc != VG_OK)
		return rc;
	*exists = load(cs, rec->case_id, c);
	if (*exists < 0)
		return *exists;
	const struct policy_actor actor = { org, role };
	rc = policy_record(&actor, *exists ? c : NULL, rec, &cs->members, why, why_len);
	if (rc != VG_OK && *exists && policy_hidden(&actor, c)) {
		int arc = add_read(cs, rec->case_id, org, policy_refused_tag(rec), now_ms);
		if (arc != VG_OK)
			return arc;
	}
	return rc;
}

int cases_permit(struct cases *cs, const Vigil__V1__Record *rec, const char *org, int role,
		 int64_t now_ms, char *why, size_t why_len)
{
	struct case_state c;
	int exists;
	return permit(cs, rec, org, role, now_ms, &c, &exists, why, why_len);
}

int cases_reseal_check(struct cases *cs, const char *case_id, const ProtobufCBinaryData *offer_id,
		       const char *org, int role, struct case_state *c, char *why,
		       size_t why_len)
{
	int exists = load(cs, case_id, c);
	if (exists < 0)
		return exists;
	const struct policy_actor actor = { org, role };
	return policy_reseal(&actor, case_id, exists ? c : NULL, offer_id, why, why_len);
}

int cases_erase_check(struct cases *cs, const Vigil__V1__Record *rec, const char *org, int role,
		      const struct store_erasable *t, int64_t now_ms, char *why,
		      size_t why_len, char parties[][CASE_ORG_LEN], size_t *n_parties)
{
	const Vigil__V1__EraseRequest *er = rec->erase_request;
	struct case_state c;
	int exists;
	int rc = permit(cs, rec, org, role, now_ms, &c, &exists, why, why_len);
	if (rc != VG_OK)
		return rc;
	char id[2 * RECORD_ID_LEN + 1];
	for (unsigned i = 0; i < RECORD_ID_LEN; i++)
		snprintf(id + 2 * i, 3, "%02x", er->target_id.data[i]);
	if (!t || strcmp(t->case_id, rec->case_id) != 0) {
		snprintf(why, why_len, "record %s is no entry of case %s", id, rec->case_id);
		return VG_ENOTFOUND;
	}
	if (t->keeps) {
		snprintf(why, why_len, "record %s is an erasure or a request for one: they are kept, "
			 "so that the log says what was erased", id);
		return VG_EBADREQ;
	}
	if (t->erased == STORE_ERASED_RECORD) {
		snprintf(why, why_len, "record %s is erased already", id);
		return VG_EBADREQ;
	}
	if (!er->whole_record && !t->has_sealed) {
		snprintf(why, why_len, t->erased ? "the sealed text of record %s is erased already"
						 : "record %s has no sealed text to erase", id);
		return VG_EBADREQ;
	}
	*n_parties = 0;
	for (size_t i = 0; i < c.n_parties; i++)
		if (policy_reads_records(&c, c.parties[i].org, c.parties[i].role))
			memcpy(parties[(*n_parties)++], c.parties[i].org, CASE_ORG_LEN);
	return VG_OK;
}

/* A failure of the corrections module, as the case tables' own. */
static int corr_fail(struct cases *cs, int rc)
{
	if (rc == VG_EIO) {
		cs->errcode = corrections_errcode(cs->corr);
		snprintf(cs->errmsg, sizeof(cs->errmsg), "%s", corrections_errmsg(cs->corr));
	}
	return rc;
}

/*
 * A Correction that policy_record() allowed on c: the record it names and
 * its rules (policy_correction), then what the case's history decides with
 * it (casestate_rebuild), the open alert (watchdog_on_corrected), the link
 * to the original, and the case saved.  The corrected record is left as
 * it is.
 */
static int apply_correction(struct cases *cs, const Vigil__V1__Record *rec, const char *org,
			    int role, uint64_t index, int64_t now, struct case_state *c,
			    char *why, size_t why_len)
{
	struct correction_found f;
	struct case_event *ev = NULL;
	size_t n = 0;
	int rc = corrections_find(cs->corr, rec->correction->target_id.data, &f);
	if (rc != VG_OK) {
		rc = corr_fail(cs, rc);
		goto out;
	}
	const struct policy_actor actor = { org, role };
	rc = policy_correction(&actor, c, rec, &f.t, cs->wc.max_clock_skew_ms, why, why_len);
	if (rc != VG_OK)
		goto out;
	rc = corrections_history(cs->corr, rec->case_id, f.original_idx, rec->correction, &ev, &n);
	if (rc != VG_OK) {
		rc = corr_fail(cs, rc);
		goto out;
	}
	struct case_state *before = malloc(sizeof(*before));
	if (!before) {
		rc = VG_ENOMEM;
		goto out;
	}
	*before = *c;
	casestate_rebuild(c, ev, n, &cs->wc);
	watchdog_on_corrected(&cs->wc, before, c, now);
	free(before);
	c->entries++;
	rc = corr_fail(cs, corrections_note(cs->corr, index, rec->case_id, f.original_idx));
	if (rc == VG_OK)
		rc = save(cs, c, index, now);
out:
	free(ev);
	corrections_found_free(&f);
	return rc;
}

int cases_apply(struct cases *cs, const Vigil__V1__Record *rec, const char *org, int role,
		uint64_t index, int64_t now_ms, char *why, size_t why_len)
{
	struct case_state c;
	int exists;
	int rc = permit(cs, rec, org, role, now_ms, &c, &exists, why, why_len);
	if (rc != VG_OK)
		return rc;
	/* A sealed text is sealed to exactly the case's readers, as they are
	 * before this record changes them. */
	rc = policy_check_sealed(exists ? &c : NULL, rec, org, &cs->members, why, why_len);
	if (rc != VG_OK)
		return rc;
	if (rec->body_case == VIGIL__V1__RECORD__BODY_CORRECTION)
		return apply_correction(cs, rec, org, role, index, now_ms, &c, why, why_len);
	if (!exists)
		memset(&c, 0, sizeof(c));
	rc = casestate_apply(&c, rec, org, &cs->members, &cs->wc, now_ms);
	if (rc == VG_ETOOLARGE) {
		snprintf(why, why_len, "a case has at most %u parties", (unsigned)CASE_PARTIES_MAX);
		return rc;
	}
	return rc != VG_OK ? rc : save(cs, &c, index, now_ms);
}

/* One page of the case's entries; one row past it says there is more. */
static int read_entries(struct cases *cs, const char *case_id, const struct case_page *page,
			struct case_result *res)
{
	struct db_stmt *st = cs->entries;
	db_bind_text(st, 1, case_id, -1);
	/* Indexes are below 2^63: an after beyond that leaves nothing. */
	db_bind_int64(st, 2, !page->has_after ? -1
				  : page->after > (uint64_t)INT64_MAX ? INT64_MAX
				  : (int64_t)page->after);
	db_bind_int64(st, 3, (int64_t)page->limit + 1);
	int rc;
	size_t cap = 0;
	while ((rc = db_step(st)) == DB_ROW) {
		if (res->n_entries == page->limit) {
			res->more = 1;
			rc = DB_DONE;
			break;
		}
		if (res->n_entries == cap) {
			cap = cap ? 2 * cap : 16;
			void *n = realloc(res->entries, cap * sizeof(*res->entries));
			if (!n) {
				rc = DB_NOMEM;
				break;
			}
			res->entries = n;
		}
		struct case_entry *e = &res->entries[res->n_entries];
		memset(e, 0, sizeof(*e));
		e->index = (uint64_t)db_column_int64(st, 0);
		e->received_at_ms = db_column_int64(st, 1);
		if (db_column_bytes(st, 2) == SHA256_LEN)
			memcpy(e->cert_sha256, db_column_blob(st, 2), SHA256_LEN);
		if (db_column_bytes(st, 5) == SHA256_LEN)
			memcpy(e->leaf_hash, db_column_blob(st, 5), SHA256_LEN);
		e->record_len = (size_t)db_column_bytes(st, 3);
		e->sig_len = (size_t)db_column_bytes(st, 4);
		e->record = malloc(e->record_len ? e->record_len : 1);
		e->sig = malloc(e->sig_len ? e->sig_len : 1);
		res->n_entries++;
		if (!e->record || !e->sig) {
			rc = DB_NOMEM;
			break;
		}
		/* An erased record keeps neither (SQLite gives NULL for them). */
		if (e->record_len)
			memcpy(e->record, db_column_blob(st, 3), e->record_len);
		if (e->sig_len)
			memcpy(e->sig, db_column_blob(st, 4), e->sig_len);
		e->erased = db_column_int(st, 7);
		size_t sl = (size_t)db_column_bytes(st, 6);
		if (sl) {
			e->sealed = malloc(sl);
			if (!e->sealed) {
				rc = DB_NOMEM;
				break;
			}
			memcpy(e->sealed, db_column_blob(st, 6), sl);
			e->sealed_len = sl;
		}
	}
	db_reset(st);
	return rc == DB_DONE ? VG_OK : rc == DB_NOMEM ? VG_ENOMEM : db_fail(cs, rc);
}

static int read_list(struct cases *cs, const char *org, struct case_result *res)
{
	struct db_stmt *st = cs->list;
	db_bind_text(st, 1, org, -1);
	int rc;
	size_t cap = 0;
	while ((rc = db_step(st)) == DB_ROW) {
		if (res->n_cases == cap) {
			cap = cap ? 2 * cap : 16;
			void *n = realloc(res->cases, cap * sizeof(*res->cases));
			if (!n) {
				rc = DB_NOMEM;
				break;
			}
			res->cases = n;
		}
		struct case_summary *s = &res->cases[res->n_cases++];
		copy_text(s->case_id, sizeof(s->case_id), st, 0);
		s->state = db_column_int(st, 1);
		copy_text(s->responsible, sizeof(s->responsible), st, 2);
		s->risk = db_column_int(st, 3);
		s->minor = db_column_int(st, 4);
		s->last_success_ms = db_column_int64(st, 5);
		s->next_event_ms = db_column_int64(st, 6);
		s->alert_stage = db_column_int(st, 7);
		s->stalled = db_column_int(st, 8);
	}
	db_reset(st);
	return rc == DB_DONE ? VG_OK : rc == DB_NOMEM ? VG_ENOMEM : db_fail(cs, rc);
}

/* The acknowledgements of alert a in case_id's records since it was raised. */
static int read_acks(struct cases *cs, const char *case_id, struct case_open_alert *a)
{
	struct db_stmt *st = cs->acks;
	db_bind_text(st, 1, case_id, -1);
	db_bind_int64(st, 2, a->open.raised_ms);
	int rc;
	while ((rc = db_step(st)) == DB_ROW && a->n_acks < CASE_ACKS_MAX) {
		Vigil__V1__Record *r = vigil__v1__record__unpack(
			NULL, (size_t)db_column_bytes(st, 2), db_column_blob(st, 2));
		if (r && r->body_case == VIGIL__V1__RECORD__BODY_ALERT_ACK &&
		    r->alert_ack->alert_id.len == RECORD_ID_LEN &&
		    memcmp(r->alert_ack->alert_id.data, a->open.ev.alert_id, RECORD_ID_LEN) == 0) {
			copy_text(a->acks[a->n_acks].org, CASE_ORG_LEN, st, 0);
			a->acks[a->n_acks].at_ms = db_column_int64(st, 1);
			a->acks[a->n_acks].decision = r->alert_ack->decision;
			a->n_acks++;
		}
		vigil__v1__record__free_unpacked(r, NULL);
	}
	db_reset(st);
	return rc == DB_DONE || rc == DB_ROW ? VG_OK : db_fail(cs, rc);
}

/* The alerts open now on org's cases that are addressed to it. */
static int read_open_alerts(struct cases *cs, const char *org, struct case_result *res)
{
	int rc = read_list(cs, org, res);
	size_t cap = 0;
	for (size_t i = 0; rc == VG_OK && i < res->n_cases; i++) {
		/* Only a case with an open alert is loaded. */
		if (!res->cases[i].alert_stage && !res->cases[i].stalled)
			continue;
		struct case_state c;
		int found = load(cs, res->cases[i].case_id, &c);
		if (found < 0)
			return found;
		if (!found)
			continue;
		struct watch_open open[2];
		size_t n = watchdog_open_alerts(&cs->wc, &c, open);
		for (size_t k = 0; rc == VG_OK && k < n; k++) {
			int mine = 0;
			for (size_t j = 0; j < open[k].ev.n_recipients; j++)
				mine |= strcmp(open[k].ev.recipients[j], org) == 0;
			if (!mine)
				continue;
			if (res->n_open_alerts == cap) {
				cap = cap ? 2 * cap : 8;
				void *m = realloc(res->open_alerts, cap * sizeof(*res->open_alerts));
				if (!m)
					return VG_ENOMEM;
				res->open_alerts = m;
			}
			struct case_open_alert *a = &res->open_alerts[res->n_open_alerts++];
			memset(a, 0, sizeof(*a));
			a->open = open[k];
			rc = read_acks(cs, c.case_id, a);
		}
	}
	return rc;
}

static int read_readers(struct cases *cs, const char *case_id, struct case_result *res)
{
	struct db_stmt *st = cs->reads;
	db_bind_text(st, 1, case_id, -1);
	int rc;
	size_t cap = 0;
	while ((rc = db_step(st)) == DB_ROW) {
		if (res->n_reads == cap) {
			cap = cap ? 2 * cap : 16;
			void *n = realloc(res->reads, cap * sizeof(*res->reads));
			if (!n) {
				rc = DB_NOMEM;
				break;
			}
			res->reads = n;
		}
		struct case_read *r = &res->reads[res->n_reads++];
		copy_text(r->org, sizeof(r->org), st, 0);
		copy_text(r->what, sizeof(r->what), st, 1);
		r->at_ms = db_column_int64(st, 2);
	}
	db_reset(st);
	return rc == DB_DONE ? VG_OK : rc == DB_NOMEM ? VG_ENOMEM : db_fail(cs, rc);
}

int cases_query(struct cases *cs, enum case_query what, const char *case_id, const char *org,
		int role, const struct case_page *page, int64_t now_ms, struct case_result *res,
		char *why, size_t why_len)
{
	memset(res, 0, sizeof(*res));
	res->what = what;
	const struct policy_actor actor = { org, role };
	if (what == CASE_Q_LIST) {
		res->view = CASE_VIEW_FULL;
		return read_list(cs, org, res);
	}
	if (what == CASE_Q_OPEN_ALERTS) {
		res->view = CASE_VIEW_FULL;
		return read_open_alerts(cs, org, res);
	}
	int exists = load(cs, case_id, &res->st);
	if (exists < 0)
		return exists;
	int rc = policy_query(&actor, case_id, exists ? &res->st : NULL, what, &res->view, why,
			      why_len);
	if (rc == VG_OK) {
		res->offered = res->st.has_pending && strcmp(res->st.pending_offer_to, org) == 0;
		int rrc = VG_OK;
		if (what == CASE_Q_LOG) {
			rrc = read_entries(cs, case_id, page, res);
			if (rrc == VG_OK)
				rrc = corr_fail(cs, corrections_marks(cs->corr, case_id, res->entries,
								      res->n_entries));
		}
		else if (what == CASE_Q_READERS)
			rrc = read_readers(cs, case_id, res);
		else if (what == CASE_Q_SEAL_READERS) {
			/* The case's readers (a record of no particular kind). */
			Vigil__V1__Record none = VIGIL__V1__RECORD__INIT;
			res->n_seal_readers = policy_seal_readers(&res->st, &none, org, &cs->members,
								  res->seal_readers);
		}
		if (rrc != VG_OK)
			return rrc; /* no answer leaves, so no read to record */
	}
	/* The read is recorded after it (a readers list does not show itself);
	 * refused attempts are recorded too: access is audited, not only
	 * access granted. */
	int arc = add_read(cs, case_id, org, policy_query_tag(what, rc != VG_OK), now_ms);
	return arc != VG_OK ? arc : rc;
}

void cases_result_free(struct case_result *res)
{
	for (size_t i = 0; i < res->n_entries; i++) {
		free(res->entries[i].record);
		free(res->entries[i].sig);
		free(res->entries[i].sealed);
		free(res->entries[i].proof);
		free(res->entries[i].corrected_by);
	}
	free(res->entries);
	free(res->cases);
	free(res->reads);
	free(res->open_alerts);
	memset(res, 0, sizeof(*res));
}

int cases_note_org(struct cases *cs, const char *org, int role, const char *country,
		   int64_t now_ms)
{
	struct db_stmt *st = cs->note_org;
	db_bind_text(st, 1, org, -1);
	db_bind_int64(st, 2, role);
	db_bind_text(st, 3, country, -1);
	db_bind_int64(st, 4, now_ms);
	return step_done(cs, st);
}

int cases_next_due(struct cases *cs, int64_t *due_ms)
{
	struct db_stmt *st = cs->next_due;
	int rc = db_step(st);
	*due_ms = rc == DB_ROW ? db_column_int64(st, 0) : 0;
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE ? VG_OK : db_fail(cs, rc);
}

int cases_watchdog(struct cases *cs, int64_t now_ms, const uint8_t new_id[RECORD_ID_LEN],
		   struct watch_event *ev)
{
	/* A case whose time came with nothing to do gets its next time and the
	 * search goes on; the bound only guards against a bug. */
	for (int guard = 0; guard < 10000; guard++) {
		struct db_stmt *st = cs->due_case;
		db_bind_int64(st, 1, now_ms);
		int rc = db_step(st);
		char case_id[CASE_ID_LEN] = "";
		if (rc == DB_ROW)
			copy_text(case_id, sizeof(case_id), st, 0);
		db_reset(st);
		if (rc == DB_DONE)
			return 0;
		if (rc != DB_ROW)
			return db_fail(cs, rc);
		struct case_state c;
		int found = load(cs, case_id, &c);
		if (found != 1) {
			if (found == 0) {
				snprintf(cs->errmsg, sizeof(cs->errmsg), "case %s vanished", case_id);
				cs->errcode = DB_CORRUPT;
			}
			return VG_EIO;
		}
		/* watchdog_next() is due only when watchdog_step() has something
		 * to do, so each round either writes an event or moves the case on. */
		int got = watchdog_step(&cs->wc, &c, now_ms, new_id, ev);
		if ((rc = save(cs, &c, 0, now_ms)) != VG_OK)
			return rc;
		if (got == 1)
			return 1;
	}
	return 0;
}

int cases_note_alert(struct cases *cs, uint64_t position, const struct watch_event *ev)
{
	char list[WATCH_MAX_RECIPIENTS * CASE_ORG_LEN];
	size_t n = 0;
	list[0] = '\0';
	for (size_t i = 0; i < ev->n_recipients; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? "\n" : "",
				      ev->recipients[i]);
	struct db_stmt *st = cs->note_alert;
	db_bind_int64(st, 1, (int64_t)position);
	db_bind_text(st, 2, ev->case_id, -1);
	db_bind_blob(st, 3, ev->alert_id, RECORD_ID_LEN);
	db_bind_int64(st, 4, ev->stage);
	db_bind_text(st, 5, list, -1);
	return step_done(cs, st);
}

int cases_delivery_ack(struct cases *cs, const char *org, uint64_t position)
{
	struct db_stmt *st = cs->delivery_ack;
	db_bind_text(st, 1, org, -1);
	db_bind_int64(st, 2, (int64_t)position);
	return step_done(cs, st);
}
