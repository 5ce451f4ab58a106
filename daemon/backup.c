#include "daemon/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon/store.h"
#include "daemon/verifydb.h"
#include "proto/record.h"

/* How long the read connection waits for a lock: a relay's TRUNCATE or
 * RESTART WAL checkpoint holds readers back for moments, never longer. */
#define BACKUP_BUSY_MS 10000

/* What the copy holds, as printed. */
struct backup_facts {
	long long bytes;
	long long entries;
	long long checkpoint_size;
	int have_checkpoint;
	uint8_t checkpoint_root[SHA256_LEN];
};

/* The partial copy's name, for the signal handler that removes it. */
static char partial_path[PATH_MAX];
static volatile sig_atomic_t partial_exists;

static void on_signal(int sig)
{
	if (partial_exists)
		unlink(partial_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static const int cleanup_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define N_CLEANUP_SIGNALS (sizeof(cleanup_signals) / sizeof(cleanup_signals[0]))

static int query_int(sqlite3 *db, const char *sql, long long *v)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* The directory a path's file is in ("." for a bare name). */
static void dir_of(const char *path, char *out, size_t out_len)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(out, out_len, ".");
	else if (slash == path)
		snprintf(out, out_len, "/");
	else
		snprintf(out, out_len, "%.*s", (int)(slash - path), path);
}

/* DEST must not exist, nor a WAL or rollback journal by its name, which
 * SQLite would take for the copy's own the first time it is opened. */
static int dest_free(const char *dest, char *why, size_t why_len)
{
	static const char *const sides[] = { "", "-wal", "-journal" };
	for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
		char p[PATH_MAX];
		struct stat sb;
		if ((size_t)snprintf(p, sizeof(p), "%s%s", dest, sides[i]) >= sizeof(p)) {
			snprintf(why, why_len, "%s: %s", dest, strerror(ENAMETOOLONG));
			return -1;
		}
		if (lstat(p, &sb) == 0) {
			if (i == 0)
				snprintf(why, why_len, "%s already exists; a backup never replaces a file",
					 dest);
			else
				snprintf(why, why_len, "%s exists: SQLite would take it for the "
					 "backup's own; remove it first", p);
			return -1;
		}
		if (errno != ENOENT && errno != ENOTDIR) {
			snprintf(why, why_len, "%s: %s", p, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* The read-only connection to the database, recognised by reads alone as
 * store_open's schema probe does; its application_id and user_version. */
static int source_open(const char *path, sqlite3 **db, long long *app_id, long long *version,
		       char *why, size_t why_len)
{
	struct stat sb;
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT)
			snprintf(why, why_len, "%s does not exist; nothing to back up", path);
		else
			snprintf(why, why_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(why, why_len, "%s is not a regular file; nothing to back up", path);
		return -1;
	}
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		snprintf(why, why_len, "%s: %s", path, *db ? sqlite3_errmsg(*db) : "cannot open");
		return -1;
	}
	sqlite3_extended_result_codes(*db, 1);
	sqlite3_busy_timeout(*db, BACKUP_BUSY_MS);
	if (query_int(*db, "PRAGMA application_id", app_id) != 0 ||
	    query_int(*db, "PRAGMA user_version", version) != 0) {
		snprintf(why, why_len, "%s: %s; nothing backed up", path, sqlite3_errmsg(*db));
		return -1;
	}
	if (*app_id != STORE_APPLICATION_ID) {
		snprintf(why, why_len, "%s is not a vigil database (application_id 0x%llx); "
			 "nothing backed up", path, (unsigned long long)*app_id);
		return -1;
	}
	/* The audit knows the current schema only; a relay migrates an older
	 * one when it starts. */
	if (*version != STORE_SCHEMA_VERSION) {
		snprintf(why, why_len, "%s has schema version %lld; this vigild backs up version "
			 "%d only (it migrates an older one when it serves it)", path, *version,
			 STORE_SCHEMA_VERSION);
		return -1;
	}
	return 0;
}

/* VACUUM INTO the empty file partial (fd): one read transaction, so one
 * snapshot, however busy the relay's writer is.  Synced before it is
 * checked. */
static int copy_into(sqlite3 *src, const char *store_path, const char *partial, int fd,
		     char *why, size_t why_len)
{
	/* A relative name that began "file:" would be read as a URI. */
	char target[PATH_MAX + 2];
	snprintf(target, sizeof(target), "%s%s", partial[0] == '/' ? "" : "./", partial);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(src, "VACUUM INTO ?", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
	}
	if (rc != SQLITE_DONE) {
		snprintf(why, why_len, "cannot copy %s: %s", store_path, sqlite3_errmsg(src));
		return -1;
	}
	if (fsync(fd) != 0) {
		snprintf(why, why_len, "cannot sync %s: %s", partial, strerror(errno));
		return -1;
	}
	return 0;
}

/* The copy keeps what the store's schema checks depend on (checked, not
 * assumed: VACUUM INTO rewrites the file), reads as a whole, and what it
 * holds for the report. */
static int copy_check(const char *partial, long long app_id, long long version,
		      struct backup_facts *f, char *why, size_t why_len)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long copy_app = -1, copy_version = -1;
	int rc = -1;
	if (sqlite3_open_v2(partial, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
		    SQLITE_OK ||
	    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    query_int(db, "PRAGMA application_id", &copy_app) != 0 ||
	    query_int(db, "PRAGMA user_version", &copy_version) != 0) {
		snprintf(why, why_len, "cannot read the copy: %s",
			 db ? sqlite3_errmsg(db) : "cannot open");
		goto out;
	}
	if (copy_app != app_id) {
		snprintf(why, why_len, "the copy's application_id is 0x%llx, the database's 0x%llx",
			 (unsigned long long)copy_app, (unsigned long long)app_id);
		goto out;
	}
	if (copy_version != version) {
		snprintf(why, why_len, "the copy's user_version is %lld, the database's %lld",
			 copy_version, version);
		goto out;
	}
	if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		snprintf(why, why_len, "the copy does not read as a whole: %s", sqlite3_errmsg(db));
		goto out;
	}
	const char *qc = (const char *)sqlite3_column_text(st, 0);
	if (!qc || strcmp(qc, "ok") != 0) {
		snprintf(why, why_len, "the copy does not read as a whole: %s", qc ? qc : "?");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (query_int(db, "SELECT count(*) FROM entries", &f->entries) != 0 ||
	    sqlite3_prepare_v2(db, "SELECT size, root FROM checkpoints ORDER BY id DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK) {
		snprintf(why, why_len, "cannot read the copy: %s", sqlite3_errmsg(db));
		goto out;
	}
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW && sqlite3_column_bytes(st, 1) == SHA256_LEN) {
		f->have_checkpoint = 1;
		f->checkpoint_size = sqlite3_column_int64(st, 0);
		memcpy(f->checkpoint_root, sqlite3_column_blob(st, 1), SHA256_LEN);
	} else if (step != SQLITE_DONE) {
		/* The audit would say what is wrong with it; this says where. */
		snprintf(why, why_len, "cannot read the copy's latest checkpoint: %s",
			 step == SQLITE_ROW ? "malformed row" : sqlite3_errmsg(db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* The audit of `vigild --verify-db`, its report kept for the reason. */
static int audit(const char *partial, const char *origin, EVP_PKEY *key, char *why,
		 size_t why_len)
{
	char *report = NULL;
	size_t report_len = 0;
	FILE *mem = open_memstream(&report, &report_len);
	if (!mem) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	const struct db_target copy = { DB_SQLITE, partial, 0 };
	int rc = verifydb_run(&copy, origin, key, mem);
	fclose(mem);
	if (rc != 0) {
		size_t n = report_len;
		while (n > 0 && report[n - 1] == '\n')
			n--;
		snprintf(why, why_len, "the copy does not verify: %.*s", (int)n, report);
	}
	free(report);
	return rc == 0 ? 0 : -1;
}

/* link(), not rename(): it fails if DEST appeared meanwhile instead of
 * replacing it.  The directory is synced so that the name survives a
 * crash. */
static int put_in_place(const char *partial, const char *dest, const char *dir, char *why,
			size_t why_len)
{
	if (link(partial, dest) != 0) {
		if (errno == EEXIST)
			snprintf(why, why_len, "%s already exists; a backup never replaces a file",
				 dest);
		else
			snprintf(why, why_len, "cannot create %s: %s", dest, strerror(errno));
		return -1;
	}
	if (unlink(partial) != 0) {
		snprintf(why, why_len, "cannot remove %s: %s", partial, strerror(errno));
		unlink(dest);
		return -1;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		snprintf(why, why_len, "cannot sync %s: %s", dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		unlink(dest);
		return -1;
	}
	close(dfd);
	return 0;
}

int backup_run(const char *store_path, const char *dest, const char *origin,
	       EVP_PKEY *checkpoint_key, FILE *out, FILE *err)
{
	char why[2 * PATH_MAX + 512] = "", dir[PATH_MAX];
	struct backup_facts f;
	memset(&f, 0, sizeof(f));
	sqlite3 *src = NULL;
	long long app_id, version;
	int fd = -1, rc = 1;
	struct sigaction old[N_CLEANUP_SIGNALS];
	dir_of(dest, dir, sizeof(dir));
	if (dest_free(dest, why, sizeof(why)) != 0 ||
	    source_open(store_path, &src, &app_id, &version, why, sizeof(why)) != 0)
		goto out;

	/* The signals that end a backup run by hand remove the partial copy. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_CLEANUP_SIGNALS; i++)
		sigaddset(&sa.sa_mask, cleanup_signals[i]);
	if ((size_t)snprintf(partial_path, sizeof(partial_path), "%s.partial-XXXXXX", dest) >=
	    sizeof(partial_path)) {
		snprintf(why, sizeof(why), "%s: %s", dest, strerror(ENAMETOOLONG));
		goto out;
	}
	sigset_t block, prev;
	sigemptyset(&block);
	for (size_t i = 0; i < N_CLEANUP_SIGNALS; i++) {
		sigaddset(&block, cleanup_signals[i]);
		sigaction(cleanup_signals[i], &sa, &old[i]);
	}
	/* No signal between the file's creation and knowing its name. */
	sigprocmask(SIG_BLOCK, &block, &prev);
	fd = mkstemp(partial_path);
	int create_errno = errno;
	if (fd >= 0) {
		partial_exists = 1;
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	sigprocmask(SIG_SETMASK, &prev, NULL);
	if (fd < 0) {
		snprintf(why, sizeof(why), "cannot create a file in %s: %s", dir,
			 strerror(create_errno));
		goto restore;
	}
	if (fchmod(fd, 0600) != 0) {
		snprintf(why, sizeof(why), "%s: %s", partial_path, strerror(errno));
		goto restore;
	}
	if (copy_into(src, store_path, partial_path, fd, why, sizeof(why)) != 0)
		goto restore;
	sqlite3_close(src);
	src = NULL;
	/* Closed before the checks open it: closing a descriptor drops the
	 * POSIX locks that SQLite's own hold on the same file. */
	close(fd);
	fd = -1;
	if (copy_check(partial_path, app_id, version, &f, why, sizeof(why)) != 0 ||
	    audit(partial_path, origin, checkpoint_key, why, sizeof(why)) != 0 ||
	    put_in_place(partial_path, dest, dir, why, sizeof(why)) != 0)
		goto restore;
	partial_exists = 0;
	struct stat sb;
	if (stat(dest, &sb) != 0) {
		snprintf(why, sizeof(why), "%s: %s", dest, strerror(errno));
		goto restore;
	}
	f.bytes = (long long)sb.st_size;
	rc = 0;
restore:
	if (fd >= 0)
		close(fd);
	if (partial_exists) {
		unlink(partial_path);
		partial_exists = 0;
	}
	for (size_t i = 0; i < N_CLEANUP_SIGNALS; i++)
		sigaction(cleanup_signals[i], &old[i], NULL);
out:
	sqlite3_close(src);
	if (rc != 0) {
		fprintf(err, "%s\n", why[0] ? why : "backup failed");
		return 1;
	}
	char hex[2 * SHA256_LEN + 1] = "none";
	if (f.have_checkpoint)
		hex_encode(f.checkpoint_root, SHA256_LEN, hex);
	fprintf(out, "backup %s\nbytes %lld\nentries %lld\ncheckpoint-size %lld\n"
		"checkpoint-root %s\n", dest, f.bytes, f.entries, f.checkpoint_size, hex);
	return fflush(out) == 0 ? 0 : 1;
}
