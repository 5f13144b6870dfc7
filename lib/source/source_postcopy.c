/* SPDX-License-Identifier: MIT */
/*
 * Post-copy on the source. At the switch the guest is paused, every channel
 * gets SWITCH (the destination lines them up), channel 0 carries the DISCARD
 * bitmaps of the pages still to send, the state and POSTCOPY; after COMMIT
 * the guest runs on the destination (recovery of a broken link:
 * source_recover.c). Then every pending page is sent exactly
 * once: whoever clears its bit in send_bm sends it. The return-path thread
 * clears the bits of pages a vCPU asked for and sends them at once on their
 * own channel;
 * the data channels sweep their stripes in the background, starting near
 * the latest fault. The source keeps the paused guest until DONE.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source_feat.h"

/* The pending pages (send_bm) as DISCARD records on channel 0. */
static int send_discard(struct vmmig_source *src, uint16_t flags)
{
	int ret = 0;

	for (unsigned ri = 0; ri < src->sess.regions.n && !ret; ri++)
		ret = chan_send_discard(&src->chan[0], flags,
					src->sess.regions.r[ri].id,
					src->send_bm[ri],
					region_words(&src->sess.regions.r[ri]));
	return ret;
}

/* Claim one page: true if this caller cleared its pending bit. */
static bool claim(uint64_t *word, uint64_t bit)
{
	return __atomic_fetch_and(word, ~bit, __ATOMIC_ACQ_REL) & bit;
}

/* rp thread: DONE ends it all. Returns 1. */
int src_postcopy_on_done(struct vmmig_source *src, const struct wire_hdr *h,
			 const uint8_t *payload)
{
	char err[WIRE_ERRLEN];
	struct wire_done d;
	int ret = wire_done_unpack(payload, h->len, &d, err, sizeof(err));

	if (ret) {
		src_fail(src, ret, "return path: %s", err);
		return ret;
	}
	pthread_mutex_lock(&src->lock);
	src->done = true;
	src->done_info = d;
	pthread_cond_broadcast(&src->cond);
	pthread_mutex_unlock(&src->lock);
	return 1;
}

/* rp thread: REQ pages go out on the urgent channel. */
int src_postcopy_on_req(struct vmmig_source *src, const struct wire_hdr *h,
			const uint8_t *payload)
{
	char err[WIRE_ERRLEN];
	struct wire_req q;
	unsigned ri;
	int ret;

	ret = wire_req_unpack(payload, h->len, &q, err, sizeof(err));
	ri = regions_index(&src->sess.regions, q.region_id);
	if (!ret && ri == src->sess.regions.n) {
		snprintf(err, sizeof(err), "REQ for unknown region %u",
			 q.region_id);
		ret = -EPROTO;
	}
	if (ret) {
		src_fail(src, ret, "return path: %s", err);
		return ret;
	}
	sess_history_fault(&src->hist, q.count, clock_now_us());
	/* Sent from this thread, right away: a vCPU is waiting, and a hand-
	 * over to another thread would add a wake-up to its latency. */
	struct sender *us = &src->snd[src->ndata];

	for (uint32_t i = 0; i < q.count && !ret; i++) {
		uint64_t page = wire_req_page(&q, i), bit;

		if (page >= src->sess.regions.r[ri].npages) {
			src_fail(src, -EPROTO, "return path: REQ for page "
				 "%llu beyond region %u",
				 (unsigned long long)page, q.region_id);
			return -EPROTO;
		}
		atomic_store(&src->hint, (uint64_t)ri << 48 | page / 64);
		bit = 1ull << (page % 64);
		if (claim(&src->send_bm[ri][page / 64], bit)) {
			src->postcopy_served++;
			ret = src_send_pages(us, &src->sess.regions.r[ri],
					     page / 64, bit);
		}
	}
	if (!ret)
		ret = src_flush_batch(us);
	if (ret)
		src_fail(src, ret, "sending requested pages: %s",
			 vmmig_strerror(ret));
	return ret;
}

/* Next word index >= @w in this sender's stripe. */
static uint64_t stripe_align(uint64_t w, unsigned idx, unsigned n)
{
	uint64_t r = w % n;

	return r <= idx ? w - r + idx : w - r + n + idx;
}

/* Claim and send the pending words [from, to) of region @ri in this
 * sender's stripe. 1 if a new fault moved the hint (start over there). */
static int sweep_range(struct sender *s, unsigned ri, uint64_t from,
		       uint64_t to, uint64_t hint, bool *found)
{
	struct vmmig_source *src = s->src;
	const struct region *r = &src->sess.regions.r[ri];

	for (uint64_t w = stripe_align(from, s->c->index, src->ndata); w < to;
	     w += src->ndata) {
		uint64_t bits = __atomic_exchange_n(&src->send_bm[ri][w], 0,
						    __ATOMIC_ACQ_REL);
		int ret;

		if (!bits)
			continue;
		*found = true;
		ret = src_send_pages(s, r, w, bits);
		if (ret)
			return ret;
		if (atomic_load(&src->hint) != hint)
			return 1;
	}
	return 0;
}

