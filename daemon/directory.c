#include "daemon/directory.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "daemon/ini.h"
#include "proto/sealed.h"
#include "proto/status.h"

struct directory {
	atomic_uint refs;         /* directory_ref; freed at the last release */
	size_t n;
	struct member *members;   /* sorted by org, no two alike */
	char **enc_paths;         /* members[i]'s encryption_cert as written, or NULL */
};

/* The keys of a section, in the order the entry lists them. */
enum { K_ROLE, K_COUNTRY, K_NAME, K_ENC, N_DKEYS };
static const char *const key_names[N_DKEYS] = { "role", "country", "name",
						"encryption_cert" };
#define N_REQUIRED 3              /* role, country, name */

/* A member being read, with where each part came from. */
struct entry {
	struct member m;
	char *enc_path;           /* encryption_cert as written, or NULL */
	int line;                 /* of its [section] header */
	int key_line[N_DKEYS];    /* where each key was set, 0 when not yet */
};

/* State of one directory_load(), shared by the handlers. */
struct parse {
	char base[PATH_MAX];      /* the directory file's own directory, "" for "." */
	struct ini_file *in;
	int lineno;               /* line of the header or key being handled */
	struct entry *e;          /* every section so far; the last is the current one */
	size_t n, cap;
	struct directory *d;      /* the result, built once the whole file is read */
};

/* Loads and checks e's encryption certificate (once role and country are
 * known); errors on the key's line.  0, or -1 after ini_fail(). */
static int load_enc_cert(struct parse *p, struct entry *e)
{
	int line = e->key_line[K_ENC];
	const char *path = e->enc_path;
	char full[PATH_MAX + 2 * RECORD_ORG_MAX];
	if (path[0] == '/' || !p->base[0])
		snprintf(full, sizeof(full), "%s", path);
	else
		snprintf(full, sizeof(full), "%s/%s", p->base, path);
	if (e->m.role == ROLE_RELAY) {
		ini_fail(p->in, line, VG_EBADREQ,
			 "[%s] encryption_cert: the relay reads no sealed text; remove the key",
			 e->m.org);
		return -1;
	}
	FILE *f = fopen(full, "r");
	if (!f) {
		ini_fail(p->in, line, VG_EBADREQ, "[%s] encryption_cert: cannot open %s",
			 e->m.org, path);
		return -1;
	}
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	if (!x) {
		ini_fail(p->in, line, VG_EBADREQ,
			 "[%s] encryption_cert: %s holds no PEM certificate", e->m.org, path);
		return -1;
	}
	char why[160] = "";
	sealed_enc_cert_check(x, e->m.org, identity_role_name(e->m.role), e->m.country, why,
			      sizeof(why));
	ERR_clear_error();
	if (!why[0] && sealed_cert_sha256(x, e->m.enc_sha256) != VG_OK)
		snprintf(why, sizeof(why), "cannot hash it");
	unsigned char *der = NULL;
	int der_len = why[0] ? 0 : i2d_X509(x, &der);
	if (!why[0] && der_len <= 0)
		snprintf(why, sizeof(why), "cannot encode it");
	if (why[0]) {
		OPENSSL_free(der);
		X509_free(x);
		ini_fail(p->in, line, VG_EBADREQ, "[%s] encryption_cert: %s: %s", e->m.org, path,
			 why);
		return -1;
	}
	e->m.enc_cert = x;
	e->m.enc_der = der;
	e->m.enc_der_len = (size_t)der_len;
	return 0;
}

/* The current section has all its keys; reported on its header's line.
 * 0 when it has, -1 after ini_fail(). */
static int section_complete(struct parse *p)
{
	if (p->n == 0)
		return 0;
	struct entry *e = &p->e[p->n - 1];
	for (int k = 0; k < N_REQUIRED; k++)
		if (!e->key_line[k]) {
			ini_fail(p->in, e->line, VG_EBADREQ, "[%s] %s is required", e->m.org,
				 key_names[k]);
			return -1;
		}
	if (e->enc_path && !e->m.enc_cert)
		return load_enc_cert(p, e);
	return 0;
}

