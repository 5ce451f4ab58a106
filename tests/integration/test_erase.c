/*
 * test_erase.c - erasure on the case owner's request and by the retention
 * rules, and the owner's grant of the narrative to police, against a real
 * vigild (issue 14, "erasure that leaves every proof valid"):
 *
 *   - only the owner erases, only entries of its case, never an erasure;
 *   - content (tier A): the sealed text is gone from every live row, and on
 *     SQLite from the database file and its WAL (their bytes are searched
 *     for it; PostgreSQL does not scrub dead rows yet), a relay-signed
 *     Erasure entry says what, why and on whose request, and the log, its
 *     proofs and the receipts stay valid;
 *   - record (tier B): record bytes and signature gone, index and leaf hash
 *     kept: the inclusion proof of the old leaf still verifies, the case log
 *     marks it, and vigild --verify-db reports it as erased, not corrupt;
 *   - a row marked erased without a signed Erasure entry is corruption.
 *
 * The sealed notes are made here with proto/sealed.c and the PKI's
 * encryption certificates, to the case's readers (policy_seal_readers).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "casekit.h"
#include "clikit.h"
#include "harness.h"
#include "proto/merkle.h"
#include "proto/note.h"
#include "proto/sealed.h"
#include "proto/status.h"

#define CASE "se-stockholm-coord/ER-2026-0001"
#define OTHER_CASE "se-stockholm-coord/ER-2026-0002"
#define PATIENCE_MS 20000

/* A contact attempt by c with a sealed note to readers (the harness's
 * tseal).  *env is a copy of the envelope (free()). */
static Vigil__V1__Frame *sealed_contact_to(struct tclient *c, const char *case_id,
					   const char *note, const char *const *readers, int nr,
					   uint8_t id[RECORD_ID_LEN], uint8_t **env, size_t *env_len)
{
	Vigil__V1__Record r;
	casekit_record(&r, id, case_id, c->org);
	struct tsealed s;
	tseal(&s, SEALED_NOTE, id, note, readers, (size_t)nr);
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	ca.channel = VIGIL__V1__CHANNEL__CHANNEL_PHONE;
	ca.outcome = VIGIL__V1__OUTCOME__OUTCOME_REACHED_CONCERN;
	ca.attempted_at_ms = r.client_time_ms - 60000;
	ca.sealed_note = &s.text;
	r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	r.contact_attempt = &ca;
	size_t len = vigil__v1__record__get_packed_size(&r);
	uint8_t *rec = malloc(len), *sig;
	size_t sig_len;
	vigil__v1__record__pack(&r, rec);
	assert_int_equal(record_sign(c->key, rec, len, &sig, &sig_len), VG_OK);
	Vigil__V1__Frame *a = tclient_submit_sealed(c, rec, len, sig, sig_len, s.cms, s.cms_len);
	if (!a)
		fail_msg("%s", c->err);
	*env = malloc(s.cms_len);
	assert_non_null(*env);
	memcpy(*env, s.cms, s.cms_len);
	*env_len = s.cms_len;
	tsealed_free(&s);
	free(rec);
	free(sig);
	return a;
}

static Vigil__V1__Frame *sealed_contact(struct tclient *c, const char *case_id, const char *note,
					uint8_t id[RECORD_ID_LEN], uint8_t **env, size_t *env_len)
{
	static const char *const readers[] = { "se-stockholm-coord", "iom-ru-moscow",
						"se-shelter-1" };
	return sealed_contact_to(c, case_id, note, readers, 3, id, env, env_len);
}

static Vigil__V1__Frame *erase(struct tclient *c, const char *case_id,
			       const uint8_t target[RECORD_ID_LEN], int whole, uint8_t id_out[RECORD_ID_LEN])
{
	uint8_t id[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, id_out ? id_out : id, case_id, c->org);
	Vigil__V1__EraseRequest er = VIGIL__V1__ERASE_REQUEST__INIT;
	er.target_id.data = (uint8_t *)target;
	er.target_id.len = RECORD_ID_LEN;
	er.whole_record = whole;
	er.reason = VIGIL__V1__ERASE_REASON__ERASE_REASON_DATA_SUBJECT_REQUEST;
	er.reference = "DPO-2026-117";
	r.body_case = VIGIL__V1__RECORD__BODY_ERASE_REQUEST;
	r.erase_request = &er;
	return casekit_submit(c, &r);
}

static uint64_t receipt_index(Vigil__V1__Frame *a)
{
	if (a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT)
		fail_msg("expected a receipt, got %s: %s", casekit_outcome(a),
			 a->msg_case == VIGIL__V1__FRAME__MSG_ERROR && a->error->message
				 ? a->error->message : "(no message)");
	uint64_t i = a->receipt->index;
	return i;
}

