/*
 * test_config.c - daemon/config.c: loading, defaults, path resolution and
 * the exact error messages (with line numbers) of every kind of mistake.
 *
 * Each test writes its configuration into a fresh directory made with
 * mkdtemp() under $TMPDIR (or /tmp), next to dummy certificate files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "daemon/config.h"
#include "proto/status.h"

#define ERR_LEN (3 * PATH_MAX)

/* The directory of the current test; every file of the test is inside it. */
struct fixture {
	char dir[PATH_MAX];
	char conf[PATH_MAX];   /* dir/vigild.conf */
};

static void join(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);
	assert_true(n > 0 && (size_t)n < len);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void make_file(const struct fixture *fx, const char *name, const char *text)
{
	char path[PATH_MAX];
	join(path, sizeof(path), fx->dir, name);
	write_file(path, text);
}

static void make_dir(const struct fixture *fx, const char *name)
{
	char path[PATH_MAX];
	join(path, sizeof(path), fx->dir, name);
	assert_int_equal(mkdir(path, 0700), 0);
}

static void remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		if (d) {
			struct dirent *e;
			while ((e = readdir(d)) != NULL) {
				if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
					continue;
				char sub[PATH_MAX];
				snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
				remove_tree(sub);
			}
			closedir(d);
		}
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(fx->dir, sizeof(fx->dir), "%s/vigil-test-config-XXXXXX", tmp);
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	join(fx->conf, sizeof(fx->conf), fx->dir, "vigild.conf");
	make_file(fx, "cert.pem", "cert\n");
	make_file(fx, "key.pem", "key\n");
	make_file(fx, "ca.pem", "ca\n");
	make_file(fx, "crl.pem", "crl\n");
	make_file(fx, "checkpoint.key", "key\n");
	/* Private keys only their owner may read (the umask may say more). */
	char path[PATH_MAX];
	join(path, sizeof(path), fx->dir, "key.pem");
	chmod(path, 0600);
	join(path, sizeof(path), fx->dir, "checkpoint.key");
	chmod(path, 0600);
	make_file(fx, "members.conf", "[o]\n");
	make_dir(fx, "data");
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	remove_tree(fx->dir);
	free(fx);
	return 0;
}

/* The three [tls] files and the store, all present and relative. */
#define REQUIRED_TLS "[tls]\ncert = cert.pem\nkey = key.pem\nca = ca.pem\n"
#define REQUIRED_STORE "[store]\npath = data/vigil.db\n"
#define REQUIRED_LOG "[log]\norigin = relay.example.org/vigil\ncheckpoint_key = checkpoint.key\n"
#define REQUIRED_DIR "[directory]\npath = members.conf\n"
#define REQUIRED REQUIRED_TLS REQUIRED_STORE REQUIRED_LOG REQUIRED_DIR

static void assert_zeroed(const struct config *cfg)
{
	static const struct config zero;
	assert_memory_equal(cfg, &zero, sizeof(zero));
}

#if defined(__GNUC__)
#define TEST_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TEST_PRINTF(a, b)
#endif

static void expect_error(const struct fixture *fx, const char *text, int status,
			 const char *fmt, ...) TEST_PRINTF(4, 5);

/* Loads text as fx->conf and expects failure with exactly "conf:want". */
static void expect_error(const struct fixture *fx, const char *text, int status,
			 const char *fmt, ...)
{
	char want[ERR_LEN], tail[ERR_LEN], err[ERR_LEN] = "";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	int n = snprintf(want, sizeof(want), "%s:%s", fx->conf, tail);
	assert_true(n > 0 && (size_t)n < sizeof(want));

	struct config cfg;
	write_file(fx->conf, text);
	assert_int_equal(config_load(fx->conf, &cfg, err, sizeof(err)), status);
	assert_string_equal(err, want);
	assert_zeroed(&cfg);
	config_free(&cfg);
}

static void load_ok(const struct fixture *fx, const char *text, struct config *cfg)
{
	char err[ERR_LEN] = "";
	write_file(fx->conf, text);
	int rc = config_load(fx->conf, cfg, err, sizeof(err));
	if (rc != VG_OK)
		fail_msg("config_load: %d: %s", rc, err);
	assert_string_equal(err, "");
}

static void test_full_valid(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];
	struct config cfg;
	char crl[PATH_MAX + 64];

	join(path, sizeof(path), fx->dir, "crl.pem");
	snprintf(crl, sizeof(crl), "crl = %s\n", path);
	char text[3 * PATH_MAX];
	snprintf(text, sizeof(text),
		 "; vigild test configuration\n"
		 "[listen]\n"
		 "address = ::1\n"
		 "port = 8443\n"
		 "max_connections = 5000\n"
		 "handshake_timeout = 2500ms\n"
		 "idle_timeout = 2h ; inline comment\n"
		 "max_frame = 65536\n"
		 "\n"
		 "[tls]\n"
		 "cert = cert.pem\n"
		 "key: key.pem\n"
		 "ca = ca.pem\n"
		 "%s"
		 "[store]\n"
		 "path = data/vigil.db\n"
		 "wal_limit = 1048576\n"
		 "[writer]\n"
		 "batch_max = 100\n"
		 "batch_wait_ms = 5\n"
		 "[log]\n"
		 "origin = relay.example.org/vigil\n"
		 "checkpoint_key = checkpoint.key\n"
		 "checkpoint_interval = 5m\n"
		 "[directory]\n"
		 "path = members.conf\n", crl);
	load_ok(fx, text, &cfg);

	assert_string_equal(cfg.path, fx->conf);
	assert_string_equal(cfg.listen_address, "::1");
	assert_int_equal(cfg.listen_port, 8443);
	assert_int_equal(cfg.max_connections, 5000);
	assert_int_equal(cfg.handshake_timeout_ms, 2500);
	assert_int_equal(cfg.idle_timeout_ms, 2 * 3600 * 1000);
	assert_int_equal(cfg.max_frame, 65536);
	join(path, sizeof(path), fx->dir, "cert.pem");
	assert_string_equal(cfg.tls_cert, path);
	join(path, sizeof(path), fx->dir, "key.pem");
	assert_string_equal(cfg.tls_key, path);
	join(path, sizeof(path), fx->dir, "ca.pem");
	assert_string_equal(cfg.tls_ca, path);
	assert_string_equal(cfg.log_origin, "relay.example.org/vigil");
	join(path, sizeof(path), fx->dir, "checkpoint.key");
	assert_string_equal(cfg.log_checkpoint_key, path);
	assert_int_equal(cfg.checkpoint_interval_ms, 5 * 60 * 1000);
	join(path, sizeof(path), fx->dir, "ca.pem");
	join(path, sizeof(path), fx->dir, "crl.pem");
	assert_string_equal(cfg.tls_crl, path);
	join(path, sizeof(path), fx->dir, "data/vigil.db");
	assert_string_equal(cfg.store_path, path);
	assert_int_equal(cfg.wal_limit, 1048576);
	assert_int_equal(cfg.batch_max, 100);
	assert_int_equal(cfg.batch_wait_ms, 5);
	join(path, sizeof(path), fx->dir, "members.conf");
	assert_string_equal(cfg.directory_path, path);

	config_free(&cfg);
	assert_zeroed(&cfg);
	config_free(&cfg); /* a second free of the zeroed struct is harmless */
}