/* A new [section] on line: the organisation id it names. */
static void on_section(struct ini_file *in, void *user, const char *name, int line)
{
	struct parse *p = user;
	p->in = in;
	p->lineno = line;
	if (section_complete(p) != 0)
		return;
	if (!record_org_ok(name)) {
		/* Cut one character past the longest id: enough to show
		 * it is too long, and the message stays short. */
		ini_fail(in, line, VG_EBADREQ,
			 "[%.*s] is not an organisation id (1-64 characters of [a-z0-9-])",
			 (int)RECORD_ORG_MAX + 1, name);
		return;
	}
	/* Linear, but bounded by DIRECTORY_MAX and run once at start-up; it
	 * reports the duplicate on its own line, before anything after it. */
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->e[i].m.org, name) == 0) {
			ini_fail(in, line, VG_EBADREQ,
				 "duplicate organisation [%s] (first on line %d)", name,
				 p->e[i].line);
			return;
		}
	if (p->n == DIRECTORY_MAX) {
		ini_fail(in, line, VG_EBADREQ, "more than %d organisations", DIRECTORY_MAX);
		return;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct entry *e = realloc(p->e, cap * sizeof(*e));
		if (!e) {
			ini_fail(in, line, VG_ENOMEM, "out of memory");
			return;
		}
		p->e = e;
		p->cap = cap;
	}
	struct entry *e = &p->e[p->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->m.org, name, strlen(name) + 1); /* record_org_ok: it fits */
	e->line = line;
}

/* A display name: 1..DIRECTORY_NAME_MAX bytes of UTF-8, no control characters. */
static int set_name(struct parse *p, struct entry *e, const char *value)
{
	size_t n = strlen(value);
	if (n > DIRECTORY_NAME_MAX) {
		ini_fail(p->in, p->lineno, VG_EBADREQ, "[%s] name: %zu bytes; the limit is %d",
			 e->m.org, n, DIRECTORY_NAME_MAX);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f) {
			ini_fail(p->in, p->lineno, VG_EBADREQ,
				 "[%s] name: contains a control character", e->m.org);
			return 0;
		}
	if (!record_utf8_ok(value)) {
		ini_fail(p->in, p->lineno, VG_EBADREQ, "[%s] name: not valid UTF-8", e->m.org);
		return 0;
	}
	memcpy(e->m.name, value, n + 1);
	return 1;
}

static int set_value(struct parse *p, struct entry *e, int k, const char *value)
{
	switch (k) {
	case K_ROLE:
		e->m.role = identity_role_from_name(value);
		if (e->m.role == ROLE_NONE) {
			ini_fail(p->in, p->lineno, VG_EBADREQ,
				 "[%s] role: \"%s\" is not one of coordinator, police, iom, shelter, relay",
				 e->m.org, value);
			return 0;
		}
		return 1;
	case K_COUNTRY:
		if (strlen(value) != 2 || value[0] < 'A' || value[0] > 'Z' || value[1] < 'A' ||
		    value[1] > 'Z') {
			ini_fail(p->in, p->lineno, VG_EBADREQ,
				 "[%s] country: \"%s\" is not two upper-case letters (ISO 3166)",
				 e->m.org, value);
			return 0;
		}
		memcpy(e->m.country, value, 3);
		return 1;
	case K_ENC:
		e->enc_path = strdup(value);
		if (!e->enc_path) {
			ini_fail(p->in, p->lineno, VG_ENOMEM, "out of memory");
			return 0;
		}
		return 1;
	default:
		return set_name(p, e, value);
	}
}

