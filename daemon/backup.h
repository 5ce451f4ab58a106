/*
 * backup.h - `vigild --backup DEST`: a consistent copy of a relay's
 * database, taken while a relay serves it or while none does, audited
 * before it is put in place.
 *
 * A serving relay holds an exclusive flock on its database (store_open), so
 * the copy never goes through the store: it is taken by a read-only SQLite
 * connection of its own with VACUUM INTO, which reads the whole database in
 * one read transaction, i.e. one WAL snapshot.  The relay's writer goes on
 * committing beside it and is never blocked, and no writer can make it
 * start over (sqlite3_backup_step() in steps restarts whenever another
 * process writes between two steps).  The relay's WAL cannot be restarted
 * while the snapshot is held, so it grows by what is committed during the
 * copy.  A file copy of a live WAL database is never consistent and is
 * never made.
 *
 * The copy is written to a new file beside DEST (DEST.partial-XXXXXX, mode
 * 0600, never an existing one), synced, checked (its application_id and
 * user_version are the database's, PRAGMA quick_check, then the audit of
 * `vigild --verify-db`) and only then linked to DEST, which must not exist
 * and is never replaced.  So DEST exists exactly when the backup succeeded;
 * on failure, or SIGINT, SIGTERM or SIGHUP during the copy, the partial file
 * is removed (after kill -9 or a crash it stays, under its partial name).
 */
#ifndef VIGIL_DAEMON_BACKUP_H
#define VIGIL_DAEMON_BACKUP_H

#include <stdio.h>

#include <openssl/evp.h>

/*
 * Copies the database at store_path to dest and audits the copy with the
 * log's origin and checkpoint key.  On success prints one fact per line to
 * out and returns 0:
 *
 *   backup DEST
 *   bytes N               (the copy's size)
 *   entries N
 *   checkpoint-size N     (the latest checkpoint; 0 when there is none)
 *   checkpoint-root HEX   ("none" when there is none)
 *
 * Otherwise prints the reason to err and returns 1; dest is not created.
 */
int backup_run(const char *store_path, const char *dest, const char *origin,
	       EVP_PKEY *checkpoint_key, FILE *out, FILE *err);

#endif
