/* SPDX-License-Identifier: MIT */
/*
 * uffd-wp tracker, built twice: UFFD_FLAGS = 0 (async mode: WP_ASYNC +
 * PAGEMAP_SCAN, skipped where the kernel lacks them) and
 * UFFD_FLAGS = VMMIG_UFFD_WP_FORCE_SYNC (fault-thread mode).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <stdatomic.h>
#include <time.h>
#include <vmmig/tracker.h>

#include "churn.h"
#include "testutil.h"

#ifndef UFFD_FLAGS
#define UFFD_FLAGS 0
#endif
#define WANT_ASYNC (!(UFFD_FLAGS & VMMIG_UFFD_WP_FORCE_SYNC))
#define PG 4096u

static int shmem_ok; /* the kernel can write-protect memfd (shmem) pages */

static struct vmmig_tracker *new_tracker(void)
{
	struct vmmig_tracker *t = NULL;

	ck_assert_int_eq(vmmig_tracker_new_uffd_wp(UFFD_FLAGS, &t), 0);
	ck_assert_int_eq(vmmig_tracker_uffd_wp_is_async(t), WANT_ASYNC);
	ck_assert_str_eq(vmmig_tracker_name(t), "uffd-wp");
	return t;
}

static void exact(int shared)
{
	const uint64_t size = 256 * PG;
	struct vmmig_tracker *t = new_tracker();
	struct vmmig_tracker_region r = { .id = 1, .size = size,
					  .npages = 256 };
	uint64_t bm[4] = { 0 };
	volatile char *p;

	r.host = churn_map(size, shared);
	ck_assert_ptr_nonnull(r.host);
	p = r.host;
	for (unsigned i = 0; i < 128; i++)
		p[i * PG] = 1; /* pages 128..255 stay untouched */

	for (int round = 0; round < 2; round++) { /* start/stop/start */
		ck_assert_int_eq(vmmig_tracker_start(t, &r, 1), 0);
		p[3 * PG + 5] = 2;
		p[70 * PG] = 2;
		p[200 * PG + 4095] = 2; /* never touched before start */
		(void)p[9 * PG];        /* reads are not writes */
		(void)p[201 * PG];      /* but see below */
		for (int i = 0; i < 4; i++)
			bm[i] = 0;
		ck_assert_int_eq(vmmig_tracker_sync(t, 0, bm), 0);
		ck_assert_uint_eq(bm[0], 1ull << 3);
		ck_assert_uint_eq(bm[1], 1ull << 6);
		ck_assert_uint_eq(bm[2], 0);
		/* Async mode leaves never-populated anonymous pages
		 * unarmed, so the zero page that a read maps there is
		 * reported once, like a write (it reads as zero: a harmless
		 * false positive). */
		ck_assert_uint_eq(bm[3], (1ull << 8) |
				  (WANT_ASYNC && !shared && !round ? 1ull << 9
								   : 0));
		/* Re-armed: nothing new, then one page again. */
		for (int i = 0; i < 4; i++)
			bm[i] = 0;
		ck_assert_int_eq(vmmig_tracker_sync(t, 0, bm), 0);
		ck_assert_uint_eq(bm[0] | bm[1] | bm[2] | bm[3], 0);
		p[70 * PG + 1] = 3;
		ck_assert_int_eq(vmmig_tracker_sync(t, 0, bm), 0);
		ck_assert_uint_eq(bm[0] | bm[2] | bm[3], 0);
		ck_assert_uint_eq(bm[1], 1ull << 6);
		vmmig_tracker_stop(t);
		/* Stopped: writes go through untracked, without blocking. */
		p[71 * PG] = 4;
		ck_assert_int_eq(vmmig_tracker_sync(t, 0, bm), -EINVAL);
	}
	ck_assert_int_eq(p[3 * PG + 5], 2);
	ck_assert_int_eq(p[200 * PG + 4095], 2);
	vmmig_tracker_free(t);
	churn_unmap(r.host, size);
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

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

/* Pages written, then unmapped by reclaim before the sync (MADV_PAGEOUT;
 * without swap a memfd page stays in the page cache, its page-table entry
 * goes empty): still reported, in either memory. */
static void pageout(int shared)
{
	struct vmmig_tracker *t = new_tracker();
	struct vmmig_tracker_region r = { .id = 1, .size = 64 * PG,
					  .npages = 64 };
	uint64_t bm[1] = { 0 };
	volatile char *p;

	r.host = churn_map(r.size, shared);
	ck_assert_ptr_nonnull(r.host);
	p = r.host;
	for (unsigned i = 0; i < 64; i++)
		p[i * PG] = 1;
	ck_assert_int_eq(vmmig_tracker_start(t, &r, 1), 0);
	ck_assert_int_eq(vmmig_tracker_sync(t, 0, bm), 0);
	ck_assert_uint_eq(bm[0], 0);
	p[5 * PG] = 2;
	p[40 * PG] = 2;
	if (madvise(r.host, r.size, MADV_PAGEOUT) < 0)
		printf("MADV_PAGEOUT: %s, not tested\n", strerror(errno));
	ck_assert_int_eq(vmmig_tracker_sync(t, 0, bm), 0);
	ck_assert_uint_eq(bm[0] & (1ull << 5 | 1ull << 40),
			  1ull << 5 | 1ull << 40);
	ck_assert_int_eq(p[5 * PG], 2);
	vmmig_tracker_free(t);
	churn_unmap(r.host, r.size);
}

START_TEST(test_pageout_anon)
{
	pageout(0);
}
END_TEST

START_TEST(test_pageout_shared)
{
	pageout(1);
}
END_TEST

struct busy {
	volatile char *p;
	atomic_int stop;
	uint64_t writes;
};

static void *busy_writer(void *arg)
{
	struct busy *b = arg;

	while (!atomic_load(&b->stop)) {
		b->p[(b->writes % 64) * PG] = (char)b->writes;
		b->writes++;
	}
	return NULL;
}

/* stop() while a writer hammers protected pages: blocked writers are
 * released, later writes run untracked; nothing hangs. */
START_TEST(test_stop_under_writes)
{
	const struct timespec ms20 = { .tv_nsec = 20 * 1000 * 1000 };
	struct vmmig_tracker *t = new_tracker();
	struct vmmig_tracker_region r = { .id = 1, .size = 64 * PG,
					  .npages = 64 };
	struct busy b = { 0 };
	uint64_t bm[1] = { 0 }, before;
	pthread_t th;

	r.host = churn_map(r.size, 0);
	ck_assert_ptr_nonnull(r.host);
	b.p = r.host;
	ck_assert_int_eq(vmmig_tracker_start(t, &r, 1), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, busy_writer, &b), 0);
	nanosleep(&ms20, NULL);
	ck_assert_int_eq(vmmig_tracker_sync(t, 0, bm), 0);
	ck_assert_uint_ne(bm[0], 0);
	vmmig_tracker_stop(t);
	before = b.writes;
	nanosleep(&ms20, NULL);
	atomic_store(&b.stop, 1);
	pthread_join(th, NULL);
	printf("stop under writes: %llu writes after stop()\n",
	       (unsigned long long)(b.writes - before));
	ck_assert_uint_gt(b.writes, before);
	vmmig_tracker_free(t);
	churn_unmap(r.host, r.size);
}
END_TEST

