/* SPDX-License-Identifier: MIT */
/* The shared-storage page source when things go wrong: wrong hashes,
 * unknown objects and missing files, reads past the end, stop() with work
 * queued and submitters blocked, and misuse of the setup calls. */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <vmmig/pagesource.h>

#include "srcutil.h"
#include "testutil.h"

#define FILE_PAGES 256u
#define QUEUE_ROOM 256u /* queued fetches at depth 1: max(4 x 1, 256) */

static struct datafile df;

static void make_file(void)
{
	if (datafile_make(&df, FILE_PAGES, 99))
		ck_abort_msg("cannot make the data file");
}

static void drop_file(void)
{
	datafile_drop(&df);
}

static struct vmmig_page_source *started(struct fetchset *fs, unsigned qd)
{
	struct vmmig_storage_config cfg = { .queue_depth = qd };
	struct vmmig_page_source *ps;

	ck_assert_int_eq(vmmig_page_source_new_storage(&cfg, &ps), 0);
	ck_assert_int_eq(vmmig_storage_add_object(ps, 1, df.path), 0);
	ck_assert_int_eq(vmmig_page_source_start(ps, fetchset_done, fs), 0);
	return ps;
}

START_TEST(wrong_hash)
{
	struct vmmig_page_source *ps;
	struct vmmig_storage_stats st;
	struct fetchset fs;
	const unsigned n = 64;

	ck_assert_int_eq(fetchset_make(&fs, n), 0);
	for (unsigned i = 0; i < n; i++)
		fetchset_set(&fs, i, 1, i, df.hash[i] ^ (i % 4 == 0));
	ps = started(&fs, 8);
	ck_assert_int_eq(vmmig_page_source_submit(ps, fs.ptr, n), 0);
	ck_assert(fetchset_wait(&fs, n, 10000));
	vmmig_page_source_stop(ps);
	ck_assert(fetchset_once_each(&fs));
	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(fs.status[i], i % 4 == 0 ? -EBADMSG : 0);
	st = stats_of(ps);
	ck_assert_uint_eq(st.pages_mismatch, n / 4);
	ck_assert_uint_eq(st.pages_ok, n - n / 4);
	ck_assert_uint_eq(st.pages_failed, 0);
	vmmig_page_source_free(ps);
	fetchset_drop(&fs);
}
END_TEST

/* Object 2 maps to a missing file, 7 is not mapped at all: -ENOENT, one
 * open failure each however many fetches name them; object 1 still works. */
START_TEST(missing_objects)
{
	struct vmmig_page_source *ps;
	struct vmmig_storage_stats st;
	struct fetchset fs;
	const unsigned n = 60;

	ck_assert_int_eq(fetchset_make(&fs, n), 0);
	for (unsigned i = 0; i < n; i++)
		fetchset_set(&fs, i, i % 3 == 0 ? 1 : i % 3 == 1 ? 2 : 7, i,
			     df.hash[i]);
	ck_assert_int_eq(vmmig_page_source_new_storage(NULL, &ps), 0);
	ck_assert_int_eq(vmmig_storage_add_object(ps, 2, "/nonexistent/vmmig/x"), 0);
	ck_assert_int_eq(vmmig_storage_add_object(ps, 1, df.path), 0);
	ck_assert_int_eq(vmmig_page_source_start(ps, fetchset_done, &fs), 0);
	/* Two submits, so the failed objects are looked up again later. */
	ck_assert_int_eq(vmmig_page_source_submit(ps, fs.ptr, n / 2), 0);
	ck_assert(fetchset_wait(&fs, n / 2, 10000));
	ck_assert_int_eq(vmmig_page_source_submit(ps, fs.ptr + n / 2, n / 2), 0);
	ck_assert(fetchset_wait(&fs, n, 10000));
	vmmig_page_source_stop(ps);
	ck_assert(fetchset_once_each(&fs));
	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(fs.status[i], i % 3 == 0 ? 0 : -ENOENT);
	st = stats_of(ps);
	ck_assert_uint_eq(st.open_failures, 2);
	ck_assert_uint_eq(st.pages_failed, 2 * n / 3);
	ck_assert_uint_eq(st.pages_ok, n / 3);
	vmmig_page_source_free(ps);
	fetchset_drop(&fs);
}
END_TEST

