/* SPDX-License-Identifier: MIT */
/*
 * Zero runs (ZERO records) end to end, both sessions in this process over
 * the in-process transport: sparse guests of three regions whose sizes are
 * not multiples of 64 pages, never-populated memory mixed with pages that
 * hold data, pages written and zeroed again, pages only read (the zero
 * page). The destination's memory starts with garbage in some regions
 * (the runs must clear it) and untouched in others. Every migration is
 * compared byte for byte and verified by the memory hash.
 *
 * Racing: a transport wrapper writes into the first and last page of a
 * ZERO record's runs the moment the record is sent, so each of those
 * pages is dirtied right after its run went out: it must arrive with its
 * contents in a later round. Torn: raw pages go out straight from guest
 * memory (lib/wire/batch.c), so a wrapper writes a PAGES record's first
 * raw page when half of it has been sent: the page arrives torn (old first
 * half, new second half), no CRC objects (none covers page bytes), and the
 * write made the page dirty, so its whole new copy follows.
 *
 * Pipelined: over a transport that holds queued records back until the
 * library waits for them (lazy_pipe.c), a guest whose memory alternates
 * zero and data every 16 pages sends ZERO and PAGES records in turn
 * through the queue: each buffer must stay untouched until its record
 * left, or the stream arrives corrupt. The same link cut with records in
 * flight: the migration fails cleanly, the source's memory is untouched
 * and its guest resumed, the destination never starts it.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <vmmig/vmmig.h>

#include "lazy_pipe.h"
#include "testutil.h"

#define PG 4096u
#define NREG 3
static const uint64_t npages[NREG] = { 1000, 321, 4096 };
#define WIRE_ZERO_TYPE 0x8012

struct sides {
	uint8_t *smem[NREG], *dmem[NREG];
	struct vmmig_source *src;
	struct vmmig_dest *dst;
	struct vmmig_tracker *trk;
	bool manual;             /* trk is a manual tracker */
	atomic_int started;
	atomic_int pauses, resumes;
};

static struct sides *racing;     /* the wrapper writes into its source */
static atomic_uint race_writes;  /* pages it wrote */

static int dst_start(void *o)
{
	atomic_fetch_add(&((struct sides *)o)->started, 1);
	return 0;
}

static int src_pause(void *o)
{
	atomic_fetch_add(&((struct sides *)o)->pauses, 1);
	return 0;
}

static int src_resume(void *o)
{
	atomic_fetch_add(&((struct sides *)o)->resumes, 1);
	return 0;
}

static const struct vmmig_source_ops src_ops = {
	.version = VMMIG_SOURCE_OPS_VERSION, .pause = src_pause,
	.resume = src_resume };
static const struct vmmig_dest_ops dst_ops = {
	.version = VMMIG_DEST_OPS_VERSION, .start = dst_start };

static uint8_t *map_anon(uint64_t pages)
{
	uint8_t *m = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	ck_assert_ptr_ne(m, MAP_FAILED);
	/* 4 KiB pages: a huge page would populate the holes around them. */
	madvise(m, pages * PG, MADV_NOHUGEPAGE);
	return m;
}

static void fill_page(uint8_t *p, uint64_t seed)
{
	for (unsigned i = 0; i < PG / 8; i++) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		memcpy(p + 8 * i, &seed, 8);
	}
}

/* Sparse source memory: data at the region's ends and around word
 * boundaries, a page written then zeroed, a page only read. */
static void make_guest(uint8_t *m, uint64_t n, unsigned ri)
{
	const uint64_t data[] = { 0, 1, 63, 64, 127, n / 2, n - 2, n - 1 };
	volatile uint8_t sink;

	for (unsigned i = 0; i < sizeof(data) / sizeof(data[0]); i++)
		fill_page(m + data[i] * PG, 0x9e3779b97f4a7c15ull * (ri + 1) +
					    data[i] + 1);
	memset(m + 200 * PG, 0x11, PG);
	memset(m + 200 * PG, 0, PG);
	sink = m[300 * PG];
	(void)sink;
}

/* Destination memory: garbage everywhere (region 0), nothing (1), garbage
 * in the first half (2). */
static void make_dest(uint8_t *m, uint64_t n, unsigned ri)
{
	if (ri == 0)
		memset(m, 0xaa, n * PG);
	else if (ri == 2)
		memset(m, 0x55, n / 2 * PG);
}

