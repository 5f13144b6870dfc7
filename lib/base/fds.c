/* SPDX-License-Identifier: MIT */
/* Pre-connected sockets handed to a session (*_start_fds()): checked up
 * front, so that a wrong fd is refused by the call, not found later by a
 * thread. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "base.h"

int fd_check(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(int);
	struct stat st;
	int type;

	if (fd < 0 || fstat(fd, &st))
		return -EBADF;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len))
		return -errno;
	if (type != SOCK_STREAM)
		return -EPROTOTYPE;
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len))
		return -ENOTCONN;
	return 0;
}

int fds_to_addr(const int *fds, unsigned nfds, char *addr, size_t len,
		const struct logger *lg, char *err, size_t errlen)
{
	size_t used = 0;

	err[0] = '\0';
	if (!fds || nfds < 2 || nfds > VMMIG_MAX_CHANNELS)
		snprintf(err, errlen, "%u fds: a migration takes 2..%u "
			 "connections (the page channels and the urgent "
			 "channel)", fds ? nfds : 0, VMMIG_MAX_CHANNELS);
	for (unsigned i = 0; !err[0] && i < nfds; i++) {
		int ret = fd_check(fds[i]);

		for (unsigned j = 0; !ret && j < i; j++)
			if (fds[j] == fds[i])
				ret = -EINVAL;
		if (ret) {
			snprintf(err, errlen, "fd %d (channel %u): %s", fds[i],
				 i, ret == -EINVAL ? "given twice"
				 : ret == -ENOTCONN ? "socket not connected"
				 : ret == -EPROTOTYPE ? "not a stream socket"
				 : ret == -ENOTSOCK ? "not a socket"
						     : "not an open fd");
			log_msg(lg, VMMIG_LOG_ERROR, "%s", err);
			return ret;
		}
		int n = snprintf(addr + used, len - used, "%s%d", i ? "," : "",
				 fds[i]);
		if (n < 0 || (size_t)n >= len - used)
			return -ENOSPC;
		used += (size_t)n;
	}
	if (err[0]) {
		log_msg(lg, VMMIG_LOG_ERROR, "%s", err);
		return -EINVAL;
	}
	return 0;
}