static void expect_refused(Vigil__V1__Frame *a, const char *code, const char *msg)
{
	if (a->msg_case != VIGIL__V1__FRAME__MSG_ERROR || strcmp(casekit_outcome(a), code) != 0 ||
	    strcmp(a->error->message, msg) != 0)
		fail_msg("expected %s \"%s\", got %s \"%s\"", code, msg, casekit_outcome(a),
			 a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? a->error->message : "");
	frame_free(a);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* Whether the bytes needle occur in the file path (a missing file: no). */
static int file_has(const char *path, const uint8_t *needle, size_t n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	size_t cap = 1 << 20, len = 0;
	uint8_t *buf = malloc(cap);
	size_t got;
	while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
		len += got;
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
	}
	fclose(f);
	int found = 0;
	for (size_t i = 0; !found && i + n <= len; i++)
		found = memcmp(buf + i, needle, n) == 0;
	free(buf);
	return found;
}

/* The database or its WAL still holds needle. */
static int files_have(struct trelay *t, const uint8_t *needle, size_t n)
{
	char wal[700];
	snprintf(wal, sizeof(wal), "%s-wal", t->db);
	return file_has(t->db, needle, n) || file_has(wal, needle, n);
}

static void test_erasure(void **state)
{
	(void)state;
	struct trelay t;
	trelay_setup(&t, NULL, NULL);
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, CASE);
	trelay_open_case(&t, OTHER_CASE);
	struct tclient iom, owner;
	if (tclient_open(&iom, t.port, "iom-ru-moscow") != 0 ||
	    tclient_open(&owner, t.port, "se-stockholm-coord") != 0)
		fail_msg("connect: %s %s", iom.err, owner.err);

	/* A sealed note, and a contact without one. */
	uint8_t noted[RECORD_ID_LEN], plain[RECORD_ID_LEN], other[RECORD_ID_LEN];
	uint8_t *env;
	size_t env_len;
	Vigil__V1__Frame *a = sealed_contact(&iom, CASE, "reached her sister at the market", noted,
					     &env, &env_len);
	uint64_t noted_idx = receipt_index(a);
	uint8_t noted_leaf[SHA256_LEN];
	memcpy(noted_leaf, a->receipt->leaf_hash.data, SHA256_LEN);
	frame_free(a);
	a = casekit_contact(&iom, CASE, VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER);
	uint64_t plain_idx = receipt_index(a);
	memcpy(plain, a->receipt->record_id.data, RECORD_ID_LEN);
	uint8_t plain_leaf[SHA256_LEN];
	memcpy(plain_leaf, a->receipt->leaf_hash.data, SHA256_LEN);
	frame_free(a);
	uint8_t *env2;
	size_t env2_len;
	a = sealed_contact(&iom, OTHER_CASE, "another case's note", other, &env2, &env2_len);
	receipt_index(a);
	frame_free(a);
	free(env2);

	/* The envelope is stored as sent, and the files hold it (so the
	 * search below can find it). */
	char sql[256], idhex[2 * RECORD_ID_LEN + 1], msg[256];
	snprintf(sql, sizeof(sql), "SELECT length(cms) FROM sealed WHERE idx = %llu",
		 (unsigned long long)noted_idx);
	assert_int_equal(db_int(&t, sql), (long long)env_len);
	const uint8_t *needle = env + env_len - 64; /* ciphertext and tag */
	assert_true(db_count_bytes(&t, needle, 48) > 0);
	if (sqlite_only("the database file and its WAL searched for the envelope's bytes"))
		assert_true(files_have(&t, needle, 48));

	/* Who may erase what. */
	hex(noted, RECORD_ID_LEN, idhex);
	expect_refused(erase(&iom, CASE, noted, 0, NULL), "PERMISSION_DENIED",
		       "only the case's owner (se-stockholm-coord) erases its records");
	snprintf(msg, sizeof(msg), "record %s is no entry of case %s", idhex, OTHER_CASE);
	expect_refused(erase(&owner, OTHER_CASE, noted, 0, NULL), "NOT_FOUND", msg);
	char plainhex[2 * RECORD_ID_LEN + 1];
	hex(plain, RECORD_ID_LEN, plainhex);
	snprintf(msg, sizeof(msg), "record %s has no sealed text to erase", plainhex);
	expect_refused(erase(&owner, CASE, plain, 0, NULL), "BAD_REQUEST", msg);
	long long entries = db_int(&t, "SELECT count(*) FROM entries");

	/* Tier A: the content. */
	uint8_t req_id[RECORD_ID_LEN];
	a = erase(&owner, CASE, noted, 0, req_id);
	uint64_t req_idx = receipt_index(a);
	frame_free(a);
	assert_int_equal(db_int(&t, "SELECT count(*) FROM entries"), entries + 2);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM sealed WHERE idx = %llu",
		 (unsigned long long)noted_idx);
	assert_int_equal(db_int(&t, sql), 0);
	snprintf(sql, sizeof(sql), "SELECT what * 1000 + by_idx FROM erased WHERE idx = %llu",
		 (unsigned long long)noted_idx);
	assert_int_equal(db_int(&t, sql), 1000 + (long long)req_idx + 1);
	/* The relay's Erasure entry: what, why, on whose request, to whom. */
	uint8_t *rec;
	size_t rec_len;
	snprintf(sql, sizeof(sql), "SELECT record FROM entries WHERE idx = %llu AND author = "
		 "'vigil-relay'", (unsigned long long)req_idx + 1);
	assert_int_equal(db_blob(&t, sql, &rec, &rec_len), 0);
	Vigil__V1__Record *er = vigil__v1__record__unpack(NULL, rec_len, rec);
	assert_non_null(er);
	assert_int_equal(er->body_case, VIGIL__V1__RECORD__BODY_ERASURE);
	assert_string_equal(er->case_id, CASE);
	assert_int_equal(er->erasure->n_indexes, 1);
	assert_int_equal(er->erasure->indexes[0], noted_idx);
	assert_false(er->erasure->whole_record);
	assert_int_equal(er->erasure->reason,
			 VIGIL__V1__ERASE_REASON__ERASE_REASON_DATA_SUBJECT_REQUEST);
	assert_memory_equal(er->erasure->request_id.data, req_id, RECORD_ID_LEN);
	assert_string_equal(er->erasure->requested_by, "se-stockholm-coord");
	assert_string_equal(er->erasure->reference, "DPO-2026-117");
	/* The parties that read the case's records (and may hold copies):
	 * not the police party, which reads none. */
	static const char *const parties[] = { "iom-ru-moscow", "se-shelter-1",
					       "se-stockholm-coord" };
	assert_int_equal(er->erasure->n_recipients, 3);
	for (int i = 0; i < 3; i++)
		assert_string_equal(er->erasure->recipients[i], parties[i]);
	vigil__v1__record__free_unpacked(er, NULL);
	free(rec);
	/* The erased bytes are in no live row of the store. */
	assert_int_equal(db_count_bytes(&t, needle, 48), 0);
	/* And they leave the files: the pages are overwritten (secure_delete)
	 * and the WAL is truncated after the commit.  (On PostgreSQL they stay
	 * in dead row versions until VACUUM and in its WAL: not scrubbed yet,
	 * daemon/README.md, "The PostgreSQL store".) */
	if (sqlite_only("the erased bytes scrubbed from the database file and its WAL "
			"(secure_delete, walsync_scrub)")) {
		int gone = 0;
		for (int i = 0; i < 200 && !gone; i++) {
			gone = !files_have(&t, needle, 48);
			if (!gone)
				usleep(50 * 1000);
		}
		if (!gone)
			fail_msg("the erased ciphertext is still in %s or its WAL after 10 s", t.db);
	}
	snprintf(msg, sizeof(msg), "the sealed text of record %s is erased already", idhex);
	expect_refused(erase(&owner, CASE, noted, 0, NULL), "BAD_REQUEST", msg);
	/* Erasures are kept. */
	char reqhex[2 * RECORD_ID_LEN + 1];
	hex(req_id, RECORD_ID_LEN, reqhex);
	snprintf(msg, sizeof(msg),
		 "record %s is an erasure or a request for one: they are kept, so that the log "
		 "says what was erased", reqhex);
	expect_refused(erase(&owner, CASE, req_id, 1, NULL), "BAD_REQUEST", msg);

	/* Tier B: the whole record. */
	a = erase(&owner, CASE, plain, 1, NULL);
	receipt_index(a);
	frame_free(a);
	snprintf(sql, sizeof(sql), "SELECT length(record) + length(signature) FROM entries "
		 "WHERE idx = %llu", (unsigned long long)plain_idx);
	assert_int_equal(db_int(&t, sql), 0);
	snprintf(msg, sizeof(msg), "record %s is erased already", plainhex);
	expect_refused(erase(&owner, CASE, plain, 1, NULL), "BAD_REQUEST", msg);

	/* The case log marks both; the proofs of the old leaves still lead to
	 * the newest checkpoint. */
	a = casekit_log(&owner, CASE);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CASE_LOG);
	int seen = 0;
	for (size_t i = 0; i < a->case_log->n_entries; i++) {
		const Vigil__V1__Entry *e = a->case_log->entries[i]->entry;
		if (e->index == noted_idx) {
			seen++;
			assert_true(e->content_erased);
			assert_false(e->record_erased);
			assert_int_equal(e->sealed.len, 0);
			assert_memory_equal(e->leaf_hash.data, noted_leaf, SHA256_LEN);
		}
		if (e->index == plain_idx) {
			seen++;
			assert_true(e->record_erased);
			assert_int_equal(e->record.len, 0);
			assert_int_equal(e->signature.len, 0);
			assert_memory_equal(e->leaf_hash.data, plain_leaf, SHA256_LEN);
		}
		/* Every entry's old leaf hash leads to the page's checkpoint. */
		merkle_hash proof[MERKLE_MAX_PROOF];
		size_t n = a->case_log->entries[i]->n_inclusion_proof;
		for (size_t k = 0; k < n; k++)
			memcpy(proof[k], a->case_log->entries[i]->inclusion_proof[k].data, SHA256_LEN);
		struct checkpoint cp;
		const char *note = a->case_log->checkpoint, *end = strstr(note, "\n\n");
		assert_non_null(end); /* the body, then the signature lines */
		assert_int_equal(checkpoint_parse(note, (size_t)(end - note) + 1, &cp), VG_OK);
		assert_int_equal(merkle_verify_inclusion(e->index, cp.size, e->leaf_hash.data, proof,
							 n, cp.root),
				 VG_OK);
	}
	assert_int_equal(seen, 2);
	frame_free(a);
	tclient_close(&iom);
	tclient_close(&owner);
	assert_int_equal(trelay_stop(&t), 0);

	/* The audit: the log verifies, the erased entries are reported. */
	char out[2048];
	const char *args[] = { "vigild", "-c", t.conf, "--verify-db", NULL };
	assert_int_equal(run_vigild(args, out, sizeof(out)), 0);
	assert_true(strncmp(out, "log OK: ", 8) == 0);
	assert_non_null(strstr(out, "\nerased: 1 records (only their leaf hash is kept), 1 sealed "
				    "texts; each named by a signed Erasure entry\n"));
	/* A row marked erased that no Erasure entry names is corruption. */
	snprintf(sql, sizeof(sql), "INSERT INTO erased(idx, what, at_ms, by_idx) VALUES(%llu, 1, 1, "
		 "%llu)", (unsigned long long)noted_idx - 1, (unsigned long long)req_idx + 1);
	assert_int_equal(db_change(&t, sql), 0);
	assert_int_equal(run_vigild(args, out, sizeof(out)), 1);
	snprintf(msg, sizeof(msg), "entry %llu: marked erased, but no Erasure entry after it names "
		 "it\n", (unsigned long long)noted_idx - 1);
	assert_string_equal(out, msg);
	free(env);
	trelay_cleanup(&t);
}

