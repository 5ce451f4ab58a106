/*
 * Black-box tests of the vigil command: the real binary, run with fork/exec
 * against a real vigild on loopback with the real PKI.  Every run checks the
 * exact exit status, what went to stdout and to stderr, and what the relay's
 * database holds afterwards.  Receipts, checkpoints and proofs the tool
 * prints are verified again here with proto/'s own code; the log monitor
 * runs against relays whose database the test rewrites.
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
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "casekit.h"
#include "clikit.h"
#include "harness.h"
#include "proto/merkle.h"
#include "proto/note.h"
#include "proto/status.h"

#define OUT_MAX 16384
/* The hint ends every usage error: to the command's help when a command
 * was named. */
#define CLI_SQUEEZE_MAX 65536
#define HINT_HEAD "Try 'vigil "
#define HINT_TAIL "--help' for more information.\n"
#define CASE_ID "se-stockholm-coord/SE-2026-0042"
/* A time in the past: the relay refuses client times later than its own
 * time plus max_clock_skew. */
#define AT "2025-11-28T09:15:00Z"
#define AT_MS 1764321300000LL   /* AT in ms since the epoch (date -d AT +%s) */
#define CASE_RULE "OWNER/PSEUDONYM: the owner's organisation id, '/', and 3-64 " \
	"characters of [A-Za-z0-9-]"
#define ORIGIN "vigil.test/log"  /* the harness's [log] origin */

static struct trelay R; /* one relay for the whole file */

/* ---- running the tool -------------------------------------------------------- */

struct result {
	int status;
	char out[OUT_MAX];
	char err[OUT_MAX];
};

/* The connection options for who against R, the CA ca.crt. */
static void add_conn(struct cli_args *a, const char *who)
{
	cli_add_conn(a, R.port, who, "ca.crt");
}

static void run_in(struct cli_args *a, const char *cwd, struct result *r)
{
	r->status = cli_run(a, cwd, r->out, sizeof(r->out), r->err, sizeof(r->err));
}

static void run(struct cli_args *a, struct result *r)
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

/* The text with the alignment after each "label:" squeezed to one space
 * (the tool aligns a block's values after its longest label). */
