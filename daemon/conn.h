/*
 * conn.h - one client connection: TCP (libuv) -> TLS (OpenSSL on memory
 * BIOs) -> frames -> dispatch.
 *
 * Lifetime: a conn is created on accept and owned by the relay's list.  It
 * embeds three handles (the TCP stream, a timer, the certificate's expiry
 * timer) and counts the jobs
 * (submissions being verified or written) that point to it.  conn_close()
 * starts closing; the memory is freed only when all its handles' close
 * callbacks have run and the last job has released it (conn_release()), so
 * a job that finishes after its connection closed finds valid memory and
 * just drops its answer.
 *
 * States: HANDSHAKE (timer = handshake_timeout) -> HELLO (expects Hello) ->
 * READY (timer = idle_timeout, restarted by every frame) -> CLOSING.
 *
 * Admission (admission.h): while in HANDSHAKE a connection is in the
 * relay's handshake pool (oldest first), from which the oldest may be
 * closed to make room; from HELLO on it is authenticated and counts
 * against max_connections until it is freed.
 */
#ifndef VIGIL_DAEMON_CONN_H
#define VIGIL_DAEMON_CONN_H

#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "daemon/identity.h"
#include "daemon/tls.h"
#include "proto/frame.h"

struct relay;

#define DELIVERY_DESK_MAX 32           /* a desk name's length (delivery.h) */

enum conn_state { CONN_HANDSHAKE, CONN_HELLO, CONN_READY, CONN_CLOSING };

/* Submissions a connection may have in flight before the relay stops
 * reading from it (backpressure on a pipelining client). */
#define CONN_MAX_INFLIGHT 256
/* Bytes queued for writing before reading pauses until the peer catches up. */
#define CONN_MAX_WRITE_QUEUE (4u * 1024 * 1024)

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_timer_t expiry;             /* fires when the peer's certificate expires */
	uint64_t serial;               /* the relay's count of accepted connections */
	struct relay *relay;
	struct conn *prev, *next;      /* relay's list */

	SSL *ssl;
	BIO *rbio;                     /* network -> TLS */
	BIO *wbio;                     /* TLS -> network */
	char tls_why[TLS_WHY_LEN];     /* set by the verify callback */

	enum conn_state state;
	char peer_addr[64];
	struct identity id;            /* valid from HELLO on */
	EVP_PKEY *peer_key;            /* reference, from HELLO on */
	struct record_verifier *verifier; /* peer_key's, made at the first Submit
					   * (submit.c; idle connections pay
					   * nothing); read by the thread pool */
	uint8_t *cert_der;             /* peer certificate, DER: conn_cert_der() */
	size_t cert_der_len;

	struct frame_reader fr;
	unsigned inflight;             /* submissions not yet answered */
	size_t inflight_bytes;         /* their frames' bytes (conn_charge) */
	unsigned jobs;                 /* references held by jobs */
	int handles_open;
	int reading;
	int paused;                    /* stopped reading for backpressure */
	int flush_queued;              /* on relay->flush_list (conn_cork) */
	struct conn *flush_next;
	int processing;                /* inside conn_process(): answers given meanwhile
					* do not re-enter it (its loop goes on) */
	size_t write_queue;            /* bytes handed to uv_write not yet done */
	uint64_t writes_done;          /* uv_writes finished */
	uint64_t writes_seen;          /* writes_done when the write timer was set */
	int write_wait;                /* the timer runs for write_timeout: paused on
					* unread answers */

	/* Admission (admission.h). */
	struct conn *pool_prev, *pool_next; /* relay's handshake pool, oldest first */
	int in_pool;                   /* in HANDSHAKE and linked in the pool */
	int authenticated;             /* counted in relay->n_authenticated */
	uint64_t accepted_ms;          /* uv_now() at accept */
	uint8_t addr_key[16];          /* the peer's address (IPv6: its /64) */

	/* Alert delivery (delivery.h). */
	int sub_active;                /* subscribed, and not lagging */
	int sub_replaying;             /* a replay page is being read */
	uint64_t sub_request_id;       /* the Subscribe's id, on every delivery */
	uint64_t sub_next;             /* the next position to look at */
	uint64_t sub_acked;            /* the highest position acknowledged */
	/* Whose delivery position: the organisation ("ORG", the default desk)
	 * or one of its desks ("ORG/DESK"); set by Subscribe. */
	char sub_cursor[RECORD_ORG_MAX + 1 + DELIVERY_DESK_MAX + 1];
	/* Acknowledgements, coalesced: at most one DeliveryAck writer job per
	 * connection (counted in inflight while it is queued); acks that come
	 * meanwhile only raise ack_want, which one job carries afterwards. */
	int ack_busy;                  /* a DeliveryAck job is with the writer */
	int ack_dirty;                 /* ack_want is waiting for it to finish */
	uint64_t ack_want;             /* the highest position waiting */
};

/* Accepts one connection from the relay's listener, or refuses it (reset)
 * by the admission rule (admission.h), closing the connection it pushes
 * out, if any. */
void conn_accept(struct relay *r);

/*
 * Sends a frame (takes nothing: f stays the caller's).  A failure to encode
 * closes the connection.
 */
void conn_send(struct conn *c, const Vigil__V1__Frame *f);

/*
 * Between conn_cork() and conn_uncork() (nested: the outermost counts),
 * conn_send() encrypts each answer at once but leaves its bytes in the TLS
 * buffer; conn_uncork() writes each connection's bytes in one write.  The
 * writer's batches are handed back this way (relay.c), so that a batch of
 * 200 receipts to one client costs one write and one wake-up of the
 * client, not 200.  Loop thread.
 */
void conn_cork(struct relay *r);
void conn_uncork(struct relay *r);

/* Sends an Error frame for status with a formatted message. */
void conn_send_error(struct conn *c, uint64_t request_id, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * The peer's certificate, DER-encoded, as the writer stores it with a
 * record (from HELLO on).  Encoded at the first call: a session that never
 * submits holds only OpenSSL's parsed copy.  NULL when out of memory; else
 * valid until the connection is freed.
 */
const uint8_t *conn_cert_der(struct conn *c, size_t *len);

/* Starts closing with a reason for the log; safe to call more than once. */
void conn_close(struct conn *c, const char *reason);

/* Jobs: take a reference before handing c to another thread, release it on
 * the loop thread when done.  conn_answered() marks one in-flight request
 * finished (and resumes reading if it was paused). */
void conn_hold(struct conn *c);
void conn_release(struct conn *c);
void conn_answered(struct conn *c);

/*
 * The byte budgets (daemon/README.md, "Connection states and guards"): a
 * request that keeps its frame past its dispatch (a Submit, a read query)
 * charges the frame's wire size and a reservation for its answer
 * (CONN_RESERVE_* or the query's bound) to its connection and to the
 * relay, and gives both back before its answer is sent and
 * conn_answered(); the answer is then counted as unwritten bytes
 * (write_queue) until the peer has read it.  Reading from a connection
 * stops while its charge and unwritten answers together are at [listen]
 * max_inflight_bytes, or the relay's charge at [writer] max_queue_bytes;
 * one frame always passes when nothing is in flight or unwritten on the
 * connection, so a frame within max_frame is never stuck.
 */
#define CONN_RESERVE_SMALL 4096u          /* a receipt, a proof, a checkpoint */
#define CONN_RESERVE_MAX (4u << 20)       /* the largest answer (conn_send's limit) */
void conn_charge(struct conn *c, size_t n);
void conn_uncharge(struct conn *c, size_t n);

static inline int conn_is_open(const struct conn *c)
{
	return c->state != CONN_CLOSING;
}

#endif
