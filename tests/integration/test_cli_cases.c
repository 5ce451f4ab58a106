/*
 * The case commands of the vigil tool, black-box: the real binary run with
 * fork/exec against a real vigild on loopback with the real PKI.
 *
 * The demo story of issue 4 runs through the command line: the Stockholm
 * coordinator opens se-stockholm-coord/SE-2026-0042 and hands it over to IOM Moscow, police ask
 * for the status and get the minimal answer, IOM assesses the risk and reads
 * the case's log.  Around it: who may list readers and close, the handover
 * answered, declined, withdrawn and accepted by an outsider, and the usage
 * errors.  Every run checks the exit status, stdout and stderr exactly where
 * the output is documented, and what the relay stored; receipts, the case
 * log's checkpoint and every inclusion proof are verified again here with
 * proto/'s own code.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include <openssl/pem.h>

#include "casekit.h"
#include "clikit.h"
#include "harness.h"
#include "proto/merkle.h"
#include "proto/note.h"
#include "proto/status.h"

#define ORIGIN "vigil.test/log"      /* the harness's [log] origin */
#define DEMO "se-stockholm-coord/SE-2026-0042"   /* the demo's case */
#define SECOND "se-stockholm-coord/SE-2026-0051" /* a case handed to another coordinator */
#define THIRD "se-stockholm-coord/SE-2026-0063"  /* a case offered to police */
#define NEVER "se-stockholm-coord/SE-2026-9999"  /* a case nobody opened */
#define CONSENT_AT "2026-09-28T10:00:00Z"
#define CONSENT_AT_MS 1790589600000LL
#define ATTEMPT_AT "2026-09-30T08:00:00Z"
#define ATTEMPT_AT_MS 1790755200000LL
#define REFUSED "vigil: refused by relay: "
#define CLOSE_DENIED "only the owner (se-stockholm-coord) or the responsible coordinator closes the case"
#define READERS_DENIED                                                                   \
	"only the owner (se-stockholm-coord) or the responsible coordinator lists who read the " \
	"case"
#define CLOSED(id) "case " id " is closed; its owner reopens it with a case open"

static struct trelay R; /* one relay for the whole file */

/* ---- running the tool -------------------------------------------------------- */

/* Results are large: one static buffer per slot. */
static struct cli_result res[4];

/* vigil --relay ... --cert/--key <who> ... followed by the arguments up to
 * a NULL; runs it and returns its result.  A member's own certificate
 * comes with its encryption certificate and key (an offer re-seals the
 * case's earlier texts with them). */
static struct cli_result *vigil_as(int slot, const char *who, ...)
{
	static struct cli_args a;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add_conn(&a, R.port, who, "ca.crt");
	char enc[64];
	snprintf(enc, sizeof(enc), "%s.enc.key", who);
	if (access(pki(enc), R_OK) == 0)
		cli_add(&a, "--enc-cert", cli_keep(&a, "%s/%s.enc.crt", PKI_DIR, who), "--enc-key",
			cli_keep(&a, "%s/%s.enc.key", PKI_DIR, who), NULL);
	va_list ap;
	va_start(ap, who);
	cli_addv(&a, ap);
	va_end(ap);
	struct cli_result *r = &res[slot];
	r->status = cli_run(&a, NULL, r->out, sizeof(r->out), r->err, sizeof(r->err));
	return r;
}

/* A refusal by the relay: status 1, stdout empty, exactly one line. */
static void expect_refused(const struct cli_result *r, const char *code, const char *message)
{
	cli_expect_status(r, 1);
	assert_string_equal(r->out, "");
	char want[600];
	snprintf(want, sizeof(want), REFUSED "%s: %s\n", code, message);
	assert_string_equal(r->err, want);
}

/* ---- the database ------------------------------------------------------------------- */

static long long entries(void)
{
	return db_int(&R, "SELECT count(*) FROM entries");
}

static long long case_entries(const char *case_id)
{
	char sql[200];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM entries WHERE case_id = '%s'", case_id);
	return db_int(&R, sql);
}

static void entry_text(unsigned long long idx, const char *column, char *out, size_t n)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT %s FROM entries WHERE idx = %llu", column, idx);
	if (db_text(&R, sql, out, n) != 0)
		fail_msg("no entry %llu", idx);
}

static long long entry_int(unsigned long long idx, const char *column)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT %s FROM entries WHERE idx = %llu", column, idx);
	return db_int(&R, sql);
}

/* The record stored at idx, parsed (free with vigil__v1__record__free_unpacked). */
static Vigil__V1__Record *stored_record(unsigned long long idx)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT record FROM entries WHERE idx = %llu", idx);
	uint8_t *rec;
	size_t len;
	if (db_blob(&R, sql, &rec, &len) != 0)
		fail_msg("no entry %llu", idx);
	Vigil__V1__Record *r = vigil__v1__record__unpack(NULL, len, rec);
	free(rec);
	assert_non_null(r);
	return r;
}

/* ---- a little JSON ------------------------------------------------------------------- */

/* The whole output is one JSON object on one line. */
static void one_object(const char *out)
{
	const char *end = jskip(out);
	if (*out != '{' || !end || strcmp(end, "\n") != 0)
		fail_msg("not one JSON object on one line: %s", out);
}

/* ---- verifying what the tool printed ------------------------------------------------------ */

/* The note verifies with PKI_DIR/checkpoint.pub as ORIGIN; *cp is what it
 * says. */
static void check_note(const char *note, struct checkpoint *cp)
{
	FILE *f = fopen(pki("checkpoint.pub"), "r");
	assert_non_null(f);
	EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	struct note_verifier v;
	assert_int_equal(note_verifier_from_key(k, ORIGIN, &v), VG_OK);
	EVP_PKEY_free(k);
	size_t text_len;
	assert_int_equal(note_open(note, strlen(note), &v, &text_len), VG_OK);
	assert_int_equal(checkpoint_parse(note, text_len, cp), VG_OK);
}

/* The proof (a JSON array of hex nodes) leads from the hex leaf hash at idx
 * to cp's root. */
static void check_proof(const char *proof_json, const char *leaf_hex, unsigned long long idx,
			const struct checkpoint *cp)
{
	merkle_hash proof[MERKLE_MAX_PROOF];
	size_t n = 0;
	const char *p;
	while ((p = jnth(proof_json, n)) != NULL) {
		char hex[80];
		jstr(p, hex, sizeof(hex));
		assert_true(n < MERKLE_MAX_PROOF);
		assert_int_equal(hex_decode(hex, proof[n], SHA256_LEN), VG_OK);
		n++;
	}
	uint8_t leaf[SHA256_LEN];
	assert_int_equal(hex_decode(leaf_hex, leaf, SHA256_LEN), VG_OK);
	assert_true(idx < cp->size);
	if (merkle_verify_inclusion(idx, cp->size, leaf, proof, n, cp->root) != VG_OK)
		fail_msg("the inclusion proof of entry %llu does not verify", idx);
}

/* A --json receipt: one object with the receipt's members (and offer_id
 * when want_offer), agreeing with the row the relay stored, its proof
 * verified.  Returns the entry's index; *record_id gets its hex id. */
static unsigned long long check_receipt(const char *out, int want_offer, char record_id[33])
{
	one_object(out);
	char keys[512], want[512];
	jkeys(out, keys, sizeof(keys));
	snprintf(want, sizeof(want), "index,leaf_hash,received_at,record_id,duplicate,checkpoint,"
		 "inclusion_proof%s,summary,checkpoint_size", want_offer ? ",offer_id" : "");
	assert_string_equal(keys, want);
	/* What happened, in words, to the case. */
	char summary[512];
	jstr(jmust(out, "summary"), summary, sizeof(summary));
	if (strncmp(summary, "case ", 5) != 0)
		fail_msg("summary: %s", summary);
	unsigned long long idx = jnum(jmust(out, "index"));
	char leaf[80], id[80], at[64], db[200], note[4096];
	jstr(jmust(out, "leaf_hash"), leaf, sizeof(leaf));
	jstr(jmust(out, "record_id"), id, sizeof(id));
	jstr(jmust(out, "received_at"), at, sizeof(at));
	jstr(jmust(out, "checkpoint"), note, sizeof(note));
	assert_true(strncmp(jmust(out, "duplicate"), "false", 5) == 0);
	entry_text(idx, "lower(hex(leaf_hash))", db, sizeof(db));
	assert_string_equal(leaf, db);
	entry_text(idx, "lower(hex(record_id))", db, sizeof(db));
	assert_string_equal(id, db);
	char t[TIME_RFC3339_MAX];
	time_format_rfc3339(entry_int(idx, "received_at_ms"), t);
	assert_string_equal(at, t);
	struct checkpoint cp;
	check_note(note, &cp);
	check_proof(jmust(out, "inclusion_proof"), leaf, idx, &cp);
	assert_int_equal(strlen(id), 32);
	memcpy(record_id, id, 33);
	return idx;
}

static void hex_of(const uint8_t *b, size_t n, char *out)
{
	hex_encode(b, n, out);
}

static void time_of(int64_t ms, char out[TIME_RFC3339_MAX])
{
	time_format_rfc3339(ms, out);
}

/* ---- fixtures ---------------------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	trelay_setup(&R, NULL, NULL);
	return trelay_start(&R) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	int rc = trelay_stop(&R);
	trelay_cleanup(&R);
	if (rc != 0) {
		fprintf(stderr, "relay exit status %d\n", rc);
		return -1;
	}
	return 0;
}

/* ---- the audit of reads -------------------------------------------------------------- */

static unsigned long long read_count(const char *case_id)
{
	char sql[200];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM case_reads WHERE case_id = '%s'",
		 case_id);
	return (unsigned long long)db_int(&R, sql);
}

/* The latest read of the case. */
static void read_last(const char *case_id, char *org, size_t org_len, char *what,
		      size_t what_len)
{
	char sql[300];
	snprintf(sql, sizeof(sql), "SELECT org FROM case_reads WHERE case_id = '%s' ORDER BY id "
		 "DESC LIMIT 1", case_id);
	assert_int_equal(db_text(&R, sql, org, org_len), 0);
	snprintf(sql, sizeof(sql), "SELECT what FROM case_reads WHERE case_id = '%s' ORDER BY id "
		 "DESC LIMIT 1", case_id);
	assert_int_equal(db_text(&R, sql, what, what_len), 0);
}

/* Read k of the case's reads (oldest first) as the tool prints it. */
static void read_line(const char *case_id, int k, char *out, size_t n)
{
	char sql[300], org[80], what[32];
	snprintf(sql, sizeof(sql), "SELECT org FROM case_reads WHERE case_id = '%s' ORDER BY id "
		 "LIMIT 1 OFFSET %d", case_id, k);
	assert_int_equal(db_text(&R, sql, org, sizeof(org)), 0);
	snprintf(sql, sizeof(sql), "SELECT what FROM case_reads WHERE case_id = '%s' ORDER BY id "
		 "LIMIT 1 OFFSET %d", case_id, k);
	assert_int_equal(db_text(&R, sql, what, sizeof(what)), 0);
	snprintf(sql, sizeof(sql), "SELECT at_ms FROM case_reads WHERE case_id = '%s' ORDER BY "
		 "id LIMIT 1 OFFSET %d", case_id, k);
	char t[TIME_RFC3339_MAX];
	time_of(db_int(&R, sql), t);
	snprintf(out, n, "%s %s %s\n", t, org, what);
}

