#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "clikit.h"
#include "harness.h"

#define HINT "Try 'vigil --help' for more information.\n"

/* ---- running the tool -------------------------------------------------------- */

void cli_args_init(struct cli_args *a, const char *cli_path)
{
	memset(a, 0, sizeof(*a));
	a->v[a->n++] = cli_path;
}

void cli_addv(struct cli_args *a, va_list ap)
{
	const char *s;
	while ((s = va_arg(ap, const char *)) != NULL) {
		assert_true(a->n < 62);
		a->v[a->n++] = s;
	}
}

void cli_add(struct cli_args *a, ...)
{
	va_list ap;
	va_start(ap, a);
	cli_addv(a, ap);
	va_end(ap);
}

const char *cli_keep(struct cli_args *a, const char *fmt, ...)
{
	assert_true(a->nkeep < 16);
	char *b = a->keep[a->nkeep++];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof(a->keep[0]), fmt, ap);
	va_end(ap);
	return b;
}

void cli_add_conn(struct cli_args *a, int port, const char *who, const char *ca)
{
	cli_add(a, "--relay", cli_keep(a, "127.0.0.1:%d", port),
		"--cert", cli_keep(a, "%s/%s.crt", PKI_DIR, who),
		"--key", cli_keep(a, "%s/%s.key", PKI_DIR, who),
		"--ca", cli_keep(a, "%s/%s", PKI_DIR, ca),
		"--checkpoint-key", cli_keep(a, "%s/checkpoint.pub", PKI_DIR), NULL);
}

int cli_run(struct cli_args *a, const char *cwd, char *out, size_t out_len, char *err,
	    size_t err_len)
{
	a->v[a->n] = NULL;
	int status = run_capture(a->v, cwd, out, out_len, err, err_len, CLI_TIMEOUT_MS);
	if (status < 0)
		fail_msg("vigil did not finish within %d ms", CLI_TIMEOUT_MS);
	return status;
}

void cli_expect_status(const struct cli_result *r, int status)
{
	if (r->status != status)
		fail_msg("vigil exited %d, expected %d\nstdout: %s\nstderr: %s", r->status, status,
			 r->out, r->err);
}

void cli_expect_fail(const struct cli_result *r, int status, const char *error,
		     const char *message)
{
	cli_expect_status(r, status);
	char got[1024];
	jstr(jmust(r->out, "error"), got, sizeof(got));
	assert_string_equal(got, error);
	jstr(jmust(r->out, "message"), got, sizeof(got));
	assert_string_equal(got, message);
}

void cli_expect_ok(const struct cli_result *r)
{
	cli_expect_status(r, 0);
	assert_string_equal(r->err, "");
}

void cli_expect_usage(const struct cli_result *r, const char *line)
{
	cli_expect_status(r, 2);
	assert_string_equal(r->out, "");
	char want[1200];
	snprintf(want, sizeof(want), "vigil: %s\n" HINT, line);
	assert_string_equal(r->err, want);
}

/* ---- a little JSON ------------------------------------------------------------------- */

const char *jskip(const char *p)
{
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			if (*p == '\\' && !*++p)
				return NULL;
		return *p ? p + 1 : NULL;
	}
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		p++;
		if (*p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				if (*p != '"' || !(p = jskip(p)) || *p++ != ':')
					return NULL;
			}
			if (!(p = jskip(p)))
				return NULL;
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	const char *s = p;
	while (*p && !strchr(",]}", *p))
		p++;
	return p > s ? p : NULL;
}

const char *jget(const char *obj, const char *key)
{
	if (*obj != '{')
		return NULL;
	const char *p = obj + 1;
	while (*p == '"') {
		const char *k = p + 1, *end = jskip(p);
		if (!end || *end != ':')
			return NULL;
		size_t kl = (size_t)(end - 1 - k);
		if (kl == strlen(key) && strncmp(k, key, kl) == 0)
			return end + 1;
		if (!(p = jskip(end + 1)))
			return NULL;
		if (*p == ',')
			p++;
	}
	return NULL;
}

const char *jmust(const char *obj, const char *key)
{
	const char *v = jget(obj, key);
	if (!v)
		fail_msg("no \"%s\" in %.300s", key, obj);
	return v;
}

void jkeys(const char *obj, char *out, size_t n)
{
	out[0] = '\0';
	assert_int_equal(*obj, '{');
	const char *p = obj + 1;
	while (*p == '"') {
		const char *end = jskip(p);
		assert_non_null(end);
		size_t used = strlen(out);
		snprintf(out + used, n - used, "%s%.*s", used ? "," : "", (int)(end - p - 2), p + 1);
		p = jskip(end + 1);
		assert_non_null(p);
		if (*p == ',')
			p++;
	}
}

void jstr(const char *v, char *out, size_t n)
{
	size_t o = 0;
	if (strncmp(v, "null", 4) == 0) {
		out[0] = '\0';
		return;
	}
	if (*v != '"')
		fail_msg("not a string: %.80s", v);
	for (v++; *v != '"'; v++) {
		char ch = *v;
		if (ch == '\\') {
			ch = *++v;
			if (ch == 'n')
				ch = '\n';
			else if (ch != '"' && ch != '\\' && ch != '/')
				fail_msg("unexpected escape \\%c", ch);
		}
		assert_true(o + 1 < n);
		out[o++] = ch;
	}
	out[o] = '\0';
}

unsigned long long jnum(const char *v)
{
	unsigned long long x;
	if (sscanf(v, "%llu", &x) != 1)
		fail_msg("not a number: %.80s", v);
	return x;
}

const char *jnth(const char *v, size_t i)
{
	assert_int_equal(*v, '[');
	const char *p = v + 1;
	if (*p == ']')
		return NULL;
	for (size_t k = 0; k < i; k++) {
		p = jskip(p);
		assert_non_null(p);
		if (*p == ']')
			return NULL;
		assert_int_equal(*p, ',');
		p++;
	}
	return p;
}

void expect_member(const char *obj, const char *key, const char *want)
{
	char v[512];
	jstr(jmust(obj, key), v, sizeof(v));
	if (strcmp(v, want) != 0)
		fail_msg("\"%s\" is \"%s\", expected \"%s\" in %s", key, v, want, obj);
}
