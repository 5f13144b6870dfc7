/* SPDX-License-Identifier: MIT */
/*
 * End-to-end helpers: a destination running in a child process (a second
 * "host") whose guest memory is a memfd the test can map and compare byte
 * for byte, and whose outcome comes back through shared memory.
 */
#ifndef VMMIG_TEST_E2E_H
#define VMMIG_TEST_E2E_H

#include <sys/types.h>

#include "guest.h"

struct dest_result {
	int ret;                 /* vmmig_dest_wait() */
	int started;             /* start() was called */
	uint64_t writes_loaded;  /* heartbeat restored from the state */
	uint64_t cpu_state;
	uint64_t vcpu_reads;     /* pages the "vCPU" read after start */
	int status_in_start;     /* the session's status, read in start() */
	int log_errors;          /* ERROR lines the session logged */
	char first_log_error[320];
	int owner;               /* vmmig_dest_owner() after wait */
	uint64_t probe_sigbus;   /* probe_lost: pages whose read raised SIGBUS */
	uint64_t probe_sigsegv;  /* ... SIGSEGV (kernels before 6.6) */
	uint64_t probe_zero;     /* probe_lost: pages read as all zero */
	struct vmmig_stats st;
	char error[320];
};

struct dest_proc {
	pid_t pid;
	int memfd;
	uint8_t *mem;            /* the child's guest memory, seen from here */
	size_t size;
	struct dest_result *res; /* shared page */
	char uri[256];           /* where it listens */
};

struct dest_opts {
	const char *listen;      /* "tcp:127.0.0.1:0", "unix:..." */
	int fail_load_state;     /* make load_state fail */
	const uint8_t *uuid;     /* expect this uuid */
	size_t region_size;      /* 0: same as size */
	uint8_t fill;            /* initial byte of destination memory */
	int prefault;            /* touch every page in the child first */
	int vcpu_reads_ms;       /* after start, a "vCPU" reads random pages
				  * for this long (post-copy faults) */
	int recv_staged;         /* VMMIG_OPT_RECV_DIRECT = 0 */
	int populate;            /* VMMIG_OPT_POPULATE = 1 */
	int fault_cpu0;          /* VMMIG_OPT_FAULT_CPU = 0 */
	const char *storage;     /* cache-restore: object 1 is this file */
	unsigned slow_storage_us;/* ... read by a slow page source of the
				  * test's own (delay per page), not the
				  * built-in storage one */
	unsigned lying_pages;    /* ... that returns wrong contents for this
				  * many pages and claims success */
	int probe_lost;          /* after vmmig_dest_free(): read every page,
				  * counting faults and all-zero pages */
	int recovery_ms;         /* VMMIG_OPT_RECOVERY_TIMEOUT_MS, if
				  * set_recovery */
	int set_recovery;
	const struct vmmig_tls_config *tls; /* vmmig_dest_set_tls() */
	int accept_timeout_ms;   /* VMMIG_OPT_ACCEPT_TIMEOUT_MS, if set */
	int handshake_timeout_ms;/* VMMIG_OPT_HANDSHAKE_TIMEOUT_MS, if set */
	int cancel_on_pause;     /* vmmig_dest_cancel() from another thread
				  * when the session logs a post-copy pause,
				  * done before it goes on to recover */
};

/* Fork a destination for a guest of @size bytes; returns once it listens. */
int dest_spawn(struct dest_proc *d, size_t size, const struct dest_opts *o);
/* Wait for the child; returns its exit status (0 = migration completed). */
int dest_reap(struct dest_proc *d);
void dest_release(struct dest_proc *d);
/* Wait for @src and reap @d; fail the test, with both sides' reasons,
 * unless both completed. */
void assert_migrated(struct vmmig_source *src, struct dest_proc *d);
/* A source for @g's memory as one region, with @ops (opaque: @g) and a
 * new manual tracker in g->manual that the guest's writes go through. */
struct vmmig_source *guest_source(struct guest *g,
				  const struct vmmig_source_ops *ops);

#endif
