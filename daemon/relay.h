/*
 * relay.h - the process-wide state of vigild: the loop, the configuration,
 * the TLS context, the writer, the listener and the list of connections.
 *
 * Everything here is touched only on the loop thread, except the writer's
 * internals (writer.h).
 */
#ifndef VIGIL_DAEMON_RELAY_H
#define VIGIL_DAEMON_RELAY_H

#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "daemon/config.h"
#include "daemon/directory.h"
#include "daemon/identity.h"
#include "daemon/prom.h"
#include "daemon/reader.h"
#include "daemon/reload.h"
#include "daemon/tickets.h"
#include "daemon/tls.h"
#include "daemon/writer.h"

struct conn;

/* Slots of relay_stats.records_refused_by: -VG_OK .. -VG_EIO
 * (proto/status.h); a status outside counts as VG_EINTERNAL. */
#define RELAY_STATUS_SLOTS 11

struct relay_stats {
	uint64_t accepted;
	uint64_t refused_over_cap;   /* max_connections authenticated connections were open */
	uint64_t refused_handshakes; /* handshake pool or an address's slots full and protected */
	uint64_t handshakes_evicted; /* unauthenticated connections closed to make room */
	uint64_t handshakes_ok;
	uint64_t handshakes_resumed; /* of handshakes_ok: resumed with a session ticket */
	uint64_t handshakes_failed;
	uint64_t frames_in;
	uint64_t records_stored;
	uint64_t records_duplicate;
	uint64_t records_refused;
	uint64_t lag_samples;        /* loop-lag probe ticks */
	uint64_t lag_max_us;         /* the longest the loop was late for a tick */
	uint64_t lag_over_5ms;       /* ticks more than 5 ms late */
	/* For the metrics (metrics.h), which copy them on the loop thread. */
	uint64_t handshakes_refused[TLS_REFUSALS];  /* handshakes_failed by reason */
	uint64_t records_refused_by[RELAY_STATUS_SLOTS]; /* records_refused by -status */
	struct prom_hist lag;        /* lag of each tick, in µs (prom_lag_buckets) */
	struct prom_recent_max lag_recent; /* the longest per second of uv_hrtime(), in µs */
};

struct relay_retired;
struct reload;

struct relay {
	uv_loop_t *loop;
	const struct config *cfg;          /* main()'s, or the last reload's */
	struct config *cfg_owned;          /* the last reload's (freed by the relay) */
	const struct directory *directory; /* the members (a reference; a reload replaces it) */
	SSL_CTX *ssl_ctx;                  /* new handshakes (a reference); its verify
					    * callback admits members only */
	struct tickets *tickets;           /* session ticket keys, shared by every context
					    * ([tls] ticket_lifetime; tickets.h) */
	uv_timer_t tickets_timer;          /* rotates their keys */
	struct writer *writer;             /* every change to the database */
	struct reader_pool readers;   /* read-only connections for queries */

	/* The relay's own identity: it signs the alerts it raises. */
	struct identity identity;
	EVP_PKEY *identity_key;
	uint8_t *identity_der;
	size_t identity_der_len;

	uv_tcp_t listener;
	int listening;
	uv_signal_t sig_term;
	uv_signal_t sig_int;
	uv_signal_t sig_hup;      /* reload (reload.h) */
	struct reload *reloading; /* a reload under way, or NULL */
	int reload_again;         /* a SIGHUP came during it */
	struct relay_retired *retired; /* what reloads replaced, freed at the end */
	struct reload_stats reloads;
	uint64_t conn_serial;     /* connections accepted (conn.serial) */
	uv_timer_t notify_watchdog; /* systemd (notify.h) */
	uv_timer_t notify_status;
	int notify_timers;        /* both initialised */
	uv_timer_t drain_timer;
	uv_timer_t lag_timer;     /* measures how late the loop runs timers */
	uint64_t lag_due_ns;
	uv_timer_t trim_timer;    /* gives freed memory back (relay_conn_freed) */
	uv_work_t trim_work;      /* malloc_trim on the thread pool */
	int trimming;             /* trim_work queued or running */
	unsigned conns_freed;     /* connections freed since the last trim */
	unsigned trim_conns;      /* those the running trim follows */
	uint64_t trim_ns;         /* how long it took (set on the pool) */

	struct conn *conns;       /* doubly linked list of live connections */
	unsigned n_conns;         /* every connection until it is freed */
	unsigned corked;          /* conn_cork() depth */
	struct conn *flush_list;  /* written to at conn_uncork() */
	/* Admission (admission.h): connections in HANDSHAKE, oldest first,
	 * and the authenticated ones (from the handshake's end until freed). */
	struct conn *pool_head, *pool_tail;
	unsigned n_handshakes;
	unsigned n_authenticated;
	int serving;              /* start-up done (the writer runs): reloads may start */
	int draining;             /* SIGTERM/SIGINT seen: finish, then exit */
	/* The global byte budget (conn_charge): bytes of frames read by all
	 * connections and not yet answered; set when a connection stopped
	 * reading because of it, so that the drain below half resumes them. */
	size_t inflight_bytes;
	int budget_blocked;
	int budget_resuming;
	int stopped;

	struct relay_stats stats;
};

/* The relay's own certificate and key, which sign the alerts it raises. */
struct relay_identity {
	struct identity id;
	EVP_PKEY *key;
	uint8_t *der;
	size_t der_len;
};

/* Reads [tls] cert and key: an identity whose role is relay and which dir
 * admits.  0, or -1 with "FILE:LINE: [tls] cert: the relay's own identity
 * (PATH): why" in err. */
int relay_identity_load(const struct config *cfg, const struct directory *dir,
			struct relay_identity *out, char *err, size_t err_len);
void relay_identity_free(struct relay_identity *ri);

/* Sets up the listener and signals on loop; the writer must be open.  The
 * relay's own certificate must be a member of dir, as relay, in its country.
 * The relay takes references to ssl_ctx and dir (main() keeps its own). */
int relay_start(struct relay *r, uv_loop_t *loop, const struct config *cfg,
		const struct directory *dir, SSL_CTX *ssl_ctx, struct writer *writer, char *err,
		size_t err_len);

/* Stops accepting, lets in-flight submissions commit and be answered, then
 * closes every connection and stops the writer; the loop then runs out. */
void relay_drain(struct relay *r, const char *why);

/* After the loop has run out: closes the last handles (the signals). */
void relay_close(struct relay *r);

/* Called by conn.c when a connection is freed or becomes idle while
 * draining, to finish shutting down once nothing is left. */
void relay_check_drained(struct relay *r);

/* (Re)arms the rotation of the session ticket keys for the lifetime of
 * the running configuration; after a reload too. */
void relay_tickets_schedule(struct relay *r);

/*
 * Called by conn.c when a connection's memory was freed.  After a burst of
 * closes (64 connections or more) the allocator is asked, at most once a
 * second, to give its free pages back to the system (glibc: malloc_trim):
 * the sessions' memory lies scattered between objects that live on, so
 * without it the relay's resident size never shrinks after a peak.
 */
void relay_conn_freed(struct relay *r);

/*
 * Raises the soft limit on open files to what cfg's max_connections and
 * max_handshakes need (plus a reserve for the database, readers and the
 * rest), as far as the hard limit allows, and warns when that is not
 * enough.  At start-up and after a reload.
 */
void relay_fd_limit(const struct config *cfg);

/* The port the listener is bound to (useful with port 0), or -1. */
int relay_port(const struct relay *r);

/* Wall clock in milliseconds since the epoch. */
int64_t relay_now_ms(void);

#endif
