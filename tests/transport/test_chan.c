/* SPDX-License-Identifier: MIT */
/*
 * One transport's channels (built once per transport, CHAN_OPS names it):
 * full-duplex transfer with every byte checked, edge-case iovecs, peer
 * close, shutdown from a third thread. chan_listen.c adds the listener and
 * connect tests to the same suite.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "chan_util.h"
#include "testutil.h"

#define NCHAN 2
#define NRECS 64       /* records per channel, source to destination */
#define NREPLIES 300   /* small records the other way, at the same time */
#define MAX_REC (1u << 20)
#define MAX_PIECES 129 /* payload pieces; plus the header: 130 iovecs */
#define HDR_SIZE 16

const struct vmmig_transport_ops *test_ops(void)
{
	return CHAN_OPS();
}

struct rec_hdr {
	uint32_t seq;
	uint32_t len;
	uint64_t sum; /* fnv1a of the payload */
};

static uint64_t rec_seed(int chan, uint32_t seq, bool reply)
{
	return ((uint64_t)chan << 40) | ((uint64_t)reply << 32) | seq;
}

static uint32_t rec_len(uint32_t seq, uint64_t *rng)
{
	if (seq == 0)
		return 1;
	if (seq == 1)
		return MAX_REC;
	if (seq % 8 == 5)
		return MAX_REC - (uint32_t)(rng_next(rng) % 4096);
	/* Log-uniform over 1 B .. 1 MiB: many small, some large. */
	return 1 + (uint32_t)(rng_next(rng) % (1u << (rng_next(rng) % 21)));
}

/* One direction of one channel. */
struct stream {
	const struct vmmig_transport_ops *ops;
	void *chan;
	int index;           /* channel number, part of the payload seed */
	bool reply;          /* small replies rather than records */
	int count;
	atomic_int *progress; /* records received (replies pace on it) */
	int err;             /* 0 or what failed */
	const char *what;
	void **ends;         /* both ends of the channel */
	atomic_bool *failed; /* set by any stream of the channel that fails */
};

/* On a failure, abort the whole channel so no thread stays blocked on a
 * peer that has stopped: the test then fails fast instead of timing out. */
static void stream_fail(struct stream *st, int err, const char *what)
{
	st->err = err;
	st->what = what;
	atomic_store(st->failed, true);
	st->ops->shutdown(st->ends[0]);
	st->ops->shutdown(st->ends[1]);
}

static void *send_fn(void *arg)
{
	struct stream *st = arg;
	uint64_t rng = rec_seed(st->index, 7, st->reply);
	unsigned char *buf = malloc(MAX_REC);
	struct iovec iov[MAX_PIECES + 1];
	struct rec_hdr h;
	double deadline = now_s() + 20;

	if (!buf) {
		stream_fail(st, -ENOMEM, "malloc");
		return NULL;
	}
	for (int i = 0; i < st->count; i++) {
		h.seq = (uint32_t)i;
		h.len = st->reply ? 1 + (uint32_t)(rng_next(&rng) % 512)
				  : rec_len(h.seq, &rng);
		fill_pattern(buf, h.len, rec_seed(st->index, h.seq, st->reply));
		h.sum = fnv1a(buf, h.len);
		iov[0] = (struct iovec){ &h, sizeof(h) };
		int n = split_iov(buf, h.len, st->reply ? 3 : MAX_PIECES, &rng,
				  iov + 1);
		/* Replies keep pace with the records received, so the two
		 * directions really overlap. */
		while (st->progress &&
		       atomic_load(st->progress) * NREPLIES < i * NRECS &&
		       !atomic_load(st->failed) && now_s() < deadline)
			sleep_ms(1);
		int ret = st->ops->send(st->chan, iov, n + 1);

		if (ret) {
			stream_fail(st, ret, "send");
			break;
		}
	}
	free(buf);
	return NULL;
}

