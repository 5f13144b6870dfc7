/* SPDX-License-Identifier: MIT */
/*
 * CRC32C (Castagnoli), reflected polynomial 0x82F63B78, register preset to
 * ~0 and inverted at the end, so crc32c("123456789") = 0xE3069283.
 *
 * Hardware path: the SSE4.2 crc32 instruction, 8 bytes at a time. One
 * stream is bound by the instruction's 3-cycle latency, so long buffers run
 * three independent streams and merge them: the CRC register is linear, so
 * the register after A||B is shift(reg after A, |B|) ^ (reg of B from 0),
 * where shift multiplies by x^(8|B|) modulo the polynomial. With PCLMULQDQ
 * a shift is one carry-less multiply and one crc32 (see shift_hw()); else
 * a bit loop. STREAM is a third of a page (less 16 bytes), so that a
 * page runs in three streams.
 * Software path: slice-by-8 tables.
 */
#include <endian.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "wire.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#include <wmmintrin.h>
#endif

#define POLY 0x82f63b78u
/* Bytes per stream in the 3-way hardware loop: 3 * 1360 = 4096 - 16. */
#define STREAM 1360u
/* Entries of k_pow64: shifts by 8 * 2^i bytes, i < SHIFT_BITS. */
#define SHIFT_BITS 58

static uint32_t table[8][256];
static uint32_t k_stream, k_2stream; /* x^(8*STREAM), x^(16*STREAM) */
/* The same shifts for shift_hw(): x^(8*STREAM-33), x^(16*STREAM-33). */
static uint32_t c_stream, c_2stream;
static uint32_t k_pow64[SHIFT_BITS]; /* x^(64 * 2^i - 33) */
static bool have_sse42, have_clmul;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* a * b modulo the polynomial, both in reflected form (bit 31 = x^0). */
static uint32_t gf2_mul(uint32_t a, uint32_t b)
{
	uint32_t p = 0;

	for (int k = 31; k >= 0; k--) {
		if (a & (1u << k))
			p ^= b;
		/* b *= x: one step right; x^32 folds back as POLY. */
		b = (b & 1) ? (b >> 1) ^ POLY : b >> 1;
	}
	return p;
}

/* x^n modulo the polynomial, by square-and-multiply. */
static uint32_t x_pow(uint64_t n)
{
	uint32_t r = 1u << 31, sq = 1u << 30; /* x^0, x^1 */

	for (; n; n >>= 1) {
		if (n & 1)
			r = gf2_mul(r, sq);
		sq = gf2_mul(sq, sq);
	}
	return r;
}

static uint32_t x_pow_8n(uint64_t n)
{
	return x_pow(8 * n);
}

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^
				      table[0][table[t - 1][i] & 0xff];
	k_stream = x_pow_8n(STREAM);
	k_2stream = x_pow_8n(2 * STREAM);
	c_stream = x_pow(8 * STREAM - 33);
	c_2stream = x_pow(16 * STREAM - 33);
	for (int i = 0; i < SHIFT_BITS; i++)
		k_pow64[i] = x_pow((64ull << i) - 33);
#if defined(__x86_64__)
	have_sse42 = __builtin_cpu_supports("sse4.2");
	have_clmul = have_sse42 && __builtin_cpu_supports("pclmul");
#endif
}

static uint64_t load64(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return le64toh(w); /* slice-by-8 wants the first byte lowest */
}

uint32_t vmmig_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t c = ~crc;

	pthread_once(&once, crc_init);
	while (len && ((uintptr_t)p & 7)) {
		c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
		len--;
	}
	for (; len >= 8; len -= 8, p += 8) {
		uint64_t w = load64(p) ^ c;

		c = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^
		    table[5][(w >> 16) & 0xff] ^ table[4][(w >> 24) & 0xff] ^
		    table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
		    table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
	}
	while (len--)
		c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
	return ~c;
}

#if defined(__x86_64__)
/*
 * @a * x^(@k's exponent + 33): the 63-bit carry-less product of two
 * reflected 32-bit values stands for a * k * x (its top bit is x^62, the
 * frame's x^63), and crc32 of those 8 bytes from a zero register multiplies
 * by x^32 modulo the polynomial. Hence k = x^(shift - 33).
 */
/* Not inlined: its pclmul must not be hoisted past the have_clmul test of
 * a caller. */
__attribute__((target("sse4.2,pclmul"), noinline))
static uint32_t shift_hw(uint32_t a, uint32_t k)
{
	__m128i p = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)a),
					 _mm_cvtsi32_si128((int)k), 0);

	return (uint32_t)_mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(p));
}

/* Merge three stream registers: c went first, then b, then d. */
__attribute__((target("sse4.2")))
static uint64_t merge3(uint64_t c, uint64_t b, uint64_t d)
{
	if (have_clmul)
		return shift_hw((uint32_t)c, c_2stream) ^
		       shift_hw((uint32_t)b, c_stream) ^ (uint32_t)d;
	return gf2_mul((uint32_t)c, k_2stream) ^
	       gf2_mul((uint32_t)b, k_stream) ^ (uint32_t)d;
}

__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const unsigned char *p, size_t len)
{
	uint64_t c = ~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	while (len >= 3 * STREAM) {
		uint64_t b = 0, d = 0;

		for (size_t i = 0; i < STREAM; i += 8) {
			c = _mm_crc32_u64(c, load64(p + i));
			b = _mm_crc32_u64(b, load64(p + STREAM + i));
			d = _mm_crc32_u64(d, load64(p + 2 * STREAM + i));
		}
		c = merge3(c, b, d);
		p += 3 * STREAM;
		len -= 3 * STREAM;
	}
	for (; len >= 8; len -= 8, p += 8)
		c = _mm_crc32_u64(c, load64(p));
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

/* @a * x^(8 @n): zero bytes for n % 8, table entries for the rest. */
__attribute__((target("sse4.2")))
static uint32_t shift_bytes_hw(uint32_t a, uint64_t n)
{
	for (unsigned i = 0; i < (n & 7); i++)
		a = _mm_crc32_u8(a, 0);
	n >>= 3;
	for (int i = 0; n && i < SHIFT_BITS; i++, n >>= 1)
		if (n & 1)
			a = shift_hw(a, k_pow64[i]);
	return a;
}
#endif

uint32_t vmmig_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&once, crc_init);
#if defined(__x86_64__)
	if (have_sse42)
		return crc_hw(crc, buf, len);
#endif
	return vmmig_crc32c_sw(crc, buf, len);
}

uint32_t vmmig_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
	pthread_once(&once, crc_init);
#if defined(__x86_64__)
	if (have_clmul)
		return shift_bytes_hw(crc_a, len_b) ^ crc_b;
#endif
	return gf2_mul(crc_a, x_pow_8n(len_b)) ^ crc_b;
}
