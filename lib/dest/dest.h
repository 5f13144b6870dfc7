/* SPDX-License-Identifier: MIT */
/*
 * The destination session's private layout, and its core: the calls every
 * file of the receiving side may make (failure, page requests, post-copy
 * page state, verification hashes, populate, poison). The core calls
 * nothing above it. Above it: the features (dest_feat.h: restore, the
 * fault thread, the switchover, post-copy, the handshake), then the driver
 * and the record dispatcher (dest_main.h), then the public API (dest.c).
 */
#ifndef VMMIG_LIB_DEST_H
#define VMMIG_LIB_DEST_H

#include "session/session.h"

struct vmmig_dest;

/* Post-copy state of one region (dest_pages.c). */
struct pc_region {
	uint64_t *pending;     /* bit set: not valid here yet (atomic ops) */
	uint64_t *dropped;     /* bit set: already dropped (early DISCARD) */
	uint64_t *requested;   /* bit set: asked for by the fault thread */
	uint64_t *t_req;       /* per page: when it was asked for (us) */
};

/* Post-copy on the destination: userfaultfd, fault thread, figures. */
struct postcopy_dst {
	struct pc_region *r;
	int uffd;
	int evfd;              /* wakes the fault thread to stop */
	pthread_t fault_thread;
	bool thread_running;
	_Atomic uint64_t missing;   /* pending pages not placed yet */
	_Atomic uint64_t placed;
	pthread_mutex_t lat_lock;
	uint32_t *lat_us;      /* fault -> placement, one per served fault */
	size_t nlat, lat_cap;
	_Atomic uint64_t faults;
	uint64_t t_armed;      /* guest may start here (us) */
	_Atomic uint64_t t_last;    /* the last missing page placed (us) */
	uint64_t lost;         /* pending pages poisoned after a failure */
};

/* One receiving thread per channel. */
struct receiver {
	pthread_t thread;
	bool running;
	struct vmmig_dest *dst;
	struct chan *c;
	struct wire_reader *rd;
	bool staged;           /* raw pages via the reader's buffer */
	bool placing;          /* post-copy: pages placed atomically */
	bool ended;            /* END received */
	struct wire_end end;
	uint64_t rounds;       /* ROUND records seen (channel 0) */
};

struct vmmig_dest {
	/* configuration, thread, failure, stats: as on the source */
	struct session sess;
	/* configuration */
	uint8_t uuid[VMMIG_UUID_SIZE];
	bool uuid_set;
	struct wire_dest_region *wregions;
	const struct vmmig_dest_ops *ops;
	void *opaque;

	struct listener lis;       /* where the source's channels arrive */

	/* run */
	struct chan chan[VMMIG_MAX_CHANNELS];
	unsigned nchan;        /* announced by the source */
	struct receiver rcv[VMMIG_MAX_CHANNELS];
	struct vmmig_state_sink state;

	pthread_mutex_t lock;  /* receivers -> coordinator */
	pthread_cond_t cond;
	unsigned active;       /* receivers still running */
	unsigned drained;      /* channels past DRAIN (under lock) */

	/* post-copy (dest_postcopy.c) */
	struct postcopy_dst *pc;   /* allocated by the first DISCARD */
	/* Atomic: receivers and the restore feeder read them unlocked. */
	_Atomic unsigned switched; /* channels past SWITCH (set under lock) */
	atomic_bool early_dropped; /* an early DISCARD took effect */
	atomic_bool pc_armed;      /* guest started, pages are placed */
	atomic_bool cancelled;     /* vmmig_dest_cancel() was called: ends a
				    * post-copy pause too, whose link failure
				    * came first and is forgotten on retry */
	pthread_mutex_t rp_lock;   /* guards rp_chan across a reconnect */
	pthread_mutex_t chan_lock; /* dst_abort_io() vs channels being made
				    * or closed (a dropped stranger's, all of
				    * them in a post-copy recovery) */
	struct chan *rp_chan;      /* where page requests go; NULL: link down */
	struct chan *err_chan;     /* channel 0 while the channels are up
				    * (under rp_lock): a cancel's ERROR */
	uint64_t rx_closed;        /* bytes of channels closed by a recovery */
	int recover_ms;            /* a recovery's accept waits this long */
	uint32_t resume_attempt;   /* the source's reconnection attempt
				    * whose channels we took last */

	/* dest_populate.c */
	pthread_t populate_thread;
	bool populate_running;
	atomic_bool populate_stop;

	/* switchover (dest_switch.c) */
	_Atomic int owner;         /* enum vmmig_owner */
	/* end-to-end verification (dest_verify.c): each page's regions_page_hash()
	 * as its final copy landed, and their sum */
	uint64_t **vhash;          /* per region, per page (atomic ops) */
	uint64_t **vhash_used;     /* per region, a bit per 512 vhash entries
				    * (one page of them): some may be non-0 */
	_Atomic uint64_t vsum;
	struct vqueue *vq;         /* pages landed, to hash (its thread) */

