/*
 * casequery.c - the case queries on the command line:
 *
 *   vigil status ID         the case's current status
 *   vigil log ID            the case's records, every proof verified
 *   vigil cases             the cases our organisation is a party to
 *   vigil case readers ID   who read the case, what and when
 *
 * libvigil checks each answer (and, for the log, the checkpoint and every
 * inclusion proof) before anything is printed.  The status shows what the
 * relay sent and nothing it withheld: police receive the first ten fields
 * only, so for them the lines (and JSON members) after "alert stage" are
 * left out entirely; the organisation a pending offer names sees the case,
 * state, responsible organisation, risk, minor flag and the offer, and no
 * line of her contact history.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

int cli_query_args(struct settings *s, int argc, char *argv[], int want_id, const char *name,
		   void (*help)(FILE *), const char **case_id)
{
	static const struct option options[] = { CLI_GLOBAL_OPTIONS, { NULL, 0, NULL, 0 } };
	int opt;
	*case_id = NULL;
	/* No '+': options may follow the case id ("vigil status ID --json"). */
	while ((opt = getopt_long(argc, argv, ":c:h", options, NULL)) != -1) {
		if (opt == '?' || opt == ':')
			return cli_getopt_error(opt, argv);
		if (opt == 'h') {
			help(stdout);
			return -1;
		}
		int r = cli_global_option(s, opt, optarg);
		if (r != 0)
			return r > 0 ? r : cli_usage_error("unexpected option");
	}
	if (want_id && optind >= argc)
		return cli_usage_error("%s: give the case id: vigil %s ID", name, name);
	if (want_id)
		*case_id = argv[optind++];
	if (optind < argc)
		return cli_usage_error("%s: unexpected argument '%s'", name, argv[optind]);
	struct vigil_error err;
	if (want_id && vigil_case_id_check(*case_id, &err) != VIGIL_OK)
		return cli_usage_error("%s: %s", name, err.message);
	return 0;
}

/* Runs a query's argument parsing and connects: 0 with *c, -1 after --help
 * (exit 0), or an exit status. */
static int query_start(struct settings *s, int argc, char *argv[], int want_id,
		       const char *name, void (*help)(FILE *), const char **case_id,
		       vigil_client **c)
{
	*c = NULL;
	int rc = cli_query_args(s, argc, argv, want_id, name, help, case_id);
	if (rc != 0)
		return rc;
	return cli_connect(s, c);
}

static int query_failed(const struct settings *s, const struct vigil_error *err)
{
	output_failure(err, s->json);
	return cli_exit_status(err->status);
}

static const char *yes_no(int b)
{
	return b ? "yes" : "no";
}

static void time_or_none(int64_t ms, char *out, size_t n)
{
	if (ms > 0)
		vigil_format_time(ms, out, n);
	else
		snprintf(out, n, "none");
}

/* ---- status ------------------------------------------------------------------------- */

static void status_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] status ID\n"
		   "\n"
		   "Shows the current status of case ID (any party may ask; the relay records\n"
		   "the read):\n"
		   "\n"
		   "  case, state, responsible (organisation), risk, minor, last attempt (time,\n"
		   "  channel, outcome), last successful contact, alert stage (with its\n"
		   "  meaning), the open alert's id and kind (for police once it reached\n"
		   "  stage 2)\n"
		   "\n"
		   "and, for every party but police, who receive the lines above only (the\n"
		   "organisation a pending offer names, before it is a party, sees only case,\n"
		   "state, responsible, risk, minor and the pending offer):\n"
		   "\n"
		   "  next deadline (when the watchdog next acts: a silence deadline, an\n"
		   "  escalation, a stalled handover), parties, immediate danger, factors,\n"
		   "  pending offer (to, offer id), attempts,\n"
		   "  failed attempts (since the last success), return (country, date), opened,\n"
		   "  entries, consent (scope) or override, close reason (when closed)\n"
		   "\n"
		   "Every answer shows its view (full, police or offered) and the case's owner.\n"
		   "A corrected contact attempt or risk assessment counts as corrected (vigil\n"
		   "correct): the last attempt, the last success, the failed attempts and the\n"
		   "risk are what the records in force say.\n"
		   "With --json one object: case_id, view, owner, state, responsible, risk, minor,\n"
		   "last_attempt, last_attempt_channel, last_attempt_outcome, last_success,\n"
		   "alert_stage, alert_stage_label, alert_id, alert_kind (not for the offered\n"
		   "view); then, for the full view: next_deadline, parties, immediate_danger,\n"
		   "factors,\n"
		   "pending_offer_to, pending_offer_id, attempts, failed_attempts,\n"
		   "return_country, return_date, opened_at, entries, consent_scope, override,\n"
		   "close_reason.  A withheld field is absent, never null or zero.  Times\n"
		   "are RFC 3339, null when there is none.\n");
}

#define LABEL "%-25s"

static void pending_offer_text(const struct vigil_case_status *st)
{
	char id[2 * VIGIL_RECORD_ID_LEN + 1];
	vigil_hex_encode(st->pending_offer_id, VIGIL_RECORD_ID_LEN, id);
	printf(LABEL "to %s, offer id %s\n", "pending offer:", st->pending_offer_to, id);
}

static void pending_offer_json(FILE *f, int *n, const struct vigil_case_status *st)
{
	json_key(f, n, "pending_offer_to");
	json_write_string_or_null(f, st->has_pending_offer ? st->pending_offer_to : NULL);
	json_key(f, n, "pending_offer_id");
	if (st->has_pending_offer)
		json_write_hex(f, st->pending_offer_id, VIGIL_RECORD_ID_LEN);
	else
		fputs("null", f);
}