static void *recv_fn(void *arg)
{
	struct stream *st = arg;
	uint64_t rng = rec_seed(st->index, 9, st->reply);
	unsigned char *buf = malloc(MAX_REC), *want = malloc(MAX_REC);
	struct iovec iov[MAX_PIECES];
	struct rec_hdr h;

	if (!buf || !want) {
		stream_fail(st, -ENOMEM, "malloc");
		goto out;
	}
	for (int i = 0; i < st->count; i++) {
		iov[0] = (struct iovec){ &h, sizeof(h) };
		int ret = st->ops->recv(st->chan, iov, 1);

		if (ret) {
			stream_fail(st, ret, "recv header");
			break;
		}
		if (h.seq != (uint32_t)i || h.len == 0 || h.len > MAX_REC) {
			stream_fail(st, -EPROTO, "header fields");
			break;
		}
		/* A different split from the sender's. */
		int n = split_iov(buf, h.len, MAX_PIECES, &rng, iov);
		ret = st->ops->recv(st->chan, iov, n);
		if (ret) {
			stream_fail(st, ret, "recv payload");
			break;
		}
		fill_pattern(want, h.len, rec_seed(st->index, h.seq, st->reply));
		if (fnv1a(buf, h.len) != h.sum || memcmp(buf, want, h.len)) {
			stream_fail(st, -EBADMSG, "payload bytes");
			break;
		}
		if (st->progress)
			atomic_fetch_add(st->progress, 1);
	}
out:
	free(buf);
	free(want);
	return NULL;
}

struct connector {
	struct fixture *fx;
	void *chans[NCHAN];
	int err;
};

static void *connect_fn(void *arg)
{
	struct connector *c = arg;

	for (int i = 0; i < NCHAN && !c->err; i++)
		c->err = c->fx->ops->connect(c->chans[i], c->fx->addr, 5000);
	return NULL;
}

START_TEST(test_duplex)
{
	struct fixture fx;
	struct connector con = { .fx = &fx };
	void *srv[NCHAN];
	void *ends[NCHAN][2];
	char report[1024] = "";
	size_t rlen = 0;
	struct stream st[NCHAN][4];
	atomic_int progress[NCHAN];
	atomic_bool failed[NCHAN];
	pthread_t t[NCHAN][4], ct;
	void *(*fn[4])(void *) = { send_fn, recv_fn, send_fn, recv_fn };
	double t0;

	fx_up(&fx);
	for (int i = 0; i < NCHAN; i++) {
		con.chans[i] = chan_alloc(fx.ops);
		srv[i] = chan_alloc(fx.ops);
	}
	ck_assert_int_eq(pthread_create(&ct, NULL, connect_fn, &con), 0);
	for (int i = 0; i < NCHAN; i++)
		ck_assert_int_eq(fx.ops->accept(fx.listener, srv[i], 5000), 0);
	pthread_join(ct, NULL);
	ck_assert_int_eq(con.err, 0);

	t0 = now_s();
	for (int i = 0; i < NCHAN; i++) {
		atomic_init(&progress[i], 0);
		atomic_init(&failed[i], false);
		ends[i][0] = con.chans[i];
		ends[i][1] = srv[i];
		/* records client -> server, replies server -> client */
		st[i][0] = (struct stream){ .chan = con.chans[i],
					    .count = NRECS };
		st[i][1] = (struct stream){ .chan = srv[i], .count = NRECS,
					    .progress = &progress[i] };
		st[i][2] = (struct stream){ .chan = srv[i], .reply = true,
					    .count = NREPLIES,
					    .progress = &progress[i] };
		st[i][3] = (struct stream){ .chan = con.chans[i],
					    .reply = true, .count = NREPLIES };
		for (int k = 0; k < 4; k++) {
			st[i][k].ops = fx.ops;
			st[i][k].index = i;
			st[i][k].ends = ends[i];
			st[i][k].failed = &failed[i];
			ck_assert_int_eq(pthread_create(&t[i][k], NULL, fn[k],
							&st[i][k]), 0);
		}
	}
	for (int i = 0; i < NCHAN; i++)
		for (int k = 0; k < 4; k++)
			pthread_join(t[i][k], NULL);
	printf("%s duplex: %d channels x %d records + %d replies in %.3f s\n",
	       fx.ops->name, NCHAN, NRECS, NREPLIES, now_s() - t0);
	/* Every stream's outcome, so the first failure is visible among the
	 * ones it caused. */
	for (int i = 0; i < NCHAN; i++)
		for (int k = 0; k < 4; k++)
			if (st[i][k].err && rlen < sizeof(report) - 100)
				rlen += (size_t)snprintf(report + rlen,
					sizeof(report) - rlen,
					" [chan %d stream %d: %s: %s]", i, k,
					st[i][k].what, strerror(-st[i][k].err));
	ck_assert_msg(rlen == 0, "failed:%s", report);
	for (int i = 0; i < NCHAN; i++) {
		chan_free(fx.ops, con.chans[i]);
		chan_free(fx.ops, srv[i]);
	}
	fx_down(&fx);
}
END_TEST

