/* SPDX-License-Identifier: MIT */
/*
 * The one dispatcher of records the source sends, for every receiver
 * (PAGES excepted: the wire reader lands those). Each feature gets the
 * records it owns; what one record means to several of them is composed
 * here, so that features never call each other for a record: DRAIN is a
 * barrier of the session that ends restores (restore), drops the pages an
 * early DISCARD named (post-copy page state), reports failed restores and
 * answers DRAINED.
 */
#include <errno.h>
#include <stdio.h>

#include "dest_main.h"

/*
 * DRAIN reached channel @rv. Channel 0 waits for all channels (every hint
 * sent before DRAIN has been seen), then for the reads, then drops what an
 * early DISCARD named, reports the failed pages and answers DRAINED.
 */
static int on_drain(struct receiver *rv)
{
	struct vmmig_dest *dst = rv->dst;
	int ret;

	pthread_mutex_lock(&dst->lock);
	dst->drained++;
	pthread_cond_broadcast(&dst->cond);
	if (rv->c->index != 0) {
		pthread_mutex_unlock(&dst->lock);
		return 0;
	}
	while (dst->drained < dst->nchan && !failure_code(&dst->sess.fail))
		pthread_cond_wait(&dst->cond, &dst->lock);
	dst->drained = 0;
	pthread_mutex_unlock(&dst->lock);
	ret = dst_restore_wait_idle(dst, rv->c);
	if (!ret)
		ret = dst_pc_drop_early(dst);
	if (ret)
		return ret;
	ret = dst_restore_report_failed(dst, rv->c);
	if (!ret)
		ret = chan_send_record(rv->c, WIRE_DRAINED, 0, NULL, 0);
	if (ret)
		dst_fail(dst, ret, "answering DRAIN: %s", vmmig_strerror(ret));
	return ret;
}

int dst_on_record(struct receiver *rv, const struct wire_hdr *h,
		  const uint8_t *payload)
{
	struct vmmig_dest *dst = rv->dst;
	char err[WIRE_ERRLEN];
	struct wire_status ws;
	int ret;

	switch (h->type) {
	case WIRE_ROUND:
		ret = wire_round_unpack(payload, h->len,
					&(struct wire_round){ 0 }, err,
					sizeof(err));
		if (ret)
			dst_fail(dst, ret, "%s", err);
		rv->rounds += !ret;
		return ret;
	case WIRE_KEEPALIVE: /* the source hashing its memory, say */
		return 0;
	case WIRE_STATE:
		if (rv->c->index != 0) {
			dst_fail(dst, -EPROTO,
				 "state record on channel %u (only channel 0 "
				 "carries state)", rv->c->index);
			return -EPROTO;
		}
		ret = sess_state_receive(&dst->state, h->flags, payload,
					 h->len, err, sizeof(err));
		if (ret)
			dst_fail(dst, ret, "%s", err);
		return ret;
	case WIRE_SWITCH:
		return dst_pc_switch(rv);
	case WIRE_DRAIN:
		return on_drain(rv);
	case WIRE_DISCARD:
		if (h->flags & WIRE_DISCARD_EARLY) {
			/* Before SWITCH, on channel 0 only. */
			if (rv->c->index != 0 || dst->switched ||
			    dst->pc_armed) {
				dst_fail(dst, -EPROTO, "early DISCARD out of "
					 "place on channel %u", rv->c->index);
				return -EPROTO;
			}
			return dst_pc_discard(dst, payload, h->len, true);
		}
		/* fall through */
	case WIRE_POSTCOPY:
		/* Only channel 0 carries them, after every channel lined up
		 * at SWITCH and before the guest started here. */
		if (rv->c->index != 0 || dst->switched < dst->nchan ||
		    dst->pc_armed) {
			dst_fail(dst, -EPROTO,
				 "record type 0x%04x out of place "
				 "on channel %u", h->type, rv->c->index);
			return -EPROTO;
		}
		if (h->type == WIRE_DISCARD)
			return dst_pc_discard(dst, payload, h->len, false);
		return dst_pc_start(rv, payload, h->len);
	case WIRE_END:
		ret = wire_end_unpack(payload, h->len, &rv->end, err,
				      sizeof(err));
		if (ret) {
			dst_fail(dst, ret, "%s", err);
			return ret;
		}
		rv->ended = true;
		return 1;
	case WIRE_ERROR:
		ret = wire_status_unpack(payload, h->len, &ws, err,
					 sizeof(err));
		if (ret) {
			dst_fail(dst, ret, "%s", err);
			return ret;
		}
		failure_set_peer(&dst->sess.fail,
				 ws.status < 0 ? ws.status : -EPROTO, ws.text);
		dst_fail(dst, ws.status < 0 ? ws.status : -EPROTO, "%s",
			 ws.text);
		return -ECONNABORTED;
	default:
		dst_fail(dst, -EPROTO,
			 "unexpected record type 0x%04x on channel %u",
			 h->type, rv->c->index);
		return -EPROTO;
	}
}
