/*
 * exportverify.c - "vigil verify --export DIR": checks a case export
 * (export.h) offline, with no relay, and names the first file that fails.
 *
 * The order makes the file named the one that was changed:
 *   1. index.json parses and has its form;
 *   2. the exporter's certificate (certs/HASH.der, HASH as index.json says)
 *      hashes to its name and chains to the CA (--ca FILE, else ca.pem);
 *   3. index.json.sig is the exporter's signature over index.json;
 *   4. every file is listed in index.json, and every listed file is there
 *      with its SHA-256;
 * so that from here on every file is as the exporter wrote it, and what
 * follows checks that the exporter (or the relay) did not lie:
 *   5. the checkpoint verifies with the key in the folder and with
 *      --checkpoint-key when given; the two key files agree;
 *   6. every certificate chains to the CA and says what index.json says;
 *   7. every entry: the record's signature with its certificate, its author
 *      that certificate's organisation, its fields those of index.json, its
 *      leaf the one rebuilt from the files, its leaf hash and its inclusion
 *      proof to the checkpoint's root; its sealed text's envelope, and with
 *      texts the plaintext P against the record's commitment;
 *   8. report.html has a row for every entry, and for no other.
 *
 * The CA and the checkpoint key in the folder prove nothing by themselves
 * (whoever made the folder could have made them): the verdict says which
 * were used, and a court gives its own with --ca and --checkpoint-key.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli.h"
#include "view.h"
#include "export.h"

#define FILE_MAX (64u << 20) /* the largest file of an export we read */

struct xv {
	struct settings *s;
	const char *dir;
	char *ca;                       /* the CA the certificates are checked against */
	int ca_given, key_given;
	json_t *index;
	uint8_t *index_bytes;
	size_t index_len;
	struct vigil_checkpoint cp;
	const char *case_id;
	const char *exporter;
	/* The certificates of index.json, read and checked. */
	size_t n_certs;
	struct {
		char hex[2 * VIGIL_HASH_LEN + 1];
		uint8_t *der;
		size_t der_len;
		struct vigil_identity id;
		int checked;
	} *certs;
	/* The entries: index, kind and what they erased (for erased_by). */
	size_t n;
	uint64_t *indexes;
	struct vigil_record_info *ri;   /* one, reused */
};

__attribute__((format(printf, 3, 4)))
static int bad(const struct xv *v, const char *file, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (v->s->json) {
		view_write_json(json_pack("{s:b, s:s, s:o, s:o}", "ok", 0, "error", "INVALID",
					  "file", view_jstring(file), "message", view_jstring(msg)),
				stdout);
	} else {
		printf("export INVALID: %s: %s\n", file, msg);
	}
	return EXIT_FAILED;
}

/* A name within the folder: one or two components of [A-Za-z0-9._-],
 * none "." or "..". */
static int name_ok(const char *p)
{
	size_t n = strlen(p), parts = 1, comp = 0;
	if (n == 0 || n >= EXPORT_NAME_MAX)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		char c = p[i];
		if (c == '/' || c == '\0') {
			if (comp == 0 || (comp == 1 && p[i - 1] == '.') ||
			    (comp == 2 && p[i - 1] == '.' && p[i - 2] == '.'))
				return 0;
			if (c == '/')
				parts++;
			comp = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
		comp++;
	}
	return parts <= 2;
}

/* DIR/name read whole: 0, or -1 with errno. */
static int read_in(const struct xv *v, const char *name, uint8_t **data, size_t *len)
{
	size_t pl = strlen(v->dir) + strlen(name) + 2;
	char *path = malloc(pl);
	if (!path) {
		errno = ENOMEM;
		return -1;
	}
	snprintf(path, pl, "%s/%s", v->dir, name);
	int rc = export_read_file(path, FILE_MAX, data, len);
	int saved = errno;
	free(path);
	errno = saved;
	return rc;
}

static int missing(const struct xv *v, const char *name)
{
	if (errno == ENOENT)
		return bad(v, name, "missing");
	if (errno == ENOMEM)
		return cli_fail(v->s, VIGIL_E_NOMEM, "out of memory");
	return bad(v, name, "cannot be read: %s", errno == EINVAL ? "not a regular file"
						  : strerror(errno));
}

/* ---- index.json's members --------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key)
{
	const json_t *j = json_object_get(o, key);
	return json_is_string(j) ? json_string_value(j) : NULL;
}

/* A string member, or a failure naming index.json. */
#define NEED_STR(v, var, obj, key, what)                                                   \
	const char *var = jstr(obj, key);                                                  \
	if (!var)                                                                          \
		return bad(v, EXPORT_INDEX, "%s has no string \"%s\"", what, key)

static int jint(const json_t *o, const char *key, long long *out)
{
	const json_t *j = json_object_get(o, key);
	if (!json_is_integer(j))
		return -1;
	*out = json_integer_value(j);
	return 0;
}

