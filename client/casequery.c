/*
 * casequery.c - the case queries: a case's status, its log with proofs,
 * the list of our cases, and who read a case.
 *
 * The relay's answer is not copied blindly: it must be about the case we
 * asked for, every organisation id, code and hash must have its form, and
 * the case log must prove itself: a checkpoint signed with the checkpoint
 * key, every leaf hash recomputed from its entry, and every inclusion proof
 * leading to that checkpoint's root.  A violation is VIGIL_E_VERIFY.
 *
 * Each answer becomes one malloc()ed block (the struct, then the arrays and
 * bytes it points to), so the caller frees it with one vigil_free().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "proto/merkle.h"
#include "proto/record.h"
#include "proto/status.h"

/* Rounds n up to a multiple of the strictest alignment we store. */
static size_t align_up(size_t n)
{
	const size_t a = sizeof(max_align_t) < 16 ? sizeof(max_align_t) : 16;
	return (n + a - 1) / a * a;
}

/* A code's name; zero_ok: 0 is allowed and named "".  -1 when unknown. */
static int code(int v, const char *(*name)(int), int zero_ok, const char **out)
{
	if (v == 0 && zero_ok) {
		*out = "";
		return 0;
	}
	const char *n = name(v);
	if (!n)
		return -1;
	*out = n;
	return 0;
}

int vigil_case_id_check(const char *case_id, struct vigil_error *err)
{
	return vigil__record_head_check(case_id, 0, err);
}

/* Sends a request about one case (or none) and waits for the answer. */
static int ask(struct vigil_client *c, int msg_case, const char *case_id, int want,
	       const char *waiting_for, Vigil__V1__Frame **out, struct vigil_error *err)
{
	Vigil__V1__GetCaseStatus gs = VIGIL__V1__GET_CASE_STATUS__INIT;
	Vigil__V1__GetCaseLog gl = VIGIL__V1__GET_CASE_LOG__INIT;
	Vigil__V1__GetCaseReaders gr = VIGIL__V1__GET_CASE_READERS__INIT;
	Vigil__V1__ListCases lc = VIGIL__V1__LIST_CASES__INIT;
	Vigil__V1__GetOpenAlerts oa = VIGIL__V1__GET_OPEN_ALERTS__INIT;
	Vigil__V1__Frame req = VIGIL__V1__FRAME__INIT;
	req.msg_case = (Vigil__V1__Frame__MsgCase)msg_case;
	switch (msg_case) {
	case VIGIL__V1__FRAME__MSG_GET_CASE_STATUS:
		gs.case_id = (char *)case_id;
		req.get_case_status = &gs;
		break;
	case VIGIL__V1__FRAME__MSG_GET_CASE_LOG:
		gl.case_id = (char *)case_id;
		req.get_case_log = &gl;
		break;
	case VIGIL__V1__FRAME__MSG_GET_CASE_READERS:
		gr.case_id = (char *)case_id;
		req.get_case_readers = &gr;
		break;
	case VIGIL__V1__FRAME__MSG_GET_OPEN_ALERTS:
		req.get_open_alerts = &oa;
		break;
	default:
		req.list_cases = &lc;
		break;
	}
	return vigil__query_roundtrip(c, &req, want, waiting_for, out, err);
}

/* ---- status ------------------------------------------------------------------------ */

/* Whether the answer carried a field beyond the ten police receive, the
 * pending offer aside (proto3 sends no field that holds its default). */
static int beyond_codes(const Vigil__V1__CaseStatus *m)
{
	return m->n_parties || m->immediate_danger || m->n_factors || m->attempts ||
	       m->failed_attempts || m->return_country[0] || m->return_date[0] ||
	       m->opened_at_ms || m->entries || m->consent_scope[0] || m->override ||
	       m->close_reason;
}

