/*
 * cli.h - the vigil command-line tool's private header.
 *
 * The tool is a thin layer over libvigil's public API: vigil.c parses the
 * global options and dispatches to a command, settings.c turns options and
 * the INI file into connection settings, output.c prints results as text or
 * JSON, json.c writes and reads JSON, receipt.c saves and loads receipt
 * files, and every command lives in a file of its own (contact.c, log.c for
 * "checkpoint" and "proof", verify.c, case.c for the case records, correct.c for "correct",
 * casequery.c for the case queries, alerts.c for "alerts" and "alert ack",
 * members.c for "members", export.c, report.c and exportverify.c for
 * "export" and "verify --export").  What "alerts" shows of a delivery is in
 * delivery.c, the command it runs for each (--exec) in hook.c, and when
 * it tries again after a failure (--follow) in retry.c.
 *
 * Exit statuses: 0 success, 1 refused by the relay, 2 usage error (also a
 * local file or key problem, a malformed receipt file), 3 connection, TLS,
 * protocol or verification failure (an inconsistent log included).
 */
#ifndef VIGIL_CLI_H
#define VIGIL_CLI_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vigil.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_FAILED 3

#define CLI_DEFAULT_PORT VIGIL_DEFAULT_PORT

/* Connection settings; strings are malloc()ed and owned by the struct. */
struct settings {
	char *host;           /* the relay list, "A,B" (vigil.h, "several relays") */
	char *port;           /* [relay] port: for the addresses without one, or NULL */
	char *cert;
	char *key;
	char *ca;
	char *checkpoint_key; /* verifier key string or PEM file name */
	char *enc_cert;       /* our encryption certificate (opens sealed text), or NULL */
	char *enc_key;        /* its key */
	const char *config;   /* -c FILE, or NULL */
	int timeout_ms;       /* 0 = the library's default */
	int json;             /* --json */
};

/* Global options, accepted before the command and after it.  Each command
 * appends its own options to these. */
enum {
	OPT_RELAY = 256,
	OPT_CERT,
	OPT_KEY,
	OPT_CA,
	OPT_JSON,
	OPT_TIMEOUT,
	OPT_VERSION,
	OPT_CHECKPOINT_KEY,
	OPT_ENC_CERT,
	OPT_ENC_KEY,
	OPT_COMMAND_BASE = 512,
};
#define CLI_GLOBAL_OPTIONS                                        \
	{ "config", required_argument, NULL, 'c' },               \
	{ "relay", required_argument, NULL, OPT_RELAY },          \
	{ "cert", required_argument, NULL, OPT_CERT },            \
	{ "key", required_argument, NULL, OPT_KEY },              \
	{ "ca", required_argument, NULL, OPT_CA },                \
	{ "checkpoint-key", required_argument, NULL, OPT_CHECKPOINT_KEY }, \
	{ "enc-cert", required_argument, NULL, OPT_ENC_CERT },    \
	{ "enc-key", required_argument, NULL, OPT_ENC_KEY },      \
	{ "json", no_argument, NULL, OPT_JSON },                  \
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },      \
	{ "help", no_argument, NULL, 'h' },                       \
	{ "version", no_argument, NULL, OPT_VERSION }

/* vigil.c */
/* Names the command being run ("contact", "case open"): usage errors then
 * point to its help. */
void cli_command(const char *name);
/* The subcommand (sub of "case", "handover", "alert") being run. */
void cli_subcommand(const char *sub);
/* Prints "vigil: <message>" and a hint to the command's --help (vigil
 * COMMAND --help) on stderr; returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A code given on the command line in any case ("High", "NO-ANSWER"): the
 * code name(i) it matches ignoring case, or arg itself when none does (the
 * library's check then refuses it by name). */
const char *cli_code(char *arg, const char *(*name)(unsigned));
/* arg in capitals, in place (country codes); in small letters (consent
 * scopes). */
