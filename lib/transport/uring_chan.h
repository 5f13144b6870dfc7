/* SPDX-License-Identifier: MIT */
/*
 * io_uring channel over a connected stream socket (private): the part the
 * TCP, Unix and fd transports share. Two rings: one used only by the sending
 * thread, one only by the receiving thread, because a ring must not have two
 * concurrent submitters.
 *
 * Sending is pipelined (uring_queue.c): send_queue() starts a record's
 * SENDMSG and returns; while it runs the caller builds the next record,
 * whose send_queue() first waits for it. (Queueing records behind it to
 * gather them into one SENDMSG later left the socket idle until the
 * owner's next call.) Only one SENDMSG per socket is in the kernel at a
 * time: two on one
 * stream socket may interleave their bytes (a blocked send lets go of the
 * socket lock while it waits for room), and IOSQE_IO_LINK only chains
 * requests submitted together. Receiving is one operation at a time: a
 * PAGES record's raw pages go straight to the guest pages its descriptors
 * name, so the next receive's address is known only once the previous one
 * completed (the reader reads a record's head ahead: two receives a
 * record).
 *
 * Left out because they measured no better on loopback here (2 shared
 * cores, 1 GiB through a 256 KiB-record sender; core-seconds per GiB,
 * sender + receiver, noisy host): SEND_ZC with registered buffers (the
 * kernel copies looped-back zero-copy data anyway, and pins pages for it:
 * 0.95-1.0 vs 0.74-0.80 for SENDMSG), IOSQE_ASYNC (the copy moves to an
 * io-wq worker, which costs more in all: 0.88-0.91), and several SENDMSGs
 * in flight (not allowed, above). On a real NIC SEND_ZC may win; it needs
 * a host with one to measure.
 */
#ifndef VMMIG_LIB_URING_CHAN_H
#define VMMIG_LIB_URING_CHAN_H

#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define URING_QENT 16 /* sends queued at most */
/* Their iovecs at most: a PAGES record is up to 1 + 64 (head, then pages
 * straight from guest memory, lib/wire/batch.c). */
#define URING_QIOV 72

/* One queued send: the bytes of it that have not left yet. */
struct uring_qent {
	size_t left;
};

struct uring_chan {
	bool live;              /* uring_chan_init() succeeded */
	int fd;                 /* connected stream socket, owned */
	atomic_bool shut;       /* uring_chan_shutdown() was called */
	struct io_uring sring;  /* send side only */
	struct io_uring rring;  /* receive side only */
	struct iovec *sscratch; /* copy of a partly sent iov tail (lazy) */
	struct iovec *rscratch; /* same for receive */
	/* Queued sends (uring_queue.c), ring indexes counting up:
	 * [qhead, qsub) are in the SENDMSG in flight, [qsub, qtail) wait
	 * for the next one, their iovecs in nextiov[0, nnext). */
	struct uring_qent qent[URING_QENT];
	unsigned qhead, qsub, qtail;
	bool op_active;          /* a SENDMSG of queued sends is in flight */
	int serr;                /* sticky error of a queued send */
	struct msghdr opmsg;     /* the SENDMSG in flight, over opiov */
	struct iovec opiov[URING_QIOV];
	struct iovec nextiov[URING_QIOV];
	unsigned nnext;
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
int uring_chan_send_queue(void *chan, const struct iovec *iov, int iovcnt);
int uring_chan_send_wait(void *chan, unsigned left);

/* Shared by uring_chan.c and uring_queue.c. */
/* A failed or empty (EOF) completion as the error the ops report. */
int uring_map_err(struct uring_chan *c, int res);
/* Blocking send of @iov on the send ring, nothing queued in flight. */
int uring_send_now(struct uring_chan *c, const struct iovec *iov, int iovcnt);

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
