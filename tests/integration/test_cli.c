/*
 * Black-box tests of the vigil command: the real binary, run with fork/exec
 * against a real vigild on loopback with the real PKI.  Every run checks the
 * exact exit status, what went to stdout and to stderr, and what the relay's
 * database holds afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "harness.h"
#include "proto/status.h"

#define CLI_TIMEOUT_MS 30000
#define OUT_MAX 16384
#define HINT "Try 'vigil --help' for more information.\n"
#define CASE_ID "SE-2026-0042"
#define AT "2026-11-28T09:15:00Z"
#define AT_MS 1795857300000LL   /* AT in ms since the epoch (date -d AT +%s) */

static struct trelay R; /* one relay for the whole file */

/* ---- running the tool -------------------------------------------------------- */

struct args {
	const char *v[64];
	int n;
	char keep[16][700]; /* copies of paths and numbers the arguments point to */
	int nkeep;
};

struct result {
	int status;
	char out[OUT_MAX];
	char err[OUT_MAX];
};

static void args_init(struct args *a)
{
	memset(a, 0, sizeof(*a));
	a->v[a->n++] = VIGIL_CLI_PATH;
}

/* Appends arguments up to a NULL. */
static void add(struct args *a, ...)
{
	va_list ap;
	va_start(ap, a);
	const char *s;
	while ((s = va_arg(ap, const char *)) != NULL) {
		assert_true(a->n < 62);
		a->v[a->n++] = s;
	}
	va_end(ap);
}

/* A copy of a formatted string that lives as long as the args. */
__attribute__((format(printf, 2, 3)))
static const char *keep(struct args *a, const char *fmt, ...)
{
	assert_true(a->nkeep < 16);
	char *b = a->keep[a->nkeep++];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof(a->keep[0]), fmt, ap);
	va_end(ap);
	return b;
}

/* --relay 127.0.0.1:PORT --cert/--key PKI_DIR/<who>.crt/.key --ca ca.crt */
static void add_conn_ca(struct args *a, int port, const char *who, const char *ca)
{
	add(a, "--relay", keep(a, "127.0.0.1:%d", port),
	    "--cert", keep(a, "%s/%s.crt", PKI_DIR, who),
	    "--key", keep(a, "%s/%s.key", PKI_DIR, who),
	    "--ca", keep(a, "%s/%s", PKI_DIR, ca), NULL);
}

static void add_conn(struct args *a, const char *who)
{
	add_conn_ca(a, R.port, who, "ca.crt");
}

static void run_in(struct args *a, const char *cwd, struct result *r)
{
	a->v[a->n] = NULL;
	r->status = run_capture(a->v, cwd, r->out, sizeof(r->out), r->err, sizeof(r->err),
				CLI_TIMEOUT_MS);
	if (r->status < 0)
		fail_msg("vigil did not finish within %d ms", CLI_TIMEOUT_MS);
}

static void run(struct args *a, struct result *r)
{
	run_in(a, NULL, r);
}

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void expect_status(const struct result *r, int status)
{
	if (r->status != status)
		fail_msg("vigil exited %d, expected %d\nstdout: %s\nstderr: %s", r->status, status,
			 r->out, r->err);
}

/* A usage error: status 2, "vigil: ...<what>...", the hint, nothing on
 * stdout. */
static void expect_usage(const struct result *r, const char *what)
{
	expect_status(r, 2);
	assert_string_equal(r->out, "");
	const char *line2 = strchr(r->err, '\n');
	if (!starts_with(r->err, "vigil: ") || !line2 || strcmp(line2 + 1, HINT) != 0)
		fail_msg("unexpected usage message: %s", r->err);
	char *first = strndup(r->err, (size_t)(line2 - r->err));
	assert_non_null(first);
	if (!strstr(first, what))
		fail_msg("usage message \"%s\" lacks \"%s\"", first, what);
	free(first);
}

/* ---- the database ------------------------------------------------------------------- */

static long long entries(void)
{
	return db_int(&R, "SELECT count(*) FROM entries");
}

/* One text column of entry idx: "lower(hex(leaf_hash))", "case_id", ... */
static void entry_text(unsigned long long idx, const char *column, char *out, size_t n)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT %s FROM entries WHERE idx = %llu", column, idx);
	if (db_text(&R, sql, out, n) != 0)
		fail_msg("no entry %llu", idx);
}

static long long entry_int(unsigned long long idx, const char *column)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT %s FROM entries WHERE idx = %llu", column, idx);
	return db_int(&R, sql);
}

static void entry_blob(unsigned long long idx, const char *column, uint8_t **out, size_t *n)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT %s FROM entries WHERE idx = %llu", column, idx);
	if (db_blob(&R, sql, out, n) != 0)
		fail_msg("no entry %llu", idx);
}

/* ---- parsing the output ------------------------------------------------------------- */

