/* SPDX-License-Identifier: MIT */
/*
 * The early DISCARD (docs/wire-format.md 8.2, 9.2) against a real
 * destination, from a fake source that writes the records itself. The
 * destination runs in a child process (dest_spawn); its guest memory is a
 * memfd this process reads with pread() and lseek(SEEK_DATA), which neither
 * populates a hole nor maps anything, so "dropped" is observed as a hole
 * punched out of the memory file (MADV_REMOVE) that reads back as zeros,
 * while every other page still holds what was sent.
 *
 * Region of 200 pages (not a multiple of 64, so the last bitmap word has
 * bits past the end), 3 channels: 0 and 1 carry the stripes, 2 is urgent.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "early_discard_sess.h"
#include "base/uffd.h"

static bool have_uffd;

/* ---- 1. happy path ---- */

/* _i: 0 direct receive; 1 staged receive with background populate (which
 * must be stopped before the drop, or it could map the pages again). */
START_TEST(early_discard_then_postcopy)
{
	static const unsigned s1[] = { 3, 10, 11, 12, 13, 14, 15, 16, 17, 18,
				       19, 20, 64, 65, 130, 199 };
	static const unsigned s2[] = { 7, 10, 100, 150 };
	static const unsigned t[] = { 40, 41, 180 };
	struct dest_opts o = { .vcpu_reads_ms = 300, .recv_staged = _i,
			       .populate = _i };
	uint64_t dropped[WORDS] = { 0 }, pending[WORDS] = { 0 },
		 sent[WORDS] = { 0 }, rest[WORDS];
	unsigned served = 0, reqs = 0;
	struct wire_done done;
	char err[WIRE_ERRLEN];
	struct wire_status st;
	struct wire_sw sw;
	uint8_t swbuf[WIRE_SW_SIZE];
	const uint8_t *p;
	struct wire_hdr h;
	struct sess s;
	uint64_t hash;

	eds_start(&s, &o);
	precopy_all(&s, false);

	/* A first early DISCARD, then the barrier: S1 is gone at DRAINED,
	 * every other page holds its pre-copy contents. A second copy of
	 * pages 64 and 65 (of S1, stripe channel 1) is still on its way: half
	 * of its record goes before the DISCARD and DRAIN on channel 0, the
	 * rest (then DRAIN on the other channels) only once channel 0 waits
	 * at the barrier. Dropping has to wait for DRAIN on every channel,
	 * or that copy would land after the drop and stay. */
	uint64_t late[] = { 64, 65 };
	uint8_t *rec;
	size_t len;

	ck_assert_uint_eq(fs_stripe(&s.fs, 64), 1);
	FS_OK(&s, fs_build_pages(&s.fs, 1, late, 2, img_a, &rec, &len));
	FS_OK(&s, fs_write_raw(&s.fs, 1, rec, len / 2));
	bm_list(dropped, s1, sizeof(s1) / sizeof(s1[0]));
	FS_OK(&s, fs_send_discard(&s.fs, 0, WIRE_DISCARD_EARLY, 0, WORDS,
				  dropped));
	FS_OK(&s, fs_send(&s.fs, 0, WIRE_DRAIN, 0, NULL, 0));
	ck_assert_msg(fs_readable(&s.fs, 0, 100) == 0,
		      "DRAINED before DRAIN on every channel");
	FS_OK(&s, fs_write_raw(&s.fs, 1, rec + len / 2, len - len / 2));
	free(rec);
	for (unsigned ch = 1; ch < NCHAN; ch++)
		FS_OK(&s, fs_send(&s.fs, ch, WIRE_DRAIN, 0, NULL, 0));
	FS_OK(&s, fs_recv(&s.fs, 0, &h, &p));
	ck_assert_msg(h.type == WIRE_DRAINED,
		      "record 0x%04x instead of DRAINED", h.type);
	assert_memory(&s, dropped, img_a);

	/* A second early DISCARD, overlapping the first, in a record that
	 * covers words 0..2 only; it names the ZERO page 7 too, whose drop
	 * only the hole shows. The new pages go at the next barrier. */
	uint64_t s2bm[WORDS] = { 0 };

	bm_list(s2bm, s2, sizeof(s2) / sizeof(s2[0]));
	FS_OK(&s, fs_send_discard(&s.fs, 0, WIRE_DISCARD_EARLY, 0, 3, s2bm));
	drain(&s);
	for (unsigned w = 0; w < WORDS; w++)
		dropped[w] |= s2bm[w];
	assert_memory(&s, dropped, img_a);

	if (!have_uffd) {
		/* Up to DRAINED only: post-copy needs userfaultfd. */
		eds_end(&s);
		return;
	}

	/* The switch: the pages still to come are the early ones plus T,
	 * dirtied since; at the pause they hold img_b (page 41 zero). */
	memcpy(pending, dropped, sizeof(pending));
	bm_list(pending, t, sizeof(t) / sizeof(t[0]));
	for (unsigned q = 0; q < NPAGES; q++)
		if (bm_test(pending, q))
			fill_random(img_b + (size_t)q * PAGE, PAGE, 5000 + q);
	memset(img_b + 41 * PAGE, 0, PAGE); /* placed with UFFDIO_ZEROPAGE */
	hash = sum_hash(img_b);

	FS_OK(&s, fs_send_all(&s.fs, WIRE_SWITCH));
	/* The final set in two records: words 0..1, then 2..3. */
	FS_OK(&s, fs_send_discard(&s.fs, 0, 0, 0, 2, pending));
	FS_OK(&s, fs_send_discard(&s.fs, 0, 0, 2, 2, pending + 2));
	send_state(&s);
	send_postcopy(&s, WIRE_POSTCOPY_VERIFY);
	FS_OK(&s, fs_recv(&s.fs, 0, &h, &p));
	if (h.type == WIRE_ERROR &&
	    !wire_status_unpack(p, h.len, &st, err, sizeof(err)))
		ck_abort_msg("post-copy refused: %s", st.text);
	ck_assert_msg(h.type == WIRE_READY, "record 0x%04x instead of READY",
		      h.type);
	ck_assert_int_eq(wire_sw_unpack(p, h.len, &sw, err, sizeof(err)), 0);
	ck_assert_int_eq(sw.status, 0);
	ck_assert_uint_eq(sw.flags, 0); /* post-copy: digest comes later */
	/* The guest starts there only on COMMIT. */
	ck_assert_int_eq(s.d.res->started, 0);
	sw = (struct wire_sw){ 0 };
	wire_sw_pack(swbuf, &sw);
	FS_OK(&s, fs_send(&s.fs, 0, WIRE_COMMIT, 0, swbuf, sizeof(swbuf)));
	FS_OK(&s, fs_recv(&s.fs, 0, &h, &p));
	ck_assert_msg(h.type == WIRE_STARTED, "record 0x%04x instead of "
		      "STARTED", h.type);
	ck_assert_int_eq(wire_sw_unpack(p, h.len, &sw, err, sizeof(err)), 0);
	ck_assert_int_eq(sw.status, 0);

	/* The guest runs there; its "vCPU" faults on pending pages: serve
	 * the requests on the urgent channel for a while. */
	for (uint64_t end = mono_ms() + 5000; served < 3 && mono_ms() < end;) {
		int r = fs_readable(&s.fs, 0, 20);

		ck_assert_int_ge(r, 0);
		if (!r)
			continue;
		FS_OK(&s, fs_recv(&s.fs, 0, &h, &p));
		ck_assert_msg(h.type == WIRE_REQ, "record 0x%04x instead of "
			      "REQ", h.type);
		reqs++;
		served += serve_req(&s, &h, p, pending, sent);
	}
	ck_assert_msg(served > 0, "the destination asked for no page");

	/* The background stream: the rest, each on its stripe, then END. */
	for (unsigned w = 0; w < WORDS; w++)
		rest[w] = pending[w] & ~sent[w];
	FS_OK(&s, fs_send_bitmap(&s.fs, rest, -1, img_b));
	for (unsigned w = 0; w < WORDS; w++)
		sent[w] |= rest[w];
	for (unsigned ch = 0; ch < NCHAN; ch++)
		FS_OK(&s, fs_send_end(&s.fs, ch,
				      (ch ? 0 : WIRE_END_MAIN) | WIRE_END_HASH,
				      ch ? 0 : 2, hash));

	/* DONE once every page is in place (late REQs are for pages sent
	 * already: nothing more to send). */
	for (int i = 0; i < 10000; i++) {
		FS_OK(&s, fs_recv(&s.fs, 0, &h, &p));
		if (h.type == WIRE_DONE)
			break;
		ck_assert_msg(h.type == WIRE_REQ, "record 0x%04x instead of "
			      "DONE", h.type);
		ck_assert_uint_eq(serve_req(&s, &h, p, pending, sent), 0);
	}
	ck_assert_int_eq(h.type, WIRE_DONE);
	ck_assert_int_eq(wire_done_unpack(p, h.len, &done, err, sizeof(err)),
			 0);
	ck_assert_int_eq(done.status, 0);
	ck_assert_uint_eq(done.verified, 1);
	ck_assert_uint_eq(done.placed, bm_count(pending));
	ck_assert_uint_ge(done.faults, 1);

	fs_close(&s.fs);
	ck_assert_int_eq(dest_reap(&s.d), 0);
	ck_assert_msg(s.d.res->ret == 0, "destination: %s", s.d.res->error);
	ck_assert_int_eq(s.d.res->started, 1);
	ck_assert_uint_eq(s.d.res->cpu_state, CPU_STATE);
	ck_assert_uint_eq(s.d.res->writes_loaded, WRITES);
	ck_assert_int_eq(s.d.res->st.verified, 1);
	ck_assert_int_eq(s.d.res->st.status, VMMIG_STATUS_COMPLETED);
	ck_assert_uint_gt(s.d.res->vcpu_reads, 0);
	ck_assert_uint_eq(s.d.res->st.postcopy_faults, done.faults);
	printf("early_discard_then_postcopy/%d: %u early + %u late pages, "
	       "%u served on request (%u REQ), %llu faults\n", _i,
	       bm_count(dropped), bm_count(pending) - bm_count(dropped),
	       served, reqs, (unsigned long long)done.faults);
	assert_memory(&s, NULL, img_b);
	eds_end(&s);
}
END_TEST

