/* SPDX-License-Identifier: MIT */
/*
 * The history of a migration: a bounded list of rounds (pre-copy passes,
 * the pause, the post-copy phase) and a bounded series of post-copy page
 * requests, for timelines (JSON: history_json.c).
 */
#include <errno.h>
#include <string.h>

#include "session.h"

void sess_history_init(struct history *h)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	h->t0 = clock_now_us();
	h->faults.struct_size = sizeof(h->faults);
	h->faults.bin_us = VMMIG_FAULT_BIN_MIN_US;
}

void sess_history_destroy(struct history *h)
{
	pthread_mutex_destroy(&h->lock);
}

/* The pages and bytes of @now not yet in any entry, into @e. */
static void add_delta(struct vmmig_round *e, const struct vmmig_round *now,
		      const struct vmmig_round *last)
{
	e->bytes += now->bytes - last->bytes;
	e->pages_normal += now->pages_normal - last->pages_normal;
	e->pages_zero += now->pages_zero - last->pages_zero;
	e->pages_compressed += now->pages_compressed - last->pages_compressed;
	e->pages_delta += now->pages_delta - last->pages_delta;
	e->pages_skipped += now->pages_skipped - last->pages_skipped;
}

void sess_history_begin(struct history *h, int kind, uint32_t round,
			uint64_t pass_pages, uint64_t t,
			const struct vmmig_round *now)
{
	pthread_mutex_lock(&h->lock);
	/* An entry left open (a failure path) ends where this one starts. */
	if (h->open) {
		pthread_mutex_unlock(&h->lock);
		sess_history_end(h, 0, t, now);
		pthread_mutex_lock(&h->lock);
	}
	/* Past the cap, pre-copy rounds fold into the last pre-copy entry,
	 * which is reopened; two entries stay free for pause and post-copy. */
	if (kind == VMMIG_ROUND_PRECOPY && h->n >= VMMIG_HISTORY_MAX - 2) {
		h->n--;
		h->r[h->n].merged++;
		h->r[h->n].pass_pages += pass_pages;
	} else if (h->n < VMMIG_HISTORY_MAX) {
		h->r[h->n] = (struct vmmig_round){
			.struct_size = sizeof(struct vmmig_round),
			.kind = kind, .round = round, .merged = 1,
			.start_us = t > h->t0 ? t - h->t0 : 0,
			.pass_pages = pass_pages };
	} else {
		pthread_mutex_unlock(&h->lock);
		return; /* unreachable: one pause and one post-copy at most */
	}
	h->open = true;
	pthread_mutex_unlock(&h->lock);
}

void sess_history_end(struct history *h, uint64_t dirty_pages, uint64_t t,
		      const struct vmmig_round *now)
{
	pthread_mutex_lock(&h->lock);
	if (h->open) {
		struct vmmig_round *e = &h->r[h->n];
		uint64_t end = t > h->t0 ? t - h->t0 : 0;

		add_delta(e, now, &h->last);
		h->last = *now;
		e->duration_us = end > e->start_us ? end - e->start_us : 0;
		e->dirty_pages = dirty_pages;
		if (e->duration_us) {
			e->bandwidth_bps = e->bytes * 1000000u / e->duration_us;
			e->dirty_rate_pps = dirty_pages * 1000000u /
					    e->duration_us;
		}
		h->n++;
		h->open = false;
	}
	pthread_mutex_unlock(&h->lock);
}

void sess_history_settle(struct history *h, const struct vmmig_round *now)
{
	pthread_mutex_lock(&h->lock);
	if (!h->open && h->n) {
		add_delta(&h->r[h->n - 1], now, &h->last);
		h->last = *now;
	}
	pthread_mutex_unlock(&h->lock);
}

void sess_history_switch(struct history *h, uint64_t t)
{
	pthread_mutex_lock(&h->lock);
	h->faults.start_us = t > h->t0 ? t - h->t0 : 1;
	pthread_mutex_unlock(&h->lock);
}

void sess_history_fault(struct history *h, uint64_t pages, uint64_t t)
{
	struct vmmig_fault_series *f = &h->faults;

	pthread_mutex_lock(&h->lock);
	/* A request may beat the switch's bookkeeping: it goes in bin 0. */
	uint64_t rel = t - h->t0 > f->start_us ? t - h->t0 - f->start_us : 0;
	uint64_t bin = rel / f->bin_us;

	while (bin >= VMMIG_FAULT_BINS) {
		for (unsigned i = 0; i < VMMIG_FAULT_BINS / 2; i++)
			f->bins[i] = f->bins[2 * i] + f->bins[2 * i + 1];
		memset(&f->bins[VMMIG_FAULT_BINS / 2], 0,
		       sizeof(f->bins) / 2);
		f->nbins = (f->nbins + 1) / 2;
		f->bin_us *= 2;
		bin = rel / f->bin_us;
	}
	f->bins[bin] += pages;
	f->total += pages;
	if (bin + 1 > f->nbins)
		f->nbins = (uint32_t)bin + 1;
	pthread_mutex_unlock(&h->lock);
}

int sess_history_copy_rounds(struct history *h, struct vmmig_round *out,
			     size_t max)
{
	size_t stride, n;
	int count;

	if (max && (!out || out->struct_size < 8))
		return -EINVAL;
	stride = max ? out->struct_size : 0;
	pthread_mutex_lock(&h->lock);
	count = (int)h->n;
	n = h->n < max ? h->n : max;
	for (size_t i = 0; i < n; i++) {
		struct vmmig_round *o = (void *)((char *)out + i * stride);
		size_t sz = stride < sizeof(h->r[i]) ? stride : sizeof(h->r[i]);

		memcpy(o, &h->r[i], sz);
		o->struct_size = (uint32_t)stride;
	}
	pthread_mutex_unlock(&h->lock);
	return count;
}

int sess_history_copy_faults(struct history *h, struct vmmig_fault_series *fs)
{
	uint32_t want;

	if (!fs || fs->struct_size < 8)
		return -EINVAL;
	want = fs->struct_size;
	pthread_mutex_lock(&h->lock);
	memcpy(fs, &h->faults, want < sizeof(*fs) ? want : sizeof(*fs));
	pthread_mutex_unlock(&h->lock);
	fs->struct_size = want;
	return 0;
}
