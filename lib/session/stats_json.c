/* SPDX-License-Identifier: MIT */
/*
 * vmmig_stats_to_json(): the statistics as one JSON object, the way QEMU's
 * query-migrate names them, with units in the keys.
 *
 * The caller's struct may be older (smaller struct_size) than this
 * library's: a key is written only when every field behind it lies inside
 * the caller's struct, so the JSON never shows a value the caller's struct
 * does not hold. A larger struct (a newer header) is rendered as far as
 * this library knows it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "session.h"

/* The smallest struct rendered: struct_size and status. */
#define STATS_MIN_SIZE (offsetof(struct vmmig_stats, status) + sizeof(int32_t))

/* Does the caller's struct of @n bytes hold the field @f? */
#define END(f) (offsetof(struct vmmig_stats, f) + \
		sizeof(((struct vmmig_stats *)0)->f))
#define HAS(n, f) ((n) >= END(f))

struct jobj {
	struct jbuf j;
	bool first; /* no key written yet at this level */
};

static void key(struct jobj *o, const char *k)
{
	jkey(&o->j, &o->first, k);
}

static double ms(uint64_t us)
{
	return (double)us / 1000.0;
}

static void u64(struct jobj *o, const char *k, uint64_t v)
{
	key(o, k);
	json_printf(&o->j, "%" PRIu64, v);
}

static void msec(struct jobj *o, const char *k, uint64_t us)
{
	key(o, k);
	json_printf(&o->j, "%.3f", ms(us));
}

static void times(struct jobj *o, const struct vmmig_stats *st, size_t n)
{
	if (HAS(n, total_time_us))
		msec(o, "total_time_ms", st->total_time_us);
	if (HAS(n, downtime_us))
		msec(o, "downtime_ms", st->downtime_us);
	if (HAS(n, setup_time_us))
		msec(o, "setup_time_ms", st->setup_time_us);
	if (HAS(n, expected_downtime_us))
		msec(o, "expected_downtime_ms", st->expected_downtime_us);
}

static void volumes(struct jobj *o, const struct vmmig_stats *st, size_t n)
{
	if (HAS(n, rounds))
		u64(o, "rounds", st->rounds);
	if (HAS(n, guest_bytes))
		u64(o, "guest_bytes", st->guest_bytes);
	if (HAS(n, transferred_bytes))
		u64(o, "transferred_bytes", st->transferred_bytes);
	if (HAS(n, remaining_bytes))
		u64(o, "remaining_bytes", st->remaining_bytes);
	if (HAS(n, pages_skipped)) {
		key(o, "pages");
		json_printf(&o->j,
			"{\"normal\":%" PRIu64 ",\"zero\":%" PRIu64
			",\"compressed\":%" PRIu64 ",\"delta\":%" PRIu64
			",\"restored\":%" PRIu64 ",\"skipped\":%" PRIu64 "}",
			st->pages_normal, st->pages_zero, st->pages_compressed,
			st->pages_delta, st->pages_restored, st->pages_skipped);
	}
	if (HAS(n, transferred_bytes) && HAS(n, total_time_us)) {
		double mbps = 0;

		if (st->total_time_us)
			mbps = (double)st->transferred_bytes * 8.0 /
			       (double)st->total_time_us;
		key(o, "mbps");
		json_printf(&o->j, "%.1f", mbps);
	}
	if (HAS(n, bandwidth_bps))
		u64(o, "bandwidth_bytes_per_s", st->bandwidth_bps);
	if (HAS(n, dirty_rate_pps))
		u64(o, "dirty_rate_pps", st->dirty_rate_pps);
	if (HAS(n, dirty_sync_count))
		u64(o, "dirty_sync_count", st->dirty_sync_count);
	if (HAS(n, delta_cache_misses)) {
		key(o, "delta_cache");
		json_printf(&o->j, "{\"hits\":%" PRIu64 ",\"misses\":%" PRIu64 "}",
			st->delta_cache_hits, st->delta_cache_misses);
	}
	if (HAS(n, throttle_percent))
		u64(o, "throttle_percent", st->throttle_percent);
	if (HAS(n, channels))
		u64(o, "channels", st->channels);
}