/* ---- the demo ------------------------------------------------------------------------ */

static const char police_keys[] = "case_id,view,owner,state,responsible,risk,minor,last_attempt,"
				  "last_attempt_channel,last_attempt_outcome,last_success,"
				  "alert_stage,alert_stage_label,alert_id,alert_kind";
static const char full_keys[] = "case_id,view,owner,state,responsible,risk,minor,last_attempt,"
				"last_attempt_channel,last_attempt_outcome,last_success,"
				"alert_stage,alert_stage_label,alert_id,alert_kind,next_deadline,parties,immediate_danger,factors,pending_offer_to,"
				"pending_offer_id,attempts,failed_attempts,return_country,"
				"return_date,opened_at,entries,consent_scope,override,close_reason";

/* The raw JSON of member key starts with want (numbers, true, null, [..]). */
static void expect_raw(const char *out, const char *key, const char *want)
{
	const char *v = jmust(out, key);
	if (strncmp(v, want, strlen(want)) != 0 || !strchr(",}", v[strlen(want)]))
		fail_msg("\"%s\" is %.80s, expected %s", key, v, want);
}

static char demo_offer[33];
static unsigned long long demo_idx[6]; /* open, offer, accept, contact, risk */

/* The Stockholm coordinator opens the case, with consent to share it with
 * IOM, and offers the handover to IOM Moscow, which accepts. */
static void test_demo_open_offer_accept(void **state)
{
	(void)state;
	long long before = entries();
	char id[33];
	struct cli_result *r = vigil_as(0, "se-stockholm-coord", "case", "open", "--case", DEMO,
				    "--risk", "high", "--return-country", "RU", "--return-date",
				    "2026-10-01", "--party", "iom-ru-moscow", "--party",
				    "se-police-noa", "--consent", "share-with-iom", "--consent-at",
				    CONSENT_AT, "--json", NULL);
	cli_expect_ok(r);
	demo_idx[0] = check_receipt(r->out, 0, id);
	assert_int_equal(entries(), before + 1);
	Vigil__V1__Record *rec = stored_record(demo_idx[0]);
	assert_string_equal(rec->case_id, DEMO);
	assert_string_equal(rec->author, "se-stockholm-coord");
	assert_int_equal(rec->body_case, VIGIL__V1__RECORD__BODY_CASE_OPEN);
	const Vigil__V1__CaseOpen *o = rec->case_open;
	assert_int_equal(o->risk, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH);
	assert_false(o->minor);
	assert_string_equal(o->return_country, "RU");
	assert_string_equal(o->return_date, "2026-10-01");
	assert_int_equal(o->n_parties, 2);
	assert_string_equal(o->parties[0], "iom-ru-moscow");
	assert_string_equal(o->parties[1], "se-police-noa");
	assert_int_equal(o->basis_case, VIGIL__V1__CASE_OPEN__BASIS_CONSENT);
	assert_string_equal(o->consent->scope, "share-with-iom");
	assert_int_equal(o->consent->given_at_ms, CONSENT_AT_MS);
	vigil__v1__record__free_unpacked(rec, NULL);

	/* The offer; its id is the offer record's id. */
	r = vigil_as(0, "se-stockholm-coord", "handover", "offer", "--case", DEMO, "--to",
		     "iom-ru-moscow", "--reason", "return", "--consent-ref", "consent-2026-09-28",
		     "--json", NULL);
	cli_expect_ok(r);
	demo_idx[1] = check_receipt(r->out, 1, id);
	expect_member(r->out, "offer_id", id);
	snprintf(demo_offer, sizeof(demo_offer), "%s", id);
	rec = stored_record(demo_idx[1]);
	assert_int_equal(rec->body_case, VIGIL__V1__RECORD__BODY_HANDOVER_OFFER);
	assert_string_equal(rec->handover_offer->to, "iom-ru-moscow");
	assert_int_equal(rec->handover_offer->reason,
			 VIGIL__V1__HANDOVER_REASON__HANDOVER_REASON_RETURN);
	assert_string_equal(rec->handover_offer->consent_ref, "consent-2026-09-28");
	vigil__v1__record__free_unpacked(rec, NULL);

	/* IOM sees the pending offer in its status (text). */
	r = vigil_as(0, "iom-ru-moscow", "status", DEMO, NULL);
	cli_expect_ok(r);
	char want[300];
	snprintf(want, sizeof(want), "\npending offer:           to iom-ru-moscow, offer id %s\n",
		 demo_offer);
	if (!strstr(r->out, want) || !strstr(r->out, "\nresponsible:             "
							 "se-stockholm-coord\n"))
		fail_msg("unexpected status: %s", r->out);

	/* IOM accepts: the tool finds the offer in the status. */
	r = vigil_as(0, "iom-ru-moscow", "handover", "accept", "--case", DEMO, "--json", NULL);
	cli_expect_ok(r);
	demo_idx[2] = check_receipt(r->out, 1, id);
	expect_member(r->out, "offer_id", demo_offer);
	rec = stored_record(demo_idx[2]);
	assert_int_equal(rec->body_case, VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER);
	char hex[33];
	hex_of(rec->handover_answer->offer_id.data, rec->handover_answer->offer_id.len, hex);
	assert_string_equal(hex, demo_offer);
	assert_true(rec->handover_answer->accept);
	assert_string_equal(rec->handover_answer->decline_reason, "");
	vigil__v1__record__free_unpacked(rec, NULL);
	assert_int_equal(entries(), before + 3);

	/* IOM reports an attempt to reach her. */
	r = vigil_as(0, "iom-ru-moscow", "contact", "--case", DEMO, "--channel", "phone",
		     "--outcome", "no-answer", "--at", ATTEMPT_AT, NULL);
	cli_expect_ok(r);
	/* The text speaks of the case first, then of the log. */
	const char *line2 = strchr(r->out, '\n');
	assert_non_null(line2);
	assert_true(strncmp(r->out, "case " DEMO ": contact attempt recorded: phone, no answer\n",
			    (size_t)(line2 - r->out + 1)) == 0);
	assert_int_equal(sscanf(line2 + 1, "entry %llu at ", &demo_idx[3]), 1);
	assert_non_null(strstr(line2, "; verified: included in checkpoint of size "));
}

/* Police ask for the status and get the minimal answer: exactly the ten
 * fields with the view and the owner, in JSON and as text; IOM, responsible
 * now, gets everything. */
static void test_demo_police_status(void **state)
{
	(void)state;
	struct cli_result *r = vigil_as(0, "se-police-noa", "status", DEMO, "--json", NULL);
	cli_expect_ok(r);
	one_object(r->out);
	char keys[1024];
	jkeys(r->out, keys, sizeof(keys));
	assert_string_equal(keys, police_keys);
	expect_member(r->out, "case_id", DEMO);
	expect_member(r->out, "view", "police");
	expect_member(r->out, "owner", "se-stockholm-coord");
	expect_member(r->out, "state", "active");
	expect_member(r->out, "responsible", "iom-ru-moscow");
	expect_member(r->out, "risk", "high");
	expect_raw(r->out, "minor", "false");
	char at[TIME_RFC3339_MAX];
	time_of(ATTEMPT_AT_MS, at);
	expect_member(r->out, "last_attempt", at);
	expect_member(r->out, "last_attempt_channel", "phone");
	expect_member(r->out, "last_attempt_outcome", "no-answer");
	expect_raw(r->out, "last_success", "null");
	expect_raw(r->out, "alert_stage", "0");
	/* Nothing of the parties, factors, consent or offers anywhere: the
	 * owner is named once, as the owner (and in the case id). */
	static const char owner[] = "\"owner\":\"se-stockholm-coord\"";
	const char *own = strstr(r->out, owner);
	assert_non_null(own);
	assert_null(strstr(own + strlen(owner), "se-stockholm-coord"));
	assert_null(strstr(r->out, "se-police-noa"));
	assert_null(strstr(r->out, "share-with-iom"));
	assert_null(strstr(r->out, "RU"));

	r = vigil_as(0, "se-police-noa", "status", DEMO, NULL);
	cli_expect_ok(r);
	char want[1024];
	snprintf(want, sizeof(want),
		 "case:                    " DEMO "\n"
		 "view:                    police (the relay withholds the other fields)\n"
		 "owner:                   se-stockholm-coord\n"
		 "state:                   active\n"
		 "responsible:             iom-ru-moscow\n"
		 "risk:                    high\n"
		 "minor:                   no\n"
		 "last attempt:            %s phone no-answer\n"
		 "last successful contact: none\n"
		 "alert stage:             0 (no open alert)\n", at);
	assert_string_equal(r->out, want);

	/* The same case for IOM: every field, so the police answer above is
	 * the relay's doing, not the tool leaving fields out. */
	r = vigil_as(0, "iom-ru-moscow", "status", DEMO, "--json", NULL);
	cli_expect_ok(r);
	one_object(r->out);
	jkeys(r->out, keys, sizeof(keys));
	assert_string_equal(keys, full_keys);
	expect_member(r->out, "view", "full");
	expect_member(r->out, "owner", "se-stockholm-coord");
	expect_raw(r->out, "parties",
		   "[\"iom-ru-moscow\",\"se-police-noa\",\"se-stockholm-coord\"]");
	expect_member(r->out, "consent_scope", "share-with-iom");
	expect_raw(r->out, "override", "false");
	expect_raw(r->out, "pending_offer_to", "null");
	expect_raw(r->out, "pending_offer_id", "null");
	expect_raw(r->out, "attempts", "1");
	/* The attempt is dated before the case was opened: stored and shown,
	 * no failure since the watchdog's base (proto/README.md, "Alerts"). */
	expect_raw(r->out, "failed_attempts", "0");
	expect_member(r->out, "return_country", "RU");
	expect_member(r->out, "return_date", "2026-10-01");
	expect_raw(r->out, "entries", "4");
	expect_raw(r->out, "close_reason", "null");
}

