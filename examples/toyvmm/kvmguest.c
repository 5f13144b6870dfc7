/* SPDX-License-Identifier: MIT */
/*
 * The KVM backend: the payload runs at CPL3 in long mode set up by the VMM;
 * dirty pages come from KVM's dirty log (vmmig_tracker_new_kvm_bitmap); the
 * vCPU and in-kernel device state travels as state blobs (cpustate.c).
 *
 * UNTESTED on the machine this was written on (no /dev/kvm there).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm.h"
#include "toyvmm.h"

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
	if (toyvmm_payload_size > TOY_STACK_TOP - TOY_PAYLOAD_GPA - 0x10000)
		return -E2BIG;
	memcpy(tv->mem + TOY_PAYLOAD_GPA, toyvmm_payload, toyvmm_payload_size);
	longmode__tables(tv->mem, tv->mem_size);
	ret = vcpu__create(vm, 0);
	if (ret)
		return ret;
	/* The payload paces itself with the guest's TSC. */
	if (vm__tsc_hz(vm, &hz) == 0)
		tv->shared->tsc_hz = hz;
	tv->nvcpus = vm->nvcpus;
	ret = longmode__enter(&vm->vcpus[0], TOY_PAYLOAD_GPA, TOY_STACK_TOP - 8);
	if (!ret)
		ret = vcpu__start(&vm->vcpus[0]);
	return ret;
}

static int kg_pause(struct toyvm *tv)
{
	struct kvm_vm *vm = tv->backend;
	int ret = 0;

	for (unsigned i = 0; i < vm->nvcpus; i++) {
		int r = vcpu__pause(&vm->vcpus[i]);

		ret = ret ? ret : r;
	}
	tv->hb_at_pause = toyvm__heartbeat(tv);
	atomic_store(&tv->paused, true);
	return ret;
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

	/* The header said how many vCPUs; create them before their state. */
	if (tv->nvcpus > KVM_MAX_VCPUS)
		return -EINVAL;
	while (vm->nvcpus < tv->nvcpus) {
		int ret = vcpu__create(vm, vm->nvcpus);

		if (ret)
			return ret;
	}
	return cpustate__load(vm, id, data, len);
}

static int kg_start(struct toyvm *tv)
{
	struct kvm_vm *vm = tv->backend;

	if (vm->nvcpus == 0)
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

	if (tv->tracker_pref && strcmp(tv->tracker_pref, "auto") &&
	    strcmp(tv->tracker_pref, "kvm-bitmap"))
		return -ENOTSUP; /* the dirty ring would need enabling before
				  * the vCPUs exist: not wired up here */
	return vmmig_tracker_new_kvm_bitmap(vm->vm_fd, &slot, 1, out);
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
	.destroy = kg_destroy,
};
