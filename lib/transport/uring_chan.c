/* SPDX-License-Identifier: MIT */
/* io_uring SENDMSG/RECVMSG (and RECV) over a connected stream socket. */
#include "uring_chan.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One operation in flight per ring (see uring_chan.h), so a tiny ring is
 * enough. No setup flags: COOP_TASKRUN measured no different on
 * loopback. */
#define RING_ENTRIES 4

int uring_chan_init(struct uring_chan *c, int fd)
{
	int ret;

	c->fd = fd;
	atomic_init(&c->shut, false);
	ret = io_uring_queue_init(RING_ENTRIES, &c->sring, 0);
	if (ret < 0)
		goto err_fd;
	ret = io_uring_queue_init(RING_ENTRIES, &c->rring, 0);
	if (ret < 0)
		goto err_sring;
	c->live = true;
	return 0;

err_sring:
	io_uring_queue_exit(&c->sring);
err_fd:
	close(fd);
	c->fd = -1;
	return ret;
}

/* Submit the one queued SQE of @ring and wait for its completion: the
 * result. */
static int submit_wait(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	int ret;

	/* -EINTR here means nothing was submitted; the SQE stays queued. */
	do
		ret = io_uring_submit_and_wait(ring, 1);
	while (ret == -EINTR);
	if (ret < 0)
		return ret;
	do
		ret = io_uring_wait_cqe(ring, &cqe);
	while (ret == -EINTR);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

/* Submit one SENDMSG or RECVMSG and wait for its completion: the result. */
static int run_op(struct io_uring *ring, int fd, struct msghdr *msg,
		  bool is_send)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		return -EBUSY; /* cannot happen: nothing else is queued */
	/* MSG_WAITALL makes the kernel retry a short transfer itself, which
	 * saves a round trip through user space per partial send/receive. */
	if (is_send)
		io_uring_prep_sendmsg(sqe, fd, msg, MSG_NOSIGNAL | MSG_WAITALL);
	else
		io_uring_prep_recvmsg(sqe, fd, msg, MSG_WAITALL);
	return submit_wait(ring);
}

/* See uring_chan.h. The caller's array is never written. */
int uring_iov_advance(struct msghdr *msg, size_t n, struct iovec **scratch,
		      bool *in_scratch)
{
	struct iovec *iov = msg->msg_iov;
	size_t cnt = msg->msg_iovlen;

	while (cnt > 0 && n >= iov->iov_len) {
		n -= iov->iov_len;
		iov++;
		cnt--;
	}
	if (n > 0 && cnt > 0) {
		if (!*in_scratch) {
			if (!*scratch) {
				*scratch = malloc(IOV_MAX * sizeof(**scratch));
				if (!*scratch)
					return -ENOMEM;
			}
			memcpy(*scratch, iov, cnt * sizeof(*iov));
			iov = *scratch;
			*in_scratch = true;
		}
		iov->iov_base = (char *)iov->iov_base + n;
		iov->iov_len -= n;
	}
	msg->msg_iov = iov;
	msg->msg_iovlen = cnt;
	return 0;
}

int uring_map_err(struct uring_chan *c, int res)
{
	if (atomic_load(&c->shut))
		return -ECANCELED;
	if (res == -EPIPE || res == -ECONNRESET || res == 0)
		return -ECONNRESET; /* 0: EOF, the peer closed */
	return res;
}

static int xfer(struct uring_chan *c, const struct iovec *iov, int iovcnt,
		bool is_send)
{
	struct io_uring *ring = is_send ? &c->sring : &c->rring;
	struct iovec **scratch = is_send ? &c->sscratch : &c->rscratch;
	/* The kernel only reads the iovec array; the cast drops const so the
	 * caller's array can be used in place. */
	struct msghdr msg = { .msg_iov = (struct iovec *)iov,
			      .msg_iovlen = (size_t)iovcnt };
	bool in_scratch = false;
	int ret;

	if (!c->live || iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
		return -EINVAL;
	if (atomic_load(&c->shut))
		return -ECANCELED;
	/* Drop leading empty entries: a 0-byte receive would look like EOF. */
	ret = uring_iov_advance(&msg, 0, scratch, &in_scratch);
	while (ret == 0 && msg.msg_iovlen > 0) {
		ret = run_op(ring, c->fd, &msg, is_send);
		if (ret <= 0)
			return uring_map_err(c, ret);
		ret = uring_iov_advance(&msg, (size_t)ret, scratch,
					&in_scratch);
	}
	return ret;
}

int uring_send_now(struct uring_chan *c, const struct iovec *iov, int iovcnt)
{
	return xfer(c, iov, iovcnt, true);
}

/* After the queued sends: the stream keeps its order. */
int uring_chan_send(void *chan, const struct iovec *iov, int iovcnt)
{
	struct uring_chan *c = chan;
	int ret = c->live ? uring_chan_send_wait(c, 0) : 0;

	return ret ? ret : xfer(c, iov, iovcnt, true);
}

int uring_chan_recv(void *chan, const struct iovec *iov, int iovcnt)
{
	return xfer(chan, iov, iovcnt, false);
}

/*
 * One RECV without MSG_WAITALL completes with whatever the socket holds (at
 * least one byte, at most @max), so a reader that asks for one record
 * header usually gets the whole record, and whatever followed it, in one
 * operation. Only a result short of @min costs another.
 */
int uring_chan_recv_some(void *chan, void *buf, size_t min, size_t max)
{
	struct uring_chan *c = chan;
	size_t got = 0;

	if (!c->live || !buf || min < 1 || min > max || max > INT_MAX)
		return -EINVAL;
	if (atomic_load(&c->shut))
		return -ECANCELED;
	while (got < min) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&c->rring);
		int ret;

		if (!sqe)
			return -EBUSY; /* cannot happen, as in run_op() */
		io_uring_prep_recv(sqe, c->fd, (char *)buf + got, max - got, 0);
		ret = submit_wait(&c->rring);
		if (ret <= 0)
			return uring_map_err(c, ret);
		got += (size_t)ret;
	}
	return (int)got;
}

void uring_chan_shutdown(void *chan)
{
	struct uring_chan *c = chan;

	if (!c->live)
		return;
	atomic_store(&c->shut, true);
	/* Completes a pending SENDMSG (EPIPE) and RECVMSG (EOF) on the socket,
	 * so the threads blocked in the rings wake up. */
	shutdown(c->fd, SHUT_RDWR);
}

void uring_chan_close(void *chan)
{
	struct uring_chan *c = chan;

	if (!c->live)
		return;
	/* The kernel may still read queued memory: end that first. */
	if (c->op_active) {
		uring_chan_shutdown(c);
		(void)uring_chan_send_wait(c, 0);
	}
	io_uring_queue_exit(&c->sring);
	io_uring_queue_exit(&c->rring);
	close(c->fd);
	free(c->sscratch);
	free(c->rscratch);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}
