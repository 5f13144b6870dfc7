/* SPDX-License-Identifier: MIT */
/*
 * Payloads of the control records (HELLO, HELLO_ACK/ERROR/ACK, STATE, END,
 * ROUND). Unpack checks exact lengths and every field a peer could get
 * wrong, and says which one in @err.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/regions.h"
#include "le.h"
#include "wire.h"

_Static_assert(WIRE_MAX_REGIONS == REGIONS_MAX,
	       "a session's regions must fit in one HELLO");

#define HELLO_HEAD 40
#define REGION_SIZE 24
#define STATUS_HEAD 8
#define STATUS_TEXT_MAX (sizeof(((struct wire_status *)0)->text) - 1)
#define PAGE_SIZE_4K 4096u

__attribute__((format(printf, 3, 4)))
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EPROTO;
}

int wire_hello_pack(uint8_t *buf, size_t cap, const struct wire_hello *h,
		    const struct wire_region *regions)
{
	size_t need;

	if (h->nregions > WIRE_MAX_REGIONS)
		return -EINVAL;
	need = HELLO_HEAD + (size_t)h->nregions * REGION_SIZE;
	if (cap < need)
		return -ENOSPC;
	put_le32(buf + 0, h->magic);
	put_le16(buf + 4, h->version);
	put_le16(buf + 6, h->flags);
	memcpy(buf + 8, h->uuid, 16);
	put_le16(buf + 24, h->channel);
	put_le16(buf + 26, h->nchannels);
	put_le32(buf + 28, h->page_size);
	put_le32(buf + 32, h->nregions);
	put_le32(buf + 36, h->attempt);
	for (uint32_t i = 0; i < h->nregions; i++) {
		uint8_t *r = buf + HELLO_HEAD + i * REGION_SIZE;

		put_le32(r + 0, regions[i].id);
		put_le32(r + 4, regions[i].flags);
		put_le64(r + 8, regions[i].gpa);
		put_le64(r + 16, regions[i].size);
	}
	return (int)need;
}

static int check_regions(const struct wire_region *rg, uint32_t n, char *err,
			 size_t errlen)
{
	for (uint32_t i = 0; i < n; i++) {
		if (rg[i].flags)
			return bad(err, errlen, "HELLO region %u has flags 0x%x",
				   rg[i].id, rg[i].flags);
		if (rg[i].size == 0 || rg[i].size % PAGE_SIZE_4K)
			return bad(err, errlen, "HELLO region %u has size %llu "
				   "(not a non-zero multiple of 4096)",
				   rg[i].id, (unsigned long long)rg[i].size);
		if (rg[i].gpa % PAGE_SIZE_4K || rg[i].gpa + rg[i].size < rg[i].gpa)
			return bad(err, errlen, "HELLO region %u has a bad "
				   "address 0x%llx", rg[i].id,
				   (unsigned long long)rg[i].gpa);
		/* n <= 256: the quadratic check costs nothing. */
		for (uint32_t j = 0; j < i; j++)
			if (rg[j].id == rg[i].id)
				return bad(err, errlen, "HELLO region id %u "
					   "appears twice", rg[i].id);
	}
	return 0;
}

int wire_hello_unpack(const uint8_t *buf, size_t len, struct wire_hello *h,
		      struct wire_region *regions, char *err, size_t errlen)
{
	if (len < HELLO_HEAD)
		return bad(err, errlen, "HELLO too short (%zu bytes)", len);
	h->magic = get_le32(buf + 0);
	h->version = get_le16(buf + 4);
	h->flags = get_le16(buf + 6);
	memcpy(h->uuid, buf + 8, 16);
	h->channel = get_le16(buf + 24);
	h->nchannels = get_le16(buf + 26);
	h->page_size = get_le32(buf + 28);
	h->nregions = get_le32(buf + 32);
	h->attempt = get_le32(buf + 36);

	if (h->magic != WIRE_MAGIC)
		return bad(err, errlen, "bad magic 0x%08x (not a vmmig stream)",
			   h->magic);
	if (h->version != WIRE_VERSION)
		return bad(err, errlen, "protocol version %u not supported "
			   "(this side speaks %u)", h->version, WIRE_VERSION);
	if (h->flags & ~(WIRE_HELLO_RESUME | WIRE_HELLO_VERIFY))
		return bad(err, errlen, "HELLO has unknown flags 0x%x",
			   h->flags);
	if (!(h->flags & WIRE_HELLO_RESUME) != !h->attempt)
		return bad(err, errlen, "HELLO attempt %u %s", h->attempt,
			   h->attempt ? "without RESUME" : "with RESUME");
	if (h->page_size != PAGE_SIZE_4K)
		return bad(err, errlen, "page size %u not supported (need 4096)",
			   h->page_size);
	if (h->nchannels == 0 || h->channel >= h->nchannels)
		return bad(err, errlen, "HELLO channel %u of %u is invalid",
			   h->channel, h->nchannels);
	if (h->nregions == 0 || h->nregions > WIRE_MAX_REGIONS)
		return bad(err, errlen, "HELLO has %u regions (1..%u allowed)",
			   h->nregions, WIRE_MAX_REGIONS);
	if (len != HELLO_HEAD + (size_t)h->nregions * REGION_SIZE)
		return bad(err, errlen, "HELLO length %zu does not match %u "
			   "regions", len, h->nregions);
	for (uint32_t i = 0; i < h->nregions; i++) {
		const uint8_t *r = buf + HELLO_HEAD + i * REGION_SIZE;

		regions[i].id = get_le32(r + 0);
		regions[i].flags = get_le32(r + 4);
		regions[i].gpa = get_le64(r + 8);
		regions[i].size = get_le64(r + 16);
	}
	return check_regions(regions, h->nregions, err, errlen);
}

