/*
 * seal.c - sealed text on the client (vigil.h, "sealed text"): our own
 * encryption certificate and key, the member list kept for the connection,
 * the case's readers (GetSealReaders and the rules a case open or handover
 * offer adds), sealing a record's free text to them, and opening and
 * checking what others sealed to us.
 *
 * The primitives (P, the commitment, the CMS envelope, its form and
 * recipients) are proto/sealed.c's, shared with the relay; this file only
 * decides whom to seal to and what a failure means to the caller.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "client/internal.h"
#include "proto/record.h"
#include "proto/sealed.h"
#include "proto/status.h"

/* ---- our encryption certificate and key ------------------------------------------ */

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int load_cert(const char *path, X509 **out, struct vigil_error *err)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return vigil__error_set(err, VIGIL_E_IO, "cannot read encryption certificate %s: %s",
					path, strerror(errno));
	ERR_clear_error();
	*out = PEM_read_X509(f, NULL, no_passphrase, NULL);
	fclose(f);
	if (!*out)
		return vigil__error_ssl(err, VIGIL_E_IO, "cannot load encryption certificate %s",
					path);
	return VIGIL_OK;
}

static int load_key(const char *path, EVP_PKEY **out, struct vigil_error *err)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return vigil__error_set(err, VIGIL_E_IO, "cannot read encryption key %s: %s", path,
					strerror(errno));
	ERR_clear_error();
	*out = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
	fclose(f);
	if (!*out)
		return vigil__error_ssl(err, VIGIL_E_IO, "cannot load encryption key %s", path);
	return VIGIL_OK;
}

int vigil__seal_keys_load(struct vigil_client *c, const struct vigil_options *o,
			  struct vigil_error *err)
{
	int has_cert = o->enc_cert_file && o->enc_cert_file[0];
	int has_key = o->enc_key_file && o->enc_key_file[0];
	if (!has_cert && !has_key)
		return VIGIL_OK;
	if (has_cert != has_key)
		return vigil__error_set(err, VIGIL_E_USAGE,
					"give both an encryption certificate and its key, or "
					"neither (no encryption %s given)", has_cert ? "key" : "certificate");
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	int rc = load_cert(o->enc_cert_file, &x, err);
	if (rc == VIGIL_OK)
		rc = load_key(o->enc_key_file, &k, err);
	if (rc != VIGIL_OK)
		goto fail;
	char why[160];
	if (sealed_enc_cert_check(x, c->self.organisation, c->self.role, c->self.country, why,
				  sizeof(why)) != VG_OK) {
		rc = vigil__error_set(err, VIGIL_E_IO,
				      "encryption certificate %s is not an encryption certificate "
				      "of our organisation: %s", o->enc_cert_file, why);
		goto fail;
	}
	X509_STORE_CTX *xs = X509_STORE_CTX_new();
	if (!xs || X509_STORE_CTX_init(xs, SSL_CTX_get_cert_store(c->ctx), x, NULL) != 1) {
		X509_STORE_CTX_free(xs);
		rc = vigil__error_ssl(err, VIGIL_E_NOMEM, "cannot check encryption certificate %s",
				      o->enc_cert_file);
		goto fail;
	}
	int ok = X509_verify_cert(xs) == 1;
	int verr = X509_STORE_CTX_get_error(xs);
	X509_STORE_CTX_free(xs);
	if (!ok) {
		rc = vigil__error_set(err, VIGIL_E_IO,
				      "encryption certificate %s does not verify against the CA: %s",
				      o->enc_cert_file, X509_verify_cert_error_string(verr));
		goto fail;
	}
	if (X509_check_private_key(x, k) != 1) {
		rc = vigil__error_set(err, VIGIL_E_IO,
				      "encryption key %s does not belong to encryption certificate %s",
				      o->enc_key_file, o->enc_cert_file);
		goto fail;
	}
	if (sealed_cert_sha256(x, c->enc_sha256) != VG_OK) {
		rc = vigil__error_ssl(err, VIGIL_E_IO, "cannot hash encryption certificate %s",
				      o->enc_cert_file);
		goto fail;
	}
	c->enc_cert = x;
	c->enc_key = k;
	ERR_clear_error();
	return VIGIL_OK;
fail:
	X509_free(x);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return rc;
}

