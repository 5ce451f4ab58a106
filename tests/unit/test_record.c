/*
 * test_record.c - proto/record.c and proto/status.c: record validation with
 * its exact reasons, signatures, entry leaves and leaf hashes, hex, RFC 3339
 * times, the status <-> wire mapping and the channel/outcome name tables.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "proto/record.h"
#include "proto/status.h"

#define WHY_LEN 256
#define NOT_CANONICAL \
	"record is not in canonical encoding (fields repeated, out of order or padded)"

/* A valid ContactAttempt record whose fields a test may change before
 * packing it. */
struct rec {
	Vigil__V1__Record r;
	Vigil__V1__ContactAttempt c;
	uint8_t id[RECORD_ID_LEN];
	char case_id[RECORD_CASE_ID_MAX + 8];
	char author[128];
	char note[1024];
};

static void rec_init(struct rec *x)
{
	static const Vigil__V1__Record r0 = VIGIL__V1__RECORD__INIT;
	static const Vigil__V1__ContactAttempt c0 = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	memset(x, 0, sizeof(*x));
	x->r = r0;
	x->c = c0;
	for (size_t i = 0; i < RECORD_ID_LEN; i++)
		x->id[i] = (uint8_t)(0xA0 + i);
	strcpy(x->case_id, "se-stockholm-coord/SE-2026-0042");
	strcpy(x->author, "shelter-north");
	strcpy(x->note, "Spoke with her; she is safe. Caf\xC3\xA9 meeting \xE2\x9C\x93.");
	x->r.record_id.data = x->id;
	x->r.record_id.len = RECORD_ID_LEN;
	x->r.case_id = x->case_id;
	x->r.author = x->author;
	x->r.client_time_ms = 1795857300000;
	x->r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	x->r.contact_attempt = &x->c;
	x->c.channel = VIGIL__V1__CHANNEL__CHANNEL_HOME_VISIT;
	x->c.outcome = VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE;
	x->c.attempted_at_ms = 1795857000000;
	x->c.note = x->note;
}

/* Packs r into a new buffer with room for extra bytes at the end. */
static uint8_t *rec_pack(const Vigil__V1__Record *r, size_t extra, size_t *len)
{
	size_t n = vigil__v1__record__get_packed_size(r);
	uint8_t *b = malloc(n + extra + 1);
	assert_non_null(b);
	assert_int_equal(vigil__v1__record__pack(r, b), n);
	*len = n;
	return b;
}

static void expect_parse(const uint8_t *b, size_t len, int status, const char *why_want)
{
	Vigil__V1__Record *out = NULL;
	char why[WHY_LEN] = "";
	int rc = record_parse(b, len, &out, why, sizeof(why));
	if (rc != status)
		fail_msg("record_parse returned %d (%s), expected %d", rc, why, status);
	if (status == VG_OK) {
		assert_non_null(out);
		record_free(out);
	} else {
		assert_null(out);
		assert_string_equal(why, why_want);
	}
}

static void expect_rec(const struct rec *x, int status, const char *why)
{
	size_t len;
	uint8_t *b = rec_pack(&x->r, 0, &len);
	expect_parse(b, len, status, why);
	free(b);
}

static void test_parse_valid(void **state)
{
	struct rec x;
	rec_init(&x);
	size_t len;
	uint8_t *b = rec_pack(&x.r, 0, &len);
	Vigil__V1__Record *r = NULL;
	char why[WHY_LEN] = "";

	assert_int_equal(record_parse(b, len, &r, why, sizeof(why)), VG_OK);
	assert_non_null(r);
	assert_string_equal(why, "");
	assert_int_equal(r->record_id.len, RECORD_ID_LEN);
	assert_memory_equal(r->record_id.data, x.id, RECORD_ID_LEN);
	assert_string_equal(r->case_id, "se-stockholm-coord/SE-2026-0042");
	assert_string_equal(r->author, "shelter-north");
	assert_int_equal(r->client_time_ms, 1795857300000);
	assert_int_equal(r->body_case, VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT);
	assert_int_equal(r->contact_attempt->channel, VIGIL__V1__CHANNEL__CHANNEL_HOME_VISIT);
	assert_int_equal(r->contact_attempt->outcome, VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE);
	assert_int_equal(r->contact_attempt->attempted_at_ms, 1795857000000);
	assert_string_equal(r->contact_attempt->note, x.note);
	record_free(r);
	record_free(NULL);

	/* why may be absent. */
	r = NULL;
	assert_int_equal(record_parse(b, len, &r, NULL, 0), VG_OK);
	record_free(r);
	assert_int_equal(record_parse(b, len - 1, &r, NULL, 0), VG_EBADREQ);
	free(b);

	/* Limits reached exactly are fine; an empty note is fine. */
	rec_init(&x);
	/* A 64-character owner, '/', a 64-character local part. */
	memset(x.case_id, 'o', RECORD_ORG_MAX);
	x.case_id[RECORD_ORG_MAX] = '/';
	memset(x.case_id + RECORD_ORG_MAX + 1, 'a', RECORD_CASE_LOCAL_MAX);
	x.case_id[RECORD_CASE_ID_MAX] = '\0';
	assert_int_equal(strlen(x.case_id), 129);
	memset(x.author, 'z', RECORD_ORG_MAX);
	x.author[RECORD_ORG_MAX] = '\0';
	memset(x.note, 'n', RECORD_NOTE_MAX);
	x.note[RECORD_NOTE_MAX] = '\0';
	expect_rec(&x, VG_OK, NULL);
	strcpy(x.case_id, "o/a-Z");
	strcpy(x.author, "o");
	x.note[0] = '\0';
	expect_rec(&x, VG_OK, NULL);
}