/* IOM records a risk assessment with factors; its status shows them. */
static void test_demo_risk(void **state)
{
	(void)state;
	char id[33];
	struct cli_result *r = vigil_as(0, "iom-ru-moscow", "risk", "--case", DEMO, "--level", "high",
				    "--factor", "debt-bondage", "--factor", "witness", "--phase",
				    "on-arrival", "--immediate-danger", "--json", NULL);
	cli_expect_ok(r);
	demo_idx[4] = check_receipt(r->out, 0, id);
	Vigil__V1__Record *rec = stored_record(demo_idx[4]);
	assert_int_equal(rec->body_case, VIGIL__V1__RECORD__BODY_RISK_ASSESSMENT);
	const Vigil__V1__RiskAssessment *a = rec->risk_assessment;
	assert_int_equal(a->level, VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH);
	assert_int_equal(a->n_factors, 2);
	assert_int_equal(a->factors[0], VIGIL__V1__RISK_FACTOR__RISK_FACTOR_DEBT_BONDAGE);
	assert_int_equal(a->factors[1], VIGIL__V1__RISK_FACTOR__RISK_FACTOR_WITNESS);
	assert_true(a->immediate_danger);
	assert_int_equal(a->phase, VIGIL__V1__ASSESSMENT_PHASE__ASSESSMENT_PHASE_ON_ARRIVAL);
	vigil__v1__record__free_unpacked(rec, NULL);

	r = vigil_as(0, "iom-ru-moscow", "status", DEMO, "--json", NULL);
	cli_expect_ok(r);
	expect_raw(r->out, "factors", "[\"debt-bondage\",\"witness\"]");
	expect_raw(r->out, "immediate_danger", "true");
	r = vigil_as(0, "iom-ru-moscow", "status", DEMO, NULL);
	cli_expect_ok(r);
	if (!strstr(r->out, "\nfactors:                 debt-bondage, witness\n") ||
	    !strstr(r->out, "\nimmediate danger:        yes\n"))
		fail_msg("unexpected status: %s", r->out);

	/* A shelter, no party to this case, learns nothing of it. */
	long long before = entries();
	r = vigil_as(0, "se-shelter-1", "risk", "--case", DEMO, "--level", "low", "--phase",
		     "periodic", NULL);
	expect_refused(r, "NOT_FOUND", "case " DEMO " not found");
	assert_int_equal(entries(), before);
}

/* The number of lines of s. */
static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* vigil log pages under the hood: 250 entries (CaseOpen and 249 contacts,
 * submitted over the wire) are shown whole; --limit and --after fetch one
 * page and say how to ask for the next; --limit 1001 is a usage error. */
static void test_log_paging(void **state)
{
	(void)state;
	const char *id = "se-stockholm-coord/CLI-PAGE-1";
	struct tclient coord, iom;
	assert_int_equal(tclient_open(&coord, R.port, "se-stockholm-coord"), 0);
	assert_int_equal(tclient_open(&iom, R.port, "iom-ru-moscow"), 0);
	static const char *const parties[] = { "iom-ru-moscow" };
	Vigil__V1__Frame *a = casekit_open(&coord, id, parties, 1,
					   VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM, 0);
	assert_string_equal(casekit_outcome(a), "RECEIPT");
	frame_free(a);
	for (int i = 0; i < 249; i++) {
		a = casekit_contact(&iom, id, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER);
		assert_string_equal(casekit_outcome(a), "RECEIPT");
		frame_free(a);
	}
	tclient_close(&coord);
	tclient_close(&iom);

	struct cli_result *r = vigil_as(0, "iom-ru-moscow", "log", id, NULL);
	cli_expect_ok(r);
	assert_int_equal(count_lines(r->out), 251);
	assert_non_null(strstr(r->out, "\nverified: 250 entries, every inclusion proof leads to "
				       "the checkpoint of size "));
	assert_null(strstr(r->out, "more:"));
	unsigned long long first = 0;
	assert_int_equal(sscanf(r->out, "%llu ", &first), 1);

	/* The first page of 100: 100 lines, verified, then how to go on. */
	r = vigil_as(0, "iom-ru-moscow", "log", id, "--limit", "100", NULL);
	cli_expect_ok(r);
	assert_int_equal(count_lines(r->out), 102);
	assert_non_null(strstr(r->out, "\nverified: 100 entries, "));
	const char *last_line = r->out;
	for (int i = 0; i < 99; i++)
		last_line = strchr(last_line, '\n') + 1;
	unsigned long long last = 0;
	assert_int_equal(sscanf(last_line, "%llu ", &last), 1);
	assert_true(last > first);
	char want[256];
	snprintf(want, sizeof(want), "more: vigil log %s --after %llu\n", id, last);
	assert_non_null(strstr(r->out, "more: "));
	assert_string_equal(strstr(r->out, "more: "), want);

	/* After it, the other 150, nothing more. */
	char after[32];
	snprintf(after, sizeof(after), "%llu", last);
	r = vigil_as(0, "iom-ru-moscow", "log", id, "--after", after, "--limit", "1000", NULL);
	cli_expect_ok(r);
	assert_int_equal(count_lines(r->out), 151);
	assert_non_null(strstr(r->out, "\nverified: 150 entries, "));
	assert_null(strstr(r->out, "more:"));
	unsigned long long next = 0;
	assert_int_equal(sscanf(r->out, "%llu ", &next), 1);
	assert_true(next > last);

	/* --after alone: the relay's default page of 100, more to come. */
	snprintf(after, sizeof(after), "%llu", first);
	r = vigil_as(0, "iom-ru-moscow", "log", id, "--after", after, NULL);
	cli_expect_ok(r);
	assert_int_equal(count_lines(r->out), 102);
	/* With --json (a small page: the output buffer is bounded). */
	r = vigil_as(0, "iom-ru-moscow", "log", id, "--after", after, "--limit", "3", "--json",
		     NULL);
	cli_expect_ok(r);
	one_object(r->out);
	char keys[512];
	jkeys(r->out, keys, sizeof(keys));
	assert_string_equal(keys, "case_id,checkpoint,checkpoint_size,verified,more,entries");
	assert_non_null(strstr(r->out, "\"more\":true"));

	r = vigil_as(0, "iom-ru-moscow", "log", id, "--limit", "1001", NULL);
	cli_expect_usage(r, "log: --limit wants a number of entries in 1..1000, not '1001'");
	r = vigil_as(0, "iom-ru-moscow", "log", id, "--after", "x", NULL);
	cli_expect_usage(r, "log: --after wants a log index (a number), not 'x'");
}

/* The log as IOM: one line per entry, decoded from the record bytes,
 * checked against the stored rows; and with --json every proof checked
 * here against the signed checkpoint. */
static void test_demo_log(void **state)
{
	(void)state;
	struct cli_result *r = vigil_as(0, "iom-ru-moscow", "log", DEMO, NULL);
	cli_expect_ok(r);
	assert_int_equal(case_entries(DEMO), 5);
	char t[5][TIME_RFC3339_MAX], at[TIME_RFC3339_MAX], consent_at[TIME_RFC3339_MAX];
	for (int i = 0; i < 5; i++)
		time_of(entry_int(demo_idx[i], "received_at_ms"), t[i]);
	time_of(ATTEMPT_AT_MS, at);
	time_of(CONSENT_AT_MS, consent_at);
	char want[4096];
	int n = snprintf(want, sizeof(want),
		 "%llu %s se-stockholm-coord case-open risk=high minor=no return-country=RU "
		 "return-date=2026-10-01 parties=iom-ru-moscow,se-police-noa "
		 "consent=share-with-iom consent-at=%s\n"
		 "%llu %s se-stockholm-coord handover-offer to=iom-ru-moscow reason=return "
		 "consent-ref=consent-2026-09-28\n"
		 "%llu %s iom-ru-moscow handover-answer offer=%s answer=accept\n"
		 "%llu %s iom-ru-moscow contact channel=phone outcome=no-answer attempted-at=%s\n"
		 "%llu %s iom-ru-moscow risk level=high factors=debt-bondage,witness "
		 "immediate-danger=yes phase=on-arrival\n",
		 demo_idx[0], t[0], consent_at, demo_idx[1], t[1], demo_idx[2], t[2], demo_offer,
		 demo_idx[3], t[3], at, demo_idx[4], t[4]);
	if (strncmp(r->out, want, (size_t)n) != 0)
		fail_msg("unexpected log:\n%s\nexpected:\n%s", r->out, want);
	unsigned long long size = 0;
	if (sscanf(r->out + n, "verified: 5 entries, every inclusion proof leads to the "
			       "checkpoint of size %llu\n", &size) != 1)
		fail_msg("no verified line: %s", r->out + n);
	assert_true(size > demo_idx[4] && size <= (unsigned long long)entries());
	snprintf(want, sizeof(want), "verified: 5 entries, every inclusion proof leads to the "
		 "checkpoint of size %llu\n", size);
	assert_string_equal(r->out + n, want);

	r = vigil_as(0, "iom-ru-moscow", "log", DEMO, "--json", NULL);
	cli_expect_ok(r);
	one_object(r->out);
	char keys[512];
	jkeys(r->out, keys, sizeof(keys));
	assert_string_equal(keys, "case_id,checkpoint,checkpoint_size,verified,entries");
	static char note[4096];
	jstr(jmust(r->out, "checkpoint"), note, sizeof(note));
	struct checkpoint cp;
	check_note(note, &cp);
	assert_int_equal(jnum(jmust(r->out, "checkpoint_size")), cp.size);
	expect_raw(r->out, "verified", "true");
	const char *list = jmust(r->out, "entries"), *e;
	size_t i = 0;
	while ((e = jnth(list, i)) != NULL) {
		assert_true(i < 5);
		unsigned long long idx = jnum(jmust(e, "index"));
		assert_int_equal(idx, demo_idx[i]);
		char leaf[80], db[200], b64[4096];
		jstr(jmust(e, "leaf_hash"), leaf, sizeof(leaf));
		entry_text(idx, "lower(hex(leaf_hash))", db, sizeof(db));
		assert_string_equal(leaf, db);
		check_proof(jmust(e, "inclusion_proof"), leaf, idx, &cp);
		/* The record bytes are the stored ones. */
		jstr(jmust(e, "record"), b64, sizeof(b64));
		static uint8_t bytes[4096];
		int len = base64_decode(b64, strlen(b64), bytes, sizeof(bytes));
		assert_true(len > 0);
		char sql[128];
		snprintf(sql, sizeof(sql), "SELECT record FROM entries WHERE idx = %llu", idx);
		uint8_t *stored;
		size_t stored_len;
		assert_int_equal(db_blob(&R, sql, &stored, &stored_len), 0);
		assert_int_equal((size_t)len, stored_len);
		assert_memory_equal(bytes, stored, stored_len);
		free(stored);
		entry_text(idx, "author", db, sizeof(db));
		expect_member(e, "author", db);
		i++;
	}
	assert_int_equal(i, 5);
	const char *body = jmust(jnth(list, 0), "body");
	expect_member(body, "consent_scope", "share-with-iom");
	expect_raw(body, "parties", "[\"iom-ru-moscow\",\"se-police-noa\"]");
	expect_member(jnth(list, 1), "kind", "handover-offer");
	expect_member(jmust(jnth(list, 2), "body"), "offer_id", demo_offer);

	/* Police do not get the records; a non-party gets nothing at all. */
	r = vigil_as(0, "se-police-noa", "log", DEMO, NULL);
	expect_refused(r, "PERMISSION_DENIED",
		       "the case's records are for coordinator, iom, shelter and responsible "
		       "parties");
	r = vigil_as(0, "other-iom", "log", DEMO, NULL);
	expect_refused(r, "NOT_FOUND", "case " DEMO " not found");
}

