/* SPDX-License-Identifier: MIT */
/*
 * The source's side of the history (history.c): hooks the migration thread
 * calls at each pass, the progress of the pass being sent, and the public
 * calls that copy the history out.
 */
#include <errno.h>

#include "source.h"

/* What has gone out so far, cumulative. */
static void sent_so_far(struct vmmig_source *src, struct vmmig_round *now)
{
	struct vmmig_stats st = { 0 };

	sess_counters_fill(&src->sess.cnt, &st);
	*now = (struct vmmig_round){
		.bytes = src_tx_bytes(src),
		.pages_normal = st.pages_normal,
		.pages_zero = st.pages_zero,
		.pages_compressed = st.pages_compressed,
		.pages_delta = st.pages_delta,
		.pages_skipped = st.pages_skipped,
	};
}

void src_history_begin(struct vmmig_source *src, int kind, uint32_t round,
		       uint64_t t)
{
	struct vmmig_round now;
	uint64_t pages = regions_count_bits(src->send_bm, &src->sess.regions);

	sent_so_far(src, &now);
	atomic_store(&src->pass_done, 0);
	atomic_store(&src->pass_total, pages);
	atomic_store(&src->pass_t0, t);
	atomic_store(&src->pass_b0, now.bytes);
	atomic_store(&src->pass_active, true);
	sess_history_begin(&src->hist, kind, round, pages, t, &now);
}

void src_history_end(struct vmmig_source *src, uint64_t dirty_pages,
		     uint64_t t)
{
	struct vmmig_round now;

	atomic_store(&src->pass_active, false);
	sent_so_far(src, &now);
	sess_history_end(&src->hist, dirty_pages, t, &now);
}

void src_history_close(struct vmmig_source *src)
{
	struct vmmig_round now;

	src_history_end(src, 0, clock_now_us());
	sent_so_far(src, &now);
	sess_history_settle(&src->hist, &now);
}

void src_history_switch(struct vmmig_source *src, uint64_t t)
{
	src_history_end(src, 0, t);
	sess_history_switch(&src->hist, t);
	src_history_begin(src, VMMIG_ROUND_POSTCOPY, 0, t);
}

void src_pass_live(struct vmmig_source *src, struct vmmig_stats *st,
		   uint64_t now)
{
	uint64_t total = atomic_load(&src->pass_total);
	uint64_t done = atomic_load(&src->pass_done);

	if (done > total)
		done = total;
	st->pass_pages = total;
	st->pass_pages_done = done;
	if (!atomic_load(&src->pass_active))
		return;
	st->remaining_bytes = (total - done) * VMMIG_PAGE_SIZE;
	/* Before the first round ends there is no measured rate: the pass
	 * so far stands for it (over at least 100 ms, not to show the burst
	 * into empty socket buffers). */
	uint64_t t0 = atomic_load(&src->pass_t0);

	if (!st->bandwidth_bps && now > t0 + 100000)
		st->bandwidth_bps = (st->transferred_bytes -
				     atomic_load(&src->pass_b0)) *
				    1000000u / (now - t0);
}

VMMIG_API int vmmig_source_get_rounds(struct vmmig_source *src,
				      struct vmmig_round *out, size_t max)
{
	if (!src)
		return -EINVAL;
	return sess_history_copy_rounds(&src->hist, out, max);
}

VMMIG_API int vmmig_source_get_faults(struct vmmig_source *src,
				      struct vmmig_fault_series *fs)
{
	if (!src)
		return -EINVAL;
	return sess_history_copy_faults(&src->hist, fs);
}
