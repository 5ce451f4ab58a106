/*
 * net.c - the TCP connection under TLS: resolve, connect with a deadline,
 * then hand over an ordinary blocking socket whose reads and writes time out
 * after timeout_ms (SO_RCVTIMEO / SO_SNDTIMEO), so that OpenSSL can use it
 * directly with SSL_set_fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "client/internal.h"

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for a non-blocking connect() to finish; 0 or an errno value. */
static int connect_wait(int fd, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno;
		if (r == 0)
			return ETIMEDOUT;
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			return errno;
		return soerr;
	}
}

/* Blocking mode with per-call timeouts, and no Nagle delay: frames are
 * small and a pipelining client wants each one on the wire at once. */
static int socket_finish(int fd, int timeout_ms)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return errno;
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return errno;
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		return errno;
	return 0;
}

int vigil__net_connect(const char *host, const char *port, int timeout_ms, int *out,
		       struct vigil_error *err)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0)
		return vigil__error_set(err, VIGIL_E_CONNECT, "cannot resolve %s port %s: %s",
					host, port,
					gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));

	int64_t deadline = mono_ms() + timeout_ms;
	int last_errno = 0;
	char last_addr[NI_MAXHOST] = "";
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, last_addr, sizeof(last_addr), NULL, 0,
				NI_NUMERICHOST) != 0)
			snprintf(last_addr, sizeof(last_addr), "%s", host);
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
				ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		int e = 0;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
			e = (errno == EINPROGRESS) ? connect_wait(fd, deadline) : errno;
		if (e == 0)
			e = socket_finish(fd, timeout_ms);
		if (e == 0) {
			freeaddrinfo(res);
			*out = fd;
			return VIGIL_OK;
		}
		close(fd);
		last_errno = e;
		if (e == ETIMEDOUT && mono_ms() >= deadline)
			break;
	}
	freeaddrinfo(res);
	if (last_errno == ETIMEDOUT)
		return vigil__error_set(err, VIGIL_E_CONNECT,
					"cannot connect to %s port %s: timed out after %d ms",
					last_addr, port, timeout_ms);
	return vigil__error_set(err, VIGIL_E_CONNECT, "cannot connect to %s port %s: %s",
				last_addr[0] ? last_addr : host, port,
				last_errno ? strerror(last_errno) : "no address");
}
