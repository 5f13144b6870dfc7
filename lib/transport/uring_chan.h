/* SPDX-License-Identifier: MIT */
/*
 * io_uring channel over a connected stream socket (private): the part the
 * TCP and Unix transports share. Two rings: one used only by the sending
 * thread, one only by the receiving thread, because a ring must not have two
 * concurrent submitters.
 */
#ifndef VMMIG_LIB_URING_CHAN_H
#define VMMIG_LIB_URING_CHAN_H

#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/uio.h>

struct uring_chan {
	bool live;              /* uring_chan_init() succeeded */
	int fd;                 /* connected stream socket, owned */
	atomic_bool shut;       /* uring_chan_shutdown() was called */
	struct io_uring sring;  /* send side only */
	struct io_uring rring;  /* receive side only */
	struct iovec *sscratch; /* copy of a partly sent iov tail (lazy) */
	struct iovec *rscratch; /* same for receive */
};

/* Take ownership of @fd (closed on failure too) and set up both rings.
 * @c must be zeroed. Return 0 or -errno. */
int uring_chan_init(struct uring_chan *c, int fd);
/* The transport ops; @chan is a struct uring_chan. */
int uring_chan_send(void *chan, const struct iovec *iov, int iovcnt);
int uring_chan_recv(void *chan, const struct iovec *iov, int iovcnt);
int uring_chan_recv_some(void *chan, void *buf, size_t min, size_t max);
void uring_chan_shutdown(void *chan);
void uring_chan_close(void *chan);

/*
 * Consume @n bytes from the front of @msg's iovec after a short transfer.
 * Whole entries are skipped by moving msg_iov; only when the transfer ended
 * inside an entry is the remaining tail copied, once, into *@scratch
 * (allocated on first use, IOV_MAX entries, freed by the owner), which is
 * then edited in place. *@in_scratch tracks whether msg_iov points there.
 * Empty entries at the front are dropped. Exposed for tests. 0 or -ENOMEM.
 */
int uring_iov_advance(struct msghdr *msg, size_t n, struct iovec **scratch,
		      bool *in_scratch);

#endif
