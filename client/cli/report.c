/*
 * report.c - the human side of a case export (export.h): report.html, the
 * case's timeline to print and read, and VERIFY.txt, how to check this
 * folder's files with the openssl command.
 *
 * The report is one self-contained page: inline CSS, no script, no
 * external resource, and a Content-Security-Policy that forbids scripts
 * and loads, so that it shows the same in any browser, printed or
 * offline, and cannot call out.  Every string that comes from a record or
 * a certificate (organisation ids, codes, a certificate's common name,
 * which its holder chose) goes through report_html_escape(): nothing in
 * the evidence can become markup.
 *
 * Each timeline row carries its entry's log index (id="entry-N",
 * data-index="N"), which "vigil verify --export" checks against
 * index.json.  The report is a reading aid: the evidence is the signed
 * records, the certificates and the checkpoint beside it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "export.h"

/* ---- text that is safe to show --------------------------------------------------- */

void report_html_escape(FILE *f, const char *s)
{
	size_t n = 4 * strlen(s) + 1;
	char *c = malloc(n);
	if (!c)
		return;
	export_clean(s, c, n);
	for (const char *p = c; *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*p, f); break;
		}
	}
	free(c);
}

/* Shorthands: escaped text, a time, hex. */
static void h(FILE *f, const char *s)
{
	report_html_escape(f, s ? s : "");
}

static void h_time(FILE *f, int64_t ms)
{
	char t[VIGIL_TIME_LEN];
	if (ms <= 0) {
		fputs("none", f);
		return;
	}
	vigil_format_time(ms, t, sizeof(t));
	h(f, t);
}

static void h_hex(FILE *f, const uint8_t *b, size_t n)
{
	char hex[2 * VIGIL_HASH_LEN + 1];
	vigil_hex_encode(b, n, hex);
	fputs(hex, f);
}

/* ---- the timeline ----------------------------------------------------------------------- */

/* The entry whose record id is id (an offer, an alert's first entry), or
 * NULL. */
static const struct export_entry *by_record_id(const struct export *x,
					      const uint8_t id[VIGIL_RECORD_ID_LEN])
{
	for (size_t i = 0; i < x->n; i++)
		if (x->entries[i].ri &&
		    memcmp(x->entries[i].ri->record_id, id, VIGIL_RECORD_ID_LEN) == 0)
			return &x->entries[i];
	return NULL;
}

/* "entry N" linked to its row, or the id in hex when the case has none. */
static void h_ref(FILE *f, const struct export *x, const uint8_t id[VIGIL_RECORD_ID_LEN])
{
	const struct export_entry *t = by_record_id(x, id);
	if (t) {
		unsigned long long i = (unsigned long long)t->e->index;
		fprintf(f, "<a href=\"#entry-%llu\">entry %llu</a>", i, i);
	} else {
		fputs("record <span class=\"mono\">", f);
		h_hex(f, id, VIGIL_RECORD_ID_LEN);
		fputs("</span>", f);
	}
}

static void h_list(FILE *f, const char *const *v, size_t n)
{
	if (n == 0)
		fputs("none", f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", f);
		h(f, v[i]);
	}
}

/* The entry of log index idx in the export, or NULL. */
static const struct export_entry *by_index(const struct export *x, uint64_t idx)
{
	for (size_t i = 0; i < x->n; i++)
		if (x->entries[i].e->index == idx)
			return &x->entries[i];
	return NULL;
}

/* The fields in force of an entry: those of its last correction when it
 * was corrected (vigil correct), else its own. */
static const struct vigil_record_info *in_force(const struct export *x,
						const struct export_entry *xe)
{
	const struct vigil_case_log_entry *le = xe->le;
	if (!le || le->n_corrected_by == 0)
		return xe->ri;
	const struct export_entry *c = by_index(x, le->corrected_by[le->n_corrected_by - 1]);
	return c && c->ri ? c->ri : xe->ri;
}

