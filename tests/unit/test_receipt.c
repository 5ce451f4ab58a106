/*
 * test_receipt.c - client/cli/receipt.c's reader of receipt files (over
 * jansson): what it accepts, the exact reason for what it refuses, and
 * that the text ends where its length says, never at a NUL.
 *
 * Each text is copied to the very end of a page followed by an
 * inaccessible one, so that reading a single byte past it is a SIGSEGV in
 * any build, not only under AddressSanitizer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"

#define WHY_LEN 512

/* Two pages (more for a long text): the last PROT_NONE. */
static char *guard;
static size_t page, span;

static int setup(void **state)
{
	(void)state;
	page = (size_t)sysconf(_SC_PAGESIZE);
	span = 4 * page;
	guard = mmap(NULL, span + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		     0);
	if (guard == MAP_FAILED)
		return -1;
	return mprotect(guard + span, page, PROT_NONE);
}

static int teardown(void **state)
{
	(void)state;
	return munmap(guard, span + page);
}

/* len bytes of text, ending at the guard page. */
static const char *at_guard(const char *text, size_t len)
{
	assert_true(len <= span);
	char *p = guard + span - len;
	memcpy(p, text, len);
	return p;
}

#define LEAF "3fe48a08a32aa2dffbc5fea7710b04049bd044e9263fa89c99ca7a2b7d8b229e"
#define NODE "5613d941e8ba96715613d941e8ba96715613d941e8ba96715613d941e8ba9671"

/* A well-formed receipt with member M replaced by "M": V (or left out
 * when V is NULL); an empty M changes nothing. */
static char *receipt_with(const char *m, const char *v)
{
	static const char *const keys[] = { "format", "index", "received_at", "received_at_ms",
					    "leaf_hash", "record_id", "duplicate", "record",
					    "signature", "cert_sha256", "checkpoint",
					    "inclusion_proof" };
	static const char *const vals[] = {
		"\"vigil-receipt/1\"", "7", "\"2026-11-28T09:15:00.000Z\"", "1795857300000",
		"\"" LEAF "\"", "\"0f0e0d0c0b0a09080706050403020100\"", "false",
		"\"CgQBAgMEEgVoZWxsbw==\"", "\"MEUCIQD0\"", "\"" NODE "\"",
		"\"vigil.test/log\\n8\\nq6Z8DhcnoNVmJl5ZTCgjh5m1U4WqBvd2R4lqEzDchkc=\\n\"",
		"[\"" NODE "\", \"" LEAF "\"]"
	};
	char *out = malloc(4096);
	assert_non_null(out);
	size_t o = 0;
	out[o++] = '{';
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *val = strcmp(keys[i], m) == 0 ? v : vals[i];
		if (!val)
			continue;
		o += (size_t)snprintf(out + o, 4096 - o, "%s\"%s\": %s", o > 1 ? ", " : "",
				      keys[i], val);
	}
	snprintf(out + o, 4096 - o, "}\n");
	return out;
}

static int parse(const char *text, size_t len, struct receipt_in *in, char *why)
{
	why[0] = '\0';
	return receipt_in_parse(at_guard(text, len), len, in, why, WHY_LEN);
}

static void expect_malformed(const char *m, const char *v, const char *why_want)
{
	char *t = receipt_with(m, v);
	struct receipt_in in;
	char why[WHY_LEN];
	assert_int_equal(parse(t, strlen(t), &in, why), -1);
	assert_string_equal(why, why_want);
	assert_null(in.record);
	free(t);
}

static void test_good(void **state)
{
	(void)state;
	char *t = receipt_with("", NULL);
	struct receipt_in in;
	char why[WHY_LEN];
	assert_int_equal(parse(t, strlen(t), &in, why), 0);
	assert_int_equal(in.r.index, 7);
	assert_int_equal(in.r.received_at_ms, 1795857300000LL);
	assert_int_equal(in.received_at, 1795857300000LL);
	assert_int_equal(in.r.duplicate, 0);
	assert_int_equal(in.record_len, 13);
	assert_memory_equal(in.record, "\x0a\x04\x01\x02\x03\x04\x12\x05hello", 13);
	assert_int_equal(in.r.signature_len, 6);
	assert_int_equal(in.r.proof_len, 2);
	assert_int_equal(in.r.inclusion_proof[1][0], 0x3f);
	assert_int_equal(in.r.checkpoint.note_len, strlen(in.r.checkpoint.note));
	assert_non_null(strstr(in.r.checkpoint.note, "vigil.test/log\n8\n"));
	receipt_in_free(&in);
	free(t);
}

