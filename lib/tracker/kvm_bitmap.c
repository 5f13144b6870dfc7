/* SPDX-License-Identifier: MIT */
/*
 * The KVM dirty-bitmap tracker, and the slot helpers both KVM trackers use.
 *
 * With KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_GET_DIRTY_LOG only copies the
 * log out: pages stay unprotected (cheap for the guest) until clear() issues
 * KVM_CLEAR_DIRTY_LOG for exactly the pages the session is about to send.
 * A write that lands between clear() and the send is then both in this send
 * and in the next log, so nothing is lost. Without the capability,
 * KVM_GET_DIRTY_LOG re-protects everything it reports, and clear() does
 * nothing.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_track.h"

#define WORDS(n) (((n) + 63) / 64)

static int kioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do
		ret = ioctl(fd, req, arg);
	while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : ret;
}

void kslots_free(struct kslot *k, unsigned n)
{
	for (unsigned i = 0; k && i < n; i++)
		free(k[i].bits);
	free(k);
}

int kslots_copy(const struct kvm_track_cfg *cfg, struct kslot **out)
{
	struct kslot *k;

	*out = NULL;
	if (!cfg || cfg->vm_fd < 0 || !cfg->slots || cfg->nslots == 0)
		return -EINVAL;
	k = calloc(cfg->nslots, sizeof(*k));
	if (!k)
		return -ENOMEM;
	for (unsigned i = 0; i < cfg->nslots; i++) {
		const struct vmmig_kvm_slot *s = &cfg->slots[i];

		if (s->size == 0 || s->size % VMMIG_PAGE_SIZE ||
		    s->gpa % VMMIG_PAGE_SIZE || s->reserved ||
		    (s->flags & KVM_MEM_LOG_DIRTY_PAGES))
			goto inval;
		for (unsigned j = 0; j < i; j++)
			if (cfg->slots[j].slot == s->slot)
				goto inval;
		k[i].s = *s;
		k[i].npages = s->size / VMMIG_PAGE_SIZE;
		k[i].bits = calloc(WORDS(k[i].npages), sizeof(uint64_t));
		if (!k[i].bits) {
			kslots_free(k, cfg->nslots);
			return -ENOMEM;
		}
	}
	*out = k;
	return 0;
inval:
	kslots_free(k, cfg->nslots);
	return -EINVAL;
}

int kslots_bind(struct kslot *k, unsigned n,
		const struct vmmig_tracker_region *regions, unsigned nr)
{
	for (unsigned i = 0; i < n; i++) {
		const struct vmmig_tracker_region *r = NULL;

		for (unsigned j = 0; j < nr; j++)
			if (regions[j].id == k[i].s.region_id)
				r = &regions[j];
		if (!r || k[i].s.gpa < r->gpa || k[i].s.size > r->size ||
		    k[i].s.gpa - r->gpa > r->size - k[i].s.size)
			return -EINVAL;
		k[i].region = r->index;
		k[i].first_page = (k[i].s.gpa - r->gpa) / VMMIG_PAGE_SIZE;
		k[i].host = (char *)r->host + (k[i].s.gpa - r->gpa);
	}
	return 0;
}

int kslots_log(int vm_fd, struct kslot *k, unsigned n, bool on)
{
	int first_err = 0;

	for (unsigned i = 0; i < n; i++) {
		struct kvm_userspace_memory_region m = {
			.slot = k[i].s.slot,
			.flags = k[i].s.flags |
				 (on ? KVM_MEM_LOG_DIRTY_PAGES : 0),
			.guest_phys_addr = k[i].s.gpa,
			.memory_size = k[i].s.size,
			.userspace_addr = (uintptr_t)k[i].host,
		};
		int ret;

		if (k[i].logging == on)
			continue;
		/* Same address and size, new flags: a flags-only update. */
		ret = kioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &m);
		if (ret < 0) {
			first_err = first_err ? first_err : ret;
			if (on)
				return ret; /* stop() turns the others off */
			continue;
		}
		k[i].logging = on;
	}
	return first_err;
}

void kslot_to_region(const struct kslot *k, uint64_t *region_bits)
{
	uint64_t words = WORDS(k->npages);

	for (uint64_t w = 0; w < words; w++) {
		uint64_t v = k->bits[w];

		if (w == words - 1 && k->npages % 64)
			v &= (1ull << (k->npages % 64)) - 1;
		if (!v)
			continue;
		if (k->first_page % 64 == 0) {
			region_bits[k->first_page / 64 + w] |= v;
			continue;
		}
		while (v) {
			uint64_t p = k->first_page + w * 64 +
				     (uint64_t)__builtin_ctzll(v);

			region_bits[p / 64] |= 1ull << (p % 64);
			v &= v - 1;
		}
	}
}

