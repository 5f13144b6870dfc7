/* SPDX-License-Identifier: MIT */
/* Listening, accepting and connecting stream sockets with timeouts. */
#include "sock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LISTEN_BACKLOG 128
#define RETRY_PAUSE_NS (50 * 1000000ull)

uint64_t sock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t sock_deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return UINT64_MAX;
	return sock_now_ns() + (uint64_t)timeout_ms * 1000000ull;
}

int sock_left_ms(uint64_t deadline_ns)
{
	uint64_t now = sock_now_ns();
	uint64_t left;

	if (deadline_ns == UINT64_MAX)
		return -1;
	if (now >= deadline_ns)
		return 0;
	left = (deadline_ns - now + 999999) / 1000000;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

static int set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	if (fcntl(fd, F_SETFL, fl) < 0)
		return -errno;
	return 0;
}

int sock_listen(struct sock_listener *l, const struct sockaddr *sa,
		socklen_t salen)
{
	int one = 1;
	int ret;

	l->fd = socket(sa->sa_family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return -errno;
	l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->evfd < 0) {
		ret = -errno;
		goto err_fd;
	}
	if (sa->sa_family != AF_UNIX &&
	    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))) {
		ret = -errno;
		goto err_ev;
	}
	if (bind(l->fd, sa, salen) || listen(l->fd, LISTEN_BACKLOG)) {
		ret = -errno;
		goto err_ev;
	}
	l->live = true;
	return 0;

err_ev:
	close(l->evfd);
err_fd:
	close(l->fd);
	l->fd = l->evfd = -1;
	return ret;
}

int sock_accept(struct sock_listener *l, int timeout_ms, int *fd)
{
	uint64_t deadline = sock_deadline(timeout_ms);
	struct pollfd pfd[2];
	int ret;

	if (!l->live)
		return -EINVAL;
	for (;;) {
		pfd[0] = (struct pollfd){ .fd = l->evfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = l->fd, .events = POLLIN };
		ret = poll(pfd, 2, sock_left_ms(deadline));
		if (ret < 0 && errno != EINTR)
			return -errno;
		if (pfd[0].revents)
			return -ECANCELED;
		if (ret > 0 && pfd[1].revents) {
			/* Non-blocking listener: another thread may have taken
			 * the connection between poll and accept. */
			*fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
			if (*fd >= 0)
				return 0;
			if (errno != EAGAIN && errno != ECONNABORTED &&
			    errno != EINTR)
				return -errno;
		}
		if (sock_left_ms(deadline) == 0)
			return -ETIMEDOUT;
	}
}

void sock_listener_shutdown(struct sock_listener *l)
{
	uint64_t one = 1;

	if (l->live && write(l->evfd, &one, sizeof(one)) < 0) {
		/* Only EAGAIN on counter overflow: it is already signalled. */
	}
}

void sock_listener_close(struct sock_listener *l)
{
	struct stat st;

	if (l->live) {
		if (l->path && !stat(l->path, &st) && st.st_dev == l->dev &&
		    st.st_ino == l->ino)
			unlink(l->path);
		close(l->fd);
		close(l->evfd);
	}
	free(l->path);
	*l = (struct sock_listener){ .fd = -1, .evfd = -1 };
}

int sock_connect(const struct sockaddr *sa, socklen_t salen,
		 uint64_t deadline_ns, int *fd)
{
	struct pollfd pfd;
	socklen_t len = sizeof(int);
	int err = 0;
	int s, ret;

	s = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		   0);
	if (s < 0)
		return -errno;
	if (connect(s, sa, salen) == 0)
		goto connected;
	if (errno != EINPROGRESS && errno != EINTR) {
		ret = -errno;
		goto err;
	}
	pfd = (struct pollfd){ .fd = s, .events = POLLOUT };
	for (;;) {
		ret = poll(&pfd, 1, sock_left_ms(deadline_ns));
		if (ret > 0)
			break;
		if (ret == 0) {
			ret = -ETIMEDOUT;
			goto err;
		}
		if (errno != EINTR) {
			ret = -errno;
			goto err;
		}
	}
	if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len)) {
		ret = -errno;
		goto err;
	}
	if (err) {
		ret = -err;
		goto err;
	}
connected:
	/* io_uring returns -EAGAIN instead of waiting on an O_NONBLOCK
	 * socket, so the channel needs it blocking. */
	ret = set_nonblock(s, false);
	if (ret < 0)
		goto err;
	*fd = s;
	return 0;
err:
	close(s);
	return ret;
}

bool sock_connect_retryable(int err)
{
	/* EAGAIN: a Unix listener's backlog is full, a moment's congestion.
	 * Nobody listening (ECONNREFUSED, ENOENT) is reported at once: the
	 * session retries only if asked (VMMIG_OPT_CONNECT_RETRY_MS). */
	return err == -EAGAIN;
}

bool sock_retry_pause(uint64_t deadline_ns)
{
	uint64_t now = sock_now_ns();
	uint64_t pause = RETRY_PAUSE_NS;
	struct timespec ts;

	if (deadline_ns == UINT64_MAX || now >= deadline_ns)
		return false;
	if (deadline_ns - now < pause)
		pause = deadline_ns - now;
	ts.tv_sec = (time_t)(pause / 1000000000ull);
	ts.tv_nsec = (long)(pause % 1000000000ull);
	nanosleep(&ts, NULL);
	return true;
}
