/* SPDX-License-Identifier: MIT */
/*
 * The KVM backend: the payload runs at CPL3 in long mode set up by the VMM,
 * one vCPU thread per vCPU, each on its own share of the workload; dirty
 * pages come from KVM's dirty log (vmmig_tracker_new_kvm_bitmap) or its
 * per-vCPU dirty rings (--tracker kvm-ring); the vCPU and in-kernel device
 * state travels as state blobs (cpustate.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm.h"
#include "toyvmm.h"

/* Per-vCPU dirty ring: 64 Ki entries of 16 bytes, KVM's usual maximum.
 * The ring is exact only while it never fills; the payload runs at CPL3
 * and the migration harvests it every round, so it does not. */
#define RING_BYTES (1u << 20)

static bool wants_ring(const struct toyvm *tv)
{
	return tv->tracker_pref && !strcmp(tv->tracker_pref, "kvm-ring");
}

/* Create vCPUs up to tv->nvcpus; dirty rings first if wanted (KVM only
 * accepts them before the first vCPU exists). */
static int create_vcpus(struct toyvm *tv, struct kvm_vm *vm)
{
	int max = ioctl(vm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);

	if (tv->nvcpus == 0 || tv->nvcpus > KVM_MAX_VCPUS ||
	    (max > 0 && tv->nvcpus > (unsigned)max)) {
		fprintf(stderr, "toyvmm: %u vCPUs: KVM here runs 1..%d\n",
			tv->nvcpus, max > 0 && max < KVM_MAX_VCPUS ? max :
			KVM_MAX_VCPUS);
		return -E2BIG;
	}
	if (tv->dirty_ring && vm->nvcpus == 0) {
		int ret = vmmig_kvm_dirty_ring_enable(vm->vm_fd, RING_BYTES);

		if (ret < 0) {
			fprintf(stderr, "toyvmm: KVM dirty ring: %s\n",
				strerror(-ret));
			return ret;
		}
		vm->ring_bytes = (uint32_t)ret;
	}
	while (vm->nvcpus < tv->nvcpus) {
		int ret = vcpu__create(vm, vm->nvcpus);

		if (ret)
			return ret;
	}
	return 0;
}

static int kg_create(struct toyvm *tv, bool boot)
{
	struct kvm_vm *vm = calloc(1, sizeof(*vm));
	uint64_t hz;
	int ret;

	if (!vm)
		return -ENOMEM;
	tv->backend = vm;
	vm->first_run = toyvm__note_start;
	vm->first_run_opaque = tv;
	ret = vm__open(vm, tv->mem, tv->mem_size);
	if (ret || !boot)
		return ret; /* dest: vCPUs come with the first vCPU blob */
	if (toyvmm_payload_size > TOY_STACK_TOP - TOY_PAYLOAD_GPA -
	    KVM_MAX_VCPUS * TOY_VCPU_STACK)
		return -E2BIG;
	tv->dirty_ring = wants_ring(tv);
	ret = create_vcpus(tv, vm);
	if (ret)
		return ret;
	memcpy(tv->mem + TOY_PAYLOAD_GPA, toyvmm_payload, toyvmm_payload_size);
	longmode__tables(tv->mem, tv->mem_size);
	/* The payload paces itself with the guest's TSC. */
	if (vm__tsc_hz(vm, &hz) == 0)
		tv->shared->tsc_hz = hz;
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		ret = longmode__enter(&vm->vcpus[i], TOY_PAYLOAD_GPA,
				      TOY_STACK_TOP - i * TOY_VCPU_STACK - 8);
		if (ret)
			return ret;
	}
	for (unsigned i = 0; i < vm->nvcpus && !ret; i++)
		ret = vcpu__start(&vm->vcpus[i]);
	return ret;
}

/* First dead vCPU's error, or 0. */
static int kg_health(struct toyvm *tv)
{
	struct kvm_vm *vm = tv->backend;

	for (unsigned i = 0; vm && i < vm->nvcpus; i++) {
		int err = atomic_load(&vm->vcpus[i].error);

		if (err)
			return err;
	}
	return 0;
}

