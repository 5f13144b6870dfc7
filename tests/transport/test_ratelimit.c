/* SPDX-License-Identifier: MIT */
/* The token bucket: rate, sharing between threads, cancel. Timing bounds
 * are generous on the slow side because the machine is shared. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "transport/ratelimit.h"
#include "testutil.h"

#define MB 1000000ull

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Move @total bytes in @chunk pieces through @rl; return seconds taken. */
static double move(struct ratelimit *rl, uint64_t total, size_t chunk)
{
	double t0 = now_s();

	for (uint64_t done = 0; done < total; done += chunk)
		ck_assert_int_eq(ratelimit_take(rl, chunk, NULL), 0);
	return now_s() - t0;
}

static void check_rate(uint64_t rate, uint64_t total, size_t chunk)
{
	struct ratelimit rl;
	double expect = (double)total / (double)rate, took;

	ck_assert_int_eq(ratelimit_init(&rl, rate), 0);
	took = move(&rl, total, chunk);
	printf("rate %llu MB/s: %llu MB in %.3f s (expected %.3f s)\n",
	       (unsigned long long)(rate / MB),
	       (unsigned long long)(total / MB), took, expect);
	ck_assert_msg(took >= 0.9 * expect, "too fast: %.3f s < 0.9 x %.3f s",
		      took, expect);
	ck_assert_msg(took <= 3 * expect, "too slow: %.3f s > 3 x %.3f s",
		      took, expect);
	ratelimit_destroy(&rl);
}

START_TEST(test_rate_50)
{
	check_rate(50 * MB, 25 * MB, 256 << 10);
}
END_TEST

START_TEST(test_rate_100_and_125)
{
	check_rate(100 * MB, 40 * MB, 64 << 10);
	check_rate(125 * MB, 50 * MB, 1 << 20);
}
END_TEST

START_TEST(test_unlimited)
{
	struct ratelimit rl;

	ck_assert_int_eq(ratelimit_init(&rl, 0), 0);
	/* 100 GB "moved" instantly. */
	ck_assert(move(&rl, 100000 * MB, 1000 * MB) < 0.5);
	ratelimit_destroy(&rl);
}
END_TEST

struct sharer {
	struct ratelimit *rl;
	uint64_t bytes;
};

static void *share_fn(void *arg)
{
	struct sharer *sh = arg;

	for (uint64_t done = 0; done < sh->bytes; done += 128 << 10)
		if (ratelimit_take(sh->rl, 128 << 10, NULL))
			return (void *)1;
	return NULL;
}

/* Four threads share one cap: together they get the rate, not 4x. */
START_TEST(test_shared_by_threads)
{
	struct ratelimit rl;
	pthread_t t[4];
	struct sharer sh = { &rl, 10 * MB };
	double t0, took;
	void *res;

	ck_assert_int_eq(ratelimit_init(&rl, 100 * MB), 0);
	t0 = now_s();
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, share_fn, &sh), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], &res);
		ck_assert_ptr_null(res);
	}
	took = now_s() - t0;
	printf("4 threads x 10 MB at 100 MB/s: %.3f s\n", took);
	ck_assert(took >= 0.9 * 0.4 && took <= 3 * 0.4);
	ratelimit_destroy(&rl);
}
END_TEST

/* ratelimit_set() takes effect for later reservations. */
START_TEST(test_set)
{
	struct ratelimit rl;
	double took;

	ck_assert_int_eq(ratelimit_init(&rl, 0), 0);
	ratelimit_set(&rl, 20 * MB);
	took = move(&rl, 6 * MB, 256 << 10);
	ck_assert(took >= 0.9 * 0.3 && took <= 3 * 0.3);
	ratelimit_set(&rl, 0);
	ck_assert(move(&rl, 1000 * MB, 256 << 10) < 0.5);
	ratelimit_destroy(&rl);
}
END_TEST

struct canceller {
	struct ratelimit *rl;
	atomic_bool cancel;
	int ret;
	double took;
};

static void *take_big(void *arg)
{
	struct canceller *c = arg;
	double t0 = now_s();

	c->ret = ratelimit_take(c->rl, 100 * MB, &c->cancel);
	c->took = now_s() - t0;
	return NULL;
}

START_TEST(test_cancel)
{
	struct ratelimit rl;
	struct canceller c = { .rl = &rl };
	pthread_t t;
	double t0;

	atomic_init(&c.cancel, false);
	/* 100 MB at 1 MB/s would take 100 s. */
	ck_assert_int_eq(ratelimit_init(&rl, 1 * MB), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, take_big, &c), 0);
	usleep(100 * 1000);
	t0 = now_s();
	atomic_store(&c.cancel, true);
	pthread_join(t, NULL);
	ck_assert_int_eq(c.ret, -ECANCELED);
	ck_assert_msg(now_s() - t0 < 0.5, "cancel took %.3f s", now_s() - t0);
	/* Already cancelled: immediate. */
	ck_assert_int_eq(ratelimit_take(&rl, 1, &c.cancel), -ECANCELED);
	/* The cancelled reservation was returned: a small take is quick. */
	t0 = now_s();
	ck_assert_int_eq(ratelimit_take(&rl, 1000, NULL), 0);
	ck_assert(now_s() - t0 < 0.5);
	ratelimit_destroy(&rl);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("transport_ratelimit");
	TCase *tc = tcase_create("ratelimit");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_rate_50);
	tcase_add_test(tc, test_rate_100_and_125);
	tcase_add_test(tc, test_unlimited);
	tcase_add_test(tc, test_shared_by_threads);
	tcase_add_test(tc, test_set);
	tcase_add_test(tc, test_cancel);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
