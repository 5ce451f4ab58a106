/*
 * output.c - what the tool prints: receipts as text lines or as one JSON
 * object on one line, failures on stderr (and as JSON on stdout with
 * --json), so that scripts can read stdout and people can read stderr.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Length of the valid UTF-8 sequence at s, 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	unsigned cp;
	if (c < 0x80)
		return 1;
	if ((c & 0xE0) == 0xC0) {
		n = 2;
		cp = c & 0x1F;
	} else if ((c & 0xF0) == 0xE0) {
		n = 3;
		cp = c & 0x0F;
	} else if ((c & 0xF8) == 0xF0) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/* A JSON string; bytes that are not valid UTF-8 become U+FFFD. */
static void json_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	fputc('"', f);
	while (*s) {
		unsigned c = *s;
		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc((int)c, f);
			s++;
		} else if (c == '\n') {
			fputs("\\n", f);
			s++;
		} else if (c == '\r') {
			fputs("\\r", f);
			s++;
		} else if (c == '\t') {
			fputs("\\t", f);
			s++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			s++;
		} else {
			size_t n = utf8_len(s);
			if (n == 0) {
				fputs("\\ufffd", f);
				s++;
			} else {
				fwrite(s, 1, n, f);
				s += n;
			}
		}
	}
	fputc('"', f);
}

void output_receipt(const struct vigil_receipt *r, int json)
{
	char leaf[2 * VIGIL_HASH_LEN + 1], id[2 * VIGIL_RECORD_ID_LEN + 1];
	char at[VIGIL_TIME_LEN];
	vigil_hex_encode(r->leaf_hash, VIGIL_HASH_LEN, leaf);
	vigil_hex_encode(r->record_id, VIGIL_RECORD_ID_LEN, id);
	vigil_format_time(r->received_at_ms, at, sizeof(at));
	if (json) {
		printf("{\"index\":%llu,\"leaf_hash\":\"%s\",\"received_at\":\"%s\","
		       "\"record_id\":\"%s\",\"duplicate\":%s}\n",
		       (unsigned long long)r->index, leaf, at, id, r->duplicate ? "true" : "false");
		return;
	}
	printf("stored entry %llu at %s\n", (unsigned long long)r->index, at);
	printf("record_id %s\n", id);
	printf("leaf_hash %s\n", leaf);
	if (r->duplicate)
		printf("duplicate: yes\n");
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
		json_string(stdout, name);
		fputs(",\"message\":", stdout);
		json_string(stdout, e->message);
		fputs("}\n", stdout);
	}
}