/* Empty transfers return at once; more than IOV_MAX entries is refused. */
START_TEST(test_edge_iov)
{
	struct fixture fx;
	void *c, *s;
	char a = 'x', b = 0;
	struct iovec e[3] = { { &a, 0 }, { &a, 1 }, { &a, 0 } };
	struct iovec r[3] = { { &b, 0 }, { &b, 0 }, { &b, 1 } };
	static struct iovec many[IOV_MAX + 1];

	fx_up(&fx);
	pair_open(&fx, &c, &s);
	ck_assert_int_eq(fx.ops->send(c, NULL, 0), 0);
	ck_assert_int_eq(fx.ops->recv(s, NULL, 0), 0);
	ck_assert_int_eq(fx.ops->recv(s, e, 1), 0); /* one empty entry */
	ck_assert_int_eq(fx.ops->send(c, e, 3), 0);
	ck_assert_int_eq(fx.ops->recv(s, r, 3), 0);
	ck_assert_int_eq(b, 'x');
	for (int i = 0; i <= IOV_MAX; i++)
		many[i] = (struct iovec){ &a, 1 };
	ck_assert_int_eq(fx.ops->send(c, many, IOV_MAX + 1), -EINVAL);
	ck_assert_int_eq(fx.ops->send(c, many, -1), -EINVAL);
	/* Exactly IOV_MAX entries work. */
	ck_assert_int_eq(fx.ops->send(c, many, IOV_MAX), 0);
	for (int i = 0; i < IOV_MAX; i++)
		many[i] = (struct iovec){ &b, 1 };
	ck_assert_int_eq(fx.ops->recv(s, many, IOV_MAX), 0);
	chan_free(fx.ops, c);
	chan_free(fx.ops, s);
	fx_down(&fx);
}
END_TEST

struct blocked {
	const struct vmmig_transport_ops *ops;
	void *chan;
	void *buf;
	size_t len;
	int ret;
	atomic_bool done;
	double at; /* when it returned */
};

static void *blocked_recv(void *arg)
{
	struct blocked *b = arg;
	struct iovec iov = { b->buf, b->len };

	b->ret = b->ops->recv(b->chan, &iov, 1);
	b->at = now_s();
	atomic_store(&b->done, true);
	return NULL;
}

#define BIG_PIECES 32
static void *blocked_send(void *arg)
{
	struct blocked *b = arg;
	struct iovec iov[BIG_PIECES];

	/* The same buffer 32 times: far more than any socket buffers. */
	for (int i = 0; i < BIG_PIECES; i++)
		iov[i] = (struct iovec){ b->buf, b->len };
	b->ret = b->ops->send(b->chan, iov, BIG_PIECES);
	b->at = now_s();
	atomic_store(&b->done, true);
	return NULL;
}

