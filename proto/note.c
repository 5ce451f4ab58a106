#include "proto/note.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "proto/status.h"

#define EM_DASH "\xe2\x80\x94"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

static int b64val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

int base64_decode(const char *in, size_t len, uint8_t *out, size_t out_cap)
{
	if (len % 4 != 0)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad) {
				return -1; /* data after padding */
			} else if ((v[k] = b64val(in[i + k])) < 0) {
				return -1;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		/* Canonical: the bits under the padding must be zero. */
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return -1;
		size_t take = 3 - (size_t)pad;
		if (o + take > out_cap)
			return -1;
		out[o++] = (uint8_t)(w >> 16);
		if (take > 1)
			out[o++] = (uint8_t)(w >> 8);
		if (take > 2)
			out[o++] = (uint8_t)w;
	}
	return (int)o;
}

/* The n bytes at name: a key name has no spaces (ASCII or Unicode), no
 * '+' and no control characters.  name need not be NUL-terminated. */
static int name_ok(const char *name, size_t n)
{
	if (n == 0 || n > NOTE_NAME_MAX)
		return 0;
	const unsigned char *u = (const unsigned char *)name;
	for (size_t i = 0; i < n; i++) {
		if (u[i] <= 0x20 || u[i] == '+' || u[i] == 0x7f)
			return 0;
		/* U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F,
		 * U+205F, U+3000: the Unicode spaces, in UTF-8. */
		if (u[i] == 0xc2 && i + 1 < n && u[i + 1] == 0xa0)
			return 0;
		if (i + 2 < n) {
			unsigned a = u[i], b = u[i + 1], c = u[i + 2];
			if ((a == 0xe1 && b == 0x9a && c == 0x80) ||
			    (a == 0xe2 && b == 0x80 && (c <= 0x8a || c == 0xa8 || c == 0xa9 || c == 0xaf)) ||
			    (a == 0xe2 && b == 0x81 && c == 0x9f) || (a == 0xe3 && b == 0x80 && c == 0x80))
				return 0;
		}
	}
	return 1;
}

uint32_t note_key_id(const char *name, const uint8_t pub[ED25519_LEN])
{
	uint8_t h[SHA256_LEN];
	unsigned int hl;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	static const uint8_t sep[2] = { 0x0a, 0x01 };
	if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(c, name, strlen(name)) != 1 || EVP_DigestUpdate(c, sep, 2) != 1 ||
	    EVP_DigestUpdate(c, pub, ED25519_LEN) != 1 || EVP_DigestFinal_ex(c, h, &hl) != 1)
		abort();
	EVP_MD_CTX_free(c);
	return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

int note_verifier_parse(const char *vkey, struct note_verifier *v)
{
	memset(v, 0, sizeof(*v));
	const char *p1 = strchr(vkey, '+');
	if (!p1)
		return VG_EBADREQ;
	const char *p2 = strchr(p1 + 1, '+');
	if (!p2 || p2 - p1 - 1 != 8)
		return VG_EBADREQ;
	size_t nl = (size_t)(p1 - vkey);
	if (!name_ok(vkey, nl))
		return VG_EBADREQ;
	memcpy(v->name, vkey, nl);
	v->name[nl] = '\0';
	uint8_t idb[4];
	char idhex[9];
	memcpy(idhex, p1 + 1, 8);
	idhex[8] = '\0';
	for (int i = 0; i < 8; i++)
		if (!((idhex[i] >= '0' && idhex[i] <= '9') || (idhex[i] >= 'a' && idhex[i] <= 'f')))
			return VG_EBADREQ;
	if (hex_decode(idhex, idb, 4) != VG_OK)
		return VG_EBADREQ;
	uint8_t key[1 + ED25519_LEN + 1];
	if (base64_decode(p2 + 1, strlen(p2 + 1), key, sizeof(key)) != 1 + ED25519_LEN ||
	    key[0] != 0x01)
		return VG_EBADREQ;
	memcpy(v->pub, key + 1, ED25519_LEN);
	v->id = (uint32_t)idb[0] << 24 | (uint32_t)idb[1] << 16 | (uint32_t)idb[2] << 8 | idb[3];
	if (v->id != note_key_id(v->name, v->pub))
		return VG_EBADREQ;
	return VG_OK;
}