static const char *squeezed(const char *out)
{
	static char buf[CLI_SQUEEZE_MAX];
	size_t o = 0;
	for (const char *p = out; *p && o + 1 < sizeof(buf); p++) {
		buf[o++] = *p;
		if (*p == ':' && p[1] == ' ') {
			buf[o++] = ' ';
			while (p[1] == ' ')
				p++;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* A usage error: status 2, "vigil: ...<what>...", the hint, nothing on
 * stdout. */
static void expect_usage(const struct result *r, const char *what)
{
	expect_status(r, 2);
	assert_string_equal(r->out, "");
	const char *line2 = strchr(r->err, '\n');
	if (!starts_with(r->err, "vigil: ") || !line2 || !starts_with(line2 + 1, HINT_HEAD) ||
	    strlen(line2 + 1) < strlen(HINT_TAIL) ||
	    strcmp(line2 + 1 + strlen(line2 + 1) - strlen(HINT_TAIL), HINT_TAIL) != 0)
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
	char checkpoint[4096];       /* the note, decoded from JSON */
	uint8_t proof[MERKLE_MAX_PROOF][SHA256_LEN];
	size_t proof_len;
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

/* Decodes the JSON string at *p (just after its opening quote) into out;
 * *p ends after the closing quote.  Only the escapes the tool writes. */
static void json_unquote(const char **p, char *out, size_t n)
{
	size_t o = 0;
	const char *s = *p;
	while (*s && *s != '"') {
		char ch = *s++;
		if (ch == '\\') {
			ch = *s++;
			if (ch == 'n')
				ch = '\n';
			else if (ch != '"' && ch != '\\')
				fail_msg("unexpected escape \\%c in %s", ch, *p);
		}
		if (o + 1 >= n)
			fail_msg("JSON string too long: %s", *p);
		out[o++] = ch;
	}
	if (*s != '"')
		fail_msg("unterminated JSON string: %s", *p);
	out[o] = '\0';
	*p = s + 1;
}

/* ["hex",...] at *p into proof; *p ends after the ']'. */
static size_t json_hashes(const char **p, uint8_t (*proof)[SHA256_LEN])
{
	const char *s = *p;
	size_t n = 0;
	if (*s++ != '[')
		fail_msg("not an array: %s", *p);
	while (*s != ']') {
		char hex[65];
		int end = -1;
		if (n == MERKLE_MAX_PROOF || sscanf(s, "\"%64[0-9a-f]\"%n", hex, &end) != 1 ||
		    end != 66 || hex_decode(hex, proof[n], SHA256_LEN) != VG_OK)
			fail_msg("bad hash in: %s", *p);
		n++;
		s += end;
		if (*s == ',')
			s++;
	}
	*p = s + 1;
	return n;
}

/* The checkpoint note verifies with PKI_DIR/checkpoint.pub as ORIGIN, and
 * the relay stored it; *cp is what it says. */
static void check_note(const char *note, struct checkpoint *cp)
{
	FILE *f = fopen(pki("checkpoint.pub"), "r");
	assert_non_null(f);
	EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	struct note_verifier v;
	assert_int_equal(note_verifier_from_key(k, ORIGIN, &v), VG_OK);
	EVP_PKEY_free(k);
	size_t text_len;
	assert_int_equal(note_open(note, strlen(note), &v, &text_len), VG_OK);
	assert_int_equal(checkpoint_parse(note, text_len, cp), VG_OK);
	assert_string_equal(cp->origin, ORIGIN);
	assert_null(strchr(note, '\''));
	char sql[8192];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM checkpoints WHERE note = '%s'", note);
	assert_int_equal(db_int(&R, sql), 1);
}

/* The --json line of a receipt: exactly one line, every field well formed. */
static void parse_json(const char *out, struct receipt_out *j)
{
	memset(j, 0, sizeof(*j));
	char dup[8] = "";
	int end = -1;
	sscanf(out, "{\"index\":%llu,\"leaf_hash\":\"%64[0-9a-f]\",\"received_at\":\"%39[^\"]\","
		    "\"record_id\":\"%32[0-9a-f]\",\"duplicate\":%5[a-z],\"checkpoint\":\"%n",
	       &j->index, j->leaf, j->at, j->id, dup, &end);
	if (end < 0)
		fail_msg("not a JSON receipt line: %s", out);
	const char *p = out + end;
	json_unquote(&p, j->checkpoint, sizeof(j->checkpoint));
	static const char proof_key[] = ",\"inclusion_proof\":";
	if (strncmp(p, proof_key, sizeof(proof_key) - 1) != 0)
		fail_msg("no inclusion_proof: %s", out);
	p += sizeof(proof_key) - 1;
	j->proof_len = json_hashes(&p, j->proof);
	/* Then the members added since: summary, checkpoint_size. */
	if (strncmp(p, ",\"summary\":\"case ", 17) != 0 || !strstr(p, ",\"checkpoint_size\":") ||
	    strcmp(p + strlen(p) - 2, "}\n") != 0 || strchr(p, '\n') != p + strlen(p) - 1)
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

/* The receipt's checkpoint is the relay's, covers the entry, and the proof
 * leads from the leaf hash to its root; returns the checkpoint's size. */
static uint64_t check_proof(const struct receipt_out *j)
{
	struct checkpoint cp;
	check_note(j->checkpoint, &cp);
	assert_true(j->index < cp.size);
	uint8_t leaf[SHA256_LEN];
	assert_int_equal(hex_decode(j->leaf, leaf, SHA256_LEN), VG_OK);
	if (merkle_verify_inclusion(j->index, cp.size, leaf, (const merkle_hash *)j->proof,
				    j->proof_len, cp.root) != VG_OK)
		fail_msg("the inclusion proof of entry %llu does not verify", j->index);
	return cp.size;
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
	check_proof(j);
}

/* The text lines of a receipt rebuilt from the database: they must be
 * exactly what the tool printed. */
static unsigned long long check_text_receipt(const char *out, int duplicate)
{
	unsigned long long idx = 0;
	const char *line2 = strchr(out, '\n');
	if (!starts_with(out, "case ") || !line2 || sscanf(line2 + 1, "entry %llu at ", &idx) != 1)
		fail_msg("no 'case ...' and 'entry N at' lines: %s", out);
	char leaf[200], id[200], at[TIME_RFC3339_MAX], want[1024];
	entry_text(idx, "lower(hex(leaf_hash))", leaf, sizeof(leaf));
	entry_text(idx, "lower(hex(record_id))", id, sizeof(id));
	time_format_rfc3339(entry_int(idx, "received_at_ms"), at);
	/* The checkpoint that covers it is at least idx + 1 and at most the
	 * log's size. */
	const char *v = strstr(out, "verified: included in checkpoint of size ");
	unsigned long long size = 0;
	if (!v || sscanf(v, "verified: included in checkpoint of size %llu", &size) != 1)
		fail_msg("no 'verified' line: %s", out);
	assert_true(size > idx && size <= (unsigned long long)entries());
	snprintf(want, sizeof(want), "entry %llu at %s%s; verified: included in checkpoint of size "
		 "%llu\nleaf_hash: %s\nrecord_id: %s\n", idx, at,
		 duplicate ? " (the relay already had this record)" : "", size, leaf, id);
	assert_string_equal(line2 + 1, want);
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
	if (trelay_start(&R) != 0)
		return -1;
	/* Contact attempts are only accepted for open cases. */
	trelay_open_case(&R, CASE_ID);
	trelay_open_case(&R, "se-stockholm-coord/SE-2026-0043");
	trelay_open_case(&R, "se-stockholm-coord/RU-MOW-7");
	return 0;
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
	struct cli_args a;
	struct result r;
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer",
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
	struct cli_args a;
	struct result r;
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "se-shelter-1");
	cli_add(&a, "contact", "--case", "se-stockholm-coord/SE-2026-0043", "--channel", "home-visit", "--outcome",
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
	assert_string_equal(s, "se-stockholm-coord/SE-2026-0043");
}

/* --record-id with --at: a retry is the same record and is answered as a
 * duplicate; the same id with another outcome is a conflict (exit 1). */
static void test_retry_duplicate_conflict(void **state)
{
	(void)state;
	char id[33];
	random_hex_id(id);
	long long before = entries();
	struct cli_args a;
	struct result r;
	struct receipt_out j1, j2;

	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "--json", "contact", "--case", CASE_ID, "--channel", "sms", "--outcome",
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
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "contact", "--case", CASE_ID, "--channel", "sms", "--outcome", "undelivered",
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
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "contact", "--case", CASE_ID, "--channel", "sms", "--outcome", "reached-safe",
	        "--record-id", id, "--at", AT, NULL);
	run(&a, &r);
	expect_status(&r, 1);
	assert_string_equal(r.out, "");
	char line[512];
	snprintf(line, sizeof(line), "vigil: refused by relay: CONFLICT: %s\n", want);
	assert_string_equal(r.err, line);

	cli_add(&a, "--json", NULL);
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
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "contact", "--case", CASE_ID, "--channel", "sms", "--outcome", "moved",
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

/* A contact attempt dated later than the relay's time plus max_clock_skew
 * (5 minutes by default) is refused: exit 1, nothing stored. */
static void test_future_time_refused(void **state)
{
	(void)state;
	long long before = entries();
	struct cli_args a;
	struct result r;
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer",
	        "--at", "2099-01-01T00:00:00Z", NULL);
	run(&a, &r);
	expect_status(&r, 1);
	assert_string_equal(r.out, "");
	const char *head = "vigil: refused by relay: BAD_REQUEST: attempted_at_ms "
			   "2099-01-01T00:00:00.000Z is later than the relay's time ";
	const char *tail = " plus max_clock_skew (300 s)\n";
	if (!starts_with(r.err, head) || strlen(r.err) <= strlen(head) + strlen(tail) ||
	    strcmp(r.err + strlen(r.err) - strlen(tail), tail) != 0)
		fail_msg("unexpected refusal: %s", r.err);
	/* Between the two: the relay's receive time, RFC 3339, near now. */
	char relay[TIME_RFC3339_MAX];
	size_t n = strlen(r.err) - strlen(head) - strlen(tail);
	assert_true(n < sizeof(relay));
	memcpy(relay, r.err + strlen(head), n);
	relay[n] = '\0';
	int64_t relay_ms;
	assert_int_equal(time_parse_rfc3339(relay, &relay_ms), VG_OK);
	int64_t now = (int64_t)time(NULL) * 1000;
	if (relay_ms < now - 120000 || relay_ms > now + 2000)
		fail_msg("relay time %s is not near now", relay);

	/* Four minutes ahead is within the skew: stored. */
	time_t soon = time(NULL) + 240;
	struct tm tm;
	gmtime_r(&soon, &tm);
	char at[64];
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer",
	        "--at", at, NULL);
	run(&a, &r);
	expect_status(&r, 0);
	assert_int_equal(entries(), before + 1);
}

/* Notes: 512 bytes are stored (sealed); 513 bytes and invalid UTF-8 are
 * refused by the tool itself (usage, exit 2) before it connects. */
static void test_note_limits(void **state)
{
	(void)state;
	static char note[514];
	memset(note, 'x', 513);
	note[513] = '\0';
	long long before = entries();
	struct cli_args a;
	struct result r;

	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "contact", "--case", CASE_ID, "--channel", "email", "--outcome", "no-answer",
	        "--note", note, NULL);
	run(&a, &r);
	expect_usage(&r, "contact: note is 513 bytes; the limit is 512");
	assert_int_equal(entries(), before);

	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "contact", "--case", CASE_ID, "--channel", "email", "--outcome", "no-answer",
	        "--note", "caf\xc3\x28", NULL);
	run(&a, &r);
	expect_usage(&r, "note is not valid UTF-8");
	assert_int_equal(entries(), before);

	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "--json", "contact", "--case", CASE_ID, "--channel", "email", "--outcome",
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
	/* The record carries the note sealed, never in the clear; the
	 * owner's encryption key opens it. */
	assert_string_equal(p->contact_attempt->note, "");
	assert_non_null(p->contact_attempt->sealed_note);
	vigil__v1__record__free_unpacked(p, NULL);
	free(rec);
	char why[256];
	char *text = db_sealed_text(&R, j.index, "se-stockholm-coord", why, sizeof(why));
	if (!text)
		fail_msg("the sealed note does not open: %s", why);
	assert_string_equal(text, note + 1);
	free(text);
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
	static char long_case[96], long_msg[320];
	strcpy(long_case, "se-stockholm-coord/");
	memset(long_case + 19, 'A', 65);
	long_case[19 + 65] = '\0';
	/* The tool quotes at most 80 bytes of what it was given. */
	snprintf(long_msg, sizeof(long_msg),
		 "contact: case id \"%.80s\" is invalid: it must be " CASE_RULE, long_case);
	const struct usage_case cases[] = {
		{ { "contact", "--case", CASE_ID, "--channel", "fax", "--outcome", "no-answer" }, 1,
		  "contact: unknown channel \"fax\" (one of: phone, sms, messenger, email, "
		  "home-visit, office-visit, via-family, via-partner)" },
		{ { "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "gone" }, 1,
		  "contact: unknown outcome \"gone\" (one of: reached-safe, reached-concern, "
		  "reached-declines-contact, no-answer, unreachable, undelivered, moved, "
		  "unknown-to-contact, aborted-unsafe)" },
		{ { "contact", "--case", "se-stockholm-coord/SE_2026_0042", "--channel", "phone",
		    "--outcome", "no-answer" }, 1,
		  "contact: case id \"se-stockholm-coord/SE_2026_0042\" is invalid: it must be "
		  CASE_RULE },
		{ { "contact", "--case", "se-stockholm-coord/SE", "--channel", "phone", "--outcome",
		    "no-answer" }, 1,
		  "contact: case id \"se-stockholm-coord/SE\" is invalid: it must be " CASE_RULE },
		{ { "contact", "--case", "SE-2026-0042", "--channel", "phone", "--outcome",
		    "no-answer" }, 1,
		  "contact: case id \"SE-2026-0042\" is invalid: it must be " CASE_RULE },
		{ { "contact", "--case", "SE-Stockholm/SE-2026-0042", "--channel", "phone",
		    "--outcome", "no-answer" }, 1,
		  "contact: case id \"SE-Stockholm/SE-2026-0042\" is invalid: it must be "
		  CASE_RULE },
		{ { "contact", "--case", long_case, "--channel", "phone", "--outcome",
		    "no-answer" }, 1, long_msg },
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
		struct cli_args a;
		struct result r;
		cli_args_init(&a, VIGIL_CLI_PATH);
		if (cases[i].with_conn)
			add_conn(&a, "iom-ru-moscow");
		for (size_t k = 0; cases[i].argv[k]; k++)
			cli_add(&a, cases[i].argv[k], NULL);
		run(&a, &r);
		if (r.status != 2 || !strstr(r.err, cases[i].message))
			fail_msg("case %zu: exit %d, stderr: %s", i, r.status, r.err);
		expect_usage(&r, cases[i].message);
	}

	/* Connection settings that are incomplete or unusable are usage
	 * errors too (exit 2), found before anything is sent. */
	struct cli_args a;
	struct result r;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add(&a, "--relay", cli_keep(&a, "127.0.0.1:%d", R.port), "--key",
	        pki("iom-ru-moscow.key"), "--ca", pki("ca.crt"), "contact", "--case", CASE_ID,
	        "--channel", "phone", "--outcome", "no-answer", NULL);
	run(&a, &r);
	expect_usage(&r, "no --cert FILE given (or [tls] cert in the -c file)");

	/* No checkpoint key: nothing could be verified, so nothing is sent;
	 * the same for every command that talks to the relay, and for the
	 * offline check. */
	static const char *const need_key[][8] = {
		{ "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer" },
		{ "checkpoint" },
		{ "proof", "--index", "0" },
		{ "verify", "--log" },
		{ "verify", "--receipt", "receipt.json" },
	};
	for (size_t i = 0; i < sizeof(need_key) / sizeof(need_key[0]); i++) {
		cli_args_init(&a, VIGIL_CLI_PATH);
		cli_add(&a, "--relay", cli_keep(&a, "127.0.0.1:%d", R.port), "--cert",
		        pki("iom-ru-moscow.crt"), "--key", pki("iom-ru-moscow.key"), "--ca",
		        pki("ca.crt"), NULL);
		for (size_t k = 0; need_key[i][k]; k++)
			cli_add(&a, need_key[i][k], NULL);
		run(&a, &r);
		expect_usage(&r, "no checkpoint key given: use --checkpoint-key KEY_OR_FILE or "
			     "[relay] checkpoint_key in the -c file");
	}
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "--checkpoint-key", "", "checkpoint", NULL);
	run(&a, &r);
	expect_usage(&r, "empty checkpoint key");

	/* Command lines of the log commands. */
	static const struct {
		const char *argv[8];
		const char *message;
	} log_cases[] = {
		{ { "proof" }, "proof: --index is required" },
		{ { "proof", "--index", "x1" }, "proof: --index wants an entry number, not 'x1'" },
		{ { "proof", "--index", "1", "--size", "0" },
		  "proof: --size wants a tree size of at least 1, not '0'" },
		{ { "proof", "--index", "3", "--size", "3" }, "proof: --index 3 is not below --size 3" },
		{ { "proof", "--index", "1", "extra" }, "proof: unexpected argument 'extra'" },
		{ { "checkpoint", "extra" }, "checkpoint: unexpected argument 'extra'" },
		{ { "verify" }, "verify: give one of --receipt FILE, --log or --export DIR" },
		{ { "verify", "--log", "--receipt", "x" }, "verify: give one of --receipt FILE, --log or --export DIR" },
		{ { "verify", "--receipt", "x", "--state", "d" }, "verify: --state goes with --log" },
	};
	for (size_t i = 0; i < sizeof(log_cases) / sizeof(log_cases[0]); i++) {
		cli_args_init(&a, VIGIL_CLI_PATH);
		add_conn(&a, "iom-ru-moscow");
		for (size_t k = 0; log_cases[i].argv[k]; k++)
			cli_add(&a, log_cases[i].argv[k], NULL);
		run(&a, &r);
		expect_usage(&r, log_cases[i].message);
	}

	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "--cert", cli_keep(&a, "%s/nobody.crt", PKI_DIR), "contact", "--case", CASE_ID,
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
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "--key", cli_keep(&a, "%s/se-shelter-1.key", PKI_DIR), "--json", "contact",
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
	struct cli_args a;
	struct result r;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add_conn(&a, port, "iom-ru-moscow", "ca.crt");
	cli_add(&a, "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer",
	        NULL);
	run(&a, &r);
	expect_status(&r, 3);
	assert_string_equal(r.out, "");
	char want[256];
	snprintf(want, sizeof(want), "vigil: cannot connect to 127.0.0.1 port %d: Connection "
		 "refused\n", port);
	assert_string_equal(r.err, want);

	cli_add(&a, "--json", NULL);
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
		struct cli_args a;
		struct result r;
		cli_args_init(&a, VIGIL_CLI_PATH);
		add_conn(&a, cases[i].cert);
		cli_add(&a, "contact", "--case", CASE_ID, "--channel", "phone", "--outcome",
		        "no-answer", NULL);
		run(&a, &r);
		if (r.status != 3 || !starts_with(r.err, "vigil: ") ||
		    !strstr(r.err, cases[i].alert) || strchr(r.err, '\n') != r.err + strlen(r.err) - 1)
			fail_msg("%s: exit %d, stderr: %s", cases[i].cert, r.status, r.err);
		assert_string_equal(r.out, "");
		if (!trelay_log_has(&R, cases[i].relay_log, 3000))
			fail_msg("%s: relay log lacks \"%s\"", cases[i].cert, cases[i].relay_log);
	}

	struct cli_args a;
	struct result r;
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "revoked");
	cli_add(&a, "--json", "contact", "--case", CASE_ID, "--channel", "phone", "--outcome",
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
	struct cli_args a;
	struct result r;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add_conn(&a, R.port, "iom-ru-moscow", "untrusted-ca.crt");
	cli_add(&a, "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer",
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
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add(&a, "--relay", cli_keep(&a, "127.1:%d", R.port), "--cert", pki("iom-ru-moscow.crt"),
	        "--key", pki("iom-ru-moscow.key"), "--ca", pki("ca.crt"), "--checkpoint-key",
	        pki("checkpoint.pub"), "contact", "--case", CASE_ID, "--channel", "phone",
	        "--outcome", "no-answer", NULL);
	run(&a, &r);
	expect_status(&r, 3);
	if (!strstr(r.err, "its certificate does not verify: hostname mismatch"))
		fail_msg("unexpected stderr: %s", r.err);

	/* The same relay by a name its certificate does carry is fine. */
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add(&a, "--relay", cli_keep(&a, "localhost:%d", R.port), "--cert",
	        pki("iom-ru-moscow.crt"), "--key", pki("iom-ru-moscow.key"), "--ca", pki("ca.crt"),
	        "--checkpoint-key", pki("checkpoint.pub"), "contact", "--case", CASE_ID,
	        "--channel", "phone", "--outcome", "no-answer", NULL);
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
		{ "trust.crt", "ca.crt" }, { "relay-log.pub", "checkpoint.pub" },
	};
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", sub, links[i][0]);
		assert_int_equal(symlink(pki(links[i][1]), path), 0);
	}
	snprintf(ini, sizeof(ini),
		 "; written by test_cli\n"
		 "[relay]\naddress = 127.0.0.1\nport = %d\ncheckpoint_key = pki/relay-log.pub\n"
		 "[tls]\ncert = pki/org.crt\nkey = pki/org.key\nca = pki/trust.crt\n", R.port);
	snprintf(path, sizeof(path), "%s/vigil.ini", dir);
	write_file(path, ini);
	/* The working directory has no pki/: only the file's directory does. */
	snprintf(path, sizeof(path), "%s/pki", R.dir);
	assert_int_equal(access(path, F_OK), -1);

	long long before = entries();
	struct cli_args a;
	struct result r;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add(&a, "-c", "cfg/vigil.ini", "--json", "contact", "--case", CASE_ID, "--channel",
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
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add(&a, "--config", "cfg/vigil.ini", "--cert", pki("se-police-noa.crt"), "--key",
	        pki("se-police-noa.key"), "--json", "contact", "--case", CASE_ID, "--channel",
	        "office-visit", "--outcome", "reached-concern", NULL);
	run_in(&a, R.dir, &r);
	expect_status(&r, 0);
	parse_json(r.out, &j);
	entry_text(j.index, "author", s, sizeof(s));
	assert_string_equal(s, "se-police-noa");

	/* --relay overrides address and port: nobody listens there. */
	int port = unused_port();
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add(&a, "-c", "cfg/vigil.ini", "--relay", cli_keep(&a, "127.0.0.1:%d", port), "contact",
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
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add(&a, "-c", "cfg/bad.ini", "contact", "--case", CASE_ID, "--channel", "phone",
	        "--outcome", "no-answer", NULL);
	run_in(&a, R.dir, &r);
	expect_usage(&r, "cfg/bad.ini:3: unknown key 'colour' in [relay]");

	/* An address may carry its port (a relay list, "A, B"), not a bad one. */
	write_file(path, "[relay]\naddress = 127.0.0.1:99999\n");
	run_in(&a, R.dir, &r);
	expect_usage(&r, "cfg/bad.ini:2: bad relay port '99999': expected a number from 1 to 65535");

	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add(&a, "-c", "cfg/missing.ini", "contact", "--case", CASE_ID, "--channel", "phone",
	        "--outcome", "no-answer", NULL);
	run_in(&a, R.dir, &r);
	expect_usage(&r, "cfg/missing.ini: cannot read: No such file or directory");
	assert_int_equal(entries(), before + 2);
}

static void test_version_help(void **state)
{
	(void)state;
	struct cli_args a;
	struct result r;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add(&a, "--version", NULL);
	run(&a, &r);
	expect_status(&r, 0);
	assert_string_equal(r.out, "vigil " VIGIL_VERSION " (libvigil " VIGIL_VERSION ")\n");
	assert_string_equal(r.err, "");

	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add(&a, "--help", NULL);
	run(&a, &r);
	expect_status(&r, 0);
	assert_string_equal(r.err, "");
	if (!starts_with(r.out, "usage: vigil [OPTIONS] COMMAND") ||
	    !strstr(r.out, "\n  contact ") || !strstr(r.out, "\n  checkpoint ") ||
	    !strstr(r.out, "\n  proof ") || !strstr(r.out, "\n  verify ") ||
	    !strstr(r.out, "--relay HOST:PORT") || !strstr(r.out, "--checkpoint-key KEY_OR_FILE") ||
	    !strstr(r.out, "Exit status: 0 success, 1 refused by the relay, 2 usage error"))
		fail_msg("unexpected help: %s", r.out);

	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add(&a, "contact", "--help", NULL);
	run(&a, &r);
	expect_status(&r, 0);
	assert_string_equal(r.err, "");
	if (!starts_with(r.out, "usage: vigil [OPTIONS] contact --case ID") ||
	    !strstr(r.out, "via-partner") || !strstr(r.out, "aborted-unsafe") ||
	    !strstr(r.out, "--save-receipt FILE"))
		fail_msg("unexpected contact help: %s", r.out);

	static const char *const cmds[][2] = {
		{ "checkpoint", "usage: vigil [OPTIONS] checkpoint\n" },
		{ "proof", "usage: vigil [OPTIONS] proof --index N [--size M]\n" },
		{ "verify", "usage: vigil [OPTIONS] verify --receipt FILE\n" },
	};
	for (size_t i = 0; i < 3; i++) {
		cli_args_init(&a, VIGIL_CLI_PATH);
		cli_add(&a, cmds[i][0], "--help", NULL);
		run(&a, &r);
		expect_status(&r, 0);
		assert_string_equal(r.err, "");
		if (!starts_with(r.out, cmds[i][1]))
			fail_msg("unexpected %s help: %s", cmds[i][0], r.out);
	}
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
	struct cli_args a;
	struct result r;
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "--json", "contact", "--case", "se-stockholm-coord/RU-MOW-7", "--channel", "via-partner",
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
	assert_string_equal(p->case_id, "se-stockholm-coord/RU-MOW-7");
	assert_string_equal(p->author, "iom-ru-moscow");
	assert_int_equal(p->client_time_ms, AT_MS);
	assert_int_equal(p->body_case, VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT);
	assert_int_equal(p->contact_attempt->channel, VIGIL__V1__CHANNEL__CHANNEL_VIA_PARTNER);
	assert_int_equal(p->contact_attempt->outcome,
			 VIGIL__V1__OUTCOME__OUTCOME_UNKNOWN_TO_CONTACT);
	assert_int_equal(p->contact_attempt->attempted_at_ms, AT_MS);
	/* The note is sealed: the record holds its commitment, the relay its
	 * envelope, which a reader opens. */
	assert_string_equal(p->contact_attempt->note, "");
	assert_non_null(p->contact_attempt->sealed_note);
	vigil__v1__record__free_unpacked(p, NULL);
	char why[256];
	char *text = db_sealed_text(&R, j.index, "iom-ru-moscow", why, sizeof(why));
	if (!text)
		fail_msg("the sealed note does not open: %s", why);
	assert_string_equal(text, "Caf\xc3\xa9 owner: no knowledge \xe2\x9c\x93");
	free(text);

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

/* ---- receipts, checkpoints, proofs and the log -------------------------------------- */

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot read %s", path);
	char *b = malloc(1 << 20);
	assert_non_null(b);
	size_t n = fread(b, 1, (1 << 20) - 1, f);
	fclose(f);
	b[n] = '\0';
	return b;
}

/* The raw JSON value of "key" in a receipt file (one member per line). */
static void file_value(const char *text, const char *key, char *out, size_t n)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\n  \"%s\": ", key);
	const char *p = strstr(text, pat);
	if (!p)
		fail_msg("no \"%s\" in: %s", key, text);
	p += strlen(pat);
	const char *e = strchr(p, '\n');
	assert_non_null(e);
	if (e[-1] == ',')
		e--;
	if ((size_t)(e - p) >= n)
		fail_msg("\"%s\" too long", key);
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
}

