/* SPDX-License-Identifier: MIT */
/* The shared-storage page source: configuration, the object map, the
 * bounded submission queue, stop and stats. The reads themselves happen on
 * one thread with its own io_uring ring (storage_ring.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/struct_in.h"
#include "pagesource_impl.h"
#include "storage.h"

/* Queue this many fetches per read slot, and at least QUEUE_MIN, before
 * submit() blocks: enough to keep the ring fed while the submitters wait to
 * be scheduled (with a queue of 4 at depth 1 the thread spent over 80 % of
 * its time waiting for them; 256 made depth 1 four times faster), small
 * enough that a fast producer cannot pile up work. The queue holds only
 * pointers; the fetches are the caller's. */
#define QUEUE_PER_SLOT 4
#define QUEUE_MIN 256

static const struct vmmig_page_source_ops storage_ops;

static struct storage *storage_of(struct vmmig_page_source *ps)
{
	if (pagesource_ops(ps) != &storage_ops)
		return NULL;
	return vmmig_page_source_priv(ps);
}

static int storage_init(void *priv, const void *config)
{
	struct vmmig_storage_config cfg = { 0 };
	struct storage *s = priv;
	int ret;

	s->evfd = -1;
	if (config) {
		ret = struct_copy_in(&cfg, sizeof(cfg), config);
		if (ret)
			return ret;
	}
	s->qd = cfg.queue_depth ? cfg.queue_depth : VMMIG_STORAGE_DEFAULT_QD;
	if (s->qd > VMMIG_STORAGE_MAX_QD)
		return -ERANGE;
	s->direct = cfg.direct;
	s->qcap = s->qd * QUEUE_PER_SLOT;
	if (s->qcap < QUEUE_MIN)
		s->qcap = QUEUE_MIN;
	s->q = calloc(s->qcap, sizeof(*s->q));
	s->take = calloc(s->qd, sizeof(*s->take));
	s->slots = calloc(s->qd, sizeof(*s->slots));
	if (!s->q || !s->take || !s->slots)
		return -ENOMEM;
	if (pthread_mutex_init(&s->lock, NULL))
		return -ENOMEM;
	if (pthread_cond_init(&s->work, NULL))
		goto fail_work;
	if (pthread_cond_init(&s->space, NULL))
		goto fail_space;
	if (pthread_cond_init(&s->idle, NULL))
		goto fail_idle;
	s->sync_ok = true;
	return 0;
fail_idle:
	pthread_cond_destroy(&s->space);
fail_space:
	pthread_cond_destroy(&s->work);
fail_work:
	pthread_mutex_destroy(&s->lock);
	return -ENOMEM;
}

