/* SPDX-License-Identifier: MIT */
/*
 * The source's end of the return path: channel 0's receive side. The
 * destination sends READY when the guest can start there and STARTED once
 * it did (or ERROR with its reason); after a post-copy switch, page
 * requests and DONE.
 */
#include <errno.h>
#include <unistd.h>

#include "source.h"

int rp_on_record(struct vmmig_source *src, const struct wire_hdr *h,
		 const uint8_t *payload)
{
	char err[WIRE_ERRLEN];
	struct wire_status ws;
	int ret;

	if (h->type == WIRE_DRAINED ||
	    (h->type == WIRE_REQ && (h->flags & WIRE_REQ_REFETCH)))
		return refetch_on_record(src, h, payload);
	if ((h->type == WIRE_REQ || h->type == WIRE_DONE) && src->postcopy &&
	    src->acked)
		return postcopy_on_record(src, h, payload); /* 1: DONE */
	if (h->type == WIRE_READY || h->type == WIRE_STARTED)
		return switch_on_record(src, h, payload); /* 1: STARTED */
	if (h->type != WIRE_ERROR) {
		source_fail(src, -EPROTO,
			    "return path: unexpected record type 0x%04x",
			    h->type);
		return -EPROTO;
	}
	ret = wire_status_unpack(payload, h->len, &ws, err, sizeof(err));
	if (ret) {
		source_fail(src, ret, "return path: %s", err);
		return ret;
	}
	failure_set_peer(&src->fail, ws.status < 0 ? ws.status : -EPROTO,
			 ws.text);
	source_abort_io(src);
	return failure_code(&src->fail);
}

static void *rp_main(void *arg)
{
	struct vmmig_source *src = arg;

	/* It serves post-copy page requests (and, before, reads ACKs). */
	pin_fault_thread(&src->opt, &src->log, "return path");

	for (;;) {
		const uint8_t *payload;
		struct wire_hdr h;
		int ret;

		ret = wire_reader_next(src->rp_reader, &h, &payload, NULL);
		if (ret) {
			if (ret == -EPROTO)
				source_fail(src, ret, "return path: %s",
					    wire_reader_error(src->rp_reader));
			else
				source_fail(src, ret,
					    "return path: connection lost: %s",
					    vmmig_strerror(ret));
			break;
		}
		if (rp_on_record(src, &h, payload))
			break; /* STARTED, DONE, ERROR or a failure */
	}
	/* Wake the waits for READY and STARTED on failure too. */
	pthread_mutex_lock(&src->lock);
	pthread_cond_broadcast(&src->cond);
	pthread_mutex_unlock(&src->lock);
	return NULL;
}

void rp_await_verdict(struct vmmig_source *src, int code)
{
	if ((code != -EPIPE && code != -ECONNRESET) || !src->rp_running ||
	    pthread_equal(pthread_self(), src->rp_thread))
		return;
	for (int i = 0; i < 50 && !failure_code(&src->fail); i++)
		usleep(2000);
}

void source_tell_peer(struct vmmig_source *src)
{
	pthread_mutex_lock(&src->lock);
	bool quiet = !atomic_load(&src->peer_ready) || src->committed;
	pthread_mutex_unlock(&src->lock);
	pthread_mutex_lock(&src->fail.lock);
	quiet = quiet || src->fail.from_peer;
	pthread_mutex_unlock(&src->fail.lock);
	if (quiet || failure_is_link(&src->fail))
		return;
	/* On every channel it can: each of the destination's receivers then
	 * reads the reason before the end of its stream, whichever notices
	 * first. The urgent channel first: it is idle before the switch. */
	for (unsigned i = src->nchan; i-- > 0;)
		chan_send_error(&src->chan[i], &src->fail, "source",
				i == src->ndata ? 100 : 0);
}

int rp_start(struct vmmig_source *src)
{
	const struct vmmig_transport_ops *t = src->chan[0].ops;
	int ret;

	/* REQ records are small and a vCPU waits on each: read ahead, so a
	 * REQ costs one receive instead of two (header, payload), and REQs
	 * that queued up behind it none. The handshake made this reader
	 * (anew after a reconnect) and read up to a record boundary.
	 * recv_some is only there in version >= 2 tables. */
	if (t->version >= 2 && t->recv_some) {
		ret = wire_reader_set_readahead(src->rp_reader, chan_recv_some,
						WIRE_READAHEAD_CAP);
		if (ret && ret != -EBUSY) /* -EBUSY: already on */
			return ret;
	}
	ret = -pthread_create(&src->rp_thread, NULL, rp_main, src);

	src->rp_running = ret == 0;
	return ret;
}

int rp_wait_ready(struct vmmig_source *src)
{
	int ret;

	pthread_mutex_lock(&src->lock);
	while (!src->acked && !failure_code(&src->fail))
		pthread_cond_wait(&src->cond, &src->lock);
	ret = failure_code(&src->fail);
	pthread_mutex_unlock(&src->lock);
	return ret;
}

void rp_stop(struct vmmig_source *src)
{
	if (!src->rp_running)
		return;
	pthread_join(src->rp_thread, NULL);
	src->rp_running = false;
}
