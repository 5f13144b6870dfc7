/* SPDX-License-Identifier: MIT */
/*
 * 64-bit long mode set up by the VMM, so that the guest never runs kernel
 * code (emulated ~4000x slower under PVM): identity-mapped 2 MiB pages that
 * user mode may touch, a GDT with CPL0 and CPL3 segments, a TSS, no IDT
 * (the payload takes no interrupts; a fault is a triple fault: the VMM sees
 * KVM_EXIT_SHUTDOWN). The payload starts at CPL3 and reaches the VMM with
 * `out` to the ports the TSS I/O permission bitmap grants it (and paces
 * itself with `rdtsc`).
 *
 * Why a bitmap and not RFLAGS.IOPL=3: under PVM (KVM without VMX/SVM) an
 * IOPL set through KVM_SET_REGS does not take effect, so CPL3 `out` raised
 * #GP, a triple fault with no IDT. The bitmap works on every KVM; IOPL stays
 * 0 so that a port the VMM did not grant faults the same way everywhere.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm.h"
#include "dbcache.h"
#include "workloads.h"

#define PTE_P   (1ull << 0)
#define PTE_RW  (1ull << 1)
#define PTE_US  (1ull << 2)
#define PTE_PS  (1ull << 7)   /* 2 MiB page in a PD entry */

#define CR0_PE  (1ull << 0)
#define CR0_MP  (1ull << 1)
#define CR0_ET  (1ull << 4)
#define CR0_NE  (1ull << 5)
#define CR0_WP  (1ull << 16)
#define CR0_PG  (1ull << 31)
#define CR4_PAE (1ull << 5)
#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define RFLAGS_FIXED (1ull << 1) /* bit 1 is reserved-one */

/* GDT selectors. */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UDATA 0x18
#define SEL_UCODE 0x20
#define SEL_TSS   0x28
#define GDT_ENTRIES 7 /* null, 4 segments, a 16-byte TSS descriptor */

/* The 64-bit TSS is 104 bytes; the I/O bitmap follows it. Each bit is a
 * port, 1 = #GP; the CPU reads two bytes for a port, so a byte of all ones
 * ends the map inside the limit. */
#define TSS_SIZE        0x68
#define TSS_IOMAP_OFF   TSS_SIZE
#define TSS_IOMAP_PORTS 256   /* ports 0..255 described, all others #GP */
#define TSS_LIMIT       (TSS_IOMAP_OFF + TSS_IOMAP_PORTS / 8) /* last byte */

const uint16_t longmode_ports[LONGMODE_NPORTS] = {
	TOY_PORT_WAIT, TOY_PORT_PANIC, TOY_PORT_DBHINT,
};

static void put64(uint8_t *mem, uint64_t gpa, uint64_t v)
{
	memcpy(mem + gpa, &v, sizeof(v));
}

