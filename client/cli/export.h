/*
 * export.h - a case's evidence as a folder that a prosecutor or a court
 * keeps and checks without the relay: what "vigil export" writes
 * (export.c), its printable report and its instructions (report.c), and
 * what "vigil verify --export" checks (exportverify.c).
 *
 * The folder (EXPORT_* names below; NNNNNN is an entry's log index, at
 * least six digits, HASH a certificate's SHA-256 in hex):
 *
 *   entries/NNNNNN.record   the record's exact bytes, as signed
 *   entries/NNNNNN.sig      its signature (DER)
 *   entries/NNNNNN.leaf     the entry's leaf (proto/README.md section 6):
 *                           type, receive time, certificate hash, record,
 *                           signature; SHA-256(0x00 || leaf) is its leaf hash
 *   entries/NNNNNN.cms      its sealed text's envelope as the relay stores it
 *   texts/NNNNNN-FIELD.txt  with --include-text only: the opened text, and
 *   texts/NNNNNN-FIELD.p    the sealed plaintext P whose SHA-256 the record
 *                           commits to
 *   certs/HASH.der, .pem    every certificate that signed an entry, and the
 *                           exporter's
 *   ca.pem                  the federation CA the exporter trusts
 *   checkpoint.txt          the relay's signed checkpoint, exactly as served
 *   checkpoint.vkey         the relay's checkpoint key (verifier key text)
 *   checkpoint-key.pem      the same key as a PEM Ed25519 public key
 *   report.html             the printable timeline
 *   VERIFY.txt              how to check it with the openssl command
 *   index.json              everything above, machine-readable, with the
 *                           SHA-256 of every other file
 *   index.json.sig          the exporter organisation's signature over it
 *
 * The export holds only entries that verified: leaf hashes, inclusion
 * proofs to the checkpoint, signatures, certificates against the CA.
 */
#ifndef VIGIL_CLI_EXPORT_H
#define VIGIL_CLI_EXPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "vigil.h"

#define EXPORT_FORMAT "vigil-case-export/1"
#define EXPORT_INDEX "index.json"
#define EXPORT_INDEX_SIG "index.json.sig"
#define EXPORT_REPORT "report.html"
#define EXPORT_VERIFY "VERIFY.txt"
#define EXPORT_CA "ca.pem"
#define EXPORT_CHECKPOINT "checkpoint.txt"
#define EXPORT_VKEY "checkpoint.vkey"
#define EXPORT_KEY_PEM "checkpoint-key.pem"
#define EXPORT_TEXTS_README "texts/README.txt"
#define EXPORT_NAME_MAX 96   /* a file name within the folder, NUL included */
#define EXPORT_BASE_MAX 48   /* a name without its suffix ("entries/NNNNNN") */
#define EXPORT_VKEY_MAX (VIGIL_ORIGIN_MAX + 64)

/* A certificate that signed entries (or the export). */
struct export_cert {
	uint8_t sha256[VIGIL_HASH_LEN];
	char hex[2 * VIGIL_HASH_LEN + 1];
	const uint8_t *der;
	size_t der_len;
	struct vigil_identity id;          /* its subject, checked against the CA */
};

/* What became of an entry's sealed text in the export. */
enum export_text {
	EXPORT_TEXT_NONE = 0,     /* the record seals no text */
	EXPORT_TEXT_SEALED,       /* its envelope is kept, not opened */
	EXPORT_TEXT_ERASED,       /* the relay erased it */
	EXPORT_TEXT_OPENED,       /* --include-text: opened, text and P kept */
	EXPORT_TEXT_NOT_READER,   /* --include-text: the exporter is no reader of it */
};

