/* SPDX-License-Identifier: MIT */
/*
 * libvmmig — dirty trackers: which guest pages changed since the last sync.
 *
 * A tracker is an ops table (versioned, methods only ever appended) plus
 * private state that the library allocates for it (priv_size bytes, zeroed).
 * The built-in trackers are written against exactly this interface.
 *
 * Life cycle, driven by the source session (or by the embedder directly):
 *   init(config) -> start(regions) -> { sync(i, bitmap) [clear(i, bitmap)] }*
 *   -> stop() -> destroy()
 * destroy() is called even when init() failed. init() and destroy() run on
 * the threads calling vmmig_tracker_new() and vmmig_tracker_free(); a
 * source session calls start(), sync(), clear() and stop() on its
 * migration thread, one at a time (sync() right after the guest may have
 * written: between rounds, and once after pause()). Writes keep coming
 * from the guest's vCPUs meanwhile.
 * The rules every pluggable interface follows (versions, return values,
 * wrappers): <vmmig/common.h>.
 *
 * Bitmaps: one per region, bit p of word p/64 set means page p (offset
 * p * VMMIG_PAGE_SIZE into the region) was written.
 */
#ifndef VMMIG_TRACKER_H
#define VMMIG_TRACKER_H

#include <vmmig/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMMIG_TRACKER_OPS_VERSION 1

/* One registered memory region as a tracker sees it. */
struct vmmig_tracker_region {
	uint32_t id;      /* embedder's region id */
	uint32_t index;   /* position in the array passed to start() */
	uint64_t gpa;     /* guest-physical address */
	void *host;       /* host virtual address, page aligned */
	uint64_t size;    /* bytes, multiple of VMMIG_PAGE_SIZE */
	uint64_t npages;  /* size / VMMIG_PAGE_SIZE */
};

struct vmmig_tracker_ops {
	uint32_t version;  /* VMMIG_TRACKER_OPS_VERSION */
	const char *name;  /* short, e.g. "uffd-wp" */
	size_t priv_size;  /* bytes of private state allocated by the library */

	/* Optional. @config is the pointer given to vmmig_tracker_new(). */
	int (*init)(void *priv, const void *config);
	/* Begin recording writes to @regions (array stays valid until stop()).
	 * Pages written after start() returns must be reported by a later sync. */
	int (*start)(void *priv, const struct vmmig_tracker_region *regions,
		     unsigned nr);
	/* OR into @bitmap every page of region @index written since start() or
	 * the previous sync of that region, and re-arm tracking for them.
	 * Reporting a page that was not written (false positive) is allowed;
	 * missing one that was is a bug. */
	int (*sync)(void *priv, unsigned index, uint64_t *bitmap);
	/* Optional: re-arm tracking of the pages in @bitmap only, just before
	 * they are sent (KVM manual dirty-log protect). Trackers that re-arm in
	 * sync() leave it NULL. */
	int (*clear)(void *priv, unsigned index, const uint64_t *bitmap);
	/* Stop recording; undo what start() did. Must be safe after a failed
	 * or missing start(). */
	void (*stop)(void *priv);
	/* Optional: release what init() acquired. */
	void (*destroy)(void *priv);
};

struct vmmig_tracker;

/**
 * vmmig_tracker_new() - create a tracker from an ops table.
 * @ops: version VMMIG_TRACKER_OPS_VERSION with start(), sync() and stop();
 *       must outlive the tracker (normally a static const table)
 * @config: passed to ops->init(); may be NULL
 * @out: receives the tracker (NULL on failure)
 *
 * The private state (ops->priv_size bytes, zeroed) is allocated here; the
 * built-in trackers are made the same way.
 *
 * Thread: any thread.
 * Callbacks: ops->init() on the calling thread; if it fails, ops->destroy()
 * too, on the calling thread.
 * Return: 0; -EINVAL (NULL @out, bad ops or version); -ENOMEM; or init()'s
 * error.
 */
VMMIG_API int vmmig_tracker_new(const struct vmmig_tracker_ops *ops,
				const void *config, struct vmmig_tracker **out);
/**
 * vmmig_tracker_free() - stop the tracker if started, and free it.
 * @t: the tracker, or NULL (no-op)
 *
 * Thread: the thread that owns the tracker, after the session that
 * borrowed it was freed.
 * Callbacks: ops->stop() (if started) and ops->destroy() on the calling
 * thread.
 * Return: nothing.
 */
