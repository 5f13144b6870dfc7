/* SPDX-License-Identifier: MIT */
/*
 * DRAIN, at the end of every pre-copy round and once more before the pause
 * or the post-copy switch. It goes down every channel; the destination
 * answers DRAINED on channel 0 once it has read everything sent before it
 * on all channels and finished every restore from storage, preceded by REQ
 * records (WIRE_REQ_REFETCH) for the pages it could not restore. Gains:
 * those pages join the next pass instead of failing the migration, a round
 * is timed until the destination holds it (the link's rate, not the socket
 * buffers'), and the pause starts with no backlog to drain in the downtime.
 */
#include <errno.h>
#include <string.h>

#include "source_feat.h"

/* Pages whose restore failed: never hint them again, send their contents
 * (in the last pass, or right away after a post-copy switch). */
int src_drain_on_refetch(struct vmmig_source *src, const uint8_t *payload,
			 size_t len)
{
	char err[WIRE_ERRLEN];
	struct wire_req q;
	unsigned ri;
	int ret;

	ret = wire_req_unpack(payload, len, &q, err, sizeof(err));
	ri = regions_index(&src->sess.regions, q.region_id);
	if (!ret && ri == src->sess.regions.n)
		ret = -EPROTO;
	/* Nothing was sent before the bitmaps exist, so nothing can have
	 * failed to restore: a REFETCH this early is a broken peer. */
	if (!ret && !src->refetch_bm)
		ret = -EPROTO;
	for (uint32_t i = 0; !ret && i < q.count; i++) {
		uint64_t page = wire_req_page(&q, i), bit;

		if (page >= src->sess.regions.r[ri].npages) {
			ret = -EPROTO;
			break;
		}
		bit = 1ull << (page % 64);
		src_hints_clear_page(src, ri, page);
		__atomic_fetch_or(src->postcopy
					  ? &src->send_bm[ri][page / 64]
					  : &src->refetch_bm[ri][page / 64],
				  bit, __ATOMIC_ACQ_REL);
	}
	if (ret)
		src_fail(src, ret, "return path: bad refetch request");
	return ret;
}

void src_drain_on_drained(struct vmmig_source *src)
{
	pthread_mutex_lock(&src->lock);
	src->drained = true;
	pthread_cond_broadcast(&src->cond);
	pthread_mutex_unlock(&src->lock);
}

int src_drain_wait(struct vmmig_source *src)
{
	int ret = 0;

	pthread_mutex_lock(&src->lock);
	src->drained = false;
	pthread_mutex_unlock(&src->lock);
	for (unsigned i = 0; i < src->nchan && !ret; i++)
		ret = chan_send_record(&src->chan[i], WIRE_DRAIN, 0, NULL, 0);
	if (ret) {
		src_fail(src, ret, "draining: %s", vmmig_strerror(ret));
		return ret;
	}
	pthread_mutex_lock(&src->lock);
	while (!src->drained && !failure_code(&src->sess.fail))
		pthread_cond_wait(&src->cond, &src->lock);
	pthread_mutex_unlock(&src->lock);
	return failure_code(&src->sess.fail);
}

/* Called every round: a locked exchange per word of a 64 GiB guest is
 * 256 K of them (milliseconds), so only words with bits are exchanged. A
 * bit set after its word was read as zero is taken by the next call, as if
 * it had been set after an exchange. */
void src_take_refetch(struct vmmig_source *src)
{
	for (unsigned ri = 0; ri < src->sess.regions.n; ri++) {
		uint64_t *rb = src->refetch_bm[ri];

		for (uint64_t w = 0; w < region_words(&src->sess.regions.r[ri]);
		     w++)
			if (__atomic_load_n(&rb[w], __ATOMIC_RELAXED))
				src->send_bm[ri][w] |= __atomic_exchange_n(
					&rb[w], 0, __ATOMIC_ACQ_REL);
	}
}

int src_drain_restores(struct vmmig_source *src)
{
	int ret = src_drain_wait(src);

	if (!ret)
		src_take_refetch(src);
	return ret;
}
