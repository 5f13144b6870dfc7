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
	VMMIG_MODE_CUSTOM,  /* an embedder's policy: its name is in policy */
};

/*
 * The caller sets struct_size = sizeof(struct vmmig_stats) before asking;
 * fields are only ever appended, and the library fills only what fits.
 */
struct vmmig_stats {
	uint32_t struct_size;
	int32_t status;              /* enum vmmig_status */
	int32_t mode;                /* enum vmmig_mode. Source: from its
				      * policy. Destination: what it saw:
				      * precopy, postcopy (switched after
				      * at most one pre-copy pass) or
				      * hybrid (after two or more) */
	int32_t error;               /* -errno once FAILED, else 0 */

	uint64_t setup_time_us;      /* start -> handshake done */
	uint64_t total_time_us;      /* start -> completion (or now) */
	uint64_t downtime_us;        /* pause -> destination's ack */
	uint64_t expected_downtime_us;

	uint64_t rounds;             /* pre-copy passes completed */
	uint64_t guest_bytes;        /* registered memory */
	uint64_t transferred_bytes;  /* bytes put on (source) / taken off
				      * (destination) the wire */
	uint64_t remaining_bytes;    /* guest bytes still to send: while a
				      * pass runs, what is left of it (the
				      * first pass too); between rounds,
				      * the dirty set found */
	uint64_t pages_normal;       /* raw pages */
	uint64_t pages_zero;
	uint64_t pages_compressed;   /* zstd */
	uint64_t pages_delta;        /* delta against the source's cache */
	uint64_t pages_restored;     /* from shared storage */
	uint64_t pages_skipped;      /* not sent (hinted, restorable) */
	uint64_t dirty_sync_count;   /* tracker syncs */
	uint64_t dirty_rate_pps;     /* last measured */
	uint64_t bandwidth_bps;      /* last measured wire rate, bytes/s
				      * (of the last round; during the
				      * first pass, of that pass so far) */
	/* Source, with VMMIG_OPT_DELTA_CACHE_BYTES set: each page sent with
	 * contents counts once, as a hit (its last sent copy was cached: a
	 * delta was tried, pages_delta counts those that went out as one) or
	 * a miss. hits + misses = pages_normal + pages_compressed +
	 * pages_delta. */
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
	/* Source: the pass being sent (a pre-copy round, the pages left at
	 * the pause, the post-copy push), for a progress bar. Both stay at
	 * their last values between passes. */
	uint64_t pass_pages;         /* pages the current pass sends */
	uint64_t pass_pages_done;    /* of those, handled so far */
	char policy[32];             /* source: the policy's name (its ops'
				      * name, truncated); destination: "" */
	uint64_t postcopy_pages_lost;/* destination, failed post-copy: pages
				      * that never arrived, poisoned (reading
				      * one raises SIGBUS, never zeros) */
	uint64_t rejected_connections; /* destination: connections dropped
				      * before a handshake with the expected
				      * source (TLS refused, not a migration
				      * stream, another UUID, silent past
				      * VMMIG_OPT_HANDSHAKE_TIMEOUT_MS), and
				      * channels of a post-copy reconnection
				      * attempt the source had given up */
	int32_t owner;               /* who owns the guest now, as this side
				      * sees it: enum vmmig_owner (session.h;
				      * the same as vmmig_*_owner()). After a
				      * switch: DEST, don't resume the source */
};

/**
 * vmmig_status_name() - the name of a migration status, as QEMU names it.
 * @status: a VMMIG_STATUS_* value
 *
 * "none", "setup", "active", "device", "postcopy-active", "completed",
 * "failed", "cancelled", "postcopy-paused".
 *
 * Thread: any thread, any time.
 * Callbacks: none.
 * Return: a constant string; "unknown" for any other value.
 */
VMMIG_API const char *vmmig_status_name(int status);
/**
 * vmmig_mode_name() - the name of a migration mode.
 * @mode: a VMMIG_MODE_* value
 *
 * Thread: any thread, any time.
 * Callbacks: none.
 * Return: "precopy", "postcopy", "hybrid", "adaptive" or "custom"; "unknown"
 * for any other value.
 */
VMMIG_API const char *vmmig_mode_name(int mode);

/**
 * vmmig_stats_to_json() - render statistics as one JSON object.
 * @st: statistics filled by vmmig_source_get_stats() or vmmig_dest_get_stats()
 * @buf: receives the NUL-terminated JSON
 * @len: size of @buf
 *
 * Keys are snake_case and carry their unit (total_time_ms,
 * transferred_bytes, ...). "mode" is vmmig_mode_name(), or for
 * VMMIG_MODE_CUSTOM the policy's name. Only st->struct_size bytes of @st are
 * read: a struct from an older stats.h (at least struct_size and status)
 * renders the keys of the fields it has and leaves the others out; a larger
 * one (a newer header) renders what this library knows.
 *
 * Thread: any thread, any time (it only reads @st).
 * Callbacks: none.
 * Return: the length written (excluding the NUL); -ENOSPC if @len is too
 * small (the output is then truncated but NUL terminated); -EINVAL (NULL
 * @st or @buf, @len 0, st->struct_size below 8).
 */
VMMIG_API int vmmig_stats_to_json(const struct vmmig_stats *st, char *buf,
				  size_t len);