	/* cache-restore (dest_restore.c) */
	struct vmmig_page_source *page_source; /* borrowed, or NULL */
	struct restore *rs;

};

/* ---- dest_core.c: the failure path ---- */
void dst_fail(struct vmmig_dest *dst, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void dst_abort_io(struct vmmig_dest *dst);
/* Bytes received so far, closed channels included. */
uint64_t dst_rx_bytes(struct vmmig_dest *dst);
/* The receiver of channel 0 (the return path), or NULL. */
struct receiver *dst_main_receiver(struct vmmig_dest *dst);
/* Stop the receivers and drop the channels (not the listener). */
void dst_close_channels(struct vmmig_dest *dst);

/* ---- dest_req.c: page requests to the source ---- */
struct req_batch {
	uint32_t region_id;
	uint32_t count;
	uint64_t pages[WIRE_REQ_MAX];
};
/* On channel @c (NULL: dropped). */
int dst_req_batch_add(struct chan *c, struct req_batch *b, uint32_t region_id,
		      uint64_t page, uint16_t flags);
int dst_req_batch_flush(struct chan *c, struct req_batch *b, uint16_t flags);
/* On the current return path (rp_chan, under rp_lock): while the link is
 * down the pages stay marked requested and are asked for again after the
 * reconnect (dst_pc_resync()), so a failed send loses nothing. */
void dst_req_add(struct vmmig_dest *dst, struct req_batch *b, uint32_t id,
		 uint64_t page);
void dst_req_flush(struct vmmig_dest *dst, struct req_batch *b);
/* Ask the source for a page now (its restore failed after the switch). */
void dst_pc_refetch(struct vmmig_dest *dst, unsigned ri, uint64_t page);

/* ---- dest_pages.c: post-copy page state ---- */
static inline bool pc_test_bit(const uint64_t *bm, uint64_t page)
{
	return __atomic_load_n(&bm[page / 64], __ATOMIC_ACQUIRE) &
	       (1ull << (page % 64));
}
/* dst->pc and its bitmaps, all clear. */
int dst_pc_alloc(struct vmmig_dest *dst);
/* Place a page after the switch (UFFDIO_COPY/ZEROPAGE); -EPROTO if it
 * is not pending. */
int dst_pc_place(struct vmmig_dest *dst, unsigned ri, uint64_t page,
		 const void *data);
bool dst_pc_pending(struct vmmig_dest *dst, unsigned ri, uint64_t page);
/* Pages [first, first + n) of region @ri are in place: not pending any
 * more, counted, their fault latency recorded. */
void dst_pc_placed(struct vmmig_dest *dst, unsigned ri, uint64_t first,
		   uint64_t n);
/* Drop the pending pages of region @ri not dropped yet, so that touching
 * them faults. */
int dst_pc_drop_pending(struct vmmig_dest *dst, unsigned ri);
/* The DRAIN barrier: drop the pages an early DISCARD named. */
int dst_pc_drop_early(struct vmmig_dest *dst);
/* A page dropped by an early DISCARD, before the switch: nothing may
 * land on it until post-copy places it. */
bool dst_pc_dropped_early(struct vmmig_dest *dst, unsigned ri, uint64_t page);

/* ---- dest_verify.c ---- */
int dst_verify_init(struct vmmig_dest *dst);
/* Page @page of region @ri now holds @contents (NULL: zero) for good. */
void dst_verify_page(struct vmmig_dest *dst, unsigned ri, uint64_t page,
		     const void *contents);
/* Pages [first, first + n) of region @ri are zero for good. */
void dst_verify_zero(struct vmmig_dest *dst, unsigned ri, uint64_t first,
		     uint64_t n);
/* The same for a page a receiver wrote to guest memory (@contents: the
 * page, NULL: zero): hashed on the hashing thread when it can take it.
 * Nothing without verification. */
void dst_verify_landed(struct vmmig_dest *dst, unsigned ri, uint64_t page,
		       const void *contents);
void dst_verify_free(struct vmmig_dest *dst);
/* Wait until every landed page is hashed: before the digest is read, and
 * before anything else may touch those pages. */
void dst_verify_drain(struct vmmig_dest *dst);

/* ---- dest_populate.c ---- */
int dst_populate_start(struct vmmig_dest *dst);
void dst_populate_stop(struct vmmig_dest *dst);

/* ---- dest_poison.c: after a failed post-copy, pages that never arrived
 * must fault for good, never read as zero. Returns the pages poisoned. */
uint64_t dst_pc_poison_missing(struct vmmig_dest *dst);

#endif
