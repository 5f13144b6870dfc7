/* SPDX-License-Identifier: MIT */
/*
 * Cache-restore on the destination. A HINT names the storage object and
 * offset holding a page, and the hash the page had on the source; the page
 * source reads it (on its own thread, overlapping the network stream) and
 * checks the hash. Per page a small state machine keeps the newest copy:
 *
 *   NONE --HINT--> RESTORING --read ok--> page written, NONE
 *                      |  \--read failed--> FAILED (reported at DRAIN, or
 *                      |                    asked for at once in post-copy)
 *                      \--contents arrive--> NET: the read, when it ends,
 *                                            is thrown away
 *
 * A striped lock orders "contents arrive" against "read result written",
 * so a storage read that finishes late never overwrites a newer copy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmmig/pagesource.h>

#include "dest_feat.h"

enum { RS_NONE, RS_RESTORING, RS_NET, RS_FAILED };

/*
 * A page's byte: state in the low 2 bits, in the upper 6 the generation of
 * its latest hint, so that when a page is hinted again while an older read
 * is in flight, only the newest read may write it (reads complete in any
 * order).
 */
#define ST(b) ((b) & 3u)
#define GEN(b) ((b) >> 2)
#define MAKE(gen, st) ((uint8_t)(((gen) & 63u) << 2 | (st)))

#define STRIPES 64

struct restore {
	struct vmmig_page_source *ps;
	uint8_t **st;               /* per region, per page: RS_* */
	uint64_t **failed;          /* per region: failed, not yet reported */
	pthread_mutex_t stripe[STRIPES];
	pthread_mutex_t lock;       /* inflight, cond */
	pthread_cond_t cond;
	uint64_t inflight;
	_Atomic uint64_t restored, mismatches, fallbacks, bytes;
	uint64_t t_first, t_last;   /* under lock */
	/* hints waiting for the feeder thread (a growing ring, under qlock) */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct queued_hint *q;
	size_t qhead, qtail, qcap;
	bool qstop;
	pthread_t feeder;
	bool feeder_running;
};

struct queued_hint {
	unsigned ri, gen;
	uint64_t page;
	struct wire_hint h;
};

/* Under the page's stripe lock. Stored atomically all the same: the page
 * sink's fast path (dst_restore_on_write) and dst_restore_in_flight()
 * load the byte without the lock (a plain store raced them: TSan). */
static void st_set(struct restore *rs, unsigned ri, uint64_t page, uint8_t b)
{
	__atomic_store_n(&rs->st[ri][page], b, __ATOMIC_RELEASE);
}

struct fetch {
	struct vmmig_page_fetch f;
	struct vmmig_dest *dst;
	unsigned ri;
	unsigned gen;              /* of the hint this read serves */
	uint64_t hash;             /* the hint's, out of the backend's reach */
	uint8_t page[VMMIG_PAGE_SIZE] __attribute__((aligned(4096)));
};

static pthread_mutex_t *stripe_of(struct restore *rs, uint64_t page)
{
	return &rs->stripe[(page * 0x9e3779b97f4a7c15ull) >> 58];
}

static void fetch_done(void *ctx, struct vmmig_page_fetch *f, int status);
static void *feeder_main(void *arg);

int dst_restore_init(struct vmmig_dest *dst)
{
	struct restore *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return -ENOMEM;
	dst->rs = rs;
	rs->ps = dst->page_source;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&rs->stripe[i], NULL);
	pthread_mutex_init(&rs->lock, NULL);
	pthread_cond_init(&rs->cond, NULL);
	pthread_mutex_init(&rs->qlock, NULL);
	pthread_cond_init(&rs->qcond, NULL);
	rs->st = calloc(dst->sess.regions.n, sizeof(*rs->st));
	rs->failed = calloc(dst->sess.regions.n, sizeof(*rs->failed));
	if (!rs->st || !rs->failed)
		return -ENOMEM;
	for (unsigned i = 0; i < dst->sess.regions.n; i++) {
		uint64_t np = dst->sess.regions.r[i].npages;

		rs->st[i] = calloc(np, 1);
		rs->failed[i] = calloc((np + 63) / 64, 8);
		if (!rs->st[i] || !rs->failed[i])
			return -ENOMEM;
	}
	/* Without a page source every hint goes to the network at once:
	 * nothing to feed. */
	if (!rs->ps)
		return 0;
	if (pthread_create(&rs->feeder, NULL, feeder_main, dst))
		return -EAGAIN;
	rs->feeder_running = true;
	return vmmig_page_source_start(rs->ps, fetch_done, dst);
}

