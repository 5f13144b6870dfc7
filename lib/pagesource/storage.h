/* SPDX-License-Identifier: MIT */
/* Private state of the shared-storage page source, shared by storage.c
 * (setup, submit queue, stop, stats) and storage_ring.c (the I/O thread). */
#ifndef VMMIG_LIB_SOURCE_STORAGE_H
#define VMMIG_LIB_SOURCE_STORAGE_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <vmmig/pagesource.h>

enum { OBJ_CLOSED = 0, OBJ_OPEN = 1, OBJ_FAILED = 2 };

/* One storage object: an id mapped to a path (opened lazily) or to a
 * borrowed fd. After start only the I/O thread touches the table. */
struct sobj {
	uint64_t id;
	char *path;     /* NULL: @fd was handed in by the embedder (borrowed) */
	int fd;         /* -1 until opened */
	int state;      /* OBJ_* */
};

/* One read in flight; user_data of its SQE is index + 1 (0 is the
 * eventfd read that wakes the thread). */
struct slot {
	struct vmmig_page_fetch *f;
	int fd;
	unsigned got;   /* bytes read so far (a short read is continued) */
	int next_free;  /* free list link, -1 ends it */
};

struct storage {
	unsigned qd;            /* reads in flight at most */
	int direct;             /* O_DIRECT on objects opened by path */

	struct sobj *objs;      /* sorted by id from start() on */
	unsigned nobjs, cap_objs;

	/* Submission queue: a ring of fetch pointers, max(4 x qd, 256) long. */
	pthread_mutex_t lock;
	pthread_cond_t work;    /* to the thread: queue not empty / stopping */
	pthread_cond_t space;   /* to submitters: room in the queue / stopping */
	pthread_cond_t idle;    /* to stop(): the last submitter left */
	bool sync_ok;           /* lock and conds initialised */
	struct vmmig_page_fetch **q;
	unsigned qcap, qhead, qcount;
	unsigned submitters;    /* threads inside submit() */
	bool started, stopping;
	bool ring_sleeping;     /* thread blocks in the ring: wake via evfd */

	/* The I/O thread and its ring. */
	pthread_t thread;
	bool ring_ok;           /* ring and evfd exist */
	struct io_uring ring;
	int evfd;
	uint64_t evbuf;
	vmmig_page_fetch_done_fn done;
	void *ctx;
	struct slot *slots;     /* qd of them */
	int free_slot;
	unsigned inflight;
	struct vmmig_page_fetch **take; /* qd: what one pass takes off the queue */

	/* Counters, updated by the thread, read by get_stats at any time. */
	atomic_uint_fast64_t n_ok, n_mismatch, n_failed, n_bytes, n_open_fail;
	atomic_uint_fast64_t busy_us, busy_since_us; /* since: 0 when idle */
	atomic_uint max_inflight;
};

/* storage_ring.c */
void *storage_ring_main(void *arg);
/* Wake the thread if it blocks in the ring. Called with s->lock held. */
void storage_ring_kick(struct storage *s);
uint64_t storage_now_us(void);

#endif
