/* SPDX-License-Identifier: MIT */
/* Record headers: byte layout, CRC, sealing, writing a whole record. */
#include <errno.h>
#include <string.h>

#include "le.h"
#include "pages_fmt.h"
#include "wire.h"

void wire_hdr_pack(uint8_t out[WIRE_HDR_SIZE], const struct wire_hdr *h)
{
	put_le16(out + 0, h->type);
	put_le16(out + 2, h->flags);
	put_le32(out + 4, h->len);
	put_le32(out + 8, h->crc);
	put_le32(out + 12, h->seq);
}

void wire_hdr_unpack(const uint8_t in[WIRE_HDR_SIZE], struct wire_hdr *h)
{
	h->type = get_le16(in + 0);
	h->flags = get_le16(in + 2);
	h->len = get_le32(in + 4);
	h->crc = get_le32(in + 8);
	h->seq = get_le32(in + 12);
}

uint32_t wire_record_crc(const uint8_t hdr[WIRE_HDR_SIZE],
			 const struct iovec *payload, int iovcnt)
{
	uint8_t h[WIRE_HDR_SIZE];
	uint32_t crc;

	memcpy(h, hdr, WIRE_HDR_SIZE);
	memset(h + 8, 0, 4); /* the crc field counts as zero */
	crc = vmmig_crc32c(0, h, WIRE_HDR_SIZE);
	for (int i = 0; i < iovcnt; i++)
		crc = vmmig_crc32c(crc, payload[i].iov_base, payload[i].iov_len);
	return crc;
}

uint32_t wire_record_crc_flat(const uint8_t *rec, size_t len)
{
	struct iovec body = { (void *)(rec + WIRE_HDR_SIZE),
			      len - WIRE_HDR_SIZE };

	/* PAGES: the batch header and the descriptors, as far as present. */
	if (get_le16(rec) == WIRE_PAGES && body.iov_len >= BATCH_HEAD) {
		struct pages_head ph;
		size_t meta;

		pages_head_unpack(rec + WIRE_HDR_SIZE, &ph);
		meta = BATCH_HEAD + DESC_SIZE * (size_t)ph.count;
		if (meta < body.iov_len)
			body.iov_len = meta;
	}
	return wire_record_crc(rec, &body, 1);
}

void wire_record_frame(uint8_t hdr[WIRE_HDR_SIZE], uint16_t type,
		       uint16_t flags, uint32_t seq,
		       const struct iovec *payload, int iovcnt)
{
	struct wire_hdr h = { .type = type, .flags = flags, .seq = seq };
	size_t len = 0;

	for (int i = 0; i < iovcnt; i++)
		len += payload[i].iov_len;
	h.len = (uint32_t)len;
	wire_hdr_pack(hdr, &h);
}

void wire_record_seal(uint8_t hdr[WIRE_HDR_SIZE], uint16_t type,
		      uint16_t flags, uint32_t seq, const struct iovec *payload,
		      int iovcnt)
{
	wire_record_frame(hdr, type, flags, seq, payload, iovcnt);
	put_le32(hdr + 8, wire_record_crc(hdr, payload, iovcnt));
}

int wire_write_record(wire_write_fn fn, void *cookie, uint16_t type,
		      uint16_t flags, uint32_t seq, const void *payload,
		      size_t len)
{
	uint8_t hdr[WIRE_HDR_SIZE];
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = WIRE_HDR_SIZE },
		{ .iov_base = (void *)payload, .iov_len = len },
	};

	if (len > WIRE_MAX_PAYLOAD || (len && !payload))
		return -EINVAL;
	wire_record_seal(hdr, type, flags, seq, &iov[1], 1);
	return fn(cookie, iov, len ? 2 : 1);
}
