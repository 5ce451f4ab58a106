/*
 * prom.h - Prometheus primitives, pure (no I/O, no clock, no locks):
 * fixed-bucket histograms and a writer of the text exposition format,
 * version 0.0.4.
 *
 * Histograms: a struct prom_hist holds counts only; its buckets (a
 * struct prom_buckets) are constant tables below, passed to both
 * prom_observe() and prom_histogram().  Values are integers in the
 * buckets' own unit (microseconds, jobs), so that observing is an integer
 * comparison; `divisor` turns that unit into the metric's base unit when
 * the page is written (1000000: microseconds to seconds).  Whoever owns a
 * struct prom_hist guards it as it guards its other counters (the loop
 * thread's own, the writer's mutex).
 *
 * Text: a struct prom_text is a growing buffer; each family is written as
 * its HELP and TYPE lines followed by its samples.  Label values are
 * escaped (backslash, double quote, newline).  Out of memory is sticky:
 * the calls go on doing nothing and prom_text_take() returns NULL.
 */
#ifndef VIGIL_DAEMON_PROM_H
#define VIGIL_DAEMON_PROM_H

#include <stddef.h>
#include <stdint.h>

#define PROM_MAX_BUCKETS 16

struct prom_buckets {
	size_t n;                       /* finite upper bounds; +Inf follows */
	uint64_t le[PROM_MAX_BUCKETS];  /* ascending, in the unit of the observations */
	uint64_t divisor;               /* units per base unit (1000000 for µs) */
};

struct prom_hist {
	uint64_t count;
	uint64_t sum;                        /* in the buckets' unit */
	uint64_t bucket[PROM_MAX_BUCKETS + 1]; /* not cumulative; the last is +Inf */
};

/* The buckets of vigild's histograms (daemon/README.md and README.md list
 * them): the event loop's lag and the commit latency in microseconds,
 * batch sizes in jobs. */
extern const struct prom_buckets prom_lag_buckets;
extern const struct prom_buckets prom_commit_buckets;
extern const struct prom_buckets prom_batch_buckets;

void prom_observe(struct prom_hist *h, const struct prom_buckets *b, uint64_t v);

/*
 * The largest observation of the last PROM_RECENT_SECONDS seconds, for a
 * gauge such as the event loop's longest recent lag: a histogram says how
 * often, this says how bad, and unlike a maximum since the start it falls
 * again.  One slot per second of a ring; the caller names the second of
 * each observation and of each reading (any monotonic clock in whole
 * seconds), so the figure is a pure function of them.  Zeroed is empty.
 */
#define PROM_RECENT_SECONDS 10

struct prom_recent_max {
	uint64_t sec[PROM_RECENT_SECONDS];  /* second of the slot's maximum, plus 1; 0: unused */
	uint64_t max[PROM_RECENT_SECONDS];
};

void prom_recent_note(struct prom_recent_max *m, uint64_t sec, uint64_t v);
/* The largest value noted in seconds now - PROM_RECENT_SECONDS + 1 .. now;
 * 0 when there was none. */
uint64_t prom_recent_get(const struct prom_recent_max *m, uint64_t now_sec);

struct prom_text {
	char *buf;
	size_t len, cap;
	int oom;
};

enum prom_type { PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM };

void prom_text_init(struct prom_text *t);
/* The page, NUL-terminated, its length in *len; the caller frees it.
 * NULL when memory ran out (nothing is left to free). */
char *prom_text_take(struct prom_text *t, size_t *len);
void prom_text_free(struct prom_text *t);

/* The HELP and TYPE lines of a family. */
void prom_family(struct prom_text *t, const char *name, enum prom_type type, const char *help);
/* One sample: name{label="value"} v, or name v when label is NULL.
 * Integral values are written as integers, others with up to 15
 * significant digits (so 0.1 is "0.1"). */
void prom_sample(struct prom_text *t, const char *name, const char *label, const char *value,
		 double v);
void prom_sample_u64(struct prom_text *t, const char *name, const char *label,
		     const char *value, uint64_t v);
/* A whole histogram family: HELP, TYPE, the cumulative _bucket lines with
 * their le labels, _sum and _count (le and _sum in the base unit). */
void prom_histogram(struct prom_text *t, const char *name, const char *help,
		    const struct prom_hist *h, const struct prom_buckets *b);

#endif
