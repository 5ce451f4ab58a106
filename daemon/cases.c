#include "daemon/cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/identity.h"
#include "proto/status.h"

#define WHY(...) snprintf(why, why_len, __VA_ARGS__)

struct cases {
	sqlite3 *db;
	sqlite3_stmt *get;
	sqlite3_stmt *put;
	sqlite3_stmt *is_party;
	sqlite3_stmt *parties;
	sqlite3_stmt *add_party;
	sqlite3_stmt *add_read;
	sqlite3_stmt *list;
	sqlite3_stmt *reads;
	sqlite3_stmt *entries;
};

#define COLUMNS                                                                        \
	"case_id, state, responsible, risk, minor, immediate_danger, factors,"         \
	" return_country, return_date, consent_scope, override, opened_at_ms,"         \
	" pending_offer_id, pending_offer_to, pending_offer_at_ms, last_attempt_ms,"   \
	" last_attempt_channel, last_attempt_outcome, last_success_ms, attempts,"      \
	" failed_attempts, entries, close_reason, handed_over_at_ms, alert_stage"

int cases_open(sqlite3 *db, struct cases **out, char *err, size_t err_len)
{
	struct cases *cs = calloc(1, sizeof(*cs));
	if (!cs) {
		snprintf(err, err_len, "out of memory");
		return VG_ENOMEM;
	}
	cs->db = db;
	struct {
		sqlite3_stmt **st;
		const char *sql;
	} q[] = {
		{ &cs->get, "SELECT " COLUMNS " FROM cases WHERE case_id=?" },
		{ &cs->put, "INSERT OR REPLACE INTO cases(" COLUMNS ") VALUES(?,?,?,?,?,?,?,?,?,?,"
			    "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)" },
		{ &cs->is_party, "SELECT 1 FROM case_parties WHERE case_id=? AND org=?" },
		{ &cs->parties, "SELECT org FROM case_parties WHERE case_id=? ORDER BY org" },
		{ &cs->add_party, "INSERT OR IGNORE INTO case_parties(case_id, org, since_idx) "
				  "VALUES(?,?,?)" },
		{ &cs->add_read, "INSERT INTO case_reads(case_id, org, what, at_ms) VALUES(?,?,?,?)" },
		{ &cs->list, "SELECT c.case_id, c.state, c.responsible, c.risk, c.minor FROM "
			     "case_parties p JOIN cases c ON c.case_id = p.case_id WHERE p.org=? "
			     "ORDER BY c.case_id" },
		{ &cs->reads, "SELECT org, what, at_ms FROM case_reads WHERE case_id=? ORDER BY id" },
		{ &cs->entries, "SELECT idx, received_at_ms, cert_fp, record, signature, leaf_hash "
				"FROM entries WHERE case_id=? ORDER BY idx" },
	};
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		if (sqlite3_prepare_v3(db, q[i].sql, -1, SQLITE_PREPARE_PERSISTENT, q[i].st, NULL) !=
		    SQLITE_OK) {
			snprintf(err, err_len, "cannot prepare \"%s\": %s", q[i].sql, sqlite3_errmsg(db));
			cases_close(&cs);
			return VG_EIO;
		}
	}
	*out = cs;
	return VG_OK;
}

void cases_close(struct cases **csp)
{
	struct cases *cs = *csp;
	if (!cs)
		return;
	sqlite3_stmt *all[] = { cs->get, cs->put, cs->is_party, cs->parties, cs->add_party,
				cs->add_read, cs->list, cs->reads, cs->entries };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		sqlite3_finalize(all[i]);
	free(cs);
	*csp = NULL;
}

int cases_outcome_reached(int o)
{
	return o == VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE ||
	       o == VIGIL__V1__OUTCOME__OUTCOME_REACHED_CONCERN ||
	       o == VIGIL__V1__OUTCOME__OUTCOME_REACHED_DECLINES_CONTACT;
}