VMMIG_API void vmmig_tracker_free(struct vmmig_tracker *t);
/**
 * vmmig_tracker_priv() - the private state of a tracker.
 * @t: the tracker
 *
 * The ops->priv_size bytes the library allocated, as the ops receive them
 * (for an embedder's tracker to reach its own state).
 *
 * Thread: any thread.
 * Callbacks: none.
 * Return: the state; NULL for NULL @t.
 */
VMMIG_API void *vmmig_tracker_priv(struct vmmig_tracker *t);
/**
 * vmmig_tracker_name() - the tracker's name.
 * @t: the tracker
 *
 * Thread: any thread.
 * Callbacks: none.
 * Return: ops->name (e.g. "kvm-ring"); "?" for NULL or a tracker without a
 * name.
 */
VMMIG_API const char *vmmig_tracker_name(const struct vmmig_tracker *t);

/**
 * vmmig_tracker_start() - begin recording writes to the regions.
 * @t: the tracker, not started
 * @regions: the regions (index i at position i, page-aligned host, size a
 *           multiple of VMMIG_PAGE_SIZE); must stay valid until stop()
 * @nr: their number, > 0
 *
 * Pages written after it returns are reported by a later sync. A source
 * session calls it itself at the start of a migration; it is public for
 * embedders and tests that drive a tracker directly, like the other
 * wrappers below, which check arguments and state before calling the ops.
 *
 * Thread: the thread that owns the tracker; a tracker a source session
 * uses belongs to that session's migration thread from vmmig_source_start()
 * until vmmig_source_wait() returned: don't call this on it meanwhile.
 * Callbacks: ops->start() on the calling thread; if it fails, ops->stop().
 * Return: 0; -EINVAL (NULL, no regions, a malformed region); -EBUSY
 * (already started); or the tracker's error.
 */
VMMIG_API int vmmig_tracker_start(struct vmmig_tracker *t,
				  const struct vmmig_tracker_region *regions,
				  unsigned nr);
/**
 * vmmig_tracker_sync() - collect the pages written since the last sync.
 * @t: a started tracker
 * @index: the region's index, as started
 * @bitmap: one bit per page of the region; written pages are ORed in
 *
 * Tracking of the reported pages is re-armed (trackers with a clear() step
 * re-arm in vmmig_tracker_clear() instead). A page reported without having
 * been written is allowed; a written page never reported is a tracker bug.
 *
 * Thread: the thread that owns the tracker; a tracker a source session
 * uses belongs to that session's migration thread from vmmig_source_start()
 * until vmmig_source_wait() returned: don't call this on it meanwhile.
 * Callbacks: ops->sync() on the calling thread.
 * Return: 0; -EINVAL (not started, bad index, NULL); or the tracker's error.
 */
VMMIG_API int vmmig_tracker_sync(struct vmmig_tracker *t, unsigned index,
				 uint64_t *bitmap);
/**
 * vmmig_tracker_clear() - re-arm tracking of pages about to be sent.
 * @t: a started tracker
 * @index: the region's index
 * @bitmap: the pages about to be sent
 *
 * Trackers with a manual protect step (KVM's dirty bitmap with manual
 * protect) re-protect these pages now; for the others it does nothing.
 *
 * Thread: the thread that owns the tracker; a tracker a source session
 * uses belongs to that session's migration thread from vmmig_source_start()
 * until vmmig_source_wait() returned: don't call this on it meanwhile.
 * Callbacks: ops->clear() on the calling thread, if the tracker has one.
 * Return: 0 (also for trackers without clear()); -EINVAL (not started, bad
 * index, NULL); or the tracker's error.
 */
VMMIG_API int vmmig_tracker_clear(struct vmmig_tracker *t, unsigned index,
				  const uint64_t *bitmap);
/**
 * vmmig_tracker_stop() - stop tracking.
 * @t: the tracker (NULL, or not started: no-op)
 *
 * Called after the last sync; undoes what start() did. The tracker can be
 * started again.
 *
 * Thread: the thread that owns the tracker; a tracker a source session
 * uses belongs to that session's migration thread from vmmig_source_start()
 * until vmmig_source_wait() returned: don't call this on it meanwhile.
 * Callbacks: ops->stop() on the calling thread, if started.
 * Return: nothing.
 */
VMMIG_API void vmmig_tracker_stop(struct vmmig_tracker *t);

/* ---- built-in trackers ---- */

/**
 * vmmig_tracker_new_manual() - a tracker the embedder feeds.
 * @out: receives the tracker
 *
 * The embedder reports writes itself with vmmig_tracker_manual_mark()
 * (device emulators, software guests).
 *
 * Thread: any thread.
 * Callbacks: none of the embedder's (the built-in's init() runs on the
 * calling thread).
 * Return: 0; -EINVAL (NULL @out); -ENOMEM.
 */
