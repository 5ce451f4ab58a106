/*
 * delivery.c - one delivered alert or erasure, as "vigil alerts" shows it:
 * the text line, the JSON object (--json, and what --exec CMD reads on
 * its standard input) and the VIGIL_* environment of --exec.
 *
 * The fields of each are listed once (alert_fields, erasure_fields), each
 * written by a put_* call that knows every form, so the forms cannot
 * drift apart.  Text: the head fields (label "") separated by spaces, then
 * "LABEL: VALUE" separated by "; "; a field with no label (NULL) is not in
 * the text.  An alert's text line is written by alert_text, which says
 * more than a list of labels could (stage, escalation, resolution, cause),
 * so the alert's fields have no labels.  An empty string or an absent id
 * or time is "none" in the text, null in JSON and empty in the
 * environment.
 *
 * The environment: each JSON member as VIGIL_ and its name in capitals
 * (VIGIL_CASE_ID, VIGIL_ALERT_ID, VIGIL_POLICE, ...), except an erasure's
 * "entries", which is VIGIL_ERASED_ENTRIES; the value as in JSON without
 * quotes, an array as its items joined by commas, true or false, empty
 * for null.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum form { FORM_TEXT, FORM_JSON, FORM_ENV };

struct sink {
	enum form form;
	FILE *f;       /* text and JSON: where the fields go */
	int n;         /* JSON members written */
	int labelled;  /* text: labelled fields written */
	int head;      /* text: head fields written */
	/* FORM_ENV: the variables, and the value being written */
	struct hook_env *env;
	const char *key;
	char *buf;
	size_t len;
	int failed;    /* out of memory */
};

static void time_or_none(int64_t ms, char *out, size_t n)
{
	if (ms > 0)
		vigil_format_time(ms, out, n);
	else
		snprintf(out, n, "none");
}

/* The stream to write a field's value to, after its key or its separator
 * and label; NULL when the field is not in this form. */
static FILE *put_begin(struct sink *s, const char *key, const char *label)
{
	switch (s->form) {
	case FORM_JSON:
		json_key(s->f, &s->n, key);
		return s->f;
	case FORM_ENV:
		s->key = key;
		s->buf = NULL;
		s->len = 0;
		s->f = open_memstream(&s->buf, &s->len);
		if (!s->f)
			s->failed = 1;
		return s->f;
	case FORM_TEXT:
	default:
		if (!label)
			return NULL;
		if (!label[0])
			fprintf(s->f, "%s", s->head++ ? " " : "");
		else
			fprintf(s->f, "%s%s: ", s->labelled++ ? "; " : " ", label);
		return s->f;
	}
}

/* FORM_ENV: the value written since put_begin becomes VIGIL_KEY. */
static void put_end(struct sink *s)
{
	if (s->form != FORM_ENV || !s->f)
		return;
	if (fclose(s->f) != 0)
		s->failed = 1;
	s->f = NULL;
	char name[64];
	const char *key = strcmp(s->key, "entries") ? s->key : "erased_entries";
	size_t k = (size_t)snprintf(name, sizeof(name), "VIGIL_");
	for (const char *p = key; *p && k + 1 < sizeof(name); p++)
		name[k++] = (char)toupper((unsigned char)*p);
	name[k] = '\0';
	if (!s->failed && hook_env_add(s->env, name, s->buf ? s->buf : "") != 0)
		s->failed = 1;
	free(s->buf);
	s->buf = NULL;
}

static void put_u64(struct sink *s, const char *key, const char *label, uint64_t v)
{
	FILE *f = put_begin(s, key, label);
	if (!f)
		return;
	fprintf(f, "%llu", (unsigned long long)v);
	put_end(s);
}