void vigil__seal_free(struct vigil_client *c)
{
	X509_free(c->enc_cert);
	EVP_PKEY_free(c->enc_key);
	c->enc_cert = NULL;
	c->enc_key = NULL;
	for (size_t i = 0; c->member_enc && i < c->n_members; i++)
		X509_free(c->member_enc[i]);
	free(c->member_enc);
	free(c->member_enc_sha256);
	free(c->members);
	c->member_enc = NULL;
	c->member_enc_sha256 = NULL;
	c->members = NULL;
	c->n_members = 0;
	c->have_members = 0;
}

/* ---- the member list, once per connection ------------------------------------------ */

/* Fetches the member list (every encryption certificate checked by
 * vigil_members) unless it is kept already. */
static int members_load(struct vigil_client *c, struct vigil_error *err)
{
	if (c->have_members)
		return VIGIL_OK;
	struct vigil_member *list = NULL;
	size_t n = 0;
	int rc = vigil_members(c, &list, &n, err);
	if (rc != VIGIL_OK)
		return rc;
	X509 **x = calloc(n ? n : 1, sizeof(*x));
	uint8_t(*h)[SHA256_LEN] = calloc(n ? n : 1, sizeof(*h));
	if (!x || !h) {
		free(x);
		free(h);
		free(list);
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		if (!list[i].encryption_cert)
			continue;
		const unsigned char *p = list[i].encryption_cert;
		x[i] = d2i_X509(NULL, &p, (long)list[i].encryption_cert_len);
		if (!x[i] || sealed_cert_sha256(x[i], h[i]) != VG_OK) {
			/* vigil_members parsed it; only memory can fail here. */
			for (size_t k = 0; k <= i; k++)
				X509_free(x[k]);
			free(x);
			free(h);
			free(list);
			ERR_clear_error();
			return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
		}
	}
	c->members = list;
	c->n_members = n;
	c->member_enc = x;
	c->member_enc_sha256 = h;
	c->have_members = 1;
	return VIGIL_OK;
}

/* The member's index, or SIZE_MAX (the list is sorted bytewise). */
static size_t member_find(const struct vigil_client *c, const char *org)
{
	size_t lo = 0, hi = c->n_members;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(c->members[mid].organisation, org);
		if (cmp == 0)
			return mid;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

static int reads_narrative(const char *role)
{
	return strcmp(role, "coordinator") == 0 || strcmp(role, "iom") == 0 ||
	       strcmp(role, "shelter") == 0;
}

/* ---- whom to seal to ------------------------------------------------------------- */

#define READERS_CAP (SEALED_READERS_MAX + 2 + RECORD_PARTIES_MAX)

struct readers {
	size_t idx[READERS_CAP];       /* member indexes, each once */
	size_t n;
};

static void readers_add(struct readers *r, size_t idx)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->idx[i] == idx)
			return;
	if (r->n < READERS_CAP)
		r->idx[r->n++] = idx;
}

/* An organisation the record itself makes a reader (the author of a case
 * open, its named parties with roles that read narrative, a handover
 * offer's organisation): added when it is a member with an encryption
 * certificate, as the relay's rule has it.  One that is no member is left
 * to the relay, which refuses the record for it. */
static void readers_add_local(struct vigil_client *c, struct readers *r, const char *org,
			      int narrative_only)
{
	size_t i = member_find(c, org);
	if (i == SIZE_MAX || !c->member_enc[i])
		return;
	if (narrative_only && !reads_narrative(c->members[i].role))
		return;
	readers_add(r, i);
}

/* GetSealReaders: the case's readers as the relay has them, each checked
 * against the member list. */
