/* SPDX-License-Identifier: MIT */
/*
 * Soft-dirty tracker. Skips (77) where the kernel has no soft-dirty bits
 * (CONFIG_MEM_SOFT_DIRTY off): the tracker's constructor says -EOPNOTSUPP.
 *
 * Reading pagemap and clearing via clear_refs are two steps, so a write that
 * lands between them is lost (see lib/tracker/soft_dirty.c): the exactness
 * tests pause the writer across each sync, as a VMM pauses its guest at the
 * final sync. The fully concurrent run only measures and prints the misses.
 */
#include <errno.h>
#include <vmmig/tracker.h>

#include "churn.h"
#include "testutil.h"

#define PG 4096u

START_TEST(test_one_per_process)
{
	struct vmmig_tracker_region r = { .id = 1, .size = PG, .npages = 1 };
	struct vmmig_tracker *a, *b;

	r.host = churn_map(PG, 0);
	ck_assert_ptr_nonnull(r.host);
	ck_assert_int_eq(vmmig_tracker_new_soft_dirty(&a), 0);
	ck_assert_int_eq(vmmig_tracker_new_soft_dirty(&b), 0);
	ck_assert_str_eq(vmmig_tracker_name(a), "soft-dirty");
	ck_assert_int_eq(vmmig_tracker_start(a, &r, 1), 0);
	ck_assert_int_eq(vmmig_tracker_start(b, &r, 1), -EBUSY);
	vmmig_tracker_stop(a);
	ck_assert_int_eq(vmmig_tracker_start(b, &r, 1), 0);
	vmmig_tracker_free(b);
	ck_assert_int_eq(vmmig_tracker_start(a, &r, 1), 0);
	vmmig_tracker_free(a);
	churn_unmap(r.host, PG);
}
END_TEST

static void exact(int shared)
{
	const uint64_t size = 256 * PG;
	struct vmmig_tracker_region r[2];
	struct vmmig_tracker *t;
	uint64_t bm[4] = { 0 }, bm1[4] = { 0 };
	volatile char *p, *q;

	for (unsigned i = 0; i < 2; i++) {
		r[i] = (struct vmmig_tracker_region){ .id = i, .index = i,
						      .size = size,
						      .npages = 256 };
		r[i].host = churn_map(size, shared);
		ck_assert_ptr_nonnull(r[i].host);
		for (unsigned k = 0; k < 128; k++) /* 128..255 untouched */
			((volatile char *)r[i].host)[k * PG] = 1;
	}
	p = r[0].host;
	q = r[1].host;
	ck_assert_int_eq(vmmig_tracker_new_soft_dirty(&t), 0);
	ck_assert_int_eq(vmmig_tracker_start(t, r, 2), 0);

	p[3 * PG + 5] = 2;
	p[200 * PG + 4095] = 2; /* first touch after start */
	q[64 * PG] = 2;
	(void)p[9 * PG];        /* reads are not writes */
	ck_assert_int_eq(vmmig_tracker_sync(t, 0, bm), 0);
	ck_assert_uint_eq(bm[0], 1ull << 3);
	ck_assert_uint_eq(bm[1] | bm[2], 0);
	ck_assert_uint_eq(bm[3], 1ull << 8);
	/* Region 0's sync cleared the whole process; region 1's write is
	 * kept in its snapshot and handed out now. */
	q[65 * PG] = 2; /* after the scan: not in the snapshot handed out
			 * next, found by the rescan of the sync after */
	ck_assert_int_eq(vmmig_tracker_sync(t, 1, bm1), 0);
	ck_assert_uint_eq(bm1[1], 1ull << 0);
	ck_assert_uint_eq(bm1[0] | bm1[2] | bm1[3], 0);
	bm1[1] = 0;
	ck_assert_int_eq(vmmig_tracker_sync(t, 1, bm1), 0);
	ck_assert_uint_eq(bm1[1], 1ull << 1);
	ck_assert_uint_eq(bm1[0] | bm1[2] | bm1[3], 0);

	/* Quiet: nothing more in either region. */
	bm[0] = bm[3] = bm1[1] = 0;
	ck_assert_int_eq(vmmig_tracker_sync(t, 0, bm), 0);
	ck_assert_int_eq(vmmig_tracker_sync(t, 1, bm1), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(bm[i] | bm1[i], 0);

	vmmig_tracker_free(t);
	for (unsigned i = 0; i < 2; i++)
		churn_unmap(r[i].host, size);
}

START_TEST(test_exact_anon)
{
	exact(0);
}
END_TEST

START_TEST(test_exact_shared)
{
	exact(1);
}
END_TEST

static void churn(int shared, int quiesce)
{
	struct churn_cfg cfg = { .shared = shared, .quiesce = quiesce,
				 .run_ms = 400 };
	struct vmmig_tracker *t;
	struct churn_res res;
	char label[64];

	ck_assert_int_eq(vmmig_tracker_new_soft_dirty(&t), 0);
	ck_assert_int_eq(churn_run(t, &cfg, &res), 0);
	snprintf(label, sizeof(label), "soft-dirty %s/%s",
		 quiesce ? "paused-at-sync" : "concurrent",
		 shared ? "memfd" : "anon");
	churn_print(label, &res);
	ck_assert_int_eq(res.err, 0);
	ck_assert_uint_gt(res.written, 100);
	if (quiesce) {
		ck_assert_uint_eq(res.missed, 0);
		/* Bound 0: only written pages get a soft-dirty PTE; the
		 * guard pages keep other mappings from merging into the
		 * regions (a new or merged VMA is soft-dirty as a whole),
		 * and THP is off in them. */
		ck_assert_uint_eq(res.false_pos, 0);
		ck_assert_uint_eq(res.idle, 0);
	}
	/* Concurrent: misses are the documented read/clear race; measured,
	 * not asserted. */
	vmmig_tracker_free(t);
}

START_TEST(test_churn_anon)
{
	churn(0, 1);
}
END_TEST

START_TEST(test_churn_shared)
{
	churn(1, 1);
}
END_TEST

START_TEST(test_churn_concurrent)
{
	churn(0, 0);
}
END_TEST

int main(void)
{
	struct vmmig_tracker *t;
	Suite *s;
	TCase *tc;
	int ret;

	ret = vmmig_tracker_new_soft_dirty(&t);
	if (ret == -EOPNOTSUPP)
		return vmtest_skip("kernel without soft-dirty bits "
				   "(CONFIG_MEM_SOFT_DIRTY)");
	if (ret < 0) {
		printf("vmmig_tracker_new_soft_dirty: %d\n", ret);
		return EXIT_FAILURE;
	}
	vmmig_tracker_free(t);

	s = suite_create("tracker_soft_dirty");
	tc = tcase_create("soft_dirty");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_one_per_process);
	tcase_add_test(tc, test_exact_anon);
	tcase_add_test(tc, test_exact_shared);
	tcase_add_test(tc, test_churn_anon);
	tcase_add_test(tc, test_churn_shared);
	tcase_add_test(tc, test_churn_concurrent);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
