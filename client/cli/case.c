/*
 * case.c - the case records on the command line:
 *
 *   vigil case open --case ID --risk L [--minor] --return-country CC
 *                   --return-date DATE [--party ORG ...]
 *                   (--consent SCOPE [--consent-at TIME] | --override-risk-to-life TEXT)
 *   vigil case close --case ID --reason R
 *   vigil case readers ID                                  (casequery.c)
 *   vigil risk --case ID --level L [--factor F ...] --phase P [--immediate-danger]
 *   vigil handover offer --case ID --to ORG --reason R
 *                   (--consent-ref REF | --override-risk-to-life TEXT)
 *   vigil handover accept --case ID [--offer-id HEX]
 *   vigil handover decline --case ID --reason TEXT [--offer-id HEX]
 *   vigil handover withdraw --case ID [--offer-id HEX]
 *   vigil handover reseal --case ID
 *   vigil erase --case ID --record-id HEX [--record] --reason R --reference REF
 *   vigil grant --case ID --to ORG
 *
 * Each checks its options and the record's fields (libvigil's *_check)
 * before it connects, so a usage error costs no connection, then submits
 * and prints the verified receipt like "vigil contact".  An answer to an
 * offer, or its withdrawal, names the offer by its record id: without
 * --offer-id the tool asks the relay for the case's status first and takes
 * the pending offer's id from it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "view.h"

enum {
	OPT_CASE = OPT_COMMAND_BASE,
	OPT_RISK,
	OPT_MINOR,
	OPT_RETURN_COUNTRY,
	OPT_RETURN_DATE,
	OPT_PARTY,
	OPT_CONSENT,
	OPT_CONSENT_AT,
	OPT_OVERRIDE,
	OPT_LEVEL,
	OPT_FACTOR,
	OPT_PHASE,
	OPT_IMMEDIATE,
	OPT_TO,
	OPT_REASON,
	OPT_CONSENT_REF,
	OPT_OFFER_ID,
	OPT_RECORD_ID,
	OPT_WHOLE,
	OPT_REFERENCE,
	OPT_NOT_MINOR,
};

/* The characters of a consent scope, in either case. */
#define SCOPE_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"

/* More --party or --factor options than this are a usage error before the
 * library's own limit is even reached. */
#define LIST_MAX 64

static const char receipt_help[] =
	"\n"
	"Global options (vigil --help) may also follow the command.\n"
	"Output: the verified receipt, as for 'vigil contact' ('stored entry N at\n"
	"TIME', record_id, leaf_hash, 'verified: included in checkpoint of size M');\n"
	"with --json one line {\"index\":N,\"leaf_hash\":...,\"inclusion_proof\":[...]}.\n"
	"Exit status: 0 stored and verified, 1 refused by the relay (the message says\n"
	"which rule), 2 usage error, 3 connection, TLS, protocol or verification\n"
	"failure.\n";

/* What every option loop does with the options that are not its own: 0
 * when handled, -1 after --help (exit 0), or an exit status. */
static int other_option(struct settings *s, int opt, char *argv[], void (*help)(FILE *))
{
	switch (opt) {
	case '?':
	case ':':
		return cli_getopt_error(opt, argv);
	case 'h':
		help(stdout);
		return -1;
	default: {
		int r = cli_global_option(s, opt, optarg);
		if (r < 0)
			return cli_usage_error("unexpected option");
		return r;
	}
	}
}

/* Appends to a --party / --factor list. */
static int list_add(const char **list, size_t *n, const char *v, const char *what,
		    const char *option)
{
	if (*n == LIST_MAX)
		return cli_usage_error("%s: too many %s options", what, option);
	list[(*n)++] = v;
	return 0;
}

/* Prints the result of a submission and returns the exit status: what
 * happened to the case (summary), then the receipt, with one more member
 * (key, value) when key is not NULL. */
static int finish(const struct settings *s, const char *case_id, int rc,
		  const struct vigil_receipt *r, const struct vigil_error *err, const char *summary,
		  const char *key, const char *value)
{
	if (rc == VIGIL_OK) {
		output_receipt(r, s->json, summary, key, value);
		return 0;
	}
	output_failure(err, s->json);
	int status = cli_exit_status(rc);
	if (status == EXIT_FAILED)
		fprintf(stderr, "vigil: the relay may have stored the record; 'vigil status %s' "
				"shows the case as it is now\n", case_id);
	return status;
}

/* ---- case open ---------------------------------------------------------------------- */

static void open_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] case open --case ID --risk LEVEL [--minor]\n"
		   "                 --return-country CC --return-date DATE [--party ORG ...]\n"
		   "                 (--consent SCOPE [--consent-at TIME] |\n"
		   "                  --override-risk-to-life TEXT)\n"
		   "\n"
		   "Opens a case (only coordinators do): our organisation becomes its owner and\n"
		   "responsible and, with the organisations named by --party, a party to the\n"
		   "case.  A closed case is reopened by its owner or by the coordinator\n"
		   "responsible when it was closed, with 'vigil case reopen' (which keeps its\n"
		   "facts) or the same way as it was opened.\n"
		   "\n"
		   "  --case ID            OWNER/PSEUDONYM: your organisation id, '/', and a\n"
		   "                       pseudonym of 3-64 characters of A-Z a-z 0-9 -\n"
		   "  --risk LEVEL         one of:\n");
	output_names(f, vigil_risk_name);
	fprintf(f, "  --minor              the returnee is a minor (then --risk must be high)\n"
		   "  --return-country CC  ISO 3166 country of return, two capital letters\n"
		   "  --return-date DATE   date of return, YYYY-MM-DD\n"
		   "  --party ORG          an organisation id that is a party from the start;\n"
		   "                       repeat for each (at most %d)\n"
		   "  --consent SCOPE      the returnee's consent, by its coded scope (e.g.\n"
		   "                       share-with-iom, 1-64 of a-z 0-9 -)\n"
		   "  --consent-at TIME    when she gave it, RFC 3339; default now\n"
		   "  --override-risk-to-life TEXT\n"
		   "                       share without consent because of a risk to life;\n"
		   "                       TEXT is the short justification (1-%d bytes),\n"
		   "                       sealed to our organisation and the parties named\n"
		   "                       with roles that read narrative (for a reopened\n"
		   "                       case also to its readers)\n"
		   "Exactly one of --consent and --override-risk-to-life.\n%s",
		VIGIL_PARTIES_MAX, VIGIL_TEXT_MAX, receipt_help);
}

