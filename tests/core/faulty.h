/* SPDX-License-Identifier: MIT */
/*
 * A fault-injecting transport for switchover tests: the in-process
 * transport, with one fault armed on the record stream. Records are parsed
 * as each side sends them; when the n-th record of a type goes out from the
 * chosen side, the fault fires:
 *   FT_DROP           that record and everything after it on that channel
 *                     and direction vanish (a one-way partition: the
 *                     receiver hears nothing more and times out);
 *   FT_CUT            every channel is cut just before it (a broken link);
 *   FT_KILL_SENDER    the sender dies just before sending it: every channel
 *                     is cut and the sender marked dead;
 *   FT_KILL_RECEIVER  it is delivered, then the receiver dies (channels
 *                     cut, receiver marked dead).
 * A dead side's library goes on running in this process, but a real dead
 * process runs no guest: tests ignore what a dead side does afterwards.
 * Connections opened after the fault fired are not touched.
 */
#ifndef VMMIG_TEST_FAULTY_H
#define VMMIG_TEST_FAULTY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <vmmig/vmmig.h>

enum ft_side { FT_SRC, FT_DST };
enum ft_action { FT_DROP, FT_CUT, FT_KILL_SENDER, FT_KILL_RECEIVER };

struct ft_plan {
	enum ft_side side;     /* who sends the record */
	uint16_t type;         /* record type (wire.h) */
	uint16_t alt_type;     /* also counts (e.g. a retired code), or 0 */
	unsigned nth;          /* 1: its first occurrence */
	enum ft_action action;
};

/* Arm @p (NULL: no fault) and forget earlier state; not thread-safe. */
void ft_arm(const struct ft_plan *p);
const struct vmmig_transport_ops *ft_transport(void);
bool ft_fired(void);
/* Whether side @s died (FT_KILL_*). */
bool ft_dead(enum ft_side s);

#endif
