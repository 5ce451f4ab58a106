#include "daemon/health.h"

#include <sqlite3.h>

#include "daemon/db.h"

int health_is_fatal(int rc)
{
	/* Another relay writes this log now: this one never may again. */
	if (rc == DB_FENCED || rc == DB_STALE)
		return 1;
	switch (rc & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_IOERR:
	case SQLITE_NOTADB:
	case SQLITE_CANTOPEN:
		return 1;
	default:
		return 0;
	}
}

int64_t health_backoff_ms(unsigned n)
{
	if (n == 0)
		return 0;
	int64_t ms = HEALTH_BACKOFF_MIN_MS;
	for (unsigned i = 1; i < n && ms < HEALTH_BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < HEALTH_BACKOFF_MAX_MS ? ms : HEALTH_BACKOFF_MAX_MS;
}

int health_failed(struct health *h, int rc, int64_t now)
{
	int primary = rc & 0xff;
	int changed = h->failing != primary && !h->fatal;
	h->total++;
	if (h->fatal)
		return 0;
	if (health_is_fatal(rc))
		h->fatal = 1;
	h->failing = primary;
	if (h->failures < UINT32_MAX)
		h->failures++;
	h->retry_at_ms = now + health_backoff_ms(h->failures);
	return changed;
}

unsigned health_ok(struct health *h)
{
	unsigned ended = h->failures;
	if (h->fatal)
		return 0; /* nothing commits after a fatal failure */
	h->failing = 0;
	h->failures = 0;
	h->retry_at_ms = 0;
	return ended;
}

int health_may_try(const struct health *h, int64_t now)
{
	return !h->fatal && now >= h->retry_at_ms;
}
