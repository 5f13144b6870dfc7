/* SPDX-License-Identifier: MIT */
/*
 * zstd runs (wire version 3, docs/wire-format.md 5.2): consecutive pages
 * for zstd in a PAGES record go out as one frame (ZSTD_RUN, then a
 * ZSTD_NEXT descriptor per later page). The builder makes runs of exactly
 * the consecutive compressible pages of each record, sends a run that
 * saves too little raw, and the receiver lands them byte for byte; every
 * malformed run is refused with a clear error before any of it lands.
 */
#include <vmmig/session.h>
#include <zstd.h>

#include "wiretest.h"

#define RID 7

/* Text-like page: words of a small vocabulary, as toyvmm's "mix". */
static void fill_text(uint8_t *p, uint32_t *s)
{
	static const char *const words[16] = {
		"the", "migration", "page", "guest", "memory", "source",
		"destination", "frame", "record", "channel", "dirty", "round",
		"copy", "switch", "hypervisor", "of",
	};
	size_t i = 0;

	while (i < 4096) {
		const char *w = words[xrand(s) % 16];

		while (*w && i < 4096)
			p[i++] = (uint8_t)*w++;
		if (i < 4096)
			p[i++] = ' ';
	}
}

/* Random bytes with every 16th byte 0: zpage_looks_random() samples only
 * those, so zstd is tried, but it saves under ENC_ZSTD_SAVING a page. */
static void fill_dense(uint8_t *p, uint32_t *s)
{
	fill_random(p, 4096, s);
	for (size_t i = 0; i < 4096; i += 16)
		p[i] = 0;
}

enum cls { T, R, Z }; /* text (zstd), random (raw), zero */

static struct enc_ctx *zstd_ctx(void)
{
	/* Not adaptive: every page with contents is given to zstd. */
	struct enc_config cfg = { .compression = VMMIG_COMPRESS_ZSTD,
				  .zstd_level = 1 };
	struct enc_ctx *e;

	ck_assert_int_eq(enc_ctx_new(&cfg, &e), 0);
	return e;
}

static void fill_cls(uint8_t *src, const uint8_t *cls, size_t n,
		     uint32_t *s)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = src + i * 4096;

		if (cls[i] == T)
			fill_text(p, s);
		else if (cls[i] == R)
			fill_random(p, 4096, s);
		else
			memset(p, 0, 4096);
	}
}

/*
 * Walk the PAGES records in @o (pages 0..n of @cls sent in order) and check
 * each descriptor's encoding: a random page RAW, a zero page ZERO, a text
 * page ZSTD alone, else RUN first and NEXT after within its record. Count
 * the runs and their pages into @runs, @run_pages; the longest into @max.
 */
static void check_encodings(const struct obuf *o, const uint8_t *cls,
			    unsigned *runs, unsigned *run_pages, unsigned *max)
{
	size_t off = 0;

	*runs = *run_pages = *max = 0;
	while (off < o->len) {
		const uint8_t *rec = o->buf + off;
		unsigned count = get_le16(rec + 20), n = 0;

		ck_assert_uint_eq(get_le16(rec), WIRE_PAGES);
		for (unsigned i = 0; i < count; i++) {
			const uint8_t *d = rec + 24 + 16 * i;
			uint64_t idx = get_le64(d);
			bool prev = i && cls[get_le64(d - 16)] == T;
			bool next = i + 1 < count && cls[get_le64(d + 16)] == T;
			uint32_t len = get_le32(d + 12);
			int want;

			if (cls[idx] == R)
				want = WIRE_ENC_RAW;
			else if (cls[idx] == Z)
				want = WIRE_ENC_ZERO;
			else if (prev)
				want = WIRE_ENC_ZSTD_NEXT;
			else
				want = next ? WIRE_ENC_ZSTD_RUN : WIRE_ENC_ZSTD;
			ck_assert_msg(d[8] == want, "page %llu: encoding %u, "
				      "want %d", (unsigned long long)idx, d[8],
				      want);
			if (want == WIRE_ENC_ZSTD_RUN) {
				++*runs;
				n = 1;
			} else if (want == WIRE_ENC_ZSTD_NEXT) {
				ck_assert_uint_eq(len, 0);
				n++;
			}
			if (n && (i + 1 == count || !next)) {
				*run_pages += n;
				*max = n > *max ? n : *max;
				n = 0;
			}
		}
		off += 16 + get_le32(rec + 4);
	}
	ck_assert_uint_eq(off, o->len);
}

