/* SPDX-License-Identifier: MIT */
/*
 * XBZRLE-like delta of a page against the copy the receiver already holds.
 * The encoder compares 8 bytes at a time and trims each changed run to the
 * bytes that really differ; the decoder bounds-checks every length.
 */
#include <errno.h>
#include <string.h>

#include "encode.h"

/* Lengths are <= 4096, so a varint is one or two bytes. */
#define VARINT_MAX 2

static size_t put_varint(uint8_t *out, unsigned v)
{
	if (v < 0x80) {
		out[0] = (uint8_t)v;
		return 1;
	}
	out[0] = (uint8_t)(0x80 | (v & 0x7f));
	out[1] = (uint8_t)(v >> 7);
	return 2;
}

static uint64_t word_at(const uint8_t *p, size_t off)
{
	uint64_t w;

	memcpy(&w, p + off, sizeof(w));
	return w;
}

int delta_encode(const uint8_t *old_page, const uint8_t *new_page,
		 uint8_t *out, size_t cap)
{
	size_t pos = 0, done = 0, off = 0;

	while (off < ENC_PAGE) {
		size_t start, end;

		/* Skip unchanged words, then take the changed ones. */
		while (off < ENC_PAGE &&
		       word_at(old_page, off) == word_at(new_page, off))
			off += 8;
		if (off == ENC_PAGE)
			break;
		start = off;
		while (off < ENC_PAGE &&
		       word_at(old_page, off) != word_at(new_page, off))
			off += 8;
		end = off;
		/* Both edge words differ somewhere, so trimming stays inside. */
		while (old_page[start] == new_page[start])
			start++;
		while (old_page[end - 1] == new_page[end - 1])
			end--;

		if (pos + 2 * VARINT_MAX + (end - start) > cap)
			return -ENOSPC;
		pos += put_varint(out + pos, (unsigned)(start - done));
		pos += put_varint(out + pos, (unsigned)(end - start));
		memcpy(out + pos, new_page + start, end - start);
		pos += end - start;
		done = end;
	}
	if (pos == 0) {
		/* Unchanged page: one empty op, so a delta is never empty. */
		if (cap < 2)
			return -ENOSPC;
		out[pos++] = 0;
		out[pos++] = 0;
	}
	return (int)pos;
}

/* Read a varint at *pos; 0 or -EPROTO. Only canonical 1-2 byte forms. */
static int get_varint(const uint8_t *d, size_t len, size_t *pos,
		      unsigned *v, const char **why)
{
	if (*pos >= len)
		goto truncated;
	*v = d[*pos] & 0x7f;
	if (!(d[(*pos)++] & 0x80))
		return 0;
	if (*pos >= len)
		goto truncated;
	if (d[*pos] == 0 || (d[*pos] & 0x80)) {
		*why = "delta page has a malformed varint";
		return -EPROTO;
	}
	*v |= (unsigned)d[(*pos)++] << 7;
	return 0;
truncated:
	*why = "delta page is truncated";
	return -EPROTO;
}

/* One pass over the ops; writes into @page only when it is non-NULL. */
static int delta_walk(uint8_t *page, const uint8_t *d, size_t len,
		      const char **why)
{
	size_t pos = 0, off = 0;

	while (pos < len) {
		unsigned skip, count;
		int ret;

		ret = get_varint(d, len, &pos, &skip, why);
		if (ret < 0)
			return ret;
		ret = get_varint(d, len, &pos, &count, why);
		if (ret < 0)
			return ret;
		if (skip > ENC_PAGE - off || count > ENC_PAGE - off - skip) {
			*why = "delta page runs past the end of the page";
			return -EPROTO;
		}
		if (count > len - pos) {
			*why = "delta page is truncated";
			return -EPROTO;
		}
		off += skip;
		if (page)
			memcpy(page + off, d + pos, count);
		off += count;
		pos += count;
	}
	return 0;
}

int delta_apply(uint8_t *page, const uint8_t *d, size_t len,
		const char **why)
{
	int ret;

	if (len == 0 || len > ENC_DELTA_MAX) {
		*why = "delta page has a bad length";
		return -EPROTO;
	}
	/* Validate everything first so a bad delta leaves the page alone. */
	ret = delta_walk(NULL, d, len, why);
	if (ret < 0)
		return ret;
	return delta_walk(page, d, len, why);
}
