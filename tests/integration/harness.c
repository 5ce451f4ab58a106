#include "harness.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "daemon/db.h"

#include "proto/status.h"

static void die(const char *what)
{
	fprintf(stderr, "harness: %s: %s\n", what, strerror(errno));
	abort();
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *pki(const char *name)
{
	/* A ring per thread: a loader thread opening its connection while
	 * the test's thread names other files must not get its names
	 * overwritten (a certificate paired with another's key). */
	static _Thread_local char buf[8][1024];
	static _Thread_local int i;
	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", PKI_DIR, name);
	return buf[i];
}

void trelay_setup(struct trelay *t, const char *listen_extra, const char *extra)
{
	trelay_setup_directory(t, listen_extra, extra, pki("directory.conf"));
}

int test_backend_pg(void)
{
	const char *b = getenv("VIGIL_TEST_BACKEND");
	return b && strcmp(b, "postgresql") == 0;
}

/* The fixture's server (tests/pg/pg.sh wrote its connection string). */
static void pg_base_dsn(char *out, size_t len)
{
	char path[600];
	const char *dir = getenv("VIGIL_TEST_PG_DIR");
	snprintf(path, sizeof(path), "%s/dsn", dir ? dir : PG_DIR);
	FILE *f = fopen(path, "r");
	if (!f || !fgets(out, (int)len, f)) {
		fprintf(stderr, "harness: no PostgreSQL connection string in %s\n", path);
		exit(1);
	}
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}

/* Runs sql on the fixture's server, outside any relay's schema. */
static int pg_admin(const char *sql)
{
	char dsn[600], err[512];
	struct db *db;
	pg_base_dsn(dsn, sizeof(dsn));
	const struct db_target where = { DB_POSTGRESQL, dsn, 0 };
	if (db_open(&where, 0, &db, err, sizeof(err)) != DB_OK) {
		fprintf(stderr, "harness: %s\n", err);
		return -1;
	}
	int rc = db_exec(db, sql);
	if (rc != DB_OK)
		fprintf(stderr, "harness: %s: %s\n", sql, db_errmsg(db));
	db_close(&db);
	return rc == DB_OK ? 0 : -1;
}

/* A schema of the relay's own, named after its scratch directory. */
static void pg_schema_create(struct trelay *t)
{
	const char *base = strrchr(t->dir, '/');
	snprintf(t->pg_schema, sizeof(t->pg_schema), "relay_");
	for (const char *c = base ? base + sizeof("/relay-") - 1 : t->dir; *c; c++) {
		size_t n = strlen(t->pg_schema);
		/* Lower case, and upper case letters as "u" and the letter:
		 * distinct, and no quoting needed. */
		if (n + 3 >= sizeof(t->pg_schema))
			break;
		if (*c >= 'A' && *c <= 'Z') {
			t->pg_schema[n++] = 'u';
			t->pg_schema[n++] = (char)(*c - 'A' + 'a');
		} else {
			t->pg_schema[n++] = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ? *c
												 : '_';
		}
		t->pg_schema[n] = '\0';
	}
	char sql[128], dsn[600];
	snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", t->pg_schema);
	if (pg_admin(sql) != 0)
		die("create a PostgreSQL schema");
	pg_base_dsn(dsn, sizeof(dsn));
	snprintf(t->pg_dsn, sizeof(t->pg_dsn), "%s options='-c search_path=%s'", dsn,
		 t->pg_schema);
}

/* The relay's store, for db.h. */
static void store_target(const struct trelay *t, struct db_target *where)
{
	where->engine = t->pg_schema[0] ? DB_POSTGRESQL : DB_SQLITE;
	where->where = t->pg_schema[0] ? t->pg_dsn : t->db;
	where->standby = 0;
}

/* Whether the relay's log was made (vigild --init-db). */
static int store_exists(const struct trelay *t)
{
	if (!t->pg_schema[0])
		return access(t->db, F_OK) == 0;
	char sql[200];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM information_schema.tables WHERE "
		 "table_schema = '%s'", t->pg_schema);
	return db_int((struct trelay *)t, sql) > 0;
}

void trelay_setup_directory(struct trelay *t, const char *listen_extra, const char *extra,
			    const char *directory)
{
	memset(t, 0, sizeof(*t));
	mkdir(TEST_TMP, 0700);
	snprintf(t->dir, sizeof(t->dir), "%s/relay-XXXXXX", TEST_TMP);
	if (!mkdtemp(t->dir))
		die("mkdtemp");
	snprintf(t->conf, sizeof(t->conf), "%s/vigild.conf", t->dir);
	snprintf(t->db, sizeof(t->db), "%s/vigil.db", t->dir);
	snprintf(t->log, sizeof(t->log), "%s/vigild.log", t->dir);
	snprintf(t->ready, sizeof(t->ready), "%s/ready", t->dir);
	char store[1000];
	if (test_backend_pg()) {
		pg_schema_create(t);
		/* One line, where path is: the lines of every other key stay where
		 * the tests expect them; the backend comes last in the file. */
		snprintf(store, sizeof(store), "dsn = %s", t->pg_dsn);
	} else {
		snprintf(store, sizeof(store), "path = vigil.db");
	}
	FILE *f = fopen(t->conf, "w");
	if (!f)
		die("config");
	fprintf(f,
		"[listen]\naddress = 127.0.0.1\nport = 0\n%s\n"
		"[tls]\ncert = %s\nkey = %s\nca = %s\ncrl = %s\n"
		"[store]\n%s\n"
		"[directory]\npath = %s\n"
		"[log]\norigin = vigil.test/log\ncheckpoint_key = %s\n%s\n%s",
		listen_extra ? listen_extra : "", pki("relay.crt"), pki("relay.key"),
		pki("ca.crt"), pki("crl.pem"), store, directory, pki("checkpoint.key"), extra ? extra : "",
		/* Alerts are their own tests' subject: elsewhere no early alert
		 * adds entries the test does not expect (the default windows of
		 * days never end during a test). */
		extra && strstr(extra, "[watchdog]") ? "" : "[watchdog]\nfailed_attempts = 1000000\n");
	if (t->pg_schema[0])
		fprintf(f, "[store]\nbackend = postgresql\n");
	fclose(f);
}

/* The daemon under test: VIGIL_TEST_VIGILD names another build (to measure
 * an older one by hand), else the one built with the tests. */
static const char *vigild_path(void)
{
	const char *p = getenv("VIGIL_TEST_VIGILD");
	return p && p[0] ? p : VIGILD_PATH;
}

/* pg-suites (defined in its block at the end). */
static void pg_writer_holders(const struct trelay *t, char *out, size_t len);
static int pg_wait_writer_gone(const struct trelay *t, const char *holder);
static void store_snapshots_drop(const struct trelay *t);

