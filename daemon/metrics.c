#include "daemon/metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <microhttpd.h>
#include <uv.h>

#include "daemon/config.h"
#include "daemon/db.h"

#include "daemon/conn.h"
#include "daemon/directory.h"
#include "daemon/log.h"
#include "daemon/relay.h"
#include "proto/status.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* Scrapers are few: a handful of connections, none held for long. */
#define HTTP_CONNECTIONS 16
#define HTTP_TIMEOUT_S 10

/* What the loop owns, as the loop timer last copied it. */
struct snapshot {
	uint64_t taken_ns;                 /* uv_hrtime() */
	struct relay_stats stats;
	struct reload_stats reloads;
	struct tickets_stats tickets;
	unsigned conns[CONN_CLOSING + 1];  /* by enum conn_state */
	unsigned writer_queue;
	size_t inflight_bytes;
	const struct directory *directory; /* a reference */
};

/* Deliveries (the alerts table: alert entries and the Erasure entries
 * delivered like them) addressed to one organisation after its
 * acknowledged position. */
struct pending {
	char org[RECORD_ORG_MAX + 1];
	int64_t acked;                     /* -1: never acknowledged */
	uint64_t n;
};

struct metrics {
	struct relay *relay;               /* loop thread only */
	struct writer *writer;
	uv_timer_t timer;
	struct MHD_Daemon *httpd;
	char *db_path, *wal_path;          /* db_path: PostgreSQL's connection string there */
	enum db_engine engine;
	char name[256];                    /* db_target_name */
	atomic_int serving;                /* MHD_start_daemon() returned it */

	uv_mutex_t mu;                     /* guards snap and start_err */
	char start_err[256];               /* libmicrohttpd's last message at start-up */
	struct snapshot snap;

	/* The metrics thread's own (one polling thread: one scrape at a time). */
	struct db *db;                       /* read-only, for the pending deliveries */
	struct db_stmt *acks, *alerts;
	struct db_stmt *size;              /* PostgreSQL: the tables' bytes (pg_size) */
	uint64_t pg_bytes;
	uint64_t pending_ns;               /* when they were counted; 0: never */
	struct pending *pending;
	size_t n_pending;
	int pending_failed;                /* the last count failed (logged once) */
};

/* ---- the loop's side ----------------------------------------------------- */

static void take_snapshot(struct metrics *m)
{
	struct relay *r = m->relay;
	unsigned conns[CONN_CLOSING + 1] = { 0 };
	for (const struct conn *c = r->conns; c; c = c->next)
		if ((unsigned)c->state <= CONN_CLOSING)
			conns[c->state]++;
	const struct directory *old = NULL;
	uv_mutex_lock(&m->mu);
	m->snap.taken_ns = uv_hrtime();
	m->snap.stats = r->stats;
	m->snap.reloads = r->reloads;
	m->snap.tickets = *tickets_stats(r->tickets);
	memcpy(m->snap.conns, conns, sizeof(conns));
	m->snap.writer_queue = writer_pending(r->writer);
	m->snap.inflight_bytes = r->inflight_bytes;
	if (m->snap.directory != r->directory) {
		old = m->snap.directory;
		m->snap.directory = directory_ref(r->directory);
	}
	uv_mutex_unlock(&m->mu);
	directory_release(&old);
}

static void on_snapshot(uv_timer_t *t)
{
	take_snapshot(t->data);
}

/* ---- pending deliveries (metrics thread) --------------------------------- */

static int pending_open(struct metrics *m)
{
	if (m->db)
		return 0;
	char why[300] = "out of memory";
	const struct db_target t = { m->engine, m->db_path, 0 };
	if (db_open(&t, 1, &m->db, why, sizeof(why)) != DB_OK ||
	    (m->engine == DB_SQLITE && sqlite3_busy_timeout(db_sqlite(m->db), 1000) != SQLITE_OK) ||
	    db_prepare(m->db, "SELECT org, position FROM delivery_acks", &m->acks) != DB_OK ||
	    db_prepare(m->db, "SELECT position, recipients FROM alerts WHERE position > ?", &m->alerts) != DB_OK) {
		if (!m->pending_failed)
			log_warn("metrics: cannot read %s for the pending deliveries: %s", m->name,
				 m->db ? db_errmsg(m->db) : why);
		db_finalize(m->acks);
		db_finalize(m->alerts);
		db_close(&m->db);
		m->acks = m->alerts = NULL;
		m->db = NULL;
		return -1;
	}
	return 0;
}

