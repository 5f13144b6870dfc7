/* SPDX-License-Identifier: MIT */
/*
 * Post-copy recovery: a proxy cuts the link at several points of the
 * post-copy phase (early, middle, near the end). Both sides pause (the
 * destination's vCPU waits on its faults), the source reconnects with the
 * same UUID and the migration completes with every page: memory equal byte
 * for byte and the page-sum hash verified. A cut before the switch instead
 * fails the migration and the source guest runs on, untouched.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "proxy.h"
#include "testutil.h"

#define GUEST_SIZE (64u << 20)

/* The source's log, by level (issue 12: retries were logged as final
 * failures). */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_errors;
static char log_warn[2048], log_first_error[320];

static void src_log(void *o, int level, const char *msg)
{
	(void)o;
	pthread_mutex_lock(&log_lock);
	if (level == VMMIG_LOG_ERROR && !log_errors++)
		snprintf(log_first_error, sizeof(log_first_error), "%s", msg);
	if (level == VMMIG_LOG_WARN)
		snprintf(log_warn + strlen(log_warn),
			 sizeof(log_warn) - strlen(log_warn), "%s\n", msg);
	pthread_mutex_unlock(&log_lock);
}

static int refuse_reconnects; /* the proxy drops this many reconnections */
static int recovery_channels = 1;

static void run(size_t cut_at, bool hybrid, bool expect_ok)
{
	struct dest_opts dopt = { .listen = "tcp:127.0.0.1:0",
				  .vcpu_reads_ms = 400 };
	struct vmmig_postcopy_config pcc = { .struct_size = sizeof(pcc),
		.flags = VMMIG_POSTCOPY_NO_FIRST_PASS };
	struct vmmig_hybrid_config hc = { .struct_size = sizeof(hc),
		.precopy_rounds = 2 };
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	struct vmmig_policy *pol;
	struct vmmig_source *src;
	struct dest_proc d;
	struct proxy px;
	struct guest g;
	int ret, dret;

	ck_assert_int_eq(guest_init(&g, GUEST_SIZE, FILL_RANDOM, true), 0);
	if (hybrid)
		ck_assert_int_eq(vmmig_policy_new_hybrid(&hc, &pol), 0);
	else
		ck_assert_int_eq(vmmig_policy_new_postcopy(&pcc, &pol), 0);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &dopt), 0);
	ck_assert_int_eq(proxy_start(&px, d.uri, SIZE_MAX, cut_at), 0);
	atomic_store(&px.refuse_after_cut, refuse_reconnects);
	src = guest_source(&g, &guest_source_ops);
	log_errors = 0;
	log_warn[0] = '\0';
	vmmig_source_set_log(src, src_log, NULL, VMMIG_LOG_DEBUG);
	ck_assert_int_eq(vmmig_source_set_policy(src, pol), 0);
	/* One page channel: the cut points count its bytes. */
	vmmig_source_set_option(src, VMMIG_OPT_CHANNELS, recovery_channels);
	vmmig_source_set_option(src, VMMIG_OPT_VERIFY, 1);
	vmmig_source_set_option(src, VMMIG_OPT_BANDWIDTH_LIMIT, 100 << 20);
	vmmig_source_set_option(src, VMMIG_OPT_IO_TIMEOUT_MS, 2000);
	vmmig_source_set_option(src, VMMIG_OPT_RECOVERY_TIMEOUT_MS, 10000);
	ck_assert_int_eq(guest_run(&g, 50), 0);

	ck_assert_int_eq(vmmig_source_start(src, px.uri), 0);
	ret = vmmig_source_wait(src);
	dret = dest_reap(&d);
	vmmig_source_get_stats(src, &st);
	ck_assert_int_eq(atomic_load(&px.cuts) > 0, 1);
	if (!expect_ok) {
		/* Cut before the switch: a plain failure, the guest runs on
		 * at the source with its memory untouched. */
		ck_assert_msg(ret == -ECONNRESET || ret == -EPIPE ||
				      ret == -ETIMEDOUT,
			      "got %d (%s)", ret, vmmig_source_error(src));
		ck_assert_int_eq(atomic_load(&g.pauses),
				 atomic_load(&g.resumes));
		uint64_t w = atomic_load(&g.writes);
		for (int i = 0; i < 200 && atomic_load(&g.writes) == w; i++)
			usleep(5000);
		ck_assert_uint_gt(atomic_load(&g.writes), w);
		guest_stop(&g);
		ck_assert(memcmp(g.mem, g.shadow, GUEST_SIZE) == 0);
		ck_assert_int_ne(dret, 0);
		ck_assert_int_eq(d.res->started, 0);
		/* Before the switch nothing is retried: one final error. */
		ck_assert_int_ge(log_errors, 1);
		ck_assert_ptr_nonnull(strstr(log_first_error,
					     "migration failed"));
	} else {
		if (ret) /* what the retries said, before the check ends it */
			printf("source warnings:\n%s", log_warn);
		fflush(stdout);
		ck_assert_msg(ret == 0, "source: %s (%s); destination: %s",
			      vmmig_strerror(ret),
			      vmmig_source_error(src) ? vmmig_source_error(src)
						      : "",
			      d.res->error);
		ck_assert_int_eq(dret, 0);
		ck_assert_uint_ge(st.postcopy_recoveries, 1);
		ck_assert_uint_ge(d.res->st.postcopy_recoveries, 1);
		/* A half-refused attempt: its channel that got through was
		 * dropped, not mixed with the next attempt's. */
		if (refuse_reconnects && refuse_reconnects < recovery_channels + 1)
			ck_assert_uint_ge(d.res->st.rejected_connections, 1);
		ck_assert_int_eq(st.verified, 1);
		ck_assert_int_eq(d.res->st.verified, 1);
		ck_assert_uint_gt(d.res->vcpu_reads, 0);
		ck_assert_msg(memcmp(g.mem, d.mem, GUEST_SIZE) == 0,
			      "destination memory differs after recovery");
		/* The break and the failed reconnects were retries: warnings,
		 * not "migration failed". */
		ck_assert_msg(log_errors == 0, "logged as an error: %s",
			      log_first_error);
		ck_assert_msg(d.res->log_errors == 0, "destination logged as "
			      "an error: %s", d.res->first_log_error);
		ck_assert_ptr_nonnull(strstr(log_warn, "post-copy link lost"));
		int retries = 0;
		for (const char *p = log_warn;
		     (p = strstr(p, "recovery will retry")); p++)
			retries++;
		/* The break itself, plus each reconnection dropped. */
		ck_assert_int_ge(retries, 1 + (refuse_reconnects > 0));
		printf("cut at %zu MiB: %llu recoveries, %llu faults, "
		       "p99 %llu us\n", cut_at >> 20,
		       (unsigned long long)st.postcopy_recoveries,
		       (unsigned long long)st.postcopy_faults,
		       (unsigned long long)st.fault_latency_p99_us);
	}
	vmmig_source_free(src);
	vmmig_policy_free(pol);
	proxy_stop(&px);
	dest_release(&d);
	guest_destroy(&g);
}

