/*
 * config.h - vigild's configuration, parsed once from an INI file.
 *
 * config_load() fills a struct config that the rest of the daemon treats as
 * read-only.  Strings are owned by the struct and freed by config_free().
 * Relative paths in the file are resolved against the file's directory.
 *
 * File format (libinih):
 *   [listen] address, port, max_connections, max_handshakes,
 *            max_handshakes_per_address, handshake_timeout, idle_timeout,
 *            max_frame, max_inflight_bytes
 *   [tls]    cert, key, ca, crl (optional), ticket_lifetime
 *   [store]  backend (sqlite, postgresql), path (sqlite) or dsn and standby
 *            (postgresql), wal_limit
 *   [directory] path (the member directory, directory.h)
 *   [writer] batch_max, batch_wait_ms, max_queue_bytes
 *   [log]    origin, checkpoint_key, checkpoint_interval
 *   [watchdog] high, medium, low, failed_attempts, handover_window,
 *            escalate_after, max_clock_skew
 *   [retention] content_after_close, record_after_close
 *   [metrics] address, port (the Prometheus endpoint, metrics.h)
 * Durations are whole seconds unless written with a unit (ms, s, m, h, d).
 * Numbers are plain decimal digits: no sign, no unit, no white space inside.
 *
 * Accepted values:
 *   address            an IPv4 or IPv6 literal (no brackets, no host names);
 *                      [metrics] address only with [metrics] port (default
 *                      127.0.0.1)
 *   port               [listen]: 0..65535
 *                      [metrics]: 1..65535; unset: no metrics endpoint
 *   max_connections    1..1000000 (authenticated connections, admission.h)
 *   max_handshakes     1..1000000 (connections still in the TLS handshake)
 *   max_handshakes_per_address  1..1000000 (the same, per peer address)
 *   handshake_timeout  duration, 100ms..10m
 *   idle_timeout       duration, 1s..7d
 *   write_timeout      duration, 1s..10m: how long answers may wait unread
 *                      (no write finishing) before the connection is closed
 *   max_frame          bytes, 64..67108864 (no K/M suffix)
 *   max_inflight_bytes bytes, 65536..1073741824 (no K/M suffix): frames one
 *                      connection may have read and not yet answered
 *                      before the relay stops reading from it
 *   cert, key, ca, crl files that must be readable when the file is loaded;
 *                      key may not be readable or writable by group or
 *                      others (mode 0600 or 0400)
 *   ticket_lifetime    duration, 1s..1h, or off (default 1h): how long a
 *                      TLS 1.3 session ticket may resume a session
 *                      (daemon/tickets.h); off: no tickets, every
 *                      connection a full handshake
 *   path               [store]: the store's file; its directory must exist
 *                      [directory]: the member directory, a readable file
 *   wal_limit          bytes, 65536..1073741824 (no K/M suffix): the WAL size
 *                      checkpoints keep it near (daemon/walsync.h)
 *   batch_max          1..10000
 *   batch_wait_ms      a plain number of milliseconds, 0..1000 (no unit)
 *   max_queue_bytes    bytes, 1048576..17179869184 (no K/M suffix): the same
 *                      across all connections (the thread pool's and the
 *                      writer's queues); past it no connection is read
 *   origin             1-255 bytes, no spaces, no '+' (e.g. relay.example.org/vigil)
 *   checkpoint_key     a readable file (Ed25519 private key, PEM), not
 *                      readable or writable by group or others
 *   checkpoint_interval duration, 1s..1d
 *   high, medium, low  duration, 1s..365d: silence windows per risk level
 *   failed_attempts    2..1000000
 *   handover_window, escalate_after  duration, 1s..365d
 *   max_clock_skew     duration, 0s..1d: a client time later than the
 *                      receive time plus this is refused
 *   content_after_close, record_after_close  duration, 1s..3650d, or off:
 *                      how long after a case is closed its sealed texts
 *                      (default 365d), or its records (default off), are
 *                      erased
 * Unknown sections and keys, a key given twice, indented (multi-line)
 * values and lines over 198 characters (inih's buffer) are errors.  Nothing
 * is made absolute: when the file itself is named by a relative path, the
 * resolved paths are relative to the current directory as well.
 */
#ifndef VIGIL_DAEMON_CONFIG_H
#define VIGIL_DAEMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/db.h"

#define CONFIG_KEYS_MAX 40