/* ---- 2. early DISCARD on a channel other than 0 ---- */

START_TEST(early_discard_not_on_channel_0)
{
	unsigned ch = 1 + (unsigned)_i; /* a data channel, the urgent one */
	uint64_t bm[WORDS] = { 0 };
	char expect[64];
	struct sess s;

	eds_start(&s, NULL);
	precopy_all(&s, true);
	bm_set(bm, 3);
	bm_set(bm, 70);
	FS_OK(&s, fs_send_discard(&s.fs, ch, WIRE_DISCARD_EARLY, 0, WORDS, bm));
	snprintf(expect, sizeof(expect),
		 "early DISCARD out of place on channel %u", ch);
	assert_refused(&s, expect);
	assert_memory(&s, (uint64_t[WORDS]){ 0 }, img_a); /* none dropped */
	eds_end(&s);
}
END_TEST

/* ---- 3. early DISCARD after SWITCH ---- */

/* _i: 0 right after SWITCH; 1 after SWITCH and the final DISCARD. */
START_TEST(early_discard_after_switch)
{
	uint64_t bm[WORDS] = { 0 };
	struct sess s;

	eds_start(&s, NULL);
	precopy_all(&s, true);
	FS_OK(&s, fs_send_all(&s.fs, WIRE_SWITCH));
	bm_set(bm, 5);
	bm_set(bm, 128);
	if (_i)
		FS_OK(&s, fs_send_discard(&s.fs, 0, 0, 0, WORDS, bm));
	bm_set(bm, 6);
	FS_OK(&s, fs_send_discard(&s.fs, 0, WIRE_DISCARD_EARLY, 0, WORDS, bm));
	assert_refused(&s, "early DISCARD out of place on channel 0");
	assert_memory(&s, (uint64_t[WORDS]){ 0 }, img_a);
	eds_end(&s);
}
END_TEST