static void test_defaults(void **state)
{
	struct fixture *fx = *state;
	struct config cfg;
	load_ok(fx, REQUIRED, &cfg);
	assert_string_equal(cfg.listen_address, "127.0.0.1");
	assert_int_equal(cfg.listen_port, 7443);
	assert_int_equal(cfg.max_connections, 1024);
	assert_int_equal(cfg.max_handshakes, 64);
	assert_int_equal(cfg.max_handshakes_per_address, 8);
	assert_int_equal(cfg.handshake_timeout_ms, 10000);
	assert_int_equal(cfg.idle_timeout_ms, 300000);
	assert_int_equal(cfg.write_timeout_ms, 30000);
	assert_int_equal(cfg.max_frame, 64 * 1024);
	assert_null(cfg.tls_crl);
	assert_int_equal(cfg.wal_limit, 16 * 1024 * 1024);
	assert_int_equal(cfg.batch_max, 256);
	assert_int_equal(cfg.batch_wait_ms, 0);
	assert_int_equal(cfg.max_inflight_bytes, 4 * 1024 * 1024);
	assert_int_equal(cfg.max_queue_bytes, 64 * 1024 * 1024);
	assert_int_equal(cfg.max_clock_skew_ms, 5 * 60 * 1000);
	config_free(&cfg);
}

/* The byte budgets for work in flight: ranges inclusive, plain numbers,
 * errors on the key's own line. */
static void test_inflight_budgets(void **state)
{
	struct fixture *fx = *state;
	struct config cfg;
	load_ok(fx, "[listen]\nmax_inflight_bytes = 65536\n[writer]\nmax_queue_bytes = 1048576\n"
		REQUIRED, &cfg);
	assert_int_equal(cfg.max_inflight_bytes, 65536);
	assert_int_equal(cfg.max_queue_bytes, 1048576);
	config_free(&cfg);
	load_ok(fx, "[listen]\nmax_inflight_bytes = 1073741824\n"
		"[writer]\nmax_queue_bytes = 17179869184\n" REQUIRED, &cfg);
	assert_int_equal(cfg.max_inflight_bytes, 1073741824);
	assert_int_equal(cfg.max_queue_bytes, 17179869184ull);
	assert_int_equal(config_line(&cfg, "listen", "max_inflight_bytes"), 2);
	assert_int_equal(config_line(&cfg, "writer", "max_queue_bytes"), 4);
	config_free(&cfg);
	expect_error(fx, "[listen]\nmax_inflight_bytes = 65535\n" REQUIRED, VG_EBADREQ,
		     "2: [listen] max_inflight_bytes: \"65535\" is not a number in 65536..1073741824");
	expect_error(fx, "[listen]\nmax_inflight_bytes = 1073741825\n" REQUIRED, VG_EBADREQ,
		     "2: [listen] max_inflight_bytes: \"1073741825\" is not a number in "
		     "65536..1073741824");
	expect_error(fx, "[listen]\n\nmax_inflight_bytes = 4M\n" REQUIRED, VG_EBADREQ,
		     "3: [listen] max_inflight_bytes: \"4M\" is not a number in 65536..1073741824");
	expect_error(fx, "[writer]\nmax_queue_bytes = 1048575\n" REQUIRED, VG_EBADREQ,
		     "2: [writer] max_queue_bytes: \"1048575\" is not a number in "
		     "1048576..17179869184");
	expect_error(fx, "[writer]\nmax_queue_bytes = 17179869185\n" REQUIRED, VG_EBADREQ,
		     "2: [writer] max_queue_bytes: \"17179869185\" is not a number in "
		     "1048576..17179869184");
	expect_error(fx, "[writer]\nmax_queue_bytes = -1\n" REQUIRED, VG_EBADREQ,
		     "2: [writer] max_queue_bytes: \"-1\" is not a number in 1048576..17179869184");
	expect_error(fx, "[writer]\nmax_queue_bytes = 1048576\nmax_queue_bytes = 1048576\n"
		     REQUIRED, VG_EBADREQ,
		     "3: duplicate key [writer] max_queue_bytes (first set on line 2)");
}

