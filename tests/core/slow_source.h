/* SPDX-License-Identifier: MIT */
/* A deliberately slow page source built on the public ops table: each page
 * is read from one file after a delay, so that contents sent over the
 * network overtake restores still in flight (the race cache-restore must
 * win). */
#ifndef VMMIG_TEST_SLOW_SOURCE_H
#define VMMIG_TEST_SLOW_SOURCE_H

#include <vmmig/vmmig.h>

int slow_source_new(const char *path, unsigned delay_us,
		    struct vmmig_page_source **out);

#endif
