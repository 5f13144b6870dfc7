/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "rec_tap.h"
#include "wire/pages_fmt.h"

/* Room for the largest part of a record the tap reads: a HELLO whole (its
 * region table), or a PAGES record's batch header and descriptors. */
#define HELLO_MAX (40 + 24 * WIRE_MAX_REGIONS)
#define BUF_SIZE (WIRE_HDR_SIZE + HELLO_MAX)

enum stage {
	ST_HDR,    /* reading a record header */
	ST_HEAD,   /* reading the part of the payload the tap looks at */
	ST_SKIP,   /* passing over the rest of the payload */
	ST_BROKEN, /* lost the framing: counts nothing more */
};

/* One connection's parser; the library zeroes it (ST_HDR, no index).
 * Sends on a channel never overlap: no lock. */
struct tap_chan {
	uint8_t buf[BUF_SIZE];
	size_t have;        /* bytes in buf */
	size_t want;        /* ST_HEAD: bytes buf must hold */
	uint64_t skip;      /* ST_SKIP: payload bytes left */
	struct wire_hdr h;  /* of the current record */
	int index;          /* HELLO channel index + 1; 0: no HELLO yet */
	enum stage st;
};

struct tap_stats tap;
static struct vmmig_transport_ops ops;
static size_t inner_size; /* the TCP channel's state comes first */

void tap_reset(void)
{
	for (unsigned c = 0; c < TAP_MAX_CHAN; c++) {
		for (unsigned e = 0; e < WIRE_ENC__COUNT; e++)
			atomic_store(&tap.pages[c][e], 0);
		atomic_store(&tap.records[c], 0);
	}
	atomic_store(&tap.nchannels, 0);
	atomic_store(&tap.hellos, 0);
	atomic_store(&tap.bad, 0);
}

static struct tap_chan *state(void *chan)
{
	return (struct tap_chan *)((char *)chan + inner_size);
}

static void broken(struct tap_chan *q)
{
	q->st = ST_BROKEN;
	atomic_fetch_add(&tap.bad, 1);
}

/* The payload from byte @from on is not looked at. */
static void skip_rest(struct tap_chan *q, uint64_t from)
{
	q->skip = q->h.len - from;
	q->have = 0;
	q->st = q->skip ? ST_SKIP : ST_HDR;
}

static void on_header(struct tap_chan *q)
{
	wire_hdr_unpack(q->buf, &q->h);
	if (q->h.len > WIRE_MAX_PAYLOAD)
		return broken(q);
	if (q->h.type == WIRE_HELLO) {
		if (q->h.len > HELLO_MAX)
			return broken(q);
		q->want = WIRE_HDR_SIZE + q->h.len;
		q->st = ST_HEAD;
	} else if (q->h.type == WIRE_PAGES) {
		if (q->h.len < BATCH_HEAD)
			return broken(q);
		q->want = WIRE_HDR_SIZE + BATCH_HEAD;
		q->st = ST_HEAD;
	} else {
		skip_rest(q, 0);
	}
}

static void on_hello(struct tap_chan *q)
{
	static _Thread_local struct wire_region regions[WIRE_MAX_REGIONS];
	struct wire_hello hello;
	char err[WIRE_ERRLEN];

	if (wire_hello_unpack(q->buf + WIRE_HDR_SIZE, q->h.len, &hello,
			      regions, err, sizeof(err)) ||
	    hello.channel >= TAP_MAX_CHAN)
		return broken(q);
	q->index = hello.channel + 1;
	atomic_store(&tap.nchannels, hello.nchannels);
	atomic_fetch_add(&tap.hellos, 1);
	skip_rest(q, q->h.len);
}

/* The batch header is in: read on to the end of the descriptors. Then
 * count them. */
static void on_pages(struct tap_chan *q)
{
	const uint8_t *p = q->buf + WIRE_HDR_SIZE;
	struct pages_head ph;
	size_t meta;

	pages_head_unpack(p, &ph);
	meta = BATCH_HEAD + (size_t)ph.count * DESC_SIZE;
	if (!ph.count || ph.count > WIRE_MAX_BATCH || q->h.len < meta ||
	    !q->index)
		return broken(q);
	if (q->have < WIRE_HDR_SIZE + meta) {
		q->want = WIRE_HDR_SIZE + meta;
		return;
	}
	for (unsigned i = 0; i < ph.count; i++) {
		struct wire_page_desc d;

		if (!pages_desc_unpack(p + BATCH_HEAD + i * DESC_SIZE, &d) ||
		    d.enc > WIRE_ENC_ZSTD_NEXT)
			return broken(q);
		/* A page of a zstd run is a zstd page (wire.h). */
		atomic_fetch_add(&tap.pages[q->index - 1]
				 [d.enc < WIRE_ENC__COUNT ? d.enc
							  : WIRE_ENC_ZSTD], 1);
	}
	atomic_fetch_add(&tap.records[q->index - 1], 1);
	skip_rest(q, meta);
}

static void feed(struct tap_chan *q, const uint8_t *p, size_t n)
{
	while (n && q->st != ST_BROKEN) {
		size_t need, k;

		if (q->st == ST_SKIP) {
			k = q->skip < n ? (size_t)q->skip : n;
			q->skip -= k;
			p += k;
			n -= k;
			if (!q->skip)
				q->st = ST_HDR;
			continue;
		}
		need = q->st == ST_HDR ? WIRE_HDR_SIZE : q->want;
		k = need - q->have < n ? need - q->have : n;
		memcpy(q->buf + q->have, p, k);
		q->have += k;
		p += k;
		n -= k;
		if (q->have < need)
			break; /* n is 0: the rest comes with the next send */
		if (q->st == ST_HDR)
			on_header(q);
		else if (q->h.type == WIRE_HELLO)
			on_hello(q);
		else
			on_pages(q);
	}
}

static void feed_iov(void *chan, const struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++)
		feed(state(chan), iov[i].iov_base, iov[i].iov_len);
}

/* Count what the transport took: bytes in the order they go out. */
static int tap_send(void *chan, const struct iovec *iov, int iovcnt)
{
	int ret = vmmig_transport_tcp()->send(chan, iov, iovcnt);

	if (!ret)
		feed_iov(chan, iov, iovcnt);
	return ret;
}

static int tap_send_queue(void *chan, const struct iovec *iov, int iovcnt)
{
	int ret = vmmig_transport_tcp()->send_queue(chan, iov, iovcnt);

	/* The memory stays valid until a later send_wait(): still is. */
	if (!ret)
		feed_iov(chan, iov, iovcnt);
	return ret;
}

const struct vmmig_transport_ops *tap_tcp_ops(void)
{
	const struct vmmig_transport_ops *in = vmmig_transport_tcp();

	ops = *in;
	inner_size = (in->chan_size + 63) & ~(size_t)63;
	ops.name = "tap-tcp";
	ops.chan_size = inner_size + sizeof(struct tap_chan);
	ops.send = tap_send;
	ops.send_queue = tap_send_queue;
	return &ops;
}
