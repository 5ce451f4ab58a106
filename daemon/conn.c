#include "daemon/conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/buffer.h>
#include <openssl/err.h>

#include "daemon/admission.h"
#include "daemon/delivery.h"
#include "daemon/log.h"
#include "daemon/relay.h"
#include "daemon/query.h"
#include "daemon/submit.h"
#include "proto/record.h"
#include "proto/status.h"

#define CONN_CLOSE_GRACE_MS 5000
#define TLS_READ_CHUNK 16384

static void conn_process(struct conn *c);

/* Takes c out of the handshake pool (idempotent): its handshake finished,
 * failed, timed out, or it was pushed out. */
static void pool_leave(struct conn *c)
{
	if (!c->in_pool)
		return;
	struct relay *r = c->relay;
	if (c->pool_prev)
		c->pool_prev->pool_next = c->pool_next;
	else
		r->pool_head = c->pool_next;
	if (c->pool_next)
		c->pool_next->pool_prev = c->pool_prev;
	else
		r->pool_tail = c->pool_prev;
	c->pool_prev = c->pool_next = NULL;
	c->in_pool = 0;
	r->n_handshakes--;
}

static void pool_join(struct conn *c)
{
	struct relay *r = c->relay;
	c->pool_prev = r->pool_tail;
	c->pool_next = NULL;
	if (r->pool_tail)
		r->pool_tail->pool_next = c;
	else
		r->pool_head = c;
	r->pool_tail = c;
	c->in_pool = 1;
	r->n_handshakes++;
}

static void conn_maybe_free(struct conn *c)
{
	if (c->handles_open > 0 || c->jobs > 0)
		return;
	struct relay *r = c->relay;
	pool_leave(c);
	if (c->authenticated)
		r->n_authenticated--;
	if (c->prev)
		c->prev->next = c->next;
	else
		r->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	r->n_conns--;
	SSL_free(c->ssl); /* frees both BIOs */
	record_verifier_free(c->verifier);
	EVP_PKEY_free(c->peer_key);
	OPENSSL_free(c->cert_der);
	frame_reader_free(&c->fr);
	free(c);
	relay_conn_freed(r);
	relay_check_drained(r);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	c->handles_open--;
	conn_maybe_free(c);
}

static void conn_close_handles(struct conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, on_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&c->expiry))
		uv_close((uv_handle_t *)&c->expiry, on_handle_closed);
}

void conn_hold(struct conn *c)
{
	c->jobs++;
}

void conn_release(struct conn *c)
{
	c->jobs--;
	conn_maybe_free(c);
}

struct write_req {
	uv_write_t req;
	struct conn *conn;
	size_t len;
	char data[];
};

static void on_write(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->conn;
	c->write_queue -= w->len;
	c->writes_done++;
	free(w);
	if (status < 0 && conn_is_open(c)) {
		conn_close(c, uv_strerror(status));
	} else if (c->paused && !c->processing && c->write_queue < CONN_MAX_WRITE_QUEUE / 2 &&
		   conn_is_open(c)) {
		conn_process(c);
	}
	conn_release(c);
}

