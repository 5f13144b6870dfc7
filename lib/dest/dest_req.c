/* SPDX-License-Identifier: MIT */
/* REQ records: page numbers of one region, batched. */
#include "dest.h"

int req_batch_flush(struct chan *c, struct req_batch *b, uint16_t flags)
{
	struct wire_req q = { .region_id = b->region_id, .count = b->count };
	uint8_t buf[WIRE_REQ_MAX_SIZE];
	int ret;

	if (!b->count)
		return 0;
	ret = wire_req_pack(buf, sizeof(buf), &q, b->pages);
	if (ret >= 0)
		ret = c ? chan_send_record(c, WIRE_REQ, flags, buf, (size_t)ret)
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
	b->pages[b->count++] = page;
	return ret;
}
