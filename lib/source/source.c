/* SPDX-License-Identifier: MIT */
/* The source session's public API: configuration, start, wait, cancel. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "source_main.h"
#include "tls/tls.h"
#include "transport/fd.h"
#include "transport/ratelimit.h"

VMMIG_API int vmmig_source_new(struct vmmig_source **out)
{
	struct vmmig_source *src;

	if (!out)
		return -EINVAL;
	src = calloc(1, sizeof(*src));
	if (!src)
		return -ENOMEM;
	uuid_generate(src->uuid);
	sess_init(&src->sess);
	pthread_mutex_init(&src->lock, NULL);
	pthread_mutex_init(&src->chan_lock, NULL);
	pthread_cond_init(&src->cond, NULL);
	pthread_rwlock_init(&src->hints_lock, NULL);
	sess_history_init(&src->hist);
	src->on_record = src_rp_on_record;
	*out = src;
	return 0;
}

VMMIG_API void vmmig_source_free(struct vmmig_source *src)
{
	if (!src)
		return;
	if (src->sess.started && !src->sess.joined) {
		vmmig_source_cancel(src);
		sess_wait(&src->sess);
	}
	vmmig_tracker_free(src->own_tracker);
	vmmig_policy_free(src->own_policy);
	if (src->rl) {
		ratelimit_destroy(src->rl);
		free(src->rl);
	}
	src_hints_free(src);
	pthread_rwlock_destroy(&src->hints_lock);
	free(src->addr);
	for (unsigned i = 0; i < src->nfds; i++)
		if (src->fds[i] >= 0)
			close(src->fds[i]); /* never reached a channel */
	sess_destroy(&src->sess);
	pthread_mutex_destroy(&src->lock);
	pthread_mutex_destroy(&src->chan_lock);
	pthread_cond_destroy(&src->cond);
	sess_history_destroy(&src->hist);
	free(src);
}

VMMIG_API int vmmig_source_set_uuid(struct vmmig_source *src,
				    const uint8_t uuid[VMMIG_UUID_SIZE])
{
	if (!src || !uuid)
		return -EINVAL;
	if (src->sess.started)
		return -EBUSY;
	memcpy(src->uuid, uuid, VMMIG_UUID_SIZE);
	return 0;
}

VMMIG_API void vmmig_source_get_uuid(const struct vmmig_source *src,
				     uint8_t uuid[VMMIG_UUID_SIZE])
{
	if (src && uuid)
		memcpy(uuid, src->uuid, VMMIG_UUID_SIZE);
}

VMMIG_API int vmmig_source_add_region(struct vmmig_source *src, uint32_t id,
				      uint64_t gpa, void *host, uint64_t size)
{
	if (!src)
		return -EINVAL;
	return sess_add_region(&src->sess, id, gpa, host, size);
}

VMMIG_API int vmmig_source_set_ops(struct vmmig_source *src,
				   const struct vmmig_source_ops *ops,
				   void *opaque)
{
	if (!src || !ops || ops->version != VMMIG_SOURCE_OPS_VERSION ||
	    !ops->pause)
		return -EINVAL;
	if (src->sess.started)
		return -EBUSY;
	src->ops = ops;
	src->opaque = opaque;
	return 0;
}

VMMIG_API int vmmig_source_set_tracker(struct vmmig_source *src,
				       struct vmmig_tracker *t)
{
	if (!src || !t)
		return -EINVAL;
	if (src->sess.started)
		return -EBUSY;
	src->tracker = t;
	return 0;
}

VMMIG_API int vmmig_source_set_policy(struct vmmig_source *src,
				      struct vmmig_policy *p)
{
	if (!src || !p)
		return -EINVAL;
	if (src->sess.started)
		return -EBUSY;
	src->policy = p;
	return 0;
}