/* Checks the answer's form; NULL when good, else what is wrong. */
static const char *status_check(const Vigil__V1__CaseStatus *m, const char *case_id,
				struct vigil_case_status *st)
{
	if (strcmp(m->case_id, case_id) != 0)
		return "it is about another case";
	switch (m->view) {
	case VIGIL__V1__CASE_VIEW__CASE_VIEW_FULL:
		st->view = "full";
		break;
	case VIGIL__V1__CASE_VIEW__CASE_VIEW_POLICE:
		st->view = "police";
		if (beyond_codes(m))
			return "the police view carries fields police do not receive";
		break;
	case VIGIL__V1__CASE_VIEW__CASE_VIEW_OFFERED:
		st->view = "offered";
		if (beyond_codes(m) || m->last_attempt_ms || m->last_success_ms || m->alert_stage)
			return "the offered view carries fields it withholds";
		break;
	default:
		return "it does not say which view it is";
	}
	if (m->owner[0] && !record_org_ok(m->owner))
		return "the owner is not an organisation id";
	if (code(m->state, record_state_name, 0, &st->state) ||
	    code(m->risk, record_risk_name, 0, &st->risk) ||
	    code(m->last_attempt_channel, record_channel_name, 1, &st->last_attempt_channel) ||
	    code(m->last_attempt_outcome, record_outcome_name, 1, &st->last_attempt_outcome) ||
	    code(m->close_reason, record_close_reason_name, 1, &st->close_reason))
		return "a state, risk level, channel, outcome or close reason it does not know";
	if (!record_org_ok(m->responsible))
		return "the responsible organisation is not an organisation id";
	if ((m->last_attempt_ms == 0) != (m->last_attempt_channel == 0) ||
	    (m->last_attempt_ms == 0) != (m->last_attempt_outcome == 0))
		return "the last attempt has a time without channel and outcome, or the reverse";
	for (size_t i = 0; i < m->n_parties; i++)
		if (!record_org_ok(m->parties[i]))
			return "a party is not an organisation id";
	if (m->n_factors > VIGIL_FACTORS_MAX)
		return "more risk factors than there are";
	unsigned seen = 0;
	for (size_t i = 0; i < m->n_factors; i++) {
		int f = m->factors[i];
		if (code(f, record_factor_name, 0, &st->factors[i]) || (seen & (1u << f)))
			return "an unknown or repeated risk factor";
		seen |= 1u << f;
	}
	int has_to = m->pending_offer_to[0] != '\0', has_id = m->pending_offer_id.len != 0;
	if (has_to != has_id || (has_id && m->pending_offer_id.len != RECORD_ID_LEN) ||
	    (has_to && !record_org_ok(m->pending_offer_to)))
		return "the pending offer lacks its organisation or its 16-byte id";
	if (m->alert_id.len && (m->alert_id.len != RECORD_ID_LEN || !m->alert_stage ||
				code(m->alert_kind, record_alert_kind_name, 0, &st->alert_kind)))
		return "an alert id that is not 16 bytes, without an open alert or a known kind";
	if (!m->alert_id.len && m->alert_kind)
		return "an alert kind without its alert id";
	if (m->view == VIGIL__V1__CASE_VIEW__CASE_VIEW_POLICE &&
	    ((m->alert_id.len && m->alert_stage < 2) || m->next_event_ms))
		return "the police view carries fields police do not receive";
	if (m->view == VIGIL__V1__CASE_VIEW__CASE_VIEW_OFFERED &&
	    (m->alert_id.len || m->next_event_ms))
		return "the offered view carries fields it withholds";
	if (m->next_event_ms < 0)
		return "a negative next event time";
	if (strlen(m->return_country) > 2 || strlen(m->return_date) > 10 ||
	    (m->consent_scope[0] && !record_org_ok(m->consent_scope)))
		return "a return country, return date or consent scope of the wrong form";
	return NULL;
}

int vigil_case_status(vigil_client *c, const char *case_id, struct vigil_case_status **out,
		      struct vigil_error *err)
{
	if (out)
		*out = NULL;
	int rc = vigil__query_usable(c, "vigil_case_status", err);
	if (rc != VIGIL_OK)
		return rc;
	if (!out)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_case_status: out is NULL");
	if ((rc = vigil_case_id_check(case_id, err)) != VIGIL_OK)
		return rc;
	Vigil__V1__Frame *a;
	rc = ask(c, VIGIL__V1__FRAME__MSG_GET_CASE_STATUS, case_id,
		 VIGIL__V1__FRAME__MSG_CASE_STATUS, "waiting for a case status", &a, err);
	if (rc != VIGIL_OK)
		return rc;
	const Vigil__V1__CaseStatus *m = a->case_status;
	size_t head = align_up(sizeof(struct vigil_case_status));
	size_t ptrs = align_up(m->n_parties * sizeof(char *));
	uint8_t *block = calloc(1, head + ptrs + m->n_parties * VIGIL_ORG_LEN);
	if (!block) {
		frame_free(a);
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	}
	struct vigil_case_status *st = (struct vigil_case_status *)(void *)block;
	const char *bad = status_check(m, case_id, st);
	if (bad) {
		rc = vigil__error_set(err, VIGIL_E_VERIFY, "the relay's status of case %s is "
				      "malformed: %s", case_id, bad);
		free(block);
		frame_free(a);
		return rc;
	}
	snprintf(st->case_id, sizeof(st->case_id), "%s", m->case_id);
	snprintf(st->owner, sizeof(st->owner), "%s", m->owner);
	snprintf(st->responsible, sizeof(st->responsible), "%s", m->responsible);
	st->minor = m->minor ? 1 : 0;
	st->last_attempt_ms = m->last_attempt_ms;
	st->last_success_ms = m->last_success_ms;
	st->alert_stage = m->alert_stage;
	st->full = m->view == VIGIL__V1__CASE_VIEW__CASE_VIEW_FULL;
	const char **names = (const char **)(void *)(block + head);
	char *chars = (char *)(block + head + ptrs);
	for (size_t i = 0; i < m->n_parties; i++) {
		snprintf(chars + i * VIGIL_ORG_LEN, VIGIL_ORG_LEN, "%s", m->parties[i]);
		names[i] = chars + i * VIGIL_ORG_LEN;
	}
	st->parties = names;
	st->n_parties = m->n_parties;
	st->immediate_danger = m->immediate_danger ? 1 : 0;
	st->n_factors = m->n_factors;
	for (size_t i = m->n_factors; i < VIGIL_FACTORS_MAX; i++)
		st->factors[i] = "";
	if (m->pending_offer_id.len == RECORD_ID_LEN) {
		st->has_pending_offer = 1;
		snprintf(st->pending_offer_to, sizeof(st->pending_offer_to), "%s",
			 m->pending_offer_to);
		memcpy(st->pending_offer_id, m->pending_offer_id.data, RECORD_ID_LEN);
	}
	st->attempts = m->attempts;
	st->failed_attempts = m->failed_attempts;
	snprintf(st->return_country, sizeof(st->return_country), "%s", m->return_country);
	snprintf(st->return_date, sizeof(st->return_date), "%s", m->return_date);
	st->opened_at_ms = m->opened_at_ms;
	st->entries = m->entries;
	snprintf(st->consent_scope, sizeof(st->consent_scope), "%s", m->consent_scope);
	st->override = m->override ? 1 : 0;
	if (!m->alert_id.len)
		st->alert_kind = "";
	else {
		st->has_alert_id = 1;
		memcpy(st->alert_id, m->alert_id.data, RECORD_ID_LEN);
	}
	st->next_event_ms = m->next_event_ms;
	frame_free(a);
	*out = st;
	return VIGIL_OK;
}

