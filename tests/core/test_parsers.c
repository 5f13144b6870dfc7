/* SPDX-License-Identifier: MIT */
/*
 * Regression tests of the stream parsers' memory-safety findings (issue 11
 * and the fuzz runs, tests/fuzz/README.md), each driving the parser that
 * had the bug directly with the record that broke it:
 * - STATE: a continuation chunk announcing another blob length was copied
 *   before the check (heap overflow on the destination);
 * - a first STATE chunk made the destination allocate the announced blob
 *   length at once (1 GiB for a 40-byte record);
 * - DISCARD after a post-copy reconnect: first_word + nwords wrapped (heap
 *   write on the source), and bits past the region's last page were taken
 *   (the sweep would send memory beyond the region);
 * - REFETCH before the source's bitmaps exist (NULL dereference);
 * - REQ/DISCARD unpack left their output undefined on a short record,
 *   which callers read;
 * - records of one fixed length (SWITCH, DRAIN, ROUND...) of any length.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "source/source_main.h"
#include "testutil.h"

#define NPAGES 67u /* not a multiple of 64: the bitmap's tail counts */
#define WORDS ((NPAGES + 63) / 64)

static uint8_t *mem;

/* A source past the handshake: one region, no channel, no bitmap yet. */
static struct vmmig_source *new_source(void)
{
	struct vmmig_source *src;

