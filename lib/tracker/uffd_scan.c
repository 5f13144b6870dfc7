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
#include <string.h>
#include <unistd.h>

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

static void set_range(uint64_t *bitmap, uint64_t first, uint64_t end)
{
	for (uint64_t p = first; p < end;) {
		if (p % 64 == 0 && end - p >= 64) {
			bitmap[p / 64] = ~0ull;
			p += 64;
		} else {
			bitmap[p / 64] |= 1ull << (p % 64);
			p++;
		}
	}
}

int uffd_scan_sync(struct uffd_wp *u, unsigned index, uint64_t *bitmap)
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
		arg.category_mask = PAGE_IS_WRITTEN;
		arg.return_mask = PAGE_IS_WRITTEN;

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
			set_range(bitmap, (s - r->start) / VMMIG_PAGE_SIZE,
				  (e - r->start) / VMMIG_PAGE_SIZE);
		}
		/* The walk stops early when the vector is full; walk_end says
		 * where to resume. */
		if (arg.walk_end <= pos)
			return -EIO;
		pos = arg.walk_end;
	}
	return pos >= end ? 0 : -EIO;
}
