/*
 * libvigil against the real relay (connect, welcome, submissions, pipelining,
 * duplicates, refusals, connection failures, receipts with checkpoints and
 * inclusion proofs, reading the log, offline verification) and against a
 * lying one: a fake relay inside this test, a blocking OpenSSL TLS 1.3
 * server in a thread with a Merkle tree of its own, that answers with
 * receipts, checkpoints and proofs which must not verify, and honestly too
 * so that the fake itself is shown to be right.
 *
 * SIGPIPE keeps its default disposition in this process: the library
 * promises to keep its own writes from raising it (the fake relay's thread
 * blocks it for its own writes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "vigil.h"

#include "casekit.h"
#include "harness.h"
#include "proto/merkle.h"
#include "proto/note.h"
#include "proto/status.h"

#define AT_MS 1795857300000LL   /* 2026-11-28T09:15:00Z, for the fake relay */
/* A time in the past for the real relay, which refuses client times later
 * than its own plus max_clock_skew. */
#define PAST_MS 1764321300000LL /* 2025-11-28T09:15:00Z */
#define CASE_RULE "OWNER/PSEUDONYM: the owner's organisation id, '/', and 3-64 " \
	"characters of [A-Za-z0-9-]"
#define RELAY_MAX_FRAME 65536   /* configured, so the welcome must carry it */
#define CLI_TIMEOUT_MS 30000
#define ORIGIN "vigil.test/log"  /* the harness's [log] origin */

static struct trelay R; /* the real relay, shared by every test */

/* ---- connecting ---------------------------------------------------------------- */

struct conn_files {
	char port[16];
	char cert[700];
	char key[700];
	char ca[700];
	char ckey[700];
};

static struct vigil_options options(struct conn_files *f, int port, const char *who,
				    const char *ca)
{
	snprintf(f->port, sizeof(f->port), "%d", port);
	snprintf(f->cert, sizeof(f->cert), "%s/%s.crt", PKI_DIR, who);
	snprintf(f->key, sizeof(f->key), "%s/%s.key", PKI_DIR, who);
	snprintf(f->ca, sizeof(f->ca), "%s/%s", PKI_DIR, ca);
	snprintf(f->ckey, sizeof(f->ckey), "%s/checkpoint.pub", PKI_DIR);
	struct vigil_options o = { .host = "127.0.0.1", .port = f->port, .cert_file = f->cert,
		.key_file = f->key, .ca_file = f->ca, .checkpoint_key = f->ckey };
	return o;
}

static vigil_client *connect_as(int port, const char *who)
{
	struct conn_files f;
	struct vigil_options o = options(&f, port, who, "ca.crt");
	struct vigil_error err;
	vigil_client *c = NULL;
	int rc = vigil_connect(&o, &c, &err);
	if (rc != VIGIL_OK)
		fail_msg("vigil_connect as %s: %d: %s", who, rc, err.message);
	assert_non_null(c);
	return c;
}

/* Connects as who with the encryption certificate and key of org (which
 * open the sealed text written to org). */
static vigil_client *connect_enc(int port, const char *who, const char *org)
{
	struct conn_files f;
	struct vigil_options o = options(&f, port, who, "ca.crt");
	char ec[700], ek[700];
	snprintf(ec, sizeof(ec), "%s/%s.enc.crt", PKI_DIR, org);
	snprintf(ek, sizeof(ek), "%s/%s.enc.key", PKI_DIR, org);
	o.enc_cert_file = ec;
	o.enc_key_file = ek;
	struct vigil_error err;
	vigil_client *c = NULL;
	int rc = vigil_connect(&o, &c, &err);
	if (rc != VIGIL_OK)
		fail_msg("vigil_connect as %s with %s's encryption key: %d: %s", who, org, rc,
			 err.message);
	return c;
}

/* Connects as who and expects status with message containing what. */
static void expect_connect_fails(const struct vigil_options *o, int status, const char *what)
{
	static char sentinel;
	struct vigil_error err;
	vigil_client *c = (vigil_client *)(void *)&sentinel; /* must be reset to NULL */
	int rc = vigil_connect(o, &c, &err);
	if (rc != status || err.status != status || !strstr(err.message, what))
		fail_msg("vigil_connect gave %d (%s), expected %d with \"%s\"", rc, err.message,
			 status, what);
	assert_null(c);
}

static void cert_sha256(const char *name, uint8_t out[SHA256_LEN])
{
	char path[700];
	snprintf(path, sizeof(path), "%s/%s", PKI_DIR, name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	unsigned int n = 0;
	assert_int_equal(X509_digest(x, EVP_sha256(), out, &n), 1);
	assert_int_equal(n, SHA256_LEN);
	X509_free(x);
}

/* ---- the database ------------------------------------------------------------------- */

static long long entries(void)
{
	return db_int(&R, "SELECT count(*) FROM entries");
}

/* 1 when entry idx has this record id, leaf hash and receive time. */
static int entry_matches(const struct vigil_receipt *r)
{
	char id[2 * VIGIL_RECORD_ID_LEN + 1], leaf[2 * VIGIL_HASH_LEN + 1], sql[512];
	vigil_hex_encode(r->record_id, VIGIL_RECORD_ID_LEN, id);
	vigil_hex_encode(r->leaf_hash, VIGIL_HASH_LEN, leaf);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM entries WHERE idx = %llu AND record_id = x'%s' "
		 "AND leaf_hash = x'%s' AND received_at_ms = %lld",
		 (unsigned long long)r->index, id, leaf, (long long)r->received_at_ms);
	return db_int(&R, sql) == 1;
}

static void expect_refused(int rc, const struct vigil_error *err, const char *code_name,
			   int code, const char *message)
{
	if (rc != VIGIL_E_REFUSED)
		fail_msg("expected a refusal %s, got %d (%s)", code_name, rc, err->message);
	assert_int_equal(err->status, VIGIL_E_REFUSED);
	assert_string_equal(err->relay_code_name, code_name);
	assert_int_equal(err->relay_code, code);
	assert_string_equal(err->message, message);
}

/* Expects rc to be status with exactly message. */
static void expect_status_msg(int rc, const struct vigil_error *err, int status,
			      const char *message)
{
	if (rc != status || err->status != status || strcmp(err->message, message) != 0)
		fail_msg("got %d (%s), expected %d \"%s\"", rc, err->message, status, message);
}

static struct vigil_contact contact(const char *case_id)
{
	struct vigil_contact ct;
	memset(&ct, 0, sizeof(ct));
	ct.case_id = case_id;
	ct.channel = "phone";
	ct.outcome = "no-answer";
	return ct;
}

/* ---- fixtures ---------------------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	char listen[64];
	snprintf(listen, sizeof(listen), "max_frame = %d", RELAY_MAX_FRAME);
	trelay_setup(&R, listen, NULL);
	if (trelay_start(&R) != 0)
		return -1;
	/* Contact attempts are only accepted for open cases. */
	trelay_open_case(&R, "se-stockholm-coord/SE-2026-0042");
	trelay_open_case(&R, "se-stockholm-coord/SE-2026-0100");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	int rc = trelay_stop(&R);
	trelay_cleanup(&R);
	if (rc != 0) {
		fprintf(stderr, "relay exit status %d\n", rc);
		return -1;
	}
	return 0;
}

/* ---- against the real relay ----------------------------------------------------------- */

/* The welcome says who the relay sees: our certificate's subject and hash. */
static void test_connect_welcome(void **state)
{
	(void)state;
	vigil_client *c = connect_as(R.port, "iom-ru-moscow");
	uint8_t ours[SHA256_LEN], relay[SHA256_LEN];
	cert_sha256("iom-ru-moscow.crt", ours);
	cert_sha256("relay.crt", relay);

	const struct vigil_welcome *w = vigil_client_welcome(c);
	assert_non_null(w);
	assert_int_equal(w->protocol_version, 1);
	assert_string_equal(w->peer.organisation, "iom-ru-moscow");
	assert_string_equal(w->peer.role, "iom");
	assert_string_equal(w->peer.country, "RU");
	assert_string_equal(w->peer.common_name, "IOM Moscow field office");
	assert_memory_equal(w->peer.cert_sha256, ours, SHA256_LEN);
	assert_string_equal(w->software, "vigild/" VIGIL_VERSION);
	assert_int_equal(w->max_frame, RELAY_MAX_FRAME);

	assert_string_equal(vigil_client_org(c), "iom-ru-moscow");
	const struct vigil_identity *self = vigil_client_identity(c);
	assert_string_equal(self->organisation, "iom-ru-moscow");
	assert_string_equal(self->role, "iom");
	assert_memory_equal(self->cert_sha256, ours, SHA256_LEN);
	const struct vigil_identity *rel = vigil_relay_identity(c);
	assert_string_equal(rel->organisation, "vigil-relay");
	assert_string_equal(rel->role, "relay");
	assert_string_equal(rel->country, "SE");
	assert_memory_equal(rel->cert_sha256, relay, SHA256_LEN);
	vigil_close(&c);
	assert_null(c);

	/* Another organisation, another role and country. */
	c = connect_as(R.port, "se-police-noa");
	w = vigil_client_welcome(c);
	assert_string_equal(w->peer.organisation, "se-police-noa");
	assert_string_equal(w->peer.role, "police");
	assert_string_equal(w->peer.country, "SE");
	vigil_close(&c);
	vigil_close(&c); /* NULL-safe */
}

/* vigil_submit_contact picks a random record id, and its verified receipt
 * names the row the relay stored. */
static void test_submit_contact(void **state)
{
	(void)state;
	vigil_client *c = connect_as(R.port, "iom-ru-moscow");
	long long before = entries();
	static const uint8_t zero[VIGIL_RECORD_ID_LEN];
	struct vigil_contact ct = contact("se-stockholm-coord/SE-2026-0042");
	ct.note = "left a voicemail";
	struct vigil_receipt r;
	struct vigil_error err;
	int rc = vigil_submit_contact(c, &ct, &r, &err);
	if (rc != VIGIL_OK)
		fail_msg("%d: %s", rc, err.message);
	assert_int_equal(ct.have_record_id, 0);
	assert_memory_not_equal(ct.record_id, zero, VIGIL_RECORD_ID_LEN);
	assert_memory_equal(r.record_id, ct.record_id, VIGIL_RECORD_ID_LEN);
	assert_int_equal(r.index, (uint64_t)before);
	assert_int_equal(r.duplicate, 0);
	assert_true(entry_matches(&r));
	assert_int_equal(entries(), before + 1);
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT author = 'iom-ru-moscow' AND case_id = 'se-stockholm-coord/SE-2026-0042' "
		 "FROM entries WHERE idx = %llu", (unsigned long long)r.index);
	assert_int_equal(db_int(&R, sql), 1);

	/* The same struct again: a new random id, a new entry. */
	uint8_t first[VIGIL_RECORD_ID_LEN];
	memcpy(first, ct.record_id, sizeof(first));
	struct vigil_receipt r2;
	assert_int_equal(vigil_submit_contact(c, &ct, &r2, &err), VIGIL_OK);
	assert_memory_not_equal(ct.record_id, first, VIGIL_RECORD_ID_LEN);
	assert_int_equal(r2.index, r.index + 1);
	assert_true(entry_matches(&r2));
	assert_int_equal(vigil_outstanding(c), 0);

	/* Nothing outstanding: nothing to receive. */
	uint64_t id = 99;
	assert_int_equal(vigil_recv_receipt(c, &id, &r2, &err), VIGIL_E_USAGE);
	assert_int_equal(id, 0);
	vigil_close(&c);
}

/* 500 submissions with up to 128 in flight: 500 distinct receipts, each for
 * the record of its request, all 500 rows in the database. */
static void test_pipelining(void **state)
{
	(void)state;
	enum { N = 500, WINDOW = 128 };
	vigil_client *c = connect_as(R.port, "iom-ru-moscow");
	long long before = entries();
	static uint8_t ids[N][VIGIL_RECORD_ID_LEN];
	static uint64_t req[N];
	static struct vigil_receipt got[N];
	static int answered[N];
	memset(answered, 0, sizeof(answered));
	struct vigil_error err;
	size_t sent = 0, received = 0, max_out = 0;
	while (received < N) {
		while (sent < N && vigil_outstanding(c) < WINDOW) {
			struct vigil_contact ct = contact("se-stockholm-coord/SE-2026-0100");
			ct.outcome = vigil_outcome_name((unsigned)(sent % 9));
			uint8_t *rec, *sig;
			size_t rec_len, sig_len;
			int rc = vigil_build_contact(c, &ct, &rec, &rec_len, &sig, &sig_len, &err);
			if (rc != VIGIL_OK)
				fail_msg("build %zu: %s", sent, err.message);
			memcpy(ids[sent], ct.record_id, VIGIL_RECORD_ID_LEN);
			rc = vigil_send_signed(c, rec, rec_len, sig, sig_len, &req[sent], &err);
			vigil_free(rec);
			vigil_free(sig);
			if (rc != VIGIL_OK)
				fail_msg("send %zu: %s", sent, err.message);
			sent++;
		}
		if (vigil_outstanding(c) > max_out)
			max_out = vigil_outstanding(c);
		uint64_t rid = 0;
		struct vigil_receipt r;
		int rc = vigil_recv_receipt(c, &rid, &r, &err);
		if (rc != VIGIL_OK)
			fail_msg("receipt %zu: %d: %s", received, rc, err.message);
		size_t i = 0;
		while (i < sent && req[i] != rid)
			i++;
		assert_true(i < sent);
		assert_int_equal(answered[i], 0);
		answered[i] = 1;
		assert_memory_equal(r.record_id, ids[i], VIGIL_RECORD_ID_LEN);
		assert_int_equal(r.duplicate, 0);
		got[i] = r;
		received++;
	}
	assert_int_equal(max_out, WINDOW);
	assert_int_equal(vigil_outstanding(c), 0);
	vigil_close(&c);

	static uint8_t index_seen[N];
	memset(index_seen, 0, sizeof(index_seen));
	for (size_t i = 0; i < N; i++) {
		assert_true(got[i].index >= (uint64_t)before && got[i].index < (uint64_t)before + N);
		size_t k = (size_t)(got[i].index - (uint64_t)before);
		assert_int_equal(index_seen[k], 0);
		index_seen[k] = 1;
	}
	assert_int_equal(entries(), before + N);
	for (size_t i = 0; i < N; i++)
		if (!entry_matches(&got[i]))
			fail_msg("receipt %zu (entry %llu) does not match the database", i,
				 (unsigned long long)got[i].index);
}

/* The same bytes again, the same record with a new signature, and the same
 * id and times through vigil_submit_contact: all the original receipt.  The
 * same id with another outcome is a conflict, and the connection lives on. */
static void test_duplicates(void **state)
{
	(void)state;
	vigil_client *c = connect_as(R.port, "iom-ru-moscow");
	long long before = entries();
	struct vigil_contact ct = contact("se-stockholm-coord/SE-2026-0042");
	ct.attempted_at_ms = PAST_MS;
	ct.client_time_ms = PAST_MS;
	struct vigil_error err;
	uint8_t *rec1, *sig1, *rec2, *sig2;
	size_t rec1_len, sig1_len, rec2_len, sig2_len;
	assert_int_equal(vigil_build_contact(c, &ct, &rec1, &rec1_len, &sig1, &sig1_len, &err),
			 VIGIL_OK);
	struct vigil_receipt r1, r;
	assert_int_equal(vigil_submit_signed(c, rec1, rec1_len, sig1, sig1_len, &r1, &err),
			 VIGIL_OK);
	assert_int_equal(r1.duplicate, 0);
	assert_true(entry_matches(&r1));

	/* Identical bytes, identical signature. */
	assert_int_equal(vigil_submit_signed(c, rec1, rec1_len, sig1, sig1_len, &r, &err),
			 VIGIL_OK);
	assert_int_equal(r.duplicate, 1);
	assert_int_equal(r.index, r1.index);
	assert_int_equal(r.received_at_ms, r1.received_at_ms);
	assert_memory_equal(r.leaf_hash, r1.leaf_hash, VIGIL_HASH_LEN);

	/* Built again from the same id and times: the same record bytes under
	 * a fresh ECDSA signature. */
	ct.have_record_id = 1;
	assert_int_equal(vigil_build_contact(c, &ct, &rec2, &rec2_len, &sig2, &sig2_len, &err),
			 VIGIL_OK);
	assert_int_equal(rec2_len, rec1_len);
	assert_memory_equal(rec2, rec1, rec1_len);
	assert_false(sig2_len == sig1_len && memcmp(sig2, sig1, sig1_len) == 0);
	int rc = vigil_submit_signed(c, rec2, rec2_len, sig2, sig2_len, &r, &err);
	if (rc != VIGIL_OK)
		fail_msg("%d: %s", rc, err.message);
	assert_int_equal(r.duplicate, 1);
	assert_int_equal(r.index, r1.index);
	assert_memory_equal(r.leaf_hash, r1.leaf_hash, VIGIL_HASH_LEN);
	assert_memory_equal(r.record_id, r1.record_id, VIGIL_RECORD_ID_LEN);

	assert_int_equal(vigil_submit_contact(c, &ct, &r, &err), VIGIL_OK);
	assert_int_equal(r.duplicate, 1);
	assert_int_equal(r.index, r1.index);
	assert_memory_equal(r.leaf_hash, r1.leaf_hash, VIGIL_HASH_LEN);
	assert_int_equal(entries(), before + 1);

	/* Same id, different outcome. */
	char want[128];
	snprintf(want, sizeof(want), "record_id was already used for a different record "
		 "(entry %llu)", (unsigned long long)r1.index);
	ct.outcome = "moved";
	rc = vigil_submit_contact(c, &ct, &r, &err);
	expect_refused(rc, &err, "CONFLICT", 5, want);
	assert_int_equal(entries(), before + 1);
	assert_int_equal(vigil_outstanding(c), 0);

	/* Refusals leave the connection usable. */
	struct vigil_contact fresh = contact("se-stockholm-coord/SE-2026-0042");
	assert_int_equal(vigil_submit_contact(c, &fresh, &r, &err), VIGIL_OK);
	assert_int_equal(r.duplicate, 0);
	assert_int_equal(entries(), before + 2);
	vigil_free(rec1);
	vigil_free(sig1);
	vigil_free(rec2);
	vigil_free(sig2);
	vigil_close(&c);
}

/* Records the relay refuses, sent raw through vigil_send_signed: each is
 * VIGIL_E_REFUSED with the relay's code and message; nothing is stored and
 * the connection keeps working. */
static void test_refusals(void **state)
{
	(void)state;
	vigil_client *c = connect_as(R.port, "iom-ru-moscow");
	long long before = entries();
	struct vigil_error err;
	struct vigil_receipt r;
	struct contact_spec s;
	uint8_t *rec, *sig;
	size_t rec_len, sig_len;

	/* Signed with another organisation's key. */
	contact_spec_default(&s, "iom-ru-moscow", 0);
	contact_build(&s, &rec, &rec_len);
	sign_with("se-shelter-1", rec, rec_len, &sig, &sig_len);
	expect_refused(vigil_submit_signed(c, rec, rec_len, sig, sig_len, &r, &err), &err,
		       "BAD_SIGNATURE", 2,
		       "signature does not verify with the key of this connection's certificate");
	free(rec);
	free(sig);

	/* Our key, someone else's name as author. */
	contact_spec_default(&s, "se-police-noa", 0);
	contact_build(&s, &rec, &rec_len);
	sign_with("iom-ru-moscow", rec, rec_len, &sig, &sig_len);
	expect_refused(vigil_submit_signed(c, rec, rec_len, sig, sig_len, &r, &err), &err,
		       "PERMISSION_DENIED", 3,
		       "author \"se-police-noa\" is not the organisation of this connection "
		       "(\"iom-ru-moscow\")");
	free(rec);
	free(sig);

	/* A note over the limit (vigil_build_contact would not build it). */
	static char note[514];
	memset(note, 'n', 513);
	note[513] = '\0';
	contact_spec_default(&s, "iom-ru-moscow", 0);
	s.note = note;
	contact_build(&s, &rec, &rec_len);
	sign_with("iom-ru-moscow", rec, rec_len, &sig, &sig_len);
	expect_refused(vigil_submit_signed(c, rec, rec_len, sig, sig_len, &r, &err), &err,
		       "TOO_LARGE", 6, "note is 513 bytes; the limit is 512");
	free(rec);
	free(sig);

	/* Not a record at all. */
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
	sign_with("iom-ru-moscow", junk, sizeof(junk), &sig, &sig_len);
	expect_refused(vigil_submit_signed(c, junk, sizeof(junk), sig, sig_len, &r, &err), &err,
		       "BAD_REQUEST", 1, "record does not decode as vigil.v1.Record");
	free(sig);
	assert_int_equal(entries(), before);

	/* The same note through the library is a usage error, found before
	 * anything is sent. */
	struct vigil_contact ct = contact("se-stockholm-coord/SE-2026-0042");
	ct.note = note;
	assert_int_equal(vigil_submit_contact(c, &ct, &r, &err), VIGIL_E_USAGE);
	assert_string_equal(err.message, "note is 513 bytes; the limit is 512");
	assert_int_equal(vigil_contact_check(&ct, &err), VIGIL_E_USAGE);
	ct.note = note + 1;
	assert_int_equal(vigil_contact_check(&ct, &err), VIGIL_OK);
	ct.note = NULL;
	ct.channel = "carrier-pigeon";
	assert_int_equal(vigil_contact_check(&ct, &err), VIGIL_E_USAGE);
	assert_non_null(strstr(err.message, "unknown channel \"carrier-pigeon\""));
	assert_int_equal(vigil_outstanding(c), 0);

	/* Still usable. */
	ct = contact("se-stockholm-coord/SE-2026-0042");
	assert_int_equal(vigil_submit_contact(c, &ct, &r, &err), VIGIL_OK);
	assert_true(entry_matches(&r));
	assert_int_equal(entries(), before + 1);
	vigil_close(&c);
}

/* Connections that must fail, each with its own status. */
static void test_connect_failures(void **state)
{
	(void)state;
	struct conn_files f;
	struct vigil_options o;
	long long before = entries();

	o = options(&f, R.port, "revoked", "ca.crt");
	expect_connect_fails(&o, VIGIL_E_TLS, "certificate revoked");
	o = options(&f, R.port, "expired", "ca.crt");
	expect_connect_fails(&o, VIGIL_E_TLS, "certificate expired");
	o = options(&f, R.port, "untrusted", "ca.crt");
	expect_connect_fails(&o, VIGIL_E_TLS, "unknown ca");
	/* We do not trust the relay. */
	o = options(&f, R.port, "iom-ru-moscow", "untrusted-ca.crt");
	expect_connect_fails(&o, VIGIL_E_TLS, "its certificate does not verify");

	int port = unused_port();
	o = options(&f, port, "iom-ru-moscow", "ca.crt");
	expect_connect_fails(&o, VIGIL_E_CONNECT, "Connection refused");

	/* A listener that never answers the TLS handshake: the timeout. */
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof(a);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
	o = options(&f, ntohs(a.sin_port), "iom-ru-moscow", "ca.crt");
	o.timeout_ms = 300;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	expect_connect_fails(&o, VIGIL_E_CONNECT, "timed out after 300 ms");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long took = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	if (took < 250 || took > 5000)
		fail_msg("a 300 ms timeout took %ld ms", took);
	close(lfd);

	/* Local file problems. */
	o = options(&f, R.port, "nobody", "ca.crt");
	expect_connect_fails(&o, VIGIL_E_IO, "No such file or directory");
	o = options(&f, R.port, "iom-ru-moscow", "ca.crt");
	snprintf(f.key, sizeof(f.key), "%s/se-shelter-1.key", PKI_DIR);
	expect_connect_fails(&o, VIGIL_E_IO, "key values mismatch");
	o = options(&f, R.port, "iom-ru-moscow", "ca.crt");
	o.ca_file = NULL;
	expect_connect_fails(&o, VIGIL_E_USAGE, "no CA file given");
	o = options(&f, R.port, "iom-ru-moscow", "ca.crt");
	o.timeout_ms = -1;
	expect_connect_fails(&o, VIGIL_E_USAGE, "timeout -1 ms is negative");

	/* The checkpoint key is required and checked before connecting. */
	o = options(&f, R.port, "iom-ru-moscow", "ca.crt");
	o.checkpoint_key = NULL;
	expect_connect_fails(&o, VIGIL_E_USAGE, "no checkpoint key: ");
	o.checkpoint_key = "";
	expect_connect_fails(&o, VIGIL_E_USAGE, "no checkpoint key: ");
	o.checkpoint_key = "vigil.test/log+00000000+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	expect_connect_fails(&o, VIGIL_E_USAGE, "is not a valid verifier key");
	snprintf(f.ckey, sizeof(f.ckey), "%s/iom-ru-moscow.pub", PKI_DIR);
	o.checkpoint_key = f.ckey;
	expect_connect_fails(&o, VIGIL_E_IO, "is not an Ed25519 key");
	snprintf(f.ckey, sizeof(f.ckey), "%s/nothing.pub", PKI_DIR);
	expect_connect_fails(&o, VIGIL_E_IO, "No such file or directory");

	assert_int_equal(entries(), before);
	if (!trelay_log_has(&R, "certificate revoked", 3000))
		fail_msg("relay log lacks the revoked certificate");
}

