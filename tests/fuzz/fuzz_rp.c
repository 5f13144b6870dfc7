/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the source's return path, as a malicious destination would
 * drive it. The input (after its mode byte) is channel 0's byte stream
 * from the destination: HELLO_ACK, then ACK, ERROR, DRAINED, REQ (with and
 * without REFETCH), DONE, KEEPALIVE, and after a post-copy reconnect the
 * DISCARD list of missing pages and RESUMED. Records go through the real
 * per-record code (src_rp_on_record, src_postcopy_on_missing) in this thread;
 * requested pages are encoded and sent on the urgent channel, whose sends
 * the fuzz transport drops.
 *
 * Mode byte: bit 0 fix-CRC (fuzz.h); bits 1-2 the phase: 0 pre-copy,
 * 1 switched and waiting for the ACK, 2 post-copy, 3 post-copy after a
 * reconnect (the missing-page list first); bit 3 no read-ahead; bit 4 (in
 * pre-copy) right after the handshake, before the bitmaps exist.
 */
#include <stdlib.h>
#include <string.h>

#include "source/source_main.h"
#include "fuzz.h"

#define MODE_PHASE(m) (((m) >> 1) & 3u)
#define MODE_NO_RA 8u
#define MODE_NO_BITMAPS 16u

enum { PH_PRECOPY, PH_SWITCHED, PH_POSTCOPY, PH_RESUMED };

static struct sender urgent;

static uint64_t **bitmaps(unsigned fill)
{
	uint64_t **bm = calloc(1, sizeof(*bm));
	size_t words = (FZ_NPAGES + 63) / 64;

	if (!bm || !(bm[0] = calloc(words, 8)))
		abort();
	if (fill) {
		memset(bm[0], 0xff, words * 8);
		bm[0][words - 1] = (1ull << (FZ_NPAGES % 64)) - 1;
	}
	return bm;
}

static void bitmaps_free(uint64_t **bm)
{
	free(bm[0]);
	free(bm);
}

/* The handshake's answer: 0 if it accepted the channel. */
static int read_hello_ack(struct vmmig_source *src)
{
	char err[WIRE_ERRLEN];
	const uint8_t *p;
	struct wire_status ws;
	struct wire_hdr h;

	if (wire_reader_next(src->rp_reader, &h, &p, NULL) ||
	    h.type != WIRE_HELLO_ACK ||
	    wire_status_unpack(p, h.len, &ws, err, sizeof(err)))
		return -1;
	return ws.status;
}

static void run(struct vmmig_source *src, unsigned mode)
{
	char err[WIRE_ERRLEN];
	const uint8_t *p;
	struct wire_hdr h;
	int ret = 0;

	if (read_hello_ack(src))
		return;
	if (!(mode & MODE_NO_RA) &&
	    wire_reader_set_readahead(src->rp_reader, chan_recv_some,
				      WIRE_READAHEAD_CAP))
		abort();
	while (MODE_PHASE(mode) == PH_RESUMED && ret == 0) {
		if (wire_reader_next(src->rp_reader, &h, &p, NULL))
			return;
		ret = src_postcopy_on_missing(src, &h, p, err, sizeof(err));
	}
	if (ret < 0)
		return;
	while (wire_reader_next(src->rp_reader, &h, &p, NULL) == 0)
		if (src_rp_on_record(src, &h, p))
			return;
}

/* One source for the whole run: creating one costs more than a short
 * input (it is a large zeroed object). Each input gets it back in the
 * state the migration thread has when the return path starts. */
static struct vmmig_source *source(void)
{
	static struct vmmig_source *src;

	if (src)
		return src;
	if (vmmig_source_new(&src) ||
	    vmmig_source_add_region(src, FZ_REGION_ID, 0, fz_memory(),
				    FZ_SIZE))
		abort();
	src->ndata = 1;
	src->nchan = 2;
	return src;
}

static void reset(struct vmmig_source *src, unsigned mode)
{
	unsigned phase = MODE_PHASE(mode);

	failure_clear(&src->sess.fail);
	atomic_store(&src->sess.sh.abort, false);
	atomic_store(&src->hint, 0);
	src->acked = src->done = src->drained = false;
	src->postcopy_served = 0;
	for (unsigned i = 0; i < src->nchan; i++)
		if (chan_init(&src->chan[i], fz_transport(), i, &src->sess.sh))
			abort();
	if (phase != PH_PRECOPY || !(mode & MODE_NO_BITMAPS)) {
		src->send_bm = bitmaps(phase != PH_PRECOPY);
		src->dirty_bm = bitmaps(0);
		src->refetch_bm = bitmaps(0);
	}
	/* The urgent channel's sender; its encoder and batch buffer live
	 * across inputs too. */
	if (!urgent.enc && (enc_ctx_new(&(struct enc_config){ 0 }, &urgent.enc) ||
			    wire_batch_init(&urgent.batch)))
		abort();
	src->snd[src->ndata] = (struct sender){ .src = src,
		.c = &src->chan[src->ndata], .enc = urgent.enc,
		.batch = urgent.batch };
	wire_batch_begin(&src->snd[src->ndata].batch, FZ_REGION_ID);
	src->postcopy = phase != PH_PRECOPY;
	src->acked = phase >= PH_POSTCOPY;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmmig_source *src = source();
	unsigned mode = size ? data[0] : 0;
	size_t len;
	uint8_t *in = fz_stream_copy(data, size, &len);

	reset(src, mode);
	fz_chan_feed(src->chan[0].priv, in, len);
	if (wire_reader_new(chan_recv, &src->chan[0], NULL, 0,
			    &src->rp_reader))
		abort();

	run(src, mode);

	urgent.batch = src->snd[src->ndata].batch;
	if (src->send_bm) {
		bitmaps_free(src->send_bm);
		bitmaps_free(src->dirty_bm);
		bitmaps_free(src->refetch_bm);
		src->send_bm = src->dirty_bm = src->refetch_bm = NULL;
	}
	wire_reader_free(src->rp_reader);
	src->rp_reader = NULL;
	for (unsigned i = 0; i < src->nchan; i++)
		chan_close(&src->chan[i]);
	free(in);
	return 0;
}
