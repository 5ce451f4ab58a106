#include "tests/bench/brecord.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "proto/frame.h"
#include "proto/sealed.h"
#include "proto/status.h"

struct chunk {
	pthread_t thread;
	struct brecord *r;
	size_t first, n;
	const struct brecord_spec *spec;
	int rc;
};

static int make_one(struct brecord *b, size_t i, const struct brecord_spec *s)
{
	i += s->first;
	static const Vigil__V1__Channel channels[] = {
		VIGIL__V1__CHANNEL__CHANNEL_PHONE, VIGIL__V1__CHANNEL__CHANNEL_SMS,
		VIGIL__V1__CHANNEL__CHANNEL_MESSENGER, VIGIL__V1__CHANNEL__CHANNEL_HOME_VISIT,
	};
	static const Vigil__V1__Outcome outcomes[] = {
		VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER,
		VIGIL__V1__OUTCOME__OUTCOME_UNREACHABLE,
	};
	/* A thousand cases, as a relay serving many field offices would see. */
	snprintf(b->case_id, sizeof(b->case_id), "se-stockholm-coord/BENCH-%04zu", i % 1000);
	if (RAND_bytes(b->record_id, RECORD_ID_LEN) != 1)
		return -1;
	int64_t t = s->time_ms + (int64_t)i * s->time_step_ms;
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	ca.channel = channels[i % 4];
	ca.outcome = outcomes[i % 3];
	ca.attempted_at_ms = t;
	static const char note[] = "called twice, will try again tomorrow morning";
	ca.note = (char *)(i % 4 == 0 && !s->n_readers && s->plain_notes ? note : "");
	/* A sealed note: P, its commitment and the readers in the record, the
	 * envelope beside it. */
	uint8_t p[SEALED_HEAD_LEN + RECORD_NOTE_MAX], commitment[SHA256_LEN];
	ProtobufCBinaryData readers[SEALED_READERS_MAX];
	Vigil__V1__SealedText st = VIGIL__V1__SEALED_TEXT__INIT;
	uint8_t *cms = NULL;
	size_t cms_len = 0;
	if (i % 4 == 0 && s->n_readers) {
		char why[160];
		size_t plen = sealed_plain_len(SEALED_NOTE);
		if (s->n_readers > SEALED_READERS_MAX ||
		    sealed_plain_build(SEALED_NOTE, b->record_id, NULL, note, sizeof(note) - 1, p,
				       why, sizeof(why)) != VG_OK ||
		    sealed_seal(p, plen, s->readers, s->n_readers, &cms, &cms_len, why,
				sizeof(why)) != VG_OK)
			return -1;
		sealed_commit(p, plen, commitment);
		st.commitment.data = commitment;
		st.commitment.len = SHA256_LEN;
		for (size_t k = 0; k < s->n_readers; k++) {
			readers[k].data = (uint8_t *)s->reader_sha256[k];
			readers[k].len = SHA256_LEN;
		}
		st.readers = readers;
		st.n_readers = s->n_readers;
		ca.sealed_note = &st;
	}
	Vigil__V1__Record r = VIGIL__V1__RECORD__INIT;
	r.record_id.data = b->record_id;
	r.record_id.len = RECORD_ID_LEN;
	r.case_id = b->case_id;
	r.author = (char *)s->author;
	r.client_time_ms = t;
	r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	r.contact_attempt = &ca;
	b->rec_len = vigil__v1__record__get_packed_size(&r);
	b->rec = malloc(b->rec_len);
	if (b->rec)
		vigil__v1__record__pack(&r, b->rec);
	if (!b->rec || record_sign(s->key, b->rec, b->rec_len, &b->sig, &b->sig_len) != VG_OK) {
		free(cms);
		return -1;
	}
	if (!s->frames) {
		free(cms);
		return 0;
	}
	Vigil__V1__SignedRecord sr = VIGIL__V1__SIGNED_RECORD__INIT;
	sr.record.data = b->rec;
	sr.record.len = b->rec_len;
	sr.signature.data = b->sig;
	sr.signature.len = b->sig_len;
	Vigil__V1__Submit sub = VIGIL__V1__SUBMIT__INIT;
	sub.record = &sr;
	sub.sealed.data = cms;
	sub.sealed.len = cms_len;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = (uint64_t)i + 1;
	f.msg_case = VIGIL__V1__FRAME__MSG_SUBMIT;
	f.submit = &sub;
	int rc = frame_encode(&f, FRAME_DEFAULT_MAX, &b->frame, &b->frame_len) == VG_OK ? 0 : -1;
	free(cms);
	return rc;
}

static void *chunk_main(void *arg)
{
	struct chunk *c = arg;
	for (size_t i = c->first; i < c->first + c->n && c->rc == 0; i++)
		c->rc = make_one(&c->r[i - c->first], i, c->spec);
	return NULL;
}

int brecords_make(struct brecord *r, size_t n, const struct brecord_spec *spec, unsigned threads)
{
	if (threads == 0)
		threads = 1;
	if (threads > 64)
		threads = 64;
	memset(r, 0, n * sizeof(*r));
	struct chunk c[64];
	size_t per = (n + threads - 1) / threads, at = 0;
	unsigned started = 0;
	int rc = 0;
	while (at < n) {
		struct chunk *k = &c[started];
		k->first = at;
		k->n = n - at < per ? n - at : per;
		k->r = r + at;
		k->spec = spec;
		k->rc = 0;
		if (pthread_create(&k->thread, NULL, chunk_main, k) != 0) {
			rc = -1;
			break;
		}
		at += k->n;
		started++;
	}
	for (unsigned t = 0; t < started; t++) {
		pthread_join(c[t].thread, NULL);
		if (c[t].rc != 0)
			rc = -1;
	}
	if (rc != 0)
		fprintf(stderr, "vigil-bench: cannot build and sign %zu records\n", n);
	return rc;
}

void brecords_free(struct brecord *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].rec);
		free(r[i].sig);
		free(r[i].frame);
	}
}
