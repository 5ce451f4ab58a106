#include "daemon/relay.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <openssl/err.h>
#include <openssl/pem.h>

#include "daemon/conn.h"
#include "daemon/delivery.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/reload.h"

#define DRAIN_DEADLINE_MS 15000

int64_t relay_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct relay *r = server->data;
	if (status < 0) {
		/* libuv already keeps a spare descriptor for EMFILE and sheds the
		 * connection with it; anything else is worth a line. */
		log_warn("accept: %s", uv_strerror(status));
		return;
	}
	if (r->draining)
		return;
	conn_accept(r);
}

static void on_signal(uv_signal_t *s, int signum)
{
	relay_drain(s->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* SIGHUP: reload (reload.h). */
static void on_sighup(uv_signal_t *s, int signum)
{
	(void)signum;
	reload_start(s->data);
}

#define LAG_PERIOD_MS 50

/*
 * The loop-lag probe: a timer due every 50 ms notes how late it fires.
 * Anything that blocks the loop (a slow callback, a blocking call) shows up
 * as lag; the figures are logged at shutdown and read by the benchmarks.
 */
static void on_lag_tick(uv_timer_t *t)
{
	struct relay *r = t->data;
	uint64_t now = uv_hrtime();
	uint64_t late = now > r->lag_due_ns ? (now - r->lag_due_ns) / 1000 : 0;
	r->stats.lag_samples++;
	if (late > r->stats.lag_max_us)
		r->stats.lag_max_us = late;
	if (late > 5000)
		r->stats.lag_over_5ms++;
	prom_observe(&r->stats.lag, &prom_lag_buckets, late);
	prom_recent_note(&r->stats.lag_recent, now / 1000000000u, late);
	r->lag_due_ns = now + LAG_PERIOD_MS * 1000000ull;
}

#define TRIM_AFTER_CONNS 64
#define TRIM_PERIOD_MS 1000

/* On the thread pool: after 10,000 sessions closed it takes tens of
 * milliseconds (madvise of every free page run), which the loop does not
 * wait for; malloc locks each arena only while it trims it. */
static void trim_work(uv_work_t *w)
{
	struct relay *r = w->data;
	uint64_t t0 = uv_hrtime();
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	r->trim_ns = uv_hrtime() - t0;
}

static void trim_done(uv_work_t *w, int status)
{
	struct relay *r = w->data;
	r->trimming = 0;
	if (status == 0)
		log_debug("%u connections freed: memory trimmed in %.1f ms", r->trim_conns,
			  (double)r->trim_ns / 1e6);
}

static void on_trim(uv_timer_t *t)
{
	struct relay *r = t->data;
	if (r->trimming || r->stopped)
		return; /* the next freed connection starts the timer again */
	r->trim_conns = r->conns_freed;
	r->conns_freed = 0;
	r->trim_work.data = r;
	if (uv_queue_work(r->loop, &r->trim_work, trim_work, trim_done) == 0)
		r->trimming = 1;
}

void relay_conn_freed(struct relay *r)
{
	r->conns_freed++;
	/* The timer waits a second, so one trim follows a burst of closes
	 * and they come at most once a second. */
	if (r->conns_freed >= TRIM_AFTER_CONNS && !r->stopped &&
	    !uv_is_active((uv_handle_t *)&r->trim_timer))
		uv_timer_start(&r->trim_timer, on_trim, TRIM_PERIOD_MS, 0);
}

/* Descriptors beside the connections: the database and its WAL, the
 * readers, the checkpointer, the metrics server, libuv's own. */
#define FD_RESERVE 128

void relay_fd_limit(const struct config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rlim_t want = (rlim_t)cfg->max_connections + cfg->max_handshakes + FD_RESERVE;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		struct rlimit up = rl;
		up.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		log_warn("the open file limit is %llu, below the %llu that max_connections = %u "
			 "and max_handshakes = %u need; raise it (LimitNOFILE=, ulimit -n)",
			 (unsigned long long)rl.rlim_cur, (unsigned long long)want,
			 cfg->max_connections, cfg->max_handshakes);
}

/* The writer hands back a batch: its answers leave in one write per
 * connection (conn_cork). */
static void on_deliver(void *ctx, int begin)
{
	if (begin)
		conn_cork(ctx);
	else
		conn_uncork(ctx);
}

static void on_drain_deadline(uv_timer_t *t)
{
	struct relay *r = t->data;
	log_warn("drain deadline passed; closing %u connections", r->n_conns);
	for (struct conn *c = r->conns; c; c = c->next)
		conn_close(c, "relay shutting down");
}

void relay_check_drained(struct relay *r)
{
	if (!r->draining || r->stopped)
		return;
	for (struct conn *c = r->conns; c; c = c->next)
		if (conn_is_open(c) && c->inflight == 0)
			conn_close(c, "relay shutting down");
	if (r->n_conns > 0 || writer_pending(r->writer) > 0) {
		log_debug("draining: %u connections, %u writer jobs left", r->n_conns,
			  writer_pending(r->writer));
		return;
	}
	r->stopped = 1;
	writer_stop(r->writer);
	/* The signal handles stay installed (unreferenced) until the loop has
	 * run out, so a second SIGTERM during the last steps is still ours. */
	uv_close((uv_handle_t *)&r->drain_timer, NULL);
	uv_close((uv_handle_t *)&r->lag_timer, NULL);
	uv_close((uv_handle_t *)&r->tickets_timer, NULL);
	uv_close((uv_handle_t *)&r->trim_timer, NULL);
	notify_close(r);
	log_notice("drained: %llu records stored this run",
		   (unsigned long long)r->stats.records_stored);
	log_notice("event loop lag: max %.3f ms, %llu of %llu ticks over 5 ms",
		   (double)r->stats.lag_max_us / 1000.0, (unsigned long long)r->stats.lag_over_5ms,
		   (unsigned long long)r->stats.lag_samples);
}

void relay_drain(struct relay *r, const char *why)
{
	if (r->draining)
		return;
	r->draining = 1;
	notify_stopping(r);
	log_notice("%s: stop accepting, finishing %u connections", why, r->n_conns);
	if (r->listening) {
		uv_close((uv_handle_t *)&r->listener, NULL);
		r->listening = 0;
	}
	/* No new requests: what was received is finished and answered. */
	for (struct conn *c = r->conns; c; c = c->next) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
	uv_timer_start(&r->drain_timer, on_drain_deadline, DRAIN_DEADLINE_MS, 0);
	uv_unref((uv_handle_t *)&r->drain_timer);
	uv_unref((uv_handle_t *)&r->sig_term);
	uv_unref((uv_handle_t *)&r->sig_int);
	uv_unref((uv_handle_t *)&r->sig_hup);
	relay_check_drained(r);
}

int relay_identity_load(const struct config *cfg, const struct directory *dir,
			struct relay_identity *out, char *err, size_t err_len)
{
	memset(out, 0, sizeof(*out));
	FILE *f = fopen(cfg->tls_cert, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	f = fopen(cfg->tls_key, "r");
	out->key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	char why[192] = "cannot read the certificate or key";
	int ok = x && out->key && identity_from_cert(x, &out->id, why, sizeof(why)) == 0;
	if (ok) {
		int n = i2d_X509(x, &out->der);
		ok = n > 0;
		out->der_len = ok ? (size_t)n : 0;
	}
	X509_free(x);
	ERR_clear_error();
	/* Alerts name the relay's organisation as their author: it must be the
	 * member the directory lists as the relay. */
	if (ok && out->id.role != ROLE_RELAY) {
		snprintf(why, sizeof(why), "certificate OU %s is not relay",
			 identity_role_name(out->id.role));
		ok = 0;
	}
	if (ok && directory_admit(dir, out->id.org, out->id.role, out->id.country, why,
				  sizeof(why)) != 0)
		ok = 0;
	if (!ok) {
		config_key_error(cfg, "tls", "cert", err, err_len, "the relay's own identity (%s): %s",
				 cfg->tls_cert, why);
		relay_identity_free(out);
		return -1;
	}
	return 0;
}

void relay_identity_free(struct relay_identity *ri)
{
	EVP_PKEY_free(ri->key);
	OPENSSL_free(ri->der);
	ri->key = NULL;
	ri->der = NULL;
	ri->der_len = 0;
}

static void free_identity(struct relay *r)
{
	EVP_PKEY_free(r->identity_key);
	OPENSSL_free(r->identity_der);
	r->identity_key = NULL;
	r->identity_der = NULL;
}

/* What relay_start took and a reload may have replaced. */
static void release_all(struct relay *r)
{
	reload_free_retired(r);
	free_identity(r);
	SSL_CTX_free(r->ssl_ctx);
	r->ssl_ctx = NULL;
	directory_release(&r->directory);
	tickets_release(&r->tickets);
}

/* A relay without tickets ([tls] ticket_lifetime = off, maybe since a
 * reload) still rotates the keys it made at start, as if for an hour. */
static uint64_t ticket_lifetime(const struct relay *r)
{
	return r->cfg->tls_ticket_lifetime_ms ? r->cfg->tls_ticket_lifetime_ms : 3600 * 1000;
}

static void on_tickets_timer(uv_timer_t *t)
{
	relay_tickets_schedule(t->data);
}

void relay_tickets_schedule(struct relay *r)
{
	if (r->stopped)
		return;
	uint64_t next = tickets_rotate(r->tickets, relay_now_ms(), ticket_lifetime(r));
	uv_timer_start(&r->tickets_timer, on_tickets_timer, next ? next : 1, 0);
}

int relay_start(struct relay *r, uv_loop_t *loop, const struct config *cfg,
		const struct directory *dir, SSL_CTX *ssl_ctx, struct writer *writer, char *err,
		size_t err_len)
{
	memset(r, 0, sizeof(*r));
	r->loop = loop;
	r->cfg = cfg;
	r->directory = dir;
	r->writer = writer;
	struct relay_identity ri;
	if (relay_identity_load(cfg, dir, &ri, err, err_len) != 0)
		return -1;
	r->identity = ri.id;
	r->identity_key = ri.key;
	r->identity_der = ri.der;
	r->identity_der_len = ri.der_len;
	/* The relay's own references: a reload replaces both. */
	SSL_CTX_up_ref(ssl_ctx);
	r->ssl_ctx = ssl_ctx;
	r->directory = directory_ref(dir);
	r->tickets = tickets_new(err, err_len);
	if (!r->tickets || (cfg->tls_ticket_lifetime_ms &&
			    tickets_attach(ssl_ctx, r->tickets, cfg->tls_ticket_lifetime_ms, err,
					   err_len) != 0)) {
		release_all(r);
		return -1;
	}
	struct db_target where;
	config_store_target(cfg, &where);
	int prc = reader_pool_init(&r->readers, &where);
	if (prc != 0) {
		snprintf(err, err_len, "cannot set up readers: %s", uv_strerror(prc));
		release_all(r);
		return -1;
	}
	writer_set_alert_sink(writer, delivery_on_alerts, r);
	writer_set_deliver_hook(writer, on_deliver, r);

	struct sockaddr_storage ss;
	if (uv_ip4_addr(cfg->listen_address, cfg->listen_port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(cfg->listen_address, cfg->listen_port, (struct sockaddr_in6 *)&ss) != 0) {
		snprintf(err, err_len, "listen address %s is not an IP address", cfg->listen_address);
		reader_pool_close(&r->readers);
		release_all(r);
		return -1;
	}
	uv_tcp_init(loop, &r->listener);
	r->listener.data = r;
	int rc = uv_tcp_bind(&r->listener, (struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&r->listener, 511, on_connection);
	if (rc != 0) {
		snprintf(err, err_len, "cannot listen on %s port %d: %s", cfg->listen_address,
			 cfg->listen_port, uv_strerror(rc));
		uv_close((uv_handle_t *)&r->listener, NULL);
		reader_pool_close(&r->readers);
		release_all(r);
		return -1;
	}
	r->listening = 1;
	uv_timer_init(loop, &r->drain_timer);
	r->drain_timer.data = r;
	uv_timer_init(loop, &r->lag_timer);
	r->lag_timer.data = r;
	r->lag_due_ns = uv_hrtime() + LAG_PERIOD_MS * 1000000ull;
	uv_timer_start(&r->lag_timer, on_lag_tick, LAG_PERIOD_MS, LAG_PERIOD_MS);
	uv_timer_init(loop, &r->trim_timer);
	r->trim_timer.data = r;
	relay_fd_limit(cfg);
	uv_signal_init(loop, &r->sig_term);
	uv_signal_init(loop, &r->sig_int);
	uv_signal_init(loop, &r->sig_hup);
	r->sig_term.data = r->sig_int.data = r->sig_hup.data = r;
	uv_signal_start(&r->sig_term, on_signal, SIGTERM);
	uv_signal_start(&r->sig_int, on_signal, SIGINT);
	uv_signal_start(&r->sig_hup, on_sighup, SIGHUP);
	uv_timer_init(loop, &r->tickets_timer);
	r->tickets_timer.data = r;
	relay_tickets_schedule(r);
	return 0;
}

void relay_close(struct relay *r)
{
	uv_close((uv_handle_t *)&r->sig_term, NULL);
	uv_close((uv_handle_t *)&r->sig_int, NULL);
	uv_close((uv_handle_t *)&r->sig_hup, NULL);
	uv_run(r->loop, UV_RUN_DEFAULT);
	reader_pool_close(&r->readers);
	release_all(r);
}

int relay_port(const struct relay *r)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (uv_tcp_getsockname(&r->listener, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}
