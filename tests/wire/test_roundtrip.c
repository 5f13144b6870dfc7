/* SPDX-License-Identifier: MIT */
/* Every record type through the reader; pages of every encoding land
 * byte for byte in the destination, and nothing outside it changes. */
#include <vmmig/session.h>

#include "wiretest.h"

#define NPAGES 300

static void expect_record(struct wire_reader *r, uint16_t type,
			  uint16_t flags, uint32_t len, const uint8_t **p)
{
	struct wire_hdr h;

	ck_assert_int_eq(wire_reader_next(r, &h, p, NULL), 0);
	ck_assert_uint_eq(h.type, type);
	ck_assert_uint_eq(h.flags, flags);
	ck_assert_uint_eq(h.len, len);
}

START_TEST(control_records)
{
	struct obuf o = { 0 };
	struct wire_reader *r;
	struct istream in;
	uint8_t pl[4096], blob[300];
	struct wire_region rg = { .id = 1, .size = 4096 }, rb[WIRE_MAX_REGIONS];
	struct wire_hello h = { .magic = WIRE_MAGIC, .version = WIRE_VERSION,
				.nchannels = 1, .page_size = 4096,
				.nregions = 1 }, hb;
	struct wire_status st = { .status = 0, .aux = 1, .text = "ok" }, sb;
	struct wire_state ss = { .blob_id = 2, .total_len = 300 }, sd;
	struct wire_end e = { .pages = 5, .flags = WIRE_END_MAIN, .nblobs = 1 },
			eb;
	struct wire_round rd = { .round = 1, .dirty_pages = 9 };
	struct wire_page_counts cnt = { 0 };
	const uint8_t *p;
	char err[WIRE_ERRLEN];
	uint32_t seq = 0, s = 1;
	int n;

	n = wire_hello_pack(pl, sizeof(pl), &h, &rg);
	ck_assert_int_eq(wire_write_record(obuf_write, &o, WIRE_HELLO, 0, seq++,
					   pl, (size_t)n), 0);
	n = wire_status_pack(pl, sizeof(pl), &st);
	ck_assert_int_eq(wire_write_record(obuf_write, &o, WIRE_HELLO_ACK, 0,
					   seq++, pl, (size_t)n), 0);
	wire_round_pack(pl, &rd);
	ck_assert_int_eq(wire_write_record(obuf_write, &o, WIRE_ROUND, 0, seq++,
					   pl, WIRE_ROUND_SIZE), 0);
	/* An optional type this reader does not know: must be skipped. */
	ck_assert_int_eq(wire_write_record(obuf_write, &o, 0x0077, 0, seq++,
					   pl, 8), 0);
	fill_random(blob, sizeof(blob), &s);
	wire_state_pack(pl, &ss);
	memcpy(pl + WIRE_STATE_HEAD, blob, sizeof(blob));
	ck_assert_int_eq(wire_write_record(obuf_write, &o, WIRE_STATE,
					   WIRE_STATE_LAST, seq++, pl,
					   WIRE_STATE_HEAD + sizeof(blob)), 0);
	wire_end_pack(pl, &e);
	ck_assert_int_eq(wire_write_record(obuf_write, &o, WIRE_END, 0, seq++,
					   pl, WIRE_END_SIZE), 0);
	st = (struct wire_status){ .status = 0, .aux = 1 };
	n = wire_status_pack(pl, sizeof(pl), &st);
	ck_assert_int_eq(wire_write_record(obuf_write, &o, WIRE_ACK, 0, seq++,
					   pl, (size_t)n), 0);
	st = (struct wire_status){ .status = -EIO, .text = "disk on fire" };
	n = wire_status_pack(pl, sizeof(pl), &st);
	ck_assert_int_eq(wire_write_record(obuf_write, &o, WIRE_ERROR, 0,
					   seq++, pl, (size_t)n), 0);

	in = (struct istream){ o.buf, o.len, 0 };
	ck_assert_int_eq(wire_reader_new(istream_read, &in, NULL, 0, &r), 0);
	expect_record(r, WIRE_HELLO, 0, 40 + 24, &p);
	ck_assert_int_eq(wire_hello_unpack(p, 64, &hb, rb, err, sizeof(err)), 0);
	ck_assert_uint_eq(rb[0].size, 4096);
	expect_record(r, WIRE_HELLO_ACK, 0, 10, &p);
	ck_assert_int_eq(wire_status_unpack(p, 10, &sb, err, sizeof(err)), 0);
	ck_assert_str_eq(sb.text, "ok");
	/* ROUND is optional but known: returned. The unknown optional
	 * record behind it is skipped; the STATE after that comes back. */
	expect_record(r, WIRE_ROUND, 0, WIRE_ROUND_SIZE, &p);
	ck_assert_uint_eq(p[0], rd.round & 0xff);
	expect_record(r, WIRE_STATE, WIRE_STATE_LAST, 24 + 300, &p);
	ck_assert_int_eq(wire_state_unpack(p, 324, &sd, err, sizeof(err)), 0);
	ck_assert_uint_eq(sd.blob_id, 2);
	ck_assert_mem_eq(p + WIRE_STATE_HEAD, blob, sizeof(blob));
	expect_record(r, WIRE_END, 0, WIRE_END_SIZE, &p);
	ck_assert_int_eq(wire_end_unpack(p, WIRE_END_SIZE, &eb, err,
					 sizeof(err)), 0);
	ck_assert_uint_eq(eb.pages, 5);
	ck_assert_uint_eq(eb.nblobs, 1);
	expect_record(r, WIRE_ACK, 0, 8, &p);
	ck_assert_int_eq(wire_status_unpack(p, 8, &sb, err, sizeof(err)), 0);
	ck_assert_uint_eq(sb.aux, 1);
	{
		struct wire_hdr hd;

		ck_assert_int_eq(wire_reader_next(r, &hd, &p, &cnt), 0);
		ck_assert_uint_eq(hd.type, WIRE_ERROR);
		ck_assert_uint_eq(cnt.bytes, 16 + hd.len);
		ck_assert_int_eq(wire_status_unpack(p, hd.len, &sb, err,
						    sizeof(err)), 0);
		ck_assert_int_eq(sb.status, -EIO);
		ck_assert_str_eq(sb.text, "disk on fire");
	}
	ck_assert_uint_eq(in.pos, o.len);
	/* End of stream: the read fn's error comes back as is. */
	{
		struct wire_hdr hd;

		ck_assert_int_eq(wire_reader_next(r, &hd, &p, NULL),
				 -ECONNRESET);
	}
	wire_reader_free(r);
	free(o.buf);
}
END_TEST