int trelay_start(struct trelay *t)
{
	/* A new log is made only when asked, as an operator would: the first
	 * start of a test's relay creates it with --init-db. */
	if (!store_exists(t) && trelay_init_db(t) != 0)
		return -1;
	trelay_spawn(t);
	return trelay_await(t, 15000);
}

void trelay_spawn(struct trelay *t)
{
	unlink(t->ready);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		/* A test that dies must not leave its relay behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (t->fsize_limit > 0) {
			/* Writes past the limit fail with EFBIG, as a failing disk's
			 * writes fail; the signal that would end the process is
			 * ignored, and that survives exec. */
			signal(SIGXFSZ, SIG_IGN);
			struct rlimit rl = { (rlim_t)t->fsize_limit, (rlim_t)t->fsize_limit };
			setrlimit(RLIMIT_FSIZE, &rl);
		}
		int fd = open(t->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		execl(vigild_path(), "vigild", "-c", t->conf, "--ready-file", t->ready, "-v",
		      (char *)NULL);
		_exit(127);
	}
	t->pid = pid;
}

int trelay_await(struct trelay *t, int ms)
{
	int64_t deadline = now_ms() + ms;
	while (t->pid > 0 && now_ms() < deadline) {
		FILE *f = fopen(t->ready, "r");
		if (f) {
			int ok = fscanf(f, "%d", &t->port) == 1;
			fclose(f);
			if (ok)
				return 0;
		}
		int st;
		if (waitpid(t->pid, &st, WNOHANG) == t->pid) {
			t->pid = 0;
			return -1;
		}
		usleep(10000);
	}
	if (ms >= 15000)
		trelay_kill9(t);
	return -1;
}