int wire_status_pack(uint8_t *buf, size_t cap, const struct wire_status *s)
{
	size_t tlen = strnlen(s->text, STATUS_TEXT_MAX);

	if (cap < STATUS_HEAD + tlen)
		return -ENOSPC;
	put_le32(buf + 0, (uint32_t)s->status);
	put_le32(buf + 4, s->aux);
	memcpy(buf + STATUS_HEAD, s->text, tlen);
	return (int)(STATUS_HEAD + tlen);
}

int wire_status_unpack(const uint8_t *buf, size_t len, struct wire_status *s,
		       char *err, size_t errlen)
{
	size_t tlen;

	if (len < STATUS_HEAD || len > STATUS_HEAD + STATUS_TEXT_MAX)
		return bad(err, errlen, "status record has length %zu "
			   "(8..%zu allowed)", len,
			   STATUS_HEAD + STATUS_TEXT_MAX);
	tlen = len - STATUS_HEAD;
	s->status = (int32_t)get_le32(buf + 0);
	s->aux = get_le32(buf + 4);
	if (s->status > 0 || s->status < -4095)
		return bad(err, errlen, "status %d is not 0 or -errno",
			   s->status);
	if (memchr(buf + STATUS_HEAD, 0, tlen))
		return bad(err, errlen, "status text contains a NUL byte");
	memcpy(s->text, buf + STATUS_HEAD, tlen);
	s->text[tlen] = '\0';
	return 0;
}

void wire_state_pack(uint8_t out[WIRE_STATE_HEAD], const struct wire_state *s)
{
	put_le32(out + 0, s->blob_id);
	put_le32(out + 4, s->reserved);
	put_le64(out + 8, s->total_len);
	put_le64(out + 16, s->offset);
}

int wire_state_unpack(const uint8_t *buf, size_t len, struct wire_state *s,
		      char *err, size_t errlen)
{
	uint64_t chunk;

	if (len < WIRE_STATE_HEAD)
		return bad(err, errlen, "STATE too short (%zu bytes)", len);
	s->blob_id = get_le32(buf + 0);
	s->reserved = get_le32(buf + 4);
	s->total_len = get_le64(buf + 8);
	s->offset = get_le64(buf + 16);
	chunk = len - WIRE_STATE_HEAD;
	if (s->reserved)
		return bad(err, errlen, "STATE reserved field is 0x%x",
			   s->reserved);
	if (s->offset > s->total_len || chunk > s->total_len - s->offset)
		return bad(err, errlen, "STATE chunk %llu+%llu lies outside "
			   "blob %u of %llu bytes",
			   (unsigned long long)s->offset,
			   (unsigned long long)chunk, s->blob_id,
			   (unsigned long long)s->total_len);
	s->chunk = buf + WIRE_STATE_HEAD;
	s->chunk_len = (size_t)chunk;
	return 0;
}

void wire_end_pack(uint8_t out[WIRE_END_SIZE], const struct wire_end *e)
{
	put_le64(out + 0, e->pages);
	put_le32(out + 8, e->flags);
	put_le32(out + 12, e->nblobs);
	put_le64(out + 16, e->mem_hash);
}

int wire_end_unpack(const uint8_t *buf, size_t len, struct wire_end *e,
		    char *err, size_t errlen)
{
	if (len != WIRE_END_SIZE)
		return bad(err, errlen, "END has length %zu (need %u)", len,
			   WIRE_END_SIZE);
	e->pages = get_le64(buf + 0);
	e->flags = get_le32(buf + 8);
	e->nblobs = get_le32(buf + 12);
	e->mem_hash = get_le64(buf + 16);
	if (e->flags & ~(WIRE_END_MAIN | WIRE_END_HASH))
		return bad(err, errlen, "END has unknown flags 0x%x", e->flags);
	if (!(e->flags & WIRE_END_MAIN) && e->nblobs)
		return bad(err, errlen, "END on a secondary channel claims %u "
			   "state blobs", e->nblobs);
	if (!(e->flags & WIRE_END_HASH) && e->mem_hash)
		return bad(err, errlen, "END has a memory hash without the "
			   "HASH flag");
	return 0;
}

void wire_round_pack(uint8_t out[WIRE_ROUND_SIZE], const struct wire_round *r)
{
	put_le32(out + 0, r->round);
	put_le32(out + 4, r->reserved);
	put_le64(out + 8, r->dirty_pages);
}

int wire_round_unpack(const uint8_t *buf, size_t len, struct wire_round *r,
		      char *err, size_t errlen)
{
	if (len != WIRE_ROUND_SIZE)
		return bad(err, errlen, "ROUND has length %zu (need %u)", len,
			   WIRE_ROUND_SIZE);
	r->round = get_le32(buf + 0);
	r->reserved = get_le32(buf + 4);
	r->dirty_pages = get_le64(buf + 8);
	if (r->reserved)
		return bad(err, errlen, "ROUND reserved field is 0x%x",
			   r->reserved);
	return 0;
}
