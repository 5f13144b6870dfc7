/* SPDX-License-Identifier: MIT */
/*
 * The dbcache workload (see dbcache.h): the buffer pool's layout, the data
 * file's block contents, and the "DBMS" that reads (and for rw, updates)
 * random pool pages and tells the VMM which pages are clean cache pages.
 * Compiled freestanding for the KVM payload and for the host.
 */
#include "dbcache.h"

static inline void *db_gp(const struct wl_env *e, uint64_t gpa)
{
	/* Integer arithmetic: base is NULL inside the VM. */
	return (void *)((uintptr_t)e->base + (uintptr_t)gpa);
}

static inline void db_mark(const struct wl_env *e, uint64_t gpa, uint64_t len)
{
	if (e->mark)
		e->mark(e->opaque, gpa, len);
}

static uint64_t db_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

int db_layout(uint64_t mem_size, uint32_t arg, struct db_layout *l)
{
	uint64_t pool = mem_size / 100 * db_arg_pct(arg), n, a;

	if (db_arg_pct(arg) > 95 || db_arg_load(arg) > DB_RW ||
	    mem_size <= DB_POOL_GPA + DB_EXTENT)
		return -1;
	if (pool > mem_size - DB_POOL_GPA)
		pool = mem_size - DB_POOL_GPA;
	n = pool / DB_EXTENT;
	if (!n || n * DB_EXTENT_PAGES > DB_MAX_FRAMES)
		return -1;
	/* Any multiplier coprime with n permutes the extents; one near
	 * 5n/8 scatters neighbours far apart. Ends by a = n + 1 at worst. */
	for (a = n * 5 / 8 + 1; gcd(a, n) != 1; a++)
		;
	l->pool_gpa = DB_POOL_GPA;
	l->nextents = n;
	l->nframes = n * DB_EXTENT_PAGES;
	l->perm_a = a;
	l->perm_b = n / 3;
	return 0;
}

uint64_t db_block_of(const struct db_layout *l, uint64_t frame)
{
	uint64_t e = frame / DB_EXTENT_PAGES;

	return (l->perm_a * e + l->perm_b) % l->nextents * DB_EXTENT_PAGES +
	       frame % DB_EXTENT_PAGES;
}

void db_block_fill(uint64_t *w, uint64_t block)
{
	uint64_t s = block * 0x2545f4914f6cdd1dull ^ 0x69626461746121ull;

	/* Header: what the DBMS checks on each read (InnoDB keeps the page
	 * number and an LSN there); then incompressible rows. */
	w[0] = DB_BLOCK_MAGIC ^ block;
	w[1] = 0;
	for (unsigned i = 2; i < DB_PAGE / 8; i++)
		w[i] = db_rand(&s);
}

static struct db_ctl *ctl_of(const struct wl_env *e)
{
	return db_gp(e, DB_CTL_GPA);
}

static uint8_t *flush_bitmap(const struct wl_env *e)
{
	return db_gp(e, DB_CTL_GPA + sizeof(struct db_ctl));
}

/* Hand the records to the VMM; it has consumed them when this returns. */
static void doorbell(struct db_ctl *ctl, const struct wl_env *e)
{
	if (!ctl->nrec)
		return;
	wl_out(e, TOY_PORT_DBHINT);
	ctl->nrec = 0;
}

static void post(struct db_ctl *ctl, const struct wl_env *e, uint32_t op,
		 uint64_t gpa, uint32_t pages, uint64_t block)
{
	if (ctl->nrec >= DB_HINT_MAX)
		doorbell(ctl, e);
	struct db_hint *h = &ctl->rec[ctl->nrec++];

	h->op = op;
	h->pages = pages;
	h->gpa = gpa;
	h->block = block;
}

int db_init(struct wl_cpu *c, struct toy_shared *sh, const struct wl_env *e)
{
	struct db_layout l;
	struct db_ctl *ctl = ctl_of(e);
	uint8_t *bm = flush_bitmap(e);

	if (db_layout(sh->mem_size, c->arg, &l))
		return -1;
	c->work_gpa = DB_CTL_GPA; /* the whole area, whatever the vCPUs */
	c->work_size = sh->mem_size - DB_CTL_GPA;
	c->n = l.nframes;
	/* The pool itself was filled from the data file by the VMM. */
	ctl->magic = DB_CTL_MAGIC;
	ctl->lay = l;
	ctl->load = db_arg_load(c->arg);
	ctl->rate = db_arg_rate(c->arg);
	ctl->reads = ctl->writes = ctl->dirtied = ctl->bad_pages = 0;
	ctl->hinted_pages = 0;
	ctl->nrec = 0;
	for (uint64_t i = 0; i < (l.nframes + 7) / 8; i++)
		bm[i] = 0;
	db_mark(e, DB_CTL_GPA, sizeof(*ctl) + (l.nframes + 7) / 8);
	return 0;
}

