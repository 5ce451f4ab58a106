/*
 * vigil export and vigil verify --export, black-box: the real binary
 * against a real vigild on loopback with the real PKI.
 *
 * One relay plays a case through the command line: opened by the
 * Stockholm coordinator, handed over to IOM Moscow, a risk assessment,
 * three failed contact attempts with sealed notes (the third by a
 * certificate of IOM whose common name is "<script>..." with quotes, an
 * ampersand and Cyrillic: the only free text a record's signer controls
 * that the report shows, since the record format allows no such character
 * in its ids, codes or references), the alert they raise, its
 * acknowledgement, a successful contact that resolves it, and the owner
 * erasing the first note's text and the second attempt's whole record.
 * Then:
 *
 *   - the coordinator's export verifies offline (folder CA and key, and the
 *     PKI's own given with --ca and --checkpoint-key), holds the stored
 *     bytes, holds no plaintext, and is a "log" read in "case readers";
 *   - flipping one byte of any file of an export (with texts) makes
 *     verify --export fail naming that file, and so does a file added;
 *   - an exporter that lies (a record changed, a proof changed, a row
 *     added to the report, each with index.json re-signed) is caught by
 *     the checks behind the signature;
 *   - libvigil's side: the case log carries every signer's certificate,
 *     which chains to the CA and verifies its records; a document is signed
 *     and a record's bytes are refused; P opened and checked offline;
 *   - the police are refused by the relay, and leave no folder;
 *   - the report escapes the certificate's common name, has no script and
 *     no external resource; the usage errors;
 *   - (test_export_report) report.html rendered by headless Chromium: a
 *     screenshot at build/tests/export/report.png and the timeline rows in
 *     the DOM.  Skipped (exit 77) only when Chromium cannot start.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "clikit.h"
#include "harness.h"
#include "vigil.h"

#define DEMO "se-stockholm-coord/SE-2026-0042"
#define COORD "se-stockholm-coord"
#define IOM "iom-ru-moscow"
#define POLICE "se-police-noa"
/* Three failed attempts on two or more channels raise the alert at once;
 * nothing else comes from the watchdog while the test runs. */
#define WATCH "[watchdog]\nhigh = 1h\nmedium = 2h\nlow = 3h\nfailed_attempts = 3\n" \
	      "handover_window = 1h\nescalate_after = 1h\n"
/* The common name of the second IOM certificate (at most 64 characters). */
#define NASTY_CN "<script>alert(\"x\")</script> & 'q' Москва"
#define NOTE1 "two calls, no answer"
#define NOTE2 "landlord says she <b>left</b> & \"moved\""
#define NOTE3 "called from her aunt's phone, safe"

static struct trelay R;
static char nasty_crt[700];
static char plain_dir[700], texts_dir[700]; /* the two exports */
static long long n_entries;                 /* the case's entries in the log */

/* ---- files -------------------------------------------------------------------- */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *b = malloc(cap + 1);
	size_t r;
	while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			char *nb = realloc(b, 2 * cap + 1);
			if (!nb) {
				free(b);
				b = NULL;
				break;
			}
			b = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (b) {
		b[n] = '\0';
		if (len)
			*len = n;
	}
	return b;
}

/* Whether n bytes at b hold the text needle. */
static int contains(const char *b, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (!memcmp(b + i, needle, k))
			return 1;
	return 0;
}

static void spit(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* The files of a folder, relative, sorted (nftw walks in directory order). */
static char files[256][128];
static size_t n_files;
static size_t base_len;

static int list_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_F && n_files < 256)
		snprintf(files[n_files++], sizeof(files[0]), "%s", p + base_len + 1);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void list_files(const char *dir)
{
	n_files = 0;
	base_len = strlen(dir);
	nftw(dir, list_one, 16, FTW_PHYS);
	qsort(files, n_files, sizeof(files[0]), by_name);
}

/* Runs a program (argv[0] a path) with a generous timeout; its status. */
static int run(const char *const *argv, char *out, size_t out_len, char *err, size_t err_len)
{
	static char o[65536], e[65536];
	int st = run_capture(argv, NULL, out ? out : o, out ? out_len : sizeof(o), err ? err : e,
			     err ? err_len : sizeof(e), 60000);
	if (st < 0)
		fail_msg("%s did not finish in time", argv[0]);
	return st;
}

/* ---- the tool --------------------------------------------------------------- */

static struct cli_result res[2];

/* vigil as who (PKI_DIR/<who>.crt; a path for the second IOM certificate),
 * with its encryption certificate and key when it has them, then the
 * arguments up to a NULL. */
static struct cli_result *vigil_as(int slot, const char *who, ...)
{
	static struct cli_args a;
	cli_args_init(&a, VIGIL_CLI_PATH);
	const char *org = who;
	if (who[0] == '/') {
		org = IOM;
		cli_add(&a, "--relay", cli_keep(&a, "127.0.0.1:%d", R.port), "--cert", who, "--key",
			cli_keep(&a, "%s/%s.key", PKI_DIR, IOM), "--ca",
			cli_keep(&a, "%s/ca.crt", PKI_DIR), "--checkpoint-key",
			cli_keep(&a, "%s/checkpoint.pub", PKI_DIR), NULL);
	} else {
		cli_add_conn(&a, R.port, who, "ca.crt");
	}
	char enc[128];
	snprintf(enc, sizeof(enc), "%s.enc.key", org);
	if (access(pki(enc), R_OK) == 0)
		cli_add(&a, "--enc-cert", cli_keep(&a, "%s/%s.enc.crt", PKI_DIR, org), "--enc-key",
			cli_keep(&a, "%s/%s.enc.key", PKI_DIR, org), NULL);
	va_list ap;
	va_start(ap, who);
	cli_addv(&a, ap);
	va_end(ap);
	struct cli_result *r = &res[slot];
	r->status = cli_run(&a, NULL, r->out, sizeof(r->out), r->err, sizeof(r->err));
	return r;
}