/* Send @cls's pages in order and land them at a fresh destination; the
 * counters on both sides must agree with the classes. */
static void round_trip(const uint8_t *cls, size_t n, unsigned *runs,
		       unsigned *run_pages, unsigned *max)
{
	uint8_t *src = malloc(n * 4096);
	uint64_t *idx = malloc(n * sizeof(*idx));
	struct enc_counters ec = { 0 };
	struct wire_page_counts pc = { 0 };
	struct wire_dest_region dr = { .id = RID, .npages = n };
	struct enc_ctx *e = zstd_ctx();
	struct obuf o = { 0 };
	struct wire_reader *r;
	struct istream in;
	struct guarded g;
	struct mem_sink k;
	uint64_t want[3] = { 0 };
	uint32_t s = 77, seq = 0;

	fill_cls(src, cls, n, &s);
	for (size_t i = 0; i < n; i++) {
		idx[i] = i;
		want[cls[i]]++;
	}
	send_pages(&o, e, RID, src, idx, n, &seq, &ec);
	check_encodings(&o, cls, runs, run_pages, max);

	guarded_new(&g, n);
	memset(g.mem, 0x5a, n * 4096);
	in = (struct istream){ o.buf, o.len, 0 };
	ck_assert_int_eq(wire_reader_new(istream_read, &in, &dr, 1, &r), 0);
	mem_sink_attach(r, &k, g.mem);
	ck_assert_msg(drain(r, &in, &pc) == 0, "%s", wire_reader_error(r));
	ck_assert_mem_eq(g.mem, src, n * 4096);
	ck_assert(guarded_check(&g));
	ck_assert_uint_eq(k.placed, n);
	/* Every page of a run counts as compressed, on both sides. */
	ck_assert_uint_eq(ec.pages[WIRE_ENC_ZSTD], want[T]);
	ck_assert_uint_eq(ec.pages[WIRE_ENC_RAW], want[R]);
	ck_assert_uint_eq(ec.pages[WIRE_ENC_ZERO], want[Z]);
	for (int i = 0; i < WIRE_ENC__COUNT; i++)
		ck_assert_uint_eq(pc.pages[i], ec.pages[i]);

	wire_reader_free(r);
	guarded_free(&g);
	enc_ctx_free(e);
	free(o.buf);
	free(idx);
	free(src);
}

START_TEST(runs_of_2_to_64_round_trip)
{
	static const unsigned lens[] = { 2, 3, 4, 5, 7, 8, 13, 16, 31, 32,
					 33, 47, 63, 64 };
	uint8_t cls[2048];
	unsigned runs, run_pages, max, want_runs = 0;
	size_t n = 0;

	/* First record: one run of 64. Then runs of each length split by a
	 * random page, with zero and lone zstd pages between (a run that
	 * reaches a record's end closes there). */
	for (unsigned i = 0; i < 64; i++)
		cls[n++] = T;
	for (unsigned l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		for (unsigned i = 0; i < lens[l]; i++)
			cls[n++] = T;
		cls[n++] = R;
		if (l % 3 == 0) {
			cls[n++] = T; /* a run of one: a ZSTD page */
			cls[n++] = Z;
		} else if (l % 3 == 1) {
			cls[n++] = Z;
		}
	}
	round_trip(cls, n, &runs, &run_pages, &max);
	ck_assert_uint_eq(max, 64);
	for (size_t i = 0; i + 1 < n; i++)
		want_runs += cls[i] == T && cls[i + 1] == T &&
			     (i == 0 || cls[i - 1] != T || i % 64 == 0) &&
			     (i + 1) % 64 != 0;
	ck_assert_uint_eq(runs, want_runs);
	ck_assert_uint_gt(run_pages, n / 2);
}
END_TEST

