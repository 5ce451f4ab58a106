/*
 * contact.c - "vigil contact": report one contact attempt with a returnee.
 *
 * The attempt time (--at, default now) is also the record's client time, so
 * --record-id with --at builds the same record bytes on every run: a retry
 * after a lost answer is stored once (the relay answers "duplicate") instead
 * of being refused as a conflicting reuse of the record id.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

enum {
	OPT_CASE = OPT_COMMAND_BASE,
	OPT_CHANNEL,
	OPT_OUTCOME,
	OPT_AT,
	OPT_RECORD_ID,
	OPT_NOTE,
};

/* Names as an indented, wrapped list. */
static void print_names(FILE *f, const char *(*name)(unsigned))
{
	size_t col = 0;
	for (unsigned i = 0; name(i); i++) {
		size_t n = strlen(name(i));
		if (col == 0) {
			fputs("                       ", f);
			col = 23;
		} else if (col + 2 + n > 78) {
			fputs(",\n                       ", f);
			col = 23;
		} else {
			fputs(", ", f);
			col += 2;
		}
		fputs(name(i), f);
		col += n;
	}
	fputc('\n', f);
}

void cmd_contact_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] contact --case ID --channel CHANNEL --outcome OUTCOME\n"
		   "                               [--at TIME] [--record-id HEX] [--note TEXT]\n"
		   "\n"
		   "Reports one attempt to contact a returnee: builds the record, signs it with\n"
		   "our key, submits it and prints the relay's verified receipt.\n"
		   "\n"
		   "  --case ID            pseudonymous case id, 3-64 characters of A-Z a-z 0-9 -\n"
		   "  --channel CHANNEL    how the attempt was made, one of:\n");
	print_names(f, vigil_channel_name);
	fprintf(f, "  --outcome OUTCOME    what came of it, one of:\n");
	print_names(f, vigil_outcome_name);
	fprintf(f, "  --at TIME            when it was made, RFC 3339 (2026-11-28T10:00:00Z);\n"
		   "                       default now; also the record's client time\n"
		   "  --record-id HEX      the record id, 32 hex digits (default: random); with\n"
		   "                       --at, a retry sends the same record and is stored once\n"
		   "  --note TEXT          optional short note, at most %d bytes of UTF-8;\n"
		   "                       never needed to understand the case, never names\n"
		   "\n"
		   "Global options (vigil --help) may also follow the command.\n"
		   "Output: 'stored entry N at TIME', record_id, leaf_hash, and 'duplicate: yes'\n"
		   "when the relay already had the record; with --json one line:\n"
		   "{\"index\":N,\"leaf_hash\":\"...\",\"received_at\":\"...\",\"record_id\":\"...\","
		   "\"duplicate\":false}\n",
		VIGIL_NOTE_MAX);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cmd_contact(struct settings *s, int argc, char *argv[])
{
	static const struct option options[] = {
		CLI_GLOBAL_OPTIONS,
		{ "case", required_argument, NULL, OPT_CASE },
		{ "channel", required_argument, NULL, OPT_CHANNEL },
		{ "outcome", required_argument, NULL, OPT_OUTCOME },
		{ "at", required_argument, NULL, OPT_AT },
		{ "record-id", required_argument, NULL, OPT_RECORD_ID },
		{ "note", required_argument, NULL, OPT_NOTE },
		{ NULL, 0, NULL, 0 },
	};
	struct vigil_contact ct;
	memset(&ct, 0, sizeof(ct));
	const char *at = NULL, *record_id = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "+:c:h", options, NULL)) != -1) {
		switch (opt) {
		case '?':
		case ':':
			return cli_getopt_error(opt, argv);
		case 'h':
			cmd_contact_help(stdout);
			return 0;
		case OPT_CASE: ct.case_id = optarg; break;
		case OPT_CHANNEL: ct.channel = optarg; break;
		case OPT_OUTCOME: ct.outcome = optarg; break;
		case OPT_AT: at = optarg; break;
		case OPT_RECORD_ID: record_id = optarg; break;
		case OPT_NOTE: ct.note = optarg; break;
		default: {
			int r = cli_global_option(s, opt, optarg);
			if (r != 0)
				return r > 0 ? r : cli_usage_error("unexpected option");
		}
		}
	}
	if (optind < argc)
		return cli_usage_error("contact: unexpected argument '%s'", argv[optind]);
	if (!ct.case_id)
		return cli_usage_error("contact: --case is required");
	if (!ct.channel)
		return cli_usage_error("contact: --channel is required");
	if (!ct.outcome)
		return cli_usage_error("contact: --outcome is required");

	int64_t when = now_ms();
	if (at) {
		if (vigil_parse_time(at, &when) != VIGIL_OK)
			return cli_usage_error("contact: --at '%s' is not an RFC 3339 time such as "
					       "2026-11-28T10:00:00Z", at);
		if (when <= 0)
			return cli_usage_error("contact: --at '%s' is not after 1970", at);
	}
	ct.attempted_at_ms = ct.client_time_ms = when;
	if (record_id) {
		if (vigil_hex_decode(record_id, ct.record_id, VIGIL_RECORD_ID_LEN) != VIGIL_OK)
			return cli_usage_error("contact: --record-id wants 32 hex digits, not '%s'",
					       record_id);
		ct.have_record_id = 1;
	}
	struct vigil_error err;
	if (vigil_contact_check(&ct, &err) != VIGIL_OK)
		return cli_usage_error("contact: %s", err.message);

	char why[512];
	if (s->config && settings_load(s, s->config, why, sizeof(why)) != 0)
		return cli_usage_error("%s", why);
	if (settings_complete(s, why, sizeof(why)) != 0)
		return cli_usage_error("%s", why);

	struct vigil_options o = {
		.host = s->host,
		.port = s->port ? s->port : CLI_DEFAULT_PORT,
		.cert_file = s->cert,
		.key_file = s->key,
		.ca_file = s->ca,
		.timeout_ms = s->timeout_ms,
	};
	vigil_client *c = NULL;
	int rc = vigil_connect(&o, &c, &err);
	if (rc != VIGIL_OK) {
		output_failure(&err, s->json);
		return cli_exit_status(rc);
	}
	struct vigil_receipt r;
	rc = vigil_submit_contact(c, &ct, &r, &err);
	vigil_close(&c);
	if (rc != VIGIL_OK) {
		output_failure(&err, s->json);
		if (cli_exit_status(rc) == EXIT_FAILED && !(record_id && at)) {
			/* The record may have been stored even though we saw no
			 * valid receipt; the same bytes again are harmless. */
			char hex[2 * VIGIL_RECORD_ID_LEN + 1], t[VIGIL_TIME_LEN];
			vigil_hex_encode(ct.record_id, VIGIL_RECORD_ID_LEN, hex);
			vigil_format_time(when, t, sizeof(t));
			fprintf(stderr, "vigil: the relay may have stored the record; to retry "
					"without storing it twice, add: --record-id %s --at %s\n",
				hex, t);
		}
		return cli_exit_status(rc);
	}
	output_receipt(&r, s->json);
	return 0;
}
