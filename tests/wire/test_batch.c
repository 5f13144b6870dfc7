/* SPDX-License-Identifier: MIT */
/*
 * The PAGES builder over several "rounds" with a delta cache: whatever the
 * guest did to a page (small change, rewrite, became zero, non-zero again,
 * evicted from a small cache), the destination ends equal to the source.
 */
#include <vmmig/session.h>

#include "wire/le.h"
#include "wiretest.h"

#define NPAGES 96

struct pair {
	struct enc_ctx *e;
	struct wire_reader *r;
	struct istream in;
	struct obuf o;
	struct guarded g;
	struct mem_sink k;
	uint32_t seq;
	struct enc_counters ec;
};

static void pair_new(struct pair *p, int compression, size_t cache)
{
	struct enc_config cfg = { .compression = compression, .zstd_level = 3,
				  .delta_cache_bytes = cache };
	struct wire_dest_region dr;

	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(enc_ctx_new(&cfg, &p->e), 0);
	guarded_new(&p->g, NPAGES);
	dr = (struct wire_dest_region){ .id = 3, .npages = NPAGES };
	ck_assert_int_eq(wire_reader_new(istream_read, &p->in, &dr, 1, &p->r),
			 0);
	mem_sink_attach(p->r, &p->k, p->g.mem);
}

static void pair_free(struct pair *p)
{
	wire_reader_free(p->r);
	enc_ctx_free(p->e);
	guarded_free(&p->g);
	free(p->o.buf);
}

/* Send pages @idx of @src as one round and apply them at the destination. */
static void round_trip(struct pair *p, const uint8_t *src,
		       const uint64_t *idx, size_t n)
{
	unsigned recs;

	p->o.len = 0;
	recs = send_pages(&p->o, p->e, 3, src, idx, n, &p->seq, &p->ec);
	p->in = (struct istream){ p->o.buf, p->o.len, 0 };
	for (unsigned k = 0; k < recs; k++) {
		struct wire_hdr h;
		const uint8_t *pl;

		ck_assert_msg(wire_reader_next(p->r, &h, &pl, NULL) == 0, "%s",
			      wire_reader_error(p->r));
	}
	ck_assert_uint_eq(p->in.pos, p->in.len);
	ck_assert(guarded_check(&p->g));
}

static void rounds(int compression, size_t cache)
{
	uint8_t *src = malloc(NPAGES * 4096);
	uint64_t all[NPAGES], dirty[NPAGES];
	struct pair p;
	uint32_t s = 2024;

	pair_new(&p, compression, cache);
	for (int i = 0; i < NPAGES; i++) {
		all[i] = (uint64_t)i;
		if (i % 3)
			fill_random(src + i * 4096, 4096, &s);
		else
			fill_pattern(src + i * 4096, (uint32_t)i);
	}
	round_trip(&p, src, all, NPAGES);
	ck_assert_mem_eq(p.g.mem, src, NPAGES * 4096);

	for (int round = 1; round <= 6; round++) {
		size_t n = 0;

		for (int i = 0; i < NPAGES; i++) {
			uint8_t *pg = src + i * 4096;

			switch ((i + round) % 6) {
			case 0: break;                       /* clean */
			case 1: pg[xrand(&s) % 4096]++;      /* tiny change */
				dirty[n++] = (uint64_t)i;
				break;
			case 2: memset(pg, 0, 4096);         /* became zero */
				dirty[n++] = (uint64_t)i;
				break;
			case 3: pg[xrand(&s) % 4096] = 0x99; /* maybe non-zero again */
				pg[4095] ^= 0x40;
				dirty[n++] = (uint64_t)i;
				break;
			case 4: fill_random(pg, 4096, &s);   /* rewritten */
				dirty[n++] = (uint64_t)i;
				break;
			case 5: for (int k = 0; k < 64; k++) /* scattered */
					pg[(xrand(&s) % 512) * 8] ^= 0xff;
				dirty[n++] = (uint64_t)i;
				break;
			}
		}
		round_trip(&p, src, dirty, n);
		ck_assert_msg(memcmp(p.g.mem, src, NPAGES * 4096) == 0,
			      "round %d differs", round);
	}
	if (cache >= NPAGES * 4096) {
		ck_assert_uint_gt(p.ec.pages[WIRE_ENC_DELTA], 0);
		ck_assert_uint_gt(p.ec.cache_hits, 0);
	}
	if (cache == 0) {
		ck_assert_uint_eq(p.ec.pages[WIRE_ENC_DELTA], 0);
		ck_assert_uint_eq(p.ec.cache_hits + p.ec.cache_misses, 0);
	}
	/* One definition of the counters (wire.h): each page sent with
	 * contents is a hit or a miss while a cache is configured. */
	if (cache)
		ck_assert_uint_eq(p.ec.cache_hits + p.ec.cache_misses,
				  p.ec.pages[WIRE_ENC_RAW] +
					  p.ec.pages[WIRE_ENC_ZSTD] +
					  p.ec.pages[WIRE_ENC_DELTA]);
	ck_assert_uint_gt(p.ec.pages[WIRE_ENC_ZERO], 0);
	pair_free(&p);
	free(src);
}

