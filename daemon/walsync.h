/*
 * walsync.h - SQLite WAL checkpoints off the writer's path.
 *
 * By default SQLite copies the write-ahead log back into the database file
 * (and fsyncs it) inside whichever commit crosses 1000 pages, stalling that
 * commit for milliseconds.  The writer turns that off and tells this thread
 * about every commit instead (walsync_commit, from SQLite's WAL hook); the
 * thread checkpoints on a connection of its own:
 *
 *   - a PASSIVE checkpoint once the WAL holds 1000 pages (fewer with a small
 *     limit): it copies pages into the database file beside the writer and
 *     the readers and never blocks them;
 *   - when the WAL still holds more than the limit after that, a RESTART
 *     checkpoint with a short busy timeout (WALSYNC_BUSY_MS): it takes the
 *     write lock, copies the few pages committed since the PASSIVE one,
 *     waits for readers to leave the old frames, and so makes the writer's
 *     next commit start the WAL again from its beginning.  The writer's
 *     connection has journal_size_limit set to the limit, so that commit
 *     also trims a larger file back to it.  Under sustained writes a PASSIVE
 *     checkpoint alone never lets the WAL start over: the writer appends
 *     while it copies;
 *   - a writer committing back to back on a loaded machine leaves the write
 *     lock free for microseconds at a time, and the RESTART can miss every
 *     one of them.  When a commit leaves the WAL past twice the limit, the
 *     writer itself waits in its WAL hook (holding no lock) until a RESTART
 *     has run, its own or the thread's, for at most 2 * WALSYNC_BUSY_MS.
 *     That is rare, and it bounds the WAL to twice the limit plus a batch.
 *
 * A connection that has never read the database has no WAL index, and on
 * SQLite 3.40 a checkpoint on it returns SQLITE_OK with a log size of -1 and
 * does nothing; the thread reads the schema first, and treats any negative
 * size as an error.  Errors are logged once when they start and once when
 * checkpoints work again, never per call.
 */
#ifndef VIGIL_DAEMON_WALSYNC_H
#define VIGIL_DAEMON_WALSYNC_H

#include <stdint.h>

#include <sqlite3.h>

/* How long a RESTART checkpoint waits for the write lock and for readers
 * together.  The writer's commits wait while it holds the write lock: for
 * its wait for readers and for the copy of the pages committed since the
 * PASSIVE checkpoint before it. */
#define WALSYNC_BUSY_MS 100

struct walsync;

/*
 * Opens a connection to path, reads its schema (so that it has a WAL index)
 * and starts the thread.  limit_bytes: the WAL's target size (> 0).
 * 0 or a uv error.
 */
int walsync_start(const char *path, uint64_t limit_bytes, struct walsync **out);

/* The WAL holds `frames` pages after a commit (writer thread, from the WAL
 * hook): asks for a checkpoint when that is enough.  Cheap; coalesces.
 * 1 when the WAL has grown past twice the limit all the same: the thread's
 * RESTART checkpoints keep missing the moment between two commits (a writer
 * committing back to back on a loaded machine), and the writer should call
 * walsync_restart_on() now. */
int walsync_commit(struct walsync *w, int frames);

/* The writer's own RESTART checkpoint on its connection db, from its WAL
 * hook, when walsync_commit() asked for it.  The writer holds no lock then,
 * and the thread's PASSIVE checkpoints have copied most pages: it copies
 * the rest, waits for readers at most WALSYNC_BUSY_MS and so lets the next
 * commit start the WAL over.  The connection's busy timeout is set back to
 * busy_ms_after.  An error starts a failing spell, logged once (shared
 * with the thread's checkpoints); only the thread's say when it ends. */
void walsync_restart_on(struct walsync *w, sqlite3 *db, int busy_ms_after);

/* Asks for a checkpoint soon (any thread; cheap; coalesces; nothing on
 * NULL, a PostgreSQL store's). */
void walsync_poke(struct walsync *w);

/*
 * After an erasure (any thread; cheap; coalesces; nothing on NULL): a TRUNCATE checkpoint,
 * tried again every second until the WAL is empty, so that the erased
 * bytes leave the WAL file too (the writer's connection has
 * secure_delete on, which zeroes them in the database's pages).
 */
void walsync_scrub(struct walsync *w);

/* Runs a last checkpoint, stops the thread, closes the connection. */
void walsync_stop(struct walsync **w);

/* What one sqlite3_wal_checkpoint_v2() call's code and out-parameters
 * mean (pure; exported for the tests). */
enum walsync_outcome {
	WALSYNC_DONE,   /* ran; the sizes are real */
	WALSYNC_BUSY,   /* ran as far as it could (a RESTART that could not lock) */
	WALSYNC_ERROR,  /* failed, or claimed success without a WAL index (size < 0) */
};
enum walsync_outcome walsync_judge(int rc, int log_frames, int ckpt_frames);

#endif
