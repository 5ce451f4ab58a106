/*
 * test_sealed.c - sealed text (proto/sealed.c) with the development PKI's
 * encryption certificates (certs/mkpki.sh, ORG.enc.crt): round trips both
 * ways with the `openssl cms` command line, the fixed length of P and of
 * the envelope, and every refusal with its exact reason.
 *
 * PKI_DIR is the ctest fixture's PKI; SCRATCH a directory for files the
 * openssl command reads and writes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "proto/sealed.h"
#include "proto/status.h"

static char scratch[512];

static const char *pki(const char *name)
{
	static char path[4][600];
	static int k;
	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/%s", PKI_DIR, name);
	return path[k];
}

static const char *tmpf(const char *name)
{
	static char path[4][700];
	static int k;
	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/%s", scratch, name);
	return path[k];
}

static X509 *cert(const char *org)
{
	char name[128];
	snprintf(name, sizeof(name), "%s.enc.crt", org);
	FILE *f = fopen(pki(name), "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *key(const char *org)
{
	char name[128];
	snprintf(name, sizeof(name), "%s.enc.key", org);
	FILE *f = fopen(pki(name), "r");
	assert_non_null(f);
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	return k;
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static uint8_t *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t *buf = malloc(65536);
	assert_non_null(buf);
	*n = fread(buf, 1, 65536, f);
	fclose(f);
	return buf;
}

/* Runs a shell command (openssl); its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static const uint8_t rid_a[RECORD_ID_LEN] = { 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
					      0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xa0 };
static const uint8_t rid_b[RECORD_ID_LEN] = { 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8,
					      0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xb0 };
static const char *text = "reached her sister at the market; \xc3\xa4 she says he came twice";

static uint8_t plain[SEALED_HEAD_LEN + RECORD_NOTE_MAX];

static void build_note(const uint8_t *rid, const char *t)
{
	char why[256];
	assert_int_equal(sealed_plain_build(SEALED_NOTE, rid, NULL, t, strlen(t), plain, why,
					    sizeof(why)),
			 VG_OK);
}

/* Seals plain (a note) to the orgs' encryption certificates. */
static uint8_t *seal_to(const char *const *orgs, size_t n, size_t *len)
{
	X509 *r[8];
	for (size_t i = 0; i < n; i++)
		r[i] = cert(orgs[i]);
	uint8_t *der;
	char why[256];
	if (sealed_seal(plain, sealed_plain_len(SEALED_NOTE), r, n, &der, len, why,
			sizeof(why)) != VG_OK)
		fail_msg("seal: %s", why);
	for (size_t i = 0; i < n; i++)
		X509_free(r[i]);
	return der;
}

static void want_check(const uint8_t *der, size_t len, int status, const char *msg)
{
	char why[256] = "";
	int rc = sealed_check(der, len, NULL, why, sizeof(why));
	if (rc != status || strcmp(why, msg) != 0)
		fail_msg("sealed_check: %d \"%s\", want %d \"%s\"", rc, why, status, msg);
}

static const char *const three[] = { "iom-ru-moscow", "se-stockholm-coord", "se-shelter-1" };

static void test_round_trip(void **state)
{
	(void)state;
	build_note(rid_a, text);
	uint8_t c[SHA256_LEN];
	sealed_commit(plain, sealed_plain_len(SEALED_NOTE), c);
	size_t len;
	uint8_t *der = seal_to(three, 3, &len);
	CMS_ContentInfo *cms;
	char why[256];
	if (sealed_check(der, len, &cms, why, sizeof(why)) != VG_OK)
		fail_msg("our own envelope refused: %s", why);
	X509 *r[3] = { cert(three[0]), cert(three[1]), cert(three[2]) };
	assert_int_equal(sealed_recipients(cms, r, 3, why, sizeof(why)), VG_OK);
	/* Any order of the readers. */
	X509 *rev[3] = { r[2], r[0], r[1] };
	assert_int_equal(sealed_recipients(cms, rev, 3, why, sizeof(why)), VG_OK);
	CMS_ContentInfo_free(cms);
	for (int i = 0; i < 3; i++) {
		EVP_PKEY *k = key(three[i]);
		uint8_t *p;
		size_t pl;
		if (sealed_open(der, len, k, r[i], &p, &pl, why, sizeof(why)) != VG_OK)
			fail_msg("%s cannot open: %s", three[i], why);
		char *t;
		size_t tl;
		assert_int_equal(sealed_plain_parse(p, pl, SEALED_NOTE, rid_a, c, &t, &tl, why,
						    sizeof(why)),
				 VG_OK);
		assert_string_equal(t, text);
		assert_int_equal(tl, strlen(text));
		free(t);
		free(p);
		EVP_PKEY_free(k);
	}
	/* Police are not a recipient. */
	X509 *pc = cert("se-police-noa");
	EVP_PKEY *pk = key("se-police-noa");
	uint8_t *p;
	size_t pl;
	assert_int_equal(sealed_open(der, len, pk, pc, &p, &pl, why, sizeof(why)), VG_EPERM);
	assert_string_equal(why, "this encryption certificate is not a recipient of the sealed text");
	X509_free(pc);
	EVP_PKEY_free(pk);
	for (int i = 0; i < 3; i++)
		X509_free(r[i]);
	free(der);
}

