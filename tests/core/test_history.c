/* SPDX-License-Identifier: MIT */
/* The history's bookkeeping without a migration: entries add up (late
 * bytes join the last one), the cap folds late pre-copy rounds into one
 * entry, the fault series doubles its bin width instead of growing,
 * copy-out honours struct_size, and the JSON names every part. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <vmmig/vmmig.h>

#include "session/session.h"
#include "testutil.h"

/* Cumulative counters as a session would pass them. */
static struct vmmig_round sent(uint64_t bytes, uint64_t pages)
{
	return (struct vmmig_round){ .bytes = bytes, .pages_normal = pages };
}

START_TEST(entries_add_up)
{
	struct history h;
	struct vmmig_round out[4] = { { .struct_size = sizeof(out[0]) } };
	struct vmmig_round a = sent(1000, 10), b = sent(1500, 14),
			   c = sent(1600, 15);
	struct vmmig_round zero = { 0 };

	sess_history_init(&h);
	sess_history_begin(&h, VMMIG_ROUND_PRECOPY, 0, 10, h.t0 + 100, &zero);
	sess_history_end(&h, 4, h.t0 + 1100, &a);
	sess_history_begin(&h, VMMIG_ROUND_PRECOPY, 1, 4, h.t0 + 1200, &a);
	sess_history_end(&h, 1, h.t0 + 1700, &b);
	sess_history_begin(&h, VMMIG_ROUND_PAUSE, 0, 1, h.t0 + 1800, &b);
	sess_history_end(&h, 0, h.t0 + 1900, &c);
	ck_assert_int_eq(sess_history_copy_rounds(&h, out, 4), 3);
	ck_assert_uint_eq(out[0].bytes + out[1].bytes + out[2].bytes, 1600);
	ck_assert_uint_eq(out[1].pages_normal, 4);
	ck_assert_uint_eq(out[0].start_us, 100);
	ck_assert_uint_eq(out[0].duration_us, 1000);
	ck_assert_uint_eq(out[0].bandwidth_bps, 1000000);
	ck_assert_uint_eq(out[0].dirty_pages, 4);
	ck_assert_uint_eq(out[0].dirty_rate_pps, 4000);
	ck_assert_int_eq(out[2].kind, VMMIG_ROUND_PAUSE);
	ck_assert_uint_eq(out[2].duration_us, 100);
	/* Bytes sent after the last entry (a last control record) join
	 * it: the sum stays the session's total. */
	c.bytes += 40;
	sess_history_settle(&h, &c);
	ck_assert_int_eq(sess_history_copy_rounds(&h, out, 4), 3);
	ck_assert_uint_eq(out[0].bytes + out[1].bytes + out[2].bytes, 1640);
	ck_assert_uint_eq(out[2].duration_us, 100);
	/* Only the count: NULL array. */
	ck_assert_int_eq(sess_history_copy_rounds(&h, NULL, 0), 3);
	ck_assert_int_eq(sess_history_copy_rounds(&h, NULL, 1), -EINVAL);
	sess_history_destroy(&h);
}
END_TEST

