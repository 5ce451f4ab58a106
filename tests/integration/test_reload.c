/*
 * Reload on SIGHUP against a real relay (issue 10, section 1): a CRL that
 * now revokes a connected subscriber closes its session within a second
 * while a good subscriber keeps its session and its deliveries; a broken
 * certificate or directory keeps everything as it was and the log says
 * why; a directory without an organisation closes its sessions; a
 * certificate that expires while connected is closed when it expires;
 * settings that need a restart are reported as ignored.
 *
 * The CRL and the short-lived certificate are made here with the PKI's CA
 * key (certs/mkpki.sh made it), each test in its own scratch directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "alertkit.h"
#include "harness.h"
#include "pkikit.h"

#define OWNER "se-stockholm-coord/"

/* A client certificate of iom-md-chisinau (other-iom's key) from the
 * PKI's CA that expires in `seconds`: base.crt and base.key. */
static void write_short_cert(const char *base, int seconds)
{
	X509 *ca = pkikit_read_cert(pki("ca.crt"));
	EVP_PKEY *cakey = pkikit_read_key(pki("ca.key"));
	X509 *like = pkikit_read_cert(pki("other-iom.crt"));
	EVP_PKEY *key = pkikit_read_key(pki("other-iom.key"));
	X509 *x = X509_new();
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL));
	X509_set_issuer_name(x, X509_get_subject_name(ca));
	X509_set_subject_name(x, X509_get_subject_name(like));
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), seconds);
	X509_set_pubkey(x, key);
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage, "clientAuth");
	assert_non_null(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, "critical,digitalSignature");
	assert_non_null(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(x, cakey, EVP_sha256()) > 0);
	char path[800];
	snprintf(path, sizeof(path), "%s.crt", base);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	snprintf(path, sizeof(path), "%s.key", base);
	f = fopen(path, "w");
	assert_non_null(f);
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(path, 0600);
	X509_free(x);
	X509_free(like);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A relay whose CRL and directory are copies in its scratch directory. */
static void relay_up(struct trelay *t, const char *extra, char *crl, size_t crl_len,
		     char *dir, size_t dir_len)
{
	char tmp[600];
	trelay_setup(t, NULL, extra);
	snprintf(crl, crl_len, "%s/crl.pem", t->dir);
	pkikit_write_crl(crl, (const char *const[]){ "revoked", NULL });
	snprintf(dir, dir_len, "%s/directory.conf", t->dir);
	pkikit_copy_directory(dir, NULL);
	snprintf(tmp, sizeof(tmp), "%s", pki("crl.pem"));
	file_replace(t->conf, tmp, crl);
	snprintf(tmp, sizeof(tmp), "%s", pki("directory.conf"));
	file_replace(t->conf, tmp, dir);
	assert_int_equal(trelay_start(t), 0);
}

/* A CRL that revokes a connected subscriber: its session is closed within
 * a second, it connects no more; a good subscriber keeps its session and
 * its deliveries. */
