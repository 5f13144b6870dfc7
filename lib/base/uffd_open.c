/* SPDX-License-Identifier: MIT */
/*
 * Opening a userfaultfd, shared by the uffd-wp tracker and post-copy. It is
 * opened without UFFD_USER_MODE_ONLY: for a real guest the faults come from
 * inside KVM (kernel mode), which that flag would refuse to report.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffd.h"

int uffd_open(void)
{
	int fd = -1, dev, err = ENOSYS;

#ifdef SYS_userfaultfd
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	err = errno;
#endif
	if (fd >= 0)
		return fd;
	if (err != EPERM)
		return -err;
	/* vm.unprivileged_userfaultfd = 0 and no CAP_SYS_PTRACE: the device
	 * node (Linux >= 6.1) may still be open to us. */
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -EPERM;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	err = errno;
	close(dev);
	return fd >= 0 ? fd : -err;
}

/* UFFDIO_API handshake; *have receives the features the kernel supports. */
int uffd_api(int fd, uint64_t want, uint64_t *have)
{
	struct uffdio_api api = { .api = UFFD_API, .features = want };

	if (ioctl(fd, UFFDIO_API, &api) < 0)
		return -errno;
	*have = api.features;
	return 0;
}