static int readers_ask(struct vigil_client *c, const char *case_id, struct readers *r,
		       struct vigil_error *err)
{
	Vigil__V1__GetSealReaders g = VIGIL__V1__GET_SEAL_READERS__INIT;
	g.case_id = (char *)case_id;
	Vigil__V1__Frame req = VIGIL__V1__FRAME__INIT;
	req.msg_case = VIGIL__V1__FRAME__MSG_GET_SEAL_READERS;
	req.get_seal_readers = &g;
	Vigil__V1__Frame *a;
	int rc = vigil__query_roundtrip(c, &req, VIGIL__V1__FRAME__MSG_SEAL_READERS,
					"waiting for the case's readers", &a, err);
	if (rc != VIGIL_OK)
		return rc;
	const Vigil__V1__SealReaders *m = a->seal_readers;
	if (strcmp(m->case_id, case_id) != 0) {
		rc = vigil__error_set(err, VIGIL_E_VERIFY,
				      "asked for the readers of case %s, the relay answered for "
				      "another case", case_id);
		goto out;
	}
	if (m->n_organisations > READERS_CAP) {
		rc = vigil__error_set(err, VIGIL_E_VERIFY,
				      "the relay names %zu readers of case %s; a case has at most "
				      "%u", m->n_organisations, case_id, (unsigned)READERS_CAP);
		goto out;
	}
	for (size_t i = 0; i < m->n_organisations; i++) {
		const char *org = m->organisations[i];
		if (!record_org_ok(org) ||
		    (i > 0 && strcmp(m->organisations[i - 1], org) >= 0)) {
			rc = vigil__error_set(err, VIGIL_E_VERIFY,
					      "the relay's readers of case %s are malformed: reader "
					      "%zu is no organisation id or out of order", case_id,
					      i + 1);
			goto out;
		}
		size_t k = member_find(c, org);
		if (k == SIZE_MAX || !c->member_enc[k]) {
			rc = vigil__error_set(err, VIGIL_E_VERIFY,
					      "the relay names %s as a reader of case %s, but %s is %s",
					      org, case_id, org,
					      k == SIZE_MAX ? "no member"
							    : "a member without an encryption "
							      "certificate");
			goto out;
		}
		readers_add(r, k);
	}
out:
	frame_free(a);
	return rc;
}

/* Whether case_id is one of our cases (a case open is then a reopen, and
 * the case's readers stay readers).  Asked as a list, which the relay does
 * not record per case, rather than as a probe of a case that may not exist. */
static int case_listed(struct vigil_client *c, const char *case_id, int *listed,
		       struct vigil_error *err)
{
	struct vigil_case_summary *list = NULL;
	size_t n = 0;
	*listed = 0;
	int rc = vigil_cases(c, &list, &n, err);
	if (rc != VIGIL_OK)
		return rc;
	for (size_t i = 0; i < n && !*listed; i++)
		*listed = strcmp(list[i].case_id, case_id) == 0;
	free(list);
	return VIGIL_OK;
}

/* ---- sealing ----------------------------------------------------------------------- */

/*
 * The salt of P: HMAC-SHA-256 keyed with the SHA-256 of our private key
 * (its DER encoding) over a label, the record id, the field and the text.
 * Nobody without our key can guess it (so the commitment tells nothing
 * about a short text), and the same record id and text give the same P
 * again, so a record rebuilt for a retry has the same bytes.  0 when the
 * key cannot be encoded: the salt is then random (sealed_plain_build's).
 */
static int derive_salt(struct vigil_client *c, int field, const uint8_t id[RECORD_ID_LEN],
		       const char *text, size_t len, uint8_t salt[SEALED_SALT_LEN])
{
	static const char label[] = "vigil-sealed-salt-v1";
	unsigned char *der = NULL;
	int n = i2d_PrivateKey(c->key, &der);
	uint8_t k[SHA256_LEN];
	uint8_t msg[sizeof(label) + RECORD_ID_LEN + 1 + RECORD_NOTE_MAX];
	size_t outlen = 0;
	int ok = n > 0 && len <= RECORD_NOTE_MAX &&
		 EVP_Digest(der, (size_t)n, k, NULL, EVP_sha256(), NULL) == 1;
	if (der)
		OPENSSL_clear_free(der, (size_t)(n > 0 ? n : 0));
	if (ok) {
		size_t m = 0;
		memcpy(msg, label, sizeof(label));
		m += sizeof(label);
		memcpy(msg + m, id, RECORD_ID_LEN);
		m += RECORD_ID_LEN;
		msg[m++] = (uint8_t)field;
		memcpy(msg + m, text, len);
		m += len;
		ok = EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k, sizeof(k), msg, m, salt,
			       SEALED_SALT_LEN, &outlen) != NULL &&
		     outlen == SEALED_SALT_LEN;
		OPENSSL_cleanse(msg, sizeof(msg));
	}
	OPENSSL_cleanse(k, sizeof(k));
	ERR_clear_error();
	return ok;
}

