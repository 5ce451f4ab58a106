/*
 * cli.h - the vigil command-line tool's private header.
 *
 * The tool is a thin layer over libvigil's public API: vigil.c parses the
 * global options and dispatches to a command, settings.c turns options and
 * the INI file into connection settings, output.c prints results as text or
 * JSON, and every command lives in a file of its own (contact.c).
 *
 * Exit statuses: 0 success, 1 refused by the relay, 2 usage error (also a
 * local file or key problem), 3 connection, TLS, protocol or verification
 * failure.
 */
#ifndef VIGIL_CLI_H
#define VIGIL_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "vigil.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_FAILED 3

#define CLI_DEFAULT_PORT "7443"

/* Connection settings; strings are malloc()ed and owned by the struct. */
struct settings {
	char *host;
	char *port;
	char *cert;
	char *key;
	char *ca;
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
	OPT_COMMAND_BASE = 512,
};
#define CLI_GLOBAL_OPTIONS                                        \
	{ "config", required_argument, NULL, 'c' },               \
	{ "relay", required_argument, NULL, OPT_RELAY },          \
	{ "cert", required_argument, NULL, OPT_CERT },            \
	{ "key", required_argument, NULL, OPT_KEY },              \
	{ "ca", required_argument, NULL, OPT_CA },                \
	{ "json", no_argument, NULL, OPT_JSON },                  \
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },      \
	{ "help", no_argument, NULL, 'h' },                       \
	{ "version", no_argument, NULL, OPT_VERSION }

/* vigil.c */
/* Prints "vigil: <message>" and a hint to --help on stderr; returns
 * EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Handles a global option; 0 when handled, EXIT_USAGE after an error,
 * -1 when opt is not a global option.  'h' and OPT_VERSION print and exit. */
int cli_global_option(struct settings *s, int opt, const char *arg);
/* Reports a getopt_long failure ('?' or ':'); returns EXIT_USAGE. */
int cli_getopt_error(int opt, char *const argv[]);
/* Exit status for a libvigil status. */
int cli_exit_status(int status);

/* settings.c */
/* --relay HOST:PORT, [V6]:PORT, or HOST (port 7443). */
int settings_relay(struct settings *s, const char *arg, char *why, size_t why_len);
/* Fills the settings not given on the command line from the INI file. */
int settings_load(struct settings *s, const char *path, char *why, size_t why_len);
/* After options and file: every setting needed to connect is there. */
int settings_complete(const struct settings *s, char *why, size_t why_len);
/* Replaces *dst with a copy of src; -1 when out of memory. */
int settings_set(char **dst, const char *src);
void settings_free(struct settings *s);

/* output.c */
void output_receipt(const struct vigil_receipt *r, int json);
/* A libvigil failure: text on stderr, and with json a JSON object on stdout. */
void output_failure(const struct vigil_error *e, int json);

/* contact.c */
int cmd_contact(struct settings *s, int argc, char *argv[]);
void cmd_contact_help(FILE *f);

#endif
