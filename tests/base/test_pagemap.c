/* SPDX-License-Identifier: MIT */
/*
 * pagemap.c: which pages are populated, in bulk. Every test runs twice:
 * with PAGEMAP_SCAN (where the kernel has it) and with the mincore() +
 * pagemap fallback. Anonymous memory with populated, never-populated,
 * partly populated and zero-page ranges, ranges that start or end inside
 * a mapping, file-backed and shared memory (never "zero": its pages may
 * sit in the page cache), a hole in the range, and clearing memory.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/pagemap.h"
#include "testutil.h"

#define PG 4096u
#define N 300

static bool fallback;

static void mode(int i)
{
	fallback = i == 1 || !pagemap_scan_available();
	pagemap_force_fallback(fallback);
}

static uint8_t *map_anon(size_t pages)
{
	uint8_t *m = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	ck_assert_ptr_ne(m, MAP_FAILED);
	/* 4 KiB pages: a huge page would populate its neighbours. */
	madvise(m, pages * PG, MADV_NOHUGEPAGE);
	return m;
}

static bool bit(const uint64_t *bm, uint64_t i)
{
	return bm[i / 64] >> (i % 64) & 1;
}

/* Pages with data: 0, 63, 64, 150..159, the last; 250 written, then
 * zeroed (populated all the same); 200 only read (the zero page). */
static uint8_t *sparse(void)
{
	uint8_t *m = map_anon(N);
	volatile uint8_t sink;

	for (unsigned p = 0; p < N; p++)
		if (p == 0 || p == 63 || p == 64 || (p >= 150 && p < 160) ||
		    p == N - 1)
			memset(m + p * PG, (int)(p % 250) + 1, PG);
	memset(m + 250 * PG, 7, PG);
	memset(m + 250 * PG, 0, PG);
	sink = m[200 * PG];
	(void)sink;
	return m;
}

static bool has_data(unsigned p)
{
	return p == 0 || p == 63 || p == 64 || (p >= 150 && p < 160) ||
	       p == N - 1 || p == 250;
}

START_TEST(anonymous_populated_and_not)
{
	uint8_t *m;
	uint64_t bm[(N + 63) / 64] = { 0 };
	int64_t n, want = 0;

	mode(_i);
	m = sparse();
	ck_assert(pagemap_is_anon_private(m, N));
	ck_assert(pagemap_is_anon_private(m + 5 * PG, 10));
	n = pagemap_zero_bitmap(m, N, true, bm);
	for (unsigned p = 0; p < N; p++) {
		/* The zero page is present: only PAGEMAP_SCAN tells it. */
		bool zero = !has_data(p) && (p != 200 || !fallback);

		ck_assert_msg(bit(bm, p) == zero, "page %u: %d", p, bit(bm, p));
		want += zero;
	}
	ck_assert_int_eq(n, want);
	munmap(m, N * PG);
}
END_TEST

START_TEST(range_inside_a_mapping)
{
	uint8_t *m;
	uint64_t bm[4] = { 0 };

	mode(_i);
	m = sparse();
	/* Pages 60..69 of the mapping are bits 0..9; bits past stay 0. */
	ck_assert_int_eq(pagemap_zero_bitmap(m + 60 * PG, 10, true, bm), 8);
	ck_assert_uint_eq(bm[0], 0x3ffull & ~(1ull << 3 | 1ull << 4));
	/* The region's last pages, the last one populated. */
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(pagemap_zero_bitmap(m + (N - 3) * PG, 3, true, bm), 2);
	ck_assert_uint_eq(bm[0], 3);
	/* A word-aligned range of a whole 64 pages and more. */
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(pagemap_zero_bitmap(m + 65 * PG, 130, true, bm), 120);
	munmap(m, N * PG);
}
END_TEST

static int count_kind(void *cookie, uint64_t first, uint64_t count,
		      enum pagemap_kind kind)
{
	uint64_t *per_kind = cookie;

	(void)first;
	per_kind[kind] += count;
	return 0;
}