int kslot_from_region(struct kslot *k, const uint64_t *region_bits)
{
	uint64_t words = WORDS(k->npages), any = 0;

	memset(k->bits, 0, words * sizeof(uint64_t));
	for (uint64_t p = 0; p < k->npages; p++) {
		uint64_t rp = k->first_page + p;

		if (rp % 64 == 0 && p % 64 == 0 && p + 64 <= k->npages) {
			k->bits[p / 64] = region_bits[rp / 64];
			any |= k->bits[p / 64];
			p += 63;
			continue;
		}
		if (region_bits[rp / 64] & (1ull << (rp % 64))) {
			k->bits[p / 64] |= 1ull << (p % 64);
			any = 1;
		}
	}
	return any != 0;
}

/* ---- the bitmap tracker ---- */

struct kbitmap {
	int vm_fd;           /* borrowed */
	bool manual;         /* MANUAL_DIRTY_LOG_PROTECT2 enabled */
	unsigned n;          /* slots */
	struct kslot *k;
};

static int kb_init(void *priv, const void *config)
{
	struct kbitmap *b = priv;
	const struct kvm_track_cfg *cfg = config;
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
	};
	int ret = kslots_copy(cfg, &b->k);

	if (ret)
		return ret;
	b->n = cfg->nslots;
	b->vm_fd = cfg->vm_fd;
	/* The check returns the supported flags (0: not available). */
	ret = kioctl(b->vm_fd, KVM_CHECK_EXTENSION,
		     (void *)(uintptr_t)KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	if (ret > 0 && (ret & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE))
		b->manual = kioctl(b->vm_fd, KVM_ENABLE_CAP, &cap) == 0;
	return 0;
}

static int kb_start(void *priv, const struct vmmig_tracker_region *regions,
		    unsigned nr)
{
	struct kbitmap *b = priv;
	int ret = kslots_bind(b->k, b->n, regions, nr);

	if (ret)
		return ret;
	/* From here KVM logs every write (pages write-protected). */
	return kslots_log(b->vm_fd, b->k, b->n, true);
}

static int kb_sync(void *priv, unsigned index, uint64_t *bitmap)
{
	struct kbitmap *b = priv;

	for (unsigned i = 0; i < b->n; i++) {
		struct kslot *k = &b->k[i];
		struct kvm_dirty_log log = { .slot = k->s.slot };
		int ret;

		if (k->region != index)
			continue;
		memset(k->bits, 0, WORDS(k->npages) * sizeof(uint64_t));
		log.dirty_bitmap = k->bits;
		ret = kioctl(b->vm_fd, KVM_GET_DIRTY_LOG, &log);
		if (ret < 0)
			return ret;
		kslot_to_region(k, bitmap);
	}
	return 0;
}

static int kb_clear(void *priv, unsigned index, const uint64_t *bitmap)
{
	struct kbitmap *b = priv;

	if (!b->manual)
		return 0; /* GET_DIRTY_LOG already re-protected */
	for (unsigned i = 0; i < b->n; i++) {
		struct kslot *k = &b->k[i];
		/* Whole slot at once: first_page 0 and num_pages up to the
		 * slot's end satisfy the kernel's alignment rules. */
		struct kvm_clear_dirty_log c = {
			.slot = k->s.slot,
			.first_page = 0,
			.num_pages = (uint32_t)k->npages,
		};
		int ret;

		if (k->region != index || !kslot_from_region(k, bitmap))
			continue;
		if (k->npages > UINT32_MAX)
			return -E2BIG;
		c.dirty_bitmap = k->bits;
		ret = kioctl(b->vm_fd, KVM_CLEAR_DIRTY_LOG, &c);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void kb_stop(void *priv)
{
	struct kbitmap *b = priv;

	if (b->k)
		(void)kslots_log(b->vm_fd, b->k, b->n, false);
}

static void kb_destroy(void *priv)
{
	struct kbitmap *b = priv;

	kslots_free(b->k, b->n);
	b->k = NULL;
}

const struct vmmig_tracker_ops tracker_kvm_bitmap_ops = {
	.version = VMMIG_TRACKER_OPS_VERSION,
	.name = "kvm-bitmap",
	.priv_size = sizeof(struct kbitmap),
	.init = kb_init,
	.start = kb_start,
	.sync = kb_sync,
	.clear = kb_clear,
	.stop = kb_stop,
	.destroy = kb_destroy,
};

VMMIG_API int vmmig_tracker_new_kvm_bitmap(int vm_fd,
					   const struct vmmig_kvm_slot *slots,
					   unsigned nslots,
					   struct vmmig_tracker **out)
{
	struct kvm_track_cfg cfg = {
		.vm_fd = vm_fd, .slots = slots, .nslots = nslots,
	};

	if (!out)
		return -EINVAL;
	return vmmig_tracker_new(&tracker_kvm_bitmap_ops, &cfg, out);
}
