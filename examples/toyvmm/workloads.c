/* SPDX-License-Identifier: MIT */
/*
 * The workloads themselves. Compiled twice: freestanding for the KVM payload
 * (env->base == NULL: guest-physical addresses are identity mapped) and for
 * the host (env->base: the VMM's mapping of guest memory). Every write to
 * guest memory is followed by env_mark() so that a software guest can feed
 * a manual dirty tracker; inside the VM the hardware tracks instead.
 */
#include "workloads.h"
#include "dbcache.h"

#define PAGE 4096ull
#define MEMWRITE_CHUNK (64 * PAGE) /* pages dirtied per memwrite step */
#define REFRESH_CHUNK (256 * 1024ull)
#define REFRESH_HZ 100             /* "game server" ticks per second */
#define MATMUL_DEF_N 256           /* matmul's order unless given */

static inline void *gp(const struct wl_env *e, uint64_t gpa)
{
	/* Integer arithmetic: base is NULL inside the VM. */
	return (void *)((uintptr_t)e->base + (uintptr_t)gpa);
}

static inline void env_mark(const struct wl_env *e, uint64_t gpa, uint64_t len)
{
	if (e->mark)
		e->mark(e->opaque, gpa, len);
}

static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void beat(const struct wl_cpu *c, struct toy_shared *sh,
		 const struct wl_env *e)
{
	sh->heartbeat[c->vcpu] = sh->heartbeat[c->vcpu] + 1;
	env_mark(e, TOY_SHARED_GPA, PAGE);
}

/* TSC ticks since the previous call, capped at 100 ms so that a long stop
 * (a migration's downtime, a paused guest) doesn't turn into a burst. */
static uint64_t elapsed(struct wl_cpu *c)
{
	uint64_t now = wl_rdtsc();
	uint64_t d = now > c->last_tsc ? now - c->last_tsc : 0;

	c->last_tsc = now;
	return d > c->tsc_hz / 10 ? c->tsc_hz / 10 : d;
}

static uint32_t *mat(const struct wl_cpu *c, const struct wl_env *e, int which)
{
	return gp(e, c->work_gpa + (uint64_t)which * c->n * c->n * 4);
}

static int matmul_init(struct wl_cpu *c, const struct wl_env *e)
{
	uint64_t n = c->arg ? c->arg : MATMUL_DEF_N;

	/* An order that was asked for must fit; the default shrinks. */
	while (!c->arg && n > 8 && 3 * n * n * 4 > c->work_size)
		n /= 2;
	if (n < 8 || n > WL_MATMUL_MAX_N || 3 * n * n * 4 > c->work_size)
		return -1;
	c->n = n;
	for (int m = 0; m < 2; m++) {
		uint32_t *p = mat(c, e, m);

		for (uint64_t i = 0; i < n * n; i++)
			p[i] = (uint32_t)next_rand(&c->seed);
	}
	env_mark(e, c->work_gpa, 2 * n * n * 4);
	return 0;
}