/* Channel 0 carries about 64 MiB after the switch (random memory). */
START_TEST(cut_early)
{
	run(2u << 20, false, true);
}
END_TEST

START_TEST(cut_middle)
{
	run(30u << 20, false, true);
}
END_TEST

START_TEST(cut_near_end)
{
	run(60u << 20, false, true);
}
END_TEST

/* The first reconnection (both its channels) is dropped by the proxy: a
 * retry, logged as one, then recovery succeeds. */
START_TEST(cut_reconnect_refused)
{
	refuse_reconnects = 2;
	run(30u << 20, false, true);
	refuse_reconnects = 0;
}
END_TEST

/* Two page channels: the reconnection is three connections and the proxy
 * drops the first two, so one attempt half succeeds; the next completes. */
START_TEST(cut_reconnect_refused_2ch)
{
	recovery_channels = 2;
	refuse_reconnects = 2;
	run(16u << 20, false, true);
	refuse_reconnects = 0;
	recovery_channels = 1;
}
END_TEST

START_TEST(cut_before_switch)
{
	/* hybrid: two full pre-copy rounds (>= 64 MiB) before the switch */
	run(8u << 20, true, false);
}
END_TEST

/* The destination's embedder cancels as the post-copy link is lost. The
 * link's failure came first, and recovery forgets it to retry: the cancel
 * must not be forgotten with it. The destination ends with -ECANCELED
 * instead of taking the source back; the source, whose guest is given up,
 * keeps it paused and fails when no destination takes it back. */
START_TEST(cancel_dest_during_pause)
{
	/* No vCPU reads: pages that never came are poisoned (SIGBUS). */
	struct dest_opts dopt = { .listen = "tcp:127.0.0.1:0",
				  .cancel_on_pause = 1 };
	struct vmmig_postcopy_config pcc = { .struct_size = sizeof(pcc),
		.flags = VMMIG_POSTCOPY_NO_FIRST_PASS };
	struct vmmig_policy *pol;
	struct vmmig_source *src;
	struct dest_proc d;
	struct proxy px;
	struct guest g;
	int ret, dret;

	ck_assert_int_eq(guest_init(&g, GUEST_SIZE, FILL_RANDOM, true), 0);
	ck_assert_int_eq(vmmig_policy_new_postcopy(&pcc, &pol), 0);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &dopt), 0);
	ck_assert_int_eq(proxy_start(&px, d.uri, SIZE_MAX, 8u << 20), 0);
	src = guest_source(&g, &guest_source_ops);
	ck_assert_int_eq(vmmig_source_set_policy(src, pol), 0);
	vmmig_source_set_option(src, VMMIG_OPT_BANDWIDTH_LIMIT, 100 << 20);
	vmmig_source_set_option(src, VMMIG_OPT_IO_TIMEOUT_MS, 2000);
	vmmig_source_set_option(src, VMMIG_OPT_RECOVERY_TIMEOUT_MS, 3000);
	ck_assert_int_eq(guest_run(&g, 50), 0);

	ck_assert_int_eq(vmmig_source_start(src, px.uri), 0);
	ret = vmmig_source_wait(src);
	dret = dest_reap(&d);
	ck_assert_int_eq(atomic_load(&px.cuts), 1);
	ck_assert_msg(d.res->ret == -ECANCELED, "destination: %d (%s)",
		      d.res->ret, d.res->error);
	ck_assert_ptr_nonnull(strstr(d.res->error, "cancelled"));
	ck_assert_int_ne(dret, 0);
	ck_assert_int_ne(ret, 0);
	/* Committed: the source never resumes its copy. */
	ck_assert_int_eq(atomic_load(&g.resumes), 0);
	vmmig_source_free(src);
	vmmig_policy_free(pol);
	proxy_stop(&px);
	dest_release(&d);
	guest_destroy(&g);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("recovery");
	TCase *tc = tcase_create("postcopy-recovery");

	signal(SIGPIPE, SIG_IGN); /* the proxy writes into cut sockets */
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, cut_early);
	tcase_add_test(tc, cut_middle);
	tcase_add_test(tc, cut_near_end);
	tcase_add_test(tc, cut_before_switch);
	tcase_add_test(tc, cut_reconnect_refused);
	tcase_add_test(tc, cut_reconnect_refused_2ch);
	tcase_add_test(tc, cancel_dest_during_pause);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
