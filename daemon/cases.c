#include "daemon/cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/identity.h"
#include "proto/status.h"

#define WHY(...) snprintf(why, why_len, __VA_ARGS__)

struct cases {
	sqlite3 *db;
	struct watch_config wc;
	int64_t now_ms;            /* the time of the record or event being applied */
	sqlite3_stmt *get;
	sqlite3_stmt *put;
	sqlite3_stmt *is_party;
	sqlite3_stmt *parties;
	sqlite3_stmt *add_party;
	sqlite3_stmt *add_read;
	sqlite3_stmt *list;
	sqlite3_stmt *reads;
	sqlite3_stmt *entries;
	sqlite3_stmt *note_org;
	sqlite3_stmt *next_due;
	sqlite3_stmt *due_case;
	sqlite3_stmt *party_roles;
	sqlite3_stmt *note_alert;
	sqlite3_stmt *delivery_ack;
};

#define COLUMNS                                                                        \
	"case_id, state, responsible, risk, minor, immediate_danger, factors,"         \
	" return_country, return_date, consent_scope, override, opened_at_ms,"         \
	" pending_offer_id, pending_offer_to, pending_offer_at_ms, last_attempt_ms,"   \
	" last_attempt_channel, last_attempt_outcome, last_success_ms, attempts,"      \
	" failed_attempts, entries, close_reason, handed_over_at_ms, alert_stage,"     \
	" next_event_ms, alert_id, alert_kind, alert_raised_ms, alert_deadline_ms,"    \
	" alert_acked, alert_resolve, failed_channels, failed_first_org, failed_orgs," \
	" handover_alerted"

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
			    "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)" },
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
		{ &cs->note_org, "INSERT OR REPLACE INTO orgs(org, role, country, seen_ms) "
				 "VALUES(?,?,?,?)" },
		{ &cs->next_due, "SELECT min(next_event_ms) FROM cases WHERE next_event_ms > 0" },
		{ &cs->due_case, "SELECT case_id FROM cases WHERE next_event_ms > 0 AND "
				 "next_event_ms <= ? ORDER BY next_event_ms LIMIT 1" },
		{ &cs->party_roles, "SELECT p.org, coalesce(o.role, 0) FROM case_parties p LEFT "
				    "JOIN orgs o ON o.org = p.org WHERE p.case_id = ? ORDER BY p.org" },
		{ &cs->note_alert, "INSERT INTO alerts(position, case_id, alert_id, stage, recipients)"
				   " VALUES(?,?,?,?,?)" },
		{ &cs->delivery_ack, "INSERT INTO delivery_acks(org, position) VALUES(?1, ?2) ON "
				     "CONFLICT(org) DO UPDATE SET position = max(position, ?2)" },
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
				cs->add_read, cs->list, cs->reads, cs->entries, cs->note_org,
				cs->next_due, cs->due_case, cs->party_roles, cs->note_alert,
				cs->delivery_ack };
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
		c->next_event_ms = sqlite3_column_int64(st, 25);
		if (sqlite3_column_bytes(st, 26) == RECORD_ID_LEN) {
			c->has_alert = 1;
			memcpy(c->alert_id, sqlite3_column_blob(st, 26), RECORD_ID_LEN);
		}
		c->alert_kind = sqlite3_column_int(st, 27);
		c->alert_raised_ms = sqlite3_column_int64(st, 28);
		c->alert_deadline_ms = sqlite3_column_int64(st, 29);
		c->alert_acked = sqlite3_column_int(st, 30);
		copy_text(c->alert_resolve, sizeof(c->alert_resolve), st, 31);
		c->failed_channels = (uint32_t)sqlite3_column_int64(st, 32);
		copy_text(c->failed_first_org, sizeof(c->failed_first_org), st, 33);
		c->failed_orgs = sqlite3_column_int(st, 34);
		if (sqlite3_column_bytes(st, 35) == RECORD_ID_LEN) {
			c->has_handover_alerted = 1;
			memcpy(c->handover_alerted, sqlite3_column_blob(st, 35), RECORD_ID_LEN);
		}
		rc = 1;
	} else {
		rc = rc == SQLITE_DONE ? 0 : rc;
	}
	sqlite3_reset(st);
	return rc;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* The silence deadline: the last sign of her (a successful contact, the
 * accepted handover or the opening) plus the window of her risk level. */
