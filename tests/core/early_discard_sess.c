/* SPDX-License-Identifier: MIT */
/* Session helpers of the early-DISCARD tests (early_discard_sess.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/page.h"
#include "early_discard_sess.h"

uint8_t img_a[SIZE];
uint8_t img_b[SIZE];

void bm_set(uint64_t *bm, uint64_t p)
{
	bm[p / 64] |= 1ull << (p % 64);
}

bool bm_test(const uint64_t *bm, uint64_t p)
{
	return bm[p / 64] >> (p % 64) & 1;
}

void bm_list(uint64_t *bm, const unsigned *pages, size_t n)
{
	for (size_t i = 0; i < n; i++)
		bm_set(bm, pages[i]);
}

unsigned bm_count(const uint64_t *bm)
{
	unsigned n = 0;

	for (unsigned w = 0; w < WORDS; w++)
		n += (unsigned)__builtin_popcountll(bm[w]);
	return n;
}

uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void make_images(void)
{
	for (unsigned p = 0; p < NPAGES; p++)
		fill_random(img_a + (size_t)p * PAGE, PAGE, 1000 + p);
	memset(img_a + 7 * PAGE, 0, PAGE); /* goes as a ZERO page */
	memcpy(img_b, img_a, SIZE);
}

/* A destination in a child (memory filled with FILL) and the fake source
 * connected to it: handshake done on every channel. */
void eds_start(struct sess *s, const struct dest_opts *extra)
{
	struct dest_opts o = { 0 };
	int ret;

	if (extra)
		o = *extra;
	o.listen = "tcp:127.0.0.1:0";
	o.fill = FILL;
	make_images();
	ck_assert_int_eq(dest_spawn(&s->d, SIZE, &o), 0);
	ret = fs_open(&s->fs, s->d.uri, NCHAN, RID, SIZE, TIMEOUT_MS);
	ck_assert_msg(ret == 0, "handshake: %d (%s)", ret, s->fs.err);
}

void eds_end(struct sess *s)
{
	fs_close(&s->fs);
	dest_release(&s->d);
}


/* DRAIN on every channel; DRAINED must come back on channel 0 (no hint was
 * sent, so no REQ REFETCH may precede it). */
void drain(struct sess *s)
{
	const uint8_t *p;
	struct wire_hdr h;

	FS_OK(s, fs_send_all(&s->fs, WIRE_DRAIN));
	FS_OK(s, fs_recv(&s->fs, 0, &h, &p));
	ck_assert_msg(h.type == WIRE_DRAINED,
		      "record 0x%04x instead of DRAINED", h.type);
}

/* Pre-copy: every page once, each on its stripe. With @barrier, a DRAIN
 * round too, so that every page has landed before what the test sends
 * next (a failure stops the other channels' receivers mid-stream). */
void precopy_all(struct sess *s, bool barrier)
{
	uint64_t all[WORDS] = { 0 };

	for (unsigned p = 0; p < NPAGES; p++)
		bm_set(all, p);
	FS_OK(s, fs_send_bitmap(&s->fs, all, -1, img_a));
	if (barrier)
		drain(s);
}

bool is_hole(int fd, uint64_t p)
{
	off_t off = (off_t)(p * PAGE);
	off_t data = lseek(fd, off, SEEK_DATA);

	return data != off; /* -1 (ENXIO): only holes from here on */
}

/*
 * Destination memory, seen through its file: the pages of @dropped are
 * holes reading as zero; every other page is there and equals @image.
 * @dropped NULL: compare the contents only.
 */
void assert_memory(struct sess *s, const uint64_t *dropped,
		   const uint8_t *image)
{
	static const uint8_t zero[PAGE];
	uint8_t buf[PAGE];

	for (unsigned p = 0; p < NPAGES; p++) {
		ck_assert_int_eq(pread(s->d.memfd, buf, PAGE, (off_t)p * PAGE),
				 (ssize_t)PAGE);
		if (dropped && bm_test(dropped, p)) {
			ck_assert_msg(is_hole(s->d.memfd, p),
				      "page %u should have been dropped", p);
			ck_assert_msg(!memcmp(buf, zero, PAGE),
				      "dropped page %u does not read as zero",
				      p);
			continue;
		}
		if (dropped)
			ck_assert_msg(!is_hole(s->d.memfd, p),
				      "page %u was dropped", p);
		ck_assert_msg(!memcmp(buf, image + (size_t)p * PAGE, PAGE),
			      "page %u differs from what was sent", p);
	}
}