/* ---- checkpoints, proofs and the log ------------------------------------------------------- */

/* Expects rc to be VIGIL_E_USAGE with exactly message. */
static void expect_usage_msg(int rc, const struct vigil_error *err, const char *message)
{
	if (rc != VIGIL_E_USAGE || err->status != VIGIL_E_USAGE ||
	    strcmp(err->message, message) != 0)
		fail_msg("got %d (%s), expected VIGIL_E_USAGE \"%s\"", rc, err->message, message);
}

/* The case records through the library, against the real relay: opened,
 * offered, answered, assessed, withdrawn, closed, each receipt verified
 * and stored; the status as the responsible party and as police; the log
 * with its proofs; the list; the readers; the checks before anything is
 * sent. */
/* vigil_case_log pages under the hood: 250 entries (CaseOpen and 249
 * contacts) come whole, each proven; vigil_case_log_page gives one page
 * at a time with `more`; limit 1001 is a usage error. */
static void test_case_log_paging(void **state)
{
	(void)state;
	struct vigil_error err;
	const char *id = "se-stockholm-coord/PG-2026-1";
	static const char *const parties[] = { "iom-ru-moscow" };
	struct vigil_case_open o = { .case_id = id, .risk = "medium", .return_country = "RU",
		.return_date = "2026-10-01", .parties = parties, .n_parties = 1,
		.consent_scope = "share-with-iom", .consent_given_at_ms = PAST_MS };
	vigil_client *coord = connect_as(R.port, "se-stockholm-coord");
	vigil_client *iom = connect_as(R.port, "iom-ru-moscow");
	static struct vigil_receipt r;
	int rc = vigil_submit_case_open(coord, &o, &r, &err);
	if (rc != VIGIL_OK)
		fail_msg("case open: %d: %s", rc, err.message);
	for (int i = 0; i < 249; i++) {
		struct vigil_contact ct = contact(id);
		rc = vigil_submit_contact(iom, &ct, &r, &err);
		if (rc != VIGIL_OK)
			fail_msg("contact %d: %d: %s", i, rc, err.message);
	}
	struct vigil_case_log *log = NULL;
	rc = vigil_case_log(iom, id, &log, &err);
	if (rc != VIGIL_OK)
		fail_msg("log: %d: %s", rc, err.message);
	assert_int_equal(log->n, 250);
	assert_false(log->more);
	for (size_t i = 0; i < log->n; i++) {
		const struct vigil_case_log_entry *e = &log->entries[i];
		if (i)
			assert_true(e->entry.index > log->entries[i - 1].entry.index);
		/* Nothing was written while it paged: one checkpoint for all. */
		assert_int_equal(e->proof_size, log->checkpoint.size);
		assert_memory_equal(e->proof_root, log->checkpoint.root, VIGIL_HASH_LEN);
		struct vigil_inclusion_proof p;
		memset(&p, 0, sizeof(p));
		p.index = e->entry.index;
		p.tree_size = e->proof_size;
		memcpy(p.leaf_hash, e->entry.leaf_hash, SHA256_LEN);
		p.n = e->proof_len;
		memcpy(p.hashes, e->inclusion_proof, e->proof_len * SHA256_LEN);
		assert_int_equal(vigil_verify_inclusion(&p, e->proof_root, &err), VIGIL_OK);
	}
	/* One page at a time: 100, 100, 50, the same entries. */
	static const size_t sizes[] = { 100, 100, 50 };
	int has_after = 0;
	uint64_t after = 0;
	size_t seen = 0;
	for (int pg = 0; pg < 3; pg++) {
		struct vigil_case_log *page = NULL;
		rc = vigil_case_log_page(iom, id, has_after, after, 100, &page, &err);
		if (rc != VIGIL_OK)
			fail_msg("page %d: %d: %s", pg, rc, err.message);
		assert_int_equal(page->n, sizes[pg]);
		assert_int_equal(page->more, pg < 2);
		for (size_t i = 0; i < page->n; i++)
			assert_int_equal(page->entries[i].entry.index,
					 log->entries[seen + i].entry.index);
		seen += page->n;
		has_after = 1;
		after = page->entries[page->n - 1].entry.index;
		vigil_free(page);
	}
	assert_int_equal(seen, 250);
	vigil_free(log);
	static char sentinel;
	struct vigil_case_log *page = (struct vigil_case_log *)(void *)&sentinel;
	expect_usage_msg(vigil_case_log_page(iom, id, 0, 0, 1001, &page, &err), &err,
			 "vigil_case_log_page: limit must be at most 1000 (0: 100)");
	assert_null(page);
	vigil_close(&iom);
	vigil_close(&coord);
}

static void test_case_api(void **state)
{
	(void)state;
	struct vigil_error err;
	static const char *const parties[] = { "iom-ru-moscow", "se-police-noa" };
	struct vigil_case_open o = { .case_id = "se-stockholm-coord/LV-2026-7", .risk = "high", .minor = 1,
		.return_country = "RU", .return_date = "2026-10-01", .parties = parties,
		.n_parties = 2, .consent_scope = "share-with-iom",
		.consent_given_at_ms = PAST_MS };

	/* Checked before anything is built. */
	struct vigil_case_open bad = o;
	bad.risk = "medium";
	expect_usage_msg(vigil_case_open_check(&bad, &err), &err,
			 "a minor's risk level is never below high (not \"medium\")");
	bad = o;
	bad.override_justification = "threats";
	expect_usage_msg(vigil_case_open_check(&bad, &err), &err,
			 "give a consent scope or an override justification, not both");
	bad = o;
	bad.consent_scope = NULL;
	expect_usage_msg(vigil_case_open_check(&bad, &err), &err,
			 "no basis for sharing given: a consent scope, or an override with "
			 "reason risk_to_life and its justification");
	bad = o;
	bad.return_date = "2026-10-1";
	expect_usage_msg(vigil_case_open_check(&bad, &err), &err,
			 "return date \"2026-10-1\" is not a date YYYY-MM-DD (e.g. 2026-10-01)");
	bad = o;
	bad.consent_scope = NULL;
	bad.override_justification = "\xff\xfe";
	expect_usage_msg(vigil_case_open_check(&bad, &err), &err,
			 "invalid case open: override justification must be 1-280 bytes of "
			 "UTF-8");
	static const char *const dup[] = { "witness", "health", "witness" };
	struct vigil_risk badr = { .case_id = "se-stockholm-coord/LV-2026-7", .level = "high", .factors = dup,
		.n_factors = 3, .phase = "periodic" };
	expect_usage_msg(vigil_risk_check(&badr, &err), &err,
			 "risk factor \"witness\" is named twice");
	struct vigil_handover_answer bada = { .case_id = "se-stockholm-coord/LV-2026-7", .accept = 1,
		.decline_reason = "no" };
	expect_usage_msg(vigil_handover_answer_check(&bada, &err), &err,
			 "an acceptance carries no decline reason");
	bada.accept = 0;
	bada.decline_reason = NULL;
	expect_usage_msg(vigil_handover_answer_check(&bada, &err), &err,
			 "a decline needs a reason (1-280 bytes of UTF-8)");
	struct vigil_case_close badc = { .case_id = "LV 7", .reason = "transferred" };
	expect_usage_msg(vigil_case_close_check(&badc, &err), &err,
			 "case id \"LV 7\" is invalid: it must be " CASE_RULE);
	expect_usage_msg(vigil_case_close_check(NULL, &err), &err,
			 "vigil_case_close_check: the record is NULL");

	vigil_client *coord = connect_as(R.port, "se-stockholm-coord");
	vigil_client *iom = connect_as(R.port, "iom-ru-moscow");
	vigil_client *police = connect_as(R.port, "se-police-noa");
	long long before = entries();
	static struct vigil_receipt r;
	int rc = vigil_submit_case_open(coord, &o, &r, &err);
	if (rc != VIGIL_OK)
		fail_msg("case open: %d: %s", rc, err.message);
	assert_true(entry_matches(&r));
	assert_memory_equal(r.record_id, o.record_id, VIGIL_RECORD_ID_LEN);
	/* A usage error costs no submission. */
	expect_usage_msg(vigil_submit_case_open(coord, &bad, &r, &err), &err,
			 "invalid case open: override justification must be 1-280 bytes of "
			 "UTF-8");

	struct vigil_handover_offer off = { .case_id = "se-stockholm-coord/LV-2026-7", .to = "iom-ru-moscow",
		.reason = "return", .consent_ref = "consent-7" };
	/* Only the responsible organisation offers. */
	expect_refused(vigil_submit_handover_offer(iom, &off, &r, &err), &err,
		       "PERMISSION_DENIED", 3,
		       "only the responsible organisation (se-stockholm-coord) offers a handover");
	rc = vigil_submit_handover_offer(coord, &off, &r, &err);
	if (rc != VIGIL_OK)
		fail_msg("offer: %d: %s", rc, err.message);
	assert_true(entry_matches(&r));
	assert_memory_equal(r.record_id, off.record_id, VIGIL_RECORD_ID_LEN);

	struct vigil_case_status *st = NULL;
	rc = vigil_case_status(iom, "se-stockholm-coord/LV-2026-7", &st, &err);
	if (rc != VIGIL_OK)
		fail_msg("status: %d: %s", rc, err.message);
	assert_string_equal(st->case_id, "se-stockholm-coord/LV-2026-7");
	assert_string_equal(st->view, "full");
	assert_true(st->full);
	assert_string_equal(st->owner, "se-stockholm-coord");
	assert_string_equal(st->responsible, "se-stockholm-coord");
	assert_true(st->has_pending_offer);
	assert_string_equal(st->pending_offer_to, "iom-ru-moscow");
	assert_memory_equal(st->pending_offer_id, off.record_id, VIGIL_RECORD_ID_LEN);
	assert_int_equal(st->n_parties, 3);
	assert_string_equal(st->parties[0], "iom-ru-moscow");
	assert_string_equal(st->parties[1], "se-police-noa");
	assert_string_equal(st->parties[2], "se-stockholm-coord");
	assert_true(st->minor);
	assert_string_equal(st->consent_scope, "share-with-iom");
	assert_false(st->override);
	assert_int_equal(st->entries, 2);
	assert_true(st->opened_at_ms > 0);
	struct vigil_handover_answer ans = { .case_id = "se-stockholm-coord/LV-2026-7", .accept = 1 };
	memcpy(ans.offer_id, st->pending_offer_id, VIGIL_RECORD_ID_LEN);
	vigil_free(st);
	rc = vigil_submit_handover_answer(iom, &ans, &r, &err);
	if (rc != VIGIL_OK)
		fail_msg("accept: %d: %s", rc, err.message);
	assert_true(entry_matches(&r));

	static const char *const factors[] = { "re-trafficking", "homelessness" };
	struct vigil_risk ra = { .case_id = "se-stockholm-coord/LV-2026-7", .level = "high", .factors = factors,
		.n_factors = 2, .immediate_danger = 1, .phase = "event-triggered" };
	rc = vigil_submit_risk(police, &ra, &r, &err);
	if (rc != VIGIL_OK)
		fail_msg("risk: %d: %s", rc, err.message);
	ra.level = "low";
	expect_refused(vigil_submit_risk(police, &ra, &r, &err), &err, "BAD_REQUEST", 1,
		       "a minor's risk level is never below high");

	/* Police: the ten fields and nothing else, though the case has it all. */
	rc = vigil_case_status(police, "se-stockholm-coord/LV-2026-7", &st, &err);
	if (rc != VIGIL_OK)
		fail_msg("police status: %d: %s", rc, err.message);
	assert_string_equal(st->view, "police");
	assert_false(st->full);
	/* The owner stays the coordinator that opened it. */
	assert_string_equal(st->owner, "se-stockholm-coord");
	assert_string_equal(st->responsible, "iom-ru-moscow");
	assert_string_equal(st->risk, "high");
	assert_true(st->minor);
	assert_string_equal(st->last_attempt_channel, "");
	assert_int_equal(st->n_parties, 0);
	assert_int_equal(st->n_factors, 0);
	assert_false(st->immediate_danger);
	assert_int_equal(st->entries, 0);
	assert_string_equal(st->consent_scope, "");
	vigil_free(st);
	rc = vigil_case_status(iom, "se-stockholm-coord/LV-2026-7", &st, &err);
	assert_int_equal(rc, VIGIL_OK);
	assert_string_equal(st->view, "full");
	assert_string_equal(st->owner, "se-stockholm-coord");
	assert_string_equal(st->responsible, "iom-ru-moscow");
	assert_int_equal(st->n_factors, 2);
	assert_string_equal(st->factors[0], "re-trafficking");
	assert_string_equal(st->factors[1], "homelessness");
	assert_true(st->immediate_danger);
	vigil_free(st);

	/* The log: four entries, each proven, each decoded. */
	struct vigil_case_log *log = NULL;
	rc = vigil_case_log(iom, "se-stockholm-coord/LV-2026-7", &log, &err);
	if (rc != VIGIL_OK)
		fail_msg("log: %d: %s", rc, err.message);
	assert_int_equal(log->n, 4);
	static const char *const kinds[] = { "case-open", "handover-offer", "handover-answer",
					     "risk" };
	static struct vigil_record_info ri;
	for (size_t i = 0; i < log->n; i++) {
		const struct vigil_case_log_entry *e = &log->entries[i];
		assert_true(e->entry.index >= (uint64_t)before);
		struct vigil_inclusion_proof p;
		memset(&p, 0, sizeof(p));
		p.index = e->entry.index;
		p.tree_size = log->checkpoint.size;
		memcpy(p.leaf_hash, e->entry.leaf_hash, SHA256_LEN);
		p.n = e->proof_len;
		memcpy(p.hashes, e->inclusion_proof, e->proof_len * SHA256_LEN);
		assert_int_equal(vigil_verify_inclusion(&p, log->checkpoint.root, &err), VIGIL_OK);
		assert_int_equal(vigil_record_decode(e->entry.record, e->entry.record_len, &ri, &err),
				 VIGIL_OK);
		assert_string_equal(ri.kind, kinds[i]);
		assert_string_equal(ri.case_id, "se-stockholm-coord/LV-2026-7");
	}
	assert_int_equal(vigil_record_decode(log->entries[0].entry.record,
					     log->entries[0].entry.record_len, &ri, &err), VIGIL_OK);
	assert_string_equal(ri.author, "se-stockholm-coord");
	assert_string_equal(ri.risk, "high");
	assert_true(ri.minor);
	assert_int_equal(ri.n_parties, 2);
	assert_string_equal(ri.parties[1], "se-police-noa");
	assert_string_equal(ri.consent_scope, "share-with-iom");
	assert_int_equal(ri.consent_given_at_ms, PAST_MS);
	assert_false(ri.override);
	assert_int_equal(vigil_record_decode(log->entries[3].entry.record,
					     log->entries[3].entry.record_len, &ri, &err), VIGIL_OK);
	assert_string_equal(ri.author, "se-police-noa");
	assert_int_equal(ri.n_factors, 2);
	assert_string_equal(ri.factors[1], "homelessness");
	assert_string_equal(ri.phase, "event-triggered");
	assert_true(ri.immediate_danger);
	assert_string_equal(ri.close_reason, "");
	vigil_free(log);
	log = (struct vigil_case_log *)(void *)&err;
	expect_refused(vigil_case_log(police, "se-stockholm-coord/LV-2026-7", &log, &err), &err,
		       "PERMISSION_DENIED", 3,
		       "the case's records are for coordinator, iom, shelter and responsible "
		       "parties");
	assert_null(log);
	expect_usage_msg(vigil_record_decode((const uint8_t *)"junk", 4, &ri, &err), &err,
			 "not a valid record: record does not decode as vigil.v1.Record");
	/* An alert acknowledgement is named, though not decoded further. */
	{
		uint8_t rid[RECORD_ID_LEN], aid[RECORD_ID_LEN] = { 7 };
		Vigil__V1__Record ar;
		casekit_record(&ar, rid, "se-stockholm-coord/LV-2026-7", "se-stockholm-coord");
		Vigil__V1__AlertAck ack = VIGIL__V1__ALERT_ACK__INIT;
		ack.alert_id.data = aid;
		ack.alert_id.len = RECORD_ID_LEN;
		ack.decision = VIGIL__V1__ACK_DECISION__ACK_DECISION_POLICE_REPORT_FILED;
		ar.body_case = VIGIL__V1__RECORD__BODY_ALERT_ACK;
		ar.alert_ack = &ack;
		uint8_t buf[256];
		size_t len = vigil__v1__record__pack(&ar, buf);
		assert_int_equal(vigil_record_decode(buf, len, &ri, &err), VIGIL_OK);
		assert_string_equal(ri.kind, "alert-ack");
		assert_string_equal(ri.author, "se-stockholm-coord");
		assert_memory_equal(ri.record_id, rid, RECORD_ID_LEN);
	}

	/* The list, and the readers (the responsible organisation is no
	 * coordinator now and not the owner: only the owner lists them). */
	struct vigil_case_summary *list = NULL;
	size_t n = 0;
	assert_int_equal(vigil_cases(police, &list, &n, &err), VIGIL_OK);
	int found = 0;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i].case_id, "se-stockholm-coord/LV-2026-7")) {
			found++;
			assert_string_equal(list[i].responsible, "iom-ru-moscow");
			assert_string_equal(list[i].state, "active");
			assert_true(list[i].minor);
		}
	assert_int_equal(found, 1);
	vigil_free(list);
	struct vigil_case_read *reads = NULL;
	expect_refused(vigil_case_readers(iom, "se-stockholm-coord/LV-2026-7", &reads, &n, &err), &err,
		       "PERMISSION_DENIED", 3,
		       "only the owner (se-stockholm-coord) or the responsible coordinator lists "
		       "who read the case");
	assert_null(reads);
	expect_refused(vigil_case_readers(police, "se-stockholm-coord/LV-2026-7", &reads, &n, &err),
		       &err, "PERMISSION_DENIED", 3,
		       "only the owner (se-stockholm-coord) or the responsible coordinator lists "
		       "who read the case");
	assert_null(reads);
	rc = vigil_case_readers(coord, "se-stockholm-coord/LV-2026-7", &reads, &n, &err);
	if (rc != VIGIL_OK)
		fail_msg("owner's readers: %d: %s", rc, err.message);
	/* Every read and refused read of the case before this listing. */
	static const char *const read_log[][2] = {
		{ "iom-ru-moscow", "status" }, { "se-police-noa", "status" },
		{ "iom-ru-moscow", "status" }, { "iom-ru-moscow", "log" },
		{ "se-police-noa", "log-refused" }, { "iom-ru-moscow", "readers-refused" },
		{ "se-police-noa", "readers-refused" },
	};
	assert_int_equal(n, sizeof(read_log) / sizeof(read_log[0]));
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(reads[i].organisation, read_log[i][0]);
		assert_string_equal(reads[i].what, read_log[i][1]);
		assert_true(reads[i].at_ms > 0);
	}
	vigil_free(reads);
	expect_refused(vigil_case_status(coord, "se-stockholm-coord/LV-2026-8", &st, &err), &err, "NOT_FOUND", 4,
		       "case se-stockholm-coord/LV-2026-8 not found");
	expect_usage_msg(vigil_case_status(coord, "LV 8", &st, &err), &err,
			 "case id \"LV 8\" is invalid: it must be " CASE_RULE);

	/* A second case the coordinator keeps: an offer withdrawn, one
	 * declined, the readers listed, then closed. */
	struct vigil_case_open o2 = { .case_id = "se-stockholm-coord/LV-2026-8", .risk = "low",
		.return_country = "MD", .return_date = "2026-07-01", .parties = parties,
		.n_parties = 1, .override_justification = "cannot be asked safely" };
	rc = vigil_submit_case_open(coord, &o2, &r, &err);
	if (rc != VIGIL_OK)
		fail_msg("second case open: %d: %s", rc, err.message);
	struct vigil_handover_offer off2 = { .case_id = "se-stockholm-coord/LV-2026-8", .to = "iom-ru-moscow",
		.reason = "other", .override_justification = "risk on return" };
	assert_int_equal(vigil_submit_handover_offer(coord, &off2, &r, &err), VIGIL_OK);
	struct vigil_handover_withdraw w = { .case_id = "se-stockholm-coord/LV-2026-8" };
	memcpy(w.offer_id, off2.record_id, VIGIL_RECORD_ID_LEN);
	assert_int_equal(vigil_submit_handover_withdraw(coord, &w, &r, &err), VIGIL_OK);
	assert_true(entry_matches(&r));
	expect_refused(vigil_submit_handover_withdraw(coord, &w, &r, &err), &err, "BAD_REQUEST",
		       1, "that offer is not pending (withdrawn, answered or unknown)");
	assert_int_equal(vigil_submit_handover_offer(coord, &off2, &r, &err), VIGIL_OK);
	struct vigil_handover_answer dec = { .case_id = "se-stockholm-coord/LV-2026-8", .accept = 0,
		.decline_reason = "no office there" };
	memcpy(dec.offer_id, off2.record_id, VIGIL_RECORD_ID_LEN);
	assert_int_equal(vigil_submit_handover_answer(iom, &dec, &r, &err), VIGIL_OK);
	assert_int_equal(vigil_case_status(iom, "se-stockholm-coord/LV-2026-8", &st, &err), VIGIL_OK);
	assert_string_equal(st->responsible, "se-stockholm-coord");
	assert_false(st->has_pending_offer);
	assert_true(st->override);
	assert_string_equal(st->consent_scope, "");
	vigil_free(st);
	assert_int_equal(vigil_case_readers(coord, "se-stockholm-coord/LV-2026-8", &reads, &n, &err), VIGIL_OK);
	/* The coordinator's refused status query (before the case existed)
	 * is recorded as such; then the questions whom to seal each offer's
	 * justification and the decline reason to (the case open seals to its
	 * own readers and asks nothing about a case that does not exist yet);
	 * then IOM's read.  This listing is recorded after it is read, so it
	 * does not show itself. */
	static const char *const read_log2[][2] = {
		{ "se-stockholm-coord", "status-refused" },
		{ "se-stockholm-coord", "seal-readers" },
		{ "se-stockholm-coord", "seal-readers" },
		{ "iom-ru-moscow", "seal-readers" },
		{ "iom-ru-moscow", "status" },
	};
	assert_int_equal(n, sizeof(read_log2) / sizeof(read_log2[0]));
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(reads[i].organisation, read_log2[i][0]);
		assert_string_equal(reads[i].what, read_log2[i][1]);
		assert_true(reads[i].at_ms > 0);
	}
	vigil_free(reads);
	struct vigil_case_close cl = { .case_id = "se-stockholm-coord/LV-2026-8", .reason = "lost-contact" };
	expect_refused(vigil_submit_case_close(iom, &cl, &r, &err), &err, "PERMISSION_DENIED", 3,
		       "only the owner (se-stockholm-coord) or the responsible coordinator closes "
		       "the case");
	assert_int_equal(vigil_submit_case_close(coord, &cl, NULL, &err), VIGIL_OK);
	assert_int_equal(vigil_case_status(coord, "se-stockholm-coord/LV-2026-8", &st, &err), VIGIL_OK);
	assert_string_equal(st->view, "full");
	assert_string_equal(st->owner, "se-stockholm-coord");
	assert_string_equal(st->state, "closed");
	assert_string_equal(st->close_reason, "lost-contact");
	vigil_free(st);
	/* Nothing more on a closed case; its owner reopens it. */
	struct vigil_risk ra8 = { .case_id = "se-stockholm-coord/LV-2026-8", .level = "low",
		.factors = factors, .n_factors = 1, .phase = "periodic" };
	expect_refused(vigil_submit_risk(coord, &ra8, &r, &err), &err, "BAD_REQUEST", 1,
		       "case se-stockholm-coord/LV-2026-8 is closed; its owner reopens it with a "
		       "case open");
	assert_int_equal(entries(), before + 10);

	/* Only the organisation named before the '/' creates a case under an
	 * id: another coordinator is refused, existing case or not. */
	vigil_client *other = connect_as(R.port, "other-coord");
	struct vigil_case_open o3 = o2;
	o3.override_justification = NULL;
	o3.consent_scope = "share-with-parties";
	o3.consent_given_at_ms = PAST_MS;
	o3.case_id = "se-stockholm-coord/LV-2026-9";
	expect_refused(vigil_submit_case_open(other, &o3, &r, &err), &err, "PERMISSION_DENIED", 3,
		       "a new case's id begins with your organisation id: se-goteborg-coord/...");
	o3.case_id = "se-stockholm-coord/LV-2026-8";
	expect_refused(vigil_submit_case_open(other, &o3, &r, &err), &err, "PERMISSION_DENIED", 3,
		       "a new case's id begins with your organisation id: se-goteborg-coord/...");
	/* Under its own id it may. */
	o3.case_id = "se-goteborg-coord/LV-2026-9";
	rc = vigil_submit_case_open(other, &o3, &r, &err);
	if (rc != VIGIL_OK)
		fail_msg("other coordinator's own case: %d: %s", rc, err.message);
	assert_int_equal(vigil_case_status(other, "se-goteborg-coord/LV-2026-9", &st, &err),
			 VIGIL_OK);
	assert_string_equal(st->owner, "se-goteborg-coord");
	assert_string_equal(st->responsible, "se-goteborg-coord");
	vigil_free(st);
	/* An unknown organisation is no party. */
	static const char *const stranger[] = { "no-such-org" };
	o3.case_id = "se-goteborg-coord/LV-2026-10";
	o3.parties = stranger;
	o3.n_parties = 1;
	expect_refused(vigil_submit_case_open(other, &o3, &r, &err), &err, "NOT_FOUND", 4,
		       "unknown organisation no-such-org");
	vigil_close(&other);
	assert_int_equal(entries(), before + 11);
	vigil_close(&coord);
	vigil_close(&iom);
	vigil_close(&police);
}