static void test_revoked_subscriber(void **state)
{
	(void)state;
	struct trelay t;
	char crl[700], dir[700];
	relay_up(&t, "[watchdog]\nhigh = 4s\nmedium = 1h\nlow = 1h\nescalate_after = 1h\n", crl,
		 sizeof(crl), dir, sizeof(dir));
	struct alertkit_sub good, bad;
	alertkit_subscribe(&good, t.port, "se-stockholm-coord", 0);
	alertkit_subscribe(&bad, t.port, "other-coord", 0);
	struct tclient coord;
	if (tclient_open(&coord, t.port, "se-stockholm-coord") != 0)
		fail_msg("%s", coord.err);
	static const char *const parties[] = { "se-goteborg-coord", "iom-ru-moscow" };
	alertkit_open_case(&coord, OWNER "R-1", VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH, 0, parties,
			   2);

	pkikit_write_crl(crl, (const char *const[]){ "revoked", "other-coord", NULL });
	int64_t sent = now_ms();
	assert_int_equal(kill(t.pid, SIGHUP), 0);
	if (!tclient_wait_closed(&bad.c, 5000))
		fail_msg("the revoked subscriber's session is still open 5 s after the reload");
	int64_t took = now_ms() - sent;
	printf("reload to disconnect of a revoked organisation: %lld ms\n", (long long)took);
	assert_true(took < 1000);
	assert_true(trelay_log_has(&t, "se-goteborg-coord: session closed after the reload: "
				       "certificate at depth 0: certificate revoked", 2000));
	/* It connects no more. */
	struct tclient again;
	assert_int_equal(tclient_open(&again, t.port, "other-coord"), -1);
	tclient_close(&again);
	/* The good subscriber gets the silence alert raised after the reload. */
	struct alertkit_got g;
	alertkit_must_alert(&good, 15000, &g, "the silence alert after the reload");
	assert_string_equal(g.case_id, OWNER "R-1");
	assert_true(alertkit_has_recipient(&g, "se-goteborg-coord"));
	tclient_close(&good.c);
	tclient_close(&bad.c);
	tclient_close(&coord);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/* A certificate that does not load, a directory with an error, a CRL that
 * expired: the relay goes on with what it had and the log says why; a
 * good reload after reports the keys that need a restart. */
static void test_broken_reload_keeps_state(void **state)
{
	(void)state;
	struct trelay t;
	char crl[700], dir[700];
	relay_up(&t, NULL, crl, sizeof(crl), dir, sizeof(dir));
	struct tclient c;
	if (tclient_open(&c, t.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);

	char bad[700], tmp[700];
	snprintf(bad, sizeof(bad), "%s/broken.crt", t.dir);
	FILE *f = fopen(bad, "w");
	assert_non_null(f);
	fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n", f);
	fclose(f);
	snprintf(tmp, sizeof(tmp), "%s", pki("relay.crt"));
	file_replace(t.conf, tmp, bad);
	assert_int_equal(kill(t.pid, SIGHUP), 0);
	char want[2000];
	snprintf(want, sizeof(want), "reload failed: %s:6: [tls] cert: cannot load certificate %s",
		 t.conf, bad);
	assert_true(trelay_log_has(&t, want, 5000));
	assert_true(trelay_log_has(&t, "the relay goes on with the configuration, certificates "
				       "and directory it had", 0));
	/* Still serving, with the old certificate, old and new sessions. */
	struct tclient c2;
	if (tclient_open(&c2, t.port, "se-stockholm-coord") != 0)
		fail_msg("after a failed reload: %s", c2.err);
	tclient_close(&c2);
	file_replace(t.conf, bad, tmp);

	/* A directory with an error. */
	f = fopen(dir, "a");
	assert_non_null(f);
	fputs("[broken-org]\nrole = astronaut\n", f);
	fclose(f);
	assert_int_equal(kill(t.pid, SIGHUP), 0);
	snprintf(want, sizeof(want), "reload failed: %s:", dir);
	assert_true(trelay_log_has(&t, want, 5000));
	pkikit_copy_directory(dir, NULL);

	/* A good reload, with keys that need a restart changed. */
	file_replace(t.conf, "origin = vigil.test/log", "origin = vigil.test/other");
	assert_int_equal(kill(t.pid, SIGHUP), 0);
	assert_true(trelay_log_has(&t, "; ignored until restart: [log] origin", 5000));
	/* The session opened before all this is still served. */
	Vigil__V1__GetCheckpoint gc = VIGIL__V1__GET_CHECKPOINT__INIT;
	Vigil__V1__Frame req = VIGIL__V1__FRAME__INIT;
	req.msg_case = VIGIL__V1__FRAME__MSG_GET_CHECKPOINT;
	req.get_checkpoint = &gc;
	Vigil__V1__Frame *a = tclient_roundtrip(&c, &req);
	if (!a)
		fail_msg("%s", c.err);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CHECKPOINT);
	assert_true(strstr(a->checkpoint->note, "vigil.test/log\n") != NULL);
	frame_free(a);
	tclient_close(&c);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/* A directory that no longer lists an organisation closes its sessions;
 * the others go on. */
static void test_directory_removes_member(void **state)
{
	(void)state;
	struct trelay t;
	char crl[700], dir[700];
	relay_up(&t, NULL, crl, sizeof(crl), dir, sizeof(dir));
	struct tclient gone, stays;
	if (tclient_open(&gone, t.port, "other-iom") != 0)
		fail_msg("%s", gone.err);
	if (tclient_open(&stays, t.port, "iom-ru-moscow") != 0)
		fail_msg("%s", stays.err);
	pkikit_copy_directory(dir, "iom-md-chisinau");
	int64_t sent = now_ms();
	assert_int_equal(kill(t.pid, SIGHUP), 0);
	if (!tclient_wait_closed(&gone, 5000))
		fail_msg("the removed member's session is still open");
	printf("reload to disconnect of a removed member: %lld ms\n",
	       (long long)(now_ms() - sent));
	assert_true(trelay_log_has(&t, "iom-md-chisinau: session closed after the reload: "
				       "organisation iom-md-chisinau is not a member", 2000));
	assert_int_equal(tclient_wait_closed(&stays, 500), 0);
	/* Its encryption certificate is logged as gone. */
	assert_true(trelay_log_has(&t, "reload: 1 member encryption certificate change logged",
				   5000));
	assert_int_equal(db_int(&t, "SELECT count(*) FROM member_keys WHERE org = "
				    "'iom-md-chisinau'"),
			 0);
	tclient_close(&gone);
	tclient_close(&stays);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/* A session whose certificate expires is closed when it expires. */
static void test_certificate_expires(void **state)
{
	(void)state;
	struct trelay t;
	char crl[700], dir[700];
	relay_up(&t, NULL, crl, sizeof(crl), dir, sizeof(dir));
	char base[700];
	snprintf(base, sizeof(base), "%s/short", t.dir);
	write_short_cert(base, 4);
	struct tclient c;
	int64_t opened = now_ms();
	if (tclient_open(&c, t.port, base) != 0)
		fail_msg("%s", c.err);
	assert_int_equal(tclient_wait_closed(&c, 1000), 0);
	if (!tclient_wait_closed(&c, 10000))
		fail_msg("still open 10 s after its certificate expired");
	int64_t after = now_ms() - opened;
	printf("closed %lld ms after connecting with a certificate valid for 4 s\n",
	       (long long)after);
	assert_true(after >= 2000);
	assert_true(trelay_log_has(&t, "iom-md-chisinau: its certificate expired; closing the "
				       "session", 2000));
	tclient_close(&c);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}


/* ---- systemd ------------------------------------------------------------------------- */

/* The next datagram on fd that is not a watchdog keep-alive, within ms;
 * *keepalives counts those skipped.  "" on timeout. */
static void next_state(int fd, int ms, char *out, size_t len, int *keepalives)
{
	int64_t end = now_ms() + ms;
	out[0] = '\0';
	while (now_ms() < end) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, (int)(end - now_ms())) <= 0)
			return;
		ssize_t n = recv(fd, out, len - 1, 0);
		if (n <= 0)
			return;
		out[n] = '\0';
		if (strcmp(out, "WATCHDOG=1") == 0) {
			(*keepalives)++;
			out[0] = '\0';
			continue;
		}
		return;
	}
}

