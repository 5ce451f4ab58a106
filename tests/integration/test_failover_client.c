/*
 * Several relays for one client (issue 13, "active/standby relays"):
 * libvigil's relay lists (vigil_relays_check, vigil_connect_relays) and the
 * tool's `--relay A,B` and `[relay] address = A, B`, black-box against real
 * relays on loopback with the real PKI and TLS.
 *
 * Two relays started by the harness are two different logs whose
 * checkpoints are signed with the PKI's one checkpoint key, as an active
 * node and its standby are: a receipt from either verifies with that key.
 * A first address where nobody listens (unused_port()) is skipped; when
 * every address fails the error names each one and why, on one line; a
 * list with a bad element is refused before anything connects (a listener
 * of the test sees no connection); a TLS session ticket is offered only to
 * the relay that issued it; `alerts --follow` whose relay stops goes on
 * with the next one, and still refuses a log that does not extend the one
 * it followed.  Every process a test starts is ended by its PID, and every
 * wait is bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "casekit.h"
#include "client/internal.h"
#include "clikit.h"
#include "harness.h"

#define CASE_ID "se-stockholm-coord/SE-2026-0042"
#define IOM "iom-ru-moscow"
#define SHELTER "se-shelter-1"
/* high 2 s, no escalation during a test (as test_cli_follow). */
#define WATCH "[watchdog]\nhigh = 2s\nmedium = 3s\nlow = 1h\nfailed_attempts = 3\n" \
	      "handover_window = 1h\nescalate_after = 1h\n"
/* How long a test waits for what must come (a loaded machine, sanitizers). */
#define PATIENCE_MS 10000
#define LOST "vigil: lost the relay: "
#define BACK "vigil: reconnected to the relay after "

static struct trelay A, B;  /* two relays: two logs, one checkpoint key */
static struct cli_bg BG = { .pid = -1, .out_fd = -1, .err_fd = -1 };
static struct cli_result res;

static int teardown(void **state)
{
	(void)state;
	if (BG.pid > 0)
		cli_bg_stop(&BG, SIGKILL, 2000);
	trelay_cleanup(&A);
	trelay_cleanup(&B);
	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
	return 0;
}

static void relay_up(struct trelay *t, const char *extra)
{
	trelay_setup(t, NULL, extra);
	assert_int_equal(trelay_start(t), 0);
}

static long long entries(struct trelay *t)
{
	return db_int(t, "SELECT count(*) FROM entries");
}

/* A listener on loopback that never accepts: a connection to it would wait
 * in its backlog, where listener_untouched() sees it. */
static int listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(a);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void listener_untouched(int fd, const char *after)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 200) != 0)
		fail_msg("%s: something connected to the listener", after);
}

/* ---- the tool ------------------------------------------------------------------- */

/* vigil --relay LIST --cert/--key <who> --ca --checkpoint-key, without a
 * command yet. */
static void args_relays(struct cli_args *a, const char *relays, const char *who)
{
	cli_args_init(a, VIGIL_CLI_PATH);
	cli_add(a, "--relay", cli_keep(a, "%s", relays), NULL);
	cli_add(a, "--cert", cli_keep(a, "%s/%s.crt", PKI_DIR, who),
		"--key", cli_keep(a, "%s/%s.key", PKI_DIR, who),
		"--ca", cli_keep(a, "%s/ca.crt", PKI_DIR),
		"--checkpoint-key", cli_keep(a, "%s/checkpoint.pub", PKI_DIR), NULL);
}

/* vigil -c FILE (its [relay]) --cert/--key <who> --ca --checkpoint-key. */
static void args_file(struct cli_args *a, const char *ini, const char *who)
{
	cli_args_init(a, VIGIL_CLI_PATH);
	cli_add(a, "-c", cli_keep(a, "%s", ini),
		"--cert", cli_keep(a, "%s/%s.crt", PKI_DIR, who),
		"--key", cli_keep(a, "%s/%s.key", PKI_DIR, who),
		"--ca", cli_keep(a, "%s/ca.crt", PKI_DIR),
		"--checkpoint-key", cli_keep(a, "%s/checkpoint.pub", PKI_DIR), NULL);
}

