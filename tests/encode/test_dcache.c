/* SPDX-License-Identifier: MIT */
/* The delta cache: lookups, inserts, drops, clock eviction. */
#include <errno.h>
#include <string.h>

#include "encode/encode.h"
#include "testutil.h"

START_TEST(sizes)
{
	struct dcache *c = (struct dcache *)1;

	ck_assert_int_eq(dcache_new(4095, &c), -EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(dcache_new(10 * 4096 + 100, &c), 0);
	ck_assert_uint_eq(dcache_slots(c), 10);
	ck_assert_uint_eq(dcache_used(c), 0);
	dcache_free(c);
	dcache_free(NULL);
}
END_TEST

START_TEST(lookup_insert_drop)
{
	struct dcache *c;
	uint8_t *p;

	ck_assert_int_eq(dcache_new(8 * 4096, &c), 0);
	ck_assert_ptr_null(dcache_lookup(c, 1, 5));
	p = dcache_insert(c, 1, 5, true);
	ck_assert_ptr_nonnull(p);
	memset(p, 0x15, 4096);
	p = dcache_insert(c, 2, 5, true); /* same page index, other region */
	memset(p, 0x25, 4096);
	ck_assert_uint_eq(dcache_used(c), 2);
	p = dcache_lookup(c, 1, 5);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p[0], 0x15);
	ck_assert_uint_eq(p[4095], 0x15);
	ck_assert_uint_eq(dcache_lookup(c, 2, 5)[100], 0x25);
	ck_assert_ptr_eq(dcache_insert(c, 1, 5, true), p); /* existing slot */
	dcache_drop(c, 1, 5);
	ck_assert_ptr_null(dcache_lookup(c, 1, 5));
	ck_assert_ptr_nonnull(dcache_lookup(c, 2, 5));
	ck_assert_uint_eq(dcache_used(c), 1);
	dcache_drop(c, 9, 9); /* absent: no effect */
	ck_assert_uint_eq(dcache_used(c), 1);
	dcache_free(c);
}
END_TEST

START_TEST(eviction_keeps_recent)
{
	struct dcache *c;
	unsigned present = 0;

	ck_assert_int_eq(dcache_new(16 * 4096, &c), 0);
	for (uint64_t i = 0; i < 16; i++)
		memset(dcache_insert(c, 0, i, true), (int)i, 4096);
	ck_assert_uint_eq(dcache_used(c), 16);
	/* Age everything once (the clock clears ref bits on its way). */
	memset(dcache_insert(c, 0, 100, true), 100, 4096);
	ck_assert_uint_eq(dcache_used(c), 16);
	/* Touch page 7: it must survive the next evictions. */
	ck_assert_ptr_nonnull(dcache_lookup(c, 0, 7));
	for (uint64_t i = 101; i < 105; i++)
		memset(dcache_insert(c, 0, i, true), (int)i, 4096);
	ck_assert_ptr_nonnull(dcache_lookup(c, 0, 7));
	ck_assert_uint_eq(dcache_lookup(c, 0, 7)[10], 7);
	ck_assert_uint_eq(dcache_used(c), 16);
	/* Every cached page still holds its own bytes. */
	for (uint64_t i = 0; i < 200; i++) {
		uint8_t *p = dcache_lookup(c, 0, i);

		if (!p)
			continue;
		present++;
		ck_assert_uint_eq(p[0], (uint8_t)i);
		ck_assert_uint_eq(p[4095], (uint8_t)i);
	}
	ck_assert_uint_eq(present, 16);
	dcache_free(c);
}
END_TEST

/* A first send takes only free slots; a re-send evicts, cold pages (never
 * hit) first; a page hit since stays (issue 12: a cache smaller than the
 * guest kept the tail of the first pass and never hit). */