char *cli_upper(char *arg);
char *cli_lower(char *arg);
/* Handles a global option; 0 when handled, EXIT_USAGE after an error,
 * -1 when opt is not a global option.  'h' and OPT_VERSION print and exit. */
int cli_global_option(struct settings *s, int opt, const char *arg);
/* Reports a getopt_long failure ('?' or ':'); returns EXIT_USAGE. */
int cli_getopt_error(int opt, char *const argv[]);
/* Exit status for a libvigil status. */
int cli_exit_status(int status);
/* Loads the -c file (if any) and checks the settings are complete. */
int cli_settings(struct settings *s);
/* cli_settings(), then connects; 0 with *c, or an exit status after
 * printing why. */
int cli_connect(struct settings *s, vigil_client **c);
/* Connects with settings that cli_settings() accepted, printing nothing:
 * VIGIL_OK with *c, or the libvigil status with err.  The relays are tried
 * from the one at index first (vigil_client_relay_index() of the last
 * connection to reconnect where it worked last; 0 to start). */
int cli_open(const struct settings *s, size_t first, vigil_client **c, struct vigil_error *err);
/* A failure of ours (not the library's): prints it like output_failure()
 * with status (VIGIL_E_USAGE, VIGIL_E_IO, VIGIL_E_VERIFY ...) and returns
 * the exit status for it. */
