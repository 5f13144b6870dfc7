/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the destination's whole receive path. The input (after its
 * mode byte) is channel 0's byte stream from a source: HELLO, then PAGES of
 * every encoding, ROUND, DRAIN, DISCARD, SWITCH, STATE, POSTCOPY, END,
 * ERROR, anything. It goes through the real src_handshake (dst_accept_all) and
 * the real per-record code (wire_reader_next, dst_on_record), in this
 * thread, with no session thread. What would wait on another thread is
 * stood in for: the other channels' HELLOs are built here; at SWITCH and
 * DRAIN they are taken to have lined up; POSTCOPY is checked by its parser
 * and then pages are placed by a stand-in for userfaultfd that keeps the
 * same rule (only a pending page may be placed).
 *
 * Mode byte: bit 0 fix-CRC (fuzz.h), bit 1 raw pages staged (else received
 * in place), bit 2 read-ahead on channel 0, bit 3 a small read-ahead
 * buffer (payloads larger than it bypass it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dest/dest_main.h"
#include "fuzz.h"

#define MODE_STAGED 2u
#define MODE_READAHEAD 4u
#define MODE_SMALL_RA 8u

static int nop_load(void *opaque, uint32_t id, const void *data, size_t len)
{
	(void)opaque;
	(void)id;
	(void)data;
	(void)len;
	return 0;
}

static int nop_start(void *opaque)
{
	(void)opaque;
	return 0;
}

static const struct vmmig_dest_ops fz_dest_ops = {
	.version = VMMIG_DEST_OPS_VERSION,
	.load_state = nop_load,
	.start = nop_start,
};

/* The HELLO of the @n-th channel after the first, as the source would
 * send it: what channel 0 announced, another channel index. */
static size_t other_hello(void *opaque, unsigned n, uint8_t *buf, size_t cap)
{
	struct vmmig_dest *dst = opaque;
	struct wire_region regs[1] = { { .id = FZ_REGION_ID,
					 .size = FZ_SIZE } };
	struct wire_hello h = { .magic = WIRE_MAGIC, .version = WIRE_VERSION,
				.nchannels = (uint16_t)dst->nchan,
				.page_size = 4096, .nregions = 1 };
	struct iovec iov;
	int len;

	memcpy(h.uuid, dst->uuid, sizeof(h.uuid));
	/* Indices in order, skipping the one channel 0's stream took. */
	h.channel = (uint16_t)(n - 1 < dst->chan[0].index ? n - 1 : n);
	len = wire_hello_pack(buf + WIRE_HDR_SIZE, cap - WIRE_HDR_SIZE, &h,
			      regs);
	if (len < 0)
		return 0;
	iov = (struct iovec){ buf + WIRE_HDR_SIZE, (size_t)len };
	wire_record_seal(buf, WIRE_HELLO, 0, 0, &iov, 1);
	return WIRE_HDR_SIZE + (size_t)len;
}

/* userfaultfd's stand-in after POSTCOPY: a page lands only if pending.
 * The receivers' page sink, with this in place of dst_pc_place(). */
static int fz_place(void *cookie, unsigned ri, uint64_t page, const void *data)
{
	struct receiver *rv = cookie;
	struct vmmig_dest *dst = rv->dst;
	uint8_t *p;

	if (!rv->placing)
		return dst_sink_ops.place(cookie, ri, page, data);
	if (!dst_pc_pending(dst, ri, page))
		return -EPROTO;
	__atomic_fetch_and(&dst->pc->r[ri].pending[page / 64],
			   ~(1ull << (page % 64)), __ATOMIC_RELEASE);
	p = dst->sess.regions.r[ri].host + page * 4096;
	if (data)
		memcpy(p, data, 4096);
	else
		memset(p, 0, 4096);
	return 0;
}

/* POSTCOPY where dst_on_record() would take it: 0 to read on. */
static int fake_postcopy(struct receiver *rv, const struct wire_hdr *h,
			 const uint8_t *payload)
{
	static struct wire_page_sink_ops ops;
	struct vmmig_dest *dst = rv->dst;
	char err[WIRE_ERRLEN];
	uint32_t flags;

	if (wire_postcopy_unpack(payload, h->len, &flags, err, sizeof(err)))
		return -EPROTO;
	if (!dst->pc)
		return -EPROTO; /* no DISCARD: nothing pending, nothing to do */
	dst->rp_chan = rv->c;
	dst->pc_armed = true;
	rv->placing = true;
	ops = dst_sink_ops;
	ops.place = fz_place;
	return wire_reader_set_sink(rv->rd, &ops, rv);
}

/* Stand in for the other channels where channel 0 would wait for them;
 * 0 to go on, -1 where channel 0 could never go on. */
static int others_line_up(struct vmmig_dest *dst, struct receiver *rv,
			  const struct wire_hdr *h)
{
	if (h->type == WIRE_SWITCH) {
		if (rv->c->index != 0)
			return -1; /* would wait for the guest to start */
		dst->switched += dst->nchan - 1;
	} else if (h->type == WIRE_DRAIN && rv->c->index == 0) {
		for (unsigned i = 1; i < dst->nchan; i++)
			if (dst_on_record(&dst->rcv[i], &(struct wire_hdr){
					  .type = WIRE_DRAIN }, NULL))
				return -1;
	}
	return 0;
}

static void receive(struct vmmig_dest *dst, unsigned mode)
{
	struct receiver *rv = &dst->rcv[0];

	if (mode & MODE_READAHEAD)
		(void)wire_reader_set_readahead(rv->rd, chan_recv_some,
						mode & MODE_SMALL_RA
							? 700 : WIRE_READAHEAD_CAP);
	for (;;) {
		struct wire_page_counts pc = { 0 };
		const uint8_t *payload;
		struct wire_hdr h;

		if (wire_reader_next(rv->rd, &h, &payload, &pc))
			return;
		if (h.type == WIRE_PAGES || h.type == WIRE_ZERO)
			continue;
		if (others_line_up(dst, rv, &h))
			return;
		if (h.type == WIRE_POSTCOPY && rv->c->index == 0 &&
		    dst->switched >= dst->nchan && !dst->pc_armed) {
			if (fake_postcopy(rv, &h, payload))
				return;
			continue;
		}
		if (dst_on_record(rv, &h, payload))
			return;
	}
}

/* One destination for the whole run: creating one costs more than a
 * short input (it is a large zeroed object). Each input gets it back as
 * vmmig_dest_start() leaves it. */
static struct vmmig_dest *dest(void)
{
	static struct vmmig_dest *dst;
	uint8_t *mem = fz_memory();

	if (dst)
		return dst;
	if (vmmig_dest_new(&dst) ||
	    vmmig_dest_add_region(dst, FZ_REGION_ID, 0, mem, FZ_SIZE) ||
	    vmmig_dest_set_ops(dst, &fz_dest_ops, NULL))
		abort();
	dst->lis.ops = fz_transport();
	dst->wregions = calloc(1, sizeof(*dst->wregions));
	if (!dst->wregions)
		abort();
	dst->wregions[0] = (struct wire_dest_region){
		.id = FZ_REGION_ID, .npages = FZ_NPAGES };
	return dst;
}

static void reset(struct vmmig_dest *dst, unsigned mode)
{
	failure_clear(&dst->sess.fail);
	atomic_store(&dst->sess.sh.abort, false);
	dst->uuid_set = false;
	memset(dst->uuid, 0, sizeof(dst->uuid));
	dst->nchan = 0;
	dst->switched = 0;
	dst->early_dropped = false;
	dst->pc_armed = false;
	dst->rp_chan = NULL;
	/* No handshake deadline thread per connection: this transport never
	 * blocks, so the deadline has nothing to end (and a thread per input
	 * would cost more than the input). */
	dst->sess.opt.v[VMMIG_OPT_HANDSHAKE_TIMEOUT_MS] = -1;
	if (vmmig_dest_set_option(dst, VMMIG_OPT_RECV_DIRECT,
				  !(mode & MODE_STAGED)) ||
	    dst_restore_init(dst))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_listener lst;
	struct vmmig_dest *dst = dest();
	unsigned mode = size ? data[0] : 0;
	size_t len;
	uint8_t *in = fz_stream_copy(data, size, &len);

	reset(dst, mode);
	lst = (struct fz_listener){ .in = in, .len = len, .next = other_hello,
				    .opaque = dst };
	dst->lis.priv = &lst;
	dst->lis.open = true;

	if (dst_accept_all(dst, false) == 0)
		receive(dst, mode);

	for (unsigned i = 0; i < VMMIG_MAX_CHANNELS; i++) {
		wire_reader_free(dst->rcv[i].rd);
		dst->rcv[i].rd = NULL;
		chan_close(&dst->chan[i]);
	}
	dst_restore_free(dst);
	dst_pc_free(dst);
	sess_state_sink_free(&dst->state);
	dst->lis.priv = NULL;
	dst->lis.open = false;
	free(in);
	return 0;
}
