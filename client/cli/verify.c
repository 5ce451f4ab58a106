/*
 * verify.c - "vigil verify": a saved receipt offline, or the relay's whole
 * log as a monitor.
 *
 * --receipt FILE needs nothing but the checkpoint key: it recomputes the
 * leaf hash from the record, signature, certificate hash and receive time
 * in the file, checks the checkpoint's signature and the inclusion proof
 * (vigil_receipt_verify).
 *
 * --log [--state DIR] asks the relay for its latest checkpoint and checks
 *   1. its signature (vigil_get_checkpoint);
 *   2. if DIR/checkpoint holds the checkpoint kept by the last good run:
 *      that it still verifies, and that the new one extends it (same
 *      origin; not smaller; not signed earlier; equal roots at equal size,
 *      else a consistency proof from the kept size to the new one);
 *   3. every leaf hash of the log, fetched 4096 at a time and folded into a
 *      tree whose root must be the checkpoint's root;
 * and only then replaces DIR/checkpoint (the note, verbatim) atomically.
 * A log that fails 2 or 3 is reported as "log INCONSISTENT: ..." (exit 3)
 * and DIR/checkpoint is left as it was, so the evidence is kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "view.h"
#include "export.h"

enum {
	OPT_RECEIPT = OPT_COMMAND_BASE,
	OPT_LOG,
	OPT_STATE,
	OPT_EXPORT,
};

#define STATE_FILE "checkpoint"

static void verify_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] verify --receipt FILE\n"
		   "       vigil [OPTIONS] verify --log [--state DIR]\n"
		   "       vigil [--ca FILE] [--checkpoint-key KEY] verify --export DIR\n"
		   "\n"
		   "--receipt FILE   checks a receipt saved by 'vigil contact --save-receipt'\n"
		   "                 offline, with nothing but the checkpoint key: the leaf hash\n"
		   "                 from the record, signature, certificate hash and receive\n"
		   "                 time; the checkpoint's signature; the inclusion proof.\n"
		   "                 Prints 'receipt OK: entry N in checkpoint of size M' or\n"
		   "                 'receipt INVALID: <the check that failed>'.\n"
		   "--log            monitors the relay's log: verifies its latest checkpoint,\n"
		   "                 fetches every leaf hash and checks they make the\n"
		   "                 checkpoint's root.  Prints 'log OK: N entries, root HEX' or\n"
		   "                 'log INCONSISTENT: <what is wrong>'.\n"
		   "--state DIR      with --log: DIR/checkpoint keeps the last checkpoint that\n"
		   "                 verified; the next run checks the relay's new checkpoint\n"
		   "                 extends it (a consistency proof; equal roots at equal size;\n"
		   "                 never smaller, never signed earlier).  Replaced atomically\n"
		   "                 only when everything verified.  DIR is created if missing.\n"
		   "--export DIR     checks a case export ('vigil export') offline, with no\n"
		   "                 relay: every file against the SHA-256 that index.json\n"
		   "                 gives and the exporter's signature over index.json; every\n"
		   "                 certificate against the CA; every record's signature, its\n"
		   "                 author, its leaf and leaf hash; every inclusion proof to\n"
		   "                 the checkpoint; the checkpoint's signature; the sealed\n"
		   "                 texts' plaintexts when included; report.html's entries.\n"
		   "                 The CA is --ca FILE if given, else the folder's ca.pem;\n"
		   "                 the checkpoint must verify with the folder's key and with\n"
		   "                 --checkpoint-key if given.  The folder's own CA and key\n"
		   "                 prove nothing by themselves: a court gives its own copies.\n"
		   "                 Prints 'export OK: case ID, N entries, ...' or 'export\n"
		   "                 INVALID: FILE: <the check that failed>', naming the first\n"
		   "                 file that fails.\n"
		   "\n"
		   "--receipt and --log need the checkpoint key (--checkpoint-key or [relay]\n"
		   "checkpoint_key); --log also needs the connection settings.  With --json\n"
		   "one object.\n"
		   "Exit status: 0 verified, 1 refused by the relay, 2 usage error or a\n"
		   "malformed receipt file (or no folder at --export DIR), 3 does not verify,\n"
		   "log inconsistent, or a connection failure.\n");
}

/* ---- --receipt ------------------------------------------------------------------- */

