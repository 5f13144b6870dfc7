/* SPDX-License-Identifier: MIT */
/*
 * Cache-restore at the library level, plain pre-copy vs hints in the same
 * run: an idle guest whose first 80 % equals a data file (the "buffer
 * pool"), a link capped at 1 Gbit/s by the library, a destination process
 * with its memory prefaulted that reads hinted pages from the same file
 * (shared storage: not through the cap). Prints one JSON line per size with
 * both runs and the ratio; the destination memory is compared with the
 * source's byte for byte in every run.
 *
 *   restore_loopback [SIZE_MIB...]      (default: 512 2048)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

#define LINK_BPS 125000000 /* 1 Gbit/s */

struct result {
	double total_ms, downtime_ms, restore_ms;
	unsigned long long sent_mib, restored;
	int ok;
};

static void run(struct guest *g, const char *file, uint64_t cache, int hints,
		struct result *r)
{
	struct dest_opts o = { .listen = "tcp:127.0.0.1:0", .storage = file,
			       .recv_staged = 1, .prefault = 1 };
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	struct vmmig_source *src;
	struct dest_proc d;
	int ret;

	memset(r, 0, sizeof(*r));
	if (dest_spawn(&d, g->size, &o) || vmmig_source_new(&src))
		return;
	vmmig_source_add_region(src, 0, 0, g->mem, g->size);
	vmmig_source_set_ops(src, &guest_source_ops, g);
	vmmig_source_set_option(src, VMMIG_OPT_BANDWIDTH_LIMIT, LINK_BPS);
	if (hints)
		vmmig_source_add_hint(src, 0, 0, cache, 1, 0);
	vmmig_source_start(src, d.uri);
	ret = vmmig_source_wait(src);
	dest_reap(&d);
	vmmig_source_get_stats(src, &st);
	r->ok = !ret && d.res->ret == 0 && !memcmp(g->mem, d.mem, g->size);
	r->total_ms = st.total_time_us / 1e3;
	r->downtime_ms = st.downtime_us / 1e3;
	r->sent_mib = st.transferred_bytes >> 20;
	r->restored = d.res->st.pages_restored;
	r->restore_ms = d.res->st.restore_time_us / 1e3;
	vmmig_source_free(src);
	dest_release(&d);
}

static void print(const char *name, const struct result *r)
{
	printf("\"%s\":{\"ok\":%s,\"total_time_ms\":%.1f,\"downtime_ms\":%.2f,"
	       "\"sent_mib\":%llu,\"pages_restored\":%llu,"
	       "\"restore_time_ms\":%.1f}", name, r->ok ? "true" : "false",
	       r->total_ms, r->downtime_ms, r->sent_mib, r->restored,
	       r->restore_ms);
}

int main(int argc, char **argv)
{
	static const char *defaults[] = { "512", "2048" };
	const char **sizes = argc > 1 ? (const char **)argv + 1 : defaults;
	int n = argc > 1 ? argc - 1 : 2, bad = 0;
	char file[64];

	snprintf(file, sizeof(file), "/var/tmp/vmmig-restore-%d.dat", getpid());
	for (int i = 0; i < n; i++) {
		uint64_t size = strtoull(sizes[i], NULL, 0) << 20;
		uint64_t cache = size * 8 / 10 & ~4095ull;
		struct result plain, restore;
		struct guest g;
		int fd;

		if (guest_init(&g, size, FILL_RANDOM, false))
			return 1;
		fd = open(file, O_CREAT | O_TRUNC | O_WRONLY, 0600);
		for (uint64_t off = 0; fd >= 0 && off < cache;) {
			ssize_t w = write(fd, g.mem + off, cache - off);

			if (w <= 0)
				return 1;
			off += (uint64_t)w;
		}
		if (fd < 0)
			return 1;
		close(fd);
		run(&g, file, cache, 0, &plain);
		run(&g, file, cache, 1, &restore);
		printf("{\"size_mib\":%llu,\"pool_percent\":80,"
		       "\"link_bytes_per_s\":%d,",
		       (unsigned long long)(size >> 20), LINK_BPS);
		print("plain", &plain);
		printf(",");
		print("cache_restore", &restore);
		printf(",\"speedup\":%.2f}\n",
		       restore.total_ms > 0 ? plain.total_ms / restore.total_ms
					    : 0);
		fflush(stdout);
		bad |= !plain.ok || !restore.ok;
		guest_destroy(&g);
		unlink(file);
	}
	return bad;
}
