/* SPDX-License-Identifier: MIT */
/*
 * One owner of the guest at every moment. A fault-injecting transport
 * (faulty.h) drops one message of the switchover (and everything after it
 * on that channel and direction), cuts the link at it, or kills its sender
 * or its receiver; for every message of the switchover, in pre-copy,
 * post-copy and hybrid. Whatever happens:
 *   - never do both sides run the guest (the source resuming it after its
 *     pause, and the destination starting it);
 *   - each living side's owner (vmmig_*_owner) matches what it did: SOURCE
 *     only if the destination never started it, DEST only if it did,
 *     UNKNOWN only if this side does not run it; a side that succeeded
 *     says DEST; two sides that both know agree.
 * Plus the two exact sequences of issue 12: (a) the destination's answer
 * dropped by a partition; (b) no fault, but a source IO timeout (500 ms)
 * shorter than the destination's load_state (1.5 s).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "faulty.h"
#include "e2e.h"
#include "testutil.h"
#include "wire/wire.h"

#define GUEST_SIZE (4u << 20)

enum mode { PRECOPY, POSTCOPY, HYBRID };

static atomic_int src_resumed_alive, dst_started_alive;
static unsigned load_delay_ms;

static int src_resume(void *opaque)
{
	if (!ft_dead(FT_SRC))
		atomic_fetch_add(&src_resumed_alive, 1);
	return guest_source_ops.resume(opaque);
}

static int dst_load(void *opaque, uint32_t id, const void *data, size_t len)
{
	(void)opaque, (void)id, (void)data, (void)len;
	if (load_delay_ms)
		usleep(load_delay_ms * 1000u);
	load_delay_ms = 0;
	return 0;
}

static int dst_start(void *opaque)
{
	(void)opaque;
	if (!ft_dead(FT_DST))
		atomic_fetch_add(&dst_started_alive, 1);
	return 0;
}

static const struct vmmig_dest_ops dops = {
	.version = VMMIG_DEST_OPS_VERSION,
	.load_state = dst_load,
	.start = dst_start,
};

struct outcome {
	int src_ret, dst_ret;
	int src_owner, dst_owner;
	bool src_ran, dst_ran;
	bool src_paused;      /* the source paused its guest at all */
};

/* @p: the fault, on the faulty in-process transport; NULL: none, over
 * loopback TCP (where a send to a peer that already gave up succeeds). */
static void run(enum mode m, const struct ft_plan *p, int src_io_ms,
		int dst_io_ms, struct outcome *o)
{
	struct vmmig_postcopy_config pcc = { .struct_size = sizeof(pcc),
		.flags = VMMIG_POSTCOPY_NO_FIRST_PASS };
	struct vmmig_postcopy_config pcc_pass = { .struct_size = sizeof(pcc_pass) };
	struct vmmig_source_ops sops = guest_source_ops;
	struct vmmig_policy *pol = NULL;
	struct vmmig_source *src;
	struct vmmig_dest *dst;
	char name[64], uri[128];
	struct guest g;
	uint8_t *dmem;

	snprintf(name, sizeof(name), "switchover-%d", getpid());
	atomic_store(&src_resumed_alive, 0);
	atomic_store(&dst_started_alive, 0);
	ft_arm(p);
	sops.resume = src_resume;
	ck_assert_int_eq(guest_init(&g, GUEST_SIZE, FILL_RANDOM, false), 0);
	dmem = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(dmem, MAP_FAILED);

	ck_assert_int_eq(vmmig_dest_new(&dst), 0);
	ck_assert_int_eq(vmmig_dest_add_region(dst, 0, 0, dmem, GUEST_SIZE), 0);
	ck_assert_int_eq(vmmig_dest_set_ops(dst, &dops, NULL), 0);
	vmmig_dest_set_option(dst, VMMIG_OPT_IO_TIMEOUT_MS, dst_io_ms);
	vmmig_dest_set_option(dst, VMMIG_OPT_RECOVERY_TIMEOUT_MS, 0);
	if (p)
		ck_assert_int_eq(vmmig_dest_listen_transport(dst, ft_transport(),
							     name, NULL, 0), 0);
	else
		ck_assert_int_eq(vmmig_dest_listen(dst, "tcp:127.0.0.1:0", uri,
						   sizeof(uri)), 0);
	ck_assert_int_eq(vmmig_dest_start(dst), 0);

	src = guest_source(&g, &sops);
	if (m == POSTCOPY)
		ck_assert_int_eq(vmmig_policy_new_postcopy(&pcc, &pol), 0);
	/* Hybrid: a pre-copy pass, then post-copy whatever the figures (the
	 * hybrid policy would stop and copy a guest this small). */
	if (m == HYBRID)
		ck_assert_int_eq(vmmig_policy_new_postcopy(&pcc_pass, &pol), 0);
	if (pol)
		ck_assert_int_eq(vmmig_source_set_policy(src, pol), 0);
	vmmig_source_set_option(src, VMMIG_OPT_IO_TIMEOUT_MS, src_io_ms);
	vmmig_source_set_option(src, VMMIG_OPT_RECOVERY_TIMEOUT_MS, 0);
	vmmig_source_set_option(src, VMMIG_OPT_VERIFY, 1);
	vmmig_source_set_option(src, VMMIG_OPT_CHANNELS, 2);
	ck_assert_int_eq(guest_run(&g, m == HYBRID ? 20 : 200), 0);
	if (p)
		ck_assert_int_eq(vmmig_source_start_transport(
					 src, ft_transport(), name), 0);
	else
		ck_assert_int_eq(vmmig_source_start(src, uri), 0);
	o->src_ret = vmmig_source_wait(src);
	o->dst_ret = vmmig_dest_wait(dst);
	o->src_owner = vmmig_source_owner(src);
	o->dst_owner = vmmig_dest_owner(dst);
	o->src_ran = atomic_load(&src_resumed_alive) > 0;
	o->dst_ran = atomic_load(&dst_started_alive) > 0;
	o->src_paused = atomic_load(&g.pauses) > 0;
	guest_stop(&g);
	if (!o->src_ret && !o->dst_ret)
		ck_assert_msg(memcmp(g.mem, dmem, GUEST_SIZE) == 0,
			      "destination memory differs");
	printf("mode %d fault %s type 0x%04x #%u action %d: source %d "
	       "owner %d ran %d (%s); destination %d owner %d ran %d (%s)\n",
	       m, p ? (p->side == FT_SRC ? "src" : "dst") : "none",
	       p ? p->type : 0, p ? p->nth : 0, p ? (int)p->action : -1,
	       o->src_ret, o->src_owner, o->src_ran,
	       vmmig_source_error(src) ? vmmig_source_error(src) : "",
	       o->dst_ret, o->dst_owner, o->dst_ran,
	       vmmig_dest_error(dst) ? vmmig_dest_error(dst) : "");
	vmmig_source_free(src);
	vmmig_dest_free(dst);
	vmmig_policy_free(pol);
	munmap(dmem, GUEST_SIZE);
	guest_destroy(&g);
}

