/*
 * members.c - the relay's member directory: every organisation it admits,
 * with the role and country its certificate must carry.
 *
 * The answer is checked before it is handed on: every organisation id,
 * role, country and name must have its form, and the list must be strictly
 * sorted by organisation id (so no member appears twice).  A violation is
 * VIGIL_E_VERIFY.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "proto/record.h"

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
	if (m->n_members && !(list = calloc(m->n_members, sizeof(*list)))) {
		frame_free(a);
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < m->n_members; i++) {
		const Vigil__V1__Member *e = m->members[i];
		const char *bad = member_check(e);
		if (!bad && i > 0 && strcmp(m->members[i - 1]->organisation, e->organisation) >= 0)
			bad = "an organisation out of order or named twice";
		if (bad) {
			free(list);
			frame_free(a);
			return vigil__error_set(err, VIGIL_E_VERIFY,
						"the relay's member list is malformed: member %zu has "
						"%s", i + 1, bad);
		}
		struct vigil_member *d = &list[i];
		snprintf(d->organisation, sizeof(d->organisation), "%s", e->organisation);
		d->role = vigil__conn_role_name(e->role);
		memcpy(d->country, e->country, 3);
		snprintf(d->name, sizeof(d->name), "%s", e->name);
	}
	*out = list;
	*n = m->n_members;
	frame_free(a);
	return VIGIL_OK;
}
