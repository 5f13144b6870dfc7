/* SPDX-License-Identifier: MIT */
/*
 * minimal — the smallest complete use of libvmmig.
 *
 * A "guest" here is a block of memory plus a writer thread that keeps
 * dirtying it, the way a running VM does. This process is the source host;
 * a forked child is the destination host. The guest is live-migrated over TCP
 * on loopback with pre-copy, the memory hash checked at the switchover.
 *
 *   usage: minimal [MiB]      (default 64)
 *
 * Exit status 0 only if the migration completed, the destination verified
 * the memory hash, and its memory equals the source's byte for byte.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vmmig/vmmig.h>

struct guest {
	uint8_t *mem;
	size_t size;
	struct vmmig_tracker *manual; /* set when writes must be reported */
	pthread_t writer;
	atomic_bool stop, pause_req, parked;
};

/* The "vCPU": rewrite one random 64-byte line of one random page. */
static void *writer_main(void *arg)
{
	struct guest *g = arg;
	uint64_t x = 0x9e3779b97f4a7c15ull;

	while (!atomic_load(&g->stop)) {
		if (atomic_load(&g->pause_req)) {
			atomic_store(&g->parked, true);
			while (atomic_load(&g->pause_req) &&
			       !atomic_load(&g->stop))
				usleep(100);
			atomic_store(&g->parked, false);
			continue;
		}
		x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
		size_t page = x % (g->size / 4096), line = (x >> 40) % 64;
		memset(g->mem + page * 4096 + line * 64, (int)(x >> 32), 64);
		/* Without a kernel tracker the hypervisor reports writes. */
		if (g->manual)
			vmmig_tracker_manual_mark(g->manual, 0, page * 4096, 4096);
		usleep(20);
	}
	return NULL;
}

/* Source callbacks: the library pauses the guest for the switchover and
 * resumes it if the migration fails or is cancelled. */
static int guest_pause(void *opaque)
{
	struct guest *g = opaque;

	atomic_store(&g->pause_req, true);
	while (!atomic_load(&g->parked))
		sched_yield();
	return 0;
}

static int guest_resume(void *opaque)
{
	struct guest *g = opaque;

	atomic_store(&g->pause_req, false);
	return 0;
}

static int save_state(void *opaque, struct vmmig_state_sink *sink)
{
	static const char regs[] = "vCPU registers and device state";

	(void)opaque;
	return vmmig_state_put(sink, 1, regs, sizeof(regs));
}

static const struct vmmig_source_ops source_ops = {
	.version = VMMIG_SOURCE_OPS_VERSION,
	.pause = guest_pause,
	.resume = guest_resume,
	.save_state = save_state,
};

/* Destination callbacks: restore the state blobs, then run the guest. */
static int load_state(void *opaque, uint32_t id, const void *data, size_t len)
{
	(void)opaque, (void)data;
	printf("destination: state blob %u, %zu bytes\n", id, len);
	return 0;
}

static int guest_start(void *opaque)
{
	*(int *)opaque = 1;
	return 0;
}

static const struct vmmig_dest_ops dest_ops = {
	.version = VMMIG_DEST_OPS_VERSION,
	.load_state = load_state,
	.start = guest_start,
};

static void print_stats(const char *side, const struct vmmig_stats *st)
{
	char json[2048];

	if (vmmig_stats_to_json(st, json, sizeof(json)) >= 0)
		printf("%s stats: %s\n", side, json);
}

/* Child process: receive into @mem, tell the parent the bound uri on @fd. */
static int run_dest(uint8_t *mem, size_t size, int fd)
{
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	struct vmmig_dest *dst = NULL;
	char uri[256] = "";
	int started = 0, ret;

	ret = vmmig_dest_new(&dst);
	if (!ret)
		ret = vmmig_dest_add_region(dst, 0, 0, mem, size);
	if (!ret)
		ret = vmmig_dest_set_ops(dst, &dest_ops, &started);
	if (!ret)
		ret = vmmig_dest_listen(dst, "tcp:127.0.0.1:0", uri, sizeof(uri));
	if (!ret)
		ret = vmmig_dest_start(dst);
	/* An empty uri tells the parent that we failed. */
	if (write(fd, uri, strlen(uri) + 1) < 0 || ret)
		goto out;
	ret = vmmig_dest_wait(dst);
	vmmig_dest_get_stats(dst, &st);
	print_stats("destination", &st);
	if (!ret && (!started || st.verified != 1))
		ret = -EPROTO;
out:
	if (ret)
		fprintf(stderr, "destination: %s (%s)\n", vmmig_strerror(ret),
			dst && vmmig_dest_error(dst) ? vmmig_dest_error(dst) : "");
	vmmig_dest_free(dst);
	return ret ? 1 : 0;
}

