/* SPDX-License-Identifier: MIT */
/*
 * Seed corpus generator: runs real migrations in this process (source and
 * destination over a Unix socket, a guest of the fuzz layout, fuzz.h) through
 * a transport that records what each side receives, and writes
 *   <out>/fuzz_dest/<name>  channel 0 as the destination read it,
 *   <out>/fuzz_rp/<name>    channel 0 as the source read it (return path),
 * each behind a mode byte (fuzz_dest.c, fuzz_rp.c). Also writes a few
 * page payloads for fuzz_decode. Not a test: run it by hand
 * (tests/fuzz/README.md) and commit what it writes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vmmig/vmmig.h>

#include "../core/guest.h"
#include "encode/encode.h"
#include "fuzz.h"
#include "wire/batch.h"
#include "wire/wire.h"

/* ---- a transport that records each connection's received bytes ---- */

struct rec {
	uint8_t *buf;
	size_t len, cap;
};

static struct rec rec_dst, rec_src; /* first connection of each side */
static unsigned n_accepted, n_connected;
static const struct vmmig_transport_ops *inner;

struct rec_chan {
	struct rec *rec; /* NULL: not recorded */
	unsigned char priv[] __attribute__((aligned(16)));
};

static void rec_add(struct rec *r, const void *p, size_t n)
{
	if (r->len + n > r->cap) {
		r->cap = (r->len + n) * 2;
		r->buf = realloc(r->buf, r->cap);
		if (!r->buf)
			abort();
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
}

static int r_connect(void *chan, const char *addr, int timeout_ms)
{
	struct rec_chan *c = chan;

	c->rec = n_connected++ == 0 ? &rec_src : NULL;
	return inner->connect(c->priv, addr, timeout_ms);
}

static int r_listen(void *l, const char *addr)
{
	return inner->listen(l, addr);
}

static int r_listener_addr(void *l, char *buf, size_t len)
{
	return inner->listener_addr(l, buf, len);
}

static int r_accept(void *l, void *chan, int timeout_ms)
{
	struct rec_chan *c = chan;
	int ret = inner->accept(l, c->priv, timeout_ms);

	if (!ret)
		c->rec = n_accepted++ == 0 ? &rec_dst : NULL;
	return ret;
}

static void r_listener_shutdown(void *l)
{
	if (inner->listener_shutdown)
		inner->listener_shutdown(l);
}

static void r_listener_close(void *l)
{
	inner->listener_close(l);
}

static int r_send(void *chan, const struct iovec *iov, int iovcnt)
{
	return inner->send(((struct rec_chan *)chan)->priv, iov, iovcnt);
}

static int r_recv(void *chan, const struct iovec *iov, int iovcnt)
{
	struct rec_chan *c = chan;
	int ret = inner->recv(c->priv, iov, iovcnt);

	for (int i = 0; !ret && c->rec && i < iovcnt; i++)
		rec_add(c->rec, iov[i].iov_base, iov[i].iov_len);
	return ret;
}

static int r_recv_some(void *chan, void *buf, size_t min, size_t max)
{
	struct rec_chan *c = chan;
	int ret = inner->recv_some(c->priv, buf, min, max);

	if (ret > 0 && c->rec)
		rec_add(c->rec, buf, (size_t)ret);
	return ret;
}

static void r_shutdown(void *chan)
{
	inner->shutdown(((struct rec_chan *)chan)->priv);
}

static void r_close(void *chan)
{
	inner->close(((struct rec_chan *)chan)->priv);
}

static struct vmmig_transport_ops rec_ops = {
	.version = VMMIG_TRANSPORT_OPS_VERSION,
	.name = "record",
	.connect = r_connect,
	.listen = r_listen,
	.listener_addr = r_listener_addr,
	.accept = r_accept,
	.listener_shutdown = r_listener_shutdown,
	.listener_close = r_listener_close,
	.send = r_send,
	.recv = r_recv,
	.shutdown = r_shutdown,
	.close = r_close,
	.recv_some = r_recv_some,
};

/* ---- writing seeds ---- */

static const char *outdir;

static void write_seed(const char *target, const char *name, uint8_t mode,
		       const void *p, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(&mode, 1, 1, f) != 1 ||
	    (len && fwrite(p, 1, len, f) != len) || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* ---- migrations ---- */

enum { PRECOPY, HYBRID, POSTCOPY };

/* Three pre-copy rounds whatever the figures (pages get re-sent: deltas),
 * then the final action its config names. */
static int rounds_init(void *priv, const void *config)
{
	*(int *)priv = *(const int *)config;
	return 0;
}

static int rounds_decide(void *priv, const struct vmmig_round_info *ri,
			 struct vmmig_decision *out)
{
	out->action = ri->round < 3 ? VMMIG_ACTION_NEXT_ROUND : *(int *)priv;
	return 0;
}

static const struct vmmig_policy_ops rounds_ops = {
	.version = VMMIG_POLICY_OPS_VERSION,
	.name = "rounds",
	.priv_size = sizeof(int),
	.init = rounds_init,
	.decide = rounds_decide,
};

static int migrate(int kind, int compression, uint64_t delta_bytes,
		   bool writer)
{
	struct vmmig_policy *pol = NULL;
	struct vmmig_source *src;
	struct vmmig_dest *dst;
	struct guest gs, gd;
	char path[64], bound[128];
	int ret, dret;

	snprintf(path, sizeof(path), "/tmp/vmmig-gen-%d.sock", (int)getpid());
	unlink(path);
	n_accepted = n_connected = 0;
	rec_dst.len = rec_src.len = 0;
	if (guest_init(&gs, FZ_SIZE, FILL_HALF, false) ||
	    guest_init(&gd, FZ_SIZE, FILL_ZERO, false) ||
	    vmmig_tracker_new_manual(&gs.manual) ||
	    vmmig_source_new(&src) || vmmig_dest_new(&dst))
		return -ENOMEM;
	/* Eight pages with contents, the rest zero: small seeds. */
	memset(gs.mem + 8 * 4096, 0, FZ_SIZE - 8 * 4096);
	if (kind == POSTCOPY)
		ret = vmmig_policy_new_postcopy(
			&(struct vmmig_postcopy_config){
				.struct_size = sizeof(struct vmmig_postcopy_config),
				.flags = VMMIG_POSTCOPY_NO_FIRST_PASS }, &pol);
	else
		ret = vmmig_policy_new(&rounds_ops, &(int){
			kind == HYBRID ? VMMIG_ACTION_POSTCOPY
				       : VMMIG_ACTION_STOP_AND_COPY }, &pol);
	if (ret)
		return ret;
	vmmig_source_add_region(src, FZ_REGION_ID, 0, gs.mem, FZ_SIZE);
	vmmig_source_set_ops(src, &guest_source_ops, &gs);
	vmmig_source_set_tracker(src, gs.manual);
	vmmig_source_set_policy(src, pol);
	vmmig_source_set_option(src, VMMIG_OPT_COMPRESSION, compression);
	vmmig_source_set_option(src, VMMIG_OPT_DELTA_CACHE_BYTES,
				(int64_t)delta_bytes);
	vmmig_source_set_option(src, VMMIG_OPT_VERIFY, 1);
	vmmig_dest_add_region(dst, FZ_REGION_ID, 0, gd.mem, FZ_SIZE);
	vmmig_dest_set_ops(dst, &guest_dest_ops, &gd);
	ret = vmmig_dest_listen_transport(dst, &rec_ops, path, bound,
					  sizeof(bound));
	if (!ret)
		ret = vmmig_dest_start(dst);
	/* A guest that writes while it migrates: rounds re-send pages, as
	 * deltas where the cache holds them. */
	if (!ret && writer)
		ret = guest_run(&gs, 50);
	if (!ret)
		ret = vmmig_source_start_transport(src, &rec_ops, path);
	if (ret)
		return ret;
	ret = vmmig_source_wait(src);
	dret = vmmig_dest_wait(dst);
	if (ret || dret)
		fprintf(stderr, "migration failed: %s / %s\n",
			vmmig_source_error(src), vmmig_dest_error(dst));
	else if (memcmp(gs.mem, gd.mem, FZ_SIZE))
		ret = -EIO;
	guest_stop(&gs);
	vmmig_source_free(src);
	vmmig_dest_free(dst);
	vmmig_policy_free(pol);
	guest_destroy(&gs);
	guest_destroy(&gd);
	unlink(path);
	return ret ? ret : dret;
}

static void record(const char *name, int kind, int compression,
		   uint64_t delta_bytes, bool writer, uint8_t dmode,
		   uint8_t rpmode)
{
	int ret = migrate(kind, compression, delta_bytes, writer);
	char fixed[128];

	if (ret) {
		fprintf(stderr, "%s: %s\n", name, vmmig_strerror(ret));
		exit(1);
	}
	/* The same stream in fix-CRC mode: a start for that mode's
	 * mutations. */
	snprintf(fixed, sizeof(fixed), "%s_fixcrc", name);
	write_seed("fuzz_dest", name, dmode, rec_dst.buf, rec_dst.len);
	write_seed("fuzz_dest", fixed, dmode | FZ_MODE_FIXCRC, rec_dst.buf,
		   rec_dst.len);
	write_seed("fuzz_rp", name, rpmode, rec_src.buf, rec_src.len);
	write_seed("fuzz_rp", fixed, rpmode | FZ_MODE_FIXCRC, rec_src.buf,
		   rec_src.len);
	printf("%s: destination stream %zu bytes, return path %zu bytes\n",
	       name, rec_dst.len, rec_src.len);
}

/* After a post-copy reconnect (fuzz_rp phase 3): HELLO_ACK, the pages
 * still missing, RESUMED, a request, DONE. Built, not recorded: a
 * recorded one needs a link cut at the right moment. */
static int buf_write(void *cookie, const struct iovec *iov, int n)
{
	for (int i = 0; i < n; i++)
		rec_add(cookie, iov[i].iov_base, iov[i].iov_len);
	return 0;
}

static void resume_seed(void)
{
	struct rec r = { 0 };
	uint8_t b[64] = { 0 };
	struct wire_status ok = { .text = "ok" };
	struct wire_done done = { .placed = 3, .verified = UINT32_MAX };
	uint64_t words[2] = { 0x8001, 0x4 }; /* pages 0, 15, 66 */
	uint32_t seq = 0;
	int n;

	n = wire_status_pack(b, sizeof(b), &ok);
	wire_write_record(buf_write, &r, WIRE_HELLO_ACK, 0, seq++, b,
			  (size_t)n);
	wire_discard_pack(b, &(struct wire_discard){ .region_id = FZ_REGION_ID,
						    .nwords = 2 });
	memcpy(b + WIRE_DISCARD_HEAD, words, sizeof(words));
	wire_write_record(buf_write, &r, WIRE_DISCARD, 0, seq++, b,
			  WIRE_DISCARD_HEAD + sizeof(words));
	wire_write_record(buf_write, &r, WIRE_RESUMED, 0, seq++, NULL, 0);
	wire_req_pack(b, sizeof(b), &(struct wire_req){
		.region_id = FZ_REGION_ID, .count = 2 }, (uint64_t[2]){ 15, 66 });
	wire_write_record(buf_write, &r, WIRE_REQ, 0, seq++, b,
			  WIRE_REQ_HEAD + 16);
	wire_done_pack(b, &done);
	wire_write_record(buf_write, &r, WIRE_DONE, 0, seq++, b,
			  WIRE_DONE_SIZE);
	write_seed("fuzz_rp", "resume", 6, r.buf, r.len);
	write_seed("fuzz_rp", "resume_fixcrc", 6 | FZ_MODE_FIXCRC, r.buf,
		   r.len);
	free(r.buf);
}

/* Text-like page @i: words of a vocabulary of @nwords (1..8). */
static void text_page(uint8_t *p, unsigned i, unsigned nwords)
{
	static const char *const words[8] = { "guest ", "memory ", "page ",
		"of ", "the ", "source ", "zstd ", "run " };
	uint32_t s = 2654435761u * (i + 1);
	size_t off = 0;

	while (off < ENC_PAGE) {
		const char *w;

		s ^= s << 13;
		s ^= s >> 17;
		s ^= s << 5;
		for (w = words[s % nwords]; *w && off < ENC_PAGE; w++)
			p[off++] = (uint8_t)*w;
	}
}

/* Two PAGES records (sequence 1, 2) with zstd runs into @r: pages 0..12
 * text, random, zero in a pattern that makes runs of 3 and 2, a lone
 * zstd page and a run of 4; then pages 3..66, all text, as one run of
 * 64. */
static void runs_record(struct wire_batch *wb, struct rec *r)
{
	static const char cls[] = "TTTRTTZTRTTTT";
	static uint8_t mem[FZ_SIZE];
	struct enc_config cfg = { .compression = VMMIG_COMPRESS_ZSTD,
				  .zstd_level = 1 };
	struct enc_counters cnt = { 0 };
	struct enc_ctx *e;
	int niov;

	if (enc_ctx_new(&cfg, &e))
		abort();
	for (unsigned i = 0; i < FZ_NPAGES; i++)
		text_page(mem + i * ENC_PAGE, i, 8);
	for (unsigned i = 0; cls[i]; i++) {
		if (cls[i] == 'R')
			fill_random(mem + i * ENC_PAGE, ENC_PAGE, i);
		else if (cls[i] == 'Z')
			memset(mem + i * ENC_PAGE, 0, ENC_PAGE);
	}
	wire_batch_begin(wb, FZ_REGION_ID);
	for (unsigned i = 0; cls[i]; i++)
		wire_batch_add(wb, e, i, mem + i * ENC_PAGE, &cnt);
	wire_batch_finish(wb, 1, &niov);
	buf_write(r, wb->iov, niov);
	/* All text, of two words: a small frame keeps the seed under
	 * run-fuzz.sh's -max_len. */
	for (unsigned i = 0; i < FZ_NPAGES; i++)
		text_page(mem + i * ENC_PAGE, i, 2);
	wire_batch_begin(wb, FZ_REGION_ID);
	for (unsigned i = 3; i < 3 + WIRE_MAX_BATCH; i++)
		wire_batch_add(wb, e, i, mem + i * ENC_PAGE, &cnt);
	wire_batch_finish(wb, 2, &niov);
	buf_write(r, wb->iov, niov);
	enc_ctx_free(e);
}

/* Built inputs: those of the findings of issue 11, kept as regression
 * inputs (each also has a Check test in tests/core/test_parsers.c), and a
 * storage hint. */
static void crafted_seeds(void)
{
	static uint8_t b[WIRE_STATE_HEAD + 4000], hello[128];
	struct wire_region reg = { .id = FZ_REGION_ID, .size = FZ_SIZE };
	struct wire_hello h = { .magic = WIRE_MAGIC, .version = WIRE_VERSION,
				.nchannels = 1, .page_size = 4096,
				.nregions = 1 };
	struct wire_status ok = { .text = "ok" };
	struct rec r = { 0 };
	uint32_t seq = 0;
	int n;

	/* 1. STATE: 20 of 50 bytes, then 4000 at 20 of "1 MiB". */
	n = wire_hello_pack(hello, sizeof(hello), &h, &reg);
	wire_write_record(buf_write, &r, WIRE_HELLO, 0, seq++, hello,
			  (size_t)n);
	wire_state_pack(b, &(struct wire_state){ .blob_id = 1,
		.total_len = 50 });
	wire_write_record(buf_write, &r, WIRE_STATE, 0, seq++, b,
			  WIRE_STATE_HEAD + 20);
	wire_state_pack(b, &(struct wire_state){ .blob_id = 1,
		.total_len = 1 << 20, .offset = 20 });
	memset(b + WIRE_STATE_HEAD, 0x41, 4000);
	wire_write_record(buf_write, &r, WIRE_STATE, 0, seq++, b,
			  WIRE_STATE_HEAD + 4000);
	write_seed("fuzz_dest", "regress-state-continuation", 0, r.buf, r.len);

	/* Not a finding: a cache-restore hint, which the recorded streams
	 * lack (they have no storage). HELLO, PAGES with a hint, DRAIN. */
	struct wire_batch wb;
	int niov;
	struct enc_counters cnt = { 0 };

	r.len = 0;
	wire_write_record(buf_write, &r, WIRE_HELLO, 0, 0, hello, (size_t)n);
	if (wire_batch_init(&wb))
		abort();
	wire_batch_begin(&wb, FZ_REGION_ID);
	wire_batch_add_hint(&wb, 9, &(struct wire_hint){ 1, 8 << 12, 77 },
			    &cnt);
	wire_batch_add(&wb, NULL, 10, NULL, &cnt);
	wire_batch_finish(&wb, 1, &niov);
	buf_write(&r, wb.iov, niov);
	wire_write_record(buf_write, &r, WIRE_DRAIN, 0, 2, NULL, 0);
	write_seed("fuzz_dest", "hint", 0, r.buf, r.len);

	/* Not a finding either: zstd runs (wire version 3), which the
	 * recorded streams hardly have (their guests hold random pages and
	 * the adaptive rule compresses 1 page of 64 at first). HELLO, a
	 * record of runs split by random and zero pages and a lone zstd page,
	 * a record that is one run of 64 pages, END. */
	r.len = 0;
	wire_write_record(buf_write, &r, WIRE_HELLO, 0, 0, hello, (size_t)n);
	runs_record(&wb, &r);
	wire_write_record(buf_write, &r, WIRE_DRAIN, 0, 3, NULL, 0);
	wire_batch_destroy(&wb);
	write_seed("fuzz_dest", "zstd_runs", 0, r.buf, r.len);
	write_seed("fuzz_dest", "zstd_runs_fixcrc", FZ_MODE_FIXCRC, r.buf,
		   r.len);

	/* 2-4: the source's return path. */
	struct { const char *name; uint8_t mode; uint16_t type, flags;
		 uint64_t first; uint64_t word; } rp[] = {
		{ "regress-discard-wrap", 6, WIRE_DISCARD, 0, UINT64_MAX, ~0ull },
		{ "regress-discard-tail", 6, WIRE_DISCARD, 0, 1, 1ull << 3 },
		{ "regress-refetch-early", 16, WIRE_REQ, WIRE_REQ_REFETCH, 0, 5 },
	};
	for (unsigned i = 0; i < sizeof(rp) / sizeof(rp[0]); i++) {
		r.len = 0;
		seq = 0;
		n = wire_status_pack(b, sizeof(b), &ok);
		wire_write_record(buf_write, &r, WIRE_HELLO_ACK, 0, seq++, b,
				  (size_t)n);
		if (rp[i].type == WIRE_DISCARD) {
			uint32_t nw = rp[i].first == UINT64_MAX ? 2 : 1;

			wire_discard_pack(b, &(struct wire_discard){
				.region_id = FZ_REGION_ID, .nwords = nw,
				.first_word = rp[i].first });
			memcpy(b + WIRE_DISCARD_HEAD, &rp[i].word, 8);
			memcpy(b + WIRE_DISCARD_HEAD + 8, &rp[i].word, 8);
			n = WIRE_DISCARD_HEAD + 8 * (int)nw;
		} else {
			n = wire_req_pack(b, sizeof(b), &(struct wire_req){
				.region_id = FZ_REGION_ID, .count = 1 },
				&rp[i].word);
		}
		wire_write_record(buf_write, &r, rp[i].type, rp[i].flags,
				  seq++, b, (size_t)n);
		write_seed("fuzz_rp", rp[i].name, rp[i].mode, r.buf, r.len);
	}
	free(r.buf);
}

/* Page payloads of every encoding for fuzz_decode (mode byte: decoder). */
static void decode_seeds(void)
{
	static uint8_t old[ENC_PAGE], page[ENC_PAGE], enc[2 * ENC_PAGE];
	ZSTD_CCtx *c = zpage_cctx_new(3);
	int n;

	fill_random(page, ENC_PAGE / 2, 7);
	write_seed("fuzz_decode", "zero", 0, NULL, 0);
	write_seed("fuzz_decode", "raw", 1, page, ENC_PAGE);
	n = zpage_compress(c, page, enc, sizeof(enc));
	if (n > 0)
		write_seed("fuzz_decode", "zstd", 2, enc, (size_t)n);
	/* fuzz_decode's base page for mode 3 (seed 0) is all zero. */
	memcpy(old, page, ENC_PAGE);
	memset(page + 100, 0x5a, 300);
	memset(old, 0, ENC_PAGE);
	n = delta_encode(old, page, enc, ENC_DELTA_MAX);
	if (n > 0)
		write_seed("fuzz_decode", "delta", 3, enc, (size_t)n);
	ZSTD_freeCCtx(c);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR (with fuzz_dest/, "
			"fuzz_rp/, fuzz_decode/ in it)\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	inner = vmmig_transport_unix();
	rec_ops.chan_size = sizeof(struct rec_chan) + inner->chan_size;
	rec_ops.listener_size = inner->listener_size;
	/* Mode bytes: destination bit 1 staged, bit 2 read-ahead;
	 * return path bits 1-2 the phase (fuzz_rp.c). */
	record("precopy_zstd_delta", PRECOPY, VMMIG_COMPRESS_ZSTD, 1 << 20,
	       true, 0, 0);
	record("precopy_raw_staged", PRECOPY, VMMIG_COMPRESS_NONE, 0, false,
	       2, 0);
	record("hybrid", HYBRID, VMMIG_COMPRESS_ZSTD, 1 << 20, true, 4, 2);
	record("postcopy", POSTCOPY, VMMIG_COMPRESS_ZSTD, 0, false, 6, 2);
	resume_seed();
	crafted_seeds();
	decode_seeds();
	return 0;
}
