#include "proto/sealed.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "proto/status.h"

#define GCM_NONCE_LEN 12
#define GCM_TAG_LEN 16

static int fail(int status, char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(int status, char *why, size_t why_len, const char *fmt, ...)
{
	if (why && why_len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	ERR_clear_error();
	return status;
}

size_t sealed_text_max(int field)
{
	switch (field) {
	case SEALED_NOTE:
		return RECORD_NOTE_MAX;
	case SEALED_JUSTIFICATION:
	case SEALED_DECLINE_REASON:
	case SEALED_ACK_REASON:
		return RECORD_TEXT_MAX;
	default:
		return 0;
	}
}

size_t sealed_plain_len(int field)
{
	size_t max = sealed_text_max(field);
	return max ? SEALED_HEAD_LEN + max : 0;
}

const char *sealed_field_name(int field)
{
	switch (field) {
	case SEALED_NOTE:
		return "note";
	case SEALED_JUSTIFICATION:
		return "justification";
	case SEALED_DECLINE_REASON:
		return "decline reason";
	case SEALED_ACK_REASON:
		return "acknowledgement reason";
	default:
		return "unknown field";
	}
}

void sealed_commit(const uint8_t *p, size_t len, uint8_t out[SHA256_LEN])
{
	EVP_Digest(p, len, out, NULL, EVP_sha256(), NULL);
}

static const char *subject_field(X509 *x, int nid, char *buf, size_t len)
{
	buf[0] = '\0';
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), nid, buf, (int)len) < 0)
		buf[0] = '\0';
	return buf;
}

int sealed_enc_cert_check(X509 *x, const char *org, const char *role, const char *country,
			  char *why, size_t why_len)
{
	char o[RECORD_ORG_MAX + 1], ou[32], c[8], group[32] = "";
	size_t glen = 0;
	EVP_PKEY *pub = X509_get0_pubkey(x);
	int rc = VG_EBADREQ;
	if (!pub || !EVP_PKEY_is_a(pub, "EC") ||
	    EVP_PKEY_get_group_name(pub, group, sizeof(group), &glen) != 1 ||
	    strcmp(group, "prime256v1") != 0)
		fail(rc, why, why_len, "its key is not an EC P-256 key");
	else if (!(X509_get_extension_flags(x) & EXFLAG_KUSAGE) ||
		 X509_get_key_usage(x) != KU_KEY_AGREEMENT)
		fail(rc, why, why_len, "its keyUsage must be keyAgreement and nothing else");
	else if (strcmp(subject_field(x, NID_organizationName, o, sizeof(o)), org) != 0)
		fail(rc, why, why_len, "its O is \"%s\", not \"%s\"", o, org);
	else if (strcmp(subject_field(x, NID_organizationalUnitName, ou, sizeof(ou)), role) != 0)
		fail(rc, why, why_len, "its OU is \"%s\", not \"%s\"", ou, role);
	else if (strcmp(subject_field(x, NID_countryName, c, sizeof(c)), country) != 0)
		fail(rc, why, why_len, "its C is \"%s\", not \"%s\"", c, country);
	else
		rc = VG_OK;
	ERR_clear_error();
	return rc;
}

int sealed_cert_sha256(X509 *cert, uint8_t out[SHA256_LEN])
{
	unsigned int n = 0;
	if (!cert || X509_digest(cert, EVP_sha256(), out, &n) != 1 || n != SHA256_LEN)
		return VG_EINTERNAL;
	return VG_OK;
}

