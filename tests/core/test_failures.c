/* SPDX-License-Identifier: MIT */
/*
 * Failures before the switchover: the source guest keeps running (or is
 * resumed), its memory is untouched, and the error says what happened.
 * "Untouched" is checked against a shadow copy the guest's writer keeps of
 * everything it wrote: the library must not have written a byte.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "proxy.h"
#include "testutil.h"
#include "wire/wire.h"

#define GUEST_SIZE (64u << 20)

struct src_ctx {
	struct guest g;
	struct vmmig_source *src;
};

static void source_setup(struct src_ctx *s, int64_t bandwidth)
{
	ck_assert_int_eq(guest_init(&s->g, GUEST_SIZE, FILL_RANDOM, true), 0);
	s->src = guest_source(&s->g, &guest_source_ops);
	ck_assert_int_eq(vmmig_source_set_option(s->src, VMMIG_OPT_CHANNELS, 2),
			 0);
	ck_assert_int_eq(vmmig_source_set_option(s->src,
						 VMMIG_OPT_BANDWIDTH_LIMIT,
						 bandwidth), 0);
	/* Generous: sanitizer builds are slow, and only silent_destination
	 * is about the timeout (it sets its own). */
	ck_assert_int_eq(vmmig_source_set_option(s->src,
						 VMMIG_OPT_IO_TIMEOUT_MS, 10000),
			 0);
}

/* The writer starts only now: forking the destination while other threads
 * run can leave the child stuck on a lock one of them held (sanitizer
 * runtimes notably). */
static void source_go(struct src_ctx *s, const char *uri)
{
	ck_assert_int_eq(guest_run(&s->g, 50), 0);
	ck_assert_int_eq(vmmig_source_start(s->src, uri), 0);
}

/* The guest runs after the failure, and memory is exactly what it wrote. */
static void assert_source_intact(struct src_ctx *s)
{
	uint64_t w = atomic_load(&s->g.writes);

	ck_assert_int_eq(atomic_load(&s->g.pauses), atomic_load(&s->g.resumes));
	for (int i = 0; i < 200 && atomic_load(&s->g.writes) == w; i++)
		usleep(5000);
	ck_assert_msg(atomic_load(&s->g.writes) > w,
		      "guest heartbeat stopped after the failure");
	guest_stop(&s->g);
	ck_assert_msg(memcmp(s->g.mem, s->g.shadow, GUEST_SIZE) == 0,
		      "source memory was modified");
}

static void source_teardown(struct src_ctx *s)
{
	vmmig_source_free(s->src);
	guest_stop(&s->g);
	guest_destroy(&s->g);
}

static void wait_progress(struct vmmig_source *src, uint64_t bytes)
{
	struct vmmig_stats st = { .struct_size = sizeof(st) };

	for (int i = 0; i < 10000; i++) {
		vmmig_source_get_stats(src, &st);
		if (st.transferred_bytes >= bytes)
			return;
		usleep(2000);
	}
	ck_abort_msg("migration made no progress");
}

START_TEST(cancel_midway)
{
	struct dest_opts o = { .listen = "tcp:127.0.0.1:0" };
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	struct dest_proc d;
	struct src_ctx s;

	source_setup(&s, 20 << 20); /* ~3 s at 20 MB/s */
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &o), 0);
	source_go(&s, d.uri);
	wait_progress(s.src, 4 << 20);
	ck_assert_int_eq(vmmig_source_cancel(s.src), 0);
	ck_assert_int_eq(vmmig_source_wait(s.src), -ECANCELED);
	ck_assert_ptr_nonnull(strstr(vmmig_source_error(s.src), "cancel"));
	vmmig_source_get_stats(s.src, &st);
	ck_assert_int_eq(st.status, VMMIG_STATUS_CANCELLED);
	/* Cancelled before COMMIT: the guest is the source's. */
	ck_assert_int_eq(st.owner, VMMIG_OWNER_SOURCE);
	assert_source_intact(&s);
	/* The destination fails too, and never starts the guest. */
	ck_assert_int_ne(dest_reap(&d), 0);
	ck_assert_int_eq(d.res->started, 0);
	ck_assert_int_ne(d.res->ret, 0);
	dest_release(&d);
	source_teardown(&s);
}
END_TEST

START_TEST(destination_killed)
{
	struct dest_opts o = { .listen = "tcp:127.0.0.1:0" };
	struct dest_proc d;
	struct src_ctx s;
	int ret;

	source_setup(&s, 20 << 20);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &o), 0);
	source_go(&s, d.uri);
	wait_progress(s.src, 4 << 20);
	kill(d.pid, SIGKILL);
	ret = vmmig_source_wait(s.src);
	ck_assert_msg(ret == -ECONNRESET || ret == -EPIPE, "got %d (%s)", ret,
		      vmmig_source_error(s.src));
	assert_source_intact(&s);
	dest_release(&d);
	source_teardown(&s);
}
END_TEST

