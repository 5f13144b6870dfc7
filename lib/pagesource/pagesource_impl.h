/* SPDX-License-Identifier: MIT */
/* Private view of the generic page-source object, for built-in backends
 * that need to recognise their own objects (setup calls, stats). */
#ifndef VMMIG_LIB_PAGESOURCE_IMPL_H
#define VMMIG_LIB_PAGESOURCE_IMPL_H

#include <vmmig/pagesource.h>

/* The ops table @ps was created with (NULL if @ps is NULL). */
const struct vmmig_page_source_ops *
pagesource_ops(const struct vmmig_page_source *ps);

#endif
