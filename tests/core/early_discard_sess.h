/* SPDX-License-Identifier: MIT */
/* The early-DISCARD tests' session with a real destination (a child) and
 * the fake source, and what they check it with. */
#ifndef VMMIG_TEST_EARLY_DISCARD_SESS_H
#define VMMIG_TEST_EARLY_DISCARD_SESS_H

#include <stdbool.h>
#include <stdint.h>

#include "e2e.h"
#include "fake_source.h"
#include "testutil.h"

#define PAGE 4096u
#define NPAGES 200u
#define SIZE ((size_t)NPAGES * PAGE)
#define WORDS ((NPAGES + 63) / 64)
#define NCHAN 3
#define RID 0u
#define FILL 0xa5
#define TIMEOUT_MS 15000

extern uint8_t img_a[SIZE]; /* pre-copy contents */
extern uint8_t img_b[SIZE]; /* contents at the pause */

struct sess {
	struct dest_proc d;
	struct fake_src fs;
};

#define FS_OK(s, call)                                                    \
	do {                                                              \
		int r_ = (call);                                          \
		ck_assert_msg(r_ == 0, "%s: %d (%s)", #call, r_,          \
			      (s)->fs.err);                               \
	} while (0)

/* The state the fake guest carries (guest.c's blobs 1 and 2). */
#define CPU_STATE 0xc0ffee42ull
#define WRITES 777ull

/* Region bitmaps (WORDS words). */
void bm_set(uint64_t *bm, uint64_t p);
bool bm_test(const uint64_t *bm, uint64_t p);
void bm_list(uint64_t *bm, const unsigned *pages, size_t n);
unsigned bm_count(const uint64_t *bm);
uint64_t mono_ms(void);
/* img_a: pre-copy contents (page 7 zero); img_b: a copy to change. */
void make_images(void);
/* A destination child filled with FILL, the fake source connected. */
void eds_start(struct sess *s, const struct dest_opts *extra);
void eds_end(struct sess *s);
/* DRAIN on every channel; DRAINED must come back. */
void drain(struct sess *s);
/* Every page of img_a once on its stripe (and a DRAIN round). */
void precopy_all(struct sess *s, bool barrier);
/* Checks of the destination's memory, through its memfd. */
bool is_hole(int fd, uint64_t p);
void assert_memory(struct sess *s, const uint64_t *dropped,
		   const uint8_t *image);
/* ERROR saying @expect, child failed -EPROTO, guest never started. */
void assert_refused(struct sess *s, const char *expect);
/* Post-copy page-sum hash of @image. */
uint64_t sum_hash(const uint8_t *image);
void send_state(struct sess *s);
void send_postcopy(struct sess *s, uint32_t flags);
/* precopy_all(), then an early DISCARD of @pages[0..n) (set in
 * @dropped) and a DRAIN round; they must be dropped, the rest intact. */
void drop_early(struct sess *s, uint64_t *dropped, const unsigned *pages,
		size_t n);
/* Answer a REQ on the urgent channel; the number of pages sent. */
unsigned serve_req(struct sess *s, const struct wire_hdr *h,
		   const uint8_t *payload, const uint64_t *pending,
		   uint64_t *sent);

#endif
