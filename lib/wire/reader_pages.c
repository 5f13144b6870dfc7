/* SPDX-License-Identifier: MIT */
/*
 * PAGES records on the destination: the record's CRC (over its header,
 * batch header and descriptors: docs/wire-format.md section 3) and every
 * descriptor (region, index, encoding, length) are checked before the page
 * sink hears of the record; raw pages are received where the sink says
 * (straight into their guest page, or a reader buffer), the other
 * encodings are decoded once all of the record's bytes arrived: a zstd
 * run (ZSTD_RUN and its ZSTD_NEXT pages) as a whole, before any of its
 * pages is placed. Page bytes carry no CRC: the transport guards them,
 * and end-to-end verification (docs section 7) compares the memory that
 * landed. Each decoded page goes to the sink, which alone decides what
 * guest memory becomes (wire.h, struct wire_page_sink_ops).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "encode/encode.h"
#include "reader_priv.h"

static int hint_page(struct wire_reader *r, unsigned ri,
		     const struct wire_dest_region *rg, uint64_t idx,
		     const uint8_t *p)
{
	struct wire_hint h;
	int ret;

	if (!r->sink->hint)
		return reader_fail(r, -EPROTO, "page %llu of region %u: a storage hint, "
			    "but hints are not expected here",
			    (unsigned long long)idx, rg->id);
	/* The descriptor check fixed its length. */
	(void)wire_hint_unpack(p, WIRE_HINT_SIZE, &h, NULL, 0);
	ret = r->sink->hint(r->sink_cookie, ri, idx, &h);
	if (ret < 0)
		return reader_fail(r, ret, "page %llu of region %u: hint refused",
			    (unsigned long long)idx, rg->id);
	return 0;
}

const struct wire_dest_region *reader_find_region(struct wire_reader *r,
						  uint32_t id, unsigned *ri)
{
	for (unsigned i = 0; i < r->nregions; i++)
		if (r->regions[i].id == id) {
			*ri = i;
			return &r->regions[i];
		}
	return NULL;
}

/* Decode and validate descriptor @i into r->desc[i]; 0 or -EPROTO. *@max:
 * the highest index of descriptors [0, @i), updated. */
static int check_desc(struct wire_reader *r, const struct wire_dest_region *rg,
		      unsigned i, uint64_t *max)
{
	const uint8_t *raw = r->head + BATCH_HEAD + DESC_SIZE * i;
	struct wire_page_desc *d = &r->desc[i];
	unsigned long long idx;
	bool ok;

	ok = pages_desc_unpack(raw, d);
	idx = d->page;
	if (d->page >= rg->npages)
		return reader_fail(r, -EPROTO, "page index %llu out of range for "
			    "region %u (%llu pages)", idx, rg->id,
			    (unsigned long long)rg->npages);
	if (!ok)
		return reader_fail(r, -EPROTO, "page %llu: descriptor reserved bytes "
			    "are not zero", idx);
	switch (d->enc) {
	case WIRE_ENC_ZERO: ok = d->len == 0; break;
	case WIRE_ENC_RAW: ok = d->len == ENC_PAGE; break;
	case WIRE_ENC_ZSTD: ok = d->len >= 1 && d->len <= ENC_PAGE; break;
	case WIRE_ENC_DELTA: ok = d->len >= 1 && d->len <= ENC_DELTA_MAX; break;
	case WIRE_ENC_HINT: ok = d->len == WIRE_HINT_SIZE; break;
	/* A run's upper bound needs its size: check_runs(). */
	case WIRE_ENC_ZSTD_RUN: ok = d->len >= 1; break;
	case WIRE_ENC_ZSTD_NEXT: ok = d->len == 0; break;
	default:
		return reader_fail(r, -EPROTO, "page %llu has unknown encoding %u",
			    idx, d->enc);
	}
	if (!ok)
		return reader_fail(r, -EPROTO, "page %llu: length %u is invalid for "
			    "encoding %u", idx, d->len, d->enc);
	/* Duplicates would be applied out of order (raw pages land first).
	 * One above every index before it (ascending: the usual case) is
	 * new. */
	if (i == 0 || d->page > *max) {
		*max = d->page;
		return 0;
	}
	for (unsigned j = 0; j < i; j++)
		if (r->desc[j].page == d->page)
			return reader_fail(r, -EPROTO, "page %llu appears twice in one "
				    "record", idx);
	return 0;
}

/* Pages in the run whose ZSTD_RUN descriptor is @i: it and the NEXT
 * descriptors right after it. */
static unsigned run_pages(const struct wire_reader *r, unsigned i,
			  unsigned count)
{
	unsigned n = 1;

	while (i + n < count && r->desc[i + n].enc == WIRE_ENC_ZSTD_NEXT)
		n++;
	return n;
}

/* The runs' structure (docs/wire-format.md 5.4): every NEXT continues a
 * RUN, a run has two pages or more, its frame is shorter than its pages.
 * A run lies within its record by construction. */
