/*
 * Sealed text against a real relay with the real PKI and SQLite (issue 14):
 * free text is written sealed by libvigil and the vigil tool, opened by the
 * case's readers and by nobody else, never found in the clear on disk,
 * checkable with the openssl command alone; the relay refuses text in the
 * clear and every envelope or SealedText that does not fit its record and
 * its case, each with its exact message; vigil_open_sealed refuses an
 * envelope of another record and a P that is not the committed one.
 *
 * The case SEAL-1 is opened by the Stockholm coordinator with iom-ru-moscow,
 * se-police-noa and se-shelter-1 as parties: its readers are the
 * coordinator (owner and responsible), IOM and the shelter; police read no
 * narrative.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <openssl/pem.h>

#include "casekit.h"
#include "clikit.h"
#include "harness.h"
#include "proto/sealed.h"
#include "proto/status.h"
#include "vigil.h"

#define CASE "se-stockholm-coord/SEAL-1"
#define CASE2 "se-stockholm-coord/SEAL-2"
#define CASE4 "se-stockholm-coord/SEAL-4"
#define CASE5 "se-stockholm-coord/SEAL-HANDOVER"
#define PLAIN_REFUSED ": the relay takes no free text in the clear"

static struct trelay R; /* one relay for the whole file */

/* Texts written in this file: none of them may be found on disk. */
static const char *const secrets[] = {
	"she was seen at the bus station on Tuesday",
	"threats from the recruiter reported by her sister",
	"our office in that region closed last month",
	"the landlord has her passport",
	"she moved to her aunt near the river market",
	"the recruiter called her mother twice this week",
	"she asked for the shelter's number again",
	"police officer should not visit the family house",
};

/* ---- connecting ---------------------------------------------------------------- */

struct files {
	char port[16], cert[700], key[700], ca[700], ckey[700], ec[700], ek[700];
};

/* Options to connect as who; with the encryption certificate and key of
 * enc (NULL: none). */
static struct vigil_options opts(struct files *f, const char *who, const char *enc)
{
	snprintf(f->port, sizeof(f->port), "%d", R.port);
	snprintf(f->cert, sizeof(f->cert), "%s", pki(who));
	strcat(f->cert, ".crt");
	snprintf(f->key, sizeof(f->key), "%s", pki(who));
	strcat(f->key, ".key");
	snprintf(f->ca, sizeof(f->ca), "%s", pki("ca.crt"));
	snprintf(f->ckey, sizeof(f->ckey), "%s", pki("checkpoint.pub"));
	struct vigil_options o = { .host = "127.0.0.1", .port = f->port, .cert_file = f->cert,
		.key_file = f->key, .ca_file = f->ca, .checkpoint_key = f->ckey };
	if (enc) {
		snprintf(f->ec, sizeof(f->ec), "%s.enc.crt", pki(enc));
		snprintf(f->ek, sizeof(f->ek), "%s.enc.key", pki(enc));
		o.enc_cert_file = f->ec;
		o.enc_key_file = f->ek;
	}
	return o;
}

static vigil_client *connect_as(const char *who, const char *enc)
{
	struct files f;
	struct vigil_options o = opts(&f, who, enc);
	struct vigil_error err;
	vigil_client *c = NULL;
	if (vigil_connect(&o, &c, &err) != VIGIL_OK)
		fail_msg("vigil_connect as %s: %s", who, err.message);
	return c;
}

/* The member key of the JSON object obj is true. */
static void expect_true(const char *obj, const char *key)
{
	const char *v = jmust(obj, key);
	if (strncmp(v, "true", 4) != 0 || (v[4] != ',' && v[4] != '}'))
		fail_msg("%s is not true in %s", key, obj);
}

static void expect_status(int rc, const struct vigil_error *err, int status, const char *message)
{
	if (rc != status || err->status != status || strcmp(err->message, message) != 0)
		fail_msg("got %d \"%s\", expected %d \"%s\"", rc, err->message, status, message);
}

/* ---- the database ------------------------------------------------------------------ */

static long long entries(void)
{
	return db_int(&R, "SELECT count(*) FROM entries");
}

static long long sealed_len(unsigned long long idx)
{
	char sql[96];
	snprintf(sql, sizeof(sql), "SELECT length(cms) FROM sealed WHERE idx = %llu", idx);
	return db_int(&R, sql);
}

/* ---- the tool ------------------------------------------------------------------------ */

static struct cli_result res;

/* vigil as who (with enc's encryption key when enc is not NULL), then the
 * arguments up to a NULL. */
static struct cli_result *vigil_as(const char *who, const char *enc, ...)
{
	static struct cli_args a;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add_conn(&a, R.port, who, "ca.crt");
	if (enc) {
		cli_add(&a, "--enc-cert", cli_keep(&a, "%s.enc.crt", pki(enc)), "--enc-key",
			cli_keep(&a, "%s.enc.key", pki(enc)), NULL);
	}
	va_list ap;
	va_start(ap, enc);
	cli_addv(&a, ap);
	va_end(ap);
	res.status = cli_run(&a, NULL, res.out, sizeof(res.out), res.err, sizeof(res.err));
	return &res;
}

/* The line of `vigil log` for entry idx. */
static const char *log_line(const char *out, unsigned long long idx, char *line, size_t n)
{
	char start[32];
	snprintf(start, sizeof(start), "%llu ", idx);
	for (const char *p = out; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (strncmp(p, start, strlen(start)) == 0) {
			snprintf(line, n, "%.*s", (int)len, p);
			return line;
		}
		p += len + (e ? 1 : 0);
	}
	fail_msg("no log line for entry %llu in:\n%s", idx, out);
	return NULL;
}

/* ---- setup ------------------------------------------------------------------------------ */

static unsigned long long note_idx; /* the round trip's note */

