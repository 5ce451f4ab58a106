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
	int alert_stage;
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

/* What a case query found (owned; cases_result_free). */
struct case_result {
	enum case_query what;
	struct case_state st;
	struct case_entry *entries;
	size_t n_entries;
	struct case_summary *cases;
	size_t n_cases;
	struct case_read *reads;
	size_t n_reads;
};

struct cases;

/* Prepares the statements on the writer's connection. */
int cases_open(sqlite3 *db, struct cases **out, char *err, size_t err_len);
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
