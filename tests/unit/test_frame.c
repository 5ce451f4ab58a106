/*
 * test_frame.c - proto/frame.c: reassembly of length-prefixed frames from
 * arbitrary chunks, the size limit, and Frame encoding and decoding.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"
#include "proto/status.h"

static void put_header(uint8_t *p, uint32_t n)
{
	p[0] = (uint8_t)(n >> 24);
	p[1] = (uint8_t)(n >> 16);
	p[2] = (uint8_t)(n >> 8);
	p[3] = (uint8_t)n;
}

/* A header for n bytes followed by n bytes of fill; *len is the total. */
static uint8_t *make_frame(uint32_t n, uint8_t fill, size_t *len)
{
	uint8_t *b = malloc(FRAME_HEADER_LEN + n);
	assert_non_null(b);
	put_header(b, n);
	memset(b + FRAME_HEADER_LEN, fill, n);
	*len = FRAME_HEADER_LEN + n;
	return b;
}

static void test_empty_payload(void **state)
{
	struct frame_reader r;
	const uint8_t zero[4] = { 0, 0, 0, 0 };
	const uint8_t *p = NULL;
	size_t n = 99;

	frame_reader_init(&r, 16);
	assert_int_equal(frame_reader_next(&r, &p, &n), 0); /* nothing fed yet */
	assert_int_equal(frame_reader_feed(&r, zero, sizeof(zero)), VG_OK);
	assert_int_equal(frame_reader_next(&r, &p, &n), 1);
	assert_int_equal(n, 0);
	assert_non_null(p);
	assert_int_equal(frame_reader_pending(&r), 0);
	assert_int_equal(frame_reader_next(&r, &p, &n), 0);
	frame_reader_free(&r);
}

static void test_exactly_max(void **state)
{
	struct frame_reader r;
	const uint8_t *p;
	size_t n, len;
	uint8_t *f = make_frame(16, 0xAB, &len);

	frame_reader_init(&r, 16);
	assert_int_equal(frame_reader_feed(&r, f, len), VG_OK);
	assert_int_equal(frame_reader_next(&r, &p, &n), 1);
	assert_int_equal(n, 16);
	assert_memory_equal(p, f + FRAME_HEADER_LEN, 16);
	assert_int_equal(frame_reader_pending(&r), 0);
	frame_reader_free(&r);
	free(f);
}

static void test_over_max_is_sticky(void **state)
{
	struct frame_reader r;
	const uint8_t *p = NULL;
	size_t n = 0, len;
	uint8_t hdr[4];

	frame_reader_init(&r, 16);
	put_header(hdr, 17);
	assert_int_equal(frame_reader_feed(&r, hdr, sizeof(hdr)), VG_OK);
	/* Refused on the header alone, before any payload is buffered. */
	assert_int_equal(frame_reader_next(&r, &p, &n), VG_ETOOLARGE);
	assert_null(p);
	assert_int_equal(frame_reader_next(&r, &p, &n), VG_ETOOLARGE);

	/* A valid frame afterwards does not revive the stream. */
	uint8_t *f = make_frame(1, 0x01, &len);
	assert_int_equal(frame_reader_feed(&r, f, len), VG_OK);
	assert_int_equal(frame_reader_next(&r, &p, &n), VG_ETOOLARGE);
	assert_null(p);
	free(f);
	frame_reader_free(&r);

	/* The largest header possible, with a default-sized reader. */
	frame_reader_init(&r, FRAME_DEFAULT_MAX);
	put_header(hdr, UINT32_MAX);
	assert_int_equal(frame_reader_feed(&r, hdr, sizeof(hdr)), VG_OK);
	assert_int_equal(frame_reader_next(&r, &p, &n), VG_ETOOLARGE);
	frame_reader_free(&r);
}

/* An oversized frame after a good one: the good one still comes out. */
static void test_over_max_after_good(void **state)
{
	struct frame_reader r;
	const uint8_t *p;
	size_t n;
	uint8_t buf[4 + 3 + 4];

	put_header(buf, 3);
	memcpy(buf + 4, "abc", 3);
	put_header(buf + 7, 1000);
	frame_reader_init(&r, 16);
	assert_int_equal(frame_reader_feed(&r, buf, sizeof(buf)), VG_OK);
	assert_int_equal(frame_reader_next(&r, &p, &n), 1);
	assert_int_equal(n, 3);
	assert_memory_equal(p, "abc", 3);
	assert_int_equal(frame_reader_next(&r, &p, &n), VG_ETOOLARGE);
	assert_int_equal(frame_reader_next(&r, &p, &n), VG_ETOOLARGE);
	frame_reader_free(&r);
}

