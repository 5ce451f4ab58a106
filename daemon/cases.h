/*
 * cases.h - the case workflow (DESIGN.md section 5): who may do what to a
 * case, the case's current state, and who read it.
 *
 * Everything here runs on the store's writer thread, inside the batch's
 * transaction, on the writer's connection: a record's rules are checked
 * against the state its predecessors in the same batch left, and the state
 * changes commit or roll back with the entry itself.  The state lives in
 * tables (cases, case_parties, case_reads) updated as records arrive; no
 * query ever rescans the log.
 *
 * A refusal writes nothing.  A peer that is not a party to a case gets
 * exactly what it would get for a case that does not exist.
 */
#ifndef VIGIL_DAEMON_CASES_H
#define VIGIL_DAEMON_CASES_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "proto/merkle.h"
#include "proto/record.h"
#include "proto/vigil.pb-c.h"

#define CASES_SCHEMA                                                                  \
	"CREATE TABLE cases ("                                                        \
	"  case_id TEXT PRIMARY KEY,"                                                 \
	"  state INTEGER NOT NULL,"            /* vigil.v1.CaseState */               \
	"  responsible TEXT NOT NULL,"                                                \
	"  risk INTEGER NOT NULL,"                                                    \
	"  minor INTEGER NOT NULL,"                                                   \
	"  immediate_danger INTEGER NOT NULL,"                                        \
	"  factors INTEGER NOT NULL,"          /* bit set of vigil.v1.RiskFactor */   \
	"  return_country TEXT NOT NULL,"                                             \
	"  return_date TEXT NOT NULL,"                                                \
	"  consent_scope TEXT NOT NULL,"       /* '' when opened under an override */ \
	"  override INTEGER NOT NULL,"                                                \
	"  opened_at_ms INTEGER NOT NULL,"                                            \
	"  pending_offer_id BLOB,"                                                    \
	"  pending_offer_to TEXT NOT NULL,"                                           \
	"  pending_offer_at_ms INTEGER NOT NULL,"                                     \
	"  last_attempt_ms INTEGER NOT NULL,"                                         \
	"  last_attempt_channel INTEGER NOT NULL,"                                    \
	"  last_attempt_outcome INTEGER NOT NULL,"                                    \
	"  last_success_ms INTEGER NOT NULL,"                                         \
	"  attempts INTEGER NOT NULL,"                                                \
	"  failed_attempts INTEGER NOT NULL,"  /* since the last success */           \
	"  entries INTEGER NOT NULL,"                                                 \
	"  close_reason INTEGER NOT NULL,"                                            \
	"  handed_over_at_ms INTEGER NOT NULL,"                                       \
	"  alert_stage INTEGER NOT NULL"                                              \
	") WITHOUT ROWID;"                                                            \
	"CREATE TABLE case_parties ("                                                 \
	"  case_id TEXT NOT NULL,"                                                    \
	"  org TEXT NOT NULL,"                                                        \
	"  since_idx INTEGER NOT NULL,"                                               \
	"  PRIMARY KEY (case_id, org)"                                                \
	") WITHOUT ROWID;"                                                            \
	"CREATE INDEX case_parties_org ON case_parties(org, case_id);"                \
	"CREATE TABLE case_reads ("                                                   \
	"  id INTEGER PRIMARY KEY,"                                                   \
	"  case_id TEXT NOT NULL,"                                                    \
	"  org TEXT NOT NULL,"                                                        \
	"  what TEXT NOT NULL,"                /* status, log, readers */             \
	"  at_ms INTEGER NOT NULL"                                                    \
	");"                                                                          \
	"CREATE INDEX case_reads_case ON case_reads(case_id, id);"

/* Schema 4: the watchdog's state per case, the organisations' roles as
 * their certificates show them, alert entries by position, and how far each
 * organisation has acknowledged its deliveries. */
