/* SPDX-License-Identifier: MIT */
/*
 * The page sink: decoded pages reach the destination through its ops only.
 * The reader knows no guest memory: it writes only into buffers the sink
 * hands it in begin() (raw pages received there, deltas patched there),
 * and every page, in record order, exactly once, goes to place() or
 * hint(). A sink that refuses a record, a page, a delta or hints fails
 * the reader with its error and nothing after it lands.
 */
#include <vmmig/session.h>

#include "wiretest.h"

#define RID_A 7
#define RID_B 8
#define NPAGES 64

/* What the sink saw, in order. */
struct call {
	char op;           /* 'b' begin, 'p' place, 'h' hint */
	unsigned ri;
	uint64_t page;     /* begin: number of descriptors */
	const void *data;
	uint8_t copy[4096]; /* place: the contents (zero page: zeros) */
};

struct rec_sink {
	uint8_t *in_place; /* non-NULL: receive raw pages / patch deltas here */
	bool raw_in_place;
	int fail_begin, fail_place_at; /* -errno to return; page to refuse */
	struct call calls[256];
	unsigned n;
	struct wire_hint hints[8];
};

static struct call *log_call(struct rec_sink *k, char op, unsigned ri,
			     uint64_t page, const void *data)
{
	struct call *c;

	ck_assert_uint_lt(k->n, 256);
	c = &k->calls[k->n++];
	*c = (struct call){ .op = op, .ri = ri, .page = page, .data = data };
	return c;
}

static int rs_begin(void *cookie, unsigned ri, const struct wire_page_desc *d,
		    unsigned n, void **into)
{
	struct rec_sink *k = cookie;

	log_call(k, 'b', ri, n, NULL);
	for (unsigned i = 0; i < n; i++) {
		ck_assert_ptr_null(into[i]); /* the reader clears them */
		ck_assert_uint_lt(d[i].page, NPAGES);
		if (k->in_place && (d[i].enc == WIRE_ENC_DELTA ||
				    (d[i].enc == WIRE_ENC_RAW &&
				     k->raw_in_place)))
			into[i] = k->in_place + d[i].page * 4096;
	}
	return k->fail_begin;
}

static int rs_place(void *cookie, unsigned ri, uint64_t page,
		    const void *data)
{
	struct rec_sink *k = cookie;
	struct call *c = log_call(k, 'p', ri, page, data);

	if (data)
		memcpy(c->copy, data, 4096);
	if (k->fail_place_at && page == (uint64_t)k->fail_place_at)
		return -EPROTO;
	return 0;
}

static int rs_hint(void *cookie, unsigned ri, uint64_t page,
		   const struct wire_hint *h)
{
	struct rec_sink *k = cookie;

	log_call(k, 'h', ri, page, NULL);
	k->hints[page % 8] = *h;
	return 0;
}

static const struct wire_page_sink_ops rs_ops = {
	.begin = rs_begin, .place = rs_place, .hint = rs_hint,
};
static const struct wire_page_sink_ops rs_ops_nohint = {
	.begin = rs_begin, .place = rs_place,
};

/* Source pages: 0 zero, 1 random (raw), 2 pattern (zstd), 3 random. */
static uint8_t src[NPAGES * 4096];

static void make_src(void)
{
	uint32_t s = 99;

	memset(src, 0, sizeof(src));
	fill_random(src + 4096, 4096, &s);
	fill_pattern(src + 2 * 4096, 2);
	fill_random(src + 3 * 4096, 4096, &s);
}

/* One PAGES record of pages 0..3 of region @rid, and with @hint a HINT
 * for page 5; @e encodes (NULL: raw). */
static void record(struct obuf *o, struct enc_ctx *e, uint32_t rid,
		   uint32_t seq, bool hint)
{
	struct wire_hint h = { 11, 5 * 4096, 0xabc };
	struct wire_batch b;
	int niov;

	ck_assert_int_eq(wire_batch_init(&b), 0);
	wire_batch_begin(&b, rid);
	for (uint64_t p = 0; p < 4; p++)
		ck_assert_int_ge(wire_batch_add(&b, e, p, src + p * 4096, NULL),
				 0);
	if (hint)
		ck_assert_int_eq(wire_batch_add_hint(&b, 5, &h, NULL),
				 WIRE_ENC_HINT);
	wire_batch_finish(&b, seq, &niov);
	obuf_write(o, b.iov, niov);
	wire_batch_destroy(&b);
}

static struct wire_reader *reader(struct istream *in)
{
	struct wire_dest_region dr[2] = { { RID_A, NPAGES }, { RID_B, NPAGES } };
	struct wire_reader *r;

	ck_assert_int_eq(wire_reader_new(istream_read, in, dr, 2, &r), 0);
	return r;
}

static struct enc_ctx *zstd_enc(size_t cache)
{
	struct enc_config cfg = { .compression = VMMIG_COMPRESS_ZSTD,
				  .zstd_level = 1, .delta_cache_bytes = cache };
	struct enc_ctx *e;

	ck_assert_int_eq(enc_ctx_new(&cfg, &e), 0);
	return e;
}

