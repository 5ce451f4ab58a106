/*
 * test_backup.c - `vigild --backup DEST` against a real relay:
 *
 *   - a backup taken while two clients submit without pause succeeds, its
 *     facts (size, entries, latest checkpoint) are those of the copy and of
 *     the live log, the copy is mode 0600 and keeps application_id and
 *     user_version;
 *   - restored into a fresh relay directory (a new configuration pointing
 *     at the copy), --verify-db passes, the relay starts, and its log is
 *     consistent with a checkpoint fetched before the backup (a consistency
 *     proof from the restored relay); a record receipted before the backup
 *     is a duplicate there, one receipted after it is taken anew;
 *   - with no relay running (stopped, or killed with its WAL left), the
 *     database file is left as it was;
 *   - refusals with their messages: DEST exists, the store missing, DEST in
 *     a directory that does not exist, a WAL by DEST's name, a copy that
 *     does not verify; none leaves a DEST or a partial file behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sqlite3.h>

#include "casekit.h"
#include "harness.h"
#include "proto/merkle.h"
#include "proto/note.h"
#include "proto/status.h"

#define ORIGIN "vigil.test/log"
#define CASE "se-stockholm-coord/SE-2026-0042"
#define BACKUP_TIMEOUT_MS 180000
#define PATIENCE_MS 60000

static struct note_verifier V;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int load_verifier(void **state)
{
	(void)state;
	FILE *f = fopen(pki("checkpoint.pub"), "r");
	if (!f)
		return -1;
	EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	int rc = k && note_verifier_from_key(k, ORIGIN, &V) == VG_OK ? 0 : -1;
	EVP_PKEY_free(k);
	return rc;
}

/* ---- vigild --backup ---------------------------------------------------------- */

struct backup_out {
	int status;
	char out[4096];
	char err[4096];
	int64_t ms;
	/* the facts, parsed from out (when status is 0) */
	char path[700];
	long long bytes, entries, checkpoint_size;
	char root[2 * SHA256_LEN + 1];
};

/* The value of "key VALUE" in the report, or NULL. */
static const char *fact(const char *out, const char *key, char *val, size_t val_len)
{
	size_t kl = strlen(key);
	for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
			const char *e = strchr(p + kl + 1, '\n');
			size_t n = e ? (size_t)(e - (p + kl + 1)) : strlen(p + kl + 1);
			if (n >= val_len)
				return NULL;
			memcpy(val, p + kl + 1, n);
			val[n] = '\0';
			return val;
		}
	}
	return NULL;
}

static long long fact_num(const char *out, const char *key)
{
	char v[64];
	if (!fact(out, key, v, sizeof(v)))
		fail_msg("no \"%s\" in the report:\n%s", key, out);
	char *end;
	long long n = strtoll(v, &end, 10);
	if (*end || end == v)
		fail_msg("\"%s %s\" is not a number", key, v);
	return n;
}

static void run_backup(struct trelay *t, const char *dest, struct backup_out *b)
{
	memset(b, 0, sizeof(*b));
	const char *argv[] = { VIGILD_PATH, "-c", t->conf, "--backup", dest, NULL };
	int64_t t0 = now_ms();
	b->status = run_capture(argv, NULL, b->out, sizeof(b->out), b->err, sizeof(b->err),
				BACKUP_TIMEOUT_MS);
	b->ms = now_ms() - t0;
	if (b->status != 0)
		return;
	/* The report: exactly these five lines, in this order. */
	static const char *const keys[] = { "backup", "bytes", "entries", "checkpoint-size",
					    "checkpoint-root" };
	const char *p = b->out;
	for (size_t i = 0; i < 5; i++) {
		size_t kl = strlen(keys[i]);
		if (strncmp(p, keys[i], kl) != 0 || p[kl] != ' ' || !strchr(p, '\n'))
			fail_msg("line %zu of the report is not \"%s ...\":\n%s", i + 1, keys[i],
				 b->out);
		p = strchr(p, '\n') + 1;
	}
	assert_string_equal(p, "");
	assert_non_null(fact(b->out, "backup", b->path, sizeof(b->path)));
	b->bytes = fact_num(b->out, "bytes");
	b->entries = fact_num(b->out, "entries");
	b->checkpoint_size = fact_num(b->out, "checkpoint-size");
	assert_non_null(fact(b->out, "checkpoint-root", b->root, sizeof(b->root)));
}