/* ---- 4. the final DISCARD forgets a page dropped early ---- */

/* _i: 0 a page in the middle of a run; 1 the last page of the region. */
START_TEST(final_discard_omits_early_page)
{
	static const unsigned early[] = { 3, 10, 11, 12, 13, 14, 15, 130, 199 };
	uint64_t dropped[WORDS] = { 0 }, final[WORDS];
	unsigned omit = _i ? 199 : 12;
	struct sess s;

	eds_start(&s, NULL);
	drop_early(&s, dropped, early, sizeof(early) / sizeof(early[0]));

	memcpy(final, dropped, sizeof(final));
	final[omit / 64] &= ~(1ull << (omit % 64));
	bm_set(final, 40); /* dirtied since: new in the final set */
	FS_OK(&s, fs_send_all(&s.fs, WIRE_SWITCH));
	FS_OK(&s, fs_send_discard(&s.fs, 0, 0, 0, WORDS, final));
	send_state(&s);
	send_postcopy(&s, 0);
	/* No ACK: the guest must not start on a page nobody will send. */
	assert_refused(&s, "not pending at the switch");
	eds_end(&s);
}
END_TEST

/* ---- 4b. a page sent after the early drop, before the switch ---- */

/* The source must not send a dropped page again before the switch: it
 * would land (mapped again) and post-copy could not place its real
 * contents. Refused, the dropped pages stay dropped. */
