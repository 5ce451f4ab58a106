/*
 * submit.h - the path of one Submit frame: validate and verify off the loop
 * (libuv thread pool), check authorship, append through the writer,
 * answer with a Receipt once the batch is durable, or with an Error.
 */
#ifndef VIGIL_DAEMON_SUBMIT_H
#define VIGIL_DAEMON_SUBMIT_H

#include <stddef.h>

#include "proto/vigil.pb-c.h"

struct conn;

/* Starts handling f (a Submit frame of wire_len bytes); takes ownership of
 * f.  The answer is sent on c later and conn_answered(c) is called exactly
 * once.  The frame's bytes are charged to c until then (conn_charge). */
void submit_start(struct conn *c, Vigil__V1__Frame *f, size_t wire_len);

#endif
