/* SPDX-License-Identifier: MIT */
/*
 * A post-copy whose peer dies after the switch (issue 12, cases 2 and 4).
 *   - The source is killed 300 ms after the switch, the destination set to
 *     fail at once (recovery timeout 0): vmmig_dest_wait() says -ECONNRESET,
 *     the destination still owns the guest, and every page that never
 *     arrived faults when read (SIGBUS), after vmmig_dest_free() too; no
 *     page reads as zero (the source's memory has no zero page).
 *   - The same with a recovery timeout of 2 s: the destination gives up
 *     within it (plus at most one IO timeout), -ETIMEDOUT; it used to wait
 *     for ever.
 *   - The destination is killed after the switch: the source gives up its
 *     reconnect attempts within its recovery timeout (it used to spend an
 *     IO timeout per attempt) and keeps its guest paused.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "testutil.h"

#define GUEST_SIZE (64u << 20)

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Linux >= 6.6 has UFFDIO_POISON. */
static bool poison_kernel(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 6);
}

/* A post-copy source over @g to @uri: slow enough (50 MB/s) that pages are
 * still missing 300 ms after the switch. */
static struct vmmig_source *pc_source(struct guest *g, const char *uri,
				      int recovery_ms,
				      struct vmmig_policy **pol)
{
	struct vmmig_postcopy_config pcc = { .struct_size = sizeof(pcc),
		.flags = VMMIG_POSTCOPY_NO_FIRST_PASS };
	struct vmmig_source *src = guest_source(g, &guest_source_ops);

	ck_assert_int_eq(vmmig_policy_new_postcopy(&pcc, pol), 0);
	ck_assert_int_eq(vmmig_source_set_policy(src, *pol), 0);
	vmmig_source_set_option(src, VMMIG_OPT_BANDWIDTH_LIMIT, 50 << 20);
	vmmig_source_set_option(src, VMMIG_OPT_IO_TIMEOUT_MS, 5000);
	vmmig_source_set_option(src, VMMIG_OPT_RECOVERY_TIMEOUT_MS,
				recovery_ms);
	ck_assert_int_eq(vmmig_source_start(src, uri), 0);
	return src;
}

/* Wait (bounded) until @src switched to post-copy. */
static bool wait_switch(struct vmmig_source *src)
{
	struct vmmig_stats st = { .struct_size = sizeof(st) };

	for (uint64_t end = mono_ms() + 20000; mono_ms() < end;) {
		vmmig_source_get_stats(src, &st);
		if (st.status == VMMIG_STATUS_POSTCOPY)
			return true;
		if (st.status >= VMMIG_STATUS_COMPLETED)
			return false;
		usleep(1000);
	}
	return false;
}

/* The source in a child process (so that it can be killed), which says
 * through @flag when it switched. */
static pid_t spawn_source(const char *uri, atomic_int *flag)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	struct vmmig_policy *pol;
	struct guest g;

	if (guest_init(&g, GUEST_SIZE, FILL_RANDOM, false))
		_exit(2);
	struct vmmig_source *src = pc_source(&g, uri, 0, &pol);

	atomic_store(flag, wait_switch(src) ? 1 : -1);
	vmmig_source_wait(src);
	_exit(0);
}

