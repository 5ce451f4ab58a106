/*
 * alerts.c - alerts on the command line:
 *
 *   vigil alerts [--follow] [--after N]
 *   vigil alert ack ALERT_ID --case ID --decision DECISION [--reason TEXT]
 *
 * "alerts" subscribes to our organisation's alerts and prints each one the
 * relay delivers, verified by libvigil first (the relay's signature, the
 * leaf hash, the signed checkpoint and the inclusion proof): the replay of
 * what is stored and not yet acknowledged, then, with --follow, each new
 * one as it comes.  The relay delivers its Erasure entries the same way
 * (what it erased of our cases' entries, why, on whose request); they are
 * printed as erasures, not as alerts.  The tool keeps no copy of a record
 * or of opened text, so an erasure leaves it nothing to delete.  It
 * acknowledges what it has printed, and only that:
 * the position of the last line that reached standard output is sent as a
 * DeliveryAck whenever the stream pauses, and once more before it exits,
 * followed by a query whose answer shows the relay has read it.  An alert
 * that was delivered but not printed (a failure, a signal in between) is
 * replayed the next time.
 *
 * "alert ack" records a decision on an open alert (an AlertAck record),
 * which stops its escalation, and prints the receipt like the other
 * records.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
	OPT_FOLLOW = OPT_COMMAND_BASE,
	OPT_AFTER,
	OPT_CASE,
	OPT_DECISION,
	OPT_REASON,
	OPT_DESK,
	OPT_OPEN,
};

/* Without --follow: the stream has ended when nothing came for this long. */
#define QUIET_MS 1000
/* With --follow: how long one wait lasts before the loop looks at signals
 * and acknowledges what it printed. */
#define FOLLOW_SLICE_MS 500
/* Acknowledge at the latest after this many printed alerts, even while
 * they keep coming. */
#define ACK_EVERY 64
/* Frames looked at after the final acknowledgement, for its refusal. */
#define DRAIN_MAX (VIGIL_DELIVERIES_KEPT_MAX + 64)

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* SIGINT and SIGTERM end the loop; a second one kills as usual. */
static void catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* ---- printing one alert ------------------------------------------------------------ */

static void time_or_none(int64_t ms, char *out, size_t n)
{
	if (ms > 0)
		vigil_format_time(ms, out, n);
	else
		snprintf(out, n, "none");
}

static void alert_text(const struct vigil_alert *a)
{
	char at[VIGIL_TIME_LEN], deadline[VIGIL_TIME_LEN], success[VIGIL_TIME_LEN];
	vigil_format_time(a->received_at_ms, at, sizeof(at));
	time_or_none(a->deadline_ms, deadline, sizeof(deadline));
	time_or_none(a->last_success_ms, success, sizeof(success));
	printf("%llu %s %s %s ", (unsigned long long)a->position, at, a->case_id, a->kind);
	if (a->stage == 0)
		printf("resolved (%s)", a->resolution[0] ? a->resolution : "unknown");
	else
		printf("stage %u%s", a->stage, a->stage == 2 ? " (escalated)" : "");
	if (!strcmp(a->cause, "after-ack"))
		printf(" (raised again: the silence went on after an acknowledgement)");
	else if (!strcmp(a->cause, "handover"))
		printf(" (open alert of a case now with you)");
	printf("; alert %s; police: %s; deadline missed: %s; last success: %s; "
	       "failed attempts: %u; recipients: ", a->alert_id_hex, a->police_advice, deadline,
	       success, a->failed_attempts);
	for (size_t i = 0; i < a->n_recipients; i++)
		printf("%s%s", i ? ", " : "", a->recipients[i]);
	printf("\n");
}