START_TEST(rounds_no_cache)
{
	rounds(VMMIG_COMPRESS_NONE, 0);
}
END_TEST

START_TEST(rounds_big_cache)
{
	rounds(VMMIG_COMPRESS_NONE, NPAGES * 4096);
}
END_TEST

START_TEST(rounds_small_cache_zstd)
{
	/* Eight slots for 96 pages: constant eviction. */
	rounds(VMMIG_COMPRESS_ZSTD, 8 * 4096);
}
END_TEST

/*
 * A cache a quarter of the guest (issue 12): the first pass must not leave
 * it holding the last pages sent. Hot set A (pages 4..19) was sent early in
 * the first pass, hot set B (60..67) late; both are re-dirtied a little
 * every round. A hits from round 1 on, B from round 2 on (round 1 admits
 * it in place of cold pages), and the counters add up.
 */
START_TEST(small_cache_keeps_hot_set)
{
	uint8_t *src = malloc(NPAGES * 4096);
	uint64_t all[NPAGES], dirty[24];
	struct pair p;
	uint32_t s = 7;

	pair_new(&p, VMMIG_COMPRESS_NONE, 24 * 4096);
	for (int i = 0; i < NPAGES; i++) {
		all[i] = (uint64_t)i;
		fill_random(src + i * 4096, 4096, &s);
	}
	enc_ctx_set_first_send(p.e, true);
	round_trip(&p, src, all, NPAGES);
	enc_ctx_set_first_send(p.e, false);
	ck_assert_uint_eq(p.ec.cache_hits, 0);
	ck_assert_uint_eq(p.ec.cache_misses, NPAGES);
	for (int round = 1; round <= 4; round++) {
		uint64_t hits = p.ec.cache_hits;
		size_t n = 0;

		for (int i = 4; i < 20; i++)
			dirty[n++] = (uint64_t)i;
		for (int i = 60; i < 68; i++)
			dirty[n++] = (uint64_t)i;
		for (size_t k = 0; k < n; k++)
			src[dirty[k] * 4096 + (xrand(&s) % 4096)] ^= 0x5a;
		round_trip(&p, src, dirty, n);
		ck_assert_msg(memcmp(p.g.mem, src, NPAGES * 4096) == 0,
			      "round %d differs", round);
		ck_assert_uint_eq(p.ec.cache_hits - hits, round == 1 ? 16 : 24);
	}
	ck_assert_uint_eq(p.ec.cache_misses, NPAGES + 8);
	ck_assert_uint_eq(p.ec.pages[WIRE_ENC_DELTA], p.ec.cache_hits);
	ck_assert_uint_eq(p.ec.cache_hits + p.ec.cache_misses,
			  p.ec.pages[WIRE_ENC_RAW] + p.ec.pages[WIRE_ENC_DELTA]);
	/* After a post-copy switch (cache dropped): misses, still counted. */
	enc_ctx_drop_cache(p.e);
	round_trip(&p, src, dirty, 24);
	ck_assert_uint_eq(p.ec.cache_hits + p.ec.cache_misses,
			  p.ec.pages[WIRE_ENC_RAW] + p.ec.pages[WIRE_ENC_DELTA]);
	pair_free(&p);
	free(src);
}
END_TEST

