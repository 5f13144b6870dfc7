/* SPDX-License-Identifier: MIT */
/*
 * Private: the generic tracker object, and the ops tables of the built-ins so
 * that their extra calls (vmmig_tracker_manual_mark(), ...) can recognise a
 * tracker of their own kind.
 */
#ifndef VMMIG_TRACKER_IMPL_H
#define VMMIG_TRACKER_IMPL_H

#include <vmmig/tracker.h>

struct vmmig_tracker {
	const struct vmmig_tracker_ops *ops; /* backend methods, borrowed */
	void *priv;      /* ops->priv_size zeroed bytes, allocated with us */
	int started;     /* between a successful start() and stop() */
	unsigned nr;     /* number of regions given to start() */
};

extern const struct vmmig_tracker_ops tracker_manual_ops;
extern const struct vmmig_tracker_ops tracker_uffd_wp_ops;
extern const struct vmmig_tracker_ops tracker_soft_dirty_ops;

/* The private state of @t if it was built from @ops, else NULL. */
static inline void *tracker_priv_if(const struct vmmig_tracker *t,
				    const struct vmmig_tracker_ops *ops)
{
	return t && t->ops == ops ? t->priv : NULL;
}

#endif /* VMMIG_TRACKER_IMPL_H */