static int group_setup(void **state)
{
	(void)state;
	trelay_setup(&R, NULL, NULL);
	if (trelay_start(&R) != 0)
		return -1;
	vigil_client *c = connect_as("se-stockholm-coord", NULL);
	static const char *const parties[] = { "iom-ru-moscow", "se-police-noa", "se-shelter-1" };
	struct vigil_case_open o = { .case_id = CASE, .risk = "high", .return_country = "RU",
		.return_date = "2026-10-01", .parties = parties, .n_parties = 3,
		.consent_scope = "share-with-parties" };
	struct vigil_error err;
	int rc = vigil_submit_case_open(c, &o, NULL, &err);
	vigil_close(&c);
	if (rc != VIGIL_OK) {
		fprintf(stderr, "case open: %s\n", err.message);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	int rc = trelay_stop(&R);
	trelay_cleanup(&R);
	return rc == 0 ? 0 : -1;
}

/* ---- the round trip ------------------------------------------------------------------- */

/* The entry with record id id in a case log. */
static const struct vigil_case_log_entry *find_entry(const struct vigil_case_log *log,
						     const uint8_t id[VIGIL_RECORD_ID_LEN])
{
	static struct vigil_record_info ri;
	struct vigil_error err;
	for (size_t i = 0; i < log->n; i++) {
		const struct vigil_entry *e = &log->entries[i].entry;
		if (vigil_record_decode(e->record, e->record_len, &ri, &err) == VIGIL_OK &&
		    memcmp(ri.record_id, id, VIGIL_RECORD_ID_LEN) == 0)
			return &log->entries[i];
	}
	fail_msg("the record is not in the case log");
	return NULL;
}

/* IOM writes a note; the coordinator and the shelter open it with their
 * keys; police, and IOM without its key, get VIGIL_E_SEALED; the tool
 * shows the text or [sealed]. */
static void test_round_trip(void **state)
{
	(void)state;
	vigil_client *iom = connect_as("iom-ru-moscow", NULL);
	struct vigil_contact ct = { .case_id = CASE, .channel = "home-visit", .outcome = "moved",
		.note = secrets[0] };
	struct vigil_receipt r;
	struct vigil_error err;
	if (vigil_submit_contact(iom, &ct, &r, &err) != VIGIL_OK)
		fail_msg("contact: %s", err.message);
	assert_null(ct.sealed); /* vigil_submit_contact sent and freed it */
	note_idx = r.index;
	assert_true(sealed_len(note_idx) > 0);

	/* The coordinator reads the log and opens the note. */
	vigil_client *coord = connect_as("se-stockholm-coord", "se-stockholm-coord");
	struct vigil_case_log *log = NULL;
	assert_int_equal(vigil_case_log(coord, CASE, &log, &err), VIGIL_OK);
	const struct vigil_case_log_entry *le = find_entry(log, ct.record_id);
	static struct vigil_record_info ri;
	assert_int_equal(vigil_record_decode(le->entry.record, le->entry.record_len, &ri, &err),
			 VIGIL_OK);
	assert_string_equal(ri.kind, "contact");
	assert_string_equal(ri.sealed_field, "note");
	assert_string_equal(ri.note, "");
	assert_non_null(le->entry.sealed);
	assert_int_equal(le->entry.sealed_len, (size_t)sealed_len(note_idx));
	char *text = NULL;
	assert_int_equal(vigil_open_sealed(coord, le->entry.record, le->entry.record_len,
					   le->entry.sealed, le->entry.sealed_len, &text, &err),
			 VIGIL_OK);
	assert_string_equal(text, secrets[0]);
	vigil_free(text);

	/* The shelter reads the case log too, and opens it. */
	vigil_client *shelter = connect_as("se-shelter-1", "se-shelter-1");
	struct vigil_case_log *slog = NULL;
	assert_int_equal(vigil_case_log(shelter, CASE, &slog, &err), VIGIL_OK);
	const struct vigil_case_log_entry *se = find_entry(slog, ct.record_id);
	assert_int_equal(vigil_open_sealed(shelter, se->entry.record, se->entry.record_len,
					   se->entry.sealed, se->entry.sealed_len, &text, &err),
			 VIGIL_OK);
	assert_string_equal(text, secrets[0]);
	vigil_free(text);
	vigil_free(slog);
	vigil_close(&shelter);

	/* Police get no log, and the note given to them opens to nothing. */
	vigil_client *police = connect_as("se-police-noa", "se-police-noa");
	struct vigil_case_log *plog = NULL;
	assert_int_equal(vigil_case_log(police, CASE, &plog, &err), VIGIL_E_REFUSED);
	assert_string_equal(err.message, "the case's records are for coordinator, iom, shelter and "
					 "responsible parties");
	text = (char *)"x";
	expect_status(vigil_open_sealed(police, le->entry.record, le->entry.record_len,
					le->entry.sealed, le->entry.sealed_len, &text, &err),
		      &err, VIGIL_E_SEALED,
		      "this organisation is no reader of the sealed note (the record names 3 "
		      "readers; our encryption certificate is none of them, and no handover re-sealed it for us)");
	assert_null(text);
	vigil_close(&police);
	/* IOM is a reader, but without its key configured it cannot open. */
	expect_status(vigil_open_sealed(iom, le->entry.record, le->entry.record_len,
					le->entry.sealed, le->entry.sealed_len, &text, &err),
		      &err, VIGIL_E_SEALED,
		      "no encryption key configured: the sealed note cannot be opened here");

	/* IOM's own entries carry the envelope too (GetEntries). */
	struct vigil_entry *mine = NULL;
	size_t n = 0;
	assert_int_equal(vigil_get_entries(iom, note_idx, 1, &mine, &n, &err), VIGIL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(mine[0].sealed_len, le->entry.sealed_len);
	assert_memory_equal(mine[0].sealed, le->entry.sealed, le->entry.sealed_len);
	vigil_free(mine);
	vigil_free(log);
	vigil_close(&coord);
	vigil_close(&iom);

	/* The tool: the text for a reader with its key, [sealed] without. */
	char line[2048], want[2048];
	struct cli_result *cr = vigil_as("se-stockholm-coord", "se-stockholm-coord", "log", CASE,
					 NULL);
	cli_expect_ok(cr);
	log_line(cr->out, note_idx, line, sizeof(line));
	snprintf(want, sizeof(want), " note=\"%s\"", secrets[0]);
	if (!strstr(line, want) || strstr(line, "[sealed]"))
		fail_msg("coordinator's log line: %s", line);
	cr = vigil_as("iom-ru-moscow", NULL, "log", CASE, NULL);
	cli_expect_ok(cr);
	log_line(cr->out, note_idx, line, sizeof(line));
	if (!strstr(line, " channel=home-visit outcome=moved ") ||
	    strcmp(line + strlen(line) - strlen(" note=[sealed]"), " note=[sealed]") != 0)
		fail_msg("log line without a key: %s", line);
	assert_null(strstr(cr->out, secrets[0]));
	/* --json: the text, or null and note_sealed. */
	cr = vigil_as("iom-ru-moscow", NULL, "--json", "log", CASE, NULL);
	cli_expect_ok(cr);
	const char *list = jmust(cr->out, "entries"), *e;
	const char *body = NULL;
	for (size_t i = 0; (e = jnth(list, i)) != NULL; i++)
		if (jnum(jmust(e, "index")) == note_idx)
			body = jmust(e, "body");
	assert_non_null(body);
	char keys[512];
	jkeys(body, keys, sizeof(keys));
	assert_string_equal(keys, "channel,outcome,attempted_at,note,note_sealed");
	expect_true(body, "note_sealed");
	char v[600];
	jstr(jmust(body, "note"), v, sizeof(v));
	assert_string_equal(v, "");
	cr = vigil_as("iom-ru-moscow", "iom-ru-moscow", "--json", "log", CASE, NULL);
	cli_expect_ok(cr);
	list = jmust(cr->out, "entries");
	body = NULL;
	for (size_t i = 0; (e = jnth(list, i)) != NULL; i++)
		if (jnum(jmust(e, "index")) == note_idx)
			body = jmust(e, "body");
	jkeys(body, keys, sizeof(keys));
	assert_string_equal(keys, "channel,outcome,attempted_at,note");
	expect_member(body, "note", secrets[0]);
	/* Police: no log, key or not. */
	cr = vigil_as("se-police-noa", "se-police-noa", "log", CASE, NULL);
	cli_expect_status(cr, 1);
	assert_string_equal(cr->err, "vigil: refused by relay: PERMISSION_DENIED: the case's "
				     "records are for coordinator, iom, shelter and responsible "
				     "parties\n");
}

/* The other free texts through the tool: an override justification, a
 * decline reason; a party that joined later reads the log but is no reader
 * of what was written before it joined. */
static void test_other_texts(void **state)
{
	(void)state;
	struct cli_result *cr = vigil_as("se-stockholm-coord", NULL, "--json", "case", "open",
					 "--case", CASE2, "--risk", "medium", "--return-country",
					 "MD", "--return-date", "2026-08-15", "--party",
					 "iom-ru-moscow", "--party", "se-police-noa",
					 "--override-risk-to-life", secrets[1], NULL);
	cli_expect_ok(cr);
	unsigned long long open_idx = jnum(jmust(cr->out, "index"));
	/* Offering needs our encryption key: the offer's client re-seals the
	 * earlier texts for the organisation it goes to. */
	cr = vigil_as("se-stockholm-coord", NULL, "--json", "handover", "offer", "--case", CASE2,
		      "--to", "se-goteborg-coord", "--reason", "other", "--consent-ref", "ref-1",
		      NULL);
	char msg[400];
	snprintf(msg, sizeof(msg),
		 "the offer is recorded (entry %llu), but not ready to be accepted: 1 earlier "
		 "sealed text of case " CASE2 " must be re-sealed for se-goteborg-coord before it "
		 "can accept the offer, but no encryption key is configured here", open_idx + 1);
	cli_expect_fail(cr, 3, "SEALED", msg);
	cr = vigil_as("other-coord", NULL, "--json", "handover", "accept", "--case", CASE2, NULL);
	cli_expect_fail(cr, 1, "CONFLICT",
			"1 earlier sealed text of the case is not re-sealed for se-goteborg-coord "
			"yet; the offering organisation re-seals them first (vigil handover reseal)");
	cr = vigil_as("se-stockholm-coord", "se-stockholm-coord", "--json", "handover", "reseal",
		      "--case", CASE2, NULL);
	cli_expect_ok(cr);
	expect_member(cr->out, "to", "se-goteborg-coord");
	assert_int_equal(jnum(jmust(cr->out, "missing")), 0);
	/* Held with the offer, not in place yet. */
	char why[256];
	char *t = db_resealed_text(&R, open_idx, "se-goteborg-coord", why, sizeof(why));
	if (!t)
		fail_msg("%s", why);
	assert_string_equal(t, secrets[1]);
	free(t);
	assert_null(db_sealed_text(&R, open_idx, "se-goteborg-coord", why, sizeof(why)));
	cr = vigil_as("other-coord", NULL, "--json", "handover", "decline", "--case", CASE2,
		      "--reason", secrets[2], NULL);
	cli_expect_ok(cr);
	unsigned long long decline_idx = jnum(jmust(cr->out, "index"));
	/* Declined: what was re-sealed for the offer is dropped. */
	assert_null(db_resealed_text(&R, open_idx, "se-goteborg-coord", why, sizeof(why)));
	/* Readers: the opener and IOM (police read no narrative); the
	 * decline reason is sealed to the case's readers, its author among
	 * them while the offer is pending. */
	t = db_sealed_text(&R, open_idx, "iom-ru-moscow", why, sizeof(why));
	if (!t)
		fail_msg("%s", why);
	assert_string_equal(t, secrets[1]);
	free(t);
	assert_null(db_sealed_text(&R, open_idx, "se-police-noa", why, sizeof(why)));
	t = db_sealed_text(&R, decline_idx, "se-stockholm-coord", why, sizeof(why));
	if (!t)
		fail_msg("%s", why);
	assert_string_equal(t, secrets[2]);
	free(t);
	t = db_sealed_text(&R, decline_idx, "se-goteborg-coord", why, sizeof(why));
	if (!t)
		fail_msg("%s", why);
	free(t);
	assert_null(db_sealed_text(&R, decline_idx, "se-police-noa", why, sizeof(why)));

	char line[2048], want[2048];
	cr = vigil_as("se-stockholm-coord", "se-stockholm-coord", "log", CASE2, NULL);
	cli_expect_ok(cr);
	log_line(cr->out, open_idx, line, sizeof(line));
	snprintf(want, sizeof(want), " override=risk_to_life justification=\"%s\"", secrets[1]);
	if (!strstr(line, want))
		fail_msg("open line: %s", line);
	log_line(cr->out, decline_idx, line, sizeof(line));
	snprintf(want, sizeof(want), " answer=decline decline-reason=\"%s\"", secrets[2]);
	if (!strstr(line, want))
		fail_msg("decline line: %s", line);
	cr = vigil_as("iom-ru-moscow", NULL, "--json", "log", CASE2, NULL);
	cli_expect_ok(cr);
	const char *e0 = jnth(jmust(cr->out, "entries"), 0);
	expect_member(e0, "kind", "case-open");
	expect_true(jmust(e0, "body"), "override_justification_sealed");

	/* The Gothenburg coordinator takes the case on: a party now, and
	 * responsible, it reads the log, what was sealed before it joined
	 * (re-sealed for it by the offer) and what is written now. */
	cr = vigil_as("se-stockholm-coord", "se-stockholm-coord", "handover", "offer", "--case",
		      CASE2, "--to", "se-goteborg-coord", "--reason", "other", "--consent-ref",
		      "ref-2", NULL);
	cli_expect_ok(cr);
	cr = vigil_as("other-coord", NULL, "handover", "accept", "--case", CASE2, NULL);
	cli_expect_ok(cr);
	cr = vigil_as("iom-ru-moscow", NULL, "--json", "contact", "--case", CASE2, "--channel",
		      "phone", "--outcome", "no-answer", "--note", secrets[3], NULL);
	cli_expect_ok(cr);
	unsigned long long later_idx = jnum(jmust(cr->out, "index"));
	cr = vigil_as("other-coord", "se-goteborg-coord", "log", CASE2, NULL);
	cli_expect_ok(cr);
	log_line(cr->out, open_idx, line, sizeof(line));
	snprintf(want, sizeof(want), " override=risk_to_life justification=\"%s\"", secrets[1]);
	if (!strstr(line, want))
		fail_msg("open line for a later party: %s", line);
	log_line(cr->out, decline_idx, line, sizeof(line));
	snprintf(want, sizeof(want), " answer=decline decline-reason=\"%s\"", secrets[2]);
	if (!strstr(line, want))
		fail_msg("decline line for its author: %s", line);
	log_line(cr->out, later_idx, line, sizeof(line));
	snprintf(want, sizeof(want), " note=\"%s\"", secrets[3]);
	if (!strstr(line, want))
		fail_msg("later note for the new responsible: %s", line);
}

/* Whether any of the texts is in the file's bytes (0 for a file that is
 * not there, e.g. a WAL checkpointed away). */
static int found_in(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	size_t k;
	while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	fclose(f);
	int found = 0;
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]) && !found; i++) {
		size_t m = strlen(secrets[i]);
		for (size_t at = 0; at + m <= n && !found; at++)
			found = memcmp(buf + at, secrets[i], m) == 0;
	}
	free(buf);
	return found;
}