static void alert_json(const struct vigil_alert *a)
{
	FILE *f = stdout;
	int n = 0;
	const char *recipients[VIGIL_RECIPIENTS_MAX];
	for (size_t i = 0; i < a->n_recipients; i++)
		recipients[i] = a->recipients[i];
	fputc('{', f);
	json_key(f, &n, "position");
	fprintf(f, "%llu", (unsigned long long)a->position);
	json_key(f, &n, "received_at");
	json_write_time(f, a->received_at_ms);
	json_key(f, &n, "case_id");
	json_write_string(f, a->case_id);
	json_key(f, &n, "kind");
	json_write_string(f, a->kind);
	json_key(f, &n, "stage");
	fprintf(f, "%u", a->stage);
	json_key(f, &n, "resolution");
	json_write_string_or_null(f, a->stage == 0 ? a->resolution : NULL);
	json_key(f, &n, "cause");
	json_write_string_or_null(f, a->cause[0] ? a->cause : NULL);
	json_key(f, &n, "alert_id");
	json_write_string(f, a->alert_id_hex);
	json_key(f, &n, "police");
	json_write_string(f, a->police);
	json_key(f, &n, "police_advice");
	json_write_string(f, a->police_advice);
	json_key(f, &n, "deadline");
	json_write_time(f, a->deadline_ms);
	json_key(f, &n, "last_success");
	json_write_time(f, a->last_success_ms);
	json_key(f, &n, "failed_attempts");
	fprintf(f, "%u", a->failed_attempts);
	json_key(f, &n, "recipients");
	json_write_strings(f, recipients, a->n_recipients);
	json_key(f, &n, "record_id");
	json_write_hex(f, a->record_id, VIGIL_RECORD_ID_LEN);
	json_key(f, &n, "leaf_hash");
	json_write_hex(f, a->leaf_hash, VIGIL_HASH_LEN);
	json_key(f, &n, "checkpoint_size");
	fprintf(f, "%llu", (unsigned long long)a->checkpoint.size);
	fputs("}\n", f);
}

/* ---- printing one erasure ---------------------------------------------------------
 *
 * An erasure's fields are listed once (erasure_fields), each written by a
 * put_* call that knows both forms, so the text line and the JSON object
 * cannot drift apart.  Text: the head fields (label "") separated by
 * spaces, then "LABEL: VALUE" separated by "; "; a field with no label
 * (NULL) is in the JSON object only.  An empty string or an absent id is
 * "none" in the text and null in JSON.
 */

struct sink {
	int json;
	int n;         /* JSON members written */
	int labelled;  /* text: labelled fields written */
	int head;      /* text: head fields written */
};

/* The key or the separator and label; 0 when the field is not in this form. */
static int put_begin(struct sink *s, const char *key, const char *label)
{
	if (s->json) {
		json_key(stdout, &s->n, key);
		return 1;
	}
	if (!label)
		return 0;
	if (!label[0]) {
		printf("%s", s->head++ ? " " : "");
		return 1;
	}
	printf("%s%s: ", s->labelled++ ? "; " : " ", label);
	return 1;
}

static void put_u64(struct sink *s, const char *key, const char *label, uint64_t v)
{
	if (put_begin(s, key, label))
		printf("%llu", (unsigned long long)v);
}

static void put_time(struct sink *s, const char *key, const char *label, int64_t ms)
{
	if (!put_begin(s, key, label))
		return;
	if (s->json) {
		json_write_time(stdout, ms);
		return;
	}
	char t[VIGIL_TIME_LEN];
	time_or_none(ms, t, sizeof(t));
	printf("%s", t);
}

static void put_str(struct sink *s, const char *key, const char *label, const char *v)
{
	if (!put_begin(s, key, label))
		return;
	if (s->json)
		json_write_string_or_null(stdout, v);
	else
		printf("%s", v && v[0] ? v : "none");
}

/* n bytes as hex; absent: none / null. */
static void put_hex(struct sink *s, const char *key, const char *label, const uint8_t *b,
		    size_t n, int present)
{
	if (!put_begin(s, key, label))
		return;
	if (s->json && !present)
		fputs("null", stdout);
	else if (s->json)
		json_write_hex(stdout, b, n);
	else if (!present)
		printf("none");
	else
		for (size_t i = 0; i < n; i++)
			printf("%02x", b[i]);
}

/* JSON true or false; the text names the two cases. */
static void put_bool(struct sink *s, const char *key, const char *label, int v,
		     const char *text_true, const char *text_false)
{
	if (!put_begin(s, key, label))
		return;
	if (s->json)
		fputs(v ? "true" : "false", stdout);
	else
		printf("%s", v ? text_true : text_false);
}

