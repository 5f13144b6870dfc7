/* SPDX-License-Identifier: MIT */
/*
 * How many pages to compress. zstd pays while the path (the link, or the
 * receiver behind it) is what holds the sending thread back, and costs time
 * while the CPU is. A channel's thread encodes batches and sends them,
 * several in flight; a send blocks while the path is behind. The caller
 * measures the thread from one batch's send to the next: wall time, the
 * part blocked on its channel (all its sleep: batch sends and the zero-run
 * records between them, which wait for the batches ahead), the part on a
 * CPU. Once per window of about 20 ms:
 *
 * - The figures are smoothed over the last few windows (each older one
 *   weighs 3/4 as much): the socket buffer and the link's queue absorb
 *   megabytes (some 100 ms at 1 Gbit/s), so a single window can see no
 *   blocking at all on a slow link while the buffer drains, then only
 *   blocking.
 * - CPU-bound: the thread spent under 5 % of that time blocked
 *   (preemption is not blocking): the path keeps up, time in zstd delays
 *   the migration. One level less.
 * - No gain: above level 1, the guest memory it moves (bytes sent plus
 *   bytes zstd saved, per us) is under 90 % of the path's rate (measured
 *   at a low level, below, where the two are the same). It may still
 *   block, but the link is no longer full: on a host whose cores are all
 *   busy, e.g. both sides of the migration and the guest on one host,
 *   zstd takes the CPU the receiver (or the kernel's send work) needs.
 *   Compressing made the migration slower: one level less. So it
 *   compresses as much as keeps more memory moving than raw pages would.
 * - Waiting: the thread has time to spare; compressing more makes each
 *   byte on the link carry more guest memory. One level more, unless the
 *   path is fast for zstd: its rate (measured when the thread barely
 *   compresses, at level 0 or 1, in windows where it waited at least
 *   25 %; and whenever the recent windows sent over twice as fast, at any
 *   level: the path carried it, e.g. once the receiver of a shared host
 *   got its CPU back; bursts into an emptied socket buffer stay below)
 *   is above what compressing can gain, (bytes zstd saved) / (time zstd
 *   had a CPU), both summed over recent attempts, times a gain. Then one
 *   level less.
 *   zstd's CPU time is its wall time times the thread's share of a CPU
 *   while it runs (not waiting for one): on a busy host, the more it
 *   compresses the longer it waits for a CPU, and its wall time alone
 *   would make it look slower at each level it climbs. The gain goes from
 *   ENC_ADAPT_GAIN (the thread gets a CPU whenever it can run: zstd uses
 *   time the thread would have spent waiting) down to 1 (it mostly waits
 *   for a CPU: zstd's CPU is taken from someone else, e.g. the receiver
 *   when both sides share the host). Below a half, the host is
 *   oversubscribed: zstd's wall time counts in full, without gain, so it
 *   climbs only on a path slower than zstd at that pace (a bandwidth cap
 *   of a few MB/s): there the receiver of a shared host, starved, makes a
 *   10 Gbit/s path look like a slow link (measured: a run that climbed on
 *   the CPU-time rule took 2.5 s against 1.2-1.8 s raw).
 *   That case is a link as fast as zstd or a receiver that cannot keep up:
 *   on one host where both sides share the cores, compressing more slows
 *   the receiver, which makes the sender wait more; the path rate at a
 *   high level would then look slow, hence it is measured at a low one.
 *
 * Levels 1..8 compress 1/8, 2/8, ..., all of the pages that have contents
 * (spread evenly). Level 0 probes: it keeps the saving and the cost
 * measured, 1 page of 64 (some ten attempts per window at 1 Gbit/s,
 * hundreds on a fast path) while the rule has not decided, 1 of 256 once
 * it found that zstd does not pay: a text page costs ~38 us at level 1,
 * and 1 of 64 took 3-4 % of a channel's time on loopback with the mix
 * (measured in the debug log), where zstd gains nothing.
 * The thread starts at level 0 and climbs once the path rate is known
 * (three windows), doubling its level each window (climb()). Measured on the 1 GiB mix (bench/vs-qemu, 2
 * cores): a text page costs ~30 us at zstd level 1 and saves ~2.5 KB, a
 * random one ~0.5 us (it is recognised before zstd) and nothing, so zstd
 * gains 35-50 bytes/us per channel, 70-150 with the gain: at 1 Gbit/s over
 * 2 channels (~58 bytes/us each) everything is compressed, on a 10 Gbit/s
 * link between two namespaces (300-600 bytes/us per channel) or loopback
 * next to nothing, and neither on 1 Gbit/s when the cores are so
 * oversubscribed that the thread runs under half the time it could (but
 * still under a cap of 20 MB/s).
 */
#include "encode.h"

#define WINDOW_US 20000u  /* decide once per this much sending time */
#define WAIT_MIN_PCT 5u   /* below this share of waiting: CPU-bound */
#define RATE_WAIT_PCT 25u /* path rate measured only when waiting this much */
#define RATE_WINDOWS 3u   /* ...in this many windows before climbing */
#define GAIN_PCT 90u      /* compressing pays: guest memory moves at least
			   * at this share of the path's rate */
#define LOADED_PCT 50u    /* on a CPU under this share of the time it
			   * could run: the host is oversubscribed, zstd's
			   * wall time counts in full */

