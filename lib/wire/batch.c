/* SPDX-License-Identifier: MIT */
/*
 * Source side: build one PAGES record as a list of pieces, never a copy of
 * the guest: the record goes out as iovecs [header + descriptors][guest
 * page][guest page][encoded bytes]..., contiguous pieces coalesced into
 * one iovec. A raw page is read by the transport straight from guest
 * memory, while the guest may still write it; that is why the record's
 * CRC covers its metadata only (docs/wire-format.md, section 3): a page
 * torn by a write in flight is dirty again and its next copy follows.
 *
 * Encoded pages (zstd, delta, hints) are written to the batch's payload
 * buffer. Without the delta cache, consecutive pages for zstd wait as a
 * run and go out as one frame when the run closes (run_close()); their
 * descriptors are in the record already, in the order they were added,
 * and get their encoding then. Under the delta cache a page is still
 * copied once into that buffer: the cache must hold exactly the bytes the
 * destination received, so the cache copy, the delta and what is sent all
 * come from that one read of the page.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/page.h"
#include "encode/encode.h"
#include "batch.h"
#include "pages_fmt.h"

/* A run is at most a record's pages: enc_zstd_run() has room for
 * ENC_RUN_MAX. */
_Static_assert(WIRE_MAX_BATCH <= ENC_RUN_MAX,
	       "a record's pages must fit one zstd run");
/* wire.h sizes the head without pages_fmt.h's names. */
_Static_assert(sizeof(((struct wire_batch *)0)->head) ==
	       WIRE_HDR_SIZE + BATCH_HEAD + DESC_SIZE * WIRE_MAX_BATCH,
	       "wire_batch.head must hold a full PAGES head");

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
	b->body_len = 0;
	b->niov = 1; /* iov[0], the head, is set by wire_batch_finish() */
	b->run_n = 0; /* a record given up (recovery) drops its run */
	b->run_look_ns = 0;
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

/* Append @len bytes at @p to the record's pages; a piece that starts where
 * the last one ends (the next guest page, the next encoded bytes) grows
 * it, so a run of contiguous pages costs one iovec. */
static void add_piece(struct wire_batch *b, const void *p, size_t len)
{
	struct iovec *last = &b->iov[b->niov - 1];

	if (b->niov > 1 && (const uint8_t *)last->iov_base + last->iov_len ==
			   (const uint8_t *)p)
		last->iov_len += len;
	else
		b->iov[b->niov++] = (struct iovec){ (void *)p, len };
	b->body_len += len;
}

/* Reserve @len bytes of the payload buffer for an encoded piece. */
static uint8_t *payload_take(struct wire_batch *b, size_t len)
{
	uint8_t *p = b->payload + b->payload_len;

	b->payload_len += len;
	return p;
}

/* Under the delta cache: @copy holds the page (read once); encode it in
 * place. Return the encoding, *@len its bytes at @copy. */
static int encode_cached(struct wire_batch *b, struct enc_ctx *e,
			 uint64_t page_index, uint8_t *copy, size_t *len,
			 struct enc_counters *cnt)
{
	uint8_t *cached = dcache_lookup(e->cache, b->region_id, page_index);
	int n;

	*len = ENC_PAGE;
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
		cached = dcache_insert(e->cache, b->region_id, page_index,
				       !e->first_send);
		if (cached)
			memcpy(cached, copy, ENC_PAGE);
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

static void count(struct enc_counters *cnt, int enc, unsigned n)
{
	if (cnt)
		cnt->pages[enc] += n;
}

/*
 * Compress the pending run, the last run_n descriptors, and give them
 * their encoding: one frame (ZSTD_RUN then ZSTD_NEXT, or ZSTD for a run
 * of one), or raw from guest memory when the frame saves too little.
 * Nothing was added after the run, so its bytes come next in the record.
 */
static void run_close(struct wire_batch *b)
{
	unsigned n = b->run_n, first = b->count - n;
	const uint8_t *frame;
	int len;

	if (!n)
		return;
	b->run_n = 0;
	len = enc_zstd_run(b->run_enc, b->run_page, n, b->run_look_ns, &frame);
	b->run_look_ns = 0;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *d = desc_at(b, first + i);
		int enc = !len ? WIRE_ENC_RAW
			  : n == 1 ? WIRE_ENC_ZSTD
			  : i ? WIRE_ENC_ZSTD_NEXT : WIRE_ENC_ZSTD_RUN;
		uint32_t dlen = !len ? ENC_PAGE : i ? 0 : (uint32_t)len;

		pages_desc_pack(d, pages_desc_page(d), (uint8_t)enc, dlen);
		if (!len)
			add_piece(b, b->run_page[i], ENC_PAGE);
	}
	if (len) {
		uint8_t *p = payload_take(b, (size_t)len);

		memcpy(p, frame, (size_t)len);
		add_piece(b, p, (size_t)len);
	}
	count(b->run_cnt, len ? WIRE_ENC_ZSTD : WIRE_ENC_RAW, n);
}

