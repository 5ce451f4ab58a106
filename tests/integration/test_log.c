/*
 * The tamper-evident log, black-box: a real vigild, receipts with signed
 * checkpoints and inclusion proofs, the proof and leaf queries, periodic
 * checkpoints, kill -9 in the middle of batches, --verify-db, a tampered
 * database refused at start-up, and the migration from schema 1.
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

#include <openssl/pem.h>
#include <sqlite3.h>

#include "casekit.h"
#include "harness.h"
#include "proto/merkle.h"
#include "proto/note.h"
#include "proto/status.h"

#define ORIGIN "vigil.test/log"

static struct trelay R;
static struct note_verifier V;

static void load_verifier(void)
{
	FILE *f = fopen(pki("checkpoint.pub"), "r");
	assert_non_null(f);
	EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	assert_int_equal(note_verifier_from_key(k, ORIGIN, &V), VG_OK);
	EVP_PKEY_free(k);
}

/* Verifies a signed checkpoint note and parses it. */
static void open_checkpoint(const char *note, struct checkpoint *c)
{
	size_t tl;
	if (note_open(note, strlen(note), &V, &tl) != VG_OK)
		fail_msg("checkpoint does not verify:\n%s", note);
	assert_int_equal(checkpoint_parse(note, tl, c), VG_OK);
	assert_string_equal(c->origin, ORIGIN);
}

static int64_t signed_at(const char *note)
{
	const char *p = strstr(note, "\nsigned-at ");
	assert_non_null(p);
	return atoll(p + 11);
}

static Vigil__V1__Frame *request(struct tclient *c, Vigil__V1__Frame *f)
{
	f->request_id = c->next_id++;
	if (tclient_send_frame(c, f) != 0)
		fail_msg("send: %s", c->err);
	Vigil__V1__Frame *a;
	if (tclient_recv(c, &a, 10000) != 0)
		fail_msg("recv: %s", c->err);
	assert_int_equal(a->request_id, f->request_id);
	return a;
}

static Vigil__V1__Frame *get_checkpoint(struct tclient *c, struct checkpoint *cp)
{
	Vigil__V1__GetCheckpoint g = VIGIL__V1__GET_CHECKPOINT__INIT;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_CHECKPOINT;
	f.get_checkpoint = &g;
	Vigil__V1__Frame *a = request(c, &f);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CHECKPOINT);
	open_checkpoint(a->checkpoint->note, cp);
	return a;
}

static Vigil__V1__Frame *get_inclusion(struct tclient *c, uint64_t index, uint64_t size)
{
	Vigil__V1__GetInclusionProof g = VIGIL__V1__GET_INCLUSION_PROOF__INIT;
	g.index = index;
	g.tree_size = size;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_INCLUSION_PROOF;
	f.get_inclusion_proof = &g;
	return request(c, &f);
}

static Vigil__V1__Frame *get_consistency(struct tclient *c, uint64_t from, uint64_t to)
{
	Vigil__V1__GetConsistencyProof g = VIGIL__V1__GET_CONSISTENCY_PROOF__INIT;
	g.from_size = from;
	g.to_size = to;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_CONSISTENCY_PROOF;
	f.get_consistency_proof = &g;
	return request(c, &f);
}

static Vigil__V1__Frame *get_leaves(struct tclient *c, uint64_t start, uint32_t count)
{
	Vigil__V1__GetLeafHashes g = VIGIL__V1__GET_LEAF_HASHES__INIT;
	g.start = start;
	g.count = count;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_LEAF_HASHES;
	f.get_leaf_hashes = &g;
	return request(c, &f);
}

static Vigil__V1__Frame *get_entries(struct tclient *c, uint64_t start, uint32_t count)
{
	Vigil__V1__GetEntries g = VIGIL__V1__GET_ENTRIES__INIT;
	g.start = start;
	g.count = count;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_ENTRIES;
	f.get_entries = &g;
	return request(c, &f);
}

static void assert_error_msg(Vigil__V1__Frame *a, int status, const char *msg)
{
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_ERROR);
	assert_int_equal(a->error->code, vg_status_to_wire(status));
	assert_string_equal(a->error->message, msg);
	frame_free(a);
}

static void to_hashes(ProtobufCBinaryData *b, size_t n, merkle_hash *out)
{
	assert_true(n <= MERKLE_MAX_PROOF);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(b[i].len, SHA256_LEN);
		memcpy(out[i], b[i].data, SHA256_LEN);
	}
}