static void churn(int shared)
{
	struct churn_cfg cfg = { .shared = shared, .run_ms = 400 };
	struct vmmig_tracker *t = new_tracker();
	struct churn_res res;
	char label[64];

	ck_assert_int_eq(churn_run(t, &cfg, &res), 0);
	snprintf(label, sizeof(label), "uffd-wp %s/%s",
		 WANT_ASYNC ? "async" : "sync", shared ? "memfd" : "anon");
	churn_print(label, &res);
	ck_assert_int_eq(res.err, 0);
	ck_assert_uint_gt(res.written, 100);
	ck_assert_uint_gt(res.syncs, 10);
	/* Every written page is reported. */
	ck_assert_uint_eq(res.missed, 0);
	/* Both modes report only pages whose protection a write removed
	 * (THP is off in the test regions): no false positives, and
	 * nothing when nothing was written. The writer is one thread, so
	 * sync mode gets no duplicate fault messages either. */
	ck_assert_uint_eq(res.false_pos, 0);
	ck_assert_uint_eq(res.idle, 0);
	/* Sync mode: a write to a protected page waits for the fault
	 * thread only briefly (a round trip, or one region's re-protect). */
	ck_assert_double_lt(res.max_write_ms, 1000.0);
	vmmig_tracker_free(t);
}

START_TEST(test_churn_anon)
{
	churn(0);
}
END_TEST

START_TEST(test_churn_shared)
{
	churn(1);
}
END_TEST

/* Can this kernel write-protect a memfd mapping (UFFD_FEATURE_WP_HUGETLBFS_
 * SHMEM, Linux >= 5.19)? */
static int probe_shmem(void)
{
	struct vmmig_tracker_region r = { .id = 1, .size = PG, .npages = 1 };
	struct vmmig_tracker *t;
	int ret;

	if (vmmig_tracker_new_uffd_wp(UFFD_FLAGS, &t) < 0)
		return 0;
	r.host = churn_map(PG, 1);
	ret = r.host ? vmmig_tracker_start(t, &r, 1) : -ENOMEM;
	vmmig_tracker_free(t);
	churn_unmap(r.host, PG);
	return ret == 0;
}

int main(void)
{
	struct vmmig_tracker *t;
	Suite *s;
	TCase *tc;
	int ret;

	ret = vmmig_tracker_new_uffd_wp(UFFD_FLAGS, &t);
	if (ret == -ENOSYS || ret == -EPERM || ret == -EOPNOTSUPP)
		return vmtest_skip("userfaultfd write-protect unavailable");
	if (ret < 0) {
		printf("vmmig_tracker_new_uffd_wp: %d\n", ret);
		return EXIT_FAILURE;
	}
	ret = vmmig_tracker_uffd_wp_is_async(t);
	vmmig_tracker_free(t);
	if (WANT_ASYNC && ret != 1)
		return vmtest_skip("kernel lacks UFFD_FEATURE_WP_ASYNC or "
				   "PAGEMAP_SCAN (Linux < 6.7)");
	shmem_ok = probe_shmem();

	s = suite_create(WANT_ASYNC ? "tracker_uffd_async" :
			 "tracker_uffd_sync");
	tc = tcase_create("uffd");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_exact_anon);
	tcase_add_test(tc, test_churn_anon);
	tcase_add_test(tc, test_stop_under_writes);
	tcase_add_test(tc, test_pageout_anon);
	if (shmem_ok) {
		tcase_add_test(tc, test_pageout_shared);
		tcase_add_test(tc, test_exact_shared);
		tcase_add_test(tc, test_churn_shared);
	} else {
		printf("note: memfd write-protect unsupported, shared-memory "
		       "cases not run\n");
	}
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
