/*
 * Corrections end to end (proto/README.md, "Corrections"): a real relay on
 * loopback with the real PKI, libvigil and the vigil tool.
 *
 *   - a correction changes the status (last attempt, last success, failed
 *     attempts) and the watchdog's next time, and is refused for anyone but
 *     the author's organisation, with its exact message;
 *   - a correction of a correction corrects the original; the log marks
 *     both (CaseLogEntry corrects / corrected_by, checked by libvigil
 *     against the signed target_id), the tool prints them;
 *   - handover records, case openings and records of another case are
 *     never corrected; a corrected time is held to the original's receipt;
 *   - a corrected note is sealed like a contact attempt's and opens for
 *     the case's readers;
 *   - the watchdog uses the corrected values: an alert raised for a silence
 *     a correction takes away is resolved ("corrected") and the next one
 *     comes one window after the corrected contact; a correction that takes
 *     a success away raises the alert that was due all along, at once;
 *   - vigild --verify-db passes afterwards (a correction is an ordinary
 *     signed record, its link checked against its target_id).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alertkit.h"
#include "casekit.h"
#include "clikit.h"
#include "harness.h"
#include "proto/status.h"
#include "vigil.h"

#define COORD "se-stockholm-coord"
#define OTHER_COORD "se-goteborg-coord"   /* certificate other-coord */
#define POLICE "se-police-noa"
#define IOM "iom-ru-moscow"
#define SHELTER "se-shelter-1"
#define OWNER COORD "/"
#define HOUR (3600 * 1000LL)
#define PATIENCE_MS 10000

static const char *const PARTIES[] = { IOM, POLICE, SHELTER, OTHER_COORD };

static struct trelay R;

/* ---- libvigil ------------------------------------------------------------------------ */

static vigil_client *connect_as(const char *cert, int with_enc)
{
	char port[16], crt[700], key[700], ca[700], ckey[700], ecrt[700], ekey[700];
	snprintf(port, sizeof(port), "%d", R.port);
	snprintf(crt, sizeof(crt), "%s.crt", pki(cert));
	snprintf(key, sizeof(key), "%s.key", pki(cert));
	snprintf(ca, sizeof(ca), "%s", pki("ca.crt"));
	snprintf(ckey, sizeof(ckey), "%s", pki("checkpoint.pub"));
	snprintf(ecrt, sizeof(ecrt), "%s.enc.crt", pki(cert));
	snprintf(ekey, sizeof(ekey), "%s.enc.key", pki(cert));
	struct vigil_options o = { .host = "127.0.0.1", .port = port, .cert_file = crt,
		.key_file = key, .ca_file = ca, .checkpoint_key = ckey,
		.enc_cert_file = with_enc ? ecrt : NULL, .enc_key_file = with_enc ? ekey : NULL };
	struct vigil_error err;
	vigil_client *c = NULL;
	if (vigil_connect(&o, &c, &err) != VIGIL_OK)
		fail_msg("vigil_connect as %s: %s", cert, err.message);
	return c;
}

static int64_t open_case(vigil_client *c, const char *id, const char *risk)
{
	struct vigil_case_open o = { .case_id = id, .risk = risk, .return_country = "RU",
		.return_date = "2026-10-01", .parties = PARTIES, .n_parties = 4,
		.consent_scope = "share-with-parties" };
	struct vigil_receipt r;
	struct vigil_error err;
	if (vigil_submit_case_open(c, &o, &r, &err) != VIGIL_OK)
		fail_msg("case open %s: %s", id, err.message);
	return r.received_at_ms;
}

/* A contact attempt; its receipt in *r. */
static void contact(vigil_client *c, const char *id, const char *channel, const char *outcome,
		    int64_t at, struct vigil_receipt *r)
{
	struct vigil_contact ct = { .case_id = id, .channel = channel, .outcome = outcome,
		.attempted_at_ms = at };
	struct vigil_error err;
	if (vigil_submit_contact(c, &ct, r, &err) != VIGIL_OK)
		fail_msg("contact: %s", err.message);
}

/* A correction of a contact attempt: VIGIL_OK with *r, or the refusal in err. */
static int correct_contact(vigil_client *c, const char *id, const uint8_t target[16],
			   const char *reason, const char *channel, const char *outcome, int64_t at,
			   const char *note, struct vigil_receipt *r, struct vigil_error *err)
{
	struct vigil_correction k = { .case_id = id, .reason = reason, .kind = "contact",
		.channel = channel, .outcome = outcome, .attempted_at_ms = at, .note = note };
	memcpy(k.target_id, target, VIGIL_RECORD_ID_LEN);
	return vigil_submit_correction(c, &k, r, err);
}