static struct cli_result *run(struct cli_args *a)
{
	res.status = cli_run(a, NULL, res.out, sizeof(res.out), res.err, sizeof(res.err));
	return &res;
}

/* "vigil ... contact" as IOM for CASE_ID, saving its receipt to path. */
static struct cli_result *contact(struct cli_args *a, const char *path)
{
	cli_add(a, "contact", "--case", CASE_ID, "--channel", "phone", "--outcome", "no-answer",
		"--save-receipt", cli_keep(a, "%s", path), NULL);
	return run(a);
}

/* The receipt file verifies offline with the PKI's one checkpoint key. */
static void receipt_verifies(const char *path)
{
	struct cli_args a;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add(&a, "--checkpoint-key", cli_keep(&a, "%s/checkpoint.pub", PKI_DIR), "verify",
		"--receipt", cli_keep(&a, "%s", path), NULL);
	struct cli_result *r = run(&a);
	cli_expect_ok(r);
	if (strncmp(r->out, "receipt OK: entry ", 18) != 0)
		fail_msg("verify --receipt %s: %s", path, r->out);
}

/* A usage error of a global option given before the command: its hint is
 * the tool's own help. */
static void expect_global_usage(const struct cli_result *r, const char *line)
{
	cli_expect_status(r, 2);
	assert_string_equal(r->out, "");
	char want[1200];
	snprintf(want, sizeof(want), "vigil: %s\nTry 'vigil --help' for more information.\n",
		 line);
	assert_string_equal(r->err, want);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* ---- the library ---------------------------------------------------------------- */

struct conn_files {
	char cert[700];
	char key[700];
	char ca[700];
	char ckey[700];
};

static struct vigil_options options(struct conn_files *f, const char *who, const char *port)
{
	snprintf(f->cert, sizeof(f->cert), "%s/%s.crt", PKI_DIR, who);
	snprintf(f->key, sizeof(f->key), "%s/%s.key", PKI_DIR, who);
	snprintf(f->ca, sizeof(f->ca), "%s/ca.crt", PKI_DIR);
	snprintf(f->ckey, sizeof(f->ckey), "%s/checkpoint.pub", PKI_DIR);
	struct vigil_options o = { .port = port, .cert_file = f->cert, .key_file = f->key,
		.ca_file = f->ca, .checkpoint_key = f->ckey };
	return o;
}

static vigil_client *connect_list(const char *who, const char *relays, size_t first)
{
	struct conn_files f;
	struct vigil_options o = options(&f, who, NULL);
	struct vigil_error err;
	vigil_client *c = NULL;
	if (vigil_connect_relays(&o, relays, first, &c, &err) != VIGIL_OK)
		fail_msg("vigil_connect_relays(\"%s\", %zu) as %s: %s", relays, first, who,
			 err.message);
	assert_non_null(c);
	return c;
}

/* vigil_connect_relays fails with status and exactly message (NULL: any),
 * leaving *out NULL. */
static void expect_list_fails(const struct vigil_options *o, const char *relays, size_t first,
			      int status, const char *message, struct vigil_error *err)
{
	static char sentinel;
	vigil_client *c = (vigil_client *)(void *)&sentinel; /* must be reset to NULL */
	int rc = vigil_connect_relays(o, relays, first, &c, err);
	if (rc != status || err->status != status ||
	    (message && strcmp(err->message, message) != 0))
		fail_msg("vigil_connect_relays(\"%s\") gave %d \"%s\", expected %d \"%s\"", relays,
			 rc, err->message, status, message ? message : "...");
	assert_null(c);
}

/* A contact attempt through c, its receipt verified again offline with
 * the checkpoint key loaded from the PKI's file, and its entry stored in
 * t at the receipt's index with the receipt's leaf hash. */
static void submit_and_verify(vigil_client *c, struct trelay *t)
{
	struct vigil_contact ct = { .case_id = CASE_ID, .channel = "phone",
		.outcome = "no-answer" };
	uint8_t *rec = NULL, *sig = NULL;
	size_t rec_len = 0, sig_len = 0;
	struct vigil_error err;
	if (vigil_build_contact(c, &ct, &rec, &rec_len, &sig, &sig_len, &err) != VIGIL_OK)
		fail_msg("vigil_build_contact: %s", err.message);
	struct vigil_receipt *r = malloc(sizeof(*r));
	assert_non_null(r);
	if (vigil_submit_signed(c, rec, rec_len, sig, sig_len, r, &err) != VIGIL_OK)
		fail_msg("vigil_submit_signed: %s", err.message);
	assert_int_equal(r->duplicate, 0);
	char path[700];
	snprintf(path, sizeof(path), "%s/checkpoint.pub", PKI_DIR);
	struct vigil_checkpoint_key key;
	assert_int_equal(vigil_checkpoint_key_load(path, &key, &err), VIGIL_OK);
	if (vigil_receipt_verify(&key, r, rec, rec_len, &err) != VIGIL_OK)
		fail_msg("the receipt does not verify offline: %s", err.message);
	char sql[200], hex[2 * VIGIL_HASH_LEN + 1], want[2 * VIGIL_HASH_LEN + 1];
	snprintf(sql, sizeof(sql), "SELECT lower(hex(leaf_hash)) FROM entries WHERE idx = %llu",
		 (unsigned long long)r->index);
	assert_int_equal(db_text(t, sql, hex, sizeof(hex)), 0);
	for (size_t i = 0; i < VIGIL_HASH_LEN; i++)
		snprintf(want + 2 * i, 3, "%02x", r->leaf_hash[i]);
	assert_string_equal(hex, want);
	free(r);
	vigil_free(rec);
	vigil_free(sig);
}

/* ---- tests ---------------------------------------------------------------------- */

/* (a) The first address is a closed port, the second a live relay: the
 * tool (--relay and the -c file) and the library both go on to the second
 * and store a record whose receipt verifies; the same against the second
 * relay, whose receipts verify with the same checkpoint key. */
static void test_first_dead(void **state)
{
	(void)state;
	relay_up(&A, NULL);
	relay_up(&B, NULL);
	trelay_open_case(&A, CASE_ID);
	trelay_open_case(&B, CASE_ID);
	int dead = unused_port();
	char list[160], path[700];
	long long before_a = entries(&A), before_b = entries(&B);

	/* --relay DEAD,A */
	struct cli_args a;
	snprintf(list, sizeof(list), "127.0.0.1:%d,127.0.0.1:%d", dead, A.port);
	args_relays(&a, list, IOM);
	snprintf(path, sizeof(path), "%s/receipt-a.json", A.dir);
	cli_expect_ok(contact(&a, path));
	if (!strstr(res.out, "verified: included in checkpoint of size "))
		fail_msg("contact said: %s", res.out);
	assert_int_equal(entries(&A), before_a + 1);
	receipt_verifies(path);

	/* --relay DEAD,B (spaces around the elements): the other log. */
	snprintf(list, sizeof(list), "127.0.0.1:%d , 127.0.0.1:%d", dead, B.port);
	args_relays(&a, list, IOM);
	snprintf(path, sizeof(path), "%s/receipt-b.json", B.dir);
	cli_expect_ok(contact(&a, path));
	assert_int_equal(entries(&B), before_b + 1);
	receipt_verifies(path);

	/* [relay] address = DEAD, A in the -c file. */
	char ini[700], text[300];
	snprintf(ini, sizeof(ini), "%s/failover.ini", A.dir);
	snprintf(text, sizeof(text), "[relay]\naddress = 127.0.0.1:%d, 127.0.0.1:%d\n", dead,
		 A.port);
	write_file(ini, text);
	args_file(&a, ini, IOM);
	snprintf(path, sizeof(path), "%s/receipt-ini.json", A.dir);
	cli_expect_ok(contact(&a, path));
	assert_int_equal(entries(&A), before_a + 2);
	receipt_verifies(path);

	/* An IPv6 address may stand without brackets in the file, as it
	 * always could; its port is [relay] port, like the second's. */
	snprintf(text, sizeof(text), "[relay]\naddress = ::1, 127.0.0.1\nport = %d\n", A.port);
	write_file(ini, text);
	snprintf(path, sizeof(path), "%s/receipt-ini6.json", A.dir);
	args_file(&a, ini, IOM);
	cli_expect_ok(contact(&a, path));
	assert_int_equal(entries(&A), before_a + 3);

	/* The library: DEAD first, then A with the options' port. */
	char port[16];
	snprintf(port, sizeof(port), "%d", A.port);
	struct conn_files f;
	struct vigil_options o = options(&f, IOM, port);
	snprintf(list, sizeof(list), "127.0.0.1:%d, 127.0.0.1", dead);
	struct vigil_error err;
	vigil_client *c = NULL;
	if (vigil_connect_relays(&o, list, 0, &c, &err) != VIGIL_OK)
		fail_msg("vigil_connect_relays: %s", err.message);
	assert_int_equal(vigil_client_relay_index(c), 1);
	char want[64];
	snprintf(want, sizeof(want), "127.0.0.1:%d", A.port);
	assert_string_equal(vigil_client_relay_address(c), want);
	submit_and_verify(c, &A);
	vigil_close(&c);
	assert_int_equal(entries(&A), before_a + 4);

	/* From the second on: B at index 0 is reached after DEAD, wrapping
	 * around, and its receipt verifies with the same key. */
	snprintf(list, sizeof(list), "127.0.0.1:%d,127.0.0.1:%d", B.port, dead);
	c = connect_list(IOM, list, 1);
	assert_int_equal(vigil_client_relay_index(c), 0);
	submit_and_verify(c, &B);
	vigil_close(&c);
	assert_int_equal(entries(&B), before_b + 2);

	/* vigil_connect() is one relay, index 0. */
	o = options(&f, IOM, port);
	o.host = "127.0.0.1";
	assert_int_equal(vigil_connect(&o, &c, &err), VIGIL_OK);
	assert_int_equal(vigil_client_relay_index(c), 0);
	assert_string_equal(vigil_client_relay_address(c), want);
	vigil_close(&c);
}

/* (b) Every address fails: one line naming each in the order tried, with
 * its reason; the status every relay failed with, or VIGIL_E_CONNECT when
 * they differ; reasons cut short so that eight relays are all named. */
static void test_all_dead(void **state)
{
	(void)state;
	relay_up(&A, NULL);
	int d1 = unused_port(), d2 = unused_port();
	while (d2 == d1)
		d2 = unused_port();
	char list[160], want[512];
	snprintf(list, sizeof(list), "127.0.0.1:%d,127.0.0.1:%d", d1, d2);
	snprintf(want, sizeof(want), "127.0.0.1:%d: cannot connect to 127.0.0.1 port %d: "
		 "Connection refused; 127.0.0.1:%d: cannot connect to 127.0.0.1 port %d: "
		 "Connection refused", d1, d1, d2, d2);

	/* The tool: exit 3, the line on stderr, and with --json the object. */
	struct cli_args a;
	args_relays(&a, list, IOM);
	cli_add(&a, "checkpoint", NULL);
	struct cli_result *r = run(&a);
	cli_expect_status(r, 3);
	assert_string_equal(r->out, "");
	char line[600];
	snprintf(line, sizeof(line), "vigil: %s\n", want);
	assert_string_equal(r->err, line);
	args_relays(&a, list, IOM);
	cli_add(&a, "--json", "checkpoint", NULL);
	cli_expect_fail(run(&a), 3, "CONNECT", want);

	/* The library, the same words. */
	struct conn_files f;
	struct vigil_options o = options(&f, IOM, NULL);
	struct vigil_error err;
	expect_list_fails(&o, list, 0, VIGIL_E_CONNECT, want, &err);
	/* From the second: tried in that order. */
	snprintf(want, sizeof(want), "127.0.0.1:%d: cannot connect to 127.0.0.1 port %d: "
		 "Connection refused; 127.0.0.1:%d: cannot connect to 127.0.0.1 port %d: "
		 "Connection refused", d2, d2, d1, d1);
	expect_list_fails(&o, list, 1, VIGIL_E_CONNECT, want, &err);
	/* One relay: its own error, as vigil_connect() gives it. */
	snprintf(list, sizeof(list), "127.0.0.1:%d", d1);
	snprintf(want, sizeof(want), "cannot connect to 127.0.0.1 port %d: Connection refused",
		 d1);
	expect_list_fails(&o, list, 0, VIGIL_E_CONNECT, want, &err);

	/* A relay that refuses our (revoked) certificate fails with
	 * VIGIL_E_TLS; beside a closed port, the statuses differ. */
	o = options(&f, "revoked", NULL);
	snprintf(list, sizeof(list), "127.0.0.1:%d", A.port);
	expect_list_fails(&o, list, 0, VIGIL_E_TLS, NULL, &err);
	if (!strstr(err.message, "certificate revoked"))
		fail_msg("a revoked certificate: %s", err.message);
	snprintf(list, sizeof(list), "127.0.0.1:%d, 127.0.0.1:%d", A.port, A.port);
	expect_list_fails(&o, list, 0, VIGIL_E_TLS, NULL, &err);
	snprintf(list, sizeof(list), "127.0.0.1:%d,127.0.0.1:%d", d1, A.port);
	expect_list_fails(&o, list, 0, VIGIL_E_CONNECT, NULL, &err);
	char head[200];
	snprintf(head, sizeof(head), "127.0.0.1:%d: cannot connect to 127.0.0.1 port %d: "
		 "Connection refused; 127.0.0.1:%d: ", d1, d1, A.port);
	if (strncmp(err.message, head, strlen(head)) != 0 ||
	    !strstr(err.message, "certificate revoked"))
		fail_msg("a closed port and a refusal: %s", err.message);

	/* Eight closed ports: too long for one message whole, so each reason
	 * is cut short ("...") and every relay is still named, in order. */
	int ports[VIGIL_RELAYS_MAX];
	size_t len = 0;
	for (size_t i = 0; i < VIGIL_RELAYS_MAX; i++) {
		ports[i] = unused_port();
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s127.0.0.1:%d",
					i ? "," : "", ports[i]);
	}
	o = options(&f, IOM, NULL);
	expect_list_fails(&o, list, 0, VIGIL_E_CONNECT, NULL, &err);
	assert_true(strlen(err.message) < sizeof(err.message));
	const char *at = err.message;
	for (size_t i = 0; i < VIGIL_RELAYS_MAX; i++) {
		char name[100];
		snprintf(name, sizeof(name), "%s127.0.0.1:%d: cannot connect to 127.0.0.1 port",
			 i ? "; " : "", ports[i]);
		const char *p = strstr(at, name);
		if (!p)
			fail_msg("relay %zu (%s) not named in order: %s", i, name, err.message);
		at = p + strlen(name);
	}
	if (!strstr(err.message, "...") || strstr(err.message, "Connection refused"))
		fail_msg("the reasons are not cut short: %s", err.message);
}