/* Erasure entries of reason retention in the database: how many, and
 * whether any entry index is named twice.  *named gets the indexes named. */
struct retention_count {
	int whole, n, twice;
	size_t named;
	uint8_t seen[1 << 16];
};

static void retention_row(void *ctx, const uint8_t *rec, size_t len)
{
	struct retention_count *rc = ctx;
	Vigil__V1__Record *r = vigil__v1__record__unpack(NULL, len, rec);
	if (r && r->body_case == VIGIL__V1__RECORD__BODY_ERASURE &&
	    r->erasure->reason == VIGIL__V1__ERASE_REASON__ERASE_REASON_RETENTION &&
	    (int)r->erasure->whole_record == rc->whole) {
		rc->n++;
		for (size_t i = 0; i < r->erasure->n_indexes; i++) {
			uint64_t x = r->erasure->indexes[i];
			assert_true(x < sizeof(rc->seen));
			if (rc->seen[x]++)
				rc->twice++;
			rc->named++;
		}
	}
	vigil__v1__record__free_unpacked(r, NULL);
}

static int retention_erasures(struct trelay *t, size_t *named, int *twice, int whole)
{
	static struct retention_count rc;
	memset(&rc, 0, sizeof(rc));
	rc.whole = whole;
	assert_true(db_each(t, "SELECT record FROM entries WHERE author = 'vigil-relay' ORDER BY "
			    "idx", retention_row, &rc) >= 0);
	*named = rc.named;
	*twice = rc.twice;
	return rc.n;
}

