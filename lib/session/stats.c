/* SPDX-License-Identifier: MIT */
/* Statistics: names, JSON rendering, and the atomic counters behind them. */
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

static double ms(uint64_t us)
{
	return (double)us / 1000.0;
}

VMMIG_API int vmmig_stats_to_json(const struct vmmig_stats *st, char *buf,
				  size_t len)
{
	struct jbuf j = { .p = buf, .len = len };
	double mbps = 0;

	if (!st || !buf || !len || st->struct_size < sizeof(*st))
		return -EINVAL;
	if (st->total_time_us)
		mbps = (double)st->transferred_bytes * 8.0 /
		       (double)st->total_time_us;
	json_printf(&j, "{\"status\":\"%s\",\"mode\":",
		    vmmig_status_name(st->status));
	/* An embedder's policy is reported under its own name. */
	json_string(&j, st->mode == VMMIG_MODE_CUSTOM && st->policy[0]
			    ? st->policy : vmmig_mode_name(st->mode));
	json_printf(&j, ",\"policy\":");
	json_string(&j, st->policy);
	json_printf(&j, ",\"error\":%d,", st->error);
	json_printf(&j,
		    "\"total_time_ms\":%.3f,\"downtime_ms\":%.3f,"
		    "\"setup_time_ms\":%.3f,\"expected_downtime_ms\":%.3f,",
		    ms(st->total_time_us), ms(st->downtime_us),
		    ms(st->setup_time_us), ms(st->expected_downtime_us));
	json_printf(&j,
		    "\"rounds\":%" PRIu64 ",\"guest_bytes\":%" PRIu64
		    ",\"transferred_bytes\":%" PRIu64 ",\"remaining_bytes\":%" PRIu64
		    ",", st->rounds, st->guest_bytes, st->transferred_bytes,
		    st->remaining_bytes);
	json_printf(&j,
		    "\"pages\":{\"normal\":%" PRIu64 ",\"zero\":%" PRIu64
		    ",\"compressed\":%" PRIu64 ",\"delta\":%" PRIu64
		    ",\"restored\":%" PRIu64 ",\"skipped\":%" PRIu64 "},",
		    st->pages_normal, st->pages_zero, st->pages_compressed,
		    st->pages_delta, st->pages_restored, st->pages_skipped);
	json_printf(&j,
		    "\"mbps\":%.1f,\"bandwidth_bytes_per_s\":%" PRIu64
		    ",\"dirty_rate_pps\":%" PRIu64 ",\"dirty_sync_count\":%" PRIu64
		    ",", mbps, st->bandwidth_bps, st->dirty_rate_pps,
		    st->dirty_sync_count);
	json_printf(&j,
		    "\"delta_cache\":{\"hits\":%" PRIu64 ",\"misses\":%" PRIu64
		    "},\"throttle_percent\":%u,\"channels\":%u,",
		    st->delta_cache_hits, st->delta_cache_misses,
		    st->throttle_percent, st->channels);
	if (st->verified < 0)
		json_printf(&j, "\"verified\":null,");
	else
		json_printf(&j, "\"verified\":%s,",
			    st->verified ? "true" : "false");
	json_printf(&j, "\"path\":%d,\"path_reason\":", st->path);
	json_string(&j, st->path_reason);
	json_printf(&j,
		    ",\"postcopy_faults\":%" PRIu64
		    ",\"fault_latency_us\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64
		    "},\"precopy_bytes\":%" PRIu64 ",\"postcopy_bytes\":%" PRIu64
		    ",\"postcopy_recoveries\":%" PRIu64
		    ",\"postcopy_time_ms\":%.3f,\"postcopy_pages_lost\":%" PRIu64
		    ",", st->postcopy_faults, st->fault_latency_p50_us,
		    st->fault_latency_p99_us, st->precopy_bytes,
		    st->postcopy_bytes, st->postcopy_recoveries,
		    ms(st->postcopy_time_us), st->postcopy_pages_lost);
	json_printf(&j,
		    "\"pass\":{\"pages\":%" PRIu64 ",\"done\":%" PRIu64 "},",
		    st->pass_pages, st->pass_pages_done);
	json_printf(&j,
		    "\"restore\":{\"bytes\":%" PRIu64 ",\"mismatches\":%" PRIu64
		    ",\"fallbacks\":%" PRIu64 ",\"time_ms\":%.3f},",
		    st->restore_bytes, st->restore_mismatches,
		    st->restore_fallbacks, ms(st->restore_time_us));
	json_printf(&j, "\"rejected_connections\":%" PRIu64 ",\"owner\":",
		    st->rejected_connections);
	json_string(&j, st->owner == VMMIG_OWNER_SOURCE ? "source"
		  : st->owner == VMMIG_OWNER_DEST ? "destination" : "unknown");
	json_printf(&j, "}");
	return json_finish(&j);
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
