/*
 * export.c - "vigil export CASE --out DIR": a case's evidence as a folder a
 * prosecutor or a court keeps and checks without the relay (export.h lists
 * its files).
 *
 * Only what verified is written: libvigil's case log checks the signed
 * checkpoint, every leaf hash and every inclusion proof; here every
 * certificate is checked against our CA, every record's signature against
 * its certificate and its author against the certificate's organisation,
 * and every entry gets an inclusion proof to the one checkpoint the folder
 * holds (a proof to an earlier page's checkpoint is fetched again).
 *
 * Reading the case log is what the relay allows and records: only the
 * parties that read the case's records may export it, and each page read
 * is a "log" read in "vigil case readers", so the export is on the record.
 *
 * Sealed texts stay sealed (their envelopes, as stored) unless
 * --include-text is given and our organisation is a reader: plaintext is
 * special-category data, and an export is meant to be handed on.
 *
 * The folder is written under a temporary name beside DIR and renamed to
 * DIR when complete, so an interrupted export leaves no half folder at DIR.
 * index.json lists the SHA-256 of every other file and is signed with our
 * organisation's key (index.json.sig), so a changed byte anywhere is found.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "view.h"
#include "export.h"

enum {
	OPT_OUT = OPT_COMMAND_BASE,
	OPT_INCLUDE_TEXT,
};

static void export_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] export CASE --out DIR [--include-text]\n"
		   "\n"
		   "Writes the case's evidence into DIR (which must not exist, or be empty),\n"
		   "for a prosecutor or a court to keep and check without the relay:\n"
		   "every record's exact bytes and signature, its entry's leaf, the sealed\n"
		   "texts' envelopes as stored, the signers' certificates (DER and PEM), the\n"
		   "federation CA of our --ca, the relay's signed checkpoint and our\n"
		   "--checkpoint-key, an inclusion proof of every entry to that checkpoint,\n"
		   "index.json (machine-readable, with the SHA-256 of every file, signed by\n"
		   "our organisation: index.json.sig), report.html (the printable timeline)\n"
		   "and VERIFY.txt (how to check it with the openssl command).\n"
		   "\n"
		   "Only what verified is written: the checkpoint, every leaf hash and\n"
		   "inclusion proof, every certificate against our CA, every signature.\n"
		   "The relay lets the parties that read the case's records export it\n"
		   "(coordinator, iom and shelter parties, the responsible party); each page\n"
		   "read is a 'log' read in 'vigil case readers'.\n"
		   "\n"
		   "  --out DIR        the folder to create\n"
		   "  --include-text   also write each sealed text we can open (--enc-cert,\n"
		   "                   --enc-key) in the clear, in texts/, with the sealed\n"
		   "                   plaintext P its record commits to.  Off by default:\n"
		   "                   the texts are special-category data, and an export\n"
		   "                   without them can be handed on\n"
		   "\n"
		   "Check it with 'vigil verify --export DIR' (no relay needed).  Prints\n"
		   "'exported case ID: N entries, checkpoint of size M, F files, B bytes, to\n"
		   "DIR'; --json one object.  Exit status: 0 written, 1 refused by the relay\n"
		   "(police, a non-party), 2 usage error or DIR not usable, 3 connection\n"
		   "failure or something that does not verify (nothing is left at DIR).\n");
}

/* ---- the output folder ---------------------------------------------------------------- */

struct manifest_file {
	char path[EXPORT_NAME_MAX];
	uint8_t sha256[VIGIL_HASH_LEN];
	size_t size;
};

struct out {
	const struct settings *s;
	char *tmp;                       /* the folder being written */
	struct manifest_file *files;
	size_t n_files, cap_files;
	unsigned long long bytes;
};

/* Writes name (relative to the folder) with data, mode 0600, and adds it
 * to the manifest unless it is the index or its signature.  0 or an exit
 * status. */
