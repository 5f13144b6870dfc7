/* SPDX-License-Identifier: MIT */
/*
 * The source's half of the switchover (docs/wire-format.md 6.5): one owner
 * of the guest at every moment. After the last pages and the state, the
 * destination answers READY (it can start the guest); only then does the
 * source give the guest up for good and send COMMIT, and the destination
 * starts the guest only on COMMIT. Before COMMIT a failure resumes the guest
 * here (the destination never starts it); after COMMIT the guest is never
 * resumed here, and until STARTED confirms, who owns it is unknown.
 *
 * Verification costs no downtime: after COMMIT the guest is stopped here for
 * good, so its memory is hashed then, compared with the digest READY
 * carried (built by the destination as pages landed), and sent as DIGEST for
 * the destination to compare too.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/pagemap.h"
#include "source_feat.h"

int src_owner(struct vmmig_source *src)
{
	int owner;

	pthread_mutex_lock(&src->lock);
	owner = !src->committed  ? VMMIG_OWNER_SOURCE
		: src->dest_started ? VMMIG_OWNER_DEST
				    : VMMIG_OWNER_UNKNOWN;
	pthread_mutex_unlock(&src->lock);
	return owner;
}

int src_switch_on_record(struct vmmig_source *src, const struct wire_hdr *h,
			 const uint8_t *payload)
{
	char err[WIRE_ERRLEN];
	struct wire_sw sw;
	int ret = wire_sw_unpack(payload, h->len, &sw, err, sizeof(err));
	bool more;

	pthread_mutex_lock(&src->lock);
	if (!ret && (h->type == WIRE_READY ? src->acked || sw.status
					   : !src->committed ||
						     src->dest_started)) {
		snprintf(err, sizeof(err), "%s out of place",
			 h->type == WIRE_READY ? "READY" : "STARTED");
		ret = -EPROTO;
	}
	if (!ret && h->type == WIRE_READY) {
		src->acked = true;
		src->ready = sw;
	} else if (!ret) {
		src->dest_started = true;
		src->started_status = sw.status;
		src->t_started = clock_now_us();
	}
	more = src->postcopy || h->type == WIRE_READY;
	pthread_cond_broadcast(&src->cond);
	pthread_mutex_unlock(&src->lock);
	if (ret) {
		src_fail(src, ret, "return path: %s", err);
		return ret;
	}
	return more ? 0 : 1;
}

/* The destination's READY (src_switch_on_record()), or a failure. */
static int wait_ready(struct vmmig_source *src)
{
	int ret;

	pthread_mutex_lock(&src->lock);
	while (!src->acked && !failure_code(&src->sess.fail))
		pthread_cond_wait(&src->cond, &src->lock);
	ret = failure_code(&src->sess.fail);
	pthread_mutex_unlock(&src->lock);
	return ret;
}

int src_switch_commit(struct vmmig_source *src)
{
	uint8_t buf[WIRE_SW_SIZE];
	struct wire_sw sw = { 0 };
	int ret = wait_ready(src);

	if (ret)
		return ret;
	/* Atomic with cancel(): either it failed the migration first (then
	 * the guest resumes here), or the guest is given up now. */
	pthread_mutex_lock(&src->lock);
	ret = failure_code(&src->sess.fail);
	if (!ret)
		src->committed = true;
	pthread_mutex_unlock(&src->lock);
	if (ret)
		return ret;
	wire_sw_pack(buf, &sw);
	uint64_t calls = atomic_load(&src->chan[0].tx_calls);

	ret = chan_send_record(&src->chan[0], WIRE_COMMIT, 0, buf, sizeof(buf));
	if (ret && atomic_load(&src->chan[0].tx_calls) == calls) {
		/* Refused before any byte reached the transport (the channel
		 * was aborted meanwhile): the destination cannot start, the
		 * guest is still ours to resume. */
		pthread_mutex_lock(&src->lock);
		src->committed = false;
		pthread_mutex_unlock(&src->lock);
		src_fail(src, ret, "sending COMMIT: %s (nothing sent: the "
			 "guest stays here)", vmmig_strerror(ret));
	} else if (ret) {
		src_fail(src, ret, "sending COMMIT: %s (the destination "
			 "may or may not start the guest)",
			 vmmig_strerror(ret));
	}
	return ret;
}

int src_switch_wait_started(struct vmmig_source *src)
{
	int ret;

	pthread_mutex_lock(&src->lock);
	while (!src->dest_started && !failure_code(&src->sess.fail))
		pthread_cond_wait(&src->cond, &src->lock);
	ret = src->dest_started ? src->started_status
				: failure_code(&src->sess.fail);
	pthread_mutex_unlock(&src->lock);
	return ret;
}

/* END on every channel: what it carried, and on channel 0 the blob count
 * and (post-copy verification) the memory hash. */
int src_send_end(struct vmmig_source *src, struct wire_end *end,
		 unsigned nblobs)
{
	uint8_t buf[WIRE_END_SIZE];
	int ret = 0;

	for (unsigned i = 0; i < src->nchan && !ret; i++) {
		end->pages = src->snd[i].pages_sent;
		end->flags = (end->flags & ~WIRE_END_MAIN) |
			     (i == 0 ? WIRE_END_MAIN : 0);
		end->nblobs = i == 0 ? nblobs : 0;
		wire_end_pack(buf, end);
		ret = chan_send_record(&src->chan[i], WIRE_END, 0, buf,
				       sizeof(buf));
	}
	return ret;
}