/* What a row calls the event. */
static void event_name(FILE *f, const struct vigil_record_info *ri)
{
	const char *k = ri->kind;
	if (!strcmp(k, "contact"))
		fputs("Contact attempt", f);
	else if (!strcmp(k, "case-open"))
		fputs("Case opened", f);
	else if (!strcmp(k, "risk"))
		fputs("Risk assessment", f);
	else if (!strcmp(k, "handover-offer"))
		fputs("Handover offered", f);
	else if (!strcmp(k, "handover-answer"))
		fputs(ri->accept ? "Handover accepted" : "Handover declined", f);
	else if (!strcmp(k, "handover-withdraw"))
		fputs("Handover offer withdrawn", f);
	else if (!strcmp(k, "case-close"))
		fputs("Case closed", f);
	else if (!strcmp(k, "alert") && ri->alert_stage == 0)
		fputs("Alert resolved", f);
	else if (!strcmp(k, "alert"))
		fprintf(f, "Alert, stage %u%s", ri->alert_stage,
			ri->alert_stage == 2 ? " (escalated)" : "");
	else if (!strcmp(k, "alert-ack"))
		fputs("Alert acknowledged", f);
	else if (!strcmp(k, "erase-request"))
		fputs("Erasure requested", f);
	else if (!strcmp(k, "erasure"))
		fputs("Erasure (by the relay)", f);
	else if (!strcmp(k, "grant"))
		fputs("Narrative granted", f);
	else if (!strcmp(k, "member-key"))
		fputs("Member key", f);
	else if (!strcmp(k, "correction"))
		fputs("Correction", f);
	else
		h(f, k);
}

/* The sealed free text of the entry, as the export holds it. */
static void text_cell(FILE *f, const struct export_entry *xe)
{
	const char *field = xe->ri ? export_text_field(xe->ri) : "text";
	switch (xe->text) {
	case EXPORT_TEXT_SEALED:
		fprintf(f, "<br>%s: <em>[sealed: envelope in <span class=\"mono\">", field);
		h(f, xe->base);
		fputs(".cms</span>]</em>", f);
		break;
	case EXPORT_TEXT_NOT_READER:
		fprintf(f, "<br>%s: <em>[sealed: the exporter is no reader of it]</em>", field);
		break;
	case EXPORT_TEXT_ERASED:
		fprintf(f, "<br>%s: <em>[erased]</em>", field);
		break;
	case EXPORT_TEXT_OPENED:
		fprintf(f, "<br>%s (opened, <span class=\"mono\">", field);
		h(f, xe->text_base);
		fputs(".txt</span>): <q class=\"text\">", f);
		h(f, xe->text_value);
		fputs("</q>", f);
		break;
	default:
		break;
	}
}

static void contact_details(FILE *f, const struct vigil_record_info *ri)
{
	fputs("channel <b>", f);
	h(f, ri->channel);
	fputs("</b>, outcome <b>", f);
	h(f, ri->outcome);
	fputs("</b>, attempted ", f);
	h_time(f, ri->attempted_at_ms);
}

static void risk_details(FILE *f, const struct vigil_record_info *ri)
{
	fputs("level <b>", f);
	h(f, ri->risk);
	fputs("</b>, phase ", f);
	h(f, ri->phase);
	fputs(", factors: ", f);
	h_list(f, ri->factors, ri->n_factors);
	if (ri->immediate_danger)
		fputs("; <b>immediate danger</b>", f);
}