START_TEST(destination_fails_after_pause)
{
	/* load_state fails on the destination: the source has already paused
	 * the guest and must resume it, reporting the destination's reason. */
	struct dest_opts o = { .listen = "tcp:127.0.0.1:0",
			       .fail_load_state = 1 };
	struct dest_proc d;
	struct src_ctx s;

	source_setup(&s, 0);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &o), 0);
	source_go(&s, d.uri);
	ck_assert_int_eq(vmmig_source_wait(s.src), -EINVAL);
	ck_assert_ptr_nonnull(strstr(vmmig_source_error(s.src),
				     "loading state blob"));
	ck_assert_int_eq(atomic_load(&s.g.pauses), 1);
	assert_source_intact(&s);
	ck_assert_int_ne(dest_reap(&d), 0);
	ck_assert_int_eq(d.res->started, 0);
	dest_release(&d);
	source_teardown(&s);
}
END_TEST

/* A fake peer on a TCP socket: what it does decides the test. */
struct fake_peer {
	int lfd, port;
	pthread_t th;
	int mode; /* 0: send garbage, 1: stay silent */
};

static void *fake_main(void *arg)
{
	struct fake_peer *f = arg;
	uint8_t junk[4096];
	int fd = accept(f->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	if (f->mode == 0) {
		fill_random(junk, sizeof(junk), 99);
		(void)!write(fd, junk, sizeof(junk));
	}
	/* Hold the connection until the source gives up. */
	while (read(fd, junk, sizeof(junk)) > 0)
		;
	close(fd);
	return NULL;
}

static void fake_start(struct fake_peer *f, int mode)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	f->mode = mode;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(f->lfd, 0);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(f->lfd, 8), 0);
	getsockname(f->lfd, (struct sockaddr *)&a, &len);
	f->port = ntohs(a.sin_port);
	pthread_create(&f->th, NULL, fake_main, f);
}

static void fake_stop(struct fake_peer *f)
{
	shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->th, NULL);
	close(f->lfd);
}

/* vmmig_source_error() from another thread, all through a migration that
 * fails after the pause (the source first sees the link drop, then the
 * destination's own words replace that text): every pointer it returns
 * keeps the text it had when first seen, until vmmig_source_free(). With
 * a buffer the failure path rewrote, a reader would see a text change
 * under its pointer (and TSan a race). Bounded: the reader stops at the
 * end, after 10^8 calls or after 20 s. */
#define HAMMER_SEEN 64
#define HAMMER_CALLS 100000000ul
#define HAMMER_US (20ull * 1000000)

struct hammer {
	struct vmmig_source *src;
	atomic_bool stop;
	const char *ptr[HAMMER_SEEN];
	char text[HAMMER_SEEN][400];
	unsigned n;
	atomic_ulong calls;
	unsigned long changed;
};

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void hammer_check(struct hammer *h, const char *e)
{
	for (unsigned i = 0; i < h->n; i++) {
		if (h->ptr[i] == e) {
			h->changed += strcmp(h->text[i], e) != 0;
			return;
		}
	}
	if (h->n < HAMMER_SEEN) {
		h->ptr[h->n] = e;
		snprintf(h->text[h->n], sizeof(h->text[0]), "%s", e);
		h->n++;
	}
}

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	uint64_t t0 = mono_us();

	while (!atomic_load(&h->stop) && atomic_load(&h->calls) < HAMMER_CALLS &&
	       mono_us() - t0 < HAMMER_US) {
		const char *e = vmmig_source_error(h->src);

		if (e)
			hammer_check(h, e);
		if (!(atomic_load(&h->calls) % 64)) {
			vmmig_source_get_stats(h->src, &st);
			vmmig_source_owner(h->src);
		}
		atomic_fetch_add(&h->calls, 1);
	}
	return NULL;
}

