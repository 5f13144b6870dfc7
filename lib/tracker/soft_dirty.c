/* SPDX-License-Identifier: MIT */
/*
 * Soft-dirty tracker: bit 55 of each /proc/self/pagemap entry says the page
 * was written since the last "4" to /proc/self/clear_refs.
 *
 * clear_refs is process wide: it clears every region at once. So a sync of
 * region i must not simply read region i and clear, or region j's bits would
 * be lost. Instead a sync of region i whose snapshot has already been handed
 * out reads the bits of ALL regions into per-region snapshot bitmaps, then
 * clears once; each region then gets its own snapshot at its next sync. With
 * the usual round (sync 0, 1, ..., n-1) that is one scan + clear per round.
 * A write to region j after the scan that a sync of region i triggered is
 * reported by j's sync after next, not by j's next one: later, never lost
 * (its bit survives until the next scan reads it).
 *
 * Read, then clear (not the other way round): a write after the clear of its
 * page is seen by the next read. But reading and clearing are not one atomic
 * step: a write that lands between the read of its pagemap entry and the
 * clear of its page is cleared unseen. Soft-dirty is therefore exact only if
 * writers are paused across sync() (as at the final stop-and-copy sync);
 * with concurrent writers, uffd-wp (atomic report + re-protect) is the exact
 * tracker. The window is kept short by reading all regions right before the
 * clear.
 *
 * Only one soft-dirty tracker may be started per process (-EBUSY).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tracker_impl.h"

#define PM_SOFT_DIRTY (1ull << 55)
#define SD_CHUNK 4096 /* pagemap entries per pread (32 KiB) */

static atomic_int sd_busy; /* a soft-dirty tracker is started */

struct sd_region {
	uint64_t start;    /* host address */
	uint64_t npages;
	uint64_t *snap;    /* soft-dirty bits read by the last scan */
	int fresh;         /* snap holds a scan not yet handed out */
};

struct soft_dirty {
	int owner;         /* we hold sd_busy */
	int pagemap;       /* /proc/self/pagemap */
	int clear_refs;    /* /proc/self/clear_refs */
	uint64_t *buf;     /* SD_CHUNK pagemap entries */
	unsigned nr;
	struct sd_region *regs;
};

static int read_entries(int fd, uint64_t *buf, uint64_t first, uint64_t n)
{
	size_t want = n * sizeof(uint64_t), got = 0;

	while (got < want) {
		ssize_t r = pread(fd, (char *)buf + got, want - got,
				  (off_t)(first * sizeof(uint64_t) + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		got += (size_t)r;
	}
	return 0;
}

/* Does the kernel keep soft-dirty bits (CONFIG_MEM_SOFT_DIRTY)? A new
 * mapping is soft-dirty as a whole, so a fresh page must show bit 55; this
 * needs no clear_refs, which would disturb a running tracker. */
static int sd_probe(int pagemap)
{
	uint64_t entry = 0;
	char *p;
	int ret;

	p = mmap(NULL, VMMIG_PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	*(volatile char *)p = 1;
	ret = read_entries(pagemap, &entry,
			   (uintptr_t)p / VMMIG_PAGE_SIZE, 1);
	munmap(p, VMMIG_PAGE_SIZE);
	if (ret < 0)
		return ret;
	return entry & PM_SOFT_DIRTY ? 0 : -EOPNOTSUPP;
}

static int sd_clear(struct soft_dirty *s)
{
	if (pwrite(s->clear_refs, "4", 1, 0) != 1)
		return -errno;
	return 0;
}

static int sd_init(void *priv, const void *config)
{
	struct soft_dirty *s = priv;

	(void)config;
	s->pagemap = s->clear_refs = -1;
	s->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (s->pagemap < 0)
		return -errno;
	s->clear_refs = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	if (s->clear_refs < 0)
		return -errno;
	s->buf = malloc(SD_CHUNK * sizeof(uint64_t));
	if (!s->buf)
		return -ENOMEM;
	return sd_probe(s->pagemap);
}

static int sd_start(void *priv, const struct vmmig_tracker_region *regions,
		    unsigned nr)
{
	struct soft_dirty *s = priv;
	int expect = 0;

	if (!atomic_compare_exchange_strong(&sd_busy, &expect, 1))
		return -EBUSY;
	s->owner = 1;
	s->regs = calloc(nr, sizeof(*s->regs));
	if (!s->regs)
		return -ENOMEM;
	s->nr = nr;
	for (unsigned i = 0; i < nr; i++) {
		s->regs[i].start = (uintptr_t)regions[i].host;
		s->regs[i].npages = regions[i].npages;
		s->regs[i].snap = calloc((regions[i].npages + 63) / 64,
					 sizeof(uint64_t));
		if (!s->regs[i].snap)
			return -ENOMEM;
	}
	return sd_clear(s);
}

/* Read every region's soft-dirty bits into its snapshot, then clear. */
static int sd_scan(struct soft_dirty *s)
{
	for (unsigned i = 0; i < s->nr; i++) {
		struct sd_region *r = &s->regs[i];
		uint64_t base = r->start / VMMIG_PAGE_SIZE;

		for (uint64_t p = 0; p < r->npages; p += SD_CHUNK) {
			uint64_t n = r->npages - p < SD_CHUNK ?
				     r->npages - p : SD_CHUNK;
			int ret = read_entries(s->pagemap, s->buf, base + p, n);

			if (ret < 0)
				return ret;
			for (uint64_t k = 0; k < n; k++)
				if (s->buf[k] & PM_SOFT_DIRTY)
					r->snap[(p + k) / 64] |=
						1ull << ((p + k) % 64);
		}
		r->fresh = 1;
	}
	return sd_clear(s);
}

static int sd_sync(void *priv, unsigned index, uint64_t *bitmap)
{
	struct soft_dirty *s = priv;
	struct sd_region *r = &s->regs[index];
	uint64_t words = (r->npages + 63) / 64;

	if (!r->fresh) {
		int ret = sd_scan(s);

		if (ret < 0)
			return ret;
	}
	for (uint64_t w = 0; w < words; w++) {
		bitmap[w] |= r->snap[w];
		r->snap[w] = 0;
	}
	r->fresh = 0;
	return 0;
}

static void sd_stop(void *priv)
{
	struct soft_dirty *s = priv;

	for (unsigned i = 0; s->regs && i < s->nr; i++)
		free(s->regs[i].snap);
	free(s->regs);
	s->regs = NULL;
	s->nr = 0;
	if (s->owner)
		atomic_store(&sd_busy, 0);
	s->owner = 0;
}

static void sd_destroy(void *priv)
{
	struct soft_dirty *s = priv;

	if (s->pagemap >= 0)
		close(s->pagemap);
	if (s->clear_refs >= 0)
		close(s->clear_refs);
	free(s->buf);
}

const struct vmmig_tracker_ops tracker_soft_dirty_ops = {
	.version = VMMIG_TRACKER_OPS_VERSION,
	.name = "soft-dirty",
	.priv_size = sizeof(struct soft_dirty),
	.init = sd_init,
	.start = sd_start,
	.sync = sd_sync,
	.stop = sd_stop,
	.destroy = sd_destroy,
};

VMMIG_API int vmmig_tracker_new_soft_dirty(struct vmmig_tracker **out)
{
	return vmmig_tracker_new(&tracker_soft_dirty_ops, NULL, out);
}