static void verdicts(struct jobj *o, const struct vmmig_stats *st, size_t n)
{
	if (HAS(n, verified)) {
		key(o, "verified");
		json_printf(&o->j, "%s", st->verified < 0 ? "null"
				     : st->verified ? "true" : "false");
	}
	if (HAS(n, path)) {
		key(o, "path");
		json_printf(&o->j, "%d", st->path);
	}
	if (HAS(n, path_reason)) {
		key(o, "path_reason");
		json_string(&o->j, st->path_reason);
	}
}

static void postcopy(struct jobj *o, const struct vmmig_stats *st, size_t n)
{
	if (HAS(n, postcopy_faults))
		u64(o, "postcopy_faults", st->postcopy_faults);
	if (HAS(n, fault_latency_p99_us)) {
		key(o, "fault_latency_us");
		json_printf(&o->j, "{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 "}",
			st->fault_latency_p50_us, st->fault_latency_p99_us);
	}
	if (HAS(n, precopy_bytes))
		u64(o, "precopy_bytes", st->precopy_bytes);
	if (HAS(n, postcopy_bytes))
		u64(o, "postcopy_bytes", st->postcopy_bytes);
	if (HAS(n, postcopy_recoveries))
		u64(o, "postcopy_recoveries", st->postcopy_recoveries);
	if (HAS(n, postcopy_time_us))
		msec(o, "postcopy_time_ms", st->postcopy_time_us);
	if (HAS(n, postcopy_pages_lost))
		u64(o, "postcopy_pages_lost", st->postcopy_pages_lost);
}

static void rest(struct jobj *o, const struct vmmig_stats *st, size_t n)
{
	if (HAS(n, pass_pages_done)) {
		key(o, "pass");
		json_printf(&o->j, "{\"pages\":%" PRIu64 ",\"done\":%" PRIu64 "}",
			st->pass_pages, st->pass_pages_done);
	}
	if (HAS(n, restore_time_us)) {
		key(o, "restore");
		json_printf(&o->j,
			"{\"bytes\":%" PRIu64 ",\"mismatches\":%" PRIu64
			",\"fallbacks\":%" PRIu64 ",\"time_ms\":%.3f}",
			st->restore_bytes, st->restore_mismatches,
			st->restore_fallbacks, ms(st->restore_time_us));
	}
	if (HAS(n, rejected_connections))
		u64(o, "rejected_connections", st->rejected_connections);
	if (HAS(n, owner)) {
		key(o, "owner");
		json_string(&o->j, st->owner == VMMIG_OWNER_SOURCE ? "source"
			       : st->owner == VMMIG_OWNER_DEST ? "destination"
							       : "unknown");
	}
}

VMMIG_API int vmmig_stats_to_json(const struct vmmig_stats *st, char *buf,
				  size_t len)
{
	struct jobj o = { .j = { .p = buf, .len = len }, .first = true };
	struct vmmig_stats s;
	size_t n;

	if (!st || !buf || !len || st->struct_size < STATS_MIN_SIZE)
		return -EINVAL;
	/* Only the caller's bytes are read; the rest of @s stays zero. */
	n = st->struct_size < sizeof(s) ? st->struct_size : sizeof(s);
	memset(&s, 0, sizeof(s));
	memcpy(&s, st, n);
	json_printf(&o.j, "{");
	key(&o, "status");
	json_printf(&o.j, "\"%s\"", vmmig_status_name(s.status));
	if (HAS(n, mode)) {
		/* An embedder's policy is reported under its own name. */
		key(&o, "mode");
		json_string(&o.j, s.mode == VMMIG_MODE_CUSTOM && HAS(n, policy) &&
					      s.policy[0]
				      ? s.policy
				      : vmmig_mode_name(s.mode));
	}
	if (HAS(n, policy)) {
		key(&o, "policy");
		json_string(&o.j, s.policy);
	}
	if (HAS(n, error)) {
		key(&o, "error");
		json_printf(&o.j, "%d", s.error);
	}
	times(&o, &s, n);
	volumes(&o, &s, n);
	verdicts(&o, &s, n);
	postcopy(&o, &s, n);
	rest(&o, &s, n);
	json_printf(&o.j, "}");
	return json_finish(&o.j);
}