/* The case list: IOM's shows the case, the other IOM's does not. */
static void test_demo_cases(void **state)
{
	(void)state;
	struct cli_result *r = vigil_as(0, "iom-ru-moscow", "cases", NULL);
	cli_expect_ok(r);
	/* IOM is a party to this one case so far: a header and one row, the
	 * columns aligned. */
	char head[256], row[256], rest[8];
	int k = sscanf(r->out, "%255[^\n]\n%255[^\n]\n%7s", head, row, rest);
	if (k != 2)
		fail_msg("the case list: %s", r->out);
	char col[8][64];
	assert_int_equal(sscanf(head, "%63s %63s %63s %63s %63s %63s %63s %63s", col[0], col[1],
				col[2], col[3], col[4], col[5], col[6], col[7]), 8);
	static const char *const heads[] = { "CASE", "STATE", "RESPONSIBLE", "RISK", "MINOR",
					     "LAST-SUCCESS", "NEXT-DEADLINE", "ALERT" };
	for (int i = 0; i < 8; i++)
		assert_string_equal(col[i], heads[i]);
	assert_int_equal(sscanf(row, "%63s %63s %63s %63s %63s %63s %63s %63s", col[0], col[1],
				col[2], col[3], col[4], col[5], col[6], col[7]), 8);
	assert_string_equal(col[0], DEMO);
	assert_string_equal(col[1], "active");
	assert_string_equal(col[2], "iom-ru-moscow");
	assert_string_equal(col[3], "high");
	assert_string_equal(col[4], "no");
	assert_string_equal(col[5], "-");
	int64_t next;
	assert_int_equal(time_parse_rfc3339(col[6], &next), VG_OK); /* its next deadline */
	assert_string_equal(col[7], "-");                           /* no open alert */
	/* Each value starts where its heading does. */
	assert_int_equal(strstr(row, "active") - row, strstr(head, "STATE") - head);
	assert_int_equal(strrchr(row, '-') - row, strstr(head, "ALERT") - head);
	/* The filters: not alerting, not overdue, IOM responsible, active. */
	r = vigil_as(0, "iom-ru-moscow", "cases", "--alerting", NULL);
	cli_expect_ok(r);
	assert_string_equal(r->out, "no cases\n");
	r = vigil_as(0, "iom-ru-moscow", "cases", "--overdue", NULL);
	cli_expect_ok(r);
	assert_string_equal(r->out, "no cases\n");
	r = vigil_as(0, "iom-ru-moscow", "cases", "--responsible-is-us", "--state", "Active",
		     "--json", NULL);
	cli_expect_ok(r);
	assert_non_null(strstr(r->out, "\"case_id\":\"" DEMO "\""));
	expect_raw(jnth(jmust(r->out, "cases"), 0), "alert_stage", "0");
	r = vigil_as(0, "se-stockholm-coord", "cases", "--responsible-is-us", NULL);
	cli_expect_ok(r);
	assert_null(strstr(r->out, DEMO));
	r = vigil_as(0, "iom-ru-moscow", "cases", "--state", "closed", NULL);
	cli_expect_ok(r);
	assert_string_equal(r->out, "no cases\n");
	r = vigil_as(0, "iom-ru-moscow", "cases", "--state", "sleeping", NULL);
	cli_expect_usage(r, "cases: --state wants active, follow-up or closed, not 'sleeping'");
	r = vigil_as(0, "iom-ru-moscow", "--json", "cases", NULL);
	cli_expect_ok(r);
	one_object(r->out);
	const char *list = jmust(r->out, "cases"), *e;
	int found = 0;
	for (size_t i = 0; (e = jnth(list, i)) != NULL; i++) {
		char id[80];
		jstr(jmust(e, "case_id"), id, sizeof(id));
		if (strcmp(id, DEMO) == 0) {
			found++;
			expect_member(e, "state", "active");
			expect_member(e, "responsible", "iom-ru-moscow");
			expect_member(e, "risk", "high");
			expect_raw(e, "minor", "false");
		}
	}
	assert_int_equal(found, 1);

	r = vigil_as(0, "other-iom", "cases", NULL);
	cli_expect_ok(r);
	assert_string_equal(r->out, "no cases\n");
	r = vigil_as(0, "other-iom", "cases", "--json", NULL);
	cli_expect_ok(r);
	assert_string_equal(r->out, "{\"cases\":[]}\n");
}

/* After the handover IOM is responsible, and the Stockholm coordinator,
 * the owner, still lists the readers and closes; IOM (no coordinator) and
 * police do neither.  The owner reopens the case. */
static void test_demo_owner_readers_and_close(void **state)
{
	(void)state;
	long long before = entries();
	struct cli_result *r = vigil_as(0, "iom-ru-moscow", "case", "readers", DEMO, NULL);
	expect_refused(r, "PERMISSION_DENIED", READERS_DENIED);
	r = vigil_as(0, "se-police-noa", "case", "readers", DEMO, NULL);
	expect_refused(r, "PERMISSION_DENIED", READERS_DENIED);

	r = vigil_as(0, "se-police-noa", "case", "close", "--case", DEMO, "--reason",
		     "monitoring-completed", NULL);
	expect_refused(r, "PERMISSION_DENIED", CLOSE_DENIED);
	r = vigil_as(0, "iom-ru-moscow", "case", "close", "--case", DEMO, "--reason",
		     "monitoring-completed", "--json", NULL);
	cli_expect_status(r, 1);
	assert_string_equal(r->out, "{\"error\":\"PERMISSION_DENIED\",\"message\":\"" CLOSE_DENIED
				    "\"}\n");
	assert_string_equal(r->err, REFUSED "PERMISSION_DENIED: " CLOSE_DENIED "\n");
	assert_int_equal(entries(), before);
	r = vigil_as(0, "se-police-noa", "status", DEMO, "--json", NULL);
	cli_expect_ok(r);
	expect_member(r->out, "state", "active");
	expect_member(r->out, "responsible", "iom-ru-moscow");

	/* The owner lists the readers while IOM is responsible: the reads so
	 * far, the refusals above among them (exactly: at the end). */
	r = vigil_as(0, "se-stockholm-coord", "case", "readers", DEMO, "--json", NULL);
	cli_expect_ok(r);
	one_object(r->out);
	expect_member(r->out, "case_id", DEMO);
	{
		const char *list = jmust(r->out, "reads"), *e;
		int refused = 0;
		for (size_t i = 0; (e = jnth(list, i)) != NULL; i++) {
			char org[80], what[40];
			jstr(jmust(e, "organisation"), org, sizeof(org));
			jstr(jmust(e, "what"), what, sizeof(what));
			refused += !strcmp(org, "iom-ru-moscow") && !strcmp(what, "readers-refused");
			refused += !strcmp(org, "se-police-noa") && !strcmp(what, "readers-refused");
		}
		assert_int_equal(refused, 2);
	}

	/* The owner closes, IOM still responsible. */
	char id[33];
	r = vigil_as(0, "se-stockholm-coord", "case", "close", "--case", DEMO, "--reason",
		     "monitoring-completed", "--json", NULL);
	cli_expect_ok(r);
	unsigned long long idx = check_receipt(r->out, 0, id);
	Vigil__V1__Record *rec = stored_record(idx);
	assert_int_equal(rec->body_case, VIGIL__V1__RECORD__BODY_CASE_CLOSE);
	assert_string_equal(rec->author, "se-stockholm-coord");
	assert_int_equal(rec->case_close->reason,
			 VIGIL__V1__CLOSE_REASON__CLOSE_REASON_MONITORING_COMPLETED);
	vigil__v1__record__free_unpacked(rec, NULL);
	assert_int_equal(entries(), before + 1);
	r = vigil_as(0, "se-police-noa", "status", DEMO, "--json", NULL);
	cli_expect_ok(r);
	expect_member(r->out, "state", "closed");
	expect_member(r->out, "responsible", "iom-ru-moscow");
	r = vigil_as(0, "iom-ru-moscow", "contact", "--case", DEMO, "--channel", "phone",
		     "--outcome", "no-answer", NULL);
	expect_refused(r, "BAD_REQUEST", "case " DEMO " is closed; its owner reopens it with a "
					 "case open");
	assert_int_equal(entries(), before + 1);

	/* The owner reopens it (and is responsible again). */
	r = vigil_as(0, "se-stockholm-coord", "case", "open", "--case", DEMO, "--risk", "high",
		     "--return-country", "RU", "--return-date", "2026-10-01", "--consent",
		     "share-with-iom", "--consent-at", CONSENT_AT, "--json", NULL);
	cli_expect_ok(r);
	check_receipt(r->out, 0, id);
	r = vigil_as(0, "se-stockholm-coord", "status", DEMO, "--json", NULL);
	cli_expect_ok(r);
	expect_member(r->out, "state", "active");
	expect_member(r->out, "owner", "se-stockholm-coord");
	expect_member(r->out, "responsible", "se-stockholm-coord");
	expect_raw(r->out, "parties", "[\"iom-ru-moscow\",\"se-police-noa\",\"se-stockholm-coord\"]");

	/* The owner's listing: one line per read recorded before it. */
	unsigned long long n = read_count(DEMO);
	r = vigil_as(0, "se-stockholm-coord", "case", "readers", DEMO, NULL);
	cli_expect_ok(r);
	static char want[16384];
	char line[256];
	want[0] = '\0';
	for (unsigned long long k = 0; k < n; k++) {
		read_line(DEMO, (int)k, line, sizeof(line));
		strcat(want, line);
	}
	assert_string_equal(r->out, want);
	assert_non_null(strstr(want, " iom-ru-moscow readers-refused\n"));
	assert_non_null(strstr(want, " se-police-noa readers-refused\n"));
	assert_non_null(strstr(want, " se-shelter-1 risk-refused\n"));
	assert_int_equal(read_count(DEMO), n + 1);
}

/* ---- a case its coordinator keeps: readers, declines, withdrawals, close -------------- */