/*
 * [retention] content_after_close = 2s: two seconds after the case is
 * closed the relay erases its 1,200 sealed notes in batches of 500, one
 * Erasure entry (reason retention) each.  The relay is killed (-9) as soon
 * as the first batch is committed; after the restart it goes on, and no
 * entry is named by two Erasure entries.  Then record_after_close = 4s
 * erases the records too, keeping the erasures.
 */
static void test_retention(void **state)
{
	(void)state;
	enum { NOTES = 1200 };
	struct trelay t;
	trelay_setup(&t, NULL, "[retention]\ncontent_after_close = 2s\nrecord_after_close = 6s\n");
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, CASE);
	struct tclient iom, owner;
	if (tclient_open(&iom, t.port, "iom-ru-moscow") != 0 ||
	    tclient_open(&owner, t.port, "se-stockholm-coord") != 0)
		fail_msg("connect: %s %s", iom.err, owner.err);
	for (int i = 0; i < NOTES; i++) {
		uint8_t id[RECORD_ID_LEN], *env;
		size_t env_len;
		Vigil__V1__Frame *a = sealed_contact(&iom, CASE, "a note to be kept a while", id, &env,
						     &env_len);
		receipt_index(a);
		frame_free(a);
		free(env);
	}
	assert_int_equal(db_int(&t, "SELECT count(*) FROM sealed"), NOTES);
	Vigil__V1__Frame *a = casekit_close(&owner, CASE);
	receipt_index(a);
	frame_free(a);
	tclient_close(&iom);
	tclient_close(&owner);

	/* Killed right after the first batch. */
	size_t named;
	int twice, found = 0;
	for (int i = 0; i < 2000 && !found; i++) {
		found = retention_erasures(&t, &named, &twice, 0);
		if (!found)
			usleep(5 * 1000);
	}
	assert_true(found > 0);
	trelay_kill9(&t);
	/* (The relay may have committed more between the look and the kill.) */
	found = retention_erasures(&t, &named, &twice, 0);
	long long left = db_int(&t, "SELECT count(*) FROM sealed");
	print_message("killed after %d retention erasure%s: %zu sealed notes erased, %lld left\n",
		      found, found == 1 ? "" : "s", named, left);
	assert_int_equal(left + (long long)named, NOTES);
	assert_int_equal(twice, 0);

	/* It goes on after the restart; nothing is named twice. */
	assert_int_equal(trelay_start(&t), 0);
	for (int i = 0; i < 400 && db_int(&t, "SELECT count(*) FROM sealed") > 0; i++)
		usleep(50 * 1000);
	assert_int_equal(db_int(&t, "SELECT count(*) FROM sealed"), 0);
	int n = retention_erasures(&t, &named, &twice, 0);
	assert_true(n >= 3);
	assert_int_equal(named, NOTES);
	assert_int_equal(twice, 0);
	assert_int_equal(db_int(&t, "SELECT count(*) FROM erased WHERE what = 1"), NOTES);

	/* The records follow (the case open, the notes, the close; not the
	 * erasures). */
	for (int i = 0; i < 400 && retention_erasures(&t, &named, &twice, 1) == 0; i++)
		usleep(50 * 1000);
	for (int i = 0; i < 100 &&
			db_int(&t, "SELECT retained FROM cases WHERE case_id = '" CASE "'") != 2;
	     i++)
		usleep(50 * 1000);
	int m = retention_erasures(&t, &named, &twice, 1);
	assert_int_equal(m, 3); /* 500, 500 and 202 */
	assert_int_equal(twice, 0);
	assert_int_equal(named, NOTES + 2);
	assert_int_equal(db_int(&t, "SELECT count(*) FROM entries WHERE case_id = '" CASE "' AND "
				    "length(record) = 0"),
			 NOTES + 2);
	assert_int_equal(db_int(&t, "SELECT count(*) FROM entries WHERE case_id = '" CASE "' AND "
				    "author = 'vigil-relay' AND length(record) > 0"),
			 n + m);
	assert_int_equal(trelay_stop(&t), 0);
	char out[2048];
	const char *args[] = { "vigild", "-c", t.conf, "--verify-db", NULL };
	assert_int_equal(run_vigild(args, out, sizeof(out)), 0);
	char want[256];
	snprintf(want, sizeof(want), "\nerased: %d records (only their leaf hash is kept), 0 sealed "
		 "texts; each named by a signed Erasure entry\n", NOTES + 2);
	if (!strstr(out, want))
		fail_msg("--verify-db said: %s", out);
	trelay_cleanup(&t);
}

