/*
 * notify.h - telling systemd how the relay is (sd_notify, Type=notify).
 *
 *   READY=1 and a STATUS= line once it listens and the store is open;
 *   RELOADING=1 with MONOTONIC_USEC (systemd 253 and later wait for the
 *   READY=1 that follows; 252 ignores it) when a reload starts, READY=1
 *   when it ends, whether it applied or failed;
 *   STOPPING=1 when the relay starts draining;
 *   WATCHDOG=1 from a timer on the event loop, at half of WatchdogSec=
 *   (WATCHDOG_USEC), so a stalled loop stops them and systemd restarts it;
 *   STATUS= with the log's size and the connections, every 10 seconds.
 *
 * Without NOTIFY_SOCKET (not started by systemd), or built without
 * libsystemd, every call does nothing.  Loop thread only.
 */
#ifndef VIGIL_DAEMON_NOTIFY_H
#define VIGIL_DAEMON_NOTIFY_H

#include <uv.h>

struct relay;

/* Starts the watchdog and status timers and sends READY=1. */
void notify_ready(struct relay *r);
void notify_reloading(void);
/* After a reload, applied or not. */
void notify_reloaded(struct relay *r);
/* STOPPING=1; stops the timers. */
void notify_stopping(struct relay *r);
/* Closes the timers' handles (relay_close). */
void notify_close(struct relay *r);

#endif
