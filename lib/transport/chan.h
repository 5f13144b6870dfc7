/* SPDX-License-Identifier: MIT */
/* A session's channel: a transport channel plus sequence numbers,
 * counters, rate cap and TLS (private). */
#ifndef VMMIG_LIB_TRANSPORT_CHAN_H
#define VMMIG_LIB_TRANSPORT_CHAN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/base.h"

/* ---- transport ops tables (transport.c) ---- */
/* What a session needs of a table: the source connects, the destination
 * listens (and both send, receive, shut down and close). */
enum { TRANSPORT_CONNECTS = 1, TRANSPORT_LISTENS = 2 };
/* The one check of an embedder's or a built-in table: the rules every
 * interface follows (<vmmig/common.h>): a version from 1 to
 * VMMIG_TRANSPORT_OPS_VERSION, the mandatory members for @uses. 0 or
 * -EINVAL. */
int chan_ops_check(const struct vmmig_transport_ops *t, int uses);
/* A method's result under the common rule (<vmmig/common.h>): >= 0 is
 * success, read as 0 where 0 is documented. */
static inline int chan_ops_ret(int ret)
{
	return ret > 0 ? 0 : ret;
}

/* ---- a destination's listener (listener.c) ---- */
struct listener {
	const struct vmmig_transport_ops *ops;
	void *priv;          /* transport's listener state */
	bool open;           /* listen() succeeded, not closed yet */
};
/* Check @ops, allocate the listener state, listen on @addr. */
int chan_listener_open(struct listener *l,
		       const struct vmmig_transport_ops *ops, const char *addr);
/* The bound address (@addr, the one asked for, if the transport cannot
 * tell). */
int chan_listener_addr(struct listener *l, const char *addr, char *buf,
		       size_t len);
/* Make a blocked accept return; thread-safe, a no-op when not open. */
void chan_listener_shutdown(struct listener *l);
/* Close and free; a no-op when not open. */
void chan_listener_close(struct listener *l);

/* ---- channels (chan.c): a transport channel plus what the core adds ---- */
struct ratelimit;
struct tls_creds;
struct tls_chan;

/* What all channels of one session share. */
struct chan_shared {
	_Atomic uint64_t last_progress_us; /* watchdog: any byte moved */
	atomic_bool abort;                 /* stop everything */
	struct ratelimit *rl;              /* NULL: no cap */
	struct tls_creds *tls;             /* NULL: plaintext channels */
};

struct chan {
	const struct vmmig_transport_ops *ops;
	void *priv;          /* transport's channel state */
	unsigned index;
	uint32_t tx_seq;     /* next record seq we send */
	pthread_mutex_t tx_lock; /* control records from several threads */
	/* Stored (release) once connect/accept succeeded, after the transport
	 * set up its state: chan_shutdown() from another thread (a cancel, the
	 * watchdog) loads it (acquire) and so sees that state whole. The
	 * owner's lock orders chan_init()/chan_close() against the shutdown;
	 * it is not held across a connect that may block. */
	atomic_bool connected;
	bool uncapped;       /* exempt from the bandwidth cap (urgent pages) */
	_Atomic uint64_t tx_bytes;
	_Atomic uint64_t rx_bytes;
	/* Sends handed to the transport (or TLS), counted before the call:
	 * unchanged across a failed send, nothing of it can have left. */
	_Atomic uint64_t tx_calls;
	struct chan_shared *sh;
	struct tls_chan *tls;  /* after chan_tls_*(): records go through it */
	bool tls_pending;      /* client: chan_tls_start() still to run */
	int tls_timeout_ms;    /* ... bounded by this */
	char peer[256];        /* ... the name the server's cert must carry */
	char err[192];         /* why the last connect/TLS step failed */
};
int chan_init(struct chan *c, const struct vmmig_transport_ops *ops,
	      unsigned index, struct chan_shared *sh);
