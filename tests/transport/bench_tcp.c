/* SPDX-License-Identifier: MIT */
/*
 * Loopback TCP throughput of the io_uring channel against a plain blocking
 * send()/recv() loop on the same kind of connection, in the same run. Built
 * but not registered as a test: ./bench_tcp [MiB] [rounds]
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <vmmig/transport.h>

#include "transport/uring_chan.h"

#define CHUNK (256u << 10)

struct side {
	struct uring_chan *chan;
	bool plain;
	size_t chunks;
	int err;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int plain_io(int fd, char *buf, size_t len, bool is_send)
{
	while (len > 0) {
		ssize_t n = is_send ? send(fd, buf, len, MSG_NOSIGNAL)
				    : recv(fd, buf, len, MSG_WAITALL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *recv_fn(void *arg)
{
	struct side *s = arg;
	char *buf = malloc(CHUNK);
	struct iovec iov = { buf, CHUNK };

	for (size_t i = 0; i < s->chunks && buf && !s->err; i++)
		s->err = s->plain ? plain_io(s->chan->fd, buf, CHUNK, false)
				  : uring_chan_recv(s->chan, &iov, 1);
	free(buf);
	return NULL;
}

/* Move @chunks x 256 KiB from @c to @d; return GB/s, or -1. */
static double run(struct uring_chan *c, struct uring_chan *d, bool plain,
		  size_t chunks)
{
	char *buf = calloc(1, CHUNK);
	struct iovec iov = { buf, CHUNK };
	struct side r = { d, plain, chunks, 0 };
	pthread_t t;
	double t0;
	int err = 0;

	if (!buf || pthread_create(&t, NULL, recv_fn, &r))
		return -1;
	t0 = now_s();
	for (size_t i = 0; i < chunks && !err; i++)
		err = plain ? plain_io(c->fd, buf, CHUNK, true)
			    : uring_chan_send(c, &iov, 1);
	pthread_join(t, NULL);
	t0 = now_s() - t0;
	free(buf);
	if (err || r.err) {
		fprintf(stderr, "transfer failed: %s\n",
			strerror(-(err ? err : r.err)));
		return -1;
	}
	return (double)chunks * CHUNK / t0 / 1e9;
}

int main(int argc, char **argv)
{
	const struct vmmig_transport_ops *ops = vmmig_transport_tcp();
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 1024;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	void *l = calloc(1, ops->listener_size);
	struct uring_chan *c = calloc(1, ops->chan_size);
	struct uring_chan *d = calloc(1, ops->chan_size);
	double sum[2] = { 0, 0 };
	char addr[64];
	int ret = 1;

	if (!l || !c || !d || ops->listen(l, "127.0.0.1:0") ||
	    ops->listener_addr(l, addr, sizeof(addr)) ||
	    ops->connect(c, addr, 5000) || ops->accept(l, d, 5000)) {
		fprintf(stderr, "setup failed\n");
		goto out;
	}
	/* Alternate the two so drifting machine load hits both alike. */
	for (int i = 0; i < rounds; i++) {
		for (int plain = 1; plain >= 0; plain--) {
			double gbs = run(c, d, plain, mib * 4);

			if (gbs < 0)
				goto out;
			sum[plain] += gbs;
			printf("round %d %-8s %6.2f GB/s\n", i,
			       plain ? "plain" : "io_uring", gbs);
		}
	}
	printf("mean over %d x %zu MiB: plain %.2f GB/s, io_uring %.2f GB/s, "
	       "ratio %.2f\n", rounds, mib, sum[1] / rounds, sum[0] / rounds,
	       sum[0] / sum[1]);
	ret = 0;
out:
	ops->close(c);
	ops->close(d);
	ops->listener_close(l);
	free(c);
	free(d);
	free(l);
	return ret;
}