	mem = mmap(NULL, NPAGES * 4096, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(mem, MAP_FAILED);
	ck_assert_int_eq(vmmig_source_new(&src), 0);
	ck_assert_int_eq(vmmig_source_add_region(src, 3, 0, mem,
						 NPAGES * 4096), 0);
	return src;
}

/* The bitmaps the migration thread allocates before the first page. */
static void add_bitmaps(struct vmmig_source *src)
{
	uint64_t ***bms[] = { &src->send_bm, &src->dirty_bm, &src->refetch_bm };

	for (unsigned i = 0; i < 3; i++) {
		*bms[i] = calloc(1, sizeof(uint64_t *));
		ck_assert_ptr_nonnull(*bms[i]);
		(*bms[i])[0] = calloc(WORDS, 8);
		ck_assert_ptr_nonnull((*bms[i])[0]);
	}
}

static void free_source(struct vmmig_source *src)
{
	uint64_t **bms[] = { src->send_bm, src->dirty_bm, src->refetch_bm };

	for (unsigned i = 0; i < 3; i++)
		if (bms[i]) {
			free(bms[i][0]);
			free(bms[i]);
		}
	vmmig_source_free(src);
	munmap(mem, NPAGES * 4096);
}

/* A DISCARD record from the destination after a reconnect. */
static int missing(struct vmmig_source *src, uint16_t flags, uint64_t first,
		   uint32_t nwords, const uint64_t *words)
{
	uint8_t buf[WIRE_DISCARD_HEAD + 8 * 4];
	struct wire_hdr h = { .type = WIRE_DISCARD, .flags = flags,
			      .len = WIRE_DISCARD_HEAD + 8 * nwords };
	char err[WIRE_ERRLEN] = "";
	int ret;

	ck_assert_uint_le(nwords, 4);
	wire_discard_pack(buf, &(struct wire_discard){
		.region_id = 3, .nwords = nwords, .first_word = first });
	memcpy(buf + WIRE_DISCARD_HEAD, words, 8 * (size_t)nwords);
	ret = src_postcopy_on_missing(src, &h, buf, err, sizeof(err));
	if (ret < 0)
		ck_assert_msg(err[0], "no reason given");
	return ret;
}

START_TEST(discard_first_word_wraps)
{
	struct vmmig_source *src = new_source();
	uint64_t ones[2] = { ~0ull, ~0ull };

	add_bitmaps(src);
	/* first_word + 2 wraps to 1, which "fits" in a 2-word bitmap. */
	ck_assert_int_eq(missing(src, 0, UINT64_MAX, 2, ones), -EPROTO);
	ck_assert_int_eq(missing(src, 0, UINT64_MAX - 1, 2, ones), -EPROTO);
	ck_assert_int_eq(missing(src, 0, 2, 1, ones), -EPROTO);
	ck_assert_int_eq(missing(src, 0, 1, 2, ones), -EPROTO);
	ck_assert_uint_eq(src->send_bm[0][0] | src->send_bm[0][1], 0);
	free_source(src);
}
END_TEST

START_TEST(discard_bits_past_region)
{
	struct vmmig_source *src = new_source();
	uint64_t past[2] = { 1, 1ull << (NPAGES % 64) }; /* page 67 */
	uint64_t last[2] = { 1, 1ull << (NPAGES % 64 - 1) }; /* page 66 */

	add_bitmaps(src);
	ck_assert_int_eq(missing(src, 0, 0, 2, past), -EPROTO);
	ck_assert_int_eq(missing(src, 0, 1, 1, past + 1), -EPROTO);
	ck_assert_uint_eq(src->send_bm[0][0] | src->send_bm[0][1], 0);
	/* The region's last page is fine, and RESUMED ends the list. */
	ck_assert_int_eq(missing(src, 0, 0, 2, last), 0);
	ck_assert_uint_eq(src->send_bm[0][0], 1);
	ck_assert_uint_eq(src->send_bm[0][1], last[1]);
	ck_assert_int_eq(src_postcopy_on_missing(src, &(struct wire_hdr){
		.type = WIRE_RESUMED }, NULL, (char[8]){ 0 }, 8), 1);
	free_source(src);
}
END_TEST

START_TEST(discard_early_from_destination)
{
	struct vmmig_source *src = new_source();
	uint64_t w[1] = { 1 };

	add_bitmaps(src);
	/* EARLY only goes source to destination. */
	ck_assert_int_eq(missing(src, WIRE_DISCARD_EARLY, 0, 1, w), -EPROTO);
	ck_assert_uint_eq(src->send_bm[0][0], 0);
	free_source(src);
}
END_TEST

START_TEST(refetch_before_bitmaps)
{
	struct vmmig_source *src = new_source();
	uint8_t buf[WIRE_REQ_HEAD + 8];
	struct wire_hdr h = { .type = WIRE_REQ, .flags = WIRE_REQ_REFETCH,
			      .len = sizeof(buf) };
	uint64_t page = 5;

	/* Right after HELLO_ACK: the return path reads, no bitmap yet. */
	ck_assert_int_eq(wire_req_pack(buf, sizeof(buf), &(struct wire_req){
		.region_id = 3, .count = 1 }, &page), (int)sizeof(buf));
	ck_assert_int_eq(src_rp_on_record(src, &h, buf), -EPROTO);
	ck_assert_int_eq(failure_code(&src->sess.fail), -EPROTO);
	free_source(src);
}
END_TEST

START_TEST(short_records_unpack_defined)
{
	uint8_t buf[8] = { 0 };
	struct wire_discard d;
	struct wire_req q;
	char err[WIRE_ERRLEN];

	memset(&q, 0xa5, sizeof(q));
	memset(&d, 0xa5, sizeof(d));
	ck_assert_int_eq(wire_req_unpack(buf, 4, &q, err, sizeof(err)),
			 -EPROTO);
	ck_assert_int_eq(wire_discard_unpack(buf, 4, &d, err, sizeof(err)),
			 -EPROTO);
	/* Callers look up the region before checking the result. */
	ck_assert_uint_eq(q.region_id, 0);
	ck_assert_uint_eq(d.region_id, 0);
	ck_assert_uint_eq(d.first_word, 0);
}
END_TEST

/* A stream of records in memory, for a wire_reader. */
struct mem_stream {
	uint8_t buf[512];
	size_t len, pos;
	uint32_t seq;
};

static int mem_read(void *cookie, const struct iovec *iov, int n)
{
	struct mem_stream *m = cookie;

	for (int i = 0; i < n; i++) {
		if (iov[i].iov_len > m->len - m->pos)
			return -ECONNRESET;
		memcpy(iov[i].iov_base, m->buf + m->pos, iov[i].iov_len);
		m->pos += iov[i].iov_len;
	}
	return 0;
}

static int mem_write(void *cookie, const struct iovec *iov, int n)
{
	struct mem_stream *m = cookie;

	for (int i = 0; i < n; i++) {
		ck_assert_uint_le(iov[i].iov_len, sizeof(m->buf) - m->len);
		memcpy(m->buf + m->len, iov[i].iov_base, iov[i].iov_len);
		m->len += iov[i].iov_len;
	}
	return 0;
}

/* Read one record of @type with @len payload bytes: 0 or -EPROTO. */
static int read_one(uint16_t type, size_t len)
{
	static const uint8_t zero[64];
	struct mem_stream m = { .len = 0 };
	struct wire_reader *rd;
	const uint8_t *p;
	struct wire_hdr h;
	int ret;

	ck_assert_uint_le(len, sizeof(zero));
	ck_assert_int_eq(wire_write_record(mem_write, &m, type, 0, 0,
					   len ? zero : NULL, len), 0);
	ck_assert_int_eq(wire_reader_new(mem_read, &m, NULL, 0, &rd), 0);
	ret = wire_reader_next(rd, &h, &p, NULL);
	wire_reader_free(rd);
	return ret;
}

START_TEST(fixed_length_records)
{
	/* Found reading the reader: a SWITCH (or DRAIN...) with a payload
	 * and a ROUND of any length were taken. */
	ck_assert_int_eq(read_one(WIRE_SWITCH, 0), 0);
	ck_assert_int_eq(read_one(WIRE_SWITCH, 4), -EPROTO);
	ck_assert_int_eq(read_one(WIRE_DRAIN, 1), -EPROTO);
	ck_assert_int_eq(read_one(WIRE_DRAINED, 8), -EPROTO);
	ck_assert_int_eq(read_one(WIRE_RESUMED, 16), -EPROTO);
	ck_assert_int_eq(read_one(WIRE_ROUND, WIRE_ROUND_SIZE), 0);
	ck_assert_int_eq(read_one(WIRE_ROUND, 8), -EPROTO);
	ck_assert_int_eq(read_one(WIRE_ROUND, 0), -EPROTO);
}
END_TEST

/* One STATE record's payload into @s. */
static int state(struct vmmig_state_sink *s, uint32_t id, uint64_t total,
		 uint64_t off, size_t n, bool last)
{
	static uint8_t buf[WIRE_STATE_HEAD + 8192];
	char err[WIRE_ERRLEN] = "";
	int ret;

	ck_assert_uint_le(n, 8192);
	wire_state_pack(buf, &(struct wire_state){ .blob_id = id,
		.total_len = total, .offset = off });
	memset(buf + WIRE_STATE_HEAD, 0x3c, n);
	ret = sess_state_receive(s, last ? WIRE_STATE_LAST : 0, buf,
				 WIRE_STATE_HEAD + n, err, sizeof(err));
	if (ret)
		ck_assert_msg(err[0], "no reason given");
	return ret;
}

START_TEST(state_continuation_length_differs)
{
	struct vmmig_state_sink s = { 0 };

	/* Issue 11, finding 1: 20 of 50 bytes, then 4000 bytes at 20 of
	 * a blob now said to be 1 MiB, into the 50-byte buffer. */
	ck_assert_int_eq(state(&s, 1, 50, 0, 20, false), 0);
	ck_assert_int_eq(state(&s, 1, 1 << 20, 20, 4000, false), -EPROTO);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_uint_eq(s.b[0].len, 20); /* nothing was copied */
	ck_assert(!sess_state_complete(&s));
	sess_state_sink_free(&s);
}
END_TEST

START_TEST(state_memory_follows_bytes)
{
	struct vmmig_state_sink s = { 0 };

	/* A first chunk announcing 1 GiB with no bytes in it. */
	ck_assert_int_eq(state(&s, 2, 1ull << 30, 0, 0, false), 0);
	ck_assert_uint_lt(s.b[0].cap, 1 << 20);
	ck_assert_int_eq(state(&s, 2, 1ull << 30, 0, 10, false), -EPROTO);
	sess_state_sink_free(&s);

	/* A whole blob in chunks still arrives whole. */
	ck_assert_int_eq(state(&s, 4, 10000, 0, 8192, false), 0);
	ck_assert_int_eq(state(&s, 4, 10000, 8192, 1808, true), 0);
	ck_assert(sess_state_complete(&s));
	ck_assert_uint_eq(s.b[0].len, 10000);
	ck_assert_uint_eq(s.b[0].data[9999], 0x3c);
	sess_state_sink_free(&s);
}
END_TEST

START_TEST(state_blob_interleaved)
{
	struct vmmig_state_sink s = { 0 };

	ck_assert_int_eq(state(&s, 1, 100, 0, 10, false), 0);
	/* Another blob begins while blob 1 lacks 90 bytes. */
	ck_assert_int_eq(state(&s, 2, 100, 0, 10, false), -EPROTO);
	ck_assert_uint_eq(s.n, 1);
	sess_state_sink_free(&s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("parsers");
	TCase *tc = tcase_create("parsers");

	tcase_add_test(tc, state_continuation_length_differs);
	tcase_add_test(tc, state_memory_follows_bytes);
	tcase_add_test(tc, state_blob_interleaved);
	tcase_add_test(tc, discard_first_word_wraps);
	tcase_add_test(tc, discard_bits_past_region);
	tcase_add_test(tc, discard_early_from_destination);
	tcase_add_test(tc, refetch_before_bitmaps);
	tcase_add_test(tc, short_records_unpack_defined);
	tcase_add_test(tc, fixed_length_records);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
