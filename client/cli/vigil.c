/*
 * vigil.c - the vigil command: global options, then one command; and what
 * every command shares (settings, connecting, failures, numbers).
 *
 *   vigil [-c FILE | --relay HOST:PORT[,HOST:PORT...] --cert FILE --key FILE
 *          --ca FILE --checkpoint-key KEY_OR_FILE] [--enc-cert FILE --enc-key FILE]
 *         [--json] [--timeout MS] COMMAND [OPTIONS]
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"

struct command {
	const char *name;
	const char *summary;
	int (*run)(struct settings *s, int argc, char *argv[]);
};

static const struct command commands[] = {
	{ "contact", "report a contact attempt with a returnee", cmd_contact },
	{ "case", "open or close a case, list who read it (open, close, readers)", cmd_case },
	{ "risk", "record a risk assessment of a case", cmd_risk },
	{ "correct", "correct a contact attempt or risk assessment we wrote", cmd_correct },
	{ "handover", "offer a case to another organisation; accept, decline, withdraw",
	  cmd_handover },
	{ "status", "show a case's current status", cmd_status },
	{ "log", "show a case's records, every proof verified", cmd_log },
	{ "cases", "list the cases our organisation is a party to", cmd_cases },
	{ "members", "list the relay's member organisations (the directory)", cmd_members },
	{ "alerts", "print our alerts, verified, and acknowledge them (--follow)", cmd_alerts },
	{ "alert", "record a decision on an open alert (ack)", cmd_alert },
	{ "erase", "erase a record's sealed text, or the record, of a case we own", cmd_erase },
	{ "grant", "let a party of a case we own (police) read its narrative", cmd_grant },
	{ "checkpoint", "show the relay's latest checkpoint, verified", cmd_checkpoint },
	{ "proof", "prove that an entry is in the relay's log", cmd_proof },
	{ "export", "write a case's evidence into a folder a court can check offline",
	  cmd_export },
	{ "verify", "verify a saved receipt or a case export offline, or monitor the log",
	  cmd_verify },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] COMMAND [COMMAND OPTIONS]\n"
		   "\n"
		   "Submits signed records to a vigil relay over mutual TLS, verifies every\n"
		   "receipt it sends back against the relay's signed checkpoints, and checks\n"
		   "that the relay's log only ever grows.\n"
		   "\n"
		   "Commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-12s%s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n"
		   "Options (before or after the command):\n"
		   "  -c, --config FILE    INI file: [relay] address (one or a list, A, B),\n"
		   "                       port, checkpoint_key; [tls] cert, key, ca,\n"
		   "                       enc_cert, enc_key (relative paths are relative\n"
		   "                       to the file)\n"
		   "      --relay HOST:PORT[,HOST:PORT...]\n"
		   "                       the relay, or its nodes (active, standby) in the\n"
		   "                       order to try: the first that answers is used, and\n"
		   "                       a reconnection starts from the one that worked\n"
		   "                       last; IPv6 in brackets ([::1]:7443); the port\n"
		   "                       defaults to " CLI_DEFAULT_PORT "\n"
		   "      --cert FILE      our organisation's certificate (PEM)\n"
		   "      --key FILE       its private key (PEM, not encrypted)\n"
		   "      --ca FILE        the federation CA certificate (PEM)\n"
		   "      --checkpoint-key KEY_OR_FILE\n"
		   "                       the relay's checkpoint key (required): a verifier\n"
		   "                       key NAME+ID+KEY, or a PEM file with its Ed25519\n"
		   "                       public key (the key name is then each checkpoint's\n"
		   "                       origin)\n"
		   "      --enc-cert FILE  our encryption certificate (PEM), with --enc-key:\n"
		   "                       opens the sealed text written to us (notes,\n"
		   "                       justifications, decline and acknowledgement\n"
		   "                       reasons) in 'vigil log'; without them it shows\n"
		   "                       [sealed].  Writing needs neither: free text is\n"
		   "                       always sealed to the case's readers\n"
		   "      --enc-key FILE   its private key (PEM, not encrypted)\n"
		   "      --timeout MS     longest wait for the network (default %d ms)\n"
		   "      --json           print the result as one JSON object on one line\n"
		   "  -h, --help           this help; vigil COMMAND --help for a command's\n"
		   "      --version        print the version\n"
		   "Options on the command line take precedence over the file.\n"
		   "\n"
		   "Exit status: 0 success, 1 refused by the relay, 2 usage error (bad options,\n"
		   "names, times, files, a malformed receipt file), 3 connection, TLS, protocol\n"
		   "or verification failure (a receipt, proof or log that does not verify).\n",
		VIGIL_DEFAULT_TIMEOUT_MS);
}

/* The command being run ("contact", "case open"), for the hint of a usage
 * error; NULL before one is known. */
