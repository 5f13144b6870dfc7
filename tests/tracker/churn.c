/* SPDX-License-Identifier: MIT */
/* Writer-vs-sync harness shared by the tracker tests (see churn.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "churn.h"

#define PAGE 4096u
#define NREG 2

struct churn {
	struct vmmig_tracker *t;
	const struct churn_cfg *cfg;
	struct vmmig_tracker_region reg[NREG];
	uint64_t *truth[NREG];     /* written by the writer only */
	uint64_t *seen[NREG];      /* OR of every sync */
	pthread_mutex_t pause;     /* quiesce: held by the writer per burst */
	atomic_int stop;
	atomic_int err;
	atomic_uint bursts;        /* the writer's, for the main loop */
	atomic_bool written;       /* the writer reached max_writes */
	uint64_t writes;
	double max_ns, sum_ns;
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t popcount(const uint64_t *b, uint64_t words)
{
	uint64_t n = 0;

	for (uint64_t w = 0; w < words; w++)
		n += (uint64_t)__builtin_popcountll(b[w]);
	return n;
}

void *churn_map(uint64_t size, int shared)
{
	char *base, *p;
	int fd;

	base = mmap(NULL, size + 2 * PAGE, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	if (shared) {
		fd = memfd_create("vmtest", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
			if (fd >= 0)
				close(fd);
			munmap(base, size + 2 * PAGE);
			return NULL;
		}
		p = mmap(base + PAGE, size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fd, 0);
		close(fd);
	} else {
		p = mmap(base + PAGE, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	}
	if (p == MAP_FAILED) {
		munmap(base, size + 2 * PAGE);
		return NULL;
	}
	/* Page-granular results: no transparent huge pages (with THP a
	 * tracker may report a whole 2 MiB page for one written byte). */
	madvise(p, size, MADV_NOHUGEPAGE);
	return p;
}

void churn_unmap(void *p, uint64_t size)
{
	if (p)
		munmap((char *)p - PAGE, size + 2 * PAGE);
}

static void *writer(void *arg)
{
	struct churn *c = arg;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	const struct timespec nap = { .tv_nsec = 50 * 1000 };

	while (!atomic_load(&c->stop) &&
	       (!c->cfg->max_writes || c->writes < c->cfg->max_writes)) {
		if (c->cfg->quiesce)
			pthread_mutex_lock(&c->pause);
		for (int k = 0; k < 32; k++) {
			uint64_t x = xorshift(&seed);
			unsigned r = x % 5 == 0; /* ~ proportional to size */
			uint64_t page = (x >> 8) % c->reg[r].npages;
			uint64_t off;
			double t0, dt;

			if (page % 4 == 3)
				page--; /* never written: exposes false positives */
			off = page * PAGE + ((x >> 40) % (PAGE / 8)) * 8;
			t0 = now_ns();
			*(volatile uint64_t *)((char *)c->reg[r].host + off) = x;
			dt = now_ns() - t0;
			if (c->cfg->manual) {
				int ret = vmmig_tracker_manual_mark(c->t,
						c->reg[r].id, off, 8);
				if (ret < 0)
					atomic_store(&c->err, ret);
			}
			/* Only after the write (and its mark) is complete. */
			c->truth[r][page / 64] |= 1ull << (page % 64);
			c->writes++;
			c->sum_ns += dt;
			if (dt > c->max_ns)
				c->max_ns = dt;
		}
		if (c->cfg->quiesce)
			pthread_mutex_unlock(&c->pause);
		atomic_fetch_add(&c->bursts, 1);
		nanosleep(&nap, NULL);
	}
	atomic_store(&c->written, true);
	return NULL;
}

static int sync_all(struct churn *c, uint64_t **into)
{
	for (unsigned r = 0; r < NREG; r++) {
		int ret = vmmig_tracker_sync(c->t, r, into[r]);

		if (ret < 0)
			return ret;
	}
	return 0;
}

static void compare(struct churn *c, uint64_t **idle, struct churn_res *res)
{
	for (unsigned r = 0; r < NREG; r++) {
		uint64_t words = (c->reg[r].npages + 63) / 64;

		for (uint64_t w = 0; w < words; w++) {
			uint64_t tr = c->truth[r][w], se = c->seen[r][w];

			res->missed += (uint64_t)__builtin_popcountll(tr & ~se);
			res->false_pos += (uint64_t)__builtin_popcountll(se & ~tr);
		}
		res->written += popcount(c->truth[r], words);
		res->reported += popcount(c->seen[r], words);
		res->idle += popcount(idle[r], words);
	}
}

static int run(struct churn *c, struct churn_res *res)
{
	uint64_t *idle[NREG] = { 0 };
	pthread_t th;
	double end, last, sync_ns = 0;
	int ret;

	for (unsigned r = 0; r < NREG; r++) {
		uint64_t words = (c->reg[r].npages + 63) / 64;

		idle[r] = calloc(words, 8);
		if (!idle[r]) {
			ret = -ENOMEM;
			goto out;
		}
		/* Touch the first half (at most 8 MiB) before start(); the
		 * rest never is. */
		for (uint64_t p = 0; p < c->reg[r].npages / 2 &&
				     p < CHURN_R0_SIZE / 2 / PAGE; p++)
			((volatile char *)c->reg[r].host)[p * PAGE] = 1;
	}

	ret = vmmig_tracker_start(c->t, c->reg, NREG);
	if (ret < 0) {
		res->err = ret;
		ret = 0;
		goto out;
	}
	if (pthread_create(&th, NULL, writer, c) != 0) {
		ret = -EAGAIN;
		vmmig_tracker_stop(c->t);
		goto out;
	}
	end = now_ns() + c->cfg->run_ms * 1e6;
	last = end + CHURN_MAX_EXTRA_MS * 1e6;
	/* run_ms, then on while a slow machine has not yet done what the
	 * tests count on (bounded by last). */
	while (!res->err && now_ns() < last &&
	       (now_ns() < end || res->syncs < CHURN_MIN_SYNCS ||
		(atomic_load(&c->bursts) < CHURN_MIN_BURSTS &&
		 !atomic_load(&c->written)))) {
		const struct timespec every = { .tv_nsec = 2 * 1000 * 1000 };
		double t0;

		nanosleep(&every, NULL);
		if (c->cfg->quiesce)
			pthread_mutex_lock(&c->pause);
		t0 = now_ns();
		res->err = sync_all(c, c->seen);
		sync_ns += now_ns() - t0;
		if (c->cfg->quiesce)
			pthread_mutex_unlock(&c->pause);
		res->syncs++;
	}
	res->mean_sync_us = res->syncs ? sync_ns / res->syncs / 1e3 : 0;
	atomic_store(&c->stop, 1);
	pthread_join(th, NULL);

	/* Final sync: the writer has stopped, so all of its writes must be
	 * in; then one more sync with no writes in between. */
	if (!res->err)
		res->err = sync_all(c, c->seen);
	if (!res->err)
		res->err = sync_all(c, idle);
	if (!res->err)
		res->err = atomic_load(&c->err);
	vmmig_tracker_stop(c->t);

	res->writes = c->writes;
	res->max_write_ms = c->max_ns / 1e6;
	res->mean_write_us = c->writes ? c->sum_ns / c->writes / 1e3 : 0;
	compare(c, idle, res);
out:
	for (unsigned r = 0; r < NREG; r++)
		free(idle[r]);
	return ret;
}

int churn_run(struct vmmig_tracker *t, const struct churn_cfg *cfg,
	      struct churn_res *res)
{
	const uint64_t sizes[NREG] = {
		cfg->r0_size ? cfg->r0_size : CHURN_R0_SIZE, CHURN_R1_SIZE
	};
	struct churn *c;
	int ret = -ENOMEM;

	memset(res, 0, sizeof(*res));
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->t = t;
	c->cfg = cfg;
	pthread_mutex_init(&c->pause, NULL);
	for (unsigned r = 0; r < NREG; r++) {
		uint64_t words = (sizes[r] / PAGE + 63) / 64;

		c->reg[r] = (struct vmmig_tracker_region){
			.id = 10 + r, .index = r, .gpa = r ? 1ull << 32 : 0,
			.size = sizes[r], .npages = sizes[r] / PAGE,
		};
		c->reg[r].host = churn_map(sizes[r], cfg->shared);
		c->truth[r] = calloc(words, 8);
		c->seen[r] = calloc(words, 8);
		if (!c->reg[r].host || !c->truth[r] || !c->seen[r])
			goto out;
	}
	ret = run(c, res);
out:
	for (unsigned r = 0; r < NREG; r++) {
		churn_unmap(c->reg[r].host, sizes[r]);
		free(c->truth[r]);
		free(c->seen[r]);
	}
	pthread_mutex_destroy(&c->pause);
	free(c);
	return ret;
}

void churn_print(const char *label, const struct churn_res *res)
{
	printf("%s: err=%d syncs=%llu writes=%llu written=%llu reported=%llu "
	       "missed=%llu false_pos=%llu idle=%llu write mean=%.2fus "
	       "max=%.3fms sync mean=%.1fus\n", label, res->err,
	       (unsigned long long)res->syncs, (unsigned long long)res->writes,
	       (unsigned long long)res->written,
	       (unsigned long long)res->reported,
	       (unsigned long long)res->missed,
	       (unsigned long long)res->false_pos,
	       (unsigned long long)res->idle, res->mean_write_us,
	       res->max_write_ms, res->mean_sync_us);
	fflush(stdout);
}