/* A case reopened on the override: its justification is sealed to the
 * case's readers as well as to the parties the reopening names (libvigil
 * finds the case among ours and asks the relay), so a shelter party the
 * reopening does not name again still reads it. */
static void test_reopen(void **state)
{
	(void)state;
	vigil_client *coord = connect_as("se-stockholm-coord", NULL);
	static const char *const both[] = { "iom-ru-moscow", "se-shelter-1" };
	struct vigil_case_open o = { .case_id = "se-stockholm-coord/SEAL-5", .risk = "high",
		.return_country = "RU", .return_date = "2026-10-01", .parties = both,
		.n_parties = 2, .consent_scope = "share-with-parties" };
	struct vigil_error err;
	assert_int_equal(vigil_submit_case_open(coord, &o, NULL, &err), VIGIL_OK);
	struct vigil_case_close cl = { .case_id = o.case_id, .reason = "lost-contact" };
	assert_int_equal(vigil_submit_case_close(coord, &cl, NULL, &err), VIGIL_OK);
	o.consent_scope = NULL;
	o.override_justification = secrets[1];
	o.n_parties = 1; /* IOM only, this time */
	struct vigil_receipt r;
	if (vigil_submit_case_open(coord, &o, &r, &err) != VIGIL_OK)
		fail_msg("reopen: %s", err.message);
	char why[256];
	static const char *const readers[] = { "se-stockholm-coord", "iom-ru-moscow",
					       "se-shelter-1" };
	for (size_t i = 0; i < 3; i++) {
		char *t = db_sealed_text(&R, r.index, readers[i], why, sizeof(why));
		if (!t)
			fail_msg("%s: %s", readers[i], why);
		assert_string_equal(t, secrets[1]);
		free(t);
	}
	vigil_close(&coord);
}

/* No text in the clear anywhere in the relay's files: the database, its
 * WAL and shared memory, and the relay's own log. */
static void expect_nowhere(const char *path)
{
	if (found_in(path))
		fail_msg("a text in the clear is in %s", path);
}

static void test_no_plaintext_on_disk(void **state)
{
	(void)state;
	assert_true(sealed_len(note_idx) > 0);
	char path[700];
	static const char *const suffix[] = { "", "-wal", "-shm" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", R.db, suffix[i]);
		expect_nowhere(path);
	}
	expect_nowhere(R.log);
	/* The check finds a text where there is one (it is not vacuous). */
	snprintf(path, sizeof(path), "%s/plain.txt", R.dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "xx%syy", secrets[2]);
	fclose(f);
	assert_true(found_in(path));
	/* After a clean stop the WAL is in the database file: still none. */
	assert_int_equal(trelay_stop(&R), 0);
	snprintf(path, sizeof(path), "%s", R.db);
	expect_nowhere(path);
	assert_int_equal(trelay_start(&R), 0);
}

/* ---- evidence with the openssl command ---------------------------------------------- */

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

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* The stored envelope of the round trip's note opens with the openssl
 * command for each reader and no one else; the SHA-256 of what it opens to,
 * as `openssl dgst -sha256` computes it, is the signed record's commitment,
 * and the record's signature verifies with `openssl dgst`. */
static void test_openssl_evidence(void **state)
{
	(void)state;
	char sql[160], f_rec[700], f_sig[700], f_der[700], f_cms[700], f_p[700], f_pub[700];
	snprintf(f_rec, sizeof(f_rec), "%s/rec.bin", R.dir);
	snprintf(f_sig, sizeof(f_sig), "%s/rec.sig", R.dir);
	snprintf(f_der, sizeof(f_der), "%s/author.der", R.dir);
	snprintf(f_pub, sizeof(f_pub), "%s/author.pub", R.dir);
	snprintf(f_cms, sizeof(f_cms), "%s/note.cms", R.dir);
	snprintf(f_p, sizeof(f_p), "%s/note.p", R.dir);
	uint8_t *rec, *sig, *der, *cms;
	size_t rec_len, sig_len, der_len, cms_len;
	snprintf(sql, sizeof(sql), "SELECT record FROM entries WHERE idx = %llu", note_idx);
	assert_int_equal(db_blob(&R, sql, &rec, &rec_len), 0);
	snprintf(sql, sizeof(sql), "SELECT signature FROM entries WHERE idx = %llu", note_idx);
	assert_int_equal(db_blob(&R, sql, &sig, &sig_len), 0);
	snprintf(sql, sizeof(sql), "SELECT c.der FROM entries e JOIN certs c ON c.fp = e.cert_fp "
		 "WHERE e.idx = %llu", note_idx);
	assert_int_equal(db_blob(&R, sql, &der, &der_len), 0);
	snprintf(sql, sizeof(sql), "SELECT cms FROM sealed WHERE idx = %llu", note_idx);
	assert_int_equal(db_blob(&R, sql, &cms, &cms_len), 0);
	write_file(f_rec, rec, rec_len);
	write_file(f_sig, sig, sig_len);
	write_file(f_der, der, der_len);
	write_file(f_cms, cms, cms_len);
	assert_int_equal(sh("openssl x509 -inform DER -in '%s' -pubkey -noout > '%s' && "
			    "openssl dgst -sha256 -verify '%s' -signature '%s' '%s' >/dev/null",
			    f_der, f_pub, f_pub, f_sig, f_rec),
			 0);
	/* The commitment the record signs. */
	Vigil__V1__Record *r = NULL;
	char why[256];
	assert_int_equal(record_parse(rec, rec_len, &r, why, sizeof(why)), VG_OK);
	int field;
	const Vigil__V1__SealedText *st = record_sealed_text(r, &field, NULL);
	assert_non_null(st);
	assert_int_equal(field, SEALED_NOTE);
	char commitment[2 * SHA256_LEN + 1];
	hex_encode(st->commitment.data, SHA256_LEN, commitment);
	static const char *const readers[] = { "se-stockholm-coord", "iom-ru-moscow",
					       "se-shelter-1" };
	for (size_t i = 0; i < 3; i++) {
		remove(f_p);
		assert_int_equal(sh("openssl cms -decrypt -binary -inform DER -in '%s' -recip "
				    "'%s.enc.crt' -inkey '%s.enc.key' -out '%s'",
				    f_cms, pki(readers[i]), pki(readers[i]), f_p),
				 0);
		char f_d[720], d[200] = "";
		snprintf(f_d, sizeof(f_d), "%s.dgst", f_p);
		assert_int_equal(sh("openssl dgst -sha256 -r '%s' > '%s'", f_p, f_d), 0);
		FILE *f = fopen(f_d, "r");
		assert_non_null(f);
		assert_non_null(fgets(d, sizeof(d), f));
		fclose(f);
		d[2 * SHA256_LEN] = '\0';
		assert_string_equal(d, commitment);
		/* P holds the text after its 67-byte head. */
		f = fopen(f_p, "rb");
		uint8_t p[SEALED_HEAD_LEN + RECORD_NOTE_MAX];
		assert_int_equal(fread(p, 1, sizeof(p), f), sealed_plain_len(SEALED_NOTE));
		fclose(f);
		size_t tl = (size_t)p[SEALED_HEAD_LEN - 2] << 8 | p[SEALED_HEAD_LEN - 1];
		assert_int_equal(tl, strlen(secrets[0]));
		assert_memory_equal(p + SEALED_HEAD_LEN, secrets[0], tl);
		assert_memory_equal(p + SEALED_TAG_LEN, r->record_id.data, RECORD_ID_LEN);
	}
	/* Police hold no key that opens it. */
	assert_int_not_equal(sh("openssl cms -decrypt -binary -inform DER -in '%s' -recip "
				"'%s.enc.crt' -inkey '%s.enc.key' -out '%s' 2>/dev/null",
				f_cms, pki("se-police-noa"), pki("se-police-noa"), f_p),
			     0);
	record_free(r);
	free(rec);
	free(sig);
	free(der);
	free(cms);
}

