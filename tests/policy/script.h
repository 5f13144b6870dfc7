/* SPDX-License-Identifier: MIT */
/* Scripted round figures for the policy tests: feed rounds 0, 1, 2, ... to a
 * policy and check each decision. */
#ifndef VMMIG_TEST_POLICY_SCRIPT_H
#define VMMIG_TEST_POLICY_SCRIPT_H

#include <string.h>

#include <vmmig/policy.h>

#include "testutil.h"

#define GUEST 1000000000ull   /* 1 GB: per-mille marks are exact bytes */
#define LIMIT_US 300000ull    /* downtime limit */
#define SLOW_US 5000000ull    /* an expected downtime well over it */

struct step {
	uint64_t dirty;     /* dirty bytes after the round */
	uint64_t exp_us;    /* expected downtime */
	int action;         /* expected decision */
	int path;           /* expected d.path */
	const char *reason; /* substring expected in d.reason, or NULL */
	uint32_t pct;       /* expected throttle percent for THROTTLE */
};

static inline struct vmmig_round_info script_round(uint32_t round,
						   uint64_t dirty,
						   uint64_t exp_us,
						   uint32_t max_rounds)
{
	return (struct vmmig_round_info){
		.round = round, .guest_bytes = GUEST,
		.dirty_bytes = dirty, .dirty_pages = dirty / 4096,
		.expected_downtime_us = exp_us, .downtime_limit_us = LIMIT_US,
		.max_rounds = max_rounds, .bandwidth_bps = 100000000 };
}

/* Runs the steps from round 0 on; fails the test at the first mismatch. */
static inline void script_run(struct vmmig_policy *p, uint32_t max_rounds,
			      const struct step *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct vmmig_round_info ri = script_round(
			(uint32_t)i, s[i].dirty, s[i].exp_us, max_rounds);
		struct vmmig_decision d;

		ck_assert_int_eq(vmmig_policy_decide(p, &ri, &d), 0);
		ck_assert_msg(d.action == s[i].action && d.path == s[i].path,
			      "round %zu: action %d path %d (want %d/%d): %s",
			      i, d.action, d.path, s[i].action, s[i].path,
			      d.reason);
		ck_assert_msg(strlen(d.reason) > 0, "round %zu: no reason", i);
		if (s[i].reason)
			ck_assert_msg(strstr(d.reason, s[i].reason),
				      "round %zu: reason \"%s\" lacks \"%s\"",
				      i, d.reason, s[i].reason);
		if (d.action == VMMIG_ACTION_THROTTLE)
			ck_assert_uint_eq(d.throttle_percent, s[i].pct);
	}
}

#define NEXT VMMIG_ACTION_NEXT_ROUND
#define SAC VMMIG_ACTION_STOP_AND_COPY
#define POST VMMIG_ACTION_POSTCOPY
#define THR VMMIG_ACTION_THROTTLE
#define NSTEPS(a) (sizeof(a) / sizeof((a)[0]))

#endif
