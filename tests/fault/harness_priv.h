/* SPDX-License-Identifier: MIT */
/* The harness's private parts: one run's state, shared by its set-up and
 * callbacks (harness_setup.c) and the run and its verdict (harness.c). */
#ifndef VMMIG_TEST_FAULT_HARNESS_PRIV_H
#define VMMIG_TEST_FAULT_HARNESS_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <vmmig/vmmig.h>

#include "guest.h"
#include "harness.h"

#define GUEST_SIZE (2u << 20)
#define CACHE_SIZE (GUEST_SIZE / 2) /* hinted, MODE_RESTORE */
#define IO_TIMEOUT_MS 1000
#define RECOVERY_MS 800
#define SOURCE_DEADLINE_MS 30000 /* the source must end by then */
#define DEST_GRACE_MS 8000       /* ... and the destination this much later */

struct run {
	const struct fi_config *cfg;
	struct fi_result *res;
	struct guest g;           /* the source guest */
	struct guest dg;          /* destination: load_state() target only */
	uint8_t *dmem;            /* destination guest memory */
	uint8_t *at_pause;        /* source memory when it paused */

	pthread_mutex_t own;      /* the ownership flags, violations */
	bool src_running, dst_running;
	int pauses, resumes, starts;
	bool fired_before_pause;

	struct vmmig_dest *dst;   /* freed by the destination thread */
	pthread_mutex_t dlock;    /* dst vs. its freeing */
	pthread_t dthread;
	bool ddone;
	char derr[320];

	pthread_t vthread;        /* destination "vCPU" (post-copy faults) */
	bool vcpu;
	atomic_bool vstop, dst_started;
};

static inline uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline bool has_postcopy(enum fi_mode m)
{
	return m == MODE_POSTCOPY || m == MODE_HYBRID;
}

/* Record broken invariant @bit with a reason. Any thread. */
void violate(struct run *r, unsigned bit, const char *fmt, ...);
/* The fault transport's fire hook: notes whether the guest had paused. */
void run_on_fire(void *arg);
struct vmmig_policy *run_policy(enum fi_mode m);
/* The source guest (and, for MODE_RESTORE, its cache half). */
int run_guest_setup(struct run *r);
/* The destination, listening (not started) at an address of its own;
 * the page source for MODE_RESTORE in @ps. */
int run_dest_setup(struct run *r, const struct vmmig_transport_ops *t,
		   struct vmmig_page_source **ps, char *bound, size_t blen);
struct vmmig_source *run_source_setup(struct run *r,
				      struct vmmig_policy *pol);

#endif