/* A copy of the receipt file text with the raw value of key replaced. */
static char *with_value(const char *text, const char *key, const char *value)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\n  \"%s\": ", key);
	const char *p = strstr(text, pat);
	assert_non_null(p);
	p += strlen(pat);
	const char *e = strchr(p, '\n');
	if (e[-1] == ',')
		e--;
	size_t n = (size_t)(p - text) + strlen(value) + strlen(e) + 1;
	char *out = malloc(n);
	assert_non_null(out);
	snprintf(out, n, "%.*s%s%s", (int)(p - text), text, value, e);
	return out;
}

/* "vigil --checkpoint-key KEY [--json] verify --receipt PATH": no relay
 * options at all, the check is offline. */
static void run_verify_receipt(const char *path, const char *key, int json, struct result *r)
{
	struct cli_args a;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add(&a, "--checkpoint-key", key, NULL);
	if (json)
		cli_add(&a, "--json", NULL);
	cli_add(&a, "verify", "--receipt", path, NULL);
	run(&a, r);
}

/* Writes text to dir/name and expects "verify --receipt" to say INVALID
 * (exit 3) with what in the message. */
static void expect_invalid(const char *dir, const char *name, const char *text, const char *what)
{
	char path[800];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	write_file(path, text);
	struct result r;
	run_verify_receipt(path, pki("checkpoint.pub"), 0, &r);
	expect_status(&r, 3);
	assert_string_equal(r.err, "");
	if (!starts_with(r.out, "receipt INVALID: ") || !strstr(r.out, what) ||
	    strchr(r.out, '\n') != r.out + strlen(r.out) - 1)
		fail_msg("%s: unexpected verdict: %s", name, r.out);
}

