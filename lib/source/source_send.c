/* SPDX-License-Identifier: MIT */
/*
 * Sending threads. Pages are striped over channels by 64-page chunk, which
 * is one word of the dirty bitmap: word w of a region goes to channel
 * w % ndata. A page therefore always travels on the same channel, so the
 * channel's FIFO order makes the newest copy win at the destination without
 * any cross-channel synchronisation, and each sender's delta cache holds
 * exactly the pages it sends (no locking).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vmmig/pagesource.h>

#include "encode/encode.h"
#include "source.h"

/*
 * Queue a finished record whose buffers the caller has just moved into
 * slot next_slot, and make the slot after it free: the record queued into
 * that one SEND_DEPTH records ago (PAGES or ZERO alike) has left once at
 * most SEND_DEPTH - 1 are in flight. Under tx_lock.
 */
int src_queue_slot(struct sender *s, const struct iovec *iov, int iovcnt)
{
	int ret;

	s->next_slot = (s->next_slot + 1) % SEND_DEPTH;
	ret = chan_send_queue(s->c, iov, iovcnt);
	return ret ? ret : chan_send_wait(s->c, SEND_DEPTH - 1);
}

/*
 * Queue the finished batch and go on building in a free buffer: the head
 * is copied to the slot (about 1 KiB), the payload buffer (encoded pages)
 * changes places with the slot's, which is free (src_queue_slot()). Raw
 * pages are read from guest memory, which stays mapped.
 */
static int queue_batch(struct sender *s, int iovcnt)
{
	struct send_slot *sl = &s->slot[s->next_slot];
	struct iovec *iov = s->batch.iov;
	uint8_t *spare = sl->payload;

	memcpy(sl->head, iov[0].iov_base, iov[0].iov_len);
	iov[0].iov_base = sl->head;
	sl->payload = s->batch.payload; /* what encoded pieces point into */
	s->batch.payload = spare;
	return src_queue_slot(s, iov, iovcnt);
}

int src_flush_batch(struct sender *s)
{
	size_t len;
	int iovcnt, ret = src_flush_zeros(s);

	if (ret || !s->batch.count)
		return ret;
	s->pages_sent += s->batch.count;
	/* The lock: control records (DRAIN) may share this channel. */
	pthread_mutex_lock(&s->c->tx_lock);
	len = wire_batch_finish(&s->batch, s->c->tx_seq++, &iovcnt);
	ret = s->slot[0].payload ? queue_batch(s, iovcnt)
				  : chan_send(s->c, s->batch.iov, iovcnt);
	pthread_mutex_unlock(&s->c->tx_lock);
	/* How long the thread blocks on its channel tells the encoder
	 * whether compressing pays (encode/enc_adapt.c); the ZERO records
	 * sent since the last batch crossed the path in the same cycle. */
	enc_ctx_send_done(s->enc, len + s->zero_bytes);
	s->zero_bytes = 0;
	sess_counters_add_enc(&s->src->sess.cnt, &s->ec);
	memset(&s->ec, 0, sizeof(s->ec));
	wire_batch_begin(&s->batch, s->batch.region_id);
	return ret;
}

/*
 * Ask for a page's cache lines before it is read: the hardware prefetcher
 * stops at page boundaries, so without this each page's copy starts with a
 * stall on memory (prefetching the next page measured +15 % for copy and
 * CRC from cold memory here). Where the page is only checked for zeros
 * (raw pages go out straight from guest memory, read by the kernel's copy
 * into the socket), only its first line is read here: prefetching all 64
 * lines, or none, measured no better (source CPU 0.35 s/GiB with one
 * line, 0.37 with all, 0.36 with none: nine loopback runs each, load 4-9,
 * within the noise). The same while zstd reads only a few of the pages
 * (the adaptive rule's probe): prefetching all lines of every page for it
 * showed as 2 % of the source's samples under perf on loopback. A
 * prefetch never faults.
 */
