/*
 * bstats.h - a sample of latencies and its percentiles.
 *
 * Every sample is kept (a 10 s run at 20,000/s is 200,000 of them), sorted
 * once, and read by nearest rank: the p-th percentile is the smallest
 * sample that at least p % of the samples are at or below.
 */
#ifndef VIGIL_TESTS_BENCH_BSTATS_H
#define VIGIL_TESTS_BENCH_BSTATS_H

#include <stddef.h>
#include <stdint.h>

struct bstats {
	int64_t *ns;
	size_t n, cap;
	int sorted;
};

/* 0, or -1 when out of memory. */
int bstats_add(struct bstats *s, int64_t ns);
/* Percentile p (0 < p <= 100) in milliseconds; 0 for an empty sample. */
double bstats_ms(struct bstats *s, double p);
double bstats_mean_ms(const struct bstats *s);
void bstats_free(struct bstats *s);

#endif
