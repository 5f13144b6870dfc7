/* SPDX-License-Identifier: MIT */
/* --fill mix: a compressible guest (about half zero, a quarter text-like,
 * a quarter random) and `toyvmm memfile`, which writes the same content to
 * a file so that another VMM (bench/vs-qemu: QEMU's RAM file) migrates
 * byte for byte what toyvmm migrates. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"

#define MIX_GROUP_PAGES 16 /* one kind per 64 KiB: runs, as real guests */

static const char *const vocab[] = {
	"the", "of", "and", "to", "in", "is", "that", "for", "it", "as",
	"was", "with", "be", "by", "on", "not", "he", "this", "are", "or",
	"his", "from", "at", "which", "but", "have", "an", "had", "they",
	"you", "were", "their", "one", "all", "we", "can", "her", "has",
	"there", "been", "if", "more", "when", "will", "would", "who", "so",
	"no", "memory", "page", "server", "request", "error", "user", "data",
	"table", "index", "select", "from", "where", "value", "null", "true",
	"false",
};

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t next(uint64_t *s)
{
	return mix64(*s += 0x9e3779b97f4a7c15ull);
}

/* Words separated by spaces, a newline every 8-15 words, cut at 4 KiB. */
static void text_page(uint8_t *p, uint64_t seed)
{
	size_t n = 0, words = 0, line = 8 + seed % 8;

	while (n < 4096) {
		const char *w = vocab[next(&seed) % (sizeof(vocab) /
						     sizeof(vocab[0]))];
		size_t len = strlen(w);

		if (len > 4096 - n)
			len = 4096 - n;
		memcpy(p + n, w, len);
		n += len;
		if (n < 4096)
			p[n++] = ++words % line ? ' ' : '\n';
	}
}

void guestmem__fill_mix(uint8_t *mem, uint64_t from, uint64_t to)
{
	for (uint64_t off = from; off + 4096 <= to; off += 4096) {
		uint64_t page = off / 4096;
		uint64_t kind = mix64(page / MIX_GROUP_PAGES + 1) % 4;
		uint64_t seed = page * 0x100000001b3ull + 42;

		if (kind < 2)
			continue; /* zero: left as mapped */
		if (kind == 2) {
			text_page(mem + off, seed);
			continue;
		}
		for (unsigned i = 0; i < 512; i++) {
			uint64_t v = next(&seed);

			memcpy(mem + off + i * 8u, &v, 8);
		}
	}
}

int memfile__write(const struct opts *o)
{
	struct toyvm vm;
	int fd, ret = 0;

	if (!o->out)
		return cli__usage("memfile needs --out FILE");
	memset(&vm, 0, sizeof(vm));
	vm.ops = &swguest_ops; /* the software guest's size limits */
	ret = guestmem__alloc(&vm, o->mem);
	if (ret) {
		fprintf(stderr, "toyvmm: --mem: %s\n", strerror(-ret));
		return 1;
	}
	guestmem__fill(&vm, o->fill);
	fd = open(o->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "toyvmm: %s: %s\n", o->out, strerror(errno));
		guestmem__free(&vm);
		return 1;
	}
	for (uint64_t off = 0; off < vm.mem_size && !ret;) {
		ssize_t n = write(fd, vm.mem + off, vm.mem_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "toyvmm: write %s: %s\n", o->out,
				n < 0 ? strerror(errno) : "short write");
			ret = 1;
		} else {
			off += (uint64_t)n;
		}
	}
	if (close(fd) && !ret) {
		fprintf(stderr, "toyvmm: %s: %s\n", o->out, strerror(errno));
		ret = 1;
	}
	guestmem__free(&vm);
	return ret;
}
