/* SPDX-License-Identifier: MIT */
/* One run's set-up, and the hypervisor's callbacks that track which side
 * runs the guest. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness_priv.h"

/* Record broken invariant @bit with a reason. Any thread. */
void violate(struct run *r, unsigned bit, const char *fmt, ...)
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

void run_on_fire(void *arg)
{
	struct run *r = arg;

	pthread_mutex_lock(&r->own);
	r->fired_before_pause = r->pauses == 0;
	pthread_mutex_unlock(&r->own);
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

struct vmmig_policy *run_policy(enum fi_mode m)
{
	struct vmmig_postcopy_config pc = { .struct_size = sizeof(pc),
		.flags = VMMIG_POSTCOPY_NO_FIRST_PASS };
	struct vmmig_hybrid_config hc = { .struct_size = sizeof(hc),
		.precopy_rounds = 2 };
	struct vmmig_policy *p = NULL;

	if (m == MODE_POSTCOPY)
		vmmig_policy_new_postcopy(&pc, &p);
	else if (m == MODE_HYBRID)
		vmmig_policy_new_hybrid(&hc, &p);
	else
		vmmig_policy_new_precopy(NULL, &p);
	return p;
}

int run_dest_setup(struct run *r, const struct vmmig_transport_ops *t,
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

struct vmmig_source *run_source_setup(struct run *r,
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
	/* One mode with two data channels: accepts and handshakes past the
	 * first, a DRAIN barrier across channels. */
	if (!ret && r->cfg->mode == MODE_RESTORE)
		ret = vmmig_source_set_option(src, VMMIG_OPT_CHANNELS, 2);
	if (ret) {
		vmmig_source_free(src);
		return NULL;
	}
	return src;
}

int run_guest_setup(struct run *r)
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
