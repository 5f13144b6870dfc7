/* SPDX-License-Identifier: MIT */
/*
 * TLS on every channel: migrations with PSK and mutual x509 over each
 * built-in transport, verified byte for byte; refusals (plaintext source,
 * wrong key, a certificate from another CA, a wrong name) before any page
 * lands, with the source guest running on untouched; and a destination
 * that strangers (garbage, an idle connection) cannot knock over.
 *
 * Credentials come from mkcerts.sh (path in $MKCERTS) at test time.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "proxy.h"
#include "testutil.h"

#define GUEST_SIZE (32u << 20)
#define FILL 0xab

static char certs[64]; /* mkcerts.sh's output directory */

static void path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", certs, name);
}

/* A config for @kind: "psk", "wrongpsk", or an x509 set's folder name. */
struct cfg {
	struct vmmig_tls_config c;
	char file[300];
};

static const struct vmmig_tls_config *cfg_make(struct cfg *k,
					       const char *kind)
{
	memset(k, 0, sizeof(*k));
	k->c.struct_size = sizeof(k->c);
	if (!strcmp(kind, "psk") || !strcmp(kind, "wrongpsk")) {
		path(k->file, sizeof(k->file),
		     kind[0] == 'p' ? "keys.psk" : "wrong.psk");
		k->c.psk_file = k->file;
	} else {
		path(k->file, sizeof(k->file), kind);
		k->c.x509_dir = k->file;
	}
	return &k->c;
}

struct src_ctx {
	struct guest g;
	struct vmmig_source *src;
};

/* What the source's log said the handshake agreed on ("TLS: ..."). */
static pthread_mutex_t agreed_lock = PTHREAD_MUTEX_INITIALIZER;
static char agreed[128];
static int agreed_count;

static void src_log(void *o, int level, const char *msg)
{
	(void)o, (void)level;
	pthread_mutex_lock(&agreed_lock);
	if (!strncmp(msg, "TLS: ", 5)) {
		snprintf(agreed, sizeof(agreed), "%s", msg);
		agreed_count++;
	}
	pthread_mutex_unlock(&agreed_lock);
}

static void source_setup(struct src_ctx *s, const char *kind)
{
	struct cfg k;

	ck_assert_int_eq(guest_init(&s->g, GUEST_SIZE, FILL_RANDOM, true), 0);
	s->src = guest_source(&s->g, &guest_source_ops);
	agreed[0] = '\0';
	agreed_count = 0;
	vmmig_source_set_log(s->src, src_log, NULL, VMMIG_LOG_INFO);
	ck_assert_int_eq(vmmig_source_set_option(s->src, VMMIG_OPT_CHANNELS, 2),
			 0);
	ck_assert_int_eq(vmmig_source_set_option(s->src, VMMIG_OPT_VERIFY, 1),
			 0);
	ck_assert_int_eq(vmmig_source_set_option(s->src,
						 VMMIG_OPT_DOWNTIME_LIMIT_MS, 1),
			 0);
	ck_assert_int_eq(vmmig_source_set_option(s->src, VMMIG_OPT_MAX_ROUNDS,
						 4), 0);
	if (kind)
		ck_assert_int_eq(vmmig_source_set_tls(s->src,
						      cfg_make(&k, kind)), 0);
	ck_assert_int_eq(guest_run(&s->g, 50), 0);
}

static void source_teardown(struct src_ctx *s)
{
	vmmig_source_free(s->src);
	guest_stop(&s->g);
	guest_destroy(&s->g);
}

/* Completed: the destination's memory is the source's at pause. */
static void assert_done(struct src_ctx *s, struct dest_proc *d)
{
	assert_migrated(s->src, d);
	ck_assert(atomic_load(&s->g.parked));
	ck_assert_int_eq(d->res->started, 1);
	ck_assert_int_eq(d->res->st.verified, 1);
	ck_assert_msg(memcmp(s->g.mem, d->mem, GUEST_SIZE) == 0,
		      "destination memory differs from the source at pause");
}