static int64_t now_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A fresh Ed25519 key, known to nobody but this test. */
static EVP_PKEY *new_ed25519(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(k);
	return k;
}

static EVP_PKEY *read_public_key(const char *name)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/%s", PKI_DIR, name);
	FILE *kf = fopen(path, "r");
	assert_non_null(kf);
	EVP_PKEY *k = PEM_read_PUBKEY(kf, NULL, NULL, NULL);
	fclose(kf);
	assert_non_null(k);
	return k;
}

/* The verifier key string "name+id+key" of PKI_DIR/checkpoint.pub. */
static void checkpoint_vkey(const char *name, char *out, size_t n)
{
	EVP_PKEY *k = read_public_key("checkpoint.pub");
	struct note_verifier v;
	assert_int_equal(note_verifier_from_key(k, name, &v), VG_OK);
	assert_int_equal(note_verifier_format(&v, out, n), VG_OK);
	EVP_PKEY_free(k);
}

static void load_key(const char *key_or_file, struct vigil_checkpoint_key *k)
{
	struct vigil_error err;
	if (vigil_checkpoint_key_load(key_or_file, k, &err) != VIGIL_OK)
		fail_msg("checkpoint key %s: %s", key_or_file, err.message);
}

/* Writes key's public half as PEM to a file in the relay's directory. */
static const char *write_public_key(EVP_PKEY *key, const char *name)
{
	static char path[700];
	snprintf(path, sizeof(path), "%s/%s", R.dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PUBKEY(f, key), 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* The key as a verifier string, a PEM public key file or the private key
 * file: the same key; what is not an Ed25519 key is refused. */
static void test_checkpoint_key_load(void **state)
{
	(void)state;
	struct vigil_checkpoint_key pub, priv, vk;
	load_key(pki("checkpoint.pub"), &pub);
	assert_string_equal(pub.name, "");
	load_key(pki("checkpoint.key"), &priv);
	assert_string_equal(priv.name, "");
	assert_memory_equal(priv.public_key, pub.public_key, 32);
	char vkey[512];
	checkpoint_vkey(ORIGIN, vkey, sizeof(vkey));
	load_key(vkey, &vk);
	assert_string_equal(vk.name, ORIGIN);
	assert_memory_equal(vk.public_key, pub.public_key, 32);

	struct vigil_error err;
	struct vigil_checkpoint_key k;
	assert_int_equal(vigil_checkpoint_key_load(pki("ca.crt"), &k, &err), VIGIL_E_IO);
	assert_non_null(strstr(err.message, "holds no PEM public or (unencrypted) private key"));
	assert_int_equal(vigil_checkpoint_key_load(pki("iom-ru-moscow.key"), &k, &err), VIGIL_E_IO);
	assert_non_null(strstr(err.message, "is not an Ed25519 key"));
	assert_int_equal(vigil_checkpoint_key_load(NULL, &k, &err), VIGIL_E_USAGE);
	assert_non_null(strstr(err.message, "no checkpoint key"));
	/* The key id must be the key's: one digit off is refused. */
	char *plus = strchr(vkey, '+');
	plus[1] = plus[1] == '0' ? '1' : '0';
	assert_int_equal(vigil_checkpoint_key_load(vkey, &k, &err), VIGIL_E_USAGE);
	assert_non_null(strstr(err.message, "is not a valid verifier key"));
}

/* Expects rc to be VIGIL_E_VERIFY with what in the message. */
static void expect_verify(int rc, const struct vigil_error *err, const char *what)
{
	if (rc != VIGIL_E_VERIFY || err->status != VIGIL_E_VERIFY || !strstr(err->message, what))
		fail_msg("got %d (%s), expected VIGIL_E_VERIFY with \"%s\"", rc, err->message, what);
}

/* A receipt carries a checkpoint the relay stored, which covers the entry,
 * and a proof that verifies; vigil_receipt_verify checks it all again
 * offline and finds every single change. */
static void test_receipt_verifies(void **state)
{
	(void)state;
	vigil_client *c = connect_as(R.port, "iom-ru-moscow");
	struct vigil_checkpoint_key pub;
	load_key(pki("checkpoint.pub"), &pub);
	assert_memory_equal(vigil_client_checkpoint_key(c)->public_key, pub.public_key, 32);
	struct vigil_contact ct = contact("se-stockholm-coord/SE-2026-0042");
	struct vigil_error err;
	uint8_t *rec, *sig;
	size_t rec_len, sig_len;
	assert_int_equal(vigil_build_contact(c, &ct, &rec, &rec_len, &sig, &sig_len, &err),
			 VIGIL_OK);
	static struct vigil_receipt r, t;
	int rc = vigil_submit_signed(c, rec, rec_len, sig, sig_len, &r, &err);
	if (rc != VIGIL_OK)
		fail_msg("%d: %s", rc, err.message);
	assert_true(entry_matches(&r));
	assert_true(r.index > 0); /* earlier tests stored entries: the proof is not empty */

	/* The checkpoint is one the relay stored, and covers the entry. */
	const struct vigil_checkpoint *cp = &r.checkpoint;
	assert_string_equal(cp->origin, ORIGIN);
	assert_true(cp->size > r.index);
	assert_int_equal(cp->note_len, strlen(cp->note));
	assert_null(strchr(cp->note, '\''));
	char root[2 * SHA256_LEN + 1], sql[8192];
	vigil_hex_encode(cp->root, SHA256_LEN, root);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM checkpoints WHERE note = '%s' AND size = "
		 "%llu AND root = x'%s' AND signed_at_ms = %lld", cp->note,
		 (unsigned long long)cp->size, root, (long long)cp->signed_at_ms);
	assert_int_equal(db_int(&R, sql), 1);
	assert_true(llabs(cp->signed_at_ms - now_wall_ms()) < 60000);
	assert_true(r.proof_len > 0);
	assert_int_equal(merkle_verify_inclusion(r.index, cp->size, r.leaf_hash,
						 (const merkle_hash *)r.inclusion_proof,
						 r.proof_len, cp->root), VG_OK);
	/* The entry's signature and certificate are ours. */
	uint8_t ours[SHA256_LEN];
	cert_sha256("iom-ru-moscow.crt", ours);
	assert_memory_equal(r.cert_sha256, ours, SHA256_LEN);
	assert_int_equal(r.signature_len, sig_len);
	assert_memory_equal(r.signature, sig, sig_len);

	/* Offline, with the public key, the private key, or a verifier key. */
	char vkey[512];
	checkpoint_vkey(ORIGIN, vkey, sizeof(vkey));
	const char *keys[] = { pki("checkpoint.pub"), pki("checkpoint.key"), vkey };
	for (size_t i = 0; i < 3; i++) {
		struct vigil_checkpoint_key k;
		load_key(keys[i], &k);
		t = r;
		t.checkpoint.size = 0; /* recomputed from the note */
		memset(t.checkpoint.root, 0, SHA256_LEN);
		rc = vigil_receipt_verify(&k, &t, rec, rec_len, &err);
		if (rc != VIGIL_OK)
			fail_msg("key %zu: %s", i, err.message);
		assert_int_equal(t.checkpoint.size, cp->size);
		assert_memory_equal(t.checkpoint.root, cp->root, SHA256_LEN);
	}

	/* Every part counts. */
	t = r;
	t.inclusion_proof[0][3] ^= 0x10;
	expect_verify(vigil_receipt_verify(&pub, &t, rec, rec_len, &err), &err,
		      "the inclusion proof");
	t = r;
	t.proof_len--;
	expect_verify(vigil_receipt_verify(&pub, &t, rec, rec_len, &err), &err,
		      "the inclusion proof");
	t = r;
	t.index = cp->size;
	expect_verify(vigil_receipt_verify(&pub, &t, rec, rec_len, &err), &err,
		      "is not below the checkpoint's size");
	t = r;
	char *line3 = strchr(strchr(t.checkpoint.note, '\n') + 1, '\n') + 1;
	*line3 = *line3 == 'A' ? 'B' : 'A';
	expect_verify(vigil_receipt_verify(&pub, &t, rec, rec_len, &err), &err,
		      "the checkpoint signature does not verify");
	t = r;
	t.received_at_ms++;
	expect_verify(vigil_receipt_verify(&pub, &t, rec, rec_len, &err), &err, "has leaf hash");
	t = r;
	t.signature[t.signature_len / 2] ^= 0x01;
	expect_verify(vigil_receipt_verify(&pub, &t, rec, rec_len, &err), &err, "has leaf hash");
	t = r;
	t.cert_sha256[0] ^= 0x01;
	expect_verify(vigil_receipt_verify(&pub, &t, rec, rec_len, &err), &err, "has leaf hash");
	t = r;
	t.record_id[0] ^= 0x01;
	expect_verify(vigil_receipt_verify(&pub, &t, rec, rec_len, &err), &err, "names record");
	t = r;
	rec[rec_len - 1] ^= 0x01;
	expect_verify(vigil_receipt_verify(&pub, &t, rec, rec_len, &err), &err, "has leaf hash");
	rec[rec_len - 1] ^= 0x01;
	assert_int_equal(vigil_receipt_verify(&pub, &t, rec, rec_len, &err), VIGIL_OK);

	/* Another Ed25519 key, or the right key under another name. */
	EVP_PKEY *other = new_ed25519();
	struct vigil_checkpoint_key k;
	load_key(write_public_key(other, "other-checkpoint.pub"), &k);
	EVP_PKEY_free(other);
	t = r;
	expect_verify(vigil_receipt_verify(&k, &t, rec, rec_len, &err), &err,
		      "the checkpoint signature does not verify");
	checkpoint_vkey("other.test/log", vkey, sizeof(vkey));
	load_key(vkey, &k);
	t = r;
	expect_verify(vigil_receipt_verify(&k, &t, rec, rec_len, &err), &err,
		      "the checkpoint signature does not verify");

	/* A duplicate (new signature, same bytes): the receipt holds the
	 * stored signature, and verifies offline with it. */
	uint8_t *sig2;
	size_t sig2_len;
	sign_with("iom-ru-moscow", rec, rec_len, &sig2, &sig2_len);
	assert_false(sig2_len == sig_len && memcmp(sig2, sig, sig_len) == 0);
	rc = vigil_submit_signed(c, rec, rec_len, sig2, sig2_len, &t, &err);
	if (rc != VIGIL_OK)
		fail_msg("duplicate: %d: %s", rc, err.message);
	assert_int_equal(t.duplicate, 1);
	assert_int_equal(t.index, r.index);
	assert_int_equal(t.signature_len, sig_len);
	assert_memory_equal(t.signature, sig, sig_len);
	assert_true(t.checkpoint.size >= cp->size);
	struct vigil_receipt *d = malloc(sizeof(*d));
	assert_non_null(d);
	*d = t;
	assert_int_equal(vigil_receipt_verify(&pub, d, rec, rec_len, &err), VIGIL_OK);
	free(d);
	free(sig2);
	vigil_free(rec);
	vigil_free(sig);
	vigil_close(&c);
}

/* The root of the first size leaf hashes in hashes, by proto/merkle. */
static void frontier_root(const uint8_t *hashes, uint64_t size, uint8_t root[SHA256_LEN])
{
	struct merkle_frontier f;
	merkle_frontier_init(&f);
	for (uint64_t i = 0; i < size; i++)
		assert_int_equal(merkle_frontier_append(&f, hashes + i * SHA256_LEN, NULL, NULL),
				 VG_OK);
	merkle_frontier_root(&f, root);
}

/* Checkpoint, leaf hashes, proofs and entries as the relay's database has
 * them, each verified by the library and checked here again. */
static void test_log_queries(void **state)
{
	(void)state;
	vigil_client *c = connect_as(R.port, "iom-ru-moscow");
	struct vigil_error err;
	struct vigil_receipt r;
	for (int i = 0; i < 3; i++) {
		struct vigil_contact ct = contact("se-stockholm-coord/SE-2026-0042");
		assert_int_equal(vigil_submit_contact(c, &ct, &r, &err), VIGIL_OK);
	}
	static struct vigil_checkpoint cp;
	int rc = vigil_get_checkpoint(c, &cp, &err);
	if (rc != VIGIL_OK)
		fail_msg("%d: %s", rc, err.message);
	assert_string_equal(cp.origin, ORIGIN);
	assert_int_equal(cp.size, (uint64_t)entries());
	assert_true(cp.size > 8 && cp.size <= VIGIL_LEAF_HASHES_MAX);
	char root[2 * SHA256_LEN + 1], sql[8192];
	vigil_hex_encode(cp.root, SHA256_LEN, root);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM checkpoints WHERE note = '%s' AND size = "
		 "%llu AND root = x'%s'", cp.note, (unsigned long long)cp.size, root);
	assert_int_equal(db_int(&R, sql), 1);

	/* Leaf hashes: those of the database; they make the checkpoint's root. */
	uint8_t *lh = malloc(cp.size * SHA256_LEN);
	assert_non_null(lh);
	rc = vigil_get_leaf_hashes(c, 0, (uint32_t)cp.size, lh, &err);
	if (rc != VIGIL_OK)
		fail_msg("%d: %s", rc, err.message);
	for (uint64_t i = 0; i < cp.size; i++) {
		uint8_t *b;
		size_t n;
		snprintf(sql, sizeof(sql), "SELECT leaf_hash FROM entries WHERE idx = %llu",
			 (unsigned long long)i);
		assert_int_equal(db_blob(&R, sql, &b, &n), 0);
		assert_int_equal(n, SHA256_LEN);
		assert_memory_equal(lh + i * SHA256_LEN, b, SHA256_LEN);
		free(b);
	}
	vigil_tree *t;
	assert_int_equal(vigil_tree_new(&t), VIGIL_OK);
	uint8_t tr[SHA256_LEN], empty[SHA256_LEN];
	vigil_tree_root(t, tr);
	frontier_root(lh, 0, empty);
	assert_memory_equal(tr, empty, SHA256_LEN);
	for (uint64_t i = 0; i < cp.size; i++)
		vigil_tree_append(t, lh + i * SHA256_LEN);
	assert_int_equal(vigil_tree_size(t), cp.size);
	vigil_tree_root(t, tr);
	assert_memory_equal(tr, cp.root, SHA256_LEN);
	vigil_tree_free(&t);
	assert_null(t);
	assert_int_equal(vigil_get_leaf_hashes(c, 0, 0, lh, &err), VIGIL_E_USAGE);
	assert_int_equal(vigil_get_leaf_hashes(c, 0, VIGIL_LEAF_HASHES_MAX + 1, lh, &err),
			 VIGIL_E_USAGE);
	rc = vigil_get_leaf_hashes(c, cp.size, 1, lh, &err);
	assert_int_equal(rc, VIGIL_E_REFUSED);
	assert_string_equal(err.relay_code_name, "BAD_REQUEST");

	/* Inclusion at the checkpoint's size: leads to its root. */
	static struct vigil_inclusion_proof ip;
	uint64_t last = cp.size - 1;
	rc = vigil_get_inclusion_proof(c, last, 0, &cp, &ip, &err);
	if (rc != VIGIL_OK)
		fail_msg("%d: %s", rc, err.message);
	assert_int_equal(ip.index, last);
	assert_int_equal(ip.tree_size, cp.size);
	assert_int_equal(ip.checkpoint_size, cp.size);
	assert_int_equal(ip.n_consistency, 0);
	assert_memory_equal(ip.leaf_hash, lh + last * SHA256_LEN, SHA256_LEN);
	assert_memory_equal(ip.root, cp.root, SHA256_LEN);
	assert_int_equal(vigil_verify_inclusion(&ip, cp.root, &err), VIGIL_OK);
	ip.hashes[0][0] ^= 0x01;
	expect_verify(vigil_verify_inclusion(&ip, cp.root, &err), &err, "the inclusion proof");

	/* At a smaller size: the root of that prefix, by consistency. */
	uint64_t m = cp.size / 2 + 1;
	rc = vigil_get_inclusion_proof(c, 1, m, &cp, &ip, &err);
	if (rc != VIGIL_OK)
		fail_msg("%d: %s", rc, err.message);
	uint8_t want[SHA256_LEN];
	frontier_root(lh, m, want);
	assert_memory_equal(ip.root, want, SHA256_LEN);
	assert_int_equal(ip.tree_size, m);
	assert_int_equal(ip.checkpoint_size, cp.size);
	assert_true(ip.n_consistency > 0);
	assert_memory_equal(ip.leaf_hash, lh + SHA256_LEN, SHA256_LEN);
	/* Unverified (no checkpoint): the same nodes and root, no consistency. */
	static struct vigil_inclusion_proof raw;
	assert_int_equal(vigil_get_inclusion_proof(c, 1, m, NULL, &raw, &err), VIGIL_OK);
	assert_int_equal(raw.n, ip.n);
	assert_memory_equal(raw.hashes, ip.hashes, ip.n * SHA256_LEN);
	assert_memory_equal(raw.root, want, SHA256_LEN);
	assert_int_equal(raw.checkpoint_size, 0);
	/* Beyond the checkpoint, or an index beyond the size. */
	assert_int_equal(vigil_get_inclusion_proof(c, 1, cp.size + 1, &cp, &ip, &err),
			 VIGIL_E_USAGE);
	rc = vigil_get_inclusion_proof(c, m, m, &cp, &ip, &err);
	assert_int_equal(rc, VIGIL_E_REFUSED);
	assert_string_equal(err.relay_code_name, "BAD_REQUEST");

	/* Consistency from m to the checkpoint. */
	static struct vigil_consistency_proof cons;
	assert_int_equal(vigil_get_consistency_proof(c, m, cp.size, &cons, &err), VIGIL_OK);
	assert_int_equal(cons.from_size, m);
	assert_int_equal(cons.to_size, cp.size);
	assert_int_equal(vigil_verify_consistency(&cons, want, cp.root, &err), VIGIL_OK);
	want[31] ^= 0x01;
	expect_verify(vigil_verify_consistency(&cons, want, cp.root, &err), &err,
		      "the consistency proof");
	want[31] ^= 0x01;
	cons.hashes[cons.n - 1][0] ^= 0x01;
	expect_verify(vigil_verify_consistency(&cons, want, cp.root, &err), &err,
		      "the consistency proof");

	/* Our own entries, exactly as stored; nobody else's. */
	uint32_t count = cp.size < VIGIL_ENTRIES_MAX ? (uint32_t)cp.size : VIGIL_ENTRIES_MAX;
	struct vigil_entry *e = NULL;
	size_t n = 99;
	rc = vigil_get_entries(c, 0, count, &e, &n, &err);
	if (rc != VIGIL_OK)
		fail_msg("%d: %s", rc, err.message);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM entries WHERE author = 'iom-ru-moscow' "
		 "AND idx < %u", count);
	assert_int_equal(n, (size_t)db_int(&R, sql));
	assert_true(n > 500);
	uint8_t ours[SHA256_LEN];
	cert_sha256("iom-ru-moscow.crt", ours);
	for (size_t i = 0; i < n; i++) {
		uint8_t *b;
		size_t bl;
		assert_memory_equal(e[i].cert_sha256, ours, SHA256_LEN);
		assert_memory_equal(e[i].leaf_hash, lh + e[i].index * SHA256_LEN, SHA256_LEN);
		snprintf(sql, sizeof(sql), "SELECT record FROM entries WHERE idx = %llu AND "
			 "received_at_ms = %lld", (unsigned long long)e[i].index,
			 (long long)e[i].received_at_ms);
		assert_int_equal(db_blob(&R, sql, &b, &bl), 0);
		assert_int_equal(bl, e[i].record_len);
		assert_memory_equal(b, e[i].record, bl);
		free(b);
		snprintf(sql, sizeof(sql), "SELECT signature FROM entries WHERE idx = %llu",
			 (unsigned long long)e[i].index);
		assert_int_equal(db_blob(&R, sql, &b, &bl), 0);
		assert_int_equal(bl, e[i].signature_len);
		assert_memory_equal(b, e[i].signature, bl);
		free(b);
	}
	vigil_free(e);
	assert_int_equal(vigil_get_entries(c, 0, 0, &e, &n, &err), VIGIL_E_USAGE);
	assert_int_equal(vigil_get_entries(c, 0, VIGIL_ENTRIES_MAX + 1, &e, &n, &err),
			 VIGIL_E_USAGE);
	vigil_close(&c);

	/* Another organisation sees its own entries only. */
	c = connect_as(R.port, "se-police-noa");
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM entries WHERE author = 'se-police-noa' "
		 "AND idx < %u", count);
	long long theirs = db_int(&R, sql);
	assert_int_equal(vigil_get_entries(c, 0, count, &e, &n, &err), VIGIL_OK);
	assert_int_equal(n, (size_t)theirs);
	for (size_t i = 0; i < n; i++)
		assert_memory_not_equal(e[i].cert_sha256, ours, SHA256_LEN);
	vigil_free(e);
	vigil_close(&c);
	free(lh);
}

/* ---- a lying relay ---------------------------------------------------------------------- */

enum fake_welcome {
	WELCOME_HONEST,
	WELCOME_OTHER_HASH,   /* a certificate hash that is not the client's */
	WELCOME_OTHER_ORG,    /* another organisation */
};

enum fake_answer {
	FAKE_HONEST,          /* (e) the right receipt */
	FAKE_HONEST_DUP,      /* duplicate, with a valid stored signature of the client's key */
	FAKE_FLIP_LEAF,       /* (a) one byte of the leaf hash flipped */
	FAKE_OTHER_ID,        /* (b) another record id */
	FAKE_DUP_NO_SIG,      /* (c) duplicate without the stored signature */
	FAKE_DUP_BAD_SIG,     /* (d) duplicate whose stored signature is over other bytes */
	FAKE_WRONG_REQUEST,   /* a receipt for a request never sent */
	FAKE_LATE,            /* the right receipt, after 1.5 s */
	FAKE_SILENT,          /* no answer at all */
	FAKE_OTHER_CKEY,      /* checkpoint signed by another Ed25519 key, same name */
	FAKE_FLIP_PROOF,      /* one bit of an inclusion proof node flipped */
	FAKE_INDEX_BEYOND,    /* a checkpoint whose size does not cover the entry */
	FAKE_NO_CHECKPOINT,   /* no checkpoint at all */
	FAKE_OTHER_ORIGIN,    /* origin "other.test/log", signed as ORIGIN */
	FAKE_OTHER_ORIGIN_SIGNED, /* origin and key name "other.test/log", our key */
	/* Duplicates first stored with another certificate than the client's
	 * (FD below): */
	FAKE_DUP_FORMER,        /* expired.crt, our organisation's former one: honest */
	FAKE_DUP_OTHER_SIGNER,  /* expired.crt, but the signature is the client's key's */
	FAKE_DUP_OTHER_NO_CERT, /* expired.crt's hash, no certificate */
	FAKE_DUP_OTHER_MISMATCH, /* expired.crt's hash, revoked.crt's DER */
	FAKE_DUP_UNTRUSTED,     /* untrusted.crt (our organisation, another CA), its key */
	FAKE_DUP_FOREIGN,       /* other-iom.crt (another organisation), its key */
};