/* vigil with the arguments up to a NULL and no connection settings. */
static struct cli_result *vigil_bare(int slot, ...)
{
	static struct cli_args a;
	cli_args_init(&a, VIGIL_CLI_PATH);
	va_list ap;
	va_start(ap, slot);
	cli_addv(&a, ap);
	va_end(ap);
	struct cli_result *r = &res[slot];
	r->status = cli_run(&a, NULL, r->out, sizeof(r->out), r->err, sizeof(r->err));
	return r;
}

static struct cli_result *verify_export(int slot, const char *dir)
{
	return vigil_bare(slot, "verify", "--export", dir, NULL);
}

static void ok(const struct cli_result *r)
{
	cli_expect_status(r, 0);
}

/* ---- the scenario ------------------------------------------------------------ */

/* A second certificate of IOM Moscow (its key, the PKI's CA) whose common
 * name is markup. */
static void make_nasty_cert(void)
{
	char csr[700], ext[700], subj[256];
	snprintf(csr, sizeof(csr), "%s/nasty.csr", R.dir);
	snprintf(ext, sizeof(ext), "%s/nasty.ext", R.dir);
	snprintf(nasty_crt, sizeof(nasty_crt), "%s/nasty.crt", R.dir);
	snprintf(subj, sizeof(subj), "/O=" IOM "/OU=iom/C=RU/CN=%s", NASTY_CN);
	/* -subj takes '/' as a separator: escape the one in </script>. */
	char esc[300];
	size_t o = 0;
	for (const char *p = subj; *p && o + 2 < sizeof(esc); p++) {
		if (*p == '/' && p > subj && p[-1] == '<')
			esc[o++] = '\\';
		esc[o++] = *p;
	}
	esc[o] = '\0';
	static const char exts[] = "[ client ]\nkeyUsage = critical, digitalSignature\n"
				   "extendedKeyUsage = clientAuth\n";
	spit(ext, exts, sizeof(exts) - 1);
	const char *req[] = { "/usr/bin/openssl", "req", "-new", "-utf8", "-key", pki(IOM ".key"),
			      "-subj", esc, "-out", csr, NULL };
	assert_int_equal(run(req, NULL, 0, NULL, 0), 0);
	char ca[700], cakey[700];
	snprintf(ca, sizeof(ca), "%s", pki("ca.crt"));
	snprintf(cakey, sizeof(cakey), "%s", pki("ca.key"));
	const char *sign[] = { "/usr/bin/openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey",
			       cakey, "-set_serial", "0x7e57c0de", "-days", "30", "-sha256",
			       "-extfile", ext, "-extensions", "client", "-out", nasty_crt, NULL };
	assert_int_equal(run(sign, NULL, 0, NULL, 0), 0);
}

/* The via-family attempt and the entry that corrects its outcome. */
static long long via_family_idx, correction_idx;

static int group_setup(void **state)
{
	(void)state;
	trelay_setup(&R, NULL, WATCH);
	if (trelay_start(&R) != 0)
		return -1;
	make_nasty_cert();
	ok(vigil_as(0, COORD, "case", "open", "--case", DEMO, "--risk", "high", "--return-country",
		    "RU", "--return-date", "2026-10-01", "--party", IOM, "--party", POLICE,
		    "--party", "se-shelter-1", "--consent", "share-with-iom", NULL));
	ok(vigil_as(0, COORD, "handover", "offer", "--case", DEMO, "--to", IOM, "--reason", "return",
		    "--consent-ref", "consent-2026-09-28", NULL));
	ok(vigil_as(0, IOM, "handover", "accept", "--case", DEMO, NULL));
	ok(vigil_as(0, IOM, "risk", "--case", DEMO, "--level", "high", "--factor",
		    "threats-to-family", "--factor", "debt-bondage", "--phase", "on-arrival", NULL));
	ok(vigil_as(0, IOM, "contact", "--case", DEMO, "--channel", "phone", "--outcome",
		    "no-answer", "--note", NOTE1, NULL));
	ok(vigil_as(0, IOM, "contact", "--case", DEMO, "--channel", "messenger", "--outcome",
		    "undelivered", NULL));
	ok(vigil_as(0, nasty_crt, "contact", "--case", DEMO, "--channel", "home-visit",
		    "--outcome", "moved", "--note", NOTE2, NULL));
	/* The third failed attempt raised the alert in the same commit. */
	struct cli_result *r = vigil_as(0, COORD, "--json", "alerts", NULL);
	ok(r);
	char alert_id[80];
	jstr(jmust(r->out, "alert_id"), alert_id, sizeof(alert_id));
	ok(vigil_as(0, COORD, "alert", "ack", alert_id, "--case", DEMO, "--decision",
		    "police-report-filed", NULL));
	ok(vigil_as(0, IOM, "contact", "--case", DEMO, "--channel", "via-family", "--outcome",
		    "reached-safe", "--note", NOTE3, NULL));
	/* IOM corrects its outcome: the report counts the corrected one. */
	char via_family[80];
	if (db_text(&R, "SELECT lower(hex(record_id)) FROM entries WHERE case_id = '" DEMO "' "
		    "AND author = '" IOM "' ORDER BY idx DESC LIMIT 1", via_family,
		    sizeof(via_family)) != 0)
		return -1;
	char q[200];
	snprintf(q, sizeof(q), "SELECT idx FROM entries WHERE lower(hex(record_id)) = '%s'",
		 via_family);
	via_family_idx = db_int(&R, q);
	ok(vigil_as(0, IOM, "correct", "--case", DEMO, "--record-id", via_family, "--reason",
		    "wrong-channel-or-outcome", "--outcome", "reached-concern", NULL));
	correction_idx = db_int(&R, "SELECT max(idx) FROM entries WHERE case_id = '" DEMO "'");
	char first_note[80];
	if (db_text(&R, "SELECT lower(hex(e.record_id)) FROM entries e JOIN sealed s ON "
		    "s.idx = e.idx WHERE e.case_id = '" DEMO "' AND e.author = '" IOM "' "
		    "ORDER BY e.idx LIMIT 1", first_note, sizeof(first_note)) != 0)
		return -1;
	ok(vigil_as(0, COORD, "erase", "--case", DEMO, "--record-id", first_note, "--reason",
		    "data-subject-request", "--reference", "DPO-2026-0117", NULL));
	/* IOM's fourth record: the accept, the risk, the phone, the messenger. */
	char messenger[80];
	if (db_text(&R, "SELECT lower(hex(record_id)) FROM entries WHERE case_id = '" DEMO "' "
		    "AND author = '" IOM "' ORDER BY idx LIMIT 1 OFFSET 3", messenger,
		    sizeof(messenger)) != 0)
		return -1;
	ok(vigil_as(0, COORD, "erase", "--case", DEMO, "--record-id", messenger, "--record",
		    "--reason", "unlawful-content", "--reference", "DPO-2026-0118", NULL));
	n_entries = db_int(&R, "SELECT count(*) FROM entries WHERE case_id = '" DEMO "'");

	/* The two exports: at stable paths under the build tree, kept for a
	 * look after the run. */
	mkdir(EXPORT_ROOT, 0755);
	snprintf(plain_dir, sizeof(plain_dir), "%s/case", EXPORT_ROOT);
	snprintf(texts_dir, sizeof(texts_dir), "%s/case-with-texts", EXPORT_ROOT);
	rm_tree(plain_dir);
	rm_tree(texts_dir);
	r = vigil_as(0, COORD, "export", DEMO, "--out", plain_dir, NULL);
	ok(r);
	char want[900];
	snprintf(want, sizeof(want), "exported case " DEMO ": %lld entries, checkpoint of size ",
		 n_entries);
	if (strncmp(r->out, want, strlen(want)) != 0)
		fail_msg("export said: %s", r->out);
	ok(vigil_as(0, COORD, "export", DEMO, "--out", texts_dir, "--include-text", NULL));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	trelay_cleanup(&R);
	return 0;
}

