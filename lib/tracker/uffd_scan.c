/* SPDX-License-Identifier: MIT */
/*
 * uffd-wp async mode: arming and sync() are PAGEMAP_SCAN walks of the
 * region, one per output-vector-full. With PM_SCAN_WP_MATCHING the kernel
 * reports each written page and write-protects it again under the same
 * page-table lock, so a write lands either before (reported now) or after
 * (faults, is reported by the next sync): nothing is lost and nothing needs
 * locking here.
 *
 * In private anonymous memory, holes (never-populated pages) are never
 * armed, so that the cost of a walk follows the populated memory, not the
 * region's size. Both walks ask only for populated pages
 * (category_anyof_mask PRESENT | SWAPPED; fs/proc/task_mmu.c, Linux
 * 6.7-6.18):
 * - a hole has no category at all, whether its page table is missing
 *   (pagemap_scan_pte_hole(): not interesting, so no uffd_wp_range(), no
 *   page table, no marker) or its entry is empty (pagemap_page_category()
 *   gives 0): it never matches, is never reported and never protected;
 * - a later write fills the hole with a present page that has no uffd-wp
 *   bit (do_anonymous_page() sets it only over a marker), i.e. PRESENT |
 *   WRITTEN: the next sync reports and protects it. A read maps the zero
 *   page, also without the bit: reported once (it reads as zero; a false
 *   positive), then protected like any page. Where THP may be used
 *   (MADV_HUGEPAGE), a write to an empty 2 MiB range may map a huge PMD
 *   without the bit: the walk reports its 512 pages and protects the PMD
 *   (pagemap_scan_thp_entry()), and the next write to it splits it into
 *   protected PTEs (wp_huge_pmd(), async mode) and unprotects one page;
 * - an anonymous page never goes back to an empty entry by itself:
 *   swap-out and migration leave a swap entry that keeps the bit (SWAPPED,
 *   not WRITTEN) or lacks it (written: reported), and swap-in restores it.
 * The catch: an empty entry is never reported, so a page the embedder
 * drops while tracking (madvise(MADV_DONTNEED) on guest memory, a
 * balloon) is not seen as changed, as with a KVM dirty log.
 *
 * Shared memory (memfd, shmem) keeps every empty entry armed, as before:
 * reclaim unmaps a page there, leaving an empty entry (a marker only if it
 * was protected), so a written page not yet reported would vanish from a
 * walk that skips empty entries. Its walks ask for every page, and the
 * sync takes the kernel's fast path, which counts an empty entry as
 * written and arms it.
 *
 * The anyof mask keeps the kernel off its fast path (category_mask ==
 * return_mask == WRITTEN only), which would report every empty entry of
 * an existing page table as written and fill it with a marker; the slow
 * path costs a few more instructions per entry of the page tables that
 * exist, and nothing for those that do not.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/pagemap.h"

#include "base/uffd.h"
#include "uffd_wp.h"

/* 0 if the running kernel knows PAGEMAP_SCAN (an empty walk succeeds). */
int uffd_scan_probe(void)
{
	struct pm_scan_arg arg = { .size = sizeof(arg) };
	int fd, ret = 0;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, PAGEMAP_SCAN, &arg) < 0)
		ret = -errno; /* ENOTTY before Linux 6.7 */
	close(fd);
	return ret;
}

/* Only populated pages match a walk of anonymous memory (see above). */
#define SCAN_POPULATED (PAGE_IS_PRESENT | PAGE_IS_SWAPPED)

/* One PAGEMAP_SCAN walk of region @index with WP_MATCHING (the matched
 * pages that are written are write-protected under the same page-table
 * lock that reports them): the pages (populated only, if holes stay
 * unarmed) of categories @mask, as ranges of @ret categories, go to @fn. */
typedef void (*scan_fn)(uint64_t *bm, uint64_t first, uint64_t count,
			uint64_t categories);

static int scan_walk(struct uffd_wp *u, unsigned index, uint64_t mask,
		     uint64_t ret_mask, scan_fn fn, uint64_t *bm)
{
	const struct uffd_region *r = &u->regs[index];
	uint64_t anyof = r->holes_unarmed ? SCAN_POPULATED : 0;
	uint64_t end = r->start + r->len;
	uint64_t pos = r->start;
	struct pm_scan_arg arg;

	/* Each call either finishes the walk or fills the vector, which
	 * holds >= 1 range of >= 1 page: npages + 1 calls always suffice. */
	for (uint64_t calls = 0; pos < end && calls <= r->npages; calls++) {
		long n;

		memset(&arg, 0, sizeof(arg));
		arg.size = sizeof(arg);
		arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
		arg.start = pos;
		arg.end = end;
		arg.vec = (uintptr_t)u->vec;
		arg.vec_len = UFFD_SCAN_VEC;
		arg.category_mask = mask;
		arg.category_anyof_mask = anyof;
		arg.return_mask = ret_mask;

		n = ioctl(u->pagemap, PAGEMAP_SCAN, &arg);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (long i = 0; i < n; i++) {
			uint64_t s = u->vec[i].start, e = u->vec[i].end;

			if (s < r->start || e > end || s >= e)
				return -EIO; /* not what we asked for */
			fn(bm, (s - r->start) / VMMIG_PAGE_SIZE,
			   (e - s) / VMMIG_PAGE_SIZE, u->vec[i].categories);
		}
		/* The walk stops early when the vector is full; walk_end says
		 * where to resume. */
		if (arg.walk_end <= pos)
			return -EIO;
		pos = arg.walk_end;
	}
	return pos >= end ? 0 : -EIO;
}

static void mark_written(uint64_t *bm, uint64_t first, uint64_t count,
			 uint64_t categories)
{
	(void)categories;
	bits_set_range(bm, first, count);
}

int uffd_scan_sync(struct uffd_wp *u, unsigned index, uint64_t *bitmap)
{
	return scan_walk(u, index, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN,
			 mark_written, bitmap);
}

/* Arming sees only populated pages: record those that do not read as
 * zero (the zero page does). */
static void mark_nonzero(uint64_t *bm, uint64_t first, uint64_t count,
			 uint64_t categories)
{
	if (pagemap_scan_kind(categories) != PAGEMAP_ZERO)
		bits_set_range(bm, first, count);
}

/*
 * Arm region @index: write-protect every populated page (and in shared
 * memory every hole too) in the walk that also reports what each page is
 * at that moment. For private anonymous memory, holes get no marker and no
 * page table, and the pages that read as zero then (holes: everything the
 * walk did not report; and the zero page) go to the region's zero_at_start
 * bitmap: they need not be read to be sent, and a later write to any of
 * them is reported by a sync. Elsewhere a hole is not zero (a memfd page
 * not mapped yet): no bitmap.
 */
int uffd_scan_arm(struct uffd_wp *u, unsigned index)
{
	struct uffd_region *r = &u->regs[index];
	uint64_t words = (r->npages + 63) / 64;
	uint64_t *z;
	int ret;

	r->holes_unarmed = pagemap_is_anon_private((void *)(uintptr_t)r->start,
						   r->npages);
	z = calloc(words, 8);
	if (!z)
		return -ENOMEM;
	ret = scan_walk(u, index, 0, PAGEMAP_SCAN_KINDS, mark_nonzero, z);
	if (ret < 0 || !r->holes_unarmed) {
		free(z);
		return ret;
	}
	for (uint64_t w = 0; w < words; w++)
		z[w] = ~z[w];
	if (r->npages % 64)
		z[words - 1] &= (1ull << (r->npages % 64)) - 1;
	r->zero_at_start = z;
	return 0;
}
