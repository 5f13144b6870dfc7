/* SPDX-License-Identifier: MIT */
/* Shared helpers of the Check suites. */
#ifndef VMMIG_TESTUTIL_H
#define VMMIG_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

/* meson's exit code for "skipped": the machine lacks a feature. */
#define VMTEST_SKIP 77

static inline int vmtest_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

static inline int vmtest_skip(const char *why)
{
	printf("SKIP: %s\n", why);
	return VMTEST_SKIP;
}

#endif
