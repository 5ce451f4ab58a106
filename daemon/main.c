/*
 * vigild - the vigil relay.
 *
 *   vigild -c FILE [--check-config | --reload-check | --verify-db | --init-db |
 *          --backup DEST | --copy-to DSN] [--ready-file FILE] [-v]
 *   vigild --version
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "daemon/backup.h"
#include "daemon/config.h"
#include "daemon/copyto.h"
#include "daemon/directory.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/notify.h"
#include "daemon/relay.h"
#include "daemon/store.h"
#include "daemon/writer.h"
#include "daemon/tls.h"
#include "daemon/verifydb.h"

static void usage(FILE *f)
{
	fputs("usage: vigild -c FILE [--check-config | --reload-check | --verify-db | --init-db |\n"
	      "                    --backup DEST | --copy-to DSN] [--ready-file FILE] [-v]\n"
	      "       vigild --version\n"
	      "\n"
	      "  -c, --config FILE    configuration file (INI)\n"
	      "      --check-config   validate the configuration, the files it names (TLS\n"
	      "                       certificate and key, CA, CRL, the member directory and\n"
	      "                       its encryption certificates, the checkpoint key) and\n"
	      "                       the relay's own identity, and exit: 0 OK, 1 not\n"
	      "      --reload-check   the same, before a SIGHUP makes a running relay load\n"
	      "                       them (it keeps what it has when they fail)\n"
	      "      --init-db        create a new, empty log at [store] path and exit; only\n"
	      "                       where no file or an empty file is (never replaces one)\n"
	      "      --verify-db      audit the database offline (entries, signatures, tree,\n"
	      "                       checkpoints) and exit: 0 OK, 1 a problem, 2 unreadable\n"
	      "      --backup DEST    copy the database to DEST (a new file, mode 0600), while\n"
	      "                       a relay serves it or not, from one snapshot; audit the\n"
	      "                       copy as --verify-db does and print its facts; exit 0\n"
	      "                       only when it verifies (else no DEST is left)\n"
	      "      --copy-to DSN    copy the SQLite log at [store] path (relay stopped) into\n"
	      "                       the empty PostgreSQL schema DSN (a libpq connection\n"
	      "                       string) names, then prove the copy: every table's rows,\n"
	      "                       the latest checkpoint, the audit of --verify-db\n"
	      "      --ready-file F   write the listening port to F once serving\n"
	      "  -v, --verbose        log debug messages\n"
	      "      --version        print the version and exit\n", f);
}

/* The Ed25519 key that signs checkpoints (PEM, PKCS#8). */
static EVP_PKEY *load_checkpoint_key(const struct config *cfg, char *err, size_t err_len)
{
	const char *path = cfg->log_checkpoint_key;
	FILE *f = fopen(path, "r");
	if (!f) {
		config_key_error(cfg, "log", "checkpoint_key", err, err_len, "cannot open %s", path);
		return NULL;
	}
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
		config_key_error(cfg, "log", "checkpoint_key", err, err_len,
				 "%s is not an Ed25519 private key (PEM)", path);
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

static int write_ready_file(const char *path, int port)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0)
		return -1;
	/* Renamed into place so a reader never sees a half-written file. */
	return rename(tmp, path);
}