static int check_runs(struct wire_reader *r, unsigned count)
{
	for (unsigned i = 0; i < count;) {
		const struct wire_page_desc *d = &r->desc[i];
		unsigned n;

		if (d->enc == WIRE_ENC_ZSTD_NEXT)
			return reader_fail(r, -EPROTO, "page %llu: ZSTD_NEXT does "
				    "not follow a ZSTD_RUN or ZSTD_NEXT page",
				    (unsigned long long)d->page);
		if (d->enc != WIRE_ENC_ZSTD_RUN) {
			i++;
			continue;
		}
		n = run_pages(r, i, count);
		if (n < 2)
			return reader_fail(r, -EPROTO, "page %llu: ZSTD_RUN of one "
				    "page (no ZSTD_NEXT after it)",
				    (unsigned long long)d->page);
		if (d->len >= n * ENC_PAGE)
			return reader_fail(r, -EPROTO, "page %llu: length %u is "
				    "invalid for a zstd run of %u pages",
				    (unsigned long long)d->page, d->len, n);
		i += n;
	}
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

/* Decode one ZSTD page into r->zpage. */
static int unzstd(struct wire_reader *r, const uint8_t *src, uint32_t len,
		  const char **why)
{
	if (!r->zd && !(r->zd = zpage_dctx_new())) {
		*why = "no memory for a zstd context";
		return -ENOMEM;
	}
	if (!r->zpage && !(r->zpage = malloc(ENC_PAGE))) {
		*why = "no memory for a page";
		return -ENOMEM;
	}
	return zpage_decompress(r->zd, src, len, r->zpage, why);
}

/* Decode the @n pages of a run into r->zrun. */
static int unzrun(struct wire_reader *r, const uint8_t *src, uint32_t len,
		  unsigned n, const char **why)
{
	if (!r->zd && !(r->zd = zpage_dctx_new())) {
		*why = "no memory for a zstd context";
		return -ENOMEM;
	}
	/* Once, for the largest run: a record's pages. */
	if (!r->zrun && !(r->zrun = malloc(WIRE_MAX_BATCH * ENC_PAGE))) {
		*why = "no memory for a zstd run";
		return -ENOMEM;
	}
	return zrun_decompress(r->zd, src, len, n, r->zrun, why);
}

/* Decode the pages of a record that arrived whole, and hand them over. */
static int apply_pages(struct wire_reader *r, unsigned ri,
		       const struct wire_dest_region *rg, unsigned count,
		       struct wire_page_counts *cnt)
{
	size_t soff = 0, nraw = 0;
	unsigned run = 0; /* the index of the last ZSTD_RUN */

	for (unsigned i = 0; i < count; i++) {
		const struct wire_page_desc *d = &r->desc[i];
		const void *data = NULL;
		const char *why = NULL;
		unsigned n;
		int ret = 0;

		switch (d->enc) {
		case WIRE_ENC_HINT:
			ret = hint_page(r, ri, rg, d->page, r->scratch + soff);
			if (ret < 0)
				return ret;
			goto next;
		case WIRE_ENC_RAW:
			data = r->into[i] ? r->into[i]
					  : r->rawbuf + nraw++ * ENC_PAGE;
			break;
		case WIRE_ENC_ZSTD:
			ret = unzstd(r, r->scratch + soff, d->len, &why);
			data = r->zpage;
			break;
		case WIRE_ENC_DELTA:
			/* The sink's copy, checked non-NULL before reading. */
			ret = delta_apply(r->into[i], r->scratch + soff, d->len,
					  &why);
			data = r->into[i];
			break;
		case WIRE_ENC_ZSTD_RUN:
			/* The whole run decodes before any of it is placed. */
			n = run_pages(r, i, count);
			ret = unzrun(r, r->scratch + soff, d->len, n, &why);
			if (ret < 0)
				return reader_fail(r, ret, "page %llu of region %u "
					    "(a run of %u pages): %s",
					    (unsigned long long)d->page, rg->id,
					    n, why);
			run = i;
			data = r->zrun;
			break;
		case WIRE_ENC_ZSTD_NEXT:
			data = r->zrun + (size_t)(i - run) * ENC_PAGE;
			break;
		}
		if (ret < 0)
			return reader_fail(r, ret, "page %llu of region %u: %s",
				    (unsigned long long)d->page, rg->id, why);
		ret = r->sink->place(r->sink_cookie, ri, d->page, data);
		if (ret < 0)
			return reader_fail(r, ret, "placing page %llu of region %u: %s",
				    (unsigned long long)d->page, rg->id,
				    ret == -EPROTO ? "not expected"
						   : strerror(-ret));
next:
		if (d->enc != WIRE_ENC_RAW)
			soff += d->len;
		/* Each page of a run is a compressed page. */
		if (cnt)
			cnt->pages[d->enc < WIRE_ENC__COUNT ? d->enc
							    : WIRE_ENC_ZSTD]++;
		r->pages++;
	}
	return 0;
}

/* Tell the sink what comes and learn where raw and delta pages go; count
 * the raw pages it leaves to the reader's buffer. */
static int sink_begin(struct wire_reader *r, unsigned ri,
		      const struct wire_dest_region *rg, unsigned count,
		      size_t *nstaged)
{
	int ret;

	if (!r->sink)
		return reader_fail(r, -EPROTO, "PAGES record, but pages are not "
			    "expected here");
	memset(r->into, 0, count * sizeof(r->into[0]));
	ret = r->sink->begin(r->sink_cookie, ri, r->desc, count, r->into);
	if (ret < 0)
		return reader_fail(r, ret, "PAGES record of region %u refused (%s)",
			    rg->id, strerror(-ret));
	*nstaged = 0;
	for (unsigned i = 0; i < count; i++) {
		if (r->into[i])
			continue;
		if (r->desc[i].enc == WIRE_ENC_RAW)
			++*nstaged;
		else if (r->desc[i].enc == WIRE_ENC_DELTA)
			return reader_fail(r, -EPROTO, "page %llu of region %u: "
				    "delta encoding, but no copy to apply it "
				    "to (after the post-copy switch)",
				    (unsigned long long)r->desc[i].page,
				    rg->id);
	}
	return 0;
}

/* Read the batch head and the descriptors; validate them all. */
static int read_descs(struct wire_reader *r, const struct wire_hdr *h,
		      const struct wire_dest_region **rgp, unsigned *ri,
		      unsigned *countp, size_t *nother)
{
	const struct wire_dest_region *rg;
	struct pages_head ph;
	uint64_t sum = 0, max = 0;
	unsigned count;
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
	pages_head_unpack(r->head, &ph);
	count = ph.count;
	rg = reader_find_region(r, ph.region_id, ri);
	if (!rg)
		return reader_fail(r, -EPROTO, "PAGES for unknown region id %u",
			    ph.region_id);
	if (count < 1 || count > WIRE_MAX_BATCH)
		return reader_fail(r, -EPROTO, "PAGES count %u (1..%u allowed)", count,
			    WIRE_MAX_BATCH);
	if (ph.reserved)
		return reader_fail(r, -EPROTO, "PAGES reserved field is not zero");
	if (BATCH_HEAD + (uint64_t)DESC_SIZE * count > h->len)
		return reader_fail(r, -EPROTO, "PAGES record of %u bytes cannot hold "
			    "%u descriptors", h->len, count);
	r->iov[1] = (struct iovec){ r->head + BATCH_HEAD, DESC_SIZE * count };
	ret = reader_read_iov(r, &r->iov[1], 1);
	if (ret < 0)
		return ret;
	/* All the CRC covers: nothing in the descriptors is acted on before
	 * it matched. */
	ret = reader_check_crc(r, h, r->iov, 2);
	if (ret < 0)
		return ret;

	*nother = 0;
	for (unsigned i = 0; i < count; i++) {
		ret = check_desc(r, rg, i, &max);
		if (ret < 0)
			return ret;
		sum += r->desc[i].len;
		if (r->desc[i].enc != WIRE_ENC_RAW)
			*nother += r->desc[i].len;
	}
	ret = check_runs(r, count);
	if (ret < 0)
		return ret;
	if (BATCH_HEAD + (uint64_t)DESC_SIZE * count + sum != h->len)
		return reader_fail(r, -EPROTO, "PAGES record length %u does not match "
			    "its descriptors (%llu)", h->len,
			    (unsigned long long)(BATCH_HEAD + DESC_SIZE * count +
						 sum));
	*rgp = rg;
	*countp = count;
	return 0;
}

int reader_read_pages(struct wire_reader *r, const struct wire_hdr *h,
		      struct wire_page_counts *cnt)
{
	const struct wire_dest_region *rg = NULL;
	size_t soff = 0, nother = 0, nstaged = 0;
	unsigned count = 0, niov = 2, ri = 0, nraw = 0;
	int ret;

	ret = read_descs(r, h, &rg, &ri, &count, &nother);
	if (ret < 0)
		return ret;
	ret = sink_begin(r, ri, rg, count, &nstaged);
	if (ret < 0)
		return ret;
	if (reserve(&r->scratch, &r->scratch_cap, nother) ||
	    reserve(&r->rawbuf, &r->rawbuf_cap, nstaged * ENC_PAGE))
		return reader_fail(r, -ENOMEM, "no memory for a PAGES record");
	for (unsigned i = 0; i < count; i++) {
		const struct wire_page_desc *d = &r->desc[i];
		struct iovec *last = &r->iov[niov - 1];

		if (d->enc == WIRE_ENC_RAW) {
			uint8_t *dst = r->into[i]
				? r->into[i]
				: r->rawbuf + (size_t)nraw++ * ENC_PAGE;

			r->iov[niov++] = (struct iovec){ dst, ENC_PAGE };
		} else if (d->len) {
			/* Consecutive non-raw payloads share one iovec. */
			if (niov > 2 && (uint8_t *)last->iov_base +
			    last->iov_len == r->scratch + soff)
				last->iov_len += d->len;
			else
				r->iov[niov++] = (struct iovec){
					r->scratch + soff, d->len };
			soff += d->len;
		}
	}
	if (niov > 2) {
		ret = reader_read_iov(r, &r->iov[2], (int)niov - 2);
		if (ret < 0)
			return ret;
	}
	return apply_pages(r, ri, rg, count, cnt);
}
