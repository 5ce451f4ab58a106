#include "daemon/copyto.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/db.h"
#include "daemon/store.h"
#include "daemon/verifydb.h"

/* Every table of schema STORE_SCHEMA_VERSION, parents before the rows
 * that refer to them. */
static const char *const tables[] = {
	"certs",   "entries", "tree",          "checkpoints", "cases",       "case_parties",
	"case_reads", "orgs", "alerts",        "delivery_acks", "sealed",    "erased",
	"member_keys", "reseals", "corrections", "log_head",
};
#define N_TABLES (sizeof(tables) / sizeof(tables[0]))

/* Copies table's rows from src into dst; *rows counts them. */
static int copy_table(struct db *src, struct db *dst, const char *table, long long *rows,
		      char *why, size_t why_len)
{
	char sql[128];
	struct db_stmt *rd = NULL, *wr = NULL;
	*rows = 0;
	snprintf(sql, sizeof(sql), "SELECT * FROM %s", table);
	if (db_prepare(src, sql, &rd) != DB_OK) {
		snprintf(why, why_len, "reading %s: %s", table, db_errmsg(src));
		return -1;
	}
	int rc;
	while ((rc = db_step(rd)) == DB_ROW) {
		int n = db_column_count(rd);
		if (!wr) {
			/* The columns are in the same order on both engines: the
			 * schema is made by the same steps. */
			size_t o = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES(?", table);
			char *ins = malloc(o + 2 * (size_t)n + 2);
			if (!ins) {
				snprintf(why, why_len, "out of memory");
				db_finalize(rd);
				return -1;
			}
			memcpy(ins, sql, o);
			for (int i = 1; i < n; i++) {
				ins[o++] = ',';
				ins[o++] = '?';
			}
			ins[o++] = ')';
			ins[o] = '\0';
			int prc = db_prepare(dst, ins, &wr);
			free(ins);
			if (prc != DB_OK) {
				snprintf(why, why_len, "writing %s: %s", table, db_errmsg(dst));
				db_finalize(rd);
				return -1;
			}
		}
		for (int i = 0; i < n; i++) {
			switch (db_column_type(rd, i)) {
			case DB_INTEGER:
				db_bind_int64(wr, i + 1, db_column_int64(rd, i));
				break;
			case DB_TEXT:
				db_bind_text(wr, i + 1, db_column_text(rd, i), db_column_bytes(rd, i));
				break;
			case DB_BLOB: {
				/* An empty blob (an erased record) stays empty, not NULL. */
				static const char empty[1];
				const void *p = db_column_blob(rd, i);
				db_bind_blob(wr, i + 1, p ? p : empty, (size_t)db_column_bytes(rd, i));
				break;
			}
			default:
				db_bind_null(wr, i + 1);
			}
		}
		int wrc = db_step(wr);
		db_reset(wr);
		if (wrc != DB_DONE) {
			snprintf(why, why_len, "writing %s: %s", table, db_errmsg(dst));
			db_finalize(rd);
			db_finalize(wr);
			return -1;
		}
		(*rows)++;
	}
	if (rc != DB_DONE)
		snprintf(why, why_len, "reading %s: %s", table, db_errmsg(src));
	db_finalize(rd);
	db_finalize(wr);
	return rc == DB_DONE ? 0 : -1;
}

static int count(struct db *db, const char *table, long long *n)
{
	char sql[128];
	struct db_stmt *st;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	if (db_prepare(db, sql, &st) != DB_OK)
		return -1;
	int rc = db_step(st);
	*n = db_column_int64(st, 0);
	db_finalize(st);
	return rc == DB_ROW ? 0 : -1;
}

/* The latest checkpoint's size and root (hex); size -1 when none. */
static int latest(struct db *db, long long *size, char root[65])
{
	struct db_stmt *st;
	*size = -1;
	root[0] = '\0';
	if (db_prepare(db, "SELECT size, root FROM checkpoints ORDER BY id DESC LIMIT 1", &st) !=
	    DB_OK)
		return -1;
	int rc = db_step(st);
	if (rc == DB_ROW && db_column_bytes(st, 1) == 32) {
		*size = db_column_int64(st, 0);
		const unsigned char *r = db_column_blob(st, 1);
		for (int i = 0; i < 32; i++)
			snprintf(root + 2 * i, 3, "%02x", r[i]);
	}
	db_finalize(st);
	return rc == DB_ROW || rc == DB_DONE ? 0 : -1;
}

int copyto_run(const char *path, const char *dsn, const char *origin, EVP_PKEY *key, FILE *out,
	       FILE *errf)
{
	char why[1024];
	struct db *src = NULL;
	struct store *dst = NULL;
	int result = 1;
	const struct db_target from = { DB_SQLITE, path, 0 }, to = { DB_POSTGRESQL, dsn, 0 };
	/* The source as a store first: it must be a vigil log of a known
	 * schema (migrated if older), and no relay may be writing it. */
	if (store_open(&from, 0, &dst, why, sizeof(why)) != 0) {
		fprintf(errf, "%s\n", why);
		return 1;
	}
	store_close(&dst);
	if (db_open(&from, 1, &src, why, sizeof(why)) != DB_OK) {
		fprintf(errf, "%s\n", why);
		return 1;
	}
	/* One snapshot of the source; the new store as --init-db makes it,
	 * holding its lock. */
	if (db_exec(src, "BEGIN") != DB_OK) {
		fprintf(errf, "%s: %s\n", path, db_errmsg(src));
		goto out;
	}
	if (store_open(&to, 1, &dst, why, sizeof(why)) != 0) {
		fprintf(errf, "%s\n", why);
		goto out;
	}
	struct db *pg = store_db(dst);
	long long rows[N_TABLES];
	if (db_exec(pg, "BEGIN") != DB_OK || db_exec(pg, "DELETE FROM log_head") != DB_OK) {
		fprintf(errf, "%s: %s\n", store_path(dst), db_errmsg(pg));
		goto out;
	}
	for (size_t i = 0; i < N_TABLES; i++) {
		if (copy_table(src, pg, tables[i], &rows[i], why, sizeof(why)) != 0) {
			fprintf(errf, "%s\n", why);
			db_exec(pg, "ROLLBACK");
			goto out;
		}
	}
	/* Identity columns go on after the copied rows' numbers. */
	if (db_exec(pg, "SELECT setval(pg_get_serial_sequence('checkpoints', 'id'), "
			"coalesce(max(id), 0) + 1, false) FROM checkpoints;"
			"SELECT setval(pg_get_serial_sequence('case_reads', 'id'), "
			"coalesce(max(id), 0) + 1, false) FROM case_reads") != DB_OK ||
	    db_exec(pg, "COMMIT") != DB_OK) {
		fprintf(errf, "%s: %s\n", store_path(dst), db_errmsg(pg));
		db_exec(pg, "ROLLBACK");
		goto out;
	}
	/* The proof: every table's rows, the latest checkpoint, the audit. */
	long long n = 0, src_size = -1, dst_size = -1;
	char src_root[65], dst_root[65];
	for (size_t i = 0; i < N_TABLES; i++) {
		if (count(pg, tables[i], &n) != 0 || n != rows[i]) {
			fprintf(errf, "the copy's %s has %lld rows, the source %lld\n", tables[i], n,
				rows[i]);
			goto out;
		}
	}
	if (latest(src, &src_size, src_root) != 0 || latest(pg, &dst_size, dst_root) != 0 ||
	    src_size != dst_size || strcmp(src_root, dst_root) != 0) {
		fprintf(errf, "the copy's latest checkpoint (size %lld, root %s) is not the "
			"source's (size %lld, root %s)\n", dst_size, dst_root, src_size, src_root);
		goto out;
	}
	store_close(&dst);
	char audit[512];
	FILE *mem = fmemopen(audit, sizeof(audit), "w");
	if (!mem) {
		fprintf(errf, "out of memory\n");
		goto out;
	}
	int vrc = verifydb_run(&to, origin, key, mem);
	fclose(mem);
	audit[sizeof(audit) - 1] = '\0';
	if (vrc != 0) {
		fprintf(errf, "the copy does not verify: %s", audit);
		goto out;
	}
	char name[256];
	db_target_name(&to, name, sizeof(name));
	fprintf(out, "copied %s to %s: %lld entries, %lld checkpoints, latest of size %lld, "
		"root %s\n", path, name, rows[1], rows[3], dst_size, dst_root);
	fprintf(out, "copy audited: %s", audit);
	result = 0;
out:
	store_close(&dst);
	if (src)
		db_exec(src, "ROLLBACK");
	db_close(&src);
	return result;
}
