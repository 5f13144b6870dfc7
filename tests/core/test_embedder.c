/* SPDX-License-Identifier: MIT */
/*
 * What an embedder written from the headers alone ran into (issue 12):
 * the channel count, pre-connected sockets, the reason a peer stopped,
 * THROTTLE without a callback, the mode of a custom policy and the
 * destination's status inside start(). Both sessions run in this process
 * (pre-copy needs no userfaultfd), the source guest stays still, and every
 * completed migration is compared byte for byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vmmig/vmmig.h>

#include "testutil.h"

#define MEM (8u << 20)

/* ---- the two sides ---- */

struct side {
	uint8_t *mem;
	struct vmmig_source *src;
	struct vmmig_dest *dst;
	atomic_int started, resumed;
	int status_in_start;     /* the destination's, read from start() */
	int fail_load;           /* load_state refuses */
	pthread_mutex_t log_lock;
	char warn[512];          /* WARN lines seen */
	int errors;              /* ERROR lines seen */
	char last_error[512];
};

static void logger(void *opaque, int level, const char *msg)
{
	struct side *s = opaque;

	pthread_mutex_lock(&s->log_lock);
	if (level == VMMIG_LOG_WARN)
		snprintf(s->warn + strlen(s->warn),
			 sizeof(s->warn) - strlen(s->warn), "%s\n", msg);
	if (level == VMMIG_LOG_ERROR) {
		s->errors++;
		snprintf(s->last_error, sizeof(s->last_error), "%s", msg);
	}
	pthread_mutex_unlock(&s->log_lock);
}

static int nop_pause(void *o)
{
	(void)o;
	return 0;
}

static int count_resume(void *o)
{
	atomic_fetch_add(&((struct side *)o)->resumed, 1);
	return 0;
}

static int put_state(void *o, struct vmmig_state_sink *sink)
{
	(void)o;
	return vmmig_state_put(sink, 7, "cpu", 3);
}

static const struct vmmig_source_ops src_ops = {
	.version = VMMIG_SOURCE_OPS_VERSION, .pause = nop_pause,
	.resume = count_resume, .save_state = put_state };

static int load_state(void *o, uint32_t id, const void *d, size_t len)
{
	(void)id, (void)d, (void)len;
	return ((struct side *)o)->fail_load ? -EINVAL : 0;
}

static int dst_start(void *o)
{
	struct side *s = o;
	struct vmmig_stats st = { .struct_size = sizeof(st) };

	ck_assert_int_eq(vmmig_dest_get_stats(s->dst, &st), 0);
	s->status_in_start = st.status;
	atomic_fetch_add(&s->started, 1);
	return 0;
}

static const struct vmmig_dest_ops dst_ops = {
	.version = VMMIG_DEST_OPS_VERSION, .load_state = load_state,
	.start = dst_start };

static uint8_t *map_mem(void)
{
	uint8_t *m = mmap(NULL, MEM, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(m, MAP_FAILED);
	return m;
}

/* A source guest of random-ish bytes (some zero pages) and an empty
 * destination, both logging into their struct side. */
static void sides_init(struct side *s, struct side *d)
{
	memset(s, 0, sizeof(*s));
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&s->log_lock, NULL);
	pthread_mutex_init(&d->log_lock, NULL);
	s->mem = map_mem();
	d->mem = map_mem();
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < MEM / 8; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if ((i / 512) % 5)
			memcpy(s->mem + 8 * i, &x, 8);
	}
	ck_assert_int_eq(vmmig_source_new(&s->src), 0);
	ck_assert_int_eq(vmmig_source_add_region(s->src, 0, 0, s->mem, MEM), 0);
	ck_assert_int_eq(vmmig_source_set_ops(s->src, &src_ops, s), 0);
	vmmig_source_set_log(s->src, logger, s, VMMIG_LOG_DEBUG);
	vmmig_source_set_option(s->src, VMMIG_OPT_IO_TIMEOUT_MS, 5000);
	ck_assert_int_eq(vmmig_dest_new(&d->dst), 0);
	ck_assert_int_eq(vmmig_dest_add_region(d->dst, 0, 0, d->mem, MEM), 0);
	ck_assert_int_eq(vmmig_dest_set_ops(d->dst, &dst_ops, d), 0);
	vmmig_dest_set_log(d->dst, logger, d, VMMIG_LOG_DEBUG);
	vmmig_dest_set_option(d->dst, VMMIG_OPT_IO_TIMEOUT_MS, 5000);
}

static void sides_free(struct side *s, struct side *d)
{
	vmmig_source_free(s->src);
	vmmig_dest_free(d->dst);
	munmap(s->mem, MEM);
	munmap(d->mem, MEM);
	pthread_mutex_destroy(&s->log_lock);
	pthread_mutex_destroy(&d->log_lock);
}

