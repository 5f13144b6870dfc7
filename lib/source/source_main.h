/* SPDX-License-Identifier: MIT */
/* The top of the sending side: the migration thread (source_run.c) and
 * the return path's dispatcher (source_dispatch.c); only the public API
 * (source.c) calls them. */
#ifndef VMMIG_LIB_SOURCE_MAIN_H
#define VMMIG_LIB_SOURCE_MAIN_H

#include "source_feat.h"

void *src_main(void *arg);
/* One record from the destination on the return path: 0 to read on, 1 when
 * the return path is done (STARTED of a pre-copy, DONE), or -errno (the
 * failure is recorded; ERROR from the peer included). */
int src_rp_on_record(struct vmmig_source *src, const struct wire_hdr *h,
		     const uint8_t *payload);

#endif