static void source_dies(int recovery_ms)
{
	struct dest_opts o = { .listen = "tcp:127.0.0.1:0", .probe_lost = 1,
			       .set_recovery = 1, .recovery_ms = recovery_ms };
	atomic_int *flag = mmap(NULL, sizeof(*flag), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct dest_proc d;
	uint64_t t_kill;
	pid_t spid;
	int status;

	ck_assert_ptr_ne(flag, MAP_FAILED);
	atomic_store(flag, 0);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &o), 0);
	spid = spawn_source(d.uri, flag);
	ck_assert_int_gt(spid, 0);
	for (int i = 0; i < 20000 && !atomic_load(flag); i++)
		usleep(1000);
	ck_assert_int_eq(atomic_load(flag), 1);
	usleep(300000);
	kill(spid, SIGKILL);
	t_kill = mono_ms();
	ck_assert_int_eq(waitpid(spid, &status, 0), spid);
	ck_assert_int_ne(dest_reap(&d), 0);
	uint64_t took = mono_ms() - t_kill;

	printf("source killed (recovery %d ms): destination %d (%s) after "
	       "%llu ms; %llu pages lost, %llu faulted, %llu read zero\n",
	       recovery_ms, d.res->ret, d.res->error,
	       (unsigned long long)took,
	       (unsigned long long)d.res->st.postcopy_pages_lost,
	       (unsigned long long)d.res->probe_sigbus,
	       (unsigned long long)d.res->probe_zero);
	if (recovery_ms) {
		ck_assert_int_eq(d.res->ret, -ETIMEDOUT);
		/* Within the recovery timeout plus one IO timeout (5 s). */
		ck_assert_uint_le(took, (uint64_t)recovery_ms + 5000 + 1000);
		ck_assert_uint_ge(took, (uint64_t)recovery_ms - 100);
	} else {
		ck_assert_int_eq(d.res->ret, -ECONNRESET);
	}
	ck_assert_int_eq(d.res->started, 1);
	ck_assert_int_eq(d.res->owner, VMMIG_OWNER_DEST);
	ck_assert_uint_gt(d.res->st.postcopy_pages_lost, 0);
	/* SIGBUS (UFFDIO_POISON); before Linux 6.6 the fallback's SIGSEGV. */
	if (poison_kernel())
		ck_assert_uint_eq(d.res->probe_sigbus,
				  d.res->st.postcopy_pages_lost);
	else
		ck_assert_uint_eq(d.res->probe_sigbus + d.res->probe_sigsegv,
				  d.res->st.postcopy_pages_lost);
	ck_assert_uint_eq(d.res->probe_zero, 0);
	dest_release(&d);
	munmap(flag, sizeof(*flag));
}

START_TEST(source_killed_no_recovery)
{
	source_dies(0);
}
END_TEST

START_TEST(source_killed_recovery_times_out)
{
	source_dies(2000);
}
END_TEST

START_TEST(dest_killed_source_recovery_times_out)
{
	struct dest_opts o = { .listen = "tcp:127.0.0.1:0" };
	struct vmmig_policy *pol;
	struct vmmig_source *src;
	struct dest_proc d;
	struct guest g;
	uint64_t t_kill, took;
	int ret;

	ck_assert_int_eq(guest_init(&g, GUEST_SIZE, FILL_RANDOM, false), 0);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &o), 0);
	src = pc_source(&g, d.uri, 2000, &pol);
	ck_assert(wait_switch(src));
	usleep(300000);
	kill(d.pid, SIGKILL);
	t_kill = mono_ms();
	ret = vmmig_source_wait(src);
	took = mono_ms() - t_kill;
	printf("destination killed: source %d (%s) after %llu ms\n", ret,
	       vmmig_source_error(src), (unsigned long long)took);
	ck_assert_int_ne(ret, 0);
	/* Refused reconnects end at the deadline, not an IO timeout (5 s)
	 * per attempt. */
	ck_assert_uint_le(took, 2000 + 1500);
	ck_assert_int_eq(atomic_load(&g.resumes), 0);
	ck_assert_int_eq(vmmig_source_owner(src), VMMIG_OWNER_DEST);
	vmmig_source_free(src);
	vmmig_policy_free(pol);
	dest_release(&d);
	guest_destroy(&g);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("postcopy_loss");
	TCase *tc = tcase_create("postcopy-loss");

	if (!vmtest_uffd_available())
		return vmtest_skip("no userfaultfd");
	signal(SIGPIPE, SIG_IGN);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, source_killed_no_recovery);
	tcase_add_test(tc, source_killed_recovery_times_out);
	tcase_add_test(tc, dest_killed_source_recovery_times_out);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
