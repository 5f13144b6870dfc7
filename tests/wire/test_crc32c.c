/* SPDX-License-Identifier: MIT */
/* CRC32C: vectors, hardware == software, chaining; prints throughput. */
#include <stdio.h>
#include <time.h>

#include "wiretest.h"

START_TEST(vectors)
{
	static const uint8_t zeros[32], ones[32] = {
		[0 ... 31] = 0xff };
	uint8_t inc[32];

	for (int i = 0; i < 32; i++)
		inc[i] = (uint8_t)i;
	ck_assert_uint_eq(vmmig_crc32c(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(vmmig_crc32c_sw(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(vmmig_crc32c(0, "", 0), 0);
	/* RFC 3720 (iSCSI) B.4 test vectors */
	ck_assert_uint_eq(vmmig_crc32c(0, zeros, 32), 0x8A9136AAu);
	ck_assert_uint_eq(vmmig_crc32c(0, ones, 32), 0x62A8AB43u);
	ck_assert_uint_eq(vmmig_crc32c(0, inc, 32), 0x46DD794Eu);
	ck_assert_uint_eq(vmmig_crc32c_sw(0, inc, 32), 0x46DD794Eu);
}
END_TEST

START_TEST(hw_matches_sw)
{
	static uint8_t buf[20000];
	uint32_t s = 99;

	fill_random(buf, sizeof(buf), &s);
	/* All short lengths at every alignment, then long ones that cross
	 * the 3-stream block size in various ways. */
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len < 300; len++)
			ck_assert_uint_eq(vmmig_crc32c(7, buf + off, len),
					  vmmig_crc32c_sw(7, buf + off, len));
	for (int i = 0; i < 300; i++) {
		size_t off = xrand(&s) % 64, len = xrand(&s) % 16000;

		ck_assert_uint_eq(vmmig_crc32c(0, buf + off, len),
				  vmmig_crc32c_sw(0, buf + off, len));
	}
	for (size_t len = 3068; len < 3080; len++)
		ck_assert_uint_eq(vmmig_crc32c(0, buf, len),
				  vmmig_crc32c_sw(0, buf, len));
	ck_assert_uint_eq(vmmig_crc32c(0, buf, sizeof(buf)),
			  vmmig_crc32c_sw(0, buf, sizeof(buf)));
}
END_TEST

START_TEST(chaining)
{
	static uint8_t buf[10000];
	uint32_t s = 5;

	fill_random(buf, sizeof(buf), &s);
	for (int i = 0; i < 200; i++) {
		size_t n = xrand(&s) % sizeof(buf), a = xrand(&s) % (n + 1);
		uint32_t whole = vmmig_crc32c(0, buf, n);

		ck_assert_uint_eq(vmmig_crc32c(vmmig_crc32c(0, buf, a),
					       buf + a, n - a), whole);
		ck_assert_uint_eq(vmmig_crc32c_sw(vmmig_crc32c_sw(0, buf, a),
						  buf + a, n - a), whole);
	}
}
END_TEST

START_TEST(combine)
{
	static uint8_t buf[20000];
	uint32_t s = 11;

	fill_random(buf, sizeof(buf), &s);
	/* crc(A||B) from crc(A), crc(B), |B|: any split, B empty too. */
	for (int i = 0; i < 300; i++) {
		size_t n = xrand(&s) % sizeof(buf), a = xrand(&s) % (n + 1);

		ck_assert_uint_eq(vmmig_crc32c_combine(vmmig_crc32c(0, buf, a),
						       vmmig_crc32c(0, buf + a,
								    n - a),
						       n - a),
				  vmmig_crc32c_sw(0, buf, n));
	}
	ck_assert_uint_eq(vmmig_crc32c_combine(0x12345678u, 0, 0),
			  0x12345678u);
}
END_TEST

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Informational: MB/s of both paths and of memcpy, not asserted. */
START_TEST(throughput)
{
	size_t n = 1 << 20;
	uint8_t *a = malloc(n), *b = malloc(n);
	uint32_t s = 1, sink = 0;
	double t, hw, sw, mc;

	fill_random(a, n, &s);
	t = now_s();
	for (int i = 0; i < 64; i++)
		sink += vmmig_crc32c(0, a, n);
	hw = 64.0 * n / (now_s() - t) / 1e6;
	t = now_s();
	for (int i = 0; i < 16; i++)
		sink += vmmig_crc32c_sw(0, a, n);
	sw = 16.0 * n / (now_s() - t) / 1e6;
	t = now_s();
	for (int i = 0; i < 64; i++) {
		memcpy(b, a, n);
		sink += b[i];
	}
	mc = 64.0 * n / (now_s() - t) / 1e6;
	printf("crc32c: hw %.0f MB/s, sw %.0f MB/s, memcpy %.0f MB/s (%u)\n",
	       hw, sw, mc, sink & 1);
	free(a);
	free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire_crc32c");
	TCase *tc = tcase_create("crc32c");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, vectors);
	tcase_add_test(tc, hw_matches_sw);
	tcase_add_test(tc, chaining);
	tcase_add_test(tc, combine);
	tcase_add_test(tc, throughput);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