static void test_second_case_readers(void **state)
{
	(void)state;
	char id[33];
	struct cli_result *r = vigil_as(0, "se-stockholm-coord", "case", "open", "--case", SECOND,
				    "--risk", "medium", "--return-country", "MD", "--return-date",
				    "2026-08-15", "--party", "se-police-noa", "--party",
				    "iom-ru-moscow", "--override-risk-to-life",
				    "threats from the recruiter reported on arrival", "--json",
				    NULL);
	cli_expect_ok(r);
	unsigned long long idx = check_receipt(r->out, 0, id);
	Vigil__V1__Record *rec = stored_record(idx);
	assert_int_equal(rec->case_open->basis_case, VIGIL__V1__CASE_OPEN__BASIS_OVERRIDE);
	assert_int_equal(rec->case_open->override->reason,
			 VIGIL__V1__OVERRIDE_REASON__OVERRIDE_REASON_RISK_TO_LIFE);
	/* The justification is sealed: the record holds its commitment, and
	 * the parties that read narrative open it (police are none). */
	assert_string_equal(rec->case_open->override->justification, "");
	assert_non_null(rec->case_open->override->sealed_justification);
	assert_int_equal(rec->case_open->override->sealed_justification->n_readers, 2);
	vigil__v1__record__free_unpacked(rec, NULL);
	char why[256];
	char *text = db_sealed_text(&R, idx, "iom-ru-moscow", why, sizeof(why));
	if (!text)
		fail_msg("the sealed justification does not open: %s", why);
	assert_string_equal(text, "threats from the recruiter reported on arrival");
	free(text);
	assert_null(db_sealed_text(&R, idx, "se-police-noa", why, sizeof(why)));
	assert_string_equal(why, "this encryption certificate is not a recipient of the sealed "
				 "text");

	r = vigil_as(0, "se-stockholm-coord", "status", SECOND, NULL);
	cli_expect_ok(r);
	if (!strstr(r->out, "\nconsent:                 override (risk_to_life)\n") ||
	    !strstr(r->out, "\nreturn:                  MD 2026-08-15\n"))
		fail_msg("unexpected status: %s", r->out);
	assert_int_equal(read_count(SECOND), 1);
	cli_expect_ok(vigil_as(0, "se-police-noa", "status", SECOND, NULL));
	cli_expect_ok(vigil_as(0, "iom-ru-moscow", "log", SECOND, NULL));
	assert_int_equal(read_count(SECOND), 3);

	/* One line per read, exactly the recorded reads. */
	r = vigil_as(0, "se-stockholm-coord", "case", "readers", SECOND, NULL);
	cli_expect_ok(r);
	char want[1024], line[256];
	want[0] = '\0';
	for (int k = 0; k < 3; k++) {
		read_line(SECOND, k, line, sizeof(line));
		strcat(want, line);
	}
	assert_string_equal(r->out, want);
	assert_non_null(strstr(want, " se-police-noa status\n"));
	assert_non_null(strstr(want, " iom-ru-moscow log\n"));

	/* The listing above is a read too, listed the next time. */
	r = vigil_as(0, "se-stockholm-coord", "case", "readers", SECOND, "--json", NULL);
	cli_expect_ok(r);
	one_object(r->out);
	expect_member(r->out, "case_id", SECOND);
	const char *reads = jmust(r->out, "reads");
	assert_non_null(jnth(reads, 3));
	assert_null(jnth(reads, 4));
	expect_member(jnth(reads, 1), "organisation", "se-police-noa");
	expect_member(jnth(reads, 1), "what", "status");
	expect_member(jnth(reads, 3), "organisation", "se-stockholm-coord");
	expect_member(jnth(reads, 3), "what", "readers");
	char t[TIME_RFC3339_MAX];
	char sql[200];
	snprintf(sql, sizeof(sql), "SELECT at_ms FROM case_reads WHERE case_id = '%s' ORDER BY id "
		 "LIMIT 1 OFFSET 3", SECOND);
	time_of(db_int(&R, sql), t);
	expect_member(jnth(reads, 3), "at", t);
}

/* Declined, withdrawn, answered by the wrong organisation, and accepted by
 * an organisation that was no party: then the new responsible coordinator
 * closes the case; IOM, no coordinator, cannot. */
static void test_second_case_handovers(void **state)
{
	(void)state;
	char id[33], offer[33];
	struct cli_result *r = vigil_as(0, "se-stockholm-coord", "handover", "offer", "--case", SECOND,
				    "--to", "iom-ru-moscow", "--reason", "additional-services",
				    "--override-risk-to-life", "no consent can be asked safely",
				    "--json", NULL);
	cli_expect_ok(r);
	unsigned long long idx = check_receipt(r->out, 1, offer);
	expect_member(r->out, "offer_id", offer);
	Vigil__V1__Record *rec = stored_record(idx);
	assert_int_equal(rec->handover_offer->basis_case,
			 VIGIL__V1__HANDOVER_OFFER__BASIS_OVERRIDE);
	assert_int_equal(rec->handover_offer->reason,
			 VIGIL__V1__HANDOVER_REASON__HANDOVER_REASON_ADDITIONAL_SERVICES);
	vigil__v1__record__free_unpacked(rec, NULL);

	/* Police see no offers in their status, and are not the offered
	 * organisation anyway. */
	long long before = entries();
	r = vigil_as(0, "se-police-noa", "handover", "accept", "--case", SECOND, NULL);
	cli_expect_status(r, 1);
	assert_string_equal(r->out, "");
	assert_string_equal(r->err, "vigil: handover accept: the status of case " SECOND
				    " shows no pending handover offer (the relay does not show "
				    "offers to police: give --offer-id)\n");
	r = vigil_as(0, "se-police-noa", "handover", "accept", "--case", SECOND, "--offer-id",
		     offer, NULL);
	expect_refused(r, "PERMISSION_DENIED",
		       "only the offered organisation (iom-ru-moscow) answers this offer");
	assert_int_equal(entries(), before);

	/* IOM declines, with a reason; the coordinator stays responsible. */
	r = vigil_as(0, "iom-ru-moscow", "handover", "decline", "--case", SECOND, "--reason",
		     "no office in that region", NULL);
	cli_expect_ok(r);
	unsigned long long di;
	assert_true(strncmp(r->out, "case " SECOND ": handover declined\nentry ",
			    strlen("case " SECOND ": handover declined\nentry ")) == 0);
	assert_int_equal(sscanf(strchr(r->out, '\n') + 1, "entry %llu at ", &di), 1);
	char line[100];
	snprintf(line, sizeof(line), "\noffer_id: %s\n", offer);
	assert_non_null(strstr(r->out, line));
	rec = stored_record(di);
	assert_int_equal(rec->body_case, VIGIL__V1__RECORD__BODY_HANDOVER_ANSWER);
	assert_false(rec->handover_answer->accept);
	assert_string_equal(rec->handover_answer->decline_reason, "");
	assert_non_null(rec->handover_answer->sealed_decline_reason);
	vigil__v1__record__free_unpacked(rec, NULL);
	char why[256];
	char *text = db_sealed_text(&R, di, "se-stockholm-coord", why, sizeof(why));
	if (!text)
		fail_msg("the sealed decline reason does not open: %s", why);
	assert_string_equal(text, "no office in that region");
	free(text);
	r = vigil_as(0, "se-stockholm-coord", "status", SECOND, "--json", NULL);
	cli_expect_ok(r);
	expect_member(r->out, "responsible", "se-stockholm-coord");
	expect_raw(r->out, "pending_offer_id", "null");

	/* An offer to an organisation outside the case, withdrawn: while it
	 * is pending the outsider sees the offer (and no more); once it is
	 * withdrawn, not even the case. */
	r = vigil_as(0, "se-stockholm-coord", "handover", "offer", "--case", SECOND, "--to",
		     "se-goteborg-coord", "--reason", "other", "--consent-ref", "ref-7", "--json",
		     NULL);
	cli_expect_ok(r);
	check_receipt(r->out, 1, offer);
	r = vigil_as(0, "other-coord", "status", SECOND, "--json", NULL);
	cli_expect_ok(r);
	expect_member(r->out, "view", "offered");
	expect_member(r->out, "owner", "se-stockholm-coord");
	expect_member(r->out, "responsible", "se-stockholm-coord");
	expect_member(r->out, "pending_offer_id", offer);
	assert_null(jget(r->out, "last_attempt"));
	assert_null(jget(r->out, "parties"));
	r = vigil_as(0, "se-stockholm-coord", "handover", "withdraw", "--case", SECOND, "--json",
		     NULL);
	cli_expect_ok(r);
	idx = check_receipt(r->out, 1, id);
	expect_member(r->out, "offer_id", offer);
	rec = stored_record(idx);
	assert_int_equal(rec->body_case, VIGIL__V1__RECORD__BODY_HANDOVER_WITHDRAW);
	char hex[33];
	hex_of(rec->handover_withdraw->offer_id.data, RECORD_ID_LEN, hex);
	assert_string_equal(hex, offer);
	vigil__v1__record__free_unpacked(rec, NULL);
	before = entries();
	r = vigil_as(0, "se-stockholm-coord", "handover", "withdraw", "--case", SECOND, "--json",
		     NULL);
	cli_expect_status(r, 1);
	assert_string_equal(r->err, "vigil: handover withdraw: the status of case " SECOND
				    " shows no pending handover offer\n");
	assert_string_equal(r->out, "{\"error\":\"NO_PENDING_OFFER\",\"message\":\"handover "
				    "withdraw: the status of case " SECOND " shows no pending "
				    "handover offer\"}\n");
	/* The withdrawn offer, named by its id, cannot be accepted. */
	r = vigil_as(0, "other-coord", "handover", "accept", "--case", SECOND, "--offer-id", offer,
		     NULL);
	expect_refused(r, "NOT_FOUND", "case " SECOND " not found");
	assert_int_equal(entries(), before);
	char org[80], what[40];
	read_last(SECOND, org, sizeof(org), what, sizeof(what));
	assert_string_equal(org, "se-goteborg-coord");
	assert_string_equal(what, "answer-refused");

	/* Offered again and accepted by the outsider, given the id. */
	r = vigil_as(0, "se-stockholm-coord", "handover", "offer", "--case", SECOND, "--to",
		     "se-goteborg-coord", "--reason", "return", "--consent-ref", "ref-8", "--json",
		     NULL);
	cli_expect_ok(r);
	check_receipt(r->out, 1, offer);
	r = vigil_as(0, "other-coord", "handover", "accept", "--case", SECOND, "--offer-id", offer,
		     "--json", NULL);
	cli_expect_ok(r);
	check_receipt(r->out, 1, id);
	expect_member(r->out, "offer_id", offer);
	r = vigil_as(0, "other-coord", "status", SECOND, "--json", NULL);
	cli_expect_ok(r);
	expect_member(r->out, "responsible", "se-goteborg-coord");

	/* The responsible coordinator closes (the owner could too); IOM, a
	 * party but no coordinator, does not. */
	before = entries();
	r = vigil_as(0, "iom-ru-moscow", "case", "close", "--case", SECOND, "--reason",
		     "transferred", NULL);
	expect_refused(r, "PERMISSION_DENIED", CLOSE_DENIED);
	assert_int_equal(entries(), before);
	r = vigil_as(0, "other-coord", "case", "close", "--case", SECOND, "--reason", "transferred",
		     "--json", NULL);
	cli_expect_ok(r);
	idx = check_receipt(r->out, 0, id);
	rec = stored_record(idx);
	assert_int_equal(rec->case_close->reason, VIGIL__V1__CLOSE_REASON__CLOSE_REASON_TRANSFERRED);
	vigil__v1__record__free_unpacked(rec, NULL);
	r = vigil_as(0, "se-stockholm-coord", "status", SECOND, NULL);
	cli_expect_ok(r);
	if (!strstr(r->out, "\nstate:                   closed\n") ||
	    !strstr(r->out, "\nclose reason:            transferred\n"))
		fail_msg("unexpected status: %s", r->out);
	/* Nothing but a reopening on a closed case. */
	r = vigil_as(0, "iom-ru-moscow", "risk", "--case", SECOND, "--level", "low", "--phase",
		     "periodic", NULL);
	expect_refused(r, "BAD_REQUEST", CLOSED(SECOND));
	/* Both the owner and the responsible coordinator list the readers. */
	cli_expect_ok(vigil_as(0, "se-stockholm-coord", "case", "readers", SECOND, NULL));
	cli_expect_ok(vigil_as(0, "other-coord", "case", "readers", SECOND, NULL));
	r = vigil_as(0, "iom-ru-moscow", "case", "readers", SECOND, NULL);
	expect_refused(r, "PERMISSION_DENIED", READERS_DENIED);
}

