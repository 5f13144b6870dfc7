/* SPDX-License-Identifier: MIT */
/*
 * A record-counting transport for tests: the built-in TCP transport, with
 * send() and send_queue() reading the byte stream each connection sends
 * (the source's side: records to the destination). Each connection is named
 * by the channel index of its HELLO; the tap counts the page descriptors
 * of every PAGES record by encoding, per channel index. Parsing follows the
 * stream's framing (records may span sends, a send may hold several), so
 * what it counts is what the peer receives.
 */
#ifndef VMMIG_TEST_REC_TAP_H
#define VMMIG_TEST_REC_TAP_H

#include <stdatomic.h>
#include <stdint.h>

#include <vmmig/transport.h>

#include "wire/wire.h"

#define TAP_MAX_CHAN 16

struct tap_stats {
	/* Page descriptors sent, per HELLO channel index and encoding. */
	atomic_uint_fast64_t pages[TAP_MAX_CHAN][WIRE_ENC__COUNT];
	atomic_uint_fast64_t records[TAP_MAX_CHAN]; /* PAGES records */
	atomic_uint nchannels;  /* from the HELLOs (0: none seen) */
	atomic_uint hellos;     /* HELLO records seen */
	atomic_uint bad;        /* streams the tap could not follow */
};
extern struct tap_stats tap;

/* Zero the counters; call before the session starts. */
void tap_reset(void);
/* The TCP transport with the tap on its sending side. */
const struct vmmig_transport_ops *tap_tcp_ops(void);

#endif
