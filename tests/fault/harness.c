/* SPDX-License-Identifier: MIT */
/* One run: start both sides, wait for them in bounded time, judge. */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "harness_priv.h"

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- the destination's threads ---- */

/* Waits for the destination, then frees it, as a destination process that
 * failed would exit (its listener goes, queued connections are refused). */
static void *dest_waiter(void *arg)
{
	struct run *r = arg;
	struct vmmig_stats st = { .struct_size = sizeof(st) };

	r->res->dret = vmmig_dest_wait(r->dst);
	r->res->dst_owner = vmmig_dest_owner(r->dst);
	if (!vmmig_dest_get_stats(r->dst, &st)) {
		r->res->pages_restored = st.pages_restored;
		/* The destination names a post-copy after pre-copy rounds
		 * hybrid. */
		r->res->dst_postcopy = st.mode == VMMIG_MODE_POSTCOPY ||
				       st.mode == VMMIG_MODE_HYBRID;
	}
	snprintf(r->derr, sizeof(r->derr), "%s",
		 vmmig_dest_error(r->dst) ? vmmig_dest_error(r->dst) : "");
	pthread_mutex_lock(&r->dlock);
	vmmig_dest_free(r->dst); /* closes the userfaultfd: the vCPU wakes */
	r->dst = NULL;
	r->ddone = true;
	pthread_mutex_unlock(&r->dlock);
	return NULL;
}

/* A page lost with a failed post-copy is poisoned: the vCPU's read of it
 * raises SIGBUS (this kernel has UFFDIO_POISON), as a guest's would. The
 * vCPU thread then stops, like a guest that crashed on it; a fault in any
 * other thread is a real crash. */
static _Thread_local sigjmp_buf *vcpu_jmp;
static atomic_uint vcpu_poisoned;

static void on_poison(int sig)
{
	if (!vcpu_jmp) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	atomic_fetch_add(&vcpu_poisoned, 1);
	siglongjmp(*vcpu_jmp, 1);
}

/* Reads scattered pages once the guest runs here: in post-copy they fault
 * and are asked for. Reads only, so the memory can be compared later. */
static void *vcpu_main(void *arg)
{
	struct run *r = arg;
	volatile uint64_t s = 99, sum = 0;
	sigjmp_buf jb;

	while (!atomic_load(&r->dst_started))
		if (atomic_load(&r->vstop))
			return NULL;
		else
			usleep(200);
	if (sigsetjmp(jb, 1)) {
		vcpu_jmp = NULL;
		return NULL; /* read a lost page: this "guest" is dead */
	}
	vcpu_jmp = &jb;
	for (int i = 0; i < 2000 && !atomic_load(&r->vstop); i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		sum += ((volatile uint8_t *)r->dmem)[(s >> 24) % GUEST_SIZE];
	}
	vcpu_jmp = NULL;
	return (void *)(uintptr_t)sum;
}

/* ---- counting what a run must give back ---- */

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - (!strcmp(path, "/proc/self/fd")); /* the DIR's own fd */
}

static void check_leaks(struct run *r, int tasks0, int fds0)
{
	int tasks = 0, fds = 0;

	/* A joined thread can linger in /proc for a moment. */
	for (int i = 0; i < 100; i++) {
		tasks = count_dir("/proc/self/task");
		fds = count_dir("/proc/self/fd");
		if (tasks <= tasks0 && fds <= fds0)
			return;
		sleep_ms(5);
	}
	if (tasks > tasks0)
		violate(r, V_LEAK_THREAD, "%d threads left over", tasks - tasks0);
	if (fds > fds0)
		violate(r, V_LEAK_FD, "%d fds left over", fds - fds0);
}

/* ---- the run ---- */

static bool status_final(int s)
{
	return s == VMMIG_STATUS_COMPLETED || s == VMMIG_STATUS_FAILED ||
	       s == VMMIG_STATUS_CANCELLED;
}

static void wait_source(struct run *r, struct vmmig_source *src)
{
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	uint64_t deadline = mono_ms() + SOURCE_DEADLINE_MS;

	for (;;) {
		vmmig_source_get_stats(src, &st);
		if (status_final(st.status))
			break;
		if (mono_ms() > deadline) {
			violate(r, V_HANG, "source still running after %d ms",
				SOURCE_DEADLINE_MS);
			vmmig_source_cancel(src);
			deadline = UINT64_MAX; /* wait() is all that is left */
		}
		sleep_ms(1);
	}
	r->res->sret = vmmig_source_wait(src);
}

/* After the source ended: a destination that never saw it is cancelled
 * (its embedder would give up); one that did must end by itself. */
