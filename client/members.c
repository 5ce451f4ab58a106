/*
 * members.c - the relay's member directory: every organisation it admits,
 * with the role and country its certificate must carry.
 *
 * The answer is checked before it is handed on: every organisation id,
 * role, country and name must have its form, and the list must be strictly
 * sorted by organisation id (so no member appears twice).  A member's
 * encryption certificate must chain to the CA this client trusts and be an
 * encryption certificate of that member (sealed_enc_cert_check).  A
 * violation is VIGIL_E_VERIFY.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "client/internal.h"
#include "proto/record.h"
#include "proto/sealed.h"

/* NULL when m has the form of a member, else what is wrong with it. */
static const char *member_check(const Vigil__V1__Member *m)
{
	if (!record_org_ok(m->organisation))
		return "an organisation id out of form";
	if (!vigil__conn_role_name(m->role)[0])
		return "a role it does not know";
	const char *c = m->country;
	if (strlen(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z')
		return "a country that is not two upper-case letters";
	size_t n = strlen(m->name);
	if (n < 1 || n >= VIGIL_MEMBER_NAME_LEN || !record_utf8_ok(m->name))
		return "a name that is not 1-127 bytes of UTF-8";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)m->name[i] < 0x20 || m->name[i] == 0x7f)
			return "a name with a control character";
	return NULL;
}

/* NULL when the DER is an encryption certificate of member m that the
 * client's CA issued and that is valid now, else what is wrong with it. */
static const char *enc_cert_check(vigil_client *c, const Vigil__V1__Member *m, char *why,
				  size_t why_len)
{
	const unsigned char *p = m->encryption_certificate.data;
	X509 *x = d2i_X509(NULL, &p, (long)m->encryption_certificate.len);
	if (!x || p != m->encryption_certificate.data + m->encryption_certificate.len) {
		X509_free(x);
		return "an encryption certificate that does not parse";
	}
	const char *bad = NULL;
	X509_STORE_CTX *xs = X509_STORE_CTX_new();
	if (!xs || X509_STORE_CTX_init(xs, SSL_CTX_get_cert_store(c->ctx), x, NULL) != 1) {
		bad = "an encryption certificate that cannot be checked";
	} else if (X509_verify_cert(xs) != 1) {
		snprintf(why, why_len, "an encryption certificate that does not verify: %s",
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(xs)));
		bad = why;
	} else {
		char reason[120];
		if (sealed_enc_cert_check(x, m->organisation, vigil__conn_role_name(m->role),
					  m->country, reason, sizeof(reason)) != 0) {
			snprintf(why, why_len, "an encryption certificate of the wrong kind: %s",
				 reason);
			bad = why;
		}
	}
	X509_STORE_CTX_free(xs);
	X509_free(x);
	ERR_clear_error();
	return bad;
}

int vigil_members(vigil_client *c, struct vigil_member **out, size_t *n,
		  struct vigil_error *err)
{
	if (out)
		*out = NULL;
	if (n)
		*n = 0;
	int rc = vigil__query_usable(c, "vigil_members", err);
	if (rc != VIGIL_OK)
		return rc;
	if (!out || !n)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_members: out is NULL");
	Vigil__V1__GetMembers g = VIGIL__V1__GET_MEMBERS__INIT;
	Vigil__V1__Frame req = VIGIL__V1__FRAME__INIT;
	req.msg_case = VIGIL__V1__FRAME__MSG_GET_MEMBERS;
	req.get_members = &g;
	Vigil__V1__Frame *a;
	rc = vigil__query_roundtrip(c, &req, VIGIL__V1__FRAME__MSG_MEMBERS,
				    "waiting for the member list", &a, err);
	if (rc != VIGIL_OK)
		return rc;
	const Vigil__V1__Members *m = a->members;
	struct vigil_member *list = NULL;
	/* One block: the members, then their certificates' bytes. */
	size_t certs = 0;
	for (size_t i = 0; i < m->n_members; i++)
		certs += m->members[i]->encryption_certificate.len;
	uint8_t *der = NULL;
	if (m->n_members) {
		list = calloc(1, m->n_members * sizeof(*list) + certs);
		if (!list) {
			frame_free(a);
			return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
		}
		der = (uint8_t *)(list + m->n_members);
	}
	for (size_t i = 0; i < m->n_members; i++) {
		const Vigil__V1__Member *e = m->members[i];
		char why[200];
		const char *bad = member_check(e);
		if (!bad && i > 0 && strcmp(m->members[i - 1]->organisation, e->organisation) >= 0)
			bad = "an organisation out of order or named twice";
		if (!bad && e->encryption_certificate.len)
			bad = enc_cert_check(c, e, why, sizeof(why));
		if (bad) {
			vigil__error_set(err, VIGIL_E_VERIFY,
					 "the relay's member list is malformed: member %zu (%s) has %s",
					 i + 1, record_org_ok(e->organisation) ? e->organisation : "?",
					 bad);
			free(list);
			frame_free(a);
			return VIGIL_E_VERIFY;
		}
		struct vigil_member *d = &list[i];
		snprintf(d->organisation, sizeof(d->organisation), "%s", e->organisation);
		d->role = vigil__conn_role_name(e->role);
		memcpy(d->country, e->country, 3);
		snprintf(d->name, sizeof(d->name), "%s", e->name);
		if (e->encryption_certificate.len) {
			memcpy(der, e->encryption_certificate.data, e->encryption_certificate.len);
			d->encryption_cert = der;
			d->encryption_cert_len = e->encryption_certificate.len;
			der += e->encryption_certificate.len;
		}
	}
	*out = list;
	*n = m->n_members;
	frame_free(a);
	return VIGIL_OK;
}
