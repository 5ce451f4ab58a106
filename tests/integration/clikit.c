#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clikit.h"
#include "harness.h"

/* The command of the last run ("contact", "case open"), as vigil names it
 * in the hint of a usage error: the first argument that is no global
 * option, and for case, handover and alert the subcommand after it. */
static char last_command[64];

static void note_command(const struct cli_args *a)
{
	static const char *const with_value[] = { "--relay", "--cert", "--key", "--ca",
		"--checkpoint-key", "--enc-cert", "--enc-key", "--timeout", "-c", "--config" };
	last_command[0] = '\0';
	for (int i = 1; i < a->n; i++) {
		const char *v = a->v[i];
		int skip = 0;
		for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
			skip |= strcmp(v, with_value[k]) == 0;
		if (skip) {
			i++;
			continue;
		}
		if (v[0] == '-')
			continue;
		snprintf(last_command, sizeof(last_command), "%s", v);
		static const char *const subs[] = { "case open", "case reopen", "case close",
			"case readers", "handover offer", "handover accept", "handover decline",
			"handover withdraw", "handover reseal", "alert ack" };
		char two[64];
		snprintf(two, sizeof(two), "%s %s", v, i + 1 < a->n ? a->v[i + 1] : "");
		for (size_t k = 0; k < sizeof(subs) / sizeof(subs[0]); k++)
			if (strcmp(two, subs[k]) == 0)
				snprintf(last_command, sizeof(last_command), "%s", two);
		return;
	}
}

/* ---- running the tool -------------------------------------------------------- */

void cli_args_init(struct cli_args *a, const char *cli_path)
{
	memset(a, 0, sizeof(*a));
	a->v[a->n++] = cli_path;
}

void cli_addv(struct cli_args *a, va_list ap)
{
	const char *s;
	while ((s = va_arg(ap, const char *)) != NULL) {
		assert_true(a->n < 62);
		a->v[a->n++] = s;
	}
}

void cli_add(struct cli_args *a, ...)
{
	va_list ap;
	va_start(ap, a);
	cli_addv(a, ap);
	va_end(ap);
}

const char *cli_keep(struct cli_args *a, const char *fmt, ...)
{
	assert_true(a->nkeep < 16);
	char *b = a->keep[a->nkeep++];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof(a->keep[0]), fmt, ap);
	va_end(ap);
	return b;
}

void cli_add_conn(struct cli_args *a, int port, const char *who, const char *ca)
{
	cli_add(a, "--relay", cli_keep(a, "127.0.0.1:%d", port),
		"--cert", cli_keep(a, "%s/%s.crt", PKI_DIR, who),
		"--key", cli_keep(a, "%s/%s.key", PKI_DIR, who),
		"--ca", cli_keep(a, "%s/%s", PKI_DIR, ca),
		"--checkpoint-key", cli_keep(a, "%s/checkpoint.pub", PKI_DIR), NULL);
}

int cli_run(struct cli_args *a, const char *cwd, char *out, size_t out_len, char *err,
	    size_t err_len)
{
	a->v[a->n] = NULL;
	note_command(a);
	int status = run_capture(a->v, cwd, out, out_len, err, err_len, CLI_TIMEOUT_MS);
	if (status < 0)
		fail_msg("vigil did not finish within %d ms", CLI_TIMEOUT_MS);
	return status;
}

void cli_expect_status(const struct cli_result *r, int status)
{
	if (r->status != status)
		fail_msg("vigil exited %d, expected %d\nstdout: %s\nstderr: %s", r->status, status,
			 r->out, r->err);
}

void cli_expect_fail(const struct cli_result *r, int status, const char *error,
		     const char *message)
{
	cli_expect_status(r, status);
	char got[1024];
	jstr(jmust(r->out, "error"), got, sizeof(got));
	assert_string_equal(got, error);
	jstr(jmust(r->out, "message"), got, sizeof(got));
	assert_string_equal(got, message);
}

void cli_expect_ok(const struct cli_result *r)
{
	cli_expect_status(r, 0);
	assert_string_equal(r->err, "");
}

