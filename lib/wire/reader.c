/* SPDX-License-Identifier: MIT */
/*
 * Destination side: read records, validate them completely, apply PAGES to
 * guest memory. Nothing from the peer is trusted: lengths, region ids, page
 * indices and encodings are checked before any byte is placed, raw pages
 * are received straight into their (bounds-checked) guest page, and the
 * other encodings are decoded only after the record's CRC matched.
 * After any failure the reader stays failed (the stream is out of step).
 * Optionally it reads ahead (see wire_reader_set_readahead).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "encode/encode.h"
#include "le.h"
#include "wire.h"

#define BATCH_HEAD 8
#define DESC_SIZE 16

struct wire_reader {
	wire_read_fn fn;
	void *cookie;
	struct wire_dest_region *regions;
	unsigned nregions;
	uint32_t seq;        /* expected next */
	int failed;          /* sticky error, 0 while healthy */
	uint64_t pages;      /* applied */
	uint8_t *buf;        /* payload of non-PAGES records */
	size_t bufcap;
	uint8_t *scratch;    /* non-raw page payloads of one record */
	uint8_t *zpage;      /* one decompressed page */
	ZSTD_DCtx *zd;
	bool staged;          /* raw pages through rawbuf (see set_staged) */
	wire_hint_fn hint;    /* cache-restore hooks */
	wire_write_fn2 write;
	void *hook_cookie;
	wire_place_fn place;  /* post-copy placement, NULL before */
	void *place_cookie;
	uint8_t *rawbuf;      /* raw pages while placing: WIRE_MAX_BATCH pages */
	uint8_t hdr[WIRE_HDR_SIZE];
	uint8_t head[BATCH_HEAD + DESC_SIZE * WIRE_MAX_BATCH];
	struct iovec iov[2 + WIRE_MAX_BATCH];
	char err[WIRE_ERRLEN];
	wire_read_some_fn some; /* read-ahead refill, NULL: off */
	uint8_t *ra;            /* read-ahead: ra[rapos, ralen) not yet used */
	size_t racap, rapos, ralen;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct wire_reader *r, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	r->failed = ret;
	return ret;
}

int wire_reader_new(wire_read_fn fn, void *cookie,
		    const struct wire_dest_region *regions, unsigned nregions,
		    struct wire_reader **out)
{
	struct wire_reader *r;

