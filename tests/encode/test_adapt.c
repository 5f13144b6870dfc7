/* SPDX-License-Identifier: MIT */
/*
 * How many pages zstd gets (enc_adapt.c), fed with synthetic sends: a slow
 * link makes it compress everything, even when the blocking comes in
 * bursts (pipelined sends), a fast path, a CPU-bound thread or a path that
 * compressing no longer fills next to nothing; the pages it picks are
 * spread evenly. And the encoder context's zstd path (enc_zstd.c): which
 * pages it compresses, byte-exact round trips, random pages left raw, and
 * its clocks: sleeping between sends is blocking, waiting for a job is not.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmmig/session.h>

#include "encode/encode.h"
#include "testutil.h"

#define WIN_US 20000u /* one window: enc_adapt.c's WINDOW_US */

/* One window of sends: @rate bytes/us over the window, @wait_pct of it
 * blocked, on a CPU for @cpu_pct of the rest (else preempted). Each send
 * carries as many pages as fit in its share of the bytes: a page zstd
 * picks costs @cost_us and takes 4096 - @saved bytes, the others 4096. */
static void window_on(struct enc_adapt *a, uint64_t rate, unsigned wait_pct,
		      unsigned cpu_pct, uint64_t cost_us, unsigned saved)
{
	for (int i = 0; i < 10; i++) {
		uint64_t wall = WIN_US / 10, wait = wall * wait_pct / 100;
		uint64_t budget = rate * wall, sent = 0;

		/* Bounded: at most budget / (4096 - saved) pages. */
		while (sent + ENC_PAGE <= budget) {
			if (enc_adapt_pick(a)) {
				enc_adapt_attempt(a, cost_us * 1000u, saved);
				sent += ENC_PAGE - saved;
			} else {
				sent += ENC_PAGE;
			}
		}
		enc_adapt_cycle(a, &(struct enc_cycle){
			.wall_us = wall,
			.wait_us = wait,
			.cpu_us = (wall - wait) * cpu_pct / 100,
			.bytes = sent,
		});
	}
}

/* The same on a host with a core to spare. */
static void window(struct enc_adapt *a, uint64_t rate, unsigned wait_pct,
		   uint64_t cost_us, unsigned saved)
{
	window_on(a, rate, wait_pct, 100, cost_us, saved);
}

START_TEST(pick_spreads_the_effort)
{
	struct enc_adapt a;

	enc_adapt_init(&a);
	ck_assert_uint_eq(a.level, 0);
	for (unsigned l = 0; l <= ENC_ADAPT_LEVELS; l++) {
		unsigned picked = 0, run = 0, longest = 0;

		a.level = l;
		a.effort = enc_adapt_effort(l);
		for (unsigned i = 0; i < ENC_ADAPT_ONE * 4; i++) {
			bool p = enc_adapt_pick(&a);

			picked += p;
			run = p ? 0 : run + 1;
			longest = run > longest ? run : longest;
		}
		ck_assert_uint_eq(picked, 4 * enc_adapt_effort(l));
		/* Evenly: no gap longer than ONE / effort pages. */
		ck_assert_uint_le(longest,
				  ENC_ADAPT_ONE / enc_adapt_effort(l));
	}
	ck_assert_uint_eq(enc_adapt_effort(0), ENC_ADAPT_PROBE);
	ck_assert_uint_eq(enc_adapt_effort(1), ENC_ADAPT_ONE / 8);
	ck_assert_uint_eq(enc_adapt_effort(ENC_ADAPT_LEVELS), ENC_ADAPT_ONE);
}
END_TEST

/* 1 Gbit/s over two channels: 60 bytes/us each, the thread mostly waits;
 * a page costs 30 us and saves 2500 bytes (gain 83 bytes/us): climb to
 * everything and stay there. */
START_TEST(slow_link_compresses_everything)
{
	struct enc_adapt a;
	int w;

	enc_adapt_init(&a);
	for (w = 0; w < 40 && a.level < ENC_ADAPT_LEVELS; w++)
		window(&a, 60, 90, 30, 2500);
	ck_assert_uint_eq(a.level, ENC_ADAPT_LEVELS);
	/* Three windows measure the path, then the level doubles: 1, 2, 4,
	 * 8 (a window or two more while the first rates fade). */
	ck_assert_uint_le(w, 3 + 4 + 2);
	/* Compressing everything, the thread still waits: stays. */
	for (w = 0; w < 20; w++) {
		window(&a, 60, 40, 30, 2500);
		ck_assert_uint_eq(a.level, ENC_ADAPT_LEVELS);
	}
	ck_assert_uint_eq(a.effort, ENC_ADAPT_ONE);
}
END_TEST

