/* SPDX-License-Identifier: MIT */
/*
 * Source side: build one PAGES record. Each page is copied once into the
 * payload area; every later step (zero test aside) reads that copy, so a
 * guest writing the page meanwhile cannot make the CRC, the delta cache or
 * the encoding disagree with what is sent.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "encode/encode.h"
#include "le.h"
#include "wire.h"

#define BATCH_HEAD 8
#define DESC_SIZE 16
#define PAYLOAD_CAP (WIRE_MAX_BATCH * ENC_PAGE)

int wire_batch_init(struct wire_batch *b)
{
	memset(b, 0, sizeof(*b));
	b->payload = malloc(PAYLOAD_CAP + ENC_PAGE);
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
}

static uint8_t *desc_at(struct wire_batch *b, unsigned i)
{
	return b->head + WIRE_HDR_SIZE + BATCH_HEAD + DESC_SIZE * i;
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
		n = zpage_compress(e->zc, e->cfg.zstd_level, copy, e->scratch,
				   ENC_PAGE - ENC_ZSTD_SAVING);
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
	for (unsigned i = 0; i < b->count; i++)
		if (get_le64(desc_at(b, i)) == page_index)
			return -EEXIST;

	if (!page || enc_page_is_zero(page)) {
		enc = WIRE_ENC_ZERO;
		/* The receiver now holds zeros: a cached copy would lie. */
		if (e && e->cache)
			dcache_drop(e->cache, b->region_id, page_index);
	} else {
		copy = b->payload + b->payload_len;
		memcpy(copy, page, ENC_PAGE);
		enc = encode_copy(b, e, page_index, copy, &len, cnt);
	}

	d = desc_at(b, b->count++);
	put_le64(d, page_index);
	d[8] = (uint8_t)enc;
	d[9] = d[10] = d[11] = 0;
	put_le32(d + 12, (uint32_t)len);
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
	for (unsigned i = 0; i < b->count; i++)
		if (get_le64(desc_at(b, i)) == page_index)
			return -EEXIST;
	p = b->payload + b->payload_len;
	put_le64(p, h->object_id);
	put_le64(p + 8, h->offset);
	put_le64(p + 16, h->hash);
	d = desc_at(b, b->count++);
	put_le64(d, page_index);
	d[8] = WIRE_ENC_HINT;
	d[9] = d[10] = d[11] = 0;
	put_le32(d + 12, WIRE_HINT_SIZE);
	b->payload_len += WIRE_HINT_SIZE;
	if (cnt)
		cnt->pages[WIRE_ENC_HINT]++;
	return WIRE_ENC_HINT;
}

size_t wire_batch_finish(struct wire_batch *b, uint32_t seq,
			 struct iovec iov[2])
{
	uint8_t *bh = b->head + WIRE_HDR_SIZE;
	struct iovec body[2];
	size_t head_len;

	if (b->count == 0)
		return 0;
	put_le32(bh, b->region_id);
	put_le16(bh + 4, (uint16_t)b->count);
	put_le16(bh + 6, 0);
	head_len = WIRE_HDR_SIZE + BATCH_HEAD + DESC_SIZE * b->count;
	body[0] = (struct iovec){ bh, head_len - WIRE_HDR_SIZE };
	body[1] = (struct iovec){ b->payload, b->payload_len };
	if (b->no_crc)
		wire_record_frame(b->head, WIRE_PAGES, 0, seq, body, 2);
	else
		wire_record_seal(b->head, WIRE_PAGES, 0, seq, body, 2);
	iov[0] = (struct iovec){ b->head, head_len };
	iov[1] = (struct iovec){ b->payload, b->payload_len };
	return head_len + b->payload_len;
}
