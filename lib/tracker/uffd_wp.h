/* SPDX-License-Identifier: MIT */
/*
 * Private: state of the userfaultfd write-protect tracker, shared by
 * uffd_wp.c (open, start, stop), uffd_scan.c (async mode: PAGEMAP_SCAN) and
 * uffd_fault.c (sync mode: fault thread).
 */
#ifndef VMMIG_UFFD_WP_H
#define VMMIG_UFFD_WP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "tracker_impl.h"

struct page_region;

struct uffd_region {
	uint64_t start;         /* host address */
	uint64_t len;           /* bytes */
	uint64_t npages;
	int registered;         /* UFFDIO_REGISTER succeeded */
	int lock_ok;            /* lock initialised */
	int holes_unarmed;      /* async: private anonymous memory, whose
				 * holes are left unarmed (uffd_scan.c) */
	/* Sync mode: the fault thread sets a bit and un-protects the page
	 * under this lock; sync() takes the bits and re-protects the pages
	 * under it too (see uffd_fault.c for why they must not interleave). */
	pthread_mutex_t lock;
	uint64_t *dirty;        /* sync mode: pages un-protected since sync */
	uint64_t *zero_at_start; /* async mode: pages that read as zero when
				  * armed (uffd_scan_arm()) */
};

struct uffd_wp {
	unsigned flags;         /* VMMIG_UFFD_WP_* */
	int uffd;               /* the userfaultfd, -1 when closed */
	int async;              /* 1: WP_ASYNC + PAGEMAP_SCAN, 0: fault thread */
	uint64_t features;      /* features enabled by UFFDIO_API */
	int pagemap;            /* async: /proc/self/pagemap, else -1 */
	struct page_region *vec; /* async: PAGEMAP_SCAN output buffer */
	int evfd;               /* sync: eventfd that tells the thread to quit */
	int thread_on;          /* sync: the fault thread runs */
	pthread_t thread;
	atomic_int err;         /* sync: first error of the fault thread */
	unsigned nr;            /* regions */
	struct uffd_region *regs;
};

/* Entries of the PAGEMAP_SCAN output buffer (24 bytes each). */
#define UFFD_SCAN_VEC 1024

/* uffd_wp.c: (un)protect [start, start+len) (mode WP or 0). */
int uffd_protect(int uffd, uint64_t start, uint64_t len, int wp);

/* uffd_scan.c: async mode. */
int uffd_scan_probe(void);
int uffd_scan_sync(struct uffd_wp *u, unsigned index, uint64_t *bitmap);
/* Protect region @index, recording its pages that read as zero. */
int uffd_scan_arm(struct uffd_wp *u, unsigned index);

/* uffd_fault.c: sync mode. */
int uffd_fault_start(struct uffd_wp *u);
void uffd_fault_stop(struct uffd_wp *u);
int uffd_fault_sync(struct uffd_wp *u, unsigned index, uint64_t *bitmap);

#endif /* VMMIG_UFFD_WP_H */
