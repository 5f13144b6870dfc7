/* SPDX-License-Identifier: MIT */
/*
 * The source's migration thread: connect, src_handshake, pre-copy rounds under
 * the policy, then stop-and-copy (source_switch.c) or post-copy. Any failure
 * before COMMIT resumes the guest if it was paused; the source only ever
 * reads guest memory, so it is untouched either way. After COMMIT the guest
 * is never resumed here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source_main.h"
#include "transport/ratelimit.h"

static void watchdog_fire(void *arg)
{
	struct vmmig_source *src = arg;

	src_fail(src, -ETIMEDOUT, "no progress for %lld ms",
		 (long long)src->sess.opt.v[VMMIG_OPT_IO_TIMEOUT_MS]);
}

static void send_round_marker(struct vmmig_source *src, uint32_t round,
			      uint64_t dirty)
{
	struct wire_round wr = { .round = round, .dirty_pages = dirty };
	uint8_t buf[WIRE_ROUND_SIZE];

	wire_round_pack(buf, &wr);
	/* Informational; a failure shows up on the next page send. */
	(void)chan_send_record(&src->chan[0], WIRE_ROUND, 0, buf, sizeof(buf));
}

/* One pre-copy pass over send_bm; then the policy's figures. */
static int precopy_round(struct vmmig_source *src, uint32_t round,
			 uint64_t *bw, struct vmmig_round_info *ri)
{
	uint64_t pages = regions_count_bits(src->send_bm, &src->sess.regions);
	uint64_t t0 = clock_now_us(), b0 = src_tx_bytes(src);
	int ret;

	src_history_begin(src, VMMIG_ROUND_PRECOPY, round, t0);
	send_round_marker(src, round, pages);
	src->first_pass = round == 0;
	ret = src_senders_run(src, src_send_round);
	src->first_pass = false;
	/* The round ends when the destination has all of it, not when its
	 * last byte went into a socket buffer: a send buffer and a queue on
	 * the path can hold tens of ms of a slow link, which would inflate
	 * the bandwidth, and the pages dirtied while it drains would make
	 * the stop-and-copy longer than the policy expected. */
	uint64_t t_drain = clock_now_us();

	if (!ret)
		ret = src_drain_wait(src);
	if (ret)
		return ret;
	uint64_t t_sync = clock_now_us(), dt = t_sync - t0,
		 bytes = src_tx_bytes(src) - b0;

	/* The quickest drain is the best round-trip figure we have. */
	if (!src->rtt_us || t_sync - t_drain < src->rtt_us)
		src->rtt_us = t_sync - t_drain;
	ret = src_sync_next_round(src);
	if (ret)
		return ret;
	src_take_refetch(src);
	/* Besides the pages, the pause costs a dirty sync like this one and
	 * a round trip for the ACK. */
	uint64_t fixed_us = clock_now_us() - t_sync + src->rtt_us;
	/* A round that moved little measures latency, not bandwidth: keep
	 * the previous estimate then. */
	if (dt && (bytes >= (1u << 20) || !*bw))
		*bw = bytes * 1000000u / dt;
	uint64_t dirty = regions_count_bits(src->send_bm, &src->sess.regions);
	src_history_end(src, dirty, t_sync);
	*ri = (struct vmmig_round_info){
		.round = round,
		.guest_bytes = src->sess.regions.total_bytes,
		.round_bytes = bytes,
		.round_pages = pages,
		.round_time_us = dt,
		.dirty_pages = dirty,
		.dirty_bytes = dirty * VMMIG_PAGE_SIZE,
		.bandwidth_bps = *bw,
		.dirty_rate_pps = dt ? dirty * 1000000u / dt : 0,
		.expected_downtime_us =
			*bw ? dirty * VMMIG_PAGE_SIZE * 1000000u / *bw +
			      fixed_us
			    : UINT64_MAX,
		.elapsed_us = clock_now_us() - src->sess.t_start,
		.downtime_limit_us = (uint64_t)src->sess.opt
			.v[VMMIG_OPT_DOWNTIME_LIMIT_MS] * 1000u,
		.max_rounds = (uint32_t)src->sess.opt.v[VMMIG_OPT_MAX_ROUNDS],
	};
	pthread_mutex_lock(&src->sess.stats_lock);
	src->sess.st.rounds = round + 1;
	src->sess.st.remaining_bytes = ri->dirty_bytes;
	src->sess.st.bandwidth_bps = *bw;
	src->sess.st.dirty_rate_pps = ri->dirty_rate_pps;
	src->sess.st.expected_downtime_us = ri->expected_downtime_us;
	pthread_mutex_unlock(&src->sess.stats_lock);
	log_msg(&src->sess.log, VMMIG_LOG_INFO,
		"round %u: %llu pages in %llu us, %llu dirty, %llu MB/s", round,
		(unsigned long long)pages, (unsigned long long)dt,
		(unsigned long long)dirty,
		(unsigned long long)(*bw / 1000000u));
	return 0;
}

