/* SPDX-License-Identifier: MIT */
/*
 * Every kind of bad input is refused with -EPROTO (or the read fn's error
 * for a cut stream) and a precise message, and nothing outside the
 * registered destination region is ever written (guard pages + canaries).
 * Records are crafted by hand, with a correct CRC where that matters, so
 * the check under test is the one that fires.
 */
#include <zstd.h>

#include "wire/le.h"
#include "wiretest.h"

#define RID 7
#define NPAGES 16

static struct guarded g;
static uint8_t *before;

static void setup(void)
{
	guarded_new(&g, NPAGES);
	for (size_t i = 0; i < NPAGES * 4096; i++)
		g.mem[i] = (uint8_t)(i * 7);
	before = malloc(NPAGES * 4096);
	memcpy(before, g.mem, NPAGES * 4096);
}

static void teardown(void)
{
	guarded_free(&g);
	free(before);
}

/*
 * Feed @o to a fresh reader; the first error must be @want with message
 * @msg (NULL: any). @untouched: the destination must be unchanged.
 */
static void expect_fail_at(struct obuf *o, int want, const char *msg,
			   bool untouched, bool restore)
{
	struct wire_dest_region dr = { .id = RID, .npages = NPAGES };
	struct mem_sink k;
	struct istream in = { o->buf, o->len, 0 };
	struct wire_reader *r;
	struct wire_hdr h;
	const uint8_t *p;
	int ret = 0;

	ck_assert_int_eq(wire_reader_new(istream_read, &in, &dr, 1, &r), 0);
	mem_sink_attach(r, &k, g.mem);
	for (int k = 0; k < 100 && ret == 0; k++)
		ret = wire_reader_next(r, &h, &p, NULL);
	ck_assert_int_eq(ret, want);
	if (msg)
		ck_assert_str_eq(wire_reader_error(r), msg);
	/* Sticky: the stream is out of step, the reader stays failed. */
	ck_assert_int_eq(wire_reader_next(r, &h, &p, NULL), want);
	ck_assert(guarded_check(&g));
	if (untouched)
		ck_assert_mem_eq(g.mem, before, NPAGES * 4096);
	/* The next case starts from the same destination contents. */
	if (restore)
		memcpy(g.mem, before, NPAGES * 4096);
	wire_reader_free(r);
	free(o->buf);
	*o = (struct obuf){ 0 };
}

static void expect_fail(struct obuf *o, int want, const char *msg,
			bool untouched)
{
	expect_fail_at(o, want, msg, untouched, true);
}

/* Same, leaving the destination as the reader left it. */
static void expect_fail_keep(struct obuf *o, int want, const char *msg)
{
	expect_fail_at(o, want, msg, false, false);
}

static uint8_t raw[2][4096];

/* A good record: pages 2 (raw), 3 (zero), 4 (raw). */
static void good(struct obuf *o, uint32_t seq)
{
	struct pdesc d[3] = { { 2, WIRE_ENC_RAW, 4096 }, { 3, WIRE_ENC_ZERO, 0 },
			     { 4, WIRE_ENC_RAW, 4096 } };

	memset(raw[0], 0x11, 4096);
	memset(raw[1], 0x22, 4096);
	{
		uint8_t pl[8192];

		memcpy(pl, raw[0], 4096);
		memcpy(pl + 4096, raw[1], 4096);
		craft_pages(o, seq, RID, 3, d, pl, sizeof(pl));
	}
}

START_TEST(good_record_applies)
{
	struct obuf o = { 0 };
	struct wire_dest_region dr = { .id = RID, .npages = NPAGES };
	struct mem_sink k;
	struct istream in;
	struct wire_reader *r;
	struct wire_hdr h;
	const uint8_t *p;

	good(&o, 0);
	in = (struct istream){ o.buf, o.len, 0 };
	ck_assert_int_eq(wire_reader_new(istream_read, &in, &dr, 1, &r), 0);
	mem_sink_attach(r, &k, g.mem);
	ck_assert_int_eq(wire_reader_next(r, &h, &p, NULL), 0);
	ck_assert_mem_eq(g.mem + 2 * 4096, raw[0], 4096);
	for (size_t i = 0; i < 4096; i++)
		ck_assert_uint_eq(g.mem[3 * 4096 + i], 0);
	ck_assert_mem_eq(g.mem + 4 * 4096, raw[1], 4096);
	ck_assert_mem_eq(g.mem, before, 2 * 4096);
	ck_assert(guarded_check(&g));
	wire_reader_free(r);
	free(o.buf);
}
END_TEST

