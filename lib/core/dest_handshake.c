/* SPDX-License-Identifier: MIT */
/*
 * Destination handshake: accept the source's channels, check each HELLO
 * (magic, version, UUID, channel numbering, region table) and answer
 * HELLO_ACK. A refusal is answered with its reason before failing, so the
 * source can report it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dest.h"

static int check_hello(struct vmmig_dest *dst, const struct wire_hello *h,
		       const struct wire_region *regs, const bool *seen,
		       bool resume, char *err, size_t errlen)
{
	if (!(h->flags & WIRE_HELLO_RESUME) != !resume) {
		snprintf(err, errlen, resume ? "expected a post-copy resume"
					     : "resume of a migration that "
					       "never started here");
		return -EPROTO;
	}
	if (dst->uuid_set && memcmp(h->uuid, dst->uuid, VMMIG_UUID_SIZE)) {
		snprintf(err, errlen, "migration uuid mismatch: channel "
				      "belongs to another migration");
		return -EPROTO;
	}
	if (!h->nchannels || h->nchannels > VMMIG_MAX_CHANNELS ||
	    (dst->nchan && h->nchannels != dst->nchan) ||
	    h->channel >= h->nchannels || seen[h->channel]) {
		snprintf(err, errlen, "bad channel numbering: channel %u of %u",
			 h->channel, h->nchannels);
		return -EPROTO;
	}
	if (h->nregions != dst->regions.n) {
		snprintf(err, errlen,
			 "region table mismatch: source has %u regions, "
			 "destination %u", h->nregions, dst->regions.n);
		return -EPROTO;
	}
	for (unsigned i = 0; i < h->nregions; i++) {
		unsigned j = regions_index(&dst->regions, regs[i].id);
		const struct region *r = j < dst->regions.n ? &dst->regions.r[j]
							  : NULL;

		if (!r || r->size != regs[i].size || r->gpa != regs[i].gpa) {
			snprintf(err, errlen,
				 "region table mismatch: region %u (gpa 0x%llx, "
				 "%llu bytes) not registered alike here",
				 regs[i].id, (unsigned long long)regs[i].gpa,
				 (unsigned long long)regs[i].size);
			return -EPROTO;
		}
	}
	return 0;
}

/* Accept one channel into slot @slot and validate its HELLO. */
static int accept_one(struct vmmig_dest *dst, unsigned slot, bool *seen,
		      bool resume)
{
	struct wire_region regs[WIRE_MAX_REGIONS];
	struct chan *c = &dst->chan[slot];
	struct receiver *rv = &dst->rcv[slot];
	char err[WIRE_ERRLEN] = "";
	const uint8_t *payload;
	struct wire_hello h;
	struct wire_hdr hd;
	int timeout = slot ? (int)dst->opt.v[VMMIG_OPT_IO_TIMEOUT_MS]
		      : resume ? dst->recover_ms
			       : -1;
	int ret;

	*rv = (struct receiver){ 0 };
	ret = chan_init(c, dst->tops, slot, &dst->sh);
	if (ret)
		return ret;
	ret = chan_accept(c, dst->listener, timeout);
	if (ret) {
		dest_fail(dst, ret, "accepting channel: %s", vmmig_strerror(ret));
		return ret;
	}
	if (!slot && !resume) {
		/* The source is here: from now on silence is a failure. */
		atomic_store(&dst->sh.last_progress_us, now_us());
		atomic_store(&dst->wd.armed, true);
		pthread_mutex_lock(&dst->stats_lock);
		dst->t_start = now_us();
		dst->st.status = VMMIG_STATUS_SETUP;
		pthread_mutex_unlock(&dst->stats_lock);
	}
	rv->dst = dst;
	rv->c = c;
	ret = wire_reader_new(chan_recv, c, dst->wregions, dst->regions.n,
			      &rv->rd);
	if (!ret)
		ret = wire_reader_set_staged(rv->rd,
					     !dst->opt.v[VMMIG_OPT_RECV_DIRECT]);
	if (!ret)
		wire_reader_set_hooks(rv->rd, restore_on_hint, restore_on_write,
				      dst);
	if (ret)
		return ret;
	ret = wire_reader_next(rv->rd, &hd, &payload, NULL);
	if (ret == -EPROTO) {
		snprintf(err, sizeof(err), "not a migration stream: %s",
			 wire_reader_error(rv->rd));
	} else if (ret) {
		dest_fail(dst, ret, "reading handshake: %s", vmmig_strerror(ret));
		return ret;
	} else if (hd.type != WIRE_HELLO) {
		ret = -EPROTO;
		snprintf(err, sizeof(err),
			 "not a migration stream: first record type 0x%04x",
			 hd.type);
	} else {
		ret = wire_hello_unpack(payload, hd.len, &h, regs, err,
					sizeof(err));
		if (!ret)
			ret = check_hello(dst, &h, regs, seen, resume, err,
					  sizeof(err));
	}
	if (ret) {
		/* Tell the source why, best effort, then give up. */
		chan_send_status(c, WIRE_HELLO_ACK, ret, 0, err);
		dest_fail(dst, ret, "handshake refused: %s", err);
		return ret;
	}
	if (!dst->uuid_set) {
		memcpy(dst->uuid, h.uuid, VMMIG_UUID_SIZE);
		dst->uuid_set = true;
	}
	/* The source asks for the end-to-end check: hash pages as they land
	 * (dest_verify.c). */
	if ((h.flags & WIRE_HELLO_VERIFY) && (ret = dverify_init(dst))) {
		dest_fail(dst, ret, "verification setup: %s",
			  vmmig_strerror(ret));
		return ret;
	}
	dverify_hook(dst, rv->rd);
	dst->nchan = h.nchannels;
	seen[h.channel] = true;
	c->index = h.channel;
	/* The urgent channel (the last, never channel 0) carries one-page
	 * records a vCPU waits for: read ahead, so that each costs one
	 * receive instead of four (header, batch head, descriptor, page).
	 * Not the data channels: their raw pages go straight into guest
	 * memory, and they are not latency bound. recv_some is only there
	 * in version >= 2 tables. */
	if (h.channel && h.channel == h.nchannels - 1 &&
	    c->ops->version >= 2 && c->ops->recv_some) {
		ret = wire_reader_set_readahead(rv->rd, chan_recv_some,
						WIRE_READAHEAD_CAP);
		if (ret)
			return ret;
	}
	if (resume) {
		ret = dpc_arm_reader(rv);
		if (ret)
			return ret;
	}
	ret = chan_send_status(c, WIRE_HELLO_ACK, 0, 0, "ok");
	if (ret)
		dest_fail(dst, ret, "answering handshake: %s",
			  vmmig_strerror(ret));
	return ret;
}

int dest_accept_all(struct vmmig_dest *dst, bool resume)
{
	bool seen[VMMIG_MAX_CHANNELS] = { false };

	for (unsigned slot = 0; !slot || slot < dst->nchan; slot++) {
		int ret = accept_one(dst, slot, seen, resume);

		if (ret)
			return ret;
	}
	pthread_mutex_lock(&dst->rp_lock);
	for (unsigned i = 0; i < dst->nchan; i++)
		if (dst->chan[i].index == 0)
			dst->err_chan = &dst->chan[i];
	pthread_mutex_unlock(&dst->rp_lock);
	return 0;
}
