/*
 * query.c - reading the relay's log: the latest checkpoint, inclusion and
 * consistency proofs, leaf hashes and our own entries.
 *
 * Each call sends one Get* request and waits for the answer with its
 * request id.  Answers to submissions still in flight may come first; they
 * are handed to submit.c, which checks and keeps them.  A caller that gives
 * up (a timeout) leaves the request id in c->abandoned so that its late
 * answer is dropped instead of being taken for a protocol violation.
 *
 * Nothing the relay says is taken on trust when it can be checked here:
 * sizes of hashes, the range asked for, leaf hashes of entries, and, given
 * a verified checkpoint, inclusion proofs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "proto/record.h"

int vigil__query_roundtrip(struct vigil_client *c, Vigil__V1__Frame *req, int want,
			   const char *waiting_for, Vigil__V1__Frame **out,
			   struct vigil_error *err)
{
	*out = NULL;
	req->request_id = c->next_request_id;
	int rc = vigil__wire_send(c, req, err);
	if (rc != VIGIL_OK)
		return rc;
	c->next_request_id++;
	for (;;) {
		Vigil__V1__Frame *f = NULL;
		rc = vigil__wire_recv(c, &f, waiting_for, err);
		if (rc == VIGIL_E_CONNECT && !c->dead) {
			/* A timeout: the answer may still come; drop it then. */
			if (c->n_abandoned == VIGIL_ABANDONED_MAX)
				vigil__wire_kill(c, err, rc);
			else
				c->abandoned[c->n_abandoned++] = req->request_id;
			return rc;
		}
		if (rc != VIGIL_OK)
			return rc;
		if (f->request_id != req->request_id) {
			size_t idx;
			rc = vigil__submit_dispatch(c, f, &idx, err);
			if (rc != VIGIL_OK)
				return rc;
			continue;
		}
		if (f->msg_case == VIGIL__V1__FRAME__MSG_ERROR) {
			rc = vigil__error_refused(err, f->error->code, f->error->message);
			frame_free(f);
			return rc;
		}
		if ((int)f->msg_case != want) {
			rc = vigil__error_set(err, VIGIL_E_PROTOCOL,
					      "the relay answered request %llu with a frame of type "
					      "%d, not %d", (unsigned long long)req->request_id,
					      (int)f->msg_case, want);
			frame_free(f);
			return vigil__wire_kill(c, err, rc);
		}
		*out = f;
		return VIGIL_OK;
	}
}

int vigil__query_usable(vigil_client *c, const char *fn, struct vigil_error *err)
{
	if (!c)
		return vigil__error_set(err, VIGIL_E_USAGE, "%s: client is NULL", fn);
	return vigil__wire_usable(c, err);
}

/* Copies n wire hashes into out; VIGIL_E_VERIFY unless each is 32 bytes. */
static int take_hashes(const ProtobufCBinaryData *in, size_t n, uint8_t (*out)[SHA256_LEN],
		       const char *what, struct vigil_error *err)
{
	for (size_t i = 0; i < n; i++) {
		if (in[i].len != SHA256_LEN)
			return vigil__error_set(err, VIGIL_E_VERIFY,
						"%s: hash %zu is %zu bytes, not %u", what, i,
						in[i].len, SHA256_LEN);
		memcpy(out[i], in[i].data, SHA256_LEN);
	}
	return VIGIL_OK;
}