/* This process: migrate the running guest @g to @uri. */
static int run_source(struct guest *g, const char *uri)
{
	struct vmmig_stats st = { .struct_size = sizeof(st) };
	struct vmmig_source *src = NULL;
	struct vmmig_tracker *trk = NULL;
	int ret;

	/* Prefer the kernel's write tracking; fall back to reporting writes. */
	if (vmmig_tracker_new_uffd_wp(0, &trk) < 0) {
		ret = vmmig_tracker_new_manual(&trk);
		if (ret)
			goto out;
		g->manual = trk;
	}
	printf("source: tracker %s\n", vmmig_tracker_name(trk));
	ret = vmmig_source_new(&src);
	if (!ret)
		ret = vmmig_source_add_region(src, 0, 0, g->mem, g->size);
	if (!ret)
		ret = vmmig_source_set_ops(src, &source_ops, g);
	if (!ret)
		ret = vmmig_source_set_tracker(src, trk);
	if (!ret)
		ret = vmmig_source_set_option(src, VMMIG_OPT_CHANNELS, 2);
	if (!ret)
		ret = vmmig_source_set_option(src, VMMIG_OPT_DOWNTIME_LIMIT_MS, 50);
	if (!ret)
		ret = vmmig_source_set_option(src, VMMIG_OPT_VERIFY, 1);
	if (!ret)
		ret = vmmig_source_start(src, uri);
	if (!ret)
		ret = vmmig_source_wait(src);
	if (src) {
		vmmig_source_get_stats(src, &st);
		print_stats("source", &st);
	}
out:
	if (ret)
		fprintf(stderr, "source: %s (%s)\n", vmmig_strerror(ret),
			src && vmmig_source_error(src) ? vmmig_source_error(src) : "");
	vmmig_source_free(src);
	/* On success the guest stays paused: it lives on the destination. */
	atomic_store(&g->stop, true);
	pthread_join(g->writer, NULL);
	g->manual = NULL;
	vmmig_tracker_free(trk);
	return ret;
}

int main(int argc, char **argv)
{
	struct guest g = { .size = (argc > 1 ? strtoull(argv[1], NULL, 0) : 64) << 20 };
	uint8_t *dmem;
	char uri[256];
	int pfd[2], status, ret;
	pid_t pid;

	if (g.size == 0)
		return fprintf(stderr, "usage: minimal [MiB]\n"), 2;
	setvbuf(stdout, NULL, _IOLBF, 0); /* keep both processes' lines in order */
	/* Destination memory is shared with the child so that we can compare. */
	g.mem = mmap(NULL, g.size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dmem = mmap(NULL, g.size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g.mem == MAP_FAILED || dmem == MAP_FAILED || pipe(pfd))
		return perror("setup"), 1;
	for (size_t i = 0; i < g.size; i += 4096)
		memset(g.mem + i, (int)(i >> 12) | 1, 4096);

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return perror("fork"), 1;
	if (pid == 0) {
		close(pfd[0]);
		return run_dest(dmem, g.size, pfd[1]);
	}
	close(pfd[1]);
	if (read(pfd[0], uri, sizeof(uri)) <= 1) {
		waitpid(pid, NULL, 0);
		return fprintf(stderr, "destination did not start\n"), 1;
	}
	close(pfd[0]);
	printf("source: migrating %zu MiB to %s\n", g.size >> 20, uri);

	if (pthread_create(&g.writer, NULL, writer_main, &g))
		return 1;
	ret = run_source(&g, uri);
	if (ret) /* the destination could still be waiting for a source */
		kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		ret = ret ? ret : -EPROTO;
	if (!ret && memcmp(g.mem, dmem, g.size) != 0) {
		fprintf(stderr, "destination memory differs from the source\n");
		ret = -EIO;
	}
	printf("%s\n", ret ? "FAILED" : "OK: memory identical on both sides");
	munmap(g.mem, g.size);
	munmap(dmem, g.size);
	return ret ? 1 : 0;
}