/* ---- the relay's refusals -------------------------------------------------------------- */

static const char *const READERS[] = { "se-stockholm-coord", "iom-ru-moscow", "se-shelter-1" };

/* A contact attempt on case_id by IOM: a note in the clear (plain, or
 * NULL), a SealedText st (or NULL), sent with the envelope cms (or NULL);
 * the answer. */
static Vigil__V1__Frame *contact_on(struct tclient *c, const char *case_id,
				    const uint8_t id[RECORD_ID_LEN],
				      const char *plain, const Vigil__V1__SealedText *st,
				      const uint8_t *cms, size_t cms_len)
{
	struct contact_spec s;
	contact_spec_default(&s, "iom-ru-moscow", 0);
	memcpy(s.record_id, id, RECORD_ID_LEN);
	s.case_id = case_id;
	s.note = plain;
	s.sealed_note = st;
	uint8_t *rec, *sig;
	size_t rec_len, sig_len;
	contact_build(&s, &rec, &rec_len);
	sign_with("iom-ru-moscow", rec, rec_len, &sig, &sig_len);
	Vigil__V1__Frame *a = tclient_submit_sealed(c, rec, rec_len, sig, sig_len, cms, cms_len);
	free(rec);
	free(sig);
	return a;
}

#define contact_with(c, ...) contact_on(c, CASE, __VA_ARGS__)

static void expect_refusal(Vigil__V1__Frame *a, int status, const char *message)
{
	if (!a)
		fail_msg("no answer");
	if (a->msg_case != VIGIL__V1__FRAME__MSG_ERROR)
		fail_msg("expected \"%s\", got a frame of type %d", message, (int)a->msg_case);
	if (vg_status_from_wire(a->error->code) != status || strcmp(a->error->message, message))
		fail_msg("got %s \"%s\", expected %s \"%s\"",
			 vg_status_wire_name(vg_status_from_wire(a->error->code)), a->error->message,
			 vg_status_wire_name(status), message);
	frame_free(a);
}

/* The 1-based position of org's encryption certificate among the sorted
 * readers orgs (n of them). */
static size_t position_of(const char *const *orgs, size_t n, const char *org)
{
	uint8_t h[SEALED_READERS_MAX][SHA256_LEN], mine[1][SHA256_LEN];
	tseal_reader_hashes(orgs, n, h);
	tseal_reader_hashes(&org, 1, mine);
	for (size_t i = 0; i < n; i++)
		if (memcmp(h[i], mine[0], SHA256_LEN) == 0)
			return i + 1;
	fail_msg("%s is not among the readers", org);
	return 0;
}

/* Writes s's P and seals it with the openssl command (cipher and keyopt
 * as given) to the readers; the DER envelope (malloc()ed). */
static uint8_t *openssl_seal(const struct tsealed *s, const char *cipher, const char *keyopt,
			     size_t *len)
{
	char f_p[700], f_out[700], recips[4096] = "";
	snprintf(f_p, sizeof(f_p), "%s/p.bin", R.dir);
	snprintf(f_out, sizeof(f_out), "%s/env.der", R.dir);
	write_file(f_p, s->plain, s->plain_len);
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(recips);
		snprintf(recips + n, sizeof(recips) - n, " -recip '%s.enc.crt' %s", pki(READERS[i]),
			 keyopt);
	}
	assert_int_equal(sh("openssl cms -encrypt -binary -in '%s' -outform DER -out '%s' %s%s",
			    f_p, f_out, cipher, recips),
			 0);
	FILE *f = fopen(f_out, "rb");
	assert_non_null(f);
	uint8_t *buf = malloc(65536);
	assert_non_null(buf);
	*len = fread(buf, 1, 65536, f);
	fclose(f);
	return buf;
}