static void test_parse_record_fields(void **state)
{
	struct rec x;

	rec_init(&x);
	x.r.record_id.len = 15;
	expect_rec(&x, VG_EBADREQ, "record_id must be 16 bytes, got 15");
	x.r.record_id.len = 0;
	expect_rec(&x, VG_EBADREQ, "record_id must be 16 bytes, got 0");

	static const char *const bad_case[] = {
		"SE-2026-0042", "", "/", "se-stockholm-coord/", "/SE-2026-0042",
		"Se-stockholm-coord/SE-2026-0042", "se_stockholm/SE-2026-0042",
		"se-stockholm-coord/ab", "se-stockholm-coord/CASE_1",
		"se-stockholm-coord/case 1", "se-stockholm-coord/case/1",
		"se-stockholm-coord//abc", "se-stockholm-coord/\xC3\xA9t\xC3\xA9",
		("se-stockholm-coord/"
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), /* 65 */
		("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 65 */
		 "/abc"),
	};
	for (size_t i = 0; i < sizeof(bad_case) / sizeof(bad_case[0]); i++) {
		rec_init(&x);
		strcpy(x.case_id, bad_case[i]);
		expect_rec(&x, VG_EBADREQ,
			   "case_id must be OWNER/PSEUDONYM: the owner's organisation id, '/', "
			   "and 3-64 characters of [A-Za-z0-9-]");
	}

	static const char *const bad_author[] = {
		"", "Shelter", "shelter_north", "shelter north",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
	};
	for (size_t i = 0; i < sizeof(bad_author) / sizeof(bad_author[0]); i++) {
		rec_init(&x);
		strcpy(x.author, bad_author[i]);
		expect_rec(&x, VG_EBADREQ, "author must be 1-64 characters of [a-z0-9-]");
	}

	rec_init(&x);
	x.r.client_time_ms = 0;
	expect_rec(&x, VG_EBADREQ, "client_time_ms must be a positive time");
	x.r.client_time_ms = -1;
	expect_rec(&x, VG_EBADREQ, "client_time_ms must be a positive time");

	rec_init(&x);
	x.r.body_case = VIGIL__V1__RECORD__BODY__NOT_SET;
	x.r.contact_attempt = NULL;
	expect_rec(&x, VG_EBADREQ, "record has no body");
}

static void test_parse_contact_fields(void **state)
{
	struct rec x;

	rec_init(&x);
	x.c.channel = (Vigil__V1__Channel)42;
	expect_rec(&x, VG_EBADREQ, "unknown channel value 42");
	x.c.channel = VIGIL__V1__CHANNEL__CHANNEL_UNSPECIFIED;
	expect_rec(&x, VG_EBADREQ, "unknown channel value 0");
	x.c.channel = (Vigil__V1__Channel)-3;
	expect_rec(&x, VG_EBADREQ, "unknown channel value -3");

	rec_init(&x);
	x.c.outcome = (Vigil__V1__Outcome)42;
	expect_rec(&x, VG_EBADREQ, "unknown outcome value 42");
	x.c.outcome = VIGIL__V1__OUTCOME__OUTCOME_UNSPECIFIED;
	expect_rec(&x, VG_EBADREQ, "unknown outcome value 0");

	rec_init(&x);
	x.c.attempted_at_ms = 0;
	expect_rec(&x, VG_EBADREQ, "attempted_at_ms must be a positive time");

	rec_init(&x);
	memset(x.note, 'n', RECORD_NOTE_MAX + 1);
	x.note[RECORD_NOTE_MAX + 1] = '\0';
	expect_rec(&x, VG_ETOOLARGE, "note is 513 bytes; the limit is 512");

	static const char *const bad_utf8[] = {
		"\xC3\x28",               /* bad continuation byte */
		"abc\xC3",                /* truncated sequence */
		"\xC0\xAF",               /* overlong '/' */
		"\xE0\x80\xAF",           /* overlong, three bytes */
		"\xED\xA0\x80",           /* surrogate U+D800 */
		"\xF4\x90\x80\x80",       /* above U+10FFFF */
		"\xF8\x88\x80\x80\x80",   /* five-byte form */
		"\x80",                   /* lone continuation byte */
		"\xFF",
	};
	for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
		rec_init(&x);
		strcpy(x.note, bad_utf8[i]);
		expect_rec(&x, VG_EBADREQ, "note is not valid UTF-8");
	}
	/* The largest code point and a four-byte character are fine. */
	rec_init(&x);
	strcpy(x.note, "\xF4\x8F\xBF\xBF \xF0\x9F\x99\x82 \xEF\xBF\xBF");
	expect_rec(&x, VG_OK, NULL);
}

