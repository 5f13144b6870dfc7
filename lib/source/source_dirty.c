/* SPDX-License-Identifier: MIT */
/*
 * The source's dirty bookkeeping: the bitmaps of what a job sends and what
 * the tracker found dirty, the tracker's start and syncs, and the pause
 * (after which one last sync finds what the guest wrote).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"

/* What the guest dirtied since the last sync, into dirty_bm. Hints of
 * those pages no longer hold: the writes made them differ from storage. */
static int sync_dirty(struct vmmig_source *src)
{
	for (unsigned i = 0; i < src->sess.regions.n; i++) {
		uint64_t *bm = src->dirty_bm[i];
		int ret;

		memset(bm, 0, region_words(&src->sess.regions.r[i]) * 8);
		ret = vmmig_tracker_sync(src->tracker, i, bm);
		if (!ret)
			ret = vmmig_tracker_clear(src->tracker, i, bm);
		if (ret) {
			src_fail(src, ret, "dirty tracker %s: %s",
				 vmmig_tracker_name(src->tracker),
				 vmmig_strerror(ret));
			return ret;
		}
		src_hints_drop_dirty(src, i, bm);
		src_zero_map_drop_dirty(src, i, bm);
	}
	pthread_mutex_lock(&src->sess.stats_lock);
	src->sess.st.dirty_sync_count++;
	pthread_mutex_unlock(&src->sess.stats_lock);
	return 0;
}

/* After a round: what it sent is done; what was dirtied meanwhile becomes
 * the next job (send_bm). */
int src_sync_next_round(struct vmmig_source *src)
{
	uint64_t **t;
	int ret = sync_dirty(src);

	if (ret)
		return ret;
	t = src->send_bm;
	src->send_bm = src->dirty_bm;
	src->dirty_bm = t;
	return 0;
}

/* Before the last pass: add what was dirtied to what is still pending. */
int src_sync_pending(struct vmmig_source *src)
{
	int ret = sync_dirty(src);

	for (unsigned i = 0; !ret && i < src->sess.regions.n; i++)
		for (uint64_t w = 0; w < region_words(&src->sess.regions.r[i]);
		     w++)
			src->send_bm[i][w] |= src->dirty_bm[i][w];
	return ret;
}

int src_alloc_bitmaps(struct vmmig_source *src)
{
	unsigned n = src->sess.regions.n;

	src->send_bm = calloc(n, sizeof(*src->send_bm));
	src->dirty_bm = calloc(n, sizeof(*src->dirty_bm));
	src->refetch_bm = calloc(n, sizeof(*src->refetch_bm));
	if (!src->send_bm || !src->dirty_bm || !src->refetch_bm)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		uint64_t npages = src->sess.regions.r[i].npages;
		uint64_t words = region_words(&src->sess.regions.r[i]);

		src->send_bm[i] = malloc(words * 8);
		src->dirty_bm[i] = calloc(words, 8);
		src->refetch_bm[i] = calloc(words, 8);
		if (!src->send_bm[i] || !src->dirty_bm[i] ||
		    !src->refetch_bm[i])
			return -ENOMEM;
		/* Round 0 sends everything. */
		memset(src->send_bm[i], 0xff, words * 8);
		if (npages % 64)
			src->send_bm[i][words - 1] =
				(1ull << (npages % 64)) - 1;
	}
	return 0;
}

void src_free_bitmaps(struct vmmig_source *src)
{
	for (unsigned i = 0; i < src->sess.regions.n; i++) {
		if (src->send_bm)
			free(src->send_bm[i]);
		if (src->dirty_bm)
			free(src->dirty_bm[i]);
		if (src->refetch_bm)
			free(src->refetch_bm[i]);
	}
	free(src->send_bm);
	free(src->dirty_bm);
	free(src->refetch_bm);
	src->send_bm = src->dirty_bm = src->refetch_bm = NULL;
	src_zero_map_free(src);
}

int src_start_tracking(struct vmmig_source *src)
{
	struct vmmig_tracker_region *tr;
	int ret;

	tr = calloc(src->sess.regions.n, sizeof(*tr));
	if (!tr)
		return -ENOMEM;
	for (unsigned i = 0; i < src->sess.regions.n; i++) {
		const struct region *r = &src->sess.regions.r[i];

		tr[i] = (struct vmmig_tracker_region){
			.id = r->id, .index = i, .gpa = r->gpa, .host = r->host,
			.size = r->size, .npages = r->npages };
	}
	ret = vmmig_tracker_start(src->tracker, tr, src->sess.regions.n);
	free(tr);
	if (!ret)
		ret = src_zero_map_init(src);
	if (ret)
		src_fail(src, ret, "starting dirty tracker %s: %s",
			 vmmig_tracker_name(src->tracker), vmmig_strerror(ret));
	return ret;
}

/* Pause the guest; the pages found dirty after the last round are still
 * pending in send_bm: add what the guest wrote since. */
int src_pause(struct vmmig_source *src, uint64_t *t_pause)
{
	int ret;

	sess_set_status(&src->sess, VMMIG_STATUS_DEVICE);
	*t_pause = clock_now_us();
	ret = src->ops->pause(src->opaque);
	if (ret) {
		src_fail(src, ret, "pausing the guest: %s",
			 vmmig_strerror(ret));
		return ret;
	}
	src->paused = true;
	ret = src_sync_pending(src);
	if (!ret)
		src_history_begin(src, VMMIG_ROUND_PAUSE, 0, *t_pause);
	return ret;
}