void cli_expect_usage(const struct cli_result *r, const char *line)
{
	cli_expect_status(r, 2);
	assert_string_equal(r->out, "");
	char want[1200];
	snprintf(want, sizeof(want), "vigil: %s\nTry 'vigil %s%s--help' for more information.\n",
		 line, last_command, last_command[0] ? " " : "");
	assert_string_equal(r->err, want);
}

/* ---- a little JSON ------------------------------------------------------------------- */

const char *jskip(const char *p)
{
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			if (*p == '\\' && !*++p)
				return NULL;
		return *p ? p + 1 : NULL;
	}
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		p++;
		if (*p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				if (*p != '"' || !(p = jskip(p)) || *p++ != ':')
					return NULL;
			}
			if (!(p = jskip(p)))
				return NULL;
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	const char *s = p;
	while (*p && !strchr(",]}", *p))
		p++;
	return p > s ? p : NULL;
}

const char *jget(const char *obj, const char *key)
{
	if (*obj != '{')
		return NULL;
	const char *p = obj + 1;
	while (*p == '"') {
		const char *k = p + 1, *end = jskip(p);
		if (!end || *end != ':')
			return NULL;
		size_t kl = (size_t)(end - 1 - k);
		if (kl == strlen(key) && strncmp(k, key, kl) == 0)
			return end + 1;
		if (!(p = jskip(end + 1)))
			return NULL;
		if (*p == ',')
			p++;
	}
	return NULL;
}

const char *jmust(const char *obj, const char *key)
{
	const char *v = jget(obj, key);
	if (!v)
		fail_msg("no \"%s\" in %.300s", key, obj);
	return v;
}

void jkeys(const char *obj, char *out, size_t n)
{
	out[0] = '\0';
	assert_int_equal(*obj, '{');
	const char *p = obj + 1;
	while (*p == '"') {
		const char *end = jskip(p);
		assert_non_null(end);
		size_t used = strlen(out);
		snprintf(out + used, n - used, "%s%.*s", used ? "," : "", (int)(end - p - 2), p + 1);
		p = jskip(end + 1);
		assert_non_null(p);
		if (*p == ',')
			p++;
	}
}

void jstr(const char *v, char *out, size_t n)
{
	size_t o = 0;
	if (strncmp(v, "null", 4) == 0) {
		out[0] = '\0';
		return;
	}
	if (*v != '"')
		fail_msg("not a string: %.80s", v);
	for (v++; *v != '"'; v++) {
		char ch = *v;
		if (ch == '\\') {
			ch = *++v;
			if (ch == 'n')
				ch = '\n';
			else if (ch != '"' && ch != '\\' && ch != '/')
				fail_msg("unexpected escape \\%c", ch);
		}
		assert_true(o + 1 < n);
		out[o++] = ch;
	}
	out[o] = '\0';
}

unsigned long long jnum(const char *v)
{
	unsigned long long x;
	if (sscanf(v, "%llu", &x) != 1)
		fail_msg("not a number: %.80s", v);
	return x;
}

const char *jnth(const char *v, size_t i)
{
	assert_int_equal(*v, '[');
	const char *p = v + 1;
	if (*p == ']')
		return NULL;
	for (size_t k = 0; k < i; k++) {
		p = jskip(p);
		assert_non_null(p);
		if (*p == ']')
			return NULL;
		assert_int_equal(*p, ',');
		p++;
	}
	return p;
}

void expect_member(const char *obj, const char *key, const char *want)
{
	char v[512];
	jstr(jmust(obj, key), v, sizeof(v));
	if (strcmp(v, want) != 0)
		fail_msg("\"%s\" is \"%s\", expected \"%s\" in %s", key, v, want, obj);
}

/* ---- the tool in the background (alerts --follow) --------------------------- */