/* Numbers: [1,2] / 1,2. */
static void put_u64s(struct sink *s, const char *key, const char *label, const uint64_t *v,
		     size_t n)
{
	if (!put_begin(s, key, label))
		return;
	printf("%s", s->json ? "[" : "");
	for (size_t i = 0; i < n; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)v[i]);
	printf("%s", s->json ? "]" : "");
}

/* Organisations: ["a","b"] / a, b. */
static void put_orgs(struct sink *s, const char *key, const char *label,
		     const char (*v)[VIGIL_ORG_LEN], size_t n)
{
	if (!put_begin(s, key, label))
		return;
	if (s->json)
		fputc('[', stdout);
	for (size_t i = 0; i < n; i++) {
		if (s->json) {
			fputs(i ? "," : "", stdout);
			json_write_string(stdout, v[i]);
		} else {
			printf("%s%s", i ? ", " : "", v[i]);
		}
	}
	if (s->json)
		fputc(']', stdout);
}

/* The fields of an erasure, in the order both forms print them. */
static void erasure_fields(const struct vigil_alert *a, struct sink *s)
{
	put_u64(s, "position", "", a->position);
	put_time(s, "received_at", "", a->received_at_ms);
	put_str(s, "case_id", "", a->case_id);
	put_str(s, "kind", "", a->kind);
	put_bool(s, "whole_record", "what", a->erase_whole, "records", "sealed-texts");
	put_u64s(s, "entries", "entries", a->erased, a->erased_n);
	put_str(s, "reason", "reason", a->erase_reason);
	put_str(s, "requested_by", "requested by", a->requested_by);
	put_hex(s, "request_id", "request", a->request_id, VIGIL_RECORD_ID_LEN,
		a->requested_by[0] != '\0');
	put_str(s, "reference", "reference", a->erase_reference);
	put_orgs(s, "recipients", "recipients", a->recipients, a->n_recipients);
	put_hex(s, "record_id", NULL, a->record_id, VIGIL_RECORD_ID_LEN, 1);
	put_hex(s, "leaf_hash", NULL, a->leaf_hash, VIGIL_HASH_LEN, 1);
	put_u64(s, "checkpoint_size", NULL, a->checkpoint.size);
}

static void erasure_print(const struct vigil_alert *a, int json)
{
	struct sink s = { .json = json };
	if (json)
		fputc('{', stdout);
	erasure_fields(a, &s);
	printf("%s\n", json ? "}" : "");
}

/* Prints one alert or erasure and makes sure it left: 0, or -1 when
 * standard output failed (it then counts as not shown). */
static int alert_print(const struct vigil_alert *a, int json)
{
	if (a->event == VIGIL_EVENT_ERASURE)
		erasure_print(a, json);
	else if (json)
		alert_json(a);
	else
		alert_text(a);
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : -1;
}

/* ---- alerts ------------------------------------------------------------------------ */

