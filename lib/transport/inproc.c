/* SPDX-License-Identifier: MIT */
/*
 * Transport "inproc": channels inside one process, for tests. Listeners are
 * kept by name in a process-wide registry; connect() creates a pair of
 * bounded byte queues and hands the far end to the listener's accept queue.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmmig/transport.h>

#include "sock.h"

#define QUEUE_CAP (1u << 20) /* bytes per direction */
#define ACCEPT_BACKLOG 128

/* A ring buffer of bytes, one direction of a pair. */
struct bq {
	unsigned char *buf;
	size_t head; /* next byte to read */
	size_t len;  /* bytes queued */
	pthread_cond_t cv; /* signalled when data or space appears */
};

/* State shared by the two ends; end s writes q[s] and reads q[!s]. */
struct pair {
	pthread_mutex_t mu;
	struct bq q[2];
	bool shut[2];   /* end s called shutdown() */
	bool closed[2]; /* end s called close() (or was never accepted) */
	int refs;       /* ends not yet closed */
	struct pair *next_pending; /* link in a listener's accept queue */
};

struct inproc_chan {
	struct pair *p;
	int side;
};

struct inproc_listener {
	bool live;
	bool shut;
	char *name;
	pthread_cond_t cv;       /* signalled on a new pending pair / shut */
	struct pair *pending;    /* FIFO of connected, unaccepted pairs */
	struct pair **tail;
	int npending;
	struct inproc_listener *next; /* registry link */
};

/* The registry; its mutex also guards every listener's fields. */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct inproc_listener *reg_head;

static struct inproc_listener *reg_find(const char *name)
{
	struct inproc_listener *l;

	for (l = reg_head; l; l = l->next)
		if (!strcmp(l->name, name))
			return l;
	return NULL;
}

static int cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t attr;
	int ret;

	ret = pthread_condattr_init(&attr);
	if (ret)
		return -ret;
	ret = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!ret)
		ret = pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
	return -ret;
}

/* Wait on @cv until @deadline_ns (UINT64_MAX: forever); -ETIMEDOUT. */
static int cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu,
			   uint64_t deadline_ns)
{
	struct timespec ts;

	if (deadline_ns == UINT64_MAX)
		return -pthread_cond_wait(cv, mu);
	ts.tv_sec = (time_t)(deadline_ns / 1000000000ull);
	ts.tv_nsec = (long)(deadline_ns % 1000000000ull);
	return -pthread_cond_timedwait(cv, mu, &ts);
}

static void pair_free(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		free(p->q[i].buf);
		pthread_cond_destroy(&p->q[i].cv);
	}
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static struct pair *pair_new(void)
{
	struct pair *p = calloc(1, sizeof(*p));
	int i;

	if (!p)
		return NULL;
	if (pthread_mutex_init(&p->mu, NULL))
		goto err_free;
	for (i = 0; i < 2; i++) {
		if (pthread_cond_init(&p->q[i].cv, NULL))
			goto err_cv;
		p->q[i].buf = malloc(QUEUE_CAP);
		if (!p->q[i].buf) {
			pthread_cond_destroy(&p->q[i].cv);
			goto err_cv;
		}
	}
	p->refs = 2;
	return p;
err_cv:
	while (i-- > 0) {
		free(p->q[i].buf);
		pthread_cond_destroy(&p->q[i].cv);
	}
	pthread_mutex_destroy(&p->mu);
err_free:
	free(p);
	return NULL;
}

/* Mark end @side closed and drop its reference; frees the pair at zero. */
static void pair_release(struct pair *p, int side)
{
	bool last;

	pthread_mutex_lock(&p->mu);
	p->closed[side] = true;
	last = --p->refs == 0;
	pthread_cond_broadcast(&p->q[0].cv);
	pthread_cond_broadcast(&p->q[1].cv);
	pthread_mutex_unlock(&p->mu);
	if (last)
		pair_free(p);
}

