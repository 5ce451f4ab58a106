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

int receipt_out_commit(struct receipt_out *o, const struct vigil_receipt *r,
		       const uint8_t *record, size_t record_len, char *why, size_t why_len)
{
	char leaf[2 * VIGIL_HASH_LEN + 1], id[2 * VIGIL_RECORD_ID_LEN + 1];
	char cert[2 * VIGIL_HASH_LEN + 1], at[VIGIL_TIME_LEN];
	vigil_hex_encode(r->leaf_hash, VIGIL_HASH_LEN, leaf);
	vigil_hex_encode(r->record_id, VIGIL_RECORD_ID_LEN, id);
	vigil_hex_encode(r->cert_sha256, VIGIL_HASH_LEN, cert);
	vigil_format_time(r->received_at_ms, at, sizeof(at));
	char *rec = b64(record, record_len), *sig = b64(r->signature, r->signature_len);
	if (!rec || !sig) {
		free(rec);
		free(sig);
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	FILE *f = o->f;
	fprintf(f, "{\n  \"format\": \"" RECEIPT_FORMAT "\",\n  \"index\": %llu,\n"
		   "  \"received_at\": \"%s\",\n  \"received_at_ms\": %lld,\n"
		   "  \"leaf_hash\": \"%s\",\n  \"record_id\": \"%s\",\n  \"duplicate\": %s,\n"
		   "  \"record\": \"%s\",\n  \"signature\": \"%s\",\n  \"cert_sha256\": \"%s\",\n"
		   "  \"checkpoint\": ",
		(unsigned long long)r->index, at, (long long)r->received_at_ms, leaf, id,
		r->duplicate ? "true" : "false", rec, sig, cert);
	json_write_string(f, r->checkpoint.note);
	fputs(",\n  \"inclusion_proof\": ", f);
	json_write_hashes(f, (const uint8_t(*)[VIGIL_HASH_LEN])r->inclusion_proof, r->proof_len);
	fputs("\n}\n", f);
	free(rec);
	free(sig);
	int failed = fflush(f) != 0 || fsync(fileno(f)) != 0;
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

/* The member key of type type, or NULL with why. */
static const struct json_value *member(const struct json_object *j, const char *key,
				       enum json_type type, int required, char *why,
				       size_t why_len)
{
	static const char *const names[] = { "null", "a boolean", "an integer", "a string",
					     "an array" };
	const struct json_value *v = json_get(j, key);
	if (!v) {
		if (required)
			snprintf(why, why_len, "\"%s\" is missing", key);
		return NULL;
	}
	if (v->type != type) {
		snprintf(why, why_len, "\"%s\" is not %s", key, names[type]);
		return NULL;
	}
	return v;
}

static int hex_member(const struct json_object *j, const char *key, uint8_t *out, size_t n,
		      char *why, size_t why_len)
{
	const struct json_value *v = member(j, key, JSON_STRING, 1, why, why_len);
	if (!v)
		return -1;
	if (v->string_len != 2 * n || vigil_hex_decode(v->string, out, n) != VIGIL_OK) {
		snprintf(why, why_len, "\"%s\" is not %zu hex digits", key, 2 * n);
		return -1;
	}
	return 0;
}

/* Base64 member into a malloc()ed buffer. */
static int b64_member(const struct json_object *j, const char *key, uint8_t **out,
		      size_t *len, char *why, size_t why_len)
{
	const struct json_value *v = member(j, key, JSON_STRING, 1, why, why_len);
	if (!v)
		return -1;
	size_t cap = v->string_len / 4 * 3 + 1;
	uint8_t *b = malloc(cap);
	if (!b) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	int n = vigil_base64_decode(v->string, v->string_len, b, cap);
	if (n <= 0) {
		free(b);
		snprintf(why, why_len, "\"%s\" is not non-empty base64", key);
		return -1;
	}
	*out = b;
	*len = (size_t)n;
	return 0;
}

static int receipt_parse(const struct json_object *j, struct receipt_in *in, char *why,
			 size_t why_len)
{
	struct vigil_receipt *r = &in->r;
	const struct json_value *v;
	if (!(v = member(j, "format", JSON_STRING, 1, why, why_len)))
		return -1;
	if (strcmp(v->string, RECEIPT_FORMAT) != 0) {
		snprintf(why, why_len, "format \"%.40s\" is not " RECEIPT_FORMAT, v->string);
		return -1;
	}
	if (!(v = member(j, "index", JSON_NUMBER, 1, why, why_len)))
		return -1;
	if (v->number < 0) {
		snprintf(why, why_len, "\"index\" is negative");
		return -1;
	}
	r->index = (uint64_t)v->number;
	if (!(v = member(j, "received_at_ms", JSON_NUMBER, 1, why, why_len)))
		return -1;
	r->received_at_ms = v->number;
	in->received_at = -1;
	if ((v = member(j, "received_at", JSON_STRING, 0, why, why_len)) != NULL) {
		if (vigil_parse_time(v->string, &in->received_at) != VIGIL_OK) {
			snprintf(why, why_len, "\"received_at\" is not an RFC 3339 time");
			return -1;
		}
	} else if (json_get(j, "received_at")) {
		return -1;
	}
	if ((v = member(j, "duplicate", JSON_BOOL, 0, why, why_len)) != NULL)
		r->duplicate = v->boolean;
	else if (json_get(j, "duplicate"))
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
	if (v->string_len >= sizeof(r->checkpoint.note)) {
		snprintf(why, why_len, "\"checkpoint\" is %zu bytes; the limit is %zu",
			 v->string_len, sizeof(r->checkpoint.note) - 1);
		return -1;
	}
	memcpy(r->checkpoint.note, v->string, v->string_len + 1);
	r->checkpoint.note_len = v->string_len;
	if (!(v = member(j, "inclusion_proof", JSON_ARRAY, 1, why, why_len)))
		return -1;
	if (v->n_items > VIGIL_PROOF_MAX) {
		snprintf(why, why_len, "\"inclusion_proof\" has %zu nodes; the limit is %d",
			 v->n_items, VIGIL_PROOF_MAX);
		return -1;
	}
	for (size_t i = 0; i < v->n_items; i++) {
		const struct json_value *h = &v->items[i];
		if (h->type != JSON_STRING || h->string_len != 2 * VIGIL_HASH_LEN ||
		    vigil_hex_decode(h->string, r->inclusion_proof[i], VIGIL_HASH_LEN) !=
			    VIGIL_OK) {
			snprintf(why, why_len, "\"inclusion_proof\" node %zu is not %d hex digits",
				 i, 2 * VIGIL_HASH_LEN);
			return -1;
		}
	}
	r->proof_len = v->n_items;
	return 0;
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
	char detail[256];
	struct json_object j;
	int rc = -1;
	if (bad) {
		snprintf(why, why_len, "cannot read receipt %s", path);
	} else if (n > RECEIPT_FILE_MAX) {
		snprintf(why, why_len, "receipt %s is larger than %u bytes", path,
			 RECEIPT_FILE_MAX);
	} else if (json_parse_object(text, n, &j, detail, sizeof(detail)) != 0) {
		snprintf(why, why_len, "receipt %s is not valid JSON: %s", path, detail);
	} else {
		rc = receipt_parse(&j, in, detail, sizeof(detail));
		if (rc != 0) {
			snprintf(why, why_len, "receipt %s is malformed: %s", path, detail);
			receipt_in_free(in);
		}
		json_object_free(&j);
	}
	free(text);
	return rc;
}

void receipt_in_free(struct receipt_in *in)
{
	free(in->record);
	in->record = NULL;
	in->record_len = 0;
}
