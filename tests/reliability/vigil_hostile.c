/*
 * vigil-hostile - hostile clients against a relay on 127.0.0.1, one kind of
 * attack per run, for tests/reliability/hostile (which runs a good client,
 * vigil-bench latency, beside it and watches the relay).
 *
 *   vigil-hostile MODE --port P --pki DIR --origin O [--seconds S] [--conns N]
 *                 [--cert NAME] [--max N] [--seed N] [--reopen-ms MS]
 *                 [--interval-ms MS] [--query KIND]
 *
 * Modes (N is --conns; the default is given):
 *   baseline   no attack: waits S seconds.
 *   silent     N (400) TCP connections that never send a byte; each one the
 *              relay drops is opened again after --reopen-ms (20).
 *   slowloris  N (200) connections, each sending a real ClientHello one byte
 *              every --interval-ms (50); reopened like silent.
 *   tcpflood   N (256) connects in flight at any time, each closed (RST) as
 *              soon as it is established, as fast as possible.
 *   replay     N (32) connections replaying one captured ClientHello
 *              (X25519), reading and discarding the relay's answer; each is
 *              closed 20 ms after the answer began (or when the relay closes
 *              it) and a new one opened.
 *   dhreplay   the same with a ClientHello offering only ffdhe8192, which
 *              the relay must refuse at once (a handshake_failure alert).
 *   ackflood   N (4) authenticated connections (--cert, se-police-noa)
 *              sending DeliveryAck frames as fast as the socket takes them
 *              (1 in 16 beyond the log), reading and discarding the answers.
 *   noread     N (8) authenticated connections (--cert, iom-ru-moscow)
 *              pipelining GetEntries and GetLeafHashes over the whole log,
 *              GetCheckpoint and GetMembers (or only one kind: --query
 *              entries, leaves, checkpoint, members), and never reading a
 *              byte back.
 *   garbage    N (8) authenticated connections (--cert, se-shelter-1), one
 *              after another on each of N threads, each sending one of:
 *              random bytes; a frame header announcing more than any
 *              max_frame; a truncated frame, then a close; a zero-length
 *              frame; random but well-formed protobuf Frames (random field
 *              numbers, wire types and request ids), each followed by a
 *              GetCheckpoint whose answer shows the relay read it.
 *
 * Only 127.0.0.1 is ever contacted.  The run ends by itself after S seconds
 * (a handshake or a wait already begun is bounded by a few seconds more; an
 * alarm ends the process with status 4 if anything hangs past S + 60 s) and
 * tries at most --max connections (default 1000000).  N is capped so that
 * the descriptors fit under RLIMIT_NOFILE.
 *
 * Output on stdout: a "# " comment line, then one "name: value" line per
 * count (see print_counts).  Exit status 0 when the attack ran (whatever the
 * relay did), 1 when it could not start (a missing identity, a relay that
 * refuses the attacking member), 2 for a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proto/frame.h"
#include "proto/note.h"
#include "tests/bench/bconn.h"
#include "tests/bench/bident.h"
#include "tests/bench/bstats.h"
#include "tests/bench/bverify.h"

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL
#define CONNECT_TIMEOUT_NS (3 * NS_PER_S)   /* a SYN lost to a full backlog is resent after 1 s */
#define ANSWER_TIMEOUT_NS (5 * NS_PER_S)    /* replay: longest wait for the relay's answer */
#define REPLAY_LINGER_NS (20 * NS_PER_MS)   /* replay: kept open this long after the answer began */
#define GARBAGE_WAIT_NS (10 * NS_PER_S)     /* garbage: longest wait for an answer or a close */
#define PING_ID UINT64_MAX                  /* garbage: request id of the GetCheckpoint pings */
#define ACK_BATCH 256
#define NOREAD_BATCH 64

enum mode { M_BASELINE, M_SILENT, M_SLOWLORIS, M_TCPFLOOD, M_REPLAY, M_DHREPLAY, M_ACKFLOOD,
	    M_NOREAD, M_GARBAGE };

static const struct {
	const char *name;
	unsigned conns;
	const char *cert;
} modes[] = {
	[M_BASELINE] = { "baseline", 0, NULL },
	[M_SILENT] = { "silent", 400, NULL },
	[M_SLOWLORIS] = { "slowloris", 200, NULL },
	[M_TCPFLOOD] = { "tcpflood", 256, NULL },
	[M_REPLAY] = { "replay", 32, NULL },
	[M_DHREPLAY] = { "dhreplay", 32, NULL },
	[M_ACKFLOOD] = { "ackflood", 4, "se-police-noa" },
	[M_NOREAD] = { "noread", 8, "iom-ru-moscow" },
	[M_GARBAGE] = { "garbage", 8, "se-shelter-1" },
};
#define N_MODES (sizeof(modes) / sizeof(modes[0]))

/* Garbage kinds, in the order of the brief in the header comment. */
enum { G_RANDOM, G_OVERSIZE, G_TRUNCATED, G_EMPTY, G_PROTO, G_KINDS };
static const char *const gkind_names[G_KINDS] = { "random", "oversize", "truncated", "empty",
						  "protobuf" };

struct opts {
	enum mode mode;
	int port;
	const char *pki;
	const char *origin;
	const char *cert;
	double seconds;
	unsigned conns;
	uint64_t max;
	uint64_t seed;
	int64_t reopen_ns;
	int64_t interval_ns;
	int query;            /* noread: one kind of request only (Q_*), or Q_MIX */
};

/* noread's requests: all of them in turn, or one kind (--query). */
enum { Q_MIX, Q_ENTRIES, Q_LEAVES, Q_CHECKPOINT, Q_MEMBERS, Q_KINDS };
static const char *const query_names[Q_KINDS] = { "mix", "entries", "leaves", "checkpoint",
						  "members" };

/* What one thread (or the whole raw-socket loop) saw; summed at the end. */
struct counts {
	uint64_t opened;          /* TCP connections established */
	uint64_t connect_failed;  /* refused, timed out, or no local port: */
	uint64_t connect_refused; /*   ECONNREFUSED (or reset during the connect) */
	uint64_t connect_noport;  /*   EADDRNOTAVAIL: no local port left */
	uint64_t connect_timeout; /*   not established within 3 s */
	uint64_t sessions;        /* authenticated: TLS handshake and Hello/Welcome done */
	uint64_t session_failed;  /* authenticated: the relay refused or dropped the handshake */
	uint64_t bytes_sent;      /* TCP bytes (raw modes) or TLS plaintext (authenticated) */
	uint64_t bytes_received;
	uint64_t closed_by_relay; /* end of stream (FIN) or close_notify from the relay */
	uint64_t reset_by_relay;  /* ECONNRESET, EPIPE, or another error from the socket */
	uint64_t closed_by_us;
	uint64_t flights;         /* replay: answers that began with a handshake record */
	uint64_t alerts;          /* replay: answers that began with a fatal alert */
	uint64_t alerts_hs_failure; /* ... of which handshake_failure (40) */
	uint64_t frames_sent;     /* authenticated: frames wholly handed to TLS */
	uint64_t frames_received;
	uint64_t errors_received; /* ... of which Error frames */
	uint64_t unexpected;      /* garbage: the relay did not answer as specified */
	uint64_t kinds[G_KINDS];  /* garbage: connections per kind */
	int64_t last_progress_ns; /* noread: the last moment the socket took bytes (then the
				   * relay's and our kernel buffers were full) */
	unsigned open_now, max_open;
	struct bstats answer;     /* replay: ClientHello sent to the answer's first byte */
};

