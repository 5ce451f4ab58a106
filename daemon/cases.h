/*
 * cases.h - the case tables and the pure case rules brought together: this
 * module loads a case's state (cases, case_parties; roles from the member
 * directory), asks policy.c whether a record or query is allowed,
 * casestate.c and watchdog.c what it changes, and saves the result.  It
 * decides nothing itself.
 *
 * Everything here runs on the store's writer thread, inside the batch's
 * transaction, on the writer's connection: a record's rules are checked
 * against the state its predecessors in the same batch left, and the state
 * changes commit or roll back with the entry itself.  No query ever
 * rescans the log.
 *
 * Errors: every function returns VG_OK, a negative VG_* refusal with the
 * rule in why (nothing stored but the audit row of a refused probe), or
 * VG_EIO when SQLite failed, which must abort the batch; cases_errmsg()
 * then says what failed.
 */
#ifndef VIGIL_DAEMON_CASES_H
#define VIGIL_DAEMON_CASES_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/db.h"

#include "daemon/casestate.h"
#include "daemon/policy.h"
#include "daemon/watchdog.h"
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

/* Schema 5: the case's owner (its opener), the acknowledgement that
 * re-arms the watchdog, a new responsible organisation to tell of the open
 * alert, and the open handover_stalled alert with its resolution and the
 * organisation it was raised to.  Owners
 * of older cases are the authors of their first entry (the CaseOpen). */
#define CASES_SCHEMA_5                                                                \
	"ALTER TABLE cases ADD COLUMN owner TEXT NOT NULL DEFAULT '';"                \
	"ALTER TABLE cases ADD COLUMN acked_ms INTEGER NOT NULL DEFAULT 0;"           \
	"ALTER TABLE cases ADD COLUMN alert_notify TEXT NOT NULL DEFAULT '';"         \
	"ALTER TABLE cases ADD COLUMN stall_id BLOB;"                                 \
	"ALTER TABLE cases ADD COLUMN stall_resolve TEXT NOT NULL DEFAULT '';"        \
	"ALTER TABLE cases ADD COLUMN stall_org TEXT NOT NULL DEFAULT '';"            \
	"UPDATE cases SET owner = coalesce((SELECT author FROM entries e WHERE "       \
	"  e.case_id = cases.case_id ORDER BY idx LIMIT 1), responsible);"

struct case_entry {
	uint64_t index;
	int64_t received_at_ms;
	uint8_t cert_sha256[SHA256_LEN];
	uint8_t leaf_hash[SHA256_LEN];
	uint8_t *record;
	size_t record_len;
	uint8_t *sig;
	size_t sig_len;
	uint8_t *sealed;                   /* its sealed text (CMS), NULL when none */
	size_t sealed_len;
	int erased;                        /* 0, STORE_ERASED_CONTENT or _RECORD */
	int has_corrects;                  /* a Correction of the entry at corrects */
	uint64_t corrects;
	uint64_t *corrected_by;            /* its corrections, ascending (malloc()ed) */
	size_t n_corrected_by;
	merkle_hash *proof;                /* filled after the commit */
	size_t proof_len;
};

struct case_summary {
	char case_id[CASE_ID_LEN];
	int state;
	char responsible[CASE_ORG_LEN];
	int risk;
	int minor;
	int64_t last_success_ms;
	int64_t next_event_ms;             /* when the watchdog next acts (0: nothing) */
	int alert_stage;                   /* of the open alert; 0: none */
	int stalled;                       /* a stalled handover's alert is open */
};

struct case_read {
	char org[CASE_ORG_LEN];
	char what[24];
	int64_t at_ms;
};

/* Case log paging (GetCaseLog): entries with index > after (all when
 * !has_after), at most limit (1..CASE_LOG_PAGE_MAX). */
#define CASE_LOG_PAGE_DEFAULT 100
#define CASE_LOG_PAGE_MAX 1000
struct case_page {
	uint64_t after;
	int has_after;
	uint32_t limit;
};

/* An open alert for CASE_Q_OPEN_ALERTS, with the acknowledgements seen. */
#define CASE_ACKS_MAX 8
struct case_open_alert {
	struct watch_open open;
	struct {
		char org[CASE_ORG_LEN];
		int decision;
		int64_t at_ms;
	} acks[CASE_ACKS_MAX];
	size_t n_acks;
};

/* What a case query found (owned; cases_result_free). */
struct case_result {
	enum case_query what;
	enum case_view view;
	int offered;                       /* the asker is named by the pending offer */
	struct case_state st;
	struct case_entry *entries;
	size_t n_entries;
	int more;                          /* CASE_Q_LOG: entries past this page */
	struct case_summary *cases;
	size_t n_cases;
	struct case_read *reads;
	size_t n_reads;
	struct seal_reader seal_readers[RECORD_PARTIES_MAX + 2]; /* CASE_Q_SEAL_READERS */
	size_t n_seal_readers;
	struct case_open_alert *open_alerts;  /* CASE_Q_OPEN_ALERTS */
	size_t n_open_alerts;
};

struct cases;

/* Prepares the statements on the writer's connection. */
int cases_open(struct db *db, struct cases **out, char *err, size_t err_len);
/* The watchdog's windows and the member directory (before the first
 * record); both are copied, members' context must outlive the object. */
