/*
 * bconn.h - one benchmark connection to a relay: TCP on loopback, TLS 1.3
 * on a non-blocking socket, frames in both directions.
 *
 * Sending is two steps: bconn_queue() appends an encoded frame to the
 * connection's output buffer, bconn_flush() hands as much of it to TLS as
 * the socket takes.  Receiving: bconn_fill() reads everything TLS has,
 * bconn_next() decodes the next whole frame.  bconn_poll() waits for the
 * socket (with nanosecond timeouts, so a paced sender keeps its schedule).
 * bconn_recv() combines them for request-response use.
 *
 * Every function returns 0 (or 1 for "a frame"), or -1 with c->err set;
 * after -1 the connection is unusable.  Frames returned are the caller's
 * (frame_free()).
 */
#ifndef VIGIL_TESTS_BENCH_BCONN_H
#define VIGIL_TESTS_BENCH_BCONN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "proto/frame.h"
#include "tests/bench/bident.h"

struct bconn {
	int fd;
	SSL *ssl;
	struct frame_reader rd;
	uint8_t *out;             /* plaintext not yet taken by SSL_write */
	size_t out_len, out_off, out_cap;
	int want_write;           /* the last TLS call needs the socket writable */
	uint64_t next_id;         /* next request id, for the caller to use */
	char err[256];
};

/* Connects to 127.0.0.1:port, completes the handshake and Hello/Welcome
 * within timeout_ms. */
int bconn_open(struct bconn *c, const struct bident *id, int port, int timeout_ms);
void bconn_close(struct bconn *c);

int bconn_queue(struct bconn *c, const uint8_t *frame, size_t len);
/* Encodes f with request_id and queues it. */
int bconn_queue_msg(struct bconn *c, Vigil__V1__Frame *f, uint64_t request_id);
int bconn_flush(struct bconn *c);
/* Bytes queued but not yet written. */
size_t bconn_unsent(const struct bconn *c);
int bconn_fill(struct bconn *c);
/* 1 and *f when a whole frame is buffered, 0 when not. */
int bconn_next(struct bconn *c, Vigil__V1__Frame **f);
/* Waits up to timeout_ns (negative: forever) for the socket to be readable,
 * or writable when output is pending.  0 (also on timeout) or -1. */
int bconn_poll(struct bconn *c, int64_t timeout_ns);
/* Flushes and waits for the next frame until deadline (CLOCK_MONOTONIC ns). */
int bconn_recv(struct bconn *c, Vigil__V1__Frame **f, int64_t deadline_ns);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);

#endif
