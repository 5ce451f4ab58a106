/*
 * exportfmt.c - the forms a case export (export.h) shares between the
 * exporter and the verifier, with no I/O: file names, an entry's leaf, PEM
 * in and out, fingerprints, and text made safe to show.  Kept apart so
 * that the parsers of what a folder may hold (export_pem_certs,
 * export_clean) are fuzzed alone (tests/fuzz/fuzz_export.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "utf8.h"

void export_entry_name(uint64_t index, const char *suffix, char *out, size_t n)
{
	snprintf(out, n, "entries/%06llu.%s", (unsigned long long)index, suffix);
}

const char *export_text_field(const struct vigil_record_info *ri)
{
	const char *f = ri->sealed_field ? ri->sealed_field : "";
	if (!strcmp(f, "note"))
		return "note";
	if (!strcmp(f, "override_justification"))
		return "justification";
	if (!strcmp(f, "decline_reason"))
		return "decline-reason";
	if (!strcmp(f, "reason"))
		return "ack-reason";
	return "text";
}

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

uint8_t *export_leaf(int64_t received_at_ms, const uint8_t cert_sha256[VIGIL_HASH_LEN],
		     const uint8_t *record, size_t record_len, const uint8_t *sig, size_t sig_len,
		     size_t *len)
{
	if (record_len > UINT32_MAX || sig_len > UINT32_MAX)
		return NULL;
	size_t n = 1 + 8 + VIGIL_HASH_LEN + 4 + record_len + 4 + sig_len;
	uint8_t *b = malloc(n), *p = b;
	if (!b)
		return NULL;
	*p++ = 0x01;
	put_be(p, (uint64_t)received_at_ms, 8);
	p += 8;
	memcpy(p, cert_sha256, VIGIL_HASH_LEN);
	p += VIGIL_HASH_LEN;
	put_be(p, record_len, 4);
	p += 4;
	if (record_len)
		memcpy(p, record, record_len);
	p += record_len;
	put_be(p, sig_len, 4);
	p += 4;
	if (sig_len)
		memcpy(p, sig, sig_len);
	*len = n;
	return b;
}

char *export_pem_label(const char *label, const uint8_t *der, size_t len)
{
	char *b64 = malloc(4 * ((len + 2) / 3) + 1);
	if (!b64)
		return NULL;
	size_t n = vigil_base64_encode(der, len, b64);
	size_t cap = n + n / 64 + 2 * strlen(label) + 64;
	char *out = malloc(cap);
	if (out) {
		size_t o = (size_t)snprintf(out, cap, "-----BEGIN %s-----\n", label);
		for (size_t i = 0; i < n; i += 64) {
			size_t k = n - i < 64 ? n - i : 64;
			memcpy(out + o, b64 + i, k);
			o += k;
			out[o++] = '\n';
		}
		snprintf(out + o, cap - o, "-----END %s-----\n", label);
	}
	free(b64);
	return out;
}

char *export_pem(const uint8_t *der, size_t len)
{
	return export_pem_label("CERTIFICATE", der, len);
}

void export_fingerprint(const uint8_t h[VIGIL_HASH_LEN], char out[3 * VIGIL_HASH_LEN])
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < VIGIL_HASH_LEN; i++) {
		out[3 * i] = hex[h[i] >> 4];
		out[3 * i + 1] = hex[h[i] & 15];
		out[3 * i + 2] = i + 1 < VIGIL_HASH_LEN ? ':' : '\0';
	}
}

/* ---- the CA file's certificates ---------------------------------------------------- */

int export_pem_certs(const char *text, size_t len, char **filtered,
		     uint8_t (**sha)[VIGIL_HASH_LEN], size_t *n)
{
	*filtered = NULL;
	*sha = NULL;
	*n = 0;
	if (memchr(text, '\0', len))
		return -2; /* not text */
	char *out = malloc(len + 2), *b64 = malloc(len + 1);
	size_t o = 0, bl = 0;
	int in = 0, rc = 0;
	const char *p = text, *end = text + len;
	while (out && b64 && rc == 0 && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *next = nl ? nl + 1 : end;
		while (l && p[l - 1] == '\r')
			l--;
		int begin = l == 27 && !memcmp(p, "-----BEGIN CERTIFICATE-----", 27);
		int stop = l == 25 && !memcmp(p, "-----END CERTIFICATE-----", 25);
		if (begin) {
			in = 1;
			bl = 0;
		}
		if (in) {
			memcpy(out + o, p, l);
			o += l;
			out[o++] = '\n';
			if (!begin && !stop) {
				memcpy(b64 + bl, p, l);
				bl += l;
			}
		}
		if (in && stop) {
			in = 0;
			uint8_t *der = malloc(bl ? bl : 1);
			int dl = der ? vigil_base64_decode(b64, bl, der, bl) : -1;
			void *nh = realloc(*sha, (*n + 1) * VIGIL_HASH_LEN);
			if (nh)
				*sha = nh;
			if (!der || !nh)
				rc = -1;
			else if (dl <= 0)
				rc = -2;
			else
				vigil_sha256(der, (size_t)dl, (*sha)[(*n)++]);
			free(der);
		}
		p = next;
	}
	free(b64);
	if (!out || (rc == 0 && !b64))
		rc = -1;
	else if (rc == 0 && in)
		rc = -2; /* a block that is not closed */
	if (rc != 0) {
		free(out);
		free(*sha);
		*sha = NULL;
		*n = 0;
		return rc;
	}
	out[o] = '\0';
	*filtered = out;
	return 0;
}

/* ---- text that is safe to show ---------------------------------------------------- */

/* Length of the valid UTF-8 character at s (avail bytes left), 0 if none:
 * C1 controls (U+0080-U+009F) are no text either. */
static size_t utf8_char(const unsigned char *s, size_t avail)
{
	size_t n = cli_utf8_len(s, avail);
	if (n == 2 && s[0] == 0xC2 && s[1] < 0xA0)
		return 0;
	return n;
}

void export_clean(const char *in, char *out, size_t n)
{
	static const char fffd[] = "\xEF\xBF\xBD";
	const unsigned char *s = (const unsigned char *)in;
	size_t left = strlen(in), o = 0;
	if (n == 0)
		return;
	while (left > 0) {
		size_t k = utf8_char(s, left);
		const char *piece = (const char *)s;
		size_t plen = k;
		if (k == 0) {
			piece = fffd;
			plen = 3;
			k = 1;
		} else if (k == 1 && (s[0] < 0x20 || s[0] == 0x7f) && s[0] != '\n' &&
			   s[0] != '\t') {
			plen = 0;
		}
		if (o + plen + 1 > n)
			break;
		memcpy(out + o, piece, plen);
		o += plen;
		s += k;
		left -= k;
	}
	out[o] = '\0';
}
