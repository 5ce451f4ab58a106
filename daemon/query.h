/*
 * query.h - read requests: the latest checkpoint, inclusion and consistency
 * proofs, leaf hashes, the peer's own entries, and the member directory.
 * The checkpoint and the members are answered on the loop from memory;
 * case queries go to the writer (cases.h); everything else runs on the
 * thread pool with a read-only connection (reader.h).
 */
#ifndef VIGIL_DAEMON_QUERY_H
#define VIGIL_DAEMON_QUERY_H

#include <stddef.h>

#include "proto/vigil.pb-c.h"

struct conn;

#define QUERY_MAX_LEAVES 4096u
#define QUERY_MAX_ENTRIES 1024u

/* Handles one Get* frame; takes ownership of f.  The answer is sent on c
 * later (or at once) and conn_answered(c) is called exactly once. */
void query_start(struct conn *c, Vigil__V1__Frame *f, size_t wire_len);

#endif