VMMIG_API int vmmig_source_set_option(struct vmmig_source *src, int opt,
				      int64_t value)
{
	if (!src)
		return -EINVAL;
	/* The bandwidth cap may change while running (like QEMU's
	 * max-bandwidth); everything else is fixed at start. */
	if (src->sess.started && opt != VMMIG_OPT_BANDWIDTH_LIMIT)
		return -EBUSY;
	int ret = sess_set_option(&src->sess, VMMIG_SIDE_SOURCE, opt, value);
	if (!ret && src->rl && opt == VMMIG_OPT_BANDWIDTH_LIMIT)
		ratelimit_set(src->rl, (uint64_t)value);
	return ret;
}

VMMIG_API int vmmig_source_get_option(const struct vmmig_source *src, int opt,
				      int64_t *value)
{
	if (!src || !value || opt < 0 || opt >= VMMIG_OPT__COUNT)
		return -EINVAL;
	*value = src->sess.opt.v[opt];
	return 0;
}

VMMIG_API int vmmig_source_set_log(struct vmmig_source *src, vmmig_log_fn fn,
				   void *opaque, int max_level)
{
	if (!src)
		return -EINVAL;
	sess_set_log(&src->sess, fn, opaque, max_level);
	return 0;
}

VMMIG_API int vmmig_source_start(struct vmmig_source *src, const char *uri)
{
	const struct vmmig_transport_ops *t;
	const char *addr;
	int ret;

	if (!src || !uri)
		return -EINVAL;
	ret = vmmig_transport_parse_uri(uri, &t, &addr);
	if (ret)
		return ret;
	return vmmig_source_start_transport(src, t, addr);
}

/* The mode the stats report, from the built-in policy's name; any other
 * policy is an embedder's (its name goes to st.policy). */
static int mode_of(const struct vmmig_policy *p)
{
	static const struct {
		const char *name;
		int mode;
	} modes[] = { { "precopy", VMMIG_MODE_PRECOPY },
		      { "postcopy", VMMIG_MODE_POSTCOPY },
		      { "hybrid", VMMIG_MODE_HYBRID },
		      { "adaptive", VMMIG_MODE_ADAPTIVE } };

	for (size_t i = 0; i < ARRAY_SIZE(modes); i++)
		if (!strcmp(vmmig_policy_name(p), modes[i].name))
			return modes[i].mode;
	return VMMIG_MODE_CUSTOM;
}

VMMIG_API int vmmig_source_start_transport(struct vmmig_source *src,
					   const struct vmmig_transport_ops *t,
					   const char *addr)
{
	int ret;

	if (!src || !addr || chan_ops_check(t, TRANSPORT_CONNECTS))
		return -EINVAL;
	if (src->sess.started)
		return -EBUSY;
	if (!src->ops || !src->sess.regions.n)
		return -EINVAL;
	if (!src->tracker) {
		/* Nothing will ever be marked: only right for a guest that
		 * does not run during the migration. */
		ret = vmmig_tracker_new_manual(&src->own_tracker);
		if (ret)
			return ret;
		src->tracker = src->own_tracker;
	}
	if (!src->policy) {
		ret = vmmig_policy_new_precopy(NULL, &src->own_policy);
		if (ret)
			return ret;
		src->policy = src->own_policy;
	}
	src->addr = strdup(addr);
	if (!src->addr)
		return -ENOMEM;
	if (!src->rl) {
		src->rl = calloc(1, sizeof(*src->rl));
		if (!src->rl)
			return -ENOMEM;
		ret = ratelimit_init(src->rl, (uint64_t)src->sess.opt
					     .v[VMMIG_OPT_BANDWIDTH_LIMIT]);
		if (ret)
			return ret;
	}
	src->sess.sh.rl = src->rl;
	src->tops = t;
	src->ndata = (unsigned)src->sess.opt.v[VMMIG_OPT_CHANNELS];
	src->nchan = src->ndata + 1;
	src->sess.t_start = clock_now_us();
	src->hist.t0 = src->sess.t_start;
	/* vmmig_source_get_stats() may run on another thread already: a
	 * live status it reads under this lock orders it after the fields
	 * above (t_start, nchan). */
	pthread_mutex_lock(&src->sess.stats_lock);
	src->sess.st.status = VMMIG_STATUS_SETUP;
	src->sess.st.mode = mode_of(src->policy);
	snprintf(src->sess.st.policy, sizeof(src->sess.st.policy), "%s",
		 vmmig_policy_name(src->policy));
	src->sess.st.channels = src->ndata;
	src->sess.st.guest_bytes = src->sess.regions.total_bytes;
	pthread_mutex_unlock(&src->sess.stats_lock);
	atomic_store(&src->sess.sh.last_progress_us, src->sess.t_start);
	return sess_start(&src->sess, src_main, src);
}

