/* SPDX-License-Identifier: MIT */
/* Transport "tcp": io_uring channels over TCP, address "HOST:PORT" or
 * "[IPv6]:PORT". */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vmmig/transport.h>

#include "sock.h"
#include "uring_chan.h"

#define HOST_MAX 256
#define PORT_MAX 32

/* Split "host:port" / "[v6]:port" into NUL-terminated copies. An empty host
 * is allowed (listen on every address). */
static int split_addr(const char *addr, char *host, char *port)
{
	const char *colon, *h = addr;
	size_t hlen;

	if (!addr)
		return -EINVAL;
	if (*addr == '[') {
		const char *end = strchr(addr, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		h = addr + 1;
		hlen = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - addr);
		if (memchr(addr, ':', hlen))
			return -EINVAL; /* bare IPv6 needs brackets */
	}
	if (hlen >= HOST_MAX || strlen(colon + 1) >= PORT_MAX ||
	    !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    atol(colon + 1) > 65535)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

static int resolve(const char *addr, bool passive, struct addrinfo **res)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	char host[HOST_MAX], port[PORT_MAX];
	int ret = split_addr(addr, host, port);

	if (ret < 0)
		return ret;
	if (passive)
		hints.ai_flags |= AI_PASSIVE;
	ret = getaddrinfo(*host ? host : NULL, port, &hints, res);
	if (ret == EAI_SYSTEM)
		return -errno;
	if (ret == EAI_MEMORY)
		return -ENOMEM;
	if (ret)
		return -EHOSTUNREACH; /* unknown host or bad port */
	return 0;
}

static int chan_setup(void *chan, int fd)
{
	int one = 1;

	/* Small control records (acks, page requests) must not wait for
	 * Nagle's algorithm. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return uring_chan_init(chan, fd);
}

/*
 * The timeout bounds the connection's setup. A refused connection (nobody
 * listening) fails at once; the session decides whether to try again.
 */
static int tcp_connect(void *chan, const char *addr, int timeout_ms)
{
	uint64_t deadline = sock_deadline(timeout_ms);
	struct addrinfo *res, *ai;
	int ret, fd = -1;

	ret = resolve(addr, false, &res);
	if (ret < 0)
		return ret;
	for (;;) {
		ret = -EHOSTUNREACH;
		for (ai = res; ai; ai = ai->ai_next) {
			ret = sock_connect(ai->ai_addr, ai->ai_addrlen,
					   deadline, &fd);
			if (ret == 0)
				goto done;
		}
		if (!sock_connect_retryable(ret) || !sock_retry_pause(deadline))
			break;
	}
done:
	freeaddrinfo(res);
	if (ret < 0)
		return ret;
	return chan_setup(chan, fd);
}

static int tcp_listen(void *listener, const char *addr)
{
	struct addrinfo *res;
	int ret;

	ret = resolve(addr, true, &res);
	if (ret < 0)
		return ret;
	/* The first address only: one listening socket per listener. */
	ret = sock_listen(listener, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return ret;
}

static int tcp_listener_addr(void *listener, char *buf, size_t len)
{
	struct sock_listener *l = listener;
	struct sockaddr_storage ss;
	socklen_t slen = sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	int n;

	if (!l->live)
		return -EINVAL;
	if (getsockname(l->fd, (struct sockaddr *)&ss, &slen))
		return -errno;
	/* A wildcard address is reported as loopback: connect() needs a
	 * concrete host, and a test on this machine is the usual reader. */
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		if (sin->sin_addr.s_addr == htonl(INADDR_ANY))
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		n = snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
			sin6->sin6_addr = in6addr_loopback;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		n = snprintf(buf, len, "[%s]:%u", host,
			     ntohs(sin6->sin6_port));
	} else {
		return -EAFNOSUPPORT;
	}
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return 0;
}

static int tcp_accept(void *listener, void *chan, int timeout_ms)
{
	int fd;
	int ret = sock_accept(listener, timeout_ms, &fd);

	if (ret < 0)
		return ret;
	return chan_setup(chan, fd);
}

static void tcp_listener_shutdown(void *listener)
{
	sock_listener_shutdown(listener);
}

static void tcp_listener_close(void *listener)
{
	sock_listener_close(listener);
}

static const struct vmmig_transport_ops tcp_ops = {
	.version = VMMIG_TRANSPORT_OPS_VERSION,
	.name = "tcp",
	.chan_size = sizeof(struct uring_chan),
	.listener_size = sizeof(struct sock_listener),
	.connect = tcp_connect,
	.listen = tcp_listen,
	.listener_addr = tcp_listener_addr,
	.accept = tcp_accept,
	.listener_shutdown = tcp_listener_shutdown,
	.listener_close = tcp_listener_close,
	.send = uring_chan_send,
	.recv = uring_chan_recv,
	.shutdown = uring_chan_shutdown,
	.close = uring_chan_close,
	.recv_some = uring_chan_recv_some,
	.send_queue = uring_chan_send_queue,
	.send_wait = uring_chan_send_wait,
};

const struct vmmig_transport_ops *vmmig_transport_tcp(void)
{
	return &tcp_ops;
}