static void details(FILE *f, const struct export *x, const struct export_entry *xe)
{
	const struct vigil_record_info *ri = xe->ri;
	const char *k = ri->kind;
	if (!strcmp(k, "contact")) {
		contact_details(f, ri);
	} else if (!strcmp(k, "correction")) {
		const struct export_entry *o = xe->le && xe->le->is_correction
						       ? by_index(x, xe->le->corrects) : NULL;
		fputs("corrects ", f);
		if (o)
			fprintf(f, "<a href=\"#entry-%llu\">entry %llu</a>",
				(unsigned long long)o->e->index, (unsigned long long)o->e->index);
		else
			h_hex(f, ri->target_id, VIGIL_RECORD_ID_LEN);
		fputs(" (", f);
		h(f, ri->correction_reason);
		fputs("): ", f);
		if (!strcmp(ri->corrected_kind, "contact"))
			contact_details(f, ri);
		else
			risk_details(f, ri);
	} else if (!strcmp(k, "case-open")) {
		const char *p[VIGIL_PARTIES_MAX];
		for (size_t i = 0; i < ri->n_parties; i++)
			p[i] = ri->parties[i];
		fputs("risk <b>", f);
		h(f, ri->risk);
		fputs("</b>", f);
		if (ri->minor)
			fputs(", <b>a minor</b>", f);
		fputs(", return to ", f);
		h(f, ri->return_country);
		fputs(" on ", f);
		h(f, ri->return_date);
		fputs("; parties: ", f);
		h_list(f, p, ri->n_parties);
		if (ri->override) {
			fputs("; shared without consent: override <b>risk_to_life</b>", f);
		} else {
			fputs("; consent ", f);
			h(f, ri->consent_scope);
			fputs(" given ", f);
			h_time(f, ri->consent_given_at_ms);
		}
	} else if (!strcmp(k, "risk")) {
		risk_details(f, ri);
	} else if (!strcmp(k, "handover-offer")) {
		fputs("to <b>", f);
		h(f, ri->to);
		fputs("</b>, reason ", f);
		h(f, ri->handover_reason);
		if (ri->override) {
			fputs("; override <b>risk_to_life</b>", f);
		} else {
			fputs("; consent reference ", f);
			h(f, ri->consent_ref);
		}
	} else if (!strcmp(k, "handover-answer") || !strcmp(k, "handover-withdraw")) {
		fputs("the offer of ", f);
		h_ref(f, x, ri->offer_id);
	} else if (!strcmp(k, "case-close")) {
		fputs("reason ", f);
		h(f, ri->close_reason);
	} else if (!strcmp(k, "alert")) {
		const char *to[VIGIL_RECIPIENTS_MAX];
		for (size_t i = 0; i < ri->n_recipients; i++)
			to[i] = ri->recipients[i];
		fputs("kind <b>", f);
		h(f, ri->alert_kind);
		fputs("</b>", f);
		if (ri->alert_stage == 0) {
			fputs(", resolution ", f);
			h(f, ri->resolution[0] ? ri->resolution : "none");
		}
		if (ri->cause[0]) {
			fputs(", cause ", f);
			h(f, ri->cause);
		}
		const struct export_entry *first = by_record_id(x, ri->alert_id);
		if (first && first != xe) {
			fputs("; the alert of ", f);
			h_ref(f, x, ri->alert_id);
		}
		fputs("; deadline ", f);
		h_time(f, ri->deadline_ms);
		fputs(", last success ", f);
		h_time(f, ri->last_success_ms);
		fprintf(f, ", failed attempts %u; police: ", ri->failed_attempts);
		h(f, ri->police_advice);
		fputs("; to: ", f);
		h_list(f, to, ri->n_recipients);
	} else if (!strcmp(k, "alert-ack")) {
		fputs("decision <b>", f);
		h(f, ri->decision);
		fputs("</b> on the alert of ", f);
		h_ref(f, x, ri->alert_id);
	} else if (!strcmp(k, "erase-request")) {
		fputs(ri->erase_whole ? "the whole record of " : "the sealed text of ", f);
		/* A record erased whole has no record id left to find it by:
		 * the Erasure that answered this request names its index. */
		const struct vigil_record_info *done = NULL;
		for (size_t i = 0; i < x->n && !done; i++) {
			const struct vigil_record_info *o = x->entries[i].ri;
			if (o && !strcmp(o->kind, "erasure") && o->requested_by[0] &&
			    !memcmp(o->target_id, ri->record_id, VIGIL_RECORD_ID_LEN) &&
			    o->erased_n == 1)
				done = o;
		}
		if (done)
			fprintf(f, "<a href=\"#entry-%llu\">entry %llu</a>",
				(unsigned long long)done->erased[0], (unsigned long long)done->erased[0]);
		else
			h_ref(f, x, ri->target_id);
		fputs(", reason ", f);
		h(f, ri->erase_reason);
		fputs(", reference ", f);
		h(f, ri->erase_reference);
	} else if (!strcmp(k, "erasure")) {
		fputs(ri->erase_whole ? "records" : "sealed texts", f);
		fputs(" of entries ", f);
		for (size_t i = 0; i < ri->erased_n && i < VIGIL_ERASED_MAX; i++)
			fprintf(f, "%s<a href=\"#entry-%llu\">%llu</a>", i ? ", " : "",
				(unsigned long long)ri->erased[i], (unsigned long long)ri->erased[i]);
		fputs("; reason ", f);
		h(f, ri->erase_reason);
		if (ri->requested_by[0]) {
			fputs(", requested by ", f);
			h(f, ri->requested_by);
			fputs(" (", f);
			h_ref(f, x, ri->target_id);
			fputs("), reference ", f);
			h(f, ri->erase_reference);
		}
	} else if (!strcmp(k, "grant")) {
		fputs("to ", f);
		h(f, ri->grant_to);
	} else if (!strcmp(k, "member-key")) {
		h(f, ri->member);
		fputs(ri->member_key_len ? ": encryption certificate logged" : ": removed", f);
	}
	text_cell(f, xe);
	if (ri->client_time_ms > 0) {
		fputs("<br><span class=\"small\">author's clock ", f);
		h_time(f, ri->client_time_ms);
		fputs("</span>", f);
	}
}