/* How the fake answers Get* requests, one per request, in order. */
enum fake_query {
	QUERY_HONEST,
	QUERY_OTHER_CKEY,     /* GetCheckpoint: signed by another key */
	QUERY_FLIP_PROOF,     /* GetInclusionProof: one node flipped */
	QUERY_SHORT,          /* GetLeafHashes: one hash fewer than asked */
	QUERY_LATE,           /* the honest answer, after 1.5 s */
	/* GetCaseLog: three new entries of the case, with proofs to a fresh
	 * checkpoint, honest unless: */
	QUERY_CASE_FLIP_PROOF,  /* a node of the second entry's proof flipped */
	QUERY_CASE_OTHER_CKEY,  /* the checkpoint signed by another key */
	QUERY_CASE_OTHER_CASE,  /* the third entry is a record of another case */
	QUERY_CASE_BAD_LEAF,    /* the first entry's leaf hash is not its own */
	QUERY_CASE_BEYOND,      /* the checkpoint does not cover the last entry */
	QUERY_CASE_DESCENDING,  /* the entries in the wrong order */
	QUERY_CASE_MORE,        /* honest, and `more`: a page of a longer log */
	QUERY_CONSISTENCY_FLIP, /* GetConsistencyProof: one node flipped */
	/* GetCaseStatus: a police view (fields 1-10, view, owner), honest
	 * unless: */
	QUERY_STATUS_OTHER_CASE, /* about another case */
	QUERY_STATUS_BAD_PARTY,  /* a full status with a party that is no org id */
	QUERY_STATUS_NO_VIEW,    /* the police fields without a view */
	QUERY_STATUS_POLICE_PARTIES, /* the police view with (good) parties */
	QUERY_STATUS_OFFERED_HISTORY, /* the offered view with the last attempt */
	QUERY_STATUS_BAD_OWNER,  /* an owner that is no organisation id */
	/* GetMembers: iom-ru-moscow and se-police-noa, each with its
	 * encryption certificate, honest unless iom-ru-moscow's is: */
	QUERY_MEMBERS_TLS_CERT,  /* its TLS certificate (keyUsage digitalSignature) */
	QUERY_MEMBERS_OTHER_ORG, /* se-police-noa's encryption certificate */
	QUERY_MEMBERS_UNTRUSTED, /* untrusted-enc.crt: right kind, another CA */
	QUERY_MEMBERS_GARBAGE,   /* bytes that are no certificate */
	QUERY_MEMBERS_NO_ENC,    /* se-police-noa without one */
	/* GetSealReaders: iom-ru-moscow, honest unless: */
	QUERY_SEAL_NOT_MEMBER,   /* iom-ru-moscow and iom-xx-nobody (no member) */
	QUERY_SEAL_POLICE,       /* iom-ru-moscow and se-police-noa */
	QUERY_SEAL_OTHER_CASE,   /* the answer is about another case */
	QUERY_SEAL_UNSORTED,     /* se-police-noa before iom-ru-moscow */
};

#define FAKE_FIRST_INDEX 41u  /* the fake's log starts with this many leaves */
#define FAKE_MAX_LEAVES (FAKE_FIRST_INDEX + 64u)
#define FAKE_WAIT_MS 15000

struct fake {
	int listen_fd;
	int port;
	pthread_t thread;
	int running;
	enum fake_welcome welcome;
	enum fake_answer answers[16]; /* one per Submit, in order; FAKE_HONEST after */
	size_t n_answers;
	EVP_PKEY *key;                /* the client's key, for stored signatures */
	EVP_PKEY *ckey;               /* the relay's checkpoint key (PKI_DIR) */
	EVP_PKEY *other_ckey;         /* an Ed25519 key made for this run */
	enum fake_query queries[16];  /* one per Get* request; QUERY_HONEST after */
	size_t n_queries, queries_seen;
	vigil_client *client;         /* the test's client, closed by fake_teardown */
	uint64_t next_index;
	merkle_hash leaves[FAKE_MAX_LEAVES]; /* the fake's log */
	uint64_t size;
	/* Read by the test only after the thread ended. */
	int submits;
	char failure[512];            /* why the fake itself failed; "" if it did not */
};

static struct fake F; /* static: a failed test must not leave the thread a dead frame */

/* Certificates (and keys) a duplicate may have been first stored with;
 * loaded by the test before the fake starts, freed by its teardown. */
struct fake_signer {
	EVP_PKEY *key;
	unsigned char *der;
	int der_len;
	uint8_t sha[SHA256_LEN];
};
static struct {
	struct fake_signer former, revoked, untrusted, foreign;
} FD;