static int wait_exit(pid_t pid, int ms)
{
	int64_t deadline = now_ms() + ms;
	int st;
	while (now_ms() < deadline) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(5000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

int trelay_stop(struct trelay *t)
{
	if (t->pid <= 0)
		return -1;
	char holder[32];
	pg_writer_holders(t, holder, sizeof(holder));  /* pg-suites */
	kill(t->pid, SIGTERM);
	int rc = wait_exit(t->pid, 20000);
	t->pid = 0;
	pg_wait_writer_gone(t, holder);  /* pg-suites */
	return rc;
}

int trelay_wait(struct trelay *t, int ms)
{
	if (t->pid <= 0)
		return -1;
	int rc = wait_exit(t->pid, ms);
	t->pid = 0;
	return rc;
}

void trelay_kill9(struct trelay *t)
{
	if (t->pid <= 0)
		return;
	char holder[32];
	pg_writer_holders(t, holder, sizeof(holder));  /* pg-suites */
	kill(t->pid, SIGKILL);
	int st;
	waitpid(t->pid, &st, 0);
	t->pid = 0;
	pg_wait_writer_gone(t, holder);  /* pg-suites */
}

int trelay_init_db(struct trelay *t)
{
	const char *args[] = { "vigild", "-c", t->conf, "--init-db", NULL };
	char out[2048];
	int rc = run_vigild(args, out, sizeof(out));
	/* Into the relay's log, where a test looks for start-up errors. */
	FILE *f = fopen(t->log, "a");
	if (f) {
		fputs(out, f);
		fclose(f);
	}
	return rc == 0 ? 0 : -1;
}

int run_vigild(const char *const *args, char *out, size_t out_len)
{
	int p[2];
	if (pipe(p) != 0)
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execv(vigild_path(), (char *const *)args);
		_exit(127);
	}
	close(p[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < out_len && (r = read(p[0], out + n, out_len - n - 1)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(p[0]);
	return wait_exit(pid, 20000);
}

void trelay_cleanup(struct trelay *t)
{
	trelay_kill9(t);
	if (t->dir[0] && !getenv("VIGIL_TEST_KEEP")) {
		char cmd[700];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "harness: cannot remove %s\n", t->dir);
	}
	if (t->pg_schema[0] && !getenv("VIGIL_TEST_KEEP")) {
		char sql[128];
		snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", t->pg_schema);
		pg_admin(sql);
		store_snapshots_drop(t);  /* pg-suites */
	}
	t->pg_schema[0] = '\0';
	t->dir[0] = '\0';
}

int trelay_log_has(struct trelay *t, const char *needle, int wait_ms)
{
	int64_t deadline = now_ms() + wait_ms;
	do {
		FILE *f = fopen(t->log, "r");
		if (f) {
			static char buf[1 << 20];
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);
			buf[n] = '\0';
			fclose(f);
			if (strstr(buf, needle))
				return 1;
		}
		usleep(10000);
	} while (now_ms() < deadline);
	return 0;
}

/*
 * The tests' SQL is SQLite's; on PostgreSQL its few SQLite idioms become
 * PostgreSQL's: x'HEX' is a bytea literal, hex(COLUMN) an upper-case
 * encode(), char() chr(), zeroblob(N) N zero bytes, PRAGMA user_version and
 * application_id the vigil_meta row.  malloc()ed.
 */
static char *pg_sql(const char *sql)
{
	if (strcmp(sql, "PRAGMA user_version") == 0)
		return strdup("SELECT version FROM vigil_meta");
	if (strcmp(sql, "PRAGMA application_id") == 0)
		return strdup("SELECT application_id FROM vigil_meta");
	size_t len = strlen(sql), o = 0;
	char *out = malloc(len * 4 + 64);
	if (!out)
		die("malloc");
	for (size_t i = 0; i < len;) {
		int word_start = i == 0 || !(isalnum((unsigned char)sql[i - 1]) || sql[i - 1] == '_');
		size_t n;
		if (word_start && (sql[i] == 'x' || sql[i] == 'X') && sql[i + 1] == '\'') {
			/* x'0102' -> '\x0102'::bytea */
			n = strspn(sql + i + 2, "0123456789abcdefABCDEF");
			if (sql[i + 2 + n] == '\'') {
				o += (size_t)sprintf(out + o, "'\\x%.*s'::bytea", (int)n, sql + i + 2);
				i += n + 3;
				continue;
			}
		}
		if (word_start && strncmp(sql + i, "hex(", 4) == 0) {
			n = strspn(sql + i + 4, "abcdefghijklmnopqrstuvwxyz_.");
			if (sql[i + 4 + n] == ')') {
				o += (size_t)sprintf(out + o, "upper(encode(%.*s, 'hex'))", (int)n,
						     sql + i + 4);
				i += n + 5;
				continue;
			}
		}
		if (word_start && strncmp(sql + i, "char(", 5) == 0) {
			o += (size_t)sprintf(out + o, "chr(");
			i += 5;
			continue;
		}
		if (word_start && strncmp(sql + i, "zeroblob(", 9) == 0) {
			n = strspn(sql + i + 9, "0123456789");
			if (sql[i + 9 + n] == ')') {
				o += (size_t)sprintf(out + o, "decode(repeat('00', %.*s), 'hex')", (int)n,
						     sql + i + 9);
				i += n + 10;
				continue;
			}
		}
		out[o++] = sql[i++];
	}
	out[o] = '\0';
	return out;
}

/* SQL for the relay's engine (pg_sql); malloc()ed. */
static char *store_sql(const struct trelay *t, const char *sql)
{
	char *out = t->pg_schema[0] ? pg_sql(sql) : strdup(sql);
	if (!out)
		die("malloc");
	return out;
}

/* A read-only connection to the relay's store; NULL (said on stderr)
 * when there is none. */
static struct db *store_connect(const struct trelay *t, int readonly)
{
	struct db_target where;
	struct db *db;
	char err[512];
	store_target(t, &where);
	if (db_open(&where, readonly, &db, err, sizeof(err)) != DB_OK) {
		fprintf(stderr, "harness: %s\n", err);
		return NULL;
	}
	return db;
}

long long db_int(struct trelay *t, const char *sql)
{
	struct db_stmt *st;
	long long v = -1;
	struct db *db = store_connect(t, 1);
	if (!db)
		return -1;
	char *q = store_sql(t, sql);
	if (db_prepare(db, q, &st) == DB_OK) {
		if (db_step(st) == DB_ROW)
			v = db_column_int64(st, 0);
		db_finalize(st);
	} else {
		fprintf(stderr, "db_int %s: %s\n", q, db_errmsg(db));
	}
	free(q);
	db_close(&db);
	return v;
}

int tcp_connect_port(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void set_timeout(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void ssl_err(struct tclient *c, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256] = "";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else if (errno == EAGAIN || errno == EWOULDBLOCK)
		snprintf(buf, sizeof(buf), "timeout");
	else
		snprintf(buf, sizeof(buf), "eof");
	snprintf(c->err, sizeof(c->err), "%s: %s", what, buf);
	ERR_clear_error();
}

int tclient_connect(struct tclient *c, int port, const char *cert, const char *alpn)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->next_id = 1;
	c->ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_3_VERSION);
	SSL_CTX_load_verify_locations(c->ctx, pki("ca.crt"), NULL);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (cert) {
		/* A name in the PKI, or a path of our own (beginning with '/'). */
		char crt[700], key[700];
		snprintf(crt, sizeof(crt), "%s.crt", cert);
		snprintf(key, sizeof(key), "%s.key", cert);
		const char *cp = cert[0] == '/' ? crt : pki(crt);
		char cpath[700];
		snprintf(cpath, sizeof(cpath), "%s", cp);
		const char *kp = cert[0] == '/' ? key : pki(key);
		if (SSL_CTX_use_certificate_file(c->ctx, cpath, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_use_PrivateKey_file(c->ctx, kp, SSL_FILETYPE_PEM) != 1) {
			ssl_err(c, "client certificate");
			return -1;
		}
		c->key = SSL_CTX_get0_privatekey(c->ctx);
		EVP_PKEY_up_ref(c->key);
		unsigned int n;
		X509 *own = SSL_CTX_get0_certificate(c->ctx);
		X509_digest(own, EVP_sha256(), c->cert_sha256, &n);
		X509_NAME_get_text_by_NID(X509_get_subject_name(own), NID_organizationName, c->org,
					  sizeof(c->org));
	}
	if (alpn) {
		unsigned char proto[64];
		size_t n = strlen(alpn);
		proto[0] = (unsigned char)n;
		memcpy(proto + 1, alpn, n);
		SSL_CTX_set_alpn_protos(c->ctx, proto, (unsigned int)n + 1);
	}
	c->fd = tcp_connect_port(port);
	if (c->fd < 0) {
		snprintf(c->err, sizeof(c->err), "connect: %s", strerror(errno));
		return -1;
	}
	set_timeout(c->fd, 5000);
	c->ssl = SSL_new(c->ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set1_host(c->ssl, "localhost");
	if (SSL_connect(c->ssl) != 1) {
		ssl_err(c, "handshake");
		return -1;
	}
	return 0;
}

int tclient_send_raw(struct tclient *c, const void *data, size_t len)
{
	if (SSL_write(c->ssl, data, (int)len) != (int)len) {
		ssl_err(c, "write");
		return -1;
	}
	return 0;
}

int tclient_send_frame(struct tclient *c, const Vigil__V1__Frame *f)
{
	uint8_t *buf;
	size_t len;
	if (frame_encode(f, 1u << 30, &buf, &len) != VG_OK)
		abort();
	int rc = tclient_send_raw(c, buf, len);
	free(buf);
	return rc;
}

static int read_full(struct tclient *c, uint8_t *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		int r = SSL_read(c->ssl, p + got, (int)(n - got));
		if (r <= 0) {
			ssl_err(c, "read");
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

int tclient_recv(struct tclient *c, Vigil__V1__Frame **out, int timeout_ms)
{
	set_timeout(c->fd, timeout_ms);
	uint8_t h[4];
	if (read_full(c, h, 4) != 0)
		return -1;
	uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	if (n > (64u << 20)) {
		snprintf(c->err, sizeof(c->err), "frame of %u bytes", n);
		return -1;
	}
	uint8_t *p = malloc(n ? n : 1);
	if (read_full(c, p, n) != 0) {
		free(p);
		return -1;
	}
	int rc = frame_decode(p, n, out);
	free(p);
	if (rc != VG_OK) {
		snprintf(c->err, sizeof(c->err), "undecodable frame");
		return -1;
	}
	return 0;
}

int tclient_wait_closed(struct tclient *c, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint8_t b[4096];
	while (now_ms() < deadline) {
		set_timeout(c->fd, 100);
		int r = SSL_read(c->ssl, b, sizeof(b));
		if (r > 0)
			continue;
		int e = SSL_get_error(c->ssl, r);
		ERR_clear_error();
		if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SSL)
			return 1;
		if (e == SSL_ERROR_SYSCALL && errno != EAGAIN && errno != EWOULDBLOCK)
			return 1;
	}
	return 0;
}

int tclient_hello(struct tclient *c)
{
	Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
	h.protocol_version = 1;
	h.software = "vigil-tests";
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = c->next_id++;
	f.msg_case = VIGIL__V1__FRAME__MSG_HELLO;
	f.hello = &h;
	if (tclient_send_frame(c, &f) != 0)
		return -1;
	Vigil__V1__Frame *a;
	if (tclient_recv(c, &a, 5000) != 0)
		return -1;
	int ok = a->msg_case == VIGIL__V1__FRAME__MSG_WELCOME && a->request_id == f.request_id;
	if (!ok)
		snprintf(c->err, sizeof(c->err), "hello answered with message %d", a->msg_case);
	frame_free(a);
	return ok ? 0 : -1;
}

int tclient_open(struct tclient *c, int port, const char *cert)
{
	if (tclient_connect(c, port, cert, "vigil/1") != 0)
		return -1;
	return tclient_hello(c);
}

void tclient_close(struct tclient *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	EVP_PKEY_free(c->key);
	SSL_CTX_free(c->ctx);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

void contact_spec_default(struct contact_spec *s, const char *author, uint32_t seed)
{
	memset(s, 0, sizeof(*s));
	if (seed == 0)
		RAND_bytes(s->record_id, RECORD_ID_LEN);
	else
		for (unsigned i = 0; i < RECORD_ID_LEN; i++)
			s->record_id[i] = (uint8_t)(seed >> (8 * (i % 4))) ^ (uint8_t)i;
	s->case_id = "se-stockholm-coord/SE-2026-0042";
	s->author = author;
	s->channel = VIGIL__V1__CHANNEL__CHANNEL_PHONE;
	s->outcome = VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER;
	s->time_ms = 1795000000000LL;
	s->note = "";
}

void contact_build(const struct contact_spec *s, uint8_t **rec, size_t *len)
{
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	ca.channel = (Vigil__V1__Channel)s->channel;
	ca.outcome = (Vigil__V1__Outcome)s->outcome;
	ca.attempted_at_ms = s->time_ms;
	ca.note = (char *)(s->note ? s->note : "");
	ca.sealed_note = (Vigil__V1__SealedText *)s->sealed_note;
	Vigil__V1__Record r = VIGIL__V1__RECORD__INIT;
	r.record_id.data = (uint8_t *)s->record_id;
	r.record_id.len = RECORD_ID_LEN;
	r.case_id = (char *)s->case_id;
	r.author = (char *)s->author;
	r.client_time_ms = s->time_ms;
	r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	r.contact_attempt = &ca;
	*len = vigil__v1__record__get_packed_size(&r);
	*rec = malloc(*len);
	vigil__v1__record__pack(&r, *rec);
}

void sign_with(const char *keyname, const uint8_t *data, size_t len, uint8_t **sig, size_t *sig_len)
{
	char file[128];
	snprintf(file, sizeof(file), "%s.key", keyname);
	FILE *f = fopen(pki(file), "r");
	if (!f)
		die(pki(file));
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k || record_sign(k, data, len, sig, sig_len) != VG_OK)
		abort();
	EVP_PKEY_free(k);
}

Vigil__V1__Frame *tclient_roundtrip(struct tclient *c, Vigil__V1__Frame *f)
{
	f->request_id = c->next_id++;
	if (tclient_send_frame(c, f) != 0)
		return NULL;
	Vigil__V1__Frame *a;
	if (tclient_recv(c, &a, 10000) != 0)
		return NULL;
	if (a->request_id != f->request_id) {
		snprintf(c->err, sizeof(c->err), "answer to request %llu, expected %llu",
			 (unsigned long long)a->request_id, (unsigned long long)f->request_id);
		frame_free(a);
		return NULL;
	}
	return a;
}

Vigil__V1__Frame *tclient_submit(struct tclient *c, const uint8_t *rec, size_t rec_len,
				 const uint8_t *sig, size_t sig_len)
{
	return tclient_submit_sealed(c, rec, rec_len, sig, sig_len, NULL, 0);
}

Vigil__V1__Frame *tclient_submit_sealed(struct tclient *c, const uint8_t *rec, size_t rec_len,
					const uint8_t *sig, size_t sig_len, const uint8_t *cms,
					size_t cms_len)
{
	Vigil__V1__SignedRecord sr = VIGIL__V1__SIGNED_RECORD__INIT;
	sr.record.data = (uint8_t *)rec;
	sr.record.len = rec_len;
	sr.signature.data = (uint8_t *)sig;
	sr.signature.len = sig_len;
	Vigil__V1__Submit sub = VIGIL__V1__SUBMIT__INIT;
	sub.record = &sr;
	sub.sealed.data = (uint8_t *)cms;
	sub.sealed.len = cms ? cms_len : 0;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_SUBMIT;
	f.submit = &sub;
	return tclient_roundtrip(c, &f);
}

Vigil__V1__Frame *tclient_submit_contact(struct tclient *c, const struct contact_spec *s)
{
	uint8_t *rec, *sig;
	size_t rec_len, sig_len;
	contact_build(s, &rec, &rec_len);
	if (record_sign(c->key, rec, rec_len, &sig, &sig_len) != VG_OK)
		abort();
	Vigil__V1__Frame *a = tclient_submit(c, rec, rec_len, sig, sig_len);
	free(rec);
	free(sig);
	return a;
}

int tclient_send_contact(struct tclient *c, const struct contact_spec *s, uint64_t request_id)
{
	uint8_t *rec, *sig;
	size_t rec_len, sig_len;
	contact_build(s, &rec, &rec_len);
	if (record_sign(c->key, rec, rec_len, &sig, &sig_len) != VG_OK)
		abort();
	Vigil__V1__SignedRecord sr = VIGIL__V1__SIGNED_RECORD__INIT;
	sr.record.data = rec;
	sr.record.len = rec_len;
	sr.signature.data = sig;
	sr.signature.len = sig_len;
	Vigil__V1__Submit sub = VIGIL__V1__SUBMIT__INIT;
	sub.record = &sr;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = request_id;
	f.msg_case = VIGIL__V1__FRAME__MSG_SUBMIT;
	f.submit = &sub;
	int rc = tclient_send_frame(c, &f);
	free(rec);
	free(sig);
	return rc == 0 ? 0 : -1;
}

/* ---- running programs, reading rows, free ports (appended) --------------- */

int run_capture(const char *const *argv, const char *cwd, char *out, size_t out_len,
		char *err, size_t err_len, int timeout_ms)
{
	int po[2], pe[2];
	if (pipe(po) != 0 || pipe(pe) != 0)
		die("pipe");
	/* Other children (started by other threads) must not inherit them. */
	for (int i = 0; i < 2; i++) {
		fcntl(po[i], F_SETFD, FD_CLOEXEC);
		fcntl(pe[i], F_SETFD, FD_CLOEXEC);
	}
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int in = open("/dev/null", O_RDONLY);
		if (in < 0 || dup2(in, 0) < 0 || dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
			_exit(126);
		if (cwd && chdir(cwd) != 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	struct {
		int fd;
		char *buf;
		size_t cap, n;
	} s[2] = { { po[0], out, out_len, 0 }, { pe[0], err, err_len, 0 } };
	int64_t deadline = now_ms() + timeout_ms;
	int open_fds = 2, timed_out = 0;
	while (open_fds > 0) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		struct pollfd p[2];
		nfds_t np = 0;
		int which[2];
		for (int i = 0; i < 2; i++) {
			if (s[i].fd >= 0) {
				p[np].fd = s[i].fd;
				p[np].events = POLLIN;
				p[np].revents = 0;
				which[np++] = i;
			}
		}
		int r = poll(p, np, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("poll");
		for (nfds_t k = 0; k < np; k++) {
			if (!p[k].revents)
				continue;
			int i = which[k];
			char tmp[4096];
			ssize_t got = read(s[i].fd, tmp, sizeof(tmp));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				close(s[i].fd);
				s[i].fd = -1;
				open_fds--;
				continue;
			}
			size_t room = s[i].cap > s[i].n + 1 ? s[i].cap - s[i].n - 1 : 0;
			size_t take = (size_t)got < room ? (size_t)got : room;
			memcpy(s[i].buf + s[i].n, tmp, take);
			s[i].n += take;
		}
	}
	for (int i = 0; i < 2; i++) {
		if (s[i].fd >= 0)
			close(s[i].fd);
		if (s[i].cap)
			s[i].buf[s[i].n] = '\0';
	}
	if (timed_out) {
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		return -1;
	}
	/* Both pipes are closed: the child is exiting; give it a moment. */
	int64_t left = deadline - now_ms();
	return wait_exit(pid, left > 2000 ? (int)left : 2000);
}

int db_blob(struct trelay *t, const char *sql, uint8_t **out, size_t *len)
{
	struct db_stmt *st;
	int rc = -1;
	*out = NULL;
	*len = 0;
	struct db *db = store_connect(t, 1);
	if (!db)
		return -1;
	char *q = store_sql(t, sql);
	if (db_prepare(db, q, &st) == DB_OK) {
		if (db_step(st) == DB_ROW) {
			const void *p = db_column_blob(st, 0);
			size_t n = (size_t)db_column_bytes(st, 0);
			if (n > 0) {
				*out = malloc(n);
				if (!*out)
					die("malloc");
				memcpy(*out, p, n);
			}
			*len = n;
			rc = 0;
		}
		db_finalize(st);
	} else {
		fprintf(stderr, "db_blob %s: %s\n", q, db_errmsg(db));
	}
	free(q);
	db_close(&db);
	return rc;
}

int db_text(struct trelay *t, const char *sql, char *out, size_t out_len)
{
	uint8_t *b;
	size_t n;
	if (out_len == 0 || db_blob(t, sql, &b, &n) != 0)
		return -1;
	if (n >= out_len)
		n = out_len - 1;
	if (n)
		memcpy(out, b, n);
	out[n] = '\0';
	free(b);
	return 0;
}

int unused_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(a);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		die("bind");
	close(fd);
	return ntohs(a.sin_port);
}

/* ---- changing a stopped relay's database (appended) ---------------------- */

int db_change(struct trelay *t, const char *sql)
{
	struct db *db = store_connect(t, 0);
	if (!db)
		return -1;
	char *q = store_sql(t, sql);
	int rc = db_exec(db, q);
	free(q);
	/* SQLite: into the database file itself, for the tests that read or
	 * change the file's bytes. */
	if (rc == DB_OK && db_sqlite(db))
		rc = db_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	if (rc != DB_OK)
		fprintf(stderr, "db_change %s: %s\n", sql, db_errmsg(db));
	db_close(&db);
	return rc == DB_OK ? 0 : -1;
}

int file_copy(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return -1;
	}
	char buf[65536];
	ssize_t n;
	int rc = 0;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			rc = -1;
			break;
		}
	if (n < 0)
		rc = -1;
	close(in);
	if (close(out) != 0)
		rc = -1;
	/* A database copied over another must not meet the other's WAL. */
	char side[700];
	snprintf(side, sizeof(side), "%s-wal", to);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", to);
	unlink(side);
	return rc;
}

/* ---- sealed text --------------------------------------------------------------- */

static X509 *enc_cert(const char *org)
{
	char name[128];
	snprintf(name, sizeof(name), "%s.enc.crt", org);
	FILE *f = fopen(pki(name), "r");
	if (!f)
		die(pki(name));
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x)
		die(name);
	return x;
}

struct hashed {
	uint8_t h[SHA256_LEN];
	X509 *x;
};

static int by_hashed(const void *a, const void *b)
{
	return memcmp(((const struct hashed *)a)->h, ((const struct hashed *)b)->h, SHA256_LEN);
}

/* The orgs' encryption certificates, sorted by hash into hs. */
static void hashed_certs(const char *const *orgs, size_t n, struct hashed *hs)
{
	if (n > SEALED_READERS_MAX)
		abort();
	for (size_t i = 0; i < n; i++) {
		hs[i].x = enc_cert(orgs[i]);
		if (sealed_cert_sha256(hs[i].x, hs[i].h) != VG_OK)
			abort();
	}
	qsort(hs, n, sizeof(hs[0]), by_hashed);
}

void tseal_reader_hashes(const char *const *orgs, size_t n, uint8_t (*out)[SHA256_LEN])
{
	struct hashed hs[SEALED_READERS_MAX];
	hashed_certs(orgs, n, hs);
	for (size_t i = 0; i < n; i++) {
		memcpy(out[i], hs[i].h, SHA256_LEN);
		X509_free(hs[i].x);
	}
}

void tseal_plain(struct tsealed *s, const uint8_t *p, size_t plain_len, const char *const *orgs,
		 size_t n)
{
	struct hashed hs[SEALED_READERS_MAX];
	X509 *x[SEALED_READERS_MAX];
	hashed_certs(orgs, n, hs);
	vigil__v1__sealed_text__init(&s->text);
	for (size_t i = 0; i < n; i++) {
		memcpy(s->readers[i], hs[i].h, SHA256_LEN);
		s->rd[i].data = s->readers[i];
		s->rd[i].len = SHA256_LEN;
		x[i] = hs[i].x;
	}
	s->text.commitment.data = s->commitment;
	s->text.commitment.len = SHA256_LEN;
	s->text.readers = s->rd;
	s->text.n_readers = n;
	char why[256];
	if (sealed_seal(p, plain_len, x, n, &s->cms, &s->cms_len, why, sizeof(why)) != VG_OK) {
		fprintf(stderr, "tseal: %s\n", why);
		abort();
	}
	for (size_t i = 0; i < n; i++)
		X509_free(x[i]);
}

void tseal(struct tsealed *s, int field, const uint8_t record_id[RECORD_ID_LEN],
	   const char *text, const char *const *orgs, size_t n)
{
	memset(s, 0, sizeof(*s));
	char why[256];
	s->plain_len = sealed_plain_len(field);
	if (sealed_plain_build(field, record_id, NULL, text, strlen(text), s->plain, why,
			       sizeof(why)) != VG_OK) {
		fprintf(stderr, "tseal: %s\n", why);
		abort();
	}
	sealed_commit(s->plain, s->plain_len, s->commitment);
	tseal_plain(s, s->plain, s->plain_len, orgs, n);
}

void tsealed_free(struct tsealed *s)
{
	free(s->cms);
	s->cms = NULL;
	s->cms_len = 0;
}

/* Opens the envelope of entry idx in table (sealed or reseals) with org's key and
 * checks it against the entry's record: the text (malloc()ed), and P
 * into *plain when plain is not NULL; NULL with the reason in why. */
static char *entry_unseal(struct trelay *t, unsigned long long idx, const char *org,
		     const char *table, uint8_t **plain, size_t *plain_len, char *why,
		     size_t why_len)
{
	char sql[200];
	uint8_t *rec = NULL, *cms = NULL, *p = NULL;
	size_t rec_len = 0, cms_len = 0, p_len = 0;
	char *text = NULL;
	size_t text_len;
	Vigil__V1__Record *r = NULL;
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	snprintf(sql, sizeof(sql), "SELECT record FROM entries WHERE idx = %llu", idx);
	if (db_blob(t, sql, &rec, &rec_len) != 0 || !rec) {
		snprintf(why, why_len, "no entry %llu", idx);
		goto out;
	}
	snprintf(sql, sizeof(sql), "SELECT cms FROM %s WHERE idx = %llu AND cms IS NOT NULL",
		 table, idx);
	if (db_blob(t, sql, &cms, &cms_len) != 0 || !cms) {
		snprintf(why, why_len, "entry %llu has no sealed text", idx);
		goto out;
	}
	if (record_parse(rec, rec_len, &r, why, why_len) != VG_OK)
		goto out;
	int field;
	const Vigil__V1__SealedText *st = record_sealed_text(r, &field, NULL);
	if (!st) {
		snprintf(why, why_len, "entry %llu's record seals nothing", idx);
		goto out;
	}
	char name[128];
	snprintf(name, sizeof(name), "%s.enc.key", org);
	FILE *f = fopen(pki(name), "r");
	if (!f)
		die(pki(name));
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	x = enc_cert(org);
	if (sealed_open(cms, cms_len, k, x, &p, &p_len, why, why_len) != VG_OK)
		goto out;
	if (sealed_plain_parse(p, p_len, field, r->record_id.data, st->commitment.data, &text,
			       &text_len, why, why_len) != VG_OK)
		text = NULL;
	if (text && plain) {
		*plain = p;
		*plain_len = p_len;
		p = NULL;
	}
out:
	free(p);
	record_free(r);
	EVP_PKEY_free(k);
	X509_free(x);
	free(rec);
	free(cms);
	return text;
}

char *db_sealed_text(struct trelay *t, unsigned long long idx, const char *org, char *why,
		     size_t why_len)
{
	return entry_unseal(t, idx, org, "sealed", NULL, NULL, why, why_len);
}

char *db_resealed_text(struct trelay *t, unsigned long long idx, const char *org, char *why,
		       size_t why_len)
{
	return entry_unseal(t, idx, org, "reseals", NULL, NULL, why, why_len);
}

Vigil__V1__Frame *tclient_reseal_send(struct tclient *c, const char *case_id,
				      const uint8_t offer_id[RECORD_ID_LEN],
				      Vigil__V1__ResealedText **texts, size_t n)
{
	Vigil__V1__Reseal m = VIGIL__V1__RESEAL__INIT;
	m.case_id = (char *)case_id;
	m.offer_id.data = (uint8_t *)offer_id;
	m.offer_id.len = RECORD_ID_LEN;
	m.texts = texts;
	m.n_texts = n;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_RESEAL;
	f.reseal = &m;
	return tclient_roundtrip(c, &f);
}

static const char *const pki_members[] = { "se-stockholm-coord", "se-goteborg-coord",
					   "se-police-noa",      "iom-ru-moscow",
					   "iom-md-chisinau",    "se-shelter-1" };

Vigil__V1__Frame *tclient_reseal(struct tclient *c, struct trelay *t, const char *org,
				 const char *case_id, const uint8_t offer_id[RECORD_ID_LEN],
				 const char *to)
{
	Vigil__V1__Frame *a = tclient_reseal_send(c, case_id, offer_id, NULL, 0);
	if (!a || a->msg_case != VIGIL__V1__FRAME__MSG_RESEALED ||
	    a->resealed->n_missing_indexes == 0)
		return a;
	size_t n = a->resealed->n_missing_indexes;
	Vigil__V1__ResealedText *texts = calloc(n, sizeof(*texts));
	Vigil__V1__ResealedText **ptrs = calloc(n, sizeof(*ptrs));
	if (!texts || !ptrs)
		abort();
	for (size_t i = 0; i < n; i++) {
		unsigned long long idx = (unsigned long long)a->resealed->missing_indexes[i];
		char why[256];
		uint8_t *p = NULL;
		size_t plen = 0;
		char sql[96];
		snprintf(sql, sizeof(sql), "SELECT cms FROM sealed WHERE idx = %llu", idx);
		char *text = entry_unseal(t, idx, org, "sealed", &p, &plen, why, sizeof(why));
		uint8_t *cms = NULL;
		size_t cms_len = 0;
		if (!text || db_blob(t, sql, &cms, &cms_len) != 0) {
			fprintf(stderr, "tclient_reseal: entry %llu: %s\n", idx, why);
			abort();
		}
		free(text);
		CMS_ContentInfo *env = NULL;
		if (sealed_check(cms, cms_len, &env, why, sizeof(why)) != VG_OK)
			abort();
		const char *orgs[8];
		size_t k = 0;
		for (size_t m = 0; m < sizeof(pki_members) / sizeof(pki_members[0]); m++) {
			X509 *x = enc_cert(pki_members[m]);
			if (strcmp(pki_members[m], to) != 0 && sealed_has_recipient(env, x))
				orgs[k++] = pki_members[m];
			X509_free(x);
		}
		orgs[k++] = to;
		CMS_ContentInfo_free(env);
		free(cms);
		struct tsealed s;
		memset(&s, 0, sizeof(s));
		tseal_plain(&s, p, plen, orgs, k);
		free(p);
		vigil__v1__resealed_text__init(&texts[i]);
		texts[i].index = idx;
		texts[i].sealed.data = s.cms;
		texts[i].sealed.len = s.cms_len;
		ptrs[i] = &texts[i];
	}
	frame_free(a);
	a = tclient_reseal_send(c, case_id, offer_id, ptrs, n);
	for (size_t i = 0; i < n; i++)
		free(texts[i].sealed.data);
	free(texts);
	free(ptrs);
	return a;
}

void file_replace(const char *path, const char *from, const char *to)
{
	char text[8192], out[8192];
	FILE *f = fopen(path, "r");
	if (!f)
		die(path);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	char *at = strstr(text, from);
	if (!at) {
		fprintf(stderr, "harness: \"%s\" is not in %s\n", from, path);
		abort();
	}
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	f = fopen(path, "w");
	if (!f || fputs(out, f) < 0 || fclose(f) != 0)
		die(path);
}

/* ---- a second relay on the same PostgreSQL schema (appended) ------------- */

void trelay_setup_peer(struct trelay *b, const struct trelay *a, const char *extra)
{
	if (!a->pg_schema[0])
		die("trelay_setup_peer: the first relay is not on PostgreSQL");
	trelay_setup(b, NULL, extra);
	/* Its own schema goes; it uses a's, which a's cleanup drops. */
	char sql[128];
	snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", b->pg_schema);
	pg_admin(sql);
	file_replace(b->conf, b->pg_dsn, a->pg_dsn);
	snprintf(b->pg_dsn, sizeof(b->pg_dsn), "%s", a->pg_dsn);
	snprintf(b->pg_schema, sizeof(b->pg_schema), "%s", a->pg_schema);
}

int trelay_pg_admin(const char *sql)
{
	return pg_admin(sql);
}

/* ==== the relay's store as a whole, on either engine (pg-suites) ============ */

void store_name(const struct trelay *t, char *out, size_t out_len)
{
	struct db_target where;
	store_target(t, &where);
	db_target_name(&where, out, out_len);
}

int sqlite_only(const char *why)
{
	if (!test_backend_pg())
		return 1;
	printf("SQLite only: %s\n", why);
	fflush(stdout);
	return 0;
}

/* One integer from a query on the fixture's server, outside any relay's
 * schema: the value, or -1. */
static long long pg_admin_int(const char *sql)
{
	char dsn[600], err[512];
	struct db *db;
	struct db_stmt *st;
	long long v = -1;
	pg_base_dsn(dsn, sizeof(dsn));
	const struct db_target where = { DB_POSTGRESQL, dsn, 0 };
	if (db_open(&where, 0, &db, err, sizeof(err)) != DB_OK) {
		fprintf(stderr, "harness: %s\n", err);
		return -1;
	}
	if (db_prepare(db, sql, &st) == DB_OK) {
		if (db_step(st) == DB_ROW)
			v = db_column_int64(st, 0);
		db_finalize(st);
	} else {
		fprintf(stderr, "harness: %s: %s\n", sql, db_errmsg(db));
	}
	db_close(&db);
	return v;
}

/* The pg_locks rows of the relay's advisory lock (store.c's open_pg:
 * hashtext('vigil ' || schema) as a bigint key: classid its high half,
 * objid its low half, objsubid 1). */
static void pg_writer_lock(const struct trelay *t, char *out, size_t len)
{
	snprintf(out, len, "FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND granted "
		 "AND ((classid::bigint << 32) | objid::bigint) = hashtext('vigil %s')::bigint",
		 t->pg_schema);
}

/* PostgreSQL: the server pid of this relay's session that holds its
 * advisory lock now ("" when it holds none: a standby, or not running),
 * before it is stopped or killed.  vigild names its sessions
 * "vigild[PID]" (application_name). */
static void pg_writer_holders(const struct trelay *t, char *out, size_t len)
{
	out[0] = '\0';
	if (!t->pg_schema[0] || t->pid <= 0)
		return;
	char sql[600];
	snprintf(sql, sizeof(sql), "SELECT coalesce(min(pid), 0) FROM pg_stat_activity WHERE "
		 "application_name = 'vigild[%d]' AND pid IN (SELECT pid ", (int)t->pid);
	pg_writer_lock(t, sql + strlen(sql), sizeof(sql) - strlen(sql) - 2);
	strcat(sql, ")");
	long long pid = pg_admin_int(sql);
	if (pid > 0)
		snprintf(out, len, "%lld", pid);
}

/* PostgreSQL: waits (up to 10 s) until the session that held the relay's
 * advisory lock (holder, from pg_writer_holders) is gone: a relay killed
 * or stopped is gone only once the server has ended its session, with what
 * that session had sent (a COMMIT).  A standby may hold the lock by then.
 * 0, or -1 when it is still there. */
static int pg_wait_writer_gone(const struct trelay *t, const char *holder)
{
	if (!t->pg_schema[0] || !holder[0])
		return 0;
	char sql[200];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", holder);
	for (int64_t deadline = now_ms() + 10000; now_ms() < deadline; usleep(10000))
		if (pg_admin_int(sql) == 0)
			return 0;
	fprintf(stderr, "harness: the relay's session on %s is still there\n", t->pg_schema);
	return -1;
}

int store_pg_end_writer(struct trelay *t)
{
	if (!t->pg_schema[0])
		return -1;
	char sql[400];
	snprintf(sql, sizeof(sql), "SELECT count(pg_terminate_backend(pid)) ");
	pg_writer_lock(t, sql + strlen(sql), sizeof(sql) - strlen(sql));
	return (int)pg_admin_int(sql);
}

/* Drops the schemas of the relay's snapshots (SCHEMA_name). */
static void store_snapshots_drop(const struct trelay *t)
{
	char sql[600];
	snprintf(sql, sizeof(sql),
		 "DO $vigil$DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace WHERE "
		 "left(nspname, %zu) = '%s_' LOOP EXECUTE format('DROP SCHEMA %%I CASCADE', s); "
		 "END LOOP; END$vigil$", strlen(t->pg_schema) + 1, t->pg_schema);
	pg_admin(sql);
}

/*
 * PostgreSQL: the tables of schema src copied into schema dst (made when
 * missing), in one statement and so one transaction: dst's tables that src
 * lacks dropped, the others emptied and refilled (identity values as they
 * were), a table dst lacks made LIKE src's, and every identity column's
 * sequence set past its rows, so that the relay's next insert does not
 * collide.  The copies of a snapshot have no foreign keys; a restored
 * schema keeps its own.
 */
static int pg_copy_schema(const char *src, const char *dst)
{
	char sql[3000];
	snprintf(sql, sizeof(sql),
		 "DO $vigil$DECLARE src text := '%s'; dst text := '%s'; r record; tabs text; "
		 "BEGIN "
		 "EXECUTE format('CREATE SCHEMA IF NOT EXISTS %%I', dst); "
		 "FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = dst AND tablename "
		 "NOT IN (SELECT tablename FROM pg_tables WHERE schemaname = src) LOOP "
		 "EXECUTE format('DROP TABLE %%I.%%I CASCADE', dst, r.tablename); END LOOP; "
		 "SELECT string_agg(format('%%I.%%I', dst, tablename), ', ') INTO tabs FROM pg_tables "
		 "WHERE schemaname = dst; "
		 "IF tabs IS NOT NULL THEN EXECUTE 'TRUNCATE ' || tabs; END IF; "
		 "FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = src LOOP "
		 "IF NOT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = dst AND tablename = "
		 "r.tablename) THEN EXECUTE format('CREATE TABLE %%I.%%I (LIKE %%I.%%I INCLUDING ALL)', "
		 "dst, r.tablename, src, r.tablename); END IF; "
		 "EXECUTE format('INSERT INTO %%I.%%I OVERRIDING SYSTEM VALUE SELECT * FROM %%I.%%I', "
		 "dst, r.tablename, src, r.tablename); END LOOP; "
		 "FOR r IN SELECT table_name, column_name FROM information_schema.columns WHERE "
		 "table_schema = dst AND is_identity = 'YES' LOOP "
		 "EXECUTE format('SELECT setval(pg_get_serial_sequence(%%L, %%L), coalesce((SELECT "
		 "max(%%I) FROM %%I.%%I), 0) + 1, false)', format('%%I.%%I', dst, r.table_name), "
		 "r.column_name, r.column_name, dst, r.table_name); END LOOP; "
		 "END$vigil$", src, dst);
	return pg_admin(sql);
}

/* SQLite: DIR/name.db; PostgreSQL: SCHEMA_name.  Fails the test (abort)
 * on a name that is not [a-z0-9_]+. */
static void snapshot_where(const struct trelay *t, const char *name, char *out, size_t len)
{
	if (!name[0] || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name)) {
		fprintf(stderr, "harness: bad snapshot name \"%s\"\n", name);
		abort();
	}
	if (t->pg_schema[0])
		snprintf(out, len, "%s_%s", t->pg_schema, name);
	else
		snprintf(out, len, "%s/%s.db", t->dir, name);
}