static void reopen_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] case reopen --case ID [--risk LEVEL]\n"
		   "                 [--minor | --not-minor] [--return-country CC]\n"
		   "                 [--return-date DATE] [--party ORG ...]\n"
		   "                 [--consent SCOPE [--consent-at TIME] |\n"
		   "                  --override-risk-to-life TEXT]\n"
		   "\n"
		   "Reopens a closed case (its owner, or the coordinator responsible when it\n"
		   "was closed): a case-open record that keeps the case's facts as the relay\n"
		   "has them (risk, minor, country and date of return, the consent and when\n"
		   "it was given) except those given here.  The parties stay parties;\n"
		   "--party adds one.  A case opened under the risk-to-life override needs\n"
		   "--consent or a new --override-risk-to-life justification.  The options\n"
		   "are those of 'vigil case open'; --not-minor records that the returnee is\n"
		   "not a minor.\n%s",
		receipt_help);
}

/* Fills what a reopening keeps from the case as the relay has it: the
 * facts of its status, and the consent time of its latest case-open
 * record.  0, or an exit status after printing why. */
static int reopen_facts(const struct settings *s, vigil_client *c, struct vigil_case_open *o,
			int minor_given, int consent_given, struct vigil_case_status **stp)
{
	struct vigil_error err;
	struct vigil_case_status *st = NULL;
	if (vigil_case_status(c, o->case_id, &st, &err) != VIGIL_OK) {
		output_failure(&err, s->json);
		return cli_exit_status(err.status);
	}
	*stp = st;
	if (!st->full)
		return cli_fail(s, VIGIL_E_USAGE, "case reopen: the relay shows us only part of "
			        "case %s (view %s); only its owner or responsible coordinator "
			        "reopens it", o->case_id, st->view);
	if (strcmp(st->state, "closed") != 0)
		return cli_fail(s, VIGIL_E_USAGE, "case reopen: case %s is %s, not closed",
				o->case_id, st->state);
	if (!o->risk)
		o->risk = st->risk;
	if (!minor_given)
		o->minor = st->minor;
	if (!o->return_country)
		o->return_country = st->return_country;
	if (!o->return_date)
		o->return_date = st->return_date;
	if (consent_given)
		return 0;
	if (st->override || !st->consent_scope[0])
		return cli_fail(s, VIGIL_E_USAGE, "case reopen: case %s was shared without "
				"consent (risk to life); give --consent SCOPE or a new "
				"--override-risk-to-life TEXT", o->case_id);
	o->consent_scope = st->consent_scope;
	/* When the consent was given: the latest case-open record says. */
	struct vigil_case_log *log = NULL;
	struct vigil_record_info *ri = malloc(sizeof(*ri));
	if (!ri)
		return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	if (vigil_case_log(c, o->case_id, &log, &err) != VIGIL_OK) {
		free(ri);
		output_failure(&err, s->json);
		return cli_exit_status(err.status);
	}
	for (size_t i = 0; i < log->n; i++) {
		const struct vigil_entry *e = &log->entries[i].entry;
		struct vigil_error derr;
		if (!e->record_erased &&
		    vigil_record_decode(e->record, e->record_len, ri, &derr) == VIGIL_OK &&
		    !strcmp(ri->kind, "case-open") && !ri->override)
			o->consent_given_at_ms = ri->consent_given_at_ms;
	}
	vigil_free(log);
	free(ri);
	if (o->consent_given_at_ms <= 0)
		return cli_fail(s, VIGIL_E_USAGE, "case reopen: no record of case %s says when "
				"its consent was given; give --consent SCOPE --consent-at TIME",
				o->case_id);
	return 0;
}

