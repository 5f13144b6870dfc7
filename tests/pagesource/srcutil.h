/* SPDX-License-Identifier: MIT */
/* Helpers of the page-source tests: a data file of random pages, a done()
 * collector that counts calls per fetch, and submitting from threads. */
#ifndef VMMIG_TEST_SRCUTIL_H
#define VMMIG_TEST_SRCUTIL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <vmmig/pagesource.h>

/* A temporary file of @npages random pages; @data holds the same bytes,
 * @hash each page's vmmig_page_hash(). */
struct datafile {
	char path[256];
	int fd;
	uint64_t npages;
	unsigned char *data;
	uint64_t *hash;
};
int datafile_make(struct datafile *df, uint64_t npages, uint64_t seed);
void datafile_drop(struct datafile *df);

/* @n fetches, fetch i has cookie i and its own page-aligned buffer. */
struct fetchset {
	unsigned n;
	struct vmmig_page_fetch *f;
	struct vmmig_page_fetch **ptr; /* f[i] pointers, in submit order */
	unsigned char *bufs;
	atomic_int *calls;  /* done() calls per fetch */
	int *status;        /* last status per fetch */
	atomic_uint total;  /* done() calls in all */
	atomic_uint bad_cookie;
};
int fetchset_make(struct fetchset *fs, unsigned n);
void fetchset_drop(struct fetchset *fs);
/* Point fetch i at page @page of object @obj, with @hash. */
void fetchset_set(struct fetchset *fs, unsigned i, uint64_t obj, uint64_t page,
		  uint64_t hash);
/* Shuffle the submit order. */
void fetchset_shuffle(struct fetchset *fs, uint64_t seed);
/* The done() callback; ctx is the fetchset. */
void fetchset_done(void *ctx, struct vmmig_page_fetch *f, int status);
/* Wait (at most @ms) until @want done() calls came; true if they did. */
bool fetchset_wait(struct fetchset *fs, unsigned want, unsigned ms);
/* Submit the fetches in order from @nthreads threads (each a contiguous
 * share), in batches of @batch; returns the first error or 0. */
int fetchset_submit_threads(struct vmmig_page_source *ps, struct fetchset *fs,
			    unsigned nthreads, unsigned batch);
/* Whether every fetch got exactly one call; counts of each status. */
bool fetchset_once_each(const struct fetchset *fs);
unsigned fetchset_count(const struct fetchset *fs, int status);

uint64_t test_now_ns(void);
/* The storage backend's counters (the test fails if they cannot be read). */
struct vmmig_storage_stats stats_of(struct vmmig_page_source *ps);

#endif
