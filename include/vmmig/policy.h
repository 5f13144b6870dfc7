/* SPDX-License-Identifier: MIT */
/*
 * libvmmig — path-selection policy: after every pre-copy round, decide what
 * happens next from the round's figures.
 *
 * A policy is a versioned ops table plus private state the library allocates
 * (priv_size bytes, zeroed). The built-in policies use this same interface.
 * The rules every pluggable interface follows (versions, return values,
 * wrappers): <vmmig/common.h>.
 */
#ifndef VMMIG_POLICY_H
#define VMMIG_POLICY_H

#include <vmmig/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version 2 appended first_pass(); tables that say 1 are still accepted
 * (their first_pass is never read). */
#define VMMIG_POLICY_OPS_VERSION 2

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
	uint64_t expected_downtime_us; /* dirty bytes / bandwidth, plus a
					 * dirty sync and a round trip */
	uint64_t elapsed_us;           /* since the migration started */
	uint64_t downtime_limit_us;    /* session option */
	uint32_t max_rounds;           /* session option */
	uint32_t throttle_percent;     /* currently applied throttle */
};

enum vmmig_action {
	VMMIG_ACTION_NEXT_ROUND = 0,   /* iterate again */
	VMMIG_ACTION_STOP_AND_COPY = 1,/* pause, send the rest, switch over */
	VMMIG_ACTION_POSTCOPY = 2,     /* pause, switch, pull the rest */
	VMMIG_ACTION_THROTTLE = 3,     /* call throttle(percent), iterate; a
					* source without a throttle() callback
					* only iterates (and warns, see
					* struct vmmig_source_ops) */
};

struct vmmig_decision {
	int action;               /* enum vmmig_action */
	uint32_t throttle_percent;/* for VMMIG_ACTION_THROTTLE: 1..99 */
	int path;                 /* policy-defined path number, 0 if none */
	char reason[96];          /* short explanation, lands in the stats */
};

/* A source session calls init() and destroy() from vmmig_policy_new() and
 * vmmig_policy_free() (the caller's thread), first_pass() and decide() on
 * its migration thread, one call at a time. */
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
	/* Since version 2, optional: 1 if the source session should send
	 * the full pre-copy pass (round 0) before asking decide(), 0 to
	 * switch to post-copy without any pre-copy round. NULL means 1. */
	int (*first_pass)(void *priv);
};

struct vmmig_policy;

/**
 * vmmig_policy_new() - create a policy from an ops table.
 * @ops: version 1 or 2 (VMMIG_POLICY_OPS_VERSION) with name and decide();
 *       must outlive the policy
 * @config: passed to ops->init(); need not outlive the call
 * @out: receives the policy (NULL on failure)
 *
 * Private state of ops->priv_size bytes is allocated and zeroed; the
 * built-in policies are made the same way.
 *
 * Thread: any thread.
 * Callbacks: ops->init() on the calling thread; if it fails,
 * ops->destroy() too.
 * Return: 0; -EINVAL (NULL @ops or @out, unknown version, no decide() or
 * name); -ENOMEM; or what ops->init() returned (anything but 0 fails).
 */
VMMIG_API int vmmig_policy_new(const struct vmmig_policy_ops *ops,
			       const void *config, struct vmmig_policy **out);
/**
 * vmmig_policy_free() - destroy and free a policy.
 * @p: the policy, or NULL (no-op)
 *
 * Thread: the thread that owns the policy, after the session that borrowed
 * it was freed.
 * Callbacks: ops->destroy() on the calling thread.
 * Return: nothing.
 */
VMMIG_API void vmmig_policy_free(struct vmmig_policy *p);
/**
 * vmmig_policy_priv() - the private state of a policy.
 * @p: the policy
 *
 * The ops->priv_size bytes the library allocated, as the ops receive them.
 *
 * Thread: any thread.
 * Callbacks: none.
 * Return: the state; NULL for NULL @p.
 */
VMMIG_API void *vmmig_policy_priv(struct vmmig_policy *p);
/**
 * vmmig_policy_name() - the policy's name.
 * @p: the policy
 *
 * Thread: any thread.
 * Callbacks: none.
 * Return: ops->name (e.g. "adaptive"); NULL for NULL @p.
 */
