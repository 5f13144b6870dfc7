/* SPDX-License-Identifier: MIT */
/*
 * Fault injection, SQLite's way: for each mode (pre-copy, post-copy,
 * hybrid, cache-restore), a clean migration of a 2 MiB guest counts its
 * transport operations (connect, accept, send, recv, recv_some over both
 * sides); then one migration per N fails the Nth operation, once as an
 * error (FAULT_FAIL) and once as a torn transfer (FAULT_TORN: half the
 * bytes, then the cut), and every invariant of harness.h is checked after
 * each. One more run per mode moves every byte in short pieces (legal short
 * reads and writes, recv_some at its minimum) and must migrate.
 *
 * Over the in-process pair, N runs over every operation up to SWEEP_FULL,
 * then every SWEEP_STRIDE-th, up to the clean run's count plus a margin
 * (runs differ a little: the guest keeps writing, the vCPU faults); over
 * TCP every 3rd N. FI_FULL=1 in the environment sweeps every N.
 * FI_VERBOSE=1 prints every run; FI_LIMIT=N stops the sweep at N.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vmmig/vmmig.h>

#include "harness.h"
#include "testutil.h"

#define SWEEP_FULL 250
#define SWEEP_STRIDE 5
#define SWEEP_MARGIN 20
#define MAX_REPORTED 8 /* violations printed in full per sweep */

static bool env_on(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0");
}

/* Sweep N over every operation up to @every, then every @stride-th. */
static void sweep(enum fi_mode mode, const struct vmmig_transport_ops *inner,
		  uint64_t every, uint64_t stride)
{
	static const enum fault_kind kinds[] = { FAULT_FAIL, FAULT_TORN };
	static const char *const kind_names[] = { "fail", "torn" };
	struct fi_config cfg = { .mode = mode, .inner = inner };
	unsigned outcomes[2][OUT__COUNT] = { { 0 } }, broken = 0;
	bool full = env_on("FI_FULL"), verbose = env_on("FI_VERBOSE");
	char storage[64] = "", first[2048] = "";
	struct fi_result r;
	uint64_t total_ms = 0, runs = 0, clean_ops, limit;

	if (mode == MODE_RESTORE) {
		ck_assert_int_eq(fi_make_storage(storage, sizeof(storage)), 0);
		cfg.storage = storage;
	}
	fi_run(&cfg, FAULT_NONE, 0, &r);
	ck_assert_msg(!r.viol && r.outcome == OUT_MIGRATED,
		      "%s: clean run: %s", fi_mode_name(mode), r.why);
	clean_ops = r.ops;
	/* Each mode does what it is named for. */
	ck_assert_msg(r.dst_postcopy == (mode == MODE_POSTCOPY ||
					 mode == MODE_HYBRID),
		      "%s: clean run %s post-copy", fi_mode_name(mode),
		      r.dst_postcopy ? "went" : "did not go");
	ck_assert_msg(mode != MODE_RESTORE || r.pages_restored > 0,
		      "restore: no page came from storage");
	fi_run(&cfg, FAULT_SHORT, 1, &r);
	ck_assert_msg(!r.viol && r.outcome == OUT_MIGRATED,
		      "%s: short transfers: %s", fi_mode_name(mode), r.why);
	limit = clean_ops + SWEEP_MARGIN;
	if (getenv("FI_LIMIT")) /* a shorter sweep, while debugging */
		limit = strtoull(getenv("FI_LIMIT"), NULL, 0);
	if (full)
		every = limit;
	printf("%s over %s: clean run %llu operations; sweeping N = 1..%llu, "
	       "every N up to %llu, then one in %llu\n", fi_mode_name(mode),
	       inner->name, (unsigned long long)clean_ops,
	       (unsigned long long)limit, (unsigned long long)every,
	       (unsigned long long)stride);
	for (uint64_t n = 1; n <= limit; n++) {
		if (n > every && (n - every - 1) % stride)
			continue;
		for (int k = 0; k < 2; k++) {
			fi_run(&cfg, kinds[k], n, &r);
			runs++;
			total_ms += r.ms;
			outcomes[k][r.outcome]++;
			if (verbose)
				printf("  %s N=%llu %s: %s, %llu ms (%s)\n",
				       kind_names[k], (unsigned long long)n,
				       r.fired ? r.fault : "(no fault)",
				       fi_outcome_name(r.outcome),
				       (unsigned long long)r.ms, r.why);
			if (!r.viol)
				continue;
			if (broken++ < MAX_REPORTED) {
				printf("  BROKEN %s %s N=%llu (%s): %s\n",
				       fi_mode_name(mode), kind_names[k],
				       (unsigned long long)n, r.fault, r.why);
				if (!first[0])
					snprintf(first, sizeof(first),
						 "%s N=%llu (%s): %s",
						 kind_names[k],
						 (unsigned long long)n, r.fault,
						 r.why);
			}
		}
	}
	for (int k = 0; k < 2; k++) {
		printf("  %s:", kind_names[k]);
		for (int o = 0; o < OUT__COUNT; o++)
			printf(" %s %u", fi_outcome_name(o), outcomes[k][o]);
		printf("\n");
	}
	printf("  %llu runs in %llu ms, %u broken\n",
	       (unsigned long long)runs, (unsigned long long)total_ms, broken);
	fflush(stdout);
	if (storage[0])
		unlink(storage);
	ck_assert_msg(!broken, "%s: %u runs broke invariants; first: %s",
		      fi_mode_name(mode), broken, first);
}