const char *vigil_alert_stage_label(unsigned stage)
{
	switch (stage) {
	case 0: return "none";
	case 1: return "1 (to the case's workers)";
	case 2: return "2 (escalated to the police)";
	default: return "unknown";
	}
}

/* ---- log ---------------------------------------------------------------------------- */

/* Checks entry i of the case log against the verified checkpoint cp. */
static int log_entry_check(const Vigil__V1__CaseLogEntry *le, size_t i, int have_prev,
			   uint64_t prev, const char *case_id, const struct vigil_checkpoint *cp,
			   struct vigil_error *err)
{
	const Vigil__V1__Entry *e = le->entry;
	if (!e)
		return vigil__error_set(err, VIGIL_E_VERIFY, "case log entry %zu carries no entry",
					i);
	/* 2. and 3.: in the checkpoint's tree, in order, its leaf hash right. */
	int rc = vigil__query_entry_check(e, 0, cp->size, have_prev, prev, err);
	if (rc != VIGIL_OK)
		return rc;
	/* 4. A record of this case (an erased record can no longer show it:
	 * only its proof below vouches for it). */
	Vigil__V1__Record *r = e->record_erased ? NULL
			       : vigil__v1__record__unpack(NULL, e->record.len, e->record.data);
	int ours = e->record_erased || (r && strcmp(r->case_id, case_id) == 0);
	if (r)
		vigil__v1__record__free_unpacked(r, NULL);
	if (!ours)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"entry %llu of the case log is not a record of case %s",
					(unsigned long long)e->index, case_id);
	/* 5. Proven to be in the checkpoint's tree. */
	if (le->n_inclusion_proof > MERKLE_MAX_PROOF)
		return vigil__error_set(err, VIGIL_E_VERIFY, "the inclusion proof of entry %llu "
					"has %zu nodes; no proof has more than %d",
					(unsigned long long)e->index, le->n_inclusion_proof,
					MERKLE_MAX_PROOF);
	merkle_hash proof[MERKLE_MAX_PROOF];
	for (size_t k = 0; k < le->n_inclusion_proof; k++) {
		if (le->inclusion_proof[k].len != SHA256_LEN)
			return vigil__error_set(err, VIGIL_E_VERIFY, "the inclusion proof of entry "
						"%llu has a node of %zu bytes",
						(unsigned long long)e->index,
						le->inclusion_proof[k].len);
		memcpy(proof[k], le->inclusion_proof[k].data, SHA256_LEN);
	}
	if (merkle_verify_inclusion(e->index, cp->size, e->leaf_hash.data, proof,
				    le->n_inclusion_proof, cp->root) != VG_OK)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the inclusion proof (%zu nodes) of entry %llu does not "
					"lead to the root of the case log's checkpoint of size %llu",
					le->n_inclusion_proof, (unsigned long long)e->index,
					(unsigned long long)cp->size);
	return VIGIL_OK;
}

/* One page of the log, as received and checked against its own checkpoint. */
struct log_page {
	Vigil__V1__Frame *a;
	struct vigil_checkpoint cp;
};

/* A page's certificates: each one an entry of the page names, none twice.
 * (An entry whose certificate is missing is allowed: an older relay sends
 * none.) */
