/* SPDX-License-Identifier: MIT */
/*
 * A pipelining transport for tests: the in-process transport with
 * send_queue()/send_wait() that hold every queued record back until the
 * library waits for it (or sends past it), so that a buffer reused before
 * its record left shows as a corrupt stream. It can cut the link: the Nth
 * queued record (counted over all channels) fails with -ECONNRESET, the
 * records queued behind it are dropped and the channel is shut, as when a
 * connection dies with sends in flight.
 */
#ifndef VMMIG_TEST_LAZY_PIPE_H
#define VMMIG_TEST_LAZY_PIPE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <vmmig/transport.h>

struct lazy_stats {
	atomic_uint queued_zero;   /* ZERO records passed to send_queue() */
	atomic_uint queued_pages;  /* PAGES records passed to send_queue() */
	atomic_uint switches;      /* queued ZERO after PAGES on a channel,
				    * or PAGES after ZERO */
	atomic_uint held_max;      /* most records held at once */
	atomic_int cut_after;      /* queued records to send before the cut;
				    * < 0: never */
	atomic_bool cut;           /* the cut happened */
};
extern struct lazy_stats lazy;

/* Reset the counters; cut after @cut_after queued records (< 0: never). */
void lazy_reset(int cut_after);
const struct vmmig_transport_ops *lazy_pipe_ops(void);

#endif
