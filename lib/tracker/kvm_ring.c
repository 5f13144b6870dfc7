/* SPDX-License-Identifier: MIT */
/*
 * The KVM dirty-ring tracker. Each vCPU has a ring of struct kvm_dirty_gfn
 * (slot, page offset, flags) mmapped from its fd at KVM_DIRTY_LOG_PAGE_OFFSET.
 * Harvesting walks each ring from our fetch index while entries read DIRTY
 * (load-acquire), records the page, marks the entry RESET (store-release),
 * and finally asks KVM_RESET_DIRTY_RINGS to recycle the entries and
 * re-protect their pages. Harvested pages wait in per-slot bitmaps until
 * the session syncs their region, so a harvest forced by a full ring (from a
 * vCPU thread) loses nothing. A mutex serialises the harvesters.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm_track.h"

struct vring {
	int fd;                       /* vCPU fd, borrowed */
	struct kvm_dirty_gfn *gfns;   /* mmapped ring */
	uint32_t fetch;               /* next entry to look at */
};

struct kring {
	int vm_fd;                    /* borrowed */
	unsigned n;                   /* slots */
	struct kslot *k;              /* bits: harvested, not yet synced */
	unsigned nv;                  /* vCPUs */
	struct vring *v;
	uint32_t entries;             /* per ring, a power of two */
	size_t ring_bytes;
	pthread_mutex_t lock;         /* harvesting and the slot bitmaps */
	bool lock_ok;                 /* lock initialised */
	atomic_bool live;             /* between start() and stop() */
};

static struct kslot *find_slot(struct kring *r, uint32_t slot)
{
	for (unsigned i = 0; i < r->n; i++)
		if (r->k[i].s.slot == slot)
			return &r->k[i];
	return NULL;
}

/* Called with r->lock held. @record: keep the pages (else drop them). */
static int harvest(struct kring *r, bool record)
{
	uint64_t count = 0;

	for (unsigned i = 0; i < r->nv; i++) {
		struct vring *v = &r->v[i];

		/* At most one lap: the kernel can't add more than that
		 * before we reset. */
		for (uint32_t seen = 0; seen < r->entries; seen++) {
			struct kvm_dirty_gfn *e =
				&v->gfns[v->fetch & (r->entries - 1)];
			uint32_t flags = __atomic_load_n(&e->flags,
							 __ATOMIC_ACQUIRE);
			struct kslot *k;

			if ((flags & KVM_DIRTY_GFN_F_MASK) !=
			    KVM_DIRTY_GFN_F_DIRTY)
				break;
			k = find_slot(r, e->slot);
			/* A slot we don't track, or an offset past it: not
			 * ours to report, still ours to reset. */
			if (record && k && e->offset < k->npages)
				k->bits[e->offset / 64] |= 1ull << (e->offset % 64);
			__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET,
					 __ATOMIC_RELEASE);
			v->fetch++;
			count++;
		}
	}
	if (count && ioctl(r->vm_fd, KVM_RESET_DIRTY_RINGS, 0) < 0)
		return -errno;
	return 0;
}

static int kr_init(void *priv, const void *config)
{
	struct kring *r = priv;
	const struct kvm_track_cfg *cfg = config;
	long page = sysconf(_SC_PAGESIZE);
	int ret;

	if (!cfg || !cfg->vcpu_fds || cfg->nvcpus == 0 ||
	    cfg->ring_bytes < sizeof(struct kvm_dirty_gfn) ||
	    (cfg->ring_bytes & (cfg->ring_bytes - 1)) || page <= 0)
		return -EINVAL;
	ret = kslots_copy(cfg, &r->k);
	if (ret)
		return ret;
	r->n = cfg->nslots;
	r->vm_fd = cfg->vm_fd;
	r->entries = cfg->ring_bytes / sizeof(struct kvm_dirty_gfn);
	r->ring_bytes = cfg->ring_bytes;
	if (pthread_mutex_init(&r->lock, NULL))
		return -ENOMEM;
	r->lock_ok = true;
	r->v = calloc(cfg->nvcpus, sizeof(*r->v));
	if (!r->v)
		return -ENOMEM;
	for (unsigned i = 0; i < cfg->nvcpus; i++) {
		void *p = mmap(NULL, r->ring_bytes, PROT_READ | PROT_WRITE,
			       MAP_SHARED, cfg->vcpu_fds[i],
			       (off_t)KVM_DIRTY_LOG_PAGE_OFFSET * page);

		if (p == MAP_FAILED)
			return -errno;
		r->v[i].fd = cfg->vcpu_fds[i];
		r->v[i].gfns = p;
		r->nv = i + 1;
	}
	return 0;
}