int db_valid(const struct wl_cpu *c, uint64_t mem_size)
{
	struct db_layout l;

	return !db_layout(mem_size, c->arg, &l) && c->work_gpa == DB_CTL_GPA &&
	       c->n == l.nframes && c->pos <= l.nextents;
}

/* Start-up: the whole pool is on the LRU list and clean; announce it one
 * batch of extents per step. */
static int announce(struct wl_cpu *c, struct db_ctl *ctl,
		    const struct db_layout *l, const struct wl_env *e)
{
	for (unsigned i = 0; i < DB_HINT_MAX && c->pos < l->nextents; i++) {
		uint64_t frame = c->pos * DB_EXTENT_PAGES;

		post(ctl, e, DB_HINT_ADD, l->pool_gpa + frame * DB_PAGE,
		     DB_EXTENT_PAGES, db_block_of(l, frame));
		ctl->hinted_pages += DB_EXTENT_PAGES;
		c->pos++;
	}
	db_mark(e, DB_CTL_GPA, sizeof(*ctl));
	doorbell(ctl, e);
	return WL_RAN;
}

/* Read a pool page the way a query would, checking its header. */
static void read_page(struct db_ctl *ctl, const struct db_layout *l,
		      const struct wl_env *e, uint64_t frame)
{
	const volatile uint64_t *w = db_gp(e, l->pool_gpa + frame * DB_PAGE);
	uint64_t sum = 0;

	for (unsigned i = 0; i < DB_PAGE / 8; i += 8)
		sum += w[i];
	(void)sum;
	if (w[0] != (DB_BLOCK_MAGIC ^ db_block_of(l, frame)))
		ctl->bad_pages++;
	ctl->reads++;
}

/* Update a row: the page leaves the clean list for the flush list (its hint
 * is withdrawn) the first time; it stays dirty (no page cleaner here: the
 * guest does no I/O, and the data file stays as it is). */
static void update_page(struct wl_cpu *c, struct db_ctl *ctl,
			const struct db_layout *l, const struct wl_env *e,
			uint64_t frame)
{
	uint8_t *bm = flush_bitmap(e);
	uint64_t gpa = l->pool_gpa + frame * DB_PAGE;
	uint64_t *w = db_gp(e, gpa);

	if (!(bm[frame / 8] & (1u << (frame % 8)))) {
		bm[frame / 8] |= (uint8_t)(1u << (frame % 8));
		db_mark(e, DB_CTL_GPA + sizeof(*ctl) + frame / 8, 1);
		post(ctl, e, DB_HINT_REMOVE, gpa, 1, 0);
		ctl->dirtied++;
	}
	w[1]++; /* LSN */
	w[2 + db_rand(&c->seed) % (DB_PAGE / 8 - 2)] = db_rand(&c->seed);
	db_mark(e, gpa, DB_PAGE);
	ctl->writes++;
}

/* TSC ticks since the previous call, capped at 100 ms (no burst after a
 * pause or a migration's downtime). */
static uint64_t since_last(struct wl_cpu *c)
{
	uint64_t now = wl_rdtsc();
	uint64_t d = now > c->last_tsc ? now - c->last_tsc : 0;

	c->last_tsc = now;
	return d > c->tsc_hz / 10 ? c->tsc_hz / 10 : d;
}

#define DB_OPS_PER_STEP 64u

int db_step(struct wl_cpu *c, struct toy_shared *sh, const struct wl_env *e)
{
	struct db_ctl *ctl = ctl_of(e);
	struct db_layout l;
	uint32_t load = db_arg_load(c->arg);

	/* The layout from the validated argument, not from guest memory. */
	if (db_layout(sh->mem_size, c->arg, &l) || l.nframes != c->n)
		return WL_WAIT;
	if (c->pos < l.nextents) {
		announce(c, ctl, &l, e);
		goto beat;
	}
	/* Pacing in TSC ticks: a batch of DB_OPS_PER_STEP operations (or one
	 * heartbeat a millisecond when idle) once enough time has passed. */
	uint64_t need = load == DB_IDLE ? c->tsc_hz / 1000 :
			DB_OPS_PER_STEP * c->tsc_hz / db_arg_rate(c->arg);

	c->credit += since_last(c);
	if (c->credit > 4 * need)
		c->credit = 4 * need;
	if (c->credit < need)
		return WL_WAIT;
	c->credit -= need;
	if (load == DB_IDLE)
		goto beat;
	for (unsigned i = 0; i < DB_OPS_PER_STEP; i++) {
		uint64_t frame = db_rand(&c->seed) % l.nframes;

		read_page(ctl, &l, e, frame);
		if (load == DB_RW && c->iter % DB_WRITE_EVERY == 0)
			update_page(c, ctl, &l, e, frame);
		c->iter++;
	}
	db_mark(e, DB_CTL_GPA, sizeof(*ctl));
	doorbell(ctl, e);
beat:
	sh->heartbeat[c->vcpu] = sh->heartbeat[c->vcpu] + 1;
	db_mark(e, TOY_SHARED_GPA, DB_PAGE);
	return WL_RAN;
}
