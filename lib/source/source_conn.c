/* SPDX-License-Identifier: MIT */
/*
 * Setting up the source's channels: connect every channel (with a bounded
 * retry while nobody listens yet), then the handshake: HELLO on each,
 * HELLO_ACK back; channel 0's reader then becomes the return path. Used at
 * the start and by a post-copy reconnect (source_recover.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source.h"
#include "tls/tls.h"

/* What every channel's HELLO carries but its number. */
struct hello_ctx {
	struct wire_hello h;
	struct wire_region regs[WIRE_MAX_REGIONS];
};

/* HELLO on channel @i. With TLS each channel runs this in a thread of its
 * own, right after its handshake. */
static int send_hello(struct chan *c, unsigned i, void *arg)
{
	const struct hello_ctx *x = arg;
	struct wire_hello h = x->h;
	size_t cap = sizeof(h) + sizeof(x->regs) + 64;
	uint8_t *buf = malloc(cap);
	int len, ret;

	if (!buf)
		return -ENOMEM;
	h.channel = (uint16_t)i;
	len = wire_hello_pack(buf, cap, &h, x->regs);
	ret = len < 0 ? len
		      : chan_send_record(c, WIRE_HELLO, 0, buf, (size_t)len);
	free(buf);
	return ret;
}

int src_handshake(struct vmmig_source *src, uint16_t flags)
{
	struct hello_ctx x = {
		.h = { .magic = WIRE_MAGIC, .version = WIRE_VERSION,
		       .flags = flags, .nchannels = (uint16_t)src->nchan,
		       .attempt = flags & WIRE_HELLO_RESUME ? src->attempt : 0,
		       .page_size = VMMIG_PAGE_SIZE,
		       .nregions = src->sess.regions.n },
	};
	int ret = 0;

	memcpy(x.h.uuid, src->uuid, sizeof(x.h.uuid));
	for (unsigned i = 0; i < src->sess.regions.n; i++)
		x.regs[i] = (struct wire_region){
			.id = src->sess.regions.r[i].id,
			.gpa = src->sess.regions.r[i].gpa,
			.size = src->sess.regions.r[i].size };
	if (src->sess.sh.tls) {
		unsigned bad = 0;

		ret = chan_tls_start_all(src->chan, src->nchan, send_hello, &x,
					 &bad);
		if (ret && !src->chan[bad].tls) { /* the handshake failed */
			src_fail(src, ret, "channel %u: %s", bad,
				 src->chan[bad].err);
			return ret;
		}
		if (src->chan[0].tls)
			log_msg(&src->sess.log, VMMIG_LOG_INFO, "TLS: %s",
				tls_chan_cipher(src->chan[0].tls));
	} else {
		for (unsigned i = 0; i < src->nchan && !ret; i++)
			ret = send_hello(&src->chan[i], i, &x);
	}
	/* A destination that refuses channel 0 closes the others: read its
	 * reason on channel 0 before reporting a failed send elsewhere. */
	int send_err = ret;
	/* Every channel answers HELLO_ACK; channel 0's reader then carries on
	 * as the return path. */
	for (unsigned i = 0; i < (send_err ? 1u : src->nchan); i++) {
		struct wire_reader *rd;
		const uint8_t *payload;
		struct wire_status ws;
		struct wire_hdr hd;
		char err[WIRE_ERRLEN] = "";

		ret = wire_reader_new(chan_recv, &src->chan[i], NULL, 0, &rd);
		if (ret)
			return ret;
		ret = wire_reader_next(rd, &hd, &payload, NULL);
		if (ret == -EPROTO)
			snprintf(err, sizeof(err), "%s", wire_reader_error(rd));
		else if (!ret && hd.type != WIRE_HELLO_ACK &&
			 hd.type != WIRE_ERROR) {
			ret = -EPROTO;
			snprintf(err, sizeof(err),
				 "expected HELLO_ACK, got record type 0x%04x",
				 hd.type);
		} else if (!ret) {
			ret = wire_status_unpack(payload, hd.len, &ws, err,
						 sizeof(err));
			if (!ret && ws.status) {
				failure_set_peer(&src->sess.fail,
						 ws.status < 0 ? ws.status
							       : -EPROTO,
						 ws.text);
				ret = failure_code(&src->sess.fail);
			}
		}
		if (i == 0 && !ret) {
			wire_reader_free(src->rp_reader);
			src->rp_reader = rd;
		}
		else
			wire_reader_free(rd);
		if (ret) {
			src_fail(src, ret, "handshake on channel %u: %s", i,
				 err[0] ? err : src->chan[i].err[0]
				 ? src->chan[i].err : vmmig_strerror(ret));
			return ret;
		}
	}
	if (send_err)
		src_fail(src, send_err, "sending handshake: %s",
			 vmmig_strerror(send_err));
	return send_err;
}

/* Nobody listening there (yet). */
static bool refused(int err)
{
	return err == -ECONNREFUSED || err == -ENOENT;
}

int src_connect_all(struct vmmig_source *src, int timeout, int64_t retry_ms)
{
	uint64_t until = clock_now_us() + (uint64_t)retry_ms * 1000u;

	for (unsigned i = 0; i < src->nchan; i++) {
		const char *addr = src->addr;
		char fd[16];
		int ret;

		pthread_mutex_lock(&src->chan_lock);
		ret = chan_init(&src->chan[i], src->tops, i, &src->sess.sh);
		pthread_mutex_unlock(&src->chan_lock);

		if (!ret && src->nfds) {
			/* Each pre-connected socket serves once. */
			ret = src->fds[i] < 0 ? -ENOTCONN : 0;
			snprintf(fd, sizeof(fd), "%d", src->fds[i]);
			src->fds[i] = -1; /* the channel owns it now */
			addr = fd;
		}
		while (!ret) {
			ret = chan_connect(&src->chan[i], addr, timeout);
			if (!refused(ret) || clock_now_us() >= until ||
			    atomic_load(&src->sess.sh.abort))
				break;
			/* Asked to: a bounded retry, as a retry. */
			log_msg(&src->sess.log, VMMIG_LOG_INFO,
				"connecting channel %u "
				"to %s: %s, retrying", i, addr,
				vmmig_strerror(ret));
			usleep(20000);
			ret = 0;
		}
		/* A cancel (or the watchdog) that came while this channel
		 * was connecting found nothing to shut down: stop here rather
		 * than in a handshake that nobody will interrupt. */
		if (!ret && atomic_load(&src->sess.sh.abort))
			ret = -ECANCELED;
		if (ret) {
			/* A transport that opens fewer connections than
			 * asked for fails here: say how many it takes. */
			src_fail(src, ret, "connecting channel %u of %u (%u "
				 "page channel%s + the urgent channel) to "
				 "%s%s: %s", i, src->nchan, src->ndata,
				 src->ndata > 1 ? "s" : "",
				 src->nfds ? "fd " : "", addr,
				 ret == -ENOTCONN && src->nfds
					    ? "pre-connected sockets serve "
					      "once (no reconnection)"
					    : src->chan[i].err[0]
					    ? src->chan[i].err
					    : vmmig_strerror(ret));
			return ret;
		}
	}
	return 0;
}
