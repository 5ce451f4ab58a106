/*
 * relays.c - a relay list, "A,B,...", each element HOST[:PORT] or
 * [IPV6][:PORT] (vigil.h, "several relays"): parsed once here for the
 * library and for the command-line tool, which refuses a bad list with the
 * same messages before it connects.
 */
#include <stdio.h>
#include <string.h>

#include "client/internal.h"

/* A decimal port from 1 to 65535, nothing else. */
static int port_ok(const char *p, size_t n)
{
	if (n < 1 || n > 5)
		return 0;
	long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10 + (p[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* One element, a (len bytes, trimmed, not empty), into out. */
static int element(const char *a, size_t len, const char *default_port, struct vigil__relay *out,
		   struct vigil_error *err)
{
	const char *h = a, *p = NULL;
	size_t hl, pl = 0;
	const char *end = a + len;
	if (a[0] == '[') {
		const char *close = memchr(a, ']', len);
		if (!close || close == a + 1)
			return vigil__error_set(err, VIGIL_E_USAGE,
						"bad relay address '%.*s': unbalanced brackets",
						(int)len, a);
		h = a + 1;
		hl = (size_t)(close - h);
		if (close + 1 < end && close[1] == ':') {
			p = close + 2;
			pl = (size_t)(end - p);
		} else if (close + 1 != end) {
			return vigil__error_set(err, VIGIL_E_USAGE,
						"bad relay address '%.*s': expected ':PORT' after ']'",
						(int)len, a);
		}
	} else {
		const char *colon = memchr(a, ':', len);
		if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
			return vigil__error_set(err, VIGIL_E_USAGE,
						"bad relay address '%.*s': write an IPv6 address in "
						"brackets, e.g. [::1]:%s", (int)len, a,
						VIGIL_DEFAULT_PORT);
		hl = colon ? (size_t)(colon - a) : len;
		if (colon) {
			p = colon + 1;
			pl = (size_t)(end - p);
		}
	}
	if (hl == 0)
		return vigil__error_set(err, VIGIL_E_USAGE, "bad relay address '%.*s': no host",
					(int)len, a);
	for (size_t i = 0; i < hl; i++)
		if (is_blank(h[i]) || h[i] == '[' || h[i] == ']' || (unsigned char)h[i] < 0x20)
			return vigil__error_set(err, VIGIL_E_USAGE,
						"bad relay address '%.*s': '%c' in the host",
						(int)len, a, is_blank(h[i]) ? ' ' : h[i] < 0x20 ? '?'
						: h[i]);
	if (hl >= sizeof(out->host))
		return vigil__error_set(err, VIGIL_E_USAGE, "bad relay address: host name too long");
	if (p && !port_ok(p, pl))
		return vigil__error_set(err, VIGIL_E_USAGE,
					"bad relay port '%.*s': expected a number from 1 to 65535",
					(int)pl, p);
	memcpy(out->host, h, hl);
	out->host[hl] = '\0';
	if (p) {
		memcpy(out->port, p, pl);
		out->port[pl] = '\0';
	} else {
		if (strlen(default_port) >= sizeof(out->port))
			return vigil__error_set(err, VIGIL_E_USAGE, "relay port is too long");
		snprintf(out->port, sizeof(out->port), "%s", default_port);
	}
	return VIGIL_OK;
}

int vigil__relays_parse(const char *relays, const char *default_port, struct vigil__relay *out,
			size_t max, size_t *n, struct vigil_error *err)
{
	*n = 0;
	if (!relays)
		return vigil__error_set(err, VIGIL_E_USAGE, "no relay given");
	const char *s = relays;
	while (is_blank(*s))
		s++;
	if (!*s)
		return vigil__error_set(err, VIGIL_E_USAGE, "empty relay list");
	if (!default_port || !default_port[0])
		default_port = VIGIL_DEFAULT_PORT;
	size_t count = 0;
	for (const char *a = relays;; count++) {
		const char *comma = strchr(a, ',');
		const char *e = comma ? comma : a + strlen(a);
		const char *b = a;
		while (b < e && is_blank(*b))
			b++;
		while (e > b && is_blank(e[-1]))
			e--;
		if (e == b)
			return vigil__error_set(err, VIGIL_E_USAGE,
						"bad relay list '%s': address %zu is empty", relays,
						count + 1);
		if (count == max)
			return vigil__error_set(err, VIGIL_E_USAGE,
						"bad relay list: more than %zu addresses", max);
		int rc = element(b, (size_t)(e - b), default_port, &out[count], err);
		if (rc != VIGIL_OK)
			return rc;
		if (!comma)
			break;
		a = comma + 1;
	}
	*n = count + 1;
	return VIGIL_OK;
}

int vigil_relays_check(const char *relays, size_t *n, struct vigil_error *err)
{
	struct vigil__relay r[VIGIL_RELAYS_MAX];
	size_t got = 0;
	int rc = vigil__relays_parse(relays, NULL, r, VIGIL_RELAYS_MAX, &got, err);
	if (n)
		*n = rc == VIGIL_OK ? got : 0;
	return rc;
}
