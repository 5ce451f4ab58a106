/*
 * contact.c - ContactAttempt records: check the caller's fields, build the
 * Record, sign its exact bytes with the client's key, and submit it.
 *
 * The built bytes go through record_parse() (record.c), the same
 * validation the relay runs, so a record this file produces is never
 * refused as malformed.  A note is sealed (seal.c): the record carries its
 * SealedText, the envelope goes beside it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "proto/record.h"
#include "proto/status.h"

/* The checks that need no client; *channel and *outcome get wire values. */
static int contact_fields(const struct vigil_contact *ct, int *channel, int *outcome,
			  struct vigil_error *err)
{
	if (!ct)
		return vigil__error_set(err, VIGIL_E_USAGE, "contact attempt is NULL");
	int rc = vigil__record_head_check(ct->case_id, 0, err);
	if (rc == VIGIL_OK)
		rc = vigil__record_code(ct->channel, "channel", record_channel_from_name,
					vigil_channel_name, channel, err);
	if (rc == VIGIL_OK)
		rc = vigil__record_code(ct->outcome, "outcome", record_outcome_from_name,
					vigil_outcome_name, outcome, err);
	if (rc != VIGIL_OK)
		return rc;
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
static int contact_encode(const struct vigil_contact *ct, const struct vigil__head *h,
			  int channel, int outcome, uint8_t **out, size_t *out_len,
			  struct vigil_error *err)
{
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	ca.channel = (Vigil__V1__Channel)channel;
	ca.outcome = (Vigil__V1__Outcome)outcome;
	ca.attempted_at_ms = ct->attempted_at_ms ? ct->attempted_at_ms : h->now;
	ca.note = (char *)(ct->note && !h->sealed ? ct->note : "");
	ca.sealed_note = (Vigil__V1__SealedText *)h->sealed;
	Vigil__V1__Record r;
	vigil__record_head(&r, h);
	r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	r.contact_attempt = &ca;
	return vigil__record_pack(&r, "contact attempt", out, out_len, err);
}

int vigil_contact_check(const struct vigil_contact *ct, struct vigil_error *err)
{
	int channel, outcome;
	int rc = contact_fields(ct, &channel, &outcome, err);
	if (rc != VIGIL_OK)
		return rc;
	/* The rest (note encoding) is checked on a trial record. */
	static const uint8_t zero_id[RECORD_ID_LEN];
	struct vigil__head h = { zero_id, ct->case_id, "check", ct->client_time_ms,
				 vigil__now_ms(), NULL };
	uint8_t *b = NULL;
	size_t n = 0;
	rc = contact_encode(ct, &h, channel, outcome, &b, &n, err);
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
	if (ct) {
		ct->sealed = NULL;
		ct->sealed_len = 0;
	}
	int channel, outcome;
	const char *author = NULL;
	/* The fields first (the note in a trial record): a usage error never
	 * depends on the connection. */
	int rc = vigil_contact_check(ct, err);
	if (rc == VIGIL_OK)
		rc = contact_fields(ct, &channel, &outcome, err);
	if (rc == VIGIL_OK)
		rc = vigil__record_author(c, &author, err);
	if (rc == VIGIL_OK)
		rc = vigil__record_new_id(ct->record_id, ct->have_record_id, err);
	if (rc != VIGIL_OK)
		return rc;
	struct vigil__head h = { ct->record_id, ct->case_id, author, ct->client_time_ms,
				 vigil__now_ms(), NULL };
	struct vigil__sealed *sd = NULL;
	if (ct->note && ct->note[0]) {
		const struct vigil__seal_spec sp = { SEALED_NOTE, ct->note, NULL, 0, NULL, 0 };
		if (!(sd = malloc(sizeof(*sd))))
			return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
		rc = vigil__seal_make(c, &sp, ct->case_id, ct->record_id, author, sd, err);
		if (rc != VIGIL_OK)
			goto out;
		h.sealed = &sd->text;
	}
	uint8_t *b = NULL, *s = NULL;
	size_t n = 0, sn = 0;
	rc = contact_encode(ct, &h, channel, outcome, &b, &n, err);
	if (rc != VIGIL_OK)
		goto out;
	rc = vigil__record_sign(c, b, n, &s, &sn, err);
	if (rc != VIGIL_OK) {
		free(b);
		goto out;
	}
	*record = b;
	*record_len = n;
	*sig = s;
	*sig_len = sn;
	if (sd) {
		ct->sealed = sd->envelope;
		ct->sealed_len = sd->envelope_len;
		sd->envelope = NULL;
	}
out:
	if (sd)
		vigil__sealed_clear(sd);
	free(sd);
	return rc;
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
	uint8_t *sealed = ct->sealed;
	size_t sealed_len = ct->sealed_len;
	ct->sealed = NULL;
	ct->sealed_len = 0;
	rc = vigil__submit_send_owned(c, b, n, s, sn, sealed, sealed_len, &id, err);
	if (rc != VIGIL_OK)
		return rc;
	struct vigil_receipt tmp;
	return vigil__submit_wait(c, id, out ? out : &tmp, err);
}
