/*
 * record.h - the signed unit of evidence: validation, signatures, entry
 * leaves.
 *
 * A Record travels as its exact serialized bytes plus a DER signature over
 * them (SignedRecord).  Nothing here re-encodes a Record: validation parses
 * a copy and checks every field; signatures are over the bytes as received.
 *
 * Every function returns VG_OK or a negative vg_status.  Functions that take
 * `char *why, size_t why_len` write a one-line English reason on failure.
 */
#ifndef VIGIL_PROTO_RECORD_H
#define VIGIL_PROTO_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "proto/vigil.pb-c.h"

#define RECORD_ID_LEN 16u
#define RECORD_ORG_MAX 64u
/* A case id is qualified by its owner: "se-stockholm-coord/SE-2026-0042". */
#define RECORD_CASE_LOCAL_MIN 3u
#define RECORD_CASE_LOCAL_MAX 64u
#define RECORD_CASE_ID_MAX (RECORD_ORG_MAX + 1u + RECORD_CASE_LOCAL_MAX)
#define RECORD_CASE_ID_RULE                                                              \
	"OWNER/PSEUDONYM: the owner's organisation id, '/', and 3-64 characters of "     \
	"[A-Za-z0-9-]"
#define RECORD_NOTE_MAX 512u
#define RECORD_SIG_MAX 512u
#define RECORD_TEXT_MAX 280u     /* justifications and decline reasons */
#define RECORD_PARTIES_MAX 32u
#define SHA256_LEN 32u

/* Entry types of the log (the first byte of every leaf). */
enum entry_type {
	ENTRY_SIGNED_RECORD = 1,
};

/* Is s a valid case id (RECORD_CASE_ID_RULE)? */
int record_case_id_ok(const char *s);

/* Is s a valid organisation id: 1-64 characters of [a-z0-9-]? */
int record_org_ok(const char *s);

/* Is s strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF? */
int record_utf8_ok(const char *s);

/*
 * Parses and validates record bytes.  On success *out is the parsed Record
 * (free with record_free()).  VG_EBADREQ for malformed or invalid fields,
 * VG_ETOOLARGE for a field over its limit.
 */
int record_parse(const uint8_t *bytes, size_t len, Vigil__V1__Record **out,
		 char *why, size_t why_len);
void record_free(Vigil__V1__Record *r);

/*
 * Signs data with key: SHA-256 and the key's signature scheme (DER ECDSA for
 * EC keys).  *sig is malloc()ed.
 */
int record_sign(EVP_PKEY *key, const uint8_t *data, size_t len, uint8_t **sig, size_t *sig_len);

/* VG_OK when sig is a valid signature over data by key, else VG_EBADSIG. */
int record_verify(EVP_PKEY *key, const uint8_t *data, size_t len, const uint8_t *sig, size_t sig_len);

/*
 * One key's verification, set up once for many records: OpenSSL 3 looks up
 * the signature method, the key's provider data and the digest (a method
 * store search under a lock each) in every EVP_DigestVerifyInit(); a
 * verifier does that once, and each check copies the initialised context.
 * A relay keeps one per connection (the peer certificate's key).
 *
 * record_verifier_new() takes a reference to key; NULL when out of memory.
 * record_verifier_check() is record_verify() with the verifier's key, and
 * may be called from several threads at once on the same verifier (it only
 * reads it).  record_verifier_free() accepts NULL.
 */
struct record_verifier;
struct record_verifier *record_verifier_new(EVP_PKEY *key);
int record_verifier_check(const struct record_verifier *v, const uint8_t *data, size_t len,
			  const uint8_t *sig, size_t sig_len);
void record_verifier_free(struct record_verifier *v);

/* SHA-256, fetched from the default provider once for the process (what
 * EVP_sha256() fetches again in every call that takes it). */
const EVP_MD *record_sha256(void);

/*
 * The leaf of a stored signed record, as hashed into the log (see
 * proto/README.md, "Entries and leaf hashes"):
 *   u8 type (1) | u64 received_at_ms | 32 cert_sha256 |
 *   u32 record_len | record | u32 sig_len | signature      (big-endian)
 * *leaf is malloc()ed.
 */
int entry_leaf_encode(int64_t received_at_ms, const uint8_t cert_sha256[SHA256_LEN],
		      const uint8_t *record, size_t record_len,
		      const uint8_t *sig, size_t sig_len, uint8_t **leaf, size_t *leaf_len);

/*
 * The record's free-text field, if its kind has one: the SealedText (NULL
 * when not sealed), *field its sealed_field number (proto/sealed.h: 1 note,
 * 2 justification, 3 decline reason, 4 acknowledgement reason; 0 when the
 * kind has no free text) and *plain the text in the clear (NULL when
 * empty; only older records have one).
 */
const Vigil__V1__SealedText *record_sealed_text(const Vigil__V1__Record *r, int *field,
						const char **plain);

/* 1 when the record bytes are an Erasure or an EraseRequest: records that
 * say what was erased, and are never erased themselves. */
int record_is_erasure(const uint8_t *bytes, size_t len);

/* Names of vigil.v1.EraseReason ("data-subject-request", ...); NULL/0 when
 * unknown. */
const char *record_erase_reason_name(int v);
int record_erase_reason_from_name(const char *s);

/* RFC 9162 section 2.1.1: SHA-256(0x00 || leaf). */
void merkle_leaf_hash(const uint8_t *leaf, size_t len, uint8_t out[SHA256_LEN]);

/* Command-line names of channels and outcomes ("home-visit", "no-answer"). */
const char *record_channel_name(int channel);
int record_channel_from_name(const char *name);   /* 0 when unknown */
const char *record_outcome_name(int outcome);
int record_outcome_from_name(const char *name);   /* 0 when unknown */
/* The same for the case bodies' codes ("high", "debt-bondage", "periodic",
 * "additional-services", "lost-contact") and case states ("follow-up"). */
const char *record_risk_name(int v);
int record_risk_from_name(const char *name);
const char *record_factor_name(int v);
int record_factor_from_name(const char *name);
const char *record_phase_name(int v);
int record_phase_from_name(const char *name);
const char *record_handover_reason_name(int v);
int record_handover_reason_from_name(const char *name);
const char *record_close_reason_name(int v);
int record_close_reason_from_name(const char *name);
const char *record_state_name(int v);
/* Alert acknowledgement decisions ("police-report-filed", "not-filed",
 * "other") and alert kinds ("silence", "failed_attempts",
 * "handover_stalled"). */
const char *record_ack_decision_name(int v);
int record_ack_decision_from_name(const char *name);
const char *record_alert_kind_name(int v);
/* Correction reasons ("data-entry-error", "wrong-time",
 * "wrong-channel-or-outcome", "other"). */
const char *record_correction_reason_name(int v);
int record_correction_reason_from_name(const char *name);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void hex_encode(const uint8_t *in, size_t n, char *out);
/* Parses exactly 2n hex digits into n bytes; VG_EBADREQ otherwise. */
int hex_decode(const char *in, uint8_t *out, size_t n);

#define TIME_RFC3339_MAX 80
/* RFC 3339 UTC with milliseconds, e.g. 2026-11-28T09:15:00.000Z. */
void time_format_rfc3339(int64_t ms, char out[TIME_RFC3339_MAX]);
/* Parses RFC 3339 (Z or +hh:mm offset, optional fraction); VG_EBADREQ otherwise. */
int time_parse_rfc3339(const char *s, int64_t *ms);

#endif