/* Submits one contact attempt and checks its receipt completely. */
static uint64_t submit_checked(struct tclient *c, struct contact_spec *s, struct checkpoint *cp)
{
	Vigil__V1__Frame *a = tclient_submit_contact(c, s);
	if (!a)
		fail_msg("%s", c->err);
	if (a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT)
		fail_msg("no receipt: %s", a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ?
			 a->error->message : "?");
	Vigil__V1__Receipt *r = a->receipt;
	struct checkpoint local;
	if (!cp)
		cp = &local;
	open_checkpoint(r->checkpoint, cp);
	assert_true(r->index < cp->size);
	merkle_hash proof[MERKLE_MAX_PROOF];
	to_hashes(r->inclusion_proof, r->n_inclusion_proof, proof);
	assert_int_equal(merkle_verify_inclusion(r->index, cp->size, r->leaf_hash.data, proof,
						 r->n_inclusion_proof, cp->root), VG_OK);
	uint64_t idx = r->index;
	frame_free(a);
	return idx;
}

static int setup(void **state)
{
	(void)state;
	load_verifier();
	trelay_setup(&R, NULL, "checkpoint_interval = 1s");
	if (trelay_start(&R) != 0)
		return -1;
	trelay_open_case(&R, "se-stockholm-coord/SE-2026-0042"); /* entry 0 */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	int rc = trelay_stop(&R);
	trelay_cleanup(&R);
	return rc == 0 ? 0 : -1;
}

/* 70 entries; every inclusion proof for every (index, size) and every
 * consistency proof for every (m, n) up to 70 verifies against roots the
 * client rebuilds itself from the leaf hashes. */
static void test_receipts_and_all_proofs(void **state)
{
	(void)state;
	enum { N = 70 };
	struct tclient c;
	if (tclient_open(&c, R.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	/* The member keys, then the case's opening, then these. */
	for (int i = PKI_MEMBER_KEYS + 1; i < N; i++) {
		struct contact_spec s;
		contact_spec_default(&s, "iom-ru-moscow", 0);
		assert_int_equal(submit_checked(&c, &s, NULL), (uint64_t)i);
	}
	struct checkpoint latest;
	frame_free(get_checkpoint(&c, &latest));
	assert_int_equal(latest.size, N);

	Vigil__V1__Frame *a = get_leaves(&c, 0, N);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_LEAF_HASHES);
	assert_int_equal(a->leaf_hashes->n_hashes, N);
	static merkle_hash leaf[N];
	uint8_t roots[N + 1][SHA256_LEN];
	struct merkle_frontier f;
	merkle_frontier_init(&f);
	merkle_frontier_root(&f, roots[0]);
	for (int i = 0; i < N; i++) {
		memcpy(leaf[i], a->leaf_hashes->hashes[i].data, SHA256_LEN);
		merkle_frontier_append(&f, leaf[i], NULL, NULL);
		merkle_frontier_root(&f, roots[i + 1]);
	}
	frame_free(a);
	assert_memory_equal(roots[N], latest.root, SHA256_LEN);

	for (uint64_t size = 1; size <= N; size++) {
		for (uint64_t i = 0; i < size; i++) {
			a = get_inclusion(&c, i, size);
			assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_INCLUSION_PROOF);
			assert_memory_equal(a->inclusion_proof->leaf_hash.data, leaf[i], SHA256_LEN);
			merkle_hash p[MERKLE_MAX_PROOF];
			to_hashes(a->inclusion_proof->hashes, a->inclusion_proof->n_hashes, p);
			if (merkle_verify_inclusion(i, size, leaf[i], p, a->inclusion_proof->n_hashes,
						    roots[size]) != VG_OK)
				fail_msg("inclusion %llu in %llu", (unsigned long long)i,
					 (unsigned long long)size);
			frame_free(a);
		}
		for (uint64_t m = 1; m <= size; m++) {
			a = get_consistency(&c, m, size);
			assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CONSISTENCY_PROOF);
			merkle_hash p[MERKLE_MAX_PROOF];
			to_hashes(a->consistency_proof->hashes, a->consistency_proof->n_hashes, p);
			if (merkle_verify_consistency(m, size, roots[m], roots[size], p,
						      a->consistency_proof->n_hashes) != VG_OK)
				fail_msg("consistency %llu -> %llu", (unsigned long long)m,
					 (unsigned long long)size);
			frame_free(a);
		}
	}
	/* tree_size 0 means the latest checkpoint. */
	a = get_inclusion(&c, 3, 0);
	assert_int_equal(a->inclusion_proof->tree_size, N);
	frame_free(a);
	tclient_close(&c);
}

