/* SPDX-License-Identifier: MIT */
/*
 * The software guest: without /dev/kvm, one host thread per vCPU runs the
 * same workload code on the same guest memory. A vCPU's "state" is its
 * workload progress struct (struct wl_cpu); the heartbeats live in guest
 * memory, so the destination continues from the values that arrived with
 * the pages.
 *
 * Writes are tracked by userfaultfd write-protect; where userfaultfd is not
 * available the workload marks its writes in a manual tracker instead.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbcache_vmm.h"
#include "toyvmm.h"

struct swvcpu {
	struct toyvm *vm;           /* owner */
	pthread_t thread;           /* the "vCPU" */
	bool running;               /* thread created */
	atomic_bool parked;         /* thread is parked (or not running) */
	struct wl_cpu cpu;          /* workload progress, owned by thread */
};

struct swguest {
	struct swvcpu v[TOY_MAX_VCPUS];
	atomic_bool stop;           /* threads must exit */
	atomic_bool pause_req;      /* threads must park between steps */
	atomic_uint throttle;       /* percent of time taken away */
	atomic_int dead;            /* -errno: a vCPU did what a CPU faults on */
	struct wl_env env;          /* guest memory as the host sees it */
	/* Set when uffd-wp is unavailable; read by the thread, so atomic. */
	struct vmmig_tracker *_Atomic manual;
};

static void sw_mark(void *opaque, uint64_t gpa, uint64_t len)
{
	struct swguest *g = opaque;

	struct vmmig_tracker *t = atomic_load(&g->manual);

	/* -ENODEV before the migration starts: nothing to record yet. */
	if (t)
		(void)vmmig_tracker_manual_mark(t, 0, gpa, len);
}

/* wl_env.io: the ports a KVM guest's TSS grants, the others fault (the
 * guest dies, as a KVM guest's triple fault would end it). */
static void sw_io(void *opaque, uint16_t port)
{
	struct toyvm *vm = opaque;
	struct swguest *g = vm->backend;

	if (port == TOY_PORT_DBHINT) {
		dbcache__io(vm, port);
		return;
	}
	fprintf(stderr, "toyvmm: software vcpu died: out to port %#x, which "
		"the VMM does not grant (a #GP on KVM)\n", port);
	atomic_store(&g->dead, -EFAULT);
}

static void sleep_us(unsigned us)
{
	struct timespec ts = { 0, (long)us * 1000 };

	nanosleep(&ts, NULL);
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}

static void *sw_main(void *arg)
{
	struct swvcpu *v = arg;
	struct toyvm *vm = v->vm;
	struct swguest *g = vm->backend;

	if (v->cpu.vcpu == 0 && !atomic_load(&vm->here))
		toyvm__note_start(vm);
	/* The others start after vCPU 0 noted every heartbeat. */
	while (!atomic_load(&vm->here) && !atomic_load(&g->stop))
		sleep_us(100);
	while (!atomic_load(&g->stop) && !atomic_load(&g->dead)) {
		if (atomic_load(&g->pause_req)) {
			atomic_store(&v->parked, true);
			while (atomic_load(&g->pause_req) &&
			       !atomic_load(&g->stop))
				sleep_us(100);
			atomic_store(&v->parked, false);
			continue;
		}
		uint64_t t0 = mono_us();
		int r = wl_step(&v->cpu, vm->shared, &g->env);
		unsigned pct = atomic_load(&g->throttle);

		if (r == WL_WAIT)
			sleep_us(500);
		else if (pct) /* auto-converge: sleep pct% of the time */
			sleep_us((unsigned)((mono_us() - t0 + 1) * pct /
					    (100 - pct)));
	}
	atomic_store(&v->parked, true);
	return NULL;
}

static int sw_run(struct toyvm *vm)
{
	struct swguest *g = vm->backend;

	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct swvcpu *v = &g->v[i];

		atomic_store(&v->parked, false);
		if (pthread_create(&v->thread, NULL, sw_main, v)) {
			atomic_store(&v->parked, true);
			return -EAGAIN;
		}
		v->running = true;
		toyvm__name_vcpu_thread(v->thread, i);
	}
	return 0;
}

static int sw_create(struct toyvm *vm, bool boot)
{
	struct swguest *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	vm->backend = g;
	for (unsigned i = 0; i < TOY_MAX_VCPUS; i++) {
		g->v[i].vm = vm;
		atomic_store(&g->v[i].parked, true);
	}
	g->env.base = vm->mem;
	g->env.mark = sw_mark;
	g->env.opaque = g;
	g->env.io = sw_io;
	g->env.io_opaque = vm;
	if (!boot)
		return 0; /* dest: vm->nvcpus comes with the header */
	if (vm->nvcpus == 0 || vm->nvcpus > TOY_MAX_VCPUS)
		return -EINVAL;
	for (unsigned i = 0; i < vm->nvcpus; i++)
		if (wl_init(&g->v[i].cpu, vm->shared, &g->env, i))
			return -EINVAL;
	return sw_run(vm);
}

