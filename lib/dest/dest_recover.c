/* SPDX-License-Identifier: MIT */
/*
 * Post-copy link recovery on the destination: drop the broken channels,
 * wait for the source to reconnect with the same UUID, tell it what is
 * still missing here, and go on. The guest meanwhile waits on its faults.
 * Called by the driver (dest_run.c); calls the handshake and the fault
 * thread's resync.
 */
#include <errno.h>
#include <stdio.h>

#include "dest_feat.h"

/* A cancel during a post-copy pause: the link's failure came first (the
 * cancel's was not recorded) and recovery forgets it; the cancel stands. */
static int pause_cancelled(struct vmmig_dest *dst)
{
	if (!atomic_load(&dst->cancelled))
		return 0;
	failure_clear(&dst->sess.fail);
	dst_fail(dst, -ECANCELED, "cancelled by the embedder");
	return -ECANCELED;
}

/* The post-copy link broke: wait for the source to reconnect, tell it what
 * is missing here, and go on. Gives up at @deadline (plus at most one IO
 * timeout: an accepted source that goes silent in its handshake). */
int dst_recover(struct vmmig_dest *dst, uint64_t deadline)
{
	struct receiver *rv0;
	char why[sizeof(dst->sess.fail.msg)];
	int ret;

	failure_copy_text(&dst->sess.fail, why, sizeof(why));
	log_msg(&dst->sess.log, VMMIG_LOG_WARN,
		"post-copy link lost (%s): waiting for the source", why);
	sess_set_status(&dst->sess, VMMIG_STATUS_POSTCOPY_PAUSED);
	do {
		uint64_t t = clock_now_us();
		int left_ms =
			(int)((deadline > t ? deadline - t : 0) / 1000) + 1;

		atomic_store(&dst->sess.wd.armed, false);
		dst_close_channels(dst);
		/* Reset the abort before looking for a cancel: a cancel after
		 * the look aborts what follows (its abort comes later). */
		atomic_store(&dst->sess.sh.abort, false);
		ret = pause_cancelled(dst);
		if (ret)
			return ret;
		failure_clear(&dst->sess.fail);
		dst->recover_ms = left_ms;
		ret = dst_accept_all(dst, true);
		rv0 = ret ? NULL : dst_main_receiver(dst);
		if (!ret)
			ret = rv0 ? dst_pc_resync(dst, rv0->c) : -EPROTO;
		if (!ret)
			break;
		if (pause_cancelled(dst))
			return -ECANCELED;
		if (!failure_is_link(&dst->sess.fail) && ret != -ETIMEDOUT)
			return ret; /* refused: not a reconnect of ours */
		log_msg(&dst->sess.log, VMMIG_LOG_WARN,
			"post-copy reconnect failed (%s), still waiting",
			vmmig_strerror(ret));
	} while (clock_now_us() < deadline);
	if (ret) {
		failure_clear(&dst->sess.fail);
		dst_fail(dst, -ETIMEDOUT, "post-copy recovery: no source came "
			 "back within %lld ms (link lost: %s)",
			 (long long)dst->sess.opt
				.v[VMMIG_OPT_RECOVERY_TIMEOUT_MS],
			 why);
		return -ETIMEDOUT;
	}
	sess_wd_arm(&dst->sess.wd);
	pthread_mutex_lock(&dst->sess.stats_lock);
	dst->sess.st.status = VMMIG_STATUS_POSTCOPY;
	dst->sess.st.postcopy_recoveries++;
	pthread_mutex_unlock(&dst->sess.stats_lock);
	log_msg(&dst->sess.log, VMMIG_LOG_INFO, "post-copy link restored");
	return 0;
}
