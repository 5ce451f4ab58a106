#include "tests/bench/bscrape.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

char *bscrape_get(int port, int timeout_ms, char *err, size_t err_len)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, err_len, "socket: %s", strerror(errno));
		return NULL;
	}
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		snprintf(err, err_len, "metrics on port %d: %s", port, strerror(errno));
		close(fd);
		return NULL;
	}
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf) {
			snprintf(err, err_len, "out of memory");
			close(fd);
			return NULL;
		}
		if (len + 1 == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				free(buf);
			buf = nb;
			cap *= 2;
			continue;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, timeout_ms);
		ssize_t n = r > 0 ? read(fd, buf + len, cap - 1 - len) : -1;
		if (n == 0)
			break;
		if (n < 0) {
			snprintf(err, err_len, "metrics on port %d: %s", port,
				 r == 0 ? "timed out" : strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	char *body = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0 || !body) {
		snprintf(err, err_len, "metrics on port %d: not a 200 answer", port);
		free(buf);
		return NULL;
	}
	body += 4;
	memmove(buf, body, strlen(body) + 1);
	return buf;
}

double bscrape_value(const char *page, const char *sample)
{
	size_t n = strlen(sample);
	for (const char *p = page; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (*p == '#' || strncmp(p, sample, n) != 0 || p[n] != ' ')
			continue;
		char *end;
		double v = strtod(p + n + 1, &end);
		return end == p + n + 1 ? NAN : v;
	}
	return NAN;
}