VMMIG_API int vmmig_tracker_new_manual(struct vmmig_tracker **out);
/**
 * vmmig_tracker_manual_mark() - report a write to a manual tracker.
 * @t: a tracker from vmmig_tracker_new_manual()
 * @region_id: the region's embedder id
 * @offset: byte offset into the region
 * @len: bytes written; every page they touch is marked
 *
 * Thread: any thread, any time; lock-free, also concurrently with the
 * migration thread's sync().
 * Callbacks: none.
 * Return: 0; -EINVAL (not a manual tracker, unknown region, out of range);
 * -ENODEV (not started: nothing to record yet, the write needs no
 * tracking).
 */
VMMIG_API int vmmig_tracker_manual_mark(struct vmmig_tracker *t,
					uint32_t region_id, uint64_t offset,
					uint64_t len);

/* Flags for vmmig_tracker_new_uffd_wp(). */
#define VMMIG_UFFD_WP_FORCE_SYNC (1u << 0) /* don't use async WP + PAGEMAP_SCAN */

/**
 * vmmig_tracker_new_uffd_wp() - a tracker using userfaultfd write-protect.
 * @flags: 0 or VMMIG_UFFD_WP_FORCE_SYNC
 * @out: receives the tracker
 *
 * Uses asynchronous write-protect with the PAGEMAP_SCAN ioctl where the
 * kernel has both (Linux >= 6.7), else synchronous write-protect with a
 * fault thread of its own, started by start(). Regions must be anonymous
 * private or shmem memory.
 *
 * In private anonymous regions async mode arms only populated pages:
 * start() and each sync() walk the page tables that exist, so their cost
 * follows the populated memory (in 2 MiB units: a page table each), not
 * the region's size, and arming adds no page tables. A never-populated
 * page that is written later is reported by the next sync(); one that is
 * only read is reported once (it reads as zero). A page the embedder
 * drops while tracking (e.g. madvise(MADV_DONTNEED)) is not reported, as
 * with a KVM dirty log. Shared (memfd) regions are armed whole, holes
 * included (reclaim can unmap a written page there), and cost a walk of
 * the whole region per sync.
 *
 * Thread: any thread.
 * Callbacks: none of the embedder's (the built-in's init() runs on the
 * calling thread).
 * Return: 0; -EINVAL (unknown flags, NULL @out); -ENOSYS / -EPERM when
 * userfaultfd is unavailable; -ENOMEM.
 */
VMMIG_API int vmmig_tracker_new_uffd_wp(unsigned flags,
					struct vmmig_tracker **out);
/**
 * vmmig_tracker_uffd_wp_is_async() - whether a uffd-wp tracker runs in async mode.
 * @t: a tracker from vmmig_tracker_new_uffd_wp()
 *
 * The mode is chosen when the tracker is made.
 *
 * Thread: any thread.
 * Callbacks: none.
 * Return: 1 (async write-protect with PAGEMAP_SCAN), 0 (synchronous, fault
 * thread); -EINVAL for another tracker or NULL.
 */
VMMIG_API int vmmig_tracker_uffd_wp_is_async(const struct vmmig_tracker *t);

/**
 * vmmig_tracker_new_soft_dirty() - a tracker reading the soft-dirty bits of /proc/self/pagemap.
 * @out: receives the tracker
 *
 * Clearing soft-dirty is process wide (/proc/self/clear_refs), so at most
 * one soft-dirty tracker may be started per process (start() fails with
 * -EBUSY otherwise).
 *
 * Thread: any thread.
 * Callbacks: none of the embedder's (the built-in's init() runs on the
 * calling thread).
 * Return: 0; -EINVAL (NULL @out); -ENOMEM; -errno from opening or reading
 * pagemap; -EOPNOTSUPP where the kernel lacks soft-dirty.
 */
VMMIG_API int vmmig_tracker_new_soft_dirty(struct vmmig_tracker **out);

/* ---- KVM trackers ---- */

/*
 * One KVM memory slot and the library region it backs. The slot must lie
 * inside that region: its pages are region pages (@gpa - region gpa) /
 * VMMIG_PAGE_SIZE onwards. The tracker turns KVM_MEM_LOG_DIRTY_PAGES on for
 * the slot in start() (re-issuing KVM_SET_USER_MEMORY_REGION with @flags |
 * KVM_MEM_LOG_DIRTY_PAGES and the region's host address) and back to @flags
 * in stop(). The slot must not be changed by the embedder meanwhile.
 */
