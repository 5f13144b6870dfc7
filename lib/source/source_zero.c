/* SPDX-License-Identifier: MIT */
/*
 * Zero runs of the first send. Right after the tracker armed, the pages
 * that read as zero without being touched (never populated) are found in
 * bulk: the tracker saw them while arming (uffd-wp), or one pagemap walk
 * per region finds them. The first send of such a page needs no read of
 * it (which would fault it in: a microsecond or more a page) and no
 * descriptor of its own: runs of them go in ZERO records, 16 bytes a run.
 *
 * Why this is exact: a page in the map was zero when tracking started, so
 * a later write to it is reported by a sync, and the page is sent again
 * with its contents. Syncs also take dirtied pages out of the map, so that
 * a first send after some syncs (post-copy without a first pass) never
 * names a page written since the arming as zero.
 */
#include <errno.h>
#include <stdlib.h>

#include "base/pagemap.h"
#include "source.h"
#include "tracker/tracker_zero.h"

int src_zero_map_init(struct vmmig_source *src)
{
	uint64_t total = 0;

	src->zero_bm = calloc(src->sess.regions.n, sizeof(*src->zero_bm));
	if (!src->zero_bm)
		return -ENOMEM;
	pagemap_hold(); /* until src_zero_map_free(), after the digest */
	for (unsigned i = 0; i < src->sess.regions.n; i++) {
		const struct region *r = &src->sess.regions.r[i];
		int64_t n;

		src->zero_bm[i] = calloc(region_words(r), 8);
		if (!src->zero_bm[i])
			return -ENOMEM;
		/* A file's holes are not zero: only anonymous memory. */
		if (!pagemap_is_anon_private(r->host, r->npages))
			continue;
		n = tracker_zero_at_start(src->tracker, i, src->zero_bm[i]);
		if (n < 0)
			n = pagemap_zero_bitmap(r->host, r->npages, true,
						src->zero_bm[i]);
		/* Not knowing is no error: every page is then read. */
		if (n < 0)
			log_msg(&src->sess.log, VMMIG_LOG_DEBUG,
				"region %u: no map of never-populated "
				"pages (%s)", r->id, vmmig_strerror((int)n));
		else
			total += (uint64_t)n;
	}
	log_msg(&src->sess.log, VMMIG_LOG_DEBUG, "%llu pages never populated",
	     (unsigned long long)total);
	return 0;
}

void src_zero_map_drop_dirty(struct vmmig_source *src, unsigned ri,
			     const uint64_t *dirty)
{
	uint64_t *z = src->zero_bm ? src->zero_bm[ri] : NULL;
	uint64_t words = z ? region_words(&src->sess.regions.r[ri]) : 0;

	for (uint64_t w = 0; w < words; w++)
		if (dirty[w])
			z[w] &= ~dirty[w];
}

void src_zero_map_free(struct vmmig_source *src)
{
	if (!src->zero_bm)
		return;
	for (unsigned i = 0; i < src->sess.regions.n; i++)
		free(src->zero_bm[i]);
	free(src->zero_bm);
	src->zero_bm = NULL;
	pagemap_release();
}

uint64_t src_zero_map_word(const struct vmmig_source *src, unsigned ri,
		       uint64_t w)
{
	return src->first_pass && src->zero_bm ? src->zero_bm[ri][w] : 0;
}

/*
 * Where the channel pipelines, the record is queued behind the batches in
 * flight, like a batch (source_send.c), and its buffer changes places with
 * a free slot's: sending it with chan_send() would first wait for every
 * queued batch, draining the pipeline before each run of zero pages (a
 * guest whose memory alternates zero and data did that every 64 KiB).
 */
int src_flush_zeros(struct sender *s)
{
	struct iovec iov;
	int ret;

	if (!s->zeros.count)
		return 0;
	s->pages_sent += s->zeros.pages;
	atomic_fetch_add(&s->src->sess.cnt.pages[WIRE_ENC_ZERO],
			 s->zeros.pages);
	pthread_mutex_lock(&s->c->tx_lock);
	s->zero_bytes += wire_zeros_finish(&s->zeros, s->c->tx_seq++, &iov);
	if (s->slot[0].zeros) {
		struct send_slot *sl = &s->slot[s->next_slot];
		uint8_t *spare = sl->zeros;

		sl->zeros = s->zeros.buf; /* what iov points into */
		s->zeros.buf = spare;
		ret = src_queue_slot(s, &iov, 1);
	} else {
		ret = chan_send(s->c, &iov, 1);
	}
	pthread_mutex_unlock(&s->c->tx_lock);
	wire_zeros_begin(&s->zeros, s->zeros.region_id);
	return ret;
}

/* The pages set in @mask of word @w of @r are zero: add them as runs. */
int src_send_zeros(struct sender *s, const struct region *r, uint64_t w,
	       uint64_t mask)
{
	int ret;

	if (s->zeros.region_id != r->id) {
		ret = src_flush_zeros(s);
		if (ret)
			return ret;
		wire_zeros_begin(&s->zeros, r->id);
	}
	while (mask) {
		unsigned lo = (unsigned)__builtin_ctzll(mask);
		/* The first clear bit ends the run. */
		uint64_t rest = ~(mask >> lo);
		unsigned len = rest ? (unsigned)__builtin_ctzll(rest) : 64 - lo;

		if (!wire_zeros_add(&s->zeros, w * 64 + lo, len)) {
			ret = src_flush_zeros(s);
			if (ret)
				return ret;
			wire_zeros_add(&s->zeros, w * 64 + lo, len);
		}
		mask &= len + lo >= 64 ? 0 : ~0ull << (lo + len);
	}
	return 0;
}