struct receipt_out {
	unsigned long long index;
	char leaf[65];
	char at[40];
	char id[33];
	int duplicate;
};

static int all_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return 0;
	return 1;
}

/* The --json line of a receipt: exactly one line, every field well formed. */
static void parse_json(const char *out, struct receipt_out *j)
{
	memset(j, 0, sizeof(*j));
	char dup[8] = "";
	int end = -1;
	sscanf(out, "{\"index\":%llu,\"leaf_hash\":\"%64[0-9a-f]\",\"received_at\":\"%39[^\"]\","
		    "\"record_id\":\"%32[0-9a-f]\",\"duplicate\":%5[a-z]}%n",
	       &j->index, j->leaf, j->at, j->id, dup, &end);
	if (end < 0 || strcmp(out + end, "\n") != 0)
		fail_msg("not one JSON receipt line: %s", out);
	if (!all_hex(j->leaf, 64) || !all_hex(j->id, 32))
		fail_msg("bad leaf_hash or record_id: %s", out);
	if (strcmp(dup, "true") == 0)
		j->duplicate = 1;
	else if (strcmp(dup, "false") != 0)
		fail_msg("bad duplicate value: %s", out);
	/* RFC 3339 in the canonical form the tool documents (UTC, ms, Z). */
	int64_t ms;
	char back[TIME_RFC3339_MAX];
	if (time_parse_rfc3339(j->at, &ms) != VG_OK)
		fail_msg("received_at \"%s\" is not RFC 3339", j->at);
	time_format_rfc3339(ms, back);
	assert_string_equal(back, j->at);
}

/* The JSON receipt agrees with the row the relay stored. */
static void check_against_db(const struct receipt_out *j)
{
	char hex[200];
	entry_text(j->index, "lower(hex(leaf_hash))", hex, sizeof(hex));
	assert_string_equal(hex, j->leaf);
	entry_text(j->index, "lower(hex(record_id))", hex, sizeof(hex));
	assert_string_equal(hex, j->id);
	char at[TIME_RFC3339_MAX];
	time_format_rfc3339(entry_int(j->index, "received_at_ms"), at);
	assert_string_equal(at, j->at);
}

/* The text lines of a receipt rebuilt from the database: they must be
 * exactly what the tool printed. */
static unsigned long long check_text_receipt(const char *out, int duplicate)
{
	unsigned long long idx;
	if (sscanf(out, "stored entry %llu at ", &idx) != 1)
		fail_msg("no 'stored entry' line: %s", out);
	char leaf[200], id[200], at[TIME_RFC3339_MAX], want[1024];
	entry_text(idx, "lower(hex(leaf_hash))", leaf, sizeof(leaf));
	entry_text(idx, "lower(hex(record_id))", id, sizeof(id));
	time_format_rfc3339(entry_int(idx, "received_at_ms"), at);
	snprintf(want, sizeof(want), "stored entry %llu at %s\nrecord_id %s\nleaf_hash %s\n%s",
		 idx, at, id, leaf, duplicate ? "duplicate: yes\n" : "");
	assert_string_equal(out, want);
	return idx;
}

static void random_hex_id(char out[33])
{
	uint8_t id[RECORD_ID_LEN];
	assert_int_equal(RAND_bytes(id, sizeof(id)), 1);
	hex_encode(id, sizeof(id), out);
}

/* ---- fixtures ---------------------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	trelay_setup(&R, NULL, NULL);
	return trelay_start(&R);
}

static int group_teardown(void **state)
{
	(void)state;
	int rc = trelay_stop(&R);
	trelay_cleanup(&R);
	if (rc != 0) {
		fprintf(stderr, "relay exit status %d\n", rc);
		return -1;
	}
	return 0;
}

/* ---- tests ---------------------------------------------------------------------------- */

/* The documented example: stored, three lines on stdout, nothing on stderr,
 * one new row with the case and the author of the certificate. */
static void test_contact_text(void **state)
{
	(void)state;
	long long before = entries();
	struct args a;
	struct result r;
	args_init(&a);
	add_conn(&a, "iom-ru-moscow");
	add(&a, "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer",
	    NULL);
	run(&a, &r);
	expect_status(&r, 0);
	assert_string_equal(r.err, "");
	unsigned long long idx = check_text_receipt(r.out, 0);
	assert_int_equal(idx, (unsigned long long)before);
	assert_int_equal(entries(), before + 1);
	char s[128];
	entry_text(idx, "case_id", s, sizeof(s));
	assert_string_equal(s, CASE_ID);
	entry_text(idx, "author", s, sizeof(s));
	assert_string_equal(s, "iom-ru-moscow");
	/* Without --at the attempt and client time are "now": within a
	 * minute of the relay's receive time. */
	int64_t received = entry_int(idx, "received_at_ms");
	uint8_t *rec;
	size_t rec_len;
	entry_blob(idx, "record", &rec, &rec_len);
	Vigil__V1__Record *p = vigil__v1__record__unpack(NULL, rec_len, rec);
	assert_non_null(p);
	assert_true(llabs(p->client_time_ms - received) < 60000);
	assert_int_equal(p->contact_attempt->attempted_at_ms, p->client_time_ms);
	assert_int_equal(p->contact_attempt->channel, VIGIL__V1__CHANNEL__CHANNEL_PHONE);
	assert_int_equal(p->contact_attempt->outcome, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER);
	assert_string_equal(p->contact_attempt->note, "");
	vigil__v1__record__free_unpacked(p, NULL);
	free(rec);
}

