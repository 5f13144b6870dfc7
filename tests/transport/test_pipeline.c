/* SPDX-License-Identifier: MIT */
/*
 * Pipelined sends (send_queue/send_wait) of one io_uring transport (built
 * once per transport, CHAN_OPS names it): records queued from a ring of
 * buffers, mixed with plain send() calls and split into odd iovecs, arrive
 * in order and intact; a channel cut while a send is in flight and the
 * next ones wait (peer closed, shutdown from another thread, close) ends
 * them with a clear error at once, fails later calls the same way, and
 * close() returns only after the kernel let go of the queued memory (ASan
 * sees any later use).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "chan_util.h"
#include "testutil.h"

#define DEPTH 4              /* buffers in the ring, as a page sender */
#define REC_MAX (300u << 10) /* bytes of a record at most */
#define NREC 300

const struct vmmig_transport_ops *test_ops(void)
{
	return CHAN_OPS();
}

/* Size of record @i (both sides draw the same sequence). */
static size_t rec_size(uint64_t *rng)
{
	return 1 + rng_next(rng) % REC_MAX;
}

struct reader {
	const struct vmmig_transport_ops *ops;
	void *chan;
	int ret;
	size_t records;
};

/* Read NREC records and compare each with its pattern. */
static void *read_all(void *arg)
{
	struct reader *r = arg;
	uint8_t *got = malloc(REC_MAX), *want = malloc(REC_MAX);
	uint64_t rng = 42;

	r->ret = got && want ? 0 : -ENOMEM;
	for (unsigned i = 0; i < NREC && !r->ret; i++) {
		size_t n = rec_size(&rng);
		struct iovec iov = { got, n };

		r->ret = r->ops->recv(r->chan, &iov, 1);
		fill_pattern(want, n, i);
		if (!r->ret && memcmp(got, want, n))
			r->ret = -EILSEQ;
		r->records += !r->ret;
	}
	free(got);
	free(want);
	return NULL;
}

START_TEST(test_order)
{
	const struct vmmig_transport_ops *ops = test_ops();
	uint64_t rng = 42, split = 7;
	struct reader rd = { .ops = ops };
	uint8_t *buf[DEPTH];
	struct fixture fx;
	pthread_t th;
	void *c;

	ck_assert_uint_ge(ops->version, 3);
	ck_assert_ptr_nonnull(ops->send_queue);
	ck_assert_ptr_nonnull(ops->send_wait);
	for (int i = 0; i < DEPTH; i++)
		ck_assert_ptr_nonnull(buf[i] = malloc(REC_MAX));
	fx_up(&fx);
	pair_open(&fx, &c, &rd.chan);
	ck_assert_int_eq(pthread_create(&th, NULL, read_all, &rd), 0);
	for (unsigned i = 0; i < NREC; i++) {
		size_t n = rec_size(&rng);
		uint8_t *b = buf[i % DEPTH];
		struct iovec iov[65];
		int cnt;

		/* This buffer was queued DEPTH records ago: the last
		 * wait (at most DEPTH - 1 in flight) freed it. */
		fill_pattern(b, n, i);
		/* Every fourth record in up to 65 pieces, as a PAGES record
		 * sent from guest memory (head + 64 pages) can be. */
		cnt = split_iov(b, n, i % 4 == 1 ? 65 : 8, &split, iov);
		if (i % 7 == 3) {
			ck_assert_int_eq(ops->send(c, iov, cnt), 0);
			continue;
		}
		ck_assert_int_eq(ops->send_queue(c, iov, cnt), 0);
		/* The iovec array itself is free at once. */
		memset(iov, 0, sizeof(iov));
		ck_assert_int_eq(ops->send_wait(c, DEPTH - 1), 0);
	}
	ck_assert_int_eq(ops->send_wait(c, 0), 0);
	pthread_join(th, NULL);
	ck_assert_int_eq(rd.ret, 0);
	ck_assert_uint_eq(rd.records, NREC);
	chan_free(ops, c);
	chan_free(ops, rd.chan);
	fx_down(&fx);
	for (int i = 0; i < DEPTH; i++)
		free(buf[i]);
}
END_TEST

struct queuer {
	const struct vmmig_transport_ops *ops;
	void *chan;
	uint8_t *mem;
	size_t rec, nrec;
	atomic_bool done;
	int ret;
	double at;
};

/* Queue every record, then wait for all: blocks while the peer does not
 * read, with a SENDMSG in flight. */