/* At the end of the file: nothing read; straddling it: a short read whose
 * rest finds the end. Both -EIO, only the straddling bytes counted. */
START_TEST(past_eof)
{
	struct vmmig_page_source *ps;
	struct vmmig_storage_stats st;
	struct fetchset fs;
	const uint64_t end = (uint64_t)FILE_PAGES * VMMIG_PAGE_SIZE;

	ck_assert_int_eq(fetchset_make(&fs, 3), 0);
	fetchset_set(&fs, 0, 1, FILE_PAGES, 0);
	fetchset_set(&fs, 1, 1, 0, 0);
	fs.f[1].offset = end - 1024;
	fetchset_set(&fs, 2, 1, FILE_PAGES + 1000, 0);
	ps = started(&fs, 4);
	ck_assert_int_eq(vmmig_page_source_submit(ps, fs.ptr, 3), 0);
	ck_assert(fetchset_wait(&fs, 3, 10000));
	vmmig_page_source_stop(ps);
	ck_assert(fetchset_once_each(&fs));
	ck_assert_uint_eq(fetchset_count(&fs, -EIO), 3);
	ck_assert(!memcmp(fs.f[1].buf, df.data + end - 1024, 1024));
	st = stats_of(ps);
	ck_assert_uint_eq(st.pages_failed, 3);
	ck_assert_uint_eq(st.bytes_read, 1024);
	vmmig_page_source_free(ps);
	fetchset_drop(&fs);
}
END_TEST

struct bg_submit {
	struct vmmig_page_source *ps;
	struct fetchset *fs;
	int ret;
};

static void *bg_submit_all(void *arg)
{
	struct bg_submit *b = arg;

	b->ret = vmmig_page_source_submit(b->ps, b->fs->ptr, b->fs->n);
	return NULL;
}

/* Depth 1 (queue of 256) and one submit() of 4000: it blocks for room.
 * stop() meanwhile: every fetch completes exactly once, read or
 * cancelled, before stop() returns; later submits are refused. */
START_TEST(stop_with_work_queued)
{
	struct vmmig_page_source *ps;
	struct vmmig_storage_stats st;
	struct fetchset fs;
	struct bg_submit b;
	pthread_t th;
	const unsigned n = 4000;
	unsigned ok, cancelled;

	ck_assert_int_eq(fetchset_make(&fs, n), 0);
	for (unsigned i = 0; i < n; i++)
		fetchset_set(&fs, i, 1, i % FILE_PAGES, df.hash[i % FILE_PAGES]);
	ps = started(&fs, 1);
	b = (struct bg_submit){ .ps = ps, .fs = &fs };
	ck_assert_int_eq(pthread_create(&th, NULL, bg_submit_all, &b), 0);
	ck_assert(fetchset_wait(&fs, 10, 10000));
	vmmig_page_source_stop(ps);
	/* No waiting here: stop() returned, so every done() has returned. */
	ck_assert_uint_eq(atomic_load(&fs.total), n);
	ck_assert(fetchset_once_each(&fs));
	pthread_join(th, NULL);
	ck_assert_int_eq(b.ret, 0);
	ok = fetchset_count(&fs, 0);
	cancelled = fetchset_count(&fs, -ECANCELED);
	ck_assert_uint_eq(ok + cancelled, n);
	ck_assert_uint_ge(ok, 10);
	ck_assert_uint_gt(cancelled, 0);
	for (unsigned i = 0; i < n; i++)
		if (fs.status[i] == 0)
			ck_assert(!memcmp(fs.f[i].buf,
					  df.data + fs.f[i].offset,
					  VMMIG_PAGE_SIZE));
	st = stats_of(ps);
	ck_assert_uint_eq(st.pages_ok, ok);
	ck_assert_uint_eq(st.pages_failed + st.pages_mismatch, 0);
	ck_assert_uint_eq(st.max_in_flight, 1);
	ck_assert_int_eq(vmmig_page_source_submit(ps, fs.ptr, 1), -ESHUTDOWN);
	vmmig_page_source_free(ps);
	fetchset_drop(&fs);
}
END_TEST

