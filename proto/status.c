#include "proto/status.h"
#include "proto/vigil.pb-c.h"

struct status_row {
	int status;
	int wire;
	const char *name;
	const char *text;
};

/* The single table that maps internal statuses to wire error codes. */
static const struct status_row status_rows[] = {
	{ VG_OK, VIGIL__V1__ERROR_CODE__ERROR_UNSPECIFIED, "OK", "ok" },
	{ VG_EBADREQ, VIGIL__V1__ERROR_CODE__ERROR_BAD_REQUEST, "BAD_REQUEST", "bad request" },
	{ VG_EBADSIG, VIGIL__V1__ERROR_CODE__ERROR_BAD_SIGNATURE, "BAD_SIGNATURE", "bad signature" },
	{ VG_EPERM, VIGIL__V1__ERROR_CODE__ERROR_PERMISSION_DENIED, "PERMISSION_DENIED", "permission denied" },
	{ VG_ENOTFOUND, VIGIL__V1__ERROR_CODE__ERROR_NOT_FOUND, "NOT_FOUND", "not found" },
	{ VG_ECONFLICT, VIGIL__V1__ERROR_CODE__ERROR_CONFLICT, "CONFLICT", "conflict" },
	{ VG_ETOOLARGE, VIGIL__V1__ERROR_CODE__ERROR_TOO_LARGE, "TOO_LARGE", "too large" },
	{ VG_EUNAVAIL, VIGIL__V1__ERROR_CODE__ERROR_UNAVAILABLE, "UNAVAILABLE", "unavailable" },
	{ VG_EINTERNAL, VIGIL__V1__ERROR_CODE__ERROR_INTERNAL, "INTERNAL", "internal error" },
	{ VG_ENOMEM, VIGIL__V1__ERROR_CODE__ERROR_INTERNAL, "INTERNAL", "out of memory" },
	{ VG_EIO, VIGIL__V1__ERROR_CODE__ERROR_UNAVAILABLE, "UNAVAILABLE", "storage failure" },
};

#define N_ROWS (sizeof(status_rows) / sizeof(status_rows[0]))

static const struct status_row *status_find(int status)
{
	for (size_t i = 0; i < N_ROWS; i++)
		if (status_rows[i].status == status)
			return &status_rows[i];
	return NULL;
}

const char *vg_strerror(int status)
{
	const struct status_row *r = status_find(status);
	return r ? r->text : "unknown error";
}

int vg_status_to_wire(int status)
{
	const struct status_row *r = status_find(status);
	return r ? r->wire : VIGIL__V1__ERROR_CODE__ERROR_INTERNAL;
}

const char *vg_status_wire_name(int status)
{
	const struct status_row *r = status_find(status);
	return r ? r->name : "INTERNAL";
}

int vg_status_from_wire(int code)
{
	/* The first match wins, so each wire code maps to its primary status. */
	for (size_t i = 1; i < N_ROWS; i++)
		if (status_rows[i].wire == code)
			return status_rows[i].status;
	return VG_EINTERNAL;
}