static void sides_init(struct sides *s, bool uffd_tracker)
{
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(vmmig_source_new(&s->src), 0);
	ck_assert_int_eq(vmmig_dest_new(&s->dst), 0);
	for (unsigned i = 0; i < NREG; i++) {
		s->smem[i] = map_anon(npages[i]);
		s->dmem[i] = map_anon(npages[i]);
		make_guest(s->smem[i], npages[i], i);
		make_dest(s->dmem[i], npages[i], i);
		ck_assert_int_eq(vmmig_source_add_region(s->src, 10 + i,
							 (uint64_t)i << 32,
							 s->smem[i],
							 npages[i] * PG), 0);
		ck_assert_int_eq(vmmig_dest_add_region(s->dst, 10 + i,
						       (uint64_t)i << 32,
						       s->dmem[i],
						       npages[i] * PG), 0);
	}
	if (!uffd_tracker || vmmig_tracker_new_uffd_wp(0, &s->trk)) {
		ck_assert_int_eq(vmmig_tracker_new_manual(&s->trk), 0);
		s->manual = true;
	}
	ck_assert_int_eq(vmmig_source_set_tracker(s->src, s->trk), 0);
	ck_assert_int_eq(vmmig_source_set_ops(s->src, &src_ops, s), 0);
	ck_assert_int_eq(vmmig_dest_set_ops(s->dst, &dst_ops, s), 0);
	vmmig_source_set_option(s->src, VMMIG_OPT_VERIFY, 1);
	vmmig_source_set_option(s->src, VMMIG_OPT_IO_TIMEOUT_MS, 5000);
	vmmig_dest_set_option(s->dst, VMMIG_OPT_IO_TIMEOUT_MS, 5000);
}

/* Migrate and compare; at least @min_zero pages went as zero (in runs). */
static void migrate(struct sides *s, const struct vmmig_transport_ops *ops,
		    const char *name, uint64_t min_zero)
{
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	int ret, dret;

	ck_assert_int_eq(vmmig_dest_listen_transport(s->dst, ops, name, NULL,
						     0), 0);
	ck_assert_int_eq(vmmig_dest_start(s->dst), 0);
	ck_assert_int_eq(vmmig_source_start_transport(s->src, ops, name), 0);
	ret = vmmig_source_wait(s->src);
	dret = vmmig_dest_wait(s->dst);
	ck_assert_msg(ret == 0 && dret == 0, "source %d (%s), destination %d "
		      "(%s)", ret, vmmig_source_error(s->src) ?: "", dret,
		      vmmig_dest_error(s->dst) ?: "");
	ck_assert_int_eq(atomic_load(&s->started), 1);
	for (unsigned i = 0; i < NREG; i++)
		for (uint64_t p = 0; p < npages[i]; p++)
			ck_assert_msg(!memcmp(s->smem[i] + p * PG,
					      s->dmem[i] + p * PG, PG),
				      "region %u page %llu differs", i,
				      (unsigned long long)p);
	ck_assert_int_eq(vmmig_source_get_stats(s->src, &st), 0);
	ck_assert_int_eq(st.verified, 1);
	ck_assert_uint_ge(st.pages_zero, min_zero);
}

static void sides_free(struct sides *s)
{
	vmmig_source_free(s->src);
	vmmig_dest_free(s->dst);
	vmmig_tracker_free(s->trk);
	for (unsigned i = 0; i < NREG; i++) {
		munmap(s->smem[i], npages[i] * PG);
		munmap(s->dmem[i], npages[i] * PG);
	}
}

START_TEST(precopy_runs_across_region_ends)
{
	struct sides s;

	sides_init(&s, _i == 1);
	if (_i == 2)
		vmmig_source_set_option(s.src, VMMIG_OPT_CHANNELS, 3);
	migrate(&s, vmmig_transport_inproc(), "zr-pre", 5000);
	sides_free(&s);
}
END_TEST

/* ---- a page dirtied right after its run was sent ---- */

static void race_write(uint32_t region_id, uint64_t page)
{
	unsigned ri = region_id - 10;
	uint8_t *p;

	if (!racing || ri >= NREG || page >= npages[ri])
		return;
	p = racing->smem[ri] + page * PG;
	fill_page(p, 0xabcdef12345ull + page + ri);
	if (racing->manual)
		vmmig_tracker_manual_mark(racing->trk, region_id, page * PG,
					  PG);
	atomic_fetch_add(&race_writes, 1);
}

static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

/* inproc, but a ZERO record dirties its first and last page as it goes. */
static int racing_send(void *chan, const struct iovec *iov, int iovcnt)
{
	const uint8_t *h = iov[0].iov_base;
	int ret = vmmig_transport_inproc()->send(chan, iov, iovcnt);

	/* ZERO records are sent as one iovec: header then payload. */
	if (ret == 0 && iovcnt == 1 && iov[0].iov_len >= 16 + 8 + 16 &&
	    le(h, 2) == WIRE_ZERO_TYPE) {
		const uint8_t *pl = h + 16;
		uint32_t rid = (uint32_t)le(pl, 4), count = (uint32_t)le(pl + 4, 4);
		const uint8_t *last = pl + 8 + 16 * (size_t)(count - 1);

		race_write(rid, le(pl + 8, 8));
		race_write(rid, le(last, 8) + le(last + 8, 8) - 1);
	}
	return ret;
}