/* (c) A list with an empty element, a bad port, an unterminated bracket,
 * an IPv6 address without brackets, more than eight addresses, or a first
 * index beyond it is a usage error with its exact message, found before
 * anything connects (a listener first in the list sees nothing). */
static void test_bad_lists(void **state)
{
	(void)state;
	int port;
	int lfd = listener(&port);
	char live[64];
	snprintf(live, sizeof(live), "127.0.0.1:%d", port);
	struct {
		const char *tail;   /* after "LIVE," */
		const char *message;
	} bad[] = {
		{ "a,,b", NULL },
		{ "a:99999", "bad relay port '99999': expected a number from 1 to 65535" },
		{ "[::1", "bad relay address '[::1': unbalanced brackets" },
		{ "::1:7443", "bad relay address '::1:7443': write an IPv6 address in brackets, "
			      "e.g. [::1]:7443" },
		{ "[::1]7443", "bad relay address '[::1]7443': expected ':PORT' after ']'" },
		{ ":7443", "bad relay address ':7443': no host" },
		{ "a b", "bad relay address 'a b': ' ' in the host" },
		{ "a,", NULL },
		{ "b,c,d,e,f,g,h,i", "bad relay list: more than 8 addresses" },
	};
	struct conn_files f;
	struct vigil_options o = options(&f, IOM, NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char list[200], msg[300];
		snprintf(list, sizeof(list), "%s,%s", live, bad[i].tail);
		if (bad[i].message)
			snprintf(msg, sizeof(msg), "%s", bad[i].message);
		else
			snprintf(msg, sizeof(msg), "bad relay list '%s': address 3 is empty", list);
		/* The tool: --relay before the command, and after it. */
		struct cli_args a;
		args_relays(&a, list, IOM);
		cli_add(&a, "checkpoint", NULL);
		expect_global_usage(run(&a), msg);
		cli_args_init(&a, VIGIL_CLI_PATH);
		cli_add(&a, "checkpoint", "--relay", cli_keep(&a, "%s", list), NULL);
		cli_expect_usage(run(&a), msg);
		/* The library. */
		struct vigil_error err;
		size_t n = 99;
		assert_int_equal(vigil_relays_check(list, &n, &err), VIGIL_E_USAGE);
		assert_string_equal(err.message, msg);
		assert_int_equal(n, 0);
		expect_list_fails(&o, list, 0, VIGIL_E_USAGE, msg, &err);
		listener_untouched(lfd, list);
	}
	/* "a,,b" alone names the second element. */
	struct vigil_error err;
	expect_list_fails(&o, "a,,b", 0, VIGIL_E_USAGE, "bad relay list 'a,,b': address 2 is empty",
			  &err);
	expect_list_fails(&o, "", 0, VIGIL_E_USAGE, "empty relay list", &err);
	expect_list_fails(&o, NULL, 0, VIGIL_E_USAGE, "no relay given", &err);
	/* Good lists, counted. */
	size_t n = 0;
	assert_int_equal(vigil_relays_check(" relay-a.example.org:7443,\t[::1]:7444 , 192.0.2.1 ",
					    &n, &err), VIGIL_OK);
	assert_int_equal(n, 3);
	assert_int_equal(vigil_relays_check(live, &n, &err), VIGIL_OK);
	assert_int_equal(n, 1);
	/* first beyond the list. */
	char two[200];
	snprintf(two, sizeof(two), "%s,%s", live, live);
	expect_list_fails(&o, two, 2, VIGIL_E_USAGE,
			  "vigil_connect_relays: first relay 2 of a list of 2", &err);
	listener_untouched(lfd, "first beyond the list");

	/* The -c file: FILE:LINE and the same message. */
	relay_up(&A, NULL);
	char ini[700], text[300], want[1000];
	snprintf(ini, sizeof(ini), "%s/bad.ini", A.dir);
	snprintf(text, sizeof(text), "[relay]\naddress = %s, , x\n", live);
	write_file(ini, text);
	struct cli_args a;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add(&a, "-c", cli_keep(&a, "%s", ini), "checkpoint", NULL);
	snprintf(want, sizeof(want), "%s:2: bad relay list '%s, , x': address 2 is empty", ini,
		 live);
	cli_expect_usage(run(&a), want);
	snprintf(text, sizeof(text), "[relay]\naddress = %s, [::1\n", live);
	write_file(ini, text);
	snprintf(want, sizeof(want), "%s:2: bad relay address '[::1': unbalanced brackets", ini);
	cli_expect_usage(run(&a), want);
	listener_untouched(lfd, "the -c file");
	close(lfd);
}

