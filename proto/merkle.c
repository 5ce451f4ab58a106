#include "proto/merkle.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "proto/status.h"

void merkle_node_hash(const uint8_t left[SHA256_LEN], const uint8_t right[SHA256_LEN],
		      uint8_t out[SHA256_LEN])
{
	uint8_t buf[1 + 2 * SHA256_LEN];
	buf[0] = 0x01;
	memcpy(buf + 1, left, SHA256_LEN);
	memcpy(buf + 1 + SHA256_LEN, right, SHA256_LEN);
	unsigned int n;
	/* A one-shot digest cannot fail short of a broken library. */
	if (EVP_Digest(buf, sizeof(buf), out, &n, record_sha256(), NULL) != 1)
		abort();
}

static void empty_root(uint8_t out[SHA256_LEN])
{
	unsigned int n;
	if (EVP_Digest("", 0, out, &n, EVP_sha256(), NULL) != 1)
		abort();
}

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
	uint64_t k = 1;
	while (k << 1 < n)
		k <<= 1;
	return k;
}

static unsigned floor_log2(uint64_t n)
{
	return 63u - (unsigned)__builtin_clzll(n);
}

int merkle_range_hash(merkle_get_fn get, void *ctx, uint64_t lo, uint64_t hi,
		      uint8_t out[SHA256_LEN])
{
	if (lo >= hi)
		return VG_EBADREQ;
	/* At most one block per bit of hi - lo, so 64 is always enough; the
	 * bound in the loop says so to the compiler too. */
	merkle_hash blocks[64];
	unsigned nb = 0;
	for (uint64_t a = lo; a < hi && nb < 64;) {
		unsigned l = floor_log2(hi - a);
		if (a != 0 && (unsigned)__builtin_ctzll(a) < l)
			l = (unsigned)__builtin_ctzll(a);
		int rc = get(ctx, l, a >> l, blocks[nb]);
		if (rc != 0)
			return rc;
		nb++;
		a += (uint64_t)1 << l;
	}
	if (nb == 0)
		return VG_EBADREQ;
	memcpy(out, blocks[nb - 1], SHA256_LEN);
	for (unsigned i = nb - 1; i-- > 0;)
		merkle_node_hash(blocks[i], out, out);
	return VG_OK;
}

int merkle_root(merkle_get_fn get, void *ctx, uint64_t size, uint8_t out[SHA256_LEN])
{
	if (size == 0) {
		empty_root(out);
		return VG_OK;
	}
	return merkle_range_hash(get, ctx, 0, size, out);
}

int merkle_inclusion_proof(merkle_get_fn get, void *ctx, uint64_t index, uint64_t size,
			   merkle_hash proof[MERKLE_MAX_PROOF], size_t *n)
{
	if (index >= size)
		return VG_EBADREQ;
	uint64_t lo = 0, hi = size;
	uint64_t sib_lo[MERKLE_MAX_PROOF], sib_hi[MERKLE_MAX_PROOF];
	size_t k = 0;
	while (hi - lo > 1) {
		uint64_t s = split_point(hi - lo);
		if (index < lo + s) {
			sib_lo[k] = lo + s;
			sib_hi[k] = hi;
			hi = lo + s;
		} else {
			sib_lo[k] = lo;
			sib_hi[k] = lo + s;
			lo += s;
		}
		k++;
	}
	/* The recursion yields siblings root-first; a proof lists them
	 * leaf-first. */
	for (size_t i = 0; i < k; i++) {
		int rc = merkle_range_hash(get, ctx, sib_lo[k - 1 - i], sib_hi[k - 1 - i], proof[i]);
		if (rc != 0)
			return rc;
	}
	*n = k;
	return VG_OK;
}

int merkle_consistency_proof(merkle_get_fn get, void *ctx, uint64_t m, uint64_t n,
			     merkle_hash proof[MERKLE_MAX_PROOF], size_t *len)
{
	if (m == 0 || m > n)
		return VG_EBADREQ;
	uint64_t lo = 0, hi = n;
	int whole = 1;  /* the RFC's b: the old tree is this subtree itself */
	uint64_t r_lo[MERKLE_MAX_PROOF + 1], r_hi[MERKLE_MAX_PROOF + 1];
	size_t k = 0;
	int have_final = 0;
	uint64_t f_lo = 0, f_hi = 0;
	for (;;) {
		if (m == hi) {
			if (!whole) {
				have_final = 1;
				f_lo = lo;
				f_hi = hi;
			}
			break;
		}
		uint64_t s = split_point(hi - lo);
		if (m - lo <= s) {
			r_lo[k] = lo + s;
			r_hi[k] = hi;
			hi = lo + s;
		} else {
			r_lo[k] = lo;
			r_hi[k] = lo + s;
			lo += s;
			whole = 0;
		}
		k++;
	}
	size_t out = 0;
	int rc;
	if (have_final) {
		if ((rc = merkle_range_hash(get, ctx, f_lo, f_hi, proof[out++])) != 0)
			return rc;
	}
	for (size_t i = 0; i < k; i++) {
		if ((rc = merkle_range_hash(get, ctx, r_lo[k - 1 - i], r_hi[k - 1 - i],
					    proof[out++])) != 0)
			return rc;
	}
	*len = out;
	return VG_OK;
}