#define WIRE_PAGES_TYPE 0x8010
static atomic_int tears_left;   /* PAGES records still to tear */
static atomic_uint torn;        /* pages torn on the wire */

/* inproc, but the first raw page of a PAGES record is rewritten when half
 * of it has gone (its iovec points into guest memory). */
static int tearing_send(void *chan, const struct iovec *iov, int iovcnt)
{
	const struct vmmig_transport_ops *in = vmmig_transport_inproc();
	const uint8_t *h = iov[0].iov_base;
	struct iovec part[2 + 64];
	int ret;

	if (iovcnt < 2 || iovcnt > 1 + 64 || iov[0].iov_len < 16 + 8 + 16 ||
	    le(h, 2) != WIRE_PAGES_TYPE || h[16 + 8 + 8] != 1 /* RAW */ ||
	    iov[1].iov_len < PG || atomic_fetch_sub(&tears_left, 1) <= 0)
		return in->send(chan, iov, iovcnt);
	/* The head and half of the page, the write, then the rest. */
	part[0] = iov[0];
	part[1] = (struct iovec){ iov[1].iov_base, PG / 2 };
	ret = in->send(chan, part, 2);
	if (ret)
		return ret;
	race_write((uint32_t)le(h + 16, 4), le(h + 16 + 8, 8));
	atomic_fetch_add(&torn, 1);
	part[0] = (struct iovec){ (uint8_t *)iov[1].iov_base + PG / 2,
				  iov[1].iov_len - PG / 2 };
	memcpy(part + 1, iov + 2, (size_t)(iovcnt - 2) * sizeof(*iov));
	return in->send(chan, part, iovcnt - 1);
}

START_TEST(raw_page_torn_on_the_wire)
{
	static struct vmmig_transport_ops ops;
	struct sides s;

	ops = *vmmig_transport_inproc();
	ops.send = tearing_send;
	sides_init(&s, _i == 1);
	if (_i == 2)
		vmmig_source_set_option(s.src, VMMIG_OPT_CHANNELS, 3);
	racing = &s;
	atomic_store(&race_writes, 0);
	atomic_store(&torn, 0);
	atomic_store(&tears_left, 6);
	migrate(&s, &ops, "zr-torn", 5000);
	racing = NULL;
	ck_assert_uint_ge(atomic_load(&torn), 1);
	sides_free(&s);
}
END_TEST

START_TEST(page_dirtied_after_its_run_was_sent)
{
	static struct vmmig_transport_ops ops;
	struct sides s;

	ops = *vmmig_transport_inproc();
	ops.send = racing_send;
	sides_init(&s, _i == 1);
	if (_i == 2)
		vmmig_source_set_option(s.src, VMMIG_OPT_CHANNELS, 2);
	racing = &s;
	atomic_store(&race_writes, 0);
	migrate(&s, &ops, "zr-race", 5000);
	racing = NULL;
	ck_assert_uint_ge(atomic_load(&race_writes), 2);
	sides_free(&s);
}
END_TEST

/* ---- post-copy: runs placed with UFFDIO_ZEROPAGE after the switch ---- */

START_TEST(postcopy_with_zero_runs)
{
	struct vmmig_postcopy_config cfg = {
		.struct_size = sizeof(cfg),
		.flags = _i ? VMMIG_POSTCOPY_NO_FIRST_PASS : 0 };
	struct vmmig_policy *pol;
	struct sides s;

	if (!vmtest_uffd_available())
		return; /* reported by main() */
	sides_init(&s, true);
	ck_assert_int_eq(vmmig_policy_new_postcopy(&cfg, &pol), 0);
	ck_assert_int_eq(vmmig_source_set_policy(s.src, pol), 0);
	migrate(&s, vmmig_transport_inproc(), "zr-post", 5000);
	sides_free(&s);
	vmmig_policy_free(pol);
}
END_TEST

/* ---- pipelined: ZERO and PAGES records queued in turn ---- */

/* Data in every other group of 16 pages (64 KiB), as toyvmm's --fill mix
 * alternates kinds: zero runs and pages take turns in every bitmap word. */
