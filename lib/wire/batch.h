/* SPDX-License-Identifier: MIT */
/*
 * Source side of lib/wire (private): building a PAGES record (batch.c) and
 * the per-encoding counters the builder keeps. The record format itself is
 * wire.h's; the destination reads PAGES with wire.h's reader only.
 */
#ifndef VMMIG_LIB_WIRE_BATCH_H
#define VMMIG_LIB_WIRE_BATCH_H

#include "wire.h"

struct enc_ctx; /* per-channel page encoder (encode/encode.h) */

/*
 * Delta-cache counters, one definition: every page sent with contents
 * (RAW, ZSTD or DELTA) while delta_cache_bytes is set counts once, as a
 * hit (its last sent copy was in the cache: a delta was tried, it went out
 * as DELTA if smaller) or a miss (no copy: first send, evicted, not
 * admitted, or the cache dropped at a post-copy switch). So hits + misses =
 * pages RAW + ZSTD + DELTA. ZERO and HINT pages are neither.
 */
struct enc_counters {
	uint64_t pages[WIRE_ENC__COUNT]; /* per encoding */
	uint64_t cache_hits, cache_misses;
};

/*
 * A PAGES record under construction (layout: docs/wire-format.md 5.1 and
 * pages_fmt.h), as the iovecs it is sent from: iov[0] the head (record
 * header, batch header, descriptors), then the pages' bytes: raw pages
 * where they are in guest memory, encoded ones (and, under the delta
 * cache, raw copies) in the payload buffer. Contiguous pieces share an
 * iovec, so 1 + WIRE_MAX_BATCH iovecs at most.
 */
/* Bytes of a batch's payload buffer: WIRE_MAX_BATCH pages + one of slack. */
#define WIRE_BATCH_PAYLOAD_SIZE ((WIRE_MAX_BATCH + 1) * 4096u)
#define WIRE_BATCH_IOV (1 + WIRE_MAX_BATCH)
struct wire_batch {
	uint8_t head[WIRE_HDR_SIZE + 8 + 16 * WIRE_MAX_BATCH];
	uint8_t *payload; /* WIRE_BATCH_PAYLOAD_SIZE bytes, malloc'd */
	size_t payload_len; /* bytes of payload used */
	size_t body_len;    /* page bytes of the record (iov[1..niov)) */
	struct iovec iov[WIRE_BATCH_IOV];
	unsigned niov;
	uint64_t max_index;   /* highest page index in it (count > 0) */
	unsigned count;
	uint32_t region_id;
	/* A run of pages for zstd waiting to be compressed as one frame: the
	 * last run_n descriptors, their pages at run_page[] (batch.c). */
	const uint8_t *run_page[WIRE_MAX_BATCH];
	unsigned run_n;
	uint64_t run_look_ns;          /* what picking them cost */
	struct enc_ctx *run_enc;
	struct enc_counters *run_cnt;  /* NULL: not counted */
};
int wire_batch_init(struct wire_batch *b);
void wire_batch_destroy(struct wire_batch *b);
void wire_batch_begin(struct wire_batch *b, uint32_t region_id);
static inline bool wire_batch_full(const struct wire_batch *b)
{
	return b->count == WIRE_MAX_BATCH;
}
/*
 * Append page @page_index whose live contents are at @page: zero, delta
 * (if cached), zstd (if enabled and smaller), else raw. Returns the
 * encoding used, or WIRE_ENC_ZSTD_RUN: the page joined a run of pages for
 * zstd, compressed as one frame when the run closes (at the next page that
 * does not join it, a hint, or wire_batch_finish()); its encoding is then
 * ZSTD_RUN/ZSTD_NEXT, ZSTD (a run of one) or RAW (too little saved), and
 * @cnt (which must live until then) counts it. A raw page is not copied:
 * the record's iovecs point at @page, which must stay mapped until the
 * record has been sent; the guest may write it meanwhile (the CRC does not
 * cover page bytes).
 * @page NULL means "known to be zero" (never populated): sent as a zero
 * page without touching memory, whose first touch can be expensive.
 */
int wire_batch_add(struct wire_batch *b, struct enc_ctx *e,
		   uint64_t page_index, const void *page,
		   struct enc_counters *cnt);
/* Append a hint instead of the page's contents. */
int wire_batch_add_hint(struct wire_batch *b, uint64_t page_index,
			const struct wire_hint *h, struct enc_counters *cnt);
/* Close a pending zstd run, then seal the record with @seq (CRC over
 * header, batch header and descriptors); its iovecs are b->iov[0 .. *@iovcnt), valid until the next
 * wire_batch_begin(). Return the record's bytes (0, *@iovcnt 0: empty). */
size_t wire_batch_finish(struct wire_batch *b, uint32_t seq, int *iovcnt);

#endif
