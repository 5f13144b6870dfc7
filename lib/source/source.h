/* SPDX-License-Identifier: MIT */
/*
 * The source session's private layout, and its core: the calls every file
 * of the sending side may make (failure, connection, dirty bitmaps and
 * pause, senders, the return-path reader, hints, history). The core calls
 * nothing above it. Above it: the features (source_feat.h: drain,
 * switchover, throttle, post-copy, recovery), then the driver and the
 * return-path dispatcher (source_main.h), then the public API (source.c).
 */
#ifndef VMMIG_LIB_SOURCE_H
#define VMMIG_LIB_SOURCE_H

#include "session/session.h"
#include "encode/encode.h" /* the senders own encoders */
#include "wire/batch.h" /* the senders build PAGES */
#include "wire/zero_range.h"

struct vmmig_source;

/* One sending thread per channel; it owns the channel's send side during
 * rounds, and its encoder (zstd context, delta cache). */
/* Slots for records a page channel's sender has queued on a transport that
 * pipelines (chan_send_queue()), each kept until sent while the next one
 * is built. PAGES and ZERO records take the slots in turn, in the order
 * they are queued, so a slot's buffers are free once the record queued
 * SEND_DEPTH records ago has left. The built-in io_uring channels keep one
 * send in flight, so two are enough; a transport may keep up to
 * SEND_DEPTH - 1. */
#define SEND_DEPTH 3

struct send_slot {
	uint8_t *head;    /* copy of a PAGES record's head */
	uint8_t *payload; /* swapped with the batch's buffer (PAGES) */
	uint8_t *zeros;   /* swapped with the zero runs' buffer (ZERO) */
};

struct sender {
	pthread_t thread;
	bool running;
	struct vmmig_source *src;
	struct chan *c;
	struct enc_ctx *enc;
	struct wire_batch batch;
	struct wire_zeros zeros; /* runs of zero pages (source_zero.c) */
	struct enc_counters ec; /* of the batch being built */
	uint64_t pages_sent;   /* PAGES entries over the whole migration */
	uint64_t seen_gen;     /* last job generation taken */
	struct send_slot slot[SEND_DEPTH]; /* page senders only, else NULL */
	unsigned next_slot;    /* the slot the next flush fills */
	size_t zero_bytes;     /* ZERO bytes sent since the last batch */
};

struct vmmig_source {
	/* configuration, thread, failure, stats: as on the destination */
	struct session sess;
	/* configuration */
	uint8_t uuid[VMMIG_UUID_SIZE];
	const struct vmmig_source_ops *ops;
	void *opaque;
	struct vmmig_tracker *tracker, *own_tracker;
	struct vmmig_policy *policy, *own_policy;

	/* run */
	const struct vmmig_transport_ops *tops;
	char *addr;
	int fds[VMMIG_MAX_CHANNELS]; /* *_start_fds(): channel i's socket, -1
				      * once its channel took it over */
	unsigned nfds;           /* 0: connect to addr instead */
	struct ratelimit *rl;
	/* Channels 0..ndata-1 carry the page stripes; the last one (ndata)
	 * carries only post-copy pages a vCPU waits for, so they never queue
	 * behind the background stream (like QEMU's postcopy-preempt). */
	struct chan chan[VMMIG_MAX_CHANNELS];
	unsigned nchan;          /* ndata + 1 */
	unsigned ndata;
	uint32_t attempt;        /* post-copy reconnection attempts so far:
				  * each one's HELLOs carry its number, so
				  * the destination never mixes channels of
				  * two attempts */
	bool paused;             /* we called ops->pause() */
	bool first_pass;         /* a job over pages never sent before */
	uint64_t **zero_bm;      /* per region: zero since tracking started
				  * and not dirtied since (source_zero.c) */
	bool committed;          /* COMMIT sent (under lock): the guest is
				  * given up, never resumed here */
	atomic_bool peer_ready;  /* handshake done: ERROR may be sent */
	bool throttle_warned;    /* THROTTLE without a callback was logged */