static void add_mix(struct sides *s)
{
	for (unsigned ri = 0; ri < NREG; ri++)
		for (uint64_t p = 16; p < npages[ri]; p += 32)
			for (uint64_t k = p; k < p + 16 && k < npages[ri]; k++)
				fill_page(s->smem[ri] + k * PG,
					  0x51ed27ull * (ri + 1) + k);
}

START_TEST(zero_and_pages_pipelined)
{
	struct sides s;

	sides_init(&s, _i == 1);
	add_mix(&s);
	if (_i == 2)
		vmmig_source_set_option(s.src, VMMIG_OPT_CHANNELS, 2);
	lazy_reset(-1);
	migrate(&s, lazy_pipe_ops(), "zr-lazy", 2500);
	/* Both kinds went through the queue, in turn, with records held. */
	unsigned zeros = atomic_load(&lazy.queued_zero),
		 pages = atomic_load(&lazy.queued_pages),
		 turns = atomic_load(&lazy.switches),
		 held = atomic_load(&lazy.held_max);
	ck_assert_uint_ge(zeros, 20);
	ck_assert_uint_ge(pages, 20);
	ck_assert_uint_ge(turns, 20);
	ck_assert_uint_ge(held, 2);
	ck_assert_int_eq(atomic_load(&s.pauses), 1);
	ck_assert_int_eq(atomic_load(&s.resumes), 0);
	sides_free(&s);
}
END_TEST

START_TEST(pipelined_cut_mid_flight)
{
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	uint8_t *copy[NREG];
	struct sides s;
	int ret, dret;

	sides_init(&s, false);
	add_mix(&s);
	if (_i == 1)
		vmmig_source_set_option(s.src, VMMIG_OPT_CHANNELS, 2);
	for (unsigned ri = 0; ri < NREG; ri++) {
		copy[ri] = malloc(npages[ri] * PG);
		ck_assert_ptr_nonnull(copy[ri]);
		memcpy(copy[ri], s.smem[ri], npages[ri] * PG);
	}
	/* Mid first pass: the pass queues some 180 records. */
	lazy_reset(30);
	ck_assert_int_eq(vmmig_dest_listen_transport(s.dst, lazy_pipe_ops(),
						     "zr-cut", NULL, 0), 0);
	ck_assert_int_eq(vmmig_dest_start(s.dst), 0);
	ck_assert_int_eq(vmmig_source_start_transport(s.src, lazy_pipe_ops(),
						      "zr-cut"), 0);
	ret = vmmig_source_wait(s.src);
	dret = vmmig_dest_wait(s.dst);
	ck_assert(atomic_load(&lazy.cut));
	ck_assert_msg(ret == -ECONNRESET, "source: %d (%s)", ret,
		      vmmig_source_error(s.src) ?: "");
	ck_assert_int_ne(dret, 0);
	ck_assert_int_eq(atomic_load(&s.started), 0);
	ck_assert_int_eq(vmmig_source_get_stats(s.src, &st), 0);
	ck_assert_int_eq(st.status, VMMIG_STATUS_FAILED);
	ck_assert_int_eq(st.owner, VMMIG_OWNER_SOURCE);
	ck_assert_int_eq(atomic_load(&s.pauses), atomic_load(&s.resumes));
	unsigned zeros = atomic_load(&lazy.queued_zero),
		 pages = atomic_load(&lazy.queued_pages);
	ck_assert_uint_ge(zeros, 1);
	ck_assert_uint_ge(pages, 1);
	for (unsigned ri = 0; ri < NREG; ri++) {
		ck_assert_msg(!memcmp(copy[ri], s.smem[ri], npages[ri] * PG),
			      "source region %u was modified", ri);
		free(copy[ri]);
	}
	sides_free(&s);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("zero_ranges");
	TCase *tc = tcase_create("zero_ranges");

	tcase_set_timeout(tc, 120);
	/* 0: manual tracker, 1: uffd-wp where it works, 2: several
	 * channels (runs stop at stripe boundaries). */
	tcase_add_loop_test(tc, precopy_runs_across_region_ends, 0, 3);
	tcase_add_loop_test(tc, page_dirtied_after_its_run_was_sent, 0, 3);
	tcase_add_loop_test(tc, raw_page_torn_on_the_wire, 0, 3);
	tcase_add_loop_test(tc, zero_and_pages_pipelined, 0, 3);
	/* 0: one channel, 1: two. */
	tcase_add_loop_test(tc, pipelined_cut_mid_flight, 0, 2);
	if (vmtest_uffd_available())
		tcase_add_loop_test(tc, postcopy_with_zero_runs, 0, 2);
	else
		printf("SKIP: post-copy tests (no userfaultfd)\n");
	suite_add_tcase(su, tc);
	return vmtest_run(su);
}