/* Moves whatever TLS produced into a uv_write. */
static void conn_flush(struct conn *c)
{
	size_t n = (size_t)BIO_ctrl_pending(c->wbio);
	if (n == 0 || uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	struct write_req *w = malloc(sizeof(*w) + n);
	if (!w) {
		conn_close_handles(c);
		return;
	}
	int got = BIO_read(c->wbio, w->data, (int)n);
	if (got <= 0) {
		free(w);
		return;
	}
	w->conn = c;
	w->len = (size_t)got;
	uv_buf_t b = uv_buf_init(w->data, (unsigned int)got);
	int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
	if (rc < 0) {
		free(w);
		log_debug("%s: write: %s", c->peer_addr, uv_strerror(rc));
		conn_close_handles(c);
		return;
	}
	c->write_queue += w->len;
	conn_hold(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	free(req);
	conn_close_handles(c);
	conn_release(c);
}

static void on_close_grace(uv_timer_t *t)
{
	/* The peer did not take our last bytes in time. */
	conn_close_handles(t->data);
}

void conn_close(struct conn *c, const char *reason)
{
	if (c->state == CONN_CLOSING)
		return;
	int was_tls = c->state != CONN_HANDSHAKE;
	pool_leave(c);
	c->state = CONN_CLOSING;
	if (c->id.org[0])
		log_debug("%s %s: closed: %s", c->peer_addr, c->id.org, reason);
	else
		log_debug("%s: closed: %s", c->peer_addr, reason);
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = 0;
	if (was_tls) {
		SSL_shutdown(c->ssl); /* queue close_notify */
		ERR_clear_error();
	}
	conn_flush(c);
	/* Let queued bytes (an error frame, an alert) reach the peer before the
	 * socket closes, but never wait for a peer that does not read. */
	uv_timer_start(&c->timer, on_close_grace, CONN_CLOSE_GRACE_MS, 0);
	uv_shutdown_t *req = malloc(sizeof(*req));
	if (req) {
		req->data = c;
		if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) == 0) {
			conn_hold(c);
			relay_check_drained(c->relay);
			return;
		}
		free(req);
	}
	conn_close_handles(c);
}

void conn_send(struct conn *c, const Vigil__V1__Frame *f)
{
	if (!conn_is_open(c))
		return;
	uint8_t *buf;
	size_t len;
	/* Answers are small; the limit only guards against a bug. */
	int rc = frame_encode(f, FRAME_DEFAULT_MAX * 64, &buf, &len);
	if (rc != VG_OK) {
		conn_close(c, "cannot encode an answer");
		return;
	}
	int n = SSL_write(c->ssl, buf, (int)len);
	free(buf);
	if (n <= 0) {
		char e[160];
		conn_close(c, tls_last_error(e, sizeof(e)));
		return;
	}
	struct relay *r = c->relay;
	if (!r->corked) {
		conn_flush(c);
		return;
	}
	if (!c->flush_queued) {
		c->flush_queued = 1;
		c->flush_next = r->flush_list;
		r->flush_list = c;
		conn_hold(c);
	}
}

void conn_cork(struct relay *r)
{
	r->corked++;
}

void conn_uncork(struct relay *r)
{
	if (--r->corked > 0)
		return;
	struct conn *c = r->flush_list;
	r->flush_list = NULL;
	while (c) {
		struct conn *next = c->flush_next;
		c->flush_queued = 0;
		c->flush_next = NULL;
		conn_flush(c);  /* nothing left when it was closed meanwhile */
		conn_release(c);
		c = next;
	}
}

void conn_send_error(struct conn *c, uint64_t request_id, int status, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	Vigil__V1__Error e = VIGIL__V1__ERROR__INIT;
	e.code = (Vigil__V1__ErrorCode)vg_status_to_wire(status);
	e.message = msg;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = request_id;
	f.msg_case = VIGIL__V1__FRAME__MSG_ERROR;
	f.error = &e;
	log_debug("%s %s: request %llu: %s: %s", c->peer_addr, c->id.org,
		  (unsigned long long)request_id, vg_status_wire_name(status), msg);
	conn_send(c, &f);
}

/* Sends an error that leaves the stream in an unknown state, then closes. */
static void conn_fail(struct conn *c, uint64_t request_id, int status, const char *msg)
{
	conn_send_error(c, request_id, status, "%s", msg);
	conn_close(c, msg);
}

/* A handshake that did not lead to a session, counted by why
 * (vigil_handshakes_refused_total). */
static void handshake_refused(struct relay *r, enum tls_refusal why)
{
	r->stats.handshakes_failed++;
	r->stats.handshakes_refused[why]++;
}