__attribute__((format(printf, 1, 2)))
static void fake_fail(const char *fmt, ...)
{
	if (F.failure[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(F.failure, sizeof(F.failure), fmt, ap);
	va_end(ap);
}

static int fake_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		     const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	for (unsigned int i = 0; i < inlen; i += 1u + in[i]) {
		if (in[i] == 7 && i + 8 <= inlen && memcmp(in + i + 1, "vigil/1", 7) == 0) {
			*out = in + i + 1;
			*outlen = 7;
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static SSL_CTX *fake_ctx(void)
{
	char crt[700], key[700], ca[700];
	snprintf(crt, sizeof(crt), "%s/relay.crt", PKI_DIR);
	snprintf(key, sizeof(key), "%s/relay.key", PKI_DIR);
	snprintf(ca, sizeof(ca), "%s/ca.crt", PKI_DIR);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, crt) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		fake_fail("fake relay: TLS context");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_alpn_select_cb(ctx, fake_alpn, NULL);
	SSL_CTX_set_num_tickets(ctx, 0);
	return ctx;
}

static int fake_read_full(SSL *ssl, uint8_t *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		size_t r = 0;
		if (SSL_read_ex(ssl, p + got, n - got, &r) != 1)
			return -1;
		got += r;
	}
	return 0;
}

/* The next frame, or -1 when the client went away. */
static int fake_recv(SSL *ssl, Vigil__V1__Frame **out)
{
	uint8_t h[4];
	if (fake_read_full(ssl, h, 4) != 0)
		return -1;
	uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	if (n > FRAME_DEFAULT_MAX) {
		fake_fail("fake relay: frame of %u bytes", n);
		return -1;
	}
	uint8_t *p = malloc(n ? n : 1);
	if (!p || fake_read_full(ssl, p, n) != 0) {
		free(p);
		return -1;
	}
	int rc = frame_decode(p, n, out);
	free(p);
	if (rc != VG_OK) {
		fake_fail("fake relay: undecodable frame");
		return -1;
	}
	return 0;
}

static void fake_send(SSL *ssl, const Vigil__V1__Frame *f)
{
	uint8_t *buf;
	size_t len, written = 0;
	if (frame_encode(f, FRAME_DEFAULT_MAX, &buf, &len) != VG_OK) {
		fake_fail("fake relay: frame_encode");
		return;
	}
	if (SSL_write_ex(ssl, buf, len, &written) != 1 || written != len)
		fake_fail("fake relay: write failed");
	free(buf);
}

static int role_of(const char *ou)
{
	static const char *const roles[] = { "", "coordinator", "police", "iom", "shelter",
		"relay" };
	for (int i = 1; i < 6; i++)
		if (strcmp(ou, roles[i]) == 0)
			return i;
	return 0;
}

/* The Welcome a relay would send: the identity of the client's certificate. */
static void fake_welcome(SSL *ssl, uint64_t request_id, uint8_t cert_sha[SHA256_LEN])
{
	X509 *peer = SSL_get0_peer_certificate(ssl);
	char org[128] = "", ou[64] = "", country[8] = "", cn[256] = "";
	const X509_NAME *nm = X509_get_subject_name(peer);
	X509_NAME_get_text_by_NID(nm, NID_organizationName, org, sizeof(org));
	X509_NAME_get_text_by_NID(nm, NID_organizationalUnitName, ou, sizeof(ou));
	X509_NAME_get_text_by_NID(nm, NID_countryName, country, sizeof(country));
	X509_NAME_get_text_by_NID(nm, NID_commonName, cn, sizeof(cn));
	unsigned int n = 0;
	X509_digest(peer, EVP_sha256(), cert_sha, &n);

	uint8_t told[SHA256_LEN];
	memcpy(told, cert_sha, SHA256_LEN);
	if (F.welcome == WELCOME_OTHER_HASH)
		told[0] ^= 0x01;
	Vigil__V1__Identity id = VIGIL__V1__IDENTITY__INIT;
	id.organisation = F.welcome == WELCOME_OTHER_ORG ? (char *)"iom-md-chisinau" : org;
	id.role = (Vigil__V1__Role)role_of(ou);
	id.country = country;
	id.common_name = cn;
	id.cert_sha256.data = told;
	id.cert_sha256.len = SHA256_LEN;
	Vigil__V1__Welcome w = VIGIL__V1__WELCOME__INIT;
	w.protocol_version = 1;
	w.peer = &id;
	w.software = (char *)"fake-relay/0";
	w.max_frame = FRAME_DEFAULT_MAX;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = request_id;
	f.msg_case = VIGIL__V1__FRAME__MSG_WELCOME;
	f.welcome = &w;
	fake_send(ssl, &f);
}

static int64_t wall_ms(void)
{
	return now_wall_ms();
}

/* merkle_get_fn over the fake's leaves: complete subtrees, recomputed. */
static int fake_node(void *ctx, unsigned level, uint64_t index, uint8_t out[SHA256_LEN])
{
	(void)ctx;
	if (level == 0) {
		if (index >= F.size)
			return VG_EIO;
		memcpy(out, F.leaves[index], SHA256_LEN);
		return VG_OK;
	}
	uint8_t l[SHA256_LEN], r[SHA256_LEN];
	if (fake_node(ctx, level - 1, 2 * index, l) != VG_OK ||
	    fake_node(ctx, level - 1, 2 * index + 1, r) != VG_OK)
		return VG_EIO;
	merkle_node_hash(l, r, out);
	return VG_OK;
}

/* A signed checkpoint of the fake's first `size` leaves: origin on the
 * first line, signed with key under the key name `name`.  *note is
 * malloc()ed. */
static char *fake_checkpoint(EVP_PKEY *key, const char *origin, const char *name, uint64_t size)
{
	struct checkpoint c;
	memset(&c, 0, sizeof(c));
	snprintf(c.origin, sizeof(c.origin), "%s", origin);
	c.size = size;
	if (merkle_root(fake_node, NULL, size, c.root) != VG_OK)
		fake_fail("fake relay: merkle_root of %llu", (unsigned long long)size);
	char text[512];
	int n = checkpoint_format(&c, text, sizeof(text));
	if (n < 0)
		abort();
	n += snprintf(text + n, sizeof(text) - (size_t)n, "signed-at %lld\n", (long long)wall_ms());
	char *note = NULL;
	size_t note_len;
	if (note_sign(key, name, text, (size_t)n, &note, &note_len) != VG_OK)
		fake_fail("fake relay: note_sign");
	return note;
}

static ProtobufCBinaryData *fake_proof_list(merkle_hash *h, size_t n)
{
	ProtobufCBinaryData *b = calloc(n ? n : 1, sizeof(*b));
	if (!b)
		abort();
	for (size_t i = 0; i < n; i++) {
		b[i].data = h[i];
		b[i].len = SHA256_LEN;
	}
	return b;
}

/* Answers one Submit the way mode says. */
static void fake_answer(SSL *ssl, const Vigil__V1__Frame *in, const uint8_t cert_sha[SHA256_LEN],
			enum fake_answer mode)
{
	if (mode == FAKE_SILENT)
		return;
	if (mode == FAKE_LATE)
		usleep(1500 * 1000);
	const Vigil__V1__SignedRecord *sr = in->submit->record;
	if (!sr) {
		fake_fail("fake relay: submit without a record");
		return;
	}
	const uint8_t *rec = sr->record.data;
	size_t rec_len = sr->record.len;
	Vigil__V1__Record *parsed = vigil__v1__record__unpack(NULL, rec_len, rec);
	if (!parsed || parsed->record_id.len != RECORD_ID_LEN) {
		fake_fail("fake relay: submit of a record without an id");
		if (parsed)
			vigil__v1__record__free_unpacked(parsed, NULL);
		return;
	}
	uint8_t id[RECORD_ID_LEN];
	memcpy(id, parsed->record_id.data, RECORD_ID_LEN);
	vigil__v1__record__free_unpacked(parsed, NULL);

	/* A duplicate stored with another certificate: which one it claims,
	 * which it carries and which key signed. */
	const struct fake_signer *claimed = NULL, *carried = NULL;
	EVP_PKEY *signer = NULL;
	switch (mode) {
	case FAKE_DUP_FORMER:
		claimed = carried = &FD.former;
		signer = FD.former.key;
		break;
	case FAKE_DUP_OTHER_SIGNER:
		claimed = carried = &FD.former;
		signer = F.key;
		break;
	case FAKE_DUP_OTHER_NO_CERT:
		claimed = &FD.former;
		signer = FD.former.key;
		break;
	case FAKE_DUP_OTHER_MISMATCH:
		claimed = &FD.former;
		carried = &FD.revoked;
		signer = FD.former.key;
		break;
	case FAKE_DUP_UNTRUSTED:
		claimed = carried = &FD.untrusted;
		signer = FD.untrusted.key;
		break;
	case FAKE_DUP_FOREIGN:
		claimed = carried = &FD.foreign;
		signer = FD.foreign.key;
		break;
	default:
		break;
	}
	if (claimed && (!signer || !claimed->der)) {
		fake_fail("fake relay: the test did not load the duplicates' certificates");
		return;
	}
	const uint8_t *leaf_sha = claimed ? claimed->sha : cert_sha;

	int dup = mode == FAKE_HONEST_DUP || mode == FAKE_DUP_NO_SIG || mode == FAKE_DUP_BAD_SIG ||
		  claimed;
	const uint8_t *sig = sr->signature.data;
	size_t sig_len = sr->signature.len;
	uint8_t *own = NULL;
	size_t own_len = 0;
	if (signer) {
		if (record_sign(signer, rec, rec_len, &own, &own_len) != VG_OK)
			fake_fail("fake relay: record_sign");
	} else if (mode == FAKE_HONEST_DUP) {
		/* What the relay stored the first time: another signature by the
		 * same key over the same bytes. */
		if (record_sign(F.key, rec, rec_len, &own, &own_len) != VG_OK)
			fake_fail("fake relay: record_sign");
	} else if (mode == FAKE_DUP_BAD_SIG) {
		/* A real signature of the client's key, but over other bytes. */
		uint8_t *other = malloc(rec_len);
		if (!other)
			abort();
		memcpy(other, rec, rec_len);
		other[rec_len - 1] ^= 0x01;
		if (record_sign(F.key, other, rec_len, &own, &own_len) != VG_OK)
			fake_fail("fake relay: record_sign");
		free(other);
	}
	if (own) {
		sig = own;
		sig_len = own_len;
	}

	/* The leaf hash is right for what the receipt claims. */
	int64_t at = wall_ms();
	uint8_t *leaf = NULL, hash[SHA256_LEN];
	size_t leaf_len = 0;
	if (entry_leaf_encode(at, leaf_sha, rec, rec_len, sig, sig_len, &leaf, &leaf_len) != VG_OK)
		fake_fail("fake relay: entry_leaf_encode");
	merkle_leaf_hash(leaf, leaf_len, hash);
	free(leaf);
	if (mode == FAKE_FLIP_LEAF)
		hash[13] ^= 0x20;
	if (mode == FAKE_OTHER_ID)
		id[0] ^= 0x80;

	/* The entry goes into the fake's log (with the hash the receipt
	 * claims), and the checkpoint covers it unless the mode says not. */
	uint64_t index = F.next_index++;
	if (index >= FAKE_MAX_LEAVES) {
		fake_fail("fake relay: log full");
		OPENSSL_free(own);
		return;
	}
	memcpy(F.leaves[index], hash, SHA256_LEN);
	F.size = index + 1;
	merkle_hash proof[MERKLE_MAX_PROOF];
	size_t proof_len = 0;
	if (merkle_inclusion_proof(fake_node, NULL, index, F.size, proof, &proof_len) != VG_OK)
		fake_fail("fake relay: merkle_inclusion_proof");
	if (mode == FAKE_FLIP_PROOF)
		proof[proof_len - 1][7] ^= 0x04;
	EVP_PKEY *ckey = mode == FAKE_OTHER_CKEY ? F.other_ckey : F.ckey;
	const char *origin = mode == FAKE_OTHER_ORIGIN || mode == FAKE_OTHER_ORIGIN_SIGNED
				     ? "other.test/log" : ORIGIN;
	const char *name = mode == FAKE_OTHER_ORIGIN_SIGNED ? "other.test/log" : ORIGIN;
	char *note = mode == FAKE_NO_CHECKPOINT ? NULL
		   : fake_checkpoint(ckey, origin, name, mode == FAKE_INDEX_BEYOND ? index : F.size);
	ProtobufCBinaryData *list = fake_proof_list(proof, proof_len);

	Vigil__V1__Receipt r = VIGIL__V1__RECEIPT__INIT;
	r.index = index;
	r.received_at_ms = at;
	r.checkpoint = note ? note : (char *)"";
	r.inclusion_proof = list;
	r.n_inclusion_proof = proof_len;
	r.leaf_hash.data = hash;
	r.leaf_hash.len = SHA256_LEN;
	r.record_id.data = id;
	r.record_id.len = RECORD_ID_LEN;
	r.duplicate = dup;
	if (dup) {
		r.stored_cert_sha256.data = (uint8_t *)leaf_sha;
		r.stored_cert_sha256.len = SHA256_LEN;
		if (carried) {
			r.stored_certificate.data = carried->der;
			r.stored_certificate.len = (size_t)carried->der_len;
		}
		if (mode != FAKE_DUP_NO_SIG) {
			r.stored_signature.data = (uint8_t *)sig;
			r.stored_signature.len = sig_len;
		}
	}
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = in->request_id + (mode == FAKE_WRONG_REQUEST ? 1000 : 0);
	f.msg_case = VIGIL__V1__FRAME__MSG_RECEIPT;
	f.receipt = &r;
	fake_send(ssl, &f);
	OPENSSL_free(own);
	free(note);
	free(list);
}

/* Answers GetCaseLog: three new entries of the case (contact attempts by
 * the client, signatures of junk: nothing checks them without the
 * author's certificate), appended to the fake's log, each with its proof
 * to a checkpoint of the log; mode says what is wrong with it. */
static void fake_case_log(SSL *ssl, const Vigil__V1__Frame *in, enum fake_query mode)
{
	enum { N = 3 };
	const char *case_id = in->get_case_log->case_id;
	static const uint8_t cert[SHA256_LEN] = { 0x5a, 0x17 };
	static const uint8_t sig[] = "not a signature";
	uint8_t ids[N][RECORD_ID_LEN], *recs[N];
	size_t rec_len[N];
	uint64_t idx[N];
	merkle_hash hashes[N], proofs[N][MERKLE_MAX_PROOF];
	size_t proof_len[N];
	int64_t at = wall_ms();
	if (F.size + N > FAKE_MAX_LEAVES) {
		fake_fail("fake relay: log full");
		return;
	}
	for (int i = 0; i < N; i++) {
		Vigil__V1__Record r;
		casekit_record(&r, ids[i], mode == QUERY_CASE_OTHER_CASE && i == 2
			       ? "se-stockholm-coord/OTHER-CASE-9" : case_id, "iom-ru-moscow");
		Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
		ca.channel = VIGIL__V1__CHANNEL__CHANNEL_PHONE;
		ca.outcome = VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER;
		ca.attempted_at_ms = r.client_time_ms;
		ca.note = (char *)"";
		r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
		r.contact_attempt = &ca;
		rec_len[i] = vigil__v1__record__get_packed_size(&r);
		recs[i] = malloc(rec_len[i]);
		if (!recs[i])
			abort();
		vigil__v1__record__pack(&r, recs[i]);
		uint8_t *leaf;
		size_t leaf_len;
		if (entry_leaf_encode(at, cert, recs[i], rec_len[i], sig, sizeof(sig), &leaf,
				      &leaf_len) != VG_OK)
			abort();
		merkle_leaf_hash(leaf, leaf_len, hashes[i]);
		free(leaf);
		if (mode == QUERY_CASE_BAD_LEAF && i == 0)
			hashes[i][31] ^= 0x01; /* in the tree too: only the recomputation sees it */
		idx[i] = F.size;
		memcpy(F.leaves[F.size++], hashes[i], SHA256_LEN);
	}
	/* Beyond: the checkpoint leaves out the last entry (whose proof is
	 * then empty); the others are proven to it. */
	uint64_t size = mode == QUERY_CASE_BEYOND ? F.size - 1 : F.size;
	for (int i = 0; i < N; i++) {
		proof_len[i] = 0;
		if (idx[i] < size && merkle_inclusion_proof(fake_node, NULL, idx[i], size, proofs[i],
							    &proof_len[i]) != VG_OK)
			fake_fail("fake relay: merkle_inclusion_proof");
	}
	if (mode == QUERY_CASE_FLIP_PROOF)
		proofs[1][0][5] ^= 0x10;
	char *note = fake_checkpoint(mode == QUERY_CASE_OTHER_CKEY ? F.other_ckey : F.ckey, ORIGIN,
				     ORIGIN, size);
	Vigil__V1__Entry en[N];
	Vigil__V1__CaseLogEntry le[N], *lp[N];
	ProtobufCBinaryData *lists[N];
	for (int i = 0; i < N; i++) {
		int k = mode == QUERY_CASE_DESCENDING ? N - 1 - i : i;
		vigil__v1__entry__init(&en[i]);
		en[i].index = idx[k];
		en[i].received_at_ms = at;
		en[i].cert_sha256.data = (uint8_t *)cert;
		en[i].cert_sha256.len = SHA256_LEN;
		en[i].record.data = recs[k];
		en[i].record.len = rec_len[k];
		en[i].signature.data = (uint8_t *)sig;
		en[i].signature.len = sizeof(sig);
		en[i].leaf_hash.data = hashes[k];
		en[i].leaf_hash.len = SHA256_LEN;
		vigil__v1__case_log_entry__init(&le[i]);
		le[i].entry = &en[i];
		lists[i] = fake_proof_list(proofs[k], proof_len[k]);
		le[i].inclusion_proof = lists[i];
		le[i].n_inclusion_proof = proof_len[k];
		lp[i] = &le[i];
	}
	Vigil__V1__CaseLog m = VIGIL__V1__CASE_LOG__INIT;
	m.checkpoint = note;
	m.entries = lp;
	m.n_entries = N;
	m.more = mode == QUERY_CASE_MORE;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = in->request_id;
	f.msg_case = VIGIL__V1__FRAME__MSG_CASE_LOG;
	f.case_log = &m;
	fake_send(ssl, &f);
	for (int i = 0; i < N; i++) {
		free(recs[i]);
		free(lists[i]);
	}
	free(note);
}

/* Answers GetCaseStatus as the relay answers police (fields 1-10, the
 * view and the owner), or wrongly as mode says. */
static void fake_case_status(SSL *ssl, const Vigil__V1__Frame *in, enum fake_query mode)
{
	Vigil__V1__CaseStatus m = VIGIL__V1__CASE_STATUS__INIT;
	m.case_id = mode == QUERY_STATUS_OTHER_CASE ? (char *)"se-stockholm-coord/OTHER-CASE-9"
		    : in->get_case_status->case_id;
	m.view = VIGIL__V1__CASE_VIEW__CASE_VIEW_POLICE;
	m.owner = (char *)"se-stockholm-coord";
	m.state = VIGIL__V1__CASE_STATE__CASE_STATE_ACTIVE;
	m.responsible = (char *)"iom-ru-moscow";
	m.risk = VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH;
	m.minor = 1;
	m.last_attempt_ms = AT_MS;
	m.last_attempt_channel = VIGIL__V1__CHANNEL__CHANNEL_SMS;
	m.last_attempt_outcome = VIGIL__V1__OUTCOME__OUTCOME_UNDELIVERED;
	m.alert_stage = 2;
	char *parties[] = { (char *)"iom-ru-moscow", (char *)"Police NOA" };
	char *good_parties[] = { (char *)"iom-ru-moscow", (char *)"se-police-noa" };
	switch (mode) {
	case QUERY_STATUS_BAD_PARTY:
		m.view = VIGIL__V1__CASE_VIEW__CASE_VIEW_FULL;
		m.parties = parties;
		m.n_parties = 2;
		break;
	case QUERY_STATUS_NO_VIEW:
		m.view = 0;
		break;
	case QUERY_STATUS_POLICE_PARTIES:
		m.parties = good_parties;
		m.n_parties = 2;
		break;
	case QUERY_STATUS_OFFERED_HISTORY:
		m.view = VIGIL__V1__CASE_VIEW__CASE_VIEW_OFFERED;
		break;
	case QUERY_STATUS_BAD_OWNER:
		m.owner = (char *)"Stockholm coordinator";
		break;
	default:
		break;
	}
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = in->request_id;
	f.msg_case = VIGIL__V1__FRAME__MSG_CASE_STATUS;
	f.case_status = &m;
	fake_send(ssl, &f);
}

static int cert_der(const char *name, unsigned char **der);

/* GetMembers: two members and their encryption certificates. */
static void fake_members(SSL *ssl, const Vigil__V1__Frame *in, enum fake_query mode)
{
	unsigned char *iom = NULL, *police = NULL;
	static const char *const iom_file[] = {
		[QUERY_MEMBERS_TLS_CERT] = "iom-ru-moscow.crt",
		[QUERY_MEMBERS_OTHER_ORG] = "se-police-noa.enc.crt",
		[QUERY_MEMBERS_UNTRUSTED] = "untrusted-enc.crt",
	};
	int n_iom = cert_der(mode >= QUERY_MEMBERS_TLS_CERT && mode <= QUERY_MEMBERS_UNTRUSTED
				     ? iom_file[mode] : "iom-ru-moscow.enc.crt",
			     &iom);
	int n_police = cert_der("se-police-noa.enc.crt", &police);
	Vigil__V1__Member m[2] = { VIGIL__V1__MEMBER__INIT, VIGIL__V1__MEMBER__INIT };
	m[0].organisation = (char *)"iom-ru-moscow";
	m[0].role = VIGIL__V1__ROLE__ROLE_IOM;
	m[0].country = (char *)"RU";
	m[0].name = (char *)"IOM Moscow field office";
	m[0].encryption_certificate.data = iom;
	m[0].encryption_certificate.len = (size_t)n_iom;
	if (mode == QUERY_MEMBERS_GARBAGE)
		m[0].encryption_certificate.len = 40;
	m[1].organisation = (char *)"se-police-noa";
	m[1].role = VIGIL__V1__ROLE__ROLE_POLICE;
	m[1].country = (char *)"SE";
	m[1].name = (char *)"Swedish Police NOA";
	m[1].encryption_certificate.data = police;
	m[1].encryption_certificate.len = mode == QUERY_MEMBERS_NO_ENC ? 0 : (size_t)n_police;
	Vigil__V1__Member *mp[2] = { &m[0], &m[1] };
	Vigil__V1__Members ms = VIGIL__V1__MEMBERS__INIT;
	ms.members = mp;
	ms.n_members = 2;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = in->request_id;
	f.msg_case = VIGIL__V1__FRAME__MSG_MEMBERS;
	f.members = &ms;
	if (mode == QUERY_MEMBERS_GARBAGE)
		memset(iom, 0x30, 40);
	fake_send(ssl, &f);
	OPENSSL_free(iom);
	OPENSSL_free(police);
}

/* GetSealReaders: the readers of the asked case. */
static void fake_seal_readers(SSL *ssl, const Vigil__V1__Frame *in, enum fake_query mode)
{
	char *orgs[2] = { (char *)"iom-ru-moscow", NULL };
	size_t n = 1;
	if (mode == QUERY_SEAL_NOT_MEMBER) {
		orgs[1] = (char *)"iom-xx-nobody";
		n = 2;
	} else if (mode == QUERY_SEAL_POLICE) {
		orgs[1] = (char *)"se-police-noa";
		n = 2;
	} else if (mode == QUERY_SEAL_UNSORTED) {
		orgs[0] = (char *)"se-police-noa";
		orgs[1] = (char *)"iom-ru-moscow";
		n = 2;
	}
	Vigil__V1__SealReaders m = VIGIL__V1__SEAL_READERS__INIT;
	m.case_id = mode == QUERY_SEAL_OTHER_CASE ? (char *)"se-stockholm-coord/OTHER"
						  : in->get_seal_readers->case_id;
	m.organisations = orgs;
	m.n_organisations = n;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = in->request_id;
	f.msg_case = VIGIL__V1__FRAME__MSG_SEAL_READERS;
	f.seal_readers = &m;
	fake_send(ssl, &f);
}

/* Answers one Get* request from the fake's log, the way mode says. */
static void fake_query(SSL *ssl, const Vigil__V1__Frame *in, enum fake_query mode)
{
	if (in->msg_case == VIGIL__V1__FRAME__MSG_GET_MEMBERS) {
		fake_members(ssl, in, mode);
		return;
	}
	if (in->msg_case == VIGIL__V1__FRAME__MSG_GET_SEAL_READERS) {
		fake_seal_readers(ssl, in, mode);
		return;
	}
	if (in->msg_case == VIGIL__V1__FRAME__MSG_GET_CASE_LOG) {
		fake_case_log(ssl, in, mode);
		return;
	}
	if (in->msg_case == VIGIL__V1__FRAME__MSG_GET_CASE_STATUS) {
		fake_case_status(ssl, in, mode);
		return;
	}
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = in->request_id;
	char *note = NULL;
	ProtobufCBinaryData *list = NULL;
	merkle_hash proof[MERKLE_MAX_PROOF];
	size_t n = 0;
	Vigil__V1__Checkpoint cp = VIGIL__V1__CHECKPOINT__INIT;
	Vigil__V1__InclusionProof ip = VIGIL__V1__INCLUSION_PROOF__INIT;
	Vigil__V1__LeafHashes lh = VIGIL__V1__LEAF_HASHES__INIT;
	Vigil__V1__ConsistencyProof cy = VIGIL__V1__CONSISTENCY_PROOF__INIT;
	if (mode == QUERY_LATE)
		usleep(1500 * 1000);
	switch (in->msg_case) {
	case VIGIL__V1__FRAME__MSG_GET_CHECKPOINT:
		note = fake_checkpoint(mode == QUERY_OTHER_CKEY ? F.other_ckey : F.ckey, ORIGIN,
				       ORIGIN, F.size);
		cp.note = note;
		f.msg_case = VIGIL__V1__FRAME__MSG_CHECKPOINT;
		f.checkpoint = &cp;
		break;
	case VIGIL__V1__FRAME__MSG_GET_INCLUSION_PROOF: {
		const Vigil__V1__GetInclusionProof *g = in->get_inclusion_proof;
		ip.index = g->index;
		ip.tree_size = g->tree_size ? g->tree_size : F.size;
		if (ip.index >= ip.tree_size || ip.tree_size > F.size ||
		    merkle_inclusion_proof(fake_node, NULL, ip.index, ip.tree_size, proof, &n) !=
			    VG_OK) {
			fake_fail("fake relay: cannot prove %llu in %llu",
				  (unsigned long long)ip.index, (unsigned long long)ip.tree_size);
			return;
		}
		if (mode == QUERY_FLIP_PROOF)
			proof[0][0] ^= 0x80;
		list = fake_proof_list(proof, n);
		ip.leaf_hash.data = F.leaves[ip.index];
		ip.leaf_hash.len = SHA256_LEN;
		ip.hashes = list;
		ip.n_hashes = n;
		f.msg_case = VIGIL__V1__FRAME__MSG_INCLUSION_PROOF;
		f.inclusion_proof = &ip;
		break;
	}
	case VIGIL__V1__FRAME__MSG_GET_CONSISTENCY_PROOF: {
		const Vigil__V1__GetConsistencyProof *g = in->get_consistency_proof;
		cy.from_size = g->from_size;
		cy.to_size = g->to_size ? g->to_size : F.size;
		if (cy.from_size == 0 || cy.from_size > cy.to_size || cy.to_size > F.size ||
		    merkle_consistency_proof(fake_node, NULL, cy.from_size, cy.to_size, proof, &n) !=
			    VG_OK || n == 0) {
			fake_fail("fake relay: cannot prove %llu consistent with %llu",
				  (unsigned long long)cy.from_size, (unsigned long long)cy.to_size);
			return;
		}
		if (mode == QUERY_CONSISTENCY_FLIP)
			proof[n - 1][3] ^= 0x40;
		list = fake_proof_list(proof, n);
		cy.hashes = list;
		cy.n_hashes = n;
		f.msg_case = VIGIL__V1__FRAME__MSG_CONSISTENCY_PROOF;
		f.consistency_proof = &cy;
		break;
	}
	case VIGIL__V1__FRAME__MSG_GET_LEAF_HASHES: {
		const Vigil__V1__GetLeafHashes *g = in->get_leaf_hashes;
		if (g->start + g->count > F.size) {
			fake_fail("fake relay: leaf hashes beyond the log");
			return;
		}
		n = g->count - (mode == QUERY_SHORT ? 1 : 0);
		list = fake_proof_list(F.leaves + g->start, n);
		lh.start = g->start;
		lh.hashes = list;
		lh.n_hashes = n;
		f.msg_case = VIGIL__V1__FRAME__MSG_LEAF_HASHES;
		f.leaf_hashes = &lh;
		break;
	}
	default:
		fake_fail("fake relay: frame of type %d", (int)in->msg_case);
		return;
	}
	fake_send(ssl, &f);
	free(note);
	free(list);
}

/* ---- the lying relay's alerts ------------------------------------------------------------ */

/* What the fake sends after a Subscribed, one per element, in order. */
enum fake_delivery {
	DELIVER_END = 0,
	DELIVER_HONEST,       /* a stage-1 silence alert of se-stockholm-coord/SE-2026-0042, for the client */
	DELIVER_ESCALATED,    /* the same at stage 2, police advice "consider", cause
			       * "handover" (told to the organisation now responsible) */
	DELIVER_RESOLVED,     /* stage 0, resolution "contact" */
	DELIVER_AGAIN,        /* the previous delivery, byte for byte */
	DELIVER_OTHER_KEY,    /* signed by another key (the client's), relay's certificate hash */
	DELIVER_FLIP_PROOF,   /* one bit of an inclusion proof node flipped */
	DELIVER_OTHER_CERT,   /* signed by the client's key, with its certificate's hash */
	DELIVER_NOT_OURS,     /* addressed to another organisation only */
	DELIVER_LAGGING,      /* a Lagging frame */
	DELIVER_FORMER,       /* signed by relay-renewed (a former relay certificate), carried */
	DELIVER_CARRIED_FOREIGN, /* signed by the client's key, its certificate carried */
	DELIVER_CARRIED_MISMATCH, /* relay-renewed carried, the client's certificate hash named */
	DELIVER_ERASURE,      /* an Erasure of entries 3 and 7 of the case, on the owner's request */
	DELIVER_ERASURE_RETENTION, /* the same, whole records, by the retention rules */
	DELIVER_ERASURE_OTHER_KEY, /* an Erasure signed by the client's key */
	DELIVER_ERASURE_NOT_OURS,  /* an Erasure addressed to another organisation only */
	DELIVER_ERASURE_AHEAD,     /* an Erasure naming its own position */
	DELIVER_ERASURE_BY_OTHER,  /* an Erasure authored by se-stockholm-coord, relay-signed */
	DELIVER_CONTACT,      /* a relay-signed ContactAttempt: neither alert nor erasure */
};

#define FAKE_ROUND_MAX 12

struct fake_alerts {
	enum fake_delivery rounds[2][FAKE_ROUND_MAX]; /* per Subscribe */
	uint64_t acked;                /* what Subscribed says */
	EVP_PKEY *relay_key;           /* PKI_DIR/relay.key */
	uint8_t relay_sha[SHA256_LEN]; /* of relay.crt, the fake's TLS certificate */
	uint8_t client_sha[SHA256_LEN];
	uint8_t alert_id[RECORD_ID_LEN];
	/* Read by the test once the fake ended. */
	int subscribes;
	uint64_t acks[8];              /* DeliveryAck positions, in order */
	size_t n_acks;
	uint64_t ack_ids[8];           /* their request ids */
	uint8_t *last;                 /* the last delivery frame sent, encoded */
	size_t last_len;
	EVP_PKEY *former_key;          /* PKI_DIR/relay-renewed.key */
	uint8_t former_sha[SHA256_LEN];
	unsigned char *former_der, *client_der;
	int former_der_len, client_der_len;
};

static struct fake_alerts FA;

static void fake_write(SSL *ssl, const uint8_t *buf, size_t len)
{
	size_t written = 0;
	if (SSL_write_ex(ssl, buf, len, &written) != 1 || written != len)
		fake_fail("fake relay: write failed");
}

/* One delivery of the subscription rid, the way mode says. */
static void fake_deliver(SSL *ssl, uint64_t rid, enum fake_delivery mode)
{
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = rid;
	if (mode == DELIVER_LAGGING) {
		Vigil__V1__Lagging l = VIGIL__V1__LAGGING__INIT;
		l.acked = FA.acked;
		f.msg_case = VIGIL__V1__FRAME__MSG_LAGGING;
		f.lagging = &l;
		fake_send(ssl, &f);
		return;
	}
	if (mode == DELIVER_AGAIN) {
		if (FA.last)
			fake_write(ssl, FA.last, FA.last_len);
		return;
	}
	uint8_t id[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, id, "se-stockholm-coord/SE-2026-0042", "vigil-relay");
	char *ours[] = { (char *)"se-stockholm-coord", (char *)"iom-ru-moscow" };
	Vigil__V1__Alert al = VIGIL__V1__ALERT__INIT;
	al.kind = VIGIL__V1__ALERT_KIND__ALERT_KIND_SILENCE;
	al.stage = mode == DELIVER_ESCALATED ? 2 : mode == DELIVER_RESOLVED ? 0 : 1;
	al.alert_id.data = FA.alert_id;
	al.alert_id.len = RECORD_ID_LEN;
	al.deadline_ms = AT_MS;
	al.last_success_ms = mode == DELIVER_RESOLVED ? AT_MS + 60000 : 0;
	al.failed_attempts = 3;
	al.recipients = ours;
	al.n_recipients = mode == DELIVER_NOT_OURS ? 1 : 2;
	al.police = mode == DELIVER_ESCALATED ? VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_CONSIDER
		    : VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_NONE;
	al.resolution = (char *)(mode == DELIVER_RESOLVED ? "contact" : "");
	al.cause = (char *)(mode == DELIVER_ESCALATED ? "handover" : "");
	r.body_case = VIGIL__V1__RECORD__BODY_ALERT;
	r.alert = &al;
	/* An Erasure (its position is the next index of the fake's log). */
	int erasure = mode == DELIVER_ERASURE || mode == DELIVER_ERASURE_RETENTION ||
		      mode == DELIVER_ERASURE_OTHER_KEY || mode == DELIVER_ERASURE_NOT_OURS ||
		      mode == DELIVER_ERASURE_AHEAD || mode == DELIVER_ERASURE_BY_OTHER;
	int retention = mode == DELIVER_ERASURE_RETENTION;
	uint64_t erased[2] = { 3, mode == DELIVER_ERASURE_AHEAD ? F.next_index : 7 };
	char *parties[] = { (char *)"iom-ru-moscow", (char *)"se-police-noa",
			    (char *)"se-stockholm-coord" };
	Vigil__V1__Erasure ea = VIGIL__V1__ERASURE__INIT;
	ea.indexes = erased;
	ea.n_indexes = 2;
	ea.whole_record = retention;
	ea.reason = retention ? VIGIL__V1__ERASE_REASON__ERASE_REASON_RETENTION
			      : VIGIL__V1__ERASE_REASON__ERASE_REASON_DATA_SUBJECT_REQUEST;
	if (!retention) {
		ea.request_id.data = FA.alert_id;
		ea.request_id.len = RECORD_ID_LEN;
		ea.requested_by = (char *)"se-stockholm-coord";
		ea.reference = (char *)"DPO-2026-117";
	}
	ea.recipients = mode == DELIVER_ERASURE_NOT_OURS ? parties + 1 : parties;
	ea.n_recipients = mode == DELIVER_ERASURE_NOT_OURS ? 2 : 3;
	if (erasure) {
		r.body_case = VIGIL__V1__RECORD__BODY_ERASURE;
		r.erasure = &ea;
		if (mode == DELIVER_ERASURE_BY_OTHER)
			r.author = (char *)"se-stockholm-coord";
	}
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	ca.channel = VIGIL__V1__CHANNEL__CHANNEL_PHONE;
	ca.outcome = VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER;
	ca.attempted_at_ms = r.client_time_ms - 60000;
	if (mode == DELIVER_CONTACT) {
		r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
		r.contact_attempt = &ca;
	}
	size_t rec_len = vigil__v1__record__get_packed_size(&r);
	uint8_t *rec = malloc(rec_len), *sig = NULL;
	size_t sig_len = 0;
	if (!rec)
		abort();
	vigil__v1__record__pack(&r, rec);
	int foreign = mode == DELIVER_OTHER_KEY || mode == DELIVER_OTHER_CERT ||
		      mode == DELIVER_CARRIED_FOREIGN || mode == DELIVER_ERASURE_OTHER_KEY;
	int former = mode == DELIVER_FORMER || mode == DELIVER_CARRIED_MISMATCH;
	EVP_PKEY *signer = foreign ? F.key : former ? FA.former_key : FA.relay_key;
	if (record_sign(signer, rec, rec_len, &sig, &sig_len) != VG_OK)
		fake_fail("fake relay: record_sign");
	const uint8_t *cert = mode == DELIVER_OTHER_CERT || mode == DELIVER_CARRIED_FOREIGN ||
			      mode == DELIVER_CARRIED_MISMATCH ? FA.client_sha
			      : mode == DELIVER_FORMER ? FA.former_sha : FA.relay_sha;

	int64_t at = wall_ms();
	uint8_t *leaf = NULL, hash[SHA256_LEN];
	size_t leaf_len = 0;
	if (entry_leaf_encode(at, cert, rec, rec_len, sig, sig_len, &leaf, &leaf_len) != VG_OK)
		fake_fail("fake relay: entry_leaf_encode");
	merkle_leaf_hash(leaf, leaf_len, hash);
	free(leaf);
	uint64_t index = F.next_index++;
	if (index >= FAKE_MAX_LEAVES) {
		fake_fail("fake relay: log full");
		free(rec);
		OPENSSL_free(sig);
		return;
	}
	memcpy(F.leaves[index], hash, SHA256_LEN);
	F.size = index + 1;
	merkle_hash proof[MERKLE_MAX_PROOF];
	size_t proof_len = 0;
	if (merkle_inclusion_proof(fake_node, NULL, index, F.size, proof, &proof_len) != VG_OK ||
	    proof_len == 0)
		fake_fail("fake relay: merkle_inclusion_proof");
	if (mode == DELIVER_FLIP_PROOF)
		proof[proof_len - 1][9] ^= 0x02;
	char *note = fake_checkpoint(F.ckey, ORIGIN, ORIGIN, F.size);
	ProtobufCBinaryData *list = fake_proof_list(proof, proof_len);

	Vigil__V1__Entry e = VIGIL__V1__ENTRY__INIT;
	e.index = index;
	e.received_at_ms = at;
	e.cert_sha256.data = (uint8_t *)cert;
	e.cert_sha256.len = SHA256_LEN;
	e.record.data = rec;
	e.record.len = rec_len;
	e.signature.data = sig;
	e.signature.len = sig_len;
	e.leaf_hash.data = hash;
	e.leaf_hash.len = SHA256_LEN;
	Vigil__V1__Delivery d = VIGIL__V1__DELIVERY__INIT;
	d.position = index;
	d.entry = &e;
	d.checkpoint = note;
	d.inclusion_proof = list;
	d.n_inclusion_proof = proof_len;
	if (former) {
		d.certificate.data = FA.former_der;
		d.certificate.len = (size_t)FA.former_der_len;
	} else if (mode == DELIVER_CARRIED_FOREIGN) {
		d.certificate.data = FA.client_der;
		d.certificate.len = (size_t)FA.client_der_len;
	}
	f.msg_case = VIGIL__V1__FRAME__MSG_DELIVERY;
	f.delivery = &d;
	free(FA.last);
	FA.last = NULL;
	if (frame_encode(&f, FRAME_DEFAULT_MAX, &FA.last, &FA.last_len) != VG_OK)
		fake_fail("fake relay: frame_encode");
	else
		fake_write(ssl, FA.last, FA.last_len);
	free(rec);
	OPENSSL_free(sig);
	free(note);
	free(list);
}

/* Subscribe: Subscribed, then the round's deliveries.  DeliveryAck: kept,
 * and refused as the relay refuses a position beyond the log. */
static void fake_alerts_answer(SSL *ssl, const Vigil__V1__Frame *in)
{
	if (in->msg_case == VIGIL__V1__FRAME__MSG_DELIVERY_ACK) {
		uint64_t pos = in->delivery_ack->position;
		if (FA.n_acks < 8) {
			FA.acks[FA.n_acks] = pos;
			FA.ack_ids[FA.n_acks++] = in->request_id;
		}
		if (pos >= F.size) {
			char msg[128];
			snprintf(msg, sizeof(msg), "position %llu is beyond the log (size %llu)",
				 (unsigned long long)pos, (unsigned long long)F.size);
			Vigil__V1__Error er = VIGIL__V1__ERROR__INIT;
			er.code = VIGIL__V1__ERROR_CODE__ERROR_BAD_REQUEST;
			er.message = msg;
			Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
			f.request_id = in->request_id;
			f.msg_case = VIGIL__V1__FRAME__MSG_ERROR;
			f.error = &er;
			fake_send(ssl, &f);
		}
		return;
	}
	int round = FA.subscribes++;
	Vigil__V1__Subscribed sd = VIGIL__V1__SUBSCRIBED__INIT;
	sd.acked = FA.acked;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = in->request_id;
	f.msg_case = VIGIL__V1__FRAME__MSG_SUBSCRIBED;
	f.subscribed = &sd;
	fake_send(ssl, &f);
	for (int i = 0; round < 2 && i < FAKE_ROUND_MAX && FA.rounds[round][i]; i++)
		fake_deliver(ssl, in->request_id, FA.rounds[round][i]);
}

/* One client connection: handshake, Hello/Welcome, then every Submit
 * answered as F.answers says, until the client goes away. */
static void *fake_main(void *arg)
{
	(void)arg;
	sigset_t pipe_set;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);

	SSL_CTX *ctx = fake_ctx();
	SSL *ssl = NULL;
	int fd = -1;
	if (!ctx)
		goto out;
	struct pollfd p = { .fd = F.listen_fd, .events = POLLIN };
	if (poll(&p, 1, FAKE_WAIT_MS) != 1) {
		fake_fail("fake relay: no client came");
		goto out;
	}
	fd = accept(F.listen_fd, NULL, NULL);
	if (fd < 0) {
		fake_fail("fake relay: accept: %s", strerror(errno));
		goto out;
	}
	struct timeval tv = { .tv_sec = FAKE_WAIT_MS / 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) != 1) {
		char e[256] = "";
		ERR_error_string_n(ERR_get_error(), e, sizeof(e));
		fake_fail("fake relay: handshake: %s", e);
		goto out;
	}
	Vigil__V1__Frame *in = NULL;
	if (fake_recv(ssl, &in) != 0 || in->msg_case != VIGIL__V1__FRAME__MSG_HELLO ||
	    in->hello->protocol_version != 1) {
		fake_fail("fake relay: the first frame is not a hello of version 1");
		frame_free(in);
		goto out;
	}
	uint8_t cert_sha[SHA256_LEN];
	fake_welcome(ssl, in->request_id, cert_sha);
	frame_free(in);
	while (fake_recv(ssl, &in) == 0) {
		if (in->msg_case == VIGIL__V1__FRAME__MSG_SUBSCRIBE ||
		    in->msg_case == VIGIL__V1__FRAME__MSG_DELIVERY_ACK) {
			fake_alerts_answer(ssl, in);
			frame_free(in);
			if (F.failure[0])
				break;
			continue;
		}
		if (in->msg_case != VIGIL__V1__FRAME__MSG_SUBMIT) {
			size_t k = F.queries_seen++;
			fake_query(ssl, in, k < F.n_queries ? F.queries[k] : QUERY_HONEST);
			frame_free(in);
			if (F.failure[0])
				break;
			continue;
		}
		size_t k = (size_t)F.submits++;
		fake_answer(ssl, in, cert_sha, k < F.n_answers ? F.answers[k] : FAKE_HONEST);
		frame_free(in);
	}
out:
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

static EVP_PKEY *read_private_key(const char *name)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/%s", PKI_DIR, name);
	FILE *kf = fopen(path, "r");
	assert_non_null(kf);
	EVP_PKEY *k = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
	fclose(kf);
	assert_non_null(k);
	return k;
}

