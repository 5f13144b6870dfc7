/* SPDX-License-Identifier: MIT */
/* The destination session's private layout (dest*.c). */
#ifndef VMMIG_LIB_DEST_H
#define VMMIG_LIB_DEST_H

#include "session/session.h"

struct vmmig_dest;

/* Post-copy state of one region (dest_postcopy.c). */
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
	/* configuration */
	uint8_t uuid[VMMIG_UUID_SIZE];
	bool uuid_set;
	struct region_set regions;
	struct wire_dest_region *wregions;
	const struct vmmig_dest_ops *ops;
	void *opaque;
	struct options opt;
	struct logger log;

	/* listening */
	const struct vmmig_transport_ops *tops;
	void *listener;
	bool listening;

	/* run */
	bool started, joined;
	pthread_t thread;
	int result;
	struct failure fail;
	struct chan_shared sh;
	struct chan chan[VMMIG_MAX_CHANNELS];
	unsigned nchan;        /* announced by the source */
	struct receiver rcv[VMMIG_MAX_CHANNELS];
	struct watchdog wd;
	struct vmmig_state_sink state;

	pthread_mutex_t lock;  /* receivers -> coordinator */
	pthread_cond_t cond;
	unsigned active;       /* receivers still running */

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
	pthread_mutex_t chan_lock; /* dest_abort_io() vs channels being made
				    * or closed (a dropped stranger's, all of
				    * them in a post-copy recovery) */
	struct chan *rp_chan;      /* where page requests go; NULL: link down */
	struct chan *err_chan;     /* channel 0 while the channels are up
				    * (under rp_lock): a cancel's ERROR */
	uint64_t rx_closed;        /* bytes of channels closed by a recovery */
	int recover_ms;            /* a recovery's accept waits this long */

	/* dest_populate.c */
	pthread_t populate_thread;
	bool populate_running;
	atomic_bool populate_stop;

	/* switchover (dest_switch.c) */
	_Atomic int owner;         /* enum vmmig_owner */
	/* end-to-end verification (dest_verify.c): each page's page_hash()
	 * as its final copy landed, and their sum */
	uint64_t **vhash;          /* per region, per page (atomic ops) */
	uint64_t **vhash_used;     /* per region, a bit per 512 vhash entries
				    * (one page of them): some may be non-0 */
	_Atomic uint64_t vsum;
	struct vqueue *vq;         /* pages landed, to hash (its thread) */

	/* cache-restore (dest_restore.c) */
	struct vmmig_page_source *page_source; /* borrowed, or NULL */
	struct restore *rs;

	pthread_mutex_t stats_lock;
	struct vmmig_stats st;
	struct counters cnt;
	uint64_t t_start;
};

/* dest.c: bytes received so far, closed channels included */
uint64_t dest_rx_bytes(struct vmmig_dest *dst);

