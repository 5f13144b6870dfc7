/* SPDX-License-Identifier: MIT */
/*
 * --mode: which of the library's path-selection policies the source uses.
 *   precopy                 pre-copy to convergence (the library default)
 *   postcopy | postcopy:now post-copy after the first full pass, or at once
 *   hybrid[:N]              N pre-copy rounds (counting the full pass), then
 *                           post-copy
 *   adaptive[:LOW,HIGH,CAP] the three paths; marks in percent of guest
 *                           memory dirtied during the first pass, CAP the
 *                           path-2 round cap
 * The destination needs no option: the stream tells it what happens.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* "A,B,C" into up to @n unsigned values, each at most @max. */
static int parse_list(const char *s, unsigned long *v, int n,
		      unsigned long max)
{
	int i = 0;

	for (;;) {
		char *end;

		if (i == n || *s < '0' || *s > '9')
			return -EINVAL;
		v[i] = strtoul(s, &end, 10);
		if (v[i] > max)
			return -EINVAL;
		i++;
		if (*end == 0)
			return i;
		if (*end != ',')
			return -EINVAL;
		s = end + 1;
	}
}

int mode__parse(struct opts *o, const char *m)
{
	const char *colon = strchr(m, ':');
	size_t n = colon ? (size_t)(colon - m) : strlen(m);
	const char *arg = colon ? colon + 1 : NULL;
	unsigned long v[3];
	int k;

	o->mode = m;
	if (n == 7 && !strncmp(m, "precopy", n) && !arg) {
		o->mode_kind = VMMIG_MODE_PRECOPY;
	} else if (n == 8 && !strncmp(m, "postcopy", n)) {
		o->mode_kind = VMMIG_MODE_POSTCOPY;
		if (arg && strcmp(arg, "now"))
			return -EINVAL;
		if (arg)
			o->pc_now = true;
	} else if (n == 6 && !strncmp(m, "hybrid", n)) {
		o->mode_kind = VMMIG_MODE_HYBRID;
		if (arg && parse_list(arg, v, 1, 1000) != 1)
			return -EINVAL;
		o->hybrid_rounds = arg ? (uint32_t)v[0] : 0;
	} else if (n == 8 && !strncmp(m, "adaptive", n)) {
		o->mode_kind = VMMIG_MODE_ADAPTIVE;
		if (!arg)
			return 0;
		k = parse_list(arg, v, 3, 1000);
		/* Marks in percent (the library takes per-mille). */
		if (k != 3 || v[0] > 100 || v[1] > 100 || v[0] > v[1] ||
		    v[2] == 0)
			return -EINVAL;
		o->ad_low = (uint32_t)v[0] * 10;
		o->ad_high = (uint32_t)v[1] * 10;
		o->ad_cap = (uint32_t)v[2];
		/* 0 % would read as "default" to the library. */
		if (!o->ad_low || !o->ad_high)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	return 0;
}

int mode__policy(const struct opts *o, struct vmmig_policy **out)
{
	struct vmmig_postcopy_config pc = { .struct_size = sizeof(pc) };
	struct vmmig_hybrid_config hc = { .struct_size = sizeof(hc),
		.precopy_rounds = o->hybrid_rounds };
	struct vmmig_adaptive_config ac = { .struct_size = sizeof(ac),
		.low_permille = o->ad_low,
		.high_permille = o->ad_high,
		.path2_max_rounds = o->ad_cap,
	};

	*out = NULL;
	switch (o->mode_kind) {
	case VMMIG_MODE_PRECOPY:
		return 0; /* the session's built-in default */
	case VMMIG_MODE_POSTCOPY:
		if (o->pc_now)
			pc.flags = VMMIG_POSTCOPY_NO_FIRST_PASS;
		return vmmig_policy_new_postcopy(&pc, out);
	case VMMIG_MODE_HYBRID:
		return vmmig_policy_new_hybrid(&hc, out);
	case VMMIG_MODE_ADAPTIVE:
		return vmmig_policy_new_adaptive(&ac, out);
	}
	return -EINVAL;
}
