/*
 * vigil.h - libvigil, the client library of the vigil relay.
 *
 * libvigil connects an organisation to a vigil relay over mutual TLS 1.3
 * (ALPN "vigil/1"), signs the records it submits with the organisation's
 * private key (the key of its TLS client certificate) and verifies every
 * receipt the relay sends back before it reports success: the entry's leaf
 * hash, the signature of the relay's checkpoint (with the checkpoint key the
 * caller configures) and the inclusion proof of the entry in that
 * checkpoint's tree.  It also reads the relay's tamper-evident log
 * (checkpoints, inclusion and consistency proofs, leaf hashes, our own
 * entries), asks about cases, receives the alerts the relay raises for our
 * organisation and the erasures of our cases' entries (each verified like
 * a receipt) and verifies saved receipts offline.
 *
 * Blocking model: every call blocks the calling thread until it is done or
 * until the network has been silent for timeout_ms (struct vigil_options);
 * vigil_next_alert() waits at most the time it is given.  There are no
 * callbacks and no background threads.  Submissions can be pipelined with
 * vigil_send_signed() / vigil_recv_receipt().
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
 * and never kept, except that the vigil_build_* / vigil_submit_* calls of a
 * record write a generated record id back into the caller's struct
 * (struct vigil_contact, struct vigil_case_open, ...).
 * Result structs (receipts, checkpoints, proofs, decoded records) are filled
 * in place and own nothing: they hold fixed-size buffers, need no freeing
 * and may be copied.  Buffers the library returns (vigil_build_*,
 * vigil_get_entries, the case queries, vigil_members) are freed with
 * vigil_free(); each is one block, so everything it points to goes with it.  Objects it creates
 * have their own destructor (vigil_close, vigil_tree_free).  Pointers
 * returned by accessors of a client stay valid until vigil_close(); names
 * of codes (const char * such as "high" in answers and decoded records) are
 * static strings that stay valid for ever.
 *
 * Errors: every function that can fail returns VIGIL_OK (0) or a negative
 * enum vigil_status and, when the caller passes a struct vigil_error (which
 * may be NULL), fills it with the status and a one-line English message.
 * VIGIL_E_REFUSED means the relay answered with an Error: relay_code and
 * relay_code_name say which one.  VIGIL_E_SEALED (vigil_open_sealed) means
 * sealed text this client cannot open: no encryption key configured, or
 * its organisation is no reader.  After VIGIL_E_CONNECT (other than a
 * receive timeout), VIGIL_E_TLS or VIGIL_E_PROTOCOL the connection is dead:
 * every later call on it fails with the same status; close it and connect
 * again.  VIGIL_E_REFUSED, VIGIL_E_VERIFY, VIGIL_E_SEALED and VIGIL_E_USAGE
 * leave the connection usable.  VIGIL_E_VERIFY means the relay's answer (a receipt,
 * checkpoint, proof, leaf hashes, entries or a delivered alert) does not
 * prove what it claims; the message names the check that failed.  Nothing
 * that is not a failure is reported as one: a wait for an alert that ends
 * with nothing is VIGIL_OK with event VIGIL_EVENT_NONE.
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
#define VIGIL_SIGNATURE_MAX 512  /* bytes of a record signature */
#define VIGIL_PROOF_MAX 64       /* nodes of an inclusion or consistency proof */
#define VIGIL_ORIGIN_MAX 256     /* a checkpoint's origin (key name), NUL included */
#define VIGIL_CHECKPOINT_MAX 4096 /* a checkpoint's signed note, NUL included */
#define VIGIL_LEAF_HASHES_MAX 4096 /* leaf hashes per vigil_get_leaf_hashes() */
#define VIGIL_ENTRIES_MAX 1024   /* entries per vigil_get_entries() */
#define VIGIL_ORG_LEN 65         /* an organisation id (1-64 of [a-z0-9-]) and its NUL */
#define VIGIL_CASE_ID_LEN 130    /* a case id (OWNER/PSEUDONYM) and its NUL */
#define VIGIL_TEXT_MAX 280       /* bytes of a justification or decline reason (UTF-8) */
#define VIGIL_PARTIES_MAX 32     /* parties named by one case open */
#define VIGIL_FACTORS_MAX 11     /* distinct risk factors */
#define VIGIL_RECIPIENTS_MAX 64  /* organisations one alert is delivered to */
#define VIGIL_ERASED_MAX 500     /* entries one Erasure names (the relay's batch) */

