/* SPDX-License-Identifier: MIT */
/*
 * The history of real migrations between two processes: its rounds are the
 * stats' rounds, its bytes and pages add up to the totals, the pause is the
 * downtime, post-copy requests show up after the switch; and during the
 * first pass of a capped migration remaining_bytes shows what is left of it
 * from the start, going down.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "testutil.h"

#define GUEST_SIZE (32u << 20)
#define PAGES (GUEST_SIZE / 4096u)

/* Entries of @src's history into @r; how many. */
static int rounds_of(struct vmmig_source *src, struct vmmig_round *r, int max)
{
	r[0].struct_size = sizeof(r[0]);
	int n = vmmig_source_get_rounds(src, r, (size_t)max);

	ck_assert_int_ge(n, 0);
	ck_assert_int_le(n, max);
	return n;
}

/* The entries against the finished migration's stats. */
static void check_sums(const struct vmmig_round *r, int n,
		       const struct vmmig_stats *st)
{
	uint64_t bytes = 0, normal = 0, zero = 0, comp = 0, delta = 0, skip = 0;
	uint64_t rounds = 0, pauses = 0, prev_start = 0;

	for (int i = 0; i < n; i++) {
		ck_assert_uint_eq(r[i].struct_size, sizeof(r[0]));
		ck_assert_uint_ge(r[i].start_us, prev_start);
		prev_start = r[i].start_us;
		ck_assert_uint_le(r[i].start_us + r[i].duration_us,
				  st->total_time_us);
		bytes += r[i].bytes;
		normal += r[i].pages_normal;
		zero += r[i].pages_zero;
		comp += r[i].pages_compressed;
		delta += r[i].pages_delta;
		skip += r[i].pages_skipped;
		if (r[i].kind == VMMIG_ROUND_PRECOPY) {
			ck_assert_uint_eq(r[i].round, rounds);
			rounds += r[i].merged;
			ck_assert_uint_gt(r[i].duration_us, 0);
		}
		if (r[i].kind == VMMIG_ROUND_PAUSE) {
			pauses++;
			ck_assert_uint_eq(r[i].duration_us, st->downtime_us);
		}
	}
	ck_assert_uint_eq(rounds, st->rounds);
	ck_assert_uint_eq(pauses, 1);
	ck_assert_uint_eq(bytes, st->transferred_bytes);
	ck_assert_uint_eq(normal, st->pages_normal);
	ck_assert_uint_eq(zero, st->pages_zero);
	ck_assert_uint_eq(comp, st->pages_compressed);
	ck_assert_uint_eq(delta, st->pages_delta);
	ck_assert_uint_eq(skip, st->pages_skipped);
	/* The first pass sends every page once. */
	ck_assert_int_eq(r[0].kind, VMMIG_ROUND_PRECOPY);
	ck_assert_uint_eq(r[0].pass_pages, PAGES);
	ck_assert_uint_ge(r[0].pages_normal + r[0].pages_zero, PAGES);
}