/* free() of a running source with a full queue: stops, cancels, returns. */
START_TEST(free_while_busy)
{
	struct vmmig_page_source *ps;
	struct fetchset fs;
	const unsigned n = 256;

	ck_assert_int_eq(fetchset_make(&fs, n), 0);
	for (unsigned i = 0; i < n; i++)
		fetchset_set(&fs, i, 1, i, df.hash[i]);
	ps = started(&fs, 64);
	ck_assert_int_eq(vmmig_page_source_submit(ps, fs.ptr, n), 0);
	vmmig_page_source_free(ps);
	ck_assert_uint_eq(atomic_load(&fs.total), n);
	ck_assert(fetchset_once_each(&fs));
	ck_assert_uint_eq(fetchset_count(&fs, 0) +
			  fetchset_count(&fs, -ECANCELED), n);
	fetchset_drop(&fs);
}
END_TEST

START_TEST(setup_misuse)
{
	struct vmmig_storage_config cfg = { .queue_depth = VMMIG_STORAGE_MAX_QD + 1 };
	struct vmmig_page_source *ps = (void *)1;
	struct vmmig_storage_stats st;
	struct fetchset fs;

	ck_assert_int_eq(vmmig_page_source_new_storage(&cfg, &ps), -ERANGE);
	ck_assert_ptr_null(ps);
	ck_assert_int_eq(vmmig_page_source_new_storage(NULL, NULL), -EINVAL);
	cfg.queue_depth = VMMIG_STORAGE_MAX_QD;
	ck_assert_int_eq(vmmig_page_source_new_storage(&cfg, &ps), 0);
	vmmig_page_source_free(ps);

	ck_assert_int_eq(fetchset_make(&fs, 1), 0);
	ck_assert_int_eq(vmmig_page_source_new_storage(NULL, &ps), 0);
	ck_assert_int_eq(vmmig_storage_add_object(ps, 1, NULL), -EINVAL);
	ck_assert_int_eq(vmmig_storage_add_object(ps, 1, ""), -EINVAL);
	ck_assert_int_eq(vmmig_storage_add_object(NULL, 1, "/x"), -EINVAL);
	ck_assert_int_eq(vmmig_storage_add_object_fd(ps, 1, -1), -EBADF);
	ck_assert_int_eq(vmmig_storage_add_object(ps, 1, df.path), 0);
	ck_assert_int_eq(vmmig_storage_add_object(ps, 1, "/other"), -EEXIST);
	ck_assert_int_eq(vmmig_storage_add_object_fd(ps, 1, df.fd), -EEXIST);
	/* Many objects (the table grows) in any order. */
	for (uint64_t id = 1000; id > 900; id--)
		ck_assert_int_eq(vmmig_storage_add_object_fd(ps, id, df.fd), 0);

	/* Stats: NULL, too small, and an older caller's shorter struct. */
	ck_assert_int_eq(vmmig_storage_get_stats(ps, NULL), -EINVAL);
	st.struct_size = 2;
	ck_assert_int_eq(vmmig_storage_get_stats(ps, &st), -EINVAL);
	ck_assert_int_eq(vmmig_storage_get_stats(NULL, &st), -EINVAL);
	memset(&st, 0xee, sizeof(st));
	st.struct_size = offsetof(struct vmmig_storage_stats, open_failures);
	ck_assert_int_eq(vmmig_storage_get_stats(ps, &st), 0);
	ck_assert_uint_eq(st.struct_size,
			  offsetof(struct vmmig_storage_stats, open_failures));
	ck_assert_uint_eq(st.pages_ok, 0);
	ck_assert_uint_eq(st.open_failures, 0xeeeeeeeeeeeeeeeeull);
	ck_assert_uint_eq(st.queue_depth, 0xeeeeeeeeu);
	st = stats_of(ps);
	ck_assert_uint_eq(st.queue_depth, VMMIG_STORAGE_DEFAULT_QD);
	ck_assert_uint_eq(st.struct_size, sizeof(st));

	ck_assert_int_eq(vmmig_page_source_start(ps, fetchset_done, &fs), 0);
	ck_assert_int_eq(vmmig_storage_add_object(ps, 2, df.path), -EBUSY);
	ck_assert_int_eq(vmmig_storage_add_object_fd(ps, 3, df.fd), -EBUSY);
	fetchset_set(&fs, 0, 950, 3, df.hash[3]);
	ck_assert_int_eq(vmmig_page_source_submit(ps, fs.ptr, 1), 0);
	ck_assert(fetchset_wait(&fs, 1, 10000));
	ck_assert_int_eq(fs.status[0], 0);
	vmmig_page_source_free(ps);
	fetchset_drop(&fs);
}
END_TEST

