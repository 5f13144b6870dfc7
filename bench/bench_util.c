/* SPDX-License-Identifier: MIT */
#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

double bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bench_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

uint64_t bench_status_bytes(const char *key)
{
	size_t klen = strlen(key);
	unsigned long long kib = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			sscanf(line + klen + 1, "%llu", &kib);
			break;
		}
	fclose(f);
	return (uint64_t)kib * 1024;
}

int bench_peak_reset(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, "5", 1) != 1)
		ret = -errno;
	close(fd);
	return ret;
}

/* splitmix64: one multiply-xorshift step per word, several GB/s, and its
 * output defeats zstd, which is what "incompressible" needs here. */
static inline uint64_t mix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void bench_fill(uint8_t *mem, size_t size, enum bench_fill fill,
		uint64_t seed)
{
	uint64_t s = seed;

	for (size_t off = 0; off < size; off += BENCH_PAGE) {
		uint64_t *w = (uint64_t *)(mem + off);

		if (fill == FILL_HALF && (off / BENCH_PAGE) % 2 == 0) {
			memset(w, 0, BENCH_PAGE);
			continue;
		}
		for (unsigned i = 0; i < BENCH_PAGE / 8; i++)
			w[i] = mix64(&s);
	}
}

uint64_t bench_hash(const uint8_t *mem, size_t size)
{
	/* Four independent multiply chains keep the loop near memory speed;
	 * each chain is order-sensitive, so a page at a wrong place shows. */
	uint64_t h[4] = { 1, 2, 3, 4 };
	const uint64_t *w = (const uint64_t *)mem;

	for (size_t i = 0; i < size / 8; i += 4)
		for (unsigned k = 0; k < 4; k++)
			h[k] = (h[k] ^ w[i + k]) * 0x9e3779b97f4a7c15ull +
			       (h[k] >> 29);
	return h[0] ^ (h[1] * 3) ^ (h[2] * 5) ^ (h[3] * 7);
}

void bench_prefault(uint8_t *mem, size_t size)
{
	for (size_t off = 0; off < size; off += BENCH_PAGE)
		((volatile uint8_t *)mem)[off] = 0;
}

int bench_prefault_kernel(uint8_t *mem, size_t size)
{
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < size && !ret;) {
		size_t n = size - off < (1u << 20) ? size - off : (1u << 20);
		ssize_t got = read(fd, mem + off, n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			ret = got < 0 ? -errno : -EIO;
		else
			off += (size_t)got;
	}
	close(fd);
	return ret;
}