int note_verifier_from_key(EVP_PKEY *key, const char *name, struct note_verifier *v)
{
	memset(v, 0, sizeof(*v));
	size_t n = ED25519_LEN;
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(key, v->pub, &n) != 1 || n != ED25519_LEN)
		return VG_EBADREQ;
	if (!name_ok(name, strlen(name)))
		return VG_EBADREQ;
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->id = note_key_id(v->name, v->pub);
	return VG_OK;
}

int note_verifier_format(const struct note_verifier *v, char *out, size_t len)
{
	uint8_t key[1 + ED25519_LEN];
	char enc[64];
	key[0] = 0x01;
	memcpy(key + 1, v->pub, ED25519_LEN);
	base64_encode(key, sizeof(key), enc);
	int n = snprintf(out, len, "%s+%08x+%s", v->name, (unsigned)v->id, enc);
	return (n < 0 || (size_t)n >= len) ? VG_ETOOLARGE : VG_OK;
}

struct note_signer {
	EVP_PKEY *key;
	struct note_verifier v;
	EVP_MD_CTX *ctx;  /* EVP_DigestSignInit()ed with key, kept for every note */
};

struct note_signer *note_signer_new(EVP_PKEY *key, const char *name)
{
	struct note_signer *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (note_verifier_from_key(key, name, &s->v) != VG_OK || !(s->ctx = EVP_MD_CTX_new()) ||
	    EVP_DigestSignInit(s->ctx, NULL, NULL, NULL, key) != 1 || EVP_PKEY_up_ref(key) != 1) {
		EVP_MD_CTX_free(s->ctx);
		free(s);
		return NULL;
	}
	s->key = key;
	return s;
}

void note_signer_free(struct note_signer *s)
{
	if (!s)
		return;
	EVP_MD_CTX_free(s->ctx);
	EVP_PKEY_free(s->key);
	free(s);
}

/* Ed25519 signs in one call with no state carried over, and OpenSSL 3.0
 * signs again with the same context; a version that refuses a second use
 * gets a context initialised anew. */
static int sign_ed25519(struct note_signer *s, const char *text, size_t text_len,
			uint8_t sig[64])
{
	size_t sl = 64;
	if (EVP_DigestSign(s->ctx, sig, &sl, (const uint8_t *)text, text_len) == 1 && sl == 64)
		return VG_OK;
	ERR_clear_error();
	sl = 64;
	if (EVP_MD_CTX_reset(s->ctx) == 1 &&
	    EVP_DigestSignInit(s->ctx, NULL, NULL, NULL, s->key) == 1 &&
	    EVP_DigestSign(s->ctx, sig, &sl, (const uint8_t *)text, text_len) == 1 && sl == 64)
		return VG_OK;
	return VG_EINTERNAL;
}

int note_sign(EVP_PKEY *key, const char *name, const char *text, size_t text_len,
	      char **note, size_t *note_len)
{
	struct note_signer *s = note_signer_new(key, name);
	if (!s)
		return VG_EBADREQ;
	int rc = note_signer_sign(s, text, text_len, note, note_len);
	note_signer_free(s);
	return rc;
}

int note_signer_sign(struct note_signer *s, const char *text, size_t text_len, char **note,
		     size_t *note_len)
{
	const struct note_verifier *v = &s->v;
	const char *name = v->name;
	if (text_len == 0 || text[text_len - 1] != '\n')
		return VG_EBADREQ;
	uint8_t sig[4 + 64];
	if (sign_ed25519(s, text, text_len, sig + 4) != VG_OK)
		return VG_EINTERNAL;
	sig[0] = (uint8_t)(v->id >> 24);
	sig[1] = (uint8_t)(v->id >> 16);
	sig[2] = (uint8_t)(v->id >> 8);
	sig[3] = (uint8_t)v->id;
	char enc[128];
	base64_encode(sig, sizeof(sig), enc);
	size_t cap = text_len + strlen(name) + strlen(enc) + 16;
	char *out = malloc(cap);
	if (!out)
		return VG_ENOMEM;
	memcpy(out, text, text_len);
	int n = snprintf(out + text_len, cap - text_len, "\n" EM_DASH " %s %s\n", name, enc);
	*note = out;
	*note_len = text_len + (size_t)n;
	return VG_OK;
}