static void migrate(const char *listen, const char *src_kind,
		    const char *dst_kind, const char *hostname)
{
	struct dest_opts o = { .listen = listen };
	struct dest_proc d;
	struct src_ctx s;
	struct cfg kd, ks;

	o.tls = cfg_make(&kd, dst_kind);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &o), 0);
	source_setup(&s, NULL);
	cfg_make(&ks, src_kind);
	ks.c.hostname = hostname;
	ck_assert_int_eq(vmmig_source_set_tls(s.src, &ks.c), 0);
	ck_assert_int_eq(vmmig_source_start(s.src, d.uri), 0);
	assert_done(&s, &d);
	/* The default priorities: AES-128-GCM, AES-NI's fastest. */
	ck_assert_msg(strstr(agreed, "AES-128-GCM") != NULL, "agreed on '%s'",
		      agreed);
	dest_release(&d);
	source_teardown(&s);
}

START_TEST(psk_tcp)
{
	migrate("tcp:127.0.0.1:0", "psk", "psk", NULL);
}
END_TEST

START_TEST(psk_unix)
{
	char uri[128];

	snprintf(uri, sizeof(uri), "unix:%s/dest.sock", certs);
	migrate(uri, "psk", "psk", NULL);
}
END_TEST

START_TEST(x509_tcp)
{
	/* The server certificate names 127.0.0.1: the address dialled. */
	migrate("tcp:127.0.0.1:0", "ok", "ok", NULL);
}
END_TEST

START_TEST(x509_unix_named)
{
	char uri[128];

	snprintf(uri, sizeof(uri), "unix:%s/dest.sock", certs);
	migrate(uri, "ok", "ok", "localhost");
}
END_TEST

/* Both sides in this process over the in-process transport. */
START_TEST(psk_inproc)
{
	struct vmmig_dest *dst;
	struct guest gd = { 0 };
	struct src_ctx s;
	struct cfg k;
	uint8_t *mem = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(mem, MAP_FAILED);
	ck_assert_int_eq(vmmig_dest_new(&dst), 0);
	ck_assert_int_eq(vmmig_dest_add_region(dst, 0, 0, mem, GUEST_SIZE), 0);
	ck_assert_int_eq(vmmig_dest_set_ops(dst, &guest_dest_ops, &gd), 0);
	ck_assert_int_eq(vmmig_dest_set_tls(dst, cfg_make(&k, "psk")), 0);
	ck_assert_int_eq(vmmig_dest_listen(dst, "inproc:tls", NULL, 0), 0);
	ck_assert_int_eq(vmmig_dest_start(dst), 0);
	source_setup(&s, "psk");
	ck_assert_int_eq(vmmig_source_start(s.src, "inproc:tls"), 0);
	ck_assert_int_eq(vmmig_source_wait(s.src), 0);
	ck_assert_int_eq(vmmig_dest_wait(dst), 0);
	ck_assert(atomic_load(&s.g.parked));
	ck_assert_msg(memcmp(s.g.mem, mem, GUEST_SIZE) == 0,
		      "destination memory differs from the source at pause");
	vmmig_dest_free(dst);
	munmap(mem, GUEST_SIZE);
	source_teardown(&s);
}
END_TEST

/*
 * Pre-connected sockets (vmmig_*_start_fds), the destination's ends in
 * another order than the source's: every channel shakes hands at once, so
 * the order the destination takes them in does not matter.
 */