/* A restore could not be used: before the switch it is reported at DRAIN;
 * after it, a vCPU may be waiting, so ask for the contents now. */
static void restore_failed(struct vmmig_dest *dst, unsigned ri, uint64_t page)
{
	struct restore *rs = dst->rs;

	atomic_fetch_add(&rs->fallbacks, 1);
	if (dst->pc_armed)
		dst_pc_refetch(dst, ri, page);
	else
		__atomic_fetch_or(&rs->failed[ri][page / 64],
				  1ull << (page % 64), __ATOMIC_ACQ_REL);
}

static void inflight_done(struct restore *rs)
{
	pthread_mutex_lock(&rs->lock);
	rs->t_last = clock_now_us();
	if (!--rs->inflight)
		pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
}

static void fetch_done(void *ctx, struct vmmig_page_fetch *f, int status)
{
	struct fetch *ft = (struct fetch *)f;
	struct vmmig_dest *dst = ctx;
	struct restore *rs = dst->rs;
	unsigned ri = ft->ri;
	uint64_t page = f->page;
	pthread_mutex_t *m = stripe_of(rs, page);
	bool failed = false;

	/* Whatever the backend says: a page that does not match its hint's
	 * hash is not the source's page. */
	if (status == 0 && vmmig_page_hash(ft->page) != ft->hash)
		status = -EBADMSG;
	pthread_mutex_lock(m);
	uint8_t b = rs->st[ri][page];

	if (ST(b) == RS_RESTORING && GEN(b) == ft->gen) {
		if (status == 0 && dst->pc_armed)
			status = dst_pc_place(dst, ri, page, ft->page);
		else if (status == 0) {
			memcpy(dst->sess.regions.r[ri].host +
				       page * VMMIG_PAGE_SIZE,
			       ft->page, VMMIG_PAGE_SIZE);
			dst_verify_page(dst, ri, page, ft->page);
		}
		if (status == 0) {
			atomic_fetch_add(&rs->restored, 1);
			atomic_fetch_add(&rs->bytes, VMMIG_PAGE_SIZE);
			st_set(rs, ri, page, MAKE(ft->gen, RS_NONE));
		} else {
			if (status == -EBADMSG)
				atomic_fetch_add(&rs->mismatches, 1);
			st_set(rs, ri, page, MAKE(ft->gen, RS_FAILED));
			failed = true;
		}
	}
	/* Otherwise newer contents came meanwhile (NET), or a newer hint's
	 * read is in flight: this result is stale. */
	pthread_mutex_unlock(m);
	if (failed)
		restore_failed(dst, ri, page);
	free(ft);
	inflight_done(rs);
}

/* A hint that never reached the page source: the network it is. */
static void not_submitted(struct vmmig_dest *dst, unsigned ri, uint64_t page,
			  unsigned gen)
{
	struct restore *rs = dst->rs;

	pthread_mutex_lock(stripe_of(rs, page));
	if (GEN(rs->st[ri][page]) == gen)
		st_set(rs, ri, page, MAKE(gen, RS_FAILED));
	pthread_mutex_unlock(stripe_of(rs, page));
	restore_failed(dst, ri, page);
	inflight_done(rs);
}

/* Hand one queued hint to the page source (the feeder thread). */
static void submit_one(struct vmmig_dest *dst, const struct queued_hint *q)
{
	struct restore *rs = dst->rs;
	struct vmmig_page_fetch *fp;
	struct fetch *ft = rs->ps ? aligned_alloc(4096, sizeof(*ft)) : NULL;

	if (!ft) {
		/* Nowhere to read it from: fetch it over the network. */
		not_submitted(dst, q->ri, q->page, q->gen);
		return;
	}
	ft->dst = dst;
	ft->ri = q->ri;
	ft->gen = q->gen;
	ft->hash = q->h.hash;
	ft->f = (struct vmmig_page_fetch){
		.region_id = dst->sess.regions.r[q->ri].id, .page = q->page,
		.object_id = q->h.object_id, .offset = q->h.offset,
		.hash = q->h.hash, .buf = ft->page };
	fp = &ft->f;
	/* Blocks while the storage queue is full; completion frees ft. */
	if (vmmig_page_source_submit(rs->ps, &fp, 1)) {
		free(ft);
		not_submitted(dst, q->ri, q->page, q->gen);
	}
}