/* A "name = value" line; the reader refuses indented continuations. */
static void on_value(struct ini_file *in, void *user, const char *section, const char *name,
		     const char *value, int line)
{
	struct parse *p = user;
	(void)section; /* inih cuts section names at 49 characters: ours are whole */
	p->in = in;
	p->lineno = line;
	if (p->n == 0) {
		ini_fail(in, line, VG_EBADREQ, "key %s is outside any section", name);
		return;
	}
	struct entry *e = &p->e[p->n - 1];
	if (name[0] == '\0') {
		ini_fail(in, line, VG_EBADREQ, "missing key name before '=' in [%s]", e->m.org);
		return;
	}
	for (int k = 0; k < N_DKEYS; k++) {
		if (strcmp(key_names[k], name) != 0)
			continue;
		if (e->key_line[k]) {
			ini_fail(in, line, VG_EBADREQ,
				 "duplicate key [%s] %s (first set on line %d)", e->m.org, name,
				 e->key_line[k]);
			return;
		}
		e->key_line[k] = line;
		if (value[0] == '\0') {
			ini_fail(in, line, VG_EBADREQ, "[%s] %s: value is empty", e->m.org, name);
			return;
		}
		set_value(p, e, k, value);
		return;
	}
	ini_fail(in, line, VG_EBADREQ, "unknown key [%s] %s", e->m.org, name);
}

static int by_org(const void *a, const void *b)
{
	return strcmp(((const struct member *)a)->org, ((const struct member *)b)->org);
}

/* After the last line: the last section is complete, the directory lists
 * someone, and the sorted array is built. */
static void on_end(struct ini_file *in, void *user)
{
	struct parse *p = user;
	p->in = in;
	if (section_complete(p) != 0)
		return;
	if (p->n == 0) {
		ini_fail(in, 0, VG_EBADREQ, "the directory lists no organisation");
		return;
	}
	struct directory *d = calloc(1, sizeof(*d));
	if (d)
		atomic_init(&d->refs, 1);
	if (d) {
		d->members = malloc(p->n * sizeof(*d->members));
		d->enc_paths = calloc(p->n, sizeof(*d->enc_paths));
	}
	if (!d || !d->members || !d->enc_paths) {
		directory_free(&d);
		ini_fail(in, 0, VG_ENOMEM, "out of memory");
		return;
	}
	/* The certificates and paths move into the directory. */
	for (size_t i = 0; i < p->n; i++)
		d->members[i] = p->e[i].m;
	d->n = p->n;
	qsort(d->members, d->n, sizeof(*d->members), by_org);
	for (size_t i = 0; i < p->n; i++) {
		if (!p->e[i].enc_path)
			continue;
		const struct member *m = directory_find(d, p->e[i].m.org);
		d->enc_paths[m - d->members] = p->e[i].enc_path;
		p->e[i].enc_path = NULL;
		p->e[i].m.enc_cert = NULL;
		p->e[i].m.enc_der = NULL;
	}
	p->d = d;
}

static const struct ini_handlers handlers = {
	.section = on_section,
	.value = on_value,
	.end = on_end,
	.syntax_error = "syntax error (expected [organisation] or key = value)",
};

int directory_load(const char *path, struct directory **out, char *err, size_t err_len)
{
	struct parse p;
	memset(&p, 0, sizeof(p));
	*out = NULL;
	const char *slash = strrchr(path, '/');
	if (slash)
		snprintf(p.base, sizeof(p.base), "%.*s", slash == path ? 1 : (int)(slash - path),
			 path);
	int rc = ini_read(path, &handlers, &p, err, err_len);
	for (size_t i = 0; i < p.n; i++) {
		free(p.e[i].enc_path);
		X509_free(p.e[i].m.enc_cert);
		OPENSSL_free(p.e[i].m.enc_der);
	}
	free(p.e);
	if (rc != VG_OK)
		directory_free(&p.d); /* NULL: on_end builds it last, when all is well */
	*out = p.d;
	return rc;
}