static int out_file(struct out *o, const char *name, const void *data, size_t len)
{
	size_t pl = strlen(o->tmp) + 1 + strlen(name) + 1;
	char *path = malloc(pl);
	if (!path)
		return cli_fail(o->s, VIGIL_E_NOMEM, "out of memory");
	snprintf(path, pl, "%s/%s", o->tmp, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int ok = fd >= 0;
	const uint8_t *p = data;
	size_t left = len;
	while (ok && left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		ok = w > 0;
		if (ok) {
			p += w;
			left -= (size_t)w;
		}
	}
	int saved = errno;
	if (fd >= 0 && close(fd) != 0 && ok) {
		ok = 0;
		saved = errno;
	}
	free(path);
	if (!ok)
		return cli_fail(o->s, VIGIL_E_IO, "cannot write %s: %s", name, strerror(saved));
	o->bytes += len;
	if (!strcmp(name, EXPORT_INDEX) || !strcmp(name, EXPORT_INDEX_SIG))
		return 0;
	if (o->n_files == o->cap_files) {
		size_t cap = o->cap_files ? 2 * o->cap_files : 64;
		void *nf = realloc(o->files, cap * sizeof(*o->files));
		if (!nf)
			return cli_fail(o->s, VIGIL_E_NOMEM, "out of memory");
		o->files = nf;
		o->cap_files = cap;
	}
	struct manifest_file *m = &o->files[o->n_files++];
	snprintf(m->path, sizeof(m->path), "%s", name);
	vigil_sha256(data, len, m->sha256);
	m->size = len;
	return 0;
}

static int out_text(struct out *o, const char *name, const char *text)
{
	return out_file(o, name, text, strlen(text));
}

static int out_mkdir(struct out *o, const char *name)
{
	size_t pl = strlen(o->tmp) + 1 + strlen(name) + 1;
	char *path = malloc(pl);
	if (!path)
		return cli_fail(o->s, VIGIL_E_NOMEM, "out of memory");
	snprintf(path, pl, "%s/%s", o->tmp, name);
	int rc = mkdir(path, 0700) == 0 ? 0 : -1;
	int saved = errno;
	free(path);
	return rc == 0 ? 0 : cli_fail(o->s, VIGIL_E_IO, "cannot create %s: %s", name,
					  strerror(saved));
}

/* Removes the temporary folder and everything in it (two levels at most). */
static void out_remove(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		size_t pl = strlen(dir) + strlen(de->d_name) + 2;
		char *p = malloc(pl);
		if (!p)
			continue;
		snprintf(p, pl, "%s/%s", dir, de->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			out_remove(p);
		else
			unlink(p);
		free(p);
	}
	closedir(d);
	rmdir(dir);
}

/* DIR may be created or replaced: it does not exist, or is an empty
 * directory.  0 or an exit status. */
static int out_check_target(const struct settings *s, const char *dir)
{
	struct stat st;
	if (lstat(dir, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return cli_fail(s, VIGIL_E_IO, "export: cannot use %s: %s", dir, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return cli_fail(s, VIGIL_E_USAGE, "export: %s exists and is not a directory; an "
				"export never replaces a file", dir);
	DIR *d = opendir(dir);
	if (!d)
		return cli_fail(s, VIGIL_E_IO, "export: cannot read %s: %s", dir, strerror(errno));
	struct dirent *de;
	int empty = 1;
	while (empty && (de = readdir(d)) != NULL)
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	closedir(d);
	if (!empty)
		return cli_fail(s, VIGIL_E_USAGE, "export: %s is not empty; an export goes into a "
				"new or empty folder", dir);
	return 0;
}

/* Makes DIR.partial-XXXXXX beside DIR. */
static int out_open(struct out *o, const char *dir)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	size_t pl = n + sizeof(".partial-XXXXXX");
	if (!(o->tmp = malloc(pl)))
		return cli_fail(o->s, VIGIL_E_NOMEM, "out of memory");
	snprintf(o->tmp, pl, "%.*s.partial-XXXXXX", (int)n, dir);
	if (!mkdtemp(o->tmp)) {
		int saved = errno;
		free(o->tmp);
		o->tmp = NULL;
		return cli_fail(o->s, VIGIL_E_IO, "export: cannot create a folder beside %s: %s",
				dir, strerror(saved));
	}
	return 0;
}

/* ---- files and the CA file ---------------------------------------------------------- */

int export_read_file(const char *path, size_t max, uint8_t **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	struct stat st;
	int bad = fstat(fd, &st) != 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL
					      : (uint64_t)st.st_size > max ? EFBIG : 0;
	if (bad) {
		close(fd);
		errno = bad;
		return -1;
	}
	size_t n = (size_t)st.st_size, got = 0;
	uint8_t *b = malloc(n + 1);
	if (!b) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	while (got < n) {
		ssize_t r = read(fd, b + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	int saved = errno;
	close(fd);
	if (got != n) {
		free(b);
		errno = got < n ? (saved ? saved : EIO) : EIO;
		return -1;
	}
	b[n] = '\0';
	*data = b;
	*len = n;
	return 0;
}

/* The CERTIFICATE blocks of our CA file (nothing else: a key that shares
 * the file stays out of the export), and the SHA-256 of each one's DER.
 * 0 or an exit status. */
static int ca_read(const struct settings *s, const char *path, char **pem, struct export *x)
{
	uint8_t *text;
	size_t len;
	if (export_read_file(path, 1u << 20, &text, &len) != 0)
		return cli_fail(s, VIGIL_E_IO, "cannot read the CA file %s: %s", path,
				strerror(errno));
	int rc = export_pem_certs((const char *)text, len, pem, &x->ca_sha256, &x->n_ca);
	free(text);
	if (rc == -1)
		return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	if (rc != 0 || x->n_ca == 0) {
		free(*pem);
		*pem = NULL;
		return cli_fail(s, VIGIL_E_USAGE, "the CA file %s holds no PEM certificate%s", path,
				rc ? " that decodes" : "");
	}
	return 0;
}

/* ---- building the export from the verified case log ------------------------------------ */

static size_t cert_index(const struct export *x, const uint8_t h[VIGIL_HASH_LEN])
{
	size_t i = 0;
	while (i < x->n_certs && memcmp(x->certs[i].sha256, h, VIGIL_HASH_LEN) != 0)
		i++;
	return i;
}

static int is_relay_kind(const char *k)
{
	return !strcmp(k, "alert") || !strcmp(k, "erasure") || !strcmp(k, "member-key");
}

/* Every certificate against our CA, and ours added.  0 or an exit status. */
static int certs_check(const struct settings *s, vigil_client *c,
		       const struct vigil_case_log *log, struct export *x, uint8_t **own,
		       size_t *own_len)
{
	x->certs = calloc(log->n_certificates + 1, sizeof(*x->certs));
	if (!x->certs)
		return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	struct vigil_error err;
	for (size_t i = 0; i < log->n_certificates; i++) {
		const struct vigil_certificate *vc = &log->certificates[i];
		struct export_cert *ec = &x->certs[x->n_certs++];
		memcpy(ec->sha256, vc->sha256, VIGIL_HASH_LEN);
		vigil_hex_encode(ec->sha256, VIGIL_HASH_LEN, ec->hex);
		ec->der = vc->der;
		ec->der_len = vc->der_len;
		if (vigil_certificate_check(s->ca, vc->der, vc->der_len, &ec->id, &err) != VIGIL_OK)
			return cli_fail(s, err.status == VIGIL_E_VERIFY ? VIGIL_E_VERIFY : err.status,
					"certificate %s: %s", ec->hex, err.message);
	}
	int rc = vigil_client_certificate(c, own, own_len, &err);
	if (rc != VIGIL_OK)
		return cli_fail(s, rc, "%s", err.message);
	uint8_t h[VIGIL_HASH_LEN];
	vigil_sha256(*own, *own_len, h);
	x->exporter_cert = cert_index(x, h);
	if (x->exporter_cert == x->n_certs) {
		struct export_cert *ec = &x->certs[x->n_certs++];
		memcpy(ec->sha256, h, VIGIL_HASH_LEN);
		vigil_hex_encode(h, VIGIL_HASH_LEN, ec->hex);
		ec->der = *own;
		ec->der_len = *own_len;
		if (vigil_certificate_check(s->ca, *own, *own_len, &ec->id, &err) != VIGIL_OK)
			return cli_fail(s, err.status, "our own certificate: %s", err.message);
	}
	snprintf(x->exporter, sizeof(x->exporter), "%s", vigil_client_org(c));
	return 0;
}

/* One entry: decoded, its certificate, its signature, its sealed text. */
static int entry_check(const struct settings *s, vigil_client *c, struct export *x,
		       struct export_entry *xe)
{
	const struct vigil_entry *e = xe->e;
	unsigned long long idx = (unsigned long long)e->index;
	struct vigil_error err;
	xe->erased_by = -1;
	export_entry_name(e->index, "", xe->base, sizeof(xe->base));
	xe->base[strlen(xe->base) - 1] = '\0'; /* "entries/NNNNNN" */
	xe->cert = cert_index(x, e->cert_sha256);
	if (xe->cert == x->n_certs) {
		char hex[2 * VIGIL_HASH_LEN + 1];
		vigil_hex_encode(e->cert_sha256, VIGIL_HASH_LEN, hex);
		return cli_fail(s, VIGIL_E_VERIFY, "entry %llu: the relay sent no certificate %s "
				"with it (a relay older than vigil export sends none)", idx, hex);
	}
	const struct export_cert *ec = &x->certs[xe->cert];
	if (e->record_erased)
		return 0;
	if (!(xe->ri = malloc(sizeof(*xe->ri))))
		return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	if (vigil_record_decode(e->record, e->record_len, xe->ri, &err) != VIGIL_OK)
		return cli_fail(s, VIGIL_E_VERIFY, "entry %llu: %s", idx, err.message);
	const struct vigil_record_info *ri = xe->ri;
	if (strcmp(ri->case_id, x->case_id) != 0)
		return cli_fail(s, VIGIL_E_VERIFY, "entry %llu belongs to case %s", idx,
				ri->case_id);
	if (strcmp(ec->id.organisation, ri->author) != 0 ||
	    (is_relay_kind(ri->kind) && strcmp(ec->id.role, "relay") != 0))
		return cli_fail(s, VIGIL_E_VERIFY, "entry %llu: its author %s is not the "
				"organisation of the certificate that signed it (%s, %s)", idx,
				ri->author, ec->id.organisation, ec->id.role);
	if (vigil_signature_check(ec->der, ec->der_len, e->record, e->record_len, e->signature,
				  e->signature_len, &err) != VIGIL_OK)
		return cli_fail(s, VIGIL_E_VERIFY, "entry %llu: %s", idx, err.message);
	if (!ri->sealed_field || !ri->sealed_field[0])
		return 0;
	if (e->content_erased) {
		xe->text = EXPORT_TEXT_ERASED;
		return 0;
	}
	if (!e->sealed)
		return cli_fail(s, VIGIL_E_VERIFY, "entry %llu seals a text, but the relay sent no "
				"envelope with it", idx);
	xe->text = EXPORT_TEXT_SEALED;
	if (!x->include_text)
		return 0;
	int rc = vigil_open_sealed_plain(c, e->record, e->record_len, e->sealed, e->sealed_len,
					 &xe->text_value, &xe->plain, &xe->plain_len, &err);
	if (rc == VIGIL_E_SEALED) {
		xe->text = EXPORT_TEXT_NOT_READER;
		return 0;
	}
	if (rc != VIGIL_OK)
		return cli_fail(s, rc, "entry %llu: %s", idx, err.message);
	xe->text = EXPORT_TEXT_OPENED;
	snprintf(xe->text_base, sizeof(xe->text_base), "texts/%06llu-%s", idx,
		 export_text_field(ri));
	return 0;
}

/* Every entry's proof to the export's checkpoint: the case log's own when
 * its page was proven to that checkpoint, else fetched again for it. */
static int proofs(const struct settings *s, vigil_client *c, const struct vigil_case_log *log,
		  struct export *x)
{
	struct vigil_inclusion_proof *p = NULL;
	for (size_t i = 0; i < x->n; i++) {
		const struct vigil_case_log_entry *le = &log->entries[i];
		struct export_entry *xe = &x->entries[i];
		if (le->proof_size == log->checkpoint.size) {
			xe->proof_len = le->proof_len;
			memcpy(xe->proof, le->inclusion_proof, le->proof_len * VIGIL_HASH_LEN);
			continue;
		}
		if (!p && !(p = malloc(sizeof(*p))))
			return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
		struct vigil_error err;
		int rc = vigil_get_inclusion_proof(c, le->entry.index, log->checkpoint.size,
						   &log->checkpoint, p, &err);
		if (rc == VIGIL_OK && memcmp(p->leaf_hash, le->entry.leaf_hash, VIGIL_HASH_LEN)) {
			rc = VIGIL_E_VERIFY;
			snprintf(err.message, sizeof(err.message), "the relay's proof is for another "
				 "leaf hash than the case log's");
		}
		if (rc != VIGIL_OK) {
			free(p);
			return cli_fail(s, rc, "entry %llu: %s", (unsigned long long)le->entry.index,
					err.message);
		}
		xe->proof_len = p->n;
		memcpy(xe->proof, p->hashes, p->n * VIGIL_HASH_LEN);
	}
	free(p);
	return 0;
}

/* Notes which Erasure entry erased which entry of the case. */
static void erasures(struct export *x)
{
	for (size_t i = 0; i < x->n; i++) {
		const struct vigil_record_info *ri = x->entries[i].ri;
		if (!ri || strcmp(ri->kind, "erasure") != 0)
			continue;
		for (size_t k = 0; k < ri->erased_n && k < VIGIL_ERASED_MAX; k++)
			for (size_t j = 0; j < x->n; j++)
				if (x->entries[j].e->index == ri->erased[k])
					x->entries[j].erased_by = (int64_t)x->entries[i].e->index;
	}
}

/* ---- index.json ------------------------------------------------------------------------- */

/* A JSON string of text from a record or certificate (cleaned UTF-8). */
static json_t *jtext(const char *s)
{
	if (!s)
		return json_null();
	size_t n = 4 * strlen(s) + 1;
	char *c = malloc(n);
	if (!c)
		return NULL;
	export_clean(s, c, n);
	json_t *j = json_string(c);
	free(c);
	return j;
}

static json_t *jhex(const uint8_t *b, size_t n)
{
	char hex[2 * VIGIL_HASH_LEN + 1];
	if (n > VIGIL_HASH_LEN)
		return NULL;
	vigil_hex_encode(b, n, hex);
	return json_string(hex);
}

static json_t *jtime(int64_t ms)
{
	if (ms <= 0)
		return json_null();
	char t[VIGIL_TIME_LEN];
	vigil_format_time(ms, t, sizeof(t));
	return json_string(t);
}

static const char *text_state(int t)
{
	switch (t) {
	case EXPORT_TEXT_SEALED: return "sealed";
	case EXPORT_TEXT_ERASED: return "erased";
	case EXPORT_TEXT_OPENED: return "opened";
	case EXPORT_TEXT_NOT_READER: return "not-reader";
	default: return NULL;
	}
}

static json_t *jname_or_null(const char *base, const char *suffix, int present)
{
	if (!present)
		return json_null();
	char n[EXPORT_NAME_MAX];
	snprintf(n, sizeof(n), "%s.%s", base, suffix);
	return json_string(n);
}

static json_t *entry_json(const struct export *x, const struct export_entry *xe)
{
	const struct vigil_entry *e = xe->e;
	const struct vigil_record_info *ri = xe->ri;
	json_t *proof = json_array();
	for (size_t k = 0; proof && k < xe->proof_len; k++)
		json_array_append_new(proof, jhex(xe->proof[k], VIGIL_HASH_LEN));
	int rec = !e->record_erased;
	int opened = xe->text == EXPORT_TEXT_OPENED;
	json_t *files = json_pack(
		"{s:o, s:o, s:o, s:o, s:o, s:o}", "record", jname_or_null(xe->base, "record", rec),
		"signature", jname_or_null(xe->base, "sig", rec), "leaf",
		jname_or_null(xe->base, "leaf", rec), "sealed",
		jname_or_null(xe->base, "cms", xe->text == EXPORT_TEXT_SEALED ||
						       xe->text == EXPORT_TEXT_OPENED ||
						       xe->text == EXPORT_TEXT_NOT_READER),
		"text", jname_or_null(xe->text_base, "txt", opened), "plain",
		jname_or_null(xe->text_base, "p", opened));
	const char *ts = text_state(xe->text);
	json_t *j = json_pack(
		"{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:s, s:o, s:b, s:b, s:o, s:o, s:o, "
		"s:o}",
		"index", (json_int_t)e->index, "kind", rec ? json_string(ri->kind) : json_null(),
		"record_id", rec ? jhex(ri->record_id, VIGIL_RECORD_ID_LEN) : json_null(), "author",
		rec ? jtext(ri->author) : json_null(), "client_time",
		rec ? jtime(ri->client_time_ms) : json_null(), "client_time_ms",
		rec ? json_integer(ri->client_time_ms) : json_null(), "attempted_at",
		rec && !strcmp(ri->kind, "contact") ? jtime(ri->attempted_at_ms) : json_null(),
		"received_at", jtime(e->received_at_ms), "received_at_ms",
		(json_int_t)e->received_at_ms, "certificate", x->certs[xe->cert].hex, "leaf_hash",
		jhex(e->leaf_hash, VIGIL_HASH_LEN), "record_erased", e->record_erased,
		"content_erased", e->content_erased, "erased_by",
		xe->erased_by >= 0 ? json_integer(xe->erased_by) : json_null(), "sealed_text",
		ts ? json_string(ts) : json_null(), "files", files, "proof", proof);
	/* Corrections (vigil correct): the entry a correction corrects, and
	 * the corrections of an entry, the last one in force. */
	const struct vigil_case_log_entry *le = xe->le;
	json_t *by = json_array();
	for (size_t k = 0; by && le && k < le->n_corrected_by; k++)
		if (json_array_append_new(by, json_integer((json_int_t)le->corrected_by[k])) != 0) {
			json_decref(by);
			by = NULL;
		}
	if (!j || !by ||
	    json_object_set_new(j, "corrects", le && le->is_correction
						  ? json_integer((json_int_t)le->corrects)
						  : json_null()) != 0 ||
	    json_object_set_new(j, "corrected_by", by) != 0) {
		if (!j)
			json_decref(by);
		json_decref(j);
		return NULL;
	}
	return j;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct manifest_file *)a)->path,
		      ((const struct manifest_file *)b)->path);
}

/* index.json as text (malloc()ed), every file of the manifest listed. */
static char *index_json(const struct export *x, struct out *o)
{
	const struct vigil_checkpoint *cp = &x->cp;
	json_t *entries = json_array(), *certs = json_array(), *cas = json_array(),
	       *files = json_array();
	if (!entries || !certs || !cas || !files)
		goto fail;
	for (size_t i = 0; i < x->n; i++)
		if (json_array_append_new(entries, entry_json(x, &x->entries[i])) != 0)
			goto fail;
	for (size_t i = 0; i < x->n_certs; i++) {
		const struct export_cert *c = &x->certs[i];
		char der[EXPORT_NAME_MAX], pem[EXPORT_NAME_MAX];
		snprintf(der, sizeof(der), "certs/%s.der", c->hex);
		snprintf(pem, sizeof(pem), "certs/%s.pem", c->hex);
		if (json_array_append_new(
			    certs, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "sha256", c->hex,
					     "der", der, "pem", pem, "organisation",
					     jtext(c->id.organisation), "role", jtext(c->id.role),
					     "country", jtext(c->id.country), "common_name",
					     jtext(c->id.common_name))) != 0)
			goto fail;
	}
	for (size_t i = 0; i < x->n_ca; i++)
		if (json_array_append_new(cas, jhex(x->ca_sha256[i], VIGIL_HASH_LEN)) != 0)
			goto fail;
	qsort(o->files, o->n_files, sizeof(*o->files), by_path);
	for (size_t i = 0; i < o->n_files; i++)
		if (json_array_append_new(files, json_pack("{s:s, s:o, s:I}", "path",
							  o->files[i].path,
							  "sha256", jhex(o->files[i].sha256,
									 VIGIL_HASH_LEN),
							  "size", (json_int_t)o->files[i].size)) !=
		    0)
			goto fail;
	char software[128];
	snprintf(software, sizeof(software), "vigil %s (libvigil %s)", VIGIL_VERSION,
		 vigil_version());
	json_t *root = json_pack(
		"{s:s, s:s, s:o, s:I, s:{s:s, s:s}, s:s, s:b, "
		"s:{s:s, s:o, s:I, s:o, s:o, s:o, s:s, s:s, s:s}, s:{s:s, s:o}, s:o, s:o, s:o}",
		"format", EXPORT_FORMAT, "case_id", x->case_id, "exported_at",
		jtime(x->exported_at_ms), "exported_at_ms", (json_int_t)x->exported_at_ms,
		"exporter", "organisation", x->exporter, "certificate",
		x->certs[x->exporter_cert].hex, "software", software, "texts_included",
		x->include_text, "checkpoint", "file", EXPORT_CHECKPOINT, "origin",
		jtext(cp->origin), "size", (json_int_t)cp->size, "root",
		jhex(cp->root, VIGIL_HASH_LEN), "signed_at", jtime(cp->signed_at_ms),
		"signed_at_ms", cp->signed_at_ms >= 0 ? json_integer(cp->signed_at_ms) : json_null(),
		"key", EXPORT_VKEY, "key_pem", EXPORT_KEY_PEM, "verifier_key", x->vkey, "ca",
		"file", EXPORT_CA, "certificates", cas, "certificates", certs, "entries", entries,
		"files", files);
	if (!root)
		return NULL; /* json_pack took the arrays ("o") even when it failed */
	char *text = json_dumps(root, JSON_INDENT(1));
	json_decref(root);
	if (!text)
		return NULL;
	/* A text file ends with a newline. */
	size_t n = strlen(text);
	char *out = malloc(n + 2);
	if (out) {
		memcpy(out, text, n);
		out[n] = '\n';
		out[n + 1] = '\0';
	}
	free(text);
	return out;
fail:
	json_decref(entries);
	json_decref(certs);
	json_decref(cas);
	json_decref(files);
	return NULL;
}

/* ---- writing the folder ---------------------------------------------------------------- */

static const char texts_readme[] =
	"PLAINTEXT OF SEALED TEXTS - SPECIAL-CATEGORY PERSONAL DATA\n"
	"\n"
	"The files in this folder are the sealed free texts of the case (contact\n"
	"notes, justifications, decline and acknowledgement reasons), opened by the\n"
	"exporting organisation with its encryption key because the export was\n"
	"made with --include-text.  They concern a victim of trafficking: keep and\n"
	"pass them on only as the law allows for such data.  Without this folder the\n"
	"export is still complete evidence: every record, its signature and its\n"
	"sealed envelope are in entries/.\n"
	"\n"
	"For each text, NNNNNN-FIELD.txt is the text (UTF-8) and NNNNNN-FIELD.p the\n"
	"sealed plaintext P it was taken from.  The SHA-256 of P is the commitment\n"
	"that the signed record entries/NNNNNN.record holds, so P (and with it the\n"
	"text) is the one the author signed: see VERIFY.txt, and proto/README.md of\n"
	"vigil, \"Sealed text\", for P's layout.\n";

/* The Ed25519 public key as PEM (SubjectPublicKeyInfo). */
static char *key_pem(const struct vigil_checkpoint_key *k)
{
	uint8_t spki[12 + 32] = { 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
				  0x2b, 0x65, 0x70, 0x03, 0x21, 0x00 };
	memcpy(spki + 12, k->public_key, 32);
	return export_pem_label("PUBLIC KEY", spki, sizeof(spki));
}

/* A text made by a writer function into memory, then written as name. */
static int out_generated(struct out *o, const char *name,
			 int (*gen)(FILE *, const struct export *), const struct export *x)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return cli_fail(o->s, VIGIL_E_NOMEM, "out of memory");
	int bad = gen(f, x) != 0;
	bad |= fclose(f) != 0;
	int rc = bad ? cli_fail(o->s, VIGIL_E_NOMEM, "cannot make %s", name)
		     : out_file(o, name, buf, len);
	free(buf);
	return rc;
}

