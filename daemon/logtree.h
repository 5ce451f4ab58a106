/*
 * logtree.h - the Merkle log over the entries: its frontier, the `tree`
 * table, inclusion proofs, and the signed checkpoints.
 *
 * The log is an RFC 9162 Merkle tree over the entries' leaf hashes.  A
 * logtree keeps the frontier (the complete subtrees of the current size) in
 * memory, stores every complete subtree hash of level >= 1 in `tree` (level
 * 0 is entries.leaf_hash), answers proofs through a node cache, and signs
 * checkpoints into `checkpoints`.  Opening reads O(log n) rows, never the
 * log.
 *
 * Memory: a logtree is owned by the writer (writer_open) and borrows the
 * store's connection, so it is closed before the store.  Checkpoints are
 * reference-counted and shared read-only between the writer, the jobs of
 * its batch and the loop's "latest" pointer; the last release frees one
 * (on any thread).
 *
 * Threads: logtree_open(), logtree_start() and logtree_close() run on the
 * main thread; everything else on the writer thread, inside the writer's
 * transactions.  Checkpoint references may be taken and dropped anywhere.
 *
 * Errors: logtree_open(), logtree_start() and logtree_build() return 0 or
 * a negative VG_* code with a message.  Steps inside a transaction
 * (logtree_append, logtree_sign) return 0 or an SQLite result code, like
 * store.h's; logtree_prove() returns 0 or a negative VG_* code.
 */
#ifndef VIGIL_DAEMON_LOGTREE_H
#define VIGIL_DAEMON_LOGTREE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include "daemon/db.h"

#include "proto/merkle.h"

struct store;
struct logtree;

/* A signed checkpoint. */
struct logtree_checkpoint {
	_Atomic unsigned refs;
	uint64_t size;
	uint8_t root[SHA256_LEN];
	int64_t signed_at_ms;
	size_t note_len;
	char note[];                       /* the signed note, NUL-terminated */
};

struct logtree_checkpoint *logtree_checkpoint_ref(struct logtree_checkpoint *c);
void logtree_checkpoint_release(struct logtree_checkpoint *c);

/*
 * Loads the frontier of the store's entries and the latest checkpoint, and
 * refuses a log whose tree is incomplete or that its latest checkpoint
 * does not match (it changed outside the relay).
 */
int logtree_open(struct store *s, struct logtree **out, char *err, size_t err_len);

/* Takes the checkpoint signing key (borrowed; Ed25519) and the origin line,
 * and sets up the proof cache. */
int logtree_start(struct logtree *t, EVP_PKEY *key, const char *origin, char *err,
		  size_t err_len);

/* Safe on NULL and on a half-opened tree. */
void logtree_close(struct logtree **t);

/* The number of leaves (entries) in the tree. */
uint64_t logtree_size(const struct logtree *t);

/* Appends a leaf and inserts the subtrees it completes. */
int logtree_append(struct logtree *t, const uint8_t leaf_hash[SHA256_LEN]);

/* The tree as it was before a transaction, to go back to when the
 * transaction is rolled back. */
struct logtree_mark {
	struct merkle_frontier frontier;
};

void logtree_mark(const struct logtree *t, struct logtree_mark *m);
void logtree_rewind(struct logtree *t, const struct logtree_mark *m);

/*
 * Signs a checkpoint of the current tree, signed at now_ms or just after
 * the last one, and inserts it; *out gets one reference.
 */
int logtree_sign(struct logtree *t, int64_t now_ms, struct logtree_checkpoint **out);

/* After the transaction that inserted cp committed: cp is the newest
 * checkpoint (the tree takes a reference). */
void logtree_committed(struct logtree *t, struct logtree_checkpoint *cp);

/* The newest committed checkpoint, or NULL; borrowed. */
struct logtree_checkpoint *logtree_last(const struct logtree *t);

/* The inclusion proof of the leaf at index in the tree of size leaves. */
int logtree_prove(struct logtree *t, uint64_t index, uint64_t size,
		  merkle_hash proof[MERKLE_MAX_PROOF], size_t *proof_len);

/*
 * Migration to schema 2, inside the caller's transaction: fills `tree`
 * from the stored leaf hashes once; *size is the number of entries.
 */
int logtree_build(struct db *db, uint64_t *size, char *err, size_t err_len);

#endif
