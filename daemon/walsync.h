/*
 * walsync.h - SQLite WAL checkpoints off the writer's path.
 *
 * By default SQLite copies the write-ahead log back into the database file
 * (and fsyncs it) inside whichever commit crosses 1000 pages, stalling that
 * commit for milliseconds.  The writer turns that off and pokes this thread
 * instead, which runs PASSIVE checkpoints on a connection of its own:
 * concurrent with the writer and readers, never blocking them.
 */
#ifndef VIGIL_DAEMON_WALSYNC_H
#define VIGIL_DAEMON_WALSYNC_H

struct walsync;

/* Opens a connection to path and starts the thread.  0 or a uv error. */
int walsync_start(const char *path, struct walsync **out);

/* Asks for a checkpoint soon (any thread; cheap; coalesces). */
void walsync_poke(struct walsync *w);

/* Runs a last checkpoint, stops the thread, closes the connection. */
void walsync_stop(struct walsync **w);

#endif
