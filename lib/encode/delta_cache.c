/* SPDX-License-Identifier: MIT */
/*
 * The source's cache of pages as last sent, keyed by (region, page index).
 * Fixed capacity chosen at creation; a chained hash table over slot indices
 * finds pages.
 *
 * Which pages it keeps, when it is smaller than the guest: a delta pays off
 * only for a page sent again, i.e. one the guest re-dirtied. The first pass
 * sends every page once, in address order; letting it evict would leave
 * the cache holding the last pages of memory, however cold, and the pages
 * re-dirtied later would all miss (what a 64 MiB cache on a 256 MiB guest
 * did: no hits at all). So:
 *  - admission: a page sent for the first time ("cold") takes a free slot
 *    but never evicts; a page sent again ("hot") always gets a slot;
 *  - eviction: a generalised clock (GCLOCK). Each slot has a small use
 *    count: 0 for a cold page, 1 on a hot insert, +1 per hit (at most
 *    REF_MAX). The hand decrements counts as it passes and takes the first
 *    slot found at 0, so cold pages go first, then pages re-sent once, and
 *    the pages the guest re-dirties round after round stay longest.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "encode.h"

#define NIL UINT32_MAX
#define REF_MAX 3

struct dslot {
	uint64_t page;
	uint32_t region;
	uint32_t next;  /* next slot in the same bucket, or NIL */
	uint8_t used;
	uint8_t ref;    /* use count, 0..REF_MAX; the hand decrements it */
};

struct dcache {
	size_t nslots, nused;
	size_t hand;        /* clock hand */
	uint32_t mask;      /* buckets - 1 */
	uint32_t *bucket;   /* first slot of each chain, or NIL */
	struct dslot *slot;
	uint32_t *free;     /* unused slots, a stack of nslots - nused */
	uint8_t *data;      /* nslots pages, mmap'ed: untouched until used */
};

static uint32_t dc_hash(const struct dcache *c, uint32_t region, uint64_t page)
{
	uint64_t k = (page ^ ((uint64_t)region << 40)) * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(k >> 32) & c->mask;
}

int dcache_new(size_t bytes, struct dcache **out)
{
	struct dcache *c;
	size_t n = bytes / ENC_PAGE, nb = 1;
	int ret = -ENOMEM;

	*out = NULL;
	if (n == 0 || n >= NIL / 2)
		return -EINVAL;
	while (nb < n)
		nb <<= 1;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->nslots = n;
	c->mask = (uint32_t)nb - 1;
	c->data = MAP_FAILED;
	c->bucket = malloc(nb * sizeof(*c->bucket));
	c->slot = calloc(n, sizeof(*c->slot));
	c->free = malloc(n * sizeof(*c->free));
	if (!c->bucket || !c->slot || !c->free)
		goto fail;
	for (size_t i = 0; i < n; i++)
		c->free[i] = (uint32_t)(n - 1 - i); /* slot 0 on top */
	c->data = mmap(NULL, n * ENC_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->data == MAP_FAILED)
		goto fail;
	for (size_t i = 0; i < nb; i++)
		c->bucket[i] = NIL;
	*out = c;
	return 0;
fail:
	dcache_free(c);
	return ret;
}

void dcache_free(struct dcache *c)
{
	if (!c)
		return;
	if (c->data != MAP_FAILED)
		munmap(c->data, c->nslots * ENC_PAGE);
	free(c->free);
	free(c->slot);
	free(c->bucket);
	free(c);
}

static uint32_t dc_find(const struct dcache *c, uint32_t region,
			uint64_t page)
{
	uint32_t i = c->bucket[dc_hash(c, region, page)];

	while (i != NIL && (c->slot[i].page != page ||
			    c->slot[i].region != region))
		i = c->slot[i].next;
	return i;
}

/* Take slot @i out of its chain and mark it free. */
static void dc_unlink(struct dcache *c, uint32_t i)
{
	uint32_t *link = &c->bucket[dc_hash(c, c->slot[i].region,
					    c->slot[i].page)];

	while (*link != i)
		link = &c->slot[*link].next;
	*link = c->slot[i].next;
	c->slot[i].used = 0;
	c->free[c->nslots - c->nused] = i;
	c->nused--;
}

uint8_t *dcache_lookup(struct dcache *c, uint32_t region, uint64_t page)
{
	uint32_t i = dc_find(c, region, page);

	if (i == NIL)
		return NULL;
	if (c->slot[i].ref < REF_MAX)
		c->slot[i].ref++;
	return c->data + (size_t)i * ENC_PAGE;
}

/* Every slot is used: the clock's victim, unlinked. */
static uint32_t dc_victim(struct dcache *c)
{
	/* REF_MAX + 1 sweeps at most: each one lowers every count. */
	for (size_t steps = 0; steps <= (REF_MAX + 1) * c->nslots; steps++) {
		struct dslot *s = &c->slot[c->hand];
		uint32_t i = (uint32_t)c->hand;

		c->hand = (c->hand + 1) % c->nslots;
		if (!s->ref) {
			dc_unlink(c, i);
			return i;
		}
		s->ref--;
	}
	return NIL; /* unreachable: the counts reach 0 */
}

uint8_t *dcache_insert(struct dcache *c, uint32_t region, uint64_t page,
		       bool hot)
{
	uint32_t i = dc_find(c, region, page), h;

	if (i != NIL) {
		if (hot && c->slot[i].ref < REF_MAX)
			c->slot[i].ref++;
		return c->data + (size_t)i * ENC_PAGE;
	}
	if (c->nused == c->nslots) {
		if (!hot)
			return NULL; /* a first send never evicts */
		i = dc_victim(c);
		if (i == NIL)
			return NULL;
	}
	i = c->free[c->nslots - c->nused - 1];
	h = dc_hash(c, region, page);
	c->slot[i] = (struct dslot){ .page = page, .region = region,
				     .next = c->bucket[h], .used = 1,
				     .ref = hot ? 1 : 0 };
	c->bucket[h] = i;
	c->nused++;
	return c->data + (size_t)i * ENC_PAGE;
}

void dcache_drop(struct dcache *c, uint32_t region, uint64_t page)
{
	uint32_t i = dc_find(c, region, page);

	if (i != NIL)
		dc_unlink(c, i);
}

size_t dcache_slots(const struct dcache *c)
{
	return c->nslots;
}

size_t dcache_used(const struct dcache *c)
{
	return c->nused;
}