static int kr_start(void *priv, const struct vmmig_tracker_region *regions,
		    unsigned nr)
{
	struct kring *r = priv;
	int ret = kslots_bind(r->k, r->n, regions, nr);

	if (ret)
		return ret;
	/* Drop what an earlier start/stop cycle left in the rings. */
	pthread_mutex_lock(&r->lock);
	ret = harvest(r, false);
	for (unsigned i = 0; i < r->n; i++)
		memset(r->k[i].bits, 0,
		       (r->k[i].npages + 63) / 64 * sizeof(uint64_t));
	pthread_mutex_unlock(&r->lock);
	if (ret)
		return ret;
	atomic_store(&r->live, true);
	return kslots_log(r->vm_fd, r->k, r->n, true);
}

static int kr_sync(void *priv, unsigned index, uint64_t *bitmap)
{
	struct kring *r = priv;
	int ret;

	pthread_mutex_lock(&r->lock);
	ret = harvest(r, true);
	for (unsigned i = 0; !ret && i < r->n; i++) {
		struct kslot *k = &r->k[i];

		if (k->region != index)
			continue;
		kslot_to_region(k, bitmap);
		memset(k->bits, 0, (k->npages + 63) / 64 * sizeof(uint64_t));
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static void kr_stop(void *priv)
{
	struct kring *r = priv;

	atomic_store(&r->live, false);
	if (r->k)
		(void)kslots_log(r->vm_fd, r->k, r->n, false);
}

static void kr_destroy(void *priv)
{
	struct kring *r = priv;

	for (unsigned i = 0; r->v && i < r->nv; i++)
		munmap(r->v[i].gfns, r->ring_bytes);
	free(r->v);
	kslots_free(r->k, r->n);
	if (r->lock_ok)
		pthread_mutex_destroy(&r->lock);
	memset(r, 0, sizeof(*r));
}

const struct vmmig_tracker_ops tracker_kvm_ring_ops = {
	.version = VMMIG_TRACKER_OPS_VERSION,
	.name = "kvm-ring",
	.priv_size = sizeof(struct kring),
	.init = kr_init,
	.start = kr_start,
	.sync = kr_sync,
	.stop = kr_stop,
	.destroy = kr_destroy,
};

VMMIG_API int vmmig_tracker_new_kvm_ring(int vm_fd, const int *vcpu_fds,
					 unsigned nvcpus, uint32_t ring_bytes,
					 const struct vmmig_kvm_slot *slots,
					 unsigned nslots,
					 struct vmmig_tracker **out)
{
	struct kvm_track_cfg cfg = {
		.vm_fd = vm_fd, .slots = slots, .nslots = nslots,
		.vcpu_fds = vcpu_fds, .nvcpus = nvcpus,
		.ring_bytes = ring_bytes,
	};

	if (!out)
		return -EINVAL;
	return vmmig_tracker_new(&tracker_kvm_ring_ops, &cfg, out);
}

VMMIG_API int vmmig_tracker_kvm_ring_full(struct vmmig_tracker *t)
{
	struct kring *r = tracker_priv_if(t, &tracker_kvm_ring_ops);
	int ret;

	if (!r)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	ret = harvest(r, atomic_load(&r->live));
	pthread_mutex_unlock(&r->lock);
	return ret;
}

VMMIG_API int vmmig_kvm_dirty_ring_enable(int vm_fd, uint32_t bytes)
{
	static const uint32_t caps[] = { KVM_CAP_DIRTY_LOG_RING_ACQ_REL,
					 KVM_CAP_DIRTY_LOG_RING };

	if (bytes < 4096 || (bytes & (bytes - 1)))
		return -EINVAL;
	for (unsigned i = 0; i < 2; i++) {
		/* The check answers the largest ring size allowed. */
		int max = ioctl(vm_fd, KVM_CHECK_EXTENSION, caps[i]);
		struct kvm_enable_cap cap = { .cap = caps[i] };

		if (max <= 0)
			continue;
		while (bytes > (uint32_t)max)
			bytes /= 2;
		cap.args[0] = bytes;
		if (ioctl(vm_fd, KVM_ENABLE_CAP, &cap) < 0)
			return -errno;
		return (int)bytes;
	}
	return -ENOTSUP;
}