/* Odd but valid files: BOM, CRLF, comments, repeated section, port 0. */
static void test_syntax_variants(void **state)
{
	struct fixture *fx = *state;
	struct config cfg;
	load_ok(fx, "\xEF\xBB\xBF[listen]\r\nport = 0\r\n# comment\r\n"
		"address = 0.0.0.0\r\n" REQUIRED "[listen]\n  max_connections = 1\n", &cfg);
	assert_int_equal(cfg.listen_port, 0);
	assert_string_equal(cfg.listen_address, "0.0.0.0");
	assert_int_equal(cfg.max_connections, 1);
	config_free(&cfg);

	/* Range limits are inclusive. */
	load_ok(fx, "[listen]\nport = 65535\nmax_connections = 1000000\n"
		"max_handshakes = 1000000\nmax_handshakes_per_address = 1000000\n"
		"handshake_timeout = 100ms\nidle_timeout = 7d\nmax_frame = 67108864\n"
		"write_timeout = 10m\n"
		"[writer]\nbatch_max = 10000\nbatch_wait_ms = 1000\n" REQUIRED, &cfg);
	assert_int_equal(cfg.listen_port, 65535);
	assert_int_equal(cfg.max_connections, 1000000);
	assert_int_equal(cfg.max_handshakes, 1000000);
	assert_int_equal(cfg.max_handshakes_per_address, 1000000);
	assert_int_equal(cfg.handshake_timeout_ms, 100);
	assert_int_equal(cfg.idle_timeout_ms, 7ull * 86400 * 1000);
	assert_int_equal(cfg.write_timeout_ms, 600000);
	assert_int_equal(cfg.max_frame, 67108864);
	assert_int_equal(cfg.batch_max, 10000);
	assert_int_equal(cfg.batch_wait_ms, 1000);
	config_free(&cfg);

	load_ok(fx, "[listen]\nhandshake_timeout = 10m\nidle_timeout = 1s\nmax_frame = 64\n"
		"max_handshakes = 1\nmax_handshakes_per_address = 1\n"
		"[writer]\nbatch_max = 1\nbatch_wait_ms = 0\n" REQUIRED, &cfg);
	assert_int_equal(cfg.max_handshakes, 1);
	assert_int_equal(cfg.max_handshakes_per_address, 1);
	assert_int_equal(cfg.handshake_timeout_ms, 600000);
	assert_int_equal(cfg.idle_timeout_ms, 1000);
	assert_int_equal(cfg.max_frame, 64);
	assert_int_equal(cfg.batch_max, 1);
	assert_int_equal(cfg.batch_wait_ms, 0);
	config_free(&cfg);

	/* wal_limit's range, in a [store] section given a second time. */
	load_ok(fx, REQUIRED "[store]\nwal_limit = 65536\n", &cfg);
	assert_int_equal(cfg.wal_limit, 65536);
	config_free(&cfg);
	load_ok(fx, REQUIRED "[store]\nwal_limit = 1073741824\n", &cfg);
	assert_int_equal(cfg.wal_limit, 1073741824);
	config_free(&cfg);

	/* The last line needs no newline. */
	load_ok(fx, REQUIRED "[writer]\nbatch_max = 7", &cfg);
	assert_int_equal(cfg.batch_max, 7);
	config_free(&cfg);

	/* A line of exactly the longest length inih can hold. */
	char text[1024];
	int n = snprintf(text, sizeof(text), "%s;", REQUIRED);
	memset(text + n, 'x', INI_MAX_LINE - 3);
	strcpy(text + n + INI_MAX_LINE - 3, "\n");
	load_ok(fx, text, &cfg);
	config_free(&cfg);
}

static void test_relative_paths(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX], want[PATH_MAX], err[ERR_LEN] = "";
	struct config cfg;

	/* Relative to the file's directory, whatever the current directory. */
	make_dir(fx, "etc");
	make_dir(fx, "etc/db");
	join(path, sizeof(path), fx->dir, "etc/vigild.conf");
	char text[3 * PATH_MAX];
	char abs_ca[PATH_MAX];
	join(abs_ca, sizeof(abs_ca), fx->dir, "ca.pem");
	snprintf(text, sizeof(text),
		 "[tls]\ncert = ../cert.pem\nkey = ./../key.pem\nca = %s\n"
		 "[store]\npath = db/vigil.db\n"
		 "[log]\norigin = o\ncheckpoint_key = ../checkpoint.key\n"
		 "[directory]\npath = ../members.conf\n", abs_ca);
	write_file(path, text);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), VG_OK);
	join(want, sizeof(want), fx->dir, "etc/../cert.pem");
	assert_string_equal(cfg.tls_cert, want);
	join(want, sizeof(want), fx->dir, "etc/./../key.pem");
	assert_string_equal(cfg.tls_key, want);
	assert_string_equal(cfg.tls_ca, abs_ca);
	join(want, sizeof(want), fx->dir, "etc/db/vigil.db");
	assert_string_equal(cfg.store_path, want);
	join(want, sizeof(want), fx->dir, "etc/../members.conf");
	assert_string_equal(cfg.directory_path, want);
	config_free(&cfg);

	/* A relative config path: results stay relative to the current
	 * directory, and a bare file name adds no directory at all. */
	char cwd[PATH_MAX];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(fx->dir), 0);
	assert_int_equal(config_load("etc/vigild.conf", &cfg, err, sizeof(err)), VG_OK);
	assert_string_equal(cfg.path, "etc/vigild.conf");
	assert_string_equal(cfg.tls_cert, "etc/../cert.pem");
	assert_string_equal(cfg.store_path, "etc/db/vigil.db");
	config_free(&cfg);

	write_file("plain.conf", REQUIRED);
	assert_int_equal(config_load("plain.conf", &cfg, err, sizeof(err)), VG_OK);
	assert_string_equal(cfg.tls_cert, "cert.pem");
	assert_string_equal(cfg.store_path, "data/vigil.db");
	config_free(&cfg);

	/* The store's directory is checked relative to the file too. */
	write_file("store.conf", REQUIRED_TLS "[store]\npath = vigil.db\n" REQUIRED_LOG REQUIRED_DIR);
	assert_int_equal(config_load("store.conf", &cfg, err, sizeof(err)), VG_OK);
	assert_string_equal(cfg.store_path, "vigil.db");
	config_free(&cfg);
	assert_int_equal(chdir(cwd), 0);
}

static void test_unknown_names(void **state)
{
	struct fixture *fx = *state;
	expect_error(fx, "[listen]\nport = 1\nprot = 2\n" REQUIRED, VG_EBADREQ,
		     "3: unknown key [listen] prot");
	expect_error(fx, "[listen]\nport = 1\n\n[lisen]\naddress = ::1\n" REQUIRED, VG_EBADREQ,
		     "4: unknown section [lisen]");
	/* An unknown section is an error even without keys. */
	expect_error(fx, REQUIRED "[lisen]\n", VG_EBADREQ, "12: unknown section [lisen]");
	expect_error(fx, "[Listen]\nport = 1\n", VG_EBADREQ, "1: unknown section [Listen]");
	expect_error(fx, "[ listen ]\n", VG_EBADREQ, "1: unknown section [ listen ]");
	expect_error(fx, "[tls]\ncert = cert.pem\nCert = cert.pem\n", VG_EBADREQ,
		     "3: unknown key [tls] Cert");
	expect_error(fx, "port = 1\n" REQUIRED, VG_EBADREQ, "1: key port is outside any section");
	expect_error(fx, "[listen]\n= 1\n", VG_EBADREQ, "2: missing key name before '=' in [listen]");
}

