/*
 * vigil.h - libvigil, the client library of the vigil relay.
 *
 * libvigil connects an organisation to a vigil relay over mutual TLS 1.3
 * (ALPN "vigil/1"), signs the records it submits with the organisation's
 * private key (the key of its TLS client certificate) and verifies every
 * receipt the relay sends back before it reports success.
 *
 * Blocking model: every call blocks the calling thread until it is done or
 * until the network has been silent for timeout_ms (struct vigil_options).
 * There are no callbacks and no background threads.  Submissions can be
 * pipelined with vigil_send_signed() / vigil_recv_receipt().
 *
 * Thread safety: a vigil_client belongs to one thread at a time; use one
 * vigil_client per thread.  Different clients may be used concurrently.
 * Functions that take no vigil_client are thread-safe.
 *
 * Signals: the library never changes signal dispositions.  It blocks SIGPIPE
 * in the calling thread while it writes to the socket and discards a SIGPIPE
 * its own write raised, so a relay that closes the connection surfaces as an
 * error code, not as a signal.
 *
 * Ownership: strings and structs passed in are only read during the call
 * and never kept, except that vigil_build_contact() / vigil_submit_contact()
 * write a generated record id back into the caller's struct vigil_contact.
 * Buffers the library returns (vigil_build_contact) are freed with
 * vigil_free().  Pointers returned by accessors of a client stay valid until
 * vigil_close().
 *
 * Errors: every function that can fail returns VIGIL_OK (0) or a negative
 * enum vigil_status and, when the caller passes a struct vigil_error (which
 * may be NULL), fills it with the status and a one-line English message.
 * VIGIL_E_REFUSED means the relay answered with an Error: relay_code and
 * relay_code_name say which one.  After VIGIL_E_CONNECT (other than a
 * receive timeout), VIGIL_E_TLS or VIGIL_E_PROTOCOL the connection is dead:
 * every later call on it fails with the same status; close it and connect
 * again.  VIGIL_E_REFUSED, VIGIL_E_VERIFY and VIGIL_E_USAGE leave the
 * connection usable.
 */
#ifndef VIGIL_H
#define VIGIL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define VIGIL_API __attribute__((visibility("default")))
#else
#define VIGIL_API
#endif

#define VIGIL_RECORD_ID_LEN 16   /* bytes of a record id */
#define VIGIL_HASH_LEN 32        /* bytes of a SHA-256 hash */
#define VIGIL_NOTE_MAX 512       /* bytes of a contact note (UTF-8) */
#define VIGIL_TIME_LEN 40        /* buffer for vigil_format_time() */
#define VIGIL_DEFAULT_TIMEOUT_MS 10000

enum vigil_status {
	VIGIL_OK = 0,
	VIGIL_E_USAGE = -1,     /* bad argument (the message says which) */
	VIGIL_E_CONNECT = -2,   /* resolving or connecting failed, or timed out */
	VIGIL_E_TLS = -3,       /* TLS handshake failed (message: OpenSSL's reason) */
	VIGIL_E_PROTOCOL = -4,  /* unexpected or undecodable answer, connection closed */
	VIGIL_E_REFUSED = -5,   /* the relay answered with an Error */
	VIGIL_E_VERIFY = -6,    /* a receipt that does not verify */
	VIGIL_E_IO = -7,        /* local file or key problem */
	VIGIL_E_NOMEM = -8,     /* out of memory */
};

/* A short English name of a status ("refused by the relay"); never NULL. */
VIGIL_API const char *vigil_strerror(int status);

struct vigil_error {
	int status;                /* enum vigil_status */
	int relay_code;            /* wire ErrorCode when status == VIGIL_E_REFUSED, else 0 */
	char relay_code_name[32];  /* e.g. "BAD_SIGNATURE"; "" unless refused */
	char message[512];         /* one line, no trailing newline */
};

/* The library's version, e.g. "0.1.0". */
VIGIL_API const char *vigil_version(void);

/* ---- connections --------------------------------------------------------- */

typedef struct vigil_client vigil_client;

struct vigil_options {
	const char *host;       /* relay name or IP literal ("::1", brackets allowed) */
	const char *port;       /* decimal port or service name */
	const char *cert_file;  /* PEM client certificate (chain) of the organisation */
	const char *key_file;   /* PEM private key of that certificate (not encrypted) */
	const char *ca_file;    /* PEM federation CA the relay's certificate must chain to */
	int timeout_ms;         /* longest wait for the network; 0 = 10000 */
};

