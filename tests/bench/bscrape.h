/*
 * bscrape.h - one scrape of the relay's Prometheus page (GET /metrics over
 * plain HTTP/1.0 on loopback, daemon/metrics.c) and the value of a sample.
 *
 * A scrape blocks for at most timeout_ms; the page is the caller's
 * (free()).  The relay serves it from a thread of its own, never from its
 * event loop, so scraping does not disturb what it measures.
 */
#ifndef VIGIL_TESTS_BENCH_BSCRAPE_H
#define VIGIL_TESTS_BENCH_BSCRAPE_H

#include <stddef.h>

/* The body of GET /metrics from 127.0.0.1:port, NUL-terminated; NULL on
 * failure, with a reason in err. */
char *bscrape_get(int port, int timeout_ms, char *err, size_t err_len);
/* The value of the sample whose name (with its labels, exactly as on the
 * page) is `sample`; NAN when the page has none. */
double bscrape_value(const char *page, const char *sample);

#endif
