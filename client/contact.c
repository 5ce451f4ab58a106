/*
 * contact.c - ContactAttempt records: check the caller's fields, build the
 * Record, sign its exact bytes with the client's key, and submit it.
 *
 * The built bytes go through record_parse(), the same validation the relay
 * runs, so a record this file produces is never refused as malformed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "client/internal.h"
#include "proto/record.h"
#include "proto/status.h"

/* A user-supplied string quoted in a message, cut short if long. */
#define QUOTE_MAX 80

static void list_names(const char *(*name)(unsigned), char *out, size_t n)
{
	size_t used = 0;
	out[0] = '\0';
	for (unsigned i = 0; name(i); i++) {
		int w = snprintf(out + used, n - used, "%s%s", i ? ", " : "", name(i));
		if (w < 0 || (size_t)w >= n - used)
			break;
		used += (size_t)w;
	}
}

/* The checks that need no client; *channel and *outcome get wire values. */
static int contact_fields(const struct vigil_contact *ct, int *channel, int *outcome,
			  struct vigil_error *err)
{
	char names[512];
	if (!ct)
		return vigil__error_set(err, VIGIL_E_USAGE, "contact attempt is NULL");
	if (!ct->case_id || !ct->case_id[0])
		return vigil__error_set(err, VIGIL_E_USAGE, "no case id given");
	if (!record_case_id_ok(ct->case_id))
		return vigil__error_set(err, VIGIL_E_USAGE,
					"case id \"%.*s\" is invalid: it must be %u-%u characters "
					"of A-Z, a-z, 0-9 and '-'", QUOTE_MAX, ct->case_id,
					RECORD_CASE_ID_MIN, RECORD_CASE_ID_MAX);
	if (!ct->channel || !ct->channel[0])
		return vigil__error_set(err, VIGIL_E_USAGE, "no channel given");
	*channel = record_channel_from_name(ct->channel);
	if (!*channel) {
		list_names(vigil_channel_name, names, sizeof(names));
		return vigil__error_set(err, VIGIL_E_USAGE, "unknown channel \"%.*s\" (one of: %s)",
					QUOTE_MAX, ct->channel, names);
	}
	if (!ct->outcome || !ct->outcome[0])
		return vigil__error_set(err, VIGIL_E_USAGE, "no outcome given");
	*outcome = record_outcome_from_name(ct->outcome);
	if (!*outcome) {
		list_names(vigil_outcome_name, names, sizeof(names));
		return vigil__error_set(err, VIGIL_E_USAGE, "unknown outcome \"%.*s\" (one of: %s)",
					QUOTE_MAX, ct->outcome, names);
	}
	if (ct->attempted_at_ms < 0)
		return vigil__error_set(err, VIGIL_E_USAGE, "time of the attempt is before 1970");
	if (ct->client_time_ms < 0)
		return vigil__error_set(err, VIGIL_E_USAGE, "client time is before 1970");
	size_t nl = ct->note ? strlen(ct->note) : 0;
	if (nl > RECORD_NOTE_MAX)
		return vigil__error_set(err, VIGIL_E_USAGE, "note is %zu bytes; the limit is %u",
					nl, RECORD_NOTE_MAX);
	return VIGIL_OK;
}

