/* SPDX-License-Identifier: MIT */
/*
 * Page encodings (private): zero detection, zstd of one page, the delta
 * format and the source's cache of sent pages. Every function here works on
 * one 4096-byte page; none of them takes a lock (one context per thread).
 * This part knows nothing of records: lib/wire builds on it, never the
 * other way round.
 */
#ifndef VMMIG_LIB_ENCODE_H
#define VMMIG_LIB_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#define ENC_PAGE 4096u

/* Largest delta the sender accepts (else it sends zstd or raw) and the
 * largest the receiver takes; a delta never beats raw above one page. */
#define ENC_DELTA_ACCEPT (3u * ENC_PAGE / 4u)
#define ENC_DELTA_MAX ENC_PAGE
/* zstd must save at least this much over raw to be worth sending. */
#define ENC_ZSTD_SAVING 128u

/* ---- zero.c ---- */
bool enc_page_is_zero(const void *page);

/* ---- zstd_page.c ---- */
/* Compress one page into @dst (capacity @cap). Return the frame size, or
 * -ENOSPC if it does not fit in @cap, or -EIO on another zstd error. */
int zpage_compress(ZSTD_CCtx *c, int level, const void *page, void *dst,
		   size_t cap);
/* Decompress one frame of exactly @len bytes that must produce exactly
 * 4096 bytes into @page. Return 0 or -EPROTO with *@why set. */
int zpage_decompress(ZSTD_DCtx *d, const void *src, size_t len, void *page,
		     const char **why);
/* A decompression context limited to small windows (pages are 4 KiB). */
ZSTD_DCtx *zpage_dctx_new(void);

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
	size_t delta_cache_bytes; /* 0: no delta */
};

int enc_ctx_new(const struct enc_config *cfg, struct enc_ctx **out);
void enc_ctx_free(struct enc_ctx *e);
/* Stop delta encoding and free the cache: after a post-copy switch the
 * destination no longer holds the copies the cache describes. */
void enc_ctx_drop_cache(struct enc_ctx *e);
/* The pages added from now on are sent for the first time (@on) or again:
 * the delta cache admits first sends only into free slots. */
void enc_ctx_set_first_send(struct enc_ctx *e, bool on);

struct enc_ctx {
	struct enc_config cfg;
	ZSTD_CCtx *zc;          /* NULL unless compression is zstd */
	struct dcache *cache;   /* NULL unless delta_cache_bytes >= 4096 */
	bool first_send;        /* the pages added now were never sent */
	uint8_t scratch[ENC_PAGE]; /* a candidate encoding */
};

#endif /* VMMIG_LIB_ENCODE_H */
