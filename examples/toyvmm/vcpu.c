/* SPDX-License-Identifier: MIT */
/*
 * A vCPU: creation, the run loop (one switch on the exit reason), and
 * pause/resume. Pausing sets run->immediate_exit and kicks the thread with
 * a signal, so KVM_RUN returns EINTR whether or not the guest was inside it
 * when the signal came.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "dbcache_vmm.h"
#include "kvm.h"
#include "workloads.h"

#define KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
	(void)sig; /* only there to interrupt KVM_RUN */
}

int vcpu__create(struct kvm_vm *vm, unsigned id)
{
	struct kvm_vcpu *c = &vm->vcpus[id];
	struct sigaction sa = { .sa_handler = kick_handler };
	int ret;

	memset(c, 0, sizeof(*c));
	c->vm = vm;
	c->id = id;
	atomic_store(&c->parked, true);
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: KVM_RUN must come back with EINTR. */
	if (sigaction(KICK_SIGNAL, &sa, NULL))
		return -errno;
	c->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (c->fd < 0)
		return -errno;
	vm->nvcpus = id + 1 > vm->nvcpus ? id + 1 : vm->nvcpus;
	c->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      c->fd, 0);
	if (c->run == MAP_FAILED) {
		c->run = NULL;
		return -errno;
	}
	ret = ioctl(c->fd, KVM_SET_CPUID2, vm->cpuid);
	return ret < 0 ? -errno : 0;
}

void vcpu__destroy(struct kvm_vcpu *c)
{
	if (c->thread_running) {
		atomic_store(&c->stop, true);
		c->run->immediate_exit = 1;
		pthread_kill(c->thread, KICK_SIGNAL);
		pthread_join(c->thread, NULL);
		c->thread_running = false;
	}
	if (c->run)
		munmap(c->run, c->vm->run_size);
	if (c->fd > 0)
		close(c->fd);
	c->run = NULL;
	c->fd = -1;
}

static void sleep_us(unsigned us)
{
	struct timespec ts = { 0, (long)us * 1000 };

	nanosleep(&ts, NULL);
}

static int handle_io(struct kvm_vcpu *c)
{
	struct kvm_run *r = c->run;
	unsigned pct;

	if (r->io.direction != KVM_EXIT_IO_OUT)
		return -EIO;
	switch (r->io.port) {
	case TOY_PORT_WAIT:
		/* The workload has nothing due: give the host CPU back. Under
		 * auto-converge, sleep longer. */
		pct = atomic_load(&c->vm->throttle);
		sleep_us(500 + pct * 50);
		return 0;
	case TOY_PORT_DBHINT:
		return dbcache__doorbell(c->vm->first_run_opaque);
	case TOY_PORT_PANIC:
		fprintf(stderr, "toyvmm: vcpu %u: payload panic\n", c->id);
		return -EINVAL;
	}
	fprintf(stderr, "toyvmm: vcpu %u: out to unknown port %#x\n", c->id,
		r->io.port);
	return -EIO;
}

/* One exit; 0 to go on, -errno to stop the vCPU. */
static int handle_exit(struct kvm_vcpu *c)
{
	struct kvm_run *r = c->run;

	switch (r->exit_reason) {
	case KVM_EXIT_IO:
		return handle_io(c);
	case KVM_EXIT_DIRTY_RING_FULL:
		/* Harvest so the vCPU can go on; the pages stay dirty in the
		 * tracker until the session syncs. */
		if (c->vm->ring_tracker)
			return vmmig_tracker_kvm_ring_full(c->vm->ring_tracker);
		return -ENOSPC;
	case KVM_EXIT_INTR:
		return 0;
	case KVM_EXIT_HLT:
	case KVM_EXIT_SHUTDOWN:
	case KVM_EXIT_FAIL_ENTRY:
	case KVM_EXIT_INTERNAL_ERROR:
	default:
		fprintf(stderr, "toyvmm: vcpu %u: exit reason %u\n", c->id,
			r->exit_reason);
		return -EFAULT;
	}
}

static void park(struct kvm_vcpu *c)
{
	atomic_store(&c->parked, true);
	while (atomic_load(&c->pause_req) && !atomic_load(&c->stop))
		sleep_us(100);
	atomic_store(&c->parked, false);
}

static void *vcpu_main(void *arg)
{
	struct kvm_vcpu *c = arg;
	struct kvm_vm *vm = c->vm;
	int ret = 0;

	/* From this thread, not the caller's: on a post-copy destination the
	 * hook reads guest memory that may still have to be fetched. */
	if (c->id == 0 && vm->first_run &&
	    !atomic_exchange(&vm->first_run_done, true))
		vm->first_run(vm->first_run_opaque);
	while (!atomic_load(&c->stop)) {
		if (atomic_load(&c->pause_req)) {
			park(c);
			continue;
		}
		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				c->run->immediate_exit = 0;
				continue;
			}
			ret = -errno;
			break;
		}
		ret = handle_exit(c);
		if (ret)
			break;
	}
	atomic_store(&c->error, ret);
	atomic_store(&c->parked, true);
	return NULL;
}

int vcpu__start(struct kvm_vcpu *c)
{
	atomic_store(&c->parked, false);
	if (pthread_create(&c->thread, NULL, vcpu_main, c)) {
		atomic_store(&c->parked, true);
		return -EAGAIN;
	}
	c->thread_running = true;
	return 0;
}

int vcpu__pause(struct kvm_vcpu *c)
{
	atomic_store(&c->pause_req, true);
	if (!c->thread_running)
		return 0;
	/* Bounded: a kick per millisecond for up to five seconds. */
	for (int i = 0; i < 5000 && !atomic_load(&c->parked); i++) {
		c->run->immediate_exit = 1;
		pthread_kill(c->thread, KICK_SIGNAL);
		sleep_us(1000);
	}
	return atomic_load(&c->parked) ? 0 : -ETIMEDOUT;
}

void vcpu__resume(struct kvm_vcpu *c)
{
	atomic_store(&c->pause_req, false);
}