static int64_t silence_deadline(const struct cases *cs, const struct case_state *c)
{
	int64_t base = max64(c->last_success_ms, max64(c->handed_over_at_ms, c->opened_at_ms));
	int risk = c->risk >= 1 && c->risk <= 3 ? c->risk : 3;
	return base + (int64_t)cs->wc.window_ms[risk];
}

/* Failed attempts raise the alert early: enough of them, by two or more
 * organisations or on two or more channels. */
static int failed_trigger(const struct cases *cs, const struct case_state *c)
{
	return c->failed_attempts >= cs->wc.failed_attempts &&
	       (c->failed_orgs >= 2 || __builtin_popcount(c->failed_channels) >= 2);
}

static int handover_stall_due(const struct case_state *c)
{
	return c->has_pending && !(c->has_handover_alerted &&
				   memcmp(c->handover_alerted, c->pending_offer_id, RECORD_ID_LEN) == 0);
}

/* When the watchdog must look at this case again (0: never), kept in the
 * row so that the next deadline of all cases is one indexed lookup. */
static int64_t next_event(const struct cases *cs, const struct case_state *c)
{
	if (c->alert_resolve[0])
		return cs->now_ms;
	if (c->state != VIGIL__V1__CASE_STATE__CASE_STATE_ACTIVE)
		return 0;
	int64_t next = INT64_MAX;
	if (c->has_alert) {
		if (c->alert_stage == 1 && !c->alert_acked)
			next = c->alert_raised_ms + (int64_t)cs->wc.escalate_after_ms;
	} else {
		next = failed_trigger(cs, c) ? cs->now_ms : silence_deadline(cs, c);
	}
	if (handover_stall_due(c)) {
		int64_t t = c->pending_offer_at_ms + (int64_t)cs->wc.handover_window_ms;
		if (t < next)
			next = t;
	}
	if (next == INT64_MAX)
		return 0;
	return next > 0 ? next : 1;
}

static int save(struct cases *cs, struct case_state *c)
{
	c->next_event_ms = next_event(cs, c);
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
	sqlite3_bind_int64(st, 26, c->next_event_ms);
	if (c->has_alert)
		sqlite3_bind_blob(st, 27, c->alert_id, RECORD_ID_LEN, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 27);
	sqlite3_bind_int(st, 28, c->alert_kind);
	sqlite3_bind_int64(st, 29, c->alert_raised_ms);
	sqlite3_bind_int64(st, 30, c->alert_deadline_ms);
	sqlite3_bind_int(st, 31, c->alert_acked);
	sqlite3_bind_text(st, 32, c->alert_resolve, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 33, c->failed_channels);
	sqlite3_bind_text(st, 34, c->failed_first_org, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 35, c->failed_orgs);
	if (c->has_handover_alerted)
		sqlite3_bind_blob(st, 36, c->handover_alerted, RECORD_ID_LEN, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 36);
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
	c->failed_attempts = 0;
	c->failed_channels = 0;
	c->failed_orgs = 0;
	c->failed_first_org[0] = '\0';
	int rc = add_party(cs, c->case_id, org, index);
	for (size_t i = 0; rc == 0 && i < o->n_parties; i++)
		rc = add_party(cs, c->case_id, o->parties[i], index);
	return rc;
}

