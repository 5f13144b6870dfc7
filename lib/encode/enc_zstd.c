/* SPDX-License-Identifier: MIT */
/*
 * zstd as the encoder context applies it: which pages get compressed (the
 * effort of enc_adapt.c), and the sending thread's clocks that drive the
 * effort: how long each send blocked on the channel.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "encode.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Time the thread spent waiting for a CPU (the second field of its
 * schedstat), so that on a loaded host being preempted is not taken for
 * waiting on the channel. 0 where the kernel does not report it; then
 * preemption counts as waiting, which errs towards compressing. The file
 * is opened by the thread it describes (thread-self), on first use.
 */
static uint64_t runqueue_ns(struct enc_ctx *e)
{
	char buf[96], *end;
	ssize_t n;

	if (e->sched_fd >= 0 &&
	    !pthread_equal(e->sched_owner, pthread_self())) {
		close(e->sched_fd); /* another thread took this sender over */
		e->sched_fd = -1;
		e->sched_tried = false;
	}
	if (!e->sched_tried) {
		e->sched_tried = true;
		e->sched_fd = open("/proc/thread-self/schedstat",
				   O_RDONLY | O_CLOEXEC);
		e->sched_owner = pthread_self();
	}
	if (e->sched_fd < 0)
		return 0;
	n = pread(e->sched_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "<on-cpu ns> <run-queue ns> <timeslices>" */
	(void)strtoull(buf, &end, 10);
	return strtoull(end, NULL, 10);
}

static void sample(struct enc_ctx *e, struct enc_clock *c)
{
	c->wall = clock_ns(CLOCK_MONOTONIC);
	c->cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	c->runq = runqueue_ns(e);
}

static uint64_t since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

void enc_ctx_send_start(struct enc_ctx *e)
{
	if (!e || !e->zc || !e->cfg.zstd_adaptive)
		return;
	sample(e, &e->start);
	/* Between sends the thread encodes; time it slept there (no job,
	 * waiting for a fault request) was not spent on this stream. */
	e->gap_cpu = e->have_end ? since(e->start.cpu, e->end.cpu) : 0;
	e->gap_busy = e->have_end ? e->gap_cpu +
		since(e->start.runq, e->end.runq) : 0;
}

void enc_ctx_send_done(struct enc_ctx *e, size_t bytes)
{
	uint64_t wall, cpu, busy;

	if (!e || !e->zc || !e->cfg.zstd_adaptive)
		return;
	sample(e, &e->end);
	e->have_end = true;
	wall = since(e->end.wall, e->start.wall);
	cpu = since(e->end.cpu, e->start.cpu);
	busy = cpu + since(e->end.runq, e->start.runq);
	enc_adapt_cycle(&e->adapt, &(struct enc_cycle){
		.wall_us = (e->gap_busy + wall) / 1000u,
		.wait_us = since(wall, busy) / 1000u,
		.cpu_us = (e->gap_cpu + cpu) / 1000u,
		.bytes = bytes,
	});
}

int enc_zstd_page(struct enc_ctx *e, const uint8_t *copy)
{
	uint64_t t0;
	int n = 0;

	if (!e->zc || !enc_adapt_pick(&e->adapt))
		return 0;
	t0 = clock_ns(CLOCK_MONOTONIC);
	if (!zpage_looks_random(copy))
		n = zpage_compress(e->zc, copy, e->scratch,
				   ENC_PAGE - ENC_ZSTD_SAVING);
	if (n < 0)
		n = 0; /* does not fit under the saving: sent raw */
	enc_adapt_attempt(&e->adapt, since(clock_ns(CLOCK_MONOTONIC), t0),
			  n ? ENC_PAGE - (unsigned)n : 0);
	return n;
}

unsigned enc_ctx_zstd_effort(const struct enc_ctx *e)
{
	return e && e->zc ? e->adapt.effort : ENC_ADAPT_ONE;
}