void cases_configure(struct cases *cs, const struct watch_config *wc,
		     const struct case_members *members);
void cases_close(struct cases **cs);

/* What the last VG_EIO was about: SQLite's message and result code. */
const char *cases_errmsg(const struct cases *cs);
int cases_errcode(const struct cases *cs);

/* Records an organisation's role and country as its certificate shows
 * (when it was last seen; roles for the rules come from the directory). */
int cases_note_org(struct cases *cs, const char *org, int role, const char *country,
		   int64_t now_ms);

/* The earliest time the watchdog has something to do (0: nothing), via an
 * index: O(log n), never a scan. */
int cases_next_due(struct cases *cs, int64_t *due_ms);

/*
 * Takes one case whose time has come (next_event_ms <= now) and lets the
 * watchdog decide.  Returns 1 with *ev filled when an alert entry is to be
 * written, 0 when nothing (more) is due, or VG_EIO.  A new alert's id is
 * new_id.
 */
int cases_watchdog(struct cases *cs, int64_t now_ms, const uint8_t new_id[RECORD_ID_LEN],
		   struct watch_event *ev);

/* An organisation has received its deliveries up to position (kept as the
 * highest acknowledged). */
int cases_delivery_ack(struct cases *cs, const char *org, uint64_t position);

/*
 * Records an entry for delivery in the alerts table: its position, case,
 * alert id, stage and recipients.  An alert, or an Erasure entry (ev's
 * alert_id its record id, stage 0): the table is what is delivered, not
 * what is open; AlertAck and the watchdog never read it (the case's open
 * alert is in the case's row).
 */
int cases_note_alert(struct cases *cs, uint64_t position, const struct watch_event *ev);

/*
 * Checks a new record (received at now_ms) against the rules and, when it
 * is allowed, updates the case for the entry about to be stored at index.
 * A refused probe of a case the author may not see is recorded beside the
 * refused reads.
 */
/* One batch of the retention rules: entries of one closed case to erase. */
#define CASES_RETENTION_MAX 500
struct cases_retention_batch {
	char case_id[CASE_ID_LEN];
	int whole;                         /* erase the records too (record_after_close) */
	uint64_t indexes[CASES_RETENTION_MAX];
	size_t n;
	char parties[CASE_PARTIES_MAX][CASE_ORG_LEN];  /* the Erasure's recipients */
	size_t n_parties;
};

/*
 * The next batch the retention rules erase at now: the sealed texts of the
 * case closed longest ago, content_after_ms or more ago (0: never), or,
 * record_after_ms or more ago (0: never), its records (all but erasures
 * and requests for them), at most CASES_RETENTION_MAX entries.  When the
 * batch is the case's last for that tier, the case is marked so (in the
 * caller's transaction).  1: a batch in *b; 2: a case marked with nothing
 * left to erase; 0: nothing due; or VG_EIO.
 */
int cases_retention(struct cases *cs, int64_t now, uint64_t content_after_ms,
		    uint64_t record_after_ms, struct cases_retention_batch *b);

/* When the retention rules are next due for a closed case (its sealed
 * texts or its records), in *due_ms; 0 when for none.  VG_OK or VG_EIO. */
int cases_retention_next(struct cases *cs, uint64_t content_after_ms, uint64_t record_after_ms,
			 int64_t *due_ms);

struct store_erasable;

/*
 * May org erase what rec (an EraseRequest) names?  The same rules as
 * cases_apply (times, the owner), then the target t as the store found it
 * (store_erase_lookup; NULL when there is none): an entry of this case,
 * not an erasure record, not erased already, with sealed text for a
 * content erasure.  On VG_OK the case's parties (the Erasure's recipients)
 * are copied into parties (CASE_PARTIES_MAX).  Changes nothing but the
 * audit of a hidden probe.
 */
int cases_erase_check(struct cases *cs, const Vigil__V1__Record *rec, const char *org, int role,
		      const struct store_erasable *t, int64_t now_ms, char *why,
		      size_t why_len, char parties[][CASE_ORG_LEN], size_t *n_parties);

/* The checks of cases_apply that come before the record's effect (its
 * times, and may org write it to the case), changing nothing but the audit
 * of a hidden probe: for a check that must come between them and the
 * effect. */
int cases_permit(struct cases *cs, const Vigil__V1__Record *rec, const char *org, int role,
		 int64_t now_ms, char *why, size_t why_len);

/* May org (role) send re-sealed texts for offer_id of case_id
 * (policy_reseal)?  On VG_OK the case is in *c.  Or VG_EIO. */
int cases_reseal_check(struct cases *cs, const char *case_id, const ProtobufCBinaryData *offer_id,
		       const char *org, int role, struct case_state *c, char *why,
		       size_t why_len);

int cases_apply(struct cases *cs, const Vigil__V1__Record *rec, const char *org, int role,
		uint64_t index, int64_t now_ms, char *why, size_t why_len);

/* Answers a case query for org (with role) and records the read, refused
 * or not.  res is filled on VG_OK. */
int cases_query(struct cases *cs, enum case_query what, const char *case_id, const char *org,
		int role, const struct case_page *page, int64_t now_ms, struct case_result *res,
		char *why, size_t why_len);

void cases_result_free(struct case_result *res);

#endif
