/* SPDX-License-Identifier: MIT */
/*
 * Small helpers of the benchmarks: clocks, per-process CPU time and peak
 * RSS, filling guest memory, and a fast hash to check the result.
 */
#ifndef VMMIG_BENCH_UTIL_H
#define VMMIG_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_PAGE 4096u

/* CLOCK_MONOTONIC in seconds. */
double bench_now_s(void);
/* user + system time of the whole process (every thread), in seconds. */
double bench_cpu_s(void);
/* A "VmHWM"/"VmRSS"-style line of /proc/self/status, in bytes; 0 if absent. */
uint64_t bench_status_bytes(const char *key);
/* Reset VmHWM to the current RSS (clear_refs "5", Linux >= 4.0), so that
 * each run's peak is its own. Return: 0 or -errno. */
int bench_peak_reset(void);

enum bench_fill {
	FILL_RANDOM = 0, /* every byte from a PRNG: incompressible */
	FILL_HALF,       /* odd pages random, even pages all zero */
};
/* Write every page of @mem (so it is resident) with @fill's pattern. */
void bench_fill(uint8_t *mem, size_t size, enum bench_fill fill,
		uint64_t seed);
/* Order-sensitive 64-bit hash of @size bytes (a multiple of 32). */
uint64_t bench_hash(const uint8_t *mem, size_t size);
/* Write one byte per page, so the kernel allocates every page now. */
void bench_prefault(uint8_t *mem, size_t size);
/* Have the kernel write every page once (read() from /dev/zero). See
 * README.md: on this machine's hypervisor a page the kernel has not yet
 * written costs ~9 us on the kernel's first copy into it (recv()), even
 * after user space touched it. Return: 0 or -errno. */
int bench_prefault_kernel(uint8_t *mem, size_t size);

#endif
