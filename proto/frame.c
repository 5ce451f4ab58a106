#include "proto/frame.h"

#include <stdlib.h>
#include <string.h>

#include "proto/status.h"

void frame_reader_init(struct frame_reader *r, size_t max_frame)
{
	memset(r, 0, sizeof(*r));
	r->max_frame = max_frame;
}

void frame_reader_free(struct frame_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

size_t frame_reader_pending(const struct frame_reader *r)
{
	return r->len - r->off;
}

/* Buffers are sized in multiples of this. */
#define FRAME_READER_ROUND 256u

static size_t round_cap(size_t n)
{
	return (n + FRAME_READER_ROUND - 1) / FRAME_READER_ROUND * FRAME_READER_ROUND;
}

void frame_reader_trim(struct frame_reader *r)
{
	size_t pending = r->len - r->off;
	if (pending == 0) {
		free(r->buf);
		r->buf = NULL;
		r->len = r->off = r->cap = 0;
		return;
	}
	/* A partial frame in a buffer grown for more (a large frame, a run
	 * of pipelined ones): keep it, in a buffer of its size. */
	if (r->cap <= 2 * round_cap(pending))
		return;
	memmove(r->buf, r->buf + r->off, pending);
	r->len = pending;
	r->off = 0;
	uint8_t *nb = realloc(r->buf, round_cap(pending));
	if (nb) { /* else the larger one stays: nothing lost */
		r->buf = nb;
		r->cap = round_cap(pending);
	}
}

int frame_reader_feed(struct frame_reader *r, const void *data, size_t n)
{
	if (n == 0)
		return VG_OK;
	/* Drop what was already returned before growing, so the buffer holds
	 * at most one partial frame plus the newest chunk. */
	if (r->off > 0) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	size_t need = r->len + n;
	if (need > r->cap) {
		/* Sized to the bytes that arrived, never to what a header only
		 * announces (a peer would make the relay hold max_frame for
		 * four bytes); geometric growth while a large frame or a run of
		 * pipelined ones arrives.  A reader that starts empty (new, or
		 * emptied by frame_reader_trim) gets what it is fed. */
		size_t cap = r->cap * 2;
		if (cap < need)
			cap = need;
		cap = round_cap(cap);
		uint8_t *nb = realloc(r->buf, cap);
		if (!nb)
			return VG_ENOMEM;
		r->buf = nb;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	return VG_OK;
}

int frame_reader_next(struct frame_reader *r, const uint8_t **payload, size_t *len)
{
	if (r->failed)
		return VG_ETOOLARGE;
	size_t avail = r->len - r->off;
	if (avail < FRAME_HEADER_LEN)
		return 0;
	const uint8_t *h = r->buf + r->off;
	uint32_t n = ((uint32_t)h[0] << 24) | ((uint32_t)h[1] << 16) |
		     ((uint32_t)h[2] << 8) | (uint32_t)h[3];
	if (n > r->max_frame) {
		r->failed = 1;
		return VG_ETOOLARGE;
	}
	if (avail - FRAME_HEADER_LEN < n)
		return 0;
	*payload = h + FRAME_HEADER_LEN;
	*len = n;
	r->off += FRAME_HEADER_LEN + n;
	return 1;
}

int frame_encode(const Vigil__V1__Frame *f, size_t max_frame, uint8_t **out, size_t *out_len)
{
	size_t n = vigil__v1__frame__get_packed_size(f);
	if (n > max_frame || n > UINT32_MAX)
		return VG_ETOOLARGE;
	uint8_t *b = malloc(FRAME_HEADER_LEN + n);
	if (!b)
		return VG_ENOMEM;
	b[0] = (uint8_t)(n >> 24);
	b[1] = (uint8_t)(n >> 16);
	b[2] = (uint8_t)(n >> 8);
	b[3] = (uint8_t)n;
	vigil__v1__frame__pack(f, b + FRAME_HEADER_LEN);
	*out = b;
	*out_len = FRAME_HEADER_LEN + n;
	return VG_OK;
}

int frame_decode(const uint8_t *payload, size_t len, Vigil__V1__Frame **out)
{
	Vigil__V1__Frame *f = vigil__v1__frame__unpack(NULL, len, payload);
	if (!f)
		return VG_EBADREQ;
	if (f->msg_case == VIGIL__V1__FRAME__MSG__NOT_SET) {
		vigil__v1__frame__free_unpacked(f, NULL);
		return VG_EBADREQ;
	}
	*out = f;
	return VG_OK;
}

void frame_free(Vigil__V1__Frame *f)
{
	if (f)
		vigil__v1__frame__free_unpacked(f, NULL);
}