static void fake_keys_free(void)
{
	EVP_PKEY_free(F.key);
	EVP_PKEY_free(F.ckey);
	EVP_PKEY_free(F.other_ckey);
	F.key = F.ckey = F.other_ckey = NULL;
}

/* Starts a fake relay for one connection that answers its Submits with
 * answers[0..n-1] and its Get* requests with queries[0..nq-1], then
 * honestly.  Its log holds FAKE_FIRST_INDEX leaves to begin with. */
static void fake_start_q(enum fake_welcome welcome, const enum fake_answer *answers, size_t n,
			 const enum fake_query *queries, size_t nq)
{
	assert_false(F.running);
	assert_null(F.client);
	memset(&F, 0, sizeof(F));
	F.welcome = welcome;
	assert_true(n <= sizeof(F.answers) / sizeof(F.answers[0]));
	for (size_t i = 0; i < n; i++)
		F.answers[i] = answers[i];
	F.n_answers = n;
	assert_true(nq <= sizeof(F.queries) / sizeof(F.queries[0]));
	for (size_t i = 0; i < nq; i++)
		F.queries[i] = queries[i];
	F.n_queries = nq;
	F.next_index = FAKE_FIRST_INDEX;
	for (uint64_t i = 0; i < FAKE_FIRST_INDEX; i++) {
		memset(F.leaves[i], (int)i, SHA256_LEN);
		F.leaves[i][0] = 0xab;
	}
	F.size = FAKE_FIRST_INDEX;
	F.key = read_private_key("iom-ru-moscow.key");
	F.ckey = read_private_key("checkpoint.key");
	F.other_ckey = new_ed25519();

	F.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(F.listen_fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(a);
	assert_int_equal(bind(F.listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(F.listen_fd, 4), 0);
	assert_int_equal(getsockname(F.listen_fd, (struct sockaddr *)&a, &len), 0);
	F.port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&F.thread, NULL, fake_main, NULL), 0);
	F.running = 1;
}

static void fake_start(enum fake_welcome welcome, const enum fake_answer *answers, size_t n)
{
	fake_start_q(welcome, answers, n, NULL, 0);
}

/* Waits for the fake to finish its connection; returns how many Submits it
 * saw.  The fake's own failures fail the test. */
static int fake_finish(void)
{
	assert_true(F.running);
	assert_int_equal(pthread_join(F.thread, NULL), 0);
	F.running = 0;
	close(F.listen_fd);
	fake_keys_free();
	if (F.failure[0])
		fail_msg("%s", F.failure);
	return F.submits;
}

/* After a failed test: closes its client and ends the fake's thread (a
 * shut-down listener wakes a thread still waiting for a client). */
static int fake_teardown(void **state)
{
	(void)state;
	vigil_close(&F.client);
	if (F.running) {
		shutdown(F.listen_fd, SHUT_RDWR);
		pthread_join(F.thread, NULL);
		F.running = 0;
		close(F.listen_fd);
	}
	fake_keys_free();
	return 0;
}

/* (e) and its duplicate twin: the fake answering truthfully is believed, so
 * the refusals below are the library's doing, not a broken fake. */
static void test_fake_relay_honest(void **state)
{
	(void)state;
	static const enum fake_answer answers[] = { FAKE_HONEST, FAKE_HONEST_DUP };
	fake_start(WELCOME_HONEST, answers, 2);
	F.client = connect_as(F.port, "iom-ru-moscow");
	vigil_client *c = F.client;
	const struct vigil_welcome *w = vigil_client_welcome(c);
	assert_string_equal(w->software, "fake-relay/0");
	assert_string_equal(w->peer.organisation, "iom-ru-moscow");
	assert_string_equal(w->peer.role, "iom");
	assert_string_equal(w->peer.country, "RU");

	struct vigil_contact ct = contact("se-stockholm-coord/SE-2026-0042");
	struct vigil_receipt r;
	struct vigil_error err;
	int rc = vigil_submit_contact(c, &ct, &r, &err);
	if (rc != VIGIL_OK)
		fail_msg("honest receipt refused: %d: %s", rc, err.message);
	assert_int_equal(r.index, FAKE_FIRST_INDEX);
	assert_int_equal(r.duplicate, 0);
	assert_memory_equal(r.record_id, ct.record_id, VIGIL_RECORD_ID_LEN);
	assert_true(llabs(r.received_at_ms - wall_ms()) < 60000);

	/* A duplicate whose stored signature is another (valid) one of ours:
	 * the leaf covers that signature, not the one just sent. */
	rc = vigil_submit_contact(c, &ct, &r, &err);
	if (rc != VIGIL_OK)
		fail_msg("honest duplicate refused: %d: %s", rc, err.message);
	assert_int_equal(r.index, FAKE_FIRST_INDEX + 1);
	assert_int_equal(r.duplicate, 1);
	vigil_close(&F.client);
	assert_int_equal(fake_finish(), 2);
}

/* (a)-(d): receipts that do not verify are VIGIL_E_VERIFY, and each time
 * the connection stays usable for the honest receipt that follows. */
static void test_fake_relay_lies(void **state)
{
	(void)state;
	static const enum fake_answer answers[] = {
		FAKE_FLIP_LEAF, FAKE_HONEST, FAKE_OTHER_ID, FAKE_HONEST,
		FAKE_DUP_NO_SIG, FAKE_HONEST, FAKE_DUP_BAD_SIG, FAKE_HONEST, FAKE_FLIP_LEAF,
	};
	static const char *const why[] = {
		"has leaf hash", NULL, "receipt names record ", NULL,
		"lacks the stored signature and certificate hash", NULL,
		"the stored signature is not ours over this record", NULL,
	};
	fake_start(WELCOME_HONEST, answers, sizeof(answers) / sizeof(answers[0]));
	F.client = connect_as(F.port, "iom-ru-moscow");
	vigil_client *c = F.client;
	struct vigil_error err;
	struct vigil_receipt r;
	for (size_t i = 0; i < 8; i++) {
		struct vigil_contact ct = contact("se-stockholm-coord/SE-2026-0042");
		int rc = vigil_submit_contact(c, &ct, &r, &err);
		if (!why[i]) {
			if (rc != VIGIL_OK)
				fail_msg("answer %zu (honest): %d: %s", i, rc, err.message);
			continue;
		}
		if (rc != VIGIL_E_VERIFY || err.status != VIGIL_E_VERIFY)
			fail_msg("answer %zu: %d (%s), expected VIGIL_E_VERIFY", i, rc, err.message);
		if (!strstr(err.message, why[i]))
			fail_msg("answer %zu: \"%s\" lacks \"%s\"", i, err.message, why[i]);
		assert_string_equal(err.relay_code_name, "");
		if (answers[i] == FAKE_OTHER_ID) {
			char sent[33], named[33], want[128];
			uint8_t other[VIGIL_RECORD_ID_LEN];
			memcpy(other, ct.record_id, sizeof(other));
			other[0] ^= 0x80;
			vigil_hex_encode(ct.record_id, VIGIL_RECORD_ID_LEN, sent);
			vigil_hex_encode(other, VIGIL_RECORD_ID_LEN, named);
			snprintf(want, sizeof(want), "receipt names record %s; we sent record %s",
				 named, sent);
			assert_string_equal(err.message, want);
		}
	}

	/* Pipelined: the failure belongs to its request, and *out holds what
	 * the relay claimed. */
	struct vigil_contact ct = contact("se-stockholm-coord/SE-2026-0042");
	uint8_t *rec, *sig;
	size_t rec_len, sig_len;
	assert_int_equal(vigil_build_contact(c, &ct, &rec, &rec_len, &sig, &sig_len, &err),
			 VIGIL_OK);
	uint64_t sent_id = 0, got_id = 0;
	assert_int_equal(vigil_send_signed(c, rec, rec_len, sig, sig_len, &sent_id, &err),
			 VIGIL_OK);
	assert_int_equal(vigil_outstanding(c), 1);
	assert_int_equal(vigil_recv_receipt(c, &got_id, &r, &err), VIGIL_E_VERIFY);
	assert_int_equal(got_id, sent_id);
	assert_int_equal(vigil_outstanding(c), 0);
	assert_int_equal(r.index, FAKE_FIRST_INDEX + 8);
	assert_memory_equal(r.record_id, ct.record_id, VIGIL_RECORD_ID_LEN);
	vigil_free(rec);
	vigil_free(sig);
	vigil_close(&F.client);
	assert_int_equal(fake_finish(), 9);
}

static int cert_der(const char *name, unsigned char **der);

/* NAME.key, and NAME.crt's DER and hash, from PKI_DIR. */
static void fake_signer_load(struct fake_signer *s, const char *name)
{
	char file[128];
	snprintf(file, sizeof(file), "%s.key", name);
	s->key = read_private_key(file);
	snprintf(file, sizeof(file), "%s.crt", name);
	s->der_len = cert_der(file, &s->der);
	cert_sha256(file, s->sha);
}

static void fake_signer_free(struct fake_signer *s)
{
	EVP_PKEY_free(s->key);
	OPENSSL_free(s->der);
	memset(s, 0, sizeof(*s));
}

static int fake_dup_teardown(void **state)
{
	fake_teardown(state);
	fake_signer_free(&FD.former);
	fake_signer_free(&FD.revoked);
	fake_signer_free(&FD.untrusted);
	fake_signer_free(&FD.foreign);
	return 0;
}

/* A duplicate first stored with another certificate than ours (proto/README.md
 * section 3.2.1): the receipt must carry that certificate, which must hash
 * to stored_cert_sha256, come from the federation's CA, name our
 * organisation, and its key must have made the stored signature over our
 * record.  The former certificate of our organisation (expired since) is
 * believed; every lie is VIGIL_E_VERIFY with its reason, and the connection
 * goes on. */
static void test_fake_relay_duplicate_certificates(void **state)
{
	(void)state;
	static const enum fake_answer answers[] = {
		FAKE_DUP_FORMER, FAKE_DUP_OTHER_SIGNER, FAKE_HONEST, FAKE_DUP_OTHER_NO_CERT,
		FAKE_DUP_OTHER_MISMATCH, FAKE_DUP_UNTRUSTED, FAKE_DUP_FOREIGN, FAKE_HONEST,
	};
	static const char *const why[] = {
		NULL,
		": the stored signature does not verify over this record with the stored "
		"certificate",
		NULL,
		" names a certificate that is not ours, and carries none",
		" carries a certificate that does not hash to stored_cert_sha256",
		" carries a certificate the federation's CA did not issue",
		" carries a certificate of another organisation than ours",
		NULL,
	};
	fake_signer_load(&FD.former, "expired");
	fake_signer_load(&FD.revoked, "revoked");
	fake_signer_load(&FD.untrusted, "untrusted");
	fake_signer_load(&FD.foreign, "other-iom");
	fake_start(WELCOME_HONEST, answers, sizeof(answers) / sizeof(answers[0]));
	F.client = connect_as(F.port, "iom-ru-moscow");
	vigil_client *c = F.client;
	uint8_t own_sha[SHA256_LEN];
	cert_sha256("iom-ru-moscow.crt", own_sha);
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		struct vigil_contact ct = contact("se-stockholm-coord/SE-2026-0042");
		struct vigil_error err;
		struct vigil_receipt r;
		uint8_t *rec, *sig;
		size_t rec_len, sig_len;
		assert_int_equal(vigil_build_contact(c, &ct, &rec, &rec_len, &sig, &sig_len, &err),
				 VIGIL_OK);
		uint64_t sent_id = 0, got_id = 0;
		assert_int_equal(vigil_send_signed(c, rec, rec_len, sig, sig_len, &sent_id, &err),
				 VIGIL_OK);
		vigil_free(rec);
		vigil_free(sig);
		int rc = vigil_recv_receipt(c, &got_id, &r, &err);
		assert_int_equal(got_id, sent_id);
		if (!why[i]) {
			if (rc != VIGIL_OK)
				fail_msg("answer %zu (honest): %d: %s", i, rc, err.message);
			assert_int_equal(r.duplicate, answers[i] == FAKE_DUP_FORMER);
			assert_memory_equal(r.cert_sha256, answers[i] == FAKE_DUP_FORMER
					    ? FD.former.sha : own_sha, SHA256_LEN);
			continue;
		}
		char want[512];
		snprintf(want, sizeof(want), "duplicate receipt for request %llu%s",
			 (unsigned long long)sent_id, why[i]);
		if (rc != VIGIL_E_VERIFY || err.status != VIGIL_E_VERIFY)
			fail_msg("answer %zu: %d (%s), expected VIGIL_E_VERIFY", i, rc, err.message);
		assert_string_equal(err.message, want);
		assert_string_equal(err.relay_code_name, "");
	}
	vigil_close(&F.client);
	assert_int_equal(fake_finish(), (int)(sizeof(answers) / sizeof(answers[0])));
}

/* Submits one contact attempt and expects VIGIL_OK (why == NULL) or
 * VIGIL_E_VERIFY with why in the message; *r gets the receipt. */
static void submit_expect(vigil_client *c, const char *why, struct vigil_receipt *r, size_t i)
{
	struct vigil_contact ct = contact("se-stockholm-coord/SE-2026-0042");
	struct vigil_error err;
	int rc = vigil_submit_contact(c, &ct, r, &err);
	if (!why) {
		if (rc != VIGIL_OK)
			fail_msg("answer %zu (honest): %d: %s", i, rc, err.message);
		return;
	}
	if (rc != VIGIL_E_VERIFY || err.status != VIGIL_E_VERIFY || !strstr(err.message, why))
		fail_msg("answer %zu: %d (%s), expected VIGIL_E_VERIFY with \"%s\"", i, rc,
			 err.message, why);
	assert_string_equal(err.relay_code_name, "");
}

/* Receipts whose leaf hash is right but whose checkpoint or proof lies:
 * each is VIGIL_E_VERIFY naming the check, the connection stays usable,
 * and the honest receipts in between (in the same tree) verify. */
static void test_fake_relay_checkpoint_lies(void **state)
{
	(void)state;
	static const enum fake_answer answers[] = {
		FAKE_OTHER_CKEY, FAKE_HONEST, FAKE_FLIP_PROOF, FAKE_HONEST, FAKE_INDEX_BEYOND,
		FAKE_HONEST, FAKE_NO_CHECKPOINT, FAKE_HONEST, FAKE_OTHER_ORIGIN,
		FAKE_OTHER_ORIGIN_SIGNED,
	};
	static const char *const why[] = {
		"the checkpoint signature does not verify: the note carries no valid signature "
		"by the checkpoint key (" ORIGIN "+", NULL,
		"the inclusion proof (", NULL,
		": entry index 45 is not below the checkpoint's size 45", NULL,
		"carries no checkpoint", NULL,
		/* A PEM key takes its name from the origin line: the signature is
		 * under another name. */
		"the checkpoint signature does not verify",
		/* ... and so any origin the key signs is accepted (documented). */
		NULL,
	};
	size_t n = sizeof(answers) / sizeof(answers[0]);
	fake_start(WELCOME_HONEST, answers, n);
	F.client = connect_as(F.port, "iom-ru-moscow");
	static struct vigil_receipt r;
	for (size_t i = 0; i < n; i++) {
		submit_expect(F.client, why[i], &r, i);
		assert_int_equal(r.index, FAKE_FIRST_INDEX + i);
		if (answers[i] == FAKE_FLIP_PROOF)
			assert_true(r.proof_len > 0); /* what the relay claimed */
	}
	assert_string_equal(r.checkpoint.origin, "other.test/log");
	assert_int_equal(r.checkpoint.size, FAKE_FIRST_INDEX + n);
	vigil_close(&F.client);
	assert_int_equal(fake_finish(), (int)n);

	/* With a verifier key the name is fixed: the origin must be it. */
	static const enum fake_answer answers2[] = {
		FAKE_OTHER_ORIGIN, FAKE_OTHER_ORIGIN_SIGNED, FAKE_OTHER_CKEY, FAKE_HONEST,
	};
	static const char *const why2[] = {
		"the checkpoint's origin \"other.test/log\" is not the checkpoint key's name "
		"\"" ORIGIN "\"",
		"the checkpoint signature does not verify",
		"the checkpoint signature does not verify",
		NULL,
	};
	fake_start(WELCOME_HONEST, answers2, 4);
	struct conn_files f;
	struct vigil_options o = options(&f, F.port, "iom-ru-moscow", "ca.crt");
	char vkey[512];
	checkpoint_vkey(ORIGIN, vkey, sizeof(vkey));
	o.checkpoint_key = vkey;
	struct vigil_error err;
	assert_int_equal(vigil_connect(&o, &F.client, &err), VIGIL_OK);
	for (size_t i = 0; i < 4; i++)
		submit_expect(F.client, why2[i], &r, i);
	assert_string_equal(r.checkpoint.origin, ORIGIN);
	vigil_close(&F.client);
	assert_int_equal(fake_finish(), 4);
}

/* Log requests to a lying relay: a checkpoint signed by another key, a
 * flipped proof node and a short list of leaf hashes are VIGIL_E_VERIFY;
 * honest answers verify; a receipt that arrives while a log request waits
 * is kept for vigil_recv_receipt(). */
static void test_fake_relay_query_lies(void **state)
{
	(void)state;
	static const enum fake_query queries[] = {
		QUERY_HONEST, QUERY_OTHER_CKEY, QUERY_HONEST, QUERY_FLIP_PROOF, QUERY_HONEST,
		QUERY_SHORT, QUERY_HONEST,
	};
	fake_start_q(WELCOME_HONEST, NULL, 0, queries, sizeof(queries) / sizeof(queries[0]));
	F.client = connect_as(F.port, "iom-ru-moscow");
	vigil_client *c = F.client;
	struct vigil_error err;
	static struct vigil_checkpoint cp, cp2;
	int rc = vigil_get_checkpoint(c, &cp, &err);
	if (rc != VIGIL_OK)
		fail_msg("%d: %s", rc, err.message);
	assert_int_equal(cp.size, FAKE_FIRST_INDEX);
	assert_string_equal(cp.origin, ORIGIN);
	expect_verify(vigil_get_checkpoint(c, &cp2, &err), &err,
		      "the relay's latest checkpoint: the checkpoint signature does not verify");

	static struct vigil_inclusion_proof ip;
	rc = vigil_get_inclusion_proof(c, 5, 0, &cp, &ip, &err);
	if (rc != VIGIL_OK)
		fail_msg("%d: %s", rc, err.message);
	assert_memory_equal(ip.root, cp.root, SHA256_LEN);
	expect_verify(vigil_get_inclusion_proof(c, 5, 0, &cp, &ip, &err), &err,
		      "does not lead from the leaf hash of entry 5 to the root of the checkpoint "
		      "of size 41");

	static uint8_t lh[FAKE_FIRST_INDEX][SHA256_LEN];
	rc = vigil_get_leaf_hashes(c, 0, FAKE_FIRST_INDEX, &lh[0][0], &err);
	if (rc != VIGIL_OK)
		fail_msg("%d: %s", rc, err.message);
	vigil_tree *t;
	assert_int_equal(vigil_tree_new(&t), VIGIL_OK);
	for (size_t i = 0; i < FAKE_FIRST_INDEX; i++)
		vigil_tree_append(t, lh[i]);
	uint8_t root[SHA256_LEN];
	vigil_tree_root(t, root);
	vigil_tree_free(&t);
	assert_memory_equal(root, cp.root, SHA256_LEN);
	expect_verify(vigil_get_leaf_hashes(c, 0, FAKE_FIRST_INDEX, &lh[0][0], &err), &err,
		      "asked for the leaf hashes of entries 0+41, the relay sent 40 from 0");

	/* A submission in flight while the checkpoint is asked for: its
	 * receipt comes first and waits for vigil_recv_receipt(). */
	struct vigil_contact ct = contact("se-stockholm-coord/SE-2026-0042");
	uint8_t *rec, *sig;
	size_t rec_len, sig_len;
	assert_int_equal(vigil_build_contact(c, &ct, &rec, &rec_len, &sig, &sig_len, &err),
			 VIGIL_OK);
	uint64_t sent = 0, got = 0;
	assert_int_equal(vigil_send_signed(c, rec, rec_len, sig, sig_len, &sent, &err), VIGIL_OK);
	rc = vigil_get_checkpoint(c, &cp2, &err);
	if (rc != VIGIL_OK)
		fail_msg("%d: %s", rc, err.message);
	assert_int_equal(cp2.size, FAKE_FIRST_INDEX + 1);
	assert_int_equal(vigil_outstanding(c), 1);
	static struct vigil_receipt r;
	assert_int_equal(vigil_recv_receipt(c, &got, &r, &err), VIGIL_OK);
	assert_int_equal(got, sent);
	assert_int_equal(r.index, FAKE_FIRST_INDEX);
	assert_memory_equal(r.checkpoint.root, cp2.root, SHA256_LEN);
	vigil_free(rec);
	vigil_free(sig);
	vigil_close(&F.client);
	assert_int_equal(fake_finish(), 1);
	assert_int_equal(F.queries_seen, sizeof(queries) / sizeof(queries[0]));
}

/* vigil_case_log across pages whose checkpoints differ (the log grew
 * between them): each page is proven to its own checkpoint, and the
 * earlier checkpoint is proven a prefix of the last by a consistency
 * proof; a consistency proof that does not verify is VIGIL_E_VERIFY. */
static void test_fake_case_log_pages(void **state)
{
	(void)state;
	static const enum fake_query queries[] = {
		QUERY_CASE_MORE, QUERY_HONEST, QUERY_HONEST,
		QUERY_CASE_MORE, QUERY_HONEST, QUERY_CONSISTENCY_FLIP,
	};
	fake_start_q(WELCOME_HONEST, NULL, 0, queries, sizeof(queries) / sizeof(queries[0]));
	F.client = connect_as(F.port, "iom-ru-moscow");
	vigil_client *c = F.client;
	struct vigil_error err;
	struct vigil_case_log *log = NULL;
	int rc = vigil_case_log(c, "se-stockholm-coord/SE-2026-0042", &log, &err);
	if (rc != VIGIL_OK)
		fail_msg("%d: %s", rc, err.message);
	assert_int_equal(log->n, 6);
	assert_false(log->more);
	assert_int_equal(log->checkpoint.size, FAKE_FIRST_INDEX + 6);
	for (size_t i = 0; i < 6; i++) {
		const struct vigil_case_log_entry *e = &log->entries[i];
		assert_int_equal(e->entry.index, FAKE_FIRST_INDEX + i);
		/* The first page's proofs lead to the first checkpoint. */
		assert_int_equal(e->proof_size, FAKE_FIRST_INDEX + (i < 3 ? 3 : 6));
		if (i >= 3)
			assert_memory_equal(e->proof_root, log->checkpoint.root, VIGIL_HASH_LEN);
		struct vigil_inclusion_proof p;
		memset(&p, 0, sizeof(p));
		p.index = e->entry.index;
		p.tree_size = e->proof_size;
		memcpy(p.leaf_hash, e->entry.leaf_hash, SHA256_LEN);
		p.n = e->proof_len;
		memcpy(p.hashes, e->inclusion_proof, e->proof_len * SHA256_LEN);
		assert_int_equal(vigil_verify_inclusion(&p, e->proof_root, &err), VIGIL_OK);
	}
	vigil_free(log);
	log = (struct vigil_case_log *)(void *)&err; /* must be reset to NULL */
	expect_verify(vigil_case_log(c, "se-stockholm-coord/SE-2026-0042", &log, &err), &err,
		      "the case log's checkpoint of size 50 against the one of size 53: ");
	assert_null(log);
	vigil_close(&F.client);
	assert_int_equal(fake_finish(), 0); /* no submission */
	assert_int_equal(F.queries_seen, sizeof(queries) / sizeof(queries[0]));
}

/* A member's encryption certificate is checked by the client, never taken
 * on the relay's word: it must chain to the client's CA, be an encryption
 * certificate (keyAgreement only) and carry that member's O, OU and C. */
