/* SPDX-License-Identifier: MIT */
/*
 * Cache-restore hints on the source: which pages the destination can read
 * from shared storage instead of receiving them. Per region, a bitmap says
 * "hinted" (checked on the send path, lock-free) and a sorted list of ranges
 * maps pages to (object, offset) (read-locked on the send path, rare
 * writes). A write by the guest clears the page's bit at the next sync.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"

struct hint_range {
	uint64_t first, n;          /* pages */
	uint64_t object_id, object_offset;
};

struct region_hints {
	uint64_t *bm;               /* atomic bits: page hinted */
	struct hint_range *r;       /* sorted by first, disjoint */
	unsigned n, cap;
};

static int find_region(struct vmmig_source *src, uint32_t id, uint64_t offset,
		       uint64_t len)
{
	unsigned i = regions_index(&src->sess.regions, id);
	uint64_t size;

	if (i == src->sess.regions.n)
		return -EINVAL;
	size = src->sess.regions.r[i].size;
	if (!len || offset % VMMIG_PAGE_SIZE || len % VMMIG_PAGE_SIZE ||
	    offset > size || len > size - offset)
		return -EINVAL;
	return (int)i;
}

/* The region's hint state, created on first use (under the write lock). */
static struct region_hints *hints_of(struct vmmig_source *src, unsigned ri)
{
	if (!src->hints) {
		src->hints = calloc(src->sess.regions.n, sizeof(*src->hints));
		if (!src->hints)
			return NULL;
	}
	struct region_hints *h = &src->hints[ri];

	if (!h->bm)
		h->bm = calloc(region_words(&src->sess.regions.r[ri]), 8);
	return h->bm ? h : NULL;
}

static void set_bits(uint64_t *bm, uint64_t first, uint64_t n, bool on)
{
	for (uint64_t p = first; p < first + n; p++) {
		uint64_t bit = 1ull << (p % 64);

		if (on)
			__atomic_fetch_or(&bm[p / 64], bit, __ATOMIC_RELEASE);
		else
			__atomic_fetch_and(&bm[p / 64], ~bit, __ATOMIC_RELEASE);
	}
}

/* Cut [first, first + n) out of the range list (splitting as needed). */
static int cut_ranges(struct region_hints *h, uint64_t first, uint64_t n)
{
	uint64_t end = first + n;

	for (unsigned i = 0; i < h->n; i++) {
		struct hint_range *r = &h->r[i];
		uint64_t rend = r->first + r->n;

		if (rend <= first || r->first >= end)
			continue;
		if (r->first < first && rend > end) {
			/* The cut is inside: split in two. */
			if (h->n == h->cap) {
				unsigned cap = h->cap ? h->cap * 2 : 16;
				struct hint_range *nr =
					realloc(h->r, cap * sizeof(*nr));

				if (!nr)
					return -ENOMEM;
				h->r = nr;
				h->cap = cap;
				r = &h->r[i];
			}
			memmove(&h->r[i + 2], &h->r[i + 1],
				(h->n - i - 1) * sizeof(*r));
			h->r[i + 1] = (struct hint_range){
				end, rend - end, r->object_id,
				r->object_offset + (end - r->first) *
							   VMMIG_PAGE_SIZE };
			r->n = first - r->first;
			h->n++;
			return 0;
		}
		if (r->first < first) {
			r->n = first - r->first;
		} else if (rend > end) {
			r->object_offset += (end - r->first) * VMMIG_PAGE_SIZE;
			r->n = rend - end;
			r->first = end;
		} else {
			memmove(r, r + 1, (h->n - i - 1) * sizeof(*r));
			h->n--;
			i--;
		}
	}
	return 0;
}

