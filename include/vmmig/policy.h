/* SPDX-License-Identifier: MIT */
/*
 * libvmmig — path-selection policy: after every pre-copy round, decide what
 * happens next from the round's figures.
 *
 * A policy is a versioned ops table plus private state the library allocates
 * (priv_size bytes, zeroed). The built-in policies use this same interface.
 */
#ifndef VMMIG_POLICY_H
#define VMMIG_POLICY_H

#include <vmmig/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMMIG_POLICY_OPS_VERSION 1

/* What the round just finished looked like. All figures are for the whole
 * session (all channels). */
struct vmmig_round_info {
	uint32_t round;                /* 0 = the first, full pass */
	uint64_t guest_bytes;          /* all registered memory */
	uint64_t round_bytes;          /* bytes put on the wire this round */
	uint64_t round_pages;          /* pages sent this round */
	uint64_t round_time_us;        /* duration of this round */
	uint64_t dirty_pages;          /* pages dirtied during this round
					* (what the next round must send) */
	uint64_t dirty_bytes;          /* dirty_pages * page size */
	uint64_t bandwidth_bps;        /* measured wire rate, bytes/s */
	uint64_t dirty_rate_pps;       /* pages dirtied per second */
	uint64_t expected_downtime_us; /* dirty bytes / bandwidth */
	uint64_t elapsed_us;           /* since the migration started */
	uint64_t downtime_limit_us;    /* session option */
	uint32_t max_rounds;           /* session option */
	uint32_t throttle_percent;     /* currently applied throttle */
};

enum vmmig_action {
	VMMIG_ACTION_NEXT_ROUND = 0,   /* iterate again */
	VMMIG_ACTION_STOP_AND_COPY = 1,/* pause, send the rest, switch over */
	VMMIG_ACTION_POSTCOPY = 2,     /* pause, switch, pull the rest */
	VMMIG_ACTION_THROTTLE = 3,     /* call throttle(percent), iterate */
};

struct vmmig_decision {
	int action;               /* enum vmmig_action */
	uint32_t throttle_percent;/* for VMMIG_ACTION_THROTTLE: 1..99 */
	int path;                 /* policy-defined path number, 0 if none */
	char reason[96];          /* short explanation, lands in the stats */
};

struct vmmig_policy_ops {
	uint32_t version;   /* VMMIG_POLICY_OPS_VERSION */
	const char *name;
	size_t priv_size;
	int (*init)(void *priv, const void *config);   /* optional */
	/* Decide after a round. Return 0 (decision filled) or -errno (aborts
	 * the migration, source keeps running). */
	int (*decide)(void *priv, const struct vmmig_round_info *ri,
		      struct vmmig_decision *out);
	void (*destroy)(void *priv);                   /* optional */
};

struct vmmig_policy;

VMMIG_API int vmmig_policy_new(const struct vmmig_policy_ops *ops,
			       const void *config, struct vmmig_policy **out);
VMMIG_API void vmmig_policy_free(struct vmmig_policy *p);
VMMIG_API void *vmmig_policy_priv(struct vmmig_policy *p);
VMMIG_API const char *vmmig_policy_name(const struct vmmig_policy *p);
/* Calls ops->decide() after checking its answer is a valid action. */
VMMIG_API int vmmig_policy_decide(struct vmmig_policy *p,
				  const struct vmmig_round_info *ri,
				  struct vmmig_decision *out);

/* ---- built-in: precopy ---- */
struct vmmig_precopy_config {
	/* Auto-converge: when the expected downtime stays over the limit,
	 * throttle the guest, starting at initial and adding increment each
	 * round, capped at max. 0 disables. */
	uint32_t throttle_initial;
	uint32_t throttle_increment;
	uint32_t throttle_max;
};
/* Switch over when expected downtime <= limit or at max rounds.
 * @config may be NULL (no auto-converge). */
VMMIG_API int vmmig_policy_new_precopy(const struct vmmig_precopy_config *config,
				       struct vmmig_policy **out);

#ifdef __cplusplus
}
#endif
#endif /* VMMIG_POLICY_H */