/* The invariants, whatever the fault. */
static void check_one_owner(const struct outcome *o)
{
	bool src_alive = !ft_dead(FT_SRC), dst_alive = !ft_dead(FT_DST);

	ck_assert_msg(!(o->src_ran && o->dst_ran), "split brain: both sides "
		      "run the guest");
	if (src_alive) {
		if (o->src_owner == VMMIG_OWNER_SOURCE)
			ck_assert(!o->dst_ran);
		if (o->src_owner == VMMIG_OWNER_DEST ||
		    o->src_owner == VMMIG_OWNER_UNKNOWN)
			ck_assert(!o->src_ran);
		if (!o->src_ret)
			ck_assert_int_eq(o->src_owner, VMMIG_OWNER_DEST);
		/* A source that gave up before COMMIT runs its guest (it
		 * resumed it, if it had paused it). */
		if (o->src_ret && o->src_owner == VMMIG_OWNER_SOURCE)
			ck_assert(o->src_ran || !o->src_paused);
	}
	if (dst_alive) {
		if (o->dst_owner == VMMIG_OWNER_DEST)
			ck_assert(o->dst_ran);
		else
			ck_assert(!o->dst_ran);
		if (!o->dst_ret)
			ck_assert_int_eq(o->dst_owner, VMMIG_OWNER_DEST);
	}
	if (src_alive && dst_alive && o->src_owner != VMMIG_OWNER_UNKNOWN &&
	    o->dst_owner != VMMIG_OWNER_UNKNOWN)
		ck_assert_int_eq(o->src_owner, o->dst_owner);
}

struct msg {
	enum ft_side side;
	uint16_t type;
	unsigned nth;
};

static const struct msg precopy_msgs[] = {
	{ FT_SRC, WIRE_END, 1 },    { FT_SRC, WIRE_END, 3 },
	{ FT_SRC, WIRE_STATE, 1 },  { FT_DST, WIRE_READY, 1 },
	{ FT_SRC, WIRE_COMMIT, 1 }, { FT_DST, WIRE_STARTED, 1 },
	{ FT_SRC, WIRE_DIGEST, 1 },
};

static const struct msg postcopy_msgs[] = {
	{ FT_SRC, WIRE_SWITCH, 1 },  { FT_SRC, WIRE_SWITCH, 3 },
	{ FT_SRC, WIRE_DISCARD, 1 }, { FT_SRC, WIRE_STATE, 1 },
	{ FT_SRC, WIRE_POSTCOPY, 1 }, { FT_DST, WIRE_READY, 1 },
	{ FT_SRC, WIRE_COMMIT, 1 },  { FT_DST, WIRE_STARTED, 1 },
	{ FT_SRC, WIRE_END, 1 },     { FT_DST, WIRE_DONE, 1 },
};