int main(int argc, char **argv)
{
	enum { OPT_CHECK = 256, OPT_VERSION, OPT_READY, OPT_VERIFY, OPT_INIT, OPT_BACKUP,
	       OPT_COPY_TO };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "reload-check", no_argument, NULL, OPT_CHECK },
		{ "ready-file", required_argument, NULL, OPT_READY },
		{ "verify-db", no_argument, NULL, OPT_VERIFY },
		{ "init-db", no_argument, NULL, OPT_INIT },
		{ "backup", required_argument, NULL, OPT_BACKUP },
		{ "copy-to", required_argument, NULL, OPT_COPY_TO },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *ready_file = NULL, *backup_dest = NULL, *copy_to = NULL;
	int check = 0, verify = 0, init = 0, opt;
	while ((opt = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config_path = optarg; break;
		case 'v': log_set_level(LOG_DEBUG); break;
		case OPT_CHECK: check = 1; break;
		case OPT_READY: ready_file = optarg; break;
		case OPT_VERIFY: verify = 1; break;
		case OPT_INIT: init = 1; break;
		case OPT_BACKUP: backup_dest = optarg; break;
		case OPT_COPY_TO: copy_to = optarg; break;
		case OPT_VERSION: printf("vigild %s\n", VIGIL_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!config_path || optind != argc ||
	    check + verify + init + (backup_dest != NULL) + (copy_to != NULL) > 1) {
		usage(stderr);
		return 2;
	}

	struct config cfg;
	char err[1024];
	if (config_load(config_path, &cfg, err, sizeof(err)) != 0) {
		if (check || backup_dest || copy_to)
			fprintf(stderr, "%s\n", err);
		else
			log_err("%s", err);
		return 1;
	}
	/* A backup needs the store and the checkpoint key only: an expired
	 * CRL or a bad directory entry must not stop one. */
	if (backup_dest) {
		EVP_PKEY *key = load_checkpoint_key(&cfg, err, sizeof(err));
		int brc = 1;
		if (cfg.store_pg)
			fprintf(stderr, "--backup copies an SQLite store; a PostgreSQL store is backed "
					"up with PostgreSQL's own tools (pg_basebackup, pg_dump)\n");
		else if (!key)
			fprintf(stderr, "%s\n", err);
		else
			brc = backup_run(cfg.store_path, backup_dest, cfg.log_origin, key, stdout,
					 stderr);
		EVP_PKEY_free(key);
		config_free(&cfg);
		return brc;
	}
	if (copy_to) {
		EVP_PKEY *key = load_checkpoint_key(&cfg, err, sizeof(err));
		int crc = 1;
		if (cfg.store_pg)
			fprintf(stderr, "--copy-to copies an SQLite store ([store] path) into "
					"PostgreSQL; this configuration's store is PostgreSQL already\n");
		else if (!key)
			fprintf(stderr, "%s\n", err);
		else
			crc = copyto_run(cfg.store_path, copy_to, cfg.log_origin, key, stdout, stderr);
		EVP_PKEY_free(key);
		config_free(&cfg);
		return crc;
	}
	/* The member directory: its errors name its own file and line. */
	struct directory *dir = NULL;
	if (directory_load(cfg.directory_path, &dir, err, sizeof(err)) != 0) {
		if (check)
			fprintf(stderr, "%s\n", err);
		else
			log_err("%s", err);
		config_free(&cfg);
		return 1;
	}
	SSL_CTX *ctx = tls_ctx_new(&cfg, dir, err, sizeof(err));
	/* The members' encryption certificates chain to the same CA (and
	 * CRL) as their TLS certificates. */
	if (ctx && directory_verify_keys(dir, SSL_CTX_get_cert_store(ctx), err, sizeof(err)) != 0) {
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	if (!ctx) {
		if (check)
			fprintf(stderr, "%s\n", err);
		else
			log_err("%s", err);
		directory_free(&dir);
		config_free(&cfg);
		return 1;
	}
	EVP_PKEY *ckpt_key = load_checkpoint_key(&cfg, err, sizeof(err));
	if (!ckpt_key) {
		if (check)
			fprintf(stderr, "%s\n", err);
		else
			log_err("%s", err);
		SSL_CTX_free(ctx);
		directory_free(&dir);
		config_free(&cfg);
		return 1;
	}
	if (verify) {
		struct db_target where;
		config_store_target(&cfg, &where);
		int vrc = verifydb_run(&where, cfg.log_origin, ckpt_key, stdout);
		EVP_PKEY_free(ckpt_key);
		SSL_CTX_free(ctx);
		directory_free(&dir);
		config_free(&cfg);
		return vrc;
	}
	if (check) {
		/* The relay's own certificate, as start-up and a reload check it. */
		struct relay_identity ri;
		if (relay_identity_load(&cfg, dir, &ri, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			EVP_PKEY_free(ckpt_key);
			SSL_CTX_free(ctx);
			directory_free(&dir);
			config_free(&cfg);
			return 1;
		}
		relay_identity_free(&ri);
		printf("configuration OK\n");
		EVP_PKEY_free(ckpt_key);
		SSL_CTX_free(ctx);
		directory_free(&dir);
		config_free(&cfg);
		return 0;
	}

	if (init) {
		struct store *fresh = NULL;
		struct db_target where;
		config_store_target(&cfg, &where);
		int irc = store_open(&where, 1, &fresh, err, sizeof(err));
		if (irc != 0)
			log_err("%s", err);
		store_close(&fresh);
		EVP_PKEY_free(ckpt_key);
		SSL_CTX_free(ctx);
		directory_free(&dir);
		config_free(&cfg);
		return irc != 0;
	}

	signal(SIGPIPE, SIG_IGN);
	/* Until relay_start() installs its handler, a SIGHUP must not end
	 * the start-up either. */
	signal(SIGHUP, SIG_IGN);
	int code = 1;
	struct store *store = NULL;
	struct writer *writer = NULL;
	struct writer_member_key *keys = NULL; /* the writer's, until it is closed */
	struct metrics *metrics = NULL;
	uv_loop_t loop;
	struct relay relay;
	struct db_target where;
	config_store_target(&cfg, &where);
	if (store_open(&where, 0, &store, err, sizeof(err)) != 0) {
		log_err("%s", err);
		goto out_ctx;
	}
	if (writer_open(store, &writer, err, sizeof(err)) != 0) {
		log_err("%s", err);
		goto out_store;
	}
	if (uv_loop_init(&loop) != 0) {
		log_err("cannot create the event loop");
		goto out_writer;
	}
	if (relay_start(&relay, &loop, &cfg, dir, ctx, writer, err, sizeof(err)) != 0) {
		log_err("%s", err);
		goto out_loop;
	}
	/* Every member's encryption certificate, for the log (MemberKey). */
	size_t n_keys = directory_count(dir);
	keys = calloc(n_keys + 1, sizeof(*keys));
	if (!keys) {
		log_err("out of memory");
		relay_drain(&relay, "start-up failure");
		uv_run(&loop, UV_RUN_DEFAULT);
		relay_close(&relay);
		goto out_loop;
	}
	for (size_t i = 0; i < n_keys; i++) {
		const struct member *m = directory_at(dir, i);
		keys[i].org = m->org;
		keys[i].der = m->enc_cert ? m->enc_der : NULL;
		keys[i].der_len = m->enc_der_len;
		keys[i].sha256 = m->enc_sha256;
	}
	struct writer_config wcfg = {
		.key = ckpt_key,
		.origin = cfg.log_origin,
		.interval_ms = cfg.checkpoint_interval_ms,
		.relay_key = relay.identity_key,
		.relay_cert_der = relay.identity_der,
		.relay_cert_der_len = relay.identity_der_len,
		.relay_org = relay.identity.org,
		.watch = {
			.window_ms = { 0, cfg.window_low_ms, cfg.window_medium_ms, cfg.window_high_ms },
			.failed_attempts = cfg.failed_attempts,
			.handover_window_ms = cfg.handover_window_ms,
			.escalate_after_ms = cfg.escalate_after_ms,
			.max_clock_skew_ms = cfg.max_clock_skew_ms,
		},
		.members = { directory_role_of, directory_enc_of, dir },
		.directory = dir,
		.wal_limit = cfg.wal_limit,
		.member_keys = keys,
		.n_member_keys = n_keys,
		.content_after_ms = cfg.content_after_close_ms,
		.record_after_ms = cfg.record_after_close_ms,
	};
	int rc = writer_start(writer, &loop, cfg.batch_max, cfg.batch_wait_ms, &wcfg, err,
			      sizeof(err));
	if (rc != 0) {
		log_err("cannot start the writer: %s", err);
		relay_drain(&relay, "start-up failure");
		uv_run(&loop, UV_RUN_DEFAULT);
		relay_close(&relay);
		goto out_loop;
	}
	/* [metrics]: after the writer, whose counters it shows. */
	if (metrics_start(&metrics, &relay, err, sizeof(err)) != 0) {
		log_err("%s", err);
		relay_drain(&relay, "start-up failure");
		uv_run(&loop, UV_RUN_DEFAULT);
		relay_close(&relay);
		goto out_loop;
	}
	struct writer_stats st;
	writer_get_stats(writer, &st);
	int port = relay_port(&relay);
	log_notice("vigild %s serving on %s port %d, %llu entries in %s, %zu members in %s",
		   VIGIL_VERSION, cfg.listen_address, port, (unsigned long long)st.entries,
		   store_path(store), directory_count(dir), cfg.directory_path);
	if (ready_file && write_ready_file(ready_file, port) != 0)
		log_warn("cannot write %s", ready_file);
	relay.serving = 1;
	notify_ready(&relay);
	uv_run(&loop, UV_RUN_DEFAULT);
	metrics_stop(&metrics);
	relay_close(&relay);
	/* A supervisor must notice a relay whose storage failed. */
	/* 75 (EX_TEMPFAIL) after stepping down: started again, the relay waits
	 * as a standby. */
	code = writer_fenced(writer) ? 75 : writer_failed(writer) ? 1 : 0;
	if (code)
		log_err("exiting with an error: storage failed during this run");
out_loop:
	if (uv_loop_close(&loop) != 0) {
		/* A handle left open is a bug; say so rather than exit quietly. */
		log_err("event loop closed with handles still open");
		uv_run(&loop, UV_RUN_NOWAIT);
		code = code ? code : 1;
	}
out_writer:
	writer_close(&writer);
	free(keys);
out_store:
	store_close(&store);
out_ctx:
	EVP_PKEY_free(ckpt_key);
	/* After the loop is closed: nothing reads the directory any more. */
	SSL_CTX_free(ctx);
	directory_free(&dir);
	config_free(&cfg);
	return code;
}
