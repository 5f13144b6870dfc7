/* SPDX-License-Identifier: MIT */
/*
 * ZERO records: the builder's runs (merging, the record's run limit), a
 * good record clearing exactly its runs (and counting their pages), and
 * every malformed record refused with -EPROTO and a clear message before
 * any run reaches the page sink: a run past the region's end, one whose
 * end overflows,
 * overlapping or unordered runs, an empty run, a wrong run count or
 * length, an unknown region, header flags, a bad CRC. Destination memory
 * is fenced by guard pages and canaries.
 */
#include "wire/le.h"
#include "wire/zero_range.h"
#include "wiretest.h"

#define RID 3
#define NPAGES 100

static struct guarded g;
static uint8_t *before;
static bool refuse_page_3;

/* The test's page sink: a run clears its pages (a destination's does it
 * in bulk); with refuse_page_3, a run holding page 3 is not expected. */
static int sink_zero(void *cookie, unsigned ri, uint64_t first, uint64_t n)
{
	(void)cookie;
	ck_assert_uint_eq(ri, 0);
	if (refuse_page_3 && first <= 3 && first + n > 3)
		return -EPROTO;
	memset(g.mem + first * 4096, 0, n * 4096);
	return 0;
}

static int sink_begin(void *c, unsigned ri, const struct wire_page_desc *d,
		      unsigned n, void **into)
{
	(void)c, (void)ri, (void)d, (void)n, (void)into;
	return -EPROTO;
}

static int sink_place(void *c, unsigned ri, uint64_t page, const void *data)
{
	(void)c, (void)ri, (void)page, (void)data;
	return -EPROTO;
}

static const struct wire_page_sink_ops sink = {
	.begin = sink_begin, .place = sink_place, .zero = sink_zero };

static void setup(void)
{
	guarded_new(&g, NPAGES);
	memset(g.mem, 0x5a, NPAGES * 4096);
	before = malloc(NPAGES * 4096);
	memcpy(before, g.mem, NPAGES * 4096);
}

static void teardown(void)
{
	guarded_free(&g);
	free(before);
}

/* A ZERO record with @count runs (pairs first, npages) and a good CRC;
 * @count_field is what the record claims. */
static void craft(struct obuf *o, uint32_t seq, uint32_t rid,
		  uint32_t count_field, const uint64_t *runs, unsigned count,
		  uint16_t flags)
{
	uint8_t rec[16 + 8 + 16 * 8] = { 0 };
	size_t len = 8 + 16 * (size_t)count;
	struct iovec body = { rec + 16, len };

	put_le32(rec + 16, rid);
	put_le32(rec + 20, count_field);
	for (unsigned i = 0; i < count; i++) {
		put_le64(rec + 24 + 16 * i, runs[2 * i]);
		put_le64(rec + 32 + 16 * i, runs[2 * i + 1]);
	}
	wire_record_seal(rec, WIRE_ZERO, flags, seq, &body, 1);
	obuf_put(o, rec, 16 + len);
}

/* Feed @o to a fresh reader: its first record must fail with @msg (a
 * substring) and leave the memory as it was. */
static void expect_fail(struct obuf *o, const char *msg)
{
	struct wire_dest_region dr = { .id = RID, .npages = NPAGES };
	struct istream in = { o->buf, o->len, 0 };
	struct wire_reader *r;
	struct wire_hdr h;
	const uint8_t *p;

	ck_assert_int_eq(wire_reader_new(istream_read, &in, &dr, 1, &r), 0);
	ck_assert_int_eq(wire_reader_set_sink(r, &sink, NULL), 0);
	ck_assert_int_eq(wire_reader_next(r, &h, &p, NULL), -EPROTO);
	ck_assert_msg(strstr(wire_reader_error(r), msg), "error '%s', want "
		      "'%s'", wire_reader_error(r), msg);
	ck_assert_int_eq(wire_reader_pages(r), 0);
	ck_assert(guarded_check(&g));
	ck_assert_mem_eq(g.mem, before, NPAGES * 4096);
	wire_reader_free(r);
	free(o->buf);
	*o = (struct obuf){ 0 };
}

