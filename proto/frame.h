/*
 * frame.h - length-prefixed framing of vigil Frames.
 *
 * On the wire every Frame is preceded by its payload length as a 4-byte
 * big-endian unsigned integer.  A frame_reader reassembles frames from
 * arbitrary chunks of a byte stream (as TLS hands them over) and enforces
 * the maximum payload size before buffering the payload.
 *
 * Ownership: the reader owns its buffer.  A payload pointer returned by
 * frame_reader_next() points into that buffer and stays valid until the
 * next call to frame_reader_feed(), frame_reader_trim() or frame_reader_free().
 */
#ifndef VIGIL_PROTO_FRAME_H
#define VIGIL_PROTO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "proto/vigil.pb-c.h"

#define FRAME_HEADER_LEN 4u
#define FRAME_DEFAULT_MAX (1024u * 1024u)

struct frame_reader {
	uint8_t *buf;      /* buffered bytes; [off, len) not yet returned */
	size_t len;
	size_t off;
	size_t cap;
	size_t max_frame;  /* largest payload accepted */
	int failed;        /* sticky: set once an oversized header was seen */
};

void frame_reader_init(struct frame_reader *r, size_t max_frame);
void frame_reader_free(struct frame_reader *r);

/* Appends n bytes of the stream.  VG_ENOMEM on allocation failure. */
int frame_reader_feed(struct frame_reader *r, const void *data, size_t n);

/*
 * Takes the next complete frame.  Returns 1 and sets *payload and *len when one
 * is complete, 0 when more bytes are needed, VG_ETOOLARGE when the next
 * header announces more than max_frame bytes (the reader then stays failed).
 */
int frame_reader_next(struct frame_reader *r, const uint8_t **payload, size_t *len);

/* Bytes buffered but not yet returned as frames. */
size_t frame_reader_pending(const struct frame_reader *r);

/*
 * Gives back what the reader does not need while it waits for its peer:
 * the whole buffer when nothing is pending (every frame fed was returned),
 * or, when a partial frame is pending in a buffer more than twice its size
 * (grown for a large frame or a run of pipelined ones), all but what holds
 * that frame's bytes.  The next frame_reader_feed() grows it again, sized
 * to what it is fed.  Like a feed, it ends the validity of payload
 * pointers returned before.
 */
void frame_reader_trim(struct frame_reader *r);

/*
 * Serializes a Frame with its length prefix into a new buffer (*out, to be
 * freed with free()).  VG_ETOOLARGE if the payload would exceed max_frame.
 */
int frame_encode(const Vigil__V1__Frame *f, size_t max_frame, uint8_t **out, size_t *out_len);

/*
 * Decodes one payload into a Frame (free it with frame_free()).  VG_EBADREQ
 * when the bytes are not a Frame, or carry no message.
 */
int frame_decode(const uint8_t *payload, size_t len, Vigil__V1__Frame **out);
void frame_free(Vigil__V1__Frame *f);

#endif
