/* SPDX-License-Identifier: MIT */
/* Private: the KVM backend's objects (vm.c, vcpu.c, longmode.c, cpustate.c,
 * kvmguest.c). Calls return 0 or -errno. */
#ifndef TOYVMM_KVM_H
#define TOYVMM_KVM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <vmmig/vmmig.h>

#include "workloads.h"

#define KVM_MAX_VCPUS TOY_MAX_VCPUS

struct kvm_vcpu {
	struct kvm_vm *vm;          /* owner */
	unsigned id;                /* vCPU index */
	int fd;                     /* KVM_CREATE_VCPU */
	struct kvm_run *run;        /* mmapped shared run area */
	pthread_t thread;           /* runs vcpu__loop() */
	bool thread_running;        /* thread created */
	atomic_bool pause_req;      /* park before the next KVM_RUN */
	atomic_bool parked;         /* parked, or not running */
	atomic_bool stop;           /* leave the loop */
	atomic_int error;           /* -errno or an exit the VMM can't handle */
};

struct kvm_vm {
	int sys_fd;                 /* /dev/kvm */
	int vm_fd;                  /* KVM_CREATE_VM */
	size_t run_size;            /* KVM_GET_VCPU_MMAP_SIZE */
	uint8_t *mem;               /* guest memory (borrowed from toyvm) */
	uint64_t mem_size;
	struct kvm_userspace_memory_region slot; /* slot 0: all memory */
	struct kvm_cpuid2 *cpuid;   /* KVM_GET_SUPPORTED_CPUID result */
	struct kvm_msr_list *msrs;  /* KVM_GET_MSR_INDEX_LIST result */
	unsigned nvcpus;
	struct kvm_vcpu vcpus[KVM_MAX_VCPUS];
	atomic_uint throttle;       /* percent of time the vCPUs sleep */
	uint32_t ring_bytes;        /* per-vCPU dirty ring; 0: none */
	/* The ring tracker, for DIRTY_RING_FULL exits (set once the source
	 * made it, read by the vCPU threads). */
	struct vmmig_tracker *_Atomic ring_tracker;
	void (*first_run)(void *opaque); /* vCPU 0, once, before KVM_RUN */
	void *first_run_opaque;     /* its argument (the struct toyvm) */
	atomic_bool first_run_done; /* first_run() returned: the other
				     * vCPUs may run */
};

/* vm.c */
int vm__open(struct kvm_vm *vm, uint8_t *mem, uint64_t size);
void vm__close(struct kvm_vm *vm);
int vm__tsc_hz(struct kvm_vm *vm, uint64_t *hz);

/* vcpu.c */
int vcpu__create(struct kvm_vm *vm, unsigned id);
void vcpu__destroy(struct kvm_vcpu *c);
int vcpu__start(struct kvm_vcpu *c);
int vcpu__pause(struct kvm_vcpu *c);
void vcpu__resume(struct kvm_vcpu *c);

/* longmode.c: page tables, GDT, TSS in guest memory; registers to enter
 * the payload at CPL3 (vCPU c->id in rdi). The TSS's I/O bitmap grants
 * exactly the ports in longmode_ports[]. */
#define LONGMODE_NPORTS 3
extern const uint16_t longmode_ports[LONGMODE_NPORTS];
void longmode__tables(uint8_t *mem, uint64_t mem_size);
int longmode__enter(struct kvm_vcpu *c, uint64_t rip, uint64_t rsp);

/* cpustate.c: all vCPU and in-kernel device state as blobs. */
int cpustate__save_vcpu(struct kvm_vcpu *c, struct vmmig_state_sink *sink);
int cpustate__save_vm(struct kvm_vm *vm, struct vmmig_state_sink *sink);
int cpustate__load(struct kvm_vm *vm, uint32_t id, const void *data,
		   size_t len);

/* The payload (payload_blob.c, generated at build time). */
extern const unsigned char toyvmm_payload[];
extern const unsigned long toyvmm_payload_size;

#endif
