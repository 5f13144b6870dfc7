/* SPDX-License-Identifier: MIT */
/*
 * A fake migration source for protocol tests: it speaks the wire format
 * (docs/wire-format.md) record by record over plain loopback TCP sockets to
 * a real destination, so that a test decides exactly what is sent, in which
 * order and on which channel, and reads every record the destination sends
 * back. One region; the last channel is the urgent one, chunk c of the
 * region travels on data channel c mod (nchan - 1).
 */
#ifndef VMMIG_TEST_FAKE_SOURCE_H
#define VMMIG_TEST_FAKE_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "wire/batch.h"
#include "wire/wire.h"

#define FS_MAX_CH 8

struct fake_src {
	unsigned nchan;
	int fd[FS_MAX_CH];
	uint32_t seq[FS_MAX_CH];    /* next sequence number sent */
	uint64_t pages[FS_MAX_CH];  /* PAGES entries sent (for END) */
	struct wire_reader *rd[FS_MAX_CH]; /* records from the destination */
	uint32_t region_id;
	uint64_t npages;
	uint8_t uuid[16];
	struct wire_batch batch;
	char err[WIRE_ERRLEN];      /* why the last call failed */
};

/* Connect @nchan channels (>= 2) to the destination at @uri (tcp:...),
 * HELLO and HELLO_ACK on each in turn. One region: @region_id, gpa 0,
 * @size bytes. Every socket wait is bounded by @timeout_ms. 0 or -errno
 * (fs->err says why). */
int fs_open(struct fake_src *fs, const char *uri, unsigned nchan,
	    uint32_t region_id, uint64_t size, int timeout_ms);
void fs_close(struct fake_src *fs);

/* The data channel that carries @page (its chunk's stripe). */
unsigned fs_stripe(const struct fake_src *fs, uint64_t page);
static inline unsigned fs_urgent(const struct fake_src *fs)
{
	return fs->nchan - 1;
}

/* Any record with this payload on channel @ch. */
int fs_send(struct fake_src *fs, unsigned ch, uint16_t type, uint16_t flags,
	    const void *payload, size_t len);
/* An empty record of @type on every channel (SWITCH, DRAIN). */
int fs_send_all(struct fake_src *fs, uint16_t type);
/* PAGES records on @ch with pages @idx[0..n) taken from @image (the whole
 * region), 64 per record; zero pages go as ZERO, the rest RAW. */
int fs_send_pages(struct fake_src *fs, unsigned ch, const uint64_t *idx,
		  size_t n, const uint8_t *image);
/* Every page set in @bm (a region bitmap), each on its stripe; or, with
 * @ch >= 0, all of them on channel @ch. */
int fs_send_bitmap(struct fake_src *fs, const uint64_t *bm, int ch,
		   const uint8_t *image);
/* One PAGES record of pages @idx[0..n) (n <= 64) for channel @ch, built
 * but not sent: *@out (malloc'd, *@len bytes) is for fs_write_raw(), in
 * pieces if the test wants the record to straddle something. It takes its
 * sequence number and counts its pages now. */
int fs_build_pages(struct fake_src *fs, unsigned ch, const uint64_t *idx,
		   size_t n, const uint8_t *image, uint8_t **out, size_t *len);
/* Bytes as they are on channel @ch. */
int fs_write_raw(struct fake_src *fs, unsigned ch, const void *buf,
		 size_t len);
/* DISCARD on @ch: words [first_word, first_word + nwords) of a bitmap. */
int fs_send_discard(struct fake_src *fs, unsigned ch, uint16_t flags,
		    uint64_t first_word, uint32_t nwords, const uint64_t *words);
/* One state blob in one STATE chunk (flag LAST), on channel 0. */
int fs_send_state(struct fake_src *fs, uint32_t blob_id, const void *data,
		  size_t len);
/* END on @ch with the pages counted on that channel. */
int fs_send_end(struct fake_src *fs, unsigned ch, uint32_t flags,
		uint32_t nblobs, uint64_t mem_hash);

/* The next record from the destination on @ch (KEEPALIVE is skipped by
 * the reader). The payload is valid until the next call. */
int fs_recv(struct fake_src *fs, unsigned ch, struct wire_hdr *h,
	    const uint8_t **payload);
/* 1 if a record (or EOF) is waiting on @ch within @ms, 0 if not, -errno. */
int fs_readable(struct fake_src *fs, unsigned ch, int ms);

#endif