static int64_t g_deadline;  /* CLOCK_MONOTONIC ns: the end of the attack */
static atomic_uint_fast64_t g_auth_attempts; /* authenticated connections tried, all threads */
static int64_t g_start;

/* ---- small helpers --------------------------------------------------------- */

/* xorshift64*: the attack's randomness (reproducible with --seed). */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return n ? rng_next(s) % n : 0;
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "vigil-hostile: still running 60 s after the end; giving up\n";
	ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)w;
	_exit(4);
}

static void counts_add(struct counts *a, const struct counts *b)
{
	a->opened += b->opened;
	a->connect_failed += b->connect_failed;
	a->connect_refused += b->connect_refused;
	a->connect_noport += b->connect_noport;
	a->connect_timeout += b->connect_timeout;
	a->sessions += b->sessions;
	a->session_failed += b->session_failed;
	a->bytes_sent += b->bytes_sent;
	a->bytes_received += b->bytes_received;
	a->closed_by_relay += b->closed_by_relay;
	a->reset_by_relay += b->reset_by_relay;
	a->closed_by_us += b->closed_by_us;
	a->flights += b->flights;
	a->alerts += b->alerts;
	a->alerts_hs_failure += b->alerts_hs_failure;
	a->frames_sent += b->frames_sent;
	a->frames_received += b->frames_received;
	a->errors_received += b->errors_received;
	a->unexpected += b->unexpected;
	for (int k = 0; k < G_KINDS; k++)
		a->kinds[k] += b->kinds[k];
	if (b->last_progress_ns > a->last_progress_ns)
		a->last_progress_ns = b->last_progress_ns;
	a->max_open += b->max_open; /* threads: one connection each at a time */
}

/* Closes without a FIN handshake: no TIME_WAIT is left on our side, so a
 * long flood does not use up the machine's local ports. */
static void close_abortive(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* ---- ClientHellos built with memory BIOs ------------------------------------ */

/*
 * The first flight of a real OpenSSL TLS 1.3 client offering `groups` (NULL:
 * OpenSSL's defaults), ALPN vigil/1 and SNI localhost, exactly as it would
 * go on the wire.  0 and *out (malloc'd), or -1.
 */
static int capture_hello(const char *groups, uint8_t **out, size_t *out_len)
{
	static const unsigned char alpn[] = "\x07vigil/1";
	int rc = -1;
	SSL *s = NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0 ||
	    (groups && SSL_CTX_set1_groups_list(ctx, groups) != 1))
		goto out;
	s = SSL_new(ctx);
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	if (!s || !rb || !wb) {
		BIO_free(rb);
		BIO_free(wb);
		goto out;
	}
	SSL_set_bio(s, rb, wb);
	SSL_set_connect_state(s);
	if (SSL_set_tlsext_host_name(s, "localhost") != 1)
		goto out;
	int r = SSL_do_handshake(s);
	if (r == 1 || SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
		goto out;
	long n = (long)BIO_ctrl_pending(wb);
	if (n <= 0 || !(*out = malloc((size_t)n)))
		goto out;
	if (BIO_read(wb, *out, (int)n) != (int)n) {
		free(*out);
		*out = NULL;
		goto out;
	}
	*out_len = (size_t)n;
	rc = 0;
out:
	if (rc != 0) {
		const char *why = ERR_reason_error_string(ERR_peek_last_error());
		fprintf(stderr, "vigil-hostile: cannot build a ClientHello offering %s: %s\n",
			groups ? groups : "the default groups", why ? why : "failed");
	}
	ERR_clear_error();
	SSL_free(s);
	SSL_CTX_free(ctx);
	return rc;
}

/* ---- raw sockets: silent, slowloris, tcpflood, replay, dhreplay -------------- */

enum slot_state { SL_WAIT, SL_CONNECTING, SL_OPEN };

struct slot {
	int fd;
	enum slot_state st;
	int64_t t_start;    /* connect begun */
	int64_t t_sent;     /* replay: the ClientHello was wholly sent */
	int64_t t_next;     /* WAIT: reopen; OPEN: next byte (slowloris) or close (replay) */
	size_t off;         /* bytes of the ClientHello sent */
	uint8_t head[8];    /* replay: the answer's first bytes */
	size_t head_len;
};

struct raw {
	const struct opts *o;
	struct counts *c;
	struct slot *s;
	unsigned n;
	const uint8_t *hello;
	size_t hello_len;
	uint64_t attempts;
	uint64_t rng;
};

static void connect_failed(struct counts *c, int err)
{
	c->connect_failed++;
	if (err == ECONNREFUSED || err == ECONNRESET)
		c->connect_refused++;
	else if (err == EADDRNOTAVAIL)
		c->connect_noport++;
	else if (err == ETIMEDOUT)
		c->connect_timeout++;
	else if (c->connect_failed - c->connect_refused - c->connect_noport - c->connect_timeout <= 3)
		fprintf(stderr, "vigil-hostile: connect: %s\n", strerror(err));
}

static void slot_drop(struct raw *r, struct slot *sl, int64_t reopen_at)
{
	if (sl->fd >= 0) {
		close_abortive(sl->fd);
		r->c->open_now--;
	}
	sl->fd = -1;
	sl->st = SL_WAIT;
	sl->t_next = reopen_at;
}

/* The answer of a replayed ClientHello, from its first bytes: a handshake
 * record (ServerHello) or a fatal alert. */
static void classify_answer(struct raw *r, struct slot *sl)
{
	if (sl->head_len == 0)
		return;
	if (sl->head[0] == 22) {
		r->c->flights++;
	} else if (sl->head[0] == 21 && sl->head_len >= 7) {
		r->c->alerts++;
		if (sl->head[6] == 40)
			r->c->alerts_hs_failure++;
	}
	sl->head_len = sizeof(sl->head) + 1; /* classified */
}

/* Sends what is due: the whole ClientHello (replay) or one byte of it
 * (slowloris).  0, or -1 when the relay has reset the connection. */
static int slot_send(struct raw *r, struct slot *sl, size_t upto)
{
	while (sl->off < upto) {
		ssize_t w = send(sl->fd, r->hello + sl->off, upto - sl->off, MSG_NOSIGNAL);
		if (w > 0) {
			sl->off += (size_t)w;
			r->c->bytes_sent += (uint64_t)w;
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		r->c->reset_by_relay++;
		return -1;
	}
	return 0;
}

static void slot_connected(struct raw *r, struct slot *sl, int64_t now)
{
	struct counts *c = r->c;
	c->opened++;
	sl->st = SL_OPEN;
	sl->off = 0;
	sl->head_len = 0;
	sl->t_next = INT64_MAX;
	switch (r->o->mode) {
	case M_SLOWLORIS:
		sl->t_next = now + (int64_t)rng_below(&r->rng, (uint64_t)r->o->interval_ns);
		break;
	case M_TCPFLOOD: {
		/* Was it refused already?  Then the relay's reset is here. */
		char b;
		ssize_t n = recv(sl->fd, &b, 1, MSG_DONTWAIT);
		if (n == 0)
			c->closed_by_relay++;
		else if (n < 0 && errno != EAGAIN)
			c->reset_by_relay++;
		else
			c->closed_by_us++;
		slot_drop(r, sl, now);
		return;
	}
	case M_REPLAY:
	case M_DHREPLAY:
		if (slot_send(r, sl, r->hello_len) != 0) {
			slot_drop(r, sl, now);
			return;
		}
		sl->t_sent = now;
		sl->t_next = now + ANSWER_TIMEOUT_NS;
		break;
	default:
		break;
	}
}

static void slot_connect(struct raw *r, struct slot *sl, int64_t now)
{
	struct counts *c = r->c;
	if (r->attempts >= r->o->max) {
		sl->t_next = INT64_MAX;
		return;
	}
	r->attempts++;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		connect_failed(c, errno);
		sl->t_next = now + 10 * NS_PER_MS;
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)r->o->port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sl->fd = fd;
	sl->t_start = now;
	c->open_now++;
	if (c->open_now > c->max_open)
		c->max_open = c->open_now;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
		slot_connected(r, sl, now);
		return;
	}
	if (errno == EINPROGRESS) {
		sl->st = SL_CONNECTING;
		return;
	}
	/* EADDRNOTAVAIL (no local port left), ECONNREFUSED: back off a little. */
	connect_failed(c, errno);
	slot_drop(r, sl, now + 10 * NS_PER_MS);
}