static void test_parse_encoding(void **state)
{
	struct rec x;
	size_t len;
	uint8_t *b;

	/* An unknown varint field 99: tag (99 << 3 | 0) = 792 = 0x98 0x06. */
	rec_init(&x);
	b = rec_pack(&x.r, 3, &len);
	memcpy(b + len, "\x98\x06\x01", 3);
	expect_parse(b, len + 3, VG_EBADREQ, "record has unknown fields");
	free(b);

	/* A second case_id: the last one would win, silently. */
	b = rec_pack(&x.r, 6, &len);
	memcpy(b + len, "\x12\x04" "ABCD", 6);
	expect_parse(b, len + 6, VG_EBADREQ,
		     NOT_CANONICAL);
	free(b);

	/* The same case_id again: same content, still not canonical. */
	size_t cl = strlen(x.case_id);
	b = rec_pack(&x.r, 2 + cl, &len);
	b[len] = 0x12;
	b[len + 1] = (uint8_t)cl;
	memcpy(b + len + 2, x.case_id, cl);
	expect_parse(b, len + 2 + cl, VG_EBADREQ,
		     NOT_CANONICAL);
	free(b);

	/* A NUL inside a string would make C see a shorter case_id than the
	 * signed bytes carry. */
	rec_init(&x);
	x.r.case_id = "";
	x.r.record_id.len = 0;
	b = rec_pack(&x.r, 64, &len);
	static const uint8_t tail[] = {
		0x0a, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
		0x12, 0x09, 'o', '/', 'a', 'b', 'c', 0, 'd', 'e', 'f',
	};
	/* Fields in any order decode the same; put the id and case_id last. */
	memcpy(b + len, tail, sizeof(tail));
	expect_parse(b, len + sizeof(tail), VG_EBADREQ,
		     NOT_CANONICAL);
	free(b);

	/* A padded (non-minimal) varint for client_time_ms, in its place
	 * (after author, before the body). */
	rec_init(&x);
	x.r.client_time_ms = 1;
	b = rec_pack(&x.r, 0, &len);
	size_t at = 0;
	for (size_t i = 0; i + 1 < len; i++) {
		if (b[i] == 0x1a && memcmp(b + i + 2, x.author, strlen(x.author)) == 0) {
			at = i + 2 + strlen(x.author); /* after the author field */
			break;
		}
	}
	assert_true(at > 0 && at + 2 <= len);
	assert_memory_equal(b + at, "\x20\x01", 2); /* field 4 = 1, minimal: valid */
	expect_parse(b, len, VG_OK, NULL);
	uint8_t *padded = malloc(len + 2);
	assert_non_null(padded);
	memcpy(padded, b, at);
	memcpy(padded + at, "\x20\x81\x80\x00", 4); /* the same 1, in three bytes */
	memcpy(padded + at + 4, b + at + 2, len - at - 2);
	expect_parse(padded, len + 2, VG_EBADREQ, NOT_CANONICAL);
	free(padded);

	/* The same fields in another order decode to the same record and
	 * have the same length, but are not the bytes that record encodes
	 * to: client_time_ms moved after the body... */
	uint8_t *moved = malloc(len);
	assert_non_null(moved);
	memcpy(moved, b, at);
	memcpy(moved + at, b + at + 2, len - at - 2);
	memcpy(moved + len - 2, "\x20\x01", 2);
	expect_parse(moved, len, VG_EBADREQ, NOT_CANONICAL);
	/* ...or author and case_id swapped. */
	size_t cl2 = 2 + strlen(x.case_id), al = 2 + strlen(x.author);
	size_t c_at = 2 + RECORD_ID_LEN;
	assert_int_equal(b[c_at], 0x12);
	assert_int_equal(b[c_at + cl2], 0x1a);
	memcpy(moved, b, len);
	memcpy(moved + c_at, b + c_at + cl2, al);
	memcpy(moved + c_at + al, b + c_at, cl2);
	expect_parse(moved, len, VG_EBADREQ, NOT_CANONICAL);
	/* Put back in order, the bytes are valid again. */
	memcpy(moved, b, len);
	expect_parse(moved, len, VG_OK, NULL);
	free(moved);
	free(b);

	/* Unknown fields inside the body are caught too. */
	rec_init(&x);
	x.r.body_case = VIGIL__V1__RECORD__BODY__NOT_SET;
	b = rec_pack(&x.r, 128, &len);
	size_t cn = vigil__v1__contact_attempt__get_packed_size(&x.c);
	assert_true(cn + 3 < 128);
	b[len] = 0x52; /* field 10, length-delimited */
	b[len + 1] = (uint8_t)(cn + 3);
	vigil__v1__contact_attempt__pack(&x.c, b + len + 2);
	memcpy(b + len + 2 + cn, "\x98\x06\x01", 3);
	expect_parse(b, len + 2 + cn + 3, VG_EBADREQ, "contact_attempt has unknown fields");
	b[len + 1] = (uint8_t)cn; /* without it, the same bytes are valid */
	expect_parse(b, len + 2 + cn, VG_OK, NULL);
	free(b);

	static const struct {
		const char *b;
		size_t n;
	} garbage[] = {
		{ "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11 },
		{ "\x0a\x10\x01", 3 },       /* record_id claims 16 bytes, has 1 */
		{ "\x20", 1 },               /* a tag without its value */
		{ "\x0a\x00\x52\x05\x08", 5 }, /* body claims 5 bytes, has 1 */
		{ "hello, world", 12 },
	};
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		expect_parse((const uint8_t *)garbage[i].b, garbage[i].n, VG_EBADREQ,
			     "record does not decode as vigil.v1.Record");

	/* Zero bytes decode as an empty Record, then fail validation. */
	expect_parse((const uint8_t *)"", 0, VG_EBADREQ, "record_id must be 16 bytes, got 0");
}

static EVP_PKEY *new_p256(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	assert_non_null(k);
	return k;
}

static void test_sign_verify(void **state)
{
	EVP_PKEY *key = new_p256(), *other = new_p256();
	uint8_t data[] = "the exact serialized record bytes";
	uint8_t *sig = NULL;
	size_t sig_len = 0;

	assert_int_equal(record_sign(key, data, sizeof(data), &sig, &sig_len), VG_OK);
	assert_non_null(sig);
	assert_true(sig_len > 8 && sig_len <= 72);
	assert_int_equal(sig[0], 0x30); /* a DER SEQUENCE */
	assert_int_equal(record_verify(key, data, sizeof(data), sig, sig_len), VG_OK);

	assert_int_equal(record_verify(other, data, sizeof(data), sig, sig_len), VG_EBADSIG);

	for (size_t i = 0; i < sizeof(data); i++) {
		data[i] ^= 0x01;
		if (record_verify(key, data, sizeof(data), sig, sig_len) != VG_EBADSIG)
			fail_msg("verified with data byte %zu flipped", i);
		data[i] ^= 0x01;
	}
	for (size_t i = 0; i < sig_len; i++) {
		sig[i] ^= 0x01;
		if (record_verify(key, data, sizeof(data), sig, sig_len) != VG_EBADSIG)
			fail_msg("verified with signature byte %zu flipped", i);
		sig[i] ^= 0x01;
	}
	assert_int_equal(record_verify(key, data, sizeof(data), sig, sig_len - 1), VG_EBADSIG);
	assert_int_equal(record_verify(key, data, sizeof(data) - 1, sig, sig_len), VG_EBADSIG);
	assert_int_equal(record_verify(key, data, sizeof(data), sig, 0), VG_EBADSIG);
	assert_int_equal(record_verify(key, data, sizeof(data), sig, sig_len), VG_OK);

	/* ECDSA signatures are randomized; each one verifies. */
	uint8_t *sig2 = NULL;
	size_t sig2_len = 0;
	assert_int_equal(record_sign(key, data, sizeof(data), &sig2, &sig2_len), VG_OK);
	assert_int_equal(record_verify(key, data, sizeof(data), sig2, sig2_len), VG_OK);

	/* Signing zero bytes works as well. */
	free(sig2);
	sig2 = NULL;
	assert_int_equal(record_sign(key, data, 0, &sig2, &sig2_len), VG_OK);
	assert_int_equal(record_verify(key, data, 0, sig2, sig2_len), VG_OK);
	assert_int_equal(record_verify(key, data, 1, sig2, sig2_len), VG_EBADSIG);

	free(sig);
	free(sig2);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

static void test_sign_verify_ed25519(void **state)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(key);
	const uint8_t data[] = { 1, 2, 3 };
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	assert_int_equal(record_sign(key, data, sizeof(data), &sig, &sig_len), VG_OK);
	assert_int_equal(sig_len, 64);
	assert_int_equal(record_verify(key, data, sizeof(data), sig, sig_len), VG_OK);
	sig[10] ^= 0x80;
	assert_int_equal(record_verify(key, data, sizeof(data), sig, sig_len), VG_EBADSIG);
	free(sig);
	EVP_PKEY_free(key);
}

/* A verifier answers as record_verify() does, check after check: a
 * failed check leaves nothing behind that a later one would see. */
static void check_verifier(EVP_PKEY *key, EVP_PKEY *other)
{
	struct record_verifier *v = record_verifier_new(key), *w = record_verifier_new(other);
	assert_non_null(v);
	assert_non_null(w);
	uint8_t data[] = "the exact serialized record bytes";
	uint8_t *sig = NULL, *sig2 = NULL;
	size_t sig_len = 0, sig2_len = 0;
	assert_int_equal(record_sign(key, data, sizeof(data), &sig, &sig_len), VG_OK);
	assert_int_equal(record_sign(key, data, 0, &sig2, &sig2_len), VG_OK);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(record_verifier_check(v, data, sizeof(data), sig, sig_len), VG_OK);
		assert_int_equal(record_verifier_check(w, data, sizeof(data), sig, sig_len),
				 VG_EBADSIG);
		for (size_t i = 0; i < sizeof(data); i++) {
			data[i] ^= 0x01;
			if (record_verifier_check(v, data, sizeof(data), sig, sig_len) != VG_EBADSIG)
				fail_msg("verified with data byte %zu flipped", i);
			data[i] ^= 0x01;
		}
		for (size_t i = 0; i < sig_len; i++) {
			sig[i] ^= 0x01;
			if (record_verifier_check(v, data, sizeof(data), sig, sig_len) != VG_EBADSIG)
				fail_msg("verified with signature byte %zu flipped", i);
			sig[i] ^= 0x01;
		}
		assert_int_equal(record_verifier_check(v, data, sizeof(data), sig, sig_len - 1),
				 VG_EBADSIG);
		assert_int_equal(record_verifier_check(v, data, sizeof(data), sig, 0), VG_EBADSIG);
		assert_int_equal(record_verifier_check(v, data, 0, sig2, sig2_len), VG_OK);
		assert_int_equal(record_verifier_check(v, data, 1, sig2, sig2_len), VG_EBADSIG);
	}
	free(sig);
	free(sig2);
	record_verifier_free(v);
	record_verifier_free(w);
}

