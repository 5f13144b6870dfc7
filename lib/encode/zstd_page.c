/* SPDX-License-Identifier: MIT */
/* zstd compression of one page, and strict decompression of one page. */
#include <errno.h>

#include <zstd_errors.h>

#include "encode.h"

int zpage_compress(ZSTD_CCtx *c, int level, const void *page, void *dst,
		   size_t cap)
{
	size_t n = ZSTD_compressCCtx(c, dst, cap, page, ENC_PAGE, level);

	if (ZSTD_isError(n))
		return ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall ?
			-ENOSPC : -EIO;
	if (n > cap)
		return -ENOSPC;
	return (int)n;
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
	unsigned long long csize;
	size_t fsize, n;

	/* Exactly one frame, nothing after it. */
	fsize = ZSTD_findFrameCompressedSize(src, len);
	if (ZSTD_isError(fsize) || fsize != len) {
		*why = "zstd page is not exactly one zstd frame";
		return -EPROTO;
	}
	csize = ZSTD_getFrameContentSize(src, len);
	if (csize == ZSTD_CONTENTSIZE_ERROR) {
		*why = "zstd page has a bad frame header";
		return -EPROTO;
	}
	if (csize != ZSTD_CONTENTSIZE_UNKNOWN && csize > ENC_PAGE) {
		*why = "zstd page decompresses to more than 4096 bytes";
		return -EPROTO;
	}
	n = ZSTD_decompressDCtx(d, page, ENC_PAGE, src, len);
	if (ZSTD_isError(n)) {
		*why = ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall ?
			"zstd page decompresses to more than 4096 bytes" :
			"zstd page is corrupt";
		return -EPROTO;
	}
	if (n != ENC_PAGE) {
		*why = "zstd page decompresses to fewer than 4096 bytes";
		return -EPROTO;
	}
	return 0;
}