static void wait_dest(struct run *r)
{
	uint64_t deadline = mono_ms() + DEST_GRACE_MS;

	for (;;) {
		struct vmmig_stats st = { .struct_size = sizeof(st) };
		bool done;

		pthread_mutex_lock(&r->dlock);
		done = r->ddone;
		if (!done) {
			vmmig_dest_get_stats(r->dst, &st);
			if (st.status == VMMIG_STATUS_NONE)
				vmmig_dest_cancel(r->dst);
		}
		if (!done && mono_ms() > deadline) {
			vmmig_dest_cancel(r->dst);
			deadline = UINT64_MAX;
			pthread_mutex_unlock(&r->dlock);
			violate(r, V_HANG, "destination still running %d ms "
				"after the source ended", DEST_GRACE_MS);
			continue;
		}
		pthread_mutex_unlock(&r->dlock);
		if (done)
			break;
		sleep_ms(1);
	}
	pthread_join(r->dthread, NULL);
}

/* The source guest must run again: its writer makes progress. */
static bool guest_progresses(struct guest *g)
{
	uint64_t w = atomic_load(&g->writes);

	for (int i = 0; i < 200; i++) {
		if (atomic_load(&g->writes) != w)
			return true;
		sleep_ms(5);
	}
	return false;
}

static const char *owner_name(int o)
{
	return o == VMMIG_OWNER_SOURCE ? "source"
	       : o == VMMIG_OWNER_DEST ? "destination" : "unknown";
}

/* The owner each side reports against who runs the guest. */
static void judge_owners(struct run *r)
{
	struct fi_result *res = r->res;
	int so = res->src_owner, dso = res->dst_owner;

	if ((so == VMMIG_OWNER_SOURCE) != r->src_running)
		violate(r, V_OWNER, "source reports owner %s, its guest %s",
			owner_name(so), r->src_running ? "runs" : "is paused");
	if ((dso == VMMIG_OWNER_DEST) != r->dst_running)
		violate(r, V_OWNER, "destination reports owner %s, start() %s",
			owner_name(dso), r->dst_running ? "called" : "not called");
	if ((so == VMMIG_OWNER_SOURCE && dso == VMMIG_OWNER_DEST) ||
	    (so == VMMIG_OWNER_DEST && dso == VMMIG_OWNER_SOURCE))
		violate(r, V_OWNER, "the sides contradict each other: source "
			"says %s, destination says %s", owner_name(so),
			owner_name(dso));
	if ((!res->sret && so != VMMIG_OWNER_DEST) ||
	    (!res->dret && dso != VMMIG_OWNER_DEST))
		violate(r, V_OWNER, "success, yet owner %s / %s",
			owner_name(so), owner_name(dso));
}

static void judge(struct run *r, struct vmmig_source *src)
{
	struct fi_result *res = r->res;
	struct vmmig_stats st = { .struct_size = sizeof(st) };

	vmmig_source_get_stats(src, &st);
	res->fired = fault_fired(res->fault, sizeof(res->fault));
	res->ops = fault_ops();
	res->src_owner = vmmig_source_owner(src);
	res->src_commit_tried = fault_sent_tried(SIDE_SRC, REC_COMMIT);
	res->src_switching = fault_sent_tried(SIDE_SRC, REC_SWITCH);
	res->src_resumed = r->resumes > 0;
	res->dst_started = r->starts > 0;
	if (r->src_running && r->dst_running)
		violate(r, V_SPLIT_BRAIN, "both sides run the guest at the end");
	if (res->sret && r->pauses > r->resumes && !res->src_commit_tried)
		violate(r, V_NOT_RESUMED, "source failed (%s) without trying "
			"to send COMMIT and left its guest paused",
			vmmig_strerror(res->sret));
	judge_owners(r);
	if (r->pauses == r->resumes && !guest_progresses(&r->g))
		violate(r, V_NOT_RUNNING, "source guest does not run");
	guest_stop(&r->g);
	if (memcmp(r->g.mem, r->g.shadow, GUEST_SIZE))
		violate(r, V_SRC_MEM, "source guest memory changed");
	/* Either side's success says the destination has the guest, all of
	 * its memory included. */
	if ((!res->dret || !res->sret) &&
	    (!r->pauses || memcmp(r->dmem, r->at_pause, GUEST_SIZE)))
		violate(r, V_DST_MEM, "success reported (source: %s, "
			"destination: %s) but the destination's memory differs "
			"from the source's at the pause",
			res->sret ? vmmig_strerror(res->sret) : "ok",
			res->dret ? vmmig_strerror(res->dret) : "ok");
	/* The destination's wait may fail after the start (a verification
	 * cut short); not running the guest then is what may not happen. */
	if (!res->sret && !r->dst_running)
		violate(r, V_SRC_OK_DST_FAIL, "source succeeded, destination "
			"does not run the guest: %s", r->derr);
	if (!res->fired && (res->sret || res->dret))
		violate(r, V_CLEAN_FAIL, "no fault, yet source: %s (%s), "
			"destination: %s", vmmig_strerror(res->sret),
			vmmig_source_error(src) ? vmmig_source_error(src) : "",
			r->derr);
	if (res->fired && r->fired_before_pause && !res->sret)
		violate(r, V_FAULT_IGNORED, "fault before the pause, yet the "
			"source succeeded");
	if (res->viol)
		res->outcome = OUT_BROKEN;
	else if (!res->sret && !res->dret)
		res->outcome = st.postcopy_recoveries ? OUT_RECOVERED
						      : OUT_MIGRATED;
	else if (r->dst_running)
		res->outcome = OUT_DST_RUNS;
	else
		res->outcome = r->src_running ? OUT_SRC_RUNS : OUT_NEITHER;
}