static void test_refusals(void **state)
{
	(void)state;
	struct tclient c;
	if (tclient_open(&c, R.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	long long before = entries();
	uint8_t id[RECORD_ID_LEN];
	struct tsealed s;

	/* A note in the clear. */
	memset(id, 0x11, sizeof(id));
	expect_refusal(contact_with(&c, id, secrets[0], NULL, NULL, 0), VG_EBADREQ,
		       "note must be sealed (ContactAttempt.sealed_note)" PLAIN_REFUSED);
	/* A note in the clear beside a sealed one. */
	tseal(&s, SEALED_NOTE, id, secrets[0], READERS, 3);
	expect_refusal(contact_with(&c, id, secrets[0], &s.text, s.cms, s.cms_len), VG_EBADREQ,
		       "note is given both in the clear and sealed; only sealed_note");
	/* A sealed note without its envelope; an envelope without a sealed
	 * field. */
	expect_refusal(contact_with(&c, id, NULL, &s.text, NULL, 0), VG_EBADREQ,
		       "the record's sealed note is missing its ciphertext (Submit.sealed)");
	expect_refusal(contact_with(&c, id, NULL, NULL, s.cms, s.cms_len), VG_EBADREQ,
		       "submit carries a sealed text, but the record seals none");
	tsealed_free(&s);

	/* The envelope's recipients are not the readers the record signs:
	 * one missing, one too many. */
	static const char *const two[] = { "se-stockholm-coord", "iom-ru-moscow" };
	static const char *const four[] = { "se-stockholm-coord", "iom-ru-moscow", "se-shelter-1",
					    "se-police-noa" };
	struct tsealed signed3, sent;
	tseal(&signed3, SEALED_NOTE, id, secrets[0], READERS, 3);
	memset(&sent, 0, sizeof(sent));
	memcpy(sent.commitment, signed3.commitment, SHA256_LEN);
	tseal_plain(&sent, signed3.plain, signed3.plain_len, two, 2);
	char msg[300];
	snprintf(msg, sizeof(msg), "sealed text has no recipient for reader %zu (se-shelter-1)",
		 position_of(READERS, 3, "se-shelter-1"));
	expect_refusal(contact_with(&c, id, NULL, &signed3.text, sent.cms, sent.cms_len),
		       VG_EBADREQ, msg);
	tsealed_free(&sent);
	tseal_plain(&sent, signed3.plain, signed3.plain_len, four, 4);
	expect_refusal(contact_with(&c, id, NULL, &signed3.text, sent.cms, sent.cms_len),
		       VG_EBADREQ, "sealed text has 1 recipient besides the record's readers");
	tsealed_free(&sent);

	/* Envelopes of another form, made with the openssl command: the
	 * default SHA-1 KDF, and AES-256-CBC (EnvelopedData). */
	size_t len;
	uint8_t *env = openssl_seal(&signed3, "-aes-256-gcm", "", &len);
	expect_refusal(contact_with(&c, id, NULL, &signed3.text, env, len), VG_EBADREQ,
		       "sealed text recipient 1: key agreement must be "
		       "dhSinglePass-stdDH-sha256kdf-scheme, not "
		       "dhSinglePass-stdDH-sha1kdf-scheme");
	free(env);
	env = openssl_seal(&signed3, "-aes-256-cbc", "-keyopt ecdh_kdf_md:sha256", &len);
	expect_refusal(contact_with(&c, id, NULL, &signed3.text, env, len), VG_EBADREQ,
		       "sealed text must be CMS AuthEnvelopedData, not pkcs7-envelopedData");
	free(env);
	tsealed_free(&signed3);

	/* The record's readers are not the case's: one missing (the envelope
	 * agrees with the record), police added. */
	tseal(&s, SEALED_NOTE, id, secrets[0], two, 2);
	expect_refusal(contact_with(&c, id, NULL, &s.text, s.cms, s.cms_len), VG_EBADREQ,
		       "sealed note must be sealed to se-shelter-1 too (a reader of this case)");
	tsealed_free(&s);
	tseal(&s, SEALED_NOTE, id, secrets[0], four, 4);
	snprintf(msg, sizeof(msg),
		 "sealed note names reader %zu, which is no reader of this case (only the parties "
		 "that read narrative, the owner and the responsible organisation are)",
		 position_of(four, 4, "se-police-noa"));
	expect_refusal(contact_with(&c, id, NULL, &s.text, s.cms, s.cms_len), VG_EBADREQ, msg);
	tsealed_free(&s);
	/* A reader that is no member's encryption certificate (a TLS
	 * certificate's hash). */
	tseal(&s, SEALED_NOTE, id, secrets[0], READERS, 3);
	FILE *f = fopen(pki("se-shelter-1.crt"), "r");
	assert_non_null(f);
	X509 *tls = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	uint8_t tls_sha[SHA256_LEN];
	assert_int_equal(sealed_cert_sha256(tls, tls_sha), VG_OK);
	X509_free(tls);
	size_t k = position_of(READERS, 3, "se-shelter-1") - 1;
	memcpy(s.readers[k], tls_sha, SHA256_LEN);
	/* Keep them ascending, as the record's rules demand. */
	for (size_t i = 0; i < 3; i++)
		for (size_t j = i + 1; j < 3; j++)
			if (memcmp(s.readers[i], s.readers[j], SHA256_LEN) > 0) {
				uint8_t t[SHA256_LEN];
				memcpy(t, s.readers[i], SHA256_LEN);
				memcpy(s.readers[i], s.readers[j], SHA256_LEN);
				memcpy(s.readers[j], t, SHA256_LEN);
			}
	size_t at = 0;
	for (size_t i = 0; i < 3; i++)
		if (memcmp(s.readers[i], tls_sha, SHA256_LEN) == 0)
			at = i + 1;
	snprintf(msg, sizeof(msg), "sealed note: reader %zu is no member's encryption certificate",
		 at);
	expect_refusal(contact_with(&c, id, NULL, &s.text, s.cms, s.cms_len), VG_EBADREQ, msg);
	tsealed_free(&s);
	assert_int_equal(entries(), before);

	/* The openssl command's envelope with the profile's options (GCM,
	 * ECDH with the SHA-256 KDF) is taken: it seals as libvigil does. */
	struct tsealed good;
	tseal(&good, SEALED_NOTE, id, secrets[0], READERS, 3);
	env = openssl_seal(&good, "-aes-256-gcm", "-keyopt ecdh_kdf_md:sha256", &len);
	Vigil__V1__Frame *a = contact_with(&c, id, NULL, &good.text, env, len);
	assert_non_null(a);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_RECEIPT);
	unsigned long long idx = a->receipt->index;
	frame_free(a);
	free(env);
	tsealed_free(&good);
	char why[256];
	char *t = db_sealed_text(&R, idx, "se-shelter-1", why, sizeof(why));
	if (!t)
		fail_msg("%s", why);
	assert_string_equal(t, secrets[0]);
	free(t);
	tclient_close(&c);
}

/* The other free texts in the clear, each refused with its own message. */
static void test_plain_refusals(void **state)
{
	(void)state;
	struct tclient coord, other;
	if (tclient_open(&coord, R.port, "se-stockholm-coord") != 0 ||
	    tclient_open(&other, R.port, "other-coord") != 0)
		fail_msg("%s %s", coord.err, other.err);
	long long before = entries();

	/* A case open on the override, its justification in the clear. */
	uint8_t rid[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, rid, "se-stockholm-coord/SEAL-3", "se-stockholm-coord");
	Vigil__V1__CaseOpen o = VIGIL__V1__CASE_OPEN__INIT;
	Vigil__V1__Override ov = VIGIL__V1__OVERRIDE__INIT;
	ov.reason = VIGIL__V1__OVERRIDE_REASON__OVERRIDE_REASON_RISK_TO_LIFE;
	ov.justification = (char *)secrets[1];
	o.risk = VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH;
	o.return_country = "RU";
	o.return_date = "2026-10-01";
	o.basis_case = VIGIL__V1__CASE_OPEN__BASIS_OVERRIDE;
	o.override = &ov;
	r.body_case = VIGIL__V1__RECORD__BODY_CASE_OPEN;
	r.case_open = &o;
	expect_refusal(casekit_submit(&coord, &r), VG_EBADREQ,
		       "justification must be sealed (Override.sealed_justification)"
		       PLAIN_REFUSED);

	/* An offer to Gothenburg, declined with a reason in the clear. */
	uint8_t offer[RECORD_ID_LEN];
	Vigil__V1__Frame *a = casekit_offer(&coord, CASE, "se-goteborg-coord", offer, 1);
	assert_string_equal(casekit_outcome(a), "RECEIPT");
	frame_free(a);
	before++;
	casekit_record(&r, rid, CASE, "se-goteborg-coord");
	Vigil__V1__HandoverAnswer ans = VIGIL__V1__HANDOVER_ANSWER__INIT;
	ans.offer_id.data = offer;
	ans.offer_id.len = RECORD_ID_LEN;
	ans.decline_reason = (char *)secrets[2];
	r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER;
	r.handover_answer = &ans;
	expect_refusal(casekit_submit(&other, &r), VG_EBADREQ,
		       "decline_reason must be sealed (HandoverAnswer.sealed_decline_reason)"
		       PLAIN_REFUSED);
	a = casekit_withdraw(&coord, CASE, offer);
	assert_string_equal(casekit_outcome(a), "RECEIPT");
	frame_free(a);
	before++;

	/* An offer's justification must be sealed to `to` as well. */
	casekit_record(&r, rid, CASE, "se-stockholm-coord");
	Vigil__V1__HandoverOffer ho = VIGIL__V1__HANDOVER_OFFER__INIT;
	Vigil__V1__Override ov2 = VIGIL__V1__OVERRIDE__INIT;
	ov2.reason = VIGIL__V1__OVERRIDE_REASON__OVERRIDE_REASON_RISK_TO_LIFE;
	ho.to = "se-goteborg-coord";
	ho.reason = VIGIL__V1__HANDOVER_REASON__HANDOVER_REASON_OTHER;
	ho.basis_case = VIGIL__V1__HANDOVER_OFFER__BASIS_OVERRIDE;
	ho.override = &ov2;
	r.body_case = VIGIL__V1__RECORD__BODY_HANDOVER_OFFER;
	r.handover_offer = &ho;
	struct tsealed s;
	tseal(&s, SEALED_JUSTIFICATION, rid, secrets[1], READERS, 3);
	ov2.sealed_justification = &s.text;
	expect_refusal(casekit_submit_sealed(&coord, &r, &s), VG_EBADREQ,
		       "sealed justification must be sealed to se-goteborg-coord too (a reader of "
		       "this case)");
	tsealed_free(&s);

	/* An alert acknowledgement's reason in the clear (refused before the
	 * relay looks for the alert). */
	casekit_record(&r, rid, CASE, "se-stockholm-coord");
	Vigil__V1__AlertAck ack = VIGIL__V1__ALERT_ACK__INIT;
	uint8_t alert[RECORD_ID_LEN];
	memset(alert, 0x5a, sizeof(alert));
	ack.alert_id.data = alert;
	ack.alert_id.len = RECORD_ID_LEN;
	ack.decision = VIGIL__V1__ACK_DECISION__ACK_DECISION_NOT_FILED;
	ack.reason = (char *)secrets[3];
	r.body_case = VIGIL__V1__RECORD__BODY_ALERT_ACK;
	r.alert_ack = &ack;
	expect_refusal(casekit_submit(&coord, &r), VG_EBADREQ,
		       "reason must be sealed (AlertAck.sealed_reason)" PLAIN_REFUSED);
	assert_int_equal(entries(), before);
	tclient_close(&coord);
	tclient_close(&other);
}

/* ---- what a reader checks ------------------------------------------------------------- */

/* vigil_open_sealed: an envelope pasted from another record, a P that is
 * not the committed one (which the relay cannot tell), a changed byte. */
static void test_open_refusals(void **state)
{
	(void)state;
	/* A case of its own: the forged note stays in its log only. */
	trelay_open_case(&R, CASE4);
	vigil_client *iom = connect_as("iom-ru-moscow", NULL);
	struct vigil_contact a = { .case_id = CASE4, .channel = "phone", .outcome = "no-answer",
		.note = "first" };
	struct vigil_contact b = a;
	b.note = "second";
	struct vigil_error err;
	assert_int_equal(vigil_submit_contact(iom, &a, NULL, &err), VIGIL_OK);
	assert_int_equal(vigil_submit_contact(iom, &b, NULL, &err), VIGIL_OK);

	/* A P whose commitment the record signs, sealed with another text. */
	struct tclient c;
	if (tclient_open(&c, R.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	uint8_t tid[RECORD_ID_LEN];
	memset(tid, 0x7e, sizeof(tid));
	struct tsealed s, forged;
	tseal(&s, SEALED_NOTE, tid, "she is safe", READERS, 3);
	uint8_t p2[sizeof(s.plain)];
	memcpy(p2, s.plain, s.plain_len);
	memcpy(p2 + SEALED_HEAD_LEN, "he is safe!", 11); /* same length, another text */
	memset(&forged, 0, sizeof(forged));
	tseal_plain(&forged, p2, s.plain_len, READERS, 3);
	Vigil__V1__Frame *ans = contact_on(&c, CASE4, tid, NULL, &s.text, forged.cms,
					   forged.cms_len);
	assert_non_null(ans);
	assert_int_equal(ans->msg_case, VIGIL__V1__FRAME__MSG_RECEIPT); /* it cannot tell */
	frame_free(ans);
	tsealed_free(&s);
	tsealed_free(&forged);
	tclient_close(&c);
	vigil_close(&iom);

	vigil_client *coord = connect_as("se-stockholm-coord", "se-stockholm-coord");
	struct vigil_case_log *log = NULL;
	assert_int_equal(vigil_case_log(coord, CASE4, &log, &err), VIGIL_OK);
	const struct vigil_case_log_entry *ea = find_entry(log, a.record_id);
	const struct vigil_case_log_entry *eb = find_entry(log, b.record_id);
	const struct vigil_case_log_entry *et = find_entry(log, tid);
	char *text = NULL, ha[33], hb[33], msg[300];
	assert_int_equal(vigil_open_sealed(coord, eb->entry.record, eb->entry.record_len,
					   eb->entry.sealed, eb->entry.sealed_len, &text, &err),
			 VIGIL_OK);
	assert_string_equal(text, "second");
	vigil_free(text);
	/* A's envelope beside B's record: it opens (same readers), to A's P. */
	vigil_hex_encode(a.record_id, VIGIL_RECORD_ID_LEN, ha);
	vigil_hex_encode(b.record_id, VIGIL_RECORD_ID_LEN, hb);
	snprintf(msg, sizeof(msg), "the sealed note does not verify: sealed text belongs to record "
		 "%s, not to record %s", ha, hb);
	expect_status(vigil_open_sealed(coord, eb->entry.record, eb->entry.record_len,
					ea->entry.sealed, ea->entry.sealed_len, &text, &err),
		      &err, VIGIL_E_VERIFY, msg);
	assert_null(text);
	/* The forged P. */
	expect_status(vigil_open_sealed(coord, et->entry.record, et->entry.record_len,
					et->entry.sealed, et->entry.sealed_len, &text, &err),
		      &err, VIGIL_E_VERIFY,
		      "the sealed note does not verify: sealed text does not match the record's "
		      "commitment");
	/* A changed byte of the ciphertext. */
	uint8_t *copy = malloc(ea->entry.sealed_len);
	assert_non_null(copy);
	memcpy(copy, ea->entry.sealed, ea->entry.sealed_len);
	copy[ea->entry.sealed_len - 1] ^= 0x01;
	expect_status(vigil_open_sealed(coord, ea->entry.record, ea->entry.record_len, copy,
					ea->entry.sealed_len, &text, &err),
		      &err, VIGIL_E_VERIFY,
		      "the sealed note does not verify: sealed text does not open: its "
		      "authentication tag or key wrap fails");
	free(copy);
	/* No envelope at all. */
	expect_status(vigil_open_sealed(coord, ea->entry.record, ea->entry.record_len, NULL, 0,
					&text, &err),
		      &err, VIGIL_E_SEALED,
		      "the sealed note is not there: the relay sent no envelope beside the "
		      "record");
	/* The tool fails the log on the forged P (exit 3), naming the entry. */
	unsigned long long forged_idx = et->entry.index;
	vigil_free(log);
	vigil_close(&coord);
	struct cli_result *cr = vigil_as("se-stockholm-coord", "se-stockholm-coord", "log", CASE4,
					 NULL);
	cli_expect_status(cr, 3);
	assert_string_equal(cr->out, "");
	snprintf(msg, sizeof(msg), "vigil: entry %llu: the sealed note does not verify: sealed "
		 "text does not match the record's commitment\n", forged_idx);
	assert_string_equal(cr->err, msg);
}

/* Sealed notes have one length whatever the text: the stored envelopes of
 * a two-byte note and a 500-byte note to the same readers are as long. */
static void test_fixed_length(void **state)
{
	(void)state;
	vigil_client *iom = connect_as("iom-ru-moscow", NULL);
	static char long_note[501];
	memset(long_note, 'w', 500);
	struct vigil_contact a = { .case_id = CASE, .channel = "sms", .outcome = "undelivered",
		.note = "ok" };
	struct vigil_contact b = a;
	b.note = long_note;
	struct vigil_receipt ra, rb;
	struct vigil_error err;
	assert_int_equal(vigil_submit_contact(iom, &a, &ra, &err), VIGIL_OK);
	assert_int_equal(vigil_submit_contact(iom, &b, &rb, &err), VIGIL_OK);
	assert_true(sealed_len(ra.index) > 0);
	assert_int_equal(sealed_len(ra.index), sealed_len(rb.index));
	/* And the records that commit to them are as long. */
	char sql[96];
	snprintf(sql, sizeof(sql), "SELECT length(record) FROM entries WHERE idx = %llu",
		 (unsigned long long)ra.index);
	long long la = db_int(&R, sql);
	snprintf(sql, sizeof(sql), "SELECT length(record) FROM entries WHERE idx = %llu",
		 (unsigned long long)rb.index);
	assert_int_equal(la, db_int(&R, sql));
	/* A rebuilt record with the same id and text has the same bytes (the
	 * salt is derived): the retry is a duplicate, not a conflict. */
	struct vigil_contact again = b;
	again.have_record_id = 0; /* a new id, written back */
	again.attempted_at_ms = again.client_time_ms = 1795000000000LL;
	struct vigil_receipt r1, r2;
	assert_int_equal(vigil_submit_contact(iom, &again, &r1, &err), VIGIL_OK);
	assert_false(r1.duplicate);
	again.have_record_id = 1;
	assert_int_equal(vigil_submit_contact(iom, &again, &r2, &err), VIGIL_OK);
	assert_true(r2.duplicate);
	assert_int_equal(r2.index, r1.index);
	vigil_close(&iom);
}

/* Who asked whom to seal to is audited; a refused question and a refused
 * withdrawal fit the readers list (their names are 20 and 16 bytes). */
static void test_readers_audit(void **state)
{
	(void)state;
	vigil_client *outsider = connect_as("other-iom", NULL);
	struct vigil_contact ct = { .case_id = CASE, .channel = "phone", .outcome = "no-answer",
		.note = "probe" };
	struct vigil_error err;
	assert_int_equal(vigil_submit_contact(outsider, &ct, NULL, &err), VIGIL_E_REFUSED);
	assert_string_equal(err.message, "case " CASE " not found");
	struct vigil_handover_withdraw w = { .case_id = CASE };
	memset(w.offer_id, 1, sizeof(w.offer_id));
	assert_int_equal(vigil_submit_handover_withdraw(outsider, &w, NULL, &err),
			 VIGIL_E_REFUSED);
	vigil_close(&outsider);
	vigil_client *coord = connect_as("se-stockholm-coord", NULL);
	struct vigil_case_read *reads = NULL;
	size_t n = 0;
	if (vigil_case_readers(coord, CASE, &reads, &n, &err) != VIGIL_OK)
		fail_msg("readers: %s", err.message);
	assert_true(n >= 2);
	assert_string_equal(reads[n - 2].organisation, "iom-md-chisinau");
	assert_string_equal(reads[n - 2].what, "seal-readers-refused");
	assert_string_equal(reads[n - 1].organisation, "iom-md-chisinau");
	assert_string_equal(reads[n - 1].what, "withdraw-refused");
	int asked = 0;
	for (size_t i = 0; i < n; i++)
		asked += strcmp(reads[i].what, "seal-readers") == 0;
	assert_true(asked >= 1);
	vigil_free(reads);
	vigil_close(&coord);
}

/* ---- the encryption key at connect ---------------------------------------------------- */

static void expect_connect(struct vigil_options *o, int status, const char *message)
{
	struct vigil_error err;
	vigil_client *c = NULL;
	int rc = vigil_connect(o, &c, &err);
	expect_status(rc, &err, status, message);
	assert_null(c);
}

static void test_enc_options(void **state)
{
	(void)state;
	struct files f;
	struct vigil_options o = opts(&f, "se-stockholm-coord", NULL);
	char cert[700], key[700], msg[1600];
	o.enc_cert_file = f.ec;
	snprintf(f.ec, sizeof(f.ec), "%s.enc.crt", pki("se-stockholm-coord"));
	expect_connect(&o, VIGIL_E_USAGE, "give both an encryption certificate and its key, or "
					  "neither (no encryption key given)");
	o.enc_cert_file = NULL;
	o.enc_key_file = f.ek;
	snprintf(f.ek, sizeof(f.ek), "%s.enc.key", pki("se-stockholm-coord"));
	expect_connect(&o, VIGIL_E_USAGE, "give both an encryption certificate and its key, or "
					  "neither (no encryption certificate given)");
	/* Another organisation's encryption certificate (and its key). */
	snprintf(cert, sizeof(cert), "%s.enc.crt", pki("iom-ru-moscow"));
	snprintf(key, sizeof(key), "%s.enc.key", pki("iom-ru-moscow"));
	o.enc_cert_file = cert;
	o.enc_key_file = key;
	snprintf(msg, sizeof(msg), "encryption certificate %s is not an encryption certificate of "
		 "our organisation: its O is \"iom-ru-moscow\", not \"se-stockholm-coord\"", cert);
	expect_connect(&o, VIGIL_E_IO, msg);
	/* Our TLS certificate is no encryption certificate. */
	snprintf(cert, sizeof(cert), "%s.crt", pki("se-stockholm-coord"));
	snprintf(key, sizeof(key), "%s.key", pki("se-stockholm-coord"));
	snprintf(msg, sizeof(msg), "encryption certificate %s is not an encryption certificate of "
		 "our organisation: its keyUsage must be keyAgreement and nothing else", cert);
	expect_connect(&o, VIGIL_E_IO, msg);
	/* One of the right kind from another CA. */
	struct files g;
	struct vigil_options oi = opts(&g, "iom-ru-moscow", NULL);
	snprintf(cert, sizeof(cert), "%s", pki("untrusted-enc.crt"));
	snprintf(key, sizeof(key), "%s", pki("untrusted-enc.key"));
	oi.enc_cert_file = cert;
	oi.enc_key_file = key;
	snprintf(msg, sizeof(msg), "encryption certificate %s does not verify against the CA: "
		 "unable to get local issuer certificate", cert);
	expect_connect(&oi, VIGIL_E_IO, msg);
	/* Our certificate with another key. */
	snprintf(cert, sizeof(cert), "%s.enc.crt", pki("se-stockholm-coord"));
	snprintf(key, sizeof(key), "%s.enc.key", pki("se-shelter-1"));
	o.enc_cert_file = cert;
	o.enc_key_file = key;
	snprintf(msg, sizeof(msg), "encryption key %s does not belong to encryption certificate %s",
		 key, cert);
	expect_connect(&o, VIGIL_E_IO, msg);
	/* A file that is not there. */
	snprintf(key, sizeof(key), "%s/none.key", R.dir);
	snprintf(msg, sizeof(msg), "cannot read encryption key %s: No such file or directory", key);
	expect_connect(&o, VIGIL_E_IO, msg);

	/* The tool: both options or neither, before it connects. */
	struct cli_result *cr = vigil_as("se-stockholm-coord", NULL, "--enc-cert",
					 pki("se-stockholm-coord.enc.crt"), "log", CASE, NULL);
	cli_expect_usage(cr, "--enc-cert given without --enc-key: give both (or [tls] enc_cert "
			     "and enc_key in the -c file), or neither");
	cr = vigil_as("se-stockholm-coord", NULL, "--enc-key", pki("se-stockholm-coord.enc.key"),
		      "log", CASE, NULL);
	cli_expect_usage(cr, "--enc-key given without --enc-cert: give both (or [tls] enc_cert "
			     "and enc_key in the -c file), or neither");
	/* And through the -c file's [tls] enc_cert and enc_key. */
	char conf[700];
	snprintf(conf, sizeof(conf), "%s/coord.ini", R.dir);
	FILE *fc = fopen(conf, "w");
	assert_non_null(fc);
	fprintf(fc, "[relay]\naddress = 127.0.0.1\nport = %d\ncheckpoint_key = %s\n[tls]\n"
		    "cert = %s.crt\nkey = %s.key\nca = %s\nenc_cert = %s.enc.crt\n"
		    "enc_key = %s.enc.key\n",
		R.port, pki("checkpoint.pub"), pki("se-stockholm-coord"), pki("se-stockholm-coord"),
		pki("ca.crt"), pki("se-stockholm-coord"), pki("se-stockholm-coord"));
	fclose(fc);
	static struct cli_args ca;
	cli_args_init(&ca, VIGIL_CLI_PATH);
	cli_add(&ca, "-c", conf, "log", CASE, NULL);
	res.status = cli_run(&ca, NULL, res.out, sizeof(res.out), res.err, sizeof(res.err));
	cli_expect_ok(&res);
	char line[2048], want[600];
	log_line(res.out, note_idx, line, sizeof(line));
	snprintf(want, sizeof(want), " note=\"%s\"", secrets[0]);
	if (!strstr(line, want))
		fail_msg("log line with the -c file's key: %s", line);
}


/* ---- re-sealing at a handover ------------------------------------------------------- */

static unsigned long long note_as(const char *who, const char *case_id, const char *text)
{
	vigil_client *c = connect_as(who, NULL);
	struct vigil_contact ct = { .case_id = case_id, .channel = "phone",
		.outcome = "reached-concern", .note = text };
	struct vigil_receipt r;
	struct vigil_error err;
	if (vigil_submit_contact(c, &ct, &r, &err) != VIGIL_OK)
		fail_msg("contact by %s: %s", who, err.message);
	vigil_close(&c);
	return r.index;
}

/* Opens the sealed text of every entry of the case with who's key (enc);
 * the texts in log order into got (n at most), their count. */
static size_t open_all(const char *who, const char *enc, const char *case_id, char got[][128],
		       size_t n)
{
	vigil_client *c = connect_as(who, enc);
	struct vigil_case_log *log = NULL;
	struct vigil_error err;
	if (vigil_case_log(c, case_id, &log, &err) != VIGIL_OK)
		fail_msg("log as %s: %s", who, err.message);
	size_t k = 0;
	for (size_t i = 0; i < log->n; i++) {
		const struct vigil_entry *e = &log->entries[i].entry;
		if (!e->sealed)
			continue;
		char *text = NULL;
		if (vigil_open_sealed(c, e->record, e->record_len, e->sealed, e->sealed_len, &text,
				      &err) != VIGIL_OK)
			fail_msg("%s cannot open entry %llu: %s", who, (unsigned long long)e->index,
				 err.message);
		assert_true(k < n);
		snprintf(got[k++], 128, "%s", text);
		vigil_free(text);
	}
	vigil_free(log);
	vigil_close(&c);
	return k;
}

static void expect_error(Vigil__V1__Frame *a, const char *code, const char *message)
{
	if (!a)
		fail_msg("no answer");
	if (strcmp(casekit_outcome(a), code) != 0 ||
	    (a->msg_case == VIGIL__V1__FRAME__MSG_ERROR && strcmp(a->error->message, message) != 0))
		fail_msg("got %s \"%s\", expected %s \"%s\"", casekit_outcome(a),
			 a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? a->error->message : "", code,
			 message);
	frame_free(a);
}

/*
 * A handover re-seals the case's earlier texts for the organisation it goes
 * to: the relay refuses re-sealed texts that are not the offering
 * organisation's, not for the pending offer, for no text of the offer, or
 * to other recipients; holds them with the offer, drops them when it is
 * declined, and puts them in place when it is accepted.  After each
 * accepted handover the new party reads every earlier text (also one it
 * only had re-sealed for it, which it re-seals in turn); an organisation
 * that was offered the case and declined gets no key to later texts.
 */
static void test_handover_reseal(void **state)
{
	(void)state;
	vigil_client *coord = connect_as("se-stockholm-coord", "se-stockholm-coord");
	static const char *const parties[] = { "iom-ru-moscow", "se-police-noa" };
	struct vigil_case_open o = { .case_id = CASE5, .risk = "medium", .return_country = "MD",
		.return_date = "2026-10-01", .parties = parties, .n_parties = 2,
		.consent_scope = "share-with-parties" };
	struct vigil_receipt r;
	struct vigil_error err;
	if (vigil_submit_case_open(coord, &o, &r, &err) != VIGIL_OK)
		fail_msg("case open: %s", err.message);
	unsigned long long open_idx = r.index;
	unsigned long long n1 = note_as("iom-ru-moscow", CASE5, secrets[4]);

	/* Offered to police: the note is re-sealed for it and held. */
	struct vigil_handover_offer of = { .case_id = CASE5, .to = "se-police-noa",
		.reason = "other", .consent_ref = "ref-5" };
	if (vigil_submit_handover_offer(coord, &of, &r, &err) != VIGIL_OK)
		fail_msg("offer to police: %s", err.message);
	char why[256];
	char *t = db_resealed_text(&R, n1, "se-police-noa", why, sizeof(why));
	if (!t)
		fail_msg("held for police: %s", why);
	assert_string_equal(t, secrets[4]);
	free(t);
	assert_null(db_sealed_text(&R, n1, "se-police-noa", why, sizeof(why)));
	uint32_t missing = 99;
	assert_int_equal(vigil_reseal_pending(coord, CASE5, &missing, &err), VIGIL_OK);
	assert_int_equal(missing, 0);

	/* What the relay refuses. */
	struct tclient pc, cc;
	if (tclient_open(&pc, R.port, "se-police-noa") != 0)
		fail_msg("%s", pc.err);
	if (tclient_open(&cc, R.port, "se-stockholm-coord") != 0)
		fail_msg("%s", cc.err);
	expect_error(tclient_reseal_send(&pc, CASE5, of.record_id, NULL, 0), "PERMISSION_DENIED",
		     "only the responsible organisation (se-stockholm-coord) re-seals for its "
		     "handover offer");
	uint8_t bogus[RECORD_ID_LEN];
	memset(bogus, 0x5a, sizeof(bogus));
	expect_error(tclient_reseal_send(&cc, CASE5, bogus, NULL, 0), "BAD_REQUEST",
		     "that offer is not pending (withdrawn, answered or unknown)");
	expect_error(tclient_reseal_send(&cc, "se-stockholm-coord/NO-SUCH", of.record_id, NULL, 0),
		     "NOT_FOUND", "case se-stockholm-coord/NO-SUCH not found");
	uint8_t *cms = NULL;
	size_t cms_len = 0;
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT cms FROM sealed WHERE idx = %llu", n1);
	assert_int_equal(db_blob(&R, sql, &cms, &cms_len), 0);
	Vigil__V1__ResealedText rt[2], *rp[2] = { &rt[0], &rt[1] };
	for (int i = 0; i < 2; i++) {
		vigil__v1__resealed_text__init(&rt[i]);
		rt[i].index = n1;
		rt[i].sealed.data = cms;
		rt[i].sealed.len = cms_len;
	}
	char msg[300];
	snprintf(msg, sizeof(msg), "re-sealed text 2 names entry %llu again", n1);
	expect_error(tclient_reseal_send(&cc, CASE5, of.record_id, rp, 2), "BAD_REQUEST", msg);
	/* The old envelope, not sealed for police. */
	snprintf(msg, sizeof(msg), "re-sealed text 1 (entry %llu): sealed text has no recipient "
		 "for reader 3 (se-police-noa)", n1);
	expect_error(tclient_reseal_send(&cc, CASE5, of.record_id, rp, 1), "BAD_REQUEST", msg);
	rt[0].index = open_idx;
	snprintf(msg, sizeof(msg), "entry %llu has no sealed text to re-seal for this offer (none, "
		 "erased, or readable by se-police-noa already)", open_idx);
	expect_error(tclient_reseal_send(&cc, CASE5, of.record_id, rp, 1), "BAD_REQUEST", msg);
	free(cms);
	/* Still held as the offering client sent it. */
	t = db_resealed_text(&R, n1, "se-police-noa", why, sizeof(why));
	assert_non_null(t);
	free(t);

	/* Written while police is offered the case: sealed to it too. */
	unsigned long long n2 = note_as("iom-ru-moscow", CASE5, secrets[5]);
	t = db_sealed_text(&R, n2, "se-police-noa", why, sizeof(why));
	if (!t)
		fail_msg("police, offered the case, cannot open a note written meanwhile: %s", why);
	free(t);
	/* Police declines: what was held for it is dropped, and it reads no
	 * later text. */
	vigil_client *police = connect_as("se-police-noa", "se-police-noa");
	struct vigil_handover_answer an = { .case_id = CASE5, .accept = 0,
		.decline_reason = "not a police matter yet" };
	memcpy(an.offer_id, of.record_id, VIGIL_RECORD_ID_LEN);
	if (vigil_submit_handover_answer(police, &an, &r, &err) != VIGIL_OK)
		fail_msg("decline: %s", err.message);
	vigil_close(&police);
	assert_int_equal(db_int(&R, "SELECT count(*) FROM reseals WHERE case_id = '" CASE5 "'"), 0);
	assert_null(db_sealed_text(&R, n1, "se-police-noa", why, sizeof(why)));
	unsigned long long n3 = note_as("iom-ru-moscow", CASE5, secrets[6]);
	assert_null(db_sealed_text(&R, n3, "se-police-noa", why, sizeof(why)));

	/* Offered to the Gothenburg coordinator, outside the case: it cannot
	 * accept before every earlier text is re-sealed for it. */
	struct vigil_handover_offer og = { .case_id = CASE5, .to = "se-goteborg-coord",
		.reason = "return", .consent_ref = "ref-6" };
	vigil_client *bare = connect_as("se-stockholm-coord", NULL);
	assert_int_equal(vigil_submit_handover_offer(bare, &og, &r, &err), VIGIL_E_SEALED);
	vigil_close(&bare);
	vigil_client *got = connect_as("other-coord", "se-goteborg-coord");
	struct vigil_handover_answer ag = { .case_id = CASE5, .accept = 1 };
	memcpy(ag.offer_id, og.record_id, VIGIL_RECORD_ID_LEN);
	assert_int_equal(vigil_submit_handover_answer(got, &ag, NULL, &err), VIGIL_E_REFUSED);
	assert_string_equal(err.relay_code_name, "CONFLICT");
	assert_string_equal(err.message, "4 earlier sealed texts of the case are not re-sealed for "
			    "se-goteborg-coord yet; the offering organisation re-seals them first "
			    "(vigil handover reseal)");
	assert_int_equal(vigil_reseal_pending(coord, CASE5, &missing, &err), VIGIL_OK);
	assert_int_equal(missing, 0);
	if (vigil_submit_handover_answer(got, &ag, NULL, &err) != VIGIL_OK)
		fail_msg("accept: %s", err.message);
	vigil_close(&got);
	/* It reads every earlier text, the decline reason too. */
	char texts[8][128];
	assert_int_equal(open_all("other-coord", "se-goteborg-coord", CASE5, texts, 8), 4);
	assert_string_equal(texts[0], secrets[4]);
	assert_string_equal(texts[1], secrets[5]);
	assert_string_equal(texts[2], "not a police matter yet");
	assert_string_equal(texts[3], secrets[6]);
	/* Police, who declined, still has no key to them. */
	assert_null(db_sealed_text(&R, n1, "se-police-noa", why, sizeof(why)));
	assert_null(db_sealed_text(&R, n3, "se-police-noa", why, sizeof(why)));

	/* Gothenburg hands it on to IOM Chisinau: it re-seals what it can only
	 * open through the envelopes re-sealed for it. */
	unsigned long long n4 = note_as("iom-ru-moscow", CASE5, secrets[7]);
	vigil_client *gc = connect_as("other-coord", "se-goteborg-coord");
	struct vigil_handover_offer oc = { .case_id = CASE5, .to = "iom-md-chisinau",
		.reason = "return", .consent_ref = "ref-7" };
	if (vigil_submit_handover_offer(gc, &oc, &r, &err) != VIGIL_OK)
		fail_msg("offer to Chisinau: %s", err.message);
	vigil_close(&gc);
	vigil_client *md = connect_as("other-iom", "iom-md-chisinau");
	struct vigil_handover_answer am = { .case_id = CASE5, .accept = 1 };
	memcpy(am.offer_id, oc.record_id, VIGIL_RECORD_ID_LEN);
	if (vigil_submit_handover_answer(md, &am, NULL, &err) != VIGIL_OK)
		fail_msg("accept by Chisinau: %s", err.message);
	vigil_close(&md);
	assert_int_equal(open_all("other-iom", "iom-md-chisinau", CASE5, texts, 8), 5);
	assert_string_equal(texts[0], secrets[4]);
	assert_string_equal(texts[4], secrets[7]);
	/* The earlier readers keep theirs. */
	assert_int_equal(open_all("iom-ru-moscow", "iom-ru-moscow", CASE5, texts, 8), 5);
	assert_null(db_sealed_text(&R, n4, "se-police-noa", why, sizeof(why)));
	tclient_close(&pc);
	tclient_close(&cc);
	vigil_close(&coord);

	/* The log and every re-sealed envelope verify. */
	assert_int_equal(trelay_stop(&R), 0);
	char out[2048];
	const char *args[] = { "vigild", "-c", R.conf, "--verify-db", NULL };
	if (run_vigild(args, out, sizeof(out)) != 0)
		fail_msg("--verify-db said: %s", out);
	assert_int_equal(trelay_start(&R), 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_other_texts),
		cmocka_unit_test(test_handover_reseal),
		cmocka_unit_test(test_openssl_evidence),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_plain_refusals),
		cmocka_unit_test(test_open_refusals),
		cmocka_unit_test(test_fixed_length),
		cmocka_unit_test(test_readers_audit),
		cmocka_unit_test(test_enc_options),
		cmocka_unit_test(test_reopen),
		cmocka_unit_test(test_no_plaintext_on_disk),
	};
	return cmocka_run_group_tests_name("sealed_live", tests, group_setup, group_teardown);
}
