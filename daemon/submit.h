/*
 * submit.h - the path of one Submit frame: validate and verify off the loop
 * (libuv thread pool), check authorship, append through the writer,
 * answer with a Receipt once the batch is durable, or with an Error.
 */
#ifndef VIGIL_DAEMON_SUBMIT_H
#define VIGIL_DAEMON_SUBMIT_H

#include "proto/vigil.pb-c.h"

struct conn;

/* Starts handling f (a Submit frame); takes ownership of f.  The answer is
 * sent on c later and conn_answered(c) is called exactly once. */
void submit_start(struct conn *c, Vigil__V1__Frame *f);

#endif