static void timeline_row(FILE *f, const struct export *x, const struct export_entry *xe)
{
	const struct vigil_entry *e = xe->e;
	unsigned long long i = (unsigned long long)e->index;
	const char *cls = e->record_erased ? "erased" : xe->ri->kind;
	fprintf(f, "<tr id=\"entry-%llu\" data-index=\"%llu\" class=\"k-", i, i);
	h(f, cls);
	fprintf(f, "\"><td class=\"num\">%llu</td><td class=\"time\">", i);
	h_time(f, e->received_at_ms);
	fputs("</td><td>", f);
	if (e->record_erased) {
		const struct export_cert *c = &x->certs[xe->cert];
		h(f, c->id.organisation);
		fputs("</td><td><b>ERASED</b> record</td><td>only its leaf hash is kept", f);
		if (xe->erased_by >= 0)
			fprintf(f, " (erased by <a href=\"#entry-%lld\">entry %lld</a>)",
				(long long)xe->erased_by, (long long)xe->erased_by);
		fputs("</td></tr>\n", f);
		return;
	}
	h(f, xe->ri->author);
	fputs("</td><td>", f);
	event_name(f, xe->ri);
	/* Corrected: the values of the last correction are in force. */
	for (size_t k = 0; xe->le && k < xe->le->n_corrected_by; k++)
		fprintf(f, "%s<a href=\"#entry-%llu\">entry %llu</a>",
			k ? ", " : "<br><b>corrected</b> by ",
			(unsigned long long)xe->le->corrected_by[k],
			(unsigned long long)xe->le->corrected_by[k]);
	if (xe->erased_by >= 0 && e->content_erased)
		fprintf(f, "<br><b>text ERASED</b> by <a href=\"#entry-%lld\">entry %lld</a>",
			(long long)xe->erased_by, (long long)xe->erased_by);
	fputs("</td><td>", f);
	details(f, x, xe);
	fputs("</td></tr>\n", f);
}

/* Whether the entry is a contact attempt on channel ch with outcome oc,
 * by its values in force (a corrected attempt counts as corrected). */
static int counted(const struct export *x, const struct export_entry *xe, unsigned ch,
		   unsigned oc)
{
	if (!xe->ri || strcmp(xe->ri->kind, "contact") != 0)
		return 0;
	const struct vigil_record_info *ri = in_force(x, xe);
	return !strcmp(ri->channel, vigil_channel_name(ch)) &&
	       !strcmp(ri->outcome, vigil_outcome_name(oc));
}

/* Contact attempts counted by channel and outcome (as corrected), in the
 * order of the wire codes. */
