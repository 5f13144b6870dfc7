/* SPDX-License-Identifier: MIT */
/*
 * userfaultfd write-protect tracker: opening the userfaultfd, choosing the
 * mode, registering and protecting the regions, tearing down.
 *
 * Async mode (Linux >= 6.7: UFFD_FEATURE_WP_ASYNC and PAGEMAP_SCAN): the
 * kernel resolves write faults itself by dropping the protection of the page;
 * sync() asks PAGEMAP_SCAN for the pages without protection ("written") and
 * re-protects them in the same walk (uffd_scan.c). No thread, no round trip.
 * Only populated pages are armed: a hole has no protection to lose, and
 * its first write shows as a written page (uffd_scan.c says why).
 *
 * Sync mode (older kernels, or VMMIG_UFFD_WP_FORCE_SYNC): each first write
 * to a protected page blocks the writer until our fault thread has recorded
 * the page and lifted the protection (uffd_fault.c).
 *
 * The userfaultfd is opened without UFFD_USER_MODE_ONLY: for a real guest
 * the faults come from KVM, in kernel mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/uffd.h"
#include "tracker_zero.h"
#include "uffd_wp.h"


int uffd_protect(int uffd, uint64_t start, uint64_t len, int wp)
{
	struct uffdio_writeprotect w = {
		.range = { .start = start, .len = len },
		.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	/* EAGAIN: the address space is changing under a non-cooperative
	 * event; short-lived, so retry a bounded number of times. */
	for (int tries = 0; tries < 1000; tries++) {
		if (ioctl(uffd, UFFDIO_WRITEPROTECT, &w) == 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		sched_yield();
	}
	return -EAGAIN;
}