/*
 * History of a migration (source side), for a timeline: one entry per
 * pre-copy round, one for the pause (stop-and-copy, or the switch to
 * post-copy) and one for the post-copy phase after the switch, plus the
 * post-copy page requests over time.
 *
 * Entries are contiguous in bytes and pages: each counts what went on the
 * wire from the end of the previous entry to its own end, so over a
 * finished migration their bytes add up to transferred_bytes and their
 * pages to the stats' page counters (the handshake is in the first entry).
 * Memory is bounded: at most VMMIG_HISTORY_MAX entries are kept. Pre-copy
 * rounds past VMMIG_HISTORY_MAX - 2 are folded into the last pre-copy
 * entry (its `merged` counts the rounds it stands for, its figures are
 * their sums and the last round's dirty set), so the pause and post-copy
 * entries always fit and the sums still hold.
 */
#define VMMIG_HISTORY_MAX 128

enum vmmig_round_kind {
	VMMIG_ROUND_PRECOPY = 0, /* a pre-copy pass, guest running */
	VMMIG_ROUND_PAUSE,       /* guest paused on both sides */
	VMMIG_ROUND_POSTCOPY,    /* after the switch: guest on the destination */
};

struct vmmig_round {
	uint32_t struct_size;
	int32_t kind;            /* enum vmmig_round_kind */
	uint32_t round;          /* pre-copy: round number (first folded) */
	uint32_t merged;         /* rounds this entry stands for (>= 1) */
	uint64_t start_us;       /* since vmmig_source_start() */
	uint64_t duration_us;    /* pre-copy: until the destination had it
				  * all; pause: the downtime; post-copy:
				  * until the last page was in place */
	uint64_t bytes;          /* put on the wire (see above) */
	uint64_t pages_normal;
	uint64_t pages_zero;
	uint64_t pages_compressed;
	uint64_t pages_delta;
	uint64_t pages_skipped;  /* hinted: restored from storage instead */
	uint64_t pass_pages;     /* pages the pass had to send */
	uint64_t dirty_pages;    /* pre-copy: found dirty after it (the next
				  * round's job); pause: 0 */
	uint64_t bandwidth_bps;  /* bytes / duration */
	uint64_t dirty_rate_pps; /* dirty_pages / duration */
};

/* Post-copy page requests that reached the source, per time bin after the
 * switch. Bins start VMMIG_FAULT_BIN_MIN_US wide; when a request falls past
 * the last bin, neighbours are merged pairwise and the width doubles, so
 * the series covers the whole post-copy phase in bounded memory. Faults on
 * a page already on its way are not requested, so `total` may be below the
 * destination's postcopy_faults. */
#define VMMIG_FAULT_BINS 64
#define VMMIG_FAULT_BIN_MIN_US 10000

struct vmmig_fault_series {
	uint32_t struct_size;
	uint32_t nbins;          /* bins in use (0: no post-copy request) */
	uint64_t start_us;       /* the switch, since vmmig_source_start(); 0
				  * if there was none */
	uint64_t bin_us;         /* width of each bin */
	uint64_t total;          /* pages requested: the sum of the bins */
	uint64_t bins[VMMIG_FAULT_BINS];
};

struct vmmig_source;

/**
 * vmmig_source_get_rounds() - copy out the finished entries of the history.
 * @src: the source session
 * @out: array of @max entries (may be NULL if @max is 0); the caller sets
 *       out[0].struct_size = sizeof(struct vmmig_round), which is also the
 *       stride of the array; every entry copied gets that struct_size and as
 *       much of the library's entry as fits
 * @max: entries in @out
 *
 * The entry in progress is not included.
 *
 * Thread: any thread, any time after vmmig_source_new().
 * Callbacks: none.
 * Return: the number of entries recorded (may exceed @max: call again with a
 * larger array); -EINVAL for a NULL session, a NULL @out with @max > 0 or a
 * struct_size below 8.
 */
VMMIG_API int vmmig_source_get_rounds(struct vmmig_source *src,
				      struct vmmig_round *out, size_t max);

/**
 * vmmig_source_get_faults() - copy the post-copy request series.
 * @src: the source session
 * @fs: receives as much of the series as fits fs->struct_size (set by the
 *      caller)
 *
 * Thread: any thread, any time after vmmig_source_new().
 * Callbacks: none.
 * Return: 0; -EINVAL (NULL argument, struct_size below 8).
 */
VMMIG_API int vmmig_source_get_faults(struct vmmig_source *src,
				      struct vmmig_fault_series *fs);

/**
 * vmmig_history_to_json() - render a history as one JSON object.
 * @rounds: entries as filled by vmmig_source_get_rounds() (stride
 *          rounds[0].struct_size)
 * @n: number of entries
 * @faults: the series from vmmig_source_get_faults(), or NULL
 * @buf: receives the NUL-terminated JSON
 * @len: size of @buf
 *
 * {"rounds":[{"kind":"precopy",...}...],"pause":{...}|null,"faults":{...}}
 * with units in the keys (start_ms, bytes, ...). Entries and a series from
 * an older stats.h (a smaller struct_size) are read only as far as they
 * go; the keys of the fields they lack are left out.
 *
 * Thread: any thread, any time (it only reads its arguments).
 * Callbacks: none.
 * Return: the length written (excluding the NUL); -ENOSPC if @len is too
 * small (the output is then truncated but NUL terminated); -EINVAL (NULL
 * @buf, @len 0, NULL @rounds with @n > 0, a struct_size below 8).
 */
VMMIG_API int vmmig_history_to_json(const struct vmmig_round *rounds, size_t n,
				    const struct vmmig_fault_series *faults,
				    char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* VMMIG_STATS_H */
