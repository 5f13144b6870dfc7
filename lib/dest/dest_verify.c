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
 * its last copy. That read may overlap a newer copy being written (a torn
 * hash: TSan's report on it is suppressed, tests/tsan.supp); the newer
 * copy's own hash, queued or done by the receiver, always comes after it:
 * the queue is FIFO, and a receiver hashing inline first waits out the
 * hasher's job on that same page.
 */
#include <errno.h>
#include <stdlib.h>

#include "dest.h"

/* Queued pages; past that the receiver hashes them itself: a short queue
 * keeps the drain at the switchover short (the pause waits for it). */
#define VQ_CAP 512
/* vhash entries a bit of vhash_used stands for: one page of them. */
#define USED_PAGES 512

struct vqueue {
	pthread_mutex_t lock;
	pthread_cond_t more, idle;
	uint64_t ring[VQ_CAP];   /* region index << 48 | page */
	size_t head, tail;       /* free-running */
	uint64_t cur;            /* the entry being hashed, while busy */
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
		q->cur = e;
		pthread_mutex_unlock(&q->lock);
		hash_page(dst, ri, page, dst->sess.regions.r[ri].host +
					 page * VMMIG_PAGE_SIZE);
		pthread_mutex_lock(&q->lock);
		q->busy = false;
		/* idle also wakes an inline hash waiting for this page. */
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

/* Receivers: hash @page of region @ri later, unless @queue is false or the
 * queue is full: then return false, once the hasher is not (or no longer)
 * reading that page, whose hash would land after the caller's. */
static bool vqueue_put(struct vmmig_dest *dst, unsigned ri, uint64_t page,
		       bool queue)
{
	struct vqueue *q = dst->vq;
	uint64_t e = (uint64_t)ri << 48 | page;
	bool ok;

	pthread_mutex_lock(&q->lock);
	ok = queue && q->tail - q->head < VQ_CAP;
	if (ok) {
		q->ring[q->tail++ % VQ_CAP] = e;
		pthread_cond_signal(&q->more);
	}
	while (!ok && q->busy && q->cur == e)
		pthread_cond_wait(&q->idle, &q->lock);
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
	dst->vhash_used = calloc(dst->sess.regions.n, sizeof(*dst->vhash_used));
	if (!dst->vhash || !dst->vhash_used)
		return -ENOMEM;
	for (unsigned i = 0; i < dst->sess.regions.n; i++) {
		uint64_t np = dst->sess.regions.r[i].npages;

		dst->vhash[i] = calloc(np, 8);
		dst->vhash_used[i] = calloc((np + USED_PAGES * 64 - 1) /
					    (USED_PAGES * 64), 8);
		if (!dst->vhash[i] || !dst->vhash_used[i])
			return -ENOMEM;
	}
	return vqueue_start(dst);
}

void dst_verify_page(struct vmmig_dest *dst, unsigned ri, uint64_t page,
		     const void *contents)
{
	if (!dst->vhash)
		return;
	if (dst->vq)
		vqueue_put(dst, ri, page, false); /* waits out the hasher */
	hash_page(dst, ri, page, contents);
}

static void hash_page(struct vmmig_dest *dst, unsigned ri, uint64_t page,
		      const void *contents)
{
	uint64_t h, old;

	h = regions_page_hash(contents, dst->sess.regions.r[ri].id, page);
	if (h)
		__atomic_fetch_or(&dst->vhash_used[ri][page / USED_PAGES / 64],
				  1ull << (page / USED_PAGES % 64),
				  __ATOMIC_RELAXED);
	/* The sum stays the sum of the entries whatever the order. */
	old = __atomic_exchange_n(&dst->vhash[ri][page], h, __ATOMIC_RELAXED);
	atomic_fetch_add(&dst->vsum, h - old);
}

/*
 * A run of zero pages: each entry becomes 0. Only blocks of entries that
 * were ever set are read, so a run over memory nothing was sent to costs
 * a bit test per 512 pages. Hashes still queued would land after this
 * and put back a term of the copy the run replaced: the queue drains
 * first (runs are rare: a first send's never-populated memory).
 */
void dst_verify_zero(struct vmmig_dest *dst, unsigned ri, uint64_t first,
		  uint64_t n)
{
	uint64_t *vh;

	if (!dst->vhash)
		return;
	dst_verify_drain(dst);
	vh = dst->vhash[ri];
	for (uint64_t p = first; p < first + n;) {
		uint64_t b = p / USED_PAGES;
		uint64_t end = (b + 1) * USED_PAGES < first + n
				       ? (b + 1) * USED_PAGES : first + n;

		if (__atomic_load_n(&dst->vhash_used[ri][b / 64],
				    __ATOMIC_RELAXED) >> (b % 64) & 1)
			for (; p < end; p++)
				atomic_fetch_sub(&dst->vsum,
						 __atomic_exchange_n(&vh[p], 0,
							__ATOMIC_RELAXED));
		p = end;
	}
}

void dst_verify_landed(struct vmmig_dest *dst, unsigned ri, uint64_t page,
		    const void *contents)
{
	if (!dst->vhash)
		return;
	/* A zero page costs nothing to hash. */
	if (!dst->vq || !vqueue_put(dst, ri, page, contents != NULL))
		hash_page(dst, ri, page, contents);
}

void dst_verify_free(struct vmmig_dest *dst)
{
	vqueue_stop(dst);
	for (unsigned i = 0; dst->vhash && i < dst->sess.regions.n; i++)
		free(dst->vhash[i]);
	for (unsigned i = 0; dst->vhash_used && i < dst->sess.regions.n; i++)
		free(dst->vhash_used[i]);
	free(dst->vhash);
	free(dst->vhash_used);
	dst->vhash = NULL;
	dst->vhash_used = NULL;
}
