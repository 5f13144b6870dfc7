/* SPDX-License-Identifier: MIT */
/*
 * Connecting (issue 12, case 4): a destination nobody listens for is
 * reported at once, not after the IO timeout; VMMIG_OPT_CONNECT_RETRY_MS
 * asks for a bounded retry, which finds a destination that starts late.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "testutil.h"

#define GUEST_SIZE (4u << 20)

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Migrate to @uri (nobody listens there) with @retry_ms; how long it took. */
static uint64_t refused(const char *uri, int retry_ms)
{
	struct guest g;
	struct vmmig_source *src;
	uint64_t t0, took;
	int ret;

	ck_assert_int_eq(guest_init(&g, GUEST_SIZE, FILL_RANDOM, false), 0);
	src = guest_source(&g, &guest_source_ops);
	vmmig_source_set_option(src, VMMIG_OPT_IO_TIMEOUT_MS, 10000);
	vmmig_source_set_option(src, VMMIG_OPT_CONNECT_RETRY_MS, retry_ms);
	t0 = mono_ms();
	ck_assert_int_eq(vmmig_source_start(src, uri), 0);
	ret = vmmig_source_wait(src);
	took = mono_ms() - t0;
	printf("%s, retry %d ms: %d (%s) after %llu ms\n", uri, retry_ms, ret,
	       vmmig_source_error(src), (unsigned long long)took);
	ck_assert_msg(ret == -ECONNREFUSED || ret == -ENOENT, "got %d", ret);
	ck_assert_int_eq(vmmig_source_owner(src), VMMIG_OWNER_SOURCE);
	ck_assert_int_eq(atomic_load(&g.pauses), 0);
	vmmig_source_free(src);
	guest_destroy(&g);
	return took;
}

START_TEST(refused_at_once)
{
	char path[64];

	/* Port 1 (tcpmux) has no listener here. */
	ck_assert_uint_lt(refused("tcp:127.0.0.1:1", 0), 1000);
	snprintf(path, sizeof(path), "unix:/tmp/vmmig-none-%d.sock", getpid());
	ck_assert_uint_lt(refused(path, 0), 1000);
}
END_TEST

START_TEST(retry_when_asked)
{
	uint64_t took = refused("tcp:127.0.0.1:1", 400);

	ck_assert_uint_ge(took, 380);
	ck_assert_uint_lt(took, 2000);
}
END_TEST

START_TEST(retry_finds_late_destination)
{
	struct dest_opts o = { 0 };
	char uri[96];
	struct dest_proc d;
	struct guest g;
	struct vmmig_source *src;

	snprintf(uri, sizeof(uri), "unix:/tmp/vmmig-late-%d.sock", getpid());
	o.listen = uri;
	ck_assert_int_eq(guest_init(&g, GUEST_SIZE, FILL_RANDOM, false), 0);
	src = guest_source(&g, &guest_source_ops);
	vmmig_source_set_option(src, VMMIG_OPT_CONNECT_RETRY_MS, 10000);
	ck_assert_int_eq(vmmig_source_start(src, uri), 0);
	usleep(300000);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &o), 0);
	assert_migrated(src, &d);
	ck_assert(memcmp(g.mem, d.mem, GUEST_SIZE) == 0);
	vmmig_source_free(src);
	dest_release(&d);
	guest_destroy(&g);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("connect");
	TCase *tc = tcase_create("connect");

	signal(SIGPIPE, SIG_IGN);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, refused_at_once);
	tcase_add_test(tc, retry_when_asked);
	tcase_add_test(tc, retry_finds_late_destination);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