/* The verifier key string of PKI_DIR/checkpoint.pub under name. */
static void checkpoint_vkey(const char *name, char *out, size_t n)
{
	FILE *f = fopen(pki("checkpoint.pub"), "r");
	assert_non_null(f);
	EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	struct note_verifier v;
	assert_int_equal(note_verifier_from_key(k, name, &v), VG_OK);
	assert_int_equal(note_verifier_format(&v, out, n), VG_OK);
	EVP_PKEY_free(k);
}

/* A PEM file with the public half of a fresh Ed25519 key. */
static void other_key_file(const char *path)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(k);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PUBKEY(f, k), 1);
	assert_int_equal(fclose(f), 0);
	EVP_PKEY_free(k);
}

/* --save-receipt writes everything needed offline, exactly as stored;
 * "verify --receipt" accepts it with nothing but the key and refuses
 * every change to it. */
static void test_save_and_verify_receipt(void **state)
{
	(void)state;
	char dir[700], path[800];
	snprintf(dir, sizeof(dir), "%s/receipts", R.dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/r1.json", dir);
	char id[33];
	random_hex_id(id);

	long long before = entries();
	struct cli_args a;
	struct result r;
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "--json", "contact", "--case", CASE_ID, "--channel", "phone", "--outcome",
	        "reached-safe", "--record-id", id, "--at", AT, "--save-receipt", path, NULL);
	run(&a, &r);
	expect_status(&r, 0);
	assert_string_equal(r.err, "");
	struct receipt_out j;
	parse_json(r.out, &j);
	check_against_db(&j);
	uint64_t size = check_proof(&j);
	assert_true(j.proof_len > 0);
	assert_int_equal(entries(), before + 1);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* The file holds the stored bytes and what the --json line said. */
	char *text = read_text(path);
	char v[8192], want[8192];
	file_value(text, "format", v, sizeof(v));
	assert_string_equal(v, "\"vigil-receipt/1\"");
	file_value(text, "index", v, sizeof(v));
	snprintf(want, sizeof(want), "%llu", j.index);
	assert_string_equal(v, want);
	file_value(text, "received_at_ms", v, sizeof(v));
	snprintf(want, sizeof(want), "%lld", entry_int(j.index, "received_at_ms"));
	assert_string_equal(v, want);
	file_value(text, "received_at", v, sizeof(v));
	snprintf(want, sizeof(want), "\"%s\"", j.at);
	assert_string_equal(v, want);
	file_value(text, "leaf_hash", v, sizeof(v));
	snprintf(want, sizeof(want), "\"%s\"", j.leaf);
	assert_string_equal(v, want);
	file_value(text, "record_id", v, sizeof(v));
	snprintf(want, sizeof(want), "\"%s\"", id);
	assert_string_equal(v, want);
	file_value(text, "duplicate", v, sizeof(v));
	assert_string_equal(v, "false");
	static const char *const blobs[] = { "record", "signature" };
	for (size_t i = 0; i < 2; i++) {
		uint8_t *b;
		size_t n;
		entry_blob(j.index, blobs[i], &b, &n);
		char enc[4096];
		assert_true(4 * ((n + 2) / 3) < sizeof(enc) - 3);
		base64_encode(b, n, enc);
		snprintf(want, sizeof(want), "\"%s\"", enc);
		file_value(text, blobs[i], v, sizeof(v));
		assert_string_equal(v, want);
		free(b);
	}
	file_value(text, "cert_sha256", v, sizeof(v));
	char cert[200];
	entry_text(j.index, "lower(hex(cert_fp))", cert, sizeof(cert));
	snprintf(want, sizeof(want), "\"%s\"", cert);
	assert_string_equal(v, want);
	file_value(text, "checkpoint", v, sizeof(v));
	const char *q = v + 1;
	char note[4096];
	json_unquote(&q, note, sizeof(note));
	assert_string_equal(note, j.checkpoint);
	file_value(text, "inclusion_proof", v, sizeof(v));
	uint8_t proof[MERKLE_MAX_PROOF][SHA256_LEN];
	q = v;
	assert_int_equal(json_hashes(&q, proof), j.proof_len);
	assert_memory_equal(proof, j.proof, j.proof_len * SHA256_LEN);

	/* Offline: OK with the public key file, or a verifier key. */
	char line[256];
	snprintf(line, sizeof(line), "receipt OK: entry %llu in checkpoint of size %llu\n",
		 j.index, (unsigned long long)size);
	run_verify_receipt(path, pki("checkpoint.pub"), 0, &r);
	expect_status(&r, 0);
	assert_string_equal(r.out, line);
	assert_string_equal(r.err, "");
	char vkey[512];
	checkpoint_vkey(ORIGIN, vkey, sizeof(vkey));
	run_verify_receipt(path, vkey, 0, &r);
	expect_status(&r, 0);
	assert_string_equal(r.out, line);
	run_verify_receipt(path, pki("checkpoint.pub"), 1, &r);
	expect_status(&r, 0);
	struct checkpoint cp;
	check_note(j.checkpoint, &cp);
	char root[2 * SHA256_LEN + 1];
	hex_encode(cp.root, SHA256_LEN, root);
	snprintf(want, sizeof(want), "{\"ok\":true,\"index\":%llu,\"checkpoint_size\":%llu,"
		 "\"origin\":\"" ORIGIN "\",\"root\":\"%s\"}\n", j.index,
		 (unsigned long long)size, root);
	assert_string_equal(r.out, want);

	/* One flipped byte anywhere that matters: exit 3 and which check. */
	uint8_t *rec;
	size_t rec_len;
	entry_blob(j.index, "record", &rec, &rec_len);
	rec[rec_len - 1] ^= 0x01;
	char enc[4096];
	base64_encode(rec, rec_len, enc);
	free(rec);
	snprintf(v, sizeof(v), "\"%s\"", enc);
	char *t = with_value(text, "record", v);
	snprintf(want, sizeof(want), "entry %llu has leaf hash %s; ", j.index, j.leaf);
	expect_invalid(dir, "record.json", t, want);
	free(t);

	file_value(text, "inclusion_proof", v, sizeof(v));
	v[2] = v[2] == '0' ? '1' : '0';
	t = with_value(text, "inclusion_proof", v);
	expect_invalid(dir, "proof.json", t, "the inclusion proof");
	free(t);

	file_value(text, "checkpoint", v, sizeof(v));
	char *root_line = strstr(strstr(v, "\\n") + 2, "\\n") + 2;
	*root_line = *root_line == 'A' ? 'B' : 'A';
	t = with_value(text, "checkpoint", v);
	expect_invalid(dir, "checkpoint.json", t, "the checkpoint signature does not verify");
	free(t);

	file_value(text, "signature", v, sizeof(v));
	v[10] = v[10] == 'A' ? 'B' : 'A';
	t = with_value(text, "signature", v);
	expect_invalid(dir, "signature.json", t, "has leaf hash");
	free(t);

	snprintf(v, sizeof(v), "%llu", (unsigned long long)size);
	t = with_value(text, "index", v);
	expect_invalid(dir, "index.json", t, "is not below the checkpoint's size");
	free(t);

	snprintf(v, sizeof(v), "%lld", entry_int(j.index, "received_at_ms") + 1);
	t = with_value(text, "received_at_ms", v);
	expect_invalid(dir, "ms.json", t, "received_at does not agree with received_at_ms");
	char *t2 = with_value(t, "received_at", "\"2026-11-28T09:15:00Z\"");
	char *t3 = with_value(t2, "received_at", "null");
	free(t);
	free(t2);
	/* (null is not a time: malformed) */
	snprintf(path, sizeof(path), "%s/null.json", dir);
	write_file(path, t3);
	free(t3);
	run_verify_receipt(path, pki("checkpoint.pub"), 0, &r);
	expect_status(&r, 2);
	snprintf(want, sizeof(want), "vigil: receipt %s is malformed: \"received_at\" is not a "
		 "string\n", path);
	assert_string_equal(r.err, want);

	/* Another key: exit 3. */
	char other[800];
	snprintf(other, sizeof(other), "%s/other.pub", dir);
	other_key_file(other);
	snprintf(path, sizeof(path), "%s/r1.json", dir);
	run_verify_receipt(path, other, 0, &r);
	expect_status(&r, 3);
	if (!starts_with(r.out, "receipt INVALID: entry ") ||
	    !strstr(r.out, "the checkpoint signature does not verify"))
		fail_msg("unexpected verdict: %s", r.out);
	run_verify_receipt(path, other, 1, &r);
	expect_status(&r, 3);
	if (!starts_with(r.out, "{\"ok\":false,\"error\":\"INVALID\",\"message\":\"entry "))
		fail_msg("unexpected JSON verdict: %s", r.out);

	/* Malformed files: exit 2. */
	snprintf(path, sizeof(path), "%s/truncated.json", dir);
	char *cut = strdup(text);
	assert_non_null(cut);
	cut[strlen(cut) / 2] = '\0';
	write_file(path, cut);
	free(cut);
	run_verify_receipt(path, pki("checkpoint.pub"), 0, &r);
	expect_status(&r, 2);
	assert_string_equal(r.out, "");
	snprintf(want, sizeof(want), "vigil: receipt %s is not valid JSON: ", path);
	if (!starts_with(r.err, want))
		fail_msg("unexpected stderr: %s", r.err);
	t = with_value(text, "signature", "\"not base64!\"");
	snprintf(path, sizeof(path), "%s/b64.json", dir);
	write_file(path, t);
	free(t);
	run_verify_receipt(path, pki("checkpoint.pub"), 1, &r);
	expect_status(&r, 2);
	snprintf(want, sizeof(want), "{\"error\":\"USAGE\",\"message\":\"receipt %s is malformed: "
		 "\\\"signature\\\" is not non-empty base64\"}\n", path);
	assert_string_equal(r.out, want);
	snprintf(path, sizeof(path), "%s/missing.json", dir);
	run_verify_receipt(path, pki("checkpoint.pub"), 0, &r);
	expect_status(&r, 2);
	snprintf(want, sizeof(want), "vigil: cannot read receipt %s: No such file or directory\n",
		 path);
	assert_string_equal(r.err, want);
	free(text);

	/* A duplicate (same id, time and fields: the same bytes, signed
	 * anew): the file holds the stored signature, and verifies. */
	snprintf(path, sizeof(path), "%s/r2.json", dir);
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "reached-safe",
	        "--record-id", id, "--at", AT, "--save-receipt", path, NULL);
	run(&a, &r);
	expect_status(&r, 0);
	assert_int_equal(check_text_receipt(r.out, 1), j.index);
	text = read_text(path);
	file_value(text, "duplicate", v, sizeof(v));
	assert_string_equal(v, "true");
	uint8_t *sig;
	size_t sig_len;
	entry_blob(j.index, "signature", &sig, &sig_len);
	base64_encode(sig, sig_len, enc);
	free(sig);
	snprintf(want, sizeof(want), "\"%s\"", enc);
	file_value(text, "signature", v, sizeof(v));
	assert_string_equal(v, want);
	free(text);
	run_verify_receipt(path, pki("checkpoint.pub"), 0, &r);
	expect_status(&r, 0);
	assert_int_equal(entries(), before + 1);

	/* A receipt file that cannot be created: exit 2 before anything is
	 * sent. */
	snprintf(path, sizeof(path), "%s/no-such-dir/r.json", dir);
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "moved",
	        "--save-receipt", path, NULL);
	run(&a, &r);
	expect_status(&r, 2);
	snprintf(want, sizeof(want), "vigil: cannot create the receipt file %s: No such file or "
		 "directory\n", path);
	assert_string_equal(r.err, want);
	assert_int_equal(entries(), before + 1);
}