/* A session ticket goes back only to the relay that issued it: A's ticket
 * is not offered to B (which would take it: a ticket is used once), so A
 * still resumes with it after a connection to B. */
static void test_tickets_per_relay(void **state)
{
	(void)state;
	relay_up(&A, NULL);
	relay_up(&B, NULL);
	int dead = unused_port();
	char to_a[160], b_then_a[160];
	snprintf(to_a, sizeof(to_a), "127.0.0.1:%d,127.0.0.1:%d", dead, A.port);
	snprintf(b_then_a, sizeof(b_then_a), "127.0.0.1:%d,127.0.0.1:%d", B.port, A.port);
	vigil__tls_sessions_clear();
	struct vigil_checkpoint cp;
	struct vigil_error err;

	vigil_client *c = connect_list(IOM, to_a, 0);
	assert_int_equal(vigil_client_relay_index(c), 1);
	assert_int_equal(vigil__tls_resumed(c), 0);
	assert_int_equal(vigil_get_checkpoint(c, &cp, &err), VIGIL_OK); /* the ticket comes */
	vigil_close(&c);

	c = connect_list(IOM, b_then_a, 0);
	assert_int_equal(vigil_client_relay_index(c), 0);
	assert_int_equal(vigil__tls_resumed(c), 0);
	assert_int_equal(vigil_get_checkpoint(c, &cp, &err), VIGIL_OK);
	vigil_close(&c);

	c = connect_list(IOM, to_a, 0);
	assert_int_equal(vigil_client_relay_index(c), 1);
	assert_int_equal(vigil__tls_resumed(c), 1);
	assert_int_equal(vigil_get_checkpoint(c, &cp, &err), VIGIL_OK);
	vigil_close(&c);

	/* B resumes with its own. */
	c = connect_list(IOM, b_then_a, 0);
	assert_int_equal(vigil__tls_resumed(c), 1);
	vigil_close(&c);
	assert_true(trelay_log_has(&A, IOM " (iom, RU) connected, session resumed", 3000));
	assert_true(trelay_log_has(&B, IOM " (iom, RU) connected, session resumed", 3000));
	vigil__tls_sessions_clear();
}