int sealed_plain_build(int field, const uint8_t record_id[RECORD_ID_LEN], const uint8_t *salt,
		       const char *text, size_t text_len, uint8_t *out, char *why, size_t why_len)
{
	size_t max = sealed_text_max(field);
	if (!max)
		return fail(VG_EBADREQ, why, why_len, "no sealed field %d", field);
	if (text_len > max)
		return fail(VG_ETOOLARGE, why, why_len, "%s is %zu bytes, at most %zu",
			    sealed_field_name(field), text_len, max);
	if (memchr(text, '\0', text_len))
		return fail(VG_EBADREQ, why, why_len, "%s contains a NUL byte",
			    sealed_field_name(field));
	char *copy = malloc(text_len + 1);
	if (!copy)
		return fail(VG_ENOMEM, why, why_len, "out of memory");
	memcpy(copy, text, text_len);
	copy[text_len] = '\0';
	int utf8 = record_utf8_ok(copy);
	free(copy);
	if (!utf8)
		return fail(VG_EBADREQ, why, why_len, "%s is not valid UTF-8",
			    sealed_field_name(field));
	uint8_t *p = out;
	memset(p, 0, sealed_plain_len(field));
	memcpy(p, SEALED_TAG, SEALED_TAG_LEN);
	p += SEALED_TAG_LEN;
	memcpy(p, record_id, RECORD_ID_LEN);
	p += RECORD_ID_LEN;
	*p++ = (uint8_t)field;
	if (salt)
		memcpy(p, salt, SEALED_SALT_LEN);
	else if (RAND_bytes(p, SEALED_SALT_LEN) != 1)
		return fail(VG_EINTERNAL, why, why_len, "no random bytes for the salt");
	p += SEALED_SALT_LEN;
	*p++ = (uint8_t)(text_len >> 8);
	*p++ = (uint8_t)text_len;
	memcpy(p, text, text_len);
	return VG_OK;
}

