/* SPDX-License-Identifier: MIT */
/* Stall detection and dirty-ratio arithmetic for the built-in policies. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "stall.h"

#define STALL_DEFAULT_ROUNDS 3
#define STALL_DEFAULT_PCT 5

int pol_stall_init(struct stall *s, uint32_t rounds, uint32_t pct)
{
	memset(s, 0, sizeof(*s));
	if (rounds == VMMIG_STALL_OFF)
		return 0;
	if (rounds > VMMIG_STALL_MAX_ROUNDS || pct > 100)
		return -ERANGE;
	s->k = rounds ? rounds : STALL_DEFAULT_ROUNDS;
	s->pct = pct ? pct : STALL_DEFAULT_PCT;
	return 0;
}

void pol_stall_push(struct stall *s, uint64_t dirty_bytes)
{
	if (!s->k)
		return;
	if (s->n == s->k + 1) {
		memmove(s->hist, s->hist + 1, s->k * sizeof(s->hist[0]));
		s->n--;
	}
	s->hist[s->n++] = dirty_bytes;
}

void pol_stall_restart(struct stall *s)
{
	if (s->n > 1) {
		s->hist[0] = s->hist[s->n - 1];
		s->n = 1;
	}
}

int pol_stall_check(const struct stall *s, char *why, size_t len)
{
	uint64_t old, now, gone;

	if (!s->k || s->n < s->k + 1)
		return 0;
	old = s->hist[0];
	now = s->hist[s->n - 1];
	/* Nothing was left to shrink: the downtime rule decides that case. */
	if (!old)
		return 0;
	gone = now < old ? old - now : 0;
	if (pol_ratio_cmp(gone, old, s->pct * 10) >= 0)
		return 0;
	snprintf(why, len, "stalled: %llu dirty bytes, shrank %u.%u%% over %u "
		 "rounds (< %u%%)", (unsigned long long)now,
		 pol_ratio_permille(gone, old) / 10,
		 pol_ratio_permille(gone, old) % 10,
		 s->k, s->pct);
	return 1;
}

int pol_ratio_cmp(uint64_t num, uint64_t den, uint32_t permille)
{
	/* num * 1000 vs permille * den, without overflow: scale both down
	 * while either product could exceed 64 bits (only for exabyte-sized
	 * figures, where the lost low bits do not matter). */
	while (num > UINT64_MAX / 1000 ||
	       (permille && den > UINT64_MAX / permille)) {
		num >>= 1;
		den >>= 1;
	}
	uint64_t a = num * 1000, b = (uint64_t)permille * den;

	return a < b ? -1 : a > b;
}

uint32_t pol_ratio_permille(uint64_t num, uint64_t den)
{
	while (num > UINT64_MAX / 1000) {
		num >>= 1;
		den >>= 1;
	}
	if (!den)
		return UINT32_MAX;
	uint64_t pm = num * 1000 / den;

	return pm > UINT32_MAX ? UINT32_MAX : (uint32_t)pm;
}
