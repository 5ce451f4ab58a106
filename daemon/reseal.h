/*
 * reseal.h - sealed texts re-sealed for a handover (proto/README.md,
 * "Re-sealing at a handover").
 *
 * A sealed text is encrypted to the readers of its case at the time it was
 * written.  When the responsible organisation offers the case to one that
 * cannot open some of the earlier texts, it opens each and seals the same
 * P again to the text's recipients and the offered organisation; the
 * commitment, and so the record, its leaf and every proof, stay as they
 * were.  The relay:
 *
 *   - when the offer is appended, notes every sealed text of the case
 *     before it that has no recipient for the offered organisation's
 *     encryption certificate (reseals_plan): those are missing;
 *   - takes re-sealed texts from the offering organisation (Reseal), each
 *     of the accepted form and encrypted to exactly the text's present
 *     recipients that are members' encryption certificates now and the
 *     offered organisation (reseals_take), and holds them with the offer;
 *   - refuses to accept the offer while one is missing (the writer asks
 *     reseals_missing), puts them in place of the old envelopes when it is
 *     accepted (reseals_apply) and drops them when it is declined or
 *     withdrawn, or the case is closed (reseals_drop).
 *
 * An erasure deletes a held copy with the text (store_erase).  A recipient
 * whose certificate is no member's any more (renewed since) is left out of
 * the new envelope: nobody can seal to a certificate it does not have, and
 * its organisation reads with its new key what is sealed to it from now.
 *
 * Threads: the writer's, inside its open transaction.  Every function
 * returns 0 or an SQLite error code that aborts the transaction; a refusal
 * is *status (a vg_status) with the reason in why.
 */
#ifndef VIGIL_DAEMON_RESEAL_H
#define VIGIL_DAEMON_RESEAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>
#include "daemon/db.h"

#include "daemon/casestate.h"
#include "proto/vigil.pb-c.h"

struct directory;
struct reseals;

#define RESEAL_TEXTS_MAX 256        /* texts in one Reseal */
#define RESEAL_LIST_MAX 1000        /* missing indexes named in one answer */

int reseals_open(struct db *db, struct reseals **out, char *err, size_t err_len);
void reseals_close(struct reseals **r);

/*
 * The offer of case_id at offer_idx, to an organisation whose encryption
 * certificate is to (NULL: it has none, and nothing can be re-sealed for
 * it): notes each sealed text of the case before the offer that has no
 * recipient for to as missing.  *n gets their count.
 */
int reseals_plan(struct reseals *r, const char *case_id, uint64_t offer_idx, X509 *to,
		 uint32_t *n);

/*
 * Takes the n re-sealed texts of one Reseal for the offer at offer_idx of
 * case c (its state: the parties whose certificates may be recipients),
 * all or none.  Each must name a text reseals_plan noted (once in the
 * request), pass sealed_check, and have exactly these recipients: those of
 * the text's envelope now that are members' encryption certificates in d,
 * and to.  Refusals (VG_EBADREQ), e.g. "re-sealed text 2 (entry 14): sealed
 * text has no recipient for reader 3 (se-iom-1)" or "entry 9 has no sealed
 * text to re-seal for this offer (none, erased, or readable by TO already)".
 */
int reseals_take(struct reseals *r, const struct case_state *c, uint64_t offer_idx, X509 *to,
		 const struct directory *d, Vigil__V1__ResealedText *const *texts, size_t n,
		 int *status, char *why, size_t why_len);

/*
 * How many texts of the offer are still missing (*n), and the first of
 * them, ascending, into list (cap entries; *listed of them).
 */
int reseals_missing(struct reseals *r, const char *case_id, uint64_t offer_idx, uint32_t *n,
		    uint64_t *list, size_t cap, size_t *listed);

/* The offer was accepted: its re-sealed texts replace the envelopes. */
int reseals_apply(struct reseals *r, const char *case_id, uint64_t offer_idx);

/* The case has no pending offer any more: drops what was held for one. */
int reseals_drop(struct reseals *r, const char *case_id);

#endif
