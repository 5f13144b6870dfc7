/* SPDX-License-Identifier: MIT */
/*
 * Pre-copy end to end between two processes: the source (this process) runs
 * a guest whose writer thread keeps dirtying memory during the migration;
 * the destination runs in a child. Afterwards the destination's memory must
 * equal the source's memory at the pause, byte for byte, and the state blobs
 * (heartbeat) must have arrived.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "testutil.h"

#define GUEST_SIZE (32u << 20)

struct params {
	const char *listen;
	int channels;
	int compression;
	int64_t delta_cache;
	enum guest_fill fill;
	int64_t bandwidth; /* 0: none */
	int recv_staged;
	int populate;
};

static void migrate(const struct params *p)
{
	struct dest_opts dopt = { .listen = p->listen,
				  .recv_staged = p->recv_staged,
				  .populate = p->populate };
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	struct vmmig_source *src;
	struct dest_proc d;
	struct guest g;
	char json[2048];
	int ret;

	ck_assert_int_eq(guest_init(&g, GUEST_SIZE, p->fill, false), 0);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &dopt), 0);

	src = guest_source(&g, &guest_source_ops);
	ck_assert_int_eq(vmmig_source_set_option(src, VMMIG_OPT_CHANNELS,
						 p->channels), 0);
	ck_assert_int_eq(vmmig_source_set_option(src, VMMIG_OPT_COMPRESSION,
						 p->compression), 0);
	ck_assert_int_eq(vmmig_source_set_option(src,
						 VMMIG_OPT_DELTA_CACHE_BYTES,
						 p->delta_cache), 0);
	ck_assert_int_eq(vmmig_source_set_option(src, VMMIG_OPT_BANDWIDTH_LIMIT,
						 p->bandwidth), 0);
	/* A tight limit forces several rounds while the writer runs. */
	ck_assert_int_eq(vmmig_source_set_option(src,
						 VMMIG_OPT_DOWNTIME_LIMIT_MS, 1), 0);
	ck_assert_int_eq(vmmig_source_set_option(src, VMMIG_OPT_MAX_ROUNDS, 6),
			 0);
	ck_assert_int_eq(vmmig_source_set_option(src, VMMIG_OPT_VERIFY, 1), 0);

	ck_assert_int_eq(guest_run(&g, 20), 0);
	usleep(20000);
	/* On a loaded machine the writer may not have run yet: wait (up to
	 * 2 s) until it has, so that it is running when the migration
	 * starts. */
	for (int i = 0; i < 2000 && atomic_load(&g.writes) == 0; i++)
		usleep(1000);
	uint64_t writes_before = atomic_load(&g.writes);
	ck_assert_int_eq(vmmig_source_start(src, d.uri), 0);
	ret = vmmig_source_wait(src);
	ck_assert_msg(ret == 0, "source: %s (%s)", vmmig_strerror(ret),
		      vmmig_source_error(src) ? vmmig_source_error(src) : "");
	/* The guest stays paused on the source after a completed migration. */
	ck_assert(atomic_load(&g.parked));
	uint64_t writes_at_pause = atomic_load(&g.writes);
	ck_assert_uint_gt(writes_at_pause, writes_before);

	ck_assert_int_eq(dest_reap(&d), 0);
	ck_assert_int_eq(d.res->ret, 0);
	ck_assert_int_eq(d.res->started, 1);
	/* Inside start() the migration is over (issue 12: was "active"). */
	ck_assert_int_eq(d.res->status_in_start, VMMIG_STATUS_COMPLETED);
	ck_assert_uint_eq(d.res->writes_loaded, writes_at_pause);
	ck_assert_uint_eq(d.res->cpu_state, 0xc0ffee00ull + writes_at_pause);
	ck_assert_int_eq(d.res->st.verified, 1);
	ck_assert_msg(memcmp(g.mem, d.mem, GUEST_SIZE) == 0,
		      "destination memory differs from the source at pause");

	ck_assert_int_eq(vmmig_source_get_stats(src, &st), 0);
	ck_assert_int_eq(st.status, VMMIG_STATUS_COMPLETED);
	ck_assert_int_eq(st.verified, 1);
	/* Both sides' stats say the guest moved (don't resume the source). */
	ck_assert_int_eq(st.owner, VMMIG_OWNER_DEST);
	ck_assert_int_eq(d.res->st.owner, VMMIG_OWNER_DEST);
	/* Usually several rounds. One is right too when the first pass was
	 * so fast (zstd, or a quick host) that what the writer dirtied
	 * during it fits the 1 ms limit: the policy's rule, checked. */
	ck_assert_uint_ge(st.rounds, 1);
	if (st.rounds == 1)
		ck_assert_uint_le(st.expected_downtime_us, 1000);
	ck_assert_uint_eq(st.channels, (unsigned)p->channels);
	ck_assert_uint_gt(st.transferred_bytes, 0);
	ck_assert_uint_gt(st.downtime_us, 0);
	ck_assert_uint_ge(st.pages_normal + st.pages_zero + st.pages_compressed +
				  st.pages_delta,
			  GUEST_SIZE / 4096);
	if (p->compression)
		ck_assert_uint_gt(st.pages_compressed, 0);
	/* zstd adapts (encode/enc_adapt.c): on a slow link (the cap) it
	 * compresses most pages; without a cap (loopback) it may not. */
	if (p->compression && p->bandwidth)
		ck_assert_uint_gt(st.pages_compressed, st.pages_normal);
	if (p->delta_cache)
		ck_assert_uint_gt(st.pages_delta, 0);
	if (p->fill == FILL_HALF)
		ck_assert_uint_ge(st.pages_zero, GUEST_SIZE / 4096 / 2 / 2);
	/* The destination counts what arrived the same way. */
	ck_assert_uint_eq(d.res->st.pages_delta, st.pages_delta);
	ck_assert_uint_eq(d.res->st.pages_zero, st.pages_zero);
	ck_assert_int_gt(vmmig_stats_to_json(&st, json, sizeof(json)), 0);
	printf("%s ch=%d zstd=%d delta=%lld: %s\n", p->listen, p->channels,
	       p->compression, (long long)p->delta_cache, json);

	vmmig_source_free(src);
	dest_release(&d);
	guest_destroy(&g);
}