/* The post-copy job of a sender: claim and send its pending stripes. A
 * pass goes from the latest fault to the end of its region, through the
 * other regions, then wraps to the fault; a new fault starts a new pass
 * there.
 * Done when a whole pass found nothing (the guest is paused: no page
 * becomes pending again). */
int src_postcopy_sweep(struct sender *s)
{
	struct vmmig_source *src = s->src;
	const struct region *rg = src->sess.regions.r;
	unsigned nr = src->sess.regions.n;
	bool found;
	int ret;

	do {
		uint64_t hint = atomic_load(&src->hint);
		unsigned r0 = (unsigned)(hint >> 48) % nr;
		uint64_t hw = hint & ((1ull << 48) - 1);

		found = false;
		ret = sweep_range(s, r0, hw, region_words(&rg[r0]), hint,
				  &found);
		for (unsigned k = 1; k < nr && !ret; k++)
			ret = sweep_range(s, (r0 + k) % nr, 0,
					  region_words(&rg[(r0 + k) % nr]),
					  hint, &found);
		if (!ret)
			ret = sweep_range(s, r0, 0, hw, hint, &found);
		if (ret < 0)
			return ret;
		ret = src_flush_batch(s);
		if (ret)
			return ret;
	} while (found);
	return 0;
}

static int wait_done(struct vmmig_source *src)
{
	int ret;

	pthread_mutex_lock(&src->lock);
	while (!src->done && !failure_code(&src->sess.fail))
		pthread_cond_wait(&src->cond, &src->lock);
	ret = src->done ? src->done_info.status : failure_code(&src->sess.fail);
	pthread_mutex_unlock(&src->lock);
	return ret;
}

/* The urgent channel's sender, used by the rp thread (REQ records). */
static int setup_urgent(struct vmmig_source *src)
{
	/* Raw pages: a vCPU waits for each, and zstd of a text page (some
	 * 30 us) costs about as much time as the bytes it saves take on a
	 * 1 Gbit/s link. The background stream keeps compressing. */
	struct enc_config ec = { .compression = VMMIG_COMPRESS_NONE };
	struct sender *s = &src->snd[src->ndata];
	int ret = 0;

	s->src = src;
	s->c = &src->chan[src->ndata];
	/* A vCPU waits for these pages: they must not queue behind the
	 * background stream's share of the bandwidth cap. */
	s->c->uncapped = true;
	if (!s->enc) {
		ret = enc_ctx_new(&ec, &s->enc);
		if (!ret)
			ret = wire_batch_init(&s->batch);
		if (!ret)
			ret = wire_zeros_init(&s->zeros);
	}
	if (!ret) {
		wire_batch_begin(&s->batch, src->sess.regions.r[0].id);
		wire_zeros_begin(&s->zeros, src->sess.regions.r[0].id);
	}
	return ret;
}

/* Send every pending page, END, and wait for DONE. */
static int postcopy_phase(struct vmmig_source *src, struct wire_end *end,
			  unsigned nblobs)
{
	uint64_t hints = atomic_load(&src->hints_sent);
	int ret = src_senders_run(src, src_postcopy_sweep);

	/* Pages hinted in this phase: once their restores are over, send
	 * the ones that failed (drain puts them back in send_bm). */
	if (!ret && atomic_load(&src->hints_sent) != hints) {
		ret = src_drain_restores(src);
		if (!ret)
			ret = src_senders_run(src, src_postcopy_sweep);
	}
	if (!ret && src->sess.opt.v[VMMIG_OPT_VERIFY] &&
	    !(end->flags & WIRE_END_HASH)) {
		/* The paused guest's memory is frozen: hashing it now costs
		 * no downtime, and after the sweep it delays no page. */
		end->flags |= WIRE_END_HASH;
		end->mem_hash = src_memory_digest(src);
	}
	/* Recorded here, unlike a page send's failure, which the sender
	 * records: the caller tells a broken link (recover) from the rest by
	 * the recorded failure. */
	if (!ret && (ret = src_send_end(src, end, nblobs)))
		src_fail(src, ret, "sending END: %s", vmmig_strerror(ret));
	if (!ret)
		ret = wait_done(src);
	return ret;
}

