/*
 * output.c - what the tool prints: receipts as text lines or as one JSON
 * object on one line, failures on stderr (and as JSON on stdout with
 * --json), so that scripts can read stdout and people can read stderr.
 * Verdicts of "vigil verify" are its result and go to stdout.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "view.h"

void output_receipt(const struct vigil_receipt *r, int json, const char *summary, const char *key,
		    const char *value)
{
	struct view v;
	char at[VIGIL_TIME_LEN];
	view_init(&v);
	vigil_format_time(r->received_at_ms, at, sizeof(at));
	/* The JSON members in the order of the first versions (scripts may
	 * read them in that order), then the ones added since. */
	view_line(&v, "", "%s", summary);
	view_uint(&v, "index", NULL, r->index);
	view_line(&v, "", "entry %llu at %s%s; verified: included in checkpoint of size %llu",
		  (unsigned long long)r->index, at,
		  r->duplicate ? " (the relay already had this record)" : "",
		  (unsigned long long)r->checkpoint.size);
	view_hex(&v, "leaf_hash", "leaf_hash", r->leaf_hash, VIGIL_HASH_LEN);
	view_str(&v, "received_at", NULL, at);
	view_hex(&v, "record_id", "record_id", r->record_id, VIGIL_RECORD_ID_LEN);
	view_bool(&v, "duplicate", NULL, r->duplicate);
	view_str(&v, "checkpoint", NULL, r->checkpoint.note);
	json_t *proof = json_array();
	for (size_t i = 0; proof && i < r->proof_len; i++) {
		char hex[2 * VIGIL_HASH_LEN + 1];
		vigil_hex_encode(r->inclusion_proof[i], VIGIL_HASH_LEN, hex);
		if (json_array_append_new(proof, json_string(hex)) != 0)
			v.nomem = 1;
	}
	view_json(&v, "inclusion_proof", NULL, proof);
	if (key)
		view_str(&v, key, key, value);
	view_str(&v, "summary", NULL, summary);
	view_uint(&v, "checkpoint_size", NULL, r->checkpoint.size);
	view_print_width(&v, json, -1);
}

const char *output_words(const char *code, char *buf, size_t n)
{
	snprintf(buf, n, "%s", code ? code : "");
	for (char *p = buf; *p; p++)
		if (*p == '-' || *p == '_')
			*p = ' ';
	return buf;
}

void output_names(FILE *f, const char *(*name)(unsigned))
{
	size_t col = 0;
	for (unsigned i = 0; name(i); i++) {
		size_t n = strlen(name(i));
		if (col == 0) {
			fputs("                       ", f);
			col = 23;
		} else if (col + 2 + n > 78) {
			fputs(",\n                       ", f);
			col = 23;
		} else {
			fputs(", ", f);
			col += 2;
		}
		fputs(name(i), f);
		col += n;
	}
	fputc('\n', f);
}

/* Names of local failures in JSON; they never collide with the relay's
 * error code names. */
static const char *status_name(int status)
{
	switch (status) {
	case VIGIL_E_USAGE: return "USAGE";
	case VIGIL_E_CONNECT: return "CONNECT";
	case VIGIL_E_TLS: return "TLS";
	case VIGIL_E_PROTOCOL: return "PROTOCOL";
	case VIGIL_E_VERIFY: return "VERIFY";
	case VIGIL_E_IO: return "IO";
	case VIGIL_E_NOMEM: return "NOMEM";
	case VIGIL_E_SEALED: return "SEALED";
	default: return "UNKNOWN";
	}
}

void output_failure(const struct vigil_error *e, int json)
{
	const char *name;
	if (e->status == VIGIL_E_REFUSED) {
		name = e->relay_code_name;
		fprintf(stderr, "vigil: refused by relay: %s: %s\n", name, e->message);
	} else {
		name = status_name(e->status);
		fprintf(stderr, "vigil: %s\n", e->message[0] ? e->message : vigil_strerror(e->status));
	}
	if (json)
		view_write_json(json_pack("{s:o, s:o}", "error", view_jstring(name), "message",
					  view_jstring(e->message)), stdout);
}

void output_verdict_bad(const char *what, const char *bad, const char *message, int json)
{
	if (!json) {
		printf("%s %s: %s\n", what, bad, message);
		return;
	}
	view_write_json(json_pack("{s:b, s:o, s:o}", "ok", 0, "error", view_jstring(bad),
				  "message", view_jstring(message)), stdout);
}