/* The follower's stderr has count lines beginning with prefix. */
static void must_err(const char *prefix, int count)
{
	if (cli_bg_err_lines(&BG, prefix, count, PATIENCE_MS) < count)
		fail_msg("no %d lines \"%s...\" on stderr within %d ms:\n%s", count, prefix,
			 PATIENCE_MS, BG.err);
}

/* Starts `vigil alerts --follow --relay A,B` as the shelter and waits
 * until it is connected to on (the relay logs the handshake), then a
 * moment for the Hello and the subscription. */
static void follower_start(struct trelay *on)
{
	static struct cli_args a;
	char list[160];
	snprintf(list, sizeof(list), "127.0.0.1:%d,127.0.0.1:%d", A.port, B.port);
	args_relays(&a, list, SHELTER);
	cli_add(&a, "alerts", "--follow", NULL);
	cli_bg_start(&BG, &a);
	if (!trelay_log_has(on, SHELTER " (shelter, SE) connected", PATIENCE_MS))
		fail_msg("the follower did not connect to relay %d:\n%s", on->port, BG.err);
	struct timespec ts = { 1, 0 };
	nanosleep(&ts, NULL);
}

/* A relay set up to listen on a port of its own choosing (so that it can
 * start later, or again, where a relay list names it). */
static void relay_fixed(struct trelay *t, const char *extra)
{
	trelay_setup(t, NULL, extra);
	char p[32];
	int port = unused_port();
	snprintf(p, sizeof(p), "port = %d\n", port);
	file_replace(t->conf, "port = 0\n", p);
	t->port = port;
}