VMMIG_API const char *vmmig_policy_name(const struct vmmig_policy *p);
/**
 * vmmig_policy_decide() - ask the policy what to do after a round.
 * @p: the policy
 * @ri: the round just finished
 * @out: receives the decision (zeroed first)
 *
 * Checks the answer: a valid action, a throttle of 1..99 % for THROTTLE,
 * a NUL-terminated reason. A source session calls it after every pre-copy
 * round; it is public for embedders and tests.
 *
 * Thread: the thread that owns the policy; a policy a source session uses
 * is called by that session's migration thread while it runs.
 * Callbacks: ops->decide() on the calling thread.
 * Return: 0 (decision in @out); -EINVAL (NULL argument, unknown action,
 * decide() returned a positive value); -ERANGE (throttle out of 1..99); or
 * decide()'s error.
 */
VMMIG_API int vmmig_policy_decide(struct vmmig_policy *p,
				  const struct vmmig_round_info *ri,
				  struct vmmig_decision *out);

/*
 * The built-ins' config structs start with struct_size: the caller sets it
 * to sizeof() the struct as its header declares it. Fields are only ever
 * appended and 0 always means "default", so a caller built against an
 * older header (a smaller struct_size) gets the defaults of the fields it
 * does not know; a larger struct (a newer header) is accepted if its bytes
 * past the ones this library knows are all 0, else -E2BIG. A struct_size
 * below 4 is -EINVAL. A NULL config means every default.
 */

/* ---- built-in: precopy ---- */
struct vmmig_precopy_config {
	uint32_t struct_size;
	/* Auto-converge: when the expected downtime stays over the limit,
	 * throttle the guest, starting at initial and adding increment each
	 * round, capped at max. 0 disables. */
	uint32_t throttle_initial;
	uint32_t throttle_increment;
	uint32_t throttle_max;
	/* Stall detection (appended): if the dirty bytes left after a round
	 * have not shrunk by at least stall_shrink_percent over the last
	 * stall_rounds rounds, switch over ("stalled") instead of iterating to
	 * the round cap. With auto-converge, the throttle is raised to its max
	 * first and the window restarts at every raise. 0 = defaults (3 rounds,
	 * 5 %); stall_rounds = VMMIG_STALL_OFF disables it. Ranges: rounds
	 * 1..VMMIG_STALL_MAX_ROUNDS, percent 1..100, else -ERANGE. */
	uint32_t stall_rounds;
	uint32_t stall_shrink_percent;
};
/**
 * vmmig_policy_new_precopy() - the built-in "precopy" policy, QEMU's rule.
 * @config: auto-converge and stall settings, or NULL (no auto-converge,
 *          default stall detection)
 * @out: receives the policy
 *
 * After each round: STOP_AND_COPY once the expected downtime is within the
 * limit, or at the session's max_rounds; THROTTLE (auto-converge) while
 * it is not converging, if configured; STOP_AND_COPY ("stalled") when the
 * dirty set stopped shrinking; else NEXT_ROUND.
 *
 * Thread: any thread.
 * Callbacks: none of the embedder's (the built-in's init() runs on the
 * calling thread).
 * Return: 0; -EINVAL (NULL @out, struct_size below 4); -ERANGE (a throttle
 * over 99, a stall setting out of range); -E2BIG (a larger struct with a non-zero tail);
 * -ENOMEM.
 */
VMMIG_API int vmmig_policy_new_precopy(const struct vmmig_precopy_config *config,
				       struct vmmig_policy **out);

/* Stall detection settings (struct vmmig_precopy_config,
 * struct vmmig_adaptive_config). */
#define VMMIG_STALL_OFF UINT32_MAX
#define VMMIG_STALL_MAX_ROUNDS 32

/**
 * vmmig_policy_wants_first_pass() - whether a full pre-copy pass comes before the first decide().
 * @p: the policy
 *
 * Every built-in answers 1 except postcopy with
 * VMMIG_POSTCOPY_NO_FIRST_PASS (0); an embedder's policy answers through
 * first_pass() (version 2; none, or a version-1 table: 1).
 *
 * Thread: as vmmig_policy_decide() (a source session asks on its migration
 * thread, once, at the start).
 * Callbacks: ops->first_pass() on the calling thread, if the table has it.
 * Return: 1 or 0 (any nonzero answer of first_pass() is 1); -EINVAL for
 * NULL @p; or first_pass()'s negative error.
 */
VMMIG_API int vmmig_policy_wants_first_pass(const struct vmmig_policy *p);

/* ---- built-in: postcopy ---- */
/* Skip the first full pre-copy pass: pause and switch at once. */
#define VMMIG_POSTCOPY_NO_FIRST_PASS (1u << 0)
struct vmmig_postcopy_config {
	uint32_t struct_size;
	uint32_t flags; /* VMMIG_POSTCOPY_*; unknown bits are -EINVAL */
};
/**
 * vmmig_policy_new_postcopy() - the built-in "postcopy" policy.
 * @config: flags, or NULL (switch after the first pass)
 * @out: receives the policy
 *
 * Decides POSTCOPY at its first call, i.e. after round 0 (or, with
 * VMMIG_POSTCOPY_NO_FIRST_PASS, before any pre-copy round: the session
 * then pauses and switches at once).
 *
 * Thread: any thread.
 * Callbacks: none of the embedder's (the built-in's init() runs on the
 * calling thread).
 * Return: 0; -EINVAL (NULL @out, unknown flags, struct_size below 4);
 * -E2BIG; -ENOMEM.
 */
