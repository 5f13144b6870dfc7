/* SPDX-License-Identifier: MIT */
/*
 * A TCP proxy that cuts the link once: test helper of the toyvmm suite.
 *
 *   cutproxy TARGET_PORT CUT_BYTES PORT_FILE
 *
 * Listens on 127.0.0.1 (ephemeral port, written to PORT_FILE), forwards
 * every connection to 127.0.0.1:TARGET_PORT. When CUT_BYTES bytes in all
 * have gone from the clients to the target, it shuts down every connection
 * open at that moment (the "cut"), once; connections made afterwards (a
 * migration reconnecting) are forwarded untouched. Exits after 120 s at the
 * latest, so that a failed test leaves nothing behind.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 256

static int target_port;
static unsigned long long cut_bytes;
static atomic_ullong forwarded;       /* client -> target, all conns */
static atomic_bool cut_done;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int open_fds[2 * MAX_CONNS];   /* sockets of live connections */
static int nfds;

struct pipe_dir {
	int from, to;
	int upstream;                 /* 1: client -> target (counted) */
};

static void track(int fd, int add)
{
	pthread_mutex_lock(&lock);
	if (add && nfds < 2 * MAX_CONNS) {
		open_fds[nfds++] = fd;
	} else if (!add) {
		for (int i = 0; i < nfds; i++)
			if (open_fds[i] == fd) {
				open_fds[i] = open_fds[--nfds];
				break;
			}
	}
	pthread_mutex_unlock(&lock);
}

static void cut_all(void)
{
	pthread_mutex_lock(&lock);
	fprintf(stderr, "cutproxy: cutting %d sockets after %llu bytes\n",
		nfds, (unsigned long long)atomic_load(&forwarded));
	for (int i = 0; i < nfds; i++)
		shutdown(open_fds[i], SHUT_RDWR);
	pthread_mutex_unlock(&lock);
}

static void *pump(void *arg)
{
	struct pipe_dir *p = arg;
	char buf[65536];

	for (;;) {
		ssize_t n = read(p->from, buf, sizeof(buf));

		if (n <= 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(p->to, buf + off, (size_t)(n - off));

			if (w <= 0)
				goto out;
			off += w;
		}
		if (p->upstream &&
		    atomic_fetch_add(&forwarded, (unsigned long long)n) +
		    (unsigned long long)n >= cut_bytes &&
		    !atomic_exchange(&cut_done, true))
			cut_all();
	}
out:
	/* One direction ended: end the other one too. */
	shutdown(p->from, SHUT_RDWR);
	shutdown(p->to, SHUT_RDWR);
	return NULL;
}

static void *conn_main(void *arg)
{
	int cfd = (int)(intptr_t)arg, tfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)target_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct pipe_dir up = { cfd, tfd, 1 }, down = { tfd, cfd, 0 };
	pthread_t t;
	int one = 1;

	if (tfd < 0 || connect(tfd, (struct sockaddr *)&a, sizeof(a))) {
		close(cfd);
		if (tfd >= 0)
			close(tfd);
		return NULL;
	}
	setsockopt(tfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	track(cfd, 1);
	track(tfd, 1);
	if (pthread_create(&t, NULL, pump, &down) == 0) {
		pump(&up);
		pthread_join(t, NULL);
	}
	track(cfd, 0);
	track(tfd, 0);
	close(cfd);
	close(tfd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	FILE *f;
	int lfd;

	if (argc != 4) {
		fprintf(stderr, "usage: cutproxy TARGET_PORT CUT_BYTES "
			"PORT_FILE\n");
		return 2;
	}
	target_port = atoi(argv[1]);
	cut_bytes = strtoull(argv[2], NULL, 10);
	signal(SIGPIPE, SIG_IGN);
	alarm(120); /* bounded life: the default action ends the process */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(lfd, 64) ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen)) {
		perror("cutproxy");
		return 2;
	}
	/* Write then rename: a poller never sees half a port number. */
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[3]);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%u\n", ntohs(a.sin_port)) < 0 || fclose(f) ||
	    rename(tmp, argv[3])) {
		perror("cutproxy: port file");
		return 2;
	}
	for (;;) {
		int cfd = accept(lfd, NULL, NULL);
		pthread_t t;

		if (cfd < 0) {
			if (errno == EINTR)
				continue;
			perror("cutproxy: accept");
			return 1;
		}
		if (pthread_create(&t, NULL, conn_main, (void *)(intptr_t)cfd))
			close(cfd);
		else
			pthread_detach(t);
	}
}