START_TEST(random_and_zero_pages_split_runs)
{
	static const uint8_t cls[] = { T, T, T, R, T, T, Z, T, R, T, T };
	static const uint8_t want[] = {
		WIRE_ENC_ZSTD_RUN, WIRE_ENC_ZSTD_NEXT, WIRE_ENC_ZSTD_NEXT,
		WIRE_ENC_RAW, WIRE_ENC_ZSTD_RUN, WIRE_ENC_ZSTD_NEXT,
		WIRE_ENC_ZERO, WIRE_ENC_ZSTD, WIRE_ENC_RAW, WIRE_ENC_ZSTD_RUN,
		WIRE_ENC_ZSTD_NEXT,
	};
	const size_t n = sizeof(cls);
	uint8_t *src = malloc(n * 4096);
	struct enc_ctx *e = zstd_ctx();
	struct enc_counters ec = { 0 };
	struct wire_batch b;
	uint32_t s = 5;
	int niov;

	fill_cls(src, cls, n, &s);
	ck_assert_int_eq(wire_batch_init(&b), 0);
	wire_batch_begin(&b, RID);
	for (size_t i = 0; i < n; i++) {
		int enc = wire_batch_add(&b, e, i, src + i * 4096, &ec);

		/* A text page waits in its run until the run closes. */
		ck_assert_int_eq(enc, cls[i] == T ? WIRE_ENC_ZSTD_RUN
				 : cls[i] == R ? WIRE_ENC_RAW : WIRE_ENC_ZERO);
	}
	wire_batch_finish(&b, 0, &niov);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(b.head[16 + 8 + 16 * i + 8], want[i]);
	/* One try of zstd per run and for the lone page (4), one per random
	 * page its look turned away (2). */
	ck_assert_uint_eq(e->adapt.attempts, 4 + 2);
	ck_assert_uint_eq(ec.pages[WIRE_ENC_ZSTD], 8);
	wire_batch_destroy(&b);
	enc_ctx_free(e);
	free(src);
	/* And the same pages land byte for byte. */
	{
		unsigned runs, run_pages, max;

		round_trip(cls, n, &runs, &run_pages, &max);
		ck_assert_uint_eq(runs, 3);
		ck_assert_uint_eq(run_pages, 7);
	}
}
END_TEST

START_TEST(run_saving_too_little_goes_raw)
{
	const size_t n = 8;
	uint8_t *src = malloc(n * 4096);
	struct enc_ctx *e = zstd_ctx();
	struct enc_counters ec = { 0 };
	struct wire_batch b;
	uint32_t s = 9;
	size_t len;
	int niov;

	for (size_t i = 0; i < n; i++)
		fill_dense(src + i * 4096, &s);
	ck_assert_int_eq(wire_batch_init(&b), 0);
	wire_batch_begin(&b, RID);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(wire_batch_add(&b, e, i, src + i * 4096, &ec),
				 WIRE_ENC_ZSTD_RUN);
	len = wire_batch_finish(&b, 0, &niov);
	/* One try for the run, which went out raw, straight from the
	 * source's memory (one iovec: the pages are adjacent). */
	ck_assert_uint_eq(e->adapt.attempts, 1);
	ck_assert_uint_eq(ec.pages[WIRE_ENC_RAW], n);
	ck_assert_uint_eq(ec.pages[WIRE_ENC_ZSTD], 0);
	ck_assert_uint_eq(len, 16 + 8 + 16 * n + n * 4096);
	ck_assert_int_eq(niov, 2);
	ck_assert_ptr_eq(b.iov[1].iov_base, src);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(b.head[16 + 8 + 16 * i + 8], WIRE_ENC_RAW);
		ck_assert_uint_eq(get_le32(b.head + 16 + 8 + 16 * i + 12),
				  4096);
	}
	wire_batch_destroy(&b);
	enc_ctx_free(e);
	free(src);
}
END_TEST

/* ---- malformed runs: crafted records with a correct CRC ---- */

#define NPAGES 16
static struct guarded g;
static uint8_t *before, *text;

static void setup(void)
{
	uint32_t s = 3;

	guarded_new(&g, NPAGES);
	for (size_t i = 0; i < NPAGES * 4096; i++)
		g.mem[i] = (uint8_t)(i * 7);
	before = malloc(NPAGES * 4096);
	memcpy(before, g.mem, NPAGES * 4096);
	text = malloc(8 * 4096);
	for (int i = 0; i < 8; i++)
		fill_text(text + i * 4096, &s);
}