static int migrate(struct vmmig_source *src)
{
	uint64_t bw = 0;
	int ret;

	ret = src_connect_all(src,
			      (int)src->sess.opt.v[VMMIG_OPT_IO_TIMEOUT_MS],
			      src->sess.opt.v[VMMIG_OPT_CONNECT_RETRY_MS]);
	if (ret)
		return ret;
	ret = src_handshake(src, src->sess.opt.v[VMMIG_OPT_VERIFY]
				 ? WIRE_HELLO_VERIFY : 0);
	if (ret)
		return ret;
	atomic_store(&src->peer_ready, true);
	pthread_mutex_lock(&src->sess.stats_lock);
	src->sess.st.setup_time_us = clock_now_us() - src->sess.t_start;
	src->sess.st.status = VMMIG_STATUS_ACTIVE;
	pthread_mutex_unlock(&src->sess.stats_lock);
	/* The bitmaps first: the return path marks REFETCH pages in them. */
	ret = src_alloc_bitmaps(src);
	if (!ret)
		ret = src_rp_start(src);
	if (!ret)
		ret = src_senders_start(src);
	if (ret) {
		src_fail(src, ret, "setting up: %s", vmmig_strerror(ret));
		return ret;
	}
	ret = src_start_tracking(src);
	if (ret)
		return ret;
	/* Pure post-copy may skip the first pass: send_bm is all ones, so
	 * every page is then pending at the switch. */
	if (vmmig_policy_wants_first_pass(src->policy) == 0)
		return src_postcopy_run(src, false);

	for (uint32_t round = 0;; round++) {
		struct vmmig_round_info ri;
		struct vmmig_decision d;

		ret = precopy_round(src, round, &bw, &ri);
		if (ret)
			return ret;
		ri.throttle_percent = src->sess.st.throttle_percent;
		ret = vmmig_policy_decide(src->policy, &ri, &d);
		if (ret) {
			src_fail(src, ret, "policy %s: %s",
				 vmmig_policy_name(src->policy),
				 vmmig_strerror(ret));
			return ret;
		}
		pthread_mutex_lock(&src->sess.stats_lock);
		src->sess.st.path = d.path;
		memcpy(src->sess.st.path_reason, d.reason, sizeof(d.reason));
		pthread_mutex_unlock(&src->sess.stats_lock);
		if (d.action == VMMIG_ACTION_STOP_AND_COPY)
			break;
		if (d.action == VMMIG_ACTION_POSTCOPY)
			return src_postcopy_run(src, true);
		if (d.action == VMMIG_ACTION_THROTTLE)
			src_throttle(src, &d);
	}
	return src_stop_and_copy(src);
}

void *src_main(void *arg)
{
	struct vmmig_source *src = arg;
	int ret;

	ret = sess_start_watchdog(&src->sess, watchdog_fire, src);
	if (!ret) {
		atomic_store(&src->sess.wd.armed, true);
		ret = migrate(src);
	}
	if (ret) {
		src_fail(src, ret, "%s", vmmig_strerror(ret));
		/* The first failure is the cause; later ones are its echoes
		 * (e.g. -ECANCELED from the shutdown a timeout triggered). */
		ret = failure_code(&src->sess.fail);
	}
	sess_wd_stop(&src->sess.wd);
	/* Unblock and end every thread before touching the guest again. */
	if (ret)
		src_abort_io(src);
	src_senders_stop(src);
	src_rp_stop(src);
	vmmig_tracker_stop(src->tracker);
	/* After COMMIT the destination may run the guest: resuming here could
	 * run it twice. The source keeps it paused (after a post-copy switch
	 * with the only copy of the pages that never arrived). */
	if (ret && src->paused && !src->committed && src->ops->resume) {
		int r2 = src->ops->resume(src->opaque);

		if (r2)
			log_msg(&src->sess.log, VMMIG_LOG_ERROR,
				"resuming the guest after failure: %s",
				vmmig_strerror(r2));
		src->paused = false;
	}
	pthread_mutex_lock(&src->chan_lock); /* a late cancel may shut them */
	for (unsigned i = 0; i < src->nchan; i++)
		chan_close(&src->chan[i]);
	pthread_mutex_unlock(&src->chan_lock);
	src_history_close(src);
	wire_reader_free(src->rp_reader);
	src->rp_reader = NULL;
	src_free_bitmaps(src);
	if (ret && src->sess.st.throttle_percent && src->ops->throttle)
		src->ops->throttle(src->opaque, 0);

	sess_finish(&src->sess, ret, src_tx_bytes(src), "migration");
	return NULL;
}