/* sd_notify on a test NOTIFY_SOCKET: READY, watchdog keep-alives at half
 * of WATCHDOG_USEC, RELOADING (with MONOTONIC_USEC) then READY around a
 * reload, a failed one too, and STOPPING. */
static void test_sd_notify(void **state)
{
	(void)state;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	char name[64];
	snprintf(name, sizeof(name), "vigil-test-notify-%d", (int)getpid());
	/* An abstract socket: sun_path begins with a NUL; "@name" for systemd. */
	memcpy(sa.sun_path + 1, name, strlen(name));
	socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sl), 0);
	char env[80];
	snprintf(env, sizeof(env), "@%s", name);
	setenv("NOTIFY_SOCKET", env, 1);
	setenv("WATCHDOG_USEC", "400000", 1);
	struct trelay t;
	char crl[700], dir[700];
	relay_up(&t, NULL, crl, sizeof(crl), dir, sizeof(dir));
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");

	char m[512];
	int keepalives = 0;
	next_state(fd, 10000, m, sizeof(m), &keepalives);
	if (strncmp(m, "READY=1\nSTATUS=serving: ", 24) != 0)
		fail_msg("first notification: \"%s\"", m);
	/* Keep-alives every 200 ms: at least 3 in a second, even loaded. */
	next_state(fd, 1500, m, sizeof(m), &keepalives);
	assert_string_equal(m, "");
	if (keepalives < 3)
		fail_msg("%d watchdog keep-alives in 1.5 s", keepalives);

	assert_int_equal(kill(t.pid, SIGHUP), 0);
	next_state(fd, 10000, m, sizeof(m), &keepalives);
	if (strncmp(m, "RELOADING=1\nMONOTONIC_USEC=", 27) != 0)
		fail_msg("at a reload: \"%s\"", m);
	next_state(fd, 10000, m, sizeof(m), &keepalives);
	if (strncmp(m, "READY=1\nSTATUS=serving: ", 24) != 0 || !strstr(m, ", 1 reloads"))
		fail_msg("after a reload: \"%s\"", m);
	/* A reload that fails ends with READY=1 too: the old state serves. */
	file_replace(t.conf, "[log]", "[nonsense]\n[log]");
	assert_int_equal(kill(t.pid, SIGHUP), 0);
	next_state(fd, 10000, m, sizeof(m), &keepalives);
	if (strncmp(m, "RELOADING=1\n", 12) != 0)
		fail_msg("at a failed reload: \"%s\"", m);
	next_state(fd, 10000, m, sizeof(m), &keepalives);
	if (strncmp(m, "READY=1\n", 8) != 0 || !strstr(m, ", 1 reloads"))
		fail_msg("after a failed reload: \"%s\"", m);
	assert_true(trelay_log_has(&t, "reload failed: ", 2000));

	assert_int_equal(trelay_stop(&t), 0);
	next_state(fd, 5000, m, sizeof(m), &keepalives);
	assert_string_equal(m, "STOPPING=1");
	close(fd);
	trelay_cleanup(&t);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_revoked_subscriber),
		cmocka_unit_test(test_broken_reload_keeps_state),
		cmocka_unit_test(test_directory_removes_member),
		cmocka_unit_test(test_certificate_expires),
		cmocka_unit_test(test_sd_notify),
	};
	return cmocka_run_group_tests_name("reload", tests, alertkit_load_keys, alertkit_free_keys);
}
