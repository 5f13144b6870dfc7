/* SPDX-License-Identifier: MIT */
/* Command-line options and the commands they drive. */
#ifndef TOYVMM_CLI_H
#define TOYVMM_CLI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <vmmig/vmmig.h>

#include "toyvmm.h"

struct opts {
	const char *connect;     /* source: destination address */
	const char *listen;      /* dest: address to listen on */
	const char *mode;        /* as given, e.g. "hybrid:3" */
	int mode_kind;           /* enum vmmig_mode */
	bool pc_now;             /* postcopy: no first pre-copy pass */
	uint32_t hybrid_rounds;  /* 0: library default */
	uint32_t ad_low, ad_high, ad_cap; /* adaptive: per-mille; 0 default */
	const char *workload;    /* as given, e.g. "memwrite:64" */
	bool workload_given;     /* --workload was on the command line */
	uint32_t kind, arg;      /* parsed workload */
	const char *backend;     /* auto | kvm | software */
	const char *json;        /* write the report here */
	const char *out;         /* memfile: write guest memory here */
	const char *timeline;    /* source: draw the history here (SVG) */
	const char *uri_file;    /* dest: write the bound address here */
	uint64_t mem;            /* guest memory bytes */
	enum fill_kind fill;
	unsigned channels;
	unsigned vcpus;          /* source: vCPUs booted (dest: from source) */
	bool prefault;
	int compression;         /* enum vmmig_compression; -1: default */
	uint64_t delta_cache;    /* bytes; 0 = off */
	int64_t downtime_ms;     /* -1: library default */
	int64_t max_rounds;      /* -1: library default */
	int64_t recovery_ms;     /* post-copy link recovery; -1: default */
	int64_t io_timeout_ms;   /* silent peer; -1: library default */
	int64_t fault_cpu;       /* VMMIG_OPT_FAULT_CPU; -1: not pinned */
	bool no_verify;          /* source: skip the memory hash */
	uint64_t bandwidth;      /* bytes/s; 0 = unlimited */
	uint64_t pc_bandwidth;   /* bytes/s from the pause on; 0: as above */
	unsigned warmup_ms;      /* source: run before migrating */
	unsigned run_after_ms;   /* keep the guest running this long after */
	int progress;            /* 1 on, 0 off, -1 when stderr is a tty */
	bool verbose;
	const char *tracker;      /* source: dirty tracker preference */
	const char *storage;      /* dbcache: shared-storage directory */
	bool no_hints;            /* dbcache source: keep the guest's hints
				   * from the library (plain pre-copy) */
	int recv_direct;          /* dest: VMMIG_OPT_RECV_DIRECT; -1 default */
	const char *tls_psk;      /* QEMU keys.psk file */
	const char *tls_psk_identity; /* source: default "vmmig" */
	const char *tls_x509;     /* QEMU tls-creds-x509 directory */
	const char *tls_hostname; /* source: name the dest's cert carries */
	const char *tls_priority; /* GnuTLS priority string */
	int64_t handshake_ms;     /* dest: drop strangers after; -1 default */
	int64_t accept_ms;        /* dest: give up waiting; -1 default */
};

/* tls_cli.c: the --tls-* options as a config; false when none is set. */
bool tls__config(const struct opts *o, struct vmmig_tls_config *c);

/* dbcache_cli.c: --workload dbcache:LOAD[:POOL%[:OPS]]. */
int dbcache__parse(struct opts *o, const char *w);
/* Source, before boot: data file, pool filled from it, hint device. */
int dbcache__setup(struct toyvm *vm, const struct opts *o);

/* mode.c: --mode and the policy it stands for (NULL for precopy). */
int mode__parse(struct opts *o, const char *m);
int mode__policy(const struct opts *o, struct vmmig_policy **out);

/* main.c */
int cli__parse(struct opts *o, int argc, char **argv, int first);
int cli__usage(const char *why);

/* migrate_source.c / migrate_dest.c / demo.c: process exit codes. */
int migrate__source(const struct opts *o);
int migrate__dest(const struct opts *o);
int demo__run(const struct opts *o, const char *self);
/* guestmix.c: `memfile`: the filled guest memory into --out. */
int memfile__write(const struct opts *o);

/* progress.c: a live line on stderr while a migration runs. */
typedef int (*stats_fn)(void *obj, struct vmmig_stats *st);
struct progress {
	pthread_t thread;
	bool running;
	atomic_bool stop;
	stats_fn get;
	void *obj;
	const char *role;
	struct toyvm *vm;
	bool tty;                /* redraw in place, else a line a second */
	unsigned ticks;
	int phase;               /* status at the last tick */
	uint64_t phase_ms;       /* when it began */
	uint64_t t_ms[6], bytes[6]; /* the last second of samples (ring) */
	unsigned nsamples, next;
};
void progress__start(struct progress *p, const struct opts *o,
		     const char *role, stats_fn get, void *obj,
		     struct toyvm *vm);
void progress__stop(struct progress *p);

/* report.c: --json output and the human summary. */
struct report {
	const char *role;        /* "source" / "dest" */
	const char *backend;
	const char *tracker;     /* source: the dirty tracker's name, or NULL */
	const char *workload;
	const char *mode;        /* --mode as given ("-" on the destination) */
	int result;              /* vmmig_*_wait() */
	const char *error;       /* library's text, or NULL */
	uint64_t hb_pause;       /* source: heartbeat when paused */
	uint64_t hb_done;        /* source: when the migration ended */
	uint64_t hb_start;       /* dest: heartbeat when the guest started */
	uint64_t hb_end;         /* at exit (after --run-after) */
	unsigned nvcpus;         /* the guest's vCPUs (0: none ran here) */
	uint64_t hb_start_v[TOY_MAX_VCPUS]; /* per vCPU: hb_start */
	uint64_t hb_end_v[TOY_MAX_VCPUS];   /* per vCPU: hb_end */
	int guest_error;         /* a vCPU died (guest_ops.health), or 0 */
	struct vmmig_stats st;
	const char *extra_json;  /* ",\"key\":{...}" fragments, or NULL */
	/* source: the library's history (NULL/0 on the destination) */
	struct vmmig_round *rounds;
	int nrounds;
	struct vmmig_fault_series faults;
};
int report__json(const struct report *r, const char *path);
/* Process exit code of a toyvmm whose guest died (the demo tells it). */
#define EXIT_GUEST_DIED 3
void report__print(const struct report *r);
/* Source: the session's history into @r (malloc'd; report__free()). */
int report__history(struct report *r, struct vmmig_source *src);
void report__free(struct report *r);

/* timeline_svg.c: --timeline, the history drawn as SVG. */
int timeline__svg(const struct report *r, const char *path);

/* The VMM's setup shared by both sides. */
int toyvm__setup(struct toyvm *vm, const struct opts *o, bool boot);
void toyvm__teardown(struct toyvm *vm);
void sleep_ms(unsigned ms);

#endif
