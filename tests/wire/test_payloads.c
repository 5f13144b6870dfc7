/* SPDX-License-Identifier: MIT */
/*
 * Post-copy, cache-restore and ROUND payloads (docs/wire-format.md 4.5, 8,
 * 9.1): each pack/unpack pair round trips, lays its bytes out as the spec
 * says, and unpack rejects every malformed length, count, reserved field
 * and overflow with -EPROTO and a reason.
 */
#include "wire/le.h"
#include "wiretest.h"

static char err[WIRE_ERRLEN];
static uint8_t buf[WIRE_REQ_MAX_SIZE + 64];

static void expect_bad(int ret)
{
	ck_assert_int_eq(ret, -EPROTO);
	ck_assert_msg(err[0], "no reason given");
	err[0] = 0;
}

START_TEST(postcopy_payload)
{
	uint32_t flags = 77;

	wire_postcopy_pack(buf, WIRE_POSTCOPY_VERIFY);
	ck_assert_mem_eq(buf, ((uint8_t[8]){ 1, 0, 0, 0, 0, 0, 0, 0 }), 8);
	ck_assert_int_eq(wire_postcopy_unpack(buf, WIRE_POSTCOPY_SIZE, &flags,
					      err, sizeof(err)), 0);
	ck_assert_uint_eq(flags, WIRE_POSTCOPY_VERIFY);
	wire_postcopy_pack(buf, 0);
	ck_assert_int_eq(wire_postcopy_unpack(buf, WIRE_POSTCOPY_SIZE, &flags,
					      err, sizeof(err)), 0);
	ck_assert_uint_eq(flags, 0);
	expect_bad(wire_postcopy_unpack(buf, 7, &flags, err, sizeof(err)));
	expect_bad(wire_postcopy_unpack(buf, 9, &flags, err, sizeof(err)));
	put_le32(buf + 4, 1); /* reserved */
	expect_bad(wire_postcopy_unpack(buf, 8, &flags, err, sizeof(err)));
	wire_postcopy_pack(buf, 2); /* unknown flag */
	expect_bad(wire_postcopy_unpack(buf, 8, &flags, err, sizeof(err)));
}
END_TEST

/* A DISCARD of @n words @w at @first, as a sender lays it out. */
static size_t discard(uint32_t rid, uint64_t first, uint32_t n,
		      const uint64_t *w)
{
	wire_discard_pack(buf, &(struct wire_discard){
		.region_id = rid, .nwords = n, .first_word = first });
	for (uint32_t i = 0; i < n; i++)
		put_le64(buf + WIRE_DISCARD_HEAD + 8 * i, w[i]);
	return WIRE_DISCARD_HEAD + 8 * (size_t)n;
}

