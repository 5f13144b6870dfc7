/* SPDX-License-Identifier: MIT */
/*
 * userfaultfd for the parts that use it (the uffd-wp tracker, post-copy on
 * the destination): opening one (uffd_open.c), and what Debian 12's kernel
 * headers (6.1) lack for async uffd-wp (PAGEMAP_SCAN: pagemap_compat.h). Values are the Linux UAPI ones
 * (include/uapi/linux/userfaultfd.h, include/uapi/linux/fs.h); the kernel we
 * run on decides at run time whether it knows them.
 */
#ifndef VMMIG_UFFD_COMPAT_H
#define VMMIG_UFFD_COMPAT_H

#include <linux/fs.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#include <stdint.h>

#include "pagemap_compat.h"

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


/* A new userfaultfd (O_CLOEXEC | O_NONBLOCK), via the syscall or, when that
 * is not permitted, /dev/userfaultfd. Returns the fd or -errno. */
int uffd_open(void);
/* UFFDIO_API handshake asking for @want; *have gets what the kernel has. */
int uffd_api(int fd, uint64_t want, uint64_t *have);

#endif /* VMMIG_UFFD_COMPAT_H */