/* ---- the directory, probes, the offered view, clocks ------------------------------------ */

static int64_t wall_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long count_of(const char *table, const char *case_id)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE case_id = '%s'", table, case_id);
	return db_int(&R, sql);
}

/* Nothing of case_id in the relay's case tables and log. */
static void expect_no_trace(const char *case_id)
{
	assert_int_equal(count_of("entries", case_id), 0);
	assert_int_equal(count_of("cases", case_id), 0);
	assert_int_equal(count_of("case_parties", case_id), 0);
}

/* No audit row either: a refused record is recorded only when the case
 * exists (proto/README.md section 4, "The case workflow").  Checked at the
 * end of a test. */
static void expect_no_audit(const char *case_id)
{
	if (count_of("case_reads", case_id) != 0)
		fail_msg("%lld audit rows of %s, which does not exist", count_of("case_reads", case_id),
			 case_id);
}

/* A handover to, and a case naming, an organisation that is no member
 * (iom-ru-moskow, a typo) are refused; nothing is stored. */
static void test_unknown_organisation(void **state)
{
	(void)state;
	long long before = entries();
	unsigned long long reads = read_count(DEMO);
	struct cli_result *r = vigil_as(0, "se-stockholm-coord", "handover", "offer", "--case", DEMO,
				    "--to", "iom-ru-moskow", "--reason", "return", "--consent-ref",
				    "consent-2026-09-28", NULL);
	expect_refused(r, "NOT_FOUND", "unknown organisation iom-ru-moskow");
	r = vigil_as(0, "se-stockholm-coord", "handover", "offer", "--case", DEMO, "--to",
		     "iom-ru-moskow", "--reason", "return", "--consent-ref", "consent-2026-09-28",
		     "--json", NULL);
	cli_expect_status(r, 1);
	assert_string_equal(r->out, "{\"error\":\"NOT_FOUND\",\"message\":\"unknown organisation "
				    "iom-ru-moskow\"}\n");
	assert_int_equal(entries(), before);
	assert_int_equal(read_count(DEMO), reads);
	char sql[256], to[80];
	snprintf(sql, sizeof(sql), "SELECT pending_offer_to FROM cases WHERE case_id = '%s'", DEMO);
	assert_int_equal(db_text(&R, sql, to, sizeof(to)), 0);
	assert_string_equal(to, "");
	r = vigil_as(0, "se-stockholm-coord", "status", DEMO, "--json", NULL);
	cli_expect_ok(r);
	expect_raw(r->out, "pending_offer_to", "null");

	const char *nid = "se-stockholm-coord/SE-2026-0061";
	r = vigil_as(0, "se-stockholm-coord", "case", "open", "--case", nid, "--risk", "high",
		     "--return-country", "RU", "--return-date", "2026-10-01", "--party",
		     "se-police-noa", "--party", "iom-ru-moskow", "--consent", "share-with-iom",
		     NULL);
	expect_refused(r, "NOT_FOUND", "unknown organisation iom-ru-moskow");
	assert_int_equal(entries(), before);
	expect_no_trace(nid);
	expect_no_audit(nid);
}

/* Another coordinator opening an existing id of Stockholm's gets exactly
 * the answer it gets for an id nobody opened; the owner sees the probe. */
static void test_open_existing_id_learns_nothing(void **state)
{
	(void)state;
	long long before = entries();
	unsigned long long reads = read_count(DEMO);
	for (int json = 0; json < 2; json++) {
		struct cli_result *x = vigil_as(0, "other-coord", "case", "open", "--case", DEMO,
					    "--risk", "low", "--return-country", "RU",
					    "--return-date", "2026-10-01", "--consent",
					    "share-with-iom", json ? "--json" : NULL, NULL);
		struct cli_result *y = vigil_as(1, "other-coord", "case", "open", "--case", NEVER,
					    "--risk", "low", "--return-country", "RU",
					    "--return-date", "2026-10-01", "--consent",
					    "share-with-iom", json ? "--json" : NULL, NULL);
		cli_expect_status(x, 1);
		assert_int_equal(x->status, y->status);
		assert_string_equal(x->out, y->out);
		assert_string_equal(x->err, y->err);
		assert_string_equal(x->err, REFUSED "PERMISSION_DENIED: a new case's id begins with "
						    "your organisation id: se-goteborg-coord/...\n");
		if (json)
			assert_string_equal(x->out, "{\"error\":\"PERMISSION_DENIED\",\"message\":"
					    "\"a new case's id begins with your organisation id: "
					    "se-goteborg-coord/...\"}\n");
	}
	assert_int_equal(entries(), before);
	expect_no_trace(NEVER);
	assert_int_equal(read_count(DEMO), reads + 2);
	char org[80], what[40];
	read_last(DEMO, org, sizeof(org), what, sizeof(what));
	assert_string_equal(org, "se-goteborg-coord");
	assert_string_equal(what, "open-refused");
	char sql[300];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM case_reads WHERE case_id = '%s' AND "
		 "org = 'se-goteborg-coord' AND what = 'open-refused'", DEMO);
	assert_int_equal(db_int(&R, sql), 2);

	/* The owner sees both probes in its listing, as text and JSON. */
	struct cli_result *r = vigil_as(0, "se-stockholm-coord", "case", "readers", DEMO, NULL);
	cli_expect_ok(r);
	char line[256];
	read_line(DEMO, (int)reads, line, sizeof(line));
	assert_non_null(strstr(r->out, line));
	assert_non_null(strstr(line, " se-goteborg-coord open-refused\n"));
	read_line(DEMO, (int)reads + 1, line, sizeof(line));
	assert_non_null(strstr(r->out, line));
	r = vigil_as(0, "se-stockholm-coord", "case", "readers", DEMO, "--json", NULL);
	cli_expect_ok(r);
	const char *list = jmust(r->out, "reads");
	expect_member(jnth(list, reads), "organisation", "se-goteborg-coord");
	expect_member(jnth(list, reads), "what", "open-refused");
	expect_member(jnth(list, reads + 1), "what", "open-refused");
	expect_no_audit(NEVER);
}

/* A contact attempt by an organisation that is no party: answered as for a
 * case nobody opened, not stored, audited as contact-refused. */
static void test_refused_contact_is_audited(void **state)
{
	(void)state;
	struct cli_result *r = vigil_as(0, "se-stockholm-coord", "status", DEMO, "--json", NULL);
	cli_expect_ok(r);
	unsigned long long attempts = jnum(jmust(r->out, "attempts"));
	long long before = entries();
	unsigned long long reads = read_count(DEMO);
	struct cli_result *x = vigil_as(0, "other-iom", "contact", "--case", DEMO, "--channel",
				    "phone", "--outcome", "reached-safe", NULL);
	struct cli_result *y = vigil_as(1, "other-iom", "contact", "--case", NEVER, "--channel",
				    "phone", "--outcome", "reached-safe", NULL);
	expect_refused(x, "NOT_FOUND", "case " DEMO " not found");
	expect_refused(y, "NOT_FOUND", "case " NEVER " not found");
	x = vigil_as(0, "other-iom", "contact", "--case", DEMO, "--channel", "phone", "--outcome",
		     "reached-safe", "--json", NULL);
	y = vigil_as(1, "other-iom", "contact", "--case", NEVER, "--channel", "phone", "--outcome",
		     "reached-safe", "--json", NULL);
	cli_expect_status(x, 1);
	cli_expect_status(y, 1);
	assert_string_equal(x->out, "{\"error\":\"NOT_FOUND\",\"message\":\"case " DEMO
				    " not found\"}\n");
	assert_string_equal(y->out, "{\"error\":\"NOT_FOUND\",\"message\":\"case " NEVER
				    " not found\"}\n");
	assert_int_equal(entries(), before);
	expect_no_trace(NEVER);
	assert_int_equal(read_count(DEMO), reads + 2);
	char org[80], what[40];
	read_last(DEMO, org, sizeof(org), what, sizeof(what));
	assert_string_equal(org, "iom-md-chisinau");
	assert_string_equal(what, "contact-refused");
	r = vigil_as(0, "se-stockholm-coord", "case", "readers", DEMO, NULL);
	cli_expect_ok(r);
	char line[256];
	read_line(DEMO, (int)reads, line, sizeof(line));
	assert_non_null(strstr(line, " iom-md-chisinau contact-refused\n"));
	assert_non_null(strstr(r->out, line));
	r = vigil_as(0, "se-stockholm-coord", "status", DEMO, "--json", NULL);
	cli_expect_ok(r);
	assert_int_equal(jnum(jmust(r->out, "attempts")), attempts);
	expect_no_audit(NEVER);
}

/* Police named by a pending offer, not yet a party: the offered view,
 * without the contact history; a party after accepting, with the police
 * view. */