/* The relay must be stopped, and on PostgreSQL its session gone. */
static int store_idle(const struct trelay *t, const char *what)
{
	if (t->pid > 0) {
		fprintf(stderr, "harness: %s: the relay (pid %d) runs\n", what, (int)t->pid);
		return -1;
	}
	if (!t->pg_schema[0])
		return 0;
	/* No session holds the log's lock (no relay, no standby). */
	char sql[400];
	snprintf(sql, sizeof(sql), "SELECT count(*) ");
	pg_writer_lock(t, sql + strlen(sql), sizeof(sql) - strlen(sql));
	for (int64_t deadline = now_ms() + 10000; now_ms() < deadline; usleep(10000))
		if (pg_admin_int(sql) == 0)
			return 0;
	fprintf(stderr, "harness: %s: a session still holds the lock of %s\n", what, t->pg_schema);
	return -1;
}

int store_snapshot(struct trelay *t, const char *name)
{
	char where[700];
	snapshot_where(t, name, where, sizeof(where));
	if (store_idle(t, "store_snapshot") != 0)
		return -1;
	if (t->pg_schema[0])
		return pg_copy_schema(t->pg_schema, where);
	return file_copy(t->db, where);
}

int store_restore_from(struct trelay *t, const struct trelay *from, const char *name)
{
	char where[700];
	snapshot_where(from, name, where, sizeof(where));
	if (store_idle(t, "store_restore") != 0)
		return -1;
	if (!t->pg_schema[0] != !from->pg_schema[0]) {
		fprintf(stderr, "harness: store_restore: relays on two engines\n");
		return -1;
	}
	if (t->pg_schema[0])
		return pg_copy_schema(where, t->pg_schema);
	return file_copy(where, t->db);
}