static void expect_refused(int rc, const struct vigil_error *err, const char *code,
			   const char *message)
{
	if (rc != VIGIL_E_REFUSED || strcmp(err->relay_code_name, code) != 0 ||
	    strcmp(err->message, message) != 0)
		fail_msg("got %d %s \"%s\", expected %s \"%s\"", rc, err->relay_code_name,
			 err->message, code, message);
}

static struct vigil_case_status *status_of(vigil_client *c, const char *id)
{
	struct vigil_case_status *st = NULL;
	struct vigil_error err;
	if (vigil_case_status(c, id, &st, &err) != VIGIL_OK)
		fail_msg("status %s: %s", id, err.message);
	return st;
}

static long long next_event(const char *id)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT next_event_ms FROM cases WHERE case_id = '%s'", id);
	return db_int(&R, sql);
}

static const char *hex(const uint8_t id[16], char out[33])
{
	vigil_hex_encode(id, VIGIL_RECORD_ID_LEN, out);
	return out;
}

static int setup_plain(void **state)
{
	(void)state;
	trelay_setup(&R, NULL, NULL); /* the default windows: high 72 h */
	return trelay_start(&R);
}

static int teardown(void **state)
{
	(void)state;
	trelay_cleanup(&R);
	return 0;
}

/* ---- status and who may --------------------------------------------------------------- */

/* IOM reached her by SMS and typed phone / no answer.  Its correction makes
 * the status say what happened and moves the silence deadline to one
 * window after that contact; nobody else may correct IOM's record. */
static void test_correction_changes_status(void **state)
{
	(void)state;
	const char *id = OWNER "CORR-STATUS";
	vigil_client *coord = connect_as("se-stockholm-coord", 0);
	vigil_client *iom = connect_as("iom-ru-moscow", 0);
	int64_t opened = open_case(coord, id, "high");
	struct vigil_receipt orig, r;
	/* After the opening (which is the watchdog's base), and not after the
	 * relay receives it (a later time counts as the receipt's). */
	int64_t at = opened + 1;
	usleep(20000);
	contact(iom, id, "phone", "no-answer", at, &orig);
	struct vigil_case_status *st = status_of(coord, id);
	assert_string_equal(st->last_attempt_channel, "phone");
	assert_string_equal(st->last_attempt_outcome, "no-answer");
	assert_int_equal(st->last_success_ms, 0);
	assert_int_equal(st->failed_attempts, 1);
	vigil_free(st);
	assert_int_equal(next_event(id), opened + 72 * HOUR);

	/* Nobody but IOM corrects IOM's record: a coordinator party, the
	 * owner, police; a non-party learns nothing. */
	char h[33], want[256];
	snprintf(want, sizeof(want),
		 "only the organisation that wrote record %s (iom-ru-moscow) corrects it",
		 hex(orig.record_id, h));
	struct vigil_error err;
	int rc = correct_contact(coord, id, orig.record_id, "wrong-channel-or-outcome", "sms",
				 "reached-safe", at, NULL, &r, &err);
	expect_refused(rc, &err, "PERMISSION_DENIED", want);
	vigil_client *police = connect_as("se-police-noa", 0);
	rc = correct_contact(police, id, orig.record_id, "wrong-channel-or-outcome", "sms",
			     "reached-safe", at, NULL, &r, &err);
	expect_refused(rc, &err, "PERMISSION_DENIED", want);
	vigil_client *outsider = connect_as("other-iom", 0);
	rc = correct_contact(outsider, id, orig.record_id, "wrong-channel-or-outcome", "sms",
			     "reached-safe", at, NULL, &r, &err);
	snprintf(want, sizeof(want), "case %s not found", id);
	expect_refused(rc, &err, "NOT_FOUND", want);
	vigil_close(&outsider);
	vigil_close(&police);
	/* The owner sees who probed: a refused correction of a non-party. */
	assert_int_equal(db_int(&R, "SELECT count(*) FROM case_reads WHERE what = 'correct-refused' "
				    "AND org = 'iom-md-chisinau'"), 1);

	/* IOM corrects it. */
	rc = correct_contact(iom, id, orig.record_id, "wrong-channel-or-outcome", "sms",
			     "reached-safe", at, NULL, &r, &err);
	if (rc != VIGIL_OK)
		fail_msg("correction: %s", err.message);
	assert_true(r.index > orig.index);
	st = status_of(coord, id);
	assert_string_equal(st->last_attempt_channel, "sms");
	assert_string_equal(st->last_attempt_outcome, "reached-safe");
	assert_int_equal(st->last_success_ms, at);
	assert_int_equal(st->failed_attempts, 0);
	assert_int_equal(st->attempts, 1); /* one attempt, corrected: not two */
	assert_int_equal(st->entries, 3);  /* open, contact, correction */
	vigil_free(st);
	/* Police see the corrected codes too (their view's fields). */
	police = connect_as("se-police-noa", 0);
	st = status_of(police, id);
	assert_string_equal(st->view, "police");
	assert_string_equal(st->last_attempt_outcome, "reached-safe");
	vigil_free(st);
	vigil_close(&police);
	assert_int_equal(next_event(id), at + 72 * HOUR);
	/* The original is untouched: its bytes are the ones IOM signed. */
	char sql[200];
	snprintf(sql, sizeof(sql), "SELECT target_idx FROM corrections WHERE idx = %llu",
		 (unsigned long long)r.index);
	assert_int_equal(db_int(&R, sql), (long long)orig.index);
	vigil_close(&iom);
	vigil_close(&coord);
}