static int inproc_connect(void *chan, const char *addr, int timeout_ms)
{
	uint64_t deadline = sock_deadline(timeout_ms);
	struct inproc_chan *c = chan;
	struct inproc_listener *l;
	struct pair *p;
	int ret;

	if (!addr || !*addr)
		return -EINVAL;
	p = pair_new();
	if (!p)
		return -ENOMEM;
	/* A full backlog is retried until the timeout. */
	for (;;) {
		pthread_mutex_lock(&reg_mu);
		l = reg_find(addr);
		if (!l || l->shut) {
			/* Nobody listening: at once, like a socket. */
			pthread_mutex_unlock(&reg_mu);
			pair_free(p);
			return -ECONNREFUSED;
		}
		if (l->npending < ACCEPT_BACKLOG) {
			*l->tail = p;
			l->tail = &p->next_pending;
			l->npending++;
			pthread_cond_signal(&l->cv);
			pthread_mutex_unlock(&reg_mu);
			break;
		}
		pthread_mutex_unlock(&reg_mu);
		ret = -ECONNREFUSED;
		if (!sock_retry_pause(deadline)) {
			pair_free(p);
			return ret;
		}
	}
	c->p = p;
	c->side = 0;
	return 0;
}

static int inproc_listen(void *listener, const char *addr)
{
	struct inproc_listener *l = listener;
	int ret;

	if (!addr || !*addr)
		return -EINVAL;
	l->name = strdup(addr);
	if (!l->name)
		return -ENOMEM;
	ret = cond_init_mono(&l->cv);
	if (ret < 0)
		goto err_name;
	l->tail = &l->pending;
	pthread_mutex_lock(&reg_mu);
	if (reg_find(addr)) {
		pthread_mutex_unlock(&reg_mu);
		ret = -EADDRINUSE;
		goto err_cv;
	}
	l->next = reg_head;
	reg_head = l;
	l->live = true;
	pthread_mutex_unlock(&reg_mu);
	return 0;
err_cv:
	pthread_cond_destroy(&l->cv);
err_name:
	free(l->name);
	l->name = NULL;
	return ret;
}

static int inproc_listener_addr(void *listener, char *buf, size_t len)
{
	struct inproc_listener *l = listener;
	size_t n;

	if (!l->live)
		return -EINVAL;
	n = strlen(l->name);
	if (n >= len)
		return -ENOSPC;
	memcpy(buf, l->name, n + 1);
	return 0;
}

static int inproc_accept(void *listener, void *chan, int timeout_ms)
{
	uint64_t deadline = sock_deadline(timeout_ms);
	struct inproc_listener *l = listener;
	struct inproc_chan *c = chan;
	struct pair *p = NULL;
	int ret = 0;

	if (!l->live)
		return -EINVAL;
	pthread_mutex_lock(&reg_mu);
	while (!l->shut && !l->pending && ret == 0)
		ret = cond_wait_until(&l->cv, &reg_mu, deadline);
	if (l->shut) {
		ret = -ECANCELED;
	} else if (l->pending) {
		p = l->pending;
		l->pending = p->next_pending;
		if (!l->pending)
			l->tail = &l->pending;
		l->npending--;
		ret = 0;
	}
	pthread_mutex_unlock(&reg_mu);
	if (ret < 0)
		return ret;
	c->p = p;
	c->side = 1;
	return 0;
}

static void inproc_listener_shutdown(void *listener)
{
	struct inproc_listener *l = listener;

	if (!l->live)
		return;
	pthread_mutex_lock(&reg_mu);
	l->shut = true;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&reg_mu);
}