struct config {
	char *path;               /* the file it was read from */
	/* [listen] */
	char *listen_address;     /* default "127.0.0.1" */
	int listen_port;          /* default 7443; 0 means any free port */
	unsigned max_connections; /* default 1024 authenticated connections */
	unsigned max_handshakes;  /* default 64 connections still in the handshake */
	unsigned max_handshakes_per_address; /* default 8 of those per peer address */
	uint64_t handshake_timeout_ms; /* default 10 s */
	uint64_t idle_timeout_ms;      /* default 300 s */
	uint64_t write_timeout_ms;     /* default 30 s: answers waiting on a peer that
					* does not read */
	size_t max_frame;         /* default 64 KiB; 64 bytes .. 64 MiB */
	size_t max_inflight_bytes; /* default 4 MiB of frames read, not yet answered, per connection */
	/* [tls] */
	char *tls_cert;           /* required */
	char *tls_key;            /* required */
	char *tls_ca;             /* required */
	char *tls_crl;            /* optional, NULL when unset */
	uint64_t tls_ticket_lifetime_ms; /* default 1 h; 0: no session tickets */
	/* [store] */
	char *store_backend;      /* "sqlite" (NULL: the default) or "postgresql" */
	char *store_path;         /* required with sqlite: the database file */
	char *store_dsn;          /* required with postgresql: libpq connection string */
	int store_pg;             /* backend = postgresql */
	char *store_standby_text; /* "on" or "off" (NULL: off) */
	int store_standby;        /* standby = on: wait for the active relay's lock */
	size_t wal_limit;         /* default 16 MiB: the WAL is reset and trimmed past this */
	/* [directory] */
	char *directory_path;     /* required: the member directory (directory.h) */
	/* [log] */
	char *log_origin;         /* required: the checkpoints' origin line and key name */
	char *log_checkpoint_key; /* required: Ed25519 private key (PEM) signing checkpoints */
	uint64_t checkpoint_interval_ms; /* default 60 s: the longest a checkpoint goes unsigned */
	/* [watchdog] */
	uint64_t window_high_ms;      /* default 72 h */
	uint64_t window_medium_ms;    /* default 14 d */
	uint64_t window_low_ms;       /* default 30 d */
	unsigned failed_attempts;     /* default 3: failed attempts that raise the alert early */
	uint64_t handover_window_ms;  /* default 72 h: an offer unanswered this long stalls */
	uint64_t escalate_after_ms;   /* default 24 h: stage 1 unacknowledged this long escalates */
	uint64_t max_clock_skew_ms;   /* default 5 min: how far a client time may be ahead */
	/* [retention]: 0 is off */
	uint64_t content_after_close_ms; /* default 365 d: sealed text erased after a close */
	uint64_t record_after_close_ms;  /* default off: records erased after a close */
	/* [writer] */
	unsigned batch_max;       /* default 256 submissions per transaction */
	uint64_t batch_wait_ms;   /* default 0: a batch is whatever queued while the last one committed */
	size_t max_queue_bytes;   /* default 64 MiB: the same, across all connections */
	/* [metrics]: both set, or neither (no endpoint) */
	char *metrics_address;    /* "127.0.0.1" when only the port is given */
	int metrics_port;         /* 0: no metrics endpoint */
	/* The line each key was set on, 0 when it was not (config_line()). */
	int key_line[CONFIG_KEYS_MAX];
};

/*
 * Reads and validates path.  On failure returns a negative vg_status
 * (VG_EBADREQ for invalid content, VG_EIO when the file cannot be read,
 * VG_ENOMEM), writes "FILE:LINE: what is wrong" (LINE 0 when no line is to
 * blame, e.g. a missing required key or an unreadable file) into err, and
 * leaves cfg zeroed.  config_free() is safe on a zeroed or partly filled
 * struct and leaves it zeroed.
 */
int config_load(const char *path, struct config *cfg, char *err, size_t err_len);
void config_free(struct config *cfg);

/*
 * A reload (reload.h) applies the [listen] limits and timeouts, [tls],
 * [directory] and [writer] max_queue_bytes; every other key needs a
 * restart.  Sets each of those in next back to its value in running when
 * it differs, and lists them in changed ("[listen] port, [store] path").
 * Returns how many, or VG_ENOMEM.
 */
int config_keep_restart(struct config *next, const struct config *running, char *changed,
			size_t changed_len);

/* The line of cfg->path that set [section] name; 0 when the key was not
 * given (a default) or is unknown. */
int config_line(const struct config *cfg, const char *section, const char *name);

/* Where [store] says the store is. */
void config_store_target(const struct config *cfg, struct db_target *t);

/*
 * For errors found after loading, in what a key's value names (a key file
 * that does not parse, a certificate that does not match it): writes
 * "FILE:LINE: [SECTION] NAME: " and the message into err, LINE being the
 * key's line.
 */
__attribute__((format(printf, 6, 7)))
void config_key_error(const struct config *cfg, const char *section, const char *name,
		      char *err, size_t err_len, const char *fmt, ...);

/*
 * Strict number and duration parsers (exported for the tests).  Return 0 on
 * success, -1 when s is not entirely a number in [min, max].
 */
int config_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* "30" (seconds), "250ms", "30s", "5m", "2h", "3d"; result in milliseconds. */
int config_parse_duration(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *out_ms);

#endif