static void test_verifier(void **state)
{
	EVP_PKEY *key = new_p256(), *other = new_p256();
	check_verifier(key, other);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(key);
	assert_non_null(other);
	check_verifier(key, other);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	record_verifier_free(NULL);
}

static void test_entry_leaf(void **state)
{
	uint8_t cert[SHA256_LEN];
	for (size_t i = 0; i < SHA256_LEN; i++)
		cert[i] = (uint8_t)(0xC0 + i);
	const uint8_t record[] = { 'r', 'e', 'c' };
	const uint8_t sig[] = { 0x30, 0x02 };
	uint8_t *leaf = NULL;
	size_t n = 0;

	assert_int_equal(entry_leaf_encode(0x0102030405060708, cert, record, sizeof(record),
					   sig, sizeof(sig), &leaf, &n), VG_OK);
	uint8_t want[1 + 8 + SHA256_LEN + 4 + 3 + 4 + 2];
	size_t o = 0;
	want[o++] = 0x01;                                  /* type */
	for (int i = 1; i <= 8; i++)                       /* received_at_ms */
		want[o++] = (uint8_t)i;
	memcpy(want + o, cert, SHA256_LEN);                /* cert_sha256 */
	o += SHA256_LEN;
	memcpy(want + o, "\x00\x00\x00\x03" "rec", 7);     /* record_len, record */
	o += 7;
	memcpy(want + o, "\x00\x00\x00\x02\x30\x02", 6);   /* sig_len, sig */
	o += 6;
	assert_int_equal(o, sizeof(want));
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(leaf, want, sizeof(want));
	free(leaf);

	/* Empty record and signature; a negative time is its two's complement. */
	assert_int_equal(entry_leaf_encode(-1, cert, NULL, 0, NULL, 0, &leaf, &n), VG_OK);
	assert_int_equal(n, 1 + 8 + SHA256_LEN + 4 + 4);
	assert_int_equal(leaf[0], ENTRY_SIGNED_RECORD);
	for (int i = 1; i <= 8; i++)
		assert_int_equal(leaf[i], 0xFF);
	assert_memory_equal(leaf + 9, cert, SHA256_LEN);
	assert_memory_equal(leaf + 9 + SHA256_LEN, "\0\0\0\0\0\0\0\0", 8);
	free(leaf);

	/* A length field of 256 bytes shows the byte order of lengths. */
	uint8_t big[256];
	memset(big, 0xEE, sizeof(big));
	assert_int_equal(entry_leaf_encode(0, cert, big, sizeof(big), big, 1, &leaf, &n), VG_OK);
	assert_int_equal(n, 1 + 8 + SHA256_LEN + 4 + 256 + 4 + 1);
	assert_memory_equal(leaf + 41, "\x00\x00\x01\x00", 4);
	assert_memory_equal(leaf + 45 + 256, "\x00\x00\x00\x01", 4);
	assert_int_equal(leaf[n - 1], 0xEE);
	free(leaf);
}