struct by_hash {
	uint8_t h[SHA256_LEN];
	X509 *x;
};

static int cmp_hash(const void *a, const void *b)
{
	return memcmp(((const struct by_hash *)a)->h, ((const struct by_hash *)b)->h, SHA256_LEN);
}

void vigil__sealed_clear(struct vigil__sealed *s)
{
	free(s->envelope);
	memset(s, 0, sizeof(*s));
}

int vigil__seal_make(struct vigil_client *c, const struct vigil__seal_spec *sp,
		     const char *case_id, const uint8_t record_id[RECORD_ID_LEN],
		     const char *author, struct vigil__sealed *out, struct vigil_error *err)
{
	memset(out, 0, sizeof(*out));
	const char *name = sealed_field_name(sp->field);
	int rc = members_load(c, err);
	if (rc != VIGIL_OK)
		return rc;
	struct readers r;
	r.n = 0;
	int ask = 1;
	if (sp->case_open && (rc = case_listed(c, case_id, &ask, err)) != VIGIL_OK)
		return rc;
	if (ask && (rc = readers_ask(c, case_id, &r, err)) != VIGIL_OK)
		return rc;
	if (sp->to)
		readers_add_local(c, &r, sp->to, 0);
	if (sp->case_open) {
		readers_add_local(c, &r, author, 0);
		for (size_t i = 0; i < sp->n_parties; i++)
			readers_add_local(c, &r, sp->parties[i], 1);
	}
	if (r.n == 0)
		return vigil__error_set(err, VIGIL_E_SEALED,
					"the %s cannot be sealed: no reader of case %s has an "
					"encryption certificate", name, case_id);
	if (r.n > SEALED_READERS_MAX)
		return vigil__error_set(err, VIGIL_E_USAGE,
					"case %s has %zu readers; a sealed %s has at most %u", case_id,
					r.n, name, SEALED_READERS_MAX);
	struct by_hash rs[SEALED_READERS_MAX];
	X509 *certs[SEALED_READERS_MAX];
	for (size_t i = 0; i < r.n; i++) {
		rs[i].x = c->member_enc[r.idx[i]];
		memcpy(rs[i].h, c->member_enc_sha256[r.idx[i]], SHA256_LEN);
	}
	qsort(rs, r.n, sizeof(rs[0]), cmp_hash);

	size_t plen = sealed_plain_len(sp->field), tlen = strlen(sp->text);
	uint8_t *p = malloc(plen ? plen : 1);
	if (!p)
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	uint8_t salt[SEALED_SALT_LEN];
	int derived = derive_salt(c, sp->field, record_id, sp->text, tlen, salt);
	char why[200];
	int vg = sealed_plain_build(sp->field, record_id, derived ? salt : NULL, sp->text, tlen,
				    p, why, sizeof(why));
	OPENSSL_cleanse(salt, sizeof(salt));
	if (vg != VG_OK) {
		free(p);
		return vigil__error_set(err, vg == VG_ENOMEM ? VIGIL_E_NOMEM : VIGIL_E_USAGE,
					"cannot seal the %s: %s", name, why);
	}
	sealed_commit(p, plen, out->commitment);
	for (size_t i = 0; i < r.n; i++)
		certs[i] = rs[i].x;
	vg = sealed_seal(p, plen, certs, r.n, &out->envelope, &out->envelope_len, why,
			 sizeof(why));
	OPENSSL_cleanse(p, plen);
	free(p);
	if (vg != VG_OK)
		return vigil__error_set(err, vg == VG_ENOMEM ? VIGIL_E_NOMEM : VIGIL_E_IO,
					"cannot seal the %s: %s", name, why);
	vigil__v1__sealed_text__init(&out->text);
	out->text.commitment.data = out->commitment;
	out->text.commitment.len = SHA256_LEN;
	for (size_t i = 0; i < r.n; i++) {
		memcpy(out->readers[i], rs[i].h, SHA256_LEN);
		out->reader_data[i].data = out->readers[i];
		out->reader_data[i].len = SHA256_LEN;
	}
	out->text.readers = out->reader_data;
	out->text.n_readers = r.n;
	return VIGIL_OK;
}

