/* SPDX-License-Identifier: MIT */
/*
 * The bottom of the source session: recording its first failure, telling
 * the destination why, and stopping every thread's I/O. Every other file
 * of the sending side calls down to here; this file calls nothing above.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "source.h"

void src_abort_io(struct vmmig_source *src)
{
	atomic_store(&src->sess.sh.abort, true);
	pthread_mutex_lock(&src->chan_lock);
	for (unsigned i = 0; i < src->nchan; i++)
		chan_shutdown(&src->chan[i]);
	pthread_mutex_unlock(&src->chan_lock);
	pthread_mutex_lock(&src->lock);
	pthread_cond_broadcast(&src->cond);
	pthread_mutex_unlock(&src->lock);
}

void src_fail(struct vmmig_source *src, int code, const char *fmt, ...)
{
	va_list ap;

	/* After the post-copy switch a broken link is retried. */
	pthread_mutex_lock(&src->lock);
	bool may_recover = src->postcopy &&
			   src->sess.opt.v[VMMIG_OPT_RECOVERY_TIMEOUT_MS] > 0;
	pthread_mutex_unlock(&src->lock);
	/* A destination that stops sends its reason on channel 0, then
	 * closes: give the return path the moment it takes to read it. */
	src_rp_await_verdict(src, code);
	va_start(ap, fmt);
	bool first = failure_record(&src->sess.fail, &src->sess.log, code,
				    may_recover, fmt, ap);
	va_end(ap);
	if (first)
		src_tell_peer(src); /* before the channels shut down */
	src_abort_io(src);
}

void src_rp_await_verdict(struct vmmig_source *src, int code)
{
	if ((code != -EPIPE && code != -ECONNRESET) || !src->rp_running ||
	    pthread_equal(pthread_self(), src->rp_thread))
		return;
	for (int i = 0; i < 50 && !failure_code(&src->sess.fail); i++)
		usleep(2000);
}

void src_tell_peer(struct vmmig_source *src)
{
	pthread_mutex_lock(&src->lock);
	bool quiet = !atomic_load(&src->peer_ready) || src->committed;
	pthread_mutex_unlock(&src->lock);
	pthread_mutex_lock(&src->sess.fail.lock);
	quiet = quiet || src->sess.fail.from_peer;
	pthread_mutex_unlock(&src->sess.fail.lock);
	if (quiet || failure_is_link(&src->sess.fail))
		return;
	/* On every channel it can: each of the destination's receivers then
	 * reads the reason before the end of its stream, whichever notices
	 * first. The urgent channel first: it is idle before the switch. */
	for (unsigned i = src->nchan; i-- > 0;)
		chan_send_error(&src->chan[i], &src->sess.fail, "source",
				i == src->ndata ? 100 : 0);
}

uint64_t src_tx_bytes(struct vmmig_source *src)
{
	uint64_t sum = src->tx_closed;

	for (unsigned i = 0; i < src->nchan; i++)
		sum += atomic_load(&src->chan[i].tx_bytes);
	return sum;
}