static void hash_hex(const uint8_t *leaf, size_t n, char out[2 * SHA256_LEN + 1])
{
	uint8_t h[SHA256_LEN];
	merkle_leaf_hash(leaf, n, h);
	hex_encode(h, SHA256_LEN, out);
}

static void test_merkle_leaf_hash(void **state)
{
	char hex[2 * SHA256_LEN + 1];
	/* RFC 6962 / RFC 9162 reference leaves "", "00" and "10". */
	hash_hex(NULL, 0, hex);
	assert_string_equal(hex, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
	hash_hex((const uint8_t *)"\x00", 1, hex);
	assert_string_equal(hex, "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7");
	hash_hex((const uint8_t *)"\x10", 1, hex);
	assert_string_equal(hex, "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7");
	/* SHA-256(0x00 || "abc"), from an independent sha256sum. */
	hash_hex((const uint8_t *)"abc", 3, hex);
	assert_string_equal(hex, "609f6e36d2405585188d5cfd761f407c7cc46a7d3f314c88270469dde315fcd1");
}

static void test_hex(void **state)
{
	const uint8_t in[] = { 0x00, 0x01, 0xab, 0xcd, 0xef, 0xff, 0x7f };
	char hex[2 * sizeof(in) + 1];
	uint8_t out[sizeof(in)];

	hex_encode(in, sizeof(in), hex);
	assert_string_equal(hex, "0001abcdefff7f");
	assert_int_equal(hex_decode(hex, out, sizeof(out)), VG_OK);
	assert_memory_equal(out, in, sizeof(in));
	assert_int_equal(hex_decode("0001ABCDEFFF7F", out, sizeof(out)), VG_OK);
	assert_memory_equal(out, in, sizeof(in));

	hex_encode(in, 0, hex);
	assert_string_equal(hex, "");
	assert_int_equal(hex_decode("", out, 0), VG_OK);

	static const char *const bad[] = {
		"0001abcdefff7", "0001abcdefff7f0", "0001abcdefff7f00", "", "0001abcdefff7g",
		"g001abcdefff7f", "0001abcd efff7f", "0x01abcdefff7f", "-001abcdefff7f",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (hex_decode(bad[i], out, sizeof(out)) != VG_EBADREQ)
			fail_msg("hex_decode accepted \"%s\"", bad[i]);
	}
	assert_int_equal(hex_decode("00", out, 0), VG_EBADREQ);
}

static void test_time_format(void **state)
{
	static const struct {
		int64_t ms;
		const char *s;
	} cases[] = {
		{ 0, "1970-01-01T00:00:00.000Z" },
		{ 1, "1970-01-01T00:00:00.001Z" },
		{ -1, "1969-12-31T23:59:59.999Z" },
		{ -1000, "1969-12-31T23:59:59.000Z" },
		{ -14182940000, "1969-07-20T20:17:40.000Z" },
		{ 1795857300000, "2026-11-28T09:15:00.000Z" },
		{ 1709251199999, "2024-02-29T23:59:59.999Z" },
		{ 951868800000, "2000-03-01T00:00:00.000Z" },
		{ 253402300799999, "9999-12-31T23:59:59.999Z" },
	};
	char out[TIME_RFC3339_MAX];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_format_rfc3339(cases[i].ms, out);
		assert_string_equal(out, cases[i].s);
		int64_t back = 42;
		assert_int_equal(time_parse_rfc3339(out, &back), VG_OK);
		assert_int_equal(back, cases[i].ms);
	}

	/* The extremes format to something (years beyond 9999 are not
	 * RFC 3339, but nothing overflows). */
	time_format_rfc3339(INT64_MAX, out);
	assert_true(strlen(out) > 0 && strlen(out) < TIME_RFC3339_MAX);
	assert_string_equal(out + strlen(out) - 5, ".807Z");
	time_format_rfc3339(INT64_MIN, out);
	assert_true(strlen(out) > 0 && strlen(out) < TIME_RFC3339_MAX);
	assert_string_equal(out + strlen(out) - 5, ".192Z");
}

