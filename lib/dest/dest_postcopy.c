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

#include "dest.h"
#include "tracker/uffd_compat.h"
#include "tracker/uffd_open.h"


static int pc_alloc(struct vmmig_dest *dst)
{
	struct postcopy_dst *pc = calloc(1, sizeof(*pc));

	if (!pc)
		return -ENOMEM;
	pc->uffd = pc->evfd = -1;
	pthread_mutex_init(&pc->lat_lock, NULL);
	dst->pc = pc;
	pc->r = calloc(dst->regions.n, sizeof(*pc->r));
	if (!pc->r)
		return -ENOMEM;
	for (unsigned i = 0; i < dst->regions.n; i++) {
		uint64_t np = dst->regions.r[i].npages;

		pc->r[i].pending = calloc((np + 63) / 64, 8);
		pc->r[i].dropped = calloc((np + 63) / 64, 8);
		pc->r[i].requested = calloc((np + 63) / 64, 8);
		pc->r[i].t_req = calloc(np, sizeof(uint64_t));
		if (!pc->r[i].pending || !pc->r[i].dropped ||
		    !pc->r[i].requested || !pc->r[i].t_req)
			return -ENOMEM;
	}
	return 0;
}

/* A receiver reached SWITCH: every channel must, before post-copy goes on. */
int dpc_switch(struct receiver *rv)
{
	struct vmmig_dest *dst = rv->dst;
	bool main = rv->c->index == 0;
	int ret;

	pthread_mutex_lock(&dst->lock);
	dst->switched++;
	pthread_cond_broadcast(&dst->cond);
	/* Channel 0 carries the switch itself once all have lined up; the
	 * others wait until the guest runs here and pages must be placed. */
	while (!failure_code(&dst->fail) &&
	       (main ? dst->switched < dst->nchan : !dst->pc_armed))
		pthread_cond_wait(&dst->cond, &dst->lock);
	pthread_mutex_unlock(&dst->lock);
	ret = failure_code(&dst->fail);
	if (ret)
		return ret;
	if (!main)
		rv->placing = true;
	return 0;
}

int dpc_discard(struct vmmig_dest *dst, const uint8_t *payload, size_t len,
		bool early)
{
	char err[WIRE_ERRLEN];
	struct wire_discard d;
	unsigned ri;
	int ret;

	ret = wire_discard_unpack(payload, len, &d, err, sizeof(err));
	if (ret) {
		dest_fail(dst, ret, "%s", err);
		return ret;
	}
	ri = regions_index(&dst->regions, d.region_id);
	if (ri == dst->regions.n) {
		dest_fail(dst, -EPROTO, "DISCARD for unknown region %u",
			  d.region_id);
		return -EPROTO;
	}
	ret = wire_discard_check(&d, dst->regions.r[ri].npages, err,
				 sizeof(err));
	if (ret) {
		dest_fail(dst, ret, "%s", err);
		return ret;
	}
	if (!dst->pc && (ret = pc_alloc(dst))) {
		dest_fail(dst, ret, "post-copy setup: %s", vmmig_strerror(ret));
		return ret;
	}
	/* At the switch: the whole set still to come; before it: more to
	 * drop at the next DRAIN barrier. */
	wire_discard_apply(&d, dst->pc->r[ri].pending, !early);
	return 0;
}

static void record_latency(struct postcopy_dst *pc, uint64_t lat)
{
	pthread_mutex_lock(&pc->lat_lock);
	if (pc->nlat == pc->lat_cap) {
		size_t cap = pc->lat_cap ? pc->lat_cap * 2 : 1024;
		uint32_t *n = realloc(pc->lat_us, cap * sizeof(*n));

		if (n) {
			pc->lat_us = n;
			pc->lat_cap = cap;
		}
	}
	if (pc->nlat < pc->lat_cap)
		pc->lat_us[pc->nlat++] = lat > UINT32_MAX ? UINT32_MAX
							  : (uint32_t)lat;
	pthread_mutex_unlock(&pc->lat_lock);
}