START_TEST(builder_merges_and_limits)
{
	struct wire_zeros z;
	struct iovec iov;
	uint64_t first, n;
	uint32_t rid, count;
	char err[WIRE_ERRLEN];

	ck_assert_int_eq(wire_zeros_init(&z), 0);
	wire_zeros_begin(&z, RID);
	ck_assert_uint_eq(wire_zeros_finish(&z, 0, &iov), 0); /* empty */
	ck_assert(wire_zeros_add(&z, 5, 3));
	ck_assert(wire_zeros_add(&z, 8, 2));   /* follows: merged */
	ck_assert(wire_zeros_add(&z, 20, 1));
	/* Behind the last run (a post-copy sweep that wrapped around) or
	 * overlapping it: refused, a new record must start. */
	ck_assert(!wire_zeros_add(&z, 0, 2));
	ck_assert(!wire_zeros_add(&z, 20, 1));
	ck_assert_uint_eq(z.count, 2);
	ck_assert_uint_eq(z.pages, 6);
	ck_assert_uint_eq(wire_zeros_finish(&z, 9, &iov), 16 + 8 + 32);
	ck_assert_int_eq(wire_zero_unpack((uint8_t *)iov.iov_base + 16,
					  iov.iov_len - 16, &rid, &count, err,
					  sizeof(err)), 0);
	ck_assert_uint_eq(rid, RID);
	ck_assert_uint_eq(count, 2);
	wire_zero_run((uint8_t *)iov.iov_base + 16, 0, &first, &n);
	ck_assert_uint_eq(first, 5);
	ck_assert_uint_eq(n, 5);
	/* The record's run limit: a new run does not fit, a longer last
	 * run does. */
	wire_zeros_begin(&z, RID);
	for (uint64_t i = 0; i < WIRE_ZERO_MAX; i++)
		ck_assert(wire_zeros_add(&z, 2 * i, 1));
	ck_assert(!wire_zeros_add(&z, 2 * WIRE_ZERO_MAX, 1));
	ck_assert(wire_zeros_add(&z, 2 * WIRE_ZERO_MAX - 1, 4));
	ck_assert_uint_eq(z.count, WIRE_ZERO_MAX);
	/* docs/wire-format.md 5.5's test vector. */
	static const uint8_t vec[56] = {
		0x12, 0x80, 0, 0, 0x28, 0, 0, 0, 0x08, 0xaa, 0x25, 0x84, 5, 0,
		0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0,
		0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0xe8, 3, 0, 0, 0, 0,
		0, 0 };

	wire_zeros_begin(&z, 1);
	ck_assert(wire_zeros_add(&z, 0, 3));
	ck_assert(wire_zeros_add(&z, 64, 1000));
	ck_assert_uint_eq(wire_zeros_finish(&z, 5, &iov), sizeof(vec));
	ck_assert_mem_eq(iov.iov_base, vec, sizeof(vec));
	wire_zeros_destroy(&z);
}
END_TEST

START_TEST(good_record_clears_its_runs)
{
	const uint64_t runs[] = { 0, 2, 10, 64, 99, 1 };
	struct wire_dest_region dr = { .id = RID, .npages = NPAGES };
	struct wire_page_counts cnt = { 0 };
	struct obuf o = { 0 };
	struct istream in;
	struct wire_reader *r;
	struct wire_hdr h;
	const uint8_t *p;

	craft(&o, 0, RID, 3, runs, 3, 0);
	in = (struct istream){ o.buf, o.len, 0 };
	ck_assert_int_eq(wire_reader_new(istream_read, &in, &dr, 1, &r), 0);
	ck_assert_int_eq(wire_reader_set_sink(r, &sink, NULL), 0);
	ck_assert_int_eq(wire_reader_next(r, &h, &p, &cnt), 0);
	ck_assert_uint_eq(h.type, WIRE_ZERO);
	ck_assert_uint_eq(wire_reader_pages(r), 67);
	ck_assert_uint_eq(cnt.pages[WIRE_ENC_ZERO], 67);
	ck_assert_uint_eq(cnt.bytes, 16 + 8 + 48);
	for (uint64_t pg = 0; pg < NPAGES; pg++) {
		bool zero = pg < 2 || (pg >= 10 && pg < 74) || pg == 99;

		for (size_t i = 0; i < 4096; i += 512)
			ck_assert_uint_eq(g.mem[pg * 4096 + i],
					  zero ? 0 : 0x5a);
	}
	ck_assert(guarded_check(&g));
	wire_reader_free(r);
	free(o.buf);
}
END_TEST

