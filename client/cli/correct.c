/*
 * correct.c - "vigil correct": correct a contact attempt or a risk
 * assessment our organisation wrote.
 *
 *   vigil correct --case ID --record-id HEX --reason REASON
 *                 [--channel C] [--outcome O] [--at TIME] [--note TEXT]
 *                 [--level L] [--factor F ...] [--no-factors] [--phase P]
 *                 [--immediate-danger | --no-immediate-danger]
 *
 * A correction states the whole corrected body (proto/README.md,
 * "Corrections").  The tool reads the case's log first (vigil_case_log,
 * every proof verified), finds the record and the body in force for it
 * (its latest correction, or the record itself), and takes every field
 * not given on the command line from there, so that "--channel sms"
 * corrects the channel and nothing else.  An organisation that does not
 * read the case's records (police) gives every field: those it leaves out
 * have no value to come from (factors: none; immediate danger: no).  The
 * note in force stands unless --note gives a corrected one, which is
 * sealed to the case's readers.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
	OPT_CASE = OPT_COMMAND_BASE,
	OPT_RECORD_ID,
	OPT_REASON,
	OPT_CHANNEL,
	OPT_OUTCOME,
	OPT_AT,
	OPT_NOTE,
	OPT_LEVEL,
	OPT_FACTOR,
	OPT_NO_FACTORS,
	OPT_PHASE,
	OPT_IMMEDIATE,
	OPT_NO_IMMEDIATE,
};

#define FACTORS_MAX 32

static void correct_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] correct --case ID --record-id HEX --reason REASON\n"
		   "                 [--channel CHANNEL] [--outcome OUTCOME] [--at TIME]\n"
		   "                 [--note TEXT]\n"
		   "       vigil [OPTIONS] correct --case ID --record-id HEX --reason REASON\n"
		   "                 [--level LEVEL] [--factor FACTOR ...] [--no-factors]\n"
		   "                 [--phase PHASE] [--immediate-danger | --no-immediate-danger]\n"
		   "\n"
		   "Corrects a contact attempt or a risk assessment our organisation wrote: a\n"
		   "new signed record that names it and gives its corrected body.  The record\n"
		   "stays in the log as it was; the case's status, log and alerts use the\n"
		   "corrected values from now on, as if it had been reported so in the first\n"
		   "place ('vigil log' marks both: corrects=M, corrected-by=N).  Only the\n"
		   "organisation that wrote a record corrects it; handovers, openings,\n"
		   "closings and acknowledgements are never corrected.\n"
		   "\n"
		   "  --case ID            the case\n"
		   "  --record-id HEX      the record to correct (32 hex digits); naming a\n"
		   "                       correction corrects the record it corrects\n"
		   "  --reason REASON      why, one of (wrong-time and wrong-channel-or-outcome\n"
		   "                       for contact attempts only):\n");
	output_names(f, vigil_correction_reason_name);
	fprintf(f, "\n"
		   "The corrected fields: those given replace the values in force, the others\n"
		   "are taken from the record in force, which the tool reads in the case's log\n"
		   "(every proof verified).  An organisation that cannot read the log (police)\n"
		   "gives them all.\n"
		   "\n"
		   "A contact attempt:\n"
		   "  --channel CHANNEL    one of:\n");
	output_names(f, vigil_channel_name);
	fprintf(f, "  --outcome OUTCOME    one of:\n");
	output_names(f, vigil_outcome_name);
	fprintf(f, "  --at TIME            when the attempt was made, RFC 3339; no later than\n"
		   "                       the relay received the record, give or take its\n"
		   "                       max_clock_skew\n"
		   "  --note TEXT          a corrected note (at most %d bytes), sealed to the\n"
		   "                       case's readers; without it the note in force stands\n"
		   "A risk assessment:\n"
		   "  --level LEVEL        one of:\n", VIGIL_NOTE_MAX);
	output_names(f, vigil_risk_name);
	fprintf(f, "  --factor FACTOR      a risk factor; repeat for more; replaces the factors\n"
		   "                       in force; one of:\n");
	output_names(f, vigil_factor_name);
	fprintf(f, "  --no-factors         no risk factor any more\n"
		   "  --phase PHASE        one of:\n");
	output_names(f, vigil_phase_name);
	fprintf(f, "  --immediate-danger, --no-immediate-danger\n"
		   "                       the immediate danger flag\n"
		   "\n"
		   "Output: the verified receipt of the correction, as 'vigil contact' prints it,\n"
		   "with 'corrects N' (the log index of the record corrected) when the log was\n"
		   "read; with --json one line, with \"corrects\" (a string) then.\n");
}

/* What the command line gives; NULL / -1 where it says nothing. */
struct given {
	const char *channel, *outcome, *at, *note, *level, *phase;
	const char *factors[FACTORS_MAX];
	size_t n_factors;
	int factors_set;      /* --factor or --no-factors */
	int no_factors;
	int immediate;        /* -1 not given, 0, 1 */
};

/* The body in force for the record target names, found in the case's log:
 * *ri decoded (its fields), *original the original's index.  1 found, 0
 * not (no such entry of the case, or an erased one), 2 found but of a
 * kind that is never corrected (ri->kind says which). */
