/* SPDX-License-Identifier: MIT */
/*
 * The reader with read-ahead (wire_reader_set_readahead) over a stream whose
 * bytes arrive in odd-sized pieces (1 byte, 7 bytes, random sizes, record by
 * record, all at once): for every record type, PAGES of every encoding and
 * size (one page, a full batch larger than the buffer), every placement
 * mode (guest memory, staged, placer) and several buffer sizes, the records,
 * the pages and the page sink's calls must be exactly those of the plain
 * reader. Corruption is still caught by the CRC, a stream cut mid-record is
 * still reported, and a small record costs one receive.
 */
#include <vmmig/session.h>

#include "base/page.h"
#include "piece_stream.h"
#include "wire/le.h"
#include "wiretest.h"

#define RID 5
#define NPAGES 256
#define MAXREC 128
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the stream under test ---- */

struct stream {
	struct obuf o;
	size_t marks[MAXREC]; /* end of each record */
	unsigned n;
	unsigned targets[16]; /* records whose last byte is CRC-covered data */
	unsigned ntargets, big; /* big: a record larger than 64 KiB */
	uint8_t *src;         /* source pages */
};

static void end_record(struct stream *s, bool target)
{
	ck_assert_uint_lt(s->n, MAXREC);
	if (target)
		s->targets[s->ntargets++] = s->n;
	s->marks[s->n++] = s->o.len;
}

static void rec(struct stream *s, uint16_t type, uint16_t flags, size_t len,
		uint32_t *rs)
{
	uint8_t *p = calloc(1, len ? len : 1);

	fill_random(p, len, rs);
	ck_assert_int_eq(wire_write_record(obuf_write, &s->o, type, flags, s->n,
					   p, len), 0);
	free(p);
	end_record(s, len && s->ntargets < 16);
}

/* One PAGES record of pages @idx[0..n); @hint: hints instead. */
static void pages(struct stream *s, struct enc_ctx *e, const uint64_t *idx,
		  unsigned n, bool hint)
{
	struct wire_batch b;
	int niov;
	int enc = -1;

	ck_assert_int_eq(wire_batch_init(&b), 0);
	wire_batch_begin(&b, RID);
	for (unsigned i = 0; i < n; i++) {
		struct wire_hint h = { idx[i] * 3, idx[i] * 4096, idx[i] ^ 99 };

		enc = hint ? wire_batch_add_hint(&b, idx[i], &h, NULL)
			   : wire_batch_add(&b, e, idx[i],
					    s->src + idx[i] * 4096, NULL);
		ck_assert_int_ge(enc, 0);
	}
	wire_batch_finish(&b, s->n, &niov);
	obuf_write(&s->o, b.iov, niov);
	wire_batch_destroy(&b);
	/* A zero page last ends the record inside a descriptor. */
	end_record(s, enc != WIRE_ENC_ZERO && s->ntargets < 16);
}

/*
 * Every record type the reader handles, between PAGES records of one page
 * (the urgent channel's) and of a full batch, in every encoding; deltas
 * only if @delta (a placer refuses them).
 */