static int page_certs_check(const Vigil__V1__CaseLog *m, struct vigil_error *err)
{
	if (m->n_certificates > m->n_entries)
		return vigil__error_set(err, VIGIL_E_VERIFY, "the relay sent %zu certificates with "
					"%zu case log entries", m->n_certificates, m->n_entries);
	uint8_t(*seen)[SHA256_LEN] = m->n_certificates ? malloc(m->n_certificates * SHA256_LEN)
						       : NULL;
	if (m->n_certificates && !seen)
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	int rc = VIGIL_OK;
	for (size_t k = 0; rc == VIGIL_OK && k < m->n_certificates; k++) {
		vigil_sha256(m->certificates[k].data, m->certificates[k].len, seen[k]);
		int named = 0;
		for (size_t i = 0; i < m->n_entries && !named; i++)
			named = memcmp(m->entries[i]->entry->cert_sha256.data, seen[k],
				       SHA256_LEN) == 0;
		for (size_t j = 0; j < k && named; j++)
			if (memcmp(seen[j], seen[k], SHA256_LEN) == 0)
				rc = vigil__error_set(err, VIGIL_E_VERIFY,
						      "the case log carries certificate %zu twice",
						      k + 1);
		if (!named && rc == VIGIL_OK)
			rc = vigil__error_set(err, VIGIL_E_VERIFY,
					      "the case log carries certificate %zu, which no entry "
					      "of its page names", k + 1);
	}
	free(seen);
	return rc;
}

/* Asks for the entries after `after` (all when !has_after), at most limit
 * (0: the relay's default), and checks the page: 1. its checkpoint, 2.-5.
 * every entry against it, the first one past `after`. */
static int get_page(struct vigil_client *c, const char *case_id, int has_after, uint64_t after,
		    uint32_t limit, struct log_page *pg, struct vigil_error *err)
{
	Vigil__V1__GetCaseLog gl = VIGIL__V1__GET_CASE_LOG__INIT;
	Vigil__V1__Frame req = VIGIL__V1__FRAME__INIT;
	gl.case_id = (char *)case_id;
	gl.has_after = has_after ? 1 : 0;
	gl.after = has_after ? after : 0;
	gl.limit = limit;
	req.msg_case = VIGIL__V1__FRAME__MSG_GET_CASE_LOG;
	req.get_case_log = &gl;
	pg->a = NULL;
	int rc = vigil__query_roundtrip(c, &req, VIGIL__V1__FRAME__MSG_CASE_LOG,
					"waiting for a case log", &pg->a, err);
	if (rc != VIGIL_OK)
		return rc;
	const Vigil__V1__CaseLog *m = pg->a->case_log;
	const char *note = m->checkpoint ? m->checkpoint : "";
	struct vigil_error e;
	rc = vigil_checkpoint_open(&c->ckey, note, strlen(note), &pg->cp, &e);
	if (rc != VIGIL_OK)
		return vigil__error_set(err, rc, "the case log's checkpoint: %s", e.message);
	if (limit && m->n_entries > limit)
		return vigil__error_set(err, VIGIL_E_VERIFY, "the relay sent %zu case log entries "
					"for a page of at most %u", m->n_entries, (unsigned)limit);
	for (size_t i = 0; i < m->n_entries; i++) {
		rc = log_entry_check(m->entries[i], i, i > 0 || has_after,
				     i ? m->entries[i - 1]->entry->index : after, case_id, &pg->cp,
				     err);
		if (rc != VIGIL_OK)
			return rc;
	}
	if (m->more && m->n_entries == 0)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the relay says there is more of the case log but sent "
					"no entry");
	return page_certs_check(m, err);
}

/* Checks that every page's checkpoint is the last page's tree or a prefix
 * of it (a consistency proof), so every entry is in the last tree. */
static int pages_consistent(struct vigil_client *c, const struct log_page *pg, size_t np,
			    struct vigil_error *err)
{
	const struct vigil_checkpoint *last = &pg[np - 1].cp;
	for (size_t i = 0; i + 1 < np; i++) {
		const struct vigil_checkpoint *cp = &pg[i].cp;
		if (i && cp->size == pg[i - 1].cp.size &&
		    memcmp(cp->root, pg[i - 1].cp.root, VIGIL_HASH_LEN) == 0)
			continue; /* checked with the page before */
		if (cp->size > last->size)
			return vigil__error_set(err, VIGIL_E_VERIFY,
						"the case log's checkpoints went backwards: size "
						"%llu, later %llu", (unsigned long long)cp->size,
						(unsigned long long)last->size);
		if (cp->size == last->size) {
			if (memcmp(cp->root, last->root, VIGIL_HASH_LEN) != 0)
				return vigil__error_set(err, VIGIL_E_VERIFY,
							"two checkpoints of size %llu with "
							"different roots",
							(unsigned long long)cp->size);
			continue;
		}
		if (cp->size == 0)
			continue; /* no entry was proven to it */
		struct vigil_consistency_proof *p = malloc(sizeof(*p));
		if (!p)
			return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
		struct vigil_error e;
		int rc = vigil_get_consistency_proof(c, cp->size, last->size, p, &e);
		if (rc == VIGIL_OK)
			rc = vigil_verify_consistency(p, cp->root, last->root, &e);
		free(p);
		if (rc != VIGIL_OK)
			return vigil__error_set(err, rc, "the case log's checkpoint of size %llu "
						"against the one of size %llu: %s",
						(unsigned long long)cp->size,
						(unsigned long long)last->size, e.message);
	}
	return VIGIL_OK;
}

