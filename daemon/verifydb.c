#include "daemon/verifydb.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>
#include "daemon/db.h"

#include "daemon/store.h"
#include "proto/merkle.h"
#include "proto/note.h"
#include "proto/record.h"
#include "proto/sealed.h"
#include "proto/status.h"

struct audit {
	struct db *db;
	struct db_stmt *node;
	FILE *out;
	char problem[512];
	/* The certificate of the previous entry, reused while it repeats. */
	uint8_t cert_fp[SHA256_LEN];
	EVP_PKEY *cert_key;
	struct db_stmt *cert;
	/* The members' encryption certificates, from the relay's MemberKey
	 * entries as the audit reaches them (the latest of each member). */
	X509 *keys[4096];
	uint8_t key_hash[4096][SHA256_LEN];
	size_t n_keys;
	/* Corrections: each Correction entry's row in `corrections` names the
	 * original its record's target_id resolves to. */
	struct db_stmt *corr_row;    /* target_idx of a correction entry */
	struct db_stmt *by_id;       /* an entry by record id */
	uint64_t n_corrections;
};

/* The corrections row of entry idx: its target_idx, or -1 without one. */
static int64_t corrects(struct audit *a, uint64_t idx)
{
	db_bind_int64(a->corr_row, 1, (int64_t)idx);
	int64_t t = db_step(a->corr_row) == DB_ROW ? db_column_int64(a->corr_row, 0)
							     : -1;
	db_reset(a->corr_row);
	return t;
}

/* A verified Correction at idx: the original its row names is the one its
 * signed target_id resolves to (the named entry, or the original of a
 * correction it names), earlier in the log and of the same case.  NULL,
 * or what is wrong. */
static const char *check_correction(struct audit *a, uint64_t idx, const Vigil__V1__Record *r)
{
	a->n_corrections++;
	int64_t row = corrects(a, idx);
	if (row < 0)
		return "a correction without its row in corrections";
	db_bind_blob(a->by_id, 1, r->correction->target_id.data, RECORD_ID_LEN);
	const char *why = NULL;
	if (db_step(a->by_id) != DB_ROW) {
		why = "a correction of a record the log does not have";
	} else {
		uint64_t named = (uint64_t)db_column_int64(a->by_id, 0);
		const char *cid = db_column_text(a->by_id, 1);
		int64_t original = corrects(a, named);
		if (original < 0)
			original = (int64_t)named;
		if (named >= idx || !cid || strcmp((const char *)cid, r->case_id) != 0)
			why = "a correction of a record that is not an earlier one of its case";
		else if (original != row)
			why = "its row in corrections names another original than its record";
	}
	db_reset(a->by_id);
	return why;
}

/* A verified entry: keeps the certificate of a MemberKey record, checks
 * the row of a Correction.  NULL, or what is wrong. */
static const char *note_record(struct audit *a, uint64_t idx, const uint8_t *rec, size_t len)
{
	Vigil__V1__Record *r = vigil__v1__record__unpack(NULL, len, rec);
	const char *why = NULL;
	if (r && r->body_case == VIGIL__V1__RECORD__BODY_CORRECTION &&
	    r->correction->target_id.len == RECORD_ID_LEN)
		why = check_correction(a, idx, r);
	if (r && r->body_case == VIGIL__V1__RECORD__BODY_MEMBER_KEY &&
	    r->member_key->encryption_certificate.len && a->n_keys < 4096) {
		const unsigned char *p = r->member_key->encryption_certificate.data;
		X509 *x = d2i_X509(NULL, &p, (long)r->member_key->encryption_certificate.len);
		if (x && sealed_cert_sha256(x, a->key_hash[a->n_keys]) == VG_OK)
			a->keys[a->n_keys++] = x;
		else
			X509_free(x);
	}
	vigil__v1__record__free_unpacked(r, NULL);
	return why;
}

/* A text re-sealed at a handover (reseal.h) has recipients besides the
 * record's readers: each must be a member's key the log holds (MemberKey).
 * 1 when so; 0 with the reason in why. */
