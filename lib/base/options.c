/* SPDX-License-Identifier: MIT */
/* Every tunable: a name, the side it applies to, a range and a default, in
 * one table. */
#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>

#include "base.h"

#define SRC VMMIG_SIDE_SOURCE
#define DST VMMIG_SIDE_DEST
#define BOTH (VMMIG_SIDE_SOURCE | VMMIG_SIDE_DEST)

struct option_desc {
	const char *name;
	int side; /* VMMIG_SIDE_* bits: the sessions that read it */
	int64_t min, max, def;
};

static const struct option_desc option_table[VMMIG_OPT__COUNT] = {
	[VMMIG_OPT_DOWNTIME_LIMIT_MS] = { "downtime_limit_ms", SRC, 1, 600000, 300 },
	[VMMIG_OPT_MAX_ROUNDS] = { "max_rounds", SRC, 1, 10000, 30 },
	[VMMIG_OPT_BANDWIDTH_LIMIT] = { "bandwidth_limit_bps", SRC, 0,
					INT64_C(1) << 40, 0 },
	/* One more connection carries urgent post-copy pages. */
	[VMMIG_OPT_CHANNELS] = { "channels", SRC, 1, VMMIG_MAX_CHANNELS - 1, 2 },
	/* zstd by default: adaptive, it compresses next to nothing where
	 * that does not pay (issue 10's A/B in bench/vs-qemu/README.md). */
	[VMMIG_OPT_COMPRESSION] = { "compression", SRC, VMMIG_COMPRESS_NONE,
				    VMMIG_COMPRESS_ZSTD, VMMIG_COMPRESS_ZSTD },
	[VMMIG_OPT_ZSTD_LEVEL] = { "zstd_level", SRC, -7, 19, 1 },
	[VMMIG_OPT_DELTA_CACHE_BYTES] = { "delta_cache_bytes", SRC, 0,
					  INT64_C(1) << 36, 0 },
	[VMMIG_OPT_IO_TIMEOUT_MS] = { "io_timeout_ms", BOTH, 100, 3600000, 10000 },
	[VMMIG_OPT_VERIFY] = { "verify", SRC, 0, 1, 0 },
	[VMMIG_OPT_RECOVERY_TIMEOUT_MS] = { "recovery_timeout_ms", BOTH, 0, 3600000,
					    30000 },
	[VMMIG_OPT_RECV_DIRECT] = { "recv_direct", DST, 0, 1, 1 },
	[VMMIG_OPT_POPULATE] = { "populate", DST, 0, 1, 0 },
	[VMMIG_OPT_FAULT_CPU] = { "fault_cpu", BOTH, -1, CPU_SETSIZE - 1, -1 },
	[VMMIG_OPT_CONNECT_RETRY_MS] = { "connect_retry_ms", SRC, 0, 3600000,
					 0 },
	[VMMIG_OPT_HANDSHAKE_TIMEOUT_MS] = { "handshake_timeout_ms", DST, 10,
					     600000, 5000 },
	[VMMIG_OPT_ACCEPT_TIMEOUT_MS] = { "accept_timeout_ms", DST, 0,
					  INT32_MAX, 0 },
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

VMMIG_API int vmmig_option_side(int opt)
{
	if (opt < 0 || opt >= VMMIG_OPT__COUNT)
		return -EINVAL;
	return option_table[opt].side;
}

/* Refuse a configuration call: its reason goes to the log and to @err (what
 * *_error() shows until a migration failure replaces it). */
static int refuse(const struct logger *lg, char *err, size_t errlen, int code,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int refuse(const struct logger *lg, char *err, size_t errlen, int code,
		  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	log_msg(lg, VMMIG_LOG_ERROR, "%s", err);
	return code;
}

int options_set(struct options *o, int side, int opt, int64_t value,
		const struct logger *lg, char *err, size_t errlen)
{
	const struct option_desc *d;

	if (opt < 0 || opt >= VMMIG_OPT__COUNT)
		return refuse(lg, err, errlen, -EINVAL, "unknown option %d",
			      opt);
	d = &option_table[opt];
	if (!(d->side & side))
		return refuse(lg, err, errlen, -EINVAL,
			      "option %s is a %s option: the %s never reads "
			      "it", d->name,
			      d->side == SRC ? "source" : "destination",
			      side == SRC ? "source" : "destination");
	if (value < d->min || value > d->max)
		return refuse(lg, err, errlen, -ERANGE,
			      "option %s = %" PRId64 " is outside %" PRId64
			      "..%" PRId64, d->name, value, d->min, d->max);
	o->v[opt] = value;
	return 0;
}