static void test_fake_members(void **state)
{
	(void)state;
	static const enum fake_query queries[] = {
		QUERY_HONEST, QUERY_MEMBERS_TLS_CERT, QUERY_MEMBERS_OTHER_ORG,
		QUERY_MEMBERS_UNTRUSTED, QUERY_MEMBERS_GARBAGE, QUERY_HONEST,
	};
	fake_start_q(WELCOME_HONEST, NULL, 0, queries, sizeof(queries) / sizeof(queries[0]));
	F.client = connect_as(F.port, "se-stockholm-coord");
	vigil_client *c = F.client;
	struct vigil_error err;
	struct vigil_member *list = NULL;
	size_t n = 0;
	if (vigil_members(c, &list, &n, &err) != VIGIL_OK)
		fail_msg("honest members: %s", err.message);
	assert_int_equal(n, 2);
	unsigned char *der = NULL;
	int len = cert_der("iom-ru-moscow.enc.crt", &der);
	assert_int_equal(list[0].encryption_cert_len, (size_t)len);
	assert_memory_equal(list[0].encryption_cert, der, (size_t)len);
	OPENSSL_free(der);
	vigil_free(list);
	static const char *const lies[] = {
		"member 1 (iom-ru-moscow) has an encryption certificate of the wrong kind: its "
		"keyUsage must be keyAgreement and nothing else",
		"member 1 (iom-ru-moscow) has an encryption certificate of the wrong kind: its O is "
		"\"se-police-noa\", not \"iom-ru-moscow\"",
		"member 1 (iom-ru-moscow) has an encryption certificate that does not verify: "
		"unable to get local issuer certificate",
		"member 1 (iom-ru-moscow) has an encryption certificate that does not parse",
	};
	for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
		list = (struct vigil_member *)(void *)&err; /* must be reset to NULL */
		expect_verify(vigil_members(c, &list, &n, &err), &err, lies[i]);
		assert_null(list);
		assert_int_equal(n, 0);
	}
	assert_int_equal(vigil_members(c, &list, &n, &err), VIGIL_OK);
	vigil_free(list);
	vigil_close(&F.client);
	assert_int_equal(fake_finish(), 0);
	assert_int_equal(F.queries_seen, sizeof(queries) / sizeof(queries[0]));
}

/* A contact note is sealed to the readers GetSealReaders names, only if
 * each is a member whose encryption certificate vigil_members vouches for,
 * and only for the case asked about; nothing is built otherwise. */
static void test_fake_seal_readers(void **state)
{
	(void)state;
	static const enum fake_query queries[] = {
		QUERY_HONEST /* GetMembers */, QUERY_SEAL_NOT_MEMBER, QUERY_SEAL_OTHER_CASE,
		QUERY_SEAL_UNSORTED, QUERY_HONEST /* GetSealReaders: iom-ru-moscow */,
	};
	fake_start_q(WELCOME_HONEST, NULL, 0, queries, sizeof(queries) / sizeof(queries[0]));
	F.client = connect_enc(F.port, "iom-ru-moscow", "iom-ru-moscow");
	vigil_client *c = F.client;
	struct vigil_error err;
	struct vigil_contact ct = contact("se-stockholm-coord/FAKE-1");
	ct.note = "left a voicemail";
	uint8_t *rec = NULL, *sig = NULL;
	size_t rec_len = 0, sig_len = 0;
	static const char *const lies[] = {
		"the relay names iom-xx-nobody as a reader of case se-stockholm-coord/FAKE-1, but "
		"iom-xx-nobody is no member",
		"asked for the readers of case se-stockholm-coord/FAKE-1, the relay answered for "
		"another case",
		"the relay's readers of case se-stockholm-coord/FAKE-1 are malformed: reader 2 is no "
		"organisation id or out of order",
	};
	for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
		expect_status_msg(vigil_build_contact(c, &ct, &rec, &rec_len, &sig, &sig_len, &err),
				  &err, VIGIL_E_VERIFY, lies[i]);
		assert_null(rec);
		assert_null(ct.sealed);
	}
	/* The honest answer: sealed to iom-ru-moscow alone, whose key opens it. */
	assert_int_equal(vigil_build_contact(c, &ct, &rec, &rec_len, &sig, &sig_len, &err),
			 VIGIL_OK);
	assert_non_null(ct.sealed);
	Vigil__V1__Record *r = vigil__v1__record__unpack(NULL, rec_len, rec);
	assert_non_null(r);
	assert_string_equal(r->contact_attempt->note, "");
	assert_int_equal(r->contact_attempt->sealed_note->n_readers, 1);
	uint8_t want[1][SHA256_LEN];
	static const char *const iom[] = { "iom-ru-moscow" };
	tseal_reader_hashes(iom, 1, want);
	assert_memory_equal(r->contact_attempt->sealed_note->readers[0].data, want[0], SHA256_LEN);
	vigil__v1__record__free_unpacked(r, NULL);
	char *text = NULL;
	assert_int_equal(vigil_open_sealed(c, rec, rec_len, ct.sealed, ct.sealed_len, &text, &err),
			 VIGIL_OK);
	assert_string_equal(text, "left a voicemail");
	vigil_free(text);
	vigil_free(rec);
	vigil_free(sig);
	vigil_free(ct.sealed);
	vigil_close(&F.client);
	assert_int_equal(fake_finish(), 0);

	/* A reader the member list gives no encryption certificate. */
	static const enum fake_query queries2[] = { QUERY_MEMBERS_NO_ENC, QUERY_SEAL_POLICE };
	fake_start_q(WELCOME_HONEST, NULL, 0, queries2, 2);
	F.client = connect_as(F.port, "iom-ru-moscow");
	ct.sealed = NULL;
	expect_status_msg(vigil_build_contact(F.client, &ct, &rec, &rec_len, &sig, &sig_len, &err),
			  &err, VIGIL_E_VERIFY,
			  "the relay names se-police-noa as a reader of case se-stockholm-coord/FAKE-1, "
			  "but se-police-noa is a member without an encryption certificate");
	assert_null(ct.sealed);
	vigil_close(&F.client);
	assert_int_equal(fake_finish(), 0);
}

/* The case log must prove itself: a checkpoint of the checkpoint key,
 * every leaf hash recomputed, every proof to that checkpoint, every record
 * of the case asked for, in log order.  A status must be about the case
 * asked for, say its view, carry no field its view withholds, and be well
 * formed.  Honest answers in between show that the
 * fake is right and the connection stays usable. */
static void test_fake_case_queries(void **state)
{
	(void)state;
	static const enum fake_query queries[] = {
		QUERY_HONEST, QUERY_CASE_FLIP_PROOF, QUERY_CASE_OTHER_CKEY, QUERY_CASE_OTHER_CASE,
		QUERY_CASE_BAD_LEAF, QUERY_CASE_BEYOND, QUERY_CASE_DESCENDING, QUERY_HONEST,
		QUERY_HONEST, QUERY_STATUS_OTHER_CASE, QUERY_STATUS_BAD_PARTY, QUERY_STATUS_NO_VIEW,
		QUERY_STATUS_POLICE_PARTIES, QUERY_STATUS_OFFERED_HISTORY, QUERY_STATUS_BAD_OWNER,
		QUERY_HONEST,
	};
	fake_start_q(WELCOME_HONEST, NULL, 0, queries, sizeof(queries) / sizeof(queries[0]));
	F.client = connect_as(F.port, "iom-ru-moscow");
	vigil_client *c = F.client;
	struct vigil_error err;
	struct vigil_case_log *log = NULL;
	int rc = vigil_case_log(c, "se-stockholm-coord/SE-2026-0042", &log, &err);
	if (rc != VIGIL_OK)
		fail_msg("%d: %s", rc, err.message);
	assert_int_equal(log->n, 3);
	assert_int_equal(log->checkpoint.size, FAKE_FIRST_INDEX + 3);
	for (size_t i = 0; i < 3; i++) {
		const struct vigil_case_log_entry *e = &log->entries[i];
		assert_int_equal(e->entry.index, FAKE_FIRST_INDEX + i);
		struct vigil_inclusion_proof p;
		memset(&p, 0, sizeof(p));
		p.index = e->entry.index;
		p.tree_size = log->checkpoint.size;
		memcpy(p.leaf_hash, e->entry.leaf_hash, SHA256_LEN);
		p.n = e->proof_len;
		memcpy(p.hashes, e->inclusion_proof, e->proof_len * SHA256_LEN);
		assert_int_equal(vigil_verify_inclusion(&p, log->checkpoint.root, &err), VIGIL_OK);
		struct vigil_record_info ri;
		assert_int_equal(vigil_record_decode(e->entry.record, e->entry.record_len, &ri, &err),
				 VIGIL_OK);
		assert_string_equal(ri.case_id, "se-stockholm-coord/SE-2026-0042");
		assert_string_equal(ri.kind, "contact");
		assert_string_equal(ri.outcome, "no-answer");
	}
	vigil_free(log);

	static const char *const lies[] = {
		"the inclusion proof (5 nodes) of entry 45 does not lead to the root of the case "
		"log's checkpoint of size 47",
		"the case log's checkpoint: the checkpoint signature does not verify",
		"entry 52 of the case log is not a record of case se-stockholm-coord/SE-2026-0042",
		"entry 53: its record, signature, certificate hash and receive time do not hash to "
		"its leaf hash",
		"the relay sent entry 58, not in 0..57 in increasing order",
		"the relay sent entry 60, not in 0..61 in increasing order",
	};
	for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
		log = (struct vigil_case_log *)(void *)&err; /* must be reset to NULL */
		expect_verify(vigil_case_log(c, "se-stockholm-coord/SE-2026-0042", &log, &err), &err, lies[i]);
		assert_null(log);
	}
	rc = vigil_case_log(c, "se-stockholm-coord/SE-2026-0042", &log, &err);
	if (rc != VIGIL_OK)
		fail_msg("after the lies: %d: %s", rc, err.message);
	assert_int_equal(log->n, 3);
	vigil_free(log);

	/* A police status: the first ten fields, nothing else. */
	struct vigil_case_status *st = NULL;
	rc = vigil_case_status(c, "se-stockholm-coord/SE-2026-0042", &st, &err);
	if (rc != VIGIL_OK)
		fail_msg("%d: %s", rc, err.message);
	assert_string_equal(st->case_id, "se-stockholm-coord/SE-2026-0042");
	assert_string_equal(st->view, "police");
	assert_string_equal(st->owner, "se-stockholm-coord");
	assert_string_equal(st->state, "active");
	assert_string_equal(st->responsible, "iom-ru-moscow");
	assert_string_equal(st->risk, "high");
	assert_true(st->minor);
	assert_int_equal(st->last_attempt_ms, AT_MS);
	assert_string_equal(st->last_attempt_channel, "sms");
	assert_string_equal(st->last_attempt_outcome, "undelivered");
	assert_int_equal(st->last_success_ms, 0);
	assert_int_equal(st->alert_stage, 2);
	assert_false(st->full);
	assert_int_equal(st->n_parties, 0);
	assert_int_equal(st->n_factors, 0);
	assert_false(st->has_pending_offer);
	assert_string_equal(st->return_country, "");
	assert_string_equal(st->consent_scope, "");
	assert_string_equal(st->close_reason, "");
	vigil_free(st);
	static const char *const bad_status[] = {
		"it is about another case",
		"a party is not an organisation id",
		"it does not say which view it is",
		"the police view carries fields police do not receive",
		"the offered view carries fields it withholds",
		"the owner is not an organisation id",
	};
	for (size_t i = 0; i < sizeof(bad_status) / sizeof(bad_status[0]); i++) {
		char want[256];
		snprintf(want, sizeof(want), "the relay's status of case "
			 "se-stockholm-coord/SE-2026-0042 is malformed: %s", bad_status[i]);
		st = (struct vigil_case_status *)(void *)&err; /* must be reset to NULL */
		rc = vigil_case_status(c, "se-stockholm-coord/SE-2026-0042", &st, &err);
		if (rc != VIGIL_E_VERIFY || err.status != VIGIL_E_VERIFY ||
		    strcmp(err.message, want) != 0)
			fail_msg("got %d (%s), expected VIGIL_E_VERIFY \"%s\"", rc, err.message, want);
		assert_null(st);
	}
	/* The connection is still good for an honest answer. */
	rc = vigil_case_status(c, "se-stockholm-coord/SE-2026-0042", &st, &err);
	if (rc != VIGIL_OK)
		fail_msg("after the lies: %d: %s", rc, err.message);
	assert_string_equal(st->view, "police");
	vigil_free(st);
	vigil_close(&F.client);
	assert_int_equal(fake_finish(), 0);
	assert_int_equal(F.queries_seen, sizeof(queries) / sizeof(queries[0]));
}

/* A log request that times out is abandoned: its late answer is dropped
 * when it comes, and the connection goes on. */
static void test_fake_late_query(void **state)
{
	(void)state;
	static const enum fake_query queries[] = { QUERY_LATE };
	fake_start_q(WELCOME_HONEST, NULL, 0, queries, 1);
	struct conn_files f;
	struct vigil_options o = options(&f, F.port, "iom-ru-moscow", "ca.crt");
	o.timeout_ms = 500;
	struct vigil_error err;
	assert_int_equal(vigil_connect(&o, &F.client, &err), VIGIL_OK);
	static struct vigil_checkpoint cp;
	int rc = vigil_get_checkpoint(F.client, &cp, &err);
	assert_int_equal(rc, VIGIL_E_CONNECT);
	assert_non_null(strstr(err.message, "timed out after 500 ms while we were waiting for a "
				"checkpoint"));
	int tries = 1;
	while ((rc = vigil_get_checkpoint(F.client, &cp, &err)) == VIGIL_E_CONNECT && tries < 20)
		tries++;
	if (rc != VIGIL_OK)
		fail_msg("after %d timeouts: %d: %s", tries, rc, err.message);
	assert_int_equal(cp.size, FAKE_FIRST_INDEX);
	/* Submissions work as before. */
	struct vigil_contact ct = contact("se-stockholm-coord/SE-2026-0042");
	static struct vigil_receipt r;
	assert_int_equal(vigil_submit_contact(F.client, &ct, &r, &err), VIGIL_OK);
	vigil_close(&F.client);
	assert_int_equal(fake_finish(), 1);
	assert_int_equal(F.queries_seen, (size_t)tries + 1);
}

/* A welcome that does not describe our certificate ends the connection. */
static void test_fake_welcome_lies(void **state)
{
	(void)state;
	struct conn_files f;
	struct vigil_options o;
	fake_start(WELCOME_OTHER_HASH, NULL, 0);
	o = options(&f, F.port, "iom-ru-moscow", "ca.crt");
	expect_connect_fails(&o, VIGIL_E_PROTOCOL,
			     "the relay reports a certificate hash that is not the hash of our "
			     "certificate");
	assert_int_equal(fake_finish(), 0);

	fake_start(WELCOME_OTHER_ORG, NULL, 0);
	o = options(&f, F.port, "iom-ru-moscow", "ca.crt");
	expect_connect_fails(&o, VIGIL_E_PROTOCOL,
			     "the relay sees organisation \"iom-md-chisinau\"; our certificate "
			     "says \"iom-ru-moscow\"");
	assert_int_equal(fake_finish(), 0);
}

/* An answer to a request we never made ends the connection; every later
 * call reports that. */
static void test_fake_wrong_request(void **state)
{
	(void)state;
	static const enum fake_answer answers[] = { FAKE_WRONG_REQUEST };
	fake_start(WELCOME_HONEST, answers, 1);
	F.client = connect_as(F.port, "iom-ru-moscow");
	vigil_client *c = F.client;
	struct vigil_contact ct = contact("se-stockholm-coord/SE-2026-0042");
	struct vigil_receipt r;
	struct vigil_error err;
	assert_int_equal(vigil_submit_contact(c, &ct, &r, &err), VIGIL_E_PROTOCOL);
	assert_string_equal(err.message, "the relay answered request 1002, which is not "
			    "outstanding");
	assert_int_equal(vigil_submit_contact(c, &ct, &r, &err), VIGIL_E_PROTOCOL);
	assert_non_null(strstr(err.message, "unusable after an earlier error"));
	vigil_close(&F.client);
	assert_int_equal(fake_finish(), 1);
}

/* A receive timeout leaves the connection and the submission as they were:
 * the late receipt is still delivered. */
static void test_fake_late_receipt(void **state)
{
	(void)state;
	static const enum fake_answer answers[] = { FAKE_LATE };
	fake_start(WELCOME_HONEST, answers, 1);
	struct conn_files f;
	struct vigil_options o = options(&f, F.port, "iom-ru-moscow", "ca.crt");
	o.timeout_ms = 500;
	struct vigil_error err;
	assert_int_equal(vigil_connect(&o, &F.client, &err), VIGIL_OK);
	vigil_client *c = F.client;
	struct vigil_contact ct = contact("se-stockholm-coord/SE-2026-0042");
	uint8_t *rec, *sig;
	size_t rec_len, sig_len;
	assert_int_equal(vigil_build_contact(c, &ct, &rec, &rec_len, &sig, &sig_len, &err),
			 VIGIL_OK);
	uint64_t sent_id = 0, got_id = 77;
	assert_int_equal(vigil_send_signed(c, rec, rec_len, sig, sig_len, &sent_id, &err),
			 VIGIL_OK);
	struct vigil_receipt r;
	int rc = vigil_recv_receipt(c, &got_id, &r, &err);
	assert_int_equal(rc, VIGIL_E_CONNECT);
	assert_int_equal(got_id, 0);
	assert_non_null(strstr(err.message, "timed out after 500 ms"));
	assert_int_equal(vigil_outstanding(c), 1);
	int timeouts = 1;
	while ((rc = vigil_recv_receipt(c, &got_id, &r, &err)) == VIGIL_E_CONNECT && timeouts < 20)
		timeouts++;
	if (rc != VIGIL_OK)
		fail_msg("after %d timeouts: %d: %s", timeouts, rc, err.message);
	assert_int_equal(got_id, sent_id);
	assert_memory_equal(r.record_id, ct.record_id, VIGIL_RECORD_ID_LEN);
	assert_int_equal(vigil_outstanding(c), 0);
	vigil_free(rec);
	vigil_free(sig);
	vigil_close(&F.client);
	assert_int_equal(fake_finish(), 1);
}

/* ---- alerts from the lying relay -------------------------------------------------------- */

/* Scripts the fake's alerts: r1 after the first Subscribe, r2 after the
 * second; Subscribed says acked. */
/* The DER of PKI_DIR/name in *der (OPENSSL_free); its length. */
static int cert_der(const char *name, unsigned char **der)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/%s", PKI_DIR, name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	*der = NULL;
	int n = i2d_X509(x, der);
	X509_free(x);
	assert_true(n > 0);
	return n;
}

static void fake_alerts_setup(const enum fake_delivery *r1, size_t n1,
			      const enum fake_delivery *r2, size_t n2, uint64_t acked)
{
	free(FA.last);
	EVP_PKEY_free(FA.relay_key);
	EVP_PKEY_free(FA.former_key);
	OPENSSL_free(FA.former_der);
	OPENSSL_free(FA.client_der);
	memset(&FA, 0, sizeof(FA));
	assert_true(n1 < FAKE_ROUND_MAX && n2 < FAKE_ROUND_MAX);
	for (size_t i = 0; i < n1; i++)
		FA.rounds[0][i] = r1[i];
	for (size_t i = 0; i < n2; i++)
		FA.rounds[1][i] = r2[i];
	FA.acked = acked;
	FA.relay_key = read_private_key("relay.key");
	cert_sha256("relay.crt", FA.relay_sha);
	cert_sha256("iom-ru-moscow.crt", FA.client_sha);
	FA.former_key = read_private_key("relay-renewed.key");
	cert_sha256("relay-renewed.crt", FA.former_sha);
	FA.former_der_len = cert_der("relay-renewed.crt", &FA.former_der);
	FA.client_der_len = cert_der("iom-ru-moscow.crt", &FA.client_der);
	for (size_t i = 0; i < RECORD_ID_LEN; i++)
		FA.alert_id[i] = (uint8_t)(0xa0 + i);
}

static int fake_alerts_teardown(void **state)
{
	fake_teardown(state);
	free(FA.last);
	EVP_PKEY_free(FA.relay_key);
	EVP_PKEY_free(FA.former_key);
	OPENSSL_free(FA.former_der);
	OPENSSL_free(FA.client_der);
	FA.former_key = NULL;
	FA.former_der = FA.client_der = NULL;
	FA.last = NULL;
	FA.relay_key = NULL;
	return 0;
}

/* The next alert: VIGIL_OK with the event wanted. */
static void next_event(vigil_client *c, int timeout_ms, struct vigil_alert *a, int event)
{
	struct vigil_error err;
	int rc = vigil_next_alert(c, timeout_ms, a, &err);
	if (rc != VIGIL_OK)
		fail_msg("vigil_next_alert: %d: %s", rc, err.message);
	if (a->event != event)
		fail_msg("event %d, expected %d", a->event, event);
}

/* An alert signed before the relay's certificate was renewed carries that
 * certificate: it verifies when the certificate is the relay
 * organisation's, issued by the federation's CA and hashing to the entry's
 * fingerprint; another organisation's certificate, or one that does not
 * hash to the fingerprint, does not pass. */
static void test_fake_alerts_former_certificate(void **state)
{
	(void)state;
	static const enum fake_delivery r1[] = {
		DELIVER_FORMER, DELIVER_CARRIED_FOREIGN, DELIVER_CARRIED_MISMATCH, DELIVER_HONEST,
	};
	fake_alerts_setup(r1, sizeof(r1) / sizeof(r1[0]), NULL, 0, 0);
	fake_start(WELCOME_HONEST, NULL, 0);
	F.client = connect_as(F.port, "iom-ru-moscow");
	vigil_client *c = F.client;
	struct vigil_error err;
	static struct vigil_alert a;
	uint64_t acked;
	assert_int_equal(vigil_subscribe(c, 0, &acked, &err), VIGIL_OK);
	next_event(c, 2000, &a, VIGIL_EVENT_ALERT);
	assert_int_equal(a.position, FAKE_FIRST_INDEX);
	expect_verify(vigil_next_alert(c, 2000, &a, &err), &err,
		      "carries a certificate of another organisation than the relay's");
	expect_verify(vigil_next_alert(c, 2000, &a, &err), &err,
		      "carries a certificate that does not hash to the entry's fingerprint");
	next_event(c, 2000, &a, VIGIL_EVENT_ALERT);
	assert_int_equal(a.position, FAKE_FIRST_INDEX + 3);
}

/* A delivery must prove itself like a receipt: signed with the key of the
 * relay's certificate (the one of the TLS connection, by hash), its leaf
 * hash, a checkpoint of the checkpoint key and the inclusion proof to it;
 * addressed to us, in order, once.  The forged ones are VIGIL_E_VERIFY
 * and the connection goes on: the honest ones around them are returned,
 * a Lagging report ends the subscription, a second one starts, a refused
 * acknowledgement is reported, and a submission still works. */