static void alerts_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] alerts [--follow] [--after N] [--desk NAME]\n"
		   "       vigil [OPTIONS] alerts --open\n"
		   "\n"
		   "Prints the alerts the relay delivers to our organisation, each verified\n"
		   "first (the relay's signature with the certificate of the connection, the\n"
		   "leaf hash, the signed checkpoint and the inclusion proof): every stored\n"
		   "alert not yet acknowledged by our organisation, oldest first, then exits\n"
		   "when nothing more comes for %d s.  What it printed is acknowledged, so\n"
		   "the next run starts after it.\n"
		   "\n"
		   "  --follow             keep running and print alerts as they come, until\n"
		   "                       SIGINT or SIGTERM (exit 0 once what was printed is\n"
		   "                       acknowledged)\n"
		   "  --after N            start after log position N (default: after what\n"
		   "                       this desk acknowledged)\n"
		   "  --desk NAME          our organisation's desk (1-%d of a-z 0-9 -; default:\n"
		   "                       default): each desk has its own position, so every\n"
		   "                       desk receives every alert once\n"
		   "  --open               instead: the alerts open now on our cases and\n"
		   "                       addressed to us, from the relay's case state; it\n"
		   "                       consumes nothing (every colleague sees the same list).\n"
		   "                       One line each: CASE KIND stage LABEL; alert ID;\n"
		   "                       raised: TIME; escalates: TIME|never; deadline\n"
		   "                       missed: TIME|none; police: ADVICE; acknowledged by:\n"
		   "                       ORG DECISION TIME, ...|nobody ('no open alerts' when\n"
		   "                       none); with --json one object per line\n"
		   "\n"
		   "One line per alert:\n"
		   "\n"
		   "  POSITION TIME CASE KIND stage S[ (escalated)] | resolved (HOW); alert ID;\n"
		   "  police: ADVICE; deadline missed: TIME; last success: TIME; failed\n"
		   "  attempts: N; recipients: ORG, ...\n"
		   "\n"
		   "(times RFC 3339 or none; ADVICE none, missing-person report to be\n"
		   "considered, or missing-person report required).  With --json one object\n"
		   "per line: position, received_at, case_id, kind, stage, resolution, cause,\n"
		   "alert_id, police (none, consider, required), police_advice, deadline,\n"
		   "last_success, failed_attempts, recipients, record_id, leaf_hash,\n"
		   "checkpoint_size.  ID is what 'vigil alert ack' takes.\n"
		   "\n"
		   "The relay delivers its erasures of our cases' entries the same way (on\n"
		   "the owner's request, or by its retention rules), one line each:\n"
		   "\n"
		   "  POSITION TIME CASE erasure what: sealed-texts|records; entries: N,...;\n"
		   "  reason: REASON; requested by: ORG|none; request: ID|none; reference:\n"
		   "  REF|none; recipients: ORG, ...\n"
		   "\n"
		   "(none: by the retention rules).  With --json: position, received_at,\n"
		   "case_id, kind (\"erasure\"), whole_record, entries, reason, requested_by,\n"
		   "request_id, reference, recipients, record_id, leaf_hash, checkpoint_size.\n"
		   "An erasure is acknowledged like an alert; it needs no 'vigil alert ack'.\n"
		   "Whoever keeps copies of those entries' records or opened text deletes\n"
		   "them (this tool keeps none).\n"
		   "Exit status: 0 done, 1 refused by the relay, 2 usage error, 3 connection,\n"
		   "TLS, protocol or verification failure (nothing after the alert that\n"
		   "failed is printed).\n", QUIET_MS / 1000, VIGIL_DESK_MAX);
}

/* Reports a libvigil failure; the exit status. */
static int failed(const struct settings *s, const struct vigil_error *err)
{
	output_failure(err, s->json);
	return cli_exit_status(err->status);
}

/* After the last acknowledgement: a query answered shows the relay read
 * it (frames are read in order), and a refusal of it, which would have
 * come before that answer, is reported.  0 or an exit status. */
static int ack_confirm(const struct settings *s, vigil_client *c, struct vigil_alert *a)
{
	struct vigil_checkpoint *cp = malloc(sizeof(*cp));
	struct vigil_error err;
	if (!cp)
		return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	int rc = vigil_get_checkpoint(c, cp, &err);
	free(cp);
	if (rc != VIGIL_OK) {
		fprintf(stderr, "vigil: cannot confirm that the relay read our acknowledgement\n");
		return failed(s, &err);
	}
	/* What came meanwhile is neither printed nor acknowledged: it comes
	 * again next time. */
	for (int i = 0; i < DRAIN_MAX; i++) {
		rc = vigil_next_alert(c, 0, a, &err);
		if (rc != VIGIL_OK)
			return failed(s, &err);
		if (a->event == VIGIL_EVENT_NONE)
			break;
	}
	return 0;
}