static int by_org(const void *a, const void *b)
{
	return strcmp(((const struct pending *)a)->org, ((const struct pending *)b)->org);
}

static struct pending *pending_find(struct pending *p, size_t n, const char *org, size_t len)
{
	struct pending key;
	if (len >= sizeof(key.org))
		return NULL;
	memcpy(key.org, org, len);
	key.org[len] = '\0';
	return bsearch(&key, p, n, sizeof(*p), by_org);
}

/* Counts, for every member of dir but the relay (which is sent no
 * alerts), the alert entries addressed to it after its acknowledged
 * position: one read transaction, one pass over the alerts after the
 * oldest acknowledgement (all of them while a member never acknowledged). */
static int pending_scan(struct metrics *m, struct pending *p, size_t n)
{
	int rc;
	while ((rc = db_step(m->acks)) == DB_ROW) {
		const char *org = db_column_text(m->acks, 0);
		struct pending *q = org ? pending_find(p, n, org, strlen(org)) : NULL;
		if (q)
			q->acked = db_column_int64(m->acks, 1);
	}
	db_reset(m->acks);
	if (rc != DB_DONE)
		return -1;
	int64_t from = INT64_MAX;
	for (size_t i = 0; i < n; i++)
		if (p[i].acked < from)
			from = p[i].acked;
	db_bind_int64(m->alerts, 1, from);
	while ((rc = db_step(m->alerts)) == DB_ROW) {
		int64_t pos = db_column_int64(m->alerts, 0);
		const char *r = db_column_text(m->alerts, 1);
		/* One organisation a line (cases.c, cases_note_alert). */
		while (r && *r) {
			size_t len = strcspn(r, "\n");
			struct pending *q = pending_find(p, n, r, len);
			if (q && pos > q->acked)
				q->n++;
			r += len + (r[len] == '\n');
		}
	}
	db_reset(m->alerts);
	return rc == DB_DONE ? 0 : -1;
}

/* PostgreSQL: the log's tables with their indexes and TOAST, in the
 * schema the relay writes in. */
static int pg_size(struct metrics *m)
{
	if (!m->size &&
	    db_prepare(m->db, "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM "
			      "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
			      "n.nspname = current_schema() AND c.relkind = 'r'", &m->size) != DB_OK)
		return -1;
	int rc = db_step(m->size);
	if (rc == DB_ROW)
		m->pg_bytes = (uint64_t)db_column_int64(m->size, 0);
	db_reset(m->size);
	return rc == DB_ROW ? 0 : -1;
}

static void pending_count(struct metrics *m, const struct directory *dir)
{
	size_t members = directory_count(dir), n = 0;
	struct pending *p = calloc(members ? members : 1, sizeof(*p));
	for (size_t i = 0; p && i < members; i++) {
		const struct member *mb = directory_at(dir, i);
		if (mb->role == ROLE_RELAY)
			continue;
		snprintf(p[n].org, sizeof(p[n].org), "%s", mb->org);
		p[n++].acked = -1;
	}
	if (p)
		qsort(p, n, sizeof(*p), by_org);
	int ok = p && pending_open(m) == 0 &&
		 db_exec(m->db, "BEGIN") == DB_OK;
	if (ok) {
		ok = pending_scan(m, p, n) == 0;
		if (ok && m->engine == DB_POSTGRESQL)
			ok = pg_size(m) == 0;
		db_exec(m->db, "COMMIT");
	}
	if (!ok) {
		if (!m->pending_failed && m->db)
			log_warn("metrics: cannot count the pending deliveries: %s",
				 db_errmsg(m->db));
		m->pending_failed = 1;
		free(p);
		/* The last count is stale now: shown as nothing rather than wrong. */
		free(m->pending);
		m->pending = NULL;
		m->n_pending = 0;
		return;
	}
	m->pending_failed = 0;
	free(m->pending);
	m->pending = p;
	m->n_pending = n;
}