/* Reads whatever the relay sent; drops the slot when it closed or reset. */
static void slot_read(struct raw *r, struct slot *sl, int64_t now)
{
	struct counts *c = r->c;
	uint8_t buf[16384];
	for (;;) {
		ssize_t n = recv(sl->fd, buf, sizeof(buf), 0);
		if (n > 0) {
			c->bytes_received += (uint64_t)n;
			if (sl->head_len == 0 && (r->o->mode == M_REPLAY || r->o->mode == M_DHREPLAY)) {
				bstats_add(&c->answer, now - sl->t_sent);
				/* Keep it a moment: the rest of the flight follows. */
				sl->t_next = now + REPLAY_LINGER_NS;
			}
			if (sl->head_len < sizeof(sl->head)) {
				size_t k = sizeof(sl->head) - sl->head_len;
				if (k > (size_t)n)
					k = (size_t)n;
				memcpy(sl->head + sl->head_len, buf, k);
				sl->head_len += k;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n == 0)
			c->closed_by_relay++;
		else
			c->reset_by_relay++;
		classify_answer(r, sl);
		slot_drop(r, sl, now + (r->o->mode == M_SILENT || r->o->mode == M_SLOWLORIS
						? r->o->reopen_ns : 0));
		return;
	}
}

/* Timers of an established slot: the next byte, a close, a timeout. */
static void slot_timer(struct raw *r, struct slot *sl, int64_t now)
{
	switch (r->o->mode) {
	case M_SLOWLORIS:
		if (sl->off < r->hello_len && slot_send(r, sl, sl->off + 1) != 0) {
			slot_drop(r, sl, now + r->o->reopen_ns);
			return;
		}
		sl->t_next += r->o->interval_ns;
		if (sl->t_next < now)
			sl->t_next = now + r->o->interval_ns;
		break;
	case M_REPLAY:
	case M_DHREPLAY:
		/* The answer had its time (or never came): close, open the next. */
		classify_answer(r, sl);
		r->c->closed_by_us++;
		slot_drop(r, sl, now);
		break;
	default:
		sl->t_next = INT64_MAX;
		break;
	}
}

static int run_raw(const struct opts *o, struct counts *c)
{
	struct raw r = { .o = o, .c = c, .n = o->conns, .rng = o->seed };
	uint8_t *hello = NULL;
	if (o->mode == M_SLOWLORIS || o->mode == M_REPLAY || o->mode == M_DHREPLAY) {
		const char *groups = o->mode == M_DHREPLAY ? "ffdhe8192"
				     : o->mode == M_REPLAY ? "X25519" : NULL;
		if (capture_hello(groups, &hello, &r.hello_len) != 0)
			return -1;
		r.hello = hello;
		printf("# ClientHello of %zu bytes%s%s\n", r.hello_len, groups ? " offering " : "",
		       groups ? groups : "");
	}
	r.s = calloc(r.n, sizeof(*r.s));
	struct pollfd *pf = calloc(r.n, sizeof(*pf));
	unsigned *idx = calloc(r.n, sizeof(*idx));
	if (!r.s || !pf || !idx) {
		fprintf(stderr, "vigil-hostile: out of memory\n");
		free(r.s);
		free(pf);
		free(idx);
		free(hello);
		return -1;
	}
	int64_t now = bench_now_ns();
	for (unsigned i = 0; i < r.n; i++) {
		r.s[i].fd = -1;
		r.s[i].st = SL_WAIT;
		/* Spread the first connects over 100 ms, except for the flood. */
		r.s[i].t_next = o->mode == M_TCPFLOOD ? now
			: now + (int64_t)rng_below(&r.rng, 100 * (uint64_t)NS_PER_MS);
	}
	while ((now = bench_now_ns()) < g_deadline) {
		int64_t next = g_deadline;
		unsigned np = 0;
		for (unsigned i = 0; i < r.n; i++) {
			struct slot *sl = &r.s[i];
			if (sl->st == SL_WAIT && sl->t_next <= now)
				slot_connect(&r, sl, now);
			if (sl->st == SL_CONNECTING && now - sl->t_start >= CONNECT_TIMEOUT_NS) {
				connect_failed(c, ETIMEDOUT);
				slot_drop(&r, sl, now);
			}
			if (sl->st == SL_OPEN && sl->t_next <= now)
				slot_timer(&r, sl, now);
			if (sl->st == SL_CONNECTING) {
				pf[np] = (struct pollfd){ .fd = sl->fd, .events = POLLOUT };
				idx[np++] = i;
				if (sl->t_start + CONNECT_TIMEOUT_NS < next)
					next = sl->t_start + CONNECT_TIMEOUT_NS;
			} else if (sl->st == SL_OPEN) {
				pf[np] = (struct pollfd){ .fd = sl->fd, .events = POLLIN };
				idx[np++] = i;
			}
			if (sl->st != SL_CONNECTING && sl->t_next < next)
				next = sl->t_next;
		}
		int64_t wait = next - now;
		int ms = wait <= 0 ? 0 : (int)((wait + NS_PER_MS - 1) / NS_PER_MS);
		int k = poll(pf, np, ms);
		if (k < 0 && errno != EINTR) {
			perror("vigil-hostile: poll");
			break;
		}
		now = bench_now_ns();
		for (unsigned j = 0; k > 0 && j < np; j++) {
			if (!pf[j].revents)
				continue;
			struct slot *sl = &r.s[idx[j]];
			if (sl->st == SL_CONNECTING) {
				int err = 0;
				socklen_t el = sizeof(err);
				if (getsockopt(sl->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
					err = errno;
				if (err == 0) {
					slot_connected(&r, sl, now);
				} else {
					connect_failed(c, err);
					slot_drop(&r, sl, now + 10 * NS_PER_MS);
				}
			} else if (sl->st == SL_OPEN) {
				slot_read(&r, sl, now);
			}
		}
	}
	for (unsigned i = 0; i < r.n; i++) {
		if (r.s[i].st == SL_OPEN)
			classify_answer(&r, &r.s[i]);
		if (r.s[i].fd >= 0) {
			c->closed_by_us += r.s[i].st == SL_OPEN;
			slot_drop(&r, &r.s[i], INT64_MAX);
		}
	}
	free(r.s);
	free(pf);
	free(idx);
	free(hello);
	return 0;
}

/* ---- authenticated connections: ackflood, noread, garbage --------------------- */

struct worker {
	pthread_t th;
	const struct opts *o;
	const struct bident *id;
	struct counts c;
	uint64_t rng;
	int failed;          /* could not authenticate at all */
	char err[256];
};

/* Opens an authenticated connection; counts it.  0, -1, or -2 when --max
 * connections were tried (the worker then stops). */
static int auth_open(struct worker *w, struct bconn *c)
{
	if (atomic_fetch_add(&g_auth_attempts, 1) >= w->o->max) {
		memset(c, 0, sizeof(*c));
		c->fd = -1;
		return -2;
	}
	int64_t left = (g_deadline - bench_now_ns()) / NS_PER_MS + 2000;
	if (left > 10000)
		left = 10000;
	if (bconn_open(c, w->id, w->o->port, (int)left) != 0) {
		w->c.session_failed++;
		snprintf(w->err, sizeof(w->err), "%s", c->err);
		bconn_close(c);
		struct timespec ts = { 0, 10 * NS_PER_MS }; /* not a tight loop of refusals */
		nanosleep(&ts, NULL);
		return -1;
	}
	w->c.opened++;
	w->c.sessions++;
	if (++w->c.open_now > w->c.max_open)
		w->c.max_open = w->c.open_now;
	return 0;
}

/* How an authenticated connection ended, from bconn's error text. */
static void auth_lost(struct worker *w, const struct bconn *c)
{
	if (strstr(c->err, "closed the connection"))
		w->c.closed_by_relay++;
	else
		w->c.reset_by_relay++;
}

static void auth_close(struct worker *w, struct bconn *c, int quiet)
{
	if (c->ssl && quiet)
		SSL_set_quiet_shutdown(c->ssl, 1);
	bconn_close(c);
	w->c.open_now--;
}

/* The latest tree size (GetCheckpoint, note verified).  0 and *size, or -1. */
static int tree_size(struct bconn *c, const struct bident *id, uint64_t *size)
{
	Vigil__V1__GetCheckpoint g = VIGIL__V1__GET_CHECKPOINT__INIT;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_CHECKPOINT;
	f.get_checkpoint = &g;
	Vigil__V1__Frame *a = NULL;
	if (bconn_queue_msg(c, &f, 1) != 0 || bconn_recv(c, &a, bench_now_ns() + 10 * NS_PER_S) != 0)
		return -1;
	int rc = -1;
	if (a->msg_case == VIGIL__V1__FRAME__MSG_CHECKPOINT) {
		struct bverify v;
		struct checkpoint cp;
		char err[256];
		bverify_init(&v, id);
		if (bverify_note(&v, a->checkpoint->note, &cp, err, sizeof(err)) == 0) {
			*size = cp.size;
			rc = 0;
		} else {
			snprintf(c->err, sizeof(c->err), "%s", err);
		}
		bverify_free(&v);
	} else {
		snprintf(c->err, sizeof(c->err), "GetCheckpoint answered with message %d",
			 (int)a->msg_case);
	}
	frame_free(a);
	return rc;
}

/* Appends an encoded frame (length prefix included) to buf. */
static int put_frame(uint8_t **buf, size_t *len, size_t *cap, Vigil__V1__Frame *f, uint64_t rid)
{
	uint8_t *e;
	size_t n;
	f->request_id = rid;
	if (frame_encode(f, FRAME_DEFAULT_MAX, &e, &n) != 0)
		return -1;
	if (*len + n > *cap) {
		size_t nc = *cap ? *cap * 2 : 4096;
		while (nc < *len + n)
			nc *= 2;
		uint8_t *nb = realloc(*buf, nc);
		if (!nb) {
			free(e);
			return -1;
		}
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *len, e, n);
	*len += n;
	free(e);
	return 0;
}

/* Reads and discards what the relay sent, counting frames and errors. */
static int drain_answers(struct worker *w, struct bconn *c)
{
	if (bconn_fill(c) != 0)
		return -1;
	Vigil__V1__Frame *f;
	int rc;
	while ((rc = bconn_next(c, &f)) == 1) {
		w->c.frames_received++;
		w->c.errors_received += f->msg_case == VIGIL__V1__FRAME__MSG_ERROR;
		frame_free(f);
	}
	return rc < 0 ? -1 : 0;
}

static void *ackflood_worker(void *arg)
{
	struct worker *w = arg;
	uint8_t *batch = NULL;
	size_t cap = 0;
	while (bench_now_ns() < g_deadline) {
		struct bconn c;
		uint64_t size = 0;
		int orc = auth_open(w, &c);
		if (orc == -2)
			break;
		if (orc != 0) {
			if (w->c.sessions == 0) {
				w->failed = 1;
				break;
			}
			continue;
		}
		if (tree_size(&c, w->id, &size) != 0) {
			auth_lost(w, &c);
			auth_close(w, &c, 1);
			continue;
		}
		/* Positions in the log, one in 16 beyond it (answered BAD_REQUEST). */
		size_t len = 0;
		int ok = 1;
		for (unsigned i = 0; ok && i < ACK_BATCH; i++) {
			Vigil__V1__DeliveryAck ack = VIGIL__V1__DELIVERY_ACK__INIT;
			ack.position = size == 0 || i % 16 == 15
				? size + rng_below(&w->rng, 1000)
				: rng_below(&w->rng, size);
			Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
			f.msg_case = VIGIL__V1__FRAME__MSG_DELIVERY_ACK;
			f.delivery_ack = &ack;
			ok = put_frame(&batch, &len, &cap, &f, rng_next(&w->rng) >> 1) == 0;
		}
		if (!ok) {
			snprintf(w->err, sizeof(w->err), "out of memory");
			auth_close(w, &c, 1);
			break;
		}
		unsigned pending = 0;
		int lost = 0;
		while (!lost && bench_now_ns() < g_deadline) {
			/* A new batch once the previous one was wholly written. */
			if (bconn_unsent(&c) == 0) {
				w->c.frames_sent += pending;
				w->c.bytes_sent += pending ? len : 0;
				if (bconn_queue(&c, batch, len) != 0)
					break;
				pending = ACK_BATCH;
			}
			if (bconn_flush(&c) != 0 || drain_answers(w, &c) != 0) {
				lost = 1;
				break;
			}
			int64_t left = g_deadline - bench_now_ns();
			if (bconn_unsent(&c) > 0 &&
			    bconn_poll(&c, left < 10 * NS_PER_MS ? (left > 0 ? left : 0) : 10 * NS_PER_MS) != 0)
				lost = 1;
		}
		if (!lost && bconn_unsent(&c) == 0) {
			w->c.frames_sent += pending;
			w->c.bytes_sent += pending ? len : 0;
		}
		if (lost)
			auth_lost(w, &c);
		else
			w->c.closed_by_us++;
		auth_close(w, &c, lost);
	}
	free(batch);
	return NULL;
}

/* Waits for the socket to take more bytes (never for anything to read). */
static void wait_writable(struct bconn *c, int64_t max_ns)
{
	int64_t left = g_deadline - bench_now_ns();
	if (left > max_ns)
		left = max_ns;
	if (left <= 0)
		return;
	struct pollfd p = { .fd = c->fd, .events = POLLOUT };
	poll(&p, 1, (int)((left + NS_PER_MS - 1) / NS_PER_MS));
}

static void *noread_worker(void *arg)
{
	struct worker *w = arg;
	uint8_t *batch = NULL;
	size_t cap = 0;
	while (bench_now_ns() < g_deadline) {
		struct bconn c;
		uint64_t size = 0;
		int orc = auth_open(w, &c);
		if (orc == -2)
			break;
		if (orc != 0) {
			if (w->c.sessions == 0) {
				w->failed = 1;
				break;
			}
			continue;
		}
		if (tree_size(&c, w->id, &size) != 0) {
			auth_lost(w, &c);
			auth_close(w, &c, 1);
			continue;
		}
		/* From here on nothing is ever read. */
		unsigned pending = 0;
		size_t len = 0, pending_len = 0;
		uint64_t rid = 2;
		int lost = 0;
		while (!lost && bench_now_ns() < g_deadline) {
			if (bconn_unsent(&c) == 0) {
				if (pending)
					w->c.last_progress_ns = bench_now_ns() - g_start;
				w->c.frames_sent += pending;
				w->c.bytes_sent += pending_len;
				len = 0;
				int ok = 1;
				for (unsigned i = 0; ok && i < NOREAD_BATCH; i++) {
					Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
					Vigil__V1__GetEntries ge = VIGIL__V1__GET_ENTRIES__INIT;
					Vigil__V1__GetLeafHashes gl = VIGIL__V1__GET_LEAF_HASHES__INIT;
					Vigil__V1__GetCheckpoint gc = VIGIL__V1__GET_CHECKPOINT__INIT;
					Vigil__V1__GetMembers gm = VIGIL__V1__GET_MEMBERS__INIT;
					/* In turn: 0, 4 entries; 1, 3, 5, 7 leaf hashes;
					 * 2 checkpoint; 6 members. */
					static const int pick[Q_KINDS] = { -1, 0, 1, 2, 6 };
					int q = w->o->query == Q_MIX ? (int)(i % 8) : pick[w->o->query];
					int ranged = q == 0 || q == 4 || q % 2;
					if (size == 0 && ranged)
						q = 2; /* an empty log has no range */
					/* The whole log in the largest pieces allowed. */
					uint64_t max = q == 0 || q == 4 ? 1024 : 4096;
					uint64_t start = size > max ? rng_below(&w->rng, size - max + 1) : 0;
					uint32_t count = (uint32_t)(size - start < max ? size - start : max);
					switch (q) {
					case 0:
					case 4:
						ge.start = start;
						ge.count = count;
						f.msg_case = VIGIL__V1__FRAME__MSG_GET_ENTRIES;
						f.get_entries = &ge;
						break;
					case 2:
						f.msg_case = VIGIL__V1__FRAME__MSG_GET_CHECKPOINT;
						f.get_checkpoint = &gc;
						break;
					case 6:
						f.msg_case = VIGIL__V1__FRAME__MSG_GET_MEMBERS;
						f.get_members = &gm;
						break;
					default:
						gl.start = start;
						gl.count = count;
						f.msg_case = VIGIL__V1__FRAME__MSG_GET_LEAF_HASHES;
						f.get_leaf_hashes = &gl;
						break;
					}
					ok = put_frame(&batch, &len, &cap, &f, rid++) == 0;
				}
				if (!ok || bconn_queue(&c, batch, len) != 0) {
					snprintf(w->err, sizeof(w->err), "out of memory");
					break;
				}
				pending = NOREAD_BATCH;
				pending_len = len;
			}
			size_t before = bconn_unsent(&c);
			if (bconn_flush(&c) != 0) {
				lost = 1;
				break;
			}
			if (bconn_unsent(&c) < before)
				w->c.last_progress_ns = bench_now_ns() - g_start;
			if (bconn_unsent(&c) > 0)
				wait_writable(&c, 50 * NS_PER_MS);
		}
		if (lost)
			auth_lost(w, &c);
		else
			w->c.closed_by_us++;
		/* Unread answers are left in the socket: the close is a reset. */
		auth_close(w, &c, 1);
	}
	free(batch);
	return NULL;
}

/* ---- garbage -------------------------------------------------------------------- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/*
 * Random protobuf fields into p (at most cap bytes, cap >= 32): random
 * field numbers (mostly small, some up to 2^29 - 1), every wire type
 * (the group and reserved ones 3, 4, 6, 7 now and then), random varints,
 * fixed values, and length-delimited fields holding random bytes or
 * further random fields.  Returns the bytes written.
 */
static size_t rand_fields(uint64_t *rng, uint8_t *p, size_t cap, int depth)
{
	size_t n = 0;
	unsigned fields = 1 + (unsigned)rng_below(rng, 6);
	for (unsigned i = 0; i < fields && cap - n >= 32; i++) {
		uint64_t num = rng_below(rng, 8) == 0 ? 1 + rng_below(rng, (1u << 29) - 1)
						       : 1 + rng_below(rng, 40);
		unsigned wt = (unsigned)rng_below(rng, 20);
		/* 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32; now and
		 * then 3, 4 (groups), 6 or 7 (no such wire type). */
		static const unsigned rare[] = { 3, 4, 6, 7 };
		wt = wt < 6 ? 0 : wt < 9 ? 1 : wt < 16 ? 2 : wt < 18 ? 5 : rare[rng_below(rng, 4)];
		n += put_varint(p + n, num << 3 | wt);
		switch (wt) {
		case 0:
			n += put_varint(p + n, rng_next(rng) >> rng_below(rng, 64));
			break;
		case 1:
			for (int k = 0; k < 8; k++)
				p[n++] = (uint8_t)rng_next(rng);
			break;
		case 5:
			for (int k = 0; k < 4; k++)
				p[n++] = (uint8_t)rng_next(rng);
			break;
		case 2: {
			size_t room = cap - n - 10;
			size_t want = rng_below(rng, room < 200 ? room : 200);
			uint8_t tmp[256];
			size_t k;
			if (depth < 3 && want >= 32 && rng_below(rng, 2)) {
				k = rand_fields(rng, tmp, want, depth + 1);
			} else {
				for (k = 0; k < want; k++)
					tmp[k] = (uint8_t)rng_next(rng);
			}
			n += put_varint(p + n, k);
			memcpy(p + n, tmp, k);
			n += k;
			break;
		}
		default:
			/* Groups and reserved wire types: nothing follows, or a
			 * random byte or two. */
			for (uint64_t k = rng_below(rng, 3); k > 0; k--)
				p[n++] = (uint8_t)rng_next(rng);
			break;
		}
	}
	return n;
}

/* A random but well-formed protobuf Frame with its length prefix, at most
 * cap bytes (cap >= 68): a random request id (mostly), then a message
 * field of Frame (2..31) holding random fields, or random fields only. */
static size_t rand_frame(uint64_t *rng, uint8_t *out, size_t cap)
{
	uint8_t *p = out + FRAME_HEADER_LEN;
	size_t room = cap - FRAME_HEADER_LEN, n = 0;
	if (rng_below(rng, 4)) {
		n += put_varint(p + n, 1 << 3 | 0);
		n += put_varint(p + n, rng_next(rng) >> 2);
	}
	if (rng_below(rng, 4)) {
		uint8_t inner[512];
		size_t fit = room - 20 < sizeof(inner) ? room - 20 : sizeof(inner);
		size_t k = rng_below(rng, 3) && fit >= 32 ? rand_fields(rng, inner, fit, 1) : 0;
		n += put_varint(p + n, (2 + rng_below(rng, 30)) << 3 | 2);
		n += put_varint(p + n, k);
		memcpy(p + n, inner, k);
		n += k;
	} else {
		n += rand_fields(rng, p + n, room - n, 1);
	}
	out[0] = (uint8_t)(n >> 24);
	out[1] = (uint8_t)(n >> 16);
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
	return FRAME_HEADER_LEN + n;
}

/*
 * Waits for answers until the relay closes the connection, the ping is
 * answered (want_ping) or the wait ends.  Returns 1 when the relay closed
 * it, 0 when the ping came (or the wait ended: *timed_out), -1 on our error.
 * *err_code is the code of the first Error frame (0: none).
 */
static int garbage_wait(struct worker *w, struct bconn *c, int want_ping, int *err_code,
			int *timed_out)
{
	int64_t end = bench_now_ns() + GARBAGE_WAIT_NS;
	*timed_out = 0;
	for (;;) {
		Vigil__V1__Frame *f;
		int rc;
		while ((rc = bconn_next(c, &f)) == 1) {
			w->c.frames_received++;
			if (f->msg_case == VIGIL__V1__FRAME__MSG_ERROR) {
				w->c.errors_received++;
				if (!*err_code)
					*err_code = (int)f->error->code;
			}
			int ping = f->request_id == PING_ID &&
				   f->msg_case == VIGIL__V1__FRAME__MSG_CHECKPOINT;
			frame_free(f);
			if (want_ping && ping)
				return 0;
		}
		if (rc < 0)
			return 1; /* the relay sent something that is not a frame */
		if (bconn_flush(c) != 0)
			return 1;
		int64_t now = bench_now_ns();
		if (now >= end) {
			*timed_out = 1;
			return 0;
		}
		if (bconn_poll(c, end - now) != 0)
			return -1;
		if (bconn_fill(c) != 0) {
			/* Frames that came with the close are still buffered. */
			while ((rc = bconn_next(c, &f)) == 1) {
				w->c.frames_received++;
				if (f->msg_case == VIGIL__V1__FRAME__MSG_ERROR) {
					w->c.errors_received++;
					if (!*err_code)
						*err_code = (int)f->error->code;
				}
				frame_free(f);
			}
			return 1;
		}
	}
}

static void garbage_unexpected(struct worker *w, int kind, const char *what)
{
	if (w->c.unexpected++ < 5)
		fprintf(stderr, "vigil-hostile: garbage %s: %s\n", gkind_names[kind], what);
}

static void *garbage_worker(void *arg)
{
	struct worker *w = arg;
	uint8_t buf[4096];
	while (bench_now_ns() < g_deadline) {
		struct bconn c;
		int orc = auth_open(w, &c);
		if (orc == -2)
			break;
		if (orc != 0) {
			if (w->c.sessions == 0) {
				w->failed = 1;
				break;
			}
			continue;
		}
		int kind = (int)rng_below(&w->rng, G_KINDS);
		w->c.kinds[kind]++;
		size_t n = 0;
		int err_code = 0, timed_out = 0, closed = 0, quiet = 1;
		switch (kind) {
		case G_RANDOM:
			n = 1 + rng_below(&w->rng, 2048);
			for (size_t i = 0; i < n; i++)
				buf[i] = (uint8_t)rng_next(&w->rng);
			break;
		case G_OVERSIZE: {
			/* Above the largest max_frame a relay may be configured
			 * with (64 MiB), so above any. */
			uint64_t len = (64u << 20) + 1 + rng_below(&w->rng, 0xffffffffu - (64u << 20));
			buf[0] = (uint8_t)(len >> 24);
			buf[1] = (uint8_t)(len >> 16);
			buf[2] = (uint8_t)(len >> 8);
			buf[3] = (uint8_t)len;
			n = FRAME_HEADER_LEN + rng_below(&w->rng, 64);
			for (size_t i = FRAME_HEADER_LEN; i < n; i++)
				buf[i] = (uint8_t)rng_next(&w->rng);
			break;
		}
		case G_TRUNCATED: {
			/* A frame within the smallest max_frame (64), cut short:
			 * its header and not all of its payload. */
			size_t full = rand_frame(&w->rng, buf, FRAME_HEADER_LEN + 64);
			n = FRAME_HEADER_LEN + (full > FRAME_HEADER_LEN + 1
				? rng_below(&w->rng, full - FRAME_HEADER_LEN) : 0);
			if (full == FRAME_HEADER_LEN)
				buf[3] = 1; /* announce one byte, send none */
			break;
		}
		case G_EMPTY:
			memset(buf, 0, FRAME_HEADER_LEN);
			n = FRAME_HEADER_LEN;
			break;
		default:
			break;
		}
		if (kind != G_PROTO) {
			int rc = bconn_queue(&c, buf, n) == 0 && bconn_flush(&c) == 0 ? 0 : 1;
			if (rc == 0)
				w->c.bytes_sent += n;
			if (rc == 0 && kind == G_TRUNCATED) {
				/* Cut short, then gone: with close_notify or without. */
				w->c.closed_by_us++;
				auth_close(w, &c, (int)rng_below(&w->rng, 2));
				continue;
			}
			closed = rc != 0 ? 1 : garbage_wait(w, &c, 0, &err_code, &timed_out);
			if (kind == G_OVERSIZE && (closed != 1 || err_code != 6))
				garbage_unexpected(w, kind, closed != 1 ? "the relay did not close the connection"
								      : "no TOO_LARGE error before the close");
			if (kind == G_EMPTY && (closed != 1 || err_code != 1))
				garbage_unexpected(w, kind, closed != 1 ? "the relay did not close the connection"
								      : "no BAD_REQUEST error before the close");
		} else {
			/* Random frames, each followed by a ping, until the
			 * relay closes the connection or 32 were answered. */
			for (int i = 0; i < 32 && bench_now_ns() < g_deadline; i++) {
				n = rand_frame(&w->rng, buf, 1024);
				Vigil__V1__GetCheckpoint g = VIGIL__V1__GET_CHECKPOINT__INIT;
				Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
				f.msg_case = VIGIL__V1__FRAME__MSG_GET_CHECKPOINT;
				f.get_checkpoint = &g;
				if (bconn_queue(&c, buf, n) != 0 || bconn_queue_msg(&c, &f, PING_ID) != 0 ||
				    bconn_flush(&c) != 0) {
					closed = 1;
					break;
				}
				w->c.frames_sent += 2;
				w->c.bytes_sent += n;
				err_code = 0;
				closed = garbage_wait(w, &c, 1, &err_code, &timed_out);
				if (closed || timed_out)
					break;
			}
			if (timed_out)
				garbage_unexpected(w, kind, "a ping was not answered within 10 s");
		}
		if (closed == 1) {
			auth_lost(w, &c);
		} else {
			w->c.closed_by_us++;
			quiet = 0;
		}
		auth_close(w, &c, quiet);
	}
	return NULL;
}

static int run_auth(const struct opts *o, struct counts *total)
{
	struct bident id;
	char err[1024];
	if (bident_load(&id, o->pki, o->cert, o->origin, err, sizeof(err)) != 0) {
		fprintf(stderr, "vigil-hostile: %s\n", err);
		return -1;
	}
	void *(*fn)(void *) = o->mode == M_ACKFLOOD ? ackflood_worker
			      : o->mode == M_NOREAD ? noread_worker : garbage_worker;
	struct worker *w = calloc(o->conns, sizeof(*w));
	if (!w) {
		bident_free(&id);
		return -1;
	}
	unsigned started = 0;
	for (unsigned i = 0; i < o->conns; i++) {
		w[i].o = o;
		w[i].id = &id;
		w[i].rng = o->seed + 0x9E3779B97F4A7C15ULL * (i + 1);
		if (pthread_create(&w[i].th, NULL, fn, &w[i]) != 0) {
			fprintf(stderr, "vigil-hostile: cannot start thread %u\n", i);
			break;
		}
		started++;
	}
	int failed = 0;
	for (unsigned i = 0; i < started; i++) {
		pthread_join(w[i].th, NULL);
		counts_add(total, &w[i].c);
		if (w[i].failed) {
			if (!failed)
				fprintf(stderr, "vigil-hostile: %s cannot connect: %s\n", o->cert,
					w[i].err);
			failed++;
		}
	}
	free(w);
	bident_free(&id);
	return started == 0 || failed == (int)started ? -1 : 0;
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("usage: vigil-hostile MODE --port P --pki DIR --origin O [--seconds S]\n"
	      "                     [--conns N] [--cert NAME] [--max N] [--seed N]\n"
	      "                     [--reopen-ms MS] [--interval-ms MS]\n"
	      "                     [--query mix|entries|leaves|checkpoint|members]\n"
	      "MODE: baseline silent slowloris tcpflood replay dhreplay ackflood noread garbage\n",
	      f);
}

static int parse_u64(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "vigil-hostile: --%s: \"%s\" is not a number in [%" PRIu64 ", %" PRIu64
			"]\n", name, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { O_PORT = 256, O_PKI, O_ORIGIN, O_CERT, O_SECONDS, O_CONNS, O_MAX, O_SEED, O_REOPEN,
	       O_INTERVAL, O_QUERY };
	static const struct option lo[] = {
		{ "port", required_argument, NULL, O_PORT },
		{ "pki", required_argument, NULL, O_PKI },
		{ "origin", required_argument, NULL, O_ORIGIN },
		{ "cert", required_argument, NULL, O_CERT },
		{ "seconds", required_argument, NULL, O_SECONDS },
		{ "conns", required_argument, NULL, O_CONNS },
		{ "max", required_argument, NULL, O_MAX },
		{ "seed", required_argument, NULL, O_SEED },
		{ "reopen-ms", required_argument, NULL, O_REOPEN },
		{ "interval-ms", required_argument, NULL, O_INTERVAL },
		{ "query", required_argument, NULL, O_QUERY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	memset(o, 0, sizeof(*o));
	o->seconds = 4;
	o->max = 1000000;
	o->seed = (uint64_t)bench_now_ns() ^ (uint64_t)getpid() << 32;
	o->reopen_ns = 20 * NS_PER_MS;
	o->interval_ns = 50 * NS_PER_MS;
	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
			usage(stdout);
			exit(0);
		}
		usage(stderr);
		return -1;
	}
	unsigned m;
	for (m = 0; m < N_MODES; m++)
		if (strcmp(argv[1], modes[m].name) == 0)
			break;
	if (m == N_MODES) {
		fprintf(stderr, "vigil-hostile: unknown mode \"%s\"\n", argv[1]);
		usage(stderr);
		return -1;
	}
	o->mode = (enum mode)m;
	o->conns = modes[m].conns;
	o->cert = modes[m].cert;
	uint64_t v;
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_PORT:
			if (parse_u64("port", optarg, 1, 65535, &v) != 0)
				return -1;
			o->port = (int)v;
			break;
		case O_PKI: o->pki = optarg; break;
		case O_ORIGIN: o->origin = optarg; break;
		case O_CERT: o->cert = optarg; break;
		case O_SECONDS:
			if (parse_u64("seconds", optarg, 1, 86400, &v) != 0)
				return -1;
			o->seconds = (double)v;
			break;
		case O_CONNS:
			if (parse_u64("conns", optarg, 1, 100000, &v) != 0)
				return -1;
			o->conns = (unsigned)v;
			break;
		case O_MAX:
			if (parse_u64("max", optarg, 1, UINT64_MAX, &o->max) != 0)
				return -1;
			break;
		case O_SEED:
			if (parse_u64("seed", optarg, 0, UINT64_MAX, &o->seed) != 0)
				return -1;
			break;
		case O_REOPEN:
			if (parse_u64("reopen-ms", optarg, 0, 60000, &v) != 0)
				return -1;
			o->reopen_ns = (int64_t)v * NS_PER_MS;
			break;
		case O_INTERVAL:
			if (parse_u64("interval-ms", optarg, 1, 60000, &v) != 0)
				return -1;
			o->interval_ns = (int64_t)v * NS_PER_MS;
			break;
		case O_QUERY: {
			int q;
			for (q = 0; q < Q_KINDS; q++)
				if (strcmp(optarg, query_names[q]) == 0)
					break;
			if (q == Q_KINDS) {
				fprintf(stderr, "vigil-hostile: --query: \"%s\" is not one of mix, "
					"entries, leaves, checkpoint, members\n", optarg);
				return -1;
			}
			o->query = q;
			break;
		}
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc || (o->mode != M_BASELINE && (!o->port || !o->pki || !o->origin))) {
		usage(stderr);
		return -1;
	}
	if (o->seed == 0)
		o->seed = 1; /* xorshift's one fixed point */
	return 0;
}

static void print_counts(const struct opts *o, struct counts *c, double secs)
{
	printf("mode: %s\n", modes[o->mode].name);
	printf("seconds: %.2f\n", secs);
	printf("connections: %" PRIu64 "\n", c->opened);
	printf("connect_failed: %" PRIu64 "\n", c->connect_failed);
	printf("connect_refused: %" PRIu64 "\n", c->connect_refused);
	printf("connect_noport: %" PRIu64 "\n", c->connect_noport);
	printf("connect_timeout: %" PRIu64 "\n", c->connect_timeout);
	printf("max_open: %u\n", c->max_open);
	printf("bytes_sent: %" PRIu64 "\n", c->bytes_sent);
	if (o->mode < M_ACKFLOOD)
		printf("bytes_received: %" PRIu64 "\n", c->bytes_received);
	printf("closed_by_relay: %" PRIu64 "\n", c->closed_by_relay);
	printf("reset_by_relay: %" PRIu64 "\n", c->reset_by_relay);
	printf("closed_by_us: %" PRIu64 "\n", c->closed_by_us);
	if (o->mode == M_REPLAY || o->mode == M_DHREPLAY) {
		printf("server_flights: %" PRIu64 "\n", c->flights);
		printf("alerts: %" PRIu64 "\n", c->alerts);
		printf("alerts_handshake_failure: %" PRIu64 "\n", c->alerts_hs_failure);
		printf("answer_p50_ms: %.3f\n", bstats_ms(&c->answer, 50));
		printf("answer_p99_ms: %.3f\n", bstats_ms(&c->answer, 99));
	}
	if (o->mode >= M_ACKFLOOD) {
		printf("sessions: %" PRIu64 "\n", c->sessions);
		printf("session_failed: %" PRIu64 "\n", c->session_failed);
		printf("frames_sent: %" PRIu64 "\n", c->frames_sent);
		printf("frames_received: %" PRIu64 "\n", c->frames_received);
		printf("errors_received: %" PRIu64 "\n", c->errors_received);
	}
	if (o->mode == M_NOREAD)
		printf("last_progress_s: %.3f\n", (double)c->last_progress_ns / 1e9);
	if (o->mode == M_GARBAGE) {
		for (int k = 0; k < G_KINDS; k++)
			printf("kind_%s: %" PRIu64 "\n", gkind_names[k], c->kinds[k]);
		printf("unexpected: %" PRIu64 "\n", c->unexpected);
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse_opts(argc, argv, &o) != 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	/* Raw modes hold one descriptor per connection; leave room for the rest. */
	struct rlimit rl;
	if (o.mode < M_ACKFLOOD && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    o.conns + 64 > rl.rlim_cur) {
		unsigned cap = rl.rlim_cur > 128 ? (unsigned)rl.rlim_cur - 64 : 64;
		fprintf(stderr, "vigil-hostile: %u connections do not fit under ulimit -n %llu; using %u\n",
			o.conns, (unsigned long long)rl.rlim_cur, cap);
		o.conns = cap;
	}
	signal(SIGALRM, on_alarm);
	alarm((unsigned)o.seconds + 60);

	struct counts c;
	memset(&c, 0, sizeof(c));
	printf("# vigil-hostile %s: %u connections%s%s for %.0f s, seed %" PRIu64 "\n",
	       modes[o.mode].name, o.conns, o.cert ? " as " : "", o.cert ? o.cert : "", o.seconds,
	       o.seed);
	fflush(stdout);
	g_start = bench_now_ns();
	g_deadline = g_start + (int64_t)(o.seconds * (double)NS_PER_S);
	int rc = 0;
	switch (o.mode) {
	case M_BASELINE: {
		struct timespec ts = { .tv_sec = (time_t)o.seconds, .tv_nsec = 0 };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		break;
	}
	case M_SILENT:
	case M_SLOWLORIS:
	case M_TCPFLOOD:
	case M_REPLAY:
	case M_DHREPLAY:
		rc = run_raw(&o, &c);
		break;
	default:
		rc = run_auth(&o, &c);
		break;
	}
	double secs = (double)(bench_now_ns() - g_start) / 1e9;
	print_counts(&o, &c, secs);
	bstats_free(&c.answer);
	fflush(stdout);
	return rc == 0 ? 0 : 1;
}
