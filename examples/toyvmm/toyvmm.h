/* SPDX-License-Identifier: MIT */
/*
 * toyvmm: a small VMM whose guests migrate live with libvmmig.
 *
 * One struct toyvm per process. The guest runs on one of two backends with
 * the same guest_ops: "kvm" (the payload under /dev/kvm) and "software"
 * (the same workload code in a host thread, for machines without KVM).
 */
#ifndef TOYVMM_H
#define TOYVMM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <vmmig/vmmig.h>

#include "workloads.h"

struct toyvm;

/* What a backend does for the VMM; every call returns 0 or -errno. */
struct guest_ops {
	const char *name;
	/* Create the guest on vm->mem; boot it fresh (source) or not (dest). */
	int (*create)(struct toyvm *vm, bool boot);
	int (*pause)(struct toyvm *vm);
	int (*resume)(struct toyvm *vm);
	int (*throttle)(struct toyvm *vm, unsigned percent);
	int (*save)(struct toyvm *vm, struct vmmig_state_sink *sink);
	int (*load)(struct toyvm *vm, uint32_t id, const void *data,
		    size_t len);
	/* Run a guest whose state came from load(). */
	int (*start)(struct toyvm *vm);
	/* The dirty tracker for the source session (owned by the caller). */
	int (*tracker)(struct toyvm *vm, struct vmmig_tracker **out);
	/* 0 while every vCPU can run; else the first dead vCPU's -errno
	 * (its exit was reported on stderr when it died). */
	int (*health)(struct toyvm *vm);
	void (*destroy)(struct toyvm *vm);
};

extern const struct guest_ops swguest_ops;
extern const struct guest_ops kvmguest_ops;

/* State blob ids (the destination checks them). */
#define BLOB_HEADER   1u      /* struct blob_header */
#define BLOB_SW_CPU   0x100u  /* software guest: struct wl_cpu */
#define BLOB_KVM_VCPU 0x1000u /* + vcpu * 0x20 + item (cpustate.c) */
#define BLOB_KVM_VM   0x2000u /* + item: irqchips, pit, clock */

struct blob_header {
	uint64_t magic;       /* TOY_MAGIC */
	char backend[16];     /* guest_ops.name */
	uint32_t nvcpus;
	uint32_t kind;        /* workload */
	uint64_t mem_size;
	uint32_t flags;       /* BLOB_HDR_* */
	uint32_t reserved;
};
/* KVM: the vCPUs log dirty pages to rings (the destination creates its
 * vCPUs the same way, so that it can migrate the guest on). */
#define BLOB_HDR_DIRTY_RING 1u

struct toyvm {
	const struct guest_ops *ops; /* backend */
	void *backend;               /* its private state */
	uint8_t *mem;                /* guest memory, guest-physical 0 */
	uint64_t mem_size;           /* bytes */
	struct toy_shared *shared;   /* mem + TOY_SHARED_GPA */
	unsigned nvcpus;             /* vCPUs (KVM vCPUs or host threads) */
	bool dirty_ring;             /* KVM: vCPUs created with dirty rings */
	bool header_seen;            /* dest: BLOB_HEADER loaded and valid */
	uint32_t kind;               /* dest: the workload the header named */
	atomic_bool paused;          /* guest stopped by pause() */
	uint64_t hb_at_pause[TOY_MAX_VCPUS]; /* heartbeats when last paused */
	/* Set by the guest's own thread when it first runs in this process
	 * (boot, or start on the destination), before its first step. Until
	 * then a destination must not read guest memory: in post-copy a read
	 * before the switch would map a page the library is about to fill. */
	atomic_bool here;
	uint64_t hb_at_start[TOY_MAX_VCPUS]; /* heartbeats at that moment */
	bool verbose;
	const char *tracker_pref;     /* auto, uffd-wp, manual, kvm-bitmap,
				       * kvm-ring */
	struct dbcache_dev *db;       /* source: dbcache's hint device */
};

/* guestmem.c */
enum fill_kind { FILL_ZERO, FILL_RANDOM, FILL_HALF, FILL_MIX };
int guestmem__alloc(struct toyvm *vm, uint64_t size);
void guestmem__fill(struct toyvm *vm, enum fill_kind fill);
void guestmem__prefault(struct toyvm *vm);
/* guestmix.c: ~1/2 zero, ~1/4 text-like, ~1/4 random, by page offset. */
void guestmem__fill_mix(uint8_t *mem, uint64_t from, uint64_t to);
void guestmem__free(struct toyvm *vm);
uint64_t guestmem__tsc_hz(void);
/* vCPU @i's heartbeat. */
static inline uint64_t toyvm__heartbeat_of(const struct toyvm *vm,
					   unsigned i)
{
	return vm->shared->heartbeat[i];
}
/* All vCPUs' heartbeats added up (a guest-wide progress figure). */
static inline uint64_t toyvm__heartbeat(const struct toyvm *vm)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < vm->nvcpus && i < TOY_MAX_VCPUS; i++)
		sum += vm->shared->heartbeat[i];
	return sum;
}
/* Copy every vCPU's heartbeat into @hb (TOY_MAX_VCPUS entries). */
void toyvm__heartbeats(const struct toyvm *vm, uint64_t *hb);
/* Fill vm->shared for a fresh boot of vm->nvcpus vCPUs. */
void toyvm__describe(struct toyvm *vm, uint32_t kind, uint32_t arg,
		     uint64_t tsc_hz);

/* Name a backend's vCPU thread "vcpu<i>" (best effort), so that tools
 * (bench/vs-qemu) can tell the guest's CPU time from the library's. */
void toyvm__name_vcpu_thread(pthread_t t, unsigned i);

/* Called by a backend's first vCPU thread (@tv: struct toyvm). */
void toyvm__note_start(void *tv);

/* Backend choice: "kvm", "software" or "auto" (kvm if /dev/kvm opens). */
int toyvm__pick_backend(struct toyvm *vm, const char *name);

#endif