static int hex_ok(const char *s, size_t bytes)
{
	if (!s || strlen(s) != 2 * bytes)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

/* A time string that must be ms formatted (or null for ms <= 0). */
static int time_is(const json_t *j, int64_t ms)
{
	if (ms <= 0)
		return json_is_null(j);
	char t[VIGIL_TIME_LEN];
	vigil_format_time(ms, t, sizeof(t));
	return json_is_string(j) && !strcmp(json_string_value(j), t);
}

/* ---- 1.-4.: the index, its signature, the files -------------------------------------- */

static int load_index(struct xv *v)
{
	if (read_in(v, EXPORT_INDEX, &v->index_bytes, &v->index_len) != 0)
		return missing(v, EXPORT_INDEX);
	json_error_t je;
	v->index = json_loadb((const char *)v->index_bytes, v->index_len, JSON_REJECT_DUPLICATES,
			      &je);
	if (!v->index)
		return bad(v, EXPORT_INDEX, "not JSON (line %d: %s)", je.line, je.text);
	if (!json_is_object(v->index))
		return bad(v, EXPORT_INDEX, "not a JSON object");
	const char *format = jstr(v->index, "format");
	if (!format || strcmp(format, EXPORT_FORMAT) != 0)
		return bad(v, EXPORT_INDEX, "format is not \"%s\"", EXPORT_FORMAT);
	struct vigil_error err;
	v->case_id = jstr(v->index, "case_id");
	if (!v->case_id || vigil_case_id_check(v->case_id, &err) != VIGIL_OK)
		return bad(v, EXPORT_INDEX, "case_id is not a case id");
	return 0;
}

/* 2. and 3. */
static int check_exporter(struct xv *v)
{
	const json_t *ex = json_object_get(v->index, "exporter");
	NEED_STR(v, org, ex, "organisation", "exporter");
	NEED_STR(v, hex, ex, "certificate", "exporter");
	v->exporter = org;
	if (!hex_ok(hex, VIGIL_HASH_LEN))
		return bad(v, EXPORT_INDEX, "the exporter's certificate is not a SHA-256 in hex");
	char name[EXPORT_NAME_MAX];
	snprintf(name, sizeof(name), "certs/%s.der", hex);
	uint8_t *der = NULL, *sig = NULL;
	size_t dl, sl;
	if (read_in(v, name, &der, &dl) != 0) {
		if (errno == ENOENT)
			return bad(v, EXPORT_INDEX, "names %s as the exporter's certificate, which "
				   "is not in the folder", name);
		return missing(v, name);
	}
	int rc = 0;
	uint8_t h[VIGIL_HASH_LEN];
	char got[2 * VIGIL_HASH_LEN + 1];
	vigil_sha256(der, dl, h);
	vigil_hex_encode(h, VIGIL_HASH_LEN, got);
	struct vigil_identity id;
	struct vigil_error err;
	if (strcmp(got, hex) != 0) {
		rc = bad(v, name, "does not hash to its name (SHA-256 %s)", got);
	} else if (vigil_certificate_check(v->ca, der, dl, &id, &err) != VIGIL_OK) {
		if (v->ca_given)
			rc = bad(v, name, "the exporter's certificate does not chain to the CA given "
				 "(%s): %s", v->ca, err.message);
		else
			rc = bad(v, EXPORT_CA, "the exporter's certificate %s is not issued by it "
				 "(%s)", name, err.message);
	} else if (strcmp(id.organisation, org) != 0) {
		rc = bad(v, EXPORT_INDEX, "the exporter is %s, but its certificate is of %s", org,
			 id.organisation);
	} else if (read_in(v, EXPORT_INDEX_SIG, &sig, &sl) != 0) {
		rc = missing(v, EXPORT_INDEX_SIG);
	} else if (vigil_signature_check(der, dl, v->index_bytes, v->index_len, sig, sl, &err) !=
		   VIGIL_OK) {
		rc = bad(v, EXPORT_INDEX_SIG, "the exporter's (%s) signature over index.json does "
			 "not verify: index.json or index.json.sig was changed", org);
	}
	free(der);
	free(sig);
	return rc;
}

static int listed(const json_t *files, const char *path)
{
	for (size_t i = 0; i < json_array_size(files); i++)
		if (!strcmp(jstr(json_array_get(files, i), "path"), path))
			return 1;
	return 0;
}

/* Every file and folder under DIR/sub (sub "" for DIR) is listed (or is
 * the index or its signature, or one of the three folders). */
static int check_unlisted(const struct xv *v, const json_t *files, const char *sub, int depth)
{
	size_t pl = strlen(v->dir) + strlen(sub) + 2;
	char *path = malloc(pl);
	if (!path)
		return cli_fail(v->s, VIGIL_E_NOMEM, "out of memory");
	snprintf(path, pl, "%s%s%s", v->dir, sub[0] ? "/" : "", sub);
	DIR *d = opendir(path);
	if (!d) {
		int saved = errno;
		free(path);
		return bad(v, sub[0] ? sub : ".", "cannot be read: %s", strerror(saved));
	}
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char name[EXPORT_NAME_MAX + 256 + 2];
		snprintf(name, sizeof(name), "%s%s%s", sub, sub[0] ? "/" : "", de->d_name);
		size_t fl = strlen(v->dir) + strlen(name) + 2;
		char *full = malloc(fl);
		struct stat st;
		if (!full) {
			rc = cli_fail(v->s, VIGIL_E_NOMEM, "out of memory");
			break;
		}
		snprintf(full, fl, "%s/%s", v->dir, name);
		int ok = lstat(full, &st) == 0;
		free(full);
		if (ok && S_ISDIR(st.st_mode) && depth == 0 &&
		    (!strcmp(name, "entries") || !strcmp(name, "certs") || !strcmp(name, "texts")))
			rc = check_unlisted(v, files, name, 1);
		else if (!ok || !S_ISREG(st.st_mode))
			rc = bad(v, name, "is not a regular file of the export");
		else if (!(depth == 0 && (!strcmp(name, EXPORT_INDEX) ||
					  !strcmp(name, EXPORT_INDEX_SIG))) &&
			 !listed(files, name))
			rc = bad(v, name, "is not listed in index.json (a file was added)");
	}
	closedir(d);
	free(path);
	return rc;
}