static void status_text(const struct vigil_case_status *st)
{
	char t[VIGIL_TIME_LEN];
	printf(LABEL "%s\n", "case:", st->case_id);
	printf(LABEL "%s%s\n", "view:", st->view,
	       strcmp(st->view, "full") == 0 ? "" : " (the relay withholds the other fields)");
	if (st->owner[0])
		printf(LABEL "%s\n", "owner:", st->owner);
	printf(LABEL "%s\n", "state:", st->state);
	printf(LABEL "%s\n", "responsible:", st->responsible);
	printf(LABEL "%s\n", "risk:", st->risk);
	printf(LABEL "%s\n", "minor:", yes_no(st->minor));
	if (!st->full && st->has_pending_offer)
		pending_offer_text(st);
	if (strcmp(st->view, "offered") == 0)
		return;
	if (st->last_attempt_ms > 0) {
		vigil_format_time(st->last_attempt_ms, t, sizeof(t));
		printf(LABEL "%s %s %s\n", "last attempt:", t, st->last_attempt_channel,
		       st->last_attempt_outcome);
	} else {
		printf(LABEL "none\n", "last attempt:");
	}
	time_or_none(st->last_success_ms, t, sizeof(t));
	printf(LABEL "%s\n", "last successful contact:", t);
	if (st->alert_stage)
		printf(LABEL "%s\n", "alert stage:", vigil_alert_stage_label(st->alert_stage));
	else
		printf(LABEL "0 (no open alert)\n", "alert stage:");
	if (st->has_alert_id) {
		char id[2 * VIGIL_RECORD_ID_LEN + 1];
		vigil_hex_encode(st->alert_id, VIGIL_RECORD_ID_LEN, id);
		printf(LABEL "%s (%s)\n", "open alert:", id, st->alert_kind);
	}
	if (!st->full)
		return;
	time_or_none(st->next_event_ms, t, sizeof(t));
	printf(LABEL "%s\n", "next deadline:", t);
	printf(LABEL, "parties:");
	for (size_t i = 0; i < st->n_parties; i++)
		printf("%s%s", i ? ", " : "", st->parties[i]);
	printf("\n" LABEL "%s\n", "immediate danger:", yes_no(st->immediate_danger));
	printf(LABEL, "factors:");
	for (size_t i = 0; i < st->n_factors; i++)
		printf("%s%s", i ? ", " : "", st->factors[i]);
	printf("%s\n", st->n_factors ? "" : "none");
	if (st->has_pending_offer)
		pending_offer_text(st);
	printf(LABEL "%u\n", "attempts:", st->attempts);
	printf(LABEL "%u\n", "failed attempts:", st->failed_attempts);
	printf(LABEL "%s %s\n", "return:", st->return_country, st->return_date);
	time_or_none(st->opened_at_ms, t, sizeof(t));
	printf(LABEL "%s\n", "opened:", t);
	printf(LABEL "%llu\n", "entries:", (unsigned long long)st->entries);
	if (st->override)
		printf(LABEL "override (risk_to_life)\n", "consent:");
	else
		printf(LABEL "%s\n", "consent:", st->consent_scope);
	if (st->close_reason[0])
		printf(LABEL "%s\n", "close reason:", st->close_reason);
}

static void status_json(const struct vigil_case_status *st)
{
	FILE *f = stdout;
	int n = 0;
	fputc('{', f);
	json_key(f, &n, "case_id");
	json_write_string(f, st->case_id);
	json_key(f, &n, "view");
	json_write_string(f, st->view);
	json_key(f, &n, "owner");
	json_write_string_or_null(f, st->owner);
	json_key(f, &n, "state");
	json_write_string(f, st->state);
	json_key(f, &n, "responsible");
	json_write_string(f, st->responsible);
	json_key(f, &n, "risk");
	json_write_string(f, st->risk);
	json_key(f, &n, "minor");
	fputs(st->minor ? "true" : "false", f);
	if (!st->full && st->has_pending_offer)
		pending_offer_json(f, &n, st);
	if (strcmp(st->view, "offered") == 0) {
		fputs("}\n", f);
		return;
	}
	json_key(f, &n, "last_attempt");
	json_write_time(f, st->last_attempt_ms);
	json_key(f, &n, "last_attempt_channel");
	json_write_string_or_null(f, st->last_attempt_channel);
	json_key(f, &n, "last_attempt_outcome");
	json_write_string_or_null(f, st->last_attempt_outcome);
	json_key(f, &n, "last_success");
	json_write_time(f, st->last_success_ms);
	json_key(f, &n, "alert_stage");
	fprintf(f, "%u", st->alert_stage);
	json_key(f, &n, "alert_stage_label");
	json_write_string(f, vigil_alert_stage_label(st->alert_stage));
	json_key(f, &n, "alert_id");
	if (st->has_alert_id)
		json_write_hex(f, st->alert_id, VIGIL_RECORD_ID_LEN);
	else
		fputs("null", f);
	json_key(f, &n, "alert_kind");
	json_write_string_or_null(f, st->has_alert_id ? st->alert_kind : NULL);
	if (st->full) {
		json_key(f, &n, "next_deadline");
		json_write_time(f, st->next_event_ms);
		json_key(f, &n, "parties");
		json_write_strings(f, st->parties, st->n_parties);
		json_key(f, &n, "immediate_danger");
		fputs(st->immediate_danger ? "true" : "false", f);
		json_key(f, &n, "factors");
		json_write_strings(f, st->factors, st->n_factors);
		pending_offer_json(f, &n, st);
		json_key(f, &n, "attempts");
		fprintf(f, "%u", st->attempts);
		json_key(f, &n, "failed_attempts");
		fprintf(f, "%u", st->failed_attempts);
		json_key(f, &n, "return_country");
		json_write_string(f, st->return_country);
		json_key(f, &n, "return_date");
		json_write_string(f, st->return_date);
		json_key(f, &n, "opened_at");
		json_write_time(f, st->opened_at_ms);
		json_key(f, &n, "entries");
		fprintf(f, "%llu", (unsigned long long)st->entries);
		json_key(f, &n, "consent_scope");
		json_write_string_or_null(f, st->consent_scope);
		json_key(f, &n, "override");
		fputs(st->override ? "true" : "false", f);
		json_key(f, &n, "close_reason");
		json_write_string_or_null(f, st->close_reason);
	}
	fputs("}\n", f);
}

