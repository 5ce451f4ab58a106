#include "daemon/directory.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <ini.h>

#include "proto/status.h"

#if defined(__GNUC__)
#define DIRECTORY_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DIRECTORY_PRINTF(a, b)
#endif

struct directory {
	size_t n;
	struct member *members;   /* sorted by org, no two alike */
};

/* The keys of a section, in the order the entry lists them. */
enum { K_ROLE, K_COUNTRY, K_NAME, N_DKEYS };
static const char *const key_names[N_DKEYS] = { "role", "country", "name" };

/* A member being read, with where each part came from. */
struct entry {
	struct member m;
	int line;                 /* of its [section] header */
	int key_line[N_DKEYS];    /* where each key was set, 0 when not yet */
};

/* State of one directory_load(), shared by the line reader and the handler. */
struct parse {
	FILE *fp;
	char *line;               /* getline() buffer */
	size_t line_cap;
	int lineno;               /* line most recently handed to inih */
	int indented;             /* that line starts with white space */
	int key_seen;             /* a key line was seen since the last [section] */
	int read_errno;           /* getline() failed with this */
	struct entry *e;          /* every section so far; the last is the current one */
	size_t n, cap;
	int err_line;             /* -1 while there is no error */
	int err_status;
	char err[512];
};

static void fail(struct parse *p, int line, int status, const char *fmt, ...)
	DIRECTORY_PRINTF(4, 5);

/* Records the first error only; parsing stops right after it. */
static void fail(struct parse *p, int line, int status, const char *fmt, ...)
{
	if (p->err_line >= 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	p->err_line = line;
	p->err_status = status;
}

/* The current section has all its keys; reported on its header's line. */
static void section_complete(struct parse *p)
{
	if (p->n == 0)
		return;
	const struct entry *e = &p->e[p->n - 1];
	for (int k = 0; k < N_DKEYS; k++)
		if (!e->key_line[k]) {
			fail(p, e->line, VG_EBADREQ, "[%s] %s is required", e->m.org, key_names[k]);
			return;
		}
}

/* A new [section] on the current line: the organisation id it names. */
static void section_open(struct parse *p, const char *name)
{
	section_complete(p);
	if (p->err_line >= 0)
		return;
	if (!record_org_ok(name)) {
		fail(p, p->lineno, VG_EBADREQ,
		     "[%s] is not an organisation id (1-64 characters of [a-z0-9-])", name);
		return;
	}
	/* Linear, but bounded by DIRECTORY_MAX and run once at start-up; it
	 * reports the duplicate on its own line, before anything after it. */
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->e[i].m.org, name) == 0) {
			fail(p, p->lineno, VG_EBADREQ, "duplicate organisation [%s] (first on line %d)",
			     name, p->e[i].line);
			return;
		}
	if (p->n == DIRECTORY_MAX) {
		fail(p, p->lineno, VG_EBADREQ, "more than %d organisations", DIRECTORY_MAX);
		return;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct entry *e = realloc(p->e, cap * sizeof(*e));
		if (!e) {
			fail(p, p->lineno, VG_ENOMEM, "out of memory");
			return;
		}
		p->e = e;
		p->cap = cap;
	}
	struct entry *e = &p->e[p->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->m.org, name, strlen(name) + 1); /* record_org_ok: it fits */
	e->line = p->lineno;
}

/* A display name: 1..DIRECTORY_NAME_MAX bytes of UTF-8, no control characters. */
static int set_name(struct parse *p, struct entry *e, const char *value)
{
	size_t n = strlen(value);
	if (n > DIRECTORY_NAME_MAX) {
		fail(p, p->lineno, VG_EBADREQ, "[%s] name: %zu bytes; the limit is %d", e->m.org, n,
		     DIRECTORY_NAME_MAX);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f) {
			fail(p, p->lineno, VG_EBADREQ, "[%s] name: contains a control character",
			     e->m.org);
			return 0;
		}
	if (!record_utf8_ok(value)) {
		fail(p, p->lineno, VG_EBADREQ, "[%s] name: not valid UTF-8", e->m.org);
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
			fail(p, p->lineno, VG_EBADREQ,
			     "[%s] role: \"%s\" is not one of coordinator, police, iom, shelter, relay",
			     e->m.org, value);
			return 0;
		}
		return 1;
	case K_COUNTRY:
		if (strlen(value) != 2 || value[0] < 'A' || value[0] > 'Z' || value[1] < 'A' ||
		    value[1] > 'Z') {
			fail(p, p->lineno, VG_EBADREQ,
			     "[%s] country: \"%s\" is not two upper-case letters (ISO 3166)",
			     e->m.org, value);
			return 0;
		}
		memcpy(e->m.country, value, 3);
		return 1;
	default:
		return set_name(p, e, value);
	}
}