/* Files in dir whose name contains part. */
static int files_named(const char *dir, const char *part)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += strstr(e->d_name, part) != NULL;
	closedir(d);
	return n;
}

/* Files in dir but the store's WAL and shared-memory index: a read-only
 * connection to a database in WAL mode that no relay has open creates them
 * (empty), as --verify-db does. */
static int files_in(const char *dir)
{
	return files_named(dir, "") - files_named(dir, "vigil.db-wal") -
	       files_named(dir, "vigil.db-shm");
}

static int exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

/* One integer from a database file (read-only), -1 when it fails. */
static long long file_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v;
}

/* SHA-256 of a file's bytes. */
static void file_sha256(const char *path, uint8_t out[SHA256_LEN])
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	uint8_t buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		EVP_DigestUpdate(c, buf, n);
	unsigned int len;
	EVP_DigestFinal_ex(c, out, &len);
	EVP_MD_CTX_free(c);
	fclose(f);
}

static int run_verify(struct trelay *t, char *out, size_t len)
{
	const char *args[] = { "vigild", "-c", t->conf, "--verify-db", NULL };
	return run_vigild(args, out, len);
}

/* ---- the protocol ------------------------------------------------------------- */

static Vigil__V1__Frame *request(struct tclient *c, Vigil__V1__Frame *f)
{
	Vigil__V1__Frame *a = tclient_roundtrip(c, f);
	if (!a)
		fail_msg("%s", c->err);
	return a;
}

static void get_checkpoint(struct tclient *c, struct checkpoint *cp)
{
	Vigil__V1__GetCheckpoint g = VIGIL__V1__GET_CHECKPOINT__INIT;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_CHECKPOINT;
	f.get_checkpoint = &g;
	Vigil__V1__Frame *a = request(c, &f);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CHECKPOINT);
	size_t tl;
	if (note_open(a->checkpoint->note, strlen(a->checkpoint->note), &V, &tl) != VG_OK)
		fail_msg("checkpoint does not verify:\n%s", a->checkpoint->note);
	assert_int_equal(checkpoint_parse(a->checkpoint->note, tl, cp), VG_OK);
	assert_string_equal(cp->origin, ORIGIN);
	frame_free(a);
}

/* The relay proves that the tree of size m with root_m is a prefix of its
 * tree of size n with root_n: VG_OK or why not. */
static int consistent(struct tclient *c, uint64_t m, const uint8_t *root_m, uint64_t n,
		      const uint8_t *root_n)
{
	Vigil__V1__GetConsistencyProof g = VIGIL__V1__GET_CONSISTENCY_PROOF__INIT;
	g.from_size = m;
	g.to_size = n;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_CONSISTENCY_PROOF;
	f.get_consistency_proof = &g;
	Vigil__V1__Frame *a = request(c, &f);
	assert_int_equal(a->msg_case, VIGIL__V1__FRAME__MSG_CONSISTENCY_PROOF);
	size_t np = a->consistency_proof->n_hashes;
	assert_true(np <= MERKLE_MAX_PROOF);
	merkle_hash p[MERKLE_MAX_PROOF];
	for (size_t i = 0; i < np; i++) {
		assert_int_equal(a->consistency_proof->hashes[i].len, SHA256_LEN);
		memcpy(p[i], a->consistency_proof->hashes[i].data, SHA256_LEN);
	}
	frame_free(a);
	return merkle_verify_consistency(m, n, root_m, root_n, p, np);
}

