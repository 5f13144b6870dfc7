/* SPDX-License-Identifier: MIT */
/*
 * ZERO runs on the destination, placed in bulk. Before the switch the
 * run's memory is made to read as zero the cheap way: nothing to do where
 * it was never populated here either, MADV_DONTNEED where it holds private
 * anonymous pages, a write only where it must (pagemap_zero_fill()). After
 * a post-copy switch every page of the run must be pending (else the run
 * would overwrite what the running guest may have changed) and the run is
 * installed with UFFDIO_ZEROPAGE, which also wakes the vCPUs waiting in it
 * (a long run simply leaves userfaultfd: it was dropped at the switch).
 * In both cases a run counts 0 in the memory hash, like a zero page.
 */
#include <errno.h>
#include <sys/ioctl.h>

#include "base/pagemap.h"
#include "dest_feat.h"
#include "base/uffd.h"

/* Bytes per UFFDIO_ZEROPAGE: the kernel holds the mm's lock meanwhile, so
 * fault handling for other pages is not held up for long. */
#define ZEROPAGE_CHUNK (64ull << 20)
/* Pages from which a run leaves userfaultfd rather than being mapped. */
#define UNREGISTER_MIN 512

/* Whether every page of [first, first + n) is pending, a word at a time. */
static bool all_pending(const uint64_t *pending, uint64_t first, uint64_t n)
{
	for (uint64_t p = first; p < first + n;) {
		uint64_t off = p % 64, k = 64 - off < first + n - p
						   ? 64 - off : first + n - p;
		uint64_t mask = (k == 64 ? ~0ull : (1ull << k) - 1) << off;

		if ((__atomic_load_n(&pending[p / 64], __ATOMIC_ACQUIRE) &
		     mask) != mask)
			return false;
		p += k;
	}
	return true;
}

static int place_zero(struct vmmig_dest *dst, unsigned ri, uint64_t first,
		      uint64_t n)
{
	struct postcopy_dst *pc = dst->pc;
	uint64_t addr = (uintptr_t)(dst->sess.regions.r[ri].host +
				    first * VMMIG_PAGE_SIZE);
	uint64_t len = n * VMMIG_PAGE_SIZE, done = 0;

	if (!all_pending(pc->r[ri].pending, first, n))
		return -EPROTO; /* valid here already: never overwrite it */
	/* Pending pages were dropped at the switch and nothing maps them
	 * but placing: a long run already reads as zero once userfaultfd
	 * lets go of it, which costs one VMA split instead of a zero-page
	 * PTE per page (seconds for tens of GiB). Faults waiting in it are
	 * woken and retry without userfaultfd. Too many VMAs (ENOMEM): the
	 * run is placed page by page instead. */
	if (n >= UNREGISTER_MIN) {
		struct uffdio_range rg = { addr, len };

		if (ioctl(pc->uffd, UFFDIO_UNREGISTER, &rg) == 0)
			done = len;
	}
	while (done < len) {
		uint64_t k = len - done < ZEROPAGE_CHUNK ? len - done
							 : ZEROPAGE_CHUNK;
		struct uffdio_zeropage z = { .range = { addr + done, k } };

		/* EAGAIN: the address space changed meanwhile; zeropage
		 * says how far it got. EEXIST: see dst_pc_place(). */
		if (ioctl(pc->uffd, UFFDIO_ZEROPAGE, &z) == 0)
			done += k;
		else if (z.zeropage > 0)
			done += (uint64_t)z.zeropage;
		else if (errno != EAGAIN)
			return -errno;
	}
	dst_verify_zero(dst, ri, first, n);
	dst_pc_placed(dst, ri, first, n);
	return 0;
}

int dst_zero_run(struct vmmig_dest *dst, unsigned ri, uint64_t first,
	      uint64_t n, bool placing)
{
	int ret;

	/* Restores in flight for these pages lost (or a page dropped early
	 * is refused): only where restores or early drops exist, which
	 * costs a look per page. */
	if (dst->page_source || atomic_load(&dst->early_dropped))
		for (uint64_t p = first; p < first + n; p++)
			if ((ret = dst_restore_on_write(dst, ri, p)))
				return ret;
	if (placing)
		return place_zero(dst, ri, first, n);
	ret = pagemap_zero_fill(dst->sess.regions.r[ri].host +
				first * VMMIG_PAGE_SIZE, n,
				dst->sess.regions.r[ri].anon);
	if (ret)
		return ret;
	dst_verify_zero(dst, ri, first, n);
	return 0;
}