static Vigil__V1__Frame *grant(struct tclient *c, const char *case_id, const char *to)
{
	uint8_t id[RECORD_ID_LEN];
	Vigil__V1__Record r;
	casekit_record(&r, id, case_id, c->org);
	Vigil__V1__Grant g = VIGIL__V1__GRANT__INIT;
	g.to = (char *)to;
	r.body_case = VIGIL__V1__RECORD__BODY_GRANT;
	r.grant = &g;
	return casekit_submit(c, &r);
}

/*
 * Police read no narrative unless the owner grants it (a logged record):
 * before, a note sealed to police is refused and police may not read the
 * case's records; after, every new note must be sealed to police too, and
 * police read the records.
 */
static void test_grant(void **state)
{
	(void)state;
	struct trelay t;
	trelay_setup(&t, NULL, NULL);
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, CASE);
	struct tclient iom, owner, police;
	if (tclient_open(&iom, t.port, "iom-ru-moscow") != 0 ||
	    tclient_open(&owner, t.port, "se-stockholm-coord") != 0 ||
	    tclient_open(&police, t.port, "se-police-noa") != 0)
		fail_msg("connect: %s %s %s", iom.err, owner.err, police.err);
	static const char *const with_police[] = { "se-stockholm-coord", "iom-ru-moscow",
						   "se-shelter-1", "se-police-noa" };
	uint8_t id[RECORD_ID_LEN], *env;
	size_t env_len;
	Vigil__V1__Frame *a = casekit_log(&police, CASE);
	expect_refused(a, "PERMISSION_DENIED",
		       "the case's records are for coordinator, iom, shelter and responsible parties");
	a = sealed_contact_to(&iom, CASE, "police are not readers yet", with_police, 4, id, &env,
			      &env_len);
	free(env);
	if (a->msg_case != VIGIL__V1__FRAME__MSG_ERROR ||
	    strncmp(a->error->message, "sealed note names reader ", 25) != 0 ||
	    !strstr(a->error->message, ", which is no reader of this case"))
		fail_msg("a note sealed to police too: %s %s", casekit_outcome(a),
			 a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? a->error->message : "");
	frame_free(a);

	expect_refused(grant(&iom, CASE, "se-police-noa"), "PERMISSION_DENIED",
		       "only the case's owner (se-stockholm-coord) grants access to its narrative");
	expect_refused(grant(&owner, CASE, "iom-md-chisinau"), "BAD_REQUEST",
		       "iom-md-chisinau is not a party of case " CASE);
	expect_refused(grant(&owner, CASE, "iom-ru-moscow"), "BAD_REQUEST",
		       "iom-ru-moscow reads the narrative of case " CASE " already");
	a = grant(&owner, CASE, "se-police-noa");
	receipt_index(a);
	frame_free(a);
	assert_int_equal(db_int(&t, "SELECT granted FROM case_parties WHERE case_id = '" CASE
				    "' AND org = 'se-police-noa'"),
			 1);
	expect_refused(grant(&owner, CASE, "se-police-noa"), "BAD_REQUEST",
		       "se-police-noa reads the narrative of case " CASE " already");

	/* Now police are readers: a note without them is refused. */
	a = sealed_contact(&iom, CASE, "police must read this", id, &env, &env_len);
	free(env);
	expect_refused(a, "BAD_REQUEST",
		       "sealed note must be sealed to se-police-noa too (a reader of this case)");
	a = sealed_contact_to(&iom, CASE, "police read this", with_police, 4, id, &env, &env_len);
	receipt_index(a);
	frame_free(a);
	free(env);
	a = casekit_log(&police, CASE);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CASE_LOG);
	frame_free(a);
	tclient_close(&iom);
	tclient_close(&owner);
	tclient_close(&police);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/* The MemberKey entries of the log: how many name org, and whether the
 * last one carries the DER of PKI_DIR/file (NULL: carries none). */
