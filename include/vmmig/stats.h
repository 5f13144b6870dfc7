/* SPDX-License-Identifier: MIT */
/*
 * libvmmig — progress and statistics of a migration, the way QEMU's
 * query-migrate reports them, plus a JSON rendering.
 */
#ifndef VMMIG_STATS_H
#define VMMIG_STATS_H

#include <vmmig/common.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vmmig_status {
	VMMIG_STATUS_NONE = 0,      /* not started */
	VMMIG_STATUS_SETUP,         /* connecting, handshake */
	VMMIG_STATUS_ACTIVE,        /* pre-copy rounds, guest running */
	VMMIG_STATUS_DEVICE,        /* guest paused: last pages + state */
	VMMIG_STATUS_POSTCOPY,      /* guest running on the destination */
	VMMIG_STATUS_COMPLETED,
	VMMIG_STATUS_FAILED,
	VMMIG_STATUS_CANCELLED,
	VMMIG_STATUS_POSTCOPY_PAUSED, /* link broke after the switch: waiting
				       * for a new connection, nothing lost */
};

enum vmmig_mode {
	VMMIG_MODE_PRECOPY = 0,
	VMMIG_MODE_POSTCOPY,
	VMMIG_MODE_HYBRID,
	VMMIG_MODE_ADAPTIVE,
};

/*
 * The caller sets struct_size = sizeof(struct vmmig_stats) before asking;
 * fields are only ever appended, and the library fills only what fits.
 */
struct vmmig_stats {
	uint32_t struct_size;
	int32_t status;              /* enum vmmig_status */
	int32_t mode;                /* enum vmmig_mode */
	int32_t error;               /* -errno once FAILED, else 0 */

	uint64_t setup_time_us;      /* start -> handshake done */
	uint64_t total_time_us;      /* start -> completion (or now) */
	uint64_t downtime_us;        /* pause -> destination's ack */
	uint64_t expected_downtime_us;

	uint64_t rounds;             /* pre-copy passes completed */
	uint64_t guest_bytes;        /* registered memory */
	uint64_t transferred_bytes;  /* bytes put on (source) / taken off
				      * (destination) the wire */
	uint64_t remaining_bytes;    /* dirty bytes still to send */
	uint64_t pages_normal;       /* raw pages */
	uint64_t pages_zero;
	uint64_t pages_compressed;   /* zstd */
	uint64_t pages_delta;        /* delta against the source's cache */
	uint64_t pages_restored;     /* from shared storage */
	uint64_t pages_skipped;      /* not sent (hinted, restorable) */
	uint64_t dirty_sync_count;   /* tracker syncs */
	uint64_t dirty_rate_pps;     /* last measured */
	uint64_t bandwidth_bps;      /* last measured wire rate, bytes/s */
	uint64_t delta_cache_hits;
	uint64_t delta_cache_misses;
	uint32_t throttle_percent;
	uint32_t channels;
	int32_t verified;            /* 1 memory hash matched, 0 mismatch,
				      * -1 not checked */
	int32_t path;                /* policy's chosen path, 0 if none */
	char path_reason[96];
	uint64_t postcopy_faults;    /* pages a vCPU waited for */
	/* From reading the fault off userfaultfd to the page in place: what
	 * a vCPU waits minus the kernel's fault entry and wake-up, which the
	 * library cannot see (bench/postcopy/fault_latency measures both). */
	uint64_t fault_latency_p50_us;
	uint64_t fault_latency_p99_us;
	uint64_t precopy_bytes;      /* bytes sent before the switchover */
	uint64_t postcopy_bytes;     /* bytes sent after it */
	uint64_t postcopy_recoveries;/* reconnections after a broken link */
	/* cache-restore (destination side; the source counts skipped) */
	uint64_t restore_bytes;      /* read from storage */
	uint64_t restore_mismatches; /* hash differed: fetched over network */
	uint64_t restore_fallbacks;  /* all pages fetched over the network
				      * instead (mismatch, missing object,
				      * I/O error) */
	uint64_t restore_time_us;    /* first hint -> last restore done */
	uint64_t postcopy_time_us;   /* post-copy: the switch -> the last
				      * page in place at the destination
				      * (source: until its DONE) */
	uint64_t postcopy_pages_lost;/* destination, failed post-copy: pages
				      * that never arrived, poisoned (reading
				      * one raises SIGBUS, never zeros) */
};

VMMIG_API const char *vmmig_status_name(int status);
VMMIG_API const char *vmmig_mode_name(int mode);

/**
 * vmmig_stats_to_json() - render @st as one JSON object with snake_case keys
 * that carry their unit (total_time_ms, transferred_bytes, ...).
 * Return: the length written (excluding NUL), -ENOSPC if @len is too small
 * (the output is then truncated but NUL terminated), -EINVAL.
 */
VMMIG_API int vmmig_stats_to_json(const struct vmmig_stats *st, char *buf,
				  size_t len);

#ifdef __cplusplus
}
#endif
#endif /* VMMIG_STATS_H */
