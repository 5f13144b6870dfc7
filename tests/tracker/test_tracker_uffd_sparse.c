/* SPDX-License-Identifier: MIT */
/*
 * uffd-wp tracker in async mode on large sparse regions (8 GiB of
 * MAP_NORESERVE anonymous memory, almost all of it never populated):
 * arming leaves the holes alone (no page tables: VmPTE), writes into holes
 * and into populated pages after arming are reported by the next sync
 * (also where a write maps a transparent huge page), zero_at_start is the
 * exact set of pages that read as zero at arming, and a writer racing with
 * the syncs over the whole region loses nothing. Skipped where the kernel
 * lacks WP_ASYNC + PAGEMAP_SCAN.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <vmmig/tracker.h>

#include "churn.h"
#include "testutil.h"
#include "tracker/tracker_zero.h"

#define PG 4096ull
#define BIG (8ull << 30)
#define NPAGES (BIG / PG)
#define WORDS (NPAGES / 64)
#define PMD_PAGES 512ull

struct big {
	char *base;   /* the mapping, 2 MiB aligned */
	uint64_t *bm; /* WORDS words */
	struct vmmig_tracker *t;
	struct vmmig_tracker_region r;
};

/* Kernel memory used for this process's page tables (VmPTE), in KiB. */
static long vm_pte_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPTE: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* An 8 GiB region aligned to 2 MiB (so that THP can map it), with
 * transparent huge pages off unless @thp (madvise(MADV_HUGEPAGE)). */