/* The index of a certificate among the first n of list, or n. */
static size_t cert_find(const struct vigil_certificate *list, size_t n,
			const uint8_t h[SHA256_LEN])
{
	size_t i = 0;
	while (i < n && memcmp(list[i].sha256, h, SHA256_LEN) != 0)
		i++;
	return i;
}

/* One block: the log, the entries, the certificates, then proofs, records,
 * signatures and certificates' bytes.  A certificate that several pages
 * carry is kept once. */
static int build_log(const struct log_page *pg, size_t np, struct vigil_case_log **out,
		     struct vigil_error *err)
{
	size_t n = 0, bytes = 0, nc = 0, n_marks = 0;
	for (size_t k = 0; k < np; k++) {
		const Vigil__V1__CaseLog *m = pg[k].a->case_log;
		n += m->n_entries;
		nc += m->n_certificates;
		for (size_t i = 0; i < m->n_entries; i++) {
			bytes += m->entries[i]->entry->record.len +
				 m->entries[i]->entry->signature.len +
				 m->entries[i]->entry->sealed.len +
				 m->entries[i]->n_inclusion_proof * SHA256_LEN;
			n_marks += m->entries[i]->n_corrected_by;
		}
		for (size_t i = 0; i < m->n_certificates; i++)
			bytes += m->certificates[i].len;
	}
	size_t head = align_up(sizeof(struct vigil_case_log));
	size_t list = align_up(n * sizeof(struct vigil_case_log_entry));
	size_t certs = align_up(nc * sizeof(struct vigil_certificate));
	size_t marks = align_up(n_marks * sizeof(uint64_t));
	uint8_t *block = calloc(1, head + list + certs + marks + bytes);
	if (!block)
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	struct vigil_case_log *log = (struct vigil_case_log *)(void *)block;
	log->checkpoint = pg[np - 1].cp;
	log->n = n;
	log->more = pg[np - 1].a->case_log->more ? 1 : 0;
	log->entries = n ? (struct vigil_case_log_entry *)(void *)(block + head) : NULL;
	struct vigil_certificate *cl =
		nc ? (struct vigil_certificate *)(void *)(block + head + list) : NULL;
	log->certificates = cl;
	uint64_t *mark = (uint64_t *)(void *)(block + head + list + certs);
	uint8_t *p = block + head + list + certs + marks;
	for (size_t k = 0; k < np; k++) {
		const Vigil__V1__CaseLog *m = pg[k].a->case_log;
		for (size_t i = 0; i < m->n_certificates; i++) {
			uint8_t h[SHA256_LEN];
			vigil_sha256(m->certificates[i].data, m->certificates[i].len, h);
			if (cert_find(cl, log->n_certificates, h) < log->n_certificates)
				continue;
			struct vigil_certificate *d = &cl[log->n_certificates++];
			memcpy(d->sha256, h, SHA256_LEN);
			memcpy(p, m->certificates[i].data, m->certificates[i].len);
			d->der = p;
			d->der_len = m->certificates[i].len;
			p += m->certificates[i].len;
		}
	}
	struct vigil_case_log_entry *d = log->entries;
	for (size_t k = 0; k < np; k++) {
		const Vigil__V1__CaseLog *m = pg[k].a->case_log;
		for (size_t i = 0; i < m->n_entries; i++, d++) {
			const Vigil__V1__CaseLogEntry *le = m->entries[i];
			const Vigil__V1__Entry *en = le->entry;
			d->entry.index = en->index;
			d->entry.received_at_ms = en->received_at_ms;
			memcpy(d->entry.cert_sha256, en->cert_sha256.data, SHA256_LEN);
			memcpy(d->entry.leaf_hash, en->leaf_hash.data, SHA256_LEN);
			d->proof_len = le->n_inclusion_proof;
			d->proof_size = pg[k].cp.size;
			memcpy(d->proof_root, pg[k].cp.root, VIGIL_HASH_LEN);
			d->inclusion_proof = (const uint8_t(*)[VIGIL_HASH_LEN])p;
			for (size_t h = 0; h < le->n_inclusion_proof; h++, p += SHA256_LEN)
				memcpy(p, le->inclusion_proof[h].data, SHA256_LEN);
			/* (An erased record has neither record nor signature.) */
			if (en->record.len)
				memcpy(p, en->record.data, en->record.len);
			d->entry.record = p;
			d->entry.record_len = en->record.len;
			p += en->record.len;
			if (en->signature.len)
				memcpy(p, en->signature.data, en->signature.len);
			d->entry.signature = p;
			d->entry.signature_len = en->signature.len;
			p += en->signature.len;
			if (en->sealed.len) {
				memcpy(p, en->sealed.data, en->sealed.len);
				d->entry.sealed = p;
				d->entry.sealed_len = en->sealed.len;
				p += en->sealed.len;
			}
			d->is_correction = le->has_corrects ? 1 : 0;
			d->corrects = le->has_corrects ? le->corrects : 0;
			d->n_corrected_by = le->n_corrected_by;
			d->corrected_by = le->n_corrected_by ? mark : NULL;
			for (size_t h = 0; h < le->n_corrected_by; h++)
				*mark++ = le->corrected_by[h];
			d->entry.content_erased = en->content_erased ? 1 : 0;
			d->entry.record_erased = en->record_erased ? 1 : 0;
			if (en->record_erased) {
				d->entry.record = NULL;
				d->entry.signature = NULL;
			}
		}
	}
	*out = log;
	return VIGIL_OK;
}

