/*
 * pkikit.c - the test PKI read back, a CRL signed by its CA, a copy of its
 * directory (pkikit.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#include "harness.h"
#include "pkikit.h"

X509 *pkikit_read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot read %s", path);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x)
		fail_msg("%s is no certificate", path);
	return x;
}

EVP_PKEY *pkikit_read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot read %s", path);
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k)
		fail_msg("%s is no key", path);
	return k;
}

void pkikit_write_crl(const char *path, const char *const *names)
{
	X509 *ca = pkikit_read_cert(pki("ca.crt"));
	EVP_PKEY *cakey = pkikit_read_key(pki("ca.key"));
	X509_CRL *crl = X509_CRL_new();
	assert_non_null(crl);
	assert_int_equal(X509_CRL_set_version(crl, 1), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)), 1);
	ASN1_TIME *t = ASN1_TIME_adj(NULL, time(NULL), 0, -60);
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	ASN1_TIME_adj(t, time(NULL), 1, 0);
	assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
	for (size_t i = 0; names && names[i]; i++) {
		char file[128];
		snprintf(file, sizeof(file), "%s.crt", names[i]);
		X509 *x = pkikit_read_cert(pki(file));
		X509_REVOKED *rv = X509_REVOKED_new();
		X509_REVOKED_set_serialNumber(rv, X509_get_serialNumber(x));
		ASN1_TIME_adj(t, time(NULL), 0, -60);
		X509_REVOKED_set_revocationDate(rv, t);
		assert_int_equal(X509_CRL_add0_revoked(crl, rv), 1);
		X509_free(x);
	}
	ASN1_TIME_free(t);
	X509_CRL_sort(crl);
	assert_true(X509_CRL_sign(crl, cakey, EVP_sha256()) > 0);
	char tmp[700];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
	fclose(f);
	assert_int_equal(rename(tmp, path), 0);
	X509_CRL_free(crl);
	X509_free(ca);
	EVP_PKEY_free(cakey);
}

void pkikit_copy_directory(const char *to, const char *without)
{
	FILE *in = fopen(pki("directory.conf"), "r");
	FILE *out = fopen(to, "w");
	assert_non_null(in);
	assert_non_null(out);
	char line[512];
	int skip = 0;
	while (fgets(line, sizeof(line), in)) {
		if (line[0] == '[') {
			char name[128];
			skip = without && sscanf(line, "[%127[^]]]", name) == 1 &&
			       strcmp(name, without) == 0;
		}
		if (skip)
			continue;
		char file[256];
		if (sscanf(line, "encryption_cert = %255s", file) == 1)
			fprintf(out, "encryption_cert = %s\n", pki(file));
		else
			fputs(line, out);
	}
	fclose(in);
	fclose(out);
}