/*
 * Up twice as fast as down: 0, 1, 2, 4, 8. On a slow link every window
 * spent below the top sends text raw that zstd would have shrunk (a
 * climb one level a window took 0.3-0.6 s of a 3.3 s migration of the
 * 1 GiB mix at 1 Gbit/s); a level too high costs CPU only, and the rules
 * step it down one level a window once the CPU or the gain says so.
 */
static unsigned climb(unsigned level)
{
	if (!level)
		return 1;
	return 2 * level < ENC_ADAPT_LEVELS ? 2 * level : ENC_ADAPT_LEVELS;
}

/* Take a quarter off @sum and add @win: the last four windows or so. */
static uint64_t smooth(uint64_t sum, uint64_t win)
{
	return sum - sum / 4 + win;
}

unsigned enc_adapt_effort(unsigned level)
{
	return level ? level * ENC_ADAPT_ONE / ENC_ADAPT_LEVELS
		     : ENC_ADAPT_PROBE;
}

void enc_adapt_init(struct enc_adapt *a)
{
	*a = (struct enc_adapt){ .effort = ENC_ADAPT_PROBE };
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
 * waiting for one, in the recent windows: 1 on a host with cores to spare. */
static double cpu_share(const struct enc_adapt *a)
{
	uint64_t busy = a->wall_us - a->wait_us;

	return busy && a->cpu_us < busy ?
		(double)a->cpu_us / (double)busy : 1.0;
}

/* Whether the path is slow enough for compressing more to pay. */
static bool path_slow(const struct enc_adapt *a)
{
	double share = cpu_share(a);

	if (a->rate_windows < RATE_WINDOWS)
		return false; /* not measured yet: stay low */
	if (!a->cost_ns)
		return true; /* nothing compressed yet: try */
	/* In double: the sums times each other could overflow 64 bits. */
	if (share * 100.0 < LOADED_PCT) /* zstd's time counts in full */
		return (double)a->path_rate * (double)a->cost_ns <
		       (double)a->saved * 1000.0;
	/* rate (bytes/us) < gain * saved / (cost(us) * share), zstd's rate
	 * while it has a CPU (its wall time includes waits for one, which
	 * grow as it compresses more), the gain between 1 and
	 * ENC_ADAPT_GAIN by the share. */
	return (double)a->path_rate * (double)a->cost_ns * share <
	       (1.0 + (ENC_ADAPT_GAIN - 1.0) * share) *
		       (double)a->saved * 1000.0;
}

bool enc_adapt_cycle(struct enc_adapt *a, const struct enc_cycle *c)
{
	unsigned l = a->level;
	bool settled;
	uint64_t r;

	a->win_wall_us += c->wall_us;
	a->win_wait_us += c->wait_us < c->wall_us ? c->wait_us : c->wall_us;
	a->win_cpu_us += c->cpu_us;
	a->win_bytes += c->bytes;
	if (a->win_wall_us < WINDOW_US)
		return false;
	a->windows++;
	/* Recent attempts weigh most, like the times (at level 0 a window
	 * has a few attempts at 1 Gbit/s, hundreds on a fast path). */
	a->cost_ns = smooth(a->cost_ns, a->win_cost_ns);
	a->saved = smooth(a->saved, a->win_saved);
	a->wall_us = smooth(a->wall_us, a->win_wall_us);
	a->wait_us = smooth(a->wait_us, a->win_wait_us);
	a->cpu_us = smooth(a->cpu_us, a->win_cpu_us);
	a->bytes = smooth(a->bytes, a->win_bytes);
	r = a->win_bytes / a->win_wall_us;
	if (a->rate_windows && a->bytes / a->wall_us > 2 * a->path_rate)
		r = a->bytes / a->wall_us; /* the path carried this much */
	else if (l > 1 ||
		 a->win_wait_us * 100u < a->win_wall_us * RATE_WAIT_PCT)
		r = 0; /* not a measure of the path */
	if (r) {
		/* Half from this window: the first ones run while the
		 * socket buffer fills, faster than the path, and must fade
		 * within a few windows. */
		a->path_rate = a->rate_windows ? (a->path_rate + r) / 2 : r;
		a->rate_windows++;
	}
	settled = true;
	if (a->wait_us * 100u < a->wall_us * WAIT_MIN_PCT)
		a->level = l ? l - 1 : 0; /* CPU-bound */
	else if (l > 1 && (a->bytes + a->saved) * 100u <
				  a->path_rate * a->wall_us * GAIN_PCT)
		a->level = l - 1; /* compressing does not move more memory */
	else if (path_slow(a))
		a->level = climb(l);
	else if (a->rate_windows >= RATE_WINDOWS)
		a->level = l ? l - 1 : 0;
	else
		settled = false; /* the path is not measured yet */
	a->effort = enc_adapt_effort(a->level);
	/* At level 0 by decision, the probe costs a quarter: on a fast path
	 * with text-like memory it took 3-4 % of a channel's time. */
	if (!a->level && settled)
		a->effort = ENC_ADAPT_MIN;
	a->last = (struct enc_window){
		.wall_us = a->win_wall_us, .wait_us = a->win_wait_us,
		.cpu_us = a->win_cpu_us, .bytes = a->win_bytes,
		.cost_ns = a->win_cost_ns, .saved = a->win_saved,
	};
	a->win_wall_us = a->win_wait_us = a->win_cpu_us = a->win_bytes = 0;
	a->win_cost_ns = a->win_saved = 0;
	return true;
}