static void on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;
	struct relay *r = c->relay;
	switch (c->state) {
	case CONN_HANDSHAKE:
		handshake_refused(r, TLS_REFUSED_TIMEOUT);
		conn_close(c, "handshake timeout");
		break;
	case CONN_HELLO:
	case CONN_READY:
		/* Answers waiting for a peer that reads none of them (no write
		 * finished for write_timeout): it holds memory for nothing. */
		if (c->write_wait && c->paused && c->write_queue > 0) {
			if (c->writes_done == c->writes_seen) {
				log_warn("%s: %s read none of its answers for %llu ms (%zu bytes "
					 "unread); closing", c->peer_addr, c->id.org,
					 (unsigned long long)r->cfg->write_timeout_ms, c->write_queue);
				conn_close(c, "peer does not read its answers");
				break;
			}
			/* Some progress: watch the next period. */
			c->writes_seen = c->writes_done;
			uv_timer_start(&c->timer, on_timer, r->cfg->write_timeout_ms, 0);
			break;
		}
		c->write_wait = 0;
		/* Waiting on us, or for alerts, is not idleness. */
		if (c->inflight > 0 || c->sub_active)
			uv_timer_start(&c->timer, on_timer, r->cfg->idle_timeout_ms, 0);
		else
			conn_close(c, "idle timeout");
		break;
	case CONN_CLOSING:
		break;
	}
}

static void send_welcome(struct conn *c, uint64_t request_id)
{
	Vigil__V1__Identity id = VIGIL__V1__IDENTITY__INIT;
	id.organisation = c->id.org;
	id.role = (Vigil__V1__Role)c->id.role;
	id.country = c->id.country;
	id.common_name = c->id.name;
	id.cert_sha256.data = c->id.cert_sha256;
	id.cert_sha256.len = SHA256_LEN;
	Vigil__V1__Welcome w = VIGIL__V1__WELCOME__INIT;
	w.protocol_version = 1;
	w.peer = &id;
	w.software = "vigild/" VIGIL_VERSION;
	w.max_frame = (uint32_t)c->relay->cfg->max_frame;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = request_id;
	f.msg_case = VIGIL__V1__FRAME__MSG_WELCOME;
	f.welcome = &w;
	conn_send(c, &f);
}

/* Takes ownership of f. */
static void handle_frame(struct conn *c, Vigil__V1__Frame *f, size_t wire_len)
{
	uint64_t rid = f->request_id;
	if (c->state == CONN_HELLO) {
		if (f->msg_case != VIGIL__V1__FRAME__MSG_HELLO) {
			frame_free(f);
			conn_fail(c, rid, VG_EBADREQ, "the first frame must be a hello");
			return;
		}
		uint32_t v = f->hello->protocol_version;
		frame_free(f);
		if (v != 1) {
			char m[96];
			snprintf(m, sizeof(m), "unsupported protocol version %u; this relay speaks 1", v);
			conn_fail(c, rid, VG_EBADREQ, m);
			return;
		}
		c->state = CONN_READY;
		send_welcome(c, rid);
		delivery_note_peer(c);
		return;
	}
	switch (f->msg_case) {
	case VIGIL__V1__FRAME__MSG_SUBMIT:
		c->inflight++;
		submit_start(c, f, wire_len); /* takes f */
		return;
	case VIGIL__V1__FRAME__MSG_GET_CHECKPOINT:
	case VIGIL__V1__FRAME__MSG_GET_INCLUSION_PROOF:
	case VIGIL__V1__FRAME__MSG_GET_CONSISTENCY_PROOF:
	case VIGIL__V1__FRAME__MSG_GET_LEAF_HASHES:
	case VIGIL__V1__FRAME__MSG_GET_ENTRIES:
	case VIGIL__V1__FRAME__MSG_GET_CASE_STATUS:
	case VIGIL__V1__FRAME__MSG_GET_CASE_LOG:
	case VIGIL__V1__FRAME__MSG_LIST_CASES:
	case VIGIL__V1__FRAME__MSG_GET_CASE_READERS:
	case VIGIL__V1__FRAME__MSG_GET_SEAL_READERS:
	case VIGIL__V1__FRAME__MSG_GET_MEMBERS:
	case VIGIL__V1__FRAME__MSG_RESEAL:
	case VIGIL__V1__FRAME__MSG_GET_OPEN_ALERTS:
		c->inflight++;
		query_start(c, f, wire_len); /* takes f */
		return;
	case VIGIL__V1__FRAME__MSG_SUBSCRIBE:
		c->inflight++;
		delivery_subscribe(c, f); /* takes f */
		return;
	case VIGIL__V1__FRAME__MSG_DELIVERY_ACK:
		c->inflight++;
		delivery_ack(c, f); /* takes f */
		return;
	case VIGIL__V1__FRAME__MSG_HELLO:
		frame_free(f);
		conn_send_error(c, rid, VG_EBADREQ, "hello was already received");
		return;
	default:
		frame_free(f);
		conn_send_error(c, rid, VG_EBADREQ, "a client may not send this message");
		return;
	}
}