	*out = NULL;
	if (!fn || nregions > WIRE_MAX_REGIONS || (nregions && !regions))
		return -EINVAL;
	for (unsigned i = 0; i < nregions; i++) {
		if (regions[i].npages && !regions[i].host)
			return -EINVAL;
		for (unsigned j = 0; j < i; j++)
			if (regions[j].id == regions[i].id)
				return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fn = fn;
	r->cookie = cookie;
	r->nregions = nregions;
	r->regions = calloc(nregions ? nregions : 1, sizeof(*r->regions));
	r->scratch = malloc(WIRE_MAX_BATCH * ENC_PAGE);
	r->zpage = malloc(ENC_PAGE);
	r->zd = zpage_dctx_new();
	if (!r->regions || !r->scratch || !r->zpage || !r->zd) {
		wire_reader_free(r);
		return -ENOMEM;
	}
	if (nregions)
		memcpy(r->regions, regions, nregions * sizeof(*regions));
	*out = r;
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

static int rawbuf_alloc(struct wire_reader *r)
{
	if (!r->rawbuf)
		r->rawbuf = malloc(WIRE_MAX_BATCH * ENC_PAGE);
	return r->rawbuf ? 0 : -ENOMEM;
}

void wire_reader_set_hooks(struct wire_reader *r, wire_hint_fn hint,
			   wire_write_fn2 write, void *cookie)
{
	r->hint = hint;
	r->write = write;
	r->hook_cookie = cookie;
}

static int hint_page(struct wire_reader *r, const struct wire_dest_region *rg,
		     uint64_t idx, const uint8_t *p)
{
	struct wire_hint h = { get_le64(p), get_le64(p + 8), get_le64(p + 16) };
	int ret;

	if (!r->hint)
		return fail(r, -EPROTO, "page %llu of region %u: a storage hint, "
			    "but hints are not expected here",
			    (unsigned long long)idx, rg->id);
	ret = r->hint(r->hook_cookie, rg, idx, &h);
	if (ret < 0)
		return fail(r, ret, "page %llu of region %u: hint refused",
			    (unsigned long long)idx, rg->id);
	return 0;
}

int wire_reader_set_staged(struct wire_reader *r, bool staged)
{
	r->staged = staged;
	return staged ? rawbuf_alloc(r) : 0;
}

int wire_reader_set_placer(struct wire_reader *r, wire_place_fn fn,
			   void *cookie)
{
	if (rawbuf_alloc(r))
		return -ENOMEM;
	r->place = fn;
	r->place_cookie = cookie;
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

static int read_iov(struct wire_reader *r, struct iovec *iov, int n)
{
	int ret = r->some ? ra_read(r, iov, n) : r->fn(r->cookie, iov, n);

	if (ret < 0)
		return fail(r, ret, "stream read failed (%s)", strerror(-ret));
	return 0;
}

static int check_crc(struct wire_reader *r, const struct wire_hdr *h,
		     const struct iovec *iov, int n)
{
	if (wire_record_crc(r->hdr, iov, n) != h->crc)
		return fail(r, -EPROTO, "record crc mismatch (seq %u)", h->seq);
	return 0;
}

/* Read a non-PAGES payload into r->buf and verify the record's CRC. */
static int read_payload(struct wire_reader *r, const struct wire_hdr *h)
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
			return fail(r, -ENOMEM, "no memory for a %u-byte record",
				    h->len);
		r->buf = nb;
		r->bufcap = cap;
	}
	iov = (struct iovec){ r->buf, h->len };
	if (h->len) {
		ret = read_iov(r, &iov, 1);
		if (ret < 0)
			return ret;
	}
	return check_crc(r, h, &iov, 1);
}

static int pagemap_fd = -1;
static pthread_once_t pagemap_once = PTHREAD_ONCE_INIT;

static void pagemap_open(void)
{
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
}

/* Not resident (mincore) and neither present nor swapped (pagemap): the
 * page was never populated and reads as zero. False when unsure. */
static bool page_never_populated(void *page)
{
	unsigned char vec;
	uint64_t pm;

	if (mincore(page, ENC_PAGE, &vec) || (vec & 1))
		return false;
	pthread_once(&pagemap_once, pagemap_open);
	if (pagemap_fd < 0 ||
	    pread(pagemap_fd, &pm, 8,
		  (off_t)((uintptr_t)page / ENC_PAGE * 8)) != 8)
		return false;
	return !(pm & (3ull << 62));
}

static const struct wire_dest_region *find_region(struct wire_reader *r,
						  uint32_t id)
{
	for (unsigned i = 0; i < r->nregions; i++)
		if (r->regions[i].id == id)
			return &r->regions[i];
	return NULL;
}

/* Validate one descriptor; 0 or -EPROTO. */
static int check_desc(struct wire_reader *r, const struct wire_dest_region *rg,
		      unsigned i, unsigned count)
{
	const uint8_t *d = r->head + BATCH_HEAD + DESC_SIZE * i;
	uint64_t idx = get_le64(d);
	uint32_t len = get_le32(d + 12);
	unsigned enc = d[8];
	bool ok;

	if (idx >= rg->npages)
		return fail(r, -EPROTO, "page index %llu out of range for "
			    "region %u (%llu pages)", (unsigned long long)idx,
			    rg->id, (unsigned long long)rg->npages);
	if (d[9] || d[10] || d[11])
		return fail(r, -EPROTO, "page %llu: descriptor reserved bytes "
			    "are not zero", (unsigned long long)idx);
	switch (enc) {
	case WIRE_ENC_ZERO: ok = len == 0; break;
	case WIRE_ENC_RAW: ok = len == ENC_PAGE; break;
	case WIRE_ENC_ZSTD: ok = len >= 1 && len <= ENC_PAGE; break;
	case WIRE_ENC_DELTA: ok = len >= 1 && len <= ENC_DELTA_MAX; break;
	case WIRE_ENC_HINT: ok = len == WIRE_HINT_SIZE; break;
	default:
		return fail(r, -EPROTO, "page %llu has unknown encoding %u",
			    (unsigned long long)idx, enc);
	}
	if (!ok)
		return fail(r, -EPROTO, "page %llu: length %u is invalid for "
			    "encoding %u", (unsigned long long)idx, len, enc);
	/* Duplicates would be applied out of order (raw pages land first). */
	for (unsigned j = 0; j < i && j < count; j++)
		if (get_le64(r->head + BATCH_HEAD + DESC_SIZE * j) == idx)
			return fail(r, -EPROTO, "page %llu appears twice in one "
				    "record", (unsigned long long)idx);
	return 0;
}

/*
 * Land one decoded page: @data is its contents (NULL for a zero page).
 * With a placer (post-copy) the placer installs it atomically; otherwise it
 * is written to guest memory, unless it is already there (raw, received in
 * place).
 */
static int land_page(struct wire_reader *r, const struct wire_dest_region *rg,
		     uint64_t idx, const void *data)
{
	uint8_t *page = rg->host + idx * ENC_PAGE;
	int ret;

	if (r->place) {
		ret = r->place(r->place_cookie, rg, idx, data);
		if (ret < 0)
			return fail(r, ret, "placing page %llu of region %u: %s",
				    (unsigned long long)idx, rg->id,
				    ret == -EPROTO ? "not expected"
						   : strerror(-ret));
	} else if (!data) {
		/* A never-populated page already reads as zero: leave it
		 * alone (touching it costs a fault). Else check before
		 * writing, so memory is not dirtied for nothing. */
		if (!page_never_populated(page) && !enc_page_is_zero(page))
			memset(page, 0, ENC_PAGE);
	} else if (data != page) {
		memcpy(page, data, ENC_PAGE);
	}
	return 0;
}

/* Decode the pages of a record whose CRC matched, and land them. */
static int apply_pages(struct wire_reader *r, const struct wire_dest_region *rg,
		       unsigned count, struct wire_page_counts *cnt)
{
	size_t soff = 0;

	for (unsigned i = 0; i < count; i++) {
		const uint8_t *d = r->head + BATCH_HEAD + DESC_SIZE * i;
		uint64_t idx = get_le64(d);
		uint32_t len = get_le32(d + 12);
		uint8_t *page = rg->host + idx * ENC_PAGE;
		const void *data = NULL;
		const char *why = NULL;
		int ret = 0;

		switch (d[8]) {
		case WIRE_ENC_HINT:
			ret = hint_page(r, rg, idx, r->scratch + soff);
			if (ret < 0)
				return ret;
			goto next;
		case WIRE_ENC_RAW:
			data = r->place || r->staged
				       ? r->rawbuf + (size_t)i * ENC_PAGE
				       : page;
			break;
		case WIRE_ENC_ZSTD:
			ret = zpage_decompress(r->zd, r->scratch + soff, len,
					       r->zpage, &why);
			data = r->zpage;
			break;
		case WIRE_ENC_DELTA:
			/* After a post-copy switch the copy it applies to
			 * was dropped. */
			if (r->place)
				return fail(r, -EPROTO, "page %llu of region "
					    "%u: delta encoding after the "
					    "post-copy switch",
					    (unsigned long long)idx, rg->id);
			ret = delta_apply(page, r->scratch + soff, len, &why);
			data = page;
			break;
		}
		if (ret < 0)
			return fail(r, ret, "page %llu of region %u: %s",
				    (unsigned long long)idx, rg->id, why);
		ret = land_page(r, rg, idx, data);
		if (ret < 0)
			return ret;
next:
		if (d[8] != WIRE_ENC_RAW)
			soff += len;
		if (cnt)
			cnt->pages[d[8]]++;
		r->pages++;
	}
	return 0;
}

static int read_pages(struct wire_reader *r, const struct wire_hdr *h,
		      struct wire_page_counts *cnt)
{
	const struct wire_dest_region *rg;
	uint64_t sum = 0;
	size_t soff = 0;
	unsigned count, niov = 2;
	uint32_t rid;
	int ret;

