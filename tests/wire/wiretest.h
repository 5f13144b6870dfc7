/* SPDX-License-Identifier: MIT */
/* Helpers of the wire tests: in-memory streams, guarded destination
 * memory, a page sink that writes it. */
#ifndef VMMIG_TEST_WIRETEST_H
#define VMMIG_TEST_WIRETEST_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "encode/encode.h"
#include "wire/batch.h"
#include "wire/le.h"
#include "wire/wire.h"
#include "testutil.h"

/* A growable output buffer, usable as a wire_write_fn cookie. */
struct obuf {
	uint8_t *buf;
	size_t len, cap;
};

static inline void obuf_put(struct obuf *o, const void *p, size_t n)
{
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;

		while (cap < o->len + n)
			cap *= 2;
		o->buf = realloc(o->buf, cap);
		ck_assert_ptr_nonnull(o->buf);
		o->cap = cap;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static inline int obuf_write(void *cookie, const struct iovec *iov, int n)
{
	for (int i = 0; i < n; i++)
		obuf_put(cookie, iov[i].iov_base, iov[i].iov_len);
	return 0;
}

/* A stream over a buffer, as a wire_read_fn cookie: running out of bytes
 * is a reset connection. */
struct istream {
	const uint8_t *buf;
	size_t len, pos;
};

static inline int istream_read(void *cookie, const struct iovec *iov, int n)
{
	struct istream *s = cookie;

	for (int i = 0; i < n; i++) {
		if (iov[i].iov_len > s->len - s->pos)
			return -ECONNRESET;
		memcpy(iov[i].iov_base, s->buf + s->pos, iov[i].iov_len);
		s->pos += iov[i].iov_len;
	}
	return 0;
}

/*
 * Destination memory of @npages, fenced: an inaccessible guard page on each
 * side (a stray write faults) plus a canary page inside each guard (a
 * stray write that stays mapped is seen by guarded_check()).
 */
struct guarded {
	uint8_t *map;
	size_t maplen;
	uint8_t *mem;
	uint64_t npages;
};

#define CANARY 0xc5

static inline void guarded_new(struct guarded *g, uint64_t npages)
{
	g->npages = npages;
	g->maplen = (npages + 4) * 4096;
	g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(g->map != MAP_FAILED);
	ck_assert_int_eq(mprotect(g->map, 4096, PROT_NONE), 0);
	ck_assert_int_eq(mprotect(g->map + g->maplen - 4096, 4096, PROT_NONE),
			 0);
	memset(g->map + 4096, CANARY, 4096);
	memset(g->map + g->maplen - 8192, CANARY, 4096);
	g->mem = g->map + 8192;
}

static inline int guarded_check(const struct guarded *g)
{
	const uint8_t *lo = g->map + 4096, *hi = g->map + g->maplen - 8192;

	for (size_t i = 0; i < 4096; i++)
		if (lo[i] != CANARY || hi[i] != CANARY)
			return 0;
	return 1;
}

static inline void guarded_free(struct guarded *g)
{
	munmap(g->map, g->maplen);
}

/*
 * The page sink of the wire tests: region 0 of the reader is @mem, as the
 * destination's sink would do it before post-copy. Raw pages are received
 * in place unless @staged, deltas patched in place; @begins, @placed count
 * the calls, @in_place the pages place() found already there.
 */
struct mem_sink {
	uint8_t *mem;
	bool staged;
	unsigned begins;
	uint64_t placed, in_place;
};

static inline int mem_sink_begin(void *cookie, unsigned ri,
				 const struct wire_page_desc *d, unsigned n,
				 void **into)
{
	struct mem_sink *k = cookie;

	ck_assert_uint_eq(ri, 0);
	k->begins++;
	for (unsigned i = 0; i < n; i++)
		if (d[i].enc == WIRE_ENC_DELTA ||
		    (d[i].enc == WIRE_ENC_RAW && !k->staged))
			into[i] = k->mem + d[i].page * 4096;
	return 0;
}

static inline int mem_sink_place(void *cookie, unsigned ri, uint64_t page,
				 const void *data)
{
	struct mem_sink *k = cookie;
	uint8_t *p = k->mem + page * 4096;

	ck_assert_uint_eq(ri, 0);
	k->placed++;
	if (data == p)
		k->in_place++;
	else if (data)
		memcpy(p, data, 4096);
	else
		memset(p, 0, 4096);
	return 0;
}

static const struct wire_page_sink_ops mem_sink_ops = {
	.begin = mem_sink_begin,
	.place = mem_sink_place,
};

static inline void mem_sink_attach(struct wire_reader *r, struct mem_sink *k,
				   uint8_t *mem)
{
	*k = (struct mem_sink){ .mem = mem };
	ck_assert_int_eq(wire_reader_set_sink(r, &mem_sink_ops, k), 0);
}

/* Deterministic test data. */
static inline uint32_t xrand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static inline void fill_random(uint8_t *p, size_t n, uint32_t *s)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)xrand(s);
}

