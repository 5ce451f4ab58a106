/*
 * contact.c - "vigil contact": report one contact attempt with a returnee.
 *
 * The attempt time (--at, default now) is also the record's client time, so
 * --record-id with --at builds the same record bytes on every run: a retry
 * after a lost answer is stored once (the relay answers "duplicate") instead
 * of being refused as a conflicting reuse of the record id.
 *
 * With --save-receipt the verified receipt is also written as a JSON file
 * (receipt.c) that "vigil verify --receipt" checks offline.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

enum {
	OPT_CASE = OPT_COMMAND_BASE,
	OPT_CHANNEL,
	OPT_OUTCOME,
	OPT_AT,
	OPT_RECORD_ID,
	OPT_NOTE,
	OPT_SAVE_RECEIPT,
};

void cmd_contact_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] contact --case ID --channel CHANNEL --outcome OUTCOME\n"
		   "                               [--at TIME] [--record-id HEX] [--note TEXT]\n"
		   "                               [--save-receipt FILE]\n"
		   "\n"
		   "Reports one attempt to contact a returnee: builds the record, signs it with\n"
		   "our key, submits it and prints the relay's receipt once it is verified: the\n"
		   "leaf hash of the entry, the relay's signed checkpoint and the proof that the\n"
		   "entry is in it.\n"
		   "\n"
		   "  --case ID            the case: OWNER/PSEUDONYM, the owner's organisation id,\n"
		   "                       '/', 3-64 characters of A-Z a-z 0-9 -\n"
		   "  --channel CHANNEL    how the attempt was made, one of:\n");
	output_names(f, vigil_channel_name);
	fprintf(f, "  --outcome OUTCOME    what came of it, one of:\n");
	output_names(f, vigil_outcome_name);
	fprintf(f, "  --at TIME            when it was made, RFC 3339 (2026-11-28T10:00:00Z);\n"
		   "                       default now; also the record's client time\n"
		   "  --record-id HEX      the record id, 32 hex digits (default: random); with\n"
		   "                       --at, a retry sends the same record and is stored once\n"
		   "  --note TEXT          optional short note, at most %d bytes of UTF-8;\n"
		   "                       never needed to understand the case, never names;\n"
		   "                       sealed to the case's readers (its coordinator, iom\n"
		   "                       and shelter parties, owner and responsible\n"
		   "                       organisation): the record and the relay carry only\n"
		   "                       a commitment and an envelope the relay cannot open\n"
		   "  --save-receipt FILE  also write the verified receipt as JSON to FILE (mode\n"
		   "                       0600, replaced atomically): the record, its signature\n"
		   "                       and everything 'vigil verify --receipt FILE' needs to\n"
		   "                       check it offline\n"
		   "\n"
		   "Global options (vigil --help) may also follow the command.\n"
		   "Output: 'stored entry N at TIME', record_id, leaf_hash, 'duplicate: yes'\n"
		   "when the relay already had the record, and 'verified: included in checkpoint\n"
		   "of size M'; with --json one line:\n"
		   "{\"index\":N,\"leaf_hash\":\"...\",\"received_at\":\"...\",\"record_id\":\"...\","
		   "\"duplicate\":false,\n"
		   " \"checkpoint\":\"<signed note>\",\"inclusion_proof\":[\"<hex>\",...]}\n"
		   "(the proof from the leaf upwards).\n",
		VIGIL_NOTE_MAX);
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
		{ "save-receipt", required_argument, NULL, OPT_SAVE_RECEIPT },
		{ NULL, 0, NULL, 0 },
	};
	struct vigil_contact ct;
	memset(&ct, 0, sizeof(ct));
	const char *at = NULL, *record_id = NULL, *save = NULL;
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
		case OPT_CHANNEL: ct.channel = cli_code(optarg, vigil_channel_name); break;
		case OPT_OUTCOME: ct.outcome = cli_code(optarg, vigil_outcome_name); break;
		case OPT_AT: at = optarg; break;
		case OPT_RECORD_ID: record_id = optarg; break;
		case OPT_NOTE: ct.note = optarg; break;
		case OPT_SAVE_RECEIPT: save = optarg; break;
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

	if (save && !save[0])
		return cli_usage_error("contact: --save-receipt wants a file name");
	int64_t when = cli_now_ms();
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

	vigil_client *c = NULL;
	int rc = cli_connect(s, &c);
	if (rc != 0)
		return rc;
	/* The receipt file is created before anything is sent, so that a
	 * path we cannot write costs no submission. */
	struct receipt_out out = { NULL, NULL, NULL };
	char why[512];
	if (save && receipt_out_open(&out, save, why, sizeof(why)) != 0) {
		vigil_close(&c);
		return cli_fail(s, VIGIL_E_IO, "%s", why);
	}
	/* Built here rather than by vigil_submit_contact(): the saved receipt
	 * holds the exact record bytes. */
	uint8_t *record = NULL, *sig = NULL;
	size_t record_len = 0, sig_len = 0;
	struct vigil_receipt r;
	rc = vigil_build_contact(c, &ct, &record, &record_len, &sig, &sig_len, &err);
	if (rc == VIGIL_OK)
		rc = vigil_submit_sealed(c, record, record_len, sig, sig_len, ct.sealed,
					 ct.sealed_len, &r, &err);
	vigil_close(&c);
	vigil_free(sig);
	vigil_free(ct.sealed);
	int status = cli_exit_status(rc), unsaved = 0;
	if (rc == VIGIL_OK && save &&
	    receipt_out_commit(&out, &r, record, record_len, why, sizeof(why)) != 0) {
		struct vigil_error e = { .status = VIGIL_E_IO };
		snprintf(e.message, sizeof(e.message), "the relay stored the record, but %.440s", why);
		err = e;
		rc = VIGIL_E_IO;
		status = EXIT_USAGE;
		unsaved = 1;
	}
	receipt_out_abort(&out);
	vigil_free(record);
	if (rc != VIGIL_OK) {
		output_failure(&err, s->json);
		if ((status == EXIT_FAILED || unsaved) && !(record_id && at)) {
			/* The record may have been stored even though we saw no
			 * valid receipt (or could not save it); the same bytes
			 * again are harmless. */
			char hex[2 * VIGIL_RECORD_ID_LEN + 1], t[VIGIL_TIME_LEN];
			vigil_hex_encode(ct.record_id, VIGIL_RECORD_ID_LEN, hex);
			vigil_format_time(when, t, sizeof(t));
			fprintf(stderr, "vigil: the relay may have stored the record; to retry "
					"without storing it twice, add: --record-id %s --at %s\n",
				hex, t);
		}
		return status;
	}
	char sum[256], w[64];
	snprintf(sum, sizeof(sum), "case %s: contact attempt recorded: %s, %s", ct.case_id,
		 ct.channel, output_words(ct.outcome, w, sizeof(w)));
	output_receipt(&r, s->json, sum, NULL, NULL);
	return 0;
}
