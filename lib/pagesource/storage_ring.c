/* SPDX-License-Identifier: MIT */
/* The storage source's I/O thread: takes fetches off the queue, keeps up to
 * queue_depth IORING_OP_READs in flight on its own ring, checks length and
 * hash of each page, reports it through done(). An eventfd read, always
 * armed on the same ring, lets submit() and stop() wake the thread while
 * it waits for completions. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "storage.h"

#define EVFD_TAG 0 /* user_data of the eventfd read; slots are index + 1 */

uint64_t storage_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* +1: 0 means "idle" in busy_since_us, and the clock could read 0. */
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000 + 1;
}

void storage_ring_kick(struct storage *s)
{
	uint64_t one = 1;

	if (!s->ring_sleeping)
		return;
	s->ring_sleeping = false;
	/* Cannot fail short of a counter overflow, which one more wake-up
	 * would not fix anyway. */
	if (write(s->evfd, &one, sizeof(one)) < 0)
		return;
}

/* An SQE, flushing the queue to the kernel if it is full. The ring has an
 * entry per slot plus the eventfd read, so the retry always succeeds. */
static struct io_uring_sqe *get_sqe(struct storage *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

	if (!sqe) {
		io_uring_submit(&s->ring);
		sqe = io_uring_get_sqe(&s->ring);
	}
	return sqe;
}

static void arm_evfd(struct storage *s)
{
	struct io_uring_sqe *sqe = get_sqe(s);

	if (!sqe)
		return;
	io_uring_prep_read(sqe, s->evfd, &s->evbuf, sizeof(s->evbuf), 0);
	io_uring_sqe_set_data64(sqe, EVFD_TAG);
}

static void finish(struct storage *s, struct vmmig_page_fetch *f, int status)
{
	switch (status) {
	case 0:
		atomic_fetch_add(&s->n_ok, 1);
		break;
	case -EBADMSG:
		atomic_fetch_add(&s->n_mismatch, 1);
		break;
	case -ECANCELED:
		break;
	default:
		atomic_fetch_add(&s->n_failed, 1);
	}
	s->done(s->ctx, f, status);
}

