/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "lazy_pipe.h"

#define HOLD 4      /* more than the library may leave in flight */
#define MAXIOV 66
#define TYPE_PAGES 0x8010
#define TYPE_ZERO 0x8012

struct lazy_chan {
	struct iovec iov[HOLD][MAXIOV];
	int cnt[HOLD];
	unsigned head, n;    /* held records: [head, head + n) mod HOLD */
	unsigned last_type;  /* of the last queued record */
	int err;
	atomic_bool cut;     /* this channel was cut (read by receivers) */
};

struct lazy_stats lazy;
static struct vmmig_transport_ops ops;
static size_t inner_size; /* the inproc channel comes first */

void lazy_reset(int cut_after)
{
	atomic_store(&lazy.queued_zero, 0);
	atomic_store(&lazy.queued_pages, 0);
	atomic_store(&lazy.switches, 0);
	atomic_store(&lazy.held_max, 0);
	atomic_store(&lazy.cut_after, cut_after);
	atomic_store(&lazy.cut, false);
}

static struct lazy_chan *state(void *chan)
{
	return (struct lazy_chan *)((char *)chan + inner_size);
}

/* A failed send breaks the channel: nothing held is sent. */
static void drop_all(void *chan, int err)
{
	struct lazy_chan *q = state(chan);

	q->err = err;
	q->n = 0;
}

/* Send the oldest held record (or cut the link there). */
static int send_oldest(void *chan)
{
	struct lazy_chan *q = state(chan);
	unsigned i = q->head;
	int ret;

	if (atomic_load(&lazy.cut_after) >= 0 &&
	    atomic_fetch_sub(&lazy.cut_after, 1) == 0) {
		atomic_store(&lazy.cut, true);
		atomic_store(&q->cut, true);
		drop_all(chan, -ECONNRESET);
		/* The peer sees the connection go. */
		vmmig_transport_inproc()->shutdown(chan);
		return q->err;
	}
	ret = vmmig_transport_inproc()->send(chan, q->iov[i], q->cnt[i]);
	q->head = (q->head + 1) % HOLD;
	q->n--;
	if (ret)
		drop_all(chan, ret);
	return ret;
}

static int lazy_send_wait(void *chan, unsigned left)
{
	struct lazy_chan *q = state(chan);

	while (!q->err && q->n > left)
		send_oldest(chan);
	return q->err;
}

static int lazy_send_queue(void *chan, const struct iovec *iov, int iovcnt)
{
	struct lazy_chan *q = state(chan);
	unsigned type, i;

	if (q->err)
		return q->err;
	if (iovcnt > MAXIOV)
		return -EINVAL;
	if (q->n == HOLD && send_oldest(chan))
		return q->err;
	type = ((const uint8_t *)iov[0].iov_base)[0] |
	       ((const uint8_t *)iov[0].iov_base)[1] << 8;
	if (type == TYPE_ZERO)
		atomic_fetch_add(&lazy.queued_zero, 1);
	if (type == TYPE_PAGES)
		atomic_fetch_add(&lazy.queued_pages, 1);
	if ((type == TYPE_ZERO || type == TYPE_PAGES) &&
	    (q->last_type == TYPE_ZERO || q->last_type == TYPE_PAGES) &&
	    type != q->last_type)
		atomic_fetch_add(&lazy.switches, 1);
	q->last_type = type;
	i = (q->head + q->n) % HOLD;
	memcpy(q->iov[i], iov, (size_t)iovcnt * sizeof(*iov));
	q->cnt[i] = iovcnt;
	q->n++;
	if (q->n > atomic_load(&lazy.held_max))
		atomic_store(&lazy.held_max, q->n);
	return 0;
}

static int lazy_send(void *chan, const struct iovec *iov, int iovcnt)
{
	int ret = lazy_send_wait(chan, 0);

	return ret ? ret : vmmig_transport_inproc()->send(chan, iov, iovcnt);
}

/* The shutdown that stands for the cut makes this side's receives fail
 * with -ECANCELED, as after the library's own shutdown; a cut link resets
 * the connection instead. */
static int lazy_recv(void *chan, const struct iovec *iov, int iovcnt)
{
	int ret = vmmig_transport_inproc()->recv(chan, iov, iovcnt);

	return ret == -ECANCELED && atomic_load(&state(chan)->cut)
		       ? -ECONNRESET : ret;
}

static int lazy_recv_some(void *chan, void *buf, size_t min, size_t max)
{
	int ret = vmmig_transport_inproc()->recv_some(chan, buf, min, max);

	return ret == -ECANCELED && atomic_load(&state(chan)->cut)
		       ? -ECONNRESET : ret;
}

static void lazy_close(void *chan)
{
	(void)lazy_send_wait(chan, 0);
	vmmig_transport_inproc()->close(chan);
}

static void ops_init(void)
{
	const struct vmmig_transport_ops *in = vmmig_transport_inproc();

	ops = *in;
	/* Our state after the inproc channel's, aligned. */
	inner_size = (in->chan_size + 63) & ~(size_t)63;
	ops.chan_size = inner_size + sizeof(struct lazy_chan);
	ops.send = lazy_send;
	ops.close = lazy_close;
	ops.recv = lazy_recv;
	ops.recv_some = lazy_recv_some;
	ops.send_queue = lazy_send_queue;
	ops.send_wait = lazy_send_wait;
}

/* Built once: a test's second migration must not rewrite the table while
 * the first one's destination thread still reads it. */
const struct vmmig_transport_ops *lazy_pipe_ops(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, ops_init);
	return &ops;
}