/* (d) `alerts --follow --relay A,B`: A stops, the follower reconnects to
 * B (starting from A, which worked last, and is now refused), says which
 * relay it is on, and prints B's alert.  It had handled nothing from A, so
 * there was no log to check B's against. */
static void test_follow_failover(void **state)
{
	(void)state;
	relay_up(&A, WATCH);
	relay_up(&B, WATCH);
	trelay_open_case(&B, CASE_ID);  /* B raises an alert 2 s later */
	follower_start(&A);
	int a_port = A.port;
	assert_int_equal(trelay_stop(&A), 0);
	must_err(LOST, 1);
	must_err(BACK, 1);
	char want[300];
	snprintf(want, sizeof(want), LOST "relay 127.0.0.1:%d: ", a_port);
	if (strncmp(BG.err, want, strlen(want)) != 0)
		fail_msg("unexpected stderr:\n%s", BG.err);
	snprintf(want, sizeof(want), " (relay 127.0.0.1:%d)\n", B.port);
	const char *back = strstr(BG.err, BACK);
	if (!back || !strstr(back, "; resuming after position ") || !strstr(back, want))
		fail_msg("no \"%s\" on stderr:\n%s", want, BG.err);
	char line[1024];
	int64_t seen;
	if (!cli_bg_line(&BG, 2000 + PATIENCE_MS, line, sizeof(line), &seen))
		fail_msg("no alert from the second relay; stderr:\n%s", BG.err);
	if (!strstr(line, CASE_ID))
		fail_msg("unexpected line: %s", line);
	/* Still running: SIGTERM ends it with status 0. */
	assert_int_equal(cli_bg_stop(&BG, SIGTERM, PATIENCE_MS), 0);
	assert_int_equal(trelay_stop(&B), 0);
}