/* A correction of a correction corrects the original; the log marks both
 * ways; what is in force is the latest; a correction that changes nothing
 * is refused; a corrected note is sealed and opens for a reader. */
static void test_chain_and_log(void **state)
{
	(void)state;
	const char *id = OWNER "CORR-CHAIN";
	vigil_client *coord = connect_as("se-stockholm-coord", 1);
	vigil_client *iom = connect_as("iom-ru-moscow", 1);
	int64_t opened = open_case(coord, id, "medium");
	struct vigil_receipt orig, c1, c2, r;
	int64_t at = opened + 1;
	usleep(20000);
	contact(iom, id, "phone", "no-answer", at, &orig);
	struct vigil_error err;
	int rc = correct_contact(iom, id, orig.record_id, "wrong-channel-or-outcome", "sms",
				 "no-answer", at, NULL, &c1, &err);
	if (rc != VIGIL_OK)
		fail_msg("first correction: %s", err.message);
	/* Named by the first correction's id, it corrects the original, and
	 * carries a corrected note. */
	rc = correct_contact(iom, id, c1.record_id, "wrong-time", "sms", "no-answer", at - 60000,
			     "tried twice; the second call rang out", &c2, &err);
	if (rc != VIGIL_OK)
		fail_msg("second correction: %s", err.message);
	char sql[200];
	snprintf(sql, sizeof(sql), "SELECT target_idx FROM corrections WHERE idx = %llu",
		 (unsigned long long)c2.index);
	assert_int_equal(db_int(&R, sql), (long long)orig.index);
	/* The same again: nothing changes, by either name. */
	char h[33], want[256];
	rc = correct_contact(iom, id, orig.record_id, "other", "sms", "no-answer", at - 60000, NULL,
			     &r, &err);
	snprintf(want, sizeof(want), "the correction changes nothing: it gives the body in force "
		 "for record %s", hex(orig.record_id, h));
	expect_refused(rc, &err, "BAD_REQUEST", want);
	struct vigil_case_status *st = status_of(coord, id);
	assert_string_equal(st->last_attempt_channel, "sms");
	assert_int_equal(st->last_attempt_ms, at - 60000);
	vigil_free(st);

	/* The log: both marked, checked by libvigil against the records. */
	struct vigil_case_log *log = NULL;
	if (vigil_case_log(coord, id, &log, &err) != VIGIL_OK)
		fail_msg("case log: %s", err.message);
	assert_int_equal(log->n, 4);
	const struct vigil_case_log_entry *o = &log->entries[1], *e1 = &log->entries[2],
					   *e2 = &log->entries[3];
	assert_int_equal(o->entry.index, orig.index);
	assert_false(o->is_correction);
	assert_int_equal(o->n_corrected_by, 2);
	assert_int_equal(o->corrected_by[0], c1.index);
	assert_int_equal(o->corrected_by[1], c2.index);
	assert_true(e1->is_correction);
	assert_int_equal(e1->corrects, orig.index);
	assert_int_equal(e1->n_corrected_by, 0);
	assert_true(e2->is_correction);
	assert_int_equal(e2->corrects, orig.index);
	assert_false(log->entries[0].is_correction);
	struct vigil_record_info *ri = malloc(sizeof(*ri));
	assert_int_equal(vigil_record_decode(e2->entry.record, e2->entry.record_len, ri, &err),
			 VIGIL_OK);
	assert_string_equal(ri->kind, "correction");
	assert_string_equal(ri->corrected_kind, "contact");
	assert_string_equal(ri->correction_reason, "wrong-time");
	assert_memory_equal(ri->target_id, c1.record_id, VIGIL_RECORD_ID_LEN);
	assert_string_equal(ri->channel, "sms");
	assert_int_equal(ri->attempted_at_ms, at - 60000);
	assert_string_equal(ri->sealed_field, "note");
	/* The corrected note opens for a reader (the owner), checked against
	 * the correction's commitment. */
	char *text = NULL;
	if (vigil_open_sealed(coord, e2->entry.record, e2->entry.record_len, e2->entry.sealed,
			      e2->entry.sealed_len, &text, &err) != VIGIL_OK)
		fail_msg("open the corrected note: %s", err.message);
	assert_string_equal(text, "tried twice; the second call rang out");
	vigil_free(text);
	/* One page holding the original only: its corrections are listed. */
	vigil_free(log);
	if (vigil_case_log_page(coord, id, 1, orig.index - 1, 1, &log, &err) != VIGIL_OK)
		fail_msg("case log page: %s", err.message);
	assert_int_equal(log->n, 1);
	assert_int_equal(log->entries[0].n_corrected_by, 2);
	vigil_free(log);
	free(ri);
	vigil_close(&iom);
	vigil_close(&coord);
}