START_TEST(zero_then_nonzero)
{
	uint8_t *src = calloc(4, 4096);
	uint64_t one = 2;
	struct pair p;

	pair_new(&p, VMMIG_COMPRESS_NONE, 4 * 4096);
	memset(src + 2 * 4096, 0xab, 4096);
	round_trip(&p, src, &one, 1);           /* miss: raw, cached */
	memset(src + 2 * 4096, 0, 4096);
	round_trip(&p, src, &one, 1);           /* zero: cache entry dropped */
	src[2 * 4096 + 10] = 0xab;
	round_trip(&p, src, &one, 1);           /* must not delta vs 0xab.. */
	ck_assert_mem_eq(p.g.mem + 2 * 4096, src + 2 * 4096, 4096);
	src[2 * 4096 + 11] = 0xcd;
	round_trip(&p, src, &one, 1);           /* now a delta vs last copy */
	ck_assert_mem_eq(p.g.mem + 2 * 4096, src + 2 * 4096, 4096);
	ck_assert_uint_eq(p.ec.pages[WIRE_ENC_ZERO], 1);
	ck_assert_uint_eq(p.ec.pages[WIRE_ENC_RAW], 2);
	ck_assert_uint_eq(p.ec.pages[WIRE_ENC_DELTA], 1);
	ck_assert_uint_eq(p.ec.cache_misses, 2);
	ck_assert_uint_eq(p.ec.cache_hits, 1);
	pair_free(&p);
	free(src);
}
END_TEST

START_TEST(builder_edges)
{
	struct wire_batch b;
	uint8_t page[4096] = { 1 };
	struct enc_counters c = { 0 };
	int niov;

	ck_assert_int_eq(wire_batch_init(&b), 0);
	wire_batch_begin(&b, 9);
	ck_assert_uint_eq(wire_batch_finish(&b, 0, &niov), 0); /* empty */
	ck_assert_int_eq(niov, 0);
	for (uint64_t i = 0; i < WIRE_MAX_BATCH; i++) {
		ck_assert(!wire_batch_full(&b));
		ck_assert_int_eq(wire_batch_add(&b, NULL, i, page, &c),
				 WIRE_ENC_RAW);
	}
	ck_assert(wire_batch_full(&b));
	ck_assert_int_eq(wire_batch_add(&b, NULL, 99, page, &c), -ENOSPC);
	ck_assert_uint_eq(wire_batch_finish(&b, 5, &niov),
			  16 + 8 + 16 * 64 + 64 * 4096);
	/* The same page 64 times: 64 pieces (none contiguous), + the head. */
	ck_assert_int_eq(niov, 1 + 64);
	ck_assert_ptr_eq(b.iov[64].iov_base, page);
	ck_assert_uint_eq(get_le16(b.iov[0].iov_base), WIRE_PAGES);
	ck_assert_uint_eq(get_le32((uint8_t *)b.iov[0].iov_base + 12), 5);
	wire_batch_begin(&b, 9);
	ck_assert_int_eq(wire_batch_add(&b, NULL, 1, page, NULL), WIRE_ENC_RAW);
	ck_assert_int_eq(wire_batch_add(&b, NULL, 1, page, NULL), -EEXIST);
	/* Out of order: a repeat below the highest index is still seen. */
	ck_assert_int_eq(wire_batch_add(&b, NULL, 9, page, NULL), WIRE_ENC_RAW);
	ck_assert_int_eq(wire_batch_add(&b, NULL, 3, page, NULL), WIRE_ENC_RAW);
	ck_assert_int_eq(wire_batch_add(&b, NULL, 9, page, NULL), -EEXIST);
	ck_assert_int_eq(wire_batch_add(&b, NULL, 3, page, NULL), -EEXIST);
	ck_assert_int_eq(wire_batch_add(&b, NULL, 4, page, NULL), WIRE_ENC_RAW);
	wire_batch_destroy(&b);
	wire_batch_destroy(&b); /* twice is harmless */
	ck_assert_uint_eq(c.pages[WIRE_ENC_RAW], 64);
}
END_TEST

