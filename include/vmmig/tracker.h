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
 * destroy() is called even when init() failed.
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
 * @ops:    must outlive the tracker (normally a static const table).
 * @config: passed to ops->init(); may be NULL.
 * @out:    receives the tracker.
 * Return: 0, -EINVAL (bad ops or version), -ENOMEM, or init()'s error.
 */
VMMIG_API int vmmig_tracker_new(const struct vmmig_tracker_ops *ops,
				const void *config, struct vmmig_tracker **out);
/** vmmig_tracker_free() - stop (if started) and release. Accepts NULL. */
VMMIG_API void vmmig_tracker_free(struct vmmig_tracker *t);
/** vmmig_tracker_priv() - the private state of an embedder's tracker. */
VMMIG_API void *vmmig_tracker_priv(struct vmmig_tracker *t);
/** vmmig_tracker_name() - ops->name (e.g. "kvm-ring"); "?" for NULL or a
 * tracker without a name. */
VMMIG_API const char *vmmig_tracker_name(const struct vmmig_tracker *t);

/* Thin wrappers that check arguments and state, then call the ops. A source
 * session calls them itself; they are public for embedders and tests. */
VMMIG_API int vmmig_tracker_start(struct vmmig_tracker *t,
				  const struct vmmig_tracker_region *regions,
				  unsigned nr);
/**
 * vmmig_tracker_sync() - OR into @bitmap (one bit per page of region
 * @index, as started) the pages written since the last sync, and re-arm
 * tracking for them. Return: 0; -EINVAL (not started, bad index, NULL); or
 * the tracker's error.
 */
VMMIG_API int vmmig_tracker_sync(struct vmmig_tracker *t, unsigned index,
				 uint64_t *bitmap);
/**
 * vmmig_tracker_clear() - the pages of @bitmap in region @index are about to
 * be sent: trackers with a manual protect step (KVM) re-protect them now.
 * Return: 0 (also for trackers without clear()); -EINVAL; the tracker's
 * error.
 */
VMMIG_API int vmmig_tracker_clear(struct vmmig_tracker *t, unsigned index,
				  const uint64_t *bitmap);
/** vmmig_tracker_stop() - stop tracking (after the last sync). Accepts a
 * tracker that is not started. */
VMMIG_API void vmmig_tracker_stop(struct vmmig_tracker *t);

/* ---- built-in trackers ---- */

/**
 * vmmig_tracker_new_manual() - the embedder reports writes itself with
 * vmmig_tracker_manual_mark() (device emulators, software guests).
 */
VMMIG_API int vmmig_tracker_new_manual(struct vmmig_tracker **out);
/**
 * vmmig_tracker_manual_mark() - mark [@offset, @offset+@len) of the region
 * with embedder id @region_id dirty. Thread-safe, lock-free.
 * Return: 0, -EINVAL (not a manual tracker, unknown region, out of range),
 * -ENODEV (not started: nothing to record yet; the write needs no tracking).
 */
VMMIG_API int vmmig_tracker_manual_mark(struct vmmig_tracker *t,
					uint32_t region_id, uint64_t offset,
					uint64_t len);

/* Flags for vmmig_tracker_new_uffd_wp(). */
#define VMMIG_UFFD_WP_FORCE_SYNC (1u << 0) /* don't use async WP + PAGEMAP_SCAN */

/**
 * vmmig_tracker_new_uffd_wp() - userfaultfd write-protect. Uses asynchronous
 * write-protect with the PAGEMAP_SCAN ioctl where the kernel has both
 * (Linux >= 6.7), else synchronous write-protect with a fault thread.
 * Regions must be anonymous private or shmem memory.
 * Return: 0, -ENOSYS / -EPERM when userfaultfd is unavailable.
 */
VMMIG_API int vmmig_tracker_new_uffd_wp(unsigned flags,
					struct vmmig_tracker **out);
/** Whether an uffd-wp tracker runs in async (PAGEMAP_SCAN) mode: 1, 0, or
 * -EINVAL for another tracker. Valid after start(). */
VMMIG_API int vmmig_tracker_uffd_wp_is_async(const struct vmmig_tracker *t);

/**
 * vmmig_tracker_new_soft_dirty() - soft-dirty bits of /proc/self/pagemap.
 * Clearing soft-dirty is process wide (/proc/self/clear_refs), so at most one
 * soft-dirty tracker may be started per process (-EBUSY otherwise).
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
 * vmmig_tracker_new_kvm_bitmap() - KVM's dirty bitmap (KVM_GET_DIRTY_LOG).
 * Enables KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 on @vm_fd where the kernel has
 * it: sync() then only reads the log, and clear() re-protects exactly the
 * pages about to be sent (KVM_CLEAR_DIRTY_LOG), as late as possible. Without
 * it, KVM_GET_DIRTY_LOG re-protects in sync().
 * @vm_fd and the slots are borrowed / copied: @vm_fd must outlive the
 * tracker; @slots is copied.
 * Return: 0, -EINVAL (no slots, bad slot), -ENOMEM, or an ioctl's -errno.
 */
VMMIG_API int vmmig_tracker_new_kvm_bitmap(int vm_fd,
					   const struct vmmig_kvm_slot *slots,
					   unsigned nslots,
					   struct vmmig_tracker **out);

/**
 * vmmig_kvm_dirty_ring_enable() - enable KVM_CAP_DIRTY_LOG_RING_ACQ_REL (or
 * KVM_CAP_DIRTY_LOG_RING) on @vm_fd with rings of @bytes per vCPU (a power
 * of two, clamped to what the kernel allows). Must be called before the
 * first KVM_CREATE_VCPU. Size the rings large: a full ring stops its vCPU
 * (KVM_EXIT_DIRTY_RING_FULL) until the rings are harvested.
 * Return: the ring size in bytes (> 0), -ENOTSUP, or an ioctl's -errno.
 */
VMMIG_API int vmmig_kvm_dirty_ring_enable(int vm_fd, uint32_t bytes);

/**
 * vmmig_tracker_new_kvm_ring() - KVM's per-vCPU dirty rings. The rings of
 * @vcpu_fds (mmapped at KVM_DIRTY_LOG_PAGE_OFFSET) are harvested in sync()
 * and by vmmig_tracker_kvm_ring_full(), and reset with KVM_RESET_DIRTY_RINGS.
 * @ring_bytes is what vmmig_kvm_dirty_ring_enable() returned. The vCPU fds
 * must outlive the tracker; arrays are copied.
 * Return: 0, -EINVAL, -ENOMEM, or an ioctl's / mmap's -errno.
 */
VMMIG_API int vmmig_tracker_new_kvm_ring(int vm_fd, const int *vcpu_fds,
					 unsigned nvcpus, uint32_t ring_bytes,
					 const struct vmmig_kvm_slot *slots,
					 unsigned nslots,
					 struct vmmig_tracker **out);

/**
 * vmmig_tracker_kvm_ring_full() - the embedder's vCPU thread got
 * KVM_EXIT_DIRTY_RING_FULL: harvest and reset all rings (the dirty pages are
 * kept for the next sync), then re-enter KVM_RUN. Thread-safe against
 * sync(). Return: 0, -EINVAL (not a ring tracker), or an ioctl's -errno.
 */
VMMIG_API int vmmig_tracker_kvm_ring_full(struct vmmig_tracker *t);

#ifdef __cplusplus
}
#endif
#endif /* VMMIG_TRACKER_H */