static int kg_pause(struct toyvm *tv)
{
	struct kvm_vm *vm = tv->backend;
	int ret = 0;

	for (unsigned i = 0; i < vm->nvcpus; i++) {
		int r = vcpu__pause(&vm->vcpus[i]);

		ret = ret ? ret : r;
	}
	toyvm__heartbeats(tv, tv->hb_at_pause);
	atomic_store(&tv->paused, true);
	/* A dead vCPU is parked too: its state is not a guest to move. */
	return ret ? ret : kg_health(tv);
}

static int kg_resume(struct toyvm *tv)
{
	struct kvm_vm *vm = tv->backend;

	atomic_store(&tv->paused, false);
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vcpu__resume(&vm->vcpus[i]);
	return 0;
}

static int kg_throttle(struct toyvm *tv, unsigned percent)
{
	struct kvm_vm *vm = tv->backend;

	/* The payload's idle exits sleep longer; a busy payload can't be
	 * slowed further without a timer interrupt. */
	atomic_store(&vm->throttle, percent > 99 ? 99 : percent);
	return 0;
}

static int kg_save(struct toyvm *tv, struct vmmig_state_sink *sink)
{
	struct kvm_vm *vm = tv->backend;
	int ret = 0;

	for (unsigned i = 0; i < vm->nvcpus && !ret; i++)
		ret = cpustate__save_vcpu(&vm->vcpus[i], sink);
	if (!ret)
		ret = cpustate__save_vm(vm, sink);
	return ret;
}

static int kg_load(struct toyvm *tv, uint32_t id, const void *data,
		   size_t len)
{
	struct kvm_vm *vm = tv->backend;
	/* The header said how many vCPUs and how they log dirty pages;
	 * create them before their state. */
	int ret = create_vcpus(tv, vm);

	return ret ? ret : cpustate__load(vm, id, data, len);
}

static int kg_start(struct toyvm *tv)
{
	struct kvm_vm *vm = tv->backend;

	if (vm->nvcpus == 0 || vm->nvcpus != tv->nvcpus)
		return -EPROTO; /* no vCPU state arrived */
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		int ret = vcpu__start(&vm->vcpus[i]);

		if (ret)
			return ret;
	}
	return 0;
}

static int kg_tracker(struct toyvm *tv, struct vmmig_tracker **out)
{
	struct kvm_vm *vm = tv->backend;
	struct vmmig_kvm_slot slot = {
		.slot = vm->slot.slot,
		.flags = vm->slot.flags,
		.region_id = 0,
		.gpa = vm->slot.guest_phys_addr,
		.size = vm->slot.memory_size,
	};
	int fds[KVM_MAX_VCPUS];
	int ret;

	if (!tv->dirty_ring) {
		if (tv->tracker_pref && strcmp(tv->tracker_pref, "auto") &&
		    strcmp(tv->tracker_pref, "kvm-bitmap"))
			return -ENOTSUP;
		return vmmig_tracker_new_kvm_bitmap(vm->vm_fd, &slot, 1, out);
	}
	for (unsigned i = 0; i < vm->nvcpus; i++)
		fds[i] = vm->vcpus[i].fd;
	ret = vmmig_tracker_new_kvm_ring(vm->vm_fd, fds, vm->nvcpus,
					 vm->ring_bytes, &slot, 1, out);
	/* Read by the vCPU threads on KVM_EXIT_DIRTY_RING_FULL. */
	if (!ret)
		atomic_store(&vm->ring_tracker, *out);
	return ret;
}

static void kg_destroy(struct toyvm *tv)
{
	struct kvm_vm *vm = tv->backend;

	if (!vm)
		return;
	vm__close(vm);
	free(vm);
	tv->backend = NULL;
}

const struct guest_ops kvmguest_ops = {
	.name = "kvm",
	.create = kg_create,
	.pause = kg_pause,
	.resume = kg_resume,
	.throttle = kg_throttle,
	.save = kg_save,
	.load = kg_load,
	.start = kg_start,
	.tracker = kg_tracker,
	.health = kg_health,
	.destroy = kg_destroy,
};
