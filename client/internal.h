/*
 * internal.h - libvigil's private header: the client object and the
 * functions the library's files share.
 *
 * Internal non-static functions are named vigil__<file>_<what> (libuv's
 * convention) and are hidden from the shared library; only the vigil_*
 * functions of include/vigil.h are exported.
 *
 * A vigil_client owns its SSL_CTX, SSL, socket, frame reader and the copies
 * of every submission that is still waiting for its answer (the record and
 * signature are needed to recompute the receipt's leaf hash), and the
 * answers that arrived before the caller asked for them.
 */
#ifndef VIGIL_CLIENT_INTERNAL_H
#define VIGIL_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "client/include/vigil.h"
#include "proto/frame.h"
#include "proto/merkle.h"
#include "proto/sealed.h"

#define VIGIL_ALPN "vigil/1"
#define VIGIL_PROTOCOL_VERSION 1u
/* Largest answer frame we accept from a relay. */
#define VIGIL_RECV_MAX (16u * 1024u * 1024u)

/* The answer to a submission that arrived while we waited for another. */
struct vigil__answer {
	int status;
	struct vigil_receipt receipt;
	struct vigil_error error;
};

/* A submission sent and not yet returned to the caller. */
struct vigil__pending {
	uint64_t request_id;
	uint8_t *record;
	size_t record_len;
	uint8_t *sig;
	size_t sig_len;
	uint8_t record_id[VIGIL_RECORD_ID_LEN];
	int have_record_id;          /* 0 when the record bytes carry no valid id */
	/* The answer, once it arrived and until it is returned: malloc()ed
	 * only then, as a receipt is several KiB and thousands of
	 * submissions may be in flight. */
	struct vigil__answer *answer;
};

/* Log requests whose caller gave up waiting (a timeout): their answers
 * are dropped when they come.  More than this many ends the connection. */
#define VIGIL_ABANDONED_MAX 16

/* Request ids of DeliveryAcks have this bit set and no other request's
 * have: the relay answers an acknowledgement only to refuse it, so its
 * Error is recognised by the id alone, without remembering every ack. */
#define VIGIL__ACK_ID_BIT (UINT64_C(1) << 63)

/* A frame of the subscription (or an ack's refusal) that arrived while the
 * library waited for another answer, kept for vigil_next_alert(). */
struct vigil__kept {
	Vigil__V1__Frame *frame;
	struct vigil__kept *next;
};

/* The subscription of a connection (alert.c). */
struct vigil__sub {
	int active;                  /* subscribed and not ended (Lagging, Error) */
	uint64_t request_id;         /* the Subscribe's id; 0 before the first */
	uint64_t last;               /* highest position returned, or the start */
	uint64_t next_ack;           /* counter of DeliveryAck request ids */
	struct vigil__kept *head, *tail;
	size_t n_kept;
};

/* The bytes of a relay's "host:port" and its NUL. */
#define VIGIL__WHERE_MAX 300

struct vigil_client {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	char where[VIGIL__WHERE_MAX]; /* "host:port" ("[v6]:port"), for messages */
	int timeout_ms;
	int dead;                    /* status that ended the connection, 0 while usable */
	int peer_closed;             /* the relay closed or reset the connection */
	char dead_why[512];
	uint64_t next_request_id;
	size_t send_max;             /* the relay's max_frame */
	struct frame_reader reader;
	EVP_PKEY *key;               /* our private key, owned by ctx */
	struct vigil_identity self;  /* our certificate */
	struct vigil_identity relay; /* the relay's certificate */
	struct vigil_welcome welcome;
	struct vigil__pending *pending;
	size_t n_pending;
	size_t cap_pending;
	uint64_t abandoned[VIGIL_ABANDONED_MAX];
	size_t n_abandoned;
	struct vigil_checkpoint_key ckey; /* verifies every checkpoint */
	EVP_PKEY *relay_key;         /* the relay's certificate's public key (alerts) */
	struct vigil__sub sub;       /* alert delivery */
	/* Sealed text (seal.c). */
	X509 *enc_cert;              /* our encryption certificate, NULL when none */
	EVP_PKEY *enc_key;           /* its key */
	uint8_t enc_sha256[SHA256_LEN]; /* SHA-256 of its DER */
	struct vigil_member *members; /* the member list, fetched once (vigil_members) */
	size_t n_members;
	X509 **member_enc;           /* each member's encryption certificate, or NULL */
	uint8_t (*member_enc_sha256)[SHA256_LEN]; /* and its SHA-256 (zero when none) */
	int have_members;
	/* Session resumption (tls.c): which saved session this connection
	 * may use and replaces, and whether its handshake resumed one. */
	uint8_t session_key[SHA256_LEN];
	int resumed;
	size_t relay_index;          /* in the relay list (conn.c), 0 for one relay */
};

