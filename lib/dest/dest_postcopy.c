/* SPDX-License-Identifier: MIT */
/*
 * Post-copy on the destination. At the switch every channel lines up at
 * SWITCH (so no pre-copy page can land after it), channel 0 receives the
 * DISCARD bitmaps of pages still to come, then POSTCOPY: guest memory is
 * registered with userfaultfd (MISSING), the pending pages are dropped so
 * they fault, the state is loaded, READY goes back and on COMMIT the guest
 * starts (dest_switch.c). From
 * then on a fault thread asks the source for each page a vCPU touches, and
 * every arriving page is placed atomically with UFFDIO_COPY / ZEROPAGE,
 * which also wakes the vCPUs waiting for it.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dest_feat.h"
#include "base/uffd.h"

/* A receiver reached SWITCH: every channel must, before post-copy goes on. */
int dst_pc_switch(struct receiver *rv)
{
	struct vmmig_dest *dst = rv->dst;
	bool main = rv->c->index == 0;
	int ret;

	pthread_mutex_lock(&dst->lock);
	dst->switched++;
	pthread_cond_broadcast(&dst->cond);
	/* Channel 0 carries the switch itself once all have lined up; the
	 * others wait until the guest runs here and pages must be placed. */
	while (!failure_code(&dst->sess.fail) &&
	       (main ? dst->switched < dst->nchan : !dst->pc_armed))
		pthread_cond_wait(&dst->cond, &dst->lock);
	pthread_mutex_unlock(&dst->lock);
	ret = failure_code(&dst->sess.fail);
	if (ret)
		return ret;
	if (!main)
		rv->placing = true;
	return 0;
}

int dst_pc_discard(struct vmmig_dest *dst, const uint8_t *payload, size_t len,
		   bool early)
{
	char err[WIRE_ERRLEN];
	struct wire_discard d;
	unsigned ri;
	int ret;

	ret = wire_discard_unpack(payload, len, &d, err, sizeof(err));
	if (ret) {
		dst_fail(dst, ret, "%s", err);
		return ret;
	}
	ri = regions_index(&dst->sess.regions, d.region_id);
	if (ri == dst->sess.regions.n) {
		dst_fail(dst, -EPROTO, "DISCARD for unknown region %u",
			 d.region_id);
		return -EPROTO;
	}
	ret = wire_discard_check(&d, dst->sess.regions.r[ri].npages, err,
				 sizeof(err));
	if (ret) {
		dst_fail(dst, ret, "%s", err);
		return ret;
	}
	if (!dst->pc && (ret = dst_pc_alloc(dst))) {
		dst_fail(dst, ret, "post-copy setup: %s", vmmig_strerror(ret));
		return ret;
	}
	/* At the switch: the whole set still to come; before it: more to
	 * drop at the next DRAIN barrier. */
	wire_discard_apply(&d, dst->pc->r[ri].pending, !early);
	return 0;
}

/* Pages missing here at the switch: pending ones. A page dropped early
 * must still be pending, or nobody would ever send it. */
static int count_missing(struct vmmig_dest *dst, unsigned ri)
{
	const struct pc_region *pr = &dst->pc->r[ri];
	uint64_t missing = 0;

	for (uint64_t w = 0; w < region_words(&dst->sess.regions.r[ri]); w++) {
		if (pr->dropped[w] & ~pr->pending[w]) {
			dst_fail(dst, -EPROTO, "a page dropped before the "
				 "switch is not pending at the switch");
			return -EPROTO;
		}
		missing += (uint64_t)__builtin_popcountll(pr->pending[w]);
	}
	atomic_fetch_add(&dst->pc->missing, missing);
	return 0;
}

static int arm_uffd(struct vmmig_dest *dst)
{
	struct postcopy_dst *pc = dst->pc;
	uint64_t have;
	int ret;

	pc->uffd = uffd_open();
	if (pc->uffd < 0)
		return pc->uffd;
	ret = uffd_api(pc->uffd, UFFD_FEATURE_MISSING_SHMEM, &have);
	if (ret)
		return ret;
	for (unsigned i = 0; i < dst->sess.regions.n; i++) {
		const struct region *r = &dst->sess.regions.r[i];
		struct uffdio_register reg = {
			.range = { (uintptr_t)r->host, r->size },
			.mode = UFFDIO_REGISTER_MODE_MISSING };

		if (ioctl(pc->uffd, UFFDIO_REGISTER, &reg) < 0)
			return -errno;
		if (!(reg.ioctls & (1ull << _UFFDIO_COPY)))
			return -ENOTSUP;
		ret = count_missing(dst, i);
		if (!ret)
			ret = dst_pc_drop_pending(dst, i);
		if (ret)
			return ret;
	}
	pc->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return pc->evfd < 0 ? -errno : 0;
}

/* POSTCOPY on channel 0: arm, load state, READY; on COMMIT start the guest
 * here. */
