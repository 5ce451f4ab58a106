/*
 * vigil-bench-conns - the relay's memory per idle session (DESIGN.md
 * section 9: 10,000 idle mutual-TLS connections at no more than 20 KiB
 * each), driven by tests/bench/run.sh conns.
 *
 *   vigil-bench-conns --port P --pki DIR --relay-pid PID [--conns N]
 *                     [--rounds R] [--parallel K] [--cert NAME]
 *                     [--settle S] [--hold S] [-- GOOD-CLIENT-COMMAND ...]
 *
 * Each round opens N sessions to the relay, each a full TLS 1.3 handshake
 * with a client certificate and a Hello answered by a Welcome, so that the
 * relay holds N authenticated sessions; at most K handshakes are under way
 * at once (the relay's handshake pool must admit K from one address).  It
 * then reads the relay's resident memory (VmRSS in /proc/PID/status),
 * closes them all (close_notify, then the socket), waits until the relay
 * has let go of their descriptors and reads it again.  In the first round,
 * while the sessions are open, it runs GOOD-CLIENT-COMMAND (run.sh passes
 * vigil-bench latency at a modest rate) and reports that client's figures
 * with the prefix "good_".
 *
 * Only the relay's memory counts: this program holds N client SSL objects
 * itself (with their buffers released while idle) and that is fine.
 *
 * Output on stdout: "name: value" lines and "# " comments; diagnostics on
 * stderr.  Exit status 0 only when every session of every round opened and
 * the good client succeeded.
 */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proto/frame.h"
#include "proto/status.h"
#include "tests/bench/bconn.h"
#include "tests/bench/bident.h"

#define OPEN_TIMEOUT_NS (30LL * 1000000000)  /* one session's handshake and Hello */
#define CLOSE_WAIT_NS (60LL * 1000000000)    /* the relay letting go of the sockets */

struct opts {
	const char *pki;
	const char *cert;
	int port;
	long relay_pid;
	size_t conns;
	unsigned rounds;
	unsigned parallel;
	double settle;
	double hold;
	char **good;          /* the command after "--", or NULL */
};

enum sstate { S_CONNECT, S_TLS, S_HELLO, S_WELCOME, S_OPEN };

/* One idle session, as small as the client can keep it. */
struct sess {
	int fd;
	SSL *ssl;
	enum sstate st;
	int want_write;
	int64_t deadline;
	struct frame_reader *rd;   /* only until the Welcome arrives */
};

static void usage(FILE *f)
{
	fputs("usage: vigil-bench-conns --port P --pki DIR --relay-pid PID [--conns N]\n"
	      "                         [--rounds R] [--parallel K] [--cert NAME]\n"
	      "                         [--settle S] [--hold S] [-- GOOD-CLIENT-COMMAND ...]\n"
	      "\n"
	      "  --settle S  wait S seconds before each reading of the relay's memory (default 2)\n"
	      "  --hold S    keep the first round's sessions open S seconds more (to look at the\n"
	      "              relay meanwhile, e.g. with a heap profiler)\n", f);
}