#define NACTIONS 4
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void matrix(enum mode m, const struct msg *msgs, int i)
{
	const struct msg *mg = &msgs[i / NACTIONS];
	struct ft_plan p = { .side = mg->side, .type = mg->type,
			     .nth = mg->nth,
			     .action = (enum ft_action)(i % NACTIONS) };
	struct outcome o;

	run(m, &p, 300, 300, &o);
	check_one_owner(&o);
	/* The fault fired unless the run ended before that message (e.g.
	 * an earlier failure): then it must have failed. */
	if (!ft_fired())
		ck_assert(o.src_ret || o.dst_ret);
}

START_TEST(faults_precopy)
{
	matrix(PRECOPY, precopy_msgs, _i);
}
END_TEST

START_TEST(faults_postcopy)
{
	matrix(POSTCOPY, postcopy_msgs, _i);
}
END_TEST

START_TEST(faults_hybrid)
{
	matrix(HYBRID, postcopy_msgs, _i);
}
END_TEST

START_TEST(no_fault)
{
	struct outcome o;

	run(_i, NULL, 2000, 2000, &o);
	ck_assert_int_eq(o.src_ret, 0);
	ck_assert_int_eq(o.dst_ret, 0);
	ck_assert_int_eq(o.src_owner, VMMIG_OWNER_DEST);
	ck_assert_int_eq(o.dst_owner, VMMIG_OWNER_DEST);
	ck_assert(o.dst_ran && !o.src_ran);
}
END_TEST

/* Issue 12 (a): the destination's answer to the last state is lost in a
 * partition. It used to start the guest (it had answered), while the
 * source, never hearing the answer, resumed its own. */
START_TEST(repro_a_answer_dropped)
{
	struct ft_plan p = { .side = FT_DST, .type = WIRE_READY,
			     .alt_type = WIRE_ACK, .nth = 1,
			     .action = FT_DROP };
	struct outcome o;

	run(PRECOPY, &p, 300, 300, &o);
	ck_assert(ft_fired());
	ck_assert_msg(!(o.src_ran && o.dst_ran), "split brain");
	ck_assert_int_ne(o.src_ret, 0);
	ck_assert(o.src_ran);
	ck_assert(!o.dst_ran);
	ck_assert_int_ne(o.dst_ret, 0);
	ck_assert_int_eq(o.src_owner, VMMIG_OWNER_SOURCE);
	ck_assert_int_eq(o.dst_owner, VMMIG_OWNER_UNKNOWN);
}
END_TEST

/* Issue 12 (b): no fault at all; the source's IO timeout (500 ms) is
 * shorter than the destination's load_state (1.5 s; its IO timeout 10 s).
 * The source gives up and resumes; the destination must not start. */
START_TEST(repro_b_slow_load_state)
{
	struct outcome o;

	load_delay_ms = 1500;
	run(PRECOPY, NULL, 500, 10000, &o);
	ck_assert_msg(!(o.src_ran && o.dst_ran), "split brain");
	ck_assert_int_eq(o.src_ret, -ETIMEDOUT);
	ck_assert(o.src_ran);
	ck_assert(!o.dst_ran);
	ck_assert_int_ne(o.dst_ret, 0);
	ck_assert_int_eq(o.src_owner, VMMIG_OWNER_SOURCE);
	ck_assert_int_ne(o.dst_owner, VMMIG_OWNER_DEST);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("switchover");
	TCase *tc = tcase_create("repro");
	TCase *pre = tcase_create("faults-precopy");
	TCase *post = tcase_create("faults-postcopy");
	TCase *hyb = tcase_create("faults-hybrid");
	bool uffd = vmtest_uffd_available();
	const char *only = getenv("CK_RUN_CASE"); /* one meson test a case */

	if (!uffd && only && (!strcmp(only, "faults-postcopy") ||
			      !strcmp(only, "faults-hybrid")))
		return vmtest_skip("no userfaultfd: no post-copy");
	signal(SIGPIPE, SIG_IGN);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, repro_a_answer_dropped);
	tcase_add_test(tc, repro_b_slow_load_state);
	tcase_add_loop_test(tc, no_fault, PRECOPY, uffd ? HYBRID + 1 : POSTCOPY);
	suite_add_tcase(s, tc);
	tcase_set_timeout(pre, 30);
	tcase_add_loop_test(pre, faults_precopy, 0,
			    NACTIONS * ARRAY_SIZE(precopy_msgs));
	suite_add_tcase(s, pre);
	if (uffd) {
		tcase_set_timeout(post, 30);
		tcase_add_loop_test(post, faults_postcopy, 0,
				    NACTIONS * ARRAY_SIZE(postcopy_msgs));
		suite_add_tcase(s, post);
		tcase_set_timeout(hyb, 30);
		tcase_add_loop_test(hyb, faults_hybrid, 0,
				    NACTIONS * ARRAY_SIZE(postcopy_msgs));
		suite_add_tcase(s, hyb);
	}
	return vmtest_run(s);
}
