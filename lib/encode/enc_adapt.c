/* SPDX-License-Identifier: MIT */
/*
 * How many pages to compress. zstd pays while the path (the link, or the
 * receiver behind it) is what holds the sending thread back, and costs time
 * while the CPU is. A channel's thread encodes a batch, then sends it; the
 * send blocks while the path is behind. Once per window of about 20 ms of
 * sending:
 *
 * - CPU-bound: the thread spent under 5 % of the window blocked in sends
 *   (preemption is not blocking): the path keeps up, time in zstd delays
 *   the migration. One level less.
 * - Waiting: the thread has time to spare; compressing more makes each
 *   byte on the link carry more guest memory. One level more, unless the
 *   path is fast for zstd: its rate when the thread barely compresses (at
 *   level 0 or 1, in windows where it waited at least 25 %) is above what
 *   compressing can gain, (bytes zstd saved) / (time zstd took), both
 *   summed over recent attempts, times a gain. Then one level less. The
 *   time is zstd's wall time, and the gain goes from ENC_ADAPT_GAIN (the
 *   thread gets a CPU whenever it can run: zstd uses time the thread would
 *   have spent waiting) down to 1 (it mostly waits for a CPU: the host has
 *   more runnable threads than cores, and zstd's CPU is taken from someone
 *   else, e.g. the receiver when both sides share the host).
 *   That case is a link as fast as zstd or a receiver that cannot keep up:
 *   on one host where both sides share the cores, compressing more slows
 *   the receiver, which makes the sender wait more; the path rate at a
 *   high level would then look slow, hence it is measured at a low one.
 *
 * Levels 0..8 compress 2, 8, 16, ..., 64 pages of every 64 that have
 * contents (spread evenly); the floor keeps the saving and the cost
 * measured. The thread starts at level 0 and climbs once the path rate is
 * known (a few windows). Measured on the 1 GiB mix (bench/vs-qemu, 2 loaded
 * cores): a text page costs ~30 us at zstd level 1 and saves ~2.5 KB, a
 * random one ~0.5 us (it is recognised before zstd) and nothing, so the
 * gain is ~80 MB/s per channel while the host has a core to spare: at
 * 1 Gbit/s over 2 channels (~60 MB/s each) everything is compressed, on a
 * 10 Gbit/s link between two namespaces (150-450 MB/s per channel) next to
 * nothing, and neither on 1 Gbit/s when the cores are so oversubscribed
 * that zstd runs at a third of its speed.
 */
#include "encode.h"

#define WINDOW_US 20000u  /* decide once per this much sending time */
#define WAIT_MIN_PCT 5u   /* below this share of waiting: CPU-bound */
#define RATE_WAIT_PCT 25u /* path rate measured only when waiting this much */
#define RATE_WINDOWS 3u   /* ...in this many windows before climbing */

unsigned enc_adapt_effort(unsigned level)
{
	unsigned e = level * ENC_ADAPT_ONE / ENC_ADAPT_LEVELS;

	return e < ENC_ADAPT_MIN ? ENC_ADAPT_MIN : e;
}

void enc_adapt_init(struct enc_adapt *a)
{
	*a = (struct enc_adapt){ .effort = ENC_ADAPT_MIN };
}

bool enc_adapt_pick(struct enc_adapt *a)
{
	/* Spread the effort evenly over the pages (Bresenham). */
	a->acc += a->effort;
	if (a->acc < ENC_ADAPT_ONE)
		return false;
	a->acc -= ENC_ADAPT_ONE;
	return true;
}

void enc_adapt_attempt(struct enc_adapt *a, uint64_t cost_ns, unsigned saved)
{
	a->win_cost_ns += cost_ns;
	a->win_saved += saved;
	a->attempts++;
}

/* The share of its busy time (not blocked) the thread was on a CPU, not
 * waiting for one, in the current window: 1 on a host with cores to spare. */
static double cpu_share(const struct enc_adapt *a)
{
	uint64_t busy = a->win_wall_us - a->win_wait_us;

	return busy && a->win_cpu_us < busy ?
		(double)a->win_cpu_us / (double)busy : 1.0;
}

/* Whether the path is slow enough for compressing more to pay. */
static bool path_slow(const struct enc_adapt *a)
{
	if (a->rate_windows < RATE_WINDOWS)
		return false; /* not measured yet: stay low */
	if (!a->cost_ns)
		return true; /* nothing compressed yet: try */
	/* rate (bytes/us) < gain * saved / cost(us), the gain between 1 and
	 * ENC_ADAPT_GAIN by the thread's share of a CPU while it runs; in
	 * double: the sums times each other could overflow 64 bits. */
	return (double)a->path_rate * (double)a->cost_ns <
	       (1.0 + (ENC_ADAPT_GAIN - 1.0) * cpu_share(a)) *
		       (double)a->saved * 1000.0;
}

void enc_adapt_cycle(struct enc_adapt *a, const struct enc_cycle *c)
{
	unsigned l = a->level;

	a->win_wall_us += c->wall_us;
	a->win_wait_us += c->wait_us < c->wall_us ? c->wait_us : c->wall_us;
	a->win_cpu_us += c->cpu_us;
	a->win_bytes += c->bytes;
	if (a->win_wall_us < WINDOW_US)
		return;
	a->windows++;
	/* Recent attempts weigh most: the older sums lose a quarter each
	 * window (at level 0 a window has some ten attempts). */
	a->cost_ns = a->cost_ns - a->cost_ns / 4 + a->win_cost_ns;
	a->saved = a->saved - a->saved / 4 + a->win_saved;
	if (l <= 1 && a->win_wait_us * 100u >= a->win_wall_us * RATE_WAIT_PCT) {
		uint64_t r = a->win_bytes / a->win_wall_us;

		a->path_rate = a->rate_windows ? (3 * a->path_rate + r) / 4 : r;
		a->rate_windows++;
	}
	if (a->win_wait_us * 100u < a->win_wall_us * WAIT_MIN_PCT)
		a->level = l ? l - 1 : 0; /* CPU-bound */
	else if (path_slow(a))
		a->level = l < ENC_ADAPT_LEVELS ? l + 1 : l;
	else if (a->rate_windows >= RATE_WINDOWS)
		a->level = l ? l - 1 : 0;
	a->effort = enc_adapt_effort(a->level);
	a->win_wall_us = a->win_wait_us = a->win_cpu_us = a->win_bytes = 0;
	a->win_cost_ns = a->win_saved = 0;
}
