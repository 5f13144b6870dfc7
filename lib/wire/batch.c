/* SPDX-License-Identifier: MIT */
/*
 * Source side: build one PAGES record. Each page is copied once into the
 * payload area; every later step (zero test aside) reads that copy, so a
 * guest writing the page meanwhile cannot make the CRC, the delta cache or
 * the encoding disagree with what is sent. The payload's CRC grows with
 * each page, read while the page is still in the L1 cache (a CRC of the
 * whole payload at the end reads 256 KiB back from L2 or further).
 * A copy and CRC fused in one loop of 8-byte loads measured twice as slow
 * as memcpy() then CRC here: memcpy's wide moves win on cold memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/page.h"
#include "encode/encode.h"
#include "pages_fmt.h"

int wire_batch_init(struct wire_batch *b)
{
	memset(b, 0, sizeof(*b));
	b->payload = malloc(WIRE_BATCH_PAYLOAD_SIZE);
	return b->payload ? 0 : -ENOMEM;
}

void wire_batch_destroy(struct wire_batch *b)
{
	free(b->payload);
	b->payload = NULL;
}

void wire_batch_begin(struct wire_batch *b, uint32_t region_id)
{
	b->region_id = region_id;
	b->count = 0;
	b->payload_len = 0;
	b->payload_crc = 0;
}

static uint8_t *desc_at(struct wire_batch *b, unsigned i)
{
	return b->head + WIRE_HDR_SIZE + BATCH_HEAD + DESC_SIZE * i;
}

/* Whether @page_index is in the batch already. Pages mostly come in
 * ascending order: one above the highest so far cannot be. */
static bool in_batch(struct wire_batch *b, uint64_t page_index)
{
	if (!b->count || page_index > b->max_index)
		return false;
	for (unsigned i = 0; i < b->count; i++)
		if (pages_desc_page(desc_at(b, i)) == page_index)
			return true;
	return false;
}

/* Encode the copy at @copy (already in the payload); return (enc, len). */
static int encode_copy(struct wire_batch *b, struct enc_ctx *e,
		       uint64_t page_index, uint8_t *copy, size_t *len,
		       struct enc_counters *cnt)
{
	uint8_t *cached;
	int n;

	*len = ENC_PAGE;
	if (!e)
		return WIRE_ENC_RAW;
	if (!e->cache && e->cfg.delta_cache_bytes >= ENC_PAGE)
		cnt->cache_misses++; /* dropped at a post-copy switch */
	if (e->cache) {
		cached = dcache_lookup(e->cache, b->region_id, page_index);
		if (cached) {
			cnt->cache_hits++;
			n = delta_encode(cached, copy, e->scratch,
					 ENC_DELTA_ACCEPT - 1);
			/* Whatever goes out, the receiver ends with the copy. */
			memcpy(cached, copy, ENC_PAGE);
			if (n > 0) {
				memcpy(copy, e->scratch, (size_t)n);
				*len = (size_t)n;
				return WIRE_ENC_DELTA;
			}
		} else {
			cnt->cache_misses++;
			cached = dcache_insert(e->cache, b->region_id,
					       page_index, !e->first_send);
			if (cached)
				memcpy(cached, copy, ENC_PAGE);
		}
	}
	if (e->zc) {
		n = enc_zstd_page(e, copy);
		if (n > 0) {
			memcpy(copy, e->scratch, (size_t)n);
			*len = (size_t)n;
			return WIRE_ENC_ZSTD;
		}
	}
	return WIRE_ENC_RAW;
}

int wire_batch_add(struct wire_batch *b, struct enc_ctx *e,
		   uint64_t page_index, const void *page,
		   struct enc_counters *cnt)
{
	struct enc_counters dummy = { 0 };
	uint8_t *d, *copy;
	size_t len = 0;
	int enc;

	if (!cnt)
		cnt = &dummy;
	if (b->count >= WIRE_MAX_BATCH)
		return -ENOSPC;
	/* A page twice in one record would be applied out of order. */
	if (in_batch(b, page_index))
		return -EEXIST;

	if (!page || page_is_zero(page)) {
		enc = WIRE_ENC_ZERO;
		/* The receiver now holds zeros: a cached copy would lie. */
		if (e && e->cache)
			dcache_drop(e->cache, b->region_id, page_index);
	} else {
		copy = b->payload + b->payload_len;
		memcpy(copy, page, ENC_PAGE);
		enc = encode_copy(b, e, page_index, copy, &len, cnt);
		if (!b->no_crc)
			b->payload_crc = vmmig_crc32c(b->payload_crc, copy,
						      len);
	}

	if (!b->count || page_index > b->max_index)
		b->max_index = page_index;
	d = desc_at(b, b->count++);
	pages_desc_pack(d, page_index, (uint8_t)enc, (uint32_t)len);
	b->payload_len += len;
	cnt->pages[enc]++;
	return enc;
}

int wire_batch_add_hint(struct wire_batch *b, uint64_t page_index,
			const struct wire_hint *h, struct enc_counters *cnt)
{
	uint8_t *d, *p;

	if (b->count >= WIRE_MAX_BATCH)
		return -ENOSPC;
	if (in_batch(b, page_index))
		return -EEXIST;
	p = b->payload + b->payload_len;
	wire_hint_pack(p, h);
	if (!b->no_crc)
		b->payload_crc = vmmig_crc32c(b->payload_crc, p,
					      WIRE_HINT_SIZE);
	if (!b->count || page_index > b->max_index)
		b->max_index = page_index;
	d = desc_at(b, b->count++);
	pages_desc_pack(d, page_index, WIRE_ENC_HINT, WIRE_HINT_SIZE);
	b->payload_len += WIRE_HINT_SIZE;
	if (cnt)
		cnt->pages[WIRE_ENC_HINT]++;
	return WIRE_ENC_HINT;
}

size_t wire_batch_finish(struct wire_batch *b, uint32_t seq,
			 struct iovec iov[2])
{
	uint8_t *bh = b->head + WIRE_HDR_SIZE;
	struct wire_hdr h = { .type = WIRE_PAGES, .seq = seq };
	struct iovec body;
	size_t head_len;
	uint32_t crc;

	if (b->count == 0)
		return 0;
	pages_head_pack(bh, b->region_id, (uint16_t)b->count);
	head_len = WIRE_HDR_SIZE + BATCH_HEAD + DESC_SIZE * b->count;
	body = (struct iovec){ bh, head_len - WIRE_HDR_SIZE };
	/* wire_record_seal() over head and payload, but the payload's CRC
	 * is already known. */
	h.len = (uint32_t)(head_len - WIRE_HDR_SIZE + b->payload_len);
	wire_hdr_pack(b->head, &h); /* crc 0, as wire_record_frame() */
	if (!b->no_crc) {
		crc = vmmig_crc32c_combine(wire_record_crc(b->head, &body, 1),
					   b->payload_crc, b->payload_len);
		put_le32(b->head + 8, crc);
	}
	iov[0] = (struct iovec){ b->head, head_len };
	iov[1] = (struct iovec){ b->payload, b->payload_len };
	return head_len + b->payload_len;
}