static int64_t bg_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cli_bg_start(struct cli_bg *b, struct cli_args *a)
{
	a->v[a->n] = NULL;
	memset(b, 0, sizeof(*b));
	int po[2], pe[2];
	assert_int_equal(pipe(po), 0);
	assert_int_equal(pipe(pe), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int in = open("/dev/null", O_RDONLY);
		if (in < 0 || dup2(in, 0) < 0 || dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
			_exit(126);
		close(po[0]);
		close(pe[0]);
		execv(a->v[0], (char *const *)a->v);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	b->pid = pid;
	b->out_fd = po[0];
	b->err_fd = pe[0];
}

int cli_bg_pump(struct cli_bg *b, int ms)
{
	struct pollfd p[2];
	nfds_t n = 0;
	if (b->out_fd >= 0)
		p[n++] = (struct pollfd){ .fd = b->out_fd, .events = POLLIN };
	if (b->err_fd >= 0)
		p[n++] = (struct pollfd){ .fd = b->err_fd, .events = POLLIN };
	if (n == 0)
		return 0;
	int r = poll(p, n, ms);
	if (r <= 0)
		return 1;
	for (nfds_t i = 0; i < n; i++) {
		if (!p[i].revents)
			continue;
		int is_out = p[i].fd == b->out_fd;
		char *buf = is_out ? b->out : b->err;
		size_t *len = is_out ? &b->n_out : &b->n_err;
		ssize_t got = read(p[i].fd, buf + *len, CLI_OUT_MAX - 1 - *len);
		if (got <= 0) {
			close(p[i].fd);
			*(is_out ? &b->out_fd : &b->err_fd) = -1;
			continue;
		}
		*len += (size_t)got;
		buf[*len] = '\0';
	}
	return 1;
}

int cli_bg_line(struct cli_bg *b, int ms, char *line, size_t n, int64_t *seen_ms)
{
	int64_t deadline = bg_wall_ms() + ms;
	for (;;) {
		char *nl = memchr(b->out + b->used, '\n', b->n_out - b->used);
		if (nl) {
			size_t len = (size_t)(nl - (b->out + b->used)) + 1;
			assert_true(len < n);
			memcpy(line, b->out + b->used, len);
			line[len] = '\0';
			b->used += len;
			*seen_ms = bg_wall_ms();
			return 1;
		}
		int64_t left = deadline - bg_wall_ms();
		if (left <= 0 || !cli_bg_pump(b, (int)left))
			return 0;
	}
}

/* Complete lines of text beginning with prefix. */
static int count_lines(const char *text, const char *prefix)
{
	int n = 0;
	size_t pl = strlen(prefix);
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		if (!nl)
			break;
		if (!strncmp(p, prefix, pl))
			n++;
		p = nl + 1;
	}
	return n;
}

int cli_bg_err_lines(struct cli_bg *b, const char *prefix, int count, int ms)
{
	int64_t deadline = bg_wall_ms() + ms;
	for (;;) {
		int n = count_lines(b->err, prefix);
		int64_t left = deadline - bg_wall_ms();
		if (n >= count || left <= 0 || !cli_bg_pump(b, (int)(left > 50 ? 50 : left)))
			return n;
	}
}

static int bg_reap(struct cli_bg *b, int ms)
{
	int64_t deadline = bg_wall_ms() + ms;
	int st, status = -1;
	while (bg_wall_ms() < deadline) {
		cli_bg_pump(b, 20);
		pid_t r = waitpid(b->pid, &st, WNOHANG);
		if (r == b->pid) {
			status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			break;
		}
	}
	if (status < 0) {
		kill(b->pid, SIGKILL);
		waitpid(b->pid, &st, 0);
	}
	b->pid = -1;
	/* The rest of the output, until both pipes close (bounded). */
	for (int i = 0; i < 40 && cli_bg_pump(b, 50); i++)
		;
	if (b->out_fd >= 0)
		close(b->out_fd);
	if (b->err_fd >= 0)
		close(b->err_fd);
	b->out_fd = b->err_fd = -1;
	return status;
}

int cli_bg_stop(struct cli_bg *b, int sig, int ms)
{
	if (b->pid <= 0)
		return -1;
	kill(b->pid, sig);
	return bg_reap(b, ms);
}

int cli_bg_wait(struct cli_bg *b, int ms)
{
	if (b->pid <= 0)
		return -1;
	return bg_reap(b, ms);
}
