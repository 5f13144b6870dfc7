/* SPDX-License-Identifier: MIT */
/* Transport "unix": io_uring channels over Unix stream sockets; the address
 * is a filesystem path. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <vmmig/transport.h>

#include "sock.h"
#include "uring_chan.h"

static int make_addr(const char *path, struct sockaddr_un *sun,
		     socklen_t *len)
{
	size_t n;

	if (!path || !*path)
		return -EINVAL;
	n = strlen(path);
	if (n >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, n + 1);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

/* A missing socket file or a refusal fails at once (the session decides
 * whether to try again); a full backlog is retried until the timeout. */
static int unix_connect(void *chan, const char *addr, int timeout_ms)
{
	uint64_t deadline = sock_deadline(timeout_ms);
	struct sockaddr_un sun;
	socklen_t len;
	int ret, fd = -1;

	ret = make_addr(addr, &sun, &len);
	if (ret < 0)
		return ret;
	for (;;) {
		ret = sock_connect((struct sockaddr *)&sun, len, deadline, &fd);
		if (ret == 0)
			return uring_chan_init(chan, fd);
		if (!sock_connect_retryable(ret) || !sock_retry_pause(deadline))
			return ret;
	}
}

/* A socket file left by a dead process is removed; one that still accepts
 * connections belongs to a live listener and is left alone. */
static int remove_stale(const struct sockaddr_un *sun, socklen_t len)
{
	struct stat st;
	int fd, ret;

	if (lstat(sun->sun_path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EADDRINUSE;
	ret = sock_connect((const struct sockaddr *)sun, len, sock_deadline(0),
			   &fd);
	if (ret == 0) {
		close(fd);
		return -EADDRINUSE;
	}
	if (ret != -ECONNREFUSED)
		return ret;
	if (unlink(sun->sun_path) && errno != ENOENT)
		return -errno;
	return 0;
}

static int unix_listen(void *listener, const char *addr)
{
	struct sock_listener *l = listener;
	struct sockaddr_un sun;
	struct stat st;
	socklen_t len;
	int ret;

	ret = make_addr(addr, &sun, &len);
	if (ret < 0)
		return ret;
	ret = remove_stale(&sun, len);
	if (ret < 0)
		return ret;
	ret = sock_listen(l, (struct sockaddr *)&sun, len);
	if (ret < 0)
		return ret;
	/* Remember which file is ours, to remove exactly that on close. */
	l->path = strdup(addr);
	if (!l->path || stat(addr, &st)) {
		ret = l->path ? -errno : -ENOMEM;
		goto err;
	}
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return 0;
err:
	sock_listener_close(l); /* path==NULL or unknown identity: kept */
	unlink(addr);
	return ret;
}

static int unix_listener_addr(void *listener, char *buf, size_t len)
{
	struct sock_listener *l = listener;
	size_t n;

	if (!l->live || !l->path)
		return -EINVAL;
	n = strlen(l->path);
	if (n >= len)
		return -ENOSPC;
	memcpy(buf, l->path, n + 1);
	return 0;
}

static int unix_accept(void *listener, void *chan, int timeout_ms)
{
	int fd;
	int ret = sock_accept(listener, timeout_ms, &fd);

	if (ret < 0)
		return ret;
	return uring_chan_init(chan, fd);
}

static void unix_listener_shutdown(void *listener)
{
	sock_listener_shutdown(listener);
}

static void unix_listener_close(void *listener)
{
	sock_listener_close(listener);
}

static const struct vmmig_transport_ops unix_ops = {
	.version = VMMIG_TRANSPORT_OPS_VERSION,
	.name = "unix",
	.chan_size = sizeof(struct uring_chan),
	.listener_size = sizeof(struct sock_listener),
	.connect = unix_connect,
	.listen = unix_listen,
	.listener_addr = unix_listener_addr,
	.accept = unix_accept,
	.listener_shutdown = unix_listener_shutdown,
	.listener_close = unix_listener_close,
	.send = uring_chan_send,
	.recv = uring_chan_recv,
	.shutdown = uring_chan_shutdown,
	.close = uring_chan_close,
	.recv_some = uring_chan_recv_some,
	.send_queue = uring_chan_send_queue,
	.send_wait = uring_chan_send_wait,
};

const struct vmmig_transport_ops *vmmig_transport_unix(void)
{
	return &unix_ops;
}
