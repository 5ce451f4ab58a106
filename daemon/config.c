#include "daemon/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "daemon/ini.h"
#include "proto/status.h"

#define DEFAULT_ADDRESS "127.0.0.1"

/* How a value is checked and where it is stored. */
enum key_kind {
	KEY_UINT,      /* strict decimal number in [min, max] */
	KEY_DURATION,  /* duration, stored in milliseconds, in [min, max] */
	KEY_DURATION_OFF, /* the same, or "off" (stored as 0) */
	KEY_ADDRESS,   /* IPv4 or IPv6 literal */
	KEY_FILE,      /* path of a readable file */
	KEY_SECRET,    /* path of a readable file no one but its owner may read or write */
	KEY_STORE,     /* path of a file in an existing directory */
	KEY_NAME,      /* a log origin: 1-255 bytes, no spaces, no '+' */
	KEY_BACKEND,   /* "sqlite" or "postgresql" */
	KEY_DSN,       /* a libpq connection string */
	KEY_ONOFF,     /* "on" or "off" */
};

enum key_type { T_INT, T_UNSIGNED, T_SIZE, T_U64, T_STR };

struct key {
	const char *section;
	const char *name;
	enum key_kind kind;
	enum key_type type;
	size_t off;          /* offset of the field in struct config */
	uint64_t min, max;
	const char *range;   /* [min, max] as written in error messages */
	int required;
};

#define FIELD(f) offsetof(struct config, f)
#define MS_MIN (60u * 1000u)
#define MS_DAY (24u * 60u * MS_MIN)

