/*
 * evidence.c - what is checked without the relay, for whoever holds a
 * case's evidence (an export for a court): certificates against a CA held
 * as a file, record signatures with a certificate, a sealed text's
 * plaintext against the record's commitment; and what an exporter needs to
 * vouch for an export: a signature over a document with our key, our own
 * certificate, the checkpoint key in its text form.
 *
 * The cryptography is proto/'s (record.c, sealed.c, note.c) and OpenSSL's
 * certificate verification, so an export is checked exactly as the relay
 * and the receipts are.
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
#include "proto/sealed.h"
#include "proto/status.h"

void vigil_sha256(const void *data, size_t n, uint8_t out[VIGIL_HASH_LEN])
{
	unsigned int len = 0;
	static const uint8_t none[1];
	EVP_Digest(data ? data : none, n, out, &len, EVP_sha256(), NULL);
}

/* The certificates of a PEM file as a trust store: 0, or -1 with why. */
static int ca_store(const char *ca_file, X509_STORE **out, struct vigil_error *err)
{
	*out = NULL;
	FILE *f = fopen(ca_file, "r");
	if (!f)
		return vigil__error_set(err, VIGIL_E_IO, "cannot read the CA file %s: %s", ca_file,
					strerror(errno));
	X509_STORE *st = X509_STORE_new();
	size_t n = 0;
	X509 *x;
	while (st && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_cert(st, x) == 1)
			n++;
		X509_free(x);
	}
	fclose(f);
	ERR_clear_error();
	if (!st)
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	if (n == 0) {
		X509_STORE_free(st);
		return vigil__error_set(err, VIGIL_E_IO, "the CA file %s holds no PEM certificate",
					ca_file);
	}
	*out = st;
	return VIGIL_OK;
}