static void build(struct stream *s, bool delta)
{
	struct enc_config cfg = { .compression = VMMIG_COMPRESS_ZSTD,
				  .zstd_level = 1 };
	uint64_t idx[WIRE_MAX_BATCH];
	struct enc_ctx *e;
	uint32_t rs = 7;

	if (delta)
		cfg.delta_cache_bytes = NPAGES * 4096;
	memset(s, 0, sizeof(*s));
	s->src = malloc(NPAGES * 4096);
	for (unsigned i = 0; i < NPAGES; i++) {
		uint8_t *p = s->src + (size_t)i * 4096;

		if (i % 4 == 0)
			memset(p, 0, 4096);
		else if (i % 4 == 1)
			fill_random(p, 4096, &rs);
		else
			fill_pattern(p, i);
	}
	ck_assert_int_eq(enc_ctx_new(&cfg, &e), 0);
	rec(s, WIRE_HELLO, 0, 64, &rs);
	rec(s, WIRE_HELLO_ACK, 0, 10, &rs);
	for (unsigned i = 0; i < 4; i++) {     /* one page: each encoding */
		idx[0] = 100 + i;
		pages(s, e, idx, 1, false);
	}
	rec(s, WIRE_ROUND, 0, WIRE_ROUND_SIZE, &rs);
	rec(s, 0x0077, 0, 8, &rs);             /* unknown optional: skipped */
	rec(s, WIRE_KEEPALIVE, 0, 0, &rs);     /* optional, empty: skipped */
	for (unsigned r = 0; r < 3; r++) {     /* full batches: > 64 KiB */
		for (unsigned i = 0; i < WIRE_MAX_BATCH; i++)
			idx[i] = (uint64_t)r * WIRE_MAX_BATCH + i;
		pages(s, e, idx, WIRE_MAX_BATCH, false);
		if (r == 0)
			s->big = s->n - 1;
	}
	idx[0] = 200;
	idx[1] = 201;
	idx[2] = 230;
	pages(s, e, idx, 3, true);             /* hints */
	rec(s, WIRE_STATE, 0, WIRE_STATE_HEAD + 300, &rs);
	rec(s, WIRE_STATE, WIRE_STATE_LAST, WIRE_STATE_HEAD + 200000, &rs);
	if (delta) {                           /* round 2: deltas */
		for (unsigned i = 0; i < 8; i++) {
			idx[i] = 4 * i + 2;
			s->src[idx[i] * 4096 + 17 * i] ^= 0x5a;
		}
		pages(s, e, idx, 8, false);
		idx[0] = 6;
		s->src[6 * 4096 + 1000] ^= 1;
		pages(s, e, idx, 1, false);
	}
	rec(s, WIRE_SWITCH, 0, 0, &rs);
	rec(s, WIRE_DISCARD, 0, WIRE_DISCARD_HEAD + 64, &rs);
	rec(s, WIRE_POSTCOPY, 0, WIRE_POSTCOPY_SIZE, &rs);
	for (unsigned i = 0; i < 6; i++) {     /* urgent traffic */
		idx[0] = 240 + i;
		pages(s, e, idx, 1, false);
		rec(s, WIRE_REQ, i % 2 ? WIRE_REQ_REFETCH : 0,
		    WIRE_REQ_HEAD + 8, &rs);
	}
	rec(s, WIRE_DRAIN, 0, 0, &rs);
	rec(s, WIRE_DRAINED, 0, 0, &rs);
	rec(s, WIRE_RESUMED, 0, 0, &rs);
	rec(s, WIRE_DONE, 0, WIRE_DONE_SIZE, &rs);
	rec(s, WIRE_END, 0, WIRE_END_SIZE, &rs);
	rec(s, WIRE_ACK, 0, 8, &rs);
	rec(s, WIRE_ERROR, 0, 20, &rs);
	enc_ctx_free(e);
}

static void stream_free(struct stream *s)
{
	free(s->o.buf);
	free(s->src);
}

/* ---- reading it: everything observable, folded into hashes ---- */

enum place { PLACE_GUEST, PLACE_STAGED, PLACE_PLACER };

struct result {
	int ret;            /* first error, 0 at the end of the stream */
	unsigned records;   /* returned without error */
	uint64_t trace;     /* types, flags, lengths, payloads, counts */
	uint64_t mem;       /* guest memory, or the placer's copy */
	uint64_t hooks;     /* hint, write and place calls in order */
	char err[WIRE_ERRLEN];
};

struct sink {
	enum place pl;
	uint8_t *mem;       /* guest memory */
	uint8_t *placed;    /* the placer's memory */
	uint64_t hooks;
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	return vmmig_hash64(p, n, h);
}

static int on_hint(void *cookie, unsigned ri, uint64_t page,
		   const struct wire_hint *h)
{
	struct sink *k = cookie;
	uint64_t v[3] = { 'h', page, h->object_id ^ h->offset ^ h->hash };

	ck_assert_uint_eq(ri, 0);
	k->hooks = mix(k->hooks, v, sizeof(v));
	return 0;
}

/* Told of every page with contents; in place unless staged or placed. */
static int on_begin(void *cookie, unsigned ri, const struct wire_page_desc *d,
		    unsigned n, void **into)
{
	struct sink *k = cookie;

	ck_assert_uint_eq(ri, 0);
	for (unsigned i = 0; i < n; i++) {
		uint64_t v[2] = { 'w', d[i].page };

		if (d[i].enc == WIRE_ENC_HINT)
			continue;
		k->hooks = mix(k->hooks, v, sizeof(v));
		if (k->pl != PLACE_PLACER &&
		    (d[i].enc == WIRE_ENC_DELTA ||
		     (d[i].enc == WIRE_ENC_RAW && k->pl == PLACE_GUEST)))
			into[i] = k->mem + d[i].page * 4096;
	}
	return 0;
}