static int alerts_loop(const struct settings *s, vigil_client *c, int follow, uint64_t after,
		       const char *desk)
{
	struct vigil_error err;
	int rc = vigil_subscribe_desk(c, desk, after, NULL, &err);
	if (rc != VIGIL_OK)
		return failed(s, &err);
	struct vigil_alert *a = malloc(sizeof(*a));
	if (!a)
		return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	catch_signals();
	uint64_t shown = after;          /* the last position printed */
	int unacked = 0, acked_any = 0, status = 0, usable = 1;
	while (!stop_signal) {
		rc = vigil_next_alert(c, follow ? FOLLOW_SLICE_MS : QUIET_MS, a, &err);
		if (rc != VIGIL_OK) {
			/* A delivery that does not verify, or a refusal, leaves
			 * the connection as it was. */
			usable = rc == VIGIL_E_VERIFY || rc == VIGIL_E_REFUSED;
			status = failed(s, &err);
			break;
		}
		if (a->event == VIGIL_EVENT_ALERT || a->event == VIGIL_EVENT_ERASURE) {
			if (alert_print(a, s->json) != 0) {
				fprintf(stderr, "vigil: cannot write the alerts; the one at position "
						"%llu and later stay unacknowledged\n",
					(unsigned long long)a->position);
				status = EXIT_FAILED;
				break;
			}
			shown = a->position;
			if (++unacked < ACK_EVERY)
				continue;
		}
		/* A pause (or many alerts): acknowledge what was printed. */
		if (unacked) {
			if ((rc = vigil_ack_deliveries(c, shown, &err)) != VIGIL_OK) {
				status = failed(s, &err);
				unacked = 0;
				usable = 0;
				break;
			}
			unacked = 0;
			acked_any = 1;
		}
		if (a->event == VIGIL_EVENT_LAGGING) {
			/* The relay stopped pushing: catch up by replay after what
			 * was printed (and is now acknowledged). */
			if ((rc = vigil_subscribe_desk(c, desk, shown, NULL, &err)) != VIGIL_OK) {
				usable = rc == VIGIL_E_REFUSED;
				status = failed(s, &err);
				break;
			}
			continue;
		}
		if (a->event == VIGIL_EVENT_NONE && !follow)
			break;
	}
	/* Whatever ended the loop, what was printed is acknowledged if the
	 * connection still allows it. */
	if (usable && unacked && vigil_ack_deliveries(c, shown, &err) == VIGIL_OK)
		acked_any = 1;
	if (usable && acked_any) {
		int r = ack_confirm(s, c, a);
		if (r != 0 && status == 0)
			status = r;
	}
	free(a);
	return status;
}

/* --open: the alerts open now, from the case state. */
static int alerts_open(const struct settings *s, vigil_client *c)
{
	struct vigil_open_alert *list = NULL;
	size_t n = 0;
	struct vigil_error err;
	int rc = vigil_open_alerts(c, &list, &n, &err);
	if (rc != VIGIL_OK)
		return failed(s, &err);
	if (!n && !s->json)
		printf("no open alerts\n");
	for (size_t i = 0; i < n; i++) {
		const struct vigil_open_alert *a = &list[i];
		char id[2 * VIGIL_RECORD_ID_LEN + 1], raised[VIGIL_TIME_LEN], esc[VIGIL_TIME_LEN],
			dl[VIGIL_TIME_LEN];
		vigil_hex_encode(a->alert_id, VIGIL_RECORD_ID_LEN, id);
		vigil_format_time(a->raised_at_ms, raised, sizeof(raised));
		if (a->escalates_at_ms)
			vigil_format_time(a->escalates_at_ms, esc, sizeof(esc));
		if (a->deadline_ms)
			vigil_format_time(a->deadline_ms, dl, sizeof(dl));
		if (s->json) {
			int k = 0;
			putchar('{');
			json_key(stdout, &k, "case_id");
			json_write_string(stdout, a->case_id);
			json_key(stdout, &k, "kind");
			json_write_string(stdout, a->kind);
			json_key(stdout, &k, "stage");
			printf("%u", a->stage);
			json_key(stdout, &k, "stage_label");
			json_write_string(stdout, vigil_alert_stage_label(a->stage));
			json_key(stdout, &k, "alert_id");
			json_write_string(stdout, id);
			json_key(stdout, &k, "raised_at");
			json_write_time(stdout, a->raised_at_ms);
			json_key(stdout, &k, "escalates_at");
			json_write_time(stdout, a->escalates_at_ms);
			json_key(stdout, &k, "deadline");
			json_write_time(stdout, a->deadline_ms);
			json_key(stdout, &k, "police");
			json_write_string(stdout, a->police);
			json_key(stdout, &k, "acks");
			putchar('[');
			for (size_t j = 0; j < a->n_acks; j++) {
				int m = 0;
				printf("%s{", j ? "," : "");
				json_key(stdout, &m, "organisation");
				json_write_string(stdout, a->acks[j].organisation);
				json_key(stdout, &m, "decision");
				json_write_string(stdout, a->acks[j].decision);
				json_key(stdout, &m, "at");
				json_write_time(stdout, a->acks[j].at_ms);
				putchar('}');
			}
			printf("]}\n");
			continue;
		}
		printf("%s %s stage %s; alert %s; raised: %s; escalates: %s; deadline missed: %s; "
		       "police: %s; acknowledged by: ", a->case_id, a->kind,
		       vigil_alert_stage_label(a->stage), id, raised,
		       a->escalates_at_ms ? esc : "never", a->deadline_ms ? dl : "none", a->police);
		for (size_t j = 0; j < a->n_acks; j++) {
			char at[VIGIL_TIME_LEN];
			vigil_format_time(a->acks[j].at_ms, at, sizeof(at));
			printf("%s%s %s %s", j ? ", " : "", a->acks[j].organisation,
			       a->acks[j].decision, at);
		}
		printf("%s\n", a->n_acks ? "" : "nobody");
	}
	vigil_free(list);
	return fflush(stdout) == 0 ? 0 : EXIT_FAILED;
}