static void fds_reordered(const char *kind, const char *hostname)
{
	int a[3], b[3], rev[3];
	struct vmmig_dest *dst;
	struct guest gd = { 0 };
	struct src_ctx s;
	struct cfg kd, ks;
	uint8_t *mem = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(mem, MAP_FAILED);
	for (int i = 0; i < 3; i++) {
		int sv[2];

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		a[i] = sv[0];
		b[i] = sv[1];
	}
	rev[0] = b[2], rev[1] = b[0], rev[2] = b[1];
	ck_assert_int_eq(vmmig_dest_new(&dst), 0);
	ck_assert_int_eq(vmmig_dest_add_region(dst, 0, 0, mem, GUEST_SIZE), 0);
	ck_assert_int_eq(vmmig_dest_set_ops(dst, &guest_dest_ops, &gd), 0);
	ck_assert_int_eq(vmmig_dest_set_tls(dst, cfg_make(&kd, kind)), 0);
	ck_assert_int_eq(vmmig_dest_start_fds(dst, rev, 3), 0);
	source_setup(&s, NULL);
	cfg_make(&ks, kind);
	ks.c.hostname = hostname;
	ck_assert_int_eq(vmmig_source_set_tls(s.src, &ks.c), 0);
	ck_assert_int_eq(vmmig_source_start_fds(s.src, a, 3), 0);
	ck_assert_msg(vmmig_source_wait(s.src) == 0, "source: %s",
		      vmmig_source_error(s.src));
	ck_assert_int_eq(vmmig_dest_wait(dst), 0);
	ck_assert(atomic_load(&s.g.parked));
	ck_assert_msg(memcmp(s.g.mem, mem, GUEST_SIZE) == 0,
		      "destination memory differs from the source at pause");
	vmmig_dest_free(dst);
	munmap(mem, GUEST_SIZE);
	source_teardown(&s);
}

START_TEST(psk_fds_reordered)
{
	fds_reordered("psk", NULL);
}
END_TEST

START_TEST(x509_fds_reordered)
{
	fds_reordered("ok", "localhost");
}
END_TEST

/*
 * A refused source: its error names the reason; its guest runs on with
 * memory exactly as it wrote it; the destination dropped the connection,
 * wrote nothing, and gave up only at its own deadline.
 */
static void refused(const char *src_kind, const char *dst_kind,
		    const char *hostname, int src_err, const char *src_msg,
		    const char *dst_msg)
{
	struct dest_opts o = { .listen = "tcp:127.0.0.1:0", .fill = FILL,
			       .accept_timeout_ms = 2500 };
	struct dest_proc d;
	struct src_ctx s;
	struct cfg kd, ks;
	uint64_t w;

	if (dst_kind)
		o.tls = cfg_make(&kd, dst_kind);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &o), 0);
	source_setup(&s, NULL);
	if (src_kind) {
		cfg_make(&ks, src_kind);
		ks.c.hostname = hostname;
		ck_assert_int_eq(vmmig_source_set_tls(s.src, &ks.c), 0);
	}
	ck_assert_int_eq(vmmig_source_start(s.src, d.uri), 0);
	ck_assert_int_eq(vmmig_source_wait(s.src), src_err);
	ck_assert_msg(strstr(vmmig_source_error(s.src), src_msg),
		      "source error: %s", vmmig_source_error(s.src));
	/* The guest runs on, never paused, memory as it wrote it. */
	ck_assert_int_eq(atomic_load(&s.g.pauses), 0);
	w = atomic_load(&s.g.writes);
	for (int i = 0; i < 200 && atomic_load(&s.g.writes) == w; i++)
		usleep(5000);
	ck_assert_uint_gt(atomic_load(&s.g.writes), w);
	guest_stop(&s.g);
	ck_assert_msg(memcmp(s.g.mem, s.g.shadow, GUEST_SIZE) == 0,
		      "source memory was modified");

	ck_assert_int_eq(dest_reap(&d), 1);
	ck_assert_int_eq(d.res->ret, -ETIMEDOUT);
	ck_assert_int_eq(d.res->started, 0);
	ck_assert_msg(strstr(d.res->error, dst_msg), "destination error: %s",
		      d.res->error);
	ck_assert_uint_ge(d.res->st.rejected_connections, 1);
	for (size_t i = 0; i < GUEST_SIZE; i++)
		if (d.mem[i] != FILL)
			ck_abort_msg("destination memory written at %zu", i);
	dest_release(&d);
	source_teardown(&s);
}

START_TEST(plaintext_source_refused)
{
	refused(NULL, "psk", NULL, -EACCES, "TLS connections only",
		"does not speak TLS");
}
END_TEST

START_TEST(tls_source_to_plaintext_dest)
{
	refused("psk", NULL, NULL, -EPROTO, "does not speak TLS",
		"not a migration stream");
}
END_TEST

START_TEST(wrong_psk_refused)
{
	refused("wrongpsk", "psk", NULL, -EACCES, "TLS", "TLS");
}
END_TEST

