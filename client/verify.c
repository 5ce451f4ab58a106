/*
 * verify.c - everything libvigil checks without a connection: the relay's
 * checkpoint key, signed checkpoints, receipts, inclusion and consistency
 * proofs, and a tree rebuilt from leaf hashes.  The online calls (submit.c,
 * query.c) and the offline ones (vigil_receipt_verify) share this code, so
 * a receipt saved to a file is checked exactly as it was when it arrived.
 *
 * The cryptography is proto/'s: note.c (C2SP signed notes, Ed25519),
 * merkle.c (RFC 9162) and record.c (leaf hashes).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include "client/internal.h"
#include "proto/note.h"
#include "proto/record.h"
#include "proto/status.h"

_Static_assert(VIGIL_SIGNATURE_MAX == RECORD_SIG_MAX, "signature limit");
_Static_assert(VIGIL_PROOF_MAX == MERKLE_MAX_PROOF, "proof limit");
_Static_assert(VIGIL_ORIGIN_MAX == NOTE_NAME_MAX + 1, "origin limit");
_Static_assert(VIGIL_CHECKPOINT_MAX <= NOTE_MAX, "note limit");

/* Largest key file we read: a PEM key is a few hundred bytes. */
#define KEY_FILE_MAX 65536

/* ---- the checkpoint key ----------------------------------------------------- */

/* "NAME+HHHHHHHH+...": the documented test for a verifier key string. */
static int looks_like_verifier(const char *s)
{
	const char *p = strchr(s, '+');
	if (!p)
		return 0;
	for (int i = 1; i <= 8; i++) {
		char ch = p[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
		      (ch >= 'A' && ch <= 'F')))
			return 0;
	}
	return p[9] == '+';
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int key_from_file(const char *path, struct vigil_checkpoint_key *out,
			 struct vigil_error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return vigil__error_set(err, VIGIL_E_IO, "cannot read checkpoint key %s: %s", path,
					strerror(errno));
	char *buf = malloc(KEY_FILE_MAX);
	if (!buf) {
		fclose(f);
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	}
	size_t n = fread(buf, 1, KEY_FILE_MAX, f);
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		return vigil__error_set(err, VIGIL_E_IO, "cannot read checkpoint key %s", path);
	}
	/* A public key, or else a private key of which we use the public half. */
	ERR_clear_error();
	EVP_PKEY *k = NULL;
	BIO *b = BIO_new_mem_buf(buf, (int)n);
	if (b)
		k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	BIO_free(b);
	if (!k && (b = BIO_new_mem_buf(buf, (int)n)) != NULL) {
		k = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
		BIO_free(b);
	}
	free(buf);
	ERR_clear_error();
	if (!k)
		return vigil__error_set(err, VIGIL_E_IO,
					"checkpoint key %s holds no PEM public or (unencrypted) "
					"private key", path);
	size_t len = sizeof(out->public_key);
	int ok = EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519 &&
		 EVP_PKEY_get_raw_public_key(k, out->public_key, &len) == 1 &&
		 len == sizeof(out->public_key);
	EVP_PKEY_free(k);
	ERR_clear_error();
	if (!ok)
		return vigil__error_set(err, VIGIL_E_IO, "checkpoint key %s is not an Ed25519 key",
					path);
	out->name[0] = '\0';
	return VIGIL_OK;
}

int vigil_checkpoint_key_load(const char *key_or_file, struct vigil_checkpoint_key *out,
			      struct vigil_error *err)
{
	if (!out)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_checkpoint_key_load: out is NULL");
	memset(out, 0, sizeof(*out));
	if (!key_or_file || !key_or_file[0])
		return vigil__error_set(err, VIGIL_E_USAGE,
					"no checkpoint key: give the relay's verifier key "
					"(NAME+ID+KEY) or its Ed25519 public key file");
	if (!looks_like_verifier(key_or_file))
		return key_from_file(key_or_file, out, err);
	struct note_verifier v;
	if (strlen(key_or_file) > NOTE_NAME_MAX + 100 ||
	    note_verifier_parse(key_or_file, &v) != VG_OK)
		return vigil__error_set(err, VIGIL_E_USAGE,
					"checkpoint key \"%.*s\" is not a valid verifier key "
					"(NAME+ID+KEY: a key name, its key id as 8 lower-case hex "
					"digits, base64 of 0x01 and an Ed25519 public key)",
					80, key_or_file);
	snprintf(out->name, sizeof(out->name), "%s", v.name);
	memcpy(out->public_key, v.pub, sizeof(out->public_key));
	return VIGIL_OK;
}

