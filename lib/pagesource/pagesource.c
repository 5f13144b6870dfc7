/* SPDX-License-Identifier: MIT */
/* The generic page-source object: ops table check, private state, the thin
 * wrappers the core calls. (vmmig_page_hash(), the hash restored pages are
 * checked against, is base's: lib/base/hash64.c.) */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "pagesource_impl.h"

enum { PS_NEW = 0, PS_STARTED = 1, PS_STOPPED = 2 };

struct vmmig_page_source {
	const struct vmmig_page_source_ops *ops;
	void *priv;
	/* PS_*: read by submit() on any thread while stop() may change it. */
	atomic_int state;
};

const struct vmmig_page_source_ops *
pagesource_ops(const struct vmmig_page_source *ps)
{
	return ps ? ps->ops : NULL;
}

VMMIG_API int vmmig_page_source_new(const struct vmmig_page_source_ops *ops,
				    const void *config,
				    struct vmmig_page_source **out)
{
	struct vmmig_page_source *ps;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!ops || ops->version < 1 ||
	    ops->version > VMMIG_PAGE_SOURCE_OPS_VERSION || !ops->name ||
	    !ops->start || !ops->submit || !ops->stop)
		return -EINVAL;
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	ps->ops = ops;
	atomic_init(&ps->state, PS_NEW);
	ps->priv = calloc(1, ops->priv_size ? ops->priv_size : 1);
	if (!ps->priv) {
		ret = -ENOMEM;
		goto fail;
	}
	if (ops->init) {
		ret = ops->init(ps->priv, config);
		if (ret < 0)
			goto fail;
	}
	*out = ps;
	return 0;
fail:
	vmmig_page_source_free(ps);
	return ret;
}

VMMIG_API void vmmig_page_source_free(struct vmmig_page_source *ps)
{
	if (!ps)
		return;
	vmmig_page_source_stop(ps);
	if (ps->priv && ps->ops->destroy)
		ps->ops->destroy(ps->priv);
	free(ps->priv);
	free(ps);
}

VMMIG_API void *vmmig_page_source_priv(struct vmmig_page_source *ps)
{
	return ps ? ps->priv : NULL;
}

VMMIG_API const char *vmmig_page_source_name(const struct vmmig_page_source *ps)
{
	return ps ? ps->ops->name : NULL;
}

VMMIG_API int vmmig_page_source_start(struct vmmig_page_source *ps,
				      vmmig_page_fetch_done_fn done, void *ctx)
{
	int ret;

	if (!ps || !done)
		return -EINVAL;
	if (atomic_load(&ps->state) != PS_NEW)
		return -EBUSY;
	/* Like every method (<vmmig/common.h>): >= 0 is success (the
	 * threads run: stop() must follow). */
	ret = ps->ops->start(ps->priv, done, ctx);
	if (ret < 0)
		return ret;
	atomic_store(&ps->state, PS_STARTED);
	return 0;
}

VMMIG_API int vmmig_page_source_submit(struct vmmig_page_source *ps,
				       struct vmmig_page_fetch *const *f,
				       unsigned n)
{
	int ret;

	if (!ps || (!f && n))
		return -EINVAL;
	switch (atomic_load(&ps->state)) {
	case PS_NEW:
		return -EINVAL;
	case PS_STOPPED:
		return -ESHUTDOWN;
	}
	if (!n)
		return 0;
	/* Check everything first: a fetch is either all accepted or not. */
	for (unsigned i = 0; i < n; i++)
		if (!f[i] || !f[i]->buf)
			return -EINVAL;
	/* A stop() racing with this call is the backend's to settle: it
	 * either refuses the fetches or completes them. */
	ret = ps->ops->submit(ps->priv, f, n);
	/* Backends answer 0 or -errno; a positive count still means
	 * "accepted" (done() will come): >= 0 is success, as for every
	 * method (<vmmig/common.h>). */
	return ret > 0 ? 0 : ret;
}

VMMIG_API void vmmig_page_source_stop(struct vmmig_page_source *ps)
{
	int expect = PS_STARTED;

	if (!ps)
		return;
	/* Exactly one caller moves STARTED -> STOPPED and calls ops->stop(). */
	if (atomic_compare_exchange_strong(&ps->state, &expect, PS_STOPPED))
		ps->ops->stop(ps->priv);
}
