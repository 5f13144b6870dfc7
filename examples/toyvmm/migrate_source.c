/* SPDX-License-Identifier: MIT */
/* toyvmm source: boot the guest, let it run, migrate it away live. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "dbcache_vmm.h"

/* --postcopy-bandwidth (QEMU's max-postcopy-bandwidth): the cap of the
 * pages that go after the pause, which in post-copy is the background push
 * (the pages the guest faults on take the uncapped urgent channel). One
 * source per process: the session and the cap are set by configure(). */
static struct {
	struct vmmig_source *src;
	uint64_t bandwidth;
} pc_cap;

static int src_pause(void *opaque)
{
	struct toyvm *vm = opaque;
	int ret = vm->ops->pause(vm);

	if (!ret && pc_cap.bandwidth)
		ret = vmmig_source_set_option(pc_cap.src,
					      VMMIG_OPT_BANDWIDTH_LIMIT,
					      (int64_t)pc_cap.bandwidth);
	return ret;
}

static int src_resume(void *opaque)
{
	struct toyvm *vm = opaque;

	return vm->ops->resume(vm);
}

static int src_throttle(void *opaque, unsigned percent)
{
	struct toyvm *vm = opaque;

	return vm->ops->throttle(vm, percent);
}

static int src_save(void *opaque, struct vmmig_state_sink *sink)
{
	struct toyvm *vm = opaque;
	struct blob_header h = {
		.magic = TOY_MAGIC,
		.nvcpus = vm->nvcpus,
		.kind = vm->shared->kind,
		.mem_size = vm->mem_size,
		.flags = vm->dirty_ring ? BLOB_HDR_DIRTY_RING : 0,
	};
	int ret;

	snprintf(h.backend, sizeof(h.backend), "%s", vm->ops->name);
	ret = vmmig_state_put(sink, BLOB_HEADER, &h, sizeof(h));
	if (ret)
		return ret;
	return vm->ops->save(vm, sink);
}

static const struct vmmig_source_ops source_ops = {
	.version = VMMIG_SOURCE_OPS_VERSION,
	.pause = src_pause,
	.resume = src_resume,
	.save_state = src_save,
	.throttle = src_throttle,
};

static int src_stats(void *obj, struct vmmig_stats *st)
{
	struct vmmig_fault_series fs = { .struct_size = sizeof(fs) };
	int ret = vmmig_source_get_stats(obj, st);

	/* The destination's fault count arrives with its DONE; until then
	 * the pages it asked for are the live figure. */
	if (!ret && st->status == VMMIG_STATUS_POSTCOPY &&
	    !vmmig_source_get_faults(obj, &fs))
		st->postcopy_faults = fs.total;
	return ret;
}

/* --verbose: the library's log on stderr, with a timestamp. */
static void log_stderr(void *opaque, int level, const char *msg)
{
	struct timespec ts;

	(void)opaque;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(stderr, "[%ld.%03ld] vmmig(%d): %s\n", (long)ts.tv_sec,
		ts.tv_nsec / 1000000, level, msg);
}

static int configure(struct vmmig_source *src, const struct opts *o,
		     struct toyvm *vm, struct vmmig_tracker *t,
		     struct vmmig_policy *pol)
{
	int ret = vmmig_source_add_region(src, 0, 0, vm->mem, vm->mem_size);

	if (!ret)
		ret = vmmig_source_set_ops(src, &source_ops, vm);
	if (!ret && o->verbose)
		ret = vmmig_source_set_log(src, log_stderr, NULL,
					   VMMIG_LOG_DEBUG);
	if (!ret)
		ret = vmmig_source_set_tracker(src, t);
	/* Checked after the switchover: no downtime, some total time. */
	if (!ret)
		ret = vmmig_source_set_option(src, VMMIG_OPT_VERIFY,
					      o->no_verify ? 0 : 1);
	if (!ret)
		ret = vmmig_source_set_option(src, VMMIG_OPT_CHANNELS,
					      o->channels);
	if (!ret && o->compression >= 0)
		ret = vmmig_source_set_option(src, VMMIG_OPT_COMPRESSION,
					      o->compression);
	if (!ret && o->delta_cache)
		ret = vmmig_source_set_option(src, VMMIG_OPT_DELTA_CACHE_BYTES,
					      (int64_t)o->delta_cache);
	if (!ret && o->downtime_ms >= 0)
		ret = vmmig_source_set_option(src, VMMIG_OPT_DOWNTIME_LIMIT_MS,
					      o->downtime_ms);
	if (!ret && o->max_rounds >= 0)
		ret = vmmig_source_set_option(src, VMMIG_OPT_MAX_ROUNDS,
					      o->max_rounds);
	if (!ret && o->bandwidth)
		ret = vmmig_source_set_option(src, VMMIG_OPT_BANDWIDTH_LIMIT,
					      (int64_t)o->bandwidth);
	pc_cap.src = src;
	pc_cap.bandwidth = o->pc_bandwidth;
	if (!ret && o->recovery_ms >= 0)
		ret = vmmig_source_set_option(src, VMMIG_OPT_RECOVERY_TIMEOUT_MS,
					      o->recovery_ms);
	if (!ret && o->io_timeout_ms >= 0)
		ret = vmmig_source_set_option(src, VMMIG_OPT_IO_TIMEOUT_MS,
					      o->io_timeout_ms);
	if (!ret)
		ret = vmmig_source_set_option(src, VMMIG_OPT_FAULT_CPU,
					      o->fault_cpu);
	if (!ret && pol)
		ret = vmmig_source_set_policy(src, pol);
	struct vmmig_tls_config tls;
	if (!ret && tls__config(o, &tls))
		ret = vmmig_source_set_tls(src, &tls);
	return ret;
}

