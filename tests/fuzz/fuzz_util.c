/* SPDX-License-Identifier: MIT */
/* Transport, memory and CRC fixing for the fuzz targets (fuzz.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "session/session.h"
#include "fuzz.h"
#include "wire/le.h"
#include "wire/wire.h"

uint8_t *fz_memory(void)
{
	static uint8_t *mem;

	if (!mem) {
		mem = mmap(NULL, FZ_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED)
			abort(); /* a test program: nothing to fuzz without it */
	}
	/* Not cleared between inputs: clearing costs more than the rest of
	 * a short input, and no check depends on what the pages hold. */
	return mem;
}

void fz_fix_records(uint8_t *buf, size_t len)
{
	size_t pos = 0;
	uint32_t seq = 0;

	while (len - pos >= WIRE_HDR_SIZE) {
		uint8_t *h = buf + pos;
		uint32_t plen = get_le32(h + 4);

		if (plen > WIRE_MAX_PAYLOAD || plen > len - pos - WIRE_HDR_SIZE)
			break;
		put_le32(h + 12, seq++);
		put_le32(h + 8, wire_record_crc_flat(h, WIRE_HDR_SIZE + plen));
		pos += WIRE_HDR_SIZE + plen;
	}
}

uint8_t *fz_stream_copy(const uint8_t *data, size_t size, size_t *len)
{
	uint8_t *buf;

	*len = size ? size - 1 : 0;
	buf = malloc(*len ? *len : 1);
	if (!buf)
		abort();
	if (*len)
		memcpy(buf, data + 1, *len);
	if (size && (data[0] & FZ_MODE_FIXCRC))
		fz_fix_records(buf, *len);
	return buf;
}

/* ---- the transport ---- */

#define FZ_OWN_CAP 256 /* a synthesised stream: one HELLO */

struct fz_chan {
	const uint8_t *in;
	size_t len, pos;
	uint8_t own[FZ_OWN_CAP];
};

void fz_chan_feed(void *chan_priv, const uint8_t *in, size_t len)
{
	struct fz_chan *c = chan_priv;

	c->in = in;
	c->len = len;
	c->pos = 0;
}

static int fz_accept(void *listener, void *chan, int timeout_ms)
{
	struct fz_listener *l = listener;
	struct fz_chan *c = chan;

	(void)timeout_ms;
	/* A destination drops strangers and accepts again: after as many
	 * connections as a migration can have, nobody else is coming. */
	if (l->accepted > VMMIG_MAX_CHANNELS)
		return -ETIMEDOUT;
	if (l->accepted++ == 0) {
		fz_chan_feed(c, l->in, l->len);
		return 0;
	}
	if (!l->next)
		return -ECONNREFUSED;
	fz_chan_feed(c, c->own, l->next(l->opaque, l->accepted - 1, c->own,
					sizeof(c->own)));
	return 0;
}

static int fz_send(void *chan, const struct iovec *iov, int iovcnt)
{
	(void)chan;
	(void)iov;
	(void)iovcnt;
	return 0;
}

static int fz_recv(void *chan, const struct iovec *iov, int iovcnt)
{
	struct fz_chan *c = chan;

	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > c->len - c->pos)
			return -ECONNRESET;
		memcpy(iov[i].iov_base, c->in + c->pos, iov[i].iov_len);
		c->pos += iov[i].iov_len;
	}
	return 0;
}

static int fz_recv_some(void *chan, void *buf, size_t min, size_t max)
{
	struct fz_chan *c = chan;
	size_t n = c->len - c->pos < max ? c->len - c->pos : max;

	if (n < min)
		return -ECONNRESET;
	memcpy(buf, c->in + c->pos, n);
	c->pos += n;
	return (int)n;
}

static void fz_nop(void *p)
{
	(void)p;
}

static const struct vmmig_transport_ops fz_ops = {
	.version = VMMIG_TRANSPORT_OPS_VERSION,
	.name = "fuzz",
	.chan_size = sizeof(struct fz_chan),
	.listener_size = sizeof(struct fz_listener),
	.accept = fz_accept,
	.listener_close = fz_nop,
	.send = fz_send,
	.recv = fz_recv,
	.shutdown = fz_nop,
	.close = fz_nop,
	.recv_some = fz_recv_some,
};

const struct vmmig_transport_ops *fz_transport(void)
{
	return &fz_ops;
}
