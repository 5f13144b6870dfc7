/* SPDX-License-Identifier: MIT */
/* The postcopy and hybrid policies on scripted figures; the first-pass flag
 * and its getter. */
#include <errno.h>

#include "script.h"

START_TEST(postcopy_after_first_pass)
{
	/* post-copy at the first call whatever the figures say */
	const struct step s[] = {
		{ 0, 0, POST, 0, "after the first pass", 0 },
	};
	struct vmmig_postcopy_config c = { .struct_size = sizeof(c) };
	struct vmmig_policy *p;

	ck_assert_int_eq(vmmig_policy_new_postcopy(NULL, &p), 0);
	ck_assert_str_eq(vmmig_policy_name(p), "postcopy");
	ck_assert_int_eq(vmmig_policy_wants_first_pass(p), 1);
	script_run(p, 30, s, NSTEPS(s));
	vmmig_policy_free(p);

	ck_assert_int_eq(vmmig_policy_new_postcopy(&c, &p), 0);
	ck_assert_int_eq(vmmig_policy_wants_first_pass(p), 1);
	script_run(p, 30, s, NSTEPS(s));
	vmmig_policy_free(p);
}
END_TEST

START_TEST(postcopy_no_first_pass)
{
	const struct step s[] = {
		{ GUEST, SLOW_US, POST, 0, "no pre-copy pass", 0 },
	};
	struct vmmig_postcopy_config c = { .struct_size = sizeof(c),
		.flags = VMMIG_POSTCOPY_NO_FIRST_PASS };
	struct vmmig_policy *p;

	ck_assert_int_eq(vmmig_policy_new_postcopy(&c, &p), 0);
	ck_assert_int_eq(vmmig_policy_wants_first_pass(p), 0);
	script_run(p, 30, s, NSTEPS(s));
	vmmig_policy_free(p);

	c.flags = 1u << 1; /* unknown flag */
	ck_assert_int_eq(vmmig_policy_new_postcopy(&c, &p), -EINVAL);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(vmmig_policy_wants_first_pass(NULL), -EINVAL);
}
END_TEST

START_TEST(hybrid_default_two_rounds)
{
	const struct step s[] = {
		{ GUEST / 2, SLOW_US, NEXT, 0, "round 1 of 2", 0 },
		{ GUEST / 2, SLOW_US, POST, 0, "after 2 pre-copy rounds", 0 },
	};
	struct vmmig_policy *p;

	ck_assert_int_eq(vmmig_policy_new_hybrid(NULL, &p), 0);
	ck_assert_str_eq(vmmig_policy_name(p), "hybrid");
	ck_assert_int_eq(vmmig_policy_wants_first_pass(p), 1);
	script_run(p, 30, s, NSTEPS(s));
	vmmig_policy_free(p);
}
END_TEST

START_TEST(hybrid_n_rounds)
{
	struct vmmig_hybrid_config c = { .struct_size = sizeof(c),
		.precopy_rounds = 5 };
	struct vmmig_policy *p;
	struct step s[5];

	for (int i = 0; i < 5; i++)
		s[i] = (struct step){ GUEST / 4, SLOW_US, i < 4 ? NEXT : POST,
				      0, i < 4 ? NULL : "after 5", 0 };
	ck_assert_int_eq(vmmig_policy_new_hybrid(&c, &p), 0);
	script_run(p, 30, s, 5);
	vmmig_policy_free(p);

	/* the session's max_rounds caps N */
	s[2] = (struct step){ GUEST / 4, SLOW_US, POST, 0, "after 3", 0 };
	ck_assert_int_eq(vmmig_policy_new_hybrid(&c, &p), 0);
	script_run(p, 3, s, 3);
	vmmig_policy_free(p);

	/* N = 1: post-copy after the full pass, like postcopy */
	c.precopy_rounds = 1;
	s[0] = (struct step){ GUEST / 4, SLOW_US, POST, 0, "after 1", 0 };
	ck_assert_int_eq(vmmig_policy_new_hybrid(&c, &p), 0);
	script_run(p, 30, s, 1);
	vmmig_policy_free(p);
}
END_TEST

START_TEST(hybrid_stops_early)
{
	struct vmmig_hybrid_config c = { .struct_size = sizeof(c),
		.precopy_rounds = 4 };
	const struct step s[] = {
		{ GUEST / 4, SLOW_US, NEXT, 0, NULL, 0 },
		{ GUEST / 100, LIMIT_US, SAC, 0, "within limit", 0 },
	};
	const struct step last[] = { /* also on the round that would switch */
		{ GUEST / 100, LIMIT_US, SAC, 0, "within limit", 0 },
	};
	struct vmmig_policy *p;

	ck_assert_int_eq(vmmig_policy_new_hybrid(&c, &p), 0);
	script_run(p, 30, s, NSTEPS(s));
	vmmig_policy_free(p);
	c.precopy_rounds = 1;
	ck_assert_int_eq(vmmig_policy_new_hybrid(&c, &p), 0);
	script_run(p, 30, last, NSTEPS(last));
	vmmig_policy_free(p);
}
END_TEST

START_TEST(hybrid_bad_config)
{
	struct vmmig_hybrid_config c = { .struct_size = sizeof(c),
		.precopy_rounds = 1001 };
	struct vmmig_policy *p;

	ck_assert_int_eq(vmmig_policy_new_hybrid(&c, &p), -ERANGE);
	ck_assert_ptr_null(p);
	c.precopy_rounds = 1000;
	ck_assert_int_eq(vmmig_policy_new_hybrid(&c, &p), 0);
	vmmig_policy_free(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("postcopy");

	tcase_add_test(tc, postcopy_after_first_pass);
	tcase_add_test(tc, postcopy_no_first_pass);
	tcase_add_test(tc, hybrid_default_two_rounds);
	tcase_add_test(tc, hybrid_n_rounds);
	tcase_add_test(tc, hybrid_stops_early);
	tcase_add_test(tc, hybrid_bad_config);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