/* Submits s and returns its receipt's index; fails the test otherwise. */
static uint64_t submit_receipted(struct tclient *c, const struct contact_spec *s)
{
	Vigil__V1__Frame *a = tclient_submit_contact(c, s);
	if (!a)
		fail_msg("%s", c->err);
	if (a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT)
		fail_msg("no receipt: %s", a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ?
			 a->error->message : "?");
	uint64_t idx = a->receipt->index;
	frame_free(a);
	return idx;
}

/* ---- the load: clients that submit one record after another ---------------- */

#define LOAD_MAX 50000

struct loader {
	pthread_t thread;
	int port;
	const char *org;
	volatile int stop;
	pthread_mutex_t lock;
	size_t n;                               /* receipts so far */
	uint64_t max_index;
	struct contact_spec spec[LOAD_MAX];     /* what was receipted ... */
	uint64_t index[LOAD_MAX];               /* ... at which index */
	char err[600];                          /* why it stopped early */
};

static void *load_run(void *arg)
{
	struct loader *l = arg;
	struct tclient c;
	if (tclient_open(&c, l->port, l->org) != 0) {
		snprintf(l->err, sizeof(l->err), "connect: %s", c.err);
		tclient_close(&c);
		return NULL;
	}
	while (!l->stop && l->n < LOAD_MAX) {
		struct contact_spec s;
		contact_spec_default(&s, l->org, 0);
		Vigil__V1__Frame *a = tclient_submit_contact(&c, &s);
		if (!a || a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT) {
			snprintf(l->err, sizeof(l->err), "submit: %s",
				 !a ? c.err : a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ?
				 a->error->message : "not a receipt");
			frame_free(a);
			break;
		}
		pthread_mutex_lock(&l->lock);
		l->spec[l->n] = s;
		l->index[l->n] = a->receipt->index;
		if (a->receipt->index > l->max_index)
			l->max_index = a->receipt->index;
		l->n++;
		pthread_mutex_unlock(&l->lock);
		frame_free(a);
	}
	tclient_close(&c);
	return NULL;
}

static void load_start(struct loader *l, int port, const char *org)
{
	memset(l, 0, sizeof(*l));
	l->port = port;
	l->org = org;
	pthread_mutex_init(&l->lock, NULL);
	assert_int_equal(pthread_create(&l->thread, NULL, load_run, l), 0);
}

static size_t load_count(struct loader *l, uint64_t *max_index)
{
	pthread_mutex_lock(&l->lock);
	size_t n = l->n;
	if (max_index)
		*max_index = l->max_index;
	pthread_mutex_unlock(&l->lock);
	if (l->err[0])
		fail_msg("the load stopped: %s", l->err);
	return n;
}

static void load_stop(struct loader *l)
{
	l->stop = 1;
	pthread_join(l->thread, NULL);
	pthread_mutex_destroy(&l->lock);
	if (l->err[0])
		fail_msg("the load stopped: %s", l->err);
}

/* ---- the tests ----------------------------------------------------------------- */

/*
 * A backup while two clients submit without pause; restored into a fresh
 * relay directory, the log is consistent with the checkpoint a client saw
 * before the backup, and the records receipted after it are resubmitted.
 */
