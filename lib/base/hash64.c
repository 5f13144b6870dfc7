/* SPDX-License-Identifier: MIT */
/*
 * vmmig_hash64: fast non-cryptographic 64-bit hash, used to compare guest
 * memory on both hosts and to check pages restored from storage.
 *
 * Four independent lanes each take every fourth 8-byte word: xor it in,
 * multiply by an odd constant, fold the high bits down. Each step is a
 * bijection of the lane for a fixed word, and the lanes do not wait on each
 * other, so the loop runs near memory bandwidth. The lanes, the length and
 * the seed are then merged and put through a full avalanche finaliser.
 * Words are read little endian, so the value is the same on every host.
 */
#include <endian.h>
#include <string.h>

#include <vmmig/pagesource.h>

#include "page.h"

static const uint64_t K[4] = {
	0x9fb21c651e98df25ull, 0xc2b2ae3d27d4eb4full,
	0xd6e8feb86659fd93ull, 0xa0761d6478bd642full,
};

static uint64_t rd64(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return le64toh(w);
}

static uint64_t rotl(uint64_t v, int r)
{
	return (v << r) | (v >> (64 - r));
}

static uint64_t lane_step(uint64_t v, uint64_t w, uint64_t k)
{
	v = (v ^ w) * k;
	return v ^ (v >> 29);
}

/* Full avalanche: every input bit flips each output bit with p ~ 1/2. */
static uint64_t finish(uint64_t h)
{
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ull;
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ull;
	h ^= h >> 32;
	return h;
}

uint64_t vmmig_hash64(const void *buf, size_t len, uint64_t seed)
{
	const unsigned char *p = buf;
	uint64_t v[4], h;
	size_t n = len;
	int i = 0;

	/*
	 * Four named lanes rather than an array: the compiler would otherwise
	 * vectorise the loop with SSE2, which has no 64-bit multiply, and
	 * run at a third of the speed.
	 */
	uint64_t a = seed + K[0], b = seed + 2 * K[1];
	uint64_t c = seed + 3 * K[2], d = seed + 4 * K[3];

	for (; n >= 32; n -= 32, p += 32) {
		a = lane_step(a, rd64(p), K[0]);
		b = lane_step(b, rd64(p + 8), K[1]);
		c = lane_step(c, rd64(p + 16), K[2]);
		d = lane_step(d, rd64(p + 24), K[3]);
	}
	v[0] = a;
	v[1] = b;
	v[2] = c;
	v[3] = d;
	for (; n >= 8; n -= 8, p += 8, i++)
		v[i] = lane_step(v[i], rd64(p), K[i]);
	if (n) {
		unsigned char tail[8] = { 0 };

		memcpy(tail, p, n);
		/* The length below tells "ab" from "ab\0". */
		v[i] = lane_step(v[i], rd64(tail), K[i]);
	}

	h = seed ^ ((uint64_t)len * K[3]);
	for (int l = 0; l < 4; l++)
		h = (h ^ rotl(finish(v[l]), 17 * l + 5)) * K[(l + 1) & 3];
	return finish(h);
}

/* Fixed, so that a hint computed on the source host verifies on any
 * destination. Any constant works; this one spells "vmmigpg". */
#define PAGE_HASH_SEED 0x0067706769676d76ull

VMMIG_API uint64_t vmmig_page_hash(const void *page)
{
	return vmmig_hash64(page, VMMIG_PAGE_SIZE, PAGE_HASH_SEED);
}
