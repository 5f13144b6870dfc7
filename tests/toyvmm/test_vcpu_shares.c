/* SPDX-License-Identifier: MIT */
/*
 * How toyvmm splits a workload between vCPUs (workloads.c, the code the
 * KVM payload and the software guest both run): every vCPU gets its own
 * disjoint, in-bounds share of the workload area and its own heartbeat;
 * a state blob naming another vCPU or leaving memory is refused. Runs
 * without KVM.
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "workloads.h"

#define MEM (64ull << 20)

static uint8_t *boot(uint32_t kind, uint32_t arg, uint32_t nvcpus,
		     struct toy_shared **sh)
{
	uint8_t *mem = calloc(1, MEM);

	ck_assert_ptr_nonnull(mem);
	*sh = (struct toy_shared *)(mem + TOY_SHARED_GPA);
	(*sh)->magic = TOY_MAGIC;
	(*sh)->kind = kind;
	(*sh)->arg = arg;
	(*sh)->mem_size = MEM;
	(*sh)->tsc_hz = 1000000000ull;
	(*sh)->nvcpus = nvcpus;
	return mem;
}

static void check_shares(uint32_t kind, uint32_t arg)
{
	for (uint32_t n = 1; n <= TOY_MAX_VCPUS; n++) {
		struct toy_shared *sh;
		uint8_t *mem = boot(kind, arg, n, &sh);
		struct wl_env env = { .base = mem };
		struct wl_cpu c[TOY_MAX_VCPUS];

		for (uint32_t i = 0; i < n; i++) {
			ck_assert_int_eq(wl_init(&c[i], sh, &env, i), 0);
			ck_assert_uint_eq(c[i].vcpu, i);
			ck_assert(wl_valid(&c[i], MEM));
			ck_assert_uint_ge(c[i].work_gpa, TOY_WORK_GPA);
			ck_assert_uint_le(c[i].work_gpa + c[i].work_size, MEM);
			/* Disjoint from every earlier vCPU's share. */
			for (uint32_t j = 0; j < i; j++)
				ck_assert(c[j].work_gpa + c[j].work_size <=
					  c[i].work_gpa);
		}
		/* A vCPU past the count is refused. */
		ck_assert_int_eq(wl_init(&c[0], sh, &env, n), -1);
		free(mem);
	}
}

START_TEST(memwrite_shares_disjoint)
{
	check_shares(WL_MEMWRITE, 64);
}
END_TEST

START_TEST(refresh_shares_disjoint)
{
	check_shares(WL_REFRESH, 4);
}
END_TEST

START_TEST(matmul_shares_disjoint)
{
	check_shares(WL_MATMUL, 0);
}
END_TEST

/* Each step beats only its own vCPU's heart. */
START_TEST(own_heartbeat)
{
	struct toy_shared *sh;
	uint8_t *mem = boot(WL_MATMUL, 8, 2, &sh);
	struct wl_env env = { .base = mem };
	struct wl_cpu c0, c1;

	ck_assert_int_eq(wl_init(&c0, sh, &env, 0), 0);
	ck_assert_int_eq(wl_init(&c1, sh, &env, 1), 0);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(wl_step(&c1, sh, &env), WL_RAN);
	ck_assert_uint_eq(sh->heartbeat[0], 0);
	ck_assert_uint_eq(sh->heartbeat[1], 5);
	ck_assert_int_eq(wl_step(&c0, sh, &env), WL_RAN);
	ck_assert_uint_eq(sh->heartbeat[0], 1);
	free(mem);
}
END_TEST

/* A blob from a bad source: wrong vCPU index, or a share leaving memory. */
START_TEST(bad_state_refused)
{
	struct toy_shared *sh;
	uint8_t *mem = boot(WL_MEMWRITE, 64, 2, &sh);
	struct wl_env env = { .base = mem };
	struct wl_cpu c;

	ck_assert_int_eq(wl_init(&c, sh, &env, 1), 0);
	c.vcpu = TOY_MAX_VCPUS;
	ck_assert(!wl_valid(&c, MEM));
	ck_assert_int_eq(wl_init(&c, sh, &env, 1), 0);
	c.work_size = MEM - c.work_gpa + (2ull << 20);
	ck_assert(!wl_valid(&c, MEM));
	/* No vCPUs, or too many, is no guest. */
	sh->nvcpus = 0;
	ck_assert_int_eq(wl_init(&c, sh, &env, 0), -1);
	sh->nvcpus = TOY_MAX_VCPUS + 1;
	ck_assert_int_eq(wl_init(&c, sh, &env, 0), -1);
	free(mem);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vcpu_shares");
	TCase *tc = tcase_create("shares");

	tcase_add_test(tc, memwrite_shares_disjoint);
	tcase_add_test(tc, refresh_shares_disjoint);
	tcase_add_test(tc, matmul_shares_disjoint);
	tcase_add_test(tc, own_heartbeat);
	tcase_add_test(tc, bad_state_refused);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
