/* SPDX-License-Identifier: MIT */
/*
 * What Debian 12's kernel headers (6.1) lack for the PAGEMAP_SCAN ioctl of
 * /proc/PID/pagemap (Linux >= 6.7). Values and layouts are the Linux UAPI
 * ones (include/uapi/linux/fs.h); the running kernel decides at run time
 * whether it knows them (ENOTTY before 6.7).
 */
#ifndef VMMIG_BASE_PAGEMAP_COMPAT_H
#define VMMIG_BASE_PAGEMAP_COMPAT_H

#include <linux/fs.h>
#include <linux/types.h>
#include <sys/ioctl.h>

#ifndef PAGEMAP_SCAN
/* Categories, in the masks of pm_scan_arg and in page_region.categories. */
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)

/* One output range: [start, end) with its categories. */
struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

/* Flags of pm_scan_arg.flags. */
#define PM_SCAN_WP_MATCHING (1 << 0)   /* write-protect the matched pages */
#define PM_SCAN_CHECK_WPASYNC (1 << 1) /* fail on a non-async-WP vma */

struct pm_scan_arg {
	__u64 size;     /* sizeof(struct pm_scan_arg) */
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end; /* out: where the walk stopped */
	__u64 vec;      /* struct page_region array */
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif /* PAGEMAP_SCAN */

/* Not UAPI: the categories pagemap_scan_kind() (pagemap.h) tells runs
 * apart by, for a PAGEMAP_SCAN's return_mask. */
#define PAGEMAP_SCAN_KINDS (PAGE_IS_PRESENT | PAGE_IS_SWAPPED | \
			    PAGE_IS_PFNZERO | PAGE_IS_FILE)

#endif /* VMMIG_BASE_PAGEMAP_COMPAT_H */
