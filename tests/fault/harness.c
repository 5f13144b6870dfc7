/* SPDX-License-Identifier: MIT */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <vmmig/vmmig.h>

#include "guest.h"

#define GUEST_SIZE (2u << 20)
#define CACHE_SIZE (GUEST_SIZE / 2) /* hinted, MODE_RESTORE */
#define IO_TIMEOUT_MS 2000
#define RECOVERY_MS 800
#define SOURCE_DEADLINE_MS 30000 /* the source must end by then */
#define DEST_GRACE_MS 8000       /* ... and the destination this much later */

struct run {
	const struct fi_config *cfg;
	struct fi_result *res;
	struct guest g;           /* the source guest */
	struct guest dg;          /* destination: load_state() target only */
	uint8_t *dmem;            /* destination guest memory */
	uint8_t *at_pause;        /* source memory when it paused */

	pthread_mutex_t own;      /* the ownership flags, violations */
	bool src_running, dst_running;
	int pauses, resumes, starts;
	bool fired_before_pause;

	struct vmmig_dest *dst;   /* freed by the destination thread */
	pthread_mutex_t dlock;    /* dst vs. its freeing */
	pthread_t dthread;
	bool ddone;
	char derr[320];

	pthread_t vthread;        /* destination "vCPU" (post-copy faults) */
	bool vcpu;
	atomic_bool vstop, dst_started;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Record broken invariant @bit with a reason. Any thread. */
static void violate(struct run *r, unsigned bit, const char *fmt, ...)
{
	struct fi_result *res = r->res;
	size_t n;
	va_list ap;

	pthread_mutex_lock(&r->own);
	res->viol |= bit;
	n = strlen(res->why);
	if (n + 3 < sizeof(res->why)) {
		if (n)
			res->why[n++] = ';', res->why[n++] = ' ', res->why[n] = 0;
		va_start(ap, fmt);
		vsnprintf(res->why + n, sizeof(res->why) - n, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&r->own);
}

/* ---- the hypervisor's callbacks, with the ownership tracked ---- */

static int src_pause(void *opaque)
{
	struct run *r = opaque;
	int ret = guest_source_ops.pause(&r->g);

	pthread_mutex_lock(&r->own);
	r->pauses++;
	r->src_running = false;
	memcpy(r->at_pause, r->g.mem, GUEST_SIZE); /* the writer is parked */
	pthread_mutex_unlock(&r->own);
	return ret;
}

static int src_resume(void *opaque)
{
	struct run *r = opaque;
	bool both;

	pthread_mutex_lock(&r->own);
	r->resumes++;
	both = r->dst_running;
	r->src_running = true;
	pthread_mutex_unlock(&r->own);
	if (both)
		violate(r, V_SPLIT_BRAIN, "source resumed its guest while the "
			"destination runs it");
	return guest_source_ops.resume(&r->g);
}

static int src_save(void *opaque, struct vmmig_state_sink *sink)
{
	struct run *r = opaque;

	return guest_source_ops.save_state(&r->g, sink);
}

static const struct vmmig_source_ops src_ops = {
	.version = VMMIG_SOURCE_OPS_VERSION,
	.pause = src_pause,
	.resume = src_resume,
	.save_state = src_save,
};

static int dst_load(void *opaque, uint32_t id, const void *data, size_t len)
{
	struct run *r = opaque;

	return guest_dest_ops.load_state(&r->dg, id, data, len);
}

static int dst_start(void *opaque)
{
	struct run *r = opaque;
	bool both, twice;

	pthread_mutex_lock(&r->own);
	twice = ++r->starts > 1;
	both = r->src_running;
	r->dst_running = true;
	pthread_mutex_unlock(&r->own);
	atomic_store(&r->dst_started, true);
	if (twice)
		violate(r, V_TWO_STARTS, "destination start() called twice");
	if (both)
		violate(r, V_SPLIT_BRAIN, "destination started the guest while "
			"the source runs it");
	return 0;
}

static const struct vmmig_dest_ops dst_ops = {
	.version = VMMIG_DEST_OPS_VERSION,
	.load_state = dst_load,
	.start = dst_start,
};

static void on_fire(void *arg)
{
	struct run *r = arg;

	pthread_mutex_lock(&r->own);
	r->fired_before_pause = r->pauses == 0;
	pthread_mutex_unlock(&r->own);
}

/* ---- the destination's threads ---- */

/* Waits for the destination, then frees it, as a destination process that
 * failed would exit (its listener goes, queued connections are refused). */
static void *dest_waiter(void *arg)
{
	struct run *r = arg;

	r->res->dret = vmmig_dest_wait(r->dst);
	snprintf(r->derr, sizeof(r->derr), "%s",
		 vmmig_dest_error(r->dst) ? vmmig_dest_error(r->dst) : "");
	pthread_mutex_lock(&r->dlock);
	vmmig_dest_free(r->dst); /* closes the userfaultfd: the vCPU wakes */
	r->dst = NULL;
	r->ddone = true;
	pthread_mutex_unlock(&r->dlock);
	return NULL;
}

/* Reads scattered pages once the guest runs here: in post-copy they fault
 * and are asked for. Reads only, so the memory can be compared later. */
static void *vcpu_main(void *arg)
{
	struct run *r = arg;
	uint64_t s = 99, sum = 0;

	while (!atomic_load(&r->dst_started))
		if (atomic_load(&r->vstop))
			return NULL;
		else
			usleep(200);
	for (int i = 0; i < 2000 && !atomic_load(&r->vstop); i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		sum += ((volatile uint8_t *)r->dmem)[(s >> 24) % GUEST_SIZE];
	}
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

/* ---- set-up ---- */

/* FI_LOG=1: the library's log lines on stderr, to follow one run. */
static void log_line(void *opaque, int level, const char *msg)
{
	fprintf(stderr, "  [%s %d] %s\n", (const char *)opaque, level, msg);
}

static bool log_on(void)
{
	const char *v = getenv("FI_LOG");

	return v && *v && strcmp(v, "0");
}

int fi_make_storage(char *path, size_t len)
{
	uint8_t *buf = malloc(CACHE_SIZE);
	int fd, ret = 0;

	if (!buf)
		return -ENOMEM;
	snprintf(path, len, "/tmp/vmmig-fault-%d", getpid());
	fill_random(buf, CACHE_SIZE, 777);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, CACHE_SIZE) != CACHE_SIZE)
		ret = -EIO;
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

static struct vmmig_policy *make_policy(enum fi_mode m)
{
	struct vmmig_postcopy_config pc = {
		.flags = VMMIG_POSTCOPY_NO_FIRST_PASS };
	struct vmmig_hybrid_config hc = { .precopy_rounds = 2 };
	struct vmmig_policy *p = NULL;

	if (m == MODE_POSTCOPY)
		vmmig_policy_new_postcopy(&pc, &p);
	else if (m == MODE_HYBRID)
		vmmig_policy_new_hybrid(&hc, &p);
	else
		vmmig_policy_new_precopy(NULL, &p);
	return p;
}

static bool has_postcopy(enum fi_mode m)
{
	return m == MODE_POSTCOPY || m == MODE_HYBRID;
}

/* The destination, listening and started; 0 or -errno. */
static int dest_setup(struct run *r, const struct vmmig_transport_ops *t,
		      struct vmmig_page_source **ps, char *bound, size_t blen)
{
	static unsigned counter;
	const struct fi_config *cfg = r->cfg;
	char addr[64];
	int ret;

	if (cfg->inner == vmmig_transport_inproc())
		snprintf(addr, sizeof(addr), "fault-%d-%u", getpid(), counter++);
	else
		snprintf(addr, sizeof(addr), "127.0.0.1:0");
	ret = vmmig_dest_new(&r->dst);
	if (!ret)
		ret = vmmig_dest_add_region(r->dst, 0, 0, r->dmem, GUEST_SIZE);
	if (!ret)
		ret = vmmig_dest_set_ops(r->dst, &dst_ops, r);
	if (!ret && log_on())
		ret = vmmig_dest_set_log(r->dst, log_line, "dst",
					 VMMIG_LOG_INFO);
	if (!ret)
		ret = vmmig_dest_set_option(r->dst, VMMIG_OPT_IO_TIMEOUT_MS,
					    IO_TIMEOUT_MS);
	if (!ret && has_postcopy(cfg->mode))
		ret = vmmig_dest_set_option(r->dst,
					    VMMIG_OPT_RECOVERY_TIMEOUT_MS,
					    RECOVERY_MS);
	if (!ret && cfg->mode == MODE_RESTORE) {
		ret = vmmig_page_source_new_storage(NULL, ps);
		if (!ret)
			ret = vmmig_storage_add_object(*ps, 1, cfg->storage);
		if (!ret)
			ret = vmmig_dest_set_page_source(r->dst, *ps);
	}
	if (!ret)
		ret = vmmig_dest_listen_transport(r->dst, t, addr, bound, blen);
	return ret;
}

static struct vmmig_source *source_setup(struct run *r,
					 struct vmmig_policy *pol)
{
	struct vmmig_source *src = NULL;
	int ret = vmmig_tracker_new_manual(&r->g.manual);

	if (!ret)
		ret = vmmig_source_new(&src);
	if (!ret)
		ret = vmmig_source_add_region(src, 0, 0, r->g.mem, GUEST_SIZE);
	if (!ret)
		ret = vmmig_source_set_ops(src, &src_ops, r);
	if (!ret && log_on())
		ret = vmmig_source_set_log(src, log_line, "src",
					   VMMIG_LOG_INFO);
	if (!ret)
		ret = vmmig_source_set_tracker(src, r->g.manual);
	if (!ret)
		ret = vmmig_source_set_policy(src, pol);
	if (!ret)
		ret = vmmig_source_set_option(src, VMMIG_OPT_IO_TIMEOUT_MS,
					      IO_TIMEOUT_MS);
	if (!ret)
		ret = vmmig_source_set_option(src, VMMIG_OPT_VERIFY, 1);
	if (!ret)
		ret = vmmig_source_set_option(src, VMMIG_OPT_MAX_ROUNDS, 4);
	if (!ret && has_postcopy(r->cfg->mode))
		ret = vmmig_source_set_option(src,
					      VMMIG_OPT_RECOVERY_TIMEOUT_MS,
					      RECOVERY_MS);
	/* Hybrid must not converge before its switch to post-copy: a tight
	 * downtime limit, and a link slow enough that the guest's writes
	 * keep up with it. */
	if (!ret && r->cfg->mode == MODE_HYBRID)
		ret = vmmig_source_set_option(src, VMMIG_OPT_DOWNTIME_LIMIT_MS,
					      1);
	if (!ret && r->cfg->mode == MODE_HYBRID)
		ret = vmmig_source_set_option(src, VMMIG_OPT_BANDWIDTH_LIMIT,
					      16 << 20);
	if (!ret && r->cfg->mode == MODE_RESTORE)
		ret = vmmig_source_add_hint(src, 0, 0, CACHE_SIZE, 1, 0);
	if (ret) {
		vmmig_source_free(src);
		return NULL;
	}
	return src;
}

static int guest_setup(struct run *r)
{
	int ret = guest_init(&r->g, GUEST_SIZE, FILL_HALF, true);
	int fd;

	if (ret || r->cfg->mode != MODE_RESTORE)
		return ret;
	/* The cache half holds the data file's blocks. */
	fd = open(r->cfg->storage, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = read(fd, r->g.mem, CACHE_SIZE) == CACHE_SIZE ? 0 : -EIO;
	close(fd);
	if (!ret)
		memcpy(r->g.shadow, r->g.mem, CACHE_SIZE);
	return ret;
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

static void judge(struct run *r, struct vmmig_source *src)
{
	struct fi_result *res = r->res;
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	bool pc_committed = has_postcopy(r->cfg->mode) &&
			    fault_sent_tried(SIDE_SRC, REC_POSTCOPY);

	vmmig_source_get_stats(src, &st);
	res->fired = fault_fired(res->fault, sizeof(res->fault));
	res->ops = fault_ops();
	res->dst_ack_sent = fault_sent_ok(SIDE_DST, REC_ACK);
	res->src_committed = fault_sent_tried(SIDE_SRC, REC_END) ||
			     fault_sent_tried(SIDE_SRC, REC_POSTCOPY);
	res->src_resumed = r->resumes > 0;
	res->dst_started = r->starts > 0;
	if (r->src_running && r->dst_running)
		violate(r, V_SPLIT_BRAIN, "both sides run the guest at the end");
	if (res->sret && r->pauses > r->resumes && !pc_committed)
		violate(r, V_NOT_RESUMED, "source failed (%s) before the "
			"switch and left its guest paused",
			vmmig_strerror(res->sret));
	if (r->pauses == r->resumes && !guest_progresses(&r->g))
		violate(r, V_NOT_RUNNING, "source guest does not run");
	guest_stop(&r->g);
	if (memcmp(r->g.mem, r->g.shadow, GUEST_SIZE))
		violate(r, V_SRC_MEM, "source guest memory changed");
	if (!res->dret && (!r->pauses ||
			   memcmp(r->dmem, r->at_pause, GUEST_SIZE)))
		violate(r, V_DST_MEM, "destination reported success (source: "
			"%s) but its memory differs from the source's at the "
			"pause", res->sret ? vmmig_strerror(res->sret) : "ok");
	if (!res->sret && res->dret)
		violate(r, V_SRC_OK_DST_FAIL, "source succeeded, destination "
			"failed: %s", r->derr);
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
	else if (!res->dret)
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
	struct vmmig_policy *pol = make_policy(cfg->mode);
	struct vmmig_source *src = NULL;
	uint64_t t0 = mono_ms();
	int tasks0 = count_dir("/proc/self/task");
	int fds0 = count_dir("/proc/self/fd");
	char bound[128];

	memset(res, 0, sizeof(*res));
	res->sret = res->dret = -EINVAL;
	if (!r || !pol) {
		snprintf(res->why, sizeof(res->why), "out of memory");
		res->viol = V_HANG;
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
	if (r->dmem == MAP_FAILED || !r->at_pause || guest_setup(r) ||
	    dest_setup(r, t, &ps, bound, sizeof(bound)) ||
	    !(src = source_setup(r, pol))) {
		snprintf(res->why, sizeof(res->why), "set-up failed");
		res->viol = V_HANG;
		goto out;
	}
	memset(r->dmem, 0xa5, GUEST_SIZE); /* stale contents to overwrite */
	fault_on_fire(on_fire, r);
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
		res->viol = V_HANG;
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
		if (!res->viol)
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
