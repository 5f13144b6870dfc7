/* SPDX-License-Identifier: MIT */
/*
 * A post-copy that failed leaves pages that never arrived. Closing the
 * userfaultfd (or freeing the session) would let the guest read zeros
 * there, silently wrong memory; so each of them is poisoned first:
 * UFFDIO_POISON (Linux >= 6.6) installs a marker that raises SIGBUS on
 * access, for good, and wakes a vCPU waiting on the page so it gets the
 * SIGBUS too. Where the kernel lacks it the pages are made inaccessible
 * (SIGSEGV) instead: never zeros either way.
 */
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "dest.h"
#include "base/uffd.h"

#ifndef UFFDIO_POISON
/* Linux 6.6 uapi, for older headers. */
struct uffdio_poison {
	struct uffdio_range range;
	uint64_t mode;
	int64_t updated;
};
#define _UFFDIO_POISON 0x08
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif

static int poison_range(int uffd, uint8_t *a, size_t len, bool *fallback)
{
	struct uffdio_poison p = { .range = { (uintptr_t)a, len } };

	while (!*fallback && len) {
		p.range = (struct uffdio_range){ (uintptr_t)a, len };
		p.updated = 0;
		if (!ioctl(uffd, UFFDIO_POISON, &p))
			return 0;
		if (errno == EAGAIN && p.updated > 0) {
			a += p.updated;
			len -= (size_t)p.updated;
			continue;
		}
		if (errno == EAGAIN || errno == EINTR)
			continue;
		if (errno == EEXIST) {
			/* A page in place after all (its placing raced
			 * the failure): keep it, poison the rest. */
			size_t done = p.updated > 0 ? (size_t)p.updated : 0;

			done += VMMIG_PAGE_SIZE;
			a += done < len ? done : len;
			len -= done < len ? done : len;
			continue;
		}
		/* Unknown ioctl (old kernel), no uffd left: fall back. */
		*fallback = true;
	}
	return len && mprotect(a, len, PROT_NONE) ? -errno : 0;
}

uint64_t dst_pc_poison_missing(struct vmmig_dest *dst)
{
	struct postcopy_dst *pc = dst->pc;
	bool fallback = pc->uffd < 0;
	uint64_t n = 0;

	for (unsigned ri = 0; ri < dst->sess.regions.n; ri++) {
		const struct region *r = &dst->sess.regions.r[ri];
		const uint64_t *pend = pc->r[ri].pending;

		for (uint64_t p = 0; p < r->npages;) {
			uint64_t q = p;

			while (q < r->npages && pc_test_bit(pend, q))
				q++;
			if (q == p) {
				p++;
				continue;
			}
			int ret = poison_range(pc->uffd,
					       r->host + p * VMMIG_PAGE_SIZE,
					       (q - p) * VMMIG_PAGE_SIZE,
					       &fallback);
			if (ret)
				log_msg(&dst->sess.log, VMMIG_LOG_ERROR,
					"cannot fence %llu missing pages: %s",
					(unsigned long long)(q - p),
					vmmig_strerror(ret));
			n += q - p;
			p = q;
		}
	}
	if (n)
		log_msg(&dst->sess.log, VMMIG_LOG_ERROR,
			"%llu pages never arrived: %s on access",
			(unsigned long long)n,
			fallback ? "inaccessible, SIGSEGV"
				 : "poisoned, SIGBUS");
	return n;
}
