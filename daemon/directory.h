/*
 * directory.h - the member directory: the organisations of the federation,
 * each with its role, country and display name (DESIGN.md section 2).
 *
 * A certificate is only half an identity: the CA says who holds a key, the
 * directory says who is a member.  The relay refuses at the handshake a
 * certificate whose organisation (O) is not a member, or whose role (OU) or
 * country (C) disagree with the member's entry; parties are addressed by
 * their directory role.
 *
 * Ownership and threads: directory_load() builds the object, at start-up
 * and at each reload (SIGHUP, reload.h); it never changes afterwards, so
 * any thread (the loop, the thread pool, the writer) may read it without a
 * lock.  A reload replaces the relay's directory with a new one, so every
 * user that keeps one beyond a loop callback (the TLS context, a
 * submission on the thread pool, the writer) holds a reference
 * (directory_ref, directory_release: atomic counts); the last release
 * frees it.  The members directory_find() and directory_at() return
 * belong to the directory and live as long as it does.
 *
 * File format (INI, libinih), one section per organisation id:
 *
 *   [se-stockholm-coord]
 *   role = coordinator
 *   country = SE
 *   name = Stockholm county coordinator
 *
 *   encryption_cert = se-stockholm-coord.enc.crt
 *
 * The section name is the organisation id (1-64 characters of [a-z0-9-],
 * the certificate's O); role is one of coordinator, police, iom, shelter,
 * relay (the certificate's OU); country is two upper-case letters (the
 * certificate's C); name is 1-127 bytes of UTF-8 without control
 * characters.  These three keys are required.  encryption_cert, optional
 * (not for the relay, which reads no sealed text), is a PEM file (relative
 * to the directory file's own directory): the organisation's encryption
 * certificate, to which the other parties seal free text (proto/sealed.h).
 * It must have a P-256 key, keyUsage keyAgreement and nothing else, and the
 * member's O, OU and C; directory_verify_keys() checks that it chains to
 * the federation's CA.  A member without one can be no reader of sealed
 * text.  A section given twice, an
 * unknown or repeated key, a key outside a section, an indented
 * (multi-line) value, a line over 198 characters and a file that lists no
 * organisation are errors.  At most DIRECTORY_MAX organisations.
 */
#ifndef VIGIL_DAEMON_DIRECTORY_H
#define VIGIL_DAEMON_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "daemon/identity.h"
#include "proto/record.h"

#define DIRECTORY_MAX 10000       /* organisations in one directory */
#define DIRECTORY_NAME_MAX 127    /* bytes of a display name */

struct member {
	char org[RECORD_ORG_MAX + 1];
	enum role role;
	char country[3];
	char name[DIRECTORY_NAME_MAX + 1];
	X509 *enc_cert;                       /* encryption certificate, or NULL */
	uint8_t enc_sha256[SHA256_LEN];       /* SHA-256 of its DER (when enc_cert) */
	uint8_t *enc_der;                     /* its DER encoding (when enc_cert) */
	size_t enc_der_len;
};

struct directory;

/*
 * Reads and validates path into *out.  Returns 0, or a negative vg_status
 * (proto/status.h): VG_EBADREQ for invalid content, VG_EIO when the file
 * cannot be read, VG_ENOMEM; then *out is NULL and err holds
 * "FILE:LINE: what is wrong" (LINE 0 when no line is to blame).
 */
int directory_load(const char *path, struct directory **out, char *err, size_t err_len);

/* The member whose organisation id is org, or NULL.  O(log n). */
const struct member *directory_find(const struct directory *d, const char *org);

/* The member whose encryption certificate hashes (SHA-256 of its DER) to
 * sha256, or NULL.  O(n). */
const struct member *directory_find_enc(const struct directory *d,
					const uint8_t sha256[SHA256_LEN]);

/* The number of members, and the i-th (i < count) in order of org. */
size_t directory_count(const struct directory *d);
const struct member *directory_at(const struct directory *d, size_t i);

/*
 * Whether a certificate's identity (O, OU, C) may connect: its organisation
 * is a member and the role and country agree with the entry.  0, or -1
 * with the reason in why, e.g. "organisation x is not a member" or
 * "organisation x: certificate OU police disagrees with directory role iom".
 */
int directory_admit(const struct directory *d, const char *org, enum role role,
		    const char *country, char *why, size_t why_len);

/*
 * Checks that every member's encryption certificate chains to the trust
 * anchors (and CRLs) of store at the current time.  0, or -1 with
 * "organisation X: encryption certificate FILE: reason" in why.
 */
int directory_verify_keys(const struct directory *d, X509_STORE *store, char *why,
			  size_t why_len);

/* The case rules' view of a directory (struct case_members, ctx the
 * directory): a member's role (ROLE_NONE for no member), and the SHA-256
 * of its encryption certificate into out (1, or 0 when it has none). */
int directory_role_of(const void *dir, const char *org);
int directory_enc_of(const void *dir, const char *org, uint8_t out[SHA256_LEN]);

/* Frees *d (NULL is fine) and sets *d to NULL, whatever its references:
 * for the one that loaded it when nobody else has it. */
void directory_free(struct directory **d);

/* Takes a reference (d may be NULL); returns d. */
const struct directory *directory_ref(const struct directory *d);
/* Drops one (NULL is fine), freeing the directory at the last; sets *d to
 * NULL.  directory_load's own reference is one of them. */
void directory_release(const struct directory **d);

#endif
