/* SPDX-License-Identifier: MIT */
/*
 * The generic tracker: allocation, and the thin wrappers through which the
 * library (and embedders) reach a backend. The wrappers check arguments and
 * state so that backends can trust them.
 *
 * Not thread-safe: one thread drives a tracker (start/sync/clear/stop).
 * Errors: -EINVAL for bad arguments, and also for sync()/clear() on a tracker
 * that is not started; -EBUSY for start() on a started tracker. The rules
 * of every pluggable interface (<vmmig/common.h>): versions 1 to the
 * current one; a method's value >= 0 is success.
 */
#include <errno.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>

#include "tracker_impl.h"

/* Private state sits right after the struct, aligned for any type. */
#define PRIV_OFFSET \
	((sizeof(struct vmmig_tracker) + alignof(max_align_t) - 1) & \
	 ~(alignof(max_align_t) - 1))

VMMIG_API int vmmig_tracker_new(const struct vmmig_tracker_ops *ops,
				const void *config, struct vmmig_tracker **out)
{
	struct vmmig_tracker *t;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!ops || ops->version < 1 ||
	    ops->version > VMMIG_TRACKER_OPS_VERSION ||
	    !ops->start || !ops->sync || !ops->stop)
		return -EINVAL;
	if (ops->priv_size > SIZE_MAX - PRIV_OFFSET)
		return -EINVAL;

	t = calloc(1, PRIV_OFFSET + ops->priv_size);
	if (!t)
		return -ENOMEM;
	t->ops = ops;
	t->priv = (char *)t + PRIV_OFFSET;

	if (ops->init) {
		ret = ops->init(t->priv, config);
		if (ret < 0)
			goto fail;
	}
	*out = t;
	return 0;

fail:
	/* Like SQLite's xClose: destroy runs even after a failed init. */
	if (ops->destroy)
		ops->destroy(t->priv);
	free(t);
	return ret;
}

VMMIG_API void vmmig_tracker_free(struct vmmig_tracker *t)
{
	if (!t)
		return;
	vmmig_tracker_stop(t);
	if (t->ops->destroy)
		t->ops->destroy(t->priv);
	free(t);
}

VMMIG_API void *vmmig_tracker_priv(struct vmmig_tracker *t)
{
	return t ? t->priv : NULL;
}

VMMIG_API const char *vmmig_tracker_name(const struct vmmig_tracker *t)
{
	if (!t || !t->ops->name)
		return "?";
	return t->ops->name;
}

static int region_ok(const struct vmmig_tracker_region *r, unsigned i)
{
	uintptr_t host = (uintptr_t)r->host;

	if (!r->host || host % VMMIG_PAGE_SIZE || r->size == 0 ||
	    r->size % VMMIG_PAGE_SIZE || r->index != i ||
	    r->npages != r->size / VMMIG_PAGE_SIZE)
		return 0;
	/* The range must not wrap the address space. */
	return r->size - 1 <= UINTPTR_MAX - host;
}

VMMIG_API int vmmig_tracker_start(struct vmmig_tracker *t,
				  const struct vmmig_tracker_region *regions,
				  unsigned nr)
{
	int ret;

	if (!t || !regions || nr == 0)
		return -EINVAL;
	if (t->started)
		return -EBUSY;
	for (unsigned i = 0; i < nr; i++)
		if (!region_ok(&regions[i], i))
			return -EINVAL;

	ret = t->ops->start(t->priv, regions, nr);
	if (ret < 0) {
		/* stop() is documented safe after a failed start(): let the
		 * backend undo whatever part of start() it did. */
		t->ops->stop(t->priv);
		return ret;
	}
	t->nr = nr;
	t->started = 1;
	return 0;
}

VMMIG_API int vmmig_tracker_sync(struct vmmig_tracker *t, unsigned index,
				 uint64_t *bitmap)
{
	int ret;

	if (!t || !t->started || index >= t->nr || !bitmap)
		return -EINVAL;
	ret = t->ops->sync(t->priv, index, bitmap);
	return ret < 0 ? ret : 0;
}

VMMIG_API int vmmig_tracker_clear(struct vmmig_tracker *t, unsigned index,
				  const uint64_t *bitmap)
{
	int ret;

	if (!t || !t->started || index >= t->nr || !bitmap)
		return -EINVAL;
	if (!t->ops->clear)
		return 0;
	ret = t->ops->clear(t->priv, index, bitmap);
	return ret < 0 ? ret : 0;
}

VMMIG_API void vmmig_tracker_stop(struct vmmig_tracker *t)
{
	if (!t || !t->started)
		return;
	t->ops->stop(t->priv);
	t->started = 0;
	t->nr = 0;
}