static void test_fake_alerts(void **state)
{
	(void)state;
	static const enum fake_delivery r1[] = {
		DELIVER_HONEST, DELIVER_AGAIN, DELIVER_OTHER_KEY, DELIVER_FLIP_PROOF,
		DELIVER_OTHER_CERT, DELIVER_NOT_OURS, DELIVER_ESCALATED, DELIVER_LAGGING,
	};
	static const enum fake_delivery r2[] = { DELIVER_RESOLVED };
	fake_alerts_setup(r1, sizeof(r1) / sizeof(r1[0]), r2, 1, 7);
	fake_start(WELCOME_HONEST, NULL, 0);
	F.client = connect_as(F.port, "iom-ru-moscow");
	vigil_client *c = F.client;
	struct vigil_error err;
	static struct vigil_alert a;
	expect_usage_msg(vigil_next_alert(c, 0, &a, &err), &err,
			 "vigil_next_alert: this connection has not subscribed (vigil_subscribe)");
	uint64_t acked = 99;
	assert_int_equal(vigil_subscribe(c, 40, &acked, &err), VIGIL_OK);
	assert_int_equal(acked, 7);
	expect_usage_msg(vigil_subscribe(c, 40, &acked, &err), &err,
			 "this connection is already subscribed to alerts");
	/* Deliveries that come while we wait for another answer are kept. */
	static struct vigil_checkpoint cp;
	assert_int_equal(vigil_get_checkpoint(c, &cp, &err), VIGIL_OK);
	assert_int_equal(cp.size, FAKE_FIRST_INDEX + 6);

	next_event(c, 0, &a, VIGIL_EVENT_ALERT);
	assert_int_equal(a.position, FAKE_FIRST_INDEX);
	assert_true(a.received_at_ms > 0);
	assert_string_equal(a.case_id, "se-stockholm-coord/SE-2026-0042");
	assert_string_equal(a.kind, "silence");
	assert_int_equal(a.stage, 1);
	assert_memory_equal(a.alert_id, FA.alert_id, RECORD_ID_LEN);
	assert_string_equal(a.alert_id_hex, "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
	assert_int_equal(a.deadline_ms, AT_MS);
	assert_int_equal(a.last_success_ms, 0);
	assert_int_equal(a.failed_attempts, 3);
	assert_int_equal(a.n_recipients, 2);
	assert_string_equal(a.recipients[0], "se-stockholm-coord");
	assert_string_equal(a.recipients[1], "iom-ru-moscow");
	assert_string_equal(a.police, "none");
	assert_string_equal(a.police_advice, "none");
	assert_string_equal(a.resolution, "");
	assert_string_equal(a.cause, "");
	assert_int_equal(a.checkpoint.size, FAKE_FIRST_INDEX + 1);
	uint8_t first_leaf[SHA256_LEN];
	memcpy(first_leaf, a.leaf_hash, SHA256_LEN);

	static const char *const forged[] = {
		"the relay delivered position 41 after 41 (out of order, again, or already "
		"acknowledged)",
		"the signature of the alert at position 42 does not verify with the relay's "
		"certificate",
		"of the alert at position 43 does not lead to the root of the checkpoint of size 44",
		"the alert at position 44 names a certificate that is not the relay's",
		"the alert at position 45 is not addressed to our organisation (iom-ru-moscow)",
	};
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		expect_verify(vigil_next_alert(c, 0, &a, &err), &err, forged[i]);
		assert_int_equal(a.event, VIGIL_EVENT_NONE);
		assert_int_equal(a.position, FAKE_FIRST_INDEX + i); /* as the relay claimed */
		assert_string_equal(a.case_id, "");
	}
	next_event(c, 0, &a, VIGIL_EVENT_ALERT);
	assert_int_equal(a.position, FAKE_FIRST_INDEX + 5);
	assert_int_equal(a.stage, 2);
	assert_string_equal(a.police, "consider");
	assert_string_equal(a.police_advice, "missing-person report to be considered");
	assert_string_equal(a.cause, "handover");
	next_event(c, 0, &a, VIGIL_EVENT_LAGGING);
	assert_int_equal(a.acked, 7);
	/* Nothing more: a timeout is no error. */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	next_event(c, 150, &a, VIGIL_EVENT_NONE);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long waited = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(waited >= 140 && waited < 2000);

	assert_int_equal(vigil_ack_deliveries(c, FAKE_FIRST_INDEX + 5, &err), VIGIL_OK);
	assert_int_equal(vigil_ack_deliveries(c, 1000000, &err), VIGIL_OK);
	/* Lagging ended the subscription: a new one catches up. */
	assert_int_equal(vigil_subscribe(c, FAKE_FIRST_INDEX + 5, &acked, &err), VIGIL_OK);
	int rc = vigil_next_alert(c, 2000, &a, &err);
	assert_int_equal(rc, VIGIL_E_REFUSED);
	assert_string_equal(err.relay_code_name, "BAD_REQUEST");
	assert_string_equal(err.message, "position 1000000 is beyond the log (size 47)");
	next_event(c, 2000, &a, VIGIL_EVENT_ALERT);
	assert_int_equal(a.position, FAKE_FIRST_INDEX + 6);
	assert_int_equal(a.stage, 0);
	assert_string_equal(a.resolution, "contact");
	assert_string_equal(a.cause, "");
	assert_int_equal(a.last_success_ms, AT_MS + 60000);
	assert_memory_equal(a.alert_id, FA.alert_id, RECORD_ID_LEN);
	next_event(c, 100, &a, VIGIL_EVENT_NONE);
	/* The connection still carries submissions. */
	struct vigil_contact ct = contact("se-stockholm-coord/SE-2026-0042");
	static struct vigil_receipt r;
	assert_int_equal(vigil_submit_contact(c, &ct, &r, &err), VIGIL_OK);
	assert_int_equal(r.index, FAKE_FIRST_INDEX + 7);
	vigil_close(&F.client);
	assert_int_equal(fake_finish(), 1);
	assert_int_equal(FA.subscribes, 2);
	assert_int_equal(FA.n_acks, 2);
	assert_int_equal(FA.acks[0], FAKE_FIRST_INDEX + 5);
	assert_int_equal(FA.acks[1], 1000000);
	assert_true(FA.ack_ids[0] != FA.ack_ids[1]);
	assert_memory_equal(first_leaf, F.leaves[FAKE_FIRST_INDEX], SHA256_LEN);
}

/* An Erasure delivered by the relay is verified like an alert (the
 * relay's signature, the proof, addressed to us, authored by the relay)
 * and returned as VIGIL_EVENT_ERASURE with what was erased, why and on
 * whose request; it must name only entries before it; a relay-signed
 * record of any other kind is refused. */
static void test_fake_erasures(void **state)
{
	(void)state;
	static const enum fake_delivery r1[] = {
		DELIVER_ERASURE, DELIVER_ERASURE_OTHER_KEY, DELIVER_ERASURE_NOT_OURS,
		DELIVER_ERASURE_AHEAD, DELIVER_ERASURE_BY_OTHER, DELIVER_CONTACT,
		DELIVER_ERASURE_RETENTION, DELIVER_HONEST,
	};
	fake_alerts_setup(r1, sizeof(r1) / sizeof(r1[0]), NULL, 0, 0);
	fake_start(WELCOME_HONEST, NULL, 0);
	F.client = connect_as(F.port, "iom-ru-moscow");
	vigil_client *c = F.client;
	struct vigil_error err;
	static struct vigil_alert a;
	uint64_t acked;
	assert_int_equal(vigil_subscribe(c, 0, &acked, &err), VIGIL_OK);

	next_event(c, 2000, &a, VIGIL_EVENT_ERASURE);
	assert_int_equal(a.position, FAKE_FIRST_INDEX);
	assert_string_equal(a.kind, "erasure");
	assert_string_equal(a.case_id, "se-stockholm-coord/SE-2026-0042");
	assert_int_equal(a.erase_whole, 0);
	assert_string_equal(a.erase_reason, "data-subject-request");
	assert_string_equal(a.requested_by, "se-stockholm-coord");
	assert_memory_equal(a.request_id, FA.alert_id, RECORD_ID_LEN);
	assert_string_equal(a.erase_reference, "DPO-2026-117");
	assert_int_equal(a.erased_n, 2);
	assert_int_equal(a.erased[0], 3);
	assert_int_equal(a.erased[1], 7);
	assert_int_equal(a.n_recipients, 3);
	assert_string_equal(a.recipients[0], "iom-ru-moscow");
	assert_string_equal(a.recipients[2], "se-stockholm-coord");
	assert_true(a.received_at_ms > 0);
	assert_int_equal(a.checkpoint.size, FAKE_FIRST_INDEX + 1);
	assert_memory_equal(a.leaf_hash, F.leaves[FAKE_FIRST_INDEX], SHA256_LEN);
	/* No alert field is set. */
	assert_int_equal(a.stage, 0);
	assert_string_equal(a.police, "");
	assert_string_equal(a.alert_id_hex, "");

	static const char *const forged[] = {
		"the signature of the alert at position 42 does not verify with the relay's "
		"certificate",
		"the erasure at position 43 is not addressed to our organisation (iom-ru-moscow)",
		"the erasure at position 44 names entry 44, which is not before it",
		"the erasure at position 45 is authored by \"se-stockholm-coord\", not by the "
		"relay's organisation \"vigil-relay\"",
		"the entry delivered at position 46 is neither an alert nor an erasure",
	};
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		expect_verify(vigil_next_alert(c, 2000, &a, &err), &err, forged[i]);
		assert_int_equal(a.event, VIGIL_EVENT_NONE);
		assert_int_equal(a.position, FAKE_FIRST_INDEX + 1 + i);
		assert_int_equal(a.erased_n, 0);
	}
	next_event(c, 2000, &a, VIGIL_EVENT_ERASURE);
	assert_int_equal(a.position, FAKE_FIRST_INDEX + 6);
	assert_int_equal(a.erase_whole, 1);
	assert_string_equal(a.erase_reason, "retention");
	assert_string_equal(a.requested_by, "");
	assert_string_equal(a.erase_reference, "");
	static const uint8_t zeros[RECORD_ID_LEN];
	assert_memory_equal(a.request_id, zeros, RECORD_ID_LEN);
	/* An alert after them is an alert again, with no erasure field. */
	next_event(c, 2000, &a, VIGIL_EVENT_ALERT);
	assert_int_equal(a.position, FAKE_FIRST_INDEX + 7);
	assert_string_equal(a.kind, "silence");
	assert_int_equal(a.erased_n, 0);
	assert_string_equal(a.erase_reason, "");
	vigil_close(&F.client);
	assert_int_equal(fake_finish(), 0); /* no submission */
}

/* The record of an alert and of its acknowledgement, decoded. */
static void test_alert_records_decode(void **state)
{
	(void)state;
	struct vigil_alert_ack ack = { .case_id = "se-stockholm-coord/SE-2026-0042", .decision = "not-filed",
		.reason = "she called her sister" };
	memset(ack.alert_id, 0x5c, sizeof(ack.alert_id));
	struct vigil_error err;
	assert_int_equal(vigil_alert_ack_check(&ack, &err), VIGIL_OK);
	ack.reason = NULL;
	expect_usage_msg(vigil_alert_ack_check(&ack, &err), &err,
			 "the decision \"not-filed\" needs a reason (1-280 bytes of UTF-8)");
	ack.decision = "filed";
	expect_usage_msg(vigil_alert_ack_check(&ack, &err), &err,
			 "unknown decision \"filed\" (one of: police-report-filed, not-filed, other)");
	ack.decision = "police-report-filed";
	assert_int_equal(vigil_alert_ack_check(&ack, &err), VIGIL_OK);
	ack.reason = "\xff\xfe";
	expect_usage_msg(vigil_alert_ack_check(&ack, &err), &err,
			 "invalid alert acknowledgement: reason must be 1-280 bytes of UTF-8");
	ack.reason = "filed at 10:00";

	/* Built and signed like any record, then decoded back. */
	vigil_client *c = connect_as(R.port, "se-stockholm-coord");
	uint8_t *rec = NULL, *sig = NULL;
	size_t rec_len = 0, sig_len = 0;
	assert_int_equal(vigil_build_alert_ack(c, &ack, &rec, &rec_len, &sig, &sig_len, &err),
			 VIGIL_OK);
	assert_non_null(ack.sealed);
	static struct vigil_record_info ri;
	assert_int_equal(vigil_record_decode(rec, rec_len, &ri, &err), VIGIL_OK);
	assert_string_equal(ri.kind, "alert-ack");
	assert_string_equal(ri.author, "se-stockholm-coord");
	assert_memory_equal(ri.alert_id, ack.alert_id, RECORD_ID_LEN);
	assert_string_equal(ri.decision, "police-report-filed");
	/* The reason is sealed: the record names the field, and a reader's
	 * key opens it. */
	assert_string_equal(ri.reason, "");
	assert_string_equal(ri.sealed_field, "reason");
	assert_string_equal(ri.alert_kind, "");
	assert_string_equal(ri.police, "");
	char *text = (char *)"x";
	expect_status_msg(vigil_open_sealed(c, rec, rec_len, ack.sealed, ack.sealed_len, &text,
					    &err),
			  &err, VIGIL_E_SEALED,
			  "no encryption key configured: the sealed acknowledgement reason cannot "
			  "be opened here");
	assert_null(text);
	vigil_client *reader = connect_enc(R.port, "se-stockholm-coord", "se-stockholm-coord");
	assert_int_equal(vigil_open_sealed(reader, rec, rec_len, ack.sealed, ack.sealed_len, &text,
					   &err),
			 VIGIL_OK);
	assert_string_equal(text, "filed at 10:00");
	vigil_free(text);
	vigil_close(&reader);
	vigil_free(rec);
	vigil_free(sig);
	vigil_free(ack.sealed);
	ack.sealed = NULL;
	/* An alert with no open alert to acknowledge is refused by the relay. */
	static struct vigil_receipt r;
	trelay_open_case(&R, "se-stockholm-coord/LV-2026-ALERT");
	ack.case_id = "se-stockholm-coord/LV-2026-ALERT";
	expect_refused(vigil_submit_alert_ack(c, &ack, &r, &err), &err, "BAD_REQUEST", 1,
		       "that alert is not open");
	vigil_close(&c);

	/* An Alert record as the relay writes it. */
	uint8_t id[RECORD_ID_LEN];
	Vigil__V1__Record rr;
	casekit_record(&rr, id, "se-stockholm-coord/SE-2026-0042", "vigil-relay");
	char *to[] = { (char *)"se-stockholm-coord", (char *)"se-police-noa" };
	Vigil__V1__Alert al = VIGIL__V1__ALERT__INIT;
	al.kind = VIGIL__V1__ALERT_KIND__ALERT_KIND_FAILED_ATTEMPTS;
	al.stage = 2;
	al.alert_id.data = ack.alert_id;
	al.alert_id.len = RECORD_ID_LEN;
	al.deadline_ms = 0;
	al.last_success_ms = AT_MS;
	al.failed_attempts = 4;
	al.recipients = to;
	al.n_recipients = 2;
	al.police = VIGIL__V1__POLICE_ADVICE__POLICE_ADVICE_REQUIRED;
	al.resolution = (char *)"";
	rr.body_case = VIGIL__V1__RECORD__BODY_ALERT;
	rr.alert = &al;
	uint8_t buf[512];
	size_t n = vigil__v1__record__get_packed_size(&rr);
	assert_true(n <= sizeof(buf));
	vigil__v1__record__pack(&rr, buf);
	assert_int_equal(vigil_record_decode(buf, n, &ri, &err), VIGIL_OK);
	assert_string_equal(ri.kind, "alert");
	assert_string_equal(ri.alert_kind, "failed_attempts");
	assert_int_equal(ri.alert_stage, 2);
	assert_memory_equal(ri.alert_id, ack.alert_id, RECORD_ID_LEN);
	assert_int_equal(ri.deadline_ms, 0);
	assert_int_equal(ri.last_success_ms, AT_MS);
	assert_int_equal(ri.failed_attempts, 4);
	assert_int_equal(ri.n_recipients, 2);
	assert_string_equal(ri.recipients[1], "se-police-noa");
	assert_string_equal(ri.police, "required");
	assert_string_equal(ri.police_advice, "missing-person report required");
	assert_string_equal(ri.resolution, "");
	assert_string_equal(ri.decision, "");
	assert_string_equal(vigil_ack_decision_name(1), "not-filed");
	assert_null(vigil_ack_decision_name(3));
	assert_string_equal(vigil_alert_kind_name(2), "handover_stalled");
	assert_null(vigil_alert_kind_name(3));
}

/* ---- the command against the lying relay ---------------------------------------------------- */

struct cli_run {
	int status;
	char out[8192];
	char err[8192];
};

static void cli_contact(int port, const char *extra1, const char *extra2, struct cli_run *r)
{
	char relay[64], crt[700], key[700], ca[700], ckey[700];
	snprintf(relay, sizeof(relay), "127.0.0.1:%d", port);
	snprintf(crt, sizeof(crt), "%s/iom-ru-moscow.crt", PKI_DIR);
	snprintf(key, sizeof(key), "%s/iom-ru-moscow.key", PKI_DIR);
	snprintf(ca, sizeof(ca), "%s/ca.crt", PKI_DIR);
	snprintf(ckey, sizeof(ckey), "%s/checkpoint.pub", PKI_DIR);
	const char *argv[24] = { VIGIL_CLI_PATH, "--relay", relay, "--cert", crt, "--key", key,
		"--ca", ca, "--checkpoint-key", ckey, "contact", "--case", "se-stockholm-coord/SE-2026-0042",
		"--channel", "phone", "--outcome", "no-answer" };
	int n = 18;
	if (extra1)
		argv[n++] = extra1;
	if (extra2)
		argv[n++] = extra2;
	argv[n] = NULL;
	r->status = run_capture(argv, NULL, r->out, sizeof(r->out), r->err, sizeof(r->err),
				CLI_TIMEOUT_MS);
}

/* "may have stored" hint with a record id and time to retry with; returns
 * the time. */
static int64_t expect_retry_hint(const char *err)
{
	static const char hint[] = "vigil: the relay may have stored the record; to retry without "
				   "storing it twice, add: --record-id ";
	const char *h = strstr(err, hint);
	if (!h)
		fail_msg("no retry hint in: %s", err);
	char id[40] = "", at[64] = "";
	int end = -1;
	sscanf(h + sizeof(hint) - 1, "%39s --at %63s%n", id, at, &end);
	uint8_t bin[VIGIL_RECORD_ID_LEN];
	int64_t ms = 0;
	if (end < 0 || vigil_hex_decode(id, bin, sizeof(bin)) != VIGIL_OK ||
	    vigil_parse_time(at, &ms) != VIGIL_OK || strcmp(h + sizeof(hint) - 1 + end, "\n") != 0)
		fail_msg("bad retry hint: %s", h);
	return ms;
}

/* (a) through the command: exit 3, the reason, and how to retry safely. */
static void test_cli_fake_relay(void **state)
{
	(void)state;
	static const enum fake_answer flip[] = { FAKE_FLIP_LEAF };
	static const enum fake_answer silent[] = { FAKE_SILENT };
	struct cli_run r;

	fake_start(WELCOME_HONEST, flip, 1);
	cli_contact(F.port, NULL, NULL, &r);
	assert_int_equal(fake_finish(), 1);
	if (r.status != 3)
		fail_msg("exit %d: %s", r.status, r.err);
	assert_string_equal(r.out, "");
	static const char first[] = "vigil: receipt for request 2 has leaf hash ";
	if (strncmp(r.err, first, sizeof(first) - 1) != 0)
		fail_msg("unexpected stderr: %s", r.err);
	expect_retry_hint(r.err);

	fake_start(WELCOME_HONEST, flip, 1);
	cli_contact(F.port, "--json", NULL, &r);
	assert_int_equal(fake_finish(), 1);
	assert_int_equal(r.status, 3);
	static const char json[] = "{\"error\":\"VERIFY\",\"message\":\"receipt for request 2 "
				   "has leaf hash ";
	if (strncmp(r.out, json, sizeof(json) - 1) != 0 || !strchr(r.out, '\n') ||
	    strchr(r.out, '\n')[1] != '\0')
		fail_msg("unexpected stdout: %s", r.out);

	/* With --record-id and --at the user already has what a retry needs. */
	fake_start(WELCOME_HONEST, flip, 1);
	const char *argv_extra = "--record-id=00112233445566778899aabbccddeeff";
	cli_contact(F.port, argv_extra, "--at=2026-11-28T09:15:00Z", &r);
	assert_int_equal(fake_finish(), 1);
	assert_int_equal(r.status, 3);
	assert_null(strstr(r.err, "may have stored"));
	assert_non_null(strstr(r.err, "has leaf hash"));

	/* With --at alone the record id was random: the hint gives it, and the
	 * time given. */
	fake_start(WELCOME_HONEST, flip, 1);
	cli_contact(F.port, "--at=2026-11-28T09:15:00Z", NULL, &r);
	assert_int_equal(fake_finish(), 1);
	assert_int_equal(r.status, 3);
	assert_int_equal(expect_retry_hint(r.err), AT_MS);

	/* The honest fake: the same command succeeds, so exit 3 above is the
	 * lie's doing. */
	fake_start(WELCOME_HONEST, NULL, 0);
	cli_contact(F.port, "--json", NULL, &r);
	assert_int_equal(fake_finish(), 1);
	if (r.status != 0)
		fail_msg("exit %d: %s", r.status, r.err);
	char want[64];
	snprintf(want, sizeof(want), "{\"index\":%u,", FAKE_FIRST_INDEX);
	assert_int_equal(strncmp(r.out, want, strlen(want)), 0);

	/* No answer at all: a bounded wait, exit 3 and the retry hint. */
	fake_start(WELCOME_HONEST, silent, 1);
	cli_contact(F.port, "--timeout", "500", &r);
	assert_int_equal(fake_finish(), 1);
	assert_int_equal(r.status, 3);
	char timed_out[128];
	snprintf(timed_out, sizeof(timed_out), "vigil: relay 127.0.0.1:%d: timed out after 500 ms "
		 "while we were waiting for a receipt\n", F.port);
	if (strncmp(r.err, timed_out, strlen(timed_out)) != 0)
		fail_msg("unexpected stderr: %s", r.err);
	expect_retry_hint(r.err);
}

/* "vigil alerts" against the lying relay: the honest alert is printed and
 * acknowledged, the forged one after it is exit 3 with the reason, and
 * is neither printed nor acknowledged. */
static void test_cli_fake_alerts(void **state)
{
	(void)state;
	static const enum fake_delivery r1[] = { DELIVER_HONEST, DELIVER_OTHER_KEY,
						 DELIVER_HONEST };
	fake_alerts_setup(r1, 3, NULL, 0, 0);
	fake_start(WELCOME_HONEST, NULL, 0);
	char relay[64], crt[700], key[700], ca[700], ckey[700];
	snprintf(relay, sizeof(relay), "127.0.0.1:%d", F.port);
	snprintf(crt, sizeof(crt), "%s/iom-ru-moscow.crt", PKI_DIR);
	snprintf(key, sizeof(key), "%s/iom-ru-moscow.key", PKI_DIR);
	snprintf(ca, sizeof(ca), "%s/ca.crt", PKI_DIR);
	snprintf(ckey, sizeof(ckey), "%s/checkpoint.pub", PKI_DIR);
	const char *argv[] = { VIGIL_CLI_PATH, "--relay", relay, "--cert", crt, "--key", key,
		"--ca", ca, "--checkpoint-key", ckey, "alerts", NULL };
	static struct cli_run r;
	r.status = run_capture(argv, NULL, r.out, sizeof(r.out), r.err, sizeof(r.err),
			       CLI_TIMEOUT_MS);
	assert_int_equal(fake_finish(), 0);
	if (r.status != 3)
		fail_msg("exit %d: %s", r.status, r.err);
	assert_string_equal(r.err, "vigil: the signature of the alert at position 42 does not "
				   "verify with the relay's certificate\n");
	static const char first[] = "41 ";
	assert_true(strncmp(r.out, first, strlen(first)) == 0);
	if (!strstr(r.out, " se-stockholm-coord/SE-2026-0042 silence stage 1; alert: "
				      "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf; police: none; deadline "
				      "missed: 2026-11-28T09:15:00.000Z; last success: none; "
				      "failed attempts: 3; recipients: se-stockholm-coord, "
				      "iom-ru-moscow\n"))
		fail_msg("unexpected alert line: %s", r.out);
	assert_int_equal(strchr(r.out, '\n') - r.out + 1, (long)strlen(r.out)); /* one line */
	assert_int_equal(FA.subscribes, 1);
	assert_int_equal(FA.n_acks, 1);
	assert_int_equal(FA.acks[0], FAKE_FIRST_INDEX);
	assert_int_equal(F.queries_seen, 1); /* the checkpoint after the acknowledgement */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_welcome),
		cmocka_unit_test(test_submit_contact),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_connect_failures),
		cmocka_unit_test(test_checkpoint_key_load),
		cmocka_unit_test(test_receipt_verifies),
		cmocka_unit_test(test_log_queries),
		cmocka_unit_test(test_case_api),
		cmocka_unit_test(test_case_log_paging),
		cmocka_unit_test_teardown(test_fake_relay_honest, fake_teardown),
		cmocka_unit_test_teardown(test_fake_relay_lies, fake_teardown),
		cmocka_unit_test_teardown(test_fake_relay_duplicate_certificates, fake_dup_teardown),
		cmocka_unit_test_teardown(test_fake_relay_checkpoint_lies, fake_teardown),
		cmocka_unit_test_teardown(test_fake_relay_query_lies, fake_teardown),
		cmocka_unit_test_teardown(test_fake_welcome_lies, fake_teardown),
		cmocka_unit_test_teardown(test_fake_wrong_request, fake_teardown),
		cmocka_unit_test_teardown(test_fake_late_receipt, fake_teardown),
		cmocka_unit_test_teardown(test_fake_late_query, fake_teardown),
		cmocka_unit_test_teardown(test_fake_case_queries, fake_teardown),
		cmocka_unit_test_teardown(test_fake_members, fake_teardown),
		cmocka_unit_test_teardown(test_fake_seal_readers, fake_teardown),
		cmocka_unit_test_teardown(test_fake_case_log_pages, fake_teardown),
		cmocka_unit_test_teardown(test_cli_fake_relay, fake_teardown),
		cmocka_unit_test_teardown(test_fake_alerts_former_certificate, fake_alerts_teardown),
		cmocka_unit_test_teardown(test_fake_alerts, fake_alerts_teardown),
		cmocka_unit_test_teardown(test_fake_erasures, fake_alerts_teardown),
		cmocka_unit_test_teardown(test_cli_fake_alerts, fake_alerts_teardown),
		cmocka_unit_test(test_alert_records_decode),
	};
	return cmocka_run_group_tests_name("libvigil", tests, group_setup, group_teardown);
}
