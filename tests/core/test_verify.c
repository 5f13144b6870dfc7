/* SPDX-License-Identifier: MIT */
/*
 * VMMIG_OPT_VERIFY catches what the stream cannot: a write the dirty
 * tracker never reported. The source's pause callback changes a page that
 * was already sent without telling the (manual) tracker, so the
 * destination keeps the old copy. The check runs after the switchover,
 * outside the downtime, so the guest already runs on the destination (which
 * owns it; the source never resumes it): in pre-copy and post-copy both
 * sides report "memory verification failed" instead of `verified`.
 * The same for a page byte flipped on the wire (a proxy in between): no
 * CRC covers page bytes (docs/wire-format.md, section 3), the digest does.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "e2e.h"
#include "proxy.h"
#include "testutil.h"

#define GUEST_SIZE (16u << 20)
#define SILENT_PAGE 77

/* The guest's own pause, then one byte of an already-sent page changed
 * behind the tracker's back. */
static int pause_and_write(void *opaque)
{
	struct guest *g = opaque;
	int ret = guest_source_ops.pause(opaque);

	g->mem[SILENT_PAGE * 4096 + 5] ^= 0x5a;
	return ret;
}

/* @postcopy: switch to post-copy at once; @flip: the guest is left alone,
 * and a proxy flips a byte of a raw page on the wire instead. */
static void run(bool postcopy, bool flip)
{
	struct vmmig_source_ops ops = guest_source_ops;
	struct dest_opts o = { .listen = "tcp:127.0.0.1:0" };
	struct vmmig_postcopy_config pcc = { .struct_size = sizeof(pcc) };
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	struct vmmig_policy *pol = NULL;
	struct vmmig_source *src;
	struct dest_proc d;
	struct proxy px;
	struct guest g;
	int ret;

	if (!flip)
		ops.pause = pause_and_write;
	ck_assert_int_eq(guest_init(&g, GUEST_SIZE, FILL_RANDOM, false), 0);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &o), 0);
	if (flip) {
		ck_assert_int_eq(proxy_start(&px, d.uri, 1u << 20, SIZE_MAX),
				 0);
		px.flip = PROXY_FLIP_PAGE;
	}
	src = guest_source(&g, &ops);
	ck_assert_int_eq(vmmig_source_set_option(src, VMMIG_OPT_VERIFY, 1), 0);
	if (postcopy) {
		ck_assert_int_eq(vmmig_policy_new_postcopy(&pcc, &pol), 0);
		ck_assert_int_eq(vmmig_source_set_policy(src, pol), 0);
	}
	ck_assert_int_eq(vmmig_source_start(src, flip ? px.uri : d.uri), 0);
	ret = vmmig_source_wait(src);
	if (flip)
		ck_assert(atomic_load(&px.flipped));
	ck_assert_int_ne(dest_reap(&d), 0);
	/* Checked after the switch, outside the downtime: the guest already
	 * runs on the destination, and both sides report the mismatch. */
	ck_assert_int_eq(d.res->ret, -EIO);
	ck_assert_msg(strstr(d.res->error, "memory verification failed"),
		      "destination error: %s", d.res->error);
	ck_assert_int_eq(d.res->st.verified, 0);
	ck_assert_int_eq(d.res->started, 1);
	ck_assert_int_eq(d.res->owner, VMMIG_OWNER_DEST);
	ck_assert_int_eq(atomic_load(&g.resumes), 0);
	ck_assert_int_eq(vmmig_source_owner(src), VMMIG_OWNER_DEST);
	ck_assert_int_eq(vmmig_source_get_stats(src, &st), 0);
	if (postcopy) {
		/* The source learns it from DONE (or the lost link). */
		ck_assert_int_ne(ret, 0);
	} else {
		ck_assert_int_eq(ret, -EIO);
		ck_assert_msg(strstr(vmmig_source_error(src),
				     "memory verification failed"),
			      "source error: %s", vmmig_source_error(src));
		ck_assert_int_eq(st.verified, 0);
	}
	vmmig_source_free(src);
	vmmig_policy_free(pol);
	if (flip)
		proxy_stop(&px);
	dest_release(&d);
	guest_destroy(&g);
}

START_TEST(silent_write_precopy)
{
	run(false, false);
}
END_TEST

START_TEST(silent_write_postcopy)
{
	run(true, false);
}
END_TEST

START_TEST(page_byte_flipped_on_the_wire)
{
	run(false, true);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("verify");
	TCase *tc = tcase_create("verify");

	signal(SIGPIPE, SIG_IGN);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, silent_write_precopy);
	tcase_add_test(tc, page_byte_flipped_on_the_wire);
	if (vmtest_uffd_available())
		tcase_add_test(tc, silent_write_postcopy);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