static void inproc_listener_close(void *listener)
{
	struct inproc_listener *l = listener;
	struct inproc_listener **pp;
	struct pair *p, *next;

	if (!l->live)
		return;
	pthread_mutex_lock(&reg_mu);
	for (pp = &reg_head; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	p = l->pending;
	pthread_mutex_unlock(&reg_mu);
	/* Connections never accepted: their connectors see a closed peer. */
	for (; p; p = next) {
		next = p->next_pending;
		pair_release(p, 1);
	}
	pthread_cond_destroy(&l->cv);
	free(l->name);
	memset(l, 0, sizeof(*l));
}

/* Copy between @iov and the queue of one direction; see send/recv. */
/* Move @n bytes between @u and the ring, into it when @in (it has room)
 * or out of it (it holds them). Under p->mu. */
static void bq_move(struct bq *q, unsigned char *u, size_t n, bool in)
{
	/* The ring may wrap: at most two pieces. */
	size_t pos = in ? (q->head + q->len) % QUEUE_CAP : q->head;

	for (size_t done = 0; done < n;) {
		size_t k = n - done;

		if (k > QUEUE_CAP - pos)
			k = QUEUE_CAP - pos;
		if (in)
			memcpy(q->buf + pos, u + done, k);
		else
			memcpy(u + done, q->buf + pos, k);
		done += k;
		pos = (pos + k) % QUEUE_CAP;
	}
	if (in) {
		q->len += n;
	} else {
		q->head = (q->head + n) % QUEUE_CAP;
		q->len -= n;
	}
}

static int xfer(struct inproc_chan *c, const struct iovec *iov, int iovcnt,
		bool is_send)
{
	struct pair *p = c->p;
	int me = c->side, peer = !c->side;
	struct bq *q = is_send ? &p->q[me] : &p->q[peer];
	size_t off = 0;
	int i = 0, ret = 0;

	if (!p || iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
		return -EINVAL;
	pthread_mutex_lock(&p->mu);
	while (i < iovcnt) {
		size_t want = iov[i].iov_len - off, n;
		unsigned char *u = (unsigned char *)iov[i].iov_base + off;

		if (want == 0) {
			i++;
			off = 0;
			continue;
		}
		if (p->shut[me]) {
			ret = -ECANCELED;
			break;
		}
		/* A send to a peer that shut down or closed fails at once;
		 * a receive first gets what was queued before, as from a
		 * socket (the last record a peer sends before it hangs up,
		 * post-copy's DONE say, must arrive). */
		if (is_send && (p->shut[peer] || p->closed[peer])) {
			ret = -ECONNRESET;
			break;
		}
		n = is_send ? QUEUE_CAP - q->len : q->len;
		if (n == 0) {
			if (!is_send && (p->shut[peer] || p->closed[peer])) {
				ret = -ECONNRESET; /* drained, peer gone */
				break;
			}
			pthread_cond_wait(&q->cv, &p->mu);
			continue;
		}
		if (n > want)
			n = want;
		bq_move(q, u, n, is_send);
		off += n;
		pthread_cond_broadcast(&q->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return ret;
}

static int inproc_send(void *chan, const struct iovec *iov, int iovcnt)
{
	return xfer(chan, iov, iovcnt, true);
}

static int inproc_recv(void *chan, const struct iovec *iov, int iovcnt)
{
	return xfer(chan, iov, iovcnt, false);
}

/* Like recv, but returns as soon as @min bytes arrived, with whatever more
 * is queued (up to @max). */
static int inproc_recv_some(void *chan, void *buf, size_t min, size_t max)
{
	struct inproc_chan *c = chan;
	struct pair *p = c->p;
	struct bq *q;
	size_t got = 0;
	int ret = 0;

	if (!p || !buf || min < 1 || min > max || max > INT_MAX)
		return -EINVAL;
	q = &p->q[!c->side];
	pthread_mutex_lock(&p->mu);
	while (got < min) {
		size_t n = q->len < max - got ? q->len : max - got;

		/* The checks of xfer()'s receive, in the same order. */
		if (p->shut[c->side]) {
			ret = -ECANCELED;
			break;
		}
		if (n == 0) {
			if (p->shut[!c->side] || p->closed[!c->side]) {
				ret = -ECONNRESET;
				break;
			}
			pthread_cond_wait(&q->cv, &p->mu);
			continue;
		}
		bq_move(q, (unsigned char *)buf + got, n, false);
		got += n;
		pthread_cond_broadcast(&q->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return ret < 0 ? ret : (int)got;
}

static void inproc_shutdown(void *chan)
{
	struct inproc_chan *c = chan;
	struct pair *p = c->p;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->shut[c->side] = true;
	pthread_cond_broadcast(&p->q[0].cv);
	pthread_cond_broadcast(&p->q[1].cv);
	pthread_mutex_unlock(&p->mu);
}

static void inproc_close(void *chan)
{
	struct inproc_chan *c = chan;

	if (!c->p)
		return;
	pair_release(c->p, c->side);
	c->p = NULL;
}

static const struct vmmig_transport_ops inproc_ops = {
	.version = VMMIG_TRANSPORT_OPS_VERSION,
	.name = "inproc",
	.chan_size = sizeof(struct inproc_chan),
	.listener_size = sizeof(struct inproc_listener),
	.connect = inproc_connect,
	.listen = inproc_listen,
	.listener_addr = inproc_listener_addr,
	.accept = inproc_accept,
	.listener_shutdown = inproc_listener_shutdown,
	.listener_close = inproc_listener_close,
	.send = inproc_send,
	.recv = inproc_recv,
	.shutdown = inproc_shutdown,
	.close = inproc_close,
	.recv_some = inproc_recv_some,
};

const struct vmmig_transport_ops *vmmig_transport_inproc(void)
{
	return &inproc_ops;
}
