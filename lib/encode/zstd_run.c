/* SPDX-License-Identifier: MIT */
/*
 * zstd of a run of pages: n consecutive pages of a record as one frame
 * (WIRE_ENC_ZSTD_RUN, docs/wire-format.md 5.2), compressed straight from
 * guest memory, and the strict decoder that pages and runs share.
 *
 * One frame for many pages gains twice over a frame per page: the matches
 * of a page may point into the pages before it (text-like pages: 33 % of
 * the input for 16 pages against 38 % per page at level 1), and zstd's
 * per-frame set-up is paid once (22 us per page against 37 here).
 */
#include <errno.h>

#include <zstd_errors.h>

#include "encode.h"

int zrun_compress(ZSTD_CCtx *c, const uint8_t *const *pages, unsigned n,
		  void *dst, size_t cap)
{
	ZSTD_outBuffer out = { dst, cap, 0 };

	/*
	 * The size is pledged, so zstd fits its tables to it (a window of at
	 * most 256 KiB) and writes it in the frame header: the receiver
	 * checks it before decompressing. A page the guest writes while it
	 * is read here still gives n * 4096 bytes of input, so the frame
	 * still decodes to exactly the run's size: that page is torn, dirty
	 * again, and its next copy follows (docs section 3). zstd copies the
	 * pages into its own block buffer; this side copies nothing.
	 */
	if (ZSTD_isError(ZSTD_CCtx_reset(c, ZSTD_reset_session_only)) ||
	    ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(
		    c, (unsigned long long)n * ENC_PAGE)))
		return -EIO;
	for (unsigned i = 0; i < n;) {
		unsigned k = 1;
		ZSTD_EndDirective end;
		ZSTD_inBuffer in;
		size_t left;

		/* Pages adjacent in memory (the usual case) go in as one
		 * piece. */
		while (i + k < n && pages[i + k] == pages[i] + k * ENC_PAGE)
			k++;
		in = (ZSTD_inBuffer){ pages[i], (size_t)k * ENC_PAGE, 0 };
		end = i + k == n ? ZSTD_e_end : ZSTD_e_continue;
		do {
			left = ZSTD_compressStream2(c, &out, &in, end);
			if (ZSTD_isError(left))
				return ZSTD_getErrorCode(left) ==
						       ZSTD_error_dstSize_tooSmall
					       ? -ENOSPC : -EIO;
			if (out.pos == out.size &&
			    (left || in.pos < in.size))
				return -ENOSPC;
		} while (end == ZSTD_e_end ? left != 0 : in.pos < in.size);
		i += k;
	}
	return (int)out.pos;
}

/*
 * Whether a zstd frame (RFC 8878 3.1.1.1) asks for a window above 1 MiB.
 * Decoding a whole frame at once reserves nothing for the window (zstd
 * then ignores ZSTD_d_windowLogMax), but a sender has no reason to ask
 * for more than 1 MiB for at most 64 pages: refused, as the format says.
 * A single-segment frame's window is its content size, checked apart.
 */
static bool window_too_big(const uint8_t *f, size_t len)
{
	unsigned exp;
	uint64_t base;

	if (len < 6 || f[0] != 0x28 || f[1] != 0xb5 || f[2] != 0x2f ||
	    f[3] != 0xfd || (f[4] & 0x20))
		return false; /* not a zstd frame, or single segment */
	exp = f[5] >> 3;
	base = 1ull << (10 + exp);
	return base + base / 8 * (f[5] & 7u) > (1u << 20);
}

int zframe_decompress(ZSTD_DCtx *d, const void *src, size_t len, void *out,
		      size_t size, const struct zframe_why *w,
		      const char **why)
{
	unsigned long long csize;
	size_t fsize, n;

	/* Exactly one frame, nothing after it. */
	fsize = ZSTD_findFrameCompressedSize(src, len);
	if (ZSTD_isError(fsize) || fsize != len) {
		*why = w->not_one_frame;
		return -EPROTO;
	}
	/* A content size in the header must be the expected one: checked
	 * before any work. */
	csize = ZSTD_getFrameContentSize(src, len);
	if (csize == ZSTD_CONTENTSIZE_ERROR) {
		*why = w->bad_header;
		return -EPROTO;
	}
	if (csize != ZSTD_CONTENTSIZE_UNKNOWN && csize != size) {
		*why = csize > size ? w->too_big : w->too_small;
		return -EPROTO;
	}
	if (window_too_big(src, len)) {
		*why = w->too_wide;
		return -EPROTO;
	}
	n = ZSTD_decompressDCtx(d, out, size, src, len);
	if (ZSTD_isError(n)) {
		*why = ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall
			       ? w->too_big : w->corrupt;
		return -EPROTO;
	}
	if (n != size) {
		*why = w->too_small;
		return -EPROTO;
	}
	return 0;
}

int zrun_decompress(ZSTD_DCtx *d, const void *src, size_t len, unsigned n,
		    void *out, const char **why)
{
	static const struct zframe_why w = {
		.not_one_frame = "zstd run is not exactly one zstd frame",
		.bad_header = "zstd run has a bad frame header",
		.too_big = "zstd run decompresses to more than its pages",
		.too_small = "zstd run decompresses to fewer than its pages",
		.corrupt = "zstd run is corrupt",
		.too_wide = "zstd run asks for a window above 1 MiB",
	};

	return zframe_decompress(d, src, len, out, (size_t)n * ENC_PAGE, &w,
				 why);
}
