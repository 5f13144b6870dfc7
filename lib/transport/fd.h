/* SPDX-License-Identifier: MIT */
/*
 * Transport "fd" (private): io_uring channels over stream sockets the
 * embedder connected itself (vmmig_source_start_fds(),
 * vmmig_dest_start_fds()). Not a URI scheme: an fd number means nothing in
 * another process, and the calls take typed arrays.
 */
#ifndef VMMIG_LIB_FD_H
#define VMMIG_LIB_FD_H

#include <vmmig/transport.h>

/* Most fds one session takes (its channels). */
#define FD_POOL_MAX 16

/* connect(chan, "N", ...) adopts fd N; listen(listener, "3,4,5") makes the
 * listener a pool whose accept() hands out those fds in order, then waits
 * like a listener nobody connects to (until its timeout or shutdown). */
const struct vmmig_transport_ops *fd_transport(void);

/* Forget the fds of a pool not handed out yet, without closing them (the
 * caller keeps them after a failed start). */
void fd_pool_disown(void *listener);

#endif
