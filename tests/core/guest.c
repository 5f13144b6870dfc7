/* SPDX-License-Identifier: MIT */
#include "guest.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void fill_random(void *buf, size_t len, uint64_t seed)
{
	uint64_t *p = buf;

	for (size_t i = 0; i < len / 8; i++)
		p[i] = splitmix(&seed);
}

int guest_init(struct guest *g, size_t size, enum guest_fill fill, bool shadow)
{
	memset(g, 0, sizeof(*g));
	g->size = size;
	g->memfd = memfd_create("guest", MFD_CLOEXEC);
	if (g->memfd < 0 || ftruncate(g->memfd, (off_t)size))
		return -errno;
	g->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, g->memfd,
		      0);
	if (g->mem == MAP_FAILED)
		return -errno;
	switch (fill) {
	case FILL_RANDOM:
		fill_random(g->mem, size, 42);
		break;
	case FILL_HALF: /* every other page zero */
		for (size_t p = 0; p < size / 4096; p += 2)
			fill_random(g->mem + p * 4096, 4096, p);
		break;
	case FILL_TEXT: /* compressible but not zero */
		for (size_t i = 0; i < size; i++)
			g->mem[i] = (uint8_t)("guest memory "[i % 13]);
		break;
	case FILL_ZERO:
		break;
	}
	if (shadow) {
		g->shadow = malloc(size);
		if (!g->shadow)
			return -ENOMEM;
		memcpy(g->shadow, g->mem, size);
	}
	g->seed = 7;
	return 0;
}

void guest_destroy(struct guest *g)
{
	guest_stop(g);
	vmmig_tracker_free(g->manual);
	if (g->mem && g->mem != MAP_FAILED)
		munmap(g->mem, g->size);
	if (g->memfd > 0)
		close(g->memfd);
	free(g->shadow);
	memset(g, 0, sizeof(*g));
}

static void *writer_main(void *arg)
{
	struct guest *g = arg;
	size_t npages = g->size / 4096;
	uint64_t s = g->seed;

	while (!atomic_load(&g->stop)) {
		if (atomic_load(&g->pause_req)) {
			atomic_store(&g->parked, true);
			while (atomic_load(&g->pause_req) &&
			       !atomic_load(&g->stop))
				sched_yield();
			atomic_store(&g->parked, false);
			continue;
		}
		uint64_t r = splitmix(&s);
		size_t page = r % npages;
		uint64_t *w = (uint64_t *)(g->mem + page * 4096);
		/* Rewrite a random 64-byte line: a partial page change, the
		 * case delta encoding exists for. */
		size_t line = (r >> 32) % 64;

		for (int i = 0; i < 8; i++)
			w[line * 8 + i] = r + (uint64_t)i;
		if (g->shadow)
			memcpy(g->shadow + page * 4096 + line * 64,
			       (uint8_t *)w + line * 64, 64);
		if (g->manual)
			vmmig_tracker_manual_mark(g->manual, 0, page * 4096,
						  4096);
		atomic_fetch_add(&g->writes, 1);
		if (g->delay_us)
			usleep(g->delay_us);
	}
	atomic_store(&g->parked, true);
	return NULL;
}

int guest_run(struct guest *g, unsigned delay_us)
{
	g->delay_us = delay_us;
	atomic_store(&g->stop, false);
	if (pthread_create(&g->writer, NULL, writer_main, g))
		return -EAGAIN;
	g->writer_running = true;
	return 0;
}

void guest_stop(struct guest *g)
{
	if (!g->writer_running)
		return;
	atomic_store(&g->stop, true);
	pthread_join(g->writer, NULL);
	g->writer_running = false;
}

static int guest_pause(void *opaque)
{
	struct guest *g = opaque;

	atomic_fetch_add(&g->pauses, 1);
	atomic_store(&g->pause_req, true);
	if (g->writer_running)
		while (!atomic_load(&g->parked))
			sched_yield();
	return 0;
}

static int guest_resume(void *opaque)
{
	struct guest *g = opaque;

	atomic_fetch_add(&g->resumes, 1);
	atomic_store(&g->pause_req, false);
	return 0;
}

static int guest_save(void *opaque, struct vmmig_state_sink *sink)
{
	struct guest *g = opaque;
	uint64_t writes = atomic_load(&g->writes);
	int ret;

	g->cpu_state = 0xc0ffee00ull + writes;
	ret = vmmig_state_put(sink, 1, &g->cpu_state, sizeof(g->cpu_state));
	if (!ret)
		ret = vmmig_state_put(sink, 2, &writes, sizeof(writes));
	return ret;
}

static int guest_load(void *opaque, uint32_t id, const void *data, size_t len)
{
	struct guest *g = opaque;

	if (id == 1 && len == sizeof(g->cpu_state)) {
		memcpy(&g->cpu_state, data, len);
		return 0;
	}
	if (id == 2 && len == sizeof(uint64_t)) {
		uint64_t w;

		memcpy(&w, data, len);
		atomic_store(&g->writes, w);
		return 0;
	}
	return -EINVAL;
}

static int guest_start(void *opaque)
{
	struct guest *g = opaque;

	atomic_fetch_add(&g->resumes, 1);
	return 0;
}

const struct vmmig_source_ops guest_source_ops = {
	.version = VMMIG_SOURCE_OPS_VERSION,
	.pause = guest_pause,
	.resume = guest_resume,
	.save_state = guest_save,
};

const struct vmmig_dest_ops guest_dest_ops = {
	.version = VMMIG_DEST_OPS_VERSION,
	.load_state = guest_load,
	.start = guest_start,
};