#define TCP "tcp:127.0.0.1:0"

START_TEST(tcp_1ch)
{
	migrate(&(struct params){ TCP, 1, 0, 0, FILL_RANDOM, 0, 0, 0 });
}
END_TEST

START_TEST(tcp_2ch)
{
	migrate(&(struct params){ TCP, 2, 0, 0, FILL_HALF, 0, 0, 0 });
}
END_TEST

START_TEST(tcp_1ch_zstd)
{
	migrate(&(struct params){ TCP, 1, VMMIG_COMPRESS_ZSTD, 0, FILL_TEXT, 0, 0, 0 });
}
END_TEST

START_TEST(tcp_2ch_zstd)
{
	migrate(&(struct params){ TCP, 2, VMMIG_COMPRESS_ZSTD, 0, FILL_TEXT, 0, 0, 0 });
}
END_TEST

START_TEST(tcp_2ch_zstd_capped)
{
	/* 20 MB/s: zstd pays, and pages arrive compressed, verified. */
	migrate(&(struct params){ TCP, 2, VMMIG_COMPRESS_ZSTD, 0, FILL_TEXT,
				  20000000, 0, 0 });
}
END_TEST

START_TEST(tcp_1ch_delta)
{
	migrate(&(struct params){ TCP, 1, 0, 64 << 20, FILL_RANDOM, 0, 0, 0 });
}
END_TEST

START_TEST(tcp_2ch_delta)
{
	migrate(&(struct params){ TCP, 2, 0, 64 << 20, FILL_RANDOM, 0, 0, 0 });
}
END_TEST

START_TEST(tcp_2ch_zstd_delta)
{
	migrate(&(struct params){ TCP, 2, VMMIG_COMPRESS_ZSTD, 64 << 20,
				  FILL_HALF, 0, 0, 0 });
}
END_TEST

START_TEST(tcp_2ch_delta_staged)
{
	migrate(&(struct params){ TCP, 2, 0, 64 << 20, FILL_HALF, 0, 1, 0 });
}
END_TEST

START_TEST(tcp_2ch_populate)
{
	/* The destination populates its memory in the background while
	 * pages arrive (staged receive too). */
	migrate(&(struct params){ TCP, 2, 0, 0, FILL_RANDOM, 0, 1, 1 });
}
END_TEST

START_TEST(unix_2ch)
{
	char path[64];

	snprintf(path, sizeof(path), "unix:/tmp/vmmig-test-%d.sock", getpid());
	migrate(&(struct params){ path, 2, 0, 0, FILL_RANDOM, 0, 0, 0 });
}
END_TEST

START_TEST(tcp_capped)
{
	/* 200 MB/s cap: the round figures come from a limited link. */
	migrate(&(struct params){ TCP, 2, 0, 0, FILL_RANDOM, 200000000, 0, 0 });
}
END_TEST

int main(void)
{
	Suite *s = suite_create("migrate");
	TCase *tc = tcase_create("precopy");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, tcp_1ch);
	tcase_add_test(tc, tcp_2ch);
	tcase_add_test(tc, tcp_1ch_zstd);
	tcase_add_test(tc, tcp_2ch_zstd);
	tcase_add_test(tc, tcp_2ch_zstd_capped);
	tcase_add_test(tc, tcp_1ch_delta);
	tcase_add_test(tc, tcp_2ch_delta);
	tcase_add_test(tc, tcp_2ch_zstd_delta);
	tcase_add_test(tc, tcp_2ch_delta_staged);
	tcase_add_test(tc, tcp_2ch_populate);
	tcase_add_test(tc, unix_2ch);
	tcase_add_test(tc, tcp_capped);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