START_TEST(bit_flips)
{
	struct obuf o = { 0 };
	/* header crc field, header seq, header len, batch region id,
	 * descriptor page index high byte, descriptor encoding,
	 * descriptor length, header type, header flags, descriptor reserved
	 * byte. The CRC covers the header and the descriptors: a flip there
	 * that the framing checks before it do not catch is a CRC error, and
	 * then nothing lands. */
	static const struct {
		size_t off;
		uint8_t bit;
		int ret;
		const char *msg;
	} cases[] = {
		{ 8, 0x01, -EPROTO, "record crc mismatch (seq 0)" },
		{ 12, 0x01, -EPROTO, "record out of sequence: expected seq 0, "
		  "got 1" },
		{ 7, 0x80, -EPROTO, "record length 2147491896 exceeds the "
		  "maximum 16777216" },
		{ 16, 0x02, -EPROTO, "PAGES for unknown region id 5" },
		{ 24 + 7, 0x10, -EPROTO, "record crc mismatch (seq 0)" },
		{ 24 + 16 + 8, 0x05, -EPROTO, "record crc mismatch (seq 0)" },
		{ 24 + 12, 0x01, -EPROTO, "record crc mismatch (seq 0)" },
		{ 0, 0x01, -EPROTO, "unknown mandatory record type 0x8011" },
		{ 2, 0x01, -EPROTO, "PAGES has unknown flags 0x1" },
		{ 24 + 16 + 9, 0x01, -EPROTO, "record crc mismatch (seq 0)" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		good(&o, 0);
		o.buf[cases[i].off] ^= cases[i].bit;
		expect_fail(&o, cases[i].ret, cases[i].msg, true);
	}
}
END_TEST

/* A flipped page byte is no CRC error (docs/wire-format.md, section 3):
 * the record applies with it. The transport's checksum and end-to-end
 * verification (tests/core/test_verify.c) are what catch it. */
START_TEST(page_byte_flips_land)
{
	static const size_t off[] = { 24 + 48, 24 + 48 + 8191 };
	struct wire_dest_region dr = { .id = RID, .npages = NPAGES };

	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
		struct obuf o = { 0 };
		struct mem_sink k;
		struct istream in;
		struct wire_reader *r;
		struct wire_hdr h;
		const uint8_t *p;
		size_t at = 2 * 4096 + off[i] - (24 + 48); /* pages 2 then 4 */

		if (off[i] - (24 + 48) >= 4096)
			at += 4096; /* page 3 is a zero page: no bytes */
		good(&o, 0);
		o.buf[off[i]] ^= 0x80;
		in = (struct istream){ o.buf, o.len, 0 };
		ck_assert_int_eq(wire_reader_new(istream_read, &in, &dr, 1,
						 &r), 0);
		mem_sink_attach(r, &k, g.mem);
		ck_assert_int_eq(wire_reader_next(r, &h, &p, NULL), 0);
		ck_assert_uint_eq(g.mem[at], (i ? 0x22 : 0x11) ^ 0x80);
		ck_assert(guarded_check(&g));
		wire_reader_free(r);
		free(o.buf);
		memcpy(g.mem, before, NPAGES * 4096);
	}
}
END_TEST

START_TEST(truncated)
{
	struct obuf o = { 0 };

	/* Cut inside the header, the descriptors, the payload. */
	static const size_t cut[] = { 5, 16, 20, 30, 24 + 48 + 100, 8263 };

	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		good(&o, 0);
		ck_assert_uint_lt(cut[i], o.len);
		o.len = cut[i];
		expect_fail(&o, -ECONNRESET, "stream read failed "
			    "(Connection reset by peer)", cut[i] < 24 + 48);
	}
}
END_TEST

