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
#include "view.h"
#include "when.h"

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

/* The status, described once (view.h): the text lines and the JSON
 * members come from the same fields.  A withheld field is left out. */
static void pending_offer(struct view *v, const struct vigil_case_status *st, int always)
{
	if (!st->has_pending_offer && !always)
		return;
	char id[2 * VIGIL_RECORD_ID_LEN + 1];
	vigil_hex_encode(st->pending_offer_id, VIGIL_RECORD_ID_LEN, id);
	view_str(v, "pending_offer_to", "pending offer", st->has_pending_offer ? st->pending_offer_to
									     : NULL);
	if (st->has_pending_offer)
		view_say(v, "to %s, offer id %s", st->pending_offer_to, id);
	view_hex(v, "pending_offer_id", NULL,
		 st->has_pending_offer ? st->pending_offer_id : NULL, VIGIL_RECORD_ID_LEN);
}

static void status_view(struct view *v, const struct vigil_case_status *st)
{
	char t[VIGIL_TIME_LEN];
	view_str(v, "case_id", "case", st->case_id);
	view_str(v, "view", "view", st->view);
	if (strcmp(st->view, "full") != 0)
		view_say(v, "%s (the relay withholds the other fields)", st->view);
	view_str(v, "owner", st->owner[0] ? "owner" : NULL, st->owner);
	view_str(v, "state", "state", st->state);
	view_str(v, "responsible", "responsible", st->responsible);
	view_str(v, "risk", "risk", st->risk);
	view_bool(v, "minor", "minor", st->minor);
	if (!st->full)
		pending_offer(v, st, 0);
	if (strcmp(st->view, "offered") == 0)
		return;
	view_time(v, "last_attempt", "last attempt", st->last_attempt_ms);
	if (st->last_attempt_ms > 0) {
		vigil_format_time(st->last_attempt_ms, t, sizeof(t));
		view_say(v, "%s %s %s", t, st->last_attempt_channel, st->last_attempt_outcome);
	}
	view_str(v, "last_attempt_channel", NULL, st->last_attempt_channel);
	view_str(v, "last_attempt_outcome", NULL, st->last_attempt_outcome);
	int64_t now = cli_now_ms();
	char rel[48];
	view_time(v, "last_success", "last successful contact", st->last_success_ms);
	if (st->last_success_ms > 0) {
		vigil_format_time(st->last_success_ms, t, sizeof(t));
		when_ago(st->last_success_ms, now, rel, sizeof(rel));
		view_say(v, "%s (%s)", t, rel);
	}
	view_uint(v, "alert_stage", "alert stage", st->alert_stage);
	if (st->alert_stage)
		view_say(v, "%s", vigil_alert_stage_label(st->alert_stage));
	else
		view_say(v, "0 (no open alert)");
	view_str(v, "alert_stage_label", NULL, vigil_alert_stage_label(st->alert_stage));
	view_hex(v, "alert_id", st->has_alert_id ? "open alert" : NULL,
		 st->has_alert_id ? st->alert_id : NULL, VIGIL_RECORD_ID_LEN);
	if (st->has_alert_id) {
		char id[2 * VIGIL_RECORD_ID_LEN + 1];
		vigil_hex_encode(st->alert_id, VIGIL_RECORD_ID_LEN, id);
		view_say(v, "%s (%s)", id, st->alert_kind);
	}
	view_str(v, "alert_kind", NULL, st->has_alert_id ? st->alert_kind : NULL);
	if (!st->full)
		return;
	view_time(v, "next_deadline", "next deadline", st->next_event_ms);
	if (st->next_event_ms > 0) {
		vigil_format_time(st->next_event_ms, t, sizeof(t));
		when_deadline(st->next_event_ms, now, rel, sizeof(rel));
		view_say(v, "%s (%s)", t, rel);
	}
	view_strs(v, "parties", "parties", st->parties, st->n_parties);
	view_bool(v, "immediate_danger", "immediate danger", st->immediate_danger);
	view_strs(v, "factors", "factors", st->factors, st->n_factors);
	pending_offer(v, st, 1);
	view_uint(v, "attempts", "attempts", st->attempts);
	view_uint(v, "failed_attempts", "failed attempts", st->failed_attempts);
	view_str(v, "return_country", "return", st->return_country);
	view_say(v, "%s %s", st->return_country, st->return_date);
	view_str(v, "return_date", NULL, st->return_date);
	view_time(v, "opened_at", "opened", st->opened_at_ms);
	view_uint(v, "entries", "entries", st->entries);
	view_str(v, "consent_scope", "consent", st->consent_scope);
	if (st->override)
		view_say(v, "override (risk_to_life)");
	view_bool(v, "override", NULL, st->override);
	view_str(v, "close_reason", st->close_reason[0] ? "close reason" : NULL,
		 st->close_reason);
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
	struct view v;
	view_init(&v);
	status_view(&v, st);
	vigil_free(st);
	/* The values in one column whatever the view: after the longest
	 * label of the full one ("last successful contact:"). */
	return view_print_width(&v, s->json, 24) == 0 ? 0 : EXIT_FAILED;
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

/* The record's free text: in JSON its key (null when there is none or it
 * stays sealed, then also KEY_sealed or KEY_erased: true); in the line
 * " LABEL=\"text\"" (JSON-escaped, so one line), [sealed] or [erased]. */
static void free_text_view(struct view *v, struct vigil_record_info *ri, int sealed)
{
	struct free_text ft;
	if (!free_text_of(ri, &ft))
		return;
	view_str(v, ft.key, ft.text_key, sealed ? NULL : ft.text);
	if (sealed) {
		view_say(v, "%s", sealed == 2 ? "[erased]" : "[sealed]");
		char key[64];
		snprintf(key, sizeof(key), "%s_%s", ft.key, sealed == 2 ? "erased" : "sealed");
		view_bool(v, key, NULL, 1);
	} else if (ft.text[0]) {
		json_t *j = view_jstring(ft.text);
		char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
		view_say(v, "%s", q ? q : "?");
		free(q);
		json_decref(j);
	}
}

static void contact_view(struct view *v, const struct vigil_record_info *ri)
{
	view_str(v, "channel", "channel", ri->channel);
	view_str(v, "outcome", "outcome", ri->outcome);
	view_time(v, "attempted_at", "attempted-at", ri->attempted_at_ms);
}

static void risk_view(struct view *v, const struct vigil_record_info *ri)
{
	view_str(v, "level", "level", ri->risk);
	view_strs(v, "factors", "factors", ri->factors, ri->n_factors);
	view_bool(v, "immediate_danger", "immediate-danger", ri->immediate_danger);
	view_str(v, "phase", "phase", ri->phase);
}

static void id_view(struct view *v, const char *key, const char *label, const uint8_t *id)
{
	view_hex(v, key, label, id, VIGIL_RECORD_ID_LEN);
}

/* A record's fields, described once: its JSON body and the " key=value"
 * of its log line.  sealed: its free text stays sealed (1) or was erased
 * (2). */
static void body_view(struct view *v, struct vigil_record_info *ri, int sealed)
{
	const char *parties[VIGIL_PARTIES_MAX];
	const char *k = ri->kind;
	if (!strcmp(k, "correction")) {
		id_view(v, "target_id", "record", ri->target_id);
		view_str(v, "reason", "reason", ri->correction_reason);
		view_str(v, "kind", "body", ri->corrected_kind);
		k = ri->corrected_kind; /* then the corrected body's fields */
	}
	if (!strcmp(k, "contact")) {
		contact_view(v, ri);
	} else if (!strcmp(k, "case-open")) {
		view_str(v, "risk", "risk", ri->risk);
		view_bool(v, "minor", "minor", ri->minor);
		view_str(v, "return_country", "return-country", ri->return_country);
		view_str(v, "return_date", "return-date", ri->return_date);
		for (size_t i = 0; i < ri->n_parties; i++)
			parties[i] = ri->parties[i];
		view_strs(v, "parties", "parties", parties, ri->n_parties);
	} else if (!strcmp(k, "risk")) {
		risk_view(v, ri);
	} else if (!strcmp(k, "handover-offer")) {
		view_str(v, "to", "to", ri->to);
		view_str(v, "reason", "reason", ri->handover_reason);
	} else if (!strcmp(k, "handover-answer") || !strcmp(k, "handover-withdraw")) {
		id_view(v, "offer_id", "offer", ri->offer_id);
		if (!strcmp(k, "handover-answer")) {
			view_bool(v, "accept", "answer", ri->accept);
			view_say(v, "%s", ri->accept ? "accept" : "decline");
		}
	} else if (!strcmp(k, "case-close")) {
		view_str(v, "reason", "reason", ri->close_reason);
	} else if (!strcmp(k, "alert")) {
		const char *to[VIGIL_RECIPIENTS_MAX];
		for (size_t i = 0; i < ri->n_recipients; i++)
			to[i] = ri->recipients[i];
		view_str(v, "kind", "kind", ri->alert_kind);
		view_uint(v, "stage", "stage", ri->alert_stage);
		id_view(v, "alert_id", "alert", ri->alert_id);
		view_str(v, "resolution", ri->alert_stage == 0 ? "resolution" : NULL,
			 ri->resolution);
		if (ri->alert_stage == 0 && !ri->resolution[0])
			view_say(v, "none");
		view_str(v, "cause", "cause", ri->cause);
		view_str(v, "police", "police", ri->police);
		view_time(v, "deadline", "deadline", ri->deadline_ms);
		if (ri->deadline_ms <= 0)
			view_say(v, "none");
		view_time(v, "last_success", NULL, ri->last_success_ms);
		view_uint(v, "failed_attempts", NULL, ri->failed_attempts);
		view_strs(v, "recipients", "recipients", to, ri->n_recipients);
	} else if (!strcmp(k, "alert-ack")) {
		id_view(v, "alert_id", "alert", ri->alert_id);
		view_str(v, "decision", "decision", ri->decision);
	} else if (!strcmp(k, "erase-request") || !strcmp(k, "erasure")) {
		int erasure = !strcmp(k, "erasure");
		if (!erasure)
			id_view(v, "record_id", "record", ri->target_id);
		view_bool(v, "whole_record", "what", ri->erase_whole);
		view_say(v, "%s", erasure ? (ri->erase_whole ? "records" : "sealed-texts")
					  : (ri->erase_whole ? "record" : "sealed-text"));
		view_str(v, "reason", "reason", ri->erase_reason);
		if (erasure) {
			size_t n = ri->erased_n < VIGIL_ERASED_MAX ? ri->erased_n : VIGIL_ERASED_MAX;
			view_uints(v, "entries", "entries", ri->erased, n);
			view_str(v, "requested_by", "requested-by", ri->requested_by);
			id_view(v, "request_id", ri->requested_by[0] ? "request" : NULL,
				ri->requested_by[0] ? ri->target_id : NULL);
		}
		view_str(v, "reference", !erasure || ri->requested_by[0] ? "reference" : NULL,
			 ri->erase_reference);
	} else if (!strcmp(k, "grant")) {
		view_str(v, "to", "to", ri->grant_to);
	} else if (!strcmp(k, "member-key")) {
		view_str(v, "member", "member", ri->member);
		view_bool(v, "certificate", "certificate", ri->member_key_len != 0);
		view_say(v, "%s", ri->member_key_len ? "set" : "removed");
	}
	if (!strcmp(k, "case-open")) {
		view_str(v, "consent_scope", ri->override ? NULL : "consent", ri->consent_scope);
		view_time(v, "consent_at", ri->override ? NULL : "consent-at",
			  ri->consent_given_at_ms);
	}
	if (!strcmp(k, "handover-offer"))
		view_str(v, "consent_ref", ri->override ? NULL : "consent-ref", ri->consent_ref);
	if (!strcmp(k, "case-open") || !strcmp(k, "handover-offer")) {
		view_bool(v, "override", ri->override ? "override" : NULL, ri->override);
		view_say(v, "risk_to_life");
	}
	free_text_view(v, ri, sealed);
}

/* One entry of the log: its JSON object, and its line "INDEX RECEIVED-AT
 * AUTHOR KIND [corrects=M] FIELD=VALUE ... [corrected-by=N,...]". */
static void entry_view(struct view *v, const struct vigil_case_log_entry *le,
		       struct vigil_record_info *ri, int decoded, const char *why, int sealed)
{
	const struct vigil_entry *e = &le->entry;
	view_uint(v, "index", "", e->index);
	view_time(v, "received_at", "", e->received_at_ms);
	if (e->record_erased)
		view_line(v, "", "[erased record: only its leaf hash is kept]");
	else if (!decoded)
		view_line(v, "", "(a record this version cannot decode: %s)", why);
	view_str(v, "author", decoded ? "" : NULL, decoded ? ri->author : NULL);
	view_str(v, "kind", decoded ? "" : NULL, decoded ? ri->kind : NULL);
	if (le->is_correction)
		view_uint(v, "corrects", "corrects", le->corrects);
	else
		view_json(v, "corrects", NULL, json_null());
	id_view(v, "record_id", NULL, decoded ? ri->record_id : NULL);
	view_hex(v, "leaf_hash", NULL, e->leaf_hash, VIGIL_HASH_LEN);
	view_hex(v, "cert_sha256", NULL, e->cert_sha256, VIGIL_HASH_LEN);
	view_base64(v, "record", e->record, e->record_len);
	view_base64(v, "signature", e->signature, e->signature_len);
	json_t *proof = json_array();
	for (size_t i = 0; proof && i < le->proof_len; i++) {
		char h[2 * VIGIL_HASH_LEN + 1];
		vigil_hex_encode(le->inclusion_proof[i], VIGIL_HASH_LEN, h);
		if (json_array_append_new(proof, json_string(h)) != 0)
			v->nomem = 1;
	}
	view_json(v, "inclusion_proof", NULL, proof);
	if (decoded) {
		struct view *b = view_sub(v, "body");
		if (b)
			body_view(b, ri, sealed);
	} else {
		view_json(v, "body", NULL, json_null());
	}
	/* Corrected: the last correction listed is in force. */
	view_uints(v, "corrected_by", le->n_corrected_by ? "corrected-by" : NULL,
		   le->corrected_by, le->n_corrected_by);
	if (e->record_erased)
		view_str(v, "erased", NULL, "record");
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
	struct view v;
	view_init(&v);
	view_str(&v, "case_id", NULL, case_id);
	view_str(&v, "checkpoint", NULL, log->checkpoint.note);
	view_uint(&v, "checkpoint_size", NULL, log->checkpoint.size);
	view_bool(&v, "verified", NULL, 1);
	if (paged)
		view_bool(&v, "more", NULL, log->more);
	json_t *entries = json_array();
	if (!entries)
		v.nomem = 1;
	for (size_t i = 0; i < log->n; i++) {
		const struct vigil_case_log_entry *le = &log->entries[i];
		struct vigil_error derr;
		int decoded = !le->entry.record_erased &&
			      vigil_record_decode(le->entry.record, le->entry.record_len, ri,
						  &derr) == VIGIL_OK;
		struct free_text ft;
		if (decoded && texts[i] && free_text_of(ri, &ft))
			snprintf(ft.text, ft.size, "%s", texts[i]);
		struct view e;
		view_init(&e);
		entry_view(&e, le, ri, decoded, decoded ? "" : derr.message, sealed[i]);
		if (s->json) {
			json_t *o = view_object(&e);
			if (!o || !entries || json_array_append_new(entries, o) != 0)
				v.nomem = 1;
		} else {
			/* The line's first field has no space before it. */
			char *line = NULL;
			size_t len = 0;
			FILE *m = open_memstream(&line, &len);
			if (m) {
				view_write_inline(&e, m);
				fclose(m);
			}
			if (line)
				view_line(&v, "", "%s", line + (line[0] == ' '));
			else
				v.nomem = 1;
			free(line);
		}
		view_free(&e);
	}
	view_json(&v, "entries", NULL, entries);
	view_line(&v, "", "verified: %zu entr%s, every inclusion proof leads to the checkpoint of "
		  "size %llu", log->n, log->n == 1 ? "y" : "ies",
		  (unsigned long long)log->checkpoint.size);
	if (paged && log->more && log->n)
		view_line(&v, "", "more: vigil log %s --after %llu", case_id,
			  (unsigned long long)log->entries[log->n - 1].entry.index);
	rc = view_print(&v, s->json) == 0 ? 0 : EXIT_FAILED;
	texts_free(texts, log->n);
	free(sealed);
	free(ri);
	vigil_free(log);
	return rc;
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
	struct view *rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows) {
		vigil_free(list);
		return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		struct view *v = &rows[i];
		view_init(v);
		view_str(v, "case_id", "case", list[i].case_id);
		view_str(v, "state", "state", list[i].state);
		view_str(v, "responsible", "responsible", list[i].responsible);
		view_str(v, "risk", "risk", list[i].risk);
		view_bool(v, "minor", "minor", list[i].minor);
		view_time(v, "last_success", "last success", list[i].last_success_ms);
		view_time(v, "next_deadline", "next deadline", list[i].next_event_ms);
		view_uint(v, "alert_stage", "alert", list[i].alert_stage);
		if (!list[i].alert_stage)
			view_say(v, "-");
	}
	rc = view_print_list(rows, n, "cases", s->json, "no cases");
	free(rows);
	vigil_free(list);
	return rc == 0 ? 0 : EXIT_FAILED;
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
	struct view v;
	view_init(&v);
	view_str(&v, "case_id", NULL, case_id);
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		struct view r;
		view_init(&r);
		view_time(&r, "at", "", reads[i].at_ms);
		view_str(&r, "organisation", "", reads[i].organisation);
		view_str(&r, "what", "", reads[i].what);
		if (s->json) {
			json_t *o = view_object(&r);
			if (!o || json_array_append_new(arr, o) != 0)
				v.nomem = 1;
		} else {
			/* TIME ORGANISATION WHAT */
			char *t = view_text_of(&r.f[0], ","), *o = view_text_of(&r.f[1], ","),
			     *w = view_text_of(&r.f[2], ",");
			view_line(&v, "", "%s %s %s", t ? t : "?", o ? o : "?", w ? w : "?");
			free(t);
			free(o);
			free(w);
		}
		view_free(&r);
	}
	view_json(&v, "reads", NULL, arr);
	if (!s->json && n == 0)
		view_line(&v, "", "no reads");
	vigil_free(reads);
	return view_print(&v, s->json) == 0 ? 0 : EXIT_FAILED;
}
