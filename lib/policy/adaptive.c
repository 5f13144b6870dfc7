/* SPDX-License-Identifier: MIT */
/*
 * Built-in "adaptive" policy: the three paths of the cache-assisted
 * migration paper (source text 000). The dirty ratio after the first full
 * pass (round 0) picks the path once:
 *   path 1 (ratio < low):          pre-copy to convergence, post-copy if it
 *                                  stalls;
 *   path 2 (low <= ratio <= high): iterate while the dirty set shrinks, up to
 *                                  a round cap; stop-and-copy once under low,
 *                                  else post-copy. Under low but with an
 *                                  expected downtime over the limit, post-copy
 *                                  by default: the paper's 10 % of a big guest
 *                                  is hundreds of ms on a slow link;
 *   path 3 (ratio > high):         post-copy at once.
 * Marks are per-mille so that e.g. 12.5 % can be configured.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include <vmmig/policy.h>

#include "base/struct_in.h"
#include "stall.h"

#define ADAPTIVE_DEFAULT_LOW 100  /* per-mille */
#define ADAPTIVE_DEFAULT_HIGH 500 /* per-mille */
#define ADAPTIVE_DEFAULT_CAP 9
#define ADAPTIVE_MAX_CAP 1000

struct adaptive {
	uint32_t low, high;  /* marks, per-mille */
	uint32_t cap;        /* path 2's round cap, counting round 0 */
	bool stop_over_limit; /* path 2: stop-and-copy under low regardless */
	struct stall stall;  /* path 1's stall detection */
	int path;            /* 0 until round 0 has been seen */
	uint64_t prev_dirty; /* dirty bytes after the previous round */
};

static int adaptive_init(void *priv, const void *config)
{
	struct adaptive *a = priv;
	struct vmmig_adaptive_config c = { 0 };
	int ret;

	if (config) {
		ret = struct_copy_in(&c, sizeof(c), config);
		if (ret)
			return ret;
	}
	a->low = c.low_permille ? c.low_permille : ADAPTIVE_DEFAULT_LOW;
	a->high = c.high_permille ? c.high_permille : ADAPTIVE_DEFAULT_HIGH;
	a->cap = c.path2_max_rounds ? c.path2_max_rounds : ADAPTIVE_DEFAULT_CAP;
	a->stop_over_limit = c.path2_stop_over_limit != 0;
	if (a->low > 1000 || a->high > 1000 || a->cap > ADAPTIVE_MAX_CAP)
		return -ERANGE;
	if (a->low > a->high)
		return -EINVAL;
	return pol_stall_init(&a->stall, c.stall_rounds,
			      c.stall_shrink_percent);
}

/* "23.4%", or "10%" for a whole percent. */
static void fmt_pct(char *buf, size_t len, uint32_t permille)
{
	if (permille % 10)
		snprintf(buf, len, "%u.%u%%", permille / 10, permille % 10);
	else
		snprintf(buf, len, "%u%%", permille / 10);
}

static void path1(struct adaptive *a, const struct vmmig_round_info *ri,
		  const char *ratio, struct vmmig_decision *d)
{
	/* Room for the "path 1: " prefix; the stall text is shorter anyway. */
	char why[sizeof(d->reason) - 8];

	if (ri->expected_downtime_us <= ri->downtime_limit_us) {
		d->action = VMMIG_ACTION_STOP_AND_COPY;
		snprintf(d->reason, sizeof(d->reason),
			 "path 1: round %u, expected downtime %llu us within "
			 "limit", ri->round,
			 (unsigned long long)ri->expected_downtime_us);
	} else if (ri->max_rounds && ri->round + 1 >= ri->max_rounds) {
		d->action = VMMIG_ACTION_STOP_AND_COPY;
		snprintf(d->reason, sizeof(d->reason),
			 "path 1: round cap %u reached", ri->max_rounds);
	} else if (pol_stall_check(&a->stall, why, sizeof(why))) {
		d->action = VMMIG_ACTION_POSTCOPY;
		snprintf(d->reason, sizeof(d->reason), "path 1: %s", why);
	} else {
		d->action = VMMIG_ACTION_NEXT_ROUND;
		snprintf(d->reason, sizeof(d->reason),
			 "path 1: dirty ratio %s, round %u, pre-copy", ratio,
			 ri->round);
	}
}