static int verify_receipt(struct settings *s, const char *path)
{
	char why[512];
	if (s->config && settings_load(s, s->config, why, sizeof(why)) != 0)
		return cli_usage_error("%s", why);
	if (!s->checkpoint_key)
		return cli_usage_error("no checkpoint key given: use --checkpoint-key KEY_OR_FILE "
				       "or [relay] checkpoint_key in the -c file");
	struct vigil_checkpoint_key key;
	struct vigil_error err;
	int rc = vigil_checkpoint_key_load(s->checkpoint_key, &key, &err);
	if (rc != VIGIL_OK) {
		output_failure(&err, s->json);
		return cli_exit_status(rc);
	}
	struct receipt_in *in = malloc(sizeof(*in));
	if (!in)
		return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	if (receipt_in_read(path, in, why, sizeof(why)) != 0) {
		free(in);
		return cli_fail(s, VIGIL_E_USAGE, "%s", why);
	}
	struct vigil_receipt *r = &in->r;
	if (in->received_at >= 0 && in->received_at != r->received_at_ms) {
		char at[VIGIL_TIME_LEN];
		vigil_format_time(r->received_at_ms, at, sizeof(at));
		snprintf(err.message, sizeof(err.message),
			 "received_at does not agree with received_at_ms (%s)", at);
		rc = VIGIL_E_VERIFY;
	} else {
		rc = vigil_receipt_verify(&key, r, in->record, in->record_len, &err);
	}
	if (rc == VIGIL_E_VERIFY) {
		output_verdict_bad("receipt", "INVALID", err.message, s->json);
	} else if (rc != VIGIL_OK) {
		output_failure(&err, s->json);
	} else if (s->json) {
		char root[2 * VIGIL_HASH_LEN + 1];
		vigil_hex_encode(r->checkpoint.root, VIGIL_HASH_LEN, root);
		view_write_json(json_pack("{s:b, s:I, s:I, s:o, s:s}", "ok", 1, "index",
					  (json_int_t)r->index, "checkpoint_size",
					  (json_int_t)r->checkpoint.size, "origin",
					  view_jstring(r->checkpoint.origin), "root", root), stdout);
	} else {
		printf("receipt OK: entry %llu in checkpoint of size %llu\n",
		       (unsigned long long)r->index, (unsigned long long)r->checkpoint.size);
	}
	receipt_in_free(in);
	free(in);
	return cli_exit_status(rc);
}

/* ---- --log --------------------------------------------------------------------------- */

struct monitor {
	struct settings *s;
	const char *dir;               /* --state, or NULL */
	char *state;                   /* DIR/checkpoint */
	struct vigil_checkpoint_key key;
	struct vigil_checkpoint kept;  /* valid when have_kept */
	int have_kept;
	struct vigil_checkpoint now;   /* the relay's latest */
	uint8_t leaves[VIGIL_LEAF_HASHES_MAX][VIGIL_HASH_LEN];
};

__attribute__((format(printf, 2, 3)))
static int inconsistent(const struct monitor *m, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	output_verdict_bad("log", "INCONSISTENT", msg, m->s->json);
	return EXIT_FAILED;
}

/* Reads and verifies DIR/checkpoint if there is one; 0 or an exit status. */
static int state_load(struct monitor *m)
{
	if (mkdir(m->dir, 0700) != 0 && errno != EEXIST)
		return cli_fail(m->s, VIGIL_E_IO, "cannot create the state directory %s: %s",
				m->dir, strerror(errno));
	size_t n = strlen(m->dir) + sizeof("/" STATE_FILE);
	if (!(m->state = malloc(n)))
		return cli_fail(m->s, VIGIL_E_NOMEM, "out of memory");
	snprintf(m->state, n, "%s/" STATE_FILE, m->dir);
	FILE *f = fopen(m->state, "rb");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		return cli_fail(m->s, VIGIL_E_IO, "cannot read %s: %s", m->state, strerror(errno));
	}
	char *note = malloc(VIGIL_CHECKPOINT_MAX);
	if (!note) {
		fclose(f);
		return cli_fail(m->s, VIGIL_E_NOMEM, "out of memory");
	}
	size_t len = fread(note, 1, VIGIL_CHECKPOINT_MAX, f);
	int bad = ferror(f);
	fclose(f);
	struct vigil_error err;
	int rc = 0;
	if (bad)
		rc = cli_fail(m->s, VIGIL_E_IO, "cannot read %s", m->state);
	else if (vigil_checkpoint_open(&m->key, note, len, &m->kept, &err) != VIGIL_OK)
		rc = cli_fail(m->s, VIGIL_E_VERIFY,
			      "the kept checkpoint %s does not verify with the checkpoint key: "
			      "%s; it was left as it is", m->state, err.message);
	else
		m->have_kept = 1;
	free(note);
	return rc;
}

/* Replaces DIR/checkpoint with the new note: a temporary file, synced, then
 * renamed, then the directory synced. */
