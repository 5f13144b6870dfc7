/* SPDX-License-Identifier: MIT */
/* Post-copy payloads: POSTCOPY, DISCARD, REQ, DONE, and the HINT page
 * (layouts in docs/wire-format.md sections 8 and 9). */
#include <errno.h>
#include <stdio.h>

#include "le.h"
#include "wire.h"

/* Senders pass their bitmaps' words as they lie in memory (no copy of a
 * bitmap that may span megabytes): that is the wire's byte order only on
 * a little-endian host, the only kind this builds for. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "DISCARD words are sent as they lie in memory");

void wire_discard_pack(uint8_t out[WIRE_DISCARD_HEAD],
		       const struct wire_discard *d)
{
	put_le32(out, d->region_id);
	put_le32(out + 4, d->nwords);
	put_le64(out + 8, d->first_word);
}

int wire_discard_unpack(const uint8_t *buf, size_t len, struct wire_discard *d,
			char *err, size_t errlen)
{
	*d = (struct wire_discard){ 0 }; /* defined even on failure */
	if (len < WIRE_DISCARD_HEAD) {
		snprintf(err, errlen, "DISCARD record too short (%zu bytes)",
			 len);
		return -EPROTO;
	}
	d->region_id = get_le32(buf);
	d->nwords = get_le32(buf + 4);
	d->first_word = get_le64(buf + 8);
	if (!d->nwords || len != WIRE_DISCARD_HEAD + (size_t)d->nwords * 8) {
		snprintf(err, errlen, "DISCARD length %zu does not match %u "
				      "bitmap words", len, d->nwords);
		return -EPROTO;
	}
	d->words = buf + WIRE_DISCARD_HEAD;
	return 0;
}

uint64_t wire_discard_word(const struct wire_discard *d, uint32_t i)
{
	return i < d->nwords ? get_le64(d->words + 8 * (size_t)i) : 0;
}

void wire_discard_apply(const struct wire_discard *d, uint64_t *bm,
			bool replace)
{
	bm += d->first_word;
	for (uint32_t i = 0; i < d->nwords; i++) {
		uint64_t w = get_le64(d->words + 8 * (size_t)i);

		bm[i] = replace ? w : bm[i] | w;
	}
}

int wire_discard_check(const struct wire_discard *d, uint64_t npages,
		       char *err, size_t errlen)
{
	uint64_t nw = (npages + 63) / 64, last;

	/* No sum that can wrap: first_word comes from the peer. */
	if (d->first_word > nw || d->nwords > nw - d->first_word) {
		snprintf(err, errlen, "DISCARD beyond region %u: words "
			 "%llu+%u of %llu", d->region_id,
			 (unsigned long long)d->first_word, d->nwords,
			 (unsigned long long)nw);
		return -EPROTO;
	}
	if (npages % 64 == 0 || d->first_word + d->nwords != nw)
		return 0;
	last = wire_discard_word(d, d->nwords - 1);
	if (last >> (npages % 64)) {
		snprintf(err, errlen, "DISCARD names pages past region %u "
			 "(%llu pages)", d->region_id,
			 (unsigned long long)npages);
		return -EPROTO;
	}
	return 0;
}

void wire_postcopy_pack(uint8_t out[WIRE_POSTCOPY_SIZE], uint32_t flags)
{
	put_le32(out, flags);
	put_le32(out + 4, 0);
}

int wire_postcopy_unpack(const uint8_t *buf, size_t len, uint32_t *flags,
			 char *err, size_t errlen)
{
	if (len != WIRE_POSTCOPY_SIZE || get_le32(buf + 4)) {
		snprintf(err, errlen, "POSTCOPY record of %zu bytes", len);
		return -EPROTO;
	}
	*flags = get_le32(buf);
	if (*flags & ~WIRE_POSTCOPY_VERIFY) {
		snprintf(err, errlen, "POSTCOPY has unknown flags 0x%x", *flags);
		return -EPROTO;
	}
	return 0;
}

int wire_req_pack(uint8_t *buf, size_t cap, const struct wire_req *q,
		  const uint64_t *pages)
{
	size_t len = WIRE_REQ_HEAD + (size_t)q->count * 8;

	if (!q->count || q->count > WIRE_REQ_MAX)
		return -EINVAL;
	if (cap < len)
		return -ENOSPC;
	put_le32(buf, q->region_id);
	put_le32(buf + 4, q->count);
	for (uint32_t i = 0; i < q->count; i++)
		put_le64(buf + WIRE_REQ_HEAD + 8 * (size_t)i, pages[i]);
	return (int)len;
}

int wire_req_unpack(const uint8_t *buf, size_t len, struct wire_req *q,
		    char *err, size_t errlen)
{
	*q = (struct wire_req){ 0 }; /* callers may look before checking */
	if (len < WIRE_REQ_HEAD) {
		snprintf(err, errlen, "REQ record too short (%zu bytes)", len);
		return -EPROTO;
	}
	q->region_id = get_le32(buf);
	q->count = get_le32(buf + 4);
	if (!q->count || q->count > WIRE_REQ_MAX ||
	    len != WIRE_REQ_HEAD + (size_t)q->count * 8) {
		snprintf(err, errlen, "REQ of %u pages in %zu bytes", q->count,
			 len);
		return -EPROTO;
	}
	q->pages = buf + WIRE_REQ_HEAD;
	return 0;
}

uint64_t wire_req_page(const struct wire_req *q, uint32_t i)
{
	return i < q->count ? get_le64(q->pages + 8 * (size_t)i) : UINT64_MAX;
}

void wire_hint_pack(uint8_t out[WIRE_HINT_SIZE], const struct wire_hint *h)
{
	put_le64(out, h->object_id);
	put_le64(out + 8, h->offset);
	put_le64(out + 16, h->hash);
}

int wire_hint_unpack(const uint8_t *buf, size_t len, struct wire_hint *h,
		     char *err, size_t errlen)
{
	if (len != WIRE_HINT_SIZE) {
		snprintf(err, errlen, "HINT of %zu bytes (want %u)", len,
			 WIRE_HINT_SIZE);
		return -EPROTO;
	}
	h->object_id = get_le64(buf);
	h->offset = get_le64(buf + 8);
	h->hash = get_le64(buf + 16);
	return 0;
}

void wire_done_pack(uint8_t out[WIRE_DONE_SIZE], const struct wire_done *d)
{
	put_le32(out, (uint32_t)d->status);
	put_le32(out + 4, d->verified);
	put_le64(out + 8, d->faults);
	put_le64(out + 16, d->fault_p50_us);
	put_le64(out + 24, d->fault_p99_us);
	put_le64(out + 32, d->placed);
}

int wire_done_unpack(const uint8_t *buf, size_t len, struct wire_done *d,
		     char *err, size_t errlen)
{
	if (len != WIRE_DONE_SIZE) {
		snprintf(err, errlen, "DONE record of %zu bytes (want %u)", len,
			 WIRE_DONE_SIZE);
		return -EPROTO;
	}
	d->status = (int32_t)get_le32(buf);
	d->verified = get_le32(buf + 4);
	d->faults = get_le64(buf + 8);
	d->fault_p50_us = get_le64(buf + 16);
	d->fault_p99_us = get_le64(buf + 24);
	d->placed = get_le64(buf + 32);
	if (d->status > 0 || d->status < -4095) {
		snprintf(err, errlen, "DONE status %d out of range", d->status);
		return -EPROTO;
	}
	return 0;
}
