/* SPDX-License-Identifier: MIT */
/*
 * The guest payload: entered at CPL3 in 64-bit mode (longmode.c) on each
 * vCPU, with its own stack and its index in rdi, nothing else set up. It
 * runs its share of the workload the VMM described in the shared page, and
 * tells the VMM through port I/O when it has nothing to do. Built freestanding and loaded at TOY_PAYLOAD_GPA.
 */
#include "workloads.h"

/* The compiler may emit calls to these even in freestanding code. */
void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);

void *memset(void *d, int c, unsigned long n)
{
	unsigned char *p = d;

	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	unsigned char *p = d;
	const unsigned char *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

__attribute__((noreturn, section(".text.start"))) void _start(uint64_t vcpu);

/* The VMM enters here on every vCPU with rdi = the vCPU's index and rsp at
 * that vCPU's own stack. */
void _start(uint64_t vcpu)
{
	struct toy_shared *sh = (struct toy_shared *)(uintptr_t)TOY_SHARED_GPA;
	struct wl_env env = { 0 };
	struct wl_cpu cpu; /* on the stack: migrates with guest memory */

	if (wl_init(&cpu, sh, &env, (uint32_t)vcpu))
		for (;;)
			outb(TOY_PORT_PANIC, 1);
	for (;;)
		if (wl_step(&cpu, sh, &env) == WL_WAIT)
			outb(TOY_PORT_WAIT, 0);
}
