/* SPDX-License-Identifier: MIT */
/* The shared-storage page source doing real reads: 16k fetches of a 64 MiB
 * file of random pages, in random order, from two threads; queue depths 1
 * and 256; objects given as an fd; O_DIRECT. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vmmig/pagesource.h>

#include "srcutil.h"
#include "testutil.h"

#define FILE_PAGES 16384u /* 64 MiB */

/* Made once in the runner process; the forked tests inherit it. */
static struct datafile df;

static void make_file(void)
{
	if (datafile_make(&df, FILE_PAGES, 42))
		ck_abort_msg("cannot make the data file");
}

static void drop_file(void)
{
	datafile_drop(&df);
}

/* Fetch i reads page @first + i (mod the file) of object 1. */
static void point_all(struct fetchset *fs, unsigned first)
{
	for (unsigned i = 0; i < fs->n; i++) {
		unsigned pg = (first + i) % FILE_PAGES;

		fetchset_set(fs, i, 1, pg, df.hash[pg]);
	}
}

static void check_data(const struct fetchset *fs)
{
	for (unsigned i = 0; i < fs->n; i++)
		ck_assert_msg(!memcmp(fs->f[i].buf,
				      df.data + fs->f[i].offset,
				      VMMIG_PAGE_SIZE),
			      "fetch %u: buffer differs from the file", i);
}

/* Every page of the file, shuffled, from two submitting threads. */
START_TEST(all_pages_two_threads)
{
	struct vmmig_page_source *ps;
	struct vmmig_storage_stats st;
	struct fetchset fs;

	ck_assert_int_eq(fetchset_make(&fs, FILE_PAGES), 0);
	point_all(&fs, 0);
	fetchset_shuffle(&fs, 7);
	ck_assert_int_eq(vmmig_page_source_new_storage(NULL, &ps), 0);
	ck_assert_str_eq(vmmig_page_source_name(ps), "storage");
	ck_assert_int_eq(vmmig_storage_add_object(ps, 1, df.path), 0);
	ck_assert_int_eq(vmmig_page_source_start(ps, fetchset_done, &fs), 0);
	ck_assert_int_eq(fetchset_submit_threads(ps, &fs, 2, 64), 0);
	ck_assert_msg(fetchset_wait(&fs, FILE_PAGES, 30000),
		      "only %u of %u done", atomic_load(&fs.total), FILE_PAGES);
	vmmig_page_source_stop(ps);
	ck_assert(fetchset_once_each(&fs));
	ck_assert_uint_eq(fetchset_count(&fs, 0), FILE_PAGES);
	/* Fetch i was page i: the buffers are the file. */
	ck_assert(!memcmp(fs.bufs, df.data, (size_t)FILE_PAGES * VMMIG_PAGE_SIZE));
	st = stats_of(ps);
	ck_assert_uint_eq(st.pages_ok, FILE_PAGES);
	ck_assert_uint_eq(st.pages_mismatch + st.pages_failed, 0);
	ck_assert_uint_eq(st.bytes_read, (uint64_t)FILE_PAGES * VMMIG_PAGE_SIZE);
	ck_assert_uint_eq(st.open_failures, 0);
	ck_assert_uint_eq(st.queue_depth, VMMIG_STORAGE_DEFAULT_QD);
	ck_assert_uint_ge(st.max_in_flight, 1);
	ck_assert_uint_le(st.max_in_flight, st.queue_depth);
	ck_assert_uint_gt(st.busy_us, 0);
	vmmig_page_source_free(ps);
	fetchset_drop(&fs);
}
END_TEST

static void run_depth(unsigned qd)
{
	struct vmmig_storage_config cfg = { .queue_depth = qd };
	struct vmmig_page_source *ps;
	struct vmmig_storage_stats st;
	struct fetchset fs;
	const unsigned n = 2048;

	ck_assert_int_eq(fetchset_make(&fs, n), 0);
	point_all(&fs, 1000);
	fetchset_shuffle(&fs, qd);
	ck_assert_int_eq(vmmig_page_source_new_storage(&cfg, &ps), 0);
	ck_assert_int_eq(vmmig_storage_add_object(ps, 1, df.path), 0);
	ck_assert_int_eq(vmmig_page_source_start(ps, fetchset_done, &fs), 0);
	ck_assert_int_eq(fetchset_submit_threads(ps, &fs, 2, 64), 0);
	ck_assert(fetchset_wait(&fs, n, 20000));
	vmmig_page_source_stop(ps);
	ck_assert(fetchset_once_each(&fs));
	ck_assert_uint_eq(fetchset_count(&fs, 0), n);
	check_data(&fs);
	st = stats_of(ps);
	ck_assert_uint_eq(st.queue_depth, qd);
	ck_assert_uint_eq(st.pages_ok, n);
	ck_assert_uint_ge(st.max_in_flight, 1);
	ck_assert_uint_le(st.max_in_flight, qd);
	/* A batch of 64 is queued under one lock hold and the thread starts
	 * all it can take before it waits: depth is really used. */
	if (qd >= 64)
		ck_assert_uint_ge(st.max_in_flight, 64);
	vmmig_page_source_free(ps);
	fetchset_drop(&fs);
}

