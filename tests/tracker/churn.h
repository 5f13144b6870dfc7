/* SPDX-License-Identifier: MIT */
/*
 * Shared harness of the tracker tests: a writer thread writes random pages
 * of two regions while the main thread syncs every few ms; afterwards the
 * writer's own record of what it wrote ("truth") is compared with what the
 * tracker reported.
 */
#ifndef VMMIG_TEST_CHURN_H
#define VMMIG_TEST_CHURN_H

#include <stdint.h>
#include <vmmig/tracker.h>

struct churn_cfg {
	int shared;        /* memfd MAP_SHARED regions, else anonymous private */
	int manual;        /* the writer reports its writes (manual tracker) */
	int quiesce;       /* the writer pauses while the main thread syncs */
	unsigned run_ms;   /* how long the writer runs, at least: on a loaded
			    * machine it runs on until CHURN_MIN_SYNCS syncs
			    * and CHURN_MIN_BURSTS bursts of 32 writes were
			    * done (or max_writes), up to CHURN_MAX_EXTRA_MS
			    * longer */
	uint64_t r0_size;  /* bytes of region 0; 0: CHURN_R0_SIZE */
	uint64_t max_writes; /* the writer stops after as many; 0: no cap */
};

/* What the tests' "many syncs raced many writes" needs, whatever the
 * scheduling: they assert syncs > 10 and more than 100 pages written. */
#define CHURN_MIN_SYNCS    11u
#define CHURN_MIN_BURSTS   16u
#define CHURN_MAX_EXTRA_MS 10000u

struct churn_res {
	int err;              /* first error (start, sync, mark), 0 if none */
	uint64_t writes;      /* writes done */
	uint64_t written;     /* distinct pages written */
	uint64_t reported;    /* distinct pages reported */
	uint64_t missed;      /* written but never reported */
	uint64_t false_pos;   /* reported but never written */
	uint64_t idle;        /* reported by a sync after a sync, no writes */
	uint64_t syncs;       /* sync rounds while the writer ran */
	double max_write_ms;  /* slowest single write */
	double mean_write_us; /* average write */
	double mean_sync_us;  /* average sync of both regions while writing */
};

/* Region sizes: 16 MiB (or r0_size) + 4 MiB. The writer never writes
 * pages with index % 4 == 3, so false positives are visible; the first
 * half of each region (at most 8 MiB of it) is touched before start(), the
 * rest is not. */
#define CHURN_R0_SIZE (16u << 20)
#define CHURN_R1_SIZE (4u << 20)

/* Runs one experiment on @t (not started). Returns 0, or a negative errno
 * for a failure of the harness itself (mmap, thread). */
int churn_run(struct vmmig_tracker *t, const struct churn_cfg *cfg,
	      struct churn_res *res);
void churn_print(const char *label, const struct churn_res *res);

/* Maps one region of @size bytes (anonymous or memfd shared) between
 * PROT_NONE guard pages, so that no other mapping merges with it. */
void *churn_map(uint64_t size, int shared);
void churn_unmap(void *p, uint64_t size);

#endif
