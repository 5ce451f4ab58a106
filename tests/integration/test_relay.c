/*
 * Black-box tests of vigild: a real relay on loopback, the real PKI from
 * certs/mkpki.sh, real TLS, and the real SQLite file checked afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "casekit.h"
#include "harness.h"
#include "proto/status.h"

static struct trelay R; /* shared by the tests that need no special config */

static long long entries(struct trelay *t)
{
	return db_int(t, "SELECT count(*) FROM entries");
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void assert_error(Vigil__V1__Frame *a, int status, const char *message)
{
	assert_non_null(a);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_ERROR);
	assert_string_equal(vg_status_wire_name(vg_status_from_wire(a->error->code)),
			    vg_status_wire_name(status));
	assert_string_equal(a->error->message, message);
	frame_free(a);
}

static Vigil__V1__Receipt *assert_receipt(Vigil__V1__Frame *a)
{
	assert_non_null(a);
	if (a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT)
		fail_msg("expected a receipt, got message %d (%s)", a->msg_case,
			 a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? a->error->message : "");
	assert_int_equal(a->receipt->leaf_hash.len, SHA256_LEN);
	return a->receipt;
}

static int64_t wall_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* BAD_REQUEST "FIELD AT is later than the relay's time RELAY plus
 * max_clock_skew (300 s)", RELAY being within seconds of our clock. */
static void assert_skew_error(Vigil__V1__Frame *a, const char *field, int64_t at_ms)
{
	int64_t now = wall_now_ms();
	assert_non_null(a);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_ERROR);
	assert_string_equal(vg_status_wire_name(vg_status_from_wire(a->error->code)),
			    vg_status_wire_name(VG_EBADREQ));
	char at[TIME_RFC3339_MAX], head[256];
	time_format_rfc3339(at_ms, at);
	snprintf(head, sizeof(head), "%s %s is later than the relay's time ", field, at);
	const char *m = a->error->message;
	if (strncmp(m, head, strlen(head)) != 0)
		fail_msg("message \"%s\" does not begin with \"%s\"", m, head);
	const char *tail = " plus max_clock_skew (300 s)";
	char relay[TIME_RFC3339_MAX];
	size_t rest = strlen(m + strlen(head));
	if (rest <= strlen(tail) || strcmp(m + strlen(m) - strlen(tail), tail) != 0 ||
	    rest - strlen(tail) >= sizeof(relay))
		fail_msg("message \"%s\" does not end with \"%s\"", m, tail);
	memcpy(relay, m + strlen(head), rest - strlen(tail));
	relay[rest - strlen(tail)] = '\0';
	int64_t relay_ms;
	assert_int_equal(time_parse_rfc3339(relay, &relay_ms), VG_OK);
	if (relay_ms > now + 1000 || relay_ms < now - 60000)
		fail_msg("relay time %s is not near our clock", relay);
	frame_free(a);
}

/* A contact attempt with client_time_ms and attempted_at_ms, refused for
 * field being at bad_ms. */
static void submit_times(struct tclient *c, int64_t client_ms, int64_t attempted_ms,
			 const char *field, int64_t bad_ms)
{
	uint8_t id[RECORD_ID_LEN];
	for (unsigned i = 0; i < RECORD_ID_LEN; i++)
		id[i] = (uint8_t)(0x5A ^ i);
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	ca.channel = VIGIL__V1__CHANNEL__CHANNEL_PHONE;
	ca.outcome = VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER;
	ca.attempted_at_ms = attempted_ms;
	ca.note = "";
	Vigil__V1__Record r = VIGIL__V1__RECORD__INIT;
	r.record_id.data = id;
	r.record_id.len = RECORD_ID_LEN;
	r.case_id = "se-stockholm-coord/SE-2026-0042";
	r.author = "iom-ru-moscow";
	r.client_time_ms = client_ms;
	r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	r.contact_attempt = &ca;
	size_t len = vigil__v1__record__get_packed_size(&r);
	uint8_t *rec = malloc(len);
	assert_non_null(rec);
	vigil__v1__record__pack(&r, rec);
	uint8_t *sig;
	size_t sig_len;
	sign_with("iom-ru-moscow", rec, len, &sig, &sig_len);
	assert_skew_error(tclient_submit(c, rec, len, sig, sig_len), field, bad_ms);
	free(sig);
	free(rec);
}

/* After every refusal the relay must still serve a well-behaved client. */
static void assert_good_client_served(struct trelay *t)
{
	struct tclient c;
	long long before = entries(t);
	if (tclient_open(&c, t->port, "iom-ru-moscow") != 0)
		fail_msg("good client: %s", c.err);
	struct contact_spec s;
	contact_spec_default(&s, "iom-ru-moscow", 0);
	Vigil__V1__Frame *a = tclient_submit_contact(&c, &s);
	if (!a)
		fail_msg("good client: %s", c.err);
	Vigil__V1__Receipt *r = assert_receipt(a);
	assert_int_equal(r->index, (uint64_t)before);
	assert_false(r->duplicate);
	frame_free(a);
	tclient_close(&c);
	assert_int_equal(entries(t), before + 1);
}

static int group_setup(void **state)
{
	(void)state;
	trelay_setup(&R, "handshake_timeout = 1s\nidle_timeout = 3s\nmax_frame = 4096", NULL);
	if (trelay_start(&R) != 0)
		return -1;
	trelay_open_case(&R, "se-stockholm-coord/SE-2026-0042");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	int rc = trelay_stop(&R);
	int leak = !trelay_log_has(&R, "drained:", 0);
	trelay_cleanup(&R);
	if (rc != 0 || leak) {
		fprintf(stderr, "relay exit status %d (drained line %s)\n", rc, leak ? "missing" : "seen");
		return -1;
	}
	return 0;
}

