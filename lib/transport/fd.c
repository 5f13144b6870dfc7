/* SPDX-License-Identifier: MIT */
/* Transport "fd": channels over sockets the embedder connected (fd.h). */
#include "fd.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "sock.h"
#include "uring_chan.h"

struct fd_pool {
	bool live;             /* listen() succeeded */
	int fd[FD_POOL_MAX];   /* owned until handed out */
	unsigned n, next;      /* fds held; the next to hand out */
	int evfd;              /* written by shutdown, wakes accept */
};

/* Take @fd over as a channel: blocking (io_uring would get -EAGAIN on a
 * non-blocking socket), no Nagle delay on TCP (small control records). */
static int adopt(void *chan, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int one = 1, fl, ret;

	ret = fd_check(fd);
	if (ret)
		goto err;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len)) {
		ret = -errno;
		goto err;
	}
	if ((ss.ss_family == AF_INET || ss.ss_family == AF_INET6) &&
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))) {
		ret = -errno;
		goto err;
	}
	return uring_chan_init(chan, fd);
err:
	close(fd);
	return ret;
}

/* One decimal fd number ending at *@end (',' or NUL). */
static int parse_fd(const char *s, const char **end)
{
	char *e;
	long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &e, 10);
	if (errno || v > INT32_MAX || (*e && *e != ','))
		return -EINVAL;
	*end = e;
	return (int)v;
}

static int fd_connect(void *chan, const char *addr, int timeout_ms)
{
	const char *end;
	int fd = addr ? parse_fd(addr, &end) : -EINVAL;

	(void)timeout_ms; /* already connected */
	if (fd < 0 || *end)
		return -EINVAL;
	return adopt(chan, fd);
}

static int fd_listen(void *listener, const char *addr)
{
	struct fd_pool *p = listener;
	const char *s = addr;

	if (!s)
		return -EINVAL;
	while (*s) {
		int fd = parse_fd(s, &s);

		if (fd < 0 || p->n == FD_POOL_MAX)
			return -EINVAL;
		p->fd[p->n++] = fd;
		if (*s == ',' && !*++s)
			return -EINVAL;
	}
	if (!p->n)
		return -EINVAL;
	p->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->evfd < 0)
		return -errno;
	p->live = true;
	return 0;
}

static int fd_accept(void *listener, void *chan, int timeout_ms)
{
	struct fd_pool *p = listener;
	struct pollfd pfd;
	uint64_t deadline = sock_deadline(timeout_ms);
	int ret;

	if (!p->live)
		return -EINVAL;
	if (p->next < p->n)
		return adopt(chan, p->fd[p->next++]);
	/* No fd left: nobody else can ever come. */
	for (;;) {
		pfd = (struct pollfd){ .fd = p->evfd, .events = POLLIN };
		ret = poll(&pfd, 1, sock_left_ms(deadline));
		if (ret > 0)
			return -ECANCELED;
		if (ret < 0 && errno != EINTR)
			return -errno;
		if (sock_left_ms(deadline) == 0)
			return -ETIMEDOUT;
	}
}

static void fd_listener_shutdown(void *listener)
{
	struct fd_pool *p = listener;
	uint64_t one = 1;

	if (p->live && write(p->evfd, &one, sizeof(one)) < 0) {
		/* Only EAGAIN on counter overflow: already signalled. */
	}
}

void fd_pool_disown(void *listener)
{
	struct fd_pool *p = listener;

	p->next = p->n;
}

static void fd_listener_close(void *listener)
{
	struct fd_pool *p = listener;

	if (!p->live)
		return;
	for (unsigned i = p->next; i < p->n; i++)
		close(p->fd[i]);
	close(p->evfd);
	memset(p, 0, sizeof(*p));
}

static const struct vmmig_transport_ops fd_ops = {
	.version = VMMIG_TRANSPORT_OPS_VERSION,
	.name = "fd",
	.chan_size = sizeof(struct uring_chan),
	.listener_size = sizeof(struct fd_pool),
	.connect = fd_connect,
	.listen = fd_listen,
	.accept = fd_accept,
	.listener_shutdown = fd_listener_shutdown,
	.listener_close = fd_listener_close,
	.send = uring_chan_send,
	.recv = uring_chan_recv,
	.shutdown = uring_chan_shutdown,
	.close = uring_chan_close,
	.recv_some = uring_chan_recv_some,
	.send_queue = uring_chan_send_queue,
	.send_wait = uring_chan_send_wait,
};

const struct vmmig_transport_ops *fd_transport(void)
{
	return &fd_ops;
}
