/* SPDX-License-Identifier: MIT */
/*
 * The urgent post-copy channel sends raw pages while the background
 * channels compress (the default, zstd adaptive). A pure post-copy of text
 * pages (zstd shrinks them) with the default compression, over a TCP
 * transport that counts the page encodings each connection sends: the
 * channel that carries the pages a faulting vCPU waits for (the last one,
 * HELLO index N - 1) sends them raw, never zstd, while the page channels
 * do send zstd pages. Destination memory equals the source's at the pause.
 */
#include <stdio.h>
#include <string.h>

#include "e2e.h"
#include "rec_tap.h"
#include "testutil.h"

#define GUEST_SIZE (64u << 20)
#define DATA_CHANNELS 2

static uint64_t tap_pages(unsigned chan, enum wire_enc enc)
{
	return atomic_load(&tap.pages[chan][enc]);
}

START_TEST(urgent_raw_default_zstd)
{
	struct vmmig_postcopy_config pc = {
		.struct_size = sizeof(pc),
		.flags = VMMIG_POSTCOPY_NO_FIRST_PASS,
	};
	struct dest_opts dopt = { .listen = "tcp:127.0.0.1:0",
				  .vcpu_reads_ms = 300 };
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	const struct vmmig_transport_ops *t;
	uint64_t bg_zstd = 0, urgent_all = 0, all = 0;
	struct vmmig_policy *pol = NULL;
	struct vmmig_source *src;
	int64_t def = -1, v = -1;
	unsigned urgent;
	struct dest_proc d;
	struct guest g;
	const char *addr;

	/* The default the session below runs with. */
	ck_assert_int_eq(vmmig_option_range(VMMIG_OPT_COMPRESSION, NULL, NULL,
					    &def), 0);
	ck_assert_int_eq(def, VMMIG_COMPRESS_ZSTD);

	ck_assert_int_eq(guest_init(&g, GUEST_SIZE, FILL_TEXT, false), 0);
	ck_assert_int_eq(dest_spawn(&d, GUEST_SIZE, &dopt), 0);
	src = guest_source(&g, &guest_source_ops);
	ck_assert_int_eq(vmmig_policy_new_postcopy(&pc, &pol), 0);
	ck_assert_int_eq(vmmig_source_set_policy(src, pol), 0);
	/* No VMMIG_OPT_COMPRESSION: the default is what is tested. */
	ck_assert_int_eq(vmmig_source_get_option(src, VMMIG_OPT_COMPRESSION,
						 &v), 0);
	ck_assert_int_eq(v, VMMIG_COMPRESS_ZSTD);
	ck_assert_int_eq(vmmig_source_set_option(src, VMMIG_OPT_CHANNELS,
						 DATA_CHANNELS), 0);
	ck_assert_int_eq(vmmig_source_set_option(src, VMMIG_OPT_VERIFY, 1), 0);
	/* Slow the background stream so that the vCPU's reads really fault
	 * on pages still at the source. */
	ck_assert_int_eq(vmmig_source_set_option(src,
			 VMMIG_OPT_BANDWIDTH_LIMIT, 100 << 20), 0);

	ck_assert_int_eq(vmmig_transport_parse_uri(d.uri, &t, &addr), 0);
	ck_assert_ptr_eq(t, vmmig_transport_tcp());
	tap_reset();
	ck_assert_int_eq(guest_run(&g, 20), 0);
	ck_assert_int_eq(vmmig_source_start_transport(src, tap_tcp_ops(),
						      addr), 0);
	assert_migrated(src, &d);
	uint64_t writes_at_pause = atomic_load(&g.writes);

	ck_assert_int_eq(d.res->ret, 0);
	ck_assert_int_eq(d.res->started, 1);
	ck_assert_uint_eq(d.res->writes_loaded, writes_at_pause);
	ck_assert_msg(memcmp(g.mem, d.mem, GUEST_SIZE) == 0,
		      "destination memory differs from the source at pause");
	ck_assert_int_eq(vmmig_source_get_stats(src, &st), 0);
	ck_assert_int_eq(st.status, VMMIG_STATUS_COMPLETED);
	ck_assert_int_eq(st.mode, VMMIG_MODE_POSTCOPY);
	ck_assert_int_eq(st.verified, 1);
	ck_assert_uint_gt(st.postcopy_faults, 0);

	/* The tap followed every stream and saw each channel's HELLO. */
	ck_assert_uint_eq(atomic_load(&tap.bad), 0);
	ck_assert_uint_eq(atomic_load(&tap.nchannels), DATA_CHANNELS + 1);
	ck_assert_uint_ge(atomic_load(&tap.hellos), DATA_CHANNELS + 1);
	urgent = DATA_CHANNELS;
	for (unsigned c = 0; c <= urgent; c++)
		printf("channel %u%s: %llu PAGES records; pages zero %llu, "
		       "raw %llu, zstd %llu, delta %llu\n", c,
		       c == urgent ? " (urgent)" : "",
		       (unsigned long long)atomic_load(&tap.records[c]),
		       (unsigned long long)tap_pages(c, WIRE_ENC_ZERO),
		       (unsigned long long)tap_pages(c, WIRE_ENC_RAW),
		       (unsigned long long)tap_pages(c, WIRE_ENC_ZSTD),
		       (unsigned long long)tap_pages(c, WIRE_ENC_DELTA));
	printf("postcopy_faults %llu\n",
	       (unsigned long long)st.postcopy_faults);
	fflush(stdout); /* before a failed check ends the process */

	/* Every page was pending at the switch and is sent once, in a PAGES
	 * record (text, and the writer's lines, are never zero): the tap
	 * saw all of them. */
	for (unsigned c = 0; c <= urgent; c++)
		for (unsigned e = 0; e < WIRE_ENC__COUNT; e++)
			all += tap_pages(c, e);
	ck_assert_uint_eq(all, GUEST_SIZE / 4096);

	/* The urgent channel carried pages a vCPU waited for, none of them
	 * zstd: raw. */
	for (unsigned e = 0; e < WIRE_ENC__COUNT; e++)
		urgent_all += tap_pages(urgent, e);
	ck_assert_uint_gt(urgent_all, 0);
	ck_assert_msg(tap_pages(urgent, WIRE_ENC_ZSTD) == 0,
		      "urgent channel sent %llu zstd pages",
		      (unsigned long long)tap_pages(urgent, WIRE_ENC_ZSTD));
	ck_assert_uint_eq(tap_pages(urgent, WIRE_ENC_RAW), urgent_all);
	/* ... while compression was on: the page channels sent zstd. */
	for (unsigned c = 0; c < urgent; c++)
		bg_zstd += tap_pages(c, WIRE_ENC_ZSTD);
	ck_assert_uint_gt(bg_zstd, 0);

	vmmig_source_free(src);
	vmmig_policy_free(pol);
	dest_release(&d);
	guest_destroy(&g);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("urgent_raw");
	TCase *tc = tcase_create("urgent_raw");

	if (!vmtest_uffd_available())
		return vmtest_skip("no userfaultfd");
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, urgent_raw_default_zstd);
	suite_add_tcase(s, tc);
	return vmtest_run(s);
}