static void *queue_all(void *arg)
{
	struct queuer *q = arg;

	for (size_t i = 0; i < q->nrec && !q->ret; i++) {
		struct iovec iov = { q->mem + i * q->rec, q->rec };

		q->ret = q->ops->send_queue(q->chan, &iov, 1);
	}
	if (!q->ret)
		q->ret = q->ops->send_wait(q->chan, 0);
	q->at = now_s();
	atomic_store(&q->done, true);
	return NULL;
}

enum cut { CUT_PEER_CLOSE, CUT_SHUTDOWN, CUT_CLOSE };

/*
 * Send more than the socket buffers hold to a peer that does not read: a
 * SENDMSG stays in flight (and the next record waits for it). Then cut the
 * channel as @how says.
 */
static void cut_in_flight(enum cut how)
{
	const struct vmmig_transport_ops *ops = test_ops();
	struct queuer q = { .ops = ops, .rec = 4u << 20, .nrec = 12 };
	struct fixture fx;
	pthread_t th;
	void *c, *s;
	double t0;

	q.mem = malloc(q.rec * q.nrec);
	ck_assert_ptr_nonnull(q.mem);
	fill_pattern(q.mem, q.rec * q.nrec, 9);
	fx_up(&fx);
	pair_open(&fx, &c, &s);
	if (how == CUT_CLOSE) {
		/* 48 MiB in one send: in flight when send_queue returns,
		 * nobody reading. close must end it and return; then the
		 * memory may go. */
		struct iovec iov = { q.mem, q.rec * q.nrec };

		ck_assert_int_eq(ops->send_queue(c, &iov, 1), 0);
		sleep_ms(100);
		t0 = now_s();
		chan_free(ops, c);
		ck_assert(now_s() - t0 < 2.0);
		free(q.mem);
		chan_free(ops, s);
		fx_down(&fx);
		return;
	}
	q.chan = c;
	atomic_init(&q.done, false);
	ck_assert_int_eq(pthread_create(&th, NULL, queue_all, &q), 0);
	sleep_ms(300);
	ck_assert_msg(!atomic_load(&q.done), "nothing in flight (%d)", q.ret);
	t0 = now_s();
	if (how == CUT_PEER_CLOSE) {
		chan_free(ops, s);
		s = NULL;
	} else {
		ops->shutdown(c);
	}
	pthread_join(th, NULL);
	ck_assert(q.at - t0 < 2.0);
	if (how == CUT_PEER_CLOSE)
		ck_assert_msg(q.ret == -ECONNRESET || q.ret == -EPIPE,
			      "got %d", q.ret);
	else
		ck_assert_int_eq(q.ret, -ECANCELED);
	/* The channel stays failed, whichever call comes next. */
	struct iovec iov = { q.mem, 100 };

	ck_assert_int_eq(ops->send_queue(c, &iov, 1), q.ret);
	ck_assert_int_eq(ops->send_wait(c, 0), q.ret);
	ck_assert_int_lt(ops->send(c, &iov, 1), 0);
	chan_free(ops, c);
	chan_free(ops, s);
	free(q.mem);
	fx_down(&fx);
}

START_TEST(test_cut_peer_close)
{
	cut_in_flight(CUT_PEER_CLOSE);
}
END_TEST

START_TEST(test_cut_shutdown)
{
	cut_in_flight(CUT_SHUTDOWN);
}
END_TEST

START_TEST(test_cut_close)
{
	cut_in_flight(CUT_CLOSE);
}
END_TEST

START_TEST(test_args)
{
	const struct vmmig_transport_ops *ops = test_ops();
	struct fixture fx;
	struct iovec iov = { NULL, 0 };
	void *c, *s;

	fx_up(&fx);
	pair_open(&fx, &c, &s);
	ck_assert_int_eq(ops->send_queue(c, NULL, 1), -EINVAL);
	ck_assert_int_eq(ops->send_queue(c, &iov, -1), -EINVAL);
	/* Nothing to send: nothing queued, nothing to wait for. */
	ck_assert_int_eq(ops->send_queue(c, &iov, 1), 0);
	ck_assert_int_eq(ops->send_wait(c, 0), 0);
	chan_free(ops, c);
	chan_free(ops, s);
	fx_down(&fx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create(test_ops()->name);
	TCase *tc = tcase_create("pipeline");

	if (!have_uring())
		return vmtest_skip("io_uring not available");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_cut_peer_close);
	tcase_add_test(tc, test_cut_shutdown);
	tcase_add_test(tc, test_cut_close);
	tcase_add_test(tc, test_args);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
