/* SPDX-License-Identifier: MIT */
/*
 * Pipelined sends on an io_uring channel (see uring_chan.h): each queued
 * record is one SENDMSG, started at once; the next waits for it. The owner
 * builds the next record while one is in flight.
 */
#include <errno.h>
#include <string.h>

#include "uring_chan.h"

static unsigned queued(const struct uring_chan *c)
{
	return c->qtail - c->qhead;
}

/* Drop every queued send after a failure: none of it will be sent. */
static void fail_all(struct uring_chan *c, int err)
{
	if (!c->serr)
		c->serr = err;
	c->qhead = c->qsub = c->qtail;
	c->nnext = 0;
}

/* Start one SENDMSG for every send waiting, if none is in flight. */
static void submit_next(struct uring_chan *c)
{
	struct io_uring_sqe *sqe;
	int ret;

	if (c->op_active || c->qsub == c->qtail)
		return;
	sqe = io_uring_get_sqe(&c->sring);
	if (!sqe) {
		fail_all(c, -EBUSY); /* cannot happen: one op at a time */
		return;
	}
	memcpy(c->opiov, c->nextiov, c->nnext * sizeof(*c->opiov));
	c->opmsg = (struct msghdr){ .msg_iov = c->opiov,
				    .msg_iovlen = c->nnext };
	c->nnext = 0;
	c->qsub = c->qtail;
	io_uring_prep_sendmsg(sqe, c->fd, &c->opmsg,
			      MSG_NOSIGNAL | MSG_WAITALL);
	do
		ret = io_uring_submit(&c->sring);
	while (ret == -EINTR);
	if (ret < 0)
		fail_all(c, ret);
	else
		c->op_active = true;
}

/* The SENDMSG in flight completed with @res. */
static void complete(struct uring_chan *c, int res)
{
	size_t n;
	bool in_place = true; /* opiov is ours: edit it where it is */

	c->op_active = false;
	if (res <= 0) {
		fail_all(c, uring_map_err(c, res));
		return;
	}
	for (n = (size_t)res; n && c->qhead != c->qsub;) {
		struct uring_qent *e = &c->qent[c->qhead % URING_QENT];
		size_t k = n < e->left ? n : e->left;

		e->left -= k;
		n -= k;
		if (!e->left)
			c->qhead++;
	}
	if (c->qhead != c->qsub) {
		/* Short (a signal): send the rest of the same records. */
		struct io_uring_sqe *sqe = io_uring_get_sqe(&c->sring);
		struct iovec *none = NULL;
		int ret;

		(void)uring_iov_advance(&c->opmsg, (size_t)res, &none,
					&in_place);
		if (!sqe) {
			fail_all(c, -EBUSY);
			return;
		}
		io_uring_prep_sendmsg(sqe, c->fd, &c->opmsg,
				      MSG_NOSIGNAL | MSG_WAITALL);
		do
			ret = io_uring_submit(&c->sring);
		while (ret == -EINTR);
		if (ret < 0)
			fail_all(c, ret);
		else
			c->op_active = true;
		return;
	}
	submit_next(c);
}

/* Reap the SENDMSG in flight: wait for it if @block, else only if done. */
static int reap(struct uring_chan *c, bool block)
{
	struct io_uring_cqe *cqe;
	int ret, res;

	if (!c->op_active)
		return 0;
	if (block) {
		do
			ret = io_uring_wait_cqe(&c->sring, &cqe);
		while (ret == -EINTR);
	} else {
		ret = io_uring_peek_cqe(&c->sring, &cqe);
		if (ret == -EAGAIN)
			return 0;
	}
	if (ret < 0) {
		/* The ring itself failed: the SENDMSG's fate is unknown, so
		 * end it on the socket before anything is freed. */
		uring_chan_shutdown(c);
		return ret;
	}
	res = cqe->res;
	io_uring_cqe_seen(&c->sring, cqe);
	complete(c, res);
	return 0;
}

int uring_chan_send_wait(void *chan, unsigned left)
{
	struct uring_chan *c = chan;

	if (!c->live)
		return -EINVAL;
	while (queued(c) > left || (left == 0 && c->op_active)) {
		submit_next(c);
		if (!c->op_active)
			break; /* failed to start: all dropped */
		int ret = reap(c, true);

		if (ret < 0)
			return ret;
	}
	return c->serr;
}

int uring_chan_send_queue(void *chan, const struct iovec *iov, int iovcnt)
{
	struct uring_chan *c = chan;
	size_t bytes = 0;
	int ret, n = 0;

	if (!c->live || iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	if (c->serr)
		return c->serr;
	if (atomic_load(&c->shut))
		return -ECANCELED;
	for (int i = 0; i < iovcnt; i++) {
		bytes += iov[i].iov_len;
		n += iov[i].iov_len > 0;
	}
	if (!bytes)
		return 0;
	/* Too many pieces to gather: send it on its own, after the rest. */
	if (n > URING_QIOV - (int)c->nnext)
		return uring_chan_send(c, iov, iovcnt);
	/* The SENDMSG in flight ends first (one a socket, see uring_chan.h),
	 * and this one starts at once: left pending, it would start only at
	 * the owner's next call, and the socket could run dry meanwhile. */
	while (c->op_active) {
		ret = reap(c, true);
		if (ret < 0)
			return ret;
	}
	if (c->serr)
		return c->serr;
	for (int i = 0; i < iovcnt; i++)
		if (iov[i].iov_len)
			c->nextiov[c->nnext++] = iov[i];
	c->qent[c->qtail++ % URING_QENT].left = bytes;
	submit_next(c);
	return c->serr;
}