int cmd_status(struct settings *s, int argc, char *argv[])
{
	const char *case_id;
	vigil_client *c;
	int rc = query_start(s, argc, argv, 1, "status", status_help, &case_id, &c);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	struct vigil_case_status *st = NULL;
	struct vigil_error err;
	rc = vigil_case_status(c, case_id, &st, &err);
	vigil_close(&c);
	if (rc != VIGIL_OK)
		return query_failed(s, &err);
	if (s->json)
		status_json(st);
	else
		status_text(st);
	vigil_free(st);
	return 0;
}

/* ---- log ------------------------------------------------------------------------------- */

static void log_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] log ID\n"
		   "\n"
		   "Shows every record of case ID (for coordinator, iom and shelter parties\n"
		   "and the responsible party), after verifying the relay's answer: its\n"
		   "checkpoint with the checkpoint key, each entry's leaf hash, and each\n"
		   "entry's inclusion proof to that checkpoint.  One line per entry:\n"
		   "\n"
		   "  INDEX RECEIVED-AT AUTHOR KIND FIELD=VALUE ...\n"
		   "\n"
		   "with the coded fields of the record, then its free text, if any (note,\n"
		   "justification, decline-reason or reason), as a JSON string: free text is\n"
		   "sealed to the case's readers, and opened with --enc-cert and --enc-key\n"
		   "(each checked against the record's commitment); it shows as [sealed] when\n"
		   "our organisation is no reader of it or no encryption key is given.\n"
		   "Corrections (vigil correct) are marked: a correction shows 'correction\n"
		   "corrects=M record=HEX reason=R body=KIND' and the corrected fields, the\n"
		   "record it corrects ends with 'corrected-by=N[,N...]' (the last one is in\n"
		   "force; status and alerts use it).  Then 'verified: N entries, every\n"
		   "inclusion proof leads to the checkpoint of size M'.  Exit status 3 when\n"
		   "anything fails to verify, a sealed text included.\n"
		   "\n"
		   "With --json one object: case_id, checkpoint (the signed note),\n"
		   "checkpoint_size, verified, and entries: index, received_at, author, kind,\n"
		   "record_id, leaf_hash, cert_sha256, record and signature (base64),\n"
		   "inclusion_proof, body (the record's fields, free text included: null\n"
		   "when there is none or it stays sealed, and then also\n"
		   "\"note_sealed\":true, \"override_justification_sealed\":true,\n"
		   "\"decline_reason_sealed\":true or \"reason_sealed\":true; a correction's:\n"
		   "target_id, reason, kind and the corrected fields), corrects (the index of\n"
		   "the record a correction corrects, else null) and corrected_by (the indexes\n"
		   "of its corrections, ascending).\n"
		   "\n"
		   "The relay answers in pages; without --limit and --after, vigil asks for\n"
		   "page after page and shows the whole log (a case's readers list shows one\n"
		   "log read per page).  One page only:\n"
		   "\n"
		   "  --limit N      at most N entries (1..1000; default 100)\n"
		   "  --after INDEX  the entries with a log index above INDEX (default: from\n"
		   "                 the first)\n"
		   "\n"
		   "When the case has entries past the page, the last line is 'more: vigil\n"
		   "log ID --after INDEX' (with --json: more, true or false).\n");
}

static void print_hex_id(const char *key, const uint8_t id[VIGIL_RECORD_ID_LEN])
{
	char hex[2 * VIGIL_RECORD_ID_LEN + 1];
	vigil_hex_encode(id, VIGIL_RECORD_ID_LEN, hex);
	printf(" %s=%s", key, hex);
}

static void print_list(const char *key, const char *const *v, size_t n)
{
	printf(" %s=", key);
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? "," : "", v[i]);
	if (n == 0)
		printf("none");
}

/*
 * The record's free text: the member of struct vigil_record_info that holds
 * it (its name is also the JSON key); 0 for a kind without one.  A sealed
 * text is put there once it is opened (open_texts).
 */
struct free_text {
	const char *key;       /* JSON key: "note", "override_justification", ... */
	const char *text_key;  /* key of the text line: "note", "justification", ... */
	char *text;
	size_t size;
};

static int free_text_of(struct vigil_record_info *ri, struct free_text *ft)
{
	const char *k = ri->kind;
	if (!strcmp(k, "contact") || !strcmp(ri->corrected_kind, "contact"))
		*ft = (struct free_text){ "note", "note", ri->note, sizeof(ri->note) };
	else if ((!strcmp(k, "case-open") || !strcmp(k, "handover-offer")) && ri->override)
		*ft = (struct free_text){ "override_justification", "justification",
					  ri->override_justification,
					  sizeof(ri->override_justification) };
	else if (!strcmp(k, "handover-answer") && !ri->accept)
		*ft = (struct free_text){ "decline_reason", "decline-reason", ri->decline_reason,
					  sizeof(ri->decline_reason) };
	else if (!strcmp(k, "alert-ack"))
		*ft = (struct free_text){ "reason", "reason", ri->reason, sizeof(ri->reason) };
	else
		return 0;
	return 1;
}

/* " KEY=\"text\"" (JSON-escaped, so one line), " KEY=[sealed]", " KEY=[erased]"
 * (sealed 2), or nothing when there is no text. */
static void free_text_line(struct vigil_record_info *ri, int sealed)
{
	struct free_text ft;
	if (!free_text_of(ri, &ft))
		return;
	if (sealed == 2)
		printf(" %s=[erased]", ft.text_key);
	else if (sealed)
		printf(" %s=[sealed]", ft.text_key);
	else if (ft.text[0]) {
		printf(" %s=", ft.text_key);
		json_write_string(stdout, ft.text);
	}
}

static void contact_text(const struct vigil_record_info *ri)
{
	char t[VIGIL_TIME_LEN];
	vigil_format_time(ri->attempted_at_ms, t, sizeof(t));
	printf(" channel=%s outcome=%s attempted-at=%s", ri->channel, ri->outcome, t);
}

static void risk_text(const struct vigil_record_info *ri)
{
	printf(" level=%s", ri->risk);
	print_list("factors", ri->factors, ri->n_factors);
	printf(" immediate-danger=%s phase=%s", yes_no(ri->immediate_danger), ri->phase);
}

