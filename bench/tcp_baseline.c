/* SPDX-License-Identifier: MIT */
#include "tcp_baseline.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#define CHUNK (1u << 20)

static int xfer(int fd, uint8_t *buf, size_t len, int is_send)
{
	while (len > 0) {
		ssize_t n = is_send ? send(fd, buf, len, MSG_NOSIGNAL)
				    : recv(fd, buf, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		if (is_send)
			buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Receiver: take @bytes, then confirm with one byte. */
static int receiver(int lfd, uint8_t *buf, size_t bytes)
{
	int fd = accept(lfd, NULL, NULL);
	int ret;

	if (fd < 0)
		return 1;
	/* recv() into one buffer over and over: like writing guest memory
	 * that is already resident. */
	for (ret = 0; bytes > 0 && !ret;) {
		size_t n = bytes < CHUNK ? bytes : CHUNK;

		ret = xfer(fd, buf, n, 0);
		bytes -= n;
	}
	if (!ret)
		ret = xfer(fd, buf, 1, 1);
	close(fd);
	return ret ? 1 : 0;
}

double tcp_baseline(size_t bytes)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sa);
	uint8_t *buf = malloc(CHUNK);
	int lfd = -1, fd = -1, status;
	double t0, rate = -EIO;
	pid_t pid = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!buf)
		return -ENOMEM;
	bench_fill(buf, CHUNK, FILL_RANDOM, 7);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &slen)) {
		rate = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		rate = -errno;
		goto out;
	}
	if (pid == 0)
		_exit(receiver(lfd, buf, bytes));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		rate = -errno;
		goto out;
	}
	t0 = bench_now_s();
	for (size_t left = bytes; left > 0;) {
		size_t n = left < CHUNK ? left : CHUNK;

		if (xfer(fd, buf, n, 1))
			goto out;
		left -= n;
	}
	if (xfer(fd, buf, 1, 0))
		goto out;
	rate = (double)bytes / (bench_now_s() - t0);
out:
	if (fd >= 0)
		close(fd);
	if (lfd >= 0)
		close(lfd);
	/* On failure the receiver may still wait in accept() or recv(). */
	if (pid > 0 && rate < 0)
		kill(pid, SIGKILL);
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	free(buf);
	return rate;
}