static void teardown(void)
{
	guarded_free(&g);
	free(before);
	free(text);
}

/* A frame of @n pages of text, with its content size in the header or
 * (@stream) without, then with a window of 2^@wlog bytes (zstd's own
 * choice at level 3 would be 2 MiB, above what the receiver takes).
 * Return its size. */
static size_t frame_w(uint8_t *dst, size_t cap, unsigned n, bool stream,
		      int wlog)
{
	ZSTD_CCtx *c;
	ZSTD_outBuffer out = { dst, cap, 0 };
	ZSTD_inBuffer in = { text, n * 4096u, 0 };
	size_t r;

	if (!stream) {
		r = ZSTD_compress(dst, cap, text, n * 4096u, 1);
		ck_assert(!ZSTD_isError(r));
		return r;
	}
	/* The input before the end: zstd cannot know the size. */
	c = ZSTD_createCCtx();
	ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog,
						       wlog)));
	r = ZSTD_compressStream2(c, &out, &in, ZSTD_e_continue);
	ck_assert(!ZSTD_isError(r) && in.pos == in.size);
	in = (ZSTD_inBuffer){ NULL, 0, 0 };
	r = ZSTD_compressStream2(c, &out, &in, ZSTD_e_end);
	ck_assert_uint_eq(r, 0);
	ZSTD_freeCCtx(c);
	ck_assert_uint_eq(ZSTD_getFrameContentSize(dst, out.pos),
			  ZSTD_CONTENTSIZE_UNKNOWN);
	return out.pos;
}

static size_t frame(uint8_t *dst, size_t cap, unsigned n, bool stream)
{
	return frame_w(dst, cap, n, stream, 17);
}

/* Feed @o to a fresh reader: the first error is -EPROTO with @msg, and
 * guest memory is as before except the pages in @landed (bit i: page i
 * holds the crafted raw contents @raw). */
static void expect_refused(struct obuf *o, const char *msg, uint32_t landed,
			   const uint8_t *raw)
{
	struct wire_dest_region dr = { .id = RID, .npages = NPAGES };
	struct istream in = { o->buf, o->len, 0 };
	struct wire_reader *r;
	struct mem_sink k;

	ck_assert_int_eq(wire_reader_new(istream_read, &in, &dr, 1, &r), 0);
	mem_sink_attach(r, &k, g.mem);
	ck_assert_int_eq(drain(r, &in, NULL), -EPROTO);
	ck_assert_str_eq(wire_reader_error(r), msg);
	ck_assert(guarded_check(&g));
	for (unsigned i = 0; i < NPAGES; i++)
		ck_assert_mem_eq(g.mem + i * 4096,
				 landed >> i & 1 ? raw : before + i * 4096,
				 4096);
	memcpy(g.mem, before, NPAGES * 4096);
	wire_reader_free(r);
	free(o->buf);
	*o = (struct obuf){ 0 };
}

START_TEST(crafted_run_applies)
{
	static uint8_t pl[8 * 4096];
	struct wire_dest_region dr = { .id = RID, .npages = NPAGES };
	struct pdesc d[4] = { { 3, WIRE_ENC_ZSTD_RUN, 0 },
			      { 4, WIRE_ENC_ZSTD_NEXT, 0 },
			      { 5, WIRE_ENC_ZSTD_NEXT, 0 },
			      { 9, WIRE_ENC_ZERO, 0 } };

	/* With and without the content size in the frame header, and with
	 * the largest window allowed, 1 MiB. */
	for (int stream = 0; stream < 3; stream++) {
		struct wire_page_counts pc = { 0 };
		struct obuf o = { 0 };
		struct wire_reader *r;
		struct mem_sink k;
		struct istream in;

		d[0].len = (uint32_t)frame_w(pl, sizeof(pl), 3, stream > 0,
					     stream == 2 ? 20 : 17);
		craft_pages(&o, 0, RID, 4, d, pl, d[0].len);
		in = (struct istream){ o.buf, o.len, 0 };
		ck_assert_int_eq(wire_reader_new(istream_read, &in, &dr, 1,
						 &r), 0);
		mem_sink_attach(r, &k, g.mem);
		ck_assert_msg(drain(r, &in, &pc) == 0, "%s",
			      wire_reader_error(r));
		ck_assert_mem_eq(g.mem + 3 * 4096, text, 3 * 4096);
		ck_assert_mem_eq(g.mem, before, 3 * 4096);
		ck_assert_mem_eq(g.mem + 6 * 4096, before + 6 * 4096,
				 3 * 4096);
		ck_assert_uint_eq(pc.pages[WIRE_ENC_ZSTD], 3);
		ck_assert_uint_eq(pc.pages[WIRE_ENC_ZERO], 1);
		ck_assert_uint_eq(k.placed, 4);
		wire_reader_free(r);
		free(o.buf);
		memcpy(g.mem, before, NPAGES * 4096);
	}
}
END_TEST