/*
 * An identity as certificate subject fields.  role is the OU as written in
 * the certificate ("coordinator", "police", "iom", "shelter", "relay");
 * empty strings stand for absent fields.
 */
struct vigil_identity {
	char organisation[65];   /* O */
	char role[32];           /* OU */
	char country[8];         /* C */
	char common_name[128];   /* CN (informational, may be truncated) */
	uint8_t cert_sha256[VIGIL_HASH_LEN]; /* SHA-256 of the DER certificate */
};

/* What the relay said in its Welcome. */
struct vigil_welcome {
	unsigned protocol_version;
	struct vigil_identity peer; /* who the relay sees at our end of the connection */
	char software[64];          /* e.g. "vigild/0.1.0" */
	uint32_t max_frame;         /* largest frame the relay accepts, bytes */
};

/*
 * Connects to the relay: resolves host (IPv4 and IPv6), connects over TCP,
 * runs a TLS 1.3 handshake with the client certificate, verifies the relay's
 * certificate against ca_file and against host (a DNS name or an IP
 * address), requires ALPN "vigil/1", and exchanges Hello / Welcome.
 * On success *out is a new client; on failure *out is NULL.
 * A relay that refuses our certificate usually says so only after the
 * handshake, while we wait for the Welcome: that is VIGIL_E_TLS too.
 */
VIGIL_API int vigil_connect(const struct vigil_options *o, vigil_client **out,
			    struct vigil_error *err);

/*
 * Closes the connection (TLS close_notify, best effort) and frees the
 * client, including submissions still waiting for their receipt.  NULL-safe;
 * sets *c to NULL.
 */
VIGIL_API void vigil_close(vigil_client **c);

/* The organisation (subject O) of our own certificate; "" when it has none. */
VIGIL_API const char *vigil_client_org(const vigil_client *c);

/* Our own certificate's subject and hash, as the relay will see them. */
VIGIL_API const struct vigil_identity *vigil_client_identity(const vigil_client *c);

/* The relay's certificate subject, as verified during the handshake. */
VIGIL_API const struct vigil_identity *vigil_relay_identity(const vigil_client *c);

/* The Welcome the relay sent. */
VIGIL_API const struct vigil_welcome *vigil_client_welcome(const vigil_client *c);

/* ---- records --------------------------------------------------------------- */

/*
 * One contact attempt with a returnee.  Names are the command-line names
 * (see vigil_channel_name / vigil_outcome_name).
 *
 * When have_record_id is 0 a random record id is generated and written into
 * record_id (have_record_id is left 0, so reusing the struct makes a new
 * record each time).  The record id is the idempotency key: the relay stores
 * a record id once, and returns the original receipt (duplicate = 1) when
 * the same record bytes come again.  To retry safely, send the same bytes
 * (vigil_build_contact once, vigil_submit_signed as often as needed), or
 * give the same record id and fixed, non-zero times.
 */
struct vigil_contact {
	uint8_t record_id[VIGIL_RECORD_ID_LEN];
	int have_record_id;
	const char *case_id;      /* 3-64 characters of [A-Za-z0-9-] */
	const char *channel;      /* e.g. "phone" */
	const char *outcome;      /* e.g. "no-answer" */
	int64_t attempted_at_ms;  /* ms since the epoch; 0 = now */
	int64_t client_time_ms;   /* ms since the epoch; 0 = now */
	const char *note;         /* NULL or "" = none; UTF-8, at most 512 bytes */
};

/*
 * A verified receipt.  Success means: record_id is the one we sent, and
 * leaf_hash is the RFC 9162 leaf hash of the entry recomputed from
 * received_at_ms, our certificate and the exact record and signature we
 * sent.  For a duplicate the entry holds the signature of the first
 * submission (ECDSA signatures differ every time): the relay sends that
 * signature and the hash of the certificate stored with it, the library
 * checks the signature is ours over the same record bytes (when the
 * certificate is our current one) and recomputes the leaf hash with it.
 */
struct vigil_receipt {
	uint64_t index;           /* 0-based position of the entry in the log */
	int64_t received_at_ms;   /* relay clock when the entry was first received */
	uint8_t leaf_hash[VIGIL_HASH_LEN];
	uint8_t record_id[VIGIL_RECORD_ID_LEN];
	int duplicate;            /* 1 when the record was already stored */
};

/*
 * Checks a contact attempt without a connection: case id, channel and
 * outcome names, times, note length and encoding.  VIGIL_E_USAGE with a
 * precise message when something is wrong.
 */
