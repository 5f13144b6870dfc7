/* SPDX-License-Identifier: MIT */
/*
 * A TCP proxy between source and destination for failure tests: it can
 * flip one bit of the first connection's upstream bytes, or cut every open
 * connection once the first one carried a number of bytes (a broken link);
 * connections opened after the cut pass through untouched (but for the
 * first refuse_after_cut of them, closed at once: a reconnect that fails).
 */
#ifndef VMMIG_TEST_PROXY_H
#define VMMIG_TEST_PROXY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define PROXY_MAX_CONNS 64

struct proxy_conn {
	int cfd, dfd;          /* client side, destination side */
	pthread_t up, down;
	size_t flip_at, cut_at;/* SIZE_MAX: never */
	struct proxy *px;
};

struct proxy {
	int lfd;
	char uri[64];          /* connect the source here */
	char target[300];      /* the destination's uri */
	size_t flip_at, cut_at;
	atomic_bool cut_done;
	atomic_int cuts;
	atomic_int refuse_after_cut; /* close this many connections made
				      * after the cut at once (set after
				      * proxy_start) */
	pthread_t acceptor;
	pthread_mutex_t lock;
	struct proxy_conn conns[PROXY_MAX_CONNS];
	int nconns;
};

/* @flip_at / @cut_at count the first connection's upstream bytes;
 * SIZE_MAX disables either. Returns 0 or -errno. */
int proxy_start(struct proxy *px, const char *target_uri, size_t flip_at,
		size_t cut_at);
void proxy_stop(struct proxy *px);
/* Connect to a "tcp:127.0.0.1:PORT" uri; the fd or -1. */
int tcp_connect_uri(const char *uri);

#endif
