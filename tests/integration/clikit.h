/*
 * clikit.h - running the vigil command in the integration tests (its
 * arguments, the run with a timeout, the checks of its exit) and reading
 * the subset of JSON it writes.  The path of the binary is the caller's
 * (VIGIL_CLI_PATH is a definition of the test targets only).
 */
#ifndef VIGIL_TESTS_CLIKIT_H
#define VIGIL_TESTS_CLIKIT_H

#include <stdarg.h>
#include <stddef.h>

#define CLI_TIMEOUT_MS 30000
#define CLI_OUT_MAX 65536

/* ---- running the tool ------------------------------------------------------ */

struct cli_args {
	const char *v[64];
	int n;
	char keep[16][700]; /* copies of paths and numbers the arguments point to */
	int nkeep;
};

struct cli_result {
	int status;
	char out[CLI_OUT_MAX];
	char err[CLI_OUT_MAX];
};

/* Empties a; its first argument is the binary at cli_path. */
void cli_args_init(struct cli_args *a, const char *cli_path);
/* Appends arguments up to a NULL. */
void cli_add(struct cli_args *a, ...);
void cli_addv(struct cli_args *a, va_list ap);
/* A copy of a formatted string that lives as long as the args. */
__attribute__((format(printf, 2, 3)))
const char *cli_keep(struct cli_args *a, const char *fmt, ...);
/* --relay 127.0.0.1:PORT --cert/--key PKI_DIR/<who>.crt/.key --ca PKI_DIR/<ca>
 * --checkpoint-key PKI_DIR/checkpoint.pub */
void cli_add_conn(struct cli_args *a, int port, const char *who, const char *ca);
/* Runs the arguments in cwd (NULL: this one) with stdout and stderr
 * captured; fails the test when it does not finish within CLI_TIMEOUT_MS.
 * Returns the exit status. */
int cli_run(struct cli_args *a, const char *cwd, char *out, size_t out_len, char *err,
	    size_t err_len);

/* The exit status is status (the test fails with both outputs otherwise). */
void cli_expect_status(const struct cli_result *r, int status);
/* Success: status 0 and nothing on stderr. */
void cli_expect_ok(const struct cli_result *r);
/* A failure with --json: exit status status, {"error": error, "message":
 * message} on stdout. */
void cli_expect_fail(const struct cli_result *r, int status, const char *error,
		     const char *message);
/* A usage error: status 2, nothing on stdout, "vigil: <line>" and the hint
 * to the help of the command run last ("Try 'vigil case open --help' ..."). */
void cli_expect_usage(const struct cli_result *r, const char *line);

/* ---- the tool in the background (alerts --follow) --------------------------- */

#include <stdint.h>
#include <sys/types.h>

/* A vigil process that runs while the test goes on, its stdout and stderr
 * read as they come.  pid is -1 when none runs. */
struct cli_bg {
	pid_t pid;
	int out_fd, err_fd;
	char out[CLI_OUT_MAX];
	size_t n_out, used;       /* bytes read; bytes handed out as lines */
	char err[CLI_OUT_MAX];
	size_t n_err;
};

/* Starts the arguments (stdin /dev/null; killed if the test dies). */
void cli_bg_start(struct cli_bg *b, struct cli_args *a);
/* Reads what is there, waiting at most ms for something; 0 at EOF of both. */
int cli_bg_pump(struct cli_bg *b, int ms);
/* The next complete line of stdout within ms (copied into line), with the
 * wall-clock time it was seen; 0 when none came. */
int cli_bg_line(struct cli_bg *b, int ms, char *line, size_t n, int64_t *seen_ms);
/* Waits at most ms until stderr holds at least count lines beginning with
 * prefix; how many it holds then. */
int cli_bg_err_lines(struct cli_bg *b, const char *prefix, int count, int ms);
/* Sends sig and waits at most ms for the exit: its status, -1 on timeout
 * (the process is then killed); the rest of the output is read. */
int cli_bg_stop(struct cli_bg *b, int sig, int ms);
/* The same when the process ends by itself: its status, -1 when it is
 * still running after ms (it is then killed). */
int cli_bg_wait(struct cli_bg *b, int ms);

/* ---- a little JSON (the subset the tool writes) ------------------------------ */

/* The end of the JSON value at p, or NULL when it is malformed. */
const char *jskip(const char *p);
/* The value of key in the object at obj, or NULL. */
const char *jget(const char *obj, const char *key);
/* The same, failing the test when there is none. */
const char *jmust(const char *obj, const char *key);
/* The object's keys, comma-separated, in order. */
void jkeys(const char *obj, char *out, size_t n);
/* A string value decoded (the escapes the tool writes); "null" gives "". */
void jstr(const char *v, char *out, size_t n);
/* The same value as a number. */
unsigned long long jnum(const char *v);
/* The i-th element of the array at v, or NULL past its end. */
const char *jnth(const char *v, size_t i);
/* The string member key of the object obj equals want. */
void expect_member(const char *obj, const char *key, const char *want);

#endif
