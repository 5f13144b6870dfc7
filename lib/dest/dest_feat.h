/* SPDX-License-Identifier: MIT */
/*
 * The features of the receiving side, above the core (dest.h): each is
 * called by the driver (dest_run.c) or the record dispatcher
 * (dest_dispatch.c) and calls only down: recovery uses the handshake and
 * the fault thread's resync; the handshake arms each reader
 * for restore, verification and post-copy; post-copy uses the fault thread
 * and the switchover; the fault thread asks restore whether storage has a
 * page; every one uses the core.
 */
#ifndef VMMIG_LIB_DEST_FEAT_H
#define VMMIG_LIB_DEST_FEAT_H

#include "dest.h"

/* ---- dest_restore.c ---- */
struct restore;
int dst_restore_init(struct vmmig_dest *dst);
/* A HINT for page @page of region @ri: read it from storage instead. */
int dst_restore_on_hint(struct vmmig_dest *dst, unsigned ri, uint64_t page,
			const struct wire_hint *h);
/* Contents of @page are about to land: a restore in flight for it lost.
 * -EPROTO: the page may not land now (dropped by an early DISCARD). */
int dst_restore_on_write(struct vmmig_dest *dst, unsigned ri, uint64_t page);
bool dst_restore_in_flight(struct vmmig_dest *dst, unsigned ri, uint64_t page);
/* Wait until no read is in flight (or the session failed), with a
 * KEEPALIVE every second on @c (if any). */
int dst_restore_wait_idle(struct vmmig_dest *dst, struct chan *c);
/* REQ records with WIRE_REQ_REFETCH on @c for the pages whose restore
 * failed since the last call. */
int dst_restore_report_failed(struct vmmig_dest *dst, struct chan *c);
int dst_restore_finish(struct vmmig_dest *dst);
void dst_restore_fill_stats(struct vmmig_dest *dst, struct vmmig_stats *st);
void dst_restore_free(struct vmmig_dest *dst);

/* ---- dest_faults.c: the post-copy fault thread ---- */
void *dst_pc_fault_main(void *arg);
void dst_pc_stop_fault_thread(struct postcopy_dst *pc);
/* After a reconnect, on @c: what is still missing here, RESUMED, then the
 * requests vCPUs still wait on. */
int dst_pc_resync(struct vmmig_dest *dst, struct chan *c);

/* ---- dest_switch.c: READY, COMMIT, start(), STARTED, DIGEST on channel 0 */
/* READY, then wait for COMMIT on @rv's reader: 0 when it came (the guest
 * is ours now), else -errno (never start it then). */
int dst_sw_ready_commit(struct vmmig_dest *dst, struct receiver *rv);
/* Start the guest and say so with STARTED. */
int dst_sw_start(struct vmmig_dest *dst, struct receiver *rv);
/* Pre-copy verification: the source's DIGEST against ours. */
int dst_sw_check_digest(struct vmmig_dest *dst, struct receiver *rv,
			int *verified);

/* ---- dest_postcopy.c ---- */
int dst_pc_switch(struct receiver *rv);
int dst_pc_discard(struct vmmig_dest *dst, const uint8_t *payload, size_t len,
		   bool early);
int dst_pc_start(struct receiver *rv, const uint8_t *payload, size_t len);
int dst_pc_finish(struct vmmig_dest *dst, struct wire_done *done);
/* After a reconnect: place pages on this reader. */
int dst_pc_arm_reader(struct receiver *rv);
void dst_pc_free(struct vmmig_dest *dst);

/* ---- dest_sink.c: where a receiver's reader lands pages (the cookie is
 * the receiver); attach sets it on @rv->rd, pre-copy placement ---- */
extern const struct wire_page_sink_ops dst_sink_ops;
int dst_sink_attach(struct receiver *rv);

/* ---- dest_zero.c: a ZERO run [first, first + n) of region @ri, placed
 * in bulk: cleared before the switch, installed after it (@placing) ---- */
int dst_zero_run(struct vmmig_dest *dst, unsigned ri, uint64_t first,
		 uint64_t n, bool placing);

/* ---- dest_handshake.c ---- */
int dst_accept_all(struct vmmig_dest *dst, bool resume);

/* ---- dest_recover.c ---- */
/* After a post-copy link break, wait until @deadline for the source to
 * come back: 0, or -errno (final). */
int dst_recover(struct vmmig_dest *dst, uint64_t deadline);

#endif