	if (h->flags)
		return fail(r, -EPROTO, "PAGES has unknown flags 0x%x", h->flags);
	if (h->len < BATCH_HEAD + DESC_SIZE)
		return fail(r, -EPROTO, "PAGES record too short (%u bytes)",
			    h->len);
	r->iov[0] = (struct iovec){ r->head, BATCH_HEAD };
	ret = read_iov(r, r->iov, 1);
	if (ret < 0)
		return ret;
	rid = get_le32(r->head);
	count = get_le16(r->head + 4);
	rg = find_region(r, rid);
	if (!rg)
		return fail(r, -EPROTO, "PAGES for unknown region id %u", rid);
	if (count < 1 || count > WIRE_MAX_BATCH)
		return fail(r, -EPROTO, "PAGES count %u (1..%u allowed)", count,
			    WIRE_MAX_BATCH);
	if (get_le16(r->head + 6))
		return fail(r, -EPROTO, "PAGES reserved field is not zero");
	if (BATCH_HEAD + (uint64_t)DESC_SIZE * count > h->len)
		return fail(r, -EPROTO, "PAGES record of %u bytes cannot hold "
			    "%u descriptors", h->len, count);
	r->iov[1] = (struct iovec){ r->head + BATCH_HEAD, DESC_SIZE * count };
	ret = read_iov(r, &r->iov[1], 1);
	if (ret < 0)
		return ret;

