/* SPDX-License-Identifier: MIT */
/*
 * Page encodings (private): zero detection, zstd of one page or of a run
 * of pages, the delta format and the source's cache of sent pages. Every
 * function here works on 4096-byte pages; none of them takes a lock (one
 * context per thread).
 * This part knows nothing of records: lib/wire builds on it, never the
 * other way round.
 */
#ifndef VMMIG_LIB_ENCODE_H
#define VMMIG_LIB_ENCODE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#include "base/base.h"

#define ENC_PAGE 4096u

/* Largest delta the sender accepts (else it sends zstd or raw) and the
 * largest the receiver takes; a delta never beats raw above one page. */
#define ENC_DELTA_ACCEPT (3u * ENC_PAGE / 4u)
#define ENC_DELTA_MAX ENC_PAGE
/* zstd must save at least this much over raw to be worth sending. */
#define ENC_ZSTD_SAVING 128u

/* ---- zstd_page.c ---- */
/* A compression context for pages at @level, or NULL (out of memory or a
 * level zstd refuses). Free with ZSTD_freeCCtx(). */
ZSTD_CCtx *zpage_cctx_new(int level);
/* Compress one page into @dst (capacity @cap). Return the frame size, or
 * -ENOSPC if it does not fit in @cap, or -EIO on another zstd error. */
int zpage_compress(ZSTD_CCtx *c, const void *page, void *dst, size_t cap);
/* True when a sample of the page looks like uniformly random bytes, which
 * zstd cannot shrink: much cheaper than letting zstd find out. */
bool zpage_looks_random(const void *page);
/* Decompress one frame of exactly @len bytes that must produce exactly
 * 4096 bytes into @page. Return 0 or -EPROTO with *@why set. */
int zpage_decompress(ZSTD_DCtx *d, const void *src, size_t len, void *page,
		     const char **why);
/* A decompression context limited to small windows (pages are 4 KiB). */
ZSTD_DCtx *zpage_dctx_new(void);

/* ---- zstd_run.c ---- */
/* Most pages of one run (a PAGES record's). */
#define ENC_RUN_MAX 64u
/* Compress the @n pages at @pages[0..n) as one frame of n * 4096 bytes
 * into @dst (capacity @cap), with @c's parameters. Return the frame size,
 * -ENOSPC if it does not fit in @cap, or -EIO on another zstd error. */
int zrun_compress(ZSTD_CCtx *c, const uint8_t *const *pages, unsigned n,
		  void *dst, size_t cap);
/* Decompress one frame of exactly @len bytes that must produce exactly
 * @n * 4096 bytes into @out. Return 0 or -EPROTO with *@why set. */
int zrun_decompress(ZSTD_DCtx *d, const void *src, size_t len, unsigned n,
		    void *out, const char **why);
/* What a frame was found to be, in the words of its kind (page or run). */
struct zframe_why {
	const char *not_one_frame, *bad_header, *too_big, *too_small, *corrupt;
	const char *too_wide;
};
/* The strict check both share: exactly one frame of @len bytes, a content
 * size (if given) of @size, a window of at most 1 MiB, and exactly @size
 * bytes out. */
int zframe_decompress(ZSTD_DCtx *d, const void *src, size_t len, void *out,
		      size_t size, const struct zframe_why *w,
		      const char **why);

/* ---- enc_adapt.c ---- */
/* Which share of the pages to compress, from whether the sending thread
 * waits for its channel, how fast the path is and what zstd costs and
 * saves (the policy is explained at the top of enc_adapt.c). Pure: fed
 * with measurements. */
#define ENC_ADAPT_ONE 256u  /* effort: compress this many pages of 256 */
#define ENC_ADAPT_PROBE 4u  /* level 0 until the rule has decided: 1 page
			     * of 64, the saving and cost measured */
#define ENC_ADAPT_MIN 1u    /* level 0 once zstd is found not to pay: 1
			     * page of 256 keeps them measured */
#define ENC_ADAPT_LEVELS 8u /* effort levels 0..8: PROBE or MIN, then
			     * 1/8, 2/8, ... 8/8 of the pages */
#define ENC_ADAPT_GAIN 2u   /* climb while the path < up to this x zstd's
			     * gain */
