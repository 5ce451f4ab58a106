/*
 * when.c - how long ago, or how soon, in words (when.h).
 */
#include <stdio.h>

#include "when.h"

#define MINUTE_MS 60000LL
#define HOUR_MS (60 * MINUTE_MS)
#define DAY_MS (24 * HOUR_MS)

void when_span(int64_t ms, char *out, size_t n)
{
	if (ms < 0)
		ms = -ms;
	if (ms < MINUTE_MS)
		snprintf(out, n, "under a minute");
	else if (ms < 120 * MINUTE_MS)
		snprintf(out, n, "%lld min", (long long)(ms / MINUTE_MS));
	else if (ms < 48 * HOUR_MS)
		snprintf(out, n, "%lld h", (long long)(ms / HOUR_MS));
	else
		snprintf(out, n, "%lld d", (long long)(ms / DAY_MS));
}

void when_deadline(int64_t then_ms, int64_t now_ms, char *out, size_t n)
{
	char span[32];
	when_span(then_ms - now_ms, span, sizeof(span));
	snprintf(out, n, "%s %s", then_ms >= now_ms ? "in" : "overdue by", span);
}

void when_ago(int64_t then_ms, int64_t now_ms, char *out, size_t n)
{
	char span[32];
	if (then_ms > now_ms) {
		when_span(then_ms - now_ms, span, sizeof(span));
		snprintf(out, n, "in %s", span);
	} else if (now_ms - then_ms < MINUTE_MS) {
		snprintf(out, n, "just now");
	} else {
		when_span(now_ms - then_ms, span, sizeof(span));
		snprintf(out, n, "%s ago", span);
	}
}