START_TEST(precopy_capped)
{
	struct dest_opts dopt = { .listen = "tcp:127.0.0.1:0" };
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	struct vmmig_round r[VMMIG_HISTORY_MAX];
	uint64_t first = 0, last = 0, prev = UINT64_MAX;
	unsigned samples = 0;
	struct vmmig_source *src;
	struct dest_proc d;
	struct guest g;
	char json[16384];

	ck_assert_int_eq(guest_init(&g, GUEST_SIZE, FILL_RANDOM, false), 0);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &dopt), 0);
	src = guest_source(&g, &guest_source_ops);
	/* 64 MB/s: the first pass lasts about half a second. */
	vmmig_source_set_option(src, VMMIG_OPT_BANDWIDTH_LIMIT, 64000000);
	vmmig_source_set_option(src, VMMIG_OPT_DOWNTIME_LIMIT_MS, 1);
	vmmig_source_set_option(src, VMMIG_OPT_MAX_ROUNDS, 4);
	vmmig_source_set_option(src, VMMIG_OPT_VERIFY, 1);
	ck_assert_int_eq(guest_run(&g, 500), 0);
	ck_assert_int_eq(vmmig_source_start(src, d.uri), 0);

	/* Poll the first pass (bounded: 20 s at most). */
	for (int i = 0; i < 1000; i++) {
		ck_assert_int_eq(vmmig_source_get_stats(src, &st), 0);
		if (st.rounds > 0 || st.status > VMMIG_STATUS_ACTIVE)
			break;
		if (st.status == VMMIG_STATUS_ACTIVE && st.pass_pages) {
			ck_assert_uint_eq(st.pass_pages, PAGES);
			ck_assert_uint_le(st.pass_pages_done, PAGES);
			ck_assert_uint_eq(st.remaining_bytes,
					  (PAGES - st.pass_pages_done) * 4096u);
			ck_assert_uint_le(st.remaining_bytes, prev);
			prev = st.remaining_bytes;
			if (!samples++)
				first = st.remaining_bytes;
			last = st.remaining_bytes;
			if (st.total_time_us > 300000)
				ck_assert_uint_gt(st.bandwidth_bps, 0);
		}
		usleep(20000);
	}
	printf("first pass: %u samples, remaining %llu -> %llu bytes\n",
	       samples, (unsigned long long)first, (unsigned long long)last);
	ck_assert_uint_ge(samples, 3);
	/* What is left fell during the pass (so it was not 0 from the
	 * start). The last sample may be 0: every page sent, the round not
	 * closed yet (its DRAIN still on the way). */
	ck_assert_uint_gt(first, last);

	assert_migrated(src, &d);
	ck_assert_msg(memcmp(g.mem, d.mem, GUEST_SIZE) == 0,
		      "destination memory differs from the source at pause");
	ck_assert_int_eq(vmmig_source_get_stats(src, &st), 0);
	ck_assert_int_eq(st.status, VMMIG_STATUS_COMPLETED);
	ck_assert_uint_eq(st.remaining_bytes, 0);
	/* The last pass (the pause's) is done; the JSON says so too. */
	ck_assert_uint_eq(st.pass_pages_done, st.pass_pages);
	ck_assert_int_gt(vmmig_stats_to_json(&st, json, sizeof(json)), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"pass\":{\"pages\":"));

	int n = rounds_of(src, r, VMMIG_HISTORY_MAX);

	ck_assert_int_eq(n, (int)st.rounds + 1);
	check_sums(r, n, &st);
	ck_assert_int_eq(r[n - 1].kind, VMMIG_ROUND_PAUSE);
	ck_assert_uint_gt(r[n - 1].start_us,
			  r[n - 2].start_us + r[n - 2].duration_us - 1);
	/* The writer dirtied pages during each round. */
	ck_assert_uint_gt(r[0].dirty_pages, 0);
	ck_assert_uint_gt(r[0].bandwidth_bps, 0);

	struct vmmig_fault_series fs = { .struct_size = sizeof(fs) };

	ck_assert_int_eq(vmmig_source_get_faults(src, &fs), 0);
	ck_assert_uint_eq(fs.total, 0);
	ck_assert_uint_eq(fs.start_us, 0);
	ck_assert_int_gt(vmmig_history_to_json(r, (size_t)n, &fs, json,
					       sizeof(json)), 0);
	printf("%s\n", json);
	ck_assert_ptr_nonnull(strstr(json, "\"kind\":\"pause\""));
	vmmig_source_free(src);
	dest_release(&d);
	guest_destroy(&g);
}
END_TEST

/* The session postcopy_faults runs, for its pause callback. */
static struct vmmig_source *held_src;

/* The pause is the switch: from here the background push crawls (the
 * urgent channel that answers faults is not capped), so the pages dirtied
 * during the first pass are still missing when the destination's reader
 * starts, however the two processes are scheduled. */
static int pause_and_hold_push(void *opaque)
{
	int ret = guest_source_ops.pause(opaque);

	if (!ret)
		ret = vmmig_source_set_option(held_src,
					      VMMIG_OPT_BANDWIDTH_LIMIT,
					      1 << 20);
	return ret;
}