static void hex16(const uint8_t id[RECORD_ID_LEN], char out[2 * RECORD_ID_LEN + 1])
{
	for (unsigned i = 0; i < RECORD_ID_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

int sealed_plain_parse(const uint8_t *p, size_t len, int field,
		       const uint8_t record_id[RECORD_ID_LEN], const uint8_t commitment[SHA256_LEN],
		       char **text, size_t *text_len, char *why, size_t why_len)
{
	size_t want = sealed_plain_len(field);
	if (!want)
		return fail(VG_EBADREQ, why, why_len, "no sealed field %d", field);
	if (len != want)
		return fail(VG_EBADREQ, why, why_len,
			    "sealed text is %zu bytes; a sealed %s is %zu", len,
			    sealed_field_name(field), want);
	if (memcmp(p, SEALED_TAG, SEALED_TAG_LEN) != 0)
		return fail(VG_EBADREQ, why, why_len,
			    "sealed text does not start with the tag \"" SEALED_TAG "\"");
	const uint8_t *id = p + SEALED_TAG_LEN;
	if (memcmp(id, record_id, RECORD_ID_LEN) != 0) {
		char a[2 * RECORD_ID_LEN + 1], b[2 * RECORD_ID_LEN + 1];
		hex16(id, a);
		hex16(record_id, b);
		return fail(VG_EBADREQ, why, why_len,
			    "sealed text belongs to record %s, not to record %s", a, b);
	}
	int f = id[RECORD_ID_LEN];
	if (f != field)
		return fail(VG_EBADREQ, why, why_len, "sealed text is a %s, not a %s",
			    sealed_field_name(f), sealed_field_name(field));
	uint8_t c[SHA256_LEN];
	sealed_commit(p, len, c);
	if (memcmp(c, commitment, SHA256_LEN) != 0)
		return fail(VG_EBADREQ, why, why_len,
			    "sealed text does not match the record's commitment");
	const uint8_t *lp = p + SEALED_HEAD_LEN - 2;
	size_t n = (size_t)lp[0] << 8 | lp[1];
	size_t max = sealed_text_max(field);
	if (n > max)
		return fail(VG_EBADREQ, why, why_len,
			    "sealed text says %zu bytes of text; a %s has at most %zu", n,
			    sealed_field_name(field), max);
	const uint8_t *t = p + SEALED_HEAD_LEN;
	for (size_t i = n; i < max; i++)
		if (t[i] != 0)
			return fail(VG_EBADREQ, why, why_len,
				    "sealed text's padding is not zero bytes");
	if (memchr(t, '\0', n))
		return fail(VG_EBADREQ, why, why_len, "sealed text contains a NUL byte");
	char *s = malloc(n + 1);
	if (!s)
		return fail(VG_ENOMEM, why, why_len, "out of memory");
	memcpy(s, t, n);
	s[n] = '\0';
	if (!record_utf8_ok(s)) {
		free(s);
		return fail(VG_EBADREQ, why, why_len, "sealed text is not valid UTF-8");
	}
	*text = s;
	*text_len = n;
	return VG_OK;
}

/* ---- the envelope's form ---------------------------------------------------- */

/* One DER element: where it starts, its tag and its content. */
struct tlv {
	const unsigned char *start; /* the header */
	long total;                 /* header and content */
	const unsigned char *p;     /* the content */
	long len;
	int tag, cls, cons;
};

/* The next element of [*p, *p + *left): 0, or -1 when it is not DER
 * (indefinite length, or longer than what is left). */
static int tlv_next(const unsigned char **p, long *left, struct tlv *t)
{
	if (*left <= 0)
		return -1;
	const unsigned char *q = *p;
	long len;
	int tag, cls;
	int r = ASN1_get_object(&q, &len, &tag, &cls, *left);
	if (r & 0x80 || r & 0x01)
		return -1;
	long hdr = (long)(q - *p);
	if (len < 0 || len > *left - hdr)
		return -1;
	t->start = *p;
	t->total = hdr + len;
	t->p = q;
	t->len = len;
	t->tag = tag;
	t->cls = cls;
	t->cons = r & V_ASN1_CONSTRUCTED;
	*p = q + len;
	*left -= hdr + len;
	return 0;
}

static int tlv_is(const struct tlv *t, int cls, int tag, int cons)
{
	return t->cls == cls && t->tag == tag && !!t->cons == !!cons;
}

/* The NID of an OBJECT IDENTIFIER element, NID_undef when not one; its
 * dotted or short name into name. */
static int tlv_oid(const struct tlv *t, char *name, size_t name_len)
{
	if (!tlv_is(t, V_ASN1_UNIVERSAL, V_ASN1_OBJECT, 0))
		return NID_undef;
	const unsigned char *q = t->start;
	ASN1_OBJECT *o = d2i_ASN1_OBJECT(NULL, &q, t->total);
	if (!o)
		return NID_undef;
	int nid = OBJ_obj2nid(o);
	if (name)
		OBJ_obj2txt(name, (int)name_len, o, 0);
	ASN1_OBJECT_free(o);
	return nid;
}

/* The parts of AuthEnvelopedData that OpenSSL has no accessor for: the
 * content type and cipher, the GCM parameters and the tag's length. */
static int check_form(const uint8_t *der, size_t len, char *why, size_t why_len)
{
	const unsigned char *p = der;
	long left = (long)len;
	struct tlv ci, t, aed, eci, alg, params;
	char name[80] = "";
	if (tlv_next(&p, &left, &ci) != 0 || left != 0 ||
	    !tlv_is(&ci, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE, 1))
		return fail(VG_EBADREQ, why, why_len, "sealed text is not DER CMS");
	p = ci.p;
	left = ci.len;
	if (tlv_next(&p, &left, &t) != 0)
		return fail(VG_EBADREQ, why, why_len, "sealed text is not DER CMS");
	if (tlv_oid(&t, name, sizeof(name)) != NID_id_smime_ct_authEnvelopedData)
		return fail(VG_EBADREQ, why, why_len,
			    "sealed text must be CMS AuthEnvelopedData, not %s",
			    name[0] ? name : "something else");
	if (tlv_next(&p, &left, &t) != 0 || left != 0 ||
	    !tlv_is(&t, V_ASN1_CONTEXT_SPECIFIC, 0, 1))
		return fail(VG_EBADREQ, why, why_len, "sealed text is not DER CMS");
	p = t.p;
	left = t.len;
	if (tlv_next(&p, &left, &aed) != 0 || left != 0 ||
	    !tlv_is(&aed, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE, 1))
		return fail(VG_EBADREQ, why, why_len, "sealed text is not DER CMS");
	p = aed.p;
	left = aed.len;
	/* version, [0] originatorInfo OPTIONAL, recipientInfos */
	if (tlv_next(&p, &left, &t) != 0 || !tlv_is(&t, V_ASN1_UNIVERSAL, V_ASN1_INTEGER, 0))
		return fail(VG_EBADREQ, why, why_len, "sealed text is not DER CMS");
	if (tlv_next(&p, &left, &t) != 0)
		return fail(VG_EBADREQ, why, why_len, "sealed text is not DER CMS");
	if (tlv_is(&t, V_ASN1_CONTEXT_SPECIFIC, 0, 1))
		return fail(VG_EBADREQ, why, why_len, "sealed text may not carry originatorInfo");
	if (!tlv_is(&t, V_ASN1_UNIVERSAL, V_ASN1_SET, 1))
		return fail(VG_EBADREQ, why, why_len, "sealed text is not DER CMS");
	if (tlv_next(&p, &left, &eci) != 0 ||
	    !tlv_is(&eci, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE, 1))
		return fail(VG_EBADREQ, why, why_len, "sealed text is not DER CMS");
	/* authAttrs [1] OPTIONAL, mac OCTET STRING, unauthAttrs [2] OPTIONAL */
	if (tlv_next(&p, &left, &t) != 0)
		return fail(VG_EBADREQ, why, why_len, "sealed text is not DER CMS");
	if (tlv_is(&t, V_ASN1_CONTEXT_SPECIFIC, 1, 1) && tlv_next(&p, &left, &t) != 0)
		return fail(VG_EBADREQ, why, why_len, "sealed text is not DER CMS");
	if (!tlv_is(&t, V_ASN1_UNIVERSAL, V_ASN1_OCTET_STRING, 0))
		return fail(VG_EBADREQ, why, why_len, "sealed text is not DER CMS");
	if (t.len != GCM_TAG_LEN)
		return fail(VG_EBADREQ, why, why_len,
			    "sealed text's authentication tag is %ld bytes, must be %d", t.len,
			    GCM_TAG_LEN);
	if (left != 0)
		return fail(VG_EBADREQ, why, why_len, "sealed text may not carry unauthAttrs");

	/* EncryptedContentInfo: contentType, contentEncryptionAlgorithm,
	 * [0] encryptedContent */
	p = eci.p;
	left = eci.len;
	if (tlv_next(&p, &left, &t) != 0)
		return fail(VG_EBADREQ, why, why_len, "sealed text is not DER CMS");
	if (tlv_oid(&t, name, sizeof(name)) != NID_pkcs7_data)
		return fail(VG_EBADREQ, why, why_len,
			    "sealed text must enclose id-data, not %s", name);
	if (tlv_next(&p, &left, &alg) != 0 ||
	    !tlv_is(&alg, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE, 1))
		return fail(VG_EBADREQ, why, why_len, "sealed text is not DER CMS");
	if (tlv_next(&p, &left, &t) != 0 || left != 0 ||
	    !tlv_is(&t, V_ASN1_CONTEXT_SPECIFIC, 0, 0))
		return fail(VG_EBADREQ, why, why_len,
			    "sealed text must carry its encrypted content (DER, primitive)");
	p = alg.p;
	left = alg.len;
	if (tlv_next(&p, &left, &t) != 0)
		return fail(VG_EBADREQ, why, why_len, "sealed text is not DER CMS");
	if (tlv_oid(&t, name, sizeof(name)) != NID_aes_256_gcm)
		return fail(VG_EBADREQ, why, why_len,
			    "sealed text must be encrypted with aes-256-gcm, not %s", name);
	/* GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING,
	 *                              aes-ICVlen INTEGER DEFAULT 12 } */
	if (tlv_next(&p, &left, &params) != 0 || left != 0 ||
	    !tlv_is(&params, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE, 1))
		return fail(VG_EBADREQ, why, why_len, "sealed text's GCM parameters are malformed");
	p = params.p;
	left = params.len;
	if (tlv_next(&p, &left, &t) != 0 ||
	    !tlv_is(&t, V_ASN1_UNIVERSAL, V_ASN1_OCTET_STRING, 0) || t.len != GCM_NONCE_LEN)
		return fail(VG_EBADREQ, why, why_len, "sealed text's GCM nonce must be %d bytes",
			    GCM_NONCE_LEN);
	if (left == 0 || tlv_next(&p, &left, &t) != 0 || left != 0 ||
	    !tlv_is(&t, V_ASN1_UNIVERSAL, V_ASN1_INTEGER, 0) || t.len != 1 ||
	    t.p[0] != GCM_TAG_LEN)
		return fail(VG_EBADREQ, why, why_len,
			    "sealed text's GCM tag length must be %d bytes", GCM_TAG_LEN);
	return VG_OK;
}

/* The recipient's key wrap algorithm (the kari algorithm's parameter). */
static int kari_wrap_nid(const X509_ALGOR *alg, char *name, size_t name_len)
{
	int ptype;
	const void *pval;
	X509_ALGOR_get0(NULL, &ptype, &pval, alg);
	snprintf(name, name_len, "none");
	if (ptype != V_ASN1_SEQUENCE)
		return NID_undef;
	const ASN1_STRING *seq = pval;
	const unsigned char *q = ASN1_STRING_get0_data(seq);
	X509_ALGOR *w = d2i_X509_ALGOR(NULL, &q, ASN1_STRING_length(seq));
	if (!w)
		return NID_undef;
	const ASN1_OBJECT *o;
	X509_ALGOR_get0(&o, NULL, NULL, w);
	int nid = OBJ_obj2nid(o);
	OBJ_obj2txt(name, (int)name_len, o, 0);
	X509_ALGOR_free(w);
	return nid;
}

int sealed_check(const uint8_t *der, size_t len, CMS_ContentInfo **out, char *why,
		 size_t why_len)
{
	if (out)
		*out = NULL;
	if (len == 0)
		return fail(VG_EBADREQ, why, why_len, "sealed text is empty");
	if (len > SEALED_CMS_MAX)
		return fail(VG_ETOOLARGE, why, why_len, "sealed text is %zu bytes, at most %u", len,
			    SEALED_CMS_MAX);
	int rc = check_form(der, len, why, why_len);
	if (rc != VG_OK)
		return rc;
	const unsigned char *q = der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &q, (long)len);
	if (!cms || q != der + len) {
		CMS_ContentInfo_free(cms);
		return fail(VG_EBADREQ, why, why_len, "sealed text is not DER CMS");
	}
	/* DER only: the bytes are what OpenSSL writes back. */
	unsigned char *re = NULL;
	int n = i2d_CMS_ContentInfo(cms, &re);
	int same = n == (int)len && memcmp(re, der, len) == 0;
	OPENSSL_free(re);
	if (!same) {
		CMS_ContentInfo_free(cms);
		return fail(VG_EBADREQ, why, why_len, "sealed text is not DER CMS");
	}
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	int nri = ris ? sk_CMS_RecipientInfo_num(ris) : 0;
	if (nri < 1 || nri > (int)SEALED_READERS_MAX) {
		CMS_ContentInfo_free(cms);
		return fail(VG_EBADREQ, why, why_len, "sealed text has %d recipients, 1-%u allowed",
			    nri, SEALED_READERS_MAX);
	}
	for (int i = 0; i < nri; i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
		char name[80];
		rc = VG_EBADREQ;
		if (CMS_RecipientInfo_type(ri) != CMS_RECIPINFO_AGREE) {
			fail(rc, why, why_len, "sealed text recipient %d is not ECDH key agreement",
			     i + 1);
			break;
		}
		X509_ALGOR *alg = NULL;
		ASN1_OCTET_STRING *ukm = NULL;
		if (CMS_RecipientInfo_kari_get0_alg(ri, &alg, &ukm) != 1 || !alg) {
			fail(rc, why, why_len, "sealed text is not DER CMS");
			break;
		}
		const ASN1_OBJECT *o;
		X509_ALGOR_get0(&o, NULL, NULL, alg);
		if (OBJ_obj2nid(o) != NID_dhSinglePass_stdDH_sha256kdf_scheme) {
			OBJ_obj2txt(name, sizeof(name), o, 0);
			fail(rc, why, why_len,
			     "sealed text recipient %d: key agreement must be "
			     "dhSinglePass-stdDH-sha256kdf-scheme, not %s",
			     i + 1, name);
			break;
		}
		if (kari_wrap_nid(alg, name, sizeof(name)) != NID_id_aes256_wrap) {
			fail(rc, why, why_len,
			     "sealed text recipient %d: key wrap must be id-aes256-wrap, not %s",
			     i + 1, name);
			break;
		}
		STACK_OF(CMS_RecipientEncryptedKey) *reks = CMS_RecipientInfo_kari_get0_reks(ri);
		if (!reks || sk_CMS_RecipientEncryptedKey_num(reks) != 1) {
			fail(rc, why, why_len,
			     "sealed text recipient %d must name exactly one certificate", i + 1);
			break;
		}
		ASN1_OCTET_STRING *keyid = NULL;
		ASN1_GENERALIZEDTIME *tm = NULL;
		CMS_OtherKeyAttribute *other = NULL;
		X509_NAME *issuer = NULL;
		ASN1_INTEGER *sno = NULL;
		if (CMS_RecipientEncryptedKey_get0_id(sk_CMS_RecipientEncryptedKey_value(reks, 0),
						      &keyid, &tm, &other, &issuer, &sno) != 1 ||
		    !issuer || !sno) {
			fail(rc, why, why_len,
			     "sealed text recipient %d is not named by issuer and serial number",
			     i + 1);
			break;
		}
		rc = VG_OK;
	}
	if (rc != VG_OK) {
		CMS_ContentInfo_free(cms);
		return rc;
	}
	if (out)
		*out = cms;
	else
		CMS_ContentInfo_free(cms);
	return VG_OK;
}

int sealed_recipients(CMS_ContentInfo *cms, X509 *const *readers, size_t n, char *why,
		      size_t why_len)
{
	/* DER sorts a SET OF by its encodings, so the recipients' order in the
	 * envelope depends on their ephemeral keys: the reasons name readers
	 * (in the record's order) and count recipients, never a recipient's
	 * position. */
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	int nri = ris ? sk_CMS_RecipientInfo_num(ris) : 0;
	unsigned char used[SEALED_READERS_MAX] = { 0 };
	int extra = 0;
	if (n > SEALED_READERS_MAX)
		return fail(VG_EBADREQ, why, why_len, "%zu readers, at most %u", n,
			    SEALED_READERS_MAX);
	for (int i = 0; i < nri; i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
		STACK_OF(CMS_RecipientEncryptedKey) *reks = CMS_RecipientInfo_kari_get0_reks(ri);
		CMS_RecipientEncryptedKey *rek =
			reks ? sk_CMS_RecipientEncryptedKey_value(reks, 0) : NULL;
		size_t j = 0;
		while (rek && j < n && CMS_RecipientEncryptedKey_cert_cmp(rek, readers[j]) != 0)
			j++;
		if (!rek || j == n)
			extra++;
		else if (used[j] < 2)
			used[j]++;
	}
	for (size_t j = 0; j < n; j++) {
		if (used[j] == 1)
			continue;
		char o[RECORD_ORG_MAX + 1] = "?";
		X509_NAME_get_text_by_NID(X509_get_subject_name(readers[j]), NID_organizationName, o,
					  sizeof(o));
		if (used[j] == 0)
			return fail(VG_EBADREQ, why, why_len,
				    "sealed text has no recipient for reader %zu (%s)", j + 1, o);
		return fail(VG_EBADREQ, why, why_len, "sealed text names reader %zu (%s) twice",
			    j + 1, o);
	}
	if (extra)
		return fail(VG_EBADREQ, why, why_len,
			    "sealed text has %d recipient%s besides the record's readers", extra,
			    extra == 1 ? "" : "s");
	ERR_clear_error();
	return VG_OK;
}

int sealed_has_recipient(CMS_ContentInfo *cms, X509 *x)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	int nri = ris ? sk_CMS_RecipientInfo_num(ris) : 0;
	int found = 0;
	for (int i = 0; i < nri && !found; i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
		STACK_OF(CMS_RecipientEncryptedKey) *reks = CMS_RecipientInfo_kari_get0_reks(ri);
		int nk = reks ? sk_CMS_RecipientEncryptedKey_num(reks) : 0;
		for (int k = 0; k < nk && !found; k++)
			found = CMS_RecipientEncryptedKey_cert_cmp(
					sk_CMS_RecipientEncryptedKey_value(reks, k), x) == 0;
	}
	ERR_clear_error();
	return found;
}