int cmd_alerts(struct settings *s, int argc, char *argv[])
{
	static const struct option options[] = {
		CLI_GLOBAL_OPTIONS,
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ "after", required_argument, NULL, OPT_AFTER },
		{ "desk", required_argument, NULL, OPT_DESK },
		{ "open", no_argument, NULL, OPT_OPEN },
		{ NULL, 0, NULL, 0 },
	};
	int follow = 0, open_only = 0, after_given = 0, opt;
	uint64_t after = 0;
	const char *desk = NULL;
	while ((opt = getopt_long(argc, argv, "+:c:h", options, NULL)) != -1) {
		switch (opt) {
		case '?':
		case ':':
			return cli_getopt_error(opt, argv);
		case 'h':
			alerts_help(stdout);
			return 0;
		case OPT_FOLLOW:
			follow = 1;
			break;
		case OPT_AFTER:
			if (cli_parse_u64(optarg, &after) != 0)
				return cli_usage_error("alerts: --after wants a log position (a "
						       "number), not '%s'", optarg);
			after_given = 1;
			break;
		case OPT_DESK:
			desk = optarg;
			break;
		case OPT_OPEN:
			open_only = 1;
			break;
		default: {
			int r = cli_global_option(s, opt, optarg);
			if (r != 0)
				return r > 0 ? r : cli_usage_error("unexpected option");
		}
		}
	}
	if (optind < argc)
		return cli_usage_error("alerts: unexpected argument '%s'", argv[optind]);
	struct vigil_error derr;
	if (desk && vigil_desk_check(desk, &derr) != VIGIL_OK)
		return cli_usage_error("alerts: --desk: %s", derr.message);
	if (open_only && (follow || after_given || desk))
		return cli_usage_error("alerts: --open lists what is open; it takes no --follow, "
				       "--after or --desk");
	vigil_client *c;
	int rc = cli_connect(s, &c);
	if (rc != 0)
		return rc;
	rc = open_only ? alerts_open(s, c) : alerts_loop(s, c, follow, after, desk);
	vigil_close(&c);
	return rc;
}

/* ---- alert ack ------------------------------------------------------------------------ */

static void ack_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] alert ack ALERT_ID --case ID --decision DECISION\n"
		   "                 [--reason TEXT]\n"
		   "\n"
		   "Records our decision on the open alert of a case (a coordinator party or\n"
		   "the responsible organisation), which stops its escalation to the police.\n"
		   "\n"
		   "  ALERT_ID             the alert's id, 32 hex digits ('vigil alerts' shows it)\n"
		   "  --case ID            the case the alert is about\n"
		   "  --decision DECISION  one of: ");
	for (unsigned i = 0; vigil_ack_decision_name(i); i++)
		fprintf(f, "%s%s", i ? ", " : "", vigil_ack_decision_name(i));
	fprintf(f, "\n"
		   "  --reason TEXT        why, 1-%d bytes of UTF-8; required unless the\n"
		   "                       decision is police-report-filed; sealed to the\n"
		   "                       case's readers (police are none)\n"
		   "\n"
		   "Global options (vigil --help) may also follow the command.\n"
		   "Output: the verified receipt, as for 'vigil contact', with 'alert_id ID'\n"
		   "after leaf_hash; with --json one line {\"index\":N,...,\"alert_id\":\"ID\"}.\n"
		   "Exit status: 0 stored and verified, 1 refused by the relay (the message says\n"
		   "which rule), 2 usage error, 3 connection, TLS, protocol or verification\n"
		   "failure.\n", VIGIL_TEXT_MAX);
}