static void contact_table(FILE *f, const struct export *x)
{
	size_t total = 0;
	for (size_t i = 0; i < x->n; i++)
		total += x->entries[i].ri && !strcmp(x->entries[i].ri->kind, "contact");
	fprintf(f, "<h2>Contact attempts by channel and outcome</h2>\n");
	if (total == 0) {
		fputs("<p>No contact attempt is recorded.</p>\n", f);
		return;
	}
	fputs("<table class=\"grid\"><thead><tr><th>channel</th><th>outcome</th><th>attempts"
	      "</th><th>entries</th></tr></thead><tbody>\n", f);
	for (unsigned ch = 0; vigil_channel_name(ch); ch++) {
		for (unsigned oc = 0; vigil_outcome_name(oc); oc++) {
			size_t n = 0;
			for (size_t i = 0; i < x->n; i++)
				n += counted(x, &x->entries[i], ch, oc);
			if (!n)
				continue;
			fputs("<tr><td>", f);
			h(f, vigil_channel_name(ch));
			fputs("</td><td>", f);
			h(f, vigil_outcome_name(oc));
			fprintf(f, "</td><td class=\"num\">%zu</td><td>", n);
			int first = 1;
			for (size_t i = 0; i < x->n; i++) {
				if (!counted(x, &x->entries[i], ch, oc))
					continue;
				unsigned long long k = (unsigned long long)x->entries[i].e->index;
				fprintf(f, "%s<a href=\"#entry-%llu\">%llu</a>", first ? "" : ", ", k,
					k);
				first = 0;
			}
			fputs("</td></tr>\n", f);
		}
	}
	fprintf(f, "<tr><td colspan=\"2\"><b>all</b></td><td class=\"num\"><b>%zu</b></td>"
		   "<td></td></tr>\n</tbody></table>\n", total);
}

static void signers_table(FILE *f, const struct export *x)
{
	fputs("<h2>Who signed</h2>\n<p>The certificates in <span class=\"mono\">certs/</span>, "
	      "each issued by the federation's CA (checked at export against the exporter's "
	      "CA). A certificate's common name is what its holder asked for and is "
	      "shown as it is.</p>\n<table class=\"grid\"><thead><tr><th>organisation</th>"
	      "<th>role</th><th>country</th><th>common name</th><th>entries signed</th>"
	      "<th>SHA-256 (file name)</th></tr></thead><tbody>\n", f);
	for (size_t c = 0; c < x->n_certs; c++) {
		const struct export_cert *ec = &x->certs[c];
		size_t n = 0;
		for (size_t i = 0; i < x->n; i++)
			n += x->entries[i].cert == c;
		fputs("<tr><td>", f);
		h(f, ec->id.organisation);
		fputs("</td><td>", f);
		h(f, ec->id.role);
		fputs("</td><td>", f);
		h(f, ec->id.country);
		fputs("</td><td>", f);
		h(f, ec->id.common_name);
		fprintf(f, "</td><td class=\"num\">%zu%s</td><td class=\"mono\">%s</td></tr>\n", n,
			c == x->exporter_cert ? " (and this export)" : "", ec->hex);
	}
	fputs("</tbody></table>\n", f);
}

static const char style[] =
	"body{font-family:\"DejaVu Sans\",Arial,sans-serif;font-size:10.5pt;color:#111;"
	"margin:1.5em 2em;line-height:1.35}\n"
	"h1{font-size:17pt;margin:0 0 .3em}h1 .mono{font-size:inherit}h2{font-size:13pt;margin:1.4em 0 .4em;"
	"border-bottom:1px solid #999}\n"
	"table{border-collapse:collapse;width:100%;margin:.3em 0}\n"
	"th,td{border:1px solid #aaa;padding:3px 6px;vertical-align:top;text-align:left}\n"
	"th{background:#eee}\n"
	"table.facts th{width:14em}\n"
	"td.num{text-align:right;white-space:nowrap}td.time{white-space:nowrap}\n"
	".mono{font-family:\"DejaVu Sans Mono\",monospace;word-break:break-all;font-size:9pt}\n"
	".small{font-size:8.5pt;color:#555}\n"
	"tr.k-alert td{background:#fff4e5}tr.k-erased td,tr.k-erasure td{background:#f0f0f0;"
	"color:#555}\n"
	"tr.k-case-open td,tr.k-case-close td{background:#eef4ff}\n"
	"q.text{font-style:italic}\n"
	".warn{border:1px solid #c00;padding:.4em .6em;background:#fff0f0}\n"
	"pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap;font-size:9pt}\n"
	"@media print{body{margin:0}a{color:inherit;text-decoration:none}"
	"tr{page-break-inside:avoid}}\n";

