#include "daemon/walsync.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <uv.h>

#include "daemon/log.h"

struct walsync {
	sqlite3 *db;
	uv_thread_t thread;
	uv_mutex_t mu;
	uv_cond_t cond;
	int wanted;
	int stopping;
};

static void checkpoint(struct walsync *w)
{
	int log_frames = 0, done = 0;
	int rc = sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &done);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		log_warn("WAL checkpoint: %s", sqlite3_errmsg(w->db));
}

static void walsync_main(void *arg)
{
	struct walsync *w = arg;
	uv_mutex_lock(&w->mu);
	for (;;) {
		while (!w->wanted && !w->stopping)
			uv_cond_wait(&w->cond, &w->mu);
		int stop = w->stopping;
		w->wanted = 0;
		uv_mutex_unlock(&w->mu);
		checkpoint(w);
		uv_mutex_lock(&w->mu);
		if (stop)
			break;
	}
	uv_mutex_unlock(&w->mu);
}

int walsync_start(const char *path, struct walsync **out)
{
	struct walsync *w = calloc(1, sizeof(*w));
	if (!w)
		return UV_ENOMEM;
	int rc = UV_EIO;
	if (sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
		    SQLITE_OK ||
	    sqlite3_exec(w->db, "PRAGMA busy_timeout=1000", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
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
	free(w);
	return rc;
}

void walsync_poke(struct walsync *w)
{
	uv_mutex_lock(&w->mu);
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
	free(w);
	*wp = NULL;
}