/* 4. */
static int check_files(const struct xv *v)
{
	const json_t *files = json_object_get(v->index, "files");
	if (!json_is_array(files))
		return bad(v, EXPORT_INDEX, "has no list of \"files\"");
	const char *prev = "";
	for (size_t i = 0; i < json_array_size(files); i++) {
		const json_t *f = json_array_get(files, i);
		const char *path = jstr(f, "path"), *sha = jstr(f, "sha256");
		long long size;
		if (!path || !name_ok(path) || !hex_ok(sha, VIGIL_HASH_LEN) ||
		    jint(f, "size", &size) != 0)
			return bad(v, EXPORT_INDEX, "file %zu of the list is malformed (a path within "
				   "the folder, sha256, size)", i + 1);
		if (strcmp(prev, path) >= 0 || !strcmp(path, EXPORT_INDEX) ||
		    !strcmp(path, EXPORT_INDEX_SIG))
			return bad(v, EXPORT_INDEX, "the list of files is not sorted, names a file "
				   "twice, or lists the index");
		prev = path;
		uint8_t *data;
		size_t len;
		if (read_in(v, path, &data, &len) != 0)
			return missing(v, path);
		uint8_t h[VIGIL_HASH_LEN];
		char got[2 * VIGIL_HASH_LEN + 1];
		vigil_sha256(data, len, h);
		free(data);
		vigil_hex_encode(h, VIGIL_HASH_LEN, got);
		if (strcmp(got, sha) != 0 || (long long)len != size)
			return bad(v, path, "does not match its SHA-256 and size in index.json (it "
				   "was changed)");
	}
	return check_unlisted(v, files, "", 0);
}

/* ---- 5.: the checkpoint --------------------------------------------------------------- */

static int check_checkpoint(struct xv *v)
{
	const json_t *c = json_object_get(v->index, "checkpoint");
	uint8_t *vk = NULL, *note = NULL;
	size_t vl, nl;
	struct vigil_checkpoint_key key, pem;
	struct vigil_error err;
	int rc = 0;
	if (read_in(v, EXPORT_VKEY, &vk, &vl) != 0)
		return missing(v, EXPORT_VKEY);
	while (vl && (vk[vl - 1] == '\n' || vk[vl - 1] == '\r'))
		vk[--vl] = '\0';
	size_t pl = strlen(v->dir) + sizeof("/" EXPORT_KEY_PEM);
	char *pem_path = malloc(pl);
	if (!pem_path) {
		free(vk);
		return cli_fail(v->s, VIGIL_E_NOMEM, "out of memory");
	}
	snprintf(pem_path, pl, "%s/" EXPORT_KEY_PEM, v->dir);
	const char *vks = jstr(c, "verifier_key");
	if (vigil_checkpoint_key_load((const char *)vk, &key, &err) != VIGIL_OK || !key.name[0])
		rc = bad(v, EXPORT_VKEY, "is not a verifier key: %s", err.message);
	else if (vigil_checkpoint_key_load(pem_path, &pem, &err) != VIGIL_OK)
		rc = bad(v, EXPORT_KEY_PEM, "is not an Ed25519 public key: %s", err.message);
	else if (memcmp(pem.public_key, key.public_key, sizeof(key.public_key)) != 0)
		rc = bad(v, EXPORT_KEY_PEM, "is not the key of %s", EXPORT_VKEY);
	else if (!vks || strcmp(vks, (const char *)vk) != 0)
		rc = bad(v, EXPORT_INDEX, "its checkpoint verifier_key is not %s", EXPORT_VKEY);
	else if (read_in(v, EXPORT_CHECKPOINT, &note, &nl) != 0)
		rc = missing(v, EXPORT_CHECKPOINT);
	else if (vigil_checkpoint_open(&key, (const char *)note, nl, &v->cp, &err) != VIGIL_OK)
		rc = bad(v, EXPORT_CHECKPOINT, "does not verify with the key in %s: %s",
			 EXPORT_VKEY, err.message);
	free(pem_path);
	free(vk);
	if (rc == 0 && v->key_given) {
		struct vigil_checkpoint_key given;
		struct vigil_checkpoint cp2;
		if (vigil_checkpoint_key_load(v->s->checkpoint_key, &given, &err) != VIGIL_OK)
			rc = cli_fail(v->s, err.status, "%s", err.message);
		else if (vigil_checkpoint_open(&given, (const char *)note, nl, &cp2, &err) !=
			 VIGIL_OK)
			rc = bad(v, EXPORT_CHECKPOINT, "does not verify with the checkpoint key given "
				 "(--checkpoint-key): %s", err.message);
	}
	free(note);
	if (rc != 0)
		return rc;
	long long size, sat;
	const char *origin = jstr(c, "origin"), *root = jstr(c, "root");
	char want[2 * VIGIL_HASH_LEN + 1];
	vigil_hex_encode(v->cp.root, VIGIL_HASH_LEN, want);
	const json_t *satj = json_object_get(c, "signed_at_ms");
	int sat_ok = v->cp.signed_at_ms < 0 ? json_is_null(satj)
		     : jint(c, "signed_at_ms", &sat) == 0 && sat == v->cp.signed_at_ms;
	const char *file = jstr(c, "file"), *kf = jstr(c, "key"), *kp = jstr(c, "key_pem");
	if (jint(c, "size", &size) != 0 || (uint64_t)size != v->cp.size || !origin ||
	    strcmp(origin, v->cp.origin) != 0 || !root || strcmp(root, want) != 0 || !sat_ok ||
	    !time_is(json_object_get(c, "signed_at"), v->cp.signed_at_ms) || !file ||
	    strcmp(file, EXPORT_CHECKPOINT) || !kf || strcmp(kf, EXPORT_VKEY) || !kp ||
	    strcmp(kp, EXPORT_KEY_PEM))
		return bad(v, EXPORT_INDEX, "its checkpoint (origin, size, root, signed-at, files) "
			   "is not the one in %s", EXPORT_CHECKPOINT);
	return 0;
}

/* ---- 6.: the CA and the certificates -------------------------------------------------- */

