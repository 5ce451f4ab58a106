#include "daemon/reseal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>

#include "daemon/directory.h"
#include "proto/record.h"
#include "proto/sealed.h"
#include "proto/status.h"

struct reseals {
	struct db_stmt *texts;      /* the case's sealed texts before an offer */
	struct db_stmt *note;       /* one missing */
	struct db_stmt *find;       /* a noted one, with the envelope and record now */
	struct db_stmt *put;        /* a re-sealed one taken */
	struct db_stmt *count;      /* how many are missing */
	struct db_stmt *list;       /* which */
	struct db_stmt *apply;      /* accepted: in place of the envelopes */
	struct db_stmt *drop;       /* no offer pending any more */
};

int reseals_open(struct db *db, struct reseals **out, char *err, size_t err_len)
{
	struct reseals *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, err_len, "out of memory");
		return DB_NOMEM;
	}
	static const char *const sql[] = {
		"SELECT s.idx, s.cms FROM entries e JOIN sealed s ON s.idx = e.idx "
		"WHERE e.case_id = ? AND e.idx < ? ORDER BY e.idx",
		"INSERT INTO reseals(case_id, offer_idx, idx, cms) VALUES(?,?,?,NULL) "
		"ON CONFLICT DO NOTHING",
		"SELECT s.cms, e.record FROM reseals r JOIN sealed s ON s.idx = r.idx "
		"JOIN entries e ON e.idx = r.idx WHERE r.case_id = ? AND r.offer_idx = ? "
		"AND r.idx = ?",
		"UPDATE reseals SET cms = ? WHERE case_id = ? AND offer_idx = ? AND idx = ?",
		"SELECT count(*) FROM reseals WHERE case_id = ? AND offer_idx = ? AND cms IS NULL",
		"SELECT idx FROM reseals WHERE case_id = ? AND offer_idx = ? AND cms IS NULL "
		"ORDER BY idx LIMIT ?",
		"UPDATE sealed SET cms = (SELECT r.cms FROM reseals r WHERE r.case_id = ?1 AND "
		"r.offer_idx = ?2 AND r.idx = sealed.idx) WHERE idx IN (SELECT idx FROM reseals "
		"WHERE case_id = ?1 AND offer_idx = ?2 AND cms IS NOT NULL)",
		"DELETE FROM reseals WHERE case_id = ?",
	};
	struct db_stmt **st[] = { &r->texts, &r->note,  &r->find,  &r->put,
				&r->count, &r->list,  &r->apply, &r->drop };
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		int rc = db_prepare(db, sql[i], st[i]);
		if (rc != DB_OK) {
			snprintf(err, err_len, "re-sealed texts: %s", db_errmsg(db));
			reseals_close(&r);
			return rc;
		}
	}
	*out = r;
	return 0;
}

void reseals_close(struct reseals **rp)
{
	struct reseals *r = *rp;
	if (!r)
		return;
	struct db_stmt *st[] = { r->texts, r->note, r->find, r->put,
			       r->count, r->list, r->apply, r->drop };
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++)
		db_finalize(st[i]);
	free(r);
	*rp = NULL;
}

/* Steps a statement that returns no row, and resets it. */
static int run(struct db_stmt *st)
{
	int rc = db_step(st);
	db_reset(st);
	db_clear_bindings(st);
	return rc == DB_DONE || rc == DB_ROW ? 0 : rc;
}

static CMS_ContentInfo *parse_cms(const void *der, int len)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = len > 0 ? d2i_CMS_ContentInfo(NULL, &p, len) : NULL;
	ERR_clear_error();
	return cms;
}