static int case_open(struct settings *s, int argc, char *argv[], int reopen)
{
	const char *name = reopen ? "case reopen" : "case open";
	static const struct option options[] = {
		CLI_GLOBAL_OPTIONS,
		{ "case", required_argument, NULL, OPT_CASE },
		{ "risk", required_argument, NULL, OPT_RISK },
		{ "minor", no_argument, NULL, OPT_MINOR },
		{ "not-minor", no_argument, NULL, OPT_NOT_MINOR },
		{ "return-country", required_argument, NULL, OPT_RETURN_COUNTRY },
		{ "return-date", required_argument, NULL, OPT_RETURN_DATE },
		{ "party", required_argument, NULL, OPT_PARTY },
		{ "consent", required_argument, NULL, OPT_CONSENT },
		{ "consent-at", required_argument, NULL, OPT_CONSENT_AT },
		{ "override-risk-to-life", required_argument, NULL, OPT_OVERRIDE },
		{ NULL, 0, NULL, 0 },
	};
	struct vigil_case_open o;
	memset(&o, 0, sizeof(o));
	const char *parties[LIST_MAX], *consent_at = NULL;
	size_t n_parties = 0;
	int have_consent = 0, have_override = 0, minor_given = 0, opt, r;
	while ((opt = getopt_long(argc, argv, "+:c:h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_CASE: o.case_id = optarg; break;
		case OPT_RISK: o.risk = cli_code(optarg, vigil_risk_name); break;
		case OPT_MINOR:
		case OPT_NOT_MINOR:
			if (minor_given && o.minor != (opt == OPT_MINOR))
				return cli_usage_error("%s: give --minor or --not-minor, not both",
						       name);
			if (opt == OPT_NOT_MINOR && !reopen)
				return cli_usage_error("case open: --not-minor is for case reopen "
						       "(a case is opened without --minor)");
			o.minor = opt == OPT_MINOR;
			minor_given = 1;
			break;
		case OPT_RETURN_COUNTRY:
			/* "ru" is RU; anything else is refused as it was given. */
			o.return_country = strlen(optarg) == 2 ? cli_upper(optarg) : optarg;
			break;
		case OPT_RETURN_DATE: o.return_date = optarg; break;
		case OPT_PARTY:
			if ((r = list_add(parties, &n_parties, optarg, name, "--party")))
				return r;
			break;
		case OPT_CONSENT:
			/* A coded scope in capitals is the same scope. */
			o.consent_scope = strspn(optarg, SCOPE_CHARS) == strlen(optarg)
						  ? cli_lower(optarg) : optarg;
			have_consent = 1;
			break;
		case OPT_CONSENT_AT: consent_at = optarg; break;
		case OPT_OVERRIDE: o.override_justification = optarg; have_override = 1; break;
		default:
			if ((r = other_option(s, opt, argv, reopen ? reopen_help : open_help)) != 0)
				return r < 0 ? 0 : r;
		}
	}
	if (optind < argc)
		return cli_usage_error("%s: unexpected argument '%s'", name, argv[optind]);
	if (!o.case_id)
		return cli_usage_error("%s: --case is required", name);
	if (!reopen && !o.risk)
		return cli_usage_error("case open: --risk is required");
	if (!reopen && !o.return_country)
		return cli_usage_error("case open: --return-country is required");
	if (!reopen && !o.return_date)
		return cli_usage_error("case open: --return-date is required");
	if (have_consent && have_override)
		return cli_usage_error("%s: give --consent or --override-risk-to-life, not both",
				       name);
	if (!reopen && !have_consent && !have_override)
		return cli_usage_error("case open: --consent SCOPE or --override-risk-to-life "
				       "TEXT is required");
	if (consent_at && !have_consent)
		return cli_usage_error("%s: --consent-at needs --consent", name);
	if (have_consent && !o.consent_scope[0])
		return cli_usage_error("%s: --consent wants the consent's coded scope", name);
	if (have_override && !o.override_justification[0])
		return cli_usage_error("%s: --override-risk-to-life wants a justification", name);
	if (consent_at) {
		if (vigil_parse_time(consent_at, &o.consent_given_at_ms) != VIGIL_OK)
			return cli_usage_error("%s: --consent-at '%s' is not an RFC 3339 time such "
					       "as 2026-09-28T10:00:00Z", name, consent_at);
		if (o.consent_given_at_ms <= 0)
			return cli_usage_error("%s: --consent-at '%s' is not after 1970", name,
					       consent_at);
	}
	o.parties = parties;
	o.n_parties = n_parties;
	struct vigil_error err;
	if (!reopen && vigil_case_open_check(&o, &err) != VIGIL_OK)
		return cli_usage_error("case open: %s", err.message);

	vigil_client *c;
	int rc = cli_connect(s, &c);
	if (rc != 0)
		return rc;
	struct vigil_case_status *st = NULL;
	if (reopen) {
		rc = reopen_facts(s, c, &o, minor_given, have_consent || have_override, &st);
		if (rc == 0 && vigil_case_open_check(&o, &err) != VIGIL_OK)
			rc = cli_usage_error("case reopen: %s", err.message);
		if (rc != 0) {
			vigil_close(&c);
			vigil_free(st);
			return rc;
		}
	}
	struct vigil_receipt rcpt;
	rc = vigil_submit_case_open(c, &o, &rcpt, &err);
	vigil_close(&c);
	char sum[256];
	snprintf(sum, sizeof(sum), "case %s %s: risk %s%s, returned to %s on %s", o.case_id,
		 reopen ? "reopened" : "opened", o.risk, o.minor ? ", a minor" : "",
		 o.return_country, o.return_date);
	rc = finish(s, o.case_id, rc, &rcpt, &err, sum, NULL, NULL);
	vigil_free(st);
	return rc;
}

/* ---- case close ----------------------------------------------------------------------- */

static void close_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] case close --case ID --reason REASON\n"
		   "\n"
		   "Closes a case; only the responsible organisation does, and only when it is\n"
		   "a coordinator.  Nothing but a reopening (case open) is accepted afterwards.\n"
		   "\n"
		   "  --case ID            the case\n"
		   "  --reason REASON      why, one of:\n");
	output_names(f, vigil_close_reason_name);
	fputs(receipt_help, f);
}

