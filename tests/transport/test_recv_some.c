/* SPDX-License-Identifier: MIT */
/*
 * recv_some of one transport (built once per transport, CHAN_OPS names it):
 * at least min and at most max bytes, no waiting past min, bytes that
 * trickle in (1 byte at a time) gathered up to min, a stream sent in odd
 * pieces read back intact with recv_some and recv interleaved, and the
 * errors: bad arguments, peer closed, shutdown (before and while blocked).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "chan_util.h"
#include "testutil.h"

const struct vmmig_transport_ops *test_ops(void)
{
	return CHAN_OPS();
}

static void send_all(const struct vmmig_transport_ops *ops, void *chan,
		     const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };

	ck_assert_int_eq(ops->send(chan, &iov, 1), 0);
}

START_TEST(test_version)
{
	const struct vmmig_transport_ops *ops = test_ops();

	ck_assert_uint_ge(ops->version, 2);
	ck_assert_ptr_nonnull(ops->recv_some);
}
END_TEST

START_TEST(test_min_max)
{
	struct fixture fx;
	unsigned char buf[300], got[300];
	void *c, *s;
	int n;

	fx_up(&fx);
	pair_open(&fx, &c, &s);
	fill_pattern(buf, sizeof(buf), 1);
	send_all(fx.ops, c, buf, 100);
	sleep_ms(20); /* all 100 bytes are there */
	/* No more than max, even though more is there. */
	n = fx.ops->recv_some(s, got, 1, 10);
	ck_assert_int_eq(n, 10);
	ck_assert_mem_eq(got, buf, 10);
	/* More than min when more is there, without waiting for max: only
	 * 90 bytes will ever come before the next send. */
	n = fx.ops->recv_some(s, got + 10, 5, 200);
	ck_assert_int_eq(n, 90);
	ck_assert_mem_eq(got, buf, 100);
	/* min == max: exactly that. */
	send_all(fx.ops, c, buf + 100, 200);
	n = fx.ops->recv_some(s, got + 100, 50, 50);
	ck_assert_int_eq(n, 50);
	n = fx.ops->recv_some(s, got + 150, 150, 150);
	ck_assert_int_eq(n, 150);
	ck_assert_mem_eq(got, buf, 300);
	/* Bad arguments. */
	ck_assert_int_eq(fx.ops->recv_some(s, got, 0, 10), -EINVAL);
	ck_assert_int_eq(fx.ops->recv_some(s, got, 11, 10), -EINVAL);
	ck_assert_int_eq(fx.ops->recv_some(s, NULL, 1, 10), -EINVAL);
	ck_assert_int_eq(fx.ops->recv_some(s, got, 1, (size_t)INT_MAX + 1),
			 -EINVAL);
	chan_free(fx.ops, c);
	chan_free(fx.ops, s);
	fx_down(&fx);
}
END_TEST

struct trickle {
	const struct vmmig_transport_ops *ops;
	void *chan;
	const unsigned char *buf;
	size_t len, piece;
	int delay_ms;
};

static void *trickle_main(void *arg)
{
	struct trickle *t = arg;

	for (size_t off = 0; off < t->len; off += t->piece) {
		size_t k = t->len - off < t->piece ? t->len - off : t->piece;
		struct iovec iov = { (void *)(t->buf + off), k };

		if (t->delay_ms)
			sleep_ms(t->delay_ms);
		if (t->ops->send(t->chan, &iov, 1))
			break;
	}
	return NULL;
}

/* Bytes that come one at a time (a receive per byte for the transport)
 * are gathered until min. */
START_TEST(test_trickle_to_min)
{
	struct fixture fx;
	unsigned char buf[40], got[64];
	struct trickle t;
	pthread_t th;
	void *c, *s;
	int n;

	fx_up(&fx);
	pair_open(&fx, &c, &s);
	fill_pattern(buf, sizeof(buf), 2);
	t = (struct trickle){ fx.ops, c, buf, sizeof(buf), 1, 2 };
	ck_assert_int_eq(pthread_create(&th, NULL, trickle_main, &t), 0);
	n = fx.ops->recv_some(s, got, 32, sizeof(got));
	ck_assert_int_ge(n, 32);
	ck_assert_int_le(n, 40);
	if (n < 40)
		ck_assert_int_eq(fx.ops->recv_some(s, got + n, 40 - (size_t)n,
						   sizeof(got) - (size_t)n),
				 40 - n);
	ck_assert_mem_eq(got, buf, sizeof(buf));
	pthread_join(th, NULL);
	chan_free(fx.ops, c);
	chan_free(fx.ops, s);
	fx_down(&fx);
}
END_TEST

/* A stream sent in pieces of 1, 7 and random sizes, read back with
 * recv_some (random min and max) and recv interleaved. */
