/*
 * wire.c - frames over the TLS connection: write one Frame, read the next
 * one, and turn OpenSSL I/O failures into vigil statuses.
 *
 * A failure that leaves the byte stream in an unknown state (a closed or
 * reset connection, a TLS alert, an oversized or undecodable frame, a write
 * that timed out half-way) ends the connection: the client is marked dead
 * and every later call reports that first failure.  A read that times out
 * does not: OpenSSL and the frame reader keep what they had, and the next
 * read continues where this one stopped.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>

#include "client/internal.h"
#include "proto/status.h"

/* ---- SIGPIPE ------------------------------------------------------------------
 * A write to a connection the relay has closed raises SIGPIPE, which kills a
 * process that did not ignore it.  A library must not change the process's
 * signal dispositions, so we block SIGPIPE in this thread around each
 * OpenSSL call and discard a SIGPIPE that call raised (the approach of
 * libpq).  The write then fails with EPIPE and becomes an error code.
 */
static void sigpipe_set(sigset_t *s)
{
	sigemptyset(s);
	sigaddset(s, SIGPIPE);
}

void vigil__sigpipe_block(struct vigil__sigpipe *g)
{
	sigset_t pipe_set, old, pending;
	sigpipe_set(&pipe_set);
	g->was_blocked = 1;
	g->was_pending = 1;
	if (pthread_sigmask(SIG_BLOCK, &pipe_set, &old) != 0)
		return;
	g->was_blocked = sigismember(&old, SIGPIPE) == 1;
	if (sigpending(&pending) == 0)
		g->was_pending = sigismember(&pending, SIGPIPE) == 1;
}

void vigil__sigpipe_restore(const struct vigil__sigpipe *g)
{
	sigset_t pipe_set, pending;
	sigpipe_set(&pipe_set);
	if (!g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
		static const struct timespec zero = { 0, 0 };
		int saved = errno;
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
		errno = saved;
	}
	if (!g->was_blocked)
		pthread_sigmask(SIG_UNBLOCK, &pipe_set, NULL);
}

/* ---- failures -------------------------------------------------------------------- */

int vigil__wire_kill(struct vigil_client *c, const struct vigil_error *err, int status)
{
	if (!c->dead) {
		c->dead = status;
		vigil__error_copy_text(c->dead_why, sizeof(c->dead_why),
				       err ? err->message : vigil_strerror(status));
	}
	return status;
}

int vigil__wire_usable(const struct vigil_client *c, struct vigil_error *err)
{
	if (!c->dead)
		return VIGIL_OK;
	return vigil__error_set(err, c->dead, "connection to the relay is unusable after an "
				"earlier error: %s", c->dead_why);
}

static int timed_out(const struct vigil_client *c, const char *doing, struct vigil_error *err)
{
	ERR_clear_error();
	return vigil__error_set(err, VIGIL_E_CONNECT,
				"relay %s: timed out after %d ms while we were %s", c->where,
				c->timeout_ms, doing);
}

static int peer_closed(struct vigil_client *c, const char *doing, struct vigil_error *err)
{
	c->peer_closed = 1;
	return vigil__error_set(err, VIGIL_E_PROTOCOL,
				"relay %s: closed the connection while we were %s", c->where, doing);
}

int vigil__wire_ssl_failure(struct vigil_client *c, int ret, int errno_saved,
			    const char *doing, struct vigil_error *err)
{
	int e = SSL_get_error(c->ssl, ret);
	switch (e) {
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return peer_closed(c, doing, err);
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		/* A blocking socket only asks to retry when SO_RCVTIMEO or
		 * SO_SNDTIMEO expired. */
		return timed_out(c, doing, err);
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() != 0)
			break;
		if (errno_saved == EAGAIN || errno_saved == EWOULDBLOCK)
			return timed_out(c, doing, err);
		if (errno_saved == 0)
			return peer_closed(c, doing, err);
		c->peer_closed = 1;
		return vigil__error_set(err, VIGIL_E_PROTOCOL,
					"relay %s: connection lost while we were %s: %s", c->where,
					doing, strerror(errno_saved));
	case SSL_ERROR_SSL: {
		unsigned long l = ERR_peek_last_error();
		if (ERR_GET_LIB(l) == ERR_LIB_SSL &&
		    ERR_GET_REASON(l) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			return peer_closed(c, doing, err);
		}
		break;
	}
	default:
		break;
	}
	return vigil__error_ssl(err, VIGIL_E_TLS, "relay %s: TLS failure while we were %s",
				c->where, doing);
}

/* ---- frames ------------------------------------------------------------------- */

int vigil__wire_send(struct vigil_client *c, const Vigil__V1__Frame *f, struct vigil_error *err)
{
	int rc = vigil__wire_usable(c, err);
	if (rc != VIGIL_OK)
		return rc;
	uint8_t *buf = NULL;
	size_t len = 0;
	rc = frame_encode(f, c->send_max, &buf, &len);
	if (rc == VG_ETOOLARGE)
		return vigil__error_set(err, VIGIL_E_USAGE,
					"frame of %zu bytes is over the relay's limit of %zu bytes",
					vigil__v1__frame__get_packed_size(f), c->send_max);
	if (rc != VG_OK)
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory encoding a frame");

	struct vigil__sigpipe g;
	size_t written = 0;
	vigil__sigpipe_block(&g);
	ERR_clear_error();
	int ok = SSL_write_ex(c->ssl, buf, len, &written);
	int errno_saved = errno;
	vigil__sigpipe_restore(&g);
	free(buf);
	if (ok == 1)
		return VIGIL_OK;
	/* A write that failed or timed out half-way has left part of a frame
	 * on the wire: the stream cannot be resumed. */
	rc = vigil__wire_ssl_failure(c, 0, errno_saved, "sending", err);
	return vigil__wire_kill(c, err, rc);
}