static void test_offered_view_for_police(void **state)
{
	(void)state;
	char id[33], offer[33];
	struct cli_result *r = vigil_as(0, "se-stockholm-coord", "case", "open", "--case", THIRD,
				    "--risk", "medium", "--return-country", "RU", "--return-date",
				    "2026-10-01", "--party", "iom-ru-moscow", "--consent",
				    "share-with-iom", "--consent-at", CONSENT_AT, NULL);
	cli_expect_ok(r);
	cli_expect_ok(vigil_as(0, "iom-ru-moscow", "contact", "--case", THIRD, "--channel", "sms",
			       "--outcome", "no-answer", NULL));
	r = vigil_as(0, "se-police-noa", "status", THIRD, NULL);
	expect_refused(r, "NOT_FOUND", "case " THIRD " not found");
	r = vigil_as(0, "se-stockholm-coord", "handover", "offer", "--case", THIRD, "--to",
		     "se-police-noa", "--reason", "additional-services", "--consent-ref",
		     "consent-2026-09-28", "--json", NULL);
	cli_expect_ok(r);
	check_receipt(r->out, 1, offer);

	r = vigil_as(0, "se-police-noa", "status", THIRD, "--json", NULL);
	cli_expect_ok(r);
	one_object(r->out);
	char keys[1024];
	jkeys(r->out, keys, sizeof(keys));
	assert_string_equal(keys, "case_id,view,owner,state,responsible,risk,minor,"
				  "pending_offer_to,pending_offer_id");
	expect_member(r->out, "case_id", THIRD);
	expect_member(r->out, "view", "offered");
	expect_member(r->out, "owner", "se-stockholm-coord");
	expect_member(r->out, "state", "active");
	expect_member(r->out, "responsible", "se-stockholm-coord");
	expect_member(r->out, "risk", "medium");
	expect_raw(r->out, "minor", "false");
	expect_member(r->out, "pending_offer_to", "se-police-noa");
	expect_member(r->out, "pending_offer_id", offer);
	assert_null(jget(r->out, "last_attempt"));
	assert_null(jget(r->out, "last_success"));
	assert_null(jget(r->out, "alert_stage"));
	assert_null(strstr(r->out, "sms"));
	assert_null(strstr(r->out, "iom-ru-moscow"));

	r = vigil_as(0, "se-police-noa", "status", THIRD, NULL);
	cli_expect_ok(r);
	char want[1024];
	snprintf(want, sizeof(want),
		 "case:                    " THIRD "\n"
		 "view:                    offered (the relay withholds the other fields)\n"
		 "owner:                   se-stockholm-coord\n"
		 "state:                   active\n"
		 "responsible:             se-stockholm-coord\n"
		 "risk:                    medium\n"
		 "minor:                   no\n"
		 "pending offer:           to se-police-noa, offer id %s\n", offer);
	assert_string_equal(r->out, want);
	assert_null(strstr(r->out, "last attempt:"));
	r = vigil_as(0, "se-police-noa", "log", THIRD, NULL);
	expect_refused(r, "NOT_FOUND", "case " THIRD " not found");

	/* Police accept (the tool finds the offer in the offered view). */
	r = vigil_as(0, "se-police-noa", "handover", "accept", "--case", THIRD, "--json", NULL);
	cli_expect_ok(r);
	check_receipt(r->out, 1, id);
	expect_member(r->out, "offer_id", offer);
	r = vigil_as(0, "se-police-noa", "status", THIRD, "--json", NULL);
	cli_expect_ok(r);
	jkeys(r->out, keys, sizeof(keys));
	assert_string_equal(keys, police_keys);
	expect_member(r->out, "view", "police");
	expect_member(r->out, "responsible", "se-police-noa");
	expect_member(r->out, "last_attempt_channel", "sms");
}

/* A contact attempt dated a year ahead is refused naming attempted_at_ms
 * and the relay's time; nothing is stored. */
static void test_contact_a_year_ahead(void **state)
{
	(void)state;
	struct cli_result *r = vigil_as(0, "iom-ru-moscow", "status", THIRD, "--json", NULL);
	cli_expect_ok(r);
	unsigned long long attempts = jnum(jmust(r->out, "attempts"));
	long long before = entries();
	unsigned long long reads = read_count(THIRD);
	int64_t at_ms = (wall_now_ms() / 1000 + 365LL * 86400) * 1000;
	char at[TIME_RFC3339_MAX];
	time_of(at_ms, at);
	for (int json = 0; json < 2; json++) {
		int64_t lo = wall_now_ms();
		r = vigil_as(0, "iom-ru-moscow", "contact", "--case", THIRD, "--channel", "phone",
			     "--outcome", "no-answer", "--at", at, json ? "--json" : NULL, NULL);
		int64_t hi = wall_now_ms();
		cli_expect_status(r, 1);
		char prefix[256];
		snprintf(prefix, sizeof(prefix), REFUSED "BAD_REQUEST: attempted_at_ms %s is later "
			 "than the relay's time ", at);
		if (strncmp(r->err, prefix, strlen(prefix)) != 0)
			fail_msg("unexpected refusal: %s", r->err);
		const char *rest = r->err + strlen(prefix), *sp = strchr(rest, ' ');
		assert_non_null(sp);
		assert_string_equal(sp, " plus max_clock_skew (300 s)\n");
		char relay[TIME_RFC3339_MAX + 8];
		snprintf(relay, sizeof(relay), "%.*s", (int)(sp - rest), rest);
		int64_t relay_ms;
		assert_int_equal(time_parse_rfc3339(relay, &relay_ms), VG_OK);
		if (relay_ms < lo || relay_ms > hi)
			fail_msg("relay time %s outside the run", relay);
		if (json) {
			char want[512];
			snprintf(want, sizeof(want), "{\"error\":\"BAD_REQUEST\",\"message\":"
				 "\"attempted_at_ms %s is later than the relay's time %s plus "
				 "max_clock_skew (300 s)\"}\n", at, relay);
			assert_string_equal(r->out, want);
		} else {
			assert_string_equal(r->out, "");
		}
	}
	assert_int_equal(entries(), before);
	assert_int_equal(read_count(THIRD), reads);
	r = vigil_as(0, "iom-ru-moscow", "status", THIRD, "--json", NULL);
	cli_expect_ok(r);
	assert_int_equal(jnum(jmust(r->out, "attempts")), attempts);
	/* The same attempt a minute ahead is within the skew. */
	time_of(wall_now_ms() + 60000, at);
	cli_expect_ok(vigil_as(0, "iom-ru-moscow", "contact", "--case", THIRD, "--channel", "phone",
			       "--outcome", "no-answer", "--at", at, NULL));
	assert_int_equal(entries(), before + 1);
}

/* ---- usage errors ------------------------------------------------------------------------ */

struct usage_case {
	const char *args[24];
	const char *line;
};

#define UID "se-stockholm-coord/SE-U-1"
#define RULE "OWNER/PSEUDONYM: the owner's organisation id, '/', and 3-64 characters of " \
	     "[A-Za-z0-9-]"
#define OPEN "case", "open", "--case", UID
#define OPEN_OK OPEN, "--risk", "high", "--return-country", "RU", "--return-date", "2026-10-01"

static const struct usage_case usage_cases[] = {
	{ { OPEN, "--risk", "severe", "--return-country", "RU", "--return-date", "2026-10-01",
	    "--consent", "share-with-iom" },
	  "case open: unknown risk level \"severe\" (one of: low, medium, high)" },
	{ { OPEN_OK, "--consent", "share-with-iom", "--override-risk-to-life", "threats" },
	  "case open: give --consent or --override-risk-to-life, not both" },
	{ { OPEN_OK },
	  "case open: --consent SCOPE or --override-risk-to-life TEXT is required" },
	{ { OPEN, "--risk", "high", "--return-country", "RU", "--return-date", "2026-02-30",
	    "--consent", "share-with-iom" },
	  "case open: return date \"2026-02-30\" is not a date YYYY-MM-DD (e.g. 2026-10-01)" },
	{ { OPEN, "--risk", "high", "--return-country", "RU", "--return-date", "1.10.2026",
	    "--consent", "share-with-iom" },
	  "case open: return date \"1.10.2026\" is not a date YYYY-MM-DD (e.g. 2026-10-01)" },
	{ { OPEN, "--risk", "high", "--return-country", "Russia", "--return-date", "2026-10-01",
	    "--consent", "share-with-iom" },
	  "case open: return country \"Russia\" is not an ISO 3166 code of two capital letters "
	  "(e.g. RU)" },
	{ { OPEN, "--risk", "medium", "--minor", "--return-country", "RU", "--return-date",
	    "2026-10-01", "--consent", "share-with-iom" },
	  "case open: a minor's risk level is never below high (not \"medium\")" },
	{ { OPEN_OK, "--consent", "Share With IOM" },
	  "case open: consent scope \"Share With IOM\" is not a coded scope (1-64 characters "
	  "of a-z, 0-9 and '-', e.g. share-with-iom)" },
	{ { OPEN_OK, "--consent", "share-with-iom", "--party", "IOM Moscow" },
	  "case open: party \"IOM Moscow\" is not an organisation id (1-64 characters of a-z, "
	  "0-9 and '-')" },
	{ { OPEN_OK, "--consent", "share-with-iom", "--party", "iom-ru-moscow", "--party",
	    "iom-ru-moscow" },
	  "case open: party \"iom-ru-moscow\" is named twice" },
	{ { OPEN_OK, "--consent", "share-with-iom", "--consent-at", "yesterday" },
	  "case open: --consent-at 'yesterday' is not an RFC 3339 time such as "
	  "2026-09-28T10:00:00Z" },
	{ { OPEN_OK, "--override-risk-to-life", "x", "--consent-at", CONSENT_AT },
	  "case open: --consent-at needs --consent" },
	{ { "case", "open", "--risk", "high" }, "case open: --case is required" },
	{ { "case", "open", "--case", "SE 2026", "--risk", "high", "--return-country", "RU",
	    "--return-date", "2026-10-01", "--consent", "c" },
	  "case open: case id \"SE 2026\" is invalid: it must be " RULE },
	{ { "case", "open", "--case", "SE-2026-0042", "--risk", "high", "--return-country", "RU",
	    "--return-date", "2026-10-01", "--consent", "c" },
	  "case open: case id \"SE-2026-0042\" is invalid: it must be " RULE },
	{ { "case", "open", "--case", "SE-Stockholm/SE-2026-0042", "--risk", "high",
	    "--return-country", "RU", "--return-date", "2026-10-01", "--consent", "c" },
	  "case open: case id \"SE-Stockholm/SE-2026-0042\" is invalid: it must be " RULE },
	{ { "case", "open", "--case", "se-stockholm-coord/SE", "--risk", "high",
	    "--return-country", "RU", "--return-date", "2026-10-01", "--consent", "c" },
	  "case open: case id \"se-stockholm-coord/SE\" is invalid: it must be " RULE },
	{ { "contact", "--case", "/SE-2026-0042", "--channel", "phone", "--outcome", "no-answer" },
	  "contact: case id \"/SE-2026-0042\" is invalid: it must be " RULE },
	{ { "status", "SE-2026-0042" },
	  "status: case id \"SE-2026-0042\" is invalid: it must be " RULE },
	{ { "case", "open", "--case", UID, "--risk" }, "option '--risk' needs an argument" },
	{ { "risk", "--case", UID, "--level", "high", "--factor", "poverty", "--phase",
	    "periodic" },
	  "risk: unknown risk factor \"poverty\" (one of: threats-to-family, re-trafficking, "
	  "debt-bondage, documents-withheld, witness, recruited-by-family, health, addiction, "
	  "homelessness, stigma-or-violence, other)" },
	{ { "risk", "--case", UID, "--level", "high", "--factor", "witness", "--factor",
	    "witness", "--phase", "periodic" },
	  "risk: risk factor \"witness\" is named twice" },
	{ { "risk", "--case", UID, "--level", "high", "--phase", "yearly" },
	  "risk: unknown assessment phase \"yearly\" (one of: pre-departure, on-arrival, "
	  "periodic, event-triggered)" },
	{ { "risk", "--case", UID, "--level", "high" }, "risk: --phase is required" },
	{ { "handover", "offer", "--case", UID, "--to", "iom-ru-moscow", "--reason",
	    "return" },
	  "handover offer: --consent-ref REF or --override-risk-to-life TEXT is required" },
	{ { "handover", "offer", "--case", UID, "--to", "iom-ru-moscow", "--reason",
	    "holiday", "--consent-ref", "c-1" },
	  "handover offer: unknown handover reason \"holiday\" (one of: additional-services, "
	  "return, other)" },
	{ { "handover", "offer", "--case", UID, "--to", "iom-ru-moscow", "--reason",
	    "return", "--consent-ref", "c 1" },
	  "handover offer: consent reference \"c 1\" must be 1-64 characters of A-Z, a-z, 0-9 "
	  "and '-'" },
	{ { "handover", "decline", "--case", UID }, "handover decline: --reason is required" },
	{ { "handover", "accept", "--case", UID, "--reason", "x" },
	  "unknown option '--reason'" },
	{ { "handover", "accept", "--case", UID, "--offer-id", "xyz" },
	  "handover accept: --offer-id wants 32 hex digits, not 'xyz'" },
	{ { "handover", "give", "--case", UID },
	  "handover: unknown subcommand 'give' (offer, accept, decline, withdraw or reseal)" },
	{ { "handover" }, "handover: give a subcommand: offer, accept, decline, withdraw or reseal" },
	{ { "case", "close", "--case", UID, "--reason", "done" },
	  "case close: unknown close reason \"done\" (one of: monitoring-completed, "
	  "declines-contact, transferred, lost-contact, other)" },
	{ { "case", "delete" }, "case: unknown subcommand 'delete' (open, reopen, close or readers)" },
	{ { "case" }, "case: give a subcommand: open, reopen, close or readers" },
	{ { "status" }, "status: give the case id: vigil status ID" },
	{ { "status", "SE-1", "SE-2" }, "status: unexpected argument 'SE-2'" },
	{ { "log", "no such case!" },
	  "log: case id \"no such case!\" is invalid: it must be " RULE },
	{ { "case", "readers" }, "case readers: give the case id: vigil case readers ID" },
	{ { "cases", "SE-1" }, "cases: unexpected argument 'SE-1'" },
};