START_TEST(fault_precopy)
{
	sweep(MODE_PRECOPY, vmmig_transport_inproc(), SWEEP_FULL, SWEEP_STRIDE);
}
END_TEST

START_TEST(fault_postcopy)
{
	sweep(MODE_POSTCOPY, vmmig_transport_inproc(), SWEEP_FULL, SWEEP_STRIDE);
}
END_TEST

START_TEST(fault_hybrid)
{
	sweep(MODE_HYBRID, vmmig_transport_inproc(), SWEEP_FULL, SWEEP_STRIDE);
}
END_TEST

/* The real transport: io_uring over loopback TCP (its sockets and rings
 * must not leak either). Every 3rd N: the in-process sweeps above cover
 * each N of the protocol; these check that a TCP channel fails alike. */
START_TEST(fault_precopy_tcp)
{
	sweep(MODE_PRECOPY, vmmig_transport_tcp(), 0, 3);
}
END_TEST

START_TEST(fault_postcopy_tcp)
{
	sweep(MODE_POSTCOPY, vmmig_transport_tcp(), 0, 3);
}
END_TEST

START_TEST(fault_restore)
{
	sweep(MODE_RESTORE, vmmig_transport_inproc(), SWEEP_FULL, SWEEP_STRIDE);
}
END_TEST

/* A fault at a chosen point of the protocol, the first send of record
 * @type by @side: FAULT_FAIL or FAULT_TORN fail that send; FAULT_PARTITION
 * loses the record and cuts the source off for good (reconnects refused).
 * Returns the run for the caller's checks; a violation fails the test. */
static struct fi_result targeted(enum fi_mode mode, enum fault_kind kind,
				 enum fault_side side, uint16_t type)
{
	struct fi_config cfg = { .mode = mode,
				 .inner = vmmig_transport_inproc(),
				 .cut_side = side, .cut_type = type };
	struct fi_result r;

	fi_run(&cfg, kind, 0, &r);
	printf("%s, %s: %s, %llu ms\n", fi_mode_name(mode), r.fault,
	       fi_outcome_name(r.outcome), (unsigned long long)r.ms);
	ck_assert_msg(r.fired, "the fault never fired");
	ck_assert_msg(!r.viol, "%s", r.why);
	return r;
}

static struct fi_result partition(enum fi_mode mode, enum fault_side side,
				  uint16_t type)
{
	return targeted(mode, FAULT_PARTITION, side, type);
}

/* Post-copy: sending END (after the last page) fails. That is a broken
 * link like any other after the switch: the source reconnects and
 * finishes. (It did not: END's failure was not recorded, so the source
 * did not see a link failure and gave up, leaving nobody running.) */
START_TEST(fail_postcopy_end)
{
	struct fi_result r = targeted(MODE_POSTCOPY, FAULT_FAIL, SIDE_SRC,
				      REC_END);

	ck_assert_int_eq(r.outcome, OUT_RECOVERED);
}
END_TEST