static int parse_num(const char *name, const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "vigil-bench-conns: --%s: \"%s\" is not a number in [%g, %g]\n",
			name, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "pki", required_argument, NULL, 'k' },
		{ "relay-pid", required_argument, NULL, 'r' },
		{ "conns", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'R' },
		{ "parallel", required_argument, NULL, 'K' },
		{ "cert", required_argument, NULL, 'c' },
		{ "settle", required_argument, NULL, 's' },
		{ "hold", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	memset(o, 0, sizeof(*o));
	o->cert = "iom-ru-moscow";
	o->conns = 10000;
	o->rounds = 3;
	o->parallel = 32;
	o->settle = 2;
	int c;
	double v;
	while ((c = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
		switch (c) {
		case 'k': o->pki = optarg; break;
		case 'c': o->cert = optarg; break;
		case 'h': usage(stdout); exit(0);
		case 'p':
			if (parse_num("port", optarg, 1, 65535, &v) != 0)
				return -1;
			o->port = (int)v;
			break;
		case 'r':
			if (parse_num("relay-pid", optarg, 1, 1e9, &v) != 0)
				return -1;
			o->relay_pid = (long)v;
			break;
		case 'n':
			if (parse_num("conns", optarg, 1, 1e6, &v) != 0)
				return -1;
			o->conns = (size_t)v;
			break;
		case 'R':
			if (parse_num("rounds", optarg, 1, 1000, &v) != 0)
				return -1;
			o->rounds = (unsigned)v;
			break;
		case 'K':
			if (parse_num("parallel", optarg, 1, 10000, &v) != 0)
				return -1;
			o->parallel = (unsigned)v;
			break;
		case 's':
			if (parse_num("settle", optarg, 0, 600, &v) != 0)
				return -1;
			o->settle = v;
			break;
		case 'H':
			if (parse_num("hold", optarg, 0, 86400, &v) != 0)
				return -1;
			o->hold = v;
			break;
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc)
		o->good = argv + optind;
	if (!o->pki || !o->port || !o->relay_pid) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* A field of /proc/PID/status in KiB ("VmRSS", "RssAnon"), or -1. */
static long proc_status_kib(long pid, const char *field)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long v = -1;
	size_t fl = strlen(field);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
			v = strtol(line + fl + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* The descriptors the relay holds, or -1. */
static long proc_fds(long pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s,
			       .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void sess_fail(struct sess *s, size_t i, const char *what)
{
	unsigned long q = ERR_get_error();
	fprintf(stderr, "vigil-bench-conns: session %zu: %s%s%s\n", i, what, q ? ": " : "",
		q ? ERR_reason_error_string(q) : "");
	ERR_clear_error();
	(void)s;
}

static void sess_free(struct sess *s)
{
	if (s->ssl) {
		SSL_shutdown(s->ssl); /* close_notify, as a client that leaves */
		SSL_free(s->ssl);
	}
	if (s->fd >= 0)
		close(s->fd);
	if (s->rd) {
		frame_reader_free(s->rd);
		free(s->rd);
	}
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

static int sess_start(struct sess *s, const struct bident *id, int port)
{
	memset(s, 0, sizeof(*s));
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->fd < 0)
		return -1;
	int one = 1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s->fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS)
		return -1;
	s->ssl = SSL_new(id->ctx);
	if (!s->ssl || SSL_set_fd(s->ssl, s->fd) != 1 || SSL_set1_host(s->ssl, "localhost") != 1)
		return -1;
	SSL_set_mode(s->ssl, SSL_MODE_RELEASE_BUFFERS);
	s->st = S_CONNECT;
	s->want_write = 1;
	s->deadline = bench_now_ns() + OPEN_TIMEOUT_NS;
	return 0;
}

/* Moves one session on as far as it goes without waiting: 1 when it is
 * open (Welcome received), 0 when it waits, -1 on failure. */
static int sess_step(struct sess *s, size_t i)
{
	for (;;) {
		switch (s->st) {
		case S_CONNECT: {
			int err = 0;
			socklen_t l = sizeof(err);
			if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0 || err != 0) {
				fprintf(stderr, "vigil-bench-conns: session %zu: connect: %s\n", i,
					strerror(err ? err : errno));
				return -1;
			}
			s->st = S_TLS;
			continue;
		}
		case S_TLS: {
			int r = SSL_connect(s->ssl);
			if (r != 1) {
				int e = SSL_get_error(s->ssl, r);
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
					s->want_write = e == SSL_ERROR_WANT_WRITE;
					return 0;
				}
				sess_fail(s, i, "handshake");
				return -1;
			}
			s->st = S_HELLO;
			continue;
		}
		case S_HELLO: {
			Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
			h.protocol_version = 1;
			h.software = "vigil-bench-conns";
			Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
			f.msg_case = VIGIL__V1__FRAME__MSG_HELLO;
			f.hello = &h;
			uint8_t *buf;
			size_t len;
			if (frame_encode(&f, FRAME_DEFAULT_MAX, &buf, &len) != VG_OK)
				return -1;
			/* A few bytes on a fresh socket: written whole or not at all. */
			int r = SSL_write(s->ssl, buf, (int)len);
			free(buf);
			if (r != (int)len) {
				int e = SSL_get_error(s->ssl, r);
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
					s->want_write = e == SSL_ERROR_WANT_WRITE;
					return 0;
				}
				sess_fail(s, i, "hello");
				return -1;
			}
			s->rd = malloc(sizeof(*s->rd));
			if (!s->rd)
				return -1;
			frame_reader_init(s->rd, FRAME_DEFAULT_MAX);
			s->st = S_WELCOME;
			s->want_write = 0;
			continue;
		}
		case S_WELCOME: {
			uint8_t buf[4096];
			int r = SSL_read(s->ssl, buf, sizeof(buf));
			if (r <= 0) {
				int e = SSL_get_error(s->ssl, r);
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
					s->want_write = e == SSL_ERROR_WANT_WRITE;
					return 0;
				}
				sess_fail(s, i, "waiting for the welcome");
				return -1;
			}
			if (frame_reader_feed(s->rd, buf, (size_t)r) != VG_OK)
				return -1;
			const uint8_t *p;
			size_t n;
			int rc = frame_reader_next(s->rd, &p, &n);
			if (rc == 0)
				continue;
			Vigil__V1__Frame *w = NULL;
			if (rc < 0 || frame_decode(p, n, &w) != VG_OK) {
				fprintf(stderr, "vigil-bench-conns: session %zu: a bad frame\n", i);
				return -1;
			}
			int ok = w->msg_case == VIGIL__V1__FRAME__MSG_WELCOME;
			if (!ok)
				fprintf(stderr, "vigil-bench-conns: session %zu: hello answered with "
					"message %d%s%s\n", i, (int)w->msg_case,
					w->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? ": " : "",
					w->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? w->error->message
										  : "");
			frame_free(w);
			if (!ok)
				return -1;
			frame_reader_free(s->rd);
			free(s->rd);
			s->rd = NULL;
			s->st = S_OPEN;
			return 1;
		}
		case S_OPEN:
			return 1;
		}
	}
}

