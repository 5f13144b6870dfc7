/* SPDX-License-Identifier: MIT */
/* --workload dbcache:LOAD[:POOL%[:OPS]]: LOAD idle | ro | rw, POOL% the
 * buffer pool's share of guest memory (default 80, like the text's 0.8),
 * OPS page reads per second (rw: one in DB_WRITE_EVERY also updates). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dbcache_vmm.h"

static int num(const char **s, unsigned long min, unsigned long max,
	       unsigned long *v)
{
	char *end;

	if (**s < '0' || **s > '9')
		return -1;
	*v = strtoul(*s, &end, 10);
	if (*v < min || *v > max || (*end && *end != ':'))
		return -1;
	*s = *end ? end + 1 : end;
	return 0;
}

int dbcache__parse(struct opts *o, const char *w)
{
	const char *s = w + strlen("dbcache");
	unsigned long pct = 0, rate = 0;
	uint32_t load;

	if (*s == 0) {
		load = DB_RO;
	} else {
		s++; /* ':' */
		if (!strncmp(s, "idle", 4))
			load = DB_IDLE, s += 4;
		else if (!strncmp(s, "ro", 2))
			load = DB_RO, s += 2;
		else if (!strncmp(s, "rw", 2))
			load = DB_RW, s += 2;
		else
			return cli__usage("dbcache: load idle, ro or rw");
		if (*s && *s++ != ':')
			return cli__usage("dbcache:LOAD[:POOL%[:OPS]]");
		if (*s && num(&s, 1, 95, &pct))
			return cli__usage("dbcache: pool 1..95 % of memory");
		if (*s && num(&s, 1, DB_MAX_RATE, &rate))
			return cli__usage("dbcache: ops/s out of range");
		if (*s)
			return cli__usage("dbcache:LOAD[:POOL%[:OPS]]");
	}
	o->workload = w;
	o->workload_given = true;
	o->kind = WL_DBCACHE;
	o->arg = db_arg((uint32_t)pct, load, (uint32_t)rate);
	return 0;
}

int dbcache__setup(struct toyvm *vm, const struct opts *o)
{
	int ret;

	if (!o->storage) {
		fprintf(stderr, "toyvmm: dbcache needs --storage DIR\n");
		return -EINVAL;
	}
	ret = dbcache__fill(vm, o->storage, o->arg);
	if (ret)
		fprintf(stderr, "toyvmm: dbcache pool from %s: %s\n",
			o->storage, strerror(-ret));
	if (!ret)
		ret = dbcache__dev_new(vm, o->arg);
	return ret;
}
