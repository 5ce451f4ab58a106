/*
 * error.c - libvigil's error reporting: vigil_strerror and the helpers that
 * fill a struct vigil_error.  Relay error codes are named through
 * proto/status.c, the one place that maps wire codes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "client/internal.h"
#include "proto/status.h"

const char *vigil_strerror(int status)
{
	switch (status) {
	case VIGIL_OK: return "ok";
	case VIGIL_E_USAGE: return "usage error";
	case VIGIL_E_CONNECT: return "cannot connect to the relay";
	case VIGIL_E_TLS: return "TLS failure";
	case VIGIL_E_PROTOCOL: return "protocol error";
	case VIGIL_E_REFUSED: return "refused by the relay";
	case VIGIL_E_VERIFY: return "verification failed";
	case VIGIL_E_IO: return "local file or key problem";
	case VIGIL_E_NOMEM: return "out of memory";
	case VIGIL_E_SEALED: return "sealed text not readable here";
	default: return "unknown error";
	}
}

void vigil__error_copy_text(char *dst, size_t n, const char *src)
{
	size_t i = 0;
	if (n == 0)
		return;
	for (; src && src[i] && i + 1 < n; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
	}
	dst[i] = '\0';
}

__attribute__((format(printf, 3, 0)))
static int error_vset(struct vigil_error *err, int status, const char *fmt, va_list ap)
{
	if (!err)
		return status;
	memset(err, 0, sizeof(*err));
	err->status = status;
	char buf[sizeof(err->message)];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	vigil__error_copy_text(err->message, sizeof(err->message), buf);
	return status;
}

int vigil__error_set(struct vigil_error *err, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_vset(err, status, fmt, ap);
	va_end(ap);
	return status;
}

int vigil__error_prefix(struct vigil_error *err, const char *fmt, ...)
{
	if (!err)
		return VIGIL_OK;
	char buf[2 * sizeof(err->message) + 2];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(err->message), fmt, ap);
	va_end(ap);
	size_t at = n < 0 ? 0 : (size_t)n < sizeof(err->message) ? (size_t)n
								   : sizeof(err->message) - 1;
	memcpy(buf + at, ": ", 2);
	memcpy(buf + at + 2, err->message, sizeof(err->message));
	buf[at + 2 + sizeof(err->message) - 1] = '\0';
	vigil__error_copy_text(err->message, sizeof(err->message), buf);
	return err->status;
}

int vigil__error_ssl(struct vigil_error *err, int status, const char *fmt, ...)
{
	/* The last error in the queue is the most specific one. */
	unsigned long e = ERR_peek_last_error();
	char reason[256] = "";
	if (e) {
		const char *r = ERR_reason_error_string(e);
		if (r)
			snprintf(reason, sizeof(reason), "%s", r);
		else
			ERR_error_string_n(e, reason, sizeof(reason));
	}
	ERR_clear_error();
	va_list ap;
	va_start(ap, fmt);
	error_vset(err, status, fmt, ap);
	va_end(ap);
	if (err && reason[0]) {
		size_t n = strlen(err->message);
		snprintf(err->message + n, sizeof(err->message) - n, ": %s", reason);
	}
	return status;
}

int vigil__error_refused(struct vigil_error *err, int code, const char *message)
{
	if (!err)
		return VIGIL_E_REFUSED;
	memset(err, 0, sizeof(*err));
	err->status = VIGIL_E_REFUSED;
	err->relay_code = code;
	int st = vg_status_from_wire(code);
	/* vg_status_from_wire() folds unknown codes into INTERNAL; keep the
	 * number visible instead of renaming a code we do not know. */
	if (code == 0)
		snprintf(err->relay_code_name, sizeof(err->relay_code_name), "UNSPECIFIED");
	else if (vg_status_to_wire(st) == code)
		snprintf(err->relay_code_name, sizeof(err->relay_code_name), "%s",
			 vg_status_wire_name(st));
	else
		snprintf(err->relay_code_name, sizeof(err->relay_code_name), "ERROR_%d", code);
	vigil__error_copy_text(err->message, sizeof(err->message),
			       message && message[0] ? message : "(no message)");
	return VIGIL_E_REFUSED;
}
