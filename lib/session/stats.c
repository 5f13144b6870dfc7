/* SPDX-License-Identifier: MIT */
/* Statistics: names, and the atomic counters behind them (the JSON
 * rendering is in stats_json.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "session.h"

VMMIG_API const char *vmmig_status_name(int status)
{
	static const char *const names[] = {
		[VMMIG_STATUS_NONE] = "none",
		[VMMIG_STATUS_SETUP] = "setup",
		[VMMIG_STATUS_ACTIVE] = "active",
		[VMMIG_STATUS_DEVICE] = "device",
		[VMMIG_STATUS_POSTCOPY] = "postcopy-active",
		[VMMIG_STATUS_COMPLETED] = "completed",
		[VMMIG_STATUS_FAILED] = "failed",
		[VMMIG_STATUS_CANCELLED] = "cancelled",
		[VMMIG_STATUS_POSTCOPY_PAUSED] = "postcopy-paused",
	};

	if (status < 0 || (size_t)status >= ARRAY_SIZE(names))
		return "unknown";
	return names[status];
}

VMMIG_API const char *vmmig_mode_name(int mode)
{
	static const char *const names[] = {
		[VMMIG_MODE_PRECOPY] = "precopy",
		[VMMIG_MODE_POSTCOPY] = "postcopy",
		[VMMIG_MODE_HYBRID] = "hybrid",
		[VMMIG_MODE_ADAPTIVE] = "adaptive",
		[VMMIG_MODE_CUSTOM] = "custom",
	};

	if (mode < 0 || (size_t)mode >= ARRAY_SIZE(names))
		return "unknown";
	return names[mode];
}

void sess_counters_add_enc(struct counters *c, const struct enc_counters *e)
{
	for (int i = 0; i < WIRE_ENC__COUNT; i++)
		atomic_fetch_add(&c->pages[i], e->pages[i]);
	atomic_fetch_add(&c->cache_hits, e->cache_hits);
	atomic_fetch_add(&c->cache_misses, e->cache_misses);
}

void sess_counters_fill(const struct counters *c, struct vmmig_stats *st)
{
	st->pages_zero = atomic_load(&c->pages[WIRE_ENC_ZERO]);
	st->pages_normal = atomic_load(&c->pages[WIRE_ENC_RAW]);
	st->pages_compressed = atomic_load(&c->pages[WIRE_ENC_ZSTD]);
	st->pages_delta = atomic_load(&c->pages[WIRE_ENC_DELTA]);
	st->pages_skipped = atomic_load(&c->pages[WIRE_ENC_HINT]);
	st->delta_cache_hits = atomic_load(&c->cache_hits);
	st->delta_cache_misses = atomic_load(&c->cache_misses);
}

int sess_stats_copy_out(const struct vmmig_stats *full, struct vmmig_stats *out)
{
	size_t n;

	if (!out || out->struct_size < offsetof(struct vmmig_stats, status))
		return -EINVAL;
	n = out->struct_size < sizeof(*full) ? out->struct_size : sizeof(*full);
	memcpy((char *)out + sizeof(out->struct_size),
	       (const char *)full + sizeof(full->struct_size),
	       n - sizeof(out->struct_size));
	return 0;
}
