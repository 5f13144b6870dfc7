/* SPDX-License-Identifier: MIT */
/* The KVM VM: /dev/kvm, the VM, its memory slot, in-kernel devices. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm.h"
#include "workloads.h"

/* Three pages the kernel needs for Intel's real-mode TSS, above memory. */
#define TSS_ADDR 0xfffbd000ul

static int xioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do
		ret = ioctl(fd, req, arg);
	while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : ret;
}

static int get_cpuid(struct kvm_vm *vm)
{
	/* Grow until the kernel stops answering E2BIG. */
	for (unsigned n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) +
					      n * sizeof(c->entries[0]));
		int ret;

		if (!c)
			return -ENOMEM;
		c->nent = n;
		ret = xioctl(vm->sys_fd, KVM_GET_SUPPORTED_CPUID, c);
		if (ret >= 0) {
			vm->cpuid = c;
			return 0;
		}
		free(c);
		if (ret != -E2BIG)
			return ret;
	}
	return -E2BIG;
}

static int get_msr_list(struct kvm_vm *vm)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	int ret = xioctl(vm->sys_fd, KVM_GET_MSR_INDEX_LIST, &probe);

	/* The first call fails with E2BIG and tells the count. */
	if (ret < 0 && ret != -E2BIG)
		return ret;
	vm->msrs = calloc(1, sizeof(*vm->msrs) +
			  probe.nmsrs * sizeof(vm->msrs->indices[0]));
	if (!vm->msrs)
		return -ENOMEM;
	vm->msrs->nmsrs = probe.nmsrs;
	ret = xioctl(vm->sys_fd, KVM_GET_MSR_INDEX_LIST, vm->msrs);
	return ret < 0 ? ret : 0;
}

/* @vm: zeroed by the caller (calloc); on failure vm__close() undoes what
 * was done. */
int vm__open(struct kvm_vm *vm, uint8_t *mem, uint64_t size)
{
	struct kvm_pit_config pit = { .flags = 0 };
	int ret;

	/* No memset: the caller zeroed *vm and may have set its hooks
	 * (first_run) already; only what this function owns is set here. */
	vm->vm_fd = -1;
	vm->mem = mem;
	vm->mem_size = size;
	vm->sys_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->sys_fd < 0)
		return -errno;
	ret = xioctl(vm->sys_fd, KVM_GET_API_VERSION, NULL);
	if (ret != KVM_API_VERSION)
		return ret < 0 ? ret : -ENOTSUP;
	ret = xioctl(vm->sys_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (ret < 0)
		return ret;
	vm->run_size = (size_t)ret;
	ret = xioctl(vm->sys_fd, KVM_CREATE_VM, (void *)0);
	if (ret < 0)
		return ret;
	vm->vm_fd = ret;
	ret = xioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (void *)TSS_ADDR);
	if (ret < 0)
		return ret;
	/* In-kernel LAPIC (KVM_GET_LAPIC needs it), PIC, IOAPIC and PIT: a
	 * VM as a VMM would make it; their state travels too. */
	ret = xioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, NULL);
	if (ret < 0)
		return ret;
	ret = xioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit);
	if (ret < 0)
		return ret;
	/* Dirty logging is switched on by the tracker when a migration
	 * starts, not here. */
	vm->slot.slot = 0;
	vm->slot.guest_phys_addr = 0;
	vm->slot.memory_size = size;
	vm->slot.userspace_addr = (uintptr_t)mem;
	ret = xioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &vm->slot);
	if (ret < 0)
		return ret;
	ret = get_cpuid(vm);
	if (!ret)
		ret = get_msr_list(vm);
	return ret;
}

int vm__tsc_hz(struct kvm_vm *vm, uint64_t *hz)
{
	int ret = xioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, NULL);

	if (ret <= 0)
		return ret < 0 ? ret : -ENOTSUP;
	*hz = (uint64_t)ret * 1000;
	return 0;
}

void vm__close(struct kvm_vm *vm)
{
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vcpu__destroy(&vm->vcpus[i]);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->sys_fd >= 0)
		close(vm->sys_fd);
	free(vm->cpuid);
	free(vm->msrs);
	vm->vm_fd = vm->sys_fd = -1;
	vm->cpuid = NULL;
	vm->msrs = NULL;
}