struct member_key_count {
	const char *org;
	const unsigned char *der;
	int der_len, n, last_ok;
};

static void member_key_row(void *ctx, const uint8_t *rec, size_t len)
{
	struct member_key_count *mk = ctx;
	Vigil__V1__Record *r = vigil__v1__record__unpack(NULL, len, rec);
	assert_non_null(r);
	assert_int_equal(r->body_case, VIGIL__V1__RECORD__BODY_MEMBER_KEY);
	assert_string_equal(r->author, "vigil-relay");
	if (strcmp(r->member_key->organisation, mk->org) == 0) {
		mk->n++;
		ProtobufCBinaryData *c = &r->member_key->encryption_certificate;
		mk->last_ok = mk->der ? c->len == (size_t)mk->der_len &&
					       memcmp(c->data, mk->der, c->len) == 0
				      : c->len == 0;
	}
	vigil__v1__record__free_unpacked(r, NULL);
}

static int member_key_entries(struct trelay *t, const char *org, const char *file, int *last_ok)
{
	unsigned char *der = NULL;
	int der_len = 0;
	if (file) {
		FILE *f = fopen(pki(file), "r");
		assert_non_null(f);
		X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
		der_len = i2d_X509(x, &der);
		X509_free(x);
	}
	struct member_key_count mk = { org, der, der_len, 0, 0 };
	assert_true(db_each(t, "SELECT record FROM entries WHERE case_id = 'vigil-relay/members' "
			    "ORDER BY idx", member_key_row, &mk) >= 0);
	if (mk.n)
		*last_ok = mk.last_ok;
	OPENSSL_free(der);
	return mk.n;
}

/*
 * Every encryption certificate sealed text can be encrypted to is on the
 * record: logged (MemberKey, signed by the relay) at the first start, once,
 * and again at a start when the directory drops or changes it.
 */