static void test_syntax_errors(void **state)
{
	struct fixture *fx = *state;
	expect_error(fx, REQUIRED "[listen\nport = 1\n", VG_EBADREQ,
		     "12: syntax error (expected [section] or key = value)");
	expect_error(fx, "[listen]\nport 8443\n" REQUIRED, VG_EBADREQ,
		     "2: syntax error (expected [section] or key = value)");
	/* The first error wins, whichever kind it is. */
	expect_error(fx, "[listen]\njunk\nport = x\n", VG_EBADREQ,
		     "2: syntax error (expected [section] or key = value)");
	expect_error(fx, "[listen]\nport = x\njunk\n", VG_EBADREQ,
		     "2: [listen] port: \"x\" is not a number in 0..65535");
	/* An indented line would silently extend the previous value. */
	expect_error(fx, "[listen]\nport = 1\n  max_connections = 2\n", VG_EBADREQ,
		     "3: indented line continues [listen] port; values must be on one line");

	/* A NUL byte would cut the line short without anyone noticing. */
	static const char nul[] = "[listen]\nport = 1\0 junk\n";
	FILE *f = fopen(fx->conf, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(nul, 1, sizeof(nul) - 1, f), sizeof(nul) - 1);
	assert_int_equal(fclose(f), 0);
	char err[ERR_LEN], want[ERR_LEN];
	struct config cfg;
	assert_int_equal(config_load(fx->conf, &cfg, err, sizeof(err)), VG_EBADREQ);
	snprintf(want, sizeof(want), "%s:2: line contains a NUL byte", fx->conf);
	assert_string_equal(err, want);

	/* A line longer than inih's buffer is refused, not split in two. */
	char text[1024];
	int n = snprintf(text, sizeof(text), "[listen]\n;");
	memset(text + n, 'x', INI_MAX_LINE - 2);
	strcpy(text + n + INI_MAX_LINE - 2, "\nport = 1\n");
	expect_error(fx, text, VG_EBADREQ, "2: line is longer than %d characters", INI_MAX_LINE - 2);
}

static void test_bad_numbers(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *line;
		const char *msg;
	} cases[] = {
		{ "port = abc", "[listen] port: \"abc\" is not a number in 0..65535" },
		{ "port = -1", "[listen] port: \"-1\" is not a number in 0..65535" },
		{ "port = +1", "[listen] port: \"+1\" is not a number in 0..65535" },
		{ "port = 65536", "[listen] port: \"65536\" is not a number in 0..65535" },
		{ "port = 80x", "[listen] port: \"80x\" is not a number in 0..65535" },
		{ "port = 80 80", "[listen] port: \"80 80\" is not a number in 0..65535" },
		{ "port = 0x50", "[listen] port: \"0x50\" is not a number in 0..65535" },
		{ "port =", "[listen] port: \"\" is not a number in 0..65535" },
		{ "port = 18446744073709551616",
		  "[listen] port: \"18446744073709551616\" is not a number in 0..65535" },
		{ "port = 4294975739", /* 7443 + 2^32: must not wrap to 7443 */
		  "[listen] port: \"4294975739\" is not a number in 0..65535" },
		{ "max_connections = 0",
		  "[listen] max_connections: \"0\" is not a number in 1..1000000" },
		{ "max_connections = 1000001",
		  "[listen] max_connections: \"1000001\" is not a number in 1..1000000" },
		{ "max_handshakes = 0",
		  "[listen] max_handshakes: \"0\" is not a number in 1..1000000" },
		{ "max_handshakes = 1000001",
		  "[listen] max_handshakes: \"1000001\" is not a number in 1..1000000" },
		{ "max_handshakes = 64k",
		  "[listen] max_handshakes: \"64k\" is not a number in 1..1000000" },
		{ "max_handshakes = -64",
		  "[listen] max_handshakes: \"-64\" is not a number in 1..1000000" },
		{ "max_handshakes_per_address = 0",
		  "[listen] max_handshakes_per_address: \"0\" is not a number in 1..1000000" },
		{ "max_handshakes_per_address = 1000001",
		  "[listen] max_handshakes_per_address: \"1000001\" is not a number in 1..1000000" },
		{ "max_handshakes_per_address = 8 8",
		  "[listen] max_handshakes_per_address: \"8 8\" is not a number in 1..1000000" },
		{ "max_handshakes_per_address = 0x8",
		  "[listen] max_handshakes_per_address: \"0x8\" is not a number in 1..1000000" },
		{ "max_frame = 63", "[listen] max_frame: \"63\" is not a number in 64..67108864" },
		{ "max_frame = 67108865",
		  "[listen] max_frame: \"67108865\" is not a number in 64..67108864" },
		{ "max_frame = 1M", "[listen] max_frame: \"1M\" is not a number in 64..67108864" },
		{ "max_frame = 99999999999999999999999",
		  "[listen] max_frame: \"99999999999999999999999\" is not a number in 64..67108864" },
		{ "handshake_timeout = 5x",
		  "[listen] handshake_timeout: \"5x\" is not a duration in 100ms..10m" },
		{ "handshake_timeout = 99ms",
		  "[listen] handshake_timeout: \"99ms\" is not a duration in 100ms..10m" },
		{ "handshake_timeout = 601s",
		  "[listen] handshake_timeout: \"601s\" is not a duration in 100ms..10m" },
		{ "handshake_timeout = 1.5s",
		  "[listen] handshake_timeout: \"1.5s\" is not a duration in 100ms..10m" },
		{ "handshake_timeout = -5s",
		  "[listen] handshake_timeout: \"-5s\" is not a duration in 100ms..10m" },
		{ "idle_timeout = 999ms", "[listen] idle_timeout: \"999ms\" is not a duration in 1s..7d" },
		{ "write_timeout = 999ms",
		  "[listen] write_timeout: \"999ms\" is not a duration in 1s..10m" },
		{ "write_timeout = 11m", "[listen] write_timeout: \"11m\" is not a duration in 1s..10m" },
		{ "idle_timeout = 8d", "[listen] idle_timeout: \"8d\" is not a duration in 1s..7d" },
		{ "idle_timeout = 5 m", "[listen] idle_timeout: \"5 m\" is not a duration in 1s..7d" },
		{ "idle_timeout = 5M", "[listen] idle_timeout: \"5M\" is not a duration in 1s..7d" },
		{ "idle_timeout = 213503982335d",
		  "[listen] idle_timeout: \"213503982335d\" is not a duration in 1s..7d" },
		{ "address = localhost",
		  "[listen] address: \"localhost\" is not an IPv4 or IPv6 address" },
		{ "address = [::1]", "[listen] address: \"[::1]\" is not an IPv4 or IPv6 address" },
		{ "address =", "[listen] address: value is empty" },
	};
	char text[1024];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "[listen]\nport = 1\n\n%s\n" REQUIRED,
			 cases[i].line);
		/* port itself is tested on line 2 so that it is not a duplicate. */
		if (strncmp(cases[i].line, "port", 4) == 0) {
			snprintf(text, sizeof(text), REQUIRED "[listen]\n\n%s\n", cases[i].line);
			expect_error(fx, text, VG_EBADREQ, "14: %s", cases[i].msg);
		} else {
			expect_error(fx, text, VG_EBADREQ, "4: %s", cases[i].msg);
		}
	}
	expect_error(fx, "[store]\nwal_limit = 65535\n" REQUIRED, VG_EBADREQ,
		     "2: [store] wal_limit: \"65535\" is not a number in 65536..1073741824");
	expect_error(fx, "[store]\nwal_limit = 1073741825\n" REQUIRED, VG_EBADREQ,
		     "2: [store] wal_limit: \"1073741825\" is not a number in 65536..1073741824");
	expect_error(fx, "[store]\nwal_limit = 16M\n" REQUIRED, VG_EBADREQ,
		     "2: [store] wal_limit: \"16M\" is not a number in 65536..1073741824");
	/* On the key's own line, after the required path in the same section. */
	expect_error(fx, REQUIRED "[store]\n\nwal_limit = -1\n", VG_EBADREQ,
		     "14: [store] wal_limit: \"-1\" is not a number in 65536..1073741824");
	expect_error(fx, "[writer]\nbatch_max = 10001\n" REQUIRED, VG_EBADREQ,
		     "2: [writer] batch_max: \"10001\" is not a number in 1..10000");
	expect_error(fx, "[writer]\nbatch_max = 0\n" REQUIRED, VG_EBADREQ,
		     "2: [writer] batch_max: \"0\" is not a number in 1..10000");
	expect_error(fx, "[writer]\nbatch_wait_ms = 1001\n" REQUIRED, VG_EBADREQ,
		     "2: [writer] batch_wait_ms: \"1001\" is not a number in 0..1000");
	expect_error(fx, "[writer]\nbatch_wait_ms = 5ms\n" REQUIRED, VG_EBADREQ,
		     "2: [writer] batch_wait_ms: \"5ms\" is not a number in 0..1000");
	expect_error(fx, "[watchdog]\nmax_clock_skew = 2d\n" REQUIRED, VG_EBADREQ,
		     "2: [watchdog] max_clock_skew: \"2d\" is not a duration in 0s..1d");
	expect_error(fx, "[watchdog]\nmax_clock_skew = -1s\n" REQUIRED, VG_EBADREQ,
		     "2: [watchdog] max_clock_skew: \"-1s\" is not a duration in 0s..1d");
	expect_error(fx, "[retention]\ncontent_after_close = never\n" REQUIRED, VG_EBADREQ,
		     "2: [retention] content_after_close: \"never\" is not a duration in "
		     "1s..3650d or off");
	expect_error(fx, "[retention]\nrecord_after_close = 3651d\n" REQUIRED, VG_EBADREQ,
		     "2: [retention] record_after_close: \"3651d\" is not a duration in "
		     "1s..3650d or off");
	expect_error(fx, "[retention]\nrecord_after_close = 0s\n" REQUIRED, VG_EBADREQ,
		     "2: [retention] record_after_close: \"0s\" is not a duration in "
		     "1s..3650d or off");
	struct config cfg;
	load_ok(fx, "[watchdog]\nmax_clock_skew = 0s\n" REQUIRED, &cfg);
	assert_int_equal(cfg.max_clock_skew_ms, 0);
	/* Retention: 365 days and off by default. */
	assert_int_equal(cfg.content_after_close_ms, 365ull * 86400 * 1000);
	assert_int_equal(cfg.record_after_close_ms, 0);
	config_free(&cfg);
	load_ok(fx, "[retention]\ncontent_after_close = off\nrecord_after_close = 3650d\n"
		REQUIRED, &cfg);
	assert_int_equal(cfg.content_after_close_ms, 0);
	assert_int_equal(cfg.record_after_close_ms, 3650ull * 86400 * 1000);
	config_free(&cfg);
}

