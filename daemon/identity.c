#include "daemon/identity.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>

static const char *const role_names[] = {
	[ROLE_COORDINATOR] = "coordinator",
	[ROLE_POLICE] = "police",
	[ROLE_IOM] = "iom",
	[ROLE_SHELTER] = "shelter",
	[ROLE_RELAY] = "relay",
};

const char *identity_role_name(enum role r)
{
	if (r > ROLE_NONE && r <= ROLE_RELAY)
		return role_names[r];
	return "none";
}

enum role identity_role_from_name(const char *name)
{
	for (int i = ROLE_COORDINATOR; i <= ROLE_RELAY; i++)
		if (strcmp(name, role_names[i]) == 0)
			return (enum role)i;
	return ROLE_NONE;
}

/*
 * Copies the single value of a subject field.  Returns 1 when present, 0
 * when absent, -1 when repeated, not UTF-8 convertible, or too long.
 */
static int subject_field(X509_NAME *name, int nid, char *out, size_t out_len)
{
	int pos = X509_NAME_get_index_by_NID(name, nid, -1);
	if (pos < 0)
		return 0;
	if (X509_NAME_get_index_by_NID(name, nid, pos) >= 0)
		return -1;
	ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, pos));
	unsigned char *utf8 = NULL;
	int n = ASN1_STRING_to_UTF8(&utf8, s);
	if (n < 0)
		return -1;
	int rc = 1;
	if ((size_t)n >= out_len || memchr(utf8, '\0', (size_t)n))
		rc = -1;
	else
		memcpy(out, utf8, (size_t)n + 1);
	OPENSSL_free(utf8);
	return rc;
}

#define WHY(...) snprintf(why, why_len, __VA_ARGS__)

int identity_from_cert(X509 *cert, struct identity *id, char *why, size_t why_len)
{
	memset(id, 0, sizeof(*id));
	X509_NAME *name = X509_get_subject_name(cert);
	char ou[64];
	if (subject_field(name, NID_organizationName, id->org, sizeof(id->org)) != 1 ||
	    !record_org_ok(id->org)) {
		WHY("certificate subject needs exactly one O of 1-64 characters [a-z0-9-]");
		return -1;
	}
	int r = subject_field(name, NID_organizationalUnitName, ou, sizeof(ou));
	if (r != 1) {
		WHY("certificate subject needs exactly one OU (the role)");
		return -1;
	}
	id->role = identity_role_from_name(ou);
	if (id->role == ROLE_NONE) {
		WHY("certificate OU \"%s\" is not a known role", ou);
		return -1;
	}
	if (subject_field(name, NID_countryName, id->country, sizeof(id->country)) != 1 ||
	    strlen(id->country) != 2) {
		WHY("certificate subject needs exactly one C (ISO 3166 country)");
		return -1;
	}
	/* CN is informational: absent or odd is fine, it is only displayed. */
	if (subject_field(name, NID_commonName, id->name, sizeof(id->name)) != 1)
		id->name[0] = '\0';
	unsigned int len = 0;
	if (X509_digest(cert, EVP_sha256(), id->cert_sha256, &len) != 1 || len != SHA256_LEN) {
		WHY("cannot hash certificate");
		return -1;
	}
	return 0;
}
