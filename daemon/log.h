/*
 * log.h - diagnostics on stderr, one line each, with a syslog priority
 * prefix ("<3>") that journald turns into the entry's priority.
 */
#ifndef VIGIL_DAEMON_LOG_H
#define VIGIL_DAEMON_LOG_H

#include <syslog.h>

#if defined(__GNUC__)
#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LOG_PRINTF(a, b)
#endif

/* Messages above this priority (numerically) are dropped; LOG_INFO default. */
void log_set_level(int prio);
void log_msg(int prio, const char *fmt, ...) LOG_PRINTF(2, 3);

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
