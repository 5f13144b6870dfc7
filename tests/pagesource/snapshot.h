/* SPDX-License-Identifier: MIT */
/* An embedder-style page source for the tests: pages come from an
 * in-memory "snapshot" (object_id must be 0, offset indexes the snapshot).
 * Built only from the public ops table; one worker thread; stop() runs
 * whatever is queued rather than cancelling it. */
#ifndef VMMIG_TEST_SNAPSHOT_H
#define VMMIG_TEST_SNAPSHOT_H

#include <stddef.h>

#include <vmmig/pagesource.h>

struct snap_config {
	const unsigned char *mem;
	size_t size;
	int fail_start;    /* start() answers this (if nonzero) */
};

/* Calls seen, for the tests (the tests fork, so globals are per test). */
struct snap_counts {
	int init, start, stop, destroy;
};
extern struct snap_counts snap_counts;
extern const struct vmmig_page_source_ops snap_ops;

#endif
