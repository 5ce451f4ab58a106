#include "daemon/notify.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef VIGIL_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "daemon/log.h"
#include "daemon/relay.h"

#define STATUS_PERIOD_MS 10000

#ifdef VIGIL_HAVE_SYSTEMD
static void send_state(const char *state)
{
	int rc = sd_notify(0, state);
	if (rc < 0)
		log_debug("sd_notify: %s", strerror(-rc));
}
#else
static void send_state(const char *state)
{
	(void)state;
}
#endif

static void status_line(struct relay *r, const char *head)
{
	struct writer_stats st;
	writer_get_stats(r->writer, &st);
	char m[256];
	snprintf(m, sizeof(m), "%sSTATUS=serving: %" PRIu64 " entries, %u connections (%u "
		 "authenticated), %" PRIu64 " reloads", head, st.entries, r->n_conns,
		 r->n_authenticated, r->reloads.ok);
	send_state(m);
}

static void on_watchdog(uv_timer_t *t)
{
	(void)t;
	send_state("WATCHDOG=1");
}

static void on_status(uv_timer_t *t)
{
	status_line(t->data, "");
}

void notify_ready(struct relay *r)
{
	uv_timer_init(r->loop, &r->notify_watchdog);
	uv_timer_init(r->loop, &r->notify_status);
	r->notify_watchdog.data = r->notify_status.data = r;
	r->notify_timers = 1;
#ifdef VIGIL_HAVE_SYSTEMD
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		uint64_t ms = usec / 2000 ? usec / 2000 : 1;
		uv_timer_start(&r->notify_watchdog, on_watchdog, ms, ms);
		log_info("systemd watchdog: a keep-alive every %" PRIu64 " ms", ms);
	}
	if (getenv("NOTIFY_SOCKET"))
		uv_timer_start(&r->notify_status, on_status, STATUS_PERIOD_MS, STATUS_PERIOD_MS);
#endif
	/* The timers are no reason for the loop to run on. */
	uv_unref((uv_handle_t *)&r->notify_watchdog);
	uv_unref((uv_handle_t *)&r->notify_status);
	status_line(r, "READY=1\n");
}

void notify_reloading(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	char m[96];
	snprintf(m, sizeof(m), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
		 (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
	send_state(m);
}

void notify_reloaded(struct relay *r)
{
	status_line(r, "READY=1\n");
}

void notify_stopping(struct relay *r)
{
	send_state("STOPPING=1");
	if (r->notify_timers) {
		uv_timer_stop(&r->notify_status);
		/* The watchdog goes on while the relay drains: draining can take
		 * its deadline, and systemd must not kill it meanwhile. */
	}
}

void notify_close(struct relay *r)
{
	if (!r->notify_timers)
		return;
	uv_close((uv_handle_t *)&r->notify_watchdog, NULL);
	uv_close((uv_handle_t *)&r->notify_status, NULL);
	r->notify_timers = 0;
}
