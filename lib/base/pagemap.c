/* SPDX-License-Identifier: MIT */
/*
 * Populated or not, in bulk (see pagemap.h). PAGEMAP_SCAN reports a whole
 * range as a few runs of pages with equal categories, page tables and holes
 * without page tables alike, in one system call per 256 runs. The fallback
 * (kernels before 6.7) asks mincore() for 4096 pages at a time and reads
 * the pagemap entries of the non-resident ones. Neither can tell a hole
 * in file-backed memory from one in anonymous memory, so callers look
 * their regions up in /proc/self/maps once (pagemap_is_anon_private()).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "page.h"
#include "pagemap.h"
#include "pagemap_compat.h"

#define PG 4096u
#define SCAN_VEC 256          /* runs per PAGEMAP_SCAN call */
#define FB_CHUNK 4096         /* pages per mincore() call in the fallback */
#define FILL_DROP_MIN 16       /* pages: a shorter run is written */
#define PM_PRESENT (1ull << 63)
#define PM_SWAP (1ull << 62)

/* /proc/self/pagemap names the process that opened it: a child forked
 * after the first walk must open its own, so the fd is kept per pid. It is
 * kept only while a session holds it (pagemap_hold()): a library leaves no
 * descriptor open behind it. */
static pthread_mutex_t pm_lock = PTHREAD_MUTEX_INITIALIZER;
static int pm_fd = -1;
static pid_t pm_pid;          /* pm_fd's and pm_scan's process */
static unsigned pm_refs;      /* holds, in pm_pid */
static bool pm_scan;          /* the kernel knows PAGEMAP_SCAN */
static atomic_bool pm_fallback;

static int pm_open(void)
{
	return open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
}

/* Under pm_lock: forget what a parent process left behind. */
static void pm_check_pid(void)
{
	if (pm_pid == getpid())
		return;
	if (pm_fd >= 0)
		close(pm_fd); /* the parent's */
	pm_fd = -1;
	pm_refs = 0;
	pm_pid = getpid();
	/* An empty walk succeeds where the ioctl exists (ENOTTY before
	 * Linux 6.7). */
	int fd = pm_open();
	struct pm_scan_arg arg = { .size = sizeof(arg) };

	pm_scan = fd >= 0 && ioctl(fd, PAGEMAP_SCAN, &arg) == 0;
	if (fd >= 0)
		close(fd);
}

/* The fd to walk with; *@temp: the caller closes it after the walk. */
static int pm_get(bool *temp)
{
	int fd;

	pthread_mutex_lock(&pm_lock);
	pm_check_pid();
	if (pm_refs && pm_fd < 0)
		pm_fd = pm_open();
	*temp = !pm_refs;
	fd = pm_refs ? pm_fd : pm_open();
	pthread_mutex_unlock(&pm_lock);
	return fd;
}

void pagemap_hold(void)
{
	pthread_mutex_lock(&pm_lock);
	pm_check_pid();
	pm_refs++;
	pthread_mutex_unlock(&pm_lock);
}

void pagemap_release(void)
{
	pthread_mutex_lock(&pm_lock);
	if (pm_pid == getpid() && pm_refs && !--pm_refs && pm_fd >= 0) {
		close(pm_fd);
		pm_fd = -1;
	}
	pthread_mutex_unlock(&pm_lock);
}

void pagemap_force_fallback(bool on)
{
	atomic_store(&pm_fallback, on);
}

bool pagemap_scan_available(void)
{
	pthread_mutex_lock(&pm_lock);
	pm_check_pid();
	pthread_mutex_unlock(&pm_lock);
	return pm_scan;
}

/* Runs are merged here: the kernel splits them on categories we fold. */
struct runner {
	pagemap_run_fn fn;
	void *cookie;
	uint64_t first, count;
	enum pagemap_kind kind;
};

static int run_flush(struct runner *r)
{
	int ret = r->count ? r->fn(r->cookie, r->first, r->count, r->kind) : 0;

	r->count = 0;
	return ret;
}

