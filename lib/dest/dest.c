/* SPDX-License-Identifier: MIT */
/* The destination session's public API. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pagemap.h"
#include "dest_main.h"
#include "tls/tls.h"
#include "transport/fd.h"

VMMIG_API int vmmig_dest_new(struct vmmig_dest **out)
{
	struct vmmig_dest *dst;

	if (!out)
		return -EINVAL;
	dst = calloc(1, sizeof(*dst));
	if (!dst)
		return -ENOMEM;
	sess_init(&dst->sess);
	pthread_mutex_init(&dst->lock, NULL);
	pthread_cond_init(&dst->cond, NULL);
	pthread_mutex_init(&dst->rp_lock, NULL);
	pthread_mutex_init(&dst->chan_lock, NULL);
	*out = dst;
	return 0;
}

VMMIG_API void vmmig_dest_free(struct vmmig_dest *dst)
{
	if (!dst)
		return;
	if (dst->sess.started && !dst->sess.joined) {
		vmmig_dest_cancel(dst);
		sess_wait(&dst->sess);
	}
	chan_listener_close(&dst->lis);
	dst_pc_free(dst);
	dst_verify_free(dst);
	sess_state_sink_free(&dst->state);
	if (dst->wregions)
		pagemap_release();
	free(dst->wregions);
	sess_destroy(&dst->sess);
	pthread_mutex_destroy(&dst->lock);
	pthread_cond_destroy(&dst->cond);
	pthread_mutex_destroy(&dst->rp_lock);
	pthread_mutex_destroy(&dst->chan_lock);
	free(dst);
}

VMMIG_API int vmmig_dest_set_uuid(struct vmmig_dest *dst,
				  const uint8_t uuid[VMMIG_UUID_SIZE])
{
	if (!dst || !uuid)
		return -EINVAL;
	if (dst->sess.started)
		return -EBUSY;
	memcpy(dst->uuid, uuid, VMMIG_UUID_SIZE);
	dst->uuid_set = true;
	return 0;
}

VMMIG_API int vmmig_dest_get_uuid(const struct vmmig_dest *dst,
				  uint8_t uuid[VMMIG_UUID_SIZE])
{
	if (!dst || !uuid)
		return -EINVAL;
	if (!dst->uuid_set)
		return -ENOENT;
	memcpy(uuid, dst->uuid, VMMIG_UUID_SIZE);
	return 0;
}

VMMIG_API int vmmig_dest_add_region(struct vmmig_dest *dst, uint32_t id,
				    uint64_t gpa, void *host, uint64_t size)
{
	if (!dst)
		return -EINVAL;
	return sess_add_region(&dst->sess, id, gpa, host, size);
}

VMMIG_API int vmmig_dest_set_ops(struct vmmig_dest *dst,
				 const struct vmmig_dest_ops *ops, void *opaque)
{
	if (!dst || !ops || ops->version != VMMIG_DEST_OPS_VERSION ||
	    !ops->start)
		return -EINVAL;
	if (dst->sess.started)
		return -EBUSY;
	dst->ops = ops;
	dst->opaque = opaque;
	return 0;
}

VMMIG_API int vmmig_dest_set_option(struct vmmig_dest *dst, int opt,
				    int64_t value)
{
	if (!dst)
		return -EINVAL;
	if (dst->sess.started)
		return -EBUSY;
	return sess_set_option(&dst->sess, VMMIG_SIDE_DEST, opt, value);
}

VMMIG_API int vmmig_dest_set_page_source(struct vmmig_dest *dst,
					 struct vmmig_page_source *ps)
{
	if (!dst || !ps)
		return -EINVAL;
	if (dst->sess.started)
		return -EBUSY;
	dst->page_source = ps;
	return 0;
}

VMMIG_API int vmmig_dest_set_log(struct vmmig_dest *dst, vmmig_log_fn fn,
				 void *opaque, int max_level)
{
	if (!dst)
		return -EINVAL;
	sess_set_log(&dst->sess, fn, opaque, max_level);
	return 0;
}

VMMIG_API int vmmig_dest_listen(struct vmmig_dest *dst, const char *uri,
				char *bound, size_t bound_len)
{
	const struct vmmig_transport_ops *t;
	const char *addr;
	char tmp[256];
	int ret;

	if (!dst || !uri)
		return -EINVAL;
	ret = vmmig_transport_parse_uri(uri, &t, &addr);
	if (ret)
		return ret;
	ret = vmmig_dest_listen_transport(dst, t, addr, tmp, sizeof(tmp));
	if (ret || !bound)
		return ret;
	/* Give the bound address back in uri form. */
	ret = snprintf(bound, bound_len, "%.*s:%s", (int)(addr - uri - 1), uri,
		       tmp);
	return ret < 0 || (size_t)ret >= bound_len ? -ENOSPC : 0;
}

VMMIG_API int vmmig_dest_listen_transport(struct vmmig_dest *dst,
					  const struct vmmig_transport_ops *t,
					  const char *addr, char *bound,
					  size_t bound_len)
{
	int ret;

	if (!dst || !addr)
		return -EINVAL;
	if (dst->lis.open || dst->sess.started)
		return -EBUSY;
	ret = chan_listener_open(&dst->lis, t, addr);
	if (!ret && bound)
		ret = chan_listener_addr(&dst->lis, addr, bound, bound_len);
	return ret;
}