START_TEST(admission_and_hot_set)
{
	struct dcache *c;

	ck_assert_int_eq(dcache_new(16 * 4096, &c), 0);
	for (uint64_t i = 0; i < 16; i++)
		memset(dcache_insert(c, 0, i, false), (int)i, 4096);
	ck_assert_uint_eq(dcache_used(c), 16);
	/* Full: more first sends are not admitted, nothing is evicted. */
	for (uint64_t i = 16; i < 64; i++)
		ck_assert_ptr_null(dcache_insert(c, 0, i, false));
	for (uint64_t i = 0; i < 16; i++)
		ck_assert_uint_eq(dcache_lookup(c, 0, i)[7], (uint8_t)i);
	/* Every page was hit once now; page 5 twice more. */
	ck_assert_ptr_nonnull(dcache_lookup(c, 0, 5));
	ck_assert_ptr_nonnull(dcache_lookup(c, 0, 5));
	/* Fifteen re-sent pages take fifteen slots: page 5 is the one kept. */
	for (uint64_t i = 100; i < 115; i++)
		memset(dcache_insert(c, 0, i, true), (int)i, 4096);
	ck_assert_uint_eq(dcache_used(c), 16);
	ck_assert_ptr_nonnull(dcache_lookup(c, 0, 5));
	ck_assert_uint_eq(dcache_lookup(c, 0, 5)[4095], 5);
	for (uint64_t i = 0; i < 16; i++)
		if (i != 5)
			ck_assert_ptr_null(dcache_lookup(c, 0, i));
	for (uint64_t i = 100; i < 115; i++)
		ck_assert_uint_eq(dcache_lookup(c, 0, i)[0], (uint8_t)i);
	/* Dropped slots are free again, for first sends too. */
	dcache_drop(c, 0, 100);
	dcache_drop(c, 0, 101);
	ck_assert_ptr_nonnull(dcache_insert(c, 0, 200, false));
	ck_assert_ptr_nonnull(dcache_insert(c, 0, 201, false));
	ck_assert_ptr_null(dcache_insert(c, 0, 202, false));
	ck_assert_uint_eq(dcache_used(c), 16);
	dcache_free(c);
}
END_TEST

START_TEST(churn)
{
	struct dcache *c;

	/* Many more pages than slots, with drops: the table stays sound. */
	ck_assert_int_eq(dcache_new(64 * 4096, &c), 0);
	for (uint64_t i = 0; i < 20000; i++) {
		uint64_t pg = (i * 7919) % 1000;
		uint8_t *p = dcache_insert(c, (uint32_t)(pg % 3), pg, true);

		ck_assert_ptr_nonnull(p);
		p[0] = (uint8_t)pg;
		if (i % 5 == 0)
			dcache_drop(c, (uint32_t)(pg % 3), pg);
		ck_assert_uint_le(dcache_used(c), 64);
	}
	for (uint64_t pg = 0; pg < 1000; pg++) {
		uint8_t *p = dcache_lookup(c, (uint32_t)(pg % 3), pg);

		if (p)
			ck_assert_uint_eq(p[0], (uint8_t)pg);
	}
	dcache_free(c);
}
END_TEST

START_TEST(ctx_config)
{
	struct enc_config cfg = { .compression = 1, .zstd_level = 3,
				  .delta_cache_bytes = 1 << 20 };
	struct enc_ctx *e;

	ck_assert_int_eq(enc_ctx_new(&cfg, &e), 0);
	ck_assert_ptr_nonnull(e->zc);
	ck_assert_ptr_nonnull(e->cache);
	ck_assert_uint_eq(dcache_slots(e->cache), 256);
	enc_ctx_free(e);
	cfg = (struct enc_config){ 0 };
	ck_assert_int_eq(enc_ctx_new(&cfg, &e), 0);
	ck_assert_ptr_null(e->zc);
	ck_assert_ptr_null(e->cache);
	enc_ctx_free(e);
	cfg.compression = 7;
	ck_assert_int_eq(enc_ctx_new(&cfg, &e), -EINVAL);
	cfg = (struct enc_config){ .compression = 1, .zstd_level = 1000 };
	ck_assert_int_eq(enc_ctx_new(&cfg, &e), -EINVAL);
	enc_ctx_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("encode_dcache");
	TCase *tc = tcase_create("dcache");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, sizes);
	tcase_add_test(tc, lookup_insert_drop);
	tcase_add_test(tc, eviction_keeps_recent);
	tcase_add_test(tc, churn);
	tcase_add_test(tc, admission_and_hot_set);
	tcase_add_test(tc, ctx_config);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