/* Serializes the Record and runs the relay's own validation over it. */
static int contact_encode(const struct vigil_contact *ct, const uint8_t record_id[RECORD_ID_LEN],
			  const char *author, int channel, int outcome, int64_t now,
			  uint8_t **out, size_t *out_len, struct vigil_error *err)
{
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	ca.channel = (Vigil__V1__Channel)channel;
	ca.outcome = (Vigil__V1__Outcome)outcome;
	ca.attempted_at_ms = ct->attempted_at_ms ? ct->attempted_at_ms : now;
	ca.note = (char *)(ct->note ? ct->note : "");
	Vigil__V1__Record r = VIGIL__V1__RECORD__INIT;
	r.record_id.data = (uint8_t *)record_id;
	r.record_id.len = RECORD_ID_LEN;
	r.case_id = (char *)ct->case_id;
	r.author = (char *)author;
	r.client_time_ms = ct->client_time_ms ? ct->client_time_ms : now;
	r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	r.contact_attempt = &ca;

	size_t n = vigil__v1__record__get_packed_size(&r);
	uint8_t *b = malloc(n ? n : 1);
	if (!b)
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	vigil__v1__record__pack(&r, b);

	char why[256] = "";
	Vigil__V1__Record *parsed = NULL;
	if (record_parse(b, n, &parsed, why, sizeof(why)) != VG_OK) {
		free(b);
		return vigil__error_set(err, VIGIL_E_USAGE, "invalid contact attempt: %s", why);
	}
	record_free(parsed);
	*out = b;
	*out_len = n;
	return VIGIL_OK;
}

int vigil_contact_check(const struct vigil_contact *ct, struct vigil_error *err)
{
	int channel, outcome;
	int rc = contact_fields(ct, &channel, &outcome, err);
	if (rc != VIGIL_OK)
		return rc;
	/* The rest (note encoding) is checked on a trial record. */
	static const uint8_t zero_id[RECORD_ID_LEN];
	uint8_t *b = NULL;
	size_t n = 0;
	rc = contact_encode(ct, zero_id, "check", channel, outcome, vigil__now_ms(), &b, &n, err);
	free(b);
	return rc;
}

int vigil_build_contact(vigil_client *c, struct vigil_contact *ct, uint8_t **record,
			size_t *record_len, uint8_t **sig, size_t *sig_len,
			struct vigil_error *err)
{
	if (!c || !record || !record_len || !sig || !sig_len)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_build_contact: NULL argument");
	*record = *sig = NULL;
	*record_len = *sig_len = 0;
	int channel, outcome;
	int rc = contact_fields(ct, &channel, &outcome, err);
	if (rc != VIGIL_OK)
		return rc;
	const char *author = c->self.organisation;
	if (!author[0])
		return vigil__error_set(err, VIGIL_E_IO,
					"our certificate has no organisation (O): it cannot author "
					"records");
	if (!record_org_ok(author))
		return vigil__error_set(err, VIGIL_E_IO,
					"our certificate's organisation \"%s\" is not a valid "
					"organisation id", author);
	if (!ct->have_record_id && RAND_bytes(ct->record_id, RECORD_ID_LEN) != 1)
		return vigil__error_ssl(err, VIGIL_E_IO, "cannot generate a record id");

	uint8_t *b = NULL, *s = NULL;
	size_t n = 0, sn = 0;
	rc = contact_encode(ct, ct->record_id, author, channel, outcome, vigil__now_ms(), &b, &n,
			    err);
	if (rc != VIGIL_OK)
		return rc;
	ERR_clear_error();
	rc = record_sign(c->key, b, n, &s, &sn);
	if (rc != VG_OK) {
		free(b);
		if (rc == VG_ENOMEM)
			return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
		return vigil__error_ssl(err, VIGIL_E_IO, "cannot sign the record with our key");
	}
	*record = b;
	*record_len = n;
	*sig = s;
	*sig_len = sn;
	return VIGIL_OK;
}

int vigil_submit_contact(vigil_client *c, struct vigil_contact *ct, struct vigil_receipt *out,
			 struct vigil_error *err)
{
	uint8_t *b = NULL, *s = NULL;
	size_t n = 0, sn = 0;
	int rc = vigil_build_contact(c, ct, &b, &n, &s, &sn, err);
	if (rc != VIGIL_OK)
		return rc;
	uint64_t id = 0;
	rc = vigil__submit_send_owned(c, b, n, s, sn, &id, err);
	if (rc != VIGIL_OK)
		return rc;
	struct vigil_receipt tmp;
	return vigil__submit_wait(c, id, out ? out : &tmp, err);
}
