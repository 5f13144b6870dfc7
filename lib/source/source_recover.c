/* SPDX-License-Identifier: MIT */
/*
 * Post-copy link recovery on the source: reconnect with the same UUID
 * within the recovery timeout, read what the destination still misses
 * (DISCARD bitmaps, then RESUMED), and let the sweep go on. Nothing is
 * lost meanwhile: the destination's guest waits on its faults and this one
 * stays paused.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "source_feat.h"

int src_postcopy_on_missing(struct vmmig_source *src, const struct wire_hdr *h,
			    const uint8_t *payload, char *err, size_t errlen)
{
	struct wire_discard d;
	unsigned ri;
	int ret;

	if (h->type == WIRE_RESUMED) {
		/* Only a destination that started the guest takes a resume. */
		pthread_mutex_lock(&src->lock);
		src->dest_started = true;
		pthread_mutex_unlock(&src->lock);
		return 1;
	}
	if (h->type != WIRE_DISCARD || h->flags) {
		snprintf(err, errlen, "expected DISCARD or RESUMED, got record "
			 "type 0x%04x flags 0x%x", h->type, h->flags);
		return -EPROTO;
	}
	ret = wire_discard_unpack(payload, h->len, &d, err, errlen);
	if (ret)
		return ret;
	ri = regions_index(&src->sess.regions, d.region_id);
	if (ri == src->sess.regions.n) {
		snprintf(err, errlen, "DISCARD for unknown region %u",
			 d.region_id);
		return -EPROTO;
	}
	/* A word past the bitmap would be a write outside it; a bit past the
	 * region's last page would make the sweep send memory beyond it. */
	ret = wire_discard_check(&d, src->sess.regions.r[ri].npages, err,
				 errlen);
	if (!ret)
		wire_discard_apply(&d, src->send_bm[ri], false);
	return ret;
}

/* The destination's list of pages it still misses, after a reconnect:
 * pages lost in flight become pending again. */
static int receive_missing(struct vmmig_source *src)
{
	char err[WIRE_ERRLEN];

	for (;;) {
		const uint8_t *p;
		struct wire_hdr h;
		int ret = wire_reader_next(src->rp_reader, &h, &p, NULL);

		if (!ret)
			ret = src_postcopy_on_missing(src, &h, p, err,
						      sizeof(err));
		else if (ret == -EPROTO)
			snprintf(err, sizeof(err), "%s",
				 wire_reader_error(src->rp_reader));
		if (ret == -EPROTO)
			src_fail(src, ret, "post-copy recovery: %s", err);
		if (ret)
			return ret > 0 ? 0 : ret;
	}
}

/*
 * The link broke after the switch. Nothing is lost: the destination's
 * guest waits on its faults, this guest stays paused. Reconnect with the
 * same UUID until the recovery timeout, learn what the destination still
 * misses, and carry on.
 */
int src_postcopy_recover(struct vmmig_source *src)
{
	uint64_t deadline = clock_now_us() + (uint64_t)src->sess.opt
		.v[VMMIG_OPT_RECOVERY_TIMEOUT_MS] * 1000u;
	char why[sizeof(src->sess.fail.msg)];
	int ret;

	failure_copy_text(&src->sess.fail, why, sizeof(why));
	log_msg(&src->sess.log, VMMIG_LOG_WARN,
	     "post-copy link lost (%s): reconnecting", why);
	atomic_store(&src->sess.wd.armed, false);
	src_rp_stop(src);
	sess_set_status(&src->sess, VMMIG_STATUS_POSTCOPY_PAUSED);
	do {
		uint64_t t = clock_now_us(),
			 left_ms = (t < deadline ? deadline - t : 0) / 1000 + 1;
		int64_t io = src->sess.opt.v[VMMIG_OPT_IO_TIMEOUT_MS];

		/* The watchdog may be shutting them down right now (it
		 * fired as the attempt failed on its own). */
		pthread_mutex_lock(&src->chan_lock);
		for (unsigned i = 0; i < src->nchan; i++) {
			src->tx_closed +=
				atomic_exchange(&src->chan[i].tx_bytes, 0);
			chan_close(&src->chan[i]);
		}
		pthread_mutex_unlock(&src->chan_lock);
		failure_clear(&src->sess.fail);
		atomic_store(&src->sess.sh.abort, false);
		src->attempt++; /* counted over the whole migration */
		/* An attempt ends by the deadline (connect) or after one IO
		 * timeout of silence (the watchdog, during the handshake). */
		sess_wd_arm(&src->sess.wd);
		ret = src_connect_all(src,
				      (int)((int64_t)left_ms < io
					    ? (int64_t)left_ms : io), 0);
		if (!ret)
			ret = src_handshake(src, WIRE_HELLO_RESUME |
					    (src->sess.opt.v[VMMIG_OPT_VERIFY]
						 ? WIRE_HELLO_VERIFY : 0));
		if (!ret)
			ret = receive_missing(src);
		if (!ret)
			break;
		atomic_store(&src->sess.wd.armed, false);
		log_msg(&src->sess.log, VMMIG_LOG_WARN,
			"post-copy reconnect failed "
			"(%s), retrying", vmmig_strerror(ret));
		if (clock_now_us() + 50000 < deadline)
			usleep(50000);
	} while (clock_now_us() < deadline);
	if (ret) {
		failure_clear(&src->sess.fail);
		src_fail(src, ret, "post-copy recovery gave up after %lld ms: "
			 "%s",
			 (long long)src->sess.opt
				.v[VMMIG_OPT_RECOVERY_TIMEOUT_MS],
			 vmmig_strerror(ret));
		return ret;
	}
	failure_clear(&src->sess.fail);
	/* Page counts in END are per connection. */
	for (unsigned i = 0; i < src->nchan; i++) {
		src->snd[i].pages_sent = 0;
		if (src->snd[i].batch.payload)
			wire_batch_begin(&src->snd[i].batch,
					 src->snd[i].batch.region_id);
	}
	pthread_mutex_lock(&src->lock);
	src->acked = true; /* the rp thread goes on reading REQ and DONE */
	pthread_mutex_unlock(&src->lock);
	ret = src_rp_start(src);
	if (ret)
		return ret;
	sess_wd_arm(&src->sess.wd);
	pthread_mutex_lock(&src->sess.stats_lock);
	src->sess.st.status = VMMIG_STATUS_POSTCOPY;
	src->sess.st.postcopy_recoveries++;
	pthread_mutex_unlock(&src->sess.stats_lock);
	log_msg(&src->sess.log, VMMIG_LOG_INFO, "post-copy link restored");
	return 0;
}
