/* SPDX-License-Identifier: MIT */
/* The adaptive (three-path) policy on scripted figures: the marks' edges,
 * path 2's shrink / converge / cap rules, path 1's convergence and stall,
 * path 3, configuration checks. */
#include <errno.h>

#include "script.h"

static struct vmmig_policy *adaptive(const struct vmmig_adaptive_config *c)
{
	struct vmmig_policy *p;

	ck_assert_int_eq(vmmig_policy_new_adaptive(c, &p), 0);
	ck_assert_str_eq(vmmig_policy_name(p), "adaptive");
	ck_assert_int_eq(vmmig_policy_wants_first_pass(p), 1);
	return p;
}

/* Round 0's ratio against the default marks (10 %, 50 %), to the byte:
 * both marks belong to path 2. */
START_TEST(marks_edges)
{
	static const struct {
		uint64_t dirty;
		int path, action;
	} c[] = {
		{ 0, 1, NEXT },
		{ GUEST / 10 - 1, 1, NEXT },     /* just below 10 % */
		{ GUEST / 10, 2, NEXT },         /* exactly 10 % */
		{ GUEST / 10 + 1, 2, NEXT },
		{ GUEST / 2 - 1, 2, NEXT },
		{ GUEST / 2, 2, NEXT },          /* exactly 50 % */
		{ GUEST / 2 + 1, 3, POST },      /* just above 50 % */
		{ GUEST, 3, POST },
	};

	for (size_t i = 0; i < NSTEPS(c); i++) {
		struct vmmig_policy *p = adaptive(NULL);
		struct step s = { c[i].dirty, SLOW_US, c[i].action, c[i].path,
				  c[i].path == 1 ? "path 1" :
				  c[i].path == 2 ? "path 2" : "path 3", 0 };

		script_run(p, 30, &s, 1);
		vmmig_policy_free(p);
	}
}
END_TEST

START_TEST(path2_converges)
{
	const struct step s[] = {
		{ 300000000, SLOW_US, NEXT, 2, "dirty ratio 30% in [10%,50%], "
					       "round 0, first pass", 0 },
		{ 234000000, SLOW_US, NEXT, 2, "dirty ratio 23.4% in "
					       "[10%,50%], round 1, shrinking",
		  0 },
		{ 150000000, SLOW_US, NEXT, 2, "shrinking", 0 },
		{ GUEST / 10, SLOW_US, NEXT, 2, "round 3, shrinking", 0 },
		/* under the low mark, and the downtime within the limit */
		{ GUEST / 10 - 1, LIMIT_US, SAC, 2, "under 10%, round 4", 0 },
	};
	struct vmmig_policy *p = adaptive(NULL);

	script_run(p, 30, s, NSTEPS(s));
	vmmig_policy_free(p);
}
END_TEST

/* Under the low mark with the expected downtime still over the limit:
 * post-copy by default; the source text's stop-and-copy when asked. */
START_TEST(path2_under_low_over_limit)
{
	struct step s[] = {
		{ 300000000, SLOW_US, NEXT, 2, "first pass", 0 },
		{ GUEST / 10 - 1, LIMIT_US + 1, POST, 2,
		  "under 10%, round 1, downtime 300 ms over limit", 0 },
	};
	struct vmmig_adaptive_config c = { .struct_size = sizeof(c),
		.path2_stop_over_limit = 1 };
	struct vmmig_policy *p = adaptive(NULL);

	script_run(p, 30, s, NSTEPS(s));
	vmmig_policy_free(p);
	s[1] = (struct step){ GUEST / 10 - 1, SLOW_US, SAC, 2,
			      "under 10%, round 1", 0 };
	p = adaptive(&c);
	script_run(p, 30, s, NSTEPS(s));
	vmmig_policy_free(p);
}
END_TEST

START_TEST(path2_downtime_within_limit)
{
	const struct step s[] = {
		{ 400000000, SLOW_US, NEXT, 2, NULL, 0 },
		{ 300000000, LIMIT_US, SAC, 2, "within limit", 0 },
	};
	struct vmmig_policy *p = adaptive(NULL);

	script_run(p, 30, s, NSTEPS(s));
	vmmig_policy_free(p);
}
END_TEST