static int case_close(struct settings *s, int argc, char *argv[])
{
	static const struct option options[] = {
		CLI_GLOBAL_OPTIONS,
		{ "case", required_argument, NULL, OPT_CASE },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ NULL, 0, NULL, 0 },
	};
	struct vigil_case_close cl;
	memset(&cl, 0, sizeof(cl));
	int opt, r;
	while ((opt = getopt_long(argc, argv, "+:c:h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_CASE: cl.case_id = optarg; break;
		case OPT_REASON: cl.reason = cli_code(optarg, vigil_close_reason_name); break;
		default:
			if ((r = other_option(s, opt, argv, close_help)) != 0)
				return r < 0 ? 0 : r;
		}
	}
	if (optind < argc)
		return cli_usage_error("case close: unexpected argument '%s'", argv[optind]);
	if (!cl.case_id)
		return cli_usage_error("case close: --case is required");
	if (!cl.reason)
		return cli_usage_error("case close: --reason is required");
	struct vigil_error err;
	if (vigil_case_close_check(&cl, &err) != VIGIL_OK)
		return cli_usage_error("case close: %s", err.message);
	vigil_client *c;
	int rc = cli_connect(s, &c);
	if (rc != 0)
		return rc;
	struct vigil_receipt rcpt;
	rc = vigil_submit_case_close(c, &cl, &rcpt, &err);
	vigil_close(&c);
	char sum[256], w[64];
	snprintf(sum, sizeof(sum), "case %s closed: %s", cl.case_id,
		 output_words(cl.reason, w, sizeof(w)));
	return finish(s, cl.case_id, rc, &rcpt, &err, sum, NULL, NULL);
}

/* ---- case ------------------------------------------------------------------------------ */

static void case_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] case open --case ID ...\n"
		   "       vigil [OPTIONS] case reopen --case ID [...]\n"
		   "       vigil [OPTIONS] case close --case ID --reason REASON\n"
		   "       vigil [OPTIONS] case readers ID\n"
		   "\n"
		   "  open      open a case; we become responsible\n"
		   "  reopen    reopen a closed case, keeping its facts unless told otherwise\n"
		   "  close     close a case we are responsible for (coordinators)\n"
		   "  readers   who read the case, what and when (the responsible coordinator)\n"
		   "\n"
		   "vigil case SUBCOMMAND --help for the options of each.\n");
}

int cmd_case(struct settings *s, int argc, char *argv[])
{
	if (argc < 2)
		return cli_usage_error("case: give a subcommand: open, reopen, close or readers");
	const char *sub = argv[1];
	if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
		case_help(stdout);
		return 0;
	}
	if (!strcmp(sub, "open")) {
		cli_subcommand(sub);
		return case_open(s, argc - 1, argv + 1, 0);
	}
	if (!strcmp(sub, "reopen")) {
		cli_subcommand(sub);
		return case_open(s, argc - 1, argv + 1, 1);
	}
	if (!strcmp(sub, "close")) {
		cli_subcommand(sub);
		return case_close(s, argc - 1, argv + 1);
	}
	if (!strcmp(sub, "readers")) {
		cli_subcommand(sub);
		return cmd_case_readers(s, argc - 1, argv + 1);
	}
	return cli_usage_error("case: unknown subcommand '%s' (open, reopen, close or readers)", sub);
}

/* ---- erase and grant -------------------------------------------------------------------- */

static void erase_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] erase --case ID --record-id HEX [--record]\n"
		   "                           --reason REASON --reference REF\n"
		   "\n"
		   "Asks the relay to erase one record of a case we own: its sealed text, or\n"
		   "with --record the record itself (its bytes and signature; its index and\n"
		   "leaf hash stay, so every proof and saved receipt stays valid).  The relay\n"
		   "writes an Erasure entry it signs, which the case log shows.  Copies the\n"
		   "parties keep, and backups, are not reached.\n"
		   "\n"
		   "  --case ID            the case (ours: we opened it)\n"
		   "  --record-id HEX      the record to erase (32 hex digits)\n"
		   "  --record             erase the record itself, not only its sealed text\n"
		   "  --reason REASON      why, one of:\n");
	output_names(f, vigil_erase_reason_name);
	fprintf(f, "  --reference REF      our reference for the decision, 1-64 of [A-Za-z0-9-]\n%s",
		receipt_help);
}

int cmd_erase(struct settings *s, int argc, char *argv[])
{
	static const struct option options[] = {
		CLI_GLOBAL_OPTIONS,
		{ "case", required_argument, NULL, OPT_CASE },
		{ "record-id", required_argument, NULL, OPT_RECORD_ID },
		{ "record", no_argument, NULL, OPT_WHOLE },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ "reference", required_argument, NULL, OPT_REFERENCE },
		{ NULL, 0, NULL, 0 },
	};
	struct vigil_erase e;
	memset(&e, 0, sizeof(e));
	const char *target = NULL;
	int opt, r;
	while ((opt = getopt_long(argc, argv, "+:c:h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_CASE: e.case_id = optarg; break;
		case OPT_RECORD_ID: target = optarg; break;
		case OPT_WHOLE: e.whole_record = 1; break;
		case OPT_REASON: e.reason = cli_code(optarg, vigil_erase_reason_name); break;
		case OPT_REFERENCE: e.reference = optarg; break;
		default:
			if ((r = other_option(s, opt, argv, erase_help)) != 0)
				return r < 0 ? 0 : r;
		}
	}
	if (optind < argc)
		return cli_usage_error("erase: unexpected argument '%s'", argv[optind]);
	if (!e.case_id || !target || !e.reason || !e.reference)
		return cli_usage_error("erase: --case, --record-id, --reason and --reference are "
				       "required");
	if (strlen(target) != 2 * VIGIL_RECORD_ID_LEN ||
	    vigil_hex_decode(target, e.target_id, VIGIL_RECORD_ID_LEN) != 0)
		return cli_usage_error("erase: --record-id must be %d hex digits",
				       2 * VIGIL_RECORD_ID_LEN);
	vigil_client *c;
	int rc = cli_connect(s, &c);
	if (rc != 0)
		return rc;
	struct vigil_receipt rcpt;
	struct vigil_error err;
	rc = vigil_submit_erase(c, &e, &rcpt, &err);
	vigil_close(&c);
	char sum[256], w[64];
	snprintf(sum, sizeof(sum), "case %s: erasure of %s %s requested (%s); the relay erases "
		 "it now", e.case_id, e.whole_record ? "the record" : "the sealed text of record",
		 target, output_words(e.reason, w, sizeof(w)));
	return finish(s, e.case_id, rc, &rcpt, &err, sum, NULL, NULL);
}

