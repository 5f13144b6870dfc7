/* SPDX-License-Identifier: MIT */
/*
 * Destination handshake: accept the source's channels, check each HELLO
 * (magic, version, UUID, channel numbering, region table) and answer
 * HELLO_ACK. A refusal is answered with its reason before failing, so the
 * source can report it.
 *
 * Until a connection proves to be our source (TLS when configured, then a
 * HELLO with our UUID, all within VMMIG_OPT_HANDSHAKE_TIMEOUT_MS) it is a
 * stranger: one that fails is dropped and counted, and the destination
 * accepts the next, so that a port scan, garbage or an idle connection
 * cannot fail or stall the migration. Our source's HELLO that does not fit
 * (regions, channels) still fails it: that is a real mismatch.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dest_feat.h"

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
	if (!h->nchannels || h->nchannels > VMMIG_MAX_CHANNELS ||
	    (dst->nchan && h->nchannels != dst->nchan) ||
	    h->channel >= h->nchannels || seen[h->channel]) {
		snprintf(err, errlen, "bad channel numbering: channel %u of %u",
			 h->channel, h->nchannels);
		return -EPROTO;
	}
	if (h->nregions != dst->sess.regions.n) {
		snprintf(err, errlen,
			 "region table mismatch: source has %u regions, "
			 "destination %u", h->nregions, dst->sess.regions.n);
		return -EPROTO;
	}
	for (unsigned i = 0; i < h->nregions; i++) {
		unsigned j = regions_index(&dst->sess.regions, regs[i].id);
		const struct region *r = j < dst->sess.regions.n
					  ? &dst->sess.regions.r[j] : NULL;

		if (!r || r->size != regs[i].size || r->gpa != regs[i].gpa) {
			snprintf(err, errlen,
				 "region table mismatch: region %u "
				 "(gpa 0x%llx, %llu bytes) not registered "
				 "alike here",
				 regs[i].id, (unsigned long long)regs[i].gpa,
				 (unsigned long long)regs[i].size);
			return -EPROTO;
		}
	}
	return 0;
}

static int ms_left(uint64_t deadline_us)
{
	uint64_t now = clock_now_us();

	if (deadline_us == UINT64_MAX)
		return -1;
	if (now >= deadline_us)
		return 0;
	return (int)((deadline_us - now + 999) / 1000);
}

static uint64_t deadline_in(int64_t ms)
{
	return ms > 0 ? clock_now_us() + (uint64_t)ms * 1000 : UINT64_MAX;
}

/*
 * Is the peer on @c our source? TLS first (when configured), then its
 * first record, read with no regions set, so that nothing it sends before
 * it passed can reach guest memory. Return 0 (*@h, @regs filled) or
 * -errno with @err; *@answer: the peer can read a HELLO_ACK with @err.
 */
static int greet(struct vmmig_dest *dst, struct receiver *rv,
		 struct wire_hello *h, struct wire_region *regs, char *err,
		 size_t errlen, bool *answer)
{
	const uint8_t *payload;
	struct wire_hdr hd;
	int ret;

	*answer = false;
	if (dst->sess.sh.tls) {
		ret = chan_tls_server(rv->c);
		if (ret) {
			snprintf(err, errlen, "%s", rv->c->err);
			return ret;
		}
	}
	ret = wire_reader_new(chan_recv, rv->c, NULL, 0, &rv->rd);
	if (ret) {
		snprintf(err, errlen, "%s", vmmig_strerror(ret));
		return ret;
	}
	ret = wire_reader_next(rv->rd, &hd, &payload, NULL);
	if (ret == -EPROTO) {
		snprintf(err, errlen, "not a migration stream: %s",
			 wire_reader_error(rv->rd));
	} else if (ret) {
		snprintf(err, errlen, "reading handshake: %s",
			 vmmig_strerror(ret));
		return ret;
	} else if (hd.type != WIRE_HELLO) {
		ret = -EPROTO;
		snprintf(err, errlen,
			 "not a migration stream: first record type 0x%04x",
			 hd.type);
	} else {
		ret = wire_hello_unpack(payload, hd.len, h, regs, err, errlen);
	}
	if (!ret && dst->uuid_set && memcmp(h->uuid, dst->uuid,
					    VMMIG_UUID_SIZE)) {
		snprintf(err, errlen, "migration uuid mismatch: channel "
				      "belongs to another migration");
		ret = -EPROTO;
	}
	*answer = ret != 0;
	return ret;
}

/* A stranger failed: log, count, forget it. The first reason is kept for
 * the error at the deadline: later ones are often its consequences (the
 * refused source's other channels closing). */
static void drop(struct vmmig_dest *dst, struct receiver *rv, const char *why,
		 char *first, size_t firstlen)
{
	log_msg(&dst->sess.log, VMMIG_LOG_WARN, "dropped a connection: %s",
		why);
	if (!first[0])
		snprintf(first, firstlen, "%s", why);
	pthread_mutex_lock(&dst->sess.stats_lock);
	dst->sess.st.rejected_connections++;
	pthread_mutex_unlock(&dst->sess.stats_lock);
	wire_reader_free(rv->rd);
	rv->rd = NULL;
	/* A cancel may be shutting every channel down right now. */
	pthread_mutex_lock(&dst->chan_lock);
	chan_close(rv->c);
	pthread_mutex_unlock(&dst->chan_lock);
}