static void prefetch_page(const struct sender *s, const uint8_t *p)
{
	bool read_all = s->enc->cache ||
			(s->enc->zc &&
			 enc_ctx_zstd_effort(s->enc) >= ENC_ADAPT_ONE / 2);

	if (!read_all) {
		__builtin_prefetch(p);
		return;
	}
	for (unsigned i = 0; i < VMMIG_PAGE_SIZE; i += 64)
		__builtin_prefetch(p + i);
}

/* Add the pages set in @bits of bitmap word @w of region @r. */
int src_send_pages(struct sender *s, const struct region *r, uint64_t w,
		   uint64_t bits)
{
	struct vmmig_source *src = s->src;
	unsigned ri = (unsigned)(r - src->sess.regions.r);
	uint64_t zero = src_zero_map_word(src, ri, w) & bits;
	/* The urgent sender and the last pass send contents only. */
	uint64_t hinted = s->c->index < src->ndata && !src->hints_off
				  ? src_hints_word(src, ri, w) & bits & ~zero
				  : 0;
	int ret;

	enc_ctx_set_first_send(s->enc, src->first_pass);
	atomic_fetch_add(&src->pass_done, (uint64_t)__builtin_popcountll(bits));
	if (s->batch.region_id != r->id) {
		ret = src_flush_batch(s);
		if (ret)
			return ret;
		wire_batch_begin(&s->batch, r->id);
	}
	if (zero) {
		ret = src_send_zeros(s, r, w, zero);
		if (ret)
			return ret;
		bits &= ~zero;
	}
	while (bits) {
		uint64_t page = w * 64 + (uint64_t)__builtin_ctzll(bits);
		const uint8_t *mem = r->host + page * VMMIG_PAGE_SIZE;
		struct wire_hint h;

		bits &= bits - 1;
		if (bits) /* zero pages left the set above */
			prefetch_page(s, r->host + (w * 64 + (uint64_t)
				      __builtin_ctzll(bits)) * VMMIG_PAGE_SIZE);
		if ((hinted >> (page % 64) & 1) &&
		    src_hints_lookup(src, ri, page, &h)) {
			/* Hash of the page as it is now; a write after this
			 * makes it dirty, and its contents follow. */
			h.hash = vmmig_page_hash(mem);
			wire_batch_add_hint(&s->batch, page, &h, &s->ec);
			atomic_fetch_add(&src->hints_sent, 1);
		} else {
			wire_batch_add(&s->batch, s->enc, page, mem, &s->ec);
		}
		if (wire_batch_full(&s->batch)) {
			ret = src_flush_batch(s);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* A pre-copy pass: this sender's stripes of send_bm (read-only
 * meanwhile). */
int src_send_round(struct sender *s)
{
	struct vmmig_source *src = s->src;
	int ret = 0;

	for (unsigned ri = 0; ri < src->sess.regions.n && !ret; ri++) {
		const struct region *r = &src->sess.regions.r[ri];
		const uint64_t *bm = src->send_bm[ri];
		uint64_t nwords = region_words(r);

		for (uint64_t w = s->c->index; w < nwords && !ret;
		     w += src->ndata)
			if (bm[w])
				ret = src_send_pages(s, r, w, bm[w]);
	}
	return ret ? ret : src_flush_batch(s);
}

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	struct vmmig_source *src = s->src;

	for (;;) {
		int ret = 0;

		pthread_mutex_lock(&src->lock);
		while (!src->quit && s->seen_gen == src->job_gen)
			pthread_cond_wait(&src->cond, &src->lock);
		if (src->quit) {
			pthread_mutex_unlock(&src->lock);
			break;
		}
		s->seen_gen = src->job_gen;
		pthread_mutex_unlock(&src->lock);

		ret = src->job(s);
		enc_ctx_send_idle(s->enc); /* its wait for the next job */
		s->zero_bytes = 0;
		if (ret)
			src_fail(src, ret, "sending pages on channel %u: %s",
				 s->c->index, vmmig_strerror(ret));
		/* The job's records have left (or, after the failure above
		 * shut the channel, are dropped): its buffers are free. */
		pthread_mutex_lock(&s->c->tx_lock);
		int w = chan_send_wait(s->c, 0);
		pthread_mutex_unlock(&s->c->tx_lock);
		if (w && !ret)
			src_fail(src, w, "sending pages on channel %u: %s",
				 s->c->index, vmmig_strerror(w));

		pthread_mutex_lock(&src->lock);
		src->job_done++;
		pthread_cond_broadcast(&src->cond);
		pthread_mutex_unlock(&src->lock);
	}
	return NULL;
}

static void slots_free(struct sender *s)
{
	for (unsigned i = 0; i < SEND_DEPTH; i++) {
		free(s->slot[i].head);
		free(s->slot[i].payload);
		free(s->slot[i].zeros);
		s->slot[i] = (struct send_slot){ NULL, NULL, NULL };
	}
	s->next_slot = 0;
}

/* Only where the transport pipelines: elsewhere a record has left when
 * chan_send() returns, and the batch's own buffers are enough. */
static int slots_init(struct sender *s)
{
	const struct vmmig_transport_ops *t = s->c->ops;

	if (s->c->tls || t->version < 3 || !t->send_queue || !t->send_wait)
		return 0;
	for (unsigned i = 0; i < SEND_DEPTH; i++) {
		s->slot[i].head = malloc(sizeof(s->batch.head));
		s->slot[i].payload = malloc(WIRE_BATCH_PAYLOAD_SIZE);
		s->slot[i].zeros = wire_zeros_buf_new();
		if (!s->slot[i].head || !s->slot[i].payload ||
		    !s->slot[i].zeros) {
			slots_free(s);
			return -ENOMEM;
		}
	}
	return 0;
}

int src_senders_start(struct vmmig_source *src)
{
	struct enc_config ec = {
		.compression = (int)src->sess.opt.v[VMMIG_OPT_COMPRESSION],
		.zstd_level = (int)src->sess.opt.v[VMMIG_OPT_ZSTD_LEVEL],
		/* zstd only where it makes the migration faster. */
		.zstd_adaptive = true,
		.delta_cache_bytes = (size_t)src->sess.opt
			.v[VMMIG_OPT_DELTA_CACHE_BYTES] / src->ndata,
		.log = &src->sess.log,
	};
	int ret;

	for (unsigned i = 0; i < src->ndata; i++) {
		struct sender *s = &src->snd[i];

		s->src = src;
		s->c = &src->chan[i];
		ec.id = i;
		ret = enc_ctx_new(&ec, &s->enc);
		if (ret)
			return ret;
		ret = wire_batch_init(&s->batch);
		if (!ret)
			ret = wire_zeros_init(&s->zeros);
		if (ret)
			return ret;
		wire_batch_begin(&s->batch, src->sess.regions.r[0].id);
		wire_zeros_begin(&s->zeros, src->sess.regions.r[0].id);
		ret = slots_init(s);
		if (ret)
			return ret;
		ret = -pthread_create(&s->thread, NULL, sender_main, s);
		if (ret)
			return ret;
		s->running = true;
	}
	return 0;
}

int src_senders_run(struct vmmig_source *src, int (*job)(struct sender *s))
{
	pthread_mutex_lock(&src->lock);
	src->job = job;
	src->job_done = 0;
	src->job_gen++;
	pthread_cond_broadcast(&src->cond);
	while (src->job_done < src->ndata)
		pthread_cond_wait(&src->cond, &src->lock);
	pthread_mutex_unlock(&src->lock);
	return failure_code(&src->sess.fail);
}

void src_senders_stop(struct vmmig_source *src)
{
	pthread_mutex_lock(&src->lock);
	src->quit = true;
	pthread_cond_broadcast(&src->cond);
	pthread_mutex_unlock(&src->lock);
	for (unsigned i = 0; i < VMMIG_MAX_CHANNELS; i++) {
		struct sender *s = &src->snd[i];

		if (s->running)
			pthread_join(s->thread, NULL);
		s->running = false;
		wire_batch_destroy(&s->batch);
		wire_zeros_destroy(&s->zeros);
		slots_free(s);
		enc_ctx_free(s->enc);
		s->enc = NULL;
	}
}