static void grant_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] grant --case ID --to ORG\n"
		   "\n"
		   "Lets a party of a case we own that reads no narrative (police) read it:\n"
		   "sealed text written from now on is sealed to it too, and it may read the\n"
		   "case's records.  The grant is a record in the log.\n"
		   "\n"
		   "  --case ID            the case (ours: we opened it)\n"
		   "  --to ORG             the party\n%s",
		receipt_help);
}

int cmd_grant(struct settings *s, int argc, char *argv[])
{
	static const struct option options[] = {
		CLI_GLOBAL_OPTIONS,
		{ "case", required_argument, NULL, OPT_CASE },
		{ "to", required_argument, NULL, OPT_TO },
		{ NULL, 0, NULL, 0 },
	};
	struct vigil_grant g;
	memset(&g, 0, sizeof(g));
	int opt, r;
	while ((opt = getopt_long(argc, argv, "+:c:h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_CASE: g.case_id = optarg; break;
		case OPT_TO: g.to = optarg; break;
		default:
			if ((r = other_option(s, opt, argv, grant_help)) != 0)
				return r < 0 ? 0 : r;
		}
	}
	if (optind < argc)
		return cli_usage_error("grant: unexpected argument '%s'", argv[optind]);
	if (!g.case_id || !g.to)
		return cli_usage_error("grant: --case and --to are required");
	vigil_client *c;
	int rc = cli_connect(s, &c);
	if (rc != 0)
		return rc;
	struct vigil_receipt rcpt;
	struct vigil_error err;
	rc = vigil_submit_grant(c, &g, &rcpt, &err);
	vigil_close(&c);
	char sum[256];
	snprintf(sum, sizeof(sum), "case %s: %s may now read the case's records and narrative",
		 g.case_id, g.to);
	return finish(s, g.case_id, rc, &rcpt, &err, sum, NULL, NULL);
}

/* ---- risk ------------------------------------------------------------------------------- */

static void risk_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] risk --case ID --level LEVEL [--factor FACTOR ...]\n"
		   "                          --phase PHASE [--immediate-danger]\n"
		   "\n"
		   "Records a risk assessment of a case (coordinator, police and iom parties).\n"
		   "A minor's level is never below high.\n"
		   "\n"
		   "  --case ID            the case\n"
		   "  --level LEVEL        one of:\n");
	output_names(f, vigil_risk_name);
	fprintf(f, "  --factor FACTOR      a coded risk factor; repeat for each, one of:\n");
	output_names(f, vigil_factor_name);
	fprintf(f, "  --phase PHASE        when the assessment is made, one of:\n");
	output_names(f, vigil_phase_name);
	fprintf(f, "  --immediate-danger   the returnee is in immediate danger\n%s", receipt_help);
}

int cmd_risk(struct settings *s, int argc, char *argv[])
{
	static const struct option options[] = {
		CLI_GLOBAL_OPTIONS,
		{ "case", required_argument, NULL, OPT_CASE },
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "factor", required_argument, NULL, OPT_FACTOR },
		{ "phase", required_argument, NULL, OPT_PHASE },
		{ "immediate-danger", no_argument, NULL, OPT_IMMEDIATE },
		{ NULL, 0, NULL, 0 },
	};
	struct vigil_risk ra;
	memset(&ra, 0, sizeof(ra));
	const char *factors[LIST_MAX];
	size_t n_factors = 0;
	int opt, r;
	while ((opt = getopt_long(argc, argv, "+:c:h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_CASE: ra.case_id = optarg; break;
		case OPT_LEVEL: ra.level = cli_code(optarg, vigil_risk_name); break;
		case OPT_FACTOR:
			if ((r = list_add(factors, &n_factors, cli_code(optarg, vigil_factor_name), "risk",
					    "--factor")))
				return r;
			break;
		case OPT_PHASE: ra.phase = cli_code(optarg, vigil_phase_name); break;
		case OPT_IMMEDIATE: ra.immediate_danger = 1; break;
		default:
			if ((r = other_option(s, opt, argv, risk_help)) != 0)
				return r < 0 ? 0 : r;
		}
	}
	if (optind < argc)
		return cli_usage_error("risk: unexpected argument '%s'", argv[optind]);
	if (!ra.case_id)
		return cli_usage_error("risk: --case is required");
	if (!ra.level)
		return cli_usage_error("risk: --level is required");
	if (!ra.phase)
		return cli_usage_error("risk: --phase is required");
	ra.factors = factors;
	ra.n_factors = n_factors;
	struct vigil_error err;
	if (vigil_risk_check(&ra, &err) != VIGIL_OK)
		return cli_usage_error("risk: %s", err.message);
	vigil_client *c;
	int rc = cli_connect(s, &c);
	if (rc != 0)
		return rc;
	struct vigil_receipt rcpt;
	rc = vigil_submit_risk(c, &ra, &rcpt, &err);
	vigil_close(&c);
	char sum[256], w[64];
	snprintf(sum, sizeof(sum), "case %s: risk assessed %s (%s%s)", ra.case_id, ra.level,
		 output_words(ra.phase, w, sizeof(w)),
		 ra.immediate_danger ? ", immediate danger" : "");
	return finish(s, ra.case_id, rc, &rcpt, &err, sum, NULL, NULL);
}