static int check_ca(const struct xv *v)
{
	const json_t *ca = json_object_get(v->index, "ca");
	const json_t *list = json_object_get(ca, "certificates");
	const char *file = jstr(ca, "file");
	if (!file || strcmp(file, EXPORT_CA) != 0 || !json_is_array(list))
		return bad(v, EXPORT_INDEX, "its \"ca\" is malformed");
	uint8_t *text;
	size_t len;
	if (read_in(v, EXPORT_CA, &text, &len) != 0)
		return missing(v, EXPORT_CA);
	char *filtered = NULL;
	uint8_t(*sha)[VIGIL_HASH_LEN] = NULL;
	size_t n = 0;
	int pr = export_pem_certs((const char *)text, len, &filtered, &sha, &n);
	int rc = 0;
	if (pr == -1)
		rc = cli_fail(v->s, VIGIL_E_NOMEM, "out of memory");
	else if (pr != 0 || n == 0 || strcmp(filtered, (const char *)text) != 0)
		rc = bad(v, EXPORT_CA, "is not PEM certificates and nothing else");
	else if (json_array_size(list) != n)
		rc = bad(v, EXPORT_INDEX, "lists %zu CA certificates; %s holds %zu",
			 json_array_size(list), EXPORT_CA, n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		char hex[2 * VIGIL_HASH_LEN + 1];
		vigil_hex_encode(sha[i], VIGIL_HASH_LEN, hex);
		const json_t *j = json_array_get(list, i);
		if (!json_is_string(j) || strcmp(json_string_value(j), hex) != 0)
			rc = bad(v, EXPORT_INDEX, "CA certificate %zu is not the one in %s", i + 1,
				 EXPORT_CA);
	}
	free(text);
	free(filtered);
	free(sha);
	return rc;
}

/* The same text as a certificate field, once cleaned as the export does. */
static int field_is(const char *json, const char *field)
{
	char c[4 * sizeof(((struct vigil_identity *)0)->common_name) + 1];
	export_clean(field, c, sizeof(c));
	return json && !strcmp(json, c);
}

static int check_certs(struct xv *v)
{
	const json_t *list = json_object_get(v->index, "certificates");
	if (!json_is_array(list) || json_array_size(list) == 0)
		return bad(v, EXPORT_INDEX, "has no list of \"certificates\"");
	v->n_certs = json_array_size(list);
	v->certs = calloc(v->n_certs, sizeof(*v->certs));
	if (!v->certs)
		return cli_fail(v->s, VIGIL_E_NOMEM, "out of memory");
	struct vigil_error err;
	for (size_t i = 0; i < v->n_certs; i++) {
		const json_t *c = json_array_get(list, i);
		const char *hex = jstr(c, "sha256"), *der = jstr(c, "der"), *pem = jstr(c, "pem");
		char dn[EXPORT_NAME_MAX], pn[EXPORT_NAME_MAX];
		if (!hex_ok(hex, VIGIL_HASH_LEN))
			return bad(v, EXPORT_INDEX, "certificate %zu has no sha256", i + 1);
		for (size_t k = 0; k < i; k++)
			if (!strcmp(v->certs[k].hex, hex))
				return bad(v, EXPORT_INDEX, "lists certificate %s twice", hex);
		snprintf(v->certs[i].hex, sizeof(v->certs[i].hex), "%s", hex);
		snprintf(dn, sizeof(dn), "certs/%s.der", hex);
		snprintf(pn, sizeof(pn), "certs/%s.pem", hex);
		if (!der || strcmp(der, dn) != 0 || !pem || strcmp(pem, pn) != 0)
			return bad(v, EXPORT_INDEX, "certificate %s is not in %s and %s", hex, dn, pn);
		if (read_in(v, dn, &v->certs[i].der, &v->certs[i].der_len) != 0)
			return missing(v, dn);
		uint8_t h[VIGIL_HASH_LEN];
		char got[2 * VIGIL_HASH_LEN + 1];
		vigil_sha256(v->certs[i].der, v->certs[i].der_len, h);
		vigil_hex_encode(h, VIGIL_HASH_LEN, got);
		if (strcmp(got, hex) != 0)
			return bad(v, dn, "does not hash to its name (SHA-256 %s)", got);
		uint8_t *pt;
		size_t pl;
		if (read_in(v, pn, &pt, &pl) != 0)
			return missing(v, pn);
		char *want = export_pem(v->certs[i].der, v->certs[i].der_len);
		int same = want && strlen(want) == pl && memcmp(want, pt, pl) == 0;
		free(want);
		free(pt);
		if (!same)
			return bad(v, pn, "is not the PEM form of %s", dn);
		struct vigil_identity *id = &v->certs[i].id;
		if (vigil_certificate_check(v->ca, v->certs[i].der, v->certs[i].der_len, id,
					    &err) != VIGIL_OK)
			return bad(v, dn, "%s", err.message);
		if (!field_is(jstr(c, "organisation"), id->organisation) ||
		    !field_is(jstr(c, "role"), id->role) || !field_is(jstr(c, "country"), id->country) ||
		    !field_is(jstr(c, "common_name"), id->common_name))
			return bad(v, EXPORT_INDEX, "certificate %s: its subject is not what %s says",
				   hex, dn);
	}
	return 0;
}

static size_t cert_of(const struct xv *v, const char *hex)
{
	size_t i = 0;
	while (i < v->n_certs && strcmp(v->certs[i].hex, hex) != 0)
		i++;
	return i;
}

/* ---- 7.: the entries -------------------------------------------------------------------- */

/* The file member "key" of an entry's files is name, or null when !present. */
static int file_is(const json_t *files, const char *key, const char *name, int present)
{
	const json_t *j = json_object_get(files, key);
	if (!present)
		return json_is_null(j);
	return json_is_string(j) && !strcmp(json_string_value(j), name);
}

static int is_relay_kind(const char *k)
{
	return !strcmp(k, "alert") || !strcmp(k, "erasure") || !strcmp(k, "member-key");
}