/* The coded fields of a record, " key=value" each. */
static void body_text(const struct vigil_record_info *ri)
{
	char t[VIGIL_TIME_LEN];
	const char *parties[VIGIL_PARTIES_MAX];
	const char *k = ri->kind;
	if (!strcmp(k, "contact")) {
		contact_text(ri);
	} else if (!strcmp(k, "correction")) {
		print_hex_id("record", ri->target_id);
		printf(" reason=%s body=%s", ri->correction_reason, ri->corrected_kind);
		if (!strcmp(ri->corrected_kind, "contact"))
			contact_text(ri);
		else
			risk_text(ri);
	} else if (!strcmp(k, "case-open")) {
		printf(" risk=%s minor=%s return-country=%s return-date=%s", ri->risk,
		       yes_no(ri->minor), ri->return_country, ri->return_date);
		for (size_t i = 0; i < ri->n_parties; i++)
			parties[i] = ri->parties[i];
		print_list("parties", parties, ri->n_parties);
		if (ri->override) {
			printf(" override=risk_to_life");
		} else {
			vigil_format_time(ri->consent_given_at_ms, t, sizeof(t));
			printf(" consent=%s consent-at=%s", ri->consent_scope, t);
		}
	} else if (!strcmp(k, "risk")) {
		risk_text(ri);
	} else if (!strcmp(k, "handover-offer")) {
		printf(" to=%s reason=%s", ri->to, ri->handover_reason);
		if (ri->override)
			printf(" override=risk_to_life");
		else
			printf(" consent-ref=%s", ri->consent_ref);
	} else if (!strcmp(k, "handover-answer")) {
		print_hex_id("offer", ri->offer_id);
		printf(" answer=%s", ri->accept ? "accept" : "decline");
	} else if (!strcmp(k, "handover-withdraw")) {
		print_hex_id("offer", ri->offer_id);
	} else if (!strcmp(k, "case-close")) {
		printf(" reason=%s", ri->close_reason);
	} else if (!strcmp(k, "alert")) {
		printf(" kind=%s stage=%u", ri->alert_kind, ri->alert_stage);
		print_hex_id("alert", ri->alert_id);
		if (ri->alert_stage == 0)
			printf(" resolution=%s", ri->resolution[0] ? ri->resolution : "none");
		if (ri->cause[0])
			printf(" cause=%s", ri->cause);
		printf(" police=%s", ri->police);
		time_or_none(ri->deadline_ms, t, sizeof(t));
		printf(" deadline=%s", t);
		const char *to[VIGIL_RECIPIENTS_MAX];
		for (size_t i = 0; i < ri->n_recipients; i++)
			to[i] = ri->recipients[i];
		print_list("recipients", to, ri->n_recipients);
	} else if (!strcmp(k, "alert-ack")) {
		print_hex_id("alert", ri->alert_id);
		printf(" decision=%s", ri->decision);
	} else if (!strcmp(k, "erase-request")) {
		print_hex_id("record", ri->target_id);
		printf(" what=%s reason=%s reference=%s", ri->erase_whole ? "record" : "sealed-text",
		       ri->erase_reason, ri->erase_reference);
	} else if (!strcmp(k, "erasure")) {
		printf(" what=%s reason=%s entries=", ri->erase_whole ? "records" : "sealed-texts",
		       ri->erase_reason);
		for (size_t i = 0; i < ri->erased_n && i < VIGIL_ERASED_MAX; i++)
			printf("%s%llu", i ? "," : "", (unsigned long long)ri->erased[i]);
		if (ri->requested_by[0]) {
			printf(" requested-by=%s", ri->requested_by);
			print_hex_id("request", ri->target_id);
			printf(" reference=%s", ri->erase_reference);
		}
	} else if (!strcmp(k, "grant")) {
		printf(" to=%s", ri->grant_to);
	} else if (!strcmp(k, "member-key")) {
		printf(" member=%s certificate=%s", ri->member, ri->member_key_len ? "set" : "removed");
	}
}

/* The record's fields as a JSON object; KEY_sealed: true when its free
 * text (KEY) is sealed and this organisation cannot open it. */
