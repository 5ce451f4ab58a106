/*
 * output.c - what the tool prints: receipts as text lines or as one JSON
 * object on one line, failures on stderr (and as JSON on stdout with
 * --json), so that scripts can read stdout and people can read stderr.
 * Verdicts of "vigil verify" are its result and go to stdout.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

void output_receipt(const struct vigil_receipt *r, int json)
{
	output_receipt_with(r, json, NULL, NULL);
}

void output_receipt_with(const struct vigil_receipt *r, int json, const char *key,
			 const char *value)
{
	char leaf[2 * VIGIL_HASH_LEN + 1], id[2 * VIGIL_RECORD_ID_LEN + 1];
	char at[VIGIL_TIME_LEN];
	vigil_hex_encode(r->leaf_hash, VIGIL_HASH_LEN, leaf);
	vigil_hex_encode(r->record_id, VIGIL_RECORD_ID_LEN, id);
	vigil_format_time(r->received_at_ms, at, sizeof(at));
	if (json) {
		printf("{\"index\":%llu,\"leaf_hash\":\"%s\",\"received_at\":\"%s\","
		       "\"record_id\":\"%s\",\"duplicate\":%s,\"checkpoint\":",
		       (unsigned long long)r->index, leaf, at, id, r->duplicate ? "true" : "false");
		json_write_string(stdout, r->checkpoint.note);
		fputs(",\"inclusion_proof\":", stdout);
		json_write_hashes(stdout, (const uint8_t(*)[VIGIL_HASH_LEN])r->inclusion_proof,
				  r->proof_len);
		if (key) {
			int n = 1;
			json_key(stdout, &n, key);
			json_write_string(stdout, value);
		}
		fputs("}\n", stdout);
		return;
	}
	printf("stored entry %llu at %s\n", (unsigned long long)r->index, at);
	printf("record_id %s\n", id);
	printf("leaf_hash %s\n", leaf);
	if (key)
		printf("%s %s\n", key, value);
	if (r->duplicate)
		printf("duplicate: yes\n");
	printf("verified: included in checkpoint of size %llu\n",
	       (unsigned long long)r->checkpoint.size);
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
	if (json) {
		fputs("{\"error\":", stdout);
		json_write_string(stdout, name);
		fputs(",\"message\":", stdout);
		json_write_string(stdout, e->message);
		fputs("}\n", stdout);
	}
}

void output_verdict_bad(const char *what, const char *bad, const char *message, int json)
{
	if (!json) {
		printf("%s %s: %s\n", what, bad, message);
		return;
	}
	fputs("{\"ok\":false,\"error\":", stdout);
	json_write_string(stdout, bad);
	fputs(",\"message\":", stdout);
	json_write_string(stdout, message);
	fputs("}\n", stdout);
}
