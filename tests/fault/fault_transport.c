/* SPDX-License-Identifier: MIT */
#include "fault_transport.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Legal short transfers move at most this many bytes per inner call (a
 * prime, so pieces fall across record and page boundaries). */
#define PIECE 1021

/* Our channel: which side and which connection, then the inner one. */
struct fchan {
	enum fault_side side;
	unsigned id;             /* per side, in connect/accept order */
	atomic_bool broken;      /* cut by a fault: reset, not cancelled */
	max_align_t inner[];
};

static const struct vmmig_transport_ops *inner;
static struct vmmig_transport_ops ops;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static enum fault_kind plan_kind;
static uint64_t plan_n;
/* FAULT_PARTITION: after this side sent this record; FAIL or TORN with
 * plan_n 0: at this side's first send of it. */
static enum fault_side cut_side;
static int cut_type = -1;
static atomic_bool cut;           /* the partition is on */
static atomic_uint_fast64_t nops;
static atomic_uint next_id[2];
static bool fired;
static char fired_desc[192];
static void (*fire_fn)(void *);
static void *fire_arg;
/* Record types by their low byte (unique among the types of the wire
 * format): attempted and completed sends per side. */
static atomic_bool tried[2][256], sent[2][256];

void fault_plan(enum fault_kind kind, uint64_t n)
{
	pthread_mutex_lock(&lock);
	plan_kind = kind;
	plan_n = n;
	cut_type = -1;
	atomic_store(&cut, false);
	fired = false;
	fired_desc[0] = '\0';
	atomic_store(&nops, 0);
	atomic_store(&next_id[0], 0);
	atomic_store(&next_id[1], 0);
	for (int s = 0; s < 2; s++)
		for (int t = 0; t < 256; t++) {
			atomic_store(&tried[s][t], false);
			atomic_store(&sent[s][t], false);
		}
	pthread_mutex_unlock(&lock);
}

void fault_plan_partition(enum fault_side side, uint16_t type)
{
	fault_plan(FAULT_PARTITION, 0);
	pthread_mutex_lock(&lock);
	cut_side = side;
	cut_type = type;
	pthread_mutex_unlock(&lock);
}

void fault_plan_at_record(enum fault_kind kind, enum fault_side side,
			  uint16_t type)
{
	fault_plan(kind, 0);
	pthread_mutex_lock(&lock);
	cut_side = side;
	cut_type = type;
	pthread_mutex_unlock(&lock);
}

uint64_t fault_ops(void)
{
	return atomic_load(&nops);
}

bool fault_fired(char *desc, size_t len)
{
	bool f;

	pthread_mutex_lock(&lock);
	f = fired;
	if (desc && len)
		snprintf(desc, len, "%s", fired_desc);
	pthread_mutex_unlock(&lock);
	return f;
}

void fault_on_fire(void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&lock);
	fire_fn = fn;
	fire_arg = arg;
	pthread_mutex_unlock(&lock);
}

bool fault_sent_tried(enum fault_side side, uint16_t type)
{
	return atomic_load(&tried[side][type & 0xff]);
}

bool fault_sent_ok(enum fault_side side, uint16_t type)
{
	return atomic_load(&sent[side][type & 0xff]);
}

static const char *const op_names[] = { "connect", "accept", "send", "recv",
					"recv_some" };
enum op { OP_CONNECT, OP_ACCEPT, OP_SEND, OP_RECV, OP_RECV_SOME };

/* Count one operation; the fault to inject into it (FAULT_NONE if none).
 * @c is NULL for connect/accept. */
static enum fault_kind count_op(enum op op, const struct fchan *c,
				enum fault_side side, int type, size_t bytes)
{
	uint64_t k = atomic_fetch_add(&nops, 1) + 1;
	enum fault_kind kind = FAULT_NONE;
	void (*fn)(void *) = NULL;
	void *arg = NULL;