int report_write(FILE *f, const struct export *x)
{
	const struct vigil_checkpoint *cp = &x->cp;
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'\">\n<title>Case ", f);
	h(f, x->case_id);
	fprintf(f, ": evidence export</title>\n<style>\n%s</style>\n</head>\n<body>\n", style);
	fputs("<h1>Case <span class=\"mono\">", f);
	h(f, x->case_id);
	fputs("</span>: evidence export</h1>\n<table class=\"facts\">\n<tr><th>Case</th><td>", f);
	h(f, x->case_id);
	fputs("</td></tr>\n<tr><th>Exported by</th><td>", f);
	h(f, x->exporter);
	fputs(" (its signature over <span class=\"mono\">index.json</span>: "
	      "<span class=\"mono\">index.json.sig</span>)</td></tr>\n<tr><th>Exported at</th><td>",
	      f);
	h_time(f, x->exported_at_ms);
	fputs(" (the exporter's clock)</td></tr>\n<tr><th>Relay log</th><td>", f);
	h(f, cp->origin);
	fprintf(f, "</td></tr>\n<tr><th>Checkpoint</th><td>tree of %llu entries, root "
		   "<span class=\"mono\">", (unsigned long long)cp->size);
	h_hex(f, cp->root, VIGIL_HASH_LEN);
	fputs("</span>, signed by the relay at ", f);
	h_time(f, cp->signed_at_ms);
	fprintf(f, "</td></tr>\n<tr><th>Entries of the case</th><td>%zu</td></tr>\n"
		   "<tr><th>Sealed texts</th><td>", x->n);
	if (x->include_text)
		fputs("<b>opened and included in the clear</b> where the exporter is a reader "
		      "(folder <span class=\"mono\">texts/</span>): special-category data", f);
	else
		fputs("kept sealed (their envelopes are in the export; the texts are not)", f);
	fputs("</td></tr>\n</table>\n", f);
	if (x->include_text)
		fputs("<p class=\"warn\">This export contains the plaintext of sealed texts about a "
		      "victim of trafficking. Keep and pass it on only as the law allows for such "
		      "data.</p>\n", f);

	fputs("<h2>Timeline</h2>\n<p>Every entry of the case in the relay's log, in log order. "
	      "Times are UTC; \"received\" is the relay's clock when it accepted the entry "
	      "(part of the signed log), the author's clock is what the record says.</p>\n"
	      "<table class=\"timeline\"><thead><tr><th>entry</th><th>received</th>"
	      "<th>author</th><th>event</th><th>details</th></tr></thead>\n<tbody>\n", f);
	for (size_t i = 0; i < x->n; i++)
		timeline_row(f, x, &x->entries[i]);
	fputs("</tbody></table>\n", f);
	contact_table(f, x);
	signers_table(f, x);

	fputs("<h2>How to verify</h2>\n<p>This page is a reading aid; the evidence is the "
	      "files beside it. Every record is signed by the organisation that wrote it, and "
	      "every entry is proven to be in the relay's append-only log by an inclusion proof "
	      "to the signed checkpoint. Anyone can check all of it offline:</p>\n<pre>"
	      "vigil verify --export THIS-FOLDER --ca YOUR-COPY-OF-THE-FEDERATION-CA.pem "
	      "--checkpoint-key THE-RELAY-KEY</pre>\n<p>The CA and checkpoint key in this folder "
	      "prove nothing by themselves: anyone can make a CA and a key. Check them against "
	      "copies obtained from the federation independently (the fingerprint of "
	      "<span class=\"mono\">ca.pem</span> is in "
	      "<span class=\"mono\">VERIFY.txt</span>). By hand, one record's signature "
	      "with the openssl command:</p>\n<pre>", f);
	const struct export_entry *sample = NULL;
	for (size_t i = 0; i < x->n && !sample; i++)
		if (x->entries[i].ri)
			sample = &x->entries[i];
	if (sample) {
		const struct export_cert *c = &x->certs[sample->cert];
		fprintf(f, "openssl x509 -in certs/%s.pem -pubkey -noout &gt; signer.pub\n"
			   "openssl dgst -sha256 -verify signer.pub -signature ", c->hex);
		h(f, sample->base);
		fputs(".sig ", f);
		h(f, sample->base);
		fputs(".record\n", f);
	}
	fputs("</pre>\n<p><span class=\"mono\">VERIFY.txt</span> gives every step for this "
	      "folder; <span class=\"mono\">index.json</span> lists every file with its SHA-256, "
	      "each entry's leaf hash and inclusion proof.</p>\n</body>\n</html>\n", f);
	return ferror(f) ? -1 : 0;
}

