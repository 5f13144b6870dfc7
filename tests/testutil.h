/* SPDX-License-Identifier: MIT */
/* Shared helpers of the Check suites. */
#ifndef VMMIG_TESTUTIL_H
#define VMMIG_TESTUTIL_H

#include <check.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

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

/* Post-copy needs userfaultfd (the syscall, or /dev/userfaultfd). */
static inline bool vmtest_uffd_available(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);

	if (fd < 0)
		fd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

#endif