#define CASES_SCHEMA_4                                                                	"ALTER TABLE cases ADD COLUMN next_event_ms INTEGER NOT NULL DEFAULT 0;"      	"ALTER TABLE cases ADD COLUMN alert_id BLOB;"                                 	"ALTER TABLE cases ADD COLUMN alert_kind INTEGER NOT NULL DEFAULT 0;"         	"ALTER TABLE cases ADD COLUMN alert_raised_ms INTEGER NOT NULL DEFAULT 0;"    	"ALTER TABLE cases ADD COLUMN alert_deadline_ms INTEGER NOT NULL DEFAULT 0;"  	"ALTER TABLE cases ADD COLUMN alert_acked INTEGER NOT NULL DEFAULT 0;"        	"ALTER TABLE cases ADD COLUMN alert_resolve TEXT NOT NULL DEFAULT '';"        	"ALTER TABLE cases ADD COLUMN failed_channels INTEGER NOT NULL DEFAULT 0;"    	"ALTER TABLE cases ADD COLUMN failed_first_org TEXT NOT NULL DEFAULT '';"     	"ALTER TABLE cases ADD COLUMN failed_orgs INTEGER NOT NULL DEFAULT 0;"        	"ALTER TABLE cases ADD COLUMN handover_alerted BLOB;"                         	"CREATE INDEX cases_next_event ON cases(next_event_ms) WHERE next_event_ms > 0;" 	"CREATE TABLE orgs ("                                                         	"  org TEXT PRIMARY KEY,"                                                     	"  role INTEGER NOT NULL,"                                                    	"  country TEXT NOT NULL,"                                                    	"  seen_ms INTEGER NOT NULL"                                                  	") WITHOUT ROWID;"                                                            	"CREATE TABLE alerts ("                                                       	"  position INTEGER PRIMARY KEY,"      /* the alert entry's log index */      	"  case_id TEXT NOT NULL,"                                                    	"  alert_id BLOB NOT NULL,"                                                   	"  stage INTEGER NOT NULL,"                                                   	"  recipients TEXT NOT NULL"           /* organisations, one per line */      	");"                                                                          	"CREATE TABLE delivery_acks ("                                                	"  org TEXT PRIMARY KEY,"                                                     	"  position INTEGER NOT NULL"                                                 	") WITHOUT ROWID;"

#define CASE_ORG_LEN (RECORD_ORG_MAX + 1)

struct case_state {
	char case_id[RECORD_CASE_ID_MAX + 1];
	int state;                         /* vigil.v1.CaseState */
	char responsible[CASE_ORG_LEN];
	int risk;
	int minor;
	int immediate_danger;
	uint32_t factors;
	char return_country[3];
	char return_date[11];
	char consent_scope[CASE_ORG_LEN];
	int override;
	int64_t opened_at_ms;
	int has_pending;
	uint8_t pending_offer_id[RECORD_ID_LEN];
	char pending_offer_to[CASE_ORG_LEN];
	int64_t pending_offer_at_ms;
	int64_t last_attempt_ms;
	int last_attempt_channel;
	int last_attempt_outcome;
	int64_t last_success_ms;
	uint32_t attempts;
	uint32_t failed_attempts;
	uint64_t entries;
	int close_reason;
	int64_t handed_over_at_ms;
	int alert_stage;                   /* 0: no open alert; 1; 2 escalated */
	/* The watchdog (schema 4). */
	int64_t next_event_ms;             /* when the watchdog must look again; 0 never */
	int has_alert;
	uint8_t alert_id[RECORD_ID_LEN];
	int alert_kind;
	int64_t alert_raised_ms;
	int64_t alert_deadline_ms;
	int alert_acked;
	char alert_resolve[24];            /* a resolution to announce: "contact", "closed" */
	uint32_t failed_channels;          /* bit set of channels failed since the last success */
	char failed_first_org[CASE_ORG_LEN];
	int failed_orgs;                   /* organisations that failed since: 0, 1, 2 = several */
	int has_handover_alerted;
	uint8_t handover_alerted[RECORD_ID_LEN];
	char (*parties)[CASE_ORG_LEN];     /* owned; sorted */
	size_t n_parties;
};

struct case_entry {
	uint64_t index;
	int64_t received_at_ms;
	uint8_t cert_sha256[SHA256_LEN];
	uint8_t leaf_hash[SHA256_LEN];
	uint8_t *record;
	size_t record_len;
	uint8_t *sig;
	size_t sig_len;
	merkle_hash *proof;                /* filled after the commit */
	size_t proof_len;
};

struct case_summary {
	char case_id[RECORD_CASE_ID_MAX + 1];
	int state;
	char responsible[CASE_ORG_LEN];
	int risk;
	int minor;
};

