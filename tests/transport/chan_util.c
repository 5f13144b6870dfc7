/* SPDX-License-Identifier: MIT */
#include "chan_util.h"

#include <check.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

bool have_uring(void)
{
	struct io_uring ring;

	if (strcmp(test_ops()->name, "tcp") && strcmp(test_ops()->name, "unix"))
		return true;
	if (io_uring_queue_init(2, &ring, 0) < 0)
		return false;
	io_uring_queue_exit(&ring);
	return true;
}

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

void fx_relisten(struct fixture *fx)
{
	fx->listener = calloc(1, fx->ops->listener_size);
	ck_assert_ptr_nonnull(fx->listener);
	ck_assert_int_eq(fx->ops->listen(fx->listener, fx->addr), 0);
}

void fx_up(struct fixture *fx)
{
	static int counter;
	const char *name;

	memset(fx, 0, sizeof(*fx));
	fx->ops = test_ops();
	name = fx->ops->name;
	if (!strcmp(name, "tcp")) {
		strcpy(fx->addr, "127.0.0.1:0");
	} else if (!strcmp(name, "unix")) {
		strcpy(fx->dir, "/tmp/vmmig-transport-XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(fx->dir));
		snprintf(fx->addr, sizeof(fx->addr), "%s/chan.sock", fx->dir);
	} else {
		snprintf(fx->addr, sizeof(fx->addr), "test-%d-%d", getpid(),
			 counter++);
	}
	fx_relisten(fx);
	/* Port 0 becomes the real port. */
	ck_assert_int_eq(fx->ops->listener_addr(fx->listener, fx->addr,
						sizeof(fx->addr)), 0);
}

void fx_listener_close(struct fixture *fx)
{
	if (!fx->listener)
		return;
	fx->ops->listener_close(fx->listener);
	free(fx->listener);
	fx->listener = NULL;
}

void fx_down(struct fixture *fx)
{
	struct stat st;

	fx_listener_close(fx);
	if (fx->dir[0]) {
		/* listener_close removed the socket file. */
		ck_assert_int_ne(stat(fx->addr, &st), 0);
		ck_assert_int_eq(rmdir(fx->dir), 0);
	}
}

void *chan_alloc(const struct vmmig_transport_ops *ops)
{
	void *c = calloc(1, ops->chan_size);

	ck_assert_ptr_nonnull(c);
	return c;
}

void chan_free(const struct vmmig_transport_ops *ops, void *chan)
{
	if (!chan)
		return;
	ops->close(chan);
	free(chan);
}

void pair_open(struct fixture *fx, void **client, void **server)
{
	*client = chan_alloc(fx->ops);
	*server = chan_alloc(fx->ops);
	ck_assert_int_eq(fx->ops->connect(*client, fx->addr, 5000), 0);
	ck_assert_int_eq(fx->ops->accept(fx->listener, *server, 5000), 0);
}

void fill_pattern(void *buf, size_t len, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1, v;
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		v = rng_next(&s);
		memcpy(p + i, &v, 8);
	}
	v = rng_next(&s);
	memcpy(p + i, &v, len - i);
}

uint64_t fnv1a(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

int split_iov(void *buf, size_t len, int max, uint64_t *rng,
	      struct iovec *iov)
{
	int n = 1 + (int)(rng_next(rng) % (uint64_t)max);
	size_t left = len;
	char *p = buf;

	for (int i = 0; i < n - 1; i++) {
		size_t take = (size_t)(rng_next(rng) %
				       (2 * left / (size_t)(n - i) + 1));

		if (take > left)
			take = left;
		iov[i] = (struct iovec){ p, take };
		p += take;
		left -= take;
	}
	iov[n - 1] = (struct iovec){ p, left };
	return n;
}
