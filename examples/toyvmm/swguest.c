/* SPDX-License-Identifier: MIT */
/*
 * The software guest: without /dev/kvm, one host thread runs the same
 * workload code on the same guest memory. Its "vCPU state" is the workload's
 * progress struct (struct wl_cpu); the heartbeat lives in guest memory, so
 * the destination continues from the value that arrived with the pages.
 *
 * Writes are tracked by userfaultfd write-protect; where userfaultfd is not
 * available the workload marks its writes in a manual tracker instead.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbcache_vmm.h"
#include "toyvmm.h"

struct swguest {
	pthread_t thread;           /* the "vCPU" */
	bool running;               /* thread created */
	atomic_bool stop;           /* thread must exit */
	atomic_bool pause_req;      /* thread must park between steps */
	atomic_bool parked;         /* thread is parked (or not running) */
	atomic_uint throttle;       /* percent of time taken away */
	struct wl_cpu cpu;          /* workload progress, owned by thread */
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
	struct toyvm *vm = arg;
	struct swguest *g = vm->backend;

	if (!atomic_load(&vm->here))
		toyvm__note_start(vm);
	while (!atomic_load(&g->stop)) {
		if (atomic_load(&g->pause_req)) {
			atomic_store(&g->parked, true);
			while (atomic_load(&g->pause_req) &&
			       !atomic_load(&g->stop))
				sleep_us(100);
			atomic_store(&g->parked, false);
			continue;
		}
		uint64_t t0 = mono_us();
		int r = wl_step(&g->cpu, vm->shared, &g->env);
		unsigned pct = atomic_load(&g->throttle);

		if (r == WL_WAIT)
			sleep_us(500);
		else if (pct) /* auto-converge: sleep pct% of the time */
			sleep_us((unsigned)((mono_us() - t0 + 1) * pct /
					    (100 - pct)));
	}
	atomic_store(&g->parked, true);
	return NULL;
}

static int sw_run(struct toyvm *vm)
{
	struct swguest *g = vm->backend;

	atomic_store(&g->parked, false);
	if (pthread_create(&g->thread, NULL, sw_main, vm)) {
		atomic_store(&g->parked, true);
		return -EAGAIN;
	}
	g->running = true;
	return 0;
}

static int sw_create(struct toyvm *vm, bool boot)
{
	struct swguest *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	vm->backend = g;
	vm->nvcpus = 1;
	atomic_store(&g->parked, true);
	g->env.base = vm->mem;
	g->env.mark = sw_mark;
	g->env.opaque = g;
	g->env.io = dbcache__io;
	g->env.io_opaque = vm;
	if (!boot)
		return 0;
	if (wl_init(&g->cpu, vm->shared, &g->env))
		return -EINVAL;
	return sw_run(vm);
}

static int sw_pause(struct toyvm *vm)
{
	struct swguest *g = vm->backend;

	atomic_store(&g->pause_req, true);
	/* A step is at most a few milliseconds; the loop ends with it. */
	while (!atomic_load(&g->parked))
		sleep_us(50);
	vm->hb_at_pause = toyvm__heartbeat(vm);
	atomic_store(&vm->paused, true);
	return 0;
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

	/* Paused: the thread is parked and won't touch cpu until resumed. */
	return vmmig_state_put(sink, BLOB_SW_CPU, &g->cpu, sizeof(g->cpu));
}

static int sw_load(struct toyvm *vm, uint32_t id, const void *data,
		   size_t len)
{
	struct swguest *g = vm->backend;
	struct wl_cpu c;

	if (id != BLOB_SW_CPU || len != sizeof(c))
		return -EINVAL;
	memcpy(&c, data, len);
	/* Trust nothing: the workload must stay inside guest memory. */
	if (!wl_valid(&c, vm->mem_size))
		return -EINVAL;
	g->cpu = c;
	return 0;
}

static int sw_start(struct toyvm *vm)
{
	struct swguest *g = vm->backend;

	/* The TSC went on while we were away; don't pay that back. */
	g->cpu.last_tsc = wl_rdtsc();
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
	if (g->running) {
		atomic_store(&g->stop, true);
		pthread_join(g->thread, NULL);
	}
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
	.destroy = sw_destroy,
};