static void test_time_parse(void **state)
{
	static const struct {
		const char *s;
		int64_t ms;
	} good[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1970-01-01t00:00:00z", 0 },
		{ "1970-01-01T00:00:00+00:00", 0 },
		{ "1970-01-01T00:00:00-00:00", 0 },
		{ "1970-01-01T01:00:00+01:00", 0 },
		{ "1969-12-31T19:00:00-05:00", 0 },
		{ "1970-01-01T05:30:00+05:30", 0 },
		{ "2026-11-28T09:15:00Z", 1795857300000 },
		{ "2026-11-28T09:15:00.000Z", 1795857300000 },
		{ "2026-11-28T10:15:00.5+01:00", 1795857300500 },
		{ "2026-11-28T09:15:00.12Z", 1795857300120 },
		{ "2026-11-28T09:15:00.123456789Z", 1795857300123 }, /* truncated */
		{ "2024-02-29T23:59:59Z", 1709251199000 },
		{ "2000-02-29T00:00:00Z", 951782400000 },
		{ "2000-03-01T00:00:00Z", 951868800000 },
		{ "1969-07-20T20:17:40Z", -14182940000 },
		{ "2016-12-31T23:59:60Z", 1483228799000 },    /* leap second */
		{ "0001-01-01T00:00:00Z", -62135596800000 },
		{ "9999-12-31T23:59:59Z", 253402300799000 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int64_t ms = 42;
		if (time_parse_rfc3339(good[i].s, &ms) != VG_OK)
			fail_msg("time_parse_rfc3339 rejected \"%s\"", good[i].s);
		if (ms != good[i].ms)
			fail_msg("\"%s\" parsed as %lld", good[i].s, (long long)ms);
	}

	static const char *const bad[] = {
		"",
		"2023-02-29T00:00:00Z",      /* not a leap year */
		"1900-02-29T00:00:00Z",      /* century, not a leap year */
		"2024-02-30T00:00:00Z",
		"2024-04-31T00:00:00Z",
		"2024-13-01T00:00:00Z",
		"2024-00-01T00:00:00Z",
		"2024-01-00T00:00:00Z",
		"2024-01-32T00:00:00Z",
		"2024-01-01T24:00:00Z",
		"2024-01-01T00:60:00Z",
		"2024-01-01T00:00:61Z",
		"2024-01-01T00:00:00",       /* no zone */
		"2024-01-01 00:00:00Z",      /* space instead of T */
		"2024-01-01T00:00:00ZX",     /* trailing junk */
		"2024-01-01T00:00:00Z ",
		"2024-01-01T00:00:00+01:00x",
		"2024-01-01T00:00:00.Z",     /* fraction without digits */
		"2024-01-01T00:00:00+0100",
		"2024-01-01T00:00:00+24:00",
		"2024-01-01T00:00:00+01:60",
		"2024-01-01T00:00Z",
		"2024-1-01T00:00:00Z",
		"24-01-01T00:00:00Z",
		"2024-01-01",
		"2024-01-01T",
		"2024-01-01T00:00:0",
		" 2024-01-01T00:00:00Z",
		"+2024-01-01T00:00:00Z",
		"2024-01-01T00:00:00UTC",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ms = 42;
		if (time_parse_rfc3339(bad[i], &ms) != VG_EBADREQ)
			fail_msg("time_parse_rfc3339 accepted \"%s\"", bad[i]);
	}
}

/* Wire name as protoc-c knows it, without the "ERROR_" prefix. */
static const char *descriptor_name(int code)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&vigil__v1__error_code__descriptor, code);
	assert_non_null(v);
	assert_true(strncmp(v->name, "ERROR_", 6) == 0);
	return v->name + 6;
}

