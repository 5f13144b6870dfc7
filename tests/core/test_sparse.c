/* SPDX-License-Identifier: MIT */
/*
 * A large sparse guest (8 GiB of MAP_NORESERVE anonymous memory, a few MiB
 * of it populated) migrated in pre-copy with the uffd-wp tracker in async
 * mode (toyvmm's default), both sessions in this process over the
 * in-process transport, while a "vCPU" thread writes pages all over the
 * guest, most of them never populated before (holes the tracker does not
 * arm), until the source pauses it. Destination memory is compared with
 * the source page for page: pages that the kernel maps to nothing (or to
 * the zero page) on both sides read as zero on both; every other page is
 * compared byte for byte. The memory hash must match too. Skipped where
 * the kernel lacks WP_ASYNC + PAGEMAP_SCAN.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <vmmig/vmmig.h>

#include "base/pagemap.h"
#include "testutil.h"

#define PG 4096ull
#define BIG (8ull << 30)
#define NPAGES (BIG / PG)
#define WORDS (NPAGES / 64)
#define MAX_WRITES 40000

struct guest {
	uint8_t *mem;
	pthread_t th;
	atomic_int stop;
	int running;
	uint64_t writes;
	uint64_t seed;
};

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The "vCPU": random pages anywhere in the guest, a burst at a time
 * (named for tests/tsan.supp: its writes race the source by design). */
static void *sparse_guest_writer(void *arg)
{
	struct guest *g = arg;
	const struct timespec nap = { .tv_nsec = 100 * 1000 };

	while (!atomic_load(&g->stop) && g->writes < MAX_WRITES) {
		for (int k = 0; k < 16; k++, g->writes++) {
			uint64_t x = xorshift(&g->seed);
			uint64_t page = (x >> 11) % NPAGES;

			memcpy(g->mem + page * PG + (x % (PG / 8)) * 8, &x, 8);
		}
		nanosleep(&nap, NULL);
	}
	return NULL;
}

/* pause(): the vCPU stops before the library reads the last pages. */
static int guest_pause(void *o)
{
	struct guest *g = o;

	if (g->running) {
		atomic_store(&g->stop, 1);
		pthread_join(g->th, NULL);
		g->running = 0;
	}
	return 0;
}

static int nop(void *o)
{
	(void)o;
	return 0;
}

