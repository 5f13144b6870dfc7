/* SPDX-License-Identifier: MIT */
/*
 * Built-in "precopy" policy, QEMU's rule: switch over once the pages still
 * dirty can be sent within the downtime limit at the measured bandwidth, or
 * when the round cap is reached. Optional auto-converge throttles the guest
 * while the expected downtime stays over the limit. A pre-copy whose dirty
 * set stops shrinking switches over early ("stalled") rather than iterating
 * blindly to the cap.
 */
#include <errno.h>
#include <stdio.h>

#include <vmmig/policy.h>

#include "base/struct_in.h"
#include "stall.h"

struct precopy {
	struct vmmig_precopy_config cfg;
	uint32_t throttle; /* currently requested percent */
	struct stall stall;
};

static int precopy_init(void *priv, const void *config)
{
	struct precopy *p = priv;
	int ret;

	if (config) {
		ret = struct_copy_in(&p->cfg, sizeof(p->cfg), config);
		if (ret)
			return ret;
	}
	if (p->cfg.throttle_initial > 99 || p->cfg.throttle_max > 99)
		return -ERANGE;
	return pol_stall_init(&p->stall, p->cfg.stall_rounds,
			      p->cfg.stall_shrink_percent);
}

static int precopy_decide(void *priv, const struct vmmig_round_info *ri,
			  struct vmmig_decision *d)
{
	struct precopy *p = priv;

	pol_stall_push(&p->stall, ri->dirty_bytes);
	if (ri->expected_downtime_us <= ri->downtime_limit_us) {
		d->action = VMMIG_ACTION_STOP_AND_COPY;
		snprintf(d->reason, sizeof(d->reason),
			 "expected downtime %llu us within limit",
			 (unsigned long long)ri->expected_downtime_us);
		return 0;
	}
	if (ri->round + 1 >= ri->max_rounds) {
		d->action = VMMIG_ACTION_STOP_AND_COPY;
		snprintf(d->reason, sizeof(d->reason), "round cap %u reached",
			 ri->max_rounds);
		return 0;
	}
	/* Auto-converge from the second dirty round on: round 0 is the full
	 * pass and says nothing about convergence yet. */
	if (p->cfg.throttle_initial && ri->round >= 1) {
		uint32_t next = p->throttle ? p->throttle +
						      p->cfg.throttle_increment
					    : p->cfg.throttle_initial;
		uint32_t max = p->cfg.throttle_max ? p->cfg.throttle_max : 99;

		if (next > max)
			next = max;
		if (next != p->throttle) {
			p->throttle = next;
			/* Judge a stall afresh under the new dirty rate. */
			pol_stall_restart(&p->stall);
			d->action = VMMIG_ACTION_THROTTLE;
			d->throttle_percent = next;
			snprintf(d->reason, sizeof(d->reason),
				 "not converging: throttle to %u%%", next);
			return 0;
		}
	}
	if (pol_stall_check(&p->stall, d->reason, sizeof(d->reason))) {
		d->action = VMMIG_ACTION_STOP_AND_COPY;
		return 0;
	}
	d->action = VMMIG_ACTION_NEXT_ROUND;
	snprintf(d->reason, sizeof(d->reason),
		 "expected downtime %llu us over limit",
		 (unsigned long long)ri->expected_downtime_us);
	return 0;
}

static const struct vmmig_policy_ops precopy_ops = {
	.version = VMMIG_POLICY_OPS_VERSION,
	.name = "precopy",
	.priv_size = sizeof(struct precopy),
	.init = precopy_init,
	.decide = precopy_decide,
};

VMMIG_API int vmmig_policy_new_precopy(const struct vmmig_precopy_config *config,
				       struct vmmig_policy **out)
{
	return vmmig_policy_new(&precopy_ops, config, out);
}
