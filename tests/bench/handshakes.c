/*
 * vigil-bench-handshakes - full and resumed TLS 1.3 handshakes per second
 * from one sequential client (tests/bench/run.sh handshakes).
 *
 *   vigil-bench-handshakes --port P --pki DIR [--cert NAME] [--seconds S]
 *
 * Each handshake is a new TCP connection to 127.0.0.1:P and a complete
 * mutual TLS 1.3 handshake as PKI_DIR/NAME.crt (default iom-ru-moscow),
 * ALPN vigil/1, the relay's certificate verified against ca.crt.  A
 * handshake counts once the relay's session ticket has arrived: the relay
 * sends it only after it has verified the client's certificate (or, when
 * resuming, checked it again), so the figure includes the relay's whole
 * side of the handshake.  Then close_notify and the socket is closed;
 * nothing else is sent.
 *
 * Phase 1 offers no session (full handshakes); phase 2 offers, each time,
 * the ticket of the connection before (resumed handshakes): a handshake
 * that does not resume ends the run with an error.  Prints
 * full_handshakes_per_s, resumed_handshakes_per_s and resumed_over_full.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "tests/bench/bconn.h"
#include "tests/bench/bident.h"

#define HS_TIMEOUT_MS 5000

/* The newest ticket of the connection in progress (the new-session
 * callback's), the caller's once the connection is done. */
static SSL_SESSION *latest;

static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	(void)ssl;
	SSL_SESSION_free(latest);
	latest = sess;
	return 1; /* we keep the reference */
}

static int fail(const char *what, SSL *ssl, int ret)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256];
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else if (ssl && SSL_get_error(ssl, ret) == SSL_ERROR_SYSCALL)
		snprintf(buf, sizeof(buf), "%s", errno ? strerror(errno) : "connection closed");
	else
		snprintf(buf, sizeof(buf), "unknown error");
	fprintf(stderr, "vigil-bench-handshakes: %s: %s\n", what, buf);
	ERR_clear_error();
	return -1;
}

static int wait_fd(int fd, int want_write, int64_t deadline_ns)
{
	int64_t left = deadline_ns - bench_now_ns();
	if (left <= 0) {
		fprintf(stderr, "vigil-bench-handshakes: timed out waiting for the relay\n");
		return -1;
	}
	struct pollfd p = { .fd = fd, .events = want_write ? POLLOUT : POLLIN };
	if (poll(&p, 1, (int)(left / 1000000) + 1) < 0 && errno != EINTR) {
		fprintf(stderr, "vigil-bench-handshakes: poll: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * One connection: handshake (offering offer unless NULL), wait for the
 * relay's ticket, close.  0 with *resumed set, or -1.
 */
static int one(SSL_CTX *ctx, int port, SSL_SESSION *offer, int *resumed)
{
	int64_t deadline = bench_now_ns() + (int64_t)HS_TIMEOUT_MS * 1000000;
	int rc = -1;
	SSL *ssl = NULL;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "vigil-bench-handshakes: socket: %s\n", strerror(errno));
		return -1;
	}
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		fprintf(stderr, "vigil-bench-handshakes: connect to port %d: %s\n", port,
			strerror(errno));
		goto out;
	}
	int on = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_set1_host(ssl, "localhost") != 1 ||
	    (offer && SSL_set_session(ssl, offer) != 1)) {
		fail("cannot set up the TLS connection", NULL, 0);
		goto out;
	}
	SSL_SESSION_free(latest);
	latest = NULL;
	for (;;) {
		int r = SSL_connect(ssl);
		if (r == 1)
			break;
		int e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			fail("handshake", ssl, r);
			goto out;
		}
		if (wait_fd(fd, e == SSL_ERROR_WANT_WRITE, deadline) != 0)
			goto out;
	}
	/* The ticket comes after the relay has checked our certificate. */
	while (!latest) {
		char b[256];
		int r = SSL_read(ssl, b, sizeof(b));
		if (r > 0)
			continue;
		int e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			fail("waiting for the session ticket", ssl, r);
			goto out;
		}
		if (!latest && wait_fd(fd, e == SSL_ERROR_WANT_WRITE, deadline) != 0)
			goto out;
	}
	*resumed = SSL_session_reused(ssl) == 1;
	SSL_shutdown(ssl);
	rc = 0;
out:
	SSL_free(ssl);
	close(fd);
	ERR_clear_error();
	return rc;
}

static void usage(FILE *f)
{
	fputs("usage: vigil-bench-handshakes --port P --pki DIR [--cert NAME] [--seconds S]\n",
	      f);
}

int main(int argc, char **argv)
{
	int port = 0;
	const char *pki = NULL, *cert = "iom-ru-moscow";
	double seconds = 10;
	static const struct option lo[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "pki", required_argument, NULL, 'k' },
		{ "cert", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	for (int c; (c = getopt_long(argc, argv, "h", lo, NULL)) != -1;) {
		switch (c) {
		case 'p': port = atoi(optarg); break;
		case 'k': pki = optarg; break;
		case 'c': cert = optarg; break;
		case 's': seconds = atof(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (port <= 0 || port > 65535 || !pki || seconds <= 0) {
		usage(stderr);
		return 2;
	}
	struct bident id;
	char err[512];
	memset(&id, 0, sizeof(id));
	/* The checkpoint key is loaded and not needed: no log is read here. */
	if (bident_load(&id, pki, cert, "bench.vigil.example/log", err, sizeof(err)) != 0) {
		fprintf(stderr, "vigil-bench-handshakes: %s\n", err);
		return 1;
	}
	/* Tickets reach us through the callback; OpenSSL keeps none itself. */
	SSL_CTX_set_session_cache_mode(id.ctx, SSL_SESS_CACHE_CLIENT |
						       SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(id.ctx, on_new_session);

	int status = 1;
	SSL_SESSION *offer = NULL;
	double rate[2] = { 0, 0 };
	for (int phase = 0; phase < 2; phase++) {
		uint64_t n = 0;
		int64_t t0 = bench_now_ns(), end = t0 + (int64_t)(seconds * 1e9), t1;
		do {
			int resumed = 0;
			if (one(id.ctx, port, phase ? offer : NULL, &resumed) != 0)
				goto out;
			if (resumed != phase) {
				fprintf(stderr, "vigil-bench-handshakes: handshake %llu of the %s phase "
					"was %s\n", (unsigned long long)n + 1,
					phase ? "resumed" : "full",
					resumed ? "resumed" : "not resumed");
				goto out;
			}
			/* Each ticket is used once, as a client should. */
			SSL_SESSION_free(offer);
			offer = latest;
			latest = NULL;
			n++;
			t1 = bench_now_ns();
		} while (t1 < end);
		rate[phase] = (double)n / ((double)(t1 - t0) / 1e9);
		printf("%s_handshakes_per_s: %.0f\n", phase ? "resumed" : "full", rate[phase]);
		printf("# %s: %llu handshakes in %.2f s\n", phase ? "resumed" : "full",
		       (unsigned long long)n, (double)(t1 - t0) / 1e9);
		fflush(stdout);
	}
	printf("resumed_over_full: %.2f\n", rate[1] / rate[0]);
	status = 0;
out:
	SSL_SESSION_free(offer);
	SSL_SESSION_free(latest);
	latest = NULL;
	bident_free(&id);
	return status;
}
