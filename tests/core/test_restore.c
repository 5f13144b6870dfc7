/* SPDX-License-Identifier: MIT */
/*
 * Cache-restore end to end. Half of the source guest is a "database
 * cache": pages that equal blocks of a data file on shared storage, hinted
 * to the library. The destination reads them from its copy of the file
 * while the link carries the rest; a writer keeps dirtying pages (cached
 * ones included), whose network copies must win. Every run ends with the
 * destination memory equal to the source's at the pause and verified.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "testutil.h"

#define GUEST_SIZE (32u << 20)
#define CACHE_SIZE (16u << 20) /* the first half of the guest */
#define CACHE_PAGES (CACHE_SIZE / 4096)

enum policy { PRECOPY, POSTCOPY_NOW, HYBRID };

struct run {
	const char *storage;      /* destination's copy of the data file */
	unsigned slow_us;         /* slow page source */
	unsigned lie;             /* ... whose first reads lie */
	enum policy policy;
	unsigned writer_us;
	struct vmmig_stats src, dst;
};

static char data_file[64], bad_file[64];

/* The data file, and a copy with 100 altered blocks (a wrong hint). */
static void make_files(void)
{
	uint8_t *buf = malloc(CACHE_SIZE);
	int fd;

	snprintf(data_file, sizeof(data_file), "/tmp/vmmig-data-%d", getpid());
	snprintf(bad_file, sizeof(bad_file), "/tmp/vmmig-bad-%d", getpid());
	fill_random(buf, CACHE_SIZE, 777);
	fd = open(data_file, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	ck_assert_int_eq(write(fd, buf, CACHE_SIZE), CACHE_SIZE);
	close(fd);
	for (unsigned p = 0; p < 100; p++)
		buf[(size_t)p * 40 * 4096 + 7] ^= 0xff;
	fd = open(bad_file, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	ck_assert_int_eq(write(fd, buf, CACHE_SIZE), CACHE_SIZE);
	close(fd);
	free(buf);
}

static void migrate(struct run *r)
{
	struct dest_opts dopt = { .listen = "tcp:127.0.0.1:0",
				  .storage = r->storage,
				  .slow_storage_us = r->slow_us,
				  .lying_pages = r->lie,
				  .vcpu_reads_ms = 200, .recv_staged = 1 };
	struct vmmig_postcopy_config pc = { .struct_size = sizeof(pc),
		.flags = VMMIG_POSTCOPY_NO_FIRST_PASS };
	struct vmmig_hybrid_config hc = { .struct_size = sizeof(hc),
		.precopy_rounds = 2 };
	struct vmmig_policy *pol = NULL;
	struct vmmig_source *src;
	struct dest_proc d;
	struct guest g;
	int fd;

	make_files();
	ck_assert_int_eq(guest_init(&g, GUEST_SIZE, FILL_RANDOM, false), 0);
	/* The cache holds the data file's blocks. */
	fd = open(data_file, O_RDONLY);
	ck_assert_int_eq(read(fd, g.mem, CACHE_SIZE), CACHE_SIZE);
	close(fd);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &dopt), 0);
	src = guest_source(&g, &guest_source_ops);
	/* Declared in two pieces, one withdrawn and declared again: the
	 * range bookkeeping must end up covering the whole cache. */
	ck_assert_int_eq(vmmig_source_add_hint(src, 0, 0, CACHE_SIZE, 1, 0), 0);
	ck_assert_int_eq(vmmig_source_remove_hint(src, 0, 4096, 8192), 0);
	ck_assert_int_eq(vmmig_source_add_hint(src, 0, 4096, 8192, 1, 4096), 0);
	ck_assert_int_eq(vmmig_source_add_hint(src, 7, 0, 4096, 1, 0), -EINVAL);
	ck_assert_int_eq(vmmig_source_add_hint(src, 0, 100, 4096, 1, 0),
			 -EINVAL);
	if (r->policy == POSTCOPY_NOW)
		ck_assert_int_eq(vmmig_policy_new_postcopy(&pc, &pol), 0);
	if (r->policy == HYBRID)
		ck_assert_int_eq(vmmig_policy_new_hybrid(&hc, &pol), 0);
	if (pol)
		ck_assert_int_eq(vmmig_source_set_policy(src, pol), 0);
	vmmig_source_set_option(src, VMMIG_OPT_CHANNELS, 2);
	vmmig_source_set_option(src, VMMIG_OPT_VERIFY, 1);
	vmmig_source_set_option(src, VMMIG_OPT_DOWNTIME_LIMIT_MS, 1);
	vmmig_source_set_option(src, VMMIG_OPT_MAX_ROUNDS, 5);
	vmmig_source_set_option(src, VMMIG_OPT_BANDWIDTH_LIMIT, 200 << 20);
	ck_assert_int_eq(guest_run(&g, r->writer_us), 0);

	ck_assert_int_eq(vmmig_source_start(src, d.uri), 0);
	assert_migrated(src, &d);
	ck_assert_msg(memcmp(g.mem, d.mem, GUEST_SIZE) == 0,
		      "destination memory differs from the source at pause");
	r->src.struct_size = sizeof(r->src);
	vmmig_source_get_stats(src, &r->src);
	r->dst = d.res->st;
	ck_assert_int_eq(r->src.verified, 1);
	ck_assert_int_eq(r->dst.verified, 1);
	/* Every hinted page was either restored or fetched instead. */
	ck_assert_uint_ge(r->src.pages_skipped, 1);
	ck_assert_uint_eq(r->dst.pages_skipped, r->src.pages_skipped);
	ck_assert_uint_le(r->dst.pages_restored + r->dst.restore_fallbacks,
			  r->src.pages_skipped);
	ck_assert_uint_eq(r->dst.restore_bytes, r->dst.pages_restored * 4096);
	printf("%s%s: hinted %llu, restored %llu, mismatches %llu, "
	       "fallbacks %llu, sent %llu bytes\n",
	       r->storage ? r->storage : "(no page source)",
	       r->slow_us ? " (slow)" : "",
	       (unsigned long long)r->src.pages_skipped,
	       (unsigned long long)r->dst.pages_restored,
	       (unsigned long long)r->dst.restore_mismatches,
	       (unsigned long long)r->dst.restore_fallbacks,
	       (unsigned long long)r->src.transferred_bytes);
	vmmig_source_free(src);
	vmmig_policy_free(pol);
	dest_release(&d);
	guest_destroy(&g);
	unlink(data_file);
	unlink(bad_file);
}

