/*
 * delivery.c - one delivered alert or erasure, as "vigil alerts" shows it:
 * the text line, the JSON object (--json, and what --exec CMD reads on
 * its standard input) and the VIGIL_* environment of --exec.
 *
 * The fields of each are described once (alert_view, erasure_view, with
 * view.h), so the forms cannot drift apart.  Text: the head fields (label
 * "") separated by spaces, then "LABEL: VALUE" separated by "; "; a field
 * with no label (NULL) is not in the text.  An empty string or an absent
 * id or time is "none" in the text, null in JSON and empty in the
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
#include "view.h"

static void orgs_view(struct view *v, const char *key, const char *label,
		      const char (*orgs)[VIGIL_ORG_LEN], size_t n)
{
	const char *list[VIGIL_RECIPIENTS_MAX];
	size_t k = n < VIGIL_RECIPIENTS_MAX ? n : VIGIL_RECIPIENTS_MAX;
	for (size_t i = 0; i < k; i++)
		list[i] = orgs[i];
	view_strs(v, key, label, list, k);
}

static void alert_view(struct view *v, const struct vigil_alert *a)
{
	view_uint(v, "position", "", a->position);
	view_time(v, "received_at", "", a->received_at_ms);
	view_str(v, "case_id", "", a->case_id);
	view_str(v, "kind", "", a->kind);
	view_uint(v, "stage", "", a->stage);
	if (a->stage == 0)
		view_say(v, "resolved (%s)", a->resolution[0] ? a->resolution : "unknown");
	else
		view_say(v, "stage %u%s%s", a->stage, a->stage == 2 ? " (escalated)" : "",
			 !strcmp(a->cause, "after-ack")
				 ? " (raised again: the silence went on after an acknowledgement)"
			 : !strcmp(a->cause, "handover") ? " (open alert of a case now with you)"
							 : "");
	view_str(v, "resolution", NULL, a->stage == 0 ? a->resolution : NULL);
	view_str(v, "cause", NULL, a->cause);
	view_str(v, "alert_id", "alert", a->alert_id_hex);
	view_str(v, "police", NULL, a->police);
	view_str(v, "police_advice", "police", a->police_advice);
	view_time(v, "deadline", "deadline missed", a->deadline_ms);
	view_time(v, "last_success", "last success", a->last_success_ms);
	view_uint(v, "failed_attempts", "failed attempts", a->failed_attempts);
	orgs_view(v, "recipients", "recipients", a->recipients, a->n_recipients);
	view_hex(v, "record_id", NULL, a->record_id, VIGIL_RECORD_ID_LEN);
	view_hex(v, "leaf_hash", NULL, a->leaf_hash, VIGIL_HASH_LEN);
	view_uint(v, "checkpoint_size", NULL, a->checkpoint.size);
}

static void erasure_view(struct view *v, const struct vigil_alert *a)
{
	view_uint(v, "position", "", a->position);
	view_time(v, "received_at", "", a->received_at_ms);
	view_str(v, "case_id", "", a->case_id);
	view_str(v, "kind", "", a->kind);
	view_bool(v, "whole_record", "what", a->erase_whole);
	view_say(v, "%s", a->erase_whole ? "records" : "sealed-texts");
	view_uints(v, "entries", "entries", a->erased, a->erased_n);
	char *list = v->n ? view_text_of(&v->f[v->n - 1], ",") : NULL; /* 1,2 */
	if (list)
		view_say(v, "%s", list);
	free(list);
	view_str(v, "reason", "reason", a->erase_reason);
	view_str(v, "requested_by", "requested by", a->requested_by);
	view_hex(v, "request_id", "request", a->requested_by[0] ? a->request_id : NULL,
		 VIGIL_RECORD_ID_LEN);
	view_str(v, "reference", "reference", a->erase_reference);
	orgs_view(v, "recipients", "recipients", a->recipients, a->n_recipients);
	view_hex(v, "record_id", NULL, a->record_id, VIGIL_RECORD_ID_LEN);
	view_hex(v, "leaf_hash", NULL, a->leaf_hash, VIGIL_HASH_LEN);
	view_uint(v, "checkpoint_size", NULL, a->checkpoint.size);
}

static void delivery_view(struct view *v, const struct vigil_alert *a)
{
	view_init(v);
	if (a->event == VIGIL_EVENT_ERASURE)
		erasure_view(v, a);
	else
		alert_view(v, a);
}

void delivery_write(FILE *f, const struct vigil_alert *a, int json)
{
	struct view v;
	delivery_view(&v, a);
	if (!view_complete(&v))
		fputs("vigil: out of memory\n", stderr);
	else if (json)
		view_write_json(view_object(&v), f);
	else
		view_write_summary(&v, f);
	view_free(&v);
}

/* A JSON value as an environment variable's (malloc()ed): a string as it
 * is, an array as its items joined by commas, true or false, a number in
 * decimal, empty for null and for an empty array. */
static char *env_value(const json_t *j)
{
	if (json_is_string(j))
		return strdup(json_string_value(j));
	if (json_is_null(j) || (json_is_array(j) && json_array_size(j) == 0))
		return strdup("");
	if (json_is_array(j)) {
		struct view_field f = { .value = (json_t *)j };
		return view_text_of(&f, ",");
	}
	return json_dumps(j, JSON_ENCODE_ANY);
}

int delivery_env(const struct vigil_alert *a, struct hook_env *env)
{
	struct view v;
	delivery_view(&v, a);
	json_t *o = view_object(&v);
	view_free(&v);
	if (!o)
		return -1;
	int rc = 0;
	const char *key;
	json_t *val;
	json_object_foreach(o, key, val) {
		char name[64];
		/* An erasure's "entries" is VIGIL_ERASED_ENTRIES. */
		const char *k = strcmp(key, "entries") ? key : "erased_entries";
		size_t len = (size_t)snprintf(name, sizeof(name), "VIGIL_");
		for (const char *p = k; *p && len + 1 < sizeof(name); p++)
			name[len++] = (char)toupper((unsigned char)*p);
		name[len] = '\0';
		char *value = env_value(val);
		if (!value || hook_env_add(env, name, value) != 0)
			rc = -1;
		free(value);
		if (rc)
			break;
	}
	json_decref(o);
	return rc;
}