/* Every key of the file; the only place that knows the file's layout. */
static const struct key keys[] = {
	{ "listen", "address", KEY_ADDRESS, T_STR, FIELD(listen_address), 0, 0, NULL, 0 },
	{ "listen", "port", KEY_UINT, T_INT, FIELD(listen_port), 0, 65535, "0..65535", 0 },
	{ "listen", "max_connections", KEY_UINT, T_UNSIGNED, FIELD(max_connections),
	  1, 1000000, "1..1000000", 0 },
	{ "listen", "max_handshakes", KEY_UINT, T_UNSIGNED, FIELD(max_handshakes),
	  1, 1000000, "1..1000000", 0 },
	{ "listen", "max_handshakes_per_address", KEY_UINT, T_UNSIGNED,
	  FIELD(max_handshakes_per_address), 1, 1000000, "1..1000000", 0 },
	{ "listen", "handshake_timeout", KEY_DURATION, T_U64, FIELD(handshake_timeout_ms),
	  100, 10 * MS_MIN, "100ms..10m", 0 },
	{ "listen", "idle_timeout", KEY_DURATION, T_U64, FIELD(idle_timeout_ms),
	  1000, 7 * (uint64_t)MS_DAY, "1s..7d", 0 },
	{ "listen", "write_timeout", KEY_DURATION, T_U64, FIELD(write_timeout_ms),
	  1000, 10 * MS_MIN, "1s..10m", 0 },
	{ "listen", "max_frame", KEY_UINT, T_SIZE, FIELD(max_frame),
	  64, 64u * 1024u * 1024u, "64..67108864", 0 },
	{ "listen", "max_inflight_bytes", KEY_UINT, T_SIZE, FIELD(max_inflight_bytes),
	  65536, 1024u * 1024u * 1024u, "65536..1073741824", 0 },
	{ "tls", "cert", KEY_FILE, T_STR, FIELD(tls_cert), 0, 0, NULL, 1 },
	{ "tls", "key", KEY_SECRET, T_STR, FIELD(tls_key), 0, 0, NULL, 1 },
	{ "tls", "ca", KEY_FILE, T_STR, FIELD(tls_ca), 0, 0, NULL, 1 },
	{ "tls", "crl", KEY_FILE, T_STR, FIELD(tls_crl), 0, 0, NULL, 0 },
	{ "tls", "ticket_lifetime", KEY_DURATION_OFF, T_U64, FIELD(tls_ticket_lifetime_ms), 1000,
	  3600 * 1000, "1s..1h or off", 0 },
	{ "store", "backend", KEY_BACKEND, T_STR, FIELD(store_backend), 0, 0, NULL, 0 },
	{ "store", "path", KEY_STORE, T_STR, FIELD(store_path), 0, 0, NULL, 0 },
	{ "store", "dsn", KEY_DSN, T_STR, FIELD(store_dsn), 0, 0, NULL, 0 },
	{ "store", "standby", KEY_ONOFF, T_STR, FIELD(store_standby_text), 0, 0, NULL, 0 },
	{ "store", "wal_limit", KEY_UINT, T_SIZE, FIELD(wal_limit),
	  65536, 1024u * 1024u * 1024u, "65536..1073741824", 0 },
	{ "writer", "batch_max", KEY_UINT, T_UNSIGNED, FIELD(batch_max), 1, 10000, "1..10000", 0 },
	{ "writer", "batch_wait_ms", KEY_UINT, T_U64, FIELD(batch_wait_ms), 0, 1000, "0..1000", 0 },
	{ "writer", "max_queue_bytes", KEY_UINT, T_SIZE, FIELD(max_queue_bytes),
	  1024u * 1024u, 16ull * 1024u * 1024u * 1024u, "1048576..17179869184", 0 },
	{ "log", "origin", KEY_NAME, T_STR, FIELD(log_origin), 0, 0, NULL, 1 },
	{ "log", "checkpoint_key", KEY_SECRET, T_STR, FIELD(log_checkpoint_key), 0, 0, NULL, 1 },
	{ "log", "checkpoint_interval", KEY_DURATION, T_U64, FIELD(checkpoint_interval_ms),
	  1000, (uint64_t)MS_DAY, "1s..1d", 0 },
	{ "watchdog", "high", KEY_DURATION, T_U64, FIELD(window_high_ms),
	  1000, 365 * (uint64_t)MS_DAY, "1s..365d", 0 },
	{ "watchdog", "medium", KEY_DURATION, T_U64, FIELD(window_medium_ms),
	  1000, 365 * (uint64_t)MS_DAY, "1s..365d", 0 },
	{ "watchdog", "low", KEY_DURATION, T_U64, FIELD(window_low_ms),
	  1000, 365 * (uint64_t)MS_DAY, "1s..365d", 0 },
	{ "watchdog", "failed_attempts", KEY_UINT, T_UNSIGNED, FIELD(failed_attempts),
	  2, 1000000, "2..1000000", 0 },
	{ "watchdog", "handover_window", KEY_DURATION, T_U64, FIELD(handover_window_ms),
	  1000, 365 * (uint64_t)MS_DAY, "1s..365d", 0 },
	{ "watchdog", "escalate_after", KEY_DURATION, T_U64, FIELD(escalate_after_ms),
	  1000, 365 * (uint64_t)MS_DAY, "1s..365d", 0 },
	{ "watchdog", "max_clock_skew", KEY_DURATION, T_U64, FIELD(max_clock_skew_ms),
	  0, (uint64_t)MS_DAY, "0s..1d", 0 },
	{ "directory", "path", KEY_FILE, T_STR, FIELD(directory_path), 0, 0, NULL, 1 },
	{ "retention", "content_after_close", KEY_DURATION_OFF, T_U64,
	  FIELD(content_after_close_ms), 1000, 3650 * (uint64_t)MS_DAY, "1s..3650d or off", 0 },
	{ "retention", "record_after_close", KEY_DURATION_OFF, T_U64,
	  FIELD(record_after_close_ms), 1000, 3650 * (uint64_t)MS_DAY, "1s..3650d or off", 0 },
	{ "metrics", "address", KEY_ADDRESS, T_STR, FIELD(metrics_address), 0, 0, NULL, 0 },
	{ "metrics", "port", KEY_UINT, T_INT, FIELD(metrics_port), 1, 65535, "1..65535", 0 },
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = { "listen", "tls", "store", "directory", "writer", "log",
					       "watchdog", "retention", "metrics" };

#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))

/* State of one config_load(), shared by the handlers. */
struct parse {
	struct ini_file *in;
	struct config *cfg;
	const char *dir;       /* directory of the file, NULL when it has no '/' */
	int lineno;            /* line of the key being handled */
};

_Static_assert(N_KEYS <= CONFIG_KEYS_MAX, "struct config has no room for every key's line");

int config_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	/* strtoull() would accept leading space, a sign (negating "-1" into a
	 * huge value) and "0x"; a number here is decimal digits only. */
	if (!s || s[0] < '0' || s[0] > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int config_parse_duration(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *out_ms)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 },
		{ "h", 60 * 60 * 1000 }, { "d", 24 * 60 * 60 * 1000 },
	};
	if (!s || s[0] < '0' || s[0] > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (v > UINT64_MAX / units[i].ms)
			return -1;
		v *= units[i].ms;
		if (v < min_ms || v > max_ms)
			return -1;
		*out_ms = v;
		return 0;
	}
	return -1;
}

