/* SPDX-License-Identifier: MIT */
/* A stream for the wire tests that delivers its bytes in pieces, as a
 * socket would: fixed sizes, random sizes, at given marks, or all at once. */
#ifndef VMMIG_TEST_PIECE_STREAM_H
#define VMMIG_TEST_PIECE_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum { PIECE_RANDOM = 0, PIECE_MARKS = -1, PIECE_ALL = -2 };

struct pstream {
	const uint8_t *buf;
	size_t len, pos;
	size_t arrived;     /* bytes the peer has delivered so far */
	int piece;          /* > 0: fixed piece size, or PIECE_* */
	const size_t *marks; /* PIECE_MARKS: arrival points (record ends) */
	unsigned nmarks, mark;
	uint64_t rng;
	unsigned some_calls, read_calls;
};

/* wire_read_some_fn: what arrived, at least @min (else EOF), at most @max. */
int ps_some(void *cookie, void *buf, size_t min, size_t max);
/* wire_read_fn over the same bytes (the reader's direct reads). */
int ps_read(void *cookie, const struct iovec *iov, int n);

#endif