static int alert_ack(struct settings *s, int argc, char *argv[])
{
	static const struct option options[] = {
		CLI_GLOBAL_OPTIONS,
		{ "case", required_argument, NULL, OPT_CASE },
		{ "decision", required_argument, NULL, OPT_DECISION },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ NULL, 0, NULL, 0 },
	};
	struct vigil_alert_ack ack;
	memset(&ack, 0, sizeof(ack));
	int opt;
	/* No '+': the options may follow the alert id. */
	while ((opt = getopt_long(argc, argv, ":c:h", options, NULL)) != -1) {
		switch (opt) {
		case '?':
		case ':':
			return cli_getopt_error(opt, argv);
		case 'h':
			ack_help(stdout);
			return 0;
		case OPT_CASE: ack.case_id = optarg; break;
		case OPT_DECISION: ack.decision = optarg; break;
		case OPT_REASON: ack.reason = optarg; break;
		default: {
			int r = cli_global_option(s, opt, optarg);
			if (r != 0)
				return r > 0 ? r : cli_usage_error("unexpected option");
		}
		}
	}
	if (optind >= argc)
		return cli_usage_error("alert ack: give the alert id: vigil alert ack ALERT_ID "
				       "--case ID --decision DECISION");
	const char *id = argv[optind++];
	if (optind < argc)
		return cli_usage_error("alert ack: unexpected argument '%s'", argv[optind]);
	if (vigil_hex_decode(id, ack.alert_id, VIGIL_RECORD_ID_LEN) != VIGIL_OK)
		return cli_usage_error("alert ack: the alert id wants 32 hex digits, not '%s'", id);
	if (!ack.case_id)
		return cli_usage_error("alert ack: --case is required");
	if (!ack.decision)
		return cli_usage_error("alert ack: --decision is required");
	if (ack.reason && !ack.reason[0])
		return cli_usage_error("alert ack: --reason wants a text");
	struct vigil_error err;
	if (vigil_alert_ack_check(&ack, &err) != VIGIL_OK)
		return cli_usage_error("alert ack: %s", err.message);

	vigil_client *c;
	int rc = cli_connect(s, &c);
	if (rc != 0)
		return rc;
	struct vigil_receipt *r = malloc(sizeof(*r));
	if (!r) {
		vigil_close(&c);
		return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	}
	rc = vigil_submit_alert_ack(c, &ack, r, &err);
	vigil_close(&c);
	int status = 0;
	if (rc == VIGIL_OK) {
		char hex[2 * VIGIL_RECORD_ID_LEN + 1];
		vigil_hex_encode(ack.alert_id, VIGIL_RECORD_ID_LEN, hex);
		output_receipt_with(r, s->json, "alert_id", hex);
	} else {
		output_failure(&err, s->json);
		status = cli_exit_status(rc);
		if (status == EXIT_FAILED)
			fprintf(stderr, "vigil: the relay may have stored the acknowledgement; "
					"'vigil log %s' shows the case's records\n", ack.case_id);
	}
	free(r);
	return status;
}

static void alert_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] alert ack ALERT_ID --case ID --decision DECISION\n"
		   "                 [--reason TEXT]\n"
		   "\n"
		   "  ack       record our decision on an open alert (stops its escalation)\n"
		   "\n"
		   "'vigil alerts' prints the alerts themselves.  vigil alert ack --help for\n"
		   "the options.\n");
}

int cmd_alert(struct settings *s, int argc, char *argv[])
{
	if (argc < 2)
		return cli_usage_error("alert: give a subcommand: ack");
	const char *sub = argv[1];
	if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
		alert_help(stdout);
		return 0;
	}
	if (!strcmp(sub, "ack"))
		return alert_ack(s, argc - 1, argv + 1);
	return cli_usage_error("alert: unknown subcommand '%s' (ack)", sub);
}