static void path2(struct adaptive *a, const struct vmmig_round_info *ri,
		  const char *ratio, int first, struct vmmig_decision *d)
{
	char lo[16], hi[16];
	uint32_t cap = a->cap;

	if (ri->max_rounds && ri->max_rounds < cap)
		cap = ri->max_rounds;
	fmt_pct(lo, sizeof(lo), a->low);
	fmt_pct(hi, sizeof(hi), a->high);
	if (pol_ratio_cmp(ri->dirty_bytes, ri->guest_bytes, a->low) < 0 &&
	    (a->stop_over_limit ||
	     ri->expected_downtime_us <= ri->downtime_limit_us)) {
		d->action = VMMIG_ACTION_STOP_AND_COPY;
		snprintf(d->reason, sizeof(d->reason),
			 "path 2: dirty ratio %s under %s, round %u", ratio, lo,
			 ri->round);
	} else if (pol_ratio_cmp(ri->dirty_bytes, ri->guest_bytes,
				 a->low) < 0) {
		d->action = VMMIG_ACTION_POSTCOPY;
		snprintf(d->reason, sizeof(d->reason),
			 "path 2: ratio %.8s under %.8s, round %u, "
			 "downtime %llu ms over limit", ratio, lo, ri->round,
			 (unsigned long long)ri->expected_downtime_us / 1000);
	} else if (ri->expected_downtime_us <= ri->downtime_limit_us) {
		d->action = VMMIG_ACTION_STOP_AND_COPY;
		snprintf(d->reason, sizeof(d->reason),
			 "path 2: round %u, expected downtime %llu us within "
			 "limit", ri->round,
			 (unsigned long long)ri->expected_downtime_us);
	} else if (!first && ri->dirty_bytes >= a->prev_dirty) {
		d->action = VMMIG_ACTION_POSTCOPY;
		snprintf(d->reason, sizeof(d->reason),
			 "path 2: dirty ratio %s, round %u, not shrinking",
			 ratio, ri->round);
	} else if (ri->round + 1 >= cap) {
		d->action = VMMIG_ACTION_POSTCOPY;
		snprintf(d->reason, sizeof(d->reason),
			 "path 2: dirty ratio %s not under %s, round cap %u "
			 "reached", ratio, lo, cap);
	} else {
		d->action = VMMIG_ACTION_NEXT_ROUND;
		snprintf(d->reason, sizeof(d->reason),
			 "path 2: dirty ratio %s in [%s,%s], round %u, %s",
			 ratio, lo, hi, ri->round,
			 first ? "first pass" : "shrinking");
	}
}

static int adaptive_decide(void *priv, const struct vmmig_round_info *ri,
			   struct vmmig_decision *d)
{
	struct adaptive *a = priv;
	char ratio[16], hi[16];
	int first = !a->path;

	if (!ri->guest_bytes)
		return -EINVAL;
	fmt_pct(ratio, sizeof(ratio),
		pol_ratio_permille(ri->dirty_bytes, ri->guest_bytes));
	if (first) {
		if (pol_ratio_cmp(ri->dirty_bytes, ri->guest_bytes, a->low) < 0)
			a->path = 1;
		else if (pol_ratio_cmp(ri->dirty_bytes, ri->guest_bytes,
				       a->high) > 0)
			a->path = 3;
		else
			a->path = 2;
	}
	pol_stall_push(&a->stall, ri->dirty_bytes);
	d->path = a->path;
	if (a->path == 1) {
		path1(a, ri, ratio, d);
	} else if (a->path == 2) {
		path2(a, ri, ratio, first, d);
	} else {
		fmt_pct(hi, sizeof(hi), a->high);
		d->action = VMMIG_ACTION_POSTCOPY;
		snprintf(d->reason, sizeof(d->reason),
			 "path 3: dirty ratio %s over %s, post-copy at once",
			 ratio, hi);
	}
	a->prev_dirty = ri->dirty_bytes;
	return 0;
}

static const struct vmmig_policy_ops adaptive_ops = {
	.version = VMMIG_POLICY_OPS_VERSION,
	.name = "adaptive",
	.priv_size = sizeof(struct adaptive),
	.init = adaptive_init,
	.decide = adaptive_decide,
};

VMMIG_API int vmmig_policy_new_adaptive(const struct vmmig_adaptive_config *config,
					struct vmmig_policy **out)
{
	return vmmig_policy_new(&adaptive_ops, config, out);
}