START_TEST(path2_not_shrinking)
{
	const struct step equal[] = {
		{ 300000000, SLOW_US, NEXT, 2, NULL, 0 },
		{ 200000000, SLOW_US, NEXT, 2, NULL, 0 },
		{ 200000000, SLOW_US, POST, 2, "round 2, not shrinking", 0 },
	};
	const struct step grows[] = {
		{ GUEST / 2, SLOW_US, NEXT, 2, NULL, 0 },
		{ GUEST / 2 + 4096, SLOW_US, POST, 2, "not shrinking", 0 },
	};
	struct vmmig_policy *p = adaptive(NULL);

	script_run(p, 30, equal, NSTEPS(equal));
	vmmig_policy_free(p);
	p = adaptive(NULL);
	script_run(p, 30, grows, NSTEPS(grows));
	vmmig_policy_free(p);
}
END_TEST

/* Shrinking every round but never under 10 %: the 9th round (round 8) is
 * the last; the session's max_rounds caps it too when smaller. */
START_TEST(path2_cap)
{
	struct step s[9];
	struct vmmig_policy *p;

	for (int i = 0; i < 9; i++)
		s[i] = (struct step){ 450000000 - 10000000ull * i, SLOW_US,
				      i < 8 ? NEXT : POST, 2,
				      i < 8 ? "shrinking" : "round cap 9", 0 };
	s[0].reason = "first pass";
	p = adaptive(NULL);
	script_run(p, 30, s, 9);
	vmmig_policy_free(p);

	s[4] = (struct step){ s[4].dirty, SLOW_US, POST, 2, "round cap 5", 0 };
	p = adaptive(NULL);
	script_run(p, 5, s, 5);
	vmmig_policy_free(p);

	struct vmmig_adaptive_config c = { .struct_size = sizeof(c),
		.path2_max_rounds = 3 };

	s[2] = (struct step){ s[2].dirty, SLOW_US, POST, 2, "round cap 3", 0 };
	p = adaptive(&c);
	script_run(p, 30, s, 3);
	vmmig_policy_free(p);
}
END_TEST

START_TEST(path3_at_once)
{
	const struct step s[] = {
		/* even an expected downtime within the limit does not matter:
		 * path 3 is chosen for the dirty ratio */
		{ 600000000, 1, POST, 3, "path 3: dirty ratio 60% over 50%",
		  0 },
		{ 1000, 1, POST, 3, "path 3", 0 },
	};
	struct vmmig_policy *p = adaptive(NULL);

	script_run(p, 30, s, NSTEPS(s));
	vmmig_policy_free(p);
}
END_TEST

START_TEST(path1_precopy_rules)
{
	/* the path is chosen once: a later jump in the ratio stays path 1 */
	const struct step converge[] = {
		{ 50000000, SLOW_US, NEXT, 1, "path 1: dirty ratio 5%", 0 },
		{ 700000000, SLOW_US, NEXT, 1, NULL, 0 },
		{ 10000000, LIMIT_US, SAC, 1, "within limit", 0 },
	};
	const struct step cap[] = {
		{ 90000000, SLOW_US, NEXT, 1, NULL, 0 },
		{ 60000000, SLOW_US, NEXT, 1, NULL, 0 },
		{ 30000000, SLOW_US, NEXT, 1, NULL, 0 },
		{ 10000000, SLOW_US, SAC, 1, "round cap 4", 0 },
	};
	/* default stall window: 3 rounds, 5 % */
	const struct step stall[] = {
		{ 90000000, SLOW_US, NEXT, 1, NULL, 0 },
		{ 89000000, SLOW_US, NEXT, 1, NULL, 0 },
		{ 88000000, SLOW_US, NEXT, 1, NULL, 0 },
		{ 87000000, SLOW_US, POST, 1, "path 1: stalled", 0 },
	};
	struct vmmig_policy *p = adaptive(NULL);

	script_run(p, 30, converge, NSTEPS(converge));
	vmmig_policy_free(p);
	p = adaptive(NULL);
	script_run(p, 4, cap, NSTEPS(cap));
	vmmig_policy_free(p);
	p = adaptive(NULL);
	script_run(p, 30, stall, NSTEPS(stall));
	vmmig_policy_free(p);

	struct vmmig_adaptive_config off = { .struct_size = sizeof(off),
		.stall_rounds = VMMIG_STALL_OFF };
	struct step s[6];

	for (int i = 0; i < 6; i++)
		s[i] = (struct step){ 90000000, SLOW_US, i < 5 ? NEXT : SAC, 1,
				      i < 5 ? NULL : "round cap 6", 0 };
	p = adaptive(&off);
	script_run(p, 6, s, 6);
	vmmig_policy_free(p);
}
END_TEST