/* ---- handover offer ------------------------------------------------------------------- */

static void offer_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] handover offer --case ID --to ORG --reason REASON\n"
		   "                 (--consent-ref REF | --override-risk-to-life TEXT)\n"
		   "\n"
		   "Offers responsibility for a case to another organisation.  Only the\n"
		   "responsible organisation offers, one offer at a time, and stays responsible\n"
		   "until the offer is accepted.\n"
		   "\n"
		   "  --case ID            the case\n"
		   "  --to ORG             the organisation offered the case\n"
		   "  --reason REASON      one of:\n");
	output_names(f, vigil_handover_reason_name);
	fprintf(f, "  --consent-ref REF    reference to the returnee's consent to the handover\n"
		   "                       (1-64 of A-Z a-z 0-9 -)\n"
		   "  --override-risk-to-life TEXT\n"
		   "                       hand over without consent because of a risk to\n"
		   "                       life; TEXT is the justification (1-%d bytes),\n"
		   "                       sealed to the case's readers and to ORG\n"
		   "Exactly one of --consent-ref and --override-risk-to-life.  The receipt\n"
		   "also gives offer_id: the offer's record id, which names it in an answer.\n"
		   "%s", VIGIL_TEXT_MAX, receipt_help);
}

static int handover_offer(struct settings *s, int argc, char *argv[])
{
	static const struct option options[] = {
		CLI_GLOBAL_OPTIONS,
		{ "case", required_argument, NULL, OPT_CASE },
		{ "to", required_argument, NULL, OPT_TO },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ "consent-ref", required_argument, NULL, OPT_CONSENT_REF },
		{ "override-risk-to-life", required_argument, NULL, OPT_OVERRIDE },
		{ NULL, 0, NULL, 0 },
	};
	struct vigil_handover_offer o;
	memset(&o, 0, sizeof(o));
	int have_ref = 0, have_override = 0, opt, r;
	while ((opt = getopt_long(argc, argv, "+:c:h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_CASE: o.case_id = optarg; break;
		case OPT_TO: o.to = optarg; break;
		case OPT_REASON: o.reason = cli_code(optarg, vigil_handover_reason_name); break;
		case OPT_CONSENT_REF: o.consent_ref = optarg; have_ref = 1; break;
		case OPT_OVERRIDE: o.override_justification = optarg; have_override = 1; break;
		default:
			if ((r = other_option(s, opt, argv, offer_help)) != 0)
				return r < 0 ? 0 : r;
		}
	}
	if (optind < argc)
		return cli_usage_error("handover offer: unexpected argument '%s'", argv[optind]);
	if (!o.case_id)
		return cli_usage_error("handover offer: --case is required");
	if (!o.to)
		return cli_usage_error("handover offer: --to is required");
	if (!o.reason)
		return cli_usage_error("handover offer: --reason is required");
	if (have_ref && have_override)
		return cli_usage_error("handover offer: give --consent-ref or "
				       "--override-risk-to-life, not both");
	if (!have_ref && !have_override)
		return cli_usage_error("handover offer: --consent-ref REF or "
				       "--override-risk-to-life TEXT is required");
	if (have_ref && !o.consent_ref[0])
		return cli_usage_error("handover offer: --consent-ref wants a reference");
	if (have_override && !o.override_justification[0])
		return cli_usage_error("handover offer: --override-risk-to-life wants a "
				       "justification");
	struct vigil_error err;
	if (vigil_handover_offer_check(&o, &err) != VIGIL_OK)
		return cli_usage_error("handover offer: %s", err.message);
	vigil_client *c;
	int rc = cli_connect(s, &c);
	if (rc != 0)
		return rc;
	struct vigil_receipt rcpt;
	rc = vigil_submit_handover_offer(c, &o, &rcpt, &err);
	vigil_close(&c);
	char id[2 * VIGIL_RECORD_ID_LEN + 1], sum[256];
	vigil_hex_encode(o.record_id, VIGIL_RECORD_ID_LEN, id);
	snprintf(sum, sizeof(sum), "case %s offered to %s; it stays ours until %s accepts",
		 o.case_id, o.to, o.to);
	return finish(s, o.case_id, rc, &rcpt, &err, sum, "offer_id", id);
}

/* ---- handover accept, decline, withdraw ------------------------------------------- */

enum answer_kind { ANSWER_ACCEPT, ANSWER_DECLINE, ANSWER_WITHDRAW };

static const char *const answer_name[] = { "accept", "decline", "withdraw" };

static void answer_help_of(FILE *f, enum answer_kind k)
{
	static const char *const what[] = {
		"Accepts the pending handover offer of a case: our organisation becomes\n"
		"responsible and a party.  Only the organisation offered the case answers.\n",
		"Declines the pending handover offer of a case; the offering organisation\n"
		"stays responsible.  Only the organisation offered the case answers.\n",
		"Takes back our pending handover offer of a case (the responsible\n"
		"organisation, which made the offer).\n",
	};
	fprintf(f, "usage: vigil [OPTIONS] handover %s --case ID%s [--offer-id HEX]\n"
		   "\n%s"
		   "\n"
		   "  --case ID            the case\n", answer_name[k],
		k == ANSWER_DECLINE ? " --reason TEXT" : "", what[k]);
	if (k == ANSWER_DECLINE)
		fprintf(f, "  --reason TEXT        why, 1-%d bytes of UTF-8, sealed to the case's\n"
			   "                       readers\n", VIGIL_TEXT_MAX);
	fprintf(f, "  --offer-id HEX       the offer's record id (32 hex digits); default: the\n"
		   "                       pending offer named by the case's status, which\n"
		   "                       the tool asks the relay for first (police and\n"
		   "                       organisations not yet party to the case are not\n"
		   "                       shown it: they need --offer-id)\n"
		   "The receipt also gives offer_id, the offer answered or withdrawn.  Exit\n"
		   "status 1 also when the case's status shows no pending offer.\n%s",
		receipt_help);
}

