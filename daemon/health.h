/*
 * health.h - what the writer does when storage fails, as a pure function
 * of (state, result of a write, now): no SQLite connection (only its result
 * codes), no clock, no logging of its own.  The writer owns one struct health and asks it
 * before and after every transaction.
 *
 * Two kinds of failure (by SQLite's primary result code):
 * - passing: SQLITE_FULL, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_NOMEM and the
 *   rest.  The writer keeps trying, but not sooner than an exponential
 *   backoff allows (100 ms doubling to 5 s) for the work it starts itself
 *   (heartbeats, the watchdog); submissions are tried as they come and
 *   answered UNAVAILABLE while it fails.  Reads keep working.
 * - fatal: SQLITE_CORRUPT, SQLITE_IOERR, SQLITE_NOTADB, SQLITE_CANTOPEN.
 *   The database can no longer be trusted with writes: every later write
 *   is refused without touching it, and the relay exits non-zero when it
 *   is stopped, so that a supervisor notices.
 * Each change of state is reported once (health_failed and health_ok say
 * when), never once per retry.
 */
#ifndef VIGIL_DAEMON_HEALTH_H
#define VIGIL_DAEMON_HEALTH_H

#include <stdint.h>

#define HEALTH_BACKOFF_MIN_MS 100
#define HEALTH_BACKOFF_MAX_MS 5000

struct health {
	int failing;          /* primary SQLite code of the current failure; 0: writes work */
	int fatal;            /* a fatal failure: no more writes this run */
	unsigned failures;    /* consecutive failed transactions */
	uint64_t total;       /* failed transactions this run (a metric) */
	int64_t retry_at_ms;  /* no self-started write before this */
};

/* 1 for the primary result codes after which no write is tried again. */
int health_is_fatal(int sqlite_rc);

/* The wait before the next self-started attempt after n consecutive failures. */
int64_t health_backoff_ms(unsigned n);

/*
 * A transaction failed with sqlite_rc at now.  Returns 1 when this changes
 * the state (the first failure, a different kind of failure, or the fatal
 * one): the caller reports it once.
 */
int health_failed(struct health *h, int sqlite_rc, int64_t now);

/* A transaction committed.  Returns the number of consecutive failures it
 * ends (0: writes were working), for the caller to report the recovery. */
unsigned health_ok(struct health *h);

/* May a write the writer starts itself (heartbeat, watchdog) run at now? */
int health_may_try(const struct health *h, int64_t now);

#endif
