/* SPDX-License-Identifier: MIT */
/*
 * The KVM trackers against a tiny real-mode guest that writes one byte into
 * each of a few known pages: each tracker must report exactly those pages,
 * and after clear()/sync() exactly the pages of the next run. Skips (77)
 * where /dev/kvm can't be opened. UNTESTED where it was written (no KVM).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vmmig/tracker.h>

#include "testutil.h"

#define MEM_SIZE (1u << 20)
#define CODE1 0x1000 /* writes pages 3, 5, 7 */
#define CODE2 0x1100 /* writes page 9 */

struct tvm {
	int sys, vm, vcpu;
	int ring_bytes;          /* what the kernel granted, 0: no ring */
	struct kvm_run *run;
	size_t run_size;
	uint8_t *mem;
};

/* mov byte [addr], 1 (real mode, DS = 0) */
static uint8_t *emit_store(uint8_t *p, uint16_t addr)
{
	*p++ = 0xc6;
	*p++ = 0x06;
	*p++ = (uint8_t)addr;
	*p++ = (uint8_t)(addr >> 8);
	*p++ = 0x01;
	return p;
}

static void load_code(uint8_t *mem)
{
	uint8_t *p = mem + CODE1;

	p = emit_store(p, 0x3000);
	p = emit_store(p, 0x5000);
	p = emit_store(p, 0x7ff0);
	*p++ = 0xe6; /* out 0x10, al */
	*p++ = 0x10;
	p = emit_store(mem + CODE2, 0x9000);
	*p++ = 0xe6;
	*p++ = 0x10;
}

