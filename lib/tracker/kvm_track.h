/* SPDX-License-Identifier: MIT */
/*
 * Private: what the two KVM trackers share (kvm_bitmap.c defines it):
 * binding KVM slots to library regions, switching a slot's dirty logging,
 * and moving bits between a slot's bitmap and its region's.
 */
#ifndef VMMIG_KVM_TRACK_H
#define VMMIG_KVM_TRACK_H

#include <stdbool.h>

#include "tracker_impl.h"

struct kslot {
	struct vmmig_kvm_slot s; /* the embedder's description (copied) */
	unsigned region;         /* index of its region, set by start() */
	uint64_t first_page;     /* its first page within that region */
	uint64_t npages;         /* s.size / VMMIG_PAGE_SIZE */
	void *host;              /* host address of the slot's first page */
	uint64_t *bits;          /* slot-relative bitmap, npages bits */
	bool logging;            /* KVM_MEM_LOG_DIRTY_PAGES set by us */
};

/* What vmmig_tracker_new_kvm_*() hand to init() as its config. */
struct kvm_track_cfg {
	int vm_fd;
	const struct vmmig_kvm_slot *slots;
	unsigned nslots;
	const int *vcpu_fds;     /* ring tracker only */
	unsigned nvcpus;
	uint32_t ring_bytes;
};

extern const struct vmmig_tracker_ops tracker_kvm_bitmap_ops;
extern const struct vmmig_tracker_ops tracker_kvm_ring_ops;

/* Copy and check @cfg's slots into a new array (bits allocated). */
int kslots_copy(const struct kvm_track_cfg *cfg, struct kslot **out);
void kslots_free(struct kslot *k, unsigned n);
/* Find each slot's region (by id) and check it lies inside. */
int kslots_bind(struct kslot *k, unsigned n,
		const struct vmmig_tracker_region *regions, unsigned nr);
/* Turn dirty logging of every slot on (or back off). */
int kslots_log(int vm_fd, struct kslot *k, unsigned n, bool on);
/* region bitmap |= slot bits (at the slot's first page). */
void kslot_to_region(const struct kslot *k, uint64_t *region_bits);
/* slot bits = the slot's part of @region_bits. Returns nonzero if any. */
int kslot_from_region(struct kslot *k, const uint64_t *region_bits);

#endif