/* The same link, but the thread becomes CPU-bound (no waiting): once the
 * recent windows show it (the smoothing takes some ten), one level down
 * per window, to the floor, never up. */
START_TEST(cpu_bound_compresses_less)
{
	struct enc_adapt a;
	unsigned prev;
	int w;

	enc_adapt_init(&a);
	for (w = 0; w < 40 && a.level < ENC_ADAPT_LEVELS; w++)
		window(&a, 60, 90, 30, 2500);
	ck_assert_uint_eq(a.level, ENC_ADAPT_LEVELS);
	for (w = 0, prev = a.level; w < 40 && a.level > 0; w++) {
		window(&a, 60, 0, 30, 2500);
		ck_assert_uint_le(a.level, prev);
		ck_assert_uint_ge(a.level + 1, prev);
		prev = a.level;
	}
	ck_assert_uint_eq(a.level, 0);
	ck_assert_uint_le(w, 14 + ENC_ADAPT_LEVELS);
	ck_assert_uint_eq(a.effort, ENC_ADAPT_MIN);
}
END_TEST

/* Pipelined sends over a slow link: the socket buffer and the link's queue
 * absorb whole windows, so the thread blocks in bursts (no blocking at all
 * for a window or two while the buffer drains, then mostly blocking). On
 * average it waits: it climbs to everything and stays, sending at the
 * path's rate. */
START_TEST(bursty_blocking_still_link_bound)
{
	static const unsigned waits[] = { 90, 0, 0, 85, 10, 0, 95, 40 };
	struct enc_adapt a;
	int w;

	enc_adapt_init(&a);
	for (w = 0; w < 40 && a.level < ENC_ADAPT_LEVELS; w++)
		window(&a, 60, waits[w % 8], 30, 2500);
	ck_assert_uint_eq(a.level, ENC_ADAPT_LEVELS);
	for (w = 0; w < 48; w++) {
		window(&a, 60, waits[w % 8], 30, 2500);
		ck_assert_uint_ge(a.level, ENC_ADAPT_LEVELS - 1);
	}
}
END_TEST

/* A fast path (10 Gbit/s, or a receiver sharing the cores): 300 bytes/us
 * while waiting half the time, far above twice the gain: stays at the
 * floor, even though the thread waits. */
START_TEST(fast_path_stays_low)
{
	struct enc_adapt a;

	enc_adapt_init(&a);
	for (int w = 0; w < 50; w++) {
		window(&a, 300, 50, 30, 2500);
		ck_assert_uint_eq(a.level, 0);
	}
	/* Decided: the probe drops to 1 page of 256, still measuring. */
	ck_assert_uint_eq(a.effort, ENC_ADAPT_MIN);
	uint64_t before = a.attempts;

	window(&a, 300, 50, 30, 2500); /* 1500 pages, ~6 of them tried */
	ck_assert_uint_gt(a.attempts, before);
	ck_assert_uint_le(a.attempts - before, 1500 / 256 + 1);
}
END_TEST

/* Compressing everything, the thread still blocks (on the receiver or the
 * kernel's send work, which compete with zstd for the cores) but sends at
 * half the path's rate: with text pages 2.6 times smaller that still
 * moves more memory than raw pages did, so it stays. At a quarter, it
 * moves less: it comes down to where the path rate is measured again; the
 * rate at a high level does not count (it is low because compressing
 * slowed the receiver). Measured fast there, it stays low. */
START_TEST(path_not_full_backs_off)
{
	struct enc_adapt a;
	int w;

	enc_adapt_init(&a);
	for (w = 0; w < 40 && a.level < ENC_ADAPT_LEVELS; w++)
		window(&a, 60, 90, 30, 2500);
	ck_assert_uint_eq(a.level, ENC_ADAPT_LEVELS);
	ck_assert_uint_le(a.path_rate, 60);
	for (w = 0; w < 20; w++) {
		window(&a, 30, 50, 30, 2500);
		ck_assert_uint_eq(a.level, ENC_ADAPT_LEVELS);
	}
	for (w = 0; w < 40 && a.level > 1; w++)
		window(&a, 15, 50, 30, 2500);
	ck_assert_uint_eq(a.level, 1);
	ck_assert_uint_le(w, 3 + ENC_ADAPT_LEVELS);
	ck_assert_uint_le(a.path_rate, 60);
	for (w = 0; w < 30; w++)
		window(&a, 400, 60, 30, 2500);
	ck_assert_uint_le(a.level, 1);
	ck_assert_uint_gt(a.path_rate, 300);
}
END_TEST