static int resealed_ok(const struct audit *a, CMS_ContentInfo *cms, char *why, size_t why_len)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	int nri = ris ? sk_CMS_RecipientInfo_num(ris) : 0;
	for (int i = 0; i < nri; i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
		STACK_OF(CMS_RecipientEncryptedKey) *reks = CMS_RecipientInfo_kari_get0_reks(ri);
		CMS_RecipientEncryptedKey *rek =
			reks ? sk_CMS_RecipientEncryptedKey_value(reks, 0) : NULL;
		int known = 0;
		for (size_t k = 0; rek && k < a->n_keys && !known; k++)
			known = CMS_RecipientEncryptedKey_cert_cmp(rek, a->keys[k]) == 0;
		if (!known) {
			snprintf(why, why_len, "its sealed text has a recipient that is neither a reader "
				 "its record names nor a member's key the log holds");
			return 0;
		}
	}
	return 1;
}

/* Every stored sealed text: of an entry whose record seals one, of the
 * accepted form, encrypted to exactly the readers the record names (their
 * certificates from the MemberKey entries), or, re-sealed at a handover,
 * to member keys the log holds.  0, or 1 with the problem. */
static int check_sealed(struct audit *a)
{
	struct db_stmt *st;
	if (db_prepare(a->db, "SELECT s.idx, s.cms, e.record FROM sealed s LEFT JOIN "
				      "entries e ON e.idx = s.idx ORDER BY s.idx", &st) != DB_OK) {
		snprintf(a->problem, sizeof(a->problem), "reading sealed texts: %s",
			 db_errmsg(a->db));
		return 1;
	}
	int bad = 0;
	while (!bad && db_step(st) == DB_ROW) {
		long long idx = db_column_int64(st, 0);
		char why[256] = "";
		Vigil__V1__Record *r = vigil__v1__record__unpack(
			NULL, (size_t)db_column_bytes(st, 2), db_column_blob(st, 2));
		const Vigil__V1__SealedText *t = r ? record_sealed_text(r, NULL, NULL) : NULL;
		CMS_ContentInfo *cms = NULL;
		if (!t) {
			snprintf(why, sizeof(why), "a sealed text is stored, but its record seals none");
		} else if (sealed_check(db_column_blob(st, 1), (size_t)db_column_bytes(st, 1),
					&cms, why, sizeof(why)) == VG_OK) {
			X509 *readers[SEALED_READERS_MAX];
			size_t n = 0;
			for (size_t i = 0; i < t->n_readers && !why[0]; i++) {
				X509 *x = NULL;
				for (size_t k = a->n_keys; k > 0 && !x; k--)
					if (memcmp(a->key_hash[k - 1], t->readers[i].data, SHA256_LEN) == 0)
						x = a->keys[k - 1];
				if (!x)
					snprintf(why, sizeof(why), "its sealed text's reader %zu is no key "
						 "the log holds (MemberKey)", i + 1);
				else
					readers[n++] = x;
			}
			if (!why[0] && sealed_recipients(cms, readers, n, why, sizeof(why)) != VG_OK &&
			    (size_t)sk_CMS_RecipientInfo_num(CMS_get0_RecipientInfos(cms)) > n &&
			    resealed_ok(a, cms, why, sizeof(why)))
				why[0] = '\0';
		}
		CMS_ContentInfo_free(cms);
		vigil__v1__record__free_unpacked(r, NULL);
		if (why[0]) {
			snprintf(a->problem, sizeof(a->problem), "entry %lld: %s", idx, why);
			bad = 1;
		}
	}
	db_finalize(st);
	return bad;
}

struct ckpt_row {
	uint64_t size;
	uint8_t root[SHA256_LEN];
	long long id;
};

static int cmp_ckpt(const void *a, const void *b)
{
	const struct ckpt_row *x = a, *y = b;
	return x->size < y->size ? -1 : x->size > y->size;
}

/* Frontier emit: a stored node must equal the node the entries make. */
static int check_node(void *ctx, unsigned level, uint64_t index, const uint8_t hash[SHA256_LEN])
{
	struct audit *a = ctx;
	if (level == 0)
		return 0;
	db_bind_int64(a->node, 1, (int)level);
	db_bind_int64(a->node, 2, (int64_t)index);
	int rc = db_step(a->node);
	int ok = rc == DB_ROW && db_column_bytes(a->node, 0) == SHA256_LEN &&
		 memcmp(db_column_blob(a->node, 0), hash, SHA256_LEN) == 0;
	db_reset(a->node);
	if (!ok) {
		snprintf(a->problem, sizeof(a->problem), "tree node (level %u, index %llu): %s",
			 level, (unsigned long long)index,
			 rc == DB_ROW ? "does not match the entries" : "missing");
		return 1;
	}
	return 0;
}