int chan_connect(struct chan *c, const char *addr, int timeout_ms);
int chan_accept(struct chan *c, struct listener *l, int timeout_ms);
/* Rate limited, counted send of raw iovecs (a sealed record). */
int chan_send(struct chan *c, const struct iovec *iov, int iovcnt);
/* Pipelined chan_send() (transport send_queue/send_wait, see
 * <vmmig/transport.h>): the memory @iov points to stays in use until
 * chan_send_wait() leaves fewer sends in flight. A plain chan_send() where
 * the transport or TLS cannot queue. Under tx_lock, like chan_send(). */
int chan_send_queue(struct chan *c, const struct iovec *iov, int iovcnt);
/* Wait until at most @left queued sends are in flight; 0 or -errno. With
 * @left 0 it returns only once no queued memory is read any more. */
int chan_send_wait(struct chan *c, unsigned left);
/* Seal and send a non-PAGES record with the channel's next seq. */
int chan_send_record(struct chan *c, uint16_t type, uint16_t flags,
		     const void *payload, size_t len);
/* Send a status-shaped record (HELLO_ACK, ACK, ERROR). */
/* A region's page bitmap (@words 64-bit words) as DISCARD records. */
int chan_send_discard(struct chan *c, uint16_t flags, uint32_t region_id,
		      const uint64_t *bm, uint64_t words);
int chan_send_status(struct chan *c, uint16_t type, int32_t status,
		     uint32_t aux, const char *text);
/* ERROR with the reason of failure @f, as "<side> cancelled the
 * migration" or "<side> failed: <text>": best effort, from any thread,
 * waiting at most @wait_ms for another thread's record on @c to go out
 * (-EBUSY then), never for the bandwidth cap. @c may be in use by other
 * threads; the caller makes sure it is not being closed. */
struct failure;
int chan_send_error(struct chan *c, struct failure *f, const char *side,
		    int wait_ms);
/* wire_read_fn adaptor: cookie is the struct chan. */
int chan_recv(void *cookie, const struct iovec *iov, int iovcnt);
/* wire_read_some_fn adaptor (read-ahead); only for transports with
 * recv_some. */
int chan_recv_some(void *cookie, void *buf, size_t min, size_t max);
void chan_shutdown(struct chan *c);
void chan_close(struct chan *c);

/* ---- TLS on a channel (chan_tls.c), when sh->tls is set ----
 * On failure c->err says why. Return 0, -EACCES (authentication), -EPROTO
 * (the peer does not speak TLS), -ETIMEDOUT, or the transport's error.
 *
 * Client: chan_connect() prepares (the name to check: the configured one
 * or the host of a tcp @addr) and chan_tls_start() shakes hands, right
 * before the channel's HELLO: the destination takes its channels one at a
 * time, HELLO included, so a source that shook hands on every channel
 * before sending any HELLO would wait on the second forever. */
int chan_tls_prepare(struct chan *c, const char *addr, int timeout_ms);
int chan_tls_start(struct chan *c); /* no-op without TLS */
/* chan_tls_start() on @n channels at once, each in a thread that then runs
 * @then on its channel (the HELLO): the destination may take the channels
 * in any order (pre-connected fds). One failing shuts the others down.
 * Return 0 or the error of the lowest failing channel, in *@failed. */
int chan_tls_start_all(struct chan *c, unsigned n,
		       int (*then)(struct chan *c, unsigned i, void *arg),
		       void *arg, unsigned *failed);
/* Server, right after accept: a plaintext peer is told in plaintext that
 * TLS is required. */
int chan_tls_server(struct chan *c);

/* ---- a deadline on one channel's setup (chan_guard.c) ----
 * While armed, a thread shuts @c down when @timeout_ms pass. */
struct chan_guard {
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, fired;
	struct chan *c;
	int timeout_ms;
};
/* @timeout_ms < 0: no deadline (no thread). Return 0 or -errno. */
int chan_guard_arm(struct chan_guard *g, struct chan *c, int timeout_ms);
/* Stop the thread; true if the deadline passed (@c is shut down). */
bool chan_guard_disarm(struct chan_guard *g);

#endif /* VMMIG_LIB_TRANSPORT_CHAN_H */