/* ---- the page (metrics thread) ------------------------------------------- */

static void counter(struct prom_text *t, const char *name, const char *help, uint64_t v)
{
	prom_family(t, name, PROM_COUNTER, help);
	prom_sample_u64(t, name, NULL, NULL, v);
}

static void gauge(struct prom_text *t, const char *name, const char *help, double v)
{
	prom_family(t, name, PROM_GAUGE, help);
	prom_sample(t, name, NULL, NULL, v);
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void page_connections(struct prom_text *t, const struct snapshot *s)
{
	static const char *const states[] = {
		[CONN_HANDSHAKE] = "handshake", [CONN_HELLO] = "hello",
		[CONN_READY] = "ready", [CONN_CLOSING] = "closing",
	};
	prom_family(t, "vigil_connections", PROM_GAUGE,
		    "Open connections by state: handshake (TLS under way), hello (authenticated, "
		    "no Hello yet), ready, closing.");
	for (unsigned i = 0; i <= CONN_CLOSING; i++)
		prom_sample_u64(t, "vigil_connections", "state", states[i], s->conns[i]);
	counter(t, "vigil_connections_accepted_total",
		"Connections accepted into the handshake.", s->stats.accepted);
	prom_family(t, "vigil_connections_refused_total", PROM_COUNTER,
		    "Connections reset at once by admission: max_connections authenticated "
		    "connections open, or the handshake pool (max_handshakes, "
		    "max_handshakes_per_address) full of protected handshakes.");
	prom_sample_u64(t, "vigil_connections_refused_total", "reason", "max_connections",
			s->stats.refused_over_cap);
	prom_sample_u64(t, "vigil_connections_refused_total", "reason", "max_handshakes",
			s->stats.refused_handshakes);
	counter(t, "vigil_handshakes_evicted_total",
		"Unfinished handshakes closed to make room for new connections.",
		s->stats.handshakes_evicted);
	prom_family(t, "vigil_handshakes_total", PROM_COUNTER,
		    "TLS handshakes that ended: ok (a session) or refused.");
	prom_sample_u64(t, "vigil_handshakes_total", "result", "ok", s->stats.handshakes_ok);
	prom_sample_u64(t, "vigil_handshakes_total", "result", "refused",
			s->stats.handshakes_failed);
	prom_family(t, "vigil_handshakes_refused_total", PROM_COUNTER,
		    "Handshakes refused, by reason (other: no ALPN, no common key exchange, a "
		    "subject that is no vigil identity or disagrees with the directory, a "
		    "certificate not yet valid, the peer gone).");
	for (unsigned i = 0; i < TLS_REFUSALS; i++)
		prom_sample_u64(t, "vigil_handshakes_refused_total", "reason",
				tls_refusal_name((enum tls_refusal)i),
				s->stats.handshakes_refused[i]);
	counter(t, "vigil_handshakes_resumed_total",
		"Handshakes (of result ok) that resumed a session with a session ticket.",
		s->stats.handshakes_resumed);
	counter(t, "vigil_session_tickets_issued_total", "Session tickets sealed and sent.",
		s->tickets.issued);
	prom_family(t, "vigil_session_tickets_refused_total", PROM_COUNTER,
		    "Session tickets offered and not used, by reason (a full handshake "
		    "followed): unknown_key (sealed by a key no longer held), expired (older "
		    "than ticket_lifetime), check (the certificate no longer passes the CA, "
		    "CRL or member directory).");
	prom_sample_u64(t, "vigil_session_tickets_refused_total", "reason", "unknown_key",
			s->tickets.refused_key);
	prom_sample_u64(t, "vigil_session_tickets_refused_total", "reason", "expired",
			s->tickets.refused_expired);
	prom_sample_u64(t, "vigil_session_tickets_refused_total", "reason", "check",
			s->tickets.refused_check);
	counter(t, "vigil_frames_received_total", "Frames read from authenticated connections.",
		s->stats.frames_in);
	gauge(t, "vigil_requests_inflight_bytes",
	      "Bytes charged by requests read and not yet answered, across the relay "
	      "([writer] max_queue_bytes).", (double)s->inflight_bytes);
}

static void page_records(struct prom_text *t, const struct snapshot *s)
{
	prom_family(t, "vigil_records_total", PROM_COUNTER,
		    "Submissions answered with a receipt: stored (a new entry) or duplicate "
		    "(stored before).");
	prom_sample_u64(t, "vigil_records_total", "result", "stored", s->stats.records_stored);
	prom_sample_u64(t, "vigil_records_total", "result", "duplicate",
			s->stats.records_duplicate);
	/* The wire's names (proto/status.h); two statuses may share one. */
	const char *names[RELAY_STATUS_SLOTS];
	uint64_t counts[RELAY_STATUS_SLOTS];
	size_t n = 0;
	for (int slot = 1; slot < RELAY_STATUS_SLOTS; slot++) {
		const char *name = vg_status_wire_name(-slot);
		size_t i = 0;
		while (i < n && strcmp(names[i], name) != 0)
			i++;
		if (i == n) {
			names[n] = name;
			counts[n++] = 0;
		}
		counts[i] += s->stats.records_refused_by[slot];
	}
	prom_family(t, "vigil_records_refused_total", PROM_COUNTER,
		    "Submissions answered with an error, by its code.");
	for (size_t i = 0; i < n; i++)
		prom_sample_u64(t, "vigil_records_refused_total", "code", names[i], counts[i]);
}

static void page_writer(struct prom_text *t, const struct snapshot *s,
			const struct writer_stats *w, int64_t now_ms)
{
	gauge(t, "vigil_writer_queue_jobs",
	      "Jobs handed to the writer and not completed yet (queued or being written).",
	      s->writer_queue);
	prom_histogram(t, "vigil_writer_batch_jobs",
		       "Jobs per writer transaction (submissions, case queries, hellos, "
		       "acknowledgements).", &w->batch_jobs, &prom_batch_buckets);
	prom_histogram(t, "vigil_writer_commit_seconds",
		       "Time of each COMMIT on the writer thread, the WAL's fsync included.",
		       &w->commit_us, &prom_commit_buckets);
	counter(t, "vigil_storage_failures_total", "Writer transactions that failed.",
		w->storage_failures);
	gauge(t, "vigil_storage_failed",
	      "1 when storage failed for good (I/O error, corruption): no more writes until "
	      "the relay is restarted.", w->storage_failed ? 1 : 0);
	gauge(t, "vigil_log_entries", "Entries in the log.", (double)w->entries);
	counter(t, "vigil_checkpoints_total",
		"Checkpoints signed this run (one per batch that appended, and heartbeats).",
		w->checkpoints);
	gauge(t, "vigil_checkpoint_timestamp_seconds",
	      "When the newest checkpoint was signed (Unix time).",
	      (double)w->checkpoint_ms / 1000.0);
	int64_t age = now_ms > w->checkpoint_ms ? now_ms - w->checkpoint_ms : 0;
	gauge(t, "vigil_checkpoint_age_seconds",
	      "Seconds since the newest checkpoint was signed; a heartbeat comes every "
	      "[log] checkpoint_interval.", (double)age / 1000.0);
	prom_family(t, "vigil_alerts_total", PROM_COUNTER,
		    "Watchdog alert entries written this run: raised (a new alert), escalated "
		    "(stage 2), resolved, notice (an open alert told to a new responsible "
		    "organisation).");
	for (unsigned i = 0; i < WATCH_EVENT_CLASSES; i++)
		prom_sample_u64(t, "vigil_alerts_total", "event",
				watchdog_event_class_name((enum watch_event_class)i), w->alerts[i]);
}

static char *page(struct metrics *m, size_t *len)
{
	struct snapshot s;
	uv_mutex_lock(&m->mu);
	s = m->snap;
	s.directory = directory_ref(m->snap.directory);
	uv_mutex_unlock(&m->mu);
	struct writer_stats w;
	writer_get_stats(m->writer, &w);
	uint64_t now_ns = uv_hrtime();
	if (s.directory && (!m->pending_ns || now_ns - m->pending_ns >= METRICS_PENDING_MS * 1000000ull)) {
		pending_count(m, s.directory);
		m->pending_ns = now_ns;
	}

	struct prom_text t;
	prom_text_init(&t);
	prom_family(&t, "vigil_build_info", PROM_GAUGE, "The relay's version; always 1.");
	prom_sample(&t, "vigil_build_info", "version", VIGIL_VERSION, 1);
	page_connections(&t, &s);
	page_records(&t, &s);
	page_writer(&t, &s, &w, relay_now_ms());
	prom_family(&t, "vigil_deliveries_pending", PROM_GAUGE,
		    "Deliveries (alert entries, and the Erasure entries delivered like them) "
		    "addressed to a member after the position its default desk acknowledged "
		    "(counted at most every 5 s).");
	for (size_t i = 0; i < m->n_pending; i++)
		prom_sample_u64(&t, "vigil_deliveries_pending", "organisation", m->pending[i].org,
				m->pending[i].n);
	prom_histogram(&t, "vigil_event_loop_lag_seconds",
		       "How late the event loop ran its 50 ms probe timer, per tick.",
		       &s.stats.lag, &prom_lag_buckets);
	gauge(&t, "vigil_event_loop_lag_max_seconds",
	      "The latest the event loop ran its 50 ms probe timer since the relay started.",
	      (double)s.stats.lag_max_us / 1e6);
	gauge(&t, "vigil_event_loop_lag_recent_max_seconds",
	      "The latest the event loop ran its 50 ms probe timer in the 10 s before the "
	      "loop's figures were copied (vigil_metrics_snapshot_age_seconds ago).",
	      (double)prom_recent_get(&s.stats.lag_recent, s.taken_ns / 1000000000u) / 1e6);
	prom_family(&t, "vigil_database_size_bytes", PROM_GAUGE,
		    "Size of the database file and of its write-ahead log.");
	if (m->engine == DB_SQLITE) {
		prom_sample_u64(&t, "vigil_database_size_bytes", "file", "database",
				file_size(m->db_path));
		prom_sample_u64(&t, "vigil_database_size_bytes", "file", "wal",
				file_size(m->wal_path));
	} else {
		/* PostgreSQL keeps one WAL for every database it serves. */
		prom_sample_u64(&t, "vigil_database_size_bytes", "file", "database", m->pg_bytes);
	}
	prom_family(&t, "vigil_reloads_total", PROM_COUNTER,
		    "SIGHUP reloads: ok (applied) or failed (everything kept).");
	prom_sample_u64(&t, "vigil_reloads_total", "result", "ok", s.reloads.ok);
	prom_sample_u64(&t, "vigil_reloads_total", "result", "failed", s.reloads.failed);
	counter(&t, "vigil_reload_sessions_closed_total",
		"Sessions closed by a reload because their certificate no longer passed.",
		s.reloads.sessions_closed);
	gauge(&t, "vigil_metrics_snapshot_age_seconds",
	      "Age of the event loop's figures on this page; more than a few seconds means the "
	      "loop is stuck.", (double)(now_ns - s.taken_ns) / 1e9);
	directory_release(&s.directory);
	return prom_text_take(&t, len);
}

/* ---- HTTP (metrics thread) ----------------------------------------------- */

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *body,
			      const char *allow)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	enum MHD_Result rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **req)
{
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req;
	struct metrics *m = cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", "GET, HEAD");
	if (strcmp(url, "/metrics") != 0)
		return answer(conn, MHD_HTTP_NOT_FOUND, "not found; try /metrics\n", NULL);
	size_t len;
	char *body = page(m, &len);
	if (!body)
		return answer(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
	/* For HEAD, libmicrohttpd sends the headers (Content-Length too) only. */
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
	enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct metrics *m = cls;
	char line[256];
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	if (atomic_load(&m->serving)) {
		log_warn("metrics: %s", line);
		return;
	}
	/* Starting: the reason metrics_start() gives if it fails. */
	uv_mutex_lock(&m->mu);
	snprintf(m->start_err, sizeof(m->start_err), "%s", line);
	uv_mutex_unlock(&m->mu);
}

/* ---- start and stop (loop thread) ---------------------------------------- */

static void on_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

static void metrics_free(struct metrics *m)
{
	db_finalize(m->acks);
	db_finalize(m->alerts);
	db_finalize(m->size);
	db_close(&m->db);
	free(m->pending);
	free(m->db_path);
	free(m->wal_path);
	directory_release(&m->snap.directory);
	uv_mutex_destroy(&m->mu);
}

int metrics_start(struct metrics **out, struct relay *r, char *err, size_t err_len)
{
	*out = NULL;
	const struct config *cfg = r->cfg;
	if (!cfg->metrics_port)
		return 0;
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} addr;
	int v6 = 0;
	if (uv_ip4_addr(cfg->metrics_address, cfg->metrics_port, &addr.in) != 0) {
		if (uv_ip6_addr(cfg->metrics_address, cfg->metrics_port, &addr.in6) != 0) {
			config_key_error(cfg, "metrics", "address", err, err_len,
					 "%s is not an IP address", cfg->metrics_address);
			return -1;
		}
		v6 = 1;
	}
	struct metrics *m = calloc(1, sizeof(*m));
	if (!m || uv_mutex_init(&m->mu) != 0) {
		free(m);
		snprintf(err, err_len, "metrics: out of memory");
		return -1;
	}
	m->relay = r;
	m->writer = r->writer;
	/* [store] needs a restart: the name is the same for the whole run. */
	struct db_target where;
	config_store_target(cfg, &where);
	db_target_name(&where, m->name, sizeof(m->name));
	m->engine = where.engine;
	size_t pl = strlen(where.where);
	m->db_path = strdup(where.where);
	m->wal_path = malloc(pl + sizeof("-wal"));
	if (!m->db_path || !m->wal_path) {
		metrics_free(m);
		free(m);
		snprintf(err, err_len, "metrics: out of memory");
		return -1;
	}
	memcpy(m->wal_path, where.where, pl);
	memcpy(m->wal_path + pl, "-wal", sizeof("-wal"));
	take_snapshot(m);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG |
			 (v6 ? MHD_USE_IPv6 : 0);
	m->httpd = MHD_start_daemon(flags, (uint16_t)cfg->metrics_port, NULL, NULL, on_request, m,
				    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, m,
				    MHD_OPTION_SOCK_ADDR, &addr.sa,
				    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
				    MHD_OPTION_END);
	if (!m->httpd) {
		config_key_error(cfg, "metrics", "port", err, err_len,
				 "cannot serve metrics on %s port %d: %s", cfg->metrics_address,
				 cfg->metrics_port, m->start_err[0] ? m->start_err : "libmicrohttpd failed");
		metrics_free(m);
		free(m);
		return -1;
	}
	atomic_store(&m->serving, 1);
	uv_timer_init(r->loop, &m->timer);
	m->timer.data = m;
	uv_timer_start(&m->timer, on_snapshot, METRICS_SNAPSHOT_MS, METRICS_SNAPSHOT_MS);
	/* The loop's life is the relay's: the timer keeps nothing running. */
	uv_unref((uv_handle_t *)&m->timer);
	log_notice("metrics on http://%s%s%s:%d/metrics", v6 ? "[" : "", cfg->metrics_address,
		   v6 ? "]" : "", cfg->metrics_port);
	*out = m;
	return 0;
}

void metrics_stop(struct metrics **mp)
{
	struct metrics *m = *mp;
	if (!m)
		return;
	*mp = NULL;
	MHD_stop_daemon(m->httpd);
	m->httpd = NULL;
	metrics_free(m);
	uv_close((uv_handle_t *)&m->timer, on_timer_closed);
}
