/*
 * identity.h - who is at the other end of a connection, read from the
 * subject of its verified certificate (DESIGN.md section 2):
 *   O  organisation id (lower-case, [a-z0-9-]), OU role, C country, CN name.
 */
#ifndef VIGIL_DAEMON_IDENTITY_H
#define VIGIL_DAEMON_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "proto/record.h"

enum role {
	ROLE_NONE = 0,
	ROLE_COORDINATOR = 1,   /* values equal the wire's vigil.v1.Role */
	ROLE_POLICE = 2,
	ROLE_IOM = 3,
	ROLE_SHELTER = 4,
	ROLE_RELAY = 5,
};

struct identity {
	char org[RECORD_ORG_MAX + 1];
	enum role role;
	char country[3];
	char name[128];
	uint8_t cert_sha256[SHA256_LEN];
};

/*
 * Fills id from cert.  Returns 0, or -1 with a reason in why when the
 * subject lacks O or C, has an unknown OU, or a field is malformed.
 */
int identity_from_cert(X509 *cert, struct identity *id, char *why, size_t why_len);

/* The role's OU name ("coordinator" ...), "none" for ROLE_NONE. */
const char *identity_role_name(enum role r);
/* The role an OU name stands for; ROLE_NONE when it is not a role. */
enum role identity_role_from_name(const char *name);

#endif