static int write_entries(struct out *o, const struct export *x)
{
	int rc = 0;
	char name[EXPORT_NAME_MAX];
	for (size_t i = 0; rc == 0 && i < x->n; i++) {
		const struct export_entry *xe = &x->entries[i];
		const struct vigil_entry *e = xe->e;
		if (!e->record_erased) {
			size_t ll;
			uint8_t *leaf = export_leaf(e->received_at_ms, e->cert_sha256, e->record,
						    e->record_len, e->signature, e->signature_len,
						    &ll);
			if (!leaf)
				return cli_fail(o->s, VIGIL_E_NOMEM, "out of memory");
			snprintf(name, sizeof(name), "%s.record", xe->base);
			rc = out_file(o, name, e->record, e->record_len);
			snprintf(name, sizeof(name), "%s.sig", xe->base);
			if (rc == 0)
				rc = out_file(o, name, e->signature, e->signature_len);
			snprintf(name, sizeof(name), "%s.leaf", xe->base);
			if (rc == 0)
				rc = out_file(o, name, leaf, ll);
			free(leaf);
		}
		if (rc == 0 && e->sealed && !e->content_erased) {
			snprintf(name, sizeof(name), "%s.cms", xe->base);
			rc = out_file(o, name, e->sealed, e->sealed_len);
		}
		if (rc == 0 && xe->text == EXPORT_TEXT_OPENED) {
			snprintf(name, sizeof(name), "%s.txt", xe->text_base);
			rc = out_text(o, name, xe->text_value);
			snprintf(name, sizeof(name), "%s.p", xe->text_base);
			if (rc == 0)
				rc = out_file(o, name, xe->plain, xe->plain_len);
		}
	}
	return rc;
}

