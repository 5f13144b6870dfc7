/* SPDX-License-Identifier: MIT */
/* Helpers of the page-source tests (see srcutil.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "srcutil.h"

static uint64_t next_rand(uint64_t *s)
{
	/* splitmix64: fast, and every page comes out different. */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t test_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int datafile_make(struct datafile *df, uint64_t npages, uint64_t seed)
{
	const char *dir = getenv("TMPDIR");
	size_t len = npages * VMMIG_PAGE_SIZE, done = 0;

	memset(df, 0, sizeof(*df));
	df->fd = -1;
	df->npages = npages;
	snprintf(df->path, sizeof(df->path), "%s/vmmig-src-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	df->data = malloc(len);
	df->hash = calloc(npages, sizeof(*df->hash));
	if (!df->data || !df->hash)
		goto fail;
	for (size_t i = 0; i < len / 8; i++) {
		uint64_t r = next_rand(&seed);

		memcpy(df->data + i * 8, &r, 8);
	}
	for (uint64_t p = 0; p < npages; p++)
		df->hash[p] = vmmig_page_hash(df->data + p * VMMIG_PAGE_SIZE);
	df->fd = mkstemp(df->path);
	if (df->fd < 0)
		goto fail;
	while (done < len) {
		ssize_t w = write(df->fd, df->data + done, len - done);

		if (w <= 0)
			goto fail;
		done += (size_t)w;
	}
	return 0;
fail:
	datafile_drop(df);
	return -1;
}

void datafile_drop(struct datafile *df)
{
	if (df->fd >= 0) {
		close(df->fd);
		unlink(df->path);
	}
	free(df->data);
	free(df->hash);
	memset(df, 0, sizeof(*df));
	df->fd = -1;
}

int fetchset_make(struct fetchset *fs, unsigned n)
{
	memset(fs, 0, sizeof(*fs));
	fs->n = n;
	fs->f = calloc(n, sizeof(*fs->f));
	fs->ptr = calloc(n, sizeof(*fs->ptr));
	fs->calls = calloc(n, sizeof(*fs->calls));
	fs->status = calloc(n, sizeof(*fs->status));
	fs->bufs = aligned_alloc(VMMIG_PAGE_SIZE, (size_t)n * VMMIG_PAGE_SIZE);
	if (!fs->f || !fs->ptr || !fs->calls || !fs->status || !fs->bufs) {
		fetchset_drop(fs);
		return -1;
	}
	memset(fs->bufs, 0xa5, (size_t)n * VMMIG_PAGE_SIZE);
	for (unsigned i = 0; i < n; i++) {
		fs->f[i].buf = fs->bufs + (size_t)i * VMMIG_PAGE_SIZE;
		fs->f[i].cookie = (void *)(uintptr_t)i;
		fs->ptr[i] = &fs->f[i];
		fs->status[i] = 1; /* no status yet */
	}
	return 0;
}

void fetchset_drop(struct fetchset *fs)
{
	free(fs->f);
	free(fs->ptr);
	free(fs->calls);
	free(fs->status);
	free(fs->bufs);
	memset(fs, 0, sizeof(*fs));
}

void fetchset_set(struct fetchset *fs, unsigned i, uint64_t obj, uint64_t page,
		  uint64_t hash)
{
	fs->f[i].region_id = 0;
	fs->f[i].page = page;
	fs->f[i].object_id = obj;
	fs->f[i].offset = page * VMMIG_PAGE_SIZE;
	fs->f[i].hash = hash;
}

void fetchset_shuffle(struct fetchset *fs, uint64_t seed)
{
	for (unsigned i = fs->n; i > 1; i--) {
		unsigned j = (unsigned)(next_rand(&seed) % i);
		struct vmmig_page_fetch *t = fs->ptr[i - 1];

		fs->ptr[i - 1] = fs->ptr[j];
		fs->ptr[j] = t;
	}
}

void fetchset_done(void *ctx, struct vmmig_page_fetch *f, int status)
{
	struct fetchset *fs = ctx;
	uintptr_t i = (uintptr_t)f->cookie;

	if (i >= fs->n || f != &fs->f[i]) {
		atomic_fetch_add(&fs->bad_cookie, 1);
		return;
	}
	fs->status[i] = status;
	atomic_fetch_add(&fs->calls[i], 1);
	atomic_fetch_add(&fs->total, 1);
}

bool fetchset_wait(struct fetchset *fs, unsigned want, unsigned ms)
{
	uint64_t end = test_now_ns() + (uint64_t)ms * 1000000u;

	while (atomic_load(&fs->total) < want) {
		if (test_now_ns() > end)
			return false;
		usleep(1000);
	}
	return true;
}

struct share {
	struct vmmig_page_source *ps;
	struct vmmig_page_fetch **f;
	unsigned n, batch;
	int ret;
};

static void *submit_share(void *arg)
{
	struct share *sh = arg;

	for (unsigned i = 0; i < sh->n && !sh->ret; i += sh->batch) {
		unsigned k = sh->n - i < sh->batch ? sh->n - i : sh->batch;

		sh->ret = vmmig_page_source_submit(sh->ps, sh->f + i, k);
	}
	return NULL;
}

int fetchset_submit_threads(struct vmmig_page_source *ps, struct fetchset *fs,
			    unsigned nthreads, unsigned batch)
{
	struct share sh[8];
	pthread_t th[8];
	unsigned per, started = 0;
	int ret = 0;

	if (nthreads < 1 || nthreads > 8 || !batch)
		return -EINVAL;
	per = (fs->n + nthreads - 1) / nthreads;
	for (unsigned t = 0; t < nthreads; t++) {
		unsigned lo = t * per < fs->n ? t * per : fs->n;
		unsigned hi = lo + per < fs->n ? lo + per : fs->n;

		sh[t] = (struct share){ .ps = ps, .f = fs->ptr + lo,
					.n = hi - lo, .batch = batch };
		if (pthread_create(&th[t], NULL, submit_share, &sh[t])) {
			ret = -EAGAIN;
			break;
		}
		started++;
	}
	for (unsigned t = 0; t < started; t++) {
		pthread_join(th[t], NULL);
		if (!ret && sh[t].ret)
			ret = sh[t].ret;
	}
	return ret;
}

bool fetchset_once_each(const struct fetchset *fs)
{
	if (atomic_load(&fs->bad_cookie))
		return false;
	for (unsigned i = 0; i < fs->n; i++)
		if (atomic_load(&fs->calls[i]) != 1)
			return false;
	return true;
}

unsigned fetchset_count(const struct fetchset *fs, int status)
{
	unsigned c = 0;

	for (unsigned i = 0; i < fs->n; i++)
		c += fs->status[i] == status;
	return c;
}

struct vmmig_storage_stats stats_of(struct vmmig_page_source *ps)
{
	struct vmmig_storage_stats st = { .struct_size = sizeof(st) };

	ck_assert_int_eq(vmmig_storage_get_stats(ps, &st), 0);
	return st;
}
