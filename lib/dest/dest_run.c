/* SPDX-License-Identifier: MIT */
/*
 * The destination's migration thread and its receivers: pages land in guest
 * memory as they arrive; after END on every channel the counts and the state
 * are checked, the state is loaded, READY goes back on channel 0, and only
 * on the source's COMMIT is the guest started here (dest_switch.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dest_main.h"

static void add_counts(struct vmmig_dest *dst,
		       const struct wire_page_counts *pc)
{
	struct enc_counters ec = { 0 };

	memcpy(ec.pages, pc->pages, sizeof(ec.pages));
	sess_counters_add_enc(&dst->sess.cnt, &ec);
}

static void *receiver_main(void *arg)
{
	struct receiver *rv = arg;
	struct vmmig_dest *dst = rv->dst;

	/* The urgent channel's pages are what a faulting vCPU waits for. */
	if (rv->c->index == dst->nchan - 1 && dst->nchan > 1)
		affinity_pin_fault(&dst->sess.opt, &dst->sess.log,
				   "urgent receiver");

	for (;;) {
		struct wire_page_counts pc = { 0 };
		const uint8_t *payload;
		struct wire_hdr h;
		int ret;

		ret = wire_reader_next(rv->rd, &h, &payload, &pc);
		if (ret) {
			if (ret == -EPROTO)
				dst_fail(dst, ret, "channel %u: %s",
					 rv->c->index,
					 wire_reader_error(rv->rd));
			else
				dst_fail(dst, ret, "channel %u: %s",
					 rv->c->index, vmmig_strerror(ret));
			break;
		}
		if (h.type == WIRE_PAGES || h.type == WIRE_ZERO) {
			add_counts(dst, &pc);
			continue;
		}
		if (dst_on_record(rv, &h, payload))
			break;
	}
	pthread_mutex_lock(&dst->lock);
	dst->active--;
	pthread_cond_broadcast(&dst->cond);
	pthread_mutex_unlock(&dst->lock);
	return NULL;
}

static void watchdog_fire(void *arg)
{
	struct vmmig_dest *dst = arg;

	dst_fail(dst, -ETIMEDOUT, "source silent for %lld ms",
		 (long long)dst->sess.opt.v[VMMIG_OPT_IO_TIMEOUT_MS]);
	dst_abort_io(dst);
}

/* Wait until every receiver saw END, or something failed. */
static int receive_all(struct vmmig_dest *dst)
{
	int ret = 0;

	pthread_mutex_lock(&dst->lock);
	dst->active = dst->nchan;
	pthread_mutex_unlock(&dst->lock);
	for (unsigned i = 0; i < dst->nchan && !ret; i++) {
		ret = -pthread_create(&dst->rcv[i].thread, NULL, receiver_main,
				      &dst->rcv[i]);
		if (ret) {
			pthread_mutex_lock(&dst->lock);
			dst->active -= dst->nchan - i;
			pthread_mutex_unlock(&dst->lock);
			dst_fail(dst, ret, "starting receivers");
		} else {
			dst->rcv[i].running = true;
		}
	}
	pthread_mutex_lock(&dst->lock);
	while (dst->active && !failure_code(&dst->sess.fail))
		pthread_cond_wait(&dst->cond, &dst->lock);
	pthread_mutex_unlock(&dst->lock);
	return failure_code(&dst->sess.fail);
}

/* After post-copy the guest already runs here: check and report DONE. */
static int finish_postcopy(struct vmmig_dest *dst, struct receiver *rv0,
			   int *verified)
{
	struct wire_done done;
	uint8_t buf[WIRE_DONE_SIZE];
	int ret = dst_restore_finish(dst);

	if (!ret)
		ret = dst_pc_finish(dst, &done);
	if (ret)
		return ret;
	if (rv0->end.flags & WIRE_END_HASH) {
		uint64_t h = atomic_load(&dst->vsum);

		if (!dst->vhash) {
			dst_fail(dst, -EPROTO, "END carries a memory hash the "
				 "handshake did not announce");
			return -EPROTO;
		}

		*verified = h == rv0->end.mem_hash;
		if (!*verified) {
			dst_fail(dst, -EIO,
				 "memory verification failed: page-sum hash "
				 "%016llx, source had %016llx",
				 (unsigned long long)h,
				 (unsigned long long)rv0->end.mem_hash);
			return -EIO;
		}
		done.verified = (uint32_t)*verified;
	}
	wire_done_pack(buf, &done);
	ret = chan_send_record(rv0->c, WIRE_DONE, 0, buf, sizeof(buf));
	if (ret)
		dst_fail(dst, ret, "sending DONE: %s", vmmig_strerror(ret));
	return ret;
}