static void test_truncated_header(void **state)
{
	struct frame_reader r;
	const uint8_t *p;
	size_t n;
	uint8_t hdr[4];

	put_header(hdr, 2);
	frame_reader_init(&r, 16);
	assert_int_equal(frame_reader_feed(&r, hdr, 3), VG_OK);
	assert_int_equal(frame_reader_next(&r, &p, &n), 0);
	assert_int_equal(frame_reader_pending(&r), 3);
	assert_int_equal(frame_reader_feed(&r, hdr + 3, 1), VG_OK);
	assert_int_equal(frame_reader_next(&r, &p, &n), 0);
	assert_int_equal(frame_reader_feed(&r, "xy", 2), VG_OK);
	assert_int_equal(frame_reader_next(&r, &p, &n), 1);
	assert_int_equal(n, 2);
	assert_memory_equal(p, "xy", 2);
	frame_reader_free(&r);
}

static void test_truncated_payload(void **state)
{
	struct frame_reader r;
	const uint8_t *p;
	size_t n, len;
	uint8_t *f = make_frame(10, 0x5A, &len);

	frame_reader_init(&r, 16);
	assert_int_equal(frame_reader_feed(&r, f, FRAME_HEADER_LEN + 5), VG_OK);
	assert_int_equal(frame_reader_next(&r, &p, &n), 0);
	assert_int_equal(frame_reader_pending(&r), FRAME_HEADER_LEN + 5);
	assert_int_equal(frame_reader_feed(&r, f + FRAME_HEADER_LEN + 5, 4), VG_OK);
	assert_int_equal(frame_reader_next(&r, &p, &n), 0);
	assert_int_equal(frame_reader_feed(&r, f + len - 1, 1), VG_OK);
	assert_int_equal(frame_reader_next(&r, &p, &n), 1);
	assert_int_equal(n, 10);
	assert_memory_equal(p, f + FRAME_HEADER_LEN, 10);
	frame_reader_free(&r);
	free(f);
}

static void test_feed_nothing(void **state)
{
	struct frame_reader r;
	const uint8_t *p;
	size_t n;

	frame_reader_init(&r, 16);
	assert_int_equal(frame_reader_feed(&r, NULL, 0), VG_OK);
	assert_int_equal(frame_reader_pending(&r), 0);
	assert_int_equal(frame_reader_next(&r, &p, &n), 0);
	frame_reader_free(&r);
	frame_reader_free(&r); /* free leaves a reader that can be freed again */
}

static uint8_t *encode_hello(uint64_t request_id, const char *software, size_t *len)
{
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
	uint8_t *out = NULL;
	h.protocol_version = 1;
	h.software = (char *)software;
	f.request_id = request_id;
	f.msg_case = VIGIL__V1__FRAME__MSG_HELLO;
	f.hello = &h;
	assert_int_equal(frame_encode(&f, FRAME_DEFAULT_MAX, &out, len), VG_OK);
	assert_non_null(out);
	return out;
}

static void assert_hello(const uint8_t *payload, size_t n, uint64_t request_id,
			 const char *software)
{
	Vigil__V1__Frame *f = NULL;
	assert_int_equal(frame_decode(payload, n, &f), VG_OK);
	assert_non_null(f);
	assert_int_equal(f->request_id, request_id);
	assert_int_equal(f->msg_case, VIGIL__V1__FRAME__MSG_HELLO);
	assert_non_null(f->hello);
	assert_int_equal(f->hello->protocol_version, 1);
	assert_string_equal(f->hello->software, software);
	frame_free(f);
}