static int write_certs(struct out *o, const struct export *x)
{
	char name[EXPORT_NAME_MAX];
	for (size_t i = 0; i < x->n_certs; i++) {
		const struct export_cert *c = &x->certs[i];
		snprintf(name, sizeof(name), "certs/%s.der", c->hex);
		int rc = out_file(o, name, c->der, c->der_len);
		if (rc != 0)
			return rc;
		char *pem = export_pem(c->der, c->der_len);
		if (!pem)
			return cli_fail(o->s, VIGIL_E_NOMEM, "out of memory");
		snprintf(name, sizeof(name), "certs/%s.pem", c->hex);
		rc = out_text(o, name, pem);
		free(pem);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Everything but the index, then the index and our signature over it. */
static int write_folder(struct out *o, vigil_client *c, const struct export *x,
			const char *ca_pem, const char *kpem)
{
	int rc = out_mkdir(o, "entries");
	if (rc == 0)
		rc = out_mkdir(o, "certs");
	if (rc == 0 && x->include_text)
		rc = out_mkdir(o, "texts");
	if (rc == 0)
		rc = write_entries(o, x);
	if (rc == 0)
		rc = write_certs(o, x);
	if (rc == 0 && x->include_text)
		rc = out_text(o, EXPORT_TEXTS_README, texts_readme);
	if (rc == 0)
		rc = out_text(o, EXPORT_CA, ca_pem);
	if (rc == 0)
		rc = out_file(o, EXPORT_CHECKPOINT, x->cp.note, x->cp.note_len);
	char vk[EXPORT_VKEY_MAX + 2];
	snprintf(vk, sizeof(vk), "%s\n", x->vkey);
	if (rc == 0)
		rc = out_text(o, EXPORT_VKEY, vk);
	if (rc == 0)
		rc = out_text(o, EXPORT_KEY_PEM, kpem);
	if (rc == 0)
		rc = out_generated(o, EXPORT_REPORT, report_write, x);
	if (rc == 0)
		rc = out_generated(o, EXPORT_VERIFY, report_verify_txt, x);
	if (rc != 0)
		return rc;
	char *index = index_json(x, o);
	if (!index)
		return cli_fail(o->s, VIGIL_E_NOMEM, "cannot make %s", EXPORT_INDEX);
	size_t il = strlen(index);
	rc = out_file(o, EXPORT_INDEX, index, il);
	uint8_t *sig = NULL;
	size_t sl = 0;
	struct vigil_error err;
	if (rc == 0 && vigil_sign_document(c, (const uint8_t *)index, il, &sig, &sl, &err) !=
			       VIGIL_OK)
		rc = cli_fail(o->s, err.status, "cannot sign %s: %s", EXPORT_INDEX, err.message);
	if (rc == 0)
		rc = out_file(o, EXPORT_INDEX_SIG, sig, sl);
	vigil_free(sig);
	free(index);
	return rc;
}

/* Syncs every file and folder of the finished export (best effort: the
 * rename is what makes it appear). */
static void out_sync(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		size_t pl = strlen(dir) + strlen(de->d_name) + 2;
		char *p = malloc(pl);
		if (!p)
			continue;
		snprintf(p, pl, "%s/%s", dir, de->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			out_sync(p);
		} else {
			int fd = open(p, O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				fsync(fd);
				close(fd);
			}
		}
		free(p);
	}
	closedir(d);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* ---- the command ------------------------------------------------------------------------ */

static void export_free(struct export *x)
{
	for (size_t i = 0; x->entries && i < x->n; i++) {
		free(x->entries[i].ri);
		vigil_free(x->entries[i].text_value);
		vigil_free(x->entries[i].plain);
	}
	free(x->entries);
	free(x->certs);
	free(x->ca_sha256);
}

static int export_args(struct settings *s, int argc, char *argv[], const char **case_id,
		       const char **dir, int *include_text)
{
	static const struct option options[] = {
		CLI_GLOBAL_OPTIONS,
		{ "out", required_argument, NULL, OPT_OUT },
		{ "include-text", no_argument, NULL, OPT_INCLUDE_TEXT },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	/* No '+': options may follow the case id. */
	while ((opt = getopt_long(argc, argv, ":c:h", options, NULL)) != -1) {
		switch (opt) {
		case '?':
		case ':':
			return cli_getopt_error(opt, argv);
		case 'h':
			export_help(stdout);
			return -1;
		case OPT_OUT: *dir = optarg; break;
		case OPT_INCLUDE_TEXT: *include_text = 1; break;
		default: {
			int r = cli_global_option(s, opt, optarg);
			if (r != 0)
				return r > 0 ? r : cli_usage_error("unexpected option");
		}
		}
	}
	if (optind >= argc)
		return cli_usage_error("export: give the case id: vigil export ID --out DIR");
	*case_id = argv[optind++];
	if (optind < argc)
		return cli_usage_error("export: unexpected argument '%s'", argv[optind]);
	struct vigil_error err;
	if (vigil_case_id_check(*case_id, &err) != VIGIL_OK)
		return cli_usage_error("export: %s", err.message);
	if (!*dir || !(*dir)[0])
		return cli_usage_error("export: --out DIR is required (a folder that does not "
				       "exist yet, or an empty one)");
	return 0;
}

/* Everything that needs the connection: the verified case log, checked
 * and completed into x, and the folder written into o.  0 or an exit
 * status. */
struct export_summary {
	size_t entries;
	uint64_t checkpoint_size;
	size_t texts;              /* opened and written */
	size_t texts_withheld;     /* --include-text, but we are no reader */
};

static int export_run(struct settings *s, vigil_client *c, struct export *x, struct out *o,
		      const char *dir, const char *ca_pem, struct export_summary *sum)
{
	struct vigil_case_log *log = NULL;
	struct vigil_error err;
	uint8_t *own = NULL;
	size_t own_len = 0;
	char *kpem = NULL;
	int rc = vigil_case_log(c, x->case_id, &log, &err);
	if (rc != VIGIL_OK) {
		output_failure(&err, s->json);
		return cli_exit_status(rc);
	}
	x->cp = log->checkpoint;
	x->n = log->n;
	x->entries = calloc(log->n ? log->n : 1, sizeof(*x->entries));
	if (!x->entries) {
		rc = cli_fail(s, VIGIL_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = certs_check(s, c, log, x, &own, &own_len)) != 0)
		goto out;
	for (size_t i = 0; rc == 0 && i < log->n; i++) {
		x->entries[i].e = &log->entries[i].entry;
		x->entries[i].le = &log->entries[i];
		rc = entry_check(s, c, x, &x->entries[i]);
	}
	if (rc == 0)
		rc = proofs(s, c, log, x);
	if (rc != 0)
		goto out;
	erasures(x);
	const struct vigil_checkpoint_key *key = vigil_client_checkpoint_key(c);
	if (vigil_checkpoint_key_format(key, key->name[0] ? NULL : x->cp.origin, x->vkey,
					sizeof(x->vkey), &err) != VIGIL_OK ||
	    !(kpem = key_pem(key))) {
		rc = cli_fail(s, VIGIL_E_NOMEM, "cannot write the checkpoint key");
		goto out;
	}
	x->exported_at_ms = cli_now_ms();
	if ((rc = out_open(o, dir)) != 0)
		goto out;
	rc = write_folder(o, c, x, ca_pem, kpem);
	sum->entries = x->n;
	sum->checkpoint_size = x->cp.size;
	for (size_t i = 0; i < x->n; i++) {
		sum->texts += x->entries[i].text == EXPORT_TEXT_OPENED;
		sum->texts_withheld += x->entries[i].text == EXPORT_TEXT_NOT_READER;
	}
out:
	free(kpem);
	vigil_free(own);
	/* x's entries and certificates point into the log: the caller frees
	 * x's own allocations only (export_free). */
	vigil_free(log);
	return rc;
}

int cmd_export(struct settings *s, int argc, char *argv[])
{
	const char *case_id = NULL, *dir = NULL;
	int include_text = 0;
	int rc = export_args(s, argc, argv, &case_id, &dir, &include_text);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = cli_settings(s)) != 0)
		return rc;
	if (include_text && (!s->enc_cert || !s->enc_key))
		return cli_usage_error("export: --include-text needs our encryption certificate "
				       "and key (--enc-cert, --enc-key or [tls] enc_cert, "
				       "enc_key): only a reader opens the texts");
	if ((rc = out_check_target(s, dir)) != 0)
		return rc;
	struct export x;
	memset(&x, 0, sizeof(x));
	x.case_id = case_id;
	x.include_text = include_text;
	char *ca_pem = NULL;
	if ((rc = ca_read(s, s->ca, &ca_pem, &x)) != 0) {
		export_free(&x);
		return rc;
	}
	vigil_client *c;
	if ((rc = cli_connect(s, &c)) != 0) {
		export_free(&x);
		free(ca_pem);
		return rc;
	}
	struct out o = { .s = s };
	struct export_summary sum = { 0 };
	rc = export_run(s, c, &x, &o, dir, ca_pem, &sum);
	vigil_close(&c);
	free(ca_pem);
	export_free(&x);
	if (rc == 0) {
		out_sync(o.tmp);
		if (rename(o.tmp, dir) != 0)
			rc = cli_fail(s, VIGIL_E_IO, "export: cannot rename %s to %s: %s", o.tmp,
				      dir, strerror(errno));
	}
	if (rc != 0) {
		if (o.tmp)
			out_remove(o.tmp);
		free(o.tmp);
		free(o.files);
		return rc;
	}
	/* The index and its signature are not in the manifest. */
	size_t files = o.n_files + 2;
	if (s->json) {
		view_write_json(json_pack("{s:b, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I}", "ok", 1,
					  "case_id", view_jstring(case_id), "dir",
					  view_jstring(dir), "entries", (json_int_t)sum.entries,
					  "checkpoint_size", (json_int_t)sum.checkpoint_size,
					  "files", (json_int_t)files, "bytes", (json_int_t)o.bytes,
					  "texts", (json_int_t)sum.texts, "texts_withheld",
					  (json_int_t)sum.texts_withheld), stdout);
	} else {
		printf("exported case %s: %zu entries, checkpoint of size %llu, %zu files, %llu "
		       "bytes, to %s\n", case_id, sum.entries,
		       (unsigned long long)sum.checkpoint_size, files, o.bytes, dir);
		if (include_text)
			printf("texts: %zu written in the clear to %s/texts/ (special-category "
			       "data); %zu sealed to other readers only, left sealed\n", sum.texts,
			       dir, sum.texts_withheld);
		printf("check it with: vigil verify --export %s --ca CA --checkpoint-key KEY\n",
		       dir);
	}
	free(o.tmp);
	free(o.files);
	return 0;
}