/* What is never corrected, and the rules a corrected body is held to. */
static void test_refusals(void **state)
{
	(void)state;
	const char *id = OWNER "CORR-REFUSE";
	const char *other = OWNER "CORR-OTHER";
	vigil_client *coord = connect_as("se-stockholm-coord", 0);
	vigil_client *iom = connect_as("iom-ru-moscow", 0);
	int64_t opened = open_case(coord, id, "high");
	open_case(coord, other, "high");
	struct vigil_receipt orig, elsewhere, r;
	contact(iom, id, "phone", "no-answer", opened + 1, &orig);
	contact(iom, other, "phone", "no-answer", opened + 1, &elsewhere);
	struct vigil_error err;
	char h[33], want[300];

	/* A handover offer drives who is responsible: never rewritten. */
	struct tclient raw = { .fd = -1 };
	if (tclient_open(&raw, R.port, "se-stockholm-coord") != 0)
		fail_msg("%s", raw.err);
	uint8_t offer_id[RECORD_ID_LEN];
	Vigil__V1__Frame *a = casekit_offer(&raw, id, IOM, offer_id, 1);
	assert_string_equal(casekit_outcome(a), "RECEIPT");
	frame_free(a);
	tclient_close(&raw);
	int rc = correct_contact(coord, id, offer_id, "data-entry-error", "sms", "no-answer",
				 opened + 1, NULL, &r, &err);
	snprintf(want, sizeof(want), "record %s is a handover offer, which is never corrected; only "
		 "contact attempts and risk assessments are", hex(offer_id, h));
	expect_refused(rc, &err, "BAD_REQUEST", want);

	/* Nor a case opening (found by its record id in the log). */
	struct vigil_case_log *log = NULL;
	if (vigil_case_log(coord, id, &log, &err) != VIGIL_OK)
		fail_msg("case log: %s", err.message);
	struct vigil_record_info *ri = malloc(sizeof(*ri));
	assert_int_equal(vigil_record_decode(log->entries[0].entry.record,
					     log->entries[0].entry.record_len, ri, &err), VIGIL_OK);
	assert_string_equal(ri->kind, "case-open");
	rc = correct_contact(coord, id, ri->record_id, "other", "sms", "no-answer", opened + 1, NULL,
			     &r, &err);
	snprintf(want, sizeof(want), "record %s is a case open, which is never corrected; only "
		 "contact attempts and risk assessments are", hex(ri->record_id, h));
	expect_refused(rc, &err, "BAD_REQUEST", want);
	vigil_free(log);
	free(ri);

	/* Only a record of this case, and one that exists. */
	rc = correct_contact(iom, id, elsewhere.record_id, "other", "sms", "no-answer", opened + 1,
			     NULL, &r, &err);
	snprintf(want, sizeof(want), "record %s is no entry of case %s",
		 hex(elsewhere.record_id, h), id);
	expect_refused(rc, &err, "NOT_FOUND", want);
	uint8_t nothing[RECORD_ID_LEN] = { 0xde, 0xad };
	rc = correct_contact(iom, id, nothing, "other", "sms", "no-answer", opened + 1, NULL, &r,
			     &err);
	snprintf(want, sizeof(want), "record %s is no entry of case %s", hex(nothing, h), id);
	expect_refused(rc, &err, "NOT_FOUND", want);

	/* A body of the record's kind. */
	const char *factors[] = { "witness" };
	struct vigil_correction k = { .case_id = id, .reason = "data-entry-error", .kind = "risk",
		.level = "low", .factors = factors, .n_factors = 1, .phase = "periodic" };
	memcpy(k.target_id, orig.record_id, VIGIL_RECORD_ID_LEN);
	rc = vigil_submit_correction(iom, &k, &r, &err);
	snprintf(want, sizeof(want), "record %s is a contact attempt; its correction gives a contact "
		 "attempt", hex(orig.record_id, h));
	expect_refused(rc, &err, "BAD_REQUEST", want);

	/* The corrected time, against the original's receipt (as if it had
	 * been submitted so); against the relay's clock, like a new record. */
	int64_t received = orig.received_at_ms, skew = 300 * 1000;
	rc = correct_contact(iom, id, orig.record_id, "wrong-time", "phone", "no-answer",
			     received + skew + 1, NULL, &r, &err);
	char t1[VIGIL_TIME_LEN], t2[VIGIL_TIME_LEN];
	vigil_format_time(received + skew + 1, t1, sizeof(t1));
	vigil_format_time(received, t2, sizeof(t2));
	snprintf(want, sizeof(want), "attempted_at_ms %s is later than the relay's receive time of "
		 "record %s, %s, plus max_clock_skew (300 s)", t1, hex(orig.record_id, h), t2);
	expect_refused(rc, &err, "BAD_REQUEST", want);
	rc = correct_contact(iom, id, orig.record_id, "wrong-time", "phone", "no-answer",
			     received + 24 * HOUR, NULL, &r, &err);
	assert_int_equal(rc, VIGIL_E_REFUSED);
	assert_true(strncmp(err.message, "attempted_at_ms ", 16) == 0);
	assert_non_null(strstr(err.message, "is later than the relay's time"));

	/* A closed case takes no correction. */
	struct vigil_case_close cl = { .case_id = id, .reason = "monitoring-completed" };
	if (vigil_submit_case_close(coord, &cl, &r, &err) != VIGIL_OK)
		fail_msg("close: %s", err.message);
	rc = correct_contact(iom, id, orig.record_id, "other", "sms", "no-answer", opened + 1, NULL,
			     &r, &err);
	snprintf(want, sizeof(want), "case %s is closed; its owner reopens it with a case open", id);
	expect_refused(rc, &err, "BAD_REQUEST", want);
	vigil_close(&iom);
	vigil_close(&coord);
}