/* Pages of every encoding go through place() or hint(), once each, in
 * record order, after one begin(); with no buffer of its own handed out,
 * the sink gets every page's contents in a reader buffer. */
START_TEST(pages_land_through_ops_only)
{
	static struct rec_sink k;
	struct enc_ctx *e = zstd_enc(0);
	struct obuf o = { 0 };
	struct istream in;
	struct wire_reader *r;
	struct wire_page_counts cnt = { 0 };
	struct wire_hdr h;
	const uint8_t *p;

	make_src();
	record(&o, e, RID_B, 0, true);
	in = (struct istream){ o.buf, o.len, 0 };
	r = reader(&in);
	memset(&k, 0, sizeof(k));
	ck_assert_int_eq(wire_reader_set_sink(r, &rs_ops, &k), 0);
	ck_assert_msg(wire_reader_next(r, &h, &p, &cnt) == 0, "%s",
		      wire_reader_error(r));
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(k.n, 6);
	ck_assert_int_eq(k.calls[0].op, 'b');
	ck_assert_uint_eq(k.calls[0].ri, 1); /* RID_B is the second region */
	ck_assert_uint_eq(k.calls[0].page, 5);
	for (unsigned i = 1; i < 5; i++) {
		const struct call *c = &k.calls[i];

		ck_assert_int_eq(c->op, 'p');
		ck_assert_uint_eq(c->ri, 1);
		ck_assert_uint_eq(c->page, i - 1);
		if (i == 1) {
			ck_assert_ptr_null(c->data); /* the zero page */
		} else {
			ck_assert_ptr_nonnull(c->data);
			ck_assert_mem_eq(c->copy, src + (i - 1) * 4096, 4096);
		}
	}
	ck_assert_int_eq(k.calls[5].op, 'h');
	ck_assert_uint_eq(k.calls[5].page, 5);
	ck_assert_uint_eq(k.hints[5].object_id, 11);
	ck_assert_uint_eq(k.hints[5].offset, 5 * 4096);
	ck_assert_uint_eq(k.hints[5].hash, 0xabc);
	ck_assert_uint_eq(cnt.pages[WIRE_ENC_ZERO], 1);
	ck_assert_uint_eq(cnt.pages[WIRE_ENC_ZSTD], 1);
	ck_assert_uint_eq(cnt.pages[WIRE_ENC_RAW], 2);
	ck_assert_uint_eq(cnt.pages[WIRE_ENC_HINT], 1);
	ck_assert_uint_eq(wire_reader_pages(r), 5);
	wire_reader_free(r);
	enc_ctx_free(e);
	free(o.buf);
}
END_TEST

/* Buffers the sink hands out are where raw pages are received and deltas
 * patched: place() then gets that very pointer, and nothing else of the
 * sink's memory changes. */
START_TEST(in_place_buffers)
{
	static struct rec_sink k;
	struct enc_ctx *e = zstd_enc(NPAGES * 4096);
	struct guarded g;
	struct obuf o = { 0 };
	struct istream in;
	struct wire_reader *r;
	struct wire_hdr h;
	const uint8_t *p;

	make_src();
	guarded_new(&g, NPAGES);
	memset(g.mem, 0xee, NPAGES * 4096);
	record(&o, e, RID_A, 0, false);
	src[3 * 4096 + 100] ^= 0x40;         /* round 2: page 3 as a delta */
	record(&o, e, RID_A, 1, false);
	in = (struct istream){ o.buf, o.len, 0 };
	r = reader(&in);
	memset(&k, 0, sizeof(k));
	k.in_place = g.mem;
	k.raw_in_place = true;
	ck_assert_int_eq(wire_reader_set_sink(r, &rs_ops, &k), 0);
	ck_assert_int_eq(wire_reader_next(r, &h, &p, NULL), 0);
	/* Raw pages 1 and 3 were received in place; zero and zstd pages
	 * were not written there by the reader. */
	ck_assert_ptr_eq(k.calls[2].data, g.mem + 1 * 4096);
	ck_assert_ptr_eq(k.calls[4].data, g.mem + 3 * 4096);
	ck_assert_ptr_ne(k.calls[3].data, g.mem + 2 * 4096);
	ck_assert_mem_eq(g.mem + 4096, src + 4096, 4096);
	for (size_t i = 0; i < 4096; i++) {
		ck_assert_uint_eq(g.mem[i], 0xee);
		ck_assert_uint_eq(g.mem[2 * 4096 + i], 0xee);
	}
	k.n = 0;
	ck_assert_msg(wire_reader_next(r, &h, &p, NULL) == 0, "%s",
		      wire_reader_error(r));
	/* Round 2: the delta patched the copy the sink holds. */
	ck_assert_ptr_eq(k.calls[4].data, g.mem + 3 * 4096);
	ck_assert_mem_eq(g.mem + 3 * 4096, src + 3 * 4096, 4096);
	for (size_t i = 4 * 4096; i < NPAGES * 4096; i++)
		ck_assert_uint_eq(g.mem[i], 0xee);
	ck_assert(guarded_check(&g));
	wire_reader_free(r);
	guarded_free(&g);
	enc_ctx_free(e);
	free(o.buf);
}
END_TEST