/* The record of an entry that is still there: its files, signature,
 * fields, leaf and leaf hash.  *sealed: the record seals a text. */
static int check_record(struct xv *v, const json_t *e, uint64_t index, size_t ci,
			const uint8_t leaf_hash[VIGIL_HASH_LEN], int *sealed)
{
	char rn[EXPORT_NAME_MAX], sn[EXPORT_NAME_MAX], ln[EXPORT_NAME_MAX];
	export_entry_name(index, "record", rn, sizeof(rn));
	export_entry_name(index, "sig", sn, sizeof(sn));
	export_entry_name(index, "leaf", ln, sizeof(ln));
	const json_t *files = json_object_get(e, "files");
	if (!file_is(files, "record", rn, 1) || !file_is(files, "signature", sn, 1) ||
	    !file_is(files, "leaf", ln, 1))
		return bad(v, EXPORT_INDEX, "entry %llu: its record, signature and leaf are not in "
			   "%s, %s and %s", (unsigned long long)index, rn, sn, ln);
	uint8_t *rec = NULL, *sig = NULL, *leaf = NULL, *want = NULL;
	size_t rl, sl, ll, wl = 0;
	int rc = 0;
	struct vigil_error err;
	const struct xv *cv = v;
	const uint8_t *der = cv->certs[ci].der;
	size_t dl = cv->certs[ci].der_len;
	long long received = 0, client = 0;
	if (read_in(v, rn, &rec, &rl) != 0)
		rc = missing(v, rn);
	else if (read_in(v, sn, &sig, &sl) != 0)
		rc = missing(v, sn);
	else if (read_in(v, ln, &leaf, &ll) != 0)
		rc = missing(v, ln);
	else if (vigil_signature_check(der, dl, rec, rl, sig, sl, &err) != VIGIL_OK)
		rc = bad(v, sn, "the signature does not verify over %s with certs/%s.pem", rn,
			 cv->certs[ci].hex);
	else if (vigil_record_decode(rec, rl, v->ri, &err) != VIGIL_OK)
		rc = bad(v, rn, "%s", err.message);
	if (rc != 0)
		goto out;
	const struct vigil_record_info *ri = v->ri;
	const struct vigil_identity *id = &cv->certs[ci].id;
	const char *kind = jstr(e, "kind"), *rid = jstr(e, "record_id"), *author = jstr(e, "author");
	char rid_hex[2 * VIGIL_RECORD_ID_LEN + 1];
	vigil_hex_encode(ri->record_id, VIGIL_RECORD_ID_LEN, rid_hex);
	if (strcmp(ri->case_id, v->case_id) != 0) {
		rc = bad(v, rn, "is a record of case %s", ri->case_id);
	} else if (strcmp(ri->author, id->organisation) != 0 ||
		   (is_relay_kind(ri->kind) && strcmp(id->role, "relay") != 0)) {
		rc = bad(v, rn, "its author %s is not the organisation of its certificate (%s, %s)",
			 ri->author, id->organisation, id->role);
	} else if (!kind || strcmp(kind, ri->kind) || !rid || strcmp(rid, rid_hex) || !author ||
		   strcmp(author, ri->author) || jint(e, "client_time_ms", &client) != 0 ||
		   client != ri->client_time_ms ||
		   !time_is(json_object_get(e, "client_time"), ri->client_time_ms) ||
		   !time_is(json_object_get(e, "attempted_at"),
			    !strcmp(ri->kind, "contact") ? ri->attempted_at_ms : 0)) {
		rc = bad(v, EXPORT_INDEX, "entry %llu: its kind, record id, author or times are not "
			 "those of %s", (unsigned long long)index, rn);
	}
	uint8_t ch[VIGIL_HASH_LEN], lh[VIGIL_HASH_LEN];
	vigil_hex_decode(cv->certs[ci].hex, ch, VIGIL_HASH_LEN);
	if (rc == 0 && (jint(e, "received_at_ms", &received) != 0 ||
			!(want = export_leaf(received, ch, rec, rl, sig, sl, &wl))))
		rc = bad(v, EXPORT_INDEX, "entry %llu has no received_at_ms",
			 (unsigned long long)index);
	if (rc != 0)
		goto out;
	if (ll != wl || memcmp(leaf, want, wl) != 0)
		rc = bad(v, ln, "is not the entry's leaf: its type, the receive time and "
			 "certificate of index.json, %s and %s", rn, sn);
	else if (vigil_leaf_hash(received, ch, rec, rl, sig, sl, lh) != VIGIL_OK ||
		 memcmp(lh, leaf_hash, VIGIL_HASH_LEN) != 0)
		rc = bad(v, EXPORT_INDEX, "entry %llu: its leaf_hash is not the hash of %s",
			 (unsigned long long)index, ln);
	*sealed = ri->sealed_field && ri->sealed_field[0];
out:
	free(rec);
	free(sig);
	free(leaf);
	free(want);
	return rc;
}

/* The sealed text of an entry: its envelope, and with texts P and the
 * text.  seals: its record seals a text (v->ri is that record). */