static void assert_completed(struct side *s, struct side *d)
{
	int ret = vmmig_source_wait(s->src);
	int dret = vmmig_dest_wait(d->dst);

	ck_assert_msg(ret == 0 && dret == 0, "source %d (%s), destination %d "
		      "(%s)", ret, vmmig_source_error(s->src) ?: "", dret,
		      vmmig_dest_error(d->dst) ?: "");
	ck_assert_int_eq(atomic_load(&d->started), 1);
	ck_assert_msg(memcmp(s->mem, d->mem, MEM) == 0,
		      "destination memory differs");
}

/* ---- 1. VMMIG_OPT_CHANNELS = N: N page channels + the urgent one ---- */

static atomic_int connects, connect_limit;

/* inproc, but connect() fails once connect_limit connections were made:
 * an embedder's transport that has only so many sockets. */
static int limited_connect(void *chan, const char *addr, int timeout_ms)
{
	if (atomic_fetch_add(&connects, 1) >= atomic_load(&connect_limit))
		return -ECONNREFUSED;
	return vmmig_transport_inproc()->connect(chan, addr, timeout_ms);
}

static struct vmmig_transport_ops limited_ops;

START_TEST(channels_are_n_plus_urgent)
{
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	struct side s, d;

	limited_ops = *vmmig_transport_inproc();
	limited_ops.connect = limited_connect;
	/* Enough sockets: N = 3 page channels take 4 connections. */
	atomic_store(&connects, 0);
	atomic_store(&connect_limit, 4);
	sides_init(&s, &d);
	ck_assert_int_eq(vmmig_source_set_option(s.src, VMMIG_OPT_CHANNELS, 3),
			 0);
	ck_assert_int_eq(vmmig_dest_listen_transport(d.dst, &limited_ops,
						     "ch-ok", NULL, 0), 0);
	ck_assert_int_eq(vmmig_dest_start(d.dst), 0);
	ck_assert_int_eq(vmmig_source_start_transport(s.src, &limited_ops,
						      "ch-ok"), 0);
	assert_completed(&s, &d);
	ck_assert_int_eq(atomic_load(&connects), 4);
	vmmig_source_get_stats(s.src, &st);
	ck_assert_uint_eq(st.channels, 3);
	vmmig_dest_get_stats(d.dst, &st);
	ck_assert_uint_eq(st.channels, 3);
	sides_free(&s, &d);

	/* One socket short: the error says how many the migration takes. */
	atomic_store(&connects, 0);
	atomic_store(&connect_limit, 2);
	sides_init(&s, &d);
	ck_assert_int_eq(vmmig_source_set_option(s.src, VMMIG_OPT_CHANNELS, 2),
			 0);
	ck_assert_int_eq(vmmig_dest_listen_transport(d.dst, &limited_ops,
						     "ch-short", NULL, 0), 0);
	ck_assert_int_eq(vmmig_dest_start(d.dst), 0);
	ck_assert_int_eq(vmmig_source_start_transport(s.src, &limited_ops,
						      "ch-short"), 0);
	ck_assert_int_eq(vmmig_source_wait(s.src), -ECONNREFUSED);
	ck_assert_ptr_nonnull(strstr(vmmig_source_error(s.src),
				     "channel 2 of 3 (2 page channels + the "
				     "urgent channel)"));
	vmmig_dest_cancel(d.dst);
	vmmig_dest_wait(d.dst);
	sides_free(&s, &d);
}
END_TEST

/* ---- 3. pre-connected sockets ---- */

static void pairs(int n, int *a, int *b)
{
	for (int i = 0; i < n; i++) {
		int sv[2];

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		a[i] = sv[0];
		b[i] = sv[1];
	}
}

/* @n loopback TCP connections: a[i] connected to b[i]. */
static void tcp_pairs(int n, int *a, int *b)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(l, n), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sin, &len), 0);
	for (int i = 0; i < n; i++) {
		a[i] = socket(AF_INET, SOCK_STREAM, 0);
		ck_assert_int_ge(a[i], 0);
		ck_assert_int_eq(connect(a[i], (struct sockaddr *)&sin,
					 sizeof(sin)), 0);
		b[i] = accept(l, NULL, NULL);
		ck_assert_int_ge(b[i], 0);
	}
	close(l);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