static void copy_text(char *dst, size_t len, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

/* Loads a case; 1 found, 0 not found, or a positive SQLite error. */
static int load(struct cases *cs, const char *case_id, struct case_state *c)
{
	memset(c, 0, sizeof(*c));
	sqlite3_stmt *st = cs->get;
	sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		copy_text(c->case_id, sizeof(c->case_id), st, 0);
		c->state = sqlite3_column_int(st, 1);
		copy_text(c->responsible, sizeof(c->responsible), st, 2);
		c->risk = sqlite3_column_int(st, 3);
		c->minor = sqlite3_column_int(st, 4);
		c->immediate_danger = sqlite3_column_int(st, 5);
		c->factors = (uint32_t)sqlite3_column_int64(st, 6);
		copy_text(c->return_country, sizeof(c->return_country), st, 7);
		copy_text(c->return_date, sizeof(c->return_date), st, 8);
		copy_text(c->consent_scope, sizeof(c->consent_scope), st, 9);
		c->override = sqlite3_column_int(st, 10);
		c->opened_at_ms = sqlite3_column_int64(st, 11);
		if (sqlite3_column_bytes(st, 12) == RECORD_ID_LEN) {
			c->has_pending = 1;
			memcpy(c->pending_offer_id, sqlite3_column_blob(st, 12), RECORD_ID_LEN);
		}
		copy_text(c->pending_offer_to, sizeof(c->pending_offer_to), st, 13);
		c->pending_offer_at_ms = sqlite3_column_int64(st, 14);
		c->last_attempt_ms = sqlite3_column_int64(st, 15);
		c->last_attempt_channel = sqlite3_column_int(st, 16);
		c->last_attempt_outcome = sqlite3_column_int(st, 17);
		c->last_success_ms = sqlite3_column_int64(st, 18);
		c->attempts = (uint32_t)sqlite3_column_int64(st, 19);
		c->failed_attempts = (uint32_t)sqlite3_column_int64(st, 20);
		c->entries = (uint64_t)sqlite3_column_int64(st, 21);
		c->close_reason = sqlite3_column_int(st, 22);
		c->handed_over_at_ms = sqlite3_column_int64(st, 23);
		c->alert_stage = sqlite3_column_int(st, 24);
		rc = 1;
	} else {
		rc = rc == SQLITE_DONE ? 0 : rc;
	}
	sqlite3_reset(st);
	return rc;
}

static int save(struct cases *cs, const struct case_state *c)
{
	sqlite3_stmt *st = cs->put;
	sqlite3_bind_text(st, 1, c->case_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, c->state);
	sqlite3_bind_text(st, 3, c->responsible, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, c->risk);
	sqlite3_bind_int(st, 5, c->minor);
	sqlite3_bind_int(st, 6, c->immediate_danger);
	sqlite3_bind_int64(st, 7, c->factors);
	sqlite3_bind_text(st, 8, c->return_country, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, c->return_date, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, c->consent_scope, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 11, c->override);
	sqlite3_bind_int64(st, 12, c->opened_at_ms);
	if (c->has_pending)
		sqlite3_bind_blob(st, 13, c->pending_offer_id, RECORD_ID_LEN, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 13);
	sqlite3_bind_text(st, 14, c->has_pending ? c->pending_offer_to : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 15, c->has_pending ? c->pending_offer_at_ms : 0);
	sqlite3_bind_int64(st, 16, c->last_attempt_ms);
	sqlite3_bind_int(st, 17, c->last_attempt_channel);
	sqlite3_bind_int(st, 18, c->last_attempt_outcome);
	sqlite3_bind_int64(st, 19, c->last_success_ms);
	sqlite3_bind_int64(st, 20, c->attempts);
	sqlite3_bind_int64(st, 21, c->failed_attempts);
	sqlite3_bind_int64(st, 22, (sqlite3_int64)c->entries);
	sqlite3_bind_int(st, 23, c->close_reason);
	sqlite3_bind_int64(st, 24, c->handed_over_at_ms);
	sqlite3_bind_int(st, 25, c->alert_stage);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

/* 1 party, 0 not, or a positive SQLite error. */
static int is_party(struct cases *cs, const char *case_id, const char *org)
{
	sqlite3_stmt *st = cs->is_party;
	sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, org, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : rc;
}

static int add_party(struct cases *cs, const char *case_id, const char *org, uint64_t index)
{
	sqlite3_stmt *st = cs->add_party;
	sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, org, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)index);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