static int section_known(const char *name)
{
	for (size_t i = 0; i < N_SECTIONS; i++)
		if (strcmp(sections[i], name) == 0)
			return 1;
	return 0;
}

/* Relative paths are relative to the configuration file's directory. */
static char *resolve(const char *dir, const char *value)
{
	if (value[0] == '/' || !dir)
		return strdup(value);
	size_t dl = strlen(dir), vl = strlen(value);
	int slash = dl > 0 && dir[dl - 1] != '/';
	char *s = malloc(dl + slash + vl + 1);
	if (!s)
		return NULL;
	memcpy(s, dir, dl);
	if (slash)
		s[dl] = '/';
	memcpy(s + dl + slash, value, vl + 1);
	return s;
}

/* Checks path (already resolved) for key k; 0 when it is usable. */
static int check_path(struct parse *p, const struct key *k, const char *path)
{
	struct stat st;
	if (k->kind == KEY_FILE || k->kind == KEY_SECRET) {
		if (access(path, R_OK) != 0) {
			ini_fail(p->in, p->lineno, VG_EBADREQ, "[%s] %s: cannot read \"%s\": %s",
				 k->section, k->name, path, strerror(errno));
			return -1;
		}
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			ini_fail(p->in, p->lineno, VG_EBADREQ, "[%s] %s: cannot read \"%s\": %s",
				 k->section, k->name, path, strerror(EISDIR));
			return -1;
		}
		/* A private key others can read is no longer private; one they
		 * can write can be replaced.  Refused, like ssh does, rather
		 * than used with a warning nobody reads. */
		if (k->kind == KEY_SECRET && stat(path, &st) == 0 &&
		    (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH))) {
			ini_fail(p->in, p->lineno, VG_EBADREQ,
				 "[%s] %s: \"%s\" is %s by group or others (mode %04o); chmod 600 it",
				 k->section, k->name, path,
				 st.st_mode & (S_IRGRP | S_IROTH) ? "readable" : "writable",
				 (unsigned)(st.st_mode & 07777));
			return -1;
		}
		return 0;
	}
	/* KEY_STORE: the file may not exist yet, but its directory must. */
	const char *slash = strrchr(path, '/');
	if ((slash && slash[1] == '\0') || (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
		ini_fail(p->in, p->lineno, VG_EBADREQ, "[%s] %s: \"%s\" is a directory, not a file",
			 k->section, k->name, path);
		return -1;
	}
	char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path))
			  : strdup(".");
	if (!dir) {
		ini_fail(p->in, p->lineno, VG_ENOMEM, "out of memory");
		return -1;
	}
	int err = 0;
	if (stat(dir, &st) != 0)
		err = errno;
	else if (!S_ISDIR(st.st_mode))
		err = ENOTDIR;
	if (err)
		ini_fail(p->in, p->lineno, VG_EBADREQ, "[%s] %s: cannot use directory \"%s\": %s",
			 k->section, k->name, dir, strerror(err));
	free(dir);
	return err ? -1 : 0;
}