/* --json (after the command, where global options may also go): one line
 * whose fields are those of the stored row. */
static void test_contact_json(void **state)
{
	(void)state;
	long long before = entries();
	struct args a;
	struct result r;
	args_init(&a);
	add_conn(&a, "se-shelter-1");
	add(&a, "contact", "--case", "SE-2026-0043", "--channel", "home-visit", "--outcome",
	    "reached-safe", "--json", NULL);
	run(&a, &r);
	expect_status(&r, 0);
	assert_string_equal(r.err, "");
	struct receipt_out j;
	parse_json(r.out, &j);
	assert_int_equal(j.index, (unsigned long long)before);
	assert_false(j.duplicate);
	check_against_db(&j);
	assert_int_equal(entries(), before + 1);
	char s[128];
	entry_text(j.index, "author", s, sizeof(s));
	assert_string_equal(s, "se-shelter-1");
	entry_text(j.index, "case_id", s, sizeof(s));
	assert_string_equal(s, "SE-2026-0043");
}

/* --record-id with --at: a retry is the same record and is answered as a
 * duplicate; the same id with another outcome is a conflict (exit 1). */
static void test_retry_duplicate_conflict(void **state)
{
	(void)state;
	char id[33];
	random_hex_id(id);
	long long before = entries();
	struct args a;
	struct result r;
	struct receipt_out j1, j2;

	args_init(&a);
	add_conn(&a, "iom-ru-moscow");
	add(&a, "--json", "contact", "--case", CASE_ID, "--channel", "sms", "--outcome",
	    "undelivered", "--record-id", id, "--at", AT, NULL);
	run(&a, &r);
	expect_status(&r, 0);
	parse_json(r.out, &j1);
	assert_false(j1.duplicate);
	assert_string_equal(j1.id, id);
	check_against_db(&j1);

	run(&a, &r); /* the very same command again */
	expect_status(&r, 0);
	assert_string_equal(r.err, "");
	parse_json(r.out, &j2);
	assert_true(j2.duplicate);
	assert_int_equal(j2.index, j1.index);
	assert_string_equal(j2.leaf, j1.leaf);
	assert_string_equal(j2.at, j1.at);
	assert_string_equal(j2.id, id);

	/* Text output says so too. */
	args_init(&a);
	add_conn(&a, "iom-ru-moscow");
	add(&a, "contact", "--case", CASE_ID, "--channel", "sms", "--outcome", "undelivered",
	    "--record-id", id, "--at", AT, NULL);
	run(&a, &r);
	expect_status(&r, 0);
	assert_int_equal(check_text_receipt(r.out, 1), j1.index);

	assert_int_equal(entries(), before + 1);
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM entries WHERE record_id = x'%s'", id);
	assert_int_equal(db_int(&R, sql), 1);

	/* Same record id, another outcome. */
	char want[256];
	snprintf(want, sizeof(want),
		 "record_id was already used for a different record (entry %llu)", j1.index);
	args_init(&a);
	add_conn(&a, "iom-ru-moscow");
	add(&a, "contact", "--case", CASE_ID, "--channel", "sms", "--outcome", "reached-safe",
	    "--record-id", id, "--at", AT, NULL);
	run(&a, &r);
	expect_status(&r, 1);
	assert_string_equal(r.out, "");
	char line[512];
	snprintf(line, sizeof(line), "vigil: refused by relay: CONFLICT: %s\n", want);
	assert_string_equal(r.err, line);

	add(&a, "--json", NULL);
	run(&a, &r);
	expect_status(&r, 1);
	char json[512];
	snprintf(json, sizeof(json), "{\"error\":\"CONFLICT\",\"message\":\"%s\"}\n", want);
	assert_string_equal(r.out, json);
	assert_string_equal(r.err, line);

	/* The original is untouched. */
	assert_int_equal(entries(), before + 1);
	char leaf[200];
	entry_text(j1.index, "lower(hex(leaf_hash))", leaf, sizeof(leaf));
	assert_string_equal(leaf, j1.leaf);

	/* --record-id without --at: the client time differs on every run, so
	 * the second run is a different record under the same id. */
	random_hex_id(id);
	args_init(&a);
	add_conn(&a, "iom-ru-moscow");
	add(&a, "contact", "--case", CASE_ID, "--channel", "sms", "--outcome", "moved",
	    "--record-id", id, NULL);
	run(&a, &r);
	expect_status(&r, 0);
	unsigned long long idx = check_text_receipt(r.out, 0);
	run(&a, &r);
	expect_status(&r, 1);
	snprintf(line, sizeof(line), "vigil: refused by relay: CONFLICT: record_id was already "
		 "used for a different record (entry %llu)\n", idx);
	assert_string_equal(r.err, line);
	assert_int_equal(entries(), before + 2);
}

