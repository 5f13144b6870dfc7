/* SPDX-License-Identifier: MIT */
/*
 * The PAGES payload's fixed parts (docs/wire-format.md section 5.1), one
 * definition for the builder (batch.c) and the reader (reader_pages.c).
 * Private to lib/wire.
 *   batch header: u32 region_id, u16 count, u16 reserved
 *   descriptor:   u64 page_index, u8 encoding, u8 reserved[3], u32 len
 */
#ifndef VMMIG_WIRE_PAGES_FMT_H
#define VMMIG_WIRE_PAGES_FMT_H

#include <stdbool.h>

#include "le.h"
#include "wire.h"

#define BATCH_HEAD 8
#define DESC_SIZE 16

struct pages_head {
	uint32_t region_id;
	uint16_t count;
	uint16_t reserved;
};

static inline void pages_head_pack(uint8_t out[BATCH_HEAD], uint32_t region_id,
				   uint16_t count)
{
	put_le32(out, region_id);
	put_le16(out + 4, count);
	put_le16(out + 6, 0);
}

static inline void pages_head_unpack(const uint8_t in[BATCH_HEAD],
				     struct pages_head *h)
{
	h->region_id = get_le32(in);
	h->count = get_le16(in + 4);
	h->reserved = get_le16(in + 6);
}

static inline void pages_desc_pack(uint8_t out[DESC_SIZE], uint64_t page,
				   uint8_t enc, uint32_t len)
{
	put_le64(out, page);
	out[8] = enc;
	out[9] = out[10] = out[11] = 0;
	put_le32(out + 12, len);
}

/* The page index alone (duplicate checks). */
static inline uint64_t pages_desc_page(const uint8_t in[DESC_SIZE])
{
	return get_le64(in);
}

/* False if the reserved bytes are not zero (the rest is the caller's to
 * check). */
static inline bool pages_desc_unpack(const uint8_t in[DESC_SIZE],
				     struct wire_page_desc *d)
{
	d->page = get_le64(in);
	d->enc = in[8];
	d->len = get_le32(in + 12);
	return !(in[9] | in[10] | in[11]);
}

#endif