/* ---- the export verifies, and holds what the relay stored -------------------- */

static void test_export_verifies(void **state)
{
	(void)state;
	struct cli_result *r = verify_export(0, plain_dir);
	ok(r);
	char want[300];
	snprintf(want, sizeof(want), "export OK: case " DEMO ", %lld entries, ", n_entries);
	if (strncmp(r->out, want, strlen(want)) != 0)
		fail_msg("verify said: %s", r->out);
	assert_non_null(strstr(r->out, "the CA in the folder (ca.pem), which proves nothing"));
	/* With the CA and key the court holds. */
	r = vigil_bare(0, "--ca", pki("ca.crt"), "--checkpoint-key", pki("checkpoint.pub"),
		       "--json", "verify", "--export", texts_dir, NULL);
	ok(r);
	expect_member(r->out, "ca", "given");
	expect_member(r->out, "checkpoint_key", "given");
	assert_int_equal(jnum(jmust(r->out, "entries")), (unsigned long long)n_entries);

	/* Every record is the stored one, byte for byte; the erased one has
	 * no files. */
	char sql[300], path[900];
	long long kept = db_int(&R, "SELECT count(*) FROM entries WHERE case_id = '" DEMO
			       "' AND coalesce(length(record), 0) > 0");
	assert_int_equal(kept, n_entries - 1);
	long long erased = db_int(&R, "SELECT idx FROM entries WHERE case_id = '" DEMO
				 "' AND coalesce(length(record), 0) = 0");
	snprintf(path, sizeof(path), "%s/entries/%06lld.record", plain_dir, erased);
	assert_int_equal(access(path, F_OK), -1);
	for (long long i = 0; i < kept; i++) {
		snprintf(sql, sizeof(sql), "SELECT idx FROM entries WHERE case_id = '" DEMO
			 "' AND coalesce(length(record), 0) > 0 ORDER BY idx LIMIT 1 OFFSET %lld",
			 i);
		long long idx = db_int(&R, sql);
		uint8_t *rec;
		size_t rl, fl;
		snprintf(sql, sizeof(sql), "SELECT record FROM entries WHERE idx = %lld", idx);
		assert_int_equal(db_blob(&R, sql, &rec, &rl), 0);
		snprintf(path, sizeof(path), "%s/entries/%06lld.record", plain_dir, idx);
		char *file = slurp(path, &fl);
		assert_non_null(file);
		assert_int_equal(fl, rl);
		assert_memory_equal(file, rec, rl);
		free(file);
		free(rec);
	}

	/* The erased note's envelope is not in the export; no note is in the
	 * clear in the export without texts; VERIFY.txt's signature step. */
	list_files(plain_dir);
	size_t cms = 0;
	for (size_t i = 0; i < n_files; i++) {
		snprintf(path, sizeof(path), "%s/%s", plain_dir, files[i]);
		size_t bl;
		char *b = slurp(path, &bl);
		assert_non_null(b);
		cms += strstr(files[i], ".cms") != NULL;
		if (contains(b, bl, "two calls") || contains(b, bl, "landlord") ||
		    contains(b, bl, "aunt's"))
			fail_msg("%s holds a note in the clear", files[i]);
		free(b);
	}
	assert_int_equal(cms, 2); /* the second note and the third; the first was erased */
	snprintf(path, sizeof(path), "%s/VERIFY.txt", plain_dir);
	char *verify = slurp(path, NULL);
	assert_non_null(verify);
	const char *step = strstr(verify, "openssl dgst -sha256 -verify signer.pub -signature ");
	assert_non_null(step);
	char sig[64], rec[64], cert[200];
	assert_int_equal(sscanf(step, "openssl dgst -sha256 -verify signer.pub -signature %63s %63s",
				sig, rec), 2);
	const char *x = strstr(verify, "openssl x509 -in certs/");
	assert_non_null(x);
	assert_int_equal(sscanf(x, "openssl x509 -in %199s", cert), 1);
	free(verify);
	char certp[900], pub[900], sigp[900], recp[900];
	snprintf(certp, sizeof(certp), "%s/%s", plain_dir, cert);
	snprintf(pub, sizeof(pub), "%s/signer.pub", R.dir);
	snprintf(sigp, sizeof(sigp), "%s/%s", plain_dir, sig);
	snprintf(recp, sizeof(recp), "%s/%s", plain_dir, rec);
	static char out[65536];
	const char *getpub[] = { "/usr/bin/openssl", "x509", "-in", certp, "-pubkey", "-noout",
				 "-out", pub, NULL };
	assert_int_equal(run(getpub, NULL, 0, NULL, 0), 0);
	const char *dgst[] = { "/usr/bin/openssl", "dgst", "-sha256", "-verify", pub, "-signature",
			       sigp, recp, NULL };
	assert_int_equal(run(dgst, out, sizeof(out), NULL, 0), 0);
	assert_string_equal(out, "Verified OK\n");

	/* The export is on the record: a "log" read by the exporter. */
	r = vigil_as(0, COORD, "case", "readers", DEMO, NULL);
	ok(r);
	assert_non_null(strstr(r->out, " " COORD " log\n"));
}