/* ---- VERIFY.txt ----------------------------------------------------------------------- */

int report_verify_txt(FILE *f, const struct export *x)
{
	const struct export_entry *s = NULL;
	/* The example: a contact attempt if there is one, else the first
	 * record that is still there. */
	for (size_t i = 0; i < x->n && !s; i++)
		if (x->entries[i].ri && !strcmp(x->entries[i].ri->kind, "contact"))
			s = &x->entries[i];
	for (size_t i = 0; i < x->n && !s; i++)
		if (x->entries[i].ri)
			s = &x->entries[i];
	const struct export_cert *ex = &x->certs[x->exporter_cert];
	char fp[3 * VIGIL_HASH_LEN];
	fprintf(f, "HOW TO CHECK THIS EXPORT WITH THE OPENSSL COMMAND\n"
		   "=================================================\n\n"
		   "Case %s,\nexported by %s.\n\n"
		   "Run every command in this folder. 'vigil verify --export .' does all\n"
		   "of this and more (every entry, every inclusion proof); these steps show\n"
		   "that nothing in it depends on vigil.\n\n", x->case_id, x->exporter);
	fprintf(f, "1. The federation's CA\n\n"
		   "   ca.pem is the CA the exporter trusts. It proves nothing by itself:\n"
		   "   anyone can make a CA. Compare it with a copy of the federation's CA\n"
		   "   that you obtained independently:\n\n"
		   "     openssl x509 -in ca.pem -noout -fingerprint -sha256\n\n");
	for (size_t i = 0; i < x->n_ca; i++) {
		export_fingerprint(x->ca_sha256[i], fp);
		fprintf(f, "   prints: sha256 Fingerprint=%s\n", fp);
	}
	fputs("\n   and use your copy (not ca.pem) below if you have one.\n\n", f);
	if (s) {
		const struct export_cert *c = &x->certs[s->cert];
		char at[VIGIL_TIME_LEN];
		vigil_format_time(s->e->received_at_ms, at, sizeof(at));
		fprintf(f, "2. A signer's certificate (here the one of entry %llu, a %s by %s)\n\n"
			   "   It must be issued by the CA; its validity period is not checked,\n"
			   "   because it signed in the past:\n\n"
			   "     openssl verify -no_check_time -CAfile ca.pem certs/%s.pem\n\n"
			   "   prints: certs/%s.pem: OK\n\n"
			   "     openssl x509 -in certs/%s.pem -noout -subject\n\n"
			   "   shows O (the organisation), OU (its role) and C (its country).\n\n",
			(unsigned long long)s->e->index, s->ri->kind, s->ri->author, c->hex, c->hex,
			c->hex);
		fprintf(f, "3. The record's signature\n\n"
			   "   %s.record holds the record's exact bytes, %s.sig the\n"
			   "   author's signature over them:\n\n"
			   "     openssl x509 -in certs/%s.pem -pubkey -noout > signer.pub\n"
			   "     openssl dgst -sha256 -verify signer.pub -signature %s.sig %s.record\n\n"
			   "   prints: Verified OK\n\n"
			   "   Every other entry the same way, with the certificate that index.json\n"
			   "   names for it (\"certificate\": the file certs/HASH.pem). What the\n"
			   "   record says: protoc --decode=vigil.v1.Record vigil.proto < %s.record\n"
			   "   (vigil.proto is proto/vigil.proto of vigil's source).\n\n",
			s->base, s->base, c->hex, s->base, s->base, s->base);
		fprintf(f, "4. The entry in the relay's log\n\n"
			   "   %s.leaf is the entry as the log holds it: the byte 01, the\n"
			   "   relay's receive time (8 bytes, ms since 1970, big-endian: %s),\n"
			   "   the SHA-256 of the signer's certificate (32 bytes), the record's\n"
			   "   length (4 bytes) and bytes, the signature's length (4 bytes) and\n"
			   "   bytes. It holds this record and this certificate:\n\n"
			   "     tail -c +46 %s.leaf | head -c %zu | cmp - %s.record && echo same record\n"
			   "     od -An -v -tx1 -j9 -N32 %s.leaf | tr -d ' \\n'; echo\n\n"
			   "   prints the certificate's hash: %s\n\n"
			   "   Its leaf hash (RFC 9162: SHA-256 of a zero byte and the leaf):\n\n"
			   "     (printf '\\000'; cat %s.leaf) | openssl dgst -sha256\n\n"
			   "   prints: SHA2-256(stdin)= ",
			s->base, at, s->base, s->e->record_len, s->base, s->base, c->hex, s->base);
		h_hex(f, s->e->leaf_hash, VIGIL_HASH_LEN);
		fputs("\n   (index.json: the entry's \"leaf_hash\").\n\n", f);
	}
	/* The signed text of the note: up to its blank line. */
	const char *blank = strstr(x->cp.note, "\n\n");
	size_t lines = 0;
	for (const char *p = x->cp.note; blank && p <= blank; p++)
		lines += *p == '\n';
	fprintf(f, "5. The relay's checkpoint\n\n"
		   "   checkpoint.txt is the relay's signed checkpoint (a C2SP signed note)\n"
		   "   exactly as it served it: the log's name (%s), its size (%llu\n"
		   "   entries), its root hash, and the relay's Ed25519 signature. The\n"
		   "   relay's key is checkpoint-key.pem (checkpoint.vkey in the form tlog\n"
		   "   tools use); compare it with the key the federation publishes. The\n"
		   "   signature is over the %zu lines before the blank line:\n\n"
		   "     head -n %zu checkpoint.txt > note.txt\n"
		   "     tail -n 1 checkpoint.txt | awk '{ print $3 }' | openssl base64 -d -A | tail -c 64 > note.sig\n"
		   "     openssl pkeyutl -verify -pubin -inkey checkpoint-key.pem -rawin -in note.txt -sigfile note.sig\n\n"
		   "   prints: Signature Verified Successfully\n\n",
		x->cp.origin, (unsigned long long)x->cp.size, lines, lines);
	fputs("6. The entry is in the checkpoint's tree\n\n"
	      "   index.json gives each entry's inclusion proof (\"proof\": the sibling\n"
	      "   hashes from the leaf upwards, RFC 9162 section 2.1.3) to the root in\n"
	      "   checkpoint.txt. Folding them by hand is impractical; 'vigil verify\n"
	      "   --export .' does it, and so does any RFC 9162 (Certificate\n"
	      "   Transparency, tlog) tool.\n\n", f);
	fprintf(f, "7. The export itself\n\n"
		   "   index.json lists every other file with its SHA-256 (sha256sum FILE\n"
		   "   prints it), and the exporter, %s, signed it:\n\n"
		   "     openssl x509 -in certs/%s.pem -pubkey -noout > exporter.pub\n"
		   "     openssl dgst -sha256 -verify exporter.pub -signature index.json.sig index.json\n\n"
		   "   prints: Verified OK\n\n",
		x->exporter, ex->hex);
	if (x->include_text)
		fputs("8. The sealed texts (texts/)\n\n"
		      "   texts/NNNNNN-FIELD.p is the sealed plaintext P of entry NNNNNN, and\n"
		      "   the record commits to its SHA-256 (field 1 of its SealedText, the\n"
		      "   bytes 0a 20 and the hash):\n\n"
		      "     C=$(openssl dgst -sha256 -r texts/NNNNNN-FIELD.p | cut -d' ' -f1)\n"
		      "     od -An -v -tx1 entries/NNNNNN.record | tr -d ' \\n' | grep -c \"0a20$C\"\n\n"
		      "   prints: 1. The text is inside P after 67 bytes (proto/README.md,\n"
		      "   \"Sealed text\"), and texts/NNNNNN-FIELD.txt is that text.\n\n", f);
	return ferror(f) ? -1 : 0;
}