int sealed_seal(const uint8_t *p, size_t len, X509 *const *readers, size_t n, uint8_t **der,
		size_t *der_len, char *why, size_t why_len)
{
	*der = NULL;
	*der_len = 0;
	if (n < 1 || n > SEALED_READERS_MAX)
		return fail(VG_EBADREQ, why, why_len, "%zu readers, 1-%u allowed", n,
			    SEALED_READERS_MAX);
	int rc = VG_EINTERNAL;
	BIO *in = NULL;
	unsigned char *buf = NULL;
	CMS_ContentInfo *cms = CMS_AuthEnvelopedData_create(EVP_aes_256_gcm());
	/* The ciphertext inside the envelope (created detached). */
	if (!cms || CMS_set_detached(cms, 0) != 1) {
		fail(rc, why, why_len, "cannot make a CMS envelope");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		EVP_PKEY *pub = X509_get0_pubkey(readers[i]);
		if (!pub || !EVP_PKEY_is_a(pub, "EC")) {
			fail(VG_EBADREQ, why, why_len, "reader %zu's certificate has no EC key",
			     i + 1);
			rc = VG_EBADREQ;
			goto out;
		}
		CMS_RecipientInfo *ri = CMS_add1_recipient_cert(cms, readers[i], CMS_KEY_PARAM);
		EVP_PKEY_CTX *pctx = ri ? CMS_RecipientInfo_get0_pkey_ctx(ri) : NULL;
		if (!pctx || EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) <= 0) {
			fail(rc, why, why_len, "cannot add reader %zu to the envelope", i + 1);
			goto out;
		}
	}
	in = BIO_new_mem_buf(p, (int)len);
	if (!in || CMS_final(cms, in, NULL, CMS_BINARY) != 1) {
		fail(rc, why, why_len, "cannot encrypt the sealed text");
		goto out;
	}
	int m = i2d_CMS_ContentInfo(cms, &buf);
	if (m <= 0) {
		fail(rc, why, why_len, "cannot encode the envelope");
		goto out;
	}
	*der = malloc((size_t)m);
	if (!*der) {
		fail(VG_ENOMEM, why, why_len, "out of memory");
		rc = VG_ENOMEM;
		goto out;
	}
	memcpy(*der, buf, (size_t)m);
	*der_len = (size_t)m;
	rc = VG_OK;