static int set_string(struct parse *p, const struct key *k, const char *value)
{
	char **slot = (char **)((char *)p->cfg + k->off);
	char *s;
	if (value[0] == '\0') {
		ini_fail(p->in, p->lineno, VG_EBADREQ, "[%s] %s: value is empty", k->section,
			 k->name);
		return 0;
	}
	if (k->kind == KEY_ADDRESS) {
		unsigned char addr[sizeof(struct in6_addr)];
		if (inet_pton(AF_INET, value, addr) != 1 && inet_pton(AF_INET6, value, addr) != 1) {
			ini_fail(p->in, p->lineno, VG_EBADREQ,
				 "[%s] %s: \"%s\" is not an IPv4 or IPv6 address",
				 k->section, k->name, value);
			return 0;
		}
		s = strdup(value);
	} else if (k->kind == KEY_NAME) {
		size_t n = strlen(value);
		if (n > 255 || strpbrk(value, " \t+")) {
			ini_fail(p->in, p->lineno, VG_EBADREQ,
				 "[%s] %s: \"%s\" must be 1-255 bytes without spaces or '+'",
				 k->section, k->name, value);
			return 0;
		}
		s = strdup(value);
	} else if (k->kind == KEY_ONOFF) {
		if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0) {
			ini_fail(p->in, p->lineno, VG_EBADREQ, "[%s] %s: \"%s\" is not on or off",
				 k->section, k->name, value);
			return 0;
		}
		s = strdup(value);
	} else if (k->kind == KEY_BACKEND) {
		if (strcmp(value, "sqlite") != 0 && strcmp(value, "postgresql") != 0) {
			ini_fail(p->in, p->lineno, VG_EBADREQ,
				 "[%s] %s: \"%s\" is not sqlite or postgresql", k->section, k->name,
				 value);
			return 0;
		}
		s = strdup(value);
	} else if (k->kind == KEY_DSN) {
		char *why = NULL;
		PQconninfoOption *opts = PQconninfoParse(value, &why);
		if (!opts) {
			size_t n = why ? strlen(why) : 0;
			while (n && why[n - 1] == '\n')
				why[--n] = '\0';
			ini_fail(p->in, p->lineno, VG_EBADREQ,
				 "[%s] %s: not a libpq connection string: %s", k->section, k->name,
				 why ? why : "out of memory");
			PQfreemem(why);
			return 0;
		}
		PQconninfoFree(opts);
		s = strdup(value);
	} else {
		s = resolve(p->dir, value);
	}
	if (!s) {
		ini_fail(p->in, p->lineno, VG_ENOMEM, "out of memory");
		return 0;
	}
	if (k->kind != KEY_ADDRESS && k->kind != KEY_NAME && k->kind != KEY_BACKEND &&
	    k->kind != KEY_DSN && k->kind != KEY_ONOFF && check_path(p, k, s) != 0) {
		free(s);
		return 0;
	}
	free(*slot);
	*slot = s;
	return 1;
}

static int set_number(struct parse *p, const struct key *k, const char *value)
{
	uint64_t v;
	if (k->kind == KEY_DURATION_OFF && strcmp(value, "off") == 0) {
		v = 0;
	} else if (k->kind == KEY_DURATION || k->kind == KEY_DURATION_OFF) {
		if (config_parse_duration(value, k->min, k->max, &v) != 0) {
			ini_fail(p->in, p->lineno, VG_EBADREQ,
				 "[%s] %s: \"%s\" is not a duration in %s", k->section, k->name,
				 value, k->range);
			return 0;
		}
	} else if (config_parse_uint(value, k->min, k->max, &v) != 0) {
		ini_fail(p->in, p->lineno, VG_EBADREQ, "[%s] %s: \"%s\" is not a number in %s",
			 k->section, k->name, value, k->range);
		return 0;
	}
	/* The key table's ranges fit each field's type. */
	char *field = (char *)p->cfg + k->off;
	switch (k->type) {
	case T_INT:
		*(int *)field = (int)v;
		break;
	case T_UNSIGNED:
		*(unsigned *)field = (unsigned)v;
		break;
	case T_SIZE:
		*(size_t *)field = (size_t)v;
		break;
	case T_U64:
		*(uint64_t *)field = v;
		break;
	case T_STR:
		abort(); /* a number key typed as a string is a bug in keys[] */
	}
	return 1;
}