/* [metrics]: off without a port, on 127.0.0.1 when only the port is given,
 * an address only with a port; both restart-only. */
static void test_metrics(void **state)
{
	struct fixture *fx = *state;
	struct config cfg;
	load_ok(fx, REQUIRED, &cfg);
	assert_int_equal(cfg.metrics_port, 0);
	assert_null(cfg.metrics_address);
	config_free(&cfg);
	load_ok(fx, REQUIRED "[metrics]\n", &cfg);
	assert_int_equal(cfg.metrics_port, 0);
	assert_null(cfg.metrics_address);
	config_free(&cfg);
	load_ok(fx, REQUIRED "[metrics]\nport = 9464\n", &cfg);
	assert_int_equal(cfg.metrics_port, 9464);
	assert_string_equal(cfg.metrics_address, "127.0.0.1");
	assert_int_equal(config_line(&cfg, "metrics", "address"), 0);
	config_free(&cfg);
	load_ok(fx, "[metrics]\naddress = ::1\nport = 65535\n" REQUIRED, &cfg);
	assert_int_equal(cfg.metrics_port, 65535);
	assert_string_equal(cfg.metrics_address, "::1");
	assert_int_equal(config_line(&cfg, "metrics", "port"), 3);

	/* A reload keeps both (they need a restart) and says so. */
	struct config next;
	load_ok(fx, "[metrics]\naddress = 0.0.0.0\nport = 1\n" REQUIRED, &next);
	char changed[256];
	assert_int_equal(config_keep_restart(&next, &cfg, changed, sizeof(changed)), 2);
	assert_string_equal(changed, "[metrics] address, [metrics] port");
	assert_string_equal(next.metrics_address, "::1");
	assert_int_equal(next.metrics_port, 65535);
	config_free(&next);
	config_free(&cfg);

	expect_error(fx, "[metrics]\naddress = 127.0.0.1\n" REQUIRED, VG_EBADREQ,
		     "2: [metrics] address is set but [metrics] port is not (no port: no metrics)");
	expect_error(fx, "[metrics]\nport = 0\n" REQUIRED, VG_EBADREQ,
		     "2: [metrics] port: \"0\" is not a number in 1..65535");
	expect_error(fx, "[metrics]\nport = 65536\n" REQUIRED, VG_EBADREQ,
		     "2: [metrics] port: \"65536\" is not a number in 1..65535");
	expect_error(fx, "[metrics]\nport = 9464\naddress = localhost\n" REQUIRED, VG_EBADREQ,
		     "3: [metrics] address: \"localhost\" is not an IPv4 or IPv6 address");
	expect_error(fx, "[metrics]\nport = 9464\nport = 9465\n" REQUIRED, VG_EBADREQ,
		     "3: duplicate key [metrics] port (first set on line 2)");
	expect_error(fx, "[metrics]\nscheme = https\n" REQUIRED, VG_EBADREQ,
		     "2: unknown key [metrics] scheme");
}