/* ---- opening ------------------------------------------------------------------------ */

/* The record's readers that are members' encryption certificates now,
 * into x (NULL for one that is not); the count found. */
static size_t readers_known(const struct vigil_client *c, const Vigil__V1__SealedText *t,
			    X509 **x)
{
	size_t found = 0;
	for (size_t j = 0; j < t->n_readers; j++) {
		x[j] = NULL;
		for (size_t i = 0; i < c->n_members && !x[j]; i++)
			if (c->member_enc[i] &&
			    memcmp(c->member_enc_sha256[i], t->readers[j].data, SHA256_LEN) == 0)
				x[j] = c->member_enc[i];
		found += x[j] != NULL;
	}
	return found;
}

/* vigil_open_sealed(), and P itself when plain is not NULL. */
static int open_sealed(vigil_client *c, const uint8_t *record, size_t record_len,
		       const uint8_t *sealed, size_t sealed_len, char **text, uint8_t **plain,
		       size_t *plain_len, struct vigil_error *err)
{
	char why[256] = "";
	Vigil__V1__Record *r = NULL;
	static const uint8_t none[1];
	if (record_parse(record ? record : none, record_len, &r, why, sizeof(why)) != VG_OK)
		return vigil__error_set(err, VIGIL_E_USAGE, "not a valid record: %s", why);
	int field = 0;
	const Vigil__V1__SealedText *t = record_sealed_text(r, &field, NULL);
	const char *name = sealed_field_name(field);
	int rc;
	CMS_ContentInfo *cms = NULL;
	uint8_t *p = NULL;
	size_t plen = 0;
	if (!t) {
		rc = vigil__error_set(err, VIGIL_E_USAGE, "the record seals no text");
		goto out;
	}
	/* 2.-3.: ours to open? */
	if (!c->enc_key) {
		rc = vigil__error_set(err, VIGIL_E_SEALED,
				      "no encryption key configured: the sealed %s cannot be "
				      "opened here", name);
		goto out;
	}
	int reader = 0;
	for (size_t j = 0; j < t->n_readers && !reader; j++)
		reader = memcmp(t->readers[j].data, c->enc_sha256, SHA256_LEN) == 0;
	if (!sealed_len && !reader)
		goto no_reader;
	if (!sealed_len) {
		rc = vigil__error_set(err, VIGIL_E_SEALED,
				      "the sealed %s is not there: the relay sent no envelope "
				      "beside the record", name);
		goto out;
	}
	/* 4.: the envelope's form and recipients. */
	if (sealed_check(sealed, sealed_len, &cms, why, sizeof(why)) != VG_OK) {
		rc = vigil__error_set(err, VIGIL_E_VERIFY, "the sealed %s does not verify: %s",
				      name, why);
		goto out;
	}
	/* A handover re-seals a text for the organisation it goes to, which
	 * the record (signed before) cannot name. */
	if (!reader && !sealed_has_recipient(cms, c->enc_cert)) {
no_reader:
		rc = vigil__error_set(err, VIGIL_E_SEALED,
				      "this organisation is no reader of the sealed %s (the record "
				      "names %zu reader%s; our encryption certificate is none of "
				      "them, and no handover re-sealed it for us)", name,
				      t->n_readers, t->n_readers == 1 ? "" : "s");
		goto out;
	}
	if ((rc = members_load(c, err)) != VIGIL_OK)
		goto out;
	/* Every signed reader whose certificate is a member's now is a
	 * recipient (one renewed since cannot be matched and was left out
	 * of any re-sealing); recipients besides are organisations a
	 * handover re-sealed it for. */
	X509 *x[SEALED_READERS_MAX];
	readers_known(c, t, x);
	for (size_t j = 0; j < t->n_readers; j++) {
		if (!x[j] || sealed_has_recipient(cms, x[j]))
			continue;
		char o[RECORD_ORG_MAX + 1] = "?";
		X509_NAME_get_text_by_NID(X509_get_subject_name(x[j]), NID_organizationName, o,
					  sizeof(o));
		rc = vigil__error_set(err, VIGIL_E_VERIFY,
				      "the sealed %s does not verify: sealed text has no recipient "
				      "for reader %zu (%s)", name, j + 1, o);
		goto out;
	}
	/* 5.: it opens. */
	int vg = sealed_open(sealed, sealed_len, c->enc_key, c->enc_cert, &p, &plen, why,
			     sizeof(why));
	if (vg == VG_ENOMEM) {
		rc = vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
		goto out;
	}
	if (vg != VG_OK) {
		rc = vigil__error_set(err, VIGIL_E_VERIFY, "the sealed %s does not verify: %s",
				      name, why);
		goto out;
	}
	/* 6.: P is this record's, and the commitment's. */
	size_t tl = 0;
	vg = sealed_plain_parse(p, plen, field, r->record_id.data, t->commitment.data, text, &tl,
				why, sizeof(why));
	if (vg == VG_ENOMEM)
		rc = vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	else if (vg != VG_OK)
		rc = vigil__error_set(err, VIGIL_E_VERIFY, "the sealed %s does not verify: %s",
				      name, why);
	else
		rc = VIGIL_OK;
	if (rc == VIGIL_OK && plain) {
		if ((*plain = malloc(plen)) != NULL) {
			memcpy(*plain, p, plen);
			*plain_len = plen;
		} else {
			free(*text);
			*text = NULL;
			rc = vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
		}
	}
out:
	if (p) {
		OPENSSL_cleanse(p, plen);
		free(p);
	}
	CMS_ContentInfo_free(cms);
	record_free(r);
	ERR_clear_error();
	return rc;
}