int wl_init(struct wl_cpu *c, struct toy_shared *sh, const struct wl_env *e,
	    uint32_t vcpu)
{
	uint8_t *p = (uint8_t *)c;
	uint64_t share;

	for (unsigned i = 0; i < sizeof(*c); i++)
		p[i] = 0;
	if (sh->magic != TOY_MAGIC || sh->tsc_hz < 1000 ||
	    sh->mem_size < TOY_MIN_MEM || sh->nvcpus == 0 ||
	    sh->nvcpus > TOY_MAX_VCPUS || vcpu >= sh->nvcpus)
		return -1;
	/* Each vCPU works on its own 2 MiB-aligned share of the area. */
	share = ((sh->mem_size - TOY_WORK_GPA) / sh->nvcpus) & ~0x1fffffull;
	c->kind = sh->kind;
	c->arg = sh->arg;
	c->vcpu = vcpu;
	c->tsc_hz = sh->tsc_hz;
	c->work_gpa = TOY_WORK_GPA + vcpu * share;
	c->work_size = share;
	c->seed = (0x70796d6dull ^ sh->mem_size) + vcpu;
	c->last_tsc = wl_rdtsc();
	/* dbcache lays its pool over the whole area: one vCPU runs it. */
	if (c->kind == WL_DBCACHE && vcpu > 0)
		c->kind = WL_IDLE;
	switch (c->kind) {
	case WL_IDLE:
		return 0;
	case WL_MEMWRITE:
		/* The working set is half of memory: a pass dirties it all. */
		c->work_size = (c->work_size / 2) & ~(MEMWRITE_CHUNK - 1);
		return c->work_size ? 0 : -1;
	case WL_MATMUL:
		return matmul_init(c, e);
	case WL_REFRESH: {
		uint64_t ws = (uint64_t)(c->arg ? c->arg : 8) << 20;

		c->work_size = ws < c->work_size ? ws : c->work_size;
		c->work_size &= ~(REFRESH_CHUNK - 1);
		return c->work_size ? 0 : -1;
	}
	case WL_DBCACHE:
		return db_init(c, sh, e);
	case WL_CRASH:
		return 0;
	}
	return -1;
}

int wl_valid(const struct wl_cpu *c, uint64_t mem_size)
{
	if (c->kind < WL_IDLE || c->kind > WL_CRASH || c->tsc_hz < 1000 ||
	    c->vcpu >= TOY_MAX_VCPUS ||
	    c->work_gpa < TOY_WORK_GPA || c->work_gpa > mem_size ||
	    c->work_size > mem_size - c->work_gpa)
		return 0;
	switch (c->kind) {
	case WL_MEMWRITE:
		return c->work_size % MEMWRITE_CHUNK == 0 &&
		       c->pos % MEMWRITE_CHUNK == 0 && c->pos < c->work_size;
	case WL_MATMUL:
		return c->n >= 8 && c->n <= WL_MATMUL_MAX_N &&
		       3 * c->n * c->n * 4 <= c->work_size && c->pos < c->n;
	case WL_REFRESH:
		return c->work_size % REFRESH_CHUNK == 0 &&
		       c->pos % REFRESH_CHUNK == 0 && c->pos < c->work_size;
	case WL_DBCACHE:
		return db_valid(c, mem_size);
	}
	return 1;
}

static int idle_step(struct wl_cpu *c, struct toy_shared *sh,
		     const struct wl_env *e)
{
	c->credit += elapsed(c);
	if (c->credit < c->tsc_hz / 1000)
		return WL_WAIT;
	c->credit = 0;
	beat(c, sh, e);
	return WL_RAN;
}

static int memwrite_step(struct wl_cpu *c, struct toy_shared *sh,
			 const struct wl_env *e)
{
	uint64_t rate = (uint64_t)c->arg << 20;

	c->credit += elapsed(c) * rate / c->tsc_hz;
	if (c->credit > 4 * MEMWRITE_CHUNK)
		c->credit = 4 * MEMWRITE_CHUNK;
	if (c->credit < MEMWRITE_CHUNK)
		return WL_WAIT;
	c->credit -= MEMWRITE_CHUNK;

	/* One 64-byte line per page: the page is dirty, and differs a little
	 * from its previous content each pass. */
	uint64_t line = (c->iter % 64) * 8;
	for (uint64_t off = 0; off < MEMWRITE_CHUNK; off += PAGE) {
		uint64_t *w = gp(e, c->work_gpa + c->pos + off);
		uint64_t r = next_rand(&c->seed);

		for (int i = 0; i < 8; i++)
			w[line + i] = r + (uint64_t)i;
	}
	env_mark(e, c->work_gpa + c->pos, MEMWRITE_CHUNK);
	c->pos += MEMWRITE_CHUNK;
	if (c->pos >= c->work_size) {
		c->pos = 0;
		c->iter++;
	}
	beat(c, sh, e);
	return WL_RAN;
}

