/*
 * libFuzzer target: a certificate subject to an identity (daemon/
 * identity.c), as the verify callback reads every peer's certificate.  The
 * input is a certificate in PEM or DER.  An identity it accepts must hold
 * what the rules promise: an organisation id of [a-z0-9-], a known role, a
 * two-letter country and NUL-terminated fields.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "daemon/identity.h"
#include "proto/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static X509 *read_cert(const uint8_t *data, size_t size)
{
	if (size > (size_t)INT32_MAX)
		return NULL;
	BIO *b = BIO_new_mem_buf(data, (int)size);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!x) {
		const unsigned char *p = data;
		x = d2i_X509(NULL, &p, (long)size);
	}
	ERR_clear_error();
	return x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	X509 *x = read_cert(data, size);
	if (!x)
		return 0;
	struct identity id;
	char why[256];
	if (identity_from_cert(x, &id, why, sizeof(why)) == 0) {
		if (!record_org_ok(id.org) || id.role <= ROLE_NONE || id.role > ROLE_RELAY ||
		    strlen(id.country) != 2 || memchr(id.name, '\0', sizeof(id.name)) == NULL)
			abort();
	} else if (memchr(why, '\0', sizeof(why)) == NULL || why[0] == '\0') {
		abort(); /* a refusal always says why */
	}
	X509_free(x);
	return 0;
}
