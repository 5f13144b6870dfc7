/* SPDX-License-Identifier: MIT */
/*
 * What one pre-copy round costs the source besides sending, on a large
 * sparse guest: a dirty sync of the tracker, then the bitmap passes the
 * source makes over it (clear the bitmap, take the dirty words, count,
 * walk for the senders; all by 64-page word, skipping zero words). The
 * guest is GIB gibibytes of never-populated anonymous memory of which
 * PCT percent of the pages are written between two syncs, in runs of RUN
 * pages spread evenly over the guest (RUN 1: every 100/PCT-th page, the
 * worst case for a tracker that walks page tables, as every 2 MiB of the
 * guest then holds written pages; RUN 512: whole 2 MiB ranges, the
 * written memory in as few page tables as it can be). Each round writes
 * other pages of the same spread, so the populated memory grows by PCT
 * percent a round. Prints one JSON line per tracker: manual (what an
 * emulator or a KVM dirty bitmap costs: a bitmap the size of the guest /
 * 32768) and uffd-wp (the kernel walks every entry of the page tables
 * that exist: the populated memory, in 2 MiB units).
 *
 *   sync_cost [GIB [PCT [REPS [RUN]]]]   (default 64 1 5 1)
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <vmmig/vmmig.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int run(const char *name, struct vmmig_tracker *t, uint8_t *mem,
	       uint64_t bytes, unsigned pct, unsigned reps, uint64_t len)
{
	uint64_t npages = bytes / 4096, words = (npages + 63) / 64;
	uint64_t *bm = calloc(words, 8), *next = calloc(words, 8);
	struct vmmig_tracker_region r = { .id = 0, .index = 0, .gpa = 0,
					  .host = mem, .size = bytes,
					  .npages = npages };
	double start_ms, ms[64], t0;
	uint64_t stride = 100 / pct * len, found = 0;
	bool manual = !strcmp(name, "manual");

	if (!bm || !next || reps > 64)
		return 1;
	t0 = now_ms();
	if (vmmig_tracker_start(t, &r, 1))
		return 1;
	start_ms = now_ms() - t0;
	for (unsigned k = 0; k < reps; k++) {
		for (uint64_t p = k * len % stride; p + len <= npages;
		     p += stride) {
			for (uint64_t q = p; q < p + len; q++)
				mem[q * 4096] = (uint8_t)(k + 1);
			if (manual)
				vmmig_tracker_manual_mark(t, 0, p * 4096,
							  len * 4096);
		}
		t0 = now_ms();
		memset(bm, 0, words * 8);
		if (vmmig_tracker_sync(t, 0, bm) ||
		    vmmig_tracker_clear(t, 0, bm))
			return 1;
		found = 0;
		for (uint64_t w = 0; w < words; w++)
			if (bm[w]) {
				next[w] |= bm[w];
				found += (uint64_t)__builtin_popcountll(bm[w]);
			}
		for (uint64_t w = 0; w < words; w++)
			if (next[w])
				next[w] = 0; /* the senders' walk */
		ms[k] = now_ms() - t0;
	}
	vmmig_tracker_stop(t);
	qsort(ms, reps, sizeof(ms[0]), cmp);
	printf("{\"tracker\": \"%s\", \"guest_gib\": %.0f, \"dirty_pct\": %u, "
	       "\"run_pages\": %llu, \"dirty_pages\": %llu, \"start_ms\": %.1f, "
	       "\"sync_ms_median\": %.2f, \"sync_ms_min\": %.2f, "
	       "\"sync_ms_max\": %.2f}\n", name, bytes / 1073741824.0, pct,
	       (unsigned long long)len, (unsigned long long)found, start_ms,
	       ms[reps / 2], ms[0], ms[reps - 1]);
	free(bm);
	free(next);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t gib = argc > 1 ? strtoull(argv[1], NULL, 0) : 64;
	unsigned pct = argc > 2 ? (unsigned)atoi(argv[2]) : 1;
	unsigned reps = argc > 3 ? (unsigned)atoi(argv[3]) : 5;
	uint64_t len = argc > 4 ? strtoull(argv[4], NULL, 0) : 1;
	uint64_t bytes = gib << 30;
	int ret = 0;

	if (pct < 1 || pct > 100 || reps < 1 || reps > 64 || len < 1 ||
	    len > (gib << 30) / 4096 / 100)
		return 2;
	for (int i = 0; i < 2; i++) {
		struct vmmig_tracker *t = NULL;
		uint8_t *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				    -1, 0);

		if (mem == MAP_FAILED)
			return 1;
		if (i == 0 ? vmmig_tracker_new_manual(&t)
			   : vmmig_tracker_new_uffd_wp(0, &t)) {
			fprintf(stderr, "sync_cost: no %s tracker here\n",
				i ? "uffd-wp" : "manual");
		} else {
			ret |= run(i ? "uffd-wp" : "manual", t, mem, bytes,
				   pct, reps, len);
		}
		vmmig_tracker_free(t);
		munmap(mem, bytes);
	}
	return ret;
}
