/*
 * status.h - the one error convention of vigil.
 *
 * Every function that can fail returns 0 (VG_OK) or one of the negative codes
 * below.  The first eight mirror the wire's ErrorCode one to one; the mapping
 * to and from the wire lives in status.c and nowhere else.
 */
#ifndef VIGIL_PROTO_STATUS_H
#define VIGIL_PROTO_STATUS_H

enum vg_status {
	VG_OK = 0,
	VG_EBADREQ = -1,    /* malformed or invalid content */
	VG_EBADSIG = -2,    /* signature does not verify */
	VG_EPERM = -3,      /* the peer may not do this */
	VG_ENOTFOUND = -4,  /* no such thing (or not visible to the peer) */
	VG_ECONFLICT = -5,  /* record_id reused with different bytes */
	VG_ETOOLARGE = -6,  /* frame or field over its limit */
	VG_EUNAVAIL = -7,   /* overloaded or shutting down; retry later */
	VG_EINTERNAL = -8,  /* fault inside the relay */
	VG_ENOMEM = -9,     /* out of memory (reported as INTERNAL on the wire) */
	VG_EIO = -10,       /* I/O or storage failure (UNAVAILABLE on the wire) */
};

/* A short English name for a status ("bad request", ...); never NULL. */
const char *vg_strerror(int status);

/* Wire ErrorCode value for a status (ERROR_INTERNAL for unknown ones). */
int vg_status_to_wire(int status);

/* Status for a wire ErrorCode value (VG_EINTERNAL for unknown ones). */
int vg_status_from_wire(int code);

/* Upper-case wire name of a status, e.g. "BAD_SIGNATURE"; never NULL. */
const char *vg_status_wire_name(int status);

#endif