static int on_place(void *cookie, unsigned ri, uint64_t page,
		    const void *data)
{
	struct sink *k = cookie;
	uint8_t *p = (k->pl == PLACE_PLACER ? k->placed : k->mem) + page * 4096;
	uint64_t v[2] = { 'p', page };

	ck_assert_uint_eq(ri, 0);
	ck_assert_uint_lt(page, NPAGES);
	if (data && data != p)
		memcpy(p, data, 4096);
	else if (!data)
		memset(p, 0, 4096);
	if (k->pl == PLACE_PLACER)
		k->hooks = mix(k->hooks, v, sizeof(v));
	return 0;
}

static const struct wire_page_sink_ops sink_ops = {
	.begin = on_begin, .place = on_place, .hint = on_hint,
};

/*
 * Read @len bytes of @st's stream to its end or first error. @cap 0: the
 * plain reader; else read-ahead with a @cap-byte buffer, switched on after
 * @plain_first records (the core enables it after the handshake).
 */
static void run(const struct stream *st, size_t len, enum place pl,
		size_t cap, int piece, unsigned plain_first, struct result *res,
		struct pstream *ps)
{
	struct guarded g;
	struct sink k = { .pl = pl, .placed = calloc(NPAGES, 4096) };
	struct wire_dest_region dr;
	struct wire_reader *r;

	guarded_new(&g, NPAGES);
	memset(g.mem, 0xee, NPAGES * 4096);
	k.mem = g.mem;
	dr = (struct wire_dest_region){ RID, NPAGES };
	*ps = (struct pstream){ .buf = st->o.buf, .len = len, .piece = piece,
				.marks = st->marks, .nmarks = st->n,
				.rng = 0x9e3779b97f4a7c15ull ^ cap ^
				       (uint64_t)(piece + 3) };
	memset(res, 0, sizeof(*res));
	ck_assert_int_eq(wire_reader_new(ps_read, ps, &dr, 1, &r), 0);
	ck_assert_int_eq(wire_reader_set_sink(r, &sink_ops, &k), 0);
	for (;;) {
		struct wire_page_counts cnt = { 0 };
		const uint8_t *p;
		struct wire_hdr h;

		if (cap && res->records == plain_first)
			ck_assert_int_eq(wire_reader_set_readahead(r, ps_some,
								   cap), 0);
		res->ret = wire_reader_next(r, &h, &p, &cnt);
		if (res->ret)
			break;
		res->records++;
		res->trace = mix(res->trace, &h, sizeof(h));
		res->trace = mix(res->trace, &cnt, sizeof(cnt));
		if (p)
			res->trace = mix(res->trace, p, h.len);
	}
	/* Reading on after the last record ends in a reset: what counts is
	 * that it came after the whole stream was used. */
	if (res->ret == -ECONNRESET && ps->pos == st->o.len)
		res->ret = 0;
	snprintf(res->err, sizeof(res->err), "%s", wire_reader_error(r));
	res->mem = mix(0, pl == PLACE_PLACER ? k.placed : g.mem,
		       NPAGES * 4096);
	res->hooks = k.hooks;
	ck_assert(guarded_check(&g));
	wire_reader_free(r);
	guarded_free(&g);
	free(k.placed);
}

static const int pieces[] = { 1, 7, PIECE_RANDOM, PIECE_MARKS, PIECE_ALL };
static const size_t caps[] = { WIRE_READAHEAD_CAP, 100, 4096 + 40, 1 };

static void same_as_plain(bool delta, enum place pl)
{
	struct stream st;
	struct result want, got;
	struct pstream ps;

	build(&st, delta);
	run(&st, st.o.len, pl, 0, PIECE_ALL, 0, &want, &ps);
	ck_assert_msg(want.ret == 0, "plain: %s", want.err);
	ck_assert_uint_eq(want.records, st.n - 2); /* two were skipped */
	for (size_t c = 0; c < ARRAY_LEN(caps); c++) {
		for (size_t i = 0; i < ARRAY_LEN(pieces); i++) {
			/* On from the start, or after the first record. */
			unsigned first = (unsigned)(c + i) % 2;

			run(&st, st.o.len, pl, caps[c], pieces[i], first, &got,
			    &ps);
			ck_assert_msg(got.ret == 0, "cap %zu piece %d: %s",
				      caps[c], pieces[i], got.err);
			ck_assert_uint_eq(got.records, want.records);
			ck_assert_uint_eq(got.trace, want.trace);
			ck_assert_uint_eq(got.mem, want.mem);
			ck_assert_uint_eq(got.hooks, want.hooks);
			ck_assert_uint_eq(ps.pos, st.o.len);
		}
	}
	stream_free(&st);
}

