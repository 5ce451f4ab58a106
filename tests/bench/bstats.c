#include "tests/bench/bstats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int bstats_add(struct bstats *s, int64_t ns)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 4096;
		int64_t *p = realloc(s->ns, cap * sizeof(*p));
		if (!p)
			return -1;
		s->ns = p;
		s->cap = cap;
	}
	s->ns[s->n++] = ns;
	s->sorted = 0;
	return 0;
}

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

double bstats_ms(struct bstats *s, double p)
{
	if (s->n == 0)
		return 0;
	if (!s->sorted) {
		qsort(s->ns, s->n, sizeof(*s->ns), cmp);
		s->sorted = 1;
	}
	size_t rank = (size_t)ceil(p / 100.0 * (double)s->n);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return (double)s->ns[rank - 1] / 1e6;
}

double bstats_mean_ms(const struct bstats *s)
{
	double sum = 0;
	for (size_t i = 0; i < s->n; i++)
		sum += (double)s->ns[i];
	return s->n ? sum / (double)s->n / 1e6 : 0;
}

void bstats_free(struct bstats *s)
{
	free(s->ns);
	memset(s, 0, sizeof(*s));
}