void fi_run(const struct fi_config *cfg, enum fault_kind kind, uint64_t n,
	    struct fi_result *res)
{
	const struct vmmig_transport_ops *t = fault_transport(cfg->inner);
	struct run *r = calloc(1, sizeof(*r));
	struct vmmig_page_source *ps = NULL;
	struct vmmig_policy *pol = run_policy(cfg->mode);
	struct vmmig_source *src = NULL;
	uint64_t t0 = mono_ms();
	int tasks0 = count_dir("/proc/self/task");
	int fds0 = count_dir("/proc/self/fd");
	char bound[128];

	static bool handler;

	if (!handler) {
		struct sigaction sa = { .sa_handler = on_poison };

		sigaction(SIGBUS, &sa, NULL);
		handler = true;
	}
	memset(res, 0, sizeof(*res));
	res->sret = res->dret = -EINVAL;
	if (!r || !pol) {
		snprintf(res->why, sizeof(res->why), "out of memory");
		res->viol = V_SETUP;
		goto out;
	}
	r->cfg = cfg;
	r->res = res;
	r->src_running = true;
	pthread_mutex_init(&r->own, NULL);
	pthread_mutex_init(&r->dlock, NULL);
	r->dmem = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r->at_pause = malloc(GUEST_SIZE);
	if (r->dmem == MAP_FAILED || !r->at_pause || run_guest_setup(r) ||
	    run_dest_setup(r, t, &ps, bound, sizeof(bound)) ||
	    !(src = run_source_setup(r, pol))) {
		snprintf(res->why, sizeof(res->why), "set-up failed");
		res->viol = V_SETUP;
		goto out;
	}
	memset(r->dmem, 0xa5, GUEST_SIZE); /* stale contents to overwrite */
	fault_on_fire(run_on_fire, r);
	if (kind == FAULT_PARTITION)
		fault_plan_partition(cfg->cut_side, cfg->cut_type);
	else if (!n)
		fault_plan_at_record(kind, cfg->cut_side, cfg->cut_type);
	else
		fault_plan(kind, n);
	r->vcpu = has_postcopy(cfg->mode) &&
		  !pthread_create(&r->vthread, NULL, vcpu_main, r);
	if (vmmig_dest_start(r->dst) ||
	    pthread_create(&r->dthread, NULL, dest_waiter, r)) {
		snprintf(res->why, sizeof(res->why), "destination start failed");
		res->viol = V_SETUP;
		goto out;
	}
	guest_run(&r->g, 100);
	res->sret = vmmig_source_start_transport(src, t, bound);
	if (!res->sret)
		wait_source(r, src);
	wait_dest(r);
	atomic_store(&r->vstop, true);
	if (r->vcpu)
		pthread_join(r->vthread, NULL);
	r->vcpu = false;
	judge(r, src);
	if (res->viol)
		snprintf(res->why + strlen(res->why),
			 sizeof(res->why) - strlen(res->why),
			 " [source: %s; destination: %s]",
			 vmmig_source_error(src) ? vmmig_source_error(src)
						 : "ok", r->derr);
out:
	fault_on_fire(NULL, NULL);
	vmmig_source_free(src);
	if (r) {
		atomic_store(&r->vstop, true);
		if (r->vcpu)
			pthread_join(r->vthread, NULL);
		vmmig_dest_free(r->dst); /* set-up failures only */
		guest_destroy(&r->g);
		vmmig_page_source_free(ps);
		if (r->dmem && r->dmem != MAP_FAILED)
			munmap(r->dmem, GUEST_SIZE);
		free(r->at_pause);
		res->ms = mono_ms() - t0;
		/* Every run that got going gives back what it took, failed,
		 * hung or not. */
		if (!(res->viol & V_SETUP))
			check_leaks(r, tasks0, fds0);
		if (res->viol & (V_LEAK_THREAD | V_LEAK_FD))
			res->outcome = OUT_BROKEN;
		pthread_mutex_destroy(&r->own);
		pthread_mutex_destroy(&r->dlock);
		free(r);
	}
	vmmig_policy_free(pol);
}

const char *fi_mode_name(enum fi_mode m)
{
	static const char *const names[] = { "precopy", "postcopy", "hybrid",
					     "restore" };

	return names[m];
}

const char *fi_outcome_name(enum fi_outcome o)
{
	static const char *const names[] = { "migrated", "recovered",
					     "source-runs", "dest-runs",
					     "neither-runs", "broken" };

	return names[o];
}