START_TEST(restore_precopy)
{
	struct run r = { .storage = data_file, .writer_us = 200 };

	migrate(&r);
	/* Most of the cache came from storage, not over the link. */
	ck_assert_uint_ge(r.dst.pages_restored, CACHE_PAGES / 2);
	/* This writer, unlike a database, does not withdraw a hint before
	 * writing a cached page: a page written between the start and its
	 * hint is hinted with its new hash, which storage cannot match. A
	 * few such mismatches are right; they fall back to the network. */
	ck_assert_uint_le(r.dst.restore_mismatches, CACHE_PAGES / 20);
	ck_assert_uint_lt(r.src.transferred_bytes,
			  GUEST_SIZE - CACHE_SIZE / 2 + (4u << 20));
}
END_TEST

START_TEST(restore_wrong_hint)
{
	struct run r = { .storage = bad_file, .writer_us = 200 };

	migrate(&r);
	/* The altered blocks are caught by the hash (minus the few the
	 * writer dirtied first) and fetched over the network. */
	ck_assert_uint_ge(r.dst.restore_mismatches, 50);
	ck_assert_uint_le(r.dst.restore_mismatches, 100 + CACHE_PAGES / 20);
	ck_assert_uint_ge(r.dst.restore_fallbacks, r.dst.restore_mismatches);
}
END_TEST

