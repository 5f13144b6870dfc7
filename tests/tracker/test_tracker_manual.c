/* SPDX-License-Identifier: MIT */
/* The manual tracker: mark() semantics, then the concurrent writer test. */
#include <errno.h>
#include <vmmig/tracker.h>

#include "churn.h"
#include "testutil.h"

#define PG 4096u

static char mem[2][300 * PG] __attribute__((aligned(4096)));

static void regions(struct vmmig_tracker_region r[2])
{
	for (unsigned i = 0; i < 2; i++)
		r[i] = (struct vmmig_tracker_region){
			.id = 100 + i, .index = i, .host = mem[i],
			.size = sizeof(mem[i]), .npages = 300,
		};
}

START_TEST(test_mark)
{
	struct vmmig_tracker_region r[2];
	struct vmmig_tracker *t;
	uint64_t bm[5] = { 0 }, bm1[5] = { 0 };

	ck_assert_int_eq(vmmig_tracker_new_manual(&t), 0);
	ck_assert_str_eq(vmmig_tracker_name(t), "manual");
	ck_assert_int_eq(vmmig_tracker_uffd_wp_is_async(t), -EINVAL);
	/* Not started: nothing to record. */
	ck_assert_int_eq(vmmig_tracker_manual_mark(t, 100, 0, 1), -ENODEV);

	regions(r);
	ck_assert_int_eq(vmmig_tracker_start(t, r, 2), 0);
	ck_assert_int_eq(vmmig_tracker_manual_mark(t, 99, 0, 1), -EINVAL);
	ck_assert_int_eq(vmmig_tracker_manual_mark(t, 100, 300 * PG, 1),
			 -EINVAL);
	ck_assert_int_eq(vmmig_tracker_manual_mark(t, 100, 299 * PG, PG + 1),
			 -EINVAL);
	ck_assert_int_eq(vmmig_tracker_manual_mark(t, 100, PG, UINT64_MAX),
			 -EINVAL); /* offset + len overflows */
	ck_assert_int_eq(vmmig_tracker_manual_mark(t, 100, 300 * PG, 0), 0);

	/* One byte in page 5; a range over pages 62..129 (crosses two word
	 * boundaries); the last byte of the region, in region 101. */
	ck_assert_int_eq(vmmig_tracker_manual_mark(t, 100, 5 * PG + 17, 1), 0);
	ck_assert_int_eq(vmmig_tracker_manual_mark(t, 100, 62 * PG + 4095,
						   67 * PG + 1), 0);
	ck_assert_int_eq(vmmig_tracker_manual_mark(t, 101, 300 * PG - 1, 1), 0);

	ck_assert_int_eq(vmmig_tracker_sync(t, 0, bm), 0);
	ck_assert_uint_eq(bm[0], (1ull << 5) | (3ull << 62));
	ck_assert_uint_eq(bm[1], ~0ull);
	ck_assert_uint_eq(bm[2], 3ull);
	ck_assert_uint_eq(bm[3] | bm[4], 0);
	ck_assert_int_eq(vmmig_tracker_sync(t, 1, bm1), 0);
	ck_assert_uint_eq(bm1[4], 1ull << (299 - 256));
	ck_assert_uint_eq(bm1[0] | bm1[1] | bm1[2] | bm1[3], 0);

	/* Reported once: the next sync is empty. It ORs, never clears. */
	ck_assert_int_eq(vmmig_tracker_sync(t, 0, bm), 0);
	ck_assert_uint_eq(bm[0], (1ull << 5) | (3ull << 62));
	uint64_t fresh[5] = { 0 };
	ck_assert_int_eq(vmmig_tracker_sync(t, 0, fresh), 0);
	for (int i = 0; i < 5; i++)
		ck_assert_uint_eq(fresh[i], 0);

	vmmig_tracker_stop(t);
	ck_assert_int_eq(vmmig_tracker_manual_mark(t, 100, 0, 1), -ENODEV);
	/* Region ids must be unique. */
	r[1].id = r[0].id;
	ck_assert_int_eq(vmmig_tracker_start(t, r, 2), -EINVAL);
	vmmig_tracker_free(t);
}
END_TEST

START_TEST(test_churn)
{
	struct churn_cfg cfg = { .manual = 1, .run_ms = 400 };
	struct vmmig_tracker *t;
	struct churn_res res;

	ck_assert_int_eq(vmmig_tracker_new_manual(&t), 0);
	ck_assert_int_eq(churn_run(t, &cfg, &res), 0);
	churn_print("manual/anon", &res);
	ck_assert_int_eq(res.err, 0);
	ck_assert_uint_gt(res.written, 100);
	ck_assert_uint_gt(res.syncs, 10);
	ck_assert_uint_eq(res.missed, 0);
	/* Only marked pages are reported, and marks follow writes. */
	ck_assert_uint_eq(res.false_pos, 0);
	ck_assert_uint_eq(res.idle, 0);
	vmmig_tracker_free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tracker_manual");
	TCase *tc = tcase_create("manual");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_mark);
	tcase_add_test(tc, test_churn);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