/* ---- checkpoints -------------------------------------------------------------- */

/* The "signed-at <ms>" extension line among the lines of body after the
 * third: 0 with *ms (-1 when absent), -1 when malformed or repeated. */
static int signed_at(const char *text, size_t len, int64_t *ms)
{
	*ms = -1;
	const char *p = text, *end = text + len;
	for (int line = 0; p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return -1;
		static const char key[] = "signed-at ";
		size_t kl = sizeof(key) - 1;
		if (line >= 3 && (size_t)(nl - p) >= kl && memcmp(p, key, kl) == 0) {
			const char *d = p + kl;
			size_t nd = (size_t)(nl - d);
			if (*ms != -1 || nd == 0 || nd > 18 || (d[0] == '0' && nd > 1))
				return -1;
			int64_t v = 0;
			for (size_t i = 0; i < nd; i++) {
				if (d[i] < '0' || d[i] > '9')
					return -1;
				v = v * 10 + (d[i] - '0');
			}
			*ms = v;
		}
		p = nl + 1;
	}
	return 0;
}

/* vigil_checkpoint_open() on a NUL-terminated note (proto/note.c scans
 * names with string functions, so it must never see an unterminated one). */
static int checkpoint_open(const struct vigil_checkpoint_key *key, const char *note,
			   size_t note_len, struct vigil_checkpoint *out, struct vigil_error *err)
{
	/* A PEM key has no name: the relay names its key after the origin. */
	struct note_verifier v;
	memset(&v, 0, sizeof(v));
	if (key->name[0]) {
		snprintf(v.name, sizeof(v.name), "%s", key->name);
	} else {
		const char *nl = memchr(note, '\n', note_len);
		size_t ol = nl ? (size_t)(nl - note) : 0;
		if (ol == 0 || ol > NOTE_NAME_MAX)
			return vigil__error_set(err, VIGIL_E_VERIFY,
						"the checkpoint has no origin line");
		memcpy(v.name, note, ol);
		v.name[ol] = '\0';
	}
	memcpy(v.pub, key->public_key, ED25519_LEN);
	v.id = note_key_id(v.name, v.pub);

	size_t text_len = 0;
	int rc = note_open(note, note_len, &v, &text_len);
	if (rc == VG_EBADSIG)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the checkpoint signature does not verify: the note carries "
					"no valid signature by the checkpoint key (%.80s+%08x)",
					v.name, (unsigned)v.id);
	if (rc != VG_OK)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the checkpoint is not a well-formed signed note");
	struct checkpoint cp;
	if (checkpoint_parse(note, text_len, &cp) != VG_OK)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the checkpoint's signed text is not a checkpoint (origin, "
					"size, base64 root hash, extension lines)");
	if (key->name[0] && strcmp(cp.origin, key->name) != 0)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the checkpoint's origin \"%.80s\" is not the checkpoint "
					"key's name \"%.80s\"", cp.origin, key->name);
	int64_t at;
	if (signed_at(note, text_len, &at) != 0)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the checkpoint's signed-at line is malformed or repeated");
	snprintf(out->origin, sizeof(out->origin), "%s", cp.origin);
	out->size = cp.size;
	memcpy(out->root, cp.root, SHA256_LEN);
	out->signed_at_ms = at;
	out->note_len = note_len;
	return VIGIL_OK;
}