/* An indented line after a key: refused, naming the key it would extend. */
static void on_continued(struct ini_file *in, void *user, const char *section, const char *name,
			 int line)
{
	(void)user;
	ini_fail(in, line, VG_EBADREQ,
		 "indented line continues [%s] %s; values must be on one line", section, name);
}

/* A "[section]" header: an unknown section is refused on its own line,
 * even when it has no keys. */
static void on_section(struct ini_file *in, void *user, const char *name, int line)
{
	(void)user;
	/* Up to 127 characters of the name: enough to recognise it. */
	if (!section_known(name))
		ini_fail(in, line, VG_EBADREQ, "unknown section [%.127s]", name);
}

/* A "name = value" line: a known key, given once, with a valid value. */
static void on_value(struct ini_file *in, void *user, const char *section, const char *name,
		     const char *value, int line)
{
	struct parse *p = user;
	p->in = in;
	p->lineno = line;
	if (section[0] == '\0') {
		ini_fail(in, line, VG_EBADREQ, "key %s is outside any section", name);
		return;
	}
	if (!section_known(section)) {
		/* Only reached if the reader missed the header; it normally
		 * reports the unknown section on the header's own line. */
		ini_fail(in, line, VG_EBADREQ, "unknown section [%s]", section);
		return;
	}
	if (name[0] == '\0') {
		ini_fail(in, line, VG_EBADREQ, "missing key name before '=' in [%s]", section);
		return;
	}
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key *k = &keys[i];
		if (strcmp(k->section, section) != 0 || strcmp(k->name, name) != 0)
			continue;
		if (p->cfg->key_line[i]) {
			ini_fail(in, line, VG_EBADREQ,
				 "duplicate key [%s] %s (first set on line %d)", section, name,
				 p->cfg->key_line[i]);
			return;
		}
		p->cfg->key_line[i] = line;
		if (k->type == T_STR)
			set_string(p, k, value);
		else
			set_number(p, k, value);
		return;
	}
	ini_fail(in, line, VG_EBADREQ, "unknown key [%s] %s", section, name);
}

/* [store]: the path of an SQLite file, or PostgreSQL's connection string,
 * and never the other's key (it would be silently unused). */
static int store_keys(struct ini_file *in, struct config *cfg)
{
	cfg->store_pg = cfg->store_backend && strcmp(cfg->store_backend, "postgresql") == 0;
	const char *need = cfg->store_pg ? "dsn" : "path", *other = cfg->store_pg ? "path" : "dsn";
	if (config_line(cfg, "store", other)) {
		ini_fail(in, config_line(cfg, "store", other), VG_EBADREQ,
			 "[store] %s is not used with backend = %s (it takes [store] %s)", other,
			 cfg->store_pg ? "postgresql" : "sqlite", need);
		return -1;
	}
	if (!config_line(cfg, "store", need)) {
		ini_fail(in, 0, VG_EBADREQ, "[store] %s is required%s", need,
			 cfg->store_pg ? " with backend = postgresql" : "");
		return -1;
	}
	cfg->store_standby = cfg->store_standby_text && strcmp(cfg->store_standby_text, "on") == 0;
	if (cfg->store_standby && !cfg->store_pg) {
		ini_fail(in, config_line(cfg, "store", "standby"), VG_EBADREQ,
			 "[store] standby needs backend = postgresql (an SQLite file has one relay)");
		return -1;
	}
	return 0;
}

