/* SPDX-License-Identifier: MIT */
/* The in-memory "snapshot" page source of the tests (see snapshot.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

struct snap_counts snap_counts;

struct snap_item {
	struct vmmig_page_fetch *f;
	struct snap_item *next;
};

struct snap {
	struct snap_config cfg;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct snap_item *head, **tail;
	bool stopping;
	pthread_t worker;
	vmmig_page_fetch_done_fn done;
	void *ctx;
};

static int snap_init(void *priv, const void *config)
{
	struct snap *s = priv;

	snap_counts.init++;
	if (!config)
		return -EINVAL;
	s->cfg = *(const struct snap_config *)config;
	s->tail = &s->head;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	return 0;
}

static int snap_read(struct snap *s, struct vmmig_page_fetch *f)
{
	if (f->object_id != 0)
		return -ENOENT;
	if (f->offset > s->cfg.size || s->cfg.size - f->offset < VMMIG_PAGE_SIZE)
		return -EIO;
	memcpy(f->buf, s->cfg.mem + f->offset, VMMIG_PAGE_SIZE);
	return vmmig_page_hash(f->buf) == f->hash ? 0 : -EBADMSG;
}

static void *snap_worker(void *arg)
{
	struct snap *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct snap_item *it;

		while (!s->head && !s->stopping)
			pthread_cond_wait(&s->cond, &s->lock);
		it = s->head;
		if (!it)
			break; /* stopping, and nothing left */
		s->head = it->next;
		if (!s->head)
			s->tail = &s->head;
		pthread_mutex_unlock(&s->lock);
		s->done(s->ctx, it->f, snap_read(s, it->f));
		free(it);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static int snap_start(void *priv, vmmig_page_fetch_done_fn done, void *ctx)
{
	struct snap *s = priv;

	snap_counts.start++;
	if (s->cfg.fail_start)
		return s->cfg.fail_start;
	s->done = done;
	s->ctx = ctx;
	return -pthread_create(&s->worker, NULL, snap_worker, s);
}

static int snap_submit(void *priv, struct vmmig_page_fetch *const *f, unsigned n)
{
	struct snap *s = priv;
	struct snap_item *first = NULL, **link = &first;

	/* Allocate all first: either every fetch is accepted or none. */
	for (unsigned i = 0; i < n; i++) {
		struct snap_item *it = calloc(1, sizeof(*it));

		if (!it) {
			while (first) {
				struct snap_item *nx = first->next;

				free(first);
				first = nx;
			}
			return -ENOMEM;
		}
		it->f = f[i];
		*link = it;
		link = &it->next;
	}
	pthread_mutex_lock(&s->lock);
	if (s->stopping) {
		pthread_mutex_unlock(&s->lock);
		while (first) {
			struct snap_item *nx = first->next;

			free(first);
			first = nx;
		}
		return -ESHUTDOWN;
	}
	*s->tail = first;
	s->tail = link;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void snap_stop(void *priv)
{
	struct snap *s = priv;

	snap_counts.stop++;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->worker, NULL);
}

static void snap_destroy(void *priv)
{
	struct snap *s = priv;

	snap_counts.destroy++;
	if (s->tail) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
	}
}

const struct vmmig_page_source_ops snap_ops = {
	.version = VMMIG_PAGE_SOURCE_OPS_VERSION,
	.name = "snapshot",
	.priv_size = sizeof(struct snap),
	.init = snap_init,
	.start = snap_start,
	.submit = snap_submit,
	.stop = snap_stop,
	.destroy = snap_destroy,
};