static int verify_ed25519(const uint8_t pub[ED25519_LEN], const uint8_t *msg, size_t n,
			  const uint8_t sig[64])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, ED25519_LEN);
	if (!k)
		return VG_EBADSIG;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1 &&
		 EVP_DigestVerify(c, sig, 64, msg, n) == 1;
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	return ok ? VG_OK : VG_EBADSIG;
}

int note_open(const char *note, size_t len, const struct note_verifier *v, size_t *text_len)
{
	if (len < 2 || len > NOTE_MAX || note[len - 1] != '\n')
		return VG_EBADREQ;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)note[i] < 0x20 && note[i] != '\n')
			return VG_EBADREQ;
	/* The text ends at the last blank line ("\n\n"). */
	size_t split = 0;
	int found = 0;
	for (size_t i = len - 1; i-- > 0;)
		if (note[i] == '\n' && note[i + 1] == '\n') {
			split = i + 1; /* the text includes its final newline */
			found = 1;
			break;
		}
	if (!found)
		return VG_EBADREQ;
	const char *p = note + split + 1, *end = note + len;
	int verified = 0, lines = 0;
	const char prefix[] = EM_DASH " ";
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl || ++lines > 100)
			return VG_EBADREQ;
		size_t ll = (size_t)(nl - p);
		if (ll < sizeof(prefix) - 1 || memcmp(p, prefix, sizeof(prefix) - 1) != 0)
			return VG_EBADREQ;
		const char *name = p + sizeof(prefix) - 1;
		const char *sp = memchr(name, ' ', (size_t)(nl - name));
		if (!sp || !name_ok(name, (size_t)(sp - name)))
			return VG_EBADREQ;
		uint8_t sig[4 + 64 + 1];
		int sl = base64_decode(sp + 1, (size_t)(nl - sp - 1), sig, sizeof(sig) - 1);
		if (sl < 5)
			return VG_EBADREQ;
		uint32_t id = (uint32_t)sig[0] << 24 | (uint32_t)sig[1] << 16 |
			      (uint32_t)sig[2] << 8 | sig[3];
		if ((size_t)(sp - name) == strlen(v->name) &&
		    memcmp(name, v->name, (size_t)(sp - name)) == 0 && id == v->id) {
			if (sl != 4 + 64 ||
			    verify_ed25519(v->pub, (const uint8_t *)note, split, sig + 4) != VG_OK)
				return VG_EBADSIG;
			verified = 1;
		}
		p = nl + 1;
	}
	if (!verified)
		return VG_EBADSIG;
	*text_len = split;
	return VG_OK;
}

int checkpoint_format(const struct checkpoint *c, char *out, size_t len)
{
	char root[64];
	base64_encode(c->root, SHA256_LEN, root);
	int n = snprintf(out, len, "%s\n%llu\n%s\n", c->origin, (unsigned long long)c->size, root);
	return (n < 0 || (size_t)n >= len) ? -1 : n;
}

int checkpoint_parse(const char *text, size_t len, struct checkpoint *c)
{
	memset(c, 0, sizeof(*c));
	const char *p = text, *end = text + len;
	const char *l1 = memchr(p, '\n', (size_t)(end - p));
	if (!l1 || l1 == p || (size_t)(l1 - p) > NOTE_NAME_MAX)
		return VG_EBADREQ;
	memcpy(c->origin, p, (size_t)(l1 - p));
	p = l1 + 1;
	const char *l2 = memchr(p, '\n', (size_t)(end - p));
	if (!l2 || l2 == p || l2 - p > 20 || (*p == '0' && l2 - p > 1))
		return VG_EBADREQ;
	uint64_t size = 0;
	for (const char *q = p; q < l2; q++) {
		if (*q < '0' || *q > '9' || size > (UINT64_MAX - 9) / 10)
			return VG_EBADREQ;
		size = size * 10 + (uint64_t)(*q - '0');
	}
	c->size = size;
	p = l2 + 1;
	const char *l3 = memchr(p, '\n', (size_t)(end - p));
	if (!l3 || base64_decode(p, (size_t)(l3 - p), c->root, SHA256_LEN) != SHA256_LEN)
		return VG_EBADREQ;
	/* Extension lines, if any, must not be empty. */
	for (p = l3 + 1; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl || nl == p)
			return VG_EBADREQ;
		p = nl + 1;
	}
	return VG_OK;
}
