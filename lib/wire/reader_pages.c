/* SPDX-License-Identifier: MIT */
/*
 * PAGES records on the destination: every descriptor is checked (region,
 * index, encoding, length) before a byte lands; raw pages are received
 * straight into their guest page unless staged or placed (post-copy), the
 * other encodings are decoded after the record's CRC matched.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "encode/encode.h"
#include "le.h"
#include "reader_priv.h"

static int hint_page(struct wire_reader *r, const struct wire_dest_region *rg,
		     uint64_t idx, const uint8_t *p)
{
	struct wire_hint h = { get_le64(p), get_le64(p + 8), get_le64(p + 16) };
	int ret;

	if (!r->hint)
		return reader_fail(r, -EPROTO, "page %llu of region %u: a storage hint, "
			    "but hints are not expected here",
			    (unsigned long long)idx, rg->id);
	ret = r->hint(r->hook_cookie, rg, idx, &h);
	if (ret < 0)
		return reader_fail(r, ret, "page %llu of region %u: hint refused",
			    (unsigned long long)idx, rg->id);
	return 0;
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

/* Validate one descriptor; 0 or -EPROTO. *@max: the highest index of
 * descriptors [0, @i), updated. */
static int check_desc(struct wire_reader *r, const struct wire_dest_region *rg,
		      unsigned i, unsigned count, uint64_t *max)
{
	const uint8_t *d = r->head + BATCH_HEAD + DESC_SIZE * i;
	uint64_t idx = get_le64(d);
	uint32_t len = get_le32(d + 12);
	unsigned enc = d[8];
	bool ok;

	if (idx >= rg->npages)
		return reader_fail(r, -EPROTO, "page index %llu out of range for "
			    "region %u (%llu pages)", (unsigned long long)idx,
			    rg->id, (unsigned long long)rg->npages);
	if (d[9] || d[10] || d[11])
		return reader_fail(r, -EPROTO, "page %llu: descriptor reserved bytes "
			    "are not zero", (unsigned long long)idx);
	switch (enc) {
	case WIRE_ENC_ZERO: ok = len == 0; break;
	case WIRE_ENC_RAW: ok = len == ENC_PAGE; break;
	case WIRE_ENC_ZSTD: ok = len >= 1 && len <= ENC_PAGE; break;
	case WIRE_ENC_DELTA: ok = len >= 1 && len <= ENC_DELTA_MAX; break;
	case WIRE_ENC_HINT: ok = len == WIRE_HINT_SIZE; break;
	default:
		return reader_fail(r, -EPROTO, "page %llu has unknown encoding %u",
			    (unsigned long long)idx, enc);
	}
	if (!ok)
		return reader_fail(r, -EPROTO, "page %llu: length %u is invalid for "
			    "encoding %u", (unsigned long long)idx, len, enc);
	/* Duplicates would be applied out of order (raw pages land first).
	 * One above every index before it (ascending: the usual case) is
	 * new. */
	if (i == 0 || idx > *max) {
		*max = idx;
		return 0;
	}
	for (unsigned j = 0; j < i && j < count; j++)
		if (get_le64(r->head + BATCH_HEAD + DESC_SIZE * j) == idx)
			return reader_fail(r, -EPROTO, "page %llu appears twice in one "
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
			return reader_fail(r, ret, "placing page %llu of region %u: %s",
				    (unsigned long long)idx, rg->id,
				    ret == -EPROTO ? "not expected"
						   : strerror(-ret));
		return 0;
	} else if (!data) {
		/* A never-populated page already reads as zero: leave it
		 * alone (touching it costs a fault). Else check before
		 * writing, so memory is not dirtied for nothing. */
		if (!page_never_populated(page) && !enc_page_is_zero(page))
			memset(page, 0, ENC_PAGE);
	} else if (data != page) {
		memcpy(page, data, ENC_PAGE);
	}
	if (r->landed)
		r->landed(r->landed_cookie, rg, idx, data ? page : NULL);
	return 0;
}

/* Grow @buf to hold @need bytes (its contents need not survive). */
static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : ENC_PAGE;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	free(*buf);
	*buf = malloc(c);
	*cap = *buf ? c : 0;
	return *buf ? 0 : -ENOMEM;
}

