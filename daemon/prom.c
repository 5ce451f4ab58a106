#include "daemon/prom.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How late the loop runs its 50 ms lag probe (relay.c): under a
 * millisecond is the timer's own resolution, 5 ms is worth a look, and
 * anything near a second is a stall. */
const struct prom_buckets prom_lag_buckets = {
	11, { 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000 },
	1000000,
};

/* One COMMIT (an fsync of the WAL with synchronous=FULL): from an SSD's
 * tenth of a millisecond to a disk in trouble taking seconds. */
const struct prom_buckets prom_commit_buckets = {
	14, { 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	      1000000, 2500000 },
	1000000,
};

/* Jobs in one batch: powers of two up to past the default batch_max (256). */
const struct prom_buckets prom_batch_buckets = {
	11, { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 },
	1,
};

void prom_observe(struct prom_hist *h, const struct prom_buckets *b, uint64_t v)
{
	size_t i = 0;
	while (i < b->n && v > b->le[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum += v;
}

void prom_recent_note(struct prom_recent_max *m, uint64_t sec, uint64_t v)
{
	size_t i = (size_t)(sec % PROM_RECENT_SECONDS);
	if (m->sec[i] != sec + 1) {
		/* A slot last used a whole ring ago (or never) starts again. */
		m->sec[i] = sec + 1;
		m->max[i] = v;
	} else if (v > m->max[i]) {
		m->max[i] = v;
	}
}

uint64_t prom_recent_get(const struct prom_recent_max *m, uint64_t now_sec)
{
	uint64_t best = 0;
	for (size_t i = 0; i < PROM_RECENT_SECONDS; i++) {
		if (!m->sec[i])
			continue;
		uint64_t sec = m->sec[i] - 1;
		if (sec <= now_sec && now_sec - sec < PROM_RECENT_SECONDS && m->max[i] > best)
			best = m->max[i];
	}
	return best;
}

void prom_text_init(struct prom_text *t)
{
	memset(t, 0, sizeof(*t));
}

void prom_text_free(struct prom_text *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

char *prom_text_take(struct prom_text *t, size_t *len)
{
	char *s = t->oom ? NULL : t->buf;
	if (t->oom)
		free(t->buf);
	else if (!s && (s = calloc(1, 1)) == NULL)
		return NULL;
	*len = s ? t->len : 0;
	memset(t, 0, sizeof(*t));
	return s;
}

static int reserve(struct prom_text *t, size_t more)
{
	if (t->oom)
		return -1;
	if (t->len + more + 1 <= t->cap)
		return 0;
	size_t cap = t->cap ? t->cap : 4096;
	while (cap < t->len + more + 1)
		cap *= 2;
	char *b = realloc(t->buf, cap);
	if (!b) {
		t->oom = 1;
		return -1;
	}
	t->buf = b;
	t->cap = cap;
	return 0;
}

__attribute__((format(printf, 2, 3)))
static void put(struct prom_text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || reserve(t, (size_t)n) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* HELP text escapes backslash and newline; label values also the double
 * quote. */
static void put_escaped(struct prom_text *t, const char *s, int quote)
{
	const char *special = quote ? "\\\n\"" : "\\\n";
	while (*s) {
		size_t run = strcspn(s, special);
		put(t, "%.*s", (int)run, s);
		s += run;
		if (!*s)
			break;
		put(t, "%s", *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : "\\\"");
		s++;
	}
}

static void put_number(struct prom_text *t, double v)
{
	if (isnan(v))
		put(t, "NaN");
	else if (isinf(v))
		put(t, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		put(t, "%.0f", v);
	else
		put(t, "%.15g", v);
}

void prom_family(struct prom_text *t, const char *name, enum prom_type type, const char *help)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	put(t, "# HELP %s ", name);
	put_escaped(t, help, 0);
	put(t, "\n# TYPE %s %s\n", name, types[type]);
}

static void put_name(struct prom_text *t, const char *name, const char *label, const char *value)
{
	put(t, "%s", name);
	if (label) {
		put(t, "{%s=\"", label);
		put_escaped(t, value, 1);
		put(t, "\"}");
	}
	put(t, " ");
}

void prom_sample(struct prom_text *t, const char *name, const char *label, const char *value,
		 double v)
{
	put_name(t, name, label, value);
	put_number(t, v);
	put(t, "\n");
}

void prom_sample_u64(struct prom_text *t, const char *name, const char *label,
		     const char *value, uint64_t v)
{
	put_name(t, name, label, value);
	put(t, "%llu\n", (unsigned long long)v);
}

void prom_histogram(struct prom_text *t, const char *name, const char *help,
		    const struct prom_hist *h, const struct prom_buckets *b)
{
	prom_family(t, name, PROM_HISTOGRAM, help);
	uint64_t cum = 0;
	for (size_t i = 0; i <= b->n; i++) {
		cum += h->bucket[i];
		put(t, "%s_bucket{le=\"", name);
		if (i < b->n)
			put_number(t, (double)b->le[i] / (double)b->divisor);
		else
			put(t, "+Inf");
		put(t, "\"} %llu\n", (unsigned long long)cum);
	}
	put(t, "%s_sum ", name);
	put_number(t, (double)h->sum / (double)b->divisor);
	put(t, "\n%s_count %llu\n", name, (unsigned long long)h->count);
}
