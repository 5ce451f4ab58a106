/*
 * util.c - small public helpers of libvigil: version, memory, names of
 * channels, outcomes and the case codes, RFC 3339 times, hex and base64, all thin wrappers
 * over the wire contract in proto/ so that programs need nothing but
 * vigil.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "client/internal.h"
#include "proto/note.h"
#include "proto/record.h"
#include "proto/status.h"

/* The public header repeats a few limits of the wire contract. */
_Static_assert(VIGIL_RECORD_ID_LEN == RECORD_ID_LEN, "record id length");
_Static_assert(VIGIL_HASH_LEN == SHA256_LEN, "hash length");
_Static_assert(VIGIL_NOTE_MAX == RECORD_NOTE_MAX, "note limit");

const char *vigil_version(void)
{
	return VIGIL_VERSION;
}

void vigil_free(void *p)
{
	free(p);
}

int64_t vigil__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wire values start at 1 (0 is UNSPECIFIED) and have no gaps. */
const char *vigil_channel_name(unsigned i)
{
	return i < 1000 ? record_channel_name((int)i + 1) : NULL;
}

const char *vigil_outcome_name(unsigned i)
{
	return i < 1000 ? record_outcome_name((int)i + 1) : NULL;
}

const char *vigil_risk_name(unsigned i)
{
	return i < 1000 ? record_risk_name((int)i + 1) : NULL;
}

const char *vigil_factor_name(unsigned i)
{
	return i < 1000 ? record_factor_name((int)i + 1) : NULL;
}

const char *vigil_phase_name(unsigned i)
{
	return i < 1000 ? record_phase_name((int)i + 1) : NULL;
}

const char *vigil_handover_reason_name(unsigned i)
{
	return i < 1000 ? record_handover_reason_name((int)i + 1) : NULL;
}

const char *vigil_close_reason_name(unsigned i)
{
	return i < 1000 ? record_close_reason_name((int)i + 1) : NULL;
}

const char *vigil_erase_reason_name(unsigned i)
{
	/* The owner's reasons; "retention" is the relay's own. */
	static const char *const names[] = { "data-subject-request", "unlawful-content",
					     "other" };
	return i < sizeof(names) / sizeof(names[0]) ? names[i] : NULL;
}

const char *vigil_correction_reason_name(unsigned i)
{
	return i < 1000 ? record_correction_reason_name((int)i + 1) : NULL;
}

const char *vigil_state_name(unsigned i)
{
	return i < 1000 ? record_state_name((int)i + 1) : NULL;
}

const char *vigil_ack_decision_name(unsigned i)
{
	return i < 1000 ? record_ack_decision_name((int)i + 1) : NULL;
}

const char *vigil_alert_kind_name(unsigned i)
{
	return i < 1000 ? record_alert_kind_name((int)i + 1) : NULL;
}

int vigil_parse_time(const char *s, int64_t *ms)
{
	if (!s || !ms || time_parse_rfc3339(s, ms) != VG_OK)
		return VIGIL_E_USAGE;
	return VIGIL_OK;
}

void vigil_format_time(int64_t ms, char *out, size_t out_len)
{
	char buf[TIME_RFC3339_MAX];
	if (!out || out_len == 0)
		return;
	time_format_rfc3339(ms, buf);
	snprintf(out, out_len, "%s", buf);
}

void vigil_hex_encode(const uint8_t *in, size_t n, char *out)
{
	hex_encode(in, n, out);
}

int vigil_hex_decode(const char *hex, uint8_t *out, size_t n)
{
	if (!hex || !out || hex_decode(hex, out, n) != VG_OK)
		return VIGIL_E_USAGE;
	return VIGIL_OK;
}

size_t vigil_base64_encode(const uint8_t *in, size_t n, char *out)
{
	return base64_encode(in, n, out);
}

int vigil_base64_decode(const char *in, size_t len, uint8_t *out, size_t out_cap)
{
	if (!in || (!out && out_cap))
		return -1;
	return base64_decode(in, len, out, out_cap);
}
