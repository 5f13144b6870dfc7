/* SPDX-License-Identifier: MIT */
/* The policy object and the built-in precopy policy, on scripted figures:
 * thresholds, auto-converge, stall detection and its interplay with the
 * throttle, an embedder's own policy (ops versions 1 and 2). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <vmmig/policy.h>

#include "script.h"
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
	struct vmmig_precopy_config cfg = { .struct_size = sizeof(cfg),
		.throttle_initial = 20,
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

/* Says 1: a value >= 0 is success (<vmmig/common.h>). */
static int positive_decide(void *priv, const struct vmmig_round_info *ri,
			   struct vmmig_decision *d)
{
	(void)priv, (void)ri;
	d->action = VMMIG_ACTION_STOP_AND_COPY;
	return 1;
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

	bad.decide = positive_decide;
	ck_assert_int_eq(vmmig_policy_new(&bad, NULL, &p), 0);
	ck_assert_int_eq(vmmig_policy_decide(p, &ri, &d), 0);
	ck_assert_int_eq(d.action, VMMIG_ACTION_STOP_AND_COPY);
	vmmig_policy_free(p);

	bad = custom_ops;
	bad.version = 99;
	ck_assert_int_eq(vmmig_policy_new(&bad, NULL, &p), -EINVAL);
	bad = custom_ops;
	bad.decide = NULL;
	ck_assert_int_eq(vmmig_policy_new(&bad, NULL, &p), -EINVAL);
	ck_assert_int_eq(vmmig_policy_new(NULL, NULL, &p), -EINVAL);
	bad = custom_ops;
	bad.version = 0;
	ck_assert_int_eq(vmmig_policy_new(&bad, NULL, &p), -EINVAL);
	bad.version = VMMIG_POLICY_OPS_VERSION + 1;
	ck_assert_int_eq(vmmig_policy_new(&bad, NULL, &p), -EINVAL);
	ck_assert_ptr_null(p);
}
END_TEST

/* first_pass() as an embedder writes it: its answer reaches the getter. */
static int first_pass_answer(void *priv)
{
	return *(int *)priv;
}

static int set_answer(void *priv, const void *config)
{
	*(int *)priv = *(const int *)config;
	return 0;
}

START_TEST(custom_first_pass)
{
	struct vmmig_policy_ops ops = custom_ops;
	/* A version-1 table ends before first_pass: it must not be read. */
	struct vmmig_policy_ops v1 = custom_ops;
	const int answers[] = { 0, 1, 5, -EIO };
	const int expect[] = { 0, 1, 1, -EIO };
	struct vmmig_policy *p;

	ops.init = set_answer;
	ops.first_pass = first_pass_answer;
	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(vmmig_policy_new(&ops, &answers[i], &p), 0);
		ck_assert_int_eq(vmmig_policy_wants_first_pass(p), expect[i]);
		vmmig_policy_free(p);
	}
	v1.version = 1;
	v1.init = set_answer;
	v1.first_pass = first_pass_answer;
	ck_assert_int_eq(vmmig_policy_new(&v1, &answers[0], &p), 0);
	ck_assert_int_eq(vmmig_policy_wants_first_pass(p), 1);
	vmmig_policy_free(p);
	ck_assert_int_eq(vmmig_policy_new_precopy(NULL, &p), 0);
	ck_assert_int_eq(vmmig_policy_wants_first_pass(p), 1);
	vmmig_policy_free(p);
}
END_TEST