void longmode__tables(uint8_t *mem, uint64_t mem_size)
{
	uint64_t pdpt = TOY_PML4_GPA + 0x1000, pd = TOY_PML4_GPA + 0x2000;
	uint64_t tss_lo, tss_hi, base = TOY_TSS_GPA;

	memset(mem + TOY_PML4_GPA, 0, 6 * 0x1000);
	put64(mem, TOY_PML4_GPA, pdpt | PTE_P | PTE_RW | PTE_US);
	for (uint64_t gb = 0; gb < 4; gb++)
		put64(mem, pdpt + gb * 8,
		      (pd + gb * 0x1000) | PTE_P | PTE_RW | PTE_US);
	/* Identity map guest memory (a multiple of 2 MiB), nothing more. */
	for (uint64_t a = 0; a < mem_size; a += 2ull << 20)
		put64(mem, pd + (a >> 21) * 8,
		      a | PTE_P | PTE_RW | PTE_US | PTE_PS);

	memset(mem + TOY_GDT_GPA, 0, GDT_ENTRIES * 8);
	put64(mem, TOY_GDT_GPA + SEL_KCODE, 0x00209b0000000000ull); /* L, DPL0 */
	put64(mem, TOY_GDT_GPA + SEL_KDATA, 0x00cf93000000ffffull);
	put64(mem, TOY_GDT_GPA + SEL_UDATA, 0x00cff3000000ffffull); /* DPL3 */
	put64(mem, TOY_GDT_GPA + SEL_UCODE, 0x0020fb0000000000ull); /* L, DPL3 */
	/* 64-bit available TSS (type 9), present, DPL0. */
	tss_lo = (TSS_LIMIT & 0xffff) | (base & 0xffffff) << 16 |
		 0x89ull << 40 | ((TSS_LIMIT >> 16) & 0xfull) << 48 |
		 ((base >> 24) & 0xff) << 56;
	tss_hi = base >> 32;
	put64(mem, TOY_GDT_GPA + SEL_TSS, tss_lo);
	put64(mem, TOY_GDT_GPA + SEL_TSS + 8, tss_hi);

	memset(mem + TOY_TSS_GPA, 0, 0x1000);
	/* RSP0 (offset 4): a stack for CPL0 if anything ever switches there. */
	put64(mem, TOY_TSS_GPA + 4, TOY_PAYLOAD_GPA - 16);
	/* I/O map base (offset 102): every port denied but the payload's. */
	mem[TOY_TSS_GPA + 102] = TSS_IOMAP_OFF & 0xff;
	mem[TOY_TSS_GPA + 103] = TSS_IOMAP_OFF >> 8;
	memset(mem + TOY_TSS_GPA + TSS_IOMAP_OFF, 0xff,
	       TSS_IOMAP_PORTS / 8 + 1);
	for (unsigned i = 0; i < LONGMODE_NPORTS; i++) {
		uint16_t port = longmode_ports[i];

		mem[TOY_TSS_GPA + TSS_IOMAP_OFF + port / 8] &=
			(uint8_t)~(1u << (port % 8));
	}
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type,
		uint8_t dpl, uint8_t l, uint8_t db)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = dpl;
	s->db = db;
	s->s = 1;
	s->l = l;
	s->g = 1;
}

int longmode__enter(struct kvm_vcpu *c, uint64_t rip, uint64_t rsp)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(c->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs.cr3 = TOY_PML4_GPA;
	sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	sregs.efer = EFER_LME | EFER_LMA;
	/* CPL3 64-bit code; data segments DPL3 (type 3: rw, accessed). */
	seg(&sregs.cs, SEL_UCODE | 3, 11, 3, 1, 0);
	seg(&sregs.ss, SEL_UDATA | 3, 3, 3, 0, 1);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.base = TOY_TSS_GPA;
	sregs.tr.limit = TSS_LIMIT;
	sregs.tr.selector = SEL_TSS;
	sregs.tr.type = 11; /* 64-bit TSS, busy */
	sregs.tr.present = 1;
	memset(&sregs.ldt, 0, sizeof(sregs.ldt));
	sregs.ldt.type = 2;
	sregs.ldt.present = 1;
	sregs.ldt.unusable = 1;
	sregs.gdt.base = TOY_GDT_GPA;
	sregs.gdt.limit = GDT_ENTRIES * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	if (ioctl(c->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rsp = rsp;
	regs.rdi = c->id; /* _start(vcpu): the payload's share of the work */
	regs.rflags = RFLAGS_FIXED; /* IOPL 0, IF off */
	if (ioctl(c->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	/* With the in-kernel LAPIC every vCPU but 0 is an application
	 * processor that waits for INIT/SIPI (MP state UNINITIALIZED):
	 * KVM_RUN would block forever. The VMM starts it directly. */
	if (ioctl(c->fd, KVM_SET_MP_STATE,
		  &(struct kvm_mp_state){ KVM_MP_STATE_RUNNABLE }) < 0)
		return -errno;
	return 0;
}
