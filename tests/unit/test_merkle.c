/*
 * RFC 9162 Merkle trees: published test vectors, a straight transcription
 * of the RFC's recursive definitions as the reference for every (index,
 * size) up to 70, and tampering with every byte of leaves, proofs and roots.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proto/merkle.h"
#include "proto/status.h"

#define N_MAX 70

static merkle_hash leaves[N_MAX + 8];

static void unhex(const char *s, uint8_t *out)
{
	assert_int_equal(hex_decode(s, out, strlen(s) / 2), VG_OK);
}

/* The RFC's MTH, recursively, straight from the definition. */
static void mth(uint64_t lo, uint64_t hi, uint8_t out[SHA256_LEN])
{
	if (hi - lo == 1) {
		memcpy(out, leaves[lo], SHA256_LEN);
		return;
	}
	uint64_t k = 1;
	while (k * 2 < hi - lo)
		k *= 2;
	uint8_t l[SHA256_LEN], r[SHA256_LEN];
	mth(lo, lo + k, l);
	mth(lo + k, hi, r);
	merkle_node_hash(l, r, out);
}

static int get_leaves(void *ctx, unsigned level, uint64_t index, uint8_t out[SHA256_LEN])
{
	uint64_t *reads = ctx;
	if (reads)
		(*reads)++;
	mth(index << level, (index + 1) << level, out);
	return 0;
}

/* The RFC's PATH(m, D[lo:hi]), recursively. */
static void path(uint64_t m, uint64_t lo, uint64_t hi, merkle_hash *out, size_t *n)
{
	if (hi - lo <= 1)
		return;
	uint64_t k = 1;
	while (k * 2 < hi - lo)
		k *= 2;
	if (m < k) {
		path(m, lo, lo + k, out, n);
		mth(lo + k, hi, out[(*n)++]);
	} else {
		path(m - k, lo + k, hi, out, n);
		mth(lo, lo + k, out[(*n)++]);
	}
}

/* The RFC's SUBPROOF(m, D[lo:hi], b), recursively. */
static void subproof(uint64_t m, uint64_t lo, uint64_t hi, int b, merkle_hash *out, size_t *n)
{
	if (m == hi - lo) {
		if (!b)
			mth(lo, hi, out[(*n)++]);
		return;
	}
	uint64_t k = 1;
	while (k * 2 < hi - lo)
		k *= 2;
	if (m <= k) {
		subproof(m, lo, lo + k, b, out, n);
		mth(lo + k, hi, out[(*n)++]);
	} else {
		subproof(m - k, lo + k, hi, 0, out, n);
		mth(lo, lo + k, out[(*n)++]);
	}
}

static void set_ct_leaves(void)
{
	static const char *const data[] = { "", "00", "10", "2021", "3031", "40414243",
		"5051525354555657", "606162636465666768696a6b6c6d6e6f" };
	for (int i = 0; i < 8; i++) {
		uint8_t buf[16];
		size_t n = strlen(data[i]) / 2;
		if (n)
			unhex(data[i], buf);
		merkle_leaf_hash(buf, n, leaves[i]);
	}
}

static void set_many_leaves(void)
{
	for (int i = 0; i < N_MAX; i++) {
		uint8_t b[2] = { (uint8_t)i, (uint8_t)(i * 7) };
		merkle_leaf_hash(b, sizeof(b), leaves[i]);
	}
}