/* The path rate measured while the receiver (on the same host) had no CPU
 * looks like a slow link, and it starts to climb; once it sends several
 * times faster, even without blocking, the rate follows and it comes back
 * down. */
START_TEST(path_faster_than_measured)
{
	struct enc_adapt a;
	int w;

	enc_adapt_init(&a);
	for (w = 0; w < 6; w++)
		window_on(&a, 60, 50, 60, 30, 2500);
	ck_assert_uint_le(a.path_rate, 60);
	ck_assert_uint_ge(a.level, 1);
	for (w = 0; w < 30; w++)
		window(&a, 500, 10, 30, 2500);
	ck_assert_uint_eq(a.level, 0);
	ck_assert_uint_gt(a.path_rate, 300);
}
END_TEST

/* A host whose cores other work takes: the thread, compressing
 * everything over a slow link, gets a CPU a tenth of the time it could
 * run and sends at a third of the path's rate (moving less memory than
 * raw pages did): it backs off to the floor, and does not climb while the
 * host stays that loaded. */
START_TEST(loaded_host_backs_off)
{
	struct enc_adapt a;
	int w;

	enc_adapt_init(&a);
	for (w = 0; w < 40 && a.level < ENC_ADAPT_LEVELS; w++)
		window(&a, 60, 90, 30, 2500);
	ck_assert_uint_eq(a.level, ENC_ADAPT_LEVELS);
	for (w = 0; w < 40 && a.level > 0; w++)
		window_on(&a, 20, 30, 10, 300, 2500);
	ck_assert_uint_eq(a.level, 0);
	/* At the floor it sends at the path's rate again and waits, but
	 * the host is still oversubscribed: it stays. */
	for (w = 0; w < 30; w++) {
		window_on(&a, 60, 80, 10, 300, 2500);
		ck_assert_uint_eq(a.level, 0);
	}
}
END_TEST

/* zstd gains 42 bytes/us (2500 bytes in 60 us) against a 60 bytes/us
 * path: with a core to spare it climbs (the thread's waiting time pays for
 * zstd); when the thread is on a CPU a fifth of the time it could run (an
 * oversubscribed host: the CPU zstd takes is someone else's), it does not.
 * In between (on a CPU 60 % of the time), zstd's 60 us are 36 on a CPU:
 * it climbs. Oversubscribed, under a 10 bytes/us cap (zstd at 42 bytes
 * per us of wall time is faster than that), it climbs too. */
START_TEST(oversubscribed_host_stays_low)
{
	struct enc_adapt a;
	int w;

	enc_adapt_init(&a);
	for (w = 0; w < 30; w++) {
		window_on(&a, 60, 90, 20, 60, 2500);
		ck_assert_uint_eq(a.level, 0);
	}
	for (w = 0; w < 40 && a.level < ENC_ADAPT_LEVELS; w++)
		window_on(&a, 60, 90, 100, 60, 2500);
	ck_assert_uint_eq(a.level, ENC_ADAPT_LEVELS);
	enc_adapt_init(&a);
	for (w = 0; w < 40 && a.level < ENC_ADAPT_LEVELS; w++)
		window_on(&a, 60, 90, 60, 60, 2500);
	ck_assert_uint_eq(a.level, ENC_ADAPT_LEVELS);
	enc_adapt_init(&a);
	for (w = 0; w < 40 && a.level < ENC_ADAPT_LEVELS; w++)
		window_on(&a, 10, 90, 20, 60, 2500);
	ck_assert_uint_eq(a.level, ENC_ADAPT_LEVELS);
}
END_TEST

/* Slow path, but zstd saves nothing (incompressible memory): no gain, so
 * it stays at the floor. */
START_TEST(nothing_to_gain_stays_low)
{
	struct enc_adapt a;

	enc_adapt_init(&a);
	for (int w = 0; w < 30; w++) {
		window(&a, 60, 90, 1, 0);
		ck_assert_uint_eq(a.level, 0);
	}
}
END_TEST

/* Waiting a little (5-25 %) at the bottom does not measure the path: the
 * socket buffer may be filling. It stays low until it knows. */
START_TEST(unmeasured_path_stays_low)
{
	struct enc_adapt a;

	enc_adapt_init(&a);
	for (int w = 0; w < 30; w++) {
		window(&a, 60, 10, 30, 2500);
		ck_assert_uint_eq(a.level, 0);
		/* Undecided: it keeps probing at 1 page of 64. */
		ck_assert_uint_eq(a.effort, ENC_ADAPT_PROBE);
	}
}
END_TEST

