/* SPDX-License-Identifier: MIT */
/*
 * The bottom of the destination session: recording its first failure,
 * stopping every thread's I/O, the bytes received, its channels. Every
 * other file of the receiving side calls down to here; this file calls
 * nothing above.
 */
#include <errno.h>

#include "dest.h"

void dst_abort_io(struct vmmig_dest *dst)
{
	atomic_store(&dst->sess.sh.abort, true);
	pthread_mutex_lock(&dst->chan_lock);
	for (unsigned i = 0; i < VMMIG_MAX_CHANNELS; i++)
		chan_shutdown(&dst->chan[i]);
	pthread_mutex_unlock(&dst->chan_lock);
	chan_listener_shutdown(&dst->lis);
}

void dst_fail(struct vmmig_dest *dst, int code, const char *fmt, ...)
{
	va_list ap;

	/* After the post-copy switch a broken link is waited out. */
	bool may_recover = atomic_load(&dst->pc_armed) &&
			   dst->sess.opt.v[VMMIG_OPT_RECOVERY_TIMEOUT_MS] > 0;

	va_start(ap, fmt);
	failure_record(&dst->sess.fail, &dst->sess.log, code, may_recover, fmt,
		       ap);
	va_end(ap);
	pthread_mutex_lock(&dst->lock);
	pthread_cond_broadcast(&dst->cond);
	pthread_mutex_unlock(&dst->lock);
}

uint64_t dst_rx_bytes(struct vmmig_dest *dst)
{
	uint64_t sum = dst->rx_closed;

	for (unsigned i = 0; i < VMMIG_MAX_CHANNELS; i++)
		sum += atomic_load(&dst->chan[i].rx_bytes);
	return sum;
}

struct receiver *dst_main_receiver(struct vmmig_dest *dst)
{
	for (unsigned i = 0; i < dst->nchan; i++)
		if (dst->rcv[i].c && dst->rcv[i].c->index == 0)
			return &dst->rcv[i];
	return NULL;
}

/* Stop the receivers and drop the channels (not the listener). */
void dst_close_channels(struct vmmig_dest *dst)
{
	pthread_mutex_lock(&dst->rp_lock);
	dst->rp_chan = NULL;
	dst->err_chan = NULL;
	pthread_mutex_unlock(&dst->rp_lock);
	atomic_store(&dst->sess.sh.abort, true);
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