/* Notes: 512 bytes are stored; 513 bytes and invalid UTF-8 are refused by
 * the tool itself (usage, exit 2) before it connects. */
static void test_note_limits(void **state)
{
	(void)state;
	static char note[514];
	memset(note, 'x', 513);
	note[513] = '\0';
	long long before = entries();
	struct args a;
	struct result r;

	args_init(&a);
	add_conn(&a, "iom-ru-moscow");
	add(&a, "contact", "--case", CASE_ID, "--channel", "email", "--outcome", "no-answer",
	    "--note", note, NULL);
	run(&a, &r);
	expect_usage(&r, "contact: note is 513 bytes; the limit is 512");
	assert_int_equal(entries(), before);

	args_init(&a);
	add_conn(&a, "iom-ru-moscow");
	add(&a, "contact", "--case", CASE_ID, "--channel", "email", "--outcome", "no-answer",
	    "--note", "caf\xc3\x28", NULL);
	run(&a, &r);
	expect_usage(&r, "note is not valid UTF-8");
	assert_int_equal(entries(), before);

	args_init(&a);
	add_conn(&a, "iom-ru-moscow");
	add(&a, "--json", "contact", "--case", CASE_ID, "--channel", "email", "--outcome",
	    "no-answer", "--note", note + 1, NULL);
	run(&a, &r);
	expect_status(&r, 0);
	struct receipt_out j;
	parse_json(r.out, &j);
	check_against_db(&j);
	assert_int_equal(entries(), before + 1);
	uint8_t *rec;
	size_t rec_len;
	entry_blob(j.index, "record", &rec, &rec_len);
	Vigil__V1__Record *p = vigil__v1__record__unpack(NULL, rec_len, rec);
	assert_non_null(p);
	assert_int_equal(p->body_case, VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT);
	assert_string_equal(p->contact_attempt->note, note + 1);
	vigil__v1__record__free_unpacked(p, NULL);
	free(rec);
}