static void body_json(struct vigil_record_info *ri, int sealed)
{
	FILE *f = stdout;
	const char *parties[VIGIL_PARTIES_MAX];
	const char *k = ri->kind;
	int n = 0;
	fputc('{', f);
	if (!strcmp(k, "correction")) {
		json_key(f, &n, "target_id");
		json_write_hex(f, ri->target_id, VIGIL_RECORD_ID_LEN);
		json_key(f, &n, "reason");
		json_write_string(f, ri->correction_reason);
		json_key(f, &n, "kind");
		json_write_string(f, ri->corrected_kind);
		k = ri->corrected_kind; /* then the corrected body's fields */
	}
	if (!strcmp(k, "contact")) {
		json_key(f, &n, "channel");
		json_write_string(f, ri->channel);
		json_key(f, &n, "outcome");
		json_write_string(f, ri->outcome);
		json_key(f, &n, "attempted_at");
		json_write_time(f, ri->attempted_at_ms);
		json_key(f, &n, "note");
		json_write_string_or_null(f, ri->note);
	} else if (!strcmp(k, "case-open")) {
		json_key(f, &n, "risk");
		json_write_string(f, ri->risk);
		json_key(f, &n, "minor");
		fputs(ri->minor ? "true" : "false", f);
		json_key(f, &n, "return_country");
		json_write_string(f, ri->return_country);
		json_key(f, &n, "return_date");
		json_write_string(f, ri->return_date);
		for (size_t i = 0; i < ri->n_parties; i++)
			parties[i] = ri->parties[i];
		json_key(f, &n, "parties");
		json_write_strings(f, parties, ri->n_parties);
	} else if (!strcmp(k, "risk")) {
		json_key(f, &n, "level");
		json_write_string(f, ri->risk);
		json_key(f, &n, "factors");
		json_write_strings(f, ri->factors, ri->n_factors);
		json_key(f, &n, "immediate_danger");
		fputs(ri->immediate_danger ? "true" : "false", f);
		json_key(f, &n, "phase");
		json_write_string(f, ri->phase);
	} else if (!strcmp(k, "handover-offer")) {
		json_key(f, &n, "to");
		json_write_string(f, ri->to);
		json_key(f, &n, "reason");
		json_write_string(f, ri->handover_reason);
		json_key(f, &n, "consent_ref");
		json_write_string_or_null(f, ri->consent_ref);
	} else if (!strcmp(k, "handover-answer") || !strcmp(k, "handover-withdraw")) {
		json_key(f, &n, "offer_id");
		json_write_hex(f, ri->offer_id, VIGIL_RECORD_ID_LEN);
		if (!strcmp(k, "handover-answer")) {
			json_key(f, &n, "accept");
			fputs(ri->accept ? "true" : "false", f);
			json_key(f, &n, "decline_reason");
			json_write_string_or_null(f, ri->decline_reason);
		}
	} else if (!strcmp(k, "case-close")) {
		json_key(f, &n, "reason");
		json_write_string(f, ri->close_reason);
	} else if (!strcmp(k, "alert")) {
		const char *to[VIGIL_RECIPIENTS_MAX];
		for (size_t i = 0; i < ri->n_recipients; i++)
			to[i] = ri->recipients[i];
		json_key(f, &n, "kind");
		json_write_string(f, ri->alert_kind);
		json_key(f, &n, "stage");
		fprintf(f, "%u", ri->alert_stage);
		json_key(f, &n, "alert_id");
		json_write_hex(f, ri->alert_id, VIGIL_RECORD_ID_LEN);
		json_key(f, &n, "resolution");
		json_write_string_or_null(f, ri->resolution);
		json_key(f, &n, "cause");
		json_write_string_or_null(f, ri->cause[0] ? ri->cause : NULL);
		json_key(f, &n, "police");
		json_write_string(f, ri->police);
		json_key(f, &n, "deadline");
		json_write_time(f, ri->deadline_ms);
		json_key(f, &n, "last_success");
		json_write_time(f, ri->last_success_ms);
		json_key(f, &n, "failed_attempts");
		fprintf(f, "%u", ri->failed_attempts);
		json_key(f, &n, "recipients");
		json_write_strings(f, to, ri->n_recipients);
	} else if (!strcmp(k, "alert-ack")) {
		json_key(f, &n, "alert_id");
		json_write_hex(f, ri->alert_id, VIGIL_RECORD_ID_LEN);
		json_key(f, &n, "decision");
		json_write_string(f, ri->decision);
		json_key(f, &n, "reason");
		json_write_string_or_null(f, ri->reason);
	} else if (!strcmp(k, "erase-request") || !strcmp(k, "erasure")) {
		json_key(f, &n, "whole_record");
		fputs(ri->erase_whole ? "true" : "false", f);
		json_key(f, &n, "reason");
		json_write_string(f, ri->erase_reason);
		json_key(f, &n, "reference");
		json_write_string_or_null(f, ri->erase_reference);
		json_key(f, &n, !strcmp(k, "erasure") ? "request_id" : "record_id");
		if (!strcmp(k, "erasure") && !ri->requested_by[0])
			fputs("null", f);
		else
			json_write_hex(f, ri->target_id, VIGIL_RECORD_ID_LEN);
		if (!strcmp(k, "erasure")) {
			json_key(f, &n, "requested_by");
			json_write_string_or_null(f, ri->requested_by);
			json_key(f, &n, "entries");
			fputc('[', f);
			for (size_t i = 0; i < ri->erased_n && i < VIGIL_ERASED_MAX; i++)
				fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)ri->erased[i]);
			fputc(']', f);
		}
	} else if (!strcmp(k, "grant")) {
		json_key(f, &n, "to");
		json_write_string(f, ri->grant_to);
	} else if (!strcmp(k, "member-key")) {
		json_key(f, &n, "member");
		json_write_string(f, ri->member);
		json_key(f, &n, "certificate");
		fputs(ri->member_key_len ? "true" : "false", f);
	}
	if (!strcmp(k, "case-open")) {
		json_key(f, &n, "consent_scope");
		json_write_string_or_null(f, ri->consent_scope);
		json_key(f, &n, "consent_at");
		json_write_time(f, ri->consent_given_at_ms);
	}
	if (!strcmp(k, "case-open") || !strcmp(k, "handover-offer")) {
		json_key(f, &n, "override");
		fputs(ri->override ? "true" : "false", f);
		json_key(f, &n, "override_justification");
		json_write_string_or_null(f, ri->override_justification);
	}
	struct free_text ft;
	if (sealed && free_text_of(ri, &ft)) {
		char key[64];
		snprintf(key, sizeof(key), "%s_%s", ft.key, sealed == 2 ? "erased" : "sealed");
		json_key(f, &n, key);
		fputs("true", f);
	}
	fputc('}', f);
}

static void write_base64(FILE *f, const uint8_t *b, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	if (!out) {
		fputs("null", f);
		return;
	}
	vigil_base64_encode(b, n, out);
	json_write_string(f, out);
	free(out);
}

static void log_entry_json(const struct vigil_case_log_entry *le,
			   struct vigil_record_info *ri, int decoded, int sealed)
{
	FILE *f = stdout;
	const struct vigil_entry *e = &le->entry;
	int n = 0;
	fputc('{', f);
	json_key(f, &n, "index");
	fprintf(f, "%llu", (unsigned long long)e->index);
	json_key(f, &n, "received_at");
	json_write_time(f, e->received_at_ms);
	json_key(f, &n, "author");
	json_write_string_or_null(f, decoded ? ri->author : NULL);
	json_key(f, &n, "kind");
	json_write_string_or_null(f, decoded ? ri->kind : NULL);
	json_key(f, &n, "record_id");
	if (decoded)
		json_write_hex(f, ri->record_id, VIGIL_RECORD_ID_LEN);
	else
		fputs("null", f);
	json_key(f, &n, "leaf_hash");
	json_write_hex(f, e->leaf_hash, VIGIL_HASH_LEN);
	json_key(f, &n, "cert_sha256");
	json_write_hex(f, e->cert_sha256, VIGIL_HASH_LEN);
	json_key(f, &n, "record");
	write_base64(f, e->record, e->record_len);
	json_key(f, &n, "signature");
	write_base64(f, e->signature, e->signature_len);
	json_key(f, &n, "inclusion_proof");
	json_write_hashes(f, le->inclusion_proof, le->proof_len);
	json_key(f, &n, "body");
	if (decoded)
		body_json(ri, sealed);
	else
		fputs("null", f);
	json_key(f, &n, "corrects");
	if (le->is_correction)
		fprintf(f, "%llu", (unsigned long long)le->corrects);
	else
		fputs("null", f);
	json_key(f, &n, "corrected_by");
	fputc('[', f);
	for (size_t i = 0; i < le->n_corrected_by; i++)
		fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)le->corrected_by[i]);
	fputc(']', f);
	if (e->record_erased) {
		json_key(f, &n, "erased");
		json_write_string(f, "record");
	}
	fputc('}', f);
}