START_TEST(fds_migrate)
{
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	int a[3], b[3], rev[3];
	struct side s, d;

	sides_init(&s, &d);
	pairs(3, a, b);
	/* The destination's ends in another order: channels say their index. */
	rev[0] = b[2], rev[1] = b[0], rev[2] = b[1];
	ck_assert_int_eq(vmmig_dest_start_fds(d.dst, rev, 3), 0);
	ck_assert_int_eq(vmmig_source_start_fds(s.src, a, 3), 0);
	assert_completed(&s, &d);
	vmmig_source_get_stats(s.src, &st);
	ck_assert_uint_eq(st.channels, 2); /* 3 fds: 2 page channels */
	ck_assert_int_eq(d.status_in_start, VMMIG_STATUS_COMPLETED);
	sides_free(&s, &d);
	/* The sessions owned the fds and closed them. */
	for (int i = 0; i < 3; i++) {
		ck_assert(!fd_open(a[i]));
		ck_assert(!fd_open(b[i]));
	}
}
END_TEST

START_TEST(fds_migrate_tcp)
{
	int a[4], b[4];
	struct side s, d;

	sides_init(&s, &d);
	tcp_pairs(4, a, b);
	ck_assert_int_eq(vmmig_dest_start_fds(d.dst, b, 4), 0);
	ck_assert_int_eq(vmmig_source_start_fds(s.src, a, 4), 0);
	assert_completed(&s, &d);
	sides_free(&s, &d);
}
END_TEST

START_TEST(fds_refused)
{
	int a[2], b[2], p[2], lone;
	struct side s, d;

	sides_init(&s, &d);
	pairs(2, a, b);
	ck_assert_int_eq(pipe(p), 0);
	lone = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(lone, 0);

	ck_assert_int_eq(vmmig_source_start_fds(s.src, a, 1), -EINVAL);
	ck_assert_ptr_nonnull(strstr(vmmig_source_error(s.src), "1 fds"));
	int dup2fd[2] = { a[0], a[0] };
	ck_assert_int_eq(vmmig_source_start_fds(s.src, dup2fd, 2), -EINVAL);
	ck_assert_ptr_nonnull(strstr(vmmig_source_error(s.src), "twice"));
	int pipefd[2] = { a[0], p[0] };
	ck_assert_int_eq(vmmig_source_start_fds(s.src, pipefd, 2), -ENOTSOCK);
	int lonefd[2] = { a[0], lone };
	ck_assert_int_eq(vmmig_source_start_fds(s.src, lonefd, 2), -ENOTCONN);
	ck_assert_ptr_nonnull(strstr(vmmig_source_error(s.src),
				     "not connected"));
	ck_assert_int_eq(vmmig_dest_start_fds(d.dst, lonefd, 2), -ENOTCONN);
	/* Refused: the fds are still the caller's. */
	ck_assert(fd_open(a[0]) && fd_open(a[1]) && fd_open(lone));
	/* And the sessions still work afterwards. */
	ck_assert_int_eq(vmmig_dest_start_fds(d.dst, b, 2), 0);
	ck_assert_int_eq(vmmig_source_start_fds(s.src, a, 2), 0);
	assert_completed(&s, &d);
	close(p[0]);
	close(p[1]);
	close(lone);
	sides_free(&s, &d);
}
END_TEST

/* ---- 4. ERROR: the peer says why it stopped ---- */

struct pol_state {
	int mode;           /* 0 cancel at round 0, 1 fail, 2 throttle,
			     * 3 cancel the destination at round 0 */
	struct vmmig_source *src;
	struct vmmig_dest *dst;
};
static struct pol_state pol_state;

static int test_decide(void *priv, const struct vmmig_round_info *ri,
		       struct vmmig_decision *out)
{
	(void)priv;
	switch (pol_state.mode) {
	case 0:
		vmmig_source_cancel(pol_state.src);
		out->action = VMMIG_ACTION_NEXT_ROUND;
		return 0;
	case 1:
		return -EDOM;
	case 3:
		vmmig_dest_cancel(pol_state.dst);
		out->action = VMMIG_ACTION_NEXT_ROUND;
		return 0;
	default:
		if (ri->round == 0) {
			out->action = VMMIG_ACTION_THROTTLE;
			out->throttle_percent = 30;
			snprintf(out->reason, sizeof(out->reason), "too hot");
		} else {
			out->action = VMMIG_ACTION_STOP_AND_COPY;
		}
		return 0;
	}
}

static const struct vmmig_policy_ops test_policy_ops = {
	.version = VMMIG_POLICY_OPS_VERSION, .name = "my-policy",
	.decide = test_decide };

/* Run a migration over socketpairs with the test policy in @mode. */
static void run_policy(struct side *s, struct side *d, int mode,
		       struct vmmig_policy **pol)
{
	int a[2], b[2];

	sides_init(s, d);
	pairs(2, a, b);
	ck_assert_int_eq(vmmig_policy_new(&test_policy_ops, NULL, pol), 0);
	pol_state = (struct pol_state){ mode, s->src, d->dst };
	ck_assert_int_eq(vmmig_source_set_policy(s->src, *pol), 0);
	ck_assert_int_eq(vmmig_dest_start_fds(d->dst, b, 2), 0);
	ck_assert_int_eq(vmmig_source_start_fds(s->src, a, 2), 0);
}