/* Install one page that arrived after the switch. */
int dpc_place(struct vmmig_dest *dst, unsigned ri, uint64_t page,
	      const void *data)
{
	struct postcopy_dst *pc = dst->pc;
	struct pc_region *pr = &pc->r[ri];
	const struct region *r = &dst->regions.r[ri];
	uint64_t addr = (uint64_t)(uintptr_t)(r->host + page * VMMIG_PAGE_SIZE);
	int ret;

	if (!pc_test_bit(pr->pending, page))
		return -EPROTO; /* valid here already: never overwrite it */
	do {
		if (data) {
			struct uffdio_copy c = { .dst = addr,
						 .src = (uintptr_t)data,
						 .len = VMMIG_PAGE_SIZE };
			ret = ioctl(pc->uffd, UFFDIO_COPY, &c);
		} else {
			struct uffdio_zeropage z = {
				.range = { addr, VMMIG_PAGE_SIZE } };
			ret = ioctl(pc->uffd, UFFDIO_ZEROPAGE, &z);
		}
	} while (ret < 0 && errno == EAGAIN);
	/* EEXIST: a pending page is mapped already, which nothing of ours
	 * does (pending pages were dropped at the switch and only placing
	 * clears the bit): its contents are not what the source sent, and
	 * the memory hash would not see it. Fail rather than guess. */
	if (ret < 0)
		return -errno;
	dverify_page(dst, ri, page, data);
	dpc_placed(dst, ri, page, 1);
	return 0;
}

void dpc_placed(struct vmmig_dest *dst, unsigned ri, uint64_t first,
		uint64_t n)
{
	struct postcopy_dst *pc = dst->pc;
	struct pc_region *pr = &pc->r[ri];
	uint64_t t = now_us();

	for (uint64_t p = first; p < first + n;) {
		uint64_t off = p % 64, k = 64 - off < first + n - p
						   ? 64 - off : first + n - p;
		uint64_t mask = (k == 64 ? ~0ull : (1ull << k) - 1) << off;
		uint64_t req;

		__atomic_fetch_and(&pr->pending[p / 64], ~mask,
				   __ATOMIC_RELEASE);
		req = __atomic_load_n(&pr->requested[p / 64],
				      __ATOMIC_ACQUIRE) & mask;
		for (; req; req &= req - 1)
			record_latency(pc, t - pr->t_req[p - off +
				(uint64_t)__builtin_ctzll(req)]);
		p += k;
	}
	atomic_fetch_add(&pc->placed, n);
	if (atomic_fetch_sub(&pc->missing, n) == n) {
		atomic_store(&pc->t_last, t);
		/* The last one: the coordinator may be waiting for it. */
		pthread_mutex_lock(&dst->lock);
		pthread_cond_broadcast(&dst->cond);
		pthread_mutex_unlock(&dst->lock);
	}
}

bool dpc_pending(struct vmmig_dest *dst, unsigned ri, uint64_t page)
{
	return dst->pc && pc_test_bit(dst->pc->r[ri].pending, page);
}

/* Drop the pending pages not dropped yet, so that touching them faults. */
static int drop_pending(struct vmmig_dest *dst, unsigned ri)
{
	const struct region *r = &dst->regions.r[ri];
	struct pc_region *pr = &dst->pc->r[ri];
	uint64_t p = 0;

	while (p < r->npages) {
		uint64_t q;

		if (!((pr->pending[p / 64] & ~pr->dropped[p / 64]) >>
		      (p % 64) & 1)) {
			p++;
			continue;
		}
		for (q = p + 1; q < r->npages &&
		     ((pr->pending[q / 64] & ~pr->dropped[q / 64]) >> (q % 64) & 1);
		     q++)
			;
		uint8_t *a = r->host + p * VMMIG_PAGE_SIZE;
		size_t len = (q - p) * VMMIG_PAGE_SIZE;

		/* Shared memory keeps pages in its file: punch them out;
		 * private anonymous memory just drops. */
		if (madvise(a, len, MADV_REMOVE) && madvise(a, len, MADV_DONTNEED))
			return -errno;
		p = q;
	}
	for (uint64_t w = 0; w < (r->npages + 63) / 64; w++)
		pr->dropped[w] |= pr->pending[w];
	return 0;
}

