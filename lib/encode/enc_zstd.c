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

static unsigned pct(uint64_t part, uint64_t whole)
{
	return whole ? (unsigned)(part * 100u / whole) : 0;
}

/* What the rule saw in the window that just closed, and what it did. */
static void log_window(const struct enc_ctx *e, unsigned from)
{
	const struct enc_adapt *a = &e->adapt;
	const struct enc_window *w = &a->last;

	if (!e->cfg.log)
		return;
	log_msg(e->cfg.log, VMMIG_LOG_DEBUG,
		"zstd ch%u: %llu us, blocked %u%% (recent %u%%), on a CPU %u%% "
		"of the rest (recent %u%%), %llu bytes/us sent, zstd %llu us "
		"saved %llu bytes, path %llu bytes/us, level %u -> %u",
		e->cfg.id, (unsigned long long)w->wall_us,
		pct(w->wait_us, w->wall_us), pct(a->wait_us, a->wall_us),
		pct(w->cpu_us, w->wall_us - w->wait_us),
		pct(a->cpu_us, a->wall_us - a->wait_us),
		(unsigned long long)(w->wall_us ? w->bytes / w->wall_us : 0),
		(unsigned long long)(w->cost_ns / 1000u),
		(unsigned long long)w->saved,
		(unsigned long long)a->path_rate, from, a->level);
}

/*
 * A cycle runs from the end of one batch's send to the end of the next:
 * encoding, the batch's send, and whatever else the thread sent meanwhile
 * (the records of zero runs, queued behind the batches like one; the
 * caller adds their bytes to @bytes). The thread sleeps only on its
 * channel inside a cycle, so all of its time neither on a CPU nor waiting
 * for one is time blocked on the path. Between jobs it sleeps for another
 * reason: enc_ctx_send_idle() starts the next cycle afresh.
 */
void enc_ctx_send_done(struct enc_ctx *e, size_t bytes)
{
	struct enc_clock now;
	uint64_t wall, busy;
	unsigned from;

	if (!e || !e->zc || !e->cfg.zstd_adaptive)
		return;
	sample(e, &now);
	if (!e->have_end) {
		e->have_end = true; /* the first send of a job: a baseline */
		e->end = now;
		return;
	}
	wall = since(now.wall, e->end.wall);
	busy = since(now.cpu, e->end.cpu) + since(now.runq, e->end.runq);
	from = e->adapt.level;
	if (enc_adapt_cycle(&e->adapt, &(struct enc_cycle){
		    .wall_us = wall / 1000u,
		    .wait_us = since(wall, busy) / 1000u,
		    .cpu_us = since(now.cpu, e->end.cpu) / 1000u,
		    .bytes = bytes,
	    }))
		log_window(e, from);
	e->end = now;
}

void enc_ctx_send_idle(struct enc_ctx *e)
{
	if (e)
		e->have_end = false;
}

bool enc_zstd_wants(struct enc_ctx *e, const uint8_t *page,
		    uint64_t *look_ns)
{
	uint64_t t0;

	if (!e->zc || !enc_adapt_pick(&e->adapt))
		return false;
	t0 = clock_ns(CLOCK_MONOTONIC);
	if (zpage_looks_random(page)) {
		enc_adapt_attempt(&e->adapt,
				  since(clock_ns(CLOCK_MONOTONIC), t0), 0);
		return false;
	}
	*look_ns = since(clock_ns(CLOCK_MONOTONIC), t0);
	return true;
}

int enc_zstd_run(struct enc_ctx *e, const uint8_t *const *pages, unsigned n,
		 uint64_t look_ns, const uint8_t **frame)
{
	/* The frame must save ENC_ZSTD_SAVING per page over raw. */
	size_t most = (size_t)n * (ENC_PAGE - ENC_ZSTD_SAVING);
	uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
	int len;

	if (n == 1) {
		len = zpage_compress(e->zc, pages[0], e->scratch, most);
		*frame = e->scratch;
	} else {
		len = zrun_compress(e->zc, pages, n, e->run_buf, e->run_cap);
		*frame = e->run_buf;
	}
	if (len < 0 || (size_t)len > most)
		len = 0; /* does not save enough: sent raw */
	/* One try of the adaptive rule: what the run cost, what it saved. */
	enc_adapt_attempt(&e->adapt,
			  look_ns + since(clock_ns(CLOCK_MONOTONIC), t0),
			  len ? n * ENC_PAGE - (unsigned)len : 0);
	return len;
}

int enc_zstd_page(struct enc_ctx *e, const uint8_t *copy)
{
	const uint8_t *frame;
	uint64_t look_ns;

	if (!enc_zstd_wants(e, copy, &look_ns))
		return 0;
	return enc_zstd_run(e, &copy, 1, look_ns, &frame);
}

unsigned enc_ctx_zstd_effort(const struct enc_ctx *e)
{
	return e && e->zc ? e->adapt.effort : ENC_ADAPT_ONE;
}