static const char *current_command;

void cli_command(const char *name)
{
	current_command = name;
}

void cli_subcommand(const char *sub)
{
	static char name[64];
	snprintf(name, sizeof(name), "%s %s", current_command ? current_command : "", sub);
	current_command = name;
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("vigil: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'vigil %s%s--help' for more information.\n",
		current_command ? current_command : "", current_command ? " " : "");
	return EXIT_USAGE;
}

const char *cli_code(char *arg, const char *(*name)(unsigned))
{
	for (unsigned i = 0; name(i); i++)
		if (strcasecmp(arg, name(i)) == 0)
			return name(i);
	return arg;
}

char *cli_lower(char *arg)
{
	for (char *p = arg; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return arg;
}

char *cli_upper(char *arg)
{
	for (char *p = arg; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return arg;
}

int cli_getopt_error(int opt, char *const argv[])
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";
	if (opt == ':') {
		if (optopt > 0 && optopt < 256)
			return cli_usage_error("option '-%c' needs an argument", optopt);
		return cli_usage_error("option '%s' needs an argument", arg);
	}
	if (optopt > 0 && optopt < 256)
		return cli_usage_error("unknown option '-%c'", optopt);
	return cli_usage_error("unknown option '%s'", arg);
}

int cli_exit_status(int status)
{
	switch (status) {
	case VIGIL_OK:
		return 0;
	case VIGIL_E_REFUSED:
		return EXIT_REFUSED;
	case VIGIL_E_USAGE:
	case VIGIL_E_IO:
		return EXIT_USAGE;
	default:
		return EXIT_FAILED;
	}
}

static int parse_timeout(const char *arg, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno || arg[0] < '0' || arg[0] > '9' || *end || v < 1 ||
	    v > 24L * 3600 * 1000)
		return -1;
	*out = (int)v;
	return 0;
}

int cli_global_option(struct settings *s, int opt, const char *arg)
{
	char why[256];
	switch (opt) {
	case 'c':
		s->config = arg;
		return 0;
	case OPT_RELAY:
		if (settings_relay(s, arg, why, sizeof(why)) != 0)
			return cli_usage_error("%s", why);
		return 0;
	case OPT_CERT:
	case OPT_KEY:
	case OPT_CA:
	case OPT_ENC_CERT:
	case OPT_ENC_KEY:
	case OPT_CHECKPOINT_KEY: {
		char **dst = opt == OPT_CERT ? &s->cert : opt == OPT_KEY ? &s->key
			   : opt == OPT_CA ? &s->ca : opt == OPT_ENC_CERT ? &s->enc_cert
			   : opt == OPT_ENC_KEY ? &s->enc_key : &s->checkpoint_key;
		if (!arg[0])
			return cli_usage_error(opt == OPT_CHECKPOINT_KEY ? "empty checkpoint key"
					       : "empty file name");
		if (settings_set(dst, arg) != 0)
			return cli_usage_error("out of memory");
		return 0;
	}
	case OPT_JSON:
		s->json = 1;
		return 0;
	case OPT_TIMEOUT:
		if (parse_timeout(arg, &s->timeout_ms) != 0)
			return cli_usage_error("--timeout wants milliseconds from 1 to 86400000, "
					       "not '%s'", arg);
		return 0;
	case 'h':
		help(stdout);
		exit(0);
	case OPT_VERSION:
		printf("vigil %s (libvigil %s)\n", VIGIL_VERSION, vigil_version());
		exit(0);
	default:
		return -1;
	}
}