START_TEST(queue_depth_1)
{
	run_depth(1);
}
END_TEST

START_TEST(queue_depth_256)
{
	run_depth(256);
}
END_TEST

/* Two ids for the same file: one by path, one by a borrowed fd. */
START_TEST(object_by_fd)
{
	struct vmmig_page_source *ps;
	struct fetchset fs;
	const unsigned n = 512;
	int fd = open(df.path, O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fetchset_make(&fs, n), 0);
	point_all(&fs, 5000);
	for (unsigned i = 0; i < n; i += 2)
		fs.f[i].object_id = 77;
	ck_assert_int_eq(vmmig_page_source_new_storage(NULL, &ps), 0);
	ck_assert_int_eq(vmmig_storage_add_object(ps, 1, df.path), 0);
	ck_assert_int_eq(vmmig_storage_add_object_fd(ps, 77, fd), 0);
	ck_assert_int_eq(vmmig_page_source_start(ps, fetchset_done, &fs), 0);
	ck_assert_int_eq(vmmig_page_source_submit(ps, fs.ptr, n), 0);
	ck_assert(fetchset_wait(&fs, n, 10000));
	vmmig_page_source_free(ps);
	ck_assert(fetchset_once_each(&fs));
	ck_assert_uint_eq(fetchset_count(&fs, 0), n);
	check_data(&fs);
	/* Borrowed: the source did not close it. */
	ck_assert_int_eq(fcntl(fd, F_GETFD), FD_CLOEXEC);
	close(fd);
	fetchset_drop(&fs);
}
END_TEST

/* Can this filesystem do O_DIRECT reads of 4 KiB? NULL if yes, else why. */
static const char *direct_unsupported(void *buf)
{
	int fd = open(df.path, O_RDONLY | O_CLOEXEC | O_DIRECT);
	ssize_t r;

	if (fd < 0)
		return "open(O_DIRECT) fails on this filesystem";
	r = pread(fd, buf, VMMIG_PAGE_SIZE, 0);
	close(fd);
	return r == VMMIG_PAGE_SIZE ? NULL : "4 KiB O_DIRECT pread fails here";
}

START_TEST(direct_io)
{
	struct vmmig_storage_config cfg = { .queue_depth = 32, .direct = 1 };
	struct vmmig_page_source *ps;
	struct fetchset fs;
	const unsigned n = 4096;
	const char *why;

	ck_assert_int_eq(fetchset_make(&fs, n), 0);
	why = direct_unsupported(fs.bufs);
	if (why) {
		printf("SKIP direct_io: %s (%s)\n", why, df.path);
		fetchset_drop(&fs);
		return;
	}
	point_all(&fs, 9000);
	fetchset_shuffle(&fs, 11);
	ck_assert_int_eq(vmmig_page_source_new_storage(&cfg, &ps), 0);
	ck_assert_int_eq(vmmig_storage_add_object(ps, 1, df.path), 0);
	ck_assert_int_eq(vmmig_page_source_start(ps, fetchset_done, &fs), 0);
	/* Direct mode refuses what O_DIRECT cannot read, whole batches. */
	fs.f[0].offset += 512;
	ck_assert_int_eq(vmmig_page_source_submit(ps, fs.ptr, n), -EINVAL);
	fs.f[0].offset -= 512;
	fs.f[1].buf = (char *)fs.f[1].buf + 8;
	ck_assert_int_eq(vmmig_page_source_submit(ps, fs.ptr, n), -EINVAL);
	fs.f[1].buf = (char *)fs.f[1].buf - 8;
	ck_assert_uint_eq(atomic_load(&fs.total), 0);
	ck_assert_int_eq(fetchset_submit_threads(ps, &fs, 2, 32), 0);
	ck_assert(fetchset_wait(&fs, n, 20000));
	vmmig_page_source_free(ps);
	ck_assert(fetchset_once_each(&fs));
	ck_assert_uint_eq(fetchset_count(&fs, 0), n);
	check_data(&fs);
	fetchset_drop(&fs);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("storage");
	TCase *tc = tcase_create("reads");

	tcase_add_unchecked_fixture(tc, make_file, drop_file);
	tcase_add_test(tc, all_pages_two_threads);
	tcase_add_test(tc, queue_depth_1);
	tcase_add_test(tc, queue_depth_256);
	tcase_add_test(tc, object_by_fd);
	tcase_add_test(tc, direct_io);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