/* ---- the links of corrections ------------------------------------------------------ */

/* An entry of the log by index (entries ascending), or NULL. */
static const struct vigil_case_log_entry *entry_at(const struct vigil_case_log *log, uint64_t idx)
{
	size_t lo = 0, hi = log->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (log->entries[mid].entry.index < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < log->n && log->entries[lo].entry.index == idx ? &log->entries[lo] : NULL;
}

/* A record id and its entry, for looking a Correction's target up. */
struct id_at {
	uint8_t id[RECORD_ID_LEN];
	const struct vigil_case_log_entry *e;
};

static int by_id(const void *a, const void *b)
{
	return memcmp(((const struct id_at *)a)->id, ((const struct id_at *)b)->id, RECORD_ID_LEN);
}

static int mark_fail(struct vigil_error *err, const struct vigil_case_log_entry *e,
		     const char *what)
{
	return vigil__error_set(err, VIGIL_E_VERIFY, "entry %llu of the case log: %s",
				(unsigned long long)e->entry.index, what);
}

/*
 * The relay's links between corrections and the records they correct are
 * outside every leaf: they are checked against the signed records wherever
 * the answer has both ends.  A Correction entry is marked as one (and only
 * it); the original it is said to correct is the entry its target_id names,
 * or the original of the correction it names; every correction listed in
 * an entry's corrected_by corrects that entry, and every correction that
 * existed when an entry's page was read is listed there.
 */
static int check_marks(const struct vigil_case_log *log, struct vigil_error *err)
{
	struct id_at *ids = calloc(log->n ? log->n : 1, sizeof(*ids));
	if (!ids)
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	size_t n_ids = 0;
	int rc = VIGIL_OK;
	for (size_t i = 0; i < log->n; i++) {
		const struct vigil_case_log_entry *e = &log->entries[i];
		Vigil__V1__Record *r = e->entry.record_erased ? NULL
				       : vigil__v1__record__unpack(NULL, e->entry.record_len,
								   e->entry.record);
		if (r && r->record_id.len == RECORD_ID_LEN) {
			memcpy(ids[n_ids].id, r->record_id.data, RECORD_ID_LEN);
			ids[n_ids++].e = e;
		}
		int is = r && r->body_case == VIGIL__V1__RECORD__BODY_CORRECTION;
		if (r)
			vigil__v1__record__free_unpacked(r, NULL);
		if (r && is != e->is_correction) {
			rc = mark_fail(err, e, is ? "a correction the relay does not mark as one"
						 : "marked as a correction, but it is none");
			goto out;
		}
		if (e->is_correction && e->corrects >= e->entry.index) {
			rc = mark_fail(err, e, "said to correct a later entry");
			goto out;
		}
		for (size_t k = 0; k < e->n_corrected_by; k++) {
			const struct vigil_case_log_entry *c = entry_at(log, e->corrected_by[k]);
			if (e->corrected_by[k] <= e->entry.index ||
			    (k && e->corrected_by[k] <= e->corrected_by[k - 1]) ||
			    (c && (!c->is_correction || c->corrects != e->entry.index))) {
				rc = mark_fail(err, e, "its list of corrections names an entry that "
						       "does not correct it");
				goto out;
			}
		}
	}
	qsort(ids, n_ids, sizeof(*ids), by_id);
	for (size_t i = 0; i < log->n; i++) {
		const struct vigil_case_log_entry *e = &log->entries[i];
		if (!e->is_correction || e->entry.record_erased)
			continue;
		Vigil__V1__Record *r = vigil__v1__record__unpack(NULL, e->entry.record_len,
								  e->entry.record);
		struct id_at key = { { 0 }, NULL };
		if (r && r->correction->target_id.len == RECORD_ID_LEN)
			memcpy(key.id, r->correction->target_id.data, RECORD_ID_LEN);
		if (r)
			vigil__v1__record__free_unpacked(r, NULL);
		const struct id_at *named = bsearch(&key, ids, n_ids, sizeof(*ids), by_id);
		if (named) {
			uint64_t original = named->e->is_correction ? named->e->corrects
								    : named->e->entry.index;
			if (original != e->corrects) {
				rc = mark_fail(err, e, "the relay names another original than the "
						       "record it corrects");
				goto out;
			}
		}
		const struct vigil_case_log_entry *o = entry_at(log, e->corrects);
		if (o && e->entry.index < o->proof_size) {
			size_t k = 0;
			while (k < o->n_corrected_by && o->corrected_by[k] != e->entry.index)
				k++;
			if (k == o->n_corrected_by) {
				rc = mark_fail(err, o, "a correction of it is missing from its list");
				goto out;
			}
		}
	}
out:
	free(ids);
	return rc;
}

static void pages_free(struct log_page *pg, size_t np)
{
	for (size_t k = 0; k < np; k++)
		frame_free(pg[k].a);
	free(pg);
}

int vigil_case_log_page(vigil_client *c, const char *case_id, int has_after, uint64_t after,
			uint32_t limit, struct vigil_case_log **out, struct vigil_error *err)
{
	if (out)
		*out = NULL;
	int rc = vigil__query_usable(c, "vigil_case_log_page", err);
	if (rc != VIGIL_OK)
		return rc;
	if (!out)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_case_log_page: out is NULL");
	if ((rc = vigil_case_id_check(case_id, err)) != VIGIL_OK)
		return rc;
	if (limit > VIGIL_CASE_LOG_PAGE_MAX)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_case_log_page: limit must be "
					"at most %u (0: %u)", (unsigned)VIGIL_CASE_LOG_PAGE_MAX,
					(unsigned)VIGIL_CASE_LOG_PAGE_DEFAULT);
	struct log_page *pg = calloc(1, sizeof(*pg));
	if (!pg)
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	rc = get_page(c, case_id, has_after, after, limit, pg, err);
	if (rc == VIGIL_OK)
		rc = build_log(pg, 1, out, err);
	if (rc == VIGIL_OK && (rc = check_marks(*out, err)) != VIGIL_OK) {
		vigil_free(*out);
		*out = NULL;
	}
	pages_free(pg, 1);
	return rc;
}

