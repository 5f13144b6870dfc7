/* SPDX-License-Identifier: MIT */
/*
 * Bandwidth cap shared by every channel of a session (private): a
 * thread-safe token bucket, kept as a GCRA "theoretical arrival time" so
 * that each caller waits for its own reservation only.
 */
#ifndef VMMIG_LIB_RATELIMIT_H
#define VMMIG_LIB_RATELIMIT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct ratelimit {
	pthread_mutex_t mu;
	uint64_t rate;     /* bytes per second; 0: unlimited */
	uint64_t burst_ns; /* how far ahead of the schedule a caller may run */
	uint64_t tat_ns;   /* when everything granted so far is "sent" */
};

/* @bytes_per_sec 0 means unlimited. Return 0 or -errno. */
int ratelimit_init(struct ratelimit *rl, uint64_t bytes_per_sec);
/* Change the rate; applies to reservations made from now on. */
void ratelimit_set(struct ratelimit *rl, uint64_t bytes_per_sec);
/* Block until @bytes may be sent, sleeping in slices of at most 10 ms and
 * checking *@cancel (may be NULL) between them. 0 or -ECANCELED. */
int ratelimit_take(struct ratelimit *rl, size_t bytes,
		   const atomic_bool *cancel);
void ratelimit_destroy(struct ratelimit *rl);

#endif
