/*
 * vigil-bench-populate - writes a relay database of schema version 1
 * (certs + entries, no tree, no checkpoints) with N entries, for the scale
 * benchmark: vigild migrates it to schema 2 on its first start (building
 * the Merkle tree once) and then serves it.
 *
 *   vigil-bench-populate --pki DIR --db FILE --entries N [--threads T]
 *
 * Every entry is a real signed record: a ContactAttempt by one of the four
 * sample organisations of certs/mkpki.sh, signed with that organisation's
 * key (signing is spread over T threads and overlaps the inserts), with the
 * leaf hash computed as the relay computes it (entry_leaf_encode and
 * merkle_leaf_hash over the receive time, the SHA-256 of the author's DER
 * certificate, the record and the signature).  The file is therefore a
 * database the relay could have written itself, and `vigild --verify-db`
 * accepts it after the migration.
 *
 * Speed over durability while writing: WAL, synchronous=OFF, one
 * transaction per 50,000 rows.  The file must not exist yet.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "proto/record.h"
#include "proto/status.h"
#include "tests/bench/bconn.h"
#include "tests/bench/bident.h"
#include "tests/bench/brecord.h"

#define CHUNK 50000u
#define APPLICATION_ID 0x7669676c /* "vigl", as daemon/store.h */

/* Schema version 1, exactly as daemon/store.c creates it. */
static const char schema_v1[] =
	"CREATE TABLE certs ("
	"  fp BLOB PRIMARY KEY,"
	"  der BLOB NOT NULL,"
	"  organisation TEXT NOT NULL,"
	"  first_seen_ms INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE entries ("
	"  idx INTEGER PRIMARY KEY,"
	"  type INTEGER NOT NULL,"
	"  received_at_ms INTEGER NOT NULL,"
	"  cert_fp BLOB NOT NULL REFERENCES certs(fp),"
	"  record_id BLOB NOT NULL UNIQUE,"
	"  case_id TEXT NOT NULL,"
	"  author TEXT NOT NULL,"
	"  record BLOB NOT NULL,"
	"  signature BLOB NOT NULL,"
	"  leaf_hash BLOB NOT NULL"
	");"
	"CREATE INDEX entries_case ON entries(case_id, idx);";

static const char *const orgs[] = { "iom-ru-moscow", "se-stockholm-coord", "se-police-noa",
				    "se-shelter-1" };
#define N_ORGS (sizeof(orgs) / sizeof(orgs[0]))

/* One chunk of records being signed by worker threads. */
struct chunk {
	pthread_t thread;
	struct brecord *r;
	size_t first, n;          /* global index of r[0], count */
	unsigned threads;
	int64_t base_ms;
	struct bident *ids;
	int rc;
};

/*
 * Signs the records of one chunk.  Entry i is authored by orgs[i % 4]; the
 * records of one organisation are made in one brecords_make() call over a
 * strided index, so each is a plain loop over its own key.
 */
static void *chunk_main(void *arg)
{
	struct chunk *c = arg;
	c->rc = 0;
	for (unsigned o = 0; o < N_ORGS && c->rc == 0; o++) {
		/* Entries first + o, first + o + 4, ...: count and scratch. */
		size_t cnt = 0;
		for (size_t i = c->first; i < c->first + c->n; i++)
			if (i % N_ORGS == o)
				cnt++;
		if (!cnt)
			continue;
		struct brecord *tmp = calloc(cnt, sizeof(*tmp));
		if (!tmp) {
			c->rc = -1;
			break;
		}
		struct brecord_spec spec = {
			.key = c->ids[o].key,
			.author = c->ids[o].org,
			.time_ms = c->base_ms,
			.time_step_ms = 0,
			.first = c->first / N_ORGS, /* varies case ids across chunks */
			.frames = 0,
			/* Written straight into a schema-1 database: records of
			 * that time, whose notes were in the clear. */
			.plain_notes = 1,
		};
		if (brecords_make(tmp, cnt, &spec, c->threads) != 0) {
			brecords_free(tmp, cnt);
			free(tmp);
			c->rc = -1;
			break;
		}
		size_t k = 0;
		for (size_t i = c->first; i < c->first + c->n; i++)
			if (i % N_ORGS == o)
				c->r[i - c->first] = tmp[k++];
		free(tmp);
	}
	return NULL;
}

