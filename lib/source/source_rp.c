/* SPDX-License-Identifier: MIT */
/*
 * The source's end of the return path: channel 0's receive side. The
 * destination sends READY when the guest can start there and STARTED once
 * it did (or ERROR with its reason); after a post-copy switch, page
 * requests and DONE. This thread only reads: each record goes to the one
 * dispatcher (src->on_record, source_dispatch.c), so the reader knows no
 * feature and no feature calls back into it.
 */
#include <errno.h>
#include <unistd.h>

#include "source.h"

static void *rp_main(void *arg)
{
	struct vmmig_source *src = arg;

	/* It serves post-copy page requests (and, before, reads ACKs). */
	affinity_pin_fault(&src->sess.opt, &src->sess.log, "return path");

	for (;;) {
		const uint8_t *payload;
		struct wire_hdr h;
		int ret;

		ret = wire_reader_next(src->rp_reader, &h, &payload, NULL);
		if (ret) {
			if (ret == -EPROTO)
				src_fail(src, ret, "return path: %s",
					 wire_reader_error(src->rp_reader));
			else
				src_fail(src, ret,
					 "return path: connection lost: %s",
					 vmmig_strerror(ret));
			break;
		}
		if (src->on_record(src, &h, payload))
			break; /* STARTED, DONE, ERROR or a failure */
	}
	/* Wake the waits for READY and STARTED on failure too. */
	pthread_mutex_lock(&src->lock);
	pthread_cond_broadcast(&src->cond);
	pthread_mutex_unlock(&src->lock);
	return NULL;
}

int src_rp_start(struct vmmig_source *src)
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

void src_rp_stop(struct vmmig_source *src)
{
	if (!src->rp_running)
		return;
	pthread_join(src->rp_thread, NULL);
	src->rp_running = false;
}