static void test_byte_by_byte(void **state)
{
	struct frame_reader r;
	const uint8_t *p;
	size_t n, len;
	uint8_t *b = encode_hello(7, "libvigil/0.1.0", &len);

	frame_reader_init(&r, FRAME_DEFAULT_MAX);
	for (size_t i = 0; i < len; i++) {
		assert_int_equal(frame_reader_next(&r, &p, &n), 0);
		assert_int_equal(frame_reader_feed(&r, b + i, 1), VG_OK);
		assert_int_equal(frame_reader_pending(&r), i + 1);
	}
	assert_int_equal(frame_reader_next(&r, &p, &n), 1);
	assert_int_equal(n, len - FRAME_HEADER_LEN);
	assert_hello(p, n, 7, "libvigil/0.1.0");
	assert_int_equal(frame_reader_next(&r, &p, &n), 0);
	assert_int_equal(frame_reader_pending(&r), 0);
	frame_reader_free(&r);
	free(b);
}

static void test_several_in_one_feed(void **state)
{
	struct frame_reader r;
	const uint8_t *p;
	size_t n, l1, l2, l3;
	uint8_t *f1 = encode_hello(1, "one", &l1);
	uint8_t *f2 = encode_hello(2, "", &l2);
	uint8_t *f3 = encode_hello(UINT64_MAX, "three", &l3);
	uint8_t *all = malloc(l1 + l2 + l3 + 2);
	assert_non_null(all);
	memcpy(all, f1, l1);
	memcpy(all + l1, f2, l2);
	memcpy(all + l1 + l2, f3, l3);
	memcpy(all + l1 + l2 + l3, f1, 2); /* and the start of a fourth */

	frame_reader_init(&r, FRAME_DEFAULT_MAX);
	assert_int_equal(frame_reader_feed(&r, all, l1 + l2 + l3 + 2), VG_OK);
	assert_int_equal(frame_reader_next(&r, &p, &n), 1);
	assert_hello(p, n, 1, "one");
	assert_int_equal(frame_reader_next(&r, &p, &n), 1);
	assert_hello(p, n, 2, "");
	assert_int_equal(frame_reader_next(&r, &p, &n), 1);
	assert_hello(p, n, UINT64_MAX, "three");
	assert_int_equal(frame_reader_next(&r, &p, &n), 0);
	assert_int_equal(frame_reader_pending(&r), 2);

	/* The rest of the fourth, fed later, completes it. */
	assert_int_equal(frame_reader_feed(&r, f1 + 2, l1 - 2), VG_OK);
	assert_int_equal(frame_reader_next(&r, &p, &n), 1);
	assert_hello(p, n, 1, "one");
	frame_reader_free(&r);
	free(all);
	free(f1);
	free(f2);
	free(f3);
}

/* Many frames through a small reader: the buffer must not only grow. */
static void test_long_stream(void **state)
{
	struct frame_reader r;
	const uint8_t *p;
	size_t n, len;
	uint8_t *f = make_frame(1000, 0x77, &len);

	frame_reader_init(&r, 1000);
	for (int i = 0; i < 1000; i++) {
		/* Feed in two uneven pieces so frames straddle feeds. */
		assert_int_equal(frame_reader_feed(&r, f, 333), VG_OK);
		assert_int_equal(frame_reader_feed(&r, f + 333, len - 333), VG_OK);
		assert_int_equal(frame_reader_next(&r, &p, &n), 1);
		assert_int_equal(n, 1000);
		assert_memory_equal(p, f + FRAME_HEADER_LEN, 1000);
	}
	assert_true(r.cap <= 4096);
	frame_reader_free(&r);
	free(f);
}

static void test_encode_decode_round_trip(void **state)
{
	size_t len;
	uint8_t *b = encode_hello(42, "libvigil/0.1.0", &len);
	uint32_t n = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) |
		     ((uint32_t)b[2] << 8) | b[3];
	assert_int_equal(n, len - FRAME_HEADER_LEN);
	assert_hello(b + FRAME_HEADER_LEN, n, 42, "libvigil/0.1.0");
	free(b);
}

static void test_encode_too_large(void **state)
{
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
	uint8_t *out = (uint8_t *)&f; /* must stay untouched */
	size_t len = 12345;
	char software[64];

	memset(software, 's', sizeof(software) - 1);
	software[sizeof(software) - 1] = '\0';
	h.protocol_version = 1;
	h.software = software;
	f.msg_case = VIGIL__V1__FRAME__MSG_HELLO;
	f.hello = &h;

	size_t packed = vigil__v1__frame__get_packed_size(&f);
	assert_int_equal(frame_encode(&f, packed - 1, &out, &len), VG_ETOOLARGE);
	assert_ptr_equal(out, (uint8_t *)&f);
	assert_int_equal(len, 12345);

	/* Exactly at the limit is fine. */
	assert_int_equal(frame_encode(&f, packed, &out, &len), VG_OK);
	assert_int_equal(len, packed + FRAME_HEADER_LEN);
	free(out);
}

