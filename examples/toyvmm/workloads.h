/* SPDX-License-Identifier: MIT */
/*
 * Guest workloads, shared by the KVM payload (compiled freestanding, run at
 * CPL3 inside the VM) and the software guest (compiled for the host, run by
 * a thread on the same guest memory). No libc here: only this header's types.
 *
 * A workload is a step function over a small progress struct (its "vCPU
 * registers"): each step does a bounded quantum of work, so a runner can stop
 * between two steps, save the struct, and resume it elsewhere.
 */
#ifndef TOYVMM_WORKLOADS_H
#define TOYVMM_WORKLOADS_H

#include <stdint.h>

/* Guest-physical layout (identity mapped in the KVM guest). */
#define TOY_PML4_GPA    0x1000ull   /* page tables: PML4, PDPT, 4 PDs */
#define TOY_GDT_GPA     0x8000ull
#define TOY_TSS_GPA     0x9000ull
#define TOY_SHARED_GPA  0x10000ull  /* struct toy_shared */
#define TOY_PAYLOAD_GPA 0x100000ull /* payload code, at most 1 MiB */
#define TOY_STACK_TOP   0x300000ull /* payload stack grows down from here */
#define TOY_WORK_GPA    0x400000ull /* workloads' memory: to the end */
#define TOY_MIN_MEM     (16ull << 20)
#define TOY_MAX_MEM     (3ull << 30) /* below KVM_SET_TSS_ADDR's pages */
#define TOY_SW_MAX_MEM  (1ull << 40) /* software guest: sparse, NORESERVE */
#define TOY_MAX_VCPUS   8
#define TOY_VCPU_STACK  0x10000ull  /* vCPU n's stack: TOP - n * this */

/* Port I/O from the payload to the VMM. */
#define TOY_PORT_WAIT   0x10 /* nothing to do for a while: sleep me */
#define TOY_PORT_PANIC  0x11 /* the payload found its setup inconsistent */
#define TOY_PORT_DENIED 0x80 /* never granted: `out` there is a guest bug */

#define TOY_MAGIC 0x4d56594f54ull /* "TOYVM" */

/* matmul[:ORDER]: largest matrix order (three matrices of ORDER^2 words). */
#define WL_MATMUL_MAX_N 2048

enum wl_kind {
	WL_IDLE = 1,
	WL_MEMWRITE,
	WL_MATMUL,
	WL_REFRESH,
	WL_DBCACHE,      /* dbcache.h */
	WL_CRASH,        /* idle, then a forbidden `out` after arg ms */
};

/* One page at TOY_SHARED_GPA, written by the VMM before boot. */
struct toy_shared {
	uint64_t magic;            /* TOY_MAGIC */
	uint32_t kind;             /* enum wl_kind */
	uint32_t arg;              /* memwrite: MiB/s; refresh: working set MiB;
				    * matmul: matrix order (0: up to 256) */
	uint64_t mem_size;         /* guest memory bytes */
	uint64_t tsc_hz;           /* guest TSC frequency */
	uint32_t nvcpus;           /* vCPUs sharing the workload area */
	uint32_t reserved;
	/* Bumped by each vCPU's workload, read by the VMM. */
	volatile uint64_t heartbeat[TOY_MAX_VCPUS];
};

/* The workload's progress: everything it needs to continue. */
struct wl_cpu {
	uint32_t kind;
	uint32_t arg;
	uint32_t vcpu;             /* which vCPU: its heartbeat, its share */
	uint32_t reserved;
	uint64_t tsc_hz;
	uint64_t work_gpa, work_size; /* the memory it may write */
	uint64_t last_tsc;         /* pacing: TSC at the previous step */
	uint64_t credit;           /* memwrite: bytes it may write now */
	uint64_t pos;              /* next page / row / chunk */
	uint64_t seed;             /* pseudo-random stream */
	uint64_t iter;             /* completed passes */
	uint64_t n;                /* matmul: matrix order */
};

/* Where the guest memory is and who hears about writes (host build only). */
struct wl_env {
	uint8_t *base;             /* guest-physical 0; NULL inside the VM */
	void (*mark)(void *opaque, uint64_t gpa, uint64_t len); /* or NULL */
	void *opaque;
	/* Port output (dbcache's doorbell); NULL: a real `out` (in the VM). */
	void (*io)(void *io_opaque, uint16_t port);
	void *io_opaque;
};

enum { WL_RAN = 0, WL_WAIT = 1 };

/* Fill @c for vCPU @vcpu's share of the workload described by @sh (the
 * workload area split evenly between sh->nvcpus; dbcache runs on vCPU 0,
 * the others idle); initialises its matrices etc.
 * Return 0, or -1 if the description is unusable. */
int wl_init(struct wl_cpu *c, struct toy_shared *sh, const struct wl_env *e,
	    uint32_t vcpu);
/* Whether @c (e.g. from a state blob) keeps inside @mem_size bytes. */
int wl_valid(const struct wl_cpu *c, uint64_t mem_size);
/* One quantum of work. WL_WAIT: nothing due yet, the runner may sleep. */
int wl_step(struct wl_cpu *c, struct toy_shared *sh, const struct wl_env *e);

/* Port output: a real `out` in the VM, the VMM's hook in a host build. */
static inline void wl_out(const struct wl_env *e, uint16_t port)
{
	if (e->io)
		e->io(e->io_opaque, port);
	else
		__asm__ volatile("outb %0, %1" : : "a"((uint8_t)0), "Nd"(port));
}

static inline uint64_t wl_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

#endif
