/* SPDX-License-Identifier: MIT */
/*
 * The source's end of the return path: channel 0's receive side. The
 * destination sends ACK when the guest may start there, or ERROR with its
 * reason; either ends the migration.
 */
#include <errno.h>

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
	if (h->type != WIRE_ACK && h->type != WIRE_ERROR) {
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
	if (h->type == WIRE_ERROR) {
		failure_set_peer(&src->fail, ws.status < 0 ? ws.status : -EPROTO,
				 ws.text);
		source_abort_io(src);
		return failure_code(&src->fail);
	}
	pthread_mutex_lock(&src->lock);
	src->acked = true;
	src->ack_status = ws.status;
	src->ack_aux = ws.aux;
	bool more = src->postcopy; /* REQ and DONE follow */
	pthread_cond_broadcast(&src->cond);
	pthread_mutex_unlock(&src->lock);
	return more ? 0 : 1;
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
			break; /* ACK, DONE, ERROR or a failure */
	}
	/* Wake rp_wait_ack() on failure too. */
	pthread_mutex_lock(&src->lock);
	pthread_cond_broadcast(&src->cond);
	pthread_mutex_unlock(&src->lock);
	return NULL;
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

int rp_wait_ack(struct vmmig_source *src)
{
	int ret;

	pthread_mutex_lock(&src->lock);
	while (!src->acked && !failure_code(&src->fail))
		pthread_cond_wait(&src->cond, &src->lock);
	ret = src->acked ? src->ack_status : failure_code(&src->fail);
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
