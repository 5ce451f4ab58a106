/*
 * bproc.h - CPU time of another process's threads, from /proc, so a run
 * can say which of the relay's threads the time went to.
 *
 * A snapshot is taken before and after the timed phase; bproc_report()
 * prints one comment line per thread that used at least 1 % of a core,
 * then the total.  The relay's main thread (tid = pid) runs the event
 * loop; libuv does not name its other threads (the SQLite writer and the
 * thread pool), so they are listed by thread id.
 */
#ifndef VIGIL_TESTS_BENCH_BPROC_H
#define VIGIL_TESTS_BENCH_BPROC_H

#include <stdio.h>

#define BPROC_MAX_THREADS 256

struct bproc_snap {
	long pid;
	size_t n;
	long tid[BPROC_MAX_THREADS];
	double cpu_s[BPROC_MAX_THREADS];  /* user + system */
};

/* 0, or -1 when the process cannot be read (it is then all zero). */
int bproc_snap(long pid, struct bproc_snap *s);
/* "# relay thread ..." lines for the interval [a, b] of wall seconds. */
void bproc_report(FILE *out, const struct bproc_snap *a, const struct bproc_snap *b,
		  double wall_s);

#endif
