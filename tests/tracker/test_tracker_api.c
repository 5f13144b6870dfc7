/* SPDX-License-Identifier: MIT */
/*
 * The generic tracker object and its wrappers, driven through a tiny
 * embedder-defined tracker ("fake") that uses only the public ops table.
 */
#include <errno.h>
#include <string.h>
#include <vmmig/tracker.h>

#include "testutil.h"

/* What the fake saw; passed as config, so tests can inspect it. */
struct calls {
	int init, start, sync, clear, stop, destroy;
	int init_ret, start_ret;
	unsigned last_nr;
};

struct fake {
	struct calls *calls;
	uint64_t pattern; /* ORed into word 0 by sync */
	char zero_check[64];
};

static int fake_init(void *priv, const void *config)
{
	struct fake *f = priv;
	struct calls *c = (struct calls *)config;

	for (size_t i = 0; i < sizeof(f->zero_check); i++)
		if (f->zero_check[i] || f->calls || f->pattern)
			return -EFAULT; /* priv was not zeroed */
	f->calls = c;
	f->pattern = 0x5;
	c->init++;
	return c->init_ret;
}

static int fake_start(void *priv, const struct vmmig_tracker_region *r,
		      unsigned nr)
{
	struct fake *f = priv;

	(void)r;
	f->calls->start++;
	f->calls->last_nr = nr;
	return f->calls->start_ret;
}

static int fake_sync(void *priv, unsigned index, uint64_t *bitmap)
{
	struct fake *f = priv;

	(void)index;
	f->calls->sync++;
	bitmap[0] |= f->pattern;
	return 0;
}

static int fake_clear(void *priv, unsigned index, const uint64_t *bitmap)
{
	struct fake *f = priv;

	(void)index;
	(void)bitmap;
	f->calls->clear++;
	return 0;
}

static void fake_stop(void *priv)
{
	((struct fake *)priv)->calls->stop++;
}

static void fake_destroy(void *priv)
{
	struct fake *f = priv;

	/* destroy runs even when init failed before setting calls. */
	if (f->calls)
		f->calls->destroy++;
}

static const struct vmmig_tracker_ops fake_ops = {
	.version = VMMIG_TRACKER_OPS_VERSION,
	.name = "fake",
	.priv_size = sizeof(struct fake),
	.init = fake_init,
	.start = fake_start,
	.sync = fake_sync,
	.clear = fake_clear,
	.stop = fake_stop,
	.destroy = fake_destroy,
};

static char mem[2][8192] __attribute__((aligned(4096)));

static void regions(struct vmmig_tracker_region r[2])
{
	for (unsigned i = 0; i < 2; i++)
		r[i] = (struct vmmig_tracker_region){
			.id = 7 + i, .index = i, .gpa = i * 8192,
			.host = mem[i], .size = 8192, .npages = 2,
		};
}

/* A method's value >= 0 is success, for every interface (<vmmig/common.h>). */
START_TEST(test_positive_is_success)
{
	struct calls c = { .init_ret = 3, .start_ret = 2 };
	struct vmmig_tracker_region r[2];
	struct vmmig_tracker *t;
	uint64_t bm[1] = { 0 };

	regions(r);
	ck_assert_int_eq(vmmig_tracker_new(&fake_ops, &c, &t), 0);
	ck_assert_int_eq(vmmig_tracker_start(t, r, 2), 0);
	ck_assert_int_eq(c.stop, 0); /* a started tracker, not a failed one */
	ck_assert_int_eq(vmmig_tracker_sync(t, 0, bm), 0);
	vmmig_tracker_free(t);
	ck_assert_int_eq(c.stop, 1);
	ck_assert_int_eq(c.destroy, 1);
}
END_TEST