/* inih's handler: called for every "name = value" line, nonzero when fine. */
static int on_value(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	(void)section; /* inih cuts section names at 49 characters: ours are whole */
	if (p->indented && p->key_seen) {
		fail(p, p->lineno, VG_EBADREQ,
		     "indented line continues a value; values must be on one line");
		return 0;
	}
	p->key_seen = 1;
	if (p->n == 0) {
		fail(p, p->lineno, VG_EBADREQ, "key %s is outside any section", name);
		return 0;
	}
	struct entry *e = &p->e[p->n - 1];
	if (name[0] == '\0') {
		fail(p, p->lineno, VG_EBADREQ, "missing key name before '=' in [%s]", e->m.org);
		return 0;
	}
	for (int k = 0; k < N_DKEYS; k++) {
		if (strcmp(key_names[k], name) != 0)
			continue;
		if (e->key_line[k]) {
			fail(p, p->lineno, VG_EBADREQ, "duplicate key [%s] %s (first set on line %d)",
			     e->m.org, name, e->key_line[k]);
			return 0;
		}
		e->key_line[k] = p->lineno;
		if (value[0] == '\0') {
			fail(p, p->lineno, VG_EBADREQ, "[%s] %s: value is empty", e->m.org, name);
			return 0;
		}
		return set_value(p, e, k, value);
	}
	fail(p, p->lineno, VG_EBADREQ, "unknown key [%s] %s", e->m.org, name);
	return 0;
}

/*
 * inih's line reader, as in config.c: it gives the handler line numbers,
 * refuses lines that inih would cut short or that hold a NUL byte, and sees
 * the "[section]" headers inih does not report, so that every section is
 * checked on its own line, even one without keys.
 */
static char *read_line(char *buf, int size, void *stream)
{
	struct parse *p = stream;
	if (p->err_line >= 0)
		return NULL;
	errno = 0;
	ssize_t n = getline(&p->line, &p->line_cap, p->fp);
	if (n < 0) {
		if (!feof(p->fp))
			p->read_errno = errno ? errno : EIO;
		return NULL;
	}
	p->lineno++;
	if (memchr(p->line, '\0', (size_t)n)) {
		fail(p, p->lineno, VG_EBADREQ, "line contains a NUL byte");
		return NULL;
	}
	if (n > size - 1) {
		fail(p, p->lineno, VG_EBADREQ, "line is longer than %d characters", size - 2);
		return NULL;
	}
	memcpy(buf, p->line, (size_t)n + 1);
	/* inih's classification: a UTF-8 BOM on line 1, then white space; an
	 * indented line right after a key continues it, otherwise '[' opens a
	 * section header, whose name ends at ']' or at an inline comment. */
	const char *start = buf;
	if (p->lineno == 1 && n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		start += 3;
	while (isspace((unsigned char)*start))
		start++;
	p->indented = start > buf;
	if (*start == '[' && !(p->key_seen && p->indented)) {
		const char *e = start + 1;
		int was_space = 0;
		while (*e && *e != ']' && !(was_space && *e == ';')) {
			was_space = isspace((unsigned char)*e);
			e++;
		}
		if (*e == ']') {
			p->key_seen = 0;
			p->indented = 0;
			char name[RECORD_ORG_MAX + 2];
			size_t len = (size_t)(e - (start + 1));
			if (len >= sizeof(name))
				len = sizeof(name) - 1; /* too long for an id either way */
			memcpy(name, start + 1, len);
			name[len] = '\0';
			section_open(p, name);
			if (p->err_line >= 0)
				return NULL;
		}
	}
	return buf;
}

static int by_org(const void *a, const void *b)
{
	return strcmp(((const struct member *)a)->org, ((const struct member *)b)->org);
}

int directory_load(const char *path, struct directory **out, char *err, size_t err_len)
{
	struct parse p;
	struct directory *d = NULL;
	memset(&p, 0, sizeof(p));
	p.err_line = -1;
	*out = NULL;

	p.fp = fopen(path, "r");
	if (!p.fp) {
		fail(&p, 0, VG_EIO, "cannot open: %s", strerror(errno));
		goto out;
	}
	int rc = ini_parse_stream(read_line, &p, on_value, &p);
	if (p.read_errno) {
		p.err_line = -1;
		fail(&p, 0, VG_EIO, "cannot read: %s", strerror(p.read_errno));
		goto out;
	}
	/* inih returns the first line it found wrong; a smaller line than
	 * ours is a syntax error that came first. */
	if (rc > 0 && (p.err_line < 0 || rc < p.err_line)) {
		p.err_line = -1;
		fail(&p, rc, VG_EBADREQ, "syntax error (expected [organisation] or key = value)");
	} else if (rc < 0 && p.err_line < 0) {
		fail(&p, 0, VG_ENOMEM, "out of memory");
	}
	if (p.err_line >= 0)
		goto out;
	section_complete(&p);
	if (p.err_line >= 0)
		goto out;
	if (p.n == 0) {
		fail(&p, 0, VG_EBADREQ, "the directory lists no organisation");
		goto out;
	}

	d = calloc(1, sizeof(*d));
	if (d)
		d->members = malloc(p.n * sizeof(*d->members));
	if (!d || !d->members) {
		fail(&p, 0, VG_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < p.n; i++)
		d->members[i] = p.e[i].m;
	d->n = p.n;
	qsort(d->members, d->n, sizeof(*d->members), by_org);
out:
	if (p.fp)
		fclose(p.fp);
	free(p.line);
	free(p.e);
	if (p.err_line < 0) {
		*out = d;
		return VG_OK;
	}
	directory_free(&d);
	if (err && err_len)
		snprintf(err, err_len, "%s:%d: %s", path, p.err_line, p.err);
	return p.err_status;
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

void directory_free(struct directory **d)
{
	if (!d || !*d)
		return;
	free((*d)->members);
	free(*d);
	*d = NULL;
}