	/* round dispatch to senders (lock/cond) */
	struct sender snd[VMMIG_MAX_CHANNELS]; /* [ndata]: urgent */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_mutex_t chan_lock; /* src_abort_io() (a cancel, the
				    * watchdog) vs channels being closed or
				    * made anew (recovery, the end) */
	int (*job)(struct sender *s); /* what src_senders_run() asked for */
	uint64_t job_gen;
	unsigned job_done;
	bool quit;
	uint64_t **send_bm;      /* per region: pages the current job sends */
	uint64_t **dirty_bm;     /* per region: filled by tracker sync */
	uint64_t rtt_us;         /* quickest DRAIN round trip seen */

	/* return path (channel 0, dest -> source) */
	/* Where its reader hands each record: the dispatcher above the
	 * features (src_rp_on_record()), set at creation, so that the reader
	 * below them names none of them. */
	int (*on_record)(struct vmmig_source *src, const struct wire_hdr *h,
			 const uint8_t *payload);
	pthread_t rp_thread;
	atomic_bool rp_running;  /* read by src_rp_await_verdict() */
	struct wire_reader *rp_reader;
	bool acked;              /* READY received (under lock) */
	struct wire_sw ready;    /* its payload: the destination's digest */
	bool dest_started;       /* STARTED (or RESUMED) received: the
				  * destination owns the guest (under lock) */
	int32_t started_status;  /* what its start() returned */
	uint64_t t_started;      /* when STARTED arrived (us) */

	/* post-copy (source_postcopy.c) */
	bool postcopy;           /* switched: rp reads REQ and DONE */
	_Atomic uint64_t hint;   /* region << 48 | bitmap word of last fault */
	bool done;               /* DONE received (under lock) */
	struct wire_done done_info;
	uint64_t postcopy_served;/* pages sent because a vCPU waited */
	uint64_t tx_closed;      /* bytes of channels closed by a recovery */

	/* cache-restore (source_hints.c, source_drain.c) */
	pthread_rwlock_t hints_lock;
	struct region_hints *hints; /* per region, NULL until a hint */
	bool hints_off;          /* final stop-and-copy pass: contents only */
	_Atomic uint64_t hints_sent;
	uint64_t **refetch_bm;   /* pages whose restore failed (atomic) */
	bool drained;            /* DRAINED received (under lock) */


	/* history and the pass being sent (source_history.c) */
	struct history hist;
	_Atomic uint64_t pass_total;  /* pages of the current pass */
	_Atomic uint64_t pass_done;   /* of those, handled by send_pages */
	_Atomic uint64_t pass_t0, pass_b0; /* its start: time, tx bytes */
	atomic_bool pass_active;
};

/* ---- source_core.c: the failure path ---- */
/* Record the first failure (later ones are its echoes), tell the
 * destination why (src_tell_peer()), stop every thread's I/O. */
