/* SPDX-License-Identifier: MIT */
#include "slow_pagesource.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QCAP 65536

struct slow {
	int fd;
	unsigned delay_us;
	unsigned lie;     /* pages still to return wrong, claiming success */
	vmmig_page_fetch_done_fn done;
	void *ctx;
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct vmmig_page_fetch *q[QCAP];
	unsigned head, tail;
	bool stop, running;
};

struct slow_cfg {
	const char *path;
	unsigned delay_us;
	unsigned lie;
};

static int slow_init(void *priv, const void *config)
{
	const struct slow_cfg *c = config;
	struct slow *s = priv;

	s->fd = open(c->path, O_RDONLY | O_CLOEXEC);
	s->delay_us = c->delay_us;
	s->lie = c->lie;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	return s->fd < 0 ? -errno : 0;
}

static void *slow_main(void *arg)
{
	struct slow *s = arg;

	for (;;) {
		struct vmmig_page_fetch *f;
		int status = 0;

		pthread_mutex_lock(&s->lock);
		while (s->head == s->tail && !s->stop)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->head == s->tail) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		f = s->q[s->head++ % QCAP];
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
		usleep(s->delay_us);
		if (pread(s->fd, f->buf, VMMIG_PAGE_SIZE, (off_t)f->offset) !=
		    VMMIG_PAGE_SIZE) {
			status = -EIO;
		} else if (s->lie) {
			/* A backend that skips the check and hands back
			 * another page: the session must not believe it. */
			s->lie--;
			((unsigned char *)f->buf)[100] ^= 0xa5;
		} else if (vmmig_page_hash(f->buf) != f->hash) {
			status = -EBADMSG;
		}
		s->done(s->ctx, f, status);
	}
}

static int slow_start(void *priv, vmmig_page_fetch_done_fn done, void *ctx)
{
	struct slow *s = priv;

	s->done = done;
	s->ctx = ctx;
	if (pthread_create(&s->th, NULL, slow_main, s))
		return -EAGAIN;
	s->running = true;
	return 0;
}

static int slow_submit(void *priv, struct vmmig_page_fetch *const *f,
		       unsigned n)
{
	struct slow *s = priv;

	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < n; i++) {
		while (s->tail - s->head == QCAP)
			pthread_cond_wait(&s->cond, &s->lock);
		s->q[s->tail++ % QCAP] = f[i];
	}
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void slow_stop(void *priv)
{
	struct slow *s = priv;

	if (!s->running)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->th, NULL); /* the thread finishes the queue first */
	s->running = false;
}

static void slow_destroy(void *priv)
{
	struct slow *s = priv;

	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
}

static const struct vmmig_page_source_ops slow_ops = {
	.version = VMMIG_PAGE_SOURCE_OPS_VERSION,
	.name = "slow-file",
	.priv_size = sizeof(struct slow),
	.init = slow_init,
	.start = slow_start,
	.submit = slow_submit,
	.stop = slow_stop,
	.destroy = slow_destroy,
};

int slow_pagesource_new(const char *path, unsigned delay_us, unsigned lie,
		    struct vmmig_page_source **out)
{
	struct slow_cfg cfg = { path, delay_us, lie };

	return vmmig_page_source_new(&slow_ops, &cfg, out);
}