/* The source's client certificate comes from another CA. */
START_TEST(foreign_client_ca_refused)
{
	refused("foreign", "ok", NULL, -EACCES, "TLS", "ertificate");
}
END_TEST

/* The destination's certificate comes from a CA the source does not
 * trust. */
START_TEST(foreign_server_ca_refused)
{
	refused("other", "ok", NULL, -EACCES, "certificate", "TLS");
}
END_TEST

START_TEST(wrong_name_refused)
{
	refused("ok", "ok", "db7.example.org", -EACCES, "certificate", "TLS");
}
END_TEST

/*
 * Strangers first: a connection of random bytes, then one that stays
 * silent; the real source arrives after them and completes, verified.
 */
static void strangers_then_source(const char *kind)
{
	struct dest_opts o = { .listen = "tcp:127.0.0.1:0",
			       .handshake_timeout_ms = 1000 };
	struct dest_proc d;
	struct src_ctx s;
	struct cfg kd;
	uint8_t junk[4096];
	int fd_junk, fd_idle;

	if (kind)
		o.tls = cfg_make(&kd, kind);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &o), 0);
	fill_random(junk, sizeof(junk), 7);
	fd_junk = tcp_connect_uri(d.uri);
	ck_assert_int_ge(fd_junk, 0);
	ck_assert_int_eq(write(fd_junk, junk, sizeof(junk)), sizeof(junk));
	fd_idle = tcp_connect_uri(d.uri);
	ck_assert_int_ge(fd_idle, 0);
	source_setup(&s, kind);
	ck_assert_int_eq(vmmig_source_start(s.src, d.uri), 0);
	assert_done(&s, &d);
	ck_assert_uint_eq(d.res->st.rejected_connections, 2);
	close(fd_junk);
	close(fd_idle);
	dest_release(&d);
	source_teardown(&s);
}

START_TEST(strangers_plaintext)
{
	strangers_then_source(NULL);
}
END_TEST

START_TEST(strangers_psk)
{
	strangers_then_source("psk");
}
END_TEST

START_TEST(strangers_x509)
{
	strangers_then_source("ok");
}
END_TEST

/* A source with the wrong key first: refused and counted; then ours
 * completes. */
START_TEST(wrong_key_then_source)
{
	struct dest_opts o = { .listen = "tcp:127.0.0.1:0" };
	struct src_ctx bad, good;
	struct dest_proc d;
	struct cfg kd;

	o.tls = cfg_make(&kd, "psk");
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &o), 0);
	source_setup(&bad, "wrongpsk");
	ck_assert_int_eq(vmmig_source_start(bad.src, d.uri), 0);
	ck_assert_int_eq(vmmig_source_wait(bad.src), -EACCES);
	ck_assert_int_eq(atomic_load(&bad.g.pauses), 0);
	source_teardown(&bad);
	source_setup(&good, "psk");
	ck_assert_int_eq(vmmig_source_start(good.src, d.uri), 0);
	assert_done(&good, &d);
	ck_assert_uint_ge(d.res->st.rejected_connections, 1);
	dest_release(&d);
	source_teardown(&good);
}
END_TEST

/* A cancel while an idle stranger holds the handshake ends at once, not
 * at the handshake deadline. */
START_TEST(cancel_with_idle_stranger)
{
	static uint8_t mem[1 << 20] __attribute__((aligned(4096)));
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	struct vmmig_dest *dst;
	struct guest gd = { 0 };
	char uri[128];
	struct timespec t0, t1;
	int fd;

	ck_assert_int_eq(vmmig_dest_new(&dst), 0);
	ck_assert_int_eq(vmmig_dest_add_region(dst, 0, 0, mem, sizeof(mem)),
			 0);
	ck_assert_int_eq(vmmig_dest_set_ops(dst, &guest_dest_ops, &gd), 0);
	ck_assert_int_eq(vmmig_dest_set_option(dst,
					       VMMIG_OPT_HANDSHAKE_TIMEOUT_MS,
					       20000), 0);
	ck_assert_int_eq(vmmig_dest_listen(dst, "tcp:127.0.0.1:0", uri,
					   sizeof(uri)), 0);
	ck_assert_int_eq(vmmig_dest_start(dst), 0);
	fd = tcp_connect_uri(uri);
	ck_assert_int_ge(fd, 0);
	usleep(200000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(vmmig_dest_cancel(dst), 0);
	ck_assert_int_eq(vmmig_dest_wait(dst), -ECANCELED);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 3);
	ck_assert_int_eq(vmmig_dest_get_stats(dst, &st), 0);
	ck_assert_int_eq(st.status, VMMIG_STATUS_CANCELLED);
	close(fd);
	vmmig_dest_free(dst);
}
END_TEST