static int insert_range(struct region_hints *h, const struct hint_range *nr)
{
	unsigned i = 0;

	if (h->n == h->cap) {
		unsigned cap = h->cap ? h->cap * 2 : 16;
		struct hint_range *r = realloc(h->r, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		h->r = r;
		h->cap = cap;
	}
	while (i < h->n && h->r[i].first < nr->first)
		i++;
	memmove(&h->r[i + 1], &h->r[i], (h->n - i) * sizeof(*nr));
	h->r[i] = *nr;
	h->n++;
	return 0;
}

VMMIG_API int vmmig_source_add_hint(struct vmmig_source *src,
				    uint32_t region_id, uint64_t offset,
				    uint64_t len, uint64_t object_id,
				    uint64_t object_offset)
{
	struct hint_range nr;
	struct region_hints *h;
	int ri, ret;

	if (!src || object_offset % VMMIG_PAGE_SIZE)
		return -EINVAL;
	ri = find_region(src, region_id, offset, len);
	if (ri < 0)
		return ri;
	nr = (struct hint_range){ offset / VMMIG_PAGE_SIZE,
				  len / VMMIG_PAGE_SIZE, object_id,
				  object_offset };
	pthread_rwlock_wrlock(&src->hints_lock);
	h = hints_of(src, (unsigned)ri);
	ret = h ? cut_ranges(h, nr.first, nr.n) : -ENOMEM;
	if (!ret)
		ret = insert_range(h, &nr);
	if (!ret)
		set_bits(h->bm, nr.first, nr.n, true);
	pthread_rwlock_unlock(&src->hints_lock);
	return ret;
}

VMMIG_API int vmmig_source_remove_hint(struct vmmig_source *src,
				       uint32_t region_id, uint64_t offset,
				       uint64_t len)
{
	struct region_hints *h;
	int ri, ret = 0;

	if (!src)
		return -EINVAL;
	ri = find_region(src, region_id, offset, len);
	if (ri < 0)
		return ri;
	pthread_rwlock_wrlock(&src->hints_lock);
	h = src->hints ? &src->hints[ri] : NULL;
	if (h && h->bm) {
		/* Bits first: the send path never hints a withdrawn page. */
		set_bits(h->bm, offset / VMMIG_PAGE_SIZE, len / VMMIG_PAGE_SIZE,
			 false);
		ret = cut_ranges(h, offset / VMMIG_PAGE_SIZE,
				 len / VMMIG_PAGE_SIZE);
	}
	pthread_rwlock_unlock(&src->hints_lock);
	return ret;
}

uint64_t src_hints_word(struct vmmig_source *src, unsigned ri, uint64_t w)
{
	if (!src->hints || !src->hints[ri].bm)
		return 0;
	return __atomic_load_n(&src->hints[ri].bm[w], __ATOMIC_ACQUIRE);
}

bool src_hints_lookup(struct vmmig_source *src, unsigned ri, uint64_t page,
		      struct wire_hint *out)
{
	bool found = false;

	pthread_rwlock_rdlock(&src->hints_lock);
	if (src->hints) {
		const struct region_hints *h = &src->hints[ri];
		unsigned lo = 0, hi = h->n;

		while (lo < hi) {
			unsigned mid = (lo + hi) / 2;

			if (h->r[mid].first + h->r[mid].n <= page)
				lo = mid + 1;
			else
				hi = mid;
		}
		/* The bits are cleared without the lock (a refetch, a
		 * dirty page): an atomic load, as at every other reader. */
		if (lo < h->n && h->r[lo].first <= page &&
		    (__atomic_load_n(&h->bm[page / 64], __ATOMIC_ACQUIRE) >>
		     (page % 64) & 1)) {
			out->object_id = h->r[lo].object_id;
			out->offset = h->r[lo].object_offset +
				      (page - h->r[lo].first) * VMMIG_PAGE_SIZE;
			found = true;
		}
	}
	pthread_rwlock_unlock(&src->hints_lock);
	return found;
}

void src_hints_clear_page(struct vmmig_source *src, unsigned ri, uint64_t page)
{
	if (src->hints && src->hints[ri].bm)
		__atomic_fetch_and(&src->hints[ri].bm[page / 64],
				   ~(1ull << (page % 64)), __ATOMIC_RELEASE);
}

/* Pages written since their hint: the hint no longer describes them. */
void src_hints_drop_dirty(struct vmmig_source *src, unsigned ri,
			  const uint64_t *dirty)
{
	if (!src->hints || !src->hints[ri].bm)
		return;
	for (uint64_t w = 0; w < region_words(&src->sess.regions.r[ri]); w++)
		if (dirty[w])
			__atomic_fetch_and(&src->hints[ri].bm[w], ~dirty[w],
					   __ATOMIC_RELEASE);
}

void src_hints_free(struct vmmig_source *src)
{
	for (unsigned i = 0; src->hints && i < src->sess.regions.n; i++) {
		free(src->hints[i].bm);
		free(src->hints[i].r);
	}
	free(src->hints);
	src->hints = NULL;
}