/* The DRAIN barrier on channel 0: everything sent before DRAIN has landed
 * and nothing more comes before the switch, so pages named by an early
 * DISCARD can go now, while the guest still runs on the source. */
int dpc_drop_early(struct vmmig_dest *dst)
{
	int ret = 0;

	if (!dst->pc || dst->pc_armed)
		return 0;
	/* The populate thread must not map them again, nor the hasher read
	 * them. */
	populate_stop(dst);
	dverify_drain(dst);
	for (unsigned i = 0; i < dst->regions.n && !ret; i++)
		ret = drop_pending(dst, i);
	if (ret)
		dest_fail(dst, ret, "dropping discarded pages: %s",
			  vmmig_strerror(ret));
	else
		atomic_store(&dst->early_dropped, true);
	return ret;
}

bool dpc_dropped_early(struct vmmig_dest *dst, unsigned ri, uint64_t page)
{
	/* early_dropped is set after the bitmaps are complete; they do not
	 * change again until the switch. */
	if (!atomic_load(&dst->early_dropped) ||
	    atomic_load(&dst->pc_armed))
		return false;
	return __atomic_load_n(&dst->pc->r[ri].dropped[page / 64],
			       __ATOMIC_RELAXED) >> (page % 64) & 1;
}

/* Pages missing here at the switch: pending ones. A page dropped early
 * must still be pending, or nobody would ever send it. */