int64_t cli_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cli_parse_u64(const char *arg, uint64_t *out)
{
	if (!arg[0] || strlen(arg) > 20)
		return -1;
	uint64_t v = 0;
	for (const char *p = arg; *p; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	return 0;
}

int cli_fail(const struct settings *s, int status, const char *fmt, ...)
{
	struct vigil_error e;
	memset(&e, 0, sizeof(e));
	e.status = status;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.message, sizeof(e.message), fmt, ap);
	va_end(ap);
	output_failure(&e, s->json);
	return cli_exit_status(status);
}

int cli_settings(struct settings *s)
{
	char why[512];
	if (s->config && settings_load(s, s->config, why, sizeof(why)) != 0)
		return cli_usage_error("%s", why);
	if (settings_complete(s, why, sizeof(why)) != 0)
		return cli_usage_error("%s", why);
	return 0;
}

int cli_open(const struct settings *s, size_t first, vigil_client **c, struct vigil_error *err)
{
	struct vigil_options o = {
		.port = s->port ? s->port : CLI_DEFAULT_PORT,
		.cert_file = s->cert,
		.key_file = s->key,
		.ca_file = s->ca,
		.timeout_ms = s->timeout_ms,
		.checkpoint_key = s->checkpoint_key,
		.enc_cert_file = s->enc_cert,
		.enc_key_file = s->enc_key,
	};
	return vigil_connect_relays(&o, s->host, first, c, err);
}

int cli_connect(struct settings *s, vigil_client **c)
{
	*c = NULL;
	int rc = cli_settings(s);
	if (rc != 0)
		return rc;
	struct vigil_error err;
	rc = cli_open(s, 0, c, &err);
	if (rc != VIGIL_OK) {
		output_failure(&err, s->json);
		return cli_exit_status(rc);
	}
	return 0;
}

int main(int argc, char *argv[])
{
	static const struct option options[] = { CLI_GLOBAL_OPTIONS, { NULL, 0, NULL, 0 } };
	struct settings s;
	memset(&s, 0, sizeof(s));
	int rc = EXIT_USAGE;

	/* The library guards its own writes against SIGPIPE; the tool has
	 * nothing else to write to a socket, but standard output may be a
	 * closed pipe, which should be an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);

	opterr = 0;
	int opt;
	/* '+': stop at the command; its options are parsed by the command. */
	while ((opt = getopt_long(argc, argv, "+:c:h", options, NULL)) != -1) {
		if (opt == '?' || opt == ':') {
			rc = cli_getopt_error(opt, argv);
			goto out;
		}
		int r = cli_global_option(&s, opt, optarg);
		if (r != 0) {
			rc = r < 0 ? cli_usage_error("unexpected option") : r;
			goto out;
		}
	}
	if (optind >= argc) {
		rc = cli_usage_error("no command given");
		goto out;
	}
	const char *name = argv[optind];
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (strcmp(commands[i].name, name) == 0) {
			int first = optind;
			cli_command(commands[i].name);
			optind = 0; /* makes glibc's getopt start over */
			rc = commands[i].run(&s, argc - first, argv + first);
			goto out;
		}
	}
	rc = cli_usage_error("unknown command '%s'", name);
out:
	settings_free(&s);
	if (fflush(stdout) != 0 && rc == 0) {
		fprintf(stderr, "vigil: cannot write the result: %s\n", strerror(errno));
		rc = EXIT_FAILED;
	}
	return rc;
}