/* Bad command lines: exit 2, a precise message, nothing sent. */
static void test_usage_errors(void **state)
{
	(void)state;
	struct usage_case {
		const char *argv[12];
		int with_conn;
		const char *message;
	};
	static char long_case[70];
	memset(long_case, 'A', 65);
	long_case[65] = '\0';
	const struct usage_case cases[] = {
		{ { "contact", "--case", CASE_ID, "--channel", "fax", "--outcome", "no-answer" }, 1,
		  "contact: unknown channel \"fax\" (one of: phone, sms, messenger, email, "
		  "home-visit, office-visit, via-family, via-partner)" },
		{ { "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "gone" }, 1,
		  "contact: unknown outcome \"gone\" (one of: reached-safe, reached-concern, "
		  "reached-declines-contact, no-answer, unreachable, undelivered, moved, "
		  "unknown-to-contact, aborted-unsafe)" },
		{ { "contact", "--case", "SE_2026_0042", "--channel", "phone", "--outcome",
		    "no-answer" }, 1,
		  "contact: case id \"SE_2026_0042\" is invalid: it must be 3-64 characters" },
		{ { "contact", "--case", "SE", "--channel", "phone", "--outcome", "no-answer" }, 1,
		  "contact: case id \"SE\" is invalid" },
		{ { "contact", "--case", long_case, "--channel", "phone", "--outcome",
		    "no-answer" }, 1, "is invalid: it must be 3-64 characters" },
		{ { "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer",
		    "--at", "yesterday" }, 1,
		  "contact: --at 'yesterday' is not an RFC 3339 time such as 2026-11-28T10:00:00Z" },
		{ { "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer",
		    "--at", "2026-11-28 09:15" }, 1, "contact: --at '2026-11-28 09:15' is not an "
		    "RFC 3339 time" },
		{ { "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer",
		    "--at", "1969-12-31T23:59:59Z" }, 1,
		  "contact: --at '1969-12-31T23:59:59Z' is not after 1970" },
		{ { "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer",
		    "--record-id", "abc" }, 1,
		  "contact: --record-id wants 32 hex digits, not 'abc'" },
		{ { "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer",
		    "--record-id", "00112233445566778899aabbccddeefg" }, 1,
		  "--record-id wants 32 hex digits, not '00112233445566778899aabbccddeefg'" },
		{ { "contact", "--channel", "phone", "--outcome", "no-answer" }, 1,
		  "contact: --case is required" },
		{ { "contact", "--case", CASE_ID, "--outcome", "no-answer" }, 1,
		  "contact: --channel is required" },
		{ { "contact", "--case", CASE_ID, "--channel", "phone" }, 1,
		  "contact: --outcome is required" },
		{ { "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer",
		    "--colour", "blue" }, 1, "unknown option '--colour'" },
		{ { "--colour", "contact" }, 1, "unknown option '--colour'" },
		{ { "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer",
		    "extra" }, 1, "contact: unexpected argument 'extra'" },
		{ { "contact", "--case" }, 1, "option '--case' needs an argument" },
		{ { NULL }, 1, "no command given" },
		{ { "frobnicate" }, 1, "unknown command 'frobnicate'" },
		{ { "--timeout", "0", "contact" }, 1,
		  "--timeout wants milliseconds from 1 to 86400000, not '0'" },
		{ { "--relay", "127.0.0.1:99999", "contact" }, 0,
		  "bad relay port '99999': expected a number from 1 to 65535" },
		{ { "--relay", "::1:7443", "contact" }, 0,
		  "write an IPv6 address in brackets" },
		{ { "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer" },
		  0, "no relay given: use --relay HOST:PORT or -c FILE" },
	};
	long long before = entries();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct args a;
		struct result r;
		args_init(&a);
		if (cases[i].with_conn)
			add_conn(&a, "iom-ru-moscow");
		for (size_t k = 0; cases[i].argv[k]; k++)
			add(&a, cases[i].argv[k], NULL);
		run(&a, &r);
		if (r.status != 2 || !strstr(r.err, cases[i].message))
			fail_msg("case %zu: exit %d, stderr: %s", i, r.status, r.err);
		expect_usage(&r, cases[i].message);
	}

	/* Connection settings that are incomplete or unusable are usage
	 * errors too (exit 2), found before anything is sent. */
	struct args a;
	struct result r;
	args_init(&a);
	add(&a, "--relay", keep(&a, "127.0.0.1:%d", R.port), "--key", pki("iom-ru-moscow.key"),
	    "--ca", pki("ca.crt"), "contact", "--case", CASE_ID, "--channel", "phone",
	    "--outcome", "no-answer", NULL);
	run(&a, &r);
	expect_usage(&r, "no --cert FILE given (or [tls] cert in the -c file)");

	args_init(&a);
	add_conn(&a, "iom-ru-moscow");
	add(&a, "--cert", keep(&a, "%s/nobody.crt", PKI_DIR), "contact", "--case", CASE_ID,
	    "--channel", "phone", "--outcome", "no-answer", NULL);
	run(&a, &r);
	expect_status(&r, 2);
	assert_string_equal(r.out, "");
	char want[1024];
	snprintf(want, sizeof(want), "vigil: cannot read certificate %s/nobody.crt: No such file "
		 "or directory\n", PKI_DIR);
	assert_string_equal(r.err, want);

	/* A key that is not the certificate's: with --json the failure is a
	 * JSON object on stdout as well. */
	args_init(&a);
	add_conn(&a, "iom-ru-moscow");
	add(&a, "--key", keep(&a, "%s/se-shelter-1.key", PKI_DIR), "--json", "contact",
	    "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer", NULL);
	run(&a, &r);
	expect_status(&r, 2);
	char prefix[1024];
	snprintf(prefix, sizeof(prefix), "{\"error\":\"IO\",\"message\":\"cannot load private "
		 "key %s/se-shelter-1.key: key values mismatch\"}\n", PKI_DIR);
	assert_string_equal(r.out, prefix);
	snprintf(prefix, sizeof(prefix), "vigil: cannot load private key %s/se-shelter-1.key: "
		 "key values mismatch\n", PKI_DIR);
	assert_string_equal(r.err, prefix);

	assert_int_equal(entries(), before);
}

/* Nobody listens: exit 3, and no retry hint, as nothing was sent. */
static void test_connection_refused(void **state)
{
	(void)state;
	int port = unused_port();
	struct args a;
	struct result r;
	args_init(&a);
	add_conn_ca(&a, port, "iom-ru-moscow", "ca.crt");
	add(&a, "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer",
	    NULL);
	run(&a, &r);
	expect_status(&r, 3);
	assert_string_equal(r.out, "");
	char want[256];
	snprintf(want, sizeof(want), "vigil: cannot connect to 127.0.0.1 port %d: Connection "
		 "refused\n", port);
	assert_string_equal(r.err, want);

	add(&a, "--json", NULL);
	run(&a, &r);
	expect_status(&r, 3);
	snprintf(want, sizeof(want), "{\"error\":\"CONNECT\",\"message\":\"cannot connect to "
		 "127.0.0.1 port %d: Connection refused\"}\n", port);
	assert_string_equal(r.out, want);
}

