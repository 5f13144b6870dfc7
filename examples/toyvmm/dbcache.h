/* SPDX-License-Identifier: MIT */
/*
 * The dbcache guest: a database's buffer pool (InnoDB-like) that caches the
 * blocks of a data file sitting on shared storage, and the hint channel
 * through which the "DBMS" tells the VMM which pool pages are clean copies of
 * file blocks (DESIGN.md point 4, source text 002).
 *
 * Guest-physical layout inside the workload area:
 *   DB_CTL_GPA   struct db_ctl: the pool's description, the guest's
 *                counters, the hint table, the flush-list bitmap
 *   DB_POOL_GPA  the pool: frames of 4 KiB, in extents of 64 frames; frame
 *                extent e holds file extent (a * e + b) mod n, so the pool
 *                is not the file in order (as in a real buffer pool)
 *
 * Hint channel: the guest appends records to ctl->rec[] and rings the
 * doorbell (port TOY_PORT_DBHINT: an `out` in the KVM payload, a call through
 * wl_env.io in the software guest); the VMM consumes all ctl->nrec records
 * before the doorbell returns and the guest then resets nrec itself, so the
 * VMM never writes guest memory. Like the text's character device, it is
 * advisory: a lost record costs only a page sent over the network, because
 * the library sends whatever the guest writes after a hint and checks every
 * restored page's hash.
 *
 * Like workloads.c, dbcache.c is compiled twice (KVM payload, host): no libc.
 */
#ifndef TOYVMM_DBCACHE_H
#define TOYVMM_DBCACHE_H

#include "workloads.h"

#define DB_PAGE           4096ull
#define DB_EXTENT_PAGES   64ull                /* InnoDB's 1 MiB extent, in 4 KiB */
#define DB_EXTENT         (DB_EXTENT_PAGES * DB_PAGE)
#define DB_CTL_GPA        TOY_WORK_GPA
#define DB_CTL_SIZE       (1ull << 20)         /* ctl + bitmap */
#define DB_POOL_GPA       (DB_CTL_GPA + DB_CTL_SIZE)
#define DB_HINT_MAX       1024u                /* records per doorbell */
#define DB_OBJECT_ID      1ull                 /* the data file's storage id */
#define DB_FILE_NAME      "ibdata.vmmig"
#define DB_BLOCK_MAGIC    0x4442434143484500ull /* "DBCACHE\0" ^ block */
#define DB_CTL_MAGIC      0x44424354524cull    /* "DBCTRL" */

/* Loads. */
enum db_load { DB_IDLE = 0, DB_RO = 1, DB_RW = 2 };

/* The workload argument (struct toy_shared.arg):
 * bits 0-6 pool percent of guest memory (0: 80), bits 7-8 enum db_load,
 * bits 9-31 operations per second (0: DB_DEF_RATE). */
#define DB_DEF_PCT   80u
#define DB_DEF_RATE  20000u
#define DB_MAX_RATE  ((1u << 23) - 1)
#define DB_WRITE_EVERY 8u   /* rw: one op in 8 updates the page it read */
static inline uint32_t db_arg(uint32_t pct, uint32_t load, uint32_t rate)
{
	return (pct & 0x7f) | (load & 3) << 7 | rate << 9;
}
static inline uint32_t db_arg_pct(uint32_t a)
{
	return (a & 0x7f) ? (a & 0x7f) : DB_DEF_PCT;
}
static inline uint32_t db_arg_load(uint32_t a) { return a >> 7 & 3; }
static inline uint32_t db_arg_rate(uint32_t a)
{
	return (a >> 9) ? (a >> 9) : DB_DEF_RATE;
}

/* Where the pool is and how frames map to file blocks; a pure function of
 * (guest memory size, workload argument), so the VMM (filling the pool,
 * checking hints) and the guest agree without talking. */
struct db_layout {
	uint64_t pool_gpa;
	uint64_t nframes;   /* pool pages = file blocks used */
	uint64_t nextents;
	uint64_t perm_a;    /* frame extent e holds file extent */
	uint64_t perm_b;    /*   (perm_a * e + perm_b) % nextents */
};

enum { DB_HINT_ADD = 1, DB_HINT_REMOVE = 2 };

struct db_hint {
	uint32_t op;        /* DB_HINT_ADD / DB_HINT_REMOVE */
	uint32_t pages;     /* run length */
	uint64_t gpa;       /* first page */
	uint64_t block;     /* ADD: file block of the first page */
};

struct db_ctl {
	uint64_t magic;         /* DB_CTL_MAGIC once the guest set it up */
	struct db_layout lay;
	uint32_t load;          /* enum db_load */
	uint32_t rate;          /* operations per second */
	uint64_t reads;         /* pages read (and checked) */
	uint64_t writes;        /* page updates */
	uint64_t dirtied;       /* pages moved to the flush list */
	uint64_t bad_pages;     /* read a page whose header was wrong */
	uint64_t hinted_pages;  /* ADD records' pages, in total */
	uint32_t nrec;          /* records for the next doorbell */
	uint32_t pad;
	struct db_hint rec[DB_HINT_MAX];
	/* the flush list as a bitmap follows, up to DB_CTL_SIZE */
};

/* Largest pool the bitmap can describe. */
#define DB_MAX_FRAMES ((DB_CTL_SIZE - sizeof(struct db_ctl)) * 8)

/* Port of the hint doorbell (the KVM payload's `out`). */
#define TOY_PORT_DBHINT 0x12

int db_layout(uint64_t mem_size, uint32_t arg, struct db_layout *l);
uint64_t db_block_of(const struct db_layout *l, uint64_t frame);
/* The deterministic contents of file block @block (512 words). */
void db_block_fill(uint64_t *w, uint64_t block);

/* The workload (called from workloads.c's dispatch). */
int db_init(struct wl_cpu *c, struct toy_shared *sh, const struct wl_env *e);
int db_valid(const struct wl_cpu *c, uint64_t mem_size);
int db_step(struct wl_cpu *c, struct toy_shared *sh, const struct wl_env *e);

#endif