START_TEST(bad_sequence_and_types)
{
	struct obuf o = { 0 };
	uint8_t pl[8] = { 0 };

	good(&o, 0);
	good(&o, 2); /* 1 lost */
	expect_fail(&o, -EPROTO, "record out of sequence: expected seq 1, "
		    "got 2", false);
	good(&o, 0);
	good(&o, 0); /* replayed */
	expect_fail(&o, -EPROTO, "record out of sequence: expected seq 1, "
		    "got 0", false);
	ck_assert_int_eq(wire_write_record(obuf_write, &o, 0x8077, 0, 0, pl, 8),
			 0);
	expect_fail(&o, -EPROTO, "unknown mandatory record type 0x8077", true);
	/* An unknown optional record is skipped... */
	ck_assert_int_eq(wire_write_record(obuf_write, &o, 0x0077, 0, 0, pl, 8),
			 0);
	ck_assert_int_eq(wire_write_record(obuf_write, &o, 0x8077, 0, 1, pl, 8),
			 0);
	expect_fail(&o, -EPROTO, "unknown mandatory record type 0x8077", true);
	/* ...but its CRC is still checked. */
	ck_assert_int_eq(wire_write_record(obuf_write, &o, 0x0077, 0, 0, pl, 8),
			 0);
	o.buf[o.len - 1] ^= 1;
	expect_fail(&o, -EPROTO, "record crc mismatch (seq 0)", true);
	/* A known type with a flag it does not define. */
	ck_assert_int_eq(wire_write_record(obuf_write, &o, WIRE_END, 1, 0, pl, 8),
			 0);
	expect_fail(&o, -EPROTO, "record type 0x8030 has unknown flags 0x1",
		    true);
}
END_TEST

START_TEST(too_long)
{
	struct obuf o = { 0 };
	struct wire_hdr h = { .type = WIRE_STATE, .len = WIRE_MAX_PAYLOAD + 1 };
	uint8_t hb[16];

	wire_hdr_pack(hb, &h);
	put_le32(hb + 8, wire_record_crc(hb, NULL, 0));
	obuf_put(&o, hb, 16);
	expect_fail(&o, -EPROTO, "record length 16777217 exceeds the maximum "
		    "16777216", true);
	h.type = WIRE_PAGES;
	wire_hdr_pack(hb, &h);
	obuf_put(&o, hb, 16);
	expect_fail(&o, -EPROTO, "record length 16777217 exceeds the maximum "
		    "16777216", true);
}
END_TEST

START_TEST(crafted_with_good_crc)
{
	struct obuf o = { 0 };
	static uint8_t pl[3 * 4096 + 64];
	struct pdesc d[65];

	/* Out-of-range page index: exactly npages, and huge (no wrap). */
	d[0] = (struct pdesc){ NPAGES, WIRE_ENC_RAW, 4096 };
	craft_pages(&o, 0, RID, 1, d, pl, 4096);
	expect_fail(&o, -EPROTO, "page index 16 out of range for region 7 "
		    "(16 pages)", true);
	d[0] = (struct pdesc){ UINT64_MAX / 4096 + 2, WIRE_ENC_ZERO, 0 };
	craft_pages(&o, 0, RID, 1, d, pl, 0);
	expect_fail(&o, -EPROTO, "page index 4503599627370497 out of range "
		    "for region 7 (16 pages)", true);
	/* Unknown region. */
	d[0] = (struct pdesc){ 1, WIRE_ENC_RAW, 4096 };
	craft_pages(&o, 0, 99, 1, d, pl, 4096);
	expect_fail(&o, -EPROTO, "PAGES for unknown region id 99", true);
	/* Count 0 and 65. */
	craft_pages(&o, 0, RID, 0, d, pl, 16);
	expect_fail(&o, -EPROTO, "PAGES count 0 (1..64 allowed)", true);
	for (int i = 0; i < 65; i++)
		d[i] = (struct pdesc){ (uint64_t)i % NPAGES, WIRE_ENC_ZERO, 0 };
	craft_pages(&o, 0, RID, 65, d, pl, 0);
	expect_fail(&o, -EPROTO, "PAGES count 65 (1..64 allowed)", true);
	/* Same page twice. */
	d[0] = (struct pdesc){ 5, WIRE_ENC_RAW, 4096 };
	d[1] = (struct pdesc){ 5, WIRE_ENC_ZERO, 0 };
	craft_pages(&o, 0, RID, 2, d, pl, 4096);
	expect_fail(&o, -EPROTO, "page 5 appears twice in one record", true);
	/* ... also when an index in between breaks the ascending order. */
	d[0] = (struct pdesc){ 5, WIRE_ENC_ZERO, 0 };
	d[1] = (struct pdesc){ 3, WIRE_ENC_ZERO, 0 };
	d[2] = (struct pdesc){ 5, WIRE_ENC_ZERO, 0 };
	craft_pages(&o, 0, RID, 3, d, pl, 0);
	expect_fail(&o, -EPROTO, "page 5 appears twice in one record", true);
	/* Lengths that do not fit their encoding or the record. */
	d[0] = (struct pdesc){ 5, WIRE_ENC_ZERO, 1 };
	craft_pages(&o, 0, RID, 1, d, pl, 1);
	expect_fail(&o, -EPROTO, "page 5: length 1 is invalid for encoding 0",
		    true);
	d[0] = (struct pdesc){ 5, WIRE_ENC_ZSTD, 4097 };
	craft_pages(&o, 0, RID, 1, d, pl, 4097);
	expect_fail(&o, -EPROTO, "page 5: length 4097 is invalid for "
		    "encoding 2", true);
	d[0] = (struct pdesc){ 5, WIRE_ENC_DELTA, 0 };
	craft_pages(&o, 0, RID, 1, d, pl, 0);
	expect_fail(&o, -EPROTO, "page 5: length 0 is invalid for encoding 3",
		    true);
	d[0] = (struct pdesc){ 5, WIRE_ENC_RAW, 4096 };
	craft_pages(&o, 0, RID, 1, d, pl, 4095);
	expect_fail(&o, -EPROTO, "PAGES record length 4119 does not match its "
		    "descriptors (4120)", true);
	craft_pages(&o, 0, RID, 3, d, pl, 0); /* 3 descriptors, record holds 3 */
	o.buf[4] = 30; /* len 30 < 8 + 48 */
	expect_fail(&o, -EPROTO, "PAGES record of 30 bytes cannot hold 3 "
		    "descriptors", true);
}
END_TEST