void src_fail(struct vmmig_source *src, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void src_abort_io(struct vmmig_source *src);
/* The first failure, recorded here (not the peer's, not a broken link),
 * goes to the destination as ERROR on every channel no other thread is
 * sending on (the urgent one carries nothing before the switch); not once
 * committed (COMMIT or the post-copy switch sent). */
void src_tell_peer(struct vmmig_source *src);
/* Before recording link error @code seen by another thread than the
 * return path's: wait (100 ms at most) for the return path to record the
 * destination's ERROR, which may be queued before the end of its stream. */
void src_rp_await_verdict(struct vmmig_source *src, int code);
/* Bytes sent on every channel, closed ones included. */
uint64_t src_tx_bytes(struct vmmig_source *src);

/* ---- source_conn.c: channels and handshake ---- */
/* Refused connections are retried for @retry_ms (0: fail at once). */
int src_connect_all(struct vmmig_source *src, int timeout_ms, int64_t retry_ms);
int src_handshake(struct vmmig_source *src, uint16_t flags);

/* ---- source_dirty.c: bitmaps, tracker, pause ---- */
/* After a round: what was dirtied meanwhile becomes the next job. */
int src_sync_next_round(struct vmmig_source *src);
/* Before the last pass: add what was dirtied to what is still pending. */
int src_sync_pending(struct vmmig_source *src);
int src_alloc_bitmaps(struct vmmig_source *src);
void src_free_bitmaps(struct vmmig_source *src);
int src_start_tracking(struct vmmig_source *src);
/* Pause the guest, then add what it wrote since the last sync. */
int src_pause(struct vmmig_source *src, uint64_t *t_pause);

/* ---- source_send.c: the sending threads ---- */
int src_send_pages(struct sender *s, const struct region *r, uint64_t w,
		   uint64_t bits);
int src_flush_batch(struct sender *s);
/* Queue a record whose buffers were moved into slot next_slot (page
 * senders on a pipelining transport; under tx_lock). */
int src_queue_slot(struct sender *s, const struct iovec *iov, int iovcnt);
int src_senders_start(struct vmmig_source *src);
/* Run @job on every data channel's sender; returns the first error. The
 * senders know no job: the caller names it (src_send_round(), or post-copy's
 * sweep). */
int src_senders_run(struct vmmig_source *src, int (*job)(struct sender *s));
/* The pre-copy job: this sender's stripes of send_bm. */
int src_send_round(struct sender *s);
void src_senders_stop(struct vmmig_source *src);

/* ---- source_rp.c: the return path's reader thread ---- */
int src_rp_start(struct vmmig_source *src);
void src_rp_stop(struct vmmig_source *src);

/* ---- source_hints.c: cache-restore hints ---- */
struct region_hints;
uint64_t src_hints_word(struct vmmig_source *src, unsigned ri, uint64_t w);
bool src_hints_lookup(struct vmmig_source *src, unsigned ri, uint64_t page,
		      struct wire_hint *out);
void src_hints_drop_dirty(struct vmmig_source *src, unsigned ri,
			  const uint64_t *dirty);
void src_hints_clear_page(struct vmmig_source *src, unsigned ri, uint64_t page);
void src_hints_free(struct vmmig_source *src);

/* ---- source_zero.c: zero runs of the first send ---- */
/* After the tracker started: map the pages that read as zero. */
int src_zero_map_init(struct vmmig_source *src);
/* A sync found @dirty (region @ri's bitmap): not zero any more. */
void src_zero_map_drop_dirty(struct vmmig_source *src, unsigned ri,
			     const uint64_t *dirty);
void src_zero_map_free(struct vmmig_source *src);
/* Pages of word @w of region @ri known zero, if this is a first send. */
uint64_t src_zero_map_word(const struct vmmig_source *src, unsigned ri,
			   uint64_t w);
/* Add the pages of @mask (word @w of @r) to the sender's ZERO record. */
int src_send_zeros(struct sender *s, const struct region *r, uint64_t w,
		   uint64_t mask);
int src_flush_zeros(struct sender *s);

/* ---- source_history.c ---- */
/* Called by the migration thread. A pass of @kind
 * (enum vmmig_round_kind) over send_bm starts at @t; ends with the dirty
 * set found after it; the post-copy switch ends the pause's entry. */
void src_history_begin(struct vmmig_source *src, int kind, uint32_t round,
		       uint64_t t);
void src_history_end(struct vmmig_source *src, uint64_t dirty_pages,
		     uint64_t t);
void src_history_switch(struct vmmig_source *src, uint64_t t);
/* At the end: an entry a failure left open ends now; what was sent after
 * the last entry joins it. */
void src_history_close(struct vmmig_source *src);
/* get_stats: the live figures of the pass in progress into @st. */
void src_pass_live(struct vmmig_source *src, struct vmmig_stats *st,
		   uint64_t now);

#endif
