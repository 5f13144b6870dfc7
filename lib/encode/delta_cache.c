/* SPDX-License-Identifier: MIT */
/*
 * The source's cache of pages as last sent, keyed by (region, page index).
 * Fixed capacity chosen at creation; a chained hash table over slot indices
 * finds pages, and a clock hand picks the victim when every slot is used.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "encode.h"

#define NIL UINT32_MAX

struct dslot {
	uint64_t page;
	uint32_t region;
	uint32_t next;  /* next slot in the same bucket, or NIL */
	uint8_t used;
	uint8_t ref;    /* clock bit: looked up since the hand last passed */
};

struct dcache {
	size_t nslots, nused;
	size_t hand;        /* clock hand */
	uint32_t mask;      /* buckets - 1 */
	uint32_t *bucket;   /* first slot of each chain, or NIL */
	struct dslot *slot;
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
	if (!c->bucket || !c->slot)
		goto fail;
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
	c->nused--;
}

uint8_t *dcache_lookup(struct dcache *c, uint32_t region, uint64_t page)
{
	uint32_t i = dc_find(c, region, page);

	if (i == NIL)
		return NULL;
	c->slot[i].ref = 1;
	return c->data + (size_t)i * ENC_PAGE;
}

/* A free slot: the next unused one, else the clock's victim. */
static uint32_t dc_victim(struct dcache *c)
{
	/* Two sweeps at most: the first clears every ref bit. */
	for (size_t steps = 0; steps <= 2 * c->nslots; steps++) {
		struct dslot *s = &c->slot[c->hand];
		uint32_t i = (uint32_t)c->hand;

		c->hand = (c->hand + 1) % c->nslots;
		if (!s->used)
			return i;
		if (!s->ref) {
			dc_unlink(c, i);
			return i;
		}
		s->ref = 0;
	}
	return NIL; /* unreachable: a sweep clears every ref bit */
}

uint8_t *dcache_insert(struct dcache *c, uint32_t region, uint64_t page)
{
	uint32_t i = dc_find(c, region, page), h;

	if (i == NIL) {
		i = dc_victim(c);
		if (i == NIL)
			return NULL;
		h = dc_hash(c, region, page);
		c->slot[i] = (struct dslot){ .page = page, .region = region,
					     .next = c->bucket[h], .used = 1 };
		c->bucket[h] = i;
		c->nused++;
	}
	c->slot[i].ref = 1;
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
