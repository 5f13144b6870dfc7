/* SPDX-License-Identifier: MIT */
/* Guest memory: allocation, initial content, prefaulting, TSC rate. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "toyvmm.h"

int guestmem__alloc(struct toyvm *vm, uint64_t size)
{
	void *p;

	/* The KVM payload's page tables stop at TOY_MAX_MEM; the software
	 * guest (benchmarks of 4-6 GiB guests) is not bound by them. */
	uint64_t max = vm->ops == &swguest_ops ? TOY_SW_MAX_MEM : TOY_MAX_MEM;

	if (size < TOY_MIN_MEM || size > max || size % (2u << 20))
		return -EINVAL;
	/* Anonymous private memory: what uffd-wp and KVM both accept. */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	vm->mem = p;
	vm->mem_size = size;
	vm->shared = (struct toy_shared *)(vm->mem + TOY_SHARED_GPA);
	return 0;
}

void guestmem__free(struct toyvm *vm)
{
	if (vm->mem)
		munmap(vm->mem, vm->mem_size);
	vm->mem = NULL;
	vm->shared = NULL;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Only the workload area: the low 4 MiB hold page tables, payload, stack. */
void guestmem__fill(struct toyvm *vm, enum fill_kind fill)
{
	uint64_t seed = 42;

	for (uint64_t off = TOY_WORK_GPA; off < vm->mem_size; off += 4096) {
		uint64_t *w = (uint64_t *)(vm->mem + off);

		if (fill == FILL_ZERO ||
		    (fill == FILL_HALF && (off / 4096) % 2))
			continue;
		for (unsigned i = 0; i < 512; i++)
			w[i] = splitmix(&seed);
	}
}

void guestmem__prefault(struct toyvm *vm)
{
	/* A write fault per page now, instead of during the migration. */
	for (uint64_t off = 0; off < vm->mem_size; off += 4096)
		((volatile uint8_t *)vm->mem)[off] = 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The host TSC rate, measured against CLOCK_MONOTONIC over ~20 ms. */
uint64_t guestmem__tsc_hz(void)
{
	struct timespec d = { 0, 20 * 1000 * 1000 };
	uint64_t t0 = now_ns(), c0 = wl_rdtsc();

	nanosleep(&d, NULL);
	uint64_t t1 = now_ns(), c1 = wl_rdtsc();

	if (t1 <= t0 || c1 <= c0)
		return 1000000000ull; /* can't tell: pretend 1 GHz */
	return (uint64_t)((double)(c1 - c0) * 1e9 / (double)(t1 - t0));
}

void toyvm__describe(struct toyvm *vm, uint32_t kind, uint32_t arg,
		     uint64_t tsc_hz)
{
	memset(vm->shared, 0, sizeof(*vm->shared));
	vm->shared->magic = TOY_MAGIC;
	vm->shared->kind = kind;
	vm->shared->arg = arg;
	vm->shared->mem_size = vm->mem_size;
	vm->shared->tsc_hz = tsc_hz;
	vm->shared->nvcpus = vm->nvcpus;
}

void toyvm__heartbeats(const struct toyvm *vm, uint64_t *hb)
{
	for (unsigned i = 0; i < TOY_MAX_VCPUS; i++)
		hb[i] = i < vm->nvcpus ? vm->shared->heartbeat[i] : 0;
}