static void test_query_bounds(void **state)
{
	(void)state;
	struct tclient c;
	if (tclient_open(&c, R.port, "se-police-noa") != 0)
		fail_msg("%s", c.err);
	struct checkpoint cp;
	frame_free(get_checkpoint(&c, &cp));
	char m[160];
	snprintf(m, sizeof(m), "tree_size %llu is beyond the latest checkpoint (size %llu)",
		 (unsigned long long)cp.size + 1, (unsigned long long)cp.size);
	assert_error_msg(get_inclusion(&c, 0, cp.size + 1), VG_EBADREQ, m);
	assert_error_msg(get_inclusion(&c, 5, 5), VG_EBADREQ, "index 5 is not below tree_size 5");
	snprintf(m, sizeof(m), "from_size must be in 1..%llu", (unsigned long long)cp.size);
	assert_error_msg(get_consistency(&c, 0, 0), VG_EBADREQ, m);
	assert_error_msg(get_consistency(&c, 6, 5), VG_EBADREQ, "from_size must be in 1..5");
	assert_error_msg(get_leaves(&c, 0, 0), VG_EBADREQ, "count must be in 1..4096");
	assert_error_msg(get_leaves(&c, 0, 4097), VG_EBADREQ, "count must be in 1..4096");
	snprintf(m, sizeof(m), "range %llu+1 is beyond the latest checkpoint (size %llu)",
		 (unsigned long long)cp.size, (unsigned long long)cp.size);
	assert_error_msg(get_leaves(&c, cp.size, 1), VG_EBADREQ, m);
	assert_error_msg(get_entries(&c, 0, 1025), VG_EBADREQ, "count must be in 1..1024");
	/* The connection still serves. */
	Vigil__V1__Frame *a = get_leaves(&c, 0, 1);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_LEAF_HASHES);
	frame_free(a);
	tclient_close(&c);
}

/* Full entries only for the peer's own records. */
static void test_entries_own_only(void **state)
{
	(void)state;
	struct tclient iom, police;
	if (tclient_open(&iom, R.port, "iom-ru-moscow") != 0 ||
	    tclient_open(&police, R.port, "se-police-noa") != 0)
		fail_msg("connect");
	struct contact_spec s;
	contact_spec_default(&s, "se-police-noa", 0);
	uint64_t mine = submit_checked(&police, &s, NULL);
	Vigil__V1__Frame *a = get_entries(&police, 0, (uint32_t)(mine + 1));
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_ENTRIES);
	assert_int_equal(a->entries->n_entries, 1);
	Vigil__V1__Entry *e = a->entries->entries[0];
	assert_int_equal(e->index, mine);
	uint8_t *rec;
	size_t rec_len;
	contact_build(&s, &rec, &rec_len);
	assert_int_equal(e->record.len, rec_len);
	assert_memory_equal(e->record.data, rec, rec_len);
	free(rec);
	assert_memory_equal(e->cert_sha256.data, police.cert_sha256, SHA256_LEN);
	frame_free(a);
	a = get_entries(&iom, mine, 1);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_ENTRIES);
	assert_int_equal(a->entries->n_entries, 0);
	frame_free(a);
	tclient_close(&iom);
	tclient_close(&police);
}

/* With nothing new, a fresh checkpoint still comes every interval. */
static void test_heartbeat_checkpoint(void **state)
{
	(void)state;
	struct tclient c;
	if (tclient_open(&c, R.port, "se-stockholm-coord") != 0)
		fail_msg("%s", c.err);
	struct checkpoint a, b;
	Vigil__V1__Frame *f1 = get_checkpoint(&c, &a);
	int64_t t1 = signed_at(f1->checkpoint->note);
	usleep(2500 * 1000);
	Vigil__V1__Frame *f2 = get_checkpoint(&c, &b);
	int64_t t2 = signed_at(f2->checkpoint->note);
	assert_int_equal(a.size, b.size);
	assert_memory_equal(a.root, b.root, SHA256_LEN);
	if (t2 - t1 < 1000)
		fail_msg("checkpoint signed at %lld, then %lld", (long long)t1, (long long)t2);
	frame_free(f1);
	frame_free(f2);
	tclient_close(&c);
}