START_TEST(file_backed_is_never_zero)
{
	uint64_t k[3] = { 0 };
	char path[] = "/tmp/vmmig-pagemap-XXXXXX";
	int fd = memfd_create("pm", MFD_CLOEXEC);
	int ffd = mkstemp(path);
	uint8_t *m;

	mode(_i);
	/* Shared memory (memfd): untouched pages may hold data another
	 * mapping wrote. */
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 64 * PG), 0);
	m = mmap(NULL, 64 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	memset(m + 5 * PG, 1, PG);
	ck_assert(!pagemap_is_anon_private(m, 64));
	ck_assert_int_eq(pagemap_runs(m, 64, pagemap_is_anon_private(m, 64), count_kind, k), 0);
	ck_assert_uint_eq(k[PAGEMAP_OTHER], 64);
	munmap(m, 64 * PG);
	close(fd);
	/* A private mapping of a file: pages not mapped yet read the file. */
	ck_assert_int_ge(ffd, 0);
	unlink(path);
	ck_assert_int_eq(ftruncate(ffd, 32 * PG), 0);
	m = mmap(NULL, 32 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, ffd, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	ck_assert(!pagemap_is_anon_private(m, 32));
	memset(k, 0, sizeof(k));
	ck_assert_int_eq(pagemap_runs(m, 32, pagemap_is_anon_private(m, 32), count_kind, k), 0);
	ck_assert_uint_eq(k[PAGEMAP_OTHER], 32);
	munmap(m, 32 * PG);
	close(ffd);
}
END_TEST

START_TEST(hole_in_the_range)
{
	uint64_t k[3] = { 0 };
	uint8_t *m;

	mode(_i);
	m = map_anon(30);
	memset(m, 1, PG);
	ck_assert_int_eq(munmap(m + 10 * PG, 10 * PG), 0);
	ck_assert(!pagemap_is_anon_private(m, 30));
	/* Not anonymous as a whole: no walk, nothing "zero". */
	ck_assert_int_eq(pagemap_runs(m, 30, false, count_kind, k), 0);
	ck_assert_uint_eq(k[PAGEMAP_OTHER], 30);
	/* Walked all the same: nothing is known of the unmapped pages
	 * (the fallback's mincore() refuses them). */
	memset(k, 0, sizeof(k));
	if (fallback) {
		ck_assert_int_eq(pagemap_runs(m, 30, true, count_kind, k),
				 -ENOMEM);
		goto out;
	}
	ck_assert_int_eq(pagemap_runs(m, 30, true, count_kind, k), 0);
	ck_assert_uint_eq(k[PAGEMAP_ZERO] + k[PAGEMAP_ANON] +
			  k[PAGEMAP_OTHER], 30);
	ck_assert_uint_ge(k[PAGEMAP_OTHER], 10);
	ck_assert_uint_eq(k[PAGEMAP_ANON], 1);
out:
	munmap(m, 10 * PG);
	munmap(m + 20 * PG, 10 * PG);
}
END_TEST

static int stop_at_second(void *cookie, uint64_t first, uint64_t count,
			  enum pagemap_kind kind)
{
	int *calls = cookie;

	(void)first, (void)count, (void)kind;
	return ++*calls == 2 ? 42 : 0;
}

START_TEST(bad_arguments_and_stop)
{
	int calls = 0;
	uint8_t *m;

	mode(_i);
	m = sparse();
	ck_assert_int_eq(pagemap_runs(m + 1, 1, true, count_kind, NULL), -EINVAL);
	ck_assert_int_eq(pagemap_runs(m, 0, true, count_kind, NULL), 0);
	ck_assert_int_eq(pagemap_runs(m, N, true, stop_at_second, &calls), 42);
	ck_assert_int_eq(calls, 2);
	munmap(m, N * PG);
}
END_TEST

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

START_TEST(zero_fill)
{
	uint64_t bm[(N + 63) / 64] = { 0 };
	int fd = memfd_create("pm", MFD_CLOEXEC);
	uint8_t *m;

	mode(_i);
	m = sparse();
	memset(m + 100 * PG, 3, 40 * PG); /* a long run: dropped */
	ck_assert_int_eq(pagemap_zero_fill(m + PG, N - 1, true), 0);
	/* The long run went back to the kernel: never populated again
	 * (before reading it, which maps the zero page). */
	ck_assert_int_ge(pagemap_zero_bitmap(m + 100 * PG, 40, true, bm), 40);
	ck_assert_uint_eq(m[0], 1); /* outside the range */
	ck_assert(all_zero(m + PG, (N - 1) * PG));
	munmap(m, N * PG);
	/* Shared memory is written. */
	ck_assert_int_eq(ftruncate(fd, 64 * PG), 0);
	m = mmap(NULL, 64 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	memset(m, 9, 64 * PG);
	ck_assert_int_eq(pagemap_zero_fill(m, 64, pagemap_is_anon_private(m, 64)), 0);
	ck_assert(all_zero(m, 64 * PG));
	munmap(m, 64 * PG);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pagemap");
	TCase *tc = tcase_create("pagemap");

	if (!pagemap_scan_available())
		printf("note: no PAGEMAP_SCAN here, both runs use the "
		       "fallback\n");
	/* 0: PAGEMAP_SCAN, 1: the fallback. */
	tcase_add_loop_test(tc, anonymous_populated_and_not, 0, 2);
	tcase_add_loop_test(tc, range_inside_a_mapping, 0, 2);
	tcase_add_loop_test(tc, file_backed_is_never_zero, 0, 2);
	tcase_add_loop_test(tc, hole_in_the_range, 0, 2);
	tcase_add_loop_test(tc, bad_arguments_and_stop, 0, 2);
	tcase_add_loop_test(tc, zero_fill, 0, 2);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