	for (unsigned i = 0; i < count; i++) {
		const uint8_t *d = r->head + BATCH_HEAD + DESC_SIZE * i;
		uint32_t len = get_le32(d + 12);
		struct iovec *last = &r->iov[niov - 1];

		ret = check_desc(r, rg, i, count);
		if (ret < 0)
			return ret;
		sum += len;
		if (d[8] == WIRE_ENC_RAW) {
			/* Straight into guest memory, unless pages must be
			 * placed atomically (post-copy). */
			uint8_t *dst = r->place || r->staged
				? r->rawbuf + (size_t)i * ENC_PAGE
				: rg->host + get_le64(d) * ENC_PAGE;

			r->iov[niov++] = (struct iovec){ dst, ENC_PAGE };
		} else if (len) {
			/* Consecutive non-raw payloads share one iovec. */
			if (niov > 2 && (uint8_t *)last->iov_base +
			    last->iov_len == r->scratch + soff)
				last->iov_len += len;
			else
				r->iov[niov++] = (struct iovec){
					r->scratch + soff, len };
			soff += len;
		}
	}
	if (BATCH_HEAD + (uint64_t)DESC_SIZE * count + sum != h->len)
		return fail(r, -EPROTO, "PAGES record length %u does not match "
			    "its descriptors (%llu)", h->len,
			    (unsigned long long)(BATCH_HEAD + DESC_SIZE * count +
						 sum));
	if (r->write)
		for (unsigned i = 0; i < count; i++) {
			const uint8_t *d = r->head + BATCH_HEAD + DESC_SIZE * i;

			if (d[8] != WIRE_ENC_HINT &&
			    (ret = r->write(r->hook_cookie, rg, get_le64(d))))
				return fail(r, ret, "page %llu of region %u "
					    "refused",
					    (unsigned long long)get_le64(d),
					    rg->id);
		}
	if (niov > 2) {
		ret = read_iov(r, &r->iov[2], (int)niov - 2);
		if (ret < 0)
			return ret;
	}
	ret = check_crc(r, h, r->iov, (int)niov);
	if (ret < 0)
		return ret;
	return apply_pages(r, rg, count, cnt);
}

/* Header flags a known mandatory type may carry. */
static int known_flags(uint16_t type)
{
	switch (type) {
	case WIRE_HELLO:
	case WIRE_HELLO_ACK:
	case WIRE_END:
	case WIRE_ACK:
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

int wire_reader_next(struct wire_reader *r, struct wire_hdr *h,
		     const uint8_t **payload, struct wire_page_counts *cnt)
{
	struct iovec iov = { r->hdr, WIRE_HDR_SIZE };
	int ret, mask;

	*payload = NULL;
	if (r->failed)
		return r->failed;
	for (;;) {
		ret = read_iov(r, &iov, 1);
		if (ret < 0)
			return ret;
		wire_hdr_unpack(r->hdr, h);
		if (h->seq != r->seq)
			return fail(r, -EPROTO, "record out of sequence: expected "
				    "seq %u, got %u", r->seq, h->seq);
		if (h->len > WIRE_MAX_PAYLOAD)
			return fail(r, -EPROTO, "record length %u exceeds the "
				    "maximum %u", h->len, WIRE_MAX_PAYLOAD);
		r->seq++;
		if (h->type == WIRE_PAGES) {
			ret = read_pages(r, h, cnt);
		} else if (!(h->type & WIRE_MANDATORY) &&
			   h->type != WIRE_ROUND) {
			/* Optional and not for us: check it, then drop it. */
			ret = read_payload(r, h);
			if (ret == 0 && cnt)
				cnt->bytes += WIRE_HDR_SIZE + h->len;
			if (ret == 0)
				continue;
		} else {
			mask = known_flags(h->type);
			if (mask < 0)
				return fail(r, -EPROTO, "unknown mandatory "
					    "record type 0x%04x", h->type);
			if (h->flags & ~mask)
				return fail(r, -EPROTO, "record type 0x%04x has "
					    "unknown flags 0x%x", h->type,
					    h->flags);
			ret = read_payload(r, h);
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
