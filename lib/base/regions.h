/* SPDX-License-Identifier: MIT */
/* Guest memory regions and the page-sum hash (private). */
#ifndef VMMIG_LIB_BASE_REGIONS_H
#define VMMIG_LIB_BASE_REGIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <vmmig/session.h>

/* ---- regions (regions.c) ---- */
/* Most regions a session takes: what one HELLO can describe
 * (WIRE_MAX_REGIONS; lib/wire/control.c checks the two agree). */
#define REGIONS_MAX 256

struct region {
	uint32_t id;
	uint64_t gpa;
	uint8_t *host;
	uint64_t size;
	uint64_t npages;
	bool anon;      /* private anonymous memory: holes read as zero
			 * (pagemap_is_anon_private() when registered) */
};
struct region_set {
	struct region *r;
	unsigned n;
	uint64_t total_bytes;
};
int regions_add(struct region_set *rs, uint32_t id, uint64_t gpa, void *host,
		uint64_t size);
void regions_free(struct region_set *rs);
/* Words of a page bitmap of @r (one bit per page). */
static inline uint64_t region_words(const struct region *r)
{
	return (r->npages + 63) / 64;
}
/* Index of the region with @id, or rs->n if there is none. */
unsigned regions_index(const struct region_set *rs, uint32_t id);
/* Set bits in per-region page bitmaps @bm (one word per 64 pages). */
uint64_t regions_count_bits(uint64_t *const *bm, const struct region_set *rs);
/* The page-sum memory hash, built page by page in any order: the sum of
 * regions_page_hash() over all pages; a zero page (or NULL) hashes to 0. */
uint64_t regions_page_hash(const void *page, uint32_t region_id,
			   uint64_t index);

#endif /* VMMIG_LIB_BASE_REGIONS_H */