START_TEST(error_from_any_thread)
{
	struct dest_opts o = { .listen = "tcp:127.0.0.1:0",
			       .fail_load_state = 1 };
	struct hammer h = { 0 };
	struct dest_proc d;
	struct src_ctx s;
	pthread_t t;

	source_setup(&s, 0);
	h.src = s.src;
	/* Forked before any thread of ours runs (see source_go()). */
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &o), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, hammer_main, &h), 0);
	/* Refused configuration calls rewrite the text too: alternate two
	 * reasons for 20000 calls while the reader runs. */
	for (int i = 0; i < 10000 && !atomic_load(&h.calls); i++)
		usleep(100);
	for (int i = 0; i < 20000; i++)
		ck_assert_int_eq(vmmig_source_set_option(s.src,
				 i & 1 ? VMMIG_OPT_POPULATE
				       : VMMIG_OPT_RECV_DIRECT, 1), -EINVAL);
	source_go(&s, d.uri);
	ck_assert_int_eq(vmmig_source_wait(s.src), -EINVAL);
	atomic_store(&h.stop, true);
	pthread_join(t, NULL);
	ck_assert_msg(h.changed == 0, "%lu texts changed under their pointer",
		      h.changed);
	ck_assert_uint_gt(h.n, 0);
	/* Still valid and unchanged after the end, until free. */
	for (unsigned i = 0; i < h.n; i++)
		ck_assert_str_eq(h.ptr[i], h.text[i]);
	ck_assert_ptr_nonnull(strstr(vmmig_source_error(s.src),
				     "loading state blob"));
	assert_source_intact(&s);
	ck_assert_int_ne(dest_reap(&d), 0);
	dest_release(&d);
	source_teardown(&s);
}
END_TEST

START_TEST(garbage_from_destination)
{
	struct fake_peer f;
	struct src_ctx s;
	char uri[64];

	fake_start(&f, 0);
	source_setup(&s, 0);
	vmmig_source_set_option(s.src, VMMIG_OPT_CHANNELS, 1);
	snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%d", f.port);
	source_go(&s, uri);
	ck_assert_int_eq(vmmig_source_wait(s.src), -EPROTO);
	ck_assert_ptr_nonnull(strstr(vmmig_source_error(s.src), "handshake"));
	assert_source_intact(&s);
	source_teardown(&s);
	fake_stop(&f);
}
END_TEST

START_TEST(silent_destination)
{
	struct fake_peer f;
	struct src_ctx s;
	char uri[64];

	fake_start(&f, 1);
	source_setup(&s, 0);
	vmmig_source_set_option(s.src, VMMIG_OPT_CHANNELS, 1);
	vmmig_source_set_option(s.src, VMMIG_OPT_IO_TIMEOUT_MS, 1000);
	snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%d", f.port);
	uint64_t t0 = (uint64_t)time(NULL);
	source_go(&s, uri);
	ck_assert_int_eq(vmmig_source_wait(s.src), -ETIMEDOUT);
	ck_assert_uint_le((uint64_t)time(NULL) - t0, 5);
	assert_source_intact(&s);
	source_teardown(&s);
	fake_stop(&f);
}
END_TEST

START_TEST(uuid_mismatch)
{
	const uint8_t other[16] = { 1, 2, 3 };
	/* The destination drops the stranger and waits for its own source
	 * until its deadline. */
	struct dest_opts o = { .listen = "tcp:127.0.0.1:0", .uuid = other,
			       .accept_timeout_ms = 3000 };
	struct dest_proc d;
	struct src_ctx s;

	source_setup(&s, 0);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &o), 0);
	source_go(&s, d.uri);
	ck_assert_int_eq(vmmig_source_wait(s.src), -EPROTO);
	ck_assert_ptr_nonnull(strstr(vmmig_source_error(s.src), "uuid"));
	assert_source_intact(&s);
	ck_assert_int_ne(dest_reap(&d), 0);
	ck_assert_int_eq(d.res->ret, -ETIMEDOUT);
	ck_assert_ptr_nonnull(strstr(d.res->error, "uuid"));
	ck_assert_uint_ge(d.res->st.rejected_connections, 1);
	dest_release(&d);
	source_teardown(&s);
}
END_TEST

START_TEST(region_mismatch)
{
	struct dest_opts o = { .listen = "tcp:127.0.0.1:0",
			       .region_size = GUEST_SIZE / 2 };
	struct dest_proc d;
	struct src_ctx s;

	source_setup(&s, 0);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &o), 0);
	source_go(&s, d.uri);
	ck_assert_int_eq(vmmig_source_wait(s.src), -EPROTO);
	ck_assert_ptr_nonnull(strstr(vmmig_source_error(s.src), "region"));
	assert_source_intact(&s);
	dest_release(&d);
	source_teardown(&s);
}
END_TEST

/*
 * A proxy flips one bit of a PAGES record's descriptor (a page index) after
 * 5 MiB: the destination must reject the record (CRC, checked before any
 * of its pages lands), tell the source, and the source must resume with
 * the destination's reason. (A flipped page byte is no CRC error: the
 * memory digest catches it, test_verify.c.)
 */