/* The key of the certificate with this fingerprint, checked to hash to it. */
static EVP_PKEY *cert_key(struct audit *a, const uint8_t fp[SHA256_LEN], const char **why)
{
	if (a->cert_key && memcmp(fp, a->cert_fp, SHA256_LEN) == 0)
		return a->cert_key;
	EVP_PKEY_free(a->cert_key);
	a->cert_key = NULL;
	db_bind_blob(a->cert, 1, fp, SHA256_LEN);
	EVP_PKEY *k = NULL;
	const char *reason = "its certificate is not in the database";
	if (db_step(a->cert) == DB_ROW) {
		const unsigned char *der = db_column_blob(a->cert, 0);
		int n = db_column_bytes(a->cert, 0);
		uint8_t h[SHA256_LEN];
		unsigned int hl;
		reason = "its stored certificate does not hash to the entry's fingerprint";
		if (EVP_Digest(der, (size_t)n, h, &hl, EVP_sha256(), NULL) == 1 &&
		    memcmp(h, fp, SHA256_LEN) == 0) {
			X509 *x = d2i_X509(NULL, &der, n);
			reason = "its stored certificate does not parse";
			if (x) {
				k = X509_get_pubkey(x);
				X509_free(x);
			}
		}
	}
	db_reset(a->cert);
	if (k) {
		memcpy(a->cert_fp, fp, SHA256_LEN);
		a->cert_key = k;
	} else {
		*why = reason;
	}
	return k;
}

static int load_checkpoints(struct audit *a, const struct note_verifier *v,
			    struct ckpt_row **rows, size_t *n)
{
	struct db_stmt *st;
	*rows = NULL;
	*n = 0;
	size_t cap = 0;
	if (db_prepare(a->db, "SELECT id, size, root, note FROM checkpoints ORDER BY id", &st) != DB_OK)
		return 2;
	int rc = 0;
	while (rc == 0 && db_step(st) == DB_ROW) {
		long long id = db_column_int64(st, 0);
		uint64_t size = (uint64_t)db_column_int64(st, 1);
		const char *note = db_column_text(st, 3);
		size_t len = (size_t)db_column_bytes(st, 3), text_len;
		struct checkpoint c;
		if (note_open(note, len, v, &text_len) != VG_OK) {
			snprintf(a->problem, sizeof(a->problem),
				 "checkpoint %lld (size %llu): signature does not verify with the "
				 "checkpoint key", id, (unsigned long long)size);
			rc = 1;
		} else if (checkpoint_parse(note, text_len, &c) != VG_OK ||
			   strcmp(c.origin, v->name) != 0 || c.size != size ||
			   db_column_bytes(st, 2) != SHA256_LEN ||
			   memcmp(c.root, db_column_blob(st, 2), SHA256_LEN) != 0) {
			snprintf(a->problem, sizeof(a->problem),
				 "checkpoint %lld (size %llu): the signed note does not match its "
				 "stored size and root", id, (unsigned long long)size);
			rc = 1;
		} else {
			if (*n == cap) {
				cap = cap ? cap * 2 : 256;
				struct ckpt_row *nr = realloc(*rows, cap * sizeof(**rows));
				if (!nr) {
					rc = 2;
					break;
				}
				*rows = nr;
			}
			(*rows)[*n].size = size;
			(*rows)[*n].id = id;
			memcpy((*rows)[*n].root, c.root, SHA256_LEN);
			(*n)++;
		}
	}
	db_finalize(st);
	if (rc == 0)
		qsort(*rows, *n, sizeof(**rows), cmp_ckpt);
	return rc;
}

/* Checks every checkpoint of the frontier's size against its root. */
static int check_roots(struct audit *a, const struct merkle_frontier *f,
		       const struct ckpt_row *rows, size_t n, size_t *next)
{
	uint8_t root[SHA256_LEN];
	int have = 0;
	while (*next < n && rows[*next].size == f->size) {
		if (!have) {
			merkle_frontier_root(f, root);
			have = 1;
		}
		if (memcmp(root, rows[*next].root, SHA256_LEN) != 0) {
			snprintf(a->problem, sizeof(a->problem),
				 "checkpoint %lld (size %llu): its root is not the root of the "
				 "entries", rows[*next].id, (unsigned long long)f->size);
			return 1;
		}
		(*next)++;
	}
	return 0;
}

/* NULL when the entry by (after idx) is an Erasure record, as written by
 * the relay, that names idx (as a whole record when whole); else why not.
 * (The Erasure entry's own signature is checked when the audit reaches it.) */
