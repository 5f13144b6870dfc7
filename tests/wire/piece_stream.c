/* SPDX-License-Identifier: MIT */
/* The wire tests' piece stream (piece_stream.h). */
#include "piece_stream.h"

#include "wiretest.h"

static size_t piece_len(struct pstream *s)
{
	uint64_t x;

	if (s->piece > 0)
		return (size_t)s->piece;
	if (s->piece == PIECE_ALL)
		return s->len;
	if (s->piece == PIECE_MARKS) {
		while (s->mark < s->nmarks && s->marks[s->mark] <= s->arrived)
			s->mark++;
		return s->mark < s->nmarks ? s->marks[s->mark] - s->arrived
					   : s->len;
	}
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	x = s->rng * 2685821657736338717ull;
	/* Log-uniform 1 B .. 16 KiB: mostly small pieces. */
	return 1 + (size_t)((x >> 8) % (1u << (x % 15)));
}

/* Let the peer deliver until @need bytes past pos are there (or all). */
static void arrive(struct pstream *s, size_t need)
{
	while (s->arrived < s->len && s->arrived - s->pos < need) {
		size_t k = piece_len(s), deficit = s->pos + need - s->arrived;

		/* Fixed pieces: jump over the whole pieces at once. */
		if (s->piece > 0 && deficit > k)
			k *= deficit / k;
		s->arrived = s->len - s->arrived < k ? s->len : s->arrived + k;
	}
}

int ps_some(void *cookie, void *buf, size_t min, size_t max)
{
	struct pstream *s = cookie;
	size_t n;

	s->some_calls++;
	ck_assert_uint_ge(min, 1);
	ck_assert_uint_le(min, max);
	arrive(s, min);
	if (s->arrived - s->pos < min)
		return -ECONNRESET; /* the peer closed mid-record */
	n = s->arrived - s->pos < max ? s->arrived - s->pos : max;
	memcpy(buf, s->buf + s->pos, n);
	s->pos += n;
	return (int)n;
}

int ps_read(void *cookie, const struct iovec *iov, int n)
{
	struct pstream *s = cookie;

	s->read_calls++;
	for (int i = 0; i < n; i++) {
		arrive(s, iov[i].iov_len);
		if (s->arrived - s->pos < iov[i].iov_len)
			return -ECONNRESET;
		memcpy(iov[i].iov_base, s->buf + s->pos, iov[i].iov_len);
		s->pos += iov[i].iov_len;
	}
	return 0;
}