/* One window's figures, as the rule saw them (for the debug log). */
struct enc_window {
	uint64_t wall_us, wait_us, cpu_us, bytes, cost_ns, saved;
};
struct enc_adapt {
	unsigned level;         /* 0..ENC_ADAPT_LEVELS */
	unsigned effort;        /* enc_adapt_effort(level) */
	unsigned acc;           /* spreads the effort over the pages */
	uint64_t attempts;      /* pages given to zstd (or its pre-check) */
	uint64_t windows;       /* windows measured */
	uint64_t path_rate;     /* bytes/us sent at a low level (average) */
	uint64_t rate_windows;  /* windows that measured it */
	uint64_t cost_ns, saved; /* recent attempts: ns, bytes saved */
	/* The recent windows (smoothed): time, blocked, on a CPU; sent. */
	uint64_t wall_us, wait_us, cpu_us, bytes;
	/* The current window: the thread's time, the part blocked in sends,
	 * the part on a CPU; bytes sent; zstd's ns and bytes saved. */
	uint64_t win_wall_us, win_wait_us, win_cpu_us, win_bytes;
	uint64_t win_cost_ns, win_saved;
	struct enc_window last; /* the last window closed */
};
/* One batch sent, as the sending thread saw it from the end of its
 * previous send to the end of this one (time it slept outside the sends,
 * idle, is left out). */
struct enc_cycle {
	uint64_t wall_us;  /* encoding and sending */
	uint64_t wait_us;  /* of which blocked in the send (not preempted) */
	uint64_t cpu_us;   /* of which on a CPU (the rest: preempted) */
	uint64_t bytes;    /* sent */
};
void enc_adapt_init(struct enc_adapt *a);
/* The effort (pages of ENC_ADAPT_ONE) of a level. */
unsigned enc_adapt_effort(unsigned level);
/* Whether to try compressing the next page with contents. */
bool enc_adapt_pick(struct enc_adapt *a);
/* One try: its wall time and the bytes it saved (0: sent raw). */
void enc_adapt_attempt(struct enc_adapt *a, uint64_t cost_ns, unsigned saved);
/* Account one send; at the end of a window, move the level and return
 * true (a->last holds the window). */
bool enc_adapt_cycle(struct enc_adapt *a, const struct enc_cycle *c);

/* ---- enc_zstd.c ---- */
struct enc_ctx;
/* Whether the next page with contents goes to zstd: the effort picks it
 * and it does not look random (a picked page that does is accounted as a
 * try that saved nothing). When true, *@look_ns is what the look cost:
 * the caller passes it on to enc_zstd_run() with the page. */
bool enc_zstd_wants(struct enc_ctx *e, const uint8_t *page,
		    uint64_t *look_ns);
/* Compress the @n (1..ENC_RUN_MAX) pages @pages that enc_zstd_wants()
 * took, whose looks cost @look_ns, as one frame: n = 1 a ZSTD page in
 * e->scratch, else a run in e->run_buf; *@frame points at it. Accounted as
 * one try with the effort. Return the frame length (> 0), or 0 when it
 * does not save ENC_ZSTD_SAVING per page: send the pages as they are. */
int enc_zstd_run(struct enc_ctx *e, const uint8_t *const *pages, unsigned n,
		 uint64_t look_ns, const uint8_t **frame);
/* Compress the page at @copy into e->scratch if the effort picks it and it
 * does not look random. Return the frame length (> 0), or 0: send it as it
 * is. */
int enc_zstd_page(struct enc_ctx *e, const uint8_t *copy);
/* The sending thread of @e calls this after each send of a batch, with
 * @bytes the batch's and those of other records it sent since the last
 * call (a no-op unless compressing with cfg.zstd_adaptive). It reads the
 * thread's clocks: wall, CPU and run-queue time, hence how long the thread
 * was blocked on its channel since the previous call. */
void enc_ctx_send_done(struct enc_ctx *e, size_t bytes);
/* The sending thread is about to sleep for another reason than its
 * channel (waiting for its next job): the next cycle starts afresh. */