int merkle_inclusion_root(uint64_t index, uint64_t size, const uint8_t leaf[SHA256_LEN],
			  const merkle_hash *proof, size_t n, uint8_t root[SHA256_LEN])
{
	if (index >= size || n > MERKLE_MAX_PROOF)
		return VG_EBADSIG;
	uint64_t fn = index, sn = size - 1;
	uint8_t r[SHA256_LEN];
	memcpy(r, leaf, SHA256_LEN);
	for (size_t i = 0; i < n; i++) {
		if (sn == 0)
			return VG_EBADSIG;
		if ((fn & 1) || fn == sn) {
			merkle_node_hash(proof[i], r, r);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			merkle_node_hash(r, proof[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return VG_EBADSIG;
	memcpy(root, r, SHA256_LEN);
	return VG_OK;
}

int merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[SHA256_LEN],
			    const merkle_hash *proof, size_t n, const uint8_t root[SHA256_LEN])
{
	uint8_t r[SHA256_LEN];
	if (merkle_inclusion_root(index, size, leaf, proof, n, r) != VG_OK)
		return VG_EBADSIG;
	return memcmp(r, root, SHA256_LEN) == 0 ? VG_OK : VG_EBADSIG;
}

int merkle_verify_consistency(uint64_t m, uint64_t n, const uint8_t root_m[SHA256_LEN],
			      const uint8_t root_n[SHA256_LEN], const merkle_hash *proof,
			      size_t len)
{
	if (m > n)
		return VG_EBADSIG;
	if (m == n)
		return (len == 0 && memcmp(root_m, root_n, SHA256_LEN) == 0) ? VG_OK : VG_EBADSIG;
	if (m == 0)
		return len == 0 ? VG_OK : VG_EBADSIG;
	if (len == 0 || len > MERKLE_MAX_PROOF)
		return VG_EBADSIG;
	/* With m a power of two the old root is itself the first node. */
	const uint8_t *first;
	size_t i = 0;
	if ((m & (m - 1)) == 0) {
		first = root_m;
	} else {
		first = proof[0];
		i = 1;
	}
	uint64_t fn = m - 1, sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	uint8_t fr[SHA256_LEN], sr[SHA256_LEN];
	memcpy(fr, first, SHA256_LEN);
	memcpy(sr, first, SHA256_LEN);
	for (; i < len; i++) {
		if (sn == 0)
			return VG_EBADSIG;
		if ((fn & 1) || fn == sn) {
			merkle_node_hash(proof[i], fr, fr);
			merkle_node_hash(proof[i], sr, sr);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			merkle_node_hash(sr, proof[i], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return (sn == 0 && memcmp(fr, root_m, SHA256_LEN) == 0 &&
		memcmp(sr, root_n, SHA256_LEN) == 0) ? VG_OK : VG_EBADSIG;
}

void merkle_frontier_init(struct merkle_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

int merkle_frontier_load(struct merkle_frontier *f, merkle_get_fn get, void *ctx, uint64_t size)
{
	merkle_frontier_init(f);
	for (uint64_t a = 0; a < size;) {
		unsigned l = floor_log2(size - a);
		int rc = get(ctx, l, a >> l, f->hash[f->n]);
		if (rc != 0)
			return rc;
		f->level[f->n++] = (uint8_t)l;
		a += (uint64_t)1 << l;
	}
	f->size = size;
	return VG_OK;
}

int merkle_frontier_append(struct merkle_frontier *f, const uint8_t leaf[SHA256_LEN],
			   int (*emit)(void *ctx, unsigned level, uint64_t index,
				       const uint8_t hash[SHA256_LEN]),
			   void *ctx)
{
	uint64_t size = f->size + 1;
	uint8_t h[SHA256_LEN];
	unsigned level = 0;
	memcpy(h, leaf, SHA256_LEN);
	int rc = emit ? emit(ctx, 0, size - 1, h) : 0;
	if (rc != 0)
		return rc;
	while (f->n > 0 && f->level[f->n - 1] == level) {
		merkle_node_hash(f->hash[f->n - 1], h, h);
		f->n--;
		level++;
		if (emit && (rc = emit(ctx, level, (size >> level) - 1, h)) != 0)
			return rc;
	}
	memcpy(f->hash[f->n], h, SHA256_LEN);
	f->level[f->n++] = (uint8_t)level;
	f->size = size;
	return VG_OK;
}

void merkle_frontier_root(const struct merkle_frontier *f, uint8_t out[SHA256_LEN])
{
	if (f->n == 0) {
		empty_root(out);
		return;
	}
	memcpy(out, f->hash[f->n - 1], SHA256_LEN);
	for (unsigned i = f->n - 1; i-- > 0;)
		merkle_node_hash(f->hash[i], out, out);
}
