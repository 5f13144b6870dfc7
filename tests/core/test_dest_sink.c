/* SPDX-License-Identifier: MIT */
/*
 * The destination's page sink (lib/dest/dest_sink.c), driven directly as
 * the wire reader drives it: where it lets raw and delta pages land in
 * each receive mode (in place, staged, placed after the post-copy switch),
 * what place() makes of guest memory (contents copied unless already in
 * place, a zero page clears only what is not zero and never touches a
 * page that was never populated), and a page an early DISCARD dropped is
 * refused before any of its bytes land.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dest/dest_feat.h"
#include "testutil.h"

#define NPAGES 8
#define PG 4096

static struct vmmig_dest *dst;
static struct receiver rv;
static uint8_t *mem;

static void setup(void)
{
	mem = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(mem, MAP_FAILED);
	ck_assert_int_eq(vmmig_dest_new(&dst), 0);
	ck_assert_int_eq(vmmig_dest_add_region(dst, 4, 0, mem, NPAGES * PG),
			 0);
	ck_assert_int_eq(dst_restore_init(dst), 0);
	rv = (struct receiver){ .dst = dst };
}

static void teardown(void)
{
	dst_restore_free(dst);
	vmmig_dest_free(dst);
	munmap(mem, NPAGES * PG);
}

static const struct wire_page_desc descs[5] = {
	{ .page = 1, .len = PG, .enc = WIRE_ENC_RAW },
	{ .page = 2, .len = 9, .enc = WIRE_ENC_DELTA },
	{ .page = 3, .len = 0, .enc = WIRE_ENC_ZERO },
	{ .page = 4, .len = 100, .enc = WIRE_ENC_ZSTD },
	{ .page = 5, .len = WIRE_HINT_SIZE, .enc = WIRE_ENC_HINT },
};

static void begin(bool staged, bool placing, void **into)
{
	rv.staged = staged;
	rv.placing = placing;
	memset(into, 0, 5 * sizeof(*into));
	ck_assert_int_eq(dst_sink_ops.begin(&rv, 0, descs, 5, into), 0);
}

START_TEST(where_pages_land)
{
	void *into[5];

	/* In place: raw received straight into guest memory, delta
	 * patched there; the rest decoded by the reader. */
	begin(false, false, into);
	ck_assert_ptr_eq(into[0], mem + 1 * PG);
	ck_assert_ptr_eq(into[1], mem + 2 * PG);
	ck_assert_ptr_null(into[2]);
	ck_assert_ptr_null(into[3]);
	ck_assert_ptr_null(into[4]);
	/* Staged: raw through the reader's buffer. */
	begin(true, false, into);
	ck_assert_ptr_null(into[0]);
	ck_assert_ptr_eq(into[1], mem + 2 * PG);
	/* Placed (post-copy): nothing in place, so a delta is refused. */
	begin(false, true, into);
	for (int i = 0; i < 5; i++)
		ck_assert_ptr_null(into[i]);
}
END_TEST

static bool resident(const uint8_t *p)
{
	unsigned char v;

	ck_assert_int_eq(mincore((void *)p, PG, &v), 0);
	return v & 1;
}

START_TEST(place_before_the_switch)
{
	static uint8_t page[PG];

	rv.staged = true;
	memset(page, 0x5a, PG);
	ck_assert_int_eq(dst_sink_ops.place(&rv, 0, 1, page), 0);
	ck_assert_mem_eq(mem + PG, page, PG);
	/* Already in place (received there): left as it is. */
	memset(mem + 2 * PG, 0x33, PG);
	ck_assert_int_eq(dst_sink_ops.place(&rv, 0, 2, mem + 2 * PG), 0);
	ck_assert_uint_eq(mem[2 * PG + 100], 0x33);
	/* A zero page clears what is not zero... */
	ck_assert_int_eq(dst_sink_ops.place(&rv, 0, 1, NULL), 0);
	memset(page, 0, PG);
	ck_assert_mem_eq(mem + PG, page, PG);
	/* ...and leaves a never-populated page unpopulated. */
	ck_assert(!resident(mem + 6 * PG));
	ck_assert_int_eq(dst_sink_ops.place(&rv, 0, 6, NULL), 0);
	ck_assert(!resident(mem + 6 * PG));
	/* Pages nobody named stay as they were. */
	ck_assert(!resident(mem + 7 * PG));
}
END_TEST

START_TEST(early_dropped_page_refused)
{
	struct postcopy_dst pc = { 0 };
	struct pc_region r = { 0 };
	uint64_t dropped = 1ull << 2;
	void *into[5];

	r.dropped = &dropped;
	pc.r = &r;
	dst->pc = &pc;
	atomic_store(&dst->early_dropped, true);
	rv.staged = false;
	rv.placing = false;
	memset(into, 0, sizeof(into));
	memset(mem + 2 * PG, 0x11, PG);
	/* Page 2 (the delta) was dropped early: the record is refused
	 * before the reader receives a byte of it. */
	ck_assert_int_eq(dst_sink_ops.begin(&rv, 0, descs, 5, into),
			 -EPROTO);
	ck_assert_int_eq(failure_code(&dst->sess.fail), -EPROTO);
	ck_assert_uint_eq(mem[2 * PG], 0x11);
	atomic_store(&dst->early_dropped, false);
	dst->pc = NULL;
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dest_sink");
	TCase *tc = tcase_create("dest_sink");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, where_pages_land);
	tcase_add_test(tc, place_before_the_switch);
	tcase_add_test(tc, early_dropped_page_refused);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