START_TEST(run_structure_refused)
{
	static uint8_t pl[9 * 4096], raw[4096];
	struct obuf o = { 0 };
	struct pdesc d[4];
	size_t f1 = frame(pl + 4096, sizeof(pl) - 4096, 1, false);
	size_t f2;

	memset(raw, 0x3c, sizeof(raw));
	memcpy(pl, raw, 4096);
	/* NEXT first. */
	d[0] = (struct pdesc){ 5, WIRE_ENC_ZSTD_NEXT, 0 };
	craft_pages(&o, 0, RID, 1, d, pl, 0);
	expect_refused(&o, "page 5: ZSTD_NEXT does not follow a ZSTD_RUN or "
		       "ZSTD_NEXT page", 0, NULL);
	/* NEXT after RAW: refused before the raw page lands. */
	d[0] = (struct pdesc){ 2, WIRE_ENC_RAW, 4096 };
	d[1] = (struct pdesc){ 3, WIRE_ENC_ZSTD_NEXT, 0 };
	craft_pages(&o, 0, RID, 2, d, pl, 4096);
	expect_refused(&o, "page 3: ZSTD_NEXT does not follow a ZSTD_RUN or "
		       "ZSTD_NEXT page", 0, NULL);
	/* RUN with no NEXT: last, and before a RAW page. */
	d[0] = (struct pdesc){ 3, WIRE_ENC_ZSTD_RUN, (uint32_t)f1 };
	craft_pages(&o, 0, RID, 1, d, pl + 4096, f1);
	expect_refused(&o, "page 3: ZSTD_RUN of one page (no ZSTD_NEXT after "
		       "it)", 0, NULL);
	d[0] = (struct pdesc){ 2, WIRE_ENC_RAW, 4096 };
	d[1] = (struct pdesc){ 3, WIRE_ENC_ZSTD_RUN, (uint32_t)f1 };
	d[2] = (struct pdesc){ 4, WIRE_ENC_RAW, 4096 };
	memcpy(pl + 4096 + f1, raw, 4096);
	craft_pages(&o, 0, RID, 3, d, pl, 8192 + f1);
	expect_refused(&o, "page 3: ZSTD_RUN of one page (no ZSTD_NEXT after "
		       "it)", 0, NULL);
	/* NEXT with a payload. */
	f2 = frame(pl, sizeof(pl), 2, false);
	d[0] = (struct pdesc){ 3, WIRE_ENC_ZSTD_RUN, (uint32_t)f2 };
	d[1] = (struct pdesc){ 4, WIRE_ENC_ZSTD_NEXT, 1 };
	craft_pages(&o, 0, RID, 2, d, pl, f2 + 1);
	expect_refused(&o, "page 4: length 1 is invalid for encoding 6", 0,
		       NULL);
	/* RUN with an empty frame, or one no smaller than its pages. */
	d[0] = (struct pdesc){ 3, WIRE_ENC_ZSTD_RUN, 0 };
	d[1] = (struct pdesc){ 4, WIRE_ENC_ZSTD_NEXT, 0 };
	craft_pages(&o, 0, RID, 2, d, pl, 0);
	expect_refused(&o, "page 3: length 0 is invalid for encoding 5", 0,
		       NULL);
	d[0].len = 8192;
	craft_pages(&o, 0, RID, 2, d, pl, 8192);
	expect_refused(&o, "page 3: length 8192 is invalid for a zstd run of "
		       "2 pages", 0, NULL);
}
END_TEST

/* A RUN of 3 pages (3..5) after a raw page 1, whose frame is @f of @len
 * bytes: refused with @why, page 1 landed, nothing of the run. */