int vigil_checkpoint_open(const struct vigil_checkpoint_key *key, const char *note,
			  size_t note_len, struct vigil_checkpoint *out, struct vigil_error *err)
{
	if (!key || !out || (!note && note_len))
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_checkpoint_open: NULL argument");
	int rc;
	if (note_len == 0)
		rc = vigil__error_set(err, VIGIL_E_VERIFY, "the checkpoint is empty");
	else if (note_len >= VIGIL_CHECKPOINT_MAX)
		rc = vigil__error_set(err, VIGIL_E_VERIFY,
				      "the checkpoint is %zu bytes; the limit is %d", note_len,
				      VIGIL_CHECKPOINT_MAX - 1);
	else if (memchr(note, '\0', note_len))
		rc = vigil__error_set(err, VIGIL_E_VERIFY, "the checkpoint contains a NUL byte");
	else {
		/* The copy is NUL-terminated; the caller's may not be.  (note
		 * may be out->note itself.) */
		memmove(out->note, note, note_len);
		out->note[note_len] = '\0';
		rc = checkpoint_open(key, out->note, note_len, out, err);
	}
	if (rc != VIGIL_OK) {
		memset(out, 0, sizeof(*out));
		out->signed_at_ms = -1;
	}
	return rc;
}

/* ---- proofs ------------------------------------------------------------------------ */

/* RFC 9162, section 2.1.3.2, computing the root instead of comparing it. */
int vigil__inclusion_root(uint64_t index, uint64_t size, const uint8_t leaf[SHA256_LEN],
			  const merkle_hash *proof, size_t n, uint8_t root[SHA256_LEN])
{
	return merkle_inclusion_root(index, size, leaf, proof, n, root) == VG_OK ? 0 : -1;
}

int vigil_verify_inclusion(const struct vigil_inclusion_proof *p,
			   const uint8_t root[VIGIL_HASH_LEN], struct vigil_error *err)
{
	if (!p || !root)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_verify_inclusion: NULL argument");
	if (p->index >= p->tree_size)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"entry index %llu is not below the tree size %llu",
					(unsigned long long)p->index, (unsigned long long)p->tree_size);
	if (p->n > VIGIL_PROOF_MAX ||
	    merkle_verify_inclusion(p->index, p->tree_size, p->leaf_hash,
				    (const merkle_hash *)p->hashes, p->n, root) != VG_OK)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the inclusion proof (%zu nodes) does not lead from the leaf "
					"hash of entry %llu to the root of the tree of size %llu",
					p->n, (unsigned long long)p->index,
					(unsigned long long)p->tree_size);
	return VIGIL_OK;
}

int vigil_verify_consistency(const struct vigil_consistency_proof *p,
			     const uint8_t root_from[VIGIL_HASH_LEN],
			     const uint8_t root_to[VIGIL_HASH_LEN], struct vigil_error *err)
{
	if (!p || !root_from || !root_to)
		return vigil__error_set(err, VIGIL_E_USAGE,
					"vigil_verify_consistency: NULL argument");
	if (p->n > VIGIL_PROOF_MAX ||
	    merkle_verify_consistency(p->from_size, p->to_size, root_from, root_to,
				      (const merkle_hash *)p->hashes, p->n) != VG_OK)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the consistency proof (%zu nodes) does not show the tree of "
					"size %llu to be a prefix of the tree of size %llu",
					p->n, (unsigned long long)p->from_size,
					(unsigned long long)p->to_size);
	return VIGIL_OK;
}

/* ---- receipts --------------------------------------------------------------------------- */