START_TEST(zstd_too_big)
{
	static uint8_t big[8192], pl[4096 + 4096];
	struct obuf o = { 0 };
	struct pdesc d[2];
	size_t n;

	/* A real zstd frame of 8192 bytes, correct CRC: the page before it
	 * is applied (raw, received in place), the bad one never is. */
	memset(big, 0x61, sizeof(big));
	memset(pl, 0x77, 4096);
	n = ZSTD_compress(pl + 4096, 4096, big, sizeof(big), 1);
	ck_assert(!ZSTD_isError(n));
	d[0] = (struct pdesc){ 1, WIRE_ENC_RAW, 4096 };
	d[1] = (struct pdesc){ 3, WIRE_ENC_ZSTD, (uint32_t)n };
	craft_pages(&o, 0, RID, 2, d, pl, 4096 + n);
	expect_fail_keep(&o, -EPROTO, "page 3 of region 7: zstd page "
			 "decompresses to more than 4096 bytes");
	for (size_t i = 0; i < 4096; i++)
		ck_assert_uint_eq(g.mem[4096 + i], 0x77);
	ck_assert_mem_eq(g.mem + 3 * 4096, before + 3 * 4096, 13 * 4096);
	memcpy(g.mem, before, NPAGES * 4096);

	/* Garbage that is not a zstd frame. */
	memset(pl, 0x42, 64);
	d[0] = (struct pdesc){ 3, WIRE_ENC_ZSTD, 64 };
	craft_pages(&o, 0, RID, 1, d, pl, 64);
	expect_fail(&o, -EPROTO, "page 3 of region 7: zstd page is not "
		    "exactly one zstd frame", true);
}
END_TEST

START_TEST(delta_past_page)
{
	/* skip 4090, copy 16: would run 10 bytes into the next page */
	static const uint8_t dl[] = { 0xfa, 0x1f, 0x10, 1, 2, 3, 4, 5, 6, 7, 8,
				      9, 10, 11, 12, 13, 14, 15, 16 };
	struct obuf o = { 0 };
	struct pdesc d = { NPAGES - 1, WIRE_ENC_DELTA, sizeof(dl) };

	craft_pages(&o, 0, RID, 1, &d, dl, sizeof(dl));
	expect_fail(&o, -EPROTO, "page 15 of region 7: delta page runs past "
		    "the end of the page", true);
	d.len = sizeof(dl) - 1; /* truncated literal */
	craft_pages(&o, 0, RID, 1, &d, dl, sizeof(dl) - 1);
	expect_fail(&o, -EPROTO, "page 15 of region 7: delta page runs past "
		    "the end of the page", true);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire_corrupt");
	TCase *tc = tcase_create("corrupt");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, good_record_applies);
	tcase_add_test(tc, bit_flips);
	tcase_add_test(tc, truncated);
	tcase_add_test(tc, bad_sequence_and_types);
	tcase_add_test(tc, too_long);
	tcase_add_test(tc, crafted_with_good_crc);
	tcase_add_test(tc, page_byte_flips_land);
	tcase_add_test(tc, zstd_too_big);
	tcase_add_test(tc, delta_past_page);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