/*
 * Post-copy recovery with TLS on every channel: a proxy cuts the link in
 * the middle of the post-copy phase; both sides pause (the destination's
 * vCPU waits on its faults), the source reconnects, shaking hands again on
 * every channel, and the migration completes with every page: memory
 * equal byte for byte and the page-sum hash verified.
 */
static void postcopy_recovery(const char *kind)
{
	struct dest_opts o = { .listen = "tcp:127.0.0.1:0",
			       .vcpu_reads_ms = 400 };
	struct vmmig_postcopy_config pcc = {
		.flags = VMMIG_POSTCOPY_NO_FIRST_PASS };
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	struct vmmig_policy *pol;
	struct dest_proc d;
	struct src_ctx s;
	struct proxy px;
	struct cfg kd;
	int ret;

	o.tls = cfg_make(&kd, kind);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &o), 0);
	/* Each of the two page channels carries about 16 MiB after the
	 * switch: cut channel 0 at 6 MiB, well inside post-copy. */
	ck_assert_int_eq(proxy_start(&px, d.uri, SIZE_MAX, 6u << 20), 0);
	source_setup(&s, kind);
	ck_assert_int_eq(vmmig_policy_new_postcopy(&pcc, &pol), 0);
	ck_assert_int_eq(vmmig_source_set_policy(s.src, pol), 0);
	vmmig_source_set_option(s.src, VMMIG_OPT_BANDWIDTH_LIMIT, 100 << 20);
	vmmig_source_set_option(s.src, VMMIG_OPT_IO_TIMEOUT_MS, 2000);
	vmmig_source_set_option(s.src, VMMIG_OPT_RECOVERY_TIMEOUT_MS, 10000);
	ck_assert_int_eq(vmmig_source_start(s.src, px.uri), 0);
	ret = vmmig_source_wait(s.src);
	ck_assert_int_eq(dest_reap(&d), 0);
	ck_assert_msg(ret == 0, "source: %s (%s); destination: %s",
		      vmmig_strerror(ret),
		      vmmig_source_error(s.src) ? vmmig_source_error(s.src)
						: "", d.res->error);
	ck_assert_int_eq(atomic_load(&px.cuts), 1);
	ck_assert_int_eq(vmmig_source_get_stats(s.src, &st), 0);
	ck_assert_uint_ge(st.postcopy_recoveries, 1);
	ck_assert_uint_ge(d.res->st.postcopy_recoveries, 1);
	ck_assert_int_eq(st.verified, 1);
	ck_assert_int_eq(d.res->st.verified, 1);
	ck_assert_int_eq(d.res->started, 1);
	ck_assert_uint_gt(d.res->vcpu_reads, 0);
	/* TLS again after the reconnect, with the default cipher. */
	pthread_mutex_lock(&agreed_lock);
	ck_assert_int_ge(agreed_count, 2);
	ck_assert_msg(strstr(agreed, "AES-128-GCM") != NULL, "agreed on '%s'",
		      agreed);
	pthread_mutex_unlock(&agreed_lock);
	ck_assert(atomic_load(&s.g.parked));
	ck_assert_msg(memcmp(s.g.mem, d.mem, GUEST_SIZE) == 0,
		      "destination memory differs after recovery over TLS");
	vmmig_policy_free(pol);
	proxy_stop(&px);
	dest_release(&d);
	source_teardown(&s);
}

START_TEST(postcopy_recovery_psk)
{
	postcopy_recovery("psk");
}
END_TEST

START_TEST(postcopy_recovery_x509)
{
	postcopy_recovery("ok");
}
END_TEST

