/* SPDX-License-Identifier: MIT */
/*
 * The dbcache hint device: the VMM end of the guest's hint channel (the
 * text's character device between the DBMS and QEMU). It keeps the guest's
 * current clean set (pool frame -> file block), so that a migration started
 * later learns it at once (dbcache__attach replays it), and forwards every
 * later change to the attached source session as it happens.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dbcache_vmm.h"

struct dbcache_dev {
	pthread_mutex_t lock;       /* everything below */
	struct vmmig_source *src;   /* attached session, or NULL */
	struct db_layout lay;       /* the pool, from the workload argument */
	uint32_t *block;            /* per frame: file block + 1, 0 = not clean */
	struct dbcache_report rep;  /* device counters */
};

int dbcache__dev_new(struct toyvm *vm, uint32_t arg)
{
	struct dbcache_dev *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	if (db_layout(vm->mem_size, arg, &d->lay) ||
	    d->lay.nframes >= UINT32_MAX) {
		free(d);
		return -EINVAL;
	}
	d->block = calloc(d->lay.nframes, sizeof(*d->block));
	if (!d->block) {
		free(d);
		return -ENOMEM;
	}
	pthread_mutex_init(&d->lock, NULL);
	d->rep.pool_pages = d->lay.nframes;
	vm->db = d;
	return 0;
}

void dbcache__dev_free(struct toyvm *vm)
{
	struct dbcache_dev *d = vm->db;

	if (!d)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d->block);
	free(d);
	vm->db = NULL;
}

static void lib_result(struct dbcache_dev *d, int ret)
{
	if (ret < 0) {
		d->rep.lib_errors++;
		d->rep.last_lib_error = ret;
	}
}

/* One record, checked like any input from a guest. */
static void apply(struct dbcache_dev *d, const struct db_hint *h)
{
	const struct db_layout *l = &d->lay;
	uint64_t end = l->pool_gpa + l->nframes * DB_PAGE, f;

	if (!h->pages || h->gpa % DB_PAGE || h->gpa < l->pool_gpa ||
	    h->gpa >= end || h->pages > (end - h->gpa) / DB_PAGE ||
	    (h->op == DB_HINT_ADD && (h->block >= l->nframes ||
				      h->pages > l->nframes - h->block)) ||
	    (h->op != DB_HINT_ADD && h->op != DB_HINT_REMOVE)) {
		d->rep.bad_records++;
		return;
	}
	f = (h->gpa - l->pool_gpa) / DB_PAGE;
	for (uint32_t i = 0; i < h->pages; i++) {
		uint32_t *b = &d->block[f + i];

		if (h->op == DB_HINT_ADD) {
			d->rep.hinted_now += !*b;
			*b = (uint32_t)(h->block + i + 1);
		} else {
			d->rep.hinted_now -= !!*b;
			*b = 0;
		}
	}
	if (h->op == DB_HINT_ADD) {
		d->rep.add_pages += h->pages;
		if (d->src)
			lib_result(d, vmmig_source_add_hint(d->src, 0, h->gpa,
				(uint64_t)h->pages * DB_PAGE, DB_OBJECT_ID,
				h->block * DB_PAGE));
	} else {
		d->rep.remove_pages += h->pages;
		if (d->src)
			lib_result(d, vmmig_source_remove_hint(d->src, 0,
				h->gpa, (uint64_t)h->pages * DB_PAGE));
	}
}

int dbcache__doorbell(struct toyvm *vm)
{
	struct dbcache_dev *d = vm->db;
	struct db_ctl *ctl = (struct db_ctl *)(vm->mem + DB_CTL_GPA);
	uint32_t n;

	if (!d) /* a destination, or not a dbcache guest: nobody listens */
		return 0;
	/* Read the count once: the guest may be anything. */
	n = *(volatile uint32_t *)&ctl->nrec;
	pthread_mutex_lock(&d->lock);
	if (n > DB_HINT_MAX) {
		d->rep.bad_records++;
		n = 0;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct db_hint h;

		memcpy(&h, &ctl->rec[i], sizeof(h));
		apply(d, &h);
	}
	pthread_mutex_unlock(&d->lock);
	return 0;
}

void dbcache__io(void *tv, uint16_t port)
{
	if (port == TOY_PORT_DBHINT)
		(void)dbcache__doorbell(tv);
}

/* The clean set as runs of consecutive frames holding consecutive blocks:
 * one library call per run (an extent, typically). */
static int replay(struct dbcache_dev *d, struct vmmig_source *src)
{
	const struct db_layout *l = &d->lay;
	uint64_t f = 0;

	while (f < l->nframes) {
		uint64_t start = f, blk;

		if (!d->block[f]) {
			f++;
			continue;
		}
		blk = d->block[f] - 1;
		while (f < l->nframes && d->block[f] &&
		       d->block[f] - 1 == blk + (f - start))
			f++;
		int ret = vmmig_source_add_hint(src, 0,
			l->pool_gpa + start * DB_PAGE, (f - start) * DB_PAGE,
			DB_OBJECT_ID, blk * DB_PAGE);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int dbcache__attach(struct toyvm *vm, struct vmmig_source *src)
{
	struct dbcache_dev *d = vm->db;
	int ret = 0;

	if (!d)
		return 0;
	pthread_mutex_lock(&d->lock);
	if (src)
		ret = replay(d, src);
	d->src = ret ? NULL : src;
	lib_result(d, ret);
	pthread_mutex_unlock(&d->lock);
	return ret;
}

void dbcache__dev_report(struct toyvm *vm, struct dbcache_report *r)
{
	struct dbcache_dev *d = vm->db;

	memset(r, 0, sizeof(*r));
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	*r = d->rep;
	pthread_mutex_unlock(&d->lock);
}

void dbcache__guest_report(struct toyvm *vm, struct dbcache_report *r)
{
	const struct db_ctl *ctl = (const struct db_ctl *)(vm->mem +
							    DB_CTL_GPA);

	if (ctl->magic != DB_CTL_MAGIC)
		return;
	r->reads = ctl->reads;
	r->writes = ctl->writes;
	r->dirtied = ctl->dirtied;
	r->bad_pages = ctl->bad_pages;
	if (!r->pool_pages)
		r->pool_pages = ctl->lay.nframes;
}