START_TEST(test_stream)
{
	static const size_t pieces[] = { 1, 7, 0 };
	struct fixture fx;
	size_t len = 1u << 20;
	unsigned char *buf = malloc(len), *got = malloc(len);
	void *c, *s;

	fx_up(&fx);
	fill_pattern(buf, len, 3);
	for (size_t p = 0; p < 3; p++) {
		size_t total = pieces[p] == 1 ? 20000 : len, off = 0;
		struct trickle t = { fx.ops, NULL, buf, total,
				     pieces[p] ? pieces[p] : 3001, 0 };
		uint64_t rng = p + 1;
		pthread_t th;

		pair_open(&fx, &c, &s);
		t.chan = c;
		memset(got, 0, len);
		ck_assert_int_eq(pthread_create(&th, NULL, trickle_main, &t),
				 0);
		while (off < total) {
			size_t left = total - off;
			size_t min = 1 + rng_next(&rng) % (left < 5000 ? left
								       : 5000);
			size_t max = min + rng_next(&rng) % 70000;

			if (max > left)
				max = left; /* the sender stops there */
			if (rng_next(&rng) % 4 == 0) {
				struct iovec iov = { got + off, min };

				ck_assert_int_eq(fx.ops->recv(s, &iov, 1), 0);
				off += min;
			} else {
				int n = fx.ops->recv_some(s, got + off, min,
							  max);

				ck_assert_int_ge(n, (int)min);
				ck_assert_int_le(n, (int)max);
				off += (size_t)n;
			}
		}
		ck_assert_mem_eq(got, buf, total);
		pthread_join(th, NULL);
		chan_free(fx.ops, c);
		chan_free(fx.ops, s);
	}
	free(buf);
	free(got);
	fx_down(&fx);
}
END_TEST

struct blocked {
	const struct vmmig_transport_ops *ops;
	void *chan;
	int ret;
	atomic_bool done;
	double at;
};

static void *blocked_some(void *arg)
{
	struct blocked *b = arg;
	unsigned char buf[256];

	b->ret = b->ops->recv_some(b->chan, buf, 100, sizeof(buf));
	b->at = now_s();
	atomic_store(&b->done, true);
	return NULL;
}

START_TEST(test_errors)
{
	struct fixture fx;
	unsigned char buf[64], got[64];
	struct blocked b = { 0 };
	pthread_t th;
	void *c, *s;
	double t0;

	fx_up(&fx);
	fill_pattern(buf, sizeof(buf), 4);
	/* Peer closed: what was sent still comes, then -ECONNRESET; also
	 * when the close comes before min bytes did. */
	pair_open(&fx, &c, &s);
	send_all(fx.ops, c, buf, sizeof(buf));
	chan_free(fx.ops, c);
	ck_assert_int_eq(fx.ops->recv_some(s, got, 10, 10), 10);
	ck_assert_int_eq(fx.ops->recv_some(s, got + 10, 54, 54), 54);
	ck_assert_mem_eq(got, buf, sizeof(buf));
	ck_assert_int_eq(fx.ops->recv_some(s, got, 1, sizeof(got)),
			 -ECONNRESET);
	chan_free(fx.ops, s);
	pair_open(&fx, &c, &s);
	send_all(fx.ops, c, buf, 5);
	chan_free(fx.ops, c);
	ck_assert_int_eq(fx.ops->recv_some(s, got, 6, sizeof(got)),
			 -ECONNRESET);
	chan_free(fx.ops, s);

	/* Blocked short of min, then shutdown from another thread: wakes
	 * with -ECANCELED at once; later calls fail the same way. */
	pair_open(&fx, &c, &s);
	send_all(fx.ops, c, buf, 50);
	b = (struct blocked){ .ops = fx.ops, .chan = s };
	atomic_init(&b.done, false);
	ck_assert_int_eq(pthread_create(&th, NULL, blocked_some, &b), 0);
	sleep_ms(200);
	ck_assert_msg(!atomic_load(&b.done), "recv_some returned %d", b.ret);
	t0 = now_s();
	fx.ops->shutdown(s);
	pthread_join(th, NULL);
	ck_assert_int_eq(b.ret, -ECANCELED);
	ck_assert(b.at - t0 < 1.0);
	ck_assert_int_eq(fx.ops->recv_some(s, got, 1, sizeof(got)),
			 -ECANCELED);
	chan_free(fx.ops, c);
	chan_free(fx.ops, s);

	/* The peer's shutdown wakes a blocked recv_some with a reset. */
	pair_open(&fx, &c, &s);
	b = (struct blocked){ .ops = fx.ops, .chan = s };
	atomic_init(&b.done, false);
	ck_assert_int_eq(pthread_create(&th, NULL, blocked_some, &b), 0);
	sleep_ms(100);
	fx.ops->shutdown(c);
	pthread_join(th, NULL);
	ck_assert_int_eq(b.ret, -ECONNRESET);
	chan_free(fx.ops, c);
	chan_free(fx.ops, s);
	fx_down(&fx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create(test_ops()->name);
	TCase *tc = tcase_create("recv_some");

	if (!have_uring())
		return vmtest_skip("io_uring not available");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_min_max);
	tcase_add_test(tc, test_trickle_to_min);
	tcase_add_test(tc, test_stream);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
