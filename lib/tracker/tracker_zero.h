/* SPDX-License-Identifier: MIT */
/* What a built-in tracker saw of never-populated pages (private). */
#ifndef VMMIG_TRACKER_ZERO_H
#define VMMIG_TRACKER_ZERO_H

#include <stdint.h>

struct vmmig_tracker;

/*
 * OR into @bm (one bit per page of region @index, as started) the pages
 * that read as zero when the tracker armed them: a later write to any of
 * them is reported by a sync. Only a tracker whose arming hides that from
 * the page tables knows it (uffd-wp in async mode: its markers look like
 * swapped-out pages); the others return -EOPNOTSUPP, and
 * pagemap_zero_bitmap() after start() tells the same. Call between start()
 * and stop(), from the thread that syncs.
 */
int tracker_zero_at_start(struct vmmig_tracker *t, unsigned index,
			  uint64_t *bm);

#endif
