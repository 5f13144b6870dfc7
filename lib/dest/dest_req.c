/* SPDX-License-Identifier: MIT */
/*
 * Page requests to the source (REQ records): page numbers of one region,
 * batched; on the current return path (under rp_lock, which a reconnect
 * takes to replace it).
 */
#include "dest.h"

int dst_req_batch_flush(struct chan *c, struct req_batch *b, uint16_t flags)
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

int dst_req_batch_add(struct chan *c, struct req_batch *b, uint32_t region_id,
		      uint64_t page, uint16_t flags)
{
	int ret = 0;

	if (b->count && (b->region_id != region_id ||
			 b->count == WIRE_REQ_MAX))
		ret = dst_req_batch_flush(c, b, flags);
	b->region_id = region_id;
	b->pages[b->count++] = page;
	return ret;
}

/* Send the batch on the current return path. While the link is down the
 * pages stay marked requested, and are asked for again after the
 * reconnect (dst_pc_resync), so a failed send loses nothing. */
void dst_req_flush(struct vmmig_dest *dst, struct req_batch *b)
{
	pthread_mutex_lock(&dst->rp_lock);
	(void)dst_req_batch_flush(dst->rp_chan, b, 0);
	pthread_mutex_unlock(&dst->rp_lock);
}

/* Append @page of region @id, flushing when full or another region. */
void dst_req_add(struct vmmig_dest *dst, struct req_batch *b, uint32_t id,
		    uint64_t page)
{
	pthread_mutex_lock(&dst->rp_lock);
	(void)dst_req_batch_add(dst->rp_chan, b, id, page, 0);
	pthread_mutex_unlock(&dst->rp_lock);
}

void dst_pc_refetch(struct vmmig_dest *dst, unsigned ri, uint64_t page)
{
	struct pc_region *pr = &dst->pc->r[ri];
	struct req_batch b = { 0 };

	pr->t_req[page] = clock_now_us();
	__atomic_fetch_or(&pr->requested[page / 64], 1ull << (page % 64),
			  __ATOMIC_ACQ_REL);
	pthread_mutex_lock(&dst->rp_lock);
	(void)dst_req_batch_add(dst->rp_chan, &b, dst->sess.regions.r[ri].id,
				page, WIRE_REQ_REFETCH);
	(void)dst_req_batch_flush(dst->rp_chan, &b, WIRE_REQ_REFETCH);
	pthread_mutex_unlock(&dst->rp_lock);
}