static int apply_contact(struct case_state *c, const Vigil__V1__ContactAttempt *a,
			 const char *org)
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
		c->failed_channels = 0;
		c->failed_orgs = 0;
		c->failed_first_org[0] = '\0';
		/* She was reached: an open alert is resolved, and says so. */
		if (c->has_alert)
			snprintf(c->alert_resolve, sizeof(c->alert_resolve), "contact");
	} else {
		c->failed_attempts++;
		c->failed_channels |= 1u << (a->channel & 31);
		if (c->failed_orgs == 0) {
			snprintf(c->failed_first_org, sizeof(c->failed_first_org), "%s", org);
			c->failed_orgs = 1;
		} else if (strcmp(c->failed_first_org, org) != 0) {
			c->failed_orgs = 2;
		}
	}
	return 0;
}

static int apply_ack(struct case_state *c, const Vigil__V1__AlertAck *a, const char *org,
		     int role, char *why, size_t why_len)
{
	if (role != ROLE_COORDINATOR && strcmp(org, c->responsible) != 0) {
		WHY("only a coordinator party or the responsible organisation acknowledges an alert");
		return VG_EPERM;
	}
	if (!c->has_alert || c->alert_resolve[0] ||
	    memcmp(a->alert_id.data, c->alert_id, RECORD_ID_LEN) != 0) {
		WHY("that alert is not open");
		return VG_EBADREQ;
	}
	c->alert_acked = 1;
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
	if (c->has_alert)
		snprintf(c->alert_resolve, sizeof(c->alert_resolve), "closed");
	return 0;
}