static int tvm_open(struct tvm *t, int ring_bytes)
{
	struct kvm_userspace_memory_region r = { 0 };
	struct kvm_sregs s;

	memset(t, 0, sizeof(*t));
	t->sys = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (t->sys < 0)
		return -errno;
	t->vm = ioctl(t->sys, KVM_CREATE_VM, 0);
	ck_assert_int_ge(t->vm, 0);
	if (ring_bytes) {
		int ret = vmmig_kvm_dirty_ring_enable(t->vm, ring_bytes);

		if (ret < 0) {
			close(t->vm);
			close(t->sys);
			return ret;
		}
		t->ring_bytes = ret;
	}
	t->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(t->mem, MAP_FAILED);
	load_code(t->mem);
	r.memory_size = MEM_SIZE;
	r.userspace_addr = (uintptr_t)t->mem;
	ck_assert_int_eq(ioctl(t->vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	t->vcpu = ioctl(t->vm, KVM_CREATE_VCPU, 0);
	ck_assert_int_ge(t->vcpu, 0);
	t->run_size = (size_t)ioctl(t->sys, KVM_GET_VCPU_MMAP_SIZE, 0);
	t->run = mmap(NULL, t->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      t->vcpu, 0);
	ck_assert_ptr_ne(t->run, MAP_FAILED);
	ck_assert_int_eq(ioctl(t->vcpu, KVM_GET_SREGS, &s), 0);
	s.cs.base = 0;
	s.cs.selector = 0;
	s.ds = s.es = s.ss = s.cs;
	s.ds.type = s.es.type = s.ss.type = 3;
	ck_assert_int_eq(ioctl(t->vcpu, KVM_SET_SREGS, &s), 0);
	return 0;
}

static void tvm_close(struct tvm *t)
{
	munmap(t->run, t->run_size);
	munmap(t->mem, MEM_SIZE);
	close(t->vcpu);
	close(t->vm);
	close(t->sys);
}

/* Run from @rip until the program's `out`; ring-full exits are harvested. */
static void tvm_run(struct tvm *t, uint64_t rip, struct vmmig_tracker *ring)
{
	struct kvm_regs regs = { .rip = rip, .rflags = 2 };

	ck_assert_int_eq(ioctl(t->vcpu, KVM_SET_REGS, &regs), 0);
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(ioctl(t->vcpu, KVM_RUN, 0), 0);
		if (t->run->exit_reason == KVM_EXIT_IO)
			return;
		ck_assert_uint_eq(t->run->exit_reason,
				  KVM_EXIT_DIRTY_RING_FULL);
		ck_assert_int_eq(vmmig_tracker_kvm_ring_full(ring), 0);
	}
	ck_abort_msg("guest did not reach its out instruction");
}

static void check_pages(const uint64_t *bm, uint64_t expect)
{
	/* 256 pages: 4 words; only word 0 may be non-zero. */
	ck_assert_msg(bm[0] == expect, "dirty %#llx, expected %#llx",
		      (unsigned long long)bm[0], (unsigned long long)expect);
	for (int w = 1; w < 4; w++)
		ck_assert_uint_eq(bm[w], 0);
}

static void exercise(struct tvm *t, struct vmmig_tracker *tr, int ring)
{
	struct vmmig_tracker_region reg = {
		.id = 0, .index = 0, .gpa = 0, .host = t->mem,
		.size = MEM_SIZE, .npages = MEM_SIZE / 4096,
	};
	uint64_t bm[4] = { 0 };

	ck_assert_int_eq(vmmig_tracker_start(tr, &reg, 1), 0);
	tvm_run(t, CODE1, ring ? tr : NULL);
	if (ring) /* harvested early: must still come out of sync() */
		ck_assert_int_eq(vmmig_tracker_kvm_ring_full(tr), 0);
	ck_assert_int_eq(vmmig_tracker_sync(tr, 0, bm), 0);
	check_pages(bm, 1u << 3 | 1u << 5 | 1u << 7);
	ck_assert_int_eq(vmmig_tracker_clear(tr, 0, bm), 0);

	memset(bm, 0, sizeof(bm));
	tvm_run(t, CODE2, ring ? tr : NULL);
	ck_assert_int_eq(vmmig_tracker_sync(tr, 0, bm), 0);
	check_pages(bm, 1u << 9);
	vmmig_tracker_stop(tr);
}

START_TEST(bitmap_exact)
{
	struct tvm t;
	struct vmmig_kvm_slot slot = { .slot = 0, .size = MEM_SIZE };
	struct vmmig_tracker *tr;

	ck_assert_int_eq(tvm_open(&t, 0), 0);
	ck_assert_int_eq(vmmig_tracker_new_kvm_bitmap(t.vm, &slot, 1, &tr), 0);
	exercise(&t, tr, 0);
	vmmig_tracker_free(tr);
	tvm_close(&t);
}
END_TEST

START_TEST(ring_exact)
{
	struct tvm t;
	struct vmmig_kvm_slot slot = { .slot = 0, .size = MEM_SIZE };
	struct vmmig_tracker *tr;
	int ret = tvm_open(&t, 65536);

	if (ret == -ENOTSUP)
		return; /* kernel without dirty rings: nothing to test */
	ck_assert_int_eq(ret, 0);
	ck_assert_int_eq(vmmig_tracker_new_kvm_ring(t.vm, &t.vcpu, 1,
						    (uint32_t)t.ring_bytes,
						    &slot, 1, &tr), 0);
	exercise(&t, tr, 1);
	vmmig_tracker_free(tr);
	tvm_close(&t);
}
END_TEST

START_TEST(bad_args)
{
	struct vmmig_kvm_slot slot = { .slot = 0, .size = 4095 };
	struct vmmig_tracker *tr;

	ck_assert_int_eq(vmmig_tracker_new_kvm_bitmap(-1, &slot, 1, &tr),
			 -EINVAL);
	ck_assert_int_eq(vmmig_tracker_new_kvm_bitmap(0, NULL, 0, &tr),
			 -EINVAL);
	ck_assert_int_eq(vmmig_tracker_kvm_ring_full(NULL), -EINVAL);
}
END_TEST

int main(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	Suite *s;
	TCase *tc;

	if (fd < 0)
		return vmtest_skip("/dev/kvm can't be opened");
	close(fd);
	s = suite_create("kvm_trackers");
	tc = tcase_create("kvm");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, bitmap_exact);
	tcase_add_test(tc, ring_exact);
	tcase_add_test(tc, bad_args);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
