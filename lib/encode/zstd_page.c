/* SPDX-License-Identifier: MIT */
/*
 * zstd of one page: the compression context, a cheap look at whether a page
 * is worth compressing at all, and strict decompression of one page.
 */
#include <errno.h>
#include <string.h>

#include <zstd_errors.h>

#include "encode.h"

ZSTD_CCtx *zpage_cctx_new(int level)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();

	/*
	 * Parameters are set once, here, and every page then goes through
	 * ZSTD_compress2(), which keeps them (ZSTD_compressCCtx() takes the
	 * level on every call and rebuilds the parameters from it). No
	 * checksum: a page may be compressed straight from guest memory while
	 * the guest writes it; the frame still decodes to 4096 bytes (a torn
	 * page, dirty again and re-sent), where a checksum of the bytes read
	 * at another moment could fail. The transport and the memory digest
	 * guard page bytes (docs/wire-format.md, section 3). The content size
	 * is written, so the receiver can check it before decompressing.
	 */
	if (c && (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel,
						      level)) ||
		  ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag,
						      0)) ||
		  ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag,
						      1)))) {
		ZSTD_freeCCtx(c);
		c = NULL;
	}
	return c;
}

int zpage_compress(ZSTD_CCtx *c, const void *page, void *dst, size_t cap)
{
	size_t n = ZSTD_compress2(c, dst, cap, page, ENC_PAGE);

	if (ZSTD_isError(n))
		return ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall ?
			-ENOSPC : -EIO;
	if (n > cap)
		return -ENOSPC;
	return (int)n;
}

bool zpage_looks_random(const void *page)
{
	const uint8_t *p = page;
	uint8_t seen[256];
	unsigned distinct = 0;

	/*
	 * Every 16th byte (256 samples across the page). Uniformly random
	 * bytes give about 162 distinct values (256 * (1 - 1/e), +-6);
	 * anything zstd shrinks by ENC_ZSTD_SAVING has far fewer: text uses
	 * some 20-60, code and tables of numbers repeat bytes too. So more
	 * than half the samples being distinct means "random": 0.3 us here
	 * against 1-4 us for zstd to find out (27 us for a text page).
	 */
	memset(seen, 0, sizeof(seen));
	for (unsigned off = 0; off < ENC_PAGE; off += 16) {
		distinct += !seen[p[off]];
		seen[p[off]] = 1;
	}
	return distinct > ENC_PAGE / 16 / 2;
}

ZSTD_DCtx *zpage_dctx_new(void)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();

	/* A peer cannot make us reserve a big window for a 4 KiB page. */
	if (d && ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax,
						     20))) {
		ZSTD_freeDCtx(d);
		d = NULL;
	}
	return d;
}

int zpage_decompress(ZSTD_DCtx *d, const void *src, size_t len, void *page,
		     const char **why)
{
	static const struct zframe_why w = {
		.not_one_frame = "zstd page is not exactly one zstd frame",
		.bad_header = "zstd page has a bad frame header",
		.too_big = "zstd page decompresses to more than 4096 bytes",
		.too_small = "zstd page decompresses to fewer than 4096 bytes",
		.corrupt = "zstd page is corrupt",
		.too_wide = "zstd page asks for a window above 1 MiB",
	};

	return zframe_decompress(d, src, len, page, ENC_PAGE, &w, why);
}
