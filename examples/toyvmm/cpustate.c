/* SPDX-License-Identifier: MIT */
/*
 * vCPU and in-kernel device state as library state blobs. Saved and
 * restored in the order that worked across processes on PVM: regs, xsave,
 * xcrs, sregs, lapic, MSRs, vcpu events, mp state, debugregs; then for the
 * VM: irqchips, pit2, clock. Blob id = base + item, items numbered in that
 * order, so the destination gets (and restores) them in the same order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm.h"
#include "toyvmm.h"

enum vcpu_item {
	I_REGS, I_XSAVE, I_XCRS, I_SREGS, I_LAPIC, I_MSRS, I_EVENTS, I_MP,
	I_DEBUGREGS, I__VCPU_COUNT
};
enum vm_item { I_PIC0, I_PIC1, I_IOAPIC, I_PIT2, I_CLOCK, I__VM_COUNT };
#define VCPU_STRIDE 0x20

struct item {
	unsigned long get, set;
	size_t size; /* 0: variable (xsave, MSRs) */
};

static const struct item vcpu_items[I__VCPU_COUNT] = {
	[I_REGS] = { KVM_GET_REGS, KVM_SET_REGS, sizeof(struct kvm_regs) },
	[I_XSAVE] = { KVM_GET_XSAVE, KVM_SET_XSAVE, 0 },
	[I_XCRS] = { KVM_GET_XCRS, KVM_SET_XCRS, sizeof(struct kvm_xcrs) },
	[I_SREGS] = { KVM_GET_SREGS, KVM_SET_SREGS, sizeof(struct kvm_sregs) },
	[I_LAPIC] = { KVM_GET_LAPIC, KVM_SET_LAPIC,
		      sizeof(struct kvm_lapic_state) },
	[I_MSRS] = { KVM_GET_MSRS, KVM_SET_MSRS, 0 },
	[I_EVENTS] = { KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
		       sizeof(struct kvm_vcpu_events) },
	[I_MP] = { KVM_GET_MP_STATE, KVM_SET_MP_STATE,
		   sizeof(struct kvm_mp_state) },
	[I_DEBUGREGS] = { KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS,
			  sizeof(struct kvm_debugregs) },
};

/* Bytes of the xsave area: larger than struct kvm_xsave with AMX etc. */
static size_t xsave_size(struct kvm_vm *vm, unsigned long *get)
{
	int n = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);

	*get = KVM_GET_XSAVE;
	if (n > (int)sizeof(struct kvm_xsave)) {
		*get = KVM_GET_XSAVE2;
		return (size_t)n;
	}
	return sizeof(struct kvm_xsave);
}

/* KVM_GET/SET_MSRS stop at the first MSR they can't handle and return how
 * many they did: skip that one and go on with the rest. */
static int msrs_apply(int fd, unsigned long req, struct kvm_msr_entry *e,
		      unsigned n, unsigned *done)
{
	struct kvm_msrs *m = malloc(sizeof(*m) + n * sizeof(*e));
	unsigned i = 0, out = 0;

	if (!m)
		return -ENOMEM;
	while (i < n) {
		memset(m, 0, sizeof(*m));
		m->nmsrs = n - i;
		memcpy(m->entries, e + i, (n - i) * sizeof(*e));
		int ret = ioctl(fd, req, m);

		if (ret < 0) {
			free(m);
			return -errno;
		}
		/* Keep what worked, compacted at the front of e[]. */
		memmove(e + out, m->entries, (size_t)ret * sizeof(*e));
		out += (unsigned)ret;
		i += (unsigned)ret + 1; /* + the one that failed */
	}
	free(m);
	*done = out;
	return 0;
}

static int save_msrs(struct kvm_vcpu *c, struct vmmig_state_sink *sink,
		     uint32_t id)
{
	unsigned n = c->vm->msrs->nmsrs, done = 0;
	struct kvm_msr_entry *e = calloc(n ? n : 1, sizeof(*e));
	int ret;

	if (!e)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		e[i].index = c->vm->msrs->indices[i];
	ret = msrs_apply(c->fd, KVM_GET_MSRS, e, n, &done);
	if (!ret)
		ret = vmmig_state_put(sink, id, e, done * sizeof(*e));
	free(e);
	return ret;
}

