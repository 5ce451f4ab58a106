/*
 * pkikit.h - what the tests that change a relay's trust need of the test
 * PKI: its certificates and keys read back, a CRL signed by its CA, and a
 * copy of its member directory without one organisation.  Each helper
 * fails the test on error.
 */
#ifndef VIGIL_TEST_PKIKIT_H
#define VIGIL_TEST_PKIKIT_H

#include <openssl/evp.h>
#include <openssl/x509.h>

/* A PEM certificate or private key (the caller frees it). */
X509 *pkikit_read_cert(const char *path);
EVP_PKEY *pkikit_read_key(const char *path);
/* A CRL from the PKI's CA, valid for a day, revoking PKI_DIR/<name>.crt of
 * each name of the NULL-terminated list; written to path (atomically). */
void pkikit_write_crl(const char *path, const char *const *names);
/* A copy of the PKI's directory at to, its encryption certificates named by
 * absolute paths, without the section of org without (NULL: all). */
void pkikit_copy_directory(const char *to, const char *without);

#endif
