/*
 * sealed.h - free text the relay cannot read (proto/README.md, "Sealed
 * text").
 *
 * A record never carries free text.  Its author builds the sealed plaintext
 *
 *   P = tag "vigil-sealed-v1\0" (16) | record_id (16) | field (1) |
 *       salt (32 random bytes) | text length (u16, big-endian) |
 *       text, padded with zero bytes to the field's maximum
 *
 * so that P has one length per field whatever the text, signs only the
 * commitment C = SHA-256(P) and the SHA-256 of each reader's encryption
 * certificate, and sends P encrypted beside the signed record as CMS
 * AuthEnvelopedData (RFC 5083): AES-256-GCM with a 16-byte tag, one ECDH
 * key-agreement recipient per reader (RFC 5753,
 * dhSinglePass-stdDH-sha256kdf-scheme, key wrap id-aes256-wrap), each named
 * by issuer and serial number.  `openssl cms -decrypt` opens it.
 *
 * The relay checks the envelope's form and its recipients against the
 * signed readers (sealed_check, sealed_recipients) but cannot open it;
 * a reader opens it (sealed_open) and checks P against the record
 * (sealed_plain_parse) and the commitment.
 *
 * Every function returns VG_OK or a negative vg_status; `why` gets a
 * one-line English reason on failure.
 */
#ifndef VIGIL_PROTO_SEALED_H
#define VIGIL_PROTO_SEALED_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "proto/record.h"

#define SEALED_TAG "vigil-sealed-v1"   /* with its NUL: 16 bytes */
#define SEALED_TAG_LEN 16u
#define SEALED_SALT_LEN 32u
#define SEALED_HEAD_LEN (SEALED_TAG_LEN + RECORD_ID_LEN + 1u + SEALED_SALT_LEN + 2u)
#define SEALED_READERS_MAX RECORD_PARTIES_MAX
#define SEALED_CMS_MAX 16384u          /* an envelope for 32 readers is ~6 KB */

/* The free-text fields (the byte after the record id in P). */
enum sealed_field {
	SEALED_NOTE = 1,           /* ContactAttempt: up to RECORD_NOTE_MAX bytes */
	SEALED_JUSTIFICATION = 2,  /* Override: up to RECORD_TEXT_MAX */
	SEALED_DECLINE_REASON = 3, /* HandoverAnswer: up to RECORD_TEXT_MAX */
	SEALED_ACK_REASON = 4,     /* AlertAck: up to RECORD_TEXT_MAX */
};

/* The field's longest text, 0 for an unknown field. */
size_t sealed_text_max(int field);
/* The length of P for the field, 0 for an unknown field. */
size_t sealed_plain_len(int field);
/* The field's name in messages ("note", "justification", ...). */
const char *sealed_field_name(int field);

/*
 * Builds P for text (strict UTF-8, at most sealed_text_max bytes) into out
 * (sealed_plain_len(field) bytes).  salt NULL: 32 fresh random bytes.
 */
int sealed_plain_build(int field, const uint8_t record_id[RECORD_ID_LEN],
		       const uint8_t *salt, const char *text, size_t text_len, uint8_t *out,
		       char *why, size_t why_len);

/*
 * Checks an opened P: its length, tag, field, record id, text length,
 * zero padding and UTF-8, and that SHA-256(P) is the signed commitment.
 * On success *text (NUL-terminated, malloc()ed) and *text_len.
 */
int sealed_plain_parse(const uint8_t *p, size_t len, int field,
		       const uint8_t record_id[RECORD_ID_LEN], const uint8_t commitment[SHA256_LEN],
		       char **text, size_t *text_len, char *why, size_t why_len);

/* C = SHA-256(P). */
void sealed_commit(const uint8_t *p, size_t len, uint8_t out[SHA256_LEN]);

/*
 * Is x an encryption certificate of this member: a P-256 key, keyUsage
 * keyAgreement and nothing else, subject O = org, OU = role, C = country?
 * (The chain to the federation's CA is the caller's check.)  VG_OK, or
 * VG_EBADREQ with e.g. "its keyUsage must be keyAgreement and nothing else".
 */
int sealed_enc_cert_check(X509 *x, const char *org, const char *role, const char *country,
			  char *why, size_t why_len);

/* SHA-256 of a certificate's DER encoding (how a record names a reader). */
int sealed_cert_sha256(X509 *cert, uint8_t out[SHA256_LEN]);

/*
 * Checks an envelope's form without opening it: DER (re-encodes to the same
 * bytes), at most SEALED_CMS_MAX bytes, AuthEnvelopedData of id-data with
 * AES-256-GCM (12-byte nonce, 16-byte tag), 1 to SEALED_READERS_MAX
 * recipients, each ECDH key agreement with dhSinglePass-stdDH-sha256kdf-
 * scheme and id-aes256-wrap, named by issuer and serial number.  On success
 * *out is the parsed envelope (CMS_ContentInfo_free), unless out is NULL.
 * VG_EBADREQ otherwise.
 */
int sealed_check(const uint8_t *der, size_t len, CMS_ContentInfo **out, char *why,
		 size_t why_len);

/*
 * Are the envelope's recipients exactly these certificates (each reader one
 * recipient, no recipient besides)?  VG_OK or VG_EBADREQ, checked in this
 * order: "sealed text has no recipient for reader J (ORG)", "sealed text
 * names reader J (ORG) twice", "sealed text has N recipient(s) besides the
 * record's readers".  J counts the readers as given; a recipient is never
 * named by its position, which DER's sorting of the SET OF makes depend on
 * the ephemeral keys.
 */
int sealed_recipients(CMS_ContentInfo *cms, X509 *const *readers, size_t n, char *why,
		      size_t why_len);

/* Whether the envelope has a recipient for x (by issuer and serial). */
int sealed_has_recipient(CMS_ContentInfo *cms, X509 *x);

/*
 * Seals P to the readers' encryption certificates (P-256 keys).  *der is
 * malloc()ed; it passes sealed_check and sealed_recipients.
 */
int sealed_seal(const uint8_t *p, size_t len, X509 *const *readers, size_t n, uint8_t **der,
		size_t *der_len, char *why, size_t why_len);

/*
 * Opens an envelope with one reader's encryption key and certificate (after
 * sealed_check).  *p is malloc()ed.  VG_EBADSIG when it does not open
 * (no recipient for this certificate, or a failed tag: a tampered envelope).
 */
int sealed_open(const uint8_t *der, size_t len, EVP_PKEY *key, X509 *cert, uint8_t **p,
		size_t *p_len, char *why, size_t why_len);

#endif