/* Opens all n sessions, at most k under way at once.  0 or -1. */
static int open_all(struct sess *ss, size_t n, unsigned k, const struct bident *id, int port)
{
	struct pollfd *pf = calloc(k, sizeof(*pf));
	size_t *which = calloc(k, sizeof(*which));
	size_t *active = calloc(k, sizeof(*active));
	if (!pf || !which || !active) {
		free(pf);
		free(which);
		free(active);
		return -1;
	}
	size_t next = 0, done = 0, na = 0;
	int rc = -1;
	while (done < n) {
		while (na < k && next < n) {
			if (sess_start(&ss[next], id, port) != 0) {
				fprintf(stderr, "vigil-bench-conns: session %zu: cannot start: %s\n",
					next, strerror(errno));
				goto out;
			}
			active[na++] = next++;
		}
		int64_t now = bench_now_ns();
		for (size_t j = 0; j < na; j++) {
			struct sess *s = &ss[active[j]];
			if (now > s->deadline) {
				fprintf(stderr, "vigil-bench-conns: session %zu: no welcome within %lld s\n",
					active[j], OPEN_TIMEOUT_NS / 1000000000);
				goto out;
			}
			pf[j].fd = s->fd;
			pf[j].events = (short)(POLLIN | (s->want_write ? POLLOUT : 0));
			pf[j].revents = 0;
			which[j] = active[j];
		}
		struct timespec ts = { .tv_sec = 1, .tv_nsec = 0 };
		if (ppoll(pf, na, &ts, NULL) < 0 && errno != EINTR) {
			perror("vigil-bench-conns: poll");
			goto out;
		}
		size_t keep = 0;
		for (size_t j = 0; j < na; j++) {
			int r = 0;
			if (pf[j].revents)
				r = sess_step(&ss[which[j]], which[j]);
			if (r < 0)
				goto out;
			if (r == 1)
				done++;
			else
				active[keep++] = which[j];
		}
		na = keep;
	}
	rc = 0;
out:
	free(pf);
	free(which);
	free(active);
	return rc;
}

/* Waits until the relay holds at most fds descriptors again (it closed
 * the sessions), at most CLOSE_WAIT_NS. */
static int wait_fds(long pid, long fds)
{
	int64_t end = bench_now_ns() + CLOSE_WAIT_NS;
	long now_fds;
	while ((now_fds = proc_fds(pid)) > fds) {
		if (now_fds < 0 || bench_now_ns() > end) {
			fprintf(stderr, "vigil-bench-conns: the relay still holds %ld descriptors "
				"(%ld before the round)\n", now_fds, fds);
			return -1;
		}
		sleep_s(0.05);
	}
	return 0;
}

