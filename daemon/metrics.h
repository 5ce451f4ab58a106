/*
 * metrics.h - the Prometheus endpoint: GET or HEAD /metrics on
 * [metrics] address and port, in the text exposition format 0.0.4.
 *
 * The HTTP server is libmicrohttpd with its own polling thread (the
 * metrics thread); nothing of it runs on the event loop.  What the page
 * shows crosses threads in three ways, and no other:
 *
 *   - What the loop owns (struct relay_stats, struct reload_stats, the
 *     connections by state, the writer's queue, the bytes in flight, the
 *     member directory) is copied by a loop timer, once a second, into a
 *     snapshot under the metrics mutex; the metrics thread copies the
 *     snapshot out under the same mutex and formats the copy.  So the
 *     page is at most a second behind the loop, and a loop that stopped
 *     shows as vigil_metrics_snapshot_age_seconds growing.
 *   - The writer's counters come from writer_get_stats() (the writer's
 *     own mutex), read at the scrape.
 *   - The metrics thread itself stat()s the database and its WAL, and
 *     counts the deliveries pending per organisation on a read-only SQLite
 *     connection of its own, at most once every METRICS_PENDING_MS (a
 *     scrape in between shows the last count).
 *
 * Lifetime: metrics_start() on the loop thread after writer_start();
 * metrics_stop() on the loop thread after uv_run() returned and before
 * relay_close(), which runs the loop once more to close the timer.  The
 * relay and its writer must outlive the metrics.
 */
#ifndef VIGIL_DAEMON_METRICS_H
#define VIGIL_DAEMON_METRICS_H

#include <stddef.h>

struct relay;
struct metrics;

/* How often the loop copies its figures for the page. */
#define METRICS_SNAPSHOT_MS 1000
/* How often, at most, the pending deliveries are counted. */
#define METRICS_PENDING_MS 5000

/*
 * Starts serving when r's configuration sets [metrics] port; *out is NULL
 * (and 0 returned) when it does not.  -1 with "FILE:LINE: [metrics] port:
 * ..." in err when the address cannot be served (e.g. the port is taken).
 */
int metrics_start(struct metrics **out, struct relay *r, char *err, size_t err_len);

/* Stops the HTTP thread (waiting for a scrape in progress) and starts
 * closing the timer; safe on NULL. */
void metrics_stop(struct metrics **m);

#endif