START_TEST(bad_config)
{
	struct vmmig_tls_config c = { .struct_size = sizeof(c) };
	struct vmmig_source *src;
	struct vmmig_dest *dst;
	char file[300];

	ck_assert_int_eq(vmmig_source_new(&src), 0);
	ck_assert_int_eq(vmmig_dest_new(&dst), 0);
	ck_assert_int_eq(vmmig_source_set_tls(src, &c), -EINVAL);
	c.psk_file = "/nonexistent/keys.psk";
	ck_assert_int_eq(vmmig_source_set_tls(src, &c), -ENOENT);
	path(file, sizeof(file), "keys.psk");
	c.psk_file = file;
	c.psk_identity = "nobody";
	ck_assert_int_eq(vmmig_source_set_tls(src, &c), -EINVAL);
	c.psk_identity = NULL;
	c.priority = "NOT-A-PRIORITY";
	ck_assert_int_eq(vmmig_dest_set_tls(dst, &c), -EINVAL);
	c.priority = NULL;
	c.x509_dir = certs; /* both kinds */
	ck_assert_int_eq(vmmig_dest_set_tls(dst, &c), -EINVAL);
	c.psk_file = NULL; /* no ca-cert.pem there */
	ck_assert_int_eq(vmmig_dest_set_tls(dst, &c), -ENOENT);
	ck_assert_int_eq(vmmig_dest_set_tls(dst, NULL), 0);
	vmmig_dest_free(dst);
	vmmig_source_free(src);
}
END_TEST

/* Credentials into a fresh folder; 77 when certtool is missing. */
static int make_certs(void)
{
	const char *script = getenv("MKCERTS");
	char cmd[1024];
	int ret;

	snprintf(certs, sizeof(certs), "/tmp/vmmig-tls-XXXXXX");
	if (!script || !mkdtemp(certs))
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "sh '%s' '%s' && mkdir '%s/foreign' && "
		 "cp '%s/ok/ca-cert.pem' '%s/foreign/' && "
		 "cp '%s'/other/client-*.pem '%s/foreign/'",
		 script, certs, certs, certs, certs, certs, certs);
	ret = system(cmd);
	return WIFEXITED(ret) ? WEXITSTATUS(ret) : -1;
}

int main(void)
{
	struct vmmig_source *probe;
	struct vmmig_tls_config c = { .struct_size = sizeof(c),
				      .psk_file = "/dev/null" };
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("tls");
	char cmd[300];
	int ret;

	signal(SIGPIPE, SIG_IGN);
	if (vmmig_source_new(&probe))
		return 1;
	ret = vmmig_source_set_tls(probe, &c);
	vmmig_source_free(probe);
	if (ret == -ENOTSUP)
		return vmtest_skip("libvmmig built without GnuTLS");
	ret = make_certs();
	if (ret == VMTEST_SKIP)
		return vmtest_skip("certtool (gnutls-bin) missing");
	if (ret)
		return 1;
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, bad_config);
	tcase_add_test(tc, cancel_with_idle_stranger);
	tcase_add_test(tc, psk_tcp);
	tcase_add_test(tc, psk_unix);
	tcase_add_test(tc, psk_inproc);
	tcase_add_test(tc, x509_tcp);
	tcase_add_test(tc, x509_unix_named);
	tcase_add_test(tc, psk_fds_reordered);
	tcase_add_test(tc, x509_fds_reordered);
	tcase_add_test(tc, plaintext_source_refused);
	tcase_add_test(tc, tls_source_to_plaintext_dest);
	tcase_add_test(tc, wrong_psk_refused);
	tcase_add_test(tc, foreign_client_ca_refused);
	tcase_add_test(tc, foreign_server_ca_refused);
	tcase_add_test(tc, wrong_name_refused);
	tcase_add_test(tc, wrong_key_then_source);
	tcase_add_test(tc, strangers_plaintext);
	tcase_add_test(tc, strangers_psk);
	tcase_add_test(tc, strangers_x509);
	tcase_add_test(tc, postcopy_recovery_psk);
	tcase_add_test(tc, postcopy_recovery_x509);
	suite_add_tcase(s, tc);
	ret = vmtest_run(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certs);
	if (system(cmd)) {
		/* best effort */
	}
	return ret;
}