START_TEST(test_bad_ops)
{
	struct vmmig_tracker_ops ops = fake_ops;
	struct calls c = { 0 };
	struct vmmig_tracker *t = (void *)1;

	ck_assert_int_eq(vmmig_tracker_new(NULL, &c, &t), -EINVAL);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(vmmig_tracker_new(&fake_ops, &c, NULL), -EINVAL);

	ops.version = VMMIG_TRACKER_OPS_VERSION + 1;
	ck_assert_int_eq(vmmig_tracker_new(&ops, &c, &t), -EINVAL);
	ops.version = 0;
	ck_assert_int_eq(vmmig_tracker_new(&ops, &c, &t), -EINVAL);

	ops = fake_ops;
	ops.start = NULL;
	ck_assert_int_eq(vmmig_tracker_new(&ops, &c, &t), -EINVAL);
	ops = fake_ops;
	ops.sync = NULL;
	ck_assert_int_eq(vmmig_tracker_new(&ops, &c, &t), -EINVAL);
	ops = fake_ops;
	ops.stop = NULL;
	ck_assert_int_eq(vmmig_tracker_new(&ops, &c, &t), -EINVAL);
	/* Rejected before init: nothing was called. */
	ck_assert_int_eq(c.init, 0);
	ck_assert_int_eq(c.destroy, 0);
}
END_TEST

START_TEST(test_init_failure_destroys)
{
	struct calls c = { .init_ret = -EIO };
	struct vmmig_tracker *t = (void *)1;

	ck_assert_int_eq(vmmig_tracker_new(&fake_ops, &c, &t), -EIO);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(c.init, 1);
	ck_assert_int_eq(c.destroy, 1);
}
END_TEST

START_TEST(test_optional_methods)
{
	struct vmmig_tracker_ops ops = fake_ops;
	struct vmmig_tracker_region r[2];
	struct vmmig_tracker *t;
	uint64_t bm[1] = { 0 };

	/* No init, clear or destroy: still a valid tracker. */
	ops.init = NULL;
	ops.clear = NULL;
	ops.destroy = NULL;
	ck_assert_int_eq(vmmig_tracker_new(&ops, NULL, &t), 0);
	/* Without init, the fake has no calls pointer: use priv to set it. */
	struct calls c = { 0 };
	((struct fake *)vmmig_tracker_priv(t))->calls = &c;
	regions(r);
	ck_assert_int_eq(vmmig_tracker_start(t, r, 2), 0);
	ck_assert_int_eq(vmmig_tracker_clear(t, 0, bm), 0);
	ck_assert_int_eq(vmmig_tracker_sync(t, 1, bm), 0);
	vmmig_tracker_free(t);
	ck_assert_int_eq(c.stop, 1);
}
END_TEST

