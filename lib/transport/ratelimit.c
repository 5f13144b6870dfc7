/* SPDX-License-Identifier: MIT */
/* Token bucket for the session's bandwidth cap. */
#include "ratelimit.h"

#include <errno.h>
#include <time.h>

#define NSEC 1000000000ull
#define SLICE_NS (10 * 1000000ull) /* longest sleep between cancel checks */
#define BURST_NS (10 * 1000000ull) /* burst: 10 ms worth of rate ... */
#define BURST_MIN (256u << 10)     /* ... but at least 256 KiB */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

/* Nanoseconds that @bytes take at @rate (> 0). */
static uint64_t bytes_ns(uint64_t bytes, uint64_t rate)
{
	return (uint64_t)((long double)bytes * NSEC / rate);
}

/* Caller holds the lock (or owns @rl exclusively). */
static void set_locked(struct ratelimit *rl, uint64_t rate)
{
	rl->rate = rate;
	if (!rate)
		return;
	rl->burst_ns = BURST_NS;
	if (bytes_ns(BURST_MIN, rate) > rl->burst_ns)
		rl->burst_ns = bytes_ns(BURST_MIN, rate);
}

int ratelimit_init(struct ratelimit *rl, uint64_t bytes_per_sec)
{
	int ret = pthread_mutex_init(&rl->mu, NULL);

	if (ret)
		return -ret;
	set_locked(rl, bytes_per_sec);
	/* Start with a full bucket: the schedule is "burst" behind now. */
	rl->tat_ns = 0;
	return 0;
}

void ratelimit_set(struct ratelimit *rl, uint64_t bytes_per_sec)
{
	pthread_mutex_lock(&rl->mu);
	set_locked(rl, bytes_per_sec);
	pthread_mutex_unlock(&rl->mu);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / NSEC),
			       .tv_nsec = (long)(ns % NSEC) };

	nanosleep(&ts, NULL);
}

int ratelimit_take(struct ratelimit *rl, size_t bytes,
		   const atomic_bool *cancel)
{
	uint64_t now, start, end, ready;

	if (cancel && atomic_load(cancel))
		return -ECANCELED;
	pthread_mutex_lock(&rl->mu);
	if (!rl->rate) {
		pthread_mutex_unlock(&rl->mu);
		return 0;
	}
	/*
	 * GCRA: the reservation occupies the link from max(tat, now) for
	 * bytes/rate; it may begin up to burst_ns before the schedule says,
	 * which is the bucket's capacity.
	 */
	now = now_ns();
	start = rl->tat_ns > now ? rl->tat_ns : now;
	end = start + bytes_ns(bytes, rl->rate);
	rl->tat_ns = end;
	ready = end > rl->burst_ns ? end - rl->burst_ns : 0;
	pthread_mutex_unlock(&rl->mu);

	for (now = now_ns(); now < ready; now = now_ns()) {
		if (cancel && atomic_load(cancel)) {
			/* Give the reservation back if nobody queued after
			 * it, so a cancelled transfer does not slow the next. */
			pthread_mutex_lock(&rl->mu);
			if (rl->tat_ns == end)
				rl->tat_ns = start;
			pthread_mutex_unlock(&rl->mu);
			return -ECANCELED;
		}
		sleep_ns(ready - now < SLICE_NS ? ready - now : SLICE_NS);
	}
	return 0;
}

void ratelimit_destroy(struct ratelimit *rl)
{
	pthread_mutex_destroy(&rl->mu);
}