/* Every note has one length, and so has its envelope to the same readers. */
static void test_fixed_length(void **state)
{
	(void)state;
	char longest[RECORD_NOTE_MAX + 1];
	memset(longest, 'x', RECORD_NOTE_MAX);
	longest[RECORD_NOTE_MAX] = '\0';
	const char *texts[] = { "", "ok", text, longest };
	size_t first = 0;
	for (size_t i = 0; i < 4; i++) {
		build_note(rid_a, texts[i]);
		size_t len;
		uint8_t *der = seal_to(three, 3, &len);
		if (i == 0)
			first = len;
		assert_int_equal(len, first);
		free(der);
	}
	assert_int_equal(sealed_plain_len(SEALED_NOTE), SEALED_HEAD_LEN + RECORD_NOTE_MAX);
	assert_int_equal(sealed_plain_len(SEALED_ACK_REASON), SEALED_HEAD_LEN + RECORD_TEXT_MAX);
	char why[256];
	longest[RECORD_NOTE_MAX - 1] = 'y';
	char over[RECORD_NOTE_MAX + 2];
	snprintf(over, sizeof(over), "%sz", longest);
	assert_int_equal(sealed_plain_build(SEALED_NOTE, rid_a, NULL, over, strlen(over), plain,
					    why, sizeof(why)),
			 VG_ETOOLARGE);
	assert_string_equal(why, "note is 513 bytes, at most 512");
	assert_int_equal(sealed_plain_build(SEALED_NOTE, rid_a, NULL, "\xc3(", 2, plain, why,
					    sizeof(why)),
			 VG_EBADREQ);
	assert_string_equal(why, "note is not valid UTF-8");
}

