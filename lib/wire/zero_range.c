/* SPDX-License-Identifier: MIT */
/*
 * ZERO records (docs/wire-format.md 5.5): one record names runs of zero
 * pages of a region, 16 bytes a run, however long the run. A sparse guest's
 * never-populated memory then costs a few records, not a descriptor per
 * page, and the destination can clear (or skip) each run in one go.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "le.h"
#include "wire.h"
#include "zero_range.h"

#define ZERO_CAP (WIRE_HDR_SIZE + WIRE_ZERO_HEAD + WIRE_ZERO_RUN * WIRE_ZERO_MAX)

uint8_t *wire_zeros_buf_new(void)
{
	return malloc(ZERO_CAP);
}

int wire_zeros_init(struct wire_zeros *z)
{
	*z = (struct wire_zeros){ .buf = wire_zeros_buf_new() };
	return z->buf ? 0 : -ENOMEM;
}

void wire_zeros_destroy(struct wire_zeros *z)
{
	free(z->buf);
	z->buf = NULL;
}

void wire_zeros_begin(struct wire_zeros *z, uint32_t region_id)
{
	z->region_id = region_id;
	z->count = 0;
	z->pages = 0;
}

static uint8_t *run_at(const uint8_t *payload, uint32_t i)
{
	return (uint8_t *)payload + WIRE_ZERO_HEAD + (size_t)WIRE_ZERO_RUN * i;
}

bool wire_zeros_add(struct wire_zeros *z, uint64_t first, uint64_t n)
{
	uint8_t *payload = z->buf + WIRE_HDR_SIZE;

	if (z->count) {
		uint8_t *last = run_at(payload, z->count - 1);
		uint64_t lf = get_le64(last), ln = get_le64(last + 8);

		if (lf + ln == first) {
			put_le64(last + 8, ln + n);
			z->pages += n;
			return true;
		}
		/* Runs of a record ascend; a sweep that wrapped around (the
		 * post-copy sweep starts where the vCPU faulted) needs a new
		 * record. */
		if (first < lf + ln)
			return false;
	}
	if (z->count == WIRE_ZERO_MAX)
		return false;
	put_le64(run_at(payload, z->count), first);
	put_le64(run_at(payload, z->count) + 8, n);
	z->count++;
	z->pages += n;
	return true;
}

size_t wire_zeros_finish(struct wire_zeros *z, uint32_t seq,
			 struct iovec *iov)
{
	uint8_t *payload = z->buf + WIRE_HDR_SIZE;
	size_t len = WIRE_ZERO_HEAD + (size_t)WIRE_ZERO_RUN * z->count;
	struct iovec body = { payload, len };

	if (!z->count)
		return 0;
	put_le32(payload, z->region_id);
	put_le32(payload + 4, z->count);
	wire_record_seal(z->buf, WIRE_ZERO, 0, seq, &body, 1);
	*iov = (struct iovec){ z->buf, WIRE_HDR_SIZE + len };
	return WIRE_HDR_SIZE + len;
}

int wire_zero_unpack(const uint8_t *buf, size_t len, uint32_t *region_id,
		     uint32_t *count, char *err, size_t errlen)
{
	if (len < WIRE_ZERO_HEAD + WIRE_ZERO_RUN) {
		snprintf(err, errlen, "ZERO record too short (%zu bytes)", len);
		return -EPROTO;
	}
	*region_id = get_le32(buf);
	*count = get_le32(buf + 4);
	if (*count < 1 || *count > WIRE_ZERO_MAX) {
		snprintf(err, errlen, "ZERO record with %u runs (1..%u allowed)",
			 *count, WIRE_ZERO_MAX);
		return -EPROTO;
	}
	if (len != WIRE_ZERO_HEAD + (size_t)WIRE_ZERO_RUN * *count) {
		snprintf(err, errlen, "ZERO record of %zu bytes does not hold "
			 "its %u runs", len, *count);
		return -EPROTO;
	}
	return 0;
}

void wire_zero_run(const uint8_t *buf, uint32_t i, uint64_t *first,
		   uint64_t *npages)
{
	*first = get_le64(run_at(buf, i));
	*npages = get_le64(run_at(buf, i) + 8);
}

int wire_zero_check(const uint8_t *buf, uint32_t count, uint64_t npages,
		    char *err, size_t errlen)
{
	uint64_t next = 0; /* the first page a run may start at */

	for (uint32_t i = 0; i < count; i++) {
		uint64_t first, n;

		wire_zero_run(buf, i, &first, &n);
		if (!n) {
			snprintf(err, errlen, "ZERO run %u is empty", i);
			return -EPROTO;
		}
		/* Written so that nothing can overflow. */
		if (first >= npages || n > npages - first) {
			snprintf(err, errlen, "ZERO run %u (pages %llu + %llu) "
				 "goes past the end of its region (%llu pages)",
				 i, (unsigned long long)first,
				 (unsigned long long)n,
				 (unsigned long long)npages);
			return -EPROTO;
		}
		if (i && first < next) {
			snprintf(err, errlen, "ZERO run %u (from page %llu) "
				 "overlaps or precedes the run before it (up "
				 "to page %llu)", i, (unsigned long long)first,
				 (unsigned long long)next);
			return -EPROTO;
		}
		next = first + n;
	}
	return 0;
}