VMMIG_API int vmmig_source_start_fds(struct vmmig_source *src,
				     const int *fds, unsigned nfds)
{
	char addr[FDS_ADDR_MAX], why[sizeof(src->sess.fail.cfg)];
	int ret;

	if (!src)
		return -EINVAL;
	if (src->sess.started)
		return -EBUSY;
	ret = fds_to_addr(fds, nfds, addr, sizeof(addr), &src->sess.log, why,
			  sizeof(why));
	failure_set_config(&src->sess.fail, why);
	if (ret)
		return ret;
	memcpy(src->fds, fds, nfds * sizeof(*fds));
	src->nfds = nfds;
	src->sess.opt.v[VMMIG_OPT_CHANNELS] = nfds - 1;
	ret = vmmig_source_start_transport(src, fd_transport(), addr);
	if (ret)
		src->nfds = 0; /* still the caller's */
	return ret;
}

VMMIG_API int vmmig_source_wait(struct vmmig_source *src)
{
	return src ? sess_wait(&src->sess) : -EINVAL;
}

VMMIG_API int vmmig_source_owner(struct vmmig_source *src)
{
	return src ? src_owner(src) : -EINVAL;
}

VMMIG_API int vmmig_source_cancel(struct vmmig_source *src)
{
	if (!src || !src->sess.started)
		return -EINVAL;
	/* Once COMMIT is out the destination may already run the guest;
	 * cancelling then could leave it running twice. Decided under the
	 * lock that orders it against COMMIT. */
	pthread_mutex_lock(&src->lock);
	bool too_late = src->committed;
	bool first = !too_late && failure_set(&src->sess.fail, -ECANCELED,
					      "cancelled by the embedder");
	pthread_mutex_unlock(&src->lock);
	if (too_late)
		return -EBUSY;
	/* Recorded above, so src_fail() would see an echo: tell the
	 * destination why here (no COMMIT can follow a recorded failure). */
	if (first)
		src_tell_peer(src);
	src_abort_io(src);
	return 0;
}

VMMIG_API int vmmig_source_get_stats(struct vmmig_source *src,
				     struct vmmig_stats *st)
{
	struct vmmig_stats full;
	int ret;

	if (!src || !st)
		return -EINVAL;
	sess_stats(&src->sess, &full);
	if (status_live(full.status)) {
		uint64_t now = clock_now_us();

		full.total_time_us = now - src->sess.t_start;
		full.transferred_bytes = src_tx_bytes(src);
		src_pass_live(src, &full, now);
	} else {
		src_pass_live(src, &full, 0);
	}
	full.owner = src_owner(src);
	ret = sess_stats_copy_out(&full, st);
	return ret;
}

VMMIG_API int vmmig_source_set_tls(struct vmmig_source *src,
				   const struct vmmig_tls_config *cfg)
{
	return src ? sess_set_tls(&src->sess, cfg, false) : -EINVAL;
}

VMMIG_API const char *vmmig_source_error(struct vmmig_source *src)
{
	if (!src)
		return NULL;
	return sess_error(&src->sess);
}