static void test_duplicate_key(void **state)
{
	struct fixture *fx = *state;
	expect_error(fx, "[listen]\nport = 1\naddress = ::1\n\nport = 1\n" REQUIRED, VG_EBADREQ,
		     "5: duplicate key [listen] port (first set on line 2)");
	expect_error(fx, "[listen]\nmax_handshakes = 4\nmax_handshakes = 4\n" REQUIRED, VG_EBADREQ,
		     "3: duplicate key [listen] max_handshakes (first set on line 2)");
	/* Also across two headers of the same section. */
	expect_error(fx, REQUIRED "[tls]\ncert = cert.pem\n", VG_EBADREQ,
		     "13: duplicate key [tls] cert (first set on line 2)");
}

static void test_missing_required(void **state)
{
	struct fixture *fx = *state;
	expect_error(fx, "[tls]\nkey = key.pem\nca = ca.pem\n" REQUIRED_STORE REQUIRED_LOG, VG_EBADREQ,
		     "0: [tls] cert is required");
	expect_error(fx, "[tls]\ncert = cert.pem\nca = ca.pem\n" REQUIRED_STORE REQUIRED_LOG, VG_EBADREQ,
		     "0: [tls] key is required");
	expect_error(fx, "[tls]\ncert = cert.pem\nkey = key.pem\n" REQUIRED_STORE REQUIRED_LOG, VG_EBADREQ,
		     "0: [tls] ca is required");
	expect_error(fx, REQUIRED_TLS, VG_EBADREQ, "0: [store] path is required");
	expect_error(fx, REQUIRED_TLS REQUIRED_STORE, VG_EBADREQ, "0: [log] origin is required");
	expect_error(fx, REQUIRED_TLS REQUIRED_STORE "[log]\norigin = o\n", VG_EBADREQ,
		     "0: [log] checkpoint_key is required");
	/* The member directory is required: without it no party has a role. */
	expect_error(fx, REQUIRED_TLS REQUIRED_STORE REQUIRED_LOG, VG_EBADREQ,
		     "0: [directory] path is required");
	expect_error(fx, REQUIRED_TLS REQUIRED_STORE REQUIRED_LOG "[directory]\npath =\n",
		     VG_EBADREQ, "11: [directory] path: value is empty");
	expect_error(fx, "[log]\norigin = a b\n", VG_EBADREQ,
		     "2: [log] origin: \"a b\" must be 1-255 bytes without spaces or '+'");
	expect_error(fx, "[log]\norigin = a+b\n", VG_EBADREQ,
		     "2: [log] origin: \"a+b\" must be 1-255 bytes without spaces or '+'");
	expect_error(fx, "[log]\ncheckpoint_interval = 500ms\n", VG_EBADREQ,
		     "2: [log] checkpoint_interval: \"500ms\" is not a duration in 1s..1d");
	expect_error(fx, "", VG_EBADREQ, "0: [tls] cert is required");
	expect_error(fx, "[tls]\ncert =\n", VG_EBADREQ, "2: [tls] cert: value is empty");
}

/* [store] backend: SQLite's path or PostgreSQL's connection string, never
 * the other's key; the connection string is checked by libpq's parser. */
static void test_store_backend(void **state)
{
	struct fixture *fx = *state;
	struct config cfg;
	struct db_target t;
	load_ok(fx, REQUIRED_TLS "[store]\nbackend = postgresql\n"
		    "dsn = host=127.0.0.1 port=5432 dbname=vigil options='-c search_path=relay'\n"
		    REQUIRED_LOG REQUIRED_DIR, &cfg);
	assert_int_equal(cfg.store_pg, 1);
	assert_null(cfg.store_path);
	config_store_target(&cfg, &t);
	assert_int_equal(t.engine, DB_POSTGRESQL);
	assert_string_equal(t.where,
			    "host=127.0.0.1 port=5432 dbname=vigil options='-c search_path=relay'");
	config_free(&cfg);
	load_ok(fx, REQUIRED_TLS "[store]\nbackend = sqlite\npath = data/vigil.db\n" REQUIRED_LOG
		    REQUIRED_DIR, &cfg);
	assert_int_equal(cfg.store_pg, 0);
	config_store_target(&cfg, &t);
	assert_int_equal(t.engine, DB_SQLITE);
	assert_non_null(strstr(t.where, "data/vigil.db"));
	config_free(&cfg);

	expect_error(fx, REQUIRED_TLS "[store]\nbackend = mysql\n", VG_EBADREQ,
		     "6: [store] backend: \"mysql\" is not sqlite or postgresql");
	expect_error(fx, REQUIRED_TLS "[store]\nbackend = postgresql\ndsn = bogus=1\n", VG_EBADREQ,
		     "7: [store] dsn: not a libpq connection string: invalid connection option "
		     "\"bogus\"");
	expect_error(fx, REQUIRED_TLS "[store]\nbackend = postgresql\ndsn = host='open\n",
		     VG_EBADREQ,
		     "7: [store] dsn: not a libpq connection string: unterminated quoted string "
		     "in connection info string");
	expect_error(fx, REQUIRED_TLS "[store]\nbackend = postgresql\n" REQUIRED_LOG REQUIRED_DIR,
		     VG_EBADREQ, "0: [store] dsn is required with backend = postgresql");
	expect_error(fx, REQUIRED_TLS "[store]\nbackend = postgresql\ndsn = dbname=v\n"
		     "path = data/vigil.db\n" REQUIRED_LOG REQUIRED_DIR, VG_EBADREQ,
		     "8: [store] path is not used with backend = postgresql (it takes [store] dsn)");
	load_ok(fx, REQUIRED_TLS "[store]\nbackend = postgresql\ndsn = dbname=v\nstandby = on\n"
		    REQUIRED_LOG REQUIRED_DIR, &cfg);
	config_store_target(&cfg, &t);
	assert_int_equal(t.standby, 1);
	config_free(&cfg);
	expect_error(fx, REQUIRED_TLS "[store]\nbackend = postgresql\ndsn = dbname=v\nstandby = yes\n",
		     VG_EBADREQ, "8: [store] standby: \"yes\" is not on or off");
	expect_error(fx, REQUIRED "[store]\nstandby = on\n", VG_EBADREQ,
		     "13: [store] standby needs backend = postgresql (an SQLite file has one relay)");
	expect_error(fx, REQUIRED "[store]\ndsn = dbname=v\n", VG_EBADREQ,
		     "13: [store] dsn is not used with backend = sqlite (it takes [store] path)");
}