VIGIL_API int vigil_contact_check(const struct vigil_contact *ct, struct vigil_error *err);

/*
 * Submits one contact attempt and waits for its verified receipt.  Builds
 * the Record with author = vigil_client_org(c), signs it, sends it, waits
 * for the answer to this request (answers to other outstanding submissions
 * that arrive meanwhile are kept for vigil_recv_receipt).
 * VIGIL_E_REFUSED: the relay said no (err says why).  After a failure past
 * validation, ct->record_id holds the id that was (perhaps) submitted.
 */
VIGIL_API int vigil_submit_contact(vigil_client *c, struct vigil_contact *ct,
				   struct vigil_receipt *out, struct vigil_error *err);

/*
 * Builds and signs a contact attempt record: *record is the serialized
 * vigil.v1.Record, *sig the DER signature over it with the client's key.
 * Free both with vigil_free().  Nothing is sent.
 */
VIGIL_API int vigil_build_contact(vigil_client *c, struct vigil_contact *ct,
				  uint8_t **record, size_t *record_len,
				  uint8_t **sig, size_t *sig_len, struct vigil_error *err);

/*
 * Sends one signed record without waiting (pipelining).  The bytes are
 * copied and kept until the answer arrives; *request_id (may be NULL)
 * identifies the answer.  The record is not validated here (so tests can
 * send bad records); a receipt for a record without a 16-byte record id
 * never verifies.  Keep a bounded window of outstanding submissions and read
 * answers as you go: the relay stops reading from a connection with 256
 * requests in flight, and a client that only writes then blocks until its
 * timeout.
 */
VIGIL_API int vigil_send_signed(vigil_client *c, const uint8_t *record, size_t record_len,
				const uint8_t *sig, size_t sig_len, uint64_t *request_id,
				struct vigil_error *err);

/*
 * Waits for the next answer to any outstanding submission (answers may come
 * in any order) and sets *request_id to the submission it answers.  Returns
 * VIGIL_OK with a verified receipt, VIGIL_E_REFUSED or VIGIL_E_VERIFY for
 * that submission (which is then no longer outstanding; on VIGIL_E_VERIFY
 * *out holds what the relay claimed), VIGIL_E_USAGE when nothing is
 * outstanding.  An Error frame the relay sends outside any request (e.g.
 * before closing the connection) gives VIGIL_E_REFUSED with *request_id = 0
 * and consumes no submission.  A timeout (VIGIL_E_CONNECT, *request_id = 0)
 * leaves the connection and the submissions as they were.
 */
VIGIL_API int vigil_recv_receipt(vigil_client *c, uint64_t *request_id,
				 struct vigil_receipt *out, struct vigil_error *err);

/* Number of submissions sent whose answer has not been returned yet. */
VIGIL_API size_t vigil_outstanding(const vigil_client *c);

/* vigil_send_signed() and waiting for the answer to that request. */
VIGIL_API int vigil_submit_signed(vigil_client *c, const uint8_t *record, size_t record_len,
				  const uint8_t *sig, size_t sig_len,
				  struct vigil_receipt *out, struct vigil_error *err);

/* Frees memory the library returned; NULL-safe. */
VIGIL_API void vigil_free(void *p);

/* ---- helpers ----------------------------------------------------------------- */

/* The i-th (0-based) channel / outcome name, NULL past the last one. */
VIGIL_API const char *vigil_channel_name(unsigned i);
VIGIL_API const char *vigil_outcome_name(unsigned i);

/*
 * RFC 3339 times: parse "2026-11-28T10:00:00Z" (Z or +hh:mm offset, optional
 * fraction, milliseconds kept) into ms since the epoch; format ms as UTC with
 * milliseconds, e.g. "2026-11-28T10:00:00.123Z", into out (out_len bytes,
 * VIGIL_TIME_LEN always suffices).  Parsing returns VIGIL_E_USAGE on bad input.
 */
VIGIL_API int vigil_parse_time(const char *s, int64_t *ms);
VIGIL_API void vigil_format_time(int64_t ms, char *out, size_t out_len);

/* Lower-case hex of n bytes into out (2n+1 bytes); parse exactly 2n hex
 * digits into n bytes (VIGIL_E_USAGE otherwise). */
VIGIL_API void vigil_hex_encode(const uint8_t *in, size_t n, char *out);
VIGIL_API int vigil_hex_decode(const char *hex, uint8_t *out, size_t n);

#ifdef __cplusplus
}
#endif

#endif
