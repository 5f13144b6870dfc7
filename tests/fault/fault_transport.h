/* SPDX-License-Identifier: MIT */
/*
 * A fault-injecting transport, SQLite's way: an ops table written against
 * the public transport interface that wraps another transport (the
 * in-process pair, or io_uring over TCP) and counts every operation —
 * connect, accept, send, recv, recv_some — over both sides of a migration
 * in this process. The Nth one can be made to fail:
 *
 *   FAULT_FAIL   it returns an error at once and the channel is cut (its
 *                inner channel shut down, as a reset connection is), so
 *                the peer sees the break too;
 *   FAULT_TORN   a short write or read: part of the bytes move, then the
 *                channel is cut and the call fails (a record torn in two);
 *   FAULT_SHORT  legal short transfers from the Nth operation on: sends and
 *                receives go through in small pieces, recv_some returns
 *                only its minimum. Nothing fails;
 *   FAULT_PARTITION  once a given record went out (fault_plan_partition()),
 *                the source is cut off: each of its operations fails as
 *                FAULT_FAIL does, reconnects included, for good.
 *
 * An accept fault takes the connection and drops it (ECONNABORTED); a
 * connect fault refuses (ECONNREFUSED). The wrapper also notes which
 * records the two sides sent (the first bytes of every send are a record
 * header), so a test can tell where in the protocol a fault hit.
 *
 * One plan at a time per process (tests run one migration at a time).
 */
#ifndef VMMIG_TEST_FAULT_TRANSPORT_H
#define VMMIG_TEST_FAULT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmmig/transport.h>

/* Sides: the source connects, the destination accepts. */
enum fault_side { SIDE_SRC, SIDE_DST };

enum fault_kind { FAULT_NONE, FAULT_FAIL, FAULT_TORN, FAULT_SHORT,
		  FAULT_PARTITION };

/* Record types the harness asks about (docs/wire-format.md, section 4). */
#define REC_END 0x8030
#define REC_SWITCH 0x8050
#define REC_READY 0x8042
#define REC_COMMIT 0x8043
#define REC_STARTED 0x8044
#define REC_POSTCOPY 0x8052
#define REC_DONE 0x8054

/* The wrapper around @inner (one inner transport per process). */
const struct vmmig_transport_ops *fault_transport(
	const struct vmmig_transport_ops *inner);

/* New plan: fault @kind at operation @n (1-based); counters restart. */
void fault_plan(enum fault_kind kind, uint64_t n);
/* New plan: @kind (FAIL or TORN) at the first send of record @type by
 * @side, whatever its number. */
void fault_plan_at_record(enum fault_kind kind, enum fault_side side,
			  uint16_t type);
/* New plan: FAULT_PARTITION once @side sent record @type. */
void fault_plan_partition(enum fault_side side, uint16_t type);
/* Operations counted since the last plan. */
uint64_t fault_ops(void);
/* Whether the planned fault fired; if so its description (operation,
 * side, channel, record type of a send) in @desc. */
bool fault_fired(char *desc, size_t len);
/* Called (from the faulting thread) when the fault fires. */
void fault_on_fire(void (*fn)(void *), void *arg);

/* Whether @side attempted a send of record @type since the plan. */
bool fault_sent_tried(enum fault_side side, uint16_t type);
/* Whether such a send completed (the bytes went to the inner channel). */
bool fault_sent_ok(enum fault_side side, uint16_t type);

#endif
