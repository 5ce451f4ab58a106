/*
 * test_directory.c - the member directory against the real vigild: who is
 * refused at the handshake and why, what "members" answers (libvigil and
 * the vigil command), and a broken or incomplete directory file.
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

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "clikit.h"
#include "harness.h"
#include "vigil.h"

static struct trelay R; /* the relay with the PKI's directory, shared */

/* The PKI's directory.conf (certs/mkpki.sh), sorted by organisation id. */
static const struct {
	const char *org, *role, *country, *name;
	int enc; /* has an encryption certificate, PKI_DIR/ORG.enc.crt */
} pki_members[] = {
	{ "iom-md-chisinau", "iom", "MD", "IOM Chisinau field office", 1 },
	{ "iom-ru-moscow", "iom", "RU", "IOM Moscow field office", 1 },
	{ "se-goteborg-coord", "coordinator", "SE", "Gothenburg county coordinator", 1 },
	{ "se-police-noa", "police", "SE", "Swedish Police NOA", 1 },
	{ "se-shelter-1", "shelter", "SE", "Shelter 1", 1 },
	{ "se-stockholm-coord", "coordinator", "SE", "Stockholm county coordinator", 1 },
	{ "vigil-relay", "relay", "SE", "vigil relay", 0 },
};

/* The DER of a PEM certificate file; *der is OPENSSL_free()d. */
static int pem_der(const char *path, unsigned char **der)
{
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

#define N_PKI_MEMBERS (sizeof(pki_members) / sizeof(pki_members[0]))

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static int group_setup(void **state)
{
	(void)state;
	trelay_setup(&R, NULL, NULL);
	return trelay_start(&R) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	int rc = trelay_stop(&R);
	trelay_cleanup(&R);
	return rc == 0 ? 0 : -1;
}

/* Connects as cert and expects the handshake (or the hello after it, as
 * TLS 1.3 reports a refused client certificate there) to fail, and the
 * relay to log why. */
static void expect_refused(struct trelay *t, const char *cert, const char *why)
{
	struct tclient c;
	int rc = tclient_connect(&c, t->port, cert, "vigil/1");
	if (rc == 0)
		rc = tclient_hello(&c);
	if (rc == 0)
		fail_msg("%s: accepted", cert);
	tclient_close(&c);
	char line[512];
	snprintf(line, sizeof(line), "handshake failed: %s", why);
	if (!trelay_log_has(t, line, 3000))
		fail_msg("%s: relay log lacks \"%s\"", cert, line);
}

static void expect_served(struct trelay *t, const char *cert)
{
	struct tclient c;
	if (tclient_open(&c, t->port, cert) != 0)
		fail_msg("%s: %s", cert, c.err);
	tclient_close(&c);
}

/* A valid certificate of the federation's CA is not enough: its
 * organisation must be a member, with the role and country listed. */
static void test_handshake_refusals(void **state)
{
	(void)state;
	expect_refused(&R, "nonmember", "organisation iom-xx-nonmember is not a member");
	expect_refused(&R, "wrong-ou",
		       "organisation iom-ru-moscow: certificate OU police disagrees with "
		       "directory role iom");
	expect_refused(&R, "wrong-c",
		       "organisation iom-ru-moscow: certificate C MD disagrees with directory "
		       "country RU");
	/* The refusals change nothing for members, the same organisation's
	 * proper certificate included. */
	expect_served(&R, "iom-ru-moscow");
	expect_served(&R, "se-police-noa");
	expect_served(&R, "other-coord");
}

static vigil_client *connect_as(int port, const char *who)
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

/* Any member may list the members: exactly the directory's, in order. */
static void test_members_libvigil(void **state)
{
	(void)state;
	static const char *const askers[] = { "se-police-noa", "se-shelter-1", "iom-ru-moscow" };
	for (size_t k = 0; k < sizeof(askers) / sizeof(askers[0]); k++) {
		vigil_client *c = connect_as(R.port, askers[k]);
		struct vigil_member *list = NULL;
		size_t n = 99;
		struct vigil_error err;
		if (vigil_members(c, &list, &n, &err) != VIGIL_OK)
			fail_msg("vigil_members as %s: %s", askers[k], err.message);
		assert_int_equal(n, N_PKI_MEMBERS);
		for (size_t i = 0; i < n; i++) {
			assert_string_equal(list[i].organisation, pki_members[i].org);
			assert_string_equal(list[i].role, pki_members[i].role);
			assert_string_equal(list[i].country, pki_members[i].country);
			assert_string_equal(list[i].name, pki_members[i].name);
			if (!pki_members[i].enc) {
				assert_null(list[i].encryption_cert);
				assert_int_equal(list[i].encryption_cert_len, 0);
				continue;
			}
			char file[128];
			unsigned char *der;
			snprintf(file, sizeof(file), "%s.enc.crt", pki_members[i].org);
			int len = pem_der(pki(file), &der);
			assert_int_equal(list[i].encryption_cert_len, (size_t)len);
			assert_memory_equal(list[i].encryption_cert, der, (size_t)len);
			OPENSSL_free(der);
		}
		vigil_free(list);
		/* The connection is still usable after the query. */
		struct vigil_checkpoint cp;
		assert_int_equal(vigil_get_checkpoint(c, &cp, &err), VIGIL_OK);
		vigil_close(&c);
	}

	/* Misuse is a usage error, not a crash. */
	struct vigil_error err;
	size_t n;
	assert_int_equal(vigil_members(NULL, NULL, &n, &err), VIGIL_E_USAGE);
	assert_string_equal(err.message, "vigil_members: client is NULL");
	vigil_client *c = connect_as(R.port, "se-police-noa");
	assert_int_equal(vigil_members(c, NULL, &n, &err), VIGIL_E_USAGE);
	assert_string_equal(err.message, "vigil_members: out is NULL");
	vigil_close(&c);
}

static void run_members(const char *who, int json, struct cli_result *r)
{
	struct cli_args a;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add_conn(&a, R.port, who, "ca.crt");
	if (json)
		cli_add(&a, "--json", NULL);
	cli_add(&a, "members", NULL);
	r->status = cli_run(&a, NULL, r->out, sizeof(r->out), r->err, sizeof(r->err));
}

static void test_members_cli(void **state)
{
	(void)state;
	static struct cli_result r;
	run_members("se-stockholm-coord", 0, &r);
	cli_expect_ok(&r);
	assert_string_equal(r.out,
		"ORGANISATION        ROLE         COUNTRY  NAME\n"
		"iom-md-chisinau     iom          MD       IOM Chisinau field office\n"
		"iom-ru-moscow       iom          RU       IOM Moscow field office\n"
		"se-goteborg-coord   coordinator  SE       Gothenburg county coordinator\n"
		"se-police-noa       police       SE       Swedish Police NOA\n"
		"se-shelter-1        shelter      SE       Shelter 1\n"
		"se-stockholm-coord  coordinator  SE       Stockholm county coordinator\n"
		"vigil-relay         relay        SE       vigil relay\n");

	run_members("se-police-noa", 1, &r);
	cli_expect_ok(&r);
	assert_string_equal(r.out,
		"{\"members\":["
		"{\"organisation\":\"iom-md-chisinau\",\"role\":\"iom\",\"country\":\"MD\","
		"\"name\":\"IOM Chisinau field office\"},"
		"{\"organisation\":\"iom-ru-moscow\",\"role\":\"iom\",\"country\":\"RU\","
		"\"name\":\"IOM Moscow field office\"},"
		"{\"organisation\":\"se-goteborg-coord\",\"role\":\"coordinator\",\"country\":\"SE\","
		"\"name\":\"Gothenburg county coordinator\"},"
		"{\"organisation\":\"se-police-noa\",\"role\":\"police\",\"country\":\"SE\","
		"\"name\":\"Swedish Police NOA\"},"
		"{\"organisation\":\"se-shelter-1\",\"role\":\"shelter\",\"country\":\"SE\","
		"\"name\":\"Shelter 1\"},"
		"{\"organisation\":\"se-stockholm-coord\",\"role\":\"coordinator\",\"country\":\"SE\","
		"\"name\":\"Stockholm county coordinator\"},"
		"{\"organisation\":\"vigil-relay\",\"role\":\"relay\",\"country\":\"SE\","
		"\"name\":\"vigil relay\"}"
		"]}\n");

	/* A non-member cannot even ask: the handshake fails (exit 3). */
	run_members("nonmember", 0, &r);
	cli_expect_status(&r, 3);
	assert_string_equal(r.out, "");
}

/* A relay serves the directory it was given, not the PKI's: a smaller one
 * admits and lists only its own members. */
static void test_other_directory(void **state)
{
	(void)state;
	struct trelay t;
	char path[700];
	trelay_setup(&t, NULL, NULL);
	snprintf(path, sizeof(path), "%s/members.conf", t.dir);
	write_text(path,
		   "; two members only\n"
		   "[vigil-relay]\nrole = relay\ncountry = SE\nname = The relay\n"
		   "\n"
		   "[iom-ru-moscow]\nrole = iom\ncountry = RU\nname = IOM Moscou (bureau)\n");
	struct trelay u;
	trelay_setup_directory(&u, NULL, NULL, path);
	assert_int_equal(trelay_start(&u), 0);
	expect_refused(&u, "se-police-noa", "organisation se-police-noa is not a member");
	expect_served(&u, "iom-ru-moscow");
	vigil_client *c = connect_as(u.port, "iom-ru-moscow");
	struct vigil_member *list;
	size_t n;
	struct vigil_error err;
	assert_int_equal(vigil_members(c, &list, &n, &err), VIGIL_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].organisation, "iom-ru-moscow");
	assert_string_equal(list[0].role, "iom");
	assert_string_equal(list[0].country, "RU");
	assert_string_equal(list[0].name, "IOM Moscou (bureau)");
	assert_string_equal(list[1].organisation, "vigil-relay");
	assert_string_equal(list[1].role, "relay");
	assert_string_equal(list[1].name, "The relay");
	vigil_free(list);
	vigil_close(&c);
	assert_int_equal(trelay_stop(&u), 0);
	trelay_cleanup(&u);
	trelay_cleanup(&t);
}