/* libvigil seals, the openssl command opens: P and its SHA-256 as signed. */
static void test_openssl_decrypts(void **state)
{
	(void)state;
	build_note(rid_a, text);
	size_t len;
	uint8_t *der = seal_to(three, 3, &len);
	write_file(tmpf("sealed.der"), der, len);
	assert_int_equal(sh("openssl cms -decrypt -binary -inform DER -in %s -recip %s -inkey %s "
			    "-out %s",
			    tmpf("sealed.der"), pki("se-shelter-1.enc.crt"),
			    pki("se-shelter-1.enc.key"), tmpf("p.bin")),
			 0);
	size_t pl;
	uint8_t *p = read_file(tmpf("p.bin"), &pl);
	assert_int_equal(pl, sealed_plain_len(SEALED_NOTE));
	assert_memory_equal(p, plain, pl);
	free(p);
	/* The commitment, as `openssl dgst -sha256` computes it. */
	uint8_t c[SHA256_LEN];
	char hex[2 * SHA256_LEN + 1], want[200];
	sealed_commit(plain, pl, c);
	for (unsigned i = 0; i < SHA256_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", c[i]);
	assert_int_equal(sh("openssl dgst -sha256 -r %s > %s", tmpf("p.bin"), tmpf("dgst")), 0);
	size_t dl;
	uint8_t *d = read_file(tmpf("dgst"), &dl);
	snprintf(want, sizeof(want), "%s *%s\n", hex, tmpf("p.bin"));
	assert_int_equal(dl, strlen(want));
	assert_memory_equal(d, want, dl);
	free(d);
	/* Not to police. */
	assert_int_not_equal(sh("openssl cms -decrypt -binary -inform DER -in %s -recip %s "
				"-inkey %s -out %s 2>/dev/null",
				tmpf("sealed.der"), pki("se-police-noa.enc.crt"),
				pki("se-police-noa.enc.key"), tmpf("p2.bin")),
			     0);
	free(der);
}

/* The openssl command seals (as the evidence procedure does), libvigil
 * checks and opens. */
static void test_openssl_encrypts(void **state)
{
	(void)state;
	build_note(rid_b, "written with openssl");
	write_file(tmpf("p.bin"), plain, sealed_plain_len(SEALED_NOTE));
	assert_int_equal(sh("openssl cms -encrypt -binary -aes-256-gcm -in %s -outform DER "
			    "-out %s -recip %s -keyopt ecdh_kdf_md:sha256 -recip %s "
			    "-keyopt ecdh_kdf_md:sha256",
			    tmpf("p.bin"), tmpf("cli.der"), pki("iom-ru-moscow.enc.crt"),
			    pki("se-stockholm-coord.enc.crt")),
			 0);
	size_t len;
	uint8_t *der = read_file(tmpf("cli.der"), &len);
	CMS_ContentInfo *cms;
	char why[256];
	if (sealed_check(der, len, &cms, why, sizeof(why)) != VG_OK)
		fail_msg("openssl's envelope refused: %s", why);
	X509 *r[2] = { cert("iom-ru-moscow"), cert("se-stockholm-coord") };
	assert_int_equal(sealed_recipients(cms, r, 2, why, sizeof(why)), VG_OK);
	CMS_ContentInfo_free(cms);
	EVP_PKEY *k = key("se-stockholm-coord");
	uint8_t *p;
	size_t pl;
	assert_int_equal(sealed_open(der, len, k, r[1], &p, &pl, why, sizeof(why)), VG_OK);
	assert_int_equal(pl, sealed_plain_len(SEALED_NOTE));
	assert_memory_equal(p, plain, pl);
	free(p);
	EVP_PKEY_free(k);
	X509_free(r[0]);
	X509_free(r[1]);
	free(der);
}

/* Envelopes of another form, each made by the openssl command. */
static void test_refused_forms(void **state)
{
	(void)state;
	build_note(rid_a, text);
	write_file(tmpf("p.bin"), plain, sealed_plain_len(SEALED_NOTE));
	static const struct {
		const char *cipher, *keyopt;
		const char *why;
	} cases[] = {
		/* OpenSSL's default KDF is SHA-1. */
		{ "-aes-256-gcm", "",
		  "sealed text recipient 1: key agreement must be "
		  "dhSinglePass-stdDH-sha256kdf-scheme, not dhSinglePass-stdDH-sha1kdf-scheme" },
		{ "-aes-256-cbc", "-keyopt ecdh_kdf_md:sha256",
		  "sealed text must be CMS AuthEnvelopedData, not pkcs7-envelopedData" },
		{ "-aes-128-gcm", "-keyopt ecdh_kdf_md:sha256",
		  "sealed text must be encrypted with aes-256-gcm, not aes-128-gcm" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(sh("openssl cms -encrypt -binary -in %s -outform DER -out %s %s "
				    "-recip %s %s",
				    tmpf("p.bin"), tmpf("bad.der"), cases[i].cipher,
				    pki("iom-ru-moscow.enc.crt"), cases[i].keyopt),
				 0);
		size_t len;
		uint8_t *der = read_file(tmpf("bad.der"), &len);
		want_check(der, len, VG_EBADREQ, cases[i].why);
		free(der);
	}
	/* Signed, not enveloped. */
	assert_int_equal(sh("openssl cms -sign -binary -in %s -outform DER -out %s -signer %s "
			    "-inkey %s",
			    tmpf("p.bin"), tmpf("signed.der"), pki("iom-ru-moscow.crt"),
			    pki("iom-ru-moscow.key")),
			 0);
	size_t len;
	uint8_t *der = read_file(tmpf("signed.der"), &len);
	want_check(der, len, VG_EBADREQ, "sealed text must be CMS AuthEnvelopedData, not pkcs7-signedData");
	free(der);
}

static void test_refused_bytes(void **state)
{
	(void)state;
	build_note(rid_a, text);
	size_t len;
	uint8_t *der = seal_to(three, 3, &len);
	want_check(der, 0, VG_EBADREQ, "sealed text is empty");
	want_check((const uint8_t *)"garbage", 7, VG_EBADREQ, "sealed text is not DER CMS");
	want_check(der, len - 1, VG_EBADREQ, "sealed text is not DER CMS");
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, der, len);
	longer[len] = 0;
	want_check(longer, len + 1, VG_EBADREQ, "sealed text is not DER CMS");
	free(longer);
	uint8_t big[SEALED_CMS_MAX + 1] = { 0 };
	want_check(big, sizeof(big), VG_ETOOLARGE, "sealed text is 16385 bytes, at most 16384");

	/* A byte of the ciphertext or of the tag changed: the form holds,
	 * opening fails. */
	char why[256];
	X509 *c = cert("iom-ru-moscow");
	EVP_PKEY *k = key("iom-ru-moscow");
	for (size_t off = len - 1; off >= len - 40; off -= 20) {
		der[off] ^= 0x01;
		assert_int_equal(sealed_check(der, len, NULL, why, sizeof(why)), VG_OK);
		uint8_t *p;
		size_t pl;
		assert_int_equal(sealed_open(der, len, k, c, &p, &pl, why, sizeof(why)),
				 VG_EBADSIG);
		assert_string_equal(why,
				    "sealed text does not open: its authentication tag or key wrap fails");
		der[off] ^= 0x01;
	}
	X509_free(c);
	EVP_PKEY_free(k);
	free(der);
}

/* The recipients must be exactly the readers the record names. */
static void test_recipient_set(void **state)
{
	(void)state;
	build_note(rid_a, text);
	size_t len;
	uint8_t *der = seal_to(three, 2, &len); /* iom, coordinator */
	CMS_ContentInfo *cms;
	char why[256];
	assert_int_equal(sealed_check(der, len, &cms, why, sizeof(why)), VG_OK);
	X509 *r[3] = { cert(three[0]), cert(three[1]), cert(three[2]) };
	assert_int_equal(sealed_recipients(cms, r, 3, why, sizeof(why)), VG_EBADREQ);
	assert_string_equal(why, "sealed text has no recipient for reader 3 (se-shelter-1)");
	assert_int_equal(sealed_recipients(cms, r, 1, why, sizeof(why)), VG_EBADREQ);
	assert_string_equal(why, "sealed text has 1 recipient besides the record's readers");
	X509 *none[1] = { r[2] };
	assert_int_equal(sealed_recipients(cms, none + 0, 0, why, sizeof(why)), VG_EBADREQ);
	assert_string_equal(why, "sealed text has 2 recipients besides the record's readers");
	/* A missing reader is named before a recipient too many. */
	X509 *other[2] = { r[0], r[2] };
	assert_int_equal(sealed_recipients(cms, other, 2, why, sizeof(why)), VG_EBADREQ);
	assert_string_equal(why, "sealed text has no recipient for reader 2 (se-shelter-1)");
	/* A reader the record names twice has one recipient only. */
	X509 *twice[3] = { r[0], r[1], r[0] };
	assert_int_equal(sealed_recipients(cms, twice, 3, why, sizeof(why)), VG_EBADREQ);
	assert_string_equal(why, "sealed text has no recipient for reader 3 (iom-ru-moscow)");
	/* An envelope with two recipients for one certificate. */
	static const char *const iom_twice[] = { "iom-ru-moscow", "iom-ru-moscow" };
	size_t len2;
	uint8_t *der2 = seal_to(iom_twice, 2, &len2);
	CMS_ContentInfo *cms2;
	assert_int_equal(sealed_check(der2, len2, &cms2, why, sizeof(why)), VG_OK);
	assert_int_equal(sealed_recipients(cms2, r, 1, why, sizeof(why)), VG_EBADREQ);
	assert_string_equal(why, "sealed text names reader 1 (iom-ru-moscow) twice");
	CMS_ContentInfo_free(cms2);
	free(der2);
	/* A TLS certificate of the same organisation is another certificate. */
	FILE *f = fopen(pki("iom-ru-moscow.crt"), "r");
	assert_non_null(f);
	X509 *tls = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	X509 *with_tls[2] = { tls, r[1] };
	assert_int_equal(sealed_recipients(cms, with_tls, 2, why, sizeof(why)), VG_EBADREQ);
	assert_string_equal(why, "sealed text has no recipient for reader 1 (iom-ru-moscow)");
	X509_free(tls);
	CMS_ContentInfo_free(cms);
	for (int i = 0; i < 3; i++)
		X509_free(r[i]);
	free(der);
}

/* What a reader checks after opening: P against the signed record. */
static void test_plain_checks(void **state)
{
	(void)state;
	char why[256], *t;
	size_t tl, n = sealed_plain_len(SEALED_NOTE);
	uint8_t c[SHA256_LEN];
	build_note(rid_a, text);
	sealed_commit(plain, n, c);
	/* A blob pasted into another record. */
	assert_int_equal(sealed_plain_parse(plain, n, SEALED_NOTE, rid_b, c, &t, &tl, why,
					    sizeof(why)),
			 VG_EBADREQ);
	assert_string_equal(why, "sealed text belongs to record a1a2a3a4a5a6a7a8a9aaabacadaeafa0, "
				 "not to record b1b2b3b4b5b6b7b8b9babbbcbdbebfb0");
	/* A tampered P under a valid envelope: the commitment says no. */
	plain[SEALED_HEAD_LEN] ^= 0x20;
	assert_int_equal(sealed_plain_parse(plain, n, SEALED_NOTE, rid_a, c, &t, &tl, why,
					    sizeof(why)),
			 VG_EBADREQ);
	assert_string_equal(why, "sealed text does not match the record's commitment");
	plain[SEALED_HEAD_LEN] ^= 0x20;
	/* Another field, another length. */
	assert_int_equal(sealed_plain_parse(plain, n, SEALED_ACK_REASON, rid_a, c, &t, &tl, why,
					    sizeof(why)),
			 VG_EBADREQ);
	assert_string_equal(why, "sealed text is 579 bytes; a sealed acknowledgement reason is 347");
	/* A P the author built wrongly, committed to as it is. */
	uint8_t bad[SEALED_HEAD_LEN + RECORD_NOTE_MAX];
	memcpy(bad, plain, n);
	bad[n - 1] = 'x';
	sealed_commit(bad, n, c);
	assert_int_equal(sealed_plain_parse(bad, n, SEALED_NOTE, rid_a, c, &t, &tl, why,
					    sizeof(why)),
			 VG_EBADREQ);
	assert_string_equal(why, "sealed text's padding is not zero bytes");
	memcpy(bad, plain, n);
	bad[SEALED_HEAD_LEN] = 0xff;
	sealed_commit(bad, n, c);
	assert_int_equal(sealed_plain_parse(bad, n, SEALED_NOTE, rid_a, c, &t, &tl, why,
					    sizeof(why)),
			 VG_EBADREQ);
	assert_string_equal(why, "sealed text is not valid UTF-8");
	memcpy(bad, plain, n);
	bad[0] = 'V';
	sealed_commit(bad, n, c);
	assert_int_equal(sealed_plain_parse(bad, n, SEALED_NOTE, rid_a, c, &t, &tl, why,
					    sizeof(why)),
			 VG_EBADREQ);
	assert_string_equal(why, "sealed text does not start with the tag \"vigil-sealed-v1\"");
	memcpy(bad, plain, n);
	bad[SEALED_HEAD_LEN - 2] = 0x02; /* 512 + length */
	sealed_commit(bad, n, c);
	assert_int_equal(sealed_plain_parse(bad, n, SEALED_NOTE, rid_a, c, &t, &tl, why,
					    sizeof(why)),
			 VG_EBADREQ);
	assert_true(strncmp(why, "sealed text says ", 17) == 0);
	/* The same text twice: different salts, different commitments. */
	uint8_t c2[SHA256_LEN];
	build_note(rid_a, text);
	sealed_commit(plain, n, c);
	build_note(rid_a, text);
	sealed_commit(plain, n, c2);
	assert_memory_not_equal(c, c2, SHA256_LEN);
}

static int setup(void **state)
{
	(void)state;
	snprintf(scratch, sizeof(scratch), "%s/sealed.XXXXXX", TEST_TMP);
	mkdir(TEST_TMP, 0700);
	return mkdtemp(scratch) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	sh("rm -rf '%s'", scratch);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_fixed_length),
		cmocka_unit_test(test_openssl_decrypts), cmocka_unit_test(test_openssl_encrypts),
		cmocka_unit_test(test_refused_forms),    cmocka_unit_test(test_refused_bytes),
		cmocka_unit_test(test_recipient_set),    cmocka_unit_test(test_plain_checks),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