static void test_status_wire(void **state)
{
	/* The eight wire errors map one to one. */
	for (int code = 1; code <= 8; code++) {
		int st = vg_status_from_wire(code);
		assert_int_equal(st, -code);
		assert_int_equal(vg_status_to_wire(st), code);
		assert_string_equal(vg_status_wire_name(st), descriptor_name(code));
	}
	/* Internal-only statuses fold into a wire code and come back as its
	 * primary status. */
	assert_int_equal(vg_status_to_wire(VG_ENOMEM), VIGIL__V1__ERROR_CODE__ERROR_INTERNAL);
	assert_int_equal(vg_status_from_wire(vg_status_to_wire(VG_ENOMEM)), VG_EINTERNAL);
	assert_string_equal(vg_status_wire_name(VG_ENOMEM), "INTERNAL");
	assert_int_equal(vg_status_to_wire(VG_EIO), VIGIL__V1__ERROR_CODE__ERROR_UNAVAILABLE);
	assert_int_equal(vg_status_from_wire(vg_status_to_wire(VG_EIO)), VG_EUNAVAIL);
	assert_string_equal(vg_status_wire_name(VG_EIO), "UNAVAILABLE");

	assert_int_equal(vg_status_to_wire(VG_OK), VIGIL__V1__ERROR_CODE__ERROR_UNSPECIFIED);
	assert_string_equal(vg_status_wire_name(VG_OK), "OK");

	/* Unknown values in either direction are INTERNAL. */
	assert_int_equal(vg_status_from_wire(0), VG_EINTERNAL);
	assert_int_equal(vg_status_from_wire(9), VG_EINTERNAL);
	assert_int_equal(vg_status_from_wire(-1), VG_EINTERNAL);
	assert_int_equal(vg_status_to_wire(-11), VIGIL__V1__ERROR_CODE__ERROR_INTERNAL);
	assert_int_equal(vg_status_to_wire(1), VIGIL__V1__ERROR_CODE__ERROR_INTERNAL);
	assert_string_equal(vg_status_wire_name(-11), "INTERNAL");

	/* Every status has its own text; unknown ones share one. */
	for (int a = VG_EIO; a <= VG_OK; a++) {
		assert_non_null(vg_strerror(a));
		assert_string_not_equal(vg_strerror(a), "unknown error");
		for (int b = VG_EIO; b < a; b++)
			assert_string_not_equal(vg_strerror(a), vg_strerror(b));
	}
	assert_string_equal(vg_strerror(VG_EBADSIG), "bad signature");
	assert_string_equal(vg_strerror(-11), "unknown error");
	assert_string_equal(vg_strerror(1), "unknown error");
}

/* "CHANNEL_HOME_VISIT" -> "home-visit": the command-line name expected
 * for an enum value, derived from the .proto's own names. */
static void cli_name(const char *enum_name, const char *prefix, char *out, size_t len)
{
	size_t pl = strlen(prefix), i;
	assert_true(strncmp(enum_name, prefix, pl) == 0);
	for (i = 0; enum_name[pl + i] && i + 1 < len; i++) {
		char c = enum_name[pl + i];
		out[i] = c == '_' ? '-' : (char)tolower((unsigned char)c);
	}
	out[i] = '\0';
}

