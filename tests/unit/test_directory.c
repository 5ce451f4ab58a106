/*
 * test_directory.c - daemon/directory.c: loading a member directory, the
 * sorted lookups, the admission rule, and the exact FILE:LINE message of
 * every kind of mistake.
 *
 * Each test writes its file into a fresh directory made with mkdtemp()
 * under $TMPDIR (or /tmp).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/directory.h"
#include "proto/status.h"

#define ERR_LEN (3 * PATH_MAX)

struct fixture {
	char dir[PATH_MAX];
	char file[PATH_MAX + 32];   /* dir/directory.conf */
};

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	const char *tmp = getenv("TMPDIR");
	snprintf(fx->dir, sizeof(fx->dir), "%s/vigil-test-directory-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	snprintf(fx->file, sizeof(fx->file), "%s/directory.conf", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	unlink(fx->file);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

#define TEST_PRINTF(a, b) __attribute__((format(printf, a, b)))

static void expect_error_n(const struct fixture *fx, const char *text, size_t len, int status,
			   const char *fmt, ...) TEST_PRINTF(5, 6);

/* Loads text and expects failure with exactly "FILE:" followed by fmt. */
static void expect_error_n(const struct fixture *fx, const char *text, size_t len, int status,
			   const char *fmt, ...)
{
	char want[ERR_LEN], tail[PATH_MAX], err[ERR_LEN] = "";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	int n = snprintf(want, sizeof(want), "%s:%s", fx->file, tail);
	assert_true(n > 0 && (size_t)n < sizeof(want));
	write_file(fx->file, text, len);
	struct directory *d = (struct directory *)(void *)&want; /* must be reset to NULL */
	assert_int_equal(directory_load(fx->file, &d, err, sizeof(err)), status);
	assert_null(d);
	assert_string_equal(err, want);
}

#define expect_error(fx, text, ...) expect_error_n(fx, text, strlen(text), __VA_ARGS__)

static struct directory *load_ok(const struct fixture *fx, const char *text)
{
	char err[ERR_LEN] = "";
	struct directory *d = NULL;
	write_file(fx->file, text, strlen(text));
	int rc = directory_load(fx->file, &d, err, sizeof(err));
	if (rc != VG_OK)
		fail_msg("directory_load: %d: %s", rc, err);
	assert_non_null(d);
	assert_string_equal(err, "");
	return d;
}

#define MEMBER(org, role, c, name) "[" org "]\nrole = " role "\ncountry = " c "\nname = " name "\n"

static void test_good_file(void **state)
{
	struct fixture *fx = *state;
	struct directory *d = load_ok(fx,
		"; the federation's members\n"
		"\n"
		MEMBER("se-stockholm-coord", "coordinator", "SE", "Stockholm county coordinator")
		"\n"
		"[iom-ru-moscow]   ; inline comment\n"
		"name: IOM Moscow field office\n"
		"country = RU\n"
		"role=iom\n"
		MEMBER("vigil-relay", "relay", "SE", "vigil relay")
		MEMBER("se-police-noa", "police", "SE", "Polisen – NOA")
		MEMBER("a", "shelter", "SE", "A")
		MEMBER("0-shelter", "shelter", "NO", "Krisesenter"));
	assert_int_equal(directory_count(d), 6);
	static const char *const order[] = { "0-shelter", "a", "iom-ru-moscow", "se-police-noa",
					     "se-stockholm-coord", "vigil-relay" };
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(directory_at(d, i)->org, order[i]);
	assert_null(directory_at(d, 6));

	const struct member *m = directory_find(d, "iom-ru-moscow");
	assert_non_null(m);
	assert_ptr_equal(m, directory_at(d, 2));
	assert_int_equal(m->role, ROLE_IOM);
	assert_string_equal(m->country, "RU");
	assert_string_equal(m->name, "IOM Moscow field office");
	m = directory_find(d, "se-police-noa");
	assert_int_equal(m->role, ROLE_POLICE);
	assert_string_equal(m->name, "Polisen – NOA");
	assert_int_equal(directory_find(d, "vigil-relay")->role, ROLE_RELAY);
	assert_int_equal(directory_find(d, "0-shelter")->role, ROLE_SHELTER);
	assert_int_equal(directory_find(d, "se-stockholm-coord")->role, ROLE_COORDINATOR);
	for (size_t i = 0; i < 6; i++)
		assert_ptr_equal(directory_find(d, order[i]), directory_at(d, i));
	assert_null(directory_find(d, "iom-ru-mosco"));
	assert_null(directory_find(d, "iom-ru-moscow0"));
	assert_null(directory_find(d, ""));
	assert_null(directory_find(d, NULL));

	directory_free(&d);
	assert_null(d);
	directory_free(&d); /* harmless on NULL */
	directory_free(NULL);
	assert_int_equal(directory_count(NULL), 0);
	assert_null(directory_find(NULL, "a"));
}

/* Limits that are still good: a 64-character id, a 127-byte name, a BOM. */
static void test_limits_ok(void **state)
{
	struct fixture *fx = *state;
	char text[1024], org[65], name[128];
	memset(org, 'a', 64);
	org[64] = '\0';
	memset(name, 'n', 127);
	name[127] = '\0';
	snprintf(text, sizeof(text), "\xEF\xBB\xBF[%s]\nrole = iom\ncountry = ZZ\nname = %s\n", org,
		 name);
	struct directory *d = load_ok(fx, text);
	assert_int_equal(directory_count(d), 1);
	assert_string_equal(directory_at(d, 0)->org, org);
	assert_string_equal(directory_at(d, 0)->name, name);
	directory_free(&d);
}

static void test_admit(void **state)
{
	struct fixture *fx = *state;
	struct directory *d = load_ok(fx, MEMBER("iom-ru-moscow", "iom", "RU", "IOM Moscow")
					  MEMBER("se-police-noa", "police", "SE", "NOA"));
	char why[256] = "";
	assert_int_equal(directory_admit(d, "iom-ru-moscow", ROLE_IOM, "RU", why, sizeof(why)), 0);
	assert_int_equal(directory_admit(d, "se-police-noa", ROLE_POLICE, "SE", why, sizeof(why)), 0);
	assert_int_equal(directory_admit(d, "iom-xx-nonmember", ROLE_IOM, "DE", why, sizeof(why)), -1);
	assert_string_equal(why, "organisation iom-xx-nonmember is not a member");
	assert_int_equal(directory_admit(d, "iom-ru-moscow", ROLE_POLICE, "RU", why, sizeof(why)), -1);
	assert_string_equal(why, "organisation iom-ru-moscow: certificate OU police disagrees with "
				 "directory role iom");
	assert_int_equal(directory_admit(d, "iom-ru-moscow", ROLE_IOM, "MD", why, sizeof(why)), -1);
	assert_string_equal(why, "organisation iom-ru-moscow: certificate C MD disagrees with "
				 "directory country RU");
	/* Without a directory nobody is admitted. */
	assert_int_equal(directory_admit(NULL, "iom-ru-moscow", ROLE_IOM, "RU", why, sizeof(why)), -1);
	assert_string_equal(why, "organisation iom-ru-moscow is not a member");
	directory_free(&d);
}

static void test_bad_sections(void **state)
{
	struct fixture *fx = *state;
	expect_error(fx, "[IOM-RU]\nrole = iom\n", VG_EBADREQ,
		     "1: [IOM-RU] is not an organisation id (1-64 characters of [a-z0-9-])");
	expect_error(fx, MEMBER("a", "iom", "RU", "A") "[]\n", VG_EBADREQ,
		     "5: [] is not an organisation id (1-64 characters of [a-z0-9-])");
	expect_error(fx, "[se stockholm]\n", VG_EBADREQ,
		     "1: [se stockholm] is not an organisation id (1-64 characters of [a-z0-9-])");
	char text[256], org[66];
	memset(org, 'a', 65);
	org[65] = '\0';
	snprintf(text, sizeof(text), "[%s]\n", org);
	expect_error(fx, text, VG_EBADREQ,
		     "1: [%s] is not an organisation id (1-64 characters of [a-z0-9-])", org);
	expect_error(fx, MEMBER("a", "iom", "RU", "A") "\n" MEMBER("b", "iom", "RU", "B")
		     "[a]\n", VG_EBADREQ, "10: duplicate organisation [a] (first on line 1)");
	expect_error(fx, "role = iom\n" MEMBER("a", "iom", "RU", "A"), VG_EBADREQ,
		     "1: key role is outside any section");
	expect_error(fx, MEMBER("a", "iom", "RU", "A") "[b\nrole = iom\n", VG_EBADREQ,
		     "5: syntax error (expected [organisation] or key = value)");
}

static void test_bad_keys(void **state)
{
	struct fixture *fx = *state;
	expect_error(fx, "[a]\nrole = iom\nrole = police\n", VG_EBADREQ,
		     "3: duplicate key [a] role (first set on line 2)");
	expect_error(fx, "[a]\nrole = iom\ncountry = RU\nname = A\nemail = a@example.org\n",
		     VG_EBADREQ, "5: unknown key [a] email");
	expect_error(fx, "[a]\nRole = iom\n", VG_EBADREQ, "2: unknown key [a] Role");
	expect_error(fx, "[a]\n= iom\n", VG_EBADREQ, "2: missing key name before '=' in [a]");
	expect_error(fx, "[a]\nrole iom\n", VG_EBADREQ,
		     "2: syntax error (expected [organisation] or key = value)");
	expect_error(fx, "[a]\nname = IOM\n  Moscow\n", VG_EBADREQ,
		     "3: indented line continues a value; values must be on one line");
}

static void test_missing_keys(void **state)
{
	struct fixture *fx = *state;
	/* Reported on the section's header line, when the section ends. */
	expect_error(fx, "[a]\ncountry = RU\nname = A\n", VG_EBADREQ, "1: [a] role is required");
	expect_error(fx, "[a]\nrole = iom\nname = A\n", VG_EBADREQ, "1: [a] country is required");
	expect_error(fx, MEMBER("a", "iom", "RU", "A") "\n[b]\nrole = iom\ncountry = RU\n"
		     MEMBER("c", "iom", "RU", "C"), VG_EBADREQ, "6: [b] name is required");
	expect_error(fx, MEMBER("a", "iom", "RU", "A") "[b]\n", VG_EBADREQ,
		     "5: [b] role is required");
	expect_error(fx, "", VG_EBADREQ, "0: the directory lists no organisation");
	expect_error(fx, "; nobody yet\n\n", VG_EBADREQ, "0: the directory lists no organisation");
}

static void test_bad_values(void **state)
{
	struct fixture *fx = *state;
	expect_error(fx, "[a]\nrole = journalist\n", VG_EBADREQ,
		     "2: [a] role: \"journalist\" is not one of coordinator, police, iom, shelter, "
		     "relay");
	expect_error(fx, "[a]\nrole = IOM\n", VG_EBADREQ,
		     "2: [a] role: \"IOM\" is not one of coordinator, police, iom, shelter, relay");
	expect_error(fx, "[a]\nrole =\n", VG_EBADREQ, "2: [a] role: value is empty");
	expect_error(fx, "[a]\nrole = iom\ncountry = se\n", VG_EBADREQ,
		     "3: [a] country: \"se\" is not two upper-case letters (ISO 3166)");
	expect_error(fx, "[a]\nrole = iom\ncountry = SWE\n", VG_EBADREQ,
		     "3: [a] country: \"SWE\" is not two upper-case letters (ISO 3166)");
	expect_error(fx, "[a]\nrole = iom\ncountry = S1\n", VG_EBADREQ,
		     "3: [a] country: \"S1\" is not two upper-case letters (ISO 3166)");
	expect_error(fx, "[a]\nname =\n", VG_EBADREQ, "2: [a] name: value is empty");
	char text[512], name[129];
	memset(name, 'n', 128);
	name[128] = '\0';
	snprintf(text, sizeof(text), "[a]\nname = %s\n", name);
	expect_error(fx, text, VG_EBADREQ, "2: [a] name: 128 bytes; the limit is 127");
	expect_error(fx, "[a]\nname = Shelter\x01\n", VG_EBADREQ,
		     "2: [a] name: contains a control character");
	expect_error(fx, "[a]\nname = Shelter \xC3\n", VG_EBADREQ, "2: [a] name: not valid UTF-8");
	expect_error(fx, "[a]\nname = \xC0\xAF\n", VG_EBADREQ, "2: [a] name: not valid UTF-8");
}

static void test_bad_lines(void **state)
{
	struct fixture *fx = *state;
	static const char nul[] = "[a]\nrole = i\0om\n";
	expect_error_n(fx, nul, sizeof(nul) - 1, VG_EBADREQ, "2: line contains a NUL byte");
	char text[512];
	memset(text, 'x', sizeof(text));
	memcpy(text, "[a]\nname = ", 11);
	text[300] = '\n';
	text[301] = '\0';
	expect_error(fx, text, VG_EBADREQ, "2: line is longer than 198 characters");
}

static void test_unreadable(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX + 16], err[ERR_LEN];
	snprintf(path, sizeof(path), "%s/none.conf", fx->dir);
	struct directory *d = NULL;
	assert_int_equal(directory_load(path, &d, err, sizeof(err)), VG_EIO);
	assert_null(d);
	char want[ERR_LEN];
	snprintf(want, sizeof(want), "%s:0: cannot open: No such file or directory", path);
	assert_string_equal(err, want);
	/* A directory is not a file: reading it fails. */
	assert_int_equal(directory_load(fx->dir, &d, err, sizeof(err)), VG_EIO);
	snprintf(want, sizeof(want), "%s:0: cannot read: Is a directory", fx->dir);
	assert_string_equal(err, want);
	assert_null(d);
}

/* DIRECTORY_MAX members load; one more is refused on its header line. */
static void test_too_many(void **state)
{
	struct fixture *fx = *state;
	size_t cap = (size_t)(DIRECTORY_MAX + 1) * 64 + 64;
	char *text = malloc(cap);
	assert_non_null(text);
	size_t n = 0;
	for (int i = 0; i < DIRECTORY_MAX; i++)
		n += (size_t)snprintf(text + n, cap - n,
				      "[m%05d]\nrole = iom\ncountry = RU\nname = M\n", i);
	struct directory *d = load_ok(fx, text);
	assert_int_equal(directory_count(d), DIRECTORY_MAX);
	assert_string_equal(directory_find(d, "m04711")->org, "m04711");
	directory_free(&d);
	snprintf(text + n, cap - n, "[zzz]\n");
	expect_error(fx, text, VG_EBADREQ, "%d: more than %d organisations",
		     4 * DIRECTORY_MAX + 1, DIRECTORY_MAX);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_sections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