int vigil_leaf_hash(int64_t received_at_ms, const uint8_t cert_sha256[VIGIL_HASH_LEN],
		    const uint8_t *record, size_t record_len, const uint8_t *sig, size_t sig_len,
		    uint8_t out[VIGIL_HASH_LEN])
{
	if (!cert_sha256 || !out || (!record && record_len) || (!sig && sig_len))
		return VIGIL_E_USAGE;
	if (record_len > UINT32_MAX || sig_len > UINT32_MAX)
		return VIGIL_E_USAGE;
	uint8_t *leaf = NULL;
	size_t leaf_len = 0;
	static const uint8_t none[1];
	if (entry_leaf_encode(received_at_ms, cert_sha256, record ? record : none, record_len,
			      sig ? sig : none, sig_len, &leaf, &leaf_len) != VG_OK)
		return VIGIL_E_NOMEM;
	merkle_leaf_hash(leaf, leaf_len, out);
	free(leaf);
	return VIGIL_OK;
}

int vigil__verify_receipt(const struct vigil_checkpoint_key *key, struct vigil_receipt *r,
			  const uint8_t *record, size_t record_len, const char *what,
			  struct vigil_error *err)
{
	char got[2 * SHA256_LEN + 1], want[2 * SHA256_LEN + 1];

	/* 1. The receipt is about this record. */
	Vigil__V1__Record *rec = vigil__v1__record__unpack(NULL, record_len, record);
	if (!rec || rec->record_id.len != RECORD_ID_LEN) {
		if (rec)
			vigil__v1__record__free_unpacked(rec, NULL);
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"%s: the record does not decode as a vigil.v1.Record with "
					"a 16-byte record id", what);
	}
	int same_id = memcmp(rec->record_id.data, r->record_id, RECORD_ID_LEN) == 0;
	hex_encode(rec->record_id.data, RECORD_ID_LEN, want);
	vigil__v1__record__free_unpacked(rec, NULL);
	if (!same_id) {
		hex_encode(r->record_id, RECORD_ID_LEN, got);
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"%s names record %s; the record's id is %s", what, got, want);
	}

	/* 2. The leaf hash is the entry's. */
	uint8_t hash[SHA256_LEN];
	if (r->signature_len > VIGIL_SIGNATURE_MAX)
		return vigil__error_set(err, VIGIL_E_VERIFY, "%s: signature of %zu bytes", what,
					r->signature_len);
	int rc = vigil_leaf_hash(r->received_at_ms, r->cert_sha256, record, record_len,
				 r->signature, r->signature_len, hash);
	if (rc != VIGIL_OK)
		return vigil__error_set(err, rc, "%s: cannot compute the leaf hash", what);
	if (memcmp(hash, r->leaf_hash, SHA256_LEN) != 0) {
		hex_encode(r->leaf_hash, SHA256_LEN, got);
		hex_encode(hash, SHA256_LEN, want);
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"%s has leaf hash %s; the record, signature, certificate "
					"hash and receive time hash to %s", what, got, want);
	}

	/* 3. The checkpoint is the relay's. */
	struct vigil_checkpoint *cp = &r->checkpoint;
	size_t note_len = strnlen(cp->note, sizeof(cp->note));
	if (note_len == sizeof(cp->note))
		return vigil__error_set(err, VIGIL_E_VERIFY, "%s: the checkpoint is not terminated",
					what);
	struct vigil_error e;
	/* vigil_checkpoint_open() clears its output first: open a copy. */
	struct vigil_checkpoint *opened = malloc(sizeof(*opened));
	if (!opened)
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	rc = vigil_checkpoint_open(key, cp->note, note_len, opened, &e);
	if (rc != VIGIL_OK) {
		free(opened);
		return vigil__error_set(err, rc, "%s: %s", what, e.message);
	}
	*cp = *opened;
	free(opened);

	/* 4. and 5. The entry is in the checkpoint's tree. */
	if (r->index >= cp->size)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"%s: entry index %llu is not below the checkpoint's size %llu",
					what, (unsigned long long)r->index,
					(unsigned long long)cp->size);
	if (r->proof_len > VIGIL_PROOF_MAX ||
	    merkle_verify_inclusion(r->index, cp->size, r->leaf_hash,
				    (const merkle_hash *)r->inclusion_proof, r->proof_len,
				    cp->root) != VG_OK)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"%s: the inclusion proof (%zu nodes) does not lead from the "
					"leaf hash of entry %llu to the root of the checkpoint of "
					"size %llu", what, r->proof_len,
					(unsigned long long)r->index, (unsigned long long)cp->size);
	return VIGIL_OK;
}