static void test_ct_vectors(void **state)
{
	(void)state;
	static const char *const roots[] = {
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	};
	set_ct_leaves();
	for (uint64_t size = 0; size <= 8; size++) {
		uint8_t got[SHA256_LEN], want[SHA256_LEN];
		unhex(roots[size], want);
		assert_int_equal(merkle_root(get_leaves, NULL, size, got), VG_OK);
		assert_memory_equal(got, want, SHA256_LEN);
	}
	/* Published proofs. */
	static const char *const inc0[] = {
		"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" };
	static const char *const inc5[] = {
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" };
	static const char *const con25[] = {
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" };
	merkle_hash p[MERKLE_MAX_PROOF], want;
	size_t n;
	assert_int_equal(merkle_inclusion_proof(get_leaves, NULL, 0, 8, p, &n), VG_OK);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < 3; i++) {
		unhex(inc0[i], want);
		assert_memory_equal(p[i], want, SHA256_LEN);
	}
	assert_int_equal(merkle_inclusion_proof(get_leaves, NULL, 5, 8, p, &n), VG_OK);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < 3; i++) {
		unhex(inc5[i], want);
		assert_memory_equal(p[i], want, SHA256_LEN);
	}
	assert_int_equal(merkle_consistency_proof(get_leaves, NULL, 2, 5, p, &n), VG_OK);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < 2; i++) {
		unhex(con25[i], want);
		assert_memory_equal(p[i], want, SHA256_LEN);
	}
	uint8_t r2[SHA256_LEN], r5[SHA256_LEN];
	unhex(roots[2], r2);
	unhex(roots[5], r5);
	assert_int_equal(merkle_verify_consistency(2, 5, r2, r5, p, n), VG_OK);
}

/* Every (index, size) up to 70: the proof equals the RFC recursion's,
 * verifies, and fails when any byte of leaf, proof or root changes, or
 * when index or size is off by one. */
static void test_inclusion_all(void **state)
{
	(void)state;
	set_many_leaves();
	for (uint64_t size = 1; size <= N_MAX; size++) {
		uint8_t root[SHA256_LEN];
		assert_int_equal(merkle_root(get_leaves, NULL, size, root), VG_OK);
		uint8_t ref_root[SHA256_LEN];
		mth(0, size, ref_root);
		assert_memory_equal(root, ref_root, SHA256_LEN);
		for (uint64_t i = 0; i < size; i++) {
			merkle_hash p[MERKLE_MAX_PROOF], ref[MERKLE_MAX_PROOF];
			size_t n, rn = 0;
			uint64_t reads = 0;
			assert_int_equal(merkle_inclusion_proof(get_leaves, &reads, i, size, p, &n), VG_OK);
			assert_true(reads <= 2 * 7 * 7); /* O(log n) node reads */
			path(i, 0, size, ref, &rn);
			assert_int_equal(n, rn);
			assert_memory_equal(p, ref, n * SHA256_LEN);
			assert_int_equal(merkle_verify_inclusion(i, size, leaves[i], p, n, root), VG_OK);
			for (size_t b = 0; b < SHA256_LEN; b++) {
				uint8_t l[SHA256_LEN], r[SHA256_LEN];
				memcpy(l, leaves[i], SHA256_LEN);
				l[b] ^= 0x80;
				assert_int_equal(merkle_verify_inclusion(i, size, l, p, n, root), VG_EBADSIG);
				memcpy(r, root, SHA256_LEN);
				r[b] ^= 0x01;
				assert_int_equal(merkle_verify_inclusion(i, size, leaves[i], p, n, r), VG_EBADSIG);
			}
			for (size_t k = 0; k < n; k++)
				for (size_t b = 0; b < SHA256_LEN; b += 7) {
					p[k][b] ^= 0x10;
					assert_int_equal(merkle_verify_inclusion(i, size, leaves[i], p, n, root),
							 VG_EBADSIG);
					p[k][b] ^= 0x10;
				}
			if (n > 0)
				assert_int_equal(merkle_verify_inclusion(i, size, leaves[i], p, n - 1, root),
						 VG_EBADSIG);
			if (merkle_verify_inclusion(i + 1, size, leaves[i], p, n, root) != VG_EBADSIG)
				fail_msg("index %llu+1 size %llu verifies", (unsigned long long)i, (unsigned long long)size);
			/* (The size is not bound by the proof alone: index 0 of size 3
			 * and of size 4 share a proof shape.  The signed checkpoint
			 * binds the size to the root.) */
		}
	}
}

