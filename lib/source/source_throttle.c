/* SPDX-License-Identifier: MIT */
/*
 * A policy's THROTTLE answer (auto-converge). Without a throttle() callback
 * nothing can slow the guest: the round is repeated unthrottled, and the
 * embedder is told (a warning in the log, a note in stats.path_reason)
 * instead of the answer vanishing. A policy cannot be checked for this
 * beforehand: whether it ever answers THROTTLE depends on the rounds.
 */
#include <stdio.h>
#include <string.h>

#include "source_feat.h"

void src_throttle(struct vmmig_source *src, const struct vmmig_decision *d)
{
	if (src->ops->throttle) {
		src->ops->throttle(src->opaque, d->throttle_percent);
		pthread_mutex_lock(&src->sess.stats_lock);
		src->sess.st.throttle_percent = d->throttle_percent;
		pthread_mutex_unlock(&src->sess.stats_lock);
		return;
	}
	if (!src->throttle_warned)
		log_msg(&src->sess.log, VMMIG_LOG_WARN,
			"policy %s asked to throttle the guest to %u%%, but "
			"the source ops have no throttle() callback: "
			"not applied",
			vmmig_policy_name(src->policy), d->throttle_percent);
	src->throttle_warned = true;
	pthread_mutex_lock(&src->sess.stats_lock);
	snprintf(src->sess.st.path_reason, sizeof(src->sess.st.path_reason),
		 "%.50s (not applied: no throttle callback)", d->reason);
	pthread_mutex_unlock(&src->sess.stats_lock);
}