static void put_time(struct sink *s, const char *key, const char *label, int64_t ms)
{
	FILE *f = put_begin(s, key, label);
	if (!f)
		return;
	char t[VIGIL_TIME_LEN];
	if (s->form == FORM_JSON)
		json_write_time(f, ms);
	else if (s->form == FORM_ENV && ms <= 0)
		;
	else {
		time_or_none(ms, t, sizeof(t));
		fputs(t, f);
	}
	put_end(s);
}

static void put_str(struct sink *s, const char *key, const char *label, const char *v)
{
	FILE *f = put_begin(s, key, label);
	if (!f)
		return;
	if (s->form == FORM_JSON)
		json_write_string_or_null(f, v);
	else if (v && v[0])
		fputs(v, f);
	else if (s->form == FORM_TEXT)
		fputs("none", f);
	put_end(s);
}

/* n bytes as hex; absent: none / null / empty. */
static void put_hex(struct sink *s, const char *key, const char *label, const uint8_t *b,
		    size_t n, int present)
{
	FILE *f = put_begin(s, key, label);
	if (!f)
		return;
	if (s->form == FORM_JSON && !present)
		fputs("null", f);
	else if (s->form == FORM_JSON)
		json_write_hex(f, b, n);
	else if (!present && s->form == FORM_TEXT)
		fputs("none", f);
	else if (present)
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%02x", b[i]);
	put_end(s);
}

/* JSON and the environment: true or false; the text names the two cases. */
static void put_bool(struct sink *s, const char *key, const char *label, int v,
		     const char *text_true, const char *text_false)
{
	FILE *f = put_begin(s, key, label);
	if (!f)
		return;
	if (s->form == FORM_TEXT)
		fputs(v ? text_true : text_false, f);
	else
		fputs(v ? "true" : "false", f);
	put_end(s);
}

/* Numbers: [1,2] / 1,2. */
static void put_u64s(struct sink *s, const char *key, const char *label, const uint64_t *v,
		     size_t n)
{
	FILE *f = put_begin(s, key, label);
	if (!f)
		return;
	fputs(s->form == FORM_JSON ? "[" : "", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)v[i]);
	fputs(s->form == FORM_JSON ? "]" : "", f);
	put_end(s);
}

/* Organisations: ["a","b"] / a, b / a,b. */
static void put_orgs(struct sink *s, const char *key, const char *label,
		     const char (*v)[VIGIL_ORG_LEN], size_t n)
{
	FILE *f = put_begin(s, key, label);
	if (!f)
		return;
	fputs(s->form == FORM_JSON ? "[" : "", f);
	for (size_t i = 0; i < n; i++) {
		if (s->form == FORM_JSON) {
			fputs(i ? "," : "", f);
			json_write_string(f, v[i]);
		} else {
			fprintf(f, "%s%s", !i ? "" : s->form == FORM_TEXT ? ", " : ",", v[i]);
		}
	}
	fputs(s->form == FORM_JSON ? "]" : "", f);
	put_end(s);
}

/* ---- an alert -------------------------------------------------------------------- */

/* The fields of an alert, in the order of its JSON object. */
static void alert_fields(const struct vigil_alert *a, struct sink *s)
{
	put_u64(s, "position", NULL, a->position);
	put_time(s, "received_at", NULL, a->received_at_ms);
	put_str(s, "case_id", NULL, a->case_id);
	put_str(s, "kind", NULL, a->kind);
	put_u64(s, "stage", NULL, a->stage);
	put_str(s, "resolution", NULL, a->stage == 0 ? a->resolution : NULL);
	put_str(s, "cause", NULL, a->cause);
	put_str(s, "alert_id", NULL, a->alert_id_hex);
	put_str(s, "police", NULL, a->police);
	put_str(s, "police_advice", NULL, a->police_advice);
	put_time(s, "deadline", NULL, a->deadline_ms);
	put_time(s, "last_success", NULL, a->last_success_ms);
	put_u64(s, "failed_attempts", NULL, a->failed_attempts);
	put_orgs(s, "recipients", NULL, a->recipients, a->n_recipients);
	put_hex(s, "record_id", NULL, a->record_id, VIGIL_RECORD_ID_LEN, 1);
	put_hex(s, "leaf_hash", NULL, a->leaf_hash, VIGIL_HASH_LEN, 1);
	put_u64(s, "checkpoint_size", NULL, a->checkpoint.size);
}

