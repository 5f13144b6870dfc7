/* SPDX-License-Identifier: MIT */
/* The generic policy object: ops table check, private state, decide(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vmmig/policy.h>

struct vmmig_policy {
	const struct vmmig_policy_ops *ops;
	void *priv;
};

VMMIG_API int vmmig_policy_new(const struct vmmig_policy_ops *ops,
			       const void *config, struct vmmig_policy **out)
{
	struct vmmig_policy *p;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	/* Version 1 tables end before first_pass: accepted, never read past. */
	if (!ops || ops->version < 1 || ops->version > VMMIG_POLICY_OPS_VERSION ||
	    !ops->decide || !ops->name)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ops = ops;
	p->priv = calloc(1, ops->priv_size ? ops->priv_size : 1);
	if (!p->priv) {
		ret = -ENOMEM;
		goto fail;
	}
	if (ops->init) {
		ret = ops->init(p->priv, config);
		if (ret < 0)
			goto fail;
	}
	*out = p;
	return 0;
fail:
	vmmig_policy_free(p);
	return ret;
}

VMMIG_API void vmmig_policy_free(struct vmmig_policy *p)
{
	if (!p)
		return;
	if (p->priv && p->ops->destroy)
		p->ops->destroy(p->priv);
	free(p->priv);
	free(p);
}

VMMIG_API void *vmmig_policy_priv(struct vmmig_policy *p)
{
	return p ? p->priv : NULL;
}

VMMIG_API const char *vmmig_policy_name(const struct vmmig_policy *p)
{
	return p ? p->ops->name : NULL;
}

VMMIG_API int vmmig_policy_wants_first_pass(const struct vmmig_policy *p)
{
	int ret;

	if (!p)
		return -EINVAL;
	if (p->ops->version < 2 || !p->ops->first_pass)
		return 1;
	ret = p->ops->first_pass(p->priv);
	if (ret < 0)
		return ret;
	return ret ? 1 : 0;
}

VMMIG_API int vmmig_policy_decide(struct vmmig_policy *p,
				  const struct vmmig_round_info *ri,
				  struct vmmig_decision *out)
{
	int ret;

	if (!p || !ri || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	/* Like every method (<vmmig/common.h>): >= 0 is success. */
	ret = p->ops->decide(p->priv, ri, out);
	if (ret < 0)
		return ret;
	out->reason[sizeof(out->reason) - 1] = '\0';
	switch (out->action) {
	case VMMIG_ACTION_NEXT_ROUND:
	case VMMIG_ACTION_STOP_AND_COPY:
	case VMMIG_ACTION_POSTCOPY:
		return 0;
	case VMMIG_ACTION_THROTTLE:
		if (out->throttle_percent >= 1 && out->throttle_percent <= 99)
			return 0;
		return -ERANGE;
	default:
		return -EINVAL;
	}
}
