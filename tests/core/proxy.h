/* SPDX-License-Identifier: MIT */
/*
 * A TCP proxy between source and destination for failure tests: it can
 * flip one bit of the first connection's upstream bytes (at an offset, or
 * in the first PAGES record there: a descriptor or a raw page), or cut every open
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
#include <stdint.h>

#define PROXY_MAX_CONNS 64

/* What flip_at names: the byte at that offset, or (record-aware) in the
 * first PAGES record that starts at or after it, its first descriptor's
 * page index (under the CRC) or, once a record whose first page is RAW
 * comes, a byte of that page (no CRC covers page bytes). */
enum proxy_flip { PROXY_FLIP_BYTE, PROXY_FLIP_DESC, PROXY_FLIP_PAGE };

/* Where an upstream stream's records are (record-aware flips). */
struct proxy_scan {
	size_t rec_at;          /* offset of the next record's header */
	uint8_t head[40];       /* its header, batch header, 1st descriptor */
	size_t got;
	bool picked;            /* pick_flip() saw this record */
};

struct proxy_conn {
	int cfd, dfd;          /* client side, destination side */
	pthread_t up, down;
	size_t flip_at, cut_at;/* SIZE_MAX: never */
	enum proxy_flip flip;
	struct proxy_scan scan;
	struct proxy *px;
};

struct proxy {
	int lfd;
	char uri[64];          /* connect the source here */
	char target[300];      /* the destination's uri */
	size_t flip_at, cut_at;
	enum proxy_flip flip;  /* set before the source connects */
	atomic_bool flipped;   /* a record-aware flip was done */
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