/* A long stall in one send (seconds) neither overflows nor misleads: the
 * link carried next to nothing, so it steps down at most a level or two,
 * and once the stall has faded from the recent windows it is back at the
 * top. */
START_TEST(long_stall)
{
	struct enc_adapt a;
	int w;

	enc_adapt_init(&a);
	for (w = 0; w < 40 && a.level < ENC_ADAPT_LEVELS; w++)
		window(&a, 60, 90, 30, 2500);
	enc_adapt_cycle(&a, &(struct enc_cycle){ .wall_us = 30000000,
						  .wait_us = 40000000,
						  .bytes = 1u << 20 });
	ck_assert_uint_ge(a.level, ENC_ADAPT_LEVELS - 1);
	enc_adapt_cycle(&a, &(struct enc_cycle){ .wall_us = 30000000,
						  .wait_us = 0,
						  .bytes = 1u << 20 });
	ck_assert_uint_ge(a.level, ENC_ADAPT_LEVELS - 2);
	for (w = 0; w < 100 && a.level < ENC_ADAPT_LEVELS; w++)
		window(&a, 60, 90, 30, 2500);
	ck_assert_uint_eq(a.level, ENC_ADAPT_LEVELS);
	ck_assert_uint_le(a.path_rate, 60);
}
END_TEST

static void text_page(uint8_t *p, unsigned seed)
{
	static const char *const w[] = { "select", "from", "where", "the",
					 "page", "null", "index", "value" };
	size_t n = 0;

	while (n < ENC_PAGE) {
		const char *s = w[(seed = seed * 1103515245u + 12345u) >> 16 & 7];

		for (size_t i = 0; s[i] && n < ENC_PAGE; i++)
			p[n++] = (uint8_t)s[i];
		if (n < ENC_PAGE)
			p[n++] = ' ';
	}
}

static void random_page(uint8_t *p, unsigned seed)
{
	srand(seed);
	for (size_t i = 0; i < ENC_PAGE; i++)
		p[i] = (uint8_t)rand();
}

START_TEST(looks_random)
{
	static uint8_t page[ENC_PAGE];

	for (unsigned s = 1; s <= 50; s++) {
		random_page(page, s);
		ck_assert(zpage_looks_random(page));
		text_page(page, s);
		ck_assert(!zpage_looks_random(page));
	}
	/* Few distinct bytes, or one repeated, is not random. */
	for (size_t i = 0; i < ENC_PAGE; i++)
		page[i] = (uint8_t)(i % 100);
	ck_assert(!zpage_looks_random(page));
	memset(page, 0xcc, sizeof(page));
	ck_assert(!zpage_looks_random(page));
}
END_TEST

/* Not adaptive (how the wire tests and the urgent channel use it): every
 * text page compressed, each decompresses to the exact page; random pages
 * stay raw. */
START_TEST(ctx_every_page)
{
	static uint8_t page[ENC_PAGE], back[ENC_PAGE];
	struct enc_config cfg = { .compression = VMMIG_COMPRESS_ZSTD,
				  .zstd_level = 1 };
	ZSTD_DCtx *d = zpage_dctx_new();
	const char *why = NULL;
	struct enc_ctx *e;

	ck_assert_int_eq(enc_ctx_new(&cfg, &e), 0);
	ck_assert_uint_eq(enc_ctx_zstd_effort(e), ENC_ADAPT_ONE);
	for (unsigned s = 1; s <= 64; s++) {
		int n;

		text_page(page, s);
		n = enc_zstd_page(e, page);
		ck_assert_int_gt(n, 0);
		ck_assert_int_le(n, (int)(ENC_PAGE - ENC_ZSTD_SAVING));
		memset(back, 0, sizeof(back));
		ck_assert_int_eq(zpage_decompress(d, e->scratch, (size_t)n,
						  back, &why), 0);
		ck_assert_mem_eq(back, page, ENC_PAGE);
		random_page(page, s);
		ck_assert_int_eq(enc_zstd_page(e, page), 0);
	}
	/* Sends do not move a fixed effort. */
	for (int i = 0; i < 100; i++)
		enc_ctx_send_done(e, 1u << 20);
	ck_assert_uint_eq(enc_ctx_zstd_effort(e), ENC_ADAPT_ONE);
	enc_ctx_free(e);
	ZSTD_freeDCtx(d);
}
END_TEST

/* Adaptive: starts probing (1 page of 64), and its sends feed the
 * effort (here they never block: it stays there). */
