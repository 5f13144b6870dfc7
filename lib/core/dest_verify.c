/* SPDX-License-Identifier: MIT */
/*
 * The destination's half of the end-to-end memory check. Each page's
 * page_hash() is kept as its final copy lands (from the stream, from
 * storage, or placed after a post-copy switch), and their sum is kept
 * along; a page that never lands is zero and counts 0. At the switchover the
 * sum is this side's digest at no cost, while hashing all memory there
 * would cost the downtime. The source hashes its memory after it gave the
 * guest up and the two are compared (dest_switch.c, dest_run.c).
 */
#include <errno.h>
#include <stdlib.h>

#include "dest.h"

int dverify_init(struct vmmig_dest *dst)
{
	if (dst->vhash)
		return 0;
	dst->vhash = calloc(dst->regions.n, sizeof(*dst->vhash));
	if (!dst->vhash)
		return -ENOMEM;
	for (unsigned i = 0; i < dst->regions.n; i++) {
		dst->vhash[i] = calloc(dst->regions.r[i].npages, 8);
		if (!dst->vhash[i])
			return -ENOMEM;
	}
	return 0;
}

void dverify_page(struct vmmig_dest *dst, unsigned ri, uint64_t page,
		  const void *contents)
{
	uint64_t h, old;

	if (!dst->vhash)
		return;
	h = page_hash(contents, dst->regions.r[ri].id, page);
	/* The sum stays the sum of the entries whatever the order. */
	old = __atomic_exchange_n(&dst->vhash[ri][page], h, __ATOMIC_RELAXED);
	atomic_fetch_add(&dst->vsum, h - old);
}

static void landed(void *cookie, const struct wire_dest_region *rg,
		   uint64_t index, const void *page)
{
	struct vmmig_dest *dst = cookie;
	unsigned ri = regions_index(&dst->regions, rg->id);

	if (ri < dst->regions.n)
		dverify_page(dst, ri, index, page);
}

void dverify_hook(struct vmmig_dest *dst, struct wire_reader *rd)
{
	if (dst->vhash)
		wire_reader_set_landed(rd, landed, dst);
}

void dverify_free(struct vmmig_dest *dst)
{
	for (unsigned i = 0; dst->vhash && i < dst->regions.n; i++)
		free(dst->vhash[i]);
	free(dst->vhash);
	dst->vhash = NULL;
}