static void test_backup_under_load_and_restore(void **state)
{
	(void)state;
	static struct loader load[2];
	struct trelay r, fresh;
	trelay_setup(&r, NULL, NULL);
	assert_int_equal(trelay_start(&r), 0);
	trelay_open_case(&r, CASE);
	load_start(&load[0], r.port, "iom-ru-moscow");
	load_start(&load[1], r.port, "iom-ru-moscow");
	int64_t deadline = now_ms() + PATIENCE_MS;
	while (load_count(&load[0], NULL) + load_count(&load[1], NULL) < 2000) {
		if (now_ms() > deadline)
			fail_msg("the load made %zu receipts in %d ms", load_count(&load[0], NULL) +
				 load_count(&load[1], NULL), PATIENCE_MS);
		usleep(20000);
	}

	/* What a monitor keeps: a checkpoint before the backup. */
	struct tclient mon;
	if (tclient_open(&mon, r.port, "se-stockholm-coord") != 0)
		fail_msg("%s", mon.err);
	struct checkpoint before;
	get_checkpoint(&mon, &before);

	char dest[700];
	snprintf(dest, sizeof(dest), "%s/backup.db", r.dir);
	size_t n0 = load_count(&load[0], NULL) + load_count(&load[1], NULL);
	struct backup_out b;
	run_backup(&r, dest, &b);
	size_t n1 = load_count(&load[0], NULL) + load_count(&load[1], NULL);
	if (b.status != 0)
		fail_msg("backup: status %d\n%s%s", b.status, b.out, b.err);
	assert_string_equal(b.err, "");
	struct checkpoint after;
	get_checkpoint(&mon, &after);
	fprintf(stderr, "backup under load: %lld entries, %lld bytes in %lld ms; %zu receipts "
		"during it\n", b.entries, b.bytes, (long long)b.ms, n1 - n0);

	/* The report is the copy's, and the copy is a snapshot of the live log
	 * between the two checkpoints, with its batch's checkpoint. */
	assert_string_equal(b.path, dest);
	struct stat sb;
	assert_int_equal(stat(dest, &sb), 0);
	assert_int_equal(b.bytes, (long long)sb.st_size);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(b.entries, file_int(dest, "SELECT count(*) FROM entries"));
	assert_true(b.entries >= (long long)before.size);
	assert_true(b.entries <= (long long)after.size);
	assert_int_equal(b.checkpoint_size, b.entries);
	char live_root[2 * SHA256_LEN + 1], sql[200];
	snprintf(sql, sizeof(sql), "SELECT lower(hex(root)) FROM checkpoints WHERE size = %lld "
		 "ORDER BY id DESC LIMIT 1", b.checkpoint_size);
	assert_int_equal(db_text(&r, sql, live_root, sizeof(live_root)), 0);
	assert_string_equal(b.root, live_root);
	assert_int_equal(file_int(dest, "PRAGMA application_id"), 0x7669676c);
	assert_int_equal(file_int(dest, "PRAGMA user_version"),
			 db_int(&r, "PRAGMA user_version"));
	assert_int_equal(files_named(r.dir, ".partial-"), 0);

	/* The load goes on until records receipted after the snapshot exist:
	 * they are what a restore loses. */
	deadline = now_ms() + PATIENCE_MS;
	for (;;) {
		uint64_t m0, m1;
		load_count(&load[0], &m0);
		load_count(&load[1], &m1);
		if ((long long)(m0 > m1 ? m0 : m1) >= b.entries + 10)
			break;
		if (now_ms() > deadline)
			fail_msg("no receipts past index %lld", b.entries);
		usleep(20000);
	}
	load_stop(&load[0]);
	load_stop(&load[1]);
	/* What a monitor kept last from the live relay. */
	struct checkpoint later;
	get_checkpoint(&mon, &later);
	assert_true(later.size >= (uint64_t)b.entries + 10);
	tclient_close(&mon);

	/* Restore on "another machine": a new relay directory and
	 * configuration, the copy as its database, --verify-db, start. */
	trelay_setup(&fresh, NULL, NULL);
	assert_int_equal(file_copy(dest, fresh.db), 0);
	char out[4096], want[256];
	snprintf(want, sizeof(want), "log OK: %lld entries, root %s\n", b.entries, b.root);
	assert_int_equal(run_verify(&fresh, out, sizeof(out)), 0);
	assert_string_equal(out, want);
	assert_int_equal(trelay_start(&fresh), 0);

	struct tclient c;
	if (tclient_open(&c, fresh.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	struct checkpoint restored;
	get_checkpoint(&c, &restored);
	assert_int_equal(restored.size, (uint64_t)b.entries);
	assert_true(restored.size >= before.size);
	assert_int_equal(consistent(&c, before.size, before.root, restored.size, restored.root),
			 VG_OK);
	/* Resubmitting what the clients hold receipts for: the records in the
	 * copy are duplicates (their old index), the lost ones are taken anew. */
	int dup = 0, anew = 0;
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < load[k].n; i++) {
			uint64_t idx = submit_receipted(&c, &load[k].spec[i]);
			if (load[k].index[i] < (uint64_t)b.entries) {
				if (idx != load[k].index[i])
					fail_msg("record receipted at %llu before the backup got %llu "
						 "from the restored relay",
						 (unsigned long long)load[k].index[i],
						 (unsigned long long)idx);
				dup++;
			} else {
				if (idx < (uint64_t)b.entries)
					fail_msg("a record lost by the restore got index %llu, inside "
						 "the restored log", (unsigned long long)idx);
				anew++;
			}
		}
	}
	assert_true(dup > 0);
	assert_true(anew >= 10);
	struct checkpoint resubmitted;
	get_checkpoint(&c, &resubmitted);
	assert_int_equal(resubmitted.size, restored.size + (uint64_t)anew);
	assert_int_equal(consistent(&c, before.size, before.root, resubmitted.size,
				    resubmitted.root), VG_OK);
	/* The lost entries were taken anew at other times and places: the
	 * checkpoint the monitor kept last from the live relay is no prefix
	 * of the restored log, however long it grows.  That is how a monitor
	 * tells that the restore lost entries. */
	while (resubmitted.size < later.size) {
		struct contact_spec s;
		contact_spec_default(&s, "iom-ru-moscow", 0);
		submit_receipted(&c, &s);
		get_checkpoint(&c, &resubmitted);
	}
	assert_int_equal(consistent(&c, later.size, later.root, resubmitted.size,
				    resubmitted.root), VG_EBADSIG);
	tclient_close(&c);
	assert_int_equal(trelay_stop(&fresh), 0);
	assert_int_equal(run_verify(&fresh, out, sizeof(out)), 0);
	assert_int_equal(trelay_stop(&r), 0);
	trelay_cleanup(&fresh);
	trelay_cleanup(&r);
}