int vigil_case_log(vigil_client *c, const char *case_id, struct vigil_case_log **out,
		   struct vigil_error *err)
{
	if (out)
		*out = NULL;
	int rc = vigil__query_usable(c, "vigil_case_log", err);
	if (rc != VIGIL_OK)
		return rc;
	if (!out)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_case_log: out is NULL");
	if ((rc = vigil_case_id_check(case_id, err)) != VIGIL_OK)
		return rc;
	struct log_page *pg = NULL;
	size_t np = 0, cap = 0;
	int has_after = 0;
	uint64_t after = 0;
	for (;;) {
		if (np == cap) {
			cap = cap ? 2 * cap : 4;
			void *nb = realloc(pg, cap * sizeof(*pg));
			if (!nb) {
				rc = vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
				goto out;
			}
			pg = nb;
		}
		rc = get_page(c, case_id, has_after, after, 0, &pg[np], err);
		np++;
		if (rc != VIGIL_OK)
			goto out;
		const Vigil__V1__CaseLog *m = pg[np - 1].a->case_log;
		if (!m->more)
			break;
		has_after = 1;
		after = m->entries[m->n_entries - 1]->entry->index;
	}
	rc = pages_consistent(c, pg, np, err);
	if (rc == VIGIL_OK)
		rc = build_log(pg, np, out, err);
	if (rc == VIGIL_OK && (rc = check_marks(*out, err)) != VIGIL_OK) {
		vigil_free(*out);
		*out = NULL;
	}
out:
	pages_free(pg, np);
	return rc;
}

/* ---- list and readers ----------------------------------------------------------- */

int vigil_cases(vigil_client *c, struct vigil_case_summary **out, size_t *n,
		struct vigil_error *err)
{
	if (out)
		*out = NULL;
	if (n)
		*n = 0;
	int rc = vigil__query_usable(c, "vigil_cases", err);
	if (rc != VIGIL_OK)
		return rc;
	if (!out || !n)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_cases: out is NULL");
	Vigil__V1__Frame *a;
	rc = ask(c, VIGIL__V1__FRAME__MSG_LIST_CASES, NULL, VIGIL__V1__FRAME__MSG_CASE_LIST,
		 "waiting for the case list", &a, err);
	if (rc != VIGIL_OK)
		return rc;
	const Vigil__V1__CaseList *m = a->case_list;
	struct vigil_case_summary *list = NULL;
	if (m->n_cases && !(list = calloc(m->n_cases, sizeof(*list)))) {
		frame_free(a);
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < m->n_cases; i++) {
		const Vigil__V1__CaseSummary *s = m->cases[i];
		struct vigil_case_summary *d = &list[i];
		if (!record_case_id_ok(s->case_id) || !record_org_ok(s->responsible) ||
		    code(s->state, record_state_name, 0, &d->state) ||
		    code(s->risk, record_risk_name, 0, &d->risk)) {
			free(list);
			frame_free(a);
			return vigil__error_set(err, VIGIL_E_VERIFY,
						"the relay's case list is malformed: line %zu has a "
						"bad case id, organisation, state or risk level",
						i + 1);
		}
		snprintf(d->case_id, sizeof(d->case_id), "%s", s->case_id);
		snprintf(d->responsible, sizeof(d->responsible), "%s", s->responsible);
		d->minor = s->minor ? 1 : 0;
		d->last_success_ms = s->last_success_ms;
		d->next_event_ms = s->next_event_ms;
		d->alert_stage = s->alert_stage;
	}
	*out = list;
	*n = m->n_cases;
	frame_free(a);
	return VIGIL_OK;
}

