/* SPDX-License-Identifier: MIT */
/*
 * The one dispatcher of records the destination sends on the return path
 * (channel 0). The reader thread (source_rp.c) hands each record here
 * through src->on_record; each feature gets the records it owns:
 * - DRAINED, and REQ with WIRE_REQ_REFETCH (a failed restore): drain;
 * - READY, STARTED: the switchover;
 * - REQ, DONE after the post-copy switch and READY: post-copy (a REFETCH
 *   after the switch too: a vCPU may wait for that page);
 * - ERROR: the destination's failure, recorded here.
 * Features never call each other for a record: what one record means to
 * two of them is composed here.
 */
#include <errno.h>

#include "source_main.h"

/* The destination failed: record its reason and stop. */
static int on_error(struct vmmig_source *src, const struct wire_hdr *h,
		    const uint8_t *payload)
{
	char err[WIRE_ERRLEN];
	struct wire_status ws;
	int ret = wire_status_unpack(payload, h->len, &ws, err, sizeof(err));

	if (ret) {
		src_fail(src, ret, "return path: %s", err);
		return ret;
	}
	failure_set_peer(&src->sess.fail, ws.status < 0 ? ws.status : -EPROTO,
			 ws.text);
	src_abort_io(src);
	return failure_code(&src->sess.fail);
}

int src_rp_on_record(struct vmmig_source *src, const struct wire_hdr *h,
		     const uint8_t *payload)
{
	/* A REQ or DONE of post-copy only answers the switch's POSTCOPY,
	 * which the migration thread sends after setting postcopy; but that
	 * order runs through the peer and the kernel, which is no order of
	 * the C memory model (TSan reported the unlocked read racing the
	 * write for every record), and records before the switch come while
	 * it is being set. The lock (held briefly by both) orders them. */
	pthread_mutex_lock(&src->lock);
	bool postcopy = src->postcopy, switched = postcopy && src->acked;
	pthread_mutex_unlock(&src->lock);
	int ret;

	switch (h->type) {
	case WIRE_DRAINED:
		src_drain_on_drained(src);
		return 0;
	case WIRE_REQ:
		if (h->flags & WIRE_REQ_REFETCH) {
			ret = src_drain_on_refetch(src, payload, h->len);
			/* After the switch a vCPU may wait for the page. */
			if (ret || !postcopy)
				return ret;
			return src_postcopy_on_req(src, h, payload);
		}
		if (switched)
			return src_postcopy_on_req(src, h, payload);
		break;
	case WIRE_DONE:
		if (switched)
			return src_postcopy_on_done(src, h, payload); /* 1 */
		break;
	case WIRE_READY:
	case WIRE_STARTED:
		return src_switch_on_record(src, h, payload); /* 1: STARTED */
	case WIRE_ERROR:
		return on_error(src, h, payload);
	}
	src_fail(src, -EPROTO, "return path: unexpected record type 0x%04x",
		 h->type);
	return -EPROTO;
}
