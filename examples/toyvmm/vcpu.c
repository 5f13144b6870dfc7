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
#include "toyvmm.h"
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

	if (r->io.direction != KVM_EXIT_IO_OUT) {
		fprintf(stderr, "toyvmm: vcpu %u: `in` from port %#x: no device "
			"there\n", c->id, r->io.port);
		return -EIO;
	}
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

static const char *exit_name(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_HLT: return "HLT";
	case KVM_EXIT_SHUTDOWN: return "SHUTDOWN (triple fault)";
	case KVM_EXIT_FAIL_ENTRY: return "FAIL_ENTRY";
	case KVM_EXIT_INTERNAL_ERROR: return "INTERNAL_ERROR";
	case KVM_EXIT_MMIO: return "MMIO";
	case KVM_EXIT_EXCEPTION: return "EXCEPTION";
	case KVM_EXIT_UNKNOWN: return "UNKNOWN";
	}
	return "unexpected";
}

/* The vCPU died: say where, loudly, so nobody reads "heartbeat 0 to 0". */
static void dump_death(struct kvm_vcpu *c)
{
	struct kvm_run *r = c->run;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_vcpu_events ev;

	fprintf(stderr, "toyvmm: vcpu %u died: exit %u %s", c->id,
		r->exit_reason, exit_name(r->exit_reason));
	if (r->exit_reason == KVM_EXIT_FAIL_ENTRY)
		fprintf(stderr, " (hardware reason %#llx)",
			(unsigned long long)
			r->fail_entry.hardware_entry_failure_reason);
	if (r->exit_reason == KVM_EXIT_INTERNAL_ERROR)
		fprintf(stderr, " (suberror %u)", r->internal.suberror);
	if (r->exit_reason == KVM_EXIT_MMIO)
		fprintf(stderr, " (%s gpa %#llx, %u bytes)",
			r->mmio.is_write ? "write" : "read",
			(unsigned long long)r->mmio.phys_addr, r->mmio.len);
	fputc('\n', stderr);
	if (ioctl(c->fd, KVM_GET_REGS, &regs) == 0)
		fprintf(stderr, "toyvmm:   rip %#llx rsp %#llx rflags %#llx\n",
			(unsigned long long)regs.rip,
			(unsigned long long)regs.rsp,
			(unsigned long long)regs.rflags);
	if (ioctl(c->fd, KVM_GET_SREGS, &sregs) == 0)
		fprintf(stderr, "toyvmm:   cs %#x (dpl %u, l %u) cr0 %#llx cr3 "
			"%#llx cr4 %#llx efer %#llx\n", sregs.cs.selector,
			sregs.cs.dpl, sregs.cs.l,
			(unsigned long long)sregs.cr0,
			(unsigned long long)sregs.cr3,
			(unsigned long long)sregs.cr4,
			(unsigned long long)sregs.efer);
	if (ioctl(c->fd, KVM_GET_VCPU_EVENTS, &ev) == 0 &&
	    (ev.exception.injected || ev.exception.pending))
		fprintf(stderr, "toyvmm:   exception %u%s%s, error code %#x\n",
			ev.exception.nr,
			ev.exception.injected ? " injected" : "",
			ev.exception.pending ? " pending" : "",
			ev.exception.error_code);
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
	{
		struct vmmig_tracker *t = atomic_load(&c->vm->ring_tracker);

		if (t)
			return vmmig_tracker_kvm_ring_full(t);
		fprintf(stderr, "toyvmm: vcpu %u: dirty ring full, no tracker "
			"to harvest it\n", c->id);
		return -ENOSPC;
	}
	case KVM_EXIT_INTR:
		return 0;
	}
	/* HLT (the payload never halts), SHUTDOWN, FAIL_ENTRY,
	 * INTERNAL_ERROR, MMIO (no device is mapped) and anything else. */
	dump_death(c);
	return -EFAULT;
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
	if (c->id == 0 && !atomic_load(&vm->first_run_done)) {
		if (vm->first_run)
			vm->first_run(vm->first_run_opaque);
		atomic_store(&vm->first_run_done, true);
	}
	/* The others start after it, so that what it noted (every vCPU's
	 * heartbeat) is where each of them starts from. */
	while (!atomic_load(&vm->first_run_done) && !atomic_load(&c->stop))
		sleep_us(100);
	/* Park only after KVM_RUN came back with EINTR: an I/O exit is
	 * complete (RIP past the `out`) only once KVM_RUN is entered again,
	 * so the state saved while parked must come from a run that the
	 * kick (immediate_exit) ended. */
	while (!atomic_load(&c->stop)) {
		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			if (errno != EINTR && errno != EAGAIN) {
				ret = -errno;
				fprintf(stderr, "toyvmm: vcpu %u: KVM_RUN: %s\n",
					c->id, strerror(errno));
				break;
			}
			c->run->immediate_exit = 0;
			if (atomic_load(&c->pause_req))
				park(c);
			continue;
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
	toyvm__name_vcpu_thread(c->thread, c->id);
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
