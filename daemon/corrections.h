/*
 * corrections.h - what a Correction needs from the log, and the table that
 * links each correction to the record it corrects.
 *
 * A Correction names a record by its record id; the relay resolves that
 * name to the original record (a correction of a correction corrects the
 * original), finds the body in force for it (its latest correction, or the
 * original itself), and, once the rules (policy_correction) allow it,
 * reads the case's history with every correction applied, so that
 * casestate_rebuild() can recompute what the history decides.  The table
 * `corrections(idx, case_id, target_idx)` keeps, for each Correction entry,
 * the original it corrects; a case log page is marked from it ("corrects
 * entry M", "corrected by entries N...").
 *
 * Everything here runs on the writer thread, on the writer's connection,
 * inside the batch's transaction (cases.c calls it), so a correction's row
 * commits or rolls back with its entry.  The log itself is never changed:
 * the corrected record stays as it was signed.
 *
 * Errors: VG_OK, VG_ENOMEM, or VG_EIO when SQLite failed
 * (corrections_errmsg and corrections_errcode say what).
 */
#ifndef VIGIL_DAEMON_CORRECTIONS_H
#define VIGIL_DAEMON_CORRECTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/db.h"

#include "daemon/cases.h"
#include "daemon/casestate.h"
#include "daemon/policy.h"
#include "proto/vigil.pb-c.h"

/* Schema 8: the corrections table (store.c creates it). */
#define CORRECTIONS_SCHEMA                                                             \
	"CREATE TABLE corrections ("                                                   \
	"  idx INTEGER PRIMARY KEY,"        /* the Correction entry */                 \
	"  case_id TEXT NOT NULL,"                                                     \
	"  target_idx INTEGER NOT NULL"     /* the original entry it corrects */       \
	");"                                                                           \
	"CREATE INDEX corrections_target ON corrections(target_idx, idx);"            \
	"CREATE INDEX corrections_case ON corrections(case_id, idx);"

struct corrections;

/* Prepares the statements on the writer's connection. */
int corrections_open(struct db *db, struct corrections **out, char *err, size_t err_len);
void corrections_close(struct corrections **k);

/* What the last VG_EIO was about. */
const char *corrections_errmsg(const struct corrections *k);
int corrections_errcode(const struct corrections *k);

/* What a Correction's target_id names, resolved to the original. */
struct correction_found {
	struct correction_target t;        /* for policy_correction(); t.in_force is in_force */
	uint64_t original_idx;             /* the original's log index (t.found) */
	Vigil__V1__Record *in_force;       /* owned: the latest correction, or the original */
};

/* Looks target_id up (t.found 0 when no entry has it).  Free f with
 * corrections_found_free(), whatever this returns. */
int corrections_find(struct corrections *k, const uint8_t target_id[RECORD_ID_LEN],
		     struct correction_found *f);
void corrections_found_free(struct correction_found *f);

/*
 * The history of case_id (struct case_event, in log order) with every
 * correction in the log applied and then now, the correction being
 * applied, to the original at original_idx.  Records erased whole have no
 * event.  *ev is malloc()ed (NULL when *n is 0).
 */
int corrections_history(struct corrections *k, const char *case_id, uint64_t original_idx,
			const Vigil__V1__Correction *now, struct case_event **ev, size_t *n);

/* Notes that the Correction entry at idx corrects the original at
 * original_idx. */
int corrections_note(struct corrections *k, uint64_t idx, const char *case_id,
		     uint64_t original_idx);

/* Marks the entries of a case log page (ascending indexes): the original
 * a Correction corrects, the corrections of each entry. */
int corrections_marks(struct corrections *k, const char *case_id, struct case_entry *e,
		      size_t n);

#endif