/* "vigil checkpoint": the relay's latest checkpoint, verified, as stored. */
static void test_checkpoint_command(void **state)
{
	(void)state;
	struct cli_args a;
	struct result r;
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "se-shelter-1");
	cli_add(&a, "checkpoint", NULL);
	run(&a, &r);
	expect_status(&r, 0);
	assert_string_equal(r.err, "");
	unsigned long long size;
	char root[65], at[64];
	long long age;
	int end = -1;
	sscanf(r.out, "origin: " ORIGIN "\nsize: %llu\nroot: %64[0-9a-f]\nsigned at: %63s\nage: "
	       "%lld s\n%n", &size, root, at, &age, &end);
	if (end < 0 || r.out[end] != '\0')
		fail_msg("unexpected output: %s", r.out);
	assert_int_equal(size, (unsigned long long)entries());
	int64_t ms;
	assert_int_equal(time_parse_rfc3339(at, &ms), VG_OK);
	char sql[512];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM checkpoints WHERE size = %llu AND "
		 "lower(hex(root)) = '%s' AND signed_at_ms = %lld", size, root, (long long)ms);
	assert_int_equal(db_int(&R, sql), 1);
	assert_true(age >= 0 && age < 3600);

	cli_add(&a, "--json", NULL);
	run(&a, &r);
	expect_status(&r, 0);
	char root2[65], at2[64];
	long long ms2 = 0, age2 = -1;
	unsigned long long size2 = 0;
	end = -1;
	sscanf(r.out, "{\"origin\":\"" ORIGIN "\",\"size\":%llu,\"root\":\"%64[0-9a-f]\","
		      "\"signed_at\":\"%63[^\"]\",\"signed_at_ms\":%lld,\"age_seconds\":%lld,"
		      "\"note\":\"%n", &size2, root2, at2, &ms2, &age2, &end);
	if (end < 0)
		fail_msg("unexpected JSON: %s", r.out);
	const char *p = r.out + end;
	char note[4096];
	json_unquote(&p, note, sizeof(note));
	assert_string_equal(p, "}\n");
	struct checkpoint cp;
	check_note(note, &cp);
	assert_int_equal(cp.size, size2);
	char hex[65];
	hex_encode(cp.root, SHA256_LEN, hex);
	assert_string_equal(hex, root2);
	assert_int_equal(size2, size);
	char back[TIME_RFC3339_MAX];
	time_format_rfc3339(ms2, back);
	assert_string_equal(back, at2);
	assert_true(age2 >= 0 && age2 < 3600);

	/* The same with a verifier key; another key or name is exit 3. */
	char vkey[512];
	checkpoint_vkey(ORIGIN, vkey, sizeof(vkey));
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "se-shelter-1");
	cli_add(&a, "--checkpoint-key", vkey, "checkpoint", NULL);
	run(&a, &r);
	expect_status(&r, 0);
	assert_true(starts_with(squeezed(r.out), "origin: " ORIGIN "\n"));

	checkpoint_vkey("other.test/log", vkey, sizeof(vkey));
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "se-shelter-1");
	cli_add(&a, "--checkpoint-key", vkey, "checkpoint", NULL);
	run(&a, &r);
	expect_status(&r, 3);
	assert_string_equal(r.out, "");
	if (!starts_with(r.err, "vigil: the relay's latest checkpoint: the checkpoint signature "
			 "does not verify: the note carries no valid signature by the checkpoint "
			 "key (other.test/log+"))
		fail_msg("unexpected stderr: %s", r.err);

	char other[800];
	snprintf(other, sizeof(other), "%s/other-checkpoint.pub", R.dir);
	other_key_file(other);
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "se-shelter-1");
	cli_add(&a, "--checkpoint-key", other, "--json", "checkpoint", NULL);
	run(&a, &r);
	expect_status(&r, 3);
	if (!starts_with(r.out, "{\"error\":\"VERIFY\",\"message\":\"the relay's latest "
			 "checkpoint: the checkpoint signature does not verify"))
		fail_msg("unexpected stdout: %s", r.out);

	/* Keys that are not keys: usage (exit 2). */
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "se-shelter-1");
	cli_add(&a, "--checkpoint-key", "vigil.test/log+0123abcd+AQID", "checkpoint", NULL);
	run(&a, &r);
	expect_status(&r, 2);
	if (!starts_with(r.err, "vigil: checkpoint key \"vigil.test/log+0123abcd+AQID\" is not "
			 "a valid verifier key"))
		fail_msg("unexpected stderr: %s", r.err);
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "se-shelter-1");
	cli_add(&a, "--checkpoint-key", pki("iom-ru-moscow.pub"), "checkpoint", NULL);
	run(&a, &r);
	expect_status(&r, 2);
	char want[800];
	snprintf(want, sizeof(want), "vigil: checkpoint key %s is not an Ed25519 key\n",
		 pki("iom-ru-moscow.pub"));
	assert_string_equal(r.err, want);
}