int vigil_get_checkpoint(vigil_client *c, struct vigil_checkpoint *out, struct vigil_error *err)
{
	int rc = vigil__query_usable(c, "vigil_get_checkpoint", err);
	if (rc != VIGIL_OK)
		return rc;
	if (!out)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_get_checkpoint: out is NULL");
	Vigil__V1__GetCheckpoint g = VIGIL__V1__GET_CHECKPOINT__INIT;
	Vigil__V1__Frame req = VIGIL__V1__FRAME__INIT;
	req.msg_case = VIGIL__V1__FRAME__MSG_GET_CHECKPOINT;
	req.get_checkpoint = &g;
	Vigil__V1__Frame *a;
	rc = vigil__query_roundtrip(c, &req, VIGIL__V1__FRAME__MSG_CHECKPOINT,
				    "waiting for a checkpoint", &a, err);
	if (rc != VIGIL_OK)
		return rc;
	const char *note = a->checkpoint->note ? a->checkpoint->note : "";
	struct vigil_error e;
	rc = vigil_checkpoint_open(&c->ckey, note, strlen(note), out, &e);
	frame_free(a);
	if (rc != VIGIL_OK)
		return vigil__error_set(err, rc, "the relay's latest checkpoint: %s", e.message);
	return VIGIL_OK;
}

/* Fetches the proof for (index, tree_size) and checks its shape; out->root
 * is the root it leads to. */
static int fetch_inclusion(struct vigil_client *c, uint64_t index, uint64_t tree_size,
			   struct vigil_inclusion_proof *out, struct vigil_error *err)
{
	Vigil__V1__GetInclusionProof g = VIGIL__V1__GET_INCLUSION_PROOF__INIT;
	g.index = index;
	g.tree_size = tree_size;
	Vigil__V1__Frame req = VIGIL__V1__FRAME__INIT;
	req.msg_case = VIGIL__V1__FRAME__MSG_GET_INCLUSION_PROOF;
	req.get_inclusion_proof = &g;
	Vigil__V1__Frame *a;
	int rc = vigil__query_roundtrip(c, &req, VIGIL__V1__FRAME__MSG_INCLUSION_PROOF,
					"waiting for an inclusion proof", &a, err);
	if (rc != VIGIL_OK)
		return rc;
	const Vigil__V1__InclusionProof *p = a->inclusion_proof;
	char what[96];
	snprintf(what, sizeof(what), "the inclusion proof of entry %llu",
		 (unsigned long long)index);
	if (p->index != index || (tree_size && p->tree_size != tree_size))
		rc = vigil__error_set(err, VIGIL_E_VERIFY,
				      "%s in the tree of size %llu: the relay answered for entry "
				      "%llu in the tree of size %llu", what,
				      (unsigned long long)tree_size, (unsigned long long)p->index,
				      (unsigned long long)p->tree_size);
	else if (p->leaf_hash.len != SHA256_LEN)
		rc = vigil__error_set(err, VIGIL_E_VERIFY, "%s: a leaf hash of %zu bytes", what,
				      p->leaf_hash.len);
	else if (p->n_hashes > VIGIL_PROOF_MAX)
		rc = vigil__error_set(err, VIGIL_E_VERIFY, "%s has %zu nodes; no proof has more "
				      "than %d", what, p->n_hashes, VIGIL_PROOF_MAX);
	else
		rc = take_hashes(p->hashes, p->n_hashes, out->hashes, what, err);
	if (rc == VIGIL_OK) {
		out->index = p->index;
		out->tree_size = p->tree_size;
		out->n = p->n_hashes;
		memcpy(out->leaf_hash, p->leaf_hash.data, SHA256_LEN);
		if (vigil__inclusion_root(out->index, out->tree_size, out->leaf_hash,
					  (const merkle_hash *)out->hashes, out->n, out->root) != 0)
			rc = vigil__error_set(err, VIGIL_E_VERIFY,
					      "%s in the tree of size %llu has the wrong number of "
					      "nodes (%zu)", what, (unsigned long long)out->tree_size,
					      out->n);
	}
	frame_free(a);
	return rc;
}