START_TEST(malformed_records_are_refused)
{
	struct obuf o = { 0 };
	const uint64_t past_end[] = { 98, 3 };
	const uint64_t overflow[] = { 50, UINT64_MAX - 10 };
	const uint64_t huge_first[] = { UINT64_MAX, 1 };
	const uint64_t overlap[] = { 10, 5, 14, 2 };
	const uint64_t unordered[] = { 20, 1, 10, 1 };
	const uint64_t empty[] = { 10, 0 };
	const uint64_t ok[] = { 1, 1, 3, 1 };

	craft(&o, 0, RID, 1, past_end, 1, 0);
	expect_fail(&o, "goes past the end of its region");
	craft(&o, 0, RID, 1, overflow, 1, 0);
	expect_fail(&o, "goes past the end of its region");
	craft(&o, 0, RID, 1, huge_first, 1, 0);
	expect_fail(&o, "goes past the end of its region");
	craft(&o, 0, RID, 2, overlap, 2, 0);
	expect_fail(&o, "overlaps or precedes the run before it");
	craft(&o, 0, RID, 2, unordered, 2, 0);
	expect_fail(&o, "overlaps or precedes the run before it");
	craft(&o, 0, RID, 1, empty, 1, 0);
	expect_fail(&o, "is empty");
	craft(&o, 0, RID, 3, ok, 2, 0);   /* claims 3 runs, holds 2 */
	expect_fail(&o, "does not hold its 3 runs");
	craft(&o, 0, RID, 0, ok, 0, 0);   /* no run at all */
	expect_fail(&o, "ZERO record too short");
	craft(&o, 0, RID + 1, 2, ok, 2, 0);
	expect_fail(&o, "ZERO for unknown region id 4");
	craft(&o, 0, RID, 2, ok, 2, 1);
	expect_fail(&o, "ZERO has unknown flags 0x1");
	craft(&o, 0, RID, 2, ok, 2, 0);
	o.buf[30] ^= 1; /* a bit of the first run flips on the way */
	expect_fail(&o, "record crc mismatch");
}
END_TEST

/* The sink refuses a run (after a post-copy switch: a page not pending);
 * the error names the run. Without a sink, ZERO is refused. */
START_TEST(sink_refuses_a_run)
{
	const uint64_t runs[] = { 1, 4 };
	struct wire_dest_region dr = { .id = RID, .npages = NPAGES };
	struct obuf o = { 0 };
	struct istream in;
	struct wire_reader *r;
	struct wire_hdr h;
	const uint8_t *p;

	craft(&o, 0, RID, 1, runs, 1, 0);
	in = (struct istream){ o.buf, o.len, 0 };
	ck_assert_int_eq(wire_reader_new(istream_read, &in, &dr, 1, &r), 0);
	ck_assert_int_eq(wire_reader_set_sink(r, &sink, NULL), 0);
	refuse_page_3 = true;
	ck_assert_int_eq(wire_reader_next(r, &h, &p, NULL), -EPROTO);
	refuse_page_3 = false;
	ck_assert_ptr_nonnull(strstr(wire_reader_error(r),
				     "zero pages 1..4 of region 3: not "
				     "expected"));
	wire_reader_free(r);
	in = (struct istream){ o.buf, o.len, 0 };
	ck_assert_int_eq(wire_reader_new(istream_read, &in, &dr, 1, &r), 0);
	ck_assert_int_eq(wire_reader_next(r, &h, &p, NULL), -EPROTO);
	ck_assert_ptr_nonnull(strstr(wire_reader_error(r),
				     "ZERO records are not expected here"));
	wire_reader_free(r);
	free(o.buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire_zero");
	TCase *tc = tcase_create("zero");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, builder_merges_and_limits);
	tcase_add_test(tc, good_record_clears_its_runs);
	tcase_add_test(tc, malformed_records_are_refused);
	tcase_add_test(tc, sink_refuses_a_run);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