int cpustate__save_vcpu(struct kvm_vcpu *c, struct vmmig_state_sink *sink)
{
	uint32_t base = BLOB_KVM_VCPU + c->id * VCPU_STRIDE;
	unsigned long get;
	size_t xs = xsave_size(c->vm, &get);
	size_t max = xs > 8192 ? xs : 8192;
	void *buf = calloc(1, max);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (unsigned i = 0; i < I__VCPU_COUNT && !ret; i++) {
		const struct item *it = &vcpu_items[i];

		if (i == I_MSRS) {
			ret = save_msrs(c, sink, base + i);
			continue;
		}
		size_t len = i == I_XSAVE ? xs : it->size;

		memset(buf, 0, max);
		if (ioctl(c->fd, i == I_XSAVE ? get : it->get, buf) < 0)
			ret = -errno;
		else
			ret = vmmig_state_put(sink, base + i, buf, len);
	}
	free(buf);
	return ret;
}

int cpustate__save_vm(struct kvm_vm *vm, struct vmmig_state_sink *sink)
{
	struct kvm_irqchip chip;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	int ret = 0;

	for (unsigned i = 0; i < 3 && !ret; i++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = i; /* PIC master, PIC slave, IOAPIC */
		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
			return -errno;
		ret = vmmig_state_put(sink, BLOB_KVM_VM + I_PIC0 + i, &chip,
				      sizeof(chip));
	}
	memset(&pit, 0, sizeof(pit));
	if (!ret && ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0)
		return -errno;
	if (!ret)
		ret = vmmig_state_put(sink, BLOB_KVM_VM + I_PIT2, &pit,
				      sizeof(pit));
	memset(&clock, 0, sizeof(clock));
	if (!ret && ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) < 0)
		return -errno;
	if (!ret)
		ret = vmmig_state_put(sink, BLOB_KVM_VM + I_CLOCK, &clock,
				      sizeof(clock));
	return ret;
}

static int load_vm(struct kvm_vm *vm, unsigned item, const void *data,
		   size_t len)
{
	struct kvm_clock_data clock;

	switch (item) {
	case I_PIC0: case I_PIC1: case I_IOAPIC:
		if (len != sizeof(struct kvm_irqchip))
			return -EINVAL;
		return ioctl(vm->vm_fd, KVM_SET_IRQCHIP, data) < 0 ? -errno : 0;
	case I_PIT2:
		if (len != sizeof(struct kvm_pit_state2))
			return -EINVAL;
		return ioctl(vm->vm_fd, KVM_SET_PIT2, data) < 0 ? -errno : 0;
	case I_CLOCK:
		if (len != sizeof(clock))
			return -EINVAL;
		memcpy(&clock, data, len);
		/* Only REALTIME may be passed back: the kernel then adds the
		 * time that passed since the source read the clock. */
		clock.flags &= KVM_CLOCK_REALTIME;
		return ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0 ? -errno : 0;
	}
	return -EINVAL;
}

static int load_vcpu(struct kvm_vcpu *c, unsigned item, const void *data,
		     size_t len)
{
	const struct item *it = &vcpu_items[item];
	unsigned long get;
	void *copy;
	int ret = 0;

	if (item == I_MSRS) {
		unsigned done;

		if (len % sizeof(struct kvm_msr_entry))
			return -EINVAL;
		copy = malloc(len ? len : 1);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, data, len);
		ret = msrs_apply(c->fd, KVM_SET_MSRS, copy,
				 (unsigned)(len / sizeof(struct kvm_msr_entry)),
				 &done);
		free(copy);
		return ret;
	}
	if (len != (item == I_XSAVE ? xsave_size(c->vm, &get) : it->size))
		return -EINVAL;
	copy = malloc(len); /* the ioctl may not write to its argument, but
			     * the blob is const */
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	if (ioctl(c->fd, it->set, copy) < 0)
		ret = -errno;
	free(copy);
	return ret;
}

int cpustate__load(struct kvm_vm *vm, uint32_t id, const void *data,
		   size_t len)
{
	if (id >= BLOB_KVM_VM && id < BLOB_KVM_VM + I__VM_COUNT)
		return load_vm(vm, id - BLOB_KVM_VM, data, len);
	if (id >= BLOB_KVM_VCPU &&
	    id < BLOB_KVM_VCPU + KVM_MAX_VCPUS * VCPU_STRIDE) {
		unsigned cpu = (id - BLOB_KVM_VCPU) / VCPU_STRIDE;
		unsigned item = (id - BLOB_KVM_VCPU) % VCPU_STRIDE;

		if (cpu >= vm->nvcpus || item >= I__VCPU_COUNT)
			return -EINVAL;
		return load_vcpu(&vm->vcpus[cpu], item, data, len);
	}
	return -EINVAL;
}