/* (d) The same, after the follower printed an alert of A: B's log does
 * not extend the one it followed (B is another log, not A's standby), so
 * it stops with exit 3 rather than skip or repeat positions. */
static void test_follow_other_log(void **state)
{
	(void)state;
	relay_up(&A, WATCH);
	relay_up(&B, WATCH);
	trelay_open_case(&A, CASE_ID);
	follower_start(&A);
	char line[1024];
	int64_t seen;
	if (!cli_bg_line(&BG, 2000 + PATIENCE_MS, line, sizeof(line), &seen))
		fail_msg("no alert from the first relay; stderr:\n%s", BG.err);
	assert_non_null(strstr(line, CASE_ID));
	assert_int_equal(trelay_stop(&A), 0);
	int status = cli_bg_wait(&BG, 2 * PATIENCE_MS);
	if (status != 3 || !strstr(BG.err, "the log we followed"))
		fail_msg("exit %d; stderr:\n%s", status, BG.err);
	assert_int_equal(trelay_stop(&B), 0);
}

/* (d) A reconnection starts from the relay that worked last: A is down
 * when the follower starts, so it is on B; while the follower is stopped
 * (SIGSTOP), A comes up and B restarts; the follower, continued, loses B
 * and reconnects to B, not to A, which is first in the list. */
