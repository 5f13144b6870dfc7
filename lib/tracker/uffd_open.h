/* SPDX-License-Identifier: MIT */
/* userfaultfd helpers shared by the uffd-wp tracker and post-copy. */
#ifndef VMMIG_LIB_UFFD_OPEN_H
#define VMMIG_LIB_UFFD_OPEN_H

#include <stdint.h>

/* A new userfaultfd (O_CLOEXEC | O_NONBLOCK), via the syscall or, when that
 * is not permitted, /dev/userfaultfd. Returns the fd or -errno. */
int uffd_open(void);
/* UFFDIO_API handshake asking for @want; *have gets what the kernel has. */
int uffd_api(int fd, uint64_t want, uint64_t *have);

#endif