int cli_fail(const struct settings *s, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Milliseconds since the epoch. */
int64_t cli_now_ms(void);
/* Parses a decimal unsigned integer (no sign, no spaces); -1 when it is not. */
int cli_parse_u64(const char *arg, uint64_t *out);

/* settings.c */
/* --relay A[,B...]: a relay list, each HOST:PORT, [V6]:PORT, or HOST
 * (port 7443), checked here (why: the library's message). */
int settings_relay(struct settings *s, const char *arg, char *why, size_t why_len);
/* Fills the settings not given on the command line from the INI file. */
int settings_load(struct settings *s, const char *path, char *why, size_t why_len);
/* After options and file: every setting needed to connect is there. */
int settings_complete(const struct settings *s, char *why, size_t why_len);
/* Whether s has the form of a verifier key (NAME+8 hex digits+...), the
 * test vigil.h documents; anything else is a file name. */
int settings_is_verifier_key(const char *s);
/* Replaces *dst with a copy of src; -1 when out of memory. */
int settings_set(char **dst, const char *src);
void settings_free(struct settings *s);

/* output.c */
/* A stored record's verified receipt.  Text: summary (what happened to the
 * case, e.g. "case SE-2026-0042: contact attempt recorded: phone, no
 * answer"), then "entry N at TIME; verified: included in checkpoint of size
 * M", "leaf_hash: HEX", "record_id: HEX" and, when key is not NULL,
 * "KEY: VALUE".  JSON: one object with index, leaf_hash, received_at,
 * record_id, duplicate, checkpoint, inclusion_proof, [key,] summary and
 * checkpoint_size. */
void output_receipt(const struct vigil_receipt *r, int json, const char *summary, const char *key,
		    const char *value);
/* A code as words ("no-answer" -> "no answer") in buf. */
const char *output_words(const char *code, char *buf, size_t n);
/* A libvigil failure: text on stderr, and with json a JSON object on stdout. */
void output_failure(const struct vigil_error *e, int json);
/* A verdict of "verify": "<what> OK: ..." or "<what> <BAD>: message" on
 * stdout as text, or with json {"ok":false,"error":BAD,"message":...}. */
void output_verdict_bad(const char *what, const char *bad, const char *message, int json);
/* The names name(0), name(1), ... up to a NULL, as a list wrapped at 78
 * columns and indented to the descriptions of the options in help texts. */
void output_names(FILE *f, const char *(*name)(unsigned));

/* json.c */
void json_write_string(FILE *f, const char *s);
/* ["hex", ...] */
void json_write_hashes(FILE *f, const uint8_t (*h)[VIGIL_HASH_LEN], size_t n);
/* An object's member name: a ',' before all but the first (*n counts
 * them), the quoted key and ':'; the caller writes the value. */
void json_key(FILE *f, int *n, const char *key);
/* RFC 3339 UTC with milliseconds, quoted; null for ms <= 0 ("none"). */
void json_write_time(FILE *f, int64_t ms);
/* The string, or null when it is NULL or "". */
void json_write_string_or_null(FILE *f, const char *s);
/* ["a", "b", ...] */
void json_write_strings(FILE *f, const char *const *s, size_t n);
/* "hex" of n bytes */
void json_write_hex(FILE *f, const uint8_t *b, size_t n);

/* receipt.c */
/* A receipt file being written: created (mode 0600) next to path before
 * the submission, so that a path we cannot write fails before anything is
 * sent; renamed over path once complete. */
struct receipt_out {
	char *path;
	char *tmp;
	FILE *f;
};
int receipt_out_open(struct receipt_out *o, const char *path, char *why, size_t why_len);
int receipt_out_commit(struct receipt_out *o, const struct vigil_receipt *r,
		       const uint8_t *record, size_t record_len, char *why, size_t why_len);
/* Removes the temporary file if it was not committed. */
void receipt_out_abort(struct receipt_out *o);

/* A receipt file read back: the receipt and the record bytes (malloc()ed).
 * received_at is the file's RFC 3339 receive time (-1 when absent). */
struct receipt_in {
	struct vigil_receipt r;
	uint8_t *record;
	size_t record_len;
	int64_t received_at;
};
/* 0, or -1 with why for a file that cannot be read or is malformed. */
int receipt_in_read(const char *path, struct receipt_in *in, char *why, size_t why_len);
void receipt_in_free(struct receipt_in *in);
/* The same from len bytes of text: 0, or -1 with why ("it is not valid
 * JSON: line L, column C: ..." or "it is malformed: ..."). */
int receipt_in_parse(const char *text, size_t len, struct receipt_in *in, char *why,
		     size_t why_len);

/* contact.c */
int cmd_contact(struct settings *s, int argc, char *argv[]);
void cmd_contact_help(FILE *f);

/* log.c */
int cmd_checkpoint(struct settings *s, int argc, char *argv[]);
int cmd_proof(struct settings *s, int argc, char *argv[]);

/* verify.c */
int cmd_verify(struct settings *s, int argc, char *argv[]);

/* export.c: "export" (export.h: the folder, the report, verify --export). */
int cmd_export(struct settings *s, int argc, char *argv[]);

/* case.c: the case records ("case open", "case close", "risk", "handover
 * offer|accept|decline|withdraw") and the "case" dispatcher. */
int cmd_case(struct settings *s, int argc, char *argv[]);
int cmd_risk(struct settings *s, int argc, char *argv[]);
int cmd_handover(struct settings *s, int argc, char *argv[]);
int cmd_erase(struct settings *s, int argc, char *argv[]);
int cmd_grant(struct settings *s, int argc, char *argv[]);

/* correct.c: "correct". */
int cmd_correct(struct settings *s, int argc, char *argv[]);

/* alerts.c: "alerts" and "alert ack". */
int cmd_alerts(struct settings *s, int argc, char *argv[]);
int cmd_alert(struct settings *s, int argc, char *argv[]);

/* delivery.c: one delivered alert or erasure, in the forms of "alerts". */
struct hook_env;
/* The text line, or with json the JSON object on one line, to f. */
void delivery_write(FILE *f, const struct vigil_alert *a, int json);
/* The delivery's VIGIL_* variables for --exec, appended to env; -1 when out
 * of memory. */
int delivery_env(const struct vigil_alert *a, struct hook_env *env);

/* hook.c: running the --exec command for one delivery. */
/* Environment variables NAME=value, malloc()ed, NULL-terminated in v. */
struct hook_env {
	char **v;
	size_t n, cap;
};
int hook_env_add(struct hook_env *e, const char *name, const char *value);
void hook_env_free(struct hook_env *e);
enum hook_outcome {
	HOOK_DONE,       /* exit status 0 */
	HOOK_FAILED,     /* another exit status (code) */
	HOOK_SIGNALLED,  /* ended by a signal (code) */
	HOOK_TIMED_OUT,  /* still running after the timeout (code, ms): its process
			  * group was killed */
	HOOK_NOT_RUN,    /* could not be started (code: errno) */
};
struct hook_result {
	enum hook_outcome outcome;
	int code;
	int timed_out;   /* the timeout passed */
	int stopped;     /* *stop was set while it ran: it got SIGTERM */
	int ms;          /* how long it ran */
};
/* Runs /bin/sh -c cmd in a process group of its own with in (in_len
 * bytes) on its standard input, its standard output on our standard
 * error, our environment without VIGIL_* plus env; waits for it at most
 * timeout_ms (then SIGTERM to the group, SIGKILL a second later), and
 * passes SIGTERM on to it when *stop becomes non-zero meanwhile. */
void hook_run(const char *cmd, const char *in, size_t in_len, const struct hook_env *env,
	      int timeout_ms, volatile sig_atomic_t *stop, struct hook_result *out);
/* "exit status 1", "killed by signal 9 (Killed)", "timed out after 60 s;
 * ...", "could not be started: ...". */
void hook_describe(const struct hook_result *r, char *buf, size_t n);

/* retry.c: what --follow does after a failure (pure: no I/O, no clock). */
#define RETRY_FIRST_MS 1000     /* the first delay ... */
#define RETRY_CAP_MS 60000      /* ... doubling up to this */
#define RETRY_JITTER_PCT 20     /* each delay spread by +-20 % */
#define RETRY_STABLE_MS 60000   /* a connection that held this long resets the delay */
/* The reconnection state of one run. */
struct retry {
	unsigned attempt;        /* delays taken since the last reset */
	int connected;           /* connected since the last delay */
	int64_t connected_at_ms;
};
/* The delay before attempt number attempt (0: the first) with rnd, a
 * uniformly random 32-bit number: RETRY_FIRST_MS * 2^attempt, at most
 * RETRY_CAP_MS, spread by RETRY_JITTER_PCT. */
int retry_delay_ms(unsigned attempt, uint32_t rnd);
/* A connection was made (and subscribed) at now_ms. */
void retry_connected(struct retry *r, int64_t now_ms);
/* The delay before the next attempt, after a loss or a failed attempt at
 * now_ms: from the first delay again when the connection before had held
 * for RETRY_STABLE_MS. */
int retry_next_ms(struct retry *r, int64_t now_ms, uint32_t rnd);
/* 1 when trying again cannot help: the relay refused our certificate or
 * we refused its own, a delivery did not verify, a refusal other than
 * UNAVAILABLE or INTERNAL, a local or usage error; 0 for a lost or
 * refused connection, a timeout, a TLS handshake the relay broke off. */
int retry_permanent(const struct vigil_error *err);

/* members.c: "members". */
int cmd_members(struct settings *s, int argc, char *argv[]);

/* casequery.c: "status", "log", "cases", "case readers". */
int cmd_status(struct settings *s, int argc, char *argv[]);
int cmd_log(struct settings *s, int argc, char *argv[]);
int cmd_cases(struct settings *s, int argc, char *argv[]);
int cmd_case_readers(struct settings *s, int argc, char *argv[]);
/* Parses the options of a query that takes one case id argument (or none
 * when want_id is 0): 0 with *case_id, -1 after --help, or an exit status. */
int cli_query_args(struct settings *s, int argc, char *argv[], int want_id,
		   const char *name, void (*help)(FILE *), const char **case_id);

#endif
