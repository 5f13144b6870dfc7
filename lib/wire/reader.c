/* SPDX-License-Identifier: MIT */
/*
 * Destination side: read records and validate them completely (sequence,
 * length, type, flags, CRC) before handing them on; PAGES records are
 * decoded by reader_pages.c and handed to the page sink. Nothing from the
 * peer is trusted. After any failure the reader stays failed (the stream is
 * out of step). Optionally it reads ahead (see wire_reader_set_readahead).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader_priv.h"
#include "zero_range.h"

int reader_fail(struct wire_reader *r, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	r->failed = ret;
	return ret;
}

static int check_regions(const struct wire_dest_region *regions,
			 unsigned nregions)
{
	if (nregions > WIRE_MAX_REGIONS || (nregions && !regions))
		return -EINVAL;
	for (unsigned i = 0; i < nregions; i++) {
		for (unsigned j = 0; j < i; j++)
			if (regions[j].id == regions[i].id)
				return -EINVAL;
	}
	return 0;
}

int wire_reader_new(wire_read_fn fn, void *cookie,
		    const struct wire_dest_region *regions, unsigned nregions,
		    struct wire_reader **out)
{
	struct wire_reader *r;

	*out = NULL;
	if (!fn || check_regions(regions, nregions))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fn = fn;
	r->cookie = cookie;
	/* The page buffers and the zstd context come with the first PAGES
	 * record (reader_pages.c): a return path never needs them. */
	if (wire_reader_set_regions(r, regions, nregions)) {
		wire_reader_free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

int wire_reader_set_regions(struct wire_reader *r,
			    const struct wire_dest_region *regions,
			    unsigned nregions)
{
	struct wire_dest_region *copy;

	if (check_regions(regions, nregions))
		return -EINVAL;
	copy = calloc(nregions ? nregions : 1, sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	if (nregions)
		memcpy(copy, regions, nregions * sizeof(*regions));
	free(r->regions);
	r->regions = copy;
	r->nregions = nregions;
	return 0;
}

void wire_reader_free(struct wire_reader *r)
{
	if (!r)
		return;
	ZSTD_freeDCtx(r->zd);
	free(r->ra);
	free(r->rawbuf);
	free(r->zpage);
	free(r->zrun);
	free(r->scratch);
	free(r->buf);
	free(r->regions);
	free(r);
}

const char *wire_reader_error(const struct wire_reader *r)
{
	return r->err;
}

uint64_t wire_reader_pages(const struct wire_reader *r)
{
	return r->pages;
}

int wire_reader_set_sink(struct wire_reader *r,
			 const struct wire_page_sink_ops *ops, void *cookie)
{
	if (ops && (!ops->begin || !ops->place))
		return -EINVAL;
	r->sink = ops;
	r->sink_cookie = cookie;
	return 0;
}

int wire_reader_set_readahead(struct wire_reader *r, wire_read_some_fn fn,
			      size_t cap)
{
	/* Once only: bytes read ahead are part of the stream, and dropping
	 * them would put it out of step. */
	if (r->some)
		return -EBUSY;
	if (!fn || cap < 1 || cap > INT_MAX)
		return -EINVAL;
	r->ra = malloc(cap);
	if (!r->ra)
		return -ENOMEM;
	r->racap = cap;
	r->some = fn;
	return 0;
}

/*
 * Fill @iov from the read-ahead buffer. When it runs dry, one receive
 * refills it: at least what this read still lacks (never more, which might
 * not come yet), at most the whole buffer, so the rest of a small record
 * and often the records behind it arrive with its first bytes. A rest too
 * large for the buffer is received straight into place instead (no copy).
 */
static int ra_read(struct wire_reader *r, const struct iovec *iov, int n)
{
	size_t want = 0;
	int ret;

	for (int i = 0; i < n; i++)
		want += iov[i].iov_len;
	for (int i = 0; i < n; i++) {
		uint8_t *p = iov[i].iov_base;
		size_t len = iov[i].iov_len, k;

		while (len) {
			if (r->rapos == r->ralen && want > r->racap) {
				struct iovec tail = { p, len };

				if (len == iov[i].iov_len)
					return r->fn(r->cookie, iov + i, n - i);
				ret = r->fn(r->cookie, &tail, 1);
				if (ret || i + 1 == n)
					return ret;
				return r->fn(r->cookie, iov + i + 1, n - i - 1);
			}
			if (r->rapos == r->ralen) {
				ret = r->some(r->cookie, r->ra, want, r->racap);
				if (ret < 0)
					return ret;
				if ((size_t)ret < want ||
				    (size_t)ret > r->racap)
					return -EIO; /* a broken read fn */
				r->rapos = 0;
				r->ralen = (size_t)ret;
			}
			k = r->ralen - r->rapos < len ? r->ralen - r->rapos
						      : len;
			memcpy(p, r->ra + r->rapos, k);
			r->rapos += k;
			p += k;
			len -= k;
			want -= k;
		}
	}
	return 0;
}

int reader_read_iov(struct wire_reader *r, struct iovec *iov, int n)
{
	int ret = r->some ? ra_read(r, iov, n) : r->fn(r->cookie, iov, n);

	if (ret < 0)
		return reader_fail(r, ret, "stream read failed (%s)", strerror(-ret));
	return 0;
}

int reader_check_crc(struct wire_reader *r, const struct wire_hdr *h,
		     const struct iovec *iov, int n)
{
	if (wire_record_crc(r->hdr, iov, n) != h->crc)
		return reader_fail(r, -EPROTO, "record crc mismatch (seq %u)", h->seq);
	return 0;
}

int reader_read_payload(struct wire_reader *r, const struct wire_hdr *h)
{
	struct iovec iov;
	int ret;

	if (h->len > r->bufcap) {
		size_t cap = r->bufcap ? r->bufcap : 4096;
		uint8_t *nb;

		while (cap < h->len)
			cap *= 2;
		if (cap > WIRE_MAX_PAYLOAD)
			cap = WIRE_MAX_PAYLOAD;
		nb = realloc(r->buf, cap);
		if (!nb)
			return reader_fail(r, -ENOMEM, "no memory for a %u-byte record",
				    h->len);
		r->buf = nb;
		r->bufcap = cap;
	}
	iov = (struct iovec){ r->buf, h->len };
	if (h->len) {
		ret = reader_read_iov(r, &iov, 1);
		if (ret < 0)
			return ret;
	}
	return reader_check_crc(r, h, &iov, 1);
}

/* Header flags a known mandatory type may carry. */
static int known_flags(uint16_t type)
{
	switch (type) {
	case WIRE_HELLO:
	case WIRE_HELLO_ACK:
	case WIRE_END:
	case WIRE_ACK:
	case WIRE_READY:
	case WIRE_COMMIT:
	case WIRE_STARTED:
	case WIRE_DIGEST:
	case WIRE_ERROR:
	case WIRE_ROUND:
	case WIRE_SWITCH:
	case WIRE_POSTCOPY:
	case WIRE_DONE:
	case WIRE_RESUMED:
	case WIRE_DRAIN:
	case WIRE_DRAINED:
		return 0;
	case WIRE_REQ:
		return WIRE_REQ_REFETCH;
	case WIRE_DISCARD:
		return WIRE_DISCARD_EARLY;
	case WIRE_STATE:
		return WIRE_STATE_LAST;
	default:
		return -1;
	}
}

/* The payload length of a type that has one length only and no unpack
 * function of its own to check it (docs/wire-format.md 4), else -1. */
static long fixed_len(uint16_t type)
{
	switch (type) {
	case WIRE_SWITCH:
	case WIRE_RESUMED:
	case WIRE_DRAIN:
	case WIRE_DRAINED:
		return 0;
	case WIRE_ROUND:
		return WIRE_ROUND_SIZE;
	default:
		return -1;
	}
}

int wire_reader_next(struct wire_reader *r, struct wire_hdr *h,
		     const uint8_t **payload, struct wire_page_counts *cnt)
{
	struct iovec iov = { r->hdr, WIRE_HDR_SIZE };
	int ret, mask;

	*payload = NULL;
	if (r->failed)
		return r->failed;
	for (;;) {
		ret = reader_read_iov(r, &iov, 1);
		if (ret < 0)
			return ret;
		wire_hdr_unpack(r->hdr, h);
		if (h->seq != r->seq)
			return reader_fail(r, -EPROTO, "record out of sequence: expected "
				    "seq %u, got %u", r->seq, h->seq);
		if (h->len > WIRE_MAX_PAYLOAD)
			return reader_fail(r, -EPROTO, "record length %u exceeds the "
				    "maximum %u", h->len, WIRE_MAX_PAYLOAD);
		r->seq++;
		if (h->type == WIRE_PAGES) {
			ret = reader_read_pages(r, h, cnt);
		} else if (h->type == WIRE_ZERO) {
			ret = reader_read_zero(r, h, cnt);
		} else if (h->type == WIRE_ZERO) {
			ret = reader_read_zero(r, h, cnt);
		} else if (!(h->type & WIRE_MANDATORY) &&
			   h->type != WIRE_ROUND) {
			/* Optional and not for us: check it, then drop it. */
			ret = reader_read_payload(r, h);
			if (ret == 0 && cnt)
				cnt->bytes += WIRE_HDR_SIZE + h->len;
			if (ret == 0)
				continue;
		} else {
			mask = known_flags(h->type);
			if (mask < 0)
				return reader_fail(r, -EPROTO, "unknown mandatory "
					    "record type 0x%04x", h->type);
			if (h->flags & ~mask)
				return reader_fail(r, -EPROTO, "record type 0x%04x has "
					    "unknown flags 0x%x", h->type,
					    h->flags);
			if (fixed_len(h->type) >= 0 &&
			    h->len != (uint32_t)fixed_len(h->type))
				return reader_fail(r, -EPROTO, "record type 0x%04x "
					    "has %u bytes, not %ld", h->type,
					    h->len, fixed_len(h->type));
			ret = reader_read_payload(r, h);
			if (ret == 0)
				*payload = r->buf;
		}
		if (ret < 0)
			return ret;
		if (cnt)
			cnt->bytes += WIRE_HDR_SIZE + h->len;
		return 0;
	}
}