/* After the last line: every required key was given; [metrics] is on
 * exactly when it names a port, on 127.0.0.1 unless it names an address. */
static void on_end(struct ini_file *in, void *user)
{
	const struct parse *p = user;
	struct config *cfg = p->cfg;
	for (size_t i = 0; i < N_KEYS; i++) {
		if (keys[i].required && !cfg->key_line[i]) {
			ini_fail(in, 0, VG_EBADREQ, "[%s] %s is required", keys[i].section,
				 keys[i].name);
			return;
		}
		/* In the keys' order, so that the first missing key is named. */
		if (keys[i].kind == KEY_BACKEND && store_keys(in, cfg) != 0)
			return;
	}
	if (cfg->metrics_address && !cfg->metrics_port) {
		ini_fail(in, config_line(cfg, "metrics", "address"), VG_EBADREQ,
			 "[metrics] address is set but [metrics] port is not (no port: no metrics)");
		return;
	}
	if (cfg->metrics_port && !cfg->metrics_address &&
	    !(cfg->metrics_address = strdup(DEFAULT_ADDRESS)))
		ini_fail(in, 0, VG_ENOMEM, "out of memory");
}

static const struct ini_handlers handlers = {
	.section = on_section,
	.value = on_value,
	.continued = on_continued,
	.end = on_end,
	.syntax_error = "syntax error (expected [section] or key = value)",
};

static void set_defaults(struct config *cfg)
{
	cfg->listen_port = 7443;
	cfg->max_connections = 1024;
	cfg->max_handshakes = 64;
	cfg->max_handshakes_per_address = 8;
	cfg->handshake_timeout_ms = 10 * 1000;
	cfg->tls_ticket_lifetime_ms = 3600 * 1000;
	cfg->idle_timeout_ms = 300 * 1000;
	cfg->write_timeout_ms = 30 * 1000;
	/* Real frames are a few KiB (the largest, a case open naming 32
	 * parties, under 4 KiB): 64 KiB leaves room and bounds what one
	 * request can make the relay hold. */
	cfg->max_frame = 64 * 1024;
	cfg->max_inflight_bytes = 4 * 1024 * 1024;
	cfg->max_queue_bytes = 64 * 1024 * 1024;
	cfg->wal_limit = 16 * 1024 * 1024;
	cfg->batch_max = 256;
	cfg->batch_wait_ms = 0;
	cfg->checkpoint_interval_ms = 60 * 1000;
	cfg->window_high_ms = 72 * 3600 * 1000ull;
	cfg->window_medium_ms = 14 * (uint64_t)MS_DAY;
	cfg->window_low_ms = 30 * (uint64_t)MS_DAY;
	cfg->failed_attempts = 3;
	cfg->handover_window_ms = 72 * 3600 * 1000ull;
	cfg->escalate_after_ms = 24 * 3600 * 1000ull;
	cfg->max_clock_skew_ms = 5 * 60 * 1000ull;
	cfg->content_after_close_ms = 365 * 24 * 3600 * 1000ull;
	cfg->record_after_close_ms = 0;
}

int config_load(const char *path, struct config *cfg, char *err, size_t err_len)
{
	struct parse p;
	char *dir = NULL;
	const char *slash = strrchr(path, '/');
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	set_defaults(cfg);
	cfg->path = strdup(path);
	cfg->listen_address = strdup(DEFAULT_ADDRESS);
	if (slash)
		dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
	if (!cfg->path || !cfg->listen_address || (slash && !dir)) {
		if (err && err_len)
			snprintf(err, err_len, "%s:0: out of memory", path);
		rc = VG_ENOMEM;
		goto out;
	}
	p.dir = dir;
	rc = ini_read(path, &handlers, &p, err, err_len);
out:
	free(dir);
	if (rc != VG_OK)
		config_free(cfg);
	return rc;
}

