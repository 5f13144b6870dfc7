/* SPDX-License-Identifier: MIT */
/*
 * Post-copy link recovery on the destination: drop the broken channels,
 * wait for the source to reconnect with the same UUID, tell it what is
 * still missing here, and go on. The guest meanwhile waits on its faults.
 */
#include <errno.h>
#include <stdio.h>

#include "dest.h"

/* Stop the receivers and drop the channels (not the listener). */
void dest_close_channels(struct vmmig_dest *dst)
{
	pthread_mutex_lock(&dst->rp_lock);
	dst->rp_chan = NULL;
	dst->err_chan = NULL;
	pthread_mutex_unlock(&dst->rp_lock);
	atomic_store(&dst->sh.abort, true);
	for (unsigned i = 0; i < VMMIG_MAX_CHANNELS; i++)
		chan_shutdown(&dst->chan[i]);
	for (unsigned i = 0; i < VMMIG_MAX_CHANNELS; i++) {
		struct receiver *rv = &dst->rcv[i];

		if (rv->running)
			pthread_join(rv->thread, NULL);
		rv->running = false;
		wire_reader_free(rv->rd);
		rv->rd = NULL;
		dst->rx_closed += atomic_load(&dst->chan[i].rx_bytes);
		atomic_store(&dst->chan[i].rx_bytes, 0);
		/* A cancel may be shutting every channel down right now. */
		pthread_mutex_lock(&dst->chan_lock);
		chan_close(&dst->chan[i]);
		pthread_mutex_unlock(&dst->chan_lock);
	}
}

/* A cancel during a post-copy pause: the link's failure came first (the
 * cancel's was not recorded) and recovery forgets it; the cancel stands. */
static int pause_cancelled(struct vmmig_dest *dst)
{
	if (!atomic_load(&dst->cancelled))
		return 0;
	failure_clear(&dst->fail);
	dest_fail(dst, -ECANCELED, "cancelled by the embedder");
	return -ECANCELED;
}

static void set_status(struct vmmig_dest *dst, int status)
{
	pthread_mutex_lock(&dst->stats_lock);
	dst->st.status = status;
	pthread_mutex_unlock(&dst->stats_lock);
}

/* The post-copy link broke: wait for the source to reconnect, tell it what
 * is missing here, and go on. Gives up at @deadline (plus at most one IO
 * timeout: an accepted source that goes silent in its handshake). */
int dest_recover(struct vmmig_dest *dst, uint64_t deadline)
{
	struct receiver *rv0;
	char why[sizeof(dst->fail.msg)];
	int ret;

	snprintf(why, sizeof(why), "%s", dst->fail.msg);
	vlog(&dst->log, VMMIG_LOG_WARN,
	     "post-copy link lost (%s): waiting for the source", why);
	set_status(dst, VMMIG_STATUS_POSTCOPY_PAUSED);
	do {
		uint64_t t = now_us();
		int left_ms = (int)((deadline > t ? deadline - t : 0) / 1000) + 1;

		atomic_store(&dst->wd.armed, false);
		dest_close_channels(dst);
		/* Reset the abort before looking for a cancel: a cancel after
		 * the look aborts what follows (its abort comes later). */
		atomic_store(&dst->sh.abort, false);
		ret = pause_cancelled(dst);
		if (ret)
			return ret;
		failure_clear(&dst->fail);
		dst->recover_ms = left_ms;
		ret = dest_accept_all(dst, true);
		rv0 = ret ? NULL : dest_main_receiver(dst);
		if (!ret)
			ret = rv0 ? dpc_resync(dst, rv0->c) : -EPROTO;
		if (!ret)
			break;
		if (pause_cancelled(dst))
			return -ECANCELED;
		if (!failure_is_link(&dst->fail) && ret != -ETIMEDOUT)
			return ret; /* refused: not a reconnect of ours */
		vlog(&dst->log, VMMIG_LOG_WARN, "post-copy reconnect failed "
		     "(%s), still waiting", vmmig_strerror(ret));
	} while (now_us() < deadline);
	if (ret) {
		failure_clear(&dst->fail);
		dest_fail(dst, -ETIMEDOUT, "post-copy recovery: no source came "
			  "back within %lld ms (link lost: %s)",
			  (long long)dst->opt.v[VMMIG_OPT_RECOVERY_TIMEOUT_MS],
			  why);
		return -ETIMEDOUT;
	}
	watchdog_arm(&dst->wd);
	pthread_mutex_lock(&dst->stats_lock);
	dst->st.status = VMMIG_STATUS_POSTCOPY;
	dst->st.postcopy_recoveries++;
	pthread_mutex_unlock(&dst->stats_lock);
	vlog(&dst->log, VMMIG_LOG_INFO, "post-copy link restored");
	return 0;
}