struct digest {
	struct vmmig_source *src;
	const struct region *r;
	uint64_t h, t_ka, every;
};

/* pagemap_run_fn: a page that reads as zero hashes to 0; hash the rest. */
static int digest_run(void *cookie, uint64_t first, uint64_t count,
		      enum pagemap_kind kind)
{
	struct digest *d = cookie;

	for (uint64_t p = first; kind != PAGEMAP_ZERO && p < first + count;
	     p++) {
		d->h += regions_page_hash(d->r->host + p * VMMIG_PAGE_SIZE,
					  d->r->id, p);
		/* A large guest takes seconds: say "still busy", or either
		 * side's watchdog would take the silence for a dead peer. */
		if (p % 1024 == 1023 && clock_now_us() - d->t_ka > d->every) {
			(void)chan_send_record(&d->src->chan[0],
					       WIRE_KEEPALIVE, 0, NULL, 0);
			d->t_ka = clock_now_us();
		}
	}
	return 0;
}

uint64_t src_memory_digest(struct vmmig_source *src)
{
	struct digest d = { .src = src, .t_ka = clock_now_us(),
			    .every = (uint64_t)src->sess.opt
				.v[VMMIG_OPT_IO_TIMEOUT_MS] * 250u };

	if (d.every > 1000000)
		d.every = 1000000;
	/* The guest is given up for good: no sync follows. Stopping the
	 * tracker also lifts uffd-wp's markers, which would hide the
	 * never-populated pages from the page tables, so that only the
	 * pages with contents are read (and a sparse guest hashes in ms). */
	vmmig_tracker_stop(src->tracker);
	for (unsigned i = 0; i < src->sess.regions.n; i++) {
		d.r = &src->sess.regions.r[i];
		/* Without a map of the pages, all of them are read. */
		if (pagemap_runs(d.r->host, d.r->npages,
				 pagemap_is_anon_private(d.r->host,
							 d.r->npages),
				 digest_run, &d))
			digest_run(&d, 0, d.r->npages, PAGEMAP_OTHER);
	}
	return d.h;
}

static void set_verified(struct vmmig_source *src, int v)
{
	pthread_mutex_lock(&src->sess.stats_lock);
	src->sess.st.verified = v;
	pthread_mutex_unlock(&src->sess.stats_lock);
}

/* After COMMIT: the guest is stopped here for good, its memory frozen. */
static int verify_after_commit(struct vmmig_source *src)
{
	struct wire_sw sw = { .flags = WIRE_SW_DIGEST };
	uint8_t buf[WIRE_SW_SIZE];
	int ret;

	sw.digest = src_memory_digest(src);
	wire_sw_pack(buf, &sw);
	ret = chan_send_record(&src->chan[0], WIRE_DIGEST, 0, buf, sizeof(buf));
	if (!(src->ready.flags & WIRE_SW_DIGEST)) {
		src_fail(src, -EPROTO, "destination sent no memory digest");
		return -EPROTO;
	}
	if (src->ready.digest != sw.digest) {
		set_verified(src, 0);
		src_fail(src, -EIO, "memory verification failed: the "
			 "destination's pages hash to %016llx, this memory "
			 "to %016llx (the guest runs there with wrong "
			 "memory)", (unsigned long long)src->ready.digest,
			 (unsigned long long)sw.digest);
		return -EIO;
	}
	set_verified(src, 1);
	if (ret)
		src_fail(src, ret, "sending DIGEST: %s", vmmig_strerror(ret));
	return ret;
}

int src_stop_and_copy(struct vmmig_source *src)
{
	struct vmmig_state_sink sink = { 0 };
	struct wire_end end = { 0 };
	uint64_t t_pause;
	int ret;

	/* Socket backlog and restores finish while the guest still runs. */
	ret = src_drain_restores(src);
	if (ret)
		return ret;
	src->hints_off = true;
	ret = src_pause(src, &t_pause);
	if (ret)
		return ret;
	ret = src_senders_run(src, src_send_round);
	if (ret)
		return ret;
	if (src->ops->save_state) {
		ret = src->ops->save_state(src->opaque, &sink);
		if (ret) {
			src_fail(src, ret, "saving guest state: %s",
				 vmmig_strerror(ret));
			goto out;
		}
	}
	ret = sess_state_send(&src->chan[0], &sink);
	ret = ret ? ret : src_send_end(src, &end, sink.n);
	if (ret) {
		src_fail(src, ret, "sending final state: %s",
			 vmmig_strerror(ret));
		goto out;
	}
	ret = src_switch_commit(src);
	if (ret) {
		src_fail(src, ret, "destination not ready: %s",
			 vmmig_strerror(ret));
		goto out;
	}
	/* The downtime ends when the destination runs the guest; hashing
	 * this memory (tens of ms per GiB) waits until then, so that it
	 * takes no CPU from the switch. */
	ret = src_switch_wait_started(src);
	if (ret)
		src_fail(src, ret, "destination did not confirm the start: "
			 "%s", vmmig_strerror(ret));
	if (src->dest_started)
		src_history_end(src, 0, src->t_started);
	pthread_mutex_lock(&src->sess.stats_lock);
	if (src->dest_started)
		src->sess.st.downtime_us = src->t_started - t_pause;
	src->sess.st.remaining_bytes = 0;
	pthread_mutex_unlock(&src->sess.stats_lock);
	if (!ret && src->sess.opt.v[VMMIG_OPT_VERIFY])
		ret = verify_after_commit(src);
out:
	sess_state_sink_free(&sink);
	return ret;
}