/* The next complete frame the reader holds: 1 with *out, 0 when it needs
 * more bytes, or a status (the connection then ended). */
static int take_frame(struct vigil_client *c, Vigil__V1__Frame **out, const char *waiting_for,
		      struct vigil_error *err)
{
	const uint8_t *payload;
	size_t n;
	int r = frame_reader_next(&c->reader, &payload, &n);
	if (r == VG_ETOOLARGE) {
		int rc = vigil__error_set(err, VIGIL_E_PROTOCOL,
					  "relay %s: sent a frame over %u bytes while we were %s",
					  c->where, VIGIL_RECV_MAX, waiting_for);
		return vigil__wire_kill(c, err, rc);
	}
	if (r != 1)
		return 0;
	if (frame_decode(payload, n, out) != VG_OK) {
		int rc = vigil__error_set(err, VIGIL_E_PROTOCOL,
					  "relay %s: sent an undecodable frame while we were %s",
					  c->where, waiting_for);
		return vigil__wire_kill(c, err, rc);
	}
	return 1;
}

/* One read from TLS into the frame reader: VIGIL_OK, VIGIL_E_CONNECT for a
 * timeout (resumable), or a status that ended the connection. */
static int read_some(struct vigil_client *c, const char *waiting_for, struct vigil_error *err)
{
	uint8_t buf[16384];
	size_t got = 0;
	struct vigil__sigpipe g;
	vigil__sigpipe_block(&g);
	ERR_clear_error();
	int ok = SSL_read_ex(c->ssl, buf, sizeof(buf), &got);
	int errno_saved = errno;
	vigil__sigpipe_restore(&g);
	if (ok != 1) {
		int rc = vigil__wire_ssl_failure(c, 0, errno_saved, waiting_for, err);
		if (rc == VIGIL_E_CONNECT)
			return rc; /* timeout: resumable */
		return vigil__wire_kill(c, err, rc);
	}
	if (frame_reader_feed(&c->reader, buf, got) != VG_OK) {
		int rc = vigil__error_set(err, VIGIL_E_NOMEM, "out of memory reading a frame");
		return vigil__wire_kill(c, err, rc);
	}
	return VIGIL_OK;
}

int vigil__wire_recv(struct vigil_client *c, Vigil__V1__Frame **out, const char *waiting_for,
		     struct vigil_error *err)
{
	int rc = vigil__wire_usable(c, err);
	if (rc != VIGIL_OK)
		return rc;
	for (;;) {
		rc = take_frame(c, out, waiting_for, err);
		if (rc == 1)
			return VIGIL_OK;
		if (rc != 0)
			return rc;
		if ((rc = read_some(c, waiting_for, err)) != VIGIL_OK)
			return rc;
	}
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vigil__wire_recv_wait(struct vigil_client *c, Vigil__V1__Frame **out,
			  const char *waiting_for, int wait_ms, struct vigil_error *err)
{
	int rc = vigil__wire_usable(c, err);
	if (rc != VIGIL_OK)
		return rc;
	int64_t deadline = mono_ms() + (wait_ms > 0 ? wait_ms : 0);
	for (;;) {
		rc = take_frame(c, out, waiting_for, err);
		if (rc == 1)
			return VIGIL_OK;
		if (rc != 0)
			return rc;
		/* Bytes OpenSSL already holds never show on the socket, and a
		 * frame that has begun is finished with the connection's own
		 * timeout. */
		int partial = frame_reader_pending(&c->reader) > 0;
		if (!partial && !SSL_has_pending(c->ssl)) {
			int64_t left = deadline - mono_ms();
			struct pollfd p = { .fd = c->fd, .events = POLLIN };
			int r = poll(&p, 1, left > 0 ? (int)left : 0);
			if (r == 0 || (r < 0 && errno == EINTR))
				return VIGIL__NOTHING;
			if (r < 0) {
				rc = vigil__error_set(err, VIGIL_E_PROTOCOL,
						      "relay %s: cannot wait for the connection "
						      "while we were %s: %s", c->where, waiting_for,
						      strerror(errno));
				return vigil__wire_kill(c, err, rc);
			}
		}
		/* Without auto-retry a TLS record that carries no application
		 * data (a key update) returns at once instead of blocking for
		 * data that may not come before the deadline. */
		int64_t t0 = mono_ms();
		SSL_clear_mode(c->ssl, SSL_MODE_AUTO_RETRY);
		rc = read_some(c, waiting_for, err);
		SSL_set_mode(c->ssl, SSL_MODE_AUTO_RETRY);
		/* Such a record, or a read cut short by a signal, is nothing
		 * yet; a read that waited the connection's whole timeout is a
		 * relay that stalled half-way through a record. */
		if (rc == VIGIL_E_CONNECT && mono_ms() - t0 < c->timeout_ms)
			continue;
		if (rc != VIGIL_OK)
			return rc;
	}
}