/* Default window: 3 rounds, 5 %; exactly 5 % is still progress. */
START_TEST(precopy_stall)
{
	const struct step stalls[] = {
		{ 100000000, SLOW_US, NEXT, 0, NULL, 0 },
		{ 99000000, SLOW_US, NEXT, 0, NULL, 0 },
		{ 98000000, SLOW_US, NEXT, 0, NULL, 0 },
		{ 95000001, SLOW_US, SAC, 0, "stalled", 0 },
	};
	const struct step edge[] = {
		{ 100000000, SLOW_US, NEXT, 0, NULL, 0 },
		{ 96000000, SLOW_US, NEXT, 0, NULL, 0 },
		{ 96000000, SLOW_US, NEXT, 0, NULL, 0 },
		{ 95000000, SLOW_US, NEXT, 0, NULL, 0 }, /* 5 % over r0..3 */
		{ 91200000, SLOW_US, NEXT, 0, NULL, 0 }, /* 5 % over r1..4 */
		/* a byte short of 5 % over r2..5 */
		{ 91200001, SLOW_US, SAC, 0, "shrank 4.9% over 3 rounds", 0 },
	};
	/* growing counts as stalled too, and the downtime rule still wins */
	const struct step grows[] = {
		{ 100000000, SLOW_US, NEXT, 0, NULL, 0 },
		{ 120000000, SLOW_US, NEXT, 0, NULL, 0 },
		{ 140000000, SLOW_US, NEXT, 0, NULL, 0 },
		{ 160000000, LIMIT_US, SAC, 0, "within limit", 0 },
	};
	struct vmmig_policy *p;

	ck_assert_int_eq(vmmig_policy_new_precopy(NULL, &p), 0);
	script_run(p, 30, stalls, NSTEPS(stalls));
	vmmig_policy_free(p);
	ck_assert_int_eq(vmmig_policy_new_precopy(NULL, &p), 0);
	script_run(p, 30, edge, NSTEPS(edge));
	vmmig_policy_free(p);
	ck_assert_int_eq(vmmig_policy_new_precopy(NULL, &p), 0);
	script_run(p, 30, grows, NSTEPS(grows));
	vmmig_policy_free(p);
}
END_TEST

START_TEST(precopy_stall_config)
{
	struct vmmig_precopy_config c = { .struct_size = sizeof(c),
		.stall_rounds = 1,
		.stall_shrink_percent = 50 };
	const struct step one[] = {
		{ 100000000, SLOW_US, NEXT, 0, NULL, 0 },
		{ 50000000, SLOW_US, NEXT, 0, NULL, 0 },  /* halved: fine */
		{ 25000001, SLOW_US, SAC, 0, "over 1 rounds (< 50%)", 0 },
	};
	struct step off[8];
	struct vmmig_policy *p;

	ck_assert_int_eq(vmmig_policy_new_precopy(&c, &p), 0);
	script_run(p, 30, one, NSTEPS(one));
	vmmig_policy_free(p);

	/* off: a flat dirty set iterates to the cap */
	c = (struct vmmig_precopy_config){ .struct_size = sizeof(c),
		.stall_rounds = VMMIG_STALL_OFF };
	for (int i = 0; i < 8; i++)
		off[i] = (struct step){ 100000000, SLOW_US, i < 7 ? NEXT : SAC,
					0, i < 7 ? NULL : "cap", 0 };
	ck_assert_int_eq(vmmig_policy_new_precopy(&c, &p), 0);
	script_run(p, 8, off, 8);
	vmmig_policy_free(p);

	c = (struct vmmig_precopy_config){ .struct_size = sizeof(c),
		.stall_rounds = VMMIG_STALL_MAX_ROUNDS + 1 };
	ck_assert_int_eq(vmmig_policy_new_precopy(&c, &p), -ERANGE);
	c = (struct vmmig_precopy_config){ .struct_size = sizeof(c),
		.stall_shrink_percent = 101 };
	ck_assert_int_eq(vmmig_policy_new_precopy(&c, &p), -ERANGE);
	c = (struct vmmig_precopy_config){ .struct_size = sizeof(c),
		.stall_rounds = VMMIG_STALL_MAX_ROUNDS,
		.stall_shrink_percent = 100 };
	ck_assert_int_eq(vmmig_policy_new_precopy(&c, &p), 0);
	vmmig_policy_free(p);
}
END_TEST

/* A flat dirty set with auto-converge: the throttle climbs to its max
 * first; each raise restarts the window, so the max throttle gets 3 rounds
 * to show an effect before the stall switches over. */