static int load_parties(struct cases *cs, struct case_state *c)
{
	sqlite3_stmt *st = cs->parties;
	sqlite3_bind_text(st, 1, c->case_id, -1, SQLITE_STATIC);
	int rc;
	size_t cap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (c->n_parties == cap) {
			cap = cap ? 2 * cap : 8;
			void *n = realloc(c->parties, cap * sizeof(*c->parties));
			if (!n) {
				rc = SQLITE_NOMEM;
				break;
			}
			c->parties = n;
		}
		copy_text(c->parties[c->n_parties++], CASE_ORG_LEN, st, 0);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

/* The answer for a case that does not exist, and for one the peer may not
 * know about: the same words, so a refusal tells nothing. */
static int not_found(const char *case_id, char *why, size_t why_len)
{
	WHY("case %s not found", case_id);
	return VG_ENOTFOUND;
}

static int apply_open(struct cases *cs, struct case_state *c, int exists, int party,
		      const Vigil__V1__Record *rec, const char *org, int role, uint64_t index,
		      int64_t now, char *why, size_t why_len)
{
	const Vigil__V1__CaseOpen *o = rec->case_open;
	if (role != ROLE_COORDINATOR) {
		WHY("only a coordinator opens a case");
		return VG_EPERM;
	}
	if (exists && (!party || c->state != VIGIL__V1__CASE_STATE__CASE_STATE_CLOSED)) {
		/* A pseudonym already taken: say only that, to a non-party. */
		if (party)
			WHY("case %s is already open", rec->case_id);
		else
			WHY("case id %s is not available; choose another pseudonym", rec->case_id);
		return VG_ECONFLICT;
	}
	/* A new case, or a closed one reopened by a coordinator party: the
	 * opener is responsible, the new assessment and basis replace the old,
	 * the history (attempts, last contact) stays. */
	if (!exists) {
		memset(c, 0, sizeof(*c));
		snprintf(c->case_id, sizeof(c->case_id), "%s", rec->case_id);
	}
	c->state = VIGIL__V1__CASE_STATE__CASE_STATE_ACTIVE;
	snprintf(c->responsible, sizeof(c->responsible), "%s", org);
	c->risk = o->risk;
	c->minor = o->minor;
	c->immediate_danger = 0;
	c->factors = 0;
	snprintf(c->return_country, sizeof(c->return_country), "%s", o->return_country);
	snprintf(c->return_date, sizeof(c->return_date), "%s", o->return_date);
	c->override = o->basis_case == VIGIL__V1__CASE_OPEN__BASIS_OVERRIDE;
	snprintf(c->consent_scope, sizeof(c->consent_scope), "%s",
		 c->override ? "" : o->consent->scope);
	c->opened_at_ms = now;
	c->has_pending = 0;
	c->close_reason = 0;
	c->alert_stage = 0;
	int rc = add_party(cs, c->case_id, org, index);
	for (size_t i = 0; rc == 0 && i < o->n_parties; i++)
		rc = add_party(cs, c->case_id, o->parties[i], index);
	return rc;
}

static int apply_contact(struct case_state *c, const Vigil__V1__ContactAttempt *a)
{
	if (a->attempted_at_ms >= c->last_attempt_ms) {
		c->last_attempt_ms = a->attempted_at_ms;
		c->last_attempt_channel = a->channel;
		c->last_attempt_outcome = a->outcome;
	}
	c->attempts++;
	if (cases_outcome_reached(a->outcome)) {
		if (a->attempted_at_ms > c->last_success_ms)
			c->last_success_ms = a->attempted_at_ms;
		c->failed_attempts = 0;
	} else {
		c->failed_attempts++;
	}
	return 0;
}

static int apply_risk(struct case_state *c, const Vigil__V1__RiskAssessment *r, int role,
		      char *why, size_t why_len)
{
	if (role != ROLE_COORDINATOR && role != ROLE_POLICE && role != ROLE_IOM) {
		WHY("only coordinator, police and iom parties assess risk");
		return VG_EPERM;
	}
	if (c->minor && r->level != VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH) {
		WHY("a minor's risk level is never below high");
		return VG_EBADREQ;
	}
	c->risk = r->level;
	c->immediate_danger = r->immediate_danger;
	c->factors = 0;
	for (size_t i = 0; i < r->n_factors; i++)
		c->factors |= 1u << r->factors[i];
	return 0;
}

static int apply_offer(struct case_state *c, const Vigil__V1__Record *rec, const char *org,
		       int64_t now, char *why, size_t why_len)
{
	const Vigil__V1__HandoverOffer *o = rec->handover_offer;
	if (strcmp(org, c->responsible) != 0) {
		WHY("only the responsible organisation (%s) offers a handover", c->responsible);
		return VG_EPERM;
	}
	if (c->has_pending) {
		WHY("an offer to %s is already pending; it must be answered or withdrawn first",
		    c->pending_offer_to);
		return VG_ECONFLICT;
	}
	if (strcmp(o->to, org) == 0) {
		WHY("the case is already with %s", org);
		return VG_EBADREQ;
	}
	c->has_pending = 1;
	memcpy(c->pending_offer_id, rec->record_id.data, RECORD_ID_LEN);
	snprintf(c->pending_offer_to, sizeof(c->pending_offer_to), "%s", o->to);
	c->pending_offer_at_ms = now;
	return 0;
}

static int apply_answer(struct cases *cs, struct case_state *c, const Vigil__V1__Record *rec,
			const char *org, uint64_t index, int64_t now, char *why, size_t why_len)
{
	const Vigil__V1__HandoverAnswer *a = rec->handover_answer;
	if (!c->has_pending || memcmp(a->offer_id.data, c->pending_offer_id, RECORD_ID_LEN) != 0) {
		WHY("that offer is not pending (withdrawn, answered or unknown)");
		return VG_EBADREQ;
	}
	if (strcmp(org, c->pending_offer_to) != 0) {
		WHY("only the offered organisation (%s) answers this offer", c->pending_offer_to);
		return VG_EPERM;
	}
	c->has_pending = 0;
	if (!a->accept)
		return 0;
	snprintf(c->responsible, sizeof(c->responsible), "%s", org);
	c->handed_over_at_ms = now;
	return add_party(cs, c->case_id, org, index);
}

static int apply_withdraw(struct case_state *c, const Vigil__V1__Record *rec, const char *org,
			  char *why, size_t why_len)
{
	if (strcmp(org, c->responsible) != 0) {
		WHY("only the responsible organisation (%s) withdraws its offer", c->responsible);
		return VG_EPERM;
	}
	if (!c->has_pending ||
	    memcmp(rec->handover_withdraw->offer_id.data, c->pending_offer_id, RECORD_ID_LEN) != 0) {
		WHY("that offer is not pending (withdrawn, answered or unknown)");
		return VG_EBADREQ;
	}
	c->has_pending = 0;
	return 0;
}

static int apply_close(struct case_state *c, const Vigil__V1__CaseClose *cl, const char *org,
		       int role, char *why, size_t why_len)
{
	if (role != ROLE_COORDINATOR || strcmp(org, c->responsible) != 0) {
		WHY("only the responsible coordinator closes the case");
		return VG_EPERM;
	}
	c->state = VIGIL__V1__CASE_STATE__CASE_STATE_CLOSED;
	c->close_reason = cl->reason;
	c->has_pending = 0;
	c->alert_stage = 0;
	return 0;
}

int cases_apply(struct cases *cs, const Vigil__V1__Record *rec, const char *org, int role,
		uint64_t index, int64_t now_ms, char *why, size_t why_len)
{
	struct case_state c;
	int exists = load(cs, rec->case_id, &c);
	if (exists < 0 || exists > 1)
		return exists;
	int party = exists ? is_party(cs, rec->case_id, org) : 0;
	if (party > 1)
		return party;
	int rc;
	if (rec->body_case == VIGIL__V1__RECORD__BODY_CASE_OPEN) {
		rc = apply_open(cs, &c, exists, party, rec, org, role, index, now_ms, why, why_len);
	} else {
		/* The offered organisation may answer before it is a party. */
		int offered = exists && rec->body_case == VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER &&
			      c.has_pending && strcmp(c.pending_offer_to, org) == 0;
		if (!exists || (!party && !offered))
			return not_found(rec->case_id, why, why_len);
		if (c.state == VIGIL__V1__CASE_STATE__CASE_STATE_CLOSED) {
			WHY("case %s is closed; a coordinator party reopens it with a case open",
			    rec->case_id);
			return VG_EBADREQ;
		}
		switch (rec->body_case) {
		case VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT:
			rc = apply_contact(&c, rec->contact_attempt);
			break;
		case VIGIL__V1__RECORD__BODY_RISK_ASSESSMENT:
			rc = apply_risk(&c, rec->risk_assessment, role, why, why_len);
			break;
		case VIGIL__V1__RECORD__BODY_HANDOVER_OFFER:
			rc = apply_offer(&c, rec, org, now_ms, why, why_len);
			break;
		case VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER:
			rc = apply_answer(cs, &c, rec, org, index, now_ms, why, why_len);
			break;
		case VIGIL__V1__RECORD__BODY_HANDOVER_WITHDRAW:
			rc = apply_withdraw(&c, rec, org, why, why_len);
			break;
		case VIGIL__V1__RECORD__BODY_CASE_CLOSE:
			rc = apply_close(&c, rec->case_close, org, role, why, why_len);
			break;
		default:
			WHY("this record kind is not accepted yet");
			return VG_EBADREQ;
		}
	}
	if (rc != 0)
		return rc;
	c.entries++;
	return save(cs, &c);
}

static int add_read(struct cases *cs, const char *case_id, const char *org, const char *what,
		    int64_t now)
{
	sqlite3_stmt *st = cs->add_read;
	sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, what, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

static int read_entries(struct cases *cs, const char *case_id, struct case_result *res)
{
	sqlite3_stmt *st = cs->entries;
	sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
	int rc;
	size_t cap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (res->n_entries == cap) {
			cap = cap ? 2 * cap : 16;
			void *n = realloc(res->entries, cap * sizeof(*res->entries));
			if (!n) {
				rc = SQLITE_NOMEM;
				break;
			}
			res->entries = n;
		}
		struct case_entry *e = &res->entries[res->n_entries];
		memset(e, 0, sizeof(*e));
		e->index = (uint64_t)sqlite3_column_int64(st, 0);
		e->received_at_ms = sqlite3_column_int64(st, 1);
		if (sqlite3_column_bytes(st, 2) == SHA256_LEN)
			memcpy(e->cert_sha256, sqlite3_column_blob(st, 2), SHA256_LEN);
		if (sqlite3_column_bytes(st, 5) == SHA256_LEN)
			memcpy(e->leaf_hash, sqlite3_column_blob(st, 5), SHA256_LEN);
		e->record_len = (size_t)sqlite3_column_bytes(st, 3);
		e->sig_len = (size_t)sqlite3_column_bytes(st, 4);
		e->record = malloc(e->record_len ? e->record_len : 1);
		e->sig = malloc(e->sig_len ? e->sig_len : 1);
		res->n_entries++;
		if (!e->record || !e->sig) {
			rc = SQLITE_NOMEM;
			break;
		}
		memcpy(e->record, sqlite3_column_blob(st, 3), e->record_len);
		memcpy(e->sig, sqlite3_column_blob(st, 4), e->sig_len);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

static int read_list(struct cases *cs, const char *org, struct case_result *res)
{
	sqlite3_stmt *st = cs->list;
	sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	int rc;
	size_t cap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (res->n_cases == cap) {
			cap = cap ? 2 * cap : 16;
			void *n = realloc(res->cases, cap * sizeof(*res->cases));
			if (!n) {
				rc = SQLITE_NOMEM;
				break;
			}
			res->cases = n;
		}
		struct case_summary *s = &res->cases[res->n_cases++];
		copy_text(s->case_id, sizeof(s->case_id), st, 0);
		s->state = sqlite3_column_int(st, 1);
		copy_text(s->responsible, sizeof(s->responsible), st, 2);
		s->risk = sqlite3_column_int(st, 3);
		s->minor = sqlite3_column_int(st, 4);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

static int read_readers(struct cases *cs, const char *case_id, struct case_result *res)
{
	sqlite3_stmt *st = cs->reads;
	sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
	int rc;
	size_t cap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (res->n_reads == cap) {
			cap = cap ? 2 * cap : 16;
			void *n = realloc(res->reads, cap * sizeof(*res->reads));
			if (!n) {
				rc = SQLITE_NOMEM;
				break;
			}
			res->reads = n;
		}
		struct case_read *r = &res->reads[res->n_reads++];
		copy_text(r->org, sizeof(r->org), st, 0);
		copy_text(r->what, sizeof(r->what), st, 1);
		r->at_ms = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

int cases_query(struct cases *cs, enum case_query what, const char *case_id, const char *org,
		int role, int64_t now_ms, struct case_result *res, char *why, size_t why_len)
{
	memset(res, 0, sizeof(*res));
	res->what = what;
	if (what == CASE_Q_LIST)
		return read_list(cs, org, res);
	int exists = load(cs, case_id, &res->st);
	if (exists < 0 || exists > 1)
		return exists;
	int party = exists ? is_party(cs, case_id, org) : 0;
	if (party > 1)
		return party;
	if (!party)
		return not_found(case_id, why, why_len);
	int responsible = strcmp(org, res->st.responsible) == 0;
	const char *tag = "status";
	int rc = 0;
	switch (what) {
	case CASE_Q_STATUS:
		rc = load_parties(cs, &res->st);
		break;
	case CASE_Q_LOG:
		if (role != ROLE_COORDINATOR && role != ROLE_IOM && !responsible) {
			WHY("the case's records are for coordinator, iom and responsible parties");
			return VG_EPERM;
		}
		tag = "log";
		rc = read_entries(cs, case_id, res);
		break;
	case CASE_Q_READERS:
		if (role != ROLE_COORDINATOR || !responsible) {
			WHY("only the responsible coordinator lists who read the case");
			return VG_EPERM;
		}
		tag = "readers";
		rc = read_readers(cs, case_id, res);
		break;
	default:
		return VG_EINTERNAL;
	}
	if (rc == 0)
		rc = add_read(cs, case_id, org, tag, now_ms);
	return rc;
}

void cases_result_free(struct case_result *res)
{
	for (size_t i = 0; i < res->n_entries; i++) {
		free(res->entries[i].record);
		free(res->entries[i].sig);
		free(res->entries[i].proof);
	}
	free(res->entries);
	free(res->cases);
	free(res->reads);
	free(res->st.parties);
	memset(res, 0, sizeof(*res));
}
