#include "daemon/walsync.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>
#include <uv.h>

#include "daemon/log.h"

/* The WAL pages after which a PASSIVE checkpoint is asked for (SQLite's own
 * default threshold), unless the limit asks for fewer. */
#define WALSYNC_PASSIVE_FRAMES 1000
/* A WAL frame is a page plus this header. */
#define WAL_FRAME_HEADER 24

struct walsync {
	sqlite3 *db;
	char *path;
	int passive_frames;  /* a commit leaving this many pages pokes the thread */
	int limit_frames;    /* more than this after a PASSIVE checkpoint: RESTART */
	int hard_frames;     /* a commit leaving more: the writer restarts it itself */
	atomic_int failing;  /* the last checkpoint, the thread's or the writer's,
			      * failed (and that was logged) */
	uint64_t busy_until; /* thread only: when the current call's busy wait ends */
	uv_thread_t thread;
	uv_mutex_t mu;
	uv_cond_t cond;
	int wanted;
	int scrub;           /* a TRUNCATE checkpoint is owed (walsync_scrub) */
	int stopping;
};

#define WALSYNC_SCRUB_RETRY_MS 1000

enum walsync_outcome walsync_judge(int rc, int log_frames, int ckpt_frames)
{
	if (rc == SQLITE_BUSY)
		return WALSYNC_BUSY;
	if (rc != SQLITE_OK)
		return WALSYNC_ERROR;
	/* SQLite 3.40 answers OK with -1 when the connection has no WAL index:
	 * nothing was copied, and nothing ever will be. */
	if (log_frames < 0 || ckpt_frames < 0 || ckpt_frames > log_frames)
		return WALSYNC_ERROR;
	return WALSYNC_DONE;
}

/* A read transaction gives the connection its WAL index (and shows that
 * the file is readable at all). */
