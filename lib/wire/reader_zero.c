/* SPDX-License-Identifier: MIT */
/*
 * ZERO records on the destination: the whole record is read, its CRC and
 * every run checked (region, bounds, order) before any page is touched;
 * then each run goes to the zero hook, which places it in bulk. Without
 * one, each page is what a ZERO page of a PAGES record would be.
 */
#include <errno.h>
#include <string.h>

#include "base/pagemap.h"
#include "encode/encode.h"
#include "reader_priv.h"
#include "zero_range.h"

/* No zero hook: the per-page hooks see every page, only clearing the
 * memory is done in bulk. */
static int zero_pages(struct wire_reader *r, const struct wire_dest_region *rg,
		      uint64_t first, uint64_t n)
{
	int ret = 0;

	for (uint64_t p = first; p < first + n && r->write; p++)
		if ((ret = r->write(r->hook_cookie, rg, p)))
			return reader_fail(r, ret, "page %llu of region %u "
					   "refused", (unsigned long long)p,
					   rg->id);
	if (r->place) {
		for (uint64_t p = first; p < first + n && !ret; p++)
			ret = r->place(r->place_cookie, rg, p, NULL);
	} else {
		ret = pagemap_zero_fill(rg->host + first * ENC_PAGE, n,
					rg->anon);
		for (uint64_t p = first; p < first + n && !ret && r->landed;
		     p++)
			r->landed(r->landed_cookie, rg, p, NULL);
	}
	return ret;
}

int reader_read_zero(struct wire_reader *r, const struct wire_hdr *h,
		     struct wire_page_counts *cnt)
{
	const struct wire_dest_region *rg;
	char err[WIRE_ERRLEN];
	uint32_t rid, count;
	int ret;

	if (h->flags)
		return reader_fail(r, -EPROTO, "ZERO has unknown flags 0x%x",
				   h->flags);
	ret = reader_read_payload(r, h);
	if (ret < 0)
		return ret;
	ret = wire_zero_unpack(r->buf, h->len, &rid, &count, err, sizeof(err));
	if (ret < 0)
		return reader_fail(r, ret, "%s", err);
	rg = reader_find_region(r, rid);
	if (!rg)
		return reader_fail(r, -EPROTO, "ZERO for unknown region id %u",
				   rid);
	ret = wire_zero_check(r->buf, count, rg->npages, err, sizeof(err));
	if (ret < 0)
		return reader_fail(r, ret, "%s (region %u)", err, rid);
	for (uint32_t i = 0; i < count; i++) {
		uint64_t first, n;

		wire_zero_run(r->buf, i, &first, &n);
		ret = r->zero ? r->zero(r->zero_cookie, rg, first, n)
			      : zero_pages(r, rg, first, n);
		if (ret < 0 && !r->failed)
			return reader_fail(r, ret, "zero pages %llu..%llu of "
					   "region %u: %s",
					   (unsigned long long)first,
					   (unsigned long long)(first + n - 1),
					   rid, ret == -EPROTO ? "not expected"
					   : strerror(-ret));
		if (ret < 0)
			return ret;
		if (cnt)
			cnt->pages[WIRE_ENC_ZERO] += n;
		r->pages += n;
	}
	return 0;
}