START_TEST(custom_marks)
{
	/* 12.5 % .. 20 %, and low == high: only exactly 20 % is path 2 */
	struct vmmig_adaptive_config c = { .struct_size = sizeof(c),
		.low_permille = 125,
		.high_permille = 200 };
	const struct { uint32_t low, high; uint64_t dirty; int path; } e[] = {
		{ 125, 200, 124999999, 1 }, { 125, 200, 125000000, 2 },
		{ 125, 200, 200000000, 2 }, { 125, 200, 200000001, 3 },
		{ 200, 200, 199999999, 1 }, { 200, 200, 200000000, 2 },
		{ 200, 200, 200000001, 3 }, { 1000, 1000, GUEST, 2 },
	};
	struct vmmig_policy *p;

	for (size_t i = 0; i < NSTEPS(e); i++) {
		struct step s = { e[i].dirty, SLOW_US,
				  e[i].path == 3 ? POST : NEXT, e[i].path,
				  NULL, 0 };

		c.low_permille = e[i].low;
		c.high_permille = e[i].high;
		p = adaptive(&c);
		script_run(p, 30, &s, 1);
		vmmig_policy_free(p);
	}
	c = (struct vmmig_adaptive_config){ .struct_size = sizeof(c),
		.low_permille = 125 };
	p = adaptive(&c);
	struct step s = { 150000000, SLOW_US, NEXT, 2, "in [12.5%,50%]", 0 };

	script_run(p, 30, &s, 1);
	vmmig_policy_free(p);
}
END_TEST

START_TEST(bad_config)
{
	const uint32_t S = sizeof(struct vmmig_adaptive_config);
	const struct vmmig_adaptive_config bad[] = {
		{ .struct_size = S, .low_permille = 1001, .high_permille = 1001 },
		{ .struct_size = S, .high_permille = 1001 },
		{ .struct_size = S, .path2_max_rounds = 1001 },
		{ .struct_size = S, .stall_rounds = VMMIG_STALL_MAX_ROUNDS + 1 },
		{ .struct_size = S, .stall_shrink_percent = 101 },
	};
	struct vmmig_adaptive_config inv = { .struct_size = sizeof(inv),
		.low_permille = 300,
		.high_permille = 200 };
	struct vmmig_adaptive_config ok = { .struct_size = sizeof(ok),
		.low_permille = 1000,
		.high_permille = 1000,
		.path2_max_rounds = 1000,
		.stall_rounds = VMMIG_STALL_MAX_ROUNDS,
		.stall_shrink_percent = 100 };
	struct vmmig_round_info ri = script_round(0, 0, SLOW_US, 30);
	struct vmmig_decision d;
	struct vmmig_policy *p = (void *)&ri;

	for (size_t i = 0; i < NSTEPS(bad); i++) {
		ck_assert_int_eq(vmmig_policy_new_adaptive(&bad[i], &p),
				 -ERANGE);
		ck_assert_ptr_null(p);
	}
	ck_assert_int_eq(vmmig_policy_new_adaptive(&inv, &p), -EINVAL);
	ck_assert_ptr_null(p);
	/* low 60 % > default high 50 % */
	inv = (struct vmmig_adaptive_config){ .struct_size = sizeof(inv),
		.low_permille = 600 };
	ck_assert_int_eq(vmmig_policy_new_adaptive(&inv, &p), -EINVAL);
	ck_assert_int_eq(vmmig_policy_new_adaptive(NULL, NULL), -EINVAL);
	p = adaptive(&ok);
	vmmig_policy_free(p);

	/* a ratio needs guest memory */
	p = adaptive(NULL);
	ri.guest_bytes = 0;
	ck_assert_int_eq(vmmig_policy_decide(p, &ri, &d), -EINVAL);
	vmmig_policy_free(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("adaptive");

	tcase_add_test(tc, marks_edges);
	tcase_add_test(tc, path2_converges);
	tcase_add_test(tc, path2_downtime_within_limit);
	tcase_add_test(tc, path2_under_low_over_limit);
	tcase_add_test(tc, path2_not_shrinking);
	tcase_add_test(tc, path2_cap);
	tcase_add_test(tc, path3_at_once);
	tcase_add_test(tc, path1_precopy_rules);
	tcase_add_test(tc, custom_marks);
	tcase_add_test(tc, bad_config);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
