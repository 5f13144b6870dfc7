/* SPDX-License-Identifier: MIT */
/*
 * Built-in "hybrid" policy: a few pre-copy rounds to move the bulk of memory
 * while the guest runs, then post-copy for the rest. Switches over by
 * stop-and-copy instead when the rest already fits in the downtime limit
 * (nothing is left for post-copy to gain then).
 */
#include <errno.h>
#include <stdio.h>

#include <vmmig/policy.h>

#include "base/struct_in.h"

#define HYBRID_DEFAULT_ROUNDS 2
#define HYBRID_MAX_ROUNDS 1000

struct hybrid {
	uint32_t rounds; /* pre-copy rounds, counting round 0 */
};

static int hybrid_init(void *priv, const void *config)
{
	struct hybrid *h = priv;
	struct vmmig_hybrid_config c = { 0 };
	int ret;

	if (config) {
		ret = struct_copy_in(&c, sizeof(c), config);
		if (ret)
			return ret;
	}
	h->rounds = c.precopy_rounds;
	if (h->rounds > HYBRID_MAX_ROUNDS)
		return -ERANGE;
	if (!h->rounds)
		h->rounds = HYBRID_DEFAULT_ROUNDS;
	return 0;
}

static int hybrid_decide(void *priv, const struct vmmig_round_info *ri,
			 struct vmmig_decision *d)
{
	const struct hybrid *h = priv;
	uint32_t cap = h->rounds;

	if (ri->max_rounds && ri->max_rounds < cap)
		cap = ri->max_rounds;
	if (ri->expected_downtime_us <= ri->downtime_limit_us) {
		d->action = VMMIG_ACTION_STOP_AND_COPY;
		snprintf(d->reason, sizeof(d->reason),
			 "round %u: expected downtime %llu us within limit",
			 ri->round, (unsigned long long)ri->expected_downtime_us);
		return 0;
	}
	if (ri->round + 1 >= cap) {
		d->action = VMMIG_ACTION_POSTCOPY;
		snprintf(d->reason, sizeof(d->reason),
			 "post-copy after %u pre-copy rounds", ri->round + 1);
		return 0;
	}
	d->action = VMMIG_ACTION_NEXT_ROUND;
	snprintf(d->reason, sizeof(d->reason), "pre-copy round %u of %u",
		 ri->round + 1, cap);
	return 0;
}

static const struct vmmig_policy_ops hybrid_ops = {
	.version = VMMIG_POLICY_OPS_VERSION,
	.name = "hybrid",
	.priv_size = sizeof(struct hybrid),
	.init = hybrid_init,
	.decide = hybrid_decide,
};

VMMIG_API int vmmig_policy_new_hybrid(const struct vmmig_hybrid_config *config,
				      struct vmmig_policy **out)
{
	return vmmig_policy_new(&hybrid_ops, config, out);
}
