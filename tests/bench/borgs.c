#include "tests/bench/borgs.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

enum borgs_role borgs_role(size_t i)
{
	static const enum borgs_role tenth[10] = {
		BORGS_COORDINATOR, BORGS_IOM, BORGS_IOM, BORGS_IOM, BORGS_IOM,
		BORGS_SHELTER, BORGS_SHELTER, BORGS_SHELTER, BORGS_POLICE, BORGS_POLICE,
	};
	return tenth[i % 10];
}

const char *borgs_role_name(enum borgs_role r)
{
	static const char *const names[] = { "coordinator", "iom", "shelter", "police" };
	return names[r];
}

static const char *country(size_t i)
{
	static const char *const iom[] = { "RU", "MD", "UA", "NG", "RO", "AL", "VN", "BY" };
	return borgs_role(i) == BORGS_IOM ? iom[(i / 10) % 8] : "SE";
}

void borgs_id(size_t i, char out[BORGS_ID_MAX])
{
	static const char *const short_names[] = { "coord", "iom", "shelter", "police" };
	snprintf(out, BORGS_ID_MAX, "mx-%s-%04zu", short_names[borgs_role(i)], i);
}

static int fail(char *err, size_t err_len, const char *what)
{
	unsigned long e = ERR_get_error();
	snprintf(err, err_len, "%s: %s", what, e ? ERR_reason_error_string(e) : "failed");
	ERR_clear_error();
	return -1;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = e && X509_add_ext(x, e, -1) == 1;
	X509_EXTENSION_free(e);
	return ok ? 0 : -1;
}

/* One client certificate for key, issued by (ca, ca_key). */
static X509 *make_cert(size_t i, const char *id, EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	uint8_t serial[9];
	char cn[96];
	snprintf(cn, sizeof(cn), "Mixed benchmark %s %zu", borgs_role_name(borgs_role(i)), i);
	BIGNUM *bn = NULL;
	int ok = x && name && RAND_bytes(serial, sizeof(serial)) == 1;
	if (ok) {
		serial[0] = (uint8_t)((serial[0] & 0x3f) | 0x10); /* positive, 71-72 bits */
		bn = BN_bin2bn(serial, sizeof(serial), NULL);
		ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	}
	ok = ok && X509_set_version(x, 2) == 1 &&
	     X509_NAME_add_entry_by_txt(name, "C", MBSTRING_UTF8,
					(const unsigned char *)country(i), -1, -1, 0) == 1 &&
	     X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)id,
					-1, -1, 0) == 1 &&
	     X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8,
					(const unsigned char *)borgs_role_name(borgs_role(i)),
					-1, -1, 0) == 1 &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn,
					-1, -1, 0) == 1 &&
	     X509_set_subject_name(x, name) == 1 &&
	     X509_set_issuer_name(x, X509_get_subject_name(ca)) == 1 &&
	     X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL &&
	     X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400) != NULL &&
	     X509_set_pubkey(x, key) == 1;
	if (ok) {
		X509V3_CTX ctx;
		X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
		ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
		     add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") == 0 &&
		     add_ext(x, &ctx, NID_ext_key_usage, "clientAuth") == 0 &&
		     add_ext(x, &ctx, NID_subject_key_identifier, "hash") == 0 &&
		     add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") == 0 &&
		     X509_sign(x, ca_key, EVP_sha256()) > 0;
	}
	BN_free(bn);
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Writes the key (0600) and the certificate of one organisation. */
static int write_pair(const char *pki_dir, const char *id, EVP_PKEY *key, X509 *x)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s.key", pki_dir, id);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
	ok = fclose(f) == 0 && ok;
	snprintf(path, sizeof(path), "%s/%s.crt", pki_dir, id);
	if (!ok || !(f = fopen(path, "w")))
		return -1;
	ok = PEM_write_X509(f, x) == 1;
	ok = fclose(f) == 0 && ok;
	return ok ? 0 : -1;
}

int borgs_make(const char *pki_dir, size_t n, char *err, size_t err_len)
{
	char path[1024];
	X509 *ca = NULL;
	EVP_PKEY *ca_key = NULL;
	FILE *dir = NULL;
	int rc = -1;
	snprintf(path, sizeof(path), "%s/ca.crt", pki_dir);
	FILE *f = fopen(path, "r");
	if (f) {
		ca = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/ca.key", pki_dir);
	if ((f = fopen(path, "r"))) {
		ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!ca || !ca_key) {
		fail(err, err_len, "cannot read the CA (ca.crt, ca.key)");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/directory.conf", pki_dir);
	if (!(dir = fopen(path, "a"))) {
		snprintf(err, err_len, "cannot append to %s", path);
		goto out;
	}
	fprintf(dir, "\n; %zu members of the mixed benchmark (tests/bench/borgs.c)\n", n);
	for (size_t i = 0; i < n; i++) {
		char id[BORGS_ID_MAX];
		borgs_id(i, id);
		EVP_PKEY *key = EVP_EC_gen("P-256");
		X509 *x = key ? make_cert(i, id, key, ca, ca_key) : NULL;
		int ok = x && write_pair(pki_dir, id, key, x) == 0;
		X509_free(x);
		EVP_PKEY_free(key);
		if (!ok) {
			fail(err, err_len, "cannot make a member's key and certificate");
			goto out;
		}
		fprintf(dir, "\n[%s]\nrole = %s\ncountry = %s\nname = Mixed benchmark %s %zu\n", id,
			borgs_role_name(borgs_role(i)), country(i), borgs_role_name(borgs_role(i)), i);
	}
	rc = 0;
out:
	if (dir && fclose(dir) != 0 && rc == 0) {
		snprintf(err, err_len, "cannot write the directory");
		rc = -1;
	}
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return rc;
}