/* --check-config reads the directory too and names its file and line; the
 * relay refuses to start with the same message. */
static void test_check_config_broken_directory(void **state)
{
	(void)state;
	struct trelay t, u;
	char path[700], out[4096], want[2048];
	trelay_setup(&t, NULL, NULL);
	snprintf(path, sizeof(path), "%s/broken.conf", t.dir);
	write_text(path,
		   "[iom-ru-moscow]\n"
		   "role = iom\n"
		   "country = ru\n"
		   "name = IOM Moscow field office\n");
	trelay_setup_directory(&u, NULL, NULL, path);
	const char *args[] = { "vigild", "-c", u.conf, "--check-config", NULL };
	assert_int_equal(run_vigild(args, out, sizeof(out)), 1);
	snprintf(want, sizeof(want),
		 "%s:3: [iom-ru-moscow] country: \"ru\" is not two upper-case letters (ISO 3166)\n",
		 path);
	assert_string_equal(out, want);
	assert_int_not_equal(trelay_start(&u), 0);
	want[strlen(want) - 1] = '\0';
	assert_true(trelay_log_has(&u, want, 0));

	/* A directory file that is missing is a configuration error. */
	snprintf(path, sizeof(path), "%s/missing.conf", t.dir);
	trelay_cleanup(&u);
	trelay_setup_directory(&u, NULL, NULL, path);
	const char *args2[] = { "vigild", "-c", u.conf, "--check-config", NULL };
	assert_int_equal(run_vigild(args2, out, sizeof(out)), 1);
	snprintf(want, sizeof(want),
		 "%s:13: [directory] path: cannot read \"%s\": No such file or directory\n", u.conf,
		 path);
	assert_string_equal(out, want);
	trelay_cleanup(&u);
	trelay_cleanup(&t);
}