int reseals_plan(struct reseals *r, const char *case_id, uint64_t offer_idx, X509 *to,
		 uint32_t *n)
{
	*n = 0;
	if (!to)
		return 0;
	struct db_stmt *st = r->texts;
	db_bind_text(st, 1, case_id, -1);
	db_bind_int64(st, 2, (int64_t)offer_idx);
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		CMS_ContentInfo *cms = parse_cms(db_column_blob(st, 1),
						 db_column_bytes(st, 1));
		/* An envelope the relay took passed sealed_check; one that no
		 * longer parses is for --verify-db to report, not to re-seal. */
		int readable = !cms || sealed_has_recipient(cms, to);
		CMS_ContentInfo_free(cms);
		if (readable)
			continue;
		db_bind_text(r->note, 1, case_id, -1);
		db_bind_int64(r->note, 2, (int64_t)offer_idx);
		db_bind_int64(r->note, 3, db_column_int64(st, 0));
		if ((rc = run(r->note)) != 0)
			break;
		(*n)++;
		rc = DB_ROW;
	}
	db_reset(st);
	db_clear_bindings(st);
	return rc == DB_DONE || rc == DB_ROW ? 0 : rc;
}

/* Adds x to the set (by pointer: the directory holds one per member). */
static void add(X509 **set, size_t *n, size_t cap, X509 *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < *n; i++)
		if (set[i] == x)
			return;
	if (*n < cap)
		set[(*n)++] = x;
}

/*
 * The recipients a re-sealed text of entry idx must have: of the members'
 * certificates that can be recipients of the case's sealed text (the
 * record's readers and the case's parties, each as the directory has it
 * now), those the envelope has now, and to.  *n 0 when the entry has no
 * text noted for this offer.
 */
static int expected(struct reseals *r, const struct case_state *c, uint64_t offer_idx,
		    uint64_t idx, X509 *to, const struct directory *d, X509 **out, size_t cap,
		    size_t *n)
{
	*n = 0;
	struct db_stmt *st = r->find;
	db_bind_text(st, 1, c->case_id, -1);
	db_bind_int64(st, 2, (int64_t)offer_idx);
	db_bind_int64(st, 3, idx > (uint64_t)INT64_MAX ? -1 : (int64_t)idx);
	int rc = db_step(st);
	if (rc == DB_ROW) {
		rc = DB_DONE;
		X509 *cand[CASE_PARTIES_MAX + SEALED_READERS_MAX];
		size_t nc = 0;
		for (size_t i = 0; i < c->n_parties; i++) {
			const struct member *m = directory_find(d, c->parties[i].org);
			add(cand, &nc, sizeof(cand) / sizeof(cand[0]), m ? m->enc_cert : NULL);
		}
		Vigil__V1__Record *rec = vigil__v1__record__unpack(
			NULL, (size_t)db_column_bytes(st, 1), db_column_blob(st, 1));
		const Vigil__V1__SealedText *t = rec ? record_sealed_text(rec, NULL, NULL) : NULL;
		for (size_t i = 0; t && i < t->n_readers; i++) {
			if (t->readers[i].len != SHA256_LEN)
				continue;
			const struct member *m = directory_find_enc(d, t->readers[i].data);
			add(cand, &nc, sizeof(cand) / sizeof(cand[0]), m ? m->enc_cert : NULL);
		}
		vigil__v1__record__free_unpacked(rec, NULL);
		CMS_ContentInfo *cms = parse_cms(db_column_blob(st, 0),
						 db_column_bytes(st, 0));
		for (size_t i = 0; cms && i < nc; i++)
			if (cand[i] != to && sealed_has_recipient(cms, cand[i]))
				add(out, n, cap - 1, cand[i]);
		CMS_ContentInfo_free(cms);
		add(out, n, cap, to);
	}
	db_reset(st);
	db_clear_bindings(st);
	return rc == DB_DONE ? 0 : rc;
}