int vigil_open_sealed(vigil_client *c, const uint8_t *record, size_t record_len,
		      const uint8_t *sealed, size_t sealed_len, char **text,
		      struct vigil_error *err)
{
	if (text)
		*text = NULL;
	if (!c || !text || (!record && record_len) || (!sealed && sealed_len))
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_open_sealed: NULL argument");
	return open_sealed(c, record, record_len, sealed, sealed_len, text, NULL, NULL, err);
}

int vigil_open_sealed_plain(vigil_client *c, const uint8_t *record, size_t record_len,
			    const uint8_t *sealed, size_t sealed_len, char **text,
			    uint8_t **plain, size_t *plain_len, struct vigil_error *err)
{
	if (text)
		*text = NULL;
	if (plain)
		*plain = NULL;
	if (plain_len)
		*plain_len = 0;
	if (!c || !text || !plain || !plain_len || (!record && record_len) ||
	    (!sealed && sealed_len))
		return vigil__error_set(err, VIGIL_E_USAGE,
					"vigil_open_sealed_plain: NULL argument");
	return open_sealed(c, record, record_len, sealed, sealed_len, text, plain, plain_len,
			   err);
}

/* ---- re-sealing at a handover ------------------------------------------------------- */

/* One Reseal round trip: texts (may be none) for the offer; the relay's
 * count of those still missing and the first of them (malloc()ed). */
static int reseal_send(struct vigil_client *c, const char *case_id,
		       const uint8_t offer_id[RECORD_ID_LEN], Vigil__V1__ResealedText **texts,
		       size_t n, uint32_t *missing, uint64_t **list, size_t *n_list,
		       struct vigil_error *err)
{
	Vigil__V1__Reseal m = VIGIL__V1__RESEAL__INIT;
	m.case_id = (char *)case_id;
	m.offer_id.data = (uint8_t *)offer_id;
	m.offer_id.len = RECORD_ID_LEN;
	m.texts = texts;
	m.n_texts = n;
	Vigil__V1__Frame req = VIGIL__V1__FRAME__INIT;
	req.msg_case = VIGIL__V1__FRAME__MSG_RESEAL;
	req.reseal = &m;
	Vigil__V1__Frame *a;
	int rc = vigil__query_roundtrip(c, &req, VIGIL__V1__FRAME__MSG_RESEALED,
					"waiting for the relay to take the re-sealed texts", &a, err);
	if (rc != VIGIL_OK)
		return rc;
	const Vigil__V1__Resealed *r = a->resealed;
	if (strcmp(r->case_id, case_id) != 0 || r->offer_id.len != RECORD_ID_LEN ||
	    memcmp(r->offer_id.data, offer_id, RECORD_ID_LEN) != 0 || r->taken != n ||
	    r->n_missing_indexes > r->missing) {
		rc = vigil__error_set(err, VIGIL_E_VERIFY,
				      "the relay's answer to the re-sealed texts of case %s does not "
				      "match the request", case_id);
		goto out;
	}
	*missing = r->missing;
	*n_list = r->n_missing_indexes;
	*list = malloc((r->n_missing_indexes ? r->n_missing_indexes : 1) * sizeof(**list));
	if (!*list) {
		rc = vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
		goto out;
	}
	if (r->n_missing_indexes)
		memcpy(*list, r->missing_indexes, r->n_missing_indexes * sizeof(**list));
out:
	frame_free(a);
	return rc;
}