int vigil_get_inclusion_proof(vigil_client *c, uint64_t index, uint64_t tree_size,
			      const struct vigil_checkpoint *cp, struct vigil_inclusion_proof *out,
			      struct vigil_error *err)
{
	int rc = vigil__query_usable(c, "vigil_get_inclusion_proof", err);
	if (rc != VIGIL_OK)
		return rc;
	if (!out)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_get_inclusion_proof: out is NULL");
	memset(out, 0, sizeof(*out));
	if (cp) {
		/* Ask for cp's size, not "the latest": the log may have grown. */
		if (tree_size == 0)
			tree_size = cp->size;
		if (tree_size > cp->size)
			return vigil__error_set(err, VIGIL_E_USAGE,
						"tree size %llu is beyond the checkpoint's size %llu",
						(unsigned long long)tree_size,
						(unsigned long long)cp->size);
	}
	rc = fetch_inclusion(c, index, tree_size, out, err);
	if (rc != VIGIL_OK || !cp)
		return rc;
	out->checkpoint_size = cp->size;
	if (tree_size == cp->size) {
		if (memcmp(out->root, cp->root, SHA256_LEN) != 0)
			return vigil__error_set(err, VIGIL_E_VERIFY,
						"the inclusion proof (%zu nodes) does not lead from the "
						"leaf hash of entry %llu to the root of the checkpoint "
						"of size %llu", out->n, (unsigned long long)index,
						(unsigned long long)cp->size);
		return VIGIL_OK;
	}
	/* A smaller tree: its root is what the proof leads to, if the
	 * checkpoint's tree extends a tree with that root. */
	struct vigil_consistency_proof cons;
	rc = vigil_get_consistency_proof(c, tree_size, cp->size, &cons, err);
	if (rc != VIGIL_OK)
		return rc;
	memcpy(out->consistency, cons.hashes, sizeof(out->consistency));
	out->n_consistency = cons.n;
	struct vigil_error e;
	if (vigil_verify_consistency(&cons, out->root, cp->root, &e) != VIGIL_OK)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the inclusion proof of entry %llu leads to a root of the "
					"tree of size %llu that is not the one the checkpoint of "
					"size %llu extends: %s", (unsigned long long)index,
					(unsigned long long)tree_size, (unsigned long long)cp->size,
					e.message);
	return VIGIL_OK;
}

int vigil_get_consistency_proof(vigil_client *c, uint64_t from_size, uint64_t to_size,
				struct vigil_consistency_proof *out, struct vigil_error *err)
{
	int rc = vigil__query_usable(c, "vigil_get_consistency_proof", err);
	if (rc != VIGIL_OK)
		return rc;
	if (!out)
		return vigil__error_set(err, VIGIL_E_USAGE,
					"vigil_get_consistency_proof: out is NULL");
	memset(out, 0, sizeof(*out));
	Vigil__V1__GetConsistencyProof g = VIGIL__V1__GET_CONSISTENCY_PROOF__INIT;
	g.from_size = from_size;
	g.to_size = to_size;
	Vigil__V1__Frame req = VIGIL__V1__FRAME__INIT;
	req.msg_case = VIGIL__V1__FRAME__MSG_GET_CONSISTENCY_PROOF;
	req.get_consistency_proof = &g;
	Vigil__V1__Frame *a;
	rc = vigil__query_roundtrip(c, &req, VIGIL__V1__FRAME__MSG_CONSISTENCY_PROOF,
				    "waiting for a consistency proof", &a, err);
	if (rc != VIGIL_OK)
		return rc;
	const Vigil__V1__ConsistencyProof *p = a->consistency_proof;
	char what[96];
	snprintf(what, sizeof(what), "the consistency proof from size %llu",
		 (unsigned long long)from_size);
	if (p->from_size != from_size || (to_size && p->to_size != to_size) ||
	    p->to_size < p->from_size)
		rc = vigil__error_set(err, VIGIL_E_VERIFY,
				      "%s to %llu: the relay answered from %llu to %llu", what,
				      (unsigned long long)to_size, (unsigned long long)p->from_size,
				      (unsigned long long)p->to_size);
	else if (p->n_hashes > VIGIL_PROOF_MAX)
		rc = vigil__error_set(err, VIGIL_E_VERIFY, "%s has %zu nodes; no proof has more "
				      "than %d", what, p->n_hashes, VIGIL_PROOF_MAX);
	else
		rc = take_hashes(p->hashes, p->n_hashes, out->hashes, what, err);
	if (rc == VIGIL_OK) {
		out->from_size = p->from_size;
		out->to_size = p->to_size;
		out->n = p->n_hashes;
	}
	frame_free(a);
	return rc;
}