static const char *erasure_says(struct db_stmt *st, uint64_t idx, int64_t by, int whole)
{
	const char *why = "marked erased, but no Erasure entry after it names it";
	if (by <= (int64_t)idx)
		return why;
	db_bind_int64(st, 1, by);
	if (db_step(st) == DB_ROW) {
		Vigil__V1__Record *r = vigil__v1__record__unpack(
			NULL, (size_t)db_column_bytes(st, 0), db_column_blob(st, 0));
		if (r && r->body_case == VIGIL__V1__RECORD__BODY_ERASURE &&
		    (!whole || r->erasure->whole_record)) {
			for (size_t i = 0; i < r->erasure->n_indexes; i++)
				if (r->erasure->indexes[i] == idx)
					why = NULL;
		}
		vigil__v1__record__free_unpacked(r, NULL);
	}
	db_reset(st);
	return why;
}

int verifydb_run(const struct db_target *t, const char *origin, EVP_PKEY *checkpoint_key,
		 FILE *out)
{
	struct audit a;
	memset(&a, 0, sizeof(a));
	a.out = out;
	struct note_verifier v;
	struct db_stmt *st = NULL, *erasure = NULL;
	uint64_t n_erased[2] = { 0, 0 };   /* sealed texts, records */
	struct ckpt_row *rows = NULL;
	size_t n_rows = 0, next_row = 0;
	int result = 2;
	if (note_verifier_from_key(checkpoint_key, origin, &v) != VG_OK) {
		fprintf(out, "the checkpoint key is not an Ed25519 key\n");
		return 2;
	}
	char open_err[512];
	if (db_open(t, 1, &a.db, open_err, sizeof(open_err)) != DB_OK) {
		fprintf(out, "%s\n", open_err);
		goto out;
	}
	/* One snapshot for the whole audit. */
	if (db_exec(a.db, t->engine == DB_POSTGRESQL
				  ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
				  : "BEGIN") != DB_OK ||
	    db_prepare(a.db, "SELECT hash FROM tree WHERE level=? AND idx=?", &a.node) != DB_OK ||
	    db_prepare(a.db, "SELECT der FROM certs WHERE fp=?", &a.cert) !=
		    DB_OK ||
	    db_prepare(a.db, "SELECT e.idx, e.type, e.received_at_ms, e.cert_fp, e.record,"
			       " e.signature, e.leaf_hash, coalesce(x.what, 0), x.by_idx FROM entries e"
			       " LEFT JOIN erased x ON x.idx = e.idx ORDER BY e.idx", &st) != DB_OK ||
	    db_prepare(a.db, "SELECT record FROM entries WHERE idx=?", &erasure) != DB_OK ||
	    db_prepare(a.db, "SELECT target_idx FROM corrections WHERE idx=?",
			       &a.corr_row) != DB_OK ||
	    db_prepare(a.db, "SELECT idx, case_id FROM entries WHERE record_id=?",
			       &a.by_id) != DB_OK) {
		fprintf(out, "%s: not a vigil database of schema %d: %s\n", t->where,
			STORE_SCHEMA_VERSION, db_errmsg(a.db));
		goto out;
	}
	result = load_checkpoints(&a, &v, &rows, &n_rows);
	if (result != 0)
		goto report;
	result = 1;
	struct merkle_frontier f;
	merkle_frontier_init(&f);
	if (check_roots(&a, &f, rows, n_rows, &next_row) != 0)
		goto report;
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		uint64_t idx = (uint64_t)db_column_int64(st, 0);
		const uint8_t *fp = db_column_blob(st, 3);
		const uint8_t *rec = db_column_blob(st, 4);
		const uint8_t *sig = db_column_blob(st, 5);
		size_t rec_len = (size_t)db_column_bytes(st, 4);
		size_t sig_len = (size_t)db_column_bytes(st, 5);
		const char *why = NULL;
		uint8_t leaf_hash[SHA256_LEN];
		if (idx != f.size) {
			snprintf(a.problem, sizeof(a.problem), "entry %llu: missing",
				 (unsigned long long)f.size);
			goto report;
		}
		int what = db_column_int(st, 7);
		if (what)
			n_erased[what == STORE_ERASED_RECORD]++;
		if (db_column_int(st, 1) != ENTRY_SIGNED_RECORD || !fp ||
		    db_column_bytes(st, 3) != SHA256_LEN ||
		    db_column_bytes(st, 6) != SHA256_LEN) {
			why = "malformed row";
		} else if (what) {
			/* Erased: only a signed Erasure entry after it may say so;
			 * an erased record keeps nothing to hash but its leaf. */
			why = erasure_says(erasure, idx, db_column_int64(st, 8),
					   what == STORE_ERASED_RECORD);
			memcpy(leaf_hash, db_column_blob(st, 6), SHA256_LEN);
			if (!why && what == STORE_ERASED_RECORD && (rec_len || sig_len))
				why = "marked erased, but its record is still there";
		}
		if (!why && what != STORE_ERASED_RECORD && db_column_int(st, 1) ==
			ENTRY_SIGNED_RECORD && fp && db_column_bytes(st, 3) == SHA256_LEN &&
			db_column_bytes(st, 6) == SHA256_LEN) {
			uint8_t *leaf;
			size_t leaf_len;
			if (entry_leaf_encode(db_column_int64(st, 2), fp, rec, rec_len, sig,
					      sig_len, &leaf, &leaf_len) != VG_OK) {
				why = "cannot encode its leaf";
			} else {
				merkle_leaf_hash(leaf, leaf_len, leaf_hash);
				free(leaf);
				EVP_PKEY *k = NULL;
				if (memcmp(leaf_hash, db_column_blob(st, 6), SHA256_LEN) != 0)
					why = "its contents do not hash to its stored leaf hash";
				else
					k = cert_key(&a, fp, &why); /* sets why when NULL */
				if (k && record_verify(k, rec, rec_len, sig, sig_len) != VG_OK)
					why = "its signature does not verify with its certificate";
			}
		}
		if (why) {
			snprintf(a.problem, sizeof(a.problem), "entry %llu: %s",
				 (unsigned long long)idx, why);
			goto report;
		}
		if (what != STORE_ERASED_RECORD && (why = note_record(&a, idx, rec, rec_len))) {
			snprintf(a.problem, sizeof(a.problem), "entry %llu: %s",
				 (unsigned long long)idx, why);
			goto report;
		}
		if (merkle_frontier_append(&f, leaf_hash, check_node, &a) != 0)
			goto report;
		if (check_roots(&a, &f, rows, n_rows, &next_row) != 0)
			goto report;
	}
	if (rc != DB_DONE) {
		snprintf(a.problem, sizeof(a.problem), "reading entries: %s", db_errmsg(a.db));
		goto report;
	}
	if (next_row < n_rows) {
		snprintf(a.problem, sizeof(a.problem),
			 "checkpoint %lld (size %llu): covers entries the log does not have",
			 rows[next_row].id, (unsigned long long)rows[next_row].size);
		goto report;
	}
	if (check_sealed(&a) != 0)
		goto report;
	/* No row without its Correction (one erased whole keeps its row). */
	struct db_stmt *rows_left = NULL;
	int64_t n_rows_left = -1;
	if (db_prepare(a.db, "SELECT count(*) FROM corrections k LEFT JOIN erased x ON "
			       "x.idx = k.idx WHERE coalesce(x.what, 0) < 2", &rows_left) == DB_OK &&
	    db_step(rows_left) == DB_ROW)
		n_rows_left = db_column_int64(rows_left, 0);
	db_finalize(rows_left);
	if (n_rows_left != (int64_t)a.n_corrections) {
		snprintf(a.problem, sizeof(a.problem), "corrections: %lld rows for %llu Correction "
			 "entries", (long long)n_rows_left, (unsigned long long)a.n_corrections);
		goto report;
	}
	uint8_t root[SHA256_LEN];
	char hex[2 * SHA256_LEN + 1];
	merkle_frontier_root(&f, root);
	hex_encode(root, SHA256_LEN, hex);
	fprintf(out, "log OK: %llu entries, root %s\n", (unsigned long long)f.size, hex);
	if (n_erased[0] || n_erased[1])
		fprintf(out, "erased: %llu records (only their leaf hash is kept), %llu sealed "
			"texts; each named by a signed Erasure entry\n",
			(unsigned long long)n_erased[1], (unsigned long long)n_erased[0]);
	result = 0;
	goto out;
report:
	fprintf(out, "%s\n", a.problem[0] ? a.problem : "cannot read the database");
out:
	free(rows);
	db_finalize(st);
	db_finalize(erasure);
	db_finalize(a.node);
	db_finalize(a.cert);
	db_finalize(a.corr_row);
	db_finalize(a.by_id);
	EVP_PKEY_free(a.cert_key);
	for (size_t i = 0; i < a.n_keys; i++)
		X509_free(a.keys[i]);
	db_close(&a.db);
	return result;
}