static int check_sealed(struct xv *v, const json_t *e, uint64_t index, int seals,
			int record_erased, int content_erased)
{
	const json_t *files = json_object_get(e, "files");
	const char *state = jstr(e, "sealed_text");
	char cn[EXPORT_NAME_MAX], rn[EXPORT_NAME_MAX];
	export_entry_name(index, "cms", cn, sizeof(cn));
	export_entry_name(index, "record", rn, sizeof(rn));
	int has_cms = state && (!strcmp(state, "sealed") || !strcmp(state, "opened") ||
				!strcmp(state, "not-reader"));
	int opened = state && !strcmp(state, "opened");
	int ok_state;
	if (record_erased)
		ok_state = json_is_null(json_object_get(e, "sealed_text"));
	else if (!seals)
		ok_state = json_is_null(json_object_get(e, "sealed_text"));
	else
		ok_state = has_cms ? !content_erased : state && !strcmp(state, "erased") &&
							content_erased;
	if (!ok_state || !file_is(files, "sealed", cn, has_cms))
		return bad(v, EXPORT_INDEX, "entry %llu: its sealed text's state and envelope file "
			   "do not fit its record", (unsigned long long)index);
	if (opened && !json_is_true(json_object_get(v->index, "texts_included")))
		return bad(v, EXPORT_INDEX, "entry %llu has an opened text, but texts_included is "
			   "not true", (unsigned long long)index);
	const json_t *tj = json_object_get(files, "text"), *pj = json_object_get(files, "plain");
	if (!opened)
		return json_is_null(tj) && json_is_null(pj)
			       ? 0
			       : bad(v, EXPORT_INDEX, "entry %llu names text files for a text it "
				     "did not open", (unsigned long long)index);
	const char *tn = json_string_value(tj), *pn = json_string_value(pj);
	char base[EXPORT_BASE_MAX], want_t[EXPORT_NAME_MAX], want_p[EXPORT_NAME_MAX];
	snprintf(base, sizeof(base), "texts/%06llu-%s", (unsigned long long)index,
		 export_text_field(v->ri));
	snprintf(want_t, sizeof(want_t), "%s.txt", base);
	snprintf(want_p, sizeof(want_p), "%s.p", base);
	if (!tn || !pn || strcmp(tn, want_t) != 0 || strcmp(pn, want_p) != 0)
		return bad(v, EXPORT_INDEX, "entry %llu: its text is not in %s and %s",
			   (unsigned long long)index, want_t, want_p);
	uint8_t *rec = NULL, *p = NULL, *t = NULL;
	size_t rl, pl, tl;
	char *text = NULL;
	struct vigil_error err;
	int rc = 0;
	if (read_in(v, rn, &rec, &rl) != 0)
		rc = missing(v, rn);
	else if (read_in(v, pn, &p, &pl) != 0)
		rc = missing(v, pn);
	else if (read_in(v, tn, &t, &tl) != 0)
		rc = missing(v, tn);
	else if (vigil_sealed_plain_check(rec, rl, p, pl, &text, &err) != VIGIL_OK)
		rc = bad(v, pn, "is not the plaintext %s commits to: %s", rn, err.message);
	else if (strlen(text) != tl || memcmp(text, t, tl) != 0)
		rc = bad(v, tn, "is not the text in %s", pn);
	free(rec);
	free(p);
	free(t);
	vigil_free(text);
	return rc;
}

static int check_proof(const struct xv *v, const json_t *e, uint64_t index,
		       const uint8_t leaf_hash[VIGIL_HASH_LEN])
{
	const json_t *proof = json_object_get(e, "proof");
	struct vigil_inclusion_proof *p = calloc(1, sizeof(*p));
	if (!p)
		return cli_fail(v->s, VIGIL_E_NOMEM, "out of memory");
	int ok = json_is_array(proof) && json_array_size(proof) <= VIGIL_PROOF_MAX;
	p->index = index;
	p->tree_size = v->cp.size;
	memcpy(p->leaf_hash, leaf_hash, VIGIL_HASH_LEN);
	for (size_t k = 0; ok && k < json_array_size(proof); k++) {
		const json_t *h = json_array_get(proof, k);
		ok = json_is_string(h) && hex_ok(json_string_value(h), VIGIL_HASH_LEN) &&
		     vigil_hex_decode(json_string_value(h), p->hashes[k], VIGIL_HASH_LEN) ==
			     VIGIL_OK;
		p->n = k + 1;
	}
	struct vigil_error err;
	ok = ok && vigil_verify_inclusion(p, v->cp.root, &err) == VIGIL_OK;
	free(p);
	if (!ok)
		return bad(v, EXPORT_INDEX, "the inclusion proof of entry %llu does not lead to the "
			   "root of %s", (unsigned long long)index, EXPORT_CHECKPOINT);
	return 0;
}