static void test_malformed_members(void **state)
{
	(void)state;
	expect_malformed("format", "\"vigil-receipt/2\"",
			 "it is malformed: format \"vigil-receipt/2\" is not vigil-receipt/1");
	expect_malformed("index", NULL, "it is malformed: \"index\" is missing");
	expect_malformed("index", "\"7\"", "it is malformed: \"index\" is not an integer");
	expect_malformed("index", "-1", "it is malformed: \"index\" is negative");
	expect_malformed("index", "7.5", "it is malformed: \"index\" is not an integer");
	expect_malformed("received_at", "null",
			 "it is malformed: \"received_at\" is not a string");
	expect_malformed("received_at", "\"yesterday\"",
			 "it is malformed: \"received_at\" is not an RFC 3339 time");
	expect_malformed("duplicate", "1", "it is malformed: \"duplicate\" is not a boolean");
	expect_malformed("leaf_hash", "\"3fe4\"",
			 "it is malformed: \"leaf_hash\" is not 64 hex digits");
	expect_malformed("record_id", "\"0f0e0d0c0b0a09080706050403020zzz\"",
			 "it is malformed: \"record_id\" is not 32 hex digits");
	expect_malformed("record", "\"not base64!\"",
			 "it is malformed: \"record\" is not non-empty base64");
	expect_malformed("signature", "\"\"",
			 "it is malformed: \"signature\" is not non-empty base64");
	expect_malformed("inclusion_proof", "[\"" NODE "\", 5]",
			 "it is malformed: \"inclusion_proof\" node 1 is not 64 hex digits");
	expect_malformed("inclusion_proof", "{}",
			 "it is malformed: \"inclusion_proof\" is not an array");
}

static void test_not_json(void **state)
{
	(void)state;
	struct receipt_in in;
	char why[WHY_LEN];
	static const char dup[] = "{\"index\": 1, \"index\": 2}";
	assert_int_equal(parse(dup, sizeof(dup) - 1, &in, why), -1);
	assert_non_null(strstr(why, "it is not valid JSON: line 1, column "));
	assert_non_null(strstr(why, "duplicate object key"));
	static const char arr[] = "[1, 2]";
	assert_int_equal(parse(arr, sizeof(arr) - 1, &in, why), -1);
	assert_string_equal(why, "it is malformed: it is not a JSON object");
	/* A NUL inside a string would cut the checkpoint note short. */
	char *nul = receipt_with("checkpoint", "\"a\\u0000b\"");
	assert_int_equal(parse(nul, strlen(nul), &in, why), -1);
	assert_non_null(strstr(why, "it is not valid JSON: "));
	assert_non_null(strstr(why, "\\u0000 is not allowed"));
	free(nul);
	static const char scalar[] = "\"receipt\"";
	assert_int_equal(parse(scalar, sizeof(scalar) - 1, &in, why), -1);
	assert_string_equal(why, "it is not valid JSON: line 1, column 9: '[' or '{' expected "
				 "near '\"receipt\"'");
	static const char utf8[] = "{\"format\": \"\xc3\"}";
	assert_int_equal(parse(utf8, sizeof(utf8) - 1, &in, why), -1);
	assert_non_null(strstr(why, "it is not valid JSON: "));
	assert_non_null(strstr(why, "unable to decode byte 0xc3"));
	static const char after[] = "{} {}";
	assert_int_equal(parse(after, sizeof(after) - 1, &in, why), -1);
	assert_non_null(strstr(why, "end of file expected"));
}

/* Every prefix of a good receipt is refused with a reason, and nothing is
 * read past its end (the guard page). */
static void test_cut_anywhere(void **state)
{
	(void)state;
	char *t = receipt_with("", NULL);
	size_t len = strlen(t);
	for (size_t n = 0; n + 2 < len; n++) {
		struct receipt_in in;
		char why[WHY_LEN];
		if (parse(t, n, &in, why) != -1)
			fail_msg("a receipt cut to %zu bytes was accepted", n);
		if (strncmp(why, "it is not valid JSON: ", 22) != 0)
			fail_msg("cut to %zu: %s", n, why);
	}
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_malformed_members),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_cut_anywhere),
	};
	return cmocka_run_group_tests_name("receipt", tests, setup, teardown);
}