static int matmul_step(struct wl_cpu *c, struct toy_shared *sh,
		       const struct wl_env *e)
{
	uint64_t n = c->n, i = c->pos;
	const uint32_t *a = mat(c, e, 0), *b = mat(c, e, 1);
	uint32_t *cm = mat(c, e, 2);

	/* One row of C = A x B per step, in i-k-j order: rows of B stream
	 * through the cache, so that a large order (a dirty set that is a
	 * good part of memory, source text 000's C) still computes briskly. */
	uint32_t *ci = cm + i * n;

	/* k = 0 stores, the rest accumulate (a zeroing loop could become a
	 * memset call, which the freestanding payload doesn't have). */
	for (uint64_t j = 0; j < n; j++)
		ci[j] = a[i * n] * b[j];
	for (uint64_t k = 1; k < n; k++) {
		uint32_t aik = a[i * n + k];
		const uint32_t *bk = b + k * n;

		for (uint64_t j = 0; j < n; j++)
			ci[j] += aik * bk[j];
	}
	env_mark(e, c->work_gpa + 2 * n * n * 4 + i * n * 4, n * 4);
	/* A beat per row: a large order takes seconds per product. */
	beat(c, sh, e);
	if (++c->pos < n)
		return WL_RAN;
	/* A product done: nudge A so that the next one differs. */
	uint32_t *ap = mat(c, e, 0);
	uint64_t at = c->iter % (n * n);

	ap[at] += 1;
	env_mark(e, c->work_gpa + at * 4, 4);
	c->pos = 0;
	c->iter++;
	return WL_RAN;
}

static int refresh_step(struct wl_cpu *c, struct toy_shared *sh,
			const struct wl_env *e)
{
	/* Rewrite the working set REFRESH_HZ times per second, a chunk at a
	 * time; pos == 0 waits for the next tick. */
	if (c->pos == 0) {
		c->credit += elapsed(c);
		if (c->credit < c->tsc_hz / REFRESH_HZ)
			return WL_WAIT;
		c->credit = 0;
	}
	uint64_t *w = gp(e, c->work_gpa + c->pos);
	uint64_t v = c->iter << 32;

	for (uint64_t i = 0; i < REFRESH_CHUNK / 8; i++)
		w[i] = v + i;
	env_mark(e, c->work_gpa + c->pos, REFRESH_CHUNK);
	c->pos += REFRESH_CHUNK;
	if (c->pos >= c->work_size) {
		c->pos = 0;
		c->iter++;
		c->last_tsc = wl_rdtsc();
	}
	beat(c, sh, e);
	return WL_RAN;
}

/* Idle heartbeats until arg ms of guest time went by, then an `out` to a
 * port the VMM never granted: on KVM a #GP, with no IDT a triple fault
 * (what a guest bug looks like to the VMM); the software guest's port hook
 * kills its vCPU the same way. */
static int crash_step(struct wl_cpu *c, struct toy_shared *sh,
		      const struct wl_env *e)
{
	int r = idle_step(c, sh, e);

	if (r == WL_RAN && ++c->iter >= c->arg)
		wl_out(e, TOY_PORT_DENIED);
	return r;
}

int wl_step(struct wl_cpu *c, struct toy_shared *sh, const struct wl_env *e)
{
	switch (c->kind) {
	case WL_IDLE:
		return idle_step(c, sh, e);
	case WL_MEMWRITE:
		return memwrite_step(c, sh, e);
	case WL_MATMUL:
		return matmul_step(c, sh, e);
	case WL_REFRESH:
		return refresh_step(c, sh, e);
	case WL_DBCACHE:
		return db_step(c, sh, e);
	case WL_CRASH:
		return crash_step(c, sh, e);
	}
	return WL_WAIT;
}