static void test_member_keys(void **state)
{
	(void)state;
	struct trelay t;
	trelay_setup(&t, NULL, NULL);
	assert_int_equal(trelay_start(&t), 0);
	/* The six members' keys are the log's first entries. */
	assert_int_equal(db_int(&t, "SELECT count(*) FROM member_keys"), PKI_MEMBER_KEYS);
	assert_int_equal(db_int(&t, "SELECT max(idx) FROM member_keys"), PKI_MEMBER_KEYS - 1);
	trelay_open_case(&t, CASE);
	struct tclient iom;
	if (tclient_open(&iom, t.port, "iom-ru-moscow") != 0)
		fail_msg("connect: %s", iom.err);
	uint8_t id[RECORD_ID_LEN], *env;
	size_t env_len;
	Vigil__V1__Frame *a = sealed_contact(&iom, CASE, "a note", id, &env, &env_len);
	assert_int_equal(receipt_index(a), PKI_MEMBER_KEYS + 1);
	frame_free(a);
	free(env);
	tclient_close(&iom);
	int ok = 0;
	assert_int_equal(member_key_entries(&t, "se-shelter-1", "se-shelter-1.enc.crt", &ok), 1);
	assert_true(ok);
	assert_int_equal(member_key_entries(&t, "se-police-noa", "se-police-noa.enc.crt", &ok), 1);
	assert_true(ok);
	assert_int_equal(member_key_entries(&t, "vigil-relay", NULL, &ok), 0);
	assert_int_equal(trelay_stop(&t), 0);
	/* Nothing again at the next start. */
	assert_int_equal(trelay_start(&t), 0);
	assert_int_equal(db_int(&t, "SELECT count(*) FROM entries WHERE case_id = "
				    "'vigil-relay/members'"),
			 PKI_MEMBER_KEYS);
	assert_int_equal(trelay_stop(&t), 0);

	/* The directory drops the shelter's certificate: logged at start-up. */
	char dir[700], text[4096], line[700];
	snprintf(dir, sizeof(dir), "%s/members.conf", t.dir);
	FILE *in = fopen(pki("directory.conf"), "r"), *out = fopen(dir, "w");
	assert_non_null(in);
	assert_non_null(out);
	while (fgets(line, sizeof(line), in)) {
		const char *v = strstr(line, "encryption_cert = ");
		if (v && strstr(line, "se-shelter-1"))
			continue;
		if (v) {
			char file[128];
			snprintf(file, sizeof(file), "%s", v + 18);
			file[strcspn(file, "\n")] = '\0';
			snprintf(text, sizeof(text), "encryption_cert = %s\n", pki(file));
			fputs(text, out);
		} else {
			fputs(line, out);
		}
	}
	fclose(in);
	fclose(out);
	snprintf(text, sizeof(text), "path = %s\n", dir);
	snprintf(line, sizeof(line), "path = %s\n", pki("directory.conf"));
	file_replace(t.conf, line, text);
	assert_int_equal(trelay_start(&t), 0);
	assert_int_equal(member_key_entries(&t, "se-shelter-1", NULL, &ok), 2);
	assert_true(ok);
	assert_int_equal(db_int(&t, "SELECT count(*) FROM member_keys"), PKI_MEMBER_KEYS - 1);
	assert_int_equal(trelay_stop(&t), 0);
	/* And nothing again at the next start. */
	assert_int_equal(trelay_start(&t), 0);
	assert_int_equal(member_key_entries(&t, "se-shelter-1", NULL, &ok), 2);
	assert_int_equal(trelay_stop(&t), 0);
	char vout[2048], want[256];
	const char *args[] = { "vigild", "-c", t.conf, "--verify-db", NULL };
	assert_int_equal(run_vigild(args, vout, sizeof(vout)), 0);
	/* The audit checks the stored sealed texts too: their form, and their
	 * recipients against the readers the record names (with the keys of
	 * the MemberKey entries). */
	assert_int_equal(db_change(&t, "UPDATE sealed SET cms = X'3000'"), 0);
	assert_int_equal(run_vigild(args, vout, sizeof(vout)), 1);
	snprintf(want, sizeof(want), "entry %d: sealed text is not DER CMS\n", PKI_MEMBER_KEYS + 1);
	assert_string_equal(vout, want);
	trelay_cleanup(&t);
}

/* vigil as who, with its encryption key, against t; the arguments up to
 * a NULL. */
static struct cli_result *vigil_cli(struct trelay *t, const char *who, ...)
{
	static struct cli_args a;
	static struct cli_result res;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add_conn(&a, t->port, who, "ca.crt");
	cli_add(&a, "--enc-cert", cli_keep(&a, "%s.enc.crt", pki(who)), "--enc-key",
		cli_keep(&a, "%s.enc.key", pki(who)), NULL);
	va_list ap;
	va_start(ap, who);
	cli_addv(&a, ap);
	va_end(ap);
	res.status = cli_run(&a, NULL, res.out, sizeof(res.out), res.err, sizeof(res.err));
	return &res;
}

/* The line of `vigil log` output that begins with entry idx. */
static void log_line(const char *out, unsigned long long idx, char *line, size_t n)
{
	char start[32];
	snprintf(start, sizeof(start), "%llu ", idx);
	for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, start, strlen(start)) == 0) {
			size_t len = strcspn(p, "\n");
			snprintf(line, n, "%.*s", (int)len, p);
			return;
		}
	fail_msg("no line for entry %llu in:\n%s", idx, out);
}

/* The tool: `vigil erase` and `vigil grant` by the owner, refusals with
 * their messages, and `vigil log` showing [erased] for an erased note and
 * an erased record, every proof still verified. */
