/* SPDX-License-Identifier: MIT */
/*
 * toyvmm's long-mode tables, decoded the way the CPU would: identity-mapped
 * 2 MiB user pages covering exactly guest memory, a 64-bit DPL3 code segment,
 * DPL3 data, and a 64-bit TSS at TOY_TSS_GPA whose I/O permission bitmap
 * grants the payload's ports and nothing else (IOPL stays 0: under PVM an
 * IOPL set by KVM_SET_REGS does not take effect). Runs without KVM (only
 * the table builder, not the vCPU setup).
 */
#include <stdlib.h>
#include <string.h>

#include "dbcache.h"
#include "kvm.h"
#include "testutil.h"
#include "workloads.h"

#define MEM (64ull << 20)

static uint64_t get64(const uint8_t *mem, uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, mem + gpa, 8);
	return v;
}

/* Walk the page tables for @va: the physical address, or ~0 if unmapped
 * or not user-writable. */
static uint64_t walk(const uint8_t *mem, uint64_t va)
{
	uint64_t e = get64(mem, TOY_PML4_GPA + ((va >> 39) & 511) * 8);

	if ((e & 7) != 7)
		return ~0ull;
	e = get64(mem, (e & ~0xfffull) + ((va >> 30) & 511) * 8);
	if ((e & 7) != 7 || (e & 0x80))
		return ~0ull;
	e = get64(mem, (e & ~0xfffull) + ((va >> 21) & 511) * 8);
	if ((e & 7) != 7 || !(e & 0x80))
		return ~0ull;
	return (e & ~0x1fffffull) + (va & 0x1fffff);
}

START_TEST(identity_user_pages)
{
	uint8_t *mem = calloc(1, MEM);

	ck_assert_ptr_nonnull(mem);
	longmode__tables(mem, MEM);
	for (uint64_t va = 0; va < MEM; va += 0x1ff000)
		ck_assert_uint_eq(walk(mem, va), va);
	ck_assert_uint_eq(walk(mem, MEM - 1), MEM - 1);
	ck_assert_uint_eq(walk(mem, MEM), ~0ull); /* nothing past memory */
	ck_assert_uint_eq(walk(mem, 1ull << 39), ~0ull);
	free(mem);
}
END_TEST

START_TEST(gdt_and_tss)
{
	uint8_t *mem = calloc(1, MEM);
	uint64_t ucode, udata, lo, hi, base, limit;

	ck_assert_ptr_nonnull(mem);
	longmode__tables(mem, MEM);
	ucode = get64(mem, TOY_GDT_GPA + 0x20);
	udata = get64(mem, TOY_GDT_GPA + 0x18);
	/* code: present, DPL3, S, executable; L=1, D=0 */
	ck_assert_uint_eq((ucode >> 47) & 1, 1);
	ck_assert_uint_eq((ucode >> 45) & 3, 3);
	ck_assert_uint_eq((ucode >> 43) & 1, 1);
	ck_assert_uint_eq((ucode >> 53) & 1, 1);
	ck_assert_uint_eq((ucode >> 54) & 1, 0);
	/* data: present, DPL3, writable, not code */
	ck_assert_uint_eq((udata >> 47) & 1, 1);
	ck_assert_uint_eq((udata >> 45) & 3, 3);
	ck_assert_uint_eq((udata >> 43) & 1, 0);
	ck_assert_uint_eq((udata >> 41) & 1, 1);
	/* TSS descriptor: type 9, present, base and limit */
	lo = get64(mem, TOY_GDT_GPA + 0x28);
	hi = get64(mem, TOY_GDT_GPA + 0x30);
	base = ((lo >> 16) & 0xffffff) | ((lo >> 56) & 0xff) << 24 | hi << 32;
	limit = (lo & 0xffff) | ((lo >> 48) & 0xf) << 16;
	ck_assert_uint_eq((lo >> 40) & 0xf, 9);
	ck_assert_uint_eq((lo >> 47) & 1, 1);
	ck_assert_uint_eq(base, TOY_TSS_GPA);
	/* The 104-byte TSS, then the I/O bitmap inside the limit. */
	ck_assert_uint_gt(limit, 0x67);
	ck_assert_uint_lt(limit, 0x1000);
	free(mem);
}
END_TEST

/* May CPL3 code with IOPL 0 execute `out` to @port? What the CPU checks:
 * the 16-bit word at iomap_base + port / 8 must lie inside the TSS limit,
 * and the port's bit must be clear. */
static int port_allowed(const uint8_t *tss, uint64_t limit, unsigned port)
{
	unsigned base = tss[102] | tss[103] << 8;
	unsigned at = base + port / 8;

	if (at + 1 > limit)
		return 0;
	return !((tss[at] | tss[at + 1] << 8) >> (port % 8) & 1);
}

START_TEST(io_bitmap_grants_payload_ports)
{
	uint8_t *mem = calloc(1, MEM);
	const uint8_t *tss = mem + TOY_TSS_GPA;
	uint64_t lo, limit;
	unsigned granted = 0;

	ck_assert_ptr_nonnull(mem);
	longmode__tables(mem, MEM);
	lo = get64(mem, TOY_GDT_GPA + 0x28);
	limit = (lo & 0xffff) | ((lo >> 48) & 0xf) << 16;
	/* The bitmap starts past the TSS proper and ends with a 0xff byte
	 * inside the limit (the CPU reads two bytes for the last ports). */
	ck_assert_uint_ge(tss[102] | tss[103] << 8, 0x68);
	ck_assert_uint_eq(tss[limit], 0xff);
	ck_assert(port_allowed(tss, limit, TOY_PORT_WAIT));
	ck_assert(port_allowed(tss, limit, TOY_PORT_PANIC));
	ck_assert(port_allowed(tss, limit, TOY_PORT_DBHINT));
	for (unsigned i = 0; i < LONGMODE_NPORTS; i++)
		ck_assert(port_allowed(tss, limit, longmode_ports[i]));
	/* Everything else faults: every port in the bitmap's range and
	 * beyond it (ports past the map read outside the limit). */
	for (unsigned port = 0; port < 0x10000; port++)
		granted += port_allowed(tss, limit, port);
	ck_assert_uint_eq(granted, LONGMODE_NPORTS);
	ck_assert(!port_allowed(tss, limit, 0x80));
	ck_assert(!port_allowed(tss, limit, 0xffff));
	/* The tables stay below the shared page and the payload. */
	ck_assert_uint_lt(TOY_GDT_GPA + 7 * 8, TOY_TSS_GPA);
	ck_assert_uint_lt(TOY_PML4_GPA + 6 * 0x1000, TOY_GDT_GPA + 1);
	free(mem);
}
END_TEST

START_TEST(payload_fits)
{
	/* Built freestanding, flat, entered at its first byte. */
	ck_assert_uint_gt(toyvmm_payload_size, 16);
	ck_assert_uint_lt(toyvmm_payload_size,
			  TOY_STACK_TOP - TOY_PAYLOAD_GPA -
			  TOY_MAX_VCPUS * TOY_VCPU_STACK);
	/* Each vCPU's stack lies between the payload and the work area. */
	ck_assert_uint_le(TOY_STACK_TOP, TOY_WORK_GPA);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("longmode");
	TCase *tc = tcase_create("tables");

	tcase_add_test(tc, identity_user_pages);
	tcase_add_test(tc, gdt_and_tss);
	tcase_add_test(tc, io_bitmap_grants_payload_ports);
	tcase_add_test(tc, payload_fits);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