/* ---- the tool -------------------------------------------------------------------------- */

static struct cli_result *vigil_as(const char *who, ...)
{
	static struct cli_args a;
	static struct cli_result res;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add_conn(&a, R.port, who, "ca.crt");
	va_list ap;
	va_start(ap, who);
	cli_addv(&a, ap);
	va_end(ap);
	res.status = cli_run(&a, NULL, res.out, sizeof(res.out), res.err, sizeof(res.err));
	return &res;
}

/* vigil correct takes the fields not given from the record in force, vigil
 * log marks both entries, vigil status shows the corrected values; police,
 * who do not read the log, give every field of their assessment. */
static void test_cli(void **state)
{
	(void)state;
	const char *id = OWNER "CORR-CLI";
	vigil_client *coord = connect_as("se-stockholm-coord", 0);
	vigil_client *iom = connect_as("iom-ru-moscow", 0);
	int64_t opened = open_case(coord, id, "high");
	struct vigil_receipt orig;
	usleep(20000);
	contact(iom, id, "phone", "no-answer", opened + 1, &orig);
	char h[33], line[256];
	hex(orig.record_id, h);

	struct cli_result *r = vigil_as("iom-ru-moscow", "correct", "--case", id, "--record-id", h,
					"--reason", "wrong-channel-or-outcome", "--outcome",
					"reached-concern", NULL);
	cli_expect_ok(r);
	snprintf(line, sizeof(line), "case %s: entry %llu corrected\nentry ", id,
		 (unsigned long long)orig.index);
	if (strncmp(r->out, line, strlen(line)) != 0)
		fail_msg("no '%s' in: %s", line, r->out);
	snprintf(line, sizeof(line), "\ncorrects: %llu\n", (unsigned long long)orig.index);
	if (!strstr(r->out, line))
		fail_msg("no '%s' in: %s", line + 1, r->out);
	unsigned long long corr = 0;
	assert_int_equal(sscanf(strchr(r->out, '\n') + 1, "entry %llu at", &corr), 1);
	/* Only the outcome changed: the channel and time are the original's. */
	struct vigil_case_status *st = status_of(coord, id);
	assert_string_equal(st->last_attempt_channel, "phone");
	assert_string_equal(st->last_attempt_outcome, "reached-concern");
	assert_int_equal(st->last_attempt_ms, opened + 1);
	assert_int_equal(st->last_success_ms, opened + 1);
	vigil_free(st);

	r = vigil_as("se-stockholm-coord", "status", id, NULL);
	cli_expect_ok(r);
	assert_non_null(strstr(r->out, "phone reached-concern\n"));

	r = vigil_as("se-stockholm-coord", "log", id, NULL);
	cli_expect_ok(r);
	snprintf(line, sizeof(line), " corrected-by=%llu\n", corr);
	if (!strstr(r->out, line))
		fail_msg("no '%s' in: %s", line, r->out);
	snprintf(line, sizeof(line), "%llu ", corr);
	const char *cl = strstr(r->out, line);
	assert_non_null(cl);
	snprintf(line, sizeof(line), " iom-ru-moscow correction corrects=%llu record=%s "
		 "reason=wrong-channel-or-outcome body=contact channel=phone outcome=reached-concern",
		 (unsigned long long)orig.index, h);
	if (!strstr(cl, line))
		fail_msg("no '%s' in: %s", line, r->out);

	r = vigil_as("se-stockholm-coord", "--json", "log", id, NULL);
	cli_expect_ok(r);
	const char *entries = jmust(r->out, "entries");
	const char *eo = jnth(entries, 1), *ec = jnth(entries, 2);
	assert_non_null(eo);
	assert_non_null(ec);
	assert_true(strncmp(jmust(eo, "corrects"), "null", 4) == 0);
	assert_int_equal(jnum(jnth(jmust(eo, "corrected_by"), 0)), corr);
	assert_int_equal(jnum(jmust(ec, "corrects")), orig.index);
	const char *body = jmust(ec, "body");
	expect_member(body, "target_id", h);
	expect_member(body, "reason", "wrong-channel-or-outcome");
	expect_member(body, "kind", "contact");
	expect_member(body, "outcome", "reached-concern");

	/* Not the author: the relay's refusal, exit status 1. */
	r = vigil_as("se-stockholm-coord", "correct", "--case", id, "--record-id", h, "--reason",
		     "other", "--channel", "sms", NULL);
	cli_expect_status(r, 1);
	snprintf(line, sizeof(line), "vigil: refused by relay: PERMISSION_DENIED: only the "
		 "organisation that wrote record %s (iom-ru-moscow) corrects it\n", h);
	assert_string_equal(r->err, line);

	/* Police assessed the risk; they read no records, so they give every
	 * field. */
	struct vigil_risk ra = { .case_id = id, .level = "high", .phase = "on-arrival" };
	vigil_client *police = connect_as("se-police-noa", 0);
	struct vigil_receipt rr;
	struct vigil_error err;
	if (vigil_submit_risk(police, &ra, &rr, &err) != VIGIL_OK)
		fail_msg("risk: %s", err.message);
	vigil_close(&police);
	char rh[33];
	hex(rr.record_id, rh);
	r = vigil_as("se-police-noa", "correct", "--case", id, "--record-id", rh, "--reason",
		     "data-entry-error", "--level", "medium", NULL);
	cli_expect_status(r, 2);
	assert_non_null(strstr(r->err, "vigil: correct: no assessment phase given (the case's log, "
				       "where the record's other fields are, is not ours to read: "));
	r = vigil_as("se-police-noa", "correct", "--case", id, "--record-id", rh, "--reason",
		     "data-entry-error", "--level", "medium", "--phase", "on-arrival", "--factor",
		     "witness", NULL);
	cli_expect_ok(r);
	st = status_of(coord, id);
	assert_string_equal(st->risk, "medium");
	assert_int_equal(st->n_factors, 1);
	assert_string_equal(st->factors[0], "witness");
	vigil_free(st);
	/* The owner corrects nothing of police's. */
	r = vigil_as("se-stockholm-coord", "correct", "--case", id, "--record-id", rh, "--reason",
		     "other", "--no-immediate-danger", "--level", "low", NULL);
	cli_expect_status(r, 1);

	/* What the verified log says the record is decides which fields fit. */
	r = vigil_as("iom-ru-moscow", "correct", "--case", id, "--record-id", h, "--reason",
		     "other", "--level", "low", NULL);
	snprintf(line, sizeof(line), "correct: record %s is a contact attempt (entry %llu of the "
		 "case's log): give the fields of a contact attempt", h,
		 (unsigned long long)orig.index);
	cli_expect_usage(r, line);

	/* Usage errors cost no connection. */
	r = vigil_as("iom-ru-moscow", "correct", "--case", id, "--record-id", h, "--reason",
		     "other", "--channel", "sms", "--level", "low", NULL);
	cli_expect_usage(r, "correct: give the fields of a contact attempt (--channel, --outcome, "
			    "--at, --note) or of a risk assessment (--level, --factor, --phase, "
			    "--immediate-danger), not both");
	r = vigil_as("iom-ru-moscow", "correct", "--case", id, "--record-id", h, "--reason",
		     "other", NULL);
	cli_expect_usage(r, "correct: nothing to correct: give the fields that change");
	r = vigil_as("iom-ru-moscow", "correct", "--case", id, "--record-id", "12", "--reason",
		     "other", "--channel", "sms", NULL);
	cli_expect_usage(r, "correct: --record-id wants 32 hex digits, not '12'");
	vigil_close(&iom);
	vigil_close(&coord);
}