static void accept_help(FILE *f) { answer_help_of(f, ANSWER_ACCEPT); }
static void decline_help(FILE *f) { answer_help_of(f, ANSWER_DECLINE); }
static void withdraw_help(FILE *f) { answer_help_of(f, ANSWER_WITHDRAW); }

static int no_pending_offer(const struct settings *s, const char *name, const char *case_id,
			    int full);

/* The pending offer's id from the case's status: 0, or an exit status
 * after printing why. */
static int pending_offer(const struct settings *s, vigil_client *c, const char *name,
			 const char *case_id, uint8_t id[VIGIL_RECORD_ID_LEN])
{
	struct vigil_case_status *st = NULL;
	struct vigil_error err;
	int rc = vigil_case_status(c, case_id, &st, &err);
	if (rc != VIGIL_OK) {
		output_failure(&err, s->json);
		return cli_exit_status(rc);
	}
	int have = st->has_pending_offer, full = st->full;
	if (have)
		memcpy(id, st->pending_offer_id, VIGIL_RECORD_ID_LEN);
	vigil_free(st);
	return have ? 0 : no_pending_offer(s, name, case_id, full);
}

/* Says the case has no pending offer; EXIT_REFUSED. */
static int no_pending_offer(const struct settings *s, const char *name, const char *case_id,
			    int full)
{
	char msg[400];
	snprintf(msg, sizeof(msg), "handover %s: the status of case %s shows no pending "
		 "handover offer%s", name, case_id,
		 full ? "" : " (the relay does not show offers to police: give --offer-id)");
	fprintf(stderr, "vigil: %s\n", msg);
	if (s->json)
		view_write_json(json_pack("{s:s, s:o}", "error", "NO_PENDING_OFFER", "message",
					  view_jstring(msg)), stdout);
	return EXIT_REFUSED;
}

static int handover_answer(struct settings *s, int argc, char *argv[], enum answer_kind k)
{
	static const struct option with_reason[] = {
		CLI_GLOBAL_OPTIONS,
		{ "case", required_argument, NULL, OPT_CASE },
		{ "offer-id", required_argument, NULL, OPT_OFFER_ID },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ NULL, 0, NULL, 0 },
	};
	static const struct option without_reason[] = {
		CLI_GLOBAL_OPTIONS,
		{ "case", required_argument, NULL, OPT_CASE },
		{ "offer-id", required_argument, NULL, OPT_OFFER_ID },
		{ NULL, 0, NULL, 0 },
	};
	void (*const helps[])(FILE *) = { accept_help, decline_help, withdraw_help };
	const char *name = answer_name[k], *case_id = NULL, *reason = NULL, *offer_hex = NULL;
	int opt, r;
	while ((opt = getopt_long(argc, argv, "+:c:h",
				  k == ANSWER_DECLINE ? with_reason : without_reason, NULL)) != -1) {
		switch (opt) {
		case OPT_CASE: case_id = optarg; break;
		case OPT_REASON: reason = optarg; break;
		case OPT_OFFER_ID: offer_hex = optarg; break;
		default:
			if ((r = other_option(s, opt, argv, helps[k])) != 0)
				return r < 0 ? 0 : r;
		}
	}
	if (optind < argc)
		return cli_usage_error("handover %s: unexpected argument '%s'", name, argv[optind]);
	if (!case_id)
		return cli_usage_error("handover %s: --case is required", name);
	if (k == ANSWER_DECLINE && !reason)
		return cli_usage_error("handover decline: --reason is required");
	uint8_t offer_id[VIGIL_RECORD_ID_LEN] = { 0 };
	if (offer_hex && vigil_hex_decode(offer_hex, offer_id, VIGIL_RECORD_ID_LEN) != VIGIL_OK)
		return cli_usage_error("handover %s: --offer-id wants 32 hex digits, not '%s'", name,
				       offer_hex);

	/* The record is checked with a placeholder offer id: its fields do
	 * not depend on which offer it answers. */
	struct vigil_handover_answer a;
	struct vigil_handover_withdraw w;
	memset(&a, 0, sizeof(a));
	memset(&w, 0, sizeof(w));
	a.case_id = w.case_id = case_id;
	a.accept = k == ANSWER_ACCEPT;
	a.decline_reason = reason;
	struct vigil_error err;
	int rc = k == ANSWER_WITHDRAW ? vigil_handover_withdraw_check(&w, &err)
				      : vigil_handover_answer_check(&a, &err);
	if (rc != VIGIL_OK)
		return cli_usage_error("handover %s: %s", name, err.message);

	vigil_client *c;
	if ((rc = cli_connect(s, &c)) != 0)
		return rc;
	if (!offer_hex && (rc = pending_offer(s, c, name, case_id, offer_id)) != 0) {
		vigil_close(&c);
		return rc;
	}
	memcpy(a.offer_id, offer_id, VIGIL_RECORD_ID_LEN);
	memcpy(w.offer_id, offer_id, VIGIL_RECORD_ID_LEN);
	struct vigil_receipt rcpt;
	rc = k == ANSWER_WITHDRAW ? vigil_submit_handover_withdraw(c, &w, &rcpt, &err)
				  : vigil_submit_handover_answer(c, &a, &rcpt, &err);
	vigil_close(&c);
	char id[2 * VIGIL_RECORD_ID_LEN + 1], sum[256];
	vigil_hex_encode(offer_id, VIGIL_RECORD_ID_LEN, id);
	snprintf(sum, sizeof(sum), "case %s: %s", case_id,
		 k == ANSWER_ACCEPT ? "handover accepted; our organisation is responsible now"
		 : k == ANSWER_DECLINE ? "handover declined"
				       : "handover offer withdrawn");
	return finish(s, case_id, rc, &rcpt, &err, sum, "offer_id", id);
}

