/* SPDX-License-Identifier: MIT */
/*
 * Private helpers shared by the built-in policies: stall detection over a
 * window of rounds, and exact dirty-ratio comparisons.
 */
#ifndef VMMIG_POLICY_STALL_H
#define VMMIG_POLICY_STALL_H

#include <stddef.h>
#include <stdint.h>

#include <vmmig/policy.h>

/* The dirty bytes left after each of the last k+1 rounds; stalled when the
 * newest is not at least pct % below the oldest. */
struct stall {
	uint64_t hist[VMMIG_STALL_MAX_ROUNDS + 1]; /* oldest first */
	uint32_t n;   /* samples held, <= k + 1 */
	uint32_t k;   /* window in rounds; 0 = detection off */
	uint32_t pct; /* minimum shrink over the window, percent */
};

/* 0 = defaults (3 rounds, 5 %); rounds == VMMIG_STALL_OFF turns it off.
 * -ERANGE if rounds > VMMIG_STALL_MAX_ROUNDS or pct > 100. */
int pol_stall_init(struct stall *s, uint32_t rounds, uint32_t pct);
void pol_stall_push(struct stall *s, uint64_t dirty_bytes);
/* Start a new window at the newest sample (e.g. after a throttle change,
 * which changes the guest's dirty rate). */
void pol_stall_restart(struct stall *s);
/* 1 if stalled (and @why describes it), else 0. */
int pol_stall_check(const struct stall *s, char *why, size_t len);

/* Compare num/den with permille/1000 exactly: -1, 0 or 1. den > 0. */
int pol_ratio_cmp(uint64_t num, uint64_t den, uint32_t permille);
/* num/den in per-mille (rounded down, saturating), for reasons. */
uint32_t pol_ratio_permille(uint64_t num, uint64_t den);

#endif
