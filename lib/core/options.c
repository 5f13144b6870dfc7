/* SPDX-License-Identifier: MIT */
/* Every tunable: a name, a range and a default, in one table. */
#include <errno.h>
#include <sched.h>

#include "core.h"

struct option_desc {
	const char *name;
	int64_t min, max, def;
};

static const struct option_desc option_table[VMMIG_OPT__COUNT] = {
	[VMMIG_OPT_DOWNTIME_LIMIT_MS] = { "downtime_limit_ms", 1, 600000, 300 },
	[VMMIG_OPT_MAX_ROUNDS] = { "max_rounds", 1, 10000, 30 },
	[VMMIG_OPT_BANDWIDTH_LIMIT] = { "bandwidth_limit_bps", 0,
					INT64_C(1) << 40, 0 },
	/* One more connection carries urgent post-copy pages. */
	[VMMIG_OPT_CHANNELS] = { "channels", 1, VMMIG_MAX_CHANNELS - 1, 1 },
	[VMMIG_OPT_COMPRESSION] = { "compression", VMMIG_COMPRESS_NONE,
				    VMMIG_COMPRESS_ZSTD, VMMIG_COMPRESS_NONE },
	[VMMIG_OPT_ZSTD_LEVEL] = { "zstd_level", -7, 19, 1 },
	[VMMIG_OPT_DELTA_CACHE_BYTES] = { "delta_cache_bytes", 0,
					  INT64_C(1) << 36, 0 },
	[VMMIG_OPT_IO_TIMEOUT_MS] = { "io_timeout_ms", 100, 3600000, 10000 },
	[VMMIG_OPT_VERIFY] = { "verify", 0, 1, 0 },
	[VMMIG_OPT_RECOVERY_TIMEOUT_MS] = { "recovery_timeout_ms", 0, 3600000,
					    30000 },
	[VMMIG_OPT_RECV_DIRECT] = { "recv_direct", 0, 1, 1 },
	[VMMIG_OPT_POPULATE] = { "populate", 0, 1, 0 },
	[VMMIG_OPT_FAULT_CPU] = { "fault_cpu", -1, CPU_SETSIZE - 1, -1 },
	[VMMIG_OPT_CONNECT_RETRY_MS] = { "connect_retry_ms", 0, 3600000, 0 },
};

VMMIG_API int vmmig_option_range(int opt, int64_t *min, int64_t *max,
				 int64_t *def)
{
	if (opt < 0 || opt >= VMMIG_OPT__COUNT)
		return -EINVAL;
	if (min)
		*min = option_table[opt].min;
	if (max)
		*max = option_table[opt].max;
	if (def)
		*def = option_table[opt].def;
	return 0;
}

VMMIG_API const char *vmmig_option_name(int opt)
{
	if (opt < 0 || opt >= VMMIG_OPT__COUNT)
		return NULL;
	return option_table[opt].name;
}

void options_init(struct options *o)
{
	for (int i = 0; i < VMMIG_OPT__COUNT; i++)
		o->v[i] = option_table[i].def;
}

int options_set(struct options *o, int opt, int64_t value)
{
	if (opt < 0 || opt >= VMMIG_OPT__COUNT)
		return -EINVAL;
	if (value < option_table[opt].min || value > option_table[opt].max)
		return -ERANGE;
	o->v[opt] = value;
	return 0;
}