/*
 * Opens the sealed text of every entry that has one, before anything is
 * printed: (*texts)[i] is the text of entry i (NULL when it has none or it
 * stays sealed), (*sealed)[i] 1 when it stays sealed here (this
 * organisation is no reader, or no encryption key is configured).  An
 * envelope that does not verify ends the command (exit 3), as a proof that
 * does not.  0, or an exit status after printing why.
 */
static int open_texts(const struct settings *s, vigil_client *c, const struct vigil_case_log *log,
		      struct vigil_record_info *ri, char ***texts, int **sealed)
{
	*texts = calloc(log->n ? log->n : 1, sizeof(**texts));
	*sealed = calloc(log->n ? log->n : 1, sizeof(**sealed));
	if (!*texts || !*sealed)
		return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	for (size_t i = 0; i < log->n; i++) {
		const struct vigil_entry *e = &log->entries[i].entry;
		struct vigil_error err;
		if (e->record_erased ||
		    vigil_record_decode(e->record, e->record_len, ri, &err) != VIGIL_OK ||
		    !ri->sealed_field[0])
			continue;
		if (e->content_erased) {
			(*sealed)[i] = 2; /* shown as [erased] */
			continue;
		}
		int rc = vigil_open_sealed(c, e->record, e->record_len, e->sealed, e->sealed_len,
					   &(*texts)[i], &err);
		if (rc == VIGIL_E_SEALED) {
			(*sealed)[i] = 1;
			continue;
		}
		if (rc != VIGIL_OK)
			return cli_fail(s, rc, "entry %llu: %s", (unsigned long long)e->index,
					err.message);
	}
	return 0;
}

static void texts_free(char **texts, size_t n)
{
	for (size_t i = 0; texts && i < n; i++)
		vigil_free(texts[i]);
	free(texts);
}

enum { OPT_LOG_LIMIT = OPT_COMMAND_BASE, OPT_LOG_AFTER };

/* vigil log's arguments: 0, -1 after --help (exit 0), or an exit status. */
static int log_args(struct settings *s, int argc, char *argv[], const char **case_id,
		    int *paged, int *has_after, uint64_t *after, uint32_t *limit)
{
	static const struct option options[] = {
		CLI_GLOBAL_OPTIONS,
		{ "limit", required_argument, NULL, OPT_LOG_LIMIT },
		{ "after", required_argument, NULL, OPT_LOG_AFTER },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	uint64_t v;
	*case_id = NULL;
	/* No '+': options may follow the case id ("vigil log ID --json"). */
	while ((opt = getopt_long(argc, argv, ":c:h", options, NULL)) != -1) {
		switch (opt) {
		case '?':
		case ':':
			return cli_getopt_error(opt, argv);
		case 'h':
			log_help(stdout);
			return -1;
		case OPT_LOG_LIMIT:
			if (cli_parse_u64(optarg, &v) != 0 || v == 0 || v > VIGIL_CASE_LOG_PAGE_MAX)
				return cli_usage_error("log: --limit wants a number of entries in "
						       "1..%u, not '%s'",
						       (unsigned)VIGIL_CASE_LOG_PAGE_MAX, optarg);
			*limit = (uint32_t)v;
			*paged = 1;
			break;
		case OPT_LOG_AFTER:
			if (cli_parse_u64(optarg, after) != 0)
				return cli_usage_error("log: --after wants a log index (a number), "
						       "not '%s'", optarg);
			*has_after = 1;
			*paged = 1;
			break;
		default: {
			int r = cli_global_option(s, opt, optarg);
			if (r != 0)
				return r > 0 ? r : cli_usage_error("unexpected option");
		}
		}
	}
	if (optind >= argc)
		return cli_usage_error("log: give the case id: vigil log ID");
	*case_id = argv[optind++];
	if (optind < argc)
		return cli_usage_error("log: unexpected argument '%s'", argv[optind]);
	struct vigil_error err;
	if (vigil_case_id_check(*case_id, &err) != VIGIL_OK)
		return cli_usage_error("log: %s", err.message);
	return 0;
}

int cmd_log(struct settings *s, int argc, char *argv[])
{
	const char *case_id;
	vigil_client *c;
	int paged = 0, has_after = 0;
	uint64_t after = 0;
	uint32_t limit = 0;
	int rc = log_args(s, argc, argv, &case_id, &paged, &has_after, &after, &limit);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = cli_connect(s, &c)) != 0)
		return rc;
	struct vigil_case_log *log = NULL;
	struct vigil_error err;
	if (paged)
		rc = vigil_case_log_page(c, case_id, has_after, after, limit, &log, &err);
	else
		rc = vigil_case_log(c, case_id, &log, &err);
	if (rc != VIGIL_OK) {
		vigil_close(&c);
		return query_failed(s, &err);
	}
	struct vigil_record_info *ri = malloc(sizeof(*ri));
	char **texts = NULL;
	int *sealed = NULL;
	rc = ri ? open_texts(s, c, log, ri, &texts, &sealed)
		: cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	vigil_close(&c);
	if (rc != 0) {
		texts_free(texts, log->n);
		free(sealed);
		free(ri);
		vigil_free(log);
		return rc;
	}
	int n = 0;
	if (s->json) {
		printf("{");
		json_key(stdout, &n, "case_id");
		json_write_string(stdout, case_id);
		json_key(stdout, &n, "checkpoint");
		json_write_string(stdout, log->checkpoint.note);
		json_key(stdout, &n, "checkpoint_size");
		printf("%llu", (unsigned long long)log->checkpoint.size);
		json_key(stdout, &n, "verified");
		printf("true");
		if (paged) {
			json_key(stdout, &n, "more");
			printf("%s", log->more ? "true" : "false");
		}
		json_key(stdout, &n, "entries");
		printf("[");
	}
	for (size_t i = 0; i < log->n; i++) {
		const struct vigil_case_log_entry *le = &log->entries[i];
		struct vigil_error derr;
		int decoded = !le->entry.record_erased &&
			      vigil_record_decode(le->entry.record, le->entry.record_len, ri,
						  &derr) == VIGIL_OK;
		struct free_text ft;
		if (decoded && texts[i] && free_text_of(ri, &ft))
			snprintf(ft.text, ft.size, "%s", texts[i]);
		if (s->json) {
			if (i)
				printf(",");
			log_entry_json(le, ri, decoded, sealed[i]);
			continue;
		}
		char t[VIGIL_TIME_LEN];
		vigil_format_time(le->entry.received_at_ms, t, sizeof(t));
		printf("%llu %s", (unsigned long long)le->entry.index, t);
		if (le->entry.record_erased) {
			printf(" [erased record: only its leaf hash is kept]");
		} else if (decoded) {
			printf(" %s %s", ri->author, ri->kind);
			if (le->is_correction)
				printf(" corrects=%llu", (unsigned long long)le->corrects);
			body_text(ri);
			free_text_line(ri, sealed[i]);
		} else {
			printf(" (a record this version cannot decode: %s)", derr.message);
		}
		/* Corrected: the last correction listed is in force. */
		for (size_t k = 0; k < le->n_corrected_by; k++)
			printf("%s%llu", k ? "," : " corrected-by=",
			       (unsigned long long)le->corrected_by[k]);
		printf("\n");
	}
	if (s->json)
		printf("]}\n");
	else
		printf("verified: %zu entr%s, every inclusion proof leads to the checkpoint of "
		       "size %llu\n", log->n, log->n == 1 ? "y" : "ies",
		       (unsigned long long)log->checkpoint.size);
	if (!s->json && paged && log->more && log->n)
		printf("more: vigil log %s --after %llu\n", case_id,
		       (unsigned long long)log->entries[log->n - 1].entry.index);
	texts_free(texts, log->n);
	free(sealed);
	free(ri);
	vigil_free(log);
	return 0;
}

