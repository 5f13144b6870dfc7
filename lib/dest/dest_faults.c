/* SPDX-License-Identifier: MIT */
/*
 * Post-copy faults on the destination: the fault thread reads userfaultfd
 * messages and asks the source for each missing page a vCPU touched (REQ on
 * channel 0), and after a reconnect tells the source what is still missing
 * and asks again for what vCPUs wait on.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dest_feat.h"
#include "base/uffd.h"

/* One fault message: ask for the page unless it is here or asked for. */
static int on_fault(struct vmmig_dest *dst, uint64_t addr,
		    struct req_batch *b)
{
	struct postcopy_dst *pc = dst->pc;

	for (unsigned i = 0; i < dst->sess.regions.n; i++) {
		const struct region *r = &dst->sess.regions.r[i];
		uint64_t base = (uint64_t)(uintptr_t)r->host, page, bit;

		if (addr < base || addr >= base + r->size)
			continue;
		page = (addr - base) / VMMIG_PAGE_SIZE;
		bit = 1ull << (page % 64);
		if (!pc_test_bit(pc->r[i].pending, page)) {
			/* Valid here, yet missing: a zero page that was never
			 * populated (pre-copy leaves those untouched), or one
			 * placed just now. Map zeros; EEXIST means placed. */
			struct uffdio_zeropage z = {
				.range = { base + page * VMMIG_PAGE_SIZE,
					   VMMIG_PAGE_SIZE } };

			if (ioctl(pc->uffd, UFFDIO_ZEROPAGE, &z) < 0) {
				struct uffdio_range rng = z.range;

				ioctl(pc->uffd, UFFDIO_WAKE, &rng);
			}
			return 0;
		}
		if (pc_test_bit(pc->r[i].requested, page) ||
		    dst_restore_in_flight(dst, i, page))
			return 0; /* asked for already, or storage has it */
		pc->r[i].t_req[page] = clock_now_us();
		if (__atomic_fetch_or(&pc->r[i].requested[page / 64], bit,
				      __ATOMIC_ACQ_REL) & bit)
			return 0; /* another vCPU asked already */
		atomic_fetch_add(&pc->faults, 1);
		dst_req_add(dst, b, r->id, page);
		return 0;
	}
	return -EFAULT; /* not guest memory: cannot happen */
}

void *dst_pc_fault_main(void *arg)
{
	struct vmmig_dest *dst = arg;
	struct postcopy_dst *pc = dst->pc;
	struct req_batch b = { 0 };

	affinity_pin_fault(&dst->sess.opt, &dst->sess.log,
			   "post-copy fault thread");
	for (;;) {
		struct pollfd pfd[2] = { { pc->uffd, POLLIN, 0 },
					 { pc->evfd, POLLIN, 0 } };
		struct uffd_msg msg[64];
		ssize_t n;
		int ret = 0;

		if (poll(pfd, 2, 1000) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		n = read(pc->uffd, msg, sizeof(msg));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			dst_fail(dst, -errno, "reading userfaultfd: %s",
				 strerror(errno));
			break;
		}
		for (ssize_t i = 0;
		     i < n / (ssize_t)sizeof(msg[0]) && !ret; i++)
			if (msg[i].event == UFFD_EVENT_PAGEFAULT)
				ret = on_fault(dst,
					       msg[i].arg.pagefault.address,
					       &b);
		dst_req_flush(dst, &b);
		if (ret) {
			dst_fail(dst, ret, "fault outside guest memory");
			break;
		}
	}
	return NULL;
}

/* After a reconnect, on channel 0: the pages still missing here (so the
 * source re-sends what was lost in flight), RESUMED, then the requests
 * vCPUs are still waiting on. */
int dst_pc_resync(struct vmmig_dest *dst, struct chan *c)
{
	struct postcopy_dst *pc = dst->pc;
	struct req_batch b = { 0 };
	int ret = 0;

	for (unsigned ri = 0; ri < dst->sess.regions.n && !ret; ri++)
		ret = chan_send_discard(c, 0, dst->sess.regions.r[ri].id,
					pc->r[ri].pending,
					region_words(&dst->sess.regions.r[ri]));
	if (!ret)
		ret = chan_send_record(c, WIRE_RESUMED, 0, NULL, 0);
	if (ret)
		return ret;
	pthread_mutex_lock(&dst->rp_lock);
	dst->rp_chan = c;
	pthread_mutex_unlock(&dst->rp_lock);
	for (unsigned ri = 0; ri < dst->sess.regions.n; ri++) {
		const struct pc_region *pr = &pc->r[ri];

		for (uint64_t w = 0; w < region_words(&dst->sess.regions.r[ri]);
		     w++) {
			uint64_t bits = __atomic_load_n(&pr->pending[w],
							__ATOMIC_ACQUIRE) &
					__atomic_load_n(&pr->requested[w],
							__ATOMIC_ACQUIRE);

			while (bits) {
				dst_req_add(dst, &b, dst->sess.regions.r[ri].id,
					w * 64 +
					(uint64_t)__builtin_ctzll(bits));
				bits &= bits - 1;
			}
		}
	}
	dst_req_flush(dst, &b);
	return 0;
}

void dst_pc_stop_fault_thread(struct postcopy_dst *pc)
{
	uint64_t one = 1;

	if (!pc->thread_running)
		return;
	(void)!write(pc->evfd, &one, sizeof(one));
	pthread_join(pc->fault_thread, NULL);
	pc->thread_running = false;
}

