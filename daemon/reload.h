/*
 * reload.h - SIGHUP: the configuration, the relay's certificate and key,
 * the CA, the CRL and the member directory, read again while the relay
 * serves.
 *
 * 1. On the thread pool: the configuration file, the directory, a new TLS
 *    context (certificate, key, CA, CRL), the members' encryption
 *    certificates against it, and the relay's own certificate and key
 *    (still a relay member of the same organisation) are loaded exactly as
 *    at start-up.  Any failure keeps everything as it was and logs what was
 *    wrong ("reload failed: FILE:LINE: ..."): nothing is half-applied.
 * 2. On the loop: the new context, directory and configuration replace the
 *    old ones at once (new handshakes use them; keys that need a restart,
 *    config_keep_restart(), keep their running values and are logged as
 *    ignored until restart); the writer gets the directory and the relay's
 *    certificate (WRITER_RECONFIGURE: MemberKey entries for changed
 *    encryption certificates).
 * 3. On the thread pool again: every authenticated session's certificate is
 *    checked as a handshake with the new context would check it
 *    (tls_peer_check: CA, CRL, expiry, directory); on the loop each session
 *    that fails is closed, subscribers included, with one log line naming
 *    the organisation and why.  A handshake still running on the old
 *    context is checked when it ends (conn.c).
 *
 * A SIGHUP during a reload runs another one after it.  The previous
 * contexts are freed when their last connection is; directories when
 * their last user lets go (directory_release); configurations and relay
 * keys are kept until the relay stops (they are small and a thread may
 * still read them).
 */
#ifndef VIGIL_DAEMON_RELOAD_H
#define VIGIL_DAEMON_RELOAD_H

#include <stdint.h>

struct relay;

/* Starts a reload (loop thread). */
void reload_start(struct relay *r);

/* Frees what reloads kept (loop thread, after the loop has run out). */
void reload_free_retired(struct relay *r);

/* Reload counters. */
struct reload_stats {
	uint64_t ok;
	uint64_t failed;
	uint64_t sessions_closed;  /* sessions whose certificate failed the new checks */
};

#endif
