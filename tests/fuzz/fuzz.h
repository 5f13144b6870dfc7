/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of the fuzz targets (tests/fuzz/README.md): the guest
 * layout both sides register, a transport that serves one input as a
 * channel's byte stream, and the CRC fixer of the "fix-CRC" mode.
 */
#ifndef VMMIG_TEST_FUZZ_H
#define VMMIG_TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include <vmmig/transport.h>

/* One region, 67 pages: not a multiple of 64, so bitmap tails count. The
 * corpus generator migrates a guest of exactly this layout. */
#define FZ_REGION_ID 0u
#define FZ_NPAGES 67u
#define FZ_SIZE ((size_t)FZ_NPAGES * 4096u)

/* Bit 0 of an input's first byte: reseal every whole record (sequence
 * number and CRC) before feeding it, so mutations reach the parsers behind
 * the checksum. The other bits are each target's own. */
#define FZ_MODE_FIXCRC 1u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The guest memory of a target: FZ_SIZE bytes, page aligned, zero at
 * first, then holding what earlier inputs wrote. */
uint8_t *fz_memory(void);

/* Copy @data (size @size) minus its mode byte into a new buffer and, in
 * fix-CRC mode, reseal its records. Free the result. */
uint8_t *fz_stream_copy(const uint8_t *data, size_t size, size_t *len);

/* Renumber (0, 1, ...) and re-checksum every whole record in @buf. */
void fz_fix_records(uint8_t *buf, size_t len);

/*
 * The fuzz transport. Each channel's receive side reads from one stream:
 * the first accepted (or the connected) channel reads @in; a channel
 * accepted after it reads the records fz_listener.next() builds for it
 * (the destination target answers with HELLOs of its own). Sends are
 * dropped. Nothing blocks: a read past the end is -ECONNRESET.
 */
struct fz_listener {
	const uint8_t *in;
	size_t len;
	unsigned accepted;
	/* Fill @buf with the stream of the @n-th channel accepted (n >= 1);
	 * returns its length. */
	size_t (*next)(void *opaque, unsigned n, uint8_t *buf, size_t cap);
	void *opaque;
};
const struct vmmig_transport_ops *fz_transport(void);
/* Source side: point an initialised channel's receive side at @in. */
void fz_chan_feed(void *chan_priv, const uint8_t *in, size_t len);

#endif