static int in_force(const struct vigil_case_log *log, const uint8_t target[VIGIL_RECORD_ID_LEN],
		    struct vigil_record_info *ri, uint64_t *original)
{
	struct vigil_error err;
	const struct vigil_case_log_entry *named = NULL;
	for (size_t i = 0; i < log->n && !named; i++) {
		const struct vigil_entry *e = &log->entries[i].entry;
		if (!e->record_erased &&
		    vigil_record_decode(e->record, e->record_len, ri, &err) == VIGIL_OK &&
		    memcmp(ri->record_id, target, VIGIL_RECORD_ID_LEN) == 0)
			named = &log->entries[i];
	}
	if (!named)
		return 0;
	*original = named->is_correction ? named->corrects : named->entry.index;
	/* The original, then its latest correction in the log. */
	const struct vigil_case_log_entry *o = NULL, *force = NULL;
	for (size_t i = 0; i < log->n; i++)
		if (log->entries[i].entry.index == *original)
			o = &log->entries[i];
	if (!o)
		return 0;
	force = o;
	for (size_t k = o->n_corrected_by; k-- > 0 && force == o;)
		for (size_t i = 0; i < log->n; i++)
			if (log->entries[i].entry.index == o->corrected_by[k] &&
			    !log->entries[i].entry.record_erased)
				force = &log->entries[i];
	if (force->entry.record_erased ||
	    vigil_record_decode(force->entry.record, force->entry.record_len, ri, &err) !=
		    VIGIL_OK)
		return 0;
	const char *kind = !strcmp(ri->kind, "correction") ? ri->corrected_kind : ri->kind;
	return !strcmp(kind, "contact") || !strcmp(kind, "risk") ? 1 : 2;
}