int store_restore(struct trelay *t, const char *name)
{
	return store_restore_from(t, t, name);
}

struct db *store_lock(struct trelay *t)
{
	struct db *db = store_connect(t, 0);
	if (!db)
		return NULL;
	if (db_sqlite(db))
		sqlite3_busy_timeout(db_sqlite(db), 5000);
	if (db_exec(db, db_sqlite(db) ? "BEGIN IMMEDIATE"
				      : "BEGIN; LOCK TABLE entries IN EXCLUSIVE MODE") != DB_OK) {
		fprintf(stderr, "harness: cannot take the write lock: %s\n", db_errmsg(db));
		db_close(&db);
		return NULL;
	}
	return db;
}

int store_unlock(struct db *lock)
{
	int rc = db_exec(lock, "ROLLBACK");
	if (rc != DB_OK)
		fprintf(stderr, "harness: store_unlock: %s\n", db_errmsg(lock));
	if (db_close(&lock) != DB_OK)
		rc = -1;
	return rc == DB_OK ? 0 : -1;
}

long long db_each(struct trelay *t, const char *sql,
		  void (*row)(void *ctx, const uint8_t *value, size_t len), void *ctx)
{
	struct db_stmt *st;
	long long n = -1;
	struct db *db = store_connect(t, 1);
	if (!db)
		return -1;
	if (db_sqlite(db))
		sqlite3_busy_timeout(db_sqlite(db), 5000);
	char *q = store_sql(t, sql);
	if (db_prepare(db, q, &st) == DB_OK) {
		int rc;
		n = 0;
		while ((rc = db_step(st)) == DB_ROW) {
			row(ctx, db_column_blob(st, 0), (size_t)db_column_bytes(st, 0));
			n++;
		}
		if (rc != DB_DONE) {
			fprintf(stderr, "db_each %s: %s\n", q, db_errmsg(db));
			n = -1;
		}
		db_finalize(st);
	} else {
		fprintf(stderr, "db_each %s: %s\n", q, db_errmsg(db));
	}
	free(q);
	db_close(&db);
	return n;
}