/* Leaf hashes 0..n-1 of R's log, from its database. */
static uint8_t *db_leaves(struct trelay *t, uint64_t n)
{
	uint8_t *all = malloc(n * SHA256_LEN + 1);
	assert_non_null(all);
	for (uint64_t i = 0; i < n; i++) {
		char sql[128];
		uint8_t *b;
		size_t bl;
		snprintf(sql, sizeof(sql), "SELECT leaf_hash FROM entries WHERE idx = %llu",
			 (unsigned long long)i);
		assert_int_equal(db_blob(t, sql, &b, &bl), 0);
		assert_int_equal(bl, SHA256_LEN);
		memcpy(all + i * SHA256_LEN, b, SHA256_LEN);
		free(b);
	}
	return all;
}

static void tree_root(const uint8_t *leaves, uint64_t n, uint8_t root[SHA256_LEN])
{
	struct merkle_frontier f;
	merkle_frontier_init(&f);
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(merkle_frontier_append(&f, leaves + i * SHA256_LEN, NULL, NULL),
				 VG_OK);
	merkle_frontier_root(&f, root);
}

/* Reads "  K hex" lines after a "<name> N node(s)" line into h. */
static size_t parse_nodes(const char *out, const char *name, uint8_t (*h)[SHA256_LEN])
{
	const char *p = strstr(out, name);
	if (!p)
		fail_msg("no %s in: %s", name, out);
	size_t n = 0;
	if (sscanf(p + strlen(name), ": %zu node", &n) != 1)
		fail_msg("bad %s line: %s", name, p);
	p = strchr(p, '\n') + 1;
	for (size_t i = 0; i < n; i++) {
		size_t k;
		char hex[65];
		int end = -1;
		if (sscanf(p, "  %zu %64[0-9a-f]\n%n", &k, hex, &end) != 2 || end < 0 || k != i ||
		    hex_decode(hex, h[i], SHA256_LEN) != VG_OK)
			fail_msg("bad node %zu in: %s", i, out);
		p += end;
	}
	return n;
}

