/* SPDX-License-Identifier: MIT */
/* The generic page-source object through its wrappers: ops table checks,
 * life cycle errors, an embedder's own source (in-memory "snapshot") built
 * only from the public ops table, and the page hash. */
#include <errno.h>
#include <string.h>

#include <vmmig/pagesource.h>

#include "snapshot.h"
#include "srcutil.h"
#include "testutil.h"

#define SNAP_PAGES 64

static unsigned char snap_mem[SNAP_PAGES * VMMIG_PAGE_SIZE];

static void fill_snap(void)
{
	for (size_t i = 0; i < sizeof(snap_mem); i++)
		snap_mem[i] = (unsigned char)(i * 7 + i / VMMIG_PAGE_SIZE);
}

START_TEST(page_hash_pinned)
{
	static unsigned char a[VMMIG_PAGE_SIZE], b[2 * VMMIG_PAGE_SIZE];
	uint64_t h;

	for (unsigned i = 0; i < VMMIG_PAGE_SIZE; i++)
		a[i] = (unsigned char)i;
	h = vmmig_page_hash(a);
	/* The source and destination hosts must agree: pin the value so a
	 * change of seed or algorithm cannot go unnoticed. */
	ck_assert_uint_eq(h, 0x5a9109c4d9290690ull);
	/* Depends on contents only, not on the address. */
	memcpy(b + 100, a, VMMIG_PAGE_SIZE);
	ck_assert_uint_eq(vmmig_page_hash(b + 100), h);
	/* One flipped bit, first or last byte, changes it. */
	a[0] ^= 1;
	ck_assert_uint_ne(vmmig_page_hash(a), h);
	a[0] ^= 1;
	a[VMMIG_PAGE_SIZE - 1] ^= 0x80;
	ck_assert_uint_ne(vmmig_page_hash(a), h);
}
END_TEST

START_TEST(bad_ops_rejected)
{
	struct snap_config cfg = { snap_mem, sizeof(snap_mem), 0 };
	struct vmmig_page_source_ops o = snap_ops;
	struct vmmig_page_source *ps = (void *)1;

	ck_assert_int_eq(vmmig_page_source_new(NULL, &cfg, &ps), -EINVAL);
	ck_assert_ptr_null(ps);
	ck_assert_int_eq(vmmig_page_source_new(&snap_ops, &cfg, NULL), -EINVAL);
	o.version = 0;
	ck_assert_int_eq(vmmig_page_source_new(&o, &cfg, &ps), -EINVAL);
	o.version = VMMIG_PAGE_SOURCE_OPS_VERSION + 1;
	ck_assert_int_eq(vmmig_page_source_new(&o, &cfg, &ps), -EINVAL);
	o = snap_ops;
	o.name = NULL;
	ck_assert_int_eq(vmmig_page_source_new(&o, &cfg, &ps), -EINVAL);
	o = snap_ops;
	o.start = NULL;
	ck_assert_int_eq(vmmig_page_source_new(&o, &cfg, &ps), -EINVAL);
	o = snap_ops;
	o.submit = NULL;
	ck_assert_int_eq(vmmig_page_source_new(&o, &cfg, &ps), -EINVAL);
	o = snap_ops;
	o.stop = NULL;
	ck_assert_int_eq(vmmig_page_source_new(&o, &cfg, &ps), -EINVAL);
	ck_assert_ptr_null(ps);
	/* None of those got as far as init(). */
	ck_assert_int_eq(snap_counts.init, 0);
	/* init() failing: its error comes back, destroy() still runs. */
	ck_assert_int_eq(vmmig_page_source_new(&snap_ops, NULL, &ps), -EINVAL);
	ck_assert_ptr_null(ps);
	ck_assert_int_eq(snap_counts.init, 1);
	ck_assert_int_eq(snap_counts.destroy, 1);
	/* Optional init/destroy may be absent; NULL handles are harmless. */
	o = snap_ops;
	o.init = NULL;
	o.destroy = NULL;
	ck_assert_int_eq(vmmig_page_source_new(&o, NULL, &ps), 0);
	ck_assert_ptr_nonnull(vmmig_page_source_priv(ps));
	vmmig_page_source_free(ps);
	vmmig_page_source_free(NULL);
	vmmig_page_source_stop(NULL);
	ck_assert_ptr_null(vmmig_page_source_priv(NULL));
	ck_assert_ptr_null(vmmig_page_source_name(NULL));
}
END_TEST