int cases_apply(struct cases *cs, const Vigil__V1__Record *rec, const char *org, int role,
		uint64_t index, int64_t now_ms, char *why, size_t why_len)
{
	struct case_state c;
	cs->now_ms = now_ms;
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
			rc = apply_contact(&c, rec->contact_attempt, org);
			break;
		case VIGIL__V1__RECORD__BODY_ALERT_ACK:
			rc = apply_ack(&c, rec->alert_ack, org, role, why, why_len);
			break;
		case VIGIL__V1__RECORD__BODY_ALERT:
			WHY("alerts are raised by the relay only");
			return VG_EPERM;
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
	static const char *const tags[] = { [CASE_Q_STATUS] = "status", [CASE_Q_LOG] = "log",
					    [CASE_Q_READERS] = "readers" };
	static const char *const refused[] = { [CASE_Q_STATUS] = "status-refused",
					       [CASE_Q_LOG] = "log-refused",
					       [CASE_Q_READERS] = "readers-refused" };
	if (what != CASE_Q_STATUS && what != CASE_Q_LOG && what != CASE_Q_READERS)
		return VG_EINTERNAL;
	/* The organisation a pending offer names may see the status: it is
	 * asked to take the case on, and needs the offer's id to answer. */
	int offered = exists && res->st.has_pending && strcmp(org, res->st.pending_offer_to) == 0;
	int responsible = exists && strcmp(org, res->st.responsible) == 0;
	int refusal = 0;
	if (!party && !(offered && what == CASE_Q_STATUS))
		refusal = not_found(case_id, why, why_len);
	else if (what == CASE_Q_LOG && role != ROLE_COORDINATOR && role != ROLE_IOM && !responsible) {
		WHY("the case's records are for coordinator, iom and responsible parties");
		refusal = VG_EPERM;
	} else if (what == CASE_Q_READERS && (role != ROLE_COORDINATOR || !responsible)) {
		WHY("only the responsible coordinator lists who read the case");
		refusal = VG_EPERM;
	}
	/* Refused attempts are recorded too: access is audited, not only
	 * access granted. */
	int rc;
	if (refusal) {
		rc = add_read(cs, case_id, org, refused[what], now_ms);
		return rc ? rc : refusal;
	}
	res->view = role == ROLE_POLICE ? CASE_VIEW_POLICE : party ? CASE_VIEW_FULL : CASE_VIEW_OFFERED;
	res->offered = offered;
	switch (what) {
	case CASE_Q_STATUS:
		rc = res->view == CASE_VIEW_FULL ? load_parties(cs, &res->st) : 0;
		break;
	case CASE_Q_LOG:
		rc = read_entries(cs, case_id, res);
		break;
	default:
		rc = read_readers(cs, case_id, res);
		break;
	}
	return rc ? rc : add_read(cs, case_id, org, tags[what], now_ms);
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

void cases_configure(struct cases *cs, const struct watch_config *wc)
{
	cs->wc = *wc;
}

int cases_note_org(struct cases *cs, const char *org, int role, const char *country,
		   int64_t now_ms)
{
	sqlite3_stmt *st = cs->note_org;
	sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, role);
	sqlite3_bind_text(st, 3, country, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now_ms);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

int cases_next_due(struct cases *cs, int64_t *due_ms)
{
	sqlite3_stmt *st = cs->next_due;
	int rc = sqlite3_step(st);
	*due_ms = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : rc;
}

static void add_recipient(struct watch_event *ev, const char *org)
{
	for (size_t i = 0; i < ev->n_recipients; i++)
		if (strcmp(ev->recipients[i], org) == 0)
			return;
	if (ev->n_recipients < WATCH_MAX_RECIPIENTS)
		snprintf(ev->recipients[ev->n_recipients++], CASE_ORG_LEN, "%s", org);
}

/* Stage 1 reaches the responsible organisation and every coordinator
 * party; stage 2 every police party as well.  A party's role is the one its
 * certificate showed when it last connected. */
static int recipients(struct cases *cs, const struct case_state *c, int stage, int kind,
		      struct watch_event *ev)
{
	ev->n_recipients = 0;
	add_recipient(ev, c->responsible);
	if (kind == VIGIL__V1__ALERT_KIND__ALERT_KIND_HANDOVER_STALLED)
		return 0;
	sqlite3_stmt *st = cs->party_roles;
	sqlite3_bind_text(st, 1, c->case_id, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int role = sqlite3_column_int(st, 1);
		if (role == ROLE_COORDINATOR || (stage >= 2 && role == ROLE_POLICE))
			add_recipient(ev, (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

static void event_base(struct watch_event *ev, const struct case_state *c)
{
	memset(ev, 0, sizeof(*ev));
	snprintf(ev->case_id, sizeof(ev->case_id), "%s", c->case_id);
	ev->last_success_ms = c->last_success_ms;
	ev->failed_attempts = c->failed_attempts;
}

/* What one due case needs; 1 with *ev, 0 nothing, or an SQLite error. */
static int decide(struct cases *cs, struct case_state *c, int64_t now,
		  const uint8_t new_id[RECORD_ID_LEN], struct watch_event *ev)
{
	int active = c->state == VIGIL__V1__CASE_STATE__CASE_STATE_ACTIVE;
	if (c->alert_resolve[0]) {
		event_base(ev, c);
		ev->kind = c->alert_kind;
		ev->stage = 0;
		memcpy(ev->alert_id, c->alert_id, RECORD_ID_LEN);
		ev->deadline_ms = c->alert_deadline_ms;
		snprintf(ev->resolution, sizeof(ev->resolution), "%s", c->alert_resolve);
		int rc = recipients(cs, c, c->alert_stage, c->alert_kind, ev);
		c->has_alert = 0;
		c->alert_stage = 0;
		c->alert_kind = 0;
		c->alert_acked = 0;
		c->alert_raised_ms = 0;
		c->alert_deadline_ms = 0;
		c->alert_resolve[0] = '\0';
		return rc ? rc : 1;
	}
	if (active && c->has_alert && c->alert_stage == 1 && !c->alert_acked &&
	    now >= c->alert_raised_ms + (int64_t)cs->wc.escalate_after_ms) {
		event_base(ev, c);
		ev->kind = c->alert_kind;
		ev->stage = 2;
		memcpy(ev->alert_id, c->alert_id, RECORD_ID_LEN);
		ev->deadline_ms = c->alert_deadline_ms;
		ev->police = c->minor ? VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_REQUIRED
				      : VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_CONSIDER;
		c->alert_stage = 2;
		int rc = recipients(cs, c, 2, c->alert_kind, ev);
		return rc ? rc : 1;
	}
	if (active && !c->has_alert) {
		int64_t deadline = silence_deadline(cs, c);
		int early = failed_trigger(cs, c);
		if (now >= deadline || early) {
			event_base(ev, c);
			ev->kind = now >= deadline ? VIGIL__V1__ALERT_KIND__ALERT_KIND_SILENCE
						   : VIGIL__V1__ALERT_KIND__ALERT_KIND_FAILED_ATTEMPTS;
			/* No grace for a minor or a returnee in immediate danger. */
			ev->stage = (c->minor || c->immediate_danger) ? 2 : 1;
			ev->police = c->minor ? VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_REQUIRED
				   : ev->stage == 2 ? VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_CONSIDER
				   : VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_NONE;
			ev->deadline_ms = now >= deadline ? deadline : 0;
			memcpy(ev->alert_id, new_id, RECORD_ID_LEN);
			c->has_alert = 1;
			memcpy(c->alert_id, new_id, RECORD_ID_LEN);
			c->alert_kind = ev->kind;
			c->alert_stage = ev->stage;
			c->alert_raised_ms = now;
			c->alert_deadline_ms = ev->deadline_ms;
			c->alert_acked = 0;
			int rc = recipients(cs, c, ev->stage, ev->kind, ev);
			return rc ? rc : 1;
		}
	}
	if (active && handover_stall_due(c) &&
	    now >= c->pending_offer_at_ms + (int64_t)cs->wc.handover_window_ms) {
		event_base(ev, c);
		ev->kind = VIGIL__V1__ALERT_KIND__ALERT_KIND_HANDOVER_STALLED;
		ev->stage = 1;
		ev->deadline_ms = c->pending_offer_at_ms + (int64_t)cs->wc.handover_window_ms;
		memcpy(ev->alert_id, new_id, RECORD_ID_LEN);
		c->has_handover_alerted = 1;
		memcpy(c->handover_alerted, c->pending_offer_id, RECORD_ID_LEN);
		int rc = recipients(cs, c, 1, ev->kind, ev);
		return rc ? rc : 1;
	}
	return 0;
}

int cases_watchdog(struct cases *cs, int64_t now_ms, const uint8_t new_id[RECORD_ID_LEN],
		   struct watch_event *ev)
{
	cs->now_ms = now_ms;
	/* A case whose time came with nothing to do gets its next time and the
	 * search goes on; the bound only guards against a bug. */
	for (int guard = 0; guard < 10000; guard++) {
		sqlite3_stmt *st = cs->due_case;
		sqlite3_bind_int64(st, 1, now_ms);
		int rc = sqlite3_step(st);
		char case_id[RECORD_CASE_ID_MAX + 1] = "";
		if (rc == SQLITE_ROW)
			copy_text(case_id, sizeof(case_id), st, 0);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			return 0;
		if (rc != SQLITE_ROW)
			return rc;
		struct case_state c;
		rc = load(cs, case_id, &c);
		if (rc != 1)
			return rc ? rc : SQLITE_CORRUPT;
		/* next_event() is due only when decide() has something to do, so
		 * each round either writes an event or moves the case on. */
		int got = decide(cs, &c, now_ms, new_id, ev);
		if (got > 1)
			return got;
		if ((rc = save(cs, &c)) != 0)
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
	sqlite3_stmt *st = cs->note_alert;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)position);
	sqlite3_bind_text(st, 2, ev->case_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, ev->alert_id, RECORD_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, ev->stage);
	sqlite3_bind_text(st, 5, list, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

int cases_delivery_ack(struct cases *cs, const char *org, uint64_t position)
{
	sqlite3_stmt *st = cs->delivery_ack;
	sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)position);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
}