void enc_ctx_send_idle(struct enc_ctx *e);
/* The effort now (ENC_ADAPT_MIN..ENC_ADAPT_ONE; ENC_ADAPT_ONE without
 * zstd or without cfg.zstd_adaptive), for tests. */
unsigned enc_ctx_zstd_effort(const struct enc_ctx *e);

/* ---- delta.c ---- */
/*
 * Delta of @new_page against @old_page, written to @out. Return its length,
 * or -ENOSPC when it would exceed @cap (the caller then sends the page
 * another way). Format (see docs/wire-format.md): a sequence of ops
 * { uleb128 skip, uleb128 count, count literal bytes }.
 */
int delta_encode(const uint8_t *old_page, const uint8_t *new_page,
		 uint8_t *out, size_t cap);
/* Apply a delta onto @page in place. Everything is validated before the
 * first byte is written: on error the page is untouched, the return is
 * -EPROTO and *@why says what was wrong. */
int delta_apply(uint8_t *page, const uint8_t *d, size_t len,
		const char **why);

/* ---- delta_cache.c ---- */
/* Fixed-capacity cache of page copies; what it admits and evicts is
 * explained at the top of delta_cache.c. */
struct dcache;

/* @bytes / 4096 slots, all memory reserved here. -EINVAL if < 1 slot. */
int dcache_new(size_t bytes, struct dcache **out);
void dcache_free(struct dcache *c);
/* The cached copy of (region, page) or NULL. Counts a use. */
uint8_t *dcache_lookup(struct dcache *c, uint32_t region, uint64_t page);
/* A slot for (region, page); the caller fills the 4096 bytes. Returns the
 * existing slot if already cached. @hot: the page was sent before (it is
 * being re-sent): evicts another page if the cache is full. Not @hot (a
 * first send): only a free slot, else NULL. */
uint8_t *dcache_insert(struct dcache *c, uint32_t region, uint64_t page,
		       bool hot);
/* Forget (region, page) if cached. */
void dcache_drop(struct dcache *c, uint32_t region, uint64_t page);
size_t dcache_slots(const struct dcache *c);
size_t dcache_used(const struct dcache *c);

/* ---- enc_ctx.c: one sender's encoder ---- */
struct enc_ctx;
struct enc_config {
	int compression;          /* VMMIG_COMPRESS_* */
	int zstd_level;
	bool zstd_adaptive;       /* compress the share that pays (from the
				   * sender's sends, encode/enc_adapt.c);
				   * false: try every page */
	size_t delta_cache_bytes; /* 0: no delta */
	const struct logger *log; /* the zstd rule's windows at debug level;
				   * NULL: none */
	unsigned id;              /* the channel, in those lines */
};

int enc_ctx_new(const struct enc_config *cfg, struct enc_ctx **out);
void enc_ctx_free(struct enc_ctx *e);
/* Stop delta encoding and free the cache: after a post-copy switch the
 * destination no longer holds the copies the cache describes. */
void enc_ctx_drop_cache(struct enc_ctx *e);
/* The pages added from now on are sent for the first time (@on) or again:
 * the delta cache admits first sends only into free slots. */
void enc_ctx_set_first_send(struct enc_ctx *e, bool on);

/* The sending thread's clocks at a point, in ns (enc_zstd.c). */
struct enc_clock {
	uint64_t wall, cpu, runq; /* runq: waiting for a CPU */
};
struct enc_ctx {
	struct enc_config cfg;
	ZSTD_CCtx *zc;          /* NULL unless compression is zstd */
	struct enc_adapt adapt; /* how many pages zstd gets */
	int sched_fd;           /* the thread's schedstat, -1: not open */
	pthread_t sched_owner;  /* the thread that opened it */
	bool sched_tried;       /* opening it was attempted */
	bool have_end;          /* @end is valid */
	struct enc_clock end;   /* at the end of the last send */
	struct dcache *cache;   /* NULL unless delta_cache_bytes >= 4096 */
	bool first_send;        /* the pages added now were never sent */
	uint8_t *run_buf;       /* a run's frame: ZSTD_compressBound() of
				 * ENC_RUN_MAX pages, with zc */
	size_t run_cap;
	uint8_t scratch[ENC_PAGE]; /* a candidate encoding */
};

#endif /* VMMIG_LIB_ENCODE_H */