static void big_map(struct big *b, int thp)
{
	const uint64_t align = PMD_PAGES * PG;
	char *raw = mmap(NULL, BIG + align, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	ck_assert_ptr_ne(raw, MAP_FAILED);
	b->base = (char *)(((uintptr_t)raw + align - 1) & ~(align - 1));
	if (b->base != raw)
		munmap(raw, (size_t)(b->base - raw));
	munmap(b->base + BIG, (size_t)(raw + align - b->base));
	ck_assert_int_eq(madvise(b->base, BIG, thp ? MADV_HUGEPAGE
						  : MADV_NOHUGEPAGE), 0);
	b->bm = calloc(WORDS, 8);
	ck_assert_ptr_nonnull(b->bm);
	ck_assert_int_eq(vmmig_tracker_new_uffd_wp(0, &b->t), 0);
	ck_assert_int_eq(vmmig_tracker_uffd_wp_is_async(b->t), 1);
	b->r = (struct vmmig_tracker_region){ .id = 1, .host = b->base,
					      .size = BIG, .npages = NPAGES };
}

static void big_unmap(struct big *b)
{
	vmmig_tracker_free(b->t);
	munmap(b->base, BIG);
	free(b->bm);
}

static void big_sync(struct big *b)
{
	memset(b->bm, 0, WORDS * 8);
	ck_assert_int_eq(vmmig_tracker_sync(b->t, 0, b->bm), 0);
}

static int bit(const uint64_t *bm, uint64_t p)
{
	return (int)(bm[p / 64] >> (p % 64) & 1);
}

static uint64_t count(const uint64_t *bm)
{
	uint64_t n = 0;

	for (uint64_t w = 0; w < WORDS; w++)
		n += (uint64_t)__builtin_popcountll(bm[w]);
	return n;
}

/* The pages the test writes: populated before start, holes in a page table
 * that exists (neighbours of populated pages), holes far from anything. */
static const uint64_t before[] = { 0, 1, 2, 700, 262144, NPAGES - 1 };
static const uint64_t near_holes[] = { 3, 701, 262145, NPAGES - 2 };
static const uint64_t far_holes[] = { 5000, 1000000, 1500001, NPAGES / 2 };
#define N(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(test_holes_unarmed)
{
	struct big b;
	uint64_t *zero = calloc(WORDS, 8);
	long pte0, pte1;

	ck_assert_ptr_nonnull(zero);
	big_map(&b, 0);
	for (size_t i = 0; i < N(before); i++)
		b.base[before[i] * PG] = 1;
	(void)*(volatile char *)(b.base + 9 * PG); /* the zero page */

	pte0 = vm_pte_kib();
	ck_assert_int_eq(vmmig_tracker_start(b.t, &b.r, 1), 0);
	pte1 = vm_pte_kib();
	/* Arming every hole would take a page table per 2 MiB: 16 MiB for
	 * 8 GiB. The populated pages need none new. */
	printf("VmPTE: %ld kB before start, %ld kB after\n", pte0, pte1);
	ck_assert_int_ge(pte0, 0);
	ck_assert_int_lt(pte1 - pte0, 256);

	/* zero_at_start: every page but those written before start (the
	 * one read maps the zero page: zero too). */
	ck_assert_int_eq(tracker_zero_at_start(b.t, 0, zero),
			 (int64_t)(NPAGES - N(before)));
	ck_assert_uint_eq(count(zero), NPAGES - N(before));
	for (size_t i = 0; i < N(before); i++)
		ck_assert_int_eq(bit(zero, before[i]), 0);
	ck_assert_int_eq(bit(zero, 9), 1);

	big_sync(&b);
	ck_assert_uint_eq(count(b.bm), 0);

	/* Many rounds: each writes one set; exactly that set comes back. */
	for (unsigned round = 0; round < 6; round++) {
		const uint64_t *set = round % 3 == 0 ? before
				    : round % 3 == 1 ? near_holes : far_holes;
		size_t n = round % 3 == 0 ? N(before)
			 : round % 3 == 1 ? N(near_holes) : N(far_holes);

		for (size_t i = 0; i < n; i++)
			b.base[set[i] * PG + round] = (char)(round + 2);
		big_sync(&b);
		ck_assert_uint_eq(count(b.bm), n);
		for (size_t i = 0; i < n; i++)
			ck_assert_int_eq(bit(b.bm, set[i]), 1);
		big_sync(&b);
		ck_assert_uint_eq(count(b.bm), 0);
	}
	/* A read of a hole maps the zero page unprotected: reported once,
	 * then protected like any page. */
	(void)*(volatile char *)(b.base + 1800000 * PG);
	big_sync(&b);
	ck_assert_uint_eq(count(b.bm), 1);
	ck_assert_int_eq(bit(b.bm, 1800000), 1);
	big_sync(&b);
	ck_assert_uint_eq(count(b.bm), 0);
	b.base[1800000 * PG] = 1;
	big_sync(&b);
	ck_assert_uint_eq(count(b.bm), 1);

	/* Still no page tables but those of the pages written. */
	ck_assert_int_lt(vm_pte_kib() - pte0, 256);
	vmmig_tracker_stop(b.t);
	big_unmap(&b);
	free(zero);
}
END_TEST

/* Where THP is allowed, a write into an empty 2 MiB range may map a huge
 * page: the sync reports its 2 MiB, and protects it; the next write to it
 * splits it and is reported alone. */
START_TEST(test_thp_hole)
{
	const uint64_t pmd = 40 * PMD_PAGES; /* first page of an empty 2 MiB */
	struct big b;
	uint64_t n;

	big_map(&b, 1);
	b.base[0] = 1;
	ck_assert_int_eq(vmmig_tracker_start(b.t, &b.r, 1), 0);
	b.base[(pmd + 7) * PG] = 1;
	big_sync(&b);
	n = count(b.bm);
	printf("write into an empty 2 MiB range: %llu pages reported (%s)\n",
	       (unsigned long long)n, n == PMD_PAGES ? "a huge page"
						     : "no huge page");
	ck_assert_int_eq(bit(b.bm, pmd + 7), 1);
	ck_assert(n == 1 || n == PMD_PAGES);
	if (n == PMD_PAGES)
		for (uint64_t p = 0; p < PMD_PAGES; p++)
			ck_assert_int_eq(bit(b.bm, pmd + p), 1);
	big_sync(&b);
	ck_assert_uint_eq(count(b.bm), 0);
	b.base[(pmd + 300) * PG + 1] = 2;
	big_sync(&b);
	ck_assert_uint_eq(count(b.bm), 1);
	ck_assert_int_eq(bit(b.bm, pmd + 300), 1);
	big_sync(&b);
	ck_assert_uint_eq(count(b.bm), 0);
	ck_assert_int_eq(b.base[(pmd + 7) * PG], 1);
	ck_assert_int_eq(b.base[(pmd + 300) * PG + 1], 2);
	vmmig_tracker_stop(b.t);
	big_unmap(&b);
}
END_TEST

/* A writer over all of an 8 GiB region (mostly into holes) races with
 * the syncs: every write is reported, nothing else. */
START_TEST(test_churn_sparse)
{
	struct churn_cfg cfg = { .run_ms = 500, .r0_size = BIG,
				 .max_writes = 20000 };
	struct vmmig_tracker *t = NULL;
	struct churn_res res;

	ck_assert_int_eq(vmmig_tracker_new_uffd_wp(0, &t), 0);
	ck_assert_int_eq(churn_run(t, &cfg, &res), 0);
	churn_print("uffd-wp async/anon 8 GiB sparse", &res);
	ck_assert_int_eq(res.err, 0);
	ck_assert_uint_gt(res.written, 100);
	/* A sync walks every page table the writer created: fewer rounds
	 * than in the small churn tests. */
	ck_assert_uint_gt(res.syncs, 5);
	ck_assert_uint_eq(res.missed, 0);
	ck_assert_uint_eq(res.false_pos, 0);
	ck_assert_uint_eq(res.idle, 0);
	vmmig_tracker_free(t);
}
END_TEST

int main(void)
{
	struct vmmig_tracker *t;
	Suite *s;
	TCase *tc;
	int ret;

	ret = vmmig_tracker_new_uffd_wp(0, &t);
	if (ret == -ENOSYS || ret == -EPERM || ret == -EOPNOTSUPP)
		return vmtest_skip("userfaultfd write-protect unavailable");
	if (ret < 0) {
		printf("vmmig_tracker_new_uffd_wp: %d\n", ret);
		return EXIT_FAILURE;
	}
	ret = vmmig_tracker_uffd_wp_is_async(t);
	vmmig_tracker_free(t);
	if (ret != 1)
		return vmtest_skip("kernel lacks UFFD_FEATURE_WP_ASYNC or "
				   "PAGEMAP_SCAN (Linux < 6.7)");

	s = suite_create("tracker_uffd_sparse");
	tc = tcase_create("sparse");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_holes_unarmed);
	tcase_add_test(tc, test_thp_hole);
	tcase_add_test(tc, test_churn_sparse);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