	pthread_mutex_lock(&lock);
	if (plan_kind == FAULT_SHORT && k >= plan_n) {
		kind = FAULT_SHORT;
	} else if (plan_kind == FAULT_PARTITION) {
		if (atomic_load(&cut) && side == SIDE_SRC) {
			kind = FAULT_FAIL;
			fired = true;
		}
	} else if (plan_kind != FAULT_NONE && !fired &&
		   (plan_n ? k == plan_n
			   : op == OP_SEND && side == cut_side &&
				     type == cut_type)) {
		char t[24] = "";

		kind = plan_kind;
		fired = true;
		if (type >= 0)
			snprintf(t, sizeof(t), " type 0x%04x", type);
		snprintf(fired_desc, sizeof(fired_desc),
			 "%s %s of %s channel %u%s (%zu bytes)",
			 kind == FAULT_TORN ? "torn" : "failed", op_names[op],
			 side == SIDE_SRC ? "source" : "destination",
			 c ? c->id : 0, t, bytes);
		fn = fire_fn;
		arg = fire_arg;
	}
	pthread_mutex_unlock(&lock);
	if (fn)
		fn(arg);
	return kind;
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t n = 0;

	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* The bytes [off, off + len) of @iov as a new vector in @out (at most
 * IOV_MAX entries, as @iov). Returns the entry count. */
static int iov_slice(const struct iovec *iov, int iovcnt, size_t off,
		     size_t len, struct iovec *out)
{
	int n = 0;

	for (int i = 0; i < iovcnt && len; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		size_t k = l - off < len ? l - off : len;

		out[n++] = (struct iovec){ (char *)iov[i].iov_base + off, k };
		len -= k;
		off = 0;
	}
	return n;
}

/* Move bytes [from, to) of @iov in pieces of at most @piece bytes. */
static int xfer_range(struct fchan *c, bool is_send, const struct iovec *iov,
		      int iovcnt, size_t from, size_t to, size_t piece)
{
	struct iovec part[IOV_MAX];

	for (size_t off = from; off < to;) {
		size_t len = to - off < piece ? to - off : piece;
		int n = iov_slice(iov, iovcnt, off, len, part);
		int ret = is_send ? inner->send(c->inner, part, n)
				  : inner->recv(c->inner, part, n);

		if (ret)
			return ret;
		off += len;
	}
	return 0;
}

/* Cut the channel as a reset connection is: from now on its calls here
 * fail with ECONNRESET (the inner channel would say ECANCELED, as after
 * the library's own shutdown), and the peer's with ECONNRESET too. */
static int cut_chan(struct fchan *c)
{
	atomic_store(&c->broken, true);
	inner->shutdown(c->inner);
	return -ECONNRESET;
}

/* An inner call's result, as seen through a cut channel. */
static int seen(struct fchan *c, int ret)
{
	return ret < 0 && atomic_load(&c->broken) ? -ECONNRESET : ret;
}

/* The first half of the bytes move (at least one when there are two), then
 * the channel is cut. */
static int torn(struct fchan *c, bool is_send, const struct iovec *iov,
		int iovcnt)
{
	size_t total = iov_total(iov, iovcnt);

	(void)xfer_range(c, is_send, iov, iovcnt, 0, total / 2, SIZE_MAX);
	return cut_chan(c);
}

/* Whether this send of record @type starts the planned partition. */
static bool partition_starts(struct fchan *c, int type)
{
	bool starts = false;

	pthread_mutex_lock(&lock);
	if (plan_kind == FAULT_PARTITION && !atomic_load(&cut) &&
	    c->side == cut_side && type == cut_type) {
		atomic_store(&cut, true);
		fired = true;
		snprintf(fired_desc, sizeof(fired_desc),
			 "%s record 0x%04x lost, then the source cut off",
			 c->side == SIDE_SRC ? "source" : "destination", type);
		starts = true;
	}
	pthread_mutex_unlock(&lock);
	return starts;
}

static int f_connect(void *chan, const char *addr, int timeout_ms)
{
	struct fchan *c = chan;

	c->side = SIDE_SRC;
	c->id = atomic_fetch_add(&next_id[SIDE_SRC], 1);
	switch (count_op(OP_CONNECT, c, SIDE_SRC, -1, 0)) {
	case FAULT_FAIL:
	case FAULT_TORN:
		return -ECONNREFUSED;
	default:
		return inner->connect(c->inner, addr, timeout_ms);
	}
}

static int f_listen(void *listener, const char *addr)
{
	return inner->listen(listener, addr);
}

static int f_listener_addr(void *listener, char *buf, size_t len)
{
	if (!inner->listener_addr)
		return snprintf(buf, len, "?") < 0 ? -EINVAL : 0;
	return inner->listener_addr(listener, buf, len);
}

static int f_accept(void *listener, void *chan, int timeout_ms)
{
	struct fchan *c = chan;
	enum fault_kind k;
	int ret;

	c->side = SIDE_DST;
	c->id = atomic_fetch_add(&next_id[SIDE_DST], 1);
	k = count_op(OP_ACCEPT, c, SIDE_DST, -1, 0);
	ret = inner->accept(listener, c->inner, timeout_ms);
	if (ret || (k != FAULT_FAIL && k != FAULT_TORN))
		return ret;
	inner->close(c->inner);
	return -ECONNABORTED;
}

static void f_listener_shutdown(void *listener)
{
	if (inner->listener_shutdown)
		inner->listener_shutdown(listener);
}

static void f_listener_close(void *listener)
{
	inner->listener_close(listener);
}

static int f_send(void *chan, const struct iovec *iov, int iovcnt)
{
	struct fchan *c = chan;
	int type = -1;
	int ret;

	/* "Tried" means handed to the transport, as the library sees it:
	 * a send on a channel already cut counts too (the library can't
	 * tell that nothing of it left). */
	if (iovcnt > 0 && iov[0].iov_len >= 2) {
		const uint8_t *h = iov[0].iov_base;

		type = h[0] | h[1] << 8;
		atomic_store(&tried[c->side][type & 0xff], true);
	}
	if (atomic_load(&c->broken))
		return -ECONNRESET;
	if (partition_starts(c, type)) {
		/* It "went out" and the link died on the way: the sender
		 * counts it as sent, the peer sees a reset instead. */
		atomic_store(&sent[c->side][type & 0xff], true);
		cut_chan(c);
		return 0;
	}
	switch (count_op(OP_SEND, c, c->side, type,
			 iov_total(iov, iovcnt))) {
	case FAULT_FAIL:
		return cut_chan(c);
	case FAULT_TORN:
		return torn(c, true, iov, iovcnt);
	case FAULT_SHORT:
		ret = xfer_range(c, true, iov, iovcnt, 0,
				 iov_total(iov, iovcnt), PIECE);
		break;
	default:
		ret = inner->send(c->inner, iov, iovcnt);
	}
	ret = seen(c, ret);
	if (!ret && type >= 0)
		atomic_store(&sent[c->side][type & 0xff], true);
	return ret;
}

/* Pipelined sends, faulted like f_send(): each is over (sent or failed,
 * its error returned) when queued, so nothing is ever left to wait for;
 * the library's queueing code still runs under every fault plan. */
static int f_send_wait(void *chan, unsigned left)
{
	(void)chan;
	(void)left;
	return 0;
}

static int f_recv(void *chan, const struct iovec *iov, int iovcnt)
{
	struct fchan *c = chan;

	switch (count_op(OP_RECV, c, c->side, -1, iov_total(iov, iovcnt))) {
	case FAULT_FAIL:
		return cut_chan(c);
	case FAULT_TORN:
		return torn(c, false, iov, iovcnt);
	case FAULT_SHORT:
		return seen(c, xfer_range(c, false, iov, iovcnt, 0,
					  iov_total(iov, iovcnt), PIECE));
	default:
		return seen(c, inner->recv(c->inner, iov, iovcnt));
	}
}

static int f_recv_some(void *chan, void *buf, size_t min, size_t max)
{
	struct fchan *c = chan;
	struct iovec iov = { buf, min };

	switch (count_op(OP_RECV_SOME, c, c->side, -1, max)) {
	case FAULT_FAIL:
		return cut_chan(c);
	case FAULT_TORN: /* fewer than @min bytes, then the cut */
		return torn(c, false, &iov, 1);
	case FAULT_SHORT:
		return seen(c, inner->recv_some(c->inner, buf, min, min));
	default:
		return seen(c, inner->recv_some(c->inner, buf, min, max));
	}
}

static void f_shutdown(void *chan)
{
	struct fchan *c = chan;

	inner->shutdown(c->inner);
}

static void f_close(void *chan)
{
	struct fchan *c = chan;

	inner->close(c->inner);
}

const struct vmmig_transport_ops *fault_transport(
	const struct vmmig_transport_ops *t)
{
	inner = t;
	ops = (struct vmmig_transport_ops){
		.version = VMMIG_TRANSPORT_OPS_VERSION,
		.name = "fault",
		.chan_size = sizeof(struct fchan) + t->chan_size,
		.listener_size = t->listener_size,
		.connect = f_connect,
		.listen = f_listen,
		.listener_addr = f_listener_addr,
		.accept = f_accept,
		.listener_shutdown = f_listener_shutdown,
		.listener_close = f_listener_close,
		.send = f_send,
		.recv = f_recv,
		.shutdown = f_shutdown,
		.close = f_close,
		.recv_some = t->version >= 2 ? (t->recv_some ? f_recv_some
							      : NULL)
					     : NULL,
		.send_queue = f_send,
		.send_wait = f_send_wait,
	};
	return &ops;
}
