/* SPDX-License-Identifier: MIT */
/* A deliberately slow page source built on the public ops table: each page
 * is read from one file after a delay, so that contents sent over the
 * network overtake restores still in flight (the race cache-restore must
 * win). */
#ifndef VMMIG_TEST_SLOW_PAGESOURCE_H
#define VMMIG_TEST_SLOW_PAGESOURCE_H

#include <vmmig/vmmig.h>

/* @lie: the first @lie pages come back wrong (one byte flipped) with
 * status 0, as from a backend that skips the hash check. */
int slow_pagesource_new(const char *path, unsigned delay_us, unsigned lie,
		    struct vmmig_page_source **out);

#endif