/* The texts: written only with --include-text, each with its P. */
static void test_export_texts(void **state)
{
	(void)state;
	char path[900];
	list_files(texts_dir);
	size_t txt = 0, p = 0;
	for (size_t i = 0; i < n_files; i++) {
		txt += !strncmp(files[i], "texts/", 6) && strstr(files[i], "-note.txt");
		p += !strncmp(files[i], "texts/", 6) && strstr(files[i], "-note.p");
	}
	assert_int_equal(txt, 2);
	assert_int_equal(p, 2);
	int found2 = 0, found3 = 0;
	for (size_t i = 0; i < n_files; i++) {
		if (strncmp(files[i], "texts/", 6) || !strstr(files[i], ".txt") ||
		    strstr(files[i], "README"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", texts_dir, files[i]);
		char *t = slurp(path, NULL);
		assert_non_null(t);
		found2 |= !strcmp(t, NOTE2);
		found3 |= !strcmp(t, NOTE3);
		assert_string_not_equal(t, NOTE1); /* erased */
		free(t);
	}
	assert_true(found2 && found3);
	snprintf(path, sizeof(path), "%s/texts/README.txt", texts_dir);
	char *readme = slurp(path, NULL);
	assert_non_null(readme);
	assert_non_null(strstr(readme, "SPECIAL-CATEGORY PERSONAL DATA"));
	free(readme);
	/* Without our encryption key there is no text to include. */
	static struct cli_args a;
	cli_args_init(&a, VIGIL_CLI_PATH);
	cli_add_conn(&a, R.port, COORD, "ca.crt");
	cli_add(&a, "export", DEMO, "--out", cli_keep(&a, "%s/nokey", R.dir), "--include-text",
		NULL);
	struct cli_result *r = &res[0];
	r->status = cli_run(&a, NULL, r->out, sizeof(r->out), r->err, sizeof(r->err));
	cli_expect_usage(r, "export: --include-text needs our encryption certificate and key "
			    "(--enc-cert, --enc-key or [tls] enc_cert, enc_key): only a reader "
			    "opens the texts");
}

/* ---- one byte changed anywhere ------------------------------------------------- */

static void test_export_flip_every_file(void **state)
{
	(void)state;
	char dir[700];
	snprintf(dir, sizeof(dir), "%s/flip", R.dir);
	const char *cp[] = { "/bin/cp", "-a", texts_dir, dir, NULL };
	assert_int_equal(run(cp, NULL, 0, NULL, 0), 0);
	ok(verify_export(0, dir));
	list_files(dir);
	assert_true(n_files > 30);
	for (size_t i = 0; i < n_files; i++) {
		char path[900];
		snprintf(path, sizeof(path), "%s/%.127s", dir, files[i]);
		size_t len;
		char *b = slurp(path, &len);
		assert_non_null(b);
		assert_true(len > 0);
		b[len / 2] ^= 0x01;
		spit(path, b, len);
		struct cli_result *r = verify_export(0, dir);
		b[len / 2] ^= 0x01;
		spit(path, b, len);
		free(b);
		char want[300], want_sig[300];
		snprintf(want, sizeof(want), "export INVALID: %.127s: ", files[i]);
		snprintf(want_sig, sizeof(want_sig), "export INVALID: index.json.sig: ");
		int named = !strncmp(r->out, want, strlen(want)) ||
			    (!strcmp(files[i], "index.json") &&
			     !strncmp(r->out, want_sig, strlen(want_sig)) &&
			     strstr(r->out, "index.json or index.json.sig was changed"));
		if (r->status != 3 || !named)
			fail_msg("%s with one byte flipped: exit %d, %s%s", files[i], r->status,
				 r->out, r->err);
	}
	ok(verify_export(0, dir));
	/* A file added. */
	char extra[900];
	snprintf(extra, sizeof(extra), "%s/entries/000999.record", dir);
	spit(extra, "x", 1);
	struct cli_result *r = verify_export(0, dir);
	cli_expect_status(r, 3);
	assert_string_equal(r->out, "export INVALID: entries/000999.record: is not listed in "
				    "index.json (a file was added)\n");
	unlink(extra);
	ok(verify_export(0, dir));
}

/* ---- an exporter that lies: the checks behind its signature ------------------- */

/* Sets the SHA-256 of file name in index.json's list to its content's. */
static void rehash(const char *dir, const char *name)
{
	char path[900], key[300];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	size_t len, il;
	char *b = slurp(path, &len);
	assert_non_null(b);
	uint8_t h[32];
	unsigned hl;
	EVP_Digest(b, len, h, &hl, EVP_sha256(), NULL);
	free(b);
	snprintf(path, sizeof(path), "%s/index.json", dir);
	char *index = slurp(path, &il);
	assert_non_null(index);
	snprintf(key, sizeof(key), "\"path\": \"%s\",", name);
	char *p = strstr(index, key);
	assert_non_null(p);
	p = strstr(p, "\"sha256\": \"");
	assert_non_null(p);
	p += strlen("\"sha256\": \"");
	for (int i = 0; i < 32; i++) {
		char two[3];
		snprintf(two, sizeof(two), "%02x", h[i]);
		p[2 * i] = two[0];
		p[2 * i + 1] = two[1];
	}
	char *s = strstr(p, "\"size\": ");
	assert_non_null(s);
	/* The sizes stay: the changes below keep every length. */
	spit(path, index, il);
	free(index);
}

/* Signs index.json again with the exporter's key. */
static void resign(const char *dir)
{
	char path[900];
	size_t il;
	snprintf(path, sizeof(path), "%s/index.json", dir);
	char *index = slurp(path, &il);
	assert_non_null(index);
	uint8_t *sig;
	size_t sl;
	sign_with(COORD, (const uint8_t *)index, il, &sig, &sl);
	snprintf(path, sizeof(path), "%s/index.json.sig", dir);
	spit(path, sig, sl);
	free(sig);
	free(index);
}

static void copy_export(const char *from, const char *to)
{
	rm_tree(to);
	const char *cp[] = { "/bin/cp", "-a", from, to, NULL };
	assert_int_equal(run(cp, NULL, 0, NULL, 0), 0);
}

static void test_export_lying_exporter(void **state)
{
	(void)state;
	char dir[700], path[900], name[64];
	snprintf(dir, sizeof(dir), "%s/lie", R.dir);
	long long idx = db_int(&R, "SELECT max(idx) FROM entries WHERE case_id = '" DEMO
			       "' AND author = '" IOM "'");

	/* A record changed, listed with its new hash, index re-signed: its
	 * signature no longer verifies. */
	copy_export(plain_dir, dir);
	snprintf(name, sizeof(name), "entries/%06lld.record", idx);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	size_t len;
	char *b = slurp(path, &len);
	assert_non_null(b);
	b[len - 1] ^= 0x01;
	spit(path, b, len);
	free(b);
	rehash(dir, name);
	resign(dir);
	struct cli_result *r = verify_export(0, dir);
	cli_expect_status(r, 3);
	char want[300];
	snprintf(want, sizeof(want), "export INVALID: entries/%06lld.sig: the signature does not "
		 "verify over entries/%06lld.record", idx, idx);
	if (strncmp(r->out, want, strlen(want)) != 0)
		fail_msg("verify said: %s", r->out);

	/* A node of an inclusion proof changed in index.json. */
	copy_export(plain_dir, dir);
	snprintf(path, sizeof(path), "%s/index.json", dir);
	char *index = slurp(path, &len);
	assert_non_null(index);
	char *p = strstr(index, "\"proof\": [\n");
	assert_non_null(p);
	p = strchr(p + 12, '"');
	assert_non_null(p);
	p[1] = p[1] == '0' ? '1' : '0';
	spit(path, index, len);
	free(index);
	resign(dir);
	r = verify_export(0, dir);
	cli_expect_status(r, 3);
	if (!strstr(r->out, "export INVALID: index.json: the inclusion proof of entry "))
		fail_msg("verify said: %s", r->out);

	/* A correction said to correct another entry than its record does. */
	copy_export(plain_dir, dir);
	snprintf(path, sizeof(path), "%s/index.json", dir);
	index = slurp(path, &len);
	assert_non_null(index);
	char from[64], to[64];
	long long first = db_int(&R, "SELECT min(idx) FROM entries WHERE case_id = '" DEMO "'");
	snprintf(from, sizeof(from), "\"corrects\": %lld,", via_family_idx);
	snprintf(to, sizeof(to), "\"corrects\": %lld,", first);
	p = strstr(index, from);
	assert_non_null(p);
	char *lied = malloc(len + 64);
	assert_non_null(lied);
	int n = snprintf(lied, len + 64, "%.*s%s%s", (int)(p - index), index, to, p + strlen(from));
	spit(path, lied, (size_t)n);
	free(lied);
	free(index);
	resign(dir);
	r = verify_export(0, dir);
	cli_expect_status(r, 3);
	/* (found at the entry corrected, which comes first) */
	snprintf(want, sizeof(want), "export INVALID: index.json: entry %lld: corrected_by names "
		 "an entry that does not correct it\n", via_family_idx);
	assert_string_equal(r->out, want);

	/* A row for an entry the index does not list, in the report. */
	copy_export(plain_dir, dir);
	snprintf(path, sizeof(path), "%s/report.html", dir);
	char *html = slurp(path, &len);
	assert_non_null(html);
	p = strstr(html, "data-index=\"");
	assert_non_null(p);
	/* Over the first row's index and what follows it (the length stays;
	 * the markup after it breaks, which the check does not mind). */
	memcpy(p, "data-index=\"999999\"", 19);
	spit(path, html, len);
	free(html);
	rehash(dir, "report.html");
	resign(dir);
	r = verify_export(0, dir);
	cli_expect_status(r, 3);
	if (strncmp(r->out, "export INVALID: report.html: ", 29) != 0)
		fail_msg("verify said: %s", r->out);
	rm_tree(dir);
}

/* ---- libvigil: certificates with the case log, the offline checks --------------- */

static void test_export_library(void **state)
{
	(void)state;
	char port[16], cert[700], key[700], ca[700], ckey[700], ec[700], ek[700];
	snprintf(port, sizeof(port), "%d", R.port);
	snprintf(cert, sizeof(cert), "%s/" COORD ".crt", PKI_DIR);
	snprintf(key, sizeof(key), "%s/" COORD ".key", PKI_DIR);
	snprintf(ca, sizeof(ca), "%s/ca.crt", PKI_DIR);
	snprintf(ckey, sizeof(ckey), "%s/checkpoint.pub", PKI_DIR);
	snprintf(ec, sizeof(ec), "%s/" COORD ".enc.crt", PKI_DIR);
	snprintf(ek, sizeof(ek), "%s/" COORD ".enc.key", PKI_DIR);
	struct vigil_options o = { .host = "127.0.0.1", .port = port, .cert_file = cert,
				   .key_file = key, .ca_file = ca, .checkpoint_key = ckey,
				   .enc_cert_file = ec, .enc_key_file = ek };
	struct vigil_error err;
	vigil_client *c = NULL;
	if (vigil_connect(&o, &c, &err) != VIGIL_OK)
		fail_msg("vigil_connect: %s", err.message);
	struct vigil_case_log *log = NULL;
	if (vigil_case_log(c, DEMO, &log, &err) != VIGIL_OK)
		fail_msg("vigil_case_log: %s", err.message);
	assert_int_equal(log->n, (size_t)n_entries);
	/* Four signers: the coordinator, IOM's two certificates, the relay. */
	assert_int_equal(log->n_certificates, 4);
	struct vigil_identity ids[4];
	for (size_t k = 0; k < log->n_certificates; k++) {
		const struct vigil_certificate *vc = &log->certificates[k];
		uint8_t h[VIGIL_HASH_LEN];
		vigil_sha256(vc->der, vc->der_len, h);
		assert_memory_equal(h, vc->sha256, VIGIL_HASH_LEN);
		if (vigil_certificate_check(ca, vc->der, vc->der_len, &ids[k], &err) != VIGIL_OK)
			fail_msg("certificate %zu: %s", k, err.message);
		assert_memory_equal(ids[k].cert_sha256, vc->sha256, VIGIL_HASH_LEN);
		/* Not by a CA it does not chain to (the untrusted CA of the PKI). */
		assert_int_equal(vigil_certificate_check(pki("untrusted-ca.crt"), vc->der,
							 vc->der_len, NULL, &err),
				 VIGIL_E_VERIFY);
	}
	size_t opened = 0;
	for (size_t i = 0; i < log->n; i++) {
		const struct vigil_entry *e = &log->entries[i].entry;
		if (e->record_erased)
			continue; /* only its leaf hash is kept */
		size_t k = 0;
		while (k < log->n_certificates &&
		       memcmp(log->certificates[k].sha256, e->cert_sha256, VIGIL_HASH_LEN) != 0)
			k++;
		assert_true(k < log->n_certificates);
		const struct vigil_certificate *vc = &log->certificates[k];
		if (vigil_signature_check(vc->der, vc->der_len, e->record, e->record_len,
					  e->signature, e->signature_len, &err) != VIGIL_OK)
			fail_msg("entry %llu: %s", (unsigned long long)e->index, err.message);
		/* Another organisation's key does not verify it (IOM's two
		 * certificates share one key). */
		size_t j = 0;
		while (j < log->n_certificates && !strcmp(ids[j].organisation, ids[k].organisation))
			j++;
		assert_true(j < log->n_certificates);
		const struct vigil_certificate *other = &log->certificates[j];
		assert_int_equal(vigil_signature_check(other->der, other->der_len, e->record,
						       e->record_len, e->signature,
						       e->signature_len, &err),
				 VIGIL_E_VERIFY);
		/* A record's bytes are never signed as a document. */
		uint8_t *sig = NULL;
		size_t sl = 7;
		assert_int_equal(vigil_sign_document(c, e->record, e->record_len, &sig, &sl, &err),
				 VIGIL_E_USAGE);
		assert_null(sig);
		if (!e->sealed)
			continue;
		char *text = NULL, *again = NULL;
		uint8_t *p = NULL;
		size_t pl = 0;
		if (vigil_open_sealed_plain(c, e->record, e->record_len, e->sealed, e->sealed_len,
					    &text, &p, &pl, &err) != VIGIL_OK)
			fail_msg("entry %llu: %s", (unsigned long long)e->index, err.message);
		assert_int_equal(vigil_sealed_plain_check(e->record, e->record_len, p, pl, &again,
							  &err),
				 VIGIL_OK);
		assert_string_equal(text, again);
		p[pl - 1] ^= 1; /* the padding: still P's form, not the committed P */
		assert_int_equal(vigil_sealed_plain_check(e->record, e->record_len, p, pl, NULL,
							  &err),
				 VIGIL_E_VERIFY);
		vigil_free(text);
		vigil_free(again);
		vigil_free(p);
		opened++;
	}
	assert_int_equal(opened, 2);
	/* A document: signed with our key, checked with our certificate. */
	static const uint8_t doc[] = "{\"a document\": true}\n";
	uint8_t *sig = NULL, *der = NULL;
	size_t sl = 0, dl = 0;
	assert_int_equal(vigil_sign_document(c, doc, sizeof(doc) - 1, &sig, &sl, &err), VIGIL_OK);
	assert_int_equal(vigil_client_certificate(c, &der, &dl, &err), VIGIL_OK);
	assert_int_equal(vigil_signature_check(der, dl, doc, sizeof(doc) - 1, sig, sl, &err),
			 VIGIL_OK);
	vigil_free(sig);
	vigil_free(der);
	/* The key in its text form: what the export wrote. */
	char vk[VIGIL_ORIGIN_MAX + 64], path[900];
	assert_int_equal(vigil_checkpoint_key_format(vigil_client_checkpoint_key(c),
						     log->checkpoint.origin, vk, sizeof(vk), &err),
			 VIGIL_OK);
	snprintf(path, sizeof(path), "%s/checkpoint.vkey", plain_dir);
	char *file = slurp(path, NULL);
	assert_non_null(file);
	assert_int_equal(strncmp(file, vk, strlen(vk)), 0);
	free(file);
	vigil_free(log);
	vigil_close(&c);
}

/* ---- who may, and the usage errors --------------------------------------------- */

static void test_export_refused(void **state)
{
	(void)state;
	char dir[700];
	snprintf(dir, sizeof(dir), "%s/police", R.dir);
	struct cli_result *r = vigil_as(0, POLICE, "export", DEMO, "--out", dir, NULL);
	cli_expect_status(r, 1);
	assert_string_equal(r->out, "");
	assert_string_equal(r->err, "vigil: refused by relay: PERMISSION_DENIED: the case's "
				    "records are for coordinator, iom, shelter and responsible "
				    "parties\n");
	assert_int_equal(access(dir, F_OK), -1);
	/* Nor anything beside it: the folder is made only after the log
	 * verified. */
	list_files(R.dir);
	for (size_t i = 0; i < n_files; i++)
		assert_null(strstr(files[i], "police.partial-"));
	/* A case nobody opened is no different from one we are no party to. */
	r = vigil_as(0, IOM, "export", "se-stockholm-coord/SE-2026-9999", "--out", dir, NULL);
	cli_expect_status(r, 1);
	assert_string_equal(r->err, "vigil: refused by relay: NOT_FOUND: case "
				    "se-stockholm-coord/SE-2026-9999 not found\n");
}

static void test_export_usage(void **state)
{
	(void)state;
	char dir[700], file[700];
	snprintf(dir, sizeof(dir), "%s/full", R.dir);
	snprintf(file, sizeof(file), "%s/full/a-file", R.dir);
	mkdir(dir, 0700);
	spit(file, "x", 1);
	struct cli_result *r = vigil_as(0, COORD, "export", DEMO, "--out", dir, NULL);
	cli_expect_status(r, 2);
	char want[900];
	snprintf(want, sizeof(want), "vigil: export: %s is not empty; an export goes into a new or "
		 "empty folder\n", dir);
	assert_string_equal(r->err, want);
	r = vigil_as(0, COORD, "export", DEMO, "--out", file, NULL);
	cli_expect_status(r, 2);
	r = vigil_as(0, COORD, "export", DEMO, NULL);
	cli_expect_usage(r, "export: --out DIR is required (a folder that does not exist yet, or "
			    "an empty one)");
	r = vigil_as(0, COORD, "export", "no-owner", "--out", dir, NULL);
	cli_expect_status(r, 2);
	r = vigil_bare(0, "verify", "--export", file, NULL);
	char line[900];
	snprintf(line, sizeof(line), "verify: --export %s: not a directory", file);
	cli_expect_usage(r, line);
	/* An empty folder is fine, and becomes the export. */
	unlink(file);
	r = vigil_as(0, IOM, "export", DEMO, "--out", dir, "--json", NULL);
	ok(r);
	expect_member(r->out, "case_id", DEMO);
	ok(verify_export(0, dir));
	rm_tree(dir);
}

/* ---- the report ------------------------------------------------------------------ */

static void test_export_report_html(void **state)
{
	(void)state;
	char path[900];
	snprintf(path, sizeof(path), "%s/report.html", plain_dir);
	char *html = slurp(path, NULL);
	assert_non_null(html);
	/* The common name is shown, and as text only. */
	assert_non_null(strstr(html, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; "
				     "&#39;q&#39; Москва"));
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "alert(\"x\")"));
	/* Nothing to load, nothing to run. */
	assert_null(strstr(html, "http://"));
	assert_null(strstr(html, "https://"));
	assert_null(strstr(html, "src="));
	assert_null(strstr(html, "<link"));
	assert_null(strstr(html, "javascript:"));
	assert_non_null(strstr(html, "Content-Security-Policy\" content=\"default-src 'none'"));
	/* A row per entry, with what happened. */
	size_t rows = 0;
	for (const char *p = html; (p = strstr(p, "data-index=\"")) != NULL; p++)
		rows++;
	assert_int_equal(rows, (size_t)n_entries);
	static const char *const events[] = {
		"Case opened", "Handover offered", "Handover accepted", "Risk assessment",
		"Contact attempt", "Alert, stage 1", "Alert acknowledged", "Alert resolved",
		"Erasure requested", "Erasure (by the relay)", "<b>text ERASED</b> by",
		"<b>ERASED</b> record</td><td>only its leaf hash is kept (erased by",
		"the whole record of <a href=\"#entry-", "the sealed text of <a href=\"#entry-",
		"channel <b>home-visit</b>, outcome <b>moved</b>",
	};
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		if (!strstr(html, events[i]))
			fail_msg("the report does not show \"%s\"", events[i]);
	/* The correction: marked on the entry it corrects, linked both ways,
	 * and the attempts counted with the corrected outcome. */
	char want[400];
	snprintf(want, sizeof(want), "Contact attempt<br><b>corrected</b> by <a href=\"#entry-%lld\">"
		 "entry %lld</a>", correction_idx, correction_idx);
	if (!strstr(html, want))
		fail_msg("the report does not show \"%s\"", want);
	snprintf(want, sizeof(want), "Correction</td><td>corrects <a href=\"#entry-%lld\">entry "
		 "%lld</a> (wrong-channel-or-outcome): channel <b>via-family</b>, outcome "
		 "<b>reached-concern</b>", via_family_idx, via_family_idx);
	if (!strstr(html, want))
		fail_msg("the report does not show \"%s\"", want);
	snprintf(want, sizeof(want), "<td>via-family</td><td>reached-concern</td><td class=\"num\">"
		 "1</td><td><a href=\"#entry-%lld\">", via_family_idx);
	if (!strstr(html, want))
		fail_msg("the contact table does not count the corrected outcome: %s", want);
	assert_null(strstr(html, "<td>via-family</td><td>reached-safe</td>"));
	free(html);
	/* index.json links them too. */
	snprintf(path, sizeof(path), "%s/index.json", plain_dir);
	char *links = slurp(path, NULL);
	assert_non_null(links);
	snprintf(want, sizeof(want), "\"corrects\": %lld,", via_family_idx);
	if (!strstr(links, want))
		fail_msg("index.json lacks %s", want);
	snprintf(want, sizeof(want), "\"corrected_by\": [\n    %lld\n   ]", correction_idx);
	if (!strstr(links, want))
		fail_msg("index.json lacks %s", want);
	free(links);
	/* The same name in index.json, as JSON text. */
	snprintf(path, sizeof(path), "%s/index.json", plain_dir);
	char *index = slurp(path, NULL);
	assert_non_null(index);
	assert_non_null(strstr(index, "\"common_name\": \"<script>alert(\\\"x\\\")</script> & "
				      "'q' Москва\""));
	free(index);
}

