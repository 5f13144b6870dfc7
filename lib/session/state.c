/* SPDX-License-Identifier: MIT */
/* CPU and device state: opaque blobs, sent in chunks after the last pages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

#define STATE_MAX_BLOB (1ull << 30)
#define STATE_MAX_TOTAL (4ull << 30)
#define STATE_CHUNK (1u << 20)

VMMIG_API int vmmig_state_put(struct vmmig_state_sink *sink, uint32_t id,
			      const void *data, size_t len)
{
	struct state_blob *b;

	if (!sink || (!data && len))
		return -EINVAL;
	if (len > STATE_MAX_BLOB || sink->total + len > STATE_MAX_TOTAL)
		return -E2BIG;
	if (sink->n == sink->cap) {
		unsigned cap = sink->cap ? sink->cap * 2 : 8;

		b = realloc(sink->b, cap * sizeof(*b));
		if (!b)
			return -ENOMEM;
		sink->b = b;
		sink->cap = cap;
	}
	b = &sink->b[sink->n];
	b->data = malloc(len ? len : 1);
	if (!b->data)
		return -ENOMEM;
	if (len)
		memcpy(b->data, data, len);
	b->id = id;
	b->len = b->total = b->cap = len;
	sink->n++;
	sink->total += len;
	return 0;
}

void sess_state_sink_free(struct vmmig_state_sink *s)
{
	for (unsigned i = 0; i < s->n; i++)
		free(s->b[i].data);
	free(s->b);
	memset(s, 0, sizeof(*s));
}

int sess_state_send(struct chan *c, const struct vmmig_state_sink *s)
{
	uint8_t head[WIRE_STATE_HEAD];

	for (unsigned i = 0; i < s->n; i++) {
		const struct state_blob *b = &s->b[i];
		uint64_t off = 0;

		do {
			size_t n = b->len - off > STATE_CHUNK ? STATE_CHUNK
							      : b->len - off;
			struct wire_state ws = { .blob_id = b->id,
						 .total_len = b->len,
						 .offset = off };
			bool last = off + n == b->len;
			struct iovec iov[3];
			uint8_t hdr[WIRE_HDR_SIZE];
			int ret;

			wire_state_pack(head, &ws);
			iov[1] = (struct iovec){ head, sizeof(head) };
			iov[2] = (struct iovec){ b->data + off, n };
			/* The lock: a failing rp thread may send ERROR on this
			 * channel meanwhile (chan_send_error), with the next
			 * sequence number. */
			pthread_mutex_lock(&c->tx_lock);
			wire_record_seal(hdr, WIRE_STATE,
					 last ? WIRE_STATE_LAST : 0,
					 c->tx_seq++, &iov[1], 2);
			iov[0] = (struct iovec){ hdr, sizeof(hdr) };
			ret = chan_send(c, iov, 3);
			pthread_mutex_unlock(&c->tx_lock);
			if (ret)
				return ret;
			off += n;
		} while (off < b->len);
	}
	return 0;
}

/* Room for @need bytes of @b: memory grows with the bytes that arrived,
 * not with the length a peer announced (a 40-byte record must not make us
 * reserve a gigabyte). */
static int blob_reserve(struct state_blob *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 4096;
	uint8_t *nd;

	if (need <= b->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > b->total)
		cap = b->total;
	nd = realloc(b->data, cap ? cap : 1);
	if (!nd)
		return -ENOMEM;
	b->data = nd;
	b->cap = cap;
	return 0;
}

/* Chunks of one blob arrive in order and contiguously, every one with the
 * blob's length; anything else is a malformed stream. Every check comes
 * before a byte is copied. */
int sess_state_receive(struct vmmig_state_sink *s, uint16_t flags,
		       const uint8_t *payload, size_t len, char *err,
		       size_t errlen)
{
	struct state_blob *prev = s->n ? &s->b[s->n - 1] : NULL;
	struct wire_state ws;
	struct state_blob *b;
	size_t n;
	int ret;

	ret = wire_state_unpack(payload, len, &ws, err, errlen);
	if (ret)
		return ret;
	n = ws.chunk_len; /* unpack: offset + n <= total_len */
	if (ws.total_len > STATE_MAX_BLOB) {
		snprintf(err, errlen, "state blob %u: %llu bytes (at most %llu)",
			 ws.blob_id, (unsigned long long)ws.total_len,
			 STATE_MAX_BLOB);
		return -EPROTO;
	}
	if (ws.offset == 0) {
		if (prev && prev->len != prev->total) {
			snprintf(err, errlen, "state blob %u begins before blob "
				 "%u is complete", ws.blob_id, prev->id);
			return -EPROTO;
		}
		if (s->total + ws.total_len > STATE_MAX_TOTAL) {
			snprintf(err, errlen, "state blobs exceed %llu bytes",
				 STATE_MAX_TOTAL);
			return -EPROTO;
		}
		ret = vmmig_state_put(s, ws.blob_id, NULL, 0);
		if (ret)
			return ret;
		b = &s->b[s->n - 1];
		b->len = 0; /* bytes received so far */
		b->total = ws.total_len;
		s->total += ws.total_len;
	} else {
		b = prev;
		if (!b || b->id != ws.blob_id || b->len != ws.offset) {
			snprintf(err, errlen,
				 "state blob %u: chunk at %llu out of order",
				 ws.blob_id, (unsigned long long)ws.offset);
			return -EPROTO;
		}
	}
	/* The buffer was sized from the first chunk's length: a later chunk
	 * must announce the same one. */
	if (ws.total_len != b->total ||
	    !(flags & WIRE_STATE_LAST) != (ws.offset + n < b->total)) {
		snprintf(err, errlen,
			 "state blob %u: chunk disagrees with the blob's length",
			 ws.blob_id);
		return -EPROTO;
	}
	ret = blob_reserve(b, ws.offset + n);
	if (ret)
		return ret;
	if (n)
		memcpy(b->data + ws.offset, ws.chunk, n);
	b->len = ws.offset + n;
	return 0;
}

bool sess_state_complete(const struct vmmig_state_sink *s)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->b[i].len != s->b[i].total)
			return false;
	return true;
}
