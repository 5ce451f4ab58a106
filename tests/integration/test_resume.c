/*
 * TLS 1.3 session resumption against a real relay (issue 12): a saved
 * session resumes with the same identity and serves requests; after a
 * reload that revokes an organisation (CRL) or removes it (directory) its
 * ticket no longer resumes and the full handshake that follows is refused
 * as usual, while another organisation's older ticket still resumes; a
 * ticket past [tls] ticket_lifetime is refused by the relay even when the
 * client offers it; with ticket_lifetime = off nothing resumes; libvigil
 * offers its last session when it connects again.
 *
 * Each test runs its own relay, whose CRL and directory are copies in its
 * scratch directory; the CRL is made here with the PKI's CA key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "client/internal.h"
#include "harness.h"
#include "pkikit.h"

/* ---- a relay whose CRL and directory the test may change ------------------------- */

struct relay_files {
	char crl[700];
	char dir[700];
};

/* Starts t with its own CRL (revoking the PKI's "revoked") and directory,
 * and tls_extra (NULL: none) as more [tls] lines. */
static void relay_up(struct trelay *t, struct relay_files *rf, const char *tls_extra)
{
	static const char *const base[] = { "revoked", NULL };
	char from[700], to[1200];
	trelay_setup(t, NULL, NULL);
	snprintf(rf->crl, sizeof(rf->crl), "%s/crl.pem", t->dir);
	pkikit_write_crl(rf->crl, base);
	snprintf(rf->dir, sizeof(rf->dir), "%s/directory.conf", t->dir);
	pkikit_copy_directory(rf->dir, NULL);
	snprintf(from, sizeof(from), "crl = %s\n", pki("crl.pem"));
	snprintf(to, sizeof(to), "crl = %s\n%s", rf->crl, tls_extra ? tls_extra : "");
	file_replace(t->conf, from, to);
	snprintf(from, sizeof(from), "%s", pki("directory.conf"));
	file_replace(t->conf, from, rf->dir);
	assert_int_equal(trelay_start(t), 0);
}