long long db_count_bytes(struct trelay *t, const uint8_t *needle, size_t n)
{
	struct db_stmt *cols, *st;
	long long found = -1;
	struct db *db = store_connect(t, 1);
	if (!db)
		return -1;
	int pg = !db_sqlite(db);
	if (!pg)
		sqlite3_busy_timeout(db_sqlite(db), 5000);
	char *hex = malloc(2 * n + 1), *sql = malloc(2 * n + 512);
	if (!hex || !sql)
		die("malloc");
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", needle[i]);
	const char *list = pg ? "SELECT table_name, column_name FROM information_schema.columns "
				"WHERE table_schema = current_schema() AND data_type = 'bytea'"
			      : "SELECT m.name, p.name FROM sqlite_schema m JOIN "
				"pragma_table_info(m.name) p WHERE m.type = 'table'";
	if (db_prepare(db, list, &cols) != DB_OK) {
		fprintf(stderr, "db_count_bytes: %s\n", db_errmsg(db));
		goto out;
	}
	found = 0;
	int rc = DB_DONE;
	while (found >= 0 && (rc = db_step(cols)) == DB_ROW) {
		const char *table = db_column_text(cols, 0), *col = db_column_text(cols, 1);
		if (pg)
			snprintf(sql, 2 * n + 512, "SELECT count(*) FROM \"%s\" WHERE position("
				 "'\\x%s'::bytea IN \"%s\") > 0", table, hex, col);
		else
			snprintf(sql, 2 * n + 512, "SELECT count(*) FROM \"%s\" WHERE instr(\"%s\", "
				 "x'%s') > 0", table, col, hex);
		if (db_prepare(db, sql, &st) != DB_OK || db_step(st) != DB_ROW) {
			fprintf(stderr, "db_count_bytes %s: %s\n", sql, db_errmsg(db));
			found = -1;
		} else {
			found += db_column_int64(st, 0);
		}
		db_finalize(st);
	}
	if (found >= 0 && rc != DB_DONE) {
		fprintf(stderr, "db_count_bytes: %s\n", db_errmsg(db));
		found = -1;
	}
	db_finalize(cols);
out:
	free(hex);
	free(sql);
	db_close(&db);
	return found;
}