/* A member's encryption_cert: a PEM file beside the directory, of the
 * right kind for that member, issued by the federation's CA; every mistake
 * is refused at start-up (and by --check-config) on the key's line. */
static void test_encryption_certs(void **state)
{
	(void)state;
	struct trelay t, u;
	char path[700], out[4096], want[2048], text[2048];
	trelay_setup(&t, NULL, NULL);
	snprintf(path, sizeof(path), "%s/enc.conf", t.dir);
	static const struct {
		const char *relay_enc; /* an encryption_cert line for the relay, or "" */
		const char *iom_enc;   /* iom-ru-moscow's encryption_cert value */
		int line;              /* of the key found wrong; 0: start-up check */
		const char *pre, *post; /* the message: pre, the file's path, post */
	} cases[] = {
		{ "", "iom-ru-moscow.crt", 9, "[iom-ru-moscow] encryption_cert: ",
		  ": its keyUsage must be keyAgreement and nothing else" },
		{ "", "se-police-noa.enc.crt", 9, "[iom-ru-moscow] encryption_cert: ",
		  ": its O is \"se-police-noa\", not \"iom-ru-moscow\"" },
		{ "", "missing.enc.crt", 9, "[iom-ru-moscow] encryption_cert: cannot open ", "" },
		{ "", "directory.conf", 9, "[iom-ru-moscow] encryption_cert: ",
		  " holds no PEM certificate" },
		{ "encryption_cert = iom-ru-moscow.enc.crt\n", "iom-ru-moscow.enc.crt", 4,
		  "[vigil-relay] encryption_cert: the relay reads no sealed text; remove the key",
		  NULL },
		{ "", "untrusted-enc.crt", 0, "organisation iom-ru-moscow: encryption certificate ",
		  ": unable to get local issuer certificate" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char cert[700], why[1024];
		/* Paths are relative to the directory file: an absolute one here. */
		snprintf(cert, sizeof(cert), "%s", pki(cases[i].iom_enc));
		snprintf(text, sizeof(text),
			 "[vigil-relay]\nrole = relay\ncountry = SE\n%sname = The relay\n"
			 "[iom-ru-moscow]\nrole = iom\ncountry = RU\nname = IOM Moscow\n"
			 "encryption_cert = %s\n",
			 cases[i].relay_enc, cert);
		write_text(path, text);
		trelay_setup_directory(&u, NULL, NULL, path);
		const char *args[] = { "vigild", "-c", u.conf, "--check-config", NULL };
		assert_int_equal(run_vigild(args, out, sizeof(out)), 1);
		if (cases[i].post)
			snprintf(why, sizeof(why), "%s%s%s", cases[i].pre, cert, cases[i].post);
		else
			snprintf(why, sizeof(why), "%s", cases[i].pre);
		if (cases[i].line)
			snprintf(want, sizeof(want), "%s:%d: %s\n", path, cases[i].line, why);
		else
			snprintf(want, sizeof(want), "%s\n", why);
		assert_string_equal(out, want);
		assert_int_not_equal(trelay_start(&u), 0);
		want[strlen(want) - 1] = '\0';
		assert_true(trelay_log_has(&u, want, 0));
		trelay_cleanup(&u);
	}
	/* The same file, right: the relay starts; a path relative to the
	 * directory file. */
	snprintf(path, sizeof(path), "%s/directory.conf", PKI_DIR);
	trelay_setup_directory(&u, NULL, NULL, path);
	const char *args[] = { "vigild", "-c", u.conf, "--check-config", NULL };
	assert_int_equal(run_vigild(args, out, sizeof(out)), 0);
	assert_string_equal(out, "configuration OK\n");
	trelay_cleanup(&u);
	trelay_cleanup(&t);
}

/* The relay's own certificate must be the directory's relay member. */
static void test_relay_not_member(void **state)
{
	(void)state;
	struct trelay t, u;
	char path[700], want[1024];
	trelay_setup(&t, NULL, NULL);
	snprintf(path, sizeof(path), "%s/norelay.conf", t.dir);
	write_text(path, "[iom-ru-moscow]\nrole = iom\ncountry = RU\nname = IOM Moscow\n");
	trelay_setup_directory(&u, NULL, NULL, path);
	assert_int_not_equal(trelay_start(&u), 0);
	snprintf(want, sizeof(want), "%s:6: [tls] cert: the relay's own identity (%s): "
		 "organisation vigil-relay is not a member", u.conf, pki("relay.crt"));
	assert_true(trelay_log_has(&u, want, 0));

	/* Listed, but as another role. */
	write_text(path, "[vigil-relay]\nrole = coordinator\ncountry = SE\nname = relay\n");
	assert_int_not_equal(trelay_start(&u), 0);
	snprintf(want, sizeof(want), "%s:6: [tls] cert: the relay's own identity (%s): "
		 "organisation vigil-relay: certificate OU relay disagrees with directory role "
		 "coordinator", u.conf, pki("relay.crt"));
	assert_true(trelay_log_has(&u, want, 0));
	trelay_cleanup(&u);
	trelay_cleanup(&t);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest shared[] = {
		cmocka_unit_test(test_handshake_refusals),
		cmocka_unit_test(test_members_libvigil),
		cmocka_unit_test(test_members_cli),
	};
	const struct CMUnitTest own[] = {
		cmocka_unit_test(test_other_directory),
		cmocka_unit_test(test_check_config_broken_directory),
		cmocka_unit_test(test_relay_not_member),
		cmocka_unit_test(test_encryption_certs),
	};
	int failed = cmocka_run_group_tests_name("directory (shared relay)", shared, group_setup,
						 group_teardown);
	failed += cmocka_run_group_tests_name("directory (own relays)", own, NULL, NULL);
	return failed ? 1 : 0;
}
