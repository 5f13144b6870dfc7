/* SPDX-License-Identifier: MIT */
/*
 * The KVM trackers' slot bookkeeping, which needs no KVM: checking slots,
 * binding them to regions, and moving dirty bits between a slot's bitmap and
 * its region's at aligned and unaligned page offsets.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tracker/kvm_track.h"
#include "testutil.h"

#define PG VMMIG_PAGE_SIZE

static struct vmmig_tracker_region region(uint32_t id, unsigned index,
					  uint64_t gpa, uint64_t pages)
{
	static char host[PG] __attribute__((aligned(4096)));
	struct vmmig_tracker_region r = {
		.id = id, .index = index, .gpa = gpa, .host = host,
		.size = pages * PG, .npages = pages,
	};
	return r;
}

static int test_bit(const uint64_t *b, uint64_t p)
{
	return (b[p / 64] >> (p % 64)) & 1;
}

START_TEST(copy_rejects_bad_slots)
{
	struct vmmig_kvm_slot s[2] = {
		{ .slot = 1, .gpa = 0, .size = 8 * PG },
		{ .slot = 1, .gpa = 8 * PG, .size = 8 * PG },
	};
	struct kvm_track_cfg cfg = { .vm_fd = 3, .slots = s, .nslots = 2 };
	struct kslot *k;

	ck_assert_int_eq(kslots_copy(&cfg, &k), -EINVAL); /* same slot id */
	s[1].slot = 2;
	s[1].size = PG + 1;
	ck_assert_int_eq(kslots_copy(&cfg, &k), -EINVAL); /* size */
	s[1].size = PG;
	s[1].gpa = 100;
	ck_assert_int_eq(kslots_copy(&cfg, &k), -EINVAL); /* alignment */
	s[1].gpa = 8 * PG;
	s[1].flags = 1; /* KVM_MEM_LOG_DIRTY_PAGES: the tracker's to set */
	ck_assert_int_eq(kslots_copy(&cfg, &k), -EINVAL);
	s[1].flags = 0;
	cfg.vm_fd = -1;
	ck_assert_int_eq(kslots_copy(&cfg, &k), -EINVAL);
	cfg.vm_fd = 3;
	ck_assert_int_eq(kslots_copy(&cfg, &k), 0);
	ck_assert_uint_eq(k[0].npages, 8);
	ck_assert_uint_eq(k[1].npages, 1);
	kslots_free(k, 2);
}
END_TEST

START_TEST(bind_finds_region_and_offset)
{
	struct vmmig_kvm_slot s = { .slot = 0, .region_id = 7,
				    .gpa = 0x100000 + 3 * PG, .size = 5 * PG };
	struct kvm_track_cfg cfg = { .vm_fd = 3, .slots = &s, .nslots = 1 };
	struct vmmig_tracker_region r[2] = {
		region(1, 0, 0, 16), region(7, 1, 0x100000, 8),
	};
	struct kslot *k;

	ck_assert_int_eq(kslots_copy(&cfg, &k), 0);
	ck_assert_int_eq(kslots_bind(k, 1, r, 2), 0);
	ck_assert_uint_eq(k->region, 1);
	ck_assert_uint_eq(k->first_page, 3);
	ck_assert_ptr_eq(k->host, (char *)r[1].host + 3 * PG);
	/* One page past the region's end: refused. */
	k->s.size = 6 * PG;
	ck_assert_int_eq(kslots_bind(k, 1, r, 2), -EINVAL);
	/* Unknown region id: refused. */
	k->s.size = 5 * PG;
	k->s.region_id = 9;
	ck_assert_int_eq(kslots_bind(k, 1, r, 2), -EINVAL);
	kslots_free(k, 1);
}
END_TEST

/* Round trip of the bits of a slot of @n pages at region page @first. */
static void round_trip(uint64_t first, uint64_t n)
{
	struct vmmig_kvm_slot s = { .gpa = first * PG, .size = n * PG };
	struct kvm_track_cfg cfg = { .vm_fd = 3, .slots = &s, .nslots = 1 };
	uint64_t rpages = first + n + 70, words = (rpages + 63) / 64;
	uint64_t *rb = calloc(words, 8), *back = calloc(words, 8);
	struct vmmig_tracker_region r = region(0, 0, 0, rpages);
	struct kslot *k;

	ck_assert_int_eq(kslots_copy(&cfg, &k), 0);
	ck_assert_int_eq(kslots_bind(k, 1, &r, 1), 0);
	/* Every third page of the slot, plus its first and last. */
	for (uint64_t p = 0; p < n; p++)
		if (p % 3 == 0 || p == n - 1)
			k->bits[p / 64] |= 1ull << (p % 64);
	kslot_to_region(k, rb);
	for (uint64_t p = 0; p < rpages; p++) {
		int want = p >= first && p < first + n &&
			   ((p - first) % 3 == 0 || p == first + n - 1);

		ck_assert_msg(test_bit(rb, p) == want, "first %llu n %llu: "
			      "page %llu", (unsigned long long)first,
			      (unsigned long long)n, (unsigned long long)p);
	}
	/* Back: the region's bits outside the slot must not leak in. */
	for (uint64_t w = 0; w < words; w++)
		back[w] = rb[w];
	back[0] |= 1; /* page 0 is outside every slot with first > 0 */
	ck_assert_int_eq(kslot_from_region(k, back), 1);
	for (uint64_t p = 0; p < n; p++)
		ck_assert_int_eq(test_bit(k->bits, p),
				 p % 3 == 0 || p == n - 1);
	for (uint64_t p = n; p < (n + 63) / 64 * 64; p++)
		ck_assert_int_eq(test_bit(k->bits, p), 0);
	memset(back, 0, words * 8);
	ck_assert_int_eq(kslot_from_region(k, back), 0);
	kslots_free(k, 1);
	free(rb);
	free(back);
}

START_TEST(bits_aligned_and_not)
{
	static const uint64_t firsts[] = { 0, 1, 5, 63, 64, 65, 128 };
	static const uint64_t sizes[] = { 1, 2, 63, 64, 65, 200 };

	for (unsigned i = 0; i < sizeof(firsts) / sizeof(firsts[0]); i++)
		for (unsigned j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++)
			round_trip(firsts[i],
				   sizes[j]);
}
END_TEST

START_TEST(ring_full_rejects_other_trackers)
{
	struct vmmig_tracker *t;

	ck_assert_int_eq(vmmig_tracker_new_manual(&t), 0);
	ck_assert_int_eq(vmmig_tracker_kvm_ring_full(t), -EINVAL);
	ck_assert_int_eq(vmmig_tracker_kvm_ring_full(NULL), -EINVAL);
	vmmig_tracker_free(t);
	ck_assert_int_eq(vmmig_tracker_new_kvm_bitmap(3, NULL, 0, &t),
			 -EINVAL);
	ck_assert_int_eq(vmmig_tracker_new_kvm_ring(3, NULL, 0, 4096, NULL, 0,
						    &t), -EINVAL);
	ck_assert_int_eq(vmmig_kvm_dirty_ring_enable(3, 1000), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kvm_slots");
	TCase *tc = tcase_create("slots");

	tcase_add_test(tc, copy_rejects_bad_slots);
	tcase_add_test(tc, bind_finds_region_and_offset);
	tcase_add_test(tc, bits_aligned_and_not);
	tcase_add_test(tc, ring_full_rejects_other_trackers);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
