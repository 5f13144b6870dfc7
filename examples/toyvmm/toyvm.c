/* SPDX-License-Identifier: MIT */
/* The VM object: backend choice, memory, boot or empty shell. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dbcache_vmm.h"

void toyvm__note_start(void *opaque)
{
	struct toyvm *vm = opaque;

	/* On a post-copy destination this read may fault and wait for the
	 * page: that is the guest's first access, as it would be anyway. */
	toyvm__heartbeats(vm, vm->hb_at_start);
	atomic_store(&vm->here, true);
}

int toyvm__pick_backend(struct toyvm *vm, const char *name)
{
	int fd;

	if (!strcmp(name, "software")) {
		vm->ops = &swguest_ops;
		return 0;
	}
	if (strcmp(name, "kvm") && strcmp(name, "auto"))
		return -EINVAL;
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		vm->ops = &kvmguest_ops;
		return 0;
	}
	/* ENOENT / ENODEV / EACCES: no usable KVM here. */
	if (!strcmp(name, "kvm"))
		return -ENODEV;
	vm->ops = &swguest_ops;
	return 0;
}

int toyvm__setup(struct toyvm *vm, const struct opts *o, bool boot)
{
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->verbose = o->verbose;
	vm->nvcpus = boot ? o->vcpus : 0; /* dest: the header says */
	vm->tracker_pref = o->tracker;
	ret = toyvm__pick_backend(vm, o->backend);
	if (ret == -ENODEV) {
		fprintf(stderr, "toyvmm: --backend kvm: /dev/kvm unavailable\n");
		return ret;
	}
	if (ret) {
		fprintf(stderr, "toyvmm: unknown backend '%s'\n", o->backend);
		return ret;
	}
	ret = guestmem__alloc(vm, o->mem);
	if (ret) {
		fprintf(stderr, "toyvmm: guest memory of %llu bytes: %s "
			"(need 16 MiB..3 GiB, software 1 TiB, multiple of 2 MiB)\n",
			(unsigned long long)o->mem, strerror(-ret));
		return ret;
	}
	if (boot) {
		guestmem__fill(vm, o->fill);
		toyvm__describe(vm, o->kind, o->arg, guestmem__tsc_hz());
		if (o->kind == WL_DBCACHE) {
			ret = dbcache__setup(vm, o);
			if (ret)
				return ret;
		}
	} else if (o->prefault) {
		guestmem__prefault(vm);
	}
	ret = vm->ops->create(vm, boot);
	if (ret)
		fprintf(stderr, "toyvmm: %s guest: %s\n", vm->ops->name,
			strerror(-ret));
	return ret;
}

void toyvm__teardown(struct toyvm *vm)
{
	if (vm->ops)
		vm->ops->destroy(vm);
	dbcache__dev_free(vm); /* after the guest thread stopped */
	guestmem__free(vm);
}

void toyvm__name_vcpu_thread(pthread_t t, unsigned i)
{
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", i);
	(void)pthread_setname_np(t, name);
}
