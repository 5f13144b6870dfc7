/* SPDX-License-Identifier: MIT */
/* Throughput of the shared-storage page source reading a file that sits in
 * the page cache, at several queue depths, with the baselines of the same
 * run: hashing alone (the verify cost) and a plain pread()+hash loop on one
 * thread. Not a test: `meson test --benchmark --suite source` or run it
 * directly: bench_storage [MiB (default 1024)] [direct].
 * Pages are fetched in a random order, as hints scatter over the file. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vmmig/pagesource.h>

#include "srcutil.h"

#define POOL 4096  /* fetches (and 4 KiB buffers) in circulation */
#define BATCH 32

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct vmmig_page_fetch f[POOL];
	struct vmmig_page_fetch *free[POOL];
	unsigned nfree;
	uint64_t completed, bad;
};

static void pool_done(void *ctx, struct vmmig_page_fetch *f, int status)
{
	struct pool *p = ctx;

	pthread_mutex_lock(&p->lock);
	p->free[p->nfree++] = f;
	p->completed++;
	p->bad += status != 0;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The file, written in 16 MiB chunks; its page hashes in @hash. */
static int make_big(const char *path, uint64_t npages, uint64_t *hash)
{
	const size_t chunk = 4096 * VMMIG_PAGE_SIZE;
	unsigned char *buf = malloc(chunk);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ret = -1;

	if (!buf || fd < 0)
		goto out;
	for (uint64_t p = 0; p < npages; p += 4096) {
		uint64_t n = npages - p < 4096 ? npages - p : 4096;

		for (size_t w = 0; w < n * VMMIG_PAGE_SIZE / 8; w++) {
			uint64_t v = mix(p * 512 + w + 1);

			memcpy(buf + w * 8, &v, 8);
		}
		for (uint64_t i = 0; i < n; i++)
			hash[p + i] = vmmig_page_hash(buf + i * VMMIG_PAGE_SIZE);
		if (write(fd, buf, n * VMMIG_PAGE_SIZE) !=
		    (ssize_t)(n * VMMIG_PAGE_SIZE))
			goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

static void report(const char *what, uint64_t pages, uint64_t ns)
{
	double s = ns / 1e9;

	printf("%-28s %9.0f pages/s  %6.2f GB/s  (%.2f s)\n", what,
	       pages / s, pages * (double)VMMIG_PAGE_SIZE / s / 1e9, s);
}

static int run_storage(const char *path, uint64_t npages, const uint64_t *hash,
		       const uint32_t *order, unsigned qd, int direct,
		       unsigned char *bufs)
{
	struct vmmig_storage_config cfg = { .queue_depth = qd, .direct = direct };
	struct vmmig_storage_stats st = { .struct_size = sizeof(st) };
	struct vmmig_page_source *ps = NULL;
	struct pool *p = calloc(1, sizeof(*p));
	uint64_t t0, t1, next = 0;
	char label[64];
	int ret = -ENOMEM;

	if (!p)
		return ret;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	for (unsigned i = 0; i < POOL; i++) {
		p->f[i].buf = bufs + (size_t)i * VMMIG_PAGE_SIZE;
		p->free[p->nfree++] = &p->f[i];
	}
	ret = vmmig_page_source_new_storage(&cfg, &ps);
	if (!ret)
		ret = vmmig_storage_add_object(ps, 1, path);
	if (!ret)
		ret = vmmig_page_source_start(ps, pool_done, p);
	if (ret)
		goto out;
	t0 = test_now_ns();
	while (next < npages) {
		struct vmmig_page_fetch *b[BATCH];
		unsigned k = 0;

		pthread_mutex_lock(&p->lock);
		while (!p->nfree)
			pthread_cond_wait(&p->cond, &p->lock);
		while (p->nfree && k < BATCH && next + k < npages)
			b[k++] = p->free[--p->nfree];
		pthread_mutex_unlock(&p->lock);
		for (unsigned i = 0; i < k; i++) {
			uint64_t pg = order[next + i];

			b[i]->object_id = 1;
			b[i]->page = pg;
			b[i]->offset = pg * VMMIG_PAGE_SIZE;
			b[i]->hash = hash[pg];
		}
		ret = vmmig_page_source_submit(ps, b, k);
		if (ret)
			goto out;
		next += k;
	}
	pthread_mutex_lock(&p->lock);
	while (p->completed < npages)
		pthread_cond_wait(&p->cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
	t1 = test_now_ns();
	vmmig_page_source_stop(ps);
	vmmig_storage_get_stats(ps, &st);
	snprintf(label, sizeof(label), "storage%s qd %u", direct ? " direct" : "", qd);
	report(label, npages, t1 - t0);
	printf("%-28s busy %.2f s, max in flight %u, ok %llu, bad %llu\n", "",
	       st.busy_us / 1e6, st.max_in_flight,
	       (unsigned long long)st.pages_ok, (unsigned long long)p->bad);
	ret = p->bad ? -EBADMSG : 0;
out:
	vmmig_page_source_free(ps);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return ret;
}

int main(int argc, char **argv)
{
	static const unsigned depths[] = { 1, 16, 64, 128 };
	uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024;
	int direct = argc > 2 && !strcmp(argv[2], "direct");
	uint64_t npages = mib * 256, seed = 5, t0, sum = 0;
	const char *dir = getenv("TMPDIR");
	char path[256];
	uint64_t *hash = calloc(npages ? npages : 1, sizeof(*hash));
	uint32_t *order = calloc(npages ? npages : 1, sizeof(*order));
	unsigned char *bufs = aligned_alloc(VMMIG_PAGE_SIZE,
					    (size_t)POOL * VMMIG_PAGE_SIZE);
	int fd, ret = 1;

	snprintf(path, sizeof(path), "%s/vmmig-bench-%d", dir && *dir ? dir : "/tmp",
		 (int)getpid());
	if (!npages || npages > UINT32_MAX || !hash || !order || !bufs)
		goto out;
	printf("file %s: %llu MiB, %llu pages, random order\n", path,
	       (unsigned long long)mib, (unsigned long long)npages);
	if (make_big(path, npages, hash)) {
		perror("make file");
		goto out;
	}
	for (uint64_t i = 0; i < npages; i++)
		order[i] = (uint32_t)i;
	for (uint64_t i = npages; i > 1; i--) {
		uint64_t j = mix(seed++) % i;
		uint32_t t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}

	memset(bufs, 1, (size_t)POOL * VMMIG_PAGE_SIZE); /* fault them in first */
	/* Baseline 1: the hash alone, over a buffer that stays in cache. */
	t0 = test_now_ns();
	for (uint64_t i = 0; i < npages; i++)
		sum += vmmig_page_hash(bufs + (i % POOL) * VMMIG_PAGE_SIZE);
	report("hash only (verify cost)", npages, test_now_ns() - t0);
	/* Baseline 2: pread + hash on one thread, same order (also warms the
	 * page cache). */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	t0 = test_now_ns();
	for (uint64_t i = 0; i < npages; i++) {
		unsigned char *b = bufs + (i % POOL) * VMMIG_PAGE_SIZE;

		if (pread(fd, b, VMMIG_PAGE_SIZE, (off_t)order[i] * VMMIG_PAGE_SIZE) !=
		    VMMIG_PAGE_SIZE || vmmig_page_hash(b) != hash[order[i]]) {
			fprintf(stderr, "baseline read of page %u failed\n", order[i]);
			close(fd);
			goto out;
		}
	}
	report("pread+hash loop, 1 thread", npages, test_now_ns() - t0);
	close(fd);
	for (unsigned d = 0; d < sizeof(depths) / sizeof(depths[0]); d++)
		if (run_storage(path, npages, hash, order, depths[d], direct, bufs)) {
			fprintf(stderr, "storage qd %u failed\n", depths[d]);
			goto out;
		}
	printf("(1 Gbit/s link = 125 MB/s = 30518 pages/s; checksum %llx)\n",
	       (unsigned long long)(sum & 0xff));
	ret = 0;
out:
	unlink(path);
	free(hash);
	free(order);
	free(bufs);
	return ret;
}