START_TEST(ctx_adaptive)
{
	static uint8_t page[ENC_PAGE];
	struct enc_config cfg = { .compression = VMMIG_COMPRESS_ZSTD,
				  .zstd_level = 1, .zstd_adaptive = true };
	struct enc_ctx *e;
	unsigned done = 0;

	ck_assert_int_eq(enc_ctx_new(&cfg, &e), 0);
	ck_assert_uint_eq(enc_ctx_zstd_effort(e), ENC_ADAPT_PROBE);
	text_page(page, 3);
	for (unsigned i = 0; i < ENC_ADAPT_ONE * 4; i++)
		done += enc_zstd_page(e, page) > 0;
	ck_assert_uint_eq(done, 4 * ENC_ADAPT_PROBE);
	/* Sends that take no time at all: the thread never waits. Three
	 * windows take some 600 sends of 4 pages; bounded by count. */
	for (int i = 0; i < 100000 && e->adapt.windows < 3; i++) {
		for (int p = 0; p < 4; p++)
			enc_zstd_page(e, page);
		enc_ctx_send_done(e, 4096);
	}
	ck_assert_uint_le(enc_ctx_zstd_effort(e), enc_adapt_effort(1));
	enc_ctx_free(e);

	/* Without zstd it is all no-ops. */
	cfg.compression = VMMIG_COMPRESS_NONE;
	ck_assert_int_eq(enc_ctx_new(&cfg, &e), 0);
	enc_ctx_send_done(e, 10);
	enc_ctx_send_idle(e);
	ck_assert_int_eq(enc_zstd_page(e, page), 0);
	ck_assert_uint_eq(enc_ctx_zstd_effort(e), ENC_ADAPT_ONE);
	enc_ctx_free(e);
}
END_TEST

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, us % 1000000 * 1000 };

	while (nanosleep(&ts, &ts))
		;
}

/* The clocks as a pipelined sender uses them: between two batch sends the
 * thread also sleeps outside them (a zero-run record waits for the batches
 * queued ahead of it); that is blocking on the channel, and the window
 * shows it. Waiting for the next job after enc_ctx_send_idle() is not. */
START_TEST(ctx_sleep_between_sends_is_blocking)
{
	struct enc_config cfg = { .compression = VMMIG_COMPRESS_ZSTD,
				  .zstd_level = 1, .zstd_adaptive = true };
	struct enc_ctx *e;
	uint64_t n = 0;

	ck_assert_int_eq(enc_ctx_new(&cfg, &e), 0);
	enc_ctx_send_done(e, 4096); /* the baseline */
	/* One window of 2 ms sleeps between sends: bounded by count. */
	for (; n < 100 && e->adapt.windows < 1; n++) {
		sleep_us(2000);
		enc_ctx_send_done(e, 4096);
	}
	ck_assert_uint_eq(e->adapt.windows, 1);
	/* Every sleep is blocking (a loaded host adds run-queue time to the
	 * wall time, which is not): at least 2 ms per cycle, less a margin
	 * for the clocks' granularity. */
	ck_assert_uint_ge(e->adapt.last.wait_us, n * 1900);
	ck_assert_uint_ge(e->adapt.last.wall_us, 20000);
	/* A job ends; 50 ms waiting for the next one; its first send is a
	 * baseline, the next cycle is short: nothing of the 50 ms counts. */
	enc_ctx_send_idle(e);
	sleep_us(50000);
	enc_ctx_send_done(e, 4096);
	enc_ctx_send_done(e, 4096);
	ck_assert_uint_lt(e->adapt.win_wall_us, 20000);
	ck_assert_uint_eq(e->adapt.windows, 1);
	enc_ctx_free(e);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("encode_adapt");
	TCase *tc = tcase_create("adapt");

	tcase_add_test(tc, pick_spreads_the_effort);
	tcase_add_test(tc, slow_link_compresses_everything);
	tcase_add_test(tc, cpu_bound_compresses_less);
	tcase_add_test(tc, bursty_blocking_still_link_bound);
	tcase_add_test(tc, fast_path_stays_low);
	tcase_add_test(tc, path_not_full_backs_off);
	tcase_add_test(tc, path_faster_than_measured);
	tcase_add_test(tc, loaded_host_backs_off);
	tcase_add_test(tc, oversubscribed_host_stays_low);
	tcase_add_test(tc, nothing_to_gain_stays_low);
	tcase_add_test(tc, unmeasured_path_stays_low);
	tcase_add_test(tc, long_stall);
	tcase_add_test(tc, looks_random);
	tcase_add_test(tc, ctx_every_page);
	tcase_add_test(tc, ctx_adaptive);
	tcase_add_test(tc, ctx_sleep_between_sends_is_blocking);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
