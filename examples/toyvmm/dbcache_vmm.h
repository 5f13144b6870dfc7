/* SPDX-License-Identifier: MIT */
/*
 * The VMM's side of the dbcache guest: the data file on the "shared
 * storage" directory, filling the pool from it before boot, the hint device
 * that turns the guest's records into vmmig_source_add_hint()/_remove_hint()
 * calls, and on the destination the storage page source and its report.
 */
#ifndef TOYVMM_DBCACHE_VMM_H
#define TOYVMM_DBCACHE_VMM_H

#include <stdio.h>
#include <vmmig/vmmig.h>

#include "dbcache.h"
#include "toyvmm.h"

/* dbcache_file.c */
/* DIR/ibdata.vmmig into @path. -ENAMETOOLONG. */
int dbcache__path(const char *dir, char *path, size_t len);
/* Make sure the data file holds at least @nblocks blocks: create it
 * (deterministic contents) if missing, append blocks if it is shorter.
 * 0 or -errno. */
int dbcache__datafile(const char *dir, uint64_t nblocks);
/* Source, before boot: read the pool's blocks into guest memory. */
int dbcache__fill(struct toyvm *vm, const char *dir, uint32_t arg);

/* dbcache_dev.c: the hint device. */
struct dbcache_dev;
/* Create the device for a guest of @vm->mem_size with workload @arg; sets
 * vm->db. */
int dbcache__dev_new(struct toyvm *vm, uint32_t arg);
void dbcache__dev_free(struct toyvm *vm);
/* The doorbell: consume the records in the guest's table (called on the
 * guest's vCPU thread, software or KVM). Always 0: bad records are counted
 * and dropped, as a device would. */
int dbcache__doorbell(struct toyvm *vm);
/* wl_env.io of the software guest (@tv: struct toyvm). */
void dbcache__io(void *tv, uint16_t port);
/* Forward hints to @src from now on, after replaying the current clean set;
 * NULL detaches (before the session is freed). */
int dbcache__attach(struct toyvm *vm, struct vmmig_source *src);

/* Counters of the device and the guest, for the reports. */
struct dbcache_report {
	uint64_t pool_pages;      /* frames in the pool */
	uint64_t hinted_now;      /* pages the device holds as clean */
	uint64_t add_pages;       /* pages in ADD records */
	uint64_t remove_pages;    /* pages in REMOVE records */
	uint64_t bad_records;     /* out of bounds, unknown op */
	uint64_t lib_errors;      /* add/remove_hint failures */
	int last_lib_error;
	/* from the guest's ctl (0 if unreadable) */
	uint64_t reads, writes, dirtied, bad_pages;
};
void dbcache__dev_report(struct toyvm *vm, struct dbcache_report *r);
/* The guest's counters from its memory (only once it ran here). */
void dbcache__guest_report(struct toyvm *vm, struct dbcache_report *r);

/* dbcache_dest.c */
/* Destination: a storage page source mapping DB_OBJECT_ID to
 * DIR/ibdata.vmmig (the file may be missing: its pages then come over the
 * network), given to @dst. */
int dbcache__dest_storage(struct vmmig_dest *dst, const char *dir,
			  struct vmmig_page_source **out);
/* ",\"dbcache\":{...}" and ",\"storage\":{...}" (either may be NULL) as
 * a JSON fragment for struct report's extra_json, and a human line. */
int dbcache__json(char *buf, size_t len, const struct dbcache_report *r,
		  struct vmmig_page_source *ps);
void dbcache__print(const char *role, const struct dbcache_report *r,
		    struct vmmig_page_source *ps);

#endif