/* error.c */
/* Fills err (may be NULL) and returns status. */
int vigil__error_set(struct vigil_error *err, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Puts "PREFIX: " before err's message, keeping its status and relay code;
 * returns the status. */
int vigil__error_prefix(struct vigil_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Like vigil__error_set, with ": <OpenSSL reason>" appended when the
 * OpenSSL error queue has one; clears the queue. */
int vigil__error_ssl(struct vigil_error *err, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* VIGIL_E_REFUSED from a wire Error (code and relay message). */
int vigil__error_refused(struct vigil_error *err, int code, const char *message);
/* Copies src into dst (n bytes), replacing control characters. */
void vigil__error_copy_text(char *dst, size_t n, const char *src);

/* relays.c */
/* One relay of a list: where to connect. */
struct vigil__relay {
	char host[256];              /* a name or an IP literal, without brackets */
	char port[64];               /* decimal, or the default port (a service name) */
};
/* Parses a relay list (vigil.h, "several relays") into out (max entries);
 * elements without a port get default_port.  VIGIL_E_USAGE on a syntax
 * error. */
int vigil__relays_parse(const char *relays, const char *default_port, struct vigil__relay *out,
			size_t max, size_t *n, struct vigil_error *err);

/* net.c */
/* TCP connection to host:port with a deadline of timeout_ms; *fd is a
 * blocking socket with SO_RCVTIMEO / SO_SNDTIMEO set to timeout_ms. */
int vigil__net_connect(const char *host, const char *port, int timeout_ms, int *fd,
		       struct vigil_error *err);

/* tls.c */
/* Client SSL_CTX: TLS 1.3 only, our certificate and key, the CA. */
int vigil__tls_ctx_new(const struct vigil_options *o, SSL_CTX **out, struct vigil_error *err);
/* Subject fields and DER hash of a certificate. */
int vigil__tls_identity(X509 *cert, struct vigil_identity *id);
/* Handshake on fd: SNI, host name or IP check, ALPN; offers the session
 * saved for c->session_key, if any (and takes it: a ticket is used once). */
int vigil__tls_handshake(struct vigil_client *c, const char *host, struct vigil_error *err);
/*
 * Session resumption.  A vigil_client lives for one connection, so the
 * TLS 1.3 session tickets a relay sends are kept process-wide, one per
 * (relay address, our certificate, CA file): the next vigil_connect() to
 * the same relay as the same organisation offers it (`vigil alerts
 * --follow` reconnecting, or a program connecting again) and the relay,
 * after checking our certificate again, skips the signatures of a full
 * handshake.  A relay that refuses it costs nothing but that full
 * handshake.  Thread-safe.
 */
void vigil__tls_session_key(struct vigil_client *c, const char *ca_file);
/* 1 when c's handshake resumed a session. */
int vigil__tls_resumed(const struct vigil_client *c);
/* Forgets every saved session (tests). */
void vigil__tls_sessions_clear(void);

/* wire.c */
/* Encodes and writes one Frame.  Marks the client dead on failure. */
int vigil__wire_send(struct vigil_client *c, const Vigil__V1__Frame *f, struct vigil_error *err);
/* Reads the next Frame (free with frame_free()).  Marks the client dead on
 * every failure except a timeout.  waiting_for completes "while we were ...",
 * e.g. "waiting for a receipt". */
int vigil__wire_recv(struct vigil_client *c, Vigil__V1__Frame **out, const char *waiting_for,
		     struct vigil_error *err);
/* Status for an SSL_* failure; ret and errno_saved are what the call gave,
 * doing completes "while we were ...". */
int vigil__wire_ssl_failure(struct vigil_client *c, int ret, int errno_saved,
			    const char *doing, struct vigil_error *err);
/* Marks the client dead with err's status and message; returns the status. */
int vigil__wire_kill(struct vigil_client *c, const struct vigil_error *err, int status);
/* VIGIL_OK while the client is usable, else its fatal status (err filled). */
int vigil__wire_usable(const struct vigil_client *c, struct vigil_error *err);
/* What vigil__wire_recv_wait() returns when nothing came in time. */
#define VIGIL__NOTHING 1
/* Like vigil__wire_recv, but waits at most wait_ms for the start of a frame
 * (0: only what has arrived): VIGIL__NOTHING when none came, or when a
 * signal interrupted the wait.  A frame that has begun to arrive is read
 * with the connection's own timeout. */
int vigil__wire_recv_wait(struct vigil_client *c, Vigil__V1__Frame **out,
			  const char *waiting_for, int wait_ms, struct vigil_error *err);

/* SIGPIPE guard around socket writes (see vigil.h, "Signals"). */
struct vigil__sigpipe {
	int was_pending;
	int was_blocked;
};
void vigil__sigpipe_block(struct vigil__sigpipe *g);
void vigil__sigpipe_restore(const struct vigil__sigpipe *g);

/* submit.c */
/* Sends a signed record and its sealed text (NULL: none) whose buffers the
 * client takes over (freed on failure too; the sealed text once sent). */
int vigil__submit_send_owned(struct vigil_client *c, uint8_t *record, size_t record_len,
			     uint8_t *sig, size_t sig_len, uint8_t *sealed, size_t sealed_len,
			     uint64_t *request_id, struct vigil_error *err);
/* Waits for the answer to request_id. */
int vigil__submit_wait(struct vigil_client *c, uint64_t request_id, struct vigil_receipt *out,
		       struct vigil_error *err);
/* Frees every outstanding submission. */
void vigil__submit_free_all(struct vigil_client *c);
/*
 * Handles a frame that is not the answer the caller waits for, and frees
 * it: an answer to an outstanding submission is checked and kept in its
 * entry (*idx), an answer to an abandoned log request is dropped
 * (*idx = SIZE_MAX), a delivery of the subscription or an answer to a
 * DeliveryAck is kept for vigil_next_alert() (*idx = SIZE_MAX).  A relay
 * Error outside any request is VIGIL_E_REFUSED (*idx = SIZE_MAX); a frame
 * for no outstanding request ends the connection (VIGIL_E_PROTOCOL).
 */
int vigil__submit_dispatch(struct vigil_client *c, Vigil__V1__Frame *f, size_t *idx,
			   struct vigil_error *err);

/* verify.c */
/*
 * Checks 1-5 of struct vigil_receipt on r (see vigil_receipt_verify); what
 * starts every message ("receipt for request 7").
 */
int vigil__verify_receipt(const struct vigil_checkpoint_key *key, struct vigil_receipt *r,
			  const uint8_t *record, size_t record_len, const char *what,
			  struct vigil_error *err);
/*
 * The key of a certificate that signed in the past (a duplicate's stored
 * certificate, the relay's before a renewal): der must hash to sha256,
 * chain to the federation's CA (expired or not: it signed in the past) and
 * name organisation org, with OU ou unless ou is NULL.  whose names the
 * expected owner in the reasons ("ours", "the relay's"), hash_name the
 * fingerprint's field.  NULL with the reason in why ("carries a
 * certificate that ...") when it does not.
 */
EVP_PKEY *vigil__verify_past_cert(const struct vigil_client *c, const ProtobufCBinaryData *der,
				  const uint8_t sha256[SHA256_LEN], const char *org, const char *ou,
				  const char *whose, const char *hash_name, char *why,
				  size_t why_len);
/* The root an inclusion proof leads to; -1 when the proof has the wrong
 * shape for (index, size). */
int vigil__inclusion_root(uint64_t index, uint64_t size, const uint8_t leaf[SHA256_LEN],
			  const merkle_hash *proof, size_t n, uint8_t root[SHA256_LEN]);

/* alert.c */
/* 1 when f belongs to the subscription or answers a DeliveryAck. */
int vigil__alert_claims(const struct vigil_client *c, const Vigil__V1__Frame *f);
/* Keeps such a frame for vigil_next_alert() (takes it over, also on
 * failure); VIGIL_E_PROTOCOL (connection ended) beyond
 * VIGIL_DELIVERIES_KEPT_MAX. */
int vigil__alert_keep(struct vigil_client *c, Vigil__V1__Frame *f, struct vigil_error *err);
/* Frees the subscription's kept frames. */
void vigil__alert_free(struct vigil_client *c);

/* util.c */
int64_t vigil__now_ms(void);

/* record.c */
/* A user-supplied string quoted in a message is cut short at this many
 * bytes. */
#define VIGIL__QUOTE_MAX 80
/* The fields every Record has, as a body's encoder gets them: the record
 * id to use, the case, the author, the caller's client time (0 = now). */
struct vigil__head {
	const uint8_t *record_id;
	const char *case_id;
	const char *author;
	int64_t client_time_ms;
	int64_t now;
	/* The body's free text sealed: encoders put this in its sealed_ field
	 * and leave the text field empty.  NULL: the text in the clear (only
	 * for the trial records of the check functions, never sent). */
	const Vigil__V1__SealedText *sealed;
};
/* "a, b, c": the names name(0), name(1), ... into out (n bytes). */
void vigil__record_names(const char *(*name)(unsigned), char *out, size_t n);
/* A code given by its command-line name: *code is its wire value, or
 * VIGIL_E_USAGE "no FIELD given" / "unknown FIELD "x" (one of: ...)". */
int vigil__record_code(const char *value, const char *field, int (*from_name)(const char *),
		       const char *(*name)(unsigned), int *code, struct vigil_error *err);
/* The checks of the common fields: case id and client time. */
int vigil__record_head_check(const char *case_id, int64_t client_time_ms,
			     struct vigil_error *err);
/* Initialises r with the common fields of h (pointers into h's strings). */
void vigil__record_head(Vigil__V1__Record *r, const struct vigil__head *h);
/* Serializes r and runs the relay's stateless validation over the bytes:
 * VIGIL_E_USAGE "invalid WHAT: <the relay's reason>" when it fails.
 * *out is malloc()ed. */
int vigil__record_pack(const Vigil__V1__Record *r, const char *what, uint8_t **out,
		       size_t *out_len, struct vigil_error *err);
/* Our certificate's organisation, checked to be an organisation id
 * (VIGIL_E_IO otherwise): the author of our records. */
int vigil__record_author(const struct vigil_client *c, const char **author,
			 struct vigil_error *err);
/* Fills id with random bytes unless have_record_id. */
int vigil__record_new_id(uint8_t id[VIGIL_RECORD_ID_LEN], int have_record_id,
			 struct vigil_error *err);
/* Signs record bytes with our key; *sig is malloc()ed. */
int vigil__record_sign(struct vigil_client *c, uint8_t *record, size_t record_len,
		       uint8_t **sig, size_t *sig_len, struct vigil_error *err);
/* Names of an alert's police advice: the code ("none", "consider",
 * "required") and the text ("none", "missing-person report to be
 * considered", ...); NULL for an unknown value. */
const char *vigil__record_police_name(int v);
const char *vigil__record_police_advice(int v);

/* seal.c */
/* Loads and checks o's encryption certificate and key (both or neither)
 * into c; c->ctx and c->self are set. */
int vigil__seal_keys_load(struct vigil_client *c, const struct vigil_options *o,
			  struct vigil_error *err);
/* Frees the keys and the member list. */
void vigil__seal_free(struct vigil_client *c);

/* What a record's free text is and whom to seal it to beside the case's
 * readers (GetSealReaders). */
struct vigil__seal_spec {
	int field;                   /* enum sealed_field */
	const char *text;            /* NULL or "": nothing to seal */
	const char *to;              /* a handover offer's organisation, or NULL */
	int case_open;               /* a case open: the author and the parties below */
	const char *const *parties;
	size_t n_parties;
};

/* A SealedText ready to go into a record, and its envelope. */
struct vigil__sealed {
	Vigil__V1__SealedText text;
	uint8_t commitment[SHA256_LEN];
	uint8_t readers[SEALED_READERS_MAX][SHA256_LEN];
	ProtobufCBinaryData reader_data[SEALED_READERS_MAX];
	uint8_t *envelope;           /* malloc()ed DER CMS */
	size_t envelope_len;
};

/* Seals sp->text for the record record_id of case_id by author: the
 * case's readers, their certificates, P, the commitment, the envelope.
 * *out is filled (vigil__sealed_clear frees what it holds). */
int vigil__seal_make(struct vigil_client *c, const struct vigil__seal_spec *sp,
		     const char *case_id, const uint8_t record_id[RECORD_ID_LEN],
		     const char *author, struct vigil__sealed *out, struct vigil_error *err);
void vigil__sealed_clear(struct vigil__sealed *s);

/* conn.c */
/* The name of a wire Role ("coordinator" ...); "" for an unknown value. */
const char *vigil__conn_role_name(int role);

/* query.c */
/* Sends req (its request id is set here) and waits for the answer to it,
 * which must be of type want (else VIGIL_E_PROTOCOL, connection ended); a
 * relay Error is VIGIL_E_REFUSED.  *out is the answer (frame_free()). */
int vigil__query_roundtrip(struct vigil_client *c, Vigil__V1__Frame *req, int want,
			   const char *waiting_for, Vigil__V1__Frame **out,
			   struct vigil_error *err);
/* VIGIL_OK when c is non-NULL and usable; fn names the caller. */
int vigil__query_usable(vigil_client *c, const char *fn, struct vigil_error *err);
/* Checks one entry of an answer: its index in [lo, hi) and above prev
 * (when have_prev), its hashes' sizes, and its leaf hash recomputed;
 * VIGIL_E_VERIFY naming what is wrong. */
int vigil__query_entry_check(const Vigil__V1__Entry *e, uint64_t lo, uint64_t hi,
			     int have_prev, uint64_t prev, struct vigil_error *err);

#endif