static void test_bad_paths(void **state)
{
	struct fixture *fx = *state;
	char p[PATH_MAX];

	join(p, sizeof(p), fx->dir, "nope.pem");
	expect_error(fx, "[tls]\ncert = nope.pem\n", VG_EBADREQ,
		     "2: [tls] cert: cannot read \"%s\": No such file or directory", p);
	expect_error(fx, "[tls]\ncert = cert.pem\nkey = key.pem\nca = ca.pem\ncrl = nope.pem\n",
		     VG_EBADREQ, "5: [tls] crl: cannot read \"%s\": No such file or directory", p);
	join(p, sizeof(p), fx->dir, "data");
	expect_error(fx, "[tls]\nkey = data\n", VG_EBADREQ,
		     "2: [tls] key: cannot read \"%s\": Is a directory", p);
	expect_error(fx, "[tls]\nca = /nonexistent-vigil-test/ca.pem\n", VG_EBADREQ,
		     "2: [tls] ca: cannot read \"/nonexistent-vigil-test/ca.pem\": "
		     "No such file or directory");
	join(p, sizeof(p), fx->dir, "nope.conf");
	expect_error(fx, "[directory]\npath = nope.conf\n", VG_EBADREQ,
		     "2: [directory] path: cannot read \"%s\": No such file or directory", p);

	join(p, sizeof(p), fx->dir, "nodir");
	expect_error(fx, REQUIRED_TLS "[store]\npath = nodir/vigil.db\n", VG_EBADREQ,
		     "6: [store] path: cannot use directory \"%s\": No such file or directory", p);
	join(p, sizeof(p), fx->dir, "cert.pem");
	expect_error(fx, REQUIRED_TLS "[store]\npath = cert.pem/vigil.db\n", VG_EBADREQ,
		     "6: [store] path: cannot use directory \"%s\": Not a directory", p);
	join(p, sizeof(p), fx->dir, "data");
	expect_error(fx, REQUIRED_TLS "[store]\npath = data\n", VG_EBADREQ,
		     "6: [store] path: \"%s\" is a directory, not a file", p);
	join(p, sizeof(p), fx->dir, "data/");
	expect_error(fx, REQUIRED_TLS "[store]\npath = data/\n", VG_EBADREQ,
		     "6: [store] path: \"%s\" is a directory, not a file", p);
}

/* Errors found after loading, in the files the keys name (a key that does
 * not parse, a certificate that does not match), name the key's own line;
 * only a key left at its default has none. */
static void test_key_lines(void **state)
{
	struct fixture *fx = *state;
	struct config cfg;
	/* Lines: 1 [listen], 2 port, 3 blank, 4 [tls], 5 cert, 6 key, 7 ca, 8 crl,
	 * 9 [store], 10 path, 11 [log], 12 origin, 13 checkpoint_key,
	 * 14 [directory], 15 path. */
	load_ok(fx, "[listen]\nport = 1\n\n" REQUIRED_TLS "crl = crl.pem\n" REQUIRED_STORE
		    REQUIRED_LOG REQUIRED_DIR, &cfg);
	assert_int_equal(config_line(&cfg, "listen", "port"), 2);
	assert_int_equal(config_line(&cfg, "tls", "cert"), 5);
	assert_int_equal(config_line(&cfg, "tls", "key"), 6);
	assert_int_equal(config_line(&cfg, "tls", "ca"), 7);
	assert_int_equal(config_line(&cfg, "tls", "crl"), 8);
	assert_int_equal(config_line(&cfg, "store", "path"), 10);
	assert_int_equal(config_line(&cfg, "log", "checkpoint_key"), 13);
	assert_int_equal(config_line(&cfg, "directory", "path"), 15);
	assert_int_equal(config_line(&cfg, "listen", "address"), 0); /* the default */
	assert_int_equal(config_line(&cfg, "tls", "nope"), 0);

	char err[ERR_LEN], want[ERR_LEN];
	config_key_error(&cfg, "tls", "key", err, sizeof(err), "key %s does not match", cfg.tls_key);
	snprintf(want, sizeof(want), "%s:6: [tls] key: key %s does not match", fx->conf,
		 cfg.tls_key);
	assert_string_equal(err, want);
	config_key_error(&cfg, "log", "checkpoint_key", err, sizeof(err), "%s is not Ed25519",
			 cfg.log_checkpoint_key);
	snprintf(want, sizeof(want), "%s:13: [log] checkpoint_key: %s is not Ed25519", fx->conf,
		 cfg.log_checkpoint_key);
	assert_string_equal(err, want);
	config_key_error(&cfg, "tls", "crl", err, sizeof(err), "no CRL found in %s", cfg.tls_crl);
	snprintf(want, sizeof(want), "%s:8: [tls] crl: no CRL found in %s", fx->conf, cfg.tls_crl);
	assert_string_equal(err, want);
	/* Cut short, still terminated; no room at all is fine too. */
	config_key_error(&cfg, "tls", "ca", err, 8, "x");
	assert_int_equal(strlen(err), 7);
	config_key_error(&cfg, "tls", "ca", NULL, 0, "x");
	config_free(&cfg);
	assert_zeroed(&cfg);
}

/* A private key group or others may read or write is refused on its
 * key's line, naming the file and its mode; 0600 and 0400 are fine, and
 * the certificates may be world-readable. */
static void test_key_permissions(void **state)
{
	struct fixture *fx = *state;
	char key[PATH_MAX], ckey[PATH_MAX];
	join(key, sizeof(key), fx->dir, "key.pem");
	join(ckey, sizeof(ckey), fx->dir, "checkpoint.key");
	static const struct {
		mode_t mode;
		const char *what;
	} bad[] = {
		{ 0644, "readable by group or others (mode 0644)" },
		{ 0640, "readable by group or others (mode 0640)" },
		{ 0604, "readable by group or others (mode 0604)" },
		{ 0620, "writable by group or others (mode 0620)" },
		{ 0602, "writable by group or others (mode 0602)" },
		{ 0666, "readable by group or others (mode 0666)" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(key, bad[i].mode), 0);
		expect_error(fx, REQUIRED, VG_EBADREQ, "3: [tls] key: \"%s\" is %s; chmod 600 it", key,
			     bad[i].what);
		assert_int_equal(chmod(key, 0600), 0);
		assert_int_equal(chmod(ckey, bad[i].mode), 0);
		expect_error(fx, REQUIRED, VG_EBADREQ,
			     "9: [log] checkpoint_key: \"%s\" is %s; chmod 600 it", ckey,
			     bad[i].what);
		assert_int_equal(chmod(ckey, 0600), 0);
	}
	struct config cfg;
	assert_int_equal(chmod(key, 0400), 0);
	assert_int_equal(chmod(ckey, 0700), 0); /* an execute bit exposes nothing */
	load_ok(fx, REQUIRED, &cfg);
	config_free(&cfg);
	assert_int_equal(chmod(key, 0600), 0);
	assert_int_equal(chmod(ckey, 0600), 0);
}

