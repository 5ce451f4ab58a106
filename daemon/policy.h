/*
 * policy.h - who may do what to a case, and which view of it a reader
 * gets (DESIGN.md section 5), as pure functions of (actor, case state,
 * record or query, member directory, time): no SQLite, no I/O, no clock.
 *
 * Every function returns VG_OK or a negative VG_* refusal (proto/status.h)
 * with the rule in why; the writer maps that to the wire error.  A peer
 * that is not a party to a case gets, for anything about it, exactly the
 * answer it would get if the case did not exist: policy_hidden() says
 * which refusals hide the case, so the caller can audit the probe.
 *
 * Case ids are qualified by their owner: "se-stockholm-coord/SE-2026-0042"
 * belongs to se-stockholm-coord, and only that organisation may open a
 * case under its name, so opening reveals nothing about other
 * organisations' cases.
 */
#ifndef VIGIL_DAEMON_POLICY_H
#define VIGIL_DAEMON_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/casestate.h"
#include "proto/vigil.pb-c.h"

/* Who acts: the organisation of the peer's certificate and its role. */
struct policy_actor {
	const char *org;
	int role;                          /* enum role */
};

enum case_query { CASE_Q_STATUS = 1, CASE_Q_LOG, CASE_Q_LIST, CASE_Q_READERS, CASE_Q_SEAL_READERS,
		  CASE_Q_OPEN_ALERTS };

/* How much of a case's status a reader sees. */
enum case_view {
	CASE_VIEW_FULL = 1,      /* a party */
	CASE_VIEW_POLICE,        /* a police party: the status codes only */
	CASE_VIEW_OFFERED,       /* the organisation a pending offer names, not yet a party */
};

/*
 * Client-supplied times (the record's client_time_ms, a contact's
 * attempted_at_ms, a consent's given_at_ms) may be at most max_skew_ms
 * ahead of received_ms, the relay's receive time.  Backdated times are
 * allowed.  VG_OK or VG_EBADREQ naming the field and the relay's time.
 */
int policy_check_times(const Vigil__V1__Record *rec, int64_t received_ms, uint64_t max_skew_ms,
		       char *why, size_t why_len);

/*
 * May actor append rec to the case c (NULL: no case of that id)?  Checks
 * role, party, owner and responsible rules, the case's state, and that
 * every organisation the record names is a member.
 */
int policy_record(const struct policy_actor *actor, const struct case_state *c,
		  const Vigil__V1__Record *rec, const struct case_members *members, char *why,
		  size_t why_len);

/*
 * May actor ask q about the case case_id, whose state is c (NULL: no such
 * case)?  On VG_OK *view
 * is the view it gets (status) or CASE_VIEW_FULL.  CASE_Q_LIST is always
 * allowed (a peer lists its own cases).
 */
int policy_query(const struct policy_actor *actor, const char *case_id, const struct case_state *c,
		 enum case_query q, enum case_view *view, char *why, size_t why_len);

/*
 * The record a Correction names, as the writer found it: the record it
 * resolves to (the original, also when the name is of an earlier
 * correction) and the body in force for it.  Plain data.
 */
struct correction_target {
	int found;                          /* an entry of that record id exists */
	char case_id[CASE_ID_LEN];          /* the original's case */
	char author[CASE_ORG_LEN];          /* the original's author organisation */
	int kind;                           /* the original's vigil.v1.Record body_case */
	int erased;                         /* the original's record is erased */
	int64_t received_ms;                /* when the relay received the original */
	const Vigil__V1__Record *in_force;  /* its latest correction, or the original itself
					     * (NULL when erased) */
	unsigned corrections;               /* how often it was corrected already */
};

/* A record is corrected at most this often (which bounds the marks of a
 * case log page: CaseLogEntry.corrected_by). */
#define POLICY_CORRECTIONS_MAX 64u

/*
 * May actor correct with rec (a Correction that policy_record() allowed on
 * the case c) the record t describes?  The author's organisation only, a
 * record of the same case, not erased, a contact attempt or a risk
 * assessment, corrected by a body of its kind (a minor's level stays high;
 * a corrected attempted_at no later than the original's receive time plus
 * max_skew_ms), a change to what is in force, and at most
 * POLICY_CORRECTIONS_MAX corrections of one record.  VG_OK, or VG_ENOTFOUND,
 * VG_EPERM or VG_EBADREQ naming the record (proto/README.md, "Corrections").
 */
int policy_correction(const struct policy_actor *actor, const struct case_state *c,
		      const Vigil__V1__Record *rec, const struct correction_target *t,
		      uint64_t max_skew_ms, char *why, size_t why_len);

/* Does the party org (with its role) read the case's records (GetCaseLog):
 * coordinator, iom and shelter parties, the responsible organisation and a
 * party granted the narrative; never police otherwise.  0 for no party.
 * An Erasure is delivered to these: they may hold copies of what it
 * erased. */
int policy_reads_records(const struct case_state *c, const char *org, int role);

/*
 * May actor send re-sealed texts (Reseal) for the offer offer_id of the
 * case case_id, whose state is c (NULL: no such case)?  Only the
 * responsible organisation, for its pending offer: VG_OK, VG_ENOTFOUND for
 * no such case (or one the actor is no party of), VG_EPERM, or VG_EBADREQ
 * "that offer is not pending (withdrawn, answered or unknown)".
 */
int policy_reseal(const struct policy_actor *actor, const char *case_id, const struct case_state *c,
		  const ProtobufCBinaryData *offer_id, char *why, size_t why_len);

/* A reader of sealed text: an organisation and its encryption certificate. */
struct seal_reader {
	char org[CASE_ORG_LEN];
	uint8_t enc_sha256[SHA256_LEN];
};

/*
 * Who a sealed text in rec (by author) must be sealed to (DESIGN.md section
 * 8): the case's parties whose role may see narrative (coordinator, iom,
 * shelter), its owner and its responsible organisation; for a case open
 * (c NULL, or a closed case reopened) the parties it names and the author
 * too; for a handover offer, and while one is pending, also the
 * organisation it is offered to.  Police read no narrative (unless granted,
 * responsible or offered the case).  Only members with an encryption certificate
 * can be readers.  out (RECORD_PARTIES_MAX + 2 entries) is sorted by
 * certificate hash, each once; returns the count.
 */
size_t policy_seal_readers(const struct case_state *c, const Vigil__V1__Record *rec,
			   const char *author, const struct case_members *m,
			   struct seal_reader *out);

/*
 * Are the readers rec's sealed text names exactly policy_seal_readers()?
 * VG_OK (also when rec has no sealed text), or VG_EBADREQ naming the
 * first reader missing or too many, e.g. "sealed note must be sealed to
 * se-shelter-1 too (a reader of this case)".
 */
int policy_check_sealed(const struct case_state *c, const Vigil__V1__Record *rec,
			const char *author, const struct case_members *m, char *why,
			size_t why_len);

/* 1 when a refusal of actor on c (which exists) hides the case: the actor
 * is neither a party nor the organisation a pending offer names. */
int policy_hidden(const struct policy_actor *actor, const struct case_state *c);

/* The audit tag of a refused record or query: "contact-refused", ... */
const char *policy_refused_tag(const Vigil__V1__Record *rec);
const char *policy_query_tag(enum case_query q, int refused);

#endif