static int run_add(struct runner *r, uint64_t first, uint64_t count,
		   enum pagemap_kind kind)
{
	int ret;

	if (!count)
		return 0;
	if (r->count && r->kind == kind && r->first + r->count == first) {
		r->count += count;
		return 0;
	}
	ret = run_flush(r);
	r->first = first;
	r->count = count;
	r->kind = kind;
	return ret;
}

enum pagemap_kind pagemap_scan_kind(uint64_t cat)
{
	if (cat & PAGE_IS_FILE)
		return PAGEMAP_OTHER;
	if (cat & PAGE_IS_PFNZERO)
		return PAGEMAP_ZERO;
	return cat & (PAGE_IS_PRESENT | PAGE_IS_SWAPPED) ? PAGEMAP_ANON
							 : PAGEMAP_ZERO;
}

static int scan_runs(int fd, uintptr_t start, uint64_t npages,
		     struct runner *r)
{
	struct page_region vec[SCAN_VEC];
	uintptr_t end = start + npages * PG, pos = start;
	int ret;

	/* Each call finishes the walk or fills the vector with >= 1 page:
	 * npages + 1 calls always suffice. */
	for (uint64_t calls = 0; pos < end && calls <= npages; calls++) {
		struct pm_scan_arg arg = {
			.size = sizeof(arg), .start = pos, .end = end,
			.vec = (uintptr_t)vec, .vec_len = SCAN_VEC,
			.return_mask = PAGEMAP_SCAN_KINDS,
		};
		long n = ioctl(fd, PAGEMAP_SCAN, &arg);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (long i = 0; i < n; i++) {
			uintptr_t s = vec[i].start, e = vec[i].end;

			if (s < pos || e > end || s >= e)
				return -EIO; /* not what we asked for */
			/* Pages it skipped lie outside any walkable
			 * mapping: nothing is known of them. */
			ret = run_add(r, (pos - start) / PG, (s - pos) / PG,
				      PAGEMAP_OTHER);
			if (!ret)
				ret = run_add(r, (s - start) / PG, (e - s) / PG,
					      pagemap_scan_kind(vec[i].categories));
			if (ret)
				return ret;
			pos = e;
		}
		if (arg.walk_end < pos || arg.walk_end > end ||
		    (n == 0 && arg.walk_end == pos))
			return -EIO;
		ret = run_add(r, (pos - start) / PG, (arg.walk_end - pos) / PG,
			      PAGEMAP_OTHER);
		if (ret)
			return ret;
		pos = arg.walk_end;
	}
	return pos == end ? 0 : -EIO;
}

bool pagemap_is_anon_private(const void *addr, uint64_t npages)
{
	uintptr_t start = (uintptr_t)addr, end = start + npages * PG;
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	uintptr_t covered = start;

	if (!f)
		return false;
	while (covered < end && fgets(line, sizeof(line), f)) {
		uintmax_t lo, hi, inode;
		char perms[8];
		int name = 0;

		if (sscanf(line, "%jx-%jx %7s %*x %*x:%*x %ju %n", &lo, &hi,
			   perms, &inode, &name) < 4)
			break;
		if (hi <= covered)
			continue;
		if (lo > covered)
			break; /* a hole */
		/* No file behind it; a name, if any, is a [bracketed] one
		 * (heap, stack, anon:...). */
		if (perms[3] != 'p' || inode ||
		    (name && line[name] && line[name] != '[' &&
		     line[name] != '\n'))
			break;
		covered = hi;
	}
	fclose(f);
	return covered >= end;
}

static int fallback_runs(int fd, uintptr_t start, uint64_t npages,
			 struct runner *r)
{
	unsigned char inc[FB_CHUNK];
	uint64_t pm[512];