int dst_pc_start(struct receiver *rv, const uint8_t *payload, size_t len)
{
	struct vmmig_dest *dst = rv->dst;
	struct postcopy_dst *pc;
	char err[WIRE_ERRLEN];
	uint32_t flags;
	int ret;

	ret = wire_postcopy_unpack(payload, len, &flags, err, sizeof(err));
	if (ret) {
		dst_fail(dst, ret, "%s", err);
		return ret;
	}
	if ((flags & WIRE_POSTCOPY_VERIFY) && !dst->vhash) {
		dst_fail(dst, -EPROTO, "POSTCOPY asks for verification the "
			 "handshake did not announce");
		return -EPROTO;
	}
	dst_populate_stop(dst);
	dst_verify_drain(dst); /* before pages are dropped and the guest runs */
	if (!dst->pc)
		ret = dst_pc_alloc(dst);
	if (!ret)
		ret = arm_uffd(dst);
	if (ret) {
		dst_fail(dst, ret, "post-copy: userfaultfd: %s",
			 vmmig_strerror(ret));
		return ret;
	}
	pc = dst->pc;
	for (unsigned i = 0; i < dst->state.n && dst->ops->load_state; i++) {
		const struct state_blob *b = &dst->state.b[i];

		ret = dst->ops->load_state(dst->opaque, b->id, b->data, b->len);
		if (ret) {
			dst_fail(dst, ret, "loading state blob %u: %s", b->id,
				 vmmig_strerror(ret));
			return ret;
		}
	}
	pthread_mutex_lock(&dst->rp_lock);
	dst->rp_chan = rv->c;
	pthread_mutex_unlock(&dst->rp_lock);
	ret = -pthread_create(&pc->fault_thread, NULL, dst_pc_fault_main, dst);
	if (ret) {
		dst_fail(dst, ret, "post-copy: fault thread");
		return ret;
	}
	pc->thread_running = true;
	ret = dst_sw_ready_commit(dst, rv);
	if (ret)
		return ret;
	/* Already inside start() the guest runs here. Two pre-copy rounds
	 * or more before the switch make it a hybrid (see stats.h). */
	pthread_mutex_lock(&dst->sess.stats_lock);
	dst->sess.st.status = VMMIG_STATUS_POSTCOPY;
	dst->sess.st.mode =
		rv->rounds >= 2 ? VMMIG_MODE_HYBRID : VMMIG_MODE_POSTCOPY;
	pthread_mutex_unlock(&dst->sess.stats_lock);
	ret = dst_sw_start(dst, rv);
	if (ret)
		return ret;
	pc->t_armed = clock_now_us();
	pthread_mutex_lock(&dst->lock);
	dst->pc_armed = true;
	pthread_cond_broadcast(&dst->cond);
	pthread_mutex_unlock(&dst->lock);
	rv->placing = true;
	return 0;
}

int dst_pc_arm_reader(struct receiver *rv)
{
	rv->placing = true;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Every channel ended: all pages must be in place. */
int dst_pc_finish(struct vmmig_dest *dst, struct wire_done *done)
{
	struct postcopy_dst *pc = dst->pc;
	uint64_t missing = atomic_load(&pc->missing);

	if (missing) {
		dst_fail(dst, -EPROTO,
			 "post-copy ended with %llu pages never sent",
			 (unsigned long long)missing);
		return -EPROTO;
	}
	dst_pc_stop_fault_thread(pc);
	for (unsigned i = 0; i < dst->sess.regions.n; i++) {
		struct uffdio_range rng = {
			(uintptr_t)dst->sess.regions.r[i].host,
			dst->sess.regions.r[i].size };

		ioctl(pc->uffd, UFFDIO_UNREGISTER, &rng);
	}
	close(pc->uffd);
	pc->uffd = -1;
	if (pc->nlat)
		qsort(pc->lat_us, pc->nlat, sizeof(*pc->lat_us), cmp_u32);
	*done = (struct wire_done){
		.faults = atomic_load(&pc->faults),
		.fault_p50_us = pc->nlat ? pc->lat_us[pc->nlat / 2] : 0,
		.fault_p99_us = pc->nlat ? pc->lat_us[pc->nlat * 99 / 100] : 0,
		.placed = atomic_load(&pc->placed),
		.verified = UINT32_MAX,
	};
	pthread_mutex_lock(&dst->sess.stats_lock);
	dst->sess.st.postcopy_faults = done->faults;
	dst->sess.st.fault_latency_p50_us = done->fault_p50_us;
	dst->sess.st.fault_latency_p99_us = done->fault_p99_us;
	/* Nothing missing at the switch (an idle guest): no wait at all. */
	uint64_t t_last = atomic_load(&pc->t_last);

	dst->sess.st.postcopy_time_us =
		t_last > pc->t_armed ? t_last - pc->t_armed : 0;
	pthread_mutex_unlock(&dst->sess.stats_lock);
	return 0;
}

/*
 * After a failure the guest may be waiting for pages that will never come:
 * closing the userfaultfd would let it read zeros instead. The embedder must
 * not run it (vmmig_dest_wait() failed); freeing releases everything.
 */
void dst_pc_free(struct vmmig_dest *dst)
{
	struct postcopy_dst *pc = dst->pc;

	if (!pc)
		return;
	dst_pc_stop_fault_thread(pc);
	if (pc->uffd >= 0)
		close(pc->uffd);
	if (pc->evfd >= 0)
		close(pc->evfd);
	for (unsigned i = 0; pc->r && i < dst->sess.regions.n; i++) {
		free(pc->r[i].pending);
		free(pc->r[i].requested);
		free(pc->r[i].t_req);
		free(pc->r[i].dropped);
	}
	free(pc->r);
	free(pc->lat_us);
	pthread_mutex_destroy(&pc->lat_lock);
	free(pc);
	dst->pc = NULL;
}