/* Certificates the relay refuses: exit 3 with the relay's alert. */
static void test_tls_refusals(void **state)
{
	(void)state;
	static const struct {
		const char *cert;
		const char *alert;    /* in what the tool says */
		const char *relay_log;
	} cases[] = {
		{ "revoked", "certificate revoked", "certificate revoked" },
		{ "expired", "certificate expired", "certificate has expired" },
		{ "untrusted", "unknown ca", "unable to get local issuer certificate" },
		{ "bad-ou", "alert", "certificate OU \"journalist\" is not a known role" },
	};
	long long before = entries();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct args a;
		struct result r;
		args_init(&a);
		add_conn(&a, cases[i].cert);
		add(&a, "contact", "--case", CASE_ID, "--channel", "phone", "--outcome",
		    "no-answer", NULL);
		run(&a, &r);
		if (r.status != 3 || !starts_with(r.err, "vigil: ") ||
		    !strstr(r.err, cases[i].alert) || strchr(r.err, '\n') != r.err + strlen(r.err) - 1)
			fail_msg("%s: exit %d, stderr: %s", cases[i].cert, r.status, r.err);
		assert_string_equal(r.out, "");
		if (!trelay_log_has(&R, cases[i].relay_log, 3000))
			fail_msg("%s: relay log lacks \"%s\"", cases[i].cert, cases[i].relay_log);
	}

	struct args a;
	struct result r;
	args_init(&a);
	add_conn(&a, "revoked");
	add(&a, "--json", "contact", "--case", CASE_ID, "--channel", "phone", "--outcome",
	    "no-answer", NULL);
	run(&a, &r);
	expect_status(&r, 3);
	if (!starts_with(r.out, "{\"error\":\"TLS\",\"message\":\"relay 127.0.0.1:") ||
	    !strstr(r.out, "certificate revoked\"}\n"))
		fail_msg("unexpected stdout: %s", r.out);
	assert_int_equal(entries(), before);
}

/* The tool checks the relay: a CA that did not sign the relay's certificate,
 * or a host name the certificate does not name, is exit 3. */