static void test_consistency_all(void **state)
{
	(void)state;
	set_many_leaves();
	uint8_t roots[N_MAX + 1][SHA256_LEN];
	for (uint64_t s = 0; s <= N_MAX; s++)
		assert_int_equal(merkle_root(get_leaves, NULL, s, roots[s]), VG_OK);
	for (uint64_t n = 1; n <= N_MAX; n++) {
		for (uint64_t m = 1; m <= n; m++) {
			merkle_hash p[MERKLE_MAX_PROOF], ref[MERKLE_MAX_PROOF];
			size_t len, rlen = 0;
			assert_int_equal(merkle_consistency_proof(get_leaves, NULL, m, n, p, &len), VG_OK);
			subproof(m, 0, n, 1, ref, &rlen);
			assert_int_equal(len, rlen);
			assert_memory_equal(p, ref, len * SHA256_LEN);
			assert_int_equal(merkle_verify_consistency(m, n, roots[m], roots[n], p, len), VG_OK);
			if (m == n)
				continue;
			for (size_t k = 0; k < len; k++) {
				p[k][k % SHA256_LEN] ^= 1;
				assert_int_equal(merkle_verify_consistency(m, n, roots[m], roots[n], p, len),
						 VG_EBADSIG);
				p[k][k % SHA256_LEN] ^= 1;
			}
			uint8_t bad[SHA256_LEN];
			memcpy(bad, roots[m], SHA256_LEN);
			bad[3] ^= 4;
			assert_int_equal(merkle_verify_consistency(m, n, bad, roots[n], p, len), VG_EBADSIG);
			memcpy(bad, roots[n], SHA256_LEN);
			bad[30] ^= 4;
			assert_int_equal(merkle_verify_consistency(m, n, roots[m], bad, p, len), VG_EBADSIG);
			/* A root of another size is not consistent. */
			assert_int_equal(merkle_verify_consistency(m, n, roots[m - 1], roots[n], p, len),
					 VG_EBADSIG);
		}
	}
	assert_int_equal(merkle_consistency_proof(get_leaves, NULL, 0, 5, NULL, NULL), VG_EBADREQ);
	assert_int_equal(merkle_consistency_proof(get_leaves, NULL, 6, 5, NULL, NULL), VG_EBADREQ);
}

struct sink {
	uint64_t count[64];
	merkle_hash last[64];
};

static int emit(void *ctx, unsigned level, uint64_t index, const uint8_t hash[SHA256_LEN])
{
	struct sink *s = ctx;
	/* Nodes must come complete, in order, and equal the RFC's subtree. */
	assert_int_equal(index, s->count[level]);
	uint8_t want[SHA256_LEN];
	mth(index << level, (index + 1) << level, want);
	assert_memory_equal(hash, want, SHA256_LEN);
	memcpy(s->last[level], hash, SHA256_LEN);
	s->count[level]++;
	return 0;
}

static void test_frontier(void **state)
{
	(void)state;
	set_many_leaves();
	struct merkle_frontier f, g;
	struct sink s;
	memset(&s, 0, sizeof(s));
	merkle_frontier_init(&f);
	for (uint64_t i = 0; i < N_MAX; i++) {
		assert_int_equal(merkle_frontier_append(&f, leaves[i], emit, &s), VG_OK);
		uint8_t got[SHA256_LEN], want[SHA256_LEN];
		merkle_frontier_root(&f, got);
		mth(0, i + 1, want);
		assert_memory_equal(got, want, SHA256_LEN);
		assert_int_equal(f.n, (unsigned)__builtin_popcountll(i + 1));
		assert_int_equal(merkle_frontier_load(&g, get_leaves, NULL, i + 1), VG_OK);
		assert_int_equal(g.n, f.n);
		assert_memory_equal(g.hash, f.hash, f.n * SHA256_LEN);
	}
	/* Every leaf once at level 0; N/2 nodes at level 1, and so on. */
	for (unsigned l = 0; l < 7; l++)
		assert_int_equal(s.count[l], N_MAX >> l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ct_vectors),
		cmocka_unit_test(test_inclusion_all),
		cmocka_unit_test(test_consistency_all),
		cmocka_unit_test(test_frontier),
	};
	return cmocka_run_group_tests_name("merkle", tests, NULL, NULL);
}