/* How often needle occurs in the relay's log. */
static int log_count(struct trelay *t, const char *needle)
{
	FILE *f = fopen(t->log, "r");
	if (!f)
		return 0;
	int n = 0;
	char line[2048];
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* SIGHUP, then waits for the reload's check of live sessions to end. */
static void reload(struct trelay *t)
{
	int before = log_count(t, "reload: ");
	assert_int_equal(kill(t->pid, SIGHUP), 0);
	for (int i = 0; i < 500 && log_count(t, "reload: ") == before; i++)
		usleep(10 * 1000);
	if (log_count(t, "reload: ") == before)
		fail_msg("the relay did not reload within 5 s");
	assert_int_equal(log_count(t, "reload failed"), 0);
}

/* ---- a raw client that keeps the relay's ticket ---------------------------------- */

/* The newest ticket the relay sent on the connection being read. */
static SSL_SESSION *latest;

static int on_ticket(SSL *ssl, SSL_SESSION *sess)
{
	(void)ssl;
	SSL_SESSION_free(latest);
	/* A copy: OpenSSL marks the session of a connection freed without
	 * close_notify (as tclient_close does) as not resumable. */
	latest = SSL_SESSION_dup(sess);
	return 0;
}

/* TCP + TLS 1.3 as PKI_DIR/<cert>, ALPN vigil/1, offering offer (NULL:
 * none): 0, or -1 with c->err. */
static int rconnect(struct tclient *c, int port, const char *cert, SSL_SESSION *offer)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->next_id = 1;
	c->ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(c->ctx);
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_3_VERSION);
	SSL_CTX_load_verify_locations(c->ctx, pki("ca.crt"), NULL);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_CLIENT |
						       SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(c->ctx, on_ticket);
	char crt[128], key[128], path[700];
	snprintf(crt, sizeof(crt), "%s.crt", cert);
	snprintf(key, sizeof(key), "%s.key", cert);
	snprintf(path, sizeof(path), "%s", pki(crt));
	assert_int_equal(SSL_CTX_use_certificate_file(c->ctx, path, SSL_FILETYPE_PEM), 1);
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
	c->fd = tcp_connect_port(port);
	if (c->fd < 0) {
		snprintf(c->err, sizeof(c->err), "connect: %s", strerror(errno));
		return -1;
	}
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	c->ssl = SSL_new(c->ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set1_host(c->ssl, "localhost");
	if (offer) {
		/* A copy, as the connection would mark the one it used not
		 * resumable when freed without close_notify. */
		SSL_SESSION *copy = SSL_SESSION_dup(offer);
		assert_non_null(copy);
		assert_int_equal(SSL_set_session(c->ssl, copy), 1);
		SSL_SESSION_free(copy);
	}
	SSL_SESSION_free(latest);
	latest = NULL;
	if (SSL_connect(c->ssl) != 1) {
		unsigned long e = ERR_peek_last_error();
		snprintf(c->err, sizeof(c->err), "handshake: %s",
			 e ? ERR_reason_error_string(e) : "eof");
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* Connects offering offer, says hello (the welcome must name the client
 * as its certificate does) and asks for the checkpoint (a request the
 * relay answers only to an identified client).  Returns whether the
 * session was resumed; the relay's new ticket is in latest. */
static int session_served(int port, const char *cert, SSL_SESSION *offer)
{
	struct tclient c;
	if (rconnect(&c, port, cert, offer) != 0)
		fail_msg("%s: %s", cert, c.err);
	int resumed = SSL_session_reused(c.ssl);
	Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
	h.protocol_version = 1;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_HELLO;
	f.hello = &h;
	Vigil__V1__Frame *w = tclient_roundtrip(&c, &f);
	if (!w)
		fail_msg("%s: hello: %s", cert, c.err);
	assert_int_equal(w->msg_case, VIGIL__V1__FRAME__MSG_WELCOME);
	assert_non_null(w->welcome->peer);
	assert_string_equal(w->welcome->peer->organisation, c.org);
	assert_int_equal(w->welcome->peer->cert_sha256.len, SHA256_LEN);
	assert_memory_equal(w->welcome->peer->cert_sha256.data, c.cert_sha256, SHA256_LEN);
	frame_free(w);
	Vigil__V1__GetCheckpoint g = VIGIL__V1__GET_CHECKPOINT__INIT;
	Vigil__V1__Frame q = VIGIL__V1__FRAME__INIT;
	q.msg_case = VIGIL__V1__FRAME__MSG_GET_CHECKPOINT;
	q.get_checkpoint = &g;
	Vigil__V1__Frame *a = tclient_roundtrip(&c, &q);
	if (!a)
		fail_msg("%s: GetCheckpoint: %s", cert, c.err);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CHECKPOINT);
	frame_free(a);
	if (!latest)
		fail_msg("%s: the relay sent no session ticket", cert);
	tclient_close(&c);
	return resumed;
}

/* A fresh ticket of cert's (a full handshake, served). */
static SSL_SESSION *ticket_of(int port, const char *cert)
{
	assert_int_equal(session_served(port, cert, NULL), 0);
	SSL_SESSION *s = latest;
	latest = NULL;
	return s;
}

/* Offers s as cert: the relay must not resume it, and the full handshake
 * that follows must be refused with client_err (in what the client sees)
 * and relay_log (in the relay's log). */
static void refused(struct trelay *t, const char *cert, SSL_SESSION *s, const char *client_err,
		    const char *relay_log)
{
	struct tclient c;
	int rc = rconnect(&c, t->port, cert, s);
	if (rc == 0)
		assert_int_equal(SSL_session_reused(c.ssl), 0);
	/* TLS 1.3: the client's handshake ends before the relay has looked
	 * at its certificate; the refusal arrives with the first read. */
	if (rc == 0)
		rc = tclient_hello(&c);
	if (rc == 0)
		fail_msg("%s: served after the reload", cert);
	if (!strstr(c.err, client_err))
		fail_msg("%s: the client saw \"%s\", expected \"%s\"", cert, c.err, client_err);
	tclient_close(&c);
	if (!trelay_log_has(t, relay_log, 3000))
		fail_msg("the relay's log lacks \"%s\"", relay_log);
}

/* ---- the tests ------------------------------------------------------------------- */

/* A second connection with the saved session resumes, as the same
 * organisation with the same certificate, and is served; so does one with
 * the ticket issued on a resumed connection. */
static void test_resume_same_identity(void **state)
{
	(void)state;
	struct trelay t;
	struct relay_files rf;
	relay_up(&t, &rf, NULL);
	SSL_SESSION *s = ticket_of(t.port, "iom-ru-moscow");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(session_served(t.port, "iom-ru-moscow", s), 1);
		SSL_SESSION_free(s);
		s = latest;
		latest = NULL;
	}
	SSL_SESSION_free(s);
	assert_true(trelay_log_has(&t, "iom-ru-moscow (iom, RU) connected, session resumed", 2000));
	assert_int_equal(log_count(&t, "connected, session resumed"), 3);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/* After a reload that revokes one organisation and removes another from
 * the directory, neither resumes and both full handshakes are refused;
 * a third organisation's ticket from before the reload still resumes. */
static void test_revoked_cannot_resume(void **state)
{
	(void)state;
	struct trelay t;
	struct relay_files rf;
	relay_up(&t, &rf, NULL);
	SSL_SESSION *revoked = ticket_of(t.port, "other-iom");    /* iom-md-chisinau */
	SSL_SESSION *removed = ticket_of(t.port, "se-shelter-1");
	SSL_SESSION *stays = ticket_of(t.port, "iom-ru-moscow");
	/* Before the reload, all three resume. */
	SSL_SESSION *again[3];
	assert_int_equal(session_served(t.port, "other-iom", revoked), 1);
	again[0] = latest;
	latest = NULL;
	assert_int_equal(session_served(t.port, "se-shelter-1", removed), 1);
	again[1] = latest;
	latest = NULL;
	assert_int_equal(session_served(t.port, "iom-ru-moscow", stays), 1);
	again[2] = latest;
	latest = NULL;

	static const char *const crl[] = { "revoked", "other-iom", NULL };
	pkikit_write_crl(rf.crl, crl);
	pkikit_copy_directory(rf.dir, "se-shelter-1");
	reload(&t);

	refused(&t, "other-iom", revoked, "certificate revoked",
		"session ticket of iom-md-chisinau refused: certificate at depth 0: "
		"certificate revoked; a full handshake follows");
	assert_true(trelay_log_has(&t, "handshake failed: certificate at depth 0: certificate "
				       "revoked", 2000));
	/* The ticket issued on a resumed connection is refused alike. */
	refused(&t, "other-iom", again[0], "certificate revoked",
		"session ticket of iom-md-chisinau refused");
	refused(&t, "se-shelter-1", removed, "alert",
		"session ticket of se-shelter-1 refused: organisation se-shelter-1 is not a "
		"member; a full handshake follows");
	assert_true(trelay_log_has(&t, "handshake failed: organisation se-shelter-1 is not a "
				       "member", 2000));
	refused(&t, "se-shelter-1", again[1], "alert", "session ticket of se-shelter-1 refused");
	assert_int_equal(log_count(&t, "session ticket of iom-md-chisinau refused"), 2);
	assert_int_equal(log_count(&t, "session ticket of se-shelter-1 refused"), 2);
	/* The ticket keys outlived the reload: a member in good standing
	 * resumes with a ticket from before it. */
	assert_int_equal(session_served(t.port, "iom-ru-moscow", again[2]), 1);
	SSL_SESSION_free(latest);
	latest = NULL;
	SSL_SESSION_free(revoked);
	SSL_SESSION_free(removed);
	SSL_SESSION_free(stays);
	for (int i = 0; i < 3; i++)
		SSL_SESSION_free(again[i]);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A ticket older than ticket_lifetime is refused by the relay, even when
 * the client offers it (OpenSSL's client alone would not: the session's
 * time is moved forward here so that it does).  The ticket is taken just
 * after a key rotation (the relay logs each at debug level), so that the
 * key that sealed it is still held when the ticket expires (keys rotate
 * every half lifetime and are kept a lifetime longer): the refusal is the
 * age rule's, not a missing key's. */
static void test_expired_ticket(void **state)
{
	(void)state;
	struct trelay t;
	struct relay_files rf;
	relay_up(&t, &rf, "ticket_lifetime = 2s\n");
	const char *rotated = "session ticket keys: a new key";
	int n = log_count(&t, rotated);
	for (int i = 0; i < 300 && log_count(&t, rotated) == n; i++)
		usleep(10 * 1000);
	assert_true(log_count(&t, rotated) > n);
	int64_t issued = now_ms();
	SSL_SESSION *s = ticket_of(t.port, "iom-ru-moscow");
	/* Still young: it resumes (and a fresh ticket comes back). */
	assert_int_equal(session_served(t.port, "iom-ru-moscow", s), 1);
	SSL_SESSION_free(latest);
	latest = NULL;
	/* 2.4 s after it was issued: past its lifetime, its key still held. */
	int64_t wait = issued + 2400 - now_ms();
	if (wait > 0)
		usleep((useconds_t)wait * 1000);
	assert_int_equal(SSL_SESSION_set_time(s, (long)time(NULL)), (long)time(NULL));
	assert_int_equal(session_served(t.port, "iom-ru-moscow", s), 0);
	SSL_SESSION_free(latest);
	latest = NULL;
	assert_true(trelay_log_has(&t, "session ticket of iom-ru-moscow refused: issued 2 s ago, "
				       "its lifetime is 2 s; a full handshake follows", 2000));
	SSL_SESSION_free(s);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/* ticket_lifetime = off: no ticket is sent, none resumes. */
static void test_tickets_off(void **state)
{
	(void)state;
	struct trelay t;
	struct relay_files rf;
	relay_up(&t, &rf, "ticket_lifetime = off\n");
	struct tclient c;
	if (tclient_open(&c, t.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	tclient_close(&c);
	if (rconnect(&c, t.port, "iom-ru-moscow", NULL) != 0)
		fail_msg("%s", c.err);
	assert_int_equal(tclient_hello(&c), 0);
	assert_null(latest);
	tclient_close(&c);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/* ---- libvigil ---------------------------------------------------------------------- */

static vigil_client *lv_connect(int port, const char *who)
{
	char p[16], cert[700], key[700], ca[700], ckey[700];
	snprintf(p, sizeof(p), "%d", port);
	snprintf(cert, sizeof(cert), "%s/%s.crt", PKI_DIR, who);
	snprintf(key, sizeof(key), "%s/%s.key", PKI_DIR, who);
	snprintf(ca, sizeof(ca), "%s/ca.crt", PKI_DIR);
	snprintf(ckey, sizeof(ckey), "%s/checkpoint.pub", PKI_DIR);
	struct vigil_options o = { .host = "127.0.0.1", .port = p, .cert_file = cert,
		.key_file = key, .ca_file = ca, .checkpoint_key = ckey };
	struct vigil_error err;
	vigil_client *c = NULL;
	if (vigil_connect(&o, &c, &err) != VIGIL_OK)
		fail_msg("vigil_connect as %s: %s", who, err.message);
	return c;
}

static void lv_served(vigil_client *c)
{
	struct vigil_checkpoint cp;
	struct vigil_error err;
	if (vigil_get_checkpoint(c, &cp, &err) != VIGIL_OK)
		fail_msg("vigil_get_checkpoint: %s", err.message);
}

/* libvigil offers the ticket of its last connection to the same relay as
 * the same organisation when it connects again (as `vigil alerts
 * --follow` does after a lost connection). */
static void test_libvigil_resumes(void **state)
{
	(void)state;
	struct trelay t;
	struct relay_files rf;
	relay_up(&t, &rf, NULL);
	vigil__tls_sessions_clear();
	vigil_client *c = lv_connect(t.port, "iom-ru-moscow");
	assert_int_equal(vigil__tls_resumed(c), 0);
	lv_served(c);
	vigil_close(&c);
	for (int i = 0; i < 2; i++) {
		c = lv_connect(t.port, "iom-ru-moscow");
		assert_int_equal(vigil__tls_resumed(c), 1);
		assert_string_equal(vigil_client_welcome(c)->peer.organisation, "iom-ru-moscow");
		lv_served(c);
		vigil_close(&c);
	}
	/* Another organisation has no session of its own to offer. */
	c = lv_connect(t.port, "se-stockholm-coord");
	assert_int_equal(vigil__tls_resumed(c), 0);
	vigil_close(&c);
	assert_int_equal(log_count(&t, "iom-ru-moscow (iom, RU) connected, session resumed"), 2);
	/* Revoked since: the saved ticket is refused, and so is the client. */
	static const char *const crl[] = { "revoked", "iom-ru-moscow", NULL };
	pkikit_write_crl(rf.crl, crl);
	reload(&t);
	char p[16], cert[700], key[700], ca[700], ckey[700];
	snprintf(p, sizeof(p), "%d", t.port);
	snprintf(cert, sizeof(cert), "%s/iom-ru-moscow.crt", PKI_DIR);
	snprintf(key, sizeof(key), "%s/iom-ru-moscow.key", PKI_DIR);
	snprintf(ca, sizeof(ca), "%s/ca.crt", PKI_DIR);
	snprintf(ckey, sizeof(ckey), "%s/checkpoint.pub", PKI_DIR);
	struct vigil_options o = { .host = "127.0.0.1", .port = p, .cert_file = cert,
		.key_file = key, .ca_file = ca, .checkpoint_key = ckey };
	struct vigil_error err;
	assert_int_not_equal(vigil_connect(&o, &c, &err), VIGIL_OK);
	assert_null(c);
	if (!strstr(err.message, "certificate revoked"))
		fail_msg("vigil_connect said \"%s\"", err.message);
	assert_true(trelay_log_has(&t, "session ticket of iom-ru-moscow refused: certificate at "
				       "depth 0: certificate revoked", 2000));
	vigil__tls_sessions_clear();
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resume_same_identity),
		cmocka_unit_test(test_revoked_cannot_resume),
		cmocka_unit_test(test_expired_ticket),
		cmocka_unit_test(test_tickets_off),
		cmocka_unit_test(test_libvigil_resumes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