static void test_decode_garbage(void **state)
{
	static const struct {
		const uint8_t *b;
		size_t n;
	} cases[] = {
		/* an 11-byte varint tag */
		{ (const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11 },
		/* field 2 (hello) claiming 5 bytes, only 1 present */
		{ (const uint8_t *)"\x12\x05\x08", 3 },
		/* field 1 (request_id) as a truncated varint */
		{ (const uint8_t *)"\x08\x80", 2 },
		/* wire type 7 does not exist */
		{ (const uint8_t *)"\x0f\x00", 2 },
		/* field number 0 is invalid */
		{ (const uint8_t *)"\x00\x00", 2 },
		/* hello whose field 1 has the wrong wire type (length-delimited) */
		{ (const uint8_t *)"\x12\x02\x0a\x00", 4 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Vigil__V1__Frame *f = NULL;
		if (frame_decode(cases[i].b, cases[i].n, &f) != VG_EBADREQ)
			fail_msg("garbage case %zu decoded", i);
		assert_null(f);
	}
}

static void test_decode_no_message(void **state)
{
	Vigil__V1__Frame *f = NULL;
	Vigil__V1__Frame empty = VIGIL__V1__FRAME__INIT;
	uint8_t buf[16];

	/* Zero bytes are a valid, empty Frame: no msg, so refused. */
	assert_int_equal(frame_decode((const uint8_t *)"", 0, &f), VG_EBADREQ);
	assert_null(f);

	/* A request_id alone is no better. */
	empty.request_id = 9;
	size_t n = vigil__v1__frame__pack(&empty, buf);
	assert_true(n > 0);
	assert_int_equal(frame_decode(buf, n, &f), VG_EBADREQ);
	assert_null(f);

	frame_free(NULL);
}

/* An idle reader holds no buffer: trimmed with nothing pending, it frees
 * it, and the next frame is taken as if the reader were new. */
static void test_trim_when_idle(void **state)
{
	struct frame_reader r;
	const uint8_t *p;
	size_t n, len;
	uint8_t *f = make_frame(40, 0x11, &len);

	frame_reader_init(&r, 1024);
	frame_reader_trim(&r); /* never fed: nothing to do */
	assert_null(r.buf);
	assert_int_equal(frame_reader_feed(&r, f, len), VG_OK);
	/* Sized to what came, not to a fixed first size. */
	assert_true(r.cap >= len && r.cap <= 256);
	frame_reader_trim(&r); /* a whole frame not yet taken: kept */
	assert_non_null(r.buf);
	assert_int_equal(frame_reader_next(&r, &p, &n), 1);
	assert_int_equal(n, 40);
	assert_memory_equal(p, f + FRAME_HEADER_LEN, 40);
	frame_reader_trim(&r);
	assert_null(r.buf);
	assert_int_equal(r.cap, 0);
	assert_int_equal(frame_reader_pending(&r), 0);
	assert_int_equal(frame_reader_next(&r, &p, &n), 0);
	/* Again after the idle time. */
	assert_int_equal(frame_reader_feed(&r, f, len), VG_OK);
	assert_int_equal(frame_reader_next(&r, &p, &n), 1);
	assert_int_equal(n, 40);
	assert_memory_equal(p, f + FRAME_HEADER_LEN, 40);
	frame_reader_free(&r);
	free(f);
}

/* A frame of exactly max_frame bytes after an idle period (the buffer
 * freed), arriving in reads of every size across the header and the
 * payload: the buffer grows from nothing to the frame, and after it was
 * taken gives everything back. */
static void test_max_frame_after_idle(void **state)
{
	const size_t max = 65536;
	static const size_t chunks[] = { 1, 3, 4, 5, 1000, 16384, 65540 };
	size_t len;
	uint8_t *f = make_frame((uint32_t)max, 0x5A, &len);
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct frame_reader r;
		const uint8_t *p;
		size_t n;
		uint8_t *small;
		size_t small_len;

		frame_reader_init(&r, max);
		small = make_frame(8, 0x01, &small_len);
		assert_int_equal(frame_reader_feed(&r, small, small_len), VG_OK);
		assert_int_equal(frame_reader_next(&r, &p, &n), 1);
		frame_reader_trim(&r); /* idle */
		assert_null(r.buf);
		for (size_t off = 0; off < len; off += chunks[c]) {
			size_t k = len - off < chunks[c] ? len - off : chunks[c];
			assert_int_equal(frame_reader_next(&r, &p, &n), 0);
			assert_int_equal(frame_reader_feed(&r, f + off, k), VG_OK);
			/* Never more than twice what is buffered (rounded). */
			assert_true(r.cap <= 2 * (off + k) + 256);
			frame_reader_trim(&r); /* a partial frame is kept whole */
			assert_int_equal(frame_reader_pending(&r), off + k);
		}
		assert_int_equal(frame_reader_next(&r, &p, &n), 1);
		assert_int_equal(n, max);
		assert_memory_equal(p, f + FRAME_HEADER_LEN, max);
		frame_reader_trim(&r);
		assert_null(r.buf);
		/* The small frame again, into a fresh buffer of its size. */
		assert_int_equal(frame_reader_feed(&r, small, small_len), VG_OK);
		assert_true(r.cap <= 256);
		assert_int_equal(frame_reader_next(&r, &p, &n), 1);
		assert_int_equal(n, 8);
		frame_reader_free(&r);
		free(small);
	}
	free(f);
}

/* Trimmed while a partial frame waits in a buffer grown for more (a large
 * frame taken before it, in the same read), the reader shrinks to the
 * partial frame, keeps its bytes, and completes it from later reads. */
static void test_trim_shrinks_around_partial(void **state)
{
	struct frame_reader r;
	const uint8_t *p;
	size_t n, big_len, small_len;
	uint8_t *big = make_frame(20000, 0x22, &big_len);
	uint8_t *small = make_frame(100, 0x33, &small_len);
	uint8_t *both = malloc(big_len + 10);
	assert_non_null(both);
	memcpy(both, big, big_len);
	memcpy(both + big_len, small, 10); /* the small frame's first 10 bytes */

	frame_reader_init(&r, 65536);
	assert_int_equal(frame_reader_feed(&r, both, big_len + 10), VG_OK);
	assert_true(r.cap >= big_len + 10);
	assert_int_equal(frame_reader_next(&r, &p, &n), 1);
	assert_int_equal(n, 20000);
	assert_int_equal(frame_reader_next(&r, &p, &n), 0);
	frame_reader_trim(&r);
	assert_int_equal(frame_reader_pending(&r), 10);
	assert_true(r.cap <= 256);
	assert_int_equal(frame_reader_feed(&r, small + 10, small_len - 10), VG_OK);
	assert_int_equal(frame_reader_next(&r, &p, &n), 1);
	assert_int_equal(n, 100);
	assert_memory_equal(p, small + FRAME_HEADER_LEN, 100);
	/* A failed reader stays failed across a trim. */
	uint8_t hdr[4];
	put_header(hdr, 65537);
	assert_int_equal(frame_reader_feed(&r, hdr, 4), VG_OK);
	assert_int_equal(frame_reader_next(&r, &p, &n), VG_ETOOLARGE);
	frame_reader_trim(&r);
	assert_int_equal(frame_reader_next(&r, &p, &n), VG_ETOOLARGE);
	frame_reader_free(&r);
	free(both);
	free(small);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_payload),
		cmocka_unit_test(test_exactly_max),
		cmocka_unit_test(test_over_max_is_sticky),
		cmocka_unit_test(test_over_max_after_good),
		cmocka_unit_test(test_truncated_header),
		cmocka_unit_test(test_truncated_payload),
		cmocka_unit_test(test_feed_nothing),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_several_in_one_feed),
		cmocka_unit_test(test_long_stream),
		cmocka_unit_test(test_encode_decode_round_trip),
		cmocka_unit_test(test_encode_too_large),
		cmocka_unit_test(test_decode_garbage),
		cmocka_unit_test(test_decode_no_message),
		cmocka_unit_test(test_trim_when_idle),
		cmocka_unit_test(test_max_frame_after_idle),
		cmocka_unit_test(test_trim_shrinks_around_partial),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
