#include "tests/bench/bproc.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* utime + stime of one thread in seconds, or -1. */
static double thread_cpu(long pid, long tid)
{
	char path[96], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/stat", pid, tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The name (field 2) may hold spaces; count fields after its ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long long utime = 0, stime = 0;
	int field = 2;
	char *save = NULL;
	for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		field++;
		if (field == 14)
			utime = strtoull(tok, NULL, 10);
		else if (field == 15) {
			stime = strtoull(tok, NULL, 10);
			break;
		}
	}
	long hz = sysconf(_SC_CLK_TCK);
	return (double)(utime + stime) / (double)(hz > 0 ? hz : 100);
}

int bproc_snap(long pid, struct bproc_snap *s)
{
	memset(s, 0, sizeof(*s));
	s->pid = pid;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d)) && s->n < BPROC_MAX_THREADS) {
		char *end;
		long tid = strtol(e->d_name, &end, 10);
		if (*end || tid <= 0)
			continue;
		double c = thread_cpu(pid, tid);
		if (c < 0)
			continue;
		s->tid[s->n] = tid;
		s->cpu_s[s->n++] = c;
	}
	closedir(d);
	return 0;
}

static int by_tid(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

void bproc_report(FILE *out, const struct bproc_snap *a, const struct bproc_snap *b,
		  double wall_s)
{
	if (b->n == 0 || wall_s <= 0)
		return;
	long tids[BPROC_MAX_THREADS];
	memcpy(tids, b->tid, b->n * sizeof(long));
	qsort(tids, b->n, sizeof(long), by_tid);
	double total = 0;
	for (size_t i = 0; i < b->n; i++) {
		double before = 0, after = 0;
		for (size_t k = 0; k < a->n; k++)
			if (a->tid[k] == tids[i])
				before = a->cpu_s[k];
		for (size_t k = 0; k < b->n; k++)
			if (b->tid[k] == tids[i])
				after = b->cpu_s[k];
		double s = after - before;
		total += s;
		if (s / wall_s >= 0.01)
			fprintf(out, "# relay thread %ld%s: %.2f s CPU, %.0f %% of one core\n",
				tids[i], tids[i] == b->pid ? " (main: event loop)" : "", s,
				100 * s / wall_s);
	}
	fprintf(out, "# relay total: %.2f s CPU in %.2f s, %.2f cores\n", total, wall_s,
		total / wall_s);
}