/* ---- Chromium --------------------------------------------------------------------- */

static const char *chromium_path(void)
{
	static const char *const where[] = { "/usr/bin/chromium", "/usr/bin/chromium-browser" };
	for (size_t i = 0; i < 2; i++)
		if (access(where[i], X_OK) == 0)
			return where[i];
	return NULL;
}

/* Whether chromium's log names a problem of the page: a console message,
 * an uncaught error, a refused load. */
static const char *page_error(const char *log)
{
	static const char *const bad[] = { "CONSOLE", "Uncaught", "Refused to", "net::ERR_" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (strstr(log, bad[i]))
			return bad[i];
	return NULL;
}

static int chromium_skipped;

static void test_export_chromium(void **state)
{
	(void)state;
	const char *chromium = chromium_path();
	if (!chromium) {
		fprintf(stderr, "\n*** SKIPPED: chromium is not installed (Debian package "
				"'chromium'); report.html was not rendered ***\n\n");
		chromium_skipped = 1;
		return;
	}
	char url[900], png[800], shot[900], profile[900];
	snprintf(url, sizeof(url), "file://%s/report.html", plain_dir);
	snprintf(png, sizeof(png), "%s/report.png", EXPORT_ROOT);
	snprintf(shot, sizeof(shot), "--screenshot=%s", png);
	snprintf(profile, sizeof(profile), "--user-data-dir=%s/chromium", R.dir);
	unlink(png);
	static char out[1 << 20], err[1 << 16];
	const char *argv[] = { chromium, "--headless", "--no-sandbox", "--disable-gpu", shot,
			       "--window-size=1200,2000", "--enable-logging=stderr", "--v=0",
			       profile, url, NULL };
	int st = run(argv, out, sizeof(out), err, sizeof(err));
	struct stat sb;
	if (stat(png, &sb) != 0) {
		fprintf(stderr, "\n*** SKIPPED: chromium cannot start here (exit %d); report.html "
				"was not rendered.  Its output:\n%s\n***\n\n", st, err);
		chromium_skipped = 1;
		return;
	}
	const char *e = page_error(err);
	if (e)
		fail_msg("chromium reported a page problem (%s):\n%s", e, err);
	/* A real page: a PNG of some size, not a blank one. */
	assert_true(sb.st_size > 20000);
	char *b = slurp(png, NULL);
	assert_non_null(b);
	assert_memory_equal(b, "\x89PNG\r\n\x1a\n", 8);
	free(b);
	printf("report.html rendered by chromium: %s (%lld bytes)\n", png,
	       (long long)sb.st_size);
	/* The DOM chromium built: every timeline row, and no script element. */
	const char *dump[] = { chromium, "--headless", "--no-sandbox", "--disable-gpu",
			       "--enable-logging=stderr", "--v=0", profile, "--dump-dom", url, NULL };
	assert_int_equal(run(dump, out, sizeof(out), err, sizeof(err)), 0);
	e = page_error(err);
	if (e)
		fail_msg("chromium reported a page problem (%s):\n%s", e, err);
	size_t rows = 0;
	for (const char *p = out; (p = strstr(p, "<tr id=\"entry-")) != NULL; p++)
		rows++;
	assert_int_equal(rows, (size_t)n_entries);
	assert_null(strstr(out, "<script"));
	assert_non_null(strstr(out, "&lt;script&gt;"));
}

int main(int argc, char *argv[])
{
	if (argc > 1 && !strcmp(argv[1], "report")) {
		/* ctest's test_export_report: 77 (skipped) when chromium cannot
		 * start in this environment. */
		const struct CMUnitTest tests[] = {
			cmocka_unit_test(test_export_chromium),
		};
		int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
		return rc == 0 && chromium_skipped ? 77 : rc;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_export_verifies),
		cmocka_unit_test(test_export_texts),
		cmocka_unit_test(test_export_flip_every_file),
		cmocka_unit_test(test_export_lying_exporter),
		cmocka_unit_test(test_export_library),
		cmocka_unit_test(test_export_refused),
		cmocka_unit_test(test_export_usage),
		cmocka_unit_test(test_export_report_html),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