static uint8_t *map_big(void)
{
	uint8_t *m = mmap(NULL, BIG, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	ck_assert_ptr_ne(m, MAP_FAILED);
	madvise(m, BIG, MADV_NOHUGEPAGE);
	return m;
}

/* Page for page: zero on both sides by the page tables, or equal bytes. */
static void assert_same(const uint8_t *s, const uint8_t *d)
{
	uint64_t *zs = calloc(WORDS, 8), *zd = calloc(WORDS, 8);
	uint64_t compared = 0;

	ck_assert_ptr_nonnull(zs);
	ck_assert_ptr_nonnull(zd);
	ck_assert_int_ge(pagemap_zero_bitmap(s, NPAGES, true, zs), 0);
	ck_assert_int_ge(pagemap_zero_bitmap(d, NPAGES, true, zd), 0);
	for (uint64_t w = 0; w < WORDS; w++) {
		uint64_t both = zs[w] & zd[w];

		if (both == ~0ull)
			continue;
		for (unsigned b = 0; b < 64; b++) {
			uint64_t p = w * 64 + b;

			if (both >> b & 1)
				continue;
			compared++;
			ck_assert_msg(!memcmp(s + p * PG, d + p * PG, PG),
				      "page %llu differs",
				      (unsigned long long)p);
		}
	}
	printf("sparse: %llu pages compared byte for byte, the other %llu "
	       "zero on both sides\n", (unsigned long long)compared,
	       (unsigned long long)(NPAGES - compared));
	free(zs);
	free(zd);
}

START_TEST(sparse_precopy_uffd_wp)
{
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	const struct vmmig_source_ops sops = {
		.version = VMMIG_SOURCE_OPS_VERSION, .pause = guest_pause,
		.resume = nop };
	const struct vmmig_dest_ops dops = { .version = VMMIG_DEST_OPS_VERSION,
					     .start = nop };
	struct guest g = { .seed = 0x9e3779b97f4a7c15ull };
	struct vmmig_tracker *trk;
	struct vmmig_source *src;
	struct vmmig_dest *dst;
	uint8_t *dmem;
	int ret, dret;

	g.mem = map_big();
	dmem = map_big();
	/* Populated before the migration: 4 MiB at the start, a page every
	 * 64 MiB, the last page. */
	memset(g.mem, 0x5a, 4 << 20);
	for (uint64_t p = 0; p < NPAGES; p += 16384)
		g.mem[p * PG + 17] = (uint8_t)(p >> 14);
	g.mem[BIG - 1] = 0x77;

	ck_assert_int_eq(vmmig_tracker_new_uffd_wp(0, &trk), 0);
	ck_assert_int_eq(vmmig_tracker_uffd_wp_is_async(trk), 1);
	ck_assert_int_eq(vmmig_source_new(&src), 0);
	ck_assert_int_eq(vmmig_dest_new(&dst), 0);
	ck_assert_int_eq(vmmig_source_add_region(src, 1, 0, g.mem, BIG), 0);
	ck_assert_int_eq(vmmig_dest_add_region(dst, 1, 0, dmem, BIG), 0);
	ck_assert_int_eq(vmmig_source_set_tracker(src, trk), 0);
	ck_assert_int_eq(vmmig_source_set_ops(src, &sops, &g), 0);
	ck_assert_int_eq(vmmig_dest_set_ops(dst, &dops, NULL), 0);
	vmmig_source_set_option(src, VMMIG_OPT_VERIFY, 1);
	vmmig_source_set_option(src, VMMIG_OPT_IO_TIMEOUT_MS, 20000);
	vmmig_dest_set_option(dst, VMMIG_OPT_IO_TIMEOUT_MS, 20000);

	ck_assert_int_eq(pthread_create(&g.th, NULL, sparse_guest_writer, &g), 0);
	g.running = 1;
	ck_assert_int_eq(vmmig_dest_listen_transport(dst,
			 vmmig_transport_inproc(), "sparse", NULL, 0), 0);
	ck_assert_int_eq(vmmig_dest_start(dst), 0);
	ck_assert_int_eq(vmmig_source_start_transport(src,
			 vmmig_transport_inproc(), "sparse"), 0);
	ret = vmmig_source_wait(src);
	dret = vmmig_dest_wait(dst);
	guest_pause(&g);
	ck_assert_msg(ret == 0 && dret == 0, "source %d (%s), destination %d "
		      "(%s)", ret, vmmig_source_error(src) ?: "", dret,
		      vmmig_dest_error(dst) ?: "");
	ck_assert_int_eq(vmmig_source_get_stats(src, &st), 0);
	printf("sparse: %llu writes by the vCPU, %llu rounds, %llu zero "
	       "pages, %llu normal, total %.1f ms, downtime %.2f ms\n",
	       (unsigned long long)g.writes, (unsigned long long)st.rounds,
	       (unsigned long long)st.pages_zero,
	       (unsigned long long)st.pages_normal,
	       st.total_time_us / 1e3, st.downtime_us / 1e3);
	ck_assert_uint_gt(g.writes, 0);
	ck_assert_int_eq(st.verified, 1);
	assert_same(g.mem, dmem);

	vmmig_source_free(src);
	vmmig_dest_free(dst);
	vmmig_tracker_free(trk);
	munmap(g.mem, BIG);
	munmap(dmem, BIG);
}
END_TEST

int main(void)
{
	struct vmmig_tracker *t;
	Suite *su;
	TCase *tc;
	int async;

	if (vmmig_tracker_new_uffd_wp(0, &t) < 0)
		return vmtest_skip("userfaultfd write-protect unavailable");
	async = vmmig_tracker_uffd_wp_is_async(t);
	vmmig_tracker_free(t);
	if (async != 1)
		return vmtest_skip("kernel lacks UFFD_FEATURE_WP_ASYNC or "
				   "PAGEMAP_SCAN (Linux < 6.7)");
	su = suite_create("sparse");
	tc = tcase_create("sparse");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, sparse_precopy_uffd_wp);
	suite_add_tcase(su, tc);
	return vmtest_run(su);
}