/* The switch: everything from pause to COMMIT. */
static int do_switch(struct vmmig_source *src, struct vmmig_state_sink *sink)
{
	uint8_t pc[WIRE_POSTCOPY_SIZE];
	int ret;

	for (unsigned i = 0; i < src->nchan; i++) {
		ret = chan_send_record(&src->chan[i], WIRE_SWITCH, 0, NULL, 0);
		if (ret)
			return ret;
	}
	ret = send_discard(src, 0);
	if (!ret && src->ops->save_state) {
		ret = src->ops->save_state(src->opaque, sink);
		if (ret) {
			src_fail(src, ret, "saving guest state: %s",
				 vmmig_strerror(ret));
			return ret;
		}
	}
	if (!ret)
		ret = sess_state_send(&src->chan[0], sink);
	if (ret)
		return ret;
	wire_postcopy_pack(pc, src->sess.opt.v[VMMIG_OPT_VERIFY]
				       ? WIRE_POSTCOPY_VERIFY : 0);
	pthread_mutex_lock(&src->lock);
	src->postcopy = true; /* the rp thread keeps reading after READY */
	pthread_mutex_unlock(&src->lock);
	ret = chan_send_record(&src->chan[0], WIRE_POSTCOPY, 0, pc, sizeof(pc));
	/* STARTED comes while pages already flow (a recovery may replace it
	 * with RESUMED). */
	return ret ? ret : src_switch_commit(src);
}

int src_postcopy_run(struct vmmig_source *src, bool first_pass_done)
{
	struct vmmig_state_sink sink = { 0 };
	struct wire_end end = { 0 };
	uint64_t t_pause, t_switch, b_switch;
	unsigned nblobs;
	int ret;

	/* Without a first pass every page is sent now for the first time. */
	src->first_pass = !first_pass_done;
	ret = setup_urgent(src);
	if (ret) {
		src_fail(src, ret, "post-copy setup: %s", vmmig_strerror(ret));
		return ret;
	}
	if (first_pass_done) {
		/* The pages dirtied since they were sent go to the
		 * destination now, while the guest still runs here: it drops
		 * them at the DRAIN barrier. Dropping a large share of guest
		 * memory takes tens of ms of page-table work, which would
		 * otherwise land in the downtime; the switch then only names
		 * the few pages dirtied since this sync. */
		ret = src_sync_pending(src);
		if (!ret && (ret = send_discard(src, WIRE_DISCARD_EARLY)))
			src_fail(src, ret, "early DISCARD: %s",
				 vmmig_strerror(ret));
		/* Restores of hinted pages end before the switch too; failed
		 * ones become pending like dirty pages. */
		if (!ret)
			ret = src_drain_restores(src);
		if (ret)
			return ret;
	}
	ret = src_pause(src, &t_pause);
	if (ret)
		return ret;
	b_switch = src_tx_bytes(src);
	ret = do_switch(src, &sink);
	nblobs = sink.n;
	sess_state_sink_free(&sink);
	if (ret) {
		src_fail(src, ret, "post-copy switch: %s", vmmig_strerror(ret));
		return ret;
	}
	t_switch = clock_now_us();
	src_history_switch(src, t_switch);
	pthread_mutex_lock(&src->sess.stats_lock);
	src->sess.st.downtime_us = t_switch - t_pause;
	src->sess.st.status = VMMIG_STATUS_POSTCOPY;
	src->sess.st.precopy_bytes = b_switch;
	pthread_mutex_unlock(&src->sess.stats_lock);

	/* The destination dropped its copies: no more deltas against them. */
	for (unsigned i = 0; i < src->ndata; i++)
		enc_ctx_drop_cache(src->snd[i].enc);
	for (;;) {
		ret = postcopy_phase(src, &end, nblobs);
		if (!ret || !src->sess.opt.v[VMMIG_OPT_RECOVERY_TIMEOUT_MS] ||
		    !failure_is_link(&src->sess.fail))
			break;
		ret = src_postcopy_recover(src);
		if (ret)
			break;
	}
	if (ret) {
		src_fail(src, ret, "finishing post-copy: %s",
			 vmmig_strerror(ret));
		return ret;
	}
	pthread_mutex_lock(&src->sess.stats_lock);
	src->sess.st.postcopy_bytes = src_tx_bytes(src) - b_switch;
	src->sess.st.postcopy_faults = src->done_info.faults;
	src->sess.st.fault_latency_p50_us = src->done_info.fault_p50_us;
	src->sess.st.fault_latency_p99_us = src->done_info.fault_p99_us;
	src->sess.st.verified = src->done_info.verified == UINT32_MAX
				   ? -1 : (int)src->done_info.verified;
	src->sess.st.remaining_bytes = 0;
	uint64_t t_end = clock_now_us();

	src->sess.st.postcopy_time_us = t_end - t_switch;
	pthread_mutex_unlock(&src->sess.stats_lock);
	src_history_end(src, 0, t_end);
	return 0;
}