	if (fd < 0)
		return run_add(r, 0, npages, PAGEMAP_OTHER);
	for (uint64_t p = 0; p < npages;) {
		uint64_t n = npages - p < FB_CHUNK ? npages - p : FB_CHUNK;
		uintptr_t a = start + p * PG;
		uint64_t loaded = UINT64_MAX; /* block of 512 in pm[] */
		int ret = 0;

		if (mincore((void *)a, n * PG, inc))
			return -errno;
		for (uint64_t i = 0; i < n && !ret; i++) {
			enum pagemap_kind k = PAGEMAP_ANON;

			if (!(inc[i] & 1)) {
				/* Not resident: swapped out, or nothing. */
				if (i / 512 != loaded) {
					uint64_t b = i - i % 512;
					uint64_t m = n - b < 512 ? n - b : 512;
					off_t off = (off_t)((a / PG + b) * 8);

					if (pread(fd, pm, m * 8, off) !=
					    (ssize_t)(m * 8))
						return -EIO;
					loaded = i / 512;
				}
				if (!(pm[i % 512] & (PM_PRESENT | PM_SWAP)))
					k = PAGEMAP_ZERO;
			}
			ret = run_add(r, p + i, 1, k);
		}
		if (ret)
			return ret;
		p += n;
	}
	return 0;
}

int pagemap_runs(const void *addr, uint64_t npages, bool anon,
		 pagemap_run_fn fn, void *cookie)
{
	struct runner r = { .fn = fn, .cookie = cookie };
	uintptr_t a = (uintptr_t)addr;
	bool temp;
	int fd, ret;

	if (a % PG || npages > (UINTPTR_MAX - a) / PG)
		return -EINVAL;
	if (!npages)
		return 0;
	if (!anon)
		return fn(cookie, 0, npages, PAGEMAP_OTHER);
	fd = pm_get(&temp);
	if (fd >= 0 && pm_scan && !atomic_load(&pm_fallback))
		ret = scan_runs(fd, a, npages, &r);
	else
		ret = fallback_runs(fd, a, npages, &r);
	if (temp && fd >= 0)
		close(fd);
	return ret ? ret : run_flush(&r);
}

void bits_set_range(uint64_t *bm, uint64_t first, uint64_t count)
{
	uint64_t end = first + count;

	while (first < end) {
		uint64_t off = first % 64;
		uint64_t n = 64 - off < end - first ? 64 - off : end - first;

		bm[first / 64] |= (n == 64 ? ~0ull : ((1ull << n) - 1)) << off;
		first += n;
	}
}

struct zero_bm {
	uint64_t *bm;
	int64_t n;
};

static int zero_bm_run(void *cookie, uint64_t first, uint64_t count,
		       enum pagemap_kind kind)
{
	struct zero_bm *z = cookie;

	if (kind == PAGEMAP_ZERO) {
		bits_set_range(z->bm, first, count);
		z->n += (int64_t)count;
	}
	return 0;
}

int64_t pagemap_zero_bitmap(const void *addr, uint64_t npages, bool anon,
			    uint64_t *bm)
{
	struct zero_bm z = { bm, 0 };
	int ret = pagemap_runs(addr, npages, anon, zero_bm_run, &z);

	return ret ? ret : z.n;
}

static int fill_run(void *cookie, uint64_t first, uint64_t count,
		    enum pagemap_kind kind)
{
	uint8_t *p = (uint8_t *)cookie + first * PG;

	if (kind == PAGEMAP_ZERO)
		return 0;
	/* Dropping pages costs a system call, a TLB flush and a fault when
	 * the guest touches them again: worth it for runs, not for a page.
	 * Shared memory keeps its pages in its file: punch them out (a
	 * private file mapping refuses, and is written). */
	if (count >= FILL_DROP_MIN &&
	    !madvise(p, count * PG,
		     kind == PAGEMAP_ANON ? MADV_DONTNEED : MADV_REMOVE))
		return 0;
	/* Check before writing: a page that is zero already stays clean. */
	for (uint64_t i = 0; i < count; i++, p += PG)
		if (!page_is_zero(p))
			memset(p, 0, PG);
	return 0;
}

int pagemap_zero_fill(void *addr, uint64_t npages, bool anon)
{
	return pagemap_runs(addr, npages, anon, fill_run, addr);
}