static X509 *der_parse(const uint8_t *der, size_t len)
{
	if (!der || len == 0 || len > (size_t)INT32_MAX)
		return NULL;
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	/* Exactly one certificate, nothing after it. */
	if (x && p != der + len) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

int vigil_certificate_check(const char *ca_file, const uint8_t *der, size_t der_len,
			    struct vigil_identity *id, struct vigil_error *err)
{
	if (id)
		memset(id, 0, sizeof(*id));
	if (!ca_file || !der)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_certificate_check: NULL argument");
	X509 *x = der_parse(der, der_len);
	if (!x) {
		ERR_clear_error();
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the certificate is not one DER X.509 certificate");
	}
	X509_STORE *st;
	int rc = ca_store(ca_file, &st, err);
	if (rc != VIGIL_OK) {
		X509_free(x);
		return rc;
	}
	X509_STORE_CTX *xs = X509_STORE_CTX_new();
	if (!xs || X509_STORE_CTX_init(xs, st, x, NULL) != 1) {
		rc = vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	} else {
		/* It signed in the past: its validity then was the relay's check. */
		X509_STORE_CTX_set_flags(xs, X509_V_FLAG_NO_CHECK_TIME);
		if (X509_verify_cert(xs) == 1)
			rc = id ? vigil__tls_identity(x, id) : VIGIL_OK;
		else
			rc = vigil__error_set(err, VIGIL_E_VERIFY,
					      "the certificate does not chain to the CA of %s: %s",
					      ca_file,
					      X509_verify_cert_error_string(
						      X509_STORE_CTX_get_error(xs)));
	}
	X509_STORE_CTX_free(xs);
	X509_STORE_free(st);
	X509_free(x);
	ERR_clear_error();
	return rc;
}

int vigil_signature_check(const uint8_t *der, size_t der_len, const uint8_t *data,
			  size_t data_len, const uint8_t *sig, size_t sig_len,
			  struct vigil_error *err)
{
	if (!der || (!data && data_len) || !sig)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_signature_check: NULL argument");
	X509 *x = der_parse(der, der_len);
	EVP_PKEY *key = x ? X509_get_pubkey(x) : NULL;
	int rc;
	if (!key) {
		rc = vigil__error_set(err, VIGIL_E_VERIFY,
				      "the certificate is not one DER X.509 certificate with a "
				      "public key");
	} else {
		static const uint8_t none[1];
		uint8_t h[SHA256_LEN];
		char hex[2 * SHA256_LEN + 1];
		vigil_sha256(der, der_len, h);
		vigil_hex_encode(h, SHA256_LEN, hex);
		rc = record_verify(key, data ? data : none, data_len, sig, sig_len) == VG_OK
			     ? VIGIL_OK
			     : vigil__error_set(err, VIGIL_E_VERIFY,
						"the signature does not verify with the key of "
						"certificate %s", hex);
	}
	EVP_PKEY_free(key);
	X509_free(x);
	ERR_clear_error();
	return rc;
}

int vigil_sign_document(vigil_client *c, const uint8_t *data, size_t len, uint8_t **sig,
			size_t *sig_len, struct vigil_error *err)
{
	if (sig)
		*sig = NULL;
	if (sig_len)
		*sig_len = 0;
	if (!c || !c->key || (!data && len) || !sig || !sig_len)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_sign_document: NULL argument");
	/* The key signs records; a document that is one would be a record
	 * signed outside the checks of vigil_build_*. */
	static const uint8_t none[1];
	Vigil__V1__Record *r = NULL;
	char why[160];
	if (record_parse(data ? data : none, len, &r, why, sizeof(why)) == VG_OK) {
		record_free(r);
		return vigil__error_set(err, VIGIL_E_USAGE,
					"vigil_sign_document: these bytes are a vigil record; "
					"records are signed by the vigil_build_* calls only");
	}
	return vigil__record_sign(c, (uint8_t *)(data ? data : none), len, sig, sig_len, err);
}

int vigil_client_certificate(const vigil_client *c, uint8_t **der, size_t *len,
			     struct vigil_error *err)
{
	if (der)
		*der = NULL;
	if (len)
		*len = 0;
	if (!c || !der || !len)
		return vigil__error_set(err, VIGIL_E_USAGE,
					"vigil_client_certificate: NULL argument");
	unsigned char *p = NULL;
	int n = i2d_X509(SSL_CTX_get0_certificate(c->ctx), &p);
	if (n <= 0) {
		ERR_clear_error();
		return vigil__error_set(err, VIGIL_E_NOMEM, "cannot encode our certificate");
	}
	*der = malloc((size_t)n);
	if (*der) {
		memcpy(*der, p, (size_t)n);
		*len = (size_t)n;
	}
	OPENSSL_free(p);
	return *der ? VIGIL_OK : vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
}

int vigil_checkpoint_key_format(const struct vigil_checkpoint_key *key, const char *name,
				char *out, size_t out_len, struct vigil_error *err)
{
	if (!key || !out || out_len == 0)
		return vigil__error_set(err, VIGIL_E_USAGE,
					"vigil_checkpoint_key_format: NULL argument");
	out[0] = '\0';
	if (!name)
		name = key->name;
	struct note_verifier v;
	memset(&v, 0, sizeof(v));
	size_t n = strlen(name);
	if (n == 0 || n > NOTE_NAME_MAX)
		return vigil__error_set(err, VIGIL_E_USAGE,
					"vigil_checkpoint_key_format: the key name must be 1-%d "
					"bytes", NOTE_NAME_MAX);
	memcpy(v.name, name, n);
	memcpy(v.pub, key->public_key, ED25519_LEN);
	v.id = note_key_id(v.name, v.pub);
	if (note_verifier_format(&v, out, out_len) != VG_OK) {
		out[0] = '\0';
		return vigil__error_set(err, VIGIL_E_USAGE,
					"vigil_checkpoint_key_format: the key name is not a valid "
					"key name, or out is too small");
	}
	return VIGIL_OK;
}

int vigil_sealed_plain_check(const uint8_t *record, size_t record_len, const uint8_t *plain,
			     size_t plain_len, char **text, struct vigil_error *err)
{
	if (text)
		*text = NULL;
	if ((!record && record_len) || (!plain && plain_len))
		return vigil__error_set(err, VIGIL_E_USAGE,
					"vigil_sealed_plain_check: NULL argument");
	static const uint8_t none[1];
	Vigil__V1__Record *r = NULL;
	char why[256] = "";
	if (record_parse(record ? record : none, record_len, &r, why, sizeof(why)) != VG_OK)
		return vigil__error_set(err, VIGIL_E_USAGE, "not a valid record: %s", why);
	int field = 0;
	const Vigil__V1__SealedText *t = record_sealed_text(r, &field, NULL);
	int rc;
	if (!t) {
		rc = vigil__error_set(err, VIGIL_E_USAGE, "the record seals no text");
	} else {
		char *s = NULL;
		size_t sl = 0;
		int vg = sealed_plain_parse(plain ? plain : none, plain_len, field,
					    r->record_id.data, t->commitment.data, &s, &sl, why,
					    sizeof(why));
		if (vg == VG_ENOMEM)
			rc = vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
		else if (vg != VG_OK)
			rc = vigil__error_set(err, VIGIL_E_VERIFY, "the sealed %s does not verify: %s",
					      sealed_field_name(field), why);
		else
			rc = VIGIL_OK;
		if (rc == VIGIL_OK && text)
			*text = s;
		else
			free(s);
	}
	record_free(r);
	return rc;
}
