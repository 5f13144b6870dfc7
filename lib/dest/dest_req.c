/* SPDX-License-Identifier: MIT */
/* REQ records: page numbers of one region, batched. */
#include <string.h>

#include "dest.h"

int req_batch_flush(struct chan *c, struct req_batch *b, uint16_t flags)
{
	struct wire_req q = { .region_id = b->region_id, .count = b->count };
	int ret;

	if (!b->count)
		return 0;
	wire_req_pack(b->buf, &q);
	ret = c ? chan_send_record(c, WIRE_REQ, flags, b->buf,
				   WIRE_REQ_HEAD + (size_t)b->count * 8)
		: 0;
	b->count = 0;
	return ret;
}

int req_batch_add(struct chan *c, struct req_batch *b, uint32_t region_id,
		  uint64_t page, uint16_t flags)
{
	int ret = 0;

	if (b->count && (b->region_id != region_id ||
			 b->count == WIRE_REQ_MAX))
		ret = req_batch_flush(c, b, flags);
	b->region_id = region_id;
	memcpy(b->buf + WIRE_REQ_HEAD + 8 * b->count, &page, 8);
	b->count++;
	return ret;
}