int vigil_open_alerts(vigil_client *c, struct vigil_open_alert **out, size_t *n,
		      struct vigil_error *err)
{
	if (out)
		*out = NULL;
	if (n)
		*n = 0;
	int rc = vigil__query_usable(c, "vigil_open_alerts", err);
	if (rc != VIGIL_OK)
		return rc;
	if (!out || !n)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_open_alerts: out is NULL");
	Vigil__V1__Frame *a;
	rc = ask(c, VIGIL__V1__FRAME__MSG_GET_OPEN_ALERTS, NULL, VIGIL__V1__FRAME__MSG_OPEN_ALERTS,
		 "waiting for the open alerts", &a, err);
	if (rc != VIGIL_OK)
		return rc;
	const Vigil__V1__OpenAlerts *m = a->open_alerts;
	struct vigil_open_alert *list = NULL;
	if (m->n_alerts && !(list = calloc(m->n_alerts, sizeof(*list)))) {
		frame_free(a);
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < m->n_alerts; i++) {
		const Vigil__V1__OpenAlert *o = m->alerts[i];
		struct vigil_open_alert *d = &list[i];
		int bad = !record_case_id_ok(o->case_id) || o->alert_id.len != RECORD_ID_LEN ||
			  code(o->kind, record_alert_kind_name, 0, &d->kind) ||
			  (o->stage != 1 && o->stage != 2) || o->n_acks > VIGIL_OPEN_ACKS_MAX ||
			  !(d->police = vigil__record_police_name(o->police));
		for (size_t k = 0; !bad && k < o->n_acks; k++) {
			bad = !record_org_ok(o->acks[k]->organisation) ||
			      code(o->acks[k]->decision, record_ack_decision_name, 0,
				   &d->acks[k].decision);
			if (!bad) {
				snprintf(d->acks[k].organisation, VIGIL_ORG_LEN, "%s",
					 o->acks[k]->organisation);
				d->acks[k].at_ms = o->acks[k]->at_ms;
			}
		}
		if (bad) {
			free(list);
			frame_free(a);
			return vigil__error_set(err, VIGIL_E_VERIFY,
						"the relay's open alerts are malformed: alert %zu has "
						"a bad case id, id, kind, stage, advice or "
						"acknowledgement", i + 1);
		}
		snprintf(d->case_id, sizeof(d->case_id), "%s", o->case_id);
		memcpy(d->alert_id, o->alert_id.data, RECORD_ID_LEN);
		d->stage = o->stage;
		d->raised_at_ms = o->raised_at_ms;
		d->escalates_at_ms = o->escalates_at_ms;
		d->deadline_ms = o->deadline_ms;
		d->n_acks = o->n_acks;
	}
	*out = list;
	*n = m->n_alerts;
	frame_free(a);
	return VIGIL_OK;
}

/* A read's "what": a short lower-case word. */
static int what_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n >= sizeof(((struct vigil_case_read *)0)->what))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
			return 0;
	return 1;
}

int vigil_case_readers(vigil_client *c, const char *case_id, struct vigil_case_read **out,
		       size_t *n, struct vigil_error *err)
{
	if (out)
		*out = NULL;
	if (n)
		*n = 0;
	int rc = vigil__query_usable(c, "vigil_case_readers", err);
	if (rc != VIGIL_OK)
		return rc;
	if (!out || !n)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_case_readers: out is NULL");
	if ((rc = vigil_case_id_check(case_id, err)) != VIGIL_OK)
		return rc;
	Vigil__V1__Frame *a;
	rc = ask(c, VIGIL__V1__FRAME__MSG_GET_CASE_READERS, case_id,
		 VIGIL__V1__FRAME__MSG_CASE_READERS, "waiting for the case's readers", &a, err);
	if (rc != VIGIL_OK)
		return rc;
	const Vigil__V1__CaseReaders *m = a->case_readers;
	struct vigil_case_read *list = NULL;
	if (m->n_reads && !(list = calloc(m->n_reads, sizeof(*list)))) {
		frame_free(a);
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < m->n_reads; i++) {
		const Vigil__V1__CaseRead *r = m->reads[i];
		if (!record_org_ok(r->organisation) || !what_ok(r->what) || r->at_ms <= 0) {
			free(list);
			frame_free(a);
			return vigil__error_set(err, VIGIL_E_VERIFY,
						"the relay's readers of case %s are malformed: read "
						"%zu has a bad organisation, what or time", case_id,
						i + 1);
		}
		snprintf(list[i].organisation, sizeof(list[i].organisation), "%s", r->organisation);
		snprintf(list[i].what, sizeof(list[i].what), "%s", r->what);
		list[i].at_ms = r->at_ms;
	}
	*out = list;
	*n = m->n_reads;
	frame_free(a);
	return VIGIL_OK;
}