static int exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "vigil-bench-populate: %s: %s\n", sql,
			msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Inserts one signed chunk in one transaction. */
static int insert_chunk(sqlite3 *db, sqlite3_stmt *ins, const struct chunk *c,
			const struct bident *ids)
{
	if (exec_sql(db, "BEGIN") != 0)
		return -1;
	for (size_t k = 0; k < c->n; k++) {
		size_t i = c->first + k;
		const struct brecord *r = &c->r[k];
		const struct bident *id = &ids[i % N_ORGS];
		/* Receive times 10 ms apart, ending about now. */
		int64_t received = c->base_ms + (int64_t)i * 10;
		uint8_t *leaf, hash[SHA256_LEN];
		size_t leaf_len;
		if (entry_leaf_encode(received, id->cert_sha256, r->rec, r->rec_len, r->sig,
				      r->sig_len, &leaf, &leaf_len) != VG_OK) {
			fprintf(stderr, "vigil-bench-populate: cannot encode leaf %zu\n", i);
			return -1;
		}
		merkle_leaf_hash(leaf, leaf_len, hash);
		free(leaf);
		sqlite3_bind_int64(ins, 1, (sqlite3_int64)i);
		sqlite3_bind_int64(ins, 2, received);
		sqlite3_bind_blob(ins, 3, id->cert_sha256, SHA256_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(ins, 4, r->record_id, RECORD_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_text(ins, 5, r->case_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 6, id->org, -1, SQLITE_STATIC);
		sqlite3_bind_blob(ins, 7, r->rec, (int)r->rec_len, SQLITE_STATIC);
		sqlite3_bind_blob(ins, 8, r->sig, (int)r->sig_len, SQLITE_STATIC);
		sqlite3_bind_blob(ins, 9, hash, SHA256_LEN, SQLITE_TRANSIENT);
		int rc = sqlite3_step(ins);
		sqlite3_reset(ins);
		if (rc != SQLITE_DONE) {
			fprintf(stderr, "vigil-bench-populate: entry %zu: %s\n", i,
				sqlite3_errmsg(db));
			return -1;
		}
	}
	return exec_sql(db, "COMMIT");
}

static void usage(FILE *f)
{
	fputs("usage: vigil-bench-populate --pki DIR --db FILE --entries N [--threads T]\n", f);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "pki", required_argument, NULL, 'p' },
		{ "db", required_argument, NULL, 'd' },
		{ "entries", required_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pki = NULL, *path = NULL;
	unsigned long long entries = 0;
	long nproc = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads = nproc > 0 ? (unsigned)nproc : 1;
	int opt;
	char *end;
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (opt) {
		case 'p': pki = optarg; break;
		case 'd': path = optarg; break;
		case 'n':
			errno = 0;
			entries = strtoull(optarg, &end, 10);
			if (errno || *end || end == optarg || entries == 0 || entries > 1000000000ULL) {
				fprintf(stderr, "vigil-bench-populate: --entries: 1..1000000000\n");
				return 2;
			}
			break;
		case 't':
			errno = 0;
			threads = (unsigned)strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || threads == 0 || threads > 64) {
				fprintf(stderr, "vigil-bench-populate: --threads: 1..64\n");
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!pki || !path || !entries || optind != argc) {
		usage(stderr);
		return 2;
	}
	struct stat sb;
	if (stat(path, &sb) == 0) {
		fprintf(stderr, "vigil-bench-populate: %s exists; refusing to add to it\n", path);
		return 1;
	}

	int code = 1;
	struct bident ids[N_ORGS];
	memset(ids, 0, sizeof(ids));
	char err[1024];
	for (unsigned o = 0; o < N_ORGS; o++)
		if (bident_load(&ids[o], pki, orgs[o], NULL, err, sizeof(err)) != 0) {
			fprintf(stderr, "vigil-bench-populate: %s\n", err);
			goto out_ids;
		}

	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL, *cert = NULL;
	if (sqlite3_open(path, &db) != SQLITE_OK) {
		fprintf(stderr, "vigil-bench-populate: %s: %s\n", path, sqlite3_errmsg(db));
		goto out_db;
	}
	if (exec_sql(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"
			 "PRAGMA cache_size=-262144;") != 0 ||
	    exec_sql(db, schema_v1) != 0)
		goto out_db;
	if (sqlite3_prepare_v2(db, "INSERT INTO entries(idx, type, received_at_ms, cert_fp, "
			       "record_id, case_id, author, record, signature, leaf_hash) "
			       "VALUES(?,1,?,?,?,?,?,?,?,?)", -1, &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO certs(fp, der, organisation, first_seen_ms) "
			       "VALUES(?,?,?,?)", -1, &cert, NULL) != SQLITE_OK) {
		fprintf(stderr, "vigil-bench-populate: %s\n", sqlite3_errmsg(db));
		goto out_db;
	}
	/* The log ends about now, one entry every 10 ms before that. */
	int64_t base_ms = (int64_t)time(NULL) * 1000 - (int64_t)entries * 10;
	for (unsigned o = 0; o < N_ORGS; o++) {
		sqlite3_bind_blob(cert, 1, ids[o].cert_sha256, SHA256_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(cert, 2, ids[o].cert_der, (int)ids[o].cert_der_len, SQLITE_STATIC);
		sqlite3_bind_text(cert, 3, ids[o].org, -1, SQLITE_STATIC);
		sqlite3_bind_int64(cert, 4, base_ms);
		int rc = sqlite3_step(cert);
		sqlite3_reset(cert);
		if (rc != SQLITE_DONE) {
			fprintf(stderr, "vigil-bench-populate: certs: %s\n", sqlite3_errmsg(db));
			goto out_db;
		}
	}

	/* Two chunks in flight: the threads sign chunk k + 1 while this thread
	 * inserts chunk k. */
	struct chunk ch[2];
	memset(ch, 0, sizeof(ch));
	for (int b = 0; b < 2; b++) {
		ch[b].r = calloc(CHUNK, sizeof(struct brecord));
		if (!ch[b].r) {
			fprintf(stderr, "vigil-bench-populate: out of memory\n");
			goto out_chunks;
		}
		ch[b].ids = ids;
		ch[b].threads = threads;
		ch[b].base_ms = base_ms;
	}
	int64_t t0 = bench_now_ns();
	size_t next = 0, cur = 0;
	int running = 0;
	ch[0].first = 0;
	ch[0].n = entries < CHUNK ? (size_t)entries : CHUNK;
	chunk_main(&ch[0]);
	next = ch[0].n;
	for (;;) {
		if (ch[cur].rc != 0)
			goto out_chunks;
		struct chunk *nx = &ch[cur ^ 1];
		if (next < entries) {
			nx->first = next;
			nx->n = entries - next < CHUNK ? (size_t)(entries - next) : CHUNK;
			next += nx->n;
			if (pthread_create(&nx->thread, NULL, chunk_main, nx) != 0) {
				fprintf(stderr, "vigil-bench-populate: cannot start a thread\n");
				goto out_chunks;
			}
			running = 1;
		}
		int rc = insert_chunk(db, ins, &ch[cur], ids);
		brecords_free(ch[cur].r, ch[cur].n);
		ch[cur].n = 0;
		if (running) {
			pthread_join(nx->thread, NULL);
			running = 0;
		} else if (rc == 0) {
			break;
		}
		if (rc != 0)
			goto out_chunks;
		cur ^= 1;
		if (ch[cur].first / CHUNK % 4 == 0)
			fprintf(stderr, "vigil-bench-populate: %zu of %llu entries written\n",
				ch[cur].first, entries);
	}
	char sql[160];
	snprintf(sql, sizeof(sql), "PRAGMA application_id=%d; PRAGMA user_version=1;",
		 APPLICATION_ID);
	if (exec_sql(db, sql) != 0 || exec_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)") != 0)
		goto out_chunks;
	printf("# %llu entries (real ECDSA P-256 signatures by %zu organisations, %u signing "
	       "threads) written to a schema-1 database of %.0f MB\n", entries, N_ORGS, threads,
	       (double)(stat(path, &sb) == 0 ? sb.st_size : 0) / 1e6);
	printf("populate_s: %.1f\n", (double)(bench_now_ns() - t0) / 1e9);
	code = 0;
out_chunks:
	for (int b = 0; b < 2; b++) {
		brecords_free(ch[b].r, ch[b].n);
		free(ch[b].r);
	}
out_db:
	sqlite3_finalize(ins);
	sqlite3_finalize(cert);
	if (db && sqlite3_close(db) != SQLITE_OK)
		code = 1;
out_ids:
	for (unsigned o = 0; o < N_ORGS; o++)
		bident_free(&ids[o]);
	return code;
}
