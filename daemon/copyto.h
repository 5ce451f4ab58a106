/*
 * copyto.h - vigild --copy-to DSN: an SQLite log into an empty PostgreSQL
 * store, proved.
 *
 * The copy is of one snapshot of the SQLite file (stop the relay first, or
 * what it stores afterwards is not in the copy).  The PostgreSQL schema is
 * created as --init-db creates it, under the store's lock, and every table
 * is copied row for row in one transaction.  Then it is proved: the same
 * rows in every table, the same latest checkpoint (size and root), and the
 * audit of --verify-db on the copy (every signature, the tree, every
 * checkpoint).  A copy that does not prove is rolled back or reported,
 * never left looking good.
 */
#ifndef VIGIL_DAEMON_COPYTO_H
#define VIGIL_DAEMON_COPYTO_H

#include <stdio.h>

#include <openssl/evp.h>

/*
 * Copies the SQLite log at path into the PostgreSQL store dsn names (its
 * schema must hold no tables), proves it, and prints the facts to out.
 * 0 when the copy is proved; 1 otherwise, with the reason on err.
 */
int copyto_run(const char *path, const char *dsn, const char *origin, EVP_PKEY *key, FILE *out,
	       FILE *err);

#endif
