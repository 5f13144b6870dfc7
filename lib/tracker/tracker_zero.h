/* SPDX-License-Identifier: MIT */
/* What a built-in tracker saw of never-populated pages (private). */
#ifndef VMMIG_TRACKER_ZERO_H
#define VMMIG_TRACKER_ZERO_H

#include <stdint.h>

struct vmmig_tracker;

/*
 * OR into @bm (one bit per page of region @index, as started) the pages
 * that read as zero when the tracker armed them: a later write to any of
 * them is reported by a sync. A tracker that walks the page tables while
 * arming records it then (uffd-wp in async mode, for private anonymous
 * regions), which saves the source a walk of its own; the others return
 * -EOPNOTSUPP, and pagemap_zero_bitmap() after start() tells the same.
 * Returns how many pages that is. Call between start() and stop(), from
 * the thread that syncs.
 */
int64_t tracker_zero_at_start(struct vmmig_tracker *t, unsigned index,
			      uint64_t *bm);

#endif
