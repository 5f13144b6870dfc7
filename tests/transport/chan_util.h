/* SPDX-License-Identifier: MIT */
/* Helpers of the channel tests: a listener fixture per transport, channel
 * allocation the way the core does it, deterministic payloads. */
#ifndef VMMIG_TEST_CHAN_UTIL_H
#define VMMIG_TEST_CHAN_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <check.h>

#include <vmmig/transport.h>

struct fixture {
	const struct vmmig_transport_ops *ops;
	void *listener;   /* NULL once closed */
	char addr[256];   /* what connect() takes */
	char dir[64];     /* unix: temporary directory, else "" */
};

/* The transport under test (chosen at build time). */
const struct vmmig_transport_ops *test_ops(void);
/* Create a listener on a fresh address; fx->addr is connectable. */
void fx_up(struct fixture *fx);
/* Listen again on fx->addr (after fx_listener_close). */
void fx_relisten(struct fixture *fx);
void fx_listener_close(struct fixture *fx);
void fx_down(struct fixture *fx);
/* A zeroed channel of ops->chan_size bytes, as the core allocates it. */
void *chan_alloc(const struct vmmig_transport_ops *ops);
void chan_free(const struct vmmig_transport_ops *ops, void *chan);
/* Connect then accept one channel pair (connect does not need accept to
 * run first for any built-in). */
void pair_open(struct fixture *fx, void **client, void **server);

/* Registers chan_listen.c's tests. */
void add_listen_tests(TCase *tc);

/* False when the transport under test runs on io_uring and the kernel
 * lacks it (the test then skips). */
bool have_uring(void);

double now_s(void);
void sleep_ms(int ms);

/* xorshift64* */
static inline uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Fill @buf with the stream for @seed. */
void fill_pattern(void *buf, size_t len, uint64_t seed);
uint64_t fnv1a(const void *buf, size_t len);
/* Split @len bytes at @buf into 1..@max pieces (some maybe empty); return
 * the count written to @iov. */
int split_iov(void *buf, size_t len, int max, uint64_t *rng,
	      struct iovec *iov);

#endif
