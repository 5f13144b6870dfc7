/* SPDX-License-Identifier: MIT */
/*
 * The core's view of one channel: a transport channel plus record sequence
 * numbers, the shared bandwidth cap, byte counters and the progress stamp the
 * watchdog reads.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/failure.h"
#include "chan.h"
#include "wire/wire.h"
#include "tls/tls.h"
#include "transport/ratelimit.h"

int chan_init(struct chan *c, const struct vmmig_transport_ops *ops,
	      unsigned index, struct chan_shared *sh)
{
	memset(c, 0, sizeof(*c));
	c->ops = ops;
	c->index = index;
	c->sh = sh;
	pthread_mutex_init(&c->tx_lock, NULL);
	c->priv = calloc(1, ops->chan_size ? ops->chan_size : 1);
	return c->priv ? 0 : -ENOMEM;
}

int chan_connect(struct chan *c, const char *addr, int timeout_ms)
{
	int ret = chan_ops_ret(c->ops->connect(c->priv, addr, timeout_ms));

	atomic_store_explicit(&c->connected, ret == 0, memory_order_release);
	if (!ret && c->sh->tls)
		ret = chan_tls_prepare(c, addr, timeout_ms);
	return ret;
}

int chan_accept(struct chan *c, struct listener *l, int timeout_ms)
{
	int ret = l->open ? chan_ops_ret(c->ops->accept(l->priv, c->priv,
							 timeout_ms))
			  : -EINVAL;

	atomic_store_explicit(&c->connected, ret == 0, memory_order_release);
	return ret;
}

static void progress(struct chan *c)
{
	atomic_store_explicit(&c->sh->last_progress_us, clock_now_us(),
			      memory_order_relaxed);
}

/* Before handing a send to the transport: not aborted, within the
 * bandwidth cap, counted as a call. The send's bytes go to *@bytes. */
static int admit_send(struct chan *c, const struct iovec *iov, int iovcnt,
		      size_t *bytes)
{
	int ret;

	if (atomic_load(&c->sh->abort))
		return -ECANCELED;
	*bytes = 0;
	for (int i = 0; i < iovcnt; i++)
		*bytes += iov[i].iov_len;
	if (c->sh->rl && !c->uncapped) {
		ret = ratelimit_take(c->sh->rl, *bytes, &c->sh->abort);
		if (ret)
			return ret;
	}
	atomic_fetch_add_explicit(&c->tx_calls, 1, memory_order_relaxed);
	return 0;
}

int chan_send(struct chan *c, const struct iovec *iov, int iovcnt)
{
	size_t bytes;
	int ret = admit_send(c, iov, iovcnt, &bytes);

	if (ret)
		return ret;
	ret = c->tls ? tls_chan_send(c->tls, iov, iovcnt)
		     : chan_ops_ret(c->ops->send(c->priv, iov, iovcnt));
	if (ret)
		return ret;
	atomic_fetch_add_explicit(&c->tx_bytes, bytes, memory_order_relaxed);
	progress(c);
	return 0;
}

static bool can_queue(const struct chan *c)
{
	return !c->tls && c->ops->version >= 3 && c->ops->send_queue &&
	       c->ops->send_wait;
}

int chan_send_queue(struct chan *c, const struct iovec *iov, int iovcnt)
{
	size_t bytes;
	int ret;

	if (!can_queue(c))
		return chan_send(c, iov, iovcnt);
	ret = admit_send(c, iov, iovcnt, &bytes);
	if (ret)
		return ret;
	ret = c->ops->send_queue(c->priv, iov, iovcnt);
	if (ret)
		return ret;
	/* Counted when queued: the stream is committed to these bytes. */
	atomic_fetch_add_explicit(&c->tx_bytes, bytes, memory_order_relaxed);
	progress(c);
	return 0;
}

int chan_send_wait(struct chan *c, unsigned left)
{
	int ret;

	if (!can_queue(c))
		return 0;
	ret = c->ops->send_wait(c->priv, left);
	if (!ret)
		progress(c);
	return ret;
}

static int chan_write_fn(void *cookie, const struct iovec *iov, int iovcnt)
{
	return chan_send(cookie, iov, iovcnt);
}

int chan_send_record(struct chan *c, uint16_t type, uint16_t flags,
		     const void *payload, size_t len)
{
	int ret;

	pthread_mutex_lock(&c->tx_lock);
	ret = wire_write_record(chan_write_fn, c, type, flags, c->tx_seq++,
				payload, len);
	pthread_mutex_unlock(&c->tx_lock);
	return ret;
}

int chan_send_discard(struct chan *c, uint16_t flags, uint32_t region_id,
		      const uint64_t *bm, uint64_t words)
{
	uint8_t head[WIRE_DISCARD_HEAD], hdr[WIRE_HDR_SIZE];

	for (uint64_t w = 0; w < words;) {
		uint64_t n = words - w > WIRE_DISCARD_MAX_WORDS
				     ? WIRE_DISCARD_MAX_WORDS : words - w;
		struct wire_discard d = { .region_id = region_id,
					  .nwords = (uint32_t)n,
					  .first_word = w };
		struct iovec iov[3];
		int ret;

		wire_discard_pack(head, &d);
		/* Bitmap words go as they are in memory: little endian on
		 * every host we build for. */
		iov[1] = (struct iovec){ head, sizeof(head) };
		iov[2] = (struct iovec){ (void *)(bm + w), n * 8 };
		pthread_mutex_lock(&c->tx_lock);
		wire_record_seal(hdr, WIRE_DISCARD, flags, c->tx_seq++,
				 &iov[1], 2);
		iov[0] = (struct iovec){ hdr, sizeof(hdr) };
		ret = chan_send(c, iov, 3);
		pthread_mutex_unlock(&c->tx_lock);
		if (ret)
			return ret;
		w += n;
	}
	return 0;
}

