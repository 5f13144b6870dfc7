/* SPDX-License-Identifier: MIT */
/* The top of the receiving side: the migration thread and its receivers
 * (dest_run.c) and the record dispatcher (dest_dispatch.c); only the
 * public API (dest.c) calls them. */
#ifndef VMMIG_LIB_DEST_MAIN_H
#define VMMIG_LIB_DEST_MAIN_H

#include "dest_feat.h"

void *dst_main(void *arg);
/* A receiver's non-PAGES record: 0 to read on, 1 when the channel is done
 * (END), -errno after recording the failure. */
int dst_on_record(struct receiver *rv, const struct wire_hdr *h,
		  const uint8_t *payload);

#endif