/* Post-copy: STARTED is lost and the source is gone for good. The
 * destination owns the guest (it got COMMIT) and waits for its pages for
 * the recovery timeout, then fails: it must not wait forever, and the
 * source, unsure, must not resume its copy. */
START_TEST(partition_postcopy_started)
{
	struct fi_result r = partition(MODE_POSTCOPY, SIDE_DST, REC_STARTED);

	ck_assert_int_ne(r.sret, 0);
	ck_assert_int_ne(r.dret, 0);
	ck_assert(r.dst_started && !r.src_resumed);
	ck_assert_int_eq(r.src_owner, VMMIG_OWNER_UNKNOWN);
	ck_assert_int_eq(r.dst_owner, VMMIG_OWNER_DEST);
}
END_TEST

/* Post-copy: READY is lost. The source never commits: its guest runs on,
 * the destination never starts it. */
START_TEST(partition_postcopy_ready)
{
	struct fi_result r = partition(MODE_POSTCOPY, SIDE_DST, REC_READY);

	ck_assert_int_ne(r.sret, 0);
	ck_assert(!r.dst_started);
	ck_assert_int_eq(r.outcome, OUT_SRC_RUNS);
	ck_assert_int_eq(r.src_owner, VMMIG_OWNER_SOURCE);
}
END_TEST

/* Post-copy: DONE is lost. The destination has every page and runs; the
 * source, never told, gives up after its recovery timeout but must not
 * resume its copy. */
START_TEST(partition_postcopy_done)
{
	struct fi_result r = partition(MODE_POSTCOPY, SIDE_DST, REC_DONE);

	ck_assert_int_ne(r.sret, 0);
	ck_assert_int_eq(r.dret, 0);
	ck_assert(r.dst_started && !r.src_resumed);
	ck_assert_int_eq(r.outcome, OUT_DST_RUNS);
}
END_TEST

/* Pre-copy: READY is lost. The source resumes, the destination (READY
 * sent, no COMMIT) never starts and cannot tell. (With the one-phase ACK
 * before the owner branch, losing the ACK had both sides run the guest.) */
START_TEST(partition_precopy_ready)
{
	struct fi_result r = partition(MODE_PRECOPY, SIDE_DST, REC_READY);

	ck_assert_int_ne(r.sret, 0);
	ck_assert_int_eq(r.outcome, OUT_SRC_RUNS);
	ck_assert_int_eq(r.dst_owner, VMMIG_OWNER_UNKNOWN);
}
END_TEST

/* Pre-copy: STARTED is lost. The destination runs the guest (its wait
 * fails all the same: the source's DIGEST for verification never comes);
 * the source keeps its copy paused and says it cannot tell. */
START_TEST(partition_precopy_started)
{
	struct fi_result r = partition(MODE_PRECOPY, SIDE_DST, REC_STARTED);

	ck_assert_int_ne(r.sret, 0);
	ck_assert_int_eq(r.outcome, OUT_DST_RUNS);
	ck_assert_int_eq(r.src_owner, VMMIG_OWNER_UNKNOWN);
	ck_assert_int_eq(r.dst_owner, VMMIG_OWNER_DEST);
}
END_TEST

int main(void)
{
	const struct {
		const char *name;
		const TTest *test;
	} cases[] = { { "precopy", fault_precopy },
		      { "postcopy", fault_postcopy },
		      { "hybrid", fault_hybrid },
		      { "restore", fault_restore },
		      { "precopy_tcp", fault_precopy_tcp },
		      { "postcopy_tcp", fault_postcopy_tcp } };
	Suite *s = suite_create("fault");

	/* Lines in order with the library's log on stderr (FI_LOG). */
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* One case per mode: CK_RUN_CASE=hybrid runs one sweep. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_set_timeout(tc, 600);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	TCase *tc = tcase_create("targeted");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, fail_postcopy_end);
	tcase_add_test(tc, partition_postcopy_started);
	tcase_add_test(tc, partition_postcopy_ready);
	tcase_add_test(tc, partition_postcopy_done);
	tcase_add_test(tc, partition_precopy_ready);
	tcase_add_test(tc, partition_precopy_started);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