/* A page zstd compresses well: short repeating pattern. */
static inline void fill_pattern(uint8_t *p, uint32_t tag)
{
	for (size_t i = 0; i < 4096; i++)
		p[i] = (uint8_t)(tag + (i % 16) * 3);
}


/* Append PAGES records for pages @idx[0..n) of @src (region @rid) to @o,
 * 64 per record; return the number of records. */
static inline unsigned send_pages(struct obuf *o, struct enc_ctx *e,
				  uint32_t rid, const uint8_t *src,
				  const uint64_t *idx, size_t n, uint32_t *seq,
				  struct enc_counters *cnt)
{
	struct wire_batch b;
	unsigned records = 0;
	int niov;

	ck_assert_int_eq(wire_batch_init(&b), 0);
	for (size_t i = 0; i < n; i += WIRE_MAX_BATCH) {
		wire_batch_begin(&b, rid);
		for (size_t j = i; j < n && j < i + WIRE_MAX_BATCH; j++)
			ck_assert_int_ge(wire_batch_add(&b, e, idx[j],
					 src + idx[j] * 4096, cnt), 0);
		size_t bytes = wire_batch_finish(&b, (*seq)++, &niov), sum = 0;

		for (int k = 0; k < niov; k++)
			sum += b.iov[k].iov_len;
		ck_assert_uint_eq(bytes, sum);
		obuf_write(o, b.iov, niov);
		records++;
	}
	wire_batch_destroy(&b);
	return records;
}

/* One descriptor of a PAGES record crafted by hand. */
struct pdesc {
	uint64_t idx;
	uint8_t enc;
	uint32_t len;
};

/* Append a PAGES record with a correct CRC (over its metadata only). */
static inline void craft_pages(struct obuf *o, uint32_t seq, uint32_t rid,
			       unsigned count, const struct pdesc *d,
			       const void *payload, size_t plen)
{
	uint8_t head[WIRE_HDR_SIZE + 8 + 16 * 80] = { 0 };
	struct iovec body[2];
	size_t hl = 8 + 16 * (size_t)count;

	put_le32(head + 16, rid);
	put_le16(head + 20, (uint16_t)count);
	for (unsigned i = 0; i < count && i < 80; i++) {
		uint8_t *p = head + 24 + 16 * i;

		put_le64(p, d[i].idx);
		p[8] = d[i].enc;
		put_le32(p + 12, d[i].len);
	}
	body[0] = (struct iovec){ head + 16, hl };
	body[1] = (struct iovec){ (void *)payload, plen };
	wire_record_frame(head, WIRE_PAGES, 0, seq, body, 2);
	put_le32(head + 8, wire_record_crc(head, body, 1));
	obuf_put(o, head, 16 + hl);
	obuf_put(o, payload, plen);
}

/* Read records until the stream is used up; return the first error. */
static inline int drain(struct wire_reader *r, struct istream *in,
			struct wire_page_counts *cnt)
{
	struct wire_hdr h;
	const uint8_t *p;
	int ret = 0;

	while (in->pos < in->len && ret == 0)
		ret = wire_reader_next(r, &h, &p, cnt);
	return ret;
}

#endif