int vigil_get_leaf_hashes(vigil_client *c, uint64_t start, uint32_t count, uint8_t *out,
			  struct vigil_error *err)
{
	int rc = vigil__query_usable(c, "vigil_get_leaf_hashes", err);
	if (rc != VIGIL_OK)
		return rc;
	if (!out)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_get_leaf_hashes: out is NULL");
	if (count == 0 || count > VIGIL_LEAF_HASHES_MAX)
		return vigil__error_set(err, VIGIL_E_USAGE, "count %u is not in 1..%d", count,
					VIGIL_LEAF_HASHES_MAX);
	Vigil__V1__GetLeafHashes g = VIGIL__V1__GET_LEAF_HASHES__INIT;
	g.start = start;
	g.count = count;
	Vigil__V1__Frame req = VIGIL__V1__FRAME__INIT;
	req.msg_case = VIGIL__V1__FRAME__MSG_GET_LEAF_HASHES;
	req.get_leaf_hashes = &g;
	Vigil__V1__Frame *a;
	rc = vigil__query_roundtrip(c, &req, VIGIL__V1__FRAME__MSG_LEAF_HASHES,
				    "waiting for leaf hashes", &a, err);
	if (rc != VIGIL_OK)
		return rc;
	const Vigil__V1__LeafHashes *l = a->leaf_hashes;
	if (l->start != start || l->n_hashes != count)
		rc = vigil__error_set(err, VIGIL_E_VERIFY,
				      "asked for the leaf hashes of entries %llu+%u, the relay "
				      "sent %zu from %llu", (unsigned long long)start, count,
				      l->n_hashes, (unsigned long long)l->start);
	else
		rc = take_hashes(l->hashes, l->n_hashes, (uint8_t(*)[SHA256_LEN])out,
				 "leaf hashes", err);
	frame_free(a);
	return rc;
}

int vigil__query_entry_check(const Vigil__V1__Entry *e, uint64_t lo, uint64_t hi,
			     int have_prev, uint64_t prev, struct vigil_error *err)
{
	if (e->index < lo || e->index >= hi || (have_prev && e->index <= prev))
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"the relay sent entry %llu, not in %llu..%llu in increasing "
					"order", (unsigned long long)e->index,
					(unsigned long long)lo, (unsigned long long)(hi - 1));
	if (e->record_erased) {
		/* Only its leaf hash is left: its inclusion proof vouches for it. */
		if (e->cert_sha256.len != SHA256_LEN || e->leaf_hash.len != SHA256_LEN ||
		    e->record.len || e->signature.len || e->sealed.len || !e->content_erased)
			return vigil__error_set(err, VIGIL_E_VERIFY,
						"entry %llu is marked erased but is malformed",
						(unsigned long long)e->index);
		return VIGIL_OK;
	}
	if (e->content_erased && e->sealed.len)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"entry %llu: its sealed text is marked erased but was sent",
					(unsigned long long)e->index);
	if (e->cert_sha256.len != SHA256_LEN || e->leaf_hash.len != SHA256_LEN ||
	    e->record.len == 0 || e->signature.len == 0)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"entry %llu is malformed (certificate hash, leaf hash, record "
					"or signature)", (unsigned long long)e->index);
	uint8_t h[SHA256_LEN];
	int rc = vigil_leaf_hash(e->received_at_ms, e->cert_sha256.data, e->record.data,
				 e->record.len, e->signature.data, e->signature.len, h);
	if (rc != VIGIL_OK)
		return vigil__error_set(err, rc, "cannot hash entry %llu",
					(unsigned long long)e->index);
	if (memcmp(h, e->leaf_hash.data, SHA256_LEN) != 0)
		return vigil__error_set(err, VIGIL_E_VERIFY,
					"entry %llu: its record, signature, certificate hash and "
					"receive time do not hash to its leaf hash",
					(unsigned long long)e->index);
	return VIGIL_OK;
}