/* ---- handover reseal ------------------------------------------------------------------ */

static void reseal_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] handover reseal --case ID\n"
		   "\n"
		   "Re-seals the case's earlier sealed texts for the organisation our pending\n"
		   "handover offer names, which cannot accept the offer before.  handover offer\n"
		   "does this itself; this resumes it when it was interrupted or had no\n"
		   "encryption key (--enc-cert, --enc-key).  Each text is opened with our\n"
		   "key, checked against its record and sealed again, the same text, to its\n"
		   "readers and that organisation.\n"
		   "\n"
		   "  --case ID            the case (our pending offer's)\n"
		   "Prints the offer, the organisation and how many texts are still missing\n"
		   "(0 when done).\n");
}

static int handover_reseal(struct settings *s, int argc, char *argv[])
{
	static const struct option opts[] = {
		CLI_GLOBAL_OPTIONS,
		{ "case", required_argument, NULL, OPT_CASE },
		{ NULL, 0, NULL, 0 },
	};
	const char *case_id = NULL;
	int opt, r;
	while ((opt = getopt_long(argc, argv, "+:c:h", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_CASE: case_id = optarg; break;
		default:
			if ((r = other_option(s, opt, argv, reseal_help)) != 0)
				return r < 0 ? 0 : r;
		}
	}
	if (optind < argc)
		return cli_usage_error("handover reseal: unexpected argument '%s'", argv[optind]);
	if (!case_id)
		return cli_usage_error("handover reseal: --case is required");
	struct vigil_error err;
	if (vigil_case_id_check(case_id, &err) != VIGIL_OK)
		return cli_usage_error("handover reseal: %s", err.message);
	vigil_client *c;
	int rc = cli_connect(s, &c);
	if (rc != 0)
		return rc;
	struct vigil_case_status *st = NULL;
	if ((rc = vigil_case_status(c, case_id, &st, &err)) != VIGIL_OK) {
		vigil_close(&c);
		output_failure(&err, s->json);
		return cli_exit_status(rc);
	}
	if (!st->has_pending_offer) {
		int full = st->full;
		vigil_free(st);
		vigil_close(&c);
		return no_pending_offer(s, "reseal", case_id, full);
	}
	uint32_t missing = 0;
	rc = vigil_reseal_offer(c, case_id, st->pending_offer_id, st->pending_offer_to, &missing,
				&err);
	vigil_close(&c);
	if (rc != VIGIL_OK) {
		vigil_free(st);
		output_failure(&err, s->json);
		return cli_exit_status(rc);
	}
	char id[2 * VIGIL_RECORD_ID_LEN + 1];
	vigil_hex_encode(st->pending_offer_id, VIGIL_RECORD_ID_LEN, id);
	if (s->json) {
		view_write_json(json_pack("{s:o, s:s, s:o, s:I}", "case_id", view_jstring(case_id),
					  "offer_id", id, "to", view_jstring(st->pending_offer_to),
					  "missing", (json_int_t)missing), stdout);
	} else {
		printf("case %s: offer %s to %s: every earlier sealed text is re-sealed for it\n",
		       case_id, id, st->pending_offer_to);
	}
	vigil_free(st);
	return 0;
}

/* ---- handover ---------------------------------------------------------------------------- */

static void handover_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] handover offer --case ID --to ORG --reason REASON\n"
		   "                 (--consent-ref REF | --override-risk-to-life TEXT)\n"
		   "       vigil [OPTIONS] handover accept --case ID [--offer-id HEX]\n"
		   "       vigil [OPTIONS] handover decline --case ID --reason TEXT\n"
		   "                                        [--offer-id HEX]\n"
		   "       vigil [OPTIONS] handover withdraw --case ID [--offer-id HEX]\n"
		   "       vigil [OPTIONS] handover reseal --case ID\n"
		   "\n"
		   "Responsibility for a case moves only when the organisation offered it\n"
		   "accepts.  vigil handover SUBCOMMAND --help for the options of each.\n");
}

int cmd_handover(struct settings *s, int argc, char *argv[])
{
	if (argc < 2)
		return cli_usage_error("handover: give a subcommand: offer, accept, decline, "
				       "withdraw or reseal");
	const char *sub = argv[1];
	if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
		handover_help(stdout);
		return 0;
	}
	if (!strcmp(sub, "offer")) {
		cli_subcommand(sub);
		return handover_offer(s, argc - 1, argv + 1);
	}
	if (!strcmp(sub, "reseal")) {
		cli_subcommand(sub);
		return handover_reseal(s, argc - 1, argv + 1);
	}
	for (int k = ANSWER_ACCEPT; k <= ANSWER_WITHDRAW; k++)
		if (!strcmp(sub, answer_name[k])) {
			cli_subcommand(sub);
			return handover_answer(s, argc - 1, argv + 1, (enum answer_kind)k);
		}
	return cli_usage_error("handover: unknown subcommand '%s' (offer, accept, decline, "
			       "withdraw or reseal)", sub);
}
