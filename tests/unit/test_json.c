/*
 * test_json.c - client/cli/json.c, the CLI's reader of receipt files: the
 * text ends where its length says, never at a NUL.
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

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"

#define WHY_LEN 256

/* Two pages: the first readable, the second PROT_NONE. */
static char *guard;
static size_t page;

static int setup(void **state)
{
	(void)state;
	page = (size_t)sysconf(_SC_PAGESIZE);
	guard = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard == MAP_FAILED)
		return -1;
	return mprotect(guard + page, page, PROT_NONE);
}

static int teardown(void **state)
{
	(void)state;
	return munmap(guard, 2 * page);
}

/* len bytes of text, ending at the guard page. */
static const char *at_guard(const char *text, size_t len)
{
	assert_true(len <= page);
	char *p = guard + page - len;
	memcpy(p, text, len);
	return p;
}

/* Parsing exactly len bytes of text fails with why. */
static void expect_fail(const char *text, size_t len, const char *why)
{
	struct json_object o;
	char got[WHY_LEN] = "";
	assert_int_equal(json_parse_object(at_guard(text, len), len, &o, got, sizeof(got)), -1);
	assert_string_equal(got, why);
	assert_null(o.members);
	assert_int_equal(o.n, 0);
}

#define FAIL(lit, why) expect_fail(lit, sizeof(lit) - 1, why)

/* A string cut in the middle of a multi-byte UTF-8 sequence at the end of
 * the text: the reader looked at the continuation bytes before checking
 * that they were inside the text. */
static void test_utf8_cut_at_end(void **state)
{
	(void)state;
	FAIL("{\"a\":\"\xc3", "a string that is not UTF-8");
	FAIL("{\"a\":\"\xe2\x82", "a string that is not UTF-8");
	FAIL("{\"a\":\"\xf0\x9f\x98", "a string that is not UTF-8");
	FAIL("{\"\xe2", "a string that is not UTF-8");
	/* Whole sequences up to the end are only unterminated. */
	FAIL("{\"a\":\"\xc3\xa9", "an unterminated string");
	FAIL("{\"a\":\"\xf0\x9f\x98\x80", "an unterminated string");
}

/* Every other way of ending early stays inside the text. */
static void test_cut_anywhere(void **state)
{
	(void)state;
	FAIL("{\"a\":\"\\", "an unterminated string");
	FAIL("{\"a\":\"\\u00e", "a bad escape in a string");
	FAIL("{\"a\":\"\\ud83d\\ude0", "an unpaired surrogate in a string");
	FAIL("{\"a\":tru", "an unexpected character 't'");
	FAIL("{\"a\":-", "a malformed number");
	FAIL("{\"a\":[1,", "a value is missing");
	FAIL("{\"a\":1", "an object without its '}'");
	FAIL("{\"a\"", "a ':' is missing");
	FAIL("{", "a member name is missing");

	/* And a whole object at the guard parses. */
	static const char ok[] = "{\"a\":\"\xc3\xa9\",\"b\":[1,true,null]}";
	struct json_object o;
	char why[WHY_LEN] = "";
	assert_int_equal(json_parse_object(at_guard(ok, sizeof(ok) - 1), sizeof(ok) - 1, &o, why,
					   sizeof(why)), 0);
	const struct json_value *v = json_get(&o, "a");
	assert_non_null(v);
	assert_string_equal(v->string, "\xc3\xa9");
	v = json_get(&o, "b");
	assert_non_null(v);
	assert_int_equal(v->n_items, 3);
	json_object_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_cut_at_end),
		cmocka_unit_test(test_cut_anywhere),
	};
	return cmocka_run_group_tests_name("json", tests, setup, teardown);
}
