/* SPDX-License-Identifier: MIT */
/* Check assertions over the end-to-end helpers (tests only: the benchmarks
 * reuse e2e.c without Check). */
#include <check.h>

#include "e2e.h"

struct vmmig_source *guest_source(struct guest *g,
				  const struct vmmig_source_ops *ops)
{
	struct vmmig_source *src;

	ck_assert_ptr_null(g->manual);
	ck_assert_int_eq(vmmig_tracker_new_manual(&g->manual), 0);
	ck_assert_int_eq(vmmig_source_new(&src), 0);
	ck_assert_int_eq(vmmig_source_add_region(src, 0, 0, g->mem, g->size), 0);
	ck_assert_int_eq(vmmig_source_set_ops(src, ops, g), 0);
	ck_assert_int_eq(vmmig_source_set_tracker(src, g->manual), 0);
	return src;
}

void assert_migrated(struct vmmig_source *src, struct dest_proc *d)
{
	int ret = vmmig_source_wait(src);
	int dret = dest_reap(d);

	ck_assert_msg(ret == 0, "source: %s (%s); destination: %s",
		      vmmig_strerror(ret),
		      vmmig_source_error(src) ? vmmig_source_error(src) : "",
		      d->res->error);
	ck_assert_int_eq(dret, 0);
}