int chan_send_status(struct chan *c, uint16_t type, int32_t status,
		     uint32_t aux, const char *text)
{
	struct wire_status s = { .status = status, .aux = aux };
	uint8_t buf[sizeof(s) + 16];
	int len;

	snprintf(s.text, sizeof(s.text), "%s", text ? text : "");
	len = wire_status_pack(buf, sizeof(buf), &s);
	if (len < 0)
		return len;
	return chan_send_record(c, type, 0, buf, (size_t)len);
}

/* Outside the bandwidth cap: a stopping session must not queue its last
 * words behind the page stream's share of the link. */
static int chan_write_uncapped(void *cookie, const struct iovec *iov,
			       int iovcnt)
{
	struct chan *c = cookie;
	int ret = chan_ops_ret(c->ops->send(c->priv, iov, iovcnt));

	for (int i = 0; !ret && i < iovcnt; i++)
		atomic_fetch_add_explicit(&c->tx_bytes, iov[i].iov_len,
					  memory_order_relaxed);
	return ret;
}

/* pthread_mutex_timedlock() with a relative timeout; 0: trylock. */
static int lock_within(pthread_mutex_t *m, int wait_ms)
{
	struct timespec ts;

	if (wait_ms <= 0)
		return pthread_mutex_trylock(m);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	ts.tv_sec += wait_ms / 1000 + ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	return pthread_mutex_timedlock(m, &ts);
}

int chan_send_error(struct chan *c, struct failure *f, const char *side,
		    int wait_ms)
{
	struct wire_status s = { 0 };
	uint8_t buf[sizeof(s) + 16];
	int len, ret;

	pthread_mutex_lock(&f->lock);
	s.status = f->code < 0 ? f->code : -EPROTO;
	if (f->code == -ECANCELED)
		snprintf(s.text, sizeof(s.text), "%.16s cancelled the migration",
			 side);
	else
		snprintf(s.text, sizeof(s.text), "%.16s failed: %.170s", side,
			 f->msg);
	pthread_mutex_unlock(&f->lock);
	len = wire_status_pack(buf, sizeof(buf), &s);
	if (len < 0)
		return len;
	if (!c->priv || !atomic_load_explicit(&c->connected,
					      memory_order_acquire))
		return -ENOTCONN;
	/* Another thread in the middle of a record here: skip (best effort)
	 * rather than wait long behind a send that may never finish. */
	if (lock_within(&c->tx_lock, wait_ms))
		return -EBUSY;
	ret = wire_write_record(chan_write_uncapped, c, WIRE_ERROR, 0,
				c->tx_seq++, buf, (size_t)len);
	pthread_mutex_unlock(&c->tx_lock);
	return ret;
}

int chan_recv(void *cookie, const struct iovec *iov, int iovcnt)
{
	struct chan *c = cookie;
	size_t bytes = 0;
	int ret;

	ret = c->tls ? tls_chan_recv(c->tls, iov, iovcnt)
		     : chan_ops_ret(c->ops->recv(c->priv, iov, iovcnt));
	if (ret) {
		if (c->tls && tls_chan_error(c->tls))
			snprintf(c->err, sizeof(c->err), "%s",
				 tls_chan_error(c->tls));
		return ret;
	}
	for (int i = 0; i < iovcnt; i++)
		bytes += iov[i].iov_len;
	atomic_fetch_add_explicit(&c->rx_bytes, bytes, memory_order_relaxed);
	progress(c);
	return 0;
}

/* Same counting and progress stamp as chan_recv(). The caller checked that
 * the transport has recv_some (ops version >= 2). */
int chan_recv_some(void *cookie, void *buf, size_t min, size_t max)
{
	struct chan *c = cookie;
	int ret = c->tls ? tls_chan_recv_some(c->tls, buf, min, max)
			 : c->ops->recv_some(c->priv, buf, min, max);

	if (ret <= 0)
		return ret;
	atomic_fetch_add_explicit(&c->rx_bytes, (uint64_t)ret,
				  memory_order_relaxed);
	progress(c);
	return ret;
}

void chan_shutdown(struct chan *c)
{
	if (c->priv && atomic_load_explicit(&c->connected,
					    memory_order_acquire))
		c->ops->shutdown(c->priv);
}

void chan_close(struct chan *c)
{
	if (!c->priv)
		return;
	tls_chan_free(c->tls);
	c->tls = NULL;
	if (atomic_load(&c->connected))
		c->ops->close(c->priv);
	free(c->priv);
	c->priv = NULL;
	atomic_store(&c->connected, false);
	pthread_mutex_destroy(&c->tx_lock);
}
