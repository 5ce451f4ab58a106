/*
 * receipt.c - receipt files: "vigil contact --save-receipt" writes one,
 * "vigil verify --receipt" reads it back.
 *
 * A receipt file is one JSON object holding everything needed to verify
 * the receipt offline with nothing but the relay's checkpoint key:
 *
 *   format           "vigil-receipt/1"
 *   index            the entry's 0-based position in the log
 *   received_at      the relay's receive time, RFC 3339 (for people; must
 *                    agree with received_at_ms)
 *   received_at_ms   the same in ms since the epoch (what the leaf commits to)
 *   leaf_hash        hex, the entry's RFC 9162 leaf hash
 *   record_id        hex, the record's id
 *   duplicate        whether the relay already had the record (information)
 *   record           base64 of the exact record bytes
 *   signature        base64 of the signature in the entry (for a duplicate:
 *                    the first submission's)
 *   cert_sha256      hex SHA-256 of the signer's DER certificate, as stored
 *   checkpoint       the relay's signed checkpoint note, verbatim
 *   inclusion_proof  hex nodes from the leaf upwards to the checkpoint's root
 *
 * The file is written to a temporary name next to its final one, synced and
 * renamed, so that it is either complete or absent.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

#define RECEIPT_FORMAT "vigil-receipt/1"
/* A record is at most a frame (the relay's default limit is 1 MiB). */
#define RECEIPT_FILE_MAX (4u * 1024u * 1024u)

/* ---- writing --------------------------------------------------------------------- */