START_TEST(guest_memory)
{
	same_as_plain(true, PLACE_GUEST);
}
END_TEST

START_TEST(staged)
{
	same_as_plain(true, PLACE_STAGED);
}
END_TEST

START_TEST(placer)
{
	same_as_plain(false, PLACE_PLACER);
}
END_TEST

/* A flipped byte under the CRC (a payload byte; for PAGES, whose page
 * bytes no CRC covers, the last descriptor byte): the same CRC failure, at
 * the same record, as without read-ahead; records before it are
 * unaffected. */
START_TEST(crc_corruption)
{
	struct stream st;
	struct result want, got;
	struct pstream ps;

	build(&st, true);
	ck_assert_uint_ge(st.ntargets, 8);
	for (unsigned t = 0; t < st.ntargets + 1; t++) {
		/* The targets, and the big record (> the buffer). */
		unsigned k = t < st.ntargets ? st.targets[t] : st.big;
		size_t lo = k ? st.marks[k - 1] : 0, at = st.marks[k] - 1;
		char msg[64];

		if (get_le16(st.o.buf + lo) == WIRE_PAGES)
			at = lo + WIRE_HDR_SIZE + 8 +
			     16 * (size_t)get_le16(st.o.buf + lo + 20) - 1;

		st.o.buf[at] ^= 0x40;
		run(&st, st.o.len, PLACE_STAGED, 0, PIECE_ALL, 0, &want, &ps);
		snprintf(msg, sizeof(msg), "crc mismatch (seq %u)", k);
		ck_assert_int_eq(want.ret, -EPROTO);
		ck_assert_msg(strstr(want.err, msg), "%s", want.err);
		for (size_t c = 0; c < ARRAY_LEN(caps); c++)
			for (size_t i = 0; i < 3; i++) {
				run(&st, st.o.len, PLACE_STAGED, caps[c],
				    pieces[i], 1, &got, &ps);
				ck_assert_int_eq(got.ret, -EPROTO);
				ck_assert_str_eq(got.err, want.err);
				ck_assert_uint_eq(got.records, want.records);
				ck_assert_uint_eq(got.trace, want.trace);
			}
		st.o.buf[at] ^= 0x40;
	}
	stream_free(&st);
}
END_TEST

/* The stream cut anywhere in a record: the records before it come back,
 * then the read error, as without read-ahead. */
START_TEST(eof_mid_record)
{
	struct stream st;
	struct result want, got;
	struct pstream ps;
	uint32_t rs = 3;

	build(&st, true);
	for (unsigned t = 0; t < 20; t++) {
		unsigned k = t < 4 ? st.big : 1 + xrand(&rs) % (st.n - 1);
		size_t lo = st.marks[k - 1], span = st.marks[k] - lo;
		/* In the header, the batch head, the descriptors, the
		 * payload (t < 4: of the big record), or anywhere. */
		size_t cut = t % 4 == 0 ? lo + 5 : t % 4 == 1 ? lo + 19
			   : t % 4 == 2 ? st.marks[k] - 1
					: lo + 1 + xrand(&rs) % (span - 1);

		run(&st, cut, PLACE_GUEST, 0, PIECE_ALL, 0, &want, &ps);
		ck_assert_int_eq(want.ret, -ECONNRESET);
		ck_assert_msg(strstr(want.err, "stream read failed"), "%s",
			      want.err);
		for (size_t c = 0; c < ARRAY_LEN(caps); c++)
			for (size_t i = 0; i < ARRAY_LEN(pieces); i++) {
				run(&st, cut, PLACE_GUEST, caps[c], pieces[i],
				    0, &got, &ps);
				ck_assert_int_eq(got.ret, -ECONNRESET);
				ck_assert_str_eq(got.err, want.err);
				ck_assert_uint_eq(got.records, want.records);
				ck_assert_uint_eq(got.trace, want.trace);
			}
	}
	stream_free(&st);
}
END_TEST