/*
 * The same P as entry e's envelope, opened with our key and checked
 * against its record, sealed again to the envelope's recipients that are
 * members' encryption certificates now and to (the relay's rule).
 */
static int reseal_one(struct vigil_client *c, const struct vigil_entry *e, X509 *to,
		      uint8_t **der, size_t *der_len, struct vigil_error *err)
{
	char *text = NULL;
	int rc = vigil_open_sealed(c, e->record, e->record_len, e->sealed, e->sealed_len, &text,
				   err);
	if (rc != VIGIL_OK) {
		vigil__error_prefix(err, "entry %llu", (unsigned long long)e->index);
		return rc;
	}
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	/* Opened and checked: open it once more for P itself. */
	char why[200];
	CMS_ContentInfo *cms = NULL;
	uint8_t *p = NULL;
	size_t plen = 0;
	X509 *rs[SEALED_READERS_MAX + 1];
	size_t n = 0;
	if (sealed_check(e->sealed, e->sealed_len, &cms, why, sizeof(why)) != VG_OK)
		return vigil__error_set(err, VIGIL_E_VERIFY, "entry %llu: %s",
					(unsigned long long)e->index, why);
	for (size_t i = 0; i < c->n_members; i++) {
		if (!c->member_enc[i] || c->member_enc[i] == to ||
		    !sealed_has_recipient(cms, c->member_enc[i]))
			continue;
		if (n == SEALED_READERS_MAX) {
			CMS_ContentInfo_free(cms);
			return vigil__error_set(err, VIGIL_E_USAGE,
						"entry %llu: its sealed text has %u readers already, "
						"the most one can have; it cannot be re-sealed for "
						"one more", (unsigned long long)e->index,
						(unsigned)SEALED_READERS_MAX);
		}
		rs[n++] = c->member_enc[i];
	}
	CMS_ContentInfo_free(cms);
	rs[n++] = to;
	int vg = sealed_open(e->sealed, e->sealed_len, c->enc_key, c->enc_cert, &p, &plen, why,
			     sizeof(why));
	if (vg == VG_OK)
		vg = sealed_seal(p, plen, rs, n, der, der_len, why, sizeof(why));
	if (p) {
		OPENSSL_cleanse(p, plen);
		free(p);
	}
	ERR_clear_error();
	if (vg != VG_OK)
		return vigil__error_set(err, vg == VG_ENOMEM ? VIGIL_E_NOMEM : VIGIL_E_IO,
					"entry %llu: cannot re-seal its sealed text: %s",
					(unsigned long long)e->index, why);
	return VIGIL_OK;
}

static void texts_free(Vigil__V1__ResealedText *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(t[i].sealed.data);
}