static int read_schema(sqlite3 *db)
{
	return sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The busy handler: retries every millisecond until WALSYNC_BUSY_MS have
 * passed since the call began.  SQLite's own (sqlite3_busy_timeout) sleeps
 * 1, 2, 5, 10 ... 100 ms between tries and so rarely finds the writer
 * between two transactions when it commits back to back. */
static int on_busy(void *arg, int count)
{
	(void)count;
	struct walsync *w = arg;
	if (mono_ms() >= w->busy_until)
		return 0;
	struct timespec ts = { 0, 1000000 };
	nanosleep(&ts, NULL);
	return 1;
}

static int call(struct walsync *w, int mode, int *log_frames, int *ckpt_frames)
{
	*log_frames = *ckpt_frames = -1;
	w->busy_until = mono_ms() + WALSYNC_BUSY_MS;
	return sqlite3_wal_checkpoint_v2(w->db, NULL, mode, log_frames, ckpt_frames);
}

/* A checkpoint failed: logged when that starts a failing spell (of the
 * thread's and the writer's checkpoints together), not on every call. */
static void spell_failed(struct walsync *w, const char *name, const char *why, int log_frames,
			 int ckpt_frames)
{
	if (atomic_exchange(&w->failing, 1))
		return;
	log_err("%s: %s WAL checkpoint failed: %s (log %d, checkpointed %d pages); "
		"logged once until checkpoints work again",
		w->path, name, why, log_frames, ckpt_frames);
}

/* A checkpoint ran: the end of a failing spell is logged once. */
static void spell_ok(struct walsync *w, int log_frames, int ckpt_frames)
{
	if (!atomic_exchange(&w->failing, 0))
		return;
	log_notice("%s: WAL checkpoints work again (log %d, checkpointed %d pages)", w->path,
		   log_frames, ckpt_frames);
}

/* One checkpoint in mode on the thread's connection. */
static enum walsync_outcome run(struct walsync *w, int mode, const char *name, int *log_frames,
				int *ckpt_frames)
{
	int rc = call(w, mode, log_frames, ckpt_frames);
	if (rc == SQLITE_OK && *log_frames < 0 && read_schema(w->db) == SQLITE_OK)
		rc = call(w, mode, log_frames, ckpt_frames);  /* now with a WAL index */
	enum walsync_outcome o = walsync_judge(rc, *log_frames, *ckpt_frames);
	if (o == WALSYNC_ERROR)
		spell_failed(w, name,
			     rc != SQLITE_OK ? sqlite3_errmsg(w->db)
					     : "it reported a negative WAL size and copied nothing",
			     *log_frames, *ckpt_frames);
	return o;
}

static void checkpoint(struct walsync *w)
{
	int log_frames, ckpt_frames;
	enum walsync_outcome o = run(w, SQLITE_CHECKPOINT_PASSIVE, "PASSIVE", &log_frames,
				     &ckpt_frames);
	/* The writer appends while a PASSIVE checkpoint copies, so under load
	 * the WAL never starts over by itself; RESTART makes it.  BUSY (the
	 * write lock or a reader not had in time) is tried again at the next
	 * commit's poke. */
	if (o == WALSYNC_DONE && log_frames > w->limit_frames &&
	    run(w, SQLITE_CHECKPOINT_RESTART, "RESTART", &log_frames, &ckpt_frames) == WALSYNC_ERROR)
		o = WALSYNC_ERROR;
	if (o == WALSYNC_DONE)
		spell_ok(w, log_frames, ckpt_frames);
}

/* After an erasure: every page is copied into the database file and the
 * WAL truncated to nothing, so that no older frame still holds what was
 * erased.  1 when done; 0 when a reader or the writer was in the way. */
static int scrub(struct walsync *w)
{
	int log_frames, ckpt_frames;
	enum walsync_outcome o = run(w, SQLITE_CHECKPOINT_TRUNCATE, "TRUNCATE", &log_frames,
				     &ckpt_frames);
	return o == WALSYNC_DONE && log_frames == 0;
}

static void walsync_main(void *arg)
{
	struct walsync *w = arg;
	uv_mutex_lock(&w->mu);
	for (;;) {
		while (!w->wanted && !w->stopping) {
			if (!w->scrub) {
				uv_cond_wait(&w->cond, &w->mu);
				continue;
			}
			/* A scrub that could not finish is tried again soon. */
			if (uv_cond_timedwait(&w->cond, &w->mu,
					      WALSYNC_SCRUB_RETRY_MS * 1000000ull) != 0)
				break;
		}
		int stop = w->stopping, want_scrub = w->scrub;
		w->wanted = 0;
		uv_mutex_unlock(&w->mu);
		int scrubbed = 0;
		if (want_scrub)
			scrubbed = scrub(w);
		else
			checkpoint(w);
		uv_mutex_lock(&w->mu);
		if (scrubbed)
			w->scrub = 0;
		if (stop)
			break;
	}
	uv_mutex_unlock(&w->mu);
}

int walsync_start(const char *path, uint64_t limit_bytes, struct walsync **out)
{
	struct walsync *w = calloc(1, sizeof(*w));
	if (!w)
		return UV_ENOMEM;
	int rc = UV_ENOMEM;
	if (!(w->path = strdup(path)))
		goto fail;
	rc = UV_EIO;
	if (sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
		    SQLITE_OK ||
	    read_schema(w->db) != SQLITE_OK) {
		log_err("%s: WAL checkpoints: %s", path, sqlite3_errmsg(w->db));
		goto fail;
	}
	/* Only the RESTART checkpoint waits (PASSIVE never calls the busy
	 * handler), and the writer waits for it while it holds the write lock. */
	sqlite3_busy_handler(w->db, on_busy, w);
	sqlite3_stmt *st;
	int page = 4096;
	if (sqlite3_prepare_v2(w->db, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0)
			page = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	uint64_t frames = limit_bytes / (uint64_t)(page + WAL_FRAME_HEADER);
	w->limit_frames = frames < 1 ? 1 : frames > 1u << 30 ? 1 << 30 : (int)frames;
	w->passive_frames = w->limit_frames / 2 < WALSYNC_PASSIVE_FRAMES ? w->limit_frames / 2
									  : WALSYNC_PASSIVE_FRAMES;
	if (w->passive_frames < 1)
		w->passive_frames = 1;
	w->hard_frames = w->limit_frames > (1 << 29) ? 1 << 30 : 2 * w->limit_frames;
	if ((rc = uv_mutex_init(&w->mu)) != 0)
		goto fail;
	if ((rc = uv_cond_init(&w->cond)) != 0)
		goto fail_mu;
	if ((rc = uv_thread_create(&w->thread, walsync_main, w)) != 0)
		goto fail_cond;
	*out = w;
	return 0;
fail_cond:
	uv_cond_destroy(&w->cond);
fail_mu:
	uv_mutex_destroy(&w->mu);
fail:
	sqlite3_close(w->db);
	free(w->path);
	free(w);
	return rc;
}

int walsync_commit(struct walsync *w, int frames)
{
	if (frames >= w->passive_frames)
		walsync_poke(w);
	return frames > w->hard_frames;
}

void walsync_restart_on(struct walsync *w, sqlite3 *db, int busy_ms_after)
{
	/* The thread's checkpoint holds SQLite's checkpointer lock while it
	 * runs, and a checkpoint that finds it taken fails at once (no busy
	 * handler is called for it): try again every millisecond.  While the
	 * writer waits here it holds no lock, so the thread's own RESTART gets
	 * the write lock and usually does the work. */
	int log_frames, ckpt_frames, rc;
	uint64_t until = mono_ms() + 2 * WALSYNC_BUSY_MS;
	sqlite3_busy_timeout(db, WALSYNC_BUSY_MS / 4);
	for (;;) {
		log_frames = ckpt_frames = -1;
		rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_RESTART, &log_frames,
					       &ckpt_frames);
		if (rc != SQLITE_BUSY || mono_ms() >= until)
			break;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	sqlite3_busy_timeout(db, busy_ms_after);
	/* BUSY after all that (a reader holding an old snapshot) is tried
	 * again at the next commit.  Only the thread's checkpoints, which run
	 * after every commit, say that checkpoints work again: one that
	 * happens to succeed here while the thread's keep failing (a full
	 * disk) must not end the spell. */
	if (walsync_judge(rc, log_frames, ckpt_frames) == WALSYNC_ERROR)
		spell_failed(w, "the writer's RESTART",
			     rc != SQLITE_OK ? sqlite3_errmsg(db)
					     : "it reported a negative WAL size and copied nothing",
			     log_frames, ckpt_frames);
}

void walsync_poke(struct walsync *w)
{
	if (!w)
		return;
	uv_mutex_lock(&w->mu);
	w->wanted = 1;
	uv_cond_signal(&w->cond);
	uv_mutex_unlock(&w->mu);
}

void walsync_scrub(struct walsync *w)
{
	if (!w)
		return;
	uv_mutex_lock(&w->mu);
	w->scrub = 1;
	w->wanted = 1;
	uv_cond_signal(&w->cond);
	uv_mutex_unlock(&w->mu);
}

void walsync_stop(struct walsync **wp)
{
	struct walsync *w = *wp;
	if (!w)
		return;
	uv_mutex_lock(&w->mu);
	w->stopping = 1;
	uv_cond_signal(&w->cond);
	uv_mutex_unlock(&w->mu);
	uv_thread_join(&w->thread);
	uv_cond_destroy(&w->cond);
	uv_mutex_destroy(&w->mu);
	sqlite3_close(w->db);
	free(w->path);
	free(w);
	*wp = NULL;
}