static void test_follow_where_it_worked(void **state)
{
	(void)state;
	relay_fixed(&A, WATCH);
	relay_fixed(&B, WATCH);
	int b_port = B.port;
	assert_int_equal(trelay_start(&B), 0);
	assert_int_equal(B.port, b_port);
	follower_start(&B);
	assert_int_equal(kill(BG.pid, SIGSTOP), 0);
	assert_int_equal(trelay_start(&A), 0);
	assert_int_equal(trelay_stop(&B), 0);
	assert_int_equal(trelay_start(&B), 0);
	assert_int_equal(B.port, b_port);
	assert_int_equal(kill(BG.pid, SIGCONT), 0);
	must_err(LOST, 1);
	must_err(BACK, 1);
	char want[100];
	snprintf(want, sizeof(want), " (relay 127.0.0.1:%d)\n", b_port);
	if (!strstr(strstr(BG.err, BACK), want))
		fail_msg("not back on the relay that worked last:\n%s", BG.err);
	/* Nothing of the follower reached A. */
	assert_false(trelay_log_has(&A, SHELTER " (shelter, SE) connected", 500));
	assert_int_equal(cli_bg_stop(&BG, SIGTERM, PATIENCE_MS), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_first_dead, teardown),
		cmocka_unit_test_teardown(test_all_dead, teardown),
		cmocka_unit_test_teardown(test_bad_lists, teardown),
		cmocka_unit_test_teardown(test_tickets_per_relay, teardown),
		cmocka_unit_test_teardown(test_follow_failover, teardown),
		cmocka_unit_test_teardown(test_follow_other_log, teardown),
		cmocka_unit_test_teardown(test_follow_where_it_worked, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