/* ---- cases --------------------------------------------------------------------------------- */

static void cases_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] cases [--alerting] [--overdue] [--responsible-is-us]\n"
		   "                   [--state STATE]\n"
		   "\n"
		   "Lists the cases our organisation is a party to, as a table:\n"
		   "\n"
		   "  CASE  STATE  RESPONSIBLE  RISK  MINOR  LAST-SUCCESS  NEXT-DEADLINE  ALERT\n"
		   "\n"
		   "(LAST-SUCCESS the last successful contact, NEXT-DEADLINE when the\n"
		   "watchdog next acts on the case (not shown to police), ALERT the open\n"
		   "alert's stage, '-' for none; 'no cases' when none is listed).\n"
		   "\n"
		   "  --alerting           only cases with an open alert\n"
		   "  --overdue            only cases with an open alert or a deadline already\n"
		   "                       passed\n"
		   "  --responsible-is-us  only cases our organisation is responsible for\n"
		   "  --state STATE        only cases in STATE (active, follow-up, closed)\n"
		   "\n"
		   "With --json one object {\"cases\":[{\"case_id\":...,\"state\":...,\n"
		   "\"responsible\":...,\"risk\":...,\"minor\":false,\"last_success\":...,\n"
		   "\"next_deadline\":...,\"alert_stage\":0},...]} (times RFC 3339 or null).\n");
}

enum { OPT_ALERTING = OPT_COMMAND_BASE, OPT_OVERDUE, OPT_OURS, OPT_STATE };

struct case_filter {
	int alerting, overdue, ours;
	const char *state;
	const char *us;
	int64_t now;
};

static int case_listed(const struct case_filter *f, const struct vigil_case_summary *c)
{
	if (f->alerting && !c->alert_stage)
		return 0;
	if (f->overdue && !c->alert_stage && !(c->next_event_ms > 0 && c->next_event_ms <= f->now))
		return 0;
	if (f->ours && strcmp(c->responsible, f->us) != 0)
		return 0;
	if (f->state && strcasecmp(c->state, f->state) != 0)
		return 0;
	return 1;
}