/* Each is refused before anything is sent: exit 2, the exact message, no
 * entry and no read. */
static void test_usage_errors(void **state)
{
	(void)state;
	long long before = entries();
	long long reads = db_int(&R, "SELECT count(*) FROM case_reads");
	for (size_t i = 0; i < sizeof(usage_cases) / sizeof(usage_cases[0]); i++) {
		const char *const *a = usage_cases[i].args;
		struct cli_result *r = vigil_as(0, "se-stockholm-coord", a[0], a[1], a[2], a[3], a[4],
					    a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12],
					    a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20],
					    NULL);
		cli_expect_usage(r, usage_cases[i].line);
	}
	assert_int_equal(entries(), before);
	assert_int_equal(db_int(&R, "SELECT count(*) FROM case_reads"), reads);
}

/* --help of every command and subcommand, on stdout with exit 0. */
static void test_help(void **state)
{
	(void)state;
	static const char *const helps[][3] = {
		{ "case", "--help", "usage: vigil [OPTIONS] case open --case ID ...\n" },
		{ "case", "open",
		  "usage: vigil [OPTIONS] case open --case ID --risk LEVEL [--minor]\n" },
		{ "case", "close", "usage: vigil [OPTIONS] case close --case ID --reason REASON\n" },
		{ "case", "readers", "usage: vigil [OPTIONS] case readers ID\n" },
		{ "risk", NULL, "usage: vigil [OPTIONS] risk --case ID --level LEVEL" },
		{ "handover", "--help", "usage: vigil [OPTIONS] handover offer --case ID --to ORG" },
		{ "handover", "offer", "usage: vigil [OPTIONS] handover offer --case ID --to ORG" },
		{ "handover", "accept", "usage: vigil [OPTIONS] handover accept --case ID "
					"[--offer-id HEX]\n" },
		{ "handover", "decline", "usage: vigil [OPTIONS] handover decline --case ID "
					 "--reason TEXT [--offer-id HEX]\n" },
		{ "handover", "withdraw", "usage: vigil [OPTIONS] handover withdraw --case ID "
					  "[--offer-id HEX]\n" },
		{ "status", NULL, "usage: vigil [OPTIONS] status ID\n" },
		{ "log", NULL, "usage: vigil [OPTIONS] log ID\n" },
		{ "cases", NULL, "usage: vigil [OPTIONS] cases [--alerting] [--overdue]" },
	};
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
		struct cli_result *r;
		if (helps[i][1] && strcmp(helps[i][1], "--help") != 0)
			r = vigil_as(0, "x", helps[i][0], helps[i][1], "--help", NULL);
		else
			r = vigil_as(0, "x", helps[i][0], "--help", NULL);
		cli_expect_ok(r);
		if (strncmp(r->out, helps[i][2], strlen(helps[i][2])) != 0)
			fail_msg("unexpected help of %s %s: %s", helps[i][0],
				 helps[i][1] ? helps[i][1] : "", r->out);
	}
	/* The risk help lists every factor; the top-level help every command. */
	struct cli_result *r = vigil_as(0, "x", "risk", "--help", NULL);
	assert_non_null(strstr(r->out, "stigma-or-violence"));
	assert_non_null(strstr(r->out, "event-triggered"));
	r = vigil_as(0, "x", "--help", NULL);
	cli_expect_ok(r);
	static const char *const cmds[] = { "case", "risk", "handover", "status", "log", "cases" };
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char want[32];
		snprintf(want, sizeof(want), "\n  %-12s", cmds[i]);
		if (!strstr(r->out, want))
			fail_msg("%s is not in the help: %s", cmds[i], r->out);
	}
}

/* Codes in any case; "case reopen" keeps the facts of the case unless
 * told otherwise (the minor flag first of all), and refuses a case that is
 * not closed. */
#define EXPECT_START(out, lit)                                                   \
	do {                                                                     \
		if (strncmp((out), lit, sizeof(lit) - 1) != 0)                  \
			fail_msg("expected a start of \"%s\" in: %s", lit, (out));    \
	} while (0)

static void test_reopen_and_codes_any_case(void **state)
{
	(void)state;
	const char *id = "se-stockholm-coord/REOPEN-1";
	struct cli_result *r = vigil_as(0, "se-stockholm-coord", "case", "open", "--case", id,
					"--risk", "High", "--minor", "--return-country", "ru",
					"--return-date", "2026-10-01", "--party", "iom-ru-moscow",
					"--consent", "Share-With-IOM", "--consent-at", CONSENT_AT,
					NULL);
	cli_expect_ok(r);
	EXPECT_START(r->out, "case se-stockholm-coord/REOPEN-1 opened: risk high, a minor, "
				    "returned to RU on 2026-10-01\nentry ");
	r = vigil_as(0, "iom-ru-moscow", "contact", "--case", id, "--channel", "PHONE",
		     "--outcome", "No-Answer", NULL);
	cli_expect_ok(r);
	EXPECT_START(r->out, "case se-stockholm-coord/REOPEN-1: contact attempt recorded: "
				    "phone, no answer\n");
	r = vigil_as(0, "se-stockholm-coord", "case", "reopen", "--case", id, "--json", NULL);
	cli_expect_fail(r, 2, "USAGE", "case reopen: case se-stockholm-coord/REOPEN-1 is active, "
				       "not closed");
	r = vigil_as(0, "se-stockholm-coord", "case", "close", "--case", id, "--reason",
		     "Lost-Contact", NULL);
	cli_expect_ok(r);
	assert_non_null(strstr(r->out, "case se-stockholm-coord/REOPEN-1 closed: lost contact\n"));

	/* Reopened with nothing but the id: the same facts. */
	r = vigil_as(0, "se-stockholm-coord", "case", "reopen", "--case", id, NULL);
	cli_expect_ok(r);
	EXPECT_START(r->out, "case se-stockholm-coord/REOPEN-1 reopened: risk high, a minor, "
				    "returned to RU on 2026-10-01\n");
	r = vigil_as(0, "se-stockholm-coord", "status", id, "--json", NULL);
	cli_expect_ok(r);
	expect_member(r->out, "state", "active");
	expect_member(r->out, "risk", "high");
	expect_raw(r->out, "minor", "true");
	expect_member(r->out, "return_country", "RU");
	expect_member(r->out, "consent_scope", "share-with-iom");
	expect_raw(r->out, "parties", "[\"iom-ru-moscow\",\"se-stockholm-coord\"]");
	/* The stored record says so, the consent's time included. */
	unsigned long long last = (unsigned long long)entries() - 1;
	Vigil__V1__Record *rec = stored_record(last);
	assert_non_null(rec->case_open);
	assert_true(rec->case_open->minor);
	assert_non_null(rec->case_open->consent);
	assert_int_equal(rec->case_open->consent->given_at_ms, CONSENT_AT_MS);
	vigil__v1__record__free_unpacked(rec, NULL);

	/* Told otherwise: not a minor, another risk. */
	r = vigil_as(0, "se-stockholm-coord", "case", "close", "--case", id, "--reason",
		     "other", NULL);
	cli_expect_ok(r);
	r = vigil_as(0, "se-stockholm-coord", "case", "reopen", "--case", id, "--not-minor",
		     "--risk", "MEDIUM", "--json", NULL);
	cli_expect_ok(r);
	r = vigil_as(0, "se-stockholm-coord", "status", id, "--json", NULL);
	expect_member(r->out, "risk", "medium");
	expect_raw(r->out, "minor", "false");

	/* --not-minor belongs to reopen; both flags at once are refused. */
	r = vigil_as(0, "se-stockholm-coord", "case", "open", "--case", id, "--not-minor", NULL);
	cli_expect_usage(r, "case open: --not-minor is for case reopen (a case is opened without "
			    "--minor)");
	r = vigil_as(0, "se-stockholm-coord", "case", "reopen", "--case", id, "--minor",
		     "--not-minor", NULL);
	cli_expect_usage(r, "case reopen: give --minor or --not-minor, not both");
	/* An unknown code is still refused, by its name as given. */
	r = vigil_as(0, "iom-ru-moscow", "contact", "--case", id, "--channel", "Fax", "--outcome",
		     "no-answer", NULL);
	cli_expect_usage(r, "contact: unknown channel \"Fax\" (one of: phone, sms, messenger, "
			    "email, home-visit, office-visit, via-family, via-partner)");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demo_open_offer_accept),
		cmocka_unit_test(test_demo_police_status),
		cmocka_unit_test(test_demo_risk),
		cmocka_unit_test(test_demo_log),
		cmocka_unit_test(test_demo_cases),
		cmocka_unit_test(test_demo_owner_readers_and_close),
		cmocka_unit_test(test_second_case_readers),
		cmocka_unit_test(test_second_case_handovers),
		cmocka_unit_test(test_unknown_organisation),
		cmocka_unit_test(test_open_existing_id_learns_nothing),
		cmocka_unit_test(test_refused_contact_is_audited),
		cmocka_unit_test(test_offered_view_for_police),
		cmocka_unit_test(test_contact_a_year_ahead),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_reopen_and_codes_any_case),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_log_paging),
	};
	return cmocka_run_group_tests_name("cli_cases", tests, group_setup, group_teardown);
}
