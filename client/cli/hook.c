/*
 * hook.c - running the command of "vigil alerts --exec CMD" for one
 * delivery.
 *
 * CMD is the operator's, given on our command line, and runs as
 * /bin/sh -c CMD in a process group of its own, so that a timeout ends
 * whatever it started.  Nothing the relay sent ever becomes part of a
 * command line: the delivery reaches the command only as data, a JSON
 * object on its standard input and VIGIL_* variables in its environment.
 * Its standard output goes to our standard error (our standard output
 * carries the deliveries), its standard error stays ours.  Variables
 * named VIGIL_* that we inherited are not passed on: in the command's
 * environment that name space is the delivery's.
 *
 * Who owns what: the caller owns the input and the environment it hands
 * in; hook_run keeps neither, and leaves no child behind: it returns once
 * the command has exited (or was killed and reaped).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

/* After SIGTERM to the group (a timeout, or our own stop), how long the
 * command has to finish before SIGKILL. */
#define HOOK_GRACE_MS 1000
/* How often the wait looks at the child, the clock and our signals. */
#define HOOK_TICK_MS 20

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int hook_env_add(struct hook_env *e, const char *name, const char *value)
{
	if (e->n + 1 >= e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 32;
		char **v = realloc(e->v, cap * sizeof(*v));
		if (!v)
			return -1;
		e->v = v;
		e->cap = cap;
	}
	size_t len = strlen(name) + 1 + strlen(value) + 1;
	char *s = malloc(len);
	if (!s)
		return -1;
	snprintf(s, len, "%s=%s", name, value);
	e->v[e->n++] = s;
	e->v[e->n] = NULL;
	return 0;
}

void hook_env_free(struct hook_env *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

/* Our environment without VIGIL_*, then the delivery's: a malloc()ed
 * array of pointers (the strings stay where they are), or NULL. */
static char **child_environ(const struct hook_env *e)
{
	size_t n = 0;
	for (char **p = environ; p && *p; p++)
		n++;
	char **v = malloc((n + e->n + 1) * sizeof(*v));
	if (!v)
		return NULL;
	size_t k = 0;
	for (char **p = environ; p && *p; p++)
		if (strncmp(*p, "VIGIL_", 6) != 0)
			v[k++] = *p;
	for (size_t i = 0; i < e->n; i++)
		v[k++] = e->v[i];
	v[k] = NULL;
	return v;
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void child(int in_fd, const char *cmd, char **envp)
{
	setpgid(0, 0);
	if (in_fd == 0)
		fcntl(0, F_SETFD, 0); /* dup2 onto itself would keep FD_CLOEXEC */
	else if (dup2(in_fd, 0) < 0)
		_exit(126);
	if (dup2(2, 1) < 0)
		_exit(126);
	/* We ignore SIGPIPE (main), and an ignored signal stays ignored
	 * across exec; the command gets the defaults. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	char *const argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
	execve("/bin/sh", argv, envp);
	_exit(127);
}

/* Writes the input to the command's standard input, as far as it reads
 * it before the deadline; a command that exits without reading all of it
 * is no failure of ours (EPIPE: SIGPIPE is ignored). */
static void feed(int fd, const char *in, size_t len, int64_t deadline)
{
	size_t done = 0;
	while (done < len) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return;
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int r = poll(&p, 1, left > HOOK_TICK_MS ? HOOK_TICK_MS : (int)left);
		if (r < 0 && errno != EINTR)
			return;
		if (r <= 0)
			continue;
		ssize_t w = write(fd, in + done, len - done);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (w <= 0)
			return;
		done += (size_t)w;
	}
}

void hook_run(const char *cmd, const char *in, size_t in_len, const struct hook_env *env,
	      int timeout_ms, volatile sig_atomic_t *stop, struct hook_result *out)
{
	memset(out, 0, sizeof(*out));
	int p[2];
	char **envp = child_environ(env);
	if (!envp) {
		out->outcome = HOOK_NOT_RUN;
		out->code = ENOMEM;
		return;
	}
	if (pipe(p) != 0) {
		out->outcome = HOOK_NOT_RUN;
		out->code = errno;
		free(envp);
		return;
	}
	/* Neither end may stay open in a later command (the write end would
	 * keep its standard input from ever ending). */
	fcntl(p[0], F_SETFD, FD_CLOEXEC);
	fcntl(p[1], F_SETFD, FD_CLOEXEC);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		child(p[0], cmd, envp);
	int saved = errno;
	free(envp);
	close(p[0]);
	if (pid < 0) {
		close(p[1]);
		out->outcome = HOOK_NOT_RUN;
		out->code = saved;
		return;
	}
	/* Also here, so that a kill of the group cannot come before the
	 * child made it (EACCES once it has run exec: it is made then). */
	setpgid(pid, pid);

	int64_t start = mono_ms(), deadline = start + timeout_ms, kill_at = 0;
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	feed(p[1], in, in_len, deadline);
	close(p[1]);

	int st = 0, termed = 0, killed = 0, reaped = 0, why = 0;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid) {
			reaped = 1;
			break;
		}
		if (w < 0 && errno != EINTR) {
			why = errno;
			break;
		}
		int64_t now = mono_ms();
		if (!termed && (now >= deadline || *stop)) {
			/* A timeout, or we are asked to stop: the command gets
			 * SIGTERM (a script may clean up), then SIGKILL. */
			out->timed_out = now >= deadline;
			out->stopped = !out->timed_out;
			kill(-pid, SIGTERM);
			termed = 1;
			kill_at = now + HOOK_GRACE_MS;
		} else if (termed && !killed && now >= kill_at) {
			kill(-pid, SIGKILL);
			killed = 1;
		}
		struct timespec ts = { 0, HOOK_TICK_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
	/* What it left running in its group after a timeout goes too. */
	if (termed)
		kill(-pid, SIGKILL);
	out->ms = (int)(mono_ms() - start);
	if (!reaped) {
		out->outcome = HOOK_NOT_RUN;
		out->code = why;
	} else if (out->timed_out) {
		out->outcome = HOOK_TIMED_OUT;
		out->code = timeout_ms;
	} else if (WIFEXITED(st)) {
		out->code = WEXITSTATUS(st);
		out->outcome = out->code == 0 ? HOOK_DONE : HOOK_FAILED;
	} else {
		out->outcome = HOOK_SIGNALLED;
		out->code = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	}
}

void hook_describe(const struct hook_result *r, char *buf, size_t n)
{
	switch (r->outcome) {
	case HOOK_DONE:
		snprintf(buf, n, "exit status 0");
		break;
	case HOOK_FAILED:
		snprintf(buf, n, "exit status %d%s", r->code,
			 r->code == 127 ? " (command not found?)" : "");
		break;
	case HOOK_SIGNALLED:
		snprintf(buf, n, "killed by signal %d (%s)", r->code, strsignal(r->code));
		break;
	case HOOK_TIMED_OUT:
		snprintf(buf, n, "timed out after %d s; its process group was killed",
			 r->code / 1000);
		break;
	case HOOK_NOT_RUN:
	default:
		snprintf(buf, n, "could not be started: %s", strerror(r->code));
		break;
	}
}