START_TEST(discard_round_trip)
{
	uint64_t w[3] = { 0x8001, ~0ull, 0x0123456789abcdefull };
	uint64_t bm[5] = { 0, 0x10, 0, 0, 0 };
	struct wire_discard d;
	size_t len = discard(9, 1, 3, w);

	ck_assert_uint_eq(get_le32(buf), 9);
	ck_assert_uint_eq(get_le32(buf + 4), 3);
	ck_assert_uint_eq(get_le64(buf + 8), 1);
	ck_assert_int_eq(wire_discard_unpack(buf, len, &d, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(d.region_id, 9);
	ck_assert_uint_eq(d.nwords, 3);
	ck_assert_uint_eq(d.first_word, 1);
	ck_assert_ptr_eq(d.words, buf + WIRE_DISCARD_HEAD);
	for (uint32_t i = 0; i < 3; i++)
		ck_assert_uint_eq(wire_discard_word(&d, i), w[i]);
	/* Past the last word: nothing, never bytes beyond the payload. */
	ck_assert_uint_eq(wire_discard_word(&d, 3), 0);
	ck_assert_uint_eq(wire_discard_word(&d, UINT32_MAX), 0);
	/* 4 words of bitmap: pages 0..255. */
	ck_assert_int_eq(wire_discard_check(&d, 256, err, sizeof(err)), 0);
	wire_discard_apply(&d, bm, false);
	ck_assert_uint_eq(bm[0], 0);
	ck_assert_uint_eq(bm[1], 0x8011); /* OR: the old bit stays */
	ck_assert_uint_eq(bm[2], ~0ull);
	ck_assert_uint_eq(bm[3], w[2]);
	ck_assert_uint_eq(bm[4], 0);
	wire_discard_apply(&d, bm, true);
	ck_assert_uint_eq(bm[1], 0x8001); /* replaced */
	ck_assert_uint_eq(bm[4], 0);
}
END_TEST

START_TEST(discard_rejects)
{
	uint64_t w[2] = { 1, 1 };
	struct wire_discard d;
	size_t len;

	memset(&d, 0xa5, sizeof(d));
	expect_bad(wire_discard_unpack(buf, 15, &d, err, sizeof(err)));
	ck_assert_uint_eq(d.region_id, 0); /* defined on failure */
	ck_assert_ptr_null(d.words);
	len = discard(1, 0, 2, w);
	expect_bad(wire_discard_unpack(buf, len - 1, &d, err, sizeof(err)));
	expect_bad(wire_discard_unpack(buf, len + 8, &d, err, sizeof(err)));
	len = discard(1, 0, 0, w);
	expect_bad(wire_discard_unpack(buf, len, &d, err, sizeof(err)));
	/* nwords at its maximum: 16 + 8 * 2^32-1 must not wrap to a match. */
	wire_discard_pack(buf, &(struct wire_discard){ .region_id = 1,
		.nwords = UINT32_MAX });
	expect_bad(wire_discard_unpack(buf, 16 + 8 * 2, &d, err, sizeof(err)));

	/* Against a region of 67 pages (2 words, 3 bits in the last). */
	len = discard(1, UINT64_MAX, 2, w); /* first + n wraps to 1 */
	ck_assert_int_eq(wire_discard_unpack(buf, len, &d, err, sizeof(err)),
			 0);
	expect_bad(wire_discard_check(&d, 67, err, sizeof(err)));
	len = discard(1, 1, 2, w);          /* one word past the bitmap */
	ck_assert_int_eq(wire_discard_unpack(buf, len, &d, err, sizeof(err)),
			 0);
	expect_bad(wire_discard_check(&d, 67, err, sizeof(err)));
	w[1] = 1ull << 3;                   /* page 67: past the end */
	len = discard(1, 0, 2, w);
	ck_assert_int_eq(wire_discard_unpack(buf, len, &d, err, sizeof(err)),
			 0);
	expect_bad(wire_discard_check(&d, 67, err, sizeof(err)));
	w[1] = 1ull << 2;                   /* page 66: the last one */
	len = discard(1, 0, 2, w);
	ck_assert_int_eq(wire_discard_unpack(buf, len, &d, err, sizeof(err)),
			 0);
	ck_assert_int_eq(wire_discard_check(&d, 67, err, sizeof(err)), 0);
}
END_TEST

START_TEST(req_round_trip)
{
	static uint64_t pages[WIRE_REQ_MAX];
	struct wire_req q = { .region_id = 4, .count = 2 };
	int n;

	pages[0] = 15;
	pages[1] = 0x0102030405060708ull;
	n = wire_req_pack(buf, sizeof(buf), &q, pages);
	ck_assert_int_eq(n, WIRE_REQ_HEAD + 16);
	ck_assert_mem_eq(buf, ((uint8_t[]){ 4, 0, 0, 0, 2, 0, 0, 0,
					    15, 0, 0, 0, 0, 0, 0, 0,
					    8, 7, 6, 5, 4, 3, 2, 1 }), 24);
	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(wire_req_unpack(buf, (size_t)n, &q, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(q.region_id, 4);
	ck_assert_uint_eq(q.count, 2);
	ck_assert_uint_eq(wire_req_page(&q, 0), 15);
	ck_assert_uint_eq(wire_req_page(&q, 1), pages[1]);
	/* Past the count: a page no region has. */
	ck_assert_uint_eq(wire_req_page(&q, 2), UINT64_MAX);

	/* The largest REQ. */
	for (uint32_t i = 0; i < WIRE_REQ_MAX; i++)
		pages[i] = i * 3ull;
	q = (struct wire_req){ .region_id = 1, .count = WIRE_REQ_MAX };
	n = wire_req_pack(buf, sizeof(buf), &q, pages);
	ck_assert_int_eq(n, WIRE_REQ_MAX_SIZE);
	ck_assert_int_eq(wire_req_unpack(buf, (size_t)n, &q, err, sizeof(err)),
			 0);
	for (uint32_t i = 0; i < WIRE_REQ_MAX; i++)
		ck_assert_uint_eq(wire_req_page(&q, i), i * 3ull);
}
END_TEST

START_TEST(req_rejects)
{
	static const uint64_t pages[WIRE_REQ_MAX + 1];
	struct wire_req q = { .region_id = 1, .count = 0 };

	/* Pack: no empty REQ, none over the maximum, none past @cap. */
	ck_assert_int_eq(wire_req_pack(buf, sizeof(buf), &q, pages), -EINVAL);
	q.count = WIRE_REQ_MAX + 1;
	ck_assert_int_eq(wire_req_pack(buf, sizeof(buf), &q, pages), -EINVAL);
	q.count = 2;
	ck_assert_int_eq(wire_req_pack(buf, WIRE_REQ_HEAD + 15, &q, pages),
			 -ENOSPC);
	ck_assert_int_eq(wire_req_pack(buf, WIRE_REQ_HEAD + 16, &q, pages),
			 WIRE_REQ_HEAD + 16);

	/* Unpack. */
	memset(&q, 0xa5, sizeof(q));
	expect_bad(wire_req_unpack(buf, 7, &q, err, sizeof(err)));
	ck_assert_uint_eq(q.region_id, 0);
	ck_assert_uint_eq(wire_req_page(&q, 0), UINT64_MAX);
	expect_bad(wire_req_unpack(buf, WIRE_REQ_HEAD + 8, &q, err,
				   sizeof(err)));
	expect_bad(wire_req_unpack(buf, WIRE_REQ_HEAD + 24, &q, err,
				   sizeof(err)));
	put_le32(buf + 4, 0);
	expect_bad(wire_req_unpack(buf, WIRE_REQ_HEAD, &q, err, sizeof(err)));
	/* Over the maximum, though the length would match. */
	put_le32(buf + 4, WIRE_REQ_MAX + 1);
	expect_bad(wire_req_unpack(buf, WIRE_REQ_HEAD + 8 * (WIRE_REQ_MAX + 1),
				   &q, err, sizeof(err)));
	/* A count whose length overflows 32 bits. */
	put_le32(buf + 4, UINT32_MAX);
	expect_bad(wire_req_unpack(buf, WIRE_REQ_HEAD + 8, &q, err,
				   sizeof(err)));
}
END_TEST

START_TEST(hint_payload)
{
	struct wire_hint h = { 0x1122334455667788ull, 4096 * 9, 42 }, b;

	wire_hint_pack(buf, &h);
	ck_assert_uint_eq(get_le64(buf), h.object_id);
	ck_assert_uint_eq(get_le64(buf + 8), h.offset);
	ck_assert_uint_eq(get_le64(buf + 16), h.hash);
	ck_assert_int_eq(wire_hint_unpack(buf, WIRE_HINT_SIZE, &b, err,
					  sizeof(err)), 0);
	ck_assert_mem_eq(&b, &h, sizeof(h));
	expect_bad(wire_hint_unpack(buf, WIRE_HINT_SIZE - 1, &b, err,
				    sizeof(err)));
	expect_bad(wire_hint_unpack(buf, WIRE_HINT_SIZE + 1, &b, err,
				    sizeof(err)));
}
END_TEST

START_TEST(round_payload)
{
	struct wire_round r = { .round = 3, .dirty_pages = 1ull << 40 }, b;

	wire_round_pack(buf, &r);
	ck_assert_uint_eq(get_le32(buf), 3);
	ck_assert_uint_eq(get_le32(buf + 4), 0);
	ck_assert_uint_eq(get_le64(buf + 8), 1ull << 40);
	ck_assert_int_eq(wire_round_unpack(buf, WIRE_ROUND_SIZE, &b, err,
					   sizeof(err)), 0);
	ck_assert_uint_eq(b.round, 3);
	ck_assert_uint_eq(b.dirty_pages, 1ull << 40);
	expect_bad(wire_round_unpack(buf, WIRE_ROUND_SIZE - 1, &b, err,
				     sizeof(err)));
	expect_bad(wire_round_unpack(buf, WIRE_ROUND_SIZE + 1, &b, err,
				     sizeof(err)));
	put_le32(buf + 4, 1);
	expect_bad(wire_round_unpack(buf, WIRE_ROUND_SIZE, &b, err,
				     sizeof(err)));
}
END_TEST

START_TEST(done_payload)
{
	struct wire_done d = { .status = -5, .verified = UINT32_MAX,
			       .faults = 7, .fault_p50_us = 8,
			       .fault_p99_us = 900, .placed = 1 << 20 }, b;

	wire_done_pack(buf, &d);
	ck_assert_uint_eq(get_le32(buf), (uint32_t)-5);
	ck_assert_uint_eq(get_le64(buf + 32), 1 << 20);
	ck_assert_int_eq(wire_done_unpack(buf, WIRE_DONE_SIZE, &b, err,
					  sizeof(err)), 0);
	ck_assert_mem_eq(&b, &d, sizeof(d));
	expect_bad(wire_done_unpack(buf, WIRE_DONE_SIZE - 1, &b, err,
				    sizeof(err)));
	expect_bad(wire_done_unpack(buf, WIRE_DONE_SIZE + 1, &b, err,
				    sizeof(err)));
	put_le32(buf, 1); /* not 0 or -errno */
	expect_bad(wire_done_unpack(buf, WIRE_DONE_SIZE, &b, err, sizeof(err)));
	put_le32(buf, (uint32_t)-4096);
	expect_bad(wire_done_unpack(buf, WIRE_DONE_SIZE, &b, err, sizeof(err)));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire_payloads");
	TCase *tc = tcase_create("payloads");

	tcase_add_test(tc, postcopy_payload);
	tcase_add_test(tc, discard_round_trip);
	tcase_add_test(tc, discard_rejects);
	tcase_add_test(tc, req_round_trip);
	tcase_add_test(tc, req_rejects);
	tcase_add_test(tc, hint_payload);
	tcase_add_test(tc, round_payload);
	tcase_add_test(tc, done_payload);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
