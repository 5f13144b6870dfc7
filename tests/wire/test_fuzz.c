/* SPDX-License-Identifier: MIT */
/*
 * 2000 mutations (single-bit flips, truncations) of a valid multi-record
 * stream with every page encoding and control record. Each must end in an
 * error or a correct result, except a flip in a PAGES record's page bytes,
 * which no CRC covers (docs/wire-format.md, section 3) and which may land:
 * never a crash (each case runs in its own fork), never a write outside
 * the destination region.
 */
#include <vmmig/session.h>

#include "wire/le.h"
#include "wiretest.h"

#define NPAGES 40
#define CASES 2000
#define CHUNK 100 /* mutations per forked test */

static struct obuf stream;
static uint8_t *src;

/* Pages of all kinds, two rounds (so deltas appear), the compressible
 * pages once more as a zstd run (the delta cache off), then STATE and
 * END. */
static void build_stream(void)
{
	struct enc_config cfg = { .compression = VMMIG_COMPRESS_ZSTD,
				  .zstd_level = 1,
				  .delta_cache_bytes = NPAGES * 4096 };
	uint64_t idx[NPAGES];
	struct enc_ctx *e;
	uint8_t pl[64];
	uint32_t seq = 0, s = 31337;
	size_t run_at;
	struct enc_config run_cfg = { .compression = VMMIG_COMPRESS_ZSTD,
				      .zstd_level = 1 };
	struct wire_end end = { .pages = NPAGES + NPAGES / 2 + NPAGES / 2 };
	struct wire_state st = { .blob_id = 1, .total_len = 40 };

	src = malloc(NPAGES * 4096);
	for (int i = 0; i < NPAGES; i++) {
		idx[i] = (uint64_t)i;
		if (i % 4 == 0)
			memset(src + i * 4096, 0, 4096);
		else if (i % 4 == 1)
			fill_random(src + i * 4096, 4096, &s);
		else
			fill_pattern(src + i * 4096, (uint32_t)i);
	}
	ck_assert_int_eq(enc_ctx_new(&cfg, &e), 0);
	send_pages(&stream, e, 1, src, idx, NPAGES, &seq, NULL);
	for (int i = 0; i < NPAGES / 2; i++) {
		idx[i] = (uint64_t)(2 * i + 1);
		src[idx[i] * 4096 + xrand(&s) % 4096] ^= 0x3c;
	}
	send_pages(&stream, e, 1, src, idx, NPAGES / 2, &seq, NULL);
	enc_ctx_free(e);
	ck_assert_int_eq(enc_ctx_new(&run_cfg, &e), 0);
	for (int i = 0; i < NPAGES / 2; i++)
		idx[i] = (uint64_t)(i / 2 * 4 + 2 + i % 2); /* 2, 3, 6, 7 .. */
	run_at = stream.len;
	send_pages(&stream, e, 1, src, idx, NPAGES / 2, &seq, NULL);
	/* One record, one run of all its pages. */
	ck_assert_uint_eq(get_le16(stream.buf + run_at + 20), NPAGES / 2);
	ck_assert_uint_eq(stream.buf[run_at + 24 + 8], WIRE_ENC_ZSTD_RUN);
	ck_assert_uint_eq(stream.buf[run_at + 24 + 16 * (NPAGES / 2 - 1) + 8],
			  WIRE_ENC_ZSTD_NEXT);
	wire_state_pack(pl, &st);
	memset(pl + WIRE_STATE_HEAD, 0x5e, 40);
	ck_assert_int_eq(wire_write_record(obuf_write, &stream, WIRE_STATE,
					   WIRE_STATE_LAST, seq++, pl,
					   WIRE_STATE_HEAD + 40), 0);
	wire_end_pack(pl, &end);
	ck_assert_int_eq(wire_write_record(obuf_write, &stream, WIRE_END, 0,
					   seq++, pl, WIRE_END_SIZE), 0);
	enc_ctx_free(e);
}

/* Whether byte @off of the stream is a page byte of a PAGES record (past
 * its batch header and descriptors). */