int vigil_receipt_verify(const struct vigil_checkpoint_key *key, struct vigil_receipt *r,
			 const uint8_t *record, size_t record_len, struct vigil_error *err)
{
	if (!key || !r || (!record && record_len))
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_receipt_verify: NULL argument");
	char what[48];
	snprintf(what, sizeof(what), "entry %llu", (unsigned long long)r->index);
	return vigil__verify_receipt(key, r, record, record_len, what, err);
}

/* ---- a tree from leaf hashes ------------------------------------------------------------ */

struct vigil_tree {
	struct merkle_frontier f;
};

int vigil_tree_new(vigil_tree **out)
{
	if (!out)
		return VIGIL_E_USAGE;
	*out = malloc(sizeof(**out));
	if (!*out)
		return VIGIL_E_NOMEM;
	merkle_frontier_init(&(*out)->f);
	return VIGIL_OK;
}

void vigil_tree_append(vigil_tree *t, const uint8_t leaf_hash[VIGIL_HASH_LEN])
{
	/* Without an emit callback appending cannot fail. */
	merkle_frontier_append(&t->f, leaf_hash, NULL, NULL);
}

uint64_t vigil_tree_size(const vigil_tree *t)
{
	return t->f.size;
}

void vigil_tree_root(const vigil_tree *t, uint8_t root[VIGIL_HASH_LEN])
{
	merkle_frontier_root(&t->f, root);
}

void vigil_tree_free(vigil_tree **t)
{
	if (!t)
		return;
	free(*t);
	*t = NULL;
}

EVP_PKEY *vigil__verify_past_cert(const struct vigil_client *c, const ProtobufCBinaryData *der,
				  const uint8_t sha256[SHA256_LEN], const char *org, const char *ou,
				  const char *whose, const char *hash_name, char *why,
				  size_t why_len)
{
	uint8_t h[SHA256_LEN];
	unsigned int hl;
	if (der->len == 0) {
		snprintf(why, why_len, "names a certificate that is not %s, and carries none", whose);
		return NULL;
	}
	if (EVP_Digest(der->data, der->len, h, &hl, EVP_sha256(), NULL) != 1 ||
	    memcmp(h, sha256, SHA256_LEN) != 0) {
		snprintf(why, why_len, "carries a certificate that does not hash to %s", hash_name);
		return NULL;
	}
	const unsigned char *p = der->data;
	X509 *x = d2i_X509(NULL, &p, (long)der->len);
	if (!x) {
		snprintf(why, why_len, "carries a certificate that does not parse");
		return NULL;
	}
	EVP_PKEY *key = NULL;
	X509_STORE_CTX *xs = X509_STORE_CTX_new();
	snprintf(why, why_len, "carries a certificate the federation's CA did not issue");
	if (xs && X509_STORE_CTX_init(xs, SSL_CTX_get_cert_store(c->ctx), x, NULL) == 1) {
		X509_STORE_CTX_set_flags(xs, X509_V_FLAG_NO_CHECK_TIME);
		if (X509_verify_cert(xs) == 1) {
			char o[VIGIL_ORG_LEN] = "", u[32] = "";
			X509_NAME *n = X509_get_subject_name(x);
			X509_NAME_get_text_by_NID(n, NID_organizationName, o, sizeof(o));
			X509_NAME_get_text_by_NID(n, NID_organizationalUnitName, u, sizeof(u));
			snprintf(why, why_len, "carries a certificate of another organisation than %s",
				 whose);
			if (strcmp(o, org) == 0 && (!ou || strcmp(u, ou) == 0))
				key = X509_get_pubkey(x);
		}
	}
	X509_STORE_CTX_free(xs);
	X509_free(x);
	return key;
}