static void test_unreadable_config(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX], want[ERR_LEN], err[ERR_LEN] = "";
	struct config cfg;

	join(path, sizeof(path), fx->dir, "missing.conf");
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), VG_EIO);
	snprintf(want, sizeof(want), "%s:0: cannot open: No such file or directory", path);
	assert_string_equal(err, want);
	assert_zeroed(&cfg);

	join(path, sizeof(path), fx->dir, "data");
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), VG_EIO);
	snprintf(want, sizeof(want), "%s:0: cannot read: Is a directory", path);
	assert_string_equal(err, want);
	assert_zeroed(&cfg);

	/* No room for the message is fine too. */
	assert_int_equal(config_load(path, &cfg, NULL, 0), VG_EIO);
	assert_zeroed(&cfg);
}

static void test_free_half_built(void **state)
{
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	config_free(&cfg);
	config_free(NULL);
	cfg.tls_cert = strdup("x");
	cfg.store_path = strdup("y");
	assert_non_null(cfg.tls_cert);
	assert_non_null(cfg.store_path);
	config_free(&cfg);
	assert_zeroed(&cfg);
}

/* A reload keeps the running value of every key that needs a restart,
 * names them, and takes the others. */
static void test_keep_restart(void **state)
{
	struct fixture *fx = *state;
	struct config running, next;
	load_ok(fx, "[listen]\nport = 7443\nmax_connections = 10\n" REQUIRED
		"[watchdog]\nhigh = 1h\n", &running);
	load_ok(fx, "[listen]\nport = 9000\nmax_connections = 20\nidle_timeout = 9s\n"
		    REQUIRED_TLS "crl = ca.pem\n[store]\npath = data/other.db\n" REQUIRED_LOG
		    REQUIRED_DIR "[watchdog]\nhigh = 2h\n", &next);
	char changed[256];
	assert_int_equal(config_keep_restart(&next, &running, changed, sizeof(changed)), 3);
	assert_string_equal(changed, "[listen] port, [store] path, [watchdog] high");
	assert_int_equal(next.listen_port, 7443);
	assert_string_equal(next.store_path, running.store_path);
	assert_int_equal(next.window_high_ms, 3600000);
	assert_int_equal(config_line(&next, "listen", "port"), 2);
	/* Applied: the limits and timeouts, [tls]. */
	assert_int_equal(next.max_connections, 20);
	assert_int_equal(next.idle_timeout_ms, 9000);
	assert_non_null(next.tls_crl);
	/* Nothing left to keep the second time; a short buffer is cut, not
	 * overrun. */
	assert_int_equal(config_keep_restart(&next, &running, changed, sizeof(changed)), 0);
	assert_string_equal(changed, "");
	next.listen_port = 1;
	next.window_low_ms = 1;
	assert_int_equal(config_keep_restart(&next, &running, changed, 10), 2);
	assert_int_equal(strlen(changed), 9);
	config_free(&next);
	config_free(&running);
}

static void test_parse_uint(void **state)
{
	uint64_t v = 12345;
	assert_int_equal(config_parse_uint("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(config_parse_uint("010", 0, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(config_parse_uint("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(config_parse_uint("5", 5, 5, &v), 0);
	assert_int_equal(v, 5);

	v = 777;
	static const char *const bad[] = {
		"", "-0", "-1", "+1", " 1", "1 ", "\t1", "1\n", "0x1", "1e3", "1.0", "1_000",
		"18446744073709551616", "99999999999999999999999999", "abc", "1a",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (config_parse_uint(bad[i], 0, UINT64_MAX, &v) != -1)
			fail_msg("config_parse_uint accepted \"%s\"", bad[i]);
	}
	assert_int_equal(config_parse_uint(NULL, 0, 10, &v), -1);
	assert_int_equal(config_parse_uint("4", 5, 10, &v), -1);
	assert_int_equal(config_parse_uint("11", 5, 10, &v), -1);
	assert_int_equal(v, 777); /* untouched on failure */
}

static void test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} good[] = {
		{ "30", 30000 }, { "0", 0 }, { "250ms", 250 }, { "30s", 30000 },
		{ "5m", 300000 }, { "2h", 7200000 }, { "3d", 259200000 }, { "0ms", 0 },
		{ "007s", 7000 },
		{ "18446744073709551615ms", UINT64_MAX },
		{ "213503982334d", 213503982334ull * 86400000ull },
	};
	uint64_t v;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 1;
		if (config_parse_duration(good[i].s, 0, UINT64_MAX, &v) != 0)
			fail_msg("config_parse_duration rejected \"%s\"", good[i].s);
		assert_true(v == good[i].ms);
	}
	static const char *const bad[] = {
		"", "ms", "s", "-5s", "+5s", " 5s", "5 s", "5s ", "5S", "5MS", "1.5s", "5sec",
		"5mss", "5hm", "5x", "5 ", "0x5", "18446744073709551615", "213503982335d",
		"18446744073709551616ms", "5\xC2\xB5s",
	};
	v = 4242;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (config_parse_duration(bad[i], 0, UINT64_MAX, &v) != -1)
			fail_msg("config_parse_duration accepted \"%s\"", bad[i]);
	}
	assert_int_equal(config_parse_duration(NULL, 0, 10, &v), -1);
	assert_int_equal(v, 4242);

	/* Bounds are in milliseconds, whatever the unit written. */
	assert_int_equal(config_parse_duration("1s", 1000, 1000, &v), 0);
	assert_int_equal(v, 1000);
	assert_int_equal(config_parse_duration("1000ms", 1000, 1000, &v), 0);
	assert_int_equal(config_parse_duration("999ms", 1000, 2000, &v), -1);
	assert_int_equal(config_parse_duration("2001ms", 1000, 2000, &v), -1);
	assert_int_equal(config_parse_duration("3", 1000, 2000, &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keep_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_budgets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syntax_variants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syntax_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_required, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_permissions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_config, setup, teardown),
		cmocka_unit_test(test_free_half_built),
		cmocka_unit_test_setup_teardown(test_store_backend, setup, teardown),
		cmocka_unit_test(test_parse_uint),
		cmocka_unit_test(test_parse_duration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
