/* SPDX-License-Identifier: MIT */
#include "faulty.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHANS 64

struct fchan {
	enum ft_side side;
	bool blackhole;       /* FT_DROP fired on this direction */
	uint64_t left;        /* bytes of the current record still to pass */
	bool in_registry;
	/* the in-process transport's channel state follows */
	unsigned char inner[] __attribute__((aligned(16)));
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct ft_plan plan;
static bool armed, fired;
static unsigned seen;
static atomic_bool dead[2];
static struct fchan *reg[MAX_CHANS];

static const struct vmmig_transport_ops *in(void)
{
	return vmmig_transport_inproc();
}

void ft_arm(const struct ft_plan *p)
{
	pthread_mutex_lock(&mu);
	armed = p != NULL;
	if (p)
		plan = *p;
	fired = false;
	seen = 0;
	atomic_store(&dead[0], false);
	atomic_store(&dead[1], false);
	pthread_mutex_unlock(&mu);
}

bool ft_fired(void)
{
	pthread_mutex_lock(&mu);
	bool f = fired;
	pthread_mutex_unlock(&mu);
	return f;
}

bool ft_dead(enum ft_side s)
{
	return atomic_load(&dead[s]);
}

static void reg_add(struct fchan *c)
{
	pthread_mutex_lock(&mu);
	for (int i = 0; i < MAX_CHANS; i++)
		if (!reg[i]) {
			reg[i] = c;
			c->in_registry = true;
			break;
		}
	pthread_mutex_unlock(&mu);
}

/* Under mu: shut every channel down (both ends: they are all ours). */
static void cut_all(void)
{
	for (int i = 0; i < MAX_CHANS; i++)
		if (reg[i])
			in()->shutdown(reg[i]->inner);
}

/* The action for a record of @type leaving @c: 0 pass, 1 swallow,
 * -ECONNRESET the link is gone; *after: cut once it passed. */
static int on_record(struct fchan *c, uint16_t type, bool *after)
{
	int ret = 0;

	pthread_mutex_lock(&mu);
	if (armed && !fired && c->side == plan.side &&
	    (type == plan.type || (plan.alt_type && type == plan.alt_type)) &&
	    ++seen == plan.nth) {
		fired = true;
		switch (plan.action) {
		case FT_DROP:
			c->blackhole = true;
			break;
		case FT_KILL_SENDER:
			atomic_store(&dead[c->side], true);
			/* fall through */
		case FT_CUT:
			cut_all();
			ret = -ECONNRESET;
			break;
		case FT_KILL_RECEIVER:
			*after = true;
			break;
		}
	}
	pthread_mutex_unlock(&mu);
	return c->blackhole ? 1 : ret;
}

static int ft_send(void *chan, const struct iovec *iov, int iovcnt)
{
	struct fchan *c = chan;
	size_t n = 0, pos = 0;
	unsigned char *buf;
	bool after = false;
	int ret = 0;

	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	buf = malloc(n ? n : 1);
	if (!buf)
		return -ENOMEM;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(buf + pos, iov[i].iov_base, iov[i].iov_len);
		pos += iov[i].iov_len;
	}
	for (pos = 0; pos < n && !ret;) {
		size_t chunk;

		if (!c->left) {
			uint32_t len;
			uint16_t type;
			int r;

			if (n - pos < 16) {
				fprintf(stderr, "faulty: a send splits a record "
					"header\n");
				abort();
			}
			memcpy(&type, buf + pos, 2);
			memcpy(&len, buf + pos + 4, 4);
			c->left = 16 + (uint64_t)len;
			r = on_record(c, type, &after);
			if (r < 0) {
				ret = r;
				break;
			}
		}
		chunk = n - pos < c->left ? n - pos : (size_t)c->left;
		if (!c->blackhole) {
			struct iovec v = { buf + pos, chunk };

			ret = in()->send(c->inner, &v, 1);
		}
		c->left -= chunk;
		pos += chunk;
	}
	free(buf);
	if (after) {
		pthread_mutex_lock(&mu);
		atomic_store(&dead[!c->side], true);
		cut_all();
		pthread_mutex_unlock(&mu);
	}
	return ret;
}

static int ft_recv(void *chan, const struct iovec *iov, int iovcnt)
{
	return in()->recv(((struct fchan *)chan)->inner, iov, iovcnt);
}

static int ft_recv_some(void *chan, void *buf, size_t min, size_t max)
{
	return in()->recv_some(((struct fchan *)chan)->inner, buf, min, max);
}

static int ft_connect(void *chan, const char *addr, int timeout_ms)
{
	struct fchan *c = chan;
	int ret = in()->connect(c->inner, addr, timeout_ms);

	c->side = FT_SRC;
	if (!ret)
		reg_add(c);
	return ret;
}

static int ft_accept(void *listener, void *chan, int timeout_ms)
{
	struct fchan *c = chan;
	int ret = in()->accept(listener, c->inner, timeout_ms);

	c->side = FT_DST;
	if (!ret)
		reg_add(c);
	return ret;
}

static void ft_shutdown(void *chan)
{
	in()->shutdown(((struct fchan *)chan)->inner);
}

static void ft_close(void *chan)
{
	struct fchan *c = chan;

	pthread_mutex_lock(&mu);
	for (int i = 0; i < MAX_CHANS; i++)
		if (reg[i] == c)
			reg[i] = NULL;
	pthread_mutex_unlock(&mu);
	in()->close(c->inner);
}

static int ft_listen(void *l, const char *addr)
{
	return in()->listen(l, addr);
}

static int ft_listener_addr(void *l, char *buf, size_t len)
{
	return in()->listener_addr(l, buf, len);
}

static void ft_listener_shutdown(void *l)
{
	in()->listener_shutdown(l);
}

static void ft_listener_close(void *l)
{
	in()->listener_close(l);
}

const struct vmmig_transport_ops *ft_transport(void)
{
	static struct vmmig_transport_ops ops;

	if (!ops.version)
		ops = (struct vmmig_transport_ops){
			.version = VMMIG_TRANSPORT_OPS_VERSION,
			.name = "faulty",
			.chan_size = sizeof(struct fchan) + in()->chan_size,
			.listener_size = in()->listener_size,
			.connect = ft_connect,
			.listen = ft_listen,
			.listener_addr = ft_listener_addr,
			.accept = ft_accept,
			.listener_shutdown = ft_listener_shutdown,
			.listener_close = ft_listener_close,
			.send = ft_send,
			.recv = ft_recv,
			.shutdown = ft_shutdown,
			.close = ft_close,
			.recv_some = ft_recv_some,
		};
	return &ops;
}