/* Accept connections into slot @slot until one is our source's, by
 * @deadline_us; a refused HELLO of our source fails. */
static int accept_source(struct vmmig_dest *dst, unsigned slot,
			 uint64_t deadline_us, struct wire_hello *h,
			 struct wire_region *regs, char *first, size_t firstlen)
{
	int hs_ms = (int)dst->sess.opt.v[VMMIG_OPT_HANDSHAKE_TIMEOUT_MS];
	struct chan *c = &dst->chan[slot];
	struct receiver *rv = &dst->rcv[slot];

	for (;;) {
		char err[WIRE_ERRLEN] = "";
		struct chan_guard g;
		bool answer;
		int ret;

		*rv = (struct receiver){ .dst = dst, .c = c };
		pthread_mutex_lock(&dst->chan_lock);
		ret = chan_init(c, dst->lis.ops, slot, &dst->sess.sh);
		pthread_mutex_unlock(&dst->chan_lock);
		if (ret)
			return ret;
		ret = chan_accept(c, &dst->lis, ms_left(deadline_us));
		/* A cancel that came before the channel was there to shut. */
		if (!ret && atomic_load(&dst->sess.sh.abort))
			ret = -ECANCELED;
		if (ret == -ETIMEDOUT && first[0]) {
			dst_fail(dst, ret, "no migration source within the "
				 "deadline (%llu connections refused; the "
				 "first: %s)", (unsigned long long)
				 dst->sess.st.rejected_connections, first);
			return ret;
		}
		if (ret) {
			dst_fail(dst, ret, "accepting channel: %s",
				 vmmig_strerror(ret));
			return ret;
		}
		ret = chan_guard_arm(&g, c, hs_ms);
		if (ret)
			return ret;
		ret = greet(dst, rv, h, regs, err, sizeof(err), &answer);
		if (chan_guard_disarm(&g)) {
			snprintf(err, sizeof(err), "no handshake within %d ms",
				 hs_ms);
			ret = -ETIMEDOUT;
			answer = false;
		}
		if (!ret)
			return 0;
		if (atomic_load(&dst->sess.sh.abort)) {
			dst_fail(dst, ret, "handshake: %s", err);
			return ret;
		}
		if (answer)
			chan_send_status(c, WIRE_HELLO_ACK, ret, 0, err);
		drop(dst, rv, err, first, firstlen);
	}
}

/*
 * The channels accepted so far. A post-copy reconnect numbers its attempts
 * (HELLO attempt): a source whose attempt failed half way (some of its
 * connections refused or cut) tries again with all of its channels, and a
 * connection of the failed attempt may still reach us, before or after the
 * new one's. Channels of two attempts must never make one set: a stale one
 * would hold data the source sent before it gave up on it.
 */
struct accept_round {
	bool seen[VMMIG_MAX_CHANNELS];   /* by channel index */
	bool filled[VMMIG_MAX_CHANNELS]; /* by slot */
	unsigned n;                      /* slots filled */
	uint32_t attempt;                /* theirs, once n > 0 */
};

static unsigned free_slot(const struct accept_round *ar)
{
	unsigned s = 0;

	while (ar->filled[s])
		s++;
	return s;
}

/* Forget the channels of an older attempt: attempt @newer is here. */
static void round_restart(struct vmmig_dest *dst, struct accept_round *ar,
			  uint32_t newer)
{
	for (unsigned i = 0; i < VMMIG_MAX_CHANNELS; i++) {
		if (!ar->filled[i])
			continue;
		wire_reader_free(dst->rcv[i].rd);
		dst->rcv[i].rd = NULL;
		pthread_mutex_lock(&dst->chan_lock);
		chan_close(&dst->chan[i]);
		pthread_mutex_unlock(&dst->chan_lock);
	}
	log_msg(&dst->sess.log, VMMIG_LOG_WARN, "dropped %u channel(s) of "
		"reconnection attempt %u: attempt %u is here", ar->n,
		ar->attempt, newer);
	pthread_mutex_lock(&dst->sess.stats_lock);
	dst->sess.st.rejected_connections += ar->n;
	pthread_mutex_unlock(&dst->sess.stats_lock);
	*ar = (struct accept_round){ .n = 0 };
}

/* Accept one channel into slot @slot and validate its HELLO. Returns
 * -EAGAIN for a channel of an older reconnection attempt (dropped). */