/* Read one record of @o with sink @k (@ops): the reader's result. */
static int read_with(struct obuf *o, const struct wire_page_sink_ops *ops,
		     struct rec_sink *k, char *msg, size_t msglen)
{
	struct istream in = { o->buf, o->len, 0 };
	struct wire_reader *r = reader(&in);
	struct wire_hdr h;
	const uint8_t *p;
	int ret;

	if (ops)
		ck_assert_int_eq(wire_reader_set_sink(r, ops, k), 0);
	ret = wire_reader_next(r, &h, &p, NULL);
	snprintf(msg, msglen, "%s", wire_reader_error(r));
	if (ret) /* sticky */
		ck_assert_int_eq(wire_reader_next(r, &h, &p, NULL), ret);
	wire_reader_free(r);
	return ret;
}

START_TEST(sink_refusals)
{
	static struct rec_sink k;
	struct enc_ctx *e = zstd_enc(NPAGES * 4096);
	struct obuf o = { 0 }, o2 = { 0 };
	char msg[WIRE_ERRLEN];

	make_src();
	record(&o, e, RID_A, 0, true);

	/* begin() refuses: its error, and no page lands. */
	memset(&k, 0, sizeof(k));
	k.fail_begin = -EBUSY;
	ck_assert_int_eq(read_with(&o, &rs_ops, &k, msg, sizeof(msg)), -EBUSY);
	ck_assert_uint_eq(k.n, 1);
	ck_assert_str_eq(msg, "PAGES record of region 7 refused (Device or "
			 "resource busy)");

	/* place() refuses page 2: pages before it landed, none after. */
	memset(&k, 0, sizeof(k));
	k.fail_place_at = 2;
	ck_assert_int_eq(read_with(&o, &rs_ops, &k, msg, sizeof(msg)), -EPROTO);
	ck_assert_uint_eq(k.n, 4);
	ck_assert_uint_eq(k.calls[3].page, 2);
	ck_assert_str_eq(msg, "placing page 2 of region 7: not expected");

	/* A HINT with no hint op. */
	memset(&k, 0, sizeof(k));
	ck_assert_int_eq(read_with(&o, &rs_ops_nohint, &k, msg, sizeof(msg)),
			 -EPROTO);
	ck_assert_str_eq(msg, "page 5 of region 7: a storage hint, but hints "
			 "are not expected here");

	/* No sink at all. */
	ck_assert_int_eq(read_with(&o, NULL, NULL, msg, sizeof(msg)), -EPROTO);
	ck_assert_str_eq(msg, "PAGES record, but pages are not expected here");

	/* A delta with no copy to apply it to (the sink gave no buffer). */
	src[1 * 4096 + 7] ^= 1;
	record(&o2, e, RID_A, 0, false);
	memset(&k, 0, sizeof(k));
	ck_assert_int_eq(read_with(&o2, &rs_ops, &k, msg, sizeof(msg)),
			 -EPROTO);
	ck_assert_uint_eq(k.n, 1); /* begin only */
	ck_assert_str_eq(msg, "page 1 of region 7: delta encoding, but no copy "
			 "to apply it to (after the post-copy switch)");
	enc_ctx_free(e);
	free(o.buf);
	free(o2.buf);
}
END_TEST

/* A record whose CRC (over header, batch header, descriptors) fails: the
 * sink never hears of it, so no page is received in place either. */
START_TEST(crc_failure_places_nothing)
{
	static struct rec_sink k;
	struct obuf o = { 0 };
	char msg[WIRE_ERRLEN];

	make_src();
	record(&o, NULL, RID_A, 0, false);
	o.buf[WIRE_HDR_SIZE + 8 + 16 * 3 + 7] ^= 1; /* page 3's index */
	memset(&k, 0, sizeof(k));
	ck_assert_int_eq(read_with(&o, &rs_ops, &k, msg, sizeof(msg)), -EPROTO);
	ck_assert_uint_eq(k.n, 0);
	ck_assert_str_eq(msg, "record crc mismatch (seq 0)");
	free(o.buf);
}
END_TEST

START_TEST(set_sink_checks)
{
	struct istream in = { NULL, 0, 0 };
	struct wire_reader *r = reader(&in);
	struct wire_page_sink_ops no_begin = { .place = rs_place };
	struct wire_page_sink_ops no_place = { .begin = rs_begin };

	ck_assert_int_eq(wire_reader_set_sink(r, &no_begin, NULL), -EINVAL);
	ck_assert_int_eq(wire_reader_set_sink(r, &no_place, NULL), -EINVAL);
	ck_assert_int_eq(wire_reader_set_sink(r, &rs_ops_nohint, NULL), 0);
	ck_assert_int_eq(wire_reader_set_sink(r, NULL, NULL), 0);
	wire_reader_free(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire_sink");
	TCase *tc = tcase_create("sink");

	tcase_add_test(tc, pages_land_through_ops_only);
	tcase_add_test(tc, in_place_buffers);
	tcase_add_test(tc, sink_refusals);
	tcase_add_test(tc, crc_failure_places_nothing);
	tcase_add_test(tc, set_sink_checks);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