static void test_cli(void **state)
{
	(void)state;
	struct trelay t;
	trelay_setup(&t, NULL, NULL);
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, CASE);
	struct cli_result *r = vigil_cli(&t, "iom-ru-moscow", "--json", "contact", "--case", CASE,
					 "--channel", "phone", "--outcome", "reached-concern",
					 "--note", "she asked us not to write this down", NULL);
	cli_expect_ok(r);
	char noted[2 * RECORD_ID_LEN + 1];
	snprintf(noted, sizeof(noted), "%.*s", 2 * RECORD_ID_LEN,
		 jmust(r->out, "record_id") + 1);
	long long noted_idx = atoll(jmust(r->out, "index"));
	r = vigil_cli(&t, "iom-ru-moscow", "--json", "contact", "--case", CASE, "--channel", "sms",
		      "--outcome", "no-answer", NULL);
	cli_expect_ok(r);
	char plain[2 * RECORD_ID_LEN + 1];
	snprintf(plain, sizeof(plain), "%.*s", 2 * RECORD_ID_LEN,
		 jmust(r->out, "record_id") + 1);
	long long plain_idx = atoll(jmust(r->out, "index"));
	/* The coordinator reads the note before. */
	r = vigil_cli(&t, "se-stockholm-coord", "log", CASE, NULL);
	cli_expect_ok(r);
	char line[1024];
	log_line(r->out, (unsigned long long)noted_idx, line, sizeof(line));
	assert_non_null(strstr(line, "note=\"she asked us not to write this down\""));

	r = vigil_cli(&t, "iom-ru-moscow", "erase", "--case", CASE, "--record-id", noted,
		      "--reason", "data-subject-request", "--reference", "DPO-7", NULL);
	cli_expect_status(r, 1);
	assert_non_null(strstr(r->err, "PERMISSION_DENIED: only the case's owner "
				       "(se-stockholm-coord) erases its records"));
	r = vigil_cli(&t, "se-stockholm-coord", "erase", "--case", CASE, "--record-id", noted,
		      "--reason", "retention", "--reference", "DPO-7", NULL);
	if (r->status != 2 || !strstr(r->err, "unknown erase reason \"retention\" (one of: "
					      "data-subject-request, unlawful-content, other)"))
		fail_msg("exit %d: %s", r->status, r->err);
	r = vigil_cli(&t, "se-stockholm-coord", "erase", "--case", CASE, "--record-id", "abc",
		      "--reason", "other", "--reference", "DPO-7", NULL);
	cli_expect_usage(r, "erase: --record-id must be 32 hex digits");

	r = vigil_cli(&t, "se-stockholm-coord", "erase", "--case", CASE, "--record-id", noted,
		      "--reason", "data-subject-request", "--reference", "DPO-7", NULL);
	cli_expect_ok(r);
	r = vigil_cli(&t, "se-stockholm-coord", "erase", "--case", CASE, "--record-id", plain,
		      "--record", "--reason", "unlawful-content", "--reference", "DPO-8", NULL);
	cli_expect_ok(r);
	r = vigil_cli(&t, "se-stockholm-coord", "grant", "--case", CASE, "--to", "se-police-noa",
		      NULL);
	cli_expect_ok(r);

	/* The case log: both erasures marked, each Erasure entry said. */
	r = vigil_cli(&t, "se-stockholm-coord", "log", CASE, NULL);
	cli_expect_ok(r);
	log_line(r->out, (unsigned long long)noted_idx, line, sizeof(line));
	assert_non_null(strstr(line, " iom-ru-moscow contact channel=phone outcome=reached-concern"));
	assert_non_null(strstr(line, " note=[erased]"));
	log_line(r->out, (unsigned long long)plain_idx, line, sizeof(line));
	assert_non_null(strstr(line, " [erased record: only its leaf hash is kept]"));
	char want[256];
	snprintf(want, sizeof(want), " vigil-relay erasure what=sealed-texts reason=data-subject-"
		 "request entries=%lld requested-by=se-stockholm-coord", noted_idx);
	assert_non_null(strstr(r->out, want));
	snprintf(want, sizeof(want), " vigil-relay erasure what=records reason=unlawful-content "
		 "entries=%lld requested-by=se-stockholm-coord", plain_idx);
	assert_non_null(strstr(r->out, want));
	assert_non_null(strstr(r->out, " se-stockholm-coord grant to=se-police-noa\n"));
	assert_non_null(strstr(r->out, "verified: "));
	/* Police read the records now. */
	r = vigil_cli(&t, "se-police-noa", "--json", "log", CASE, NULL);
	cli_expect_ok(r);
	assert_non_null(strstr(r->out, "\"note_erased\":true"));
	assert_non_null(strstr(r->out, "\"erased\":\"record\""));
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli),
		cmocka_unit_test(test_member_keys),
		cmocka_unit_test(test_grant),
		cmocka_unit_test(test_erasure),
		cmocka_unit_test(test_retention),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
