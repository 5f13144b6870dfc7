/* SPDX-License-Identifier: MIT */
/*
 * The destination "host" of the benchmark: a forked child with its own,
 * fresh guest memory, whose figures come back through a shared page.
 */
#ifndef VMMIG_BENCH_DEST_H
#define VMMIG_BENCH_DEST_H

#include <sys/types.h>

#include <vmmig/vmmig.h>

struct dest_result {
	int ret;                 /* vmmig_dest_wait() */
	int started;             /* the start callback ran */
	double prefault_s;       /* touching every page, before listening */
	double cpu_s;            /* user+sys from dest_start to wait's end */
	uint64_t rss_before;     /* bytes, just before vmmig_dest_start() */
	uint64_t peak_rss;       /* VmHWM at the end (reset before start) */
	uint64_t hash;           /* bench_hash() of the memory afterwards */
	struct vmmig_stats st;
	char error[256];
};

struct dest_child {
	pid_t pid;
	struct dest_result *res; /* MAP_SHARED with the child */
	char uri[128];           /* where it listens */
};

enum prefault {
	PREFAULT_NONE = 0,
	PREFAULT_USER,   /* one user-space write per page */
	PREFAULT_KERNEL, /* that, then one kernel write of each page */
};

/* Fork a destination for @size bytes; returns once it listens (or -errno). */
/* @recv_staged: VMMIG_OPT_RECV_DIRECT = 0 (receive through a buffer).
 * @tls: vmmig_dest_set_tls() with it, or NULL for plaintext. */
int dest_child_spawn(struct dest_child *d, size_t size, enum prefault pf,
		     int recv_staged, const struct vmmig_tls_config *tls);
/* Wait for the child to exit; returns its exit status (0: completed). */
int dest_child_reap(struct dest_child *d);
/* Kill (if still running) and unmap. */
void dest_child_release(struct dest_child *d);

#endif
