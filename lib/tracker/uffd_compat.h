/* SPDX-License-Identifier: MIT */
/*
 * What Debian 12's kernel headers (6.1) lack for async uffd-wp (PAGEMAP_SCAN:
 * base/pagemap_compat.h). Values are the Linux UAPI ones
 * (include/uapi/linux/userfaultfd.h, include/uapi/linux/fs.h); the kernel we
 * run on decides at run time whether it knows them.
 */
#ifndef VMMIG_UFFD_COMPAT_H
#define VMMIG_UFFD_COMPAT_H

#include <linux/fs.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#include "base/pagemap_compat.h"

#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif


#endif /* VMMIG_UFFD_COMPAT_H */