START_TEST(restore_missing_object)
{
	struct run r = { .storage = "/nonexistent/vmmig-data",
			 .writer_us = 200 };

	migrate(&r);
	ck_assert_uint_eq(r.dst.pages_restored, 0);
	ck_assert_uint_ge(r.dst.restore_fallbacks, CACHE_PAGES / 2);
}
END_TEST

START_TEST(restore_without_page_source)
{
	struct run r = { .storage = NULL, .writer_us = 200 };

	migrate(&r);
	ck_assert_uint_eq(r.dst.pages_restored, 0);
	ck_assert_uint_eq(r.dst.restore_fallbacks, r.src.pages_skipped);
}
END_TEST

START_TEST(restore_races_network)
{
	/* Restores take 150 us each, so the writer's dirty pages overtake
	 * hundreds of reads still in flight: the late reads must lose. */
	struct run r = { .storage = data_file, .slow_us = 150,
			 .writer_us = 20 };

	migrate(&r);
	ck_assert_uint_gt(r.dst.pages_restored, 0);
}
END_TEST

START_TEST(restore_postcopy)
{
	/* Post-copy at once: hinted pages come from storage, vCPU faults on
	 * them wait for the read instead of asking the source. */
	struct run r = { .storage = data_file, .policy = POSTCOPY_NOW,
			 .writer_us = 200 };

	migrate(&r);
	ck_assert_uint_ge(r.dst.pages_restored, CACHE_PAGES / 2);
	ck_assert_int_eq(r.src.mode, VMMIG_MODE_POSTCOPY);
}
END_TEST

START_TEST(restore_hybrid_wrong_hint)
{
	struct run r = { .storage = bad_file, .policy = HYBRID,
			 .writer_us = 100 };

	migrate(&r);
	ck_assert_uint_gt(r.dst.restore_mismatches, 0);
	ck_assert_int_eq(r.src.mode, VMMIG_MODE_HYBRID);
}
END_TEST

START_TEST(restore_postcopy_missing_object)
{
	/* Every restore fails after the switch: each page is asked for at
	 * once over the network. */
	struct run r = { .storage = "/nonexistent/vmmig-data",
			 .policy = POSTCOPY_NOW, .writer_us = 200 };

	migrate(&r);
	ck_assert_uint_eq(r.dst.pages_restored, 0);
	ck_assert_uint_ge(r.dst.restore_fallbacks, CACHE_PAGES / 2);
}
END_TEST

/* A page source that skips its hash check and returns 30 wrong pages as
 * good: the session checks each page itself, counts the mismatches and
 * fetches those pages over the network; memory ends up verified. */
static void lying(enum policy pol)
{
	struct run r = { .storage = data_file, .slow_us = 1, .lie = 30,
			 .policy = pol, .writer_us = 2000 };

	migrate(&r);
	/* A lie the network overtook (the guest wrote the page) is
	 * thrown away unchecked; most are checked. */
	ck_assert_uint_ge(r.dst.restore_mismatches, 20);
	ck_assert_uint_le(r.dst.restore_mismatches, 30 + CACHE_PAGES / 20);
	ck_assert_uint_ge(r.dst.restore_fallbacks, r.dst.restore_mismatches);
}

START_TEST(restore_lying_source_precopy)
{
	lying(PRECOPY);
}
END_TEST

START_TEST(restore_lying_source_hybrid)
{
	lying(HYBRID);
}
END_TEST

START_TEST(restore_lying_source_postcopy)
{
	lying(POSTCOPY_NOW);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("restore");
	TCase *tc = tcase_create("cache-restore");

	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, restore_precopy);
	tcase_add_test(tc, restore_wrong_hint);
	tcase_add_test(tc, restore_missing_object);
	tcase_add_test(tc, restore_without_page_source);
	tcase_add_test(tc, restore_races_network);
	tcase_add_test(tc, restore_postcopy);
	tcase_add_test(tc, restore_hybrid_wrong_hint);
	tcase_add_test(tc, restore_postcopy_missing_object);
	tcase_add_test(tc, restore_lying_source_precopy);
	tcase_add_test(tc, restore_lying_source_hybrid);
	tcase_add_test(tc, restore_lying_source_postcopy);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
