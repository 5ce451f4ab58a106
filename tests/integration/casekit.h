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

/* CaseOpen by c (a coordinator) with consent, risk high, return SE->RU. */
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