START_TEST(life_cycle_errors)
{
	struct snap_config cfg = { snap_mem, sizeof(snap_mem), 0 };
	struct vmmig_page_source *ps;
	struct fetchset fs;
	struct vmmig_page_fetch *bad[2];

	fill_snap();
	ck_assert_int_eq(fetchset_make(&fs, 2), 0);
	fetchset_set(&fs, 0, 0, 0, vmmig_page_hash(snap_mem));
	fetchset_set(&fs, 1, 0, 1, vmmig_page_hash(snap_mem + VMMIG_PAGE_SIZE));
	ck_assert_int_eq(vmmig_page_source_new(&snap_ops, &cfg, &ps), 0);
	ck_assert_str_eq(vmmig_page_source_name(ps), "snapshot");
	/* Not started yet. */
	ck_assert_int_eq(vmmig_page_source_submit(ps, fs.ptr, 2), -EINVAL);
	ck_assert_int_eq(vmmig_page_source_start(ps, NULL, &fs), -EINVAL);
	ck_assert_int_eq(vmmig_page_source_start(NULL, fetchset_done, &fs), -EINVAL);
	ck_assert_int_eq(vmmig_page_source_start(ps, fetchset_done, &fs), 0);
	ck_assert_int_eq(vmmig_page_source_start(ps, fetchset_done, &fs), -EBUSY);
	ck_assert_int_eq(snap_counts.start, 1);
	/* Bad arrays are refused whole: no done() for the good fetch. */
	bad[0] = fs.ptr[0];
	bad[1] = NULL;
	ck_assert_int_eq(vmmig_page_source_submit(ps, bad, 2), -EINVAL);
	fs.f[1].buf = NULL;
	ck_assert_int_eq(vmmig_page_source_submit(ps, fs.ptr, 2), -EINVAL);
	fs.f[1].buf = fs.bufs + VMMIG_PAGE_SIZE;
	ck_assert_int_eq(vmmig_page_source_submit(ps, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmig_page_source_submit(NULL, fs.ptr, 1), -EINVAL);
	ck_assert_int_eq(vmmig_page_source_submit(ps, NULL, 0), 0);
	ck_assert_int_eq(vmmig_page_source_submit(ps, fs.ptr, 2), 0);
	vmmig_page_source_stop(ps);
	/* This backend's stop() runs what was queued. */
	ck_assert_uint_eq(atomic_load(&fs.total), 2);
	ck_assert(fetchset_once_each(&fs));
	ck_assert_uint_eq(fetchset_count(&fs, 0), 2);
	ck_assert_int_eq(vmmig_page_source_submit(ps, fs.ptr, 1), -ESHUTDOWN);
	ck_assert_int_eq(vmmig_page_source_start(ps, fetchset_done, &fs), -EBUSY);
	vmmig_page_source_stop(ps);
	ck_assert_int_eq(snap_counts.stop, 1);
	vmmig_page_source_free(ps);
	ck_assert_int_eq(snap_counts.destroy, 1);
	fetchset_drop(&fs);
}
END_TEST

START_TEST(start_failure)
{
	struct snap_config cfg = { snap_mem, sizeof(snap_mem), -ENODEV };
	struct vmmig_page_source *ps;
	struct fetchset fs;

	ck_assert_int_eq(fetchset_make(&fs, 1), 0);
	ck_assert_int_eq(vmmig_page_source_new(&snap_ops, &cfg, &ps), 0);
	ck_assert_int_eq(vmmig_page_source_start(ps, fetchset_done, &fs), -ENODEV);
	ck_assert_int_eq(vmmig_page_source_submit(ps, fs.ptr, 1), -EINVAL);
	/* Never started: free does not call stop(). */
	vmmig_page_source_free(ps);
	ck_assert_int_eq(snap_counts.stop, 0);
	ck_assert_int_eq(snap_counts.destroy, 1);
	fetchset_drop(&fs);
}
END_TEST

/* The embedder's source does real work through the wrappers: good pages,
 * a wrong hash, an unknown object, a range past the end; free() of a
 * running source stops it first. */
START_TEST(embedder_source)
{
	struct snap_config cfg = { snap_mem, sizeof(snap_mem), 0 };
	struct vmmig_page_source *ps;
	struct vmmig_storage_stats st = { .struct_size = sizeof(st) };
	struct fetchset fs;
	const unsigned n = 256;

	fill_snap();
	ck_assert_int_eq(fetchset_make(&fs, n), 0);
	for (unsigned i = 0; i < n; i++) {
		unsigned pg = i % SNAP_PAGES;

		fetchset_set(&fs, i, 0, pg,
			     vmmig_page_hash(snap_mem + pg * VMMIG_PAGE_SIZE));
	}
	fs.f[10].hash ^= 1;
	fs.f[20].object_id = 5;
	fs.f[30].offset = sizeof(snap_mem) - 100;
	fetchset_shuffle(&fs, 3);
	ck_assert_int_eq(vmmig_page_source_new(&snap_ops, &cfg, &ps), 0);
	/* Storage-only calls refuse a source of another kind. */
	ck_assert_int_eq(vmmig_storage_add_object(ps, 1, "/x"), -EINVAL);
	ck_assert_int_eq(vmmig_storage_add_object_fd(ps, 1, 0), -EINVAL);
	ck_assert_int_eq(vmmig_storage_get_stats(ps, &st), -EINVAL);
	ck_assert_int_eq(vmmig_page_source_start(ps, fetchset_done, &fs), 0);
	ck_assert_int_eq(fetchset_submit_threads(ps, &fs, 2, 16), 0);
	ck_assert(fetchset_wait(&fs, n, 10000));
	ck_assert(fetchset_once_each(&fs));
	ck_assert_int_eq(fs.status[10], -EBADMSG);
	ck_assert_int_eq(fs.status[20], -ENOENT);
	ck_assert_int_eq(fs.status[30], -EIO);
	ck_assert_uint_eq(fetchset_count(&fs, 0), n - 3);
	for (unsigned i = 0; i < n; i++)
		if (fs.status[i] == 0)
			ck_assert(!memcmp(fs.f[i].buf,
					  snap_mem + fs.f[i].offset,
					  VMMIG_PAGE_SIZE));
	vmmig_page_source_free(ps);
	ck_assert_int_eq(snap_counts.stop, 1);
	ck_assert_int_eq(snap_counts.destroy, 1);
	fetchset_drop(&fs);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pagesource");
	TCase *tc = tcase_create("api");

	tcase_add_test(tc, page_hash_pinned);
	tcase_add_test(tc, bad_ops_rejected);
	tcase_add_test(tc, life_cycle_errors);
	tcase_add_test(tc, start_failure);
	tcase_add_test(tc, embedder_source);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
