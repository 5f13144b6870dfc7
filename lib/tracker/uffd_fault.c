/* SPDX-License-Identifier: MIT */
/*
 * uffd-wp sync mode: a fault thread serves write-protect faults, and sync()
 * hands out and re-protects what it recorded.
 *
 * Ordering. Per page there are two critical sections, both under the
 * region's lock:
 *   fault thread:  set the page's bit; lift the protection (wakes the writer)
 *   sync():        take (and zero) the bits; re-protect exactly those pages
 * Invariant: outside the lock, a page without protection has its bit set.
 * A write to a protected page cannot land until the fault thread has run
 * its section, so it is in a bit that the next sync() takes; a write to an
 * unprotected page lands before that sync() re-protects the page, i.e. before
 * it returns, so the caller, who reads the page after sync(), sees it.
 *
 * Why the lock: without it, "set bit" could come before sync() takes the bit
 * and re-protects (a no-op: still protected), and "lift protection" after;
 * the page is then writable with its bit clear, and a later write is lost.
 * Swapping the two steps (lift, then set) instead lets the writer finish
 * before the bit is set, so a final sync() right after the writer stops
 * could miss it. The lock is held for one ioctl by the fault thread and for
 * one region's re-protection by sync(), so writers wait at most that long.
 *
 * Duplicate or stale fault messages (two vCPUs faulting on one page) just
 * set the bit again: a false positive at worst, never a loss.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/uffd.h"
#include "uffd_wp.h"

static void note_err(struct uffd_wp *u, int err)
{
	int zero = 0;

	atomic_compare_exchange_strong(&u->err, &zero, err);
}

static struct uffd_region *find_region(struct uffd_wp *u, uint64_t addr)
{
	for (unsigned i = 0; i < u->nr; i++) {
		struct uffd_region *r = &u->regs[i];

		if (addr >= r->start && addr - r->start < r->len)
			return r;
	}
	return NULL;
}

static void on_fault(struct uffd_wp *u, uint64_t addr)
{
	struct uffd_region *r;
	uint64_t p;
	int ret;

	addr &= ~(uint64_t)(VMMIG_PAGE_SIZE - 1);
	r = find_region(u, addr);
	if (!r) {
		/* Not ours (cannot happen: we register only our regions);
		 * lift it anyway so that nobody hangs. */
		(void)uffd_protect(u->uffd, addr, VMMIG_PAGE_SIZE, 0);
		return;
	}
	p = (addr - r->start) / VMMIG_PAGE_SIZE;

	pthread_mutex_lock(&r->lock);
	r->dirty[p / 64] |= 1ull << (p % 64);
	ret = uffd_protect(u->uffd, addr, VMMIG_PAGE_SIZE, 0);
	pthread_mutex_unlock(&r->lock);
	if (ret < 0) {
		/* ENOENT after stop() unregistered the range is harmless (start()
		 * resets err); anything else breaks tracking: report it from the
		 * next sync() and wake the writer so it retries the fault. */
		struct uffdio_range range = { .start = addr,
					      .len = VMMIG_PAGE_SIZE };

		note_err(u, ret);
		(void)ioctl(u->uffd, UFFDIO_WAKE, &range);
	}
}

static void *fault_main(void *arg)
{
	struct uffd_wp *u = arg;
	struct uffd_msg msgs[32];
	struct pollfd pfd[2] = {
		{ .fd = u->uffd, .events = POLLIN },
		{ .fd = u->evfd, .events = POLLIN },
	};

	for (;;) {
		ssize_t got;
		int n;

		/* The timeout is only a safety net; stop() writes the eventfd. */
		n = poll(pfd, 2, 1000);
		if (n < 0 && errno != EINTR) {
			note_err(u, -errno);
			break;
		}
		if (pfd[1].revents)
			break;
		if (n <= 0 || !(pfd[0].revents & POLLIN))
			continue;
		got = read(u->uffd, msgs, sizeof(msgs));
		if (got < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			note_err(u, -errno);
			break;
		}
		for (size_t i = 0; i < (size_t)got / sizeof(msgs[0]); i++) {
			const struct uffd_msg *m = &msgs[i];

			if (m->event == UFFD_EVENT_PAGEFAULT &&
			    (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP))
				on_fault(u, m->arg.pagefault.address);
		}
	}
	return NULL;
}

int uffd_fault_start(struct uffd_wp *u)
{
	sigset_t all, old;
	int ret;

	u->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->evfd < 0)
		return -errno;
	/* The thread inherits a fully blocked mask: the embedder's signal
	 * handlers never run on it. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&u->thread, NULL, fault_main, u);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret != 0)
		return -ret;
	u->thread_on = 1;
	return 0;
}

void uffd_fault_stop(struct uffd_wp *u)
{
	uint64_t one = 1;

	if (u->thread_on) {
		/* An eventfd write of 1 cannot fail short of a bad fd. */
		if (write(u->evfd, &one, sizeof(one)) < 0)
			note_err(u, -errno);
		pthread_join(u->thread, NULL);
		u->thread_on = 0;
	}
	if (u->evfd >= 0)
		close(u->evfd);
	u->evfd = -1;
}

int uffd_fault_sync(struct uffd_wp *u, unsigned index, uint64_t *bitmap)
{
	struct uffd_region *r = &u->regs[index];
	uint64_t words = (r->npages + 63) / 64;
	uint64_t run = 0, nrun = 0; /* pending range of pages to protect */
	int ret = atomic_load(&u->err), err;

	if (ret < 0)
		return ret;

	pthread_mutex_lock(&r->lock);
	for (uint64_t w = 0; w < words; w++) {
		uint64_t v = r->dirty[w];

		if (!v)
			continue;
		r->dirty[w] = 0;
		bitmap[w] |= v;
		/* Batch runs of consecutive pages into one ioctl each. */
		while (v) {
			unsigned b = (unsigned)__builtin_ctzll(v);
			uint64_t x = v >> b;
			unsigned len = ~x ? (unsigned)__builtin_ctzll(~x) : 64 - b;
			uint64_t p = w * 64 + b;

			if (nrun && run + nrun == p) {
				nrun += len;
			} else {
				if (nrun) {
					err = uffd_protect(u->uffd,
						r->start + run * VMMIG_PAGE_SIZE,
						nrun * VMMIG_PAGE_SIZE, 1);
					ret = ret < 0 ? ret : err;
				}
				run = p;
				nrun = len;
			}
			v = b + len >= 64 ? 0 : v & (~0ull << (b + len));
		}
	}
	if (nrun) {
		err = uffd_protect(u->uffd, r->start + run * VMMIG_PAGE_SIZE,
				   nrun * VMMIG_PAGE_SIZE, 1);
		ret = ret < 0 ? ret : err;
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}
