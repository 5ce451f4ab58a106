/*
 * when.h - how long ago, or how soon, for people reading the status (pure:
 * no clock of its own, so it is tested with fixed times).
 */
#ifndef VIGIL_CLI_WHEN_H
#define VIGIL_CLI_WHEN_H

#include <stddef.h>
#include <stdint.h>

/* A span of ms as words: "under a minute", "N min" (up to 119), "N h" (up
 * to 47), else "N d"; rounded down. */
void when_span(int64_t ms, char *out, size_t n);
/* A deadline at then_ms seen at now_ms: "in 14 h", or "overdue by 3 h". */
void when_deadline(int64_t then_ms, int64_t now_ms, char *out, size_t n);
/* A past event at then_ms seen at now_ms: "3 d ago" ("just now" within a
 * minute; "in N" for a time ahead, which a skewed clock can give). */
void when_ago(int64_t then_ms, int64_t now_ms, char *out, size_t n);

#endif