static int uffd_init(void *priv, const void *config)
{
	struct uffd_wp *u = priv;
	uint64_t have = 0, want;
	int fd, ret;

	u->uffd = u->pagemap = u->evfd = -1;
	if (config)
		u->flags = *(const unsigned *)config;

	/* Features are fixed by the first UFFDIO_API on a descriptor, so ask
	 * what exists on a throw-away one, then open the real one. */
	fd = uffd_open();
	if (fd < 0)
		return fd;
	ret = uffd_api(fd, 0, &have);
	close(fd);
	if (ret < 0)
		return ret;
	if (!(have & UFFD_FEATURE_PAGEFAULT_FLAG_WP))
		return -EOPNOTSUPP;

	/* WP_UNPOPULATED: protecting a never-touched anonymous page leaves a
	 * marker in its empty PTE, so the first write to it is seen too. Sync
	 * mode uses that (without it, it pre-faults the regions instead: see
	 * populate()). Async mode never protects a hole, but still needs the
	 * feature: PAGEMAP_SCAN write-protects (and with CHECK_WPASYNC walks)
	 * anonymous memory only where markers are enabled
	 * (userfaultfd_wp_use_markers()). WP_HUGETLBFS_SHMEM lets us register
	 * shmem (memfd) regions. */
	want = have & (UFFD_FEATURE_WP_UNPOPULATED |
		       UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	if (!(u->flags & VMMIG_UFFD_WP_FORCE_SYNC) &&
	    (have & UFFD_FEATURE_WP_ASYNC) &&
	    (have & UFFD_FEATURE_WP_UNPOPULATED) && uffd_scan_probe() == 0) {
		want |= UFFD_FEATURE_WP_ASYNC;
		u->async = 1;
	}

	u->uffd = uffd_open();
	if (u->uffd < 0)
		return u->uffd;
	ret = uffd_api(u->uffd, want, &have);
	if (ret < 0)
		return ret;
	u->features = want;

	if (u->async) {
		u->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (u->pagemap < 0)
			return -errno;
		u->vec = calloc(UFFD_SCAN_VEC, sizeof(*u->vec));
		if (!u->vec)
			return -ENOMEM;
	}
	return 0;
}

/* Without WP_UNPOPULATED an empty PTE cannot carry the protection: map the
 * zero page read-only everywhere first, so that every page has a PTE to
 * protect and a write to it faults. Harmless on populated pages. */
static void populate(const struct uffd_region *r)
{
#ifdef MADV_POPULATE_READ
	if (madvise((void *)(uintptr_t)r->start, r->len,
		    MADV_POPULATE_READ) == 0)
		return;
#endif
	for (uint64_t off = 0; off < r->len; off += VMMIG_PAGE_SIZE)
		(void)*(volatile const char *)(uintptr_t)(r->start + off);
}

static int uffd_start(void *priv, const struct vmmig_tracker_region *regions,
		      unsigned nr)
{
	struct uffd_wp *u = priv;
	int ret;

	u->regs = calloc(nr, sizeof(*u->regs));
	if (!u->regs)
		return -ENOMEM;
	u->nr = nr;
	atomic_store(&u->err, 0);

	for (unsigned i = 0; i < nr; i++) {
		struct uffd_region *r = &u->regs[i];

		r->start = (uintptr_t)regions[i].host;
		r->len = regions[i].size;
		r->npages = regions[i].npages;
		if (u->async)
			continue;
		r->dirty = calloc((r->npages + 63) / 64, sizeof(uint64_t));
		if (!r->dirty)
			return -ENOMEM;
		if (pthread_mutex_init(&r->lock, NULL) != 0)
			return -ENOMEM;
		r->lock_ok = 1;
	}

	for (unsigned i = 0; i < nr; i++) {
		struct uffd_region *r = &u->regs[i];
		struct uffdio_register reg = {
			.range = { .start = r->start, .len = r->len },
			.mode = UFFDIO_REGISTER_MODE_WP,
		};

		if (ioctl(u->uffd, UFFDIO_REGISTER, &reg) < 0)
			return -errno;
		r->registered = 1;
		if (!(reg.ioctls & (1ull << _UFFDIO_WRITEPROTECT)))
			return -EOPNOTSUPP;
		if (!(u->features & UFFD_FEATURE_WP_UNPOPULATED))
			populate(r);
	}

	/* The thread must serve faults before the first page is protected. */
	if (!u->async) {
		ret = uffd_fault_start(u);
		if (ret < 0)
			return ret;
	}
	for (unsigned i = 0; i < nr; i++) {
		ret = u->async ? uffd_scan_arm(u, i)
			       : uffd_protect(u->uffd, u->regs[i].start,
					      u->regs[i].len, 1);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int uffd_sync(void *priv, unsigned index, uint64_t *bitmap)
{
	struct uffd_wp *u = priv;

	if (u->async)
		return uffd_scan_sync(u, index, bitmap);
	return uffd_fault_sync(u, index, bitmap);
}

static void uffd_stop(void *priv)
{
	struct uffd_wp *u = priv;

	/* Unregister first: no new fault can block after that (the kernel
	 * waits for faults in flight to queue themselves). Unregistering
	 * wakes only MISSING-mode waiters, so wake the write-protect ones
	 * still queued ourselves: the fault thread may quit before serving
	 * them, and they would sleep until the descriptor is closed. Woken,
	 * they retry and find the range unregistered. The thread may still
	 * be handling a message, so the bitmaps go only after the join. */
	for (unsigned i = 0; u->regs && i < u->nr; i++) {
		struct uffd_region *r = &u->regs[i];
		struct uffdio_range range = { .start = r->start, .len = r->len };

		if (!r->registered)
			continue;
		(void)ioctl(u->uffd, UFFDIO_UNREGISTER, &range);
		(void)ioctl(u->uffd, UFFDIO_WAKE, &range);
		r->registered = 0;
	}
	uffd_fault_stop(u);
	for (unsigned i = 0; u->regs && i < u->nr; i++) {
		if (u->regs[i].lock_ok)
			pthread_mutex_destroy(&u->regs[i].lock);
		free(u->regs[i].dirty);
		free(u->regs[i].zero_at_start);
	}
	free(u->regs);
	u->regs = NULL;
	u->nr = 0;
}

static void uffd_destroy(void *priv)
{
	struct uffd_wp *u = priv;

	if (u->uffd >= 0)
		close(u->uffd);
	if (u->pagemap >= 0)
		close(u->pagemap);
	free(u->vec);
	u->uffd = u->pagemap = -1;
	u->vec = NULL;
}

const struct vmmig_tracker_ops tracker_uffd_wp_ops = {
	.version = VMMIG_TRACKER_OPS_VERSION,
	.name = "uffd-wp",
	.priv_size = sizeof(struct uffd_wp),
	.init = uffd_init,
	.start = uffd_start,
	.sync = uffd_sync,
	.stop = uffd_stop,
	.destroy = uffd_destroy,
};

VMMIG_API int vmmig_tracker_new_uffd_wp(unsigned flags,
					struct vmmig_tracker **out)
{
	if (flags & ~VMMIG_UFFD_WP_FORCE_SYNC) {
		if (out)
			*out = NULL;
		return -EINVAL;
	}
	return vmmig_tracker_new(&tracker_uffd_wp_ops, &flags, out);
}

/* The mode is chosen in init(), so this is valid right after _new(). */
VMMIG_API int vmmig_tracker_uffd_wp_is_async(const struct vmmig_tracker *t)
{
	const struct uffd_wp *u = tracker_priv_if(t, &tracker_uffd_wp_ops);

	if (!u)
		return -EINVAL;
	return u->async;
}

int64_t tracker_zero_at_start(struct vmmig_tracker *t, unsigned index,
			      uint64_t *bm)
{
	struct uffd_wp *u = tracker_priv_if(t, &tracker_uffd_wp_ops);
	const uint64_t *z;
	int64_t n = 0;

	if (!u || index >= u->nr || !u->regs[index].zero_at_start)
		return -EOPNOTSUPP;
	z = u->regs[index].zero_at_start;
	for (uint64_t w = 0; w < (u->regs[index].npages + 63) / 64; w++) {
		bm[w] |= z[w];
		if (z[w])
			n += __builtin_popcountll(z[w]);
	}
	return n;
}
