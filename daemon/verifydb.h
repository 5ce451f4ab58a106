/*
 * verifydb.h - `vigild --verify-db`: an offline audit of a relay database.
 *
 * Recomputes every entry's leaf hash from its stored contents, checks every
 * signature against the certificate stored with it, rebuilds the Merkle
 * tree and compares every stored tree node and every checkpoint (signature,
 * size and root) with it.  Reads only; the relay need not be stopped (it
 * reads one consistent snapshot), but a checkpoint signed during the run is
 * not looked at.
 */
#ifndef VIGIL_DAEMON_VERIFYDB_H
#define VIGIL_DAEMON_VERIFYDB_H

#include <stdio.h>

#include <openssl/evp.h>

#include "daemon/db.h"

/*
 * Prints "log OK: N entries, root HEX" to out and returns 0, or prints the
 * first problem ("entry N: ...", "checkpoint of size N: ...", "tree node
 * (level L, index I): ...") and returns 1.  Returns 2 when the database
 * cannot be read at all.
 */
int verifydb_run(const struct db_target *t, const char *origin, EVP_PKEY *checkpoint_key,
		 FILE *out);

#endif