int cmd_cases(struct settings *s, int argc, char *argv[])
{
	static const struct option options[] = {
		CLI_GLOBAL_OPTIONS,
		{ "alerting", no_argument, NULL, OPT_ALERTING },
		{ "overdue", no_argument, NULL, OPT_OVERDUE },
		{ "responsible-is-us", no_argument, NULL, OPT_OURS },
		{ "state", required_argument, NULL, OPT_STATE },
		{ NULL, 0, NULL, 0 },
	};
	struct case_filter flt = { 0 };
	int opt;
	while ((opt = getopt_long(argc, argv, "+:c:h", options, NULL)) != -1) {
		switch (opt) {
		case '?':
		case ':':
			return cli_getopt_error(opt, argv);
		case 'h':
			cases_help(stdout);
			return 0;
		case OPT_ALERTING: flt.alerting = 1; break;
		case OPT_OVERDUE: flt.overdue = 1; break;
		case OPT_OURS: flt.ours = 1; break;
		case OPT_STATE:
			if (strcasecmp(optarg, "active") != 0 && strcasecmp(optarg, "follow-up") != 0 &&
			    strcasecmp(optarg, "closed") != 0)
				return cli_usage_error("cases: --state wants active, follow-up or "
						       "closed, not '%s'", optarg);
			flt.state = optarg;
			break;
		default: {
			int r = cli_global_option(s, opt, optarg);
			if (r != 0)
				return r > 0 ? r : cli_usage_error("unexpected option");
		}
		}
	}
	if (optind < argc)
		return cli_usage_error("cases: unexpected argument '%s'", argv[optind]);
	vigil_client *c;
	int rc = cli_connect(s, &c);
	if (rc != 0)
		return rc;
	struct vigil_case_summary *list = NULL;
	size_t n = 0;
	struct vigil_error err;
	rc = vigil_cases(c, &list, &n, &err);
	const struct vigil_identity *me = vigil_client_identity(c);
	char us[VIGIL_ORG_LEN];
	snprintf(us, sizeof(us), "%s", me ? me->organisation : "");
	vigil_close(&c);
	if (rc != VIGIL_OK)
		return query_failed(s, &err);
	flt.us = us;
	flt.now = cli_now_ms();
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (case_listed(&flt, &list[i]))
			list[k++] = list[i];
	n = k;
	if (s->json) {
		printf("{\"cases\":[");
		for (size_t i = 0; i < n; i++) {
			int j = 0;
			printf("%s{", i ? "," : "");
			json_key(stdout, &j, "case_id");
			json_write_string(stdout, list[i].case_id);
			json_key(stdout, &j, "state");
			json_write_string(stdout, list[i].state);
			json_key(stdout, &j, "responsible");
			json_write_string(stdout, list[i].responsible);
			json_key(stdout, &j, "risk");
			json_write_string(stdout, list[i].risk);
			json_key(stdout, &j, "minor");
			fputs(list[i].minor ? "true" : "false", stdout);
			json_key(stdout, &j, "last_success");
			json_write_time(stdout, list[i].last_success_ms);
			json_key(stdout, &j, "next_deadline");
			json_write_time(stdout, list[i].next_event_ms);
			json_key(stdout, &j, "alert_stage");
			printf("%u}", list[i].alert_stage);
		}
		printf("]}\n");
	} else if (n == 0) {
		printf("no cases\n");
	} else {
		int wc = 4, ws = 5, wr = 11;
		for (size_t i = 0; i < n; i++) {
			int l = (int)strlen(list[i].case_id);
			wc = l > wc ? l : wc;
			l = (int)strlen(list[i].state);
			ws = l > ws ? l : ws;
			l = (int)strlen(list[i].responsible);
			wr = l > wr ? l : wr;
		}
		printf("%-*s  %-*s  %-*s  %-6s  %-5s  %-24s  %-24s  %s\n", wc, "CASE", ws, "STATE",
		       wr, "RESPONSIBLE", "RISK", "MINOR", "LAST-SUCCESS", "NEXT-DEADLINE", "ALERT");
		for (size_t i = 0; i < n; i++) {
			char ls[VIGIL_TIME_LEN], nd[VIGIL_TIME_LEN], st[12];
			if (list[i].last_success_ms > 0)
				vigil_format_time(list[i].last_success_ms, ls, sizeof(ls));
			else
				snprintf(ls, sizeof(ls), "-");
			if (list[i].next_event_ms > 0)
				vigil_format_time(list[i].next_event_ms, nd, sizeof(nd));
			else
				snprintf(nd, sizeof(nd), "-");
			if (list[i].alert_stage)
				snprintf(st, sizeof(st), "%u", list[i].alert_stage);
			else
				snprintf(st, sizeof(st), "-");
			printf("%-*s  %-*s  %-*s  %-6s  %-5s  %-24s  %-24s  %s\n", wc, list[i].case_id,
			       ws, list[i].state, wr, list[i].responsible, list[i].risk,
			       yes_no(list[i].minor), ls, nd, st);
		}
	}
	vigil_free(list);
	return 0;
}

/* ---- case readers --------------------------------------------------------------------------- */

static void readers_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] case readers ID\n"
		   "\n"
		   "Lists who read case ID, oldest first, one line per read:\n"
		   "\n"
		   "  TIME ORGANISATION WHAT\n"
		   "\n"
		   "(what: status, log, readers, seal-readers (whom to seal a text to); a\n"
		   "refused one with -refused appended; a refused record of an organisation\n"
		   "that may not see the case: contact-refused, withdraw-refused, ...)\n"
		   "('no reads' when there are none).  Only the responsible organisation, and\n"
		   "only when it is a coordinator, may ask; this read is recorded too and is\n"
		   "listed the next time.  With --json one object {\"case_id\":...,\"reads\":\n"
		   "[{\"organisation\":...,\"what\":...,\"at\":...},...]}.\n");
}

int cmd_case_readers(struct settings *s, int argc, char *argv[])
{
	const char *case_id;
	vigil_client *c;
	int rc = query_start(s, argc, argv, 1, "case readers", readers_help, &case_id, &c);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	struct vigil_case_read *reads = NULL;
	size_t n = 0;
	struct vigil_error err;
	rc = vigil_case_readers(c, case_id, &reads, &n, &err);
	vigil_close(&c);
	if (rc != VIGIL_OK)
		return query_failed(s, &err);
	char t[VIGIL_TIME_LEN];
	if (s->json) {
		int k = 0;
		printf("{");
		json_key(stdout, &k, "case_id");
		json_write_string(stdout, case_id);
		json_key(stdout, &k, "reads");
		printf("[");
		for (size_t i = 0; i < n; i++) {
			int m = 0;
			printf("%s{", i ? "," : "");
			json_key(stdout, &m, "organisation");
			json_write_string(stdout, reads[i].organisation);
			json_key(stdout, &m, "what");
			json_write_string(stdout, reads[i].what);
			json_key(stdout, &m, "at");
			json_write_time(stdout, reads[i].at_ms);
			printf("}");
		}
		printf("]}\n");
	} else if (n == 0) {
		printf("no reads\n");
	} else {
		for (size_t i = 0; i < n; i++) {
			vigil_format_time(reads[i].at_ms, t, sizeof(t));
			printf("%s %s %s\n", t, reads[i].organisation, reads[i].what);
		}
	}
	vigil_free(reads);
	return 0;
}