/* "HOST:PORT" means TCP; URIs with a scheme pass through. */
static void make_uri(const char *addr, char *uri, size_t len)
{
	if (!strncmp(addr, "tcp:", 4) || !strncmp(addr, "unix:", 5))
		snprintf(uri, len, "%s", addr);
	else
		snprintf(uri, len, "tcp:%s", addr);
}

int migrate__source(const struct opts *o)
{
	struct toyvm vm;
	struct vmmig_tracker *t = NULL;
	struct vmmig_source *src = NULL;
	struct vmmig_policy *pol = NULL;
	struct progress prog;
	struct report r = { .role = "source", .workload = o->workload,
			    .mode = o->mode };
	struct dbcache_report dr;
	char uri[512], extra[1024];
	int ret, code = 2;

	ret = toyvm__setup(&vm, o, true);
	if (ret)
		goto out;
	r.backend = vm.ops->name;
	ret = vm.ops->tracker(&vm, &t);
	if (ret == -ENOTSUP)
		fprintf(stderr, "toyvmm: tracker %s: not available with the %s "
			"backend\n", o->tracker, vm.ops->name);
	if (!ret)
		r.tracker = vmmig_tracker_name(t);
	if (!ret)
		ret = mode__policy(o, &pol);
	if (!ret)
		ret = vmmig_source_new(&src);
	if (!ret)
		ret = configure(src, o, &vm, t, pol);
	/* dbcache: the clean pages the guest announced so far */
	if (!ret && !o->no_hints)
		ret = dbcache__attach(&vm, src);
	if (ret) {
		fprintf(stderr, "toyvmm: source setup: %s\n",
			vmmig_strerror(ret));
		goto out;
	}
	sleep_ms(o->warmup_ms); /* the guest runs before we migrate it */
	ret = vm.ops->health(&vm);
	if (ret) {
		fprintf(stderr, "toyvmm: the guest died before the migration "
			"(%s); not migrating a dead guest\n", strerror(-ret));
		code = EXIT_GUEST_DIED;
		goto out;
	}

	make_uri(o->connect, uri, sizeof(uri));
	ret = vmmig_source_start(src, uri);
	if (ret) {
		fprintf(stderr, "toyvmm: start %s: %s\n", uri,
			vmmig_strerror(ret));
		goto out;
	}
	progress__start(&prog, o, "source", src_stats, src, &vm);
	r.result = vmmig_source_wait(src);
	progress__stop(&prog);
	r.hb_done = toyvm__heartbeat(&vm);
	r.error = vmmig_source_error(src);
	r.st.struct_size = sizeof(r.st);
	vmmig_source_get_stats(src, &r.st);
	if (report__history(&r, src))
		fprintf(stderr, "toyvmm: can't read the migration's history\n");
	r.nvcpus = vm.nvcpus;
	memcpy(r.hb_start_v, vm.hb_at_pause, sizeof(r.hb_start_v));
	for (unsigned i = 0; i < vm.nvcpus; i++)
		r.hb_pause += vm.hb_at_pause[i];
	/* Success: the guest lives on the destination and stays paused here.
	 * Failure: the library resumed it (if it had paused it) and it keeps
	 * running; --run-after shows that. */
	if (o->run_after_ms)
		sleep_ms(o->run_after_ms);
	r.hb_end = toyvm__heartbeat(&vm);
	toyvm__heartbeats(&vm, r.hb_end_v);
	r.guest_error = vm.ops->health(&vm);
	if (vm.db) {
		dbcache__dev_report(&vm, &dr);
		dbcache__guest_report(&vm, &dr);
		if (dbcache__json(extra, sizeof(extra), &dr, NULL) > 0)
			r.extra_json = extra;
	}
	report__print(&r);
	if (vm.db)
		dbcache__print("source", &dr, NULL);
	if (o->json && report__json(&r, o->json))
		fprintf(stderr, "toyvmm: can't write %s\n", o->json);
	if (o->timeline) {
		if (timeline__svg(&r, o->timeline))
			fprintf(stderr, "toyvmm: can't write %s\n",
				o->timeline);
		else
			printf("source: timeline drawn in %s\n", o->timeline);
	}
	code = r.guest_error ? EXIT_GUEST_DIED : r.result ? 1 : 0;
out:
	report__free(&r);
	dbcache__attach(&vm, NULL); /* no more hints into a freed session */
	vmmig_source_free(src);
	vmmig_policy_free(pol); /* borrowed by the session: after it */
	toyvm__teardown(&vm);
	vmmig_tracker_free(t); /* after the guest thread stopped marking */
	return code;
}
