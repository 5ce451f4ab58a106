/*
 * note.h - C2SP signed notes (c2sp.org/signed-note) with Ed25519, and the
 * checkpoint body of c2sp.org/tlog-checkpoint.
 *
 * A relay signs each checkpoint as a note:
 *
 *   <origin>\n<tree size>\n<base64 root hash>\n
 *   \n
 *   — <key name> <base64(4-byte key ID || Ed25519 signature)>\n
 *
 * key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4].
 * A verifier key is written "<name>+<key ID as 8 hex digits>+<base64(0x01 ||
 * public key)>", the form tlog tooling and witnesses use.
 *
 * Returns 0 or a negative vg_status: VG_EBADREQ for malformed input,
 * VG_EBADSIG for a note no known key signed.
 */
#ifndef VIGIL_PROTO_NOTE_H
#define VIGIL_PROTO_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "proto/record.h"

#define NOTE_NAME_MAX 255
#define NOTE_MAX 16384        /* largest note accepted for verification */
#define ED25519_LEN 32

struct note_verifier {
	char name[NOTE_NAME_MAX + 1];
	uint32_t id;
	uint8_t pub[ED25519_LEN];
};

/* The key ID of an Ed25519 key under a name. */
uint32_t note_key_id(const char *name, const uint8_t pub[ED25519_LEN]);

/* Parses "name+hex8+base64(0x01||pub)" (the ID must match the key). */
int note_verifier_parse(const char *vkey, struct note_verifier *v);
/* Builds a verifier from an Ed25519 public or private key. */
int note_verifier_from_key(EVP_PKEY *key, const char *name, struct note_verifier *v);
/* Writes the verifier key string into out (at most len bytes). */
int note_verifier_format(const struct note_verifier *v, char *out, size_t len);

/*
 * Signs text (which must end in a newline and hold no blank line at its
 * end) with an Ed25519 key under name.  *note is malloc()ed and NUL-ended.
 */
int note_sign(EVP_PKEY *key, const char *name, const char *text, size_t text_len,
	      char **note, size_t *note_len);

/*
 * A signer of many notes with one key under one name (the relay signs a
 * checkpoint per batch): the key ID is computed once and one signing
 * context serves every note, where note_sign() reads the public key,
 * hashes the key ID and runs EVP_DigestSignInit() (method and key
 * look-ups in OpenSSL 3) each time.  One thread at a time.
 *
 * note_signer_new() takes a reference to key; NULL when it is no Ed25519
 * key, the name is not a valid key name, or out of memory.
 * note_signer_sign() is note_sign() with the signer's key and name.
 * note_signer_free() accepts NULL.
 */
struct note_signer;
struct note_signer *note_signer_new(EVP_PKEY *key, const char *name);
int note_signer_sign(struct note_signer *s, const char *text, size_t text_len, char **note,
		     size_t *note_len);
void note_signer_free(struct note_signer *s);

/*
 * Verifies note against v: it must be well-formed and carry a signature
 * line with v's name and ID that verifies.  Signatures of other keys are
 * ignored.  On success *text_len is the length of the signed text (a prefix
 * of note).
 */
int note_open(const char *note, size_t len, const struct note_verifier *v, size_t *text_len);

struct checkpoint {
	char origin[NOTE_NAME_MAX + 1];
	uint64_t size;
	uint8_t root[SHA256_LEN];
};

/* The checkpoint's note text; returns its length, or -1 if it does not fit. */
int checkpoint_format(const struct checkpoint *c, char *out, size_t len);
/* Parses a checkpoint body (extension lines are allowed and ignored). */
int checkpoint_parse(const char *text, size_t len, struct checkpoint *c);

/* Standard base64 (RFC 4648 section 4) with padding. */
size_t base64_encode(const uint8_t *in, size_t n, char *out);  /* out: 4*ceil(n/3)+1 */
/* Strict decode of exactly len characters; returns bytes or -1. */
int base64_decode(const char *in, size_t len, uint8_t *out, size_t out_cap);

#endif
