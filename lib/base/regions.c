/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "page.h"
#include "pagemap.h"
#include "regions.h"

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int regions_add(struct region_set *rs, uint32_t id, uint64_t gpa, void *host,
		uint64_t size)
{
	struct region *r;

	if (!host || !size || size % VMMIG_PAGE_SIZE ||
	    (uintptr_t)host % VMMIG_PAGE_SIZE || gpa % VMMIG_PAGE_SIZE ||
	    gpa + size < gpa)
		return -EINVAL;
	if (rs->n >= REGIONS_MAX)
		return -E2BIG;
	for (unsigned i = 0; i < rs->n; i++) {
		const struct region *o = &rs->r[i];

		if (o->id == id || overlaps(o->gpa, o->size, gpa, size) ||
		    overlaps((uintptr_t)o->host, o->size, (uintptr_t)host, size))
			return -EINVAL;
	}
	r = realloc(rs->r, (rs->n + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	rs->r = r;
	rs->r[rs->n++] = (struct region){
		.id = id, .gpa = gpa, .host = host, .size = size,
		.npages = size / VMMIG_PAGE_SIZE,
		.anon = pagemap_is_anon_private(host, size / VMMIG_PAGE_SIZE) };
	rs->total_bytes += size;
	return 0;
}

unsigned regions_index(const struct region_set *rs, uint32_t id)
{
	unsigned i = 0;

	while (i < rs->n && rs->r[i].id != id)
		i++;
	return i;
}

void regions_free(struct region_set *rs)
{
	free(rs->r);
	rs->r = NULL;
	rs->n = 0;
	rs->total_bytes = 0;
}

uint64_t regions_count_bits(uint64_t *const *bm, const struct region_set *rs)
{
	uint64_t n = 0;

	/* Sparse maps are mostly zero words, and a popcount may be a call
	 * (no -mpopcnt): skip them. Each word is loaded once, atomically:
	 * after a post-copy switch the return path claims bits of the send
	 * map while this counts it (TSan), and a snapshot is all it needs. */
	for (unsigned i = 0; i < rs->n; i++)
		for (uint64_t w = 0; w < (rs->r[i].npages + 63) / 64; w++) {
			uint64_t v = __atomic_load_n(&bm[i][w],
						     __ATOMIC_RELAXED);

			if (v)
				n += (uint64_t)__builtin_popcountll(v);
		}
	return n;
}

uint64_t regions_page_hash(const void *page, uint32_t region_id, uint64_t index)
{
	/* A zero page counts 0: the destination knows pages nobody sent are
	 * zero without reading them, and the sum need not visit them. */
	if (!page || page_is_zero(page))
		return 0;
	return vmmig_hash64(page, VMMIG_PAGE_SIZE,
			    ((uint64_t)region_id << 40) ^ index);
}