/* Whether the connection has enough in flight to stop reading: requests,
 * bytes of requests (its own budget and the relay's), or unread answers.
 * A connection with nothing in flight may always read one frame, so a
 * frame within max_frame is never stuck behind its own budget. */
static int conn_saturated(struct conn *c)
{
	struct relay *r = c->relay;
	if (c->inflight >= CONN_MAX_INFLIGHT || c->write_queue >= CONN_MAX_WRITE_QUEUE)
		return 1;
	/* What it asked and what it has not read yet: answers of requests in
	 * flight are reserved in inflight_bytes, unread ones are write_queue. */
	size_t held = c->inflight_bytes + c->write_queue;
	if (held > 0 && held >= r->cfg->max_inflight_bytes)
		return 1;
	if (r->inflight_bytes >= r->cfg->max_queue_bytes) {
		/* Even with nothing of its own in flight: what holds the
		 * relay's budget drains without any reading, and
		 * budget_resume() wakes every paused connection then. */
		r->budget_blocked = 1;
		return 1;
	}
	return 0;
}

void conn_charge(struct conn *c, size_t n)
{
	c->inflight_bytes += n;
	c->relay->inflight_bytes += n;
}

void conn_uncharge(struct conn *c, size_t n)
{
	c->inflight_bytes -= n;
	c->relay->inflight_bytes -= n;
}

/* Decodes and dispatches buffered frames until none is complete or the
 * connection has enough in flight. */