/* Decode the pages of a record whose CRC matched, and land them. */
static int apply_pages(struct wire_reader *r, const struct wire_dest_region *rg,
		       unsigned count, struct wire_page_counts *cnt)
{
	size_t soff = 0, nraw = 0;

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
				       ? r->rawbuf + nraw++ * ENC_PAGE
				       : page;
			break;
		case WIRE_ENC_ZSTD:
			if (!r->zd && !(r->zd = zpage_dctx_new()))
				return reader_fail(r, -ENOMEM, "no memory for "
						   "a zstd context");
			if (!r->zpage && !(r->zpage = malloc(ENC_PAGE)))
				return reader_fail(r, -ENOMEM, "no memory for "
						   "a page");
			ret = zpage_decompress(r->zd, r->scratch + soff, len,
					       r->zpage, &why);
			data = r->zpage;
			break;
		case WIRE_ENC_DELTA:
			/* After a post-copy switch the copy it applies to
			 * was dropped. */
			if (r->place)
				return reader_fail(r, -EPROTO, "page %llu of region "
					    "%u: delta encoding after the "
					    "post-copy switch",
					    (unsigned long long)idx, rg->id);
			ret = delta_apply(page, r->scratch + soff, len, &why);
			data = page;
			break;
		}
		if (ret < 0)
			return reader_fail(r, ret, "page %llu of region %u: %s",
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

int reader_read_pages(struct wire_reader *r, const struct wire_hdr *h,
		      struct wire_page_counts *cnt)
{
	const struct wire_dest_region *rg;
	uint64_t sum = 0, max = 0;
	size_t soff = 0, nother = 0;
	unsigned count, niov = 2, nraw = 0;
	uint32_t rid;
	int ret;

	if (h->flags)
		return reader_fail(r, -EPROTO, "PAGES has unknown flags 0x%x", h->flags);
	if (h->len < BATCH_HEAD + DESC_SIZE)
		return reader_fail(r, -EPROTO, "PAGES record too short (%u bytes)",
			    h->len);
	r->iov[0] = (struct iovec){ r->head, BATCH_HEAD };
	ret = reader_read_iov(r, r->iov, 1);
	if (ret < 0)
		return ret;
	rid = get_le32(r->head);
	count = get_le16(r->head + 4);
	rg = find_region(r, rid);
	if (!rg)
		return reader_fail(r, -EPROTO, "PAGES for unknown region id %u", rid);
	if (count < 1 || count > WIRE_MAX_BATCH)
		return reader_fail(r, -EPROTO, "PAGES count %u (1..%u allowed)", count,
			    WIRE_MAX_BATCH);
	if (get_le16(r->head + 6))
		return reader_fail(r, -EPROTO, "PAGES reserved field is not zero");
	if (BATCH_HEAD + (uint64_t)DESC_SIZE * count > h->len)
		return reader_fail(r, -EPROTO, "PAGES record of %u bytes cannot hold "
			    "%u descriptors", h->len, count);
	r->iov[1] = (struct iovec){ r->head + BATCH_HEAD, DESC_SIZE * count };
	ret = reader_read_iov(r, &r->iov[1], 1);
	if (ret < 0)
		return ret;

	for (unsigned i = 0; i < count; i++) {
		const uint8_t *d = r->head + BATCH_HEAD + DESC_SIZE * i;
		uint32_t len = get_le32(d + 12);

		ret = check_desc(r, rg, i, count, &max);
		if (ret < 0)
			return ret;
		sum += len;
		if (d[8] == WIRE_ENC_RAW)
			nraw++;
		else
			nother += len;
	}
	if (BATCH_HEAD + (uint64_t)DESC_SIZE * count + sum != h->len)
		return reader_fail(r, -EPROTO, "PAGES record length %u does not match "
			    "its descriptors (%llu)", h->len,
			    (unsigned long long)(BATCH_HEAD + DESC_SIZE * count +
						 sum));
	/* Raw pages go straight into guest memory, unless staged or placed
	 * atomically (post-copy): then through rawbuf. */
	if (reserve(&r->scratch, &r->scratch_cap, nother) ||
	    (r->place || r->staged ?
	     reserve(&r->rawbuf, &r->rawbuf_cap, (size_t)nraw * ENC_PAGE) : 0))
		return reader_fail(r, -ENOMEM, "no memory for a PAGES record");
	nraw = 0;
	for (unsigned i = 0; i < count; i++) {
		const uint8_t *d = r->head + BATCH_HEAD + DESC_SIZE * i;
		uint32_t len = get_le32(d + 12);
		struct iovec *last = &r->iov[niov - 1];

		if (d[8] == WIRE_ENC_RAW) {
			uint8_t *dst = r->place || r->staged
				? r->rawbuf + (size_t)nraw++ * ENC_PAGE
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
	if (r->write)
		for (unsigned i = 0; i < count; i++) {
			const uint8_t *d = r->head + BATCH_HEAD + DESC_SIZE * i;

			if (d[8] != WIRE_ENC_HINT &&
			    (ret = r->write(r->hook_cookie, rg, get_le64(d))))
				return reader_fail(r, ret, "page %llu of region %u "
					    "refused",
					    (unsigned long long)get_le64(d),
					    rg->id);
		}
	if (niov > 2) {
		ret = reader_read_iov(r, &r->iov[2], (int)niov - 2);
		if (ret < 0)
			return ret;
	}
	if (!r->no_page_crc) {
		ret = reader_check_crc(r, h, r->iov, (int)niov);
		if (ret < 0)
			return ret;
	}
	return apply_pages(r, rg, count, cnt);
}