/*
 * Hints arrive far faster than storage reads complete (a 24-byte hint
 * stands for a 4 KiB page). If the receiver submitted them itself it would
 * stall on the storage queue, and the network contents queued behind the
 * hints on its channel with it. So receivers only queue hints (32 bytes
 * each), and this thread feeds the page source at its own pace.
 */
static void *feeder_main(void *arg)
{
	struct vmmig_dest *dst = arg;
	struct restore *rs = dst->rs;

	pthread_mutex_lock(&rs->qlock);
	for (;;) {
		while (rs->qhead == rs->qtail && !rs->qstop)
			pthread_cond_wait(&rs->qcond, &rs->qlock);
		if (rs->qhead == rs->qtail)
			break;
		struct queued_hint q = rs->q[rs->qhead++ % rs->qcap];

		pthread_mutex_unlock(&rs->qlock);
		submit_one(dst, &q);
		pthread_mutex_lock(&rs->qlock);
	}
	pthread_mutex_unlock(&rs->qlock);
	return NULL;
}

static int queue_hint(struct restore *rs, const struct queued_hint *q)
{
	pthread_mutex_lock(&rs->qlock);
	if (rs->qtail - rs->qhead == rs->qcap) {
		/* Grow, keeping the ring's order. */
		size_t cap = rs->qcap ? rs->qcap * 2 : 4096;
		struct queued_hint *n = malloc(cap * sizeof(*n));

		if (!n) {
			pthread_mutex_unlock(&rs->qlock);
			return -ENOMEM;
		}
		for (size_t i = 0; i < rs->qtail - rs->qhead; i++)
			n[i] = rs->q[(rs->qhead + i) % rs->qcap];
		rs->qtail -= rs->qhead;
		rs->qhead = 0;
		free(rs->q);
		rs->q = n;
		rs->qcap = cap;
	}
	rs->q[rs->qtail++ % rs->qcap] = *q;
	pthread_cond_signal(&rs->qcond);
	pthread_mutex_unlock(&rs->qlock);
	return 0;
}

int dst_restore_on_hint(struct vmmig_dest *dst, unsigned ri, uint64_t page,
			const struct wire_hint *h)
{
	struct restore *rs = dst->rs;
	struct queued_hint q = { .ri = ri, .page = page, .h = *h };

	if (dst->pc_armed && !dst_pc_pending(dst, q.ri, page))
		return -EPROTO; /* valid here already */
	pthread_mutex_lock(&rs->lock);
	if (!rs->inflight++ && !rs->t_first)
		rs->t_first = clock_now_us();
	pthread_mutex_unlock(&rs->lock);
	pthread_mutex_lock(stripe_of(rs, page));
	q.gen = (GEN(rs->st[q.ri][page]) + 1) & 63;
	st_set(rs, q.ri, page, MAKE(q.gen, RS_RESTORING));
	pthread_mutex_unlock(stripe_of(rs, page));
	if (!rs->ps || queue_hint(rs, &q))
		not_submitted(dst, q.ri, page, q.gen);
	return 0;
}

int dst_restore_on_write(struct vmmig_dest *dst, unsigned ri, uint64_t page)
{
	struct restore *rs = dst->rs;
	pthread_mutex_t *m;

	if (dst_pc_dropped_early(dst, ri, page)) {
		dst_fail(dst, -EPROTO, "page %llu of region %u sent after an "
			 "early DISCARD dropped it, before the switch",
			 (unsigned long long)page, dst->sess.regions.r[ri].id);
		return -EPROTO;
	}
	uint8_t b = __atomic_load_n(&rs->st[ri][page], __ATOMIC_ACQUIRE);

	if (ST(b) == RS_NONE || ST(b) == RS_NET)
		return 0;
	m = stripe_of(rs, page);
	/* Taking the lock also waits out a read result being written. */
	pthread_mutex_lock(m);
	b = rs->st[ri][page];
	if (ST(b) == RS_RESTORING)
		st_set(rs, ri, page, MAKE(GEN(b), RS_NET));
	else if (ST(b) == RS_FAILED)
		st_set(rs, ri, page, MAKE(GEN(b), RS_NONE));
	pthread_mutex_unlock(m);
	return 0;
}

bool dst_restore_in_flight(struct vmmig_dest *dst, unsigned ri, uint64_t page)
{
	return dst->rs &&
	       ST(__atomic_load_n(&dst->rs->st[ri][page], __ATOMIC_ACQUIRE)) ==
		       RS_RESTORING;
}

/*
 * Wait until no read is in flight (or the session failed). Storage slower
 * than the link can take a while: every second a KEEPALIVE goes to the
 * source on @c (if any), whose watchdog would otherwise call us silent.
 */
