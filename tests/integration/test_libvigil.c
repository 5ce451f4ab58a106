/*
 * libvigil against the real relay (connect, welcome, submissions, pipelining,
 * duplicates, refusals, connection failures) and against a lying one: a fake
 * relay inside this test, a blocking OpenSSL TLS 1.3 server in a thread,
 * that answers with receipts which must not verify, and once honestly so
 * that the fake itself is shown to be right.
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

#include "harness.h"
#include "proto/status.h"

#define AT_MS 1795857300000LL   /* 2026-11-28T09:15:00Z */
#define RELAY_MAX_FRAME 65536   /* configured, so the welcome must carry it */
#define CLI_TIMEOUT_MS 30000

static struct trelay R; /* the real relay, shared by every test */

/* ---- connecting ---------------------------------------------------------------- */

struct conn_files {
	char port[16];
	char cert[700];
	char key[700];
	char ca[700];
};

static struct vigil_options options(struct conn_files *f, int port, const char *who,
				    const char *ca)
{
	snprintf(f->port, sizeof(f->port), "%d", port);
	snprintf(f->cert, sizeof(f->cert), "%s/%s.crt", PKI_DIR, who);
	snprintf(f->key, sizeof(f->key), "%s/%s.key", PKI_DIR, who);
	snprintf(f->ca, sizeof(f->ca), "%s/%s", PKI_DIR, ca);
	struct vigil_options o = { .host = "127.0.0.1", .port = f->port, .cert_file = f->cert,
		.key_file = f->key, .ca_file = f->ca };
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
	return trelay_start(&R);
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
	struct vigil_contact ct = contact("SE-2026-0042");
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
	snprintf(sql, sizeof(sql), "SELECT author = 'iom-ru-moscow' AND case_id = 'SE-2026-0042' "
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
			struct vigil_contact ct = contact("SE-2026-0100");
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
	struct vigil_contact ct = contact("SE-2026-0042");
	ct.attempted_at_ms = AT_MS;
	ct.client_time_ms = AT_MS;
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
	struct vigil_contact fresh = contact("SE-2026-0042");
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
	struct vigil_contact ct = contact("SE-2026-0042");
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
	ct = contact("SE-2026-0042");
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

	assert_int_equal(entries(), before);
	if (!trelay_log_has(&R, "certificate revoked", 3000))
		fail_msg("relay log lacks the revoked certificate");
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
};

#define FAKE_FIRST_INDEX 41u
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
	vigil_client *client;         /* the test's client, closed by fake_teardown */
	uint64_t next_index;
	/* Read by the test only after the thread ended. */
	int submits;
	char failure[512];            /* why the fake itself failed; "" if it did not */
};

static struct fake F; /* static: a failed test must not leave the thread a dead frame */

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
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

	int dup = mode == FAKE_HONEST_DUP || mode == FAKE_DUP_NO_SIG || mode == FAKE_DUP_BAD_SIG;
	const uint8_t *sig = sr->signature.data;
	size_t sig_len = sr->signature.len;
	uint8_t *own = NULL;
	size_t own_len = 0;
	if (mode == FAKE_HONEST_DUP) {
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
	if (entry_leaf_encode(at, cert_sha, rec, rec_len, sig, sig_len, &leaf, &leaf_len) != VG_OK)
		fake_fail("fake relay: entry_leaf_encode");
	merkle_leaf_hash(leaf, leaf_len, hash);
	free(leaf);
	if (mode == FAKE_FLIP_LEAF)
		hash[13] ^= 0x20;
	if (mode == FAKE_OTHER_ID)
		id[0] ^= 0x80;

	Vigil__V1__Receipt r = VIGIL__V1__RECEIPT__INIT;
	r.index = F.next_index++;
	r.received_at_ms = at;
	r.leaf_hash.data = hash;
	r.leaf_hash.len = SHA256_LEN;
	r.record_id.data = id;
	r.record_id.len = RECORD_ID_LEN;
	r.duplicate = dup;
	if (dup) {
		r.stored_cert_sha256.data = (uint8_t *)cert_sha;
		r.stored_cert_sha256.len = SHA256_LEN;
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
		if (in->msg_case != VIGIL__V1__FRAME__MSG_SUBMIT) {
			fake_fail("fake relay: frame of type %d", (int)in->msg_case);
			frame_free(in);
			break;
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

/* Starts a fake relay for one connection that answers its Submits with
 * answers[0..n-1], then honestly. */
static void fake_start(enum fake_welcome welcome, const enum fake_answer *answers, size_t n)
{
	assert_false(F.running);
	assert_null(F.client);
	memset(&F, 0, sizeof(F));
	F.welcome = welcome;
	assert_true(n <= sizeof(F.answers) / sizeof(F.answers[0]));
	for (size_t i = 0; i < n; i++)
		F.answers[i] = answers[i];
	F.n_answers = n;
	F.next_index = FAKE_FIRST_INDEX;
	char key[700];
	snprintf(key, sizeof(key), "%s/iom-ru-moscow.key", PKI_DIR);
	FILE *kf = fopen(key, "r");
	assert_non_null(kf);
	F.key = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
	fclose(kf);
	assert_non_null(F.key);

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

/* Waits for the fake to finish its connection; returns how many Submits it
 * saw.  The fake's own failures fail the test. */
static int fake_finish(void)
{
	assert_true(F.running);
	assert_int_equal(pthread_join(F.thread, NULL), 0);
	F.running = 0;
	close(F.listen_fd);
	EVP_PKEY_free(F.key);
	F.key = NULL;
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
		EVP_PKEY_free(F.key);
		F.key = NULL;
	}
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

	struct vigil_contact ct = contact("SE-2026-0042");
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
		struct vigil_contact ct = contact("SE-2026-0042");
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
	struct vigil_contact ct = contact("SE-2026-0042");
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
	struct vigil_contact ct = contact("SE-2026-0042");
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
	struct vigil_contact ct = contact("SE-2026-0042");
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

/* ---- the command against the lying relay ---------------------------------------------------- */

struct cli_run {
	int status;
	char out[8192];
	char err[8192];
};

static void cli_contact(int port, const char *extra1, const char *extra2, struct cli_run *r)
{
	char relay[64], crt[700], key[700], ca[700];
	snprintf(relay, sizeof(relay), "127.0.0.1:%d", port);
	snprintf(crt, sizeof(crt), "%s/iom-ru-moscow.crt", PKI_DIR);
	snprintf(key, sizeof(key), "%s/iom-ru-moscow.key", PKI_DIR);
	snprintf(ca, sizeof(ca), "%s/ca.crt", PKI_DIR);
	const char *argv[24] = { VIGIL_CLI_PATH, "--relay", relay, "--cert", crt, "--key", key,
		"--ca", ca, "contact", "--case", "SE-2026-0042", "--channel", "phone",
		"--outcome", "no-answer" };
	int n = 16;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_welcome),
		cmocka_unit_test(test_submit_contact),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_connect_failures),
		cmocka_unit_test_teardown(test_fake_relay_honest, fake_teardown),
		cmocka_unit_test_teardown(test_fake_relay_lies, fake_teardown),
		cmocka_unit_test_teardown(test_fake_welcome_lies, fake_teardown),
		cmocka_unit_test_teardown(test_fake_wrong_request, fake_teardown),
		cmocka_unit_test_teardown(test_fake_late_receipt, fake_teardown),
		cmocka_unit_test_teardown(test_cli_fake_relay, fake_teardown),
	};
	return cmocka_run_group_tests_name("libvigil", tests, group_setup, group_teardown);
}