START_TEST(precopy_stall_throttle)
{
	struct vmmig_precopy_config c = { .struct_size = sizeof(c),
		.throttle_initial = 20,
		.throttle_increment = 10,
		.throttle_max = 40 };
	const uint64_t D = 100000000;
	const struct step flat[] = {
		{ D, SLOW_US, NEXT, 0, NULL, 0 },
		{ D, SLOW_US, THR, 0, NULL, 20 },
		{ D, SLOW_US, THR, 0, NULL, 30 },
		{ D, SLOW_US, THR, 0, NULL, 40 },
		{ D, SLOW_US, NEXT, 0, NULL, 0 },
		{ D, SLOW_US, NEXT, 0, NULL, 0 },
		{ D, SLOW_US, SAC, 0, "stalled", 0 },
	};
	/* the max throttle works: the dirty set shrinks, no stall */
	const struct step works[] = {
		{ D, SLOW_US, NEXT, 0, NULL, 0 },
		{ D, SLOW_US, THR, 0, NULL, 20 },
		{ D, SLOW_US, THR, 0, NULL, 30 },
		{ D, SLOW_US, THR, 0, NULL, 40 },
		{ D * 98 / 100, SLOW_US, NEXT, 0, NULL, 0 },
		{ D * 96 / 100, SLOW_US, NEXT, 0, NULL, 0 },
		{ D * 94 / 100, SLOW_US, NEXT, 0, NULL, 0 },
		{ D * 90 / 100, SLOW_US, NEXT, 0, NULL, 0 },
		{ D * 10 / 100, LIMIT_US, SAC, 0, "within limit", 0 },
	};
	struct vmmig_policy *p;

	ck_assert_int_eq(vmmig_policy_new_precopy(&c, &p), 0);
	script_run(p, 30, flat, NSTEPS(flat));
	vmmig_policy_free(p);
	ck_assert_int_eq(vmmig_policy_new_precopy(&c, &p), 0);
	script_run(p, 30, works, NSTEPS(works));
	vmmig_policy_free(p);
}
END_TEST

/* Every built-in's config carries struct_size. A caller built against an
 * older header passes a smaller struct: the library reads only that much
 * (a heap copy of exactly that size, so ASan sees any read past it) and
 * the fields it lacks take their defaults. A larger struct (a newer
 * header) is accepted when its unknown tail is zero, else -E2BIG. */
#define CHECK_SIZES(type, newfn, last, bad_last)                              \
	do {                                                                  \
		size_t old_ = offsetof(type, last);                           \
		type full_ = { .struct_size = sizeof(type), .last = bad_last }; \
		void *small_ = malloc(old_);                                  \
		uint32_t sz_ = (uint32_t)old_;                                \
		unsigned char big_[sizeof(type) + 8] = { 0 };                 \
		struct vmmig_policy *p_;                                      \
                                                                              \
		ck_assert_ptr_nonnull(small_);                                \
		/* the last field is read when the struct has it */           \
		ck_assert_int_lt(newfn(&full_, &p_), 0);                      \
		memcpy(small_, &full_, old_);                                 \
		memcpy(small_, &sz_, sizeof(sz_));                            \
		ck_assert_int_eq(newfn(small_, &p_), 0);                      \
		vmmig_policy_free(p_);                                        \
		sz_ = 0;                                                      \
		memcpy(small_, &sz_, sizeof(sz_));                            \
		ck_assert_int_eq(newfn(small_, &p_), -EINVAL);                \
		free(small_);                                                 \
		memcpy(big_, &full_, sizeof(type));                           \
		((type *)big_)->last = 0;                                     \
		((type *)big_)->struct_size = sizeof(big_);                   \
		ck_assert_int_eq(newfn((type *)big_, &p_), 0);                \
		vmmig_policy_free(p_);                                        \
		big_[sizeof(big_) - 1] = 1;                                   \
		ck_assert_int_eq(newfn((type *)big_, &p_), -E2BIG);           \
	} while (0)

START_TEST(config_struct_size)
{
	CHECK_SIZES(struct vmmig_precopy_config, vmmig_policy_new_precopy,
		    stall_shrink_percent, 101);
	CHECK_SIZES(struct vmmig_adaptive_config, vmmig_policy_new_adaptive,
		    stall_shrink_percent, 101);
	CHECK_SIZES(struct vmmig_hybrid_config, vmmig_policy_new_hybrid,
		    precopy_rounds, 1001);
	CHECK_SIZES(struct vmmig_postcopy_config, vmmig_policy_new_postcopy,
		    flags, 0x80);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("precopy");

	tcase_add_test(tc, precopy_thresholds);
	tcase_add_test(tc, precopy_auto_converge);
	tcase_add_test(tc, custom_policy);
	tcase_add_test(tc, custom_first_pass);
	tcase_add_test(tc, precopy_stall);
	tcase_add_test(tc, precopy_stall_config);
	tcase_add_test(tc, precopy_stall_throttle);
	tcase_add_test(tc, config_struct_size);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