VMMIG_API int vmmig_policy_new_postcopy(const struct vmmig_postcopy_config *config,
					struct vmmig_policy **out);

/* ---- built-in: hybrid ---- */
struct vmmig_hybrid_config {
	uint32_t struct_size;
	/* Pre-copy rounds before the switch, counting the full pass (round
	 * 0): 0 = default 2, at most 1000 (else -ERANGE). */
	uint32_t precopy_rounds;
};
/**
 * vmmig_policy_new_hybrid() - the built-in "hybrid" policy: some pre-copy rounds, then post-copy.
 * @config: the number of pre-copy rounds, or NULL (2)
 * @out: receives the policy
 *
 * After each round: STOP_AND_COPY if the expected downtime is within the
 * limit; POSTCOPY once precopy_rounds rounds (or the session's max_rounds,
 * if fewer) are done; else NEXT_ROUND.
 *
 * Thread: any thread.
 * Callbacks: none of the embedder's (the built-in's init() runs on the
 * calling thread).
 * Return: 0; -EINVAL (NULL @out, struct_size below 4); -ERANGE (over 1000
 * rounds); -E2BIG; -ENOMEM.
 */
VMMIG_API int vmmig_policy_new_hybrid(const struct vmmig_hybrid_config *config,
				      struct vmmig_policy **out);

/* ---- built-in: adaptive (three paths) ---- */
struct vmmig_adaptive_config {
	uint32_t struct_size;
	/* Marks on the dirty ratio after round 0 (dirty_bytes / guest_bytes),
	 * in per-mille: 0 = defaults 100 (10 %) and 500 (50 %). Each at most
	 * 1000 (-ERANGE); low must not exceed high (-EINVAL). */
	uint32_t low_permille;
	uint32_t high_permille;
	/* Path 2's round cap, counting round 0: 0 = default 9, at most 1000
	 * (-ERANGE). The session's max_rounds also caps it. */
	uint32_t path2_max_rounds;
	/* Path 1's stall detection, as in struct vmmig_precopy_config. */
	uint32_t stall_rounds;
	uint32_t stall_shrink_percent;
	/* Path 2 under the low mark: 0 (default) = STOP_AND_COPY only if the
	 * expected downtime is within the limit, else POSTCOPY (the dirty set
	 * is small but the link still too slow for the downtime asked for);
	 * non-zero = STOP_AND_COPY regardless, the source text's rule. */
	uint32_t path2_stop_over_limit;
};
/**
 * vmmig_policy_new_adaptive() - the built-in "adaptive" policy: three paths chosen by the dirty ratio.
 * @config: marks, caps and stall settings, or NULL (defaults)
 * @out: receives the policy
 *
 * The path is chosen once, from round 0's figures (decision path = 1, 2
 * or 3), by the dirty ratio dirty_bytes / guest_bytes:
 *
 * ratio < low, path 1: pre-copy; STOP_AND_COPY when the expected downtime
 * is within the limit or at max_rounds; POSTCOPY if stalled.
 *
 * low <= ratio <= high, path 2: NEXT_ROUND while the dirty bytes shrink
 * (strictly) round over round; STOP_AND_COPY once the expected downtime is
 * within the limit; under low but over the limit, POSTCOPY (unless
 * path2_stop_over_limit); POSTCOPY if not shrinking or at the cap.
 *
 * ratio > high, path 3: POSTCOPY at once.
 *
 * Both marks belong to path 2 (exactly 10 % or exactly 50 % is path 2).
 * decide() fails with -EINVAL if guest_bytes is 0.
 *
 * Thread: any thread.
 * Callbacks: none of the embedder's (the built-in's init() runs on the
 * calling thread).
 * Return: 0; -EINVAL (NULL @out, low above high, struct_size below 4);
 * -ERANGE (a mark over 1000, a cap over 1000, a stall setting out of
 * range); -E2BIG; -ENOMEM.
 */
VMMIG_API int vmmig_policy_new_adaptive(const struct vmmig_adaptive_config *config,
					struct vmmig_policy **out);

#ifdef __cplusplus
}
#endif
#endif /* VMMIG_POLICY_H */
