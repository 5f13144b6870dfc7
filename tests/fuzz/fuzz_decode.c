/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the page decoders alone, each with a round-trip check.
 * Input: a mode byte, then a payload. Mode bits 0-1 pick the decoder:
 *   0 ZERO  the payload, zero-padded to a page, against page_is_zero;
 *   1 RAW   the payload as a page's contents: delta- and zstd-encoded
 *           against a base page, decoded again, must come back whole;
 *   2 ZSTD  zpage_decompress; a page it accepts must survive compressing
 *           and decompressing again;
 *   3 DELTA delta_apply on a base page (bits 2-7 seed it): rejected, the
 *           page is untouched; accepted, delta_encode of the change
 *           reproduces it.
 * Any broken promise aborts (a libFuzzer crash).
 */
#include <stdlib.h>
#include <string.h>

#include "base/page.h"
#include "encode/encode.h"
#include "fuzz.h"

static ZSTD_DCtx *dctx;
static ZSTD_CCtx *cctx;

static void check(int ok)
{
	if (!ok)
		abort();
}

static void base_page(uint8_t *page, unsigned seed)
{
	/* Runs of equal bytes and changing ones: deltas against it vary. */
	for (unsigned i = 0; i < ENC_PAGE; i++)
		page[i] = (uint8_t)(seed & 1 ? (i / 97) * seed : i * seed);
}

/* @next from @old by delta and by zstd, both must decode back to it. */
static void round_trip(const uint8_t *old, const uint8_t *next)
{
	static uint8_t enc[ENC_PAGE * 2], page[ENC_PAGE];
	const char *why = NULL;
	int n;

	n = delta_encode(old, next, enc, ENC_DELTA_MAX);
	if (n >= 0) {
		memcpy(page, old, ENC_PAGE);
		check(delta_apply(page, enc, (size_t)n, &why) == 0);
		check(memcmp(page, next, ENC_PAGE) == 0);
	}
	n = zpage_compress(cctx, next, enc, sizeof(enc));
	check(n > 0);
	check(zpage_decompress(dctx, enc, (size_t)n, page, &why) == 0);
	check(memcmp(page, next, ENC_PAGE) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero[ENC_PAGE];
	static uint8_t base[ENC_PAGE], page[ENC_PAGE];
	const uint8_t *p = data + 1;
	size_t n = size ? size - 1 : 0;
	const char *why = NULL;
	unsigned mode = size ? data[0] : 0;

	if (!dctx) {
		dctx = zpage_dctx_new();
		cctx = zpage_cctx_new(1);
		check(dctx && cctx);
	}
	base_page(base, mode >> 2);
	switch (mode & 3) {
	case 0:
		memset(page, 0, ENC_PAGE);
		memcpy(page, p, n < ENC_PAGE ? n : ENC_PAGE);
		check(page_is_zero(page) ==
		      (memcmp(page, zero, ENC_PAGE) == 0));
		break;
	case 1:
		memset(page, 0, ENC_PAGE);
		memcpy(page, p, n < ENC_PAGE ? n : ENC_PAGE);
		round_trip(base, page);
		break;
	case 2:
		if (zpage_decompress(dctx, p, n, page, &why) == 0)
			round_trip(base, page);
		else
			check(why != NULL);
		break;
	case 3:
		memcpy(page, base, ENC_PAGE);
		if (delta_apply(page, p, n, &why) == 0) {
			round_trip(base, page);
		} else {
			check(why != NULL);
			check(memcmp(page, base, ENC_PAGE) == 0);
		}
		break;
	}
	return 0;
}