int cmd_correct(struct settings *s, int argc, char *argv[])
{
	static const struct option options[] = {
		CLI_GLOBAL_OPTIONS,
		{ "case", required_argument, NULL, OPT_CASE },
		{ "record-id", required_argument, NULL, OPT_RECORD_ID },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ "channel", required_argument, NULL, OPT_CHANNEL },
		{ "outcome", required_argument, NULL, OPT_OUTCOME },
		{ "at", required_argument, NULL, OPT_AT },
		{ "note", required_argument, NULL, OPT_NOTE },
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "factor", required_argument, NULL, OPT_FACTOR },
		{ "no-factors", no_argument, NULL, OPT_NO_FACTORS },
		{ "phase", required_argument, NULL, OPT_PHASE },
		{ "immediate-danger", no_argument, NULL, OPT_IMMEDIATE },
		{ "no-immediate-danger", no_argument, NULL, OPT_NO_IMMEDIATE },
		{ NULL, 0, NULL, 0 },
	};
	struct vigil_correction k;
	memset(&k, 0, sizeof(k));
	struct given g;
	memset(&g, 0, sizeof(g));
	g.immediate = -1;
	const char *target = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "+:c:h", options, NULL)) != -1) {
		switch (opt) {
		case '?':
		case ':':
			return cli_getopt_error(opt, argv);
		case 'h':
			correct_help(stdout);
			return 0;
		case OPT_CASE: k.case_id = optarg; break;
		case OPT_RECORD_ID: target = optarg; break;
		case OPT_REASON: k.reason = cli_code(optarg, vigil_correction_reason_name); break;
		case OPT_CHANNEL: g.channel = cli_code(optarg, vigil_channel_name); break;
		case OPT_OUTCOME: g.outcome = cli_code(optarg, vigil_outcome_name); break;
		case OPT_AT: g.at = optarg; break;
		case OPT_NOTE: g.note = optarg; break;
		case OPT_LEVEL: g.level = cli_code(optarg, vigil_risk_name); break;
		case OPT_PHASE: g.phase = cli_code(optarg, vigil_phase_name); break;
		case OPT_FACTOR:
			if (g.n_factors == FACTORS_MAX)
				return cli_usage_error("correct: too many --factor options");
			g.factors[g.n_factors++] = cli_code(optarg, vigil_factor_name);
			g.factors_set = 1;
			break;
		case OPT_NO_FACTORS:
			g.factors_set = 1;
			g.no_factors = 1;
			break;
		case OPT_IMMEDIATE: g.immediate = 1; break;
		case OPT_NO_IMMEDIATE: g.immediate = 0; break;
		default: {
			int r = cli_global_option(s, opt, optarg);
			if (r != 0)
				return r > 0 ? r : cli_usage_error("unexpected option");
		}
		}
	}
	if (optind < argc)
		return cli_usage_error("correct: unexpected argument '%s'", argv[optind]);
	if (!k.case_id || !target || !k.reason)
		return cli_usage_error("correct: --case, --record-id and --reason are required");
	if (vigil_hex_decode(target, k.target_id, VIGIL_RECORD_ID_LEN) != VIGIL_OK)
		return cli_usage_error("correct: --record-id wants 32 hex digits, not '%s'", target);
	int contact = g.channel || g.outcome || g.at || g.note;
	int risk = g.level || g.phase || g.factors_set || g.immediate >= 0;
	if (contact && risk)
		return cli_usage_error("correct: give the fields of a contact attempt (--channel, "
				       "--outcome, --at, --note) or of a risk assessment (--level, "
				       "--factor, --phase, --immediate-danger), not both");
	if (!contact && !risk)
		return cli_usage_error("correct: nothing to correct: give the fields that change");
	if (g.no_factors && g.n_factors)
		return cli_usage_error("correct: --no-factors and --factor together");
	int64_t at = 0;
	if (g.at) {
		if (vigil_parse_time(g.at, &at) != VIGIL_OK)
			return cli_usage_error("correct: --at '%s' is not an RFC 3339 time such as "
					       "2026-11-28T10:00:00Z", g.at);
		if (at <= 0)
			return cli_usage_error("correct: --at '%s' is not after 1970", g.at);
	}
	struct vigil_error err;
	if (vigil_case_id_check(k.case_id, &err) != VIGIL_OK)
		return cli_usage_error("correct: %s", err.message);

	vigil_client *c = NULL;
	int rc = cli_connect(s, &c);
	if (rc != 0)
		return rc;
	/* The record in force, for the fields not given. */
	struct vigil_case_log *log = NULL;
	struct vigil_record_info *ri = malloc(sizeof(*ri));
	if (!ri) {
		vigil_close(&c);
		return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	}
	struct vigil_error lerr;
	memset(&lerr, 0, sizeof(lerr));
	int lrc = vigil_case_log(c, k.case_id, &log, &lerr);
	if (lrc != VIGIL_OK && lrc != VIGIL_E_REFUSED) {
		/* A log that does not verify is no ground to correct on. */
		vigil_close(&c);
		free(ri);
		output_failure(&lerr, s->json);
		return cli_exit_status(lrc);
	}
	uint64_t original = 0;
	int found = lrc == VIGIL_OK ? in_force(log, k.target_id, ri, &original) : 0;
	const char *kind = found == 1 ? (!strcmp(ri->kind, "correction") ? ri->corrected_kind
								       : ri->kind)
				      : contact ? "contact" : "risk";
	if (found == 2 || (!strcmp(kind, "contact") && risk) || (!strcmp(kind, "risk") && contact)) {
		/* What the verified log says the record is: no fields of ours
		 * fit it. */
		char what[64];
		snprintf(what, sizeof(what), "%s", found == 2 ? ri->kind : kind);
		vigil_close(&c);
		vigil_free(log);
		free(ri);
		if (found == 2)
			return cli_usage_error("correct: record %s is of kind %s (entry %llu of the "
					       "case's log): only contact attempts and risk assessments "
					       "are corrected", target, what,
					       (unsigned long long)original);
		return cli_usage_error("correct: record %s is a %s (entry %llu of the case's log): "
				       "give the fields of a %s", target,
				       !strcmp(what, "contact") ? "contact attempt" : "risk assessment",
				       (unsigned long long)original,
				       !strcmp(what, "contact") ? "contact attempt" : "risk assessment");
	}
	k.kind = kind;
	k.channel = g.channel ? g.channel : found ? ri->channel : NULL;
	k.outcome = g.outcome ? g.outcome : found ? ri->outcome : NULL;
	k.attempted_at_ms = g.at ? at : found ? ri->attempted_at_ms : 0;
	k.note = g.note;
	k.level = g.level ? g.level : found ? ri->risk : NULL;
	k.phase = g.phase ? g.phase : found ? ri->phase : NULL;
	if (g.factors_set || !found) {
		k.factors = g.factors;
		k.n_factors = g.n_factors;
	} else {
		k.factors = ri->factors;
		k.n_factors = ri->n_factors;
	}
	k.immediate_danger = g.immediate >= 0 ? g.immediate : found ? ri->immediate_danger : 0;
	if (vigil_correction_check(&k, &err) != VIGIL_OK) {
		vigil_close(&c);
		vigil_free(log);
		free(ri);
		if (lrc != VIGIL_OK)
			return cli_usage_error("correct: %s (the case's log, where the record's other "
					       "fields are, is not ours to read: %s)", err.message,
					       lerr.message);
		return cli_usage_error("correct: %s", err.message);
	}
	struct vigil_receipt r;
	rc = vigil_submit_correction(c, &k, &r, &err);
	vigil_close(&c);
	vigil_free(log);
	free(ri);
	if (rc != VIGIL_OK) {
		output_failure(&err, s->json);
		int status = cli_exit_status(rc);
		if (status == EXIT_FAILED)
			fprintf(stderr, "vigil: the relay may have stored the correction; 'vigil log "
					"%s' shows whether it did\n", k.case_id);
		return status;
	}
	char idx[24];
	snprintf(idx, sizeof(idx), "%llu", (unsigned long long)original);
	char sum[256];
	if (found)
		snprintf(sum, sizeof(sum), "case %s: entry %s corrected", k.case_id, idx);
	else
		snprintf(sum, sizeof(sum), "case %s: record %s corrected", k.case_id, target);
	output_receipt(&r, s->json, sum, found ? "corrects" : NULL, found ? idx : NULL);
	return 0;
}
