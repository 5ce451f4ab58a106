/*
 * casekit.h - building, signing and submitting the case records in the
 * integration tests (CaseOpen, RiskAssessment, handovers, CaseClose), and
 * the case queries.
 */
#ifndef VIGIL_TESTS_CASEKIT_H
#define VIGIL_TESTS_CASEKIT_H

#include "harness.h"

/* A record with the common fields set: random id, case, author, now. */
void casekit_record(Vigil__V1__Record *r, uint8_t id[RECORD_ID_LEN], const char *case_id,
		    const char *author);

/* Packs, signs with the client's key and submits r; the answer frame. */
Vigil__V1__Frame *casekit_submit(struct tclient *c, const Vigil__V1__Record *r);
/* The same with the envelope of s beside it (s NULL: none). */
Vigil__V1__Frame *casekit_submit_sealed(struct tclient *c, const Vigil__V1__Record *r,
					const struct tsealed *s);
/* The case's readers as the relay gives them (GetSealReaders, which it
 * records as a read); when it refuses, the client's own organisation, so
 * that a record the relay refuses anyway can still be sealed. */
size_t casekit_seal_readers(struct tclient *c, const char *case_id,
			    char orgs[][RECORD_ORG_MAX + 1], size_t max);
/* Seals text as field of r (its record id and case) to the case's readers
 * and to also (NULL: nobody more), as libvigil would; the caller puts
 * s->text into r's sealed field and frees s (tsealed_free). */
void casekit_seal(struct tclient *c, const Vigil__V1__Record *r, int field, const char *text,
		  const char *also, struct tsealed *s);

/* CaseOpen by c (a coordinator) with consent, risk high, return SE->RU.
 * (The offers and answers below seal their justification and decline
 * reason to the case's readers: casekit_offer(..., with_consent 0) and
 * casekit_answer(..., accept 0) ask the relay who they are.) */
Vigil__V1__Frame *casekit_open(struct tclient *c, const char *case_id, const char *const *parties,
			       size_t n_parties, int risk, int minor);

/* Opens case_id on the relay as se-stockholm-coord with the parties
 * iom-ru-moscow, se-police-noa and se-shelter-1; fails the test if refused. */
void trelay_open_case(struct trelay *t, const char *case_id);

Vigil__V1__Frame *casekit_risk(struct tclient *c, const char *case_id, int level,
			       int immediate_danger);
Vigil__V1__Frame *casekit_offer(struct tclient *c, const char *case_id, const char *to,
				uint8_t offer_id[RECORD_ID_LEN], int with_consent);
Vigil__V1__Frame *casekit_answer(struct tclient *c, const char *case_id,
				 const uint8_t offer_id[RECORD_ID_LEN], int accept);
Vigil__V1__Frame *casekit_withdraw(struct tclient *c, const char *case_id,
				   const uint8_t offer_id[RECORD_ID_LEN]);
Vigil__V1__Frame *casekit_close(struct tclient *c, const char *case_id);
Vigil__V1__Frame *casekit_contact(struct tclient *c, const char *case_id, int outcome);

/* Case queries: GetCaseStatus, GetCaseLog, ListCases, GetCaseReaders. */
Vigil__V1__Frame *casekit_status(struct tclient *c, const char *case_id);
Vigil__V1__Frame *casekit_log(struct tclient *c, const char *case_id);
/* GetCaseLog with paging: entries after `after` (all when !has_after), at
 * most limit (0: the relay's default). */
Vigil__V1__Frame *casekit_log_page(struct tclient *c, const char *case_id, int has_after,
				   uint64_t after, uint32_t limit);
Vigil__V1__Frame *casekit_list(struct tclient *c);
Vigil__V1__Frame *casekit_readers(struct tclient *c, const char *case_id);

/* The wire name of an answer: "RECEIPT", or the error code's name. */
const char *casekit_outcome(const Vigil__V1__Frame *a);

#endif