out:
	OPENSSL_free(buf);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return rc;
}

int sealed_open(const uint8_t *der, size_t len, EVP_PKEY *key, X509 *cert, uint8_t **p,
		size_t *p_len, char *why, size_t why_len)
{
	*p = NULL;
	*p_len = 0;
	CMS_ContentInfo *cms;
	int rc = sealed_check(der, len, &cms, why, why_len);
	if (rc != VG_OK)
		return rc;
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	int mine = 0;
	for (int i = 0; i < sk_CMS_RecipientInfo_num(ris) && !mine; i++) {
		STACK_OF(CMS_RecipientEncryptedKey) *reks =
			CMS_RecipientInfo_kari_get0_reks(sk_CMS_RecipientInfo_value(ris, i));
		mine = CMS_RecipientEncryptedKey_cert_cmp(sk_CMS_RecipientEncryptedKey_value(reks, 0),
							  cert) == 0;
	}
	if (!mine) {
		CMS_ContentInfo_free(cms);
		return fail(VG_EPERM, why, why_len,
			    "this encryption certificate is not a recipient of the sealed text");
	}
	BIO *out = BIO_new(BIO_s_mem());
	rc = VG_EBADSIG;
	if (!out) {
		rc = fail(VG_ENOMEM, why, why_len, "out of memory");
	} else if (CMS_decrypt(cms, key, cert, NULL, out, CMS_BINARY) != 1) {
		fail(rc, why, why_len,
		     "sealed text does not open: its authentication tag or key wrap fails");
	} else {
		char *data;
		long n = BIO_get_mem_data(out, &data);
		*p = malloc(n > 0 ? (size_t)n : 1);
		if (!*p) {
			rc = fail(VG_ENOMEM, why, why_len, "out of memory");
		} else {
			if (n > 0)
				memcpy(*p, data, (size_t)n);
			*p_len = n > 0 ? (size_t)n : 0;
			rc = VG_OK;
		}
	}
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return rc;
}
