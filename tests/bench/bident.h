/*
 * bident.h - what a benchmark client holds: its certificate and key, the
 * TLS 1.3 client context built from them, and the relay's checkpoint key.
 *
 * Everything is read from a PKI directory made by certs/mkpki.sh:
 * NAME.crt and NAME.key (the client), ca.crt (trust anchor for the relay's
 * certificate) and checkpoint.pub (the relay's Ed25519 checkpoint key).
 *
 * Ownership: a bident owns every object it points to; bident_free()
 * releases them and is safe on a zeroed or half-loaded bident.
 */
#ifndef VIGIL_TESTS_BENCH_BIDENT_H
#define VIGIL_TESTS_BENCH_BIDENT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "proto/note.h"
#include "proto/record.h"

struct bident {
	EVP_PKEY *key;                    /* the client's private key */
	uint8_t *cert_der;                /* its DER certificate */
	size_t cert_der_len;
	uint8_t cert_sha256[SHA256_LEN];  /* SHA-256 of cert_der */
	char org[RECORD_ORG_MAX + 1];     /* certificate subject O: the author */
	SSL_CTX *ctx;                     /* TLS 1.3, ALPN vigil/1; NULL without tls */
	struct note_verifier ckpt;        /* checkpoint key under the log's origin */
	int has_ckpt;
};

/*
 * Loads PKI_DIR/NAME.crt and NAME.key.  With origin != NULL also builds the
 * TLS context and the checkpoint verifier (key name = origin).  0, or -1
 * with a reason in err.
 */
int bident_load(struct bident *id, const char *pki_dir, const char *name, const char *origin,
		char *err, size_t err_len);
void bident_free(struct bident *id);

#endif