START_TEST(page_after_early_drop)
{
	static const unsigned early[] = { 3, 64, 65 };
	uint64_t dropped[WORDS] = { 0 }, again = 3;
	struct sess s;

	eds_start(&s, NULL);
	drop_early(&s, dropped, early, sizeof(early) / sizeof(early[0]));
	FS_OK(&s, fs_send_pages(&s.fs, fs_stripe(&s.fs, again), &again, 1,
				img_b));
	assert_refused(&s, "sent after an early DISCARD dropped it");
	assert_memory(&s, dropped, img_a);
	eds_end(&s);
}
END_TEST

/* ---- 5. early DISCARD with bits past the region's end ---- */

static const struct past_case {
	uint64_t first_word;
	uint32_t nwords;
	unsigned page;        /* the bit set past the end (in region pages) */
	const char *expect;
} past_cases[] = {
	{ 3, 1, 200, "DISCARD names pages past region 0" },  /* first past */
	{ 3, 1, 255, "DISCARD names pages past region 0" },  /* word's last */
	{ 0, 4, 201, "DISCARD names pages past region 0" },  /* whole map */
	{ 4, 1, 260, "DISCARD beyond region 0" },            /* word 4 */
	{ 2, 3, 150, "DISCARD beyond region 0" },            /* runs over */
};

START_TEST(early_discard_past_region_end)
{
	const struct past_case *c = &past_cases[_i];
	uint64_t words[8] = { 0 };
	struct sess s;

	eds_start(&s, NULL);
	precopy_all(&s, true);
	/* A valid page in the first word sent, and the one past the end. */
	words[0] |= 1ull << 1;
	if (c->page / 64 >= c->first_word &&
	    c->page / 64 < c->first_word + c->nwords)
		words[c->page / 64 - c->first_word] |= 1ull << (c->page % 64);
	FS_OK(&s, fs_send_discard(&s.fs, 0, WIRE_DISCARD_EARLY, c->first_word,
				  c->nwords, words));
	assert_refused(&s, c->expect);
	assert_memory(&s, (uint64_t[WORDS]){ 0 }, img_a);
	eds_end(&s);
}
END_TEST

/* The kernel lets us arm userfaultfd on shared memory, as the
 * destination will (its memory is a memfd). */
static bool uffd_usable(void)
{
	uint64_t have = 0;
	int fd = uffd_open();
	bool ok;

	if (fd < 0)
		return false;
	ok = !uffd_api(fd, UFFD_FEATURE_MISSING_SHMEM, &have) &&
	     (have & UFFD_FEATURE_MISSING_SHMEM);
	close(fd);
	return ok;
}

int main(void)
{
	Suite *s = suite_create("early_discard");
	TCase *tc = tcase_create("early_discard");
	int ret;

	signal(SIGPIPE, SIG_IGN);
	have_uffd = uffd_usable();
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, early_discard_then_postcopy, 0, 2);
	tcase_add_loop_test(tc, early_discard_not_on_channel_0, 0, 2);
	tcase_add_loop_test(tc, early_discard_after_switch, 0, 2);
	tcase_add_test(tc, page_after_early_drop);
	if (have_uffd)
		tcase_add_loop_test(tc, final_discard_omits_early_page, 0, 2);
	tcase_add_loop_test(tc, early_discard_past_region_end, 0,
			    (int)(sizeof(past_cases) / sizeof(past_cases[0])));
	suite_add_tcase(s, tc);
	ret = vmtest_run(s);
	if (ret == 0 && !have_uffd)
		return vmtest_skip("userfaultfd on shared memory unavailable: "
				   "the post-copy parts did not run (the "
				   "rest passed)");
	return ret;
}
