#define _GNU_SOURCE /* ppoll */
#include "tests/bench/bconn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "proto/status.h"

#define BCONN_MAX_FRAME (16u << 20)
#define BCONN_WRITE_CHUNK 16384

int64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int tls_fail(struct bconn *c, const char *what, int ret)
{
	int e = SSL_get_error(c->ssl, ret);
	unsigned long q = ERR_get_error();
	if (q)
		snprintf(c->err, sizeof(c->err), "%s: %s", what, ERR_reason_error_string(q));
	else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0))
		snprintf(c->err, sizeof(c->err), "%s: the relay closed the connection", what);
	else
		snprintf(c->err, sizeof(c->err), "%s: %s", what, strerror(errno));
	ERR_clear_error();
	return -1;
}

int bconn_poll(struct bconn *c, int64_t timeout_ns)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	if (c->want_write || bconn_unsent(c))
		p.events |= POLLOUT;
	struct timespec ts, *tp = NULL;
	if (timeout_ns >= 0) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000);
		ts.tv_nsec = (long)(timeout_ns % 1000000000);
		tp = &ts;
	}
	if (ppoll(&p, 1, tp, NULL) < 0 && errno != EINTR) {
		snprintf(c->err, sizeof(c->err), "poll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

size_t bconn_unsent(const struct bconn *c)
{
	return c->out_len - c->out_off;
}

int bconn_queue(struct bconn *c, const uint8_t *frame, size_t len)
{
	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + len > c->out_cap) {
		/* Compact first: what was written is never needed again. */
		if (c->out_off > 0) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		size_t cap = c->out_cap ? c->out_cap : 65536;
		while (cap < c->out_len + len)
			cap *= 2;
		if (cap != c->out_cap) {
			uint8_t *nb = realloc(c->out, cap);
			if (!nb) {
				snprintf(c->err, sizeof(c->err), "out of memory");
				return -1;
			}
			c->out = nb;
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_len, frame, len);
	c->out_len += len;
	return 0;
}

int bconn_queue_msg(struct bconn *c, Vigil__V1__Frame *f, uint64_t request_id)
{
	uint8_t *buf;
	size_t len;
	f->request_id = request_id;
	if (frame_encode(f, BCONN_MAX_FRAME, &buf, &len) != VG_OK) {
		snprintf(c->err, sizeof(c->err), "cannot encode a frame");
		return -1;
	}
	int rc = bconn_queue(c, buf, len);
	free(buf);
	return rc;
}

int bconn_flush(struct bconn *c)
{
	c->want_write = 0;
	while (c->out_off < c->out_len) {
		size_t n = c->out_len - c->out_off;
		if (n > BCONN_WRITE_CHUNK)
			n = BCONN_WRITE_CHUNK;
		int r = SSL_write(c->ssl, c->out + c->out_off, (int)n);
		if (r > 0) {
			c->out_off += (size_t)r;
			continue;
		}
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_WRITE) {
			c->want_write = 1;
			return 0;
		}
		if (e == SSL_ERROR_WANT_READ)
			return 0;
		return tls_fail(c, "write", r);
	}
	return 0;
}

int bconn_fill(struct bconn *c)
{
	uint8_t buf[65536];
	for (;;) {
		int r = SSL_read(c->ssl, buf, sizeof(buf));
		if (r > 0) {
			if (frame_reader_feed(&c->rd, buf, (size_t)r) != VG_OK) {
				snprintf(c->err, sizeof(c->err), "out of memory");
				return -1;
			}
			continue;
		}
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ)
			return 0;
		if (e == SSL_ERROR_WANT_WRITE) {
			c->want_write = 1;
			return 0;
		}
		return tls_fail(c, "read", r);
	}
}

int bconn_next(struct bconn *c, Vigil__V1__Frame **f)
{
	const uint8_t *p;
	size_t n;
	int rc = frame_reader_next(&c->rd, &p, &n);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		snprintf(c->err, sizeof(c->err), "the relay sent a frame over %u bytes",
			 BCONN_MAX_FRAME);
		return -1;
	}
	if (frame_decode(p, n, f) != VG_OK) {
		snprintf(c->err, sizeof(c->err), "the relay sent a frame that does not decode");
		return -1;
	}
	return 1;
}

int bconn_recv(struct bconn *c, Vigil__V1__Frame **f, int64_t deadline_ns)
{
	for (;;) {
		int rc = bconn_next(c, f);
		if (rc != 0)
			return rc < 0 ? -1 : 0;
		if (bconn_flush(c) != 0)
			return -1;
		int64_t left = deadline_ns - bench_now_ns();
		if (left <= 0) {
			snprintf(c->err, sizeof(c->err), "timed out waiting for the relay");
			return -1;
		}
		if (bconn_poll(c, left) != 0 || bconn_fill(c) != 0)
			return -1;
	}
}

int bconn_open(struct bconn *c, const struct bident *id, int port, int timeout_ms)
{
	memset(c, 0, sizeof(*c));
	c->next_id = 1;
	frame_reader_init(&c->rd, BCONN_MAX_FRAME);
	int64_t deadline = bench_now_ns() + (int64_t)timeout_ms * 1000000;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(c->err, sizeof(c->err), "socket: %s", strerror(errno));
		return -1;
	}
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		snprintf(c->err, sizeof(c->err), "connect to port %d: %s", port, strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	c->ssl = SSL_new(id->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_set1_host(c->ssl, "localhost") != 1) {
		snprintf(c->err, sizeof(c->err), "cannot create the TLS connection");
		return -1;
	}
	for (;;) {
		int r = SSL_connect(c->ssl);
		if (r == 1)
			break;
		int e = SSL_get_error(c->ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return tls_fail(c, "handshake", r);
		int64_t left = deadline - bench_now_ns();
		if (left <= 0) {
			snprintf(c->err, sizeof(c->err), "handshake timed out");
			return -1;
		}
		c->want_write = e == SSL_ERROR_WANT_WRITE;
		if (bconn_poll(c, left) != 0)
			return -1;
	}
	c->want_write = 0;

	Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
	h.protocol_version = 1;
	h.software = "vigil-bench";
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_HELLO;
	f.hello = &h;
	Vigil__V1__Frame *w = NULL;
	if (bconn_queue_msg(c, &f, 0) != 0 || bconn_recv(c, &w, deadline) != 0)
		return -1;
	int ok = w->msg_case == VIGIL__V1__FRAME__MSG_WELCOME;
	if (!ok)
		snprintf(c->err, sizeof(c->err), "hello answered with message %d%s%s",
			 (int)w->msg_case, w->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? ": " : "",
			 w->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? w->error->message : "");
	frame_free(w);
	return ok ? 0 : -1;
}

void bconn_close(struct bconn *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->fd > 0)
		close(c->fd);
	frame_reader_free(&c->rd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}