static void test_relay_not_trusted(void **state)
{
	(void)state;
	long long before = entries();
	struct args a;
	struct result r;
	args_init(&a);
	add_conn_ca(&a, R.port, "iom-ru-moscow", "untrusted-ca.crt");
	add(&a, "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer",
	    NULL);
	run(&a, &r);
	expect_status(&r, 3);
	assert_string_equal(r.out, "");
	char want[256];
	snprintf(want, sizeof(want), "vigil: TLS handshake with relay 127.0.0.1:%d failed: its "
		 "certificate does not verify: ", R.port);
	if (!starts_with(r.err, want))
		fail_msg("unexpected stderr: %s", r.err);

	/* "127.1" resolves to 127.0.0.1 but is a name, and the relay's
	 * certificate names only localhost, 127.0.0.1 and ::1. */
	args_init(&a);
	add(&a, "--relay", keep(&a, "127.1:%d", R.port), "--cert", pki("iom-ru-moscow.crt"),
	    "--key", pki("iom-ru-moscow.key"), "--ca", pki("ca.crt"), "contact", "--case",
	    CASE_ID, "--channel", "phone", "--outcome", "no-answer", NULL);
	run(&a, &r);
	expect_status(&r, 3);
	if (!strstr(r.err, "its certificate does not verify: hostname mismatch"))
		fail_msg("unexpected stderr: %s", r.err);

	/* The same relay by a name its certificate does carry is fine. */
	args_init(&a);
	add(&a, "--relay", keep(&a, "localhost:%d", R.port), "--cert", pki("iom-ru-moscow.crt"),
	    "--key", pki("iom-ru-moscow.key"), "--ca", pki("ca.crt"), "contact", "--case",
	    CASE_ID, "--channel", "phone", "--outcome", "no-answer", NULL);
	/* (localhost may resolve to ::1 first, where the relay does not
	 * listen; the tool then tries 127.0.0.1.) */
	run(&a, &r);
	expect_status(&r, 0);
	assert_int_equal(entries(), before + 1);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* -c FILE: paths in the file are relative to the file's directory, not to
 * the working directory; options on the command line win. */
static void test_config_file(void **state)
{
	(void)state;
	char dir[700], sub[760], path[800], ini[1024];
	snprintf(dir, sizeof(dir), "%s/cfg", R.dir);
	snprintf(sub, sizeof(sub), "%s/pki", dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	static const char *const links[][2] = {
		{ "org.crt", "iom-ru-moscow.crt" }, { "org.key", "iom-ru-moscow.key" },
		{ "trust.crt", "ca.crt" },
	};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", sub, links[i][0]);
		assert_int_equal(symlink(pki(links[i][1]), path), 0);
	}
	snprintf(ini, sizeof(ini),
		 "; written by test_cli\n"
		 "[relay]\naddress = 127.0.0.1\nport = %d\n"
		 "[tls]\ncert = pki/org.crt\nkey = pki/org.key\nca = pki/trust.crt\n", R.port);
	snprintf(path, sizeof(path), "%s/vigil.ini", dir);
	write_file(path, ini);
	/* The working directory has no pki/: only the file's directory does. */
	snprintf(path, sizeof(path), "%s/pki", R.dir);
	assert_int_equal(access(path, F_OK), -1);

	long long before = entries();
	struct args a;
	struct result r;
	args_init(&a);
	add(&a, "-c", "cfg/vigil.ini", "--json", "contact", "--case", CASE_ID, "--channel",
	    "via-family", "--outcome", "moved", NULL);
	run_in(&a, R.dir, &r);
	expect_status(&r, 0);
	assert_string_equal(r.err, "");
	struct receipt_out j;
	parse_json(r.out, &j);
	check_against_db(&j);
	assert_int_equal(entries(), before + 1);
	char s[128];
	entry_text(j.index, "author", s, sizeof(s));
	assert_string_equal(s, "iom-ru-moscow");

	/* --cert and --key override the file's. */
	args_init(&a);
	add(&a, "--config", "cfg/vigil.ini", "--cert", pki("se-police-noa.crt"), "--key",
	    pki("se-police-noa.key"), "--json", "contact", "--case", CASE_ID, "--channel",
	    "office-visit", "--outcome", "reached-concern", NULL);
	run_in(&a, R.dir, &r);
	expect_status(&r, 0);
	parse_json(r.out, &j);
	entry_text(j.index, "author", s, sizeof(s));
	assert_string_equal(s, "se-police-noa");

	/* --relay overrides address and port: nobody listens there. */
	int port = unused_port();
	args_init(&a);
	add(&a, "-c", "cfg/vigil.ini", "--relay", keep(&a, "127.0.0.1:%d", port), "contact",
	    "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer", NULL);
	run_in(&a, R.dir, &r);
	expect_status(&r, 3);
	char want[256];
	snprintf(want, sizeof(want), "vigil: cannot connect to 127.0.0.1 port %d: Connection "
		 "refused\n", port);
	assert_string_equal(r.err, want);
	assert_int_equal(entries(), before + 2);

	/* Errors in the file are usage errors with FILE:LINE. */
	snprintf(path, sizeof(path), "%s/bad.ini", dir);
	write_file(path, "[relay]\naddress = 127.0.0.1\ncolour = blue\n");
	args_init(&a);
	add(&a, "-c", "cfg/bad.ini", "contact", "--case", CASE_ID, "--channel", "phone",
	    "--outcome", "no-answer", NULL);
	run_in(&a, R.dir, &r);
	expect_usage(&r, "cfg/bad.ini:3: unknown key 'colour' in [relay]");

	write_file(path, "[relay]\naddress = 127.0.0.1:7443\n");
	run_in(&a, R.dir, &r);
	expect_usage(&r, "cfg/bad.ini:2: address '127.0.0.1:7443' must not include a port");

	args_init(&a);
	add(&a, "-c", "cfg/missing.ini", "contact", "--case", CASE_ID, "--channel", "phone",
	    "--outcome", "no-answer", NULL);
	run_in(&a, R.dir, &r);
	expect_usage(&r, "cfg/missing.ini: cannot read: No such file or directory");
	assert_int_equal(entries(), before + 2);
}

static void test_version_help(void **state)
{
	(void)state;
	struct args a;
	struct result r;
	args_init(&a);
	add(&a, "--version", NULL);
	run(&a, &r);
	expect_status(&r, 0);
	assert_string_equal(r.out, "vigil " VIGIL_VERSION " (libvigil " VIGIL_VERSION ")\n");
	assert_string_equal(r.err, "");

	args_init(&a);
	add(&a, "--help", NULL);
	run(&a, &r);
	expect_status(&r, 0);
	assert_string_equal(r.err, "");
	if (!starts_with(r.out, "usage: vigil [OPTIONS] COMMAND") ||
	    !strstr(r.out, "\n  contact ") || !strstr(r.out, "--relay HOST:PORT") ||
	    !strstr(r.out, "Exit status: 0 stored, 1 refused by the relay, 2 usage error"))
		fail_msg("unexpected help: %s", r.out);

	args_init(&a);
	add(&a, "contact", "--help", NULL);
	run(&a, &r);
	expect_status(&r, 0);
	assert_string_equal(r.err, "");
	if (!starts_with(r.out, "usage: vigil [OPTIONS] contact --case ID") ||
	    !strstr(r.out, "via-partner") || !strstr(r.out, "aborted-unsafe"))
		fail_msg("unexpected contact help: %s", r.out);
}

static void write_blob(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* What the tool stored is the record it was asked for, signed with the
 * organisation's key: the openssl command verifies it with nothing but the
 * author's certificate, and the leaf hash it printed is recomputable. */
static void test_stored_record_verifies(void **state)
{
	(void)state;
	char id[33];
	random_hex_id(id);
	struct args a;
	struct result r;
	args_init(&a);
	add_conn(&a, "iom-ru-moscow");
	add(&a, "--json", "contact", "--case", "RU-MOW-7", "--channel", "via-partner",
	    "--outcome", "unknown-to-contact", "--at", AT, "--record-id", id, "--note",
	    "Caf\xc3\xa9 owner: no knowledge \xe2\x9c\x93", NULL);
	run(&a, &r);
	expect_status(&r, 0);
	struct receipt_out j;
	parse_json(r.out, &j);
	check_against_db(&j);

	uint8_t *rec, *sig;
	size_t rec_len, sig_len;
	entry_blob(j.index, "record", &rec, &rec_len);
	entry_blob(j.index, "signature", &sig, &sig_len);

	/* The record says what the command line said. */
	Vigil__V1__Record *p = vigil__v1__record__unpack(NULL, rec_len, rec);
	assert_non_null(p);
	uint8_t want_id[RECORD_ID_LEN];
	assert_int_equal(hex_decode(id, want_id, RECORD_ID_LEN), VG_OK);
	assert_int_equal(p->record_id.len, RECORD_ID_LEN);
	assert_memory_equal(p->record_id.data, want_id, RECORD_ID_LEN);
	assert_string_equal(p->case_id, "RU-MOW-7");
	assert_string_equal(p->author, "iom-ru-moscow");
	assert_int_equal(p->client_time_ms, AT_MS);
	assert_int_equal(p->body_case, VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT);
	assert_int_equal(p->contact_attempt->channel, VIGIL__V1__CHANNEL__CHANNEL_VIA_PARTNER);
	assert_int_equal(p->contact_attempt->outcome,
			 VIGIL__V1__OUTCOME__OUTCOME_UNKNOWN_TO_CONTACT);
	assert_int_equal(p->contact_attempt->attempted_at_ms, AT_MS);
	assert_string_equal(p->contact_attempt->note, "Caf\xc3\xa9 owner: no knowledge \xe2\x9c\x93");
	vigil__v1__record__free_unpacked(p, NULL);

	/* The leaf hash the tool printed, recomputed from the row and the
	 * author's certificate file. */
	FILE *f = fopen(pki("iom-ru-moscow.crt"), "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	uint8_t cert_sha[SHA256_LEN], lh[SHA256_LEN];
	unsigned int n = 0;
	assert_int_equal(X509_digest(x, EVP_sha256(), cert_sha, &n), 1);
	X509_free(x);
	uint8_t *leaf;
	size_t leaf_len;
	assert_int_equal(entry_leaf_encode(entry_int(j.index, "received_at_ms"), cert_sha, rec,
					   rec_len, sig, sig_len, &leaf, &leaf_len), VG_OK);
	merkle_leaf_hash(leaf, leaf_len, lh);
	free(leaf);
	char lh_hex[2 * SHA256_LEN + 1];
	hex_encode(lh, SHA256_LEN, lh_hex);
	assert_string_equal(lh_hex, j.leaf);

	char f_rec[700], f_sig[700], f_pub[700], cmd[4096];
	snprintf(f_rec, sizeof(f_rec), "%s/rec.bin", R.dir);
	snprintf(f_sig, sizeof(f_sig), "%s/rec.sig", R.dir);
	snprintf(f_pub, sizeof(f_pub), "%s/author.pub", R.dir);
	write_blob(f_rec, rec, rec_len);
	write_blob(f_sig, sig, sig_len);
	snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -pubkey -noout > '%s'",
		 pki("iom-ru-moscow.crt"), f_pub);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "openssl dgst -sha256 -verify '%s' -signature '%s' '%s' "
		 ">/dev/null 2>&1", f_pub, f_sig, f_rec);
	assert_int_equal(system(cmd), 0);
	/* The same check fails on one flipped bit, and with another
	 * organisation's key. */
	rec[rec_len / 2] ^= 1;
	write_blob(f_rec, rec, rec_len);
	assert_int_not_equal(system(cmd), 0);
	rec[rec_len / 2] ^= 1;
	write_blob(f_rec, rec, rec_len);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -pubkey -noout > '%s' && "
		 "openssl dgst -sha256 -verify '%s' -signature '%s' '%s' >/dev/null 2>&1",
		 pki("se-shelter-1.crt"), f_pub, f_pub, f_sig, f_rec);
	assert_int_not_equal(system(cmd), 0);
	free(rec);
	free(sig);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contact_text),
		cmocka_unit_test(test_contact_json),
		cmocka_unit_test(test_retry_duplicate_conflict),
		cmocka_unit_test(test_note_limits),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_tls_refusals),
		cmocka_unit_test(test_relay_not_trusted),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_version_help),
		cmocka_unit_test(test_stored_record_verifies),
	};
	return cmocka_run_group_tests_name("vigil command", tests, group_setup, group_teardown);
}