START_TEST(corrupted_stream)
{
	struct dest_opts o = { .listen = "tcp:127.0.0.1:0" };
	struct dest_proc d;
	struct proxy px;
	struct src_ctx s;

	source_setup(&s, 0);
	vmmig_source_set_option(s.src, VMMIG_OPT_CHANNELS, 1);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &o), 0);
	ck_assert_int_eq(proxy_start(&px, d.uri, 5u << 20, SIZE_MAX), 0);
	px.flip = PROXY_FLIP_DESC;
	source_go(&s, px.uri);
	ck_assert_int_eq(vmmig_source_wait(s.src), -EPROTO);
	ck_assert(atomic_load(&px.flipped));
	ck_assert_msg(strstr(vmmig_source_error(s.src), "crc"),
		      "error: %s", vmmig_source_error(s.src));
	assert_source_intact(&s);
	ck_assert_int_ne(dest_reap(&d), 0);
	ck_assert_int_eq(d.res->started, 0);
	ck_assert_int_eq(d.res->ret, -EPROTO);
	proxy_stop(&px);
	dest_release(&d);
	source_teardown(&s);
}
END_TEST

/* The link cut with no bandwidth cap: each page channel has several
 * records in flight (pipelined sends) when its connection goes. A clear
 * error; the guest runs on, untouched; the destination never starts it. */
START_TEST(pipelined_link_cut)
{
	struct dest_opts o = { .listen = "tcp:127.0.0.1:0" };
	struct dest_proc d;
	struct proxy px;
	struct src_ctx s;
	int ret;

	source_setup(&s, 0);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &o), 0);
	ck_assert_int_eq(proxy_start(&px, d.uri, SIZE_MAX, 12u << 20), 0);
	source_go(&s, px.uri);
	ret = vmmig_source_wait(s.src);
	ck_assert_msg(ret == -ECONNRESET || ret == -EPIPE, "got %d (%s)", ret,
		      vmmig_source_error(s.src));
	assert_source_intact(&s);
	ck_assert_int_ne(dest_reap(&d), 0);
	ck_assert_int_eq(d.res->started, 0);
	proxy_stop(&px);
	dest_release(&d);
	source_teardown(&s);
}
END_TEST

/* Garbage or a foreign protocol version sent to a destination: a clear
 * error, nothing written to guest memory; the destination drops the
 * connection and waits for its source until its deadline. */
static void send_to_dest(const void *buf, size_t len, const char *expect)
{
	struct dest_opts o = { .listen = "tcp:127.0.0.1:0", .fill = 0xab,
			       .accept_timeout_ms = 1500 };
	struct dest_proc d;
	uint8_t reply[512];
	int fd;

	ck_assert_int_eq(dest_spawn(&d, 1 << 20, &o), 0);
	fd = tcp_connect_uri(d.uri);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	/* The destination answers HELLO_ACK with its reason, then closes. */
	ssize_t n = read(fd, reply, sizeof(reply));
	close(fd);
	ck_assert_int_eq(dest_reap(&d), 1);
	ck_assert_int_eq(d.res->ret, -ETIMEDOUT);
	ck_assert_msg(strstr(d.res->error, expect), "error: %s", d.res->error);
	ck_assert_uint_eq(d.res->st.rejected_connections, 1);
	ck_assert_int_gt(n, WIRE_HDR_SIZE);
	for (size_t i = 0; i < d.size; i++)
		ck_assert_uint_eq(d.mem[i], 0xab);
	dest_release(&d);
}

START_TEST(garbage_to_destination)
{
	uint8_t junk[4096];

	fill_random(junk, sizeof(junk), 5);
	send_to_dest(junk, sizeof(junk), "not a migration stream");
}
END_TEST

START_TEST(wrong_version)
{
	struct wire_region r = { .id = 0, .size = 1 << 20 };
	struct wire_hello h = { .magic = WIRE_MAGIC, .version = WIRE_VERSION + 1,
				.nchannels = 1, .page_size = 4096,
				.nregions = 1 };
	uint8_t payload[256], rec[WIRE_HDR_SIZE + 256];
	struct iovec iov;
	int len = wire_hello_pack(payload, sizeof(payload), &h, &r);

	ck_assert_int_gt(len, 0);
	iov = (struct iovec){ payload, (size_t)len };
	wire_record_seal(rec, WIRE_HELLO, 0, 0, &iov, 1);
	memcpy(rec + WIRE_HDR_SIZE, payload, (size_t)len);
	send_to_dest(rec, WIRE_HDR_SIZE + (size_t)len, "version");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("failures");
	TCase *tc = tcase_create("before-switchover");

	signal(SIGPIPE, SIG_IGN);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, cancel_midway);
	tcase_add_test(tc, destination_killed);
	tcase_add_test(tc, destination_fails_after_pause);
	tcase_add_test(tc, error_from_any_thread);
	tcase_add_test(tc, garbage_from_destination);
	tcase_add_test(tc, silent_destination);
	tcase_add_test(tc, uuid_mismatch);
	tcase_add_test(tc, region_mismatch);
	tcase_add_test(tc, corrupted_stream);
	tcase_add_test(tc, pipelined_link_cut);
	tcase_add_test(tc, garbage_to_destination);
	tcase_add_test(tc, wrong_version);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