START_TEST(cap_folds_late_rounds)
{
	enum { ROUNDS = VMMIG_HISTORY_MAX + 10 };
	static struct vmmig_round out[VMMIG_HISTORY_MAX];
	struct vmmig_round now = { 0 };
	uint64_t t, sum = 0, rounds = 0;
	struct history h;
	int n;

	sess_history_init(&h);
	t = h.t0;
	for (uint32_t r = 0; r < ROUNDS; r++) {
		sess_history_begin(&h, VMMIG_ROUND_PRECOPY, r, 1, t, &now);
		now.bytes += 100 + r;
		t += 10;
		sess_history_end(&h, ROUNDS - r, t, &now);
	}
	sess_history_begin(&h, VMMIG_ROUND_PAUSE, 0, 1, t, &now);
	now.bytes += 7;
	sess_history_end(&h, 0, t + 5, &now);
	sess_history_begin(&h, VMMIG_ROUND_POSTCOPY, 0, 1, t + 5, &now);
	now.bytes += 9;
	sess_history_end(&h, 0, t + 50, &now);

	out[0].struct_size = sizeof(out[0]);
	n = sess_history_copy_rounds(&h, out, VMMIG_HISTORY_MAX);
	ck_assert_int_eq(n, VMMIG_HISTORY_MAX);
	for (int i = 0; i < n; i++) {
		sum += out[i].bytes;
		if (out[i].kind == VMMIG_ROUND_PRECOPY)
			rounds += out[i].merged;
	}
	ck_assert_uint_eq(sum, now.bytes);
	ck_assert_uint_eq(rounds, ROUNDS);
	const struct vmmig_round *last = &out[VMMIG_HISTORY_MAX - 3];

	ck_assert_uint_eq(last->merged, ROUNDS - (VMMIG_HISTORY_MAX - 3));
	ck_assert_uint_eq(last->round, VMMIG_HISTORY_MAX - 3);
	ck_assert_uint_eq(last->dirty_pages, 1); /* the last round's */
	ck_assert_int_eq(out[n - 2].kind, VMMIG_ROUND_PAUSE);
	ck_assert_int_eq(out[n - 1].kind, VMMIG_ROUND_POSTCOPY);
	sess_history_destroy(&h);
}
END_TEST

START_TEST(fault_bins_double)
{
	struct vmmig_fault_series fs = { .struct_size = sizeof(fs) };
	uint64_t sum = 0;
	struct history h;

	sess_history_init(&h);
	sess_history_switch(&h, h.t0 + 1000);
	sess_history_fault(&h, 3, h.t0 + 1000);          /* bin 0 */
	sess_history_fault(&h, 2, h.t0 + 1000 + 25000);  /* bin 2 at 10 ms */
	ck_assert_int_eq(sess_history_copy_faults(&h, &fs), 0);
	ck_assert_uint_eq(fs.bin_us, VMMIG_FAULT_BIN_MIN_US);
	ck_assert_uint_eq(fs.nbins, 3);
	ck_assert_uint_eq(fs.start_us, 1000);
	/* 1.5 s after the switch: 10 ms bins would need 150; 40 ms fit. */
	sess_history_fault(&h, 5, h.t0 + 1000 + 1500000);
	ck_assert_int_eq(sess_history_copy_faults(&h, &fs), 0);
	ck_assert_uint_eq(fs.bin_us, 4 * VMMIG_FAULT_BIN_MIN_US);
	ck_assert_uint_eq(fs.nbins, 1500000 / fs.bin_us + 1);
	ck_assert_uint_le(fs.nbins, VMMIG_FAULT_BINS);
	ck_assert_uint_eq(fs.bins[0], 5);
	for (unsigned i = 0; i < VMMIG_FAULT_BINS; i++)
		sum += fs.bins[i];
	ck_assert_uint_eq(sum, 10);
	ck_assert_uint_eq(fs.total, 10);
	/* A caller's older, shorter struct gets only what fits. */
	struct { struct vmmig_fault_series s; uint64_t canary; } small;

	memset(&small, 0xab, sizeof(small));
	small.s.struct_size = offsetof(struct vmmig_fault_series, total);
	ck_assert_int_eq(sess_history_copy_faults(&h, &small.s), 0);
	ck_assert_uint_eq(small.s.bin_us, fs.bin_us);
	ck_assert_uint_eq(small.s.total, 0xababababababababull);
	sess_history_destroy(&h);
}
END_TEST

