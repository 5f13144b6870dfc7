/* SPDX-License-Identifier: MIT */
/* The reader's state, shared by reader.c (records, read-ahead) and
 * reader_pages.c (PAGES records). Private to lib/wire. */
#ifndef VMMIG_WIRE_READER_PRIV_H
#define VMMIG_WIRE_READER_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <zstd.h>

#include "pages_fmt.h"
#include "zero_range.h"

struct wire_reader {
	wire_read_fn fn;
	void *cookie;
	struct wire_dest_region *regions;
	unsigned nregions;
	uint32_t seq;        /* expected next */
	int failed;          /* sticky error, 0 while healthy */
	uint64_t pages;      /* applied */
	uint8_t *buf;        /* payload of non-PAGES records */
	size_t bufcap;
	uint8_t *scratch;    /* non-raw page payloads of one record */
	size_t scratch_cap;  /* grown as records need (reader_pages.c) */
	uint8_t *zpage;      /* one decompressed page */
	uint8_t *zrun;       /* a decompressed run: WIRE_MAX_BATCH pages */
	ZSTD_DCtx *zd;
	const struct wire_page_sink_ops *sink; /* where pages land */
	void *sink_cookie;
	uint8_t *rawbuf;      /* raw pages the sink gave no place for */
	size_t rawbuf_cap;
	struct wire_page_desc desc[WIRE_MAX_BATCH]; /* of the PAGES record */
	void *into[WIRE_MAX_BATCH]; /* the sink's buffers (begin()) */
	uint8_t hdr[WIRE_HDR_SIZE];
	uint8_t head[BATCH_HEAD + DESC_SIZE * WIRE_MAX_BATCH];
	struct iovec iov[2 + WIRE_MAX_BATCH];
	char err[WIRE_ERRLEN];
	wire_read_some_fn some; /* read-ahead refill, NULL: off */
	uint8_t *ra;            /* read-ahead: ra[rapos, ralen) not yet used */
	size_t racap, rapos, ralen;
};

/* Record @ret and the reason; the reader stays failed. Returns @ret. */
__attribute__((format(printf, 3, 4)))
int reader_fail(struct wire_reader *r, int ret, const char *fmt, ...);
/* Fill @iov from the stream (through the read-ahead buffer if on). */
int reader_read_iov(struct wire_reader *r, struct iovec *iov, int n);
/* The record's CRC over its header and @iov. */
int reader_check_crc(struct wire_reader *r, const struct wire_hdr *h,
		     const struct iovec *iov, int n);
/* Read a non-PAGES payload into r->buf and check the record's CRC. */
int reader_read_payload(struct wire_reader *r, const struct wire_hdr *h);
const struct wire_dest_region *reader_find_region(struct wire_reader *r,
						  uint32_t id, unsigned *ri);
/* A ZERO record whose header is in r->hdr / @h (reader_zero.c). */
int reader_read_zero(struct wire_reader *r, const struct wire_hdr *h,
		     struct wire_page_counts *cnt);
/* A PAGES record whose header is in r->hdr / @h (reader_pages.c). */
int reader_read_pages(struct wire_reader *r, const struct wire_hdr *h,
		      struct wire_page_counts *cnt);

#endif