int dst_restore_wait_idle(struct vmmig_dest *dst, struct chan *c)
{
	struct restore *rs = dst->rs;
	struct timespec ts;

	pthread_mutex_lock(&rs->lock);
	while (rs->inflight && !failure_code(&dst->sess.fail)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		if (pthread_cond_timedwait(&rs->cond, &rs->lock, &ts) ==
			    ETIMEDOUT && c) {
			pthread_mutex_unlock(&rs->lock);
			(void)chan_send_record(c, WIRE_KEEPALIVE, 0, NULL, 0);
			pthread_mutex_lock(&rs->lock);
		}
	}
	pthread_mutex_unlock(&rs->lock);
	return failure_code(&dst->sess.fail);
}

/* At the DRAIN barrier (channel 0, no read in flight): the pages whose
 * restore failed go to the source as REQ records with WIRE_REQ_REFETCH. */
int dst_restore_report_failed(struct vmmig_dest *dst, struct chan *c)
{
	struct restore *rs = dst->rs;
	struct req_batch b = { 0 };
	int ret = 0;

	for (unsigned ri = 0; ri < dst->sess.regions.n && !ret; ri++)
		for (uint64_t w = 0; w < region_words(&dst->sess.regions.r[ri]);
		     w++) {
			uint64_t bits =
				__atomic_exchange_n(&rs->failed[ri][w], 0,
						    __ATOMIC_ACQ_REL);

			while (bits && !ret) {
				ret = dst_req_batch_add(
					c, &b, dst->sess.regions.r[ri].id,
					w * 64 +
					(uint64_t)__builtin_ctzll(bits),
					WIRE_REQ_REFETCH);
				bits &= bits - 1;
			}
		}
	return ret ? ret : dst_req_batch_flush(c, &b, WIRE_REQ_REFETCH);
}

/* Before the guest starts (pre-copy) or completes (post-copy): no read
 * may still be in flight. */
int dst_restore_finish(struct vmmig_dest *dst)
{
	struct restore *rs = dst->rs;
	int ret = dst_restore_wait_idle(dst, NULL);

	pthread_mutex_lock(&dst->sess.stats_lock);
	dst->sess.st.pages_restored = atomic_load(&rs->restored);
	dst->sess.st.restore_bytes = atomic_load(&rs->bytes);
	dst->sess.st.restore_mismatches = atomic_load(&rs->mismatches);
	dst->sess.st.restore_fallbacks = atomic_load(&rs->fallbacks);
	pthread_mutex_lock(&rs->lock);
	dst->sess.st.restore_time_us =
		rs->t_first ? rs->t_last - rs->t_first : 0;
	pthread_mutex_unlock(&rs->lock);
	pthread_mutex_unlock(&dst->sess.stats_lock);
	return ret;
}

void dst_restore_fill_stats(struct vmmig_dest *dst, struct vmmig_stats *st)
{
	struct restore *rs = dst->rs;

	if (!rs)
		return;
	st->pages_restored = atomic_load(&rs->restored);
	st->restore_bytes = atomic_load(&rs->bytes);
	st->restore_mismatches = atomic_load(&rs->mismatches);
	st->restore_fallbacks = atomic_load(&rs->fallbacks);
}

void dst_restore_free(struct vmmig_dest *dst)
{
	struct restore *rs = dst->rs;

	if (!rs)
		return;
	if (rs->feeder_running) {
		/* Queued hints are still submitted (and completed) first. */
		pthread_mutex_lock(&rs->qlock);
		rs->qstop = true;
		pthread_cond_signal(&rs->qcond);
		pthread_mutex_unlock(&rs->qlock);
		pthread_join(rs->feeder, NULL);
	}
	if (rs->ps)
		vmmig_page_source_stop(rs->ps); /* every fetch completes */
	/* vmmig_dest_get_stats() reads rs under the stats lock. */
	pthread_mutex_lock(&dst->sess.stats_lock);
	dst->rs = NULL;
	pthread_mutex_unlock(&dst->sess.stats_lock);
	free(rs->q);
	for (unsigned i = 0; rs->st && i < dst->sess.regions.n; i++) {
		free(rs->st[i]);
		free(rs->failed[i]);
	}
	free(rs->st);
	free(rs->failed);
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&rs->stripe[i]);
	pthread_mutex_destroy(&rs->lock);
	pthread_cond_destroy(&rs->cond);
	pthread_mutex_destroy(&rs->qlock);
	pthread_cond_destroy(&rs->qcond);
	free(rs);
}