/* With no relay running, stopped or killed (its WAL left behind): the copy
 * holds every entry, and the database file is not touched. */
static void test_backup_without_relay(void **state)
{
	(void)state;
	struct trelay r;
	trelay_setup(&r, NULL, NULL);
	assert_int_equal(trelay_start(&r), 0);
	trelay_open_case(&r, CASE);
	struct tclient c;
	if (tclient_open(&c, r.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	for (int i = 0; i < 20; i++) {
		struct contact_spec s;
		contact_spec_default(&s, "iom-ru-moscow", 0);
		submit_receipted(&c, &s);
	}
	tclient_close(&c);
	assert_int_equal(trelay_stop(&r), 0);

	uint8_t h0[SHA256_LEN], h1[SHA256_LEN];
	file_sha256(r.db, h0);
	char dest[700];
	snprintf(dest, sizeof(dest), "%s/stopped.db", r.dir);
	struct backup_out b;
	run_backup(&r, dest, &b);
	if (b.status != 0)
		fail_msg("backup: status %d\n%s%s", b.status, b.out, b.err);
	assert_int_equal(b.entries, PKI_MEMBER_KEYS + 1 + 20);
	assert_int_equal(b.entries, db_int(&r, "SELECT count(*) FROM entries"));
	assert_int_equal(b.checkpoint_size, b.entries);
	file_sha256(r.db, h1);
	assert_memory_equal(h0, h1, SHA256_LEN);

	/* Killed: what was committed is in its WAL, which the copy reads. */
	assert_int_equal(trelay_start(&r), 0);
	if (tclient_open(&c, r.port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	for (int i = 0; i < 5; i++) {
		struct contact_spec s;
		contact_spec_default(&s, "iom-ru-moscow", 0);
		submit_receipted(&c, &s);
	}
	tclient_close(&c);
	trelay_kill9(&r);
	char wal[700];
	snprintf(wal, sizeof(wal), "%s-wal", r.db);
	assert_true(exists(wal));
	file_sha256(r.db, h0);
	snprintf(dest, sizeof(dest), "%s/killed.db", r.dir);
	run_backup(&r, dest, &b);
	if (b.status != 0)
		fail_msg("backup: status %d\n%s%s", b.status, b.out, b.err);
	assert_int_equal(b.entries, PKI_MEMBER_KEYS + 1 + 25);
	assert_int_equal(b.checkpoint_size, b.entries);
	file_sha256(r.db, h1);
	assert_memory_equal(h0, h1, SHA256_LEN);
	trelay_cleanup(&r);
}

/* Runs a backup that must be refused with exactly msg, printing nothing on
 * stdout and leaving the directory dir as it was. */
static void expect_refused(struct trelay *t, const char *dest, const char *dir, const char *msg)
{
	int before = files_in(dir);
	struct backup_out b;
	run_backup(t, dest, &b);
	if (b.status != 1)
		fail_msg("backup to %s: status %d, expected 1\n%s%s", dest, b.status, b.out, b.err);
	assert_string_equal(b.out, "");
	char want[1600];
	snprintf(want, sizeof(want), "%s\n", msg);
	assert_string_equal(b.err, want);
	assert_int_equal(files_in(dir), before);
	assert_int_equal(files_named(dir, ".partial-"), 0);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void test_refusals(void **state)
{
	(void)state;
	struct trelay r;
	trelay_setup(&r, NULL, NULL);
	char dest[700], msg[1600], side[720];

	/* The store does not exist: nothing is created, the store neither. */
	snprintf(dest, sizeof(dest), "%s/backup.db", r.dir);
	snprintf(msg, sizeof(msg), "%s does not exist; nothing to back up", r.db);
	expect_refused(&r, dest, r.dir, msg);
	assert_false(exists(r.db));
	assert_false(exists(dest));

	assert_int_equal(trelay_start(&r), 0);
	trelay_open_case(&r, CASE);

	/* DEST exists: left as it was. */
	write_file(dest, "not to be replaced\n");
	snprintf(msg, sizeof(msg), "%s already exists; a backup never replaces a file", dest);
	expect_refused(&r, dest, r.dir, msg);
	char text[64];
	FILE *f = fopen(dest, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	assert_string_equal(text, "not to be replaced\n");
	assert_int_equal(unlink(dest), 0);

	/* A WAL by DEST's name would be taken for the backup's own. */
	snprintf(side, sizeof(side), "%s-wal", dest);
	write_file(side, "");
	snprintf(msg, sizeof(msg), "%s exists: SQLite would take it for the backup's own; "
		 "remove it first", side);
	expect_refused(&r, dest, r.dir, msg);
	assert_false(exists(dest));
	assert_int_equal(unlink(side), 0);

	/* DEST in a directory that does not exist: no directory, no file. */
	char nodir[600];
	snprintf(nodir, sizeof(nodir), "%s/no-such-dir", r.dir);
	snprintf(dest, sizeof(dest), "%s/backup.db", nodir);
	snprintf(msg, sizeof(msg), "cannot create a file in %s: No such file or directory", nodir);
	expect_refused(&r, dest, r.dir, msg);
	assert_false(exists(nodir));

	/* A copy that does not verify is removed: the failure comes after the
	 * partial file was written. */
	assert_int_equal(trelay_stop(&r), 0);
	assert_int_equal(db_change(&r, "UPDATE entries SET leaf_hash = zeroblob(32) WHERE idx = 3"),
			 0);
	snprintf(dest, sizeof(dest), "%s/backup.db", r.dir);
	expect_refused(&r, dest, r.dir, "the copy does not verify: entry 3: its contents do not "
		       "hash to its stored leaf hash");
	assert_false(exists(dest));
	trelay_cleanup(&r);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_backup_without_relay),
		cmocka_unit_test(test_backup_under_load_and_restore),
	};
	return cmocka_run_group_tests_name("backup", tests, load_verifier, NULL);
}