/* dest_run.c */
void *dest_main(void *arg);
void dest_fail(struct vmmig_dest *dst, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void dest_abort_io(struct vmmig_dest *dst);
/* A receiver's non-PAGES record: 0 to read on, 1 when the channel is done
 * (END), -errno after recording the failure. */
int dest_on_record(struct receiver *rv, const struct wire_hdr *h,
		   const uint8_t *payload);

/* dest_postcopy.c */
int dpc_switch(struct receiver *rv);
int dpc_discard(struct vmmig_dest *dst, const uint8_t *payload, size_t len,
		bool early);
int dpc_drop_early(struct vmmig_dest *dst);
/* A page dropped by an early DISCARD, before the switch: nothing may
 * land on it until post-copy places it. */
bool dpc_dropped_early(struct vmmig_dest *dst, unsigned ri, uint64_t page);
int dpc_start(struct receiver *rv, const uint8_t *payload, size_t len);
int dpc_finish(struct vmmig_dest *dst, struct wire_done *done);
/* After a reconnect: place pages on this reader, tell the source what is
 * still missing, ask again for what vCPUs wait on. */
int dpc_arm_reader(struct receiver *rv);
int dpc_resync(struct vmmig_dest *dst, struct chan *c);
void dpc_free(struct vmmig_dest *dst);

/* Place a page after the switch (UFFDIO_COPY/ZEROPAGE); -EPROTO if it
 * is not pending. */
int dpc_place(struct vmmig_dest *dst, unsigned ri, uint64_t page,
	      const void *data);
bool dpc_pending(struct vmmig_dest *dst, unsigned ri, uint64_t page);
/* Pages [first, first + n) of region @ri are in place: not pending any
 * more, counted, their fault latency recorded. */
void dpc_placed(struct vmmig_dest *dst, unsigned ri, uint64_t first,
		uint64_t n);
/* Ask the source for a page now (its restore failed after the switch). */
void dpc_refetch(struct vmmig_dest *dst, unsigned ri, uint64_t page);

static inline bool pc_test_bit(const uint64_t *bm, uint64_t page)
{
	return __atomic_load_n(&bm[page / 64], __ATOMIC_ACQUIRE) &
	       (1ull << (page % 64));
}

/* dest_faults.c */
void *dpc_fault_main(void *arg);
void dpc_stop_fault_thread(struct postcopy_dst *pc);

/* dest_req.c: batches of page numbers in REQ records */
struct req_batch {
	uint32_t region_id;
	uint32_t count;
	uint64_t pages[WIRE_REQ_MAX];
};
int req_batch_add(struct chan *c, struct req_batch *b, uint32_t region_id,
		  uint64_t page, uint16_t flags);
int req_batch_flush(struct chan *c, struct req_batch *b, uint16_t flags);

/* dest_restore.c */
struct restore;
int restore_init(struct vmmig_dest *dst);
/* A HINT for page @page of region @ri: read it from storage instead. */
int restore_on_hint(struct vmmig_dest *dst, unsigned ri, uint64_t page,
		    const struct wire_hint *h);
/* Contents of @page are about to land: a restore in flight for it lost.
 * -EPROTO: the page may not land now (dropped by an early DISCARD). */
int restore_on_write(struct vmmig_dest *dst, unsigned ri, uint64_t page);
bool restore_in_flight(struct vmmig_dest *dst, unsigned ri, uint64_t page);
int restore_drain(struct receiver *rv);
int restore_finish(struct vmmig_dest *dst);
void restore_fill_stats(struct vmmig_dest *dst, struct vmmig_stats *st);
void restore_free(struct vmmig_dest *dst);

/* dest_populate.c */
int populate_start(struct vmmig_dest *dst);
void populate_stop(struct vmmig_dest *dst);

/* dest_switch.c: READY, COMMIT, start(), STARTED, DIGEST on channel 0 */
/* READY, then wait for COMMIT on @rv's reader: 0 when it came (the guest
 * is ours now), else -errno (never start it then). */
int dsw_ready_commit(struct vmmig_dest *dst, struct receiver *rv);
/* Start the guest and say so with STARTED. */
int dsw_start(struct vmmig_dest *dst, struct receiver *rv);
/* Pre-copy verification: the source's DIGEST against ours. */
int dsw_check_digest(struct vmmig_dest *dst, struct receiver *rv,
		     int *verified);

/* dest_zero.c: a ZERO run [first, first + n) of region @ri, placed in
 * bulk: cleared before the switch, installed after it (@placing). */
int dzero_run(struct vmmig_dest *dst, unsigned ri, uint64_t first,
	      uint64_t n, bool placing);

/* dest_verify.c */
int dverify_init(struct vmmig_dest *dst);
/* Page @page of region @ri now holds @contents (NULL: zero) for good. */
void dverify_page(struct vmmig_dest *dst, unsigned ri, uint64_t page,
		  const void *contents);
/* Pages [first, first + n) of region @ri are zero for good. */
void dverify_zero(struct vmmig_dest *dst, unsigned ri, uint64_t first,
		  uint64_t n);
/* The same for a page a receiver wrote to guest memory (@contents: the
 * page, NULL: zero): hashed on the hashing thread when it can take it.
 * Nothing without verification. */
void dverify_landed(struct vmmig_dest *dst, unsigned ri, uint64_t page,
		    const void *contents);
void dverify_free(struct vmmig_dest *dst);
/* Wait until every landed page is hashed: before the digest is read, and
 * before anything else may touch those pages. */
void dverify_drain(struct vmmig_dest *dst);

/* dest_poison.c: after a failed post-copy, pages that never arrived must
 * fault for good, never read as zero. Returns the pages poisoned. */
uint64_t dpc_poison_missing(struct vmmig_dest *dst);

/* dest_sink.c: where a receiver's reader lands pages (the cookie is the
 * receiver); attach sets it on @rv->rd, pre-copy placement. */
extern const struct wire_page_sink_ops dest_sink_ops;
int dest_sink_attach(struct receiver *rv);

/* dest_handshake.c */
int dest_accept_all(struct vmmig_dest *dst, bool resume);
/* The receiver of channel 0 (the return path), or NULL (dest_run.c). */
struct receiver *dest_main_receiver(struct vmmig_dest *dst);
/* dest_recover.c: stop the receivers and drop the channels (not the
 * listener); after a post-copy link break, wait until @deadline for the
 * source to come back: 0, or -errno (final). */
void dest_close_channels(struct vmmig_dest *dst);
int dest_recover(struct vmmig_dest *dst, uint64_t deadline);

#endif
