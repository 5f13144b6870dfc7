/* SPDX-License-Identifier: MIT */
/*
 * The manual tracker: the embedder (a device emulator, a software guest)
 * reports its writes with vmmig_tracker_manual_mark(). Marking is lock-free:
 * an atomic fetch_or into a per-region bitmap; sync() exchanges each word
 * with 0, so a mark is reported by exactly one sync (the first one after it).
 *
 * The bitmaps live from start() to destroy() (not just to stop()): a marker
 * that saw the tracker running just before stop() still writes into valid
 * memory. Marking concurrently with start() or with vmmig_tracker_free() is
 * the embedder's bug.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "tracker_impl.h"

struct mregion {
	uint32_t id;              /* embedder's region id */
	uint64_t size;            /* bytes */
	_Atomic uint64_t *bits;   /* one bit per page, set by mark() */
};

struct manual {
	atomic_int live;          /* 1 between start() and stop() */
	unsigned nr;              /* regions */
	struct mregion *r;        /* array of nr */
};

static void manual_release(struct manual *m)
{
	for (unsigned i = 0; m->r && i < m->nr; i++)
		free(m->r[i].bits);
	free(m->r);
	m->r = NULL;
	m->nr = 0;
}

static int manual_start(void *priv, const struct vmmig_tracker_region *regions,
			unsigned nr)
{
	struct manual *m = priv;

	manual_release(m); /* left over from an earlier start/stop cycle */
	m->r = calloc(nr, sizeof(*m->r));
	if (!m->r)
		return -ENOMEM;
	m->nr = nr;
	for (unsigned i = 0; i < nr; i++) {
		/* mark() finds regions by id: ids must be unique. */
		for (unsigned j = 0; j < i; j++)
			if (regions[j].id == regions[i].id)
				return -EINVAL;
		m->r[i].id = regions[i].id;
		m->r[i].size = regions[i].size;
		m->r[i].bits = calloc((regions[i].npages + 63) / 64,
				      sizeof(uint64_t));
		if (!m->r[i].bits)
			return -ENOMEM;
	}
	/* Release: a marker that sees live == 1 sees the arrays too. */
	atomic_store_explicit(&m->live, 1, memory_order_release);
	return 0;
}

static int manual_sync(void *priv, unsigned index, uint64_t *bitmap)
{
	struct manual *m = priv;
	struct mregion *r = &m->r[index];
	uint64_t words = (r->size / VMMIG_PAGE_SIZE + 63) / 64;

	for (uint64_t w = 0; w < words; w++) {
		/* Relaxed load first: most words are 0, skip the RMW. */
		if (!atomic_load_explicit(&r->bits[w], memory_order_relaxed))
			continue;
		/* Acquire pairs with mark()'s release: the caller then reads
		 * the page contents written before the mark. */
		bitmap[w] |= atomic_exchange_explicit(&r->bits[w], 0,
						      memory_order_acquire);
	}
	return 0;
}

static void manual_stop(void *priv)
{
	struct manual *m = priv;

	atomic_store_explicit(&m->live, 0, memory_order_release);
}

static void manual_destroy(void *priv)
{
	manual_release(priv);
}

const struct vmmig_tracker_ops tracker_manual_ops = {
	.version = VMMIG_TRACKER_OPS_VERSION,
	.name = "manual",
	.priv_size = sizeof(struct manual),
	.start = manual_start,
	.sync = manual_sync,
	.stop = manual_stop,
	.destroy = manual_destroy,
};

VMMIG_API int vmmig_tracker_new_manual(struct vmmig_tracker **out)
{
	return vmmig_tracker_new(&tracker_manual_ops, NULL, out);
}

VMMIG_API int vmmig_tracker_manual_mark(struct vmmig_tracker *t,
					uint32_t region_id, uint64_t offset,
					uint64_t len)
{
	struct manual *m = tracker_priv_if(t, &tracker_manual_ops);
	struct mregion *r = NULL;
	uint64_t first, last;

	if (!m)
		return -EINVAL;
	if (!atomic_load_explicit(&m->live, memory_order_acquire))
		return -ENODEV;
	/* Few regions per VM: a linear search is the cheapest lookup. */
	for (unsigned i = 0; i < m->nr; i++) {
		if (m->r[i].id == region_id) {
			r = &m->r[i];
			break;
		}
	}
	if (!r || offset > r->size || len > r->size - offset)
		return -EINVAL;
	if (len == 0)
		return 0;

	first = offset / VMMIG_PAGE_SIZE;
	last = (offset + len - 1) / VMMIG_PAGE_SIZE;
	for (uint64_t w = first / 64; w <= last / 64; w++) {
		uint64_t mask = ~0ull;

		if (w == first / 64)
			mask &= ~0ull << (first % 64);
		if (w == last / 64)
			mask &= ~0ull >> (63 - last % 64);
		atomic_fetch_or_explicit(&r->bits[w], mask,
					 memory_order_release);
	}
	return 0;
}