static void check_names(const ProtobufCEnumDescriptor *d, const char *prefix,
			const char *(*name)(int), int (*from_name)(const char *))
{
	char want[64];
	assert_true(d->n_values > 1);
	for (unsigned i = 0; i < d->n_values; i++) {
		int v = d->values[i].value;
		if (v == 0) {
			assert_null(name(0));
			continue;
		}
		cli_name(d->values[i].name, prefix, want, sizeof(want));
		assert_non_null(name(v));
		assert_string_equal(name(v), want);
		assert_int_equal(from_name(want), v);
	}
	assert_null(name((int)d->n_values));
	assert_null(name(-1));
	assert_null(name(42));
	assert_int_equal(from_name(""), 0);
	assert_int_equal(from_name("bogus"), 0);
	assert_int_equal(from_name("unspecified"), 0);
}

static void test_names(void **state)
{
	check_names(&vigil__v1__channel__descriptor, "CHANNEL_", record_channel_name,
		    record_channel_from_name);
	check_names(&vigil__v1__outcome__descriptor, "OUTCOME_", record_outcome_name,
		    record_outcome_from_name);
	assert_string_equal(record_channel_name(VIGIL__V1__CHANNEL__CHANNEL_HOME_VISIT),
			    "home-visit");
	assert_int_equal(record_outcome_from_name("no-answer"),
			 VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER);
	assert_int_equal(record_channel_from_name("PHONE"), 0);
	assert_int_equal(record_channel_from_name("phone "), 0);
	assert_int_equal(record_channel_from_name("home_visit"), 0);
	assert_int_equal(record_outcome_from_name("home-visit"), 0);
}

static void test_id_checks(void **state)
{
	/* OWNER/PSEUDONYM: an organisation id, '/', 3-64 of [A-Za-z0-9-]. */
	assert_string_equal(RECORD_CASE_ID_RULE,
			    "OWNER/PSEUDONYM: the owner's organisation id, '/', and 3-64 "
			    "characters of [A-Za-z0-9-]");
	assert_int_equal(RECORD_CASE_ID_MAX, 129);
	assert_int_equal(RECORD_CASE_LOCAL_MIN, 3);
	assert_int_equal(RECORD_CASE_LOCAL_MAX, 64);
	assert_true(record_case_id_ok("se-stockholm-coord/SE-2026-0042"));
	assert_true(record_case_id_ok("o/abc"));
	assert_true(record_case_id_ok("iom-2/A-1"));
	assert_false(record_case_id_ok("SE-2026-0042"));           /* no slash */
	assert_false(record_case_id_ok("abc"));
	assert_false(record_case_id_ok(""));
	assert_false(record_case_id_ok("/SE-2026-0042"));          /* empty owner */
	assert_false(record_case_id_ok("Se-stockholm-coord/SE-2026-0042"));
	assert_false(record_case_id_ok("SE-STOCKHOLM/SE-2026-0042"));
	assert_false(record_case_id_ok("se.stockholm/SE-2026-0042"));
	assert_false(record_case_id_ok("se-stockholm-coord/ab"));  /* 2 */
	assert_false(record_case_id_ok("se-stockholm-coord/"));
	assert_false(record_case_id_ok("se-stockholm-coord/a.bc"));
	assert_false(record_case_id_ok("se-stockholm-coord/SE/2026"));  /* a second '/' */
	assert_false(record_case_id_ok("se-stockholm-coord//abc"));
	assert_false(record_case_id_ok("o/abc/"));

	char id[RECORD_CASE_ID_MAX + 8];
	/* 64-character owner + 64-character local part: 129, accepted. */
	memset(id, 'o', 64);
	id[64] = '/';
	memset(id + 65, 'A', 64);
	id[129] = '\0';
	assert_true(record_case_id_ok(id));
	/* A local part of 65. */
	id[129] = 'A';
	id[130] = '\0';
	assert_false(record_case_id_ok(id));
	/* An owner of 65 with a local part of 3. */
	memset(id, 'o', 65);
	strcpy(id + 65, "/abc");
	assert_false(record_case_id_ok(id));
	/* A local part of exactly 3 and of 64 with a short owner. */
	memset(id, 'a', sizeof(id));
	id[0] = 'o';
	id[1] = '/';
	id[5] = '\0';
	assert_true(record_case_id_ok(id));
	id[5] = 'a';
	id[66] = '\0';
	assert_true(record_case_id_ok(id));
	id[66] = 'a';
	id[67] = '\0';
	assert_false(record_case_id_ok(id));

	assert_true(record_org_ok("a"));
	assert_true(record_org_ok("iom-2"));
	assert_false(record_org_ok(""));
	assert_false(record_org_ok("IOM"));
	assert_false(record_org_ok("a.b"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_record_fields),
		cmocka_unit_test(test_parse_contact_fields),
		cmocka_unit_test(test_parse_encoding),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_sign_verify_ed25519),
		cmocka_unit_test(test_verifier),
		cmocka_unit_test(test_entry_leaf),
		cmocka_unit_test(test_merkle_leaf_hash),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test(test_status_wire),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_id_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
