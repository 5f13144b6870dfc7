/* SPDX-License-Identifier: MIT */
/*
 * Socket helpers shared by the TCP and Unix transports (private): a listener
 * whose accept() waits with a timeout and can be cancelled, a connect() that
 * waits with a deadline, and clock helpers.
 */
#ifndef VMMIG_LIB_SOCK_H
#define VMMIG_LIB_SOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct sock_listener {
	bool live;   /* sock_listen() succeeded */
	int fd;      /* listening socket, non-blocking */
	int evfd;    /* eventfd: written by shutdown, wakes accept */
	char *path;  /* Unix: socket file to remove on close, or NULL */
	dev_t dev;   /* Unix: identity of the file we created, so close */
	ino_t ino;   /*   never removes someone else's newer socket */
};

/* Bind @sa and listen. @l must be zeroed. Return 0 or -errno. */
int sock_listen(struct sock_listener *l, const struct sockaddr *sa,
		socklen_t salen);
/* Wait up to @timeout_ms (-1: forever) for a connection; on success *fd is
 * the accepted socket in blocking mode. -ETIMEDOUT, -ECANCELED, -errno. */
int sock_accept(struct sock_listener *l, int timeout_ms, int *fd);
void sock_listener_shutdown(struct sock_listener *l);
void sock_listener_close(struct sock_listener *l);

/* One connect attempt to @sa, waiting for the handshake until @deadline_ns
 * (UINT64_MAX: no limit). On success *fd is connected, blocking. */
int sock_connect(const struct sockaddr *sa, socklen_t salen,
		 uint64_t deadline_ns, int *fd);
/* Errors after which a connect attempt is worth repeating: the destination
 * may still be starting. */
bool sock_connect_retryable(int err);
/* Sleep a short while before the next attempt; false once past @deadline_ns. */
bool sock_retry_pause(uint64_t deadline_ns);

uint64_t sock_now_ns(void);
/* Deadline for a timeout in ms; UINT64_MAX when @timeout_ms < 0. */
uint64_t sock_deadline(int timeout_ms);
/* Milliseconds left until @deadline_ns, rounded up, for poll(): -1 when
 * there is no deadline, 0 when it has passed. */
int sock_left_ms(uint64_t deadline_ns);

#endif