START_TEST(error_source_cancelled)
{
	struct vmmig_policy *pol;
	struct side s, d;

	run_policy(&s, &d, 0, &pol);
	ck_assert_int_eq(vmmig_source_wait(s.src), -ECANCELED);
	ck_assert_int_eq(vmmig_dest_wait(d.dst), -ECANCELED);
	ck_assert_msg(strstr(vmmig_dest_error(d.dst),
			     "source cancelled the migration"),
		      "destination says: %s", vmmig_dest_error(d.dst));
	ck_assert_int_eq(atomic_load(&d.started), 0);
	sides_free(&s, &d);
	vmmig_policy_free(pol);
}
END_TEST

START_TEST(error_source_policy)
{
	struct vmmig_policy *pol;
	struct side s, d;

	run_policy(&s, &d, 1, &pol);
	ck_assert_int_eq(vmmig_source_wait(s.src), -EDOM);
	ck_assert_int_eq(vmmig_dest_wait(d.dst), -EDOM);
	ck_assert_msg(strstr(vmmig_dest_error(d.dst),
			     "source failed: policy my-policy"),
		      "destination says: %s", vmmig_dest_error(d.dst));
	sides_free(&s, &d);
	vmmig_policy_free(pol);
}
END_TEST

START_TEST(error_dest_cancelled)
{
	struct vmmig_policy *pol;
	struct side s, d;

	run_policy(&s, &d, 3, &pol);
	ck_assert_int_eq(vmmig_dest_wait(d.dst), -ECANCELED);
	int sret = vmmig_source_wait(s.src);
	ck_assert_msg(sret == -ECANCELED, "source %d: %s", sret,
		      vmmig_source_error(s.src));
	ck_assert_msg(strstr(vmmig_source_error(s.src),
			     "destination cancelled the migration"),
		      "source says: %s", vmmig_source_error(s.src));
	ck_assert_int_eq(atomic_load(&d.started), 0);
	sides_free(&s, &d);
	vmmig_policy_free(pol);
}
END_TEST

START_TEST(error_dest_refused_state)
{
	int a[2], b[2];
	struct side s, d;

	sides_init(&s, &d);
	d.fail_load = 1;
	pairs(2, a, b);
	ck_assert_int_eq(vmmig_dest_start_fds(d.dst, b, 2), 0);
	ck_assert_int_eq(vmmig_source_start_fds(s.src, a, 2), 0);
	ck_assert_int_eq(vmmig_source_wait(s.src), -EINVAL);
	ck_assert_int_eq(vmmig_dest_wait(d.dst), -EINVAL);
	ck_assert_msg(strstr(vmmig_source_error(s.src),
			     "destination failed: loading state blob 7"),
		      "source says: %s", vmmig_source_error(s.src));
	ck_assert_int_eq(atomic_load(&s.resumed), 1);
	ck_assert_int_eq(atomic_load(&d.started), 0);
	sides_free(&s, &d);
}
END_TEST

/* ---- 6 + 7. THROTTLE without a callback; a custom policy's mode ---- */

START_TEST(throttle_without_callback)
{
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	struct vmmig_policy *pol;
	struct side s, d;
	char json[4096];

	run_policy(&s, &d, 2, &pol);
	assert_completed(&s, &d);
	ck_assert_msg(strstr(s.warn, "asked to throttle the guest to 30%") &&
		      strstr(s.warn, "no throttle() callback"),
		      "warnings: %s", s.warn);
	ck_assert_int_eq(vmmig_source_get_stats(s.src, &st), 0);
	ck_assert_uint_eq(st.throttle_percent, 0);
	ck_assert_int_eq(st.mode, VMMIG_MODE_CUSTOM);
	ck_assert_str_eq(st.policy, "my-policy");
	ck_assert_int_gt(vmmig_stats_to_json(&st, json, sizeof(json)), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"mode\":\"my-policy\""));
	ck_assert_int_eq(d.status_in_start, VMMIG_STATUS_COMPLETED);
	vmmig_dest_get_stats(d.dst, &st);
	ck_assert_int_eq(st.mode, VMMIG_MODE_PRECOPY);
	sides_free(&s, &d);
	vmmig_policy_free(pol);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("embedder");
	TCase *tc = tcase_create("embedder");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, channels_are_n_plus_urgent);
	tcase_add_test(tc, fds_migrate);
	tcase_add_test(tc, fds_migrate_tcp);
	tcase_add_test(tc, fds_refused);
	tcase_add_test(tc, error_source_cancelled);
	tcase_add_test(tc, error_source_policy);
	tcase_add_test(tc, error_dest_cancelled);
	tcase_add_test(tc, error_dest_refused_state);
	tcase_add_test(tc, throttle_without_callback);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