/* "vigil proof": inclusion at the checkpoint's size and, via consistency,
 * at a smaller one; each node list checked here with proto/merkle. */
static void test_proof_command(void **state)
{
	(void)state;
	uint64_t n = (uint64_t)entries();
	assert_true(n >= 8);
	uint8_t *leaves = db_leaves(&R, n);
	uint8_t root_n[SHA256_LEN], root_m[SHA256_LEN];
	tree_root(leaves, n, root_n);
	char hex_n[65], hex_m[65], leaf_hex[65];
	hex_encode(root_n, SHA256_LEN, hex_n);
	hex_encode(leaves + SHA256_LEN, SHA256_LEN, leaf_hex);

	struct cli_args a;
	struct result r;
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "proof", "--index", "1", NULL);
	run(&a, &r);
	expect_status(&r, 0);
	assert_string_equal(r.err, "");
	char want[1024];
	snprintf(want, sizeof(want), "proof OK: entry 1 in tree of size %llu (checkpoint of size "
		 "%llu)\nleaf_hash: %s\nroot: %s\ninclusion_proof: ", (unsigned long long)n,
		 (unsigned long long)n, leaf_hex, hex_n);
	if (!starts_with(squeezed(r.out), want))
		fail_msg("unexpected output: %s\nwanted: %s", r.out, want);
	assert_null(strstr(r.out, "consistency_proof"));
	uint8_t nodes[MERKLE_MAX_PROOF][SHA256_LEN];
	size_t k = parse_nodes(r.out, "inclusion_proof", nodes);
	assert_int_equal(merkle_verify_inclusion(1, n, leaves + SHA256_LEN,
						 (const merkle_hash *)nodes, k, root_n), VG_OK);

	/* At size m < n: the root of the first m leaves, then consistency. */
	uint64_t m = 5;
	tree_root(leaves, m, root_m);
	hex_encode(root_m, SHA256_LEN, hex_m);
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "proof", "--index", "1", "--size", "5", NULL);
	run(&a, &r);
	expect_status(&r, 0);
	snprintf(want, sizeof(want), "proof OK: entry 1 in tree of size 5 (checkpoint of size "
		 "%llu)\nleaf_hash: %s\nroot: %s\ninclusion_proof: ", (unsigned long long)n, leaf_hex,
		 hex_m);
	if (!starts_with(squeezed(r.out), want))
		fail_msg("unexpected output: %s\nwanted: %s", r.out, want);
	k = parse_nodes(r.out, "inclusion_proof", nodes);
	assert_int_equal(merkle_verify_inclusion(1, m, leaves + SHA256_LEN,
						 (const merkle_hash *)nodes, k, root_m), VG_OK);
	k = parse_nodes(r.out, "consistency_proof", nodes);
	assert_true(strstr(r.out, "(size 5 to ") != NULL);
	assert_int_equal(merkle_verify_consistency(m, n, root_m, root_n,
						   (const merkle_hash *)nodes, k), VG_OK);

	/* --json */
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "--json", "proof", "--index", "0", NULL);
	run(&a, &r);
	expect_status(&r, 0);
	hex_encode(leaves, SHA256_LEN, leaf_hex);
	snprintf(want, sizeof(want), "{\"ok\":true,\"index\":0,\"tree_size\":%llu,"
		 "\"checkpoint_size\":%llu,\"leaf_hash\":\"%s\",\"root\":\"%s\","
		 "\"inclusion_proof\":", (unsigned long long)n, (unsigned long long)n, leaf_hex,
		 hex_n);
	if (!starts_with(r.out, want))
		fail_msg("unexpected JSON: %s", r.out);
	const char *p = r.out + strlen(want);
	k = json_hashes(&p, nodes);
	assert_int_equal(merkle_verify_inclusion(0, n, leaves, (const merkle_hash *)nodes, k,
						 root_n), VG_OK);
	assert_string_equal(p, ",\"consistency_proof\":[]}\n");

	/* An entry the log does not have: refused by the relay (exit 1). */
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "proof", "--index", cli_keep(&a, "%llu", (unsigned long long)n + 100), NULL);
	run(&a, &r);
	expect_status(&r, 1);
	if (!starts_with(r.err, "vigil: refused by relay: BAD_REQUEST: index "))
		fail_msg("unexpected stderr: %s", r.err);
	/* A size beyond the latest checkpoint: usage (exit 2). */
	cli_args_init(&a, VIGIL_CLI_PATH);
	add_conn(&a, "iom-ru-moscow");
	cli_add(&a, "proof", "--index", "1", "--size",
	        cli_keep(&a, "%llu", (unsigned long long)n + 100), NULL);
	run(&a, &r);
	expect_status(&r, 2);
	snprintf(want, sizeof(want), "vigil: tree size %llu is beyond the checkpoint's size %llu\n",
		 (unsigned long long)n + 100, (unsigned long long)n);
	assert_string_equal(r.err, want);
	free(leaves);
}

/* The monitor's own relays: L serves the log, F is a fresh relay whose
 * database later replaces L's (a relay that "forgot" its history). */
static struct trelay L, F;

static int log_teardown(void **state)
{
	(void)state;
	trelay_cleanup(&L);
	trelay_cleanup(&F);
	return 0;
}

static void submit_n(struct trelay *t, int n)
{
	for (int i = 0; i < n; i++) {
		struct cli_args a;
		struct result r;
		cli_args_init(&a, VIGIL_CLI_PATH);
		cli_add_conn(&a, t->port, "iom-ru-moscow", "ca.crt");
		cli_add(&a, "contact", "--case", CASE_ID, "--channel", "sms", "--outcome",
		        "no-answer", NULL);
		run(&a, &r);
		expect_status(&r, 0);
	}
}

/* "vigil verify --log --state DIR" against relay t. */
static void run_monitor(struct trelay *t, const char *state, int json, struct result *r)
{
	struct cli_args a;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add_conn(&a, t->port, "se-police-noa", "ca.crt");
	if (json)
		cli_add(&a, "--json", NULL);
	cli_add(&a, "verify", "--log", NULL);
	if (state)
		cli_add(&a, "--state", state, NULL);
	run(&a, r);
}

/* "log OK: N entries, root HEX\n" with L's latest checkpoint, plus the
 * kept size line when kept > 0. */
static void expect_log_ok(const struct result *r, struct trelay *t, unsigned long long kept)
{
	expect_status(r, 0);
	assert_string_equal(r->err, "");
	char root[65], want[512];
	long long n = db_int(t, "SELECT count(*) FROM entries");
	snprintf(want, sizeof(want), "SELECT lower(hex(root)) FROM checkpoints WHERE size = %lld "
		 "ORDER BY id DESC LIMIT 1", n);
	assert_int_equal(db_text(t, want, root, sizeof(root)), 0);
	int w = snprintf(want, sizeof(want), "log OK: %lld entries, root %s\n", n, root);
	if (kept)
		snprintf(want + w, sizeof(want) - (size_t)w,
			 "consistent with the kept checkpoint of size %llu\n", kept);
	assert_string_equal(r->out, want);
}