static int run_verify(struct trelay *t, char *out, size_t len)
{
	const char *args[] = { "vigild", "-c", t->conf, "--verify-db", NULL };
	return run_vigild(args, out, len);
}

/* Flips one bit in the middle of a blob of the stopped relay's store. */
static void flip_blob(struct trelay *t, const char *table, const char *col, const char *where)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE %s", col, table, where);
	uint8_t *b;
	size_t n;
	assert_int_equal(db_blob(t, sql, &b, &n), 0);
	assert_non_null(b);
	b[n / 2] ^= 0x01;
	size_t len = 2 * n + 256;
	char *up = malloc(len);
	assert_non_null(up);
	int o = snprintf(up, len, "UPDATE %s SET %s = x'", table, col);
	for (size_t i = 0; i < n; i++)
		o += snprintf(up + o, len - (size_t)o, "%02x", b[i]);
	snprintf(up + o, len - (size_t)o, "' WHERE %s", where);
	assert_int_equal(db_change(t, up), 0);
	free(up);
	free(b);
}

/* --verify-db names the first bad entry, node or checkpoint; a relay whose
 * tree no longer matches its latest checkpoint refuses to start. */
static void test_verify_db(void **state)
{
	(void)state;
	struct trelay t;
	trelay_setup(&t, NULL, NULL);
	assert_int_equal(trelay_start(&t), 0);
	/* The member keys (PKI_MEMBER_KEYS), the case's opening, 8 more: 15
	 * entries. */
	trelay_open_case(&t, "se-stockholm-coord/SE-2026-0042");
	struct tclient c;
	if (tclient_open(&c, t.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	struct checkpoint cp;
	for (int i = 1; i < 9; i++) {
		struct contact_spec s;
		contact_spec_default(&s, "iom-ru-moscow", 0);
		submit_checked(&c, &s, &cp);
	}
	tclient_close(&c);
	assert_int_equal(trelay_stop(&t), 0);

	char out[4096], want[256], hex[2 * SHA256_LEN + 1];
	hex_encode(cp.root, SHA256_LEN, hex);
	snprintf(want, sizeof(want), "log OK: %d entries, root %s\n", PKI_MEMBER_KEYS + 9, hex);
	assert_int_equal(run_verify(&t, out, sizeof(out)), 0);
	assert_string_equal(out, want);

	assert_int_equal(store_snapshot(&t, "clean"), 0);

	flip_blob(&t, "entries", "record", "idx = 3");
	assert_int_equal(run_verify(&t, out, sizeof(out)), 1);
	assert_string_equal(out, "entry 3: its contents do not hash to its stored leaf hash\n");

	assert_int_equal(store_restore(&t, "clean"), 0);
	flip_blob(&t, "entries", "signature", "idx = 5");
	assert_int_equal(run_verify(&t, out, sizeof(out)), 1);
	assert_string_equal(out, "entry 5: its contents do not hash to its stored leaf hash\n");

	assert_int_equal(store_restore(&t, "clean"), 0);
	flip_blob(&t, "tree", "hash", "level = 2 AND idx = 1");
	assert_int_equal(run_verify(&t, out, sizeof(out)), 1);
	assert_string_equal(out, "tree node (level 2, index 1): does not match the entries\n");

	int n = PKI_MEMBER_KEYS + 9;
	char where[64], msg[160];
	assert_int_equal(store_restore(&t, "clean"), 0);
	snprintf(where, sizeof(where), "size = %d", n - 5);
	flip_blob(&t, "checkpoints", "root", where);
	assert_int_equal(run_verify(&t, out, sizeof(out)), 1);
	snprintf(msg, sizeof(msg), "(size %d): the signed note does not match its stored size and "
		 "root", n - 5);
	assert_true(strstr(out, msg) != NULL);

	/* The frontier of 15 entries is (level 3, index 0), (level 2, index
	 * 2), (level 1, index 6) and leaf 14: a changed (level 3) node makes
	 * the log disagree with its latest checkpoint. */
	assert_int_equal(store_restore(&t, "clean"), 0);
	flip_blob(&t, "tree", "hash", "level = 3 AND idx = 0");
	assert_int_not_equal(trelay_start(&t), 0);
	snprintf(msg, sizeof(msg), "does not match its latest checkpoint (size %d); refusing", n);
	assert_true(trelay_log_has(&t, msg, 0));

	/* Entries the latest checkpoint does not cover were added behind the
	 * relay's back: it refuses to sign over them. */
	assert_int_equal(store_restore(&t, "clean"), 0);
	char sql[64];
	snprintf(sql, sizeof(sql), "DELETE FROM checkpoints WHERE size = %d", n);
	assert_int_equal(db_change(&t, sql), 0);
	assert_int_not_equal(trelay_start(&t), 0);
	snprintf(msg, sizeof(msg), "the log (%d entries) does not match its latest checkpoint "
		 "(size %d)", n, n - 1);
	assert_true(trelay_log_has(&t, msg, 0));

	assert_int_equal(store_restore(&t, "clean"), 0);
	assert_int_equal(trelay_start(&t), 0);
	assert_int_equal(trelay_stop(&t), 0);
	trelay_cleanup(&t);
}

/* kill -9 while batches are in flight: what was receipted is there with
 * its index, no batch is half there (every entry is covered by a checkpoint
 * and --verify-db passes), and the checkpoints after the restart are
 * consistent with the last one a client saw before. */
static void test_kill9_mid_batch(void **state)
{
	(void)state;
	enum { N = 400 };
	struct trelay t;
	trelay_setup(&t, NULL, NULL);
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, "se-stockholm-coord/SE-2026-0042");
	struct tclient c;
	if (tclient_open(&c, t.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	static struct contact_spec specs[N + 1];
	for (int i = 1; i <= N; i++) {
		contact_spec_default(&specs[i], "iom-ru-moscow", 0);
		uint8_t *rec, *sig;
		size_t rec_len, sig_len;
		contact_build(&specs[i], &rec, &rec_len);
		record_sign(c.key, rec, rec_len, &sig, &sig_len);
		Vigil__V1__SignedRecord sr = VIGIL__V1__SIGNED_RECORD__INIT;
		sr.record.data = rec;
		sr.record.len = rec_len;
		sr.signature.data = sig;
		sr.signature.len = sig_len;
		Vigil__V1__Submit sub = VIGIL__V1__SUBMIT__INIT;
		sub.record = &sr;
		Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
		f.request_id = (uint64_t)i;
		f.msg_case = VIGIL__V1__FRAME__MSG_SUBMIT;
		f.submit = &sub;
		assert_int_equal(tclient_send_frame(&c, &f), 0);
		free(rec);
		free(sig);
	}
	/* Take some receipts, then kill the relay with the rest in flight. */
	static uint64_t got_index[N + 1];
	static int got[N + 1];
	struct checkpoint seen;
	memset(&seen, 0, sizeof(seen));
	int receipts = 0;
	while (receipts < N / 4) {
		Vigil__V1__Frame *a;
		if (tclient_recv(&c, &a, 10000) != 0)
			fail_msg("%s", c.err);
		assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_RECEIPT);
		got[a->request_id] = 1;
		got_index[a->request_id] = a->receipt->index;
		struct checkpoint cp;
		open_checkpoint(a->receipt->checkpoint, &cp);
		if (cp.size > seen.size)
			seen = cp;
		frame_free(a);
		receipts++;
	}
	trelay_kill9(&t);
	tclient_close(&c);

	assert_int_equal(trelay_start(&t), 0);
	long long n = db_int(&t, "SELECT count(*) FROM entries");
	long long covered = db_int(&t, "SELECT max(size) FROM checkpoints");
	assert_true(n >= receipts);
	assert_int_equal(n, covered);
	assert_int_equal(db_int(&t, "SELECT count(*) FROM entries WHERE idx >= "
				    "(SELECT max(size) FROM checkpoints)"), 0);
	if (tclient_open(&c, t.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	for (int i = 1; i <= N; i++) {
		if (!got[i])
			continue;
		struct checkpoint cp;
		assert_int_equal(submit_checked(&c, &specs[i], &cp), got_index[i]);
	}
	struct checkpoint now;
	frame_free(get_checkpoint(&c, &now));
	assert_true(now.size >= seen.size);
	Vigil__V1__Frame *a = get_consistency(&c, seen.size, now.size);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CONSISTENCY_PROOF);
	merkle_hash p[MERKLE_MAX_PROOF];
	to_hashes(a->consistency_proof->hashes, a->consistency_proof->n_hashes, p);
	assert_int_equal(merkle_verify_consistency(seen.size, now.size, seen.root, now.root, p,
						   a->consistency_proof->n_hashes), VG_OK);
	frame_free(a);
	tclient_close(&c);
	assert_int_equal(trelay_stop(&t), 0);
	char out[1024];
	assert_int_equal(run_verify(&t, out, sizeof(out)), 0);
	trelay_cleanup(&t);
}

/* A database of schema 1 (entries only) is migrated: the tree is built
 * once, a checkpoint signed, and the log it had is a prefix of the new one. */
static void test_migration_from_schema_1(void **state)
{
	(void)state;
	/* A PostgreSQL store began at schema 8: there is no older one to
	 * migrate, and the schema 1 here is built by hand with SQLite. */
	if (!sqlite_only("the migration from schema 1, an SQLite database built by hand"))
		skip();
	struct trelay t;
	trelay_setup(&t, NULL, NULL);
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, "se-stockholm-coord/SE-2026-0042"); /* after the member keys */
	struct tclient c;
	if (tclient_open(&c, t.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	struct checkpoint before;
	for (int i = 1; i < 11; i++) {
		struct contact_spec s;
		contact_spec_default(&s, "iom-ru-moscow", 0);
		submit_checked(&c, &s, &before);
	}
	tclient_close(&c);
	assert_int_equal(trelay_stop(&t), 0);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE tree; DROP TABLE checkpoints; "
				      "DROP TABLE cases; DROP TABLE case_parties; DROP TABLE case_reads; "
				      "DROP TABLE orgs; DROP TABLE alerts; DROP TABLE delivery_acks; DROP TABLE sealed; DROP TABLE erased; DROP TABLE member_keys; DROP TABLE reseals; DROP TABLE corrections; DROP TABLE log_head; "
				      "PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(trelay_start(&t), 0);
	assert_true(trelay_log_has(&t, "migrated", 2000));
	assert_int_equal(db_int(&t, "PRAGMA user_version"), 9);
	assert_int_equal(db_int(&t, "SELECT count(*) FROM corrections"), 0);
	if (tclient_open(&c, t.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	/* The migrated entries are the same: the log before is a prefix of
	 * the log after (which has the member keys logged at start-up too). */
	struct checkpoint after;
	frame_free(get_checkpoint(&c, &after));
	assert_int_equal(before.size, PKI_MEMBER_KEYS + 11);
	assert_int_equal(after.size, before.size + PKI_MEMBER_KEYS);
	Vigil__V1__Frame *cy = get_consistency(&c, before.size, after.size);
	assert_int_equal(cy->msg_case, VIGIL__V1__FRAME__MSG_CONSISTENCY_PROOF);
	merkle_hash cproof[MERKLE_MAX_PROOF];
	to_hashes(cy->consistency_proof->hashes, cy->consistency_proof->n_hashes, cproof);
	assert_int_equal(merkle_verify_consistency(before.size, after.size, before.root, after.root,
						   cproof, cy->consistency_proof->n_hashes),
			 VG_OK);
	frame_free(cy);
	/* Records of schema 1 belong to no case: the case is opened anew. */
	tclient_close(&c);
	trelay_open_case(&t, "se-stockholm-coord/SE-2026-0042");
	if (tclient_open(&c, t.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	struct contact_spec s;
	contact_spec_default(&s, "iom-ru-moscow", 0);
	assert_int_equal(submit_checked(&c, &s, NULL), after.size + 1);
	tclient_close(&c);
	/* The case reopened on the migrated schema records its owner. */
	char owner[128];
	assert_int_equal(db_text(&t, "SELECT owner FROM cases WHERE case_id = "
				 "'se-stockholm-coord/SE-2026-0042'", owner, sizeof(owner)), 0);
	assert_string_equal(owner, "se-stockholm-coord");
	assert_int_equal(trelay_stop(&t), 0);
	char out[1024];
	assert_int_equal(run_verify(&t, out, sizeof(out)), 0);
	trelay_cleanup(&t);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest shared[] = {
		cmocka_unit_test(test_receipts_and_all_proofs),
		cmocka_unit_test(test_query_bounds),
		cmocka_unit_test(test_entries_own_only),
		cmocka_unit_test(test_heartbeat_checkpoint),
	};
	const struct CMUnitTest own[] = {
		cmocka_unit_test(test_verify_db),
		cmocka_unit_test(test_kill9_mid_batch),
		cmocka_unit_test(test_migration_from_schema_1),
	};
	int failed = cmocka_run_group_tests_name("log (shared relay)", shared, setup, teardown);
	failed += cmocka_run_group_tests_name("log (own relay)", own, NULL, NULL);
	return failed;
}