START_TEST(test_life_cycle)
{
	struct calls c = { 0 };
	struct vmmig_tracker_region r[2];
	struct vmmig_tracker *t;
	uint64_t bm[1] = { 0 };

	ck_assert_int_eq(vmmig_tracker_new(&fake_ops, &c, &t), 0);
	ck_assert_str_eq(vmmig_tracker_name(t), "fake");
	ck_assert_ptr_nonnull(vmmig_tracker_priv(t));
	ck_assert_ptr_eq(((struct fake *)vmmig_tracker_priv(t))->calls, &c);

	/* Before start: sync and clear fail cleanly, no op is called. */
	ck_assert_int_eq(vmmig_tracker_sync(t, 0, bm), -EINVAL);
	ck_assert_int_eq(vmmig_tracker_clear(t, 0, bm), -EINVAL);
	vmmig_tracker_stop(t); /* no-op */
	ck_assert_int_eq(c.sync + c.clear + c.stop, 0);

	regions(r);
	ck_assert_int_eq(vmmig_tracker_start(t, NULL, 2), -EINVAL);
	ck_assert_int_eq(vmmig_tracker_start(t, r, 0), -EINVAL);
	r[1].index = 0; /* index must be the position */
	ck_assert_int_eq(vmmig_tracker_start(t, r, 2), -EINVAL);
	regions(r);
	r[1].npages = 3; /* npages must be size / page */
	ck_assert_int_eq(vmmig_tracker_start(t, r, 2), -EINVAL);
	regions(r);
	r[0].host = mem[0] + 1; /* page aligned */
	ck_assert_int_eq(vmmig_tracker_start(t, r, 2), -EINVAL);
	regions(r);
	ck_assert_int_eq(c.start, 0);

	ck_assert_int_eq(vmmig_tracker_start(t, r, 2), 0);
	ck_assert_int_eq(c.start, 1);
	ck_assert_uint_eq(c.last_nr, 2);
	ck_assert_int_eq(vmmig_tracker_start(t, r, 2), -EBUSY);

	ck_assert_int_eq(vmmig_tracker_sync(t, 1, bm), 0);
	ck_assert_uint_eq(bm[0], 0x5);
	ck_assert_int_eq(vmmig_tracker_sync(t, 2, bm), -EINVAL); /* range */
	ck_assert_int_eq(vmmig_tracker_sync(t, 0, NULL), -EINVAL);
	ck_assert_int_eq(vmmig_tracker_clear(t, 0, bm), 0);
	ck_assert_int_eq(vmmig_tracker_clear(t, 2, bm), -EINVAL);
	ck_assert_int_eq(vmmig_tracker_clear(t, 0, NULL), -EINVAL);
	ck_assert_int_eq(c.sync, 1);
	ck_assert_int_eq(c.clear, 1);

	/* Not one of ours: the built-ins' extra calls refuse it. */
	ck_assert_int_eq(vmmig_tracker_manual_mark(t, 7, 0, 1), -EINVAL);
	ck_assert_int_eq(vmmig_tracker_uffd_wp_is_async(t), -EINVAL);

	vmmig_tracker_stop(t);
	ck_assert_int_eq(c.stop, 1);
	vmmig_tracker_stop(t); /* once only */
	ck_assert_int_eq(c.stop, 1);
	ck_assert_int_eq(vmmig_tracker_sync(t, 0, bm), -EINVAL);

	/* Restartable; free() stops a started tracker, then destroys. */
	ck_assert_int_eq(vmmig_tracker_start(t, r, 1), 0);
	vmmig_tracker_free(t);
	ck_assert_int_eq(c.stop, 2);
	ck_assert_int_eq(c.destroy, 1);
}
END_TEST

START_TEST(test_start_failure)
{
	struct calls c = { .start_ret = -ENOSPC };
	struct vmmig_tracker_region r[2];
	struct vmmig_tracker *t;
	uint64_t bm[1] = { 0 };

	ck_assert_int_eq(vmmig_tracker_new(&fake_ops, &c, &t), 0);
	regions(r);
	ck_assert_int_eq(vmmig_tracker_start(t, r, 2), -ENOSPC);
	/* The wrapper let the backend undo its partial start... */
	ck_assert_int_eq(c.stop, 1);
	/* ...and the tracker is not started. */
	ck_assert_int_eq(vmmig_tracker_sync(t, 0, bm), -EINVAL);
	vmmig_tracker_free(t);
	ck_assert_int_eq(c.stop, 1);
	ck_assert_int_eq(c.destroy, 1);
}
END_TEST

START_TEST(test_null)
{
	vmmig_tracker_free(NULL);
	vmmig_tracker_stop(NULL);
	ck_assert_ptr_null(vmmig_tracker_priv(NULL));
	ck_assert_ptr_nonnull(vmmig_tracker_name(NULL));
	ck_assert_int_eq(vmmig_tracker_sync(NULL, 0, NULL), -EINVAL);
	ck_assert_int_eq(vmmig_tracker_clear(NULL, 0, NULL), -EINVAL);
	ck_assert_int_eq(vmmig_tracker_start(NULL, NULL, 0), -EINVAL);
	ck_assert_int_eq(vmmig_tracker_manual_mark(NULL, 0, 0, 1), -EINVAL);
	ck_assert_int_eq(vmmig_tracker_uffd_wp_is_async(NULL), -EINVAL);
	ck_assert_int_eq(vmmig_tracker_new_uffd_wp(1u << 7, NULL), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tracker_api");
	TCase *tc = tcase_create("api");

	tcase_add_test(tc, test_bad_ops);
	tcase_add_test(tc, test_positive_is_success);
	tcase_add_test(tc, test_init_failure_destroys);
	tcase_add_test(tc, test_optional_methods);
	tcase_add_test(tc, test_life_cycle);
	tcase_add_test(tc, test_start_failure);
	tcase_add_test(tc, test_null);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
