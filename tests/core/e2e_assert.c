/* SPDX-License-Identifier: MIT */
/* Check assertions over the end-to-end helpers (tests only: the benchmarks
 * reuse e2e.c without Check). */
#include <check.h>

#include "e2e.h"

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