int vigil_get_entries(vigil_client *c, uint64_t start, uint32_t count, struct vigil_entry **out,
		      size_t *n, struct vigil_error *err)
{
	if (out)
		*out = NULL;
	if (n)
		*n = 0;
	int rc = vigil__query_usable(c, "vigil_get_entries", err);
	if (rc != VIGIL_OK)
		return rc;
	if (!out || !n)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_get_entries: out is NULL");
	if (count == 0 || count > VIGIL_ENTRIES_MAX)
		return vigil__error_set(err, VIGIL_E_USAGE, "count %u is not in 1..%d", count,
					VIGIL_ENTRIES_MAX);
	Vigil__V1__GetEntries g = VIGIL__V1__GET_ENTRIES__INIT;
	g.start = start;
	g.count = count;
	Vigil__V1__Frame req = VIGIL__V1__FRAME__INIT;
	req.msg_case = VIGIL__V1__FRAME__MSG_GET_ENTRIES;
	req.get_entries = &g;
	Vigil__V1__Frame *a;
	rc = vigil__query_roundtrip(c, &req, VIGIL__V1__FRAME__MSG_ENTRIES, "waiting for entries",
				    &a, err);
	if (rc != VIGIL_OK)
		return rc;
	const Vigil__V1__Entries *en = a->entries;
	/* One block: the array, then every record and signature. */
	size_t bytes = 0;
	if (en->n_entries > count) {
		rc = vigil__error_set(err, VIGIL_E_VERIFY, "asked for at most %u entries, the relay "
				      "sent %zu", count, en->n_entries);
		goto out;
	}
	for (size_t i = 0; i < en->n_entries; i++) {
		rc = vigil__query_entry_check(en->entries[i], start, start + count, i > 0,
					      i ? en->entries[i - 1]->index : 0, err);
		if (rc != VIGIL_OK)
			goto out;
		bytes += en->entries[i]->record.len + en->entries[i]->signature.len +
			 en->entries[i]->sealed.len;
	}
	if (en->n_entries == 0)
		goto out;
	size_t head = en->n_entries * sizeof(struct vigil_entry);
	uint8_t *block = malloc(head + bytes);
	if (!block) {
		rc = vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
		goto out;
	}
	struct vigil_entry *list = (struct vigil_entry *)(void *)block;
	uint8_t *p = block + head;
	for (size_t i = 0; i < en->n_entries; i++) {
		const Vigil__V1__Entry *e = en->entries[i];
		struct vigil_entry *d = &list[i];
		d->index = e->index;
		d->received_at_ms = e->received_at_ms;
		memcpy(d->cert_sha256, e->cert_sha256.data, SHA256_LEN);
		memcpy(d->leaf_hash, e->leaf_hash.data, SHA256_LEN);
		if (e->record.len)
			memcpy(p, e->record.data, e->record.len);
		d->record = p;
		d->record_len = e->record.len;
		p += e->record.len;
		if (e->signature.len)
			memcpy(p, e->signature.data, e->signature.len);
		d->signature = p;
		d->signature_len = e->signature.len;
		p += e->signature.len;
		d->sealed = NULL;
		d->sealed_len = 0;
		d->content_erased = e->content_erased ? 1 : 0;
		d->record_erased = e->record_erased ? 1 : 0;
		if (!e->record.len)
			d->record = NULL;
		if (!e->signature.len)
			d->signature = NULL;
		if (e->sealed.len) {
			memcpy(p, e->sealed.data, e->sealed.len);
			d->sealed = p;
			d->sealed_len = e->sealed.len;
			p += e->sealed.len;
		}
	}
	*out = list;
	*n = en->n_entries;
out:
	frame_free(a);
	return rc;
}