START_TEST(test_peer_close)
{
	struct fixture fx;
	void *c, *s;
	char buf[100] = { 0 }, got[100];
	struct iovec iov = { got, sizeof(got) };
	struct blocked b = { 0 };
	pthread_t t;
	int ret = 0;

	fx_up(&fx);
	/* Data sent before close still arrives, then -ECONNRESET. */
	pair_open(&fx, &c, &s);
	memset(buf, 0xa5, sizeof(buf));
	iov.iov_base = buf;
	ck_assert_int_eq(fx.ops->send(c, &iov, 1), 0);
	chan_free(fx.ops, c);
	iov.iov_base = got;
	ck_assert_int_eq(fx.ops->recv(s, &iov, 1), 0);
	ck_assert_mem_eq(got, buf, sizeof(buf));
	ck_assert_int_eq(fx.ops->recv(s, &iov, 1), -ECONNRESET);
	/* Sending to a closed peer fails too, within a bounded number of
	 * sends (TCP may accept the first before the reset arrives). */
	b.buf = calloc(1, 64 << 10);
	iov = (struct iovec){ b.buf, 64 << 10 };
	for (int i = 0; i < 200 && ret == 0; i++)
		ret = fx.ops->send(s, &iov, 1);
	ck_assert_int_eq(ret, -ECONNRESET);
	chan_free(fx.ops, s);

	/* A receive blocked when the peer closes wakes with -ECONNRESET. */
	pair_open(&fx, &c, &s);
	b.ops = fx.ops;
	b.chan = s;
	b.len = 64 << 10;
	atomic_init(&b.done, false);
	ck_assert_int_eq(pthread_create(&t, NULL, blocked_recv, &b), 0);
	sleep_ms(100);
	ck_assert(!atomic_load(&b.done));
	chan_free(fx.ops, c);
	pthread_join(t, NULL);
	ck_assert_int_eq(b.ret, -ECONNRESET);
	chan_free(fx.ops, s);
	free(b.buf);
	fx_down(&fx);
}
END_TEST

START_TEST(test_shutdown)
{
	struct fixture fx;
	void *c, *s;
	struct blocked r = { 0 }, w = { 0 };
	pthread_t tr, tw;
	double t0;
	char x;
	struct iovec one = { &x, 1 };
	int ret = 0;

	fx_up(&fx);
	pair_open(&fx, &c, &s);
	r = (struct blocked){ .ops = fx.ops, .chan = c, .len = 1 << 20 };
	w = (struct blocked){ .ops = fx.ops, .chan = c, .len = 2 << 20 };
	r.buf = malloc(r.len);
	w.buf = calloc(1, w.len);
	atomic_init(&r.done, false);
	atomic_init(&w.done, false);
	ck_assert_int_eq(pthread_create(&tr, NULL, blocked_recv, &r), 0);
	ck_assert_int_eq(pthread_create(&tw, NULL, blocked_send, &w), 0);
	/* Nobody reads on the server side: the 64 MiB send fills the
	 * buffers and blocks; nobody sends: the receive blocks. */
	sleep_ms(300);
	ck_assert_msg(!atomic_load(&r.done), "recv returned %d", r.ret);
	ck_assert_msg(!atomic_load(&w.done), "send returned %d", w.ret);
	t0 = now_s();
	fx.ops->shutdown(c);
	pthread_join(tr, NULL);
	pthread_join(tw, NULL);
	printf("%s shutdown: recv woke after %.1f ms, send after %.1f ms\n",
	       fx.ops->name, (r.at - t0) * 1e3, (w.at - t0) * 1e3);
	ck_assert_int_eq(r.ret, -ECANCELED);
	ck_assert_int_eq(w.ret, -ECANCELED);
	ck_assert(r.at - t0 < 1.0 && w.at - t0 < 1.0);
	/* Later calls fail the same way; shutdown is idempotent. */
	fx.ops->shutdown(c);
	ck_assert_int_eq(fx.ops->send(c, &one, 1), -ECANCELED);
	ck_assert_int_eq(fx.ops->recv(c, &one, 1), -ECANCELED);
	/* The peer drains what was queued, then sees the reset. */
	for (int i = 0; i < 200 && ret == 0; i++) {
		struct iovec iov = { r.buf, r.len };

		ret = fx.ops->recv(s, &iov, 1);
	}
	ck_assert_int_eq(ret, -ECONNRESET);
	chan_free(fx.ops, c);
	chan_free(fx.ops, s);
	free(r.buf);
	free(w.buf);
	fx_down(&fx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create(test_ops()->name);
	TCase *tc = tcase_create("chan");

	if (!have_uring())
		return vmtest_skip("io_uring not available");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_duplex);
	tcase_add_test(tc, test_edge_iov);
	tcase_add_test(tc, test_peer_close);
	tcase_add_test(tc, test_shutdown);
	add_listen_tests(tc);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