/*
 * The destination refused: the next record on channel 0 is ERROR saying
 * @expect; the child ends with -EPROTO and the same reason, and the guest
 * was never started there.
 */
void assert_refused(struct sess *s, const char *expect)
{
	struct wire_status st;
	const uint8_t *p;
	struct wire_hdr h;
	char err[WIRE_ERRLEN];
	int code;

	FS_OK(s, fs_recv(&s->fs, 0, &h, &p));
	ck_assert_msg(h.type == WIRE_ERROR, "record 0x%04x instead of ERROR",
		      h.type);
	ck_assert_int_eq(wire_status_unpack(p, h.len, &st, err, sizeof(err)),
			 0);
	ck_assert_int_eq(st.status, -EPROTO);
	ck_assert_msg(strstr(st.text, expect), "ERROR text: %s", st.text);
	fs_close(&s->fs);
	code = dest_reap(&s->d);
	ck_assert_msg(code == 1, "destination exit status %d", code);
	ck_assert_int_eq(s->d.res->ret, -EPROTO);
	ck_assert_msg(strstr(s->d.res->error, expect), "destination error: %s",
		      s->d.res->error);
	ck_assert_int_eq(s->d.res->started, 0);
	ck_assert_int_eq(s->d.res->st.status, VMMIG_STATUS_FAILED);
}

/* Page-sum hash of @image (docs/wire-format.md 7): zero pages count 0. */
uint64_t sum_hash(const uint8_t *image)
{
	static const uint8_t zero[PAGE];
	uint64_t h = 0;

	for (uint64_t p = 0; p < NPAGES; p++)
		if (memcmp(image + p * PAGE, zero, PAGE))
			h += vmmig_hash64(image + p * PAGE, PAGE,
					  ((uint64_t)RID << 40) ^ p);
	return h;
}


void send_state(struct sess *s)
{
	uint64_t cpu = CPU_STATE, writes = WRITES;

	FS_OK(s, fs_send_state(&s->fs, 1, &cpu, sizeof(cpu)));
	FS_OK(s, fs_send_state(&s->fs, 2, &writes, sizeof(writes)));
}

void send_postcopy(struct sess *s, uint32_t flags)
{
	uint8_t pc[WIRE_POSTCOPY_SIZE];

	wire_postcopy_pack(pc, flags);
	FS_OK(s, fs_send(&s->fs, 0, WIRE_POSTCOPY, 0, pc, sizeof(pc)));
}

/*
 * A REQ from the destination: every page asked for must be one still to
 * come; those not sent yet go out now on the urgent channel. Returns the
 * number of pages sent.
 */
unsigned serve_req(struct sess *s, const struct wire_hdr *h,
		   const uint8_t *payload, const uint64_t *pending,
		   uint64_t *sent)
{
	uint64_t idx[WIRE_REQ_MAX];
	char err[WIRE_ERRLEN];
	struct wire_req q;
	size_t n = 0;

	ck_assert_int_eq(h->flags, 0); /* no hint: nothing to refetch */
	ck_assert_msg(!wire_req_unpack(payload, h->len, &q, err, sizeof(err)),
		      "REQ: %s", err);
	ck_assert_uint_eq(q.region_id, RID);
	for (uint32_t i = 0; i < q.count; i++) {
		uint64_t page = wire_req_page(&q, i);

		ck_assert_uint_lt(page, NPAGES);
		ck_assert_msg(bm_test(pending, page),
			      "REQ for page %llu, valid there already",
			      (unsigned long long)page);
		if (!bm_test(sent, page)) {
			bm_set(sent, page);
			idx[n++] = page;
		}
	}
	if (n)
		FS_OK(s, fs_send_pages(&s->fs, fs_urgent(&s->fs), idx, n,
				       img_b));
	return (unsigned)n;
}

void drop_early(struct sess *s, uint64_t *dropped, const unsigned *pages,
		size_t n)
{
	precopy_all(s, true);
	bm_list(dropped, pages, n);
	FS_OK(s, fs_send_discard(&s->fs, 0, WIRE_DISCARD_EARLY, 0, WORDS,
				 dropped));
	drain(s);
	assert_memory(s, dropped, img_a);
}
