/* SPDX-License-Identifier: MIT */
/*
 * One small migration, source and destination in this process over the
 * fault transport, with one planned fault; then every invariant checked:
 *
 * - never both sides running the guest (pause/resume/start tracked as they
 *   happen, and at the end);
 * - before the switchover (COMMIT) a failure leaves the source guest
 *   running (resume called if pause was) with its memory untouched, and
 *   wait() failing;
 * - what each side reports as the owner (vmmig_*_owner()) matches who runs
 *   the guest, and the two reports never contradict each other;
 * - a side that reports success has memory equal to the source's at the
 *   pause, byte for byte (no silent success with wrong memory);
 * - no thread (/proc/self/task) or fd (/proc/self/fd) outlives the run
 *   (memory: LeakSanitizer in the ASan build).
 */
#ifndef VMMIG_TEST_FAULT_HARNESS_H
#define VMMIG_TEST_FAULT_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "fault_transport.h"

enum fi_mode { MODE_PRECOPY, MODE_POSTCOPY, MODE_HYBRID, MODE_RESTORE };

/* Invariants a run broke (bits). */
enum {
	V_SPLIT_BRAIN = 1 << 0,  /* both sides ran the guest at once */
	V_NOT_RESUMED = 1 << 1,  /* failed before the switchover, source
				  * guest left paused */
	V_NOT_RUNNING = 1 << 2,  /* resumed, but the guest makes no progress */
	V_SRC_MEM = 1 << 3,      /* source memory changed by the library */
	V_DST_MEM = 1 << 4,      /* success reported, memory differs */
	V_SRC_OK_DST_FAIL = 1 << 5, /* source done, destination does not
				     * run the guest */
	V_HANG = 1 << 6,         /* a side did not end in time */
	V_LEAK_THREAD = 1 << 7,
	V_LEAK_FD = 1 << 8,
	V_CLEAN_FAIL = 1 << 9,   /* no fault fired, migration failed */
	V_FAULT_IGNORED = 1 << 10, /* fault before the pause, success */
	V_TWO_STARTS = 1 << 11,  /* start() called twice */
	V_SETUP = 1 << 12,       /* the test could not set the run up */
	V_OWNER = 1 << 13,       /* an owner report (vmmig_*_owner()) that
				  * does not match who runs the guest */
};

/* How a run ended. */
enum fi_outcome {
	OUT_MIGRATED,    /* both sides succeeded, no recovery */
	OUT_RECOVERED,   /* both succeeded after a post-copy recovery */
	OUT_SRC_RUNS,    /* failed, the source guest runs on */
	OUT_DST_RUNS,    /* failed after the switch, the destination runs
			  * the guest (e.g. STARTED or DONE lost; its wait
			  * may fail too: verification or post-copy cut
			  * short), the source keeps its copy paused */
	OUT_NEITHER,     /* failed after the switch: nobody runs it (an
			  * orchestrator must decide) */
	OUT_BROKEN,      /* an invariant broke (see viol) */
	OUT__COUNT
};

struct fi_config {
	enum fi_mode mode;
	const struct vmmig_transport_ops *inner; /* inproc or tcp */
	const char *storage;   /* MODE_RESTORE: the data file (cache half) */
	/* FAULT_PARTITION: the record whose sending cuts the source off;
	 * FAIL or TORN with N = 0: the record whose first send fails */
	enum fault_side cut_side;
	uint16_t cut_type;
};

struct fi_result {
	int sret, dret;
	bool fired;
	char fault[192];        /* what the fault hit */
	uint64_t ops;           /* operations the run made */
	unsigned viol;          /* V_* */
	char why[768];          /* details of the violations */
	enum fi_outcome outcome;
	int src_owner, dst_owner; /* enum vmmig_owner each side reports */
	bool src_commit_tried;  /* the source tried to send COMMIT */
	bool src_switching;     /* the source sent SWITCH (post-copy) */
	bool src_resumed;
	bool dst_started;
	bool dst_postcopy;      /* the destination ran in post-copy */
	uint64_t pages_restored; /* ... read from storage */
	uint64_t ms;
};

/* Half of the guest's pages are a "database cache" with hints: the data
 * file holds them. Returns 0 or -errno. */
int fi_make_storage(char *path, size_t len);
/* Migrate once with @kind at operation @n (FAULT_PARTITION, or @n 0: at
 * the record cfg->cut_type that cfg->cut_side sends). */
void fi_run(const struct fi_config *cfg, enum fault_kind kind, uint64_t n,
	    struct fi_result *r);
const char *fi_mode_name(enum fi_mode m);
const char *fi_outcome_name(enum fi_outcome o);

#endif