static void expect_inconsistent(const struct result *r, const char *what)
{
	expect_status(r, 3);
	assert_string_equal(r->err, "");
	if (!starts_with(r->out, "log INCONSISTENT: ") || !strstr(r->out, what) ||
	    strchr(r->out, '\n') != r->out + strlen(r->out) - 1)
		fail_msg("unexpected verdict: %s\nwanted: %s", r->out, what);
}

static void restart(struct trelay *t)
{
	assert_int_equal(trelay_stop(t), 0);
	assert_int_equal(trelay_start(t), 0);
}

/* The monitor: OK and kept; OK again when the log grew (consistency) or
 * did not; a relay that changed a leaf, lost entries or swapped its
 * history is INCONSISTENT, and the kept checkpoint stays as it was. */
static void test_verify_log(void **state)
{
	(void)state;
	trelay_setup(&L, NULL, NULL);
	assert_int_equal(trelay_start(&L), 0);
	trelay_open_case(&L, CASE_ID);
	submit_n(&L, 4);
	char dir[700], kept_path[800];
	snprintf(dir, sizeof(dir), "%s/monitor", L.dir);
	snprintf(kept_path, sizeof(kept_path), "%s/checkpoint", dir);
	struct result r;

	/* First run: no state yet; DIR is created and the checkpoint kept. */
	run_monitor(&L, dir, 0, &r);
	expect_log_ok(&r, &L, 0);
	char *kept = read_text(kept_path);
	char sql[8192];
	assert_null(strchr(kept, '\''));
	snprintf(sql, sizeof(sql), "SELECT size FROM checkpoints WHERE note = '%s'", kept);
	assert_int_equal(db_int(&L, sql), PKI_MEMBER_KEYS + 5);
	free(kept);

	/* More entries: consistent with the kept one, which moves on. */
	submit_n(&L, 3);
	run_monitor(&L, dir, 0, &r);
	expect_log_ok(&r, &L, PKI_MEMBER_KEYS + 5);
	run_monitor(&L, dir, 1, &r);
	expect_status(&r, 0);
	char root[65], want[1024];
	int eight = PKI_MEMBER_KEYS + 8;
	snprintf(sql, sizeof(sql), "SELECT lower(hex(root)) FROM checkpoints WHERE size = %d "
		 "ORDER BY id DESC LIMIT 1", eight);
	assert_int_equal(db_text(&L, sql, root, sizeof(root)), 0);
	snprintf(want, sizeof(want), "{\"ok\":true,\"entries\":%d,\"root\":\"%s\",\"origin\":\""
		 ORIGIN "\",\"kept_size\":%d}\n", eight, root, eight);
	assert_string_equal(r.out, want);
	kept = read_text(kept_path);
	snprintf(sql, sizeof(sql), "SELECT size FROM checkpoints WHERE note = '%s'", kept);
	assert_int_equal(db_int(&L, sql), eight);

	/* A changed inner node of the tree: proofs through it fail (exit 3),
	 * while the leaves, and so the log, are still right. */
	assert_int_equal(trelay_stop(&L), 0);
	assert_int_equal(db_change(&L, "UPDATE tree SET hash = zeroblob(32) WHERE level = 1 AND "
				 "idx = 0"), 0);
	assert_int_equal(trelay_start(&L), 0);
	struct cli_args a;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add_conn(&a, L.port, "iom-ru-moscow", "ca.crt");
	cli_add(&a, "proof", "--index", "2", NULL);
	run(&a, &r);
	expect_status(&r, 3);
	assert_string_equal(r.out, "");
	/* 14 leaves: leaf 3, node (1, 0) (changed), node (2, 1) and the
	 * right part [8, 14). */
	snprintf(want, sizeof(want), "vigil: the inclusion proof (4 nodes) does not lead from the "
		 "leaf hash of entry 2 to the root of the checkpoint of size %d\n", eight);
	assert_string_equal(r.err, want);
	run_monitor(&L, dir, 0, &r);
	expect_log_ok(&r, &L, (unsigned long long)eight);
	free(kept);
	kept = read_text(kept_path);

	/* A changed leaf hash: the leaves no longer make the signed root. */
	assert_int_equal(trelay_stop(&L), 0);
	assert_int_equal(db_change(&L, "UPDATE entries SET leaf_hash = zeroblob(32) WHERE idx = 1"),
			 0);
	assert_int_equal(trelay_start(&L), 0);
	run_monitor(&L, dir, 0, &r);
	snprintf(want, sizeof(want), "the %d leaf hashes the relay serves make the root ", eight);
	expect_inconsistent(&r, want);
	char *now = read_text(kept_path);
	assert_string_equal(now, kept);
	free(now);

	/* A relay that forgot its history: another log in its place, first
	 * shorter, then longer than the kept checkpoint. */
	trelay_setup(&F, NULL, NULL);
	assert_int_equal(trelay_start(&F), 0);
	trelay_open_case(&F, CASE_ID);
	submit_n(&F, 1);
	assert_int_equal(trelay_stop(&F), 0);
	assert_int_equal(store_snapshot(&F, "small"), 0);
	assert_int_equal(trelay_start(&F), 0);
	submit_n(&F, 10);
	assert_int_equal(trelay_stop(&F), 0);
	assert_int_equal(store_snapshot(&F, "big"), 0);

	assert_int_equal(trelay_stop(&L), 0);
	assert_int_equal(store_restore_from(&L, &F, "small"), 0);
	assert_int_equal(trelay_start(&L), 0);
	run_monitor(&L, dir, 0, &r);
	snprintf(want, sizeof(want), "the relay's checkpoint has size %d, smaller than the kept "
		 "checkpoint's size %d: the log was truncated or rewritten", PKI_MEMBER_KEYS + 2,
		 eight);
	expect_inconsistent(&r, want);
	now = read_text(kept_path);
	assert_string_equal(now, kept);
	free(now);

	assert_int_equal(trelay_stop(&L), 0);
	assert_int_equal(store_restore_from(&L, &F, "big"), 0);
	assert_int_equal(trelay_start(&L), 0);
	run_monitor(&L, dir, 1, &r);
	expect_status(&r, 3);
	snprintf(want, sizeof(want), "{\"ok\":false,\"error\":\"INCONSISTENT\",\"message\":\"the "
		 "relay's checkpoint of size %d is not consistent with the kept checkpoint of "
		 "size %d: ", PKI_MEMBER_KEYS + 12, eight);
	if (!starts_with(r.out, want))
		fail_msg("unexpected verdict: %s", r.out);
	now = read_text(kept_path);
	assert_string_equal(now, kept);
	free(now);

	/* Without the kept checkpoint the swapped log is self-consistent:
	 * only the state shows what happened. */
	run_monitor(&L, NULL, 0, &r);
	expect_log_ok(&r, &L, 0);

	/* A kept checkpoint that does not verify (here: changed on disk) is
	 * refused and left alone. */
	char *bad = strdup(kept);
	assert_non_null(bad);
	bad[0] = 'V';
	write_file(kept_path, bad);
	run_monitor(&L, dir, 0, &r);
	expect_status(&r, 3);
	assert_string_equal(r.out, "");
	snprintf(want, sizeof(want), "vigil: the kept checkpoint %s does not verify with the "
		 "checkpoint key: ", kept_path);
	if (!starts_with(r.err, want))
		fail_msg("unexpected stderr: %s", r.err);
	now = read_text(kept_path);
	assert_string_equal(now, bad);
	free(now);
	free(bad);
	free(kept);
	restart(&L);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contact_text),
		cmocka_unit_test(test_contact_json),
		cmocka_unit_test(test_retry_duplicate_conflict),
		cmocka_unit_test(test_future_time_refused),
		cmocka_unit_test(test_note_limits),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_tls_refusals),
		cmocka_unit_test(test_relay_not_trusted),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_version_help),
		cmocka_unit_test(test_stored_record_verifies),
		cmocka_unit_test(test_save_and_verify_receipt),
		cmocka_unit_test(test_checkpoint_command),
		cmocka_unit_test(test_proof_command),
		cmocka_unit_test_teardown(test_verify_log, log_teardown),
	};
	return cmocka_run_group_tests_name("vigil command", tests, group_setup, group_teardown);
}