static struct sobj *find_obj(struct storage *s, uint64_t id)
{
	unsigned lo = 0, hi = s->nobjs;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (s->objs[mid].id == id)
			return &s->objs[mid];
		if (s->objs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Remember an unknown id as a failed object, so that it counts as one
 * open failure however many fetches name it. */
static void add_unknown(struct storage *s, uint64_t id)
{
	unsigned pos = 0;

	atomic_fetch_add(&s->n_open_fail, 1);
	if (s->nobjs == s->cap_objs) {
		unsigned cap = s->cap_objs ? 2 * s->cap_objs : 16;
		struct sobj *o = realloc(s->objs, cap * sizeof(*o));

		if (!o)
			return; /* it will just be counted again */
		s->objs = o;
		s->cap_objs = cap;
	}
	while (pos < s->nobjs && s->objs[pos].id < id)
		pos++;
	for (unsigned i = s->nobjs; i > pos; i--)
		s->objs[i] = s->objs[i - 1];
	s->objs[pos] = (struct sobj){ .id = id, .fd = -1, .state = OBJ_FAILED };
	s->nobjs++;
}

/* The fd to read object @id from, opening it on first use; -ENOENT. */
static int obj_fd(struct storage *s, uint64_t id)
{
	struct sobj *o = find_obj(s, id);
	int flags = O_RDONLY | O_CLOEXEC | (s->direct ? O_DIRECT : 0);

	if (!o) {
		add_unknown(s, id);
		return -ENOENT;
	}
	if (o->state == OBJ_CLOSED) {
		o->fd = open(o->path, flags);
		o->state = o->fd >= 0 ? OBJ_OPEN : OBJ_FAILED;
		if (o->fd < 0)
			atomic_fetch_add(&s->n_open_fail, 1);
	}
	return o->state == OBJ_OPEN ? o->fd : -ENOENT;
}

/* Queue the (rest of the) read of slot @idx; false if no SQE could be had
 * (cannot happen while the ring is sized as it is, but never crash). */
static bool prep_slot_read(struct storage *s, int idx)
{
	struct slot *sl = &s->slots[idx];
	struct io_uring_sqe *sqe = get_sqe(s);

	if (!sqe)
		return false;
	io_uring_prep_read(sqe, sl->fd, (char *)sl->f->buf + sl->got,
			   VMMIG_PAGE_SIZE - sl->got, sl->f->offset + sl->got);
	io_uring_sqe_set_data64(sqe, (uint64_t)idx + 1);
	return true;
}

static void slot_put(struct storage *s, int idx)
{
	s->slots[idx].f = NULL;
	s->slots[idx].next_free = s->free_slot;
	s->free_slot = idx;
}

/* Start reads for @n fetches; the caller made sure slots are free. */
static void issue(struct storage *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct vmmig_page_fetch *f = s->take[i];
		int fd = obj_fd(s, f->object_id);
		int idx = s->free_slot;

		if (fd < 0) {
			finish(s, f, fd);
			continue;
		}
		s->free_slot = s->slots[idx].next_free;
		s->slots[idx] = (struct slot){ .f = f, .fd = fd, .next_free = -1 };
		if (!prep_slot_read(s, idx)) {
			slot_put(s, idx);
			finish(s, f, -EIO);
			continue;
		}
		if (s->inflight++ == 0)
			atomic_store(&s->busy_since_us, storage_now_us());
		if (s->inflight > atomic_load(&s->max_inflight))
			atomic_store(&s->max_inflight, s->inflight);
	}
}

static void complete(struct storage *s, int idx, int res)
{
	struct slot *sl = &s->slots[idx];
	struct vmmig_page_fetch *f = sl->f;
	int status;

	if (res > 0) {
		atomic_fetch_add(&s->n_bytes, (uint64_t)res);
		sl->got += (unsigned)res;
		/* Short: read the rest (end of file then reads 0). */
		if (sl->got < VMMIG_PAGE_SIZE && prep_slot_read(s, idx))
			return;
	}
	if (sl->got < VMMIG_PAGE_SIZE)
		status = -EIO; /* error, or end of file */
	else if (vmmig_page_hash(f->buf) != f->hash)
		status = -EBADMSG;
	else
		status = 0;
	slot_put(s, idx);
	if (--s->inflight == 0) {
		uint64_t since = atomic_exchange(&s->busy_since_us, 0);

		atomic_fetch_add(&s->busy_us, storage_now_us() - since);
	}
	finish(s, f, status);
}

/* Submit what was prepared, wait for one completion if @wait, then handle
 * every completion that is ready. */
static void reap(struct storage *s, bool wait)
{
	struct io_uring_cqe *cqe;
	int ret;

	do
		ret = io_uring_submit_and_wait(&s->ring, wait ? 1 : 0);
	while (ret == -EINTR);
	while (io_uring_peek_cqe(&s->ring, &cqe) == 0) {
		uint64_t tag = io_uring_cqe_get_data64(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&s->ring, cqe);
		if (tag == EVFD_TAG)
			arm_evfd(s);
		else
			complete(s, (int)(tag - 1), res);
	}
}

void *storage_ring_main(void *arg)
{
	struct storage *s = arg;
	unsigned n;
	bool cancel, quit;

	arm_evfd(s);
	for (;;) {
		pthread_mutex_lock(&s->lock);
		s->ring_sleeping = false;
		while (!s->stopping && !s->qcount && !s->inflight)
			pthread_cond_wait(&s->work, &s->lock);
		cancel = s->stopping;
		/* Stopping: drain the queue in chunks, issuing nothing. */
		n = cancel ? s->qd : s->qd - s->inflight;
		if (n > s->qcount)
			n = s->qcount;
		for (unsigned i = 0; i < n; i++)
			s->take[i] = s->q[(s->qhead + i) % s->qcap];
		s->qhead = (s->qhead + n) % s->qcap;
		s->qcount -= n;
		/* Wake blocked submitters only once the queue is half empty,
		 * so that they refill it in bulk instead of one wake-up (two
		 * context switches) per page. */
		if (n && (s->qcount <= s->qcap / 2 || cancel))
			pthread_cond_broadcast(&s->space);
		quit = cancel && !n && !s->inflight;
		/* Nothing new to start: block in the ring until a read
		 * completes, or, if there is room for more reads, until
		 * submit()/stop() writes the eventfd. With every slot busy a
		 * completion comes first anyway: no eventfd write needed. */
		if (!n && s->inflight && (s->inflight < s->qd || cancel))
			s->ring_sleeping = true;
		pthread_mutex_unlock(&s->lock);
		if (quit)
			break;
		if (cancel)
			for (unsigned i = 0; i < n; i++)
				finish(s, s->take[i], -ECANCELED);
		else
			issue(s, n);
		if (s->inflight)
			reap(s, !n);
	}
	return NULL;
}