int receipt_out_open(struct receipt_out *o, const char *path, char *why, size_t why_len)
{
	memset(o, 0, sizeof(*o));
	size_t n = strlen(path);
	o->path = strdup(path);
	o->tmp = malloc(n + 8);
	if (!o->path || !o->tmp) {
		receipt_out_abort(o);
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	snprintf(o->tmp, n + 8, "%s.XXXXXX", path);
	int fd = mkstemp(o->tmp);
	if (fd < 0) {
		snprintf(why, why_len, "cannot create the receipt file %s: %s", path,
			 strerror(errno));
		free(o->tmp);
		o->tmp = NULL;
		receipt_out_abort(o);
		return -1;
	}
	o->f = fdopen(fd, "w");
	if (!o->f) {
		snprintf(why, why_len, "cannot write the receipt file %s: %s", path,
			 strerror(errno));
		close(fd);
		receipt_out_abort(o);
		return -1;
	}
	return 0;
}

/* Base64 of n bytes, malloc()ed. */
static char *b64(const uint8_t *p, size_t n)
{
	char *s = malloc(4 * ((n + 2) / 3) + 1);
	if (s)
		vigil_base64_encode(p, n, s);
	return s;
}

/* Syncs the directory holding path, so the rename survives a crash. */
static void sync_dir(const char *path)
{
	char *dir = strdup(path);
	if (!dir)
		return;
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, strlen(dir) + 1, ".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

/* The receipt file's object (a new reference), NULL when out of memory. */
static json_t *receipt_object(const struct vigil_receipt *r, const uint8_t *record,
			      size_t record_len)
{
	char leaf[2 * VIGIL_HASH_LEN + 1], id[2 * VIGIL_RECORD_ID_LEN + 1];
	char cert[2 * VIGIL_HASH_LEN + 1], at[VIGIL_TIME_LEN];
	vigil_hex_encode(r->leaf_hash, VIGIL_HASH_LEN, leaf);
	vigil_hex_encode(r->record_id, VIGIL_RECORD_ID_LEN, id);
	vigil_hex_encode(r->cert_sha256, VIGIL_HASH_LEN, cert);
	vigil_format_time(r->received_at_ms, at, sizeof(at));
	char *rec = b64(record, record_len), *sig = b64(r->signature, r->signature_len);
	json_t *proof = json_array();
	for (size_t i = 0; proof && i < r->proof_len; i++) {
		char h[2 * VIGIL_HASH_LEN + 1];
		vigil_hex_encode(r->inclusion_proof[i], VIGIL_HASH_LEN, h);
		if (json_array_append_new(proof, json_string(h)) != 0) {
			json_decref(proof);
			proof = NULL;
		}
	}
	json_t *o = NULL;
	if (rec && sig && proof)
		o = json_pack("{s:s, s:I, s:s, s:I, s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:o}",
			      "format", RECEIPT_FORMAT, "index", (json_int_t)r->index,
			      "received_at", at, "received_at_ms", (json_int_t)r->received_at_ms,
			      "leaf_hash", leaf, "record_id", id, "duplicate", r->duplicate,
			      "record", rec, "signature", sig, "cert_sha256", cert,
			      "checkpoint", r->checkpoint.note, "inclusion_proof", proof);
	else
		json_decref(proof);
	free(rec);
	free(sig);
	return o;
}

int receipt_out_commit(struct receipt_out *o, const struct vigil_receipt *r,
		       const uint8_t *record, size_t record_len, char *why, size_t why_len)
{
	json_t *obj = receipt_object(r, record, record_len);
	if (!obj) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	/* One member per line, each value compact: easy to read and to diff. */
	FILE *f = o->f;
	int failed = fputs("{\n", f) == EOF, first = 1;
	const char *key;
	json_t *val;
	json_object_foreach(obj, key, val) {
		char *v = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!v || fprintf(f, "%s  \"%s\": %s", first ? "" : ",\n", key, v) < 0)
			failed = 1;
		free(v);
		first = 0;
	}
	failed |= fputs("\n}\n", f) == EOF;
	json_decref(obj);
	failed |= fflush(f) != 0 || fsync(fileno(f)) != 0;
	int saved = errno;
	failed |= fclose(f) != 0;
	o->f = NULL;
	if (failed || rename(o->tmp, o->path) != 0) {
		snprintf(why, why_len, "cannot write the receipt file %s: %s", o->path,
			 strerror(failed ? saved : errno));
		return -1;
	}
	free(o->tmp);
	o->tmp = NULL;
	sync_dir(o->path);
	return 0;
}

void receipt_out_abort(struct receipt_out *o)
{
	if (o->f)
		fclose(o->f);
	if (o->tmp)
		unlink(o->tmp);
	free(o->tmp);
	free(o->path);
	memset(o, 0, sizeof(*o));
}

/* ---- reading --------------------------------------------------------------------------- */

/* The member key of type type, or NULL with why ("is missing" only when
 * required). */
static const json_t *member(const json_t *j, const char *key, json_type type, int required,
			    char *why, size_t why_len)
{
	const json_t *v = json_object_get(j, key);
	if (!v) {
		if (required)
			snprintf(why, why_len, "\"%s\" is missing", key);
		return NULL;
	}
	if (json_typeof(v) != type && !(type == JSON_TRUE && json_is_boolean(v))) {
		static const char *const names[] = {
			[JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
			[JSON_STRING] = "a string", [JSON_INTEGER] = "an integer",
			[JSON_REAL] = "a number", [JSON_TRUE] = "a boolean",
			[JSON_FALSE] = "a boolean", [JSON_NULL] = "null",
		};
		snprintf(why, why_len, "\"%s\" is not %s", key, names[type]);
		return NULL;
	}
	return v;
}

static int hex_member(const json_t *j, const char *key, uint8_t *out, size_t n, char *why,
		      size_t why_len)
{
	const json_t *v = member(j, key, JSON_STRING, 1, why, why_len);
	if (!v)
		return -1;
	if (json_string_length(v) != 2 * n ||
	    vigil_hex_decode(json_string_value(v), out, n) != VIGIL_OK) {
		snprintf(why, why_len, "\"%s\" is not %zu hex digits", key, 2 * n);
		return -1;
	}
	return 0;
}

/* Base64 member into a malloc()ed buffer. */
static int b64_member(const json_t *j, const char *key, uint8_t **out, size_t *len, char *why,
		      size_t why_len)
{
	const json_t *v = member(j, key, JSON_STRING, 1, why, why_len);
	if (!v)
		return -1;
	size_t slen = json_string_length(v);
	size_t cap = slen / 4 * 3 + 1;
	uint8_t *b = malloc(cap);
	if (!b) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	int n = vigil_base64_decode(json_string_value(v), slen, b, cap);
	if (n <= 0) {
		free(b);
		snprintf(why, why_len, "\"%s\" is not non-empty base64", key);
		return -1;
	}
	*out = b;
	*len = (size_t)n;
	return 0;
}

static int receipt_fields(const json_t *j, struct receipt_in *in, char *why, size_t why_len)
{
	struct vigil_receipt *r = &in->r;
	const json_t *v;
	if (!json_is_object(j)) {
		snprintf(why, why_len, "it is not a JSON object");
		return -1;
	}
	if (!(v = member(j, "format", JSON_STRING, 1, why, why_len)))
		return -1;
	if (strcmp(json_string_value(v), RECEIPT_FORMAT) != 0) {
		snprintf(why, why_len, "format \"%.40s\" is not " RECEIPT_FORMAT,
			 json_string_value(v));
		return -1;
	}
	if (!(v = member(j, "index", JSON_INTEGER, 1, why, why_len)))
		return -1;
	if (json_integer_value(v) < 0) {
		snprintf(why, why_len, "\"index\" is negative");
		return -1;
	}
	r->index = (uint64_t)json_integer_value(v);
	if (!(v = member(j, "received_at_ms", JSON_INTEGER, 1, why, why_len)))
		return -1;
	r->received_at_ms = json_integer_value(v);
	in->received_at = -1;
	if ((v = member(j, "received_at", JSON_STRING, 0, why, why_len)) != NULL) {
		if (vigil_parse_time(json_string_value(v), &in->received_at) != VIGIL_OK) {
			snprintf(why, why_len, "\"received_at\" is not an RFC 3339 time");
			return -1;
		}
	} else if (json_object_get(j, "received_at")) {
		return -1;
	}
	if ((v = member(j, "duplicate", JSON_TRUE, 0, why, why_len)) != NULL)
		r->duplicate = json_is_true(v);
	else if (json_object_get(j, "duplicate"))
		return -1;
	if (hex_member(j, "leaf_hash", r->leaf_hash, VIGIL_HASH_LEN, why, why_len) ||
	    hex_member(j, "record_id", r->record_id, VIGIL_RECORD_ID_LEN, why, why_len) ||
	    hex_member(j, "cert_sha256", r->cert_sha256, VIGIL_HASH_LEN, why, why_len))
		return -1;
	if (b64_member(j, "record", &in->record, &in->record_len, why, why_len) != 0)
		return -1;
	uint8_t *sig;
	size_t sig_len;
	if (b64_member(j, "signature", &sig, &sig_len, why, why_len) != 0)
		return -1;
	if (sig_len > VIGIL_SIGNATURE_MAX) {
		free(sig);
		snprintf(why, why_len, "\"signature\" is %zu bytes; the limit is %d", sig_len,
			 VIGIL_SIGNATURE_MAX);
		return -1;
	}
	memcpy(r->signature, sig, sig_len);
	r->signature_len = sig_len;
	free(sig);
	if (!(v = member(j, "checkpoint", JSON_STRING, 1, why, why_len)))
		return -1;
	size_t note_len = json_string_length(v);
	/* (jansson refuses \u0000 in a string: the note is a C string.) */
	if (note_len >= sizeof(r->checkpoint.note)) {
		snprintf(why, why_len, "\"checkpoint\" is %zu bytes; the limit is %zu", note_len,
			 sizeof(r->checkpoint.note) - 1);
		return -1;
	}
	memcpy(r->checkpoint.note, json_string_value(v), note_len + 1);
	r->checkpoint.note_len = note_len;
	if (!(v = member(j, "inclusion_proof", JSON_ARRAY, 1, why, why_len)))
		return -1;
	if (json_array_size(v) > VIGIL_PROOF_MAX) {
		snprintf(why, why_len, "\"inclusion_proof\" has %zu nodes; the limit is %d",
			 json_array_size(v), VIGIL_PROOF_MAX);
		return -1;
	}
	size_t i;
	const json_t *h;
	json_array_foreach(v, i, h) {
		if (!json_is_string(h) || json_string_length(h) != 2 * VIGIL_HASH_LEN ||
		    vigil_hex_decode(json_string_value(h), r->inclusion_proof[i], VIGIL_HASH_LEN) !=
			    VIGIL_OK) {
			snprintf(why, why_len, "\"inclusion_proof\" node %zu is not %d hex digits",
				 i, 2 * VIGIL_HASH_LEN);
			return -1;
		}
	}
	r->proof_len = json_array_size(v);
	return 0;
}

int receipt_in_parse(const char *text, size_t len, struct receipt_in *in, char *why,
		     size_t why_len)
{
	memset(in, 0, sizeof(*in));
	json_error_t e;
	/* Duplicate keys are refused: which one counts would be a guess. */
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
	if (!j) {
		snprintf(why, why_len, "it is not valid JSON: line %d, column %d: %s", e.line,
			 e.column, e.text);
		return -1;
	}
	char detail[256];
	int rc = receipt_fields(j, in, detail, sizeof(detail));
	json_decref(j);
	if (rc != 0) {
		snprintf(why, why_len, "it is malformed: %s", detail);
		receipt_in_free(in);
	}
	return rc;
}

int receipt_in_read(const char *path, struct receipt_in *in, char *why, size_t why_len)
{
	memset(in, 0, sizeof(*in));
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(why, why_len, "cannot read receipt %s: %s", path, strerror(errno));
		return -1;
	}
	char *text = malloc(RECEIPT_FILE_MAX + 1);
	if (!text) {
		fclose(f);
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	size_t n = fread(text, 1, RECEIPT_FILE_MAX + 1, f);
	int bad = ferror(f);
	fclose(f);
	char detail[512];
	int rc = -1;
	if (bad)
		snprintf(why, why_len, "cannot read receipt %s", path);
	else if (n > RECEIPT_FILE_MAX)
		snprintf(why, why_len, "receipt %s is larger than %u bytes", path,
			 RECEIPT_FILE_MAX);
	else if ((rc = receipt_in_parse(text, n, in, detail, sizeof(detail))) != 0)
		/* "receipt F is not valid JSON: ..." / "receipt F is malformed: ..." */
		snprintf(why, why_len, "receipt %s %s", path, detail + strlen("it "));
	free(text);
	return rc;
}

void receipt_in_free(struct receipt_in *in)
{
	free(in->record);
	in->record = NULL;
	in->record_len = 0;
}