static void conn_drain_frames(struct conn *c)
{
	struct relay *r = c->relay;
	const uint8_t *p;
	size_t n;
	/* The loop may not run at all: conn_process() is re-entered from
	 * on_write() while the connection is still saturated, with
	 * CONN_MAX_INFLIGHT requests in flight.  No frame read is no error. */
	int rc = 0;
	while (conn_is_open(c) && !conn_saturated(c) &&
	       (rc = frame_reader_next(&c->fr, &p, &n)) == 1) {
		Vigil__V1__Frame *f;
		r->stats.frames_in++;
		uv_timer_start(&c->timer, on_timer, r->cfg->idle_timeout_ms, 0);
		if (frame_decode(p, n, &f) != VG_OK) {
			conn_fail(c, 0, VG_EBADREQ, "frame does not decode as vigil.v1.Frame");
			return;
		}
		handle_frame(c, f, n);
	}
	if (conn_is_open(c) && rc == VG_ETOOLARGE) {
		char m[96];
		snprintf(m, sizeof(m), "frame exceeds the limit of %zu bytes", r->cfg->max_frame);
		conn_fail(c, 0, VG_ETOOLARGE, m);
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	buf->base = malloc(TLS_READ_CHUNK);
	buf->len = buf->base ? TLS_READ_CHUNK : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void conn_read_start(struct conn *c)
{
	if (!c->reading && conn_is_open(c) && !c->relay->draining) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
			c->reading = 1;
	}
}

static void conn_read_stop(struct conn *c)
{
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

/* Gives a memory BIO's buffer back when it holds nothing: a mem BIO keeps
 * the largest buffer it ever needed (a handshake flight, a burst of
 * records), which an idle session has no use for. */
static void bio_shed(BIO *b)
{
	BUF_MEM *bm = NULL;
	if (!b || BIO_get_mem_ptr(b, &bm) != 1 || !bm || bm->length != 0 || bm->max == 0)
		return;
	BUF_MEM *fresh = BUF_MEM_new();
	if (fresh)
		BIO_set_mem_buf(b, fresh, BIO_CLOSE); /* frees the old one */
}

/*
 * What a connection waiting for its peer holds is the SSL object and its
 * session only (daemon/README.md, "Memory per connection"): called when
 * TLS wants more bytes, everything read was handled and everything TLS
 * wrote was handed to libuv.  OpenSSL's record buffers (about 17 KiB each
 * way), the frame reader's buffer and the memory BIOs' are given back and
 * allocated again, sized to what arrives, when the peer sends more.  Not
 * SSL_MODE_RELEASE_BUFFERS: it frees and allocates the buffers around
 * every record, also on a busy connection.
 */
static void conn_shed(struct conn *c)
{
	SSL_free_buffers(c->ssl); /* fails, harmlessly, while a record is partial */
	frame_reader_trim(&c->fr);
	bio_shed(c->rbio);
	bio_shed(c->wbio);
}

/* Pulls decrypted bytes into the frame reader and handles whole frames.
 * Reading from the socket stops while the connection is saturated. */
static void conn_process_frames(struct conn *c)
{
	uint8_t tmp[TLS_READ_CHUNK];
	for (;;) {
		conn_drain_frames(c);
		if (!conn_is_open(c))
			return;
		if (conn_saturated(c)) {
			c->paused = 1;
			conn_read_stop(c);
			/* Stopped on answers the peer does not read: the timer
			 * now watches for their progress. */
			if (c->write_queue > 0) {
				/* (Re)armed at every pause: a pause only follows
				 * progress, so a stalled peer is not re-armed. */
				c->write_wait = 1;
				c->writes_seen = c->writes_done;
				uv_timer_start(&c->timer, on_timer, c->relay->cfg->write_timeout_ms,
					       0);
			}
			return;
		}
		int n = SSL_read(c->ssl, tmp, sizeof(tmp));
		if (n > 0) {
			if (frame_reader_feed(&c->fr, tmp, (size_t)n) != VG_OK) {
				conn_close(c, "out of memory");
				return;
			}
			continue;
		}
		int err = SSL_get_error(c->ssl, n);
		if (err == SSL_ERROR_WANT_READ)
			break;
		if (err == SSL_ERROR_ZERO_RETURN) {
			conn_close(c, "peer closed the TLS session");
		} else {
			char e[160];
			conn_close(c, tls_last_error(e, sizeof(e)));
		}
		return;
	}
	conn_flush(c); /* TLS may have produced post-handshake messages */
	conn_shed(c);
	c->paused = 0;
	conn_read_start(c);
}

/* Never re-entered for one connection: an answer sent while its frames
 * are being handled (conn_answered) only lets the running loop go on,
 * instead of a nested call per frame (each with its read buffer on the
 * stack). */
static void conn_process(struct conn *c)
{
	if (c->processing)
		return;
	c->processing = 1;
	conn_process_frames(c);
	c->processing = 0;
}

/* The relay's bytes drained below half its budget: every connection
 * paused resumes (one paused for its own limits pauses again at once).
 * Below half, so that a full relay does not walk its connections on every
 * answer. */
static void budget_resume(struct relay *r)
{
	if (!r->budget_blocked || r->budget_resuming ||
	    r->inflight_bytes >= r->cfg->max_queue_bytes / 2)
		return;
	r->budget_blocked = 0;
	r->budget_resuming = 1;
	for (struct conn *p = r->conns; p; p = p->next)
		if (p->paused && conn_is_open(p))
			conn_process(p);
	r->budget_resuming = 0;
}

void conn_answered(struct conn *c)
{
	c->inflight--;
	if (conn_is_open(c)) {
		if (c->paused && !c->processing)
			conn_process(c);
		if (c->relay->draining && c->inflight == 0)
			conn_close(c, "relay shutting down");
	}
	budget_resume(c->relay);
}

const uint8_t *conn_cert_der(struct conn *c, size_t *len)
{
	if (!c->cert_der) {
		X509 *cert = SSL_get0_peer_certificate(c->ssl);
		int n = cert ? i2d_X509(cert, &c->cert_der) : -1;
		if (n <= 0) {
			ERR_clear_error();
			c->cert_der = NULL;
			return NULL;
		}
		c->cert_der_len = (size_t)n;
	}
	*len = c->cert_der_len;
	return c->cert_der;
}

static void on_expiry(uv_timer_t *t)
{
	struct conn *c = t->data;
	if (!conn_is_open(c))
		return;
	log_notice("%s: %s: its certificate expired; closing the session", c->peer_addr,
		   c->id.org);
	conn_close(c, "certificate expired");
}

/* Closes the session when the peer's certificate expires (ms since the
 * epoch; 0: unknown, nothing to do). */
static void conn_expiry_arm(struct conn *c, int64_t expires_ms)
{
	if (expires_ms <= 0)
		return;
	int64_t now = relay_now_ms();
	uint64_t in = expires_ms > now ? (uint64_t)(expires_ms - now) : 0;
	uv_timer_start(&c->expiry, on_expiry, in, 0);
}

static void handshake_done(struct conn *c)
{
	struct relay *r = c->relay;
	const unsigned char *alpn = NULL;
	unsigned int alpn_len = 0;
	SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
	if (alpn_len != strlen(TLS_ALPN) || memcmp(alpn, TLS_ALPN, alpn_len) != 0) {
		handshake_refused(r, TLS_REFUSED_OTHER);
		conn_close(c, "client did not negotiate ALPN " TLS_ALPN);
		return;
	}
	X509 *cert = SSL_get0_peer_certificate(c->ssl);
	char why[TLS_WHY_LEN];
	if (!cert || identity_from_cert(cert, &c->id, why, sizeof(why)) != 0) {
		handshake_refused(r, cert ? TLS_REFUSED_OTHER : TLS_REFUSED_NO_CERTIFICATE);
		conn_close(c, cert ? why : "no client certificate");
		return;
	}
	c->peer_key = X509_get_pubkey(cert);
	if (!c->peer_key) {
		handshake_refused(r, TLS_REFUSED_OTHER);
		conn_close(c, "cannot read the client certificate");
		return;
	}
	/* max_connections counts authenticated connections only; several
	 * handshakes may finish while the last slot is free. */
	if (r->n_authenticated >= r->cfg->max_connections) {
		r->stats.refused_over_cap++;
		log_warn("connection cap of %u reached; refusing %s (%llu so far)",
			 r->cfg->max_connections, c->id.org,
			 (unsigned long long)r->stats.refused_over_cap);
		conn_close(c, "connection cap reached");
		return;
	}
	/* A handshake begun before a reload was verified by the context it
	 * began with: check it as the new one would. */
	enum tls_refusal kind = TLS_REFUSED_OTHER;
	if (SSL_get_SSL_CTX(c->ssl) != r->ssl_ctx &&
	    tls_peer_check_class(r->ssl_ctx, cert, SSL_get_peer_cert_chain(c->ssl), why,
				 sizeof(why), &kind) != 0) {
		handshake_refused(r, kind);
		log_notice("%s: %s refused after the reload: %s", c->peer_addr, c->id.org, why);
		conn_close(c, why);
		return;
	}
	r->stats.handshakes_ok++;
	int resumed = SSL_session_reused(c->ssl) == 1;
	r->stats.handshakes_resumed += (uint64_t)resumed;
	pool_leave(c);
	c->authenticated = 1;
	r->n_authenticated++;
	c->state = CONN_HELLO;
	log_debug("%s: %s (%s, %s) connected%s", c->peer_addr, c->id.org,
		  identity_role_name(c->id.role), c->id.country,
		  resumed ? ", session resumed" : "");
	uv_timer_start(&c->timer, on_timer, r->cfg->idle_timeout_ms, 0);
	conn_expiry_arm(c, tls_cert_expiry_ms(cert));
}

static void conn_handshake(struct conn *c)
{
	int rc = SSL_do_handshake(c->ssl);
	if (rc == 1) {
		conn_flush(c);
		handshake_done(c);
		if (conn_is_open(c))
			conn_process(c); /* the hello may have come with the Finished */
		return;
	}
	int err = SSL_get_error(c->ssl, rc);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		conn_flush(c);
		SSL_free_buffers(c->ssl);
		bio_shed(c->rbio);
		bio_shed(c->wbio);
		return;
	}
	char e[160];
	char reason[TLS_WHY_LEN + 200];
	handshake_refused(c->relay, tls_refusal_of(c->ssl, ERR_peek_last_error()));
	snprintf(reason, sizeof(reason), "handshake failed: %s%s%s",
		 c->tls_why[0] ? c->tls_why : "", c->tls_why[0] ? ": " : "",
		 tls_last_error(e, sizeof(e)));
	/* Send the alert OpenSSL queued, then close: the state is not READY,
	 * so conn_close sends no close_notify. */
	conn_flush(c);
	conn_close(c, reason);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	if (nread < 0) {
		free(buf->base);
		if (c->state == CONN_HANDSHAKE)
			handshake_refused(c->relay, TLS_REFUSED_OTHER); /* the peer left */
		conn_close(c, nread == UV_EOF ? "peer closed the connection" : uv_strerror((int)nread));
		return;
	}
	if (nread > 0 && conn_is_open(c)) {
		if (BIO_write(c->rbio, buf->base, (int)nread) != (int)nread) {
			free(buf->base);
			conn_close(c, "out of memory");
			return;
		}
	}
	free(buf->base);
	if (!conn_is_open(c) || nread == 0)
		return;
	if (c->state == CONN_HANDSHAKE)
		conn_handshake(c);
	else
		conn_process(c);
}

static void refuse(uv_stream_t *server)
{
	/* Accept and close at once, so a flood beyond the cap cannot fill the
	 * kernel's backlog and starve legitimate peers of a quick answer. */
	uv_tcp_t *t = malloc(sizeof(*t));
	if (!t)
		return;
	if (uv_tcp_init(server->loop, t) != 0) {
		free(t);
		return;
	}
	if (uv_accept(server, (uv_stream_t *)t) == 0)
		uv_tcp_close_reset(t, (uv_close_cb)free);
	else
		uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

/* The close callback of a connection refused before it was set up: only
 * its TCP handle was initialised, and it is in no list. */
static void on_refused_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Names the peer for the log and fills the key its per-address count uses:
 * the IPv4 address (as IPv4-mapped IPv6), or an IPv6 address's /64, since
 * one host usually holds a whole /64. */
static void peer_identify(struct conn *c)
{
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	memset(c->addr_key, 0, sizeof(c->addr_key));
	memset(&ss, 0, sizeof(ss));
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			uv_ip4_name(a, host, sizeof(host));
			port = ntohs(a->sin_port);
			c->addr_key[10] = c->addr_key[11] = 0xff;
			memcpy(c->addr_key + 12, &a->sin_addr, 4);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			uv_ip6_name(a, host, sizeof(host));
			port = ntohs(a->sin6_port);
			static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
			if (memcmp(&a->sin6_addr, v4mapped, sizeof(v4mapped)) == 0)
				memcpy(c->addr_key, &a->sin6_addr, 16);
			else
				memcpy(c->addr_key, &a->sin6_addr, 8);
		}
	}
	snprintf(c->peer_addr, sizeof(c->peer_addr),
		 ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
}

/* Applies admission_decide to the pool as it is; *victim is the
 * connection to close when the answer is an eviction.  The pool is small
 * (max_handshakes), so one walk per accept is cheap. */
static enum admission admit(struct relay *r, const struct conn *c, struct conn **victim)
{
	uint64_t now = uv_now(r->loop);
	struct admission_view v = {
		.authenticated = r->n_authenticated,
		.max_connections = r->cfg->max_connections,
		.handshakes = r->n_handshakes,
		.max_handshakes = r->cfg->max_handshakes,
		.max_per_address = r->cfg->max_handshakes_per_address,
		.protect_ms = admission_protect_ms(r->cfg->handshake_timeout_ms),
	};
	struct conn *oldest_here = NULL;
	for (struct conn *p = r->pool_head; p; p = p->pool_next) {
		if (memcmp(p->addr_key, c->addr_key, sizeof(c->addr_key)) != 0)
			continue;
		if (!oldest_here)
			oldest_here = p;
		v.address_handshakes++;
	}
	if (r->pool_head)
		v.oldest_age_ms = now - r->pool_head->accepted_ms;
	if (oldest_here)
		v.address_oldest_age_ms = now - oldest_here->accepted_ms;
	enum admission a = admission_decide(&v);
	*victim = a == ADMIT_EVICT_ADDRESS ? oldest_here
		: a == ADMIT_EVICT_OLDEST ? r->pool_head
		: NULL;
	return a;
}

/* One warning on the first refusal of a kind and on every 1000th, so a
 * flood cannot flood the log. */
static void log_refusal(struct relay *r, enum admission a, const char *peer)
{
	uint64_t n = a == REFUSE_CONNECTIONS ? r->stats.refused_over_cap
					     : r->stats.refused_handshakes;
	if (n != 1 && n % 1000 != 0)
		return;
	if (a == REFUSE_CONNECTIONS)
		log_warn("connection cap of %u reached; refusing (%llu so far)",
			 r->cfg->max_connections, (unsigned long long)n);
	else
		log_warn("%s: %s (%u handshaking, %u per address); refusing (%llu so far)", peer,
			 admission_name(a), r->cfg->max_handshakes,
			 r->cfg->max_handshakes_per_address, (unsigned long long)n);
}

void conn_accept(struct relay *r)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		refuse((uv_stream_t *)&r->listener);
		return;
	}
	if (uv_tcp_init(r->loop, &c->tcp) != 0) {
		free(c);
		refuse((uv_stream_t *)&r->listener);
		return;
	}
	c->tcp.data = c;
	if (uv_accept((uv_stream_t *)&r->listener, (uv_stream_t *)&c->tcp) != 0) {
		uv_close((uv_handle_t *)&c->tcp, on_refused_closed);
		return;
	}
	c->relay = r;
	peer_identify(c);
	struct conn *victim;
	enum admission a = admit(r, c, &victim);
	if (a == REFUSE_CONNECTIONS || a == REFUSE_ADDRESS || a == REFUSE_POOL) {
		/* A reset costs nothing and tells the peer at once. */
		if (a == REFUSE_CONNECTIONS)
			r->stats.refused_over_cap++;
		else
			r->stats.refused_handshakes++;
		log_refusal(r, a, c->peer_addr);
		uv_tcp_close_reset(&c->tcp, on_refused_closed);
		return;
	}
	if (victim) {
		r->stats.handshakes_evicted++;
		if (r->stats.handshakes_evicted == 1 || r->stats.handshakes_evicted % 1000 == 0)
			log_warn("%s (%u handshaking, %u per address); %llu closed so far",
				 admission_name(a), r->cfg->max_handshakes,
				 r->cfg->max_handshakes_per_address,
				 (unsigned long long)r->stats.handshakes_evicted);
		conn_close(victim, a == ADMIT_EVICT_ADDRESS
					   ? "pushed out: too many handshakes from this address"
					   : "pushed out: handshake pool full");
	}
	frame_reader_init(&c->fr, r->cfg->max_frame);
	c->handles_open = 1;
	uv_timer_init(r->loop, &c->timer);
	c->timer.data = c;
	uv_timer_init(r->loop, &c->expiry);
	c->expiry.data = c;
	c->handles_open = 3;
	c->serial = ++r->conn_serial;
	/* Linked before anything can fail, so the one close path frees it. */
	c->next = r->conns;
	if (r->conns)
		r->conns->prev = c;
	r->conns = c;
	r->n_conns++;
	c->state = CONN_HANDSHAKE;
	c->accepted_ms = uv_now(r->loop);
	pool_join(c);
	r->stats.accepted++;
	uv_tcp_nodelay(&c->tcp, 1);
	c->ssl = SSL_new(r->ssl_ctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (!c->ssl || !c->rbio || !c->wbio) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		c->rbio = c->wbio = NULL;
		conn_close(c, "out of memory");
		return;
	}
	BIO_set_mem_eof_return(c->rbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_app_data(c->ssl, c->tls_why);
	SSL_set_accept_state(c->ssl);
	uv_timer_start(&c->timer, on_timer, r->cfg->handshake_timeout_ms, 0);
	conn_read_start(c);
}