/* A record of WIRE_MAX_PAYLOAD bytes between small ones. */
START_TEST(max_record)
{
	struct stream st = { 0 };
	struct result want, got;
	struct pstream ps;
	uint32_t rs = 11;

	st.src = calloc(NPAGES, 4096);
	rec(&st, WIRE_HELLO, 0, 64, &rs);
	rec(&st, WIRE_ROUND, 0, WIRE_ROUND_SIZE, &rs);
	rec(&st, WIRE_STATE, WIRE_STATE_LAST, WIRE_MAX_PAYLOAD, &rs);
	rec(&st, WIRE_END, 0, WIRE_END_SIZE, &rs);
	run(&st, st.o.len, PLACE_GUEST, 0, PIECE_ALL, 0, &want, &ps);
	ck_assert_int_eq(want.ret, 0);
	ck_assert_uint_eq(want.records, 4);
	for (size_t i = 0; i < 3; i++) {
		run(&st, st.o.len, PLACE_GUEST, WIRE_READAHEAD_CAP, pieces[i],
		    1, &got, &ps);
		ck_assert_int_eq(got.ret, 0);
		ck_assert_uint_eq(got.trace, want.trace);
	}
	st.o.buf[st.marks[2] - 12345] ^= 1;
	run(&st, st.o.len, PLACE_GUEST, WIRE_READAHEAD_CAP, PIECE_RANDOM, 1,
	    &got, &ps);
	ck_assert_int_eq(got.ret, -EPROTO);
	ck_assert_uint_eq(got.records, 2);
	stream_free(&st);
}
END_TEST

/* What read-ahead is for: a one-page PAGES record or a REQ costs one
 * receive (the plain reader: four and two). */
START_TEST(one_receive_per_record)
{
	struct stream st = { 0 };
	struct enc_config cfg = { .compression = VMMIG_COMPRESS_NONE };
	struct result res;
	struct pstream ps;
	struct enc_ctx *e;
	uint32_t rs = 5;

	st.src = malloc(NPAGES * 4096);
	fill_random(st.src, NPAGES * 4096, &rs);
	ck_assert_int_eq(enc_ctx_new(&cfg, &e), 0);
	for (uint64_t i = 0; i < 50; i++) {
		pages(&st, e, &i, 1, false);
		rec(&st, WIRE_REQ, 0, WIRE_REQ_HEAD + 8, &rs);
	}
	enc_ctx_free(e);
	run(&st, st.o.len, PLACE_PLACER, 0, PIECE_MARKS, 0, &res, &ps);
	ck_assert_int_eq(res.ret, 0);
	ck_assert_uint_eq(ps.read_calls, 50 * 4 + 50 * 2 + 1);
	/* Each record arrives on its own: one receive each, plus the one
	 * that finds the end of the stream. */
	run(&st, st.o.len, PLACE_PLACER, WIRE_READAHEAD_CAP, PIECE_MARKS, 0,
	    &res, &ps);
	ck_assert_int_eq(res.ret, 0);
	ck_assert_uint_eq(res.records, 100);
	ck_assert_uint_eq(ps.some_calls, 100 + 1);
	ck_assert_uint_eq(ps.read_calls, 0);
	/* Records that queued up come in together. */
	run(&st, st.o.len, PLACE_PLACER, WIRE_READAHEAD_CAP, PIECE_ALL, 0,
	    &res, &ps);
	ck_assert_int_eq(res.ret, 0);
	ck_assert_uint_le(ps.some_calls, st.o.len / WIRE_READAHEAD_CAP + 2);
	stream_free(&st);
}
END_TEST

static int short_some(void *cookie, void *buf, size_t min, size_t max)
{
	(void)cookie;
	(void)max;
	memset(buf, 0, min - 1);
	return (int)min - 1;
}

START_TEST(setup_and_broken_fn)
{
	struct istream in = { NULL, 0, 0 };
	struct wire_reader *r;
	struct wire_hdr h;
	const uint8_t *p;

	ck_assert_int_eq(wire_reader_new(istream_read, &in, NULL, 0, &r), 0);
	ck_assert_int_eq(wire_reader_set_readahead(r, NULL, 4096), -EINVAL);
	ck_assert_int_eq(wire_reader_set_readahead(r, short_some, 0), -EINVAL);
	ck_assert_int_eq(wire_reader_set_readahead(r, short_some, 4096), 0);
	ck_assert_int_eq(wire_reader_set_readahead(r, ps_some, 4096), -EBUSY);
	/* A read fn that returns less than asked fails the reader, it does
	 * not make it read garbage. */
	ck_assert_int_eq(wire_reader_next(r, &h, &p, NULL), -EIO);
	ck_assert_int_eq(wire_reader_next(r, &h, &p, NULL), -EIO);
	wire_reader_free(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire_readahead");
	TCase *tc = tcase_create("readahead");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, guest_memory);
	tcase_add_test(tc, staged);
	tcase_add_test(tc, placer);
	tcase_add_test(tc, crc_corruption);
	tcase_add_test(tc, eof_mid_record);
	tcase_add_test(tc, max_record);
	tcase_add_test(tc, one_receive_per_record);
	tcase_add_test(tc, setup_and_broken_fn);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