/* Runs the good client to its end, passing its figures on with the
 * prefix "good_" and its comments as they are.  0 when it exited 0. */
static int run_good(char **argv)
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		fprintf(stderr, "vigil-bench-conns: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	FILE *in = fdopen(p[0], "r");
	char line[1024];
	while (in && fgets(line, sizeof(line), in)) {
		if (line[0] == '#')
			printf("# good client:%s", line + 1);
		else
			printf("good_%s", line);
	}
	if (in)
		fclose(in);
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "vigil-bench-conns: the good client failed\n");
		return -1;
	}
	return 0;
}

static double mib(long kib)
{
	return (double)kib / 1024.0;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse_opts(argc, argv, &o) != 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	/* Room for every session and a little more. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < o.conns + 64) {
		fprintf(stderr, "vigil-bench-conns: %zu sessions need %zu descriptors; the limit is "
			"%llu (ulimit -n)\n", o.conns, o.conns + 64, (unsigned long long)rl.rlim_cur);
		return 1;
	}
	struct bident id;
	char err[256];
	/* The origin only names the checkpoint key, which idle sessions never
	 * use; any name builds the TLS context. */
	if (bident_load(&id, o.pki, o.cert, "conns", err, sizeof(err)) != 0) {
		fprintf(stderr, "vigil-bench-conns: %s\n", err);
		return 1;
	}
	struct sess *ss = calloc(o.conns, sizeof(*ss));
	if (!ss) {
		bident_free(&id);
		return 1;
	}
	for (size_t i = 0; i < o.conns; i++)
		ss[i].fd = -1;

	int code = 1;
	sleep_s(o.settle);
	long fds0 = proc_fds(o.relay_pid);
	long base = proc_status_kib(o.relay_pid, "VmRSS");
	if (base < 0 || fds0 < 0) {
		fprintf(stderr, "vigil-bench-conns: cannot read /proc/%ld\n", o.relay_pid);
		goto out;
	}
	printf("conns: %zu\n", o.conns);
	printf("rss_base_mib: %.1f\n", mib(base));
	double per_conn = 0, after = 0;
	for (unsigned round = 1; round <= o.rounds; round++) {
		int64_t t0 = bench_now_ns();
		if (open_all(ss, o.conns, o.parallel, &id, o.port) != 0)
			goto out;
		double open_s = (double)(bench_now_ns() - t0) / 1e9;
		/* The relay's last writer jobs (each Hello notes its peer) and
		 * frees settle. */
		sleep_s(o.settle);
		long rss_open = proc_status_kib(o.relay_pid, "VmRSS");
		long anon_open = proc_status_kib(o.relay_pid, "RssAnon");
		double kib = (double)(rss_open - base) / (double)o.conns;
		printf("# round %u: %zu sessions opened in %.1f s (%.0f handshakes/s); relay RSS "
		       "%.1f MiB (anonymous %.1f MiB), %.2f KiB per session over the base\n", round,
		       o.conns, open_s, (double)o.conns / open_s, mib(rss_open), mib(anon_open), kib);
		if (round == 1) {
			per_conn = kib;
			printf("rss_open_mib: %.1f\n", mib(rss_open));
			printf("rss_per_conn_kib: %.2f\n", per_conn);
			fflush(stdout);
			if (o.good && run_good(o.good) != 0)
				goto out;
			long rss_good = proc_status_kib(o.relay_pid, "VmRSS");
			printf("# relay RSS after the good client: %.1f MiB\n", mib(rss_good));
			fflush(stdout);
			sleep_s(o.hold);
		}
		for (size_t i = 0; i < o.conns; i++)
			sess_free(&ss[i]);
		if (wait_fds(o.relay_pid, fds0) != 0)
			goto out;
		sleep_s(o.settle);
		long rss_closed = proc_status_kib(o.relay_pid, "VmRSS");
		after = mib(rss_closed);
		printf("rss_after_close_mib_%u: %.1f\n", round, after);
		fflush(stdout);
	}
	printf("rss_after_close_mib: %.1f\n", after);
	code = 0;
out:
	for (size_t i = 0; i < o.conns; i++)
		sess_free(&ss[i]);
	free(ss);
	bident_free(&id);
	return code;
}