/* Source pages: a quarter zero, some random (raw), some patterned (zstd). */
static void make_source(uint8_t *src, uint32_t seed)
{
	uint32_t s = seed;

	for (uint64_t i = 0; i < NPAGES; i++) {
		uint8_t *p = src + i * 4096;

		switch (i % 4) {
		case 0: memset(p, 0, 4096); break;
		case 1: fill_random(p, 4096, &s); break;
		default: fill_pattern(p, (uint32_t)i); break;
		}
	}
}

static void pages_mix(int compression, size_t cache)
{
	struct enc_config cfg = { .compression = compression, .zstd_level = 1,
				  .delta_cache_bytes = cache };
	uint8_t *src = malloc(NPAGES * 4096);
	uint64_t idx[NPAGES];
	struct enc_counters ec = { 0 };
	struct wire_page_counts pc = { 0 };
	struct wire_dest_region dr;
	struct mem_sink k;
	struct wire_reader *r;
	struct enc_ctx *e;
	struct guarded g;
	struct obuf o = { 0 };
	struct istream in;
	uint32_t seq = 0, s = 42;
	unsigned records;

	ck_assert_int_eq(enc_ctx_new(&cfg, &e), 0);
	make_source(src, 1);
	/* Reverse order: the reader must not assume ascending indices. */
	for (uint64_t i = 0; i < NPAGES; i++)
		idx[i] = NPAGES - 1 - i;
	records = send_pages(&o, e, 7, src, idx, NPAGES, &seq, &ec);
	/* Round 2: change a few bytes of some pages (delta if cached). */
	for (uint64_t i = 1; i < NPAGES; i += 4) {
		src[i * 4096 + xrand(&s) % 4096] ^= 0x5a;
		src[i * 4096 + 100] ^= 1;
		idx[i / 4] = i;
	}
	records += send_pages(&o, e, 7, src, idx, NPAGES / 4, &seq, &ec);

	guarded_new(&g, NPAGES);
	memset(g.mem, 0xee, NPAGES * 4096); /* stale destination contents */
	dr = (struct wire_dest_region){ .id = 7, .npages = NPAGES };
	in = (struct istream){ o.buf, o.len, 0 };
	ck_assert_int_eq(wire_reader_new(istream_read, &in, &dr, 1, &r), 0);
	mem_sink_attach(r, &k, g.mem);
	for (unsigned k = 0; k < records; k++) {
		struct wire_hdr h;
		const uint8_t *p = (const uint8_t *)1;

		ck_assert_msg(wire_reader_next(r, &h, &p, &pc) == 0, "%s",
			      wire_reader_error(r));
		ck_assert_uint_eq(h.type, WIRE_PAGES);
		ck_assert_ptr_null(p);
	}
	ck_assert_uint_eq(in.pos, o.len);
	ck_assert_mem_eq(g.mem, src, NPAGES * 4096);
	ck_assert(guarded_check(&g));
	ck_assert_uint_eq(wire_reader_pages(r), NPAGES + NPAGES / 4);
	ck_assert_uint_eq(pc.bytes, o.len);
	for (int k = 0; k < WIRE_ENC__COUNT; k++)
		ck_assert_uint_eq(pc.pages[k], ec.pages[k]);
	ck_assert_uint_eq(ec.pages[WIRE_ENC_ZERO], NPAGES / 4);
	if (compression)
		ck_assert_uint_gt(ec.pages[WIRE_ENC_ZSTD], NPAGES / 3);
	else
		ck_assert_uint_eq(ec.pages[WIRE_ENC_ZSTD], 0);
	if (cache) {
		ck_assert_uint_eq(ec.pages[WIRE_ENC_DELTA], NPAGES / 4);
		ck_assert_uint_eq(ec.cache_hits, NPAGES / 4);
	} else {
		ck_assert_uint_eq(ec.pages[WIRE_ENC_DELTA], 0);
	}
	ck_assert_uint_gt(ec.pages[WIRE_ENC_RAW], 0);
	wire_reader_free(r);
	guarded_free(&g);
	enc_ctx_free(e);
	free(o.buf);
	free(src);
}

START_TEST(pages_raw_zero)
{
	pages_mix(VMMIG_COMPRESS_NONE, 0);
}
END_TEST

START_TEST(pages_all_encodings)
{
	pages_mix(VMMIG_COMPRESS_ZSTD, NPAGES * 4096);
}
END_TEST

START_TEST(pages_delta_only)
{
	pages_mix(VMMIG_COMPRESS_NONE, NPAGES * 4096);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire_roundtrip");
	TCase *tc = tcase_create("roundtrip");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, control_records);
	tcase_add_test(tc, pages_raw_zero);
	tcase_add_test(tc, pages_all_encodings);
	tcase_add_test(tc, pages_delta_only);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