static int count_missing(struct vmmig_dest *dst, unsigned ri)
{
	const struct pc_region *pr = &dst->pc->r[ri];
	uint64_t missing = 0;

	for (uint64_t w = 0; w < (dst->regions.r[ri].npages + 63) / 64; w++) {
		if (pr->dropped[w] & ~pr->pending[w]) {
			dest_fail(dst, -EPROTO, "a page dropped before the "
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
	for (unsigned i = 0; i < dst->regions.n; i++) {
		const struct region *r = &dst->regions.r[i];
		struct uffdio_register reg = {
			.range = { (uintptr_t)r->host, r->size },
			.mode = UFFDIO_REGISTER_MODE_MISSING };

		if (ioctl(pc->uffd, UFFDIO_REGISTER, &reg) < 0)
			return -errno;
		if (!(reg.ioctls & (1ull << _UFFDIO_COPY)))
			return -ENOTSUP;
		ret = count_missing(dst, i);
		if (!ret)
			ret = drop_pending(dst, i);
		if (ret)
			return ret;
	}
	pc->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return pc->evfd < 0 ? -errno : 0;
}

/* POSTCOPY on channel 0: arm, load state, READY; on COMMIT start the guest
 * here. */
int dpc_start(struct receiver *rv, const uint8_t *payload, size_t len)
{
	struct vmmig_dest *dst = rv->dst;
	struct postcopy_dst *pc;
	char err[WIRE_ERRLEN];
	uint32_t flags;
	int ret;

	ret = wire_postcopy_unpack(payload, len, &flags, err, sizeof(err));
	if (ret) {
		dest_fail(dst, ret, "%s", err);
		return ret;
	}
	if ((flags & WIRE_POSTCOPY_VERIFY) && !dst->vhash) {
		dest_fail(dst, -EPROTO, "POSTCOPY asks for verification the "
			  "handshake did not announce");
		return -EPROTO;
	}
	populate_stop(dst);
	dverify_drain(dst); /* before pages are dropped and the guest runs */
	if (!dst->pc)
		ret = pc_alloc(dst);
	if (!ret)
		ret = arm_uffd(dst);
	if (ret) {
		dest_fail(dst, ret, "post-copy: userfaultfd: %s",
			  vmmig_strerror(ret));
		return ret;
	}
	pc = dst->pc;
	for (unsigned i = 0; i < dst->state.n && dst->ops->load_state; i++) {
		const struct state_blob *b = &dst->state.b[i];

		ret = dst->ops->load_state(dst->opaque, b->id, b->data, b->len);
		if (ret) {
			dest_fail(dst, ret, "loading state blob %u: %s", b->id,
				  vmmig_strerror(ret));
			return ret;
		}
	}
	pthread_mutex_lock(&dst->rp_lock);
	dst->rp_chan = rv->c;
	pthread_mutex_unlock(&dst->rp_lock);
	ret = -pthread_create(&pc->fault_thread, NULL, dpc_fault_main, dst);
	if (ret) {
		dest_fail(dst, ret, "post-copy: fault thread");
		return ret;
	}
	pc->thread_running = true;
	ret = dsw_ready_commit(dst, rv);
	if (ret)
		return ret;
	/* Already inside start() the guest runs here. Two pre-copy rounds
	 * or more before the switch make it a hybrid (see stats.h). */
	pthread_mutex_lock(&dst->stats_lock);
	dst->st.status = VMMIG_STATUS_POSTCOPY;
	dst->st.mode = rv->rounds >= 2 ? VMMIG_MODE_HYBRID : VMMIG_MODE_POSTCOPY;
	pthread_mutex_unlock(&dst->stats_lock);
	ret = dsw_start(dst, rv);
	if (ret)
		return ret;
	pc->t_armed = now_us();
	pthread_mutex_lock(&dst->lock);
	dst->pc_armed = true;
	pthread_cond_broadcast(&dst->cond);
	pthread_mutex_unlock(&dst->lock);
	rv->placing = true;
	return 0;
}

int dpc_arm_reader(struct receiver *rv)
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
int dpc_finish(struct vmmig_dest *dst, struct wire_done *done)
{
	struct postcopy_dst *pc = dst->pc;
	uint64_t missing = atomic_load(&pc->missing);

	if (missing) {
		dest_fail(dst, -EPROTO,
			  "post-copy ended with %llu pages never sent",
			  (unsigned long long)missing);
		return -EPROTO;
	}
	dpc_stop_fault_thread(pc);
	for (unsigned i = 0; i < dst->regions.n; i++) {
		struct uffdio_range rng = {
			(uintptr_t)dst->regions.r[i].host,
			dst->regions.r[i].size };

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
	pthread_mutex_lock(&dst->stats_lock);
	dst->st.postcopy_faults = done->faults;
	dst->st.fault_latency_p50_us = done->fault_p50_us;
	dst->st.fault_latency_p99_us = done->fault_p99_us;
	/* Nothing missing at the switch (an idle guest): no wait at all. */
	uint64_t t_last = atomic_load(&pc->t_last);

	dst->st.postcopy_time_us = t_last > pc->t_armed ? t_last - pc->t_armed
							: 0;
	pthread_mutex_unlock(&dst->stats_lock);
	return 0;
}

/*
 * After a failure the guest may be waiting for pages that will never come:
 * closing the userfaultfd would let it read zeros instead. The embedder must
 * not run it (vmmig_dest_wait() failed); freeing releases everything.
 */
void dpc_free(struct vmmig_dest *dst)
{
	struct postcopy_dst *pc = dst->pc;

	if (!pc)
		return;
	dpc_stop_fault_thread(pc);
	if (pc->uffd >= 0)
		close(pc->uffd);
	if (pc->evfd >= 0)
		close(pc->evfd);
	for (unsigned i = 0; pc->r && i < dst->regions.n; i++) {
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