START_TEST(postcopy_faults)
{
	struct dest_opts dopt = { .listen = "tcp:127.0.0.1:0",
				  .vcpu_reads_ms = 300 };
	/* after the first pass */
	struct vmmig_postcopy_config pc = { .struct_size = sizeof(pc) };
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	struct vmmig_fault_series fs = { .struct_size = sizeof(fs) };
	struct vmmig_round r[VMMIG_HISTORY_MAX];
	struct vmmig_policy *pol;
	struct vmmig_source *src;
	struct dest_proc d;
	struct guest g;
	uint64_t sum = 0;

	ck_assert_int_eq(guest_init(&g, GUEST_SIZE, FILL_RANDOM, false), 0);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &dopt), 0);
	ck_assert_int_eq(vmmig_policy_new_postcopy(&pc, &pol), 0);
	struct vmmig_source_ops ops = guest_source_ops;

	ops.pause = pause_and_hold_push;
	src = held_src = guest_source(&g, &ops);
	ck_assert_int_eq(vmmig_source_set_policy(src, pol), 0);
	vmmig_source_set_option(src, VMMIG_OPT_VERIFY, 1);
	/* A first pass of some 160 ms, during which the guest dirties pages
	 * that post-copy then has to deliver. */
	vmmig_source_set_option(src, VMMIG_OPT_BANDWIDTH_LIMIT, 200 << 20);
	ck_assert_int_eq(guest_run(&g, 50), 0);
	ck_assert_int_eq(vmmig_source_start(src, d.uri), 0);
	/* Once a read has faulted, the rest may go at full speed (bounded:
	 * without a fault the assertion below fails). */
	for (int i = 0; i < 2000; i++) {
		ck_assert_int_eq(vmmig_source_get_faults(src, &fs), 0);
		if (fs.total)
			break;
		usleep(5000);
	}
	ck_assert_int_eq(vmmig_source_set_option(src,
						 VMMIG_OPT_BANDWIDTH_LIMIT, 0),
			 0);
	assert_migrated(src, &d);
	ck_assert_msg(memcmp(g.mem, d.mem, GUEST_SIZE) == 0,
		      "destination memory differs from the source at pause");
	ck_assert_int_eq(vmmig_source_get_stats(src, &st), 0);

	int n = rounds_of(src, r, VMMIG_HISTORY_MAX);

	ck_assert_int_eq(n, (int)st.rounds + 2);
	check_sums(r, n, &st);
	ck_assert_int_eq(r[n - 2].kind, VMMIG_ROUND_PAUSE);
	ck_assert_int_eq(r[n - 1].kind, VMMIG_ROUND_POSTCOPY);
	ck_assert_uint_eq(r[n - 1].start_us,
			  r[n - 2].start_us + r[n - 2].duration_us);
	ck_assert_uint_eq(r[n - 1].duration_us, st.postcopy_time_us);
	ck_assert_uint_eq(r[n - 1].bytes + r[n - 2].bytes >= st.postcopy_bytes,
			  1);

	ck_assert_int_eq(vmmig_source_get_faults(src, &fs), 0);
	ck_assert_uint_eq(fs.start_us, r[n - 1].start_us);
	ck_assert_uint_gt(fs.total, 0);
	ck_assert_uint_ge(fs.nbins, 1);
	ck_assert_uint_le(fs.nbins, VMMIG_FAULT_BINS);
	for (unsigned i = 0; i < VMMIG_FAULT_BINS; i++)
		sum += fs.bins[i];
	ck_assert_uint_eq(sum, fs.total);
	printf("post-copy requests: %llu in %u bins of %llu us; faults %llu\n",
	       (unsigned long long)fs.total, fs.nbins,
	       (unsigned long long)fs.bin_us,
	       (unsigned long long)st.postcopy_faults);
	vmmig_source_free(src);
	vmmig_policy_free(pol);
	dest_release(&d);
	guest_destroy(&g);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rounds");
	TCase *tc = tcase_create("rounds");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, precopy_capped);
	tcase_add_test(tc, postcopy_faults);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