/* A done() callback may submit again (a retry, say) without deadlocking:
 * it is accepted while the queue has room, refused with -EDEADLK when full. */
struct resubmit_ctx {
	struct fetchset fs;
	struct vmmig_page_source *ps;
	atomic_int big_ret;      /* a batch larger than the whole queue */
	atomic_int resubmit_ret; /* then one fetch */
	atomic_int resubmitted;
};

static void resubmit_done(void *ctx, struct vmmig_page_fetch *f, int status)
{
	struct resubmit_ctx *rc = ctx;

	if (f == &rc->fs.f[0] && !atomic_exchange(&rc->resubmitted, 1)) {
		struct vmmig_page_fetch *again = &rc->fs.f[1];
		struct vmmig_page_fetch *big[QUEUE_ROOM + 1];

		/* More than the queue holds: waiting for room would wait
		 * for this very thread. */
		for (unsigned i = 0; i <= QUEUE_ROOM; i++)
			big[i] = again;
		atomic_store(&rc->big_ret,
			     vmmig_page_source_submit(rc->ps, big, QUEUE_ROOM + 1));
		atomic_store(&rc->resubmit_ret,
			     vmmig_page_source_submit(rc->ps, &again, 1));
	}
	fetchset_done(&rc->fs, f, status);
}

START_TEST(submit_from_done)
{
	struct vmmig_storage_config cfg = { .queue_depth = 1 };
	struct resubmit_ctx rc = { 0 };

	ck_assert_int_eq(fetchset_make(&rc.fs, 2), 0);
	fetchset_set(&rc.fs, 0, 1, 0, df.hash[0]);
	fetchset_set(&rc.fs, 1, 1, 1, df.hash[1]);
	ck_assert_int_eq(vmmig_page_source_new_storage(&cfg, &rc.ps), 0);
	ck_assert_int_eq(vmmig_storage_add_object(rc.ps, 1, df.path), 0);
	ck_assert_int_eq(vmmig_page_source_start(rc.ps, resubmit_done, &rc), 0);
	ck_assert_int_eq(vmmig_page_source_submit(rc.ps, rc.fs.ptr, 1), 0);
	ck_assert(fetchset_wait(&rc.fs, 2, 10000));
	vmmig_page_source_stop(rc.ps);
	ck_assert_int_eq(atomic_load(&rc.big_ret), -EDEADLK);
	ck_assert_int_eq(atomic_load(&rc.resubmit_ret), 0);
	ck_assert(fetchset_once_each(&rc.fs));
	ck_assert_uint_eq(fetchset_count(&rc.fs, 0), 2);
	vmmig_page_source_free(rc.ps);
	fetchset_drop(&rc.fs);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("storage_errors");
	TCase *tc = tcase_create("errors");

	tcase_add_unchecked_fixture(tc, make_file, drop_file);
	tcase_add_test(tc, wrong_hash);
	tcase_add_test(tc, missing_objects);
	tcase_add_test(tc, past_eof);
	tcase_add_test(tc, stop_with_work_queued);
	tcase_add_test(tc, free_while_busy);
	tcase_add_test(tc, setup_misuse);
	tcase_add_test(tc, submit_from_done);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
