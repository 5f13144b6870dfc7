/* SPDX-License-Identifier: MIT */
/*
 * Raw loopback TCP throughput between two processes with plain blocking
 * send()/recv(): the baseline a migration's rate is compared with.
 */
#ifndef VMMIG_BENCH_TCP_BASELINE_H
#define VMMIG_BENCH_TCP_BASELINE_H

#include <stddef.h>

/* Move @bytes from this process to a forked receiver over 127.0.0.1 and
 * return the rate in bytes/s (until the receiver confirmed the last byte),
 * or a negative errno. */
double tcp_baseline(size_t bytes);

#endif