static int cmp_obj(const void *a, const void *b)
{
	const struct sobj *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int storage_start(void *priv, vmmig_page_fetch_done_fn done, void *ctx)
{
	struct storage *s = priv;
	int ret;

	s->done = done;
	s->ctx = ctx;
	/* From here on the thread looks objects up by binary search. */
	if (s->nobjs)
		qsort(s->objs, s->nobjs, sizeof(*s->objs), cmp_obj);
	for (unsigned i = 0; i < s->qd; i++)
		s->slots[i].next_free = i + 1 < s->qd ? (int)i + 1 : -1;
	s->free_slot = 0;
	s->evfd = eventfd(0, EFD_CLOEXEC);
	if (s->evfd < 0)
		return -errno;
	/* One extra entry for the eventfd read that is always armed. */
	ret = io_uring_queue_init(s->qd + 1, &s->ring, 0);
	if (ret < 0)
		goto fail;
	s->ring_ok = true;
	pthread_mutex_lock(&s->lock);
	s->started = true;
	pthread_mutex_unlock(&s->lock);
	ret = -pthread_create(&s->thread, NULL, storage_ring_main, s);
	if (ret) {
		s->started = false;
		io_uring_queue_exit(&s->ring);
		s->ring_ok = false;
		goto fail;
	}
	return 0;
fail:
	close(s->evfd);
	s->evfd = -1;
	return ret;
}

static bool misaligned(const struct vmmig_page_fetch *f)
{
	return ((uintptr_t)f->buf | f->offset) & (VMMIG_PAGE_SIZE - 1);
}

static int storage_submit(void *priv, struct vmmig_page_fetch *const *f,
			  unsigned n)
{
	struct storage *s = priv;
	unsigned i = 0;

	if (s->direct)
		for (unsigned k = 0; k < n; k++)
			if (misaligned(f[k]))
				return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (!s->started || s->stopping) {
		pthread_mutex_unlock(&s->lock);
		return -ESHUTDOWN;
	}
	/* From a done() callback (the I/O thread) waiting for room would
	 * wait for ourselves: refuse instead of blocking. */
	if (pthread_equal(pthread_self(), s->thread) &&
	    s->qcap - s->qcount < n) {
		pthread_mutex_unlock(&s->lock);
		return -EDEADLK;
	}
	s->submitters++;
	while (i < n) {
		while (s->qcount == s->qcap && !s->stopping)
			pthread_cond_wait(&s->space, &s->lock);
		if (s->stopping)
			break;
		while (i < n && s->qcount < s->qcap) {
			s->q[(s->qhead + s->qcount) % s->qcap] = f[i++];
			s->qcount++;
		}
		pthread_cond_signal(&s->work);
		storage_ring_kick(s);
	}
	pthread_mutex_unlock(&s->lock);
	/* stop() came while we waited for room: these were accepted but
	 * never queued, so they are ours to cancel. */
	for (; i < n; i++)
		s->done(s->ctx, f[i], -ECANCELED);
	pthread_mutex_lock(&s->lock);
	if (--s->submitters == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void storage_stop(void *priv)
{
	struct storage *s = priv;

	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->space);
	pthread_cond_signal(&s->work);
	storage_ring_kick(s);
	/* Blocked submitters cancel their leftovers; wait for those done()
	 * calls so that none comes after stop() returns. */
	while (s->submitters)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
	/* The thread cancels what is queued, waits for reads in flight. */
	pthread_join(s->thread, NULL);
	io_uring_queue_exit(&s->ring);
	s->ring_ok = false;
	close(s->evfd);
	s->evfd = -1;
}

static void storage_destroy(void *priv)
{
	struct storage *s = priv;

	for (unsigned i = 0; i < s->nobjs; i++) {
		if (s->objs[i].path && s->objs[i].fd >= 0)
			close(s->objs[i].fd);
		free(s->objs[i].path);
	}
	free(s->objs);
	free(s->q);
	free(s->take);
	free(s->slots);
	if (s->sync_ok) {
		pthread_cond_destroy(&s->idle);
		pthread_cond_destroy(&s->space);
		pthread_cond_destroy(&s->work);
		pthread_mutex_destroy(&s->lock);
	}
}

static const struct vmmig_page_source_ops storage_ops = {
	.version = VMMIG_PAGE_SOURCE_OPS_VERSION,
	.name = "storage",
	.priv_size = sizeof(struct storage),
	.init = storage_init,
	.start = storage_start,
	.submit = storage_submit,
	.stop = storage_stop,
	.destroy = storage_destroy,
};

VMMIG_API int vmmig_page_source_new_storage(const struct vmmig_storage_config *cfg,
					    struct vmmig_page_source **out)
{
	return vmmig_page_source_new(&storage_ops, cfg, out);
}

static int add_object(struct vmmig_page_source *ps, uint64_t id,
		      const char *path, int fd)
{
	struct storage *s = storage_of(ps);
	struct sobj *o;
	int ret = 0;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (s->started) {
		ret = -EBUSY;
		goto out;
	}
	/* Linear: objects are few (tablespaces, images) and added once. */
	for (unsigned i = 0; i < s->nobjs; i++)
		if (s->objs[i].id == id) {
			ret = -EEXIST;
			goto out;
		}
	if (s->nobjs == s->cap_objs) {
		unsigned cap = s->cap_objs ? 2 * s->cap_objs : 16;

		o = realloc(s->objs, cap * sizeof(*o));
		if (!o) {
			ret = -ENOMEM;
			goto out;
		}
		s->objs = o;
		s->cap_objs = cap;
	}
	o = &s->objs[s->nobjs];
	*o = (struct sobj){ .id = id, .fd = fd,
			    .state = path ? OBJ_CLOSED : OBJ_OPEN };
	if (path && !(o->path = strdup(path))) {
		ret = -ENOMEM;
		goto out;
	}
	s->nobjs++;
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

VMMIG_API int vmmig_storage_add_object(struct vmmig_page_source *ps,
				       uint64_t object_id, const char *path)
{
	if (!path || !*path)
		return -EINVAL;
	return add_object(ps, object_id, path, -1);
}

VMMIG_API int vmmig_storage_add_object_fd(struct vmmig_page_source *ps,
					  uint64_t object_id, int fd)
{
	if (fd < 0)
		return storage_of(ps) ? -EBADF : -EINVAL;
	return add_object(ps, object_id, NULL, fd);
}

VMMIG_API int vmmig_storage_get_stats(struct vmmig_page_source *ps,
				      struct vmmig_storage_stats *st)
{
	struct storage *s = storage_of(ps);
	struct vmmig_storage_stats v = { .struct_size = sizeof(v) };
	uint64_t since;

	if (!s || !st || st->struct_size < sizeof(st->struct_size))
		return -EINVAL;
	v.pages_ok = atomic_load(&s->n_ok);
	v.pages_mismatch = atomic_load(&s->n_mismatch);
	v.pages_failed = atomic_load(&s->n_failed);
	v.bytes_read = atomic_load(&s->n_bytes);
	v.open_failures = atomic_load(&s->n_open_fail);
	v.queue_depth = s->qd;
	v.max_in_flight = atomic_load(&s->max_inflight);
	v.busy_us = atomic_load(&s->busy_us);
	/* Count the busy period still going on, if any. */
	since = atomic_load(&s->busy_since_us);
	if (since)
		v.busy_us += storage_now_us() - since;
	/* Copy no more than the caller's struct holds (older callers). */
	if (st->struct_size < sizeof(v))
		v.struct_size = st->struct_size;
	memcpy(st, &v, v.struct_size);
	return 0;
}