/* A correction is an ordinary signed record: the audit passes, and checks
 * each correction's link against its signed target_id. */
static void test_verify_db(void **state)
{
	(void)state;
	assert_int_equal(trelay_stop(&R), 0);
	char out[2048];
	const char *args[] = { "vigild", "-c", R.conf, "--verify-db", NULL };
	if (run_vigild(args, out, sizeof(out)) != 0)
		fail_msg("--verify-db: %s", out);
	assert_true(strncmp(out, "log OK: ", 8) == 0);
	/* A link that the records do not bear out is found. */
	assert_int_equal(db_change(&R, "UPDATE corrections SET target_idx = target_idx - 1 WHERE idx = "
				     "(SELECT max(idx) FROM corrections)"), 0);
	assert_int_equal(run_vigild(args, out, sizeof(out)), 1);
	assert_non_null(strstr(out, ": its row in corrections names another original than its "
				    "record\n"));
}

/* ---- the watchdog ---------------------------------------------------------------------- */

/* high 6 s; no early alert, no escalation within a test. */
#define WATCH "[watchdog]\nhigh = 6s\nmedium = 1h\nlow = 1h\nfailed_attempts = 1000000\n" \
	      "handover_window = 1h\nescalate_after = 1h\n"
#define WINDOW_MS 6000