const struct member *directory_find(const struct directory *d, const char *org)
{
	if (!d || !org)
		return NULL;
	struct member key;
	if (strlen(org) >= sizeof(key.org))
		return NULL;
	memcpy(key.org, org, strlen(org) + 1);
	return bsearch(&key, d->members, d->n, sizeof(*d->members), by_org);
}

const struct member *directory_find_enc(const struct directory *d,
					const uint8_t sha256[SHA256_LEN])
{
	for (size_t i = 0; d && i < d->n; i++)
		if (d->members[i].enc_cert &&
		    memcmp(d->members[i].enc_sha256, sha256, SHA256_LEN) == 0)
			return &d->members[i];
	return NULL;
}

size_t directory_count(const struct directory *d)
{
	return d ? d->n : 0;
}

const struct member *directory_at(const struct directory *d, size_t i)
{
	return d && i < d->n ? &d->members[i] : NULL;
}

int directory_admit(const struct directory *d, const char *org, enum role role,
		    const char *country, char *why, size_t why_len)
{
	const struct member *m = directory_find(d, org);
	if (!m) {
		snprintf(why, why_len, "organisation %s is not a member", org);
		return -1;
	}
	if (m->role != role) {
		snprintf(why, why_len, "organisation %s: certificate OU %s disagrees with "
			 "directory role %s", org, identity_role_name(role),
			 identity_role_name(m->role));
		return -1;
	}
	if (strcmp(m->country, country) != 0) {
		snprintf(why, why_len, "organisation %s: certificate C %s disagrees with "
			 "directory country %s", org, country, m->country);
		return -1;
	}
	return 0;
}

int directory_verify_keys(const struct directory *d, X509_STORE *store, char *why,
			  size_t why_len)
{
	for (size_t i = 0; d && i < d->n; i++) {
		const struct member *m = &d->members[i];
		if (!m->enc_cert)
			continue;
		X509_STORE_CTX *xs = X509_STORE_CTX_new();
		int ok = xs && X509_STORE_CTX_init(xs, store, m->enc_cert, NULL) == 1 &&
			 X509_verify_cert(xs) == 1;
		int e = xs ? X509_STORE_CTX_get_error(xs) : X509_V_ERR_OUT_OF_MEM;
		X509_STORE_CTX_free(xs);
		ERR_clear_error();
		if (!ok) {
			snprintf(why, why_len, "organisation %s: encryption certificate %s: %s",
				 m->org, d->enc_paths[i], X509_verify_cert_error_string(e));
			return -1;
		}
	}
	return 0;
}

const struct directory *directory_ref(const struct directory *d)
{
	if (d)
		atomic_fetch_add(&((struct directory *)d)->refs, 1);
	return d;
}

void directory_release(const struct directory **d)
{
	if (!d || !*d)
		return;
	struct directory *m = (struct directory *)*d;
	*d = NULL;
	if (atomic_fetch_sub(&m->refs, 1) == 1)
		directory_free(&m);
}

void directory_free(struct directory **d)
{
	if (!d || !*d)
		return;
	for (size_t i = 0; i < (*d)->n; i++) {
		X509_free((*d)->members[i].enc_cert);
		OPENSSL_free((*d)->members[i].enc_der);
		if ((*d)->enc_paths)
			free((*d)->enc_paths[i]);
	}
	free((*d)->enc_paths);
	free((*d)->members);
	free(*d);
	*d = NULL;
}

int directory_role_of(const void *dir, const char *org)
{
	const struct member *m = directory_find(dir, org);
	return m ? (int)m->role : ROLE_NONE;
}

int directory_enc_of(const void *dir, const char *org, uint8_t out[SHA256_LEN])
{
	const struct member *m = directory_find(dir, org);
	if (!m || !m->enc_cert)
		return 0;
	memcpy(out, m->enc_sha256, SHA256_LEN);
	return 1;
}
