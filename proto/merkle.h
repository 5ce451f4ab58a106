/*
 * merkle.h - RFC 9162 (section 2.1) Merkle trees over a log of leaf hashes:
 * roots, inclusion and consistency proofs, and their verification.
 *
 * Proof generation reads the tree through a callback that returns the hash
 * of a complete, aligned subtree: node (level L, index i) covers leaves
 * [i * 2^L, (i + 1) * 2^L); level 0 is the leaf hashes.  Every hash the RFC
 * recursion needs is a fold of at most 64 such nodes, so a store that keeps
 * complete subtrees answers any proof for any tree size with O(log n) reads.
 *
 * All functions return 0 or a negative vg_status; verification failures are
 * VG_EBADSIG ("the proof does not prove it"), malformed input VG_EBADREQ,
 * and a callback's own error is passed through.
 */
#ifndef VIGIL_PROTO_MERKLE_H
#define VIGIL_PROTO_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/record.h"

#define MERKLE_MAX_PROOF 64  /* nodes in any proof of a tree below 2^63 */

typedef uint8_t merkle_hash[SHA256_LEN];

/* Hash of the complete subtree (level, index), or a negative status. */
typedef int (*merkle_get_fn)(void *ctx, unsigned level, uint64_t index, uint8_t out[SHA256_LEN]);

/* SHA-256(0x01 || left || right). */
void merkle_node_hash(const uint8_t left[SHA256_LEN], const uint8_t right[SHA256_LEN],
		      uint8_t out[SHA256_LEN]);

/* MTH of the range [lo, hi) of a tree of at least hi leaves.  The range
 * must be one the RFC recursion produces: lo is a multiple of the largest
 * power of two not above hi - lo (true for [0, n) and every proof node). */
int merkle_range_hash(merkle_get_fn get, void *ctx, uint64_t lo, uint64_t hi,
		      uint8_t out[SHA256_LEN]);

/* Root of the tree of the first `size` leaves (SHA-256("") when empty). */
int merkle_root(merkle_get_fn get, void *ctx, uint64_t size, uint8_t out[SHA256_LEN]);

/* Inclusion proof of leaf `index` in the tree of `size` leaves, from the
 * leaf upwards (RFC 9162 2.1.3.1).  *n nodes are written to proof. */
int merkle_inclusion_proof(merkle_get_fn get, void *ctx, uint64_t index, uint64_t size,
			   merkle_hash proof[MERKLE_MAX_PROOF], size_t *n);

/* Consistency proof from size m to size n, 0 < m <= n (RFC 9162 2.1.4.1). */
int merkle_consistency_proof(merkle_get_fn get, void *ctx, uint64_t m, uint64_t n,
			     merkle_hash proof[MERKLE_MAX_PROOF], size_t *len);

/* The root an inclusion proof implies for leaf at index in a tree of size
 * (RFC 9162 2.1.3.2, computing the root instead of comparing it); VG_EBADSIG
 * when the proof's shape does not fit index and size. */
int merkle_inclusion_root(uint64_t index, uint64_t size, const uint8_t leaf[SHA256_LEN],
			  const merkle_hash *proof, size_t n, uint8_t root[SHA256_LEN]);

/* RFC 9162 2.1.3.2: VG_OK when proof shows leaf at index in root of size. */
int merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[SHA256_LEN],
			    const merkle_hash *proof, size_t n, const uint8_t root[SHA256_LEN]);

/* RFC 9162 2.1.4.2: VG_OK when proof shows root_m (size m) is a prefix of
 * root_n (size n).  m == n needs an empty proof and equal roots; m == 0 is
 * consistent with anything (an empty proof). */
int merkle_verify_consistency(uint64_t m, uint64_t n, const uint8_t root_m[SHA256_LEN],
			      const uint8_t root_n[SHA256_LEN], const merkle_hash *proof,
			      size_t len);

/*
 * An in-memory compact range: the hashes of the complete subtrees that
 * make up [0, size), one per set bit of size, largest first.  Appending is
 * O(log n) and yields the nodes that became complete, so a store can keep
 * them; the root of the current size is a fold of the range.
 */
struct merkle_frontier {
	uint64_t size;
	unsigned n;                       /* popcount(size) */
	merkle_hash hash[64];             /* hash[i] has level level[i] */
	uint8_t level[64];
};

void merkle_frontier_init(struct merkle_frontier *f);
/* Builds the frontier of `size` leaves from stored complete subtrees. */
int merkle_frontier_load(struct merkle_frontier *f, merkle_get_fn get, void *ctx, uint64_t size);
/*
 * Appends a leaf.  For every subtree completed by it (the leaf itself at
 * level 0 included), emit(ctx, level, index, hash) is called, lowest level
 * first; a non-zero return stops and is passed back.
 */
int merkle_frontier_append(struct merkle_frontier *f, const uint8_t leaf[SHA256_LEN],
			   int (*emit)(void *ctx, unsigned level, uint64_t index,
				       const uint8_t hash[SHA256_LEN]),
			   void *ctx);
void merkle_frontier_root(const struct merkle_frontier *f, uint8_t out[SHA256_LEN]);

#endif