int reseals_take(struct reseals *r, const struct case_state *c, uint64_t offer_idx, X509 *to,
		 const struct directory *d, Vigil__V1__ResealedText *const *texts, size_t n,
		 int *status, char *why, size_t why_len)
{
	*status = VG_OK;
	if (n > RESEAL_TEXTS_MAX) {
		*status = VG_EBADREQ;
		snprintf(why, why_len, "a Reseal carries at most %u texts, this one %zu",
			 (unsigned)RESEAL_TEXTS_MAX, n);
		return 0;
	}
	/* Every text is checked before any is taken: all or none. */
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < i; k++)
			if (texts[k]->index == texts[i]->index) {
				*status = VG_EBADREQ;
				snprintf(why, why_len, "re-sealed text %zu names entry %llu again", i + 1,
					 (unsigned long long)texts[i]->index);
				return 0;
			}
	for (size_t i = 0; i < n; i++) {
		uint64_t idx = texts[i]->index;
		X509 *want[SEALED_READERS_MAX + 1];
		size_t nw = 0;
		int rc = to ? expected(r, c, offer_idx, idx, to, d, want,
				       sizeof(want) / sizeof(want[0]), &nw)
			    : 0;
		if (rc != 0)
			return rc;
		if (nw == 0) {
			*status = VG_EBADREQ;
			snprintf(why, why_len, "entry %llu has no sealed text to re-seal for this offer "
				 "(none, erased, or readable by %s already)", (unsigned long long)idx,
				 c->pending_offer_to);
			return 0;
		}
		char w[200];
		CMS_ContentInfo *cms = NULL;
		int vg = sealed_check(texts[i]->sealed.data, texts[i]->sealed.len, &cms, w, sizeof(w));
		if (vg == VG_OK)
			vg = sealed_recipients(cms, want, nw, w, sizeof(w));
		CMS_ContentInfo_free(cms);
		if (vg != VG_OK) {
			*status = vg == VG_ENOMEM ? VG_ENOMEM : VG_EBADREQ;
			snprintf(why, why_len, "re-sealed text %zu (entry %llu): %s", i + 1,
				 (unsigned long long)idx, w);
			return 0;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct db_stmt *st = r->put;
		db_bind_blob(st, 1, texts[i]->sealed.data, (int)texts[i]->sealed.len);
		db_bind_text(st, 2, c->case_id, -1);
		db_bind_int64(st, 3, (int64_t)offer_idx);
		db_bind_int64(st, 4, (int64_t)texts[i]->index);
		int rc = run(st);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int reseals_missing(struct reseals *r, const char *case_id, uint64_t offer_idx, uint32_t *n,
		    uint64_t *list, size_t cap, size_t *listed)
{
	*n = 0;
	if (listed)
		*listed = 0;
	struct db_stmt *st = r->count;
	db_bind_text(st, 1, case_id, -1);
	db_bind_int64(st, 2, (int64_t)offer_idx);
	int rc = db_step(st);
	if (rc == DB_ROW) {
		*n = (uint32_t)db_column_int64(st, 0);
		rc = DB_DONE;
	}
	db_reset(st);
	db_clear_bindings(st);
	if (rc != DB_DONE)
		return rc;
	if (!list || !cap || !*n)
		return 0;
	st = r->list;
	db_bind_text(st, 1, case_id, -1);
	db_bind_int64(st, 2, (int64_t)offer_idx);
	db_bind_int64(st, 3, (int64_t)cap);
	while ((rc = db_step(st)) == DB_ROW && *listed < cap)
		list[(*listed)++] = (uint64_t)db_column_int64(st, 0);
	db_reset(st);
	db_clear_bindings(st);
	return rc == DB_DONE || rc == DB_ROW ? 0 : rc;
}

int reseals_apply(struct reseals *r, const char *case_id, uint64_t offer_idx)
{
	db_bind_text(r->apply, 1, case_id, -1);
	db_bind_int64(r->apply, 2, (int64_t)offer_idx);
	int rc = run(r->apply);
	return rc ? rc : reseals_drop(r, case_id);
}

int reseals_drop(struct reseals *r, const char *case_id)
{
	db_bind_text(r->drop, 1, case_id, -1);
	return run(r->drop);
}
