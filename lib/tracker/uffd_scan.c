/* SPDX-License-Identifier: MIT */
/*
 * uffd-wp async mode: sync() is one PAGEMAP_SCAN walk per output-vector-full
 * of the region. With PM_SCAN_WP_MATCHING the kernel reports each written
 * page and write-protects it again under the same page-table lock, so a
 * write lands either before (reported now) or after (faults, is reported by
 * the next sync): nothing is lost and nothing needs locking here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/pagemap.h"

#include "uffd_compat.h"
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

/* One PAGEMAP_SCAN walk of region @index with WP_MATCHING (the matched
 * pages are write-protected under the same page-table lock that reports
 * them): the pages of categories @mask, as ranges of @ret categories, go
 * to @fn. */
typedef void (*scan_fn)(uint64_t *bm, uint64_t first, uint64_t count,
			uint64_t categories);

static int scan_walk(struct uffd_wp *u, unsigned index, uint64_t mask,
		     uint64_t ret_mask, scan_fn fn, uint64_t *bm)
{
	const struct uffd_region *r = &u->regs[index];
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

static void mark_zero(uint64_t *bm, uint64_t first, uint64_t count,
		      uint64_t categories)
{
	if (pagemap_scan_kind(categories) == PAGEMAP_ZERO)
		bits_set_range(bm, first, count);
}

/*
 * Arm region @index: write-protect every page (empty PTEs get a marker) in
 * the walk that also reports what each page was at that moment. The pages
 * that read as zero then (never populated, or the zero page) go to the
 * region's zero_at_start bitmap: they need not be read to be sent, and
 * any later write is reported by a sync. After arming, a marker looks
 * like a swapped-out page to PAGEMAP_SCAN, so only this walk can tell.
 */
int uffd_scan_arm(struct uffd_wp *u, unsigned index)
{
	struct uffd_region *r = &u->regs[index];

	r->zero_at_start = calloc((r->npages + 63) / 64, 8);
	if (!r->zero_at_start)
		return -ENOMEM;
	return scan_walk(u, index, 0, PAGEMAP_SCAN_KINDS, mark_zero,
			 r->zero_at_start);
}