/* Everything arrived? Then check it and load the state: READY follows. */
static int finish(struct vmmig_dest *dst, int *verified)
{
	struct receiver *rv0 = dst_main_receiver(dst);
	int ret;

	for (unsigned i = 0; i < dst->nchan; i++) {
		struct receiver *rv = &dst->rcv[i];
		uint64_t got = wire_reader_pages(rv->rd);

		if (rv->end.pages != got) {
			dst_fail(dst, -EPROTO,
				 "channel %u: source sent %llu pages, %llu "
				 "arrived", rv->c->index,
				 (unsigned long long)rv->end.pages,
				 (unsigned long long)got);
			return -EPROTO;
		}
	}
	if (!(rv0->end.flags & WIRE_END_MAIN) ||
	    rv0->end.nblobs != dst->state.n ||
	    !sess_state_complete(&dst->state)) {
		dst_fail(dst, -EPROTO,
			 "state incomplete: %u blobs announced, %u arrived",
			 rv0->end.nblobs, dst->state.n);
		return -EPROTO;
	}
	*verified = -1;
	if (dst->pc_armed)
		return finish_postcopy(dst, rv0, verified);
	ret = dst_restore_finish(dst); /* no read may land after the start */
	if (ret)
		return ret;
	/* Verification comes after the start (DIGEST), not in the pause. */
	if (rv0->end.flags & WIRE_END_HASH) {
		dst_fail(dst, -EPROTO, "pre-copy END with a memory hash");
		return -EPROTO;
	}
	for (unsigned i = 0; i < dst->state.n && dst->ops->load_state; i++) {
		const struct state_blob *b = &dst->state.b[i];
		int ret = dst->ops->load_state(dst->opaque, b->id, b->data,
					       b->len);

		if (ret) {
			dst_fail(dst, ret, "loading state blob %u: %s", b->id,
				 vmmig_strerror(ret));
			return ret;
		}
	}
	return 0;
}

static int migrate(struct vmmig_dest *dst)
{
	struct receiver *rv0;
	int verified = -1;
	int ret;

	ret = dst_accept_all(dst, false);
	if (!ret)
		ret = dst_populate_start(dst);
	if (ret)
		return ret;
	pthread_mutex_lock(&dst->sess.stats_lock);
	dst->sess.st.setup_time_us = clock_now_us() - dst->sess.t_start;
	dst->sess.st.status = VMMIG_STATUS_ACTIVE;
	dst->sess.st.channels = dst->nchan - 1; /* the last is the urgent one */
	pthread_mutex_unlock(&dst->sess.stats_lock);
	ret = receive_all(dst);
	/* After the post-copy switch a broken link pauses: the guest waits on
	 * its faults while the source reconnects. */
	while (ret && dst->pc_armed &&
	       dst->sess.opt.v[VMMIG_OPT_RECOVERY_TIMEOUT_MS] &&
	       failure_is_link(&dst->sess.fail)) {
		ret = dst_recover(dst, clock_now_us() +
				  (uint64_t)dst->sess.opt
				  .v[VMMIG_OPT_RECOVERY_TIMEOUT_MS] * 1000u);
		if (ret)
			break; /* a timed-out recovery is final */
		ret = receive_all(dst);
	}
	if (!ret)
		ret = finish(dst, &verified);
	rv0 = dst_main_receiver(dst);
	if (dst->pc_armed && rv0) {
		pthread_mutex_lock(&dst->sess.stats_lock);
		dst->sess.st.verified = verified;
		dst->sess.st.rounds = rv0->rounds;
		pthread_mutex_unlock(&dst->sess.stats_lock);
		if (!ret)
			return 0; /* started at the switch already */
	}
	if (ret) {
		/* Tell the source why (unless it told us), best effort. */
		if (rv0 && !dst->sess.fail.from_peer)
			chan_send_error(rv0->c, &dst->sess.fail, "destination",
					100);
		return ret;
	}
	ret = dst_sw_ready_commit(dst, rv0);
	if (ret)
		return ret;
	/* Inside start() the migration is over: final figures (verification
	 * ends after it, with the source's digest). */
	pthread_mutex_lock(&dst->sess.stats_lock);
	dst->sess.st.rounds = rv0->rounds;
	dst->sess.st.status = VMMIG_STATUS_COMPLETED;
	dst->sess.st.total_time_us = clock_now_us() - dst->sess.t_start;
	dst->sess.st.transferred_bytes = dst_rx_bytes(dst);
	pthread_mutex_unlock(&dst->sess.stats_lock);
	ret = dst_sw_start(dst, rv0);
	if (!ret && dst->vhash)
		ret = dst_sw_check_digest(dst, rv0, &verified);
	pthread_mutex_lock(&dst->sess.stats_lock);
	dst->sess.st.verified = verified;
	pthread_mutex_unlock(&dst->sess.stats_lock);
	return ret;
}

void *dst_main(void *arg)
{
	struct vmmig_dest *dst = arg;
	int ret;

	ret = sess_start_watchdog(&dst->sess, watchdog_fire, dst);
	if (!ret)
		ret = migrate(dst);
	if (ret) {
		dst_fail(dst, ret, "%s", vmmig_strerror(ret));
		ret = failure_code(&dst->sess.fail);
	}
	sess_wd_stop(&dst->sess.wd);
	dst_populate_stop(dst);
	dst_abort_io(dst);
	dst_close_channels(dst);
	if (dst->rs) {
		dst_restore_finish(dst); /* final figures */
		dst_restore_free(dst);
	}
	/* Pages that will never come must not read as zero (only once the
	 * memory is armed for post-copy: before that the guest never runs
	 * here). Nothing places pages any more. */
	uint64_t lost = ret && dst->pc && dst->pc->uffd >= 0
				? dst_pc_poison_missing(dst) : 0;
	pthread_mutex_lock(&dst->sess.stats_lock);
	dst->sess.st.postcopy_pages_lost = lost;
	pthread_mutex_unlock(&dst->sess.stats_lock);
	sess_finish(&dst->sess, ret, dst->rx_closed, "incoming migration");
	return NULL;
}
