/* SPDX-License-Identifier: MIT */
/*
 * The destination's half of the end-to-end memory check. Each page's
 * regions_page_hash() is kept as its final copy lands (from the stream, from
 * storage, or placed after a post-copy switch), and their sum is kept
 * along; a page that never lands is zero and counts 0. At the switchover the
 * sum is this side's digest at no cost, while hashing all memory there
 * would cost the downtime. The source hashes its memory after it gave the
 * guest up and the two are compared (dest_switch.c, dest_run.c).
 *
 * Pages a receiver lands in guest memory are hashed by a thread of their
 * own, off the receive path: the pages of the last pass arrive during the
 * pause, and hashing them inline would add to it. The queue is drained
 * before the digest is read and before anything else may touch those pages
 * (the guest's start, dropping pages for post-copy). The hasher reads the
 * page's current contents, so a page queued twice ends with the hash of
 * its last copy.
 */
#include <errno.h>
#include <stdlib.h>

#include "dest.h"

/* Queued pages; past that the receiver hashes them itself: a short queue
 * keeps the drain at the switchover short (the pause waits for it). */
#define VQ_CAP 512

struct vqueue {
	pthread_mutex_t lock;
	pthread_cond_t more, idle;
	uint64_t ring[VQ_CAP];   /* region index << 48 | page */
	size_t head, tail;       /* free-running */
	bool busy, stop;
	pthread_t thread;
};

static void hash_page(struct vmmig_dest *dst, unsigned ri, uint64_t page,
		      const void *contents);

static void *hasher_main(void *arg)
{
	struct vmmig_dest *dst = arg;
	struct vqueue *q = dst->vq;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (q->head == q->tail && !q->stop)
			pthread_cond_wait(&q->more, &q->lock);
		if (q->head == q->tail)
			break;
		uint64_t e = q->ring[q->head++ % VQ_CAP];
		unsigned ri = (unsigned)(e >> 48);
		uint64_t page = e & ((1ull << 48) - 1);

		q->busy = true;
		pthread_mutex_unlock(&q->lock);
		hash_page(dst, ri, page,
			  dst->sess.regions.r[ri].host + page * VMMIG_PAGE_SIZE);
		pthread_mutex_lock(&q->lock);
		q->busy = false;
		if (q->head == q->tail)
			pthread_cond_broadcast(&q->idle);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

static int vqueue_start(struct vmmig_dest *dst)
{
	struct vqueue *q = calloc(1, sizeof(*q));

	if (!q)
		return -ENOMEM;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->more, NULL);
	pthread_cond_init(&q->idle, NULL);
	dst->vq = q;
	if (pthread_create(&q->thread, NULL, hasher_main, dst)) {
		dst->vq = NULL;
		free(q);
		return -EAGAIN;
	}
	return 0;
}

void dst_verify_drain(struct vmmig_dest *dst)
{
	struct vqueue *q = dst->vq;

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	while (q->head != q->tail || q->busy)
		pthread_cond_wait(&q->idle, &q->lock);
	pthread_mutex_unlock(&q->lock);
}

/* Receivers: hash @page of region @ri later; false if the queue is full. */
static bool vqueue_put(struct vmmig_dest *dst, unsigned ri, uint64_t page)
{
	struct vqueue *q = dst->vq;
	bool ok;

	pthread_mutex_lock(&q->lock);
	ok = q->tail - q->head < VQ_CAP;
	if (ok) {
		q->ring[q->tail++ % VQ_CAP] = (uint64_t)ri << 48 | page;
		pthread_cond_signal(&q->more);
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

static void vqueue_stop(struct vmmig_dest *dst)
{
	struct vqueue *q = dst->vq;

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_signal(&q->more);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	pthread_cond_destroy(&q->more);
	pthread_cond_destroy(&q->idle);
	pthread_mutex_destroy(&q->lock);
	free(q);
	dst->vq = NULL;
}

int dst_verify_init(struct vmmig_dest *dst)
{
	if (dst->vhash)
		return 0;
	dst->vhash = calloc(dst->sess.regions.n, sizeof(*dst->vhash));
	if (!dst->vhash)
		return -ENOMEM;
	for (unsigned i = 0; i < dst->sess.regions.n; i++) {
		dst->vhash[i] = calloc(dst->sess.regions.r[i].npages, 8);
		if (!dst->vhash[i])
			return -ENOMEM;
	}
	return vqueue_start(dst);
}

void dst_verify_page(struct vmmig_dest *dst, unsigned ri, uint64_t page,
		     const void *contents)
{
	if (dst->vhash)
		hash_page(dst, ri, page, contents);
}

static void hash_page(struct vmmig_dest *dst, unsigned ri, uint64_t page,
		      const void *contents)
{
	uint64_t h, old;

	h = regions_page_hash(contents, dst->sess.regions.r[ri].id, page);
	/* The sum stays the sum of the entries whatever the order. */
	old = __atomic_exchange_n(&dst->vhash[ri][page], h, __ATOMIC_RELAXED);
	atomic_fetch_add(&dst->vsum, h - old);
}

void dst_verify_landed(struct vmmig_dest *dst, unsigned ri, uint64_t page,
		    const void *contents)
{
	if (!dst->vhash)
		return;
	/* A zero page costs nothing to hash. */
	if (!contents || !vqueue_put(dst, ri, page))
		hash_page(dst, ri, page, contents);
}

void dst_verify_free(struct vmmig_dest *dst)
{
	vqueue_stop(dst);
	for (unsigned i = 0; dst->vhash && i < dst->sess.regions.n; i++)
		free(dst->vhash[i]);
	free(dst->vhash);
	dst->vhash = NULL;
}
