/* SPDX-License-Identifier: MIT */
/*
 * The features of the sending side, above the core (source.h): each is
 * called by the driver (source_run.c) or the return-path dispatcher
 * (source_dispatch.c) and calls only down: post-copy uses recovery and the
 * switchover, the switchover uses drain, every one uses the core.
 */
#ifndef VMMIG_LIB_SOURCE_FEAT_H
#define VMMIG_LIB_SOURCE_FEAT_H

#include "source.h"

/* ---- source_throttle.c: a THROTTLE decision ---- */
void src_throttle(struct vmmig_source *src, const struct vmmig_decision *d);

/* ---- source_drain.c ---- */
/* DRAIN on every channel, then wait for DRAINED: all sent so far has
 * landed at the destination and its restores from storage are over (the
 * failed ones were reported into refetch_bm). */
int src_drain_wait(struct vmmig_source *src);
/* Pages whose restore failed join send_bm. */
void src_take_refetch(struct vmmig_source *src);
/* Both: before the pause, and after post-copy hints. */
int src_drain_restores(struct vmmig_source *src);
/* rp thread: DRAINED arrived. */
void src_drain_on_drained(struct vmmig_source *src);
/* rp thread: the payload of a REQ with WIRE_REQ_REFETCH: its pages are
 * never hinted again and become pending (-EPROTO, recorded, if bad). */
int src_drain_on_refetch(struct vmmig_source *src, const uint8_t *payload,
			 size_t len);

/* ---- source_switch.c: the switchover (docs/wire-format.md 6.5) ---- */
int src_send_end(struct vmmig_source *src, struct wire_end *end,
		 unsigned nblobs);
/* Wait for READY, then give the guest up: COMMIT. After a failure here
 * the guest may be resumed only if src->committed is still false. */
int src_switch_commit(struct vmmig_source *src);
/* Wait for STARTED: 0, or what the destination's start() returned. */
int src_switch_wait_started(struct vmmig_source *src);
/* Pause, send what is left and the state, commit, verify. */
int src_stop_and_copy(struct vmmig_source *src);
/* rp thread: READY or STARTED. 1 when the return path is done (STARTED
 * of a pre-copy), -errno on failure. */
int src_switch_on_record(struct vmmig_source *src, const struct wire_hdr *h,
			 const uint8_t *payload);
/* The page-sum hash of guest memory (frozen: the guest is given up),
 * with KEEPALIVE on channel 0 (every quarter IO timeout, at most a
 * second) while it takes. */
uint64_t src_memory_digest(struct vmmig_source *src);
/* enum vmmig_owner as things stand. */
int src_owner(struct vmmig_source *src);

/* ---- source_recover.c ---- */
/* The link broke after the switch; reconnect and carry on within the
 * recovery timeout. 0, or the failure (recorded). */
int src_postcopy_recover(struct vmmig_source *src);
/* After a reconnect, one record of the destination's list of the pages it
 * still misses: a DISCARD (they become pending again) returns 0, RESUMED
 * (the list is complete) 1; anything else -EPROTO with @err set. */
int src_postcopy_on_missing(struct vmmig_source *src, const struct wire_hdr *h,
			    const uint8_t *payload, char *err, size_t errlen);

/* ---- source_postcopy.c ---- */
int src_postcopy_run(struct vmmig_source *src, bool first_pass_done);
/* rp thread, after the switch: a REQ (pages a vCPU waits for), sent at
 * once on the urgent channel. */
int src_postcopy_on_req(struct vmmig_source *src, const struct wire_hdr *h,
			const uint8_t *payload);
/* rp thread, after the switch: DONE. 1 (the return path is done). */
int src_postcopy_on_done(struct vmmig_source *src, const struct wire_hdr *h,
			 const uint8_t *payload);
/* The post-copy job of a sender (src_senders_run()): claim and send its
 * pending stripes. */
int src_postcopy_sweep(struct sender *s);

#endif
