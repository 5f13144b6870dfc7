/* SPDX-License-Identifier: MIT */
/* ZERO records: runs of zero pages of one region (private; the format is
 * docs/wire-format.md 5.5). */
#ifndef VMMIG_LIB_WIRE_ZERO_RANGE_H
#define VMMIG_LIB_WIRE_ZERO_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * ZERO payload: u32 region_id, u32 count (1..WIRE_ZERO_MAX), then count x
 * { u64 first, u64 npages }: pages [first, first + npages) of the region
 * are zero. Runs are in ascending order, do not overlap or touch (a run
 * starts after the previous one's end), and lie inside the region.
 */
#define WIRE_ZERO_HEAD 8
#define WIRE_ZERO_RUN 16
#define WIRE_ZERO_MAX 4096

/* A ZERO record under construction (source side). */
struct wire_zeros {
	uint8_t *buf;       /* header, ZERO head, up to WIRE_ZERO_MAX runs */
	unsigned count;     /* runs so far */
	uint32_t region_id;
	uint64_t pages;     /* pages the runs name */
};
int wire_zeros_init(struct wire_zeros *z);
/* A buffer the size of wire_zeros.buf (malloc'd; NULL: no memory), for a
 * sender that swaps it with the record's while that one is in flight. */
uint8_t *wire_zeros_buf_new(void);
void wire_zeros_destroy(struct wire_zeros *z);
void wire_zeros_begin(struct wire_zeros *z, uint32_t region_id);
/* Append pages [first, first + n): the last run grows if they follow it.
 * false (nothing added) when the record is full or they do not lie after
 * every page added so far: finish it first. */
bool wire_zeros_add(struct wire_zeros *z, uint64_t first, uint64_t n);
/* Seal the record with @seq into @iov; return its bytes. */
size_t wire_zeros_finish(struct wire_zeros *z, uint32_t seq,
			 struct iovec *iov);
/* Decode a ZERO payload's head and check its length: 0 or -EPROTO. */
int wire_zero_unpack(const uint8_t *buf, size_t len, uint32_t *region_id,
		     uint32_t *count, char *err, size_t errlen);
/* Run @i of a checked payload. */
void wire_zero_run(const uint8_t *buf, uint32_t i, uint64_t *first,
		   uint64_t *npages);
/* Check the @count runs against a region of @npages pages: non-empty, in
 * ascending order without overlap, inside the region. 0 or -EPROTO. */
int wire_zero_check(const uint8_t *buf, uint32_t count, uint64_t npages,
		    char *err, size_t errlen);

/*
 * The page sink's zero(cookie, ri, first, n) (struct wire_page_sink_ops in
 * wire.h): a run of a ZERO record whose CRC and every run were checked:
 * pages [first, first + n) of region @ri are all zero. NULL: ZERO records
 * are a protocol error. 0 or -errno (-EPROTO: a page not expected).
 */

#endif