/* The keys a reload applies (reload.h); every other one needs a restart. */
static int key_live(const struct key *k)
{
	static const char *const live[] = {
		"listen.max_connections", "listen.max_handshakes",
		"listen.max_handshakes_per_address", "listen.handshake_timeout",
		"listen.idle_timeout", "listen.write_timeout", "listen.max_frame",
		"listen.max_inflight_bytes", "tls.cert", "tls.key", "tls.ca", "tls.crl",
		"tls.ticket_lifetime", "directory.path", "writer.max_queue_bytes",
	};
	char name[64];
	snprintf(name, sizeof(name), "%s.%s", k->section, k->name);
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (strcmp(live[i], name) == 0)
			return 1;
	return 0;
}

static int field_equal(const struct key *k, const struct config *a, const struct config *b)
{
	const char *pa = (const char *)a + k->off, *pb = (const char *)b + k->off;
	switch (k->type) {
	case T_STR: {
		const char *sa = *(char *const *)(const void *)pa, *sb = *(char *const *)(const void *)pb;
		return (!sa && !sb) || (sa && sb && strcmp(sa, sb) == 0);
	}
	case T_INT: return *(const int *)(const void *)pa == *(const int *)(const void *)pb;
	case T_UNSIGNED:
		return *(const unsigned *)(const void *)pa == *(const unsigned *)(const void *)pb;
	case T_SIZE: return *(const size_t *)(const void *)pa == *(const size_t *)(const void *)pb;
	case T_U64:
		return *(const uint64_t *)(const void *)pa == *(const uint64_t *)(const void *)pb;
	}
	return 1;
}

int config_keep_restart(struct config *next, const struct config *running, char *changed,
			size_t changed_len)
{
	size_t at = 0;
	int n = 0;
	if (changed_len)
		changed[0] = '\0';
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key *k = &keys[i];
		if (key_live(k) || field_equal(k, next, running))
			continue;
		char *dst = (char *)next + k->off;
		const char *src = (const char *)running + k->off;
		if (k->type == T_STR) {
			const char *v = *(char *const *)(const void *)src;
			char *copy = v ? strdup(v) : NULL;
			if (v && !copy)
				return VG_ENOMEM;
			free(*(char **)(void *)dst);
			*(char **)(void *)dst = copy;
		} else {
			size_t size = k->type == T_INT ? sizeof(int) : k->type == T_UNSIGNED ? sizeof(unsigned)
				    : k->type == T_SIZE ? sizeof(size_t) : sizeof(uint64_t);
			memcpy(dst, src, size);
		}
		next->key_line[i] = running->key_line[i];
		if (at + 1 < changed_len) {
			int w = snprintf(changed + at, changed_len - at, "%s[%s] %s", n ? ", " : "",
					 k->section, k->name);
			at = w > 0 && (size_t)w < changed_len - at ? at + (size_t)w : changed_len - 1;
		}
		n++;
	}
	return n;
}

int config_line(const struct config *cfg, const char *section, const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return cfg->key_line[i];
	return 0;
}

void config_key_error(const struct config *cfg, const char *section, const char *name,
		      char *err, size_t err_len, const char *fmt, ...)
{
	if (!err || err_len == 0)
		return;
	int n = snprintf(err, err_len, "%s:%d: [%s] %s: ", cfg->path,
			 config_line(cfg, section, name), section, name);
	if (n < 0 || (size_t)n >= err_len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
	va_end(ap);
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->listen_address);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->tls_ca);
	free(cfg->tls_crl);
	free(cfg->store_path);
	free(cfg->store_backend);
	free(cfg->store_dsn);
	free(cfg->store_standby_text);
	free(cfg->directory_path);
	free(cfg->log_origin);
	free(cfg->log_checkpoint_key);
	free(cfg->metrics_address);
	memset(cfg, 0, sizeof(*cfg));
}

void config_store_target(const struct config *cfg, struct db_target *t)
{
	t->engine = cfg->store_pg ? DB_POSTGRESQL : DB_SQLITE;
	t->where = cfg->store_pg ? cfg->store_dsn : cfg->store_path;
	t->standby = cfg->store_standby;
}