/* A page with contents into the record: its encoding (WIRE_ENC_ZSTD_RUN:
 * it joined the pending run). */
static int add_contents(struct wire_batch *b, struct enc_ctx *e,
			uint64_t page_index, const uint8_t *page,
			uint32_t *len, struct enc_counters *cnt)
{
	uint64_t look_ns;
	size_t n;
	int enc;

	if (e && e->cache) {
		uint8_t *copy;

		run_close(b); /* none with the cache on: the pages are copies */
		copy = b->payload + b->payload_len;
		memcpy(copy, page, ENC_PAGE);
		enc = encode_cached(b, e, page_index, copy, &n, cnt);
		add_piece(b, payload_take(b, n), n);
		*len = (uint32_t)n;
		return enc;
	}
	if (e && e->cfg.delta_cache_bytes >= ENC_PAGE)
		cnt->cache_misses++; /* dropped at a post-copy switch */
	/* zstd reads the guest pages themselves: a frame of pages one of
	 * which a write tore still decodes to their size, and the page is
	 * dirty again (zstd_run.c). */
	if (e && enc_zstd_wants(e, page, &look_ns)) {
		if (b->run_n && b->run_enc != e)
			run_close(b);
		b->run_page[b->run_n++] = page;
		b->run_look_ns += look_ns;
		b->run_enc = e;
		*len = 0; /* until the run closes */
		return WIRE_ENC_ZSTD_RUN;
	}
	run_close(b);
	add_piece(b, page, ENC_PAGE);
	*len = ENC_PAGE;
	return WIRE_ENC_RAW;
}

static void add_desc(struct wire_batch *b, uint64_t page_index, int enc,
		     uint32_t len)
{
	if (!b->count || page_index > b->max_index)
		b->max_index = page_index;
	pages_desc_pack(desc_at(b, b->count++), page_index, (uint8_t)enc, len);
}

int wire_batch_add(struct wire_batch *b, struct enc_ctx *e,
		   uint64_t page_index, const void *page,
		   struct enc_counters *cnt)
{
	struct enc_counters dummy = { 0 };
	uint32_t len = 0;
	int enc;

	if (!cnt)
		cnt = &dummy;
	if (b->count >= WIRE_MAX_BATCH)
		return -ENOSPC;
	/* A page twice in one record would be applied out of order. */
	if (in_batch(b, page_index))
		return -EEXIST;

	if (!page || page_is_zero(page)) {
		run_close(b);
		enc = WIRE_ENC_ZERO;
		/* The receiver now holds zeros: a cached copy would lie. */
		if (e && e->cache)
			dcache_drop(e->cache, b->region_id, page_index);
	} else {
		enc = add_contents(b, e, page_index, page, &len, cnt);
	}
	add_desc(b, page_index, enc, len);
	if (enc == WIRE_ENC_ZSTD_RUN)
		b->run_cnt = cnt == &dummy ? NULL : cnt;
	else
		cnt->pages[enc]++;
	return enc;
}

int wire_batch_add_hint(struct wire_batch *b, uint64_t page_index,
			const struct wire_hint *h, struct enc_counters *cnt)
{
	uint8_t *p;

	if (b->count >= WIRE_MAX_BATCH)
		return -ENOSPC;
	if (in_batch(b, page_index))
		return -EEXIST;
	run_close(b);
	p = payload_take(b, WIRE_HINT_SIZE);
	wire_hint_pack(p, h);
	add_piece(b, p, WIRE_HINT_SIZE);
	add_desc(b, page_index, WIRE_ENC_HINT, WIRE_HINT_SIZE);
	count(cnt, WIRE_ENC_HINT, 1);
	return WIRE_ENC_HINT;
}

size_t wire_batch_finish(struct wire_batch *b, uint32_t seq, int *iovcnt)
{
	uint8_t *bh = b->head + WIRE_HDR_SIZE;
	struct wire_hdr h = { .type = WIRE_PAGES, .seq = seq };
	struct iovec meta;
	size_t head_len;

	*iovcnt = 0;
	run_close(b);
	if (b->count == 0)
		return 0;
	pages_head_pack(bh, b->region_id, (uint16_t)b->count);
	head_len = WIRE_HDR_SIZE + BATCH_HEAD + DESC_SIZE * b->count;
	h.len = (uint32_t)(head_len - WIRE_HDR_SIZE + b->body_len);
	wire_hdr_pack(b->head, &h); /* crc 0, as wire_record_frame() */
	meta = (struct iovec){ bh, head_len - WIRE_HDR_SIZE };
	put_le32(b->head + 8, wire_record_crc(b->head, &meta, 1));
	b->iov[0] = (struct iovec){ b->head, head_len };
	*iovcnt = (int)b->niov;
	return head_len + b->body_len;
}
