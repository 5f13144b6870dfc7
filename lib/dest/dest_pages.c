/* SPDX-License-Identifier: MIT */
/*
 * Post-copy page state on the destination: which pages are still to come
 * (pending), which were dropped already (an early DISCARD), and placing one
 * that arrived (UFFDIO_COPY / ZEROPAGE, which also wakes the vCPUs waiting
 * for it). Below the features that use it: post-copy, restore, the fault
 * thread, the DRAIN barrier.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "dest.h"
#include "base/uffd.h"

int dst_pc_alloc(struct vmmig_dest *dst)
{
	struct postcopy_dst *pc = calloc(1, sizeof(*pc));

	if (!pc)
		return -ENOMEM;
	pc->uffd = pc->evfd = -1;
	pthread_mutex_init(&pc->lat_lock, NULL);
	dst->pc = pc;
	pc->r = calloc(dst->sess.regions.n, sizeof(*pc->r));
	if (!pc->r)
		return -ENOMEM;
	for (unsigned i = 0; i < dst->sess.regions.n; i++) {
		uint64_t np = dst->sess.regions.r[i].npages;

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
int dst_pc_place(struct vmmig_dest *dst, unsigned ri, uint64_t page,
		 const void *data)
{
	struct postcopy_dst *pc = dst->pc;
	struct pc_region *pr = &pc->r[ri];
	const struct region *r = &dst->sess.regions.r[ri];
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
	dst_verify_page(dst, ri, page, data);
	dst_pc_placed(dst, ri, page, 1);
	return 0;
}

void dst_pc_placed(struct vmmig_dest *dst, unsigned ri, uint64_t first,
		   uint64_t n)
{
	struct postcopy_dst *pc = dst->pc;
	struct pc_region *pr = &pc->r[ri];
	uint64_t t = clock_now_us();

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

bool dst_pc_pending(struct vmmig_dest *dst, unsigned ri, uint64_t page)
{
	return dst->pc && pc_test_bit(dst->pc->r[ri].pending, page);
}

/* Drop the pending pages not dropped yet, so that touching them faults. */
int dst_pc_drop_pending(struct vmmig_dest *dst, unsigned ri)
{
	const struct region *r = &dst->sess.regions.r[ri];
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
		     ((pr->pending[q / 64] & ~pr->dropped[q / 64]) >>
		      (q % 64) & 1);
		     q++)
			;
		uint8_t *a = r->host + p * VMMIG_PAGE_SIZE;
		size_t len = (q - p) * VMMIG_PAGE_SIZE;

		/* Shared memory keeps pages in its file: punch them out;
		 * private anonymous memory just drops. */
		if (madvise(a, len, MADV_REMOVE) &&
		    madvise(a, len, MADV_DONTNEED))
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
int dst_pc_drop_early(struct vmmig_dest *dst)
{
	int ret = 0;

	if (!dst->pc || dst->pc_armed)
		return 0;
	/* The populate thread must not map them again, nor the hasher read
	 * them. */
	dst_populate_stop(dst);
	dst_verify_drain(dst);
	for (unsigned i = 0; i < dst->sess.regions.n && !ret; i++)
		ret = dst_pc_drop_pending(dst, i);
	if (ret)
		dst_fail(dst, ret, "dropping discarded pages: %s",
			 vmmig_strerror(ret));
	else
		atomic_store(&dst->early_dropped, true);
	return ret;
}

bool dst_pc_dropped_early(struct vmmig_dest *dst, unsigned ri, uint64_t page)
{
	/* early_dropped is set after the bitmaps are complete; they do not
	 * change again until the switch. */
	if (!atomic_load(&dst->early_dropped) ||
	    atomic_load(&dst->pc_armed))
		return false;
	return __atomic_load_n(&dst->pc->r[ri].dropped[page / 64],
			       __ATOMIC_RELAXED) >> (page % 64) & 1;
}
