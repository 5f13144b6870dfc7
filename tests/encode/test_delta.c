/* SPDX-License-Identifier: MIT */
/* The delta format: round trips at many change densities, strict decoder. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "encode/encode.h"
#include "testutil.h"

static uint8_t oldp[4096], newp[4096], work[4096], d[8192];

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

START_TEST(round_trip_densities)
{
	/* density in 1/1000 of bytes changed; runs of random length */
	static const unsigned dens[] = { 0, 1, 5, 20, 100, 300, 600, 1000 };
	const char *why = NULL;
	unsigned accepted = 0;

	for (unsigned k = 0; k < sizeof(dens) / sizeof(dens[0]); k++) {
		for (int iter = 0; iter < 50; iter++) {
			for (size_t i = 0; i < 4096; i++)
				oldp[i] = (uint8_t)rnd();
			memcpy(newp, oldp, 4096);
			for (size_t i = 0; i < 4096; i++)
				if (rnd() % 1000 < dens[k]) {
					size_t run = 1 + rnd() % 12;

					for (size_t j = i; j < i + run && j < 4096; j++)
						newp[j] = (uint8_t)rnd();
				}
			int n = delta_encode(oldp, newp, d, ENC_DELTA_MAX);

			if (dens[k] == 0)
				ck_assert_int_eq(n, 2);
			if (dens[k] <= 100)
				ck_assert_int_gt(n, 0);
			if (n > 0) {
				memcpy(work, oldp, 4096);
				ck_assert_int_eq(delta_apply(work, d, (size_t)n,
							     &why), 0);
				ck_assert_mem_eq(work, newp, 4096);
			} else {
				ck_assert_int_eq(n, -ENOSPC);
			}
			/* Under the acceptance cap the result is identical. */
			n = delta_encode(oldp, newp, d, ENC_DELTA_ACCEPT - 1);
			if (n > 0) {
				accepted++;
				memcpy(work, oldp, 4096);
				ck_assert_int_eq(delta_apply(work, d, (size_t)n,
							     &why), 0);
				ck_assert_mem_eq(work, newp, 4096);
			} else {
				ck_assert_int_eq(n, -ENOSPC);
			}
		}
	}
	ck_assert_uint_gt(accepted, 100);
}
END_TEST

START_TEST(single_byte_edges)
{
	const char *why = NULL;

	memset(oldp, 0x5a, 4096);
	for (size_t pos = 0; pos < 4096; pos += 511) {
		memcpy(newp, oldp, 4096);
		newp[pos] ^= 1;
		newp[4095] ^= 0x10;
		int n = delta_encode(oldp, newp, d, sizeof(d));

		ck_assert_int_gt(n, 0);
		ck_assert_int_le(n, 12); /* two tiny ops, or one 8-byte run */
		memcpy(work, oldp, 4096);
		ck_assert_int_eq(delta_apply(work, d, (size_t)n, &why), 0);
		ck_assert_mem_eq(work, newp, 4096);
	}
}
END_TEST

static void expect_bad(const uint8_t *delta, size_t len, const char *msg)
{
	const char *why = NULL;

	memset(work, 0x33, 4096);
	ck_assert_int_eq(delta_apply(work, delta, len, &why), -EPROTO);
	ck_assert_str_eq(why, msg);
	for (size_t i = 0; i < 4096; i++)
		ck_assert_msg(work[i] == 0x33, "page touched at %zu", i);
}

START_TEST(decoder_rejects)
{
	/* skip 4000 (0xa0 0x1f), count 200 (0xc8 0x01): past the end */
	static const uint8_t past[] = { 0xa0, 0x1f, 0xc8, 0x01 };
	/* skip 4096, count 1 */
	static const uint8_t past2[] = { 0x80, 0x20, 0x01, 0x7f };
	/* count 5 but 2 bytes follow */
	static const uint8_t trunc[] = { 0x00, 0x05, 0x01, 0x02 };
	/* a varint needing a third byte, an overlong one, a dangling one */
	static const uint8_t vbig[] = { 0x80, 0x80, 0x01, 0x00 };
	static const uint8_t vlong[] = { 0x80, 0x00, 0x00 };
	static const uint8_t vcut[] = { 0x00, 0x81 };
	/* a valid op first, then one that overruns: nothing may be applied */
	static const uint8_t late[] = { 0x00, 0x01, 0xee, 0xff, 0x1f, 0x02,
					0x01, 0x02 };
	const char *why = NULL;

	expect_bad(past, sizeof(past), "delta page runs past the end of the page");
	expect_bad(past2, sizeof(past2), "delta page runs past the end of the page");
	expect_bad(trunc, sizeof(trunc), "delta page is truncated");
	expect_bad(vbig, sizeof(vbig), "delta page has a malformed varint");
	expect_bad(vlong, sizeof(vlong), "delta page has a malformed varint");
	expect_bad(vcut, sizeof(vcut), "delta page is truncated");
	expect_bad(late, sizeof(late), "delta page runs past the end of the page");
	expect_bad(past, 0, "delta page has a bad length");
	ck_assert_int_eq(delta_apply(work, d, 4097, &why), -EPROTO);
}
END_TEST

START_TEST(fuzz_decoder_bounded)
{
	const char *why;

	/* Random deltas either apply inside the page or are refused. */
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = 1 + rnd() % 64;

		for (size_t i = 0; i < len; i++)
			d[i] = (uint8_t)(rnd() % 4 ? rnd() % 0x30 : rnd());
		why = NULL;
		int ret = delta_apply(work, d, len, &why);

		ck_assert(ret == 0 || (ret == -EPROTO && why));
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("encode_delta");
	TCase *tc = tcase_create("delta");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, round_trip_densities);
	tcase_add_test(tc, single_byte_edges);
	tcase_add_test(tc, decoder_rejects);
	tcase_add_test(tc, fuzz_decoder_bounded);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