static int sw_health(struct toyvm *vm)
{
	struct swguest *g = vm->backend;

	return g ? atomic_load(&g->dead) : 0;
}

static int sw_pause(struct toyvm *vm)
{
	struct swguest *g = vm->backend;

	atomic_store(&g->pause_req, true);
	/* A step is at most a few milliseconds; the loops end with it. */
	for (unsigned i = 0; i < vm->nvcpus; i++)
		while (!atomic_load(&g->v[i].parked))
			sleep_us(50);
	toyvm__heartbeats(vm, vm->hb_at_pause);
	atomic_store(&vm->paused, true);
	return sw_health(vm); /* a dead guest is not a guest to move */
}

static int sw_resume(struct toyvm *vm)
{
	struct swguest *g = vm->backend;

	atomic_store(&vm->paused, false);
	atomic_store(&g->pause_req, false);
	return 0;
}

static int sw_throttle(struct toyvm *vm, unsigned percent)
{
	struct swguest *g = vm->backend;

	atomic_store(&g->throttle, percent > 99 ? 99 : percent);
	return 0;
}

static int sw_save(struct toyvm *vm, struct vmmig_state_sink *sink)
{
	struct swguest *g = vm->backend;

	int ret = 0;

	/* Paused: the threads are parked and won't touch cpu until resumed. */
	for (unsigned i = 0; i < vm->nvcpus && !ret; i++)
		ret = vmmig_state_put(sink, BLOB_SW_CPU + i, &g->v[i].cpu,
				      sizeof(g->v[i].cpu));
	return ret;
}

static int sw_load(struct toyvm *vm, uint32_t id, const void *data,
		   size_t len)
{
	struct swguest *g = vm->backend;
	struct wl_cpu c;

	if (id < BLOB_SW_CPU || id - BLOB_SW_CPU >= vm->nvcpus ||
	    vm->nvcpus > TOY_MAX_VCPUS || len != sizeof(c))
		return -EINVAL;
	memcpy(&c, data, len);
	/* Trust nothing: the workload must stay inside guest memory, on the
	 * vCPU it was saved from. */
	if (!wl_valid(&c, vm->mem_size) || c.vcpu != id - BLOB_SW_CPU)
		return -EINVAL;
	g->v[c.vcpu].cpu = c;
	return 0;
}

static int sw_start(struct toyvm *vm)
{
	struct swguest *g = vm->backend;

	for (unsigned i = 0; i < vm->nvcpus; i++)
		if (!g->v[i].cpu.tsc_hz)
			return -EPROTO; /* that vCPU's state never came */
	/* The TSC went on while we were away; don't pay that back. */
	for (unsigned i = 0; i < vm->nvcpus; i++)
		g->v[i].cpu.last_tsc = wl_rdtsc();
	return sw_run(vm);
}

static int sw_tracker(struct toyvm *vm, struct vmmig_tracker **out)
{
	struct swguest *g = vm->backend;
	const char *pref = vm->tracker_pref ? vm->tracker_pref : "auto";
	int ret = -ENOTSUP;

	if (strcmp(pref, "auto") && strcmp(pref, "uffd-wp") &&
	    strcmp(pref, "manual"))
		return -ENOTSUP;
	if (strcmp(pref, "manual")) {
		ret = vmmig_tracker_new_uffd_wp(0, out);
		if (ret == 0 || !strcmp(pref, "uffd-wp"))
			return ret;
	}
	ret = vmmig_tracker_new_manual(out);
	if (ret == 0)
		atomic_store(&g->manual, *out);
	return ret;
}

static void sw_destroy(struct toyvm *vm)
{
	struct swguest *g = vm->backend;

	if (!g)
		return;
	atomic_store(&g->stop, true);
	for (unsigned i = 0; i < TOY_MAX_VCPUS; i++)
		if (g->v[i].running)
			pthread_join(g->v[i].thread, NULL);
	free(g);
	vm->backend = NULL;
}

const struct guest_ops swguest_ops = {
	.name = "software",
	.create = sw_create,
	.pause = sw_pause,
	.resume = sw_resume,
	.throttle = sw_throttle,
	.save = sw_save,
	.load = sw_load,
	.start = sw_start,
	.tracker = sw_tracker,
	.health = sw_health,
	.destroy = sw_destroy,
};
