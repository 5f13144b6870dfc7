/* SPDX-License-Identifier: MIT */
/* VMMIG_OPT_FAULT_CPU: its range, and affinity_pin_fault() on a thread of
 * its own (affinity is per thread): pinned when set, untouched when -1,
 * a warning and no change for a CPU the thread may not use. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include <vmmig/vmmig.h>

#include "session/session.h"
#include "testutil.h"

struct probe {
	int64_t cpu;
	cpu_set_t before, after;
	int warnings;
};

static void count_warn(void *opaque, int level, const char *msg)
{
	struct probe *p = opaque;

	(void)msg;
	if (level == VMMIG_LOG_WARN)
		p->warnings++;
}

static void *probe_main(void *arg)
{
	struct probe *p = arg;
	struct logger lg = { count_warn, p, VMMIG_LOG_DEBUG };
	struct options o;

	options_init(&o);
	o.v[VMMIG_OPT_FAULT_CPU] = p->cpu;
	sched_getaffinity(0, sizeof(p->before), &p->before);
	affinity_pin_fault(&o, &lg, "probe");
	sched_getaffinity(0, sizeof(p->after), &p->after);
	return NULL;
}

static struct probe probe(int64_t cpu)
{
	struct probe p = { .cpu = cpu };
	pthread_t th;

	ck_assert_int_eq(pthread_create(&th, NULL, probe_main, &p), 0);
	pthread_join(th, NULL);
	return p;
}

START_TEST(pinned_when_set)
{
	cpu_set_t mine;
	int cpu = -1;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(mine), &mine), 0);
	for (int i = CPU_SETSIZE - 1; i >= 0; i--)
		if (CPU_ISSET(i, &mine))
			cpu = i; /* the lowest CPU this test may use */
	ck_assert_int_ge(cpu, 0);
	struct probe p = probe(cpu);

	ck_assert_int_eq(CPU_COUNT(&p.after), 1);
	ck_assert(CPU_ISSET(cpu, &p.after));
	ck_assert_int_eq(p.warnings, 0);
}
END_TEST

START_TEST(untouched_by_default)
{
	struct probe p = probe(-1);

	ck_assert(CPU_EQUAL(&p.before, &p.after));
	ck_assert_int_eq(p.warnings, 0);
}
END_TEST

START_TEST(unusable_cpu_warns)
{
	/* The highest CPU number the option takes: not on this machine. */
	struct probe p = probe(CPU_SETSIZE - 1);

	ck_assert(CPU_EQUAL(&p.before, &p.after));
	ck_assert_int_eq(p.warnings, 1);
}
END_TEST

START_TEST(option_range)
{
	struct vmmig_source *src;
	struct vmmig_dest *dst;
	int64_t min, max, def;

	ck_assert_int_eq(vmmig_option_range(VMMIG_OPT_FAULT_CPU, &min, &max,
					    &def), 0);
	ck_assert_int_eq(min, -1);
	ck_assert_int_eq(def, -1);
	ck_assert_int_eq(max, CPU_SETSIZE - 1);
	ck_assert_str_eq(vmmig_option_name(VMMIG_OPT_FAULT_CPU), "fault_cpu");
	ck_assert_int_eq(vmmig_source_new(&src), 0);
	ck_assert_int_eq(vmmig_dest_new(&dst), 0);
	ck_assert_int_eq(vmmig_source_set_option(src, VMMIG_OPT_FAULT_CPU, -2),
			 -ERANGE);
	ck_assert_int_eq(vmmig_dest_set_option(dst, VMMIG_OPT_FAULT_CPU,
					       CPU_SETSIZE), -ERANGE);
	ck_assert_int_eq(vmmig_source_set_option(src, VMMIG_OPT_FAULT_CPU, 0),
			 0);
	ck_assert_int_eq(vmmig_dest_set_option(dst, VMMIG_OPT_FAULT_CPU, 1), 0);
	vmmig_dest_free(dst);
	vmmig_source_free(src);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("affinity");
	TCase *tc = tcase_create("fault_cpu");

	tcase_add_test(tc, pinned_when_set);
	tcase_add_test(tc, untouched_by_default);
	tcase_add_test(tc, unusable_cpu_warns);
	tcase_add_test(tc, option_range);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
