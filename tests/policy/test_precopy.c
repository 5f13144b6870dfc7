/* SPDX-License-Identifier: MIT */
/* The policy object and the built-in precopy policy, on scripted figures. */
#include <errno.h>
#include <string.h>

#include <vmmig/policy.h>

#include "testutil.h"

static struct vmmig_round_info figures(uint32_t round, uint64_t exp_us)
{
	return (struct vmmig_round_info){
		.round = round, .guest_bytes = 1 << 30,
		.expected_downtime_us = exp_us, .downtime_limit_us = 300000,
		.max_rounds = 10, .bandwidth_bps = 1000000000 };
}

START_TEST(precopy_thresholds)
{
	struct vmmig_policy *p;
	struct vmmig_decision d;
	struct vmmig_round_info ri;

	ck_assert_int_eq(vmmig_policy_new_precopy(NULL, &p), 0);
	ck_assert_str_eq(vmmig_policy_name(p), "precopy");
	ri = figures(0, 300000); /* exactly at the limit: switch */
	ck_assert_int_eq(vmmig_policy_decide(p, &ri, &d), 0);
	ck_assert_int_eq(d.action, VMMIG_ACTION_STOP_AND_COPY);
	ri = figures(0, 300001);
	ck_assert_int_eq(vmmig_policy_decide(p, &ri, &d), 0);
	ck_assert_int_eq(d.action, VMMIG_ACTION_NEXT_ROUND);
	ck_assert(strlen(d.reason) > 0);
	ri = figures(8, 5000000); /* round 9 of 10 still iterates */
	ck_assert_int_eq(vmmig_policy_decide(p, &ri, &d), 0);
	ck_assert_int_eq(d.action, VMMIG_ACTION_NEXT_ROUND);
	ri = figures(9, 5000000); /* the 10th round is the last */
	ck_assert_int_eq(vmmig_policy_decide(p, &ri, &d), 0);
	ck_assert_int_eq(d.action, VMMIG_ACTION_STOP_AND_COPY);
	ck_assert_ptr_nonnull(strstr(d.reason, "cap"));
	vmmig_policy_free(p);
}
END_TEST

START_TEST(precopy_auto_converge)
{
	struct vmmig_precopy_config cfg = { .throttle_initial = 20,
					    .throttle_increment = 10,
					    .throttle_max = 40 };
	struct vmmig_policy *p;
	struct vmmig_decision d;
	struct vmmig_round_info ri = figures(0, 5000000);
	const int expect[] = { VMMIG_ACTION_NEXT_ROUND, VMMIG_ACTION_THROTTLE,
			       VMMIG_ACTION_THROTTLE, VMMIG_ACTION_THROTTLE,
			       VMMIG_ACTION_NEXT_ROUND };
	const unsigned pct[] = { 0, 20, 30, 40, 0 };

	ck_assert_int_eq(vmmig_policy_new_precopy(&cfg, &p), 0);
	for (uint32_t r = 0; r < 5; r++) {
		ri.round = r;
		ck_assert_int_eq(vmmig_policy_decide(p, &ri, &d), 0);
		ck_assert_int_eq(d.action, expect[r]);
		if (d.action == VMMIG_ACTION_THROTTLE)
			ck_assert_uint_eq(d.throttle_percent, pct[r]);
	}
	vmmig_policy_free(p);
	cfg.throttle_max = 100;
	ck_assert_int_eq(vmmig_policy_new_precopy(&cfg, &p), -ERANGE);
	ck_assert_ptr_null(p);
}
END_TEST

/* An embedder's own policy through the public ops table. */
static int always_throttle(void *priv, const struct vmmig_round_info *ri,
			   struct vmmig_decision *d)
{
	int *calls = priv;

	(*calls)++;
	d->action = VMMIG_ACTION_THROTTLE;
	d->throttle_percent = ri->round == 0 ? 50 : 100; /* 100 is invalid */
	return 0;
}

static const struct vmmig_policy_ops custom_ops = {
	.version = VMMIG_POLICY_OPS_VERSION,
	.name = "custom",
	.priv_size = sizeof(int),
	.decide = always_throttle,
};

START_TEST(custom_policy)
{
	struct vmmig_policy_ops bad = custom_ops;
	struct vmmig_round_info ri = figures(0, 1);
	struct vmmig_decision d;
	struct vmmig_policy *p;

	ck_assert_int_eq(vmmig_policy_new(&custom_ops, NULL, &p), 0);
	ck_assert_int_eq(vmmig_policy_decide(p, &ri, &d), 0);
	ck_assert_uint_eq(d.throttle_percent, 50);
	ri.round = 1;
	ck_assert_int_eq(vmmig_policy_decide(p, &ri, &d), -ERANGE);
	ck_assert_int_eq(*(int *)vmmig_policy_priv(p), 2);
	vmmig_policy_free(p);
	vmmig_policy_free(NULL);

	bad.version = 99;
	ck_assert_int_eq(vmmig_policy_new(&bad, NULL, &p), -EINVAL);
	bad = custom_ops;
	bad.decide = NULL;
	ck_assert_int_eq(vmmig_policy_new(&bad, NULL, &p), -EINVAL);
	ck_assert_int_eq(vmmig_policy_new(NULL, NULL, &p), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("precopy");

	tcase_add_test(tc, precopy_thresholds);
	tcase_add_test(tc, precopy_auto_converge);
	tcase_add_test(tc, custom_policy);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
