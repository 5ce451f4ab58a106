#include "tests/bench/bident.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "proto/status.h"

static int fail(char *err, size_t err_len, const char *what, const char *path)
{
	unsigned long e = ERR_get_error();
	snprintf(err, err_len, "%s %s: %s", what, path, e ? ERR_reason_error_string(e) : "failed");
	ERR_clear_error();
	return -1;
}

int bident_load(struct bident *id, const char *pki_dir, const char *name, const char *origin,
		char *err, size_t err_len)
{
	char crt[1024], key[1024], ca[1024], pub[1024];
	memset(id, 0, sizeof(*id));
	snprintf(crt, sizeof(crt), "%s/%s.crt", pki_dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", pki_dir, name);
	snprintf(ca, sizeof(ca), "%s/ca.crt", pki_dir);
	snprintf(pub, sizeof(pub), "%s/checkpoint.pub", pki_dir);

	FILE *f = fopen(crt, "r");
	if (!f)
		return fail(err, err_len, "cannot open", crt);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x)
		return fail(err, err_len, "cannot read", crt);
	unsigned char *der = NULL;
	int der_len = i2d_X509(x, &der);
	if (der_len <= 0) {
		X509_free(x);
		return fail(err, err_len, "cannot encode", crt);
	}
	id->cert_der = malloc((size_t)der_len);
	if (!id->cert_der) {
		OPENSSL_free(der);
		X509_free(x);
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	memcpy(id->cert_der, der, (size_t)der_len);
	id->cert_der_len = (size_t)der_len;
	OPENSSL_free(der);
	unsigned int n = 0;
	if (X509_digest(x, EVP_sha256(), id->cert_sha256, &n) != 1 || n != SHA256_LEN ||
	    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_organizationName, id->org,
				      sizeof(id->org)) <= 0) {
		X509_free(x);
		bident_free(id);
		return fail(err, err_len, "no organisation (O) in", crt);
	}
	X509_free(x);

	if (!(f = fopen(key, "r"))) {
		bident_free(id);
		return fail(err, err_len, "cannot open", key);
	}
	id->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!id->key) {
		bident_free(id);
		return fail(err, err_len, "cannot read", key);
	}
	if (!origin)
		return 0;

	/* The relay's checkpoint key, under the origin as the key name. */
	if (!(f = fopen(pub, "r"))) {
		bident_free(id);
		return fail(err, err_len, "cannot open", pub);
	}
	EVP_PKEY *cp = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (!cp || note_verifier_from_key(cp, origin, &id->ckpt) != VG_OK) {
		EVP_PKEY_free(cp);
		bident_free(id);
		return fail(err, err_len, "not an Ed25519 public key (or a bad origin):", pub);
	}
	EVP_PKEY_free(cp);
	id->has_ckpt = 1;

	static const unsigned char alpn[] = "\x07vigil/1";
	id->ctx = SSL_CTX_new(TLS_client_method());
	if (!id->ctx || SSL_CTX_set_min_proto_version(id->ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(id->ctx, ca, NULL) != 1 ||
	    SSL_CTX_use_certificate_file(id->ctx, crt, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(id->ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_set_alpn_protos(id->ctx, alpn, sizeof(alpn) - 1) != 0) {
		bident_free(id);
		return fail(err, err_len, "cannot set up TLS with", crt);
	}
	SSL_CTX_set_verify(id->ctx, SSL_VERIFY_PEER, NULL);
	/* Partial writes from a buffer that may move between retries: the
	 * connection writes whatever the socket takes and keeps the rest. */
	SSL_CTX_set_mode(id->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return 0;
}

void bident_free(struct bident *id)
{
	SSL_CTX_free(id->ctx);
	EVP_PKEY_free(id->key);
	free(id->cert_der);
	memset(id, 0, sizeof(*id));
}