struct export_entry {
	const struct vigil_entry *e;       /* in the verified case log */
	const struct vigil_case_log_entry *le; /* its log entry: corrects, corrected_by */
	struct vigil_record_info *ri;      /* decoded; NULL for an erased record */
	size_t cert;                       /* its certificate in struct export.certs */
	size_t proof_len;                  /* to the export's checkpoint */
	uint8_t proof[VIGIL_PROOF_MAX][VIGIL_HASH_LEN];
	int64_t erased_by;                 /* the Erasure entry naming it, or -1 */
	int text;                          /* enum export_text */
	char *text_value;                  /* EXPORT_TEXT_OPENED (vigil_free) */
	uint8_t *plain;                    /* and its P (vigil_free) */
	size_t plain_len;
	char base[EXPORT_BASE_MAX];        /* "entries/NNNNNN" */
	char text_base[EXPORT_BASE_MAX];   /* "texts/NNNNNN-FIELD" when opened */
};

struct export {
	const char *case_id;
	int64_t exported_at_ms;
	char exporter[VIGIL_ORG_LEN];
	size_t exporter_cert;              /* in certs */
	struct vigil_checkpoint cp;        /* every proof leads to its root */
	char vkey[EXPORT_VKEY_MAX];        /* the checkpoint key, verifier key text */
	struct export_entry *entries;
	size_t n;
	struct export_cert *certs;
	size_t n_certs;
	int include_text;
	/* The CA file's certificates: SHA-256 of each one's DER. */
	size_t n_ca;
	uint8_t (*ca_sha256)[VIGIL_HASH_LEN];
};

/* exportfmt.c */
/* The file name of entry index with suffix ("record", "sig", ...). */
void export_entry_name(uint64_t index, const char *suffix, char *out, size_t n);
/* The field a sealed text is in, as a file name part: "note",
 * "justification", "decline-reason", "ack-reason". */
const char *export_text_field(const struct vigil_record_info *ri);
/* The entry's leaf (proto/README.md section 6): malloc()ed, or NULL. */
uint8_t *export_leaf(int64_t received_at_ms, const uint8_t cert_sha256[VIGIL_HASH_LEN],
		     const uint8_t *record, size_t record_len, const uint8_t *sig, size_t sig_len,
		     size_t *len);
/* DER bytes as PEM under label ("CERTIFICATE", "PUBLIC KEY"), lines of 64
 * characters (malloc()ed string), or NULL. */
char *export_pem_label(const char *label, const uint8_t *der, size_t len);
/* A DER certificate as PEM, likewise. */
char *export_pem(const uint8_t *der, size_t len);
/* "AB:CD:..." of a hash, as openssl x509 -fingerprint prints it. */
void export_fingerprint(const uint8_t h[VIGIL_HASH_LEN], char out[3 * VIGIL_HASH_LEN]);

/* The CERTIFICATE blocks of PEM text: *filtered (malloc()ed) holds them
 * alone, (*sha)[i] the SHA-256 of the i-th one's DER.  0; -1 out of memory;
 * -2 not text (a NUL byte), a block that is not base64 or not closed. */
int export_pem_certs(const char *text, size_t len, char **filtered,
		     uint8_t (**sha)[VIGIL_HASH_LEN], size_t *n);
/* in as valid UTF-8 into out (n bytes, NUL-terminated, cut at a character):
 * invalid bytes become U+FFFD, control characters other than tab and
 * newline are dropped.  4 * strlen(in) + 1 bytes always suffice. */
void export_clean(const char *in, char *out, size_t n);

/* export.c */
/* Reads a regular file (no symbolic link) of at most max bytes: 0 with
 * *data (malloc()ed, NUL after the last byte) and *len, or -1 with errno. */
int export_read_file(const char *path, size_t max, uint8_t **data, size_t *len);

/* report.c */
/* The printable report: one self-contained HTML page. 0, or -1 when the
 * stream fails. */
int report_write(FILE *f, const struct export *x);
/* VERIFY.txt: the openssl steps for this folder's files. */
int report_verify_txt(FILE *f, const struct export *x);
/* Writes s with HTML's special characters as entities, control
 * characters other than newline and tab dropped and invalid UTF-8 as
 * U+FFFD, so that no string from a record or certificate can become markup. */
void report_html_escape(FILE *f, const char *s);

/* exportverify.c */
/* vigil verify --export DIR: an exit status after printing the verdict. */
int export_verify(struct settings *s, const char *dir);

#endif
