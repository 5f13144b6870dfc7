/* SPDX-License-Identifier: MIT */
/*
 * The destination's half of the switchover (docs/wire-format.md 6.5). With
 * everything received and the state loaded it answers READY, and from then
 * on cannot know whether the source gave the guest up: it starts the guest
 * only when COMMIT arrives. No COMMIT (a lost message, a dead source, a
 * timeout) means no start, and the owner is unknown here; an ERROR from the
 * source instead of COMMIT means the source kept it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dest_feat.h"

/* The next record on channel 0 must be @want (a switchover record). */
static int read_sw(struct vmmig_dest *dst, struct receiver *rv, uint16_t want,
		   const char *what, struct wire_sw *sw)
{
	char err[WIRE_ERRLEN];
	const uint8_t *p;
	struct wire_status ws;
	struct wire_hdr h;
	int ret;

	/* The source may say "still busy" (hashing its memory) meanwhile. */
	do
		ret = wire_reader_next(rv->rd, &h, &p, NULL);
	while (!ret && h.type == WIRE_KEEPALIVE);
	if (ret) {
		dst_fail(dst, ret, "waiting for %s: %s", what,
			 ret == -EPROTO ? wire_reader_error(rv->rd)
					 : vmmig_strerror(ret));
		return ret;
	}
	if (h.type == WIRE_ERROR &&
	    !wire_status_unpack(p, h.len, &ws, err, sizeof(err))) {
		ret = ws.status < 0 ? ws.status : -EPROTO;
		failure_set_peer(&dst->sess.fail, ret, ws.text);
		dst_fail(dst, ret, "%s", ws.text);
		return -ECONNABORTED;
	}
	if (h.type != want) {
		dst_fail(dst, -EPROTO, "record type 0x%04x instead of %s",
			 h.type, what);
		return -EPROTO;
	}
	ret = wire_sw_unpack(p, h.len, sw, err, sizeof(err));
	if (!ret && want == WIRE_COMMIT && (sw->status || sw->flags)) {
		snprintf(err, sizeof(err), "COMMIT with a status or flags");
		ret = -EPROTO;
	}
	if (ret)
		dst_fail(dst, ret, "%s: %s", what, err);
	return ret;
}

int dst_sw_ready_commit(struct vmmig_dest *dst, struct receiver *rv)
{
	struct wire_sw sw = { 0 };
	uint8_t buf[WIRE_SW_SIZE];
	int ret;

	/* Pre-copy: every page landed, the digest is final. Post-copy sends
	 * its digest check with DONE instead. */
	dst_verify_drain(dst);
	if (dst->vhash && !dst->pc) {
		sw.flags = WIRE_SW_DIGEST;
		sw.digest = atomic_load(&dst->vsum);
	}
	wire_sw_pack(buf, &sw);
	/* From the first byte of READY on, the source may commit. */
	atomic_store(&dst->owner, VMMIG_OWNER_UNKNOWN);
	ret = chan_send_record(rv->c, WIRE_READY, 0, buf, sizeof(buf));
	if (ret) {
		dst_fail(dst, ret, "sending READY: %s", vmmig_strerror(ret));
		return ret;
	}
	ret = read_sw(dst, rv, WIRE_COMMIT, "COMMIT", &sw);
	if (ret == -ECONNABORTED)
		atomic_store(&dst->owner, VMMIG_OWNER_SOURCE);
	else if (!ret)
		atomic_store(&dst->owner, VMMIG_OWNER_DEST);
	return ret;
}

int dst_sw_start(struct vmmig_dest *dst, struct receiver *rv)
{
	struct wire_sw sw = { 0 };
	uint8_t buf[WIRE_SW_SIZE];
	int ret = dst->ops->start(dst->opaque);

	sw.status = ret < 0 && ret >= -4095 ? ret : ret ? -EIO : 0;
	wire_sw_pack(buf, &sw);
	if (ret) {
		dst_fail(dst, ret, "starting the guest: %s",
			 vmmig_strerror(ret));
		(void)chan_send_record(rv->c, WIRE_STARTED, 0, buf,
				       sizeof(buf));
		return ret;
	}
	ret = chan_send_record(rv->c, WIRE_STARTED, 0, buf, sizeof(buf));
	/* The guest runs here: a lost STARTED leaves the source unsure, but
	 * changes nothing here. */
	if (ret)
		log_msg(&dst->sess.log, VMMIG_LOG_WARN, "sending STARTED: %s",
			vmmig_strerror(ret));
	return 0;
}

int dst_sw_check_digest(struct vmmig_dest *dst, struct receiver *rv,
			int *verified)
{
	uint64_t mine = atomic_load(&dst->vsum);
	struct wire_sw sw;
	int ret = read_sw(dst, rv, WIRE_DIGEST, "the source's memory digest",
			  &sw);

	if (!ret && !(sw.flags & WIRE_SW_DIGEST)) {
		dst_fail(dst, -EPROTO, "DIGEST without a digest");
		ret = -EPROTO;
	}
	if (ret)
		return ret;
	*verified = sw.digest == mine;
	if (!*verified) {
		dst_fail(dst, -EIO, "memory verification failed: pages hash to "
			 "%016llx here, %016llx at the source (the guest "
			 "already runs here)", (unsigned long long)mine,
			 (unsigned long long)sw.digest);
		return -EIO;
	}
	return 0;
}