static void write_blob(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* A good submission gets a receipt whose leaf hash the client can
 * recompute, and the stored bytes verify with the openssl command against
 * the certificate stored with them. */
/* The readers of a case trelay_open_case opened: its owner and the parties
 * that read narrative (the police party does not). */
static const char *const READERS[] = { "se-stockholm-coord", "iom-ru-moscow", "se-shelter-1" };

/* A column of entry idx joined with its certificate (e.*, c.*), as the
 * store holds it (malloc()ed, NULL when empty); fails without the entry. */
static uint8_t *entry_column(uint64_t idx, const char *col, size_t *len)
{
	char sql[256];
	uint8_t *v;
	snprintf(sql, sizeof(sql), "SELECT %s FROM entries e JOIN certs c ON c.fp = e.cert_fp "
		 "WHERE e.idx = %llu", col, (unsigned long long)idx);
	assert_int_equal(db_blob(&R, sql, &v, len), 0);
	return v;
}

static void test_good_submission(void **state)
{
	(void)state;
	struct tclient c;
	if (tclient_open(&c, R.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	long long before = entries(&R);
	struct contact_spec s;
	contact_spec_default(&s, "iom-ru-moscow", 0);
	s.channel = VIGIL__V1__CHANNEL__CHANNEL_HOME_VISIT;
	/* The note is sealed to the case's readers (its owner, iom and
	 * shelter parties), as every note is. */
	struct tsealed sealed;
	tseal(&sealed, SEALED_NOTE, s.record_id, "neighbour says she left two weeks ago", READERS,
	      3);
	s.sealed_note = &sealed.text;
	uint8_t *rec, *sig;
	size_t rec_len, sig_len;
	contact_build(&s, &rec, &rec_len);
	sign_with("iom-ru-moscow", rec, rec_len, &sig, &sig_len);
	Vigil__V1__Frame *a = tclient_submit_sealed(&c, rec, rec_len, sig, sig_len, sealed.cms,
						    sealed.cms_len);
	if (!a)
		fail_msg("%s", c.err);
	Vigil__V1__Receipt *r = assert_receipt(a);
	assert_int_equal(r->index, (uint64_t)before);
	assert_false(r->duplicate);
	assert_int_equal(r->record_id.len, RECORD_ID_LEN);
	assert_memory_equal(r->record_id.data, s.record_id, RECORD_ID_LEN);
	/* The relay's clock, read after the receipt: time() reads a coarse clock that
	 * can lag behind the relay's CLOCK_REALTIME by a tick. */
	int64_t now = wall_now_ms();
	assert_true(r->received_at_ms > now - 60000 && r->received_at_ms <= now + 1000);

	uint8_t *leaf, lh[SHA256_LEN];
	size_t leaf_len;
	assert_int_equal(entry_leaf_encode(r->received_at_ms, c.cert_sha256, rec, rec_len, sig,
					   sig_len, &leaf, &leaf_len), VG_OK);
	merkle_leaf_hash(leaf, leaf_len, lh);
	free(leaf);
	assert_memory_equal(lh, r->leaf_hash.data, SHA256_LEN);
	uint64_t index = r->index;
	frame_free(a);
	tclient_close(&c);

	/* What landed in the database, read back byte for byte. */
	size_t s_rec_len, s_sig_len, s_der_len, s_leaf_len;
	uint8_t *s_rec = entry_column(index, "e.record", &s_rec_len);
	uint8_t *s_sig = entry_column(index, "e.signature", &s_sig_len);
	uint8_t *s_der = entry_column(index, "c.der", &s_der_len);
	uint8_t *s_leaf = entry_column(index, "e.leaf_hash", &s_leaf_len);
	assert_int_equal(s_rec_len, rec_len);
	assert_memory_equal(s_rec, rec, rec_len);
	char column[128];
	size_t column_len;
	uint8_t *v = entry_column(index, "e.case_id", &column_len);
	snprintf(column, sizeof(column), "%.*s", (int)column_len, (const char *)v);
	free(v);
	assert_string_equal(column, "se-stockholm-coord/SE-2026-0042");
	v = entry_column(index, "e.author", &column_len);
	snprintf(column, sizeof(column), "%.*s", (int)column_len, (const char *)v);
	free(v);
	assert_string_equal(column, "iom-ru-moscow");
	assert_int_equal(s_leaf_len, SHA256_LEN);
	assert_memory_equal(s_leaf, lh, SHA256_LEN);
	char f_rec[700], f_sig[700], f_der[700], cmd[4096];
	snprintf(f_rec, sizeof(f_rec), "%s/rec.bin", R.dir);
	snprintf(f_sig, sizeof(f_sig), "%s/rec.sig", R.dir);
	snprintf(f_der, sizeof(f_der), "%s/author.der", R.dir);
	write_blob(f_rec, s_rec, s_rec_len);
	write_blob(f_sig, s_sig, s_sig_len);
	write_blob(f_der, s_der, s_der_len);
	free(s_rec);
	free(s_sig);
	free(s_der);
	free(s_leaf);
	snprintf(cmd, sizeof(cmd),
		 "openssl x509 -inform DER -in '%s' -pubkey -noout > '%s/author.pub' && "
		 "openssl dgst -sha256 -verify '%s/author.pub' -signature '%s' '%s' >/dev/null",
		 f_der, R.dir, R.dir, f_sig, f_rec);
	assert_int_equal(system(cmd), 0);
	/* The same check fails on a flipped byte, so it is not vacuous. */
	rec[rec_len - 1] ^= 1;
	write_blob(f_rec, rec, rec_len);
	assert_int_not_equal(system(cmd), 0);
	free(rec);
	free(sig);
	/* The note is stored beside the entry, as submitted, and opens for
	 * a reader. */
	uint8_t *cms;
	size_t cms_len;
	char sql[96], why[256];
	snprintf(sql, sizeof(sql), "SELECT cms FROM sealed WHERE idx = %llu",
		 (unsigned long long)index);
	assert_int_equal(db_blob(&R, sql, &cms, &cms_len), 0);
	assert_int_equal(cms_len, sealed.cms_len);
	assert_memory_equal(cms, sealed.cms, cms_len);
	free(cms);
	char *text = db_sealed_text(&R, index, "se-shelter-1", why, sizeof(why));
	if (!text)
		fail_msg("%s", why);
	assert_string_equal(text, "neighbour says she left two weeks ago");
	free(text);
	tsealed_free(&sealed);
}

struct refusal {
	const char *cert;       /* NULL: no client certificate */
	const char *alpn;
	const char *client_err; /* in what the client sees */
	const char *relay_log;  /* in the relay's log */
};

/* Every identity problem is refused in the handshake, before any frame. */
static void test_handshake_refusals(void **state)
{
	(void)state;
	static const struct refusal cases[] = {
		{ NULL, "vigil/1", "certificate required", "peer did not return a certificate" },
		{ "untrusted", "vigil/1", "unknown ca", "unable to get local issuer certificate" },
		{ "expired", "vigil/1", "certificate expired", "certificate has expired" },
		{ "revoked", "vigil/1", "certificate revoked", "certificate revoked" },
		{ "no-ou", "vigil/1", "alert", "certificate subject needs exactly one OU (the role)" },
		{ "bad-ou", "vigil/1", "alert", "certificate OU \"journalist\" is not a known role" },
		{ "no-o", "vigil/1", "alert", "certificate subject needs exactly one O" },
		{ "iom-ru-moscow", "http/1.1", "no application protocol", "client does not offer ALPN vigil/1" },
		{ "iom-ru-moscow", NULL, "eof", "client did not negotiate ALPN vigil/1" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct refusal *k = &cases[i];
		long long before = entries(&R);
		struct tclient c;
		int rc = tclient_connect(&c, R.port, k->cert, k->alpn);
		if (rc == 0)
			rc = tclient_hello(&c);
		if (rc == 0)
			fail_msg("case %zu (%s): accepted", i, k->cert ? k->cert : "no cert");
		if (!strstr(c.err, k->client_err))
			fail_msg("case %zu (%s): client saw \"%s\", expected \"%s\"", i,
				 k->cert ? k->cert : "no cert", c.err, k->client_err);
		tclient_close(&c);
		if (!trelay_log_has(&R, k->relay_log, 3000))
			fail_msg("case %zu: relay log lacks \"%s\"", i, k->relay_log);
		assert_int_equal(entries(&R), before);
	}
	assert_good_client_served(&R);
}

/* Plain text on the TLS port is a failed handshake, nothing more. */
static void test_plaintext_on_tls_port(void **state)
{
	(void)state;
	int fd = tcp_connect_port(R.port);
	assert_true(fd >= 0);
	static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	assert_int_equal(write(fd, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
	char buf[256];
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	assert_int_equal(n, 0); /* closed by the relay, not a timeout */
	close(fd);
	assert_true(trelay_log_has(&R, "handshake failed", 2000));
	assert_good_client_served(&R);
}

static Vigil__V1__Frame *submit_signed_by(struct tclient *c, const struct contact_spec *s,
					  const char *keyname)
{
	uint8_t *rec, *sig;
	size_t rec_len, sig_len;
	contact_build(s, &rec, &rec_len);
	sign_with(keyname, rec, rec_len, &sig, &sig_len);
	Vigil__V1__Frame *a = tclient_submit(c, rec, rec_len, sig, sig_len);
	free(rec);
	free(sig);
	return a;
}

/* Refusals of one record keep the connection: the next one is served. */
static void test_record_refusals(void **state)
{
	(void)state;
	struct tclient c;
	if (tclient_open(&c, R.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	long long before = entries(&R);
	struct contact_spec s;

	contact_spec_default(&s, "iom-ru-moscow", 0);
	assert_error(submit_signed_by(&c, &s, "se-shelter-1"), VG_EBADSIG,
		     "signature does not verify with the key of this connection's certificate");

	contact_spec_default(&s, "iom-ru-moscow", 0);
	s.channel = 42;
	assert_error(tclient_submit_contact(&c, &s), VG_EBADREQ, "unknown channel value 42");

	contact_spec_default(&s, "iom-ru-moscow", 0);
	s.outcome = 99;
	assert_error(tclient_submit_contact(&c, &s), VG_EBADREQ, "unknown outcome value 99");

	contact_spec_default(&s, "iom-ru-moscow", 0);
	s.channel = 0;
	assert_error(tclient_submit_contact(&c, &s), VG_EBADREQ, "unknown channel value 0");

	static const char *const bad_ids[] = { "SE-2026-0042", "SE", "/SE-2026-0042",
		"SE-Stockholm/SE-2026-0042", "se-stockholm-coord/SE",
		"se-stockholm-coord/SE 2026", "se-stockholm-coord/SE_2026_0042",
		"se-stockholm-coord/fall/1", "se-stockholm-coord/SE-2026-0042/",
		("se-stockholm-coord/"
		 "0123456789012345678901234567890123456789012345678901234567890123X") };
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		contact_spec_default(&s, "iom-ru-moscow", 0);
		s.case_id = bad_ids[i];
		assert_error(tclient_submit_contact(&c, &s), VG_EBADREQ,
			     "case_id must be OWNER/PSEUDONYM: the owner's organisation id, '/', "
			     "and 3-64 characters of [A-Za-z0-9-]");
	}

	/* Client times later than the relay's time plus max_clock_skew; the
	 * body's own time is named first. */
	contact_spec_default(&s, "iom-ru-moscow", 0);
	s.time_ms = wall_now_ms() + 3600 * 1000;
	assert_skew_error(tclient_submit_contact(&c, &s), "attempted_at_ms", s.time_ms);
	int64_t later = wall_now_ms() + 3600 * 1000;
	submit_times(&c, wall_now_ms(), later, "attempted_at_ms", later);
	submit_times(&c, later, wall_now_ms(), "client_time_ms", later);
	/* Within the skew is accepted (checked below by the good record). */

	char note[514];
	memset(note, 'x', 513);
	note[513] = '\0';
	contact_spec_default(&s, "iom-ru-moscow", 0);
	s.note = note;
	assert_error(tclient_submit_contact(&c, &s), VG_ETOOLARGE, "note is 513 bytes; the limit is 512");

	contact_spec_default(&s, "iom-ru-moscow", 0);
	s.time_ms = 0;
	assert_error(tclient_submit_contact(&c, &s), VG_EBADREQ, "client_time_ms must be a positive time");

	/* A record that is not a Record at all. */
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
	uint8_t *sig;
	size_t sig_len;
	sign_with("iom-ru-moscow", junk, sizeof(junk), &sig, &sig_len);
	assert_error(tclient_submit(&c, junk, sizeof(junk), sig, sig_len), VG_EBADREQ,
		     "record does not decode as vigil.v1.Record");
	free(sig);

	/* Nothing above was stored; a good record on the same connection is. */
	assert_int_equal(entries(&R), before);
	contact_spec_default(&s, "iom-ru-moscow", 0);
	struct tsealed sealed; /* 512 bytes: exactly the limit, sealed */
	tseal(&sealed, SEALED_NOTE, s.record_id, note + 1, READERS, 3);
	s.sealed_note = &sealed.text;
	uint8_t *rec;
	size_t rec_len;
	contact_build(&s, &rec, &rec_len);
	sign_with("iom-ru-moscow", rec, rec_len, &sig, &sig_len);
	Vigil__V1__Frame *a = tclient_submit_sealed(&c, rec, rec_len, sig, sig_len, sealed.cms,
						    sealed.cms_len);
	assert_receipt(a);
	frame_free(a);
	free(rec);
	free(sig);
	tsealed_free(&sealed);
	assert_int_equal(entries(&R), before + 1);
	tclient_close(&c);
}

/* A record whose author is not the connection's organisation is refused
 * even when it is signed by the connection's own key. */
static void test_author_not_peer(void **state)
{
	(void)state;
	struct tclient c;
	if (tclient_open(&c, R.port, "other-iom") != 0)
		fail_msg("%s", c.err);
	long long before = entries(&R);
	struct contact_spec s;
	contact_spec_default(&s, "iom-ru-moscow", 0);
	assert_error(tclient_submit_contact(&c, &s), VG_EPERM,
		     "author \"iom-ru-moscow\" is not the organisation of this connection "
		     "(\"iom-md-chisinau\")");
	assert_int_equal(entries(&R), before);
	tclient_close(&c);
	assert_good_client_served(&R);
}

static void send_submit_with(struct tclient *c, const uint8_t *rec, size_t rec_len,
			     const uint8_t *sig, size_t sig_len, uint64_t rid)
{
	Vigil__V1__SignedRecord sr = VIGIL__V1__SIGNED_RECORD__INIT;
	sr.record.data = (uint8_t *)rec;
	sr.record.len = rec_len;
	sr.signature.data = (uint8_t *)sig;
	sr.signature.len = sig_len;
	Vigil__V1__Submit sub = VIGIL__V1__SUBMIT__INIT;
	sub.record = &sr;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = rid;
	f.msg_case = VIGIL__V1__FRAME__MSG_SUBMIT;
	f.submit = &sub;
	assert_int_equal(tclient_send_frame(c, &f), 0);
}

/* Submit frames without a record or signature, or with an oversized one. */
static void test_submit_shape(void **state)
{
	(void)state;
	struct tclient c;
	if (tclient_open(&c, R.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	Vigil__V1__Frame *a;
	uint8_t rec[8] = { 0 }, sig[600] = { 0 };
	send_submit_with(&c, NULL, 0, sig, 70, 7);
	assert_int_equal(tclient_recv(&c, &a, 5000), 0);
	assert_int_equal(a->request_id, 7);
	assert_error(a, VG_EBADREQ, "submit carries no record");
	send_submit_with(&c, rec, sizeof(rec), NULL, 0, 8);
	assert_int_equal(tclient_recv(&c, &a, 5000), 0);
	assert_error(a, VG_EBADREQ, "submit carries no signature");
	send_submit_with(&c, rec, sizeof(rec), sig, sizeof(sig), 9);
	assert_int_equal(tclient_recv(&c, &a, 5000), 0);
	assert_error(a, VG_ETOOLARGE, "signature is 600 bytes; the limit is 512");
	tclient_close(&c);
}

/* Framing errors leave the stream unusable: error frame, then close. */
static void test_frame_errors_close(void **state)
{
	(void)state;
	struct {
		const char *what;
		const uint8_t *bytes;
		size_t len;
		int status;
		const char *message;
	} cases[] = {
		{ "over the limit", (const uint8_t *)"\x00\x00\x10\x01", 4, VG_ETOOLARGE,
		  "frame exceeds the limit of 4096 bytes" },
		{ "garbage payload", (const uint8_t *)"\x00\x00\x00\x05\xff\xff\xff\xff\xff", 9,
		  VG_EBADREQ, "frame does not decode as vigil.v1.Frame" },
		{ "empty frame", (const uint8_t *)"\x00\x00\x00\x00", 4, VG_EBADREQ,
		  "frame does not decode as vigil.v1.Frame" },
		{ "text", (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, VG_ETOOLARGE,
		  "frame exceeds the limit of 4096 bytes" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tclient c;
		if (tclient_open(&c, R.port, "iom-ru-moscow") != 0)
			fail_msg("%s", c.err);
		long long before = entries(&R);
		assert_int_equal(tclient_send_raw(&c, cases[i].bytes, cases[i].len), 0);
		Vigil__V1__Frame *a;
		if (tclient_recv(&c, &a, 5000) != 0)
			fail_msg("%s: %s", cases[i].what, c.err);
		assert_int_equal(a->request_id, 0);
		assert_error(a, cases[i].status, cases[i].message);
		if (!tclient_wait_closed(&c, 3000))
			fail_msg("%s: connection left open", cases[i].what);
		tclient_close(&c);
		assert_int_equal(entries(&R), before);
	}
	assert_good_client_served(&R);
}

/* The first frame must be a hello of version 1. */
static void test_hello_rules(void **state)
{
	(void)state;
	struct tclient c;
	Vigil__V1__Frame *a;
	if (tclient_connect(&c, R.port, "iom-ru-moscow", "vigil/1") != 0)
		fail_msg("%s", c.err);
	uint8_t rec[4] = { 1, 2, 3, 4 }, sig[8] = { 0 };
	send_submit_with(&c, rec, sizeof(rec), sig, sizeof(sig), 3);
	assert_int_equal(tclient_recv(&c, &a, 5000), 0);
	assert_int_equal(a->request_id, 3);
	assert_error(a, VG_EBADREQ, "the first frame must be a hello");
	assert_true(tclient_wait_closed(&c, 3000));
	tclient_close(&c);

	if (tclient_connect(&c, R.port, "iom-ru-moscow", "vigil/1") != 0)
		fail_msg("%s", c.err);
	Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
	h.protocol_version = 2;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = 11;
	f.msg_case = VIGIL__V1__FRAME__MSG_HELLO;
	f.hello = &h;
	assert_int_equal(tclient_send_frame(&c, &f), 0);
	assert_int_equal(tclient_recv(&c, &a, 5000), 0);
	assert_int_equal(a->request_id, 11);
	assert_error(a, VG_EBADREQ, "unsupported protocol version 2; this relay speaks 1");
	assert_true(tclient_wait_closed(&c, 3000));
	tclient_close(&c);

	/* The welcome tells the client who the relay sees; a second hello is
	 * an error that keeps the connection. */
	if (tclient_connect(&c, R.port, "se-police-noa", "vigil/1") != 0)
		fail_msg("%s", c.err);
	h.protocol_version = 1;
	assert_int_equal(tclient_send_frame(&c, &f), 0);
	assert_int_equal(tclient_recv(&c, &a, 5000), 0);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_WELCOME);
	assert_string_equal(a->welcome->peer->organisation, "se-police-noa");
	assert_int_equal(a->welcome->peer->role, VIGIL__V1__ROLE__ROLE_POLICE);
	assert_string_equal(a->welcome->peer->country, "SE");
	assert_string_equal(a->welcome->peer->common_name, "Swedish Police NOA");
	assert_int_equal(a->welcome->protocol_version, 1);
	assert_int_equal(a->welcome->max_frame, 4096);
	frame_free(a);
	assert_int_equal(tclient_send_frame(&c, &f), 0);
	assert_int_equal(tclient_recv(&c, &a, 5000), 0);
	assert_error(a, VG_EBADREQ, "hello was already received");
	tclient_close(&c);
}

/* The same record again gets the original receipt; other bytes under the
 * same record_id are a conflict. */
static void test_duplicates(void **state)
{
	(void)state;
	struct tclient c;
	if (tclient_open(&c, R.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	struct contact_spec s;
	contact_spec_default(&s, "iom-ru-moscow", 0);
	Vigil__V1__Frame *a1 = tclient_submit_contact(&c, &s);
	Vigil__V1__Receipt *r1 = assert_receipt(a1);
	long long after_first = entries(&R);
	/* ECDSA signatures differ each time: the record bytes decide. */
	Vigil__V1__Frame *a2 = tclient_submit_contact(&c, &s);
	Vigil__V1__Receipt *r2 = assert_receipt(a2);
	assert_true(r2->duplicate);
	assert_false(r1->duplicate);
	assert_int_equal(r2->index, r1->index);
	assert_int_equal(r2->received_at_ms, r1->received_at_ms);
	assert_memory_equal(r2->leaf_hash.data, r1->leaf_hash.data, SHA256_LEN);
	assert_int_equal(entries(&R), after_first);
	char want[128];
	snprintf(want, sizeof(want), "record_id was already used for a different record (entry %llu)",
		 (unsigned long long)r1->index);
	s.outcome = VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE;
	assert_error(tclient_submit_contact(&c, &s), VG_ECONFLICT, want);
	assert_int_equal(entries(&R), after_first);
	assert_int_equal(db_int(&R, "SELECT count(*) FROM entries GROUP BY record_id "
				    "ORDER BY count(*) DESC LIMIT 1"), 1);
	frame_free(a1);
	frame_free(a2);
	tclient_close(&c);
}

/* Many submissions in flight on one connection: every one is answered once,
 * matched by its request id. */
static void test_pipelining(void **state)
{
	(void)state;
	enum { N = 300 };
	struct tclient c;
	if (tclient_open(&c, R.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	long long before = entries(&R);
	static uint8_t seen[N + 1];
	memset(seen, 0, sizeof(seen));
	for (int i = 1; i <= N; i++) {
		struct contact_spec s;
		contact_spec_default(&s, "iom-ru-moscow", 0);
		uint8_t *rec, *sig;
		size_t rec_len, sig_len;
		contact_build(&s, &rec, &rec_len);
		record_sign(c.key, rec, rec_len, &sig, &sig_len);
		send_submit_with(&c, rec, rec_len, sig, sig_len, (uint64_t)i);
		free(rec);
		free(sig);
	}
	for (int i = 0; i < N; i++) {
		Vigil__V1__Frame *a;
		if (tclient_recv(&c, &a, 15000) != 0)
			fail_msg("answer %d: %s", i, c.err);
		assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_RECEIPT);
		assert_true(a->request_id >= 1 && a->request_id <= N);
		assert_int_equal(seen[a->request_id], 0);
		seen[a->request_id] = 1;
		frame_free(a);
	}
	assert_int_equal(entries(&R), before + N);
	tclient_close(&c);
}

/* A GetCheckpoint frame of exactly `payload` bytes (its request id, the
 * message, and an unknown field as padding, which the relay ignores), with
 * its header, into buf; returns the wire size. */
static size_t padded_get_checkpoint(uint8_t *buf, size_t payload, uint64_t request_id)
{
	Vigil__V1__GetCheckpoint g = VIGIL__V1__GET_CHECKPOINT__INIT;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = request_id;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_CHECKPOINT;
	f.get_checkpoint = &g;
	size_t n = vigil__v1__frame__pack(&f, buf + FRAME_HEADER_LEN);
	/* Field 1000, length-delimited: a two-byte tag, a two-byte length. */
	size_t pad = payload - n - 4;
	assert_true(payload >= n + 4 + 128 && pad < 16384);
	uint8_t *p = buf + FRAME_HEADER_LEN + n;
	*p++ = (uint8_t)(((1000u << 3) | 2u) & 0x7f) | 0x80;
	*p++ = (uint8_t)(((1000u << 3) | 2u) >> 7);
	*p++ = (uint8_t)(pad & 0x7f) | 0x80;
	*p++ = (uint8_t)(pad >> 7);
	memset(p, 0x5a, pad);
	buf[0] = (uint8_t)(payload >> 24);
	buf[1] = (uint8_t)(payload >> 16);
	buf[2] = (uint8_t)(payload >> 8);
	buf[3] = (uint8_t)payload;
	return FRAME_HEADER_LEN + payload;
}

static void expect_checkpoint(struct tclient *c, uint64_t request_id)
{
	Vigil__V1__Frame *a;
	if (tclient_recv(c, &a, 5000) != 0)
		fail_msg("request %llu: %s", (unsigned long long)request_id, c->err);
	assert_int_equal(a->request_id, request_id);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CHECKPOINT);
	frame_free(a);
}

/* An idle session gives its buffers back (daemon/README.md, "Memory per
 * connection"), and takes frames afterwards as before: a frame of exactly
 * max_frame bytes arriving in pieces after an idle period, pipelined
 * frames with one split across reads, then a submission (whose
 * certificate the relay encodes only now). */
static void test_frames_after_idle(void **state)
{
	(void)state;
	enum { MAX = 4096 };
	static uint8_t buf[2 * (MAX + FRAME_HEADER_LEN)];
	struct tclient c;
	if (tclient_open(&c, R.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	const struct timespec idle = { .tv_sec = 0, .tv_nsec = 300 * 1000000L };
	nanosleep(&idle, NULL);
	/* max_frame exactly, in pieces across the header and the payload,
	 * each its own TLS record read apart. */
	size_t len = padded_get_checkpoint(buf, MAX, 1);
	static const size_t cuts[] = { 1, 3, 2, 1000, 2000 };
	size_t off = 0;
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		assert_int_equal(tclient_send_raw(&c, buf + off, cuts[i]), 0);
		off += cuts[i];
		const struct timespec gap = { .tv_sec = 0, .tv_nsec = 20 * 1000000L };
		nanosleep(&gap, NULL);
	}
	assert_int_equal(tclient_send_raw(&c, buf + off, len - off), 0);
	expect_checkpoint(&c, 1);
	nanosleep(&idle, NULL);
	/* Two frames in one write and the second's tail in the next. */
	size_t a = padded_get_checkpoint(buf, 300, 2);
	size_t b = padded_get_checkpoint(buf + a, MAX, 3);
	assert_int_equal(tclient_send_raw(&c, buf, a + 10), 0);
	assert_int_equal(tclient_send_raw(&c, buf + a + 10, b - 10), 0);
	expect_checkpoint(&c, 2);
	expect_checkpoint(&c, 3);
	nanosleep(&idle, NULL);
	struct contact_spec s;
	contact_spec_default(&s, "iom-ru-moscow", 0);
	Vigil__V1__Frame *r = tclient_submit_contact(&c, &s);
	if (!r)
		fail_msg("%s", c.err);
	assert_receipt(r);
	frame_free(r);
	nanosleep(&idle, NULL);
	/* One byte over the limit is still refused after all this. */
	padded_get_checkpoint(buf, MAX, 4);
	buf[3]++; /* MAX + 1 announced */
	assert_int_equal(tclient_send_raw(&c, buf, 4), 0);
	Vigil__V1__Frame *e;
	if (tclient_recv(&c, &e, 5000) != 0)
		fail_msg("%s", c.err);
	assert_error(e, VG_ETOOLARGE, "frame exceeds the limit of 4096 bytes");
	tclient_close(&c);
}

/* A TCP connection that never starts TLS is closed after handshake_timeout;
 * a TLS session that sends nothing after idle_timeout. */
static void test_timeouts(void **state)
{
	(void)state;
	int fd = tcp_connect_port(R.port);
	assert_true(fd >= 0);
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int64_t t0 = mono_ms();
	char b;
	assert_int_equal(read(fd, &b, 1), 0);
	int64_t took = mono_ms() - t0;
	close(fd);
	if (took < 900 || took > 6000)
		fail_msg("handshake timeout of 1 s closed after %lld ms", (long long)took);
	assert_true(trelay_log_has(&R, "handshake timeout", 2000));

	struct tclient c;
	if (tclient_open(&c, R.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	t0 = mono_ms();
	assert_true(tclient_wait_closed(&c, 10000));
	took = mono_ms() - t0;
	if (took < 2500)
		fail_msg("idle timeout of 3 s closed after %lld ms", (long long)took);
	tclient_close(&c);
	assert_true(trelay_log_has(&R, "idle timeout", 2000));
	assert_good_client_served(&R);
}

/* Receipted records survive kill -9: after a restart the same record gets
 * the same index back. */
static void test_kill9_keeps_receipted(void **state)
{
	(void)state;
	struct trelay t;
	trelay_setup(&t, NULL, NULL);
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, "se-stockholm-coord/SE-2026-0042"); /* after the member keys */
	struct tclient c;
	if (tclient_open(&c, t.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	struct contact_spec s[5];
	uint64_t idx[5];
	for (int i = 0; i < 5; i++) {
		contact_spec_default(&s[i], "iom-ru-moscow", 0);
		Vigil__V1__Frame *a = tclient_submit_contact(&c, &s[i]);
		idx[i] = assert_receipt(a)->index;
		frame_free(a);
	}
	trelay_kill9(&t);
	tclient_close(&c);
	assert_int_equal(trelay_start(&t), 0);
	assert_int_equal(entries(&t), PKI_MEMBER_KEYS + 6);
	if (tclient_open(&c, t.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	for (int i = 0; i < 5; i++) {
		Vigil__V1__Frame *a = tclient_submit_contact(&c, &s[i]);
		Vigil__V1__Receipt *r = assert_receipt(a);
		assert_true(r->duplicate);
		assert_int_equal(r->index, idx[i]);
		frame_free(a);
	}
	/* New records continue the index sequence. */
	struct contact_spec n;
	contact_spec_default(&n, "iom-ru-moscow", 0);
	Vigil__V1__Frame *a = tclient_submit_contact(&c, &n);
	assert_int_equal(assert_receipt(a)->index, PKI_MEMBER_KEYS + 6);
	frame_free(a);
	tclient_close(&c);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/* SIGTERM: stop accepting, answer what was received, exit 0; everything
 * receipted is in the database. */
static void test_sigterm_drains(void **state)
{
	(void)state;
	enum { N = 200 };
	struct trelay t;
	trelay_setup(&t, NULL, NULL);
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, "se-stockholm-coord/SE-2026-0042");
	struct tclient c;
	if (tclient_open(&c, t.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	for (int i = 1; i <= N; i++) {
		struct contact_spec s;
		contact_spec_default(&s, "iom-ru-moscow", 0);
		uint8_t *rec, *sig;
		size_t rec_len, sig_len;
		contact_build(&s, &rec, &rec_len);
		record_sign(c.key, rec, rec_len, &sig, &sig_len);
		send_submit_with(&c, rec, rec_len, sig, sig_len, (uint64_t)i);
		free(rec);
		free(sig);
	}
	pid_t pid = t.pid;
	kill(pid, SIGTERM);
	int receipts = 0;
	Vigil__V1__Frame *a;
	while (tclient_recv(&c, &a, 10000) == 0) {
		if (a->msg_case == VIGIL__V1__FRAME__MSG_RECEIPT)
			receipts++;
		frame_free(a);
	}
	tclient_close(&c);
	assert_int_equal(trelay_wait(&t, 20000), 0);
	assert_true(trelay_log_has(&t, "drained:", 0));
	assert_true(receipts > 0);
	assert_true(entries(&t) >= receipts);
	trelay_cleanup(&t);
}

/* SIGHUP reloads (test_reload has the rest): the relay keeps running, a
 * connection opened before it still submits, a new one too, and SIGTERM
 * still ends it cleanly.  Its default action would have killed it. */
static void test_sighup_reloads(void **state)
{
	(void)state;
	struct trelay t;
	trelay_setup(&t, NULL, NULL);
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, "se-stockholm-coord/SE-2026-0042");
	struct tclient c;
	if (tclient_open(&c, t.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	assert_int_equal(kill(t.pid, SIGHUP), 0);
	assert_true(trelay_log_has(&t, "SIGHUP: reloading ", 5000));
	assert_true(trelay_log_has(&t, "reloaded ", 5000));
	int st;
	assert_int_equal(waitpid(t.pid, &st, WNOHANG), 0); /* still running */

	long long before = entries(&t);
	struct contact_spec s;
	contact_spec_default(&s, "iom-ru-moscow", 0);
	Vigil__V1__Frame *a = tclient_submit_contact(&c, &s);
	if (!a)
		fail_msg("the connection opened before SIGHUP: %s", c.err);
	Vigil__V1__Receipt *r = assert_receipt(a);
	assert_int_equal(r->index, (uint64_t)before);
	frame_free(a);
	tclient_close(&c);
	assert_good_client_served(&t);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/* Connections over max_connections are refused; a slot freed is reusable. */
static void test_connection_cap(void **state)
{
	(void)state;
	struct trelay t;
	trelay_setup(&t, "max_connections = 2", NULL);
	assert_int_equal(trelay_start(&t), 0);
	struct tclient a, b, c;
	assert_int_equal(tclient_open(&a, t.port, "iom-ru-moscow"), 0);
	assert_int_equal(tclient_open(&b, t.port, "se-police-noa"), 0);
	assert_int_not_equal(tclient_open(&c, t.port, "se-stockholm-coord"), 0);
	tclient_close(&c);
	assert_true(trelay_log_has(&t, "connection cap of 2 reached", 2000));
	tclient_close(&a);
	/* The relay notices the close asynchronously: retry briefly. */
	int ok = -1;
	for (int i = 0; i < 50 && ok != 0; i++) {
		ok = tclient_open(&c, t.port, "se-stockholm-coord");
		if (ok != 0) {
			tclient_close(&c);
			usleep(50000);
		}
	}
	assert_int_equal(ok, 0);
	tclient_close(&b);
	tclient_close(&c);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/* The whole file (caller frees). */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* ---- handshake admission (daemon/admission.h) ----------------------------- */

/* 1 when the relay has closed fd (EOF or reset) within ms, 0 otherwise. */
static int fd_closed_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, ms) <= 0)
		return 0;
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* 1 when the relay closed fd cleanly (FIN, read returns 0) within ms. */
static int fd_eof_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, ms) <= 0)
		return 0;
	char b;
	return recv(fd, &b, 1, MSG_DONTWAIT) == 0;
}

/* A good client (real mTLS) connects, says hello and gets a receipt, trying
 * up to `attempts` times 100 ms apart (a refused attempt is reset at once);
 * returns the attempt that succeeded (1-based). */
static int good_client_gets_in(struct trelay *t, const char *cert, int attempts)
{
	static uint32_t seed = 0x5100;
	char why[sizeof(((struct tclient *)0)->err) + 16] = "";
	for (int i = 1; i <= attempts; i++) {
		struct tclient c;
		if (tclient_open(&c, t->port, cert) == 0) {
			struct contact_spec s;
			contact_spec_default(&s, c.org, ++seed);
			Vigil__V1__Frame *a = tclient_submit_contact(&c, &s);
			if (a && a->msg_case == VIGIL__V1__FRAME__MSG_RECEIPT) {
				frame_free(a);
				tclient_close(&c);
				return i;
			}
			snprintf(why, sizeof(why), "submit: %s",
				 a ? (a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? a->error->message
										  : "not a receipt")
				   : c.err);
			if (a)
				frame_free(a);
		} else {
			snprintf(why, sizeof(why), "%s", c.err);
		}
		tclient_close(&c);
		usleep(100000);
	}
	fail_msg("good client %s not served in %d attempts: %s", cert, attempts, why);
	return -1;
}

/* A member connects and says hello, retrying like good_client_gets_in. */
static void member_opens(struct tclient *c, int port, const char *cert)
{
	char why[sizeof(c->err)] = "";
	for (int i = 0; i < 50; i++) {
		if (tclient_open(c, port, cert) == 0)
			return;
		snprintf(why, sizeof(why), "%s", c->err);
		tclient_close(c);
		usleep(100000);
	}
	fail_msg("member %s: %s", cert, why);
}

/*
 * Connections still in the handshake have a pool of their own: with
 * max_handshakes = 4, raw sockets that send nothing and stay open lock
 * nobody out.  Four fill the pool (the rest are reset at once); once they
 * have waited longer than the protection time (1 s for handshake_timeout =
 * 10 s), a good client's connection pushes the oldest out and finishes its
 * handshake.  The attacker refills the pool before every good client, and
 * silent sockets do not count against max_connections = 2: two members
 * fill it while the pool is attacked.
 */
static void test_handshake_pool(void **state)
{
	(void)state;
	struct trelay t;
	trelay_setup(&t, "max_connections = 2\nmax_handshakes = 4\n"
			 "max_handshakes_per_address = 64\nhandshake_timeout = 10s", NULL);
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, "se-stockholm-coord/SE-2026-0042");
	enum { ROUNDS = 4, PER_ROUND = 10 };
	int fds[ROUNDS * PER_ROUND];
	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < PER_ROUND; i++)
			assert_true((fds[round * PER_ROUND + i] = tcp_connect_port(t.port)) >= 0);
		usleep(1200 * 1000);
		if (round == 0) {
			assert_true(trelay_log_has(&t, "handshake pool full", 2000));
			struct tclient a, b;
			member_opens(&a, t.port, "iom-ru-moscow");
			member_opens(&b, t.port, "se-police-noa");
			tclient_close(&a);
			tclient_close(&b);
		} else {
			good_client_gets_in(&t, "iom-ru-moscow", 50);
		}
	}
	assert_true(trelay_log_has(&t, "pushed out: handshake pool full", 2000));
	/* The very first socket was in the pool: pushed out with a clean EOF
	 * long before the handshake timeout. */
	assert_true(fd_eof_within(fds[0], 2000));
	for (int i = 0; i < ROUNDS * PER_ROUND; i++)
		close(fds[i]);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/*
 * max_handshakes_per_address = 4: silent sockets beyond four from one
 * address push out that address's oldest (which see a clean EOF long
 * before the 10 s handshake timeout), and a good client from the same
 * address still gets in, pushing out the oldest once it is no longer
 * protected (1 s).
 */
static void test_handshakes_per_address(void **state)
{
	(void)state;
	struct trelay t;
	trelay_setup(&t, "max_handshakes = 64\nmax_handshakes_per_address = 4\n"
			 "handshake_timeout = 10s", NULL);
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, "se-stockholm-coord/SE-2026-0042");
	int old[4], young[4];
	for (int i = 0; i < 4; i++)
		assert_true((old[i] = tcp_connect_port(t.port)) >= 0);
	usleep(1300 * 1000); /* older than the protection time */
	for (int i = 0; i < 4; i++) {
		assert_true((young[i] = tcp_connect_port(t.port)) >= 0);
		/* Each new socket pushes out the address's oldest, in order. */
		if (!fd_eof_within(old[i], 5000))
			fail_msg("silent socket %d was not closed when socket %d came", i, i + 4);
	}
	for (int i = 0; i < 4; i++)
		assert_false(fd_closed_within(young[i], 0));
	assert_true(trelay_log_has(&t, "pushed out: too many handshakes from this address", 2000));
	/* The four young ones are protected for 1 s: a client arriving now is
	 * refused and retries; then it pushes out the oldest of them. */
	good_client_gets_in(&t, "iom-ru-moscow", 60);
	assert_true(fd_eof_within(young[0], 2000));
	for (int i = 0; i < 4; i++) {
		close(old[i]);
		close(young[i]);
	}
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/* Authenticated connections are never pushed out by unauthenticated ones:
 * three members stay connected while silent sockets overflow the pool,
 * and each submits afterwards on its old connection. */
static void test_authenticated_not_pushed_out(void **state)
{
	(void)state;
	struct trelay t;
	trelay_setup(&t, "max_handshakes = 2\nmax_handshakes_per_address = 2\n"
			 "handshake_timeout = 10s", NULL);
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, "se-stockholm-coord/SE-2026-0042");
	static const char *const certs[3] = { "iom-ru-moscow", "se-police-noa",
					      "se-stockholm-coord" };
	struct tclient m[3];
	for (int i = 0; i < 3; i++)
		if (tclient_open(&m[i], t.port, certs[i]) != 0)
			fail_msg("%s: %s", certs[i], m[i].err);
	int fds[24];
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 12; i++)
			fds[round * 12 + i] = tcp_connect_port(t.port);
		usleep(1200 * 1000); /* the pool's members lose their protection */
	}
	int fresh = tcp_connect_port(t.port); /* pushes out one more */
	assert_true(trelay_log_has(&t, "pushed out:", 5000));
	for (int i = 0; i < 3; i++) {
		struct contact_spec s;
		contact_spec_default(&s, m[i].org, 0x7700u + (uint32_t)i);
		Vigil__V1__Frame *a = tclient_submit_contact(&m[i], &s);
		if (!a)
			fail_msg("%s after the overflow: %s", certs[i], m[i].err);
		assert_receipt(a);
		frame_free(a);
		tclient_close(&m[i]);
	}
	close(fresh);
	for (int i = 0; i < 24; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/* Like tclient_connect with ALPN vigil/1, offering only the key exchange
 * groups in `groups` (OpenSSL's list syntax). */
static int connect_groups(struct tclient *c, int port, const char *cert, const char *groups)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->next_id = 1;
	c->ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_3_VERSION);
	SSL_CTX_load_verify_locations(c->ctx, pki("ca.crt"), NULL);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	char crt[128], key[128];
	snprintf(crt, sizeof(crt), "%s.crt", cert);
	snprintf(key, sizeof(key), "%s.key", cert);
	assert_int_equal(SSL_CTX_use_certificate_file(c->ctx, pki(crt), SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(c->ctx, pki(key), SSL_FILETYPE_PEM), 1);
	c->key = SSL_CTX_get0_privatekey(c->ctx);
	EVP_PKEY_up_ref(c->key);
	unsigned int n;
	X509 *own = SSL_CTX_get0_certificate(c->ctx);
	X509_digest(own, EVP_sha256(), c->cert_sha256, &n);
	X509_NAME_get_text_by_NID(X509_get_subject_name(own), NID_organizationName, c->org,
				  sizeof(c->org));
	static const unsigned char alpn[] = "\x07vigil/1";
	SSL_CTX_set_alpn_protos(c->ctx, alpn, sizeof(alpn) - 1);
	if (groups)
		assert_int_equal(SSL_CTX_set1_groups_list(c->ctx, groups), 1);
	c->fd = tcp_connect_port(port);
	assert_true(c->fd >= 0);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	c->ssl = SSL_new(c->ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set1_host(c->ssl, "localhost");
	if (SSL_connect(c->ssl) != 1) {
		unsigned long e = ERR_peek_last_error();
		snprintf(c->err, sizeof(c->err), "handshake: %s",
			 e ? ERR_error_string(e, NULL) : "eof");
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* Key exchange is X25519 or P-256 only: a ClientHello offering only
 * finite-field groups is refused at once (no DH is computed), one that
 * offers ffdhe first is moved to P-256, and a default client gets X25519. */
static void test_key_exchange_groups(void **state)
{
	(void)state;
	struct tclient c;
	static const char *const ffdhe_only[] = { "ffdhe8192", "ffdhe2048:ffdhe3072:ffdhe4096" };
	for (size_t i = 0; i < 2; i++) {
		int64_t t0 = mono_ms();
		if (connect_groups(&c, R.port, "iom-ru-moscow", ffdhe_only[i]) == 0)
			fail_msg("a client offering only %s completed a handshake", ffdhe_only[i]);
		int64_t took = mono_ms() - t0;
		if (!strstr(c.err, "handshake failure"))
			fail_msg("%s: unexpected refusal: %s", ffdhe_only[i], c.err);
		/* No 8192-bit modular exponentiation: the refusal is immediate. */
		if (took > 3000)
			fail_msg("%s: refusal took %lld ms", ffdhe_only[i], (long long)took);
		tclient_close(&c);
	}
	assert_true(trelay_log_has(&R, "no suitable key share", 2000));

	static const struct {
		const char *groups;
		int nid;
	} ok[] = {
		{ NULL, NID_X25519 },                          /* OpenSSL's default offer */
		{ "X25519", NID_X25519 },
		{ "P-256", NID_X9_62_prime256v1 },
		{ "ffdhe8192:P-256", NID_X9_62_prime256v1 },  /* hello retry to P-256 */
		{ "P-384:X25519", NID_X25519 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (connect_groups(&c, R.port, "iom-ru-moscow", ok[i].groups) != 0)
			fail_msg("groups %s: %s", ok[i].groups ? ok[i].groups : "(default)", c.err);
		int got = SSL_get_negotiated_group(c.ssl);
		if (got != ok[i].nid)
			fail_msg("groups %s: negotiated %s", ok[i].groups ? ok[i].groups : "(default)",
				 OBJ_nid2sn(got));
		if (tclient_hello(&c) != 0)
			fail_msg("groups %s: hello: %s", ok[i].groups ? ok[i].groups : "(default)", c.err);
		tclient_close(&c);
	}
	assert_good_client_served(&R);
}

/* A file (on PostgreSQL: a schema) that is not a vigil database is refused
 * and left untouched. */
static void test_foreign_database(void **state)
{
	(void)state;
	struct trelay t;
	char name[700], want[1024];
	trelay_setup(&t, NULL, NULL);
	store_name(&t, name, sizeof(name));
	if (sqlite_only("a file that is not a database at all, refused and left untouched")) {
		static const char junk[] = "this is somebody's spreadsheet, not a database\n";
		write_blob(t.db, junk, sizeof(junk));
		assert_int_not_equal(trelay_start(&t), 0);
		assert_true(trelay_log_has(&t, "file is not a database; refusing to use or replace "
					   "it", 0));
		FILE *f = fopen(t.db, "rb");
		char back[sizeof(junk) + 8];
		size_t n = fread(back, 1, sizeof(back), f);
		fclose(f);
		assert_int_equal(n, sizeof(junk));
		assert_memory_equal(back, junk, sizeof(junk));
		unlink(t.db);
	}

	/* A real database of another application: an SQLite file, or tables
	 * in the relay's PostgreSQL schema and no vigil_meta. */
	size_t before_len = 0;
	char *before = NULL;
	if (test_backend_pg()) {
		assert_int_equal(db_change(&t, "CREATE TABLE notes(x BIGINT); INSERT INTO notes "
					   "VALUES(1)"), 0);
	} else {
		sqlite3 *db;
		assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "CREATE TABLE notes(x); INSERT INTO notes "
					      "VALUES(1)", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		before = slurp(t.db, &before_len);
	}
	assert_int_not_equal(trelay_start(&t), 0);
	snprintf(want, sizeof(want), "%s is not a vigil database (application_id 0x0, 1 tables); "
		 "refusing to use or replace it", name);
	assert_true(trelay_log_has(&t, want, 0));
	if (!test_backend_pg()) {
		/* Recognised by reading alone: not one byte changed (no switch
		 * to WAL mode before the check), and no WAL file left beside
		 * it. */
		size_t after_len;
		char *after = slurp(t.db, &after_len);
		assert_int_equal(after_len, before_len);
		assert_memory_equal(after, before, before_len);
		free(before);
		free(after);
		char wal[700];
		snprintf(wal, sizeof(wal), "%s-wal", t.db);
		assert_int_not_equal(access(wal, F_OK), 0);
	} else {
		/* Recognised by reading alone: no table made, none changed. */
		assert_int_equal(db_int(&t, "SELECT count(*) FROM information_schema.tables WHERE "
					    "table_schema = current_schema()"), 1);
		assert_int_equal(db_int(&t, "SELECT count(*) FROM notes"), 1);
	}
	assert_int_equal(db_int(&t, "SELECT x FROM notes"), 1);
	trelay_cleanup(&t);
}

/* A new log is created only when asked: a wrong path or a failed mount must
 * not start a second history. */
static void test_new_log_only_when_asked(void **state)
{
	(void)state;
	struct trelay t;
	char out[4096], want[1024], name[700];
	trelay_setup(&t, NULL, NULL);
	store_name(&t, name, sizeof(name));
	const char *start[] = { "vigild", "-c", t.conf, NULL };
	const char *init[] = { "vigild", "-c", t.conf, "--init-db", NULL };

	if (test_backend_pg()) {
		/* A search_path naming a schema that does not exist (a wrong
		 * name): refused, with and without --init-db, and nothing is
		 * created. */
		char from[128], to[160], sql[256];
		snprintf(from, sizeof(from), "search_path=%s'", t.pg_schema);
		snprintf(to, sizeof(to), "search_path=%s_missing'", t.pg_schema);
		file_replace(t.conf, from, to);
		char missing[1200];
		snprintf(missing, sizeof(missing), "%s_missing: no schema of the connection's "
			 "search_path exists; create it (CREATE SCHEMA) or name one in the connection "
			 "string (options='-c search_path=NAME')", name);
		assert_int_equal(run_vigild(start, out, sizeof(out)), 1);
		if (!strstr(out, missing))
			fail_msg("\"%s\" not in %s", missing, out);
		assert_int_equal(run_vigild(init, out, sizeof(out)), 1);
		assert_non_null(strstr(out, missing));
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_namespace WHERE nspname = "
			 "'%s_missing'", t.pg_schema);
		assert_int_equal(db_int(&t, sql), 0);
		file_replace(t.conf, to, from);
	}
	if (sqlite_only("a missing database file and an empty file, refused and not created")) {
		/* Missing: refused, and nothing is created. */
		assert_int_equal(run_vigild(start, out, sizeof(out)), 1);
		snprintf(want, sizeof(want), "%s does not exist; a new log is created only with "
			 "--init-db", t.db);
		assert_non_null(strstr(out, want));
		assert_int_not_equal(access(t.db, F_OK), 0);

		/* Empty (a file left by a failed copy or mount): refused, left
		 * empty. */
		write_blob(t.db, "", 0);
		assert_int_equal(run_vigild(start, out, sizeof(out)), 1);
		snprintf(want, sizeof(want), "%s is empty; a new log is created only with --init-db",
			 t.db);
		assert_non_null(strstr(out, want));
		struct stat sb;
		assert_int_equal(stat(t.db, &sb), 0);
		assert_int_equal(sb.st_size, 0);
	}

	/* An empty database is no vigil log either: an SQLite file without a
	 * table, or the empty schema trelay_setup made. */
	if (!test_backend_pg()) {
		sqlite3 *db;
		unlink(t.db);
		assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=0; VACUUM", NULL, NULL, NULL),
				 SQLITE_OK);
		sqlite3_close(db);
	}
	assert_int_equal(run_vigild(start, out, sizeof(out)), 1);
	snprintf(want, sizeof(want), "%s is an empty %s, not a vigil log; a new log is "
		 "created only with --init-db", name, test_backend_pg() ? "schema" : "database");
	assert_non_null(strstr(out, want));
	if (test_backend_pg())
		assert_int_equal(db_int(&t, "SELECT count(*) FROM information_schema.tables WHERE "
					    "table_schema = current_schema()"), 0);

	/* --init-db creates it where there is nothing (or an empty file), and
	 * exits; the relay then serves it. */
	if (!test_backend_pg())
		unlink(t.db);
	assert_int_equal(run_vigild(init, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "created database"));
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, "se-stockholm-coord/SE-2026-0042");
	assert_int_equal(trelay_stop(&t), 0);

	/* --init-db never replaces a log. */
	assert_int_equal(run_vigild(init, out, sizeof(out)), 1);
	snprintf(want, sizeof(want), "%s already holds a database; --init-db never replaces one",
		 name);
	assert_non_null(strstr(out, want));
	assert_int_equal(db_int(&t, "SELECT count(*) FROM entries"), PKI_MEMBER_KEYS + 1);

	/* --init-db goes alone. */
	const char *both[] = { "vigild", "-c", t.conf, "--init-db", "--check-config", NULL };
	assert_int_equal(run_vigild(both, out, sizeof(out)), 2);
	trelay_cleanup(&t);
}

/* How many lines of the relay's log contain needle. */
static int log_count(struct trelay *t, const char *needle)
{
	size_t n;
	char *log = slurp(t->log, &n);
	int count = 0;
	for (char *p = log; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		count++;
	free(log);
	return count;
}

/*
 * A disk whose writes fail with an I/O error (here: a file size limit, so
 * write() fails with EFBIG): the relay stops accepting writes, says so once,
 * answers every later write UNAVAILABLE without touching the database,
 * keeps answering reads, and exits non-zero when stopped, so that a
 * supervisor notices.  On PostgreSQL the writer's session is ended by the
 * server after a few receipts (a lost connection, which the relay counts
 * as an I/O error) instead.
 */
/* PostgreSQL: the server ends the writer's session (a restart, a
 * failover, an administrator).  What was in flight is refused, never
 * receipted; the relay connects again by itself, says so once, takes its
 * lock back and goes on; every receipted record is there. */
static void session_ended(struct trelay *t)
{
	assert_int_equal(trelay_start(t), 0);
	struct tclient c;
	if (tclient_open(&c, t->port, "iom-ru-moscow") != 0)
		fail_msg("client: %s", c.err);
	const char *want = "storage failure: the connection to the database was lost";
	int stored = 0, refused = 0, after = 0;
	for (uint32_t i = 1; i <= 2000 && after < 5; i++) {
		if (stored == 3 && refused == 0 && after == 0)
			assert_int_equal(store_pg_end_writer(t), 1);
		struct contact_spec s;
		contact_spec_default(&s, "iom-ru-moscow", i);
		Vigil__V1__Frame *a = tclient_submit_contact(&c, &s);
		if (!a)
			fail_msg("submission %u: %s", i, c.err);
		if (a->msg_case == VIGIL__V1__FRAME__MSG_RECEIPT) {
			stored++;
			after += refused > 0;
			frame_free(a);
			continue;
		}
		assert_int_equal(after, 0); /* refused only while it reconnects */
		assert_error(a, VG_EUNAVAIL, want);
		refused++;
		usleep(20000);
	}
	assert_true(refused > 0);
	assert_int_equal(after, 5);
	tclient_close(&c);
	assert_int_equal(log_count(t, "writes failing (the connection to the database was lost)"),
			 1);
	assert_true(trelay_log_has(t, "connected again (session 1); the relay's lock is held again",
				   0));
	assert_true(trelay_log_has(t, "writes succeed again", 0));
	/* Nothing to report to a supervisor: it recovered. */
	assert_int_equal(trelay_stop(t), 0);
	assert_int_equal(db_int(t, "SELECT count(*) FROM entries"), PKI_MEMBER_KEYS + 1 + stored);
	trelay_cleanup(t);
}

static void test_storage_fails_cleanly(void **state)
{
	(void)state;
	struct trelay t;
	trelay_setup(&t, NULL, NULL);
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, "se-stockholm-coord/SE-2026-0042");
	assert_int_equal(trelay_stop(&t), 0);
	int pg = !sqlite_only("a file size limit (RLIMIT_FSIZE) on the database and its WAL; on "
			      "PostgreSQL the server ends the writer's session instead");
	if (pg) {
		session_ended(&t);
		return;
	}
	{
		/* Room for a few more commits, then none. */
		struct stat db, wal;
		char walpath[700];
		snprintf(walpath, sizeof(walpath), "%s-wal", t.db);
		assert_int_equal(stat(t.db, &db), 0);
		long biggest = db.st_size;
		if (stat(walpath, &wal) == 0 && wal.st_size > biggest)
			biggest = wal.st_size;
		t.fsize_limit = biggest + 64 * 1024;
	}
	assert_int_equal(trelay_start(&t), 0);

	struct tclient c;
	if (tclient_open(&c, t.port, "iom-ru-moscow") != 0)
		fail_msg("client: %s", c.err);
	const char *want = "storage failed (disk I/O error); the relay accepts no writes until "
			   "it is restarted";
	int stored = 0, refused = 0;
	for (uint32_t i = 1; i <= 2000 && refused < 5; i++) {
		if (pg && stored == 3 && refused == 0)
			assert_int_equal(store_pg_end_writer(&t), 1);
		struct contact_spec s;
		contact_spec_default(&s, "iom-ru-moscow", i);
		Vigil__V1__Frame *a = tclient_submit_contact(&c, &s);
		if (!a)
			fail_msg("submission %u: %s", i, c.err);
		if (a->msg_case == VIGIL__V1__FRAME__MSG_RECEIPT) {
			assert_int_equal(refused, 0); /* nothing is stored after the failure */
			stored++;
			frame_free(a);
			continue;
		}
		assert_error(a, VG_EUNAVAIL, want);
		refused++;
	}
	assert_true(stored > 0);
	assert_int_equal(refused, 5);
	/* Reads go on: the latest checkpoint still comes (from memory). */
	Vigil__V1__GetCheckpoint g = VIGIL__V1__GET_CHECKPOINT__INIT;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = 99;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_CHECKPOINT;
	f.get_checkpoint = &g;
	assert_int_equal(tclient_send_frame(&c, &f), 0);
	Vigil__V1__Frame *a = NULL;
	assert_int_equal(tclient_recv(&c, &a, 5000), 0);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CHECKPOINT);
	frame_free(a);
	tclient_close(&c);
	/* Said once, not once per refusal or per retry. */
	assert_true(trelay_log_has(&t, "storage failed (disk I/O error) while writing", 2000));
	assert_int_equal(log_count(&t, "storage failed (disk I/O error) while writing"), 1);
	/* A supervisor notices: the relay exits non-zero when stopped. */
	assert_int_equal(trelay_stop(&t), 1);
	assert_true(trelay_log_has(&t, "exiting with an error: storage failed during this run", 0));

	/* Every receipted record is there after a restart without the limit. */
	t.fsize_limit = 0;
	assert_int_equal(trelay_start(&t), 0);
	assert_int_equal(db_int(&t, "SELECT count(*) FROM entries"), PKI_MEMBER_KEYS + 1 + stored);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/* A CRL signed by the federation's CA whose validity runs from last to
 * next seconds from now. */
static void write_crl(const char *path, long last, long next)
{
	FILE *f = fopen(pki("ca.key"), "r");
	assert_non_null(f);
	EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	f = fopen(pki("ca.crt"), "r");
	assert_non_null(f);
	X509 *ca = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(key);
	assert_non_null(ca);
	X509_CRL *crl = X509_CRL_new();
	assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)), 1);
	ASN1_TIME *t = X509_gmtime_adj(NULL, last);
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	ASN1_TIME_free(t);
	t = X509_gmtime_adj(NULL, next);
	assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
	ASN1_TIME_free(t);
	assert_int_not_equal(X509_CRL_sign(crl, key, EVP_sha256()), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
	fclose(f);
	X509_CRL_free(crl);
	X509_free(ca);
	EVP_PKEY_free(key);
}

/* The relay's configuration with another CRL file. */
static void use_crl(struct trelay *t, const char *crl)
{
	size_t n;
	char *conf = slurp(t->conf, &n);
	const char *old = pki("crl.pem");
	char *at = strstr(conf, old);
	assert_non_null(at);
	FILE *f = fopen(t->conf, "w");
	assert_non_null(f);
	fprintf(f, "%.*s%s%s", (int)(at - conf), conf, crl, at + strlen(old));
	fclose(f);
	free(conf);
}

/* An expired CRL would make the relay refuse every peer: it is a start-up
 * error with its date; one that expires within a week is a warning. */
static void test_crl_expiry(void **state)
{
	(void)state;
	struct trelay t;
	char crl[700], out[4096], want[2048];
	trelay_setup(&t, NULL, NULL);
	snprintf(crl, sizeof(crl), "%s/crl-old.pem", t.dir);
	write_crl(crl, -2 * 86400, -86400);
	use_crl(&t, crl);
	const char *check[] = { "vigild", "-c", t.conf, "--check-config", NULL };
	assert_int_equal(run_vigild(check, out, sizeof(out)), 1);
	/* On the configuration's own line of the key (line 9 of the test's file). */
	snprintf(want, sizeof(want), "%s:9: [tls] crl: CRL %s expired on ", t.conf, crl);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, " (its next update); every peer would be refused: install a "
				    "fresh CRL"));
	assert_int_not_equal(trelay_start(&t), 0);
	assert_true(trelay_log_has(&t, want, 0));

	/* Three days left: served, with a warning in --check-config and the log. */
	write_crl(crl, -86400, 3 * 86400);
	assert_int_equal(run_vigild(check, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "CRL %s expires on ", crl);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "in less than 7 days: renew it before then"));
	assert_int_equal(trelay_start(&t), 0);
	assert_true(trelay_log_has(&t, want, 0));
	trelay_open_case(&t, "se-stockholm-coord/SE-2026-0042");
	assert_good_client_served(&t);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/* Two relays on one database would hand out the same index twice. */
static void test_database_locked(void **state)
{
	(void)state;
	struct trelay t, u;
	trelay_setup(&t, NULL, NULL);
	assert_int_equal(trelay_start(&t), 0);
	u = t;
	u.pid = 0;
	snprintf(u.log, sizeof(u.log), "%s/second.log", t.dir);
	snprintf(u.ready, sizeof(u.ready), "%s/ready2", t.dir);
	assert_int_not_equal(trelay_start(&u), 0);
	/* SQLite: the file's flock(); PostgreSQL: the schema's advisory lock. */
	char name[700], want[1024];
	store_name(&t, name, sizeof(name));
	if (test_backend_pg())
		snprintf(want, sizeof(want), "%s is in use by another relay (its advisory lock is "
			 "held)", name);
	else
		snprintf(want, sizeof(want), "%s is in use by another process", name);
	assert_true(trelay_log_has(&u, want, 0));
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/* --check-config with a file that names a key of the wrong kind: the
 * message names the file and the key's line (harness.c's layout: [tls]
 * key on line 7, [log] checkpoint_key on line 16), in the check and at
 * start-up.  what is the message's beginning (OpenSSL's reasons vary). */
static void expect_key_error(const char *from, const char *to, int line, const char *what)
{
	struct trelay t;
	char out[4096], want[2048];
	trelay_setup(&t, NULL, NULL);
	file_replace(t.conf, from, to);
	const char *args[] = { "vigild", "-c", t.conf, "--check-config", NULL };
	assert_int_equal(run_vigild(args, out, sizeof(out)), 1);
	snprintf(want, sizeof(want), "%s:%d: %s", t.conf, line, what);
	if (strncmp(out, want, strlen(want)) != 0 || !strchr(out, '\n') ||
	    strchr(out, '\n')[1] != '\0')
		fail_msg("\"%s\" is not one line starting \"%s\"", out, want);
	assert_int_not_equal(trelay_start(&t), 0);
	snprintf(want, sizeof(want), "%s:%d: %s", t.conf, line, what);
	assert_true(trelay_log_has(&t, want, 0));
	trelay_cleanup(&t);
}

static void test_check_config(void **state)
{
	(void)state;
	struct trelay t;
	char out[4096];
	trelay_setup(&t, NULL, NULL);
	const char *ok_args[] = { "vigild", "-c", t.conf, "--check-config", NULL };
	assert_int_equal(run_vigild(ok_args, out, sizeof(out)), 0);
	assert_string_equal(out, "configuration OK\n");
	trelay_cleanup(&t);

	trelay_setup(&t, "max_frame = lots", NULL);
	const char *bad_args[] = { "vigild", "-c", t.conf, "--check-config", NULL };
	assert_int_equal(run_vigild(bad_args, out, sizeof(out)), 1);
	char want[2048];
	snprintf(want, sizeof(want), "%s:4: ", t.conf);
	if (strncmp(out, want, strlen(want)) != 0 || !strstr(out, "max_frame"))
		fail_msg("unexpected: %s", out);
	trelay_cleanup(&t);

	char from[1024], to[1024], what[2048];
	snprintf(from, sizeof(from), "key = %s", pki("relay.key"));
	snprintf(to, sizeof(to), "key = %s", pki("se-shelter-1.key"));
	snprintf(what, sizeof(what), "[tls] key: cannot load key %s: ", pki("se-shelter-1.key"));
	expect_key_error(from, to, 7, what);
	snprintf(from, sizeof(from), "checkpoint_key = %s", pki("checkpoint.key"));
	snprintf(to, sizeof(to), "checkpoint_key = %s", pki("relay.key"));
	snprintf(what, sizeof(what), "[log] checkpoint_key: %s is not an Ed25519 private key (PEM)",
		 pki("relay.key"));
	expect_key_error(from, to, 16, what);

	/* Private keys others may read are refused on their key's line, at
	 * start-up and by --check-config; certs/mkpki.sh makes them 0600. */
	struct stat st;
	assert_int_equal(stat(pki("relay.key"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(pki("checkpoint.key"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	trelay_setup(&t, NULL, NULL);
	char copy[700], text[4096];
	snprintf(copy, sizeof(copy), "%s/relay.key", t.dir);
	FILE *in = fopen(pki("relay.key"), "r"), *out_f = fopen(copy, "w");
	assert_non_null(in);
	assert_non_null(out_f);
	size_t n = fread(text, 1, sizeof(text), in);
	assert_int_equal(fwrite(text, 1, n, out_f), n);
	fclose(in);
	fclose(out_f);
	assert_int_equal(chmod(copy, 0644), 0);
	snprintf(from, sizeof(from), "key = %s", pki("relay.key"));
	snprintf(to, sizeof(to), "key = %s", copy);
	file_replace(t.conf, from, to);
	const char *perm_args[] = { "vigild", "-c", t.conf, "--check-config", NULL };
	assert_int_equal(run_vigild(perm_args, out, sizeof(out)), 1);
	snprintf(want, sizeof(want),
		 "%s:7: [tls] key: \"%s\" is readable by group or others (mode 0644); chmod 600 it\n",
		 t.conf, copy);
	assert_string_equal(out, want);
	assert_int_not_equal(trelay_start(&t), 0);
	want[strlen(want) - 1] = '\0';
	assert_true(trelay_log_has(&t, want, 0));
	assert_int_equal(chmod(copy, 0600), 0);
	assert_int_equal(run_vigild(perm_args, out, sizeof(out)), 0);
	assert_string_equal(out, "configuration OK\n");
	trelay_cleanup(&t);

	const char *version[] = { "vigild", "--version", NULL };
	assert_int_equal(run_vigild(version, out, sizeof(out)), 0);
	assert_string_equal(out, "vigild " VIGIL_VERSION "\n");
	const char *bad_opt[] = { "vigild", "--frobnicate", NULL };
	assert_int_equal(run_vigild(bad_opt, out, sizeof(out)), 2);
}

int main(void)
{
	/* A relay closing on us must show up as an error, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest shared[] = {
		cmocka_unit_test(test_good_submission),
		cmocka_unit_test(test_handshake_refusals),
		cmocka_unit_test(test_plaintext_on_tls_port),
		cmocka_unit_test(test_record_refusals),
		cmocka_unit_test(test_author_not_peer),
		cmocka_unit_test(test_submit_shape),
		cmocka_unit_test(test_frame_errors_close),
		cmocka_unit_test(test_hello_rules),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_frames_after_idle),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_key_exchange_groups),
	};
	const struct CMUnitTest own[] = {
		cmocka_unit_test(test_kill9_keeps_receipted),
		cmocka_unit_test(test_sigterm_drains),
		cmocka_unit_test(test_sighup_reloads),
		cmocka_unit_test(test_connection_cap),
		cmocka_unit_test(test_handshake_pool),
		cmocka_unit_test(test_handshakes_per_address),
		cmocka_unit_test(test_authenticated_not_pushed_out),
		cmocka_unit_test(test_foreign_database),
		cmocka_unit_test(test_new_log_only_when_asked),
		cmocka_unit_test(test_crl_expiry),
		cmocka_unit_test(test_storage_fails_cleanly),
		cmocka_unit_test(test_database_locked),
		cmocka_unit_test(test_check_config),
	};
	int failed = cmocka_run_group_tests_name("relay (shared)", shared, group_setup, group_teardown);
	failed += cmocka_run_group_tests_name("relay (own instance)", own, NULL, NULL);
	return failed;
}