static int state_save(struct monitor *m)
{
	size_t n = strlen(m->state) + 8;
	char *tmp = malloc(n);
	if (!tmp)
		return cli_fail(m->s, VIGIL_E_NOMEM, "out of memory");
	snprintf(tmp, n, "%s.XXXXXX", m->state);
	int fd = mkstemp(tmp);
	int ok = fd >= 0;
	if (ok) {
		const char *p = m->now.note;
		size_t left = m->now.note_len;
		while (ok && left > 0) {
			ssize_t w = write(fd, p, left);
			if (w < 0 && errno == EINTR)
				continue;
			ok = w > 0;
			if (ok) {
				p += w;
				left -= (size_t)w;
			}
		}
		ok = ok && fsync(fd) == 0;
		int saved = errno;
		ok = (close(fd) == 0) && ok;
		errno = saved;
		ok = ok && rename(tmp, m->state) == 0;
	}
	int saved = errno;
	if (!ok) {
		if (fd >= 0)
			unlink(tmp);
		free(tmp);
		return cli_fail(m->s, VIGIL_E_IO, "the log verified, but %s cannot be replaced: %s",
				m->state, strerror(saved));
	}
	free(tmp);
	int dfd = open(m->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* Step 2: the new checkpoint extends the kept one; 0 or an exit status. */
static int check_extends(struct monitor *m, vigil_client *c)
{
	const struct vigil_checkpoint *old = &m->kept, *now = &m->now;
	char a[VIGIL_TIME_LEN], b[VIGIL_TIME_LEN];
	if (strcmp(old->origin, now->origin) != 0)
		return inconsistent(m, "the relay's checkpoint is for origin \"%s\", the kept one "
				    "for \"%s\"", now->origin, old->origin);
	if (now->size < old->size)
		return inconsistent(m, "the relay's checkpoint has size %llu, smaller than the "
				    "kept checkpoint's size %llu: the log was truncated or "
				    "rewritten", (unsigned long long)now->size,
				    (unsigned long long)old->size);
	if (old->signed_at_ms >= 0 && now->signed_at_ms >= 0 &&
	    now->signed_at_ms < old->signed_at_ms) {
		vigil_format_time(now->signed_at_ms, a, sizeof(a));
		vigil_format_time(old->signed_at_ms, b, sizeof(b));
		return inconsistent(m, "the relay's checkpoint was signed at %s, before the kept "
				    "one (%s): it serves an old checkpoint", a, b);
	}
	char hn[2 * VIGIL_HASH_LEN + 1], ho[2 * VIGIL_HASH_LEN + 1];
	if (now->size == old->size) {
		if (memcmp(now->root, old->root, VIGIL_HASH_LEN) == 0)
			return 0;
		vigil_hex_encode(now->root, VIGIL_HASH_LEN, hn);
		vigil_hex_encode(old->root, VIGIL_HASH_LEN, ho);
		return inconsistent(m, "the relay's checkpoint and the kept one both have size "
				    "%llu but different roots (%s, kept %s): the log was "
				    "rewritten", (unsigned long long)now->size, hn, ho);
	}
	if (old->size == 0)
		return 0;
	struct vigil_consistency_proof *p = malloc(sizeof(*p));
	if (!p)
		return cli_fail(m->s, VIGIL_E_NOMEM, "out of memory");
	struct vigil_error err;
	int rc = vigil_get_consistency_proof(c, old->size, now->size, p, &err);
	if (rc != VIGIL_OK) {
		free(p);
		output_failure(&err, m->s->json);
		return cli_exit_status(rc);
	}
	rc = vigil_verify_consistency(p, old->root, now->root, &err);
	free(p);
	if (rc != VIGIL_OK)
		return inconsistent(m, "the relay's checkpoint of size %llu is not consistent with "
				    "the kept checkpoint of size %llu: %s",
				    (unsigned long long)now->size, (unsigned long long)old->size,
				    err.message);
	return 0;
}

/* Step 3: every leaf hash, folded into a tree; 0 or an exit status. */
static int check_leaves(struct monitor *m, vigil_client *c)
{
	vigil_tree *t;
	if (vigil_tree_new(&t) != VIGIL_OK)
		return cli_fail(m->s, VIGIL_E_NOMEM, "out of memory");
	struct vigil_error err;
	for (uint64_t start = 0; start < m->now.size;) {
		uint64_t left = m->now.size - start;
		uint32_t count = left < VIGIL_LEAF_HASHES_MAX ? (uint32_t)left
							      : VIGIL_LEAF_HASHES_MAX;
		int rc = vigil_get_leaf_hashes(c, start, count, &m->leaves[0][0], &err);
		if (rc != VIGIL_OK) {
			vigil_tree_free(&t);
			output_failure(&err, m->s->json);
			return cli_exit_status(rc);
		}
		for (uint32_t i = 0; i < count; i++)
			vigil_tree_append(t, m->leaves[i]);
		start += count;
	}
	uint8_t root[VIGIL_HASH_LEN];
	vigil_tree_root(t, root);
	vigil_tree_free(&t);
	if (memcmp(root, m->now.root, VIGIL_HASH_LEN) == 0)
		return 0;
	char got[2 * VIGIL_HASH_LEN + 1], want[2 * VIGIL_HASH_LEN + 1];
	vigil_hex_encode(root, VIGIL_HASH_LEN, got);
	vigil_hex_encode(m->now.root, VIGIL_HASH_LEN, want);
	return inconsistent(m, "the %llu leaf hashes the relay serves make the root %s, not the "
			    "checkpoint's root %s", (unsigned long long)m->now.size, got, want);
}

static int monitor_run(struct monitor *m)
{
	struct settings *s = m->s;
	int rc = cli_settings(s);
	if (rc != 0)
		return rc;
	struct vigil_error err;
	if ((rc = vigil_checkpoint_key_load(s->checkpoint_key, &m->key, &err)) != VIGIL_OK) {
		output_failure(&err, s->json);
		return cli_exit_status(rc);
	}
	if (m->dir && (rc = state_load(m)) != 0)
		return rc;
	vigil_client *c;
	if ((rc = cli_connect(s, &c)) != 0)
		return rc;
	rc = vigil_get_checkpoint(c, &m->now, &err);
	if (rc != VIGIL_OK) {
		vigil_close(&c);
		output_failure(&err, s->json);
		return cli_exit_status(rc);
	}
	rc = m->have_kept ? check_extends(m, c) : 0;
	if (rc == 0)
		rc = check_leaves(m, c);
	vigil_close(&c);
	if (rc == 0 && m->dir)
		rc = state_save(m);
	if (rc != 0)
		return rc;
	char root[2 * VIGIL_HASH_LEN + 1];
	vigil_hex_encode(m->now.root, VIGIL_HASH_LEN, root);
	if (s->json) {
		view_write_json(json_pack("{s:b, s:I, s:s, s:o, s:o}", "ok", 1, "entries",
					  (json_int_t)m->now.size, "root", root, "origin",
					  view_jstring(m->now.origin), "kept_size",
					  m->have_kept ? json_integer((json_int_t)m->kept.size)
						       : json_null()), stdout);
		return 0;
	}
	printf("log OK: %llu entries, root %s\n", (unsigned long long)m->now.size, root);
	if (m->have_kept)
		printf("consistent with the kept checkpoint of size %llu\n",
		       (unsigned long long)m->kept.size);
	return 0;
}

int cmd_verify(struct settings *s, int argc, char *argv[])
{
	static const struct option options[] = {
		CLI_GLOBAL_OPTIONS,
		{ "receipt", required_argument, NULL, OPT_RECEIPT },
		{ "log", no_argument, NULL, OPT_LOG },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "export", required_argument, NULL, OPT_EXPORT },
		{ NULL, 0, NULL, 0 },
	};
	const char *receipt = NULL, *state = NULL, *export_dir = NULL;
	int log = 0, opt;
	while ((opt = getopt_long(argc, argv, "+:c:h", options, NULL)) != -1) {
		switch (opt) {
		case '?':
		case ':':
			return cli_getopt_error(opt, argv);
		case 'h':
			verify_help(stdout);
			return 0;
		case OPT_RECEIPT: receipt = optarg; break;
		case OPT_LOG: log = 1; break;
		case OPT_STATE: state = optarg; break;
		case OPT_EXPORT: export_dir = optarg; break;
		default: {
			int r = cli_global_option(s, opt, optarg);
			if (r != 0)
				return r > 0 ? r : cli_usage_error("unexpected option");
		}
		}
	}
	if (optind < argc)
		return cli_usage_error("verify: unexpected argument '%s'", argv[optind]);
	if ((receipt != NULL) + log + (export_dir != NULL) != 1)
		return cli_usage_error("verify: give one of --receipt FILE, --log or --export DIR");
	if (export_dir && !export_dir[0])
		return cli_usage_error("verify: --export wants a directory");
	if (receipt && !receipt[0])
		return cli_usage_error("verify: --receipt wants a file name");
	if (state && !log)
		return cli_usage_error("verify: --state goes with --log");
	if (state && !state[0])
		return cli_usage_error("verify: --state wants a directory");
	if (receipt)
		return verify_receipt(s, receipt);
	if (export_dir)
		return export_verify(s, export_dir);
	struct monitor *m = calloc(1, sizeof(*m));
	if (!m)
		return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	m->s = s;
	m->dir = state;
	int rc = monitor_run(m);
	free(m->state);
	free(m);
	return rc;
}