struct case_read {
	char org[CASE_ORG_LEN];
	char what[16];
	int64_t at_ms;
};

enum case_query { CASE_Q_STATUS = 1, CASE_Q_LOG, CASE_Q_LIST, CASE_Q_READERS };

/* How much of a case's status a peer sees. */
enum case_view {
	CASE_VIEW_FULL = 0,      /* a party */
	CASE_VIEW_POLICE,        /* a police party: the status codes only */
	CASE_VIEW_OFFERED,       /* the organisation a pending offer names, not yet a party */
};

/* What a case query found (owned; cases_result_free). */
struct case_result {
	enum case_query what;
	enum case_view view;
	int offered;                       /* the asker is named by the pending offer */
	struct case_state st;
	struct case_entry *entries;
	size_t n_entries;
	struct case_summary *cases;
	size_t n_cases;
	struct case_read *reads;
	size_t n_reads;
};

struct cases;

/* The watchdog's windows and thresholds (config.h [watchdog]). */
struct watch_config {
	uint64_t window_ms[4];             /* by vigil.v1.RiskLevel */
	unsigned failed_attempts;
	uint64_t handover_window_ms;
	uint64_t escalate_after_ms;
};

#define WATCH_MAX_RECIPIENTS 64

/* An alert the watchdog decided to raise, escalate or resolve. */
struct watch_event {
	char case_id[RECORD_CASE_ID_MAX + 1];
	int kind;                          /* vigil.v1.AlertKind */
	int stage;                         /* 1, 2; 0: resolved */
	uint8_t alert_id[RECORD_ID_LEN];
	int64_t deadline_ms;
	int64_t last_success_ms;
	uint32_t failed_attempts;
	int police;                        /* vigil.v1.PoliceAdvice */
	char resolution[24];
	char recipients[WATCH_MAX_RECIPIENTS][CASE_ORG_LEN];
	size_t n_recipients;
};

/* Prepares the statements on the writer's connection. */
int cases_open(sqlite3 *db, struct cases **out, char *err, size_t err_len);
void cases_configure(struct cases *cs, const struct watch_config *wc);

/* Records an organisation's role and country as its certificate shows. */
int cases_note_org(struct cases *cs, const char *org, int role, const char *country,
		   int64_t now_ms);

/* The earliest time the watchdog has something to do (0: nothing), via an
 * index: O(log n), never a scan.  0 or a positive SQLite error. */
int cases_next_due(struct cases *cs, int64_t *due_ms);

/*
 * Looks at one case whose time has come (next_event_ms <= now) and decides
 * what it needs: a new alert, an escalation, a resolution or a stalled
 * handover.  Updates the case (its next time included).  Returns 1 with *ev
 * filled when an alert entry is to be written, 0 when nothing (more) is
 * due, or a positive SQLite error.  alert_id of a new alert is new_id.
 */
int cases_watchdog(struct cases *cs, int64_t now_ms, const uint8_t new_id[RECORD_ID_LEN],
		   struct watch_event *ev);

/* An organisation has received its deliveries up to position (kept as the
 * highest acknowledged). */
int cases_delivery_ack(struct cases *cs, const char *org, uint64_t position);

/* Records an alert entry for delivery: its position and recipients. */
int cases_note_alert(struct cases *cs, uint64_t position, const struct watch_event *ev);
void cases_close(struct cases **cs);

/*
 * Checks a new record against the rules and, when it is allowed, updates
 * the case state for the entry about to be stored at index.  Returns VG_OK,
 * or VG_EPERM / VG_EBADREQ / VG_ENOTFOUND / VG_ECONFLICT with the rule in
 * why (nothing written), or a positive SQLite error that must abort the
 * batch.
 */
int cases_apply(struct cases *cs, const Vigil__V1__Record *rec, const char *org, int role,
		uint64_t index, int64_t now_ms, char *why, size_t why_len);

/*
 * Answers a case query for org (with role) and records the read.  Same
 * return convention as cases_apply.  res is filled on VG_OK.
 */
int cases_query(struct cases *cs, enum case_query what, const char *case_id, const char *org,
		int role, int64_t now_ms, struct case_result *res, char *why, size_t why_len);

void cases_result_free(struct case_result *res);

/* 1 for the outcomes that count as reaching her. */
int cases_outcome_reached(int outcome);

#endif