VMMIG_API int vmmig_dest_start(struct vmmig_dest *dst)
{
	int ret;

	if (!dst)
		return -EINVAL;
	if (dst->sess.started)
		return -EBUSY;
	if (!dst->lis.open || !dst->ops || !dst->sess.regions.n)
		return -EINVAL;
	/* pagemap's fd stays open until vmmig_dest_free() (once, whatever
	 * the attempts to start). */
	if (!dst->wregions)
		pagemap_hold();
	free(dst->wregions);
	dst->wregions = calloc(dst->sess.regions.n, sizeof(*dst->wregions));
	if (!dst->wregions) {
		pagemap_release();
		return -ENOMEM;
	}
	for (unsigned i = 0; i < dst->sess.regions.n; i++)
		dst->wregions[i] = (struct wire_dest_region){
			.id = dst->sess.regions.r[i].id,
			.npages = dst->sess.regions.r[i].npages };
	/* vmmig_dest_get_stats() may run on another thread already. */
	pthread_mutex_lock(&dst->sess.stats_lock);
	dst->sess.st.mode = VMMIG_MODE_PRECOPY;
	dst->sess.st.guest_bytes = dst->sess.regions.total_bytes;
	pthread_mutex_unlock(&dst->sess.stats_lock);
	ret = dst_restore_init(dst);
	if (ret) {
		dst_restore_free(dst);
		return ret;
	}
	return sess_start(&dst->sess, dst_main, dst);
}

VMMIG_API int vmmig_dest_start_fds(struct vmmig_dest *dst, const int *fds,
				   unsigned nfds)
{
	char addr[FDS_ADDR_MAX], why[sizeof(dst->sess.fail.cfg)];
	int ret;

	if (!dst)
		return -EINVAL;
	if (dst->lis.open || dst->sess.started)
		return -EBUSY;
	ret = fds_to_addr(fds, nfds, addr, sizeof(addr), &dst->sess.log, why,
			  sizeof(why));
	failure_set_config(&dst->sess.fail, why);
	if (ret)
		return ret;
	if (!dst->ops || !dst->sess.regions.n)
		return -EINVAL;
	ret = vmmig_dest_listen_transport(dst, fd_transport(), addr, NULL, 0);
	if (ret)
		return ret;
	ret = vmmig_dest_start(dst);
	if (ret) {
		/* Back to a session that never listened; the fds stay the
		 * caller's. */
		fd_pool_disown(dst->lis.priv);
		chan_listener_close(&dst->lis);
	}
	return ret;
}

VMMIG_API int vmmig_dest_wait(struct vmmig_dest *dst)
{
	return dst ? sess_wait(&dst->sess) : -EINVAL;
}

/* Tell the source it was this cancel that stopped the migration (not when
 * the migration had failed already, nor to echo the source's ERROR), best
 * effort: not while a page request holds the return path. */
static void dest_tell_cancel(struct vmmig_dest *dst)
{
	pthread_mutex_lock(&dst->sess.fail.lock);
	bool ours = dst->sess.fail.code == -ECANCELED &&
		!dst->sess.fail.from_peer;
	pthread_mutex_unlock(&dst->sess.fail.lock);
	if (!ours || pthread_mutex_trylock(&dst->rp_lock))
		return;
	/* Channel 0 may be finishing a DRAINED or a REQ: wait a little. */
	if (dst->err_chan)
		chan_send_error(dst->err_chan, &dst->sess.fail, "destination",
				100);
	pthread_mutex_unlock(&dst->rp_lock);
}

VMMIG_API int vmmig_dest_owner(struct vmmig_dest *dst)
{
	return dst ? atomic_load(&dst->owner) : -EINVAL;
}

VMMIG_API int vmmig_dest_cancel(struct vmmig_dest *dst)
{
	if (!dst || !dst->sess.started)
		return -EINVAL;
	atomic_store(&dst->cancelled, true); /* before the abort: recover() */
	dst_fail(dst, -ECANCELED, "cancelled by the embedder");
	dest_tell_cancel(dst);
	dst_abort_io(dst);
	return 0;
}

VMMIG_API int vmmig_dest_get_stats(struct vmmig_dest *dst,
				   struct vmmig_stats *st)
{
	struct vmmig_stats full;

	if (!dst || !st)
		return -EINVAL;
	sess_stats(&dst->sess, &full);
	full.owner = atomic_load(&dst->owner);
	/* Under the stats lock: the session thread frees its restore state
	 * (dst->rs) under it when the migration ends. */
	pthread_mutex_lock(&dst->sess.stats_lock);
	if (status_live(full.status))
		dst_restore_fill_stats(dst, &full);
	pthread_mutex_unlock(&dst->sess.stats_lock);
	if (status_live(full.status)) {
		full.total_time_us = clock_now_us() - dst->sess.t_start;
		full.transferred_bytes = dst_rx_bytes(dst);
	}
	return sess_stats_copy_out(&full, st);
}

VMMIG_API int vmmig_dest_set_tls(struct vmmig_dest *dst,
				 const struct vmmig_tls_config *cfg)
{
	return dst ? sess_set_tls(&dst->sess, cfg, true) : -EINVAL;
}

VMMIG_API const char *vmmig_dest_error(struct vmmig_dest *dst)
{
	if (!dst)
		return NULL;
	return sess_error(&dst->sess);
}