int vigil_reseal_offer(vigil_client *c, const char *case_id,
		       const uint8_t offer_id[VIGIL_RECORD_ID_LEN], const char *to,
		       uint32_t *missing, struct vigil_error *err)
{
	uint32_t left_dummy;
	if (!missing)
		missing = &left_dummy;
	*missing = 0;
	if (!c || !case_id || !offer_id || !to)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_reseal_offer: NULL argument");
	int rc = members_load(c, err);
	if (rc != VIGIL_OK)
		return rc;
	uint64_t *list = NULL;
	size_t n_list = 0;
	struct vigil_case_log *log = NULL;
	Vigil__V1__ResealedText *texts = NULL, **ptrs = NULL;
	size_t n_texts = 0;
	if ((rc = reseal_send(c, case_id, offer_id, NULL, 0, missing, &list, &n_list, err)) !=
	    VIGIL_OK)
		return rc;
	/* Each round re-seals the texts the relay lists (its first 1000
	 * missing), in Reseals that fit the relay's frames, until none is. */
	while (*missing) {
		size_t k = member_find(c, to);
		X509 *to_cert = k == SIZE_MAX ? NULL : c->member_enc[k];
		if (!c->enc_key || !to_cert || !n_list) {
			rc = vigil__error_set(err, VIGIL_E_SEALED,
					      "%u earlier sealed text%s of case %s must be re-sealed "
					      "for %s before it can accept the offer, but %s", *missing,
					      *missing == 1 ? "" : "s", case_id, to,
					      !c->enc_key ? "no encryption key is configured here"
					      : !to_cert  ? "it has no encryption certificate"
							  : "the relay names none of them");
			goto out;
		}
		if (!log && (rc = vigil_case_log(c, case_id, &log, err)) != VIGIL_OK)
			goto out;
		texts = calloc(n_list, sizeof(*texts));
		ptrs = calloc(n_list, sizeof(*ptrs));
		if (!texts || !ptrs) {
			rc = vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
			goto out;
		}
		size_t budget = c->send_max > 4096 ? c->send_max - 1024 : c->send_max / 2, used = 0;
		size_t e = 0;
		for (size_t i = 0; i <= n_list; i++) {
			/* Sends what is gathered when the next would not fit, or at the end. */
			uint8_t *der = NULL;
			size_t der_len = 0;
			if (i < n_list) {
				while (e < log->n && log->entries[e].entry.index < list[i])
					e++;
				if (e == log->n || log->entries[e].entry.index != list[i] ||
				    !log->entries[e].entry.sealed) {
					rc = vigil__error_set(err, VIGIL_E_VERIFY,
							      "the relay asks to re-seal entry %llu, which "
							      "is no sealed text of case %s's log",
							      (unsigned long long)list[i], case_id);
					goto out;
				}
				if ((rc = reseal_one(c, &log->entries[e].entry, to_cert, &der,
						     &der_len, err)) != VIGIL_OK)
					goto out;
			}
			if (n_texts && (i == n_list || used + der_len + 32 > budget ||
					n_texts == 256)) {
				uint32_t left;
				uint64_t *more = NULL;
				size_t n_more = 0;
				rc = reseal_send(c, case_id, offer_id, ptrs, n_texts, &left, &more,
						 &n_more, err);
				texts_free(texts, n_texts);
				n_texts = 0;
				used = 0;
				if (rc != VIGIL_OK) {
					free(der);
					goto out;
				}
				*missing = left;
				if (i == n_list) {
					free(list);
					list = more;
					n_list = n_more;
				} else {
					free(more);
				}
			}
			if (i < n_list) {
				vigil__v1__resealed_text__init(&texts[n_texts]);
				texts[n_texts].index = list[i];
				texts[n_texts].sealed.data = der;
				texts[n_texts].sealed.len = der_len;
				ptrs[n_texts] = &texts[n_texts];
				n_texts++;
				used += der_len + 32;
			}
		}
		free(texts);
		free(ptrs);
		texts = NULL;
		ptrs = NULL;
	}
out:
	if (texts)
		texts_free(texts, n_texts);
	free(texts);
	free(ptrs);
	free(list);
	vigil_free(log);
	return rc;
}

int vigil_reseal_pending(vigil_client *c, const char *case_id, uint32_t *missing,
			 struct vigil_error *err)
{
	if (missing)
		*missing = 0;
	struct vigil_case_status *st = NULL;
	int rc = vigil_case_status(c, case_id, &st, err);
	if (rc != VIGIL_OK)
		return rc;
	if (!st->has_pending_offer)
		rc = vigil__error_set(err, VIGIL_E_USAGE, "case %s has no pending handover offer",
				      case_id);
	else
		rc = vigil_reseal_offer(c, case_id, st->pending_offer_id, st->pending_offer_to,
					missing, err);
	vigil_free(st);
	return rc;
}