START_TEST(json)
{
	struct vmmig_round r[2] = {
		{ .struct_size = sizeof(r[0]), .kind = VMMIG_ROUND_PRECOPY,
		  .merged = 1, .bytes = 4096, .pages_normal = 1,
		  .duration_us = 1500 },
		{ .struct_size = sizeof(r[0]), .kind = VMMIG_ROUND_PAUSE,
		  .merged = 1, .start_us = 2000, .duration_us = 250 },
	};
	struct vmmig_fault_series fs = { .struct_size = sizeof(fs),
					 .nbins = 2, .bin_us = 10000,
					 .total = 3, .bins = { 1, 2 } };
	char buf[2048], tiny[16];
	int n = vmmig_history_to_json(r, 2, &fs, buf, sizeof(buf));

	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq(strlen(buf), (size_t)n);
	ck_assert_ptr_nonnull(strstr(buf, "{\"rounds\":[{\"kind\":\"precopy\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"duration_ms\":1.500"));
	ck_assert_ptr_nonnull(strstr(buf, "\"pause\":{\"start_ms\":2.000,"
				     "\"duration_ms\":0.250"));
	ck_assert_ptr_nonnull(strstr(buf, "\"bins\":[1,2]"));
	ck_assert_int_eq(vmmig_history_to_json(NULL, 0, NULL, buf,
					       sizeof(buf)),
			 (int)strlen("{\"rounds\":[],\"pause\":null,"
				     "\"faults\":null}"));
	ck_assert_int_eq(vmmig_history_to_json(r, 2, &fs, tiny, sizeof(tiny)),
			 -ENOSPC);
	ck_assert_uint_eq(strlen(tiny), sizeof(tiny) - 1);
	ck_assert_int_eq(vmmig_history_to_json(NULL, 1, NULL, buf,
					       sizeof(buf)), -EINVAL);
}
END_TEST

/* Entries and a series from an older stats.h (smaller struct_size, as
 * vmmig_source_get_rounds() copies them for such a caller): rendered as
 * far as they go, on the heap at exactly that size so that ASan sees any
 * read past them; keys of fields they lack are left out. */
START_TEST(json_older_structs)
{
	size_t rsz = offsetof(struct vmmig_round, pass_pages);
	size_t fsz = offsetof(struct vmmig_fault_series, bins) + 8;
	struct vmmig_round full[2] = {
		{ .struct_size = (uint32_t)rsz, .kind = VMMIG_ROUND_PRECOPY,
		  .merged = 1, .bytes = 4096, .pages_zero = 7,
		  .pass_pages = 99, .dirty_pages = 98 },
		{ .struct_size = (uint32_t)rsz, .kind = VMMIG_ROUND_PAUSE,
		  .merged = 1, .start_us = 2000, .duration_us = 250 },
	};
	struct vmmig_fault_series fs = { .struct_size = (uint32_t)fsz,
					 .nbins = 2, .bin_us = 10000,
					 .total = 3, .bins = { 1, 2 } };
	char *rs = malloc(2 * rsz), *fp = malloc(fsz), buf[2048];

	ck_assert_ptr_nonnull(rs);
	ck_assert_ptr_nonnull(fp);
	memcpy(rs, &full[0], rsz);
	memcpy(rs + rsz, &full[1], rsz);
	memcpy(fp, &fs, fsz);
	ck_assert_int_gt(vmmig_history_to_json((void *)rs, 2, (void *)fp, buf,
					       sizeof(buf)), 0);
	ck_assert_ptr_nonnull(strstr(buf, "{\"rounds\":[{\"kind\":\"precopy\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"zero\":7"));
	ck_assert_ptr_nonnull(strstr(buf, "\"pause\":{\"start_ms\":2.000,"
				     "\"duration_ms\":0.250"));
	/* one bin fits the series' struct */
	ck_assert_ptr_nonnull(strstr(buf, "\"total\":3,\"bins\":[1]}"));
	ck_assert_msg(!strstr(buf, "pass_pages") && !strstr(buf, "dirty_"),
		      "fields past struct_size rendered: %s", buf);
	free(rs);
	free(fp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("history");
	TCase *tc = tcase_create("history");

	tcase_add_test(tc, entries_add_up);
	tcase_add_test(tc, cap_folds_late_rounds);
	tcase_add_test(tc, fault_bins_double);
	tcase_add_test(tc, json);
	tcase_add_test(tc, json_older_structs);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
