/* SPDX-License-Identifier: MIT */
/*
 * The destination's page sink (struct wire_page_sink_ops): where the pages
 * a receiver's wire reader decodes land, and the one place that writes
 * network pages into guest memory. Before the post-copy switch a page is
 * written in place: raw pages are received straight into their guest page
 * (or, staged, into the reader's buffer and copied: faster where the
 * kernel's first touch of a guest page is dear), deltas patch the copy
 * already here, zero pages clear only what is not zero yet. After it every
 * page is placed atomically (dst_pc_place). Cache-restore hears of each page
 * with contents before its bytes land and takes the hints; verification
 * hashes each final copy. The cookie is the receiver.
 */
#include <errno.h>
#include <string.h>

#include "base/pagemap.h"

#include "dest_feat.h"
#include "encode/encode.h"

static uint8_t *guest_page(struct vmmig_dest *dst, unsigned ri, uint64_t page)
{
	return dst->sess.regions.r[ri].host + page * VMMIG_PAGE_SIZE;
}

static int sink_begin(void *cookie, unsigned ri, const struct wire_page_desc *d,
		      unsigned n, void **into)
{
	struct receiver *rv = cookie;
	struct vmmig_dest *dst = rv->dst;
	int ret;

	for (unsigned i = 0; i < n; i++) {
		if (d[i].enc == WIRE_ENC_HINT)
			continue;
		/* A restore in flight for it learns that it lost. */
		ret = dst_restore_on_write(dst, ri, d[i].page);
		if (ret < 0)
			return ret;
		/* Placed pages go through the reader's buffers; a delta then
		 * has no copy here to apply to, and is refused. */
		if (rv->placing)
			continue;
		if (d[i].enc == WIRE_ENC_DELTA ||
		    (d[i].enc == WIRE_ENC_RAW && !rv->staged))
			into[i] = guest_page(dst, ri, d[i].page);
	}
	return 0;
}

static int sink_place(void *cookie, unsigned ri, uint64_t page,
		      const void *data)
{
	struct receiver *rv = cookie;
	struct vmmig_dest *dst = rv->dst;
	uint8_t *p;

	if (rv->placing)
		return dst_pc_place(dst, ri, page, data);
	p = guest_page(dst, ri, page);
	if (!data) {
		/* A never-populated page already reads as zero: leave it
		 * alone (touching it costs a fault). Else check before
		 * writing, so memory is not dirtied for nothing. */
		int ret = pagemap_zero_fill(p, 1, dst->sess.regions.r[ri].anon);

		if (ret < 0)
			return ret;
	} else if (data != p) {
		memcpy(p, data, VMMIG_PAGE_SIZE);
	}
	dst_verify_landed(dst, ri, page, data ? p : NULL);
	return 0;
}

static int sink_hint(void *cookie, unsigned ri, uint64_t page,
		     const struct wire_hint *h)
{
	struct receiver *rv = cookie;

	return dst_restore_on_hint(rv->dst, ri, page, h);
}

static int sink_zero(void *cookie, unsigned ri, uint64_t first, uint64_t n)
{
	struct receiver *rv = cookie;

	return dst_zero_run(rv->dst, ri, first, n, rv->placing);
}

const struct wire_page_sink_ops dst_sink_ops = {
	.begin = sink_begin,
	.place = sink_place,
	.hint = sink_hint,
	.zero = sink_zero,
};

int dst_sink_attach(struct receiver *rv)
{
	rv->staged = !rv->dst->sess.opt.v[VMMIG_OPT_RECV_DIRECT];
	rv->placing = false;
	return wire_reader_set_sink(rv->rd, &dst_sink_ops, rv);
}