static int accept_one(struct vmmig_dest *dst, unsigned slot,
		      struct accept_round *ar, bool resume,
		      uint64_t deadline_us, char *first, size_t firstlen)
{
	struct wire_region regs[WIRE_MAX_REGIONS];
	struct chan *c = &dst->chan[slot];
	struct receiver *rv = &dst->rcv[slot];
	char err[WIRE_ERRLEN] = "";
	struct wire_hello h;
	int ret;

	ret = accept_source(dst, slot, deadline_us, &h, regs, first, firstlen);
	if (ret)
		return ret;
	/* Each attempt of the source is newer than the one we took last. */
	if (resume && (h.attempt <= dst->resume_attempt ||
		       (ar->n && h.attempt < ar->attempt))) {
		snprintf(err, sizeof(err), "channel %u of reconnection attempt "
			 "%u, a stale one (attempt %u taken)", h.channel,
			 h.attempt, ar->n ? ar->attempt : dst->resume_attempt);
		drop(dst, rv, err, first, firstlen);
		return -EAGAIN;
	}
	if (resume && ar->n && h.attempt > ar->attempt)
		round_restart(dst, ar, h.attempt);
	if (!slot && !resume) {
		/* The source is here: from now on silence is a failure. */
		atomic_store(&dst->sess.sh.last_progress_us, clock_now_us());
		atomic_store(&dst->sess.wd.armed, true);
		pthread_mutex_lock(&dst->sess.stats_lock);
		dst->sess.t_start = clock_now_us();
		dst->sess.st.status = VMMIG_STATUS_SETUP;
		pthread_mutex_unlock(&dst->sess.stats_lock);
	}
	ret = check_hello(dst, &h, regs, ar->seen, resume, err, sizeof(err));
	if (ret) {
		/* Tell the source why, best effort, then give up. */
		chan_send_status(c, WIRE_HELLO_ACK, ret, 0, err);
		dst_fail(dst, ret, "handshake refused: %s", err);
		return ret;
	}
	ret = wire_reader_set_regions(rv->rd, dst->wregions,
				      dst->sess.regions.n);
	if (!ret)
		ret = dst_sink_attach(rv);
	if (ret)
		return ret;
	if (!dst->uuid_set) {
		memcpy(dst->uuid, h.uuid, VMMIG_UUID_SIZE);
		dst->uuid_set = true;
	}
	/* The source asks for the end-to-end check: hash pages as they land
	 * (dest_verify.c). */
	if ((h.flags & WIRE_HELLO_VERIFY) && (ret = dst_verify_init(dst))) {
		dst_fail(dst, ret, "verification setup: %s",
			 vmmig_strerror(ret));
		return ret;
	}
	dst->nchan = h.nchannels;
	ar->seen[h.channel] = true;
	ar->filled[slot] = true;
	ar->n++;
	ar->attempt = h.attempt;
	c->index = h.channel;
	/* Read ahead, so that a record's small pieces (header, batch head,
	 * descriptors) cost one receive instead of three. The urgent channel
	 * (the last, never channel 0) carries one-page records a vCPU waits
	 * for: a large buffer, so that each costs one receive, not four.
	 * The page channels: a buffer of one record's head, so that the
	 * raw pages behind it, which do not fit, are still received
	 * straight into place (two receives a record). recv_some is only
	 * there in version >= 2 tables. */
	if (c->ops->version >= 2 && c->ops->recv_some) {
		bool urgent = h.channel && h.channel == h.nchannels - 1;

		ret = wire_reader_set_readahead(rv->rd, chan_recv_some,
						urgent ? WIRE_READAHEAD_CAP
						       : WIRE_PAGES_HEAD_MAX);
		if (ret)
			return ret;
	}
	if (resume) {
		ret = dst_pc_arm_reader(rv);
		if (ret)
			return ret;
	}
	ret = chan_send_status(c, WIRE_HELLO_ACK, 0, 0, "ok");
	if (ret)
		dst_fail(dst, ret, "answering handshake: %s",
			 vmmig_strerror(ret));
	return ret;
}

int dst_accept_all(struct vmmig_dest *dst, bool resume)
{
	struct accept_round ar = { .n = 0 };
	/* The first channel waits for the embedder's deadline (or the
	 * recovery timeout); the others follow within the I/O timeout. */
	uint64_t deadline = deadline_in(
		resume ? dst->recover_ms
		       : dst->sess.opt.v[VMMIG_OPT_ACCEPT_TIMEOUT_MS]);
	char first[WIRE_ERRLEN] = "";

	while (!ar.n || ar.n < dst->nchan) {
		int ret = accept_one(dst, free_slot(&ar), &ar, resume,
				     deadline, first, sizeof(first));

		if (ret && ret != -EAGAIN)
			return ret;
		if (!ret)
			deadline = deadline_in(
				dst->sess.opt.v[VMMIG_OPT_IO_TIMEOUT_MS]);
	}
	dst->resume_attempt = ar.attempt;
	pthread_mutex_lock(&dst->rp_lock);
	for (unsigned i = 0; i < dst->nchan; i++)
		if (dst->chan[i].index == 0)
			dst->err_chan = &dst->chan[i];
	pthread_mutex_unlock(&dst->rp_lock);
	return 0;
}
