/* SPDX-License-Identifier: MIT */
/* Zero detection and zstd of one page. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "base/page.h"
#include "encode/encode.h"
#include "testutil.h"

static uint8_t page[4096], out[4096 + 512], back[4096];

START_TEST(zero_detects_any_byte)
{
	memset(page, 0, sizeof(page));
	ck_assert(page_is_zero(page));
	for (size_t i = 0; i < 4096; i += 37) {
		page[i] = 1;
		ck_assert_msg(!page_is_zero(page), "byte %zu missed", i);
		page[i] = 0;
	}
	page[4095] = 0x80;
	ck_assert(!page_is_zero(page));
}
END_TEST

START_TEST(zero_unaligned)
{
	static uint8_t buf[4096 + 8];

	memset(buf, 0, sizeof(buf));
	ck_assert(page_is_zero(buf + 3));
	buf[3 + 4095] = 2;
	ck_assert(!page_is_zero(buf + 3));
}
END_TEST

START_TEST(zstd_round_trip)
{
	ZSTD_CCtx *c = zpage_cctx_new(1), *c3 = zpage_cctx_new(3);
	ZSTD_DCtx *d = zpage_dctx_new();
	const char *why = NULL;
	int n;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(c3);
	ck_assert_ptr_nonnull(d);
	for (size_t i = 0; i < 4096; i++)
		page[i] = (uint8_t)((i / 64) * 3);
	n = zpage_compress(c, page, out, 4096 - 128);
	ck_assert_int_gt(n, 0);
	ck_assert_int_lt(n, 4096 - 128);
	memset(back, 0xaa, sizeof(back));
	ck_assert_int_eq(zpage_decompress(d, out, (size_t)n, back, &why), 0);
	ck_assert_mem_eq(back, page, 4096);

	/* Random data does not fit under the saving threshold. */
	srand(7);
	for (size_t i = 0; i < 4096; i++)
		page[i] = (uint8_t)rand();
	ck_assert_int_eq(zpage_compress(c, page, out, 4096 - 128), -ENOSPC);

	/* A truncated frame, and trailing garbage, are rejected. */
	memset(page, 0x11, sizeof(page));
	n = zpage_compress(c3, page, out, sizeof(out));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(zpage_decompress(d, out, (size_t)n - 1, back, &why),
			 -EPROTO);
	out[n] = 0;
	ck_assert_int_eq(zpage_decompress(d, out, (size_t)n + 1, back, &why),
			 -EPROTO);
	ck_assert_str_eq(why, "zstd page is not exactly one zstd frame");
	ZSTD_freeCCtx(c);
	ZSTD_freeCCtx(c3);
	ZSTD_freeDCtx(d);
}
END_TEST

START_TEST(zstd_wrong_sizes)
{
	static uint8_t big[8192], frame[16384];
	ZSTD_DCtx *d = zpage_dctx_new();
	const char *why = NULL;
	size_t n;

	memset(big, 5, sizeof(big));
	n = ZSTD_compress(frame, sizeof(frame), big, sizeof(big), 1);
	ck_assert(!ZSTD_isError(n));
	ck_assert_int_eq(zpage_decompress(d, frame, n, back, &why), -EPROTO);
	ck_assert_str_eq(why, "zstd page decompresses to more than 4096 bytes");

	n = ZSTD_compress(frame, sizeof(frame), big, 100, 1);
	ck_assert(!ZSTD_isError(n));
	ck_assert_int_eq(zpage_decompress(d, frame, n, back, &why), -EPROTO);
	ck_assert_str_eq(why,
			 "zstd page decompresses to fewer than 4096 bytes");

	/* Without a content size in the header the output bound still holds. */
	{
		ZSTD_CCtx *c = ZSTD_createCCtx();

		ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
		n = ZSTD_compress2(c, frame, sizeof(frame), big, sizeof(big));
		ck_assert(!ZSTD_isError(n));
		ck_assert_int_eq(zpage_decompress(d, frame, n, back, &why),
				 -EPROTO);
		ck_assert_str_eq(why,
			"zstd page decompresses to more than 4096 bytes");
		ZSTD_freeCCtx(c);
	}
	ZSTD_freeDCtx(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("encode_page");
	TCase *tc = tcase_create("page");

	tcase_add_test(tc, zero_detects_any_byte);
	tcase_add_test(tc, zero_unaligned);
	tcase_add_test(tc, zstd_round_trip);
	tcase_add_test(tc, zstd_wrong_sizes);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