static void bad_frame(const uint8_t *f, size_t len, const char *why)
{
	static uint8_t pl[4096 + 9 * 4096], raw[4096];
	struct pdesc d[4] = { { 1, WIRE_ENC_RAW, 4096 },
			      { 3, WIRE_ENC_ZSTD_RUN, (uint32_t)len },
			      { 4, WIRE_ENC_ZSTD_NEXT, 0 },
			      { 5, WIRE_ENC_ZSTD_NEXT, 0 } };
	char msg[256];
	struct obuf o = { 0 };

	ck_assert_uint_le(len, sizeof(pl) - 4096);
	memset(raw, 0xa7, sizeof(raw));
	memcpy(pl, raw, 4096);
	memcpy(pl + 4096, f, len);
	craft_pages(&o, 0, RID, 4, d, pl, 4096 + len);
	snprintf(msg, sizeof(msg), "page 3 of region 7 (a run of 3 pages): %s",
		 why);
	expect_refused(&o, msg, 1u << 1, raw);
}

START_TEST(run_frames_refused)
{
	static uint8_t f[9 * 4096];
	size_t n;

	for (int stream = 0; stream < 2; stream++) {
		/* (n - 1) and (n + 1) pages: with a content size refused
		 * before decompressing, without it after. */
		n = frame(f, sizeof(f), 2, stream);
		bad_frame(f, n, "zstd run decompresses to fewer than its "
			  "pages");
		n = frame(f, sizeof(f), 4, stream);
		bad_frame(f, n, "zstd run decompresses to more than its "
			  "pages");
		/* Trailing bytes after a good frame. */
		n = frame(f, sizeof(f), 3, stream);
		f[n] = 0;
		bad_frame(f, n + 1, "zstd run is not exactly one zstd frame");
		/* Not a frame at all. */
		memset(f, 0x42, 64);
		bad_frame(f, 64, "zstd run is not exactly one zstd frame");
	}
	/* A window above 1 MiB (2 MiB): refused, though decoding the frame
	 * at once would reserve nothing for it. */
	n = frame_w(f, sizeof(f), 3, true, 21);
	ck_assert_uint_eq(f[5], (21 - 10) << 3); /* the window descriptor */
	bad_frame(f, n, "zstd run asks for a window above 1 MiB");
	/* The frame header (RFC 8878 3.1.1.1): magic, a descriptor saying
	 * single segment with a 2-byte content size and nothing else, the
	 * size (value - 256); the first block's header follows. */
	n = frame(f, sizeof(f), 3, false);
	ck_assert_uint_eq(f[4], 0x60);
	ck_assert_uint_eq(get_le16(f + 5) + 256u, 3 * 4096);
	/* Corrupt: the first block is a compressed one (type 2); its
	 * literals then claim a Huffman table from before (type 3), which a
	 * frame's first block cannot have. */
	ck_assert_uint_eq(f[7] >> 1 & 3, 2);
	memset(f + 10, 0xff, 16);
	bad_frame(f, n, "zstd run is corrupt");
	/* A wrong content size: 12288 + 1 in the header, the data still 3
	 * pages. */
	n = frame(f, sizeof(f), 3, false);
	put_le16(f + 5, 3 * 4096 + 1 - 256);
	ck_assert_uint_eq(ZSTD_getFrameContentSize(f, n), 3 * 4096 + 1);
	bad_frame(f, n, "zstd run decompresses to more than its pages");
	put_le16(f + 5, 3 * 4096 - 1 - 256);
	bad_frame(f, n, "zstd run decompresses to fewer than its pages");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire_zrun");
	TCase *tc = tcase_create("zrun");
	TCase *bad = tcase_create("malformed");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, runs_of_2_to_64_round_trip);
	tcase_add_test(tc, random_and_zero_pages_split_runs);
	tcase_add_test(tc, run_saving_too_little_goes_raw);
	suite_add_tcase(s, tc);
	tcase_set_timeout(bad, 30);
	tcase_add_checked_fixture(bad, setup, teardown);
	tcase_add_test(bad, crafted_run_applies);
	tcase_add_test(bad, run_structure_refused);
	tcase_add_test(bad, run_frames_refused);
	suite_add_tcase(s, bad);
	return vmtest_run(s);
}
