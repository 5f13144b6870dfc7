/* SPDX-License-Identifier: MIT */
/* One guest page's bytes (private): the all-zero test (page_zero.c) and the
 * 64-bit hash both hosts compare memory with (hash64.c). They sit in base
 * because every part above reads pages: the region hash, the pagemap walk,
 * the PAGES builder and the page sources. */
#ifndef VMMIG_LIB_PAGE_H
#define VMMIG_LIB_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True if the VMMIG_PAGE_SIZE bytes at @page (any alignment) are all 0. */
bool page_is_zero(const void *page);

/* Fast 64-bit non-cryptographic hash (memory verification, storage hints):
 * the same value on every host. vmmig_page_hash() (<vmmig/pagesource.h>) is
 * this over one page with a fixed seed. */
uint64_t vmmig_hash64(const void *buf, size_t len, uint64_t seed);

#endif