static int check_entries(struct xv *v)
{
	const json_t *list = json_object_get(v->index, "entries");
	if (!json_is_array(list))
		return bad(v, EXPORT_INDEX, "has no list of \"entries\"");
	v->n = json_array_size(list);
	v->indexes = calloc(v->n + 1, sizeof(*v->indexes));
	v->ri = malloc(sizeof(*v->ri));
	if (!v->indexes || !v->ri)
		return cli_fail(v->s, VIGIL_E_NOMEM, "out of memory");
	/* Which entries each Erasure names: checked against erased_by below. */
	for (size_t i = 0; i < v->n; i++) {
		const json_t *e = json_array_get(list, i);
		long long idx, received;
		if (jint(e, "index", &idx) != 0 || idx < 0 || (uint64_t)idx >= v->cp.size ||
		    (i > 0 && (uint64_t)idx <= v->indexes[i - 1]))
			return bad(v, EXPORT_INDEX, "entry %zu: its index is not a log index above "
				   "the one before and below the checkpoint's size", i + 1);
		uint64_t index = (uint64_t)idx;
		v->indexes[i] = index;
		const char *cert = jstr(e, "certificate"), *lh = jstr(e, "leaf_hash");
		size_t ci = cert ? cert_of(v, cert) : v->n_certs;
		uint8_t leaf_hash[VIGIL_HASH_LEN];
		const json_t *re = json_object_get(e, "record_erased"),
			     *ce = json_object_get(e, "content_erased");
		if (ci == v->n_certs || !hex_ok(lh, VIGIL_HASH_LEN) || !json_is_boolean(re) ||
		    !json_is_boolean(ce) || jint(e, "received_at_ms", &received) != 0 ||
		    !time_is(json_object_get(e, "received_at"), received))
			return bad(v, EXPORT_INDEX, "entry %llu: its certificate, leaf hash, erasure "
				   "flags or receive time are missing or malformed",
				   (unsigned long long)index);
		vigil_hex_decode(lh, leaf_hash, VIGIL_HASH_LEN);
		int rc, seals = 0, record_erased = json_is_true(re);
		if (record_erased) {
			const json_t *files = json_object_get(e, "files");
			rc = file_is(files, "record", NULL, 0) && file_is(files, "signature", NULL, 0) &&
					     file_is(files, "leaf", NULL, 0) &&
					     json_is_null(json_object_get(e, "kind"))
				     ? 0
				     : bad(v, EXPORT_INDEX, "entry %llu is erased but names a record",
					   (unsigned long long)index);
		} else {
			rc = check_record(v, e, index, ci, leaf_hash, &seals);
		}
		if (rc == 0)
			rc = check_sealed(v, e, index, seals, record_erased, json_is_true(ce));
		if (rc == 0)
			rc = check_proof(v, e, index, leaf_hash);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* erased_by: the Erasure entry (of this export) that names the entry. */
static int check_erased_by(struct xv *v)
{
	const json_t *list = json_object_get(v->index, "entries");
	for (size_t i = 0; i < v->n; i++) {
		const json_t *e = json_array_get(list, i);
		const json_t *by = json_object_get(e, "erased_by");
		if (json_is_null(by))
			continue;
		long long b;
		size_t k = 0;
		if (jint(e, "erased_by", &b) == 0)
			while (k < v->n && v->indexes[k] != (uint64_t)b)
				k++;
		int ok = k < v->n;
		if (ok) {
			char rn[EXPORT_NAME_MAX];
			uint8_t *rec = NULL;
			size_t rl = 0;
			struct vigil_error err;
			export_entry_name(v->indexes[k], "record", rn, sizeof(rn));
			ok = read_in(v, rn, &rec, &rl) == 0;
			ok = ok && vigil_record_decode(rec, rl, v->ri, &err) == VIGIL_OK &&
			     !strcmp(v->ri->kind, "erasure");
			if (ok) {
				ok = 0;
				for (size_t j = 0; j < v->ri->erased_n && j < VIGIL_ERASED_MAX; j++)
					ok |= v->ri->erased[j] == v->indexes[i];
			}
			free(rec);
		}
		if (!ok)
			return bad(v, EXPORT_INDEX, "entry %llu: erased_by names no Erasure entry "
				   "that erased it", (unsigned long long)v->indexes[i]);
	}
	return 0;
}

/* The position in the export of the entry with log index idx, or v->n. */
static size_t position_of(const struct xv *v, long long idx)
{
	size_t k = 0;
	while (k < v->n && (idx < 0 || v->indexes[k] != (uint64_t)idx))
		k++;
	return k;
}

/* Whether entry k's index.json lists idx among its corrected_by. */
static int lists_correction(const json_t *e, uint64_t idx)
{
	const json_t *by = json_object_get(e, "corrected_by");
	size_t i;
	const json_t *x;
	json_array_foreach(by, i, x) {
		if (json_is_integer(x) && json_integer_value(x) == (json_int_t)idx)
			return 1;
	}
	return 0;
}

/*
 * corrects and corrected_by: a correction names the entry it corrects
 * (the record its target_id names, or the one that record corrects: a
 * correction of a correction corrects the original), that entry lists it
 * among its corrections, and every correction listed names it back.
 */
static int check_corrections(struct xv *v)
{
	const json_t *list = json_object_get(v->index, "entries");
	for (size_t i = 0; i < v->n; i++) {
		const json_t *e = json_array_get(list, i);
		const json_t *c = json_object_get(e, "corrects"), *by =
			json_object_get(e, "corrected_by");
		unsigned long long idx = (unsigned long long)v->indexes[i];
		if (!json_is_array(by) || (!json_is_null(c) && !json_is_integer(c)))
			return bad(v, EXPORT_INDEX, "entry %llu: corrects or corrected_by is missing "
				   "or malformed", idx);
		/* Every correction listed names this entry back. */
		size_t n;
		const json_t *x;
		json_array_foreach(by, n, x) {
			size_t k = json_is_integer(x) ? position_of(v, json_integer_value(x)) : v->n;
			long long back;
			if (k == v->n || jint(json_array_get(list, k), "corrects", &back) != 0 ||
			    back != (long long)idx)
				return bad(v, EXPORT_INDEX, "entry %llu: corrected_by names an entry "
					   "that does not correct it", idx);
		}
		const char *kind = jstr(e, "kind");
		int is_correction = kind && !strcmp(kind, "correction");
		if (json_is_null(c) && !is_correction)
			continue;
		if (!is_correction || json_is_null(c))
			return bad(v, EXPORT_INDEX, "entry %llu: corrects is %s", idx,
				   is_correction ? "null for a correction" : "set on no correction");
		size_t k = position_of(v, json_integer_value(c));
		if (k == v->n || !lists_correction(json_array_get(list, k), idx))
			return bad(v, EXPORT_INDEX, "entry %llu: corrects names no entry that lists "
				   "it among its corrections", idx);
		/* The record's target: the entry it corrects, or a correction of
		 * that entry (an erased target cannot be looked at). */
		char rn[EXPORT_NAME_MAX];
		uint8_t *rec = NULL;
		size_t rl = 0;
		struct vigil_error err;
		export_entry_name(v->indexes[i], "record", rn, sizeof(rn));
		int ok = read_in(v, rn, &rec, &rl) == 0 &&
			 vigil_record_decode(rec, rl, v->ri, &err) == VIGIL_OK;
		free(rec);
		char target[2 * VIGIL_RECORD_ID_LEN + 1];
		if (ok)
			vigil_hex_encode(v->ri->target_id, VIGIL_RECORD_ID_LEN, target);
		const json_t *t = json_array_get(list, k);
		int named = ok && (json_is_null(json_object_get(t, "record_id")) ||
				   (jstr(t, "record_id") && !strcmp(jstr(t, "record_id"), target)));
		json_array_foreach(json_object_get(t, "corrected_by"), n, x) {
			size_t m = position_of(v, json_integer_value(x));
			const char *rid = m < v->n ? jstr(json_array_get(list, m), "record_id") : NULL;
			named |= ok && rid && !strcmp(rid, target);
		}
		if (!named)
			return bad(v, EXPORT_INDEX, "entry %llu: its record corrects another record "
				   "than the entry corrects names", idx);
	}
	return 0;
}

/* ---- 8.: the report ----------------------------------------------------------------- */

static int check_report(const struct xv *v)
{
	uint8_t *html;
	size_t len;
	if (read_in(v, EXPORT_REPORT, &html, &len) != 0)
		return missing(v, EXPORT_REPORT);
	char *seen = calloc(v->n + 1, 1);
	if (!seen) {
		free(html);
		return cli_fail(v->s, VIGIL_E_NOMEM, "out of memory");
	}
	int rc = 0;
	static const char attr[] = "data-index=\"";
	const char *p = (const char *)html;
	while (rc == 0 && (p = strstr(p, attr)) != NULL) {
		p += sizeof(attr) - 1;
		uint64_t n = 0;
		const char *d = p;
		while (*d >= '0' && *d <= '9' && d - p < 20)
			n = n * 10 + (uint64_t)(*d++ - '0');
		size_t k = 0;
		while (k < v->n && v->indexes[k] != n)
			k++;
		if (d == p || *d != '"')
			rc = bad(v, EXPORT_REPORT, "has a malformed entry index");
		else if (k == v->n)
			rc = bad(v, EXPORT_REPORT, "shows entry %llu, which index.json does not list",
				 (unsigned long long)n);
		else if (seen[k]++)
			rc = bad(v, EXPORT_REPORT, "shows entry %llu twice", (unsigned long long)n);
	}
	for (size_t k = 0; rc == 0 && k < v->n; k++)
		if (!seen[k])
			rc = bad(v, EXPORT_REPORT, "has no row for entry %llu of index.json",
				 (unsigned long long)v->indexes[k]);
	free(seen);
	free(html);
	return rc;
}

/* ---- the command ---------------------------------------------------------------------- */

static void verdict(const struct xv *v)
{
	char root[2 * VIGIL_HASH_LEN + 1];
	vigil_hex_encode(v->cp.root, VIGIL_HASH_LEN, root);
	const char *at = jstr(v->index, "exported_at");
	if (v->s->json) {
		view_write_json(json_pack("{s:b, s:o, s:I, s:I, s:s, s:o, s:o, s:s, s:s}", "ok", 1,
					  "case_id", view_jstring(v->case_id), "entries",
					  (json_int_t)v->n, "checkpoint_size", (json_int_t)v->cp.size,
					  "root", root, "exporter", view_jstring(v->exporter),
					  "exported_at", view_jstring(at), "ca",
					  v->ca_given ? "given" : "folder", "checkpoint_key",
					  v->key_given ? "given" : "folder"), stdout);
		return;
	}
	printf("export OK: case %s, %zu entries, checkpoint of size %llu, root %s\n", v->case_id,
	       v->n, (unsigned long long)v->cp.size, root);
	printf("exported by %s at %s\n", v->exporter, at ? at : "?");
	if (v->ca_given)
		printf("certificates: issued by the CA given (%s)\n", v->ca);
	else
		printf("certificates: issued by the CA in the folder (ca.pem), which proves nothing "
		       "by itself: check with --ca and your own copy of the federation's CA\n");
	if (v->key_given)
		printf("checkpoint: signed with the checkpoint key given\n");
	else
		printf("checkpoint: signed with the key in the folder (checkpoint.vkey), which "
		       "proves nothing by itself: check with --checkpoint-key and the relay's key "
		       "as the federation publishes it\n");
}

int export_verify(struct settings *s, const char *dir)
{
	char why[512];
	if (s->config && settings_load(s, s->config, why, sizeof(why)) != 0)
		return cli_usage_error("%s", why);
	struct stat st;
	if (stat(dir, &st) != 0)
		return cli_usage_error("verify: --export %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return cli_usage_error("verify: --export %s: not a directory", dir);
	struct xv v;
	memset(&v, 0, sizeof(v));
	v.s = s;
	v.dir = dir;
	v.ca_given = s->ca != NULL;
	v.key_given = s->checkpoint_key != NULL;
	if (v.ca_given) {
		v.ca = strdup(s->ca);
	} else {
		size_t n = strlen(dir) + sizeof("/" EXPORT_CA);
		if ((v.ca = malloc(n)) != NULL)
			snprintf(v.ca, n, "%s/" EXPORT_CA, dir);
	}
	if (!v.ca)
		return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	int rc = load_index(&v);
	if (rc == 0)
		rc = check_exporter(&v);
	if (rc == 0)
		rc = check_files(&v);
	if (rc == 0)
		rc = check_checkpoint(&v);
	if (rc == 0)
		rc = check_ca(&v);
	if (rc == 0)
		rc = check_certs(&v);
	if (rc == 0)
		rc = check_entries(&v);
	if (rc == 0)
		rc = check_erased_by(&v);
	if (rc == 0)
		rc = check_corrections(&v);
	if (rc == 0)
		rc = check_report(&v);
	if (rc == 0)
		verdict(&v);
	for (size_t i = 0; v.certs && i < v.n_certs; i++)
		free(v.certs[i].der);
	free(v.certs);
	free(v.indexes);
	free(v.ri);
	json_decref(v.index);
	free(v.index_bytes);
	free(v.ca);
	return rc;
}
