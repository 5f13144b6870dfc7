/* SPDX-License-Identifier: MIT */
/*
 * ZERO records on the destination: the whole record is read, its CRC and
 * every run checked (region, bounds, order) before any run reaches the
 * page sink, which places each run in bulk (zero(): the destination's in
 * lib/dest/dest_zero.c).
 */
#include <errno.h>
#include <string.h>

#include "reader_priv.h"

int reader_read_zero(struct wire_reader *r, const struct wire_hdr *h,
		     struct wire_page_counts *cnt)
{
	const struct wire_dest_region *rg;
	char err[WIRE_ERRLEN];
	uint32_t rid, count;
	unsigned ri;
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
	rg = reader_find_region(r, rid, &ri);
	if (!rg)
		return reader_fail(r, -EPROTO, "ZERO for unknown region id %u",
				   rid);
	ret = wire_zero_check(r->buf, count, rg->npages, err, sizeof(err));
	if (ret < 0)
		return reader_fail(r, ret, "%s (region %u)", err, rid);
	if (!r->sink || !r->sink->zero)
		return reader_fail(r, -EPROTO, "ZERO records are not expected "
				   "here");
	for (uint32_t i = 0; i < count; i++) {
		uint64_t first, n;

		wire_zero_run(r->buf, i, &first, &n);
		ret = r->sink->zero(r->sink_cookie, ri, first, n);
		if (ret < 0)
			return reader_fail(r, ret, "zero pages %llu..%llu of "
					   "region %u: %s",
					   (unsigned long long)first,
					   (unsigned long long)(first + n - 1),
					   rid, ret == -EPROTO ? "not expected"
					   : strerror(-ret));
		if (cnt)
			cnt->pages[WIRE_ENC_ZERO] += n;
		r->pages += n;
	}
	return 0;
}