struct vmmig_kvm_slot {
	uint32_t slot;       /* KVM slot id (as_id << 16 | id) */
	uint32_t flags;      /* the slot's flags without dirty logging */
	uint32_t region_id;  /* embedder id of the library region */
	uint32_t reserved;   /* 0 */
	uint64_t gpa;        /* guest-physical start, page aligned */
	uint64_t size;       /* bytes, multiple of VMMIG_PAGE_SIZE */
};

/**
 * vmmig_tracker_new_kvm_bitmap() - a tracker reading KVM's dirty bitmap.
 * @vm_fd: the VM's fd; borrowed, must outlive the tracker
 * @slots: the KVM memory slots to track (copied)
 * @nslots: their number
 * @out: receives the tracker
 *
 * Uses KVM_GET_DIRTY_LOG. Enables KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 on
 * @vm_fd where the kernel has it: sync() then only reads the log, and
 * clear() re-protects exactly the pages about to be sent
 * (KVM_CLEAR_DIRTY_LOG), as late as possible. Without it, KVM_GET_DIRTY_LOG
 * re-protects in sync(). start() turns dirty logging on for the slots.
 *
 * Thread: any thread.
 * Callbacks: none of the embedder's (the built-in's init() runs on the
 * calling thread).
 * Return: 0; -EINVAL (no slots, bad slot, NULL @out); -ENOMEM; or an
 * ioctl's -errno.
 */
VMMIG_API int vmmig_tracker_new_kvm_bitmap(int vm_fd,
					   const struct vmmig_kvm_slot *slots,
					   unsigned nslots,
					   struct vmmig_tracker **out);

/**
 * vmmig_kvm_dirty_ring_enable() - enable KVM's dirty rings on a VM.
 * @vm_fd: the VM's fd
 * @bytes: ring size per vCPU, a power of two (clamped to what the kernel
 *         allows)
 *
 * Enables KVM_CAP_DIRTY_LOG_RING_ACQ_REL (or KVM_CAP_DIRTY_LOG_RING).
 * Size the rings large: a full ring stops its vCPU
 * (KVM_EXIT_DIRTY_RING_FULL) until the rings are harvested.
 *
 * Thread: the VMM's thread that sets up the VM, before the first
 * KVM_CREATE_VCPU.
 * Callbacks: none.
 * Return: the ring size in bytes (> 0); -EINVAL; -ENOTSUP (the kernel has
 * no dirty ring); or an ioctl's -errno.
 */
VMMIG_API int vmmig_kvm_dirty_ring_enable(int vm_fd, uint32_t bytes);

/**
 * vmmig_tracker_new_kvm_ring() - a tracker harvesting KVM's per-vCPU dirty rings.
 * @vm_fd: the VM's fd; borrowed
 * @vcpu_fds: the vCPUs' fds (the array is copied; the fds must outlive the
 *            tracker)
 * @nvcpus: their number
 * @ring_bytes: what vmmig_kvm_dirty_ring_enable() returned
 * @slots: the KVM memory slots to track (copied)
 * @nslots: their number
 * @out: receives the tracker
 *
 * The rings (mmapped at KVM_DIRTY_LOG_PAGE_OFFSET) are harvested in sync()
 * and by vmmig_tracker_kvm_ring_full(), and reset with
 * KVM_RESET_DIRTY_RINGS.
 *
 * Thread: any thread.
 * Callbacks: none of the embedder's (the built-in's init() runs on the
 * calling thread).
 * Return: 0; -EINVAL; -ENOMEM; or an ioctl's / mmap's -errno.
 */
VMMIG_API int vmmig_tracker_new_kvm_ring(int vm_fd, const int *vcpu_fds,
					 unsigned nvcpus, uint32_t ring_bytes,
					 const struct vmmig_kvm_slot *slots,
					 unsigned nslots,
					 struct vmmig_tracker **out);

/**
 * vmmig_tracker_kvm_ring_full() - harvest the dirty rings after KVM_EXIT_DIRTY_RING_FULL.
 * @t: a tracker from vmmig_tracker_new_kvm_ring()
 *
 * Harvests and resets all rings (the dirty pages are kept for the next
 * sync); the vCPU then re-enters KVM_RUN.
 *
 * Thread: the embedder's vCPU thread that got the exit; safe against the
 * migration thread's sync() and other vCPUs' calls.
 * Callbacks: none.
 * Return: 0; -EINVAL (not a ring tracker); or an ioctl's -errno.
 */
VMMIG_API int vmmig_tracker_kvm_ring_full(struct vmmig_tracker *t);

#ifdef __cplusplus
}
#endif
#endif /* VMMIG_TRACKER_H */