static void alert_text(FILE *f, const struct vigil_alert *a)
{
	char at[VIGIL_TIME_LEN], deadline[VIGIL_TIME_LEN], success[VIGIL_TIME_LEN];
	vigil_format_time(a->received_at_ms, at, sizeof(at));
	time_or_none(a->deadline_ms, deadline, sizeof(deadline));
	time_or_none(a->last_success_ms, success, sizeof(success));
	fprintf(f, "%llu %s %s %s ", (unsigned long long)a->position, at, a->case_id, a->kind);
	if (a->stage == 0)
		fprintf(f, "resolved (%s)", a->resolution[0] ? a->resolution : "unknown");
	else
		fprintf(f, "stage %u%s", a->stage, a->stage == 2 ? " (escalated)" : "");
	if (!strcmp(a->cause, "after-ack"))
		fprintf(f, " (raised again: the silence went on after an acknowledgement)");
	else if (!strcmp(a->cause, "handover"))
		fprintf(f, " (open alert of a case now with you)");
	fprintf(f, "; alert %s; police: %s; deadline missed: %s; last success: %s; "
		   "failed attempts: %u; recipients: ", a->alert_id_hex, a->police_advice, deadline,
		success, a->failed_attempts);
	for (size_t i = 0; i < a->n_recipients; i++)
		fprintf(f, "%s%s", i ? ", " : "", a->recipients[i]);
	fputc('\n', f);
}

/* ---- an erasure ------------------------------------------------------------------ */

/* The fields of an erasure, in the order both forms print them. */
static void erasure_fields(const struct vigil_alert *a, struct sink *s)
{
	put_u64(s, "position", "", a->position);
	put_time(s, "received_at", "", a->received_at_ms);
	put_str(s, "case_id", "", a->case_id);
	put_str(s, "kind", "", a->kind);
	put_bool(s, "whole_record", "what", a->erase_whole, "records", "sealed-texts");
	put_u64s(s, "entries", "entries", a->erased, a->erased_n);
	put_str(s, "reason", "reason", a->erase_reason);
	put_str(s, "requested_by", "requested by", a->requested_by);
	put_hex(s, "request_id", "request", a->request_id, VIGIL_RECORD_ID_LEN,
		a->requested_by[0] != '\0');
	put_str(s, "reference", "reference", a->erase_reference);
	put_orgs(s, "recipients", "recipients", a->recipients, a->n_recipients);
	put_hex(s, "record_id", NULL, a->record_id, VIGIL_RECORD_ID_LEN, 1);
	put_hex(s, "leaf_hash", NULL, a->leaf_hash, VIGIL_HASH_LEN, 1);
	put_u64(s, "checkpoint_size", NULL, a->checkpoint.size);
}

static void fields(const struct vigil_alert *a, struct sink *s)
{
	if (a->event == VIGIL_EVENT_ERASURE)
		erasure_fields(a, s);
	else
		alert_fields(a, s);
}

/* ---- the forms -------------------------------------------------------------------- */

void delivery_write(FILE *f, const struct vigil_alert *a, int json)
{
	struct sink s = { .form = json ? FORM_JSON : FORM_TEXT, .f = f };
	if (!json && a->event != VIGIL_EVENT_ERASURE) {
		alert_text(f, a);
		return;
	}
	if (json)
		fputc('{', f);
	fields(a, &s);
	fputs(json ? "}\n" : "\n", f);
}

int delivery_env(const struct vigil_alert *a, struct hook_env *env)
{
	struct sink s = { .form = FORM_ENV, .env = env };
	fields(a, &s);
	return s.failed ? -1 : 0;
}
