/* SPDX-License-Identifier: MIT */
/*
 * Built-in "postcopy" policy: switch to post-copy at the first decision,
 * i.e. right after the full pre-copy pass, or with no pre-copy round at all
 * (VMMIG_POSTCOPY_NO_FIRST_PASS, read by the core through first_pass()).
 */
#include <errno.h>
#include <stdio.h>

#include <vmmig/policy.h>

#include "base/struct_in.h"

struct postcopy {
	uint32_t flags; /* VMMIG_POSTCOPY_* */
};

static int postcopy_init(void *priv, const void *config)
{
	struct postcopy *p = priv;
	struct vmmig_postcopy_config c = { 0 };
	int ret;

	if (config) {
		ret = struct_copy_in(&c, sizeof(c), config);
		if (ret)
			return ret;
	}
	p->flags = c.flags;
	if (p->flags & ~VMMIG_POSTCOPY_NO_FIRST_PASS)
		return -EINVAL;
	return 0;
}

static int postcopy_first_pass(void *priv)
{
	const struct postcopy *p = priv;

	return !(p->flags & VMMIG_POSTCOPY_NO_FIRST_PASS);
}

static int postcopy_decide(void *priv, const struct vmmig_round_info *ri,
			   struct vmmig_decision *d)
{
	(void)ri;
	d->action = VMMIG_ACTION_POSTCOPY;
	snprintf(d->reason, sizeof(d->reason), "%s",
		 postcopy_first_pass(priv) ? "post-copy after the first pass"
					   : "post-copy, no pre-copy pass");
	return 0;
}

static const struct vmmig_policy_ops postcopy_ops = {
	.version = VMMIG_POLICY_OPS_VERSION,
	.name = "postcopy",
	.priv_size = sizeof(struct postcopy),
	.init = postcopy_init,
	.decide = postcopy_decide,
	.first_pass = postcopy_first_pass,
};

VMMIG_API int vmmig_policy_new_postcopy(const struct vmmig_postcopy_config *config,
					struct vmmig_policy **out)
{
	return vmmig_policy_new(&postcopy_ops, config, out);
}