/* The last index of the log: a subscription after it gets this test's
 * alerts only. */
static uint64_t log_size(void)
{
	return (uint64_t)db_int(&R, "SELECT max(idx) FROM entries");
}

static int setup_alerts(void **state)
{
	if (alertkit_load_keys(state) != 0)
		return -1;
	trelay_setup(&R, NULL, WATCH);
	return trelay_start(&R);
}

static int teardown_alerts(void **state)
{
	trelay_cleanup(&R);
	return alertkit_free_keys(state);
}

/* The alert came for a silence that was none: IOM reached her, reported
 * "no answer", and corrects it.  The alert is resolved ("corrected"), and
 * the next one comes one window after the corrected contact, as if it had
 * been reported right. */
static void test_alert_resolved_by_correction(void **state)
{
	(void)state;
	const char *id = OWNER "CORR-ALERT-1";
	struct alertkit_sub s;
	alertkit_subscribe(&s, R.port, "se-stockholm-coord", log_size());
	vigil_client *coord = connect_as("se-stockholm-coord", 0);
	vigil_client *iom = connect_as("iom-ru-moscow", 0);
	int64_t opened = open_case(coord, id, "high");
	struct alertkit_got g;
	alertkit_must_alert(&s, WINDOW_MS + PATIENCE_MS, &g, "the silence alert");
	assert_int_equal(g.stage, 1);
	assert_int_equal(g.received_at_ms >= opened + WINDOW_MS, 1);
	uint8_t alert_id[RECORD_ID_LEN];
	memcpy(alert_id, g.alert_id, RECORD_ID_LEN);
	/* The attempt, reported after the alert, as a failure... */
	struct vigil_receipt orig, r;
	contact(iom, id, "phone", "no-answer", alertkit_wall_ms(), &orig);
	/* ... was a success: corrected at once, well within the window. */
	struct vigil_error err;
	if (correct_contact(iom, id, orig.record_id, "wrong-channel-or-outcome", "phone",
			    "reached-safe", orig.received_at_ms, NULL, &r, &err) != VIGIL_OK)
		fail_msg("correction: %s", err.message);
	if (r.received_at_ms >= orig.received_at_ms + WINDOW_MS)
		fail_msg("the correction came %lld ms after the contact: too late for this test",
			 (long long)(r.received_at_ms - orig.received_at_ms));
	alertkit_must_alert(&s, PATIENCE_MS, &g, "the resolution");
	assert_int_equal(g.stage, 0);
	assert_string_equal(g.resolution, "corrected");
	assert_memory_equal(g.alert_id, alert_id, RECORD_ID_LEN);
	assert_int_equal(g.last_success_ms, orig.received_at_ms);
	struct vigil_case_status *st = status_of(coord, id);
	assert_int_equal(st->alert_stage, 0);
	vigil_free(st);
	/* The next alert: one window after the corrected contact, not before. */
	alertkit_must_alert(&s, WINDOW_MS + PATIENCE_MS, &g, "the next silence alert");
	assert_int_equal(g.stage, 1);
	assert_int_equal(g.last_success_ms, orig.received_at_ms);
	if (g.received_at_ms < orig.received_at_ms + WINDOW_MS)
		fail_msg("the next alert came %lld ms after the corrected contact, before the window",
			 (long long)(g.received_at_ms - orig.received_at_ms));
	vigil_close(&iom);
	vigil_close(&coord);
	tclient_close(&s.c);
}