enum vigil_status {
	VIGIL_OK = 0,
	VIGIL_E_USAGE = -1,     /* bad argument (the message says which) */
	VIGIL_E_CONNECT = -2,   /* resolving or connecting failed, or timed out */
	VIGIL_E_TLS = -3,       /* TLS handshake failed (message: OpenSSL's reason) */
	VIGIL_E_PROTOCOL = -4,  /* unexpected or undecodable answer, connection closed */
	VIGIL_E_REFUSED = -5,   /* the relay answered with an Error */
	VIGIL_E_VERIFY = -6,    /* a receipt, checkpoint, proof or alert that does not verify */
	VIGIL_E_IO = -7,        /* local file or key problem */
	VIGIL_E_NOMEM = -8,     /* out of memory */
	VIGIL_E_SEALED = -9,    /* sealed text this client cannot open: its organisation is
				 * no reader, or no encryption key is configured (or free
				 * text that no reader of its case could open) */
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

/* ---- checkpoints and their key ------------------------------------------- */

/*
 * The relay signs every checkpoint of its log as a C2SP signed note
 * (c2sp.org/signed-note, c2sp.org/tlog-checkpoint) with an Ed25519 key:
 *
 *   <origin>\n<tree size>\n<base64 root hash>\nsigned-at <unix ms>\n
 *   \n
 *   <em dash U+2014> <key name> <base64(4-byte key id || signature)>\n
 *
 * The checkpoint key that verifies them is given as either
 *
 *   - a verifier key "NAME+HHHHHHHH+BASE64": the key name, the key id as 8
 *     hex digits and base64(0x01 || 32-byte public key), as tlog tools
 *     print it (e.g. "vigil.example.org/log+1a2b3c4d+AXJ..."); or
 *   - the name of a PEM file holding the Ed25519 public key (or the private
 *     key, of which only the public half is used).  A PEM key carries no
 *     name: the key name is then taken from each checkpoint's origin line,
 *     so any origin signed by that key is accepted.
 *
 * A string is a verifier key when it has a '+', then exactly 8 hex digits,
 * then another '+'; anything else is a file name.  With a verifier key the
 * checkpoint's origin must equal the key name (the relay names its key
 * after its log's origin), so a key shared by two logs cannot pass one
 * log's checkpoint off as the other's.
 */
struct vigil_checkpoint_key {
	char name[VIGIL_ORIGIN_MAX];   /* the key name; "" for a PEM key (origin used) */
	uint8_t public_key[32];        /* Ed25519 */
};

/*
 * Loads and validates a checkpoint key (see above) without connecting.
 * VIGIL_E_USAGE for NULL, "", or a malformed verifier key (wrong id,
 * not Ed25519, bad base64); VIGIL_E_IO for a file that cannot be read or
 * holds no Ed25519 key.
 */
VIGIL_API int vigil_checkpoint_key_load(const char *key_or_file, struct vigil_checkpoint_key *out,
					struct vigil_error *err);

/* A verified checkpoint. */
struct vigil_checkpoint {
	char origin[VIGIL_ORIGIN_MAX];  /* first line: the log's name */
	uint64_t size;                  /* entries in the tree */
	uint8_t root[VIGIL_HASH_LEN];   /* RFC 9162 root of those entries */
	int64_t signed_at_ms;           /* the "signed-at" extension line; -1 without one */
	size_t note_len;                /* bytes of note, NUL not counted */
	char note[VIGIL_CHECKPOINT_MAX]; /* the signed note exactly as received */
};

/*
 * Verifies a signed checkpoint note offline (no connection needed): a
 * signature line of the key that verifies (signatures by other keys, e.g.
 * witnesses, are ignored), a well-formed checkpoint body, the origin that
 * the key requires, and a well-formed signed-at line if there is one.  On
 * success *out holds the parsed checkpoint and a NUL-terminated copy of the
 * note (note need not be NUL-terminated, and may be out->note itself).
 * VIGIL_E_VERIFY with the failing check otherwise (a note longer than
 * VIGIL_CHECKPOINT_MAX - 1 bytes included); *out is then cleared.
 */
VIGIL_API int vigil_checkpoint_open(const struct vigil_checkpoint_key *key, const char *note,
				    size_t note_len, struct vigil_checkpoint *out,
				    struct vigil_error *err);

/* ---- connections --------------------------------------------------------- */

typedef struct vigil_client vigil_client;

struct vigil_options {
	const char *host;       /* relay name or IP literal ("::1", brackets allowed) */
	const char *port;       /* decimal port or service name */
	const char *cert_file;  /* PEM client certificate (chain) of the organisation */
	const char *key_file;   /* PEM private key of that certificate (not encrypted) */
	const char *ca_file;    /* PEM federation CA the relay's certificate must chain to */
	int timeout_ms;         /* longest wait for the network; 0 = 10000 */
	/* The relay's checkpoint key: a verifier key string or a PEM file (see
	 * "checkpoints and their key").  Required: without it no receipt
	 * could be verified, so vigil_connect() refuses with VIGIL_E_USAGE
	 * ("no checkpoint key: ..."). */
	const char *checkpoint_key;
	/* Optional: the organisation's encryption certificate and its key (PEM,
	 * not encrypted), which open the sealed text written to it (see
	 * "sealed text").  Both or neither (VIGIL_E_USAGE otherwise).
	 * vigil_connect() refuses with VIGIL_E_IO a file it cannot read, a
	 * certificate that is no encryption certificate of our own
	 * organisation (a P-256 key, keyUsage keyAgreement and nothing else,
	 * the O, OU and C of cert_file), that does not chain to ca_file or is
	 * not valid now, and a key that is not the certificate's.  Writing
	 * sealed text needs neither: it is sealed to the readers' public
	 * certificates. */
	const char *enc_cert_file;
	const char *enc_key_file;
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
 * Connects to the relay: loads the checkpoint key, resolves host (IPv4 and
 * IPv6), connects over TCP, runs a TLS 1.3 handshake with the client
 * certificate, verifies the relay's certificate against ca_file and against
 * host (a DNS name or an IP address), requires ALPN "vigil/1", and
 * exchanges Hello / Welcome.
 * On success *out is a new client; on failure *out is NULL.
 * A relay that refuses our certificate usually says so only after the
 * handshake, while we wait for the Welcome: that is VIGIL_E_TLS too.
 */
VIGIL_API int vigil_connect(const struct vigil_options *o, vigil_client **out,
			    struct vigil_error *err);

/*
 * Several relays: the nodes of one relay (an active node and its standby,
 * which serve the same log and sign its checkpoints with the same key, so
 * that a receipt from either verifies with the one checkpoint key) as a
 * list "A,B,...", tried in order.  Each element is
 *
 *   HOST[:PORT]     a name or an IPv4 address: "relay-a.example.org:7443"
 *   [IPV6][:PORT]   an IPv6 address in brackets: "[::1]:7443"
 *
 * with spaces or tabs allowed around it; a port is decimal, 1 to 65535.
 * An element without a port takes the options' port, or
 * VIGIL_DEFAULT_PORT when that is NULL or "".  At most VIGIL_RELAYS_MAX
 * elements.  (A new function rather than a field of struct vigil_options:
 * a program built against an older vigil.h passes a shorter struct.)
 */
#define VIGIL_DEFAULT_PORT "7443"
#define VIGIL_RELAYS_MAX 8

/*
 * Checks the syntax of a relay list without connecting (nothing is
 * resolved); *n (may be NULL) is its number of elements.  VIGIL_E_USAGE
 * with the first problem otherwise: "bad relay list 'a,,b': address 2 is
 * empty", "bad relay port '99999': expected a number from 1 to 65535",
 * "bad relay address '[::1': unbalanced brackets", "bad relay address
 * '::1:7443': write an IPv6 address in brackets, e.g. [::1]:7443", ...
 */
VIGIL_API int vigil_relays_check(const char *relays, size_t *n, struct vigil_error *err);

/*
 * vigil_connect() for a relay list (see above): checks the list (an error
 * in it is VIGIL_E_USAGE before anything is sent) and the options but
 * their host, then tries the elements in order, starting at index first
 * and wrapping around, and returns a client on the first one whose TLS
 * handshake and Hello / Welcome succeed.  Each attempt is bounded as
 * vigil_connect() is (timeout_ms for the TCP connect and for every read
 * and write of the handshake), so a list of n relays takes at most n times
 * that.  To reconnect, pass the vigil_client_relay_index() of the last
 * client as first: the list is tried again from the relay that worked
 * last.  A TLS session ticket is kept per relay address and offered to
 * the address that issued it only.
 *
 * When every relay fails, err names each one in the order tried with its
 * reason, on one line: "relay-a:7443: cannot connect to 192.0.2.1 port
 * 7443: Connection refused; relay-b:7443: TLS handshake with relay
 * relay-b:7443 failed: ..." (reasons are cut short, ending with "...",
 * when they do not fit in the message).  Its status is the one every
 * relay failed with, or VIGIL_E_CONNECT when they failed differently.
 * With one element err is that relay's error as vigil_connect() gives it.
 * first beyond the list is VIGIL_E_USAGE.
 */
VIGIL_API int vigil_connect_relays(const struct vigil_options *o, const char *relays,
				   size_t first, vigil_client **out, struct vigil_error *err);

/* The index in its relay list of the relay c is connected to (0 after
 * vigil_connect()). */
VIGIL_API size_t vigil_client_relay_index(const vigil_client *c);

/* The relay c is connected to, "host:port" ("[v6]:port"). */
VIGIL_API const char *vigil_client_relay_address(const vigil_client *c);

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

/* The checkpoint key the client verifies with. */
VIGIL_API const struct vigil_checkpoint_key *vigil_client_checkpoint_key(const vigil_client *c);

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
 * (vigil_build_contact once, vigil_submit_sealed as often as needed), or
 * give the same record id and fixed, non-zero times: a note is sealed with a
 * salt derived from our key, the record id and the text (see "sealed
 * text"), so the same note gives the same record bytes again.
 */
struct vigil_contact {
	uint8_t record_id[VIGIL_RECORD_ID_LEN];
	int have_record_id;
	const char *case_id;      /* OWNER/PSEUDONYM (see vigil_case_id_check) */
	const char *channel;      /* e.g. "phone" */
	const char *outcome;      /* e.g. "no-answer" */
	int64_t attempted_at_ms;  /* ms since the epoch; 0 = now */
	int64_t client_time_ms;   /* ms since the epoch; 0 = now */
	const char *note;         /* NULL or "" = none; UTF-8, at most 512 bytes; sealed */
	/* Output of vigil_build_contact: the sealed note's envelope (for
	 * vigil_send_sealed / vigil_submit_sealed), NULL and 0 without a note.
	 * Every build overwrites it: free it with vigil_free() first. */
	uint8_t *sealed;
	size_t sealed_len;
};

/*
 * A verified receipt.  Success means, in this order:
 *   1. record_id is the one we sent;
 *   2. leaf_hash is the RFC 9162 leaf hash of the entry recomputed from
 *      received_at_ms, cert_sha256 and the exact record bytes and signature;
 *   3. checkpoint.note is signed by the checkpoint key (vigil_checkpoint_open);
 *   4. index is below the checkpoint's size;
 *   5. inclusion_proof leads from leaf_hash at index to the checkpoint's root.
 * A failure is VIGIL_E_VERIFY with a message naming the check.
 *
 * For a new entry, signature and cert_sha256 are what we sent and our
 * certificate's hash.  For a duplicate the entry holds the signature of the
 * first submission (ECDSA signatures differ every time): the relay sends
 * that signature and the certificate stored with it, the library checks
 * the signature over the same record bytes with our key, or with the key
 * of that certificate when it is another one of our organisation (issued
 * by the federation's CA, hashing to the stored hash), and recomputes the
 * leaf hash with it.
 * Together with the record bytes, a receipt holds everything needed to
 * verify it again offline (vigil_receipt_verify).
 *
 * The struct is large (about 7 KiB) and owns no memory.
 */
struct vigil_receipt {
	uint64_t index;           /* 0-based position of the entry in the log */
	int64_t received_at_ms;   /* relay clock when the entry was first received */
	uint8_t leaf_hash[VIGIL_HASH_LEN];
	uint8_t record_id[VIGIL_RECORD_ID_LEN];
	int duplicate;            /* 1 when the record was already stored */
	uint8_t cert_sha256[VIGIL_HASH_LEN];   /* the certificate hash in the entry */
	size_t signature_len;
	uint8_t signature[VIGIL_SIGNATURE_MAX]; /* the signature in the entry */
	struct vigil_checkpoint checkpoint;    /* covers the entry */
	size_t proof_len;                      /* nodes in inclusion_proof */
	uint8_t inclusion_proof[VIGIL_PROOF_MAX][VIGIL_HASH_LEN]; /* leaf upwards */
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
 * Free both with vigil_free().  Nothing is sent.  A note is sealed (see
 * "sealed text"): ct->sealed is its envelope, to send with
 * vigil_submit_sealed() and free with vigil_free(); NULL without a note.
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

/*
 * The same two calls for a record with sealed text: sealed is the envelope
 * a vigil_build_* call left in its spec (Submit.sealed beside the record);
 * NULL and 0 for a record without sealed text, which makes them exactly
 * vigil_send_signed() and vigil_submit_signed().  The envelope is copied
 * and sent; it is not needed for the receipt (the record commits to it).
 */
VIGIL_API int vigil_send_sealed(vigil_client *c, const uint8_t *record, size_t record_len,
				const uint8_t *sig, size_t sig_len, const uint8_t *sealed,
				size_t sealed_len, uint64_t *request_id, struct vigil_error *err);
VIGIL_API int vigil_submit_sealed(vigil_client *c, const uint8_t *record, size_t record_len,
				  const uint8_t *sig, size_t sig_len, const uint8_t *sealed,
				  size_t sealed_len, struct vigil_receipt *out,
				  struct vigil_error *err);

/* Frees memory the library returned; NULL-safe. */
VIGIL_API void vigil_free(void *p);

/*
 * Verifies a receipt offline, with nothing but the checkpoint key and the
 * exact record bytes: checks 1-5 of struct vigil_receipt, where check 1
 * compares record_id with the record's own id, and check 2 uses the
 * receipt's received_at_ms, cert_sha256 and signature.  The parsed
 * checkpoint fields (origin, size, root, signed_at_ms) are recomputed from
 * r->checkpoint.note and written into r; whatever they held is ignored.
 * VIGIL_OK or VIGIL_E_VERIFY naming the failing check.
 */
VIGIL_API int vigil_receipt_verify(const struct vigil_checkpoint_key *key,
				   struct vigil_receipt *r, const uint8_t *record,
				   size_t record_len, struct vigil_error *err);

/* ---- the log ---------------------------------------------------------------
 *
 * Reading the relay's log.  Each call sends one request and waits for its
 * answer; answers to outstanding submissions that arrive meanwhile are kept
 * for vigil_recv_receipt().  A relay Error is VIGIL_E_REFUSED (e.g.
 * BAD_REQUEST for a size beyond the latest checkpoint).  Answers that are
 * malformed (wrong hash sizes, too many nodes, another range than asked
 * for) are VIGIL_E_VERIFY, as are answers that fail verification.
 */

/* The relay's latest checkpoint, verified with the checkpoint key
 * (vigil_checkpoint_open). */
VIGIL_API int vigil_get_checkpoint(vigil_client *c, struct vigil_checkpoint *out,
				   struct vigil_error *err);

struct vigil_inclusion_proof {
	uint64_t index;
	uint64_t tree_size;
	uint8_t leaf_hash[VIGIL_HASH_LEN];  /* the relay's leaf hash of entry index */
	uint8_t root[VIGIL_HASH_LEN];       /* root of tree_size the proof leads to */
	size_t n;
	uint8_t hashes[VIGIL_PROOF_MAX][VIGIL_HASH_LEN];  /* leaf upwards */
	/* Set when tree_size is below the size of the checkpoint it was
	 * verified against: the consistency proof from tree_size to that size. */
	uint64_t checkpoint_size;           /* 0 when not verified against one */
	size_t n_consistency;
	uint8_t consistency[VIGIL_PROOF_MAX][VIGIL_HASH_LEN];
};

/*
 * The inclusion proof of entry index in the tree of tree_size entries
 * (0: the relay's latest checkpoint's size).
 *
 * With cp == NULL the proof is only checked for shape, and out->root is
 * the root it leads to: nothing vouches for it.  With a verified
 * checkpoint cp (tree_size 0 meaning cp->size; larger than cp->size is
 * VIGIL_E_USAGE), the proof is verified: for tree_size == cp->size it must
 * lead to cp->root; for a smaller tree_size the library also fetches the
 * consistency proof from tree_size to cp->size and checks that the root the
 * inclusion proof leads to is the root of the first tree_size entries of
 * cp's tree.  Then out->root is that verified root.
 */
VIGIL_API int vigil_get_inclusion_proof(vigil_client *c, uint64_t index, uint64_t tree_size,
					const struct vigil_checkpoint *cp,
					struct vigil_inclusion_proof *out, struct vigil_error *err);

struct vigil_consistency_proof {
	uint64_t from_size;
	uint64_t to_size;
	size_t n;
	uint8_t hashes[VIGIL_PROOF_MAX][VIGIL_HASH_LEN];
};

/* The consistency proof from from_size to to_size entries, 0 < from_size <=
 * to_size (to_size 0: the latest checkpoint's size).  Checked for shape
 * only; verify it with vigil_verify_consistency(). */
VIGIL_API int vigil_get_consistency_proof(vigil_client *c, uint64_t from_size, uint64_t to_size,
					  struct vigil_consistency_proof *out,
					  struct vigil_error *err);

/*
 * Leaf hashes of entries [start, start + count), count 1 to
 * VIGIL_LEAF_HASHES_MAX, never past the latest checkpoint: out must hold
 * count * VIGIL_HASH_LEN bytes.  Anyone may rebuild the tree from them
 * (vigil_tree) and compare its root with a checkpoint's.
 */
VIGIL_API int vigil_get_leaf_hashes(vigil_client *c, uint64_t start, uint32_t count,
				    uint8_t *out, struct vigil_error *err);

/* One entry of the log, as stored. */
struct vigil_entry {
	uint64_t index;
	int64_t received_at_ms;
	uint8_t cert_sha256[VIGIL_HASH_LEN];  /* the author's certificate */
	const uint8_t *record;                /* the exact record bytes */
	size_t record_len;
	const uint8_t *signature;
	size_t signature_len;
	uint8_t leaf_hash[VIGIL_HASH_LEN];    /* recomputed and checked */
	/* The record's sealed text as the relay stores it beside the entry
	 * (an envelope; vigil_open_sealed opens it); NULL and 0 when the
	 * record seals none.  It is outside the leaf hash: the record's
	 * commitment vouches for it once it is opened. */
	const uint8_t *sealed;
	size_t sealed_len;
	/* Erased by the relay (an Erasure entry of the log says what, why and
	 * on whose request): content_erased, its sealed text is gone (sealed
	 * NULL); record_erased, its record and signature are gone too (record
	 * and signature NULL, length 0): only its index, time, certificate
	 * hash and leaf hash remain, and the leaf hash is checked only through
	 * its inclusion proof. */
	int content_erased;
	int record_erased;
};

/*
 * Our own entries (those our organisation authored) among [start, start +
 * count), count 1 to VIGIL_ENTRIES_MAX.  *out is one malloc()ed block
 * holding the array and every record and signature it points to: free it
 * with vigil_free(); *n may be 0 (then *out is NULL).  Every entry's index
 * is in the range and increasing, and its leaf hash is recomputed from its
 * fields (VIGIL_E_VERIFY otherwise); prove its inclusion with
 * vigil_get_inclusion_proof().
 */
VIGIL_API int vigil_get_entries(vigil_client *c, uint64_t start, uint32_t count,
				struct vigil_entry **out, size_t *n, struct vigil_error *err);

/* ---- cases: records ----------------------------------------------------------
 *
 * A case is named by a pseudonymous id and has exactly one responsible
 * organisation, a set of party organisations, a risk level and a state.
 * The relay checks every case record against the case's current state
 * (proto/README.md, "The case workflow") and refuses what its rules forbid
 * with VIGIL_E_REFUSED and the rule in err->message, e.g. PERMISSION_DENIED
 * "only the responsible coordinator closes the case"; a case the client's
 * organisation is no party to is NOT_FOUND "case ID not found", exactly as
 * if it did not exist.
 *
 * Case records are signed and submitted exactly like contact attempts, and
 * VIGIL_OK means the same thing: a receipt verified as struct vigil_receipt
 * describes.  Each kind has three calls:
 *
 *   vigil_X_check(spec, err)        checks the fields, without a connection;
 *   vigil_build_X(c, spec, ...)     builds and signs the record (nothing is
 *                                   sent; free both buffers with vigil_free);
 *                                   a kind with free text also leaves the
 *                                   sealed text's envelope in spec->sealed
 *                                   (send it with vigil_submit_sealed, free
 *                                   it with vigil_free);
 *   vigil_submit_X(c, spec, r, err) builds, signs, submits and waits for the
 *                                   verified receipt (answers to other
 *                                   submissions are kept for
 *                                   vigil_recv_receipt).
 *
 * Every spec struct starts with the four fields every record has, with the
 * meaning they have in struct vigil_contact: record_id / have_record_id (a
 * random id is generated and written back when have_record_id is 0; the
 * receipt's record_id is the same), case_id, client_time_ms (0 = now).
 *
 * Codes are given by their command-line names and checked before anything
 * is built; a wrong or missing one is VIGIL_E_USAGE with a message that
 * names the field, the value and the valid names:
 *   risk levels       low medium high                     (vigil_risk_name)
 *   risk factors      threats-to-family re-trafficking debt-bondage
 *                     documents-withheld witness recruited-by-family health
 *                     addiction homelessness stigma-or-violence other
 *                                                         (vigil_factor_name)
 *   phases            pre-departure on-arrival periodic event-triggered
 *                                                         (vigil_phase_name)
 *   handover reasons  additional-services return other
 *                                                (vigil_handover_reason_name)
 *   close reasons     monitoring-completed declines-contact transferred
 *                     lost-contact other               (vigil_close_reason_name)
 * Every other field is checked against the wire contract's rules too (the
 * built record passes the relay's own stateless validation), so a record
 * libvigil builds is never refused as malformed; what depends on the case's
 * state (who is responsible, which offer is pending) only the relay knows.
 *
 * Free text (an override justification, a decline reason, an alert
 * acknowledgement's reason, a contact note) is sealed, never signed or sent
 * in the clear: building such a record asks the relay who the case's
 * readers are and fetches the member list (see "sealed text"), so a build
 * of those kinds can also fail as those queries do (VIGIL_E_REFUSED
 * NOT_FOUND for a case we may not write to, VIGIL_E_VERIFY for a reader
 * the member list does not vouch for), and with VIGIL_E_SEALED when no
 * reader of the case has an encryption certificate.  Their check
 * functions need no connection and check the text itself.
 */

/* CaseOpen: opens a case, or reopens a closed one (a coordinator that is a
 * party); the opener becomes responsible.  Only coordinators open cases. */
struct vigil_case_open {
	uint8_t record_id[VIGIL_RECORD_ID_LEN];
	int have_record_id;
	const char *case_id;          /* OWNER/PSEUDONYM: the opener's organisation id, '/', a pseudonym */
	int64_t client_time_ms;       /* ms since the epoch; 0 = now */
	const char *risk;             /* "low", "medium" or "high" */
	int minor;                    /* 1: a minor, whose risk is always "high" */
	const char *return_country;   /* ISO 3166-1 alpha-2, two capital letters: "RU" */
	const char *return_date;      /* "YYYY-MM-DD", a real date */
	const char *const *parties;   /* the initial party organisations (the opener */
	size_t n_parties;             /* is one anyway): 0 to VIGIL_PARTIES_MAX, distinct */
	/* The basis for sharing the case: exactly one of consent_scope and
	 * override_justification (the other NULL or ""). */
	const char *consent_scope;    /* the returnee's consent, coded scope: 1-64 of
				       * [a-z0-9-], e.g. "share-with-iom" */
	int64_t consent_given_at_ms;  /* when she gave it; 0 = now */
	const char *override_justification; /* sharing without consent, reason
				       * risk_to_life: 1-280 bytes of UTF-8; sealed */
	uint8_t *sealed;              /* output: the justification's envelope */
	size_t sealed_len;
};

/* RiskAssessment: by coordinator, police and iom parties.  A minor's level
 * stays "high" (the relay refuses a lower one). */
struct vigil_risk {
	uint8_t record_id[VIGIL_RECORD_ID_LEN];
	int have_record_id;
	const char *case_id;
	int64_t client_time_ms;
	const char *level;            /* "low", "medium" or "high" */
	const char *const *factors;   /* coded factors, distinct; 0 to */
	size_t n_factors;             /* VIGIL_FACTORS_MAX (factors may be NULL when 0) */
	int immediate_danger;
	const char *phase;            /* e.g. "on-arrival" */
};

/* HandoverOffer: by the responsible organisation, one pending offer at a
 * time; it stays responsible until the offer is accepted.  The offer's id
 * is its record id: the receipt's record_id (and spec->record_id). */
struct vigil_handover_offer {
	uint8_t record_id[VIGIL_RECORD_ID_LEN];
	int have_record_id;
	const char *case_id;
	int64_t client_time_ms;
	const char *to;               /* the organisation offered the case */
	const char *reason;           /* "additional-services", "return" or "other" */
	/* Exactly one of (the other NULL or ""): */
	const char *consent_ref;      /* reference to the consent, 1-64 of [A-Za-z0-9-] */
	const char *override_justification; /* reason risk_to_life: 1-280 bytes of UTF-8;
				       * sealed (also to `to`) */
	uint8_t *sealed;              /* output: the justification's envelope */
	size_t sealed_len;
};

/* HandoverAnswer: by the organisation the pending offer names (it need not
 * be a party yet).  Accepting makes it responsible and a party. */
struct vigil_handover_answer {
	uint8_t record_id[VIGIL_RECORD_ID_LEN];
	int have_record_id;
	const char *case_id;
	int64_t client_time_ms;
	uint8_t offer_id[VIGIL_RECORD_ID_LEN]; /* the offer's record id
				       * (struct vigil_case_status.pending_offer_id) */
	int accept;                   /* 1 accept, 0 decline */
	const char *decline_reason;   /* declining: 1-280 bytes of UTF-8, sealed; accepting:
				       * NULL or "" */
	uint8_t *sealed;              /* output: the decline reason's envelope */
	size_t sealed_len;
};

/* HandoverWithdraw: the responsible organisation takes back its pending
 * offer. */
struct vigil_handover_withdraw {
	uint8_t record_id[VIGIL_RECORD_ID_LEN];
	int have_record_id;
	const char *case_id;
	int64_t client_time_ms;
	uint8_t offer_id[VIGIL_RECORD_ID_LEN]; /* the pending offer's record id */
};

/* CaseClose: by the responsible organisation, if it is a coordinator.
 * Nothing but a case open (a reopen) is accepted on a closed case. */
struct vigil_case_close {
	uint8_t record_id[VIGIL_RECORD_ID_LEN];
	int have_record_id;
	const char *case_id;
	int64_t client_time_ms;
	const char *reason;           /* e.g. "monitoring-completed" */
};

/*
 * EraseRequest: the case owner asks the relay to erase one record of the
 * case: its sealed text, or with whole_record the record itself (record
 * bytes and signature; index and leaf hash stay, so every proof and
 * receipt stays valid).  The relay erases in the same transaction and
 * writes an Erasure entry it signs (proto/README.md, "Grants, erasure and
 * member keys").  reason: "data-subject-request", "unlawful-content" or
 * "other" (vigil_erase_reason_name); reference: the owner's reference,
 * 1-64 of [A-Za-z0-9-].
 */
struct vigil_erase {
	uint8_t record_id[VIGIL_RECORD_ID_LEN];
	int have_record_id;
	const char *case_id;
	int64_t client_time_ms;
	uint8_t target_id[VIGIL_RECORD_ID_LEN];
	int whole_record;
	const char *reason;
	const char *reference;
};

/* Grant: the case owner lets a party outside the default readers of the
 * narrative (police) read it: later sealed text is sealed to it too, and
 * it may read the case's records. */
struct vigil_grant {
	uint8_t record_id[VIGIL_RECORD_ID_LEN];
	int have_record_id;
	const char *case_id;
	int64_t client_time_ms;
	const char *to;
};

VIGIL_API int vigil_submit_erase(vigil_client *c, struct vigil_erase *e,
				 struct vigil_receipt *out, struct vigil_error *err);
VIGIL_API int vigil_submit_grant(vigil_client *c, struct vigil_grant *g,
				 struct vigil_receipt *out, struct vigil_error *err);
/* The reasons an owner gives (0 "data-subject-request", 1
 * "unlawful-content", 2 "other"), NULL past the end. */
VIGIL_API const char *vigil_erase_reason_name(unsigned i);

VIGIL_API int vigil_case_open_check(const struct vigil_case_open *o, struct vigil_error *err);
VIGIL_API int vigil_build_case_open(vigil_client *c, struct vigil_case_open *o,
				    uint8_t **record, size_t *record_len,
				    uint8_t **sig, size_t *sig_len, struct vigil_error *err);
VIGIL_API int vigil_submit_case_open(vigil_client *c, struct vigil_case_open *o,
				     struct vigil_receipt *out, struct vigil_error *err);

VIGIL_API int vigil_risk_check(const struct vigil_risk *r, struct vigil_error *err);
VIGIL_API int vigil_build_risk(vigil_client *c, struct vigil_risk *r, uint8_t **record,
			       size_t *record_len, uint8_t **sig, size_t *sig_len,
			       struct vigil_error *err);
VIGIL_API int vigil_submit_risk(vigil_client *c, struct vigil_risk *r,
				struct vigil_receipt *out, struct vigil_error *err);

VIGIL_API int vigil_handover_offer_check(const struct vigil_handover_offer *o,
					 struct vigil_error *err);
VIGIL_API int vigil_build_handover_offer(vigil_client *c, struct vigil_handover_offer *o,
					 uint8_t **record, size_t *record_len,
					 uint8_t **sig, size_t *sig_len, struct vigil_error *err);
VIGIL_API int vigil_submit_handover_offer(vigil_client *c, struct vigil_handover_offer *o,
					  struct vigil_receipt *out, struct vigil_error *err);

VIGIL_API int vigil_handover_answer_check(const struct vigil_handover_answer *a,
					  struct vigil_error *err);
VIGIL_API int vigil_build_handover_answer(vigil_client *c, struct vigil_handover_answer *a,
					  uint8_t **record, size_t *record_len,
					  uint8_t **sig, size_t *sig_len, struct vigil_error *err);
VIGIL_API int vigil_submit_handover_answer(vigil_client *c, struct vigil_handover_answer *a,
					   struct vigil_receipt *out, struct vigil_error *err);

VIGIL_API int vigil_handover_withdraw_check(const struct vigil_handover_withdraw *w,
					    struct vigil_error *err);
VIGIL_API int vigil_build_handover_withdraw(vigil_client *c, struct vigil_handover_withdraw *w,
					    uint8_t **record, size_t *record_len,
					    uint8_t **sig, size_t *sig_len, struct vigil_error *err);
VIGIL_API int vigil_submit_handover_withdraw(vigil_client *c, struct vigil_handover_withdraw *w,
					     struct vigil_receipt *out, struct vigil_error *err);

/*
 * Correction: the organisation that wrote a contact attempt or a risk
 * assessment of a case corrects it (proto/README.md, "Corrections").  The
 * record it names stays in the log as it was signed; the relay's status,
 * log and watchdog use the corrected body from then on, as if it had been
 * submitted so in the first place.  The correction states the whole
 * corrected body, of the corrected record's kind: every coded field, not
 * only the one that was wrong.  Naming a correction corrects the record
 * that one corrects (the original).  The reason is coded: the record's one
 * sealed text is the corrected note.  The relay refuses, among others:
 * NOT_FOUND "record HEX is no entry of case ID"; PERMISSION_DENIED "only
 * the organisation that wrote record HEX (ORG) corrects it"; BAD_REQUEST
 * "record HEX is a handover offer, which is never corrected; only contact
 * attempts and risk assessments are", "the correction changes nothing:
 * it gives the body in force for record HEX".
 */
struct vigil_correction {
	uint8_t record_id[VIGIL_RECORD_ID_LEN];
	int have_record_id;
	const char *case_id;
	int64_t client_time_ms;
	uint8_t target_id[VIGIL_RECORD_ID_LEN]; /* the record corrected (or a correction of it) */
	const char *reason;           /* "data-entry-error", "wrong-time",
				       * "wrong-channel-or-outcome" (these two for contact
				       * attempts only) or "other" (vigil_correction_reason_name) */
	const char *kind;             /* the corrected record's kind: "contact" or "risk" */
	/* kind "contact": the corrected attempt */
	const char *channel;
	const char *outcome;
	int64_t attempted_at_ms;      /* required (> 0): never taken as now */
	const char *note;             /* NULL or "": the note in force stands; else the
				       * corrected note (at most 512 bytes), sealed as a
				       * contact attempt's */
	/* kind "risk": the corrected assessment (as struct vigil_risk) */
	const char *level;
	const char *const *factors;
	size_t n_factors;
	int immediate_danger;
	const char *phase;
	uint8_t *sealed;              /* output: the corrected note's envelope */
	size_t sealed_len;
};

VIGIL_API int vigil_correction_check(const struct vigil_correction *k, struct vigil_error *err);
VIGIL_API int vigil_build_correction(vigil_client *c, struct vigil_correction *k,
				     uint8_t **record, size_t *record_len,
				     uint8_t **sig, size_t *sig_len, struct vigil_error *err);
VIGIL_API int vigil_submit_correction(vigil_client *c, struct vigil_correction *k,
				      struct vigil_receipt *out, struct vigil_error *err);

VIGIL_API int vigil_case_close_check(const struct vigil_case_close *cl, struct vigil_error *err);
VIGIL_API int vigil_build_case_close(vigil_client *c, struct vigil_case_close *cl,
				     uint8_t **record, size_t *record_len,
				     uint8_t **sig, size_t *sig_len, struct vigil_error *err);
VIGIL_API int vigil_submit_case_close(vigil_client *c, struct vigil_case_close *cl,
				      struct vigil_receipt *out, struct vigil_error *err);

/*
 * A record decoded from its bytes (a case log entry, a saved receipt, a
 * delivered alert): the common fields, then the fields of its kind.  Fields
 * of other kinds are 0, "" or empty lists; code names are static strings,
 * "" when not set.  The struct owns no memory (about 8 KiB).
 */
struct vigil_record_info {
	/* "contact", "case-open", "risk", "handover-offer", "handover-answer",
	 * "handover-withdraw", "case-close", "alert-ack", "correction", or
	 * "alert" (raised and signed by the relay) */
	const char *kind;
	uint8_t record_id[VIGIL_RECORD_ID_LEN];
	char case_id[VIGIL_CASE_ID_LEN];
	char author[VIGIL_ORG_LEN];
	int64_t client_time_ms;
	/* contact */
	const char *channel;
	const char *outcome;
	int64_t attempted_at_ms;
	char note[VIGIL_NOTE_MAX + 1];
	/* case-open: risk, minor, return, parties, consent or override;
	 * risk: risk (the level), factors, immediate_danger, phase */
	const char *risk;
	int minor;
	char return_country[3];
	char return_date[11];
	size_t n_parties;
	char parties[VIGIL_PARTIES_MAX][VIGIL_ORG_LEN];
	char consent_scope[VIGIL_ORG_LEN];
	int64_t consent_given_at_ms;
	size_t n_factors;
	const char *factors[VIGIL_FACTORS_MAX];
	int immediate_danger;
	const char *phase;
	/* case-open and handover-offer: an override with reason risk_to_life */
	int override;
	char override_justification[VIGIL_TEXT_MAX + 1];
	/* handover-offer: to, reason, consent_ref or the override */
	char to[VIGIL_ORG_LEN];
	const char *handover_reason;
	char consent_ref[VIGIL_ORG_LEN];
	/* handover-answer: offer_id, accept, decline_reason;
	 * handover-withdraw: offer_id */
	uint8_t offer_id[VIGIL_RECORD_ID_LEN];
	int accept;
	char decline_reason[VIGIL_TEXT_MAX + 1];
	/* case-close */
	const char *close_reason;
	/* alert (see struct vigil_alert for the meaning of each field) and
	 * alert-ack: alert_id; alert-ack: decision and reason */
	const char *alert_kind;       /* "silence", "failed_attempts", "handover_stalled" */
	unsigned alert_stage;         /* 1, 2 (escalated), 0 (resolved) */
	uint8_t alert_id[VIGIL_RECORD_ID_LEN];
	int64_t deadline_ms;
	int64_t last_success_ms;
	unsigned failed_attempts;
	size_t n_recipients;
	char recipients[VIGIL_RECIPIENTS_MAX][VIGIL_ORG_LEN];
	const char *police;           /* "none", "consider" or "required" */
	const char *police_advice;    /* "none", "missing-person report to be considered",
				       * "missing-person report required" */
	char resolution[32];          /* stage 0: "contact", "closed", "handover-answered", ... */
	char cause[32];               /* "", "after-ack" or "handover" (see struct vigil_alert) */
	const char *decision;         /* "police-report-filed", "not-filed" or "other" */
	char reason[VIGIL_TEXT_MAX + 1];
	/* When the record's free text is sealed: the name of the member above
	 * that holds such text ("note", "override_justification",
	 * "decline_reason" or "reason"; also the key --json output uses), whose
	 * text is then "" (vigil_open_sealed opens it).  "" when the record
	 * seals nothing; an older record carries its text in the clear, in that
	 * member. */
	const char *sealed_field;
	/* erase-request (by the case owner) and erasure (written by the relay):
	 * target_id the record to erase (erase-request), erase_whole 1 for the
	 * record itself (else its sealed text), erase_reason
	 * "data-subject-request", "unlawful-content", "retention" or "other",
	 * erase_reference the owner's reference; erasure: the entries erased
	 * (up to VIGIL_ERASED_MAX of erased_n), requested_by ("" for retention)
	 * and recipients above. */
	uint8_t target_id[VIGIL_RECORD_ID_LEN];
	int erase_whole;
	const char *erase_reason;
	char erase_reference[65];
	size_t erased_n;
	uint64_t erased[VIGIL_ERASED_MAX];
	char requested_by[VIGIL_ORG_LEN];
	/* grant: the party let read the narrative; member-key: the member
	 * whose encryption certificate the relay logged (member_key_len 0: it
	 * has none any more) */
	char grant_to[VIGIL_ORG_LEN];
	char member[VIGIL_ORG_LEN];
	size_t member_key_len;
	/* correction: target_id above is the record it names; the corrected
	 * body is in the members of its kind (contact: channel, outcome,
	 * attempted_at_ms, note; risk: risk, factors, immediate_danger,
	 * phase), sealed_field "note" when it seals a corrected note.
	 * ABI: added after the first version of this header (the struct grew:
	 * a program built against the earlier header must be rebuilt). */
	const char *corrected_kind;       /* "contact" or "risk"; "" for other kinds */
	const char *correction_reason;    /* "data-entry-error", "wrong-time",
					   * "wrong-channel-or-outcome" or "other" */
};

/* Decodes record bytes and checks them with the relay's own stateless
 * validation.  VIGIL_E_USAGE with the reason when they are not a valid
 * record (*out is then cleared). */
VIGIL_API int vigil_record_decode(const uint8_t *record, size_t record_len,
				  struct vigil_record_info *out, struct vigil_error *err);

/* ---- sealed text ----------------------------------------------------------------
 *
 * A record never carries free text (DESIGN.md, section 8; proto/README.md,
 * "Sealed text").  Its author builds the sealed plaintext P (a tag, the
 * record id, the field, a 32-byte salt, the text's length and the text
 * padded to the field's maximum, so that every P of a field has one length),
 * signs only SealedText{commitment = SHA-256(P), readers = the sorted
 * SHA-256 of each reader's encryption certificate} in the record, and sends
 * P beside it encrypted to those certificates as CMS AuthEnvelopedData
 * (AES-256-GCM, ECDH key agreement per reader).  The relay stores the
 * envelope beside the entry and cannot open it.
 *
 * The readers are the case's: its coordinator, iom and shelter parties, its
 * owner and its responsible organisation (for a case open: the author and
 * the parties it names with those roles, and for a reopened case its
 * readers; for a handover offer also the organisation it names), each only
 * if it has an encryption certificate.  The builders ask the relay
 * (GetSealReaders), check that each organisation it names is a member
 * whose encryption certificate vigil_members() vouches for (VIGIL_E_VERIFY
 * "the relay names ORG as a reader of case ID, but ..." otherwise), and
 * seal to those certificates.  The member list is fetched once per
 * connection and kept until vigil_close().  The salt is derived from our
 * private key, the record id, the field and the text (HMAC-SHA-256), so it
 * is unguessable to others and a record rebuilt with the same id and text
 * has the same bytes.
 *
 * Police read no narrative: they are no readers (unless a handover made
 * one responsible).
 */

/*
 * Opens the sealed text of a record (the entry's record bytes and its
 * sealed envelope, e.g. from vigil_case_log) with our encryption key
 * (vigil_options enc_cert_file / enc_key_file) and checks it against the
 * record, in this order:
 *   1. the record is valid and seals a text (else VIGIL_E_USAGE);
 *   2. an encryption key is configured (else VIGIL_E_SEALED "no encryption
 *      key configured: ...");
 *   3. our encryption certificate is one of the record's signed readers,
 *      or a recipient of the envelope (a handover re-sealed it for us:
 *      vigil_reseal_offer) (else VIGIL_E_SEALED "this organisation is no
 *      reader of the sealed FIELD"), and the envelope is there (else
 *      VIGIL_E_SEALED);
 *   4. the envelope has the one accepted form and every signed reader whose
 *      certificate is a member's encryption certificate now is one of its
 *      recipients (one renewed since cannot be matched); recipients besides
 *      are organisations a handover re-sealed it for;
 *   5. it opens with our key (a changed byte fails its authentication tag);
 *   6. P is for this record (record id, field) and SHA-256(P) is the
 *      record's commitment.
 * 4.-6. fail as VIGIL_E_VERIFY "the sealed FIELD does not verify: REASON"
 * (FIELD: note, justification, decline reason or acknowledgement reason),
 * e.g. "... sealed text belongs to record HEX, not to record HEX" (an
 * envelope pasted from another record) or "... sealed text does not match
 * the record's commitment".  On VIGIL_OK *text is the text (UTF-8,
 * NUL-terminated, for vigil_free()); otherwise *text is NULL.  Needs the
 * connection only to fetch the member list the first time.
 */
VIGIL_API int vigil_open_sealed(vigil_client *c, const uint8_t *record, size_t record_len,
				const uint8_t *sealed, size_t sealed_len, char **text,
				struct vigil_error *err);

/*
 * vigil_open_sealed(), also giving the opened plaintext P itself: on
 * VIGIL_OK *plain (for vigil_free()) holds its *plain_len bytes, whose
 * SHA-256 is the record's commitment, so that someone without our key can
 * check the text belongs to the record (vigil_sealed_plain_check; an export
 * with its texts keeps P beside each one).  P is the text: keep it as the
 * text is kept.  *plain is NULL on failure.
 */
VIGIL_API int vigil_open_sealed_plain(vigil_client *c, const uint8_t *record, size_t record_len,
				      const uint8_t *sealed, size_t sealed_len, char **text,
				      uint8_t **plain, size_t *plain_len,
				      struct vigil_error *err);

/*
 * Re-sealing at a handover (proto/README.md, "Re-sealing at a handover").
 * The organisation a case is offered to cannot open the sealed texts
 * written before the offer unless they were sealed to it; the relay
 * refuses to let it accept until the offering (responsible) organisation
 * has sent each of them again, the same P sealed to its recipients and
 * the offered organisation.  vigil_submit_handover_offer does this itself
 * after the offer's receipt; these resume it (after an interruption).
 *
 * vigil_reseal_offer asks the relay which texts of the offer offer_id (to
 * organisation to) are missing, opens each from the case log with our
 * encryption key, checks it as vigil_open_sealed does, seals it again and
 * sends them in as few Reseal requests as the relay's frame size allows,
 * until none is missing.  *missing (may be NULL) is then 0.  Errors:
 * VIGIL_E_SEALED when texts are missing and no encryption key is
 * configured here, or the offered organisation has no encryption
 * certificate; VIGIL_E_VERIFY for a text that does not verify; the
 * relay's refusal as VIGIL_E_REFUSED (e.g. PERMISSION_DENIED for an
 * organisation that is not responsible, BAD_REQUEST for an offer no longer
 * pending).  vigil_reseal_pending does the same for the case's pending
 * offer (from vigil_case_status).
 */
VIGIL_API int vigil_reseal_offer(vigil_client *c, const char *case_id,
				 const uint8_t offer_id[VIGIL_RECORD_ID_LEN], const char *to,
				 uint32_t *missing, struct vigil_error *err);
VIGIL_API int vigil_reseal_pending(vigil_client *c, const char *case_id, uint32_t *missing,
				   struct vigil_error *err);

/* ---- cases: queries -----------------------------------------------------------
 *
 * Each call sends one request and waits for its answer (answers to
 * submissions in flight are kept for vigil_recv_receipt, as for the log
 * queries).  The relay answers only about cases the client's organisation
 * is a party to: anything else is VIGIL_E_REFUSED NOT_FOUND "case ID not
 * found"; a case id that breaks the case id rule is VIGIL_E_USAGE before
 * anything is sent.  Every answered case query is recorded by the relay
 * (who, which case, what, when).
 *
 * The answer is checked before it is returned: the case it is about, the
 * form of every organisation id, code and hash, and for the case log every
 * leaf hash and inclusion proof against the signed checkpoint.  An answer
 * that fails is VIGIL_E_VERIFY naming what is wrong.  Results are one
 * malloc()ed block each, freed with vigil_free(), pointers inside included.
 */

/*
 * The current state of a case, in the view the relay chose for the asker
 * (view): "full" for a party; "police" for a police party, who receives
 * the fields up to alert_stage only; "offered" for the organisation a
 * pending offer names before it is a party, who receives the fields up to
 * minor and the offer.  The fields a view leaves out are withheld, not
 * zero: they are 0 or "" here and must not be shown as "none".  full is 1
 * for the full view.  A pending offer that names the asker is always
 * included.
 */
struct vigil_case_status {
	char case_id[VIGIL_CASE_ID_LEN];
	const char *view;                 /* "full", "police" or "offered" */
	char owner[VIGIL_ORG_LEN];        /* the coordinator that opened it */
	const char *state;                /* "active", "follow-up" or "closed" */
	char responsible[VIGIL_ORG_LEN];  /* the one responsible organisation */
	const char *risk;                 /* "low", "medium" or "high" */
	int minor;
	int64_t last_attempt_ms;          /* 0: no attempt yet */
	const char *last_attempt_channel; /* "" when no attempt yet */
	const char *last_attempt_outcome; /* "" when no attempt yet */
	int64_t last_success_ms;          /* last successful contact; 0: none */
	unsigned alert_stage;             /* 0: no open alert */
	/* Not for police (see above). */
	int full;
	size_t n_parties;
	const char *const *parties;       /* party organisations, sorted */
	int immediate_danger;
	size_t n_factors;
	const char *factors[VIGIL_FACTORS_MAX];
	int has_pending_offer;            /* a handover offer waits for its answer: */
	char pending_offer_to[VIGIL_ORG_LEN];          /* to this organisation, */
	uint8_t pending_offer_id[VIGIL_RECORD_ID_LEN]; /* with this record id */
	unsigned attempts;                /* contact attempts reported */
	unsigned failed_attempts;         /* since the last successful contact */
	char return_country[3];
	char return_date[11];
	int64_t opened_at_ms;             /* when the relay received the (re)opening */
	uint64_t entries;                 /* the case's entries in the log */
	char consent_scope[VIGIL_ORG_LEN]; /* "" when opened under an override */
	int override;                     /* opened under the risk_to_life override */
	const char *close_reason;         /* "" unless closed */
	/* The open alert: its id (what vigil_submit_alert_ack names) and kind;
	 * police see them once it reached stage 2. */
	int has_alert_id;
	uint8_t alert_id[VIGIL_RECORD_ID_LEN];
	const char *alert_kind;           /* "silence", ...; "" without an id */
	int64_t next_event_ms;            /* when the watchdog next acts on the case (a
					   * silence deadline, an escalation, a stalled
					   * handover); 0: nothing due, or withheld */
};

/* The meaning of an alert stage: "none", "1 (to the case's workers)",
 * "2 (escalated to the police)". */
VIGIL_API const char *vigil_alert_stage_label(unsigned stage);

/* VIGIL_OK when case_id is a valid case id (OWNER/PSEUDONYM: the owner's
 * organisation id, '/', 3-64 characters of [A-Za-z0-9-]), else
 * VIGIL_E_USAGE with the message the queries give. */
VIGIL_API int vigil_case_id_check(const char *case_id, struct vigil_error *err);

/* GetCaseStatus, for any party.  *out is NULL on failure. */
VIGIL_API int vigil_case_status(vigil_client *c, const char *case_id,
				struct vigil_case_status **out, struct vigil_error *err);

/* One entry of a case's log, with its proof. */
struct vigil_case_log_entry {
	struct vigil_entry entry;        /* index, receive time, certificate hash,
					  * record bytes, signature, leaf hash */
	size_t proof_len;
	const uint8_t (*inclusion_proof)[VIGIL_HASH_LEN]; /* to proof_root, leaf upwards */
	/* The tree the proof leads to: checkpoint's (proof_size ==
	 * checkpoint.size) unless the log grew while vigil_case_log() paged:
	 * then an earlier signed checkpoint's, proven a prefix of checkpoint's
	 * tree by a consistency proof. */
	uint64_t proof_size;
	uint8_t proof_root[VIGIL_HASH_LEN];
	/* Corrections (proto/README.md, "Corrections"), as the relay links
	 * them and this library checked them against the records' target_id
	 * wherever both entries are in the answer: corrects is the log index
	 * of the original a Correction entry corrects (is_correction 1);
	 * corrected_by the indexes of the corrections of this entry,
	 * ascending, the last one in force (n_corrected_by 0: none).
	 * ABI: added after the first version of this header: the struct grew,
	 * so a program built against the earlier header must be rebuilt. */
	int is_correction;
	uint64_t corrects;
	size_t n_corrected_by;
	const uint64_t *corrected_by;
};

/* A certificate that signed entries of the log, as the relay keeps it. */
struct vigil_certificate {
	uint8_t sha256[VIGIL_HASH_LEN];     /* SHA-256 of der, computed by the library */
	const uint8_t *der;                 /* DER X.509 */
	size_t der_len;
};

struct vigil_case_log {
	struct vigil_checkpoint checkpoint; /* verified with the checkpoint key; the
					     * last page's */
	size_t n;
	struct vigil_case_log_entry *entries; /* in log order */
	int more;                           /* vigil_case_log_page(): the case has
					     * entries past this page */
	/* The certificates that signed the entries, each once, in the order of
	 * their first entry: an entry's certificate is the one whose sha256 is
	 * its entry.cert_sha256.  The relay sends them with each page
	 * (CaseLog.certificates); an entry whose certificate a relay did not
	 * send (one older than this field) has none here.  Each certificate
	 * is one an entry of its page names (else VIGIL_E_VERIFY); whether it
	 * chains to the federation's CA and signed its records is checked by
	 * vigil_certificate_check() and vigil_signature_check().  (These two
	 * members were added at the end of the struct, which only the library
	 * allocates.) */
	size_t n_certificates;
	const struct vigil_certificate *certificates;
};

/* A GetCaseLog page: limit 0 means this many entries ... */
#define VIGIL_CASE_LOG_PAGE_DEFAULT 100
/* ... and no page holds more. */
#define VIGIL_CASE_LOG_PAGE_MAX 1000

/*
 * GetCaseLog: every entry of the case, for coordinator, iom and shelter
 * parties and the responsible party (others: VIGIL_E_REFUSED PERMISSION_DENIED).  The
 * relay answers in pages (VIGIL_CASE_LOG_PAGE_DEFAULT entries each); this
 * asks for page after page until the last, checks each page against its own
 * checkpoint and, when the log grew in between, fetches a consistency proof
 * from each earlier page's checkpoint to the last one's (checkpoint), so
 * every entry is proven to be in checkpoint's tree.  Each page is one read
 * in the case's readers list.
 * VIGIL_OK only when all of this holds, else VIGIL_E_VERIFY naming the
 * first failure:
 *   1. the checkpoint verifies with the checkpoint key (vigil_checkpoint_open);
 *   2. indexes strictly increase and are below the checkpoint's size;
 *   3. each leaf hash is recomputed from the entry's receive time,
 *      certificate hash, record bytes and signature;
 *   4. each record decodes and belongs to case_id;
 *   5. each inclusion proof leads from its leaf hash to the root of its page's
 *      checkpoint (proof_size, proof_root), and that tree is checkpoint's
 *      or was proven a prefix of it.
 * The records' signatures are not checked here: that needs the author's
 * certificate, which cert_sha256 identifies.  Decode a record with
 * vigil_record_decode().  *out is NULL on failure.
 */
VIGIL_API int vigil_case_log(vigil_client *c, const char *case_id, struct vigil_case_log **out,
			     struct vigil_error *err);

/*
 * GetCaseLog, one page: the case's entries with log index > after (from the
 * first when has_after is 0), at most limit (0: VIGIL_CASE_LOG_PAGE_DEFAULT;
 * more than VIGIL_CASE_LOG_PAGE_MAX is VIGIL_E_USAGE), every entry checked
 * as vigil_case_log() does (1. to 5., against this page's checkpoint; the
 * first entry must be past after).  (*out)->more: ask again with has_after
 * 1 and after = the last entry's index.  Each page is one read in the
 * case's readers list.
 */
VIGIL_API int vigil_case_log_page(vigil_client *c, const char *case_id, int has_after,
				  uint64_t after, uint32_t limit, struct vigil_case_log **out,
				  struct vigil_error *err);

/* One line of the case list. */
struct vigil_case_summary {
	char case_id[VIGIL_CASE_ID_LEN];
	const char *state;
	char responsible[VIGIL_ORG_LEN];
	const char *risk;
	int minor;
	int64_t last_success_ms;          /* 0: none yet */
	int64_t next_event_ms;            /* as vigil_case_status's; 0 for police */
	unsigned alert_stage;             /* 0: no open alert */
};

/* An alert open now on one of our cases and addressed to us at its stage
 * (vigil_open_alerts). */
#define VIGIL_OPEN_ACKS_MAX 8
struct vigil_open_alert {
	char case_id[VIGIL_CASE_ID_LEN];
	uint8_t alert_id[VIGIL_RECORD_ID_LEN];
	const char *kind;                 /* "silence", "failed_attempts", "handover_stalled" */
	unsigned stage;                   /* 1 or 2 (vigil_alert_stage_label) */
	int64_t raised_at_ms;
	int64_t escalates_at_ms;          /* when stage 1 goes to the police; 0: it will not */
	int64_t deadline_ms;              /* the missed deadline; 0: raised early */
	const char *police;               /* "none", "consider", "required" */
	size_t n_acks;                    /* acknowledgements so far, oldest first */
	struct {
		char organisation[VIGIL_ORG_LEN];
		const char *decision;     /* "police-report-filed", "not-filed", "other" */
		int64_t at_ms;
	} acks[VIGIL_OPEN_ACKS_MAX];
};

/*
 * GetOpenAlerts: the alerts open now on our cases that are addressed to our
 * organisation at their current stage, from the relay's case state (not
 * the delivery stream: it consumes nothing, and every colleague gets the
 * same list).  *out (vigil_free) has *n of them; VIGIL_E_VERIFY for a
 * malformed answer.
 */
VIGIL_API int vigil_open_alerts(vigil_client *c, struct vigil_open_alert **out, size_t *n,
				struct vigil_error *err);

/* ListCases: the cases the client's organisation is a party to, in the
 * relay's order (by case id).  *out is NULL when *n is 0. */
VIGIL_API int vigil_cases(vigil_client *c, struct vigil_case_summary **out, size_t *n,
			  struct vigil_error *err);

/* One recorded read of a case. */
struct vigil_case_read {
	char organisation[VIGIL_ORG_LEN];
	char what[32];                   /* "status", "log", "readers", "seal-readers"; a
					  * refused one with "-refused" appended; a refused
					  * record "contact-refused", "withdraw-refused", ... */
	int64_t at_ms;
};

/* GetCaseReaders: who read the case, what and when, oldest first; only for
 * the responsible organisation when it is a coordinator (others:
 * VIGIL_E_REFUSED PERMISSION_DENIED).  This read is itself recorded, and
 * listed the next time.  *out is NULL when *n is 0. */
VIGIL_API int vigil_case_readers(vigil_client *c, const char *case_id,
				 struct vigil_case_read **out, size_t *n,
				 struct vigil_error *err);

/* ---- the member directory ---------------------------------------------------- */

#define VIGIL_MEMBER_NAME_LEN 128 /* a member's display name (1-127 bytes of UTF-8) and its NUL */

/* One organisation of the relay's member directory. */
struct vigil_member {
	char organisation[VIGIL_ORG_LEN]; /* its id: the O of its certificate */
	const char *role;                 /* "coordinator", "police", "iom", "shelter" or "relay" */
	char country[3];                  /* ISO 3166-1 alpha-2: the C of its certificate */
	char name[VIGIL_MEMBER_NAME_LEN]; /* display name */
	/* Its encryption certificate (DER), the key sealed text is encrypted to
	 * for it; NULL and 0 when it has none.  Checked here, never taken on the
	 * relay's word: it chains to the CA this client trusts (--ca) and is
	 * valid now, has a P-256 key, keyUsage keyAgreement and nothing else,
	 * and this member's O, OU (role) and C. */
	const uint8_t *encryption_cert;
	size_t encryption_cert_len;
};

/*
 * GetMembers: every organisation the relay admits, with the role and
 * country its certificate must carry and its encryption certificate,
 * sorted by organisation id.  Any member may ask.  VIGIL_E_VERIFY when the
 * answer is malformed (an id, role, country or name out of form, the list
 * not strictly sorted) or an encryption certificate fails a check (the
 * message names the member and the check).  *out is one block for
 * vigil_free(), NULL when *n is 0.
 */
VIGIL_API int vigil_members(vigil_client *c, struct vigil_member **out, size_t *n,
			    struct vigil_error *err);

/* ---- alerts and erasures: subscription and delivery ---------------------------------
 *
 * The relay raises alerts itself (a silence past a case's window, failed
 * attempts, a stalled handover; escalation to stage 2; resolution) as log
 * entries it signs with its own certificate's key, and delivers each one to
 * the organisations it names.  It delivers its Erasure entries the same
 * way, to every party of the case: what it erased of which entries (their
 * sealed text, or the records themselves), why and on whose request, on
 * the owner's request (vigil_submit_erase) or by its retention rules.  A
 * client subscribes once per connection: the relay first replays every
 * stored alert and erasure for our organisation after max(after, the
 * position our organisation last acknowledged), in position order, then
 * pushes each new one within a second of its commit.  The client reads
 * them with vigil_next_alert() (out->event says which: VIGIL_EVENT_ALERT or
 * VIGIL_EVENT_ERASURE) and acknowledges what it has handled with
 * vigil_ack_deliveries(); acknowledged positions are kept by the relay per
 * organisation, so a later subscription (by anyone of the organisation)
 * starts after them.
 * An erasure is acknowledged like an alert; it is no alert: nothing is
 * open, and an AlertAck never names it.
 *
 * Erasures and copies: libvigil keeps no copy of a record or of opened
 * text (vigil_open_sealed opens an envelope when asked and returns the
 * text to the caller).  An application that keeps copies (records from
 * vigil_get_entries or a case log, text it opened, anything derived from
 * them) must delete those of the erased entries (out->erased, in the case
 * out->case_id) when it receives the erasure: their sealed text, and with
 * erase_whole the record bytes too.  It should acknowledge the erasure only
 * once that is done, so that a crash in between gets it again by replay.
 * A saved receipt (vigil_receipt and the record bytes kept beside it)
 * carries no free text, only the record's coded fields and the commitment
 * to its sealed text; after a whole-record erasure the relay keeps only the
 * leaf hash, and whether to keep such a receipt as the holder's evidence
 * is the holder's decision.
 *
 * While subscribed the connection works as before: submissions and
 * queries are answered, and deliveries that arrive while the library waits
 * for such an answer are kept, in order, for vigil_next_alert() (at most
 * VIGIL_DELIVERIES_KEPT_MAX frames; beyond that the connection ends with
 * VIGIL_E_PROTOCOL rather than drop one).
 *
 * Every alert is verified before it is returned, like a receipt:
 *   1. the entry's cert_sha256 is the SHA-256 of the relay's certificate as
 *      the TLS handshake showed it (vigil_relay_identity), and the record's
 *      signature verifies with that certificate's key;
 *   2. the leaf hash is recomputed from the entry's receive time,
 *      certificate hash, record bytes and signature;
 *   3. the checkpoint note verifies with the checkpoint key
 *      (vigil_checkpoint_open) and its size covers the position;
 *   4. the inclusion proof leads from the leaf hash at the position to the
 *      checkpoint's root;
 *   5. the record passes the relay's stateless validation, is an Alert
 *      or an Erasure, is authored by the relay's organisation (its
 *      certificate's O) and names our organisation among its recipients;
 *      an Erasure names at most VIGIL_ERASED_MAX entries, each before its
 *      own position;
 *   6. positions strictly increase within a subscription, starting above
 *      max(after, acked).
 * A failure is VIGIL_E_VERIFY naming the check; the connection stays
 * usable and the next call returns the next delivery.
 */

#define VIGIL_DELIVERIES_KEPT_MAX 4096

/* What vigil_next_alert() returned. */
enum vigil_event {
	VIGIL_EVENT_NONE = 0,    /* nothing within timeout_ms, or the wait was interrupted
				  * by a signal: call again (the connection is fine) */
	VIGIL_EVENT_ALERT = 1,   /* an alert, verified: the other fields */
	VIGIL_EVENT_LAGGING = 2, /* the relay stopped pushing: we left more than 1 MiB
				  * of deliveries unread.  acked holds the position the
				  * relay has as acknowledged; subscribe again (after
				  * the last position handled) to catch up by replay */
	VIGIL_EVENT_ERASURE = 3, /* an erasure, verified: the common fields, kind
				  * "erasure" and the erasure's fields at the end */
};

/*
 * One delivered alert or erasure.  The struct owns no memory (about 13 KiB).
 *
 * ABI: VIGIL_EVENT_ERASURE and the erasure's fields (the last group below)
 * were added after the first version of this header; every earlier member
 * keeps its offset and every earlier event its value, but the struct grew,
 * so a program built against the earlier header must be rebuilt before it
 * runs with this library (it would pass a smaller struct).  A program that
 * does not know VIGIL_EVENT_ERASURE should treat an unknown event as
 * nothing to show, but still acknowledge its position.
 */
struct vigil_alert {
	int event;                        /* enum vigil_event */
	uint64_t acked;                   /* VIGIL_EVENT_LAGGING only */
	/* VIGIL_EVENT_ALERT and VIGIL_EVENT_ERASURE: position, received_at_ms,
	 * record_id, leaf_hash, case_id, kind, recipients and checkpoint;
	 * VIGIL_EVENT_ALERT: the other fields up to checkpoint, which an
	 * erasure leaves 0 or "". */
	uint64_t position;                /* the entry's index in the log */
	int64_t received_at_ms;           /* when the relay committed it */
	uint8_t record_id[VIGIL_RECORD_ID_LEN]; /* this entry's record id */
	uint8_t leaf_hash[VIGIL_HASH_LEN];
	char case_id[VIGIL_CASE_ID_LEN];
	const char *kind;                 /* "silence", "failed_attempts" or
					   * "handover_stalled"; "erasure" for
					   * VIGIL_EVENT_ERASURE */
	unsigned stage;                   /* 1; 2 (escalated); 0 (resolved) */
	uint8_t alert_id[VIGIL_RECORD_ID_LEN]; /* the record id of the alert's first
					   * entry: every stage and the resolution
					   * carry it; an AlertAck names it */
	char alert_id_hex[2 * VIGIL_RECORD_ID_LEN + 1];
	int64_t deadline_ms;              /* the deadline missed; 0: none (raised early) */
	int64_t last_success_ms;          /* last successful contact; 0: none */
	unsigned failed_attempts;         /* failed attempts since then */
	size_t n_recipients;              /* the organisations it is delivered to */
	char recipients[VIGIL_RECIPIENTS_MAX][VIGIL_ORG_LEN];
	const char *police;               /* "none", "consider" or "required" */
	const char *police_advice;        /* "none", "missing-person report to be
					   * considered" or "missing-person report
					   * required" (a minor) */
	char resolution[32];              /* stage 0: "contact", "closed", "superseded",
					   * "handover-answered", "handover-withdrawn" or
					   * "corrected" (a correction took the silence
					   * away); "" otherwise */
	char cause[32];                   /* "" raised or escalated; "after-ack": raised
					   * again one window after an acknowledged alert
					   * of the case; "handover": an open alert told
					   * to the organisation that accepted the case */
	struct vigil_checkpoint checkpoint; /* verified; the proof leads to it */
	/* VIGIL_EVENT_ERASURE (0 or "" otherwise): the relay erased the entries
	 * erased[0 .. erased_n - 1] (log indexes, ascending, all of case_id):
	 * their sealed text, or with erase_whole 1 their record bytes and
	 * signature too (only their leaf hash is kept).  Named as in struct
	 * vigil_record_info. */
	int erase_whole;
	const char *erase_reason;         /* "data-subject-request", "unlawful-content",
					   * "other" (on request) or "retention" */
	char requested_by[VIGIL_ORG_LEN]; /* the owner that asked; "" for retention */
	uint8_t request_id[VIGIL_RECORD_ID_LEN]; /* the EraseRequest's record id;
					   * zeros for retention */
	char erase_reference[65];         /* the owner's reference; "" for retention */
	size_t erased_n;                  /* 1 .. VIGIL_ERASED_MAX */
	uint64_t erased[VIGIL_ERASED_MAX];
};

/*
 * Subscribes this connection to our organisation's alerts: sends Subscribe
 * and waits for Subscribed.  after: the last position already handled (0:
 * none); the relay starts above max(after, our acknowledged position),
 * which it returns in *acked (may be NULL).  VIGIL_E_USAGE when this
 * connection is already subscribed (a VIGIL_EVENT_LAGGING ends a
 * subscription; subscribe again then); VIGIL_E_REFUSED as the relay says.
 */
VIGIL_API int vigil_subscribe(vigil_client *c, uint64_t after, uint64_t *acked,
			      struct vigil_error *err);

/* A desk name's longest length (vigil_subscribe_desk). */
#define VIGIL_DESK_MAX 32

/*
 * The same for one desk of our organisation: each desk (1-VIGIL_DESK_MAX of
 * [a-z0-9-]; NULL, "" or "default": the organisation's default desk, the
 * one vigil_subscribe uses) has its own acknowledged position, so two
 * colleagues' desks each receive every delivery once.  VIGIL_E_USAGE for a
 * malformed desk name.
 */
VIGIL_API int vigil_subscribe_desk(vigil_client *c, const char *desk, uint64_t after,
				   uint64_t *acked, struct vigil_error *err);
/* VIGIL_OK, or VIGIL_E_USAGE "a desk is 1-32 of a-z 0-9 -, not ...". */
VIGIL_API int vigil_desk_check(const char *desk, struct vigil_error *err);

/*
 * Waits at most timeout_ms (0: only what has already arrived) for the next
 * delivery of the subscription and returns VIGIL_OK with out->event telling
 * what came: an alert or an erasure, verified (see above), nothing (a
 * timeout is not an error and leaves the connection as it was), or a
 * Lagging report.
 * Answers to submissions in flight that arrive meanwhile are kept for
 * vigil_recv_receipt().  VIGIL_E_VERIFY: the delivery did not prove itself
 * (out->position is the position the relay claimed; the rest is cleared).
 * VIGIL_E_REFUSED: the relay refused an acknowledgement
 * (vigil_ack_deliveries) or ended the subscription with an Error.
 * VIGIL_E_USAGE when the connection never subscribed (and no refusal of an
 * acknowledgement is waiting to be reported).  VIGIL_E_CONNECT only when a
 * frame that had begun to arrive stalled for the connection's timeout_ms.
 */
VIGIL_API int vigil_next_alert(vigil_client *c, int timeout_ms, struct vigil_alert *out,
			       struct vigil_error *err);

/*
 * Acknowledges every delivery up to and including position (DeliveryAck).
 * The relay keeps the highest position per organisation, durably, and
 * answers nothing unless it refuses (a position beyond its log): that
 * refusal comes later, as VIGIL_E_REFUSED from vigil_next_alert().  The
 * relay reads frames in order, so any query answered after this call (e.g.
 * vigil_get_checkpoint) shows the acknowledgement was read.  Needs no
 * subscription.
 */
VIGIL_API int vigil_ack_deliveries(vigil_client *c, uint64_t position, struct vigil_error *err);

/*
 * AlertAck: a coordinator party or the responsible organisation records its
 * decision on the open alert of a case, which stops its escalation to the
 * police.  A record like the case records (same three calls, same first
 * four fields).  The relay refuses an ack from anyone else
 * (PERMISSION_DENIED "only a coordinator party or the responsible
 * organisation acknowledges an alert") and for an alert that is not the
 * case's open one (BAD_REQUEST "that alert is not open").
 */
struct vigil_alert_ack {
	uint8_t record_id[VIGIL_RECORD_ID_LEN];
	int have_record_id;
	const char *case_id;
	int64_t client_time_ms;
	uint8_t alert_id[VIGIL_RECORD_ID_LEN]; /* struct vigil_alert.alert_id */
	const char *decision;         /* "police-report-filed", "not-filed" or "other" */
	const char *reason;           /* not-filed and other: 1-280 bytes of UTF-8;
				       * police-report-filed: optional (NULL or ""); sealed */
	uint8_t *sealed;              /* output: the reason's envelope */
	size_t sealed_len;
};

VIGIL_API int vigil_alert_ack_check(const struct vigil_alert_ack *a, struct vigil_error *err);
VIGIL_API int vigil_build_alert_ack(vigil_client *c, struct vigil_alert_ack *a,
				    uint8_t **record, size_t *record_len,
				    uint8_t **sig, size_t *sig_len, struct vigil_error *err);
VIGIL_API int vigil_submit_alert_ack(vigil_client *c, struct vigil_alert_ack *a,
				     struct vigil_receipt *out, struct vigil_error *err);

/* ---- offline verification ------------------------------------------------------ */

/* RFC 9162 leaf hash of a signed-record entry (proto/README.md, section 6).
 * VIGIL_E_USAGE for NULL pointers, VIGIL_E_NOMEM. */
VIGIL_API int vigil_leaf_hash(int64_t received_at_ms, const uint8_t cert_sha256[VIGIL_HASH_LEN],
			      const uint8_t *record, size_t record_len, const uint8_t *sig,
			      size_t sig_len, uint8_t out[VIGIL_HASH_LEN]);

/* VIGIL_OK when p leads from p->leaf_hash at p->index to root in the tree of
 * p->tree_size entries, else VIGIL_E_VERIFY. */
VIGIL_API int vigil_verify_inclusion(const struct vigil_inclusion_proof *p,
				     const uint8_t root[VIGIL_HASH_LEN], struct vigil_error *err);

/* VIGIL_OK when p proves the tree of p->from_size entries with root_from is
 * a prefix of the tree of p->to_size entries with root_to, else
 * VIGIL_E_VERIFY. */
VIGIL_API int vigil_verify_consistency(const struct vigil_consistency_proof *p,
				       const uint8_t root_from[VIGIL_HASH_LEN],
				       const uint8_t root_to[VIGIL_HASH_LEN],
				       struct vigil_error *err);

/*
 * A Merkle tree rebuilt from leaf hashes in O(log n) memory (a compact
 * range): append the leaf hashes of entries 0, 1, 2, ... in order and read
 * the root of the entries appended so far.
 */
typedef struct vigil_tree vigil_tree;
VIGIL_API int vigil_tree_new(vigil_tree **out);   /* VIGIL_E_NOMEM */
VIGIL_API void vigil_tree_append(vigil_tree *t, const uint8_t leaf_hash[VIGIL_HASH_LEN]);
VIGIL_API uint64_t vigil_tree_size(const vigil_tree *t);
/* SHA-256 of "" for an empty tree. */
VIGIL_API void vigil_tree_root(const vigil_tree *t, uint8_t root[VIGIL_HASH_LEN]);
/* NULL-safe; sets *t to NULL. */
VIGIL_API void vigil_tree_free(vigil_tree **t);

/* ---- evidence: records, certificates and texts checked offline ------------------
 *
 * What a court, or anyone holding an export of a case (vigil export), needs
 * to check a record without the relay: that a certificate was issued by the
 * federation's CA, that a record's signature verifies with it, and that a
 * sealed text's plaintext P is the one the record commits to.  These need
 * no connection and are thread-safe.
 */

/* SHA-256 of n bytes. */
VIGIL_API void vigil_sha256(const void *data, size_t n, uint8_t out[VIGIL_HASH_LEN]);

/*
 * Checks that der (one DER X.509 certificate) was issued by a CA
 * certificate of ca_file (PEM, one or more certificates; every one is a
 * trust anchor), through nothing but those: a signing certificate's
 * validity period is not checked (it signed in the past; the relay checked
 * it was valid then), nor any CRL.  On VIGIL_OK *id (may be NULL) holds its
 * subject and SHA-256.  VIGIL_E_IO when ca_file cannot be read or holds no
 * certificate, VIGIL_E_VERIFY when der does not parse or does not chain
 * (the message says why, e.g. "unable to get local issuer certificate").
 */
VIGIL_API int vigil_certificate_check(const char *ca_file, const uint8_t *der, size_t der_len,
				      struct vigil_identity *id, struct vigil_error *err);

/*
 * Checks a signature over data with the public key of the DER certificate
 * der, as records are signed (proto/README.md section 5: SHA-256 with the
 * key's scheme, DER ECDSA for EC keys; the pure scheme for Ed25519).
 * VIGIL_OK, or VIGIL_E_VERIFY ("the signature does not verify with the key
 * of certificate HEX", or a certificate that does not parse).
 */
VIGIL_API int vigil_signature_check(const uint8_t *der, size_t der_len, const uint8_t *data,
				    size_t data_len, const uint8_t *sig, size_t sig_len,
				    struct vigil_error *err);

/*
 * Signs a document that is not a record (an export's index) with our
 * organisation's key, the key of the TLS certificate, in the scheme records
 * are signed with, so that anyone checks it like a record (openssl dgst
 * -sha256 -verify).  Bytes that decode as a vigil record are refused
 * (VIGIL_E_USAGE): this key signs records only through the vigil_build_*
 * calls.  *sig is for vigil_free().  Needs no round trip.
 */
VIGIL_API int vigil_sign_document(vigil_client *c, const uint8_t *data, size_t len,
				  uint8_t **sig, size_t *sig_len, struct vigil_error *err);

/* Our own certificate (the first of cert_file) as DER, for vigil_free(). */
VIGIL_API int vigil_client_certificate(const vigil_client *c, uint8_t **der, size_t *len,
				       struct vigil_error *err);

/*
 * The verifier key text NAME+HHHHHHHH+BASE64 of a checkpoint key (see
 * "checkpoints and their key") into out (out_len bytes; VIGIL_ORIGIN_MAX +
 * 64 always suffices).  name: the key name, NULL for key->name (a PEM key
 * has none: then give the origin of its checkpoints).  VIGIL_E_USAGE for
 * an empty or over-long name.
 */
VIGIL_API int vigil_checkpoint_key_format(const struct vigil_checkpoint_key *key, const char *name,
					  char *out, size_t out_len, struct vigil_error *err);

/*
 * Checks offline that plain is the sealed plaintext P the record commits to
 * (proto/README.md, "Sealed text"): the record is valid and seals a text,
 * P has the field's length, the tag, the record's id and field, a text
 * length within the maximum, zero padding, UTF-8, and SHA-256(P) is the
 * record's commitment.  On VIGIL_OK *text (may be NULL) is the text
 * (NUL-terminated, for vigil_free()).  VIGIL_E_USAGE for a record that is
 * invalid or seals nothing, VIGIL_E_VERIFY naming the check that fails.
 */
VIGIL_API int vigil_sealed_plain_check(const uint8_t *record, size_t record_len,
				       const uint8_t *plain, size_t plain_len, char **text,
				       struct vigil_error *err);

/* ---- helpers ----------------------------------------------------------------- */

/* The i-th (0-based) channel / outcome name, NULL past the last one. */
VIGIL_API const char *vigil_channel_name(unsigned i);
VIGIL_API const char *vigil_outcome_name(unsigned i);
/* The same for the case codes: risk levels, risk factors, assessment
 * phases, handover reasons, close reasons and case states. */
VIGIL_API const char *vigil_risk_name(unsigned i);
VIGIL_API const char *vigil_factor_name(unsigned i);
VIGIL_API const char *vigil_phase_name(unsigned i);
VIGIL_API const char *vigil_handover_reason_name(unsigned i);
VIGIL_API const char *vigil_close_reason_name(unsigned i);
VIGIL_API const char *vigil_state_name(unsigned i);
/* Alert acknowledgement decisions ("police-report-filed", "not-filed",
 * "other") and alert kinds ("silence", "failed_attempts",
 * "handover_stalled"). */
VIGIL_API const char *vigil_ack_decision_name(unsigned i);
VIGIL_API const char *vigil_alert_kind_name(unsigned i);
/* Correction reasons ("data-entry-error", "wrong-time",
 * "wrong-channel-or-outcome", "other"). */
VIGIL_API const char *vigil_correction_reason_name(unsigned i);

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

/* Standard base64 with padding (RFC 4648, section 4): encode n bytes into
 * out (4 * ((n + 2) / 3) + 1 bytes, NUL-terminated) and return its length;
 * decode exactly len characters strictly (canonical padding, no spaces)
 * into out (out_cap bytes) and return the byte count, or -1. */
VIGIL_API size_t vigil_base64_encode(const uint8_t *in, size_t n, char *out);
VIGIL_API int vigil_base64_decode(const char *in, size_t len, uint8_t *out, size_t out_cap);

#ifdef __cplusplus
}
#endif

#endif