static bool in_page_bytes(size_t off)
{
	size_t pos = 0;

	while (pos + WIRE_HDR_SIZE <= stream.len) {
		const uint8_t *h = stream.buf + pos;
		size_t len = get_le32(h + 4);
		size_t meta = WIRE_HDR_SIZE + 8 + 16 * (size_t)get_le16(h + 20);

		if (off < pos + WIRE_HDR_SIZE + len)
			return get_le16(h) == WIRE_PAGES && off >= pos + meta;
		pos += WIRE_HDR_SIZE + len;
	}
	return false;
}

/* One mutation, number @k; return 1 if it was detected as an error or was
 * a flip of a page byte. */
static int mutate_one(int k)
{
	bool page_byte = false;
	uint32_t s = 0x9e3779b9u * (uint32_t)(k + 1);
	uint8_t *buf = malloc(stream.len);
	struct wire_dest_region dr;
	struct mem_sink ms;
	struct wire_reader *r;
	struct istream in;
	struct guarded g;
	int ret = 0, records = 0;

	memcpy(buf, stream.buf, stream.len);
	in = (struct istream){ buf, stream.len, 0 };
	if (k % 4 == 3) {
		in.len = xrand(&s) % stream.len; /* truncation */
	} else {
		size_t bit = xrand(&s) % (stream.len * 8);

		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		page_byte = in_page_bytes(bit / 8);
	}
	guarded_new(&g, NPAGES);
	dr = (struct wire_dest_region){ .id = 1, .npages = NPAGES };
	ck_assert_int_eq(wire_reader_new(istream_read, &in, &dr, 1, &r), 0);
	mem_sink_attach(r, &ms, g.mem);
	while (ret == 0 && records < 100) {
		struct wire_hdr h;
		const uint8_t *p;

		ret = wire_reader_next(r, &h, &p, NULL);
		if (ret == 0 && h.type == WIRE_END)
			break;
		records++;
	}
	ck_assert(guarded_check(&g));
	if (ret == 0 && !page_byte) {
		/* A flip the format cannot see would be a real bug. */
		ck_assert_msg(memcmp(g.mem, src, NPAGES * 4096) == 0,
			      "mutation %d undetected and wrong", k);
	} else if (ret) {
		ck_assert_msg(ret == -EPROTO || ret == -ECONNRESET,
			      "mutation %d: ret %d", k, ret);
		ck_assert(wire_reader_error(r)[0] != 0);
	}
	wire_reader_free(r);
	guarded_free(&g);
	free(buf);
	return ret != 0 || page_byte;
}

START_TEST(mutations)
{
	int detected = 0;

	for (int k = _i * CHUNK; k < (_i + 1) * CHUNK; k++)
		detected += mutate_one(k);
	/* Every byte but page bytes is under a CRC and every cut comes
	 * before END, so each other mutation here must in fact be caught. */
	ck_assert_int_eq(detected, CHUNK);
}
END_TEST

START_TEST(unmutated_is_exact)
{
	struct wire_dest_region dr;
	struct mem_sink ms;
	struct wire_reader *r;
	struct istream in = { stream.buf, stream.len, 0 };
	struct guarded g;
	int ret = 0;

	guarded_new(&g, NPAGES);
	dr = (struct wire_dest_region){ .id = 1, .npages = NPAGES };
	ck_assert_int_eq(wire_reader_new(istream_read, &in, &dr, 1, &r), 0);
	mem_sink_attach(r, &ms, g.mem);
	ret = drain(r, &in, NULL);
	ck_assert_int_eq(ret, 0);
	ck_assert_mem_eq(g.mem, src, NPAGES * 4096);
	wire_reader_free(r);
	guarded_free(&g);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire_fuzz");
	TCase *tc = tcase_create("fuzz");

	/* Unchecked: built once in the runner, inherited by every fork. */
	tcase_add_unchecked_fixture(tc, build_stream, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, unmutated_is_exact);
	tcase_add_loop_test(tc, mutations, 0, CASES / CHUNK);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