/* A success that was none: with the correction the deadline falls back to
 * one window after the opening, which has passed, and the alert that was
 * due all along is raised at once, before the old deadline. */
static void test_alert_raised_by_correction(void **state)
{
	(void)state;
	const char *id = OWNER "CORR-ALERT-2";
	struct alertkit_sub s;
	alertkit_subscribe(&s, R.port, "se-stockholm-coord", log_size());
	vigil_client *coord = connect_as("se-stockholm-coord", 0);
	vigil_client *iom = connect_as("iom-ru-moscow", 0);
	int64_t opened = open_case(coord, id, "high");
	alertkit_sleep_until(opened + WINDOW_MS / 2);
	struct vigil_receipt orig, r;
	int64_t at = alertkit_wall_ms();
	contact(iom, id, "phone", "reached-safe", at, &orig);
	/* Past the opening's deadline, the success holds the alert back. */
	alertkit_sleep_until(opened + WINDOW_MS + 300);
	struct alertkit_got g;
	if (alertkit_next_alert(&s, 1, &g))
		fail_msg("an alert before the correction: case %s, kind %d, stage %d, position "
			 "%llu at +%lld ms, contact +%lld ms, success %lld", g.case_id, g.kind, g.stage,
			 (unsigned long long)g.position, (long long)(g.received_at_ms - opened),
			 (long long)(orig.received_at_ms - opened), (long long)(g.last_success_ms - opened));
	struct vigil_error err;
	if (correct_contact(iom, id, orig.record_id, "wrong-channel-or-outcome", "phone",
			    "no-answer", at, NULL, &r, &err) != VIGIL_OK)
		fail_msg("correction: %s", err.message);
	alertkit_must_alert(&s, PATIENCE_MS, &g, "the alert due all along");
	assert_int_equal(g.stage, 1);
	assert_int_equal(g.last_success_ms, 0);
	if (g.received_at_ms >= orig.received_at_ms + WINDOW_MS)
		fail_msg("raised %lld ms after the old deadline",
			 (long long)(g.received_at_ms - orig.received_at_ms - WINDOW_MS));
	vigil_close(&iom);
	vigil_close(&coord);
	tclient_close(&s.c);
}

int main(void)
{
	const struct CMUnitTest plain[] = {
		cmocka_unit_test(test_correction_changes_status),
		cmocka_unit_test(test_chain_and_log),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_cli),
		cmocka_unit_test(test_verify_db),
	};
	const struct CMUnitTest alerts[] = {
		cmocka_unit_test(test_alert_resolved_by_correction),
		cmocka_unit_test(test_alert_raised_by_correction),
	};
	int failed = cmocka_run_group_tests_name("corrections", plain, setup_plain, teardown);
	failed += cmocka_run_group_tests_name("corrections and the watchdog", alerts, setup_alerts,
					      teardown_alerts);
	return failed;
}
