#include "tests/bench/bverify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/merkle.h"
#include "proto/status.h"

void bverify_init(struct bverify *v, const struct bident *id)
{
	memset(v, 0, sizeof(*v));
	v->id = id;
}

void bverify_free(struct bverify *v)
{
	for (unsigned i = 0; i < BVERIFY_CACHE; i++)
		free(v->cache[i].note);
	memset(v, 0, sizeof(*v));
}

int bverify_note(struct bverify *v, const char *note, struct checkpoint *cp,
		 char *err, size_t err_len)
{
	size_t len = strlen(note);
	for (unsigned i = 0; i < BVERIFY_CACHE; i++)
		if (v->cache[i].note && v->cache[i].len == len &&
		    memcmp(v->cache[i].note, note, len) == 0) {
			*cp = v->cache[i].cp;
			v->notes_cached++;
			return 0;
		}
	size_t text_len;
	int rc = note_open(note, len, &v->id->ckpt, &text_len);
	if (rc != VG_OK) {
		snprintf(err, err_len, "checkpoint note does not verify with the key \"%s\": %s",
			 v->id->ckpt.name, vg_strerror(rc));
		return -1;
	}
	if (checkpoint_parse(note, text_len, cp) != VG_OK) {
		snprintf(err, err_len, "checkpoint note has a malformed body");
		return -1;
	}
	if (strcmp(cp->origin, v->id->ckpt.name) != 0) {
		snprintf(err, err_len, "checkpoint of origin \"%s\", expected \"%s\"", cp->origin,
			 v->id->ckpt.name);
		return -1;
	}
	v->notes_verified++;
	char *copy = malloc(len + 1);
	if (copy) {
		memcpy(copy, note, len + 1);
		unsigned slot = v->next++ % BVERIFY_CACHE;
		free(v->cache[slot].note);
		v->cache[slot].note = copy;
		v->cache[slot].len = len;
		v->cache[slot].cp = *cp;
	}
	return 0;
}

/* Copies a protobuf list of hashes into a proof array. */
static int proof_copy(const ProtobufCBinaryData *in, size_t n, merkle_hash *out)
{
	if (n > MERKLE_MAX_PROOF)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (in[i].len != SHA256_LEN)
			return -1;
		memcpy(out[i], in[i].data, SHA256_LEN);
	}
	return 0;
}

int bverify_receipt(struct bverify *v, const Vigil__V1__Receipt *rc, const struct brecord *r,
		    char *err, size_t err_len)
{
	if (rc->record_id.len != RECORD_ID_LEN ||
	    memcmp(rc->record_id.data, r->record_id, RECORD_ID_LEN) != 0) {
		snprintf(err, err_len, "receipt for another record_id");
		return -1;
	}
	if (rc->duplicate) {
		snprintf(err, err_len, "receipt says duplicate for a fresh record");
		return -1;
	}
	uint8_t *leaf, hash[SHA256_LEN];
	size_t leaf_len;
	if (entry_leaf_encode(rc->received_at_ms, v->id->cert_sha256, r->rec, r->rec_len, r->sig,
			      r->sig_len, &leaf, &leaf_len) != VG_OK) {
		snprintf(err, err_len, "cannot encode the leaf");
		return -1;
	}
	merkle_leaf_hash(leaf, leaf_len, hash);
	free(leaf);
	if (rc->leaf_hash.len != SHA256_LEN || memcmp(rc->leaf_hash.data, hash, SHA256_LEN) != 0) {
		snprintf(err, err_len, "receipt of entry %llu: the leaf hash is not the one "
			 "recomputed from the record", (unsigned long long)rc->index);
		return -1;
	}
	if (!rc->checkpoint || !rc->checkpoint[0]) {
		snprintf(err, err_len, "receipt of entry %llu carries no checkpoint",
			 (unsigned long long)rc->index);
		return -1;
	}
	struct checkpoint cp;
	if (bverify_note(v, rc->checkpoint, &cp, err, err_len) != 0)
		return -1;
	merkle_hash proof[MERKLE_MAX_PROOF];
	if (proof_copy(rc->inclusion_proof, rc->n_inclusion_proof, proof) != 0 ||
	    merkle_verify_inclusion(rc->index, cp.size, hash, (const merkle_hash *)proof,
				    rc->n_inclusion_proof, cp.root) != VG_OK) {
		snprintf(err, err_len, "receipt of entry %llu: the inclusion proof does not lead to "
			 "the root of the checkpoint of size %llu", (unsigned long long)rc->index,
			 (unsigned long long)cp.size);
		return -1;
	}
	return 0;
}

int bverify_inclusion(const Vigil__V1__InclusionProof *p, uint64_t index,
		      const struct checkpoint *cp, char *err, size_t err_len)
{
	merkle_hash proof[MERKLE_MAX_PROOF];
	if (p->index != index || p->tree_size != cp->size || p->leaf_hash.len != SHA256_LEN) {
		snprintf(err, err_len, "proof for (%llu, %llu), asked for (%llu, %llu)",
			 (unsigned long long)p->index, (unsigned long long)p->tree_size,
			 (unsigned long long)index, (unsigned long long)cp->size);
		return -1;
	}
	if (proof_copy(p->hashes, p->n_hashes, proof) != 0 ||
	    merkle_verify_inclusion(index, cp->size, p->leaf_hash.data, (const merkle_hash *)proof,
				    p->n_hashes, cp->root) != VG_OK) {
		snprintf(err, err_len, "the inclusion proof of entry %llu does not lead to the root "
			 "of size %llu", (unsigned long long)index, (unsigned long long)cp->size);
		return -1;
	}
	return 0;
}
