/*
 * settings.c - where to connect and with which credentials: the --relay
 * argument and the INI file (libinih).
 *
 *   [relay]
 *   address = relay-a.example.org, relay-b.example.org:7444
 *                                   ; a relay list (vigil.h): names, 192.0.2.1,
 *                                   ; [::1]:7443, or ::1 without a port
 *   port = 7443                     ; for the addresses without one
 *   checkpoint_key = relay-checkpoint.pub  ; or NAME+ID+KEY (a verifier key)
 *   [tls]
 *   cert = iom-ru-moscow.crt        ; relative to the file's directory
 *   key = iom-ru-moscow.key
 *   ca = ca.crt
 *   enc_cert = iom-ru-moscow.enc.crt ; optional: opens sealed text
 *   enc_key = iom-ru-moscow.enc.key
 *
 * Options given on the command line win over the file: the file only fills
 * settings that are still empty.  Unknown sections or keys, and keys given
 * twice, are errors reported as FILE:LINE.  File names in the file are
 * relative to its directory; a checkpoint_key that is a verifier key string
 * is kept as it is.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "cli.h"

int settings_set(char **dst, const char *src)
{
	char *d = strdup(src);
	if (!d)
		return -1;
	free(*dst);
	*dst = d;
	return 0;
}

void settings_free(struct settings *s)
{
	free(s->host);
	free(s->port);
	free(s->cert);
	free(s->key);
	free(s->ca);
	free(s->checkpoint_key);
	free(s->enc_cert);
	free(s->enc_key);
	memset(s, 0, sizeof(*s));
}

/* A decimal port from 1 to 65535, nothing else. */
static int port_ok(const char *p)
{
	size_t n = strlen(p);
	if (n < 1 || n > 5)
		return 0;
	long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10 + (p[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

int settings_relay(struct settings *s, const char *arg, char *why, size_t why_len)
{
	struct vigil_error err;
	if (vigil_relays_check(arg, NULL, &err) != VIGIL_OK) {
		snprintf(why, why_len, "%s", err.message);
		return -1;
	}
	/* The list replaces the file's address and port (settings_load). */
	if (settings_set(&s->host, arg) != 0) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	free(s->port);
	s->port = NULL;
	return 0;
}

/* ---- the INI file ------------------------------------------------------------- */

struct ini_state {
	struct settings *s;
	const char *dir;       /* directory of the file, "" for the current one */
	char *host, *port, *cert, *key, *ca, *ckey; /* what the file says */
	char *enc_cert, *enc_key;
	char why[256];         /* first error, without FILE:LINE */
	int failed;
};

/* A path from the file, relative to the file's directory. */
static char *file_path(const struct ini_state *st, const char *v)
{
	if (v[0] == '/' || !st->dir[0])
		return strdup(v);
	size_t n = strlen(st->dir) + 1 + strlen(v) + 1;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", st->dir, v);
	return p;
}

/* Keeps the first error for settings_load; 0 tells libinih it failed. */
__attribute__((format(printf, 2, 3)))
static int ini_fail(struct ini_state *st, const char *fmt, ...)
{
	if (!st->failed) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(st->why, sizeof(st->why), fmt, ap);
		va_end(ap);
		st->failed = 1;
	}
	return 0;
}

/*
 * [relay] address: a relay list (vigil.h, "several relays"), its elements
 * without a port on [relay] port.  An IPv6 address may stand without
 * brackets here, as it always could (a port in the same element then
 * needs them): "::1, [::2]:7444".
 */
static int ini_address(struct ini_state *st, const char *value)
{
	size_t n = strlen(value);
	char *list = malloc(3 * n + 1);  /* at worst "[x]" for every "x" */
	if (!list)
		return ini_fail(st, "out of memory");
	size_t len = 0;
	for (const char *a = value;;) {
		const char *comma = strchr(a, ',');
		const char *e = comma ? comma : a + strlen(a);
		const char *b = a, *t = e;
		while (b < t && (*b == ' ' || *b == '\t'))
			b++;
		while (t > b && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		const char *colon = memchr(b, ':', (size_t)(t - b));
		int bare_v6 = b < t && *b != '[' && colon &&
			      memchr(colon + 1, ':', (size_t)(t - colon - 1));
		memcpy(list + len, a, (size_t)(b - a));
		len += (size_t)(b - a);
		if (bare_v6)
			list[len++] = '[';
		memcpy(list + len, b, (size_t)(t - b));
		len += (size_t)(t - b);
		if (bare_v6)
			list[len++] = ']';
		memcpy(list + len, t, (size_t)(e - t));
		len += (size_t)(e - t);
		if (!comma)
			break;
		list[len++] = ',';
		a = comma + 1;
	}
	list[len] = '\0';
	struct vigil_error err;
	if (vigil_relays_check(list, NULL, &err) != VIGIL_OK) {
		free(list);
		return ini_fail(st, "%s", err.message);
	}
	st->host = list;
	return 1;
}

static int ini_entry(void *user, const char *section, const char *name, const char *value)
{
	struct ini_state *st = user;
	char **slot = NULL;
	int is_path = 0;
	if (strcmp(section, "relay") == 0) {
		if (strcmp(name, "address") == 0)
			slot = &st->host;
		else if (strcmp(name, "port") == 0)
			slot = &st->port;
		else if (strcmp(name, "checkpoint_key") == 0)
			slot = &st->ckey;
	} else if (strcmp(section, "tls") == 0) {
		is_path = 1;
		if (strcmp(name, "cert") == 0)
			slot = &st->cert;
		else if (strcmp(name, "key") == 0)
			slot = &st->key;
		else if (strcmp(name, "ca") == 0)
			slot = &st->ca;
		else if (strcmp(name, "enc_cert") == 0)
			slot = &st->enc_cert;
		else if (strcmp(name, "enc_key") == 0)
			slot = &st->enc_key;
	} else {
		return ini_fail(st, "unknown section [%s]", section);
	}
	if (!slot)
		return ini_fail(st, "unknown key '%s' in [%s]", name, section);
	if (*slot)
		return ini_fail(st, "'%s' given twice in [%s]", name, section);
	if (!value[0])
		return ini_fail(st, "'%s' in [%s] is empty", name, section);
	if (slot == &st->port && !port_ok(value))
		return ini_fail(st, "port '%s' is not a number from 1 to 65535", value);
	if (slot == &st->host)
		return ini_address(st, value);
	if (slot == &st->ckey)
		is_path = !settings_is_verifier_key(value);
	*slot = is_path ? file_path(st, value) : strdup(value);
	if (!*slot)
		return ini_fail(st, "out of memory");
	return 1;
}

/* Moves a value from the file into a setting that is still empty. */
static void take(char **setting, char **from_file)
{
	if (!*setting) {
		*setting = *from_file;
		*from_file = NULL;
	}
}

int settings_load(struct settings *s, const char *path, char *why, size_t why_len)
{
	struct ini_state st;
	memset(&st, 0, sizeof(st));
	st.s = s;
	char *dir = strdup(path);
	if (!dir) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';       /* "/vigil.ini": the root directory */
	else if (slash)
		*slash = '\0';
	else
		dir[0] = '\0';
	st.dir = dir;

	int rc = -1;
	int line = ini_parse(path, ini_entry, &st);
	if (line == -1)
		snprintf(why, why_len, "%s: cannot read: %s", path, strerror(errno));
	else if (line == -2)
		snprintf(why, why_len, "%s: out of memory", path);
	else if (line > 0)
		snprintf(why, why_len, "%s:%d: %s", path, line,
			 st.failed ? st.why : "syntax error");
	else if (st.failed)
		snprintf(why, why_len, "%s: %s", path, st.why);
	else
		rc = 0;
	if (rc == 0) {
		/* A relay given on the command line replaces address and port. */
		if (!s->host) {
			take(&s->host, &st.host);
			take(&s->port, &st.port);
		}
		take(&s->cert, &st.cert);
		take(&s->key, &st.key);
		take(&s->ca, &st.ca);
		take(&s->checkpoint_key, &st.ckey);
		take(&s->enc_cert, &st.enc_cert);
		take(&s->enc_key, &st.enc_key);
	}
	free(st.enc_cert);
	free(st.enc_key);
	free(st.ckey);
	free(st.host);
	free(st.port);
	free(st.cert);
	free(st.key);
	free(st.ca);
	free(dir);
	return rc;
}

int settings_complete(const struct settings *s, char *why, size_t why_len)
{
	if (!s->host) {
		snprintf(why, why_len, "no relay given: use --relay HOST:PORT or -c FILE "
			 "with [relay] address");
		return -1;
	}
	const char *missing = !s->cert ? "--cert FILE" : !s->key ? "--key FILE"
			    : !s->ca ? "--ca FILE" : NULL;
	if (missing) {
		snprintf(why, why_len, "no %s given (or [tls] %s in the -c file)", missing,
			 !s->cert ? "cert" : !s->key ? "key" : "ca");
		return -1;
	}
	if (!s->checkpoint_key) {
		snprintf(why, why_len, "no checkpoint key given: use --checkpoint-key KEY_OR_FILE "
			 "or [relay] checkpoint_key in the -c file");
		return -1;
	}
	if (!s->enc_cert != !s->enc_key) {
		snprintf(why, why_len, "%s given without %s: give both (or [tls] enc_cert and "
			 "enc_key in the -c file), or neither",
			 s->enc_cert ? "--enc-cert" : "--enc-key",
			 s->enc_cert ? "--enc-key" : "--enc-cert");
		return -1;
	}
	return 0;
}

int settings_is_verifier_key(const char *s)
{
	const char *p = strchr(s, '+');
	if (!p)
		return 0;
	for (int i = 1; i <= 8; i++) {
		char ch = p[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
		      (ch >= 'A' && ch <= 'F')))
			return 0;
	}
	return p[9] == '+';
}
