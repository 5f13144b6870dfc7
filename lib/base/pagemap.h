/* SPDX-License-Identifier: MIT */
/*
 * Which pages of a range of this process's memory are populated, found in
 * bulk (private). One PAGEMAP_SCAN ioctl walks a whole range where the
 * kernel has it (Linux >= 6.7); elsewhere mincore() and /proc/self/pagemap
 * are read over large ranges. Both sides use it: the source does not read
 * (and so fault in) pages that were never populated, the destination does
 * not write zeros where its memory already reads as zero.
 */
#ifndef VMMIG_LIB_BASE_PAGEMAP_H
#define VMMIG_LIB_BASE_PAGEMAP_H

#include <stdbool.h>
#include <stdint.h>

/* What a run of pages holds, as far as the page tables tell. */
enum pagemap_kind {
	/* Reads as zero without being touched: private anonymous memory
	 * with no page and no swap entry (never populated, or dropped), or
	 * mapped to the kernel's shared zero page. */
	PAGEMAP_ZERO = 0,
	/* Private anonymous memory with contents (a page or a swap entry,
	 * incl. userfaultfd write-protect markers, which look swapped out):
	 * madvise(MADV_DONTNEED) makes it read as zero. */
	PAGEMAP_ANON = 1,
	/* Anything else (shared or file-backed memory, whose pages may sit
	 * in the page cache or a file even where no page table maps them;
	 * pages in no mapping; unknown): only its bytes tell. */
	PAGEMAP_OTHER = 2,
};

/* Called for each maximal run [first, first + count) of pages (indices
 * relative to the range) of one kind, in order. Non-zero stops the walk
 * and is returned. */
typedef int (*pagemap_run_fn)(void *cookie, uint64_t first, uint64_t count,
			      enum pagemap_kind kind);

/*
 * Whether the @npages pages at @addr lie in private anonymous mappings
 * only (/proc/self/maps). The page tables cannot tell a never-populated
 * anonymous page (zero) from a file page not mapped yet (whatever the page
 * cache or the file holds), so callers ask once per region and pass the
 * answer as @anon below: a region's mapping does not change while it is
 * migrated.
 */
bool pagemap_is_anon_private(const void *addr, uint64_t npages);
/*
 * Classify the @npages pages at @addr (page aligned) into runs. With @anon
 * false all of them are PAGEMAP_OTHER (no walk). Any thread. Return 0,
 * @fn's non-zero value, or -errno (-EINVAL: @addr not aligned; -ENOMEM
 * from the fallback: a page of the range is not mapped).
 */
int pagemap_runs(const void *addr, uint64_t npages, bool anon,
		 pagemap_run_fn fn, void *cookie);
/* OR into @bm (bit i: page i of the range) the PAGEMAP_ZERO pages. Returns
 * how many there are, or -errno as pagemap_runs(). */
int64_t pagemap_zero_bitmap(const void *addr, uint64_t npages, bool anon,
			    uint64_t *bm);
/* Make the @npages pages at @addr read as zero, cheaply: nothing where they
 * already do, MADV_DONTNEED on runs of private anonymous pages, MADV_REMOVE
 * on runs of shared memory, else a write of the pages that are not zero.
 * The memory must not be in use meanwhile (no guest runs on it). 0 or
 * -errno. */
int pagemap_zero_fill(void *addr, uint64_t npages, bool anon);
/* The kind of a PAGEMAP_SCAN run with these categories (PAGE_IS_*, asked
 * for with return_mask PRESENT | SWAPPED | PFNZERO | FILE). */
enum pagemap_kind pagemap_scan_kind(uint64_t categories);
/* Set bits [first, first + count) of @bm, whole words at a time. */
void bits_set_range(uint64_t *bm, uint64_t first, uint64_t count);
/* A session keeps /proc/self/pagemap open from hold to release, so that
 * its walks cost no open(); outside a hold each walk opens its own. */
void pagemap_hold(void);
void pagemap_release(void);
/* Tests: walk with mincore() and pagemap even where PAGEMAP_SCAN works;
 * whether the kernel has PAGEMAP_SCAN. */
void pagemap_force_fallback(bool on);
bool pagemap_scan_available(void);

#endif /* VMMIG_LIB_BASE_PAGEMAP_H */