/* Raw pages go out from where they are (no copy), contiguous ones as one
 * iovec; the CRC covers header, batch header and descriptors only
 * (docs/wire-format.md, section 3): a changed page byte reads fine (the
 * transport and the memory digest guard those), a changed descriptor byte
 * is a CRC error before any page lands. */
START_TEST(crc_covers_metadata_only)
{
	uint8_t *src = malloc(4 * 4096);
	uint64_t idx[3] = { 0, 1, 3 };
	const size_t meta = 16 + 8 + 16 * 3;
	uint32_t s = 7;
	struct wire_batch b;
	struct iovec whole;
	struct wire_hdr h;
	const uint8_t *pl;
	struct pair p;
	size_t len;
	int niov;

	fill_random(src, 4 * 4096, &s);
	pair_new(&p, VMMIG_COMPRESS_NONE, 0);
	ck_assert_int_eq(wire_batch_init(&b), 0);
	wire_batch_begin(&b, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(wire_batch_add(&b, p.e, idx[i],
						src + idx[i] * 4096, NULL),
				 WIRE_ENC_RAW);
	len = wire_batch_finish(&b, 0, &niov);
	ck_assert_int_eq(niov, 3);
	ck_assert_uint_eq(b.iov[0].iov_len, meta);
	ck_assert_ptr_eq(b.iov[1].iov_base, src);
	ck_assert_uint_eq(b.iov[1].iov_len, 2 * 4096);
	ck_assert_ptr_eq(b.iov[2].iov_base, src + 3 * 4096);
	ck_assert_uint_eq(b.iov[2].iov_len, 4096);
	ck_assert_uint_eq(len, meta + 3 * 4096);
	obuf_write(&p.o, b.iov, niov);
	wire_batch_destroy(&b);
	whole = (struct iovec){ p.o.buf + 16, len - 16 };
	ck_assert_uint_eq(get_le32(p.o.buf + 8), wire_record_crc_flat(p.o.buf,
								      len));
	ck_assert_uint_ne(get_le32(p.o.buf + 8),
			  wire_record_crc(p.o.buf, &whole, 1));

	/* A page byte changed on the way: no CRC error, the byte lands. */
	p.o.buf[len - 1] ^= 0x40;
	p.in = (struct istream){ p.o.buf, p.o.len, 0 };
	ck_assert_msg(wire_reader_next(p.r, &h, &pl, NULL) == 0, "%s",
		      wire_reader_error(p.r));
	ck_assert_mem_eq(p.g.mem, src, 2 * 4096);
	ck_assert_uint_eq(p.g.mem[4 * 4096 - 1], src[4 * 4096 - 1] ^ 0x40);
	ck_assert(guarded_check(&p.g));
	wire_reader_free(p.r);

	/* A descriptor byte changed: CRC error, no page lands. */
	p.o.buf[len - 1] ^= 0x40;
	p.o.buf[16 + 8 + 16 + 9] ^= 0x01; /* a reserved byte of page 1 */
	memset(p.g.mem, 0, 4 * 4096);
	p.in = (struct istream){ p.o.buf, p.o.len, 0 };
	ck_assert_int_eq(wire_reader_new(istream_read, &p.in,
			 &(struct wire_dest_region){ .id = 3,
						     .npages = NPAGES },
			 1, &p.r), 0);
	mem_sink_attach(p.r, &p.k, p.g.mem);
	ck_assert_int_eq(wire_reader_next(p.r, &h, &pl, NULL), -EPROTO);
	ck_assert_ptr_nonnull(strstr(wire_reader_error(p.r),
				     "record crc mismatch"));
	for (size_t i = 0; i < 4 * 4096; i++)
		ck_assert_uint_eq(p.g.mem[i], 0);
	pair_free(&p);
	free(src);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire_batch");
	TCase *tc = tcase_create("batch");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, rounds_no_cache);
	tcase_add_test(tc, rounds_big_cache);
	tcase_add_test(tc, rounds_small_cache_zstd);
	tcase_add_test(tc, zero_then_nonzero);
	tcase_add_test(tc, small_cache_keeps_hot_set);
	tcase_add_test(tc, builder_edges);
	tcase_add_test(tc, crc_covers_metadata_only);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
